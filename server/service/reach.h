/* reach.h - where the server may connect to a device. An administrator
 * names a device's address; without a rule the server would connect
 * wherever it says: to its own loopback services, or through the
 * management tunnel to another organization's device. Refused, unless the
 * operator lists the network in device_networks:
 *
 *   unspecified  0.0.0.0/8, ::
 *   loopback     127.0.0.0/8, ::1
 *   link-local   169.254.0.0/16, fe80::/10
 *   multicast    224.0.0.0/4, ff00::/8 (and 240.0.0.0/4, broadcast)
 *   the server's own addresses (every interface's, at the time of asking)
 *   6.0.0.0/8, the management network: only a device's own management
 *     address, reached with the host "tunnel"; never listed in the address
 *
 *   a cloud's metadata service: 169.254.169.254 (link-local), fd00:ec2::254
 *
 * An IPv4-mapped IPv6 address, or one in NAT64's 64:ff9b::/96, is judged
 * as the IPv4 address inside. With device_networks set ("10.0.0.0/8,
 * 2001:db8::/32"), an address outside every listed network is refused too;
 * one inside a listed network is allowed even when a rule above would
 * refuse it (a lab's devices on loopback), except the management network
 * and the server's own addresses, which only an entry of that address
 * alone (a /32 or /128) allows. */
#ifndef SRV_REACH_H
#define SRV_REACH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SRV_REACH_NETS_MAX 64

struct srv_reach_net {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct srv_reach {
	struct srv_reach_net nets[SRV_REACH_NETS_MAX];
	unsigned n; /* 0: no list, only the rules */
};

/* device_networks (or another list of networks, named key in errors):
 * CIDRs separated by commas or spaces (an address without a prefix is one
 * host). 0, or -EINVAL with err naming the bad one. */
int srv_reach_parse(struct srv_reach *r, const char *key, const char *list, char *err,
		    size_t errlen);

/* Is the address (text, as inet_ntop writes it) in one of r's networks? */
int srv_reach_listed(const struct srv_reach *r, const char *addr);

/* May a device be at sa? own_mgmt: the device's management address (host
 * order) when it is reached over the tunnel, else 0. 0, or -EACCES with
 * why set: "127.0.0.1 is a loopback address". */
int srv_reach_check(const struct srv_reach *r, const struct sockaddr *sa, uint32_t own_mgmt,
		    char *why, size_t len);

#endif
