#!/usr/bin/env bash
# features.sh EDGECAP AGENT - the kernel feature check, on a kernel that has
# everything (the 6.1 VM) and on one without the clsact qdisc (the same VM,
# sch_ingress left out): the capture CLI and the agent refuse to run there
# with one line naming what is missing, exit status 2, nothing left behind.
set -uo pipefail
ec=$(realpath "$1") agent=$(realpath "$2")
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$tmp/secret"

# In the guest: both programs' status and first stderr line (past the
# CLI's "listening on"), then whether
# anything of ours is attached to lo or pinned.
guest="
$ec capture -i lo -c 1 -w /dev/null 2> /tmp/cli.err > /dev/null & pid=\$!
sleep 3; ping -c 3 -i 0.2 -q 127.0.0.1 > /dev/null; wait \$pid
echo \"cli \$? \$(grep -v '^edgecap: listening on' /tmp/cli.err | head -1)\" > $tmp/\$OUT
timeout 20 $agent -c /dev/null -i lo --listen 127.0.0.1:8080 --plain-http \
	--secret-file $tmp/secret 2> /tmp/agent.err & pid=\$!
for _ in \$(seq 100); do grep -q serving /tmp/agent.err && kill \$pid; sleep 0.1; done
wait \$pid; st=\$?
echo \"agent \$st \$(grep -v serving /tmp/agent.err | head -1)\" >> $tmp/\$OUT
grep -q serving /tmp/agent.err && echo 'agent served' >> $tmp/\$OUT
echo \"left \$(tc filter show dev lo ingress; tc filter show dev lo egress; ip -d link show lo | grep -c xdp; ls /sys/fs/bpf)\" >> $tmp/\$OUT
"
"$top/vmtest/run" --out "$tmp" -- "OUT=full; $guest" > "$tmp/full.log" 2>&1 ||
	ko "the 6.1 VM" "$(tail -5 "$tmp/full.log")"
"$top/vmtest/run" --out "$tmp" --without sch_ingress -- "OUT=noclsact; $guest" \
	> "$tmp/noclsact.log" 2>&1 || ko "the VM without sch_ingress" "$(tail -5 "$tmp/noclsact.log")"

f=$tmp/full
if grep -q '^cli 0 1 packets captured' "$f" 2> /dev/null; then
	ok "6.1: the capture CLI runs ($(sed -n 's/^cli 0 //p' "$f"))"
else
	ko "6.1: the capture CLI" "$(cat "$f" 2> /dev/null || tail -5 "$tmp/full.log")"
fi
grep -qx 'agent served' "$f" 2> /dev/null && ok "6.1: the agent serves" ||
	ko "6.1: the agent" "$(cat "$f" 2> /dev/null)"

n=$tmp/noclsact
want='kernel lacks the clsact qdisc (sch_ingress, Linux 4.5); running 6.1'
line=$(sed -n 's/^cli //p' "$n" 2> /dev/null)
[[ $line == "2 edgecap: $want"* ]] && ok "no clsact: the CLI refuses, exit 2: ${line#2 }" ||
	ko "no clsact: the CLI" "$line"
line=$(sed -n 's/^agent //p' "$n" 2> /dev/null)
[[ $line == "2 "*"$want"* ]] && ok "no clsact: the agent refuses, exit 2: ${line#2 }" ||
	ko "no clsact: the agent" "$line"
! grep -qx 'agent served' "$n" 2> /dev/null && [ "$(sed -n 's/^left //p' "$n")" = 0 ] &&
	ok "no clsact: nothing attached or pinned" || ko "no clsact: left behind" "$(cat "$n")"
[ "$(sed -n 's/^left //p' "$f" 2> /dev/null)" = 0 ] || ko "6.1: left behind" "$(cat "$f")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
