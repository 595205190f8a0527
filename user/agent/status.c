/* status.c - GET /v1/status: the agent, its interfaces and its captures with
 * their live counters, as JSON. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "agent/agent.h"
#include "capture/engine.h"

static json_t *iface_json(const struct agent_iface *i)
{
	return json_pack("{s:s, s:i, s:s, s:s}", "name", i->name, "ifindex", i->ifindex, "ingress",
			 i->ingress == ECAP_ATTACH_XDP ? "xdp" : "tc", "linktype", i->lt.name);
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

static int on_req(struct agent *a, h2o_req_t *req)
{
	json_t *ifs, *caps, *root;
	struct utsname u;
	char *text;

	uname(&u);
	ifs = json_array();
	for (unsigned i = 0; i < a->nifaces; i++)
		json_array_append_new(ifs, iface_json(&a->ifaces[i]));
	caps = json_array();
	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++)
		if (a->cap[i].active && a->cap[i].started)
			json_array_append_new(caps, capture_json(a, &a->cap[i]));
	root = json_pack("{s:s, s:s, s:s, s:I, s:i, s:o, s:o}", "agent", AGENT_VERSION, "device",
			 a->conf.device, "kernel", u.release, "ring_bytes",
			 (json_int_t)a->conf.ring_bytes, "max_sessions", ECAP_MAX_SESSIONS,
			 "interfaces", ifs, "captures", caps);
	if (root)
		agent_tunnel_status(a, root);
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
	agent_route(a, host, "/v1/status", on_req);
	return 0;
}
