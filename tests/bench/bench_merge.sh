#!/usr/bin/env bash
# bench_merge.sh EDGECAP GEN - `edgecap merge` against mergecap (and, for the
# de-duplicating pass, mergecap followed by editcap -D) on the same files in
# the same run: 8 streams x 1M packets by default (FILES, PACKETS), one core.
# Prints packets per second and the ratio to mergecap.
set -euo pipefail
ec=$1 gen=$2
files=${FILES:-8} packets=${PACKETS:-1000000}
dir=$(mktemp -d -p "$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp)")
trap 'rm -rf "$dir"' EXIT
command -v mergecap > /dev/null || { echo "SKIP: no mergecap"; exit 77; }

"$gen" "$dir" "$files" "$packets"
total=$((files * packets))
in=("$dir"/dev*.pcapng)

secs() { # CMD...: wall seconds, best of 3
	local best= t s e
	for _ in 1 2 3; do
		s=$(date +%s%N)
		"$@" > /dev/null 2>&1
		e=$(date +%s%N)
		t=$(( (e - s) / 1000000 ))
		[ -z "$best" ] || [ "$t" -lt "$best" ] && best=$t
	done
	echo "$best"
}

ours=$(secs taskset -c 0 "$ec" merge --no-dedup -w "$dir/ours.pcapng" "${in[@]}")
theirs=$(secs taskset -c 0 mergecap -F pcapng -w "$dir/mc.pcapng" "${in[@]}")
ours_dd=$(secs taskset -c 0 "$ec" merge -w "$dir/ours_dd.pcapng" "${in[@]}")
editcap=$(secs taskset -c 0 editcap -D 100 "$dir/mc.pcapng" "$dir/dd.pcapng")

"$ec" merge -w "$dir/ours_dd.pcapng" "${in[@]}" 2> "$dir/summary"
kept=$(capinfos -c -M "$dir/ours_dd.pcapng" | awk '/Number of packets/ {print $NF}')
dd_kept=$(capinfos -c -M "$dir/dd.pcapng" | awk '/Number of packets/ {print $NF}')

rate() { echo $(( total * 1000 / ($1 > 0 ? $1 : 1) )); }
printf '%s streams x %s packets (%s, 128-byte frames, 10%% seen by two devices)\n' \
	"$files" "$packets" "$total"
printf '%-44s %8s %12s %7s\n' "" "ms" "packets/s" "ratio"
printf '%-44s %8d %12d %7s\n' "mergecap" "$theirs" "$(rate "$theirs")" "1.00"
printf '%-44s %8d %12d %7.2f\n' "edgecap merge --no-dedup" "$ours" "$(rate "$ours")" \
	"$(awk "BEGIN {print $theirs / $ours}")"
printf '%-44s %8d %12d %7s\n' "mergecap + editcap -D 100" "$((theirs + editcap))" \
	"$(rate $((theirs + editcap)))" "1.00"
printf '%-44s %8d %12d %7.2f\n' "edgecap merge (dedup)" "$ours_dd" "$(rate "$ours_dd")" \
	"$(awk "BEGIN {print ($theirs + $editcap) / $ours_dd}")"
echo "kept after dedup: edgecap $kept, editcap $dd_kept; $(cat "$dir/summary")"
