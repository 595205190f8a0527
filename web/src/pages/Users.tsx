// Users.tsx - owners: the organization's users and roles, adding one (its
// one-time password shown once), role changes, disabling, removing; and
// whether viewers may download; the tunnel's settings for every device.
import { useState } from "preact/hooks";
import { getAll, get, patch, post } from "../api";
import { when } from "../format";
import { Alert, Secret, useAction, useLoad, RemoveButton } from "../ui/ui";
import type { Me } from "../main";
import type { TunnelSettingsSet } from "../api";
import { OrgTunnelSettings } from "./TunnelSettings";

interface UserRow {
  name: string;
  email: string | null;
  role: string;
  disabled: boolean;
  password_change: boolean;
  created: string;
}

export function Users(props: { me: Me }) {
  const list = useLoad(() => getAll<UserRow>("/api/v1/users"), []);
  const org = useLoad(() => get<{ name: string; viewer_downloads: boolean; settings: TunnelSettingsSet }>("/api/v1/organization"), []);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("viewer");
  const [made, setMade] = useState<{ email: string; password: string } | null>(null);
  const act = useAction();
  const path = (u: UserRow) => `/api/v1/users/${encodeURIComponent(u.name)}`;

  const add = async (e: Event) => {
    e.preventDefault();
    await act.run(async () => {
      const r = await post<{ email: string; password: string }>("/api/v1/users", { email, role });
      setMade(r);
      setEmail("");
      list.reload();
    });
  };

  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users of {props.me.organization}</h1>
      <form class="card inline-form" onSubmit={add} aria-label="Add a user">
        <h2>Add a user</h2>
        <label>
          Email
          <input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            <option value="viewer">viewer: sees devices and captures</option>
            <option value="operator">operator: starts, stops and downloads captures</option>
            <option value="owner">owner: everything, users and devices too</option>
          </select>
        </label>
        <button type="submit" disabled={act.busy}>Add</button>
      </form>
      {made && <Secret label={`One-time password for ${made.email}: they choose their own at first sign-in.`} value={made.password} onDone={() => setMade(null)} />}
      <Alert error={list.error || act.error} />
      {list.data && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr><th>Name</th><th>Email</th><th>Role</th><th>State</th><th>Added</th><th>Actions</th></tr>
            </thead>
            <tbody>
              {list.data.map((u) => (
                <tr key={u.name}>
                  <td>{u.name}</td>
                  <td>{u.email ?? "—"}</td>
                  <td>
                    <select aria-label={`Role of ${u.name}`} value={u.role} disabled={u.name === props.me.name}
                      onChange={(e) => act.run(async () => { await patch(path(u), { role: e.currentTarget.value }); list.reload(); })}>
                      <option value="viewer">viewer</option>
                      <option value="operator">operator</option>
                      <option value="owner">owner</option>
                    </select>
                  </td>
                  <td>{u.disabled ? "disabled" : u.password_change ? "password not yet set" : "active"}</td>
                  <td>{when(u.created)}</td>
                  <td class="actions">
                    {u.name !== props.me.name && (
                      <>
                        <button type="button" class="small quiet"
                          onClick={() => act.run(async () => { await patch(path(u), { disabled: !u.disabled }); list.reload(); })}>
                          {u.disabled ? "Enable" : "Disable"}
                        </button>
                        <RemoveButton label="Remove" path={path(u)} question={`Remove ${u.email ?? u.name}?`} act={act}
                          done={list.reload} />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {org.data && (
        <label class="check card">
          <input type="checkbox" checked={org.data.viewer_downloads}
            onChange={(e) => act.run(async () => org.setData(await patch("/api/v1/organization", { viewer_downloads: e.currentTarget.checked })))} />
          Viewers may download captures
        </label>
      )}
      {org.data && <OrgTunnelSettings settings={org.data.settings} onSaved={(o) => org.setData({ ...org.data!, settings: o.settings })} />}
    </section>
  );
}
