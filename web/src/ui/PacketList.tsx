// PacketList.tsx - the live packet list, virtualized: only the rows in view
// (and a few around) exist in the document, so 100,000 rows scroll as 50 do.
// Every cell is text (Preact sets textContent): packet data never becomes
// markup.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { clock } from "../format";
import type { PacketStore } from "../packets";

export const ROW_PX = 24;
const OVERSCAN = 12;

export function PacketList(props: {
  store: PacketStore;
  version: number;
  follow: boolean;
  onFollow: (on: boolean) => void;
  selected: number | null; // index in the store's view
  onSelect: (i: number) => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(400);
  const total = props.store.length;

  useEffect(() => {
    const el = box.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // following: stay at the bottom as rows arrive
  useLayoutEffect(() => {
    const el = box.current!;
    if (props.follow) el.scrollTop = el.scrollHeight;
  }, [props.version, props.follow, height]);

  const onScroll = () => {
    const el = box.current!;
    setTop(el.scrollTop);
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_PX;
    if (props.follow && !atBottom) props.onFollow(false);
  };

  const select = (i: number) => {
    const n = Math.max(0, Math.min(total - 1, i));
    props.onSelect(n);
    const el = box.current!;
    // (the sticky header takes the first ROW_PX of the view)
    if (n * ROW_PX < el.scrollTop) el.scrollTop = n * ROW_PX;
    else if ((n + 2) * ROW_PX > el.scrollTop + el.clientHeight) el.scrollTop = (n + 2) * ROW_PX - el.clientHeight;
  };
  const onKey = (e: KeyboardEvent) => {
    const page = Math.max(1, Math.floor(height / ROW_PX) - 1);
    const cur = props.selected ?? -1;
    const keys: Record<string, () => void> = {
      ArrowDown: () => select(cur + 1),
      ArrowUp: () => select(cur - 1),
      PageDown: () => select(cur + page),
      PageUp: () => select(cur - page),
      Home: () => select(0),
      End: () => {
        select(total - 1);
        props.onFollow(true);
      },
    };
    if (keys[e.key]) {
      e.preventDefault();
      if (e.key !== "End" && props.follow) props.onFollow(false);
      keys[e.key]();
    }
  };

  const first = Math.max(0, Math.floor(top / ROW_PX) - OVERSCAN);
  const last = Math.min(total, Math.ceil((top + height) / ROW_PX) + OVERSCAN);
  const rows = [];
  for (let i = first; i < last; i++) {
    const p = props.store.at(i);
    rows.push(
      <div key={p.n} role="row" aria-rowindex={i + 2} aria-selected={props.selected === i}
        class={`prow${props.selected === i ? " sel" : ""}${p.dir === "out" ? " out" : ""}`}
        style={{ transform: `translateY(${i * ROW_PX}px)` }} onClick={() => select(i)}>
        <span role="cell" class="c-n">{p.n}</span>
        <span role="cell" class="c-t">{clock(p.time)}</span>
        <span role="cell" class="c-d">{p.device}:{p.iface}</span>
        <span role="cell" class="c-dir">{p.dir ?? ""}</span>
        <span role="cell" class="c-len">{p.len}</span>
        <span role="cell" class="c-line">{p.line}{p.more ? ` (+${p.more.length})` : ""}</span>
      </div>,
    );
  }
  return (
    <div class="plist pbody" ref={box} onScroll={onScroll} tabIndex={0} onKeyDown={onKey} role="table"
      aria-label="Packets: arrow keys select, End follows" aria-rowcount={total + 1}>
      <div role="row" class="prow head" aria-rowindex={1}>
        <span role="columnheader" class="c-n">No.</span>
        <span role="columnheader" class="c-t">Time (UTC)</span>
        <span role="columnheader" class="c-d">Device:interface</span>
        <span role="columnheader" class="c-dir">Dir</span>
        <span role="columnheader" class="c-len">Len</span>
        <span role="columnheader" class="c-line">tcpdump</span>
      </div>
      <div class="pspace" role="rowgroup" style={{ height: `${total * ROW_PX}px` }}>
        {rows}
      </div>
    </div>
  );
}
