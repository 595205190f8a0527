#!/usr/bin/env bash
# version.sh VERSION PROGRAM... - each program's --version is its name and
# the project's version, on one line, with exit status 0.
set -uo pipefail
want=$1; shift
st=0
for p in "$@"; do
	out=$("$p" --version 2>&1); c=$?
	name=$(basename "$p")
	if [ $c = 0 ] && [ "$out" = "$name $want" ]; then
		echo "PASS $name --version: $out"
	else
		echo "FAIL $name --version: status $c, '$out' (want '$name $want')"
		st=1
	fi
done
exit $st
