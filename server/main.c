/* main.c - edgecap-server: flags, the registry's bootstrap commands, the
 * h2o server and its client context, signals. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "tunnel.h"

#define STOP_GRACE_MS 3000

void server_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("edgecap-server: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: edgecap-server [options]                serve\n"
		"       edgecap-server [--db FILE] org add NAME\n"
		"       edgecap-server [--db FILE] admin add ORG NAME   (prints the API token)\n"
		"\n"
		"  --listen ADDR:PORT  (default 0.0.0.0:8080 with --plain-http, else :8443)\n"
		"  --db FILE           the registry (default /var/lib/edgecap/registry.db)\n"
		"  --data DIR          merged captures (default: the registry's directory)\n"
		"  --plain-http        HTTP without TLS, for labs\n"
		"  --tls-cert FILE, --tls-key FILE\n"
		"  --ca-file FILE      CA certificates that sign the agents' (default: system)\n"
		"  --tunnel-udp ADDR:PORT  run the mTunnel: devices' UDP datagrams come here\n"
		"  --tunnel-if NAME    its TUN device (default ectun0), 6.0.0.1/8\n"
		"  --tunnel-max N      devices registered at once (default 65536)\n"
		"  --tunnel-hold MS    a parked poll is answered empty after MS (1000..25000,\n"
		"                      default 25000: proxies cut idle requests at 30-60 s)\n");
}

/* org add NAME | admin add ORG NAME */
static int bootstrap(struct reg *reg, int argc, char **argv)
{
	char token[2 * REG_TOKEN_LEN + 1];
	int64_t id;

	if (argc == 3 && !strcmp(argv[0], "org") && !strcmp(argv[1], "add")) {
		id = reg_org_add(reg, argv[2]);
		if (id == -EEXIST)
			server_log("organization '%s' exists", argv[2]);
		else if (id < 0)
			server_log("registry: %s", reg_errmsg(reg));
		else
			printf("organization %s: id %lld\n", argv[2], (long long)id);
		return id < 0;
	}
	if (argc == 4 && !strcmp(argv[0], "admin") && !strcmp(argv[1], "add")) {
		id = reg_admin_add(reg, argv[2], argv[3], token);
		if (id == -ENOENT)
			server_log("no organization '%s'", argv[2]);
		else if (id == -EEXIST)
			server_log("administrator '%s' exists in '%s'", argv[3], argv[2]);
		else if (id < 0)
			server_log("registry: %s", reg_errmsg(reg));
		else
			printf("%s\n", token);
		return id < 0;
	}
	usage(stderr);
	return 2;
}

/* Each device polling over HTTP holds a connection and a UDP socket of its
 * own: the soft limit (often 1024) would stop the server at a few hundred. */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static void on_signal(h2o_socket_t *sock, const char *e)
{
	struct server *s = sock->data;
	struct signalfd_siginfo si;

	while (read(h2o_socket_get_fd(sock), &si, sizeof(si)) == sizeof(si))
		;
	if (s->stopping)
		return;
	server_log("stopping: ending %d capture(s)", capture_running(s));
	s->stopping = 1;
	web_unlisten(&s->listener);
	capture_stop_all(s);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'L'},
		{"db", required_argument, NULL, 'D'},
		{"data", required_argument, NULL, 'd'},
		{"plain-http", no_argument, NULL, 'P'},
		{"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},
		{"ca-file", required_argument, NULL, 'A'},
		{"tunnel-udp", required_argument, NULL, 'U'},
		{"tunnel-if", required_argument, NULL, 'I'},
		{"tunnel-max", required_argument, NULL, 'M'},
		{"tunnel-hold", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static struct server server;
	struct server *s = &server;
	char err[512];
	int c, fd, st = 2;
	h2o_hostconf_t *host;
	sigset_t mask;

	/* the flags that take a path or address, and where it goes */
	const struct {
		int opt;
		char *dst;
		size_t size;
	} strs[] = {
		{'L', s->conf.listen, sizeof(s->conf.listen)},
		{'D', s->conf.db, sizeof(s->conf.db)},
		{'d', s->conf.data, sizeof(s->conf.data)},
		{'C', s->conf.tls_cert, sizeof(s->conf.tls_cert)},
		{'K', s->conf.tls_key, sizeof(s->conf.tls_key)},
		{'A', s->conf.ca_file, sizeof(s->conf.ca_file)},
		{'U', s->conf.tunnel_udp, sizeof(s->conf.tunnel_udp)},
		{'I', s->conf.tunnel_if, sizeof(s->conf.tunnel_if)},
	};

	snprintf(s->conf.db, sizeof(s->conf.db), "/var/lib/edgecap/registry.db");
	snprintf(s->conf.tunnel_if, sizeof(s->conf.tunnel_if), "ectun0");
	s->conf.tunnel_max = 65536;
	s->conf.tunnel_hold_ms = TUNNEL_HOLD_MS;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		size_t i = 0;

		while (i < sizeof(strs) / sizeof(strs[0]) && strs[i].opt != c)
			i++;
		if (i < sizeof(strs) / sizeof(strs[0])) {
			if (strlen(optarg) >= strs[i].size) {
				server_log("'%.64s...': too long", optarg);
				return 2;
			}
			strcpy(strs[i].dst, optarg);
		} else if (c == 'P') {
			s->conf.plain_http = 1;
		} else if (c == 'M' || c == 'H') {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			unsigned long lo = c == 'M' ? 1 : 1000, hi = c == 'M' ? 1000000 : TUNNEL_HOLD_MS;

			if (*end || v < lo || v > hi) {
				server_log("--tunnel-%s: %lu to %lu", c == 'M' ? "max" : "hold", lo, hi);
				return 2;
			}
			*(c == 'M' ? &s->conf.tunnel_max : &s->conf.tunnel_hold_ms) = (unsigned)v;
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (reg_open(s->conf.db, &s->reg, err, sizeof(err))) {
		server_log("%s", err);
		return 2;
	}
	if (optind < argc) {
		st = bootstrap(s->reg, argc - optind, argv + optind);
		reg_close(s->reg);
		return st;
	}
	if (!s->conf.data[0]) {
		char *slash;

		snprintf(s->conf.data, sizeof(s->conf.data), "%.255s", s->conf.db);
		slash = strrchr(s->conf.data, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(s->conf.data, sizeof(s->conf.data), ".");
	}
	if (mkdir(s->conf.data, 0750) && errno != EEXIST) {
		server_log("data directory %s: %s", s->conf.data, strerror(errno));
		goto out;
	}
	if (!s->conf.listen[0])
		snprintf(s->conf.listen, sizeof(s->conf.listen), "0.0.0.0:%s",
			 s->conf.plain_http ? "8080" : "8443");
	if (!s->conf.plain_http && (!s->conf.tls_cert[0] || !s->conf.tls_key[0])) {
		server_log("HTTPS needs --tls-cert and --tls-key (or --plain-http for labs)");
		goto out;
	}
	reg_captures_interrupted(s->reg);
	raise_fd_limit();

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Sockets' input buffers start at 4 KiB, not 8 (they grow as they must):
	 * a device's parked poll keeps its connection's buffer, so this is most
	 * of what an idle device costs the server. */
	h2o_socket_buffer_prototype._initial_buf.capacity = 4096;
	h2o_config_init(&s->config);
	s->config.server_name = h2o_iovec_init(H2O_STRLIT("edgecap-server"));
	s->config.max_request_entity_size = 1 << 20;
	host = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	tunnel_init(s, host); /* before "/" */
	api_init(s, host);
	h2o_context_init(&s->ctx, h2o_evloop_create(), &s->config);
	h2o_multithread_register_receiver(s->ctx.queue, &s->getaddr, h2o_hostinfo_getaddr_receiver);
	capture_init(s);
	s->accept_ctx.ctx = &s->ctx;
	s->accept_ctx.hosts = s->config.hosts;
	if (!s->conf.plain_http) {
		s->ssl = web_tls_server(s->conf.tls_cert, s->conf.tls_key, err, sizeof(err));
		if (!s->ssl) {
			server_log("%s", err);
			goto out;
		}
		s->accept_ctx.ssl_ctx = s->ssl;
	}
	/* the CAs devices are checked against; each connection has its own context
	 * for the device's name (capture.c) */
	s->client_ssl = web_tls_client(s->conf.ca_file[0] ? s->conf.ca_file : NULL, NULL,
				       h2o_iovec_init(NULL, 0), err, sizeof(err));
	if (!s->client_ssl) {
		server_log("%s", err);
		goto out;
	}
	fd = web_listen(s->conf.listen, err, sizeof(err));
	if (fd < 0) {
		server_log("%s", err);
		goto out;
	}
	if (tunnel_start(s, err, sizeof(err))) {
		server_log("%s", err);
		close(fd);
		goto out;
	}
	s->listener = web_serve(&s->accept_ctx, fd);
	web_watch(s->ctx.loop, signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC), on_signal, s);
	server_log("serving on %s%s, registry %s (schema %d), captures in %s", s->conf.listen,
		   s->conf.plain_http ? " (plain HTTP)" : " (HTTPS)", s->conf.db,
		   reg_schema_version(s->reg), s->conf.data);

	while (!s->stopping)
		h2o_evloop_run(s->ctx.loop, INT32_MAX);
	for (uint64_t until = h2o_now(s->ctx.loop) + STOP_GRACE_MS;
	     capture_running(s) && h2o_now(s->ctx.loop) < until;)
		h2o_evloop_run(s->ctx.loop, 100);
	tunnel_stop(s);
	st = 0;
	server_log("stopped");
out:
	reg_close(s->reg);
	return st;
}
