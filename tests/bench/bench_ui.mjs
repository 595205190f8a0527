// bench_ui.mjs - the measurements of bench_ui.sh, inside the server's
// namespace: a capture followed by nobody, then by the page, at each rate.
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";

const env = process.env;
const require = createRequire(`${env.WEB_DIR}/package.json`);
const { chromium } = require("playwright-core");
const base = env.BASE;
const secs = Number(env.SECONDS_RUN);
const auth = { Authorization: `Bearer ${env.TOKEN}`, "Content-Type": "application/json" };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const record = (o) => env.BENCH_JSON && appendFileSync(env.BENCH_JSON, JSON.stringify(o) + "\n");

async function api(method, path, body) {
  const r = await fetch(`${base}/api/v1${path}`, { method, headers: auth, body: body && JSON.stringify(body) });
  return r.json();
}
function cpuTicks() { // the server's user + system time, in clock ticks
  const f = readFileSync(`/proc/${env.SERVER_PID}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
}
const HZ = Number(execFileSync("getconf", ["CLK_TCK"]).toString()) || 100;

// n UDP packets from gw1's side to gw2's at rate per second, paced in 10-ms steps
function send(rate, n) {
  const py = `import socket, time, sys
rate, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
step = max(1, rate // 100); t0 = time.monotonic(); sent = 0
while sent < n:
    for _ in range(min(step, n - sent)):
        s.sendto(b"x" * 64, ("10.98.0.2", 7777)); sent += 1
    wait = t0 + sent / rate - time.monotonic()
    if wait > 0: time.sleep(wait)`;
  return new Promise((res, rej) => {
    const p = spawn("ip", ["netns", "exec", env.NS_A, "python3", "-c", py, String(rate), String(n)], { stdio: "inherit" });
    p.on("exit", (c) => (c ? rej(new Error(`sender: ${c}`)) : res()));
  });
}

async function startCapture() {
  const c = await api("POST", "/captures", { devices: ["gw1", "gw2"], expression: "udp port 7777", duration: 120, reason: "bench ui" });
  for (let i = 0; i < 100; i++) {
    const s = await api("GET", `/captures/${c.id}`);
    if (s.devices.every((d) => d.state === "streaming")) return c.id;
    await sleep(100);
  }
  throw new Error(`capture ${c.id} did not start`);
}
async function waitMerged(id, n) {
  for (let i = 0; i < 300; i++) {
    const s = await api("GET", `/captures/${id}`);
    if (s.merged >= n) return s;
    await sleep(100);
  }
  return api("GET", `/captures/${id}`);
}
const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))] : NaN);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await ctx.newPage();
// first load: what went over the wire for the page itself
let firstLoad = 0;
const encodings = new Set();
page.on("response", (r) => {
  if (!["document", "script", "stylesheet"].includes(r.request().resourceType())) return;
  firstLoad += Number(r.headers()["content-length"] ?? 0);
  encodings.add(r.headers()["content-encoding"] ?? "identity");
});
await page.goto(`${base}/`);
await page.getByRole("heading", { name: "Sign in to edgecap" }).waitFor();
let brotli = 0; // the same files' brotli copies, as the build wrote them
const html = readFileSync(`${env.WEB_ROOT}/index.html`, "utf8");
for (const f of ["index.html", ...[...html.matchAll(/\/assets\/([^"]+)"/g)].map((m) => `assets/${m[1]}`)])
  brotli += statSync(`${env.WEB_ROOT}/${f}.br`).size;
await page.evaluate(async ({ email, otp }) => {
  const s = await (await fetch("/api/v1/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password: otp }) })).json();
  await fetch("/api/v1/session/password", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf },
    body: JSON.stringify({ password: otp, new_password: "bench-password-1" }) });
}, { email: env.EMAIL, otp: env.OTP });


console.log(`first load: ${firstLoad} bytes over the wire (${[...encodings].join(", ")}); the brotli copies: ${brotli} bytes`);
record({ bench: "ui", case: "first load", metric: "bytes", ours: "edgecap page", ours_value: firstLoad, target: "<=200000" });
console.log("| rate (packets/s) | packets | p50 ms | p99 ms | rows drawn | page count | API merged | per device | server CPU µs/packet, no reader | with the page |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const rate of [100, 5000]) {
  const n = rate * secs;
  // no reader
  let id = await startCapture();
  let t0 = cpuTicks();
  await send(rate, n);
  let s = await waitMerged(id, n);
  const bare = ((cpuTicks() - t0) * 1e6) / HZ / n;
  await api("POST", `/captures/${id}/stop`);
  // the page following
  id = await startCapture();
  await page.goto(`${base}/captures/${id}`);
  for (const d of ["gw1", "gw2"])
    await page.locator(`tr[data-device="${d}"] .badge`).filter({ hasText: "streaming" }).waitFor();
  await page.evaluate(() => {
    const day = new Date().toISOString().slice(0, 10);
    const seen = (window.__seen = []);
    const box = document.querySelector(".pspace");
    new MutationObserver((ms) => {
      const now = Date.now();
      for (const m of ms)
        for (const el of m.addedNodes) {
          const t = el.querySelector?.(".c-t")?.textContent;
          if (t) seen.push(now - Date.parse(`${day}T${t.slice(0, 12)}Z`));
        }
    }).observe(box, { childList: true });
  });
  t0 = cpuTicks();
  await send(rate, n);
  s = await waitMerged(id, n);
  await page.locator('[data-field="rows"]').filter({ hasText: new RegExp(`^${n.toLocaleString("en-US")} packets`) })
    .waitFor({ timeout: 30000 }).catch(() => {});
  const withPage = ((cpuTicks() - t0) * 1e6) / HZ / n;
  const lat = (await page.evaluate(() => window.__seen)).sort((a, b) => a - b);
  const shown = Number((await page.locator('[data-field="rows"]').textContent()).replace(/,/g, "").match(/^(\d+)/)[1]);
  const per = s.devices.map((d) => d.packets).join("/");
  console.log(`| ${rate} | ${n} | ${pct(lat, 50)} | ${pct(lat, 99)} | ${lat.length} | ${shown} | ${s.merged} | ${per} | ${bare.toFixed(1)} | ${withPage.toFixed(1)} |`);
  record({ bench: "ui", case: `${rate} packets/s, packet to row p99`, metric: "ms", ours: "edgecap page", ours_value: pct(lat, 99), target: rate === 5000 ? "<=999" : undefined });
  record({ bench: "ui", case: `${rate} packets/s, packet to row p50`, metric: "ms", ours: "edgecap page", ours_value: pct(lat, 50) });
  record({ bench: "ui", case: `${rate} packets/s, counts exact`, metric: "packets", ours: "page / API", ours_value: shown, peer: "sent", peer_value: n, target: "ratio>=1" });
  record({ bench: "ui", case: `${rate} packets/s, server CPU per packet`, metric: "us", ours: "page following", ours_value: Number(withPage.toFixed(2)), peer: "no reader", peer_value: Number(bare.toFixed(2)) });
  if (shown !== n || s.merged !== n) console.log(`counts: page ${shown}, API ${s.merged}, sent ${n}`);
  await api("POST", `/captures/${id}/stop`);
}
await browser.close();
