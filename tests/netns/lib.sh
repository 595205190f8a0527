# lib.sh - what the netns suites share, sourced by each: two network
# namespaces A and B joined by a veth pair (va 10.98.0.1 in A, vb 10.98.0.2
# in B), created here and always removed with every process left in them;
# PASS/FAIL counting; traffic and hook helpers. A suite that needs more
# namespaces names them in extra_ns (and creates them): they are removed too;
# so are the file systems it mounts and names in extra_mounts.
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
ns=ecap${suite:-}-$$
A=$ns-a B=$ns-b
tmp=$(mktemp -d); [ -n "${KEEP:-}" ] && echo "keeping $tmp"
pass=0 fail=0 extra_ns= extra_mounts=

cleanup() {
	local p n
	for n in "$A" "$B" $extra_ns; do
		for p in $(ip netns pids "$n" 2>/dev/null); do
			kill -9 "$p" 2>/dev/null
		done
	done
	for n in "$A" "$B" $extra_ns; do
		ip netns del "$n" 2>/dev/null
	done
	for n in $extra_mounts; do
		umount -l "$n" 2>/dev/null
	done
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP # a killed run cleans up too

ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }

ip netns add "$A" && ip netns add "$B" &&
	ip link add va netns "$A" type veth peer name vb netns "$B" &&
	ip -n "$A" addr add 10.98.0.1/24 dev va && ip -n "$B" addr add 10.98.0.2/24 dev vb &&
	ip -n "$A" link set va up && ip -n "$B" link set vb up &&
	ip -n "$A" link set lo up && ip -n "$B" link set lo up || { echo "FAIL setup"; exit 1; }
ip netns exec "$B" ping -c 1 -W 2 10.98.0.1 > /dev/null # neighbours resolved

# Certificates in $tls: NAME.key, NAME.pem for IP (default 10.98.0.1),
# signed by CA or by itself, and NAME.conf with the agent's tls_ lines.
tls=$tmp/tls
mkdir -p "$tls"
cert() { # NAME [CA [IP]]
	local sign=(-signkey "$tls/$1.key") ca=TRUE
	[ -n "${2:-}" ] && sign=(-CA "$tls/$2.pem" -CAkey "$tls/$2.key" -CAcreateserial) ca=FALSE
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
		-keyout "$tls/$1.key" -out "$tls/$1.csr" 2> /dev/null &&
		openssl x509 -req -in "$tls/$1.csr" -days 2 -out "$tls/$1.pem" "${sign[@]}" \
			-extfile <(printf 'subjectAltName=IP:%s\nbasicConstraints=CA:%s\n' "${3:-10.98.0.1}" $ca) 2> /dev/null &&
		printf 'tls_cert = %s\ntls_key = %s\n' "$tls/$1.pem" "$tls/$1.key" > "$tls/$1.conf"
}

ina() { ip netns exec "$A" "$@"; }
inb() { ip netns exec "$B" "$@"; }

hooks() { # which of edgecap's hooks are on va: "xdp tc-in tc-out" (needs $ec)
	local h
	h=$(ina "$ec" hooks va)
	grep -Eq ' ingress xdp(-link)? ' <<< "$h" && echo -n "xdp "
	grep -Eq ' ingress (tcx|clsact) ' <<< "$h" && echo -n "tc-in "
	grep -Eq ' egress (tcx|clsact) ' <<< "$h" && echo -n "tc-out "
	# and, in case the command is wrong, what the other tools see of them
	ina ip link show va | grep -q 'prog/xdp' && ! grep -Eq ' xdp(-link)? ' <<< "$h" && echo -n "xdp? "
	ina tc filter show dev va ingress | grep -q ecap && ! grep -q ' ingress clsact ' <<< "$h" &&
		echo -n "tc-in? "
	ina tc filter show dev va egress | grep -q ecap && ! grep -q ' egress clsact ' <<< "$h" &&
		echo -n "tc-out? "
}

hooked() { [ -n "$(hooks)" ]; } # are any of edgecap's hooks on va?

# Has the kernel the kfunc through which XDP reads a tag the driver keeps out
# of band (bpf_xdp_metadata_rx_vlan_tag, Linux 6.8; veth implements it)? (grep
# reads all: with -q, bpftool's SIGPIPE would fail the pipe)
vlan_kfunc() {
	bpftool btf dump file /sys/kernel/btf/vmlinux 2> /dev/null |
		grep "FUNC 'bpf_xdp_metadata_rx_vlan_tag'" > /dev/null
}

# PostgreSQL ($db): rows of TABLE where WHERE locked (FOR UPDATE) for
# SECONDS by a session in the background, once it holds them; its pid in
# $locker. pg_waiting TEXT: how many statements starting with TEXT wait
# for a lock now.
row_locked() { # TABLE WHERE SECONDS
	psql -qAtX "$db" -c "BEGIN; SELECT 1 FROM $1 WHERE $2 FOR UPDATE; SELECT pg_sleep($3); COMMIT" > /dev/null &
	locker=$!
	for _ in $(seq 50); do
		[ "$(psql -qAtX "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%FOR UPDATE%'")" = 1 ] && break
		sleep 0.05
	done
}
pg_waiting() { psql -qAtX "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '$1%'"; }

wait_log() { # FILE TEXT SECONDS: TEXT appears in FILE within SECONDS
	for _ in $(seq $(($3 * 20))); do
		grep -q "$2" "$1" && return 0
		sleep 0.05
	done
	return 1
}

wait_gone() { # PID SECONDS: the process ends by itself within SECONDS; its status
	local i
	for i in $(seq $(($2 * 20))); do
		kill -0 "$1" 2> /dev/null || { wait "$1"; return $?; }
		sleep 0.05
	done
	return 124
}

# A -i any capture (LINUX_SLL2), one packet per line, sorted, names looked
# up in A: bytes 18-19 (the header's unused address bytes) left out
any_packets() { # FILE
	ina tcpdump -r "$1" -nn -t -e -xx 2> /dev/null |
		awk '/^[^ \t]/ { if (p != "") print p; p = $0; next } { p = p " " $0 } END { if (p != "") print p }' |
		sed -E 's/(0x0010:  [0-9a-f]{4}) [0-9a-f]{4}/\1 ..../' | sort
}
send_udp() { # COUNT [PAD]: datagrams to ports 5001 and 5002 in turn, payload
	# "seq N", or with PAD "seq N " and (N * 37) % PAD dots, so frame
	# lengths go through every value from 47 to 47 + PAD
	# shellcheck disable=SC2016
	inb bash -c 'dots=$(printf "%*s" "${2:-1}" "" | tr " " .)
	for ((i = 1; i <= $1; i++)); do
		if [ -n "$2" ]; then printf "seq %d %s" $i "${dots:0:$((i * 37 % $2))}"
		else printf "seq %d" $i; fi > /dev/udp/10.98.0.1/$((5001 + (i + 1) % 2))
	done' send "$1" "${2:-}"
}

# A tun device in A (its own packets, no link layer): tunwrite.py writes
# datagrams that A receives on it, A answers with ICMP out of it.
tun_up() { # COUNT -> $tw (the writer), fd 7 its standard input ("go" starts it)
	ina ip tuntap add tun0 mode tun && mkfifo "$tmp/tw.in" || return 1
	ip netns exec "$A" python3 "$(dirname "${BASH_SOURCE[0]}")/tunwrite.py" tun0 "$1" 40 < "$tmp/tw.in" &
	tw=$!
	exec 7> "$tmp/tw.in"
	ina ip addr add 10.77.0.1/24 dev tun0 && ina ip link set tun0 up || return 1
	# the kernel gives the device its queue (until then one that drops
	# everything, after TC egress saw it and before tcpdump does) when it
	# marks it up, up to a second after the carrier came
	for _ in $(seq 60); do ina ip link show tun0 | grep -q 'LOWER_UP.* state UP ' && return 0; sleep 0.05; done
	return 1
}

tun_down() {
	exec 7>&-
	wait_gone "$tw" 5
	ina ip link del tun0 2> /dev/null
	rm -f "$tmp/tw.in"
}

# Run the test_ functions named (TESTS overrides), then `check` after each.
run_tests() { # CHECK TEST...
	local check=$1 t; shift
	for t in ${TESTS:-$*}; do
		$t
		$check "$t"
	done
	echo "$pass passed, $fail failed"
	[ $fail = 0 ]
}
