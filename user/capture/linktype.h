/* linktype.h - the link type an interface's packets have at the hooks, named
 * as tcpdump (libpcap 1.10 on Linux) names it for the same interface, and the
 * interfaces edgecap does not capture because tcpdump gives them a header the
 * kernel hooks never see. */
#ifndef ECAP_LINKTYPE_H
#define ECAP_LINKTYPE_H

#include <stddef.h>
#include <stdint.h>

/* An interface's link type: the DLT value libpcap compiles for, the
 * LINKTYPE_ value files carry (DLT_RAW is 12 on Linux, LINKTYPE_RAW 101),
 * and tcpdump's name and description ("RAW", "Raw IP"). */
struct ecap_linktype {
	int dlt;
	uint16_t file;
	const char *name;
	const char *desc;
};

/* The link type of interface `name` (in this network namespace): 0 and
 * *ret, or -ENODEV (no such interface), or -EPROTONOSUPPORT where tcpdump
 * uses a link type edgecap cannot produce exactly (err says which and why). */
int ecap_iface_linktype(const char *name, struct ecap_linktype *ret, char *err, size_t errlen);

/* The link type of a DLT value (EN10MB, RAW, LINUX_SLL or LINUX_SLL2);
 * NULL for any other. */
const struct ecap_linktype *ecap_linktype_of_dlt(int dlt);

struct ecap_cooked_if;
/* What tcpdump's cooked headers (-i any's LINUX_SLL2, LINUX_SLL of the
 * interfaces captured so alone) say of interface `name` (index ifindex),
 * and where its packets' network header starts at the TC hooks:
 * 0 and *ret, or -ENODEV, or -EPROTONOSUPPORT for a hardware type whose
 * cooked header or network header edgecap cannot make exactly (err says
 * which). */
int ecap_iface_cooked(const char *name, int ifindex, struct ecap_cooked_if *ret, char *err,
		      size_t errlen);

#endif
