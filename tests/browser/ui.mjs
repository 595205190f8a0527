// ui.mjs - the web page in a real browser (Debian's Chromium, driven by
// playwright-core) against a real edgecap-server, two real agents and traffic
// in network namespaces; ui.sh sets that up and passes it in the environment.
// Prints "PASS name" / "FAIL name: why" lines, as the netns suites do, and
// writes each page's screenshot into $SHOTS.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";

const env = process.env;
const require = createRequire(`${env.WEB_DIR}/package.json`);
const { chromium } = require("playwright-core");
const base = env.BASE; // http://127.0.0.1:8000
const shots = env.SHOTS;
mkdirSync(shots, { recursive: true });
let failed = 0;
const ok = (name) => console.log(`PASS ${name}`);
const ko = (name, why) => {
  failed++;
  console.log(`FAIL ${name}: ${String(why).split("\n")[0]}`);
};
async function check(name, fn) {
  try {
    const r = await fn();
    ok(r ? `${name} (${r})` : name);
  } catch (e) {
    ko(name, e && e.message ? e.message : e);
    // what each page showed when it failed
    let i = 0;
    for (const c of contexts)
      for (const p of c.pages()) await p.screenshot({ path: `${shots}/failed-${failed}-${i++}.png` }).catch(() => {});
  }
}
function assert(cond, why) {
  if (!cond) throw new Error(why);
}
// run a command in namespace A (the side of gw1's interface)
const inA = (...cmd) => execFileSync("ip", ["netns", "exec", env.NS_A, ...cmd], { stdio: ["ignore", "pipe", "pipe"] });

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const contexts = [];
async function newPage(viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on("dialog", (d) => {
    if (d.type() === "confirm") return d.accept();
    page.__dialogs = (page.__dialogs ?? 0) + 1; // an alert() would be markup run
    return d.dismiss();
  });
  page.on("pageerror", (e) => (page.__errors ??= []).push(e.message));
  // (a refused request is logged by the browser itself: not the page's error)
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") &&
    (page.__console ??= []).push(m.text()));
  return page;
}
async function signIn(page, email, password) {
  await page.goto(`${base}/`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
async function firstPassword(page, oneTime, mine) {
  await page.getByLabel("One-time password").fill(oneTime);
  await page.getByLabel("New password", { exact: true }).fill(mine);
  await page.getByLabel("New password again").fill(mine);
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByRole("heading", { name: "Devices" }).waitFor({ timeout: 10000 });
}
const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: false });

const owner = await newPage();
let captureId = null;
let rowsShown = 0;

await check("the page loads under its CSP with no error and no inline code", async () => {
  const res = await owner.goto(`${base}/devices`);
  assert(res.status() === 200, `status ${res.status()}`);
  const csp = res.headers()["content-security-policy"] ?? "";
  assert(csp.includes("script-src 'self'") && !csp.includes("unsafe-inline"), `CSP: ${csp}`);
  await owner.getByRole("heading", { name: "Sign in to edgecap" }).waitFor();
  const inline = await owner.evaluate(() => [...document.scripts].filter((s) => !s.src).length +
    document.querySelectorAll("[style]").length + document.querySelectorAll("style").length);
  assert(inline === 0, `${inline} inline scripts or styles`);
  assert(!owner.__errors && !owner.__console, `errors: ${owner.__errors ?? owner.__console}`);
  // nothing but the build's files: no way out of assets/, no cached 404
  for (const p of ["/assets/nope.js", "/assets/..%2f..%2fregistry.db", "/assets/.hidden", "/assets/x.js.br"]) {
    const r = await fetch(`${base}${p}`);
    assert(r.status === 404 && !(r.headers.get("cache-control") ?? "").includes("immutable"), `${p}: ${r.status}`);
  }
  await shot(owner, "signin");
});

await check("a wrong password is refused with the server's message", async () => {
  await signIn(owner, env.OWNER, "not the password at all");
  await owner.getByRole("alert").filter({ hasText: "wrong email or password" }).waitFor({ timeout: 5000 });
});

await check("signing in by keyboard; the first sign-in sets the owner's password", async () => {
  await owner.goto(`${base}/`);
  await owner.getByLabel("Email").focus();
  await owner.keyboard.type(env.OWNER);
  await owner.keyboard.press("Tab");
  await owner.keyboard.type(env.OWNER_OTP);
  await owner.keyboard.press("Enter");
  await owner.getByRole("heading", { name: "Set your password" }).waitFor({ timeout: 10000 });
  await shot(owner, "first-run");
  await firstPassword(owner, env.OWNER_OTP, env.OWNER_PW);
});

await check("devices: both agents' devices listed, live, searchable", async () => {
  await owner.getByRole("cell", { name: "gw1", exact: true }).waitFor();
  await owner.getByRole("cell", { name: "gw2", exact: true }).waitFor();
  await shot(owner, "devices");
  // a change made elsewhere shows without a reload (the devices' events)
  execFileSync("curl", ["-s", "-o", "/dev/null", "-X", "PATCH", "-H", `Authorization: Bearer ${env.ALICE}`,
    "-H", "Content-Type: application/json", "--data", '{"enabled":false}', `${base}/api/v1/devices/gw3`]);
  await owner.getByRole("row").filter({ hasText: "SN-gw3" }).locator(".badge").filter({ hasText: "disabled" }).waitFor();
  execFileSync("curl", ["-s", "-o", "/dev/null", "-X", "PATCH", "-H", `Authorization: Bearer ${env.ALICE}`,
    "-H", "Content-Type: application/json", "--data", '{"enabled":true}', `${base}/api/v1/devices/gw3`]);
  await owner.getByRole("row").filter({ hasText: "SN-gw3" }).locator(".badge").filter({ hasText: /^(never seen|offline)$/ }).waitFor();
  // what the device's agent said of itself
  const gw1 = owner.getByRole("row").filter({ hasText: "SN-gw1" });
  await gw1.getByRole("cell", { name: "va tc", exact: true }).waitFor({ timeout: 15000 });
  await gw1.locator(".badge").filter({ hasText: "online" }).waitFor();
  const agent = await gw1.getByRole("cell").nth(6).textContent();
  assert(/^\d+\.\d+\.\d+/.test(agent ?? ""), `agent version: ${agent}`);
  await owner.getByLabel("Search devices").fill("gw2");
  await owner.getByRole("cell", { name: "gw1", exact: true }).waitFor({ state: "detached" });
  await owner.getByLabel("Search devices").fill("");
});

await check("devices: each report's last seen and state applied live (the stream's `seen` events)", async () => {
  // the list came once (the page is open since before); what moves with each
  // report comes alone, and the row keeps everything else
  const gw1 = owner.getByRole("row").filter({ hasText: "SN-gw1" });
  const seen = gw1.getByRole("cell").nth(4);
  const times = [await seen.getAttribute("title")];
  for (let i = 0; i < 2; i++) {
    const t0 = Date.now();
    while ((await seen.getAttribute("title")) === times.at(-1)) {
      assert(Date.now() - t0 < 8000, `gw1's last seen stayed ${times.at(-1)} for 8 s (reports every 2 s)`);
      await owner.waitForTimeout(100);
    }
    times.push(await seen.getAttribute("title"));
  }
  assert(times[0] < times[1] && times[1] < times[2], `last seen: ${times.join(", ")}`);
  await gw1.locator(".badge").filter({ hasText: "online" }).waitFor();
  await gw1.getByRole("cell", { name: "va tc", exact: true }).waitFor();
  const api = await (await fetch(`${base}/api/v1/devices/gw1`, { headers: { Authorization: `Bearer ${env.ALICE}` } })).json();
  assert(api.agent && (await gw1.getByRole("cell").nth(6).textContent()) === api.agent.replace(/^edgecap-agent /, ""),
    `agent cell: ${await gw1.getByRole("cell").nth(6).textContent()}`);
  return times.join(", ");
});

await check("claim a device by serial and code: a wrong code is refused in words, the right one adds it", async () => {
  await owner.getByRole("button", { name: "Add a device" }).click();
  const form = owner.getByRole("form", { name: "Claim a device" });
  await form.getByLabel("Serial", { exact: true }).fill(env.CLAIM_SERIAL);
  await form.getByLabel("Claim code").fill("0000-0000-0000-0000");
  await form.getByRole("button", { name: "Claim" }).click();
  await form.getByRole("alert").filter({ hasText: `no device waits to be claimed with serial '${env.CLAIM_SERIAL}'` }).waitFor({ timeout: 5000 });
  await form.getByLabel("Claim code").fill(env.CLAIM_CODE.toLowerCase());
  await form.getByLabel("Name (optional)").fill("ap1");
  await shot(owner, "claim");
  await form.getByRole("button", { name: "Claim" }).click();
  await owner.getByRole("heading", { name: "Claimed ap1" }).waitFor({ timeout: 5000 });
  await owner.getByRole("button", { name: "Done" }).click();
  await owner.getByRole("row").filter({ hasText: env.CLAIM_SERIAL }).getByRole("cell", { name: "ap1", exact: true }).waitFor();
});

await check("enrol a device by its address: its secret shown once with the steps that remain; it joins the list", async () => {
  await owner.getByRole("button", { name: "Add a device" }).click();
  const form = owner.getByRole("form", { name: "Enrol a device by its address" });
  await form.getByLabel("Name", { exact: true }).fill("gw9");
  await form.getByLabel("Serial", { exact: true }).fill("SN-gw9");
  await form.getByLabel("Address", { exact: true }).fill("http://10.98.0.1:9999");
  await form.getByRole("button", { name: "Enrol", exact: true }).click();
  const secret = (await owner.locator(".secret-value").textContent()).trim();
  assert(/^[0-9a-f]{32,}$/.test(secret), `secret: ${secret}`);
  await owner.getByText("/etc/edgecap/secret").waitFor();
  await shot(owner, "enrol");
  await owner.getByRole("button", { name: "Done" }).click();
  await owner.getByRole("cell", { name: "gw9", exact: true }).waitFor();
  assert((await owner.locator(".secret-value").count()) === 0, "the secret is still shown");
});

await check("repeated failures are throttled with a clear message", async () => {
  const p = await newPage();
  for (let i = 0; i < 5; i++) {
    await signIn(p, env.THROTTLED, `wrong-${i}`);
    await p.getByRole("alert").filter({ hasText: "wrong email or password" }).waitFor({ timeout: 5000 });
  }
  await signIn(p, env.THROTTLED, "wrong-again");
  const a = p.getByRole("alert").filter({ hasText: /too many failed sign-ins for this account; try again in \d+ s/ });
  await a.waitFor({ timeout: 5000 });
  return await a.textContent();
});

await check("new capture: libpcap's message for a bad filter, the instruction count for a good one", async () => {
  await owner.goto(`${base}/captures/new`);
  await owner.getByLabel("Filter (tcpdump expression)").fill("tcp port");
  await owner.locator("#filter-status").filter({ hasText: /syntax error/ }).waitFor({ timeout: 5000 });
  const bad = await owner.locator("#filter-status").textContent();
  await owner.getByLabel("Filter (tcpdump expression)").fill("icmp or udp port 53");
  await owner.locator("#filter-status").filter({ hasText: /^\d+ BPF instructions/ }).waitFor({ timeout: 5000 });
  await owner.getByRole("button", { name: /Show the program/ }).click();
  const listing = await owner.locator("pre.listing").textContent();
  assert(/\(000\) ldh\s+\[12\]/.test(listing), `listing: ${listing.slice(0, 60)}`);
  // interfaces "any": checked as the server compiles it, for LINUX_SLL2
  await owner.getByLabel("Interfaces").fill("any");
  await owner.getByLabel("Filter (tcpdump expression)").fill("ether host 1:2:3:4:5:6");
  await owner.locator("#filter-status").filter({ hasText: /ethernet addresses supported only/ }).waitFor({ timeout: 5000 });
  await owner.getByLabel("Interfaces").fill("");
  await owner.getByLabel("Filter (tcpdump expression)").fill("icmp or udp port 53");
  await owner.locator("#filter-status").filter({ hasText: /^\d+ BPF instructions/ }).waitFor({ timeout: 5000 });
  return bad.trim();
});

await check("start a capture on two devices", async () => {
  await owner.getByLabel("gw1").check();
  await owner.getByLabel("gw2").check();
  await owner.getByLabel("Duration (s)").fill("120");
  await owner.getByLabel("Reason (kept in the audit log)").fill("browser test: ICMP between the gateways");
  await shot(owner, "new-capture");
  await owner.getByRole("button", { name: "Start capture" }).click();
  await owner.waitForURL(/\/captures\/\d+$/, { timeout: 10000 });
  captureId = owner.url().split("/").pop();
  for (const d of ["gw1", "gw2"])
    await owner.locator(`tr[data-device="${d}"] .badge`).filter({ hasText: "streaming" }).waitFor({ timeout: 15000 });
  return `capture ${captureId}`;
});

await check("packets appear on the page within 2 s of being sent", async () => {
  const t0 = Date.now();
  inA("ping", "-c", "10", "-i", "0.2", "-q", "10.98.0.2");
  const sent = Date.now(); // the last request went out at about sent - 200 ms
  // 10 requests and 10 replies, each seen by both gateways, merged once
  await owner.locator('[data-field="rows"]').filter({ hasText: /^20 packets/ }).waitFor({ timeout: 10000 });
  const late = Date.now() - sent;
  assert(late < 2000, `the last row came ${late} ms after the last packet`);
  return `last row ${late} ms after the last ping, ${Date.now() - t0} ms in all`;
});

await check("a DNS name carrying markup shows as text and runs nothing", async () => {
  const evil = "<img src=x onerror=alert(1)>";
  inA("python3", "-c", `import socket, struct
name = ${JSON.stringify(evil)}.encode()
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + bytes([len(name)]) + name + b"\\x03lab\\x00" + struct.pack(">HH", 1, 1)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(q, ("10.98.0.2", 53))`);
  const row = owner.locator(".prow .c-line").filter({ hasText: evil });
  await row.first().waitFor({ timeout: 10000 });
  const imgs = await owner.locator(".plist img").count();
  assert(imgs === 0, `${imgs} img elements in the list`);
  assert(!owner.__dialogs, "a dialog opened");
  return (await row.first().textContent()).slice(0, 70);
});

await check("search within the packets narrows the list", async () => {
  await owner.getByLabel("Search packets").fill("echo reply");
  await owner.locator('[data-field="rows"]').filter({ hasText: /^10 of \d+ packets/ }).waitFor({ timeout: 5000 });
  await owner.locator(".pspace .prow").first().click();
  await owner.locator(".detail pre.lines").filter({ hasText: "ICMP echo reply" }).waitFor();
  await shot(owner, "capture-live");
  await owner.getByLabel("Search packets").fill("");
  // the whole list again before the next check walks it
  await owner.locator('[data-field="rows"]').filter({ hasText: /^\d+ packets/ }).waitFor({ timeout: 5000 });
});

await check("the packet list by keyboard: arrows select, End follows", async () => {
  await owner.locator(".pbody").focus();
  await owner.keyboard.press("Home");
  await owner.locator(".detail h2").filter({ hasText: /^Packet 1$/ }).waitFor();
  await owner.keyboard.press("ArrowDown");
  await owner.keyboard.press("ArrowDown");
  await owner.locator(".detail h2").filter({ hasText: /^Packet 3$/ }).waitFor();
  assert(!(await owner.getByLabel("Follow", { exact: true }).isChecked()), "still following after moving up the list");
  await owner.keyboard.press("End");
  assert(await owner.getByLabel("Follow", { exact: true }).isChecked(), "End did not follow again");
});

await check("packet detail: Wireshark's tree shows the IP layer and marks its bytes", async () => {
  await owner.locator(".pspace .prow").filter({ hasText: "ICMP echo request" }).first().click();
  const ip = owner.locator(".tree summary .tnode").filter({ hasText: /^Internet Protocol Version 4, Src: 10\.98\.0\.1, Dst: 10\.98\.0\.2$/ });
  await ip.waitFor();
  await ip.click();
  const on = await owner.locator(".hex .hx span.on").count();
  assert(on === 20, `${on} bytes marked for the IPv4 header`);
  await owner.locator(".tree summary").filter({ hasText: "Internet Control Message Protocol" }).click();
  await owner.locator(".tree .tnode").filter({ hasText: "Type: 8 (Echo (ping) request)" }).waitFor();
  await shot(owner, "packet-detail");
});

await check("a display filter narrows the list, checked by Wireshark's engine", async () => {
  const box = owner.getByLabel("Display filter (Wireshark)");
  await box.fill("icmp.type ==");
  await owner.locator("#df-status").filter({ hasText: /^filter: Filter invalid/ }).waitFor();
  await box.fill("icmp.type == 0");
  await owner.locator('[data-field="rows"]').filter({ hasText: /^10 of \d+ packets/ }).waitFor();
  const lines = await owner.locator(".pspace .prow .c-line").allTextContents();
  assert(lines.length === 10 && lines.every((l) => l.includes("ICMP echo reply")), lines.join(" | ").slice(0, 200));
  await box.fill("");
  await owner.locator('[data-field="rows"]').filter({ hasText: /^\d+ packets/ }).waitFor();
});

await check("per-device counters match the traffic and the API", async () => {
  const api = await owner.evaluate(async (id) => (await fetch(`/api/v1/captures/${id}`)).json(), captureId);
  for (const d of api.devices) {
    const shown = await owner.locator(`tr[data-device="${d.device}"] [data-field="packets"]`).textContent();
    assert(Number(shown.replace(/,/g, "")) === d.packets, `${d.device}: page ${shown}, API ${d.packets}`);
    assert(d.packets >= 20, `${d.device}: ${d.packets} packets for 20 sent through it`);
  }
  return api.devices.map((d) => `${d.device} ${d.packets}`).join(", ");
});

await check("stop: the capture ends and the page says so", async () => {
  await owner.getByRole("button", { name: "Stop" }).click();
  await owner.locator("#cap-title .badge").filter({ hasText: "done" }).waitFor({ timeout: 15000 });
  await owner.locator('[data-field="rows"]').filter({ hasText: /complete/ }).waitFor({ timeout: 15000 });
  rowsShown = Number((await owner.locator('[data-field="rows"]').textContent()).replace(/,/g, "").match(/^(\d+)/)[1]);
  await shot(owner, "capture-done");
  return `${rowsShown} rows`;
});

await check("download: tshark reads as many packets as the list shows", async () => {
  const [dl] = await Promise.all([owner.waitForEvent("download"), owner.getByRole("link", { name: "Download pcapng" }).click()]);
  const file = `${shots}/../capture-${captureId}.pcapng`;
  await dl.saveAs(file);
  const n = execFileSync("tshark", ["-r", file, "-T", "fields", "-e", "frame.number"]).toString().trim().split("\n").length;
  assert(n === rowsShown, `tshark ${n}, page ${rowsShown}`);
  return `${n} packets`;
});

await check("history lists the capture with its devices, filters it by time; run again fills the form", async () => {
  await owner.getByRole("link", { name: "Captures", exact: true }).click();
  await owner.getByRole("link", { name: captureId, exact: true }).waitFor();
  await owner.getByLabel("Until").fill("2020-01-01T00:00");
  await owner.getByText("No captures match.").waitFor();
  await owner.getByLabel("Until").fill("");
  await owner.getByRole("link", { name: captureId, exact: true }).waitFor();
  await shot(owner, "history");
  await owner.getByRole("row").filter({ has: owner.getByRole("link", { name: captureId, exact: true }) })
    .getByRole("link", { name: "Run again" }).click();
  await owner.waitForFunction(() => document.querySelector("input[name=expression]")?.value === "icmp or udp port 53" &&
    document.querySelector("input[aria-label^=gw1], label.check input")?.checked !== undefined);
  const picked = await owner.locator(".picker input:checked").count();
  assert(picked === 2, `${picked} devices picked again`);
});

await check("owners: users, audit log (with the capture's reason), account and tokens", async () => {
  await owner.goto(`${base}/users`);
  await owner.getByRole("row").filter({ hasText: env.VIEWER }).first().waitFor();
  await shot(owner, "users");
  await owner.goto(`${base}/audit`);
  await owner.getByRole("cell", { name: "capture_started" }).first().waitFor();
  await owner.locator("td").filter({ hasText: "browser test: ICMP between the gateways" }).first().waitFor();
  await shot(owner, "audit");
  await owner.goto(`${base}/account`);
  await owner.getByLabel("Token name").fill("laptop");
  await owner.getByRole("button", { name: "Create token" }).click();
  const token = (await owner.locator(".secret-value").textContent()).trim();
  const st = execFileSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", `Authorization: Bearer ${token}`, `${base}/api/v1/devices`]).toString();
  assert(st === "200", `the new token gets ${st}`);
  await shot(owner, "account");
});

await check("owners set the tunnel's settings for every device, and one device's own over them", async () => {
  const api = (path, body) => JSON.parse(execFileSync("curl", ["-s", "-H", `Authorization: Bearer ${env.ALICE}`,
    ...(body ? ["-X", "PATCH", "-H", "Content-Type: application/json", "--data", JSON.stringify(body)] : []), `${base}${path}`]).toString());
  try {
    await owner.goto(`${base}/users`);
    const org = owner.getByRole("form", { name: "Tunnel settings" });
    await org.getByLabel("Wait before HTTP (ms)").fill("120000");
    await org.getByRole("button", { name: "Save" }).click();
    for (let i = 0; i < 50 && api("/api/v1/organization").settings.udp_wait_ms !== 120000; i++) await owner.waitForTimeout(100);
    assert(api("/api/v1/organization").settings.udp_wait_ms === 120000, `organization: ${JSON.stringify(api("/api/v1/organization"))}`);
    await owner.goto(`${base}/devices`);
    await owner.getByRole("row").filter({ has: owner.getByRole("cell", { name: "gw1", exact: true }) })
      .getByRole("button", { name: "Settings" }).click();
    const dev = owner.getByRole("form", { name: "Tunnel settings of gw1" });
    const wait = dev.getByLabel("Wait before HTTP (ms)");
    assert((await wait.getAttribute("placeholder")) === "organization: 120000", `placeholder ${await wait.getAttribute("placeholder")}`);
    await dev.getByLabel("Poll hold (ms)").fill("5000");
    await dev.getByRole("button", { name: "Save" }).click();
    // the list follows the change live: "to run by" shows both
    const runBy = (label) => dev.getByRole("row").filter({ hasText: label }).getByRole("cell").nth(1);
    await runBy("Poll hold").filter({ hasText: /^5000$/ }).waitFor({ timeout: 10000 });
    await runBy("Wait before HTTP").filter({ hasText: /^120000$/ }).waitFor();
    const s = api("/api/v1/devices/gw1").settings;
    assert(JSON.stringify(s.own) === '{"hold_ms":5000}' && s.wanted.udp_wait_ms === 120000 && s.wanted.hold_ms === 5000,
      `gw1: ${JSON.stringify(s)}`);
    // a direct device has no tunnel: the page says it has not said what it runs by
    assert(/has not said/.test(await dev.locator('[data-field="settings-state"]').textContent()), "state line");
    await shot(owner, "device-settings");
    return `organization udp_wait_ms 120000, gw1 hold_ms 5000 over it`;
  } finally {
    api("/api/v1/devices/gw1", { settings: { hold_ms: null } });
    api("/api/v1/organization", { settings: { udp_wait_ms: null } });
  }
});

// The numbers of the packets the list holds, row by row, scrolled through
// as a person would (the list draws only the rows in view).
async function listedNumbers(page) {
  return page.evaluate(async () => {
    const box = document.querySelector(".pbody");
    const byRow = new Map();
    for (let y = 0; ; y += Math.max(1, box.clientHeight - 40)) {
      box.scrollTop = y;
      await new Promise((r) => setTimeout(r, 80));
      for (const r of box.querySelectorAll(".pspace .prow"))
        byRow.set(Number(r.getAttribute("aria-rowindex")), Number(r.querySelector(".c-n").textContent));
      if (y >= box.scrollHeight) break;
    }
    return [...byRow.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  });
}

await check("the live capture resumes after its connection drops, without losing or repeating a row", async () => {
  // a capture of its own, followed by the owner's page
  const started = JSON.parse(execFileSync("curl", ["-s", "-H", `Authorization: Bearer ${env.ALICE}`, "-H", "Content-Type: application/json",
    "--data", JSON.stringify({ devices: ["gw1", "gw2"], expression: "icmp", duration: 120, reason: "browser test: a dropped connection" }),
    `${base}/api/v1/captures`]).toString());
  const api = () => JSON.parse(execFileSync("curl", ["-s", "-H", `Authorization: Bearer ${env.ALICE}`, `${base}/api/v1/captures/${started.id}`]).toString());
  await owner.goto(`${base}/captures/${started.id}`);
  for (const d of ["gw1", "gw2"])
    await owner.locator(`tr[data-device="${d}"] .badge`).filter({ hasText: "streaming" }).waitFor({ timeout: 15000 });
  const rows = owner.locator('[data-field="rows"]');
  inA("ping", "-c", "5", "-i", "0.2", "-q", "10.98.0.2");
  await rows.filter({ hasText: /^10 packets · live$/ }).waitFor({ timeout: 10000 });
  // the server's port refuses connections and those open are cut (the page
  // and the server share this namespace's loopback): the page's streams drop
  const nft = (...a) => execFileSync("nft", a);
  let during;
  nft("add", "table", "inet", "ui_drop");
  try {
    nft("add", "chain", "inet", "ui_drop", "in", "{ type filter hook input priority 0; }");
    nft("add", "rule", "inet", "ui_drop", "in", "tcp", "dport", "8000", "reject", "with", "tcp", "reset");
    execFileSync("ss", ["-K", "-t", "( dport = :8000 or sport = :8000 )"]);
    await rows.filter({ hasText: /reconnecting/ }).waitFor({ timeout: 10000 });
    // packets while the page is away
    inA("ping", "-c", "5", "-i", "0.2", "-q", "10.98.0.2");
    await owner.waitForTimeout(1000);
    during = await rows.textContent();
  } finally {
    nft("delete", "table", "inet", "ui_drop");
  }
  assert(/^10 packets/.test(during), `while away the list showed ${during}`);
  await rows.filter({ hasText: /^20 packets · live$/ }).waitFor({ timeout: 15000 });
  inA("ping", "-c", "3", "-i", "0.2", "-q", "10.98.0.2");
  await rows.filter({ hasText: /^26 packets · live$/ }).waitFor({ timeout: 10000 });
  // the registry's counts follow the stream by up to a second
  let merged = api().merged;
  for (let i = 0; i < 50 && merged !== 26; i++) {
    await owner.waitForTimeout(200);
    merged = api().merged;
  }
  const listed = await listedNumbers(owner);
  const want = Array.from({ length: merged }, (_, i) => i + 1);
  assert(merged === 26 && JSON.stringify(listed) === JSON.stringify(want), `merged ${merged}, listed ${listed.join(",")}`);
  execFileSync("curl", ["-s", "-o", "/dev/null", "-X", "POST", "-H", `Authorization: Bearer ${env.ALICE}`, `${base}/api/v1/captures/${started.id}/stop`]);
  await rows.filter({ hasText: /^26 packets · complete$/ }).waitFor({ timeout: 15000 });
  return `rows 1-${listed.length} once each, ${merged} merged`;
});

await check("a viewer sees no start or stop, and the API refuses it", async () => {
  const v = await newPage();
  await signIn(v, env.VIEWER, env.VIEWER_OTP);
  await firstPassword(v, env.VIEWER_OTP, env.VIEWER_PW);
  assert((await v.getByRole("link", { name: "New capture" }).count()) === 0, "New capture shown");
  await v.goto(`${base}/captures/${captureId}`);
  await v.locator("#cap-title").waitFor();
  await v.locator('[data-field="merged"]').waitFor();
  assert((await v.getByRole("button", { name: "Stop" }).count()) === 0, "Stop shown");
  assert((await v.getByRole("link", { name: "Download pcapng" }).count()) === 0, "Download shown (viewer downloads are off)");
  const r = await v.evaluate(async () => {
    const s = await (await fetch("/api/v1/session")).json();
    const res = await fetch("/api/v1/captures", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf },
      body: JSON.stringify({ devices: ["gw1"], reason: "x" }) });
    return [res.status, (await res.json()).error];
  });
  assert(r[0] === 403 && r[1] === "your role (viewer) may not start captures", `${r}`);
  return `${r[0]} ${r[1]}`;
});

await check("another organization's capture is not found", async () => {
  const g = await newPage();
  await signIn(g, env.OTHER, env.OTHER_OTP);
  await firstPassword(g, env.OTHER_OTP, env.OTHER_PW);
  assert((await g.getByRole("cell", { name: "gw1", exact: true }).count()) === 0, "acme's gw1 listed to globex");
  await g.goto(`${base}/captures/${captureId}`);
  await g.getByRole("alert").filter({ hasText: `no capture ${captureId}` }).waitFor();
  assert((await g.getByRole("link", { name: "Download pcapng" }).count()) === 0, "a download link for it");
  const st = await g.evaluate(async (id) => (await fetch(`/api/v1/captures/${id}/pcap`)).status, captureId);
  assert(st === 404, `pcap: ${st}`);
});

await check("a 390-pixel phone screen: no page-wide horizontal scroll", async () => {
  const ph = await newPage({ width: 390, height: 844 });
  await signIn(ph, env.OWNER, env.OWNER_PW);
  await ph.getByRole("heading", { name: "Devices" }).waitFor();
  const wide = await ph.evaluate(() => document.documentElement.scrollWidth);
  await shot(ph, "phone-devices");
  await ph.goto(`${base}/captures/${captureId}`);
  await ph.locator('[data-field="merged"]').waitFor();
  const wide2 = await ph.evaluate(() => document.documentElement.scrollWidth);
  await shot(ph, "phone-capture");
  assert(wide <= 390 && wide2 <= 390, `page widths ${wide}, ${wide2}`);
});

await check("no script errors on any page", async () => {
  const errs = [];
  for (const c of contexts) for (const p of c.pages()) errs.push(...(p.__errors ?? []));
  assert(!errs.length, errs.join("; "));
});

await browser.close();
process.exit(failed ? 1 : 0);
