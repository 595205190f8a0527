/* main.c - edgecap-agent: flags and the configuration file, then the
 * daemon (agent.c) until a signal ends it. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "tunnel/identity.h"

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: edgecap-agent [-c FILE] [--listen ADDR:PORT] [-i IF[,IF...]]\n"
	       "                     [--secret-file FILE] [--plain-http]\n"
	       "                     [--metrics-listen ADDR:PORT]\n"
	       "       edgecap-agent identity [-c FILE]  the serial and claim code to claim it by\n"
	       "       edgecap-agent keygen [KEYFILE]   the device's Ed25519 key pair\n"
	       "       edgecap-agent --version\n"
	       "\n"
	       "  -c FILE          configuration (default " AGENT_CONF ", if present)\n"
	       "  --listen         address and port to serve on (default 0.0.0.0:8443)\n"
	       "  -i IF,...        interfaces to serve captures on\n"
	       "  --secret-file    the device's secret from enrolment, in hex\n"
	       "  --plain-http     HTTP without TLS, for labs\n"
	       "  --metrics-listen where to answer GET /metrics (Prometheus; default off)\n"
	       "Settings not given as flags come from the file; see docs/remote.md.\n"
	       "identity makes the device's key (key_file) if there is none yet, as the\n"
	       "agent does at first start, and prints its serial and claim code: an owner\n"
	       "claims the device with them (edgecap devices claim SERIAL CODE).\n"
	       "keygen writes a private key (default " AGENT_KEY ", never overwritten)\n"
	       "and prints its public key (docs/tunnel.md).\n");
}

static int keygen(int argc, char **argv)
{
	const char *path = argc > 2 ? argv[2] : AGENT_KEY;
	char pub[MTUN_PUBKEY_B64], err[ECAP_ERRLEN];

	if (argc > 3) {
		usage(stderr);
		return 2;
	}
	if (mtun_keygen(path, pub, err, sizeof(err))) {
		ecap_log(LOG_ERR, "keygen: %s", err);
		return 2;
	}
	printf("%s\n", pub);
	return 0;
}

/* identity [-c FILE]: the serial and claim code, the key made if need be. */
static int identity(int argc, char **argv)
{
	static struct agent_conf c;
	struct agent_identity id;
	const char *conf = AGENT_CONF;
	char err[ECAP_ERRLEN];

	if (argc == 4 && !strcmp(argv[2], "-c"))
		conf = argv[3];
	else if (argc != 2) {
		usage(stderr);
		return 2;
	}
	if (agent_conf_load(&c, conf, argc == 4, err, sizeof(err)) ||
	    agent_identity(&c, &id, err, sizeof(err))) {
		ecap_log(LOG_ERR, "%s", err);
		return 2;
	}
	printf("serial      %s\nclaim code  %s\n", c.serial, id.code);
	return 0;
}

/* The file, then the flags over it: 0, or 2 with the reason logged. */
static int configure(struct agent_conf *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'L'},
	    {"secret-file", required_argument, NULL, 'S'},
	    {"plain-http", no_argument, NULL, 'P'},
	    {"metrics-listen", required_argument, NULL, 'M'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static const char *const keys[] = {['L'] = "listen",
					   ['S'] = "secret_file",
					   ['P'] = "plain_http",
					   ['M'] = "metrics_listen",
					   ['i'] = "interfaces"};
	struct {
		const char *key, *value;
	} flags[16];
	const char *conf = AGENT_CONF;
	char err[ECAP_ERRLEN];
	int o, nflags = 0, explicit_conf = 0;

	while ((o = getopt_long(argc, argv, "c:i:h", longopts, NULL)) != -1) {
		switch (o) {
		case 'c':
			conf = optarg;
			explicit_conf = 1;
			break;
		case 'i':
		case 'L':
		case 'S':
		case 'M':
		case 'P':
			if (nflags == 16) {
				ecap_log(LOG_ERR, "too many flags");
				return 2;
			}
			flags[nflags].key = keys[o];
			flags[nflags++].value = o == 'P' ? "yes" : optarg;
			break;
		case 'V':
			printf("%s\n", AGENT_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (agent_conf_load(c, conf, explicit_conf, err, sizeof(err)))
		goto fail;
	for (int i = 0; i < nflags; i++) /* flags set the file's keys, after it */
		if (agent_conf_set(c, flags[i].key, flags[i].value, err, sizeof(err)))
			goto fail;
	if (agent_conf_check(c, err, sizeof(err)))
		goto fail;
	return 0;
fail:
	ecap_log(LOG_ERR, "%s", err);
	return 2;
}

int main(int argc, char **argv)
{
	static struct agent agent; /* large (nonce table); one per process */
	char err[ECAP_ERRLEN];
	int st;

	ecap_log_init("edgecap-agent");
	if (argc > 1 && !strcmp(argv[1], "keygen"))
		return keygen(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "identity"))
		return identity(argc, argv);
	st = configure(&agent.conf, argc, argv);
	if (st)
		return st;
	if (geteuid() != 0) {
		ecap_log(LOG_ERR, "needs root (CAP_BPF and CAP_NET_ADMIN)");
		return 2;
	}
	st = agent_start(&agent, err, sizeof(err));
	if (!st)
		agent_run(&agent);
	agent_free(&agent);
	return ecap_log_end(st, err);
}
