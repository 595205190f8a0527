#!/bin/sh
# with-postgres.sh CMD [ARG...] - run CMD with EDGECAP_TEST_DB naming an
# empty database of a PostgreSQL 15 started for it: initdb into a
# temporary directory, listening on a Unix socket there and nowhere else;
# stopped and removed at the end, however CMD ends. EDGECAP_TEST_PGCTL
# stop|start stops and starts it again. PostgreSQL refuses to run as root:
# as root, the server runs as the postgres user.
set -eu
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/initdb" ] || { echo "with-postgres: no $bin/initdb (apt-get install postgresql-15)" >&2; exit 1; }
dir=$(mktemp -d /tmp/edgecap-pg.XXXXXX)
as=""
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$dir"
	as="runuser -u postgres --"
fi
stop() {
	$as "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 1' INT TERM
$as "$bin/initdb" -D "$dir/data" -U edgecap --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
$as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-k $dir -c listen_addresses='' -c fsync=off" start >/dev/null ||
	{ cat "$dir/log" >&2; exit 1; }
"$bin/createdb" -h "$dir" -U edgecap edgecap
EDGECAP_TEST_DB="postgresql:///edgecap?host=$dir&user=edgecap"
# EDGECAP_TEST_PGCTL stop|start: the tests' faults
cat > "$dir/pgctl" <<EOT
#!/bin/sh
exec $as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -m fast -o "-k $dir -c listen_addresses='' -c fsync=off" "\$1" > /dev/null
EOT
chmod 755 "$dir/pgctl"
EDGECAP_TEST_PGCTL=$dir/pgctl
export EDGECAP_TEST_DB EDGECAP_TEST_PGCTL
"$@"
