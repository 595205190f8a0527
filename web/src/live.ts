// live.ts - Server-Sent Events from the API (a capture's state, its
// packets). EventSource reconnects by itself after a dropped connection and
// sends Last-Event-ID, so the server goes on where it stopped; the stream is
// closed here once the server says it is over.

export type LiveState = "connecting" | "open" | "retrying" | "closed";

export interface Follow {
  close(): void;
}

export function follow(
  url: string,
  on: Record<string, (data: any) => boolean | void>, // true: the stream is over
  onState: (s: LiveState, error?: string) => void,
): Follow {
  const es = new EventSource(url, { withCredentials: true });
  let closed = false;
  const close = (error?: string) => {
    if (closed) return;
    closed = true;
    es.close();
    onState("closed", error);
  };
  onState("connecting");
  es.onopen = () => onState("open");
  es.onerror = (e: Event) => {
    // the server's own "event: error" carries data; a dropped connection none
    if (e instanceof MessageEvent && e.data) return;
    if (es.readyState === EventSource.CLOSED) close("the server closed the stream");
    else onState("retrying");
  };
  for (const [name, fn] of Object.entries(on)) {
    es.addEventListener(name, (e: Event) => {
      let data: unknown = null;
      try {
        data = JSON.parse((e as MessageEvent).data);
      } catch {
        return;
      }
      if (fn(data) === true) close();
    });
  }
  if (!on.error)
    es.addEventListener("error", (e: Event) => {
      const d = (e as MessageEvent).data;
      if (!d) return;
      try {
        close(JSON.parse(d).error ?? String(d));
      } catch {
        close(String(d));
      }
    });
  return { close: () => close() };
}
