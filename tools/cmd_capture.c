/* cmd_capture.c - `edgecap capture`: tcpdump-like local capture through the
 * kernel hooks: XDP on ingress (TC where native XDP is refused), TC on
 * egress, ring buffer, io_uring streamer, pcapng or pcap output. */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include "capture.h"
#include "cmd.h"
#include "linkwatch.h"
#include "textout.h"
#include "capture/engine.h"
#include "filter/filter.h"
#include "filter/compile.h"
#include "capture/sessions.h"
#include "capture/streamer.h"
#include "capture/vlan.h"

#define MAX_IFACES ECAP_MAX_SESSION_IFACES

static void usage(FILE *f)
{
	fprintf(f, "%s",
		"usage: edgecap capture [-i IF[,IF...]] [-p] [-Q in|out|inout] [-s SNAPLEN]\n"
		"                       [-c COUNT] [-G SECONDS] [-w FILE|-] [-n] [-t...] [-l]\n"
		"                       [--pcap] [--ring-size BYTES] [--ingress auto|xdp|tc]\n"
		"                       [EXPR]\n"
		"\n"
		"  -i IF,...    interfaces to capture on (default: the first that is up,\n"
		"               running and not loopback, as tcpdump's)\n"
		"  -p           leave promiscuous mode off (it is on while capturing, as\n"
		"               tcpdump's, and off again however the capture ends)\n"
		"  -Q DIR       direction: in, out or inout (default)\n"
		"  -s SNAPLEN   bytes kept of each packet (default and maximum 262144)\n"
		"  -c COUNT     stop after COUNT packets\n"
		"  -G SECONDS   stop after SECONDS\n"
		"  -w FILE      write pcapng to FILE ('-': standard output); without -w,\n"
		"               tcpdump's lines (as -nn: names are not looked up)\n"
		"  -t, -tt, -ttt, -tttt, -ttttt\n"
		"               the lines' time as tcpdump's (default HH:MM:SS.ffffff)\n"
		"  -n, -l       accepted: names are never looked up, lines go out at once\n"
		"  --pcap       classic pcap (nanosecond) instead of pcapng\n"
		"  --ring-size  kernel ring buffer bytes, a power of two (default 8 MiB; 32 MiB\n"
		"               when SNAPLEN is above 256)\n"
		"  --ingress    ingress hook: xdp, tc, or auto (default: tc on veth, else xdp,\n"
		"               falling back to tc where the driver has no XDP)\n");
}

/* tcpdump's default interface: the first (by index) that is up and
 * running and not loopback; NULL when there is none. */
static const char *default_iface(char *ret, size_t len)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	const char *found = NULL;

	for (i = ifs; fd >= 0 && i && i->if_index && !found; i++) {
		struct ifreq r = {0};

		snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", i->if_name);
		if (!ioctl(fd, SIOCGIFFLAGS, &r) && (r.ifr_flags & IFF_UP) &&
		    (r.ifr_flags & IFF_RUNNING) && !(r.ifr_flags & IFF_LOOPBACK)) {
			snprintf(ret, len, "%s", i->if_name);
			found = ret;
		}
	}
	if (fd >= 0)
		close(fd);
	if (ifs)
		if_freenameindex(ifs);
	return found;
}

/* Promiscuous mode while the descriptor is open: a membership of a packet
 * socket that receives nothing (protocol 0), which the kernel counts and
 * takes back when the socket closes, even when the process is killed. */
static int promiscuous(int ifindex)
{
	struct packet_mreq mr = {.mr_ifindex = ifindex, .mr_type = PACKET_MR_PROMISC};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0), e;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("edgecap: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

static int parse_u(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || !*s || *end || *ret > max ? -EINVAL : 0;
}

/* The one session reached its limit: take it off the hooks. */
static void session_end(void *ctx, uint8_t session)
{
	char err[ECAP_ERRLEN];

	ecap_engine_set_sessions(ctx, NULL, 0, err, sizeof(err));
}

int cmd_capture(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"pcap", no_argument, NULL, 'P'},
	    {"no-promiscuous-mode", no_argument, NULL, 'p'},
	    {"ring-size", required_argument, NULL, 'R'},
	    {"ingress", required_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct ecap_stream_iface ifaces[MAX_IFACES];
	struct ecap_engine_opts eo = {0};
	struct ecap_stream_opts so = {
	    .snaplen = ECAP_SNAPLEN_DEFAULT, .dirs = ECAP_DIR_IN | ECAP_DIR_OUT, .out_fd = -1};
	struct ecap_stream_stats stats;
	struct ecap_streamer *streamer = NULL;
	int stop_fd = -1;
	struct ecap_engine *e = NULL;
	struct ecap_session sess = {0};
	struct ecap_cbpf prog = {0};
	const char *out = NULL, *ifarg = NULL;
	char err[ECAP_ERRLEN], *expr = NULL;
	unsigned long long v;
	unsigned ingress = 0; /* ECAP_ATTACH_XDP or _TC_IN; 0: auto */
	unsigned nif = 0;
	int promisc = 1, promisc_fd[MAX_IFACES];
	char deflt[IF_NAMESIZE];
	unsigned tflags = 0; /* -t, -tt, ... */
	struct textout *text = NULL;
	struct linkwatch *watch = NULL;
	sigset_t mask;
	int c, r, st = 2;

	for (unsigned i = 0; i < MAX_IFACES; i++)
		promisc_fd[i] = -1;
	/* options may follow the expression, as tcpdump's (GNU getopt moves
	 * the expression's words to the end) */
	optind = 1;
	while ((c = getopt_long(argc, argv, "i:plntQ:s:c:G:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': /* names are never looked up: -n and -nn are what it does */
		case 'l': /* lines go out as they come */
			break;
		case 't':
			tflags++;
			break;
		case 'p':
			promisc = 0;
			break;
		case 'i':
			ifarg = optarg;
			break;
		case 'Q':
			if (!strcmp(optarg, "in"))
				so.dirs = ECAP_DIR_IN;
			else if (!strcmp(optarg, "out"))
				so.dirs = ECAP_DIR_OUT;
			else if (!strcmp(optarg, "inout"))
				so.dirs = ECAP_DIR_IN | ECAP_DIR_OUT;
			else
				return fail("invalid direction '%s' (in, out, inout)", optarg);
			break;
		case 's':
			if (parse_u(optarg, ECAP_SNAPLEN_MAX, &v))
				return fail("invalid snaplen '%s' (0..262144)", optarg);
			so.snaplen = v ? (uint32_t)v : ECAP_SNAPLEN_DEFAULT;
			break;
		case 'c':
			if (parse_u(optarg, UINT64_MAX, &v) || !v)
				return fail("invalid packet count '%s'", optarg);
			so.count = v;
			break;
		case 'G':
			if (parse_u(optarg, UINT32_MAX, &v) || !v)
				return fail("invalid duration '%s'", optarg);
			so.duration_s = (uint32_t)v;
			break;
		case 'w':
			out = optarg;
			break;
		case 'P':
			so.pcap = 1;
			break;
		case 'R':
			if (parse_u(optarg, 1u << 30, &v) || v < 4096 || (v & (v - 1)))
				return fail("invalid ring size '%s' (a power of two, 4096..1 GiB)",
					    optarg);
			eo.ring_bytes = (uint32_t)v;
			break;
		case 'I':
			if (!strcmp(optarg, "xdp"))
				ingress = ECAP_ATTACH_XDP;
			else if (!strcmp(optarg, "tc"))
				ingress = ECAP_ATTACH_TC_IN;
			else if (strcmp(optarg, "auto"))
				return fail("invalid ingress hook '%s' (auto, xdp, tc)", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!ifarg) {
		ifarg = default_iface(deflt, sizeof(deflt));
		if (!ifarg)
			return fail("%s", "no interface is up (name one with -i)");
	}
	/* Records of whole frames are ten times the size of 128-byte ones: the
	 * ring gets four times the bytes, so that it still rides out the times
	 * the streamer does not run (its vCPU descheduled or waking: up to
	 * 7.5 ms under the bench's full-size flood, 3 GB/s of records, which
	 * 8 MiB holds for 2.7 ms and 32 MiB for 10) */
	if (!eo.ring_bytes)
		eo.ring_bytes = so.snaplen > 256 ? 32u << 20 : 8u << 20;
	for (char *list = strdupa(ifarg), *tok, *save = NULL; (tok = strtok_r(list, ",", &save));
	     list = NULL) {
		if (nif == MAX_IFACES)
			return fail("more than %s interfaces", "16");
		ifaces[nif].ifindex = (int)if_nametoindex(tok);
		if (!ifaces[nif].ifindex)
			return fail("unknown interface '%s'", tok);
		for (unsigned i = 0; i < nif; i++)
			if (ifaces[i].ifindex == ifaces[nif].ifindex)
				return fail("interface '%s' given twice", tok);
		snprintf(ifaces[nif].name, sizeof(ifaces[nif].name), "%s", tok);
		nif++;
	}
	if (geteuid() != 0)
		return fail("%s", "capture needs root (CAP_BPF and CAP_NET_ADMIN)");
	expr = optind < argc ? join_args(argc - optind, argv + optind) : NULL;
	if (ecap_filter_compile(expr ? expr : "", ECAP_LINKTYPE_EN10MB, so.snaplen, &prog, err,
				sizeof(err)) ||
	    ecap_cbpf_validate(prog.insns, prog.len, err, sizeof(err))) {
		fail("%s", err);
		goto out;
	}
	if (out) {
		so.out_fd = open_output(out);
		if (so.out_fd < 0)
			goto out;
	} else { /* tcpdump's lines */
		static const enum srv_text_time times[] = {
		    SRV_TEXT_TIME_CLOCK, SRV_TEXT_TIME_NONE, SRV_TEXT_TIME_EPOCH,
		    SRV_TEXT_TIME_DELTA, SRV_TEXT_TIME_DATE, SRV_TEXT_TIME_SINCE_FIRST};

		text = textout_start(times[tflags < 5 ? tflags : 5], &so.out_fd, err, sizeof(err));
		if (!text) {
			fail("%s", err);
			goto out;
		}
	}

	ecap_engine_quiet_libraries();
	/* SIGINT/SIGTERM arrive through a signalfd the streamer polls */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	stop_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	/* a reader that goes (`| head`, `| tcpdump -r -` stopped) ends the
	 * capture as a signal does, with the counts, not the process */
	signal(SIGPIPE, SIG_IGN);

	if (ecap_engine_probe(err, sizeof(err))) {
		fail("kernel lacks %s", err);
		goto out;
	}
	if (ecap_engine_open(&eo, &e, err, sizeof(err))) {
		fail("%s", err);
		goto out;
	}
	for (unsigned i = 0; i < nif; i++) {
		unsigned which = so.dirs & ECAP_DIR_OUT ? ECAP_ATTACH_TC_OUT : 0;
		int hook;

		if (ecap_engine_attach(e, ifaces[i].ifindex, which, err, sizeof(err))) {
			fail("%s", err);
			goto out;
		}
		if (!(so.dirs & ECAP_DIR_IN))
			continue;
		hook = ecap_engine_attach_ingress(e, ifaces[i].ifindex, ingress, err, sizeof(err));
		if (hook < 0) {
			fail("%s", err);
			goto out;
		}
		if (hook == ECAP_ATTACH_XDP && ecap_vlan_hidden_from_xdp(ifaces[i].ifindex) > 0)
			fail("warning: %s: %s; --ingress tc keeps it", ifaces[i].name,
			     ECAP_VLAN_XDP_WARNING);
	}
	for (unsigned i = 0; i < nif && promisc; i++) {
		promisc_fd[i] = promiscuous(ifaces[i].ifindex);
		if (promisc_fd[i] < 0) {
			fail("promiscuous mode on %s: %s", ifaces[i].name,
			     strerror(-promisc_fd[i]));
			goto out;
		}
	}
	sess = (struct ecap_session){.id = 0,
				     .insns = prog.insns,
				     .len = prog.len,
				     .snaplen = so.snaplen,
				     .dirs = so.dirs,
				     .nifindex = nif};
	for (unsigned i = 0; i < nif; i++) /* in the streamer's order: counters per position */
		sess.ifindex[i] = ifaces[i].ifindex;
	if (ecap_engine_set_sessions(e, &sess, 1, err, sizeof(err))) {
		fail("%s", err);
		goto out;
	}
	so.ifaces = ifaces;
	so.filter = expr;
	so.userappl = "edgecap " EDGECAP_VERSION;
	so.nifaces = nif;
	if (ecap_streamer_new(e, stop_fd, session_end, e, &streamer, err, sizeof(err)) ||
	    ecap_streamer_add(streamer, &so, err, sizeof(err))) {
		fail("%s", err);
		goto out;
	}
	{
		const char *names[MAX_IFACES];
		int idx[MAX_IFACES];

		for (unsigned i = 0; i < nif; i++) {
			names[i] = ifaces[i].name;
			idx[i] = ifaces[i].ifindex;
		}
		watch = linkwatch_start(idx, names, nif, err, sizeof(err));
		if (!watch) {
			fail("%s", err);
			goto out;
		}
	}
	fprintf(stderr,
		"edgecap: listening on %s, link-type EN10MB (Ethernet), snapshot length %u bytes\n",
		ifarg, so.snaplen);
	r = ecap_streamer_run(streamer, err, sizeof(err));
	if ((r && r != -EPIPE) || ecap_streamer_stats(streamer, so.session, &stats)) {
		fail("%s", err);
		goto out;
	}
	if (text) { /* the last lines, before the counts */
		close(so.out_fd);
		so.out_fd = -1;
		r = textout_finish(text, err, sizeof(err));
		text = NULL;
		if (r) {
			fail("%s", err);
			goto out;
		}
	}
	/* an interface that went: tcpdump's words, and a failure */
	st = linkwatch_why(watch) ? 1 : 0;
	if (st)
		fprintf(stderr, "edgecap: %s\n", linkwatch_why(watch));
	fprintf(stderr,
		"%llu packets captured\n%llu packets matched by filter\n"
		"%llu packets dropped\n",
		(unsigned long long)stats.written, (unsigned long long)stats.matched,
		(unsigned long long)stats.dropped);
out:
	linkwatch_stop(watch);
	if (text) {
		close(so.out_fd);
		so.out_fd = -1;
		textout_finish(text, err, sizeof(err));
	}
	for (unsigned i = 0; i < MAX_IFACES; i++)
		if (promisc_fd[i] >= 0)
			close(promisc_fd[i]);
	ecap_streamer_free(streamer);
	ecap_engine_close(e);
	if (so.out_fd > STDOUT_FILENO)
		close(so.out_fd);
	if (stop_fd >= 0)
		close(stop_fd);
	ecap_cbpf_free(&prog);
	free(expr);
	return st;
}

/* `edgecap hooks [IF...]`: edgecap's hooks attached to these interfaces (all
 * of this network namespace's by default), whichever run attached them. A
 * line each: interface, hook, how it is attached, program id. */
int cmd_hooks(int argc, char **argv)
{
	static const char *const hook[ECAP_HOOKS] = {"ingress", "ingress", "egress"};
	struct if_nameindex *all = NULL;
	int n = argc - 1;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf(
		    "usage: edgecap hooks [IF...]\n\n"
		    "edgecap's kernel hooks on these interfaces (default: all), whichever run\n"
		    "attached them: interface, hook, how (xdp-link, xdp through netlink, tcx or\n"
		    "clsact), program id.\n");
		return 0;
	}
	for (int i = 1; i < argc; i++)
		if (!if_nametoindex(argv[i]))
			return fail("unknown interface '%s'", argv[i]);
	if (geteuid() != 0)
		return fail("%s", "hooks needs root (CAP_BPF and CAP_NET_ADMIN)");
	if (!n) {
		all = if_nameindex();
		if (!all)
			return fail("listing interfaces: %s", strerror(errno));
		while (all[n].if_index)
			n++;
	}
	ecap_engine_quiet_libraries();
	for (int i = 0; i < n; i++) {
		const char *name = all ? all[i].if_name : argv[i + 1];
		struct ecap_hook_state s[ECAP_HOOKS];

		ecap_engine_hooks_on(all ? (int)all[i].if_index : (int)if_nametoindex(name), s);
		for (int h = 0; h < ECAP_HOOKS; h++)
			if (s[h].prog_id)
				printf("%s %s %s prog %u\n", name, hook[h], s[h].via, s[h].prog_id);
	}
	if (all)
		if_freenameindex(all);
	return 0;
}
