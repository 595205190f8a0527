// Detail.tsx - one packet as Wireshark shows it: the protocol tree from the
// server's sharkd (GET /api/v1/captures/ID/frames/N) and the bytes, hex and
// ASCII; choosing a line of the tree marks its bytes. Labels and bytes are
// text only.
import { useEffect, useState } from "preact/hooks";
import { get } from "../api";
import type { Packet } from "../packets";

export interface TreeNode {
  l: string; // label
  h?: [number, number]; // bytes: start, length
  n?: TreeNode[];
}

interface Frame {
  n: number;
  tree: TreeNode[];
  bytes: string | null; // base64
}

export function decode(b64: string | null): Uint8Array {
  if (!b64) return new Uint8Array();
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// "0000  45 00 00 54 ...  E..T" lines, 16 bytes each.
export function hexLines(b: Uint8Array): { off: string; hex: string[]; ascii: string }[] {
  const out = [];
  for (let o = 0; o < b.length; o += 16) {
    const row = b.subarray(o, o + 16);
    out.push({
      off: o.toString(16).padStart(4, "0"),
      hex: [...row].map((x) => x.toString(16).padStart(2, "0")),
      ascii: [...row].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : ".")).join(""),
    });
  }
  return out;
}

function Node(props: { node: TreeNode; depth: number; marked: TreeNode | null; pick: (n: TreeNode) => void }) {
  const { node } = props;
  const sel = props.marked === node;
  const label = (
    <span class={`tnode${sel ? " sel" : ""}`} onClick={(e) => { e.preventDefault(); props.pick(node); }}>
      {node.l}
    </span>
  );
  if (!node.n || !node.n.length) return <li>{label}</li>;
  return (
    <li>
      <details>
        <summary>{label}</summary>
        <ul>
          {node.n.map((c, i) => <Node key={i} node={c} depth={props.depth + 1} marked={props.marked} pick={props.pick} />)}
        </ul>
      </details>
    </li>
  );
}

export function Detail(props: { base: string; packet: Packet; wireshark: boolean }) {
  const [frame, setFrame] = useState<Frame | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [marked, setMarked] = useState<TreeNode | null>(null);
  const p = props.packet;

  useEffect(() => {
    setFrame(null);
    setError(null);
    setMarked(null);
    if (!props.wireshark) return;
    let live = true;
    get<Frame>(`${props.base}/frames/${p.n}`).then(
      (f) => live && setFrame(f),
      (e) => live && setError((e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [props.base, p.n, props.wireshark]);

  const bytes = decode(frame?.bytes ?? null);
  const [from, len] = marked?.h ?? [-1, 0];
  return (
    <section class="detail" aria-label={`Packet ${p.n}`}>
      <h2>Packet {p.n}</h2>
      <p class="muted">
        {p.time} · {p.device}:{p.iface} · {p.dir ?? "direction unknown"} · {p.len} bytes on the wire
      </p>
      <pre class="lines">{[p.line, ...(p.more ?? [])].join("\n")}</pre>
      {props.wireshark && (
        <div class="dissection">
          {error && <p class="alert" role="alert">{error}</p>}
          {!frame && !error && <p class="muted">Dissecting…</p>}
          {frame && (
            <>
              <ul class="tree" aria-label="Protocol tree">
                {frame.tree.map((n, i) => <Node key={i} node={n} depth={0} marked={marked} pick={setMarked} />)}
              </ul>
              <div class="hex" aria-label="Packet bytes">
                {hexLines(bytes).map((r, row) => (
                  <div key={r.off} class="hexrow">
                    <span class="off">{r.off}</span>
                    <span class="hx">
                      {r.hex.map((h, i) => {
                        const at = row * 16 + i;
                        return <span key={i} class={at >= from && at < from + len ? "on" : undefined}>{h}</span>;
                      })}
                    </span>
                    <span class="asc">{r.ascii}</span>
                  </div>
                ))}
              </div>
            </>
          )}
        </div>
      )}
    </section>
  );
}
