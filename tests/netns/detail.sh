#!/usr/bin/env bash
# detail.sh SERVER AGENT EDGECAP - a capture seen through Wireshark's engine
# (sharkd, docs/web.md "Packet detail"): display filters against the
# packets' own numbers, a packet's protocol tree and bytes, Wireshark's
# message for a bad filter, a capture that grows while it is looked at, the
# confinement of the sharkd processes (bwrap's sandbox: namespaces of its
# own, no network, none of the server's files visible; a user of its own
# under a root server), their bound and idle stop (every process of the
# sandbox gone), and who may look (server_env.sh: SQLite registry, agents gw1
# and gw2, organizations acme and globex); then all of it again from a server
# running as an unprivileged user, and one where user namespaces are refused.
set -uo pipefail
server=$1
agent=$2
ec=$3
suite=detail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/server_env.sh"

# the server again with one packet view at most, stopped after 4 idle seconds
printf 'sharkd_max = 1\nsharkd_idle = 5\n' > "$tmp/server.conf"
kill -TERM "$server_pid" && wait_gone "$server_pid" 10
server_start -c "$tmp/server.conf" || { echo "FAIL server did not start again"; exit 1; }

sharkds() { # the server's sharkd processes: server -> bwrap -> bwrap's init in the sandbox -> sharkd
	local b i
	for b in $(pgrep -x bwrap -P "$server_pid"); do
		for i in $(pgrep -P "$b"); do pgrep -x sharkd -P "$i"; done
	done
	true
}
sandbox() { # SHARKD: its sandbox's processes: bwrap, its init, and all in its PID namespace
	local p ns=$(readlink "/proc/$1/ns/pid")
	awk '{print $4}' "/proc/$(awk '{print $4}' "/proc/$1/stat")/stat"
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/pid" 2> /dev/null)" = "$ns" ] && echo "${p#/proc/}"
	done
}

# capture EXPR SECONDS: a capture on gw1 and gw2; its id
capture() {
	call "$alice" POST /captures "{\"devices\":[\"gw1\",\"gw2\"],\"expression\":\"$1\",\"duration\":$2}" > /dev/null
	field id
}
streaming() { # ID: both devices capture (or it ended)
	for _ in $(seq 50); do
		call "$alice" GET "/captures/$1" > /dev/null
		[ "$(field devices 0 state)" = streaming ] && [ "$(field devices 1 state)" = streaming ] && break
		[ "$(field state)" = done ] && break
		sleep 0.1
	done
}
merged() { # ID N: the capture has merged N packets, and written them
	for _ in $(seq 100); do
		call "$alice" GET "/captures/$1" > /dev/null
		[ "$(field merged)" -ge "$2" ] && [ "$(tshark -r "$tmp/$1.pcapng" 2> /dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
rows() { # ID: "n line" of each packet, from the packets stream
	inb timeout 20 curl -sS -N -H "Authorization: Bearer $alice" "$api/captures/$1/packets" |
		sed -n 's/^data: {"n":\([0-9]*\),.*"line":"\(.*\)"}$/\1 \2/p'
}

id1=$(capture 'icmp or udp port 53' 60)
streaming "$id1"
inb ping -c 4 -i 0.2 10.98.0.1 > /dev/null
ina python3 -c 'import socket
q = bytes.fromhex("123401000001000000000000") + b"\x03www\x03lab\x00\x00\x01\x00\x01"
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(q, ("10.98.0.2", 53))'
# (stopped once it has every packet: a capture of a fixed few seconds ends
# early on a loaded machine, where the devices take seconds to stream)
merged "$id1" 10 || echo "capture $id1: not every packet merged"
call "$alice" POST "/captures/$id1/stop" > /dev/null
wait_state "$id1" done 15 || { echo "FAIL capture $id1 did not end"; exit 1; }
mode1=$(stat -c '%g %a' "$tmp/$id1.pcapng") # before any packet view

test_filter() {
	local st want got
	st=$(call "$alice" GET "/captures/$id1/frames?filter=icmp.type%3D%3D8")
	want=$(rows "$id1" | grep 'ICMP echo request' | cut -d' ' -f1 | tr '\n' ' ')
	got=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["frames"])), end=" ")' "$tmp/body")
	[ "$st" = 200 ] && [ -n "$want" ] && [ "$got" = "$want" ] && [ "$(field count)" = 4 ] &&
		ok "display filter: icmp.type==8 gives exactly the echo requests' numbers ($got)" ||
		ko "display filter" "$st want [$want] got [$got] $(head -c 200 "$tmp/body")"
	st=$(call "$alice" GET "/captures/$id1/frames?filter=dns.qry.name%3D%3D%22www.lab%22%20%26%26%20!icmp")
	want=$(rows "$id1" | grep 'A? www.lab' | cut -d' ' -f1 | tr '\n' ' ')
	got=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["frames"])), end=" ")' "$tmp/body")
	[ "$st" = 200 ] && [ -n "$want" ] && [ "$got" = "$want" ] &&
		ok "display filter: a DNS name (not the ICMP error quoting it), against tcpdump's lines ($got)" ||
		ko "display filter (dns)" "$st [$want] [$got]"
}

test_bad_filter() {
	local st
	st=$(call "$alice" GET "/captures/$id1/frames?filter=tcp.port%20%3D%3D")
	[ "$st" = 400 ] && [[ $(field error) == "filter: Filter invalid - "* ]] &&
		ok "a bad display filter: 400 with Wireshark's message ($(field error))" ||
		ko "bad display filter" "$st $(cat "$tmp/body")"
	st=$(call "$alice" GET "/captures/$id1/frames")
	[ "$st" = 400 ] && [[ $(field error) == filter:* ]] && ok "no display filter: 400 naming it" ||
		ko "no display filter" "$st"
}

test_frame() {
	local st bad=
	st=$(call "$alice" GET "/captures/$id1/frames/1")
	[ "$st" = 200 ] || bad+=" $st"
	python3 - "$tmp/body" << 'PY' || bad+=" tree"
import base64, json, sys
f = json.load(open(sys.argv[1]))
labels = [n["l"] for n in f["tree"]]
assert f["n"] == 1, f["n"]
assert any(l.startswith("Internet Protocol Version 4, Src: 10.98.0.") for l in labels), labels
assert any(l.startswith("Internet Control Message Protocol") for l in labels), labels
assert len(base64.b64decode(f["bytes"])) == 98
ip = next(n for n in f["tree"] if n["l"].startswith("Internet Protocol"))
assert ip["h"] == [14, 20] and ip["n"], ip.get("h")
PY
	st=$(call "$alice" GET "/captures/$id1/frames/9999")
	[ "$st" = 404 ] || bad+=" beyond:$st"
	st=$(call "$alice" GET "/captures/$id1/frames/0")$(call "$alice" GET "/captures/$id1/frames/x1")
	[ "$st" = 400400 ] || bad+=" bad-n:$st"
	[ -z "$bad" ] && ok "packet detail: the protocol tree (IP at bytes 14-33, ICMP) and the 98 bytes; 404 past the end, 400 for a bad number" ||
		ko "packet detail" "$bad $(head -c 300 "$tmp/body")"
}

# confined PID UID: what sharkd PID may reach, from /proc; UID its user
# outside (0: the slot's own, under a root server); "" or what is wrong
confined() {
	local pid=$1 uid bad= fd f ino lim
	uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
	if [ "$2" = 0 ]; then
		[ "$uid" -ge $((0x7eca0000)) ] && [ "$(awk '/^Gid:/ {print $2}' "/proc/$pid/status")" = "$uid" ] || bad+=" uid:$uid"
	else
		[ "$uid" = "$2" ] || bad+=" uid:$uid"
	fi
	[ "$(awk '/^Groups:/ {print NF}' "/proc/$pid/status")" = 1 ] || bad+=" groups"
	# no capability, and the user namespace it is root of (it is not) is its own
	[ "$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")$(awk '/^CapPrm:/ {print $2}' "/proc/$pid/status")" = 00000000000000000000000000000000 ] || bad+=" caps"
	[ "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$pid/status")" = 1 ] || bad+=" nnp"
	for n in user mnt pid net ipc; do
		[ "$(readlink "/proc/$pid/ns/$n")" != "$(readlink "/proc/$server_pid/ns/$n")" ] || bad+=" same-$n-ns"
	done
	# its network: a loopback device (bwrap brings it up) and nothing else
	[ "$(nsenter -t "$pid" -n ip -o link | grep -vc ': lo:')" = 0 ] || bad+=" interfaces"
	# its root: the registry, the data directory, the keys are not there at
	# all (while what it runs is: the look through /proc/PID/root works)
	stat "/proc/$pid/root/usr/bin/sharkd" > /dev/null 2>&1 || bad+=" no-root-view"
	for f in "$db" "$tmp" "$tls/srv.key" /etc/passwd /var /home /root; do
		stat "/proc/$pid/root$f" > /dev/null 2>&1 && bad+=" sees:$f"
	done
	# its descriptors: the pipes, /dev/null, and the capture (and what it opened is the capture again)
	ino=$(stat -L -c %i "$tmp/$id1.pcapng")
	for fd in $(ls "/proc/$pid/fd"); do
		case $fd in 0 | 1 | 2) continue ;; esac
		[ "$(stat -L -c %i "/proc/$pid/fd/$fd")" = "$ino" ] || bad+=" fd$fd:$(readlink "/proc/$pid/fd/$fd")"
	done
	# its bounds
	lim=$(awk '/^Max (cpu time|file size|processes|open files|address space|core file size)/ {printf "%s ", $(NF-1)}' "/proc/$pid/limits")
	[ "$lim" = "3600 0 0 16 64 2147483648 " ] || bad+=" limits:[$lim]"
	echo "$bad"
}

test_confined() {
	local pid bad
	call "$alice" GET "/captures/$id1/frames/1" > /dev/null
	pid=$(sharkds)
	[ -n "$pid" ] && [ "$(echo "$pid" | wc -l)" = 1 ] || { ko "sharkd confined" "processes: [$pid]"; return; }
	bad=$(confined "$pid" 0)
	# as its user the registry is out of reach too
	setpriv --reuid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" --regid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" --clear-groups cat "$db" > /dev/null 2>&1 && bad+=" reads-registry"
	[ -z "$bad" ] && ok "sharkd confined: its own user, no groups or capabilities, no-new-privs, user/mount/PID/network/IPC namespaces of its own, only lo, none of the server's files in its root, no file but its capture, rlimits" ||
		ko "sharkd confined" "$bad"
}

test_bound_and_idle() {
	local id2 st p1 p2 bad=
	call "$alice" GET "/captures/$id1/frames/1" > /dev/null
	p1=$(sharkds)
	id2=$(capture icmp 60)
	streaming "$id2"
	inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null
	merged "$id2" 4
	call "$alice" POST "/captures/$id2/stop" > /dev/null
	wait_state "$id2" done 15 || bad+=" id2"
	st=$(call "$alice" GET "/captures/$id2/frames/1")
	p2=$(sharkds)
	[ "$st" = 200 ] && [ -n "$p2" ] && [ "$p1" != "$p2" ] && [ "$(echo "$p2" | wc -l)" = 1 ] ||
		bad+=" max1:$st [$p1] [$p2] $(head -c 100 "$tmp/body")"
	for _ in $(seq 100); do [ -z "$(sharkds)" ] && break; sleep 0.1; done
	[ -z "$(sharkds)" ] || bad+=" not-stopped-when-idle"
	# stopped, it gave the file back
	[ "$(stat -c '%g %a' "$tmp/$id1.pcapng")" = "$mode1" ] || bad+=" file:$(stat -c '%g %a' "$tmp/$id1.pcapng")"
	bad+=$(left_behind)
	[ -z "$bad" ] && ok "packet views: one at most here (sharkd_max = 1: the idle one makes room), stopped after 5 idle seconds (the file given back), every process of its sandbox gone with it" ||
		ko "packet views' bound" "$bad"
}

# left_behind: a process started in a sandbox (what a subverted sharkd might
# leave) dies when the sandbox is stopped, with bwrap and sharkd: "" or what is left
left_behind() {
	local pid st procs left p uid bad=
	st=$(call "$alice" GET "/captures/$id1/frames/2")
	[ "$st" = 200 ] || { echo " again:$st"; return; }
	pid=$(sharkds)
	uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status") # bwrap maps it to itself
	nsenter -t "$pid" -U -m -p -n -i -S "$uid" -G "$uid" sleep 300 &
	left=$!
	sleep 0.3
	procs=$(sandbox "$pid")
	[ "$(echo "$procs" | wc -l)" -ge 4 ] || bad+=" sandbox:[$(echo $procs)]"
	for _ in $(seq 150); do [ -z "$(sharkds)" ] && break; sleep 0.1; done
	wait_gone "$left" 5 > /dev/null 2>&1
	kill -0 "$left" 2> /dev/null && { bad+=" left-alive"; kill -9 "$left"; }
	for p in $procs; do # (killed, bwrap's init is reaped by whoever inherits it)
		for _ in $(seq 30); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
		kill -0 "$p" 2> /dev/null && bad+=" alive:$p:$(cat "/proc/$p/comm")"
	done
	echo "$bad"
}

test_growing() {
	local id st n1 n2 bad=
	id=$(capture icmp 30)
	streaming "$id"
	inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null
	merged "$id" 4
	st=$(call "$alice" GET "/captures/$id/frames?filter=icmp")
	n1=$(field count)
	inb ping -c 3 -i 0.2 10.98.0.1 > /dev/null
	merged "$id" 10
	st+=$(call "$alice" GET "/captures/$id/frames?filter=icmp")
	n2=$(field count)
	call "$alice" POST "/captures/$id/stop" > /dev/null
	[ "$st" = 200200 ] && [ "$n1" -ge 4 ] && [ "$n2" -ge $((n1 + 6)) ] &&
		ok "a running capture: the view reads what was written since ($n1, then $n2 packets)" ||
		ko "a growing capture" "$st $n1 $n2"
}

test_who() {
	local v st
	v=$("$server" --db "$db" user add acme val@acme.test --role viewer --token cli 2> /dev/null |
		sed -n 's/^API token cli: //p')
	st=$(call "$v" GET "/captures/$id1/frames/1")$(call "$v" GET "/captures/$id1/frames?filter=icmp")
	[ "$st" = 403403 ] && [[ $(field error) == "your role (viewer) may not download captures here"* ]] || st+=" viewer"
	call "$alice" PATCH /organization '{"viewer_downloads":true}' > /dev/null
	st+=$(call "$v" GET "/captures/$id1/frames/1")
	call "$alice" PATCH /organization '{"viewer_downloads":false}' > /dev/null
	st+=$(call "$bob" GET "/captures/$id1/frames/1")$(call "$bob" GET "/captures/$id1/frames?filter=icmp")
	st+=$(inb curl -sS -o /dev/null -w '%{http_code}' "$api/captures/$id1/frames/1")
	[ "$st" = 403403200404404401 ] &&
		ok "who may look: viewers as they may download (403, then 200), another organization 404, no one 401" ||
		ko "who may look" "$st"
}

# As an unprivileged user U owning the data directory, the way the systemd
# unit runs it (DynamicUser, NoNewPrivileges, its two capabilities ambient
# and bounding, ProtectKernelTunables' read-only /proc/sys mounted over
# /proc, which makes the kernel refuse a new proc in a sandbox): the server
# runs the sandbox as itself.
U=$((0x7ec90000 + $$ % 65536))
server_as_u() { # [CMD...]: the server again, as U, under CMD
	local caps=-all,+net_admin,+net_bind_service
	printf '#!/bin/sh\nmount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys &&\n\texec setpriv --reuid=%s --regid=%s --clear-groups --no-new-privs --bounding-set=%s --inh-caps=%s --ambient-caps=%s "$@"\n' \
		"$U" "$U" $caps $caps $caps > "$tmp/as-unit.sh"
	chmod 700 "$tmp/as-unit.sh"
	kill -TERM "$server_pid" && wait_gone "$server_pid" 10
	chown -R "$U:$U" "$tmp"
	server_as="$* unshare -m --propagation private $tmp/as-unit.sh" server_start -c "$tmp/server.conf"
}

test_unprivileged() {
	local st pid bad= got
	server_as_u || { ko "an unprivileged server" "did not start: $(tail -3 "$tmp/server.log")"; return; }
	st=$(call "$alice" GET "/captures/$id1/frames/1")
	python3 - "$tmp/body" << 'PY' || bad+=" tree"
import base64, json, sys
f = json.load(open(sys.argv[1]))
labels = [n["l"] for n in f["tree"]]
assert any(l.startswith("Internet Control Message Protocol") for l in labels), labels
assert len(base64.b64decode(f["bytes"])) == 98
PY
	st+=$(call "$alice" GET "/captures/$id1/frames?filter=icmp.type%3D%3D8")
	got=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["frames"])))' "$tmp/body")
	[ "$st" = 200200 ] && [ "$got" = "1 3 5 7" ] || bad+=" $st [$got]"
	pid=$(sharkds)
	if [ -n "$pid" ] && [ "$(echo "$pid" | wc -l)" = 1 ]; then
		bad+=$(confined "$pid" "$U")
		bad+=$(left_behind)
	else
		bad+=" processes:[$pid]"
	fi
	[ -z "$bad" ] && ok "a server of an unprivileged user ($U): packet detail (tree, bytes, a display filter) from a sandbox of user/mount/PID/network/IPC namespaces, none of its files visible, no capabilities, rlimits; gone with every process in it when idle" ||
		ko "an unprivileged server" "$bad"
}

test_no_userns() {
	local h st
	# a user namespace (identity-mapped) where no further one may be made
	ip netns exec "$B" unshare -U sleep 600 &
	h=$!
	for _ in $(seq 50); do [ "$(readlink "/proc/$h/ns/user")" != "$(readlink /proc/self/ns/user)" ] && break; sleep 0.05; done
	echo "0 0 4294967295" > "/proc/$h/uid_map" && echo "0 0 4294967295" > "/proc/$h/gid_map" &&
		nsenter -t "$h" -U sh -c 'echo 0 > /proc/sys/user/max_user_namespaces' ||
		{ ko "no user namespaces" "setting up"; kill "$h"; return; }
	server_as_u nsenter -t "$h" -U || { ko "no user namespaces" "server: $(tail -3 "$tmp/server.log")"; kill "$h"; return; }
	st=$(call "$alice" GET "/captures/$id1/frames/1")
	[ "$st" = 503 ] && [[ $(field error) == "packet detail is off on this server: its sandboxed sharkd did not start (bwrap: "*"max_"*"namespaces exceeded"* ]] &&
		grep -q "warning: packet detail is off on this server: its sandboxed sharkd did not start (bwrap: " "$tmp/server.log" &&
		ok "user namespaces refused: packet detail is 503 with bwrap's one-line reason ($(field error)), logged at start" ||
		ko "no user namespaces" "$st $(cat "$tmp/body")"
	kill -TERM "$server_pid" && wait_gone "$server_pid" 10
	kill "$h"
	server_as= server_start -c "$tmp/server.conf"
}

after_detail() { after "$1"; }
run_tests after_detail test_filter test_bad_filter test_frame test_confined test_bound_and_idle test_growing test_who \
	test_unprivileged test_no_userns
st=$?
env_stop || exit 1
exit $st
