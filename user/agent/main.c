/* main.c - edgecap-agent: configuration, the capture engine on the served
 * interfaces, the h2o server, signals. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "capture/engine.h"
#include "tunnel/identity.h"

#define STOP_GRACE_MS 5000 /* for the captures' last chunks after SIGTERM */

static void usage(FILE *f)
{
	fprintf(f, "usage: edgecap-agent [-c FILE] [--listen ADDR:PORT] [-i IF[,IF...]]\n"
		   "                     [--secret-file FILE] [--plain-http]\n"
		   "       edgecap-agent keygen [KEYFILE]   the device's Ed25519 key pair\n"
		   "\n"
		   "  -c FILE        configuration (default " AGENT_CONF ", if present)\n"
		   "  --listen       address and port to serve on (default 0.0.0.0:8443)\n"
		   "  -i IF,...      interfaces to serve captures on\n"
		   "  --secret-file  the device's secret from enrolment, in hex\n"
		   "  --plain-http   HTTP without TLS, for labs\n"
		   "Settings not given as flags come from the file; see docs/remote.md.\n"
		   "keygen writes the private key (default /etc/edgecap/device.key, never\n"
		   "overwritten) and prints the public key to enrol (docs/tunnel.md).\n");
}

/* Hooks on every served interface, both directions, for the agent's life:
 * a capture only swaps the programs in their slots. */
static int attach(struct agent *a, char *err, size_t errlen)
{
	for (unsigned i = 0; i < a->conf.nifaces; i++) {
		struct agent_iface *f = &a->ifaces[i];
		int hook;

		snprintf(f->name, sizeof(f->name), "%s", a->conf.ifaces[i]);
		f->ifindex = (int)if_nametoindex(f->name);
		if (!f->ifindex) {
			snprintf(err, errlen, "unknown interface '%s'", f->name);
			return -ENODEV;
		}
		if (ecap_engine_attach(a->engine, f->ifindex, ECAP_ATTACH_TC_OUT, err, errlen))
			return -EINVAL;
		hook = ecap_engine_attach_ingress(a->engine, f->ifindex, a->conf.ingress, err, errlen);
		if (hook < 0)
			return hook;
		f->ingress = (unsigned)hook;
		a->nifaces++;
	}
	return 0;
}

/* No new connections; each capture gets its statistics and last chunk. */
static void stop(struct agent *a)
{
	if (a->stopping)
		return;
	agent_log("stopping: ending %d capture(s)", agent_captures_active(a));
	a->stopping = 1;
	web_unlisten(&a->listener);
	ecap_streamer_stop(a->streamer);
}

static int keygen(int argc, char **argv)
{
	const char *path = argc > 2 ? argv[2] : "/etc/edgecap/device.key";
	char pub[MTUN_PUBKEY_B64], err[ECAP_ERRLEN];

	if (argc > 3) {
		usage(stderr);
		return 2;
	}
	if (mtun_keygen(path, pub, err, sizeof(err))) {
		agent_log("keygen: %s", err);
		return 2;
	}
	printf("%s\n", pub);
	return 0;
}

static void on_streamer(h2o_socket_t *sock, const char *e)
{
	struct agent *a = sock->data;
	char err[ECAP_ERRLEN];

	if (ecap_streamer_step(a->streamer, err, sizeof(err))) {
		agent_log("%s", err);
		stop(a);
	}
}

static void on_signal(h2o_socket_t *sock, const char *e)
{
	struct agent *a = sock->data;
	struct signalfd_siginfo si;

	while (read(h2o_socket_get_fd(sock), &si, sizeof(si)) == sizeof(si))
		;
	stop(a);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'L'},
		{"secret-file", required_argument, NULL, 'S'},
		{"plain-http", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static struct agent agent; /* large (nonce table); one per process */
	struct agent *a = &agent;
	struct {
		const char *key, *value;
	} flags[8];
	const char *conf = AGENT_CONF;
	char err[ECAP_ERRLEN];
	int c, nflags = 0, explicit_conf = 0, fd, st = 1;
	h2o_hostconf_t *host;
	sigset_t mask;

	if (argc > 1 && !strcmp(argv[1], "keygen"))
		return keygen(argc, argv);
	while ((c = getopt_long(argc, argv, "c:i:h", longopts, NULL)) != -1 && nflags < 8) {
		switch (c) {
		case 'c':
			conf = optarg;
			explicit_conf = 1;
			break;
		case 'i': /* flags set the file's keys, after it */
			flags[nflags].key = "interfaces";
			flags[nflags++].value = optarg;
			break;
		case 'L':
			flags[nflags].key = "listen";
			flags[nflags++].value = optarg;
			break;
		case 'S':
			flags[nflags].key = "secret_file";
			flags[nflags++].value = optarg;
			break;
		case 'P':
			flags[nflags].key = "plain_http";
			flags[nflags++].value = "yes";
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (agent_conf_load(&a->conf, conf, explicit_conf, err, sizeof(err)))
		goto fail_conf;
	for (int i = 0; i < nflags; i++)
		if (agent_conf_set(&a->conf, flags[i].key, flags[i].value, err, sizeof(err)))
			goto fail_conf;
	if (agent_conf_check(&a->conf, err, sizeof(err)))
		goto fail_conf;
	if (geteuid() != 0) {
		agent_log("needs root (CAP_BPF and CAP_NET_ADMIN)");
		return 2;
	}

	ecap_engine_quiet_libraries();
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (ecap_engine_probe(err, sizeof(err))) {
		agent_log("kernel lacks %s", err);
		st = 2;
		goto out;
	}
	if (ecap_engine_open(&(struct ecap_engine_opts){.ring_bytes = a->conf.ring_bytes},
			     &a->engine, err, sizeof(err))) {
		agent_log("%s", err);
		st = 2;
		goto out;
	}
	if (attach(a, err, sizeof(err)) ||
	    ecap_streamer_new(a->engine, -1, agent_capture_end, a, &a->streamer, err,
			      sizeof(err))) {
		agent_log("%s", err);
		st = 2;
		goto out;
	}

	h2o_config_init(&a->config);
	a->config.server_name = h2o_iovec_init(H2O_STRLIT("edgecap-agent"));
	a->config.max_request_entity_size = 64 << 10; /* GET only */
	host = h2o_config_register_host(&a->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	agent_capture_init(a, host);
	agent_status_init(a, host);
	h2o_context_init(&a->ctx, h2o_evloop_create(), &a->config);
	a->accept_ctx.ctx = &a->ctx;
	a->accept_ctx.hosts = a->config.hosts;
	if (!a->conf.plain_http) {
		a->ssl = web_tls_server(a->conf.tls_cert, a->conf.tls_key, err, sizeof(err));
		if (!a->ssl) {
			agent_log("%s", err);
			st = 2;
			goto out;
		}
		a->accept_ctx.ssl_ctx = a->ssl;
	}
	fd = web_listen(a->conf.listen, err, sizeof(err));
	if (fd < 0) {
		agent_log("%s", err);
		st = 2;
		goto out;
	}
	a->listener = web_serve(&a->accept_ctx, fd);
	web_watch(a->ctx.loop, dup(ecap_streamer_fd(a->streamer)), on_streamer, a);
	web_watch(a->ctx.loop, signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC), on_signal, a);
	agent_capture_start_timers(a);
	if (agent_tunnel_start(a, err, sizeof(err))) {
		agent_log("%s", err);
		st = 2;
		goto out;
	}
	if (ecap_streamer_step(a->streamer, err, sizeof(err))) { /* arms the ring poll */
		agent_log("%s", err);
		goto out;
	}
	agent_log("serving %u interface(s) on %s%s", a->nifaces, a->conf.listen,
		  a->conf.plain_http ? " (plain HTTP)" : " (HTTPS)");

	while (!a->stopping)
		h2o_evloop_run(a->ctx.loop, INT32_MAX);
	/* the captures' last chunks, within a grace period */
	for (uint64_t until = h2o_now(a->ctx.loop) + STOP_GRACE_MS;
	     agent_captures_active(a) && h2o_now(a->ctx.loop) < until;)
		h2o_evloop_run(a->ctx.loop, 100);
	st = 0;
out:
	agent_tunnel_stop(a);
	ecap_streamer_free(a->streamer);
	ecap_engine_close(a->engine); /* hooks off every interface */
	if (a->ssl)
		SSL_CTX_free(a->ssl);
	if (!st)
		agent_log("stopped");
	return st;
fail_conf:
	agent_log("%s", err);
	return 2;
}
