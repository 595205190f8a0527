/* web.h - what edgecap's two h2o servers (edgecap-agent on the device,
 * edgecap-server in the cloud) share: the listening socket, TLS, accepting,
 * watching other fds from the loop, and the shapes of simple replies. */
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
/* A TLS 1.2+ server context with HTTP/2 by ALPN, or NULL with err set. */
SSL_CTX *web_tls_server(const char *cert, const char *key, char *err, size_t errlen);
/* A TLS 1.2+ client context for one peer: its chain verified against the CA
 * file (NULL: the system's) or against store when given (shared, not
 * copied), and its certificate's name against host, a DNS name or an IP
 * address (empty: no name check). h2o 2.2 checks the name only when its
 * handshake ends with nothing left to send, which TLS 1.3 never does, so
 * OpenSSL checks it during the handshake instead. NULL with err set. */
SSL_CTX *web_tls_client(const char *ca_file, X509_STORE *store, h2o_iovec_t host, char *err,
			size_t errlen);
/* Accept connections on the listening fd into accept_ctx. The socket. */
h2o_socket_t *web_serve(h2o_accept_ctx_t *accept_ctx, int fd);
/* Stop accepting: close the listening socket (NULL after). */
void web_unlisten(h2o_socket_t **listener);
/* Call cb when fd is readable (level-triggered); sock->data = data. */
h2o_socket_t *web_watch(h2o_loop_t *loop, int fd, h2o_socket_cb cb, void *data);

/* Status + one line of text; always returns 0 (handled). Headers already
 * added to req->res are kept. */
int web_error(h2o_req_t *req, int status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Status 200 with the content type and Cache-Control: no-store; the
 * response starts with gen (NULL: the caller sends it inline). */
void web_start_200(h2o_req_t *req, const char *content_type, h2o_generator_t *gen);
/* Has the client of a response in progress hung up? h2o does not read an
 * HTTP/1 connection while its response runs, so without this a client
 * that leaves is noticed only when a write fails: poll it from a timer. */
int web_client_gone(h2o_req_t *req);
/* "ADDR:PORT" of the client. */
void web_peer(h2o_req_t *req, char *ret, size_t len);

#endif
