/* cmd_merge.c - `edgecap merge`: captures from several devices (pcapng or
 * pcap files) into one pcapng, in timestamp order, with packets seen by more
 * than one device kept once: the server's merger, offline. One interface
 * block per input interface, named FILE:IFACE. With --text, the merged
 * packets as the server's text output prints them (tcpdump -nn -tt lines
 * by tcpdump's own printers, each prefixed with its input). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "core/mux.h"
#include "print/textprint.h"

#define CHUNK	 (256u << 10)
#define WRITE_AT (1u << 20)

struct in {
	const char *path;
	int fd;
	int done;
	const uint8_t *map; /* a regular file, mapped: read in place */
	size_t size, pos;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: edgecap merge [-w FILE|-] [--text] [--no-dedup] [--dedup-window MS] FILE...\n"
	    "\n"
	    "  -w FILE          write to FILE ('-': standard output, as when omitted and\n"
	    "                   not a terminal)\n"
	    "  --text           tcpdump -nn -tt lines instead of pcapng, each prefixed\n"
	    "                   with the input it came from\n"
	    "  --no-dedup       keep packets that several inputs saw\n"
	    "  --dedup-window   how far apart two inputs' copies of a packet may be\n"
	    "                   (default 100 ms)\n");
}

/* Write what the merger produced: at `at` bytes, or all; through
 * tcpdump's printers when tx is given. */
static int out_write(int fd, struct ecap_buf *b, size_t at, int all, struct srv_tp *tx)
{
	int r;

	if (b->err)
		return b->err;
	if (b->len < (all ? 1 : at) && !(tx && all))
		return 0;
	if (tx) {
		r = srv_tp_write(tx, b->data, b->len, all, fd);
		ecap_buf_reset(b);
		return r;
	}
	r = ecap_write_all(fd, b->data, b->len);
	ecap_buf_reset(b);
	return r;
}

/* One chunk of an input into the mux: 1 while it has more. A mapped file
 * is read in place, a chunk's worth of whole blocks at a time (more when one
 * block is larger); anything else through a buffer. */
static int read_chunk(struct srv_mux *x, unsigned i, struct in *in, uint8_t *chunk, char *err,
		      size_t errlen)
{
	ssize_t n;

	if (in->map) {
		size_t len = CHUNK;
		long k = 0;

		while (in->pos < in->size && k == 0) {
			if (len > in->size - in->pos)
				len = in->size - in->pos;
			k = srv_mux_take(x, i, in->map + in->pos, len);
			if (k < 0 || (k == 0 && in->pos + len == in->size))
				break;
			len *= 2;
		}
		if (k < 0)
			goto bad;
		in->pos += (size_t)k;
		n = in->pos < in->size && k > 0;
		if (!n && srv_mux_close(x, i, NULL))
			goto bad;
		in->done = !n;
		return (int)n;
	}
	n = read(in->fd, chunk, CHUNK);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", in->path, strerror(errno));
		return -errno;
	}
	if ((n == 0 && srv_mux_close(x, i, NULL)) ||
	    (n > 0 && srv_mux_feed(x, i, chunk, (size_t)n)))
		goto bad;
	in->done = n == 0;
	return n > 0;
bad:
	snprintf(err, errlen, "%s: %s", in->path, srv_mux_error(x, i));
	return -EINVAL;
}

/* Map a regular, non-empty file; anything else is read through a buffer. */
/* The text of one file, as the server gives a finished capture's: the
 * printer reads the file itself, its packets named after it. 0, -EXDEV
 * when it holds several link types (nothing written yet), or -errno with
 * err set. */
static int text_of_file(struct in *in, uint8_t *chunk, int out, char *err, size_t errlen)
{
	int pfd = open(in->path, O_RDONLY | O_CLOEXEC), r = 0;
	struct srv_tp *tp = pfd < 0 ? NULL : srv_tp_new(0, pfd, err, errlen);

	if (pfd >= 0)
		close(pfd);
	if (!tp) {
		if (pfd < 0)
			snprintf(err, errlen, "%s: %s", in->path, strerror(errno));
		return -EINVAL;
	}
	srv_tp_name(tp, in->path);
	/* read, not the mapping: a fault a few pages costs more than a copy */
	for (size_t pos = 0; !r && pos < in->size; pos += CHUNK) {
		size_t len = in->size - pos < CHUNK ? in->size - pos : CHUNK;
		ssize_t n = pread(in->fd, chunk, len, (off_t)pos);

		if (n != (ssize_t)len) {
			snprintf(err, errlen, "%s: %s", in->path,
				 n < 0 ? strerror(errno) : "the file shrank");
			srv_tp_free(tp);
			return -EIO;
		}
		r = srv_tp_write(tp, chunk, len, pos + len == in->size, out);
	}
	if (r && r != -EXDEV)
		snprintf(err, errlen, "%s", srv_tp_error(tp));
	if (r == -EXDEV && srv_tp_lines(tp)) { /* it printed: too late to start over */
		snprintf(err, errlen, "%s: several link types", in->path);
		r = -EINVAL;
	}
	srv_tp_free(tp);
	return r;
}

static void map_input(struct in *in)
{
	struct stat st;
	void *p;

	/* a pipe (cat FILE | edgecap merge /dev/stdin): 1 MiB, not 64 KiB, so
	 * that a chunk is one read and the writer runs on meanwhile; best
	 * effort (a user's pipes are limited by pipe-max-size) */
	if (!fstat(in->fd, &st) && S_ISFIFO(st.st_mode))
		fcntl(in->fd, F_SETPIPE_SZ, 1 << 20);
	if (fstat(in->fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0)
		return;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, in->fd, 0);
	if (p == MAP_FAILED)
		return;
	madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
	in->map = p;
	in->size = (size_t)st.st_size;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"no-dedup", no_argument, NULL, 'D'},
	    {"text", no_argument, NULL, 'T'},
	    {"dedup-window", required_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct srv_merge_opts mo = {0};
	struct srv_merge_stats st;
	struct srv_mux *x = NULL;
	struct srv_tp *tx = NULL;
	struct in *ins = NULL;
	uint8_t *chunk = NULL;
	const char *path = NULL;
	char err[512] = "";
	int c, n, live, text = 0, fd = -1, r = 2, fed = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			path = optarg;
			break;
		case 'D':
			mo.dedup_ns = -1;
			break;
		case 'T':
			text = 1;
			break;
		case 'W': {
			char *end;
			long ms = strtol(optarg, &end, 10);

			if (*end || ms <= 0 || ms > 60000) {
				fprintf(stderr,
					"edgecap: invalid dedup window '%s' (1..60000 ms)\n",
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
	fd = text && !path ? STDOUT_FILENO : open_output(path);
	if (fd < 0)
		goto done;
	x = srv_mux_new(&mo, "edgecap merge");
	tx = text ? srv_tp_new(0, -1, err, sizeof(err)) : NULL;
	if (!ins || !chunk || !x || (text && !tx)) {
		if (!err[0])
			snprintf(err, sizeof(err), "out of memory");
		goto done;
	}
	for (int i = 0; i < n; i++) {
		ins[i].path = argv[optind + i];
		ins[i].fd = open(ins[i].path, O_RDONLY | O_CLOEXEC);
		if (ins[i].fd < 0) {
			snprintf(err, sizeof(err), "%s: %s", ins[i].path, strerror(errno));
			goto done;
		}
		map_input(&ins[i]);
		if (srv_mux_add(x, ins[i].path) < 0) {
			snprintf(err, sizeof(err), "out of memory");
			goto done;
		}
	}
	if (text && n == 1 && ins[0].map) { /* one file: as the server reads a finished one */
		c = text_of_file(&ins[0], chunk, fd, err, sizeof(err));
		if (c != -EXDEV) {
			r = c ? 2 : 0;
			goto done;
		}
		err[0] = 0; /* several link types: as a stream, below */
	}
	/* a chunk from each input in turn, as streams would arrive */
	do {
		live = 0;
		for (int i = 0; i < n; i++) {
			int k;

			if (ins[i].done)
				continue;
			k = read_chunk(x, (unsigned)i, &ins[i], chunk, err, sizeof(err));
			if (k < 0)
				goto done;
			live |= k;
		}
		srv_mux_run(x, INT64_MIN);
		/* the first bytes at once: the printers start (an exec and
		 * tcpdump's libraries, milliseconds) while the merger goes on */
		c = out_write(fd, srv_mux_out(x), tx && !fed ? 1 : WRITE_AT, 0, tx);
		fed |= srv_mux_out(x)->len == 0;
	} while (live && !c);
	if (!c) {
		srv_mux_finish(x);
		c = out_write(fd, srv_mux_out(x), WRITE_AT, 1, tx);
	}
	if (c && tx && srv_tp_error(tx)[0]) {
		snprintf(err, sizeof(err), "%s", srv_tp_error(tx));
		goto done;
	} else if (c) {
		snprintf(err, sizeof(err), "%s: %s", path ? path : "stdout", strerror(-c));
		goto done;
	}
	srv_mux_stats(x, &st);
	fprintf(stderr, "%llu packets merged from %d inputs, %llu duplicates removed, %llu late\n",
		(unsigned long long)st.merged, n, (unsigned long long)st.duplicates,
		(unsigned long long)st.late);
	r = 0;
done:
	srv_mux_free(x);
	srv_tp_free(tx);
	if (err[0])
		fprintf(stderr, "edgecap: %s\n", err);
	for (int i = 0; ins && i < n; i++) {
		if (ins[i].map)
			munmap((void *)ins[i].map, ins[i].size);
		if (ins[i].fd > 0)
			close(ins[i].fd);
	}
	if (fd > STDOUT_FILENO)
		close(fd);
	free(chunk);
	free(ins);
	return r;
}
