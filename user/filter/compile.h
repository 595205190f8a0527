/* compile.h - tcpdump expressions to classic BPF with libpcap. Only the
 * server and the CLI compile (library ecap_compile); a device never does. */
#ifndef ECAP_COMPILE_H
#define ECAP_COMPILE_H

#include "filter/cbpf.h"

/* Expression -> classic BPF with libpcap (optimizer on, netmask
 * unknown). On error returns -EINVAL and err holds libpcap's message. */
int ecap_filter_compile(const char *expr, int linktype, uint32_t snaplen, struct ecap_cbpf *ret,
			char *err, size_t errlen);
/* "EN10MB", "RAW" (tcpdump -y names) -> DLT value, or -EINVAL. */
int ecap_linktype_from_name(const char *name);
/* The name of a DLT value we compile for ("EN10MB"), a static string;
 * NULL for any other. */
const char *ecap_linktype_name(int dlt);

/* The interfaces libpcap lists, in its order: fn(ctx, name, line) with the
 * line tcpdump -D prints for it ("2.lo [Up, Running, Loopback]"); a non-zero
 * return from fn stops the walk and is returned. -EIO with err when libpcap
 * cannot list them. */
int ecap_pcap_devices(int (*fn)(void *ctx, const char *name, const char *line), void *ctx,
		      char *err, size_t errlen);

/* tcpdump -d's listing (libpcap's bpf_image), one line per instruction;
 * malloc'ed, NULL without memory. */
char *ecap_cbpf_listing(const struct ecap_cbpf *p);

#endif
