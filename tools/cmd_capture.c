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
#include <pthread.h>
#include <sys/ioctl.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include "capture.h"
#include "cmd.h"
#include "links.h"
#include "linkwatch.h"
#include "rotate.h"
#include "textout.h"
#include "print/printer.h"
#include "capture/engine.h"
#include "capture/linktype.h"
#include "filter/filter.h"
#include "filter/compile.h"
#include "capture/sessions.h"
#include "capture/streamer.h"
#include "capture/vlan.h"

#define MAX_IFACES   ECAP_MAX_SESSION_IFACES
#define OPT_DURATION 256 /* --duration: no short option */

static void usage(FILE *f)
{
	fprintf(f, "%s",
		"usage: edgecap capture [-i IF[,IF...]] [-p] [-Q in|out|inout] [-s SNAPLEN]\n"
		"                       [-y TYPE] [-c COUNT] [--duration SECONDS]\n"
		"                       [-w FILE|-] [-G SECONDS] [-C MB] [-W FILES] [-z CMD]\n"
		"                       [-U] [--immediate-mode] [-B KIB] [-nevxXAqlSKN#] [-t...]\n"
		"                       [--time-stamp-precision micro|nano] [--pcap]\n"
		"                       [--ring-size BYTES] [--ingress auto|xdp|tc] [EXPR]\n"
		"\n"
		"  -i IF,...    interfaces to capture on, or the number -D gives one (default:\n"
		"               the first that is up, running and not loopback, as\n"
		"               tcpdump's); -i any: every interface, those that come later\n"
		"               too, as tcpdump's (LINUX_SLL2)\n"
		"  -D           list the interfaces as tcpdump -D, with their link types\n"
		"  -L           list the link types of the -i interfaces, as tcpdump -L\n"
		"  -y TYPE      the link type (EN10MB, RAW, LINUX_SLL; LINUX_SLL2 for any): the\n"
		"               one the interface has, as tcpdump gives it; the default\n"
		"  -p           leave promiscuous mode off (it is on while capturing, as\n"
		"               tcpdump's, and off again however the capture ends)\n"
		"  -Q DIR       direction: in, out or inout (default)\n"
		"  -s SNAPLEN   bytes kept of each packet (default and maximum 262144)\n"
		"  -c COUNT     stop after COUNT packets\n"
		"  --duration SECONDS\n"
		"               stop after SECONDS\n"
		"  -w FILE      write pcapng to FILE ('-': standard output); without -w,\n"
		"               the packets are printed by tcpdump's own printers\n"
		"  -n -e -v -x -X -A -q -l -S -K -N -# -t...  --time-stamp-precision\n"
		"  --number --micro --nano\n"
		"               printing options, as tcpdump's (each may be repeated as\n"
		"               tcpdump's: -nn, -vvv, -xx, -XX, -tt ... -ttttt)\n"
		"  -G SECONDS   as tcpdump's: a new file every SECONDS (at the first packet\n"
		"               after them), FILE being a strftime(3) pattern\n"
		"  -C MB        as tcpdump's: a new file once the current one holds more\n"
		"               than MB million bytes: FILE, FILE1, FILE2 ...\n"
		"  -W FILES     with -C: a ring of FILES files, numbered from 0 with\n"
		"               leading zeros; with -G alone: stop after FILES files\n"
		"  -z CMD       run CMD FILE (no shell, lowest priority) on each file\n"
		"               once -G or -C closes it\n"
		"  -U, --immediate-mode\n"
		"               each packet written as it arrives (the kernel wakes the\n"
		"               writer for each one; default: every 50 ms, or as a\n"
		"               quarter of the ring fills)\n"
		"  -B KIB       kernel ring buffer in KiB (tcpdump's buffer size), rounded\n"
		"               up to a power of two\n"
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

/* -i any: every interface of the network namespace, those that come later
 * too, on TC ingress and egress, with one cooked (LINUX_SLL2) session. The
 * link watcher's thread adds interfaces as they appear; the lock keeps it
 * and the streamer's end of the session apart. A link that appears while
 * the capture ends may still get the session installed after the streamer
 * emptied the slots: its records are never read, and the counts are taken
 * before. An interface whose cooked header is not made here (GRE, ip6tnl:
 * the fallback devices their modules put in every namespace) is left out
 * while it is down, when it has no packets; one that is up refuses the
 * capture, or ends it when it comes up later (why), as any failure to add
 * an interface does: its packets would be missing. */
struct any {
	pthread_mutex_t lock;
	struct ecap_engine *e;
	struct ecap_session sess;
	struct ecap_cooked_if ifs[ECAP_COOKED_IFACES];
	unsigned n;
	int ended;
	char why[ECAP_ERRLEN];
};

/* Is the interface up? Yes when it cannot be told. */
static int iface_up(const char *name)
{
	struct ifreq r = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), up = 1;

	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", name);
	if (fd >= 0 && !ioctl(fd, SIOCGIFFLAGS, &r))
		up = !!(r.ifr_flags & IFF_UP);
	if (fd >= 0)
		close(fd);
	return up;
}

/* Attach the hooks to the interfaces not captured yet, then give the
 * program their cooked headers (until then the hooks skip their packets).
 * Under a->lock. 0, or -errno with err set. */
static int any_sync(struct any *a, char *err, size_t errlen)
{
	struct if_nameindex *all = if_nameindex();
	unsigned added = 0, which = (a->sess.dirs & ECAP_DIR_IN ? ECAP_ATTACH_TC_IN : 0) |
				    (a->sess.dirs & ECAP_DIR_OUT ? ECAP_ATTACH_TC_OUT : 0);
	int r = 0;

	if (!all) {
		snprintf(err, errlen, "-i any: listing interfaces: %s", strerror(errno));
		return -EIO;
	}
	for (struct if_nameindex *i = all; i->if_index && !r; i++) {
		unsigned k = 0;

		while (k < a->n && a->ifs[k].ifindex != (int)i->if_index)
			k++;
		if (k < a->n)
			continue;
		if (a->n == ECAP_COOKED_IFACES) {
			snprintf(err, errlen, "-i any: %s not captured: more than %d interfaces",
				 i->if_name, ECAP_COOKED_IFACES);
			r = -E2BIG;
			break;
		}
		r = ecap_iface_cooked(i->if_name, (int)i->if_index, &a->ifs[a->n], err, errlen);
		if (r == -ENODEV || (r == -EPROTONOSUPPORT && !iface_up(i->if_name))) {
			r = 0; /* gone meanwhile; or down, for now */
			continue;
		}
		if (!r)
			r = ecap_engine_attach(a->e, (int)i->if_index, which, err, errlen);
		if (!r) {
			a->n++;
			added++;
		}
	}
	if_freenameindex(all);
	if (added) {
		char why[ECAP_ERRLEN];
		int q;

		a->sess.cooked = a->ifs;
		a->sess.ncooked = a->n;
		q = ecap_engine_set_sessions(a->e, &a->sess, 1, r ? why : err,
					     r ? sizeof(why) : errlen);
		if (!r)
			r = q;
	}
	return r;
}

/* A link appeared or changed (the watcher's thread). */
static void any_new_link(void *ctx)
{
	struct any *a = ctx;
	char err[ECAP_ERRLEN];

	pthread_mutex_lock(&a->lock);
	if (!a->ended && !a->why[0] && any_sync(a, err, sizeof(err))) {
		snprintf(a->why, sizeof(a->why), "%s", err);
		kill(getpid(), SIGTERM); /* the capture's stop, as linkwatch's */
	}
	pthread_mutex_unlock(&a->lock);
}

static void any_session_end(void *ctx, uint8_t session)
{
	struct any *a = ctx;

	pthread_mutex_lock(&a->lock);
	a->ended = 1;
	session_end(a->e, session);
	pthread_mutex_unlock(&a->lock);
}

int cmd_capture(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"pcap", no_argument, NULL, 'P'},
	    {"no-promiscuous-mode", no_argument, NULL, 'p'},
	    {"ring-size", required_argument, NULL, 'R'},
	    {"ingress", required_argument, NULL, 'I'},
	    {"list-interfaces", no_argument, NULL, 'D'},
	    {"list-data-link-types", no_argument, NULL, 'L'},
	    {"linktype", required_argument, NULL, 'y'},
	    {"duration", required_argument, NULL, OPT_DURATION},
	    {"immediate-mode", no_argument, NULL, 'U'},
	    {"buffer-size", required_argument, NULL, 'B'},
	    {"help", no_argument, NULL, 'h'},
	    {"time-stamp-precision", required_argument, NULL, 'T'},
	    {"number", no_argument, NULL, '#'},
	    {"micro", no_argument, NULL, 'u'},
	    {"nano", no_argument, NULL, 'o'},
	    {0},
	};
	struct ecap_stream_iface ifaces[MAX_IFACES];
	struct ecap_linktype lt = {0}, lt_i;
	struct ecap_cooked_if cooked[MAX_IFACES]; /* LINUX_SLL interfaces */
	const char *ytype = NULL;
	int list_types = 0;
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
	const char *print[SRV_PRINTER_ARGS_MAX + 1] = {0}; /* tcpdump's printing options */
	unsigned nprint = 0;
	struct textout *text = NULL;
	struct linkwatch *watch = NULL;
	struct rotate rot = {.fd = -1};
	struct any any = {.lock = PTHREAD_MUTEX_INITIALIZER};
	int is_any;
	sigset_t mask;
	int c, r, st = 2;

	for (unsigned i = 0; i < MAX_IFACES; i++)
		promisc_fd[i] = -1;
	/* options may follow the expression, as tcpdump's (GNU getopt moves
	 * the expression's words to the end) */
	optind = 1;
	while ((c = getopt_long(argc, argv, "i:pQ:s:c:G:C:W:z:B:Uw:hnevxXAqlSKN#tDLy:", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'n':
		case 'e':
		case 'v':
		case 'x':
		case 'X':
		case 'A':
		case 'q':
		case 'l':
		case 'S':
		case 'K':
		case 'N':
		case '#':
		case 't':
		case 'u':
		case 'o':
		case 'T': /* for the printer, which checks them as tcpdump does */
			if (nprint + 2 > SRV_PRINTER_ARGS_MAX)
				return fail("more than %d printing options", SRV_PRINTER_ARGS_MAX);
			if (c == 'u' || c == 'o') {
				print[nprint++] = c == 'u' ? "--micro" : "--nano";
			} else if (c == 'T') {
				if (strcmp(optarg, "micro") && strcmp(optarg, "nano"))
					return fail("invalid time stamp precision '%s' (micro, "
						    "nano)",
						    optarg);
				print[nprint++] = "--time-stamp-precision";
				print[nprint++] = optarg;
			} else {
				static const char flags[] = "nevxXAqlSKN#t";
				static const char *const as[] = {"-n", "-e", "-v", "-x", "-X",
								 "-A", "-q", "-l", "-S", "-K",
								 "-N", "-#", "-t"};

				print[nprint++] = as[strchr(flags, c) - flags];
			}
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
		case OPT_DURATION:
			if (parse_u(optarg, UINT32_MAX, &v) || !v)
				return fail("invalid duration '%s'", optarg);
			so.duration_s = (uint32_t)v;
			break;
		case 'G':
			if (parse_u(optarg, INT32_MAX, &v) || !v)
				return fail("invalid number of seconds '%s'", optarg);
			rot.g_seconds = (unsigned)v;
			break;
		case 'C': /* millions of bytes, as tcpdump's */
			if (parse_u(optarg, UINT64_MAX / 1000000, &v) || !v)
				return fail("invalid file size '%s'", optarg);
			rot.c_bytes = v * 1000000;
			break;
		case 'W':
			if (parse_u(optarg, INT32_MAX, &v) || !v)
				return fail("invalid number of output files '%s'", optarg);
			rot.w_files = (unsigned)v;
			break;
		case 'z':
			rot.z_cmd = optarg;
			break;
		case 'U':
			eo.immediate = 1;
			break;
		case 'B': /* KiB, as tcpdump's; the ring is a power of two */
			if (parse_u(optarg, 1u << 20, &v) || !v)
				return fail("invalid buffer size '%s' (1..1048576 KiB)", optarg);
			eo.ring_bytes = 4096;
			while (eo.ring_bytes < v * 1024)
				eo.ring_bytes <<= 1;
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
		case 'D':
			return links_list();
		case 'L':
			list_types = 1;
			break;
		case 'y':
			ytype = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((rot.g_seconds || rot.c_bytes || rot.w_files || rot.z_cmd) && !out)
		return fail("%s", "-G, -C, -W and -z write files: give -w FILE");
	if (!ifarg) {
		ifarg = default_iface(deflt, sizeof(deflt));
		if (!ifarg)
			return fail("%s", "no interface is up (name one with -i)");
	}
	/* -i N: the Nth of -D's list, unless an interface is called N */
	if (ifarg[strspn(ifarg, "0123456789")] == 0 && !if_nametoindex(ifarg)) {
		if (links_by_number(strtoul(ifarg, NULL, 10), deflt, sizeof(deflt)))
			return 2;
		ifarg = deflt;
	}
	if (list_types)
		return links_types(ifarg);
	is_any = !strcmp(ifarg, "any");
	/* Records of whole frames are ten times the size of 128-byte ones: the
	 * ring gets four times the bytes, so that it still rides out the times
	 * the streamer does not run (its vCPU descheduled or waking: up to
	 * 7.5 ms under the bench's full-size flood, 3 GB/s of records, which
	 * 8 MiB holds for 2.7 ms and 32 MiB for 10) */
	if (!eo.ring_bytes)
		eo.ring_bytes = so.snaplen > 256 ? 32u << 20 : 8u << 20;
	if (is_any) { /* one interface block, named as tcpdump's */
		lt = *ecap_linktype_of_dlt(ECAP_LINKTYPE_LINUX_SLL2);
		ifaces[0] = (struct ecap_stream_iface){.name = "any", .linktype = lt.file};
		nif = 1;
		if (ingress == ECAP_ATTACH_XDP)
			return fail("%s",
				    "--ingress xdp: -i any is captured on TC, where the packet "
				    "type and protocol of its cooked header are known");
		ingress = ECAP_ATTACH_TC_IN;
		promisc = 0; /* as libpcap's: no promiscuous mode on "any" */
	}
	for (char *list = strdupa(ifarg), *tok, *save = NULL;
	     !is_any && (tok = strtok_r(list, ",", &save)); list = NULL) {
		if (nif == MAX_IFACES)
			return fail("more than %s interfaces", "16");
		if (!strcmp(tok, "any"))
			return fail("%s", "-i any captures every interface: name no other with it");
		ifaces[nif].ifindex = (int)if_nametoindex(tok);
		if (!ifaces[nif].ifindex)
			return fail("unknown interface '%s'", tok);
		for (unsigned i = 0; i < nif; i++)
			if (ifaces[i].ifindex == ifaces[nif].ifindex)
				return fail("interface '%s' given twice", tok);
		snprintf(ifaces[nif].name, sizeof(ifaces[nif].name), "%s", tok);
		/* the link type tcpdump gives it; one expression is compiled
		 * for all the interfaces, so they must share it */
		if (ecap_iface_linktype(tok, &lt_i, err, sizeof(err)))
			return fail("%s", err);
		if (nif && lt_i.dlt != lt.dlt)
			return fail("%s is %s and %s %s: one capture has one link type (capture "
				    "them apart)",
				    ifaces[0].name, lt.name, tok, lt_i.name);
		lt = lt_i;
		ifaces[nif].linktype = lt.file;
		nif++;
	}
	if (ytype && ecap_linktype_from_name(ytype) != lt.dlt)
		return fail("-y %s: %s is captured as %s, the link type tcpdump gives it, and "
			    "as no other",
			    ytype, ifaces[0].name, lt.name);
	/* no link layer (tun, WireGuard, ipip, sit): TC sees the packets where
	 * tcpdump does; XDP on such devices is mostly generic (skb) XDP, which
	 * makes every packet linear first */
	if (lt.dlt == ECAP_LINKTYPE_RAW) {
		if (ingress == ECAP_ATTACH_XDP)
			return fail("--ingress xdp: %s has no link layer (%s); its ingress is "
				    "captured on TC",
				    ifaces[0].name, lt.name);
		ingress = ECAP_ATTACH_TC_IN;
	}
	/* cooked (PPP, GRE, ip6tnl, ip6gre): the header's packet type and
	 * protocol come from the skb, on TC */
	if (lt.dlt == ECAP_LINKTYPE_LINUX_SLL) {
		if (ingress == ECAP_ATTACH_XDP)
			return fail("--ingress xdp: %s is captured as %s, whose header's packet "
				    "type and protocol are known on TC",
				    ifaces[0].name, lt.name);
		ingress = ECAP_ATTACH_TC_IN;
		for (unsigned i = 0; i < nif; i++)
			if (ecap_iface_cooked(ifaces[i].name, ifaces[i].ifindex, &cooked[i], err,
					      sizeof(err)))
				return fail("%s", err);
	}
	/* as libpcap's: room for a cooked header and a byte */
	if ((is_any || lt.dlt == ECAP_LINKTYPE_LINUX_SLL) && so.snaplen < ECAP_SLL2_LEN + 1)
		so.snaplen = ECAP_SLL2_LEN + 1;
	if (geteuid() != 0)
		return fail("%s", "capture needs root (CAP_BPF and CAP_NET_ADMIN)");
	expr = optind < argc ? join_args(argc - optind, argv + optind) : NULL;
	if (ecap_filter_compile(expr ? expr : "", lt.dlt, so.snaplen, &prog, err, sizeof(err)) ||
	    ecap_cbpf_validate(prog.insns, prog.len, err, sizeof(err))) {
		fail("%s", err);
		goto out;
	}
	/* SIGINT/SIGTERM arrive through a signalfd the streamer polls; blocked
	 * before the text output starts its thread, which inherits the mask:
	 * a thread that left them unblocked would take them instead (ignored
	 * as a background job's, or ending the process without its counts) */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	stop_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (out && (rot.g_seconds || rot.c_bytes)) {
		rot.pattern = out;
		so.out_fd = rotate_open(&rot); /* rot's: closed as files rotate */
		if (so.out_fd < 0)
			goto out;
		so.rotate = rotate_due;
		so.next_file = rotate_next;
		so.rotate_ctx = &rot;
	} else if (out) {
		so.out_fd = open_output(out);
		if (so.out_fd < 0)
			goto out;
	} else { /* tcpdump's lines; from classic pcap, which libpcap reads
		  * whatever the link type (not a second RAW interface block) */
		so.pcap = 1;
		text = textout_start(print, is_any, &so.out_fd, err, sizeof(err));
		if (!text) {
			fail("%s", err);
			goto out;
		}
	}

	ecap_engine_quiet_libraries();
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
	for (unsigned i = 0; i < nif && !is_any; i++) {
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
		if ((so.dirs & ECAP_DIR_IN) && err[0]) /* XDP is another capture's */
			fprintf(stderr, "edgecap: %s\n", err);
		if (hook == ECAP_ATTACH_XDP && ecap_engine_xdp_vlan_blind(e, ifaces[i].ifindex))
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
	for (unsigned i = 0; i < nif && !is_any; i++) /* in the streamer's order: counters per
						       * position */
		sess.ifindex[i] = ifaces[i].ifindex;
	if (lt.dlt == ECAP_LINKTYPE_LINUX_SLL) {
		sess.cooked = cooked;
		sess.ncooked = nif;
		sess.cooked_v1 = 1;
	}
	if (is_any) {
		any.e = e;
		any.sess = sess;
		any.sess.nifindex = 0;
		pthread_mutex_lock(&any.lock);
		r = any_sync(&any, err, sizeof(err));
		pthread_mutex_unlock(&any.lock);
		if (r) {
			fail("%s", err);
			goto out;
		}
	} else if (ecap_engine_set_sessions(e, &sess, 1, err, sizeof(err))) {
		fail("%s", err);
		goto out;
	}
	so.ifaces = ifaces;
	so.filter = expr;
	so.userappl = "edgecap " EDGECAP_VERSION;
	so.nifaces = nif;
	if (ecap_streamer_new(e, stop_fd, is_any ? any_session_end : session_end,
			      is_any ? (void *)&any : e, &streamer, err, sizeof(err)) ||
	    ecap_streamer_add(streamer, &so, err, sizeof(err))) {
		fail("%s", err);
		goto out;
	}
	if (is_any) {
		watch = linkwatch_start_any(any_new_link, &any, err, sizeof(err));
		if (!watch) {
			fail("%s", err);
			goto out;
		}
		any_new_link(&any); /* those that came before the watcher */
	} else {
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
	if (is_any) /* tcpdump's line before it: libpcap picks SLL2 of two */
		fprintf(stderr, "edgecap: data link type %s\n", lt.name);
	fprintf(stderr, "edgecap: listening on %s, link-type %s (%s), snapshot length %u bytes\n",
		ifarg, lt.name, lt.desc, so.snaplen);
	r = ecap_streamer_run(streamer, err, sizeof(err));
	pthread_mutex_lock(&any.lock); /* no more interfaces added */
	any.ended = 1;
	pthread_mutex_unlock(&any.lock);
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
	if (rot.pattern)
		rotate_close(&rot);
	/* an interface that went: tcpdump's words, and a failure; for any,
	 * one that could not be added */
	st = linkwatch_why(watch) || any.why[0] ? 1 : 0;
	if (st)
		fprintf(stderr, "edgecap: %s\n", any.why[0] ? any.why : linkwatch_why(watch));
	fprintf(stderr,
		"%llu packets captured\n%llu packets matched by filter\n"
		"%llu packets dropped\n",
		(unsigned long long)stats.written, (unsigned long long)stats.matched,
		(unsigned long long)stats.dropped);
out:
	pthread_mutex_lock(&any.lock);
	any.ended = 1;
	pthread_mutex_unlock(&any.lock);
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
	if (rot.pattern)
		rotate_close(&rot);
	else if (so.out_fd > STDOUT_FILENO)
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
		printf("usage: edgecap hooks [IF...]\n\n"
		       "edgecap's kernel hooks on these interfaces (default: all), whichever run\n"
		       "attached them (several captures may share an interface: a line each):\n"
		       "interface, hook, how (xdp-link, xdp through netlink, tcx or clsact),\n"
		       "program id.\n");
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
		struct ecap_hook_entry s[1 + 2 * 2 * ECAP_MAX_OWNERS];
		int k =
		    ecap_engine_hooks_list(all ? (int)all[i].if_index : (int)if_nametoindex(name),
					   s, sizeof(s) / sizeof(s[0]));

		for (int h = 0; h < k; h++)
			printf("%s %s %s prog %u\n", name, hook[s[h].hook], s[h].via, s[h].prog_id);
	}
	if (all)
		if_freenameindex(all);
	return 0;
}
