/* compile.c - tcpdump expression -> classic BPF with libpcap, and libpcap's
 * listing of a program (tcpdump -d). The only file that includes pcap.h:
 * libpcap's struct bpf_insn would collide with the eBPF one everywhere else.
 * Only the server and the CLI link it: a device never compiles. */
#include <pcap/pcap.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/compile.h"

_Static_assert(sizeof(struct bpf_insn) == sizeof(struct sock_filter),
	       "libpcap and kernel classic BPF instructions have one layout");

int ecap_linktype_from_name(const char *name)
{
	int dlt = pcap_datalink_name_to_val(name);

	if (dlt != ECAP_LINKTYPE_EN10MB && dlt != ECAP_LINKTYPE_RAW &&
	    dlt != ECAP_LINKTYPE_LINUX_SLL && dlt != ECAP_LINKTYPE_LINUX_SLL2)
		return -EINVAL;
	return dlt;
}

const char *ecap_linktype_name(int dlt)
{
	switch (dlt) { /* libpcap before 1.10 names no LINUX_SLL2 */
	case ECAP_LINKTYPE_EN10MB:
		return "EN10MB";
	case ECAP_LINKTYPE_RAW:
		return "RAW";
	case ECAP_LINKTYPE_LINUX_SLL:
		return "LINUX_SLL";
	case ECAP_LINKTYPE_LINUX_SLL2:
		return "LINUX_SLL2";
	default:
		return NULL;
	}
}

int ecap_filter_compile(const char *expr, int linktype, uint32_t snaplen, struct ecap_cbpf *ret,
			char *err, size_t errlen)
{
	struct bpf_program prog = {0};
	struct sock_filter *insns;
	pcap_t *p;
	int r;

	if (snaplen == 0 || snaplen > ECAP_SNAPLEN_MAX) {
		snprintf(err, errlen, "snaplen %u out of range (1..%u)", snaplen, ECAP_SNAPLEN_MAX);
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

int ecap_pcap_devices(int (*fn)(void *ctx, const char *name, const char *line), void *ctx,
		      char *err, size_t errlen)
{
	static const struct {
		bpf_u_int32 bit;
		const char *name;
	} status[] = {{PCAP_IF_UP, "Up"},
		      {PCAP_IF_RUNNING, "Running"},
		      {PCAP_IF_LOOPBACK, "Loopback"},
		      {PCAP_IF_WIRELESS, "Wireless"}};
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	pcap_if_t *all = NULL;
	int n = 0, r = 0;

	if (pcap_findalldevs(&all, ebuf)) {
		snprintf(err, errlen, "listing interfaces: %s", ebuf);
		return -EIO;
	}
	for (pcap_if_t *d = all; d && !r; d = d->next) {
		char line[512];
		size_t at = 0;
		int any = 0;

		/* tcpdump -D's line: N.name (description) [flags, connection] */
		at += (size_t)snprintf(line, sizeof(line), "%d.%s", ++n, d->name);
		if (d->description && at < sizeof(line))
			at +=
			    (size_t)snprintf(line + at, sizeof(line) - at, " (%s)", d->description);
		if (d->flags && at < sizeof(line)) {
			bpf_u_int32 conn = d->flags & PCAP_IF_CONNECTION_STATUS;
			int wireless = !!(d->flags & PCAP_IF_WIRELESS);
			const char *cs = NULL;

			at += (size_t)snprintf(line + at, sizeof(line) - at, " [");
			for (size_t i = 0; i < sizeof(status) / sizeof(status[0]); i++)
				if ((d->flags & status[i].bit) && at < sizeof(line))
					at += (size_t)snprintf(line + at, sizeof(line) - at, "%s%s",
							       any++ ? ", " : "", status[i].name);
			if (!any && at < sizeof(line))
				at += (size_t)snprintf(line + at, sizeof(line) - at, "none");
			if (conn == PCAP_IF_CONNECTION_STATUS_CONNECTED)
				cs = wireless ? "Associated" : "Connected";
			else if (conn == PCAP_IF_CONNECTION_STATUS_DISCONNECTED)
				cs = wireless ? "Not associated" : "Disconnected";
			if (cs && at < sizeof(line))
				at += (size_t)snprintf(line + at, sizeof(line) - at, ", %s", cs);
			if (at < sizeof(line))
				snprintf(line + at, sizeof(line) - at, "]");
		}
		r = fn(ctx, d->name, line);
	}
	pcap_freealldevs(all);
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
