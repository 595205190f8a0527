/* tunnel.c - the devices' side of the management tunnel (docs/tunnel.md):
 *
 *   POST /tunnel/v1/register {serial, ts, nonce, dh, sig}
 *   POST /tunnel/v1/poll     a batch of datagrams; Edgecap-Client, -Seq, -Sig
 *
 * A poll is answered later, when the long-poll table has something for the
 * device or its hold time passes. Polls are HTTP/1 only: h2o does not read
 * an HTTP/1 connection while a request is in progress, so it frees the
 * request only after we answer it (HTTP/2 could reset the stream under us,
 * and a hook in the request's pool to learn of that would cost a 4 KiB pool
 * chunk per parked device). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/auth.h"
#include "tunnel/settings.h"

#define STR_(x) #x
#define STR(x)	STR_(x)

static h2o_generator_t inline_gen; /* a response sent whole: nothing to proceed or stop */

void srv_tunnel_answer(void *waiter, const uint8_t *body, size_t len)
{
	h2o_req_t *req = waiter;
	char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);

	if (len)
		memcpy(copy, body, len);
	req->res.status = 200;
	req->res.reason = "OK";
	req->res.content_length = len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/octet-stream"));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store, no-transform"));
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0,
			      NULL, H2O_STRLIT("no"));
	h2o_start_response(req, &inline_gen);
	h2o_send(req, &(h2o_iovec_t){copy, len}, 1, H2O_SEND_STATE_FINAL);
}

/* The optional words of a registration that reach the registry: checked
 * here, so that what an owner later sees was a name, a URL of ours, a hash.
 * NULL, or the field's complaint. */
static const char *check_words(const struct srv_tunnel_reg *in)
{
	const char *port;
	size_t n;

	if (!srv_valid_name(in->serial, REG_SERIAL_MAX))
		return "serial: 1 to " STR(REG_SERIAL_MAX) " of A-Z a-z 0-9 . _ -";
	if (in->claim && (strlen(in->claim) != MTUN_CLAIM_HEX - 1 ||
			  strspn(in->claim, "0123456789abcdef") != MTUN_CLAIM_HEX - 1))
		return "claim: want SHA-256 in lowercase hex";
	if (in->hostname && !srv_valid_name(in->hostname, REG_NAME_MAX))
		return "name: 1 to " STR(REG_NAME_MAX) " of A-Z a-z 0-9 . _ -";
	if (!in->agent)
		return NULL;
	port = !strncmp(in->agent, "http://tunnel:", 14)    ? in->agent + 14
	       : !strncmp(in->agent, "https://tunnel:", 15) ? in->agent + 15
							    : NULL;
	n = port ? strspn(port, "0123456789") : 0;
	if (!port || !n || n > 5 || port[n] || atoi(port) < 1 || atoi(port) > 65535)
		return "agent: want http://tunnel:PORT or https://tunnel:PORT";
	return NULL;
}

/* A header's value as a C string in buf, or NULL. */
static const char *header(h2o_req_t *req, const char *name, char *buf, size_t len)
{
	ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
	h2o_iovec_t v;

	if (i < 0)
		return NULL;
	v = req->headers.entries[i].value;
	if (v.len >= len)
		return NULL;
	memcpy(buf, v.base, v.len);
	buf[v.len] = 0;
	return buf;
}

int srv_tunnel_register_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
			   char **params)
{
	struct srv_tunnel_reg in = {0};
	struct srv_tunnel_grant g;
	json_error_t e;
	json_t *j;
	json_int_t ts;
	char err[256], source[64], relay[16], relay_sig[40];
	const char *bad;
	int r;

	if (!api->tunnel)
		return srv_fail(req, 404, "the tunnel is not enabled on this server");
	j = req->entity.base ? json_loadb(req->entity.base, req->entity.len, 0, &e) : NULL;
	if (!j ||
	    json_unpack_ex(j, &e, JSON_STRICT, "{s:s, s:I, s:s, s:s, s:s, s:s, s?s, s?s, s?s, s?b}",
			   "serial", &in.serial, "ts", &ts, "nonce", &in.nonce, "dh", &in.dh, "sig",
			   &in.sig, "pubkey", &in.pubkey, "claim", &in.claim, "name", &in.hostname,
			   "agent", &in.agent, "tls", &in.tls)) {
		srv_fail(req, 400,
			 "want {serial, ts, nonce, dh, sig, pubkey[, claim, name, agent, tls]}%s%s",
			 j ? ": " : "", j ? e.text : "");
		goto out;
	}
	if ((bad = check_words(&in))) {
		srv_fail(req, 400, "%s", bad);
		goto out;
	}
	in.ts = ts;
	srv_client_address(api, req, source, sizeof(source));
	in.source = source;
	/* passed on by a gateway: its client id and MAC over the body */
	in.relay = header(req, "edgecap-relay", relay, sizeof(relay));
	in.relay_sig = header(req, "edgecap-relay-sig", relay_sig, sizeof(relay_sig));
	if ((!in.relay || strspn(in.relay, "0123456789abcdef") != 8 || in.relay[8]) &&
	    h2o_find_header_by_str(&req->headers, H2O_STRLIT("edgecap-relay"), -1) >= 0) {
		srv_fail(req, 400, "Edgecap-Relay: want the gateway's client id, 8 hex digits");
		goto out;
	}
	in.body = req->entity.base;
	in.body_len = req->entity.len;
	r = srv_tunnel_register(api->tunnel, &in, &g, err, sizeof(err));
	if (r == -EAGAIN) {
		/* the device waits for its owner: it asks again, and says so */
		srv_json(req, 202,
			 json_pack("{s:s, s:s, s:i}", "state", "unclaimed", "serial", in.serial,
				   "retry", SRV_UNCLAIMED_RETRY_S));
		goto out;
	}
	if (r) {
		srv_fail(req, r == -EINVAL ? 400 : r == -EACCES ? 403 : 503, "%s", err);
		goto out;
	}
	srv_json(req, 200,
		 json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:s*, s:s*, s:s*, s:s*}",
			   "client", (json_int_t)g.client, "dh", g.dh, "address", g.address,
			   "server", g.server, "prefix", g.prefix, "udp_port", (int)g.udp_port,
			   "mtu", g.mtu, "secret", g.secret, "cert", g.cert[0] ? g.cert : NULL,
			   "server_key", g.server_key[0] ? g.server_key : NULL, "sig",
			   g.sig[0] ? g.sig : NULL, "via", g.via[0] ? g.via : NULL));
out:
	json_decref(j);
	return 0;
}

static int unauthorized(h2o_req_t *req, const char *why)
{
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
		       H2O_STRLIT("Edgecap-Tunnel"));
	return srv_fail(req, 401, "%s", why);
}

/* A registered device says its interfaces changed: it is asked for its
 * report at the server's next round, not at its minute. Signed with the
 * session key over "changed\n" client "\n" its clock, within the skew. */
int srv_tunnel_changed_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
			  char **params)
{
	char idb[16], tsb[24], sigb[64], *end;
	const char *id_s = header(req, "edgecap-client", idb, sizeof(idb)),
		   *ts_s = header(req, "edgecap-time", tsb, sizeof(tsb)),
		   *sig_s = header(req, "edgecap-sig", sigb, sizeof(sigb));
	unsigned long id;
	long long ts;
	int r;

	if (!api->tunnel)
		return srv_fail(req, 404, "the tunnel is not enabled on this server");
	if (!id_s || !ts_s || !sig_s)
		return unauthorized(req, "want Edgecap-Client, Edgecap-Time and Edgecap-Sig");
	id = strtoul(id_s, &end, 16);
	if (*end || strlen(id_s) != 8 || id > UINT32_MAX)
		return srv_fail(req, 400, "Edgecap-Client: want 8 hex digits");
	ts = strtoll(ts_s, &end, 10);
	if (*end || !*ts_s)
		return srv_fail(req, 400, "Edgecap-Time: want unix seconds");
	r = srv_tunnel_changed(api->tunnel, (uint32_t)id, ts, sig_s);
	if (r == -ENOENT)
		return unauthorized(req, "unknown client: register again");
	if (r == -EACCES)
		return srv_fail(req, 403, "bad signature");
	if (r == -ETIME)
		return srv_fail(req, 403, "Edgecap-Time more than %d s off", ECAP_AUTH_SKEW);
	if (r)
		return srv_fail(req, 500, "MAC failed");
	req->res.status = 204;
	req->res.reason = "No Content";
	h2o_send_inline(req, NULL, 0);
	return 0;
}

int srv_tunnel_poll_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       char **params)
{
	char idb[16], seqb[24], sigb[64], holdb[16], err[256], *end;
	const char *id_s = header(req, "edgecap-client", idb, sizeof(idb)),
		   *seq_s = header(req, "edgecap-seq", seqb, sizeof(seqb)),
		   *sig_s = header(req, "edgecap-sig", sigb, sizeof(sigb)),
		   *hold_s = header(req, "edgecap-hold", holdb, sizeof(holdb));
	unsigned long id, hold = 0;
	unsigned long long seq;
	int r;

	if (!api->tunnel)
		return srv_fail(req, 404, "the tunnel is not enabled on this server");
	if (req->version >= 0x200)
		return srv_fail(req, 505, "polls are HTTP/1.x");
	if (!id_s || !seq_s || !sig_s)
		return unauthorized(req, "want Edgecap-Client, Edgecap-Seq and Edgecap-Sig");
	id = strtoul(id_s, &end, 16);
	if (*end || !*id_s || id > UINT32_MAX || !(seq = strtoull(seq_s, &end, 10)) || *end)
		return srv_fail(req, 400, "Edgecap-Client: want 8 hex digits; Edgecap-Seq: from 1");
	/* the device's own hold (the settings an administrator gave it) */
	if (hold_s || h2o_find_header_by_str(&req->headers, H2O_STRLIT("edgecap-hold"), -1) >= 0) {
		hold = hold_s ? strtoul(hold_s, &end, 10) : 0;
		if (!hold_s || *end || !*hold_s ||
		    mtun_setting_check(MTUN_SET_HOLD, (long long)hold, err, sizeof(err)))
			return srv_fail(
			    req, 400, "Edgecap-Hold: want ms from %u to %u, whole seconds",
			    mtun_settings[MTUN_SET_HOLD].min, mtun_settings[MTUN_SET_HOLD].max);
	}
	r = srv_tunnel_poll_check(api->tunnel, (uint32_t)id, seq, (unsigned)hold, sig_s);
	if (r == -ENOENT) {
		snprintf(err, sizeof(err), "unknown client %08lx: register again", id);
		return unauthorized(req, err);
	}
	if (r == -EACCES)
		return srv_fail(req, 403, "bad signature");
	if (r == -EALREADY)
		return srv_fail(req, 403, "replayed request %llu", seq);
	if (r)
		return srv_fail(req, 500, "MAC failed");
	r = srv_lptab_poll(
	    srv_tunnel_lptab(api->tunnel), (uint32_t)id, (const uint8_t *)req->entity.base,
	    req->entity.base ? req->entity.len : 0, (unsigned)hold, req, err, sizeof(err));
	if (r)
		return srv_fail(req, r == -EINVAL ? 400 : 503, "%s", err);
	return 0;
}
