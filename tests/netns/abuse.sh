#!/usr/bin/env bash
# abuse.sh SERVER AGENT EDGECAP - what one tenant could do to another, and
# the bounds that stop it, against the real server, agents and registry of
# server_env.sh: paths matched exactly, an expression that would hold the
# loop for a minute, captures and readers per organization, lists in
# pages, every capture ending, devices only where devices may be, what
# captures keep, connections past the descriptors and from one address, an
# HTTP/2 rapid-reset client, the registry's files kept private and a
# damaged one refused.
set -uo pipefail
server=$1
agent=$2
ec=$3
suite=abu
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/server_env.sh"

test_paths() {
	local bad= st p
	# a decoded NUL, '/' or control byte stays in its segment: no device by
	# that name, never gw1 (the error quotes it escaped)
	st=$(call "$alice" GET /devices/gw1%00anything)
	[ "$st" = 404 ] && [ "$(field error)" = "not found: path segment 'gw1\x00anything' holds a NUL byte" ] || bad+=" nul:$st $(cat "$tmp/body")"
	st=$(call "$alice" GET /devices/gw1%2Fx)
	[ "$st" = 404 ] && [ "$(field error)" = "not found: path segment 'gw1/x' holds an escaped '/'" ] || bad+=" slash:$st $(cat "$tmp/body")"
	st=$(call "$alice" DELETE /devices/gw1%0a)
	[ "$st" = 404 ] && [[ $(field error) == *"'gw1\x0a' holds a control byte" ]] || bad+=" ctl:$st $(cat "$tmp/body")"
	# malformed escapes: 400, JSON, naming the escape; on any route, before the token
	for p in "/devices/%zz %zz" "/devices/gw1%4 %4" "/devices/gw1% %" "/captures/%g1/pcap %g1"; do
		set -- $p
		st=$(call "$alice" GET "$1")
		[ "$st" = 400 ] && [ "$(field error)" = "invalid escape '$2' in the path: want '%' and two hex digits" ] || bad+=" $1:$st $(cat "$tmp/body")"
	done
	st=$(inb curl -sS --path-as-is -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' "$api/devices/%zz")
	[ "$st" = 400 ] && grep -qi '^content-type: application/json' "$tmp/head" && [[ $(field error) == "invalid escape"* ]] || bad+=" notoken:$st"
	# dot-segments, empty segments: refused, not resolved
	for p in /../v1/devices /devices/./gw1 /devices/%2e%2e/devices/gw1 /devices/gw1/ //devices; do
		st=$(call "$alice" GET "$p")
		[ "$st" = 404 ] && [[ $(field error) == "not found: "* ]] || bad+=" $p:$st"
	done
	# what still works: the plain name, an escaped character names allow, a query
	st=$(call "$alice" GET /devices/gw1); [ "$st" = 200 ] && [ "$(field name)" = gw1 ] || bad+=" plain:$st"
	st=$(call "$alice" GET /devices/gw%31); [ "$st" = 200 ] && [ "$(field name)" = gw1 ] || bad+=" escaped:$st"
	st=$(call "$alice" POST /devices '{"name":"gw.x-1","serial":"SN-gwx","address":"http://10.98.0.1:9"}')
	st=$(call "$alice" GET /devices/gw%2Ex%2D1); [ "$st" = 200 ] && [ "$(field name)" = gw.x-1 ] || bad+=" dot:$st"
	st=$(call "$alice" DELETE /devices/gw%2ex-1); [ "$st" = 200 ] || bad+=" delete:$st"
	st=$(call "$alice" GET "/devices/gw1?x=%zz"); [ "$st" = 200 ] || bad+=" query:$st"
	[ -z "$bad" ] && ok "paths match exactly: escapes decoded per segment, a NUL, '/' or control byte in one 404, a malformed escape 400, all JSON" ||
		ko "paths" "$bad"
}

# An expression libpcap's optimizer takes about a minute over (700 terms):
# compiled off the loop, so another organization's request is answered at
# once meanwhile, and ended at the CPU bound (compile_cpu_ms, 2 s) with a
# 422 naming it; the worker is replaced, and none is left a zombie.
test_compile_offloop() {
	local e pid t st bad= p
	e="port $(seq -s ' or port ' 1 699)"
	for p in "/filters/compile {\"expression\":\"$e\"}" \
		"/captures {\"devices\":[\"gw1\"],\"duration\":1,\"expression\":\"$e\"}"; do
		inb curl -sS -o "$tmp/slow" -w '%{http_code}' --max-time 120 -H "Authorization: Bearer $alice" \
			-H 'Content-Type: application/json' --data-binary "${p#* }" "$api${p%% *}" > "$tmp/slow.st" &
		pid=$!
		sleep 0.5 # under way: it takes 2 s of CPU to be ended
		t=$(inb curl -sS -o "$tmp/body" -w '%{http_code} %{time_total}' --max-time 5 \
			-H "Authorization: Bearer $bob" "$api/devices")
		# 1 s: far from the few ms it takes, and from the minute it took on the loop
		python3 -c 'import sys; c, s = sys.argv[1].split(); sys.exit(not (c == "200" and float(s) < 1))' "$t" ||
			bad+=" ${p%% *}: the other organization's request: $t;"
		kill -0 "$pid" 2> /dev/null || bad+=" ${p%% *}: ended before the other request was answered;"
		wait_gone "$pid" 30 || { kill "$pid" 2> /dev/null; bad+=" ${p%% *}: not ended;"; }
		[ "$(cat "$tmp/slow.st")" = 422 ] &&
			[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$tmp/slow")" = \
				"expression: compiling took more than 2000 ms of CPU (the server's compile_cpu_ms)" ] ||
			bad+=" ${p%% *}: $(cat "$tmp/slow.st") $(head -c 200 "$tmp/slow");"
	done
	# the workers: replaced, reaped
	[ "$(ps -o stat=,args= --ppid "$server_pid" | grep -c '^[^Z].*compile-worker')" = 2 ] &&
		! ps -o stat= --ppid "$server_pid" | grep -q Z || bad+=" workers: $(ps -o stat=,args= --ppid "$server_pid")"
	# and the next compile is as before
	st=$(call "$alice" POST /filters/compile '{"expression":"udp port 53"}')
	[ "$st" = 200 ] || bad+=" after:$st"
	[ -z "$bad" ] && ok "a pathological expression compiles off the loop: another organization is answered at once, it ends with 422 at compile_cpu_ms" ||
		ko "compile off the loop" "$bad"
}

# Per organization at most 4 captures at once, per capture at most 16
# readers: past either a 429 naming the limit; another organization's
# capture starts all the same.
test_limits() {
	local bad= st ids= id i n pids=
	for i in 1 2 3 4; do
		st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 7","duration":30}')
		[ "$st" = 201 ] && ids+=" $(field id)" || bad+=" start$i:$st"
	done
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 7","duration":30}')
	[ "$st" = 429 ] && [ "$(field error)" = "the organization runs 4 captures already, the most it may (org_captures_max = 4)" ] ||
		bad+=" fifth:$st $(cat "$tmp/body")"
	st=$(call "$bob" POST /captures '{"devices":["gx1"],"expression":"udp port 7","duration":1}')
	[ "$st" = 201 ] || bad+=" other org:$st"
	id=${ids%% *}; id=${ids##* }
	for i in $(seq 16); do
		inb curl -sS -m 30 -o "$tmp/reader$i" -H "Authorization: Bearer $alice" \
			"$api/captures/$id/pcap" 2> /dev/null &
		pids+=" $!"
	done
	for _ in $(seq 100); do # until the 16 are reading: each has the file's header
		n=0
		for i in $(seq 16); do [ -s "$tmp/reader$i" ] && n=$((n + 1)); done
		[ $n = 16 ] && break
		sleep 0.1
	done
	st=$(inb curl -sS -m 2 -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $alice" \
		"$api/captures/$id/pcap" 2> /dev/null)
	[ "$st" = 429 ] && [ "$(field error)" = "capture $id has 16 readers already, the most it may (capture_readers_max = 16)" ] ||
		bad+=" reader 17:$st $(head -c 200 "$tmp/body")"
	# shellcheck disable=SC2086
	kill $pids 2> /dev/null; wait $pids 2> /dev/null
	for i in $ids; do call "$alice" POST "/captures/$i/stop" > /dev/null; done
	for i in $ids; do wait_state "$i" done 10 || bad+=" $i did not end"; done
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 7","duration":1}')
	[ "$st" = 201 ] || bad+=" after:$st"
	wait_state "$(field id)" done 10 || bad+=" the last did not end"
	[ -z "$bad" ] && ok "limits: 4 captures an organization, 16 readers a capture, then 429 naming the limit; another organization unaffected" ||
		ko "limits" "$bad"
}

# Lists come in pages: ?limit (at most 1000) and the Link header's cursor;
# following them gives the whole list once; the CLI reads every page.
test_pages() {
	local bad= st url ids= all link
	call "$alice" GET /captures > /dev/null
	all=$(python3 -c 'import json,sys; print(" ".join(str(c["id"]) for c in json.load(open(sys.argv[1]))))' "$tmp/body")
	url="$api/captures?limit=2"
	for _ in $(seq 100); do
		link=$(inb curl -sS -o "$tmp/body" -D - -H "Authorization: Bearer $alice" "$url" |
			sed -n 's/^link: <\([^>]*\)>; rel="next".*/\1/ip' | tr -d '\r')
		ids+=" $(python3 -c 'import json,sys; print(" ".join(str(c["id"]) for c in json.load(open(sys.argv[1]))))' "$tmp/body")"
		[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/body")" -le 2 ] || bad+=" page too long"
		[ -n "$link" ] || break
		url="http://127.0.0.1:8000$link"
	done
	# shellcheck disable=SC2086
	[ "$(echo $ids)" = "$all" ] && [ "$(echo "$all" | wc -w)" -gt 4 ] || bad+=" paged:[$ids] all:[$all]"
	st=$(call "$alice" GET "/captures?limit=0"); [ "$st" = 400 ] && [ "$(field error)" = "limit: want an integer from 1 to 1000" ] || bad+=" limit0:$st"
	st=$(call "$alice" GET "/captures?limit=1001"); [ "$st" = 400 ] || bad+=" limit:$st"
	st=$(call "$alice" GET "/captures?cursor=x"); [ "$st" = 400 ] && [[ $(field error) == cursor* ]] || bad+=" cursor:$st"
	st=$(call "$alice" GET "/devices?limit=1"); [ "$st" = 200 ] && [ "$(field 0 name)" = gw1 ] || bad+=" devices:$st"
	st=$(call "$alice" GET "/devices?limit=1&cursor=gw1"); [ "$st" = 200 ] && [ "$(field 0 name)" = gw2 ] || bad+=" devices2:$st"
	st=$(call "$bob" GET "/captures?limit=1000")
	[ "$st" = 200 ] && python3 -c 'import json,sys
mine = {c["id"] for c in json.load(open(sys.argv[1]))}
sys.exit(bool(mine & set(map(int, sys.argv[2:]))))' "$tmp/body" $all || bad+=" bob:$st"
	[ -z "$bad" ] && ok "lists in pages: limit, the Link header's cursor, every item once, 400 naming a bad parameter" ||
		ko "pages" "$bad"
}

# Every capture ends: one that names no duration runs the server's
# default (600 s), kept in its request; what ended each is recorded.
test_capture_ends() {
	local bad= st id
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 5001"}')
	id=$(field id 2> /dev/null)
	[ "$st" = 201 ] && [ "$(field request duration)" = 600 ] || bad+=" default:$st $(cat "$tmp/body")"
	[ "$(field ended_by)" = None ] || bad+=" running:$(field ended_by)"
	st=$(call "$alice" POST "/captures/$id/stop")
	wait_state "$id" done 10 || bad+=" not stopped"
	[ "$(field ended_by)" = stopped ] || bad+=" stopped:$(field ended_by)"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"duration":1}')
	id=$(field id 2> /dev/null)
	wait_state "$id" done 15 || bad+=" 1 s capture did not end"
	[ "$(field ended_by)" = duration ] || bad+=" duration:$(field ended_by)"
	[ -z "$bad" ] && ok "capture ends: 600 s unless it says; the registry keeps what ended it (stopped, duration)" ||
		ko "capture ends" "$bad"
}

# The registry holds the devices' secrets: its files and the captures'
# directory are the server's alone, and a damaged registry is refused in
# one line by the daemon and the bootstrap commands alike.
test_registry_disk() {
	local d=$tmp/disk pid out st bad=
	[ "$(stat -c %a "$db")" = 600 ] && [ "$(stat -c %a "$db-wal")" = 600 ] &&
		ok "registry and its WAL: mode 0600" || ko "registry mode" "$(stat -c '%n %a' "$db"*)"
	# a registry left 0644 by an earlier version; captures in a new directory
	mkdir -p "$d"
	(umask 022 && "$server" --db "$d/registry.db" org add acme > /dev/null) &&
		chmod 644 "$d/registry.db"
	ip netns exec "$B" "$server" --plain-http --listen 127.0.0.1:8003 --db "$d/registry.db" \
		--data "$d/captures" 2> "$d/server.log" &
	pid=$!
	for _ in $(seq 100); do grep -q serving "$d/server.log" && break; sleep 0.05; done
	[ "$(stat -c %a "$d/registry.db")" = 600 ] && [ "$(stat -c %a "$d/captures")" = 700 ] &&
		grep -qxF "edgecap-server: warning: registry $d/registry.db had mode 0644: tightened to 0600" \
			"$d/server.log" &&
		ok "a 0644 registry tightened to 0600 with a warning; the data directory made 0700" ||
		ko "tighten" "$(stat -c '%n %a' "$d"/*; cat "$d/server.log")"
	kill -TERM "$pid"; wait_gone "$pid" 10
	# a shared directory (as /tmp: sticky, everyone's) is not taken over
	mkdir -p "$d/shared" && chmod 1777 "$d/shared"
	out=$(timeout 5 ip netns exec "$B" "$server" --plain-http --listen 127.0.0.1:8003 \
		--db "$d/shared/registry.db" 2>&1); st=$?
	[ $st = 2 ] && [ "$(stat -c %a "$d/shared")" = 1777 ] &&
		[ "$out" = "edgecap-server: error: data directory $d/shared: mode 1777, shared (sticky): give the server a directory of its own (data = DIR)" ] &&
		ok "a shared data directory (sticky, 1777): refused in one line, its mode kept" ||
		ko "shared data directory" "$st $(stat -c %a "$d/shared") $out"
	# page 2, the first table's, garbled; the header still reads
	python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(4096); f.write(b"\xa5" * 4096)' \
		"$d/registry.db"
	out=$(timeout 5 ip netns exec "$B" "$server" --plain-http --listen 127.0.0.1:8003 \
		--db "$d/registry.db" --data "$d/captures" 2>&1); st=$?
	[ $st = 2 ] && [ "$(wc -l <<< "$out")" = 1 ] &&
		[[ $out == "edgecap-server: error: registry $d/registry.db is damaged: "*"; restore it from a backup" ]] ||
		bad+=" serve:$st:$out"
	for c in "org add globex" "admin add acme eve"; do
		out=$(timeout 5 "$server" --db "$d/registry.db" $c 2>&1); st=$?
		[ $st = 2 ] && [ "$(wc -l <<< "$out")" = 1 ] &&
			[[ $out == "edgecap-server: error: registry $d/registry.db is damaged: "* ]] ||
			bad+=" $c:$st:$out"
	done
	[ -z "$bad" ] && ok "a damaged registry: the server and org/admin add exit 2 with one line" ||
		ko "damaged registry" "$bad"
}

# Devices only where devices may be: an address on loopback, link-local,
# unspecified, multicast, the server's own or in the management network
# is refused at enrolment, naming the rule; a name is judged by what it
# resolves to, before anything is sent: the device fails alike whether a
# service listens there or not, and that service sees no connection.
# device_networks (the main server's 10.98.0.0/24) refuses the rest.
test_reach() {
	local d=$tmp/reach pid tok bad= a st e1 e2 id
	mkdir -p "$d"
	"$server" --db "$d/r.db" org add initech > /dev/null && tok=$("$server" --db "$d/r.db" admin add initech carol) ||
		{ ko "reach bootstrap"; return; }
	inb "$server" --plain-http --listen 127.0.0.1:8001 --db "$d/r.db" 2> "$d/server.log" &
	pid=$!
	for _ in $(seq 100); do grep -q serving "$d/server.log" && break; sleep 0.05; done
	# a service on the server's loopback, which counts its connections
	inb python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8009)); s.listen(8)
while True:
    c, _ = s.accept(); open(sys.argv[1], "a").write("connection\n")
    c.sendall(b"HTTP/1.1 404 INTERNAL secret=hunter2\r\nContent-Length: 0\r\n\r\n"); c.close()' "$d/seen" &
	local svc=$!
	for a in "127.0.0.1:8009 is a loopback address" "0.0.0.0:80 is an unspecified address" \
		"169.254.1.1:80 is a link-local address" "224.0.0.1:80 is a multicast address" \
		"[::1]:80 ::1 is a loopback address" "[fe80::1]:80 is a link-local address" \
		"[::ffff:127.0.0.1]:80 127.0.0.1 is a loopback address" \
		"10.98.0.2:8081 is this server's own address" "6.0.0.5:8080 is in the management network"; do
		st=$(inb curl -sS -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $tok" \
			-H 'Content-Type: application/json' --data-binary \
			"{\"name\":\"r$RANDOM\",\"serial\":\"S$RANDOM\",\"address\":\"http://${a%% *}\"}" \
			http://127.0.0.1:8001/api/v1/devices)
		[ "$st" = 400 ] && grep -qF "address: " "$tmp/body" && grep -qF "${a#* }" "$tmp/body" ||
			bad+=" ${a%% *}:$st:$(cat "$tmp/body")"
	done
	for a in "n1 http://localhost:8009" "n2 http://localhost:8010" "ok http://10.98.0.1:8080"; do
		st=$(inb curl -sS -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $tok" \
			-H 'Content-Type: application/json' --data-binary \
			"{\"name\":\"${a% *}\",\"serial\":\"S-${a% *}\",\"address\":\"${a#* }\"}" \
			http://127.0.0.1:8001/api/v1/devices)
		[ "$st" = 201 ] || bad+=" ${a% *}:$st"
	done
	st=$(inb curl -sS -o "$tmp/body" -w '%{http_code} %header{location}' -H "Authorization: Bearer $tok" \
		-H 'Content-Type: application/json' --data-binary '{"devices":["n1","n2"],"expression":"udp","duration":5}' \
		http://127.0.0.1:8001/api/v1/captures)
	id=${st##*/}
	for _ in $(seq 50); do
		inb curl -sS -o "$tmp/body" -H "Authorization: Bearer $tok" "http://127.0.0.1:8001/api/v1/captures/$id"
		[ "$(field state)" = done ] && break
		sleep 0.1
	done
	e1=$(field devices 0 error) e2=$(field devices 1 error)
	[[ $e1 == "http://localhost:8009: "*" is a loopback address" ]] && [ "${e1/8009/8010}" = "$e2" ] &&
		[ "$(field devices 0 state)" = failed ] || bad+=" name: '$e1' '$e2' $(cat "$tmp/body")"
	[ -s "$d/seen" ] && bad+=" the loopback service saw $(wc -l < "$d/seen") connection(s)"
	kill "$svc" "$pid" 2> /dev/null
	wait_gone "$pid" 10
	# the main server lists 10.98.0.0/24: the rest is outside
	st=$(call "$alice" POST /devices '{"name":"lo1","serial":"SN-lo1","address":"http://127.0.0.1:8000"}')
	[ "$st" = 400 ] && grep -qF "127.0.0.1 is outside device_networks" "$tmp/body" ||
		bad+=" networks:$st:$(cat "$tmp/body")"
	[ -z "$bad" ] && ok "devices only where devices may be: rules and names refused before a connection ($e1)" ||
		ko "reach" "$bad"
}

# What captures keep: the server restarted on a small data directory
# (tmpfs) with org_storage_max_mib = 3 and data_reserve_mib = 1. At start a
# file of no capture is removed and captures whose files are elsewhere are
# marked lost (410 for their packets). A capture ends at what is left of
# the organization's storage ("quota"); the next gets a 507 naming the
# limit; DELETE of a running capture is a 409, of a finished one removes
# file and rows, and another organization cannot; a data directory below
# its reserve gets a 507; a disk that fills mid-capture fails it with the
# reason ("error"), and the next gets a 507 until there is room. Captures
# past capture_retention_days go at start, file and rows.
test_storage() {
	local d=$tmp/small bad= st id id2 old
	mkdir -p "$d" && mount -t tmpfs -o size=12m,mode=0700 tmpfs "$d" && extra_mounts+=" $d" || { ko "tmpfs"; return; }
	# the organization's earlier captures go (every one finished), one stays
	call "$alice" GET "/captures?limit=1000" > /dev/null
	for id in $(python3 -c 'import json, sys; print(*[c["id"] for c in json.load(open(sys.argv[1]))])' "$tmp/body"); do
		st=$(call "$alice" DELETE "/captures/$id"); [ "$st" = 200 ] || bad+=" delete $id:$st"
	done
	call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 7","duration":1}' > /dev/null
	old=$(field id)
	wait_state "$old" done 10 || bad+=" first capture"
	call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 7","duration":1}' > /dev/null
	id=$(field id)
	wait_state "$id" done 10 || bad+=" second capture"
	printf 'org_storage_max_mib = 3\ndata_reserve_mib = 1\ncapture_retention_days = 1\n' > "$tmp/storage.conf"
	echo junk > "$d/77777.pcapng"; : > "$d/new.pcapng"; : > "$d/new-Ab3xYz.pcapng"; : > "$d/new-Young1.pcapng"
	# a starting capture's file is a crash's leftover only when it is old
	# (a young one may be another server's, in a shared data directory)
	touch -d '-11 minutes' "$d/new.pcapng" "$d/new-Ab3xYz.pcapng"
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	rm "$tmp/$id.pcapng"
	server_start -c "$tmp/storage.conf" --data "$d" || { ko "storage server" "$(cat "$tmp/server.log")"; return; }
	[ ! -e "$d/77777.pcapng" ] && [ ! -e "$d/new.pcapng" ] && [ ! -e "$d/new-Ab3xYz.pcapng" ] || bad+=" stray files kept"
	[ -e "$d/new-Young1.pcapng" ] || bad+=" a young starting file removed"
	rm -f "$d/new-Young1.pcapng"
	call "$alice" GET "/captures/$id" > /dev/null
	[ "$(field file_lost)" = True ] || bad+=" file not marked lost:$(cat "$tmp/body")"
	st=$(call "$alice" GET "/captures/$id/pcap"); [ "$st" = 410 ] || bad+=" lost pcap:$st"
	call "$alice" GET "/captures/$old" > /dev/null
	[ "$(field file_lost)" = False ] || bad+=" old lost"
	blast() { inb python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3500):
    s.sendto(b"x" * 1400, ("10.98.0.1", 5001))
    if i % 50 == 0: time.sleep(0.005)'; }
	# the organization's storage bounds a capture
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 5001","duration":60}')
	id=$(field id)
	sleep 0.5; blast
	wait_state "$id" done 20 || bad+=" quota capture did not end"
	[ "$(field ended_by)" = quota ] && [ "$(field stored)" -gt 3000000 ] && [ "$(field stored)" -lt 3300000 ] ||
		bad+=" quota end:$(field ended_by) $(field stored)"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp","duration":5}')
	[ "$st" = 507 ] && [[ $(field error) == *"(org_storage_max_mib = 3): delete captures to make room" ]] ||
		bad+=" over quota:$st $(cat "$tmp/body")"
	st=$(call "$bob" DELETE "/captures/$id"); [ "$st" = 404 ] || bad+=" bob deletes:$st"
	st=$(call "$alice" DELETE "/captures/$id")
	[ "$st" = 200 ] && [ "$(field deleted)" = "$id" ] && [ ! -e "$d/$id.pcapng" ] || bad+=" delete:$st"
	st=$(call "$alice" GET "/captures/$id"); [ "$st" = 404 ] || bad+=" deleted still there:$st"
	# a running capture is stopped, not deleted
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 5001","duration":60}')
	id=$(field id)
	st=$(call "$alice" DELETE "/captures/$id")
	[ "$st" = 409 ] && [[ $(field error) == *"is running: stop it first"* ]] || bad+=" delete running:$st"
	call "$alice" POST "/captures/$id/stop" > /dev/null
	wait_state "$id" done 10 || bad+=" stop"
	call "$alice" DELETE "/captures/$id" > /dev/null
	# the data directory's reserve, and a disk that fills mid-capture
	fallocate -l $(( $(df -B1 --output=avail "$d" | tail -1) - (1 << 19) )) "$d/filler"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp","duration":5}')
	[ "$st" = 507 ] && [[ $(field error) == *"(data_reserve_mib = 1)" ]] || bad+=" reserve:$st $(cat "$tmp/body")"
	rm "$d/filler"
	fallocate -l $(( $(df -B1 --output=avail "$d" | tail -1) - (5 << 18) )) "$d/filler"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 5001","duration":60}')
	id2=$(field id)
	sleep 0.5; blast
	wait_state "$id2" done 20 || bad+=" full disk capture did not end"
	[ "$(field ended_by)" = error ] && [ "$(field error)" = "writing the capture: No space left on device" ] ||
		bad+=" full disk:$(field ended_by) $(field error)"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp","duration":5}')
	[ "$st" = 507 ] || bad+=" after full:$st"
	rm "$d/filler"
	call "$alice" DELETE "/captures/$id2" > /dev/null
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 5001","duration":1}')
	id=$(field id)
	[ "$st" = 201 ] && wait_state "$id" done 10 || bad+=" room again:$st"
	# retention: one ended two days ago goes at start, the recent one stays
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	regsql "UPDATE captures SET ended = $(($(date +%s) - 2 * 86400)) WHERE id = $old"
	server_start -c "$tmp/storage.conf" --data "$d" || bad+=" restart"
	st=$(call "$alice" GET "/captures/$old"); [ "$st" = 404 ] || bad+=" expired kept:$st"
	st=$(call "$alice" GET "/captures/$id"); [ "$st" = 200 ] && [ -e "$d/$id.pcapng" ] || bad+=" recent gone:$st"
	grep -q "retention: 1 capture(s) older than 1 days removed" "$tmp/server.log" || bad+=" no retention log"
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	umount "$d"
	server_start
	[ -z "$bad" ] && ok "storage: quota (507, ended by quota), DELETE, reserve, a full disk fails the capture, retention, start-up reconciliation" ||
		ko "storage" "$bad"
}

# A special server for one test, in B: its log in $tmp/NAME.log; the pid in
# $special_pid once it serves; with special_nofile set, that descriptor
# limit (soft and hard). Stopped by special_stop.
special_start() { # NAME ARGS...
	local log=$tmp/$1.log
	shift
	mkdir -p "$tmp/data-special"
	: > "$log"
	ip netns exec "$B" ${special_nofile:+prlimit --nofile=$special_nofile} \
		"$server" --db "$db" --data "$tmp/data-special" "$@" 2>> "$log" &
	special_pid=$!
	for _ in $(seq 100); do grep -q "serving on" "$log" && return 0; sleep 0.05; done
	return 1
}

special_stop() { # PID
	kill -TERM "$1" 2> /dev/null && wait_gone "$1" 10
}

# The slowest of 5 GETs of URL (curl ARGS...), in seconds.
slowest() {
	local i
	for i in 1 2 3 4 5; do
		inb curl -sS -o /dev/null --max-time 5 -w '%{time_total}\n' "$@" || echo 99
	done | sort -g | tail -1
}

# PID: its CPU time so far, user and system, in hundredths of a second
cpu_ticks() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 100 / hz) }' "/proc/$1/stat"; }

# Connections past the descriptor limit made h2o's accept loop spin, and
# requests time out. A server with 200 descriptors (68 connections: half of
# what is left past 64) and 16 connections an address: an address's excess
# is closed at once; idle connections past the cap make room for new ones;
# busy ones (a body under way) pause the listener until one closes. The
# loop never spins, and a GET from elsewhere is answered.
test_conn_limits() {
	local conf=$tmp/limits.conf pid out h c t0 t1 lat bad='' a='' hold
	local url=http://127.0.0.1:8006/healthz
	hold=$(dirname "$0")/hold_conns.py
	local m=http://127.0.0.1:9106/metrics start=$SECONDS
	printf 'plain_http = yes\nlisten = 127.0.0.1:8006\nconnections_per_address_max = 16\nmetrics_listen = 127.0.0.1:9106\n' > "$conf"
	special_nofile=200 special_start limits -c "$conf" && pid=$special_pid ||
		{ ko "limits: server" "$(cat "$tmp/limits.log")"; return; }
	grep -q "serving on .*, at most 68 connections (16 from one address)$" "$tmp/limits.log" &&
		ok "connections: at most 68 with 200 descriptors, 16 from one address (logged)" ||
		ko "limits: log" "$(cat "$tmp/limits.log")"
	out=$(inb python3 "$hold" 127.0.0.1 8006 idle 1.5 127.0.0.2:24)
	[ "$out" = "127.0.0.2 open=16 closed=8 failed=0" ] &&
		ok "connections: 24 from one address, the 8 past 16 closed at once" ||
		ko "limits: per address" "$out"
	# 12 addresses x 16 idle: past the cap, and past the descriptors
	for c in $(seq 2 13); do a+=" 127.0.0.$c:16"; done
	inb python3 "$hold" 127.0.0.1 8006 idle 4 $a > "$tmp/limits-idle.out" &
	h=$!
	sleep 1.5
	t0=$(cpu_ticks "$pid"); sleep 1; t1=$(cpu_ticks "$pid")
	lat=$(slowest --interface 127.0.0.99 "$url")
	wait $h
	out=$(awk '{ split($2, o, "="); split($4, f, "="); n += o[2]; x += f[2]
		if (o[2] > 16) big++ } END { print n, x, big + 0 }' "$tmp/limits-idle.out")
	set -- $out
	[ "$1" -le 68 ] && [ "$2" = 0 ] && [ "$3" = 0 ] || bad+=" open/failed/over: $out;"
	[ $((t1 - t0)) -lt 30 ] || bad+=" CPU $((t1 - t0))% with 192 idle;"
	awk -v l="$lat" 'BEGIN { exit !(l < 0.5) }' || bad+=" GET took ${lat}s;"
	[ -z "$bad" ] &&
		ok "connections: 192 idle from 12 addresses: $1 kept, the oldest idle closed for new ones; CPU $((t1 - t0))%, a GET in ${lat}s" ||
		ko "limits: idle" "$bad $(tr '\n' ' ' < "$tmp/limits-idle.out")"
	# 80 bodies under way, from 5 addresses: the cap is full of busy ones
	bad=
	inb python3 "$hold" 127.0.0.1 8006 body 3 127.0.0.2:16 127.0.0.3:16 127.0.0.4:16 \
		127.0.0.5:16 127.0.0.6:16 > "$tmp/limits-body.out" &
	h=$!
	sleep 1.5
	t0=$(cpu_ticks "$pid"); sleep 1; t1=$(cpu_ticks "$pid")
	inb curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 8 \
		--interface 127.0.0.99 "$url" > "$tmp/limits-late" 2>&1 &
	c=$!
	wait $h
	wait $c
	read -r out lat < "$tmp/limits-late"
	[ $((t1 - t0)) -lt 30 ] || bad+=" CPU $((t1 - t0))% with the cap full;"
	[ "$out" = 200 ] && awk -v l="$lat" 'BEGIN { exit !(l < 3) }' || bad+=" GET: $out ${lat:-};"
	inb curl -sS "$m" > "$tmp/limits-metrics"
	grep -q '^edgecap_server_accept_paused_total{reason="full"} [1-9]' "$tmp/limits-metrics" ||
		bad+=" not paused;"
	[ -z "$bad" ] &&
		ok "connections: the cap full of busy ones pauses accepting (CPU $((t1 - t0))%); a GET waiting is answered when they go (${lat}s)" ||
		ko "limits: busy" "$bad"
	grep -q '^edgecap_server_connections_refused_total [8-9]' "$tmp/limits-metrics" &&
		grep -q '^edgecap_server_connections_shed_total [1-9]' "$tmp/limits-metrics" &&
		grep -q '^edgecap_server_connections [0-9]' "$tmp/limits-metrics" &&
		ok "connections: open, shed, refused and paused in /metrics" ||
		ko "limits: metrics" "$(grep connections "$tmp/limits-metrics")"
	c=$(grep -c 'connections open\|closed a connection\|accept:' "$tmp/limits.log")
	[ "$c" -ge 2 ] && [ "$c" -le $((SECONDS - start + 1)) ] &&
		ok "connections: refusals logged, $c lines in $((SECONDS - start)) s" ||
		ko "limits: log lines" "$c in $((SECONDS - start)) s: $(tail -5 "$tmp/limits.log")"
	special_stop "$pid"
}

# HTTP/2 "rapid reset": a client opening and resetting streams as fast as it
# can held h2o 2.2's loop, which bounds neither. The server speaks HTTP/1.1
# only, over plain HTTP (no prior knowledge, no Upgrade: h2c) and over TLS
# (ALPN), so such a client gets nowhere, and others are served meanwhile.
test_rapid_reset() {
	local plain tlsp m port url lat out bad=
	special_start rr-plain --plain-http --listen 127.0.0.1:8005 && plain=$special_pid &&
		special_start rr-tls --listen 127.0.0.1:8446 --tls-cert "$tls/srv.pem" \
			--tls-key "$tls/srv.key" && tlsp=$special_pid ||
		{ ko "rapid reset: servers" "$(cat "$tmp"/rr-*.log)"; special_stop "${plain:-}"; return; }
	for m in plain tls; do
		port=8005 url=http://127.0.0.1:8005/healthz
		[ $m = tls ] && port=8446 url=https://127.0.0.1:8446/healthz
		inb python3 "$(dirname "$0")/rapid_reset.py" 127.0.0.1 $port $m 3 > "$tmp/rr-$m.out" &
		local client=$!
		sleep 0.5
		lat=$(slowest -k "$url")
		wait $client
		out=$(cat "$tmp/rr-$m.out")
		[[ $out == *" first=HTTP/1 "*" h2=0" ]] || bad+=" $m: $out;"
		[ $m = tls ] && [[ $out != "alpn=none "* ]] && bad+=" $m alpn: $out;"
		awk -v l="$lat" 'BEGIN { exit !(l < 0.5) }' || bad+=" $m: a GET took ${lat}s meanwhile;"
	done
	[ -z "$bad" ] && ok "rapid reset: no HTTP/2 in plain or TLS (no SETTINGS, no ALPN h2); GETs meanwhile under 0.5 s" ||
		ko "rapid reset" "$bad"
	bad=
	out=$(inb curl -sS -o /dev/null -w '%{http_version}' --max-time 5 --http2-prior-knowledge \
		http://127.0.0.1:8005/healthz 2>&1)
	[[ $out != 2* ]] || bad+=" prior knowledge: $out;"
	out=$(inb curl -sS -o /dev/null -w '%{http_version} %{http_code}' --max-time 5 --http2 \
		http://127.0.0.1:8005/healthz 2>&1)
	[ "$out" = "1.1 200" ] || bad+=" h2c upgrade: $out;"
	out=$(inb curl -sS -k -o /dev/null -w '%{http_version} %{http_code}' --max-time 5 --http2 \
		https://127.0.0.1:8446/healthz 2>&1)
	[ "$out" = "1.1 200" ] || bad+=" ALPN h2,http/1.1: $out;"
	[ -z "$bad" ] && ok "curl asking for HTTP/2 (prior knowledge, h2c, ALPN) gets HTTP/1.1" ||
		ko "curl http2" "$bad"
	special_stop "$plain"
	special_stop "$tlsp"
}

# Hostile devices (an address an administrator controls, or a device
# taken over): one answers with endless sections, one with 255 interfaces,
# one with a block that says 16 MiB and never ends. Each is failed with
# the bound it broke; the capture goes on with gw1's packets; the server's
# memory stays bounded and another organization's requests keep their
# latency meanwhile.
test_hostile_device() {
	local bad= st id rss=0 r lat=0 l t0 hp
	cat > "$tmp/hostile.py" <<'PY'
import socket, struct, threading
def block(t, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", t, n) + body + struct.pack("<I", n)
shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
idb = block(1, struct.pack("<HHI", 1, 0, 262144))
def serve(c, mode):
    try:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-pcapng\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = lambda b: c.sendall(b"%x\r\n" % len(b) + b + b"\r\n")
        if mode == "sections":
            while True:
                chunk(shb + idb * 8)
        if mode == "interfaces":
            while True:
                chunk(shb + idb * 255)
        chunk(shb + idb + struct.pack("<II", 6, 16 << 20))
        while True:
            chunk(b"\0" * 65536)
    except OSError:
        c.close()
def listen(port, mode):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.98.0.1", port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, mode), daemon=True).start()
threading.Thread(target=listen, args=(8011, "sections"), daemon=True).start()
threading.Thread(target=listen, args=(8013, "interfaces"), daemon=True).start()
listen(8012, "block")
PY
	ina python3 "$tmp/hostile.py" &
	hp=$!
	# listening on all three (python's start is slow on a busy machine)
	for _ in $(seq 100); do
		[ "$(ina ss -Hltn | grep -c ':801[123] ')" = 3 ] && break
		sleep 0.1
	done
	call "$alice" POST /devices '{"name":"evil1","serial":"SN-evil1","address":"http://10.98.0.1:8011"}' > /dev/null
	call "$alice" POST /devices '{"name":"evil2","serial":"SN-evil2","address":"http://10.98.0.1:8012"}' > /dev/null
	call "$alice" POST /devices '{"name":"evil3","serial":"SN-evil3","address":"http://10.98.0.1:8013"}' > /dev/null
	st=$(call "$alice" POST /captures '{"devices":["gw1","evil1","evil2","evil3"],"expression":"udp port 5001","duration":4}')
	id=$(field id)
	[ "$st" = 201 ] || bad+=" start:$st"
	sleep 0.5
	send_udp 20 &
	local sp=$!
	for _ in $(seq 20); do
		r=$(awk '/VmRSS/ { print $2 }' "/proc/$server_pid/status")
		[ "$r" -gt "$rss" ] && rss=$r
		t0=$(date +%s%N)
		[ "$(call "$bob" GET /devices)" = 200 ] || bad+=" bob"
		l=$(( ($(date +%s%N) - t0) / 1000000 ))
		[ "$l" -gt "$lat" ] && lat=$l
		sleep 0.1
	done
	wait "$sp"
	kill "$hp" 2> /dev/null
	wait_state "$id" done 15 || bad+=" did not end"
	python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
d = {x["device"]: x for x in c["devices"]}
assert d["gw1"]["state"] == "done" and d["gw1"]["packets"] == 10, d["gw1"]
assert d["evil1"]["state"] == "failed" and "more than 1 sections" in d["evil1"]["error"], d["evil1"]
assert d["evil2"]["state"] == "failed" and "this stream may send" in d["evil2"]["error"], d["evil2"]
assert d["evil3"]["state"] == "failed" and "more than 32 interfaces" in d["evil3"]["error"], d["evil3"]
assert c["stored"] < 4 << 20, c["stored"]' "$tmp/body" 2> "$tmp/hostile.err" || bad+=" $(tail -1 "$tmp/hostile.err")"
	[ "$rss" -lt 400000 ] || bad+=" server at ${rss} KiB"
	[ "$lat" -lt 1000 ] || bad+=" another organization waited ${lat} ms"
	# asked for their status, they answer without end: cut at the bound
	for n in evil1 evil2; do
		for _ in $(seq 150); do
			call "$alice" GET "/devices/$n" > /dev/null
			[ "$(field report_error)" != None ] && break
			sleep 0.1
		done
		[ "$(field report_error)" = "the agent's status is longer than 262144 bytes" ] ||
			bad+=" $n's status: $(field report_error)"
	done
	for n in evil1 evil2 evil3; do call "$alice" DELETE "/devices/$n" > /dev/null; done
	[ -z "$bad" ] && ok "hostile devices failed with the bound they broke (their status cut at 256 KiB too), the capture went on (server ${rss} KiB at most, another organization's requests under ${lat} ms)" ||
		ko "hostile devices" "$bad"
}

# A capture of two link types: a device that streams raw IP (LINKTYPE_RAW)
# next to gw1's Ethernet. Its text, live and from the finished file (which
# one printer cannot read: it is read again as a stream, the lines already
# sent printed quietly), has each packet once, decoded for its link type
# as tcpdump decodes it.
test_text_link_types() {
	local bad= st id rp
	cat > "$tmp/rawdev.py" <<'PY'
import socket, struct, sys, time
def block(t, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", t, n) + body + struct.pack("<I", n)
def icmp(seq):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x77, seq) + bytes(56)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), seq, 0, 64, 1, 0,
                       bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])) + body
pkts = [icmp(i) for i in range(1, 6)]
hdr = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 101)
open(sys.argv[1], "wb").write(hdr + b"".join(
    struct.pack("<IIII", 0, 0, len(p), len(p)) + p for p in pkts))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.98.0.1", 8014))
s.listen(4)
while True:  # the capture's request; anything else is not found
    c, _ = s.accept()
    if b"/v1/capture" in c.recv(65536):
        break
    c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    c.close()
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-pcapng\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n")
chunk = lambda b: c.sendall(b"%x\r\n" % len(b) + b + b"\r\n")
chunk(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) +
      block(1, struct.pack("<HHI", 101, 0, 262144)))
for p in pkts:
    time.sleep(0.3)
    us = int(time.time() * 1e6)
    chunk(block(6, struct.pack("<IIIII", 0, us >> 32, us & 0xffffffff, len(p), len(p)) + p))
c.sendall(b"0\r\n\r\n")
time.sleep(1)
PY
	ina python3 "$tmp/rawdev.py" "$tmp/raw.pcap" 2> "$tmp/rawdev.err" &
	rp=$!
	for _ in $(seq 100); do ina ss -ltn | grep -q ':8014 ' && break; sleep 0.1; done
	call "$alice" POST /devices '{"name":"rawdev","serial":"SN-rawdev","address":"http://10.98.0.1:8014"}' > /dev/null
	st=$(call "$alice" POST /captures '{"devices":["gw1","rawdev"],"expression":"udp port 5001","duration":4}')
	id=$(field id)
	[ "$st" = 201 ] || bad+=" start:$st"
	inb curl -sS -o "$tmp/live.txt" -H "Authorization: Bearer $alice" "$api/captures/$id/text" &
	local lp=$!
	sleep 0.3
	send_udp 10 &
	local sp=$!
	wait "$sp"
	wait_state "$id" done 15 || bad+=" did not end"
	wait_gone "$lp" 10 || bad+=" live text did not end"
	wait_gone "$rp" 5 || kill "$rp" 2> /dev/null
	call "$alice" GET "/captures/$id" > /dev/null
	# (no end statistics, which the agent sends: failed, with its 5 packets)
	grep -A5 '"device": "rawdev"' "$tmp/body" | grep -q '"packets": 5' ||
		bad+=" rawdev: $(grep -A3 '"device": "rawdev"' "$tmp/body" | tr -d '\n') $(cat "$tmp/rawdev.err")"
	call "$alice" GET "/captures/$id/text" > /dev/null
	cp "$tmp/body" "$tmp/file.txt"
	tcpdump -nn -tt -r "$tmp/raw.pcap" 2> /dev/null | cut -d' ' -f2- > "$tmp/raw.want"
	local got
	for f in live file; do
		got=$(grep '^rawdev ' "$tmp/$f.txt" | cut -d' ' -f3-)
		[ "$got" = "$(cat "$tmp/raw.want")" ] && [ "$(grep -c . "$tmp/raw.want")" = 5 ] ||
			bad+=" $f: rawdev's lines: $(echo "$got" | head -2 | tr '\n' '|')"
		[ "$(grep -c '^gw1 [0-9.]* IP 10.98.0.2\.[0-9]* > 10.98.0.1.5001: UDP, length' "$tmp/$f.txt")" = 5 ] ||
			bad+=" $f: gw1's lines: $(grep -c '^gw1 ' "$tmp/$f.txt")"
		[ "$(grep -c . "$tmp/$f.txt")" = 10 ] || bad+=" $f: $(grep -c . "$tmp/$f.txt") lines: $(tail -1 "$tmp/$f.txt")"
	done
	cmp -s "$tmp/live.txt" "$tmp/file.txt" || bad+=" live and file differ"
	call "$alice" DELETE /devices/rawdev > /dev/null
	[ -z "$bad" ] && ok "text of two link types: raw IP and Ethernet each as tcpdump prints it, live and from the file, each packet once" ||
		ko "text link types" "$bad"
}

run_tests after test_paths test_compile_offloop test_limits test_pages test_capture_ends \
	test_hostile_device test_text_link_types test_reach test_storage test_conn_limits test_rapid_reset test_registry_disk
st=$?
env_stop || exit 1
exit $st
