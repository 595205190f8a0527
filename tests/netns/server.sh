#!/usr/bin/env bash
# server.sh SERVER AGENT EDGECAP - edgecap-server with a real SQLite registry
# in B, two agents as devices (gw1 in A on va, gw2 in B on vb, so a packet
# from B to A is seen by both), driven through the admin API with curl and
# through `edgecap remote`: registry bootstrap, tokens, tenant isolation on
# every endpoint, paths matched exactly, bad input, merged and de-duplicated
# captures of real traffic, a device killed mid-capture or unreachable, a
# reader that leaves, Ctrl-C, the text output against tcpdump, HTTPS to
# devices, the server's own health and metrics. What one tenant could do to
# the others (and the bounds that stop it) is abuse.sh's.
set -uo pipefail
server=$1
agent=$2
ec=$3
suite=srv
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/server_env.sh"

test_bootstrap() {
	local out st
	out=$("$server" --db "$db" org add acme 2>&1); st=$?
	[ $st = 1 ] && [ "$out" = "edgecap-server: error: organization 'acme' exists" ] &&
		ok "org add: an existing name refused" || ko "org exists" "$st $out"
	out=$("$server" --db "$db" admin add nosuch eve 2>&1); st=$?
	[ $st = 1 ] && [ "$out" = "edgecap-server: error: no organization 'nosuch'" ] &&
		ok "admin add: unknown organization refused" || ko "admin unknown org" "$st $out"
	[[ $alice =~ ^[0-9a-f]{64}$ ]] && ! grep -qa "$alice" "$db" &&
		ok "token: 32 random bytes in hex, not stored in the registry" || ko "token stored"
	grep -q "(schema 12)" "$tmp/server.log" && ok "registry migrated to schema 12" ||
		ko "schema" "$(head -1 "$tmp/server.log")"
	# a user: a one-time password printed, only its argon2id hash kept
	local pw
	out=$("$server" --db "$db" user add acme Olivia@Example.com --role operator 2> /dev/null); st=$?
	pw=$(sed -n 's/^one-time password: //p' <<< "$out")
	[ $st = 0 ] && [[ $pw =~ ^[a-zA-Z3-9]{16}$ ]] && ! grep -qa "$pw" "$db" "$db-wal" 2> /dev/null &&
		grep -q "^user Olivia@Example.com (operator) in acme$" <<< "$out" &&
		ok "user add: a one-time password printed, not stored" || ko "user add" "$st $out"
	out=$("$server" --db "$db" user add acme olivia@example.COM --role viewer 2>&1); st=$?
	[ $st = 1 ] && grep -q "with email 'olivia@example.COM' exists" <<< "$out" &&
		ok "user add: an email taken (in any case) refused" || ko "user add twice" "$st $out"
	out=$("$server" --db "$db" user add acme x@example.com --role root 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap-server: error: --role: want owner, operator or viewer, not 'root'" ] &&
		ok "user add: an unknown role refused" || ko "user add role" "$st $out"
	out=$("$server" --db "$db" user add acme nobody --role viewer 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap-server: error: email 'nobody': want an address such as name@example.com" ] &&
		ok "user add: a malformed email refused" || ko "user add email" "$st $out"
}

test_tokens() {
	local st p bad=
	for p in "GET /devices" "POST /devices" "GET /devices/gw1" "DELETE /devices/gw1" \
		"POST /filters/compile" "GET /captures" "POST /captures" "GET /captures/1" \
		"DELETE /captures/1" "POST /captures/1/stop" "GET /captures/1/pcap" "GET /captures/1/text"; do
		set -- $p
		st=$(inb curl -sS -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -X "$1" "$api$2")
		[ "$st" = 401 ] && grep -qi '^WWW-Authenticate: Bearer' "$tmp/head" || bad+=" $p:$st"
		st=$(call "0000$alice" "$1" "$2" '{}')
		[ "$st" = 401 ] && [ "$(field error)" = "unknown token" ] || bad+=" $p(bad token):$st"
	done
	[ -z "$bad" ] && ok "no token or a wrong one: 401 on every endpoint" || ko "tokens" "$bad"
}

test_tenants() {
	local bad= st id
	# bob's view: only globex's device, none of acme's
	call "$bob" GET /devices > /dev/null
	[ "$(field 0 name)" = gx1 ] && [ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/body")" = 1 ] || bad+=" list"
	st=$(call "$bob" GET /devices/gw1); [ "$st" = 404 ] || bad+=" get:$st"
	st=$(call "$bob" DELETE /devices/gw1); [ "$st" = 404 ] || bad+=" delete:$st"
	st=$(call "$bob" POST /captures '{"devices":["gw1"],"expression":"udp","duration":1}')
	[ "$st" = 400 ] && [ "$(field error)" = "devices: no device 'gw1'" ] || bad+=" capture:$st"
	# an acme capture that bob cannot see, follow or stop
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 7","duration":2}')
	id=$(field id)
	st=$(call "$bob" GET /captures); [ "$st" = 200 ] && ! grep -q '"id"' "$tmp/body" || bad+=" captures"
	for p in "GET /captures/$id" "DELETE /captures/$id" "POST /captures/$id/stop" "GET /captures/$id/pcap" "GET /captures/$id/text"; do
		set -- $p
		st=$(call "$bob" "$1" "$2"); [ "$st" = 404 ] || bad+=" $p:$st"
	done
	# and the reverse: alice cannot see globex's device
	st=$(call "$alice" GET /devices/gx1); [ "$st" = 404 ] || bad+=" reverse:$st"
	wait_state "$id" done 10 || bad+=" acme's capture did not end"
	[ -z "$bad" ] && ok "tenants: another organization's devices and captures are not found, on every endpoint" ||
		ko "tenant isolation" "$bad"
}

test_bad_input() {
	local bad= st
	st=$(call "$alice" POST /captures '{"devices":["gw1"],'); [ "$st" = 400 ] && [[ $(field error) == "invalid JSON"* ]] || bad+=" json:$st"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"colour":1}'); [ "$st" = 400 ] && [ "$(field error)" = "unknown field 'colour'" ] || bad+=" field:$st"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port"}')
	[ "$st" = 400 ] && [ "$(field error)" = "expression: can't parse filter expression: syntax error" ] || bad+=" expr:$st $(cat "$tmp/body")"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"snaplen":0}'); [ "$st" = 400 ] && [[ $(field error) == snaplen* ]] || bad+=" snaplen:$st"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"duration":0}'); [ "$st" = 400 ] && [ "$(field error)" = "duration: want an integer from 1 to 86400" ] || bad+=" duration0:$st"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"duration":86401}'); [ "$st" = 400 ] && [[ $(field error) == duration* ]] || bad+=" duration:$st"
	st=$(call "$alice" POST /captures '{"devices":[],"expression":"udp"}'); [ "$st" = 400 ] || bad+=" nodev:$st"
	st=$(call "$alice" POST /captures '{"devices":["gw1","gw1"]}'); [ "$st" = 400 ] || bad+=" twice:$st"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"direction":"up"}'); [ "$st" = 400 ] || bad+=" dir:$st"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"interfaces":["va","any"]}'); [ "$st" = 400 ] && [ "$(field error)" = "interfaces: any (every interface, as tcpdump -i any) is given alone" ] || bad+=" any:$st $(cat "$tmp/body")"
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"interfaces":["any"],"expression":"ether host 1:2:3:4:5:6"}'); [ "$st" = 400 ] && [ "$(field error)" = "expression: ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel" ] || bad+=" any-ether:$st $(cat "$tmp/body")"
	st=$(call "$alice" POST /devices '{"name":"x y","serial":"s","address":"http://1.2.3.4:1"}'); [ "$st" = 400 ] || bad+=" name:$st"
	st=$(call "$alice" POST /devices '{"name":"gw9","serial":"SN-gw1","address":"http://10.98.0.1:1"}'); [ "$st" = 409 ] || bad+=" serial:$st"
	st=$(call "$alice" POST /devices '{"name":"gw9","serial":"s9","address":"ftp://x"}'); [ "$st" = 400 ] || bad+=" address:$st"
	st=$(call "$alice" PUT /captures '{}'); [ "$st" = 405 ] || bad+=" method:$st"
	st=$(call "$alice" GET /nothing); [ "$st" = 404 ] || bad+=" path:$st"
	st=$(call "$alice" GET /captures/x1); [ "$st" = 404 ] || bad+=" id:$st"
	# one kept-alive connection: a 400, then a good request on it
	inb curl -sS -o /dev/null -o "$tmp/body" -w '%{http_code} %{num_connects}\n' \
		-H "Authorization: Bearer $alice" --data-binary '{' "$api/captures" \
		--next -o /dev/null -o "$tmp/body2" -w '%{http_code} %{num_connects}\n' \
		-H "Authorization: Bearer $alice" "$api/devices" > "$tmp/codes"
	[ "$(cat "$tmp/codes" | tr '\n' ' ')" = "400 1 200 0 " ] || bad+=" keepalive:$(cat "$tmp/codes" | tr '\n' ' ')"
	[ -z "$bad" ] && ok "bad input: 4xx with a one-line reason (libpcap's for an expression); the connection goes on" ||
		ko "bad input" "$bad"
}

test_compile() {
	local st
	st=$(call "$alice" POST /filters/compile '{"expression":"tcp port 80 and host 10.1.2.3"}')
	field listing | sed '/^$/d' > "$tmp/ours"
	inb tcpdump -i lo -d 'tcp port 80 and host 10.1.2.3' > "$tmp/theirs" 2> /dev/null
	[ "$st" = 200 ] && [ -s "$tmp/theirs" ] && cmp -s "$tmp/ours" "$tmp/theirs" &&
		ok "filter compile: the listing is tcpdump -d's" || ko "compile" "$st $(diff "$tmp/ours" "$tmp/theirs" | head -3)"
	st=$(call "$alice" POST /filters/compile '{"expression":"port 99999"}')
	[ "$st" = 400 ] && [ "$(field error)" = "illegal port number 99999 > 65535" ] &&
		ok "filter compile: libpcap's message for a bad expression" || ko "compile error" "$st $(cat "$tmp/body")"
	# as tcpdump -y, for a capture of "any" (tcpdump -i any -d's listing)
	st=$(call "$alice" POST /filters/compile '{"expression":"inbound and udp","linktype":"LINUX_SLL2"}')
	field listing | sed '/^$/d' > "$tmp/ours"
	inb tcpdump -i any -d 'inbound and udp' > "$tmp/theirs" 2> /dev/null
	local lt="$st"
	st=$(call "$alice" POST /filters/compile '{"expression":"ether host 1:2:3:4:5:6","linktype":"LINUX_SLL2"}')
	lt+=" $st $(field error)"
	st=$(call "$alice" POST /filters/compile '{"expression":"udp","linktype":"PPP"}')
	lt+=" $st $(field error)"
	[ "$lt" = "200 400 ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel 400 linktype: EN10MB, RAW, LINUX_SLL or LINUX_SLL2" ] &&
		[ -s "$tmp/theirs" ] && cmp -s "$tmp/ours" "$tmp/theirs" &&
		ok "filter compile for LINUX_SLL2: tcpdump -i any -d's listing, libpcap's refusal of 'ether', an unknown type named" ||
		ko "compile linktype" "$lt $(diff "$tmp/ours" "$tmp/theirs" | head -3)"
	local long bad=
	long=$(printf '%*s' 16385 '' | tr ' ' x)
	st=$(call "$alice" POST /filters/compile "{\"expression\":\"$long\"}")
	[ "$st" = 400 ] && [ "$(field error)" = "expression: longer than 16384 bytes" ] || bad+=" compile:$st"
	st=$(call "$alice" POST /captures "{\"devices\":[\"gw1\"],\"expression\":\"$long\"}")
	[ "$st" = 400 ] && [ "$(field error)" = "expression: longer than 16384 bytes" ] || bad+=" capture:$st"
	[ -z "$bad" ] && ok "an expression over 16384 bytes: 400 naming the limit" ||
		ko "expression length" "$bad $(cat "$tmp/body")"
}

# The payloads ("seq N") of the UDP packets in a capture, one per line. As
# data: tshark would dissect a datagram by its source port too, which the
# sender's kernel picks at random, and 7 of the 28232 ports it picks from give
# the bytes to another dissector (34962 PROFINET, 37008 TZSP, ...: an empty
# line; 34980 EtherCAT: "q N"). Two empty lines in 200 packets (once in
# about 1100 runs) read as a payload twice and one missing.
payloads() {
	tshark -r "$1" -Y udp -T fields -e data.text -o data.show_as_text:TRUE \
		-d udp.port==5001,data 2> /dev/null
}

# Each interface block's name and the packets its ISB says the filter
# accepted, sorted, on one line ("NAME N NAME N ..."): the ISBs go out in the
# interfaces' order.
accepted() {
	paste -d ' ' <(capinfos "$1" | sed -n 's/^ *Name = //p') \
		<(python3 "$(dirname "$0")/isb.py" "$1" | sed -n 's/.* filteraccept=\([0-9]*\).*/\1/p') |
		sort | tr '\n' ' '
}

test_merged() {
	local out=$tmp/merged.pcapng st n
	(sleep 1; send_udp 400) &
	local sender=$!
	remote -d gw1,gw2 --duration 4 -w "$out" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $sender
	n=$(payloads "$out" | sort | uniq | wc -l)
	[ $st = 0 ] && [ "$(payloads "$out" | wc -l)" = 200 ] && [ "$n" = 200 ] &&
		ok "merged: every packet the client sent, exactly once (200 of 200)" ||
		ko "merged" "st=$st $(payloads "$out" | wc -l) packets, $n distinct; $(cat "$tmp/remote.err")"
	grep -q "^200 packets merged from 2 devices, 200 duplicates removed, 0 late$" "$tmp/remote.err" &&
		ok "merged: the copies seen by the second device removed and counted" ||
		ko "dup count" "$(cat "$tmp/remote.err")"
	capinfos -o "$out" | grep -q "Strict time order:   True" &&
		ok "merged: in timestamp order" || ko "order" "$(capinfos -o "$out")"
	capinfos "$out" | sed -n 's/^ *Name = //p' | sort -u | tr '\n' ' ' > "$tmp/names"
	[ "$(cat "$tmp/names")" = "gw1:va gw2:vb " ] &&
		ok "merged: interface blocks named DEVICE:IFACE" || ko "idb names" "$(cat "$tmp/names")"
	# the ISBs carry each device's counters: its filter took the 200 going
	# out of vb and coming into va. (Not which device's copies were kept:
	# the earlier stamped, and gw1 stamps a packet about a microsecond after
	# gw2, less than the two agents' clocks may differ.)
	[ "$(accepted "$out")" = "gw1:va 0 gw1:va 200 gw2:vb 0 gw2:vb 200 " ] &&
		[ "$(capinfos "$out" | grep -c 'Number of stat entries = 1')" = 4 ] &&
		ok "merged: one statistics block per interface" ||
		ko "isb" "$(accepted "$out"); $(capinfos "$out" | grep stat)"
}

# -i any on two devices: each streams LINUX_SLL2 (what the server compiled
# the filter for), the copies the second device saw removed although their
# cooked headers differ, the text as tcpdump's on the merged file but for
# the interface, which the server names from the record's interface block
# as a live tcpdump -i any on the device names it.
test_any() {
	local out=$tmp/any.pcapng st id td_a td_b
	ina tcpdump -i any -nn -tt -l udp port 5001 > "$tmp/any-live-a.txt" 2> "$tmp/any-live-a.err" &
	td_a=$!
	inb tcpdump -i any -nn -tt -l udp port 5001 > "$tmp/any-live-b.txt" 2> "$tmp/any-live-b.err" &
	td_b=$!
	for _ in $(seq 100); do
		grep -q listening "$tmp/any-live-a.err" && grep -q listening "$tmp/any-live-b.err" && break
		sleep 0.05
	done
	(sleep 1; send_udp 100) &
	local sender=$!
	remote -d gw1,gw2 -i any --duration 4 -w "$out" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $sender
	kill -INT $td_a $td_b; wait_gone $td_a 10; wait_gone $td_b 10
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	inb curl -sS -o "$tmp/any.txt" -H "Authorization: Bearer $alice" "$api/captures/$id/text"
	# the page's rows: each packet's line, as the text's
	inb timeout 20 curl -sS -N -H "Authorization: Bearer $alice" "$api/captures/$id/packets" |
		python3 -c 'import json, sys
for l in sys.stdin:
    if l.startswith("data: "):
        d = json.loads(l[6:])
        if "time" in d:
            print(d["device"], d["line"])
        elif "line" in d:
            print("more:", d["line"])' > "$tmp/any-rows.txt"
	# tcpdump -r names the header's interface index as the machine reading
	# the file knows it: "?" in a namespace of its own, which knows none;
	# there each record's interface goes, padded as tcpdump pads it
	ip netns add "$ns-r" && ip netns exec "$ns-r" tcpdump -nn -tt -r "$out" 2> /dev/null > "$tmp/any-td.txt"
	ip netns del "$ns-r"
	tshark -r "$out" -T fields -e frame.interface_name 2> /dev/null | sed 's/^[^:]*://' |
		paste -d'\t' - "$tmp/any-td.txt" |
		awk -F'\t' '{ n = $1; l = $2; if (sub(/^[0-9.]+ \?     /, "", l)) { split($2, t, " ")
			printf "%s %-5s %s\n", t[1], n, l } else print "unnamed: " $2 }' > "$tmp/any-named.txt"
	# each device's lines, without the time, are some of the lines a live
	# tcpdump -i any printed on that device
	local live=ok d f
	for d in gw1:a gw2:b; do
		f=$tmp/any-live-${d#*:}.txt
		[ "$(wc -l < "$f")" = 50 ] || live="${d%:*}: $(wc -l < "$f") lines live"
		[ -z "$(comm -23 <(sed -n "s/^${d%:*} [0-9.]* //p" "$tmp/any.txt" | sort) <(cut -d' ' -f2- "$f" | sort))" ] ||
			live="${d%:*}: $(comm -23 <(sed -n "s/^${d%:*} [0-9.]* //p" "$tmp/any.txt" | sort) <(cut -d' ' -f2- "$f" | sort) | head -1)"
	done
	[ $st = 0 ] && [ "$(payloads "$out" | wc -l)" = 50 ] && [ "$(payloads "$out" | sort -u | wc -l)" = 50 ] &&
		grep -q "^50 packets merged from 2 devices, 50 duplicates removed, 0 late$" "$tmp/remote.err" &&
		[ "$(capinfos -E "$out" | sed -n 's/^File encapsulation: *//p')" = "Linux cooked-mode capture v2" ] &&
		[ "$(capinfos "$out" | sed -n 's/^ *Name = //p' | sort -u | tr '\n' ' ')" = "gw1:va gw2:vb " ] &&
		[ "$(wc -l < "$tmp/any-td.txt")" = 50 ] && cmp -s <(cut -d' ' -f2- "$tmp/any.txt") "$tmp/any-named.txt" &&
		cmp -s "$tmp/any.txt" "$tmp/any-rows.txt" &&
		grep -q '^gw2 [0-9.]* vb    Out IP 10.98.0.2.[0-9]* > 10.98.0.1.5001: UDP, length' "$tmp/any.txt" &&
		[ "$live" = ok ] &&
		ok "-i any: LINUX_SLL2 from both devices, 50 of 50 once (50 copies removed), text as tcpdump -i any's on the device" ||
		ko "-i any" "st=$st $(payloads "$out" | wc -l) packets; $(cat "$tmp/remote.err"); $(capinfos -E "$out"); live: $live; $(diff <(cut -d' ' -f2- "$tmp/any.txt") "$tmp/any-named.txt" | head -3); rows: $(diff "$tmp/any.txt" "$tmp/any-rows.txt" | head -3)"
}

# Each device with interfaces of its own (-d gw1:va,gw2:vb), checked
# against what each reported: both captured on their own interface; one
# named that a device did not report is refused before anything starts,
# naming the device and what it has; a device's unknown field is refused.
test_device_interfaces() {
	local out=$tmp/own.pcapng st bad=
	for _ in $(seq 100); do # both have reported
		call "$alice" GET /devices/gw1 > /dev/null && [ "$(field interfaces 0 name 2> /dev/null)" = va ] &&
			call "$alice" GET /devices/gw2 > /dev/null && [ "$(field interfaces 0 name 2> /dev/null)" = vb ] && break
		sleep 0.1
	done
	(sleep 1; send_udp 40) &
	local sender=$!
	remote -d gw1:va,gw2:vb --duration 3 -w "$out" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $sender
	[ $st = 0 ] && [ "$(payloads "$out" | sort -u | wc -l)" = 20 ] &&
		[ "$(capinfos "$out" | sed -n 's/^ *Name = //p' | sort -u | tr '\n' ' ')" = "gw1:va gw2:vb " ] ||
		bad+=" own: st=$st $(payloads "$out" | sort -u | wc -l) $(cat "$tmp/remote.err");"
	# one device on any (cooked), the other on its Ethernet: both in one file
	(sleep 1; send_udp 40) &
	sender=$!
	remote -d gw1:any,gw2:vb --duration 3 -w "$out" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $sender
	[ $st = 0 ] && [ "$(payloads "$out" | sort -u | wc -l)" = 20 ] &&
		[ "$(capinfos -E "$out" | sed -n 's/^File encapsulation: *//p')" = "Per packet" ] ||
		bad+=" any+vb: st=$st $(payloads "$out" | sort -u | wc -l) $(capinfos -E "$out" | grep encaps) $(cat "$tmp/remote.err");"
	[ "$(call "$alice" POST /captures '{"devices":[{"name":"gw1","interfaces":["eth9"]},"gw2"],"expression":"udp"}')" = 409 ] &&
		[[ "$(field error)" == "interfaces: gw1 has no interface 'eth9' (it reported va, "*" s ago; asked again now: try again in a few seconds if it has one since)" ]] ||
		bad+=" eth9: $(cat "$tmp/body");"
	[ "$(call "$alice" POST /captures '{"devices":["gw1","gw2"],"interfaces":["vb"],"expression":"udp"}')" = 409 ] &&
		[[ "$(field error)" == "interfaces: gw1 has no interface 'vb' (it reported va, "* ]] ||
		bad+=" request's: $(cat "$tmp/body");"
	[ "$(call "$alice" POST /captures '{"devices":[{"name":"gw1","iface":["va"]}],"expression":"udp"}')" = 400 ] &&
		[ "$(field error)" = "devices: 'iface' is not a device's field (name, interfaces)" ] ||
		bad+=" field: $(cat "$tmp/body");"
	[ "$(call "$alice" POST /captures '{"devices":[{"name":"gx1","interfaces":["va"]}],"expression":"udp"}')" = 400 ] &&
		[ "$(field error)" = "devices: no device 'gx1'" ] || bad+=" other org: $(cat "$tmp/body");"
	[ "$(call "$alice" GET /captures?limit=1)" = 200 ] && [ "$(field 0 state)" != running ] || bad+=" a refused one ran;"
	[ -z "$bad" ] && ok "devices with interfaces of their own, checked against their reports (and refused in words)" ||
		ko "device interfaces" "$bad"
}

reported() { # DEVICE IF: until the device's report lists IF. The probe is a
	# capture on IF with a bad expression: 409 while the report has no IF
	# (and the server asks the device again), 400 for the expression once
	# it has; nothing starts either way
	for _ in $(seq 40); do
		[ "$(call "$alice" POST /captures "{\"devices\":[{\"name\":\"$1\",\"interfaces\":[\"$2\"]}],\"expression\":\"(\"}")" = 400 ] &&
			return 0
		sleep 0.25
	done
	return 1
}

test_device_killed() {
	local out=$tmp/killed.pcapng st id
	(sleep 1; send_udp 50; sleep 0.5; kill -9 "$gw1_pid"; sleep 0.5; send_udp 50) &
	local sender=$!
	remote -d gw1,gw2 --duration 4 -w "$out" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $sender
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	call "$alice" GET "/captures/$id" > /dev/null
	[ $st = 1 ] && grep -q "^device gw1 failed: " "$tmp/remote.err" &&
		[ "$(field devices 0 state)" = failed ] && [ "$(field devices 1 state)" = done ] &&
		[ "$(payloads "$out" | sort -u | wc -l)" = 25 ] && [ "$(payloads "$out" | wc -l)" = 50 ] &&
		ok "a device killed mid-capture: reported failed ($(field devices 0 error)), the other's packets go on" ||
		ko "killed device" "st=$st $(cat "$tmp/remote.err") $(payloads "$out" | wc -l) $(cat "$tmp/body")"
	agent_start gw1 "$A" va 10.98.0.1:8080 || ko "gw1 restart" "$(cat "$tmp/gw1.log")"
}

test_unreachable() {
	local st
	(sleep 1; send_udp 10) &
	local sender=$!
	remote -d gw2,gw3 --duration 2 -w "$tmp/u.pcapng" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $sender
	grep -q "^device gw3 failed: connecting to http://10.98.0.1:9: connection failure" "$tmp/remote.err" &&
		[ $st = 1 ] && [ "$(payloads "$tmp/u.pcapng" | wc -l)" = 5 ] &&
		ok "an unreachable device: reported, the capture goes on with the others, exit 1" ||
		ko "unreachable" "st=$st $(cat "$tmp/remote.err")"
}

test_refused() {
	local st
	# a device whose agent does not know its secret: the agent's 403 reason
	call "$alice" POST /devices '{"name":"gw4","serial":"SN-gw4","address":"http://10.98.0.1:8080"}' > /dev/null
	remote -d gw4 --duration 1 -w /dev/null udp 2> "$tmp/remote.err"
	grep -q "^device gw4 failed: HTTP 403: bad signature$" "$tmp/remote.err" &&
		ok "a device that refuses: its reason reported" || ko "refused" "$(cat "$tmp/remote.err")"
	# tcpdump's -G rotates: remote's time limit is --duration, and -G says so
	remote -d gw4 -G 1 -w /dev/null udp 2> "$tmp/remote.err"; st=$?
	[ "$st" = 2 ] && grep -q -- "-G rotates files in tcpdump; a time limit is --duration" "$tmp/remote.err" &&
		ok "remote -G: refused with the option to use" || ko "remote -G" "st=$st $(cat "$tmp/remote.err")"
}

test_reader_leaves() {
	local id pid st
	st=$(call "$alice" POST /captures '{"devices":["gw1","gw2"],"expression":"udp"}')
	id=$(field id)
	ip netns exec "$B" curl -sS -N -o /dev/null -H "Authorization: Bearer $alice" "$api/captures/$id/pcap" &
	pid=$!
	sleep 1
	[ "$(agent_captures gw1 http://10.98.0.1:8080)$(agent_captures gw2 http://10.98.0.2:8081)" = 11 ] || ko "not started"
	kill "$pid"
	wait_state "$id" done 3 && sleep 0.5 &&
		[ "$(agent_captures gw1 http://10.98.0.1:8080)$(agent_captures gw2 http://10.98.0.2:8081)" = 00 ] &&
		ok "the last reader leaves: the capture stops and the devices' sessions end" ||
		ko "reader leaves" "$(cat "$tmp/body")"
}

# The page's packet events come back by themselves after a drop
# (EventSource): the capture waits 15 s for a reader before it stops.
test_rows_reader_back() {
	local id pid bad=
	call "$alice" POST /captures '{"devices":["gw1","gw2"],"expression":"udp"}' > /dev/null
	id=$(field id)
	ip netns exec "$B" curl -sS -N -o /dev/null -H "Authorization: Bearer $alice" "$api/captures/$id/packets" &
	pid=$!
	sleep 1
	kill "$pid"; wait "$pid" 2> /dev/null
	sleep 4 # the drop noticed, and more than EventSource's 3 s
	call "$alice" GET "/captures/$id" > /dev/null
	[ "$(field state)" = running ] || bad+=" stopped when the events dropped: $(field ended_by);"
	ip netns exec "$B" curl -sS -N -o "$tmp/back.ev" -H "Authorization: Bearer $alice" -H 'Last-Event-ID: 0' \
		"$api/captures/$id/packets" &
	pid=$!
	sleep 1
	kill "$pid"; wait "$pid" 2> /dev/null
	local t0=$SECONDS
	wait_state "$id" done 25 || bad+=" still running 25 s after its last reader left;"
	[ "$(field ended_by)" = "reader left" ] && [ $((SECONDS - t0)) -ge 13 ] ||
		bad+=" ended by '$(field ended_by)' after $((SECONDS - t0)) s;"
	[ -z "$bad" ] && ok "the page's packet events dropped: the capture waits for them to come back, and stops 15 s after the last went ($((SECONDS - t0)) s)" ||
		ko "packet events back" "$bad"
}

test_interrupt() {
	local out=$tmp/int.pcapng pid st
	ip netns exec "$B" env EDGECAP_SERVER=http://127.0.0.1:8000 EDGECAP_TOKEN="$alice" \
		"$ec" remote -d gw1,gw2 -w "$out" udp port 5001 2> "$tmp/remote.err" &
	pid=$!
	sleep 1; send_udp 20; sleep 0.5
	kill -INT "$pid"
	wait_gone "$pid" 5; st=$?
	# each device ended its session as at a limit: its counters are in the ISBs
	"$(dirname "$0")/isb.py" "$out" > "$tmp/isb"
	[ $st = 0 ] && [ "$(payloads "$out" | wc -l)" = 10 ] &&
		[ "$(grep -c 'ifdrop=0 filteraccept=[0-9]* .*osdrop=0' "$tmp/isb")" = 4 ] &&
		! grep -aq 'before the device sent its statistics' "$out" &&
		grep -q "^10 packets merged from 2 devices, 10 duplicates removed" "$tmp/remote.err" &&
		ok "Ctrl-C: the capture stops on the server, the devices end their sessions, the file ends complete with their statistics" ||
		ko "interrupt" "st=$st $(cat "$tmp/remote.err" "$tmp/isb")"
}

test_count() {
	local out=$tmp/count.pcapng st
	# each device sees its own 20 (ingress only: B to A on gw1, A to B on gw2),
	# so the merged count of 25 is reached on the server first
	(sleep 1; send_udp 40
	 # shellcheck disable=SC2016
	 ina bash -c 'for i in $(seq 20); do printf "back %d" $i > /dev/udp/10.98.0.2/5001; done') &
	local sender=$!
	remote -d gw1,gw2 -Q in -c 25 -w "$out" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $sender
	"$(dirname "$0")/isb.py" "$out" > "$tmp/isb"
	[ $st = 0 ] && [ "$(payloads "$out" | wc -l)" = 25 ] &&
		[ "$(wc -l < "$tmp/isb")" -ge 2 ] && ! grep -qv 'filteraccept=' "$tmp/isb" &&
		grep -q "^25 packets merged from 2 devices, 0 duplicates removed" "$tmp/remote.err" &&
		ok "count: the merged capture stops at exactly 25; the devices end their sessions with their statistics" ||
		ko "count" "st=$st $(payloads "$out" | wc -l) $(cat "$tmp/remote.err" "$tmp/isb")"
	call "$alice" GET "/captures/$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")" > /dev/null
	[ "$(field ended_by)" = count ] && ok "count: the capture says the count ended it" ||
		ko "count: ended_by" "$(cat "$tmp/body")"
}

test_late_reader() {
	local id
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	inb curl -sS -o "$tmp/again.pcapng" -H "Authorization: Bearer $alice" "$api/captures/$id/pcap"
	cmp -s "$tmp/again.pcapng" "$tmp/int.pcapng" &&
		ok "a finished capture read again: the same bytes" || ko "late reader"
}

test_list() {
	inb env EDGECAP_SERVER=http://127.0.0.1:8000 EDGECAP_TOKEN="$alice" "$ec" captures > "$tmp/list"
	inb env EDGECAP_SERVER=http://127.0.0.1:8000 EDGECAP_TOKEN="$alice" "$ec" devices > "$tmp/devs"
	grep -q "^[0-9]* *done .* gw1,gw2 'udp port 5001'$" "$tmp/list" &&
		grep -q "^gw1 *SN-gw1 *http://10.98.0.1:8080 *6\.[0-9.]* *direct *yes *20" "$tmp/devs" &&
		ok "edgecap captures and devices list state and last seen" || ko "list" "$(cat "$tmp/list" "$tmp/devs")"
}

# Each device's agent is asked for its status: the device's own words in
# the API (agent, kernel, interfaces with MAC and addresses, its clock
# against the server's); a device that stops answering is offline after
# three intervals, since then, with the reason, its last report kept; back
# online when it answers again.
test_reports() {
	local bad= st mac
	mac=$(ina cat /sys/class/net/va/address)
	# every 2 s (the agents started after the server: the first asks failed)
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	server_start --report-interval 2 || bad+=" no restart;"
	for _ in $(seq 100); do
		call "$alice" GET /devices/gw1 > /dev/null
		[ "$(field state)" = online ] && break
		sleep 0.1
	done
	python3 - "$tmp/body" "$("$agent" --version)" "$(uname -r)" "$mac" <<-'PY' 2> "$tmp/py.err" || bad+=" report: $(tail -1 "$tmp/py.err");"
		import json, sys
		d = json.load(open(sys.argv[1]))
		assert d["agent"] == sys.argv[2] and d["kernel"] == sys.argv[3], d
		i = d["interfaces"]
		assert [(x["name"], x["linktype"], x["ingress"], x["mac"], x["state"]) for x in i] == [("va", "EN10MB", "tc", sys.argv[4], "up")], i
		assert "10.98.0.1/24" in i[0]["addresses"], i
		# one clock: the offset is what the round trip leaves unknown
		assert abs(d["clock_offset_ms"]) <= d["clock_rtt_ms"] / 2 + 1, d
		assert d["state"] == "online" and d["offline_since"] is None and d["report_error"] is None, d
		PY
	# another organization's device stays not found, with its report
	st=$(call "$bob" GET /devices/gw1); [ "$st" = 404 ] || bad+=" bob:$st;"
	# bob's gx1 points at gw1's agent, which does not know its secret: the
	# agent's refusal, not a guess
	# (an earlier test's restart of gw1 may have left a connection error)
	for _ in $(seq 150); do
		call "$bob" GET /devices/gx1 > /dev/null
		[[ "$(field report_error)" == "HTTP 403 from the agent"* ]] && break
		sleep 0.1
	done
	[[ "$(field report_error)" == "HTTP 403 from the agent"* ]] && [ "$(field state)" = "never seen" ] ||
		bad+=" gx1: $(field state) $(field report_error);"
	kill -TERM "$gw2_pid"; wait_gone "$gw2_pid" 10
	for _ in $(seq 200); do
		call "$alice" GET /devices/gw2 > /dev/null
		[ "$(field state)" = offline ] && break
		sleep 0.1
	done
	python3 - "$tmp/body" <<-'PY' 2> "$tmp/py.err" || bad+=" offline: $(tail -1 "$tmp/py.err");"
		import json, sys
		d = json.load(open(sys.argv[1]))
		assert d["state"] == "offline" and d["offline_since"] > d["last_seen"], d
		assert "10.98.0.2:8081" in d["report_error"], d
		assert d["agent"] and d["interfaces"][0]["name"] == "vb", d  # the last report kept
		PY
	agent_start gw2 "$B" vb 10.98.0.2:8081 || bad+=" gw2 restart;"
	for _ in $(seq 200); do
		call "$alice" GET /devices/gw2 > /dev/null
		[ "$(field state)" = online ] && [ "$(field report_error)" = None ] && break
		sleep 0.1
	done
	[ "$(field state) $(field offline_since) $(field report_error)" = "online None None" ] || bad+=" back: $(tr -d '\n' < "$tmp/body");"
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	server_start || bad+=" no restart;"
	[ -z "$bad" ] && ok "device reports: agent, kernel, interfaces, clock offset; offline after three silent intervals with the reason, online again" ||
		ko "reports" "$bad"
}

# The devices' events stream: the list at once; then, while the devices
# only report, `seen` events with the changed devices' name and what moves
# with a report, and the list again only when something else changed.
test_device_seen() {
	local bad= p
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	server_start --report-interval 2 || bad+=" no restart;"
	for _ in $(seq 100); do # both agents reported once: what they say stays
		call "$alice" GET /devices/gw2 > /dev/null
		[ "$(field state) $(field report_error)" = "online None" ] && break
		sleep 0.1
	done
	inb timeout 8 curl -sS -N -o "$tmp/seen.ev" -H "Authorization: Bearer $alice" "$api/events/devices" &
	p=$!
	sleep 5.5
	call "$alice" PATCH /devices/gw3 '{"enabled":false}' > /dev/null
	wait_gone $p 10
	call "$alice" PATCH /devices/gw3 '{"enabled":true}' > /dev/null
	python3 - "$tmp/seen.ev" > "$tmp/seen.check" 2>&1 << 'PY' || bad+=" $(tail -1 "$tmp/seen.check")"
import json, sys
ev = []
for e in open(sys.argv[1]).read().split("\n\n"):
    if e and not e.startswith(":"):
        f = dict(l.split(": ", 1) for l in e.split("\n"))
        ev.append((f["event"], json.loads(f["data"])))
names = [n for n, _ in ev]
assert ev and ev[0][0] == "devices" and {"gw1", "gw2", "gw3"} <= {d["name"] for d in ev[0][1]}, f"first: {ev[:1]}"
keys = {"name", "last_seen", "state", "offline_since", "reported_at", "clock_offset_ms", "clock_rtt_ms"}
seen = [d for n, d in ev if n == "seen"]
assert len(seen) >= 2, names
assert all(set(d) == keys for s in seen for d in s), seen
gw1 = [d["last_seen"] for s in seen for d in s if d["name"] == "gw1"]
assert len(gw1) >= 2 and gw1 == sorted(set(gw1)), gw1
# the list, brought up to date by the events as the page keeps it; the
# whole list again only for a change beyond what a `seen` carries (gw3
# disabled, or what a device's report says of it), each `seen` only for
# devices it changes
state, disabled = {}, 0
for n, d in ev:
    if n == "devices":
        if state:
            other = {(x["name"], k) for x in d for k in x if k not in keys and x[k] != state[x["name"]][k]}
            assert other, f"the whole list again for nothing beyond last seen: {names}"
            disabled += ("gw3", "enabled") in other
        state = {x["name"]: dict(x) for x in d}
    else:
        for x in d:
            assert any(state[x["name"]][k] != x[k] for k in keys), x
            state[x["name"]].update(x)
assert disabled == 1 and not state["gw3"]["enabled"], f"gw3 disabled: {names}"
assert state["gw1"]["last_seen"] >= gw1[-1] and state["gw1"]["agent"], state["gw1"]
print("ok", names.count("seen"), "seen", names.count("devices"), "lists,", len(open(sys.argv[1]).read()), "bytes")
PY
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	server_start || bad+=" no restart;"
	[ -z "$bad" ] && ok "devices' events: the list, then what moves with each report as 'seen' ($(tail -1 "$tmp/seen.check")), the list again when a device changed" ||
		ko "device seen" "$bad"
}

test_restart() {
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	sleep 0.5
	server_start && call "$alice" GET /captures > /dev/null &&
		[ "$(field 0 state)" = done ] && call "$alice" GET /devices/gw2 > /dev/null &&
		ok "server restart: registry kept (devices, captures)" || ko "restart" "$(cat "$tmp/server.log")"
}

test_text() {
	local out=$tmp/text.pcapng id dns web top
	top=$(cd "$(dirname "$0")/../.." && pwd)
	# a resolver and a web server behind gw1, asked from B across both devices
	ip netns exec "$A" python3 "$top/tools/labdns.py" 10.98.0.1 &
	dns=$!
	ip netns exec "$A" python3 -m http.server -b 10.98.0.1 -d "$tmp" 80 > /dev/null 2>&1 &
	web=$!
	for _ in $(seq 50); do inb curl -s -o /dev/null http://10.98.0.1/ && break; sleep 0.1; done
	(sleep 1; inb ip neigh flush dev vb; inb ping -c 3 -i 0.2 -q 10.98.0.1 > /dev/null
	 send_udp 6; ina ping -6 -c 2 -i 0.2 -q "$(inb ip -6 addr show dev vb scope link | sed -n 's/.*inet6 \([^/]*\).*/\1/p')%va" > /dev/null
	 inb python3 "$top/tools/labdns.py" --query www.lab 10.98.0.1
	 inb python3 "$top/tools/labdns.py" --query nosuch.lab 10.98.0.1
	 inb curl -sS -o /dev/null http://10.98.0.1/) &
	local sender=$! rem
	# the capture ends when the traffic has (a DELETE), not on a clock that a
	# slow machine would outrun
	remote -d gw1,gw2 --duration 60 --text -w "$tmp/text.txt" 'udp or icmp or arp or icmp6 or tcp port 80' \
		2> "$tmp/remote.err" &
	rem=$!
	# the live text's printer: tcpdump, confined (docs/remote.md, Text)
	local pr= conf
	for _ in $(seq 100); do pr=$(pgrep -P "$server_pid" -x tcpdump) && break; sleep 0.05; done
	# no network: a seccomp filter (mode 2), after no-new-privs (its sockets
	# refused: tests/unit/text.sh)
	conf="$(awk '/^(NoNewPrivs|Seccomp):/ { printf "%s%s", s, $2; s = "," }' /proc/$pr/status 2> /dev/null)"
	conf+=" $(awk '/^Uid:/ { print $2 }' /proc/$pr/status 2> /dev/null)"
	conf+=" $(ls /proc/$pr/fd 2> /dev/null | wc -l)"
	conf+=" $(awk '/^Max address space/ { print $4 }' /proc/$pr/limits 2> /dev/null)"
	# the environment: PATH, and coreutils' stdbuf's own (its input's buffer)
	conf+=" $(tr '\0' '\n' < /proc/$pr/environ 2> /dev/null |
		grep -v '^PATH=' | grep -v '^_STDBUF_I=262144$' | grep -vc '^LD_PRELOAD=[^:]*/libstdbuf.so$')"
	[ "$conf" = "1,2 $(id -u tcpdump) 3 1073741824 0" ] &&
		ok "text: tcpdump prints it, no-new-privs and no sockets (seccomp), as user tcpdump, with 3 fds, 1 GiB, PATH only (and stdbuf's)" ||
		ko "text printer" "pid '$pr': $conf"
	wait $sender
	sleep 1
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	call "$alice" POST "/captures/$id/stop" > /dev/null
	wait $rem
	kill "$dns" "$web" 2> /dev/null
	wait_gone "$dns" 5; wait_gone "$web" 5
	inb curl -sS -o "$out" -H "Authorization: Bearer $alice" "$api/captures/$id/pcap"
	inb curl -sS -o "$tmp/text2.txt" -H "Authorization: Bearer $alice" "$api/captures/$id/text"
	tcpdump -nn -tt -r "$out" 2> /dev/null > "$tmp/tcpdump.txt"
	cut -d' ' -f2- "$tmp/text2.txt" > "$tmp/ours.txt"
	[ "$(wc -l < "$tmp/tcpdump.txt")" -ge 30 ] && cmp -s "$tmp/ours.txt" "$tmp/tcpdump.txt" &&
		grep -q '^gw[12] [0-9]*\.[0-9]\{6\} IP 10.98.0.2 > 10.98.0.1: ICMP echo request' "$tmp/text2.txt" &&
		grep -q 'ARP, Request who-has 10.98.0.1 tell 10.98.0.2' "$tmp/text2.txt" &&
		grep -q 'ICMP6, echo request' "$tmp/text2.txt" &&
		grep -q '+ A? www.lab. (25)' "$tmp/text2.txt" &&
		grep -q ' 1/0/0 A 10.10.1.53 (41)' "$tmp/text2.txt" &&
		grep -q 'NXDomain' "$tmp/text2.txt" &&
		grep -q 'Flags \[S\], seq [0-9]*, win [0-9]*, options \[mss' "$tmp/text2.txt" &&
		grep -q 'Flags \[P.\], seq 1:[0-9]*, ack 1, .*: HTTP: GET / HTTP/1.1$' "$tmp/text2.txt" &&
		grep -q 'HTTP: HTTP/1.0 200 OK$' "$tmp/text2.txt" &&
		ok "text: our lines equal tcpdump -nn -tt's on the merged capture ($(wc -l < "$tmp/ours.txt") lines: ARP, ICMP, ICMPv6, UDP, DNS, TCP with HTTP)" ||
		ko "text" "$(diff "$tmp/ours.txt" "$tmp/tcpdump.txt" | head -6; grep -c . "$tmp/ours.txt")"
	cmp -s "$tmp/text.txt" "$tmp/text2.txt" && ok "text: the live output and a later read agree" ||
		ko "text live" "$(diff "$tmp/text.txt" "$tmp/text2.txt" | head -4)"
}

test_https() {
	local out=$tmp/https.pcapng st
	# gw1's agent makes way for gw5's on the same interface, over HTTPS
	kill -TERM "$gw1_pid"; wait_gone "$gw1_pid" 10
	call "$alice" POST /devices '{"name":"gw5","serial":"SN-gw5","address":"https://10.98.0.1:8443"}' > /dev/null
	field secret > "$tmp/gw5.secret"
	agent_start gw5 "$A" va 10.98.0.1:8443 "$tls/gw5.conf" || ko "gw5 start" "$(cat "$tmp/gw5.log")"
	(sleep 1; send_udp 10) &
	local sender=$!
	remote -d gw5 --duration 2 -w "$out" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $sender
	[ $st = 0 ] && [ "$(payloads "$out" | wc -l)" = 5 ] && ! grep -q failed "$tmp/remote.err" &&
		ok "HTTPS to a device: its certificate checked against --ca-file, 5 of 5 packets" ||
		ko "https" "st=$st $(cat "$tmp/remote.err")"
	kill -TERM "$gw5_pid"; wait_gone "$gw5_pid" 10
	agent_start gw5 "$A" va 10.98.0.1:8443 "$tls/rogue.conf" || ko "gw5 restart" "$(cat "$tmp/gw5.log")"
	remote -d gw5 --duration 1 -w /dev/null udp 2> "$tmp/remote.err"
	grep -q "^device gw5 failed: connecting to https://10.98.0.1:8443: .*certificate" "$tmp/remote.err" &&
		ok "HTTPS to a device whose certificate the CA did not sign: refused ($(sed -n 's/^device gw5 failed: //p' "$tmp/remote.err"))" ||
		ko "rogue certificate" "$(cat "$tmp/remote.err")"
	kill -TERM "$gw5_pid"; wait_gone "$gw5_pid" 10
	agent_start gw5 "$A" va 10.98.0.1:8443 "$tls/misnamed.conf" || ko "gw5 restart" "$(cat "$tmp/gw5.log")"
	remote -d gw5 --duration 1 -w /dev/null udp 2> "$tmp/remote.err"
	grep -q "^device gw5 failed: connecting to https://10.98.0.1:8443: IP address mismatch$" "$tmp/remote.err" &&
		ok "HTTPS to a device whose certificate names another address: refused (IP address mismatch)" ||
		ko "misnamed certificate" "$(cat "$tmp/remote.err")"
	kill -TERM "$gw5_pid"; wait_gone "$gw5_pid" 10
	agent_start gw1 "$A" va 10.98.0.1:8080 || ko "gw1 restart" "$(cat "$tmp/gw1.log")"
	# the CLI to the server over HTTPS: the chain and the name checked
	local pid
	mkdir -p "$tmp/data2"
	ip netns exec "$B" "$server" --listen 127.0.0.1:8444 --db "$db" --data "$tmp/data2" \
		--tls-cert "$tls/srv.pem" --tls-key "$tls/srv.key" 2> "$tmp/server2.log" &
	pid=$!
	for _ in $(seq 100); do grep -q serving "$tmp/server2.log" && break; sleep 0.05; done
	inb env EDGECAP_TOKEN="$alice" EDGECAP_CACERT="$tls/ca.pem" "$ec" devices \
		--server https://127.0.0.1:8444 > "$tmp/devs" 2>&1 &&
		grep -q "^gw1 " "$tmp/devs" &&
		! inb env EDGECAP_TOKEN="$alice" EDGECAP_CACERT="$tls/ca.pem" "$ec" devices \
			--server https://localhost:8444 > "$tmp/devs2" 2>&1 &&
		grep -q "hostname mismatch" "$tmp/devs2" &&
		! inb env EDGECAP_TOKEN="$alice" "$ec" devices --server https://127.0.0.1:8444 \
			> "$tmp/devs3" 2>&1 &&
		ok "the CLI over HTTPS: the server's certificate checked, by chain and by name" ||
		ko "cli https" "$(cat "$tmp/devs" "$tmp/devs2" "$tmp/devs3" "$tmp/server2.log")"
	kill -TERM "$pid"; wait_gone "$pid" 10
}

test_operable() {
	local v c n id pid conf=$tmp/server.conf m=http://127.0.0.1:9100/metrics
	c=$(inb curl -sS -o "$tmp/body" -w '%{http_code}' http://127.0.0.1:8000/healthz)
	[ "$c" = 200 ] && [ "$(field status)" = ok ] && ok "healthz: 200 without a token" ||
		ko healthz "$c $(cat "$tmp/body")"
	# one log line per refused request, with who asked when it is known
	n=$(wc -l < "$tmp/server.log")
	call nosuchtoken GET /devices > /dev/null
	call "$alice" GET /nosuch > /dev/null
	call "$alice" PUT /devices > /dev/null
	call "$bob" GET /devices/gw1 > /dev/null
	[ "$(tail -n +$((n + 1)) "$tmp/server.log" | grep 'refused ' | sed 's/ from [0-9.]*:[0-9]*//')" = \
"edgecap-server: warning: refused GET /api/v1/devices: 401 unknown token
edgecap-server: notice: refused GET /api/v1/nosuch: 404 not found
edgecap-server: notice: refused PUT /api/v1/devices as acme/alice: 405 method not allowed here (GET, POST)
edgecap-server: notice: refused GET /api/v1/devices/gw1 as globex/bob: 404 no device 'gw1'" ] &&
		ok "refused requests: one log line each, with the status, the reason and who" ||
		ko "refusal log" "$(tail -n 5 "$tmp/server.log")"
	# what a request echoes cannot start a log line of its own
	n=$(wc -l < "$tmp/server.log")
	call "$alice" GET "/captures/1%0Aedgecap-server:%20emergency:%20forged" > /dev/null
	sleep 0.2
	[ "$(tail -n +$((n + 1)) "$tmp/server.log" | grep -c .)" = 1 ] &&
		tail -n +$((n + 1)) "$tmp/server.log" | grep -qF '\x0aedgecap-server: emergency: forged' &&
		! grep -q '^edgecap-server: emergency' "$tmp/server.log" &&
		ok "a newline in a path: escaped in the one refusal line, no line forged" ||
		ko "forged log line" "$(tail -n 3 "$tmp/server.log")"
	# the server's capture id names the capture in the devices' logs too
	remote -d gw1,gw2 -c 2 --duration 5 -w /dev/null icmp 2> "$tmp/remote.err" &
	pid=$!
	sleep 1; inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null; wait $pid
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	[ -n "$id" ] && grep -q "info: capture $id started by acme/alice on 2 device(s)" "$tmp/server.log" &&
		grep -q "info: capture $id (session [0-7]) for .*: 1 interface" "$tmp/gw1.log" &&
		grep -q "info: capture $id (session [0-7]) for .*: 1 interface" "$tmp/gw2.log" &&
		ok "capture $id: the server's and both devices' logs name it alike" ||
		ko "capture id" "$id $(cat "$tmp/remote.err"; grep "capture $id" "$tmp/server.log" "$tmp/gw1.log")"
	# a configuration file: the flags' keys; metrics on their own listener
	mkdir -p "$tmp/data3"
	printf '# a test server\nlisten = 127.0.0.1:8001\ndb = %s\ndata = %s\nplain_http = yes\nmetrics_listen = 127.0.0.1:9100\n' \
		"$db" "$tmp/data3" > "$conf"
	ip netns exec "$B" "$server" -c "$conf" 2> "$tmp/server3.log" &
	pid=$!
	for _ in $(seq 100); do grep -q serving "$tmp/server3.log" && break; sleep 0.05; done
	inb curl -sS -o /dev/null -H "Authorization: Bearer $alice" http://127.0.0.1:8001/api/v1/devices
	inb curl -sS -D "$tmp/mh" "$m" > "$tmp/m"
	c=$(inb curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:8001/metrics)
	grep -q '^edgecap_server_http_responses_total{code="200"} [1-9]' "$tmp/m" &&
		grep -q '^edgecap_server_captures_running 0$' "$tmp/m" &&
		grep -q '^edgecap_server_devices [1-9]' "$tmp/m" &&
		grep -q '^# TYPE edgecap_server_merged_packets_total counter$' "$tmp/m" &&
		grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/mh" && [ "$c" = 404 ] &&
		ok "a configuration file (-c) sets listen, db, data, plain_http, metrics_listen; Prometheus metrics there only" ||
		ko "conf file" "$c $(cat "$tmp/server3.log" "$tmp/m")"
	kill -TERM "$pid"; wait_gone "$pid" 10
	printf 'listen = 127.0.0.1:8002\ncolour = blue\n' > "$conf"
	v=$("$server" -c "$conf" 2>&1); c=$?
	[ $c = 2 ] && [ "$v" = "edgecap-server: error: $conf:2: unknown setting 'colour'" ] &&
		ok "an unknown setting: exit 2, file and line" || ko "bad conf" "$c $v"
}

# gw1 serves a tun device too: the server's Ethernet program is refused
# there, the capture goes to it again with the expression compiled for RAW,
# and the merged file holds RAW records as tcpdump captured them. An
# expression with no meaning without a link layer: the agent's reason.
test_tun_device() {
	local out=$tmp/tun.pcapng st td n=20 err2
	tun_up $n || { ko "tun device" "no tun device"; tun_down; return; }
	kill -TERM "$gw1_pid"; wait_gone "$gw1_pid" 10
	agent_start gw1 "$A" va,tun0 10.98.0.1:8080 || { ko "tun device" "$(cat "$tmp/gw1.log")"; tun_down; agent_start gw1 "$A" va 10.98.0.1:8080; return; }
	reported gw1 tun0 || ko "tun device" "the server never heard of tun0: $(cat "$tmp/body")"
	ip netns exec "$A" tcpdump -i tun0 -U -w "$tmp/tun.pcap" 'udp port 5001' 2> "$tmp/tun.td" &
	td=$!
	(sleep 1.5; echo go >&7) &
	local go=$!
	remote -d gw1 -i tun0 -c $((n / 2)) --duration 10 -w "$out" udp port 5001 2> "$tmp/remote.err"; st=$?
	wait $go
	remote -d gw1 -i tun0 --duration 1 -w /dev/null ether host 1:2:3:4:5:6 2> "$tmp/remote2.err"
	err2=$(grep '^device gw1 failed' "$tmp/remote2.err")
	for _ in $(seq 40); do
		[ "$(tcpdump -r "$tmp/tun.pcap" 2> /dev/null | wc -l)" -ge $((n / 2)) ] && break
		sleep 0.1
	done
	kill -TERM $td; wait $td
	kill -TERM "$gw1_pid"; wait_gone "$gw1_pid" 10
	tun_down
	agent_start gw1 "$A" va 10.98.0.1:8080 || ko "gw1 restart" "$(cat "$tmp/gw1.log")"
	[ $st = 0 ] && [ "$(capinfos -E "$out" | sed -n 's/^File encapsulation: *//p')" = "Raw IP" ] &&
		[ "$(tshark -r "$out" 2> /dev/null | wc -l)" = $((n / 2)) ] &&
		[ "$(tshark -r "$out" -x 2> /dev/null)" = "$(tshark -r "$tmp/tun.pcap" -x 2> /dev/null)" ] &&
		[ "$err2" = "device gw1 failed: HTTP 400: linktype: tun0 is RAW, the filter was compiled for EN10MB (compile it for RAW)" ] &&
		ok "a device's tun interface: compiled again for RAW, RAW records as tcpdump's; 'ether host' there refused with the agent's reason" ||
		ko "tun device" "st=$st $(tshark -r "$out" 2> /dev/null | wc -l) packets; $(cat "$tmp/remote.err"); [$err2]"
}

# A device's GRE interface (LINUX_SLL, the 6.1 VM: the host kernel has no
# GRE): the agent refuses the Ethernet program naming the type, the server
# sends the one it compiled for LINUX_SLL, and the records are tcpdump -i
# gre1's, byte for byte.
test_sll_device() {
	local out=$tmp/gre.pcapng st td
	ina ip link add gre1 type gre local 10.98.0.1 remote 10.98.0.2 2> /dev/null ||
		{ echo "SKIP a device's LINUX_SLL interface: this kernel has no GRE"; return; }
	inb ip link add gre1 type gre local 10.98.0.2 remote 10.98.0.1 &&
		ina ip addr add 10.99.0.1/30 dev gre1 && inb ip addr add 10.99.0.2/30 dev gre1 &&
		ina ip link set gre1 up && inb ip link set gre1 up || { ko "LINUX_SLL device" "no GRE pair"; return; }
	kill -TERM "$gw1_pid"; wait_gone "$gw1_pid" 10
	agent_start gw1 "$A" va,gre1 10.98.0.1:8080 || ko "LINUX_SLL device" "$(cat "$tmp/gw1.log")"
	reported gw1 gre1 || ko "LINUX_SLL device" "the server never heard of gre1: $(cat "$tmp/body")"
	ip netns exec "$A" tcpdump -i gre1 -U -w "$tmp/gre.pcap" icmp 2> "$tmp/gre.td" &
	td=$!
	(for _ in $(seq 100); do grep -q listening "$tmp/gre.td" && break; sleep 0.05; done
	 sleep 1.5; inb ping -c 3 -i 0.2 10.99.0.1 > /dev/null) &
	local pinger=$!
	remote -d gw1 -i gre1 -c 6 --duration 20 -w "$out" icmp 2> "$tmp/remote.err"; st=$?
	wait $pinger
	sleep 1.2 # tcpdump reads its ring a block at a time
	kill -INT $td; wait_gone $td 10
	kill -TERM "$gw1_pid"; wait_gone "$gw1_pid" 10
	ina ip link del gre1; inb ip link del gre1
	agent_start gw1 "$A" va 10.98.0.1:8080 || ko "gw1 restart" "$(cat "$tmp/gw1.log")"
	[ $st = 0 ] && [ "$(capinfos -E "$out" | sed -n 's/^File encapsulation: *//p')" = "Linux cooked-mode capture v1" ] &&
		[ "$(tshark -r "$out" 2> /dev/null | wc -l)" = 6 ] &&
		[ "$(tshark -r "$out" -x 2> /dev/null)" = "$(tshark -r "$tmp/gre.pcap" -x 2> /dev/null)" ] &&
		ok "a device's GRE interface: compiled again for LINUX_SLL, 6 records as tcpdump -i gre1's" ||
		ko "LINUX_SLL device" "st=$st $(tshark -r "$out" 2> /dev/null | wc -l) packets, tcpdump $(tshark -r "$tmp/gre.pcap" 2> /dev/null | wc -l); $(cat "$tmp/remote.err")"
}

# PostgreSQL stopped under a running server and a running capture, then
# started again (EDGECAP_TEST_PGCTL: tests/unit/with-postgres.sh): requests
# that need the registry get 503 and one line meanwhile, the capture goes
# on, and once it is back the server answers again and keeps what it
# acknowledged before.
test_registry_down() {
	local out=$tmp/down.pcapng st id rp s1 s2 h1 h2 line
	call "$alice" POST /devices '{"name":"kept","serial":"SN-kept","address":"http://10.98.0.1:9"}' > /dev/null
	remote -d gw1 --duration 6 -w "$out" udp port 5001 2> "$tmp/remote.err" &
	rp=$!
	for _ in $(seq 50); do grep -q "^capture [0-9]* on" "$tmp/remote.err" && break; sleep 0.1; done
	sleep 0.5
	"$EDGECAP_TEST_PGCTL" stop
	s1=$(call "$alice" GET /devices); line=$(field error)
	h1=$(inb curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/healthz)
	send_udp 40
	"$EDGECAP_TEST_PGCTL" start
	s2=$(call "$alice" GET /devices/kept)
	h2=$(inb curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/healthz)
	wait $rp; st=$?
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	[ "$s1" = 503 ] && [ "$h1" = 503 ] && [ "$(echo "$line" | wc -l)" = 1 ] &&
		[[ $line == registry* ]] &&
		ok "registry down: 503 and one line ($line)" || ko "registry down" "$s1 $h1 $line"
	[ "$s2" = 200 ] && [ "$h2" = 200 ] && grep -q "registry .*: connected again" "$tmp/server.log" &&
		ok "registry back: the server connects again; what it acknowledged before is kept" ||
		ko "registry back" "$s2 $h2 $(tail -5 "$tmp/server.log")"
	call "$alice" GET "/captures/$id" > /dev/null
	[ $st = 0 ] && [ "$(payloads "$out" | wc -l)" = 20 ] && [ "$(field state)" = done ] &&
		[ "$(field merged)" = 20 ] &&
		ok "registry down: a running capture goes on (20 of 20), its end recorded once it is back" ||
		ko "capture across the registry's restart" "st=$st $(payloads "$out" | wc -l) $(cat "$tmp/body") $(cat "$tmp/remote.err")"
	call "$alice" DELETE /devices/kept > /dev/null
}

# A request whose statement waits (PostgreSQL holds a lock it needs) holds
# up nobody else's: while GET /audit waits, GET /devices, the health check
# and a running capture are answered; then the audit list too.
test_registry_waits() {
	local out=$tmp/waits.pcapng rp st got
	remote -d gw1 --duration 5 -w "$out" udp port 5001 2> "$tmp/remote.err" &
	rp=$!
	for _ in $(seq 50); do grep -q "^capture [0-9]* on" "$tmp/remote.err" && break; sleep 0.1; done
	got=$(during="send_udp 40" held_up audit "$api/audit") # 20 of them to port 5001
	wait $rp; st=$?
	[ "$got" = "200 200 1 200" ] && [ $st = 0 ] && [ "$(payloads "$out" | wc -l)" = 20 ] &&
		ok "a request waiting on the registry holds up no other: devices and health answered, a capture 20 of 20, then the audit list" ||
		ko "registry waits" "devices, health, audit pending, then audit: $got; capture st=$st $(payloads "$out" | wc -l)"
}

# While TABLE is locked in PostgreSQL for 4 s, a request (curl's ARGS...,
# the path last) waits for it on a coroutine, and others are answered:
# prints "DEVICES HEALTH PENDING STATUS", the first two the answers' status
# meanwhile, PENDING 1 when the request was still waiting then, STATUS its
# own once the lock went; its body in $tmp/held.json. $during, if set, is
# run while it waits.
held_up() {
	local table=$1 lp rp s1 h1 pending=0
	shift
	psql -qAtX "$db" -c "BEGIN; LOCK TABLE $table IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT" > /dev/null &
	lp=$!
	for _ in $(seq 50); do
		[ "$(psql -qAtX "$db" -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '$table' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && break
		sleep 0.05
	done
	inb curl -sS -o "$tmp/held.json" -w '%{http_code}' -H "Authorization: Bearer $alice" "$@" > "$tmp/held.st" &
	rp=$!
	for _ in $(seq 50); do # its statement waits for the lock
		[ "$(psql -qAtX "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query NOT LIKE 'BEGIN%' AND query LIKE '%$table%'")" -ge 1 ] && break
		sleep 0.05
	done
	[ -z "${during:-}" ] || $during
	s1=$(call "$alice" GET /devices)
	h1=$(inb curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/healthz)
	# still waiting once those are answered (on the loop, they would have
	# waited for it)
	[ "$(psql -qAtX "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query NOT LIKE 'BEGIN%' AND query LIKE '%$table%'")" -ge 1 ] && pending=1
	wait $rp
	wait $lp
	echo "$s1 $h1 $pending $(cat "$tmp/held.st")"
}

# A capture's start asks the registry for each device on a coroutine: held
# up by a lock on capture_devices, it holds up no other request; then it
# starts and captures. Deleting it, held up by a lock on captures, the same.
test_start_waits() {
	local got id
	got=$(held_up capture_devices -H 'Content-Type: application/json' \
		--data-binary '{"devices":["gw1"],"expression":"udp port 5001","duration":4}' "$api/captures")
	id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("id", ""))' "$tmp/held.json")
	for _ in $(seq 50); do
		[ -n "$id" ] && call "$alice" GET "/captures/$id" > /dev/null &&
			[ "$(field devices 0 state)" = streaming ] && break
		sleep 0.1
	done
	send_udp 40 # 20 of them to port 5001
	if [ "$got" = "200 200 1 201" ] && [ -n "$id" ] && wait_state "$id" done 10 &&
		[ "$(field devices 0 packets)" = 20 ]; then
		ok "a capture's start waiting on the registry holds up no other request: devices and health answered, then it started (201) and captured 20 of 20"
	else
		ko "start waits" "devices, health, pending, start: $got: $(head -c 300 "$tmp/held.json"); state $(field state) packets $(field devices 0 packets 2> /dev/null)"
		return
	fi
	got=$(held_up captures -X DELETE "$api/captures/$id")
	[ "$got" = "200 200 1 200" ] && [ "$(call "$alice" GET "/captures/$id")" = 404 ] &&
		ok "deleting a capture waits on the registry the same way, and holds up no other request" ||
		ko "delete waits" "devices, health, pending, delete: $got: $(head -c 300 "$tmp/held.json")"
}

# the capture's write of its second waits for the lock too; then 40
# datagrams, 20 of them to port 5001
tick_waiting() {
	for _ in $(seq 40); do
		[ "$(psql -qAtX "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE capture%'")" -ge 1 ] && break
		sleep 0.05
	done
	send_udp 40
}

# A running capture writes its state each second on a coroutine: with
# captures locked for 4 s its writes wait there, the devices and health
# are answered meanwhile (so is the capture's own row, once the lock
# goes), and it keeps its 20 of 20 packets and ends done.
test_tick_waits() {
	local out=$tmp/tick.pcapng rp st got id
	remote -d gw1 --duration 6 -w "$out" udp port 5001 2> "$tmp/remote.err" &
	rp=$!
	for _ in $(seq 50); do grep -q "^capture [0-9]* on" "$tmp/remote.err" && break; sleep 0.1; done
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err" | head -1)
	got=$(during=tick_waiting held_up captures "$api/captures/$id")
	wait $rp; st=$?
	[ "$got" = "200 200 1 200" ] && [ $st = 0 ] && [ "$(payloads "$out" | wc -l)" = 20 ] &&
		wait_state "$id" done 10 &&
		ok "a capture's writes each second wait on the registry off the loop: devices and health answered meanwhile, 20 of 20, done" ||
		{ ko "tick waits" "devices, health, pending, capture: $got; st=$st $(payloads "$out" | wc -l) packets; state $(field state)"; return; }
	# a reader's start waits the same way
	got=$(held_up captures "$api/captures/$id/pcap")
	[ "$got" = "200 200 1 200" ] && [ "$(payloads "$tmp/held.json" | wc -l)" = 20 ] &&
		ok "a download waits on the registry off the loop too, then has the 20" ||
		ko "reader waits" "devices, health, pending, pcap: $got; $(payloads "$tmp/held.json" | wc -l) packets"
}

# The devices' reports wait on the registry off the loop: gw1's row locked
# for 5 s while it is due every 2 s, the round's write about it waits, and
# /healthz is answered meanwhile; then gw1 is reported again.
test_report_waits() {
	local id h1 pending=0 bad= t0
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	server_start --report-interval 2 || { ko "report waits" "no restart"; return; }
	id=$(psql -qAtX "$db" -c "SELECT id FROM devices WHERE name = 'gw1' AND org_id = (SELECT org_id FROM devices WHERE name = 'gw2')")
	row_locked devices "id = $id" 5
	t0=$(psql -qAtX "$db" -c "SELECT coalesce(reported, 0) FROM devices WHERE id = $id")
	for _ in $(seq 80); do # its turn: the round's write about it waits
		[ "$(pg_waiting 'UPDATE devices')" -ge 1 ] && break
		sleep 0.05
	done
	h1=$(inb curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/healthz)
	[ "$(pg_waiting 'UPDATE devices')" -ge 1 ] && pending=1
	wait $locker
	for _ in $(seq 60); do
		[ "$(psql -qAtX "$db" -c "SELECT coalesce(reported, 0) > $t0 FROM devices WHERE id = $id")" = t ] && break
		sleep 0.1
	done
	[ "$(psql -qAtX "$db" -c "SELECT coalesce(reported, 0) > $t0 FROM devices WHERE id = $id")" = t ] || bad+=" not reported again;"
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	server_start || bad+=" no restart;"
	[ "$h1" = 200 ] && [ $pending = 1 ] && [ -z "$bad" ] &&
		ok "a device's report waiting on the registry holds up no other request: health answered meanwhile, then reported" ||
		ko "report waits" "health $h1, pending $pending;$bad"
}

run_tests after test_bootstrap test_tokens test_tenants test_bad_input test_compile \
	test_merged test_any test_device_interfaces test_device_killed test_unreachable test_refused test_reader_leaves \
	test_rows_reader_back test_interrupt test_late_reader test_count test_text test_https \
	test_list test_operable test_restart test_reports test_device_seen test_tun_device test_sll_device \
	${EDGECAP_TEST_PGCTL:+test_registry_waits test_start_waits test_tick_waits test_report_waits test_registry_down}
st=$?
env_stop || exit 1
exit $st
