import { test } from "node:test";
import assert from "node:assert/strict";
import { PacketStore, type Packet } from "../src/packets";

const pkt = (n: number, line: string, device = "gw-1"): Packet => ({
  n, time: `2026-12-06T10:00:00.${String(n).padStart(6, "0")}Z`, len: 60, dir: "in", device, iface: "eth0", line,
});

test("packets are kept in order and counted", () => {
  const s = new PacketStore();
  for (let i = 1; i <= 5; i++) s.add(pkt(i, `IP 10.0.0.${i} > 10.0.0.9: ICMP echo request`));
  assert.equal(s.length, 5);
  assert.equal(s.at(0).n, 1);
  assert.equal(s.last, 5);
});

test("search narrows by any column, case-insensitively, and follows new rows", () => {
  const s = new PacketStore();
  s.add(pkt(1, "IP 10.0.0.1.53 > 10.0.0.2.4000: 1 A? Example.COM. (30)"));
  s.add(pkt(2, "IP 10.0.0.1 > 10.0.0.2: ICMP echo request", "gw-2"));
  s.setQuery("example.com");
  assert.equal(s.length, 1);
  assert.equal(s.at(0).n, 1);
  s.add(pkt(3, "IP 10.0.0.3.53 > 10.0.0.2.4001: 2 AAAA? example.com. (30)"));
  assert.equal(s.length, 2);
  assert.equal(s.at(1).n, 3);
  s.setQuery("GW-2:eth0");
  assert.equal(s.length, 1);
  assert.equal(s.at(0).n, 2);
  s.setQuery("");
  assert.equal(s.length, 3);
});

test("further lines join their packet and are searched", () => {
  const s = new PacketStore();
  s.add(pkt(1, "IP (tos 0x0, ttl 64) 10.0.0.1 > 10.0.0.2: ICMP echo request"));
  s.more(1, "    options (RR)");
  s.more(0, "a line before any packet");
  s.more(7, "for no kept packet");
  assert.deepEqual(s.at(0).more, ["    options (RR)"]);
  assert.deepEqual(s.before, ["a line before any packet"]);
  s.setQuery("options (rr)");
  assert.equal(s.length, 1);
});

test("the store is bounded and counts what it did not keep", () => {
  const s = new PacketStore(3);
  for (let i = 1; i <= 10; i++) s.add(pkt(i, "x"));
  assert.equal(s.rows.length, 3);
  assert.equal(s.beyond, 7);
  const v = s.version;
  s.add(pkt(11, "x"));
  assert.ok(s.version > v, "a packet past the bound still redraws the count");
});

test("tcpdump's -tt stamp leaves the line: the list has its own time column", () => {
  const s = new PacketStore();
  s.add(pkt(1, "1796603077.964468 IP 10.98.0.2 > 10.98.0.1: ICMP echo reply, id 663, seq 1, length 64"));
  s.add(pkt(2, "IP6 fe80::1 > ff02::1: ICMP6, router advertisement, length 56"));
  assert.equal(s.at(0).line, "IP 10.98.0.2 > 10.98.0.1: ICMP echo reply, id 663, seq 1, length 64");
  assert.equal(s.at(1).line, "IP6 fe80::1 > ff02::1: ICMP6, router advertisement, length 56");
});

test("a display filter's numbers and the search narrow together", () => {
  const s = new PacketStore();
  for (let i = 1; i <= 6; i++) s.add(pkt(i, i % 2 ? `IP a > b: ICMP echo request, seq ${i}` : `IP b > a: ICMP echo reply, seq ${i}`));
  s.setNumbers(new Set([1, 2, 3]));
  assert.deepEqual([...Array(s.length)].map((_, i) => s.at(i).n), [1, 2, 3]);
  s.setQuery("reply");
  assert.deepEqual([...Array(s.length)].map((_, i) => s.at(i).n), [2]);
  s.add(pkt(7, "IP b > a: ICMP echo reply, seq 7"));
  assert.equal(s.length, 1, "a packet the filter has not seen yet waits for it");
  s.setNumbers(null);
  assert.deepEqual([...Array(s.length)].map((_, i) => s.at(i).n), [2, 4, 6, 7]);
});
