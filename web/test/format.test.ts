import { test } from "node:test";
import assert from "node:assert/strict";
import { ago, bytes, clock, count, hooks, shellQuote } from "../src/format";
import { nextCursor } from "../src/api";
import { match } from "../src/router";

test("sizes and counts", () => {
  assert.equal(bytes(0), "0 B");
  assert.equal(bytes(1023), "1023 B");
  assert.equal(bytes(1536), "1.5 KiB");
  assert.equal(bytes(50 * 1024 * 1024), "50 MiB");
  assert.equal(count(1234567), "1,234,567");
});

test("times", () => {
  assert.equal(clock("2026-12-06T21:30:00.123456Z"), "21:30:00.123456");
  const now = Date.parse("2026-12-06T21:30:00Z");
  assert.equal(ago("2026-12-06T21:29:30.000Z", now), "30 s ago");
  assert.equal(ago("2026-12-06T19:00:00.000Z", now), "2 h ago");
  assert.equal(ago(null, now), "never");
});

test("hooks: each interface's ingress hook, its link type where not Ethernet", () => {
  assert.equal(hooks(null), "");
  assert.equal(hooks([]), "");
  assert.equal(hooks([{ name: "eth0", ingress: "xdp", linktype: "EN10MB" }, { name: "wg0", ingress: "tc", linktype: "RAW" }]), "eth0 xdp, wg0 tc (RAW)");
  // what a device said is not trusted to have the shape
  assert.equal(hooks("x" as never), "");
  assert.equal(hooks([null, { name: "eth1", ingress: null, linktype: null }] as never), "eth1 ? (?)");
});

test("the next page's cursor comes from the Link header", () => {
  assert.equal(nextCursor('</api/v1/captures?limit=500&cursor=abc%3D>; rel="next"'), "abc=");
  assert.equal(nextCursor(null), null);
  assert.equal(nextCursor('</x?limit=5>; rel="prev"'), null);
});

test("paths match patterns", () => {
  assert.deepEqual(match("/captures/:id", "/captures/12"), { id: "12" });
  assert.equal(match("/captures/:id", "/captures/12/x"), null);
  assert.equal(match("/captures/:id", "/devices/12"), null);
});

test("shell quoting of copyable commands", () => {
  assert.equal(shellQuote("http://10.0.0.1:8080/a"), "http://10.0.0.1:8080/a");
  assert.equal(shellQuote("a b'c"), `'a b'\\''c'`);
});

test("a packet's bytes as hex lines", async () => {
  const { decode, hexLines } = await import("../src/ui/Detail");
  const b = decode(btoa("E\u0000\u0000T" + "x".repeat(16)));
  assert.equal(b.length, 20);
  const l = hexLines(b);
  assert.equal(l.length, 2);
  assert.equal(l[0].off, "0000");
  assert.deepEqual(l[0].hex.slice(0, 4), ["45", "00", "00", "54"]);
  assert.equal(l[0].ascii.slice(0, 4), "E..T");
  assert.equal(l[1].off, "0010");
});
