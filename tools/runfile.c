/* runfile.c - see runfile.h. */
#include <pcap/pcap.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/pcapng.h"
#include "runfile.h"

struct runfile {
	pcap_t *in;
};

struct out_file {
	FILE *f;	     /* pcapng */
	pcap_dumper_t *dump; /* pcap */
	pcap_t *dead;
	int micro; /* pcap output in microseconds */
	struct ecap_buf buf;
};

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "edgecap: %s%s%s\n", what, why ? ": " : "", why ? why : "");
	return 2;
}

int runfile_open(const char *in, struct runfile **ret, int *ret_linktype)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct runfile *rf = calloc(1, sizeof(*rf));

	if (!rf)
		return fail(strerror(ENOMEM), NULL);
	/* nanoseconds: lossless for microsecond files too */
	rf->in = pcap_open_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!rf->in) {
		free(rf);
		return fail(errbuf, NULL);
	}
	*ret = rf;
	*ret_linktype = pcap_datalink(rf->in);
	return 0;
}

void runfile_close(struct runfile *rf)
{
	if (!rf)
		return;
	pcap_close(rf->in);
	free(rf);
}

/* Does the file start with the microsecond pcap magic (either byte order)? */
static int pcap_file_is_micro(const char *path)
{
	uint32_t magic = 0;
	FILE *f;

	if (!strcmp(path, "-"))
		return 0;
	f = fopen(path, "rb");
	if (!f)
		return 0;
	if (fread(&magic, 4, 1, f) != 1)
		magic = 0;
	fclose(f);
	return magic == 0xa1b2c3d4 || magic == 0xd4c3b2a1;
}

static int out_open(struct out_file *w, pcap_t *in, const char *inpath, const char *out)
{
	int linktype = pcap_datalink(in), snap = pcap_snapshot(in);

	if (pcap_major_version(in) == 1) { /* libpcap reports pcapng as 1.x */
		w->f = strcmp(out, "-") ? fopen(out, "wb") : stdout;
		if (!w->f)
			return fail(out, strerror(errno));
		ecap_pcapng_shb(&w->buf, NULL, NULL, "edgecap filter run");
		ecap_pcapng_idb(&w->buf, (uint16_t)linktype, (uint32_t)snap, NULL, NULL, 9);
		if (w->buf.err || fwrite(w->buf.data, 1, w->buf.len, w->f) != w->buf.len)
			return fail(out, "write failed");
		return 0;
	}
	w->micro = pcap_file_is_micro(inpath);
	w->dead = pcap_open_dead_with_tstamp_precision(
	    linktype, snap, w->micro ? PCAP_TSTAMP_PRECISION_MICRO : PCAP_TSTAMP_PRECISION_NANO);
	if (!w->dead)
		return fail(strerror(ENOMEM), NULL);
	w->dump = pcap_dump_open(w->dead, out);
	if (!w->dump)
		return fail(pcap_geterr(w->dead), NULL);
	return 0;
}

static int out_write(struct out_file *w, const struct pcap_pkthdr *h, const uint8_t *data,
		     uint32_t caplen)
{
	struct pcap_pkthdr oh = *h;

	if (w->f) {
		uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;

		ecap_buf_reset(&w->buf);
		if (ecap_pcapng_epb(&w->buf, 0, ts, data, caplen, h->len, 0))
			return -ENOMEM;
		return fwrite(w->buf.data, 1, w->buf.len, w->f) == w->buf.len ? 0 : -EIO;
	}
	oh.caplen = caplen;
	if (w->micro)
		oh.ts.tv_usec /= 1000;
	pcap_dump((u_char *)w->dump, &oh, data);
	return 0;
}

static int out_close(struct out_file *w)
{
	int r = 0;

	if (w->f && (fflush(w->f) || (w->f != stdout && fclose(w->f))))
		r = -EIO;
	if (w->dump) {
		if (pcap_dump_flush(w->dump))
			r = -EIO;
		pcap_dump_close(w->dump);
	}
	if (w->dead)
		pcap_close(w->dead);
	ecap_buf_free(&w->buf);
	return r;
}

int runfile_filter(struct runfile *rf, int prog_fd, enum ecap_hook hook, const char *in,
		   const char *out)
{
	struct out_file w = {0};
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t total = 0, matched = 0;
	int r, st = 2;

	if (out_open(&w, rf->in, in, out))
		goto out;
	while ((r = pcap_next_ex(rf->in, &h, &data)) == 1) {
		uint32_t res;

		total++;
		r = ecap_prog_test_run(prog_fd, hook, data, h->caplen, h->len, &res);
		if (r == -EMSGSIZE) {
			fprintf(stderr,
				"edgecap: packet %llu has %u bytes; the kernel's skb test runner "
				"takes at most %u (the XDP hook takes any size)\n",
				(unsigned long long)total, h->caplen, ECAP_TC_TEST_MAX);
			goto out;
		}
		if (r) {
			fprintf(stderr, "edgecap: test run of packet %llu: %s\n",
				(unsigned long long)total, strerror(-r));
			goto out;
		}
		if (!res)
			continue;
		matched++;
		if (out_write(&w, h, data, res < h->caplen ? res : h->caplen)) {
			fail(out, "write failed");
			goto out;
		}
	}
	if (r == -1) {
		fail(in, pcap_geterr(rf->in));
		goto out;
	}
	st = 0;
out:
	if (out_close(&w) && !st)
		st = fail(out, "write failed");
	if (!st)
		fprintf(stderr, "%llu packets, %llu matched\n", (unsigned long long)total,
			(unsigned long long)matched);
	return st;
}
