// ui.tsx - the small pieces every page uses.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, del } from "../api";

export function Alert(props: { error?: unknown; children?: ComponentChildren }) {
  if (!props.error && !props.children) return null;
  const text = props.error instanceof Error ? props.error.message : props.error ? String(props.error) : null;
  return (
    <p class="alert" role="alert">
      {text}
      {props.children}
    </p>
  );
}

// Data loaded by fn, reloaded on deps and every `every` ms when given.
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[], every = 0) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const seq = useRef(0);
  const load = useCallback(() => {
    const mine = ++seq.current;
    fn().then(
      (d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
      },
      (e) => mine === seq.current && setError(e),
    );
  }, deps);
  useEffect(() => {
    load();
    if (!every) return;
    const t = setInterval(load, every);
    return () => clearInterval(t);
  }, [load, every]);
  return { data, error, reload: load, setData };
}

// A value that follows v after ms of quiet (typing).
export function useDebounced<T>(v: T, ms: number): T {
  const [d, setD] = useState(v);
  useEffect(() => {
    const t = setTimeout(() => setD(v), ms);
    return () => clearTimeout(t);
  }, [v, ms]);
  return d;
}

// Shown once: a secret the server will not show again, with a copy button.
export function Secret(props: { label: string; value: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="secret" role="status">
      <p>
        <strong>{props.label}</strong> It is shown only now.
      </p>
      <code class="secret-value">{props.value}</code>
      <div class="row">
        <button
          type="button"
          onClick={() => navigator.clipboard?.writeText(props.value).then(() => setCopied(true))}
        >
          {copied ? "Copied" : "Copy"}
        </button>
        <button type="button" class="quiet" onClick={props.onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

export function Copyable(props: { label: string; text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="copyable">
      <span class="muted">{props.label}</span>
      <code>{props.text}</code>
      <button type="button" class="small" onClick={() => navigator.clipboard?.writeText(props.text).then(() => setCopied(true))}>
        {copied ? "Copied" : "Copy"}
      </button>
    </div>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

// Run an action, keeping its error and whether it is under way.
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

// A button that removes something: asks first (when question is given), then
// DELETEs path through act (its error shown by the page), then done().
export function RemoveButton(props: {
  label: string;
  path: string;
  question?: string;
  act: ReturnType<typeof useAction>;
  done?: () => void;
}) {
  const click = () => {
    if (props.question && !confirm(props.question)) return;
    props.act.run(async () => {
      await del(props.path);
      props.done?.();
    });
  };
  return (
    <button type="button" class="small danger" disabled={props.act.busy} onClick={click}>
      {props.label}
    </button>
  );
}
