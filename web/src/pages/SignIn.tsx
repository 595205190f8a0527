// SignIn.tsx - signing in, and the first sign-in's password change (the
// one-time password `edgecap-server user add` printed, or an owner's reset).
import { useState } from "preact/hooks";
import { ApiError, post, setCsrf, type User } from "../api";
import { Alert } from "../ui/ui";

export function SignIn(props: { onSignedIn: () => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await post<{ user: User; csrf: string }>("/api/v1/session", { email, password });
      setCsrf(r.csrf);
      props.onSignedIn();
    } catch (err) {
      const a = err as ApiError;
      setError(a.message || "sign-in failed");
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to edgecap</h1>
        <label>
          Email
          <input type="email" name="email" autocomplete="username" required value={email}
            onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input type="password" name="password" autocomplete="current-password" required value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <Alert error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

export function PasswordForm(props: { title: string; currentLabel: string; submitLabel: string; onDone: () => void }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (next !== again) return setError("new password: the two entries differ");
    setBusy(true);
    try {
      await post("/api/v1/session/password", { password: current, new_password: next });
      setDone(true);
      setCurrent("");
      setNext("");
      setAgain("");
      props.onDone();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} class="card" aria-label={props.title}>
      <h2>{props.title}</h2>
      <label>
        {props.currentLabel}
        <input type="password" autocomplete="current-password" required value={current}
          onInput={(e) => setCurrent(e.currentTarget.value)} />
      </label>
      <label>
        New password
        <input type="password" autocomplete="new-password" required minLength={12} value={next}
          onInput={(e) => setNext(e.currentTarget.value)} />
      </label>
      <label>
        New password again
        <input type="password" autocomplete="new-password" required minLength={12} value={again}
          onInput={(e) => setAgain(e.currentTarget.value)} />
      </label>
      <p class="hint">At least 12 characters. Changing it signs out your other sessions.</p>
      <Alert error={error} />
      {done && <p role="status" class="ok">Password changed.</p>}
      <button type="submit" disabled={busy}>{props.submitLabel}</button>
    </form>
  );
}

export function FirstPassword(props: { me: User; onDone: () => void; signOut: () => void }) {
  return (
    <main class="signin">
      <div>
        <h1>Welcome, {props.me.email ?? props.me.name}</h1>
        <p>
          You signed in with a one-time password. Choose your own to go on to {props.me.organization}.
        </p>
        <PasswordForm title="Set your password" currentLabel="One-time password" submitLabel="Set password"
          onDone={props.onDone} />
        <button type="button" class="quiet" onClick={props.signOut}>Sign out</button>
      </div>
    </main>
  );
}
