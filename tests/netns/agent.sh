#!/usr/bin/env bash
# agent.sh AGENT EDGECAP [VLANPUSH] - edgecap-agent serving captures over HTTP(S) in a
# namespace (A), asked by curl from another (B), on real traffic between them:
# request authentication, the chunked pcapng stream, limits and parameters,
# bad requests, eight sessions and the ninth refused, a slow reader, clients
# that hang up, SIGTERM, TLS and no HTTP/2. Requests are signed by sign.py,
# independently of edgecap's C code.
set -uo pipefail
agent=$1
ec=$2
vlanpush=${3:-$(dirname "$ec")/../tests/vlan_push.bpf.o} # tests/netns/vlan_push.bpf.c
here=$(cd "$(dirname "$0")" && pwd)
suite=agent
. "$here/lib.sh"

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$tmp/secret"
secret=$(cat "$tmp/secret")
url=http://10.98.0.1:8080
agent_pid=

agent_start() { # ARGS...: the agent in A, serving va; returns once it listens
	: > "$tmp/agent.log"
	ip netns exec "$A" "$agent" -c /dev/null -i va --secret-file "$tmp/secret" \
		--listen 10.98.0.1:8080 "$@" 2>> "$tmp/agent.log" &
	agent_pid=$!
	for _ in $(seq 100); do
		grep -q serving "$tmp/agent.log" && return 0
		kill -0 $agent_pid 2> /dev/null || break
		sleep 0.05
	done
	return 1
}

agent_stop() {
	[ -n "$agent_pid" ] || return 0
	kill -TERM $agent_pid 2> /dev/null
	wait_gone $agent_pid 10
	local st=$?
	agent_pid=
	return $st
}

auth() { "$here/sign.py" "$secret" "${2:-GET}" "$1"; } # TARGET [METHOD]: header value

get() { # TARGET [CURL ARGS...]: a signed GET from B
	local t=$1; shift
	inb curl -sS -H "Authorization: $(auth "$t")" "$@" "$url$t"
}

code() { get "$1" -o "$tmp/body" -w '%{http_code}'; } # TARGET: status; body in $tmp/body

bpf() { "$ec" filter compile "$1" | paste -sd, | sed 's/ /%20/g'; } # EXPR: the bpf parameter

captures() { # number of captures the status lists
	get /v1/status | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["captures"]))'
}

slots_empty() { # within a second, no session program in the slots of va's hooks
	local i
	for i in $(seq 20); do slots_empty_now && return 0; sleep 0.05; done
	return 1
}

slots_empty_now() { # the slots of the hooks on va, not another run's, are empty
	local prog m
	prog=$(ina "$ec" hooks va | sed -n 's/^va egress [a-z]* prog \([0-9]*\)$/\1/p')
	[ -n "$prog" ] || return 1
	for m in $(bpftool prog show id "$prog" | sed -n 's/.*map_ids \([0-9,]*\).*/\1/p' | tr , ' '); do
		bpftool map show id "$m" | grep -q 'name ecap_tc_slots' || continue
		[ "$(bpftool map dump id "$m" 2> /dev/null)" = "[]" ]
		return
	done
	return 1
}

# Start a capture from B in the background, writing OUT; returns once the
# agent has started it (the IDBs arrived).
cap_start() { # OUT TARGET [CURL ARGS...]
	local out=$1 t=$2; shift 2
	# -N: curl writes each chunk as it comes
	ip netns exec "$B" curl -sSN -H "Authorization: $(auth "$t")" -o "$out" "$@" "$url$t" \
		2> "$out.err" &
	cap_pid=$!
	for _ in $(seq 100); do
		[ -s "$out" ] && return 0
		sleep 0.05
	done
	return 1
}

test_auth() {
	local t=/v1/status c h
	c=$(inb curl -sS -o /dev/null -D "$tmp/h" -w '%{http_code}' "$url$t")
	[ "$c" = 401 ] && grep -qi '^www-authenticate: Edgecap-HMAC' "$tmp/h" &&
		ok "no Authorization: 401 with WWW-Authenticate" || ko "no auth" "$c"
	c=$(inb curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Edgecap-HMAC ts=1' "$url$t")
	[ "$c" = 401 ] && ok "malformed Authorization: 401" || ko "malformed auth" "$c"
	c=$(inb curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: $(auth /v1/statu)" "$url$t")
	[ "$c" = 403 ] && ok "signature over another target: 403" || ko "wrong target" "$c"
	c=$(inb curl -sS -o "$tmp/b" -w '%{http_code}' \
		-H "Authorization: $("$here/sign.py" "$(printf '%064d' 1)" GET $t)" "$url$t")
	[ "$c" = 403 ] && [ "$(cat "$tmp/b")" = "bad signature" ] &&
		ok "another secret: 403 bad signature" || ko "other secret" "$c $(cat "$tmp/b")"
	c=$(inb curl -sS -o "$tmp/b" -w '%{http_code}' \
		-H "Authorization: $("$here/sign.py" "$secret" GET $t $(($(date +%s) - 120)))" "$url$t")
	[ "$c" = 403 ] && grep -q 'timestamp' "$tmp/b" && ok "stale timestamp: 403" || ko stale "$c"
	h=$(auth $t)
	c=$(inb curl -sS -o /dev/null -o /dev/null -w '%{http_code} ' -H "Authorization: $h" "$url$t" "$url$t")
	[ "$c" = "200 403 " ] && ok "the same signed request twice: 200, then 403 (replay)" ||
		ko replay "$c"
	get $t > "$tmp/status.json" &&
		python3 - "$tmp/status.json" "$(ina cat /sys/class/net/va/ifindex) $(ina cat /sys/class/net/va/address)" <<-'PY' &&
		import json, sys, time
		s = json.load(open(sys.argv[1]))
		ifindex, mac = sys.argv[2].split()
		assert s["interfaces"] == [{"name": "va", "ifindex": int(ifindex), "ingress": "tc", "linktype": "EN10MB",
		                            "mac": mac, "mtu": 1500, "state": "up", "speed_mbps": 10000,
		                            "addresses": ["10.98.0.1/24", s["interfaces"][0]["addresses"][1]]}], s
		assert s["interfaces"][0]["addresses"][1].startswith("fe80::") and s["interfaces"][0]["addresses"][1].endswith("/64"), s
		assert s["captures"] == [] and s["max_sessions"] == 8, s
		assert abs(s["time"] - time.time() * 1000) < 5000, s["time"]
		PY
		ok "status: JSON with va on TC ingress, its MAC, MTU, state, speed and addresses, the agent's clock" ||
		ko status "$(cat "$tmp/status.json")"
}

test_capture_stream() {
	local t="/v1/capture?bpf=$(bpf 'udp port 5001')&count=500&duration=30" want
	cap_start "$tmp/s.pcapng" "$t" -D "$tmp/s.h" || { ko stream "no start: $(cat "$tmp/s.pcapng.err")"; return; }
	send_udp 1000
	wait_gone $cap_pid 20 || { ko stream "curl did not end: $(tail -2 "$tmp/agent.log")"; return; }
	want=$(seq 1 2 1000 | sed 's/^/seq /')
	[ "$(tshark -r "$tmp/s.pcapng" -T fields -e data.text -o data.show_as_text:TRUE \
		-d udp.port==5001,data 2> /dev/null)" = "$want" ] &&
		grep -qi '^transfer-encoding: chunked' "$tmp/s.h" &&
		grep -qi '^content-type: application/x-pcapng' "$tmp/s.h" &&
		[ "$(tshark -r "$tmp/s.pcapng" -T fields -e frame.interface_name \
			-e frame.packet_flags_direction 2> /dev/null | sort -u)" = "va	0x00000001" ] &&
		[ "$(python3 "$here/isb.py" "$tmp/s.pcapng" | sed 's/ifrecv=[0-9]* //')" = "0 ifdrop=0 filteraccept=500 usrdeliv=500 osdrop=0
1 ifdrop=0 filteraccept=0 usrdeliv=0 osdrop=0" ] &&
		ok "count=500: the 500 matching of 1000 datagrams, in order, chunked pcapng, ISBs" ||
		ko stream "$(capinfos -c "$tmp/s.pcapng" 2>&1 | tail -1); $(python3 "$here/isb.py" "$tmp/s.pcapng")"
}

test_parameters() {
	local t c start
	t="/v1/capture?bpf=$(bpf icmp)&duration=1&dir=out&snaplen=64"
	cap_start "$tmp/p.pcapng" "$t" || { ko parameters "no start"; return; }
	# timed from the stream's first bytes: the session runs by then (curl's
	# own start is slow in an emulated guest)
	start=$(date +%s%N)
	inb ping -c 3 -i 0.2 -s 1000 10.98.0.1 > /dev/null &
	wait_gone $cap_pid 10
	wait $!
	c=$((($(date +%s%N) - start) / 1000000))
	[ "$(tshark -r "$tmp/p.pcapng" -T fields -e frame.packet_flags_direction -e icmp.type \
		-e frame.cap_len -e frame.len 2> /dev/null | sort -u)" = "0x00000002	0	64	1042" ] &&
		[ $c -lt 2500 ] &&
		ok "dir=out snaplen=64 duration=1: 3 echo replies cut to 64 of 1042 bytes, ended after $c ms" ||
		ko parameters "$c ms; $(tshark -r "$tmp/p.pcapng" 2>&1 | head -3)"
}

test_bad_requests() {
	local c
	# each refusal on one kept-alive connection, then a capture on it still works
	local bad='/v1/capture?bpf=2,21%200%205%201,6%200%200%2065535'
	local good="/v1/capture?bpf=$(bpf icmp)&count=1&duration=5"
	c=$(inb curl -sS -o /dev/null -w '%{http_code} %{num_connects}\n' \
		-H "Authorization: $(auth "$bad")" "$url$bad" --next \
		-o /dev/null -w '%{http_code} %{num_connects}\n' \
		-H "Authorization: $(auth "$good")" "$url$good" &
		sleep 0.5; inb ping -c 1 10.98.0.1 > /dev/null; wait)
	[ "$c" = "400 1
200 0" ] && ok "400 then a capture on the same connection: the session survives" ||
		ko "keep-alive after 400" "$c"
	check_400 '/v1/capture?bpf=2,21%200%205%201,6%200%200%2065535' 'bpf: instruction 0: jump to 6, past the end (2 instructions)'
	check_400 '/v1/capture?bpf=1,6%20x%200%2065535' 'bpf: line 2: expected "code jt jf k" in decimal, instruction 0 of 1'
	check_400 '/v1/capture?duration=5' 'bpf: missing'
	check_400 "/v1/capture?bpf=$(bpf icmp)&iface=eth9" "iface: 'eth9' is not served by this agent"
	check_400 "/v1/capture?bpf=$(bpf icmp)&iface=va,any" "iface: any (every interface served, as tcpdump -i any) is given alone"
	check_400 "/v1/capture?bpf=$(bpf icmp)&iface=any" "linktype: iface=any is captured as LINUX_SLL2: compile the filter for it"
	check_400 "/v1/capture?bpf=$(bpf icmp)&linktype=LINUX_SLL2" "linktype: LINUX_SLL2 is the link type of iface=any only"
	check_400 "/v1/capture?bpf=$(bpf icmp)&dir=up" "dir: 'up' is not in, out or inout"
	check_400 "/v1/capture?bpf=$(bpf icmp)&snaplen=0" "snaplen: '0' is not 1..262144"
	check_400 "/v1/capture?bpf=$(bpf icmp)&duration=99999" "duration: '99999' is not 1..86400 seconds"
	check_400 "/v1/capture?bpf=$(bpf icmp)&count=1&count=2" "count: given twice"
	check_400 "/v1/capture?bpf=$(bpf icmp)&colour=red" "unknown parameter 'colour'"
	check_400 "/v1/capture?bpf=%zz" "malformed query string"
	c=$(inb curl -sS -o /dev/null -w '%{http_code}' -X POST \
		-H "Authorization: $(auth /v1/capture POST)" "$url/v1/capture")
	[ "$c" = 405 ] && ok "POST: 405" || ko POST "$c"
	c=$(code /v1/nothing)
	[ "$c" = 404 ] && ok "unknown path: 404" || ko "unknown path" "$c"
	[ "$(captures)" = 0 ] && slots_empty && ok "after the refusals: no capture, empty slots" ||
		ko "after refusals" "$(captures) captures"
}

check_400() { # TARGET BODY-PREFIX
	local c
	c=$(code "$1")
	[ "$c" = 400 ] && [ "${2}" = "$(head -c ${#2} "$tmp/body")" ] && ok "400: $(cat "$tmp/body")" ||
		ko "400 for $1" "$c $(cat "$tmp/body")"
}

test_eight_sessions() {
	local i pids=() c n
	for i in 1 2 3 4 5 6 7 8; do
		cap_start "$tmp/e$i.pcapng" "/v1/capture?bpf=$(bpf icmp)&count=6&duration=60" ||
			{ ko "eight sessions" "capture $i did not start"; return; }
		pids+=($cap_pid)
	done
	c=$(code "/v1/capture?bpf=$(bpf icmp)&count=1&duration=5")
	[ "$c" = 503 ] && ok "a ninth capture: 503 ($(cat "$tmp/body"))" || ko "ninth" "$c"
	n=$(captures)
	inb ping -c 3 -i 0.2 10.98.0.1 > /dev/null
	for i in "${pids[@]}"; do wait_gone $i 10; done
	c=$(for i in 1 2 3 4 5 6 7 8; do tshark -r "$tmp/e$i.pcapng" -T fields -e icmp.type -e icmp.seq 2> /dev/null | tr '\n' ' '; echo; done | sort -u)
	[ "$n" = 8 ] && [ "$c" = "8	1 0	1 8	2 0	2 8	3 0	3 " ] &&
		ok "eight captures at once: each got the same 6 packets" ||
		ko "eight sessions" "status listed $n; $c"
	for _ in $(seq 20); do [ "$(captures)" = 0 ] && break; sleep 0.05; done
	[ "$(captures)" = 0 ] && slots_empty && ok "after them: no capture, empty slots" ||
		ko "after eight" "$(captures) captures"
}

test_client_hangs_up() {
	local t="/v1/capture?bpf=$(bpf icmp)&duration=60" i ms
	cap_start "$tmp/h.pcapng" "$t" || { ko hangup "no start"; return; }
	[ "$(captures)" = 1 ] && ! slots_empty || { ko hangup "capture not listed"; return; }
	kill -TERM $cap_pid; wait $cap_pid 2> /dev/null
	for i in $(seq 40); do
		[ "$(captures)" = 0 ] && slots_empty && break
		sleep 0.05
	done
	ms=$((i * 50))
	[ "$(captures)" = 0 ] && slots_empty && [ $ms -le 1000 ] &&
		grep -q 'ended (client closed the connection)' "$tmp/agent.log" &&
		ok "client hangs up: session off the hooks within $ms ms" ||
		ko hangup "$(captures) captures after $ms ms"
}

test_slow_reader() {
	# one reader at 200 kB/s, one at full speed, the same traffic: the slow
	# one's records past its 4 MiB bound are dropped and counted; the ring
	# is never held back for it, so it does not fill and the fast one loses
	# nothing. The traffic is paced (four pings of 1,000 echo requests of
	# 1400 bytes a second: about 12 MB/s of records a session, of which the
	# 8 MiB ring holds 300 ms), so that a loss means a held-back ring, not
	# an overload: a ping -f (130,000 packets/s on 2 vCPUs) filled the ring
	# in 20 ms, less than the agent took to first touch the sinks' buffers.
	# B's receive buffers grow to 4 MiB at most (tcp_rmem, copied from the
	# host's), so that the slow connection holds far less than the 60 MB.
	local t="/v1/capture?bpf=$(bpf icmp)&duration=60" fast slow pings=() rmem
	rmem=$(inb sysctl -n net.ipv4.tcp_rmem)
	inb sysctl -qw net.ipv4.tcp_rmem="4096 131072 4194304"
	cap_start "$tmp/slow.pcapng" "$t" --limit-rate 200k || { ko "slow reader" "no start"; return; }
	slow=$cap_pid
	cap_start "$tmp/fast.pcapng" "/v1/capture?bpf=$(bpf icmp)&count=40000&duration=60" ||
		{ ko "slow reader" "no start"; return; }
	fast=$cap_pid
	for _ in 1 2 3 4; do
		inb ping -q -i 0.001 -c 5000 -s 1400 10.98.0.1 > /dev/null &
		pings+=($!)
	done
	wait "${pings[@]}"
	wait_gone $fast 30
	get /v1/status > "$tmp/st.json"
	kill -TERM $slow; wait $slow 2> /dev/null
	inb sysctl -qw net.ipv4.tcp_rmem="$rmem"
	python3 - "$tmp/st.json" "$(tshark -r "$tmp/fast.pcapng" 2> /dev/null | wc -l)" <<-'PY' > "$tmp/slow.out"
	import json, sys
	c = json.load(open(sys.argv[1]))["captures"]
	assert len(c) == 1, c
	k = c[0]["counters"]
	assert k["osdropped"] > 0 and k["dropped"] == 0, k
	assert k["written"] + k["osdropped"] <= k["captured"], k
	assert int(sys.argv[2]) == 40000, sys.argv[2]
	print("slow: %d written, %d dropped at its bound; fast: all 40000" % (k["written"], k["osdropped"]))
	PY
	[ $? = 0 ] && ok "slow reader: $(cat "$tmp/slow.out")" || ko "slow reader" "$(cat "$tmp/slow.out")"
}

test_sigterm() {
	local st
	cap_start "$tmp/t.pcapng" "/v1/capture?bpf=$(bpf icmp)&duration=60" ||
		{ ko sigterm "no start"; return; }
	inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null
	agent_stop; st=$?
	wait $cap_pid; local cst=$?
	[ $st = 0 ] && [ $cst = 0 ] && ! hooked &&
		[ "$(tshark -r "$tmp/t.pcapng" 2> /dev/null | wc -l)" = 4 ] &&
		[ "$(python3 "$here/isb.py" "$tmp/t.pcapng" | wc -l)" = 2 ] &&
		ok "SIGTERM: the capture ends complete (4 packets, ISBs), agent exits 0, hooks off" ||
		ko sigterm "agent $st, curl $cst, hooks: $(hooks)"
	agent_start --plain-http || ko "agent restart" "$(cat "$tmp/agent.log")"
}

test_tls() {
	local c
	agent_stop
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=edgecap-test \
		-addext subjectAltName=IP:10.98.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
		2> /dev/null
	printf 'tls_cert = %s\ntls_key = %s\n' "$tmp/cert.pem" "$tmp/key.pem" > "$tmp/tls.conf"
	ip netns exec "$A" "$agent" -c "$tmp/tls.conf" -i va --secret-file "$tmp/secret" \
		--listen 10.98.0.1:8443 2> "$tmp/agent.log" &
	agent_pid=$!
	for _ in $(seq 100); do grep -q serving "$tmp/agent.log" && break; sleep 0.05; done
	local t="/v1/capture?bpf=$(bpf icmp)&count=2&duration=10"
	ip netns exec "$B" curl -sS --cacert "$tmp/cert.pem" -H "Authorization: $(auth "$t")" \
		-o "$tmp/tls.pcapng" "https://10.98.0.1:8443$t" &
	cap_pid=$!
	for _ in $(seq 100); do grep -q 'session 0 for' "$tmp/agent.log" && break; sleep 0.05; done
	inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null
	wait_gone $cap_pid 10
	c=$(inb curl -sS -o /dev/null -w '%{http_code}' "http://10.98.0.1:8443/v1/status" 2> /dev/null)
	[ "$(tshark -r "$tmp/tls.pcapng" 2> /dev/null | wc -l)" = 2 ] && [ "$c" != 200 ] &&
		grep -q '(HTTPS)' "$tmp/agent.log" &&
		ok "HTTPS: a capture over TLS (certificate checked); plain HTTP refused" ||
		ko tls "$(cat "$tmp/agent.log")"
	# no HTTP/2 (h2o 2.2 cannot bound its stream resets): by ALPN, nor over plain HTTP
	c=$(inb curl -sS -o /dev/null -w '%{http_version}' --http2 --cacert "$tmp/cert.pem" \
		"https://10.98.0.1:8443/v1/status" 2>&1)
	agent_stop
	agent_start --plain-http || ko "agent restart" "$(cat "$tmp/agent.log")"
	c+=" $(inb curl -sS -o /dev/null -w '%{http_version}' --http2-prior-knowledge \
		"http://10.98.0.1:8080/v1/status" 2>&1)"
	[[ $c == "1.1 "* ]] && [[ $c != *" 2" ]] &&
		ok "HTTP/1.1 only: ALPN offering h2 gets http/1.1, the HTTP/2 preface no HTTP/2" ||
		ko "agent http2" "$c"
}

test_config_errors() {
	local out st
	out=$(ina "$agent" -c /dev/null -i va --plain-http 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap-agent: error: no secret: set tunnel (the server's address: the device joins by claim and the secret comes from it) or secret_file (a device reached directly)" ] &&
		ok "no secret: exit 2, one line" || ko "no secret" "$st $out"
	printf 'listen = 10.98.0.1:8081\nbogus = 1\n' > "$tmp/bad.conf"
	out=$(ina "$agent" -c "$tmp/bad.conf" 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap-agent: error: $tmp/bad.conf:2: unknown setting 'bogus'" ] &&
		ok "unknown setting: exit 2, file and line" || ko "bad conf" "$st $out"
	out=$(ina "$agent" -c /dev/null -i nosuch0 --secret-file "$tmp/secret" --plain-http \
		--listen 10.98.0.1:8081 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap-agent: error: unknown interface 'nosuch0'" ] &&
		ok "unknown interface: exit 2, one line" || ko "unknown iface" "$st $out"
	out=$(ina "$agent" -c /dev/null -i va,any --secret-file "$tmp/secret" --plain-http \
		--listen 10.98.0.1:8081 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap-agent: error: any (every interface, as tcpdump -i any) is not served by the agent: name the interfaces" ] &&
		ok "-i any: exit 2, one line" || ko "-i any" "$st $out"
}

test_xdp_kill9() {
	local h left w
	agent_stop
	printf 'ingress = xdp\n' > "$tmp/xdp.conf"
	agent_start --plain-http -c "$tmp/xdp.conf" || { ko "xdp kill -9" "no start: $(cat "$tmp/agent.log")"; return; }
	cap_start "$tmp/x.pcapng" "/v1/capture?bpf=$(bpf icmp)&duration=30" ||
		{ ko "xdp kill -9" "no capture"; agent_stop; agent_start --plain-http; return; }
	inb ping -c 1 10.98.0.1 > /dev/null
	h=$(ina "$ec" hooks va)
	# a veth's XDP misses the VLAN tags its peer's TX offload keeps out of
	# band, unless the kfunc reads them (test_xdp_vlan)
	w=$(grep -c '^edgecap-agent: warning: va: XDP cannot see VLAN tags .*; ingress = tc keeps it$' \
		"$tmp/agent.log")
	kill -9 "$agent_pid"
	wait "$agent_pid" 2> /dev/null
	agent_pid=
	wait $cap_pid
	# the agent is not started again: the kernel alone took the link down
	left=$(ina "$ec" hooks va; ina ip link show va | grep -o 'prog/xdp.*')
	grep -q '^va ingress xdp-link prog ' <<< "$h" && ! grep -q xdp <<< "$left" &&
		ok "ingress = xdp: an XDP link; after kill -9 of the agent no XDP program on va" ||
		ko "xdp kill -9" "while running: $h; after: $left"
	if vlan_kfunc; then
		[ "$w" = 0 ] && ok "ingress = xdp on veth with the RX metadata kfunc: no VLAN warning" ||
			ko "xdp vlan warning" "$w lines: $(cat "$tmp/agent.log")"
	else
		[ "$w" = 1 ] && ok "ingress = xdp on veth: the log says once that XDP cannot see VLAN tags out of band" ||
			ko "xdp vlan warning" "$w lines: $(cat "$tmp/agent.log")"
	fi
	agent_start --plain-http || ko "agent restart" "$(cat "$tmp/agent.log")"
	! grep -q 'XDP cannot see VLAN tags' "$tmp/agent.log" &&
		ok "ingress = auto on veth (TC): no such warning" || ko "auto vlan warning" "$(cat "$tmp/agent.log")"
}

# ingress = xdp on veth with the RX metadata kfunc (Linux 6.8): vb's TC egress
# gives 10 frames an 802.1Q tag out of band (vlan_push.bpf.c), 10 more go
# untagged; a `vlan 100` capture streams the 10 with their tag put back, byte
# for byte as tcpdump on va has them.
test_xdp_vlan() {
	local mac td got frames
	if [ ! -r "$vlanpush" ] || ! vlan_kfunc; then
		echo "SKIP xdp vlan: no RX metadata kfunc in this kernel (or no $vlanpush)"
		return
	fi
	agent_stop
	printf 'ingress = xdp\n' > "$tmp/xdp.conf"
	agent_start --plain-http -c "$tmp/xdp.conf" || { ko "xdp vlan" "no start: $(cat "$tmp/agent.log")"; return; }
	mac=$(ina cat /sys/class/net/va/address)
	ip netns exec "$A" tcpdump -i va -Q in -U -s 262144 -w "$tmp/xvref.pcap" 2> "$tmp/xvtd.err" &
	td=$!
	if cap_start "$tmp/xv.pcapng" "/v1/capture?bpf=$(bpf 'vlan 100 and udp port 5555')&count=10&duration=30"; then
		for _ in $(seq 100); do grep -q listening "$tmp/xvtd.err" && break; sleep 0.05; done
		inb tc qdisc add dev vb clsact &&
			inb tc filter add dev vb egress bpf da obj "$vlanpush" sec vlan_q &&
			inb python3 "$here/vlan_frames.py" vb "$mac" 10 - q
		inb tc qdisc del dev vb clsact 2> /dev/null
		inb python3 "$here/vlan_frames.py" vb "$mac" 10 - plain
		wait_gone $cap_pid 15 || kill $cap_pid 2> /dev/null
	else
		ko "xdp vlan" "no capture"
	fi
	sleep 1.2 # tcpdump reads its ring a block at a time
	kill -TERM $td; wait $td
	tcpdump -r "$tmp/xvref.pcap" -w "$tmp/xvref_f.pcap" 'vlan 100 and udp port 5555' 2> /dev/null
	frames() { tshark -r "$1" -T fields -e frame.len -e frame.cap_len 2> /dev/null &&
		tcpdump -r "$1" -t -nn -xx 2> /dev/null; }
	got=$(tcpdump -nn -e -r "$tmp/xv.pcapng" 2> /dev/null | grep -c 'vlan 100, p 5, DEI, ethertype IPv4')
	frames=$(tcpdump -r "$tmp/xvref_f.pcap" 2> /dev/null | wc -l)
	[ "$got" = 10 ] && [ "$frames" = 10 ] && cmp -s <(frames "$tmp/xv.pcapng") <(frames "$tmp/xvref_f.pcap") &&
		ok "ingress = xdp, tags out of band: the 10 frames of 'vlan 100' with their tag, as tcpdump's" ||
		ko "xdp vlan" "$got records with the tag; tcpdump: $frames"
	agent_stop
	agent_start --plain-http || ko "agent restart" "$(cat "$tmp/agent.log")"
}

# A short program the verifier spends seconds on: 14 branches each add a
# different power of two to X or not, and X is a packet offset after them,
# so the verifier follows each of the 2^14 paths on its own, until it gives
# up at its limit of a million instructions. The classic validator finds
# nothing wrong with it.
slow_bpf() {
	python3 -c 'p = [(0x01, 0, 0, 0)]  # ldx #0
for i in range(14):  # ldb [14+i]; jeq #i+1, 0, 3; txa; add #2^(i%8); tax
    p += [(0x30, 0, 0, 14 + i), (0x15, 0, 3, i + 1), (0x87, 0, 0, 0), (0x04, 0, 0, 1 << (i % 8)), (0x07, 0, 0, 0)]
p += [(0x50, 0, 0, 1), (0x50, 0, 0, 0), (0x16, 0, 0, 0)]  # ldb [x+1]; ldb [x+0]; ret a
print(",".join([str(len(p))] + ["%d%%20%d%%20%d%%20%d" % i for i in p]))'
}

test_slow_verifier() {
	local t i c st w=() pids=()
	t="/v1/capture?bpf=$(slow_bpf)&duration=10"
	# four wait for the verifier (one loading, three queued): the most
	for i in 1 2 3 4; do
		get "$t" -o "$tmp/slow$i" -w '%{http_code}' > "$tmp/slow$i.code" &
		pids+=($!)
	done
	sleep 1
	c=$(code "$t")
	# the status meanwhile: as quick as ever, not after the verifier
	st=$(get /v1/status -o /dev/null -w '%{http_code} %{time_total}')
	for i in "${pids[@]}"; do wait "$i"; done
	for i in 1 2 3 4; do # each refused: the verifier gave up
		[ "$(cat "$tmp/slow$i.code")" = 400 ] &&
			grep -q '^bpf: verifier: .*BPF program is too large' "$tmp/slow$i" ||
			w+=("$(cat "$tmp/slow$i.code") $(cut -c1-80 "$tmp/slow$i")")
	done
	[ "$c" = 503 ] &&
		[ "$(cat "$tmp/body")" = "4 captures are waiting for the kernel's verifier already; try again later" ] &&
		[ "${st% *}" = 200 ] && python3 -c "import sys; sys.exit(float('${st#* }') >= 1)" &&
		[ ${#w[@]} = 0 ] &&
		ok "slow verifier: status in ${st#* } s meanwhile, a fifth waiting capture 503, each 400" ||
		ko "slow verifier" "fifth: $c $(cat "$tmp/body"); status: $st; slow: ${w[*]}"
}

agent_start --plain-http || { echo "FAIL agent did not start: $(cat "$tmp/agent.log")"; exit 1; }

# After each case: no capture left, and the agent still answers.
test_operable() {
	local n c
	# one log line per refused request, with its status and reason
	n=$(wc -l < "$tmp/agent.log")
	inb curl -sS -o /dev/null "$url/v1/status"
	inb curl -sS -o /dev/null -H "Authorization: $(auth /v1/statu)" "$url/v1/status"
	get /v1/nosuch -o /dev/null
	sleep 0.2
	[ "$(tail -n +$((n + 1)) "$tmp/agent.log" | grep 'refused ' | sed 's/ from [0-9.]*:[0-9]*//')" = \
"edgecap-agent: warning: refused GET /v1/status: 401 no Authorization header
edgecap-agent: warning: refused GET /v1/status: 403 bad signature
edgecap-agent: notice: refused GET /v1/nosuch: 404 no such path (have /v1/capture, /v1/status, /v1/settings)" ] &&
		ok "refused requests: one log line each, with the status and the reason" ||
		ko "refusal log" "$(tail -n 4 "$tmp/agent.log")"
	# the server's capture id is in the agent's log lines and status
	cap_start "$tmp/id.pcapng" "/v1/capture?bpf=$(bpf icmp)&count=2&duration=10" -H 'Edgecap-Capture: 77' ||
		{ ko "capture id" "no start"; return; }
	c=$(get /v1/status | python3 -c 'import json, sys; print(json.load(sys.stdin)["captures"][0].get("capture"))')
	inb ping -c 1 10.98.0.1 > /dev/null
	wait_gone $cap_pid 10
	[ "$c" = 77 ] && grep -q 'info: capture 77 (session [0-7]) for 10.98.0.2:[0-9]*: 1 interface' "$tmp/agent.log" &&
		grep -q 'info: capture 77 (session [0-7]) for 10.98.0.2:[0-9]* ended' "$tmp/agent.log" &&
		ok "Edgecap-Capture: 77: the agent's log lines and status name the server's capture 77" ||
		ko "capture id" "status $c; $(grep 'capture 77' "$tmp/agent.log")"
}

test_metrics() {
	local m="http://10.98.0.1:9101/metrics"
	[ "$(get /metrics -o /dev/null -w '%{http_code}')" = 404 ] ||
		ko metrics "/metrics answered on the capture listener"
	agent_stop
	agent_start --plain-http --metrics-listen 10.98.0.1:9101 || { ko metrics "no start"; return; }
	inb curl -sS "$m" > "$tmp/m0" || { ko metrics "no answer"; return; }
	cap_start "$tmp/m.pcapng" "/v1/capture?bpf=$(bpf icmp)&count=4&duration=10" ||
		{ ko metrics "no start"; return; }
	inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null
	wait_gone $cap_pid 10
	sleep 0.3
	inb curl -sS -D "$tmp/mh" "$m" > "$tmp/m1"
	python3 - "$tmp/m0" "$tmp/m1" <<-'PY' > "$tmp/m.out" &&
	import sys
	def read(p):
	    v = {}
	    for l in open(p):
	        if not l.startswith("#"):
	            k, n = l.rsplit(" ", 1)
	            v[k] = int(n)
	    return v
	a, b = read(sys.argv[1]), read(sys.argv[2])
	assert a["edgecap_agent_captures_total"] == 0 and b["edgecap_agent_captures_total"] == 1, (a, b)
	assert b["edgecap_agent_sessions"] == 0 and b["edgecap_agent_sessions_max"] == 8, b
	k = 'edgecap_agent_packets_captured_total{interface="va"}'
	assert b[k] == 4 and b['edgecap_agent_packets_matched_total{interface="va"}'] == 4, b
	assert b['edgecap_agent_ring_dropped_total{interface="va"}'] == 0, b
	assert b['edgecap_agent_packets_seen_total{interface="va"}'] >= 4, b
	print("after a capture of 4 packets: captures_total 1, captured 4 on va")
	PY
		grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/mh" &&
		[ "$(inb curl -sS -o /dev/null -w '%{http_code}' "http://10.98.0.1:9101/v1/status")" = 404 ] &&
		ok "metrics on their own listener, Prometheus text: $(cat "$tmp/m.out")" ||
		ko metrics "$(cat "$tmp/m.out" "$tmp/m1")"
	agent_stop
	agent_start --plain-http || ko "agent restart" "$(cat "$tmp/agent.log")"
}

# Datagrams "seq N" to each of the PORTS in turn, COUNT rounds from FIRST.
send_ports() { # FIRST COUNT PORT...
	# shellcheck disable=SC2016
	inb bash -c 'first=$1 n=$2; shift 2
	for ((i = first; i < first + n; i++)); do
		for p in "$@"; do printf "seq %d" $i > /dev/udp/10.98.0.1/$p; done
	done' send "$@"
}

payloads() { # FILE PORT: the payloads to PORT in FILE
	tshark -r "$1" -Y "udp.dstport == $2" -T fields -e data.text -o data.show_as_text:TRUE \
		-d "udp.port==$2,data" 2> /dev/null
}

# Two CLI captures and an agent capture on va at once, each with its own
# filter, counters and file: each gets exactly the datagrams to its port
# that a tcpdump on va saw. Both CLIs ask for XDP: the first takes it, the
# second says it uses TC ingress. kill -9 of the first leaves nothing of it
# attached (its XDP link and egress program gone) while the others go on.
test_shared_with_cli() {
	local td c1 c2 h before after bad= want got mine
	ip netns exec "$A" tcpdump -i va -U -w "$tmp/sh-ref.pcap" udp 2> "$tmp/sh-td.err" &
	td=$!
	ip netns exec "$A" "$ec" capture -i va --ingress xdp -w "$tmp/sh-c1.pcapng" 'udp port 5001' \
		2> "$tmp/sh-c1.err" &
	c1=$!
	for _ in $(seq 100); do ina "$ec" hooks va | grep -q xdp-link && break; sleep 0.05; done
	ip netns exec "$A" "$ec" capture -i va --ingress xdp -w "$tmp/sh-c2.pcapng" 'udp port 5002' \
		2> "$tmp/sh-c2.err" &
	c2=$!
	cap_start "$tmp/sh-ag.pcapng" "/v1/capture?bpf=$(bpf 'udp port 5003')&count=300&duration=60" ||
		{ ko "shared" "agent capture did not start"; kill $td $c1 $c2; return; }
	for _ in $(seq 100); do
		grep -q listening "$tmp/sh-c2.err" && grep -q listening "$tmp/sh-td.err" && break
		sleep 0.05
	done
	send_ports 1 200 5001 5002 5003
	sleep 0.5 # the first capture's last batch is in its file before the kill
	before=$(ina "$ec" hooks va)
	mine=$(grep -h '^prog_id:' /proc/$c1/fdinfo/* 2> /dev/null | awk '{print $2}' | sort -u)
	kill -9 $c1; wait $c1 2> /dev/null
	# clsact filters (no tcx: Linux 6.1) outlive their process until the
	# next capture's start removes those whose owner is gone
	grep -q ' tcx ' <<< "$before" ||
		ina "$ec" capture -i va -Q out -c 1 --duration 1 -w /dev/null 2> /dev/null
	after=$(ina "$ec" hooks va)
	send_ports 201 100 5002 5003
	wait_gone $cap_pid 20 || bad+=" the agent's capture did not end at count=300;"
	kill -TERM $c2; wait_gone $c2 10
	sleep 1; kill -TERM $td; wait $td
	for id in $mine; do grep -q " prog $id$" <<< "$after" && bad+=" prog $id of the killed capture still attached;"; done
	grep -q xdp <<< "$after" && bad+=" XDP left: $after;"
	[ -z "$mine" ] && bad+=" no programs found in the first capture's fds;"
	grep -q ' tcx ' <<< "$before" && [ -n "$(ina tc filter show dev va ingress; ina tc filter show dev va egress)" ] &&
		bad+=" tc filters on va with tcx: $(ina tc filter show dev va ingress);"
	[ "$(grep -c ' ingress ' <<< "$before")" = 3 ] && [ "$(grep -c ' egress ' <<< "$before")" = 3 ] ||
		bad+=" before the kill, not 3 ingress and 3 egress hooks: $before;"
	[ "$(grep -c ' ingress ' <<< "$after")" = 2 ] && [ "$(grep -c ' egress ' <<< "$after")" = 2 ] ||
		bad+=" after the kill, not 2 and 2: $after;"
	grep -q "^edgecap: va: XDP is another capture's: capturing ingress with TC$" "$tmp/sh-c2.err" ||
		bad+=" no line about XDP: $(cat "$tmp/sh-c2.err");"
	want=$(payloads "$tmp/sh-ref.pcap" 5001)
	got=$(payloads "$tmp/sh-c1.pcapng" 5001)
	[ "$got" = "$want" ] && [ "$(wc -l <<< "$got")" = 200 ] || bad+=" 5001: $(wc -l <<< "$got") of $(wc -l <<< "$want");"
	for p in 5002 5003; do
		f=$tmp/sh-c2.pcapng; [ $p = 5003 ] && f=$tmp/sh-ag.pcapng
		want=$(payloads "$tmp/sh-ref.pcap" $p)
		got=$(payloads "$f" $p)
		[ "$got" = "$want" ] && [ "$(wc -l <<< "$got")" = 300 ] || bad+=" $p: $(wc -l <<< "$got") of $(wc -l <<< "$want");"
	done
	[ "$(tshark -r "$tmp/sh-c2.pcapng" 2> /dev/null | wc -l)" = 300 ] &&
		[ "$(tshark -r "$tmp/sh-ag.pcapng" 2> /dev/null | wc -l)" = 300 ] || bad+=" other packets in a file;"
	grep -q '^300 packets captured$' "$tmp/sh-c2.err" || bad+=" CLI 2's counts: $(cat "$tmp/sh-c2.err");"
	[ -z "$bad" ] &&
		ok "two CLI captures and the agent's on va at once: each its own datagrams as tcpdump saw them (200, 300, 300); kill -9 of one left none of its hooks, the others went on" ||
		ko "shared" "$bad"
}

# An interface tcpdump captures as LINUX_SLL (GRE without a remote, whose
# outer IPv4 and GRE headers the hooks see before the packet, and whose
# address is the outer source; B's end has A as its remote; the 6.1 VM:
# the host kernel has no GRE) served beside va: its type in the status,
# an Ethernet filter refused naming the type to compile for, one compiled
# for LINUX_SLL captures as tcpdump -i gre1 does, byte for byte; ingress
# xdp refused on it in one line.
test_sll_interface() {
	local out st td t refused
	ina ip link add gre1 type gre local 10.98.0.1 2> /dev/null ||
		{ echo "SKIP LINUX_SLL interface: this kernel has no GRE"; return; }
	inb ip link add gre1 type gre local 10.98.0.2 remote 10.98.0.1 &&
		ina ip addr add 10.99.0.1/30 dev gre1 && inb ip addr add 10.99.0.2/30 dev gre1 &&
		ina ip neigh add 10.99.0.2 lladdr 10.98.0.2 dev gre1 nud permanent &&
		ina ip link set gre1 up && inb ip link set gre1 up || { ko "LINUX_SLL" "no GRE pair"; return; }
	printf 'ingress = xdp\n' > "$tmp/xdp.conf"
	out=$(ina "$agent" -c "$tmp/xdp.conf" -i gre1 --secret-file "$tmp/secret" --plain-http \
		--listen 10.98.0.1:8081 2>&1); st=$?
	agent_stop
	agent_start --plain-http -i va,gre1 || { ko "LINUX_SLL" "no start: $(cat "$tmp/agent.log")"; ina ip link del gre1; inb ip link del gre1; agent_start --plain-http; return; }
	local types
	types=$(get /v1/status | python3 -c 'import json, sys
print(" ".join("%s:%s:%s" % (i["name"], i["linktype"], i["ingress"]) for i in json.load(sys.stdin)["interfaces"]))')
	refused="$(code "/v1/capture?bpf=$(bpf icmp)&iface=gre1&count=1") $(cat "$tmp/body")"
	ip netns exec "$A" tcpdump -i gre1 -U -w "$tmp/gre.pcap" icmp 2> "$tmp/gre.td" &
	td=$!
	t="/v1/capture?bpf=$("$ec" filter compile -y LINUX_SLL icmp | paste -sd, | sed 's/ /%20/g')&linktype=LINUX_SLL&iface=gre1&count=6"
	cap_start "$tmp/gre.pcapng" "$t" || ko "LINUX_SLL" "no capture: $(cat "$tmp/gre.pcapng.err")"
	for _ in $(seq 100); do grep -q listening "$tmp/gre.td" && break; sleep 0.05; done
	inb ping -c 2 -i 0.2 10.99.0.1 > /dev/null
	ina ping -c 1 10.99.0.2 > /dev/null
	wait_gone $cap_pid 10
	sleep 1.2 # tcpdump reads its ring a block at a time
	kill -INT $td; wait_gone $td 10
	agent_stop
	ina ip link del gre1; inb ip link del gre1
	agent_start --plain-http
	[ $st = 2 ] && [ "$out" = "edgecap-agent: error: ingress xdp: gre1 is LINUX_SLL (captured on TC)" ] &&
		[ "$types" = "va:EN10MB:tc gre1:LINUX_SLL:tc" ] &&
		[ "$refused" = "400 linktype: gre1 is LINUX_SLL, the filter was compiled for EN10MB (compile it for LINUX_SLL)" ] &&
		[ "$(capinfos -E "$tmp/gre.pcapng" | sed -n 's/^File encapsulation: *//p')" = "Linux cooked-mode capture v1" ] &&
		[ "$(tshark -r "$tmp/gre.pcapng" 2> /dev/null | wc -l)" = 6 ] &&
		[ "$(tshark -r "$tmp/gre.pcapng" -x 2> /dev/null)" = "$(tshark -r "$tmp/gre.pcap" -x 2> /dev/null)" ] &&
		ok "GRE without a remote (LINUX_SLL) served: its type in the status, an EN10MB filter refused naming LINUX_SLL, 6 records of a LINUX_SLL one as tcpdump -i gre1's; ingress xdp refused" ||
		ko "LINUX_SLL interface" "xdp: $st $out; status '$types'; '$refused'; $(capinfos -E "$tmp/gre.pcapng" 2>&1 | tail -1); $(tshark -r "$tmp/gre.pcapng" 2> /dev/null | wc -l) records, tcpdump $(tshark -r "$tmp/gre.pcap" 2> /dev/null | wc -l)"
}

# iface=any: every interface served, as tcpdump -i any (LINUX_SLL2, on the
# TC hooks), beside a session whose ingress is XDP on the same interfaces:
# the cooked stream holds what tcpdump -i any holds, byte for byte, and the
# XDP session each of its packets once (not again at TC ingress).
test_any() {
	local bad= td t1 t2 st n
	ina ip link add va2 type veth peer name vb2 netns "$B" && ina ip addr add 10.98.2.1/24 dev va2 &&
		inb ip addr add 10.98.2.2/24 dev vb2 && ina ip link set va2 up && inb ip link set vb2 up ||
		{ ko any "no second veth pair"; return; }
	inb ping -c 1 -W 2 10.98.2.1 > /dev/null # neighbours resolved
	agent_stop
	printf 'ingress = xdp\n' > "$tmp/xdp.conf"
	agent_start --plain-http -c "$tmp/xdp.conf" -i va,va2 ||
		{ ko any "no start: $(cat "$tmp/agent.log")"; ina ip link del va2; agent_start --plain-http; return; }
	st=$(get /v1/status | python3 -c 'import json, sys
print(" ".join("%s:%s" % (i["name"], i["ingress"]) for i in json.load(sys.stdin)["interfaces"]))')
	ip netns exec "$A" tcpdump -i any -U -w "$tmp/any-t.pcap" icmp 2> "$tmp/any-t.err" &
	td=$!
	# counts, not a clock: a slow machine's verifier may take seconds over
	# the second program
	t1="/v1/capture?bpf=$(bpf icmp)&dir=in&count=8&duration=60"
	t2="/v1/capture?bpf=$("$ec" filter compile -y LINUX_SLL2 icmp | paste -sd, | sed 's/ /%20/g')&iface=any&linktype=LINUX_SLL2&count=16&duration=60"
	cap_start "$tmp/any-x.pcapng" "$t1" && local p1=$cap_pid &&
		cap_start "$tmp/any-e.pcapng" "$t2" && local p2=$cap_pid || bad+=" no start: $(cat "$tmp"/any-?.pcapng.err);"
	for _ in $(seq 100); do grep -q listening "$tmp/any-t.err" && break; sleep 0.05; done
	inb ping -c 3 -i 0.2 10.98.0.1 > /dev/null
	inb ping -c 3 -i 0.2 10.98.2.1 > /dev/null
	ina ping -c 2 -i 0.2 10.98.0.2 > /dev/null
	wait_gone "${p1:-0}" 30; wait_gone "${p2:-0}" 30
	sleep 1.2 # tcpdump reads its ring a block at a time
	kill -INT $td; wait_gone $td 10
	agent_stop
	n=$(any_packets "$tmp/any-e.pcapng" | wc -l)
	[ "$st" = "va:xdp va2:xdp" ] || bad+=" status '$st';"
	[ "$n" = 16 ] && cmp -s <(any_packets "$tmp/any-e.pcapng") <(any_packets "$tmp/any-t.pcap") ||
		bad+=" any: $n records, tcpdump $(any_packets "$tmp/any-t.pcap" | wc -l): $(diff <(any_packets "$tmp/any-e.pcapng") <(any_packets "$tmp/any-t.pcap") | head -3 | cut -c1-150 | tr '\n' '|');"
	[ "$(capinfos -E "$tmp/any-e.pcapng" | sed -n 's/^File encapsulation: *//p')" = "Linux cooked-mode capture v2" ] ||
		bad+=" encapsulation $(capinfos -E "$tmp/any-e.pcapng");"
	# a block per interface (and direction), where tcpdump writes one, "any"
	n=$(tshark -r "$tmp/any-e.pcapng" -T fields -e frame.interface_name 2> /dev/null | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
	[ "$n" = "va:10 va2:6 " ] || bad+=" interface blocks: $n;"
	# 8 packets in, each once: XDP's (a copy from TC ingress would repeat one)
	n=$(tcpdump -r "$tmp/any-x.pcapng" -nn -t 2> /dev/null | sort -u | wc -l)
	[ "$n" = 8 ] || bad+=" XDP session: $n distinct packets, not 8;"
	ina ip link del va2
	agent_start --plain-http
	[ -z "$bad" ] && ok "iface=any: 16 records as tcpdump -i any's, LINUX_SLL2, each in its interface's block; an XDP session on the same interfaces got its 8 once" ||
		ko any "$bad"
}

alive() {
	kill -0 "$agent_pid" 2> /dev/null && [ "$(captures)" = 0 ] ||
		{ ko "$1 left the agent dead or busy" "$(tail -3 "$tmp/agent.log")"; agent_stop; agent_start --plain-http; }
}

# A tun device served with va: its type in the status; a filter compiled for
# Ethernet refused on it with the type to compile for; one compiled for RAW
# runs, and the stream holds RAW records, byte for byte as tcpdump's.
test_tun_interface() {
	local t st td n=20
	tun_up $n || { ko "tun" "no tun device"; tun_down; return; }
	agent_stop
	agent_start --plain-http -i va,tun0 ||
		{ ko tun "agent did not start: $(cat "$tmp/agent.log")"; tun_down; agent_start --plain-http; return; }
	st=$(get /v1/status | python3 -c 'import json, sys
print(" ".join("%s:%s:%s" % (i["name"], i["linktype"], i["ingress"]) for i in json.load(sys.stdin)["interfaces"]))')
	t="/v1/capture?bpf=$(bpf udp)&iface=tun0&count=1"
	local refused
	refused="$(code "$t") $(cat "$tmp/body")"
	local badtype
	badtype="$(code "/v1/capture?bpf=$(bpf udp)&linktype=PPP") $(cat "$tmp/body")"
	t="/v1/capture?bpf=$("$ec" filter compile -y RAW 'udp port 5001' | paste -sd, | sed 's/ /%20/g')&linktype=RAW&iface=tun0&count=$((n / 2))"
	ip netns exec "$A" tcpdump -i tun0 -U -w "$tmp/tun.pcap" 'udp port 5001' 2> "$tmp/tun.td" &
	td=$!
	cap_start "$tmp/tun.pcapng" "$t" || { ko tun "no start: $(cat "$tmp/tun.pcapng.err")"; kill $td; tun_down; return; }
	for _ in $(seq 100); do grep -q listening "$tmp/tun.td" && break; sleep 0.05; done
	echo go >&7
	wait_gone $cap_pid 10
	for _ in $(seq 40); do
		[ "$(tcpdump -r "$tmp/tun.pcap" 2> /dev/null | wc -l)" -ge $((n / 2)) ] && break
		sleep 0.1
	done
	kill -TERM $td; wait $td
	agent_stop
	tun_down
	agent_start --plain-http
	[ "$st" = "va:EN10MB:tc tun0:RAW:tc" ] &&
		[ "$refused" = "400 linktype: tun0 is RAW, the filter was compiled for EN10MB (compile it for RAW)" ] &&
		[ "$badtype" = "400 linktype: 'PPP' is not EN10MB, RAW, LINUX_SLL or LINUX_SLL2" ] &&
		[ "$(capinfos -E "$tmp/tun.pcapng" | sed -n 's/^File encapsulation: *//p')" = "Raw IP" ] &&
		[ "$(tshark -r "$tmp/tun.pcapng" 2> /dev/null | wc -l)" = $((n / 2)) ] &&
		[ "$(tshark -r "$tmp/tun.pcapng" -x 2> /dev/null)" = "$(tshark -r "$tmp/tun.pcap" -x 2> /dev/null)" ] &&
		ok "tun: RAW in the status, an EN10MB filter refused, a RAW one streams RAW records as tcpdump's" ||
		ko tun "status '$st'; refusal '$refused' '$badtype'; $(tshark -r "$tmp/tun.pcapng" 2> /dev/null | wc -l) packets"
}

run_tests alive test_auth test_capture_stream test_parameters test_bad_requests \
	test_eight_sessions test_client_hangs_up test_slow_reader test_sigterm test_tls \
	test_config_errors test_operable test_metrics test_slow_verifier test_xdp_kill9 \
	test_xdp_vlan test_tun_interface test_shared_with_cli test_sll_interface test_any
st=$?
agent_stop
hooked && { echo "FAIL hooks left on va after the agent stopped"; exit 1; }
exit $st
