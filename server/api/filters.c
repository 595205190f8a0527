/* filters.c - POST /api/v1/filters/compile {expression[, snaplen]}: the
 * expression compiled as a capture would compile it, with libpcap's listing
 * (tcpdump -d), or libpcap's own message. And what both this and a
 * capture's start use to compile off the loop (api.h, srv_compiling). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "filter/compile.h"

/* The request goes (answered, or an HTTP/2 stream reset): a job still under
 * way is dropped, and the endpoint's state goes with the pool. */
static void on_dispose(void *p)
{
	struct srv_compiling *x = p;

	if (x->job)
		srv_compile_cancel(x->job);
	x->job = NULL;
	if (x->release)
		x->release(x);
}

struct srv_compiling *srv_compiling_new(struct srv_api *api, h2o_req_t *req,
					const struct reg_user *who, size_t size)
{
	struct srv_compiling *x = h2o_mem_alloc_shared(&req->pool, size, on_dispose);

	memset(x, 0, size);
	x->api = api;
	x->req = req;
	x->prefix = "expression: ";
	snprintf(x->who, sizeof(x->who), "%s/%s", who->org_name, who->name);
	return x;
}

static void on_compiled(void *data, int err, struct ecap_cbpf *prog, const char *msg)
{
	struct srv_compiling *x = data;
	h2o_req_t *req = x->req;

	x->job = NULL; /* heard of: nothing to cancel when the request goes */
	srv_http_set_who(x->who);
	switch (err) {
	case 0:
		x->done(x, prog); /* x may be gone after */
		ecap_cbpf_free(prog);
		break;
	case -EINVAL:
		srv_fail(req, 400, "%s%s", x->prefix, msg);
		break;
	case -E2BIG:
		srv_fail(req, 400, "expression: %s", msg);
		break;
	case -ETIME:
		srv_fail(req, 422, "expression: %s (the server's compile_cpu_ms)", msg);
		break;
	case -ECANCELED:
		srv_fail(req, 503, "the server is stopping");
		break;
	default:
		srv_fail(req, 503, "compiler: %s", msg);
		break;
	}
	srv_http_set_who(NULL);
}

int srv_compiling_start(struct srv_compiling *x, const char *expr, uint32_t snaplen)
{
	int r;

	if (strlen(expr) > SRV_COMPILE_EXPR_MAX) {
		srv_fail(x->req, 400, "expression: longer than %u bytes", SRV_COMPILE_EXPR_MAX);
		return -1;
	}
	r = srv_compile_submit(x->api->compiler, expr,
			       x->linktype ? x->linktype : ECAP_LINKTYPE_EN10MB, snaplen,
			       on_compiled, x, &x->job);
	if (r == -EBUSY)
		srv_fail(x->req, 503, "compile queue full");
	else if (r == -EIO)
		srv_fail(x->req, 503, "compiler: no worker could be started");
	else if (r)
		srv_fail(x->req, 503, "out of memory");
	return r ? -1 : 0;
}

struct compile_ep {
	struct srv_compiling x;
	json_t *j;	  /* the body */
	const char *expr; /* in it */
};

static void compile_done(struct srv_compiling *x, struct ecap_cbpf *prog)
{
	struct compile_ep *e = (struct compile_ep *)x;
	char *listing = ecap_cbpf_listing(prog);

	srv_json(x->req, 200,
		 json_pack("{s:s,s:i,s:s}", "expression", e->expr, "instructions", (int)prog->len,
			   "listing", listing ? listing : ""));
	free(listing);
}

static void compile_release(struct srv_compiling *x)
{
	json_decref(((struct compile_ep *)x)->j);
}

int srv_filters_compile(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
			char **params)
{
	static const char *const keys[] = {"expression", "snaplen", "linktype", NULL};
	struct compile_ep *e;
	json_t *j = srv_body(req);
	const char *expr, *lt = NULL;
	int64_t snaplen = ECAP_SNAPLEN_DEFAULT;
	int dlt = ECAP_LINKTYPE_EN10MB;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "expression", 1, &expr) ||
	    srv_int_field(req, j, "snaplen", 1, ECAP_SNAPLEN_MAX, &snaplen) ||
	    srv_str_field(req, j, "linktype", 0, &lt)) {
		json_decref(j);
		return 0;
	}
	/* as tcpdump -y: what the devices' interfaces are (LINUX_SLL2 for a
	 * capture of "any") */
	if (lt && (dlt = ecap_linktype_from_name(lt)) < 0) {
		json_decref(j);
		return srv_fail(req, 400, "linktype: EN10MB, RAW, LINUX_SLL or LINUX_SLL2");
	}
	e = (struct compile_ep *)srv_compiling_new(api, req, who, sizeof(*e));
	e->x.linktype = dlt;
	e->j = j; /* the request's from here on */
	e->expr = expr;
	e->x.prefix = ""; /* libpcap's message as it is */
	e->x.done = compile_done;
	e->x.release = compile_release;
	srv_compiling_start(&e->x, expr, (uint32_t)snaplen);
	return 0;
}
