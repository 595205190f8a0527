import { test } from "node:test";
import assert from "node:assert/strict";
import { ago, bytes, clock, count, hooks, shellQuote } from "../src/format";
import { applySeen, captureTargets, nextCursor, targetsText, type Device } from "../src/api";
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

test("a devices' `seen` event updates the devices it names, by name, and no more", () => {
  const dev = (name: string, last_seen: string | null): Device => ({
    name, serial: `SN-${name}`, address: "", transport: "direct", mgmt_address: null, enabled: true,
    last_seen, created: "2026-12-06T21:00:00.000Z", state: last_seen ? "online" : "never seen", offline_since: null,
    agent: "edgecap-agent 0.1.0", kernel: "6.1", interfaces: [], clock_offset_ms: 0, clock_rtt_ms: 1,
    reported_at: last_seen, report_error: null,
  });
  const list = [dev("gw1", "2026-12-06T21:00:00.000Z"), dev("gw2", null)];
  const seen = { name: "gw2", last_seen: "2026-12-06T21:01:00.000Z", state: "online" as const, offline_since: null,
    reported_at: "2026-12-06T21:01:00.000Z", clock_offset_ms: 3, clock_rtt_ms: 4 };
  const out = applySeen(list, [seen, { ...seen, name: "gw7" }]);
  assert.equal(out[0], list[0]);
  assert.deepEqual(out[1], { ...list[1], ...seen });
  assert.equal(out[1].agent, "edgecap-agent 0.1.0");
  assert.deepEqual(out.map((d) => d.name), ["gw1", "gw2"]);
  assert.equal(list[1].last_seen, null); // the old list is not changed
  assert.equal(applySeen(list, "x" as never), list);
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

test("a capture's devices and interfaces, from the field and back", () => {
  assert.deepEqual(captureTargets(["gw1", "gw2"], ""), { devices: ["gw1", "gw2"] });
  assert.deepEqual(captureTargets(["gw1", "gw2"], "va, vb"), { devices: ["gw1", "gw2"], interfaces: ["va", "vb"] });
  assert.deepEqual(captureTargets(["gw1", "gw2"], "gw1:va gw2:vb+vc any"), {
    devices: [{ name: "gw1", interfaces: ["va"] }, { name: "gw2", interfaces: ["vb", "vc"] }],
    interfaces: ["any"],
  });
  // a device named in the field but not picked is not captured
  assert.deepEqual(captureTargets(["gw1"], "gw9:eth0"), { devices: ["gw1"] });
  const r = { devices: ["gw1", { name: "gw2", interfaces: ["vb", "vc"] }], interfaces: ["va"] };
  assert.deepEqual(targetsText(r), { picked: ["gw1", "gw2"], field: "va, gw2:vb+vc" });
  assert.deepEqual(captureTargets(targetsText(r).picked, targetsText(r).field), r);
});
