# record.sh - sourced by the benchmark scripts. `record KEY=VALUE...` appends
# one figure, as a JSON object on one line, to $BENCH_JSON when it is set
# (tools/lab bench sets it and builds its report from the file). Values that
# read as numbers are written as numbers. The keys are in docs/performance.md
# ("The report").
record() {
	[ -n "${BENCH_JSON:-}" ] || return 0
	local kv k v out=
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		if ! [[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then
			v=${v//\\/\\\\} v=${v//\"/\\\"} v="\"$v\""
		fi
		out+="${out:+,}\"$k\":$v"
	done
	printf '{%s}\n' "$out" >> "$BENCH_JSON"
}

# best_ms N CMD...: the command's best wall-clock milliseconds of N runs (at
# least 1), its output discarded.
best_ms() {
	local n=$1 best= t s e
	shift
	for _ in $(seq "$n"); do
		s=$(date +%s%N)
		"$@" > /dev/null 2>&1
		e=$(date +%s%N)
		t=$(((e - s) / 1000000))
		[ -z "$best" ] || [ "$t" -lt "$best" ] && best=$t
	done
	echo $((best > 0 ? best : 1))
}
