// History.tsx - the organization's captures, newest first, filtered by
// state, device, who and when; open, download, run again, delete.
import { useState } from "preact/hooks";
import { getAll, type Capture } from "../api";
import { count, when } from "../format";
import { Link } from "../router";
import { Alert, Empty, useAction, useDebounced, useLoad, RemoveButton } from "../ui/ui";
import type { Me } from "../main";

export function History(props: { me: Me; canDownload: boolean }) {
  const [state, setState] = useState("");
  const [device, setDevice] = useState("");
  const [user, setUser] = useState("");
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const f = useDebounced({ state, device, user, since, until }, 300);
  const act = useAction();
  const list = useLoad(() => {
    const p = new URLSearchParams();
    if (f.state) p.set("state", f.state);
    if (f.device) p.set("device", f.device);
    if (f.user) p.set("user", f.user);
    if (f.since) p.set("since", new Date(f.since).toISOString());
    if (f.until) p.set("until", new Date(f.until).toISOString());
    return getAll<Capture>(`/api/v1/captures?${p}`, 1000);
  }, [f.state, f.device, f.user, f.since, f.until], 5000);
  const rows = (list.data ?? []).slice().sort((a, b) => b.id - a.id);
  const mayDelete = (c: Capture) =>
    c.state === "done" && (props.me.role === "owner" || (props.me.role === "operator" && c.user === props.me.name));

  return (
    <section aria-labelledby="hist-title">
      <div class="title-row">
        <h1 id="hist-title">Captures</h1>
        {props.me.role !== "viewer" && <Link class="button" href="/captures/new">New capture</Link>}
      </div>
      <form class="filters row" onSubmit={(e) => e.preventDefault()} aria-label="Filter captures">
        <label>
          State
          <select value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">any</option>
            <option value="running">running</option>
            <option value="done">done</option>
          </select>
        </label>
        <label>
          Device
          <input value={device} onInput={(e) => setDevice(e.currentTarget.value)} />
        </label>
        <label>
          Started by
          <input value={user} onInput={(e) => setUser(e.currentTarget.value)} placeholder="name or email" />
        </label>
        <label>
          Since
          <input type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} />
        </label>
        <label>
          Until
          <input type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
        </label>
      </form>
      <Alert error={list.error || act.error} />
      {list.data && !rows.length && <Empty>No captures match.</Empty>}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th>#</th>
                <th>Started</th>
                <th>By</th>
                <th>Devices</th>
                <th>Filter</th>
                <th>State</th>
                <th class="num">Packets</th>
                <th class="num">Dropped</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr key={c.id}>
                  <td><Link href={`/captures/${c.id}`}>{c.id}</Link></td>
                  <td>{when(c.created)}</td>
                  <td>{c.user}</td>
                  <td>{c.devices.map((d) => `${d.device} (${count(d.packets)})`).join(", ")}</td>
                  <td class="mono">{c.request.expression || "—"}</td>
                  <td><span class={`badge ${c.state}`}>{c.state}</span>{c.error ? ` ${c.error}` : ""}</td>
                  <td class="num">{count(c.merged)}</td>
                  <td class="num">{count(c.devices.reduce((s, d) => s + d.dropped, 0))}</td>
                  <td class="actions">
                    <Link class="button small quiet" href={`/captures/${c.id}`}>Open</Link>
                    {props.canDownload && !c.file_lost && (
                      <a class="button small quiet" href={`/api/v1/captures/${c.id}/pcap`} download={`capture-${c.id}.pcapng`}>Download</a>
                    )}
                    {props.me.role !== "viewer" && <Link class="button small quiet" href={`/captures/new?from=${c.id}`}>Run again</Link>}
                    {mayDelete(c) && (
                      <RemoveButton label="Delete" path={`/api/v1/captures/${c.id}`}
                        question={`Delete capture ${c.id} and its file?`} act={act} done={list.reload} />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
