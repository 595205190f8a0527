/* web.c - see web.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/web.h"

#include "common/buf.h"
#include "common/log.h"

int web_bind(const char *spec, int type, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = type},
			*ai = NULL;
	char host[128], *port;
	int fd = -1, one = 1, r;

	snprintf(host, sizeof(host), "%.127s", spec);
	port = strrchr(host, ':');
	if (!port) {
		snprintf(err, errlen, "%.128s: want ADDR:PORT", spec);
		return -EINVAL;
	}
	*port++ = 0;
	if (host[0] == '[' && port[-2] == ']') { /* [v6]:port */
		port[-2] = 0;
		memmove(host, host + 1, strlen(host));
	}
	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		snprintf(err, errlen, "%.128s: %s", spec, gai_strerror(r));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) ||
	    (type == SOCK_STREAM && listen(fd, SOMAXCONN))) {
		r = -errno;
		snprintf(err, errlen, "%.128s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = r;
	}
	freeaddrinfo(ai);
	return fd;
}

int web_listen(const char *spec, char *err, size_t errlen)
{
	char sub[256];
	int fd = web_bind(spec, SOCK_STREAM, sub, sizeof(sub));

	if (fd < 0)
		snprintf(err, errlen, "listen %s", sub);
	return fd;
}

/* HTTP/2 is not offered (nor h2c, see web_site_init): h2o 2.2 has no bound
 * on streams reset by the client, so one connection sending HEADERS and
 * RST_STREAM in a loop holds the loop ("rapid reset"). Nothing of edgecap
 * speaks HTTP/2. A client that offers only h2 gets no ALPN answer and
 * HTTP/1.1. */
static const h2o_iovec_t http1_only[] = {{(char *)"http/1.1", 8}, {NULL}};

SSL_CTX *web_tls_server(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());

	if (!ssl || !SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ssl, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ssl) != 1) {
		snprintf(err, errlen, "TLS with %.200s and %.200s: %s", cert, key,
			 ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ssl);
		return NULL;
	}
	h2o_ssl_register_alpn_protocols(ssl, http1_only);
	return ssl;
}

SSL_CTX *web_tls_server_key(const char *key, char *err, size_t errlen)
{
	SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());

	if (!ssl || !SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) ||
	    SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "TLS with %.200s: %s", key,
			 ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ssl);
		return NULL;
	}
	h2o_ssl_register_alpn_protocols(ssl, http1_only);
	return ssl;
}

int web_tls_server_cert(SSL_CTX *ssl, const char *pem, char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int r = c && SSL_CTX_use_certificate(ssl, c) == 1 && SSL_CTX_check_private_key(ssl) == 1;

	if (!r)
		snprintf(err, errlen, "TLS: the certificate: %s",
			 c ? ERR_reason_error_string(ERR_get_error()) : "not one in PEM");
	X509_free(c);
	BIO_free(b);
	return r ? 0 : -EINVAL;
}

SSL_CTX *web_tls_client(const char *ca_file, X509_STORE *store, h2o_iovec_t host, char *err,
			size_t errlen)
{
	SSL_CTX *ssl = SSL_CTX_new(TLS_client_method());
	X509_VERIFY_PARAM *param;
	char name[256];
	int ok;

	if (host.len >= sizeof(name)) {
		snprintf(err, errlen, "TLS: host name too long");
		SSL_CTX_free(ssl);
		return NULL;
	}
	if (host.len)
		memcpy(name, host.base, host.len);
	name[host.len] = 0;
	ok = ssl && SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
	if (ok && store)
		SSL_CTX_set1_cert_store(ssl, store);
	else if (ok)
		ok = (ca_file ? SSL_CTX_load_verify_locations(ssl, ca_file, NULL)
			      : SSL_CTX_set_default_verify_paths(ssl)) == 1;
	if (!ok) {
		snprintf(err, errlen, "TLS client with %.200s: %.200s",
			 store	   ? "a shared CA store"
			 : ca_file ? ca_file
				   : "the system's CAs",
			 ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ssl);
		return NULL;
	}
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	param = SSL_CTX_get0_param(ssl);
	if (name[0] && X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1) {
		/* an address: after a TLS 1.2 handshake h2o would still compare it
		 * with the certificate's DNS names (and fail an IP entry) */
		SSL_CTX_set_min_proto_version(ssl, TLS1_3_VERSION);
	} else if (name[0]) {
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (X509_VERIFY_PARAM_set1_host(param, name, 0) != 1) {
			snprintf(err, errlen, "TLS: bad host name '%s'", name);
			SSL_CTX_free(ssl);
			return NULL;
		}
	}
	return ssl;
}

/* h2o 2.2 has no timeout while a response runs: a peer that vanished
 * without a FIN or RST would hold its connection (and an agent's capture
 * slot) for ever. Probe idle peers, and give up on unacknowledged data. */
static void keepalive(int fd)
{
	int on = 1, idle = 30, intvl = 10, cnt = 3;
	unsigned timeout_ms = 60000;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof(timeout_ms));
}

#define FD_RESERVE 64  /* descriptors kept from connections: registry, listeners, files */
#define RETRY_MS   200 /* a paused listener tries again after this, at the latest */
#define LOG_MS	   1000

/* A connection a site accepted, until h2o closes its socket. */
struct web_conn {
	h2o_linklist_t all;  /* the site's, oldest first */
	h2o_linklist_t same; /* its address's bucket */
	struct web_site *site;
	h2o_socket_t *sock;
	uint8_t addr[16]; /* IPv6, or IPv4 mapped */
	int shed;	  /* shut down to make room: h2o closes it on its next read */
};

struct web_conns {
	struct web_site *site;
	h2o_linklist_t all;
	h2o_linklist_t *buckets; /* by address */
	size_t mask;
	unsigned shedding; /* shed, not closed yet: their descriptors still open */
	int paused;
	h2o_timeout_t retry;
	h2o_timeout_entry_t retry_entry;
	uint64_t logged_at; /* the last refusal line, ms; 0: none yet */
	unsigned unlogged;  /* refusals since, not logged */
};

static void on_accept(h2o_socket_t *listener, const char *err);

static unsigned fd_budget(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur == RLIM_INFINITY ||
	    r.rlim_cur >= 2 * (rlim_t)UINT_MAX)
		return UINT_MAX;
	return r.rlim_cur > FD_RESERVE + 2 ? (r.rlim_cur - FD_RESERVE) / 2 : 1;
}

/* One line a second at most, however many refusals come. */
static void __attribute__((format(printf, 3, 4)))
conn_log(struct web_site *s, int level, const char *fmt, ...)
{
	struct web_conns *cs = s->conns;
	uint64_t now = h2o_now(s->ctx.loop);
	char line[256];
	va_list ap;

	if (cs->logged_at && now - cs->logged_at < LOG_MS) {
		cs->unlogged++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (cs->unlogged)
		ecap_log(level, "%s (and %u more since the last such line)", line, cs->unlogged);
	else
		ecap_log(level, "%s", line);
	cs->logged_at = now ? now : 1;
	cs->unlogged = 0;
}

/* The address connections are counted by: IPv4, or an IPv6 address's /64,
 * which one host has to itself (privacy addresses change within it). */
static void peer_addr(h2o_socket_t *sock, uint8_t ret[16], char *text, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);

	memset(ret, 0, 16);
	snprintf(text, len, "?");
	if (sl && ss.ss_family == AF_INET) {
		struct in_addr *a = &((struct sockaddr_in *)&ss)->sin_addr;

		ret[10] = ret[11] = 0xff;
		memcpy(ret + 12, a, 4);
		inet_ntop(AF_INET, a, text, len);
	} else if (sl && ss.ss_family == AF_INET6) {
		struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		memcpy(ret, a, 16);
		if (!IN6_IS_ADDR_V4MAPPED(a))
			memset(ret + 8, 0, 8);
		inet_ntop(AF_INET6, a, text, len);
	}
}

static h2o_linklist_t *bucket(struct web_conns *cs, const uint8_t addr[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return &cs->buckets[h & cs->mask];
}

static unsigned count_addr(h2o_linklist_t *b, const uint8_t addr[16])
{
	unsigned n = 0;

	for (h2o_linklist_t *l = b->next; l != b; l = l->next)
		n += !memcmp(H2O_STRUCT_FROM_MEMBER(struct web_conn, same, l)->addr, addr, 16);
	return n;
}

/* Waiting for a request (or for its TLS handshake): nothing in progress.
 * h2o's HTTP/1 stops reading while it handles a request, and a request's
 * head or body being read sits in the input buffer. */
static int conn_idle(struct web_conn *c)
{
	return !c->shed && h2o_socket_is_reading(c->sock) && !h2o_socket_is_writing(c->sock) &&
	       c->sock->input->size == 0;
}

static struct web_conn *oldest_idle(struct web_conns *cs)
{
	for (h2o_linklist_t *l = cs->all.next; l != &cs->all; l = l->next) {
		struct web_conn *c = H2O_STRUCT_FROM_MEMBER(struct web_conn, all, l);

		if (conn_idle(c))
			return c;
	}
	return NULL;
}

/* The peer sees the connection end; h2o reads the end on its next turn and
 * closes the socket as it would any other (conn_closed follows). */
static void shed(struct web_site *s, struct web_conn *c)
{
	shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
	c->shed = 1;
	s->conns->shedding++;
	s->conn_stats.shed++;
}

static void pause_accepting(struct web_site *s)
{
	struct web_conns *cs = s->conns;

	if (!cs->paused)
		h2o_socket_read_stop(s->listener);
	cs->paused = 1;
	if (!h2o_timeout_is_linked(&cs->retry_entry))
		h2o_timeout_link(s->ctx.loop, &cs->retry, &cs->retry_entry);
}

static void resume_accepting(struct web_site *s)
{
	struct web_conns *cs = s->conns;

	if (!cs->paused)
		return;
	cs->paused = 0;
	if (h2o_timeout_is_linked(&cs->retry_entry))
		h2o_timeout_unlink(&cs->retry_entry);
	if (s->listener)
		h2o_socket_read_start(s->listener, on_accept);
}

static void on_retry(h2o_timeout_entry_t *entry)
{
	resume_accepting(H2O_STRUCT_FROM_MEMBER(struct web_conns, retry_entry, entry)->site);
}

static void conn_closed(void *data)
{
	struct web_conn *c = data;
	struct web_site *s = c->site;

	h2o_linklist_unlink(&c->all);
	h2o_linklist_unlink(&c->same);
	if (c->shed)
		s->conns->shedding--;
	s->conn_stats.open--;
	free(c);
	resume_accepting(s);
}

/* The new connection counted, or closed at once when its address has its
 * share already (or there is no memory to count it): 0 or -1. */
static int admit(struct web_site *s, h2o_socket_t *sock)
{
	struct web_conns *cs = s->conns;
	struct web_conn *c;
	uint8_t addr[16];
	char text[INET6_ADDRSTRLEN];
	h2o_linklist_t *b;
	unsigned n;

	peer_addr(sock, addr, text, sizeof(text));
	b = bucket(cs, addr);
	n = count_addr(b, addr);
	c = n < s->conns_per_addr_max ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		s->conn_stats.refused_addr += n >= s->conns_per_addr_max;
		conn_log(s, LOG_WARNING,
			 "closed a connection from %s at once: %u open from there%s", text, n,
			 n >= s->conns_per_addr_max ? ", the most one address may have"
						    : " (out of memory)");
		h2o_socket_close(sock);
		return -1;
	}
	memcpy(c->addr, addr, 16);
	c->site = s;
	c->sock = sock;
	h2o_linklist_insert(&cs->all, &c->all);
	h2o_linklist_insert(b, &c->same);
	s->conn_stats.open++;
	sock->on_close.cb = conn_closed;
	sock->on_close.data = c;
	return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct web_site *s = listener->data;
	struct web_conns *cs = s->conns;

	if (err)
		return;
	for (int i = 0; i < 16; i++) { /* a few per wakeup, fairly */
		struct web_conn *victim = NULL;
		h2o_socket_t *sock;

		if (s->conn_stats.open - cs->shedding >= s->conns_max) {
			victim = oldest_idle(cs);
			if (!victim) {
				s->conn_stats.paused_full++;
				conn_log(s, LOG_WARNING,
					 "%u connections open, the most this listener takes, none "
					 "idle: accepting again when one closes",
					 s->conns_max);
				pause_accepting(s);
				return;
			}
		}
		sock = h2o_evloop_socket_accept(listener);
		if (!sock &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			s->conn_stats.paused_fds++;
			conn_log(s, LOG_ERR, "accept: %s (%u connections open): pausing",
				 strerror(errno), (unsigned)s->conn_stats.open);
			victim = victim ? victim : oldest_idle(cs);
			if (victim)
				shed(s, victim);
			pause_accepting(s);
			return;
		}
		if (!sock)
			return;
		if (admit(s, sock))
			continue;
		if (victim) {
			conn_log(s, LOG_NOTICE,
				 "%u connections open, the most this listener takes: closed the "
				 "oldest idle one",
				 s->conns_max);
			shed(s, victim);
		}
		keepalive(h2o_socket_get_fd(sock));
		h2o_accept(&s->accept_ctx, sock);
	}
}

/* The bookkeeping of web_site_start, and its bounds made final. */
static int conns_init(struct web_site *s)
{
	struct web_conns *cs = calloc(1, sizeof(*cs));
	unsigned budget = fd_budget();
	size_t n = 64;

	if (s->conns_max > budget)
		s->conns_max = budget;
	if (!s->conns_max)
		s->conns_max = 1;
	if (!s->conns_per_addr_max)
		s->conns_per_addr_max = 1;
	while (n < s->conns_max / 8 && n < 8192) /* chains of 8 at most, on average */
		n *= 2;
	if (!cs || !(cs->buckets = malloc(n * sizeof(*cs->buckets)))) {
		free(cs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		h2o_linklist_init_anchor(&cs->buckets[i]);
	cs->mask = n - 1;
	cs->site = s;
	h2o_linklist_init_anchor(&cs->all);
	h2o_timeout_init(s->ctx.loop, &cs->retry, RETRY_MS);
	cs->retry_entry.cb = on_retry;
	s->conns = cs;
	return 0;
}

h2o_socket_t *web_watch(h2o_loop_t *loop, int fd, h2o_socket_cb cb, void *data)
{
	h2o_socket_t *s = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);

	s->data = data;
	h2o_socket_read_start(s, cb);
	return s;
}

const char *web_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	case 507:
		return "Insufficient Storage";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 500 ? "Bad Request" : "Internal Server Error";
	}
}

void web_log_refusal(h2o_req_t *req, int status, const char *who, const char *msg)
{
	char peer[64];
	size_t n = req->query_at == SIZE_MAX ? req->path.len : req->query_at;

	web_peer(req, peer, sizeof(peer));
	ecap_log(status >= 500			  ? LOG_ERR
		 : status == 401 || status == 403 ? LOG_WARNING
						  : LOG_NOTICE,
		 "refused %.*s %.*s from %s%s%s: %d %s", (int)req->method.len, req->method.base,
		 (int)(n > 200 ? 200 : n), req->path.base, peer, who ? " as " : "", who ? who : "",
		 status, msg);
}

int web_error(h2o_req_t *req, int status, const char *fmt, ...)
{
	char raw[1024], body[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	n = ecap_text_clean(body, sizeof(body) - 1, raw); /* one line, whatever was echoed */
	web_log_refusal(req, status, NULL, body);
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("edgecap-error"), 0, NULL,
			      h2o_strdup(&req->pool, body, n).base, n);
	body[n] = '\n';
	body[n + 1] = 0;
	/* h2o copies the body */
	h2o_send_error_generic(req, status, web_reason(status), body, H2O_SEND_ERROR_KEEP_HEADERS);
	return 0;
}

void web_start_200(h2o_req_t *req, const char *content_type, h2o_generator_t *gen)
{
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
		       strlen(content_type));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store"));
	if (gen)
		h2o_start_response(req, gen);
}

int web_client_gone(h2o_req_t *req)
{
	struct pollfd p = {.events = POLLRDHUP};
	h2o_socket_t *sock;

	if (!req->conn->callbacks->get_socket)
		return 0;
	sock = req->conn->callbacks->get_socket(req->conn);
	if (!sock)
		return 0;
	p.fd = h2o_socket_get_fd(sock);
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void web_peer(h2o_req_t *req, char *ret, size_t len)
{
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN] = "?";
	socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);

	if (sl && ss.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		snprintf(ret, len, "%s:%u", host, ntohs(s->sin_port));
	} else if (sl && ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		snprintf(ret, len, "[%s]:%u", host, ntohs(s->sin6_port));
	} else {
		snprintf(ret, len, "?");
	}
}

int web_reply(h2o_req_t *req, const char *content_type, const void *p, size_t len)
{
	char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);

	memcpy(copy, p, len);
	web_start_200(req, content_type, NULL);
	req->res.content_length = len;
	h2o_send_inline(req, copy, len);
	return 0;
}

int web_reply_buf(h2o_req_t *req, const char *content_type, struct ecap_buf *b)
{
	if (b->err)
		web_error(req, 503, "out of memory");
	else
		web_reply(req, content_type, b->data, b->len);
	ecap_buf_free(b);
	return 0;
}

static void unlisten(h2o_socket_t **listener)
{
	if (!*listener)
		return;
	h2o_socket_read_stop(*listener);
	h2o_socket_close(*listener);
	*listener = NULL;
}

struct site_handler {
	h2o_handler_t super;
	struct web_site *site;
};

h2o_hostconf_t *web_site_init(struct web_site *s, const char *server_name, size_t max_body,
			      void *data)
{
	s->data = data;
	h2o_config_init(&s->config);
	s->config.server_name = h2o_iovec_init(server_name, strlen(server_name));
	s->config.max_request_entity_size = max_body;
	s->config.http1.upgrade_to_http2 = 0; /* neither Upgrade: h2c nor the preface */
	s->conns_max = WEB_CONNS_MAX;
	s->conns_per_addr_max = WEB_CONNS_PER_ADDR_MAX;
	return h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
}

h2o_handler_t *web_site_handler(struct web_site *s, h2o_hostconf_t *host, const char *path,
				int (*on_req)(h2o_handler_t *, h2o_req_t *), size_t size)
{
	struct site_handler *h = (struct site_handler *)h2o_create_handler(
	    h2o_config_register_path(host, path, 0), size < sizeof(*h) ? sizeof(*h) : size);

	h->super.on_req = on_req;
	h->site = s;
	return &h->super;
}

struct web_site *web_site_of(h2o_handler_t *handler)
{
	return ((struct site_handler *)handler)->site;
}

int web_site_start(struct web_site *s, h2o_loop_t *loop, const char *listen, const char *cert,
		   const char *key, char *err, size_t errlen)
{
	int fd, r;

	h2o_context_init(&s->ctx, loop ? loop : h2o_evloop_create(), &s->config);
	s->accept_ctx.ctx = &s->ctx;
	s->accept_ctx.hosts = s->config.hosts;
	if (cert) {
		s->ssl = web_tls_server(cert, key, err, errlen);
		if (!s->ssl)
			return -EINVAL;
		s->accept_ctx.ssl_ctx = s->ssl;
	}
	r = conns_init(s);
	if (r) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	fd = web_listen(listen, err, errlen);
	if (fd < 0)
		return fd;
	s->listener = web_watch(s->ctx.loop, fd, on_accept, s);
	return 0;
}

void web_site_stop(struct web_site *s)
{
	if (s->conns && h2o_timeout_is_linked(&s->conns->retry_entry))
		h2o_timeout_unlink(&s->conns->retry_entry);
	unlisten(&s->listener);
}

void web_site_dispose(struct web_site *s)
{
	web_site_stop(s);
	if (s->conns) {
		/* connections left open close without us */
		while (!h2o_linklist_is_empty(&s->conns->all)) {
			struct web_conn *c =
			    H2O_STRUCT_FROM_MEMBER(struct web_conn, all, s->conns->all.next);

			c->sock->on_close.cb = NULL;
			h2o_linklist_unlink(&c->all);
			free(c);
		}
		h2o_timeout_dispose(s->ctx.loop, &s->conns->retry);
		free(s->conns->buckets);
		free(s->conns);
		s->conns = NULL;
	}
	if (s->ctx.loop)
		h2o_context_dispose(&s->ctx);
	h2o_config_dispose(&s->config);
	if (s->ssl)
		SSL_CTX_free(s->ssl);
	s->ssl = NULL;
}
