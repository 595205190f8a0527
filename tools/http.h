/* http.h - the CLI's HTTP client for edgecap-server's API: h2o's HTTP/1
 * client on a private event loop. Requests run one or more at a time until
 * done; response bodies are streamed to a callback as they arrive. */
#ifndef CLI_HTTP_H
#define CLI_HTTP_H

#include <stddef.h>

struct cli_http;

/* Server URL, token and CA file: the flags, else EDGECAP_SERVER,
 * EDGECAP_TOKEN, EDGECAP_CACERT, else ~/.config/edgecap/cli.conf
 * ("server = URL", "token = T", "cacert = FILE"). NULL after one line on
 * stderr. */
struct cli_http *cli_http_new(const char *server, const char *token, const char *cacert);
void cli_http_free(struct cli_http *h);

typedef int cli_body_fn(void *ctx, const void *data, size_t len); /* 0, or stop */
struct cli_call {
	const char *method, *path; /* path under the server URL, e.g. /api/v1/devices */
	const char *body;	   /* JSON, or NULL */
	cli_body_fn *on_body;	   /* NULL: kept in .resp */
	void *ctx;
	/* results */
	int status; /* 0: no response (err says why) */
	char *resp; /* the body when on_body is NULL (NUL-terminated, malloc'ed) */
	size_t resp_len;
	char err[256];
	int done;
	void *priv;
};

/* Start a call; cli_http_run runs the loop until every started call is done
 * or stop_fd (>= 0) is readable: then 1, else 0. */
void cli_http_start(struct cli_http *h, struct cli_call *c);
int cli_http_run(struct cli_http *h, int stop_fd);
/* One call, to completion. */
void cli_http_call(struct cli_http *h, struct cli_call *c);
/* A JSON API error body's "error", or the status line's text. */
const char *cli_http_error(const struct cli_call *c);
void cli_call_free(struct cli_call *c);

#endif
