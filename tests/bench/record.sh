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
