#!/usr/bin/env bash
# cli.sh EDGECAP CRAFT CORPUS_DIR - the `edgecap filter` contract, checked
# against tcpdump on the same expressions and packets.
set -uo pipefail
ec=$1 craft=$2 dir=$3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }

# An empty capture with a given snaplen: `tcpdump -r` compiles with the
# file's link type and snaplen, which is how we get its -ddd for a snaplen.
empty_pcap() { # FILE SNAPLEN [LINKTYPE]
	printf '%s' "$(printf 'd4c3b2a1020004000000000000000000%08x%08x' \
		"$(( ($2 & 0xff) << 24 | ($2 & 0xff00) << 8 | ($2 >> 8 & 0xff00) | $2 >> 24 ))" \
		"$(( ${3:-1} << 24 ))")" | xxd -r -p > "$1"
}

expressions() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$dir/expressions.txt"; }

test_compile_matches_tcpdump() {
	local snap e n=0 bad=0
	for snap in 262144 96; do
		empty_pcap "$tmp/empty.pcap" $snap
		while IFS= read -r e; do
			n=$((n + 1))
			if ! cmp -s <("$ec" filter compile -s $snap -- "$e" 2>&1) \
				<(tcpdump -r "$tmp/empty.pcap" -ddd -- "$e" 2>/dev/null); then
				bad=$((bad + 1))
				[ $bad -le 3 ] && echo "  differs: -s $snap '$e'"
			fi
		done < <(expressions)
	done
	[ $bad = 0 ] && ok "compile: -ddd byte-identical to tcpdump ($n expression/snaplen pairs)" ||
		ko "compile" "$bad of $n differ from tcpdump -ddd"
}

test_compile_raw_linktype() {
	empty_pcap "$tmp/raw.pcap" 262144 101
	if cmp -s <("$ec" filter compile -y RAW 'tcp port 80') \
		<(tcpdump -r "$tmp/raw.pcap" -ddd 'tcp port 80' 2>/dev/null); then
		ok "compile -y RAW matches tcpdump on a raw-IP capture"
	else
		ko "compile -y RAW"
	fi
}

test_bad_expression() {
	local out st
	out=$("$ec" filter compile 'tcp port' 2>&1); st=$?
	[ $st = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && grep -q 'syntax error' <<< "$out" &&
		ok "bad expression: exit 2, libpcap's message ($out)" || ko "bad expression" "$st: $out"
	out=$("$ec" filter translate 'host 1.2.3.4.5' 2>&1); st=$?
	[ $st = 2 ] && [ -n "$out" ] && ok "translate of a bad expression: exit 2 ($out)" ||
		ko "translate bad expression" "$st: $out"
}

test_check() {
	local out st
	"$ec" filter compile 'udp port 53' > "$tmp/good.ddd"
	"$ec" filter check < "$tmp/good.ddd" && ok "check accepts compiled code" || ko "check good"
	printf '2\n6 0 0 1\n5 0 0 4294967295\n' > "$tmp/back.ddd"
	out=$("$ec" filter check < "$tmp/back.ddd" 2>&1); st=$?
	[ $st = 1 ] && grep -q 'instruction 1: backward jump' <<< "$out" &&
		ok "check refuses a backward jump with index and reason" || ko "check backward" "$st: $out"
	printf '2\n40 0 0 4294963208\n6 0 0 1\n' > "$tmp/skf.ddd"
	out=$("$ec" filter check < "$tmp/skf.ddd" 2>&1); st=$?
	[ $st = 1 ] && grep -q 'instruction 0: Linux ancillary load SKF_AD_IFINDEX' <<< "$out" &&
		ok "check names an SKF_AD load" || ko "check skf" "$st: $out"
	out=$("$ec" filter translate --ddd "$tmp/skf.ddd" 2>&1); st=$?
	[ $st = 2 ] && grep -q 'instruction 0' <<< "$out" &&
		ok "translate --ddd of bad bytecode: exit 2 with the reason" || ko "translate bad" "$st: $out"
	printf '3\n6 0 0 1\n' > "$tmp/short.ddd"
	out=$("$ec" filter check < "$tmp/short.ddd" 2>&1); st=$?
	[ $st = 1 ] && ok "check refuses a truncated -ddd file ($out)" || ko "check short" "$st: $out"
}

test_translate() {
	local out
	out=$("$ec" filter translate 'tcp port 80')
	grep -q 'exit' <<< "$out" && grep -q 'be16' <<< "$out" &&
		[ "$("$ec" filter translate --ddd "$tmp/good.ddd" | wc -l)" -gt 10 ] &&
		ok "translate prints one eBPF instruction per line" || ko "translate"
	grep -q 'bpf_skb_load_bytes' <<< "$("$ec" filter translate --tc --helper 'udp')" &&
		ok "translate --tc --helper uses bpf_skb_load_bytes" || ko "translate --tc"
}

# Each packet edgecap run accepts must be exactly what tcpdump's filter
# accepts, with timestamps and lengths kept.
same_as_tcpdump() { # IN EXPR EXTRA_ARGS...
	local in=$1 e=$2; shift 2
	"$ec" filter run "$@" -r "$in" -w "$tmp/out" "$e" 2> "$tmp/run.err" || return 1
	tcpdump -r "$in" -w "$tmp/ref" "$e" 2> /dev/null || return 1
	cmp -s <(tcpdump -nn -tt -x -r "$tmp/out" 2> /dev/null) \
		<(tcpdump -nn -tt -x -r "$tmp/ref" 2> /dev/null)
}

test_run() {
	local e bad=0 n=0
	"$craft" "$tmp/c.pcap" 7
	editcap -F pcapng "$tmp/c.pcap" "$tmp/c.pcapng"
	for e in 'tcp port 80' 'vlan and udp' 'ip6' 'arp or icmp' 'len > 1000' \
		'tcp[tcpflags] & tcp-syn != 0' 'not ip' 'ip[6:2] & 0x1fff != 0'; do
		for a in "" "--helper"; do
			n=$((n + 1))
			same_as_tcpdump "$tmp/c.pcap" "$e" $a || { bad=$((bad + 1)); echo "  differs: $e $a"; }
		done
	done
	[ $bad = 0 ] && ok "run on pcap: same packets as tcpdump ($n runs)" || ko "run pcap" "$bad of $n"
	same_as_tcpdump "$tmp/c.pcapng" 'udp or arp' && grep -q 'packets, .* matched' "$tmp/run.err" &&
		[ "$(head -c4 "$tmp/out" | xxd -p)" = 0a0d0d0a ] &&
		ok "run on pcapng: pcapng out, same packets, '$(cat "$tmp/run.err")'" || ko "run pcapng"
	same_as_tcpdump "$tmp/c.pcap" 'tcp' --tc 2> /dev/null
	grep -q 'skb test runner takes at most' "$tmp/run.err" &&
		ok "run --tc explains the skb test runner's size limit" || ko "run --tc limit"
}

test_run_snaplen() {
	# each accepted packet keeps its wire length, and its data is cut to
	# min(64, its captured length)
	"$ec" filter run -s 64 -r "$tmp/c.pcap" -w "$tmp/snap.pcap" 'ip' 2> /dev/null
	tcpdump -r "$tmp/c.pcap" -w "$tmp/ref.pcap" 'ip' 2> /dev/null
	if cmp -s <(tshark -r "$tmp/snap.pcap" -T fields -e frame.len -e frame.cap_len 2> /dev/null) \
		<(tshark -r "$tmp/ref.pcap" -T fields -e frame.len -e frame.cap_len 2> /dev/null |
			awk -v OFS='\t' '{ print $1, ($2 > 64 ? 64 : $2) }') &&
		[ "$(tshark -r "$tmp/snap.pcap" 2> /dev/null | wc -l)" -gt 100 ]; then
		ok "run -s 64 cuts data to 64 bytes and keeps wire lengths"
	else
		ko "run snaplen"
	fi
}

for t in test_compile_matches_tcpdump test_compile_raw_linktype test_bad_expression test_check \
	test_translate test_run test_run_snaplen; do
	$t
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
