#!/bin/sh
# The page's logic tests: test/*.test.ts bundled by esbuild, run by node's own
# test runner. run.sh NODE WEBDIR OUTDIR
set -e
"$1" "$2/build.mjs" --tests "$3"
exec "$1" --test "$3"/*.test.mjs
