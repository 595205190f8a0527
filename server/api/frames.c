/* frames.c - a capture seen through Wireshark's engine (service/sharkd.h),
 * for the page's packet detail and display filter:
 *
 *   GET /api/v1/captures/{id}/frames?filter=F   the numbers of the packets
 *       that match display filter F, in the capture as far as it is written
 *       (400 with Wireshark's message for a filter it refuses)
 *   GET /api/v1/captures/{id}/frames/{n}        packet n's protocol tree
 *       (labels, byte ranges, children) and its bytes (base64)
 *
 * Both read the capture's packets, so they take what a download takes
 * (viewers only where the organization allows). A packet's number is its
 * place in the merged capture, as in the packets stream and the file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "service/sharkd.h"

#define FILTER_MAX 2048

struct ask {
	h2o_req_t *req; /* NULL: the client is gone */
	struct srv_api *api;
	struct srv_sharkd_call *call;
	uint64_t key;
	char path[512];
	char filter[FILTER_MAX];
	uint64_t frame;
};

static void on_dispose(void *p)
{
	struct ask *a = p;

	if (a->call)
		srv_sharkd_cancel(a->call);
}

/* An answer that is not the packets': the status that says why. */
static void fail(struct ask *a, int code, const char *msg)
{
	a->call = NULL;
	if (code == -ETIME)
		srv_fail(a->req, 504, "%s", msg);
	else if (code == -EIO || code == -ECANCELED)
		srv_fail(a->req, 502, "%s", msg);
	else if (a->frame)
		srv_fail(a->req, 404, "frame %llu: %s", (unsigned long long)a->frame, msg);
	else
		srv_fail(a->req, 400, "filter: %s", msg);
}

static void on_frames(void *data, json_t *result, int code, const char *msg)
{
	struct ask *a = data;
	json_t *nums, *e;
	size_t i;

	a->call = NULL;
	if (!result)
		return fail(a, code, msg);
	nums = json_array();
	json_array_foreach(result, i, e) {
		json_t *n = json_object_get(e, "num");

		if (json_is_integer(n))
			json_array_append(nums, n);
	}
	srv_json(a->req, 200,
		 json_pack("{s:s,s:I,s:o}", "filter", a->filter, "count",
			   (json_int_t)json_array_size(nums), "frames", nums));
}

static int ask(struct ask *a, const char *method, json_t *params, srv_sharkd_cb *cb)
{
	char err[512];
	int r = srv_sharkd_call(a->api->sharkd, a->key, a->path, method, params, cb, a, &a->call,
				err, sizeof(err));

	if (r == -EBUSY) {
		h2o_add_header(&a->req->pool, &a->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
			       H2O_STRLIT("5"));
		return srv_fail(a->req, 503, "%s", err);
	}
	if (r == -ENOENT)
		return srv_fail(a->req, 410, "its file is gone");
	if (r)
		return srv_fail(a->req, 503, "%s", err);
	return 0;
}

static void on_check(void *data, json_t *result, int code, const char *msg)
{
	struct ask *a = data;

	a->call = NULL;
	if (!result)
		return fail(a, code, msg);
	ask(a, "frames", json_pack("{s:s,s:s}", "filter", a->filter, "column0", "frame.number:0"),
	    on_frames);
}

static void on_frame(void *data, json_t *result, int code, const char *msg)
{
	struct ask *a = data;

	a->call = NULL;
	if (!result)
		return fail(a, code, msg);
	srv_json(a->req, 200,
		 json_pack("{s:I,s:O,s:O}", "n", (json_int_t)a->frame, "tree",
			   json_object_get(result, "tree") ?: json_null(), "bytes",
			   json_object_get(result, "bytes") ?: json_null()));
}

/* The capture's file and the call's context, or -1 with the refusal sent. */
static struct ask *begin(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
			 const char *ids)
{
	int64_t id = srv_capture_id(ids);
	struct ask *a;

	if (srv_may_download(req, who))
		return NULL;
	if (!api->sharkd) {
		srv_fail(req, 503, "%s", api->sharkd_off);
		return NULL;
	}
	a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), on_dispose);
	memset(a, 0, sizeof(*a));
	a->req = req;
	a->api = api;
	a->key = (uint64_t)id;
	if (!id || reg_capture_file(api->reg, who->org, id, a->path, sizeof(a->path))) {
		srv_fail(req, 404, "no capture %s", ids);
		return NULL;
	}
	return a;
}

int srv_capture_frames(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       char **params)
{
	struct ask *a = begin(api, req, who, params[0]);

	if (!a)
		return 0;
	if (srv_query(req, "filter", a->filter, sizeof(a->filter)) || !a->filter[0])
		return srv_fail(req, 400, "filter: want a display filter (Wireshark's syntax)");
	if (strlen(a->filter) >= sizeof(a->filter) - 1)
		return srv_fail(req, 400, "filter: longer than %d bytes", FILTER_MAX - 2);
	json_t *check = json_pack("{s:s}", "filter", a->filter);

	if (!check) /* jansson takes UTF-8 only */
		return srv_fail(req, 400, "filter: not UTF-8 text");
	return ask(a, "check", check, on_check);
}

int srv_capture_frame(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		      char **params)
{
	struct ask *a = begin(api, req, who, params[0]);
	char *end;
	unsigned long long n;

	if (!a)
		return 0;
	n = strtoull(params[1], &end, 10);
	if (*end || !n || n > INT32_MAX || params[1][0] < '1' || params[1][0] > '9')
		return srv_fail(req, 400, "frame: want a packet number from 1");
	a->frame = n;
	return ask(a, "frame",
		   json_pack("{s:I,s:b,s:b}", "frame", (json_int_t)n, "proto", 1, "bytes", 1),
		   on_frame);
}
