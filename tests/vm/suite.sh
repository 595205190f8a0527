#!/usr/bin/env bash
# suite.sh BUILD SUITE... - runs meson test suites of BUILD inside the
# Linux 6.1 VM (vmtest/run), the same binaries as on the host; exits with
# their status. With $VMTEST_LOGS set, the guest's meson-logs are copied
# there (tools/lab test --vm counts them).
set -uo pipefail
build=$(realpath "$1"); shift
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
suites=() out=() keep=:
for s in "$@"; do suites+=(--suite "$s"); done
if [ -n "${VMTEST_LOGS:-}" ]; then
	out=(--out "$VMTEST_LOGS") keep="cp -r '$build/meson-logs' '$VMTEST_LOGS/'"
fi
# the tests' timeouts are the host's: emulation is about ten times slower
exec "$top/vmtest/run" --mem 4G "${out[@]}" -- \
	"meson test -C '$build' --no-rebuild --print-errorlogs -t 10 ${suites[*]} | cat # no tty: no spinner
	st=\${PIPESTATUS[0]}
	$keep; exit \$st"
