/* remote.h - what the commands that talk to edgecap-server share: the
 * common options, calls whose answers are JSON, and how values print. */
#ifndef CLI_REMOTE_H
#define CLI_REMOTE_H

#include <jansson.h>
#include <stddef.h>

#include "http.h"

enum { O_SERVER = 0x100, O_TOKEN, O_CACERT, O_COMMON_END };

#define COMMON_OPTS                                                                                \
	{"server", required_argument, NULL, O_SERVER},                                             \
	    {"token", required_argument, NULL, O_TOKEN},                                           \
	    {"cacert", required_argument, NULL, O_CACERT},                                         \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

struct common {
	const char *server, *token, *cacert;
};

/* The common options: 1 when c was one of them. */
int cli_common_opt(struct common *o, int c);
extern const char cli_common_help[];

/* A call whose answer is JSON: the parsed body, or NULL after one line. */
json_t *cli_call_json(struct cli_http *h, const char *method, const char *path, json_t *body,
		      int want);
/* A whole list, page after page: the items in one array, or NULL after one
 * line. key: what the next page's cursor is (the last item's name or id). */
json_t *cli_call_list(struct cli_http *h, const char *path, const char *key);
/* o's string k, "-" when none; its integer k. */
const char *cli_str(json_t *o, const char *k);
long long cli_num(json_t *o, const char *k);
/* The server's ISO 8601 time (UTC) in local time, "-" when none. */
void cli_when(json_t *o, const char *k, char *ret, size_t len);

#endif
