/* textprint.c - see textprint.h. */
#include "print/textprint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/pcapng_reader.h"
#include "print/printer.h"

#define TP_PRINTERS_MAX 8	    /* link types in one stream */
#define TP_NAMES_MAX	1024	    /* distinct device names in one stream */
#define TP_NAME_MAX	64	    /* a device's name (REG_NAME_MAX), an interface's */
#define TP_INPUT_MAX	(1u << 20)  /* bytes waiting for the printers */
#define TP_QUEUE_MAX	(1u << 20)  /* packets waiting for their lines */
#define TP_HUNGRY_Q	(16u << 10) /* feed while fewer wait */
#define TP_OUTPUT_MAX	(1u << 20)  /* a printer's output held */
#define TP_PIPE_BYTES	(1 << 20)
#define TP_STUCK_MS	10000
#define READ_BYTES	(256u << 10) /* a printer's output, a read */
#define TP_SNAPLEN	262144
#define LINUX_SLL2	276 /* LINKTYPE_ */
#define SLL2_HDR	20  /* bytes of its header */

struct printer {
	uint16_t linktype;
	pid_t pid;
	int in_fd, out_fd; /* -1 once closed */
	struct ecap_buf in;
	size_t in_off; /* written of in */
	struct ecap_buf out;
	size_t out_off; /* consumed of out */
	int out_eof;
	uint32_t fed;	    /* packets given (the next one's number) */
	uint32_t printed;   /* lines seen (the next line's number) */
	uint32_t ev;	    /* epoll interest */
	int64_t progress;   /* ms: when it last printed, or was first given work */
	int last_quiet;	    /* its last packet's lines are not shown */
	uint16_t last_name; /* its last packet's device */
	uint64_t last_n;    /* its last packet's number in the stream (rows) */
	/* the times (ns) of the packets it was given and has not printed yet:
	 * a packet's first line starts with its time (-tt), which is how its
	 * lines are told from the ones that go on the packet before */
	int64_t *ts;
	size_t ts_cap, ts_head, ts_len;
};

struct pkt {
	int64_t ts;
	uint16_t name;
	uint8_t printer;
	uint8_t dir;	  /* epb_flags' direction: 1 in, 2 out, 0 not said */
	uint16_t if_id;	  /* its interface (rows, named) */
	uint8_t named;	  /* its first line gets its interface's name (sll2_name) */
	uint32_t wirelen; /* (rows) */
};

struct srv_tp {
	int live, ended, failed;
	int file, have_linktype; /* file: one printer reads the capture's file */
	int ep;
	struct srv_pcapng_reader rd;
	struct printer pr[TP_PRINTERS_MAX];
	unsigned npr;
	/* per interface of the section: its printer and name */
	int8_t if_pr[SRV_IFACES_MAX];
	uint16_t if_name[SRV_IFACES_MAX];
	char (*names)[TP_NAME_MAX];
	unsigned nnames;
	struct pkt *q; /* a ring */
	size_t qcap, qhead, qlen;
	size_t input;		     /* bytes in every printer's in not yet written */
	uint64_t popped, quiet;	     /* packets whose lines are out; of them, not shown */
	int one_name;		     /* srv_tp_name: every packet's */
	char (*ifaces)[TP_NAME_MAX]; /* srv_tp_rows: each interface's name after "DEVICE:" */
	/* a LINUX_SLL2 interface's name, as tcpdump on its device prints it
	 * (sll2_name), or "" */
	char if_own[SRV_IFACES_MAX][IFNAMSIZ];
	struct ecap_buf line;  /* a line with its interface's name put in */
	struct ecap_buf lines; /* srv_tp_write's, kept: a buffer freed each call is
				  fresh pages to fault in each call */
	char err[200];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct srv_tp *t, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct srv_tp *t, int r, const char *fmt, ...)
{
	va_list ap;

	if (!t->failed) {
		va_start(ap, fmt);
		vsnprintf(t->err, sizeof(t->err), fmt, ap);
		va_end(ap);
		t->failed = r;
	}
	return t->failed;
}

static void set_interest(struct srv_tp *t, struct printer *p)
{
	int want_in = p->in_fd >= 0 && p->in.len > p->in_off;
	int want_out = p->out_fd >= 0 && !p->out_eof && p->out.len - p->out_off < TP_OUTPUT_MAX;
	struct epoll_event e;

	if (p->in_fd >= 0 && want_in != !!(p->ev & 1)) {
		e = (struct epoll_event){.events = want_in ? EPOLLOUT : 0,
					 .data.u32 = (uint32_t)(p - t->pr) * 2};
		epoll_ctl(t->ep, EPOLL_CTL_MOD, p->in_fd, &e);
		p->ev = (p->ev & ~1u) | (unsigned)want_in;
	}
	if (p->out_fd >= 0 && want_out != !!(p->ev & 2)) {
		e = (struct epoll_event){.events = want_out ? EPOLLIN : 0,
					 .data.u32 = (uint32_t)(p - t->pr) * 2 + 1};
		epoll_ctl(t->ep, EPOLL_CTL_MOD, p->out_fd, &e);
		p->ev = (p->ev & ~2u) | (want_out ? 2u : 0);
		if (want_out) /* we held it back: its time runs again from here */
			p->progress = now_ms();
	}
}

/* A printer for a link type: tcpdump -r - -nn -tt [-l], and the pcap
 * file's header on its way. */
static int start_printer(struct srv_tp *t, uint16_t linktype, int file_fd)
{
	static const char *const live_args[] = {"-nn", "-tt", "-l", NULL};
	static const char *const file_args[] = {"-nn", "-tt", NULL};
	struct printer *p = &t->pr[t->npr];
	int in[2] = {-1, -1}, out[2] = {-1, -1}, null = -1;
	char err[160];
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t zone;
		uint32_t sigfigs, snaplen, linktype;
	} hdr = {0xa1b2c3d4, 2, 4, 0, 0, TP_SNAPLEN, linktype};

	if (t->npr == TP_PRINTERS_MAX)
		return fail(t, -E2BIG, "more than %d link types in one capture", TP_PRINTERS_MAX);
	if ((file_fd < 0 && pipe2(in, O_CLOEXEC)) || pipe2(out, O_CLOEXEC) ||
	    (null = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		fail(t, -errno, "text: %s", strerror(errno));
		goto out;
	}
	if (file_fd < 0)
		fcntl(in[1], F_SETPIPE_SZ, TP_PIPE_BYTES); /* fewer turns; best effort */
	fcntl(out[0], F_SETPIPE_SZ, TP_PIPE_BYTES);
	*p = (struct printer){.linktype = linktype, .in_fd = in[1], .out_fd = out[0]};
	p->pid = srv_printer_spawn(t->live ? live_args : file_args,
				   SRV_PRINTER_NO_NET | SRV_PRINTER_CLEAR_ENV |
				       (t->live ? 0 : SRV_PRINTER_BLOCKS),
				   file_fd >= 0 ? file_fd : in[0], out[1], null, err, sizeof(err));
	if (p->pid < 0) {
		fail(t, -ENOEXEC, "%s", err);
		goto out;
	}
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	struct epoll_event e = {.events = 0, .data.u32 = t->npr * 2 + 1};
	epoll_ctl(t->ep, EPOLL_CTL_ADD, p->out_fd, &e);
	if (p->in_fd >= 0) { /* a stream: the pcap file's header first */
		fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
		e.data.u32 = t->npr * 2;
		epoll_ctl(t->ep, EPOLL_CTL_ADD, p->in_fd, &e);
		ecap_buf_put(&p->in, &hdr, sizeof(hdr));
		t->input += sizeof(hdr);
	}
	in[1] = out[0] = -1; /* the printer's now */
	t->npr++;
	set_interest(t, p);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (null >= 0)
		close(null);
	return t->failed;
}

static int name_of(struct srv_tp *t, const char *ifname)
{
	size_t n = strcspn(ifname, ":");

	for (unsigned i = 0; i < t->nnames; i++)
		if (!strncmp(t->names[i], ifname, n) && !t->names[i][n])
			return (int)i;
	if (t->nnames == TP_NAMES_MAX)
		return fail(t, -E2BIG, "more than %d devices in one capture", TP_NAMES_MAX);
	snprintf(t->names[t->nnames], TP_NAME_MAX, "%.*s", (int)n, ifname);
	return (int)t->nnames++;
}

/* A full ring of len elements of size bytes from *head, twice as large,
 * its elements in order from 0: 0, or -ENOMEM (past TP_QUEUE_MAX too).
 * Capacities are powers of two: an index wraps with a mask, not a
 * division (four a packet). */
static int ring_grow(void **v, size_t size, size_t *cap, size_t *head, size_t len)
{
	size_t c = *cap ? *cap * 2 : 4096, first = len < *cap - *head ? len : *cap - *head;
	char *n;

	if (c > TP_QUEUE_MAX || !(n = malloc(c * size)))
		return -ENOMEM;
	if (len) {
		memcpy(n, (char *)*v + *head * size, first * size);
		memcpy(n + first * size, *v, (len - first) * size);
	}
	free(*v);
	*v = n;
	*cap = c;
	*head = 0;
	return 0;
}

/* The interface an interface block named DEVICE:IFACE by the merger
 * stands for (edgecap merge's FILE:DEVICE:IFACE too: Linux allows no ':'
 * in an interface's name), into own: tcpdump on the device names it so.
 * "" where there is none: a name without a device, the CLI's "any" (every
 * interface in one block), or one Linux would not give an interface (no
 * spaces, shorter than IFNAMSIZ). */
static void own_name(char own[IFNAMSIZ], const char *name)
{
	const char *colon = strrchr(name, ':'), *c;

	own[0] = 0;
	if (!colon || !colon[1] || strlen(colon + 1) >= IFNAMSIZ || !strcmp(colon + 1, "any"))
		return;
	for (c = colon + 1; *c; c++)
		if (*c <= ' ' || *c > '~' || *c == '/')
			return;
	strcpy(own, colon + 1);
}

static int on_block(void *ctx, enum srv_pcapng_event ev, const void *arg)
{
	struct srv_tp *t = ctx;

	if (ev == SRV_PCAPNG_IFACE) {
		const struct srv_pcapng_iface *f = arg;
		unsigned i;
		int n;

		if (t->file) { /* one printer reads the file itself */
			/* libpcap 1.10 reads no second interface block of another
			 * link type, nor of RAW (101: it compares it with the first
			 * one's DLT, 12) */
			if (!t->have_linktype) {
				t->pr[0].linktype = f->linktype;
				t->have_linktype = 1;
			} else if (t->pr[0].linktype != f->linktype || f->linktype == 101) {
				return fail(t, -EXDEV, "several link types: read it as a stream");
			}
			i = 0;
		} else {
			for (i = 0; i < t->npr && t->pr[i].linktype != f->linktype; i++)
				;
			if (i == t->npr && start_printer(t, f->linktype, -1))
				return t->failed;
		}
		if (t->one_name)
			n = 0;
		else if ((n = name_of(t, f->name)) < 0)
			return n;
		t->if_pr[f->id] = (int8_t)i;
		t->if_name[f->id] = (uint16_t)n;
		if (t->ifaces) {
			const char *colon = strchr(f->name, ':');

			snprintf(t->ifaces[f->id], TP_NAME_MAX, "%.*s", TP_NAME_MAX - 1,
				 colon ? colon + 1 : f->name);
		}
		own_name(t->if_own[f->id], f->linktype == LINUX_SLL2 ? f->name : "");
	} else if (ev == SRV_PCAPNG_PACKET) {
		const struct srv_pcapng_packet *k = arg;
		struct printer *p = &t->pr[t->if_pr[k->if_id]];
		struct {
			uint32_t sec, usec, caplen, wirelen;
		} rec = {(uint32_t)(k->ts / 1000000000), (uint32_t)(k->ts % 1000000000 / 1000),
			 k->caplen, k->wirelen};

		if ((t->qlen == t->qcap &&
		     ring_grow((void **)&t->q, sizeof(*t->q), &t->qcap, &t->qhead, t->qlen)) ||
		    (p->ts_len == p->ts_cap && ring_grow((void **)&p->ts, sizeof(*p->ts),
							 &p->ts_cap, &p->ts_head, p->ts_len)))
			return fail(t, -ENOMEM, "text: too many packets waiting");
		t->q[(t->qhead + t->qlen++) & (t->qcap - 1)] =
		    (struct pkt){.ts = k->ts,
				 .name = t->if_name[k->if_id],
				 .printer = (uint8_t)t->if_pr[k->if_id],
				 .dir = (uint8_t)(k->flags & 3),
				 .if_id = (uint16_t)k->if_id,
				 .named = t->if_own[k->if_id][0] && k->caplen >= SLL2_HDR,
				 .wirelen = k->wirelen};
		if (p->fed == p->printed)
			p->progress = now_ms(); /* work again: the stuck clock starts */
		p->ts[(p->ts_head + p->ts_len++) & (p->ts_cap - 1)] = k->ts;
		p->fed++;
		if (t->file)
			return 0; /* it reads the packet itself */
		ecap_buf_put(&p->in, &rec, sizeof(rec));
		ecap_buf_put(&p->in, k->data, k->caplen);
		t->input += sizeof(rec) + k->caplen;
		if (p->in.err)
			return fail(t, -ENOMEM, "text: out of memory");
	}
	return 0;
}

struct srv_tp *srv_tp_new(int live, int file_fd, char *err, size_t errlen)
{
	struct srv_tp *t = calloc(1, sizeof(*t));

	if (!t || !(t->names = calloc(TP_NAMES_MAX, sizeof(*t->names))) ||
	    (t->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		snprintf(err, errlen, "text: %s",
			 t ? strerror(errno ? errno : ENOMEM) : "out of memory");
		if (t)
			free(t->names);
		free(t);
		return NULL;
	}
	t->live = live;
	srv_pcapng_init(&t->rd, on_block, t);
	if (file_fd >= 0) {
		t->file = 1;
		if (start_printer(t, 0, file_fd)) {
			snprintf(err, errlen, "%s", t->err);
			srv_tp_free(t);
			return NULL;
		}
	}
	return t;
}

void srv_tp_free(struct srv_tp *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->npr; i++) {
		struct printer *p = &t->pr[i];

		if (p->in_fd >= 0)
			close(p->in_fd);
		if (p->out_fd >= 0)
			close(p->out_fd);
		if (p->pid > 0) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
		}
		ecap_buf_free(&p->in);
		ecap_buf_free(&p->out);
		free(p->ts);
	}
	srv_pcapng_free(&t->rd);
	ecap_buf_free(&t->lines);
	ecap_buf_free(&t->line);
	close(t->ep);
	free(t->names);
	free(t->ifaces);
	free(t->q);
	free(t);
}

int srv_tp_feed(struct srv_tp *t, const void *data, size_t len)
{
	int r;

	if (t->failed)
		return t->failed;
	r = srv_pcapng_feed(&t->rd, data, len);
	if (r && !t->failed)
		fail(t, r, "%s", t->rd.err);
	for (unsigned i = 0; i < t->npr; i++)
		set_interest(t, &t->pr[i]);
	return t->failed;
}

int srv_tp_hungry(const struct srv_tp *t)
{
	return !t->failed && !t->ended && t->input < TP_INPUT_MAX && t->qlen < TP_HUNGRY_Q;
}

void srv_tp_end(struct srv_tp *t)
{
	if (!t->ended && !t->failed && srv_pcapng_end(&t->rd))
		fail(t, -EINVAL, "%s", t->rd.err);
	t->ended = 1;
}

/* Write what waits; at the end, end of file. */
static int write_in(struct srv_tp *t, struct printer *p)
{
	while (p->in_fd >= 0 && p->in_off < p->in.len) {
		ssize_t n = write(p->in_fd, p->in.data + p->in_off, p->in.len - p->in_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) { /* EPIPE: it went; its output says the rest */
			close(p->in_fd);
			p->in_fd = -1;
			break;
		}
		p->in_off += (size_t)n;
		t->input -= (size_t)n;
		p->progress = now_ms(); /* it reads */
	}
	if (p->in_off == p->in.len) {
		p->in.len = p->in_off = 0;
		if (t->ended && p->in_fd >= 0) {
			close(p->in_fd);
			p->in_fd = -1;
		}
	} else if (p->in_off >= p->in.len - p->in_off) {
		/* the rest to the front (less than was written: a copy of at
		 * most once each byte): else a printer that never catches up
		 * grows its buffer with every packet of the capture, all of it
		 * fresh pages to fault in */
		memmove(p->in.data, p->in.data + p->in_off, p->in.len - p->in_off);
		p->in.len -= p->in_off;
		p->in_off = 0;
	}
	return 0;
}

static void read_out(struct printer *p)
{
	if (p->out_off && p->out_off == p->out.len)
		p->out.len = p->out_off = 0;
	else if (p->out_off > TP_OUTPUT_MAX / 2) {
		memmove(p->out.data, p->out.data + p->out_off, p->out.len - p->out_off);
		p->out.len -= p->out_off;
		p->out_off = 0;
	}
	while (p->out_fd >= 0 && !p->out_eof && p->out.len - p->out_off < TP_OUTPUT_MAX) {
		uint8_t *d = ecap_buf_grow(&p->out, READ_BYTES);
		ssize_t n;

		if (!d)
			return;
		p->out.len -= READ_BYTES;
		n = read(p->out_fd, d, READ_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			p->out_eof = 1;
			close(p->out_fd);
			p->out_fd = -1;
			break;
		}
		p->out.len += (size_t)n;
		p->progress = now_ms(); /* it prints */
	}
}

/* A packet's first line starts with its time as -tt prints it, "%u.%06u ".
 * Does s? Its microseconds since the epoch into *us. */
static int stamped(const char *s, size_t len, int64_t *us)
{
	int64_t sec = 0, frac = 0;
	size_t i = 0, d;

	for (; i < len && i < 12 && s[i] >= '0' && s[i] <= '9'; i++)
		sec = sec * 10 + (s[i] - '0');
	if (!i || i + 8 > len || s[i] != '.')
		return 0;
	for (d = ++i; i < d + 6; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		frac = frac * 10 + (s[i] - '0');
	}
	if (s[i] != ' ')
		return 0;
	*us = sec * 1000000 + frac;
	return 1;
}

/* Is a line stamped us the first of the packet of time ts (ns)? libpcap
 * turns a file's times to microseconds its own way; a microsecond either
 * way is the same packet. */
static int starts(int64_t us, int64_t ts)
{
	int64_t d = us - ts / 1000;

	return d >= -1 && d <= 1;
}

/* tcpdump names a LINUX_SLL2 record's interface by the index in its
 * header, as the machine that reads it knows that index: the printers
 * know none (no sockets), and print "?"; another machine prints its own
 * interface of that number. The interface's block names it as the
 * device, and a live tcpdump -i any there, does: the first line of such
 * a record is "TIME NAME DIR ...", NAME printed "%-5s ", and the block's
 * name goes in its place, printed the same way. *s and *len become the
 * line with it (in t->line), or stay when the line is not of that shape
 * (a record tcpdump could not print). */
static void sll2_name(struct srv_tp *t, const char *iface, const char **s, size_t *len)
{
	const char *l = *s, *sp = memchr(l, ' ', *len), *end = l + *len;
	const char *word = sp ? sp + 1 : end, *after = word;
	char field[IFNAMSIZ + 8];
	size_t n;
	int w;

	while (after < end && *after != ' ')
		after++;
	n = (size_t)(after - word);
	if (!n || after == end)
		return;
	for (; n < 5; n++, after++)
		if (after == end || *after != ' ')
			return;
	if (after == end || *after++ != ' ')
		return;
	w = snprintf(field, sizeof(field), "%-5s ", iface);
	ecap_buf_reset(&t->line);
	ecap_buf_put(&t->line, l, (size_t)(word - l));
	ecap_buf_put(&t->line, field, (size_t)w);
	ecap_buf_put(&t->line, after, (size_t)(end - after));
	ecap_buf_put(&t->line, "\n", 1);
	if (t->line.err)
		return;
	*s = (const char *)t->line.data;
	*len = t->line.len - 1;
}

/* A line's start: its packet's device and a space. */
static void put_name(struct srv_tp *t, struct ecap_buf *out, uint16_t name)
{
	ecap_buf_put(out, t->names[name], strlen(t->names[name]));
	ecap_buf_put(out, " ", 1);
}

/* s[0..len) as a JSON string: quotes, backslashes and control bytes
 * escaped, and bytes past ASCII as \u00XX (tcpdump escapes what it does
 * not print, so this is rare), so that the text is valid UTF-8 and never
 * markup for whoever shows it. */
static void put_json_str(struct ecap_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	ecap_buf_put(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

		if (c == '"' || c == '\\') {
			e[1] = (char)c;
			ecap_buf_put(out, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			ecap_buf_put(out, e, 6);
		} else {
			ecap_buf_put(out, s + i, 1);
		}
	}
	ecap_buf_put(out, "\"", 1);
}

/* A packet's first line as a Server-Sent Event (srv_tp_rows). */
static void put_packet_event(struct srv_tp *t, struct ecap_buf *out, const struct pkt *k,
			     uint64_t n, const char *line, size_t len)
{
	static const char *const dirs[] = {NULL, "in", "out", NULL};
	time_t sec = (time_t)(k->ts / 1000000000);
	char head[256];
	struct tm tm;
	int w;

	gmtime_r(&sec, &tm);
	w = snprintf(
	    head, sizeof(head),
	    "event: packet\nid: %llu\ndata: {\"n\":%llu,\"time\":\"%04d-%02d-%02dT%02d:%02d:"
	    "%02d.%06dZ\",\"len\":%u,\"dir\":%s%s%s,\"device\":",
	    (unsigned long long)n, (unsigned long long)n, tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(k->ts % 1000000000 / 1000),
	    k->wirelen, dirs[k->dir] ? "\"" : "", dirs[k->dir] ? dirs[k->dir] : "null",
	    dirs[k->dir] ? "\"" : "");
	ecap_buf_put(out, head, (size_t)w);
	put_json_str(out, t->names[k->name], strlen(t->names[k->name]));
	ecap_buf_put(out, ",\"iface\":", 9);
	put_json_str(out, t->ifaces[k->if_id], strlen(t->ifaces[k->if_id]));
	ecap_buf_put(out, ",\"line\":", 8);
	put_json_str(out, line, len);
	ecap_buf_put(out, "}\n\n", 3);
}

/* A line that goes on packet n (0: before the first) as an event. */
static void put_more_event(struct ecap_buf *out, uint64_t n, const char *line, size_t len)
{
	char head[64];
	int w = snprintf(head, sizeof(head),
			 "event: more\ndata: {\"n\":%llu,\"line\":", (unsigned long long)n);

	ecap_buf_put(out, head, (size_t)w);
	put_json_str(out, line, len);
	ecap_buf_put(out, "}\n\n", 3);
}

/* How a printer ended, for the error. */
static const char *ended_how(struct printer *p, char *buf, size_t len)
{
	int st = 0;

	pid_t r = 0;

	/* its output closed: it is ending, most likely; a moment for it */
	for (int i = 0; p->pid > 0 && i < 100 && !(r = waitpid(p->pid, &st, WNOHANG)); i++)
		usleep(1000);
	if (p->pid > 0 && r == p->pid) {
		p->pid = 0;
		if (WIFSIGNALED(st))
			snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
		else
			snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	} else {
		snprintf(buf, len, "its output ended");
	}
	return buf;
}

int srv_tp_pump(struct srv_tp *t, struct ecap_buf *out, size_t max)
{
	char how[64];

	if (t->failed)
		return t->failed;
	for (unsigned i = 0; i < t->npr; i++) {
		write_in(t, &t->pr[i]);
		read_out(&t->pr[i]);
	}
	while (out->len < max) {
		struct printer *p;
		const char *s, *nl;
		size_t len;
		int64_t us;

		/* every printer's lines that go on its packet before */
		for (unsigned i = 0; i < t->npr; i++) {
			p = &t->pr[i];
			while (p->printed &&
			       (s = (const char *)p->out.data + p->out_off,
				len = p->out.len - p->out_off, nl = memchr(s, '\n', len))) {
				/* a line that looks like a packet's first: its next
				 * packet's, or not yet known while there is none (a
				 * printer reading a file may be ahead of us) */
				if (stamped(s, (size_t)(nl - s), &us) &&
				    (p->ts_len ? starts(us, p->ts[p->ts_head]) : !t->ended))
					break;
				if (!p->last_quiet && t->ifaces) {
					put_more_event(out, p->last_n, s, (size_t)(nl - s));
				} else if (!p->last_quiet) {
					put_name(t, out, p->last_name);
					ecap_buf_put(out, s, (size_t)(nl - s) + 1);
				}
				p->out_off += (size_t)(nl - s) + 1;
			}
		}
		if (!t->qlen)
			break;
		struct pkt *k = &t->q[t->qhead];

		p = &t->pr[k->printer];
		s = (const char *)p->out.data + p->out_off;
		len = p->out.len - p->out_off;
		if (!(nl = memchr(s, '\n', len))) {
			if (p->out_eof)
				return fail(t, -EPIPE,
					    "tcpdump ended (%s) before it printed packet %" PRIu32
					    " of link type %u",
					    ended_how(p, how, sizeof(how)), p->printed + 1,
					    p->linktype);
			break;
		}
		if (!stamped(s, (size_t)(nl - s), &us) || !starts(us, k->ts)) {
			/* lines before its first packet's: never seen, but kept */
			if (t->ifaces)
				put_more_event(out, 0, s, (size_t)(nl - s));
			else
				ecap_buf_put(out, s, (size_t)(nl - s) + 1);
			p->out_off += (size_t)(nl - s) + 1;
			continue;
		}
		p->last_quiet = t->popped++ < t->quiet;
		p->last_name = k->name;
		p->last_n = t->popped;
		p->out_off += (size_t)(nl - s) + 1;
		len = (size_t)(nl - s);
		if (!p->last_quiet && k->named)
			sll2_name(t, t->if_own[k->if_id], &s, &len);
		if (!p->last_quiet && t->ifaces) {
			put_packet_event(t, out, k, t->popped, s, len);
		} else if (!p->last_quiet) {
			put_name(t, out, k->name);
			ecap_buf_put(out, s, len + 1);
		}
		p->printed++;
		p->ts_head = (p->ts_head + 1) & (p->ts_cap - 1);
		p->ts_len--;
		t->qhead = (t->qhead + 1) & (t->qcap - 1);
		t->qlen--;
	}
	if (out->err)
		return fail(t, -ENOMEM, "text: out of memory");
	for (unsigned i = 0; i < t->npr; i++) {
		read_out(&t->pr[i]); /* room again: more may wait */
		set_interest(t, &t->pr[i]);
	}
	return 0;
}

int srv_tp_fd(const struct srv_tp *t)
{
	return t->ep;
}

int srv_tp_done(const struct srv_tp *t)
{
	if (t->failed)
		return 1;
	if (!t->ended || t->qlen)
		return 0;
	for (unsigned i = 0; i < t->npr; i++)
		if (!t->pr[i].out_eof || t->pr[i].out_off < t->pr[i].out.len)
			return 0;
	return 1;
}

void srv_tp_check(struct srv_tp *t)
{
	int64_t now = now_ms();

	for (unsigned i = 0; i < t->npr; i++) {
		struct printer *p = &t->pr[i];

		/* work to do, not held back by us, and neither reading nor printing */
		if (p->pid > 0 && p->fed != p->printed && (p->ev & 2) &&
		    now - p->progress > TP_STUCK_MS)
			kill(p->pid, SIGKILL);
	}
}

int srv_tp_rows(struct srv_tp *t)
{
	if (!t->ifaces && !(t->ifaces = calloc(SRV_IFACES_MAX, sizeof(*t->ifaces))))
		return -ENOMEM;
	return 0;
}

void srv_tp_name(struct srv_tp *t, const char *name)
{
	snprintf(t->names[0], TP_NAME_MAX, "%s", name);
	t->nnames = 1;
	t->one_name = 1;
}

uint64_t srv_tp_lines(const struct srv_tp *t)
{
	return t->popped;
}

void srv_tp_quiet(struct srv_tp *t, uint64_t n)
{
	t->quiet = n;
}

const char *srv_tp_error(const struct srv_tp *t)
{
	return t->err;
}

int srv_tp_write(struct srv_tp *t, const void *data, size_t len, int end, int fd)
{
	struct ecap_buf *lines = &t->lines;
	struct pollfd pf = {.fd = t->ep, .events = POLLIN};
	int r = srv_tp_feed(t, data, len);

	if (end)
		srv_tp_end(t);
	while (!r) {
		ecap_buf_reset(lines);
		r = srv_tp_pump(t, lines, 1u << 20);
		if (lines->len && ecap_write_all(fd, lines->data, lines->len)) {
			r = fail(t, -errno, "writing the text: %s", strerror(errno));
			break;
		}
		if (r || (end ? srv_tp_done(t) : srv_tp_hungry(t)))
			break;
		if (!lines->len && poll(&pf, 1, 1000) == 0)
			srv_tp_check(t);
	}
	return r;
}
