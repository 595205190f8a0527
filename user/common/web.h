/* web.h - what edgecap's two h2o servers (edgecap-agent on the device,
 * edgecap-server in the cloud) share: the listening socket, TLS, accepting,
 * watching other fds from the loop, and the shapes of simple replies. The
 * daemons' glue: refusals are logged here (common/log.h), once each. */
#ifndef ECAP_WEB_H
#define ECAP_WEB_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <openssl/ssl.h>

/* A non-blocking listening socket on "ADDR:PORT" or "[ADDR6]:PORT": the fd,
 * or -errno with err set. */
int web_listen(const char *spec, char *err, size_t errlen);
/* A non-blocking socket of type (SOCK_STREAM: listening, SOCK_DGRAM) bound
 * to "ADDR:PORT" or "[ADDR6]:PORT": the fd, or -errno with err set. */
int web_bind(const char *spec, int type, char *err, size_t errlen);
/* A TLS 1.2+ server context, HTTP/1.1 only (ALPN http/1.1), or NULL with
 * err set. */
SSL_CTX *web_tls_server(const char *cert, const char *key, char *err, size_t errlen);
/* A server context with its key only (from a PEM file); its certificate
 * comes later, in PEM (web_tls_server_cert, again at each renewal: new
 * handshakes use it). Until then handshakes fail. NULL / -EINVAL with err. */
SSL_CTX *web_tls_server_key(const char *key, char *err, size_t errlen);
int web_tls_server_cert(SSL_CTX *ssl, const char *pem, char *err, size_t errlen);
/* A TLS 1.2+ client context for one peer: its chain verified against the CA
 * file (NULL: the system's) or against store when given (shared, not
 * copied), and its certificate's name against host, a DNS name or an IP
 * address (empty: no name check). h2o 2.2 checks the name only when its
 * handshake ends with nothing left to send, which TLS 1.3 never does, so
 * OpenSSL checks it during the handshake instead. NULL with err set. */
SSL_CTX *web_tls_client(const char *ca_file, X509_STORE *store, h2o_iovec_t host, char *err,
			size_t errlen);
/* Call cb when fd is readable (level-triggered); sock->data = data. */
h2o_socket_t *web_watch(h2o_loop_t *loop, int fd, h2o_socket_cb cb, void *data);

/* A refusal: status with one line of text, logged as one line (a warning
 * for 401 and 403, an error for 5xx); always returns 0 (handled). Headers
 * already added to req->res are kept. The line goes in the body and in an
 * Edgecap-Error header: the server quotes a device's refusal from that
 * header alone, so that what another service answers is never shown. */
int web_error(h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The one log line of a refused request: method, path (without the query),
 * peer, who it was (NULL: not known), status and why. */
void web_log_refusal(h2o_req_t *req, int status, const char *who, const char *msg);
/* The status line's reason phrase. */
const char *web_reason(int status);
/* Status 200 with the content type and Cache-Control: no-store; the
 * response starts with gen (NULL: the caller sends it inline). */
void web_start_200(h2o_req_t *req, const char *content_type, h2o_generator_t *gen);
/* Status 200 with the content type, Cache-Control: no-store, and a copy of
 * p[0..len) as the whole body; returns 0. */
int web_reply(h2o_req_t *req, const char *content_type, const void *p, size_t len);
/* The same with a buffer's bytes, or a 503 when its building ran out of
 * memory; the buffer is freed. */
struct ecap_buf;
int web_reply_buf(h2o_req_t *req, const char *content_type, struct ecap_buf *b);

/* A site: one listener with its h2o configuration and context. Set up in
 * three steps: web_site_init gives the host to register handlers on,
 * web_site_start makes the context (on a new loop, or on another site's to
 * serve beside it), TLS when given a certificate, and listens. HTTP/1.1
 * only: h2o 2.2 cannot bound HTTP/2's stream resets (web_tls_server). */
#define WEB_CONNS_MAX	       65536
#define WEB_CONNS_PER_ADDR_MAX 64

/* What a site's connections came to. */
struct web_conn_stats {
	uint64_t open;	       /* now */
	uint64_t shed;	       /* idle ones closed to make room for a new one */
	uint64_t refused_addr; /* closed at once: their address had conns_per_addr_max */
	uint64_t paused_full;  /* accepting paused: conns_max open, none idle */
	uint64_t paused_fds;   /* accepting paused: out of descriptors (EMFILE, ENFILE) */
};

struct web_conns;
struct web_site {
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	SSL_CTX *ssl;
	h2o_socket_t *listener;
	void *data; /* for handlers: web_site_of(handler)->data */
	/* Connections open at once, and from one address. web_site_init sets
	 * the defaults (WEB_CONNS_*), to change before web_site_start, which
	 * lowers conns_max to what the descriptor limit leaves (half of what
	 * remains past 64: a connection may bring a descriptor of its own, a
	 * polling device's socket or a reader's file). An address (IPv6: a
	 * /64) past its bound has its new connection closed at once. At
	 * conns_max, the oldest idle connection (waiting for a request: none
	 * in progress) is closed for a new one; with none idle, or out of
	 * descriptors, the listener pauses until a connection closes or 200
	 * ms pass, so the loop never spins on a listener it cannot accept
	 * from. Logged at most once a second. */
	unsigned conns_max, conns_per_addr_max;
	struct web_conn_stats conn_stats;
	struct web_conns *conns; /* web.c's: every connection, by address too */
};
h2o_hostconf_t *web_site_init(struct web_site *s, const char *server_name, size_t max_body,
			      void *data);
/* A handler for every path under path, which web_site_of finds the site by;
 * on_req returns 0 (it answered) or -1 (the next handler's). */
h2o_handler_t *web_site_handler(struct web_site *s, h2o_hostconf_t *host, const char *path,
				int (*on_req)(h2o_handler_t *, h2o_req_t *), size_t size);
struct web_site *web_site_of(h2o_handler_t *handler);
/* loop NULL: a new one. cert NULL: plain HTTP. 0 or -errno with err set. */
int web_site_start(struct web_site *s, h2o_loop_t *loop, const char *listen, const char *cert,
		   const char *key, char *err, size_t errlen);
/* No more connections; the context stays with its loop (h2o 2.2 cannot
 * dispose of one whose connections may still be open). */
void web_site_stop(struct web_site *s);
/* Once stopped and without a connection: the context and configuration go. */
void web_site_dispose(struct web_site *s);

/* Has the client of a response in progress hung up? h2o does not read an
 * HTTP/1 connection while its response runs, so without this a client
 * that leaves is noticed only when a write fails: poll it from a timer. */
int web_client_gone(h2o_req_t *req);
/* "ADDR:PORT" of the client. */
void web_peer(h2o_req_t *req, char *ret, size_t len);

#endif
