#!/usr/bin/env bash
# bench_capture.sh EDGECAP XDPGEN - CPU per captured packet, edgecap against
# `tcpdump -w`, under a flood through a veth pair between two network
# namespaces this script creates (and always removes).
#
# The generator is XDPGEN (tests/bench/xdpgen.c): frames transmitted into the
# veth from inside the kernel, about 0.4 us a packet of CPU (trafgen through
# AF_PACKET: 2.2 us), so the baseline that each tool's cost is taken from is
# smaller and varies less. The receiving veth has GRO on, which gives it a
# NAPI instance (xdpgen's frames need one); its receive path is then a NIC's:
# XDP on the frame, an skb, GRO, taps, TC. GEN=trafgen floods with trafgen
# instead (netif_rx, no NAPI), as the runs before 2026-11-25 did.
#
# For each snaplen (128, 1514; frames are 1514 bytes, so 128 truncates) and
# each offered rate, rounds of runs send the same packets: nothing capturing
# (the baseline), tcpdump, edgecap (TC), edgecap (XDP). They capture with the
# same filter on the receiving veth's ingress and write to /dev/null, so the
# figures are the capture path, not a disk. CPU is the whole machine's busy
# time: for each CPU, the time elapsed minus the time it spent idle by its
# cpuidle counters (microseconds; read by a process on that CPU, which ends
# its idle period first), less the time the hypervisor kept a busy vCPU
# waiting (steal: up to 70 ms of a 2 s run here, 350 ns a packet at 100 kpps);
# or, without cpuidle, /proc/stat's user + system + irq + softirq (ticks of
# 10 ms, too coarse for runs of a few seconds). A tool's cost is its run minus
# the baseline of the same round, divided by the packets it captured, and the
# median over the rounds is kept. A run is loss-free when the tool captured
# every packet sent and counted no drop.
#
# Environment: RATES (pps, "max" = the generator unthrottled; default
# "50000 100000 200000 max"), SNAPLENS (default "128 1514"), SECONDS_PER_RUN
# (default 2), REPS (rounds, default 9), GEN (xdpgen or trafgen; default
# xdpgen).
set -uo pipefail
ec=$1 xdpgen=$2
GEN=${GEN:-xdpgen}
[ "$(id -u)" = 0 ] || { echo "bench capture: needs root" >&2; exit 2; }
case $GEN in
xdpgen) command -v ethtool > /dev/null || { echo "bench capture: needs ethtool" >&2; exit 2; } ;;
trafgen) command -v trafgen > /dev/null || { echo "bench capture: needs trafgen (netsniff-ng)" >&2; exit 2; } ;;
*) echo "bench capture: GEN is xdpgen or trafgen" >&2; exit 2 ;;
esac
RATES=${RATES:-50000 100000 200000 max}
SNAPLENS=${SNAPLENS:-128 1514}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-2}
REPS=${REPS:-9}
MAX_COUNT=${MAX_COUNT:-1000000} # packets per unthrottled run
ns=ecapbench-$$ G=$ns-gen C=$ns-cap
tmp=$(mktemp -d)
FILTER='udp dst port 5001'
TOOLS="tcpdump edgecap edgecap-xdp"
FRAME=1514

cleanup() {
	local p
	for p in $(ip netns pids "$G" 2> /dev/null) $(ip netns pids "$C" 2> /dev/null); do
		kill -9 "$p" 2> /dev/null
	done
	ip netns del "$G" 2> /dev/null
	ip netns del "$C" 2> /dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# no IPv6: its router and neighbour messages would count as sent packets
ip netns add "$G" && ip netns add "$C" &&
	ip netns exec "$G" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
	ip netns exec "$C" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
	ip link add ga netns "$G" type veth peer name cb netns "$C" &&
	ip -n "$G" link set ga up && ip -n "$C" link set cb up &&
	ip -n "$C" addr add 10.99.0.2/24 dev cb &&
	{ [ "$GEN" = trafgen ] || ip netns exec "$C" ethtool -K cb gro on; } ||
	{ echo "bench capture: setup failed" >&2; exit 1; }

. "$(dirname "$0")/flood.sh"
flood_config "$tmp/flood.cfg" "$FRAME"

hz=$(getconf CLK_TCK)
epoch=$(date +%s)
cpus=$(cd /sys/devices/system/cpu && ls -d cpu[0-9]* | sed 's/cpu//')
clock=cpuidle
for c in $cpus; do
	ls /sys/devices/system/cpu/cpu"$c"/cpuidle/state*/time > /dev/null 2>&1 || clock=/proc/stat
done

steal() { # ns the hypervisor ran something else on our CPUs (10 ms steps)
	local _c _u _n _s _i _w _irq _sirq st _rest
	read -r _c _u _n _s _i _w _irq _sirq st _rest < /proc/stat
	echo $((st * (1000000000 / hz)))
}

busy() { # whole-machine busy ns, up to a constant, without stolen time
	local c t idle tot=0 _c u n s i w irq sirq _rest
	if [ $clock = cpuidle ]; then
		# elapsed minus idle counts the time a busy vCPU waited for the host
		tot=$((-$(steal)))
		for c in $cpus; do
			# shellcheck disable=SC2016
			read -r t idle < <(taskset -c "$c" sh -c 't=$(date +%s%N) s=0
				for f in /sys/devices/system/cpu/cpu$1/cpuidle/state*/time; do
					read -r v < "$f"; s=$((s + v))
				done
				echo $((t - $2 * 1000000000)) $s' sh "$c" "$epoch")
			tot=$((tot + t - idle * 1000))
		done
		echo $tot
	else
		read -r _c u n s i w irq sirq _rest < /proc/stat
		echo $(((u + n + s + irq + sirq) * (1000000000 / hz))) # steal is apart here
	fi
}
# the generator runs on the first CPU (trafgen pins itself there), where the
# veth's receive path (and so each tool's kernel side) runs too; each tool's
# process goes on the second, the same for all, rather than where the
# scheduler puts it
pin=
[ "$(nproc)" -gt 1 ] && pin="taskset -c 1"

received() { # packets the receiving veth took in: what reached the hooks
	ip netns exec "$C" cat /sys/class/net/cb/statistics/rx_packets
}

flood() { # COUNT RATE
	local rate=()
	case $GEN in
	xdpgen)
		[ "$2" = max ] || rate=("$2")
		ip netns exec "$G" taskset -c 0 "$xdpgen" ga "$FRAME" "$1" "${rate[@]}" ;;
	trafgen)
		[ "$2" = max ] || rate=(-b "${2}pps")
		ip netns exec "$G" trafgen -o ga -i "$tmp/flood.cfg" -n "$1" -P 1 -q "${rate[@]}" > /dev/null 2>&1 ;;
	esac
}

# One run: TOOL (none|tcpdump|edgecap|edgecap-xdp) SNAPLEN RATE
# prints "busy_ns sent captured dropped elapsed_ns"; sent is what the
# receiving veth took in (a backlog or queue that overflowed before it is
# left out), dropped what the tool counted as lost
run() {
	local tool=$1 snap=$2 rate=$3 count pid="" b0 b1 t0 t1 r0 cap=0 drop=0 i
	if [ "$rate" = max ]; then count=$MAX_COUNT; else count=$((rate * SECONDS_PER_RUN)); fi
	case $tool in
	tcpdump)
		ip netns exec "$C" $pin tcpdump -i cb -Q in -s "$snap" -w /dev/null "$FILTER" 2> "$tmp/err" &
		pid=$!
		for i in $(seq 100); do grep -q listening "$tmp/err" && break; sleep 0.05; done ;;
	edgecap*)
		ip netns exec "$C" $pin "$ec" capture -i cb -Q in -s "$snap" -w /dev/null \
			--ingress "$([ "$tool" = edgecap-xdp ] && echo xdp || echo auto)" "$FILTER" 2> "$tmp/err" &
		pid=$!
		for i in $(seq 100); do
			[ -n "$(ip netns exec "$C" "$ec" hooks cb)" ] && break
			sleep 0.05
		done ;;
	esac
	sleep 0.3
	r0=$(received)
	b0=$(busy) t0=$(date +%s%N)
	flood "$count" "$rate" || echo "bench capture: the generator failed" >&2
	t1=$(date +%s%N)
	sleep 0.5 # let the consumer drain
	b1=$(busy)
	# tcpdump gets a block of the ring on its 1 s timeout when it is not full:
	# the packets of the last one would count as lost
	sleep 0.7
	if [ -n "$pid" ]; then
		kill -0 "$pid" 2> /dev/null || echo "bench capture: $tool ended early: $(cat "$tmp/err")" >&2
		kill -INT "$pid" 2> /dev/null
		wait "$pid"
		cap=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$tmp/err")
		drop=$(sed -n 's/^\([0-9]*\) packets dropped.*/\1/p' "$tmp/err")
	fi
	echo "$((b1 - b0)) $(($(received) - r0)) ${cap:-0} ${drop:-0} $((t1 - t0))"
}

. "$(dirname "$0")/record.sh"

rotate() { # N WORD...: the words from the N-th on, then the first N
	local n=$1; shift
	echo "${@:n+1}" "${@:1:n}"
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
spread() { sort -n | awk '{v[NR] = $1} END {printf "%s (%s..%s)", v[int((NR + 1) / 2)], v[1], v[NR]}'; }

echo "capture benchmark: $FRAME-byte UDP frames flooded by $GEN over a veth pair,"
echo "filter '$FILTER', output /dev/null; CPU = whole machine ($(nproc) cores, busy time by $clock), median of $REPS"
echo
echo "edgecap: TC ingress (its default on veth); edgecap-xdp: --ingress xdp."
echo "ns/pkt: CPU per captured packet above the baseline, median (lowest..highest round);"
echo "loss: packets sent but not captured (worst run), with how many of them the tool"
echo "counted as dropped (tcpdump: by the kernel; edgecap: ring full)"
echo
printf '| snaplen | offered pps | sent pps | baseline ns/pkt | tcpdump | edgecap | ratio | edgecap-xdp | ratio | tcpdump loss | edgecap loss | edgecap-xdp loss |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
declare -A lossfree
for snap in $SNAPLENS; do
	for rate in $RATES; do
		declare -A cost loss counted
		pps_sum=0
		for tool in none $TOOLS; do : > "$tmp/reps-$tool"; loss[$tool]=0 counted[$tool]=0; done
		# a baseline run in each round, just before the tools' runs it is
		# subtracted from: the generator's own cost drifts between rounds
		# (the tools take turns going first)
		for r in $(seq "$REPS"); do
			read -r base sent _ _ ns_el < <(run none "$snap" "$rate")
			pps_sum=$((pps_sum + sent * 1000000000 / ns_el))
			awk -v b="$base" -v n="$sent" 'BEGIN {printf "%.0f\n", b / n}' >> "$tmp/reps-none"
			# shellcheck disable=SC2086
			for tool in $(rotate $((r % 3)) $TOOLS); do
				read -r b sent cap drop _ < <(run "$tool" "$snap" "$rate")
				# ns of CPU per captured packet above the baseline
				awk -v b="$b" -v b0="$base" -v n="$cap" \
					'BEGIN {if (n > 0) printf "%.0f\n", (b - b0) / n; else print "nan"}' \
					>> "$tmp/reps-$tool"
				l=$((sent - cap)); [ "$drop" -gt "$l" ] && l=$drop
				[ "$l" -gt "${loss[$tool]}" ] && loss[$tool]=$l counted[$tool]=$drop
			done
		done
		for tool in none $TOOLS; do cost[$tool]=$(median < "$tmp/reps-$tool"); done
		lost() { echo "${loss[$1]}$([ "${loss[$1]}" = 0 ] || echo " (${counted[$1]} counted)")"; }
		ratio() { awk -v e="$1" -v t="${cost[tcpdump]}" 'BEGIN {if (t > 0) printf "%.2f", e / t; else print "-"}'; }
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$snap" "$rate" \
			"$((pps_sum / REPS))" "$(spread < "$tmp/reps-none")" "$(spread < "$tmp/reps-tcpdump")" \
			"$(spread < "$tmp/reps-edgecap")" "$(ratio "${cost[edgecap]}")" \
			"$(spread < "$tmp/reps-edgecap-xdp")" "$(ratio "${cost[edgecap-xdp]}")" \
			"$(lost tcpdump)" "$(lost edgecap)" "$(lost edgecap-xdp)"
		for tool in $TOOLS; do
			[ "${loss[$tool]}" = 0 ] && lossfree[$snap-$tool]="$rate ($((pps_sum / REPS)) pps)"
		done
		# the target is on the default hook (TC on veth; --ingress xdp makes
		# the kernel copy each skb into an XDP buffer there)
		for tool in edgecap edgecap-xdp; do
			record bench=capture case="snaplen $snap, $rate pps offered" \
				metric="ns CPU per captured packet" ours=$tool ours_value="${cost[$tool]}" \
				peer=tcpdump peer_value="${cost[tcpdump]}" \
				target="$([ $tool = edgecap ] && echo "ratio<=0.5")" \
				series="snaplen $snap" x=$((pps_sum / REPS))
			[ "$rate" = max ] && record bench=capture case="snaplen $snap, $rate pps offered" \
				metric="packets lost" ours=$tool ours_value="${loss[$tool]}" peer=tcpdump \
				peer_value="${loss[tcpdump]}" target="<=0"
		done
		unset cost loss counted
	done
done
echo
for snap in $SNAPLENS; do
	for tool in $TOOLS; do
		echo "highest loss-free offered rate, snaplen $snap, $tool: ${lossfree[$snap-$tool]:-none}"
	done
done
