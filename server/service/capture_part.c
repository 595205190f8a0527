/* capture_part.c - the parts of a capture that other servers merge for it
 * (docs/scale.md), on the side of the server that runs it.
 *
 * The devices whose tunnels one other server holds are one part: one
 * request to that server,
 *
 *   POST /internal/v1/captures/ID/part?sha256=BODY'S
 *
 * signed with the key the servers share (over the target, and so the
 * body), the capture's program and each device's interfaces in the JSON
 * body. That server connects to its devices as for a capture of its own
 * (srv_capture_part), merges them in order without taking duplicates out,
 * and streams the result back with marks while they are silent. It is one
 * input of the mux here, whose interfaces are each their device's for
 * de-duplication (srv_mux_add_part): the file, its order and its duplicate
 * count are what this server would write holding them all.
 *
 * The holder writes its devices' states and counters into the registry as
 * they change; this server writes their duplicates, and, when the part
 * fails (refused, broken off, cut at a stop), the reason for each device
 * that had not ended. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "common/log.h"
#include "service/capture_int.h"
#include "service/device.h"
#include "service/instance.h"

static void part_cut_one(struct part_conn *pc, const char *why);

/* The states the holder wrote, into each of the part's devices; why (NULL:
 * none) for those that had not ended, failed. */
static void settle(struct part_conn *pc, const char *why)
{
	struct srv_capture *l = pc->l;
	struct reg *reg = l->cs->conf.reg;
	struct reg_capture *cap = NULL;
	size_t n = 0;

	int known = !reg_captures_list(reg, l->org, l->id, &cap, &n) && n == 1;

	if (!known)
		n = 0;
	for (unsigned k = 0; k < pc->ndevs; k++) {
		struct dev_conn *dc = &l->devs[pc->devs[k]];

		for (size_t i = 0; n && i < cap->ndevs; i++) {
			const struct reg_capture_device *rd = &cap->devs[i];

			if (strcmp(rd->device, dc->d.name))
				continue;
			dc->state = !strcmp(rd->state, "done")	      ? "done"
				    : !strcmp(rd->state, "failed")    ? "failed"
				    : !strcmp(rd->state, "streaming") ? "streaming"
								      : "connecting";
			snprintf(dc->error, sizeof(dc->error), "%s", rd->error ? rd->error : "");
		}
		/* (the registry unread, only a reason of ours fails it; the
		 * registry keeps an end the holder wrote meanwhile) */
		if (!strcmp(dc->state, "done") || !strcmp(dc->state, "failed") || (!known && !why))
			continue;
		snprintf(dc->error, sizeof(dc->error), "%s",
			 why ? why : "its part ended before it did");
		dc->state = "failed";
		ecap_log(LOG_WARNING, "capture %lld: device %s: %s", (long long)l->id, dc->d.name,
			 dc->error);
		reg_capture_device_update(
		    reg, l->id, dc->d.id,
		    &(struct reg_capture_device_state){
			.state = dc->state,
			.error = dc->error,
			.keep_counts = 1,
			.duplicates = srv_mux_part_duplicates(l->mux, pc->input, k)});
	}
	reg_captures_free(cap, n);
}

/* The part is over: settled, and one connection fewer. */
static void part_over(struct part_conn *pc, const char *why)
{
	if (pc->over)
		return;
	pc->over = 1;
	settle(pc, why);
	cap_closed(pc->l);
}

static int on_head(struct ecap_httpc_call *c)
{
	struct part_conn *pc = c->data;

	if (c->status != 200)
		srv_device_reason(c, pc->reason, sizeof(pc->reason));
	return 0;
}

static long on_body(struct ecap_httpc_call *c, const uint8_t *p, size_t n)
{
	struct part_conn *pc = c->data;
	char err[320];
	/* (a malformed stream closes its input, with the reason) */
	return cap_take(pc->l, pc->input, &pc->heard, c->slab, p, n, err, sizeof(err));
}

static void on_done(struct ecap_httpc_call *c, const char *err)
{
	struct part_conn *pc = c->data;
	struct srv_capture *l = pc->l;
	struct srv_mux_input_stats st;
	char why[400];
	const char *lost = NULL;

	why[0] = 0;
	if (!err && c->status != 200) {
		snprintf(why, sizeof(why), "the server holding its tunnel refused: HTTP %d%s%s",
			 c->status, pc->reason[0] ? ": " : "", pc->reason);
	} else if (srv_mux_error(l->mux, pc->input)) {
		snprintf(why, sizeof(why), "the stream from the server holding its tunnel: %s",
			 srv_mux_error(l->mux, pc->input));
	} else if (err) {
		snprintf(why, sizeof(why),
			 "the stream from the server holding its tunnel broke off: %s", err);
	} else if (srv_mux_close(l->mux, pc->input, NULL)) {
		snprintf(why, sizeof(why), "the stream from the server holding its tunnel: %s",
			 srv_mux_error(l->mux, pc->input));
	} else if (srv_mux_input_stats(l->mux, pc->input, &st), !st.stats_seen && l->stop_at) {
		srv_mux_stop(l->mux, pc->input); /* stopped before its devices' statistics */
	} else if (!st.stats_seen && !st.ifaces) {
		lost = NULL; /* none of its devices answered: the holder said why */
	} else if (!st.stats_seen) {
		snprintf(why, sizeof(why),
			 "the stream from the server holding its tunnel broke off (no end "
			 "statistics)");
	}
	if (why[0]) {
		lost = why;
		srv_mux_close(l->mux, pc->input, why); /* (kept if it was closed) */
	}
	part_over(pc, lost);
}

/* The request's body: the capture's programs, each device with its
 * interfaces. NULL without memory. */
static char *body_of(struct part_conn *pc, const struct srv_capture_req *c)
{
	struct srv_capture *l = pc->l;
	json_t *devs = json_array(), *progs = json_array(), *o;
	char *text;

	for (unsigned k = 0; k < pc->ndevs; k++) {
		unsigned i = pc->devs[k];

		json_array_append_new(
		    devs, json_pack("{s:I, s:s}", "id", (json_int_t)l->devs[i].d.id, "ifaces",
				    c->dev_ifaces ? c->dev_ifaces[i] : c->ifaces));
	}
	for (unsigned i = 0; i < c->nprogs && i < SRV_CAPTURE_LINKTYPES; i++)
		json_array_append_new(progs,
				      json_pack("{s:s, s:s}", "linktype", c->progs[i].linktype,
						"bpf", c->progs[i].bpf));
	o = json_pack("{s:I, s:o, s:o, s:s, s:I, s:I, s:I}", "org", (json_int_t)l->org, "devices",
		      devs, "progs", progs, "dir", c->dir, "snaplen", (json_int_t)c->snaplen,
		      "count", (json_int_t)c->count, "duration", (json_int_t)c->duration);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

/* Ask the part's server: 0, or the reason it cannot be asked. */
static const char *part_start(struct part_conn *pc, const struct srv_capture_req *c)
{
	struct srv_capture *l = pc->l;
	struct srv_captures *cs = l->cs;
	uint8_t md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1], e[256];
	static char why[300];
	size_t used, mem = l->dev_mem * pc->ndevs;

	pc->pool = ecap_slab_pool_new(&cs->slabs, SLAB_SIZE, mem < CAPTURE_MEM ? mem : CAPTURE_MEM);
	pc->body = body_of(pc, c);
	if (!pc->pool || !pc->body)
		return "out of memory";
	SHA256((const uint8_t *)pc->body, strlen(pc->body), md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (asprintf(&pc->target, "/internal/v1/captures/%lld/part?sha256=%s", (long long)l->id,
		     hex) < 0) {
		pc->target = NULL;
		return "out of memory";
	}
	used = (size_t)snprintf(pc->headers, sizeof(pc->headers),
				"Content-Type: application/json\r\n");
	if (srv_instance_sign(cs->conf.instance, "POST", pc->target, pc->headers + used,
			      sizeof(pc->headers) - used))
		return "out of memory";
	/* (another server is not a device: reach does not apply to it) */
	if (ecap_httpc_dest_init(&pc->dest, &l->http, pc->url,
				 &(struct ecap_httpc_dest_opts){.ca_store = cs->conf.ca_store}, e,
				 sizeof(e))) {
		snprintf(why, sizeof(why), "the server holding its tunnel: %s", e);
		return why;
	}
	pc->dest_ok = 1;
	pc->call = (struct ecap_httpc_call){.method = "POST",
					    .target = pc->target,
					    .headers = pc->headers,
					    .body = pc->body,
					    .body_len = strlen(pc->body),
					    .on_head = on_head,
					    .on_body = on_body,
					    .on_done = on_done,
					    .resp_max = 0,
					    .pool = pc->pool,
					    .data = pc};
	return ecap_httpc_start(&pc->dest, &pc->call) ? "out of memory" : NULL;
}

/* A device that never reached its part: failed, here. */
static void unreached(struct srv_capture *l, struct dev_conn *dc, const char *why)
{
	dc->state = "failed";
	snprintf(dc->error, sizeof(dc->error), "%s", why);
	reg_capture_device_update(
	    l->cs->conf.reg, l->id, dc->d.id,
	    &(struct reg_capture_device_state){.state = dc->state, .error = dc->error});
}

void cap_parts_start(struct srv_capture *l, const struct srv_capture_req *c)
{
	for (unsigned i = 0; i < l->ndevs; i++) {
		struct dev_conn *dc = &l->devs[i];
		struct part_conn *pc = NULL;

		if (!dc->hop)
			continue;
		if (!l->parts && !(l->parts = calloc(l->ndevs, sizeof(*l->parts)))) {
			unreached(l, dc, "out of memory");
			continue;
		}
		for (unsigned k = 0; k < l->nparts && !pc; k++)
			if (!strcmp(l->parts[k].url, dc->hop))
				pc = &l->parts[k];
		if (!pc) {
			struct part_conn n = {.l = l, .url = dc->hop};

			if (!(n.devs = calloc(l->ndevs, sizeof(*n.devs)))) {
				unreached(l, dc, "out of memory");
				continue;
			}
			pc = &l->parts[l->nparts++];
			*pc = n;
		}
		dc->part = pc;
		dc->part_k = pc->ndevs;
		pc->devs[pc->ndevs++] = i;
	}
	for (unsigned k = 0; k < l->nparts; k++) {
		struct part_conn *pc = &l->parts[k];
		const char *names[SRV_MERGE_INPUTS_MAX], *why;
		int in;

		if (!pc->ndevs)
			continue;
		for (unsigned j = 0; j < pc->ndevs && j < SRV_MERGE_INPUTS_MAX; j++)
			names[j] = l->devs[pc->devs[j]].d.name;
		in = srv_mux_add_part(l->mux, pc->url, names, pc->ndevs);
		l->open++;
		if (in < 0) {
			pc->over = pc->no_input = 1; /* its devices fail here */
			for (unsigned j = 0; j < pc->ndevs; j++)
				unreached(l, &l->devs[pc->devs[j]], "out of memory");
			cap_closed(l);
			continue;
		}
		pc->input = (unsigned)in;
		srv_mux_bound(l->mux, pc->input,
			      c->snaplen + BLOCK_SLACK > BLOCK_MIN ? c->snaplen + BLOCK_SLACK
								   : BLOCK_MIN,
			      STREAM_IFACES * pc->ndevs, STREAM_SECTIONS);
		ecap_log(LOG_INFO, "capture %lld: %u device(s) merged by the server at %s",
			 (long long)l->id, pc->ndevs, pc->url);
		why = part_start(pc, c);
		if (why) {
			srv_mux_close(l->mux, pc->input, why);
			part_over(pc, why);
		}
	}
}

void cap_parts_run(struct srv_capture *l, int64_t now)
{
	for (unsigned k = 0; k < l->nparts; k++) {
		struct part_conn *pc = &l->parts[k];

		if (pc->over)
			continue;
		if (now - pc->heard > HEAR_NS && ecap_httpc_waiting(&pc->call))
			srv_mux_heard(l->mux, pc->input, now);
		if (pc->pool)
			srv_mux_squeeze(l->mux, pc->input,
					ecap_slab_pool_out(pc->pool) + SLAB_SIZE >
					    ecap_slab_pool_max(pc->pool));
	}
}

void cap_parts_stop(struct srv_capture *l)
{
	/* the holder stops its devices when this side is shut, and ends the
	 * part with their statistics */
	for (unsigned k = 0; k < l->nparts; k++) {
		struct part_conn *pc = &l->parts[k];

		if (!pc->over && ecap_httpc_running(&pc->call) &&
		    ecap_httpc_shutdown_write(&pc->call))
			part_cut_one(pc, "stopped before the server holding its tunnel answered");
	}
}

static void part_cut_one(struct part_conn *pc, const char *why)
{
	ecap_httpc_cancel(&pc->call);
	srv_mux_stop(pc->l->mux, pc->input);
	part_over(pc, why);
}

void cap_parts_cut(struct srv_capture *l, const char *why)
{
	for (unsigned k = 0; k < l->nparts; k++)
		if (!l->parts[k].over)
			part_cut_one(&l->parts[k], why);
}

void cap_parts_free(struct srv_capture *l)
{
	for (unsigned k = 0; k < l->nparts; k++) {
		struct part_conn *pc = &l->parts[k];

		ecap_httpc_cancel(&pc->call);
		ecap_httpc_call_reset(&pc->call);
		if (pc->dest_ok)
			ecap_httpc_dest_dispose(&pc->dest);
		ecap_slab_pool_free(pc->pool);
		free(pc->devs);
		free(pc->target);
		free(pc->body);
	}
	free(l->parts);
}
