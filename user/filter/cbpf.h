/* cbpf.h - classic BPF: compiling expressions with libpcap, the -ddd text
 * format, and validation of untrusted programs. Free of linux/bpf.h so that
 * code including libpcap's headers can use it. Programs use the kernel's
 * struct sock_filter, laid out like libpcap's struct bpf_insn. */
#ifndef ECAP_CBPF_H
#define ECAP_CBPF_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ECAP_CBPF_MAX_INSNS  4096
#define ECAP_SNAPLEN_DEFAULT 262144u
#define ECAP_SNAPLEN_MAX     262144u
#define ECAP_ERRLEN	     512

/* Link types we compile for (pcap DLT values). */
#define ECAP_LINKTYPE_EN10MB	 1
#define ECAP_LINKTYPE_RAW	 12
#define ECAP_LINKTYPE_LINUX_SLL	 113 /* tcpdump -i IF on PPP, GRE, ip6tnl, ip6gre */
#define ECAP_LINKTYPE_LINUX_SLL2 276 /* tcpdump -i any */

struct ecap_cbpf {
	struct sock_filter *insns;
	uint32_t len;
};

void ecap_cbpf_free(struct ecap_cbpf *p);

/* ddd.c: the `tcpdump -ddd` text format: a count line, then one
 * "code jt jf k" line per instruction, all decimal. */
int ecap_cbpf_parse_ddd(const char *text, struct ecap_cbpf *ret, char *err, size_t errlen);
int ecap_cbpf_print_ddd(FILE *out, const struct ecap_cbpf *p);
/* The same as the agent's bpf query parameter: the lines joined by commas,
 * spaces as %20, ready for a URL (malloc'ed; NULL without memory). */
char *ecap_cbpf_param(const struct ecap_cbpf *p);
/* The parameter's value once percent-decoded ("N,code jt jf k,...") -> the
 * program; errors as ecap_cbpf_parse_ddd's, a line being one comma-separated
 * item. */
int ecap_cbpf_parse_param(const char *value, struct ecap_cbpf *ret, char *err, size_t errlen);
/* validate.c: checks untrusted classic BPF. Returns 0 when valid, else
 * -EINVAL with "instruction N: reason" (or a whole-program reason) in err. */
int ecap_cbpf_validate(const struct sock_filter *insns, uint32_t n, char *err, size_t errlen);

#endif
