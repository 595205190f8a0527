// api.ts - the page's one way to the server: the public API the CLI uses
// (docs/api.yaml). The session cookie goes by itself; state-changing requests
// carry the session's CSRF token. Errors come back as ApiError with the
// server's one-line message, which names the field.

export class ApiError extends Error {
  status: number;
  retryAfter: number;
  constructor(status: number, message: string, retryAfter = 0) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

let csrf = "";
const signedOut = new Set<() => void>();

export function setCsrf(token: string): void {
  csrf = token;
}

// Called when the server says the session is gone (401 on a signed-in page).
export function onSignedOut(fn: () => void): () => void {
  signedOut.add(fn);
  return () => signedOut.delete(fn);
}

async function errorOf(res: Response): Promise<ApiError> {
  let msg = `${res.status} ${res.statusText}`;
  try {
    const j = await res.json();
    if (j && typeof j.error === "string") msg = j.error;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(res.status, msg, Number(res.headers.get("Retry-After")) || 0);
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    const e = await errorOf(res);
    if (res.status === 401 && path !== "/api/v1/session") signedOut.forEach((fn) => fn());
    throw e;
  }
  return (await res.json()) as T;
}

export const get = <T>(path: string) => request<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {});
export const patch = <T>(path: string, body: unknown) => request<T>("PATCH", path, body);
export const del = <T>(path: string) => request<T>("DELETE", path);

// The cursor of a list's next page, from its Link header (rel="next").
export function nextCursor(link: string | null): string | null {
  if (!link) return null;
  const m = /<[^>]*[?&]cursor=([^&>]+)[^>]*>\s*;\s*rel="next"/.exec(link);
  return m ? decodeURIComponent(m[1]) : null;
}

// Every page of a list, up to max items.
export async function getAll<T>(path: string, max = 5000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const url = `${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!res.ok) {
      const e = await errorOf(res);
      if (res.status === 401) signedOut.forEach((fn) => fn());
      throw e;
    }
    out.push(...((await res.json()) as T[]));
    cursor = nextCursor(res.headers.get("Link"));
  } while (cursor && out.length < max);
  return out;
}

export interface User {
  name: string;
  email: string | null;
  role: "owner" | "operator" | "viewer";
  organization: string;
  password_change: boolean;
}

export interface Session {
  user: User;
  csrf: string;
  viewer_downloads?: boolean;
}

export interface Device {
  name: string;
  serial: string;
  address: string;
  transport: "direct" | "udp" | "http" | "relay";
  mgmt_address: string | null;
  enabled: boolean;
  last_seen: string | null;
  created: string;
  secret?: string;
  // the server's word: heard within three report intervals, or not
  state: "online" | "offline" | "never seen" | "disabled";
  offline_since: string | null;
  // what the device last said of itself (its agent's status)
  agent: string | null;
  kernel: string | null;
  interfaces: { name: string; ingress: string | null; linktype: string | null; mac: string | null; mtu: number | null; state: string | null; addresses: string[] }[] | null;
  clock_offset_ms: number | null;
  clock_rtt_ms: number | null;
  reported_at: string | null;
  report_error: string | null;
  // the tunnel's settings: its own, what it is to run by, what it said
  settings?: {
    own: TunnelSettingsSet;
    wanted: TunnelSettingsSet;
    reported: (Record<keyof TunnelSettingsSet, number | null> & { central: TunnelSettingsSet }) | null;
    applied: boolean;
  };
}

export interface TunnelSettingsSet {
  hello_interval_ms?: number;
  udp_wait_ms?: number;
  coalesce_ms?: number;
  hold_ms?: number;
}

// What moves with each report of a device, and with time: the devices'
// events stream sends these, by name, of the devices whose changed (event
// `seen`), and the whole list only when something else changed.
export type DeviceSeen = Pick<Device, "name" | "last_seen" | "state" | "offline_since" | "reported_at" | "clock_offset_ms" | "clock_rtt_ms">;

// The list with a `seen` event applied; devices it does not name stay as
// they are, names the list does not have are left out (the next full list
// brings them).
export function applySeen(list: Device[], seen: DeviceSeen[]): Device[] {
  if (!Array.isArray(seen)) return list;
  const by = new Map<string, DeviceSeen>();
  for (const s of seen) if (s && typeof s.name === "string") by.set(s.name, s);
  return list.map((d) => {
    const s = by.get(d.name);
    return s ? { ...d, ...s } : d;
  });
}

// A device in a capture's request: its name, or its name with interfaces
// of its own
export type CaptureTarget = string | { name: string; interfaces: string[] };

export interface CaptureRequest {
  devices: CaptureTarget[];
  expression?: string;
  snaplen?: number;
  count?: number;
  duration?: number;
  interfaces?: string[];
  direction?: "in" | "out" | "inout";
  reason?: string;
}

export interface CaptureDevice {
  device: string;
  state: "connecting" | "streaming" | "done" | "failed";
  error: string | null;
  bytes: number;
  packets: number;
  duplicates: number;
  dropped: number;
  clock: string | null; // its clock against the server's, when not in step
}

export interface Capture {
  id: number;
  state: "running" | "done";
  request: CaptureRequest;
  merged: number;
  duplicates: number;
  late: number;
  created: string;
  ended: string | null;
  ended_by: string | null;
  error: string | null;
  stored: number;
  file_lost: boolean;
  user: string;
  devices: CaptureDevice[];
}

// The interfaces field as the page shows it: "va, vb" for every device,
// "gw1:va gw2:vb+vc" for some devices' own (both may be given), and the
// request's devices and interfaces from it. A device the field names
// without being picked is not captured.
export function captureTargets(picked: string[], field: string): { devices: CaptureTarget[]; interfaces?: string[] } {
  const all: string[] = [];
  const own = new Map<string, string[]>();
  for (const t of field.split(/[\s,]+/).filter(Boolean)) {
    const at = t.indexOf(":");
    if (at < 0) all.push(t);
    else own.set(t.slice(0, at), t.slice(at + 1).split("+").filter(Boolean));
  }
  const devices = picked.map((d) => (own.has(d) ? { name: d, interfaces: own.get(d)! } : d));
  return all.length ? { devices, interfaces: all } : { devices };
}

// The other way, for "run again": the names picked and the field's text.
export function targetsText(r: CaptureRequest): { picked: string[]; field: string } {
  const own = r.devices.filter((d) => typeof d !== "string").map((d) => `${d.name}:${d.interfaces.join("+")}`);
  return {
    picked: r.devices.map((d) => (typeof d === "string" ? d : d.name)),
    field: [...(r.interfaces ?? []), ...own].join(", "),
  };
}
