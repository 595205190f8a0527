#!/usr/bin/env bash
# service.sh UNIT AGENT - the systemd unit passes systemd-analyze verify, with
# its ExecStart pointed at the built agent.
set -uo pipefail
command -v systemd-analyze > /dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/sbin/edgecap-agent|$(realpath "$2")|" "$1" > "$tmp/edgecap-agent.service"
if out=$(systemd-analyze verify "$tmp/edgecap-agent.service" 2>&1) && [ -z "$out" ]; then
	echo "PASS edgecap-agent.service verifies"
else
	echo "FAIL edgecap-agent.service: $out"
	exit 1
fi
