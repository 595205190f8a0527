// build.mjs - the page's build: esbuild bundles src/ into dist/assets with
// content hashes in the names, writes dist/index.html that names them, and
// stores a brotli and a gzip copy of each text file next to it for the
// server to send when the browser takes that encoding.
//   node build.mjs OUTDIR            the page
//   node build.mjs --tests OUTDIR    test/*.test.ts, bundled for node --test
import * as esbuild from "esbuild";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const tests = args[0] === "--tests";
const out = tests ? args[1] : args[0];
if (!out) {
  console.error("usage: node build.mjs [--tests] OUTDIR");
  process.exit(2);
}

if (tests) {
  const entries = readdirSync(join(here, "test")).filter((f) => f.endsWith(".test.ts")).map((f) => join(here, "test", f));
  rmSync(out, { recursive: true, force: true });
  await esbuild.build({ entryPoints: entries, outdir: out, bundle: true, platform: "node", format: "esm",
    outExtension: { ".js": ".mjs" }, logLevel: "warning" });
  process.exit(0);
}

const assets = join(out, "assets");
rmSync(assets, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });
const r = await esbuild.build({
  entryPoints: { app: join(here, "src/main.tsx"), style: join(here, "src/style.css") },
  outdir: assets,
  entryNames: "[name]-[hash]",
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});
const names = Object.keys(r.metafile.outputs).map((p) => basename(p));
const js = names.find((n) => n.startsWith("app-") && n.endsWith(".js"));
const css = names.find((n) => n.startsWith("style-") && n.endsWith(".css"));
const html = readFileSync(join(here, "src/index.html"), "utf8").replace("%JS%", js).replace("%CSS%", css);
writeFileSync(join(out, "index.html"), html);

let total = 0;
for (const f of [...readdirSync(assets).map((n) => join(assets, n)), join(out, "index.html")]) {
  const body = readFileSync(f);
  const br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  writeFileSync(`${f}.br`, br);
  writeFileSync(`${f}.gz`, gzipSync(body, { level: 9 }));
  total += br.length;
}
console.log(`web: ${js}, ${css}: ${total} bytes brotli in all`);
