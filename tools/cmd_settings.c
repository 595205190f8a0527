/* cmd_settings.c - `edgecap settings` (the organization's tunnel settings)
 * and `edgecap devices settings NAME` (a device's own over them): shown, or
 * changed as KEY=MS words (KEY= unsets). docs/tunnel.md says what each
 * does; the server checks them. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "remote.h"

static const char *const names[] = {"hello_interval_ms", "udp_wait_ms", "coalesce_ms", "hold_ms"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* KEY=MS words into a merge patch (KEY=: null): NULL after one line. */
static json_t *patch_of(int argc, char **argv)
{
	json_t *p = json_object();

	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		char *end, key[64];
		long long v;

		if (!eq || eq == argv[i]) {
			fprintf(stderr, "edgecap: '%s': want KEY=MS, or KEY= to unset\n", argv[i]);
			json_decref(p);
			return NULL;
		}
		v = strtoll(eq + 1, &end, 10);
		if (eq[1] && *end) {
			fprintf(stderr, "edgecap: '%s': want a number of milliseconds\n", argv[i]);
			json_decref(p);
			return NULL;
		}
		/* the server names an unknown one, and the range */
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i] < 63 ? eq - argv[i] : 63),
			 argv[i]);
		json_object_set_new(p, key, eq[1] ? json_integer(v) : json_null());
	}
	return p;
}

static void value(json_t *o, const char *k, char *ret, size_t len)
{
	json_t *v = json_object_get(o, k);

	if (json_is_integer(v))
		snprintf(ret, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(ret, len, "-");
}

static void print_org(json_t *org)
{
	json_t *s = json_object_get(org, "settings");
	char v[32];

	printf("%-18s %s\n", "SETTING", "ORGANIZATION");
	for (size_t i = 0; i < NNAMES; i++) {
		value(s, names[i], v, sizeof(v));
		printf("%-18s %s\n", names[i], v);
	}
	printf("(-: not set here; each device runs by its own configuration)\n");
}

static void print_device(json_t *d)
{
	json_t *s = json_object_get(d, "settings"), *rep = json_object_get(s, "reported");
	char own[32], wanted[32], in[32];

	printf("%-18s %-8s %-8s %s\n", "SETTING", "DEVICE", "WANTED", "IN FORCE");
	for (size_t i = 0; i < NNAMES; i++) {
		value(json_object_get(s, "own"), names[i], own, sizeof(own));
		value(json_object_get(s, "wanted"), names[i], wanted, sizeof(wanted));
		value(rep, names[i], in, sizeof(in));
		printf("%-18s %-8s %-8s %s\n", names[i], own, wanted, in);
	}
	printf("%s\n", json_is_true(json_object_get(s, "applied"))
			   ? "applied: the device runs by them"
		       : json_is_null(rep)
			   ? "not applied: the device has not reported settings (not through the "
			     "tunnel, or not heard from yet)"
			   : "not applied yet: the device is told at the server's next round");
}

static void settings_usage(FILE *f)
{
	fprintf(f,
		"usage: edgecap settings [show]\n"
		"       edgecap settings set KEY=MS [KEY=MS ...]\n"
		"       edgecap devices settings NAME [KEY=MS ...]\n"
		"\n"
		"The tunnel's settings for the organization's devices, and a device's\n"
		"own over them; KEY= unsets one (a device then runs by its configuration\n"
		"file's value). Keys: hello_interval_ms (UDP probes), udp_wait_ms (no\n"
		"answer by UDP this long: HTTP; up to 15 minutes), coalesce_ms, hold_ms.\n"
		"Each device is told at once and says what it runs by.\n"
		"%s",
		cli_common_help);
}

/* `edgecap devices settings NAME [KEY=MS ...]`, argv from NAME on. */
int cli_device_settings(struct cli_http *h, int argc, char **argv)
{
	char path[160];
	json_t *j, *p = NULL;

	snprintf(path, sizeof(path), "/api/v1/devices/%.100s", argv[0]);
	if (argc > 1) {
		json_t *body;

		if (!(p = patch_of(argc - 1, argv + 1)))
			return 2;
		body = json_pack("{s:o}", "settings", p);
		j = cli_call_json(h, "PATCH", path, body, 200);
		json_decref(body);
	} else {
		j = cli_call_json(h, "GET", path, NULL, 200);
	}
	if (j)
		print_device(j);
	json_decref(j);
	return j ? 0 : 2;
}

int cmd_settings(int argc, char **argv)
{
	static const struct option longopts[] = {COMMON_OPTS, {0}};
	struct common co = {0};
	struct cli_http *h = NULL;
	const char *verb;
	json_t *j = NULL, *p;
	int c, r = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (cli_common_opt(&co, c))
			continue;
		settings_usage(c == 'h' ? stdout : stderr);
		return c == 'h' ? 0 : 2;
	}
	verb = optind < argc ? argv[optind] : "show";
	if (!((!strcmp(verb, "show") && argc - optind <= 1) ||
	      (!strcmp(verb, "set") && argc - optind >= 2))) {
		settings_usage(stderr);
		return 2;
	}
	h = cli_http_new(co.server, co.token, co.cacert);
	if (!h)
		return 2;
	if (!strcmp(verb, "set")) {
		if ((p = patch_of(argc - optind - 1, argv + optind + 1))) {
			json_t *body = json_pack("{s:o}", "settings", p);

			j = cli_call_json(h, "PATCH", "/api/v1/organization", body, 200);
			json_decref(body);
		}
	} else {
		j = cli_call_json(h, "GET", "/api/v1/organization", NULL, 200);
	}
	if (j) {
		print_org(j);
		r = 0;
	}
	json_decref(j);
	cli_http_free(h);
	return r;
}
