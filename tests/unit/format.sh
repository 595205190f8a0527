#!/usr/bin/env bash
# format.sh SRCDIR - every C file of the tree is as the committed
# .clang-format has it: clang-format --dry-run --Werror names each one that
# is not, with the lines.
set -uo pipefail
command -v clang-format > /dev/null || { echo "SKIP: no clang-format"; exit 77; }
cd "$1" || exit 1
mapfile -t files < <(find bpf user server tools tests -name '*.[ch]' | sort)
if out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
	echo "PASS ${#files[@]} files formatted as .clang-format says"
else
	echo "$out" | head -40
	echo "FAIL $(grep -c 'error:' <<< "$out") lines not formatted (clang-format -i FILE mends them)"
	exit 1
fi
