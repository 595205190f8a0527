/* events.c - state as Server-Sent Events, for a page that shows it live:
 *
 *   GET /api/v1/captures/{id}/events  an event `capture` with the capture's
 *       JSON (as GET /api/v1/captures/{id}); the stream ends after the event
 *       that says it is done
 *   GET /api/v1/events/devices        an event `devices` with the
 *       organization's devices (as GET /api/v1/devices, up to
 *       SRV_DEVICES_EVENTS_MAX of them); when only what moves with each
 *       report changed (SEEN_KEYS: last seen, state, the report's time and
 *       clock), an event `seen` with those fields of the devices whose
 *       changed, by name, instead: every device reports each minute, and
 *       the whole list would go again to every page for each report
 *
 * The state comes at once and then whenever it changes, checked every
 * EVENTS_TICK_MS. Each event's id counts the events; a client that
 * reconnects gets the current state at once, so Last-Event-ID needs no
 * replay. A comment every KEEPALIVE_MS keeps proxies from cutting a quiet
 * stream. A stream lasts at most session_idle (10 min at most): EventSource
 * comes back by itself, and a signed-out user or a revoked token is refused
 * then. An organization holds at most EVENTS_ORG_MAX of the server's
 * EVENTS_MAX streams. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

#define KEEPALIVE_MS   15000
#define EVENTS_MAX     64 /* streams open at once on the server */
#define EVENTS_ORG_MAX 16 /* of them, one organization's */
#define EVENTS_LIFE_S_MAX                                                                          \
	600 /* a stream ends after this (or session_idle, if                                       \
	     * shorter): the client comes back and is asked                                        \
	     * again who it is */

/* The state now: 0 with *o (and *done when the stream should end), or -1
 * when it is gone. */
typedef int state_fn(struct srv_api *api, int64_t org, int64_t id, json_t **o, int *done);
/* What to send of the state now, given the last one sent (NULL: none): the
 * event's name with its data in *ret, or NULL when nothing changed. */
typedef const char *delta_fn(json_t *last, json_t *now, json_t **ret);

struct events {
	h2o_generator_t gen;
	struct srv_api *api;
	state_fn *state;
	delta_fn *delta;
	h2o_req_t *req; /* NULL once h2o stopped it */
	int64_t org, id;
	h2o_timeout_entry_t tick;
	h2o_linklist_t link; /* in api->events */
	uint64_t until;	     /* h2o_now: the stream ends */
	json_t *last;	     /* the state last sent */
	uint64_t seq, quiet_ms;
	int inflight, ended;
	struct ecap_buf out;
};

static void send_state(struct events *e);

static void on_tick(h2o_timeout_entry_t *t)
{
	send_state(H2O_STRUCT_FROM_MEMBER(struct events, tick, t));
}

static void rearm(struct events *e)
{
	if (!e->ended && e->req && !h2o_timeout_is_linked(&e->tick))
		h2o_timeout_link(e->api->loop, &e->api->events_tick, &e->tick);
}

/* The state, when it changed (or a keep-alive comment); the end after
 * done. */
static void send_state(struct events *e)
{
	json_t *o = NULL, *data = NULL;
	const char *name = NULL;
	char *text = NULL;
	int done = 0, r;

	if (!e->req || e->inflight) {
		rearm(e);
		return;
	}
	if (web_client_gone(e->req)) {
		h2o_send(e->req, NULL, 0, H2O_SEND_STATE_ERROR);
		e->req = NULL;
		return;
	}
	ecap_buf_reset(&e->out);
	r = e->state(e->api, e->org, e->id, &o, &done);
	if (!r) {
		name = e->delta(e->last, o, &data);
		if (name)
			text = json_dumps(data, JSON_COMPACT);
		json_decref(data);
	}
	if (text) {
		char head[64];
		int n = snprintf(head, sizeof(head), "event: %s\nid: %llu\ndata: ", name,
				 (unsigned long long)++e->seq);

		ecap_buf_put(&e->out, head, (size_t)n);
		ecap_buf_put(&e->out, text, strlen(text));
		ecap_buf_put(&e->out, "\n\n", 2);
		json_decref(e->last);
		e->last = o;
		o = NULL;
		e->quiet_ms = 0;
	} else if ((e->quiet_ms += EVENTS_TICK_MS) >= KEEPALIVE_MS) {
		ecap_buf_put(&e->out, ": keep-alive\n\n", 14);
		e->quiet_ms = 0;
	}
	json_decref(o);
	free(text);
	if (r || h2o_now(e->api->loop) >= e->until) /* deleted meanwhile, or time's up */
		done = 1;
	if (e->out.err) {
		h2o_send(e->req, NULL, 0, H2O_SEND_STATE_ERROR);
		e->req = NULL;
		return;
	}
	e->ended = done;
	if (e->out.len || done) {
		h2o_iovec_t iov = h2o_iovec_init(e->out.data, e->out.len);

		e->inflight = !done;
		h2o_send(e->req, &iov, e->out.len ? 1 : 0,
			 done ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
		if (done)
			e->req = NULL;
		return;
	}
	rearm(e);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct events *e = H2O_STRUCT_FROM_MEMBER(struct events, gen, gen);

	e->inflight = 0;
	rearm(e);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct events *e = H2O_STRUCT_FROM_MEMBER(struct events, gen, gen);

	e->req = NULL;
}

static void dispose(void *p)
{
	struct events *e = p;

	if (h2o_timeout_is_linked(&e->tick))
		h2o_timeout_unlink(&e->tick);
	json_decref(e->last);
	ecap_buf_free(&e->out);
	h2o_linklist_unlink(&e->link);
	e->api->events_open--;
}

static int capture_state(struct srv_api *api, int64_t org, int64_t id, json_t **o, int *done)
{
	if (srv_capture_state_json(api, org, id, o))
		return -1;
	*done = !strcmp(json_string_value(json_object_get(*o, "state")), "done");
	return 0;
}

static const char *capture_delta(json_t *last, json_t *now, json_t **ret)
{
	if (last && json_equal(last, now))
		return NULL;
	*ret = json_incref(now);
	return "capture";
}

static int devices_state(struct srv_api *api, int64_t org, int64_t id, json_t **o, int *done)
{
	*done = 0;
	return srv_devices_state_json(api, org, o);
}

/* A device's fields that move with each report (service/reports.c), and
 * with time: those a `seen` event carries. */
static const char *const SEEN_KEYS[] = {"last_seen",   "state",		  "offline_since",
					"reported_at", "clock_offset_ms", "clock_rtt_ms"};

/* Whether two devices differ in a field other than SEEN_KEYS. */
static int differ_but_seen(json_t *a, json_t *b)
{
	const char *k;
	json_t *v;

	if (json_object_size(a) != json_object_size(b))
		return 1;
	json_object_foreach(a, k, v) {
		size_t i = 0;

		while (i < sizeof(SEEN_KEYS) / sizeof(SEEN_KEYS[0]) && strcmp(k, SEEN_KEYS[i]))
			i++;
		if (i == sizeof(SEEN_KEYS) / sizeof(SEEN_KEYS[0]) &&
		    !json_equal(v, json_object_get(b, k)))
			return 1;
	}
	return 0;
}

/* The whole list when a device came, went or changed in more than
 * SEEN_KEYS (both lists are by name); else the devices whose SEEN_KEYS
 * changed, with their name and those fields only. */
static const char *devices_delta(json_t *last, json_t *now, json_t **ret)
{
	json_t *seen, *d;
	size_t i;

	if (!last || json_array_size(last) != json_array_size(now))
		goto all;
	json_array_foreach(now, i, d) {
		json_t *was = json_array_get(last, i);

		if (!json_equal(json_object_get(d, "name"), json_object_get(was, "name")) ||
		    differ_but_seen(d, was))
			goto all;
	}
	seen = json_array();
	json_array_foreach(now, i, d) {
		json_t *was = json_array_get(last, i), *o;

		if (json_equal(d, was))
			continue;
		o = json_object();
		json_object_set(o, "name", json_object_get(d, "name"));
		for (size_t k = 0; k < sizeof(SEEN_KEYS) / sizeof(SEEN_KEYS[0]); k++)
			json_object_set(o, SEEN_KEYS[k], json_object_get(d, SEEN_KEYS[k]));
		json_array_append_new(seen, o);
	}
	if (!json_array_size(seen)) {
		json_decref(seen);
		return NULL;
	}
	*ret = seen;
	return "seen";
all:
	*ret = json_incref(now);
	return "devices";
}

static int stream(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, int64_t id,
		  state_fn *state, delta_fn *delta)
{
	struct events *e;
	unsigned mine = 0;
	int64_t life =
	    api->session_idle_s < EVENTS_LIFE_S_MAX ? api->session_idle_s : EVENTS_LIFE_S_MAX;

	for (h2o_linklist_t *l = api->events.next; l != &api->events; l = l->next)
		mine += H2O_STRUCT_FROM_MEMBER(struct events, link, l)->org == who->org;
	if (mine >= EVENTS_ORG_MAX)
		return srv_fail(req, 503,
				"this organization follows %u event streams already, the most "
				"it may",
				mine);
	if (api->events_open >= EVENTS_MAX)
		return srv_fail(req, 503,
				"the server streams %u event streams already, the most it may",
				api->events_open);
	e = h2o_mem_alloc_shared(&req->pool, sizeof(*e), dispose);
	memset(e, 0, sizeof(*e));
	e->api = api;
	e->state = state;
	e->delta = delta;
	e->req = req;
	e->org = who->org;
	e->id = id;
	e->until = h2o_now(api->loop) + (uint64_t)life * 1000;
	h2o_linklist_insert(&api->events, &e->link);
	e->tick.cb = on_tick;
	e->gen.proceed = on_proceed;
	e->gen.stop = on_stop;
	api->events_open++;
	web_start_200(req, "text/event-stream", &e->gen);
	send_state(e);
	return 0;
}

int srv_capture_events(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       char **params)
{
	char *end;
	long long id = strtoll(params[0], &end, 10);
	json_t *o;

	if (*end || id <= 0 || srv_capture_state_json(api, who->org, id, &o))
		return srv_fail(req, 404, "no capture '%s'", params[0]);
	json_decref(o);
	return stream(api, req, who, id, capture_state, capture_delta);
}

int srv_devices_events(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       char **params)
{
	return stream(api, req, who, 0, devices_state, devices_delta);
}
