/* capture.c - captures while they run, see capture.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/bounds.h"
#include "common/log.h"
#include "service/instance.h"
#include "service/device.h"
#include "service/capture_int.h"
#include "tunnel/identity.h"

int64_t cap_wall_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

static h2o_loop_t *loop_of(struct srv_capture *l)
{
	return l->cs->conf.loop;
}

/* Stop the capture soon, outside any client callback (on_kick). by: the
 * word the registry keeps for what ended it; why: the log's words. */
void cap_ask_stop(struct srv_capture *l, const char *by, const char *why)
{
	if (l->ending)
		return;
	if (!l->stop_why) {
		l->stop_why = why;
		l->ended_by = by;
	}
	if (!h2o_timeout_is_linked(&l->kick))
		h2o_timeout_link(loop_of(l), &l->cs->zero, &l->kick);
}

/* What ended a capture that is done: the stop asked for, else its devices
 * ended on their own (at the duration; every one of them failed; or, with
 * no duration, which only a caller other than the API leaves out, done). */
static const char *end_word(const struct srv_capture *l)
{
	unsigned failed = 0;

	if (l->ended_by)
		return l->ended_by;
	/* (reached with the last packets, after the devices ended) */
	if (srv_mux_full(l->mux))
		return srv_mux_full(l->mux) == SRV_MUX_FULL_COUNT ? "count" : "bytes";
	for (unsigned i = 0; i < l->ndevs; i++)
		failed += !strcmp(l->devs[i].state, "failed");
	return failed == l->ndevs ? "devices failed" : l->deadline ? "duration" : "devices done";
}

/* A capture's rows as they stand: its devices' states and counters (the
 * duplicates of those a part streams), and its own row but for a part's.
 * Taken on the loop, written apart from it (snap_write), so that a tick's
 * statements keep no pointer to the capture while they wait. */
struct snap {
	struct srv_captures *cs;
	int64_t id, org;
	int part;
	struct reg_capture_state cap;
	char error[sizeof(((struct srv_capture *)0)->error)];
	unsigned n;
	struct snap_dev {
		int64_t id;
		struct reg_capture_device_state st;
		char error[sizeof(((struct dev_conn *)0)->error)];
	} d[];
};

/* A device's row: its state and counters, or for one its part streams
 * what the runner finds of it (its duplicates). */
static void snap_dev(struct srv_capture *l, struct dev_conn *dc, struct snap_dev *d)
{
	struct srv_mux_input_stats in;

	d->id = dc->d.id;
	if (dc->hop) {
		d->st = (struct reg_capture_device_state){
		    .keep_counts = 1,
		    .duplicates = srv_mux_part_duplicates(l->mux, dc->part->input, dc->part_k)};
		return;
	}
	srv_mux_input_stats(l->mux, dc->input, &in);
	snprintf(d->error, sizeof(d->error), "%s", dc->error);
	d->st = (struct reg_capture_device_state){
	    .state = dc->state, /* (a literal) */
	    .error = d->error[0] ? d->error : NULL,
	    .bytes = in.bytes,
	    .packets = in.packets,
	    .duplicates = in.duplicates,
	    .dropped = in.ifdrop + in.osdrop,
	    /* a part's: the server running the capture finds them */
	    .keep_duplicates = l->part,
	};
}

/* One device's row, now (it ended). */
static void save_device(struct dev_conn *dc)
{
	struct snap_dev d;

	snap_dev(dc->l, dc, &d);
	reg_capture_device_update(dc->l->cs->conf.reg, dc->l->id, d.id, &d.st);
}

static struct snap *snap_take(struct srv_capture *l, int if_running)
{
	struct snap *s = calloc(1, sizeof(*s) + (l->ndevs ? l->ndevs : 1) * sizeof(s->d[0]));
	struct srv_merge_stats st;

	if (!s)
		return NULL;
	*s = (struct snap){.cs = l->cs, .id = l->id, .org = l->org, .part = l->part};
	for (unsigned i = 0; i < l->ndevs; i++) {
		struct dev_conn *dc = &l->devs[i];
		struct snap_dev *d = &s->d[s->n];

		if (dc->hop && !(dc->part && !dc->part->no_input))
			continue; /* (a part saves its own) */
		snap_dev(l, dc, d);
		d->st.if_running = if_running;
		s->n++;
	}
	if (!l->part) {
		srv_mux_stats(l->mux, &st);
		snprintf(s->error, sizeof(s->error), "%s", l->error);
		s->cap = (struct reg_capture_state){.state = l->done ? "done" : "running",
						    .merged = st.merged,
						    .duplicates = st.duplicates,
						    .late = st.late,
						    .ended = l->done ? time(NULL) : 0,
						    .ended_by = l->done ? end_word(l) : NULL,
						    .error = s->error[0] ? s->error : NULL,
						    .stored = l->written,
						    .if_running = if_running};
	}
	return s;
}

/* Its rows written: 1 when the capture's row says a stop was asked for it
 * on another server. */
static int snap_write(const struct snap *s)
{
	int asked = 0;

	/* the capture's last: its row first, so that a tick's device rows
	 * landing after any of these find it ended (if_running) */
	if (!s->part && !s->cap.if_running)
		asked = reg_capture_update(s->cs->conf.reg, s->id, &s->cap) == 1;
	for (unsigned i = 0; i < s->n; i++)
		reg_capture_device_update(s->cs->conf.reg, s->id, s->d[i].id, &s->d[i].st);
	if (!s->part && s->cap.if_running)
		asked = reg_capture_update(s->cs->conf.reg, s->id, &s->cap) == 1;
	return asked;
}

/* Written now, on the loop: at the end, and when another server signals. */
static void save(struct srv_capture *l)
{
	struct snap *s = snap_take(l, 0);

	if (!s) {
		ecap_log(LOG_ERR, "capture %lld: out of memory: its state not written",
			 (long long)l->id);
		return;
	}
	if (snap_write(s) && !l->done)
		cap_ask_stop(l, "stopped", "stopped by request on another server");
	free(s);
}

/* A tick's write, on a coroutine when one is free: the capture is found
 * again after it, if it is still there. */
static void snap_run(void *arg)
{
	struct snap *s = arg;
	int asked = snap_write(s);

	for (struct srv_capture *l = s->cs->live; l; l = l->next)
		if (l->id == s->id && l->org == s->org && l->part == s->part) {
			l->saving = 0;
			if (asked && !l->done)
				cap_ask_stop(l, "stopped", "stopped by request on another server");
		}
	free(s);
}

/* Each second: one write at a time per capture (a slow registry skips
 * ticks, it does not queue them). */
static void save_tick(struct srv_capture *l)
{
	struct snap *s;

	if (l->saving || !(s = snap_take(l, 1)))
		return;
	l->saving = 1;
	if (!reg_async_run(l->cs->conf.reg, snap_run, s))
		snap_run(s);
}

/* Send what the merge allows. A device is silent (its packets hold the
 * others back no longer than the merge's window) only when it is not heard
 * from: nothing read from its connection for the window, and nothing
 * waiting there. Its packets' timestamps alone do not say: a streaming
 * device's data may wait in socket buffers, and in ours, for longer. */
static void run(struct srv_capture *l, int64_t now)
{
	for (unsigned i = 0; i < l->ndevs; i++) {
		struct dev_conn *dc = &l->devs[i];

		if (dc->hop) /* (its part's input, below) */
			continue;
		/* (a device read within HEAR_NS is heard already) */
		if (now - dc->heard > HEAR_NS && ecap_httpc_waiting(&dc->call))
			srv_mux_heard(l->mux, dc->input, now);
		/* no slab left for its next read: its packets the merge holds
		 * must go for it to go on (a device that sent more than its
		 * memory within the merge's slack) */
		if (dc->pool)
			srv_mux_squeeze(l->mux, dc->input,
					ecap_slab_pool_out(dc->pool) + SLAB_SIZE > l->dev_mem);
	}
	cap_parts_run(l, now);
	srv_mux_run(l->mux, now);
}

/* Every device is done: the last packets and the statistics go out; the
 * capture is done once the file has everything (complete). */
static void finish(struct srv_capture *l)
{
	if (l->ending)
		return;
	l->ending = 1;
	srv_mux_finish(l->mux);
	cap_flush_out(l);
	if (!l->done && !l->jn && (l->written == l->end || l->error[0]))
		cap_complete(l);
}

/* A capture's row now counts what it keeps, where its reservation did
 * (srv_capture_prepare reads the two apart). */
static void cs_completed(struct srv_capture *l)
{
	if (!l->part)
		l->cs->completed++;
}

void cap_complete(struct srv_capture *l)
{
	struct srv_captures_stats *t = &l->cs->ended;
	struct srv_merge_stats st;

	l->done = 1;
	save(l);
	cs_completed(l);
	srv_mux_stats(l->mux, &st);
	if (l->part) {
		if (l->out)
			l->out->end(l->out, !l->error[0]);
		ecap_log(LOG_INFO, "capture %lld: its part here ended: %llu packets",
			 (long long)l->id, (unsigned long long)st.merged);
		return;
	}
	t->merged += st.merged;
	t->duplicates += st.duplicates;
	t->late += st.late;
	for (unsigned i = 0; i < l->ndevs; i++)
		t->devices_failed += !strcmp(l->devs[i].state, "failed");
	ecap_log(LOG_INFO,
		 "capture %lld ended: %llu packets merged, %llu duplicates removed, %llu late",
		 (long long)l->id, (unsigned long long)st.merged, (unsigned long long)st.duplicates,
		 (unsigned long long)st.late);
	cap_wake(l);
}

/* A part's device whose stream ended as this server stops: failed, its
 * capture going on elsewhere without it. */
static void holder_stopped(struct dev_conn *dc)
{
	struct srv_capture *l = dc->l;

	if (l->part && !strcmp(dc->state, "done") && l->ended_by &&
	    !strcmp(l->ended_by, "server stopped")) {
		snprintf(dc->error, sizeof(dc->error), "the server holding its tunnel stopped");
		dc->state = "failed";
	}
}

/* A device's stream is over: whole, refused or broken (error set). */
static void device_closed(struct dev_conn *dc, const char *error)
{
	struct srv_capture *l = dc->l;
	struct srv_mux_input_stats st;

	if (error && !dc->error[0])
		snprintf(dc->error, sizeof(dc->error), "%s", error);
	if (dc->error[0]) {
		srv_mux_close(l->mux, dc->input, dc->error);
		dc->state = "failed";
	} else if (srv_mux_close(l->mux, dc->input, NULL)) {
		snprintf(dc->error, sizeof(dc->error), "%s", srv_mux_error(l->mux, dc->input));
		dc->state = "failed";
	} else if (srv_mux_input_stats(l->mux, dc->input, &st), !st.stats_seen && l->stop_at) {
		/* asked to stop, the device closed without its statistics (an agent
		 * that does not end gracefully): stopped, not failed */
		srv_mux_stop(l->mux, dc->input);
		snprintf(dc->error, sizeof(dc->error), "stopped before its statistics came");
		dc->state = "done";
	} else if (!st.stats_seen) {
		/* h2o takes a close between chunks for the end: an agent's stream
		 * ends with its statistics, so this one broke off */
		snprintf(dc->error, sizeof(dc->error), "the stream broke off (no end statistics)");
		srv_mux_close(l->mux, dc->input, dc->error);
		dc->state = "failed";
	} else {
		dc->state = "done";
	}
	holder_stopped(dc);
	if (!strcmp(dc->state, "failed"))
		ecap_log(LOG_WARNING, "capture %lld: device %s: %s", (long long)l->id, dc->d.name,
			 dc->error);
	save_device(dc);
	cap_closed(l);
}

void cap_closed(struct srv_capture *l)
{
	if (--l->open == 0)
		finish(l);
	else
		cap_flush_out(l);
}

static int on_head(struct ecap_httpc_call *c)
{
	struct dev_conn *dc = c->data;

	reg_device_seen(dc->l->cs->conf.reg, dc->d.id, time(NULL));
	if (c->status == 200) {
		dc->state = "streaming";
		save_device(dc);
		return 0;
	}
	/* a refusal: its status, and the agent's reason */
	srv_device_reason(c, dc->reason, sizeof(dc->reason));
	return 0;
}

long cap_take(struct srv_capture *l, unsigned input, int64_t *heard, struct ecap_slab *slab,
	      const uint8_t *p, size_t n, char *error, size_t errlen)
{
	int64_t now = cap_wall_ns();
	long took;

	srv_mux_heard(l->mux, input, now);
	*heard = now;
	/* whole blocks, read where they lie: their packets stay in the slab
	 * until merged and written; a partial block stays for the next read
	 * to append to */
	took = srv_mux_take_slab(l->mux, input, slab, p, n);
	if (srv_mux_error(l->mux, input)) { /* a malformed stream: the input is dropped */
		snprintf(error, errlen, "bad stream: %s", srv_mux_error(l->mux, input));
		return -1;
	}
	run(l, now);
	cap_flush_out(l);
	return took > 0 ? took : 0;
}

static long on_body(struct ecap_httpc_call *c, const uint8_t *p, size_t n)
{
	struct dev_conn *dc = c->data;

	return cap_take(dc->l, dc->input, &dc->heard, c->slab, p, n, dc->error, sizeof(dc->error));
}

/* The agent refused the program because an interface has another link
 * type ("linktype: tun0 is RAW, ..."): the same capture again, once, with
 * the program compiled for that type, if there is one. 1 when it was sent
 * again. */
static int again(struct dev_conn *dc, const struct ecap_httpc_call *c)
{
	const char *is = strstr(dc->reason, " is "), *comma = is ? strchr(is + 4, ',') : NULL;
	unsigned i = 0;

	if (c->status != 400 || strncmp(dc->reason, "linktype: ", 10) || !comma)
		return 0;
	while (i < SRV_CAPTURE_LINKTYPES &&
	       !(dc->targets[i] && strlen(dc->linktypes[i]) == (size_t)(comma - is - 4) &&
		 !strncmp(dc->linktypes[i], is + 4, (size_t)(comma - is - 4))))
		i++;
	if (i == SRV_CAPTURE_LINKTYPES || (dc->tried & (1u << i)))
		return 0;
	dc->tried |= 1u << i;
	ecap_httpc_call_reset(&dc->call);
	dc->target = dc->targets[i];
	dc->headers = dc->hdrs[i];
	dc->call.target = dc->target;
	dc->call.headers = dc->headers;
	dc->call.status = 0;
	dc->reason[0] = 0;
	if (ecap_httpc_start(&dc->dest, &dc->call))
		device_closed(dc, "out of memory");
	return 1;
}

static void on_done(struct ecap_httpc_call *c, const char *err)
{
	struct dev_conn *dc = c->data;

	if (!err && again(dc, c))
		return;
	if (!err && c->status != 200) { /* a refusal: its status and reason */
		snprintf(dc->error, sizeof(dc->error), "HTTP %d%s%s", c->status,
			 dc->reason[0] ? ": " : "", dc->reason);
	} else if (err && c->status == 200 && !dc->error[0]) { /* the transport's words */
		snprintf(dc->error, sizeof(dc->error), "the stream broke off: %s", err);
	}
	device_closed(dc, err);
}

/* One signed request: its target and headers, 0 or -ENOMEM / -EIO. */
static int sign_request(struct dev_conn *dc, const struct srv_capture_req *c,
			const struct srv_capture_prog *p, const char *ifaces, char **ret_target,
			char *headers, size_t hlen)
{
	size_t tlen = 0;
	FILE *f = open_memstream(ret_target, &tlen);
	char auth[ECAP_AUTH_HEADER_MAX];

	if (!f)
		return -ENOMEM;
	fprintf(f, "/v1/capture?bpf=%s&snaplen=%u&dir=%s", p->bpf, c->snaplen, c->dir);
	/* agents take EN10MB without it, as before they knew link types */
	if (strcmp(p->linktype, "EN10MB"))
		fprintf(f, "&linktype=%s", p->linktype);
	if (ifaces[0])
		fprintf(f, "&iface=%s", ifaces);
	if (c->count)
		fprintf(f, "&count=%llu", (unsigned long long)c->count);
	if (c->duration)
		fprintf(f, "&duration=%u", c->duration);
	if (fclose(f))
		return -ENOMEM;
	if (ecap_auth_header(dc->d.secret, sizeof(dc->d.secret), "GET", *ret_target, tlen,
			     time(NULL), auth, sizeof(auth)))
		return -EIO;
	/* the capture's id, for the device's logs: a header, which agents that
	 * know nothing of it pass over (an unknown query parameter is refused) */
	snprintf(headers, hlen, "Authorization: %s\r\nEdgecap-Capture: %lld\r\n", auth,
		 (long long)dc->l->id);
	return 0;
}

/* The signed request for one device, one for each program (the first goes
 * first): 0 or -ENOMEM / -EIO. */
static int device_request(struct dev_conn *dc, const struct srv_capture_req *c)
{
	const char *ifaces = c->dev_ifaces ? c->dev_ifaces[dc - dc->l->devs] : c->ifaces;
	unsigned first = 0;
	int r = 0;

	for (unsigned i = 0; i < c->nprogs && i < SRV_CAPTURE_LINKTYPES && !r; i++) {
		dc->linktypes[i] = c->progs[i].linktype;
		r = sign_request(dc, c, &c->progs[i], ifaces, &dc->targets[i], dc->hdrs[i],
				 sizeof(dc->hdrs[i]));
		/* a device captured on any is offered the cooked program first */
		if (!strcmp(ifaces, "any") && !strcmp(c->progs[i].linktype, "LINUX_SLL2"))
			first = i;
	}
	if (r)
		return r;
	dc->target = dc->targets[first];
	dc->headers = dc->hdrs[first];
	dc->tried = 1u << first;
	dc->call = (struct ecap_httpc_call){.method = "GET",
					    .target = dc->target,
					    .headers = dc->headers,
					    .on_head = on_head,
					    .on_body = on_body,
					    .on_done = on_done,
					    .resp_max = 0, /* a refusal's body is not kept */
					    .pool = dc->pool,
					    .data = dc};
	return 0;
}

/* Where the device's address leads must be somewhere a device may be. */
static int device_allowed(const struct sockaddr *sa, void *arg, char *why, size_t len)
{
	struct dev_conn *dc = arg;

	return srv_reach_check(dc->l->cs->conf.reach, sa, dc->mgmt, why, len);
}

/* Connect to one device: its failures close it at once. */
static void device_start(struct dev_conn *dc, const struct srv_capture_req *c)
{
	struct srv_captures *cs = dc->l->cs;
	char url[REG_ADDRESS_MAX + 32], e[256];

	dc->pool = ecap_slab_pool_new(&cs->slabs, SLAB_SIZE, dc->l->dev_mem);
	if (!dc->pool) {
		device_closed(dc, "out of memory");
		return;
	}
	if (srv_device_url(&dc->d, url, sizeof(url), &dc->mgmt) || device_request(dc, c)) {
		device_closed(dc, "bad device address");
		return;
	}
	if (ecap_httpc_dest_init(
		&dc->dest, &dc->l->http, url,
		&(struct ecap_httpc_dest_opts){.ca_store = cs->conf.ca_store,
					       .allow = cs->conf.reach ? device_allowed : NULL,
					       .allow_arg = dc},
		e, sizeof(e))) {
		device_closed(dc, e);
		return;
	}
	if (ecap_httpc_start(&dc->dest, &dc->call))
		device_closed(dc, "out of memory");
}

/* What a capture's devices need from the registry, asked before any of
 * its loop objects exist (srv_capture_prepare): where each is reached, and
 * its clock. */
struct dev_plan {
	int where; /* 0 from here, 1 through hop, -1 the server that held it is gone */
	char *hop; /* the address of the server that holds its tunnel */
	int64_t shift;
	char note[256]; /* its clock's, "" when in step */
};

/* Where the device is reached: 0 from here (its address, or a tunnel this
 * server holds); 1 through the server that holds its tunnel, whose
 * address is then *hop; -1 when that server is gone. A part's devices
 * are held here. */
static int holder(struct srv_captures *cs, int part, const struct reg_device *d, char **hop)
{
	struct srv_instance *in = cs->conf.instance;
	char url[REG_ADDRESS_MAX + 32];
	uint32_t mgmt = 0;
	int r;

	if (part || !in || srv_device_url(d, url, sizeof(url), &mgmt) || !mgmt)
		return 0;
	r = srv_instance_holder(in, d->id, url, sizeof(url));
	if (r > 0 && !(*hop = strdup(url)))
		return 0; /* (tried from here, it fails as unreachable) */
	return r < 0 ? -1 : r;
}

/* The registry's part of each device's start: its row in the capture (not
 * for a part: the runner has it), where it is reached, its clock and the
 * note of it. 0, or -EIO with err. */
static int plan_devices(struct srv_captures *cs, int64_t id, int part,
			const struct srv_capture_req *c, struct dev_plan *p, char *err,
			size_t errlen)
{
	struct reg *reg = cs->conf.reg;

	for (unsigned i = 0; i < c->ndevs; i++) {
		const struct reg_device *d = &c->devs[i];

		if (!part && reg_capture_device_add(reg, id, d->id))
			goto fail;
		p[i].where = holder(cs, part, d, &p[i].hop);
		if (p[i].where > 0)
			continue; /* its part's server asks for the rest */
		/* its packets on the server's time line, by the clock it reported;
		 * one unknown or past the reorder window flagged, in the status
		 * and on its interfaces in the file */
		p[i].shift =
		    srv_device_clock(reg, d, REORDER_WINDOW_MS, p[i].note, sizeof(p[i].note));
		if (p[i].note[0] && reg_capture_device_clock(reg, id, d->id, p[i].note))
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "registry: %s", reg_errmsg(reg));
	return -EIO;
}

static void plan_free(struct dev_plan *p, unsigned n)
{
	for (unsigned i = 0; p && i < n; i++)
		free(p[i].hop);
	free(p);
}

/* Each device connected to, here or through its part, as planned (the
 * plan's hops are taken): 0, or -ENOMEM (the capture is stopping). */
static int devices_start(struct srv_capture *l, const struct srv_capture_req *c,
			 struct dev_plan *plan)
{
	int r = 0;

	l->open = 1; /* held while starting: a device failing at once ends nothing */
	for (unsigned i = 0; i < c->ndevs && !r; i++) {
		struct dev_conn *dc = &l->devs[i];
		int in;

		*dc = (struct dev_conn){.l = l, .d = c->devs[i], .state = "connecting"};
		if (plan[i].where > 0) {
			dc->hop = plan[i].hop;
			plan[i].hop = NULL;
			l->ndevs++;
			continue; /* its part starts below */
		}
		in = srv_mux_add(l->mux, c->devs[i].name);
		if (in < 0) {
			r = in;
			break;
		}
		dc->input = (unsigned)in;
		srv_mux_bound(l->mux, (unsigned)in,
			      c->snaplen + BLOCK_SLACK > BLOCK_MIN ? c->snaplen + BLOCK_SLACK
								   : BLOCK_MIN,
			      STREAM_IFACES, STREAM_SECTIONS);
		if (plan[i].note[0] &&
		    srv_mux_clock(l->mux, (unsigned)in, plan[i].shift, plan[i].note)) {
			r = -ENOMEM;
			break;
		}
		l->ndevs++;
		l->open++;
		if (plan[i].where < 0)
			device_closed(dc, "the server that held its tunnel is gone; the device "
					  "registers with another within seconds");
		else
			device_start(dc, c);
	}
	if (!r)
		cap_parts_start(l, c);
	return r;
}

static void live_free(struct srv_capture *l)
{
	struct srv_capture **pp = &l->cs->live;

	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	h2o_timeout_unlink(&l->tick);
	if (h2o_timeout_is_linked(&l->kick))
		h2o_timeout_unlink(&l->kick);
	for (unsigned i = 0; i < l->ndevs; i++) {
		ecap_httpc_cancel(&l->devs[i].call);
		ecap_httpc_call_reset(&l->devs[i].call);
		ecap_httpc_dest_dispose(&l->devs[i].dest);
		for (unsigned k = 0; k < SRV_CAPTURE_LINKTYPES; k++)
			free(l->devs[i].targets[k]);
		ecap_slab_pool_free(l->devs[i].pool);
		free(l->devs[i].hop);
	}
	cap_parts_free(l);
	ecap_httpc_ctx_dispose(&l->http);
	if (l->out)
		l->out->c = NULL;
	free(l->devs);
	for (; l->first < l->last; l->first++)
		ecap_slab_unref(cap_piece(l, l->first)->slab);
	free(l->q);
	free(l->jobs);
	srv_mux_free(l->mux);
	ecap_slab_pool_free(l->gen);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}

/* Drop a device's connection: its statistics will not come. */
/* A device cut off: a refusal stays one; one that hung past its limit
 * (hung) failed; else it was stopped as asked. */
static void cut(struct dev_conn *dc, const char *why, int hung)
{
	int status = dc->call.status;

	ecap_httpc_cancel(&dc->call);
	srv_mux_stop(dc->l->mux, dc->input);
	if (status && status != 200) /* a refusal cut short: still one */
		snprintf(dc->error, sizeof(dc->error), "HTTP %d%s%s", status,
			 dc->reason[0] ? ": " : "", dc->reason);
	else
		snprintf(dc->error, sizeof(dc->error), "%s", why);
	dc->state = (status && status != 200) || hung ? "failed" : "done";
	holder_stopped(dc);
	if (!strcmp(dc->state, "failed"))
		ecap_log(LOG_WARNING, "capture %lld: device %s: %s", (long long)dc->l->id,
			 dc->d.name, dc->error);
	save_device(dc);
	dc->l->open--;
}

/* Stop (outside the client's callbacks): each streaming device is asked to
 * end by shutting our side of its connection, and ends as at a limit, with
 * its statistics; what is still connecting is dropped, and so is a device
 * that has not ended by stop_at (on_tick). */
static void on_kick(h2o_timeout_entry_t *e)
{
	struct srv_capture *l = H2O_STRUCT_FROM_MEMBER(struct srv_capture, kick, e);

	if (l->done || !l->stop_why || l->stop_at)
		return;
	ecap_log(LOG_INFO, "capture %lld: stopping: %s", (long long)l->id, l->stop_why);
	/* (a part's holder waits as long for its devices, and then ends it) */
	l->stop_at = h2o_now(loop_of(l)) + STOP_WAIT_MS + (l->nparts ? 1000 : 0);
	for (unsigned i = 0; i < l->ndevs; i++) {
		struct dev_conn *dc = &l->devs[i];

		if (!ecap_httpc_running(&dc->call))
			continue;
		/* at the end of the duration and its grace, one that never
		 * answered hung; at any other stop it was only slow */
		if (!dc->call.status && !strcmp(l->ended_by, "duration"))
			cut(dc, "it did not answer within the capture's duration", 1);
		else if (dc->call.status != 200 || ecap_httpc_shutdown_write(&dc->call))
			cut(dc,
			    dc->call.status ? "stopped before its statistics came"
					    : "stopped before it answered",
			    0);
	}
	cap_parts_stop(l);
	if (!l->open)
		finish(l);
}

static void on_tick(h2o_timeout_entry_t *e)
{
	struct srv_capture *l = H2O_STRUCT_FROM_MEMBER(struct srv_capture, tick, e);
	uint64_t now = h2o_now(loop_of(l));

	if (l->done) {
		if (!l->watches && !l->out) {
			live_free(l);
			return;
		}
	} else if (!l->ending) { /* (else waiting for the file's last writes) */
		int64_t wall = cap_wall_ns();

		run(l, wall);
		if (l->part) { /* how far its devices are, though silent */
			srv_mux_mark(l->mux, wall);
			if (l->out && l->out->stopped(l->out))
				cap_ask_stop(l, "stopped",
					     "the server running the capture asked to stop");
		}
		if (l->deadline && now >= l->deadline)
			cap_ask_stop(l, "duration", "devices did not end after the duration");
		if (l->unwatched_until && now >= l->unwatched_until)
			cap_ask_stop(l, "reader left",
				     "its last reader went away and did not come back");
		if (l->stop_at && now >= l->stop_at) {
			for (unsigned i = 0; i < l->ndevs; i++)
				if (ecap_httpc_running(&l->devs[i].call)) {
					cut(&l->devs[i],
					    "it hung: it did not end in time when asked to stop",
					    1);
				}
			cap_parts_cut(l, "the server holding its tunnel did not end its part in "
					 "time when asked to stop");
			finish(l);
			h2o_timeout_link(loop_of(l), &l->cs->tick, &l->tick);
			return;
		}
		cap_flush_out(l);
		if (now >= l->next_db) {
			save_tick(l);
			l->next_db = now + DB_EVERY_MS;
		}
	}
	h2o_timeout_link(loop_of(l), &l->cs->tick, &l->tick);
}

/* Of slabs a device's stream may hold, for a capture on n devices. */
static size_t dev_mem(unsigned n)
{
	size_t m = n ? CAPTURE_MEM / n : DEVICE_MEM;

	return m > DEVICE_MEM ? DEVICE_MEM : m < 2 * SLAB_SIZE ? 2 * SLAB_SIZE : m;
}

/* Running: its connections, its tick, its place among the live. */
static void go_live(struct srv_capture *l, const struct srv_capture_req *c, struct dev_plan *plan)
{
	struct srv_captures *cs = l->cs;

	srv_mux_by_ref(l->mux, l->gen);
	ecap_httpc_ctx_init(&l->http, cs->conf.loop, cs->conf.getaddr,
			    c->duration ? (c->duration * 1000u + END_GRACE_MS + 5000) : NO_LIMIT_MS,
			    cs->conf.userappl);
	l->tick.cb = on_tick;
	l->kick.cb = on_kick;
	if (c->duration)
		l->deadline = h2o_now(cs->conf.loop) + c->duration * 1000ull + END_GRACE_MS;
	l->next = cs->live;
	cs->live = l;
	h2o_timeout_link(cs->conf.loop, &cs->tick, &l->tick);
	if (devices_start(l, c, plan))
		cap_ask_stop(l, "error", "out of memory");
}

/* A capture that never went live, gone. */
static void capture_drop(struct srv_capture *l)
{
	srv_mux_free(l->mux);
	ecap_slab_pool_free(l->gen);
	free(l->jobs);
	free(l->devs);
	free(l);
}

/* A capture's loop objects, with its devices' room: NULL when out of
 * memory. */
static struct srv_capture *capture_new(struct srv_captures *cs, int64_t id, int64_t org,
				       unsigned ndevs, int dedup_ns)
{
	struct srv_capture *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->fd = -1;
	l->cs = cs;
	l->id = id;
	l->org = org;
	l->dev_mem = dev_mem(ndevs);
	l->devs = calloc(ndevs ? ndevs : 1, sizeof(*l->devs));
	l->mux = srv_mux_new(&(struct srv_merge_opts){.dedup_ns = dedup_ns}, cs->conf.userappl);
	l->gen = ecap_slab_pool_new(&cs->slabs, SLAB_SIZE, GEN_MEM);
	l->jobs = calloc(JOBS, sizeof(*l->jobs));
	if (l->devs && l->mux && l->gen && l->jobs)
		return l;
	capture_drop(l);
	return NULL;
}

int srv_capture_part(struct srv_captures *cs, int64_t id, int64_t org,
		     const struct srv_capture_req *c, struct srv_capture_out *out, char *err,
		     size_t errlen)
{
	struct dev_plan *plan = calloc(c->ndevs ? c->ndevs : 1, sizeof(*plan));
	struct srv_capture *l = NULL;
	int r = -ENOMEM;

	if (plan && (r = plan_devices(cs, id, 1, c, plan, err, errlen)))
		goto out;
	/* in order only: the receiver de-duplicates, as if it held them all */
	if (!plan || !(l = capture_new(cs, id, org, c->ndevs, -1))) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	l->part = 1;
	l->out = out;
	out->c = l;
	go_live(l, c, plan);
	ecap_log(LOG_INFO, "capture %lld: a part of %u device(s) here, for the server running it",
		 (long long)id, l->ndevs);
	if (--l->open == 0)
		finish(l);
	r = 0;
out:
	plan_free(plan, c->ndevs);
	return r;
}

/* What a capture prepared (srv_capture_prepare) brings to its launch. Until
 * then it counts against its organization's limits as a running one. */
struct srv_capture_prep {
	struct srv_capture_prep *next; /* cs->starting */
	int64_t id, org;
	uint64_t reserve; /* of the organization's storage */
	int by_quota;
	int fd;
	struct dev_plan *plan;
	unsigned ndevs;
};

/* The organization's captures running here and starting, and what they
 * reserve of its storage. */
static unsigned org_load(struct srv_captures *cs, int64_t org, uint64_t *reserved)
{
	unsigned n = 0;

	*reserved = 0;
	for (struct srv_capture *o = cs->live; o; o = o->next) {
		n += o->org == org && !o->ending && !o->part;
		*reserved += o->org == org && !o->done ? o->reserve : 0;
	}
	for (struct srv_capture_prep *p = cs->starting; p; p = p->next) {
		n += p->org == org;
		*reserved += p->org == org ? p->reserve : 0;
	}
	return n;
}

/* Off the organization's count. */
static void prep_unseat(struct srv_captures *cs, struct srv_capture_prep *p)
{
	struct srv_capture_prep **pp = &cs->starting;

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	p->next = NULL;
}

static void prep_free(struct srv_captures *cs, struct srv_capture_prep *p)
{
	prep_unseat(cs, p);
	if (p->fd >= 0)
		close(p->fd);
	plan_free(p->plan, p->ndevs);
	free(p);
}

/* A prepared capture that will not run: its row and its devices' say why
 * (its file stays, empty, once the row names it). */
static void prep_fail(struct srv_captures *cs, struct srv_capture_prep *p,
		      const struct srv_capture_req *c, const char *err)
{
	prep_unseat(cs, p); /* (before the statements: others may start meanwhile) */
	if (p->id > 0) {
		for (unsigned i = 0; i < c->ndevs; i++)
			reg_capture_device_update(
			    cs->conf.reg, p->id, c->devs[i].id,
			    &(struct reg_capture_device_state){.state = "failed", .error = err});
		reg_capture_update(
		    cs->conf.reg, p->id,
		    &(struct reg_capture_state){
			.state = "done", .ended = time(NULL), .ended_by = "error", .error = err});
	}
	prep_free(cs, p);
}

int64_t srv_capture_prepare(struct srv_captures *cs, const struct reg_user *who,
			    const struct srv_capture_req *c, struct srv_capture_prep **ret,
			    char *err, size_t errlen)
{
	struct srv_capture_prep *p = calloc(1, sizeof(*p));
	uint64_t stored = 0, reserved;
	char path[512], tmp[512];
	unsigned running;
	int64_t r = -ENOMEM;

	*ret = NULL;
	if (!p || !(p->plan = calloc(c->ndevs ? c->ndevs : 1, sizeof(*p->plan)))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->fd = -1;
	p->org = who->org;
	p->ndevs = c->ndevs;
	/* what the organization's captures keep, then what those running
	 * reserve: one that ended while the first was read counts in neither,
	 * so it is read again (a few times at most) */
	for (unsigned tries = 0, seen = ~cs->completed;
	     cs->conf.store && seen != cs->completed && tries < 3; tries++) {
		seen = cs->completed;
		if ((r = srv_store_stored(cs->conf.store, who->org, &stored, err, errlen)))
			goto fail;
	}
	/* from the count to the seat, no statement: two starts cannot both
	 * take the last one */
	running = org_load(cs, who->org, &reserved);
	if (cs->conf.org_captures_max && running >= cs->conf.org_captures_max) {
		snprintf(err, errlen,
			 "the organization runs %u captures already, the most it may "
			 "(org_captures_max = %u)",
			 running, cs->conf.org_captures_max);
		r = -EUSERS;
		goto fail;
	}
	p->reserve = cs->conf.bytes_max ? cs->conf.bytes_max : UINT64_MAX;
	if (cs->conf.store) {
		int64_t room =
		    srv_store_room(cs->conf.store, stored, reserved, p->reserve, err, errlen);

		if (room < 0) {
			r = room;
			goto fail;
		}
		p->by_quota = (uint64_t)room < p->reserve;
		p->reserve = (uint64_t)room;
	}
	p->next = cs->starting;
	cs->starting = p;
	/* the id names the file: insert, then rename; the temporary name is
	 * the start's own, as starts here and on other servers interleave */
	snprintf(tmp, sizeof(tmp), "%s/new-XXXXXX.pcapng", cs->conf.data_dir);
	p->fd = mkostemps(tmp, 7, O_CLOEXEC);
	if (p->fd < 0 || fchmod(p->fd, 0640)) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (p->fd >= 0)
			unlink(tmp);
		r = -EIO;
		goto fail;
	}
	p->id = reg_capture_add(cs->conf.reg, who->org, who->id, c->request, tmp,
				cs->conf.instance ? cs->conf.instance->id : NULL);
	snprintf(path, sizeof(path), "%s/%lld.pcapng", cs->conf.data_dir, (long long)p->id);
	if (p->id < 0 || rename(tmp, path)) {
		if (p->id < 0)
			snprintf(err, errlen, "registry: %s", reg_errmsg(cs->conf.reg));
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		r = -EIO;
		goto fail;
	}
	if (reg_capture_set_file(cs->conf.reg, p->id, path)) {
		snprintf(err, errlen, "registry: %s", reg_errmsg(cs->conf.reg));
		unlink(path);
		r = -EIO;
		goto fail;
	}
	if ((r = plan_devices(cs, p->id, 0, c, p->plan, err, errlen)))
		goto fail;
	*ret = p;
	return p->id;
fail:
	/* not left running: the row says why it never ran */
	prep_fail(cs, p, c, err);
	return r;
}

int srv_capture_launch(struct srv_captures *cs, struct srv_capture_prep *p,
		       const struct reg_user *who, const struct srv_capture_req *c, char *err,
		       size_t errlen)
{
	/* one device has no duplicates to find: skip the key and its index */
	struct srv_capture *l = capture_new(cs, p->id, p->org, c->ndevs, c->ndevs == 1 ? -1 : 0);

	if (!l || cs->closing || cs->stopping) {
		snprintf(err, errlen, l ? "the server is stopping" : "out of memory");
		if (l)
			capture_drop(l);
		prep_fail(cs, p, c, err);
		return -ENOMEM;
	}
	l->fd = p->fd;
	p->fd = -1;
	l->reserve = p->reserve;
	l->by_quota = p->by_quota;
	srv_mux_limit(l->mux, c->count, l->reserve == UINT64_MAX ? 0 : l->reserve);
	cs->ended.started++;
	go_live(l, c, p->plan);
	prep_free(cs, p);
	ecap_log(LOG_INFO, "capture %lld started by %s/%s on %u device(s)", (long long)l->id,
		 who->org_name, who->name, l->ndevs);
	if (--l->open == 0)
		finish(l);
	return 0;
}

int64_t srv_capture_start(struct srv_captures *cs, const struct reg_user *who,
			  const struct srv_capture_req *c, char *err, size_t errlen)
{
	struct srv_capture_prep *p;
	int64_t id = srv_capture_prepare(cs, who, c, &p, err, errlen);

	if (id < 0)
		return id;
	return srv_capture_launch(cs, p, who, c, err, errlen) ? -ENOMEM : id;
}

struct srv_capture *srv_capture_find(struct srv_captures *cs, int64_t org, int64_t id)
{
	for (struct srv_capture *l = cs->live; l; l = l->next)
		if (l->id == id && l->org == org && !l->part)
			return l;
	return NULL;
}

void srv_captures_stop_noticed(struct srv_captures *cs, int64_t id)
{
	for (struct srv_capture *l = cs->live; l; l = l->next)
		if (l->id == id && !l->done && !l->part) {
			ecap_log(LOG_INFO,
				 "capture %lld: another server signalled a stop: the registry "
				 "read now",
				 (long long)id);
			save(l); /* stops it if the registry says so */
		}
}

int srv_capture_stop(struct srv_captures *cs, int64_t org, int64_t id)
{
	struct srv_capture *l = srv_capture_find(cs, org, id);

	if (!l || l->done)
		return -ENOENT;
	cap_ask_stop(l, "stopped", "stopped by request");
	return 0;
}

void srv_captures_stop_all(struct srv_captures *cs)
{
	cs->stopping = 1; /* and none launched after */
	for (struct srv_capture *l = cs->live; l; l = l->next)
		cap_ask_stop(l, "server stopped", "server stopping");
}

int srv_captures_running(struct srv_captures *cs)
{
	int n = 0;

	for (struct srv_capture *l = cs->live; l; l = l->next)
		n += !l->done || l->watches;
	for (struct srv_capture_prep *p = cs->starting; p; p = p->next)
		n++; /* (it ends soon: launched, or refused as the server stops) */
	return n;
}

int srv_capture_done(const struct srv_capture *c)
{
	return c->done;
}

void srv_captures_stats(struct srv_captures *cs, struct srv_captures_stats *ret)
{
	*ret = cs->ended;
	for (struct srv_capture *l = cs->live; l; l = l->next) {
		struct srv_merge_stats st;

		if (l->done || l->part)
			continue;
		ret->running++;
		srv_mux_stats(l->mux, &st);
		ret->merged += st.merged;
		ret->duplicates += st.duplicates;
		ret->late += st.late;
	}
}

struct srv_captures *srv_captures_new(const struct srv_captures_conf *c)
{
	struct srv_captures *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return NULL;
	cs->conf = *c;
	snprintf(cs->bytes_why, sizeof(cs->bytes_why), "byte limit reached (%llu bytes of packets)",
		 (unsigned long long)c->bytes_max);
	/* one queue for every capture's tick: a capture is freed from its tick */
	h2o_timeout_init(c->loop, &cs->tick, TICK_MS);
	h2o_timeout_init(c->loop, &cs->zero, 0);
	ecap_slab_cache_init(&cs->slabs, SLAB_SIZE, SLABS_KEPT);
	cs->writer = srv_writer_new(c->loop);
	if (!cs->writer) {
		srv_captures_free(cs);
		return NULL;
	}
	return cs;
}

void srv_captures_free(struct srv_captures *cs)
{
	if (!cs)
		return;
	cs->closing = 1;	     /* the writes heard of below start no others */
	srv_writer_free(cs->writer); /* every write heard of first */
	cs->writer = NULL;
	while (cs->live)
		live_free(cs->live);
	h2o_timeout_dispose(cs->conf.loop, &cs->tick);
	h2o_timeout_dispose(cs->conf.loop, &cs->zero);
	ecap_slab_cache_dispose(&cs->slabs);
	free(cs);
}
