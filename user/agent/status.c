/* status.c - GET /v1/status: the agent, its interfaces and its captures with
 * their live counters, its tunnel and settings, as JSON. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "agent/agent.h"
#include "capture/engine.h"

/* /sys/class/net/NAME/FILE's first line, or "" (a file a driver lacks;
 * speed of a virtual device is an error to read). */
static void sys_net(const char *name, const char *file, char *ret, size_t len)
{
	char path[96];
	FILE *f;

	ret[0] = 0;
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, file);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(ret, (int)len, f))
		ret[0] = 0;
	fclose(f);
	ret[strcspn(ret, "\n")] = 0;
}

/* name's addresses with their prefixes ("10.0.0.1/24"), from getifaddrs. */
static json_t *addresses(const struct ifaddrs *all, const char *name)
{
	json_t *a = json_array();

	for (const struct ifaddrs *i = all; i; i = i->ifa_next) {
		int fam = i->ifa_addr ? i->ifa_addr->sa_family : AF_UNSPEC, bits = 0;
		char host[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 16];
		const uint8_t *m;
		size_t mlen;

		if (strcmp(i->ifa_name, name) || (fam != AF_INET && fam != AF_INET6))
			continue;
		inet_ntop(fam,
			  fam == AF_INET
			      ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
			      : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
			  host, sizeof(host));
		m = !i->ifa_netmask ? NULL
		    : fam == AF_INET
			? (const uint8_t *)&((struct sockaddr_in *)i->ifa_netmask)->sin_addr
			: (const uint8_t *)&((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr;
		mlen = fam == AF_INET ? 4 : 16;
		for (size_t k = 0; m && k < mlen; k++)
			bits += __builtin_popcount(m[k]);
		snprintf(text, sizeof(text), "%s/%d", host, bits);
		json_array_append_new(a, json_string(text));
	}
	return a;
}

/* What the server keeps of an interface (its report): how it is captured,
 * and what it is. */
static json_t *iface_json(const struct agent_iface *i, const struct ifaddrs *all)
{
	char mac[32], mtu[16], state[16], speed[16];
	json_t *o;

	sys_net(i->name, "address", mac, sizeof(mac));
	sys_net(i->name, "mtu", mtu, sizeof(mtu));
	sys_net(i->name, "operstate", state, sizeof(state));
	sys_net(i->name, "speed", speed, sizeof(speed));
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:s, s:o}", "name", i->name, "ifindex",
		      i->ifindex, "ingress", i->ingress == ECAP_ATTACH_XDP ? "xdp" : "tc",
		      "linktype", i->lt.name, "mac", mac, "mtu", atoi(mtu), "state",
		      state[0] ? state : "unknown", "addresses", addresses(all, i->name));
	/* Mb/s; virtual devices have none (-1 or no file) */
	json_object_set_new(o, "speed_mbps",
			    atoi(speed) > 0 ? json_integer(atoi(speed)) : json_null());
	return o;
}

static json_t *capture_json(struct agent *a, const struct capture *c)
{
	struct ecap_stream_stats s = {0};
	json_t *ifs = json_array(), *o;

	ecap_streamer_stats(a->streamer, c->id, &s);
	for (unsigned i = 0; i < c->opts.nifaces; i++)
		json_array_append_new(ifs, json_string(c->ifaces[i].name));
	o = json_pack("{s:i, s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:b}", "id", c->id, "client",
		      c->peer, "interfaces", ifs, "direction", agent_dir_name(c->opts.dirs),
		      "snaplen", (json_int_t)c->opts.snaplen, "count", (json_int_t)c->opts.count,
		      "duration", (json_int_t)c->opts.duration_s, "started",
		      (json_int_t)c->started_at, "ending", c->gone || !c->on_hooks);
	if (c->server_id)
		json_object_set_new(o, "capture", json_integer((json_int_t)c->server_id));
	json_object_set_new(o, "counters",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "written",
				      (json_int_t)s.written, "seen", (json_int_t)s.seen, "matched",
				      (json_int_t)s.matched, "captured", (json_int_t)s.captured,
				      "dropped", (json_int_t)s.dropped, "osdropped",
				      (json_int_t)s.osdropped));
	return o;
}

int agent_status_reply(struct agent *a, h2o_req_t *req)
{
	json_t *ifs, *caps, *root;
	struct ifaddrs *all;
	struct timespec now;
	struct utsname u;
	char *text;

	uname(&u);
	if (getifaddrs(&all))
		all = NULL;
	ifs = json_array();
	for (unsigned i = 0; i < a->nifaces; i++)
		json_array_append_new(ifs, iface_json(&a->ifaces[i], all));
	if (all)
		freeifaddrs(all);
	caps = json_array();
	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++)
		if (a->cap[i].active && a->cap[i].started)
			json_array_append_new(caps, capture_json(a, &a->cap[i]));
	root = json_pack("{s:s, s:s, s:s, s:I, s:i, s:o, s:o}", "agent", AGENT_VERSION, "device",
			 a->conf.device, "kernel", u.release, "ring_bytes",
			 (json_int_t)a->conf.ring_bytes, "max_sessions", ECAP_MAX_SESSIONS,
			 "interfaces", ifs, "captures", caps);
	/* the server measures the device's clock against its own by it */
	clock_gettime(CLOCK_REALTIME, &now);
	if (root)
		json_object_set_new(
		    root, "time",
		    json_integer((json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
	if (root) {
		agent_tunnel_status(a, root);
		if (a->conf.tunnel[0])
			agent_settings_status(a, root);
	}
	text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!text)
		return web_error(req, 500, "out of memory");
	web_reply(req, "application/json", text, strlen(text));
	free(text);
	return 0;
}

int agent_status_init(struct agent *a, h2o_hostconf_t *host)
{
	agent_route(a, host, "/v1/status", agent_status_reply);
	return 0;
}
