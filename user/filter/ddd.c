/* ddd.c - classic BPF as text: the `tcpdump -ddd` format, and the same
 * with commas for newlines as the agent's bpf query parameter (docs/remote.md).
 * The server encodes it, the agent parses it: both are here. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "filter/cbpf.h"

void ecap_cbpf_free(struct ecap_cbpf *p)
{
	if (!p)
		return;
	free(p->insns);
	p->insns = NULL;
	p->len = 0;
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

char *ecap_cbpf_param(const struct ecap_cbpf *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "%u", p->len);
	for (uint32_t i = 0; i < p->len; i++)
		fprintf(f, ",%u%%20%u%%20%u%%20%u", p->insns[i].code, p->insns[i].jt,
			p->insns[i].jf, p->insns[i].k);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

int ecap_cbpf_parse_param(const char *value, struct ecap_cbpf *ret, char *err, size_t errlen)
{
	char *text = strdup(value);
	int r;

	if (!text)
		return -ENOMEM;
	for (char *q = text; *q; q++) /* "N,code jt jf k,..." -> the -ddd lines */
		if (*q == ',')
			*q = '\n';
	r = ecap_cbpf_parse_ddd(text, ret, err, errlen);
	free(text);
	return r;
}
