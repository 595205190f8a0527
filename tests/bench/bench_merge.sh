#!/usr/bin/env bash
# bench_merge.sh EDGECAP GEN - `edgecap merge` against mergecap (and, for the
# de-duplicating pass, mergecap followed by editcap -D) on the same files in
# the same run, one core. GEN writes FILES streams (8) of PACKETS packets
# (1M) each; the merges run on the first 1, 2, 4 and 8 of them (STREAMS), so
# the throughput is seen against the stream count; editcap -D on all of them
# only. Best of REPS (3). Prints packets per second and the ratio to mergecap.
#
# Every tool writes to /dev/null: on the machine these figures come from (a
# VM whose freed memory goes back to its host), the first write to each page
# of a tmpfs file costs about 10 us, which would measure the host rather than
# the merge. One more row, 8 streams, writes to files on tmpfs for both.
set -euo pipefail
ec=$1 gen=$2
files=${FILES:-8} packets=${PACKETS:-1000000} reps=${REPS:-3}
streams=${STREAMS:-1 2 4 8}
dir=$(mktemp -d -p "$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp)")
trap 'rm -rf "$dir"' EXIT
command -v mergecap > /dev/null || { echo "SKIP: no mergecap"; exit 77; }
. "$(dirname "$0")/record.sh"

"$gen" "$dir" "$files" "$packets"
in=("$dir"/dev*.pcapng)

ms() { best_ms "$reps" "$@"; } # CMD...: wall milliseconds, best of $reps
rate() { echo $(( $1 * 1000 / $2 )); } # PACKETS MS

printf '%s packets a stream (128-byte frames, 10%% seen by two devices), one core, best of %s\n\n' \
	"$packets" "$reps"
printf '| streams | packets | mergecap packets/s | edgecap --no-dedup packets/s | ratio | edgecap (dedup) packets/s | ratio |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|\n'
for k in $(printf '%s\n' $streams "$files" | awk -v f="$files" '$1 <= f' | sort -nu); do # ends with $files
	total=$((k * packets))
	set -- "${in[@]:0:$k}"
	ours=$(ms taskset -c 0 "$ec" merge --no-dedup -w /dev/null "$@")
	theirs=$(ms taskset -c 0 mergecap -F pcapng -w /dev/null "$@")
	ours_dd=$(ms taskset -c 0 "$ec" merge -w /dev/null "$@")
	printf '| %d | %d | %d | %d | %.2f | %d | %.2f |\n' "$k" "$total" "$(rate $total "$theirs")" \
		"$(rate $total "$ours")" "$(awk "BEGIN {print $theirs / $ours}")" \
		"$(rate $total "$ours_dd")" "$(awk "BEGIN {print $theirs / $ours_dd}")"
	record bench=merge case="$k streams" metric=packets/s ours="edgecap merge --no-dedup" \
		ours_value="$(rate $total "$ours")" peer=mergecap peer_value="$(rate $total "$theirs")" \
		target="ratio>=3" series=merge x="$k"
	record bench=merge case="$k streams" metric=packets/s ours="edgecap merge (dedup)" \
		ours_value="$(rate $total "$ours_dd")" peer=mergecap peer_value="$(rate $total "$theirs")" \
		series=merge x="$k"
done

# the same 8 streams into files on tmpfs (each run rewrites its file)
total=$((files * packets))
ours_f=$(ms taskset -c 0 "$ec" merge --no-dedup -w "$dir/ours.pcapng" "${in[@]}")
theirs_f=$(ms taskset -c 0 mergecap -F pcapng -w "$dir/mc.pcapng" "${in[@]}")
echo
printf '%s streams into files on tmpfs: mergecap %d packets/s, edgecap --no-dedup %d packets/s: %.2f x\n' \
	"$files" "$(rate $total "$theirs_f")" "$(rate $total "$ours_f")" "$(awk "BEGIN {print $theirs_f / $ours_f}")"
record bench=merge case="$files streams, output to tmpfs files" metric=packets/s \
	ours="edgecap merge --no-dedup" ours_value="$(rate $total "$ours_f")" peer=mergecap \
	peer_value="$(rate $total "$theirs_f")"

# the de-duplicating pass against the peers' two: mergecap, then editcap -D
# (on mergecap's file from the row above)
editcap=$(ms taskset -c 0 editcap -D 100 "$dir/mc.pcapng" /dev/null)
"$ec" merge -w "$dir/ours_dd.pcapng" "${in[@]}" 2> "$dir/summary"
editcap -D 100 "$dir/mc.pcapng" "$dir/dd.pcapng" > /dev/null
kept=$(capinfos -c -M "$dir/ours_dd.pcapng" | awk '/Number of packets/ {print $NF}')
dd_kept=$(capinfos -c -M "$dir/dd.pcapng" | awk '/Number of packets/ {print $NF}')
echo
printf '%s streams, de-duplicating: mergecap + editcap -D 100 %d ms (%d packets/s); edgecap merge %d ms (%d packets/s): %.2f x\n' \
	"$files" "$((theirs + editcap))" "$(rate $total $((theirs + editcap)))" "$ours_dd" \
	"$(rate $total "$ours_dd")" "$(awk "BEGIN {print ($theirs + $editcap) / $ours_dd}")"
record bench=merge case="$files streams, de-duplicating" metric=packets/s \
	ours="edgecap merge (dedup)" ours_value="$(rate $total "$ours_dd")" \
	peer="mergecap + editcap -D 100" peer_value="$(rate $total $((theirs + editcap)))" \
	target="ratio>=3"
echo "kept after dedup: edgecap $kept, editcap $dd_kept; $(cat "$dir/summary")"
