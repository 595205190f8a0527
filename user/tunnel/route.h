/* route.h - what a device behind a gateway, and the gateway, change in
 * their kernel's routing for the management network (docs/tunnel.md,
 * "Devices behind a gateway"): an address, a route, forwarding. rtnetlink,
 * one request and its acknowledgement each. */
#ifndef ECAP_MTUN_ROUTE_H
#define ECAP_MTUN_ROUTE_H

#include <stdint.h>

/* The routes this makes are marked with their own protocol number, so that
 * deleting one never takes an administrator's. */
#define MTUN_RTPROT 0xec

/* Add (or delete, add 0) addr/prefix on the interface: 0 (also when it is
 * there already, or gone already), or -errno. Addresses in host order. */
int mtun_addr_set(const char *ifname, uint32_t addr, int prefix, int add);

/* Replace (or delete, add 0: ours only) the route to dst/prefix: through gateway gw
 * (0: on the link), out of ifname (NULL: as gw's route says), from source
 * address src (0: the kernel's choice), with mtu (0: the interface's). 0 or
 * -errno. */
int mtun_route_set(uint32_t dst, int prefix, uint32_t gw, const char *ifname, uint32_t src,
		   unsigned mtu, int add);

/* IPv4 forwarding on for the interface (what comes in on it may leave by
 * another): 0 or -errno. */
int mtun_forwarding(const char *ifname);
/* /proc/sys/net/FAMILY/conf/IFNAME/KEY set to 1: 0 or -errno. */
int mtun_conf_on(const char *family, const char *ifname, const char *key);

#endif
