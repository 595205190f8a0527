/* devsim_main.c - devsim: K synthetic devices (tests/lib/devsim.h) on
 * consecutive ports of 127.0.0.1, in one thread, until SIGTERM or SIGINT;
 * the stream benchmark feeds edgecap-server from them. Then each capture
 * still running ends with its statistics, as the agent's do. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "devsim.h"
#include "common/auth.h"
#include "common/hex.h"

#define DEVICES_MAX   64
#define STOP_GRACE_MS 5000 /* as the agent's, for the captures' last chunks */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: devsim [--devices K] [--port BASE] [--packets N] [--len L] [--same]\n"
		"              [--secret-file F]\n"
		"  --devices K      devices on ports BASE..BASE+K-1 of 127.0.0.1 (default 1)\n"
		"  --port BASE      default 8080\n"
		"  --packets N      per capture (default 0: until its count, duration or stop)\n"
		"  --len L          frame length, %d..%d (default 1514)\n"
		"  --same           every device sends the same packets (default: its own)\n"
		"  --secret-file F  the devices' secrets in hex, one a line in port order;\n"
		"                   requests must be signed (default: not checked)\n",
		DEVSIM_LEN_MIN, DEVSIM_LEN_MAX);
}

static int number(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || !*s || *end || *s == '-' || *ret > max ? -EINVAL : 0;
}

/* K secrets, one a line. 0, or -errno with a message printed. */
static int read_secrets(const char *path, unsigned k, uint8_t (*ret)[ECAP_AUTH_SECRET_MAX],
			size_t *ret_len)
{
	FILE *f = fopen(path, "r");
	char line[2 * ECAP_AUTH_SECRET_MAX + 8];
	unsigned i = 0;
	int r = 0;

	if (!f) {
		r = -errno;
		fprintf(stderr, "devsim: %s: %s\n", path, strerror(errno));
		return r;
	}
	while (i < k && fgets(line, sizeof(line), f)) {
		int n = ecap_hex_decode(line, ret[i], ECAP_AUTH_SECRET_MAX);

		if (n < ECAP_AUTH_SECRET_MIN) {
			fprintf(stderr, "devsim: %s:%u: want %d..%d bytes in hex\n", path, i + 1,
				ECAP_AUTH_SECRET_MIN, ECAP_AUTH_SECRET_MAX);
			r = -EINVAL;
			goto out;
		}
		ret_len[i++] = (size_t)n;
	}
	if (i < k) {
		fprintf(stderr, "devsim: %s: %u secrets for %u devices\n", path, i, k);
		r = -EINVAL;
	}
out:
	fclose(f);
	return r;
}

static int stopping;

static void on_signal(h2o_socket_t *sock, const char *e)
{
	struct signalfd_siginfo si;

	while (read(h2o_socket_get_fd(sock), &si, sizeof(si)) == sizeof(si))
		;
	stopping = 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"devices", required_argument, NULL, 'k'},
	    {"port", required_argument, NULL, 'p'},
	    {"packets", required_argument, NULL, 'n'},
	    {"len", required_argument, NULL, 'l'},
	    {"same", no_argument, NULL, 's'},
	    {"secret-file", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static uint8_t secrets[DEVICES_MAX][ECAP_AUTH_SECRET_MAX];
	static size_t secret_len[DEVICES_MAX];
	unsigned long long k = 1, port = 8080, packets = 0, len = 1514;
	struct devsim *dev[DEVICES_MAX] = {0};
	const char *secret_file = NULL;
	h2o_loop_t *loop = h2o_evloop_create();
	int c, same = 0, st = 1, busy;
	char err[256], spec[64];
	sigset_t mask;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (number(optarg, DEVICES_MAX, &k) || !k)
				goto bad;
			break;
		case 'p':
			if (number(optarg, 65535, &port) || !port)
				goto bad;
			break;
		case 'n':
			if (number(optarg, UINT64_MAX, &packets))
				goto bad;
			break;
		case 'l':
			if (number(optarg, DEVSIM_LEN_MAX, &len) || len < DEVSIM_LEN_MIN)
				goto bad;
			break;
		case 's':
			same = 1;
			break;
		case 'S':
			secret_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind < argc || port + k - 1 > 65535)
		goto usage;
	if (secret_file && read_secrets(secret_file, (unsigned)k, secrets, secret_len))
		return 2;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < k; i++) {
		snprintf(spec, sizeof(spec), "127.0.0.1:%llu", port + i);
		if (devsim_new(loop, spec,
			       &(struct devsim_opts){.packets = packets,
						     .len = (uint32_t)len,
						     .seed = same ? 1 : i + 1,
						     .secret = secret_file ? secrets[i] : NULL,
						     .secret_len = secret_len[i]},
			       &dev[i], err, sizeof(err))) {
			fprintf(stderr, "devsim: device %u: %s\n", i, err);
			goto out;
		}
	}
	web_watch(loop, signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC), on_signal, NULL);
	fprintf(stderr,
		"devsim: serving %llu device(s) on 127.0.0.1:%llu..%llu, %llu-byte frames\n", k,
		port, port + k - 1, len);
	while (!stopping)
		h2o_evloop_run(loop, INT32_MAX);
	for (unsigned i = 0; i < k; i++)
		devsim_stop(dev[i]);
	for (uint64_t until = h2o_now(loop) + STOP_GRACE_MS; h2o_now(loop) < until;) {
		busy = 0;
		for (unsigned i = 0; i < k; i++)
			busy |= !devsim_idle(dev[i]);
		if (!busy)
			break;
		h2o_evloop_run(loop, 100);
	}
	for (unsigned i = 0; i < k; i++) {
		struct devsim_stats s;

		devsim_stats(dev[i], &s);
		fprintf(
		    stderr,
		    "devsim: device %u: %llu captures, %llu refused, %llu packets, %llu bytes\n", i,
		    (unsigned long long)s.captures, (unsigned long long)s.refused,
		    (unsigned long long)s.packets, (unsigned long long)s.bytes);
	}
	st = 0;
out:
	/* the process ends here: a device still busy after the grace period
	 * is left to the exit, as h2o cannot drop its connections */
	for (unsigned i = 0; i < k; i++)
		if (dev[i] && devsim_idle(dev[i]))
			devsim_free(dev[i]);
	return st;
bad:
	fprintf(stderr, "devsim: bad value '%s'\n", optarg);
usage:
	usage(stderr);
	return 2;
}
