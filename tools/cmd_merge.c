/* cmd_merge.c - `edgecap merge`: captures from several devices (pcapng or
 * pcap files) into one pcapng, in timestamp order, with packets seen by more
 * than one device kept once: the server's merger, offline. One interface
 * block per input interface, named FILE:IFACE. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "merge.h"
#include "pcapng.h"
#include "pcapng_reader.h"

#define CHUNK     (256u << 10)
#define WRITE_AT  (1u << 20)

struct out {
	int fd;
	struct ecap_buf buf;
	uint32_t next_id; /* interface ids given out */
	int err;
};

struct in {
	struct out *out;
	struct srv_merge *m;
	unsigned input;
	const char *label;
	struct srv_pcapng_reader r;
	uint32_t map[SRV_IFACES_MAX]; /* the section's interface -> output id */
	uint16_t linktype[SRV_IFACES_MAX];
	int fd;
	int done;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: edgecap merge [-w FILE|-] [--no-dedup] [--dedup-window MS] FILE...\n"
		   "\n"
		   "  -w FILE          write to FILE ('-': standard output, as when omitted and\n"
		   "                   not a terminal)\n"
		   "  --no-dedup       keep packets that several inputs saw\n"
		   "  --dedup-window   how far apart two inputs' copies of a packet may be\n"
		   "                   (default 100 ms)\n");
}

static void out_write(struct out *o, int all)
{
	size_t off = 0;

	if (o->buf.len < (all ? 1 : WRITE_AT) || o->err)
		return;
	while (off < o->buf.len) {
		ssize_t n = write(o->fd, o->buf.data + off, o->buf.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			o->err = errno ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	ecap_buf_reset(&o->buf);
}

static void emit(void *ctx, const struct srv_merge_pkt *p)
{
	struct out *o = ctx;

	if (p->late)
		ecap_pcapng_epb_comment(&o->buf, p->iface, (uint64_t)p->ts, p->data, p->caplen,
					p->wirelen, p->flags, "late: older than a packet before it");
	else
		ecap_pcapng_epb(&o->buf, p->iface, (uint64_t)p->ts, p->data, p->caplen, p->wirelen,
				p->flags);
	out_write(o, 0);
}

static int on_block(void *ctx, enum srv_pcapng_event ev, const void *arg)
{
	struct in *in = ctx;

	switch (ev) {
	case SRV_PCAPNG_SECTION:
		return 0;
	case SRV_PCAPNG_IFACE: {
		const struct srv_pcapng_iface *f = arg;
		char name[256];

		snprintf(name, sizeof(name), "%s%s%s", in->label, f->name[0] ? ":" : "", f->name);
		in->map[f->id] = in->out->next_id++;
		in->linktype[f->id] = f->linktype;
		return ecap_pcapng_idb(&in->out->buf, f->linktype, f->snaplen, name, 9);
	}
	case SRV_PCAPNG_PACKET: {
		const struct srv_pcapng_packet *k = arg;

		return srv_merge_push(in->m, in->input, k->ts, in->map[k->if_id],
				      in->linktype[k->if_id], k->flags, k->data, k->caplen,
				      k->wirelen);
	}
	case SRV_PCAPNG_STATS: {
		const struct srv_pcapng_stats *s = arg;

		return ecap_pcapng_isb(&in->out->buf, in->map[s->if_id], (uint64_t)s->ts,
				       &(struct ecap_isb_counts){.ifrecv = s->ifrecv,
								 .ifdrop = s->ifdrop,
								 .filteraccept = s->filteraccept,
								 .osdrop = s->osdrop,
								 .usrdeliv = s->usrdeliv},
				       NULL);
	}
	}
	return 0;
}

/* One chunk of an input: 1 while it has more. */
static int read_chunk(struct in *in, uint8_t *chunk, char *err, size_t errlen)
{
	ssize_t n = read(in->fd, chunk, CHUNK);

	if (n < 0) {
		snprintf(err, errlen, "%s: %s", in->label, strerror(errno));
		return -errno;
	}
	if (n == 0) {
		in->done = 1;
		srv_merge_close_input(in->m, in->input);
		if (srv_pcapng_end(&in->r)) {
			snprintf(err, errlen, "%s: %s", in->label, in->r.err);
			return -EINVAL;
		}
		return 0;
	}
	if (srv_pcapng_feed(&in->r, chunk, (size_t)n)) {
		snprintf(err, errlen, "%s: %s", in->label, in->r.err);
		return -EINVAL;
	}
	return 1;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"no-dedup", no_argument, NULL, 'D'},
		{"dedup-window", required_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct srv_merge_opts mo = {0};
	struct out o = {.fd = -1};
	struct srv_merge_stats st;
	struct srv_merge *m = NULL;
	struct in *ins = NULL;
	uint8_t *chunk = NULL;
	const char *path = NULL;
	char err[512] = "";
	int c, n, live, r = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			path = optarg;
			break;
		case 'D':
			mo.dedup_ns = -1;
			break;
		case 'W': {
			char *end;
			long ms = strtol(optarg, &end, 10);

			if (*end || ms <= 0 || ms > 60000) {
				fprintf(stderr, "edgecap: invalid dedup window '%s' (1..60000 ms)\n",
					optarg);
				return 2;
			}
			mo.dedup_ns = ms * 1000000ll;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	n = argc - optind;
	if (n < 1) {
		usage(stderr);
		return 2;
	}
	ins = calloc((size_t)n, sizeof(*ins));
	chunk = malloc(CHUNK);
	o.fd = open_output(path);
	if (o.fd < 0)
		goto done;
	m = srv_merge_new(&mo, emit, &o);
	if (!ins || !chunk || !m) {
		snprintf(err, sizeof(err), "out of memory");
		goto done;
	}
	ecap_pcapng_shb(&o.buf, "edgecap merge");
	for (int i = 0; i < n; i++) {
		struct in *in = &ins[i];

		in->out = &o;
		in->m = m;
		in->label = argv[optind + i];
		in->fd = open(in->label, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0) {
			snprintf(err, sizeof(err), "%s: %s", in->label, strerror(errno));
			goto done;
		}
		in->input = (unsigned)srv_merge_add_input(m);
		srv_pcapng_init(&in->r, on_block, in);
	}
	/* a chunk from each input in turn, as streams would arrive */
	do {
		live = 0;
		for (int i = 0; i < n; i++) {
			int k;

			if (ins[i].done)
				continue;
			k = read_chunk(&ins[i], chunk, err, sizeof(err));
			if (k < 0)
				goto done;
			live |= k;
		}
		srv_merge_run(m, INT64_MIN);
	} while (live);
	srv_merge_flush(m);
	out_write(&o, 1);
	if (o.err || o.buf.err) {
		snprintf(err, sizeof(err), "%s: %s", path ? path : "stdout",
			 strerror(-(o.err ? o.err : o.buf.err)));
		goto done;
	}
	srv_merge_stats(m, &st);
	fprintf(stderr, "%llu packets merged from %d inputs, %llu duplicates removed, %llu late\n",
		(unsigned long long)st.merged, n, (unsigned long long)st.duplicates,
		(unsigned long long)st.late);
	r = 0;
done:
	srv_merge_free(m);
	if (err[0])
		fprintf(stderr, "edgecap: %s\n", err);
	for (int i = 0; ins && i < n; i++) {
		if (ins[i].fd > 0)
			close(ins[i].fd);
		srv_pcapng_free(&ins[i].r);
	}
	if (o.fd > STDOUT_FILENO)
		close(o.fd);
	ecap_buf_free(&o.buf);
	free(chunk);
	free(ins);
	return r;
}
