#!/usr/bin/env bash
# bench_stream.sh SERVER AGENT EDGECAP DEVSIM - one capture's throughput on
# loopback, device -> server -> client, against the limit: curl downloading
# the same bytes as a static file from h2o.
#
# Two network namespaces this script creates (and always removes, with every
# process in them and the hooks' qdiscs): trafgen in the first floods
# 1514-byte UDP frames over a veth pair into the second, where everything else
# runs on its own loopback: edgecap-agent (the device) on the veth's ingress,
# edgecap-server (plain HTTP, a fresh SQLite registry, capture files on
# tmpfs), h2o and the clients. Rows, best of REPS each, every client writing
# to /dev/null:
#   device only        curl GET /v1/capture?count=COUNT from the agent, signed
#   device -> server -> client
#                      POST /api/v1/captures {count: COUNT}, then curl GET
#                      /api/v1/captures/ID/pcap; timed from the POST to the
#                      last byte
#   static file        the pcapng the best chain run's client received, served
#                      by h2o (one thread) from tmpfs: once while the generator
#                      still floods (the CPU the capture rows had), then alone:
#                      the limit
# The generator runs flat out during the capture rows (one core, the
# receiving veth's softirq and the capture hook included). Its rate is measured first with nothing
# capturing, and during each run as the packets the capture's filter matched
# per second (the agent's own counter); a run whose device wrote every packet
# it matched, at the generator's rate, was limited by the generator and not by
# the streaming path, and the output says so.
#
# Synthetic rows, after the generator has stopped (or without it: they need
# neither trafgen nor the capture hooks): the same chain fed by devsim
# (tests/lib/devsim.h), devices that answer GET /v1/capture as the agent does
# from packets in memory, as fast as the server reads them. A second
# edgecap-server with a fresh registry of its own enrols them; 1 device, then
# 4 with different packets (nothing is a duplicate), SYN_COUNT packets in all,
# each device ending at its share with its statistics. Each case is timed as
# the chain row (POST to the last byte of /pcap) and compared with h2o
# serving the same run's merged file right after it (the machine may be
# shared: both sides of a ratio should meet the same load). Every run must
# merge SYN_COUNT packets, remove none and have every device done; each
# run's late packets (the merge's) are reported. The same file is also
# fetched through a plain relay (relay.py: read into a buffer, write on,
# nothing parsed): what one hop in user space costs on this machine, the
# floor under any server that passes the bytes on.
#
# Environment: COUNT (packets per capture, default 500000), SYN_COUNT
# (packets per synthetic capture, default 1000000), REPS (default 3), ROWS
# (default "generator synthetic": which groups of rows run), KEEP (set: keep
# the temporary directory, logs and the generator rows' capture file).
set -euo pipefail
server=$1 agent=$2 ec=$3 devsim=$4
COUNT=${COUNT:-500000}
SYN_COUNT=${SYN_COUNT:-1000000}
REPS=${REPS:-3}
ROWS=${ROWS:-generator synthetic}
TARGET=0.8
FRAME=1514
FILTER='udp dst port 5001'
here=$(cd "$(dirname "$0")" && pwd)
sign=$here/../netns/sign.py

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in h2o curl python3 ip; do
	command -v "$t" > /dev/null || { echo "SKIP: no $t"; exit 77; }
done
for f in "$server" "$agent" "$ec" "$devsim"; do
	[ -x "$f" ] || { echo "bench stream: $f is not an executable" >&2; exit 2; }
done
gen_rows='' syn_rows=''
[[ " $ROWS " == *" generator "* ]] && gen_rows=1
[[ " $ROWS " == *" synthetic "* ]] && syn_rows=1
for t in trafgen tc; do
	if [ -n "$gen_rows" ] && ! command -v "$t" > /dev/null; then
		echo "bench stream: no $t: the generator's rows are skipped" >&2
		gen_rows=
	fi
done
[ -n "$gen_rows$syn_rows" ] || { echo "SKIP: no rows to run (ROWS='$ROWS')"; exit 77; }

read -r load _ < /proc/loadavg
awk -v l="$load" 'BEGIN {exit !(l > 0.75)}' &&
	echo "warning: load average $load before the run: other work may share the CPUs and lower the figures" >&2

G=ecbs-$$-gen C=ecbs-$$-cap
tmp=$(mktemp -d -p "$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)" ecbs.XXXXXX)
gen_pid=

cleanup() {
	local p
	trap - EXIT INT TERM
	set +e
	[ -n "$gen_pid" ] && gen_stop
	# the agent takes its hooks off on SIGTERM; whatever is left goes with -9
	for p in $(ip netns pids "$C" 2> /dev/null) $(ip netns pids "$G" 2> /dev/null); do
		kill -TERM "$p" 2> /dev/null
	done
	for _ in $(seq 20); do
		[ -z "$(ip netns pids "$C" 2> /dev/null)$(ip netns pids "$G" 2> /dev/null)" ] && break
		sleep 0.1
	done
	for p in $(ip netns pids "$C" 2> /dev/null) $(ip netns pids "$G" 2> /dev/null); do
		kill -9 "$p" 2> /dev/null
	done
	ip netns exec "$C" tc qdisc del dev cb clsact 2> /dev/null
	ip netns del "$G" 2> /dev/null
	ip netns del "$C" 2> /dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
	return 0
}
trap cleanup EXIT
trap 'exit 143' INT TERM

inc() { ip netns exec "$C" "$@"; }

# cb has an address only because h2o resolves its listen address with
# AI_ADDRCONFIG, which wants one besides loopback's.
ip netns add "$G" && ip netns add "$C" &&
	ip link add ga netns "$G" type veth peer name cb netns "$C" &&
	ip -n "$G" link set ga up && ip -n "$C" link set cb up && ip -n "$C" link set lo up &&
	ip -n "$C" addr add 10.99.0.2/24 dev cb || { echo "bench stream: setup failed" >&2; exit 1; }

. "$(dirname "$0")/flood.sh"
. "$(dirname "$0")/record.sh"
flood_config "$tmp/flood.cfg" "$FRAME"

# trafgen, unthrottled, one process
gen_start() {
	ip netns exec "$G" trafgen -o ga -i "$tmp/flood.cfg" -P 1 -Q -C > /dev/null 2>&1 &
	gen_pid=$!
	sleep 0.5
}
gen_stop() { # SIGINT to trafgen and its worker, as Ctrl-C would
	local p
	for p in $(ip netns pids "$G"); do kill -INT "$p" 2> /dev/null || true; done
	wait "$gen_pid" 2> /dev/null || true
	gen_pid=
}
rx_packets() { inc cat /sys/class/net/cb/statistics/rx_packets; }

wait_log() { # FILE PATTERN: within 5 s
	for _ in $(seq 100); do
		grep -q "$2" "$1" && return 0
		sleep 0.05
	done
	echo "bench stream: waiting for '$2' in $1: $(cat "$1")" >&2
	return 1
}

# A fresh registry and a server on it, bootstrapped as tests/netns/server.sh
# does: server_start DIR PORT sets token.
server_start() {
	mkdir "$1" "$1/data"
	"$server" --db "$1/registry.db" org add bench > /dev/null
	token=$("$server" --db "$1/registry.db" admin add bench bench)
	inc "$server" --plain-http --listen "127.0.0.1:$2" --db "$1/registry.db" --data "$1/data" \
		--device-networks 127.0.0.1 2> "$1/server.log" &
	wait_log "$1/server.log" serving
}
enrol() { # API NAME ADDRESS: prints the device's secret
	inc curl -sS -m 300 -o "$tmp/body" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"$2\",\"serial\":\"SN-$2\",\"address\":\"$3\"}" "$1/devices"
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["secret"])' "$tmp/body"
}

# POST /captures JSON to API, then GET its /pcap to /dev/null, timed from the
# POST to the last byte: sets cap_id, cap_bytes, cap_ns.
capture_run() { # API JSON
	local t0 t1 out code loc
	t0=$(date +%s%N)
	out=$(inc curl -sS -m 300 -o "$tmp/body" -w '%{http_code} %header{location}' -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/json' --data-binary "$2" "$1/captures")
	read -r code loc <<< "$out"
	[ "$code" = 201 ] || { echo "bench stream: POST /captures answered $out: $(cat "$tmp/body")" >&2; exit 1; }
	cap_id=${loc##*/}
	cap_bytes=$(inc curl -sS -m 300 -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $token" \
		"$1/captures/$cap_id/pcap")
	t1=$(date +%s%N)
	cap_ns=$((t1 - t0))
}

# h2o serving $tmp/www, one thread, once.
h2o_up=
h2o_start() {
	[ -n "$h2o_up" ] && return 0
	cat > "$tmp/h2o.conf" << EOF2
user: root
num-threads: 1
pid-file: $tmp/h2o.pid
error-log: $tmp/h2o.log
listen:
  host: 127.0.0.1
  port: 8090
hosts:
  default:
    access-log: /dev/null
    paths:
      /:
        file.dir: $tmp/www
EOF2
	inc h2o -c "$tmp/h2o.conf" > /dev/null 2>> "$tmp/h2o.log" &
	for _ in $(seq 100); do
		[ "$(inc curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:8090/ || true)" != 000 ] &&
			h2o_up=1 && return 0
		sleep 0.05
	done
	echo "bench stream: h2o did not start: $(cat "$tmp/h2o.log")" >&2
	exit 1
}
# A plain relay (relay.py) in front of h2o, for the synthetic rows.
relay_start() {
	inc python3 "$here/relay.py" 8091 8090 > "$tmp/relay.log" 2>&1 &
	wait_log "$tmp/relay.log" ready
}
# Each run appends "bytes ns PACKETS - - - -" to $tmp/ROW.
run_static() { # ROW FILE PACKETS [PORT: 8091 is through the relay]
	local row=$1 out code size secs
	out=$(inc curl -sS -m 300 -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
		"http://127.0.0.1:${4:-8090}/$2")
	read -r code size secs <<< "$out"
	[ "$code" = 200 ] || { echo "bench stream: h2o answered $code" >&2; exit 1; }
	echo "$size $(awk -v t="$secs" 'BEGIN {printf "%.0f", t * 1e9}') $3 - - - -" >> "$tmp/$row"
}
# Into $tmp/www/NAME for h2o: FILE, which the client got SIZE bytes of.
publish() { # FILE NAME SIZE
	mv "$1" "$tmp/www/$2"
	[ "$(stat -c %s "$tmp/www/$2")" = "$3" ] ||
		{ echo "bench stream: the client got $3 bytes, the file has $(stat -c %s "$tmp/www/$2")" >&2; exit 1; }
}

# The best run of a row: the fastest in bytes/s.
best() { awk '{r = $1 / $2; if (r > b) {b = r; l = $0}} END {print l}' "$tmp/$1"; }
mbs() { awk -v b="$1" -v ns="$2" 'BEGIN {printf "%.1f", b / ns * 1e3}'; }
mkdir "$tmp/www"

generator_rows() {
	local api=http://127.0.0.1:8000/api/v1
	server_start "$tmp/gen" 8000
	enrol "$api" dut http://127.0.0.1:8080 > "$tmp/dut.secret"
	inc "$agent" -c /dev/null -i cb --secret-file "$tmp/dut.secret" --listen 127.0.0.1:8080 \
		--plain-http 2> "$tmp/agent.log" &
	wait_log "$tmp/agent.log" serving

	# The generator alone, the agent's hooks on cb with no session (as between captures).
	gen_start
	local r0 r1 s0 s1
	r0=$(rx_packets) s0=$(date +%s%N)
	sleep 2
	r1=$(rx_packets) s1=$(date +%s%N)
	gen_alone=$(( (r1 - r0) * 1000000000 / (s1 - s0) ))
	[ "$gen_alone" -gt 0 ] || { echo "bench stream: trafgen sent nothing" >&2; exit 1; }

	# The agent's RUNS-th capture once it ended: "written matched dropped osdropped".
	runs=0
	agent_ended() {
		for _ in $(seq 101); do
			[ "$(grep -c ' ended (' "$tmp/agent.log")" -ge "$runs" ] && break
			sleep 0.05
		done
		[ "$(grep -c ' ended (' "$tmp/agent.log")" -ge "$runs" ] ||
			{ echo "bench stream: the agent did not log capture $runs's end: $(tail -3 "$tmp/agent.log")" >&2; return 1; }
		local st
		st=$(grep ' ended (' "$tmp/agent.log" | tail -1 |
			sed -n 's/.*: \([0-9]*\) packets written, \([0-9]*\) matched, \([0-9]*\) dropped (ring full), \([0-9]*\) dropped.*/\1 \2 \3 \4/p')
		[[ $st =~ ^[0-9]+\ [0-9]+\ [0-9]+\ [0-9]+$ ]] ||
			{ echo "bench stream: no counters in the agent's log: $(tail -1 "$tmp/agent.log")" >&2; return 1; }
		echo "$st"
	}

	# Each run appends "bytes ns written matched dropped osdropped file" to $tmp/ROW.
	local bpf target
	bpf=$("$ec" filter compile -s 262144 "$FILTER" | paste -sd, | sed 's/ /%20/g')
	target="/v1/capture?bpf=$bpf&iface=cb&dir=in&snaplen=262144&count=$COUNT"
	run_device() {
		local out code size secs st
		runs=$((runs + 1))
		out=$(inc curl -sS -m 300 -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
			-H "Authorization: $("$sign" "$(cat "$tmp/dut.secret")" GET "$target")" \
			"http://127.0.0.1:8080$target")
		read -r code size secs <<< "$out"
		[ "$code" = 200 ] || { echo "bench stream: agent answered $code" >&2; exit 1; }
		st=$(agent_ended)
		echo "$size $(awk -v t="$secs" 'BEGIN {printf "%.0f", t * 1e9}') $st -" >> "$tmp/device"
	}
	run_chain() {
		local st
		runs=$((runs + 1))
		capture_run "$api" \
			"{\"devices\":[\"dut\"],\"expression\":\"$FILTER\",\"count\":$COUNT,\"interfaces\":[\"cb\"],\"direction\":\"in\",\"duration\":120}"
		st=$(agent_ended)
		echo "$cap_bytes $cap_ns $st $tmp/gen/data/$cap_id.pcapng" >> "$tmp/chain"
	}

	local keep size
	for _ in $(seq "$REPS"); do
		run_device
		sleep 0.3
	done
	for _ in $(seq "$REPS"); do
		run_chain
		sleep 0.3
		# keep the best run's file only
		read -r _ _ _ _ _ _ keep < <(best chain)
		for f in "$tmp"/gen/data/*.pcapng; do [ "$f" = "$keep" ] || rm -f "$f"; done
	done

	# The limit: the same bytes, the best chain run's file, from h2o.
	read -r size _ _ _ _ _ keep < <(best chain)
	publish "$keep" capture.pcapng "$size"
	h2o_start
	# with the generator still flooding (the CPU the capture rows had), then without (the limit)
	for _ in $(seq "$REPS"); do run_static static_flood capture.pcapng "$COUNT"; done
	gen_stop
	for _ in $(seq "$REPS"); do run_static static capture.pcapng "$COUNT"; done
}

generator_report() {
	local limit
	limit=$(best static | awk '{print $1 / $2 * 1e9}')
	# A capture row was limited by the generator when the device wrote all but
	# LOSS_OK of what its filter matched (a scheduling hiccup of the reader), by
	# the streaming path otherwise.
	LOSS_OK=0.01
	row() { # NAME ROW
		local bytes ns written matched dropped osdropped
		read -r bytes ns written matched dropped osdropped _ < <(best "$2")
		awk -v n="$1" -v b="$bytes" -v ns="$ns" -v w="$written" -v m="$matched" -v d="$dropped" -v o="$osdropped" \
			-v lim="$limit" -v tgt="$TARGET" -v row="$2" -v ok="$LOSS_OK" 'BEGIN {
			bps = b / ns * 1e9; r = bps / lim; cap = m != "-"
			printf "| %s | %.0f | %.0f | %.1f | %.0f | %s | %s | %s | %.2f | %s |\n", n, b, ns / 1e6, bps / 1e6,
				w / ns * 1e9, cap ? sprintf("%.0f", m / ns * 1e9) : "-", cap ? d " + " o : "-",
				cap ? (d + o <= ok * m ? "generator" : "streaming path") : "-", r,
				row == "static" ? "(limit)" : row == "chain" ? (r >= tgt ? "**met**" : "**not met**") : "-"
		}'
	}
	verdict() { # NAME ROW
		local bytes ns written matched dropped osdropped
		read -r bytes ns written matched dropped osdropped _ < <(best "$2")
		awk -v n="$1" -v w="$written" -v m="$matched" -v d="$((dropped + osdropped))" -v ok="$LOSS_OK" 'BEGIN {
			if (d <= ok * m)
				printf "%s wrote %d of the %d packets it matched (%.1f%% dropped): limited by the generator, not by the streaming path\n", n, w, m, d * 100 / m
			else
				printf "%s dropped %d of the %d packets it matched (%.1f%%): limited by the streaming path, not by the generator\n", n, d, m, d * 100 / m
		}'
	}

	echo "stream benchmark: one capture of $COUNT packets ($FRAME-byte UDP frames from trafgen over a veth,"
	echo "filter '$FILTER', snaplen 262144) read by curl on loopback; every client writes to /dev/null;"
	echo "best of $REPS by bytes/s; MB = 10^6 bytes; $(nproc) cores, the generator busy on one of them"
	echo
	echo "| path | bytes | ms | MB/s | packets/s | offered packets/s | dropped at device (ring + slow reader) | limited by | ratio to limit | target >= $TARGET |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|---:|---|"
	row "device only (curl GET /v1/capture, signed)" device
	row "device -> server -> client (POST /captures, curl GET /pcap)" chain
	row "static file, h2o, generator flooding" static_flood
	row "static file, h2o $(h2o --version | sed -n '1s/h2o version //p') (the limit)" static
	echo
	local cb cns db dns lim_mbs
	read -r cb cns _ < <(best chain)
	echo "offered packets/s: what the capture's filter matched per second of the run (the agent's counter);"
	echo "slow reader: the agent drops what its reader (curl, or the server) leaves past 4 MiB pending"
	awk -v gen="$gen_alone" -v per="$((cb / COUNT))" -v lim="$limit" -v tgt="$TARGET" 'BEGIN {
		printf "generator alone (the hooks on, no capture): %d packets/s, %.1f MB/s as pcapng (%d bytes a packet), %.2f x the limit\n",
			gen, gen * per / 1e6, per, gen * per / lim
		if (gen * per / lim < tgt)
			printf "the generator cannot offer %s x the limit here: the target is out of reach on this machine whatever the path\n", tgt
	}'
	verdict "device only" device
	verdict "device -> server -> client" chain
	read -r db dns _ < <(best device)
	lim_mbs=$(awk -v l="$limit" 'BEGIN {printf "%.1f", l / 1e6}')
	record bench=stream case="device -> server -> client" metric=MB/s ours="edgecap (agent, server, curl)" \
		ours_value="$(mbs "$cb" "$cns")" peer="static file, h2o (the limit)" peer_value="$lim_mbs" \
		target="ratio>=$TARGET"
	record bench=stream case="device only" metric=MB/s ours="edgecap-agent, curl" \
		ours_value="$(mbs "$db" "$dns")" peer="static file, h2o (the limit)" peer_value="$lim_mbs"
	awk -v b="$cb" -v ns="$cns" -v lim="$limit" -v tgt="$TARGET" 'BEGIN {
		r = b / ns * 1e9 / lim
		printf "device -> server -> client: %.2f x the limit; target >= %s %s\n", r, tgt, (r >= tgt ? "met" : "not met")
	}'
}

# The synthetic rows: K devsim devices enrolled in a registry of their own,
# SYN_COUNT / K packets each. A run's capture must have merged SYN_COUNT
# packets with no duplicate, every device done. Each run's merged file is
# then served by h2o at once, so that both sides of a ratio meet the same
# machine (it may be shared): "bytes ns" to $tmp/synK and $tmp/synK_static.
SYN_CASES="1 4"
synthetic_rows() {
	local api=http://127.0.0.1:8100/api/v1 k i r port devs pid
	server_start "$tmp/syn" 8100
	h2o_start
	relay_start
	port=8200
	for k in $SYN_CASES; do
		[ $((SYN_COUNT % k)) = 0 ] || { echo "bench stream: SYN_COUNT=$SYN_COUNT is not a multiple of $k" >&2; exit 2; }
		devs=
		: > "$tmp/syn$k.secrets"
		for i in $(seq 0 $((k - 1))); do
			enrol "$api" "sim$k-$i" "http://127.0.0.1:$((port + i))" >> "$tmp/syn$k.secrets"
			devs+="${devs:+,}\"sim$k-$i\""
		done
		ip netns exec "$C" "$devsim" --devices "$k" --port "$port" --packets $((SYN_COUNT / k)) \
			--secret-file "$tmp/syn$k.secrets" 2> "$tmp/devsim$k.log" &
		pid=$!
		wait_log "$tmp/devsim$k.log" serving
		for r in $(seq "$REPS"); do
			capture_run "$api" \
				"{\"devices\":[$devs],\"expression\":\"$FILTER\",\"count\":$SYN_COUNT,\"direction\":\"in\",\"duration\":120}"
			syn_check "$api" "$cap_id" "$k" >> "$tmp/syn${k}_late"
			echo "$cap_bytes $cap_ns" >> "$tmp/syn$k"
			# a name per run: h2o may still hold the last one open
			publish "$tmp/syn/data/$cap_id.pcapng" "syn$k-$r.pcapng" "$cap_bytes"
			run_static "syn${k}_static" "syn$k-$r.pcapng" "$SYN_COUNT"
			run_static "syn${k}_relay" "syn$k-$r.pcapng" "$SYN_COUNT" 8091
			rm -f "$tmp/www/syn$k-$r.pcapng"
			sleep 0.3
		done
		kill -TERM "$pid"
		wait "$pid" || { echo "bench stream: devsim: $(tail -3 "$tmp/devsim$k.log")" >&2; exit 1; }
		port=$((port + k))
	done
}
syn_check() { # API ID DEVICES: prints the capture's late packets
	inc curl -sS -m 30 -o "$tmp/body" -H "Authorization: Bearer $token" "$1/captures/$2"
	python3 - "$tmp/body" "$SYN_COUNT" "$3" << 'EOF2' || exit 1
import json, sys
c = json.load(open(sys.argv[1]))
want, k = int(sys.argv[2]), int(sys.argv[3])
devs = c.get("devices", [])
bad = [d for d in devs if d.get("state") != "done" or d.get("error")]
if c.get("merged") != want or c.get("duplicates") or len(devs) != k or bad:
    sys.exit(f"bench stream: synthetic capture {c.get('id')}: want {want} packets merged from {k} "
             f"devices, none removed; got {json.dumps(c)}")
print(c.get("late", 0))
EOF2
}

synthetic_report() {
	local k bytes ns sb sns ours peer
	echo "synthetic devices: edgecap-server fed by devsim (GET /v1/capture answered from memory, no generator,"
	echo "no hooks), one capture of $SYN_COUNT packets ($FRAME-byte UDP frames) in all, read by curl; h2o serving"
	echo "each run's merged file right after it; best of $REPS by bytes/s; MB = 10^6 bytes; $(nproc) cores"
	echo
	echo "| path | devices | bytes | ms | MB/s | packets/s | static file, same bytes (MB/s) | ratio | target >= $TARGET | late packets (runs) | static file through a plain relay (MB/s) | relay's ratio |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|"
	for k in $SYN_CASES; do
		read -r bytes ns _ < <(best "syn$k")
		read -r sb sns _ < <(best "syn${k}_static")
		read -r rb rns _ < <(best "syn${k}_relay")
		ours=$(mbs "$bytes" "$ns") peer=$(mbs "$sb" "$sns") relay=$(mbs "$rb" "$rns")
		awk -v k="$k" -v b="$bytes" -v ns="$ns" -v o="$ours" -v p="$peer" -v n="$SYN_COUNT" -v tgt="$TARGET" \
			-v late="$(paste -sd/ "$tmp/syn${k}_late")" -v rl="$relay" 'BEGIN {
			r = o / p
			printf "| device streams -> server -> client (synthetic devices) | %d | %.0f | %.0f | %.1f | %.0f | %.1f | %.2f | %s | %s | %.1f | %.2f |\n",
				k, b, ns / 1e6, o, n / ns * 1e9, p, r, (r >= tgt ? "**met**" : "**not met**"), late, rl, rl / p
		}'
		record bench=stream case="static file through a plain relay (the synthetic rows' files), $k device$([ "$k" = 1 ] || echo s)" \
			metric=MB/s ours="h2o -> relay.py -> curl" ours_value="$relay" \
			peer="static file, h2o (same bytes)" peer_value="$peer"
		record bench=stream case="device streams -> server -> client (synthetic devices), $k device$([ "$k" = 1 ] || echo s)" \
			metric=MB/s ours="edgecap-server (devsim, curl)" ours_value="$ours" \
			peer="static file, h2o (same bytes)" peer_value="$peer" target="ratio>=$TARGET"
	done
}

if [ -n "$gen_rows" ]; then
	generator_rows
fi
if [ -n "$syn_rows" ]; then
	synthetic_rows
fi
if [ -n "$gen_rows" ]; then
	generator_report
	echo
fi
if [ -n "$syn_rows" ]; then
	synthetic_report
fi
