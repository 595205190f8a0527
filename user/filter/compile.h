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

/* tcpdump -d's listing (libpcap's bpf_image), one line per instruction;
 * malloc'ed, NULL without memory. */
char *ecap_cbpf_listing(const struct ecap_cbpf *p);

#endif
