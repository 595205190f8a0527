/* main.c - edgecap-server: flags and the configuration file, the
 * registry's bootstrap commands, then the daemon (server.c) until a signal
 * ends it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: edgecap-server [-c FILE] [options]          serve\n"
	    "%s"
	    "       edgecap-server --version\n"
	    "\n"
	    "  -c FILE                configuration (default " SRV_CONF ", if present);\n"
	    "                         each flag sets the file's key of the same name\n"
	    "  --listen ADDR:PORT     (default 0.0.0.0:8080 with --plain-http, else :8443)\n"
	    "  --db FILE|URL          the registry: a SQLite file (default\n"
	    "                         /var/lib/edgecap/registry.db), or PostgreSQL's\n"
	    "                         postgresql://... that several servers share\n"
	    "  --data DIR             merged captures (default: the registry file's directory)\n"
	    "  --instance-address URL where the other servers on the registry reach this one\n"
	    "                         (default: http(s)://LISTEN)\n"
	    "  --plain-http           HTTP without TLS, for labs\n"
	    "  --tls-cert FILE, --tls-key FILE\n"
	    "  --ca-file FILE         CA certificates that sign the agents' (default: system)\n"
	    "  --tunnel-udp ADDR:PORT run the mTunnel: devices' UDP datagrams come here\n"
	    "  --tunnel-if NAME       its TUN device (default ectun0), 6.0.0.1/8\n"
	    "  --tunnel-max N         devices registered at once (default 65536)\n"
	    "  --tunnel-hold MS       a parked poll is answered empty after MS (1000..25000,\n"
	    "                         default 25000: proxies cut idle requests at 30-60 s)\n"
	    "  --metrics-listen ADDR:PORT  where to answer GET /metrics (default: off)\n"
	    "  --device-networks CIDR,...  the only networks devices may be in; listed,\n"
	    "                         even loopback or this host's addresses are allowed\n"
	    "  --web-root DIR         the built web page (default " EDGECAP_WEB_DIR ";\n"
	    "                         \"\": the API only)\n"
	    "  --report-interval S    ask each device for its status every S seconds\n"
	    "                         (2..3600, default 60; unheard for three: offline)\n",
	    srv_bootstrap_usage);
}

/* The file, then the flags over it: 0, or 2 with the reason logged; -1: a
 * bootstrap command follows at argv[optind]. */
static int configure(struct srv_conf *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 0},
	    {"db", required_argument, NULL, 0},
	    {"instance-address", required_argument, NULL, 0},
	    {"data", required_argument, NULL, 0},
	    {"plain-http", no_argument, NULL, 0},
	    {"tls-cert", required_argument, NULL, 0},
	    {"tls-key", required_argument, NULL, 0},
	    {"ca-file", required_argument, NULL, 0},
	    {"tunnel-udp", required_argument, NULL, 0},
	    {"tunnel-if", required_argument, NULL, 0},
	    {"tunnel-max", required_argument, NULL, 0},
	    {"tunnel-hold", required_argument, NULL, 0},
	    {"metrics-listen", required_argument, NULL, 0},
	    {"device-networks", required_argument, NULL, 0},
	    {"web-root", required_argument, NULL, 0},
	    {"report-interval", required_argument, NULL, 0},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct {
		char key[32];
		const char *value;
	} flags[16];
	const char *conf = SRV_CONF;
	char err[512];
	int o, i, n = 0, explicit_conf = 0;

	while ((o = getopt_long(argc, argv, "+c:h", longopts, &i)) != -1) {
		if (o == 0 && n < 16) { /* --tls-cert sets tls_cert */
			snprintf(flags[n].key, sizeof(flags[n].key), "%s", longopts[i].name);
			for (char *p = flags[n].key; *p; p++)
				if (*p == '-')
					*p = '_';
			flags[n++].value = longopts[i].has_arg ? optarg : "yes";
		} else if (o == 'c') {
			conf = optarg;
			explicit_conf = 1;
		} else if (o == 'V') {
			printf("%s\n", SRV_VERSION);
			exit(0);
		} else if (o == 'h') {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (srv_conf_load(c, conf, explicit_conf, err, sizeof(err)))
		goto fail;
	for (i = 0; i < n; i++)
		if (srv_conf_set(c, flags[i].key, flags[i].value, err, sizeof(err)))
			goto fail;
	if (optind < argc)
		return -1;
	if (srv_conf_finish(c, err, sizeof(err)))
		goto fail;
	return 0;
fail:
	ecap_log(LOG_ERR, "%s", err);
	return 2;
}

int main(int argc, char **argv)
{
	static struct srv_daemon d;
	char err[512];
	int st;

	/* a compile worker (service/compiler.h), spawned by the server itself */
	if (argc == 2 && !strcmp(argv[1], "compile-worker"))
		return srv_compiler_worker_main();
	ecap_log_init("edgecap-server");
	st = configure(&d.conf, argc, argv);
	if (st == -1)
		return srv_bootstrap(d.conf.db, argc - optind, argv + optind);
	if (st)
		return st;
	st = srv_daemon_start(&d, err, sizeof(err));
	if (!st)
		srv_daemon_run(&d);
	srv_daemon_free(&d);
	return ecap_log_end(st, err);
}
