#!/usr/bin/env bash
# cli_install.sh BUILD - the CLI as `meson install` lays it out: `edgecap`
# in bin/, the programs of its other commands in libexec/edgecap/, found
# from there (also in a tree installed with --destdir: the path is relative
# to bin/) with every command's --help as the build tree's; `edgecap`
# itself needs libc and xxhash only (the text path, docs/performance.md);
# without its helpers a command fails with one line and status 2 while
# `merge` still runs. Installed into a temporary root, never into the system.
set -uo pipefail
build=$(realpath "$1")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }

meson install -C "$build" --destdir "$root/inst" --no-rebuild --quiet > "$root/log" 2>&1 ||
	{ echo "FAIL meson install: $(cat "$root/log")"; exit 1; }
ec=$(find "$root/inst" -path '*/bin/edgecap' -type f | head -1)
[ -n "$ec" ] && ok "installed: ${ec#"$root/inst"}" || { ko "edgecap not installed"; exit 1; }
for h in edgecap-capture edgecap-remote; do
	f=$(find "$root/inst" -path "*/libexec/edgecap/$h" -type f | head -1)
	[ -n "$f" ] && [ -x "$f" ] && ok "installed: ${f#"$root/inst"}" || ko "$h not in libexec/edgecap"
	[ -e "$(dirname "$ec")/$h" ] && ko "$h also in bin/"
done

for c in filter capture hooks merge remote devices captures; do
	"$build/tools/edgecap" "$c" --help > "$root/want" 2>&1; w=$?
	"$ec" "$c" --help > "$root/got" 2>&1; g=$?
	if [ $w = 0 ] && [ $g = 0 ] && grep -q "^usage: edgecap $c" "$root/got" &&
		cmp -s "$root/want" "$root/got"; then
		ok "installed edgecap $c --help: as the build tree's, status 0"
	else
		ko "edgecap $c --help" "status $g (build tree $w): $(head -1 "$root/got")"
	fi
done

# what the dynamic linker loads for `edgecap` (merge, the text path)
needed=$(readelf -d "$ec" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
extra=$(echo "$needed" | tr ' ' '\n' | grep -v -e '^$' -e '^libc\.so' -e '^libxxhash\.so')
[ -z "$extra" ] && ok "edgecap needs only: $needed" || ko "edgecap needs more than libc and xxhash" "$extra"

# edgecap alone: its commands elsewhere fail clearly, merge runs
mkdir "$root/alone" && cp "$ec" "$root/alone/"
"$root/alone/edgecap" capture --help > "$root/out" 2> "$root/err"; st=$?
if [ $st = 2 ] && [ ! -s "$root/out" ] && [ "$(wc -l < "$root/err")" = 1 ] &&
	grep -q '^edgecap: capture: edgecap-capture not found in ' "$root/err"; then
	ok "no helper: status 2, $(cat "$root/err")"
else
	ko "no helper" "status $st: $(head -2 "$root/err")"
fi
"$root/alone/edgecap" merge --help > /dev/null 2>&1 && ok "no helper: merge still runs" ||
	ko "no helper: merge --help failed"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
