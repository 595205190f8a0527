/* compile.c - tcpdump expression -> classic BPF with libpcap, and the
 * `tcpdump -ddd` text format. The only file that includes pcap.h: libpcap's
 * struct bpf_insn would collide with the eBPF one everywhere else. */
#include <pcap/pcap.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cbpf.h"

_Static_assert(sizeof(struct bpf_insn) == sizeof(struct sock_filter),
	       "libpcap and kernel classic BPF instructions have one layout");

void ecap_cbpf_free(struct ecap_cbpf *p)
{
	if (!p)
		return;
	free(p->insns);
	p->insns = NULL;
	p->len = 0;
}

int ecap_linktype_from_name(const char *name)
{
	int dlt = pcap_datalink_name_to_val(name);

	if (dlt != ECAP_LINKTYPE_EN10MB && dlt != ECAP_LINKTYPE_RAW)
		return -EINVAL;
	return dlt;
}

int ecap_filter_compile(const char *expr, int linktype, uint32_t snaplen, struct ecap_cbpf *ret,
			char *err, size_t errlen)
{
	struct bpf_program prog = {0};
	struct sock_filter *insns;
	pcap_t *p;
	int r;

	if (snaplen == 0 || snaplen > ECAP_SNAPLEN_MAX) {
		snprintf(err, errlen, "snaplen %u out of range (1..%u)", snaplen,
			 ECAP_SNAPLEN_MAX);
		return -EINVAL;
	}
	p = pcap_open_dead(linktype, (int)snaplen);
	if (!p)
		return -ENOMEM;
	if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "%s", pcap_geterr(p));
		r = -EINVAL;
		goto out;
	}
	insns = malloc(prog.bf_len * sizeof(*insns));
	if (!insns) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(insns, prog.bf_insns, prog.bf_len * sizeof(*insns));
	ret->insns = insns;
	ret->len = prog.bf_len;
	r = 0;
out:
	pcap_freecode(&prog);
	pcap_close(p);
	return r;
}

char *ecap_cbpf_listing(const struct ecap_cbpf *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (uint32_t i = 0; i < p->len; i++)
		fprintf(f, "%s\n", bpf_image((struct bpf_insn *)&p->insns[i], (int)i));
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

int ecap_cbpf_print_ddd(FILE *out, const struct ecap_cbpf *p)
{
	fprintf(out, "%u\n", p->len);
	for (uint32_t i = 0; i < p->len; i++)
		fprintf(out, "%u %u %u %u\n", p->insns[i].code, p->insns[i].jt, p->insns[i].jf,
			p->insns[i].k);
	return ferror(out) ? -EIO : 0;
}

/* Parse one unsigned decimal number no larger than max; advances *s. */
static int parse_num(const char **s, unsigned long max, unsigned long *ret)
{
	const char *p = *s;
	char *end;
	unsigned long v;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (errno || v > max)
		return -ERANGE;
	*s = end;
	*ret = v;
	return 0;
}

static int line_end(const char **s)
{
	const char *p = *s;

	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (*p == '\n')
		p++;
	else if (*p)
		return -EINVAL;
	*s = p;
	return 0;
}

int ecap_cbpf_parse_ddd(const char *text, struct ecap_cbpf *ret, char *err, size_t errlen)
{
	const char *s = text;
	struct sock_filter *insns = NULL;
	unsigned long n, v[4];
	int r;

	if (parse_num(&s, ECAP_CBPF_MAX_INSNS, &n) || line_end(&s)) {
		snprintf(err, errlen, "line 1: expected an instruction count (1..%u)",
			 ECAP_CBPF_MAX_INSNS);
		return -EINVAL;
	}
	if (n == 0) {
		snprintf(err, errlen, "line 1: program has no instructions");
		return -EINVAL;
	}
	insns = calloc(n, sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	for (unsigned long i = 0; i < n; i++) {
		static const unsigned long max[4] = {USHRT_MAX, UCHAR_MAX, UCHAR_MAX, UINT_MAX};

		for (int f = 0; f < 4; f++) {
			if (parse_num(&s, max[f], &v[f])) {
				snprintf(err, errlen,
					 "line %lu: expected \"code jt jf k\" in decimal, "
					 "instruction %lu of %lu",
					 i + 2, i, n);
				r = -EINVAL;
				goto fail;
			}
		}
		if (line_end(&s)) {
			snprintf(err, errlen, "line %lu: trailing characters after instruction %lu",
				 i + 2, i);
			r = -EINVAL;
			goto fail;
		}
		insns[i] = (struct sock_filter){.code = (uint16_t)v[0],
						.jt = (uint8_t)v[1],
						.jf = (uint8_t)v[2],
						.k = (uint32_t)v[3]};
	}
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (*s) {
		snprintf(err, errlen, "more lines than the %lu instructions announced on line 1",
			 n);
		r = -EINVAL;
		goto fail;
	}
	ret->insns = insns;
	ret->len = (uint32_t)n;
	return 0;
fail:
	free(insns);
	return r;
}
