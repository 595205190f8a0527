/* captures.c - the organization's captures, and their readers:
 *
 *   GET    /api/v1/captures                list
 *   POST   /api/v1/captures                start (capture_start.c)
 *   GET    /api/v1/captures/ID             status, per device
 *   POST   /api/v1/captures/ID/stop        stop a running one
 *   DELETE /api/v1/captures/ID             remove a finished one, file and all
 *   GET    /api/v1/captures/ID/pcap        merged pcapng, live
 *   GET    /api/v1/captures/ID/text        tcpdump -nn -tt lines, live, each
 *                                           prefixed with its device
 *
 * A reader follows the capture's output as it grows (the capture wakes it),
 * from the start, and ends with it: sent from the capture's memory while
 * it still holds the bytes (srv_capture_peek: the same slabs the devices'
 * streams were read into, up to SEND_MAX a send), else read from its file,
 * which has everything memory has let go of; a finished capture is read
 * from its file alone. h2o does not read an HTTP/1 connection while it
 * answers, so a reader that hangs up during a quiet spell is looked for
 * every READER_CHECK_MS: the last reader leaving stops its capture.
 *
 * A text reader feeds the same bytes to tcpdump's own printers
 * (core/textprint.h: confined child processes) and sends their lines; a
 * finished capture's file is read by the printer itself. At most
 * text_readers_max of them run on the server at once. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/co.h"
#include "service/instance.h"
#include "common/bounds.h"
#include "print/textprint.h"
#include "filter/cbpf.h"
#include "filter/compile.h"

#define READ_CHUNK	(256u << 10) /* from the file, a send */
#define SEND_MAX	(2u << 20)   /* from memory, a send */
#define SEND_PIECES	1024	     /* IOV_MAX: h2o writes them in one writev */
#define READER_CHECK_MS 100
#define ROWS		2 /* srv_reader.text: packets as events */
/* A page's packet events that drop are waited for this long before the
 * capture stops for want of a reader: EventSource tries again after 3 s,
 * and a brief outage (a proxy's restart, a network change) takes a few. */
#define ROWS_BACK_MS 15000

struct srv_reader {
	struct srv_capture_watch watch;
	struct srv_api *api;
	struct srv_capture *l; /* NULL: a finished capture, read from its file */
	int64_t org, id;
	h2o_req_t *req; /* NULL once final or gone */
	h2o_generator_t gen;
	int fd;
	uint64_t off;
	int text; /* 1: text lines; ROWS: Server-Sent Events, a packet each */
	int inflight;
	struct ecap_slab *pins[SEND_PIECES]; /* the send's, from memory */
	size_t npins, pinned;
	struct ecap_buf out;
	uint8_t *chunk;
	struct srv_tp *tp;	 /* text: tcpdump's printers */
	h2o_socket_t *tps;	 /* readable: tp has work */
	uint64_t quiet;		 /* text: lines of packets already sent */
	struct srv_reader *next; /* api->readers: every reader */
};

static json_t *capture_json(const struct reg_capture *c)
{
	json_t *devs = json_array(), *req = json_loads(c->request, 0, NULL);

	for (size_t i = 0; i < c->ndevs; i++) {
		const struct reg_capture_device *d = &c->devs[i];

		json_array_append_new(
		    devs,
		    json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:o}", "device", d->device,
			      "state", d->state, "error",
			      d->error ? json_string(d->error) : json_null(), "bytes",
			      (json_int_t)d->bytes, "packets", (json_int_t)d->packets, "duplicates",
			      (json_int_t)d->duplicates, "dropped", (json_int_t)d->dropped, "clock",
			      d->clock ? json_string(d->clock) : json_null()));
	}
	char created[32], ended[32];

	srv_iso_time(c->created * 1000, created, sizeof(created));
	srv_iso_time(c->ended * 1000, ended, sizeof(ended));
	return json_pack("{s:I, s:s, s:o, s:I, s:I, s:I, s:s, s:o, s:o, s:o, s:I, s:b, s:s, s:o}",
			 "id", (json_int_t)c->id, "state", c->state, "request",
			 req ? req : json_null(), "merged", (json_int_t)c->merged, "duplicates",
			 (json_int_t)c->duplicates, "late", (json_int_t)c->late, "created", created,
			 "ended", c->ended ? json_string(ended) : json_null(), "ended_by",
			 c->ended_by ? json_string(c->ended_by) : json_null(), "error",
			 c->error ? json_string(c->error) : json_null(), "stored",
			 (json_int_t)c->stored, "file_lost", c->lost, "user", c->user, "devices",
			 devs);
}

int srv_capture_state_json(struct srv_api *api, int64_t org, int64_t id, json_t **ret)
{
	struct reg_capture *c = NULL;
	size_t n = 0;
	int r = reg_captures_list(api->reg, org, id, &c, &n);

	if (r)
		return r;
	*ret = capture_json(&c[0]);
	reg_captures_free(c, n);
	return 0;
}

int srv_capture_reply(struct srv_api *api, h2o_req_t *req, int64_t org, int64_t id, int status)
{
	json_t *o;
	int r = srv_capture_state_json(api, org, id, &o);

	if (r == -ENOENT)
		return srv_fail(req, 404, "no capture %lld", (long long)id);
	if (r)
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	return srv_json(req, status, o);
}

int64_t srv_capture_id(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	return (*end || v <= 0 || !isdigit((unsigned char)*s)) ? 0 : v;
}

int srv_captures_list(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		      char **params)
{
	struct reg_capture *c = NULL;
	struct reg_capture_filter f = {0};
	char cursor[SRV_CURSOR_MAX + 1], next[24], state[16], device[REG_NAME_MAX + 1];
	char user[REG_EMAIL_MAX + 1];
	size_t n = 0, limit;
	json_t *a;

	if (srv_page(req, &limit, cursor))
		return 0;
	if (cursor[0] && !srv_capture_id(cursor))
		return srv_fail(req, 400, "cursor: not one of this server's (from a Link header)");
	if (!srv_query(req, "state", state, sizeof(state))) {
		if (strcmp(state, "running") && strcmp(state, "done"))
			return srv_fail(req, 400, "state: running or done");
		f.state = state;
	}
	if (!srv_query(req, "device", device, sizeof(device)))
		f.device = device;
	if (!srv_query(req, "user", user, sizeof(user)))
		f.user = user;
	if (srv_time_range(req, &f.since, &f.until))
		return 0;
	/* (ms; a capture's created is in s: a time within its second is after it) */
	f.since = (f.since + 999) / 1000;
	f.until = (f.until + 999) / 1000;
	/* one more than the page: whether there is a next */
	if (reg_captures_page(api->reg, who->org, cursor[0] ? srv_capture_id(cursor) : 0, limit + 1,
			      &f, &c, &n))
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	a = json_array();
	for (size_t i = 0; i < n && i < limit; i++)
		json_array_append_new(a, capture_json(&c[i]));
	if (n > limit) {
		snprintf(next, sizeof(next), "%lld", (long long)c[limit - 1].id);
		srv_page_next(req, limit, next);
	}
	reg_captures_free(c, n);
	return srv_json(req, 200, a);
}

int srv_capture_get(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	int64_t id = srv_capture_id(params[0]);

	if (!id)
		return srv_fail(req, 404, "no capture '%s'", params[0]);
	return srv_capture_reply(api, req, who->org, id, 200);
}

void srv_capture_audit(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       const char *action, int64_t id, json_t *detail)
{
	char target[32];

	snprintf(target, sizeof(target), "capture %lld", (long long)id);
	srv_audit(api, req, who, action, target, detail);
}

int srv_capture_stop_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
			char **params)
{
	int64_t id = srv_capture_id(params[0]);
	char file[8];
	int status, r;

	if (!id || reg_capture_file(api->reg, who->org, id, file, sizeof(file)))
		return srv_fail(req, 404, "no capture '%s'", params[0]);
	/* here, or asked of the server that runs it: it reads the ask within
	 * a second (202 until then) */
	if (!srv_capture_stop(api->captures, who->org, id))
		status = 200;
	else if (!(r = reg_capture_ask_stop(api->reg, who->org, id)))
		status = 202;
	else if (r == -ENOENT)
		return srv_fail(req, 409, "capture %lld has ended", (long long)id);
	else
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	ecap_log(LOG_INFO, "%s/%s stopped capture %lld%s", who->org_name, who->name, (long long)id,
		 status == 202 ? " (run by another server)" : "");
	srv_capture_audit(api, req, who, "capture_stopped", id, NULL);
	return srv_capture_reply(api, req, who->org, id, status);
}

int srv_capture_delete(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       char **params)
{
	int64_t id = srv_capture_id(params[0]);
	struct srv_capture *l;
	int r;

	if (!id)
		return srv_fail(req, 404, "no capture '%s'", params[0]);
	if (who->role == REG_OPERATOR) { /* operators: their own captures */
		int64_t by;

		r = reg_capture_user(api->reg, who->org, id, &by);
		if (r == -ENOENT)
			return srv_fail(req, 404, "no capture '%s'", params[0]);
		if (r)
			return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
		if (by != who->id)
			return srv_fail(req, 403,
					"your role (operator) may delete only the captures you "
					"started");
	}
	/* found after the statements above (on a coroutine, it may have ended
	 * meanwhile); a finished capture's readers keep its file open: they
	 * read on */
	l = srv_capture_find(api->captures, who->org, id);
	r = l && !srv_capture_done(l) ? -EBUSY : srv_store_delete(api->store, who->org, id);
	if (r == -ENOENT)
		return srv_fail(req, 404, "no capture '%s'", params[0]);
	if (r == -EBUSY)
		return srv_fail(req, 409,
				"capture %lld is running: stop it first (POST "
				"/api/v1/captures/%lld/stop)",
				(long long)id, (long long)id);
	if (r)
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	ecap_log(LOG_INFO, "%s/%s deleted capture %lld", who->org_name, who->name, (long long)id);
	srv_capture_audit(api, req, who, "capture_deleted", id, NULL);
	return srv_json(req, 200, json_pack("{s:I}", "deleted", (json_int_t)id));
}

/* Readers. */

static void reader_pump(struct srv_reader *r);
static void text_pump(struct srv_reader *r);

/* The send from memory is out: its pieces go. */
static void unpin(struct srv_reader *r)
{
	if (r->npins)
		srv_capture_unpin(r->l, r->pins, r->npins, r->pinned);
	r->npins = r->pinned = 0;
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct srv_reader *r = H2O_STRUCT_FROM_MEMBER(struct srv_reader, gen, gen);

	r->inflight = 0;
	unpin(r);
	reader_pump(r);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct srv_reader *r = H2O_STRUCT_FROM_MEMBER(struct srv_reader, gen, gen);

	r->req = NULL;
	if (r->tps)
		h2o_socket_read_stop(r->tps);
}

static void on_wake(struct srv_capture_watch *w)
{
	reader_pump(H2O_STRUCT_FROM_MEMBER(struct srv_reader, watch, w));
}

/* The response ends with these bytes. */
static void reader_end_with(struct srv_reader *r, h2o_iovec_t *iov)
{
	h2o_req_t *req = r->req;

	if (r->tps) /* level-triggered: nobody would take it */
		h2o_socket_read_stop(r->tps);
	r->req = NULL;
	h2o_send(req, iov, 1, H2O_SEND_STATE_FINAL);
}

/* The response ends: whole (FINAL) or cut (ERROR). */
static void reader_end(struct srv_reader *r, h2o_send_state_t how)
{
	h2o_req_t *req = r->req;

	if (r->tps)
		h2o_socket_read_stop(r->tps);
	r->req = NULL;
	h2o_send(req, NULL, 0, how);
}

static void on_text_ready(h2o_socket_t *sock, const char *err)
{
	reader_pump(sock->data);
}

/* The printers go (and out of text_readers). */
static void text_stop(struct srv_reader *r)
{
	if (r->tps)
		h2o_socket_close(r->tps);
	r->tps = NULL;
	if (r->tp)
		r->api->text_readers--;
	srv_tp_free(r->tp);
	r->tp = NULL;
}

/* The printers for this reader; live: the capture still runs. */
static int text_start(struct srv_reader *r, int live, const char *path, char *err, size_t errlen)
{
	int ffd = live ? -1 : open(path, O_RDONLY | O_CLOEXEC), fd;

	r->tp = srv_tp_new(live, ffd, err, errlen);
	if (ffd >= 0)
		close(ffd);
	if (!r->tp)
		return -1;
	if (r->text == ROWS && srv_tp_rows(r->tp)) {
		srv_tp_free(r->tp);
		r->tp = NULL;
		snprintf(err, errlen, "text: out of memory");
		return -1;
	}
	r->api->text_readers++; /* text_stop counts it out */
	fd = dup(srv_tp_fd(r->tp));
	if (fd < 0 ||
	    !(r->tps = h2o_evloop_socket_create(r->api->loop, fd, H2O_SOCKET_FLAG_DONT_READ))) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "text: %s", strerror(errno));
		return -1;
	}
	r->tps->data = r;
	return 0;
}

/* A finished capture whose file holds several link types: the printers
 * read it as a stream from its start, the packets already sent quietly (so
 * that TCP's relative numbers come out the same). */
static int text_restart(struct srv_reader *r, char *err, size_t errlen)
{
	r->quiet = srv_tp_lines(r->tp);
	text_stop(r);
	r->off = 0;
	if (text_start(r, 1, NULL, err, errlen))
		return -1;
	srv_tp_quiet(r->tp, r->quiet);
	return 0;
}

/* Text: the file's bytes to the printers while they want more, their lines
 * out; wait for the printers (tps) or the capture (watch) when neither has
 * anything. */
static void text_pump(struct srv_reader *r)
{
	int rc = 0, more = 1;
	ssize_t n = 0;
	char err[200] = "";

	ecap_buf_reset(&r->out);
	while (!rc) {
		while (more && srv_tp_hungry(r->tp)) {
			uint64_t have = r->l ? srv_capture_written(r->l) : UINT64_MAX;
			size_t want = READ_CHUNK;

			if (r->off >= have) {
				more = 0;
				break;
			}
			if (have - r->off < want)
				want = (size_t)(have - r->off);
			n = pread(r->fd, r->chunk, want, (off_t)r->off);
			if (n <= 0) {
				more = 0;
				break;
			}
			r->off += (uint64_t)n;
			r->watch.at = r->off;
			if ((rc = srv_tp_feed(r->tp, r->chunk, (size_t)n)))
				break;
		}
		if (rc == -EXDEV && !text_restart(r, err, sizeof(err))) {
			rc = 0;
			more = 1;
			continue;
		}
		if (!rc && !more && (!r->l || srv_capture_done(r->l)))
			srv_tp_end(r->tp);
		if (!rc)
			rc = srv_tp_pump(r->tp, &r->out, SEND_MAX);
		if (rc || r->out.len || !more || !srv_tp_hungry(r->tp))
			break;
	}
	if (rc && r->text == ROWS) { /* an event, and the end */
		const char *e = r->tp ? srv_tp_error(r->tp) : err;
		json_t *j = json_pack("{s:s}", "error", e);
		char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

		ecap_buf_put(&r->out, "event: error\ndata: ", 19);
		if (t)
			ecap_buf_put(&r->out, t, strlen(t));
		ecap_buf_put(&r->out, "\n\n", 2);
		free(t);
		json_decref(j);
	} else if (rc) { /* said in the text, which ends here */
		const char *e = r->tp ? srv_tp_error(r->tp) : err; /* (a restart failed) */

		ecap_buf_put(&r->out, "edgecap: cannot print the capture further: ", 43);
		ecap_buf_put(&r->out, e, strlen(e));
		ecap_buf_put(&r->out, "\n", 1);
	}
	if (r->out.len) {
		h2o_iovec_t iov = h2o_iovec_init(r->out.data, r->out.len);

		if (r->tps)
			h2o_socket_read_stop(r->tps); /* until proceed */
		r->inflight = 1;
		if (rc)
			reader_end_with(r, &iov);
		else
			h2o_send(r->req, &iov, 1, H2O_SEND_STATE_IN_PROGRESS);
		return;
	}
	if (!rc && r->text == ROWS && srv_tp_done(r->tp)) {
		/* an EventSource reconnects when a stream ends: this says not to */
		char end[64];
		int w = snprintf(end, sizeof(end), "event: end\ndata: {\"packets\":%llu}\n\n",
				 (unsigned long long)srv_tp_lines(r->tp));
		h2o_iovec_t iov =
		    h2o_iovec_init(h2o_strdup(&r->req->pool, end, (size_t)w).base, (size_t)w);

		reader_end_with(r, &iov);
		return;
	}
	if (rc || srv_tp_done(r->tp)) {
		reader_end(r, H2O_SEND_STATE_FINAL);
		return;
	}
	h2o_socket_read_start(r->tps, on_text_ready);
}

/* Send what the capture has beyond what was sent; the end once complete. */
static void reader_pump(struct srv_reader *r)
{
	h2o_iovec_t iov = {0}, mem[SEND_PIECES];
	int filed = 1;
	ssize_t n;

	if (!r->req || r->inflight)
		return;
	if (!r->text && r->l &&
	    (r->npins =
		 srv_capture_peek(r->l, r->off, SEND_MAX, mem, r->pins, SEND_PIECES, &r->pinned))) {
		r->off += r->pinned;
		r->watch.at = r->off;
		r->inflight = 1;
		h2o_send(r->req, mem, r->npins, H2O_SEND_STATE_IN_PROGRESS);
		return;
	}
	if (r->l && r->off >= srv_capture_written(r->l))
		filed = 0; /* not in the file yet */
	if (filed && !r->text) {
		n = pread(r->fd, r->chunk, READ_CHUNK, (off_t)r->off);
		if (n > 0) {
			r->off += (uint64_t)n;
			iov = h2o_iovec_init(r->chunk, (size_t)n);
		}
	} else if (r->tp) {
		text_pump(r);
		return;
	}
	if (iov.len) {
		r->watch.at = r->off;
		r->inflight = 1;
		h2o_send(r->req, &iov, 1, H2O_SEND_STATE_IN_PROGRESS);
		return;
	}
	if (!r->l || srv_capture_done(r->l))
		reader_end(r, H2O_SEND_STATE_FINAL);
}

static void reader_dispose(void *p)
{
	struct srv_reader *r = p;

	struct srv_reader **pp = &r->api->readers;

	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	if (r->l) {
		unpin(r); /* h2o is done with the bytes */
		srv_capture_unwatch(r->l, &r->watch);
	}
	if (r->fd >= 0)
		close(r->fd);
	ecap_buf_free(&r->out);
	text_stop(r);
	free(r->chunk);
}

static void on_reader_check(h2o_timeout_entry_t *e)
{
	struct srv_api *api = H2O_STRUCT_FROM_MEMBER(struct srv_api, reader_check_entry, e);

	int live = 0;

	for (struct srv_reader *r = api->readers, *next; r; r = next) {
		next = r->next; /* r may be disposed at once */
		if (r->tp && r->req) {
			srv_tp_check(r->tp);
			live = 1;
		}
		if (!r->l)
			continue;
		if (r->req && !r->inflight && !srv_capture_done(r->l) && web_client_gone(r->req))
			reader_end(r, H2O_SEND_STATE_ERROR);
		else
			live = 1;
	}
	if (live) /* a check only while there is something to check */
		h2o_timeout_link(api->loop, &api->reader_check, &api->reader_check_entry);
}

void srv_readers_start(struct srv_api *api)
{
	h2o_timeout_init(api->loop, &api->reader_check, READER_CHECK_MS);
	api->reader_check_entry.cb = on_reader_check;
}

/* The address of the other server that runs the capture into url, or ""
 * when none does (it runs here, or has ended). */
static void runner_url(struct srv_api *api, int64_t org, int64_t id, char *url, size_t len)
{
	char runner[REG_INSTANCE_MAX];

	if (!api->instance || !api->instance->loop ||
	    reg_capture_runner(api->reg, org, id, runner, sizeof(runner)) || !runner[0] ||
	    !strcmp(runner, api->instance->id) || reg_instance_address(api->reg, runner, url, len))
		url[0] = 0;
}

/* A capture another server runs (at url) is read through it, one hop:
 * what it has, live, as if read there. */
static void elsewhere(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, int64_t id,
		      int text, const char *url)
{
	if (!text) {
		char target[32];

		snprintf(target, sizeof(target), "capture %lld", (long long)id);
		srv_audit(api, req, who, "capture_downloaded", target, NULL);
	}
	srv_hop_read(api, req, who, id, text, url);
}

/* A reader's start, once the registry said where its capture is */
struct follow {
	struct srv_api *api;
	h2o_req_t *req;
	const struct reg_user *who;
	int64_t id;
	int text, internal;
	const char *path, *url;
};

static int follow_here(struct follow *f);

static void follow_inline(void *arg)
{
	follow_here(arg);
}

/* The registry first: the capture's file, and the other server that runs
 * it, if one does (on a coroutine, this may wait); then the reader, with
 * nothing between the running capture found and the reader made
 * (srv_co_inline: the audit's statement waits on the loop). */
int srv_capture_follow(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       const char *ids, int text, int internal)
{
	int64_t id = srv_capture_id(ids);
	char path[512], url[256] = "";
	struct follow f = {.api = api,
			   .req = req,
			   .who = who,
			   .id = id,
			   .text = text,
			   .internal = internal,
			   .path = path,
			   .url = url};

	if (!id || reg_capture_file(api->reg, who->org, id, path, sizeof(path)))
		return srv_fail(req, 404, "no capture %s", ids);
	if (!internal)
		runner_url(api, who->org, id, url, sizeof(url));
	srv_co_inline(follow_inline, &f);
	return 0;
}

static int follow_here(struct follow *f)
{
	struct srv_api *api = f->api;
	h2o_req_t *req = f->req;
	const struct reg_user *who = f->who;
	int64_t org = who->org, id = f->id;
	int text = f->text, internal = f->internal;
	const char *path = f->path;
	struct srv_capture *l = srv_capture_find(api->captures, org, id);
	struct srv_reader *r;
	int fd;

	unsigned n = 0;

	if (!l && internal) /* a reader through another server: only while it runs here */
		return srv_fail(req, 409, "capture %lld does not run on this server",
				(long long)id);
	if (!l && f->url[0]) {
		elsewhere(api, req, who, id, text, f->url);
		return 0;
	}
	for (r = api->readers; r; r = r->next)
		n += r->org == org && r->id == id;
	if (api->readers_max && n >= api->readers_max)
		return srv_fail(req, 429,
				"capture %lld has %u readers already, the most it may "
				"(capture_readers_max = %u)",
				(long long)id, n, api->readers_max);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return srv_fail(req, 410, "capture %lld: its file is gone (%s)", (long long)id,
				strerror(errno));
	r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), reader_dispose);
	*r = (struct srv_reader){.api = api,
				 .org = org,
				 .id = id,
				 .req = req,
				 .fd = fd,
				 .text = text,
				 .watch = {.wake = on_wake},
				 .next = api->readers};
	r->watch.back_ms = text == ROWS ? ROWS_BACK_MS : 0;
	api->readers = r; /* every reader, counted against readers_max */
	r->gen.proceed = on_proceed;
	r->gen.stop = on_stop;
	r->chunk = malloc(READ_CHUNK);
	if (!r->chunk) {
		r->req = NULL;
		return srv_fail(req, 503, "out of memory");
	}
	if (text) {
		char err[200];

		if (api->text_readers_max && api->text_readers >= api->text_readers_max) {
			r->req = NULL;
			return srv_fail(req, 503,
					"the server prints %u texts already, the most it may "
					"(text_readers_max)",
					api->text_readers);
		}
		if (text_start(r, l != NULL, path, err, sizeof(err))) {
			r->req = NULL;
			return srv_fail(req, 503, "%s", err);
		}
		if (text == ROWS) { /* a reconnect: from the packet after the last seen */
			ssize_t at =
			    h2o_find_header_by_str(&req->headers, H2O_STRLIT("last-event-id"), -1);

			if (at >= 0) {
				char v[24] = "";
				size_t vl = req->headers.entries[at].value.len;

				memcpy(v, req->headers.entries[at].value.base, vl < 23 ? vl : 23);
				r->quiet = strtoull(v, NULL, 10);
				srv_tp_quiet(r->tp, r->quiet);
			}
		}
	}
	if (text && !h2o_timeout_is_linked(&api->reader_check_entry))
		h2o_timeout_link(api->loop, &api->reader_check, &api->reader_check_entry);
	if (l) {
		r->l = l;
		srv_capture_watch(l, &r->watch);
		if (!h2o_timeout_is_linked(&api->reader_check_entry))
			h2o_timeout_link(api->loop, &api->reader_check, &api->reader_check_entry);
	}
	if (!text && !internal) { /* reading its text is seeing it; its file leaves the server */
		char target[32];

		snprintf(target, sizeof(target), "capture %lld", (long long)id);
		srv_audit(api, req, who, "capture_downloaded", target, NULL);
	}
	web_start_200(req,
		      text == ROWS ? "text/event-stream"
		      : text	   ? "text/plain; charset=utf-8"
				   : "application/x-pcapng",
		      &r->gen);
	reader_pump(r);
	return 0;
}

int srv_may_download(h2o_req_t *req, const struct reg_user *who)
{
	if (who->role != REG_VIEWER || who->viewer_downloads)
		return 0;
	srv_fail(req, 403,
		 "your role (viewer) may not download captures here: an owner "
		 "allows it (PATCH /api/v1/organization {viewer_downloads: true})");
	return -1;
}

int srv_capture_pcap(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	if (srv_may_download(req, who))
		return 0;
	return srv_capture_follow(api, req, who, params[0], 0, 0);
}

int srv_capture_text(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	return srv_capture_follow(api, req, who, params[0], 1, 0);
}

int srv_capture_rows(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	return srv_capture_follow(api, req, who, params[0], ROWS, 0);
}
