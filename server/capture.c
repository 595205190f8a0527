/* capture.c - a running capture: one HTTP/1.1 connection to each device's
 * agent (h2o's client), each response stream fed to the mux as it arrives,
 * the merged pcapng appended to DATA/ID.pcapng, and readers following that
 * file live: as pcapng (/pcap) or as tcpdump lines (/text). A reader that
 * joins late starts at the beginning.
 *
 * A capture ends when every device's stream has ended (its limits), at its
 * packet count, at DELETE, at server shutdown, or when its last reader goes
 * away (it had one: someone was watching and stopped). A device that cannot
 * be reached, refuses or breaks off is marked failed with the reason; the
 * others go on. The registry holds each device's state and counters,
 * updated as they change and every second. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/auth.h"
#include "tunnel/identity.h"
#include "server.h"
#include "text.h"

#define TICK_MS        100
#define DB_EVERY_MS    1000
#define END_GRACE_MS   10000 /* for devices to end after the duration */
#define STOP_WAIT_MS   2000  /* for devices to send their statistics after a stop */
#define READ_CHUNK     (64u << 10)
#define ERRBODY_MAX    300

struct dev_conn {
	struct live *l;
	unsigned input;
	struct reg_device d;
	h2o_http1client_t *client; /* NULL once it is done */
	h2o_http1client_ctx_t cctx; /* the capture's, with this device's TLS */
	SSL_CTX *ssl;               /* HTTPS: checks the device's name */
	h2o_iovec_t reqbuf;
	int status;
	const char *state; /* connecting, streaming, done, failed */
	char error[320];
	struct ecap_buf errbody; /* a refusal's body */
	char mgmt[16];           /* the host "tunnel": the device's management address */
};

struct reader {
	struct live *l; /* NULL: a finished capture, read from its file */
	struct server *s;
	h2o_req_t *req; /* NULL once final or gone */
	h2o_generator_t gen;
	int fd;
	uint64_t off;
	int text;
	int inflight, waiting;
	struct ecap_buf out;
	uint8_t *chunk;
	struct srv_text *tx; /* text: the decoder */
	struct reader *next;
};

struct live {
	struct server *s;
	int64_t id, org;
	int fd;
	struct srv_mux *mux;
	struct dev_conn *devs;
	unsigned ndevs, open;
	h2o_http1client_ctx_t cctx;
	h2o_timeout_t io_timeout; /* this capture's silence limit */
	h2o_timeout_entry_t tick, kick;
	uint64_t deadline, next_db; /* loop ms; deadline 0: none */
	uint64_t stop_at;           /* stopping: devices still streaming are cut then */
	struct reader *readers;
	const char *stop_why; /* a stop was asked for: kick runs it */
	int done;
	char error[256]; /* the capture itself failed (its file) */
	struct live *next;
};

static int64_t wall_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

static void reader_pump(struct reader *r);

/* Stop the capture soon, outside any client callback (on_kick). */
static void ask_stop(struct live *l, const char *why)
{
	if (l->done)
		return;
	if (!l->stop_why)
		l->stop_why = why;
	if (!h2o_timeout_is_linked(&l->kick))
		h2o_timeout_link(l->s->ctx.loop, &l->s->ctx.zero_timeout, &l->kick);
}

static void save_device(struct dev_conn *dc)
{
	struct srv_mux_input_stats st;

	srv_mux_input_stats(dc->l->mux, dc->input, &st);
	reg_capture_device_update(dc->l->s->reg, dc->l->id, dc->d.id,
				  &(struct reg_capture_device_state){
					  .state = dc->state,
					  .error = dc->error[0] ? dc->error : NULL,
					  .bytes = st.bytes,
					  .packets = st.packets,
					  .duplicates = st.duplicates,
					  .dropped = st.ifdrop + st.osdrop,
				  });
}

static void save(struct live *l)
{
	struct srv_merge_stats st;

	srv_mux_stats(l->mux, &st);
	for (unsigned i = 0; i < l->ndevs; i++)
		save_device(&l->devs[i]);
	reg_capture_update(l->s->reg, l->id,
			   &(struct reg_capture_state){.state = l->done ? "done" : "running",
						       .merged = st.merged,
						       .duplicates = st.duplicates,
						       .late = st.late,
						       .ended = l->done ? time(NULL) : 0});
}

/* The mux's output to the file; readers waiting for it are woken. */
static void flush_out(struct live *l)
{
	struct ecap_buf *b = srv_mux_out(l->mux);
	int r = b->err ? b->err : l->error[0] ? 0 : ecap_write_all(l->fd, b->data, b->len);

	if (r && !l->error[0])
		snprintf(l->error, sizeof(l->error), "writing the capture: %s", strerror(-r));
	ecap_buf_reset(b);
	if (srv_mux_full(l->mux))
		ask_stop(l, "packet count reached");
	if (l->error[0])
		ask_stop(l, l->error);
	for (struct reader *r = l->readers, *next; r; r = next) {
		next = r->next; /* r may be disposed at once */
		if (r->waiting) {
			r->waiting = 0;
			reader_pump(r);
		}
	}
}

static void finish(struct live *l)
{
	struct srv_merge_stats st;

	srv_mux_finish(l->mux);
	l->done = 1;
	flush_out(l);
	save(l);
	srv_mux_stats(l->mux, &st);
	server_log("capture %lld ended: %llu packets merged, %llu duplicates removed, %llu late",
		   (long long)l->id, (unsigned long long)st.merged,
		   (unsigned long long)st.duplicates, (unsigned long long)st.late);
}

/* A device's stream is over: ok, refused or broken (error set). */
static void device_closed(struct dev_conn *dc, const char *error)
{
	struct live *l = dc->l;
	struct srv_mux_input_stats st;

	dc->client = NULL;
	if (error && !dc->error[0])
		snprintf(dc->error, sizeof(dc->error), "%s", error);
	if (dc->error[0]) {
		srv_mux_close(l->mux, dc->input, dc->error);
		dc->state = "failed";
		server_log("capture %lld: device %s: %s", (long long)l->id, dc->d.name, dc->error);
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
	save_device(dc);
	if (--l->open == 0)
		finish(l);
	else
		flush_out(l);
}

static int on_refusal_body(h2o_http1client_t *client, const char *errstr)
{
	struct dev_conn *dc = client->data;
	h2o_buffer_t *in = client->sock->input;
	size_t room = ERRBODY_MAX - dc->errbody.len;

	ecap_buf_put(&dc->errbody, in->bytes, in->size < room ? in->size : room);
	h2o_buffer_consume(&client->sock->input, in->size);
	if (errstr) {
		char *nl;

		ecap_buf_put(&dc->errbody, "", 1);
		nl = dc->errbody.err ? NULL : strchr((char *)dc->errbody.data, '\n');
		if (nl)
			*nl = 0;
		snprintf(dc->error, sizeof(dc->error), "HTTP %d: %s", dc->status,
			 dc->errbody.err ? "" : (char *)dc->errbody.data);
		device_closed(dc, NULL);
	}
	return 0;
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
	struct dev_conn *dc = client->data;
	struct live *l = dc->l;
	h2o_buffer_t *in = client->sock->input;

	if (in->size) {
		/* whole blocks, read in place; a partial one stays in h2o's buffer
		 * for the next read to append to (and while one does, h2o keeps
		 * the buffer instead of freeing it and growing a new one from
		 * 4 KiB, copying as it doubles, on the next read) */
		long n = srv_mux_take(l->mux, dc->input, in->bytes, in->size);

		if (n > 0)
			h2o_buffer_consume(&client->sock->input, (size_t)n);
	}
	if (srv_mux_error(l->mux, dc->input) && !errstr) {
		/* a malformed stream: the device is dropped */
		snprintf(dc->error, sizeof(dc->error), "bad stream: %s",
			 srv_mux_error(l->mux, dc->input));
		device_closed(dc, NULL);
		return -1;
	}
	if (errstr) {
		device_closed(dc, errstr == h2o_http1client_error_is_eos ? NULL : errstr);
		return 0;
	}
	srv_mux_run(l->mux, wall_ns());
	flush_out(l);
	return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr,
				       int minor_version, int status, h2o_iovec_t msg,
				       h2o_header_t *headers, size_t num_headers, int rlen)
{
	struct dev_conn *dc = client->data;

	if (errstr) {
		device_closed(dc, errstr == h2o_http1client_error_is_eos ? "closed before a response"
									 : errstr);
		return NULL;
	}
	dc->status = status;
	reg_device_seen(dc->l->s->reg, dc->d.id, time(NULL));
	if (status != 200)
		return on_refusal_body;
	dc->state = "streaming";
	save_device(dc);
	return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr,
					  h2o_iovec_t **reqbufs, size_t *reqbufcnt,
					  int *method_is_head)
{
	struct dev_conn *dc = client->data;

	if (errstr) {
		char e[300];

		snprintf(e, sizeof(e), "connecting to %s: %s", dc->d.address, errstr);
		device_closed(dc, e);
		return NULL;
	}
	*reqbufs = &dc->reqbuf;
	*reqbufcnt = 1;
	*method_is_head = 0;
	return on_head;
}

/* The signed request for one device. 0 or -errno with err. */
/* An address whose host is "tunnel" means the device's management address,
 * reached over the mTunnel: 0 (url rewritten or left), or -EINVAL. */
static int tunnel_host(struct dev_conn *dc, h2o_url_t *url)
{
	uint32_t a = dc->d.mgmt;

	if (!h2o_memis(url->host.base, url->host.len, H2O_STRLIT("tunnel")))
		return 0;
	if (!a)
		return -EINVAL;
	mtun_addr_str(a, dc->mgmt);
	url->host = h2o_iovec_init(dc->mgmt, strlen(dc->mgmt));
	return 0;
}

static int device_request(struct dev_conn *dc, const struct capture_req *c, h2o_url_t *url,
			  char *err, size_t errlen)
{
	char *target = NULL, auth[256];
	size_t tlen = 0;
	FILE *f = open_memstream(&target, &tlen);
	int n;

	if (!f)
		return -ENOMEM;
	fprintf(f, "/v1/capture?bpf=%s&snaplen=%u&dir=%s", c->bpf, c->snaplen, c->dir);
	if (c->ifaces[0])
		fprintf(f, "&iface=%s", c->ifaces);
	if (c->count)
		fprintf(f, "&count=%llu", (unsigned long long)c->count);
	if (c->duration)
		fprintf(f, "&duration=%u", c->duration);
	if (fclose(f))
		return -ENOMEM;
	if (ecap_auth_header(dc->d.secret, sizeof(dc->d.secret), "GET", target, tlen, time(NULL),
			     auth, sizeof(auth))) {
		free(target);
		snprintf(err, errlen, "signing the request failed");
		return -EIO;
	}
	n = asprintf(&dc->reqbuf.base,
		     "GET %s HTTP/1.1\r\nHost: %.*s\r\nAuthorization: %s\r\n"
		     "User-Agent: " SERVER_VERSION "\r\nConnection: close\r\n\r\n",
		     target, (int)url->authority.len, url->authority.base, auth);
	free(target);
	if (n < 0)
		return -ENOMEM;
	dc->reqbuf.len = (size_t)n;
	return 0;
}

static void live_free(struct live *l)
{
	struct live **pp = &l->s->live;

	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	h2o_timeout_unlink(&l->tick);
	h2o_timeout_unlink(&l->kick);
	h2o_timeout_dispose(l->s->ctx.loop, &l->io_timeout);
	for (unsigned i = 0; i < l->ndevs; i++) {
		free(l->devs[i].reqbuf.base);
		ecap_buf_free(&l->devs[i].errbody);
		SSL_CTX_free(l->devs[i].ssl);
	}
	free(l->devs);
	srv_mux_free(l->mux);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}

/* Drop a device's connection: its statistics will not come. */
static void cut(struct dev_conn *dc, const char *why)
{
	h2o_http1client_cancel(dc->client);
	dc->client = NULL;
	srv_mux_stop(dc->l->mux, dc->input);
	if (dc->status && dc->status != 200) /* a refusal cut short: still one */
		snprintf(dc->error, sizeof(dc->error), "HTTP %d", dc->status);
	else
		snprintf(dc->error, sizeof(dc->error), "%s", why);
	dc->state = dc->status && dc->status != 200 ? "failed" : "done";
	save_device(dc);
	dc->l->open--;
}

/* Stop (outside the client's callbacks): each streaming device is asked to
 * end by shutting our side of its connection, and ends as at a limit, with
 * its statistics; what is still connecting is dropped, and so is a device
 * that has not ended by stop_at (on_tick). */
static void on_kick(h2o_timeout_entry_t *e)
{
	struct live *l = H2O_STRUCT_FROM_MEMBER(struct live, kick, e);

	if (l->done || !l->stop_why || l->stop_at)
		return;
	server_log("capture %lld: stopping: %s", (long long)l->id, l->stop_why);
	l->stop_at = h2o_now(l->s->ctx.loop) + STOP_WAIT_MS;
	for (unsigned i = 0; i < l->ndevs; i++) {
		struct dev_conn *dc = &l->devs[i];

		if (!dc->client)
			continue;
		if (dc->status != 200 || shutdown(h2o_socket_get_fd(dc->client->sock), SHUT_WR))
			cut(dc, dc->status ? "stopped before its statistics came"
					   : "stopped before it answered");
	}
	if (!l->open)
		finish(l);
}

static void on_tick(h2o_timeout_entry_t *e)
{
	struct live *l = H2O_STRUCT_FROM_MEMBER(struct live, tick, e);
	uint64_t now = h2o_now(l->s->ctx.loop);

	if (l->done) {
		if (!l->readers) {
			live_free(l);
			return;
		}
	} else {
		for (struct reader *r = l->readers, *next; r; r = next) {
			next = r->next; /* r may be disposed at once */
			if (r->req && !r->inflight && web_client_gone(r->req)) {
				h2o_req_t *req = r->req;

				r->req = NULL; /* disposed soon: the last one stops the capture */
				h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
			}
		}
		srv_mux_run(l->mux, wall_ns());
		if (l->deadline && now >= l->deadline)
			ask_stop(l, "devices did not end after the duration");
		if (l->stop_at && now >= l->stop_at) {
			for (unsigned i = 0; i < l->ndevs; i++)
				if (l->devs[i].client) {
					server_log("capture %lld: device %s did not end in time",
						   (long long)l->id, l->devs[i].d.name);
					cut(&l->devs[i], "stopped: it did not end in time");
				}
			finish(l);
			h2o_timeout_link(l->s->ctx.loop, &l->s->tick, &l->tick);
			return;
		}
		flush_out(l);
		if (now >= l->next_db) {
			save(l);
			l->next_db = now + DB_EVERY_MS;
		}
	}
	h2o_timeout_link(l->s->ctx.loop, &l->s->tick, &l->tick);
}

int64_t capture_start(struct server *s, const struct reg_admin *who, const struct capture_req *c,
		      char *err, size_t errlen)
{
	struct live *l = calloc(1, sizeof(*l));
	char path[sizeof(s->conf.data) + 32], tmp[sizeof(path)];
	int64_t id;

	if (!l)
		return -ENOMEM;
	l->fd = -1;
	l->s = s;
	l->org = who->org;
	l->devs = calloc(c->ndevs, sizeof(*l->devs));
	/* one device has no duplicates to find: skip the key and its index */
	l->mux = srv_mux_new(&(struct srv_merge_opts){.dedup_ns = c->ndevs == 1 ? -1 : 0},
			     SERVER_VERSION);
	snprintf(tmp, sizeof(tmp), "%s/new.pcapng", s->conf.data);
	if (!l->devs || !l->mux)
		goto nomem;
	l->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (l->fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	/* the id names the file: insert, then rename */
	id = reg_capture_add(s->reg, who->org, who->id, c->request, tmp);
	snprintf(path, sizeof(path), "%s/%lld.pcapng", s->conf.data, (long long)id);
	if (id < 0 || rename(tmp, path) || reg_capture_set_file(s->reg, id, path)) {
		snprintf(err, errlen, "registry: %s", reg_errmsg(s->reg));
		goto fail;
	}
	l->id = id;
	srv_mux_limit(l->mux, c->count);
	h2o_timeout_init(s->ctx.loop, &l->io_timeout,
			 c->duration ? (c->duration * 1000u + END_GRACE_MS + 5000) : 86400000u);
	l->cctx = (h2o_http1client_ctx_t){.loop = s->ctx.loop,
					  .getaddr_receiver = &s->getaddr,
					  .io_timeout = &l->io_timeout};
	l->tick.cb = on_tick;
	l->kick.cb = on_kick;
	if (c->duration)
		l->deadline = h2o_now(s->ctx.loop) + c->duration * 1000ull + END_GRACE_MS;
	l->next = s->live;
	s->live = l;
	h2o_timeout_link(s->ctx.loop, &s->tick, &l->tick);
	l->open = 1; /* held while starting: a device failing at once ends nothing */
	for (unsigned i = 0; i < c->ndevs; i++) {
		struct dev_conn *dc = &l->devs[i];
		int in = srv_mux_add(l->mux, c->devs[i].name);
		h2o_url_t url;

		if (in < 0 || reg_capture_device_add(s->reg, id, c->devs[i].id)) {
			ask_stop(l, "out of memory");
			break;
		}
		dc->l = l;
		dc->d = c->devs[i];
		dc->state = "connecting";
		dc->input = (unsigned)in;
		l->ndevs++;
		l->open++;
		if (h2o_url_parse(dc->d.address, strlen(dc->d.address), &url) ||
		    tunnel_host(dc, &url) || device_request(dc, c, &url, err, errlen)) {
			device_closed(dc, "bad device address");
			continue;
		}
		dc->cctx = l->cctx;
		if (url.scheme == &H2O_URL_SCHEME_HTTPS) {
			char e[256];

			dc->ssl = web_tls_client(NULL, SSL_CTX_get_cert_store(s->client_ssl), url.host,
						 e, sizeof(e));
			if (!dc->ssl) {
				device_closed(dc, e);
				continue;
			}
			dc->cctx.ssl_ctx = dc->ssl;
		}
		h2o_http1client_connect(&dc->client, dc, &dc->cctx, url.host, h2o_url_get_port(&url),
					url.scheme == &H2O_URL_SCHEME_HTTPS, on_connect);
	}
	server_log("capture %lld started by %s/%s on %u device(s)", (long long)id, who->org_name,
		   who->name, l->ndevs);
	if (--l->open == 0)
		finish(l);
	return id;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	if (l->fd >= 0) {
		close(l->fd);
		unlink(tmp);
	}
	srv_mux_free(l->mux);
	free(l->devs);
	free(l);
	return -EIO;
}

static struct live *find(struct server *s, int64_t org, int64_t id)
{
	for (struct live *l = s->live; l; l = l->next)
		if (l->id == id && l->org == org)
			return l;
	return NULL;
}

int capture_stop(struct server *s, int64_t org, int64_t id)
{
	struct live *l = find(s, org, id);

	if (!l || l->done)
		return -ENOENT;
	ask_stop(l, "stopped by request");
	return 0;
}

void capture_stop_all(struct server *s)
{
	for (struct live *l = s->live; l; l = l->next)
		ask_stop(l, "server stopping");
}

void capture_init(struct server *s)
{
	/* one queue for every capture's tick: a capture is freed from its tick */
	h2o_timeout_init(s->ctx.loop, &s->tick, TICK_MS);
}

int capture_running(struct server *s)
{
	int n = 0;

	for (struct live *l = s->live; l; l = l->next)
		n += !l->done || l->readers;
	return n;
}

/* Readers. */

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct reader *r = H2O_STRUCT_FROM_MEMBER(struct reader, gen, gen);

	r->inflight = 0;
	reader_pump(r);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct reader *r = H2O_STRUCT_FROM_MEMBER(struct reader, gen, gen);

	r->req = NULL;
}

/* Send what the file has beyond what was sent; the end once complete. */
static void reader_pump(struct reader *r)
{
	h2o_iovec_t iov = {0};
	h2o_req_t *req;
	ssize_t n;

	if (!r->req || r->inflight)
		return;
	if (!r->text) {
		n = pread(r->fd, r->chunk, READ_CHUNK, (off_t)r->off);
		if (n > 0) {
			r->off += (uint64_t)n;
			iov = h2o_iovec_init(r->chunk, (size_t)n);
		}
	} else { /* until the bytes make a line */
		ecap_buf_reset(&r->out);
		while (!r->out.len && (n = pread(r->fd, r->chunk, READ_CHUNK, (off_t)r->off)) > 0) {
			srv_text_feed(r->tx, &r->out, r->chunk, (size_t)n);
			r->off += (uint64_t)n;
		}
		iov = h2o_iovec_init(r->out.data, r->out.len);
	}
	if (iov.len) {
		r->inflight = 1;
		h2o_send(r->req, &iov, 1, H2O_SEND_STATE_IN_PROGRESS);
		return;
	}
	if (!r->l || r->l->done) {
		req = r->req;
		r->req = NULL;
		h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
		return;
	}
	r->waiting = 1;
}

static void reader_dispose(void *p)
{
	struct reader *r = p;

	if (r->l) {
		struct reader **pp = &r->l->readers;

		while (*pp != r)
			pp = &(*pp)->next;
		*pp = r->next;
		if (!r->l->readers)
			ask_stop(r->l, "its last reader went away");
	}
	close(r->fd);
	ecap_buf_free(&r->out);
	srv_text_free(r->tx);
	free(r->chunk);
}

int capture_follow(struct server *s, h2o_req_t *req, int64_t org, int64_t id, int text)
{
	struct live *l = find(s, org, id);
	char path[512];
	struct reader *r;
	int fd;

	if (reg_capture_file(s->reg, org, id, path, sizeof(path)))
		return api_fail(req, 404, "no capture %lld", (long long)id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return api_fail(req, 410, "capture %lld: its file is gone (%s)", (long long)id,
				strerror(errno));
	r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), reader_dispose);
	*r = (struct reader){.l = l, .s = s, .req = req, .fd = fd, .text = text};
	r->gen.proceed = on_proceed;
	r->gen.stop = on_stop;
	r->chunk = malloc(READ_CHUNK);
	if (text)
		r->tx = srv_text_new();
	if (l) {
		r->next = l->readers;
		l->readers = r;
	}
	if (!r->chunk || (text && !r->tx)) {
		r->req = NULL;
		return api_fail(req, 500, "out of memory");
	}
	web_start_200(req, text ? "text/plain; charset=utf-8" : "application/x-pcapng", &r->gen);
	reader_pump(r);
	return 0;
}
