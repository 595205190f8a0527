/* reports.c - see reports.h.
 *
 * A tick every second takes the devices whose turn it is (not asked for an
 * interval, those asked longest ago first) as far as calls are free, marks
 * them asked and asks them (a round: on a coroutine when one is free, its
 * statements waiting off the loop; an answer's writes too); INFLIGHT calls
 * at most, each ended after
 * TIMEOUT_MS or REPORT_MAX bytes, so a device that trickles or streams
 * forever holds a slot no longer. The registry keeps the answer as the agent gave it, less its
 * captures (they change by the second and are the capture's business), plus
 * what the server measured: the device's clock against the server's (its
 * "time" against the middle of the call) and the call's round trip. A
 * device's clock is known to within half the round trip.
 *
 * A tunnel device whose last report shows other settings than the
 * administrator set (settings.h) is asked by PUT /v1/settings with them
 * instead, answered the same; a change asks the devices it concerns at
 * once (reg_devices_ask_soon).
 *
 * Fairness: an organization has at most ORG_SHARE asks under way and is
 * offered as many a tick, so hundreds of unreachable devices in one hold
 * no more than a quarter of the slots; and a device whose asks keep failing
 * is asked less often (reg_devices_due), so they come round less. */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "common/auth.h"
#include "common/httpc.h"
#include "common/log.h"
#include "service/device.h"
#include "service/reports.h"
#include "service/settings.h"

#define INFLIGHT   32
#define ORG_SHARE  (INFLIGHT / 4) /* one organization's asks at once */
#define TIMEOUT_MS 10000
#define REPORT_MAX (256u << 10)
#define TARGET	   "/v1/status"
#define SETTINGS   "/v1/settings" /* PUT with the set in its query: answered as TARGET */
#define TARGET_MAX 256
#define REFUSED	   1024 /* devices remembered for refusing their settings */

struct call {
	struct srv_reports *rs;
	int busy, over; /* under way; over, its resources to be let go */
	struct reg_device d;
	uint32_t mgmt;
	struct ecap_httpc_dest dest;
	struct ecap_httpc_call call;
	char headers[ECAP_AUTH_HEADER_MAX + 32];
	char target[TARGET_MAX]; /* TARGET, or SETTINGS with what the device is to run by */
	int tells;		 /* it is the latter */
	int64_t sent_mono; /* CLOCK_MONOTONIC ms: the timeout and the round trip; 0: not yet sent */
	char reason[200];  /* a refusal's Edgecap-Error */
	int writing;	   /* its answer is being written: the slot stays */
	/* an end heard while the call was being started (on_done from within
	 * ecap_httpc_start): answered once that returned, not inside it */
	int starting, ended;
	char *end_text;
	int64_t end_when;
	char end_why[320];
	int end_refusing;
};

struct srv_reports {
	struct srv_reports_conf conf;
	struct ecap_httpc_ctx http;
	h2o_timeout_t second;
	h2o_timeout_entry_t tick;
	struct call calls[INFLIGHT];
	/* devices that refused a set (an older agent, a settings file it
	 * cannot write): asked for their status as before, until the set
	 * they are to run by changes. A ring: the oldest are forgotten. */
	struct {
		int64_t device;
		uint64_t set; /* a hash of the PUT's target */
	} refused[REFUSED];
	unsigned refused_next;
	int rounding; /* a round asks the registry (round) */
};

static int64_t ms_of(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A string of at most max bytes, copied; NULL when v is not one. */
static json_t *str_max(json_t *v, size_t max)
{
	return json_is_string(v) && json_string_length(v) <= max ? json_copy(v) : NULL;
}

/* v when it is an integer within [min, max], else JSON null. */
static json_t *int_in(json_t *v, json_int_t min, json_int_t max)
{
	return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max
		   ? json_copy(v)
		   : json_null();
}

/* One interface as the agent reports it, its fields checked one by one
 * (a device's words are untrusted: the page shows them); NULL when it is
 * not one. */
static json_t *iface_of(json_t *i)
{
	json_t *o, *addrs = json_array(), *a = json_object_get(i, "addresses"), *v;
	json_t *name = str_max(json_object_get(i, "name"), 15);
	size_t k;

	if (!json_is_object(i) || !name || !addrs) {
		json_decref(name);
		json_decref(addrs);
		return NULL;
	}
	json_array_foreach(a, k, v)
		if (k < 64 && (v = str_max(v, 64)))
			json_array_append_new(addrs, v);
	o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", name, "ifindex",
		      int_in(json_object_get(i, "ifindex"), 1, INT32_MAX), "ingress",
		      str_max(json_object_get(i, "ingress"), 8) ?: json_null(), "linktype",
		      str_max(json_object_get(i, "linktype"), 16) ?: json_null(), "mac",
		      str_max(json_object_get(i, "mac"), 64) ?: json_null(), "mtu",
		      int_in(json_object_get(i, "mtu"), 0, 1 << 20), "state",
		      str_max(json_object_get(i, "state"), 16) ?: json_null(), "speed_mbps",
		      int_in(json_object_get(i, "speed_mbps"), 0, 1 << 30), "addresses", addrs);
	return o;
}

/* The answer as kept: only what the server shows of a device, each field
 * checked and bounded (agent and kernel, at most 64 interfaces), with what
 * the server measured: the device's clock against its own (real_at, the
 * middle of the call) and the round trip. NULL when it is not an agent's
 * status. */
static char *report_of(const struct ecap_buf *b, int64_t real_at, int64_t rtt)
{
	json_t *j = json_loadb((const char *)b->data, b->len, 0, NULL), *r = NULL, *ifs, *v;
	json_t *agent = str_max(json_object_get(j, "agent"), 128), *t = json_object_get(j, "time");
	char *text = NULL;
	size_t k;

	if (!json_is_object(j) || !agent || !(ifs = json_array()))
		goto out;
	json_array_foreach(json_object_get(j, "interfaces"), k, v)
		if (k < 64 && (v = iface_of(v)))
			json_array_append_new(ifs, v);
	/* a clock within a few thousand years of ours, or none */
	r = json_pack("{s:o, s:o, s:o, s:o, s:I}", "agent", agent, "kernel",
		      str_max(json_object_get(j, "kernel"), 128) ?: json_null(), "interfaces", ifs,
		      "clock_offset_ms",
		      json_is_integer(t) &&
			      llabs(json_integer_value(t) - real_at) < 100000000000000ll
			  ? json_integer(json_integer_value(t) - real_at)
			  : json_null(),
		      "rtt_ms", (json_int_t)rtt);
	agent = NULL;
	if (r && (v = srv_settings_reported(json_object_get(j, "settings"))))
		json_object_set_new(r, "settings", v);
	text = r ? json_dumps(r, JSON_COMPACT) : NULL;
out:
	json_decref(agent);
	json_decref(r);
	json_decref(j);
	return text;
}

/* Is the device to be told its settings: 1 when it goes through the tunnel
 * (they are the tunnel's), its last report's central set is not what it is
 * to run by (none reported: told when there are any) and it has not
 * refused that set; target then SETTINGS with them (when not NULL); else 0. */
static int tell(struct srv_reports *rs, const struct reg_device *d, char *target)
{
	char *text = NULL, *error = NULL, q[200];
	json_t *wanted, *report = NULL, *central;
	int64_t when;
	int differ;

	if (strcmp(d->transport, "udp") && strcmp(d->transport, "http"))
		return 0;
	if (!(wanted = srv_settings_wanted(rs->conf.reg, d->org, d->id)))
		return 0;
	if (!reg_device_report_get(rs->conf.reg, d->id, &text, &when, &error) && text)
		report = json_loads(text, 0, NULL);
	central = json_object_get(json_object_get(report, "settings"), "central");
	differ = central ? !json_equal(wanted, central) : json_object_size(wanted) > 0;
	if (differ) {
		char t[TARGET_MAX];
		uint64_t h;

		srv_settings_query(wanted, q, sizeof(q));
		snprintf(t, sizeof(t), SETTINGS "%s%s", q[0] ? "?" : "", q);
		h = XXH3_64bits(t, strlen(t));
		for (unsigned i = 0; i < REFUSED && differ; i++)
			if (rs->refused[i].device == d->id && rs->refused[i].set == h)
				differ = 0; /* it said no to this set */
		if (target)
			memcpy(target, t, sizeof(t));
	}
	json_decref(report);
	json_decref(wanted);
	free(text);
	free(error);
	return differ;
}

static void refused(struct srv_reports *rs, int64_t device, const char *target)
{
	rs->refused[rs->refused_next].device = device;
	rs->refused[rs->refused_next].set = XXH3_64bits(target, strlen(target));
	rs->refused_next = (rs->refused_next + 1) % REFUSED;
}

/* A refusal: its status, and the agent's reason from its Edgecap-Error
 * header, never the body, which any service at the address could write;
 * the call ends there. */
static int on_head(struct ecap_httpc_call *c)
{
	struct call *k = c->data;

	if (c->status == 200)
		return 0;
	srv_device_reason(c, k->reason, sizeof(k->reason));
	return -1;
}

/* The answer's bytes, kept up to REPORT_MAX: past it the call ends (a
 * device that streams forever holds no slot). */
static long on_body(struct ecap_httpc_call *c, const uint8_t *p, size_t n)
{
	if (c->resp.len + n > REPORT_MAX) {
		c->truncated = 1;
		return -1;
	}
	return ecap_buf_put(&c->resp, p, n) ? -1 : (long)n;
}

/* What an ask's end writes, copied off its call (which the next tick lets
 * go): written on a coroutine when one is free, as it keeps no pointer to
 * the call. */
struct answer {
	struct srv_reports *rs;
	struct call *k;	     /* its slot, kept until this is written (k->writing) */
	struct reg_device d; /* (less its secret) */
	char *text;	     /* the report, or NULL: why says why there is none */
	int64_t when;
	char why[320];
	char target[TARGET_MAX]; /* the set it was told (tells) */
	int tells, refusing;	 /* it said no to that set */
};

static void answer_write(void *arg)
{
	struct answer *a = arg;
	struct reg *reg = a->rs->conf.reg;
	char now[TARGET_MAX];

	if (a->text) {
		reg_device_report(reg, a->d.id, a->d.serial, a->text, a->when);
		/* it runs by other settings than it is to (a change came while
		 * it was asked, or it answered a GET): told at the next round.
		 * A device that answers a PUT with another set is remembered
		 * as refusing it, so this cannot go round. */
		if (tell(a->rs, &a->d, now)) {
			if (a->tells && !strcmp(now, a->target))
				refused(a->rs, a->d.id, a->target);
			else
				reg_devices_ask_soon(reg, a->d.org, a->d.name);
		}
	} else {
		reg_device_report_error(reg, a->d.id, a->d.serial, a->why);
		if (a->refusing)
			reg_devices_ask_soon(reg, a->d.org, a->d.name);
	}
	a->k->writing = 0; /* (a slot of rs, which lives as long as the server) */
	free(a->text);
	free(a);
}

/* The answer of k (text, taken) or why there is none, written; its slot
 * stays taken until then, so that the device is not asked again before. */
static void answer(struct call *k, char *text, int64_t when, const char *why, int refusing)
{
	struct answer *a;

	if (k->starting) { /* within ecap_httpc_start: after it (ask) */
		k->ended = 1;
		k->end_text = text;
		k->end_when = when;
		snprintf(k->end_why, sizeof(k->end_why), "%s", why ? why : "");
		k->end_refusing = refusing;
		return;
	}
	a = malloc(sizeof(*a));
	if (!a) {
		ecap_log(LOG_ERR, "reports: out of memory: %s's answer not kept", k->d.name);
		free(text);
		return;
	}
	*a = (struct answer){.rs = k->rs,
			     .k = k,
			     .d = k->d,
			     .text = text,
			     .when = when,
			     .tells = k->tells,
			     .refusing = refusing};
	OPENSSL_cleanse(&a->d.secret, sizeof(a->d.secret)); /* (not needed there) */
	k->writing = 1;
	snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
	memcpy(a->target, k->target, sizeof(a->target));
	if (!reg_async_run(k->rs->conf.reg, answer_write, a))
		answer_write(a);
}

static void on_done(struct ecap_httpc_call *c, const char *err)
{
	struct call *k = c->data;
	int64_t rtt = ms_of(CLOCK_MONOTONIC) - k->sent_mono, real = ms_of(CLOCK_REALTIME);
	char why[320], *text = NULL;
	int refusing = 0;

	if (k->over) /* (answered already) */
		return;
	k->over = 1;
	if (!err && c->status == 200 && !c->truncated &&
	    (text = report_of(&c->resp, real - rtt / 2, rtt))) {
		answer(k, text, real / 1000, NULL, 0);
		return;
	}
	if (c->status && c->status != 200)
		snprintf(why, sizeof(why), "HTTP %d from the agent%s%s", c->status,
			 k->reason[0] ? ": " : "", k->reason);
	else if (c->truncated)
		snprintf(why, sizeof(why), "the agent's status is longer than %u bytes",
			 REPORT_MAX);
	else if (err)
		snprintf(why, sizeof(why), "%s", err);
	else
		snprintf(why, sizeof(why), "the agent's status is not its JSON");
	/* the agent said no to the settings (not that it could not be
	 * reached, nor a signature it refused, which a clock put right
	 * mends): asked for its status alone, at once, until its set changes */
	if (k->tells && (c->status == 400 || c->status == 404 || c->status == 405 ||
			 c->status == 409 || c->status == 500)) {
		refused(k->rs, k->d.id, k->target);
		snprintf(why + strlen(why), sizeof(why) - strlen(why), " (refusing its settings)");
		refusing = 1;
	}
	answer(k, NULL, 0, why, refusing);
}

static int allowed(const struct sockaddr *sa, void *arg, char *why, size_t len)
{
	struct call *k = arg;

	return srv_reach_check(k->rs->conf.reach, sa, k->mgmt, why, len);
}

/* Ask k's device (its slot taken, k->d set): what to tell it from the
 * registry, then the call. */
static void ask(struct srv_reports *rs, struct call *k)
{
	const struct reg_device *d = &k->d;
	char url[REG_ADDRESS_MAX + 32], e[256], auth[ECAP_AUTH_HEADER_MAX];
	int failed;

	k->tells = tell(rs, d, k->target);
	if (!k->tells)
		snprintf(k->target, sizeof(k->target), "%s", TARGET);
	k->call = (struct ecap_httpc_call){.method = k->tells ? "PUT" : "GET",
					   .target = k->target,
					   .headers = k->headers,
					   .on_head = on_head,
					   .on_body = on_body,
					   .on_done = on_done,
					   .data = k};
	if (srv_device_url(d, url, sizeof(url), &k->mgmt)) {
		snprintf(e, sizeof(e), "bad device address");
		goto fail;
	}
	if (ecap_auth_header(d->secret, sizeof(d->secret), k->call.method, k->target,
			     strlen(k->target), time(NULL), auth, sizeof(auth))) {
		snprintf(e, sizeof(e), "signing the request failed");
		goto fail;
	}
	snprintf(k->headers, sizeof(k->headers), "Authorization: %s\r\n", auth);
	if (ecap_httpc_dest_init(
		&k->dest, &rs->http, url,
		&(struct ecap_httpc_dest_opts){.ca_store = rs->conf.ca_store,
					       .allow = rs->conf.reach ? allowed : NULL,
					       .allow_arg = k},
		e, sizeof(e)))
		goto fail;
	k->sent_mono = ms_of(CLOCK_MONOTONIC);
	k->starting = 1;
	failed = ecap_httpc_start(&k->dest, &k->call);
	k->starting = 0;
	if (k->ended) /* it ended at once: its answer now, outside the start */
		answer(k, k->end_text, k->end_when, k->end_why[0] ? k->end_why : NULL,
		       k->end_refusing);
	else if (failed) {
		snprintf(e, sizeof(e), "out of memory");
		goto fail;
	}
	return;
fail:
	k->over = 1;
	answer(k, NULL, 0, e, 0);
}

static void let_go(struct call *k)
{
	ecap_httpc_cancel(&k->call);
	ecap_httpc_call_reset(&k->call);
	ecap_httpc_dest_dispose(&k->dest);
	OPENSSL_cleanse(&k->d.secret, sizeof(k->d.secret));
	k->busy = k->over = 0;
}

static int asked(const struct srv_reports *rs, int64_t device)
{
	for (unsigned i = 0; i < INFLIGHT; i++)
		if (rs->calls[i].busy && rs->calls[i].d.id == device)
			return 1;
	return 0;
}

static unsigned org_busy(const struct srv_reports *rs, int64_t org)
{
	unsigned n = 0;

	for (unsigned i = 0; i < INFLIGHT; i++)
		n += rs->calls[i].busy && rs->calls[i].d.org == org;
	return n;
}

/* A round: the devices whose turn it is, each in a free slot, asked. On a
 * coroutine when one is free: a slot is taken before the statements
 * about its device (so no other round takes it, nor asks the device), and
 * the calls are made in rs, which lives as long as the server; one round
 * at a time. */
static void ask_round(void *arg)
{
	struct srv_reports *rs = arg;
	struct reg_device *due = NULL;
	size_t n = 0, at = 0;
	int64_t now = time(NULL);

	if (!reg_devices_due(rs->conf.reg, rs->conf.instance, now, rs->conf.interval_s, ORG_SHARE,
			     INFLIGHT, &due, &n)) {
		for (unsigned i = 0; i < INFLIGHT && at < n; i++) {
			struct call *k = &rs->calls[i];

			if (k->busy)
				continue;
			/* its turn comes when one of its own ends; a device asked
			 * already waits for that answer (a change of settings
			 * meanwhile asks it again after) */
			while (at < n &&
			       (org_busy(rs, due[at].org) >= ORG_SHARE || asked(rs, due[at].id)))
				at++;
			if (at == n)
				break;
			*k = (struct call){.rs = rs, .busy = 1, .d = due[at++]};
			reg_device_polled(rs->conf.reg, k->d.id, now);
			ask(rs, k);
		}
		for (size_t i = 0; i < n; i++)
			OPENSSL_cleanse(&due[i].secret, sizeof(due[i].secret));
		free(due);
	}
	rs->rounding = 0;
}

static void on_tick(h2o_timeout_entry_t *e)
{
	struct srv_reports *rs = H2O_STRUCT_FROM_MEMBER(struct srv_reports, tick, e);
	size_t nfree = 0;

	for (unsigned i = 0; i < INFLIGHT; i++) {
		struct call *k = &rs->calls[i];

		/* one that trickles: its whole answer within TIMEOUT_MS */
		if (k->busy && !k->over && k->sent_mono &&
		    ms_of(CLOCK_MONOTONIC) - k->sent_mono > TIMEOUT_MS) {
			ecap_httpc_cancel(&k->call); /* (no on_done after) */
			k->over = 1;
			answer(k, NULL, 0, "no whole answer within 10 s", 0);
		}
		if (k->over && !k->writing)
			let_go(k);
		nfree += !k->busy;
	}
	h2o_timeout_link(rs->conf.loop, &rs->second, &rs->tick);
	if (nfree && !rs->rounding) {
		rs->rounding = 1;
		if (!reg_async_run(rs->conf.reg, ask_round, rs))
			ask_round(rs);
	}
}

struct srv_reports *srv_reports_new(const struct srv_reports_conf *c)
{
	struct srv_reports *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->conf = *c;
	ecap_httpc_ctx_init(&rs->http, c->loop, c->getaddr,
			    c->interval_s * 1000u < TIMEOUT_MS ? c->interval_s * 1000u : TIMEOUT_MS,
			    c->userappl);
	h2o_timeout_init(c->loop, &rs->second, 1000);
	rs->tick.cb = on_tick;
	h2o_timeout_link(c->loop, &rs->second, &rs->tick);
	return rs;
}

void srv_reports_free(struct srv_reports *rs)
{
	if (!rs)
		return;
	for (unsigned i = 0; i < INFLIGHT; i++)
		if (rs->calls[i].busy)
			let_go(&rs->calls[i]);
	if (h2o_timeout_is_linked(&rs->tick))
		h2o_timeout_unlink(&rs->tick);
	h2o_timeout_dispose(rs->conf.loop, &rs->second);
	ecap_httpc_ctx_dispose(&rs->http);
	free(rs);
}
