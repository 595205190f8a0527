#!/usr/bin/env bash
# differential.sh DIFFERENTIAL CRAFT CORPUS_DIR
# Builds the packet corpus (real traffic captured with tcpdump in namespaces
# this script's helper creates and removes, plus crafted packets) and runs the
# differential test of translated filters against libpcap's interpreter.
set -euo pipefail
diff=$1 craft=$2 dir=$3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$dir/capture-real.sh" "$tmp/real.pcap"
"$craft" "$tmp/crafted.pcap" 1
"$diff" "$dir/expressions.txt" "$tmp/real.pcap" "$tmp/crafted.pcap"
