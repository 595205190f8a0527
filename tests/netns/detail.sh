#!/usr/bin/env bash
# detail.sh SERVER AGENT EDGECAP - a capture seen through Wireshark's engine
# (sharkd, docs/web.md "Packet detail"): display filters against the
# packets' own numbers, a packet's protocol tree and bytes, Wireshark's
# message for a bad filter, a capture that grows while it is looked at, the
# confinement of the sharkd processes (own user, no network, nothing else
# readable), their bound and idle stop, and who may look (server_env.sh:
# SQLite registry, agents gw1 and gw2, organizations acme and globex).
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

sharkds() { pgrep -x sharkd -P "$server_pid" || true; } # the server's sharkd processes

# capture EXPR SECONDS: a capture on gw1 and gw2; its id
capture() {
	call "$alice" POST /captures "{\"devices\":[\"gw1\",\"gw2\"],\"expression\":\"$1\",\"duration\":$2}" > /dev/null
	field id
}
rows() { # ID: "n line" of each packet, from the packets stream
	inb timeout 20 curl -sS -N -H "Authorization: Bearer $alice" "$api/captures/$1/packets" |
		sed -n 's/^data: {"n":\([0-9]*\),.*"line":"\(.*\)"}$/\1 \2/p'
}

id1=$(capture 'icmp or udp port 53' 3)
inb ping -c 4 -i 0.2 10.98.0.1 > /dev/null
ina python3 -c 'import socket
q = bytes.fromhex("123401000001000000000000") + b"\x03www\x03lab\x00\x00\x01\x00\x01"
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(q, ("10.98.0.2", 53))'
wait_state "$id1" done 10 || { echo "FAIL capture $id1 did not end"; exit 1; }
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

test_confined() {
	local pid bad= uid
	call "$alice" GET "/captures/$id1/frames/1" > /dev/null
	pid=$(sharkds)
	[ -n "$pid" ] && [ "$(echo "$pid" | wc -l)" = 1 ] || { ko "sharkd confined" "processes: [$pid]"; return; }
	uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
	[ "$uid" -ge $((0x7eca0000)) ] && [ "$(awk '/^Gid:/ {print $2}' "/proc/$pid/status")" = "$uid" ] || bad+=" uid:$uid"
	[ "$(awk '/^Groups:/ {print NF}' "/proc/$pid/status")" = 1 ] || bad+=" groups"
	[ "$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")" = 0000000000000000 ] || bad+=" caps"
	[ "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$pid/status")" = 1 ] || bad+=" nnp"
	[ "$(readlink "/proc/$pid/ns/net")" != "$(readlink "/proc/$server_pid/ns/net")" ] || bad+=" netns"
	ip netns exec "$B" nsenter -t "$pid" -n ip -o link | grep -qv ' lo:' && bad+=" interfaces"
	# as its user: the registry and another capture's file are out of reach
	setpriv --reuid="$uid" --regid="$uid" --clear-groups cat "$db" > /dev/null 2>&1 && bad+=" reads-registry"
	# its descriptors: the pipes, /dev/null, and the capture (what it opened is the capture again)
	local fd f=$(readlink "/proc/$pid/fd/3")
	[ "$f" = "$tmp/$id1.pcapng" ] || bad+=" fd3:$f"
	for fd in $(ls "/proc/$pid/fd"); do
		case $fd in 0 | 1 | 2 | 3) continue ;; esac
		[ "$(readlink "/proc/$pid/fd/$fd")" = "$f" ] || bad+=" fd$fd:$(readlink "/proc/$pid/fd/$fd")"
	done
	[ -z "$bad" ] && ok "sharkd confined: its own user $uid, no groups or capabilities, no-new-privs, no network, no file but its capture, registry unreadable" ||
		ko "sharkd confined" "$bad"
}

test_bound_and_idle() {
	local id2 st p1 p2 bad=
	call "$alice" GET "/captures/$id1/frames/1" > /dev/null
	p1=$(sharkds)
	id2=$(capture icmp 2)
	inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null
	wait_state "$id2" done 10 || bad+=" id2"
	st=$(call "$alice" GET "/captures/$id2/frames/1")
	p2=$(sharkds)
	[ "$st" = 200 ] && [ -n "$p2" ] && [ "$p1" != "$p2" ] && [ "$(echo "$p2" | wc -l)" = 1 ] ||
		bad+=" max1:$st [$p1] [$p2]"
	for _ in $(seq 100); do [ -z "$(sharkds)" ] && break; sleep 0.1; done
	[ -z "$(sharkds)" ] || bad+=" not-stopped-when-idle"
	# stopped, it gave the files back; and a process left under its user
	# (what a subverted sharkd might start) does not outlive the next start
	[ "$(stat -c '%g %a' "$tmp/$id1.pcapng")" = "$mode1" ] || bad+=" file:$(stat -c '%g %a' "$tmp/$id1.pcapng")"
	setpriv --reuid=$((0x7eca0000)) --regid=$((0x7eca0000)) --clear-groups sleep 300 &
	local left=$!
	sleep 0.2
	st=$(call "$alice" GET "/captures/$id1/frames/2")
	[ "$st" = 200 ] || bad+=" again:$st"
	wait_gone "$left" 5 > /dev/null 2>&1
	kill -0 "$left" 2> /dev/null && { bad+=" left-alive"; kill -9 "$left"; }
	[ -z "$bad" ] && ok "packet views: one at most here (sharkd_max = 1: the idle one makes room), stopped after 5 idle seconds (the file given back), started again on demand, killing what its user left" ||
		ko "packet views' bound" "$bad"
}

merged() { # ID N: the capture has merged N packets, and written them
	for _ in $(seq 100); do
		call "$alice" GET "/captures/$1" > /dev/null
		[ "$(field merged)" -ge "$2" ] && [ "$(tshark -r "$tmp/$1.pcapng" 2> /dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

test_growing() {
	local id st n1 n2 bad=
	id=$(capture icmp 30)
	for _ in $(seq 50); do call "$alice" GET "/captures/$id" > /dev/null; [ "$(field devices 0 state)" = streaming ] && [ "$(field devices 1 state)" = streaming ] && break; sleep 0.1; done
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

after_detail() { after "$1"; }
run_tests after_detail test_filter test_bad_filter test_frame test_confined test_bound_and_idle test_growing test_who
st=$?
env_stop || exit 1
exit $st
