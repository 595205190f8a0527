/* route.c - see route.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tunnel/route.h"

struct req {
	struct nlmsghdr nh;
	union {
		struct ifaddrmsg ifa;
		struct rtmsg rt;
	};
	char attrs[128];
};

static void attr(struct req *r, unsigned short type, const void *p, unsigned short len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

	if (NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_SPACE(len) > sizeof(*r))
		return; /* (what this file sends fits: 64 of 128 bytes at most) */

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), p, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Send it, read the kernel's acknowledgement: 0 or -errno. */
static int talk(struct req *r)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	char buf[512] __attribute__((aligned(NLMSG_ALIGNTO)));
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), e = -EIO;
	ssize_t n;

	if (fd < 0)
		return -errno;
	r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	r->nh.nlmsg_seq = 1;
	if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		e = -errno;
	} else if ((n = recv(fd, buf, sizeof(buf), 0)) >= (ssize_t)NLMSG_LENGTH(sizeof(int))) {
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (h->nlmsg_type == NLMSG_ERROR)
			e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
	}
	close(fd);
	return e;
}

int mtun_addr_set(const char *ifname, uint32_t addr, int prefix, int add)
{
	struct req r = {.nh = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
			       .nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR,
			       .nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0},
			.ifa = {.ifa_family = AF_INET,
				.ifa_prefixlen = (unsigned char)prefix,
				.ifa_scope = RT_SCOPE_UNIVERSE,
				.ifa_index = if_nametoindex(ifname)}};
	uint32_t a = htonl(addr);
	int e;

	if (!r.ifa.ifa_index)
		return -ENODEV;
	attr(&r, IFA_LOCAL, &a, 4);
	attr(&r, IFA_ADDRESS, &a, 4);
	e = talk(&r);
	return e == (add ? -EEXIST : -EADDRNOTAVAIL) ? 0 : e;
}

int mtun_route_set(uint32_t dst, int prefix, uint32_t gw, const char *ifname, uint32_t src,
		   unsigned mtu, int add)
{
	struct req r = {.nh = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)),
			       .nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE,
			       .nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0},
			.rt = {.rtm_family = AF_INET,
			       .rtm_dst_len = (unsigned char)prefix,
			       .rtm_table = RT_TABLE_MAIN,
			       .rtm_protocol = MTUN_RTPROT,
			       /* a delete matches the scope as given: "any" */
			       .rtm_scope = !add ? RT_SCOPE_NOWHERE
					    : gw ? RT_SCOPE_UNIVERSE
						 : RT_SCOPE_LINK,
			       .rtm_type = RTN_UNICAST}};
	uint32_t d = htonl(dst), g = htonl(gw), sa = htonl(src);
	int e;

	attr(&r, RTA_DST, &d, 4);
	if (gw)
		attr(&r, RTA_GATEWAY, &g, 4);
	if (src)
		attr(&r, RTA_PREFSRC, &sa, 4);
	if (ifname) {
		int oif = (int)if_nametoindex(ifname);

		if (!oif)
			return -ENODEV;
		attr(&r, RTA_OIF, &oif, 4);
	}
	if (mtu) { /* RTA_METRICS holding RTAX_MTU */
		char m[RTA_SPACE(4)];
		struct rtattr *x = (struct rtattr *)m;

		x->rta_type = RTAX_MTU;
		x->rta_len = RTA_LENGTH(4);
		memcpy(RTA_DATA(x), &mtu, 4);
		attr(&r, RTA_METRICS, m, sizeof(m));
	}
	e = talk(&r);
	return !add && e == -ESRCH ? 0 : e;
}

int mtun_forwarding(const char *ifname)
{
	return mtun_conf_on("ipv4", ifname, "forwarding");
}

int mtun_conf_on(const char *family, const char *ifname, const char *key)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", family, ifname, key);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, "1", 1);
	close(fd);
	return n == 1 ? 0 : -EIO;
}
