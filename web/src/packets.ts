// packets.ts - the live capture's packets as the page keeps them: in the
// order the server merged them, searchable, bounded. Pure logic (no DOM), so
// that it is tested on its own (test/packets.test.ts).

export interface Packet {
  n: number; // the packet's number in the merged capture, from 1
  time: string; // ISO 8601, microseconds
  len: number; // on the wire
  dir: "in" | "out" | null;
  device: string;
  iface: string;
  line: string; // tcpdump's line, shown as text
  more?: string[]; // its further lines (-v), when any
}

export const ROWS_MAX = 250_000;
const STAMP = /^\d+\.\d{6,9} /;

export class PacketStore {
  rows: Packet[] = [];
  before: string[] = []; // lines that came before the first packet
  beyond = 0; // packets the server sent past ROWS_MAX, not kept
  private query = "";
  private numbers: Set<number> | null = null; // a display filter's matches
  private view: number[] | null = null; // rows matching both, by index
  version = 0; // bumped on every change, for the page to redraw

  constructor(private max = ROWS_MAX) {}

  add(p: Packet): void {
    // the list has its own time column: tcpdump's -tt stamp goes
    p.line = p.line.replace(STAMP, "");
    if (this.rows.length >= this.max) {
      this.beyond++;
      this.version++;
      return;
    }
    this.rows.push(p);
    if (this.view && this.keeps(p)) this.view.push(this.rows.length - 1);
    this.version++;
  }

  more(n: number, line: string): void {
    if (n === 0) this.before.push(line);
    else {
      const first = this.rows.length ? this.rows[0].n : 0;
      const p = this.rows[n - first];
      if (!p || p.n !== n) return;
      (p.more ??= []).push(line);
      if (this.view && !this.view.includes(n - first) && this.keeps(p)) {
        this.view.push(n - first);
        this.view.sort((a, b) => a - b);
      }
    }
    this.version++;
  }

  // The last packet's number (to resume from), 0 before any.
  get last(): number {
    return this.rows.length ? this.rows[this.rows.length - 1].n : 0;
  }

  // Case-insensitive text search over every column; "" shows all.
  setQuery(q: string): void {
    this.query = q.trim().toLowerCase();
    this.refilter();
  }

  // Only these packets (a display filter's matches, by number); null: all.
  setNumbers(n: Set<number> | null): void {
    this.numbers = n;
    this.refilter();
  }

  private keeps(p: Packet): boolean {
    return (!this.numbers || this.numbers.has(p.n)) && (!this.query || matches(p, this.query));
  }

  private refilter(): void {
    this.view = this.query || this.numbers ? [] : null;
    if (this.view) this.rows.forEach((p, i) => this.keeps(p) && this.view!.push(i));
    this.version++;
  }

  get length(): number {
    return this.view ? this.view.length : this.rows.length;
  }

  at(i: number): Packet {
    return this.rows[this.view ? this.view[i] : i];
  }
}

function matches(p: Packet, q: string): boolean {
  if (`${p.device}:${p.iface}`.toLowerCase().includes(q)) return true;
  if (p.line.toLowerCase().includes(q)) return true;
  return !!p.more && p.more.some((l) => l.toLowerCase().includes(q));
}
