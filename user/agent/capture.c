/* capture.c - GET /v1/capture: one capture session, streamed as chunked
 * pcapng while it runs.
 *
 * A capture owns a session id from its request until h2o frees the request's
 * pool: the stream's bytes handed to h2o stay valid until then, however the
 * response ended. Ending comes three ways: the streamer reaches a limit (or
 * the agent stops, or the client shuts its side of the connection: a hangup
 * seen on the socket, which h2o does not read during a response) and sends
 * the statistics and the final chunk; the client is gone (h2o's stop); or
 * sending fails. The session leaves the hooks at once in each case; the slot
 * is reaped when the pool goes.
 *
 * Starting waits for the session's program: loader.c loads it with the
 * running sessions' on its own thread, one capture at a time, while the loop
 * goes on; then the stream is added, the programs installed and the response
 * started. Leaving the hooks is a bit in a map (ecap_engine_sessions_off),
 * at once; the programs without the session are loaded afterwards. A slot
 * whose session is in a job under way is not reaped until the job is done,
 * so the job's filters stay valid and no new session gets an old one's code.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "capture/engine.h"
#include "filter/filter.h"
#include "agent/params.h"

#define LIVENESS_MS 250 /* a client's hangup is noticed within this */

/* The next job for the loader, if it is idle: the first capture waiting
 * with the sessions on the hooks, else those alone once some went off. */
static void kick(struct agent *a)
{
	struct ecap_session s[ECAP_MAX_SESSIONS];
	struct capture *add = NULL;
	unsigned n = 0;

	if (a->job || !a->loader || (!a->nwait && !a->resync))
		return;
	if (a->nwait) {
		add = &a->cap[a->waitq[0]];
		memmove(a->waitq, a->waitq + 1, --a->nwait);
	}
	a->resync = 0;
	a->job_ids = 0;
	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++) {
		if (a->cap[i].active && a->cap[i].on_hooks) {
			s[n++] = a->cap[i].sess;
			a->job_ids |= 1u << i;
		}
	}
	if (add) {
		s[n++] = add->sess;
		a->job_ids |= 1u << add->id;
	}
	a->job_new = add ? add->id : -1;
	a->job = 1;
	agent_loader_submit(a, s, n);
}

static int in_job(const struct agent *a, const struct capture *c)
{
	return a->job && (a->job_ids & (1u << c->id));
}

int agent_captures_active(const struct agent *a)
{
	int n = 0;

	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++)
		n += a->cap[i].active;
	return n;
}

/* "capture 42 (session 0)" when the server named it, else "session 0": the
 * server logs its id, so one capture reads the same on both sides. */
static const char *label(const struct capture *c, char ret[48])
{
	if (c->server_id)
		snprintf(ret, 48, "capture %llu (session %u)", (unsigned long long)c->server_id,
			 c->id);
	else
		snprintf(ret, 48, "session %u", c->id);
	return ret;
}

static void off_hooks(struct capture *c)
{
	char name[48];
	int r;

	if (!c->on_hooks)
		return;
	c->on_hooks = 0;
	r = ecap_engine_sessions_off(c->a->engine, 1u << c->id);
	if (r)
		ecap_log(LOG_ERR, "%s: taking it off the hooks: %s", label(c, name), strerror(-r));
	c->a->resync = 1;
	kick(c->a);
}

void agent_capture_end(void *ctx, uint8_t session)
{
	struct agent *a = ctx;
	struct capture *c = &a->cap[session];

	if (!c->why)
		c->why = a->stopping ? "agent stopping" : "limit reached";
	off_hooks(c);
}

/* Hand h2o the batch the streamer gave us, when h2o can take one. */
static void pump(struct capture *c)
{
	h2o_req_t *req = c->req;
	h2o_send_state_t state;

	if (!c->pend_state || !c->started || c->in_flight || !req)
		return;
	state = (h2o_send_state_t)(c->pend_state - 1);
	c->pend_state = 0;
	if (state == H2O_SEND_STATE_IN_PROGRESS)
		c->in_flight = 1;
	else
		c->req = NULL; /* h2o frees the request after this */
	h2o_send(req, &c->pend, c->pend.len ? 1 : 0, state);
}

static void on_ready(void *ctx, uint8_t session, const void *data, size_t len, int last)
{
	struct capture *c = ctx;

	c->pend = h2o_iovec_init(data, len);
	c->pend_state = 1 + (last < 0 ? H2O_SEND_STATE_ERROR
			     : last   ? H2O_SEND_STATE_FINAL
				      : H2O_SEND_STATE_IN_PROGRESS);
	pump(c);
}

static void client_gone(struct capture *c, const char *why)
{
	if (c->gone)
		return;
	c->gone = 1;
	if (!c->why)
		c->why = why;
	off_hooks(c);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
	struct capture *c = H2O_STRUCT_FROM_MEMBER(struct capture, gen, g);

	c->in_flight = 0;
	if (!c->gone)
		ecap_streamer_release(c->a->streamer, c->id); /* may hand over the next */
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
	struct capture *c = H2O_STRUCT_FROM_MEMBER(struct capture, gen, g);

	c->req = NULL;
	c->in_flight = 0;
	client_gone(c, "client went away");
}

static void reset(struct capture *c)
{
	struct agent *a = c->a;

	if (c->waiting) /* still in the queue (not in a job: see reap) */
		for (unsigned i = 0; i < a->nwait; i++)
			if (a->waitq[i] == c->id)
				memmove(a->waitq + i, a->waitq + i + 1, --a->nwait - i);
	ecap_cbpf_free(&c->prog);
	*c = (struct capture){.a = c->a, .id = c->id};
}

static void on_dispose(void *p)
{
	struct capture *c = *(struct capture **)p;
	struct agent *a = c->a;

	c->disposed = 1;
	c->req = NULL;
	if (!h2o_timeout_is_linked(&a->reap_entry))
		h2o_timeout_link(a->site.ctx.loop, &a->site.ctx.zero_timeout, &a->reap_entry);
}

static void reap(h2o_timeout_entry_t *entry)
{
	struct agent *a = H2O_STRUCT_FROM_MEMBER(struct agent, reap_entry, entry);
	char name[48];

	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct capture *c = &a->cap[i];
		struct ecap_stream_stats s = {0};
		struct ecap_counters sums[ECAP_MAX_SESSION_IFACES] = {0};

		if (!c->active || !c->disposed)
			continue;
		off_hooks(c);
		if (in_job(a, c)) /* reaped once the job is done */
			continue;
		if (!c->started) { /* refused, or gone while it waited */
			reset(c);
			continue;
		}
		ecap_streamer_stats(a->streamer, c->id, &s);
		/* its final counts stay in the agent's totals (metrics) */
		agent_capture_counters(a, c, sums);
		for (unsigned k = 0; k < a->nifaces; k++)
			ecap_counters_add(&a->ifaces[k].ended, &sums[k]);
		a->osdropped_ended += s.osdropped;
		ecap_log(LOG_INFO,
			 "%s for %s ended (%s): %llu packets written, %llu matched, "
			 "%llu dropped (ring full), %llu dropped (reader too slow)",
			 label(c, name), c->peer, c->why ? c->why : "client went away",
			 (unsigned long long)s.written, (unsigned long long)s.matched,
			 (unsigned long long)s.dropped, (unsigned long long)s.osdropped);
		ecap_streamer_remove(a->streamer, c->id);
		reset(c);
	}
}

/* Clients that hung up (web_client_gone). */
static void liveness(h2o_timeout_entry_t *entry)
{
	struct agent *a = H2O_STRUCT_FROM_MEMBER(struct agent, liveness_entry, entry);

	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct capture *c = &a->cap[i];

		if (!c->active || !c->req || c->gone || !c->on_hooks)
			continue;
		if (web_client_gone(c->req)) {
			/* the client shut its side, as the server does to stop a
			 * capture: end as at a limit, with the statistics. A client
			 * that is gone altogether fails the send (on_stop). */
			if (!c->why)
				c->why = "client closed the connection";
			ecap_streamer_end(a->streamer, c->id);
		}
	}
	h2o_timeout_link(a->site.ctx.loop, &a->liveness, entry);
}

/* The interfaces asked for (default: every one served), into c. 0, or the
 * 400 is sent. */
static int pick_ifaces(struct agent *a, h2o_req_t *req, const struct agent_params *p,
		       struct capture *c)
{
	unsigned n = p->nifaces ? p->nifaces : a->nifaces;

	/* tcpdump -i any's records; where tcpdump writes one interface block
	 * named any, each interface keeps its own, so that a merged file and
	 * the page say which device's interface a packet crossed */
	if (p->any) {
		for (unsigned i = 0; i < a->nifaces; i++) {
			if (!a->ifaces[i].cooked.ifindex) {
				web_error(req, 400, "iface: any: %s", a->ifaces[i].uncooked);
				return -1;
			}
			c->cooked[i] = a->ifaces[i].cooked;
			c->ifaces[i] = (struct ecap_stream_iface){
			    .ifindex = a->ifaces[i].ifindex,
			    .linktype = ecap_linktype_of_dlt(ECAP_LINKTYPE_LINUX_SLL2)->file};
			strcpy(c->ifaces[i].name, a->ifaces[i].name);
		}
		c->opts.nifaces = a->nifaces;
		return 0;
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned i = k;

		if (p->nifaces)
			for (i = 0; i < a->nifaces && strcmp(a->ifaces[i].name, p->ifaces[k]); i++)
				;
		if (i == a->nifaces) {
			web_error(req, 400, "iface: '%s' is not served by this agent",
				  p->ifaces[k]);
			return -1;
		}
		/* the program reads the packets as the link type it was
		 * compiled for: one the interface does not have would match
		 * the wrong bytes, so the server is told to compile again */
		if (a->ifaces[i].lt.dlt != p->linktype) {
			web_error(req, 400,
				  "linktype: %s is %s, the filter was compiled for %s (compile it "
				  "for %s)",
				  a->ifaces[i].name, a->ifaces[i].lt.name,
				  ecap_linktype_of_dlt(p->linktype)->name, a->ifaces[i].lt.name);
			return -1;
		}
		c->cooked[k] = a->ifaces[i].cooked; /* LINUX_SLL's header */
		c->ifaces[k].ifindex = a->ifaces[i].ifindex;
		c->ifaces[k].linktype = a->ifaces[i].lt.file;
		strcpy(c->ifaces[k].name, a->ifaces[i].name);
	}
	c->opts.nifaces = n;
	return 0;
}

const char *agent_dir_name(unsigned dirs)
{
	return dirs == ECAP_DIR_IN ? "in" : dirs == ECAP_DIR_OUT ? "out" : "inout";
}

/* The server's id for the capture (Edgecap-Capture: 1..2^53), for the logs;
 * 0 when absent or not such a number. Not signed: it names, it decides
 * nothing. */
static uint64_t capture_header(h2o_req_t *req)
{
	ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("edgecap-capture"), -1);
	unsigned long long v;
	char buf[24], *end;
	h2o_iovec_t h;

	if (i < 0)
		return 0;
	h = req->headers.entries[i].value;
	if (!h.len || h.len >= sizeof(buf) || h.base[0] < '0' || h.base[0] > '9')
		return 0;
	memcpy(buf, h.base, h.len);
	buf[h.len] = 0;
	v = strtoull(buf, &end, 10);
	return *end || v > (1ull << 53) ? 0 : v;
}

void agent_capture_counters(struct agent *a, const struct capture *c, struct ecap_counters *sums)
{
	static const unsigned hooks[] = {ECAP_HOOK_ID_XDP, ECAP_HOOK_ID_TC_IN, ECAP_HOOK_ID_TC_OUT};

	for (unsigned pos = 0; pos < c->opts.nifaces; pos++) {
		unsigned k = 0;

		while (k < a->nifaces && a->ifaces[k].ifindex != c->ifaces[pos].ifindex)
			k++;
		for (unsigned h = 0; k < a->nifaces && h < sizeof(hooks) / sizeof(hooks[0]); h++) {
			struct ecap_counters n;

			if (!ecap_engine_counters(a->engine, c->id, hooks[h], pos, &n))
				ecap_counters_add(&sums[k], &n);
		}
	}
}

static int on_req(struct agent *a, h2o_req_t *req)
{
	struct capture *c = NULL, **ref;
	struct agent_params p;
	char err[ECAP_ERRLEN];
	int r;

	r = req->query_at == SIZE_MAX
		? agent_params_parse("", 0, &p, err, sizeof(err))
		: agent_params_parse(req->path.base + req->query_at + 1,
				     req->path.len - req->query_at - 1, &p, err, sizeof(err));
	if (r)
		return web_error(req, r == -EINVAL ? 400 : 500, "%s", err);
	if (a->stopping) {
		agent_params_free(&p);
		return web_error(req, 503, "the agent is stopping");
	}
	for (unsigned i = 0; i < ECAP_MAX_SESSIONS && !c; i++)
		if (!a->cap[i].active)
			c = &a->cap[i];
	if (!c) {
		agent_params_free(&p);
		return web_error(req, 503, "%d captures are running already", ECAP_MAX_SESSIONS);
	}
	c->prog = p.prog; /* the capture owns the program from here */
	c->server_id = capture_header(req);
	if (pick_ifaces(a, req, &p, c))
		return reset(c), 0;

	if (a->nwait + (a->job_new >= 0) >= AGENT_LOAD_WAITING) {
		reset(c);
		return web_error(
		    req, 503,
		    "%d captures are waiting for the kernel's verifier already; try again "
		    "later",
		    AGENT_LOAD_WAITING);
	}
	c->active = 1;
	c->why = NULL;
	c->sess = (struct ecap_session){.id = c->id,
					.insns = c->prog.insns,
					.len = c->prog.len,
					.snaplen = p.snaplen,
					.dirs = p.dirs,
					.nifindex = c->opts.nifaces};
	for (unsigned i = 0; i < c->sess.nifindex; i++) /* counters per position */
		c->sess.ifindex[i] = c->ifaces[i].ifindex;
	if (p.any || p.linktype == ECAP_LINKTYPE_LINUX_SLL) { /* the hooks make the header */
		c->sess.cooked = c->cooked;
		c->sess.ncooked = c->opts.nifaces;
		c->sess.cooked_v1 = !p.any;
		/* as libpcap's: room for a cooked header and a byte */
		if (c->sess.snaplen < ECAP_SLL2_LEN + 1)
			c->sess.snaplen = p.snaplen = ECAP_SLL2_LEN + 1;
	}
	c->opts = (struct ecap_stream_opts){.out_fd = -1,
					    .ready = on_ready,
					    .ready_ctx = c,
					    .session = c->id,
					    .snaplen = p.snaplen,
					    .dirs = p.dirs,
					    .ifaces = c->ifaces,
					    .nifaces = c->opts.nifaces,
					    .count = p.count,
					    .duration_s = p.duration,
					    .userappl = "edgecap-agent " EDGECAP_VERSION};
	web_peer(req, c->peer, sizeof(c->peer));
	ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_dispose);
	*ref = c;
	c->req = req;
	/* the answer comes once the program is loaded (agent_sessions_loaded) */
	c->waiting = 1;
	a->waitq[a->nwait++] = c->id;
	kick(a);
	return 0;
}

/* The program of the capture c is refused (r, err), or c is not wanted any
 * more: its answer, if its client still waits. */
static void refuse(struct capture *c, int r, const char *err)
{
	h2o_req_t *req = c->req;

	c->req = NULL;
	if (!req || c->disposed)
		return;
	c->a->captures_refused++;
	if (c->a->stopping)
		web_error(req, 503, "the agent is stopping");
	/* a program the kernel's limits refuse is the request's problem */
	else if (r == -E2BIG || r == -EINVAL || r == -EACCES)
		web_error(req, 400, "bpf: %s", err);
	else
		web_error(req, 500, "%s", err);
}

static void start(struct capture *c)
{
	struct agent *a = c->a;
	h2o_req_t *req = c->req;
	char name[48];

	c->started_at = time(NULL);
	c->gen = (h2o_generator_t){on_proceed, on_stop};
	web_start_200(req, "application/x-pcapng", &c->gen);
	c->started = 1;
	a->captures_started++;
	ecap_log(LOG_INFO,
		 "%s for %s: %u interface(s), %s, snaplen %u, count %llu, "
		 "duration %u s, %u instructions",
		 label(c, name), c->peer, c->opts.nifaces, agent_dir_name(c->opts.dirs),
		 c->opts.snaplen, (unsigned long long)c->opts.count, c->opts.duration_s,
		 c->prog.len);
	pump(c);
}

void agent_sessions_loaded(struct agent *a, int r, int fds[ECAP_LOAD_FDS], const char *err)
{
	struct capture *c = a->job_new >= 0 ? &a->cap[a->job_new] : NULL;
	char ierr[ECAP_ERRLEN];
	uint32_t on = 0;

	a->job = 0;
	a->job_new = -1;
	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++)
		if (a->cap[i].active && a->cap[i].on_hooks && (a->job_ids & (1u << i)))
			on |= 1u << i;
	if (c)
		c->waiting = 0;
	if (r) {
		if (c)
			refuse(c, r, err);
		else
			ecap_log(LOG_ERR, "loading the sessions' programs: %s", err);
		goto out;
	}
	if (c && (c->disposed || a->stopping)) {
		refuse(c, -ECANCELED, "");
	} else if (c) {
		/* the stream first, so it is there for the first record; its
		 * header waits in pend until the response starts */
		r = ecap_streamer_add(a->streamer, &c->opts, ierr, sizeof(ierr));
		if (r)
			refuse(c, -EIO, ierr);
		else
			on |= 1u << c->id;
	}
	/* the sessions that ended meanwhile are off: their code stays, unused */
	r = ecap_engine_install_sessions(a->engine, fds, on, ierr, sizeof(ierr));
	if (r && c && (on & (1u << c->id))) {
		ecap_streamer_remove(a->streamer, c->id);
		refuse(c, r, ierr);
	} else if (r) {
		ecap_log(LOG_ERR, "installing the sessions' programs: %s", ierr);
	} else if (c && (on & (1u << c->id))) {
		c->on_hooks = 1;
		start(c);
	}
out:
	/* slots the job held may be reaped now */
	if (!h2o_timeout_is_linked(&a->reap_entry))
		h2o_timeout_link(a->site.ctx.loop, &a->site.ctx.zero_timeout, &a->reap_entry);
	kick(a);
}

void agent_captures_stop_waiting(struct agent *a)
{
	while (a->nwait) {
		struct capture *c = &a->cap[a->waitq[0]];

		memmove(a->waitq, a->waitq + 1, --a->nwait);
		c->waiting = 0;
		refuse(c, -ECANCELED, "");
	}
}

int agent_capture_init(struct agent *a, h2o_hostconf_t *host)
{
	agent_route(a, host, "/v1/capture", on_req);
	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++)
		a->cap[i] = (struct capture){.a = a, .id = (uint8_t)i};
	a->job_new = -1;
	a->reap_entry.cb = reap;
	a->liveness_entry.cb = liveness;
	return 0;
}

/* Armed once the event loop exists (main). */
void agent_capture_start_timers(struct agent *a)
{
	h2o_timeout_init(a->site.ctx.loop, &a->liveness, LIVENESS_MS);
	h2o_timeout_link(a->site.ctx.loop, &a->liveness, &a->liveness_entry);
}
