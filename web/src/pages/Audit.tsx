// Audit.tsx - owners: who did what, when, from where, and why.
import { useState } from "preact/hooks";
import { getAll } from "../api";
import { when } from "../format";
import { Alert, Empty, useDebounced, useLoad } from "../ui/ui";

interface Entry {
  id: number;
  time: string;
  actor: string;
  address: string;
  action: string;
  target: string;
  detail: Record<string, unknown> | null;
}

const ACTIONS = ["signin", "signin_failed", "signout", "password_changed", "user_added", "user_changed", "user_removed",
  "token_created", "token_revoked", "device_enrolled", "device_changed", "device_removed", "capture_started",
  "capture_stopped", "capture_downloaded", "capture_deleted"];

export function Audit() {
  const [action, setAction] = useState("");
  const [user, setUser] = useState("");
  const f = useDebounced({ action, user }, 300);
  const list = useLoad(() => {
    const p = new URLSearchParams();
    if (f.action) p.set("action", f.action);
    if (f.user) p.set("user", f.user);
    return getAll<Entry>(`/api/v1/audit?${p}`, 2000);
  }, [f.action, f.user]);
  const rows = (list.data ?? []).slice().sort((a, b) => b.id - a.id);
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form class="filters row" onSubmit={(e) => e.preventDefault()} aria-label="Filter the audit log">
        <label>
          Action
          <select value={action} onChange={(e) => setAction(e.currentTarget.value)}>
            <option value="">any</option>
            {ACTIONS.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </label>
        <label>
          User
          <input value={user} onInput={(e) => setUser(e.currentTarget.value)} placeholder="email" />
        </label>
      </form>
      <Alert error={list.error} />
      {list.data && !rows.length && <Empty>Nothing recorded yet.</Empty>}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr><th>Time</th><th>Who</th><th>From</th><th>Action</th><th>Target</th><th>Detail</th></tr>
            </thead>
            <tbody>
              {rows.map((e) => (
                <tr key={e.id}>
                  <td>{when(e.time)}</td>
                  <td>{e.actor}</td>
                  <td class="mono">{e.address}</td>
                  <td>{e.action}</td>
                  <td>{e.target}</td>
                  <td class="mono small">{e.detail ? JSON.stringify(e.detail) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
