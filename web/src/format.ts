// format.ts - numbers and times as the page shows them.

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

// "2026-12-06T21:30:00.123456Z" -> "21:30:00.123456" (the packet list's
// time, UTC, to the microsecond as tcpdump -tt keeps it).
export function clock(iso: string): string {
  const t = iso.indexOf("T");
  return t < 0 ? iso : iso.slice(t + 1).replace(/Z$/, "");
}

// An ISO time as a short local date and time.
export function when(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// How long ago, for "last seen".
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// What a device's interfaces can be captured with, from its report:
// "eth0 xdp, wg0 tc (RAW)".
export function hooks(ifs: { name: string; ingress: string | null; linktype: string | null }[] | null): string {
  if (!Array.isArray(ifs)) return "";
  return ifs
    .filter((i) => i && typeof i === "object" && typeof i.name === "string")
    .map((i) => `${i.name} ${i.ingress ?? "?"}${i.linktype === "EN10MB" ? "" : ` (${i.linktype ?? "?"})`}`)
    .join(", ");
}

// "1.2.3.4:443" style shell quoting for the copyable command lines.
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
