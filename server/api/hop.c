/* hop.c - the requests servers on one registry make to each other
 * (docs/scale.md), each signed with the key they share (Edgecap-Instance):
 *
 *   POST /internal/v1/captures/ID/part   the devices of a capture another
 *        server runs whose tunnels this one holds, merged here in order
 *        (service/capture.h: srv_capture_part) and streamed back;
 *   GET /internal/v1/captures/ID/{pcap,text,packets}   a capture this
 *        server runs, read for a user of another.
 *
 * A reader's stream is passed on as it comes (relay): not copied, each
 * piece sent from the slab it was read into, and a slow reader holds the
 * stream back (at most HOP_MEM read ahead); HOP_MAX such streams at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/httpc.h"
#include "common/slab.h"
#include "service/device.h"
#include "core/merge.h"
#include "service/capture.h"
#include "service/instance.h"
#include "common/log.h"
#include "common/bounds.h"

#include <openssl/sha.h>

#define HOP_SLAB (256u << 10)
#define HOP_MEM	 (4u << 20)
#define HOP_MAX	 256 /* readers passed on at once: 1 GiB of slabs at most */
/* Parts of captures run elsewhere, at once: each is a capture's worth of
 * memory at most (capture_int.h: CAPTURE_MEM and GEN_MEM), as many as
 * captures an organization may run on one server, and a few more. */
#define PARTS_MAX	 32
#define PART_DEVICES_MAX 256 /* as in one capture */
#define PART_IFACES_LEN	 (ECAP_CAPTURE_IFACES_MAX * 65)
#define PART_BPF_LEN	 (256u << 10)
#define IFACE_CHARS	 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
#define HOP_PIECES	 64
#define HOP_IO_MS	 90000 /* longer than a capture's silences (its keep-alive) */

struct piece {
	struct ecap_slab *slab;
	h2o_iovec_t v;
};

struct hop {
	h2o_generator_t gen; /* first: h2o hands it back to proceed and stop */
	h2o_req_t *req;	     /* NULL once the response ended */
	struct srv_api *api;
	struct ecap_httpc_ctx http;
	struct ecap_httpc_dest dest;
	struct ecap_httpc_call call;
	struct ecap_slab_pool *pool;
	char *target;
	char headers[768];
	char reason[200];
	char ctype[64]; /* the answer's Content-Type */
	struct piece queued[HOP_PIECES], sent[HOP_PIECES];
	unsigned nqueued, nsent;
	int started, inflight, ended, paused, http_ok, dest_ok;
};

static void unref(struct piece *p, unsigned *n)
{
	for (unsigned i = 0; i < *n; i++)
		ecap_slab_unref(p[i].slab);
	*n = 0;
}

/* What is queued goes, unless a send is in flight; the end goes once
 * nothing is left. */
static void pump(struct hop *h)
{
	h2o_iovec_t v[HOP_PIECES];
	h2o_req_t *req = h->req;

	if (!req || h->inflight || !h->started)
		return;
	if (h->nqueued) {
		for (unsigned i = 0; i < h->nqueued; i++) {
			h->sent[i] = h->queued[i];
			v[i] = h->queued[i].v;
		}
		h->nsent = h->nqueued;
		h->nqueued = 0;
		h->inflight = 1;
		h2o_send(req, v, h->nsent, H2O_SEND_STATE_IN_PROGRESS);
		if (h->paused) {
			h->paused = 0;
			ecap_httpc_pause(&h->call, 0);
		}
		return;
	}
	if (h->ended) {
		h->req = NULL; /* gone after this */
		h2o_send(req, NULL, 0, h->ended > 0 ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_ERROR);
	}
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
	struct hop *h = (struct hop *)g;

	h->inflight = 0;
	unref(h->sent, &h->nsent);
	pump(h);
}

/* The reader went away: the device's stream ends with it. */
static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
	struct hop *h = (struct hop *)g;

	h->req = NULL;
	ecap_httpc_cancel(&h->call);
}

static int on_head(struct ecap_httpc_call *c)
{
	struct hop *h = c->data;
	h2o_req_t *req = h->req;

	if (!req)
		return -1;
	srv_device_reason(c, h->reason, sizeof(h->reason));
	snprintf(h->ctype, sizeof(h->ctype), "application/octet-stream");
	for (size_t i = 0; i < c->resp_nheaders; i++)
		if (c->resp_headers[i].name == &H2O_TOKEN_CONTENT_TYPE->buf &&
		    c->resp_headers[i].value.len < sizeof(h->ctype))
			snprintf(h->ctype, sizeof(h->ctype), "%.*s",
				 (int)c->resp_headers[i].value.len, c->resp_headers[i].value.base);
	if (c->status != 200)
		return 0; /* answered in on_done, with the reason */
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       h2o_strdup(&req->pool, h->ctype, SIZE_MAX).base, strlen(h->ctype));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store"));
	h->gen.proceed = on_proceed;
	h->gen.stop = on_stop;
	h2o_start_response(req, &h->gen);
	h->started = 1;
	return 0;
}

static long on_body(struct ecap_httpc_call *c, const uint8_t *p, size_t n)
{
	struct hop *h = c->data;

	if (!h->req)
		return -1;
	if (h->nqueued == HOP_PIECES) { /* the reader is behind: wait for it */
		h->paused = 1;
		ecap_httpc_pause(c, 1);
		return 0;
	}
	ecap_slab_ref(c->slab);
	h->queued[h->nqueued++] = (struct piece){c->slab, h2o_iovec_init(p, n)};
	pump(h);
	return (long)n;
}

static void on_done(struct ecap_httpc_call *c, const char *err)
{
	struct hop *h = c->data;
	h2o_req_t *req = h->req;

	if (!req)
		return;
	if (h->started) {
		h->ended = err ? -1 : 1;
		pump(h);
		return;
	}
	h->req = NULL;
	if (err) { /* not reached: this hop's failure */
		web_error(req, 502, "%s", err);
		return;
	}
	/* a refusal: its status, reason and words, as they came */
	req->res.status = c->status;
	req->res.reason = web_reason(c->status);
	if (h->reason[0])
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("edgecap-error"), 0,
				      NULL, h2o_strdup(&req->pool, h->reason, SIZE_MAX).base,
				      strlen(h->reason));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       h2o_strdup(&req->pool, h->ctype, SIZE_MAX).base, strlen(h->ctype));
	h2o_send_inline(req, c->resp.len ? (const char *)c->resp.data : "", c->resp.len);
}

/* With the request's pool: nothing of the hop outlives it. */
static void dispose(void *p)
{
	struct hop *h = p;

	h->api->hops--;
	h->req = NULL;
	ecap_httpc_cancel(&h->call);
	ecap_httpc_call_reset(&h->call);
	unref(h->queued, &h->nqueued);
	unref(h->sent, &h->nsent);
	if (h->dest_ok)
		ecap_httpc_dest_dispose(&h->dest);
	if (h->http_ok)
		ecap_httpc_ctx_dispose(&h->http);
	ecap_slab_pool_free(h->pool);
	free(h->target);
}

/* A header of the request, "" when absent. */
static h2o_iovec_t header(h2o_req_t *req, const char *name, size_t len)
{
	ssize_t at = h2o_find_header_by_str(&req->headers, name, len, -1);

	return at < 0 ? h2o_iovec_init("", 0) : req->headers.entries[at].value;
}

/* The hop for req: to url, GET target with headers, its answer passed back
 * as it comes. 0 (answered, now or later). */
static int relay(struct srv_api *api, h2o_req_t *req, const char *url, const char *target,
		 const char *headers)
{
	struct hop *h;
	char e[256];

	if (api->hops >= HOP_MAX)
		return web_error(req, 503, "%s", "too many streams passed on at once");
	h = h2o_mem_alloc_shared(&req->pool, sizeof(*h), dispose);
	memset(h, 0, sizeof(*h));
	h->req = req;
	h->api = api;
	api->hops++;
	h->pool = ecap_slab_pool_new(NULL, HOP_SLAB, HOP_MEM);
	if (!h->pool || !(h->target = strdup(target)))
		return web_error(req, 503, "%s", "out of memory");
	snprintf(h->headers, sizeof(h->headers), "%s", headers);
	ecap_httpc_ctx_init(&h->http, api->loop, api->getaddr, HOP_IO_MS, SRV_VERSION);
	h->http_ok = 1;
	if (ecap_httpc_dest_init(&h->dest, &h->http, url,
				 &(struct ecap_httpc_dest_opts){.ca_store = api->ca_store}, e,
				 sizeof(e)))
		return web_error(req, 502, "%s", e);
	h->dest_ok = 1;
	h->call = (struct ecap_httpc_call){.method = "GET",
					   .target = h->target,
					   .headers = h->headers,
					   .on_head = on_head,
					   .on_body = on_body,
					   .on_done = on_done,
					   .resp_max = 4096, /* a refusal's words */
					   .pool = h->pool,
					   .data = h};
	if (ecap_httpc_start(&h->dest, &h->call)) {
		h->req = NULL;
		return web_error(req, 503, "%s", "out of memory");
	}
	return 0;
}

/* Signed by a server of the registry? 0, or -1 with the 403 sent. */
static int from_a_server(struct srv_api *api, h2o_req_t *req)
{
	h2o_iovec_t sig = header(req, H2O_STRLIT(SRV_INSTANCE_HEADER));
	char why[200];

	if (!api->instance) {
		web_error(req, 403, "%s", "not a server on a shared registry");
		return -1;
	}
	if (srv_instance_check(api->instance, sig.base, sig.len, req->input.method.base,
			       req->input.method.len, req->input.path.base, req->input.path.len,
			       why, sizeof(why))) {
		web_error(req, 403, "%s", why);
		return -1;
	}
	return 0;
}

/* --- a part of another server's capture (service/capture_part.c) ---------- */

struct part_out {
	struct srv_capture_out out;
	h2o_generator_t gen;
	h2o_req_t *req; /* NULL once the response ended or its client went */
	struct srv_api *api;
	h2o_iovec_t v[SRV_CAPTURE_SEND_MAX];
};

static void part_send(struct srv_capture_out *o, const struct iovec *v, size_t n)
{
	struct part_out *po = (struct part_out *)o;

	if (!po->req)
		return;
	for (size_t i = 0; i < n; i++)
		po->v[i] = h2o_iovec_init(v[i].iov_base, v[i].iov_len);
	h2o_send(po->req, po->v, n, H2O_SEND_STATE_IN_PROGRESS);
}

static void part_end(struct srv_capture_out *o, int ok)
{
	struct part_out *po = (struct part_out *)o;
	h2o_req_t *req = po->req;

	if (!req)
		return;
	po->req = NULL;
	h2o_send(req, NULL, 0, ok ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_ERROR);
}

static int part_stopped(struct srv_capture_out *o)
{
	struct part_out *po = (struct part_out *)o;

	return po->req && web_client_gone(po->req);
}

static void part_proceed(h2o_generator_t *g, h2o_req_t *req)
{
	struct part_out *po = H2O_STRUCT_FROM_MEMBER(struct part_out, gen, g);

	if (po->out.c)
		srv_capture_out_sent(po->out.c, 0);
}

static void part_gone(struct part_out *po)
{
	po->req = NULL;
	if (po->out.c)
		srv_capture_out_gone(po->out.c);
	po->out.c = NULL;
}

static void part_stop(h2o_generator_t *g, h2o_req_t *req)
{
	part_gone(H2O_STRUCT_FROM_MEMBER(struct part_out, gen, g));
}

static void part_dispose(void *p)
{
	struct part_out *po = p;

	part_gone(po);
	po->api->parts--;
}

static const char *const linktypes[] = {"EN10MB", "RAW", "LINUX_SLL", "LINUX_SLL2"};

/* The body's programs into c (their link types as static strings): 0, or
 * the 400 is sent. */
static int part_progs(h2o_req_t *req, json_t *progs, struct srv_capture_req *c)
{
	size_t i;
	json_t *p;

	if (!json_is_array(progs) || !json_array_size(progs) ||
	    json_array_size(progs) > SRV_CAPTURE_LINKTYPES)
		return srv_fail(req, 400, "progs: want 1 to %d programs", SRV_CAPTURE_LINKTYPES),
		       -1;
	json_array_foreach(progs, i, p) {
		const char *lt = json_string_value(json_object_get(p, "linktype"));
		const char *bpf = json_string_value(json_object_get(p, "bpf"));
		size_t k = 0;

		while (lt && k < sizeof(linktypes) / sizeof(linktypes[0]) &&
		       strcmp(lt, linktypes[k]))
			k++;
		if (!lt || k == sizeof(linktypes) / sizeof(linktypes[0]))
			return srv_fail(req, 400, "progs[%zu].linktype: unknown", i), -1;
		if (!bpf || !*bpf || strlen(bpf) > PART_BPF_LEN ||
		    strspn(bpf, "0123456789,%") != strlen(bpf))
			return srv_fail(req, 400, "progs[%zu].bpf: want the program", i), -1;
		c->progs[c->nprogs++] = (struct srv_capture_prog){linktypes[k], bpf};
	}
	return 0;
}

int srv_hop_part(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1], want[sizeof(hex)], err[256];
	char runner[REG_INSTANCE_MAX];
	struct reg_device *devs = NULL;
	const char **ifaces = NULL;
	struct srv_capture_req c = {.request = ""};
	struct part_out *po;
	int64_t id = srv_capture_id(params[0]), org;
	json_t *j, *list, *d;
	json_int_t snaplen, count, duration;
	const char *dir;
	size_t i;
	int r;

	if (from_a_server(api, req))
		return 0;
	/* the body is the one signed: its digest is in the signed target */
	SHA256((const uint8_t *)req->entity.base, req->entity.base ? req->entity.len : 0, md);
	for (i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (srv_query(req, "sha256", want, sizeof(want)) || strcmp(want, hex))
		return web_error(req, 403, "%s", "the body is not the one signed (sha256)");
	if (!id)
		return web_error(req, 404, "%s", "no such capture");
	if (api->stopping)
		return web_error(req, 503, "%s", "this server is stopping");
	if (api->parts >= PARTS_MAX)
		return web_error(req, 503, "%s", "too many parts of captures at once");
	if (!(j = srv_body(req)))
		return 0;
	list = json_object_get(j, "devices");
	dir = json_string_value(json_object_get(j, "dir"));
	org = json_integer_value(json_object_get(j, "org"));
	snaplen = json_integer_value(json_object_get(j, "snaplen"));
	count = json_integer_value(json_object_get(j, "count"));
	duration = json_integer_value(json_object_get(j, "duration"));
	if (org <= 0)
		r = -1, srv_fail(req, 400, "org: want the organization's id");
	else if (!json_is_array(list) || !json_array_size(list) ||
		 json_array_size(list) > PART_DEVICES_MAX)
		r = -1, srv_fail(req, 400, "devices: want 1 to %d devices", PART_DEVICES_MAX);
	else if (!dir || (strcmp(dir, "in") && strcmp(dir, "out") && strcmp(dir, "inout")))
		r = -1, srv_fail(req, 400, "dir: want in, out or inout");
	else if (snaplen <= 0 || snaplen > ECAP_SNAPLEN_MAX)
		r = -1, srv_fail(req, 400, "snaplen: want 1 to %d", ECAP_SNAPLEN_MAX);
	else if (count < 0)
		r = -1, srv_fail(req, 400, "count: want a whole number");
	else if (duration < 0 || duration > ECAP_CAPTURE_DURATION_MAX)
		r = -1, srv_fail(req, 400, "duration: want 0 to %u s", ECAP_CAPTURE_DURATION_MAX);
	else if (reg_capture_runner(api->reg, org, id, runner, sizeof(runner)))
		r = -1, web_error(req, 404, "%s", "no such capture running in the organization");
	else
		r = part_progs(req, json_object_get(j, "progs"), &c);
	if (r) {
		json_decref(j);
		return 0;
	}
	devs = calloc(json_array_size(list), sizeof(*devs));
	ifaces = calloc(json_array_size(list), sizeof(*ifaces));
	if (!devs || !ifaces) {
		r = web_error(req, 503, "%s", "out of memory");
		goto out;
	}
	/* each device the organization's, its tunnel held here: one that
	 * moved meanwhile fails, with the reason, and the rest go on */
	json_array_foreach(list, i, d) {
		struct srv_tunnel_device_info info;
		json_int_t dev = json_integer_value(json_object_get(d, "id"));
		const char *ifs = json_string_value(json_object_get(d, "ifaces"));
		struct reg_device *rd = &devs[c.ndevs];

		if (dev <= 0 || !ifs || strlen(ifs) > PART_IFACES_LEN ||
		    strspn(ifs, IFACE_CHARS ",") != strlen(ifs)) {
			r = srv_fail(req, 400, "devices[%zu]: want its id and interfaces", i);
			goto out;
		}
		if (reg_device_by_id(api->reg, dev, rd) || rd->org != org) {
			r = web_error(req, 404, "devices[%zu]: no such device", i);
			goto out;
		}
		if (!api->tunnel || srv_tunnel_device(api->tunnel, rd->org, rd->name, &info)) {
			reg_capture_device_update(
			    api->reg, id, rd->id,
			    &(struct reg_capture_device_state){
				.state = "failed",
				.error = "its tunnel moved from the server asked for it; it is "
					 "reached through the next",
				.keep_duplicates = 1});
			continue;
		}
		ifaces[c.ndevs++] = ifs;
	}
	if (!c.ndevs) {
		r = web_error(req, 409, "%s",
			      "none of its devices' tunnels is held by this server");
		goto out;
	}
	c.devs = devs;
	c.dev_ifaces = ifaces;
	c.ifaces = "";
	c.dir = dir;
	c.snaplen = (uint32_t)snaplen;
	c.count = (uint64_t)count;
	c.duration = (uint32_t)duration;
	po = h2o_mem_alloc_shared(&req->pool, sizeof(*po), part_dispose);
	memset(po, 0, offsetof(struct part_out, v));
	po->req = req;
	po->api = api;
	api->parts++;
	po->out =
	    (struct srv_capture_out){.send = part_send, .end = part_end, .stopped = part_stopped};
	po->gen = (h2o_generator_t){part_proceed, part_stop};
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/octet-stream"));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store"));
	h2o_start_response(req, &po->gen);
	if (srv_capture_part(api->captures, id, org, &c, &po->out, err, sizeof(err))) {
		ecap_log(LOG_WARNING, "capture %lld: its part here: %s", (long long)id, err);
		po->req = NULL;
		h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
	}
	r = 0;
out:
	free(devs);
	free(ifaces);
	json_decref(j);
	return r;
}

static const char *const reads[] = {"pcap", "text", "packets"};

int srv_hop_read(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, int64_t id,
		 int what, const char *url)
{
	const char *query = memchr(req->input.path.base, '?', req->input.path.len);
	h2o_iovec_t last = header(req, H2O_STRLIT("last-event-id"));
	char target[1200], headers[768];
	size_t used;

	if ((size_t)snprintf(target, sizeof(target), "/internal/v1/captures/%lld/%s?org=%lld%s%.*s",
			     (long long)id, reads[what], (long long)who->org, query ? "&" : "",
			     query ? (int)(req->input.path.base + req->input.path.len - query - 1)
				   : 0,
			     query ? query + 1 : "") >= sizeof(target))
		return srv_fail(req, 414, "query too long");
	used = last.len && last.len < 24 && !memchr(last.base, '\n', last.len) &&
		       !memchr(last.base, '\r', last.len)
		   ? (size_t)snprintf(headers, sizeof(headers), "Last-Event-ID: %.*s\r\n",
				      (int)last.len, last.base)
		   : 0;
	headers[used] = 0;
	if (srv_instance_sign(api->instance, "GET", target, headers + used, sizeof(headers) - used))
		return srv_fail(req, 503, "out of memory");
	return relay(api, req, url, target, headers);
}

int srv_hop_read_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	struct reg_user as = {.role = REG_VIEWER, .viewer_downloads = 1};
	char org[24] = "";
	int what = -1;

	if (from_a_server(api, req))
		return 0;
	for (int i = 0; i < (int)(sizeof(reads) / sizeof(reads[0])); i++)
		if (!strcmp(params[1], reads[i]))
			what = i;
	if (what < 0 || srv_query(req, "org", org, sizeof(org)) || !(as.org = atoll(org)))
		return web_error(req, 404, "%s", "not found");
	snprintf(as.name, sizeof(as.name), "server");
	return srv_capture_follow(api, req, &as, params[0], what, 1);
}
