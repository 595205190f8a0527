/* multi.c IFACE EXPR:FILE:COUNT... - up to 8 capture sessions in one process,
 * on one engine and one ring, as the agent runs them: each session has its
 * own filter, output and packet count, and when one reaches its count it is
 * taken off the hooks while the others go on. Prints each session's figures;
 * exits 0 when every session wrote its count, 1 otherwise, or after SIGINT,
 * SIGTERM or a 30 s safety limit (each a clean stop). "ready" on stderr: the
 * sessions are installed. */
#include <signal.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <net/if.h>

#include "capture.h"
#include "filter/compile.h"
#include "capture/engine.h"
#include "filter/filter.h"
#include "capture/sessions.h"
#include "capture/streamer.h"

static struct ecap_session sess[ECAP_MAX_SESSIONS];
static unsigned nsess;
static int active[ECAP_MAX_SESSIONS];

/* Reinstall the sessions still running, without the one that ended. */
static void session_end(void *ctx, uint8_t id)
{
	struct ecap_session left[ECAP_MAX_SESSIONS];
	char err[ECAP_ERRLEN];
	unsigned n = 0;

	active[id] = 0;
	for (unsigned i = 0; i < nsess; i++)
		if (active[sess[i].id])
			left[n++] = sess[i];
	if (ecap_engine_set_sessions(ctx, left, n, err, sizeof(err)))
		fprintf(stderr, "multi: %s\n", err);
}

int main(int argc, char **argv)
{
	struct ecap_stream_iface iface = {.linktype = 1}; /* veth: Ethernet */
	struct ecap_stream_opts so[ECAP_MAX_SESSIONS];
	struct ecap_cbpf prog[ECAP_MAX_SESSIONS] = {0};
	struct ecap_engine_opts eo = {.ring_bytes = 1 << 22};
	struct ecap_streamer *st = NULL;
	struct ecap_engine *e = NULL;
	char err[ECAP_ERRLEN];
	sigset_t stop;
	int r = 1, stop_fd;

	if (argc < 3 || argc - 2 > ECAP_MAX_SESSIONS) {
		fprintf(stderr, "usage: multi IFACE EXPR:FILE:COUNT... (at most 8)\n");
		return 2;
	}
	ecap_engine_quiet_libraries();
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGALRM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	stop_fd = signalfd(-1, &stop, SFD_CLOEXEC);
	alarm(30);
	iface.ifindex = (int)if_nametoindex(argv[1]);
	snprintf(iface.name, sizeof(iface.name), "%s", argv[1]);
	if (!iface.ifindex || ecap_engine_open(&eo, &e, err, sizeof(err)) ||
	    ecap_engine_attach(e, iface.ifindex, ecap_engine_ingress_hook(iface.ifindex), err,
			       sizeof(err)) ||
	    ecap_engine_attach(e, iface.ifindex, ECAP_ATTACH_TC_OUT, err, sizeof(err)) ||
	    ecap_streamer_new(e, stop_fd, session_end, e, &st, err, sizeof(err))) {
		fprintf(stderr, "multi: %s: %s\n", argv[1],
			iface.ifindex ? err : "no such interface");
		goto out;
	}
	for (int i = 2; i < argc; i++, nsess++) {
		char *spec = argv[i], *file = strchr(spec, ':'), *count = strrchr(spec, ':');

		if (!file || file == count) {
			fprintf(stderr, "multi: '%s': want EXPR:FILE:COUNT\n", spec);
			goto out;
		}
		*file++ = 0;
		*count++ = 0;
		if (ecap_filter_compile(spec, ECAP_LINKTYPE_EN10MB, 262144, &prog[nsess], err,
					sizeof(err)) ||
		    ecap_cbpf_validate(prog[nsess].insns, prog[nsess].len, err, sizeof(err))) {
			fprintf(stderr, "multi: %s\n", err);
			goto out;
		}
		sess[nsess] = (struct ecap_session){.id = (uint8_t)nsess,
						    .insns = prog[nsess].insns,
						    .len = prog[nsess].len,
						    .snaplen = 262144,
						    .dirs = ECAP_DIR_IN | ECAP_DIR_OUT,
						    .nifindex = 1,
						    .ifindex = {iface.ifindex}};
		so[nsess] = (struct ecap_stream_opts){
		    .out_fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
		    .session = (uint8_t)nsess,
		    .snaplen = 262144,
		    .dirs = ECAP_DIR_IN | ECAP_DIR_OUT,
		    .ifaces = &iface,
		    .nifaces = 1,
		    .count = strtoull(count, NULL, 10)};
		active[nsess] = 1;
		if (so[nsess].out_fd < 0 || ecap_streamer_add(st, &so[nsess], err, sizeof(err))) {
			fprintf(stderr, "multi: %s: %s\n", file, err);
			goto out;
		}
	}
	if (ecap_engine_set_sessions(e, sess, nsess, err, sizeof(err))) {
		fprintf(stderr, "multi: %s\n", err);
		goto out;
	}
	fprintf(stderr, "ready\n");
	if (ecap_streamer_run(st, err, sizeof(err))) {
		fprintf(stderr, "multi: %s\n", err);
		goto out;
	}
	r = 0;
	for (unsigned i = 0; i < nsess; i++) {
		struct ecap_stream_stats s;

		ecap_streamer_stats(st, (uint8_t)i, &s);
		printf("%u written=%llu matched=%llu dropped=%llu\n", i,
		       (unsigned long long)s.written, (unsigned long long)s.matched,
		       (unsigned long long)s.dropped);
		if (s.written != so[i].count)
			r = 1;
	}
out:
	ecap_streamer_free(st);
	ecap_engine_close(e);
	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++)
		ecap_cbpf_free(&prog[i]);
	return r;
}
