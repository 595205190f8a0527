/* params.c - see params.h.
 *
 *   bpf=N,code jt jf k,...   the filter, tcpdump -ddd with commas for newlines
 *   iface=IF[,IF...]|any     dir=in|out|inout    snaplen=1..262144
 *   count=N                  duration=1..86400
 *   linktype=EN10MB|RAW|LINUX_SLL|LINUX_SLL2   the link type bpf was compiled for
 *                            (default EN10MB); every interface must have
 *                            it; LINUX_SLL2 with iface=any, and only then
 *
 * Every parameter at most once; an unknown one is an error (a typo must not
 * silently capture something else). */
#include "agent/params.h"

#include "common/auth.h"
#include "common/bounds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_BPF, P_IFACE, P_DIR, P_SNAPLEN, P_COUNT, P_DURATION, P_LINKTYPE, P_N };
static const char *const names[P_N] = {"bpf",	"iface",    "dir",     "snaplen",
				       "count", "duration", "linktype"};

/* application/x-www-form-urlencoded -> a malloc'ed string; NULL when
 * malformed (a bad escape, or a NUL inside). */
static char *decode(const char *p, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '+') {
			*o++ = ' ';
		} else if (p[i] == '%') {
			int hi = i + 2 < len ? ecap_hex_digit(p[i + 1]) : -1;
			int lo = hi >= 0 ? ecap_hex_digit(p[i + 2]) : -1;

			if (lo < 0 || (hi | lo) == 0)
				goto bad;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = p[i];
		}
	}
	*o = 0;
	return out;
bad:
	free(out);
	return NULL;
}

static int parse_num(const char *v, unsigned long long min, unsigned long long max,
		     unsigned long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(v, &end, 10);
	return errno || !*v || *end || *v == '-' || *v == '+' || *v == ' ' || *ret < min ||
		       *ret > max
		   ? -EINVAL
		   : 0;
}

static int set_ifaces(struct agent_params *p, const char *v, char *err, size_t errlen)
{
	const char *s = v;

	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);

		if (!n || n >= IF_NAMESIZE) {
			snprintf(err, errlen, "iface: '%.64s' is not a list of interface names", v);
			return -EINVAL;
		}
		if (p->nifaces == ECAP_MAX_SESSION_IFACES) {
			snprintf(err, errlen, "iface: more than %d", ECAP_MAX_SESSION_IFACES);
			return -EINVAL;
		}
		memcpy(p->ifaces[p->nifaces], s, n);
		p->ifaces[p->nifaces][n] = 0;
		/* every interface served, as tcpdump -i any: alone */
		if (!strcmp(p->ifaces[p->nifaces], "any") ? p->nifaces || comma : p->any) {
			snprintf(err, errlen,
				 "iface: any (every interface served, as tcpdump -i any) is given "
				 "alone");
			return -EINVAL;
		}
		p->any = !strcmp(p->ifaces[p->nifaces], "any");
		for (unsigned i = 0; i < p->nifaces; i++)
			if (!strcmp(p->ifaces[i], p->ifaces[p->nifaces])) {
				snprintf(err, errlen, "iface: '%s' given twice", p->ifaces[i]);
				return -EINVAL;
			}
		p->nifaces++;
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

static int set(struct agent_params *p, int which, char *v, char *err, size_t errlen)
{
	unsigned long long n;
	char what[48];

	switch (which) {
	case P_BPF:
		if (ecap_cbpf_parse_param(v, &p->prog, err, errlen) ||
		    ecap_cbpf_validate(p->prog.insns, p->prog.len, err, errlen)) {
			char why[ECAP_ERRLEN];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "bpf: %s", why);
			return -EINVAL;
		}
		return 0;
	case P_IFACE:
		return set_ifaces(p, v, err, errlen);
	case P_DIR:
		if (!strcmp(v, "in"))
			p->dirs = ECAP_DIR_IN;
		else if (!strcmp(v, "out"))
			p->dirs = ECAP_DIR_OUT;
		else if (!strcmp(v, "inout"))
			p->dirs = ECAP_DIR_IN | ECAP_DIR_OUT;
		else
			break;
		return 0;
	case P_SNAPLEN:
		if (parse_num(v, 1, ECAP_SNAPLEN_MAX, &n))
			break;
		p->snaplen = (uint32_t)n;
		return 0;
	case P_COUNT:
		if (parse_num(v, 1, UINT64_MAX, &n))
			break;
		p->count = n;
		return 0;
	case P_DURATION:
		if (parse_num(v, 1, ECAP_CAPTURE_DURATION_MAX, &n))
			break;
		p->duration = (uint32_t)n;
		return 0;
	case P_LINKTYPE:
		if (!strcmp(v, "EN10MB"))
			p->linktype = ECAP_LINKTYPE_EN10MB;
		else if (!strcmp(v, "RAW"))
			p->linktype = ECAP_LINKTYPE_RAW;
		else if (!strcmp(v, "LINUX_SLL"))
			p->linktype = ECAP_LINKTYPE_LINUX_SLL;
		else if (!strcmp(v, "LINUX_SLL2"))
			p->linktype = ECAP_LINKTYPE_LINUX_SLL2;
		else
			break;
		return 0;
	}
	if (which == P_DIR)
		snprintf(what, sizeof(what), "in, out or inout");
	else if (which == P_SNAPLEN)
		snprintf(what, sizeof(what), "1..%u", ECAP_SNAPLEN_MAX);
	else if (which == P_LINKTYPE)
		snprintf(what, sizeof(what), "EN10MB, RAW, LINUX_SLL or LINUX_SLL2");
	else if (which == P_DURATION)
		snprintf(what, sizeof(what), "1..%u seconds", ECAP_CAPTURE_DURATION_MAX);
	else
		snprintf(what, sizeof(what), "a positive number");
	snprintf(err, errlen, "%s: '%.64s' is not %s", names[which], v, what);
	return -EINVAL;
}

int agent_params_parse(const char *query, size_t len, struct agent_params *ret, char *err,
		       size_t errlen)
{
	struct agent_params p = {.dirs = ECAP_DIR_IN | ECAP_DIR_OUT,
				 .snaplen = ECAP_SNAPLEN_DEFAULT,
				 .linktype = ECAP_LINKTYPE_EN10MB};
	const char *s = query, *end = query + len;
	unsigned seen = 0;
	int r = 0;

	while (s < end && !r) {
		const char *amp = memchr(s, '&', (size_t)(end - s)), *stop = amp ? amp : end;
		const char *eq = memchr(s, '=', (size_t)(stop - s));
		char *k = NULL, *v = NULL;
		int which = 0;

		if (stop == s) { /* "a=1&&b=2" */
			s = stop + 1;
			continue;
		}
		if (!eq || !(k = decode(s, (size_t)(eq - s))) ||
		    !(v = decode(eq + 1, (size_t)(stop - eq - 1)))) {
			snprintf(err, errlen, "malformed query string");
			r = -EINVAL;
		}
		while (!r && which < P_N && strcmp(k, names[which]))
			which++;
		if (!r && which == P_N) {
			snprintf(err, errlen, "unknown parameter '%.64s'", k);
			r = -EINVAL;
		} else if (!r && (seen & (1u << which))) {
			snprintf(err, errlen, "%s: given twice", k);
			r = -EINVAL;
		} else if (!r) {
			seen |= 1u << which;
			r = set(&p, which, v, err, errlen);
		}
		free(k);
		free(v);
		s = stop + 1;
	}
	if (!r && !(seen & (1u << P_BPF))) {
		snprintf(err, errlen,
			 "bpf: missing (the filter in tcpdump -ddd form, commas for "
			 "newlines)");
		r = -EINVAL;
	}
	/* a cooked session reads its header: the program must expect it */
	if (!r && p.any != (p.linktype == ECAP_LINKTYPE_LINUX_SLL2)) {
		snprintf(err, errlen,
			 p.any ? "linktype: iface=any is captured as LINUX_SLL2: compile the "
				 "filter for it"
			       : "linktype: LINUX_SLL2 is the link type of iface=any only");
		r = -EINVAL;
	}
	if (r) {
		agent_params_free(&p);
		return r;
	}
	*ret = p;
	return 0;
}

void agent_params_free(struct agent_params *p)
{
	ecap_cbpf_free(&p->prog);
}
