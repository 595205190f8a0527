// NewCapture.tsx - what tcpdump asks for, for several devices at once: the
// devices, interfaces, direction, the expression (checked by the server's
// libpcap as it is typed), snapshot length, count, duration, and why (kept
// in the audit log).
import { useEffect, useMemo, useState } from "preact/hooks";
import { captureTargets, get, getAll, post, targetsText, type Capture, type Device } from "../api";
import { navigate } from "../router";
import { Alert, useAction, useDebounced, useLoad } from "../ui/ui";
import type { Me } from "../main";

interface Compiled {
  instructions: number;
  listing: string;
}

export const DURATION_DEFAULT = 60;

export function NewCapture(props: { me: Me; from: string | null; devices: string[] }) {
  const devs = useLoad(() => getAll<Device>("/api/v1/devices"), []);
  const [picked, setPicked] = useState<Set<string>>(new Set(props.devices));
  const [q, setQ] = useState("");
  const [expression, setExpression] = useState("");
  const [interfaces, setInterfaces] = useState("");
  const [direction, setDirection] = useState<"inout" | "in" | "out">("inout");
  const [snaplen, setSnaplen] = useState("262144");
  const [count, setCount] = useState("");
  const [duration, setDuration] = useState(String(DURATION_DEFAULT));
  const [reason, setReason] = useState("");
  const [showListing, setShowListing] = useState(false);
  const [compiled, setCompiled] = useState<Compiled | null>(null);
  const [filterError, setFilterError] = useState<string | null>(null);
  const act = useAction();
  const typed = useDebounced(expression, 250);

  // "Run again": the settings of an earlier capture
  useEffect(() => {
    if (!props.from) return;
    get<Capture>(`/api/v1/captures/${encodeURIComponent(props.from)}`).then((c) => {
      const r = c.request;
      const t = targetsText(r);
      setPicked(new Set(t.picked));
      setExpression(r.expression ?? "");
      setInterfaces(t.field);
      setDirection(r.direction ?? "inout");
      if (r.snaplen) setSnaplen(String(r.snaplen));
      setCount(r.count ? String(r.count) : "");
      if (r.duration) setDuration(String(r.duration));
      setReason(r.reason ?? "");
    }, act.setError);
  }, [props.from]);

  useEffect(() => {
    let live = true;
    setFilterError(null);
    // "any" is captured cooked (LINUX_SLL2): checked as the server will compile it
    const linktype = interfaces.trim() === "any" ? "LINUX_SLL2" : "EN10MB";
    post<Compiled>("/api/v1/filters/compile", { expression: typed, linktype }).then(
      (c) => live && (setCompiled(c), setFilterError(null)),
      (e) => live && (setCompiled(null), setFilterError((e as Error).message)),
    );
    return () => {
      live = false;
    };
  }, [typed, interfaces.trim() === "any"]);

  const shown = useMemo(() => {
    const s = q.trim().toLowerCase();
    return (devs.data ?? []).filter((d) => !s || d.name.toLowerCase().includes(s) || d.serial.toLowerCase().includes(s));
  }, [devs.data, q]);
  const toggle = (name: string) => {
    const n = new Set(picked);
    if (n.has(name)) n.delete(name);
    else n.add(name);
    setPicked(n);
  };
  const selectMatching = () => setPicked(new Set([...picked, ...shown.filter((d) => d.enabled).map((d) => d.name)]));

  const submit = async (e: Event) => {
    e.preventDefault();
    const body: Record<string, unknown> = {
      ...captureTargets([...picked], interfaces),
      expression,
      direction,
      snaplen: Number(snaplen),
      duration: Number(duration),
      reason,
    };
    if (count) body.count = Number(count);
    await act.run(async () => {
      const c = await post<Capture>("/api/v1/captures", body);
      navigate(`/captures/${c.id}`);
    });
  };

  const stale = typed !== expression;
  return (
    <form class="capture-form" onSubmit={submit} aria-labelledby="new-title">
      <h1 id="new-title">New capture</h1>
      <fieldset>
        <legend>Devices ({picked.size} selected)</legend>
        <div class="row">
          <label class="search grow">
            Search devices
            <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
          </label>
          <button type="button" class="quiet" onClick={selectMatching}>Select all matching</button>
          <button type="button" class="quiet" onClick={() => setPicked(new Set())}>Clear</button>
        </div>
        <Alert error={devs.error} />
        <ul class="picker" aria-label="Devices">
          {shown.map((d) => (
            <li key={d.name}>
              <label class="check">
                <input type="checkbox" checked={picked.has(d.name)} disabled={!d.enabled} onChange={() => toggle(d.name)} />
                <span>{d.name}</span>
                <span class={`badge ${d.state.replace(" ", "-")}`}>{d.state}</span>
              </label>
            </li>
          ))}
        </ul>
      </fieldset>
      <label>
        Filter (tcpdump expression)
        <input class="mono" name="expression" value={expression} spellcheck={false} autocomplete="off"
          aria-invalid={!!filterError && !stale} aria-describedby="filter-status"
          onInput={(e) => setExpression(e.currentTarget.value)} placeholder="every packet; e.g. tcp port 443 and host 10.0.0.1" />
      </label>
      <p id="filter-status" class={filterError && !stale ? "alert" : "hint"} role="status">
        {stale ? "Checking…" : filterError ? filterError : compiled ? `${compiled.instructions} BPF instructions` : ""}
        {compiled && !stale && !filterError && (
          <button type="button" class="link" onClick={() => setShowListing(!showListing)} aria-expanded={showListing}>
            {showListing ? "Hide" : "Show"} the program (tcpdump -d)
          </button>
        )}
      </p>
      {showListing && compiled && <pre class="listing">{compiled.listing}</pre>}
      <div class="grid">
        <label>
          Interfaces
          <input value={interfaces} onInput={(e) => setInterfaces(e.currentTarget.value)} placeholder="every one a device serves; any: all in one cooked stream; gw1:eth1 for one device's own" />
        </label>
        <label>
          Direction
          <select value={direction} onChange={(e) => setDirection(e.currentTarget.value as "inout")}>
            <option value="inout">In and out</option>
            <option value="in">In</option>
            <option value="out">Out</option>
          </select>
        </label>
        <label>
          Snapshot length (bytes)
          <input type="number" min={1} max={262144} required value={snaplen} onInput={(e) => setSnaplen(e.currentTarget.value)} />
        </label>
        <label>
          Packet count
          <input type="number" min={1} value={count} onInput={(e) => setCount(e.currentTarget.value)} placeholder="no limit" />
        </label>
        <label>
          Duration (s)
          <input type="number" min={1} required value={duration} onInput={(e) => setDuration(e.currentTarget.value)} />
        </label>
      </div>
      <label>
        Reason (kept in the audit log)
        <input required maxLength={512} value={reason} onInput={(e) => setReason(e.currentTarget.value)} placeholder="ticket 4411: slow VPN at the Berlin office" />
      </label>
      <Alert error={act.error} />
      <button type="submit" disabled={act.busy || !picked.size || (!!filterError && !stale)}>Start capture</button>
    </form>
  );
}
