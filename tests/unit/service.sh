#!/usr/bin/env bash
# service.sh BUILD - the systemd units, as `meson install` puts them with the
# programs, pass systemd-analyze verify against that installed tree: the
# ExecStart paths exist there, every setting is known. Installed into a
# temporary root (with the host's own units, which the check resolves
# dependencies against), never into the system.
set -uo pipefail
command -v systemd-analyze > /dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$1" --destdir "$root" --no-rebuild --quiet > "$root.log" 2>&1 ||
	{ echo "FAIL meson install: $(cat "$root.log")"; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
mkdir -p "$root/usr/lib/systemd" && cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
st=0
for unit in edgecap-agent edgecap-server; do
	f=$(find "$root" -path "*/lib/systemd/system/$unit.service" ! -path "$root/usr/lib/systemd/*" | head -1)
	[ -n "$f" ] || { echo "FAIL $unit.service: not installed"; st=1; continue; }
	exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$f")
	if [ -x "$root$exe" ] && out=$(systemd-analyze verify --root="$root" "$f" 2>&1) && [ -z "$out" ]; then
		echo "PASS $unit.service verifies as installed (ExecStart=$exe)"
	else
		echo "FAIL $unit.service (ExecStart=$exe): ${out:-not installed there}"
		st=1
	fi
done
exit $st
