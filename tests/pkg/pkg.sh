#!/usr/bin/env bash
# pkg.sh - the Debian packages in a fresh Debian 12 root: installed with apt
# (so their Depends come from the archive), started by systemd booted in the
# root with systemd-nspawn, checked (the agent enrolled with the server, a
# capture on loopback, one of its packets dissected by sharkd in bubblewrap's
# sandbox under the shipped unit), stopped, removed and purged, with
# nothing of them left.
#
#   tests/pkg/pkg.sh DEBDIR        (DEBDIR: tools/lab package's build/pkg)
#
# The root is made by debootstrap (minbase, plus systemd) from this
# machine's Debian mirror (EDGECAP_PKG_MIRROR overrides it) and kept as a
# tarball in EDGECAP_PKG_CACHE (default /var/cache/edgecap-pkg) for the next
# run; a run without it makes it. The booted root has a network of its own
# (loopback only): the packages' dependencies are downloaded before it boots.
set -euo pipefail

debdir=$(cd "${1:?usage: pkg.sh DEBDIR}" && pwd)
cache=${EDGECAP_PKG_CACHE:-/var/cache/edgecap-pkg}
suite=bookworm
t0=$(date +%s)

[ "$(id -u)" = 0 ] || { echo "pkg.sh: needs root" >&2; exit 2; }
for c in debootstrap systemd-nspawn nsenter curl; do
	command -v $c > /dev/null || { echo "pkg.sh: $c is missing (tools/lab deps)" >&2; exit 2; }
done
debs=()
for p in edgecap-agent edgecap-server edgecap; do
	f=$(ls "$debdir"/${p}_*_*.deb 2> /dev/null | head -1)
	[ -n "$f" ] || { echo "pkg.sh: no ${p}_VERSION_ARCH.deb in $debdir (tools/lab package)" >&2; exit 2; }
	debs+=("$f")
done

# The mirror this machine's apt uses for Debian (deb822 or one-line form).
mirror=${EDGECAP_PKG_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2> /dev/null |
		awk '/^URIs:/ {u = $2} /^Suites:/ && / '$suite'( |$)/ && u !~ /security/ {print u; exit}')
fi
if [ -z "$mirror" ]; then
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2> /dev/null |
		awk '$1 == "deb" && $3 == "'$suite'" {print $2; exit}')
fi
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /var/tmp/edgecap-pkg.XXXXXX)
root=$work/root
name=ecpkg-$$
nspid=
fail=0

# Only the container this test booted, by its pid; then its root.
cleanup() {
	if [ -n "$nspid" ] && kill -0 "$nspid" 2> /dev/null; then
		kill -TERM "$nspid" 2> /dev/null || true # nspawn asks the booted system to power off
		for _ in $(seq 50); do kill -0 "$nspid" 2> /dev/null || break; sleep 0.2; done
		kill -KILL "$nspid" 2> /dev/null || true
		while kill -0 "$nspid" 2> /dev/null; do sleep 0.1; done
	fi
	rm -rf "/run/systemd/nspawn/propagate/$name" "/run/systemd/nspawn/propagate/$name-dl"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# A root with systemd, cached as a tarball keyed by mirror, suite and
# packages. bubblewrap and wireshark-common are the server's Suggests, there
# as an administrator who wants packet detail installs them, before ours;
# iproute2 makes a gateway's own network namespace in the root.
include=systemd-sysv,dbus,bubblewrap,wireshark-common,iproute2
key=$(printf '%s %s minbase %s' "$mirror" "$suite" "$include" | sha256sum | cut -c1-12)
tarball=$cache/$suite-minbase-$key.tar
if [ ! -f "$tarball" ]; then
	echo "debootstrap $suite (minbase, $include) from $mirror"
	mkdir -p "$cache"
	debootstrap --variant=minbase --include="$include" "$suite" "$work/boot" "$mirror" \
		> "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
	tar -C "$work/boot" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
	rm -rf "$work/boot"
fi
mkdir "$root"
tar -C "$root" -xf "$tarball"
mkdir "$root/debs"
cp "${debs[@]}" "$root/debs/"
in_debs=()
for f in "${debs[@]}"; do in_debs+=("/debs/${f##*/}"); done
echo "$name" > "$root/etc/hostname"

# In the root, not booted, with this machine's network: the dependencies.
nspawn_run() {
	systemd-nspawn -q -D "$root" --register=no --keep-unit -M "$name-dl" --pipe "$@" 2> >(
		grep -v 'Attempted to remove disk file system' >&2)
}
nspawn_run apt-get -qq update > "$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; exit 1; }
nspawn_run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only \
	"${in_debs[@]}" >> "$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; exit 1; }
# what is there before the packages: compared with what is there after the purge
nspawn_run sh -c 'find / -xdev | sort' > "$work/before"

# Booted, with a network namespace of its own. The agent's capabilities for
# its hooks; CAP_SYS_RESOURCE is not in this machine's bounding set.
SYSTEMD_SECCOMP=0 systemd-nspawn -q -D "$root" --register=no --keep-unit -M "$name" -b --private-network \
	--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN > "$work/console.log" 2>&1 < /dev/null &
nspid=$!
leader=
for _ in $(seq 100); do
	# the container's init: nspawn's child once it runs systemd
	leader=$(ps -o pid=,comm= --ppid "$nspid" | awk '$2 == "systemd" {print $1; exit}' || true)
	[ -n "$leader" ] && break
	sleep 0.1
done
[ -n "$leader" ] || { cat "$work/console.log" >&2; echo "FAIL: the root did not boot" >&2; exit 1; }
echo "booted in $(($(date +%s) - t0)) s since the start"

in_root() { nsenter -t "$leader" -m -u -i -n -p -C -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
in_net() { nsenter -t "$leader" -n -- "$@"; }
state=
for _ in $(seq 300); do # until systemd answers and is done starting
	state=$(in_root systemctl is-system-running 2> /dev/null || true)
	case $state in running | degraded) break ;; esac
	sleep 0.2
done
case $state in
running | degraded) ok "the root booted ($state)" ;;
*) cat "$work/console.log" >&2; echo "FAIL: the root's systemd is '$state'" >&2; exit 1 ;;
esac

# install: the units are enabled and started by the packages' scripts
if in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	"${in_debs[@]}" > "$work/install.log" 2>&1; then
	ok "apt-get install of the three packages"
else
	cat "$work/install.log"
	bad "apt-get install"
fi
for f in /usr/sbin/edgecap-agent /usr/sbin/edgecap-server /usr/bin/edgecap \
	/usr/libexec/edgecap/edgecap-capture /usr/libexec/edgecap/edgecap-remote \
	/lib/systemd/system/edgecap-agent.service /lib/systemd/system/edgecap-agent@.service \
	/lib/systemd/system/edgecap-server.service /etc/edgecap/agent.conf /etc/edgecap/server.conf /usr/share/edgecap/web/index.html \
	/usr/share/man/man8/edgecap-agent.8.gz /usr/share/man/man8/edgecap-server.8.gz \
	/usr/share/man/man1/edgecap.1.gz; do
	[ -f "$root$f" ] || bad "$f is not installed"
done
in_root dpkg-query -W -f='${Conffiles}\n' edgecap-agent edgecap-server | grep -q '/etc/edgecap/server.conf' &&
	in_root dpkg-query -W -f='${Conffiles}\n' edgecap-agent | grep -q '/etc/edgecap/agent.conf' &&
	ok "the example configurations are conffiles" || bad "the configurations are not conffiles"
for u in edgecap-agent edgecap-server; do
	[ "$(in_root systemctl is-enabled $u)" = enabled ] && ok "$u enabled" || bad "$u is not enabled"
done

# The server: started, as its own user, answering over HTTPS with the
# certificate made at install, and serving the page.
for _ in $(seq 50); do
	in_net curl -s -o /dev/null --cacert "$root/etc/edgecap/server.crt" https://localhost:8443/healthz && break
	sleep 0.2
done
[ "$(in_root systemctl is-active edgecap-server)" = active ] && ok "edgecap-server active" ||
	bad "edgecap-server is $(in_root systemctl is-active edgecap-server)"
health=$(in_net curl -s -w ' %{http_code}' --cacert "$root/etc/edgecap/server.crt" https://localhost:8443/healthz || true)
[ "${health##* }" = 200 ] && ok "GET https://localhost:8443/healthz: $(echo $health)" || bad "healthz answered '$health'"
in_net curl -s --cacert "$root/etc/edgecap/server.crt" https://localhost:8443/ | grep -qi '<html' &&
	ok "the server serves the web page" || bad "no web page at /"
pid=$(in_root systemctl show -p MainPID --value edgecap-server)
uid=$(in_root stat -c %U "/proc/$pid")
[ "$uid" = edgecap-server ] && ok "the server runs as $uid" || bad "the server runs as '$uid'"
keymode=$(in_root stat -c '%a %U:%G' /etc/edgecap/server.key)
[ "$keymode" = "640 root:edgecap-server" ] && ok "server.key is 0640 root:edgecap-server" ||
	bad "server.key is $keymode"
# the registry's first steps, as edgecap-server(8) says
in_root systemd-run --pipe --wait -q -p DynamicUser=yes -p User=edgecap-server \
	-p StateDirectory=edgecap edgecap-server org add acme > /dev/null 2>&1 < /dev/null || true
token=$(in_root systemd-run --pipe --wait -q -p DynamicUser=yes -p User=edgecap-server \
	-p StateDirectory=edgecap edgecap-server admin add acme ops 2> "$work/admin.err" < /dev/null || true)
token=$(printf '%s\n' "$token" | tail -1)
code=$(in_net curl -s -o /dev/null -w '%{http_code}' --cacert "$root/etc/edgecap/server.crt" \
	-H "Authorization: Bearer $token" https://localhost:8443/api/v1/devices || true)
[ "$code" = 200 ] && ok "the running server knows the owner added by the manual's commands" ||
	{ cat "$work/admin.err"; bad "GET /api/v1/devices with the new token: $code"; }

# The agent with the example configuration: one clear error, exit status 2,
# no restarts.
sleep 1
show=$(in_root systemctl show -p ActiveState,Result,ExecMainStatus,NRestarts edgecap-agent | tr '\n' ' ')
echo "agent with the example configuration: $show"
[[ "$show" == *ExecMainStatus=2* && "$show" == *NRestarts=0* ]] &&
	ok "the unconfigured agent exits with 2 and is not restarted" || bad "the unconfigured agent: $show"
msg=$(in_root journalctl -q -u edgecap-agent -o cat | grep -v -e '^Started' -e '^edgecap-agent.service' || true)
echo "its log: $msg"
[[ "$msg" == *"no interfaces to serve"* ]] && ok "the agent says what is missing" || bad "the agent's log: '$msg'"

# The agent enrolled with the server as a device on this loopback (which
# the server reaches only where device_networks says so), as the page's
# enrol form tells: the secret it gives goes into the agent's secret_file.
api() { # METHOD PATH [JSON]: the status; the body in $work/body
	in_net curl -s -o "$work/body" -w '%{http_code}' --cacert "$root/etc/edgecap/server.crt" \
		-X "$1" -H "Authorization: Bearer $token" ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
		"https://localhost:8443/api/v1$2" || true
}
field() { python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$work/body" "$@" 2> /dev/null; }
printf 'device_networks = 127.0.0.1\n' >> "$root/etc/edgecap/server.conf"
in_root systemctl restart edgecap-server
for _ in $(seq 50); do
	in_net curl -s -o /dev/null --cacert "$root/etc/edgecap/server.crt" https://localhost:8443/healthz && break
	sleep 0.2
done
code=$(api POST /devices '{"name":"gw","serial":"SN-gw","address":"http://127.0.0.1:8444"}')
[ "$code" = 201 ] && ok "the device enrolled" || { cat "$work/body"; bad "POST /api/v1/devices: $code"; }
field secret > "$root/etc/edgecap/secret" || true
chmod 600 "$root/etc/edgecap/secret"

# Configured, as an administrator would (plain HTTP on loopback: the root
# has no other network), it starts, attaches its hooks and answers.
printf 'interfaces = lo\nsecret_file = /etc/edgecap/secret\nplain_http = yes\nlisten = 127.0.0.1:8444\n' \
	>> "$root/etc/edgecap/agent.conf"
in_root systemctl restart edgecap-agent
for _ in $(seq 50); do
	in_net curl -s -o /dev/null http://127.0.0.1:8444/v1/status && break
	sleep 0.2
done
[ "$(in_root systemctl is-active edgecap-agent)" = active ] && ok "edgecap-agent active once configured" ||
	{ in_root journalctl -q -u edgecap-agent -o cat | tail -8; bad "edgecap-agent is $(in_root systemctl is-active edgecap-agent)"; }
sig=$("$(dirname "$0")/../netns/sign.py" "$(cat "$root/etc/edgecap/secret")" GET /v1/status)
status=$(in_net curl -s -H "Authorization: $sig" http://127.0.0.1:8444/v1/status || true)
[[ "$status" == *'"lo"'* ]] && ok "GET /v1/status: ${status:0:120}" || bad "the agent's status: '$status'"

hooks() { # edgecap's hooks on lo (XDP, tcx, clsact), as the packaged CLI lists them
	in_root edgecap hooks lo | grep -c '^lo ' || true
}
n=$(hooks)
[ "$n" -gt 0 ] && ok "the running agent's hooks on lo ($n)" ||
	{ in_root edgecap hooks lo; bad "no hooks on lo while the agent runs"; }

# A capture through the packaged server and agent, looked into with
# Wireshark's engine (docs/web.md, "Packet detail"): sharkd in bubblewrap's
# sandbox, started by the service as its own unprivileged user, under the
# shipped unit's confinement; the packet's protocol tree comes back.
two_pings() { # DEVICE ADDRESS: a capture of two pings to ADDRESS on DEVICE,
	# to its end: its id in $id, its status in $work/body
	code=$(api POST /captures "{\"devices\":[\"$1\"],\"expression\":\"icmp\",\"count\":2,\"duration\":20,\"reason\":\"pkg.sh\"}")
	[ "$code" = 201 ] && id=$(field id) || { cat "$work/body"; bad "POST /api/v1/captures on $1: $code"; id=0; }
	for _ in $(seq 50); do
		api GET "/captures/$id" > /dev/null
		[ "$(field devices 0 state)" = streaming ] && break
		sleep 0.1
	done
	in_net ping -c 2 -i 0.2 "$2" > /dev/null || true
	for _ in $(seq 100); do
		api GET "/captures/$id" > /dev/null
		[ "$(field state)" = done ] && break
		sleep 0.1
	done
}
two_pings gw 127.0.0.1
[ "$(field state) $(field merged)" = "done 2" ] && ok "a capture of two pings on lo: done, 2 packets" ||
	{ cat "$work/body"; echo; bad "capture $id: $(field state) $(field merged)"; }
code=$(api GET "/captures/$id/frames/1")
python3 - "$work/body" > "$work/tree" 2>&1 << 'PY' || true
import json, sys
def labels(nodes):
    for n in nodes:
        yield n["l"]
        yield from labels(n.get("n", []))
d = json.load(open(sys.argv[1]))
print("\n".join(labels(d["tree"])))
PY
if [ "$code" = 200 ] && grep -q '^Internet Protocol Version 4, Src: 127.0.0.1, Dst: 127.0.0.1$' "$work/tree" &&
	grep -q '^Internet Control Message Protocol$' "$work/tree"; then
	ok "packet 1's protocol tree from sharkd: $(grep -c . "$work/tree") lines, IPv4 and ICMP"
else
	head -c 600 "$work/body"; echo
	in_root journalctl -q -u edgecap-server -o cat | tail -8
	bad "GET /api/v1/captures/$id/frames/1: $code"
fi
# it ran as the service's user, in a user namespace of its own (and a PID
# namespace: found as the server's descendant)
server=$(pgrep --ns "$leader" --nslist pid -x edgecap-server | head -1 || true)
sharkd=
for p in $(pgrep -x sharkd); do
	a=$p
	while [ "${a:-0}" -gt 1 ] && [ "$a" != "$server" ]; do a=$(ps -o ppid= -p "$a" | tr -d ' ' || true); done
	[ -n "$server" ] && [ "$a" = "$server" ] && sharkd=$p
done
if [ -n "$sharkd" ]; then
	[ "$(stat -c %u "/proc/$sharkd")" = "$(stat -c %u "/proc/$server")" ] &&
		[ "$(readlink "/proc/$sharkd/ns/user")" != "$(readlink "/proc/$server/ns/user")" ] &&
		ok "sharkd runs as the server's user, in a user namespace of its own" ||
		bad "sharkd runs as uid $(stat -c %u "/proc/$sharkd"), the server as $(stat -c %u "/proc/$server")"
else
	bad "no sharkd process after a packet's detail"
fi

# Three gateways that join by claim, as the README's three steps say:
# install, set the server's address, claim. Each is the packaged agent as
# edgecap-agent@gwN (the package's template unit: a network namespace, a
# configuration and a state directory of its own), as gateways elsewhere
# would be, and reaches the server over a veth by the name in the server's
# certificate. Nothing is carried to them: each makes its key and
# announces itself; the owner claims each with the serial and code it
# logged; their secrets and HTTPS certificates come from the server
# through the registration. Then they report their interfaces, come
# online, are captured from together over HTTPS through the tunnel (one
# merged capture), and go offline when stopped.
host=$(openssl x509 -in "$root/etc/edgecap/server.crt" -noout -subject -nameopt multiline |
	sed -n 's/^ *commonName *= *//p')
gws="gw2 gw3 gw4"
in_root systemctl stop edgecap-agent
in_root ip addr add 10.77.0.1/32 dev lo || bad "the server's address"
for g in $gws; do
	i=${g#gw}
	in_root ip netns add $g &&
		in_root ip link add ve$i type veth peer name ve1 netns $g &&
		in_root ip addr add 10.77.$i.1/24 dev ve$i && in_root ip link set ve$i up &&
		in_root ip -n $g addr add 10.77.$i.2/24 dev ve1 && in_root ip -n $g link set ve1 up &&
		in_root ip -n $g link set lo up && in_root ip -n $g route add default via 10.77.$i.1 ||
		bad "$g's namespace"
	printf 'interfaces = ve1\ntunnel = https://%s:8443\ntunnel_ca = /etc/edgecap/server.crt\n' "$host" \
		> "$root/etc/edgecap/agent-$g.conf"
done
hosts_was=$( [ -e "$root/etc/hosts" ] && cat "$root/etc/hosts" || echo none)
echo "10.77.0.1 $host" >> "$root/etc/hosts"
printf 'tunnel_udp = 0.0.0.0:4789\nreport_interval = 2\n' >> "$root/etc/edgecap/server.conf"
# /dev/net/tun as udev makes it on Debian (0666: opening it grants nothing,
# TUNSETIFF wants CAP_NET_ADMIN); nspawn copies this machine's, which has
# no udev and leaves it 0600, out of the server's own user's reach
in_root chmod 0666 /dev/net/tun
in_root systemctl restart edgecap-server
for _ in $(seq 50); do
	in_net curl -s -o /dev/null --cacert "$root/etc/edgecap/server.crt" https://localhost:8443/healthz && break
	sleep 0.2
done
[ "$(in_root systemctl is-active edgecap-server)" = active ] && ok "the server with its tunnel" ||
	{ in_root journalctl -q -u edgecap-server -o cat | tail -5; bad "the server with its tunnel"; }
for g in $gws; do in_root systemctl start edgecap-agent@$g; done
for g in $gws; do
	for _ in $(seq 100); do
		in_root journalctl -q -u edgecap-agent@$g -o cat | grep -q "waiting to be claimed" && break
		sleep 0.1
	done
	# "... (edgecap devices claim SERIAL CODE)", as its log says
	read -r serial code < <(in_root journalctl -q -u edgecap-agent@$g -o cat |
		sed -n 's/.*(edgecap devices claim \([^ ]*\) \([^ )]*\)).*/\1 \2/p' | tail -1) || true
	echo "$g: serial $serial, claim code $code"
	in_root env EDGECAP_SERVER="https://$host:8443" EDGECAP_TOKEN="$token" EDGECAP_CACERT=/etc/edgecap/server.crt \
		edgecap devices claim "$serial" "$code" --name $g > "$work/claim.out" 2>&1 &&
		ok "$g claimed with the serial and code it logged: $(cat "$work/claim.out")" ||
		{ cat "$work/claim.out"; in_root journalctl -q -u edgecap-agent@$g -o cat | tail -5; bad "the claim of $g"; }
done
[ "$(in_root stat -c %a /var/lib/edgecap-agent/gw2/device.key /var/lib/edgecap-agent/gw3/device.key \
	/var/lib/edgecap-agent/gw4/device.key | tr '\n' ' ')" = "600 600 600 " ] &&
	ok "each instance's key in its own state directory, 0600" ||
	{ in_root ls -lR /var/lib/edgecap-agent; bad "the instances' state directories"; }
for g in $gws; do
	for _ in $(seq 100); do
		api GET /devices/$g > /dev/null
		[ "$(field state)" = online ] && [ "$(field interfaces 0 name)" = ve1 ] && break
		sleep 0.2
	done
	[ "$(field state)" = online ] && [ "$(field interfaces 0 name)" = ve1 ] &&
		[ "$(field address)" = https://tunnel:8443 ] &&
		ok "$g registered, reported ve1 and is online ($(field transport), $(field mgmt_address))" ||
		{ cat "$work/body"; echo; in_root journalctl -q -u edgecap-agent@$g -o cat | tail -5; bad "$g is not online"; }
done
# one capture on the three: two echo requests each, merged
code=$(api POST /captures '{"devices":["gw2","gw3","gw4"],"expression":"icmp[icmptype] == icmp-echo","count":6,"duration":30,"reason":"pkg.sh: three gateways"}')
[ "$code" = 201 ] && id=$(field id) || { cat "$work/body"; bad "POST /api/v1/captures on the three: $code"; id=0; }
for _ in $(seq 100); do
	api GET "/captures/$id" > /dev/null
	[ "$(field devices 0 state) $(field devices 1 state) $(field devices 2 state)" = "streaming streaming streaming" ] && break
	sleep 0.1
done
for g in $gws; do in_net ping -c 2 -i 0.2 10.77.${g#gw}.2 > /dev/null || true; done
for _ in $(seq 100); do
	api GET "/captures/$id" > /dev/null
	[ "$(field state)" = done ] && break
	sleep 0.1
done
[ "$(field state) $(field merged) $(field devices 0 state) $(field devices 1 state) $(field devices 2 state)" = \
	"done 6 done done done" ] &&
	ok "captured from the three over HTTPS through the tunnel, with the server's certificate: 6 pings merged" ||
	{ cat "$work/body"; echo; bad "capture $id on the three"; }
for g in $gws; do in_root systemctl stop edgecap-agent@$g; done
for g in $gws; do
	for _ in $(seq 100); do
		api GET /devices/$g > /dev/null
		[ "$(field state)" = offline ] && break
		sleep 0.2
	done
	[ "$(field state)" = offline ] && ok "$g offline once stopped: $(field report_error)" ||
		{ cat "$work/body"; echo; bad "$g is $(field state) after its agent stopped"; }
done
# back as the rest of the suite had it
for g in $gws; do in_root ip netns del $g; rm "$root/etc/edgecap/agent-$g.conf"; done
in_root ip addr del 10.77.0.1/32 dev lo
if [ "$hosts_was" = none ]; then rm "$root/etc/hosts"; else printf '%s\n' "$hosts_was" > "$root/etc/hosts"; fi
in_root systemctl start edgecap-agent

# stop: both inactive, the agent's hooks off loopback
in_root systemctl stop edgecap-agent edgecap-server
for u in edgecap-agent edgecap-server; do
	[ "$(in_root systemctl is-active $u)" = inactive ] && ok "$u stopped" || bad "$u is $(in_root systemctl is-active $u) after stop"
done
n=$(hooks)
[ "$n" = 0 ] && ok "no hooks left on lo" || bad "$n hooks left on lo after the agent stopped"
in_root systemctl start edgecap-server edgecap-agent

# remove: the programs and units go, running services are stopped; the
# configuration and the state stay
in_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q edgecap-agent edgecap-server edgecap \
	> "$work/remove.log" 2>&1 && ok "apt-get remove" || { cat "$work/remove.log"; bad "apt-get remove"; }
[ ! -e "$root/usr/sbin/edgecap-server" ] && [ ! -e "$root/lib/systemd/system/edgecap-agent.service" ] &&
	ok "programs and units removed" || bad "programs or units left after remove"
[ -f "$root/etc/edgecap/server.conf" ] && [ -d "$root/var/lib/private/edgecap" ] &&
	ok "configuration and state kept by remove" || bad "remove took configuration or state"
if pgrep --ns "$leader" --nslist pid -f 'edgecap-(agent|server)' > /dev/null; then bad "processes left after remove"; else ok "no processes left"; fi

# purge (and the dependencies that came with the packages): nothing left;
# edgecap, without conffiles, is gone since the remove
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --autoremove edgecap-agent edgecap-server \
	> "$work/purge.log" 2>&1 && ok "apt-get purge --autoremove" || { cat "$work/purge.log"; bad "apt-get purge"; }
in_root systemctl daemon-reload
left=$(in_root sh -c 'find / -xdev -name "*edgecap*" -not -path "/debs*" -not -path "/var/cache/apt/*" -not -path "/var/log/*"; grep -h edgecap /etc/passwd /etc/group /etc/shadow || true')
[ -z "$left" ] && ok "nothing named edgecap left, no user" || { echo "$left"; bad "left after purge"; }
units=$(in_root systemctl list-units --all --no-legend 'edgecap*')
[ -z "$units" ] && ok "no edgecap units known to systemd" || { echo "$units"; bad "units left after purge"; }
# every file there before the install is there, and nothing more, but logs,
# caches, the package databases and what the dependencies' users left
in_root sh -c 'find / -xdev | sort' > "$work/after"
diff "$work/before" "$work/after" | grep '^[<>]' |
	grep -vE ' /(debs|proc|sys|dev|run|tmp)(/|$)| /var/(log|cache|lib/(apt|dpkg|systemd|ucf|private))(/|$)| /etc/(passwd|group|shadow|gshadow)-?$| /etc/ld.so.cache$| /var/tmp/systemd-private-' \
	> "$work/diff" || true
if [ -s "$work/diff" ]; then cat "$work/diff"; bad "the root differs from before the install"; else ok "the root is as before the install"; fi

echo "pkg.sh: $(($(date +%s) - t0)) s"
[ $fail = 0 ] && echo "PASS" || echo "FAILED"
exit $fail
