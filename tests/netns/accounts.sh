#!/usr/bin/env bash
# accounts.sh SERVER AGENT EDGECAP - users, sign-in sessions and roles on a
# real edgecap-server (server_env.sh: SQLite registry, agents gw1 and gw2,
# organizations acme and globex), driven with curl as a browser would:
# one-time passwords and their change, the session cookie and its flags,
# CSRF and Origin checks, sign-out, throttled guessing per account and per
# address, what each role may do on every route, another organization's
# objects, and sessions that expire (docs/accounts.md).
set -uo pipefail
server=$1
agent=$2
ec=$3
suite=acct
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/server_env.sh"

# tokenuser EMAIL ROLE: a user with an API token; the token on stdout
tokenuser() {
	"$server" --db "$db" user add acme "$1" --role "$2" --token cli 2> /dev/null |
		sed -n 's/^API token cli: //p'
}
# signin JAR EMAIL PASSWORD: the status; body in $tmp/body, headers in
# $tmp/head, the cookie in JAR
signin() {
	inb curl -sS -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -c "$1" -X POST \
		-H 'Content-Type: application/json' \
		--data-binary "{\"email\":\"$2\",\"password\":\"$3\"}" "$api/session"
}
# as JAR METHOD PATH [JSON [HEADER...]]: a request with the session's cookie
as() {
	local jar=$1 m=$2 p=$3 body=${4:-}
	shift 4 2> /dev/null || shift $#
	inb curl -sS --path-as-is -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -b "$jar" -X "$m" \
		${body:+-H 'Content-Type: application/json' --data-binary "$body"} "$@" "$api$p"
}
csrf_of() { field csrf; } # from a sign-in's or GET /session's body

test_signin() {
	local pw st bad=
	pw=$(adduser carol@acme.test owner)
	[ ${#pw} = 16 ] || { ko "sign-in" "no one-time password"; return; }
	st=$(signin "$tmp/c.jar" carol@acme.test 'not the password')
	[ "$st" = 401 ] && [ "$(field error)" = "wrong email or password" ] || bad+=" wrong:$st"
	st=$(signin "$tmp/c.jar" nobody@acme.test "$pw")
	[ "$st" = 401 ] && [ "$(field error)" = "wrong email or password" ] || bad+=" nobody:$st"
	[ -z "$bad" ] && ok "sign-in: a wrong password and an unknown email get the same 401" ||
		ko "sign-in refusals" "$bad"
	st=$(signin "$tmp/c.jar" CAROL@acme.test "$pw")
	[ "$st" = 201 ] && [ "$(field user role)" = owner ] && [ "$(field user password_change)" = True ] &&
		[ "$(field user organization)" = acme ] && [[ $(field csrf) =~ ^[0-9a-f]{64}$ ]] &&
		grep -qi '^set-cookie: edgecap_session=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict' "$tmp/head" &&
		! grep -qi '^set-cookie:.*Secure' "$tmp/head" &&
		ok "sign-in: 201, the user and a CSRF token, a cookie HttpOnly and SameSite=Strict (Secure only under TLS)" ||
		ko "sign-in" "$st $(cat "$tmp/body") $(grep -i set-cookie "$tmp/head")"
	! grep -qa "$(sed -n 's/.*edgecap_session\t//p' "$tmp/c.jar")" "$db" "$db-wal" 2> /dev/null &&
		ok "sign-in: the cookie is not stored in the registry (its SHA-256 is)" || ko "cookie stored"
	st=$(as "$tmp/c.jar" GET /devices)
	[ "$st" = 403 ] && [ "$(field error)" = "password change required: POST /api/v1/session/password first" ] &&
		ok "a one-time password: nothing but the password change until it is replaced" ||
		ko "one-time password" "$st $(cat "$tmp/body")"
	echo "$pw" > "$tmp/carol.once"
}

test_password_change() {
	local pw st csrf bad= new='a long enough passphrase'
	pw=$(cat "$tmp/carol.once")
	signin "$tmp/c2.jar" carol@acme.test "$pw" > /dev/null # a second session
	as "$tmp/c.jar" GET /session > /dev/null
	csrf=$(csrf_of)
	st=$(as "$tmp/c.jar" POST /session/password "{\"password\":\"$pw\",\"new_password\":\"$new\"}")
	[ "$st" = 403 ] && grep -q 'X-CSRF-Token' "$tmp/body" || bad+=" no-csrf:$st"
	st=$(as "$tmp/c.jar" POST /session/password "{\"password\":\"$pw\",\"new_password\":\"short\"}" -H "X-CSRF-Token: $csrf")
	[ "$st" = 400 ] && [ "$(field error)" = "new_password: want at least 12 characters" ] || bad+=" short:$st"
	st=$(as "$tmp/c.jar" POST /session/password "{\"password\":\"$pw\",\"new_password\":\"carol@acme.test\"}" -H "X-CSRF-Token: $csrf")
	[ "$st" = 400 ] && [ "$(field error)" = "new_password: is the user's own name or email" ] || bad+=" own:$st"
	st=$(as "$tmp/c.jar" POST /session/password "{\"password\":\"guess it\",\"new_password\":\"$new\"}" -H "X-CSRF-Token: $csrf")
	[ "$st" = 403 ] && [ "$(field error)" = "password: not your current password" ] || bad+=" current:$st"
	st=$(as "$tmp/c.jar" POST /session/password "{\"password\":\"$pw\",\"new_password\":\"$new\",\"x\":1}" -H "X-CSRF-Token: $csrf")
	[ "$st" = 400 ] && [ "$(field error)" = "unknown field 'x'" ] || bad+=" unknown-field:$st"
	[ -z "$bad" ] && ok "password change: CSRF token, length, own email, current password and fields checked, each named" ||
		ko "password change refusals" "$bad"
	st=$(as "$tmp/c.jar" POST /session/password "{\"password\":\"$pw\",\"new_password\":\"$new\"}" -H "X-CSRF-Token: $csrf")
	[ "$st" = 200 ] && [ "$(field user password_change)" = False ] &&
		[ "$(as "$tmp/c.jar" GET /devices)" = 200 ] &&
		ok "password change: done, and the session goes on" || ko "password change" "$st $(cat "$tmp/body")"
	st=$(as "$tmp/c2.jar" GET /session)
	[ "$st" = 401 ] && ok "password change: the user's other sessions end" || ko "other sessions" "$st"
	[ "$(signin "$tmp/x.jar" carol@acme.test "$pw")" = 401 ] && [ "$(signin "$tmp/x.jar" carol@acme.test "$new")" = 201 ] &&
		ok "password change: the one-time password works no more, the new one does" || ko "new password"
}

test_csrf() {
	local st csrf bad=
	as "$tmp/c.jar" GET /session > /dev/null
	csrf=$(csrf_of)
	body='{"name":"gwc","serial":"SN-gwc","address":"http://10.98.0.1:9"}'
	st=$(as "$tmp/c.jar" POST /devices "$body"); [ "$st" = 403 ] || bad+=" none:$st"
	st=$(as "$tmp/c.jar" POST /devices "$body" -H "X-CSRF-Token: 00$csrf"); [ "$st" = 403 ] || bad+=" wrong:$st"
	st=$(as "$tmp/c.jar" POST /devices "$body" -H "X-CSRF-Token: $csrf" -H 'Origin: http://evil.test')
	[ "$st" = 403 ] && [ "$(field error)" = "Origin is not this server" ] || bad+=" origin:$st"
	st=$(as "$tmp/c.jar" DELETE /devices/gw3 "" -H "X-CSRF-Token: $(tr 0-9a-f 1-9a-f0 <<< "$csrf")"); [ "$st" = 403 ] || bad+=" delete:$st"
	[ -z "$bad" ] && ok "CSRF: a state change by cookie without the session's token, or from another Origin: 403" ||
		ko "CSRF" "$bad"
	st=$(as "$tmp/c.jar" POST /devices "$body" -H "X-CSRF-Token: $csrf" -H 'Origin: http://127.0.0.1:8000')
	[ "$st" = 201 ] && ok "CSRF: with the token and this server's Origin, it is done" || ko "CSRF ok" "$st $(cat "$tmp/body")"
	# a token is no ambient credential: no CSRF token wanted
	st=$(call "$alice" DELETE /devices/gwc)
	[ "$st" = 200 ] && ok "CSRF: bearer tokens need none" || ko "token without CSRF" "$st"
}

test_signout() {
	local st csrf
	signin "$tmp/o.jar" carol@acme.test 'a long enough passphrase' > /dev/null
	csrf=$(csrf_of)
	st=$(as "$tmp/o.jar" DELETE /session "" -H "X-CSRF-Token: $csrf")
	[ "$st" = 204 ] && grep -qi '^set-cookie: edgecap_session=; .*Max-Age=0' "$tmp/head" &&
		[ "$(as "$tmp/o.jar" GET /devices)" = 401 ] && [ "$(field error)" = "the session ended: sign in again" ] &&
		ok "sign-out: 204, the cookie cleared, the session gone on the server" ||
		ko "sign-out" "$st $(cat "$tmp/body")"
}

# the address audited for a failed sign-in sent with X-Forwarded-For VALUE
# (a second header line VALUE2 when given)
# (an account of its own each time: five failures would throttle one; the
# calls run in subshells, so the name comes from the moment)
xff_address() {
	local xff_n
	xff_n=$(date +%s%N)
	adduser "proxied$xff_n@acme.test" viewer > /dev/null
	inb curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' -H "X-Forwarded-For: $1" \
		${2:+-H "X-Forwarded-For: $2"} \
		--data-binary "{\"email\":\"proxied$xff_n@acme.test\",\"password\":\"wrong\"}" "$api/session"
	call "$alice" GET '/audit?action=signin_failed' > /dev/null
	python3 -c 'import json,sys; e = json.load(open(sys.argv[1])); print(max(e, key=lambda x: x["id"])["address"])' "$tmp/body"
}

test_proxies() {
	local a b c d e f
	a=$(xff_address 203.0.113.9)
	printf 'trusted_proxies = 127.0.0.1, 10.98.0.0/24\n' > "$tmp/proxies.conf"
	kill -TERM "$server_pid" && wait_gone "$server_pid" 10
	server_start -c "$tmp/proxies.conf"
	b=$(xff_address '203.0.113.9, 198.51.100.7')
	c=$(xff_address '198.51.100.7, 10.98.0.1')
	# what a client adds cannot push the proxy's hop out: a line of its own,
	# a long list, a word that is no address
	d=$(xff_address '203.0.113.9' '198.51.100.7')
	e=$(xff_address "$(seq -s ', ' -f '192.0.2.%g' 1 60), 198.51.100.7")
	f=$(xff_address '198.51.100.7, admin')
	kill -TERM "$server_pid" && wait_gone "$server_pid" 10
	server_start
	[ "$a" = 127.0.0.1 ] && [ "$b" = 198.51.100.7 ] && [ "$c" = 198.51.100.7 ] && [ "$d" = 198.51.100.7 ] &&
		[ "$e" = 198.51.100.7 ] && [ "$f" = 127.0.0.1 ] &&
		ok "client address: X-Forwarded-For ignored unless the peer is a trusted proxy; then its last hop no trusted proxy owns, over every line, however long, and only an address" ||
		ko "trusted proxies" "[$a] [$b] [$c] [$d] [$e] [$f]"
}

test_throttle() {
	local st i bad= pw pw2
	pw=$(adduser dave@acme.test viewer) pw2=$(adduser erin@acme.test viewer)
	for i in 1 2 3 4 5; do
		st=$(signin "$tmp/t.jar" dave@acme.test "guess $i"); [ "$st" = 401 ] || bad+=" $i:$st"
	done
	st=$(signin "$tmp/t.jar" dave@acme.test "$pw") # even the right one: not checked
	[ -z "$bad" ] && [ "$st" = 429 ] && grep -qi '^retry-after: \(29\|30\)' "$tmp/head" &&
		[[ $(field error) =~ ^"too many failed sign-ins for this account; try again in "(29|30)" s"$ ]] &&
		ok "throttle: 5 failures, then the account waits 30 s (Retry-After), the password not even checked" ||
		ko "throttle account" "$bad $st $(cat "$tmp/body")"
	# another account from the same address still signs in; 20 failures
	# from one address, over any accounts, and the address waits
	st=$(signin "$tmp/t.jar" erin@acme.test "$pw2")
	[ "$st" = 201 ] || bad+=" other:$st"
	for i in $(seq 6 20); do
		signin "$tmp/t.jar" "nobody$i@acme.test" x > /dev/null
	done
	st=$(signin "$tmp/t.jar" erin@acme.test "$pw2")
	[ -z "$bad" ] && [ "$st" = 429 ] &&
		[[ $(field error) =~ ^"too many failed sign-ins from this address; try again in "(89[0-9]|900)" s"$ ]] &&
		ok "throttle: 20 failures from one address, any accounts: the address waits" ||
		ko "throttle address" "$bad $st $(cat "$tmp/body")"
	# tokens are not sign-ins: the CLI goes on
	[ "$(call "$alice" GET /devices)" = 200 ] && ok "throttle: API tokens unaffected" || ko "tokens throttled"
}

# Each role against each route (tokens here: the same check as sessions).
test_roles() {
	local v o w st bad= id
	v=$(tokenuser vera@acme.test viewer) o=$(tokenuser otto@acme.test operator) w=$alice
	st=$(call "$o" POST /captures '{"devices":["gw1"],"expression":"udp port 9","duration":30}')
	id=$(field id)
	[ "$st" = 201 ] || { ko "roles" "operator could not start a capture: $st $(cat "$tmp/body")"; return; }
	# ROLE METHOD PATH WANT [BODY]
	while read -r who m p want body; do
		local t=${!who}
		st=$(call "$t" "$m" "${p//ID/$id}" ${body:+"$body"})
		[ "$st" = "$want" ] || bad+=" $who:$m:$p:$st(want $want)"
		if [ "$want" = 403 ] && ! grep -q "your role ($( [ "$who" = v ] && echo viewer || echo operator)) may not" "$tmp/body"; then
			bad+=" $who:$m:$p:message"
		fi
	done << EOF
v GET /devices 200
v GET /devices/gw1 200
v POST /devices 403 {"name":"gx","serial":"SN-gx","address":"http://10.98.0.1:9"}
v PATCH /devices/gw3 403 {"enabled":false}
v DELETE /devices/gw3 403
v POST /filters/compile 200 {"expression":"udp"}
v GET /captures 200
v GET /captures/ID 200
v POST /captures 403 {"devices":["gw1"],"expression":"udp","duration":1}
v POST /captures/ID/stop 403
v GET /captures/ID/pcap 403
v GET /captures/ID/frames?filter=udp 403
v GET /captures/ID/frames/1 403
o GET /captures/ID/frames?filter=udp 200
v DELETE /captures/ID 403
v GET /organization 200
v PATCH /organization 403 {"viewer_downloads":true}
v GET /session 200
o POST /devices 403 {"name":"gx","serial":"SN-gx","address":"http://10.98.0.1:9"}
o PATCH /devices/gw3 403 {"enabled":false}
o DELETE /devices/gw3 403
o PATCH /organization 403 {"viewer_downloads":true}
o POST /captures/ID/stop 200
EOF
	[ -z "$bad" ] && ok "roles: viewers see and read, operators start, stop and download, owners change devices; refusals name the role" ||
		ko "roles" "$bad"
	wait_state "$id" done 10
	# downloads: operators, and viewers where an owner allows it
	st=$(call "$o" GET "/captures/$id/pcap")$(call "$v" GET "/captures/$id/pcap")
	grep -q "an owner allows it" "$tmp/body" || st+=":message"
	st+=$(call "$w" PATCH /organization '{"viewer_downloads":true}')$(call "$v" GET "/captures/$id/pcap")
	st+=$(call "$w" PATCH /organization '{"viewer_downloads":false}')$(call "$v" GET "/captures/$id/pcap")
	[ "$st" = 200403200200200403 ] && ok "roles: viewers download only while the organization allows it (viewer_downloads)" ||
		ko "viewer_downloads" "$st $(cat "$tmp/body")"
	# deletes: operators their own captures, owners any
	local o2 id2
	o2=$(tokenuser olga@acme.test operator)
	call "$o2" POST /captures '{"devices":["gw1"],"expression":"udp port 9","duration":1}' > /dev/null
	id2=$(field id)
	wait_state "$id2" done 10
	st=$(call "$o" DELETE "/captures/$id2")
	[ "$(field error)" = "your role (operator) may delete only the captures you started" ] || st+=":message"
	st+=$(call "$o2" DELETE "/captures/$id2")$(call "$w" DELETE "/captures/$id")
	[ "$st" = 403200200 ] && ok "roles: an operator deletes its own captures only, an owner any" ||
		ko "roles delete" "$st $(cat "$tmp/body")"
}

test_other_org() {
	local pw st bad=
	pw=$(adduser gina@globex.test owner globex)
	signin "$tmp/g.jar" gina@globex.test "$pw" > /dev/null
	local csrf; csrf=$(csrf_of)
	as "$tmp/g.jar" POST /session/password "{\"password\":\"$pw\",\"new_password\":\"globex passphrase 1\"}" -H "X-CSRF-Token: $csrf" > /dev/null
	for p in "GET /devices/gw1" "PATCH /devices/gw1" "DELETE /devices/gw1" "GET /captures/1" \
		"POST /captures/1/stop" "GET /captures/1/pcap" "GET /captures/1/text" "DELETE /captures/1"; do
		set -- $p
		st=$(as "$tmp/g.jar" "$1" "$2" "$([ "$1" = PATCH ] && echo '{"enabled":true}')" \
			-H "X-CSRF-Token: $csrf")
		[ "$st" = 404 ] || bad+=" $p:$st"
	done
	as "$tmp/g.jar" GET /devices > /dev/null
	grep -q '"gw1"' "$tmp/body" && bad+=" list"
	[ -z "$bad" ] && ok "another organization's session: acme's devices and captures are not found" ||
		ko "other organization" "$bad"
}

test_users() {
	local st pw bad= v t2 lone
	st=$(call "$alice" POST /users '{"email":"Uma@Acme.test","role":"operator"}')
	pw=$(field password)
	[ "$st" = 201 ] && [ ${#pw} = 16 ] && [ "$(field email)" = uma@acme.test ] &&
		[ "$(field role)" = operator ] && [ "$(field password_change)" = True ] &&
		ok "users: an owner adds one: 201 with its one-time password, shown once" ||
		{ ko "users add" "$st $(cat "$tmp/body")"; return; }
	st=$(call "$alice" POST /users '{"email":"uma@acme.test","role":"viewer"}')
	[ "$st" = 409 ] || bad+=" dup:$st"
	st=$(call "$alice" POST /users '{"email":"uma","role":"viewer"}')
	[ "$st" = 400 ] && [ "$(field error)" = "email: want an address such as name@example.com" ] || bad+=" email:$st"
	st=$(call "$alice" POST /users '{"email":"u2@acme.test","role":"admin"}')
	[ "$st" = 400 ] && [ "$(field error)" = "role: want owner, operator or viewer" ] || bad+=" role:$st"
	v=$(tokenuser val@acme.test viewer)
	st=$(call "$v" GET /users); [ "$st" = 403 ] || bad+=" viewer-list:$st"
	st=$(call "$v" POST /users '{"email":"u3@acme.test","role":"owner"}'); [ "$st" = 403 ] || bad+=" viewer-add:$st"
	call "$alice" GET /users > /dev/null
	grep -q '"uma@acme.test"' "$tmp/body" || bad+=" list"
	call "$bob" GET /users > /dev/null
	grep -q 'acme' "$tmp/body" && bad+=" globex-sees-acme"
	[ -z "$bad" ] && ok "users: a taken email, a bad email or role refused by name; owners only; one organization's" ||
		ko "users refusals" "$bad"
	# a role changed, then disabled: its sessions end, it signs in no more
	[ "$(signin "$tmp/u.jar" uma@acme.test "$pw")" = 201 ] || bad+=" signin"
	st=$(call "$alice" PATCH /users/uma@acme.test '{"role":"viewer"}')
	[ "$st" = 200 ] && [ "$(field role)" = viewer ] || bad+=" role-change:$st"
	st=$(call "$alice" PATCH /users/uma@acme.test '{"disabled":true}')
	[ "$st" = 200 ] && [ "$(field disabled)" = True ] || bad+=" disable:$st"
	[ "$(as "$tmp/u.jar" GET /session)" = 401 ] || bad+=" session-lives"
	[ "$(signin "$tmp/u.jar" uma@acme.test "$pw")" = 401 ] || bad+=" signs-in"
	st=$(call "$alice" DELETE /users/uma@acme.test)
	call "$alice" GET /users > /dev/null
	[ "$st" = 200 ] && ! grep -q '"uma@acme.test"' "$tmp/body" || bad+=" delete:$st"
	[ -z "$bad" ] && ok "users: a role changed, a user disabled (its sessions end), removed" ||
		ko "users change" "$bad"
	# at least one owner; a user who started captures is disabled, not removed
	bad=
	"$server" --db "$db" org add initech > /dev/null
	lone=$("$server" --db "$db" user add initech ina@initech.test --role owner --token cli 2> /dev/null |
		sed -n 's/^API token cli: //p')
	st=$(call "$lone" PATCH /users/ina@initech.test '{"role":"viewer"}')$(call "$lone" DELETE /users/ina@initech.test)
	[ "$st" = 409409 ] && [ "$(field error)" = "the organization would have no owner left" ] || bad+=" last-owner:$st"
	t2=$(tokenuser quinn@acme.test operator)
	st=$(call "$t2" POST /captures '{"devices":["gw1"],"expression":"udp port 9","duration":1}')
	wait_state "$(field id)" done 10
	st=$st$(call "$alice" DELETE /users/quinn@acme.test)
	[ "$st" = 201409 ] && [ "$(field error)" = "user 'quinn@acme.test' started captures: disable it instead" ] || bad+=" has-captures:$st"
	[ -z "$bad" ] && ok "users: the last owner stays; one who started captures is disabled, not removed" ||
		ko "users bounds" "$bad"
}

test_tokens() {
	local t st tok bad=
	t=$(tokenuser tess@acme.test operator)
	st=$(call "$t" POST /tokens '{"name":"laptop"}')
	tok=$(field token)
	[ "$st" = 201 ] && [[ $tok =~ ^[0-9a-f]{64}$ ]] || { ko "tokens" "$st $(cat "$tmp/body")"; return; }
	[ "$(call "$tok" GET /session)" = 200 ] && [ "$(field user email)" = tess@acme.test ] || bad+=" use"
	[ "$(call "$t" POST /tokens '{"name":"laptop"}')" = 409 ] || bad+=" dup"
	call "$t" GET /tokens > /dev/null
	[ "$(python3 -c 'import json,sys; print(" ".join(t["name"] for t in json.load(open(sys.argv[1]))))' "$tmp/body")" = "cli laptop" ] &&
		! grep -q "$tok" "$tmp/body" || bad+=" list"
	call "$alice" GET /tokens > /dev/null
	grep -q laptop "$tmp/body" && bad+=" others-see"
	[ "$(call "$t" DELETE /tokens/laptop)" = 200 ] && [ "$(call "$tok" GET /session)" = 401 ] || bad+=" revoke"
	[ "$(call "$t" DELETE /tokens/laptop)" = 404 ] || bad+=" revoke-twice"
	audit token_created | grep -q "^token_created token laptop tess@acme.test " &&
		audit token_revoked | grep -q "^token_revoked token laptop tess@acme.test " || bad+=" audit"
	[ -z "$bad" ] && ok "tokens: made (shown once), used, listed (one's own, no secret), revoked, audited" ||
		ko "tokens" "$bad"
}

# ids of a captures list ($tmp/body), space-separated
ids() { python3 -c 'import json,sys; print(" ".join(str(c["id"]) for c in json.load(open(sys.argv[1]))))' "$tmp/body"; }

test_capture_filters() {
	local op a b st bad=
	op=$(tokenuser fred@acme.test operator)
	call "$op" POST /captures '{"devices":["gw1"],"expression":"udp port 9","duration":1}' > /dev/null
	a=$(field id)
	[ "$(field user)" = fred@acme.test ] || bad+=" user-field"
	call "$alice" POST /captures '{"devices":["gw2"],"expression":"udp port 9","duration":1}' > /dev/null
	b=$(field id)
	wait_state "$a" done 10 && wait_state "$b" done 10 || bad+=" not-done"
	call "$alice" GET "/captures?user=FRED%40acme.test" > /dev/null; [ "$(ids)" = "$a" ] || bad+=" user:$(ids)"
	call "$alice" GET "/captures?device=gw2&user=alice" > /dev/null; [ "$(ids | tr ' ' '\n' | tail -1)" = "$b" ] || bad+=" device"
	call "$alice" GET "/captures?device=gw2" > /dev/null; [[ " $(ids) " != *" $a "* ]] || bad+=" device-excludes"
	call "$alice" GET "/captures?state=running&user=fred@acme.test" > /dev/null; [ -z "$(ids)" ] || bad+=" state"
	call "$alice" GET "/captures?since=2999-01-01" > /dev/null; [ -z "$(ids)" ] || bad+=" since"
	call "$alice" GET "/captures?until=2999-01-01T00:00:00Z&user=fred@acme.test" > /dev/null; [ "$(ids)" = "$a" ] || bad+=" until"
	st=$(call "$alice" GET "/captures?state=paused")
	[ "$st" = 400 ] && [ "$(field error)" = "state: running or done" ] || bad+=" bad-state:$st"
	st=$(call "$alice" GET "/captures?since=last+week")
	[ "$st" = 400 ] && [ "$(field error)" = "since: want a time such as 2026-12-06T21:30:00Z" ] || bad+=" bad-since:$st"
	[ -z "$bad" ] && ok "captures list: by user (name or email), device, state and time; who started each; bad filters named" ||
		ko "capture filters" "$bad"
}

test_events() {
	local id st bad= v
	v=$(tokenuser ida@acme.test viewer)
	call "$alice" POST /captures '{"devices":["gw1","gw2"],"expression":"icmp","duration":2}' > /dev/null
	id=$(field id)
	# a viewer follows it to its end; the stream ends by itself
	st=$(inb timeout 20 curl -sS -N -o "$tmp/events" -w '%{http_code} %{content_type}' \
		-H "Authorization: Bearer $v" "$api/captures/$id/events")
	python3 - "$tmp/events" "$id" > "$tmp/events.check" << 'PY'
import json, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n\n"), "no blank line at the end"
events = [e for e in text.split("\n\n") if e and not e.startswith(":")]
states, ids = [], []
for e in events:
    lines = dict(l.split(": ", 1) for l in e.split("\n"))
    assert lines["event"] == "capture", lines
    ids.append(int(lines["id"]))
    c = json.loads(lines["data"])
    assert c["id"] == int(sys.argv[2])
    states.append(c["state"])
assert ids == list(range(1, len(ids) + 1)), ids
assert states[0] == "running" and states[-1] == "done" and "done" not in states[:-1], states
print(len(events), "events", states[0], states[-1])
PY
	[ "$st" = "200 text/event-stream" ] && grep -q "running done$" "$tmp/events.check" || bad+=" stream:$st:$(cat "$tmp/events.check")"
	st=$(call "$bob" GET "/captures/$id/events"); [ "$st" = 404 ] || bad+=" other-org:$st"
	st=$(call "$alice" GET "/captures/999999/events"); [ "$st" = 404 ] || bad+=" none:$st"
	[ -z "$bad" ] && ok "events: a capture's state as Server-Sent Events, from running to done, then the stream ends; another organization's: 404" ||
		ko "events" "$bad"
}

# Each packet as an event (the page's packet list): the same lines as the
# text, with its device, interface, direction, length and time; a
# reconnect with Last-Event-ID goes on after it; the end says so.
test_device_events() {
	local v bad= p
	v=$(tokenuser ivo@acme.test viewer)
	inb timeout 6 curl -sS -N -o "$tmp/dev.a" -H "Authorization: Bearer $v" "$api/events/devices" &
	p=$!
	inb timeout 6 curl -sS -N -o "$tmp/dev.b" -H "Authorization: Bearer $bob" "$api/events/devices" &
	sleep 1.5
	call "$alice" PATCH /devices/gw3 '{"enabled":false}' > /dev/null
	sleep 1.5
	call "$alice" PATCH /devices/gw3 '{"enabled":true}' > /dev/null
	wait_gone $p 10
	sleep 0.5
	python3 - "$tmp/dev.a" "$tmp/dev.b" > "$tmp/dev.check" 2>&1 << 'PY' || bad+=" $(tail -1 "$tmp/dev.check")"
import json, sys
def events(path):
    out = []
    for e in open(path).read().split("\n\n"):
        if not e or e.startswith(":"):
            continue
        f = dict(l.split(": ", 1) for l in e.split("\n"))
        assert f["event"] in ("devices", "seen"), f
        if f["event"] == "devices":  # not a report's (server.sh tests those)
            out.append(json.loads(f["data"]))
    return out
a, b = events(sys.argv[1]), events(sys.argv[2])
gw3 = [next(d["enabled"] for d in ev if d["name"] == "gw3") for ev in a]
assert gw3 == [True, False, True], gw3
assert sorted(d["name"] for d in a[0]) == ["gw1", "gw2", "gw3"], a[0]
assert len(b) == 1 and [d["name"] for d in b[0]] == ["gx1"], b
print("ok")
PY
	[ -z "$bad" ] && ok "device events: the list at once and on every change (gw3 disabled, enabled); another organization sees its own only, unchanged" ||
		ko "device events" "$bad"
}

test_packets() {
	local id bad= n
	call "$alice" POST /captures '{"devices":["gw1","gw2"],"expression":"icmp","duration":3}' > /dev/null
	id=$(field id)
	# followed live from the start, by a viewer
	inb timeout 20 curl -sS -N -o "$tmp/live" -H "Authorization: Bearer $(tokenuser lou@acme.test viewer)" \
		"$api/captures/$id/packets" &
	local lp=$!
	inb ping -c 4 -i 0.2 10.98.0.1 > /dev/null
	wait_state "$id" done 10 || bad+=" not-done"
	wait_gone $lp 15 || bad+=" live-stream-did-not-end"
	inb curl -sS -o "$tmp/text.txt" -H "Authorization: Bearer $alice" "$api/captures/$id/text"
	inb timeout 20 curl -sS -N -o "$tmp/rows" -D "$tmp/head" -H "Authorization: Bearer $alice" \
		"$api/captures/$id/packets"
	inb timeout 20 curl -sS -N -o "$tmp/rows2" -H "Authorization: Bearer $alice" \
		-H 'Last-Event-ID: 2' "$api/captures/$id/packets"
	python3 - "$tmp/rows" "$tmp/text.txt" "$tmp/rows2" "$tmp/live" > "$tmp/rows.check" 2>&1 << 'PY' || bad+=" $(tail -1 "$tmp/rows.check")"
import json, re, sys
def events(path):
    out = []
    for e in open(path).read().split("\n\n"):
        if not e:
            continue
        f = dict(l.split(": ", 1) for l in e.split("\n"))
        out.append((f["event"], f.get("id"), json.loads(f["data"])))
    return out
ev = events(sys.argv[1])
text = [l for l in open(sys.argv[2]).read().split("\n") if l]
pk = [d for e, i, d in ev if e == "packet"]
assert ev[-1][0] == "end" and ev[-1][2]["packets"] == len(pk), ev[-1]
assert [p["n"] for p in pk] == list(range(1, len(pk) + 1))
assert len(pk) >= 8, len(pk)  # 4 pings, request and reply, kept once though both devices saw them
assert [p["device"] + " " + p["line"] for p in pk] == text, "not the text's lines"
for p in pk:
    assert p["iface"] in ("va", "vb") and p["dir"] in ("in", "out") and p["len"] == 98, p
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", p["time"]), p["time"]
    secs = p["line"].split(" ")[0]
    assert p["time"][17:26] == "%09.6f" % (float(secs) % 60), (p["time"], secs)
again = [d for e, i, d in events(sys.argv[3]) if e == "packet"]
assert [p["n"] for p in again] == list(range(3, len(pk) + 1)) and again == pk[2:], again
live = events(sys.argv[4])
assert [d for e, i, d in live if e == "packet"] == pk and live[-1][0] == "end", "live differs"
print("ok", len(pk))
PY
	grep -qi '^content-type: text/event-stream' "$tmp/head" || bad+=" type"
	[ -z "$bad" ] && ok "packets: each as an event with its device, interface, direction, length and time, the text's lines, live and after; Last-Event-ID resumes; an end event" ||
		ko "packets" "$bad"
}

# audit ACTION [QUERY]: the owner's view of the log, as "action target" lines
audit() { call "$alice" GET "/audit?limit=1000${1:+&action=$1}${2:+&$2}" > /dev/null
	python3 -c 'import json,sys
for e in json.load(open(sys.argv[1])): print(e["action"], e["target"], e["actor"], json.dumps(e["detail"], sort_keys=True))' "$tmp/body"; }

test_audit() {
	local st id bad= v
	# a user's day: a wrong guess, a sign-in, a new password, a device, sign-out
	local pw csrf new='audra passphrase 1'
	pw=$(adduser audra@acme.test owner)
	signin "$tmp/a.jar" audra@acme.test wrong > /dev/null
	signin "$tmp/a.jar" audra@acme.test "$pw" > /dev/null
	csrf=$(csrf_of)
	as "$tmp/a.jar" POST /session/password "{\"password\":\"$pw\",\"new_password\":\"$new\"}" -H "X-CSRF-Token: $csrf" > /dev/null
	as "$tmp/a.jar" POST /devices '{"name":"gwa","serial":"SN-gwa","address":"http://10.98.0.1:9"}' -H "X-CSRF-Token: $csrf" > /dev/null
	call "$alice" DELETE /devices/gwa > /dev/null
	as "$tmp/a.jar" DELETE /session "" -H "X-CSRF-Token: $csrf" > /dev/null
	audit > "$tmp/audit.txt"
	for want in "user_added user audra@acme.test server" "signin_failed session audra@acme.test" \
		"signin session audra@acme.test" "password_changed session audra@acme.test" \
		"device_enrolled device gwa audra@acme.test" "device_removed device gwa alice" \
		"signout session audra@acme.test"; do
		grep -q "^$want " "$tmp/audit.txt" || bad+=" [$want]"
	done
	[ -z "$bad" ] && ok "audit: sign-ins (and failures), password change, sign-out, devices, users: who and what" ||
		ko "audit entries" "$bad $(head -c 600 "$tmp/audit.txt")"
	# a capture's life, with its reason
	st=$(call "$alice" POST /captures '{"devices":["gw1"],"expression":"udp port 9","duration":30,"reason":"ticket 4711: <b>slow</b> DNS"}')
	id=$(field id)
	call "$alice" POST "/captures/$id/stop" > /dev/null
	wait_state "$id" done 10
	call "$alice" GET "/captures/$id/pcap" > /dev/null
	st=$st$(call "$alice" DELETE "/captures/$id")
	bad=
	for a in capture_started capture_stopped capture_downloaded capture_deleted; do
		[ "$(audit $a | grep -c "^$a capture $id alice ")" = 1 ] || bad+=" $a"
	done
	audit capture_started | grep "^capture_started capture $id " | grep -q '"reason": "ticket 4711: <b>slow</b> DNS"' || bad+=" reason"
	[ "$st" = 201200 ] && [ -z "$bad" ] && ok "audit: a capture started (its request and reason), stopped, downloaded, deleted" ||
		ko "audit capture" "$st$bad $(cat "$tmp/body")"
	# the log itself: owners only, their organization's only, paged, filtered
	v=$(tokenuser vic@acme.test viewer)
	st=$(call "$v" GET /audit); [ "$st" = 403 ] || bad+=" viewer:$st"
	call "$bob" GET /audit > /dev/null
	grep -q 'acme' "$tmp/body" && bad+=" globex-sees-acme"
	st=$(inb curl -sS -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -H "Authorization: Bearer $alice" "$api/audit?limit=2")
	[ "$st" = 200 ] && grep -qi '^link: </api/v1/audit?limit=2&cursor=[0-9]*>; rel="next"' "$tmp/head" || bad+=" page:$st"
	[ "$(call "$alice" GET '/audit?since=2999-01-01T00:00:00Z')" = 200 ] && [ "$(cat "$tmp/body" | tr -d ' \n')" = "[]" ] || bad+=" since"
	[ "$(call "$alice" GET '/audit?since=yesterday')" = 400 ] && [ "$(field error)" = "since: want a time such as 2026-12-06T21:30:00Z" ] || bad+=" bad-since"
	[ "$(audit '' 'actor=carol%40acme.test' | grep -vc ' carol@acme.test ')" = 0 ] || bad+=" actor-filter"
	call "$alice" GET '/audit?limit=1' > /dev/null
	[[ $(field 0 time) =~ ^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$ ]] || bad+=" time:$(field 0 time)"
	[ -z "$bad" ] && ok "audit: owners only, one organization's, paged (Link), by action, actor and time, ISO 8601 times" ||
		ko "audit log" "$bad"
}

test_expiry() {
	local st pw
	pw=$(adduser eve@acme.test viewer)
	printf 'session_idle = 2\nsession_max = 4\naudit_days = 30\n' > "$tmp/short.conf"
	kill -TERM "$server_pid"; wait_gone "$server_pid" 10
	# an audit entry 31 days old goes at the next start (audit_days = 30)
	regsql "INSERT INTO audit (org_id, at_ms, actor, address, action, target, detail)
		VALUES (1, $((($(date +%s) - 31 * 86400) * 1000)), 'old', '', 'signin', 'session', '{}')"
	server_start -c "$tmp/short.conf" || { ko "expiry" "no server"; return; }
	signin "$tmp/e.jar" eve@acme.test "$pw" > /dev/null
	[ "$(as "$tmp/e.jar" GET /session)" = 200 ] || { ko "expiry" "no session"; return; }
	sleep 1.2; as "$tmp/e.jar" GET /session > /dev/null
	sleep 1.2; as "$tmp/e.jar" GET /session > /dev/null # used: still within idle
	st=$(as "$tmp/e.jar" GET /session)
	sleep 3.2
	[ "$st" = 200 ] && [ "$(as "$tmp/e.jar" GET /session)" = 401 ] &&
		ok "expiry: a session in use lives past its idle time, not past its absolute one" || ko "expiry max" "$st"
	signin "$tmp/e2.jar" eve@acme.test "$pw" > /dev/null
	sleep 3.2
	[ "$(as "$tmp/e2.jar" GET /session)" = 401 ] && ok "expiry: an idle session ends" || ko "expiry idle"
	call "$alice" GET "/audit?actor=old" > /dev/null
	[ "$(tr -d ' \n' < "$tmp/body")" = "[]" ] && grep -q "audit log: 1 entries older than 30 days removed" "$tmp/server.log" &&
		ok "expiry: the audit log keeps audit_days" || ko "audit retention" "$(cat "$tmp/body")"
}

# (throttling last: the address it locks out is the other tests' too)
run_tests after test_signin test_password_change test_csrf test_signout test_roles \
	test_other_org test_users test_tokens test_capture_filters test_events test_device_events test_packets test_audit test_expiry \
	test_proxies test_throttle
st=$?
env_stop || exit 1
exit $st
