/* remote.c - see remote.h. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "remote.h"

/* The common options: 1 when c was one of them. */
int cli_common_opt(struct common *o, int c)
{
	if (c == O_SERVER)
		o->server = optarg;
	else if (c == O_TOKEN)
		o->token = optarg;
	else if (c == O_CACERT)
		o->cacert = optarg;
	else
		return 0;
	return 1;
}

const char cli_common_help[] =
    "  --server URL     edgecap-server (or EDGECAP_SERVER, or 'server =' in\n"
    "                   ~/.config/edgecap/cli.conf)\n"
    "  --token TOKEN    API token (or EDGECAP_TOKEN, or 'token =')\n"
    "  --cacert FILE    CA certificates for an https server (or EDGECAP_CACERT)\n";

/* A call whose answer is JSON: the parsed body, or NULL after one line. */
json_t *cli_call_json(struct cli_http *h, const char *method, const char *path, json_t *body,
		      int want)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct cli_call c = {.method = method, .path = path, .body = text};
	json_t *j = NULL;

	cli_http_call(h, &c);
	if (c.status != want)
		fprintf(stderr, "edgecap: %s\n", cli_http_error(&c));
	else if (!(j = json_loads(c.resp ? c.resp : "", 0, NULL)))
		fprintf(stderr, "edgecap: the server's answer is not JSON\n");
	cli_call_free(&c);
	free(text);
	return j;
}

/* A whole list, page after page (the server gives at most PAGE a call):
 * the items in one array, or NULL after one line. key: what the next
 * page's cursor is (the last item's name or id). */
#define PAGE 1000
json_t *cli_call_list(struct cli_http *h, const char *path, const char *key)
{
	json_t *all = json_array(), *page, *last;
	char url[256], cursor[64] = "";

	for (;;) {
		snprintf(url, sizeof(url), "%s?limit=%d%s%s", path, PAGE,
			 cursor[0] ? "&cursor=" : "", cursor);
		page = cli_call_json(h, "GET", url, NULL, 200);
		if (!page) {
			json_decref(all);
			return NULL;
		}
		json_array_extend(all, page);
		last = json_array_get(page, json_array_size(page) - 1);
		if (json_array_size(page) < PAGE || !last) {
			json_decref(page);
			return all;
		}
		if (json_is_integer(json_object_get(last, key)))
			snprintf(cursor, sizeof(cursor), "%lld",
				 (long long)json_integer_value(json_object_get(last, key)));
		else
			snprintf(cursor, sizeof(cursor), "%s",
				 json_string_value(json_object_get(last, key)) ?: "");
		json_decref(page);
	}
}

const char *cli_str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

long long cli_num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* The server's ISO 8601 time (UTC) in local time, "-" when none. */
void cli_when(json_t *o, const char *k, char *ret, size_t len)
{
	const char *s = json_string_value(json_object_get(o, k));
	struct tm tm = {0};
	time_t t;

	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(ret, len, "-");
		return;
	}
	t = timegm(&tm);
	strftime(ret, len, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
}
