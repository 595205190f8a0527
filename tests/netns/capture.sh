#!/usr/bin/env bash
# capture.sh EDGECAP MULTI BPFOBJ [VLANPUSH] - `edgecap capture` on real traffic between two network
# namespaces this script creates (and always removes): exactness against
# tcpdump on the same interface at the same time, directions, limits, snaplen,
# output formats, overload accounting, crash recovery, errors.
set -uo pipefail
ec=$1
multi=${2:-}
bpfobj=${3:-} # capture.bpf.o, to play an earlier version's leftover
vlanpush=${4:-$(dirname "$multi")/vlan_push.bpf.o} # tests/netns/vlan_push.bpf.c
here=$(cd "$(dirname "$0")" && pwd)
suite=cap
. "$here/lib.sh"

# Start a capture in A in the background; returns once its hooks are on.
cap_start() { # OUT ERR ARGS...
	local out=$1 err=$2; shift 2
	# emptied here: the job's own redirection may come after listening
	# has read an earlier capture's line there
	: > "$err"
	# not through ina: $! must be edgecap itself (ip netns exec execs it)
	ip netns exec "$A" "$ec" capture -i va -w "$out" "$@" 2> "$err" &
	cap_pid=$!
	listening "$err"
}

# Wait for a capture's "listening on" line: edgecap prints it once its filter
# is in place (its hooks are on before that, so seeing them is not enough).
listening() { # ERR
	for _ in $(seq 200); do
		grep -qs '^edgecap: listening on' "$1" && return 0
		sleep 0.05
	done
	return 1
}

summary() { sed -n "s/^\([0-9]*\) packets $2.*/\1/p" "$1"; }

test_exactness_vs_tcpdump() {
	exactness auto # TC ingress on veth
	exactness xdp
}

exactness() { # INGRESS_HOOK
	local n=10000
	ip netns exec "$A" tcpdump -i va -U -s 262144 -w "$tmp/ref.pcap" 'udp port 5001' \
		2> "$tmp/td.err" &
	local td=$!
	cap_start "$tmp/exact.pcapng" "$tmp/exact.err" --ingress "$1" -c $((n / 2)) 'udp port 5001' ||
		{ ko exactness "capture did not start"; return; }
	for _ in $(seq 100); do grep -q listening "$tmp/td.err" && break; sleep 0.05; done
	send_udp $n 300 # frames of 47 to 347 bytes: every length the copy treats apart
	wait_gone $cap_pid 30 || {
		ko exactness "capture did not stop at -c $((n / 2)) ($1): $(cat "$tmp/exact.err")"
		kill $cap_pid $td; wait $cap_pid $td
		return
	}
	# tcpdump reads its ring a block at a time (at the latest after 1 s)
	for _ in $(seq 40); do
		[ "$(tcpdump -r "$tmp/ref.pcap" 2> /dev/null | wc -l)" -ge $((n / 2)) ] && break
		sleep 0.1
	done
	kill -TERM $td; wait $td
	tshark -r "$tmp/exact.pcapng" -T fields -e data.text -e frame.len -e frame.cap_len \
		-o data.show_as_text:TRUE -d udp.port==5001,data > "$tmp/exact.txt" 2> /dev/null
	tshark -r "$tmp/ref.pcap" -T fields -e data.text -e frame.len -e frame.cap_len \
		-o data.show_as_text:TRUE -d udp.port==5001,data > "$tmp/ref.txt" 2> /dev/null
	local want
	want=$(seq 1 2 $n | sed 's/^/seq /')
	if [ "$(wc -l < "$tmp/exact.txt")" = $((n / 2)) ] &&
		[ "$(cut -f1 "$tmp/exact.txt" | cut -d' ' -f1,2)" = "$want" ] &&
		cmp -s "$tmp/exact.txt" "$tmp/ref.txt" &&
		cmp -s <(tshark -r "$tmp/exact.pcapng" -x 2> /dev/null | grep -v '^ *[0-9]* [0-9.]* ') \
			<(tshark -r "$tmp/ref.pcap" -x 2> /dev/null | grep -v '^ *[0-9]* [0-9.]* '); then
		ok "exactness ($1 ingress): $n datagrams sent, the $((n / 2)) matching ones captured in order, byte for byte as tcpdump saw them"
	else
		ko "exactness ($1)" "$(wc -l < "$tmp/exact.txt") captured, tcpdump $(wc -l < "$tmp/ref.txt")"
	fi
}

# Without -w, tcpdump's own printers: the same output as a live tcpdump on
# the same interface with the same printing options gives (after the time,
# which each takes at its own point), names looked up without -n, and the
# capture's counts. Each run: 20 datagrams, both stop after 10.
untimed() { sed -E 's/^.*IP /IP /'; }
test_text_lines() {
	local flags bad= td pat strip
	for flags in "-nn" "-nn -t" "-nn -tt" "-nn -tttt" "-t" "-nn -t -e" "-nn -t -vv" \
		"-nn -t -xx" "-nn -t -X" "-nn -t -A -q" "-nn -ttt --time-stamp-precision nano"; do
		# emptied here: each job's own redirection may come after the
		# wait below has read the last round's "listening"
		: > "$tmp/td.err"; : > "$tmp/ec.err"
		ip netns exec "$A" tcpdump -i va -l -c 10 $flags 'udp port 5001' > "$tmp/td.txt" 2> "$tmp/td.err" &
		td=$!
		ip netns exec "$A" "$ec" capture -i va -c 10 $flags 'udp port 5001' > "$tmp/ec.txt" 2> "$tmp/ec.err" &
		cap_pid=$!
		for _ in $(seq 100); do grep -q listening "$tmp/ec.err" && grep -q listening "$tmp/td.err" && break; sleep 0.05; done
		send_udp 20 40
		wait_gone $cap_pid 10 || bad+=" $flags: did not end;"
		wait_gone $td 5 || kill -TERM $td
		strip=cat # or the time before each line, which each takes at its own point
		case $flags in
		*-tttt*) pat='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} IP ' ;;
		*-ttt*) pat='^ [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9} IP ' ;;
		*-tt*) pat='^[0-9]{10}\.[0-9]{6} IP ' ;;
		*-t*) pat= ;; # the whole output is compared
		*) pat='^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} IP ' ;;
		esac
		case $flags in
		*-t\ *|*-t) ;;
		*) strip=untimed ;;
		esac
		{ [ -z "$pat" ] || [ "$(grep -Ec "$pat" "$tmp/ec.txt")" = 10 ]; } && [ -s "$tmp/ec.txt" ] &&
			[ "$($strip < "$tmp/ec.txt")" = "$($strip < "$tmp/td.txt")" ] &&
			grep -q '^10 packets captured' "$tmp/ec.err" &&
			! grep -q 'reading from' "$tmp/ec.err" ||
			bad+=" [$flags] $(head -2 "$tmp/ec.txt" | tr '\n' '|') vs $(head -2 "$tmp/td.txt" | tr '\n' '|') $(cat "$tmp/ec.err");"
	done
	[ -z "$bad" ] && ok "without -w: live tcpdump's output with -nn, -t...-tttt, names, -e, -vv, -xx, -X, -A, -q, nano" ||
		ko "text lines" "$bad"
}

# One packet per line as `tcpdump -r -nn -t -xx` shows it: headers and bytes.
packets() { # FILE
	tcpdump -r "$1" -nn -t -xx 2> /dev/null |
		awk '/^[^ \t]/ { if (p != "") print p; p = $0; next } { p = p " " $0 } END { if (p != "") print p }'
}

test_tcp_segments_vs_tcpdump() {
	# A sends 4 MB over TCP: on veth its egress packets are GSO skbs of up to
	# 64 KB whose linear area holds the headers only, so the 128 bytes asked
	# for lie partly in page fragments. Both tools at the same time, both
	# directions: the same packets, byte for byte.
	local f="tcp port 5003" n td
	head -c 4000000 /dev/urandom > "$tmp/bulk"
	inb nc -l 10.98.0.2 5003 > /dev/null &
	local srv=$!
	ip netns exec "$A" tcpdump -i va -U -s 128 -w "$tmp/tref.pcap" "$f" 2> "$tmp/ttd.err" &
	td=$!
	cap_start "$tmp/tcp.pcapng" "$tmp/tcp.err" -s 128 "$f" || { ko "tcp segments" "no start"; kill $td; return; }
	for _ in $(seq 100); do grep -q listening "$tmp/ttd.err" && break; sleep 0.05; done
	ina nc -N 10.98.0.2 5003 < "$tmp/bulk"
	wait $srv
	sleep 0.3
	kill -INT $cap_pid; wait_gone $cap_pid 5
	n=$(packets "$tmp/tcp.pcapng" | wc -l)
	for _ in $(seq 40); do
		[ "$(packets "$tmp/tref.pcap" | wc -l)" -ge "$n" ] && break
		sleep 0.1
	done
	kill -TERM $td; wait $td
	local big
	big=$(tshark -r "$tmp/tcp.pcapng" -T fields -e frame.len -Y 'frame.len > 1514 && frame.cap_len == 128' 2> /dev/null | wc -l)
	[ "$n" -gt 0 ] && [ "$big" -gt 0 ] &&
		cmp -s <(packets "$tmp/tcp.pcapng" | sort) <(packets "$tmp/tref.pcap" | sort) &&
		ok "TCP, -s 128: $n packets ($big of them GSO segments over 1514 bytes) as tcpdump saw them" ||
		ko "tcp segments" "$n packets, $big GSO, tcpdump $(packets "$tmp/tref.pcap" | wc -l)"
}

directions() { # N -Q VALUE [ARGS] -> hooks used, sorted unique direction flags of captured ICMP
	# ends on the N packets expected (--duration: not on a slow machine's clock)
	cap_start "$tmp/dir.pcapng" "$tmp/dir.err" -c "$1" --duration 10 -Q "${@:2}" icmp || return 1
	echo -n "$(hooks)| "
	inb ping -c 3 -i 0.2 10.98.0.1 > /dev/null
	wait_gone $cap_pid 10 || return 1
	tshark -r "$tmp/dir.pcapng" -T fields -e frame.interface_name \
		-e frame.packet_flags_direction -e icmp.type 2> /dev/null | sort -u | tr '\n' ' '
}

test_directions() {
	local d
	d=$(directions 3 in)
	[ "$d" = "tc-in | va	0x00000001	8 " ] &&
		ok "-Q in: TC ingress on veth, echo requests only, inbound flag" || ko "-Q in" "$d"
	d=$(directions 3 in --ingress xdp)
	[ "$d" = "xdp | va	0x00000001	8 " ] &&
		ok "-Q in --ingress xdp: the same through XDP" || ko "-Q in --ingress xdp" "$d"
	d=$(directions 3 out)
	[ "$d" = "tc-out | va	0x00000002	0 " ] &&
		ok "-Q out: echo replies only, outbound flag" || ko "-Q out" "$d"
	d=$(directions 6 inout)
	[ "$d" = "tc-in tc-out | va	0x00000001	8 va	0x00000002	0 " ] &&
		ok "-Q inout: both, with their flags" || ko "-Q inout" "$d"
}

test_limits() {
	local t0 t1 st
	cap_start "$tmp/c.pcapng" "$tmp/c.err" -c 3 || { ko "-c" "no start"; return; }
	inb ping -c 10 -i 0.1 10.98.0.1 > /dev/null &
	wait_gone $cap_pid 10 && [ "$(summary "$tmp/c.err" captured)" = 3 ] &&
		[ "$(tshark -r "$tmp/c.pcapng" 2> /dev/null | wc -l)" = 3 ] &&
		ok "-c 3 stops after 3 packets" || ko "-c 3" "$(cat "$tmp/c.err")"
	wait
	t0=$(date +%s%N)
	cap_start "$tmp/g.pcapng" "$tmp/g.err" --duration 2 || { ko "--duration" "no start"; return; }
	wait_gone $cap_pid 30; st=$?
	t1=$(date +%s%N)
	[ $st = 0 ] && [ $(((t1 - t0) / 1000000)) -ge 1900 ] &&
		ok "--duration 2 stops after 2 s ($(((t1 - t0) / 1000000)) ms)" || ko "--duration 2" "$(((t1 - t0) / 1000000)) ms"
	cap_start "$tmp/s.pcapng" "$tmp/s.err" --duration 60 || { ko SIGTERM "no start"; return; }
	kill -TERM $cap_pid
	wait_gone $cap_pid 5 && grep -q 'packets captured' "$tmp/s.err" && ! hooked &&
		ok "SIGTERM ends a capture cleanly, with its summary" || ko SIGTERM
}

# As tcpdump: options after the expression; without -i the first interface
# that is up and not loopback; the file names the machine, system,
# application and filter; a reader that goes away
# (`| head`) ends the capture cleanly, with its counts and status 0, and
# leaves no hook behind; the interface is promiscuous while capturing
# unless -p; an interface that goes down or away ends the capture.
test_cli_like_tcpdump() {
	local st
	# (and no -i: A's one interface that is up and not loopback, va)
	ip netns exec "$A" "$ec" capture -w "$tmp/o.pcapng" udp -c 3 2> "$tmp/o.err" &
	cap_pid=$!
	listening "$tmp/o.err"
	send_udp 6
	wait_gone $cap_pid 10 && [ "$(summary "$tmp/o.err" captured)" = 3 ] &&
		[ "$(tshark -r "$tmp/o.pcapng" -T fields -e frame.interface_name 2> /dev/null | sort -u)" = va ] &&
		[ "$(tshark -r "$tmp/o.pcapng" 2> /dev/null | wc -l)" = 3 ] &&
		ok "options after the expression ('udp -c 3'), and tcpdump's default interface" ||
		ko "options after" "$(cat "$tmp/o.err")"
	# the section names the machine, the system and edgecap with its
	# version; each interface block its filter
	local info want
	info=$(capinfos "$tmp/o.pcapng" 2> /dev/null)
	want="x$(uname -m)|Linux $(uname -r)|$("$ec" --version)|2"
	[ "x$(sed -n 's/^Capture hardware: *//p' <<< "$info")|$(sed -n 's/^Capture oper-sys: *//p' <<< "$info")|$(sed -n 's/^Capture application: *//p' <<< "$info")|$(grep -c 'Filter string = udp$' <<< "$info")" = "$want" ] &&
		ok "the SHB names hardware, OS and edgecap's version; each IDB its filter" ||
		ko "SHB/IDB options" "want $want: $info"
	ina bash -c '"$1" capture -i va -w - udp 2> "$2" | head -c 100 > /dev/null; exit ${PIPESTATUS[0]}' \
		pipe "$ec" "$tmp/p.err" &
	local pid=$!
	listening "$tmp/p.err"
	send_udp 50
	wait_gone $pid 10; st=$?
	[ $st = 0 ] && grep -q 'packets captured' "$tmp/p.err" && ! hooked &&
		ok "a reader that goes (| head): the capture ends with its counts, status 0" ||
		ko "pipeline" "status $st: $(cat "$tmp/p.err")"
	# promiscuous mode: on while capturing, off with -p, and off again
	# however the capture ends (kill -9 too)
	local p0 p1 p2 p3
	promiscuity() { ina ip -d link show va | grep -o 'promiscuity [0-9]*' | cut -d' ' -f2; }
	p0=$(promiscuity)
	cap_start "$tmp/m.pcapng" "$tmp/m.err" --duration 30 || { ko promisc "no start"; return; }
	p1=$(promiscuity)
	kill -9 $cap_pid; wait_gone $cap_pid 5
	p2=$(promiscuity)
	cap_start "$tmp/m.pcapng" "$tmp/m.err" -p --duration 30 || { ko promisc "no start with -p"; return; }
	p3=$(promiscuity)
	kill -TERM $cap_pid; wait_gone $cap_pid 5
	[ "$p0 $p1 $p2 $p3" = "0 1 0 0" ] &&
		ok "promiscuous mode on while capturing, off after kill -9, off with -p" ||
		ko promisc "promiscuity before, during, after kill -9, with -p: $p0 $p1 $p2 $p3"
	# an interface that goes down, or away, ends the capture: tcpdump's
	# words, the counts, status 1 (a veth of its own in A: va stays)
	local act st2 out=
	for act in "set ecx0 down" "del ecx0"; do
		ina ip link add ecx0 type veth peer name ecx1 && ina ip link set ecx0 up &&
			ina ip link set ecx1 up || { ko "link watch" "no veth"; return; }
		ip netns exec "$A" "$ec" capture -i ecx0 -w /dev/null 2> "$tmp/l.err" &
		cap_pid=$!
		sleep 1
		ina ip link $act
		wait_gone $cap_pid 10; st2=$?
		out+="$st2 $(grep -v '^edgecap: listening on' "$tmp/l.err" | head -1) $(grep -c 'packets captured' "$tmp/l.err");"
		ina ip link del ecx0 2> /dev/null
	done
	[ "$out" = "1 edgecap: ecx0: The interface went down 1;1 edgecap: ecx0: The interface disappeared 1;" ] &&
		ok "an interface that goes down or away ends the capture: tcpdump's words, counts, status 1" ||
		ko "link watch" "$out"
}

test_snaplen_and_pcap() {
	cap_start "$tmp/snap.pcap" "$tmp/snap.err" -s 64 --pcap -c 2 icmp || { ko snaplen; return; }
	inb ping -c 1 -s 1000 10.98.0.1 > /dev/null
	wait_gone $cap_pid 10
	[ "$(head -c4 "$tmp/snap.pcap" | xxd -p)" = 4d3cb2a1 ] &&
		[ "$(tshark -r "$tmp/snap.pcap" -T fields -e frame.len -e frame.cap_len 2> /dev/null |
			sort -u)" = "1042	64" ] &&
		ok "-s 64 --pcap: nanosecond pcap, data cut to 64, wire length 1042 kept" ||
		ko "snaplen/pcap" "$(tshark -r "$tmp/snap.pcap" -T fields -e frame.len -e frame.cap_len 2>&1 | head -3)"
}

# The ring buffer map the capture PID holds: its max_entries (bytes).
ring_bytes() { # PID
	grep -h -A4 '^map_type:[[:space:]]*27$' /proc/"$1"/fdinfo/* 2> /dev/null |
		sed -n 's/^max_entries:[[:space:]]*//p' | head -1
}

test_ring_size() {
	# the default ring follows the snaplen (whole frames: 32 MiB); --ring-size wins
	local got="" args
	for args in "" "-s 256" "-s 257" "-s 128 --ring-size 65536" "-B 64" "-B 3000"; do
		# shellcheck disable=SC2086
		cap_start "$tmp/r.pcapng" "$tmp/r.err" --duration 60 $args icmp ||
			{ ko "ring size" "no start with '$args': $(cat "$tmp/r.err")"; return; }
		got="$got$(ring_bytes $cap_pid) "
		kill -TERM $cap_pid
		wait_gone $cap_pid 5
	done
	[ "$got" = "33554432 8388608 33554432 65536 65536 4194304 " ] &&
		ok "ring: 32 MiB by default and for snaplen 257, 8 MiB for snaplen 256, --ring-size as given, -B KiB rounded up to a power of two" ||
		ko "ring size" "$got"
}

test_overload() {
	# a tiny ring and a reader that stalls for 3 s: the kernel must drop and count
	ina bash -c "'$ec' capture -i va -Q in -w - --ring-size 16384 --duration 6 icmp 2> '$tmp/o.err' |
		{ sleep 3; cat > '$tmp/o.pcapng'; }" &
	local pid=$!
	listening "$tmp/o.err"
	inb ping -f -c 5000 -s 1400 10.98.0.1 > /dev/null
	wait $pid
	local w m d isb recv
	w=$(summary "$tmp/o.err" captured) m=$(summary "$tmp/o.err" 'matched by filter')
	d=$(summary "$tmp/o.err" dropped)
	isb=$(python3 "$here/isb.py" "$tmp/o.pcapng")
	recv=$(echo "$isb" | sed -n 's/.*ifrecv=\([0-9]*\).*/\1/p')
	[ "${d:-0}" -gt 0 ] && [ $((w + d)) = "$m" ] &&
		[ "$(tshark -r "$tmp/o.pcapng" 2> /dev/null | wc -l)" = "$w" ] &&
		[ "${recv:-0}" -ge "$m" ] &&
		[ "$isb" = "0 ifrecv=$recv ifdrop=$d filteraccept=$m usrdeliv=$w osdrop=0" ] &&
		ok "overload: $m matched = $w written + $d dropped, and the ISB says so" ||
		ko overload "written $w matched $m dropped $d; isb: $isb"
}

test_per_interface_isb() {
	# two interfaces, each with its own traffic: each ISB has its own counts
	cap_start "$tmp/two.pcapng" "$tmp/two.err" -i va,lo -Q in --duration 3 icmp ||
		{ ko "per-interface ISB" "no start: $(cat "$tmp/two.err")"; return; }
	inb ping -c 3 -i 0.2 10.98.0.1 > /dev/null    # 3 echo requests into va
	ina ping -c 5 -i 0.2 127.0.0.1 > /dev/null    # 5 requests + 5 replies into lo
	wait_gone $cap_pid 10
	local isb names
	isb=$(python3 "$here/isb.py" "$tmp/two.pcapng" | sed 's/ifrecv=[0-9]* //')
	names=$(tshark -r "$tmp/two.pcapng" -T fields -e frame.interface_name 2> /dev/null | sort | uniq -c |
		awk '{print $2 "=" $1}' | tr '\n' ' ')
	[ "$isb" = "0 ifdrop=0 filteraccept=3 usrdeliv=3 osdrop=0
1 ifdrop=0 filteraccept=10 usrdeliv=10 osdrop=0" ] && [ "$names" = "lo=10 va=3 " ] &&
		ok "two interfaces: each ISB counts its own interface ($names)" ||
		ko "per-interface ISB" "$names; $isb"
}

test_eight_sessions() {
	# one process, one ring, 8 sessions: 7 on one port each (i*10 datagrams
	# to port 500i), and `udp`, which matches every one of them too. Each
	# stops at its count and leaves the others running.
	[ -x "$multi" ] || { echo "SKIP eight sessions: no multi helper"; return; }
	local args=() i total=0
	for i in $(seq 7); do
		args+=("udp dst port 500$i:$tmp/m$i.pcapng:$((i * 10))")
		total=$((total + i * 10))
	done
	args+=("udp:$tmp/m8.pcapng:$total")
	ip netns exec "$A" "$multi" va "${args[@]}" > "$tmp/m.out" 2> "$tmp/m.err" &
	local pid=$! st
	for _ in $(seq 100); do grep -q ready "$tmp/m.err" && break; sleep 0.05; done
	# round robin over the ports: datagram k to port p carries "p k"
	inb bash -c 'for ((k = 1; k <= 70; k++)); do for ((p = 1; p <= 7; p++)); do
		((k <= p * 10)) && printf "%d %d" $p $k > /dev/udp/10.98.0.1/500$p; done; done'
	wait $pid; st=$?
	local bad="" want got
	for i in $(seq 7); do
		want=$(seq 1 $((i * 10)) | sed "s/^/$i /")
		got=$(tshark -r "$tmp/m$i.pcapng" -T fields -e data.text -o data.show_as_text:TRUE 			-d udp.port==500$i,data 2> /dev/null)
		[ "$got" = "$want" ] || bad="$bad session $i"
	done
	got=$(tshark -r "$tmp/m8.pcapng" 2> /dev/null | wc -l)
	[ "$got" = $total ] || bad="$bad udp:$got"
	[ $st = 0 ] && [ -z "$bad" ] &&
		ok "8 sessions in one process: each filter's datagrams exactly, in order; 'udp' got all $total" ||
		ko "eight sessions" "exit $st;$bad; $(cat "$tmp/m.err" "$tmp/m.out")"
}

test_crash_recovery() {
	local want= left h
	# XDP and tcx hooks are links, which go with the process's last fd;
	# clsact filters (kernels without tcx) outlive it
	cap_start "$tmp/k.pcapng" "$tmp/k.err" --ingress xdp || { ko crash "no start"; return; }
	h=$(ina "$ec" hooks va)
	grep -q ' egress clsact ' <<< "$h" && want="tc-out"
	kill -9 $cap_pid
	wait $cap_pid 2> /dev/null
	left=$(hooks)
	grep -q '^va ingress xdp-link ' <<< "$h" && [ "${left% }" = "$want" ] &&
		! ina ip link show va | grep -q prog/xdp ||
		{ ko crash "running: $h; after kill -9 on va: '$left', expected '$want'"; return; }
	# what an earlier version left: ecap_xdp attached through netlink
	ina ip link set dev va xdpdrv obj "$bpfobj" sec xdp.frags &&
		[ "$(hooks)" = "xdp ${want:+$want }" ] ||
		{ ko crash "no stale XDP program to remove: $(hooks)"; return; }
	cap_start "$tmp/k2.pcapng" "$tmp/k2.err" -c 1 icmp || { ko crash "restart failed: $(cat "$tmp/k2.err")"; return; }
	inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null
	wait_gone $cap_pid 10 && ! hooked && [ "$(ina tc filter show dev va egress | wc -l)" = 0 ] &&
		ok "kill -9 left ${want:-nothing} (XDP went with it), a stale netlink XDP program is removed by the next capture, nothing left at its end" ||
		ko crash "$(hooks) $(ina tc filter show dev va egress)"
}

test_xdp_taken() {
	local out st
	# another program on the XDP hook: left alone, and a one-line refusal
	printf '%s\n' '__attribute__((section("xdp"), used)) int other_xdp(void *c) { return 2; }' \
		'char _license[] __attribute__((section("license"), used)) = "GPL";' |
		clang -O2 -target bpf -c -x c - -o "$tmp/other.o" || { ko "xdp taken" "clang"; return; }
	ina ip link set dev va xdpdrv obj "$tmp/other.o" sec xdp || { ko "xdp taken" "no attach"; return; }
	out=$(ina "$ec" capture -i va --ingress xdp -w /dev/null -c 1 2>&1); st=$?
	[ $st = 2 ] && grep -q "^edgecap: attach XDP on va: another XDP program is attached (id [0-9]*, 'other_xdp'); detach it, or capture with TC ingress$" <<< "$out" &&
		ina ip link show va | grep -q 'prog/xdp id [0-9]* name other_xdp' &&
		[ -z "$(ina "$ec" hooks va)" ] &&
		ok "XDP hook taken by another program: exit 2, one line naming it, it stays" ||
		ko "xdp taken" "$st $out"
	ina ip link set dev va xdpdrv off
}

test_errors() {
	local out st
	out=$(ina "$ec" capture -i nosuch0 -w /dev/null 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap: unknown interface 'nosuch0'" ] &&
		ok "unknown interface: exit 2, one line" || ko "unknown interface" "$st $out"
	out=$(ina "$ec" hooks va nosuch0 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap: unknown interface 'nosuch0'" ] &&
		ok "hooks on an unknown interface: exit 2, one line" || ko "hooks, unknown interface" "$st $out"
	out=$(ina "$ec" capture -i va -w /dev/null 'tcp port' 2>&1); st=$?
	[ $st = 2 ] && grep -q 'syntax error' <<< "$out" && ! hooked &&
		ok "bad expression: exit 2, libpcap's message, nothing attached" || ko "bad expr" "$st $out"
	out=$(ina "$ec" capture -i va -G 5 icmp 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap: -G, -C, -W and -z write files: give -w FILE" ] &&
		ok "-G without -w: exit 2, one line" || ko "-G without -w" "$st $out"
	out=$(ina "$ec" capture -i va -C 1 -w - icmp 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap: -G, -C and -W need a file name in -w, not '-'" ] &&
		ok "-C with -w -: exit 2, one line" || ko "-C -w -" "$st $out"
	out=$(ina "$ec" capture -i va -C 0 -w "$tmp/x" icmp 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap: invalid file size '0'" ] &&
		ok "-C 0: exit 2, one line" || ko "-C 0" "$st $out"
	# eight captures share va (ECAP_MAX_OWNERS); a ninth is refused
	local pids=() i
	for i in 1 2 3 4 5 6 7 8; do
		ip netns exec "$A" "$ec" capture -i va --duration 20 -w /dev/null icmp 2> "$tmp/b$i.err" &
		pids+=($!)
	done
	for _ in $(seq 200); do
		[ "$(cat "$tmp"/b?.err | grep -c listening)" = 8 ] && break
		sleep 0.05
	done
	out=$(ina "$ec" capture -i va -w /dev/null -c 1 2>&1); st=$?
	kill -TERM "${pids[@]}"
	for i in "${pids[@]}"; do wait_gone $i 5; done
	[ $st = 2 ] && [ "$out" = "edgecap: va: 8 edgecap captures are running on it (the limit)" ] &&
		ok "eight captures on va at once; a ninth: exit 2 ($out)" || ko busy "$st $out"
	# vb has va's ifindex, in another namespace: not the same interface
	cap_start "$tmp/b.pcapng" "$tmp/b.err" icmp || { ko "same ifindex" "no start"; return; }
	out=$(inb "$ec" capture -i vb -w "$tmp/nb.pcapng" -c 2 icmp 2>&1 &
		sleep 0.5; ina ping -c 2 -i 0.2 10.98.0.2 > /dev/null; wait); st=$?
	kill -TERM $cap_pid; wait_gone $cap_pid 5
	[ "$(ina cat /sys/class/net/va/ifindex)" = "$(inb cat /sys/class/net/vb/ifindex)" ] &&
		[ $st = 0 ] && [ "$(capinfos -c -M "$tmp/nb.pcapng" | awk '/Number of packets/ {print $NF}')" = 2 ] &&
		ok "same ifindex in two namespaces: two captures" || ko "same ifindex" "$st $out"
	out=$(ina setpriv --reuid=65534 --clear-groups "$ec" capture -i va -w /dev/null 2>&1); st=$?
	[ $st = 2 ] && grep -q 'needs root' <<< "$out" && ok "without privileges: exit 2 ($out)" ||
		ko "no privileges" "$st $out"
}

test_merge() {
	# both ends of the link captured (tcpdump in A, edgecap in B): every packet
	# twice; merged: mergecap's order, and each packet once with dedup
	ip netns exec "$A" tcpdump -i va -U -w "$tmp/ma.pcap" icmp 2> "$tmp/ma.err" &
	local td=$! t1 t2 kept
	ip netns exec "$B" "$ec" capture -i vb -w "$tmp/mb.pcapng" -c 10 icmp 2> /dev/null &
	local cp=$!
	for _ in $(seq 100); do grep -q listening "$tmp/ma.err" && break; sleep 0.05; done
	sleep 0.3
	inb ping -c 5 -i 0.1 10.98.0.1 > /dev/null
	wait_gone $cp 10
	for _ in $(seq 40); do
		[ "$(tcpdump -r "$tmp/ma.pcap" 2> /dev/null | wc -l)" -ge 10 ] && break
		sleep 0.1
	done
	kill -TERM $td; wait $td
	"$ec" merge --no-dedup -w "$tmp/m1.pcapng" "$tmp/ma.pcap" "$tmp/mb.pcapng" 2> /dev/null
	mergecap -w "$tmp/mc.pcapng" "$tmp/ma.pcap" "$tmp/mb.pcapng"
	t1=$(tshark -r "$tmp/m1.pcapng" -T fields -e frame.time_epoch -e icmp.seq 2> /dev/null)
	t2=$(tshark -r "$tmp/mc.pcapng" -T fields -e frame.time_epoch -e icmp.seq 2> /dev/null)
	"$ec" merge -w "$tmp/m2.pcapng" "$tmp/ma.pcap" "$tmp/mb.pcapng" 2> "$tmp/m2.err"
	kept=$(tshark -r "$tmp/m2.pcapng" -T fields -e icmp.type -e icmp.seq 2> /dev/null | sort -u | wc -l)
	[ "$(echo "$t1" | wc -l)" = 20 ] && [ "$t1" = "$t2" ] && [ "$kept" = 10 ] &&
		[ "$(tshark -r "$tmp/m2.pcapng" 2> /dev/null | wc -l)" = 10 ] &&
		grep -q '^10 packets merged from 2 inputs, 10 duplicates removed, 0 late$' "$tmp/m2.err" &&
		ok "merge: mergecap's order for 20 packets; with dedup each of the 10 once" ||
		ko merge "$(cat "$tmp/m2.err"); $(echo "$t1" | wc -l) vs $(echo "$t2" | wc -l)"
}

# On a tun device both tools capture raw IP (LINKTYPE_RAW), the expression is
# compiled for it, and the bytes are the same: the hooks see the packets from
# the IP header on, as the packet socket does.
test_tun_raw_vs_tcpdump() {
	local f='udp port 5001 or icmp' n=40 td hk
	tun_up $n || { ko "tun raw" "no tun device"; tun_down; return; }
	ip netns exec "$A" tcpdump -i tun0 -U -w "$tmp/tref.pcap" "$f" 2> "$tmp/ttd.err" &
	td=$!
	ip netns exec "$A" "$ec" capture -i tun0 -w "$tmp/tun.pcapng" "$f" 2> "$tmp/tun.err" &
	cap_pid=$!
	for _ in $(seq 100); do
		grep -q listening "$tmp/ttd.err" && grep -q listening "$tmp/tun.err" && break
		sleep 0.05
	done
	hk=$(ina "$ec" hooks tun0 | awk '{print $2 "-" $3}' | sort | tr '\n' ' ')
	echo go >&7
	ina ping -c 3 -i 0.2 10.77.0.9 > /dev/null
	sleep 0.5
	kill -INT $cap_pid; wait_gone $cap_pid 5
	for _ in $(seq 40); do
		[ "$(tcpdump -r "$tmp/tref.pcap" 2> /dev/null | wc -l)" -ge \
			"$(tshark -r "$tmp/tun.pcapng" 2> /dev/null | wc -l)" ] && break
		sleep 0.1
	done
	kill -TERM $td; wait $td
	tun_down
	local got want
	got=$(tshark -r "$tmp/tun.pcapng" -x 2> /dev/null)
	want=$(tshark -r "$tmp/tref.pcap" -x 2> /dev/null)
	# the 20 datagrams to 5001, 3 echo requests, and the port unreachables
	# of the ICMP rate limit's burst
	[ "$(tshark -r "$tmp/tun.pcapng" -Y 'udp.dstport == 5001 && !icmp' 2> /dev/null | wc -l)" = $((n / 2)) ] &&
		[ "$(tshark -r "$tmp/tun.pcapng" -Y 'udp.dstport == 5002 && !icmp' 2> /dev/null | wc -l)" = 0 ] &&
		[ "$(tshark -r "$tmp/tun.pcapng" -Y 'icmp.type == 8' 2> /dev/null | wc -l)" = 3 ] &&
		[ -n "$got" ] && [ "$got" = "$want" ] &&
		[ "$(capinfos -E "$tmp/tun.pcapng" | sed -n 's/^File encapsulation: *//p')" = "Raw IP" ] &&
		[ "$(tcpdump -r "$tmp/tref.pcap" 2>&1 > /dev/null | grep -o 'link-type RAW')" = "link-type RAW" ] &&
		grep -q '^edgecap: listening on tun0, link-type RAW (Raw IP), snapshot length 262144 bytes$' "$tmp/tun.err" &&
		{ [ "$hk" = "egress-tcx ingress-tcx " ] || [ "$hk" = "egress-clsact ingress-clsact " ]; } &&
		ok "tun: RAW records, '$f' compiled for RAW, byte for byte as tcpdump's ($(tshark -r "$tmp/tun.pcapng" 2> /dev/null | wc -l) packets), ingress on TC" ||
		ko "tun raw" "hooks '$hk'; $(echo "$got" | wc -l) vs $(echo "$want" | wc -l) lines; $(cat "$tmp/tun.err")"
}

# classic pcap output carries LINKTYPE_RAW too, and tcpdump reads it as its own
test_tun_raw_pcap() {
	local td
	tun_up 10 || { ko "tun pcap" "no tun device"; tun_down; return; }
	ip netns exec "$A" tcpdump -i tun0 -U -w "$tmp/tp.pcap" udp 2> "$tmp/tp.err" &
	td=$!
	ip netns exec "$A" "$ec" capture -i tun0 --pcap -c 10 -w "$tmp/tp2.pcap" udp 2> "$tmp/tp2.err" &
	cap_pid=$!
	for _ in $(seq 100); do
		grep -q listening "$tmp/tp.err" && grep -q listening "$tmp/tp2.err" && break
		sleep 0.05
	done
	echo go >&7
	wait_gone $cap_pid 10
	for _ in $(seq 40); do
		[ "$(tcpdump -r "$tmp/tp.pcap" 2> /dev/null | wc -l)" -ge 10 ] && break
		sleep 0.1
	done
	kill -TERM $td; wait $td
	tun_down
	[ "$(packets "$tmp/tp2.pcap" | wc -l)" = 10 ] &&
		[ "$(packets "$tmp/tp2.pcap")" = "$(packets "$tmp/tp.pcap")" ] &&
		tcpdump -r "$tmp/tp2.pcap" 2>&1 > /dev/null | grep -q 'link-type RAW (Raw IP)' &&
		ok "tun, --pcap: LINKTYPE_RAW, tcpdump -r shows the 10 datagrams as it captured them" ||
		ko "tun pcap" "$(packets "$tmp/tp2.pcap" | wc -l) packets; $(cat "$tmp/tp2.err")"
}

# -D and -L in tcpdump's words; what cannot be captured exactly is refused
test_link_types() {
	local out st bad=
	# (tcpdump -L wants the device up; a tun device is up without a carrier)
	ina ip tuntap add tun0 mode tun && ina ip link set tun0 up || { ko "link types" "no tun device"; return; }
	for i in tun0 va lo; do # tcpdump lists DOCSIS on Ethernet too: edgecap only the first
		[ "$(ina "$ec" capture -L -i $i)" = "$(ina tcpdump -L -i $i 2>&1 | head -2)" ] ||
			bad+=" -L $i: $(ina "$ec" capture -L -i $i 2>&1 | tr '\n' '|');"
	done
	# -D: tcpdump's lines, each with the link type or why not
	out=$(ina "$ec" capture -D)
	[ "$(sed 's/: \(link-type\|not captured\) .*//' <<< "$out")" = "$(ina tcpdump -D)" ] &&
		grep -q '^[0-9]*\.tun0 .*: link-type RAW (Raw IP)$' <<< "$out" &&
		grep -q '^[0-9]*\.va .*: link-type EN10MB (Ethernet)$' <<< "$out" &&
		grep -q '^[0-9]*\.any .*: link-type LINUX_SLL2 (Linux cooked v2)$' <<< "$out" || bad+=" -D: $out;"
	# -i N: the Nth of that list, as tcpdump's
	[ "$(ina "$ec" capture -L -i "$(sed -n 's/^\([0-9]*\)\.tun0 .*/\1/p' <<< "$out")")" = \
		"$(ina "$ec" capture -L -i tun0)" ] || bad+=" -i N;"
	out=$(ina "$ec" capture -L -i 99 2>&1); st=$?
	[ $st = 2 ] && grep -q '^edgecap: Invalid adapter index 99: only [0-9]* are listed (-D)$' <<< "$out" ||
		bad+=" -i 99: $st $out;"
	# -L -i any: tcpdump's LINUX_SLL2 line (it lists LINUX_SLL too, which is not made)
	[ "$(ina "$ec" capture -L -i any)" = "$(ina tcpdump -L -i any 2>&1 | grep -v 'LINUX_SLL ')" ] ||
		bad+=" -L any: $(ina "$ec" capture -L -i any 2>&1 | tr '\n' '|');"
	out=$(ina "$ec" capture -i any,va -w /dev/null 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap: -i any captures every interface: name no other with it" ] ||
		bad+=" any,va: $st $out;"
	out=$(ina "$ec" capture -i any -y EN10MB -w /dev/null 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap: -y EN10MB: any is captured as LINUX_SLL2, the link type tcpdump gives it, and as no other" ] ||
		bad+=" any -y: $st $out;"
	out=$(ina "$ec" capture -i any --ingress xdp -w /dev/null 2>&1); st=$?
	[ $st = 2 ] && grep -q '^edgecap: --ingress xdp: -i any is captured on TC' <<< "$out" || bad+=" any xdp: $st $out;"
	out=$(ina "$ec" capture -i va,tun0 -w /dev/null 2>&1); st=$?
	[ $st = 2 ] && [ "$out" = "edgecap: va is EN10MB and tun0 RAW: one capture has one link type (capture them apart)" ] ||
		bad+=" mixed: $st $out;"
	out=$(ina "$ec" capture -i tun0 --ingress xdp -w /dev/null 2>&1); st=$?
	[ $st = 2 ] && grep -q '^edgecap: --ingress xdp: tun0 has no link layer (RAW)' <<< "$out" || bad+=" xdp: $st $out;"
	for y in RAW DOCSIS NOPE; do
		out=$(ina "$ec" capture -i va -y $y -w /dev/null 2>&1); st=$?
		[ $st = 2 ] && [ "$out" = "edgecap: -y $y: va is captured as EN10MB, the link type tcpdump gives it, and as no other" ] ||
			bad+=" -y $y: $st $out;"
	done
	out=$(ina "$ec" capture -i tun0 -y RAW -c 1 --duration 1 -w /dev/null 2>&1); st=$?
	grep -q 'link-type RAW' <<< "$out" || bad+=" -y RAW on tun0: $st $out;"
	ina ip link del tun0
	! hooked && [ -z "$bad" ] && ok "-D, -L, -i N as tcpdump's with link types (any: LINUX_SLL2); any with others, mixed types, XDP on RAW and any, other -y refused" ||
		ko "link types" "$bad"
}

# ipip (RAW for tcpdump) between A and B over the veth, captured against
# tcpdump; gre, sit, ip6tnl and WireGuard against tcpdump -L. Kernels
# without the modules: SKIP.
test_ipip_and_gre() {
	if ina ip link add ipip1 type ipip local 10.98.0.1 remote 10.98.0.2 2> /dev/null; then
		ipip_vs_tcpdump
	else
		echo "SKIP ipip: this kernel has none"
	fi
	tunnel_types
}

ipip_vs_tcpdump() {
	local td
	inb ip link add ipip1 type ipip local 10.98.0.2 remote 10.98.0.1 &&
		ina ip addr add 10.66.0.1/24 dev ipip1 && inb ip addr add 10.66.0.2/24 dev ipip1 &&
		ina ip link set ipip1 up && inb ip link set ipip1 up || { ko ipip setup; return; }
	ip netns exec "$A" tcpdump -i ipip1 -U -w "$tmp/ip.pcap" icmp 2> "$tmp/ip.err" &
	td=$!
	ip netns exec "$A" "$ec" capture -i ipip1 --pcap -c 6 -w "$tmp/ip2.pcap" icmp 2> "$tmp/ip2.err" &
	cap_pid=$!
	for _ in $(seq 100); do
		grep -q listening "$tmp/ip.err" && grep -q listening "$tmp/ip2.err" && break
		sleep 0.05
	done
	inb ping -c 3 -i 0.2 10.66.0.1 > /dev/null
	wait_gone $cap_pid 10
	sleep 0.5
	kill -TERM $td; wait $td
	[ "$(packets "$tmp/ip2.pcap" | wc -l)" = 6 ] &&
		[ "$(packets "$tmp/ip2.pcap")" = "$(packets "$tmp/ip.pcap")" ] &&
		tcpdump -r "$tmp/ip.pcap" 2>&1 > /dev/null | grep -q 'link-type RAW' &&
		tcpdump -r "$tmp/ip2.pcap" 2>&1 > /dev/null | grep -q 'link-type RAW' &&
		ok "ipip: RAW as tcpdump's, the 6 ICMP packets byte for byte" ||
		ko ipip "$(packets "$tmp/ip2.pcap" | wc -l) vs $(packets "$tmp/ip.pcap" | wc -l); $(cat "$tmp/ip2.err")"
	ina ip link del ipip1
}

tunnel_types() {
	local st
	# the other tunnel types: what tcpdump -L gives each, edgecap gives
	# (LINUX_SLL for GRE and ip6tnl: test_sll_tunnels captures them)
	local spec name want got bad= seen=
	for spec in "gre1 gre local 10.98.0.1 remote 10.98.0.2" "sit1 sit local 10.98.0.1 remote 10.98.0.2" \
		"ip6t1 ip6tnl local fd00::1 remote fd00::2" "wg1 wireguard"; do
		set -- $spec
		name=$1; shift
		ina ip link add "$name" type "$@" 2> /dev/null || { echo "SKIP $1: this kernel has none"; continue; }
		ina ip link set "$name" up
		want=$(ina tcpdump -L -i "$name" 2>&1 | head -2)
		got=$(ina "$ec" capture -L -i "$name" 2>&1); st=$?
		[ $st = 0 ] && [ "$got" = "$want" ] || bad+=" $name: $got vs $want;"
		seen+=" $name:$(sed -n 's/^  \([A-Z_0-9]*\) .*/\1/p' <<< "$want")"
		ina ip link del "$name"
	done
	if [ -n "$bad" ]; then
		ko tunnels "$bad"
	elif [ -n "$seen" ]; then
		ok "tunnels as tcpdump -L types them:$seen"
	fi
}

# PPP, GRE, ip6tnl and ip6gre: tcpdump captures them as LINUX_SLL (cooked
# v1). Each tunnel between A and B over the veth, with a remote, and GRE
# and ip6gre without one in A (their outer headers before the packet at the
# hooks), pinged both ways: edgecap -i T against tcpdump -i T at the same
# time, byte for byte (the 16-byte header too, but its address bytes past
# the address, which the 6.1 kernel leaves unset: edgecap's are zeros), and
# -i any (LINUX_SLL2) against tcpdump -i any the same way. The
# host kernel has none of these modules; the 6.1 VM all.
sll_packets() { # FILE HEADER-LENGTH: one packet per line, unused address bytes masked
	# (all 8 without an address; the last 4 past GRE's outer IPv4 source)
	tcpdump -r "$1" -nn -t -xx 2> /dev/null |
		awk '/^[^ \t]/ { if (p != "") print p; p = $0; next } { p = p " " $0 } END { if (p != "") print p }' |
		if [ "$2" = 16 ]; then
			sed -E -e 's/(0x0000:  [0-9a-f]{4} [0-9a-f]{4} 0000) [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4}/\1 .... .... .... ..../' \
				-e 's/(0x0000:  [0-9a-f]{4} [0-9a-f]{4} 0004 [0-9a-f]{4} [0-9a-f]{4}) [0-9a-f]{4} [0-9a-f]{4}/\1 .... ..../'
		else
			sed -E -e 's/(0x0000:  [0-9a-f]{4} 0000 [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{2}00) [0-9a-f]{4} [0-9a-f]{4}(.*0x0010:  )[0-9a-f]{4} [0-9a-f]{4}/\1 .... ....\2.... ..../' \
				-e 's/(0x0000:  [0-9a-f]{4} 0000 [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{2}04 [0-9a-f]{4} [0-9a-f]{4}.*0x0010:  )[0-9a-f]{4} [0-9a-f]{4}/\1.... ..../'
		fi | sort
}

sll_addr_zero() { # FILE HEADER-LENGTH: edgecap's address bytes past the address are zeros
	! tcpdump -r "$1" -nn -t -xx 2> /dev/null |
		awk -v h="$2" '$1 == "0x0000:" { if (h == 16) { a = $4; if (a == "0000") print $5 $6 $7 $8; else print $7 $8 }
				else { a = substr($7, 3); if (a == "00") print $8 $9 } }
			$1 == "0x0010:" && h == 20 && a != "06" { print $2 $3 }' | grep -qv '^0*$'
}

# edgecap -i IF and -i any against tcpdump -i IF and -i any at the same
# time, all in A, pings both ways through IF: 3 from B, 2 of 228 bytes of IP
# from A (10 ICMP packets on IF); appends what differs to $bad. On IF three
# expressions, each with the records it takes: `icmp` (all 10; libpcap runs
# it in the kernel); with -s 60, the packet type (byte 0) and len, in the
# kernel too (5: B's requests, A's two); and the ARPHRD type (byte 2), which
# makes libpcap filter in user space, with a load past the window (4: A's
# two and their replies). With A-CANNOT-SEND, A's packets pass the hooks
# and the taps but the device drops them (ip6gre without a remote on 6.1:
# its transmit wants a remote), so no ping gets its reply: 8, 5 and 2.
sll_vs_tcpdump() { # IF A-ADDR B-ADDR LABEL [A-CANNOT-SEND]
	local name=$1 want i pids=() n f nosend=${5:-}
	local exprs=("icmp" "(inbound and icmp[0] = 8) or (outbound and greater 150)"
		"link[2:2] != 0 and ip[150] >= 0")
	local snaps=(262144 60 262144) counts=(10 5 4) nany=10
	[ -n "$nosend" ] && counts=(8 5 2) nany=8
	want=$(ina tcpdump -L -i "$name" 2>&1 | head -2)
	[ "$(ina "$ec" capture -L -i "$name" 2>&1)" = "$want" ] && grep -q LINUX_SLL <<< "$want" ||
		bad+=" $4 -L: $(ina "$ec" capture -L -i "$name" 2>&1) vs $want;"
	rm -f "$tmp"/sll-*
	for i in 0 1 2; do
		ip netns exec "$A" tcpdump -i "$name" -s ${snaps[$i]} -U -w "$tmp/sll-t$i.pcap" "${exprs[$i]}" \
			2> "$tmp/sll-t$i.err" &
		pids+=($!)
		ip netns exec "$A" "$ec" capture -i "$name" -s ${snaps[$i]} -w "$tmp/sll-e$i.pcapng" "${exprs[$i]}" \
			2> "$tmp/sll-e$i.err" &
		pids+=($!)
	done
	ip netns exec "$A" tcpdump -i any -U -w "$tmp/sll-ta.pcap" icmp 2> "$tmp/sll-ta.err" &
	pids+=($!)
	ip netns exec "$A" "$ec" capture -i any -w "$tmp/sll-ea.pcapng" icmp 2> "$tmp/sll-ea.err" &
	pids+=($!)
	for _ in $(seq 300); do
		n=0
		for f in "$tmp"/sll-[te][0-2a].err; do grep -q listening "$f" && n=$((n + 1)); done
		[ $n = 8 ] && break
		sleep 0.05
	done
	inb ping -c 3 -i 0.2 -W 2 "$2" > /dev/null || [ -n "$nosend" ] || bad+=" $4: no ping from B;"
	ina ping -c 2 -i 0.2 -W 2 -s 200 "$3" > /dev/null || [ -n "$nosend" ] || bad+=" $4: no ping from A;"
	sleep 1.2 # tcpdump's buffer
	kill -INT "${pids[@]}"
	for i in "${pids[@]}"; do wait_gone $i 10; done
	for i in 0 1 2; do
		grep -q "listening on $name, link-type LINUX_SLL (Linux cooked v1), snapshot length ${snaps[$i]} bytes" \
			"$tmp/sll-e$i.err" || bad+=" $4: $(tr '\n' '|' < "$tmp/sll-e$i.err");"
		[ "$(sll_packets "$tmp/sll-e$i.pcapng" 16 | wc -l)" = ${counts[$i]} ] &&
			[ "$(sll_packets "$tmp/sll-e$i.pcapng" 16)" = "$(sll_packets "$tmp/sll-t$i.pcap" 16)" ] &&
			sll_addr_zero "$tmp/sll-e$i.pcapng" 16 ||
			bad+=" $4 '${exprs[$i]}': $(sll_packets "$tmp/sll-e$i.pcapng" 16 | wc -l) records, tcpdump $(sll_packets "$tmp/sll-t$i.pcap" 16 | wc -l): $(diff <(sll_packets "$tmp/sll-e$i.pcapng" 16) <(sll_packets "$tmp/sll-t$i.pcap" 16) | head -3 | cut -c1-240 | tr '\n' '|');"
	done
	[ "$(sll_packets "$tmp/sll-ea.pcapng" 20 | wc -l)" = $nany ] &&
		[ "$(sll_packets "$tmp/sll-ea.pcapng" 20)" = "$(sll_packets "$tmp/sll-ta.pcap" 20)" ] &&
		sll_addr_zero "$tmp/sll-ea.pcapng" 20 ||
		bad+=" $4 -i any: $(sll_packets "$tmp/sll-ea.pcapng" 20 | wc -l) records, tcpdump $(sll_packets "$tmp/sll-ta.pcap" 20 | wc -l): $(diff <(sll_packets "$tmp/sll-ea.pcapng" 20) <(sll_packets "$tmp/sll-ta.pcap" 20) | head -3 | cut -c1-240 | tr '\n' '|');"
}

test_sll_tunnels() {
	local spec name k=0 bad= seen= st out
	ina ip -6 addr add fd00:98::1/64 dev va nodad && inb ip -6 addr add fd00:98::2/64 dev vb nodad ||
		{ ko "LINUX_SLL tunnels" "no IPv6 on the veth"; return; }
	for spec in "gre1 gre 10.98.0.1 10.98.0.2" "ip6t1 ip6tnl fd00:98::1 fd00:98::2 mode any" \
		"ip6g1 ip6gre fd00:98::1 fd00:98::2"; do
		set -- $spec
		name=$1 k=$((k + 1))
		ina ip link add "$name" type "$2" local "$3" remote "$4" "${@:5}" 2> /dev/null ||
			{ echo "SKIP LINUX_SLL $2: this kernel has none"; continue; }
		inb ip link add "$name" type "$2" local "$4" remote "$3" "${@:5}" &&
			ina ip addr add 10.67.$k.1/24 dev "$name" && inb ip addr add 10.67.$k.2/24 dev "$name" &&
			ina ip link set "$name" up && inb ip link set "$name" up || { bad+=" $2: setup;"; continue; }
		sll_vs_tcpdump "$name" 10.67.$k.1 10.67.$k.2 "$2"
		seen+=" $2"
		ina ip link del "$name"; inb ip link del "$name"
	done
	# without a remote in A (B's has A as its remote): the outer headers
	# before the packet at the hooks, of each packet's length on ingress
	# (B sends GRE with checksum, key and sequence number) and of the
	# device's on egress (checksum and key); the neighbour says where A's
	# packets go
	for spec in "gre9 gre 10.98.0.1 10.98.0.2 10.98.0.2 - key 5 csum" \
		"ip6g9 ip6gre fd00:98::1 fd00:98::2 fd:00:00:98:00:00:00:00:00:00:00:00:00:00:00:02 nosend"; do
		set -- $spec
		name=$1 k=$((k + 1))
		ina ip link add "$name" type "$2" local "$3" "${@:7}" 2> /dev/null ||
			{ echo "SKIP LINUX_SLL $2 without a remote: this kernel has none"; continue; }
		inb ip link add "$name" type "$2" local "$4" remote "$3" "${@:7}" ${7:+oseq} &&
			ina ip addr add 10.67.$k.1/24 dev "$name" && inb ip addr add 10.67.$k.2/24 dev "$name" &&
			ina ip neigh add 10.67.$k.2 lladdr "$5" dev "$name" nud permanent &&
			ina ip link set "$name" up && inb ip link set "$name" up || { bad+=" $2 (no remote): setup;"; continue; }
		sll_vs_tcpdump "$name" 10.67.$k.1 10.67.$k.2 "$2-without-remote" "${6#-}"
		seen+=" $2-without-remote"
		ina ip link del "$name"; inb ip link del "$name"
	done
	# over FOU, the outer headers' length is not known: refused in one line
	if ina ip link add gre8 type gre local 10.98.0.1 key 8 encap fou encap-dport 5555 2> /dev/null; then
		ina ip link set gre8 up
		out=$(ina "$ec" capture -i gre8 -w /dev/null 2>&1); st=$?
		[ $st = 2 ] && [ "$(wc -l <<< "$out")" = 1 ] &&
			grep -q '^edgecap: gre8 has hardware type 778, no unicast remote and a FOU or GUE encapsulation' <<< "$out" ||
			bad+=" gre8 (no remote, FOU): $st $out;"
		ina ip link del gre8
		seen+=" gre-over-fou-refused"
	elif [ -n "$seen" ]; then # a kernel with GRE but not over FOU
		bad+=" no GRE over FOU;"
	fi
	ina ip -6 addr del fd00:98::1/64 dev va; inb ip -6 addr del fd00:98::2/64 dev vb
	[ -z "$(ina "$ec" hooks)" ] || bad+=" left: $(ina "$ec" hooks | tr '\n' '|');"
	if [ -n "$bad" ]; then
		ko "LINUX_SLL tunnels" "$bad"
	elif [ -n "$seen" ]; then
		ok "LINUX_SLL tunnels, -i T (3 filters, -s 60) and -i any, records as tcpdump's:$seen"
	else
		echo "SKIP LINUX_SLL tunnels: this kernel has none"
	fi
}

# A VLAN tag on a LINUX_SLL interface: GRE packets from B whose payload is
# 802.1Q (protocol 0x8100, sent by a raw socket) come out of gre1 in A with
# the tag out of band (the stack takes it out before the taps and TC), and
# libpcap puts it back at byte 14 of the cooked header. Four tagged pings
# (PCP, DEI, VIDs 100 and 4094; A drops them, on a VLAN it has no device
# for) and two untagged (and A's two replies), under `icmp` (libpcap
# filters in the kernel, on the packet without its tag) and `link[2:2] !=
# 0 and icmp` (in user space, also before the tag goes back), byte for byte
# against tcpdump -i gre1 at the same time. The 6.1 VM (GRE).
test_sll_vlan() {
	local bad= i pids=() exprs=("icmp" "link[2:2] != 0 and icmp")
	ina ip link add gre1 type gre local 10.98.0.1 remote 10.98.0.2 2> /dev/null ||
		{ echo "SKIP LINUX_SLL VLAN: this kernel has no GRE"; return; }
	ina ip addr add 10.67.1.1/24 dev gre1 && ina ip link set gre1 up || { ko "LINUX_SLL VLAN" "setup"; return; }
	rm -f "$tmp"/slv-*
	for i in 0 1; do
		ip netns exec "$A" tcpdump -i gre1 -U -w "$tmp/slv-t$i.pcap" "${exprs[$i]}" 2> "$tmp/slv-t$i.err" &
		pids+=($!)
		ip netns exec "$A" "$ec" capture -i gre1 -w "$tmp/slv-e$i.pcapng" "${exprs[$i]}" 2> "$tmp/slv-e$i.err" &
		pids+=($!)
	done
	for _ in $(seq 300); do
		[ "$(cat "$tmp"/slv-*.err | grep -c listening)" = 4 ] && break
		sleep 0.05
	done
	inb python3 -c 'import socket, struct
def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
for n, tci in enumerate([100, 0xa000 | 100, 0x1000 | 4094, 0x6000 | 100, None, None]):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 77, n) + b"x" * (20 + 9 * n)
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), n, 0, 64, 1, 0,
                     socket.inet_aton("10.67.1.2"), socket.inet_aton("10.67.1.1"))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    gre = struct.pack("!HH", 0, 0x0800) if tci is None else struct.pack("!HHHH", 0, 0x8100, tci, 0x0800)
    s.sendto(gre + ip + icmp, ("10.98.0.1", 0))'
	sleep 1.2 # tcpdump's buffer
	kill -INT "${pids[@]}"
	for i in "${pids[@]}"; do wait_gone $i 10; done
	for i in 0 1; do
		[ "$(sll_packets "$tmp/slv-e$i.pcapng" 16 | wc -l)" = 8 ] &&
			[ "$(sll_packets "$tmp/slv-e$i.pcapng" 16)" = "$(sll_packets "$tmp/slv-t$i.pcap" 16)" ] ||
			bad+=" '${exprs[$i]}': $(sll_packets "$tmp/slv-e$i.pcapng" 16 | wc -l) records, tcpdump $(sll_packets "$tmp/slv-t$i.pcap" 16 | wc -l): $(diff <(sll_packets "$tmp/slv-e$i.pcapng" 16) <(sll_packets "$tmp/slv-t$i.pcap" 16) | head -3 | cut -c1-240 | tr '\n' '|');"
	done
	[ "$(tcpdump -r "$tmp/slv-e0.pcapng" -nn -e 2> /dev/null | grep -c 'ethertype 802.1Q (0x8100), length 77: vlan 100, p 5, ethertype IPv4')" = 1 ] &&
		[ "$(tcpdump -r "$tmp/slv-e0.pcapng" -nn -e 2> /dev/null | grep -c 'vlan 4094, p 0, DEI, ethertype IPv4')" = 1 ] ||
		bad+=" tags: $(tcpdump -r "$tmp/slv-e0.pcapng" -nn -e 2> /dev/null | head -4 | tr '\n' '|');"
	ina ip link del gre1
	[ -z "$(ina "$ec" hooks)" ] || bad+=" left: $(ina "$ec" hooks | tr '\n' '|');"
	[ -z "$bad" ] && ok "LINUX_SLL (GRE) with tags out of band: put back at byte 14 as tcpdump's, byte for byte, 2 filters" ||
		ko "LINUX_SLL VLAN" "$bad"
}

# PPP (LINUX_SLL): a link between A and B made without pppd
# (tests/netns/ppp_end.py: ppp_async over a pty at each end, the ends joined
# by pipes), compared as the tunnels are. Needs ppp_async: the 6.1 VM.
test_sll_ppp() {
	local bad= na nb ppp_pid
	[ -e /dev/ppp ] || { echo "SKIP PPP: this kernel has no /dev/ppp"; return; }
	rm -f "$tmp"/ppp.*
	mkfifo "$tmp/ppp.fifo"
	ip netns exec "$A" python3 "$here/ppp_end.py" "$tmp/ppp.a" < "$tmp/ppp.fifo" |
		ip netns exec "$B" python3 "$here/ppp_end.py" "$tmp/ppp.b" > "$tmp/ppp.fifo" &
	ppp_pid=$! # B's end; A's ends with its input
	for _ in $(seq 200); do
		[ -s "$tmp/ppp.a" ] && [ -s "$tmp/ppp.b" ] || [ -e "$tmp/ppp.a.skip" ] && break
		sleep 0.05
	done
	na=$(cat "$tmp/ppp.a" 2> /dev/null) nb=$(cat "$tmp/ppp.b" 2> /dev/null)
	if [ -e "$tmp/ppp.a.skip" ]; then
		echo "SKIP PPP: $(cat "$tmp/ppp.a.skip")"
		kill $ppp_pid 2> /dev/null
		wait_gone $ppp_pid 5
		return
	elif [ -n "$na" ] && [ -n "$nb" ] && ina ip addr add 10.68.0.1 peer 10.68.0.2 dev "$na" &&
		inb ip addr add 10.68.0.2 peer 10.68.0.1 dev "$nb" && ina ip link set "$na" up &&
		inb ip link set "$nb" up; then
		sll_vs_tcpdump "$na" 10.68.0.1 10.68.0.2 ppp
	else
		bad+=" setup: '$na' '$nb';"
	fi
	kill $ppp_pid 2> /dev/null
	wait_gone $ppp_pid 5
	[ -z "$(ina "$ec" hooks)" ] || bad+=" left: $(ina "$ec" hooks | tr '\n' '|');"
	[ -z "$bad" ] && ok "PPP (made without pppd) -i $na (3 filters, -s 60) and -i any: records as tcpdump's" ||
		ko "LINUX_SLL PPP" "$bad"
}

# Files as tcpdump's rotation makes them: one run of edgecap and one of
# tcpdump with the same flags, each on its own copy of the same traffic
# (3000 datagrams of 1000 bytes, 3.1 MB of pcap); names, and with --pcap the
# packets in each file, the same.
rotated() { # PREFIX: "name:packets" per file, as tcpdump -r reads them
	local f
	for f in "$1"*; do
		echo "${f#"$1"}:$(tcpdump -r "$f" 2> /dev/null | wc -l)"
	done
}

rotation_run() { # DIR EDGECAP-ARGS... -- TCPDUMP-ARGS...
	local d=$tmp/$1 td ea=() ta=(); shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do ea+=("$1"); shift; done
	shift
	ta=("$@")
	mkdir -p "$d"
	ip netns exec "$A" tcpdump -Z root -i va "${ta[@]}" -w "$d/t" 'udp port 5001' 2> "$d/x-td.err" &
	td=$!
	cap_start "$d/e" "$d/x-e.err" "${ea[@]}" 'udp port 5001' || { kill $td; return 1; }
	for _ in $(seq 100); do grep -q listening "$d/x-td.err" && break; sleep 0.05; done
	# shellcheck disable=SC2016
	inb bash -c 'pad=$(printf "%1000s" ""); for ((i = 1; i <= 3000; i++)); do
		echo -n "$pad" > /dev/udp/10.98.0.1/5001; done'
	sleep 1
	kill -TERM $cap_pid $td
	wait_gone $cap_pid 10; wait $td
}

test_rotation_by_size() {
	local d
	# -C 1 --pcap: tcpdump's file, file1, file2, file3 with the same packets
	rotation_run c1 --pcap -C 1 -- -C 1 || { ko "-C" "no start"; return; }
	d=$tmp/c1
	[ "$(rotated "$d/e")" = "$(rotated "$d/t")" ] && [ "$(rotated "$d/e" | wc -l)" = 4 ] &&
		[ "$(rotated "$d/e" | awk -F: '{n += $2} END {print n}')" = 3000 ] &&
		ok "-C 1 --pcap: files and packets $(rotated "$d/e" | tr '\n' ' ')as tcpdump -C 1's" ||
		ko "-C 1" "edgecap: $(rotated "$d/e" | tr '\n' ' ') tcpdump: $(rotated "$d/t" | tr '\n' ' ')"
	# -C 1 -W 3, pcapng: a ring of files 0, 1, 2 as tcpdump names them, each
	# a whole pcapng that tcpdump and tshark read
	rotation_run cw -C 1 -W 3 -- -C 1 -W 3 || { ko "-C -W" "no start"; return; }
	d=$tmp/cw
	local names_e names_t bad=
	names_e=$(cd "$d" && ls e* | sed 's/^e//' | tr '\n' ' ')
	names_t=$(cd "$d" && ls t* | sed 's/^t//' | tr '\n' ' ')
	for f in "$d"/e0 "$d"/e1 "$d"/e2; do
		[ "$(tcpdump -r "$f" 2> /dev/null | wc -l)" = "$(tshark -r "$f" 2> /dev/null | wc -l)" ] &&
			[ "$(tcpdump -r "$f" 2> /dev/null | wc -l)" -gt 0 ] || bad+=" $f"
	done
	[ "$names_e" = "0 1 2 " ] && [ "$names_e" = "$names_t" ] && [ -z "$bad" ] &&
		[ "$(stat -c %s "$d/e1")" -gt 1000000 ] && [ "$(stat -c %s "$d/e1")" -lt 1002000 ] &&
		ok "-C 1 -W 3: files 0 1 2 as tcpdump's, each read whole by tcpdump and tshark" ||
		ko "-C 1 -W 3" "edgecap '$names_e', tcpdump '$names_t';$bad $(stat -c %s "$d"/e?)"
	# -W 11: two digits, as tcpdump's
	rotation_run cw11 -C 1 -W 11 -- -C 1 -W 11 || { ko "-C -W 11" "no start"; return; }
	names_e=$(cd "$tmp/cw11" && ls e* | sed 's/^e//' | tr '\n' ' ')
	names_t=$(cd "$tmp/cw11" && ls t* | sed 's/^t//' | tr '\n' ' ')
	[ "$names_e" = "00 01 02 03 " ] && [ "$names_e" = "$names_t" ] &&
		ok "-C 1 -W 11: files 00 .. 03 as tcpdump's" || ko "-C 1 -W 11" "edgecap '$names_e', tcpdump '$names_t'"
}

# -G 1 -W 3 with a strftime name and -z: a file a second (at the first packet
# after it), three files, then the capture ends by itself, status 0, as
# tcpdump's; -z ran on each file once closed (tcpdump: on each but the last
# of a capture stopped otherwise), without a shell. The first file may hold
# nothing: a capture that starts late in a second rotates at the first
# packet of the next, as tcpdump does; the two after it each hold a second
# of pings.
test_rotation_by_time() {
	local d=$tmp/g td st names_e names_t
	mkdir -p "$d"
	printf '#!/bin/sh\necho "$0 $1 $(tcpdump -r "$1" 2> /dev/null | wc -l)" >> %s\n' "$d/z.log" > "$d/z.sh"
	chmod +x "$d/z.sh"
	ip netns exec "$A" tcpdump -Z root -i va -G 1 -W 3 -z "$d/z.sh" -w "$d/t-%s" icmp 2> "$d/x-td.err" &
	td=$!
	cap_start "$d/e-%s" "$d/x-e.err" -G 1 -W 3 -z "$d/z.sh" icmp || { ko "-G" "no start"; kill $td; return; }
	for _ in $(seq 100); do grep -q listening "$d/x-td.err" && break; sleep 0.05; done
	inb ping -c 20 -i 0.25 10.98.0.1 > /dev/null &
	local pp=$!
	wait_gone $cap_pid 15; st=$?
	wait_gone $td 15
	# the -z commands run at the lowest priority, after the files close
	for _ in $(seq 100); do [ "$(grep -c . "$d/z.log" 2> /dev/null)" -ge 6 ] && break; sleep 0.1; done
	names_e=$(cd "$d" && ls e-*)
	names_t=$(cd "$d" && ls t-*)
	if [ $st = 0 ] && grep -q '^Maximum file limit reached: 3$' "$d/x-e.err" &&
		[ "$(wc -l <<< "$names_e")" = 3 ] && [ "$(wc -l <<< "$names_t")" = 3 ] &&
		grep -Eq '^e-[0-9]{10}$' <<< "$names_e" &&
		[ "$(grep -c "^$d/z.sh $d/e-[0-9]* [0-9]" "$d/z.log")" = 3 ] &&
		[ "$(grep "^$d/z.sh $d/e-" "$d/z.log" | sort | tail -2 | grep -c ' [1-9][0-9]*$')" = 2 ] &&
		[ "$(grep -c "^$d/z.sh $d/t-" "$d/z.log")" = 3 ] &&
		[ "$(sed 's/e-//' <<< "$names_e" | sort -n | awk 'NR > 1 && $1 <= p {bad = 1} {p = $1} END {print bad + 0}')" = 0 ]; then
		ok "-G 1 -W 3 -z: three files named by strftime, -z on each, then the end (status 0), as tcpdump's"
	else
		ko "-G 1 -W 3" "status $st; edgecap: $(echo $names_e), tcpdump: $(echo $names_t); $(cat "$d/z.log" "$d/x-e.err")"
	fi
	wait_gone $pp 10
}

# -U: each packet is in the file as soon as it is captured (the kernel wakes
# the writer for each); without, it waits for the 50 ms drain.
test_immediate() {
	local with without
	cap_start "$tmp/u.pcapng" "$tmp/u.err" -U 'udp port 5001' || { ko "-U" "no start"; return; }
	with=$(inb "$here/latency.py" "$tmp/u.pcapng" 30 10.98.0.1 5001)
	kill -INT $cap_pid; wait_gone $cap_pid 5
	cap_start "$tmp/u.pcapng" "$tmp/u.err" 'udp port 5001' || { ko "-U" "no start"; return; }
	without=$(inb "$here/latency.py" "$tmp/u.pcapng" 30 10.98.0.1 5001)
	kill -INT $cap_pid; wait_gone $cap_pid 5
	[ -n "$with" ] && awk -v w="$with" 'BEGIN {split(w, a, " "); exit !(a[2] < 20)}' &&
		ok "-U: a packet in the file after ${with% *} ms (median; max ${with#* }), without -U ${without% *} ms (max ${without#* })" ||
		ko "-U" "with: $with, without: $without"
}

# On loopback each packet goes out and comes back in: tcpdump shows it once,
# as incoming (-Q in: all of them, -Q out: none). So does edgecap, with
# tcpdump on lo at the same time; no egress hook on lo.
test_loopback_like_tcpdump() {
	local q td bad= got want h
	for q in inout in out; do
		ip netns exec "$A" tcpdump -i lo -U -Q $q -w "$tmp/lo-t.pcap" icmp 2> "$tmp/lo-t.err" &
		td=$!
		ip netns exec "$A" "$ec" capture -i lo -Q $q -w "$tmp/lo-e.pcapng" --duration 3 icmp 2> "$tmp/lo-e.err" &
		cap_pid=$!
		for _ in $(seq 100); do
			h=$(ina "$ec" hooks lo)
			{ [ -n "$h" ] || [ $q = out ]; } && grep -q listening "$tmp/lo-t.err" &&
				grep -q listening "$tmp/lo-e.err" && break
			sleep 0.05
		done
		grep -q ' egress ' <<< "$h" && bad+=" -Q $q: egress hook on lo;"
		ina ping -c 4 -i 0.2 127.0.0.1 > /dev/null
		wait_gone $cap_pid 10
		sleep 1.2 # tcpdump's buffer
		kill -TERM $td; wait $td
		got=$(tshark -r "$tmp/lo-e.pcapng" -T fields -e icmp.type -e icmp.seq 2> /dev/null)
		want=$(tshark -r "$tmp/lo-t.pcap" -T fields -e icmp.type -e icmp.seq 2> /dev/null)
		[ "$got" = "$want" ] || bad+=" -Q $q: edgecap $(wc -l <<< "$got"), tcpdump $(wc -l <<< "$want");"
		[ $q = out ] || [ "$(wc -l <<< "$got")" = 8 ] || bad+=" -Q $q: $(wc -l <<< "$got") packets, not 8;"
	done
	[ -z "$bad" ] && ok "loopback: each packet once, as tcpdump's, for -Q inout, in (8 of 8) and out (none)" ||
		ko loopback "$bad"
}

# VLAN tags, sent by a raw socket (vlan_frames.py) so no 8021q module is
# needed: 10 frames 802.1Q VLAN 100 with PCP 5 and DEI set, 10 QinQ (802.1ad
# VLAN 200 over 802.1Q VLAN 100), 10 untagged, all UDP to port 5555, in that
# order. On TC the kernel holds the outer tag out of band; edgecap must put it
# back where tcpdump shows it, and its filters must see the frame tcpdump
# writes: file semantics, where an expression without `vlan` looks at the
# outer ethertype and so takes the untagged frames only.
vlan_send() { # NS IFACE DST_MAC [PAD]
	local f=$here/vlan_frames.py
	ip netns exec "$1" python3 "$f" "$2" "$3" 10 8100:100:5:1 "q" ${4:-} &&
		ip netns exec "$1" python3 "$f" "$2" "$3" 10 88a8:200:3:0,8100:100:0:0 "qinq" ${4:-} &&
		ip netns exec "$1" python3 "$f" "$2" "$3" 10 - "plain" ${4:-}
}

# edgecap -c 10 FILTER ARGS on va, tcpdump on va at the same time; the records
# must be the frames tcpdump's file gives FILTER, byte for byte, and carry the
# tag as tcpdump's -e prints it (SHOWN, counted over the 10 records).
vlan_compare() { # NAME FILTER SHOWN SENDER ARGS...
	local name=$1 f=$2 shown=$3 sender=$4 td q=in got
	shift 4
	[[ " $* " == *" -Q out "* ]] && q=out
	# not through ina: $! must be tcpdump itself
	ip netns exec "$A" tcpdump -i va -Q $q -U -s 262144 -w "$tmp/vref.pcap" 2> "$tmp/vtd.err" &
	td=$!
	cap_start "$tmp/v.pcapng" "$tmp/v.err" -c 10 "$@" "$f" ||
		{ ko "$name" "capture did not start"; kill $td; return; }
	for _ in $(seq 100); do grep -q listening "$tmp/vtd.err" && break; sleep 0.05; done
	$sender
	wait_gone $cap_pid 10 ||
		{ ko "$name" "capture did not stop at -c 10: $(cat "$tmp/v.err")"; kill $cap_pid $td; return; }
	sleep 1.2 # tcpdump reads its ring a block at a time (at the latest after 1 s)
	kill -TERM $td; wait $td
	tcpdump -r "$tmp/vref.pcap" -w "$tmp/vref_f.pcap" "$f" 2> /dev/null
	got=$(tcpdump -nn -e -r "$tmp/v.pcapng" 2> /dev/null | grep -c "$shown")
	# each frame's lengths and bytes (tshark prints no bytes with -T fields)
	vlan_frames() { tshark -r "$1" -T fields -e frame.len -e frame.cap_len 2> /dev/null &&
		tcpdump -r "$1" -t -nn -xx 2> /dev/null; }
	if [ "$(tcpdump -r "$tmp/vref_f.pcap" 2> /dev/null | wc -l)" = 10 ] && [ "$got" = 10 ] &&
		[ "$(vlan_frames "$tmp/v.pcapng" | grep -c '^	0x')" -gt 20 ] &&
		cmp -s <(vlan_frames "$tmp/v.pcapng") <(vlan_frames "$tmp/vref_f.pcap"); then
		ok "$name: the 10 frames tcpdump's file gives '$f', byte for byte, showing '$shown'"
	else
		ko "$name" "$got records show '$shown'; tcpdump: $(tcpdump -r "$tmp/vref_f.pcap" 2> /dev/null | wc -l)"
	fi
}

test_vlan_ingress() {
	local mac h n
	mac=$(ina cat /sys/class/net/va/address)
	vlan_b() { vlan_send "$B" vb "$mac"; }
	vlan_b_long() { vlan_send "$B" vb "$mac" 256; }
	for h in auto xdp; do
		vlan_compare "vlan ($h ingress)" 'vlan 100 and udp port 5555' \
			'ethertype 802.1Q (0x8100), length [0-9]*: vlan 100, p 5, DEI, ethertype IPv4' \
			vlan_b -Q in --ingress $h
		# veth's XDP misses tags its peer's TX offload keeps out of band: said
		# once, unless the kfunc reads them (test_vlan_xdp_offload)
		n=$(grep -c '^edgecap: warning: va: XDP cannot see VLAN tags this device receives out of band' "$tmp/v.err")
		[ "$n" = $([ $h = xdp ] && ! vlan_kfunc && echo 1 || echo 0) ] &&
			ok "vlan ($h ingress): $n warning about tags XDP cannot see" ||
			ko "vlan ($h ingress) warning" "$(cat "$tmp/v.err")"
		vlan_compare "QinQ ($h ingress)" 'vlan 200 and vlan 100 and udp port 5555' \
			'ethertype 802.1Q-QinQ (0x88a8), length [0-9]*: vlan 200, p 3, ethertype 802.1Q' \
			vlan_b -Q in --ingress $h
		vlan_compare "no vlan in the filter ($h ingress)" 'udp port 5555' \
			'ethertype IPv4 (0x0800), length [0-9]*: 10.98.0.2.40000 > 10.98.0.1.5555' vlan_b -Q in --ingress $h
		# loads across the end of the filter's 128-byte window and past it:
		# ether[126:4] and udp[100] are payload bytes 64..67 and 76 only
		# where one 4-byte tag precedes the IP header
		vlan_compare "vlan, loads past the window ($h ingress)" \
			'vlan 100 and ether[126:4] = 0x40414243 and udp[100] = 0x4c' \
			'ethertype 802.1Q (0x8100), length 318: vlan 100, p 5, DEI' vlan_b_long -Q in --ingress $h
	done
}

# Tags out of band on XDP, as a NIC with receive VLAN offload keeps them:
# vb's TC egress gives the frames their tag in skb metadata (vlan_push.bpf.c:
# 802.1Q 100 PCP 5 DEI on untagged frames, 802.1ad 200 PCP 3 over frames
# tagged 802.1Q 100), veth keeps it there, and va's XDP gets frames without
# it. Where the kernel has the RX metadata kfunc (Linux 6.8) edgecap reads
# the tag with it: the same frames as tcpdump's, and no warning; else XDP
# says once that it cannot see these tags.
test_vlan_xdp_offload() {
	local mac n kfunc=0
	if [ ! -r "$vlanpush" ]; then
		echo "SKIP vlan xdp offload: no $vlanpush"
		return
	fi
	vlan_kfunc && kfunc=1
	mac=$(ina cat /sys/class/net/va/address)
	vlan_oob() { # SECTION TAGS PAYLOAD [PAD]: 10 frames, given a tag by SECTION (-: none)
		local r
		{ [ "$1" = - ] || { inb tc qdisc add dev vb clsact &&
			inb tc filter add dev vb egress bpf da obj "$vlanpush" sec "$1"; }; } &&
			inb python3 "$here/vlan_frames.py" vb "$mac" 10 "$2" "$3" ${4:-}
		r=$?
		[ "$1" = - ] || inb tc qdisc del dev vb clsact 2> /dev/null
		return $r
	}
	oob_all() { vlan_oob vlan_q - q && vlan_oob vlan_ad 8100:100:0:0 qinq && vlan_oob - - plain; }
	oob_long() { vlan_oob vlan_q - q 256; }
	if [ $kfunc = 0 ]; then
		cap_start "$tmp/v.pcapng" "$tmp/v.err" -c 10 -Q in --ingress xdp 'udp port 5555' &&
			oob_all
		wait_gone $cap_pid 10 || kill $cap_pid 2> /dev/null
		n=$(grep -c '^edgecap: warning: va: XDP cannot see VLAN tags' "$tmp/v.err")
		[ "$n" = 1 ] && ok "vlan out of band (xdp ingress, no RX metadata kfunc): said once" ||
			ko "vlan out of band (xdp ingress) warning" "$(cat "$tmp/v.err")"
		return
	fi
	vlan_compare "vlan out of band (xdp ingress, RX metadata kfunc)" 'vlan 100 and udp port 5555' \
		'ethertype 802.1Q (0x8100), length [0-9]*: vlan 100, p 5, DEI, ethertype IPv4' \
		oob_all -Q in --ingress xdp
	n=$(grep -c 'XDP cannot see VLAN tags' "$tmp/v.err")
	[ "$n" = 0 ] && ok "vlan out of band (xdp ingress): no warning, the kfunc reads the tag" ||
		ko "vlan out of band (xdp ingress) warning" "$(cat "$tmp/v.err")"
	vlan_compare "QinQ out of band (xdp ingress, RX metadata kfunc)" \
		'vlan 200 and vlan 100 and udp port 5555' \
		'ethertype 802.1Q-QinQ (0x88a8), length [0-9]*: vlan 200, p 3, ethertype 802.1Q' \
		oob_all -Q in --ingress xdp
	vlan_compare "no vlan in the filter, tags out of band (xdp ingress)" 'udp port 5555' \
		'ethertype IPv4 (0x0800), length [0-9]*: 10.98.0.2.40000 > 10.98.0.1.5555' \
		oob_all -Q in --ingress xdp
	vlan_compare "vlan out of band, loads past the window (xdp ingress)" \
		'vlan 100 and ether[126:4] = 0x40414243 and udp[100] = 0x4c' \
		'ethertype 802.1Q (0x8100), length 318: vlan 100, p 5, DEI' oob_long -Q in --ingress xdp
}

# TC egress with the tag out of band, as a VLAN device with TX offload hands
# it over: a bridge in A forwards what vy sends, through vx (whose receive
# path takes the outer tag out of the frame), out of va. Last of the suite:
# va leaves the bridge at the end but has been a port.
test_vlan_egress() {
	local mac
	mac=$(inb cat /sys/class/net/vb/address)
	vlan_a() { vlan_send "$A" vy "$mac"; }
	if ina ip link add vx type veth peer name vy && ina ip link add br0 type bridge &&
		ina ip link set vx master br0 && ina ip link set va master br0 &&
		ina ip link set vx up && ina ip link set vy up && ina ip link set br0 up; then
		vlan_compare "vlan (TC egress, tag out of band)" 'vlan 100 and udp port 5555' \
			'ethertype 802.1Q (0x8100), length [0-9]*: vlan 100, p 5, DEI, ethertype IPv4' \
			vlan_a -Q out
		vlan_compare "QinQ (TC egress, tag out of band)" 'vlan 200 and vlan 100 and udp port 5555' \
			'ethertype 802.1Q-QinQ (0x88a8), length [0-9]*: vlan 200, p 3, ethertype 802.1Q' \
			vlan_a -Q out
		vlan_compare "no vlan in the filter (TC egress)" 'udp port 5555' \
			'ethertype IPv4 (0x0800), length [0-9]*: 10.98.0.2.40000 > 10.98.0.1.5555' vlan_a -Q out
	else
		ko "vlan egress" "bridge setup failed"
	fi
	ina ip link del vx 2> /dev/null
	ina ip link del br0 2> /dev/null
}

# Real 8021q devices (the 6.1 VM has the module, the host kernel has not):
# VLAN 100 over va and vb, and QinQ (802.1ad 200, 802.1Q 100 over it). Echo
# requests from B come in on va and the replies go out of A's VLAN devices,
# which hand va their tag out of band (TX offload): TC ingress and TC
# egress. XDP sees the tag only when vb puts it in the frame (its TX
# offload off): then in every way as tcpdump.
test_vlan_devices() {
	if ! ina ip link add link va name va.100 type vlan id 100 2> /dev/null; then
		echo "SKIP vlan devices: this kernel has no 8021q"
		return
	fi
	vlan_devs "$A" va 1 && vlan_devs "$B" vb 2 || { ko "vlan devices" "setup"; vlan_devs_del; return; }
	ping_q() { inb ping -c 10 -i 0.2 -W 2 -q 10.99.1.1 > /dev/null; }
	ping_qinq() { inb ping -c 10 -i 0.2 -W 2 -q 10.99.2.1 > /dev/null; }
	vlan_compare "8021q device (TC ingress)" 'vlan 100 and icmp' \
		'ethertype 802.1Q (0x8100), length [0-9]*: vlan 100, p 0, ethertype IPv4 (0x0800), 10.99.1.2 > 10.99.1.1' \
		ping_q -Q in
	vlan_compare "8021q device (TC egress)" 'vlan 100 and icmp' \
		'ethertype 802.1Q (0x8100), length [0-9]*: vlan 100, p 0, ethertype IPv4 (0x0800), 10.99.1.1 > 10.99.1.2' \
		ping_q -Q out
	vlan_compare "802.1ad device (TC ingress)" 'vlan 200 and vlan 100 and icmp' \
		'ethertype 802.1Q-QinQ (0x88a8), length [0-9]*: vlan 200, p 0, ethertype 802.1Q' ping_qinq -Q in
	vlan_compare "802.1ad device (TC egress)" 'vlan 200 and vlan 100 and icmp' \
		'ethertype 802.1Q-QinQ (0x88a8), length [0-9]*: vlan 200, p 0, ethertype 802.1Q' ping_qinq -Q out
	inb ethtool -K vb txvlan off tx-vlan-stag-hw-insert off > /dev/null
	vlan_compare "8021q device, tag in the frame (XDP)" 'vlan 100 and icmp' \
		'ethertype 802.1Q (0x8100), length [0-9]*: vlan 100, p 0, ethertype IPv4 (0x0800), 10.99.1.2 > 10.99.1.1' \
		ping_q -Q in --ingress xdp
	vlan_compare "802.1ad device, tag in the frame (XDP)" 'vlan 200 and vlan 100 and icmp' \
		'ethertype 802.1Q-QinQ (0x88a8), length [0-9]*: vlan 200, p 0, ethertype 802.1Q' \
		ping_qinq -Q in --ingress xdp
	inb ethtool -K vb txvlan on tx-vlan-stag-hw-insert on > /dev/null
	vlan_devs_del
}

vlan_devs() { # NS IFACE HOST: IFACE.100 10.99.1.HOST, IFACE.200.100 10.99.2.HOST
	ip -n "$1" link add link $2 name $2.100 type vlan id 100 2> /dev/null # va.100: already
	ip -n "$1" link add link $2 name $2.200 type vlan proto 802.1ad id 200 &&
		ip -n "$1" link add link $2.200 name $2.200.100 type vlan id 100 &&
		ip -n "$1" addr add 10.99.1.$3/24 dev $2.100 &&
		ip -n "$1" addr add 10.99.2.$3/24 dev $2.200.100 &&
		ip -n "$1" link set $2.100 up && ip -n "$1" link set $2.200 up &&
		ip -n "$1" link set $2.200.100 up
}

vlan_devs_del() {
	local d
	for d in va.200.100 va.200 va.100; do ina ip link del $d 2> /dev/null; done
	for d in vb.200.100 vb.200 vb.100; do inb ip link del $d 2> /dev/null; done
}

# -i any against tcpdump -i any in A at the same time: A has lo, va and va2
# (a second pair to B), and va3 comes during the captures. Traffic: pings
# both ways on each, UDP to closed ports (ICMP errors back), loopback, a
# broadcast, VLAN-tagged frames (the tag out of band: not in SLL2 records).
# Four captures each: the whole, with cooked fields and lengths in the
# expression, a short snaplen, and tcpdump's text. Records are compared
# (sorted, since the two take packets in from two CPUs) as tcpdump -r
# prints them with -e -xx: SLL2 header fields and every byte.
# Bytes 18-19 of the header, the address's past its 6 bytes, are left as
# they were in the packet socket's ring by Linux 6.1 (earlier frames' bytes;
# 6.18 zeroes them): edgecap writes zeros (checked apart), and they are not
# compared.
test_any_like_tcpdump() {
	local bad= i2 i3 n pids=() tds=() k mac
	# no IPv6 on the new interfaces: their own packets at start would come
	# before one capture or the other
	ina sysctl -qw net.ipv6.conf.default.disable_ipv6=1 && inb sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ina ip link add va2 type veth peer name vb2 netns "$B" && ina ip addr add 10.98.2.1/24 dev va2 &&
		inb ip addr add 10.98.2.2/24 dev vb2 && ina ip link set va2 up && inb ip link set vb2 up ||
		{ ko "-i any" "no second veth pair"; return; }
	i2=$(ina cat /sys/class/net/va2/ifindex)
	# the first two run in the kernel for tcpdump, the third in user space
	# (a load at byte 8 of the header): they see a frame's VLAN protocol apart
	local -a exprs=("udp or icmp or ether proto 0x8100" "ifindex $i2 and not arp or (greater 1010 and icmp) or (udp port 5555 and link[200] = 136 and udp[150] = 126)"
		"link[8:2] = 1 and (outbound and icmp or ether proto 0x8100 or udp port 5555)")
	local -a snap=(262144 262144 60)
	for k in 0 1 2; do
		ip netns exec "$A" tcpdump -i any -U -s ${snap[k]} -w "$tmp/any-t$k.pcap" "${exprs[k]}" 2> "$tmp/any-t$k.err" &
		tds+=($!)
		ip netns exec "$A" "$ec" capture -i any -s ${snap[k]} -w "$tmp/any-e$k.pcapng" "${exprs[k]}" 2> "$tmp/any-e$k.err" &
		pids+=($!)
	done
	ip netns exec "$A" tcpdump -i any -l -nn -t -e icmp > "$tmp/any-t.txt" 2> "$tmp/any-t3.err" &
	tds+=($!)
	ip netns exec "$A" "$ec" capture -i any -nn -t -e icmp > "$tmp/any-e.txt" 2> "$tmp/any-e3.err" &
	pids+=($!)
	for _ in $(seq 200); do
		[ "$(cat "$tmp"/any-[te]?.err | grep -c listening)" = 8 ] && break
		sleep 0.05
	done
	ina ping -c 2 -i 0.2 10.98.0.2 > /dev/null
	inb ping -c 2 -i 0.2 10.98.2.1 > /dev/null
	ina ping -c 2 -i 0.2 127.0.0.1 > /dev/null
	ina ping -c 1 -s 972 10.98.0.2 > /dev/null # IP length 1000: not greater 1010 (20 more with the header)
	ina ping -c 1 -s 992 10.98.0.2 > /dev/null # 1020
	send_udp 6
	ina bash -c 'printf lo > /dev/udp/127.0.0.1/5003'
	inb ping -b -c 1 -W 1 10.98.0.255 > /dev/null 2>&1
	mac=$(ina cat /sys/class/net/va/address)
	vlan_send "$B" vb "$mac"
	# UDP with the bytes 0..255 after 16 (from byte 64 of the SLL2 record),
	# for loads past the filter's window
	ip netns exec "$B" python3 "$here/vlan_frames.py" vb "$mac" 1 - pad 256
	# an interface that comes during the capture
	ina ip link add va3 type veth peer name vb3 netns "$B" && ina ip addr add 10.98.3.1/24 dev va3 &&
		inb ip addr add 10.98.3.2/24 dev vb3 && ina ip link set va3 up && inb ip link set vb3 up ||
		bad+=" no va3;"
	i3=$(ina cat /sys/class/net/va3/ifindex)
	for _ in $(seq 100); do
		[ "$(ina "$ec" hooks va3 | grep -c ' ingress ')" = 4 ] && break
		sleep 0.05
	done
	ina ping -c 2 -i 0.2 -W 1 10.98.3.2 > /dev/null || bad+=" no ping on va3;"
	sleep 1.2 # tcpdump reads its ring a block at a time (at the latest after 1 s)
	kill -INT "${pids[@]}" "${tds[@]}"
	for k in "${pids[@]}" "${tds[@]}"; do wait_gone $k 10 || bad+=" $k did not stop;"; done
	for k in 0 1 2; do
		n=$(any_packets "$tmp/any-e$k.pcapng" | wc -l)
		[ "$n" -ge 4 ] && cmp -s <(any_packets "$tmp/any-e$k.pcapng") <(any_packets "$tmp/any-t$k.pcap") ||
			bad+=" '${exprs[k]}' -s ${snap[k]}: $n records, tcpdump $(any_packets "$tmp/any-t$k.pcap" | wc -l): $(diff <(any_packets "$tmp/any-e$k.pcapng") <(any_packets "$tmp/any-t$k.pcap") | head -3 | cut -c1-150 | tr '\n' '|');"
	done
	any_packets "$tmp/any-e0.pcapng" > "$tmp/any0.txt"
	for want in "^lo  *In  ifindex 1 00:00:00:00:00:00 ethertype IPv4 (0x0800), length 104: 127.0.0.1 > 127.0.0.1: ICMP echo request" \
		"^va  *Out ifindex [0-9]* $mac ethertype IPv4 (0x0800), length 104: 10.98.0.1 > 10.98.0.2: ICMP echo request" \
		"^va  *B   ifindex [0-9]* .* 10.98.0.2 > 10.98.0.255: ICMP echo request" \
		"^va  *In  ifindex [0-9]* .* ethertype IPv4 (0x0800), length 51: 10.98.0.2.40000 > 10.98.0.1.5555: UDP, length 3 " \
		"^va2 *In  ifindex $i2 .* 10.98.2.2 > 10.98.2.1: ICMP echo request" \
		"^va3 *Out ifindex $i3 .* 10.98.3.1 > 10.98.3.2: ICMP echo request"; do
		grep -q "$want" "$tmp/any0.txt" || bad+=" no record '$want';"
	done
	# the QinQ frames: the inner tag in the packet, the protocol as the kernel's
	# packet socket gives it (the one behind the tag since Linux 6.10)
	[ "$(grep -c ' length 58: .*0x0010:  .... .... 0064 0800 4500 0022 ' "$tmp/any0.txt")" = 9 ] ||
		bad+=" QinQ frames: $(grep -c '7169 6e71' "$tmp/any0.txt") of 10;"
	[ "$(any_packets "$tmp/any-e1.pcapng" | grep -vc "ifindex $i2 ")" = 3 ] ||
		bad+=" not the 1020-byte ping's two records (greater 1010 by the network length) and one of bytes 0..255;"
	[ "$(tcpdump -r "$tmp/any-e0.pcapng" -xx 2> /dev/null | awk '$1 == "0x0010:" && $3 != "0000"' | wc -l)" = 0 ] ||
		bad+=" address bytes past 6 not zero;"
	# tcpdump -r's warning about SLL2 names is not the live tcpdump's
	grep -q 'Warning: interface names' "$tmp/any-e3.err" && bad+=" $(cat "$tmp/any-e3.err");"
	# (tcpdump ends an interrupted listing with an empty line)
	[ -s "$tmp/any-e.txt" ] && [ "$(sort "$tmp/any-e.txt")" = "$(grep -v '^$' "$tmp/any-t.txt" | sort)" ] ||
		bad+=" text: $(wc -l < "$tmp/any-e.txt") lines, tcpdump $(wc -l < "$tmp/any-t.txt"): $(diff "$tmp/any-e.txt" "$tmp/any-t.txt" | head -3 | tr '\n' '|');"
	ina ip link del va2; ina ip link del va3
	[ -z "$bad" ] && ok "-i any: records as tcpdump -i any's (SLL2 headers, every byte but unused address bytes) on lo, two veths and one that came later, with cooked fields, len, loads past the window, -s 60 and VLAN tags; text the same" ||
		ko "-i any" "$bad"
}

# -Q in and -Q out on any, against tcpdump -i any -Q the same: pings on va
# and loopback (lo's packets come in only: -Q out shows none of them), and
# nothing left attached to any interface afterwards.
test_any_directions() {
	local q bad= td n
	for q in in out; do
		ip netns exec "$A" tcpdump -i any -Q $q -U -w "$tmp/anyq-t.pcap" icmp 2> "$tmp/anyq-t.err" &
		td=$!
		ip netns exec "$A" "$ec" capture -i any -Q $q -w "$tmp/anyq-e.pcapng" icmp 2> "$tmp/anyq-e.err" &
		cap_pid=$!
		for _ in $(seq 100); do
			grep -q listening "$tmp/anyq-t.err" && grep -q listening "$tmp/anyq-e.err" && break
			sleep 0.05
		done
		ina ping -c 2 -i 0.2 10.98.0.2 > /dev/null
		inb ping -c 2 -i 0.2 10.98.0.1 > /dev/null
		ina ping -c 2 -i 0.2 127.0.0.1 > /dev/null
		sleep 1.2 # tcpdump's buffer
		kill -INT $cap_pid $td
		wait_gone $cap_pid 10; wait_gone $td 5
		n=$(any_packets "$tmp/anyq-e.pcapng" | wc -l)
		[ "$n" = $([ $q = in ] && echo 8 || echo 4) ] &&
			cmp -s <(any_packets "$tmp/anyq-e.pcapng") <(any_packets "$tmp/anyq-t.pcap") ||
			bad+=" -Q $q: $n records, tcpdump $(any_packets "$tmp/anyq-t.pcap" | wc -l);"
	done
	[ -z "$(ina "$ec" hooks)" ] || bad+=" left: $(ina "$ec" hooks | tr '\n' '|');"
	[ -z "$bad" ] && ok "-i any -Q in (8 records, lo's once) and -Q out (4, none of lo's) as tcpdump's; nothing left attached" ||
		ko "-i any -Q" "$bad"
}

# -i any and an interface whose cooked header edgecap does not make (GRE
# without a remote, as the gre0 its module puts in every namespace): down,
# it is left out and the capture runs; one that comes up during the capture
# ends it (status 1, one line naming it); one up at the start refuses it
# (status 2).
test_any_gre() {
	local out st bad=
	ina ip link add gre1 type gre local 10.98.0.1 2> /dev/null ||
		{ echo "SKIP -i any with GRE: this kernel has none"; return; }
	# without a remote: captured (its records are test_sll_tunnels'); one
	# that comes up during the capture is added
	ip netns exec "$A" "$ec" capture -i any -w "$tmp/gre.pcapng" icmp 2> "$tmp/gre.err" &
	cap_pid=$!
	for _ in $(seq 200); do grep -q listening "$tmp/gre.err" && break; sleep 0.05; done
	grep -q listening "$tmp/gre.err" || bad+=" with gre1 down: $(cat "$tmp/gre.err");"
	ina ping -c 1 10.98.0.2 > /dev/null
	ina ip link set gre1 up
	sleep 1
	kill -0 $cap_pid 2> /dev/null || bad+=" gre1 up during the capture ended it: $(tr '\n' '|' < "$tmp/gre.err");"
	kill -INT $cap_pid; wait_gone $cap_pid 10; st=$?
	[ $st = 0 ] && [ "$(tcpdump -r "$tmp/gre.pcapng" icmp 2> /dev/null | grep -c 'ICMP echo re')" = 2 ] ||
		bad+=" gre1 up during the capture: $st $(tr '\n' '|' < "$tmp/gre.err");"
	# over FOU without a remote: refused, up at the start
	if ina ip link add gre8 type gre local 10.98.0.1 key 8 encap fou encap-dport 5555 2> /dev/null; then
		ina ip link set gre8 up
		out=$(ina "$ec" capture -i any -w /dev/null 2>&1); st=$?
		[ $st = 2 ] && [ "$(wc -l <<< "$out")" = 1 ] && grep -q '^edgecap: -i any: gre8 has hardware type 778' <<< "$out" ||
			bad+=" gre8 (FOU) up at the start: $st $out;"
		ina ip link del gre8
	else
		bad+=" no FOU;"
	fi
	ina ip link del gre1
	[ -z "$(ina "$ec" hooks)" ] || bad+=" left: $(ina "$ec" hooks | tr '\n' '|');"
	[ -z "$bad" ] && ok "-i any with GRE without a remote: captured, one coming up during the capture added; over FOU refused (2)" ||
		ko "-i any with GRE" "$bad"
}

# -i any with 802.1Q and 802.1ad devices on va and vb (the 6.1 VM; the host
# has no 8021q): each packet is seen on va and again on each VLAN device;
# tags out of band (TX offload on), put in the frame after TC egress (off:
# tcpdump's kernel filter then sees the tag's type), and in the frame from
# the VLAN device's header on (reorder_hdr off), against tcpdump -i any.
test_any_vlan_devices() {
	local td bad= n off
	if ! ina ip link add link va name va.100 type vlan id 100 2> /dev/null; then
		echo "SKIP -i any with vlan devices: this kernel has no 8021q"
		return
	fi
	vlan_devs "$A" va 1 && vlan_devs "$B" vb 2 || { ko "-i any, vlan devices" "setup"; vlan_devs_del; return; }
	for off in on off reorder; do
		for d in "$A va" "$B vb"; do
			ip netns exec ${d% *} ethtool -K ${d#* } txvlan ${off/reorder/on} \
				tx-vlan-stag-hw-insert ${off/reorder/on} > /dev/null
		done
		if [ $off = reorder ]; then # va.100's header holds its tag: in the frame at va.100 too
			ina ip link del va.100 && ina ip link add link va name va.100 type vlan id 100 reorder_hdr off &&
				ina ip addr add 10.99.1.1/24 dev va.100 && ina ip link set va.100 up ||
				bad+=" no va.100 with reorder_hdr off;"
		fi
		ip netns exec "$A" tcpdump -i any -U -w "$tmp/anyv-t.pcap" icmp 2> "$tmp/anyv-t.err" &
		td=$!
		ip netns exec "$A" "$ec" capture -i any -w "$tmp/anyv-e.pcapng" icmp 2> "$tmp/anyv-e.err" &
		cap_pid=$!
		for _ in $(seq 200); do
			grep -q listening "$tmp/anyv-t.err" && grep -q listening "$tmp/anyv-e.err" && break
			sleep 0.05
		done
		inb ping -c 3 -i 0.2 -W 2 10.99.1.1 > /dev/null || bad+=" TX offload $off: no 802.1Q ping;"
		inb ping -c 3 -i 0.2 -W 2 10.99.2.1 > /dev/null || bad+=" TX offload $off: no QinQ ping;"
		sleep 1.2 # tcpdump's buffer
		kill -INT $cap_pid $td
		wait_gone $cap_pid 10; wait_gone $td 5
		n=$(any_packets "$tmp/anyv-e.pcapng" | wc -l)
		[ "$n" -ge 12 ] && cmp -s <(any_packets "$tmp/anyv-e.pcapng") <(any_packets "$tmp/anyv-t.pcap") ||
			bad+=" TX offload $off: $n records, tcpdump $(any_packets "$tmp/anyv-t.pcap" | wc -l): $(diff <(any_packets "$tmp/anyv-e.pcapng") <(any_packets "$tmp/anyv-t.pcap") | head -3 | cut -c1-200 | tr '\n' '|');"
	done
	for d in "$A va" "$B vb"; do
		ip netns exec ${d% *} ethtool -K ${d#* } txvlan on tx-vlan-stag-hw-insert on > /dev/null
	done
	vlan_devs_del
	[ -z "$bad" ] && ok "-i any with 802.1Q and 802.1ad devices, TX offload on and off, reorder_hdr off: records as tcpdump -i any's" ||
		ko "-i any, vlan devices" "$bad"
}

# Nothing may stay attached after a case; if it did, clear it for the next.
unhooked() {
	hooked && { ko "$1 left hooks attached"; ina "$ec" capture -i va -c 1 --duration 1 -w /dev/null 2> /dev/null; }
}

run_tests unhooked test_exactness_vs_tcpdump test_tcp_segments_vs_tcpdump test_directions test_limits test_cli_like_tcpdump test_text_lines test_snaplen_and_pcap \
	test_ring_size test_overload test_per_interface_isb test_eight_sessions test_crash_recovery test_xdp_taken test_errors \
	test_merge test_tun_raw_vs_tcpdump test_tun_raw_pcap test_link_types test_ipip_and_gre \
	test_rotation_by_size test_rotation_by_time test_immediate test_loopback_like_tcpdump \
	test_vlan_ingress test_vlan_xdp_offload test_vlan_devices test_vlan_egress test_any_like_tcpdump \
	test_any_directions test_any_gre test_any_vlan_devices test_sll_tunnels test_sll_vlan test_sll_ppp
