#!/usr/bin/env bash
# bench_ui.sh SERVER AGENT EDGECAP WEBROOT WEBDIR - the web page under load:
# a real edgecap-server serving the built page, agents gw1 and gw2 at the
# two ends of a veth pair (tests/netns/server_env.sh), UDP sent from one end
# to the other at a fixed rate (both gateways see each packet: the server
# merges two streams and keeps each packet once), and Debian's Chromium
# following the capture (bench_ui.mjs):
#   latency       from a packet's capture time to its row drawn on the page,
#                 p50 and p99, at 100 and 5,000 packets/s (the list draws at
#                 most once a frame, so at 5,000/s it draws the newest rows of
#                 each frame and skips the rest; the count shown stays exact)
#   counters      the page's packet count, the API's merged count and each
#                 device's, against what was sent
#   server CPU    per packet, with no reader and with the page following
#   first load    the bytes of the page's first load, compressed
# Targets (issue): p99 under 1 s at 5,000/s with exact counters; first load
# under 200 KB compressed. Environment: SECONDS_RUN (default 6).
set -uo pipefail
server=$1
agent=$2
ec=$3
web_root=$(realpath "$4")
web_dir=$(realpath "$5")
suite=bui
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../netns/lib.sh"
. "$here/../netns/server_env.sh"
. "$here/record.sh"

otp=$(adduser bench@acme.test owner)
export HOME=$tmp/home BASE=http://127.0.0.1:8000 WEB_DIR=$web_dir NS_A=$A SERVER_PID=$server_pid
export TOKEN=$alice EMAIL=bench@acme.test OTP=$otp SECONDS_RUN=${SECONDS_RUN:-6}
export WEB_ROOT=$web_root
mkdir -p "$HOME"
inb node "$here/bench_ui.mjs"
st=$?
env_stop
exit $st
