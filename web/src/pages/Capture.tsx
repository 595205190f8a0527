// Capture.tsx - one capture, live: its state per device (updated by the
// server's events), the packets as they are merged (the packets stream),
// stop, download at any time, and the command that streams it into
// Wireshark.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { get, post, type Capture } from "../api";
import { bytes, count, when } from "../format";
import { follow, type LiveState } from "../live";
import { PacketStore, ROWS_MAX, type Packet } from "../packets";
import { Link } from "../router";
import { Alert, Copyable, useAction, useDebounced } from "../ui/ui";
import { PacketList } from "../ui/PacketList";
import { Detail } from "../ui/Detail";
import type { Me } from "../main";

function useFrameVersion(store: PacketStore): [number, () => void] {
  // redraw at most once a frame however fast packets come
  const [v, setV] = useState(0);
  const pending = useRef(0);
  const kick = () => {
    if (pending.current) return;
    pending.current = requestAnimationFrame(() => {
      pending.current = 0;
      setV(store.version);
    });
  };
  useEffect(() => () => cancelAnimationFrame(pending.current), []);
  return [v, kick];
}

function DeviceTable(props: { c: Capture }) {
  return (
    <div class="table-wrap">
      <table class="list" aria-label="Devices in this capture">
        <thead>
          <tr>
            <th>Device</th>
            <th>State</th>
            <th class="num">Packets</th>
            <th class="num">Bytes</th>
            <th class="num">Duplicates removed</th>
            <th class="num">Dropped</th>
            <th>Error</th>
            <th>Clock</th>
          </tr>
        </thead>
        <tbody>
          {props.c.devices.map((d) => (
            <tr key={d.device} data-device={d.device}>
              <td>{d.device}</td>
              <td><span class={`badge ${d.state}`}>{d.state}</span></td>
              <td class="num" data-field="packets">{count(d.packets)}</td>
              <td class="num">{bytes(d.bytes)}</td>
              <td class="num">{count(d.duplicates)}</td>
              <td class={`num${d.dropped ? " warn" : ""}`}>{count(d.dropped)}</td>
              <td>{d.error ?? ""}</td>
              <td class={d.clock ? "warn" : ""}>{d.clock ?? "in step"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function CaptureView(props: { id: string; me: Me; canDownload: boolean }) {
  const [c, setC] = useState<Capture | null>(null);
  const [stateErr, setStateErr] = useState<string | null>(null);
  const [rowsState, setRowsState] = useState<LiveState>("connecting");
  const [rowsErr, setRowsErr] = useState<string | null>(null);
  const [ended, setEnded] = useState(false);
  const store = useMemo(() => new PacketStore(), [props.id]);
  const [version, kick] = useFrameVersion(store);
  const [followOn, setFollow] = useState(true);
  const [selected, setSelected] = useState<number | null>(null);
  const [q, setQ] = useState("");
  const running = c?.state === "running";
  const [df, setDf] = useState("");
  const [dfState, setDfState] = useState<{ error?: string; count?: number } | null>(null);
  const typedDf = useDebounced(df, 400);
  const act = useAction();
  const base = `/api/v1/captures/${encodeURIComponent(props.id)}`;

  useEffect(() => {
    // the capture first (a refusal's own words), then its changes as they come
    let f: { close(): void } | null = null;
    let live = true;
    get<Capture>(base).then(
      (d) => {
        if (!live) return;
        setC(d);
        if (d.state === "done") return;
        f = follow(`${base}/events`, { capture: (e: Capture) => { setC(e); return e.state === "done"; } },
          (_s, err) => err && setStateErr(err));
      },
      (e) => live && setStateErr((e as Error).message),
    );
    return () => {
      live = false;
      f?.close();
    };
  }, [base]);

  const found = c !== null; // the capture exists and is ours: follow its packets
  useEffect(() => {
    if (!found) return;
    const f = follow(
      `${base}/packets`,
      {
        packet: (p: Packet) => { store.add(p); kick(); },
        more: (m: { n: number; line: string }) => { store.more(m.n, m.line); kick(); },
        end: () => { setEnded(true); return true; },
      },
      (s, err) => { setRowsState(s); if (err) setRowsErr(err); },
    );
    return () => f.close();
  }, [base, store, found]);

  // a display filter: Wireshark's matches by number, asked again while the
  // capture runs (packets it has not seen yet wait for the next answer)
  useEffect(() => {
    if (!typedDf.trim()) {
      store.setNumbers(null);
      setDfState(null);
      kick();
      return;
    }
    // one request at a time: the next is asked 3 s after an answer
    let live = true;
    let t = 0;
    const ask = () =>
      get<{ frames: number[]; count: number }>(`${base}/frames?filter=${encodeURIComponent(typedDf)}`).then(
        (r) => {
          if (!live) return;
          store.setNumbers(new Set(r.frames));
          setDfState({ count: r.count });
          kick();
          if (running) t = window.setTimeout(ask, 3000);
        },
        (e) => live && setDfState({ error: (e as Error).message }),
      );
    ask();
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [typedDf, base, running]);

  useEffect(() => {
    store.setQuery(q);
    setSelected(null);
    kick();
  }, [q]);

  const sel = selected !== null && selected < store.length ? store.at(selected) : null;
  const cmd = `curl -sN -H "Authorization: Bearer $EDGECAP_TOKEN" ${location.origin}${base}/pcap | wireshark -k -i -`;

  return (
    <section class="capture" aria-labelledby="cap-title">
      <div class="title-row">
        <h1 id="cap-title">
          Capture {props.id}{" "}
          {c && <span class={`badge ${c.state}`}>{c.state}</span>}
        </h1>
        {c && <div class="row">
          {running && props.me.role !== "viewer" && (
            <button type="button" class="danger" disabled={act.busy}
              onClick={() => act.run(() => post(`${base}/stop`))}>
              Stop
            </button>
          )}
          {props.canDownload && (
            <a class="button" href={`${base}/pcap`} download={`capture-${props.id}.pcapng`}>
              Download pcapng
            </a>
          )}
          {props.me.role !== "viewer" && <Link class="button quiet" href={`/captures/new?from=${props.id}`}>Run again</Link>}
        </div>}
      </div>
      <Alert error={act.error || stateErr} />
      {c && (
        <>
          <dl class="facts">
            <div><dt>Filter</dt><dd class="mono">{c.request.expression || "(every packet)"}</dd></div>
            <div><dt>Started</dt><dd>{when(c.created)} by {c.user}</dd></div>
            {c.ended && <div><dt>Ended</dt><dd>{when(c.ended)}{c.ended_by ? ` (${c.ended_by})` : ""}</dd></div>}
            <div><dt>Reason</dt><dd>{c.request.reason || "—"}</dd></div>
            <div><dt>Merged</dt><dd data-field="merged">{count(c.merged)} packets, {count(c.duplicates)} duplicates removed</dd></div>
          </dl>
          {c.error && <Alert error={c.error} />}
          <DeviceTable c={c} />
        </>
      )}
      {c && props.canDownload && <Copyable label="Stream into Wireshark (with an API token from My account):" text={cmd} />}
      {c && <>
      <div class="row list-tools">
        <label class="search grow">
          Search packets
          <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="text in any column" />
        </label>
        {props.canDownload && (
          <label class="search grow">
            Display filter (Wireshark)
            <input class="mono" value={df} spellcheck={false} aria-invalid={!!dfState?.error}
              aria-describedby="df-status" onInput={(e) => setDf(e.currentTarget.value)} placeholder="e.g. dns.flags.rcode != 0" />
          </label>
        )}
        <label class="check">
          <input type="checkbox" checked={followOn} onChange={(e) => setFollow(e.currentTarget.checked)} />
          Follow
        </label>
        <span class="muted" role="status" aria-live="polite" data-field="rows">
          {q || (df.trim() && dfState?.count !== undefined)
            ? `${count(store.length)} of ${count(store.rows.length)} packets`
            : `${count(store.rows.length)} packets`}
          {rowsState === "retrying" ? " · reconnecting…" : ended ? " · complete" : rowsState === "open" ? " · live" : ""}
        </span>
      </div>
      {dfState && (
        <p id="df-status" class={dfState.error ? "alert" : "hint"} role="status">
          {dfState.error ?? `${count(dfState.count ?? 0)} packets match the display filter`}
        </p>
      )}
      {store.beyond > 0 && (
        <Alert>The page keeps the first {count(ROWS_MAX)} packets; {count(store.beyond)} more are in the download.</Alert>
      )}
      {rowsErr && <Alert error={rowsErr} />}
      <PacketList store={store} version={version} follow={followOn} onFollow={setFollow} selected={selected} onSelect={setSelected} />
      {sel && <Detail base={base} packet={sel} wireshark={props.canDownload} />}
      </>}
    </section>
  );
}
