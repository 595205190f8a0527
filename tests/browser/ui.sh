#!/usr/bin/env bash
# ui.sh SERVER AGENT EDGECAP WEBROOT WEBDIR SHOTS - the web page in a real
# browser: a real edgecap-server serving the built page (WEBROOT) with a real
# SQLite registry, agents gw1 and gw2 on the two ends of a veth pair
# (server_env.sh), users of two organizations made by the bootstrap command,
# and ui.mjs driving Debian's Chromium through playwright-core (from WEBDIR's
# node_modules) inside the server's namespace. Screenshots go to SHOTS.
set -uo pipefail
server=$1
agent=$2
ec=$3
web_root=$(realpath "$4")
web_dir=$(realpath "$5")
shots=$(realpath -m "$6")
suite=ui
here=$(cd "$(dirname "$0")" && pwd)
[ -x /usr/bin/chromium ] || { echo "FAIL no /usr/bin/chromium (tools/lab deps installs it)"; exit 1; }
[ -d "$web_dir/node_modules/playwright-core" ] || { echo "FAIL no playwright-core in $web_dir (tools/lab deps)"; exit 1; }
[ -f "$web_root/index.html" ] || { echo "FAIL no built page in $web_root"; exit 1; }
. "$here/../netns/lib.sh"
. "$here/../netns/server_env.sh"

# the devices report every 2 s (not each minute): the devices page sees
# their last seen move while it is open; and the server has its tunnel, for
# a device that waits to be claimed
kill -TERM "$server_pid" && wait_gone "$server_pid" 10
server_start --report-interval 2 --tunnel-udp 127.0.0.1:4789 ||
	{ echo "FAIL server did not start again: $(tail -3 "$tmp/server.log")"; exit 1; }

export OWNER=carol@acme.test VIEWER=vera@acme.test OTHER=gus@globex.test THROTTLED=dave@acme.test
export OWNER_OTP VIEWER_OTP OTHER_OTP
OWNER_OTP=$(adduser $OWNER owner) && VIEWER_OTP=$(adduser $VIEWER viewer) &&
	OTHER_OTP=$(adduser $OTHER owner globex) && adduser $THROTTLED operator > /dev/null ||
	{ echo "FAIL bootstrap users"; exit 1; }
export OWNER_PW=owner-password-1 VIEWER_PW=viewer-password-1 OTHER_PW=globex-password-1
export BASE=http://127.0.0.1:8000 WEB_DIR=$web_dir SHOTS=$shots NS_A=$A ALICE=$alice
rm -rf "$shots"

# A gateway waiting to be claimed: a device (mtun.py) that announced itself;
# the page claims it by serial and code
"$agent" keygen "$tmp/ap1.key" > /dev/null &&
	inb "$here/../netns/mtun.py" announce http://127.0.0.1:8000 SN-ap1 "$tmp/ap1.key" ||
	{ echo "FAIL a device announcing itself"; exit 1; }
export CLAIM_SERIAL=SN-ap1 CLAIM_CODE
CLAIM_CODE=$("$here/../netns/mtun.py" code "$tmp/ap1.key")

# Chromium wants a writable home; the namespace B has the server at 127.0.0.1:8000
export HOME=$tmp/home
mkdir -p "$HOME"
inb node "$here/ui.mjs" | tee "$tmp/ui.out"
st=${PIPESTATUS[0]}
pass=$(grep -c '^PASS' "$tmp/ui.out")
fail=$(grep -c '^FAIL' "$tmp/ui.out")
[ "$st" = 0 ] || [ "$fail" -gt 0 ] || { echo "FAIL ui.mjs ended with status $st"; fail=$((fail + 1)); }
env_stop || fail=$((fail + 1))
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
