// Account.tsx - one's own: password, API tokens (for the CLI and scripts;
// shown once), signing out.
import { useState } from "preact/hooks";
import { getAll, post } from "../api";
import { when } from "../format";
import { Alert, Empty, Secret, useAction, useLoad, RemoveButton } from "../ui/ui";
import { PasswordForm } from "./SignIn";
import type { Me } from "../main";

interface Token {
  name: string;
  created: string;
  last_used: string | null;
}

export function Account(props: { me: Me }) {
  const tokens = useLoad(() => getAll<Token>("/api/v1/tokens"), []);
  const [name, setName] = useState("");
  const [made, setMade] = useState<{ name: string; token: string } | null>(null);
  const act = useAction();

  const add = async (e: Event) => {
    e.preventDefault();
    await act.run(async () => {
      setMade(await post<{ name: string; token: string }>("/api/v1/tokens", { name }));
      setName("");
      tokens.reload();
    });
  };
  return (
    <section aria-labelledby="acct-title">
      <h1 id="acct-title">My account</h1>
      <p>
        {props.me.email ?? props.me.name}, {props.me.role} of {props.me.organization}.
      </p>
      <PasswordForm title="Change password" currentLabel="Current password" submitLabel="Change password" onDone={() => {}} />
      <div class="card">
        <h2>API tokens</h2>
        <p class="hint">For the <code>edgecap</code> command and scripts: <code>EDGECAP_TOKEN=… edgecap remote …</code>. A token acts as you, with your role.</p>
        <form class="row" onSubmit={add} aria-label="Create a token">
          <label class="grow">
            Token name
            <input required value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="laptop" />
          </label>
          <button type="submit" disabled={act.busy}>Create token</button>
        </form>
        {made && <Secret label={`Token ${made.name}.`} value={made.token} onDone={() => setMade(null)} />}
        <Alert error={tokens.error || act.error} />
        {tokens.data && !tokens.data.length && <Empty>No tokens.</Empty>}
        {tokens.data && tokens.data.length > 0 && (
          <table class="list">
            <thead><tr><th>Name</th><th>Created</th><th>Last used</th><th></th></tr></thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.name}>
                  <td>{t.name}</td>
                  <td>{when(t.created)}</td>
                  <td>{t.last_used ? when(t.last_used) : "never"}</td>
                  <td>
                    <RemoveButton label="Revoke" path={`/api/v1/tokens/${encodeURIComponent(t.name)}`} act={act} done={tokens.reload} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
