#!/usr/bin/env bash
# suite.sh BUILD SUITE... - runs meson test suites of BUILD inside the
# Linux 6.1 VM (vmtest/run), the same binaries as on the host; exits with
# their status. The guest's meson-logs go to $VMTEST_LOGS when it is set
# (tools/lab test --vm counts them), else to a directory removed at exit.
set -uo pipefail
build=$(realpath "$1"); shift
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
logs=${VMTEST_LOGS:-}
if [ -z "$logs" ]; then
	logs=$(mktemp -d)
	trap 'rm -rf "$logs"' EXIT
fi
suites=()
for s in "$@"; do suites+=(--suite "$s"); done
# the tests' timeouts are the host's: emulation is about ten times slower
"$top/vmtest/run" --mem 4G --out "$logs" -- \
	"meson test -C '$build' --no-rebuild --print-errorlogs -t 10 ${suites[*]} | cat # no tty: no spinner
	st=\${PIPESTATUS[0]}
	cp -r '$build/meson-logs' '$logs/'; exit \$st"
st=$?
# one line per test run in the guest, for the host's log
[ -f "$logs/meson-logs/testlog.json" ] && python3 -c '
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    print(f"6.1 VM: {t[\"name\"]} {t[\"result\"]} {t[\"duration\"]:.0f} s")' "$logs/meson-logs/testlog.json"
exit $st
