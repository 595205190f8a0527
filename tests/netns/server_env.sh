# server_env.sh - what server.sh and abuse.sh share, sourced after lib.sh
# (needs $server $agent $ec): certificates, an edgecap-server with a real
# registry (a SQLite file, or the PostgreSQL database EDGECAP_TEST_DB names:
# tests/unit/with-postgres.sh) in B on 127.0.0.1:8000 (devices allowed in 10.98.0.0/24,
# and at its own 10.98.0.2, gw2's),
# organizations acme (alice) and globex (bob), devices gw1 (agent in A on
# va), gw2 (agent in B on vb), gw3 (nothing listens) and globex's gx1; and
# the helpers to drive them: call, field, remote, wait_state.

api=http://127.0.0.1:8000/api/v1
db=${EDGECAP_TEST_DB:-$tmp/registry.db}
server_pid= gw1_pid= gw2_pid=

# A CA the server trusts for devices' HTTPS, a device certificate for
# 10.98.0.1 it signed, a self-signed one, and one it signed for another address.
cert ca && cert gw5 ca && cert rogue && cert misnamed ca 10.98.0.7 && cert srv ca 127.0.0.1 || { echo "FAIL making certificates"; exit 1; }

server_start() { # [FLAG...]: more of the server's flags; $server_as: a command it runs under
	: > "$tmp/server.log"
	ip netns exec "$B" ${server_as:-} "$server" --plain-http --listen 127.0.0.1:8000 --db "$db" \
		--ca-file "$tls/ca.pem" --device-networks 10.98.0.0/24,10.98.0.2 \
		--data "$tmp" --web-root "${web_root:-}" "$@" 2>> "$tmp/server.log" &
	server_pid=$!
	for _ in $(seq 100); do
		grep -q serving "$tmp/server.log" && return 0
		sleep 0.05
	done
	return 1
}

agent_start() { # NAME NS IF ADDR:PORT [CONF]: the device's agent, once it listens;
	# plain HTTP, or HTTPS as CONF says
	local log=$tmp/$1.log pid plain=--plain-http
	[ -n "${5:-}" ] && plain=
	: > "$log"
	ip netns exec "$2" "$agent" -c "${5:-/dev/null}" -i "$3" --secret-file "$tmp/$1.secret" \
		--listen "$4" $plain 2>> "$log" &
	pid=$!
	eval "${1}_pid=$pid"
	for _ in $(seq 100); do
		grep -q serving "$log" && return 0
		sleep 0.05
	done
	return 1
}

# call TOKEN METHOD PATH [JSON]: the status; the body in $tmp/body. The
# path goes as given, dot-segments and escapes alike.
call() {
	inb curl -sS --path-as-is -o "$tmp/body" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
		${4:+-H 'Content-Type: application/json' --data-binary "$4"} "$api$3"
}
field() { python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$tmp/body" "$@"; }

remote() { inb env EDGECAP_SERVER=http://127.0.0.1:8000 EDGECAP_TOKEN="$alice" "$ec" remote "$@"; }

wait_state() { # ID STATE SECONDS: the capture reaches STATE
	for _ in $(seq $(($3 * 10))); do
		call "$alice" GET "/captures/$1" > /dev/null
		[ "$(field state)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

agent_captures() { # NAME URL: captures the agent runs now, from its status
	local t=/v1/status
	inb curl -sS -H "Authorization: $("$(dirname "$0")/sign.py" "$(cat "$tmp/$1.secret")" GET $t)" \
		"$2$t" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["captures"]))'
}

# regsql SQL: run one statement on the registry, a SQLite file or PostgreSQL
regsql() {
	case $db in
	postgres://* | postgresql://*) psql -q -X -v ON_ERROR_STOP=1 "$db" -c "$1" > /dev/null ;;
	*) python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute(sys.argv[2])
db.commit()' "$db" "$1" ;;
	esac
}

# adduser EMAIL ROLE [ORG]: a user of ORG (acme); its one-time password on stdout
adduser() {
	"$server" --db "$db" user add "${3:-acme}" "$1" --role "$2" 2> /dev/null |
		sed -n 's/^one-time password: //p'
}

# Bootstrap: organizations and administrators from the command line.
"$server" --db "$db" org add acme > /dev/null && "$server" --db "$db" org add globex > /dev/null &&
	alice=$("$server" --db "$db" admin add acme alice) &&
	bob=$("$server" --db "$db" admin add globex bob) || { echo "FAIL bootstrap"; exit 1; }
server_start || { echo "FAIL server did not start: $(cat "$tmp/server.log")"; exit 1; }
for d in "gw1 http://10.98.0.1:8080" "gw2 http://10.98.0.2:8081" "gw3 http://10.98.0.1:9"; do
	set -- $d
	call "$alice" POST /devices "{\"name\":\"$1\",\"serial\":\"SN-$1\",\"address\":\"$2\"}" > /dev/null
	field secret > "$tmp/$1.secret"
done
call "$bob" POST /devices '{"name":"gx1","serial":"SN-gx1","address":"http://10.98.0.1:8080"}' > /dev/null
agent_start gw1 "$A" va 10.98.0.1:8080 && agent_start gw2 "$B" vb 10.98.0.2:8081 ||
	{ echo "FAIL agents did not start"; exit 1; }

after() { # a test that left the server dead fails, and the next gets a new one
	kill -0 "$server_pid" 2> /dev/null || { ko "$1 left the server dead" "$(tail -3 "$tmp/server.log")"; server_start; }
}

env_stop() { # the server and agents stop; no hook stays on va
	kill -TERM "$server_pid" "$gw1_pid" "$gw2_pid" ${gw5_pid:-} 2> /dev/null
	for p in "$server_pid" "$gw1_pid" "$gw2_pid" ${gw5_pid:-}; do wait_gone "$p" 10; done
	! hooked || { echo "FAIL hooks left on va after the agent stopped"; return 1; }
}
