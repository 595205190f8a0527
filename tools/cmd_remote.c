/* cmd_remote.c - the CLI's side of edgecap-server: `edgecap remote` (a merged
 * capture from many devices, written as it arrives), `edgecap devices` and
 * `edgecap captures`. Server and token come from --server/--token, the
 * environment (EDGECAP_SERVER, EDGECAP_TOKEN) or ~/.config/edgecap/cli.conf. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "http.h"
#include "remote.h"
#include "common/pcapng.h"

enum { O_TEXT = O_COMMON_END, O_SERIAL, O_ADDRESS, O_NAME, O_DURATION };

/* The capture's end: totals and each device that failed, on stderr. */
static int summary(struct cli_http *h, long long id)
{
	char path[64];
	json_t *c, *d;
	size_t i;
	int failed = 0;

	snprintf(path, sizeof(path), "/api/v1/captures/%lld", id);
	c = cli_call_json(h, "GET", path, NULL, 200);
	if (!c)
		return 2;
	json_array_foreach(json_object_get(c, "devices"), i, d) {
		if (!strcmp(cli_str(d, "state"), "failed")) {
			fprintf(stderr, "device %s failed: %s\n", cli_str(d, "device"),
				cli_str(d, "error"));
			failed++;
		} else if (cli_num(d, "dropped")) {
			fprintf(stderr, "device %s dropped %lld packets\n", cli_str(d, "device"),
				cli_num(d, "dropped"));
		}
	}
	fprintf(stderr,
		"%lld packets merged from %zu devices, %lld duplicates removed, %lld late\n",
		cli_num(c, "merged"), json_array_size(json_object_get(c, "devices")),
		cli_num(c, "duplicates"), cli_num(c, "late"));
	json_decref(c);
	return failed ? 1 : 0; /* the file holds the others', and says which failed */
}

static int write_out(void *ctx, const void *data, size_t len)
{
	return ecap_write_all(*(int *)ctx, data, len);
}

static json_t *names(const char *list)
{
	json_t *a = json_array();
	char *copy = strdupa(list), *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(t));
	return a;
}

/* -d DEV[:IF[+IF]],...: names, or {name, interfaces} for a device with
 * interfaces of its own */
static json_t *device_list(const char *list)
{
	json_t *a = json_array();
	char *copy = strdupa(list), *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':'), *s2 = NULL;
		json_t *ifs;

		if (!colon) {
			json_array_append_new(a, json_string(t));
			continue;
		}
		*colon = 0;
		ifs = json_array();
		for (char *i = strtok_r(colon + 1, "+", &s2); i; i = strtok_r(NULL, "+", &s2))
			json_array_append_new(ifs, json_string(i));
		json_array_append_new(a, json_pack("{s:s, s:o}", "name", t, "interfaces", ifs));
	}
	return a;
}

static void remote_usage(FILE *f)
{
	fprintf(f,
		"usage: edgecap remote -d DEV[,DEV...] [-i IF[,IF...]] [-Q in|out|inout]\n"
		"                      [-c COUNT] [--duration SECONDS] [-s SNAPLEN] [-w FILE|-] "
		"[--text]\n"
		"                      [--server URL] [--token TOKEN] [EXPR]\n"
		"\n"
		"One capture on several devices, merged by the server (time order, packets\n"
		"seen by several devices kept once), written as it arrives. Ctrl-C stops it\n"
		"and the file still ends complete.\n"
		"  -d DEV,...       devices (names in the registry); DEV:IF[+IF...] for a\n"
		"                   device's own interfaces (-d gw1:eth1,gw2:eth0+eth2)\n"
		"  -i IF,...        their interfaces (default: all they serve)\n"
		"  -Q DIR           in, out or inout (default)\n"
		"  -c COUNT         stop after COUNT packets\n"
		"  --duration SECONDS\n"
		"                   stop after SECONDS (the server caps it)\n"
		"  -s SNAPLEN       bytes per packet (default 262144)\n"
		"  -w FILE          pcapng to FILE ('-': standard output)\n"
		"  --text           tcpdump -nn -tt lines, each prefixed by the device\n"
		"%s",
		cli_common_help);
}

int cmd_remote(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"text", no_argument, NULL, O_TEXT},
	    {"duration", required_argument, NULL, O_DURATION},
	    COMMON_OPTS,
	    {0},
	};
	struct common co = {0};
	json_t *req = json_object(), *resp;
	const char *devs = NULL, *out = NULL;
	struct cli_call stream = {0}, stop = {0};
	struct cli_http *h = NULL;
	char path[96], *expr = NULL, *end;
	int c, text = 0, fd = -1, sfd, r = 2, stopping = 0;
	long long id;
	sigset_t mask;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+d:i:Q:c:G:s:w:h", longopts, NULL)) != -1) {
		if (cli_common_opt(&co, c))
			continue;
		switch (c) {
		case 'd':
			devs = optarg;
			break;
		case 'i':
			json_object_set_new(req, "interfaces", names(optarg));
			break;
		case 'Q':
			json_object_set_new(req, "direction", json_string(optarg));
			break;
		case 'G':
			/* tcpdump's -G rotates files; a merged stream is one file */
			fprintf(stderr, "edgecap: -G rotates files in tcpdump; a time limit is "
					"--duration SECONDS\n");
			goto out;
		case 'c':
		case O_DURATION:
		case 's': {
			long long v = strtoll(optarg, &end, 10);

			if (*end || v < 0 || end == optarg) {
				fprintf(stderr, "edgecap: %s: want a number, not '%s'\n",
					c == O_DURATION ? "--duration"
					: c == 'c'	? "-c"
							: "-s",
					optarg);
				goto out;
			}
			json_object_set_new(req,
					    c == 'c'	      ? "count"
					    : c == O_DURATION ? "duration"
							      : "snaplen",
					    json_integer(v));
			break;
		}
		case 'w':
			out = optarg;
			break;
		case O_TEXT:
			text = 1;
			break;
		case 'h':
			remote_usage(stdout);
			r = 0;
			goto out;
		default:
			remote_usage(stderr);
			goto out;
		}
	}
	if (!devs) {
		fprintf(stderr, "edgecap: which devices? -d DEV[,DEV...]\n");
		goto out;
	}
	json_object_set_new(req, "devices", device_list(devs));
	expr = join_args(argc - optind, argv + optind);
	if (!expr)
		goto out;
	json_object_set_new(req, "expression", json_string(expr));
	fd = text && !out ? STDOUT_FILENO : open_output(out);
	if (fd < 0)
		goto out;
	h = cli_http_new(co.server, co.token, co.cacert);
	if (!h)
		goto out;
	resp = cli_call_json(h, "POST", "/api/v1/captures", req, 201);
	if (!resp)
		goto out;
	id = cli_num(resp, "id");
	json_decref(resp);
	fprintf(stderr, "capture %lld on %s\n", id, devs);

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	snprintf(path, sizeof(path), "/api/v1/captures/%lld/%s", id, text ? "text" : "pcap");
	stream = (struct cli_call){.method = "GET", .path = path, .on_body = write_out, .ctx = &fd};
	cli_http_start(h, &stream);
	while (cli_http_run(h, sfd)) {
		char dpath[64];

		if (stopping++) /* a second signal: leave now */
			break;
		snprintf(dpath, sizeof(dpath), "/api/v1/captures/%lld/stop", id);
		stop = (struct cli_call){.method = "POST", .path = dpath};
		cli_http_start(h, &stop);
	}
	if (!stream.done || stream.status != 200 || stream.err[0]) {
		fprintf(stderr, "edgecap: the capture's stream: %s\n",
			stream.done ? cli_http_error(&stream) : "interrupted");
		goto out;
	}
	r = summary(h, id);
out:
	cli_call_free(&stream);
	cli_call_free(&stop);
	if (fd > STDOUT_FILENO)
		close(fd);
	cli_http_free(h);
	json_decref(req);
	free(expr);
	return r;
}

static void devices_usage(FILE *f)
{
	fprintf(f,
		"usage: edgecap devices [list]\n"
		"       edgecap devices claim SERIAL CODE [--name NAME]\n"
		"       edgecap devices add NAME --serial SERIAL --address URL\n"
		"       edgecap devices enable|disable|delete NAME\n"
		"       edgecap devices settings NAME [KEY=MS ...]\n"
		"\n"
		"'claim' makes a device that reaches the server through the tunnel\n"
		"yours: its agent prints its serial and claim code at start (and\n"
		"edgecap-agent identity prints them). Its name is its host name unless\n"
		"--name gives one. Nothing is carried to the device.\n"
		"'add' enrols a device the server reaches directly at URL and prints its\n"
		"secret (hex), for the agent's secret_file; the server keeps it, it is\n"
		"not shown again.\n"
		"A disabled device cannot register nor be captured from.\n"
		"%s",
		cli_common_help);
}

int cmd_devices(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"serial", required_argument, NULL, O_SERIAL},
	    {"address", required_argument, NULL, O_ADDRESS},
	    {"name", required_argument, NULL, O_NAME},
	    COMMON_OPTS,
	    {0},
	};
	struct common co = {0};
	json_t *add = json_object(), *j = NULL, *d;
	const char *verb;
	struct cli_http *h = NULL;
	char path[160];
	int c, r = 2;
	size_t i;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (cli_common_opt(&co, c))
			continue;
		if (c == O_SERIAL || c == O_ADDRESS || c == O_NAME) {
			json_object_set_new(add,
					    c == O_SERIAL    ? "serial"
					    : c == O_ADDRESS ? "address"
							     : "name",
					    json_string(optarg));
			continue;
		}
		devices_usage(c == 'h' ? stdout : stderr);
		r = c == 'h' ? 0 : 2;
		goto out;
	}
	verb = optind < argc ? argv[optind] : "list";
	if (!((!strcmp(verb, "list") && argc - optind <= 1) ||
	      (!strcmp(verb, "claim") && argc - optind == 3) ||
	      (!strcmp(verb, "settings") && argc - optind >= 2) ||
	      (strcmp(verb, "list") && strcmp(verb, "claim") && argc - optind == 2))) {
		devices_usage(stderr);
		goto out;
	}
	h = cli_http_new(co.server, co.token, co.cacert);
	if (!h)
		goto out;
	if (!strcmp(verb, "settings")) {
		r = cli_device_settings(h, argc - optind - 1, argv + optind + 1);
		goto out;
	} else if (!strcmp(verb, "claim")) {
		json_object_set_new(add, "serial", json_string(argv[optind + 1]));
		json_object_set_new(add, "code", json_string(argv[optind + 2]));
		j = cli_call_json(h, "POST", "/api/v1/devices/claim", add, 201);
		if (j)
			printf("claimed %s as %s\n", cli_str(j, "serial"), cli_str(j, "name"));
	} else if (!strcmp(verb, "add")) {
		json_object_set_new(add, "name", json_string(argv[optind + 1]));
		j = cli_call_json(h, "POST", "/api/v1/devices", add, 201);
		if (j)
			printf("%s\n", cli_str(j, "secret"));
	} else if (!strcmp(verb, "enable") || !strcmp(verb, "disable")) {
		json_t *body = json_pack("{s:b}", "enabled", !strcmp(verb, "enable"));

		snprintf(path, sizeof(path), "/api/v1/devices/%.100s", argv[optind + 1]);
		j = cli_call_json(h, "PATCH", path, body, 200);
		json_decref(body);
	} else if (!strcmp(verb, "delete")) {
		snprintf(path, sizeof(path), "/api/v1/devices/%.100s", argv[optind + 1]);
		j = cli_call_json(h, "DELETE", path, NULL, 200);
	} else if (!strcmp(verb, "list")) {
		j = cli_call_list(h, "/api/v1/devices", "name");
		if (j)
			printf("%-16s %-18s %-28s %-15s %-9s %-7s %s\n", "NAME", "SERIAL",
			       "ADDRESS", "MANAGEMENT", "TRANSPORT", "ENABLED", "LAST SEEN");
		json_array_foreach(j, i, d) {
			char seen[32];

			cli_when(d, "last_seen", seen, sizeof(seen));
			printf("%-16s %-18s %-28s %-15s %-9s %-7s %s\n", cli_str(d, "name"),
			       cli_str(d, "serial"), cli_str(d, "address"),
			       cli_str(d, "mgmt_address"), cli_str(d, "transport"),
			       json_is_true(json_object_get(d, "enabled")) ? "yes" : "no", seen);
		}
	} else {
		devices_usage(stderr);
		goto out;
	}
	r = j ? 0 : 2;
out:
	json_decref(j);
	json_decref(add);
	cli_http_free(h);
	return r;
}

static void captures_usage(FILE *f)
{
	fprintf(f,
		"usage: edgecap captures [list]     the organization's captures\n"
		"       edgecap captures show ID     one capture, per device\n"
		"       edgecap captures stop ID\n"
		"       edgecap captures delete ID   a finished one: its file and record\n"
		"%s",
		cli_common_help);
}

int cmd_captures(int argc, char **argv)
{
	static const struct option longopts[] = {COMMON_OPTS, {0}};
	struct common co = {0};
	struct cli_http *h = NULL;
	const char *verb;
	json_t *j = NULL, *c, *d;
	char path[96];
	int opt, r = 2;
	size_t i, k;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (cli_common_opt(&co, opt))
			continue;
		captures_usage(opt == 'h' ? stdout : stderr);
		return opt == 'h' ? 0 : 2;
	}
	verb = optind < argc ? argv[optind] : "list";
	if (!((!strcmp(verb, "list") && argc - optind <= 1) ||
	      ((!strcmp(verb, "show") || !strcmp(verb, "stop") || !strcmp(verb, "delete")) &&
	       argc - optind == 2))) {
		captures_usage(stderr);
		return 2;
	}
	h = cli_http_new(co.server, co.token, co.cacert);
	if (!h)
		return 2;
	if (!strcmp(verb, "list")) {
		j = cli_call_list(h, "/api/v1/captures", "id");
		if (j)
			printf("%-5s %-8s %-19s %9s %9s %s\n", "ID", "STATE", "STARTED", "PACKETS",
			       "DUPS", "DEVICES / EXPRESSION");
		json_array_foreach(j, i, c) {
			char started[32], devs[256] = "";

			cli_when(c, "created", started, sizeof(started));
			json_array_foreach(json_object_get(c, "devices"), k, d) {
				size_t at = strlen(devs);

				snprintf(devs + at, sizeof(devs) - at, "%s%s%s", at ? "," : "",
					 cli_str(d, "device"),
					 !strcmp(cli_str(d, "state"), "failed") ? "(failed)" : "");
			}
			printf("%-5lld %-8s %-19s %9lld %9lld %s '%s'\n", cli_num(c, "id"),
			       cli_str(c, "state"), started, cli_num(c, "merged"),
			       cli_num(c, "duplicates"), devs,
			       cli_str(json_object_get(c, "request"), "expression"));
		}
	} else if (!strcmp(verb, "delete")) {
		snprintf(path, sizeof(path), "/api/v1/captures/%.40s", argv[optind + 1]);
		j = cli_call_json(h, "DELETE", path, NULL, 200);
		if (j)
			printf("capture %lld deleted\n", cli_num(j, "deleted"));
	} else {
		snprintf(path, sizeof(path), "/api/v1/captures/%.40s%s", argv[optind + 1],
			 !strcmp(verb, "stop") ? "/stop" : "");
		j = cli_call_json(h, !strcmp(verb, "stop") ? "POST" : "GET", path, NULL, 200);
		if (j) {
			char started[32], ended[32];

			cli_when(j, "created", started, sizeof(started));
			cli_when(j, "ended", ended, sizeof(ended));
			printf("capture %lld: %s, started %s, ended %s\n"
			       "%lld packets merged, %lld duplicates removed, %lld late\n",
			       cli_num(j, "id"), cli_str(j, "state"), started, ended,
			       cli_num(j, "merged"), cli_num(j, "duplicates"), cli_num(j, "late"));
			if (json_is_string(json_object_get(j, "ended_by")))
				printf("ended by %s%s%s, %lld bytes kept%s\n",
				       cli_str(j, "ended_by"),
				       json_is_string(json_object_get(j, "error")) ? ": " : "",
				       json_is_string(json_object_get(j, "error"))
					   ? cli_str(j, "error")
					   : "",
				       cli_num(j, "stored"),
				       json_is_true(json_object_get(j, "file_lost"))
					   ? " (its file is gone)"
					   : "");
			printf("%-16s %-10s %12s %10s %10s %8s  %s\n", "DEVICE", "STATE", "BYTES",
			       "PACKETS", "DUPS", "DROPPED", "ERROR");
			json_array_foreach(json_object_get(j, "devices"), k, d)
				printf("%-16s %-10s %12lld %10lld %10lld %8lld  %s\n",
				       cli_str(d, "device"), cli_str(d, "state"),
				       cli_num(d, "bytes"), cli_num(d, "packets"),
				       cli_num(d, "duplicates"), cli_num(d, "dropped"),
				       json_is_string(json_object_get(d, "error"))
					   ? cli_str(d, "error")
					   : "");
		}
	}
	r = j ? 0 : 2;
	json_decref(j);
	cli_http_free(h);
	return r;
}
