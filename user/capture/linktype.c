/* linktype.c - see linktype.h.
 *
 * libpcap reads the interface's ARPHRD_ type and maps it (map_arphrd_to_dlt
 * in pcap-linux.c): Ethernet and loopback to EN10MB; no header (tun,
 * WireGuard), ipip and sit to RAW, whose packets start at the IP header;
 * PPP, ATM, and every type it does not know (GRE, ip6tnl, ip6gre among
 * them), to LINUX_SLL, a "cooked" header made from the packet socket's
 * sockaddr_ll. The kernel hooks get the packet as the device has it: on the
 * RAW devices from the IP header on, as tcpdump's records are. For PPP,
 * ip6tnl, and GRE and ip6gre with a unicast remote, the device has no
 * link-layer header either (no header_ops), and the TC hooks know every
 * field of the cooked header (sessions.c), so they are captured as
 * LINUX_SLL. GRE and ip6gre without a remote have header_ops: the outer
 * headers lie before the packet at the hooks (gre_outer_of says how), and
 * GRE's address, the outer source, is read from them. Other cooked types
 * (GRE without a remote over FOU or GUE, whose outer headers' length is not
 * known; ATM; types libpcap does not know) are refused rather than
 * labelled with a type they are not. */
#include "capture/linktype.h"

#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture/sessions.h"
#include "capture/vlan.h"
#include "filter/cbpf.h"

#ifndef ARPHRD_IP6GRE /* in linux/if_arp.h, not in glibc's net/if_arp.h */
#define ARPHRD_IP6GRE 823
#endif

static const struct ecap_linktype types[] = {
    {ECAP_LINKTYPE_EN10MB, 1, "EN10MB", "Ethernet"},
    {ECAP_LINKTYPE_RAW, 101, "RAW", "Raw IP"},
    {ECAP_LINKTYPE_LINUX_SLL, 113, "LINUX_SLL", "Linux cooked v1"},
    {ECAP_LINKTYPE_LINUX_SLL2, 276, "LINUX_SLL2", "Linux cooked v2"},
};

const struct ecap_linktype *ecap_linktype_of_dlt(int dlt)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].dlt == dlt)
			return &types[i];
	return NULL;
}

/* What the kernel puts before the network header of a GRE or ip6gre
 * device's packets at the hooks, read from its netlink description
 * (RTM_GETLINK: IFLA_LINKINFO's IFLA_GRE_*). A device without a remote (NBMA
 * mode, `remote any`, the `gre0` and `ip6gre0` of every namespace; for GRE
 * also a multicast remote), unless it is an `external` (collect_md) one,
 * gets header_ops (ip_gre.c ipgre_tunnel_init, ip6_gre.c
 * ip6gre_tunnel_init): its header_ops->create puts the outer IP and GRE
 * headers before the packet on transmit, before TC egress sees it, as many
 * bytes for every packet of the device (an IPv4 or IPv6 header without
 * options, and the GRE header of its output flags); on receive GRE keeps
 * the outer headers before the packet (its mac header, for
 * ipgre_header_parse), as long as each packet's own (sessions.c reads
 * them), and ip6gre none. */
struct gre_outer {
	int outer;	 /* the device has header_ops */
	int v6;		 /* ip6gre */
	uint8_t out_hdr; /* bytes the hooks see before the packet on egress */
	uint16_t encap;	 /* IFLA_GRE_ENCAP_TYPE: FOU or GUE between IP and GRE */
};

/* The attribute `type` among len bytes of them, or NULL. */
static const struct rtattr *rta_find(const struct rtattr *a, size_t len, unsigned type)
{
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if ((a->rta_type & NLA_TYPE_MASK) == type)
			return a;
	return NULL;
}

/* 0 and *ret, or -errno. */
static int gre_outer_of(const char *name, int type, struct gre_outer *ret)
{
	struct {
		struct nlmsghdr n;
		struct ifinfomsg i;
		char attrs[64];
	} q = {.n = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
		     .nlmsg_type = RTM_GETLINK,
		     .nlmsg_flags = NLM_F_REQUEST},
	       .i = {.ifi_family = AF_UNSPEC}};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	union {
		struct nlmsghdr h;
		char b[16384]; /* a link's description: 2-3 KiB */
	} buf;
	const struct nlmsghdr *h = &buf.h;
	const struct rtattr *info, *data, *a;
	struct rtattr *at = (struct rtattr *)((char *)&q + NLMSG_ALIGN(q.n.nlmsg_len));
	size_t len = strlen(name) + 1;
	uint16_t oflags = 0;
	ssize_t n;
	int fd, r = 0;

	*ret = (struct gre_outer){.v6 = type == ARPHRD_IP6GRE};
	if (len > IF_NAMESIZE)
		return -ENODEV;
	at->rta_type = IFLA_IFNAME;
	at->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(at), name, len);
	q.n.nlmsg_len = NLMSG_ALIGN(q.n.nlmsg_len) + RTA_ALIGN(at->rta_len);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (sendto(fd, &q, q.n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0 ||
	    (n = recv(fd, buf.b, sizeof(buf.b), 0)) < 0) {
		r = -errno;
		goto out;
	}
	if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type == NLMSG_ERROR ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		r = NLMSG_OK(h, (size_t)n) && h->nlmsg_type == NLMSG_ERROR && e->error ? e->error
										       : -EBADMSG;
		goto out;
	}
	len = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct ifinfomsg));
	a = (const struct rtattr *)((const char *)NLMSG_DATA(h) +
				    NLMSG_ALIGN(sizeof(struct ifinfomsg)));
	info = rta_find(a, len, IFLA_LINKINFO);
	data = info ? rta_find(RTA_DATA(info), RTA_PAYLOAD(info), IFLA_INFO_DATA) : NULL;
	if (!data) { /* no parameters: the fallback device, no remote */
		ret->outer = 1;
	} else {
		const void *d = RTA_DATA(data);
		size_t dl = RTA_PAYLOAD(data);
		const struct rtattr *remote = rta_find(d, dl, IFLA_GRE_REMOTE);
		uint8_t zero[16] = {0}, first;

		if ((a = rta_find(d, dl, IFLA_GRE_OFLAGS)) && RTA_PAYLOAD(a) == 2)
			oflags = *(const uint16_t *)RTA_DATA(a); /* GRE_* */
		if ((a = rta_find(d, dl, IFLA_GRE_ENCAP_TYPE)) && RTA_PAYLOAD(a) == 2)
			ret->encap = *(const uint16_t *)RTA_DATA(a);
		first = remote && RTA_PAYLOAD(remote) ? *(const uint8_t *)RTA_DATA(remote) : 0;
		if (rta_find(d, dl, IFLA_GRE_COLLECT_METADATA))
			ret->outer = 0;
		else if (!remote || RTA_PAYLOAD(remote) > sizeof(zero) ||
			 !memcmp(RTA_DATA(remote), zero, RTA_PAYLOAD(remote)))
			ret->outer = 1;
		else /* 224.0.0.0/4: GRE only */
			ret->outer = !ret->v6 && (first & 0xf0) == 0xe0;
	}
	ret->out_hdr = (uint8_t)((ret->v6 ? 40 : 20) + 4 + (oflags & GRE_CSUM ? 4 : 0) +
				 (oflags & GRE_KEY ? 4 : 0) + (oflags & GRE_SEQ ? 4 : 0));
out:
	close(fd);
	return r;
}

/* A DSA conduit's frames carry the switch's tag, and libpcap gives them the
 * tag's own link type (unless the tagging is "none"). */
static int dsa_tagged(const char *name)
{
	char path[64 + IF_NAMESIZE], tag[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/dsa/tagging", name);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(tag, sizeof(tag), f))
		tag[0] = 0;
	fclose(f);
	return strcmp(tag, "none\n") && strcmp(tag, "none");
}

/* The interface's ARPHRD_ type: >= 0, or -errno with err set. */
static int hw_type(const char *name, char *err, size_t errlen)
{
	struct ifreq r = {0};
	int fd, e;

	if (strlen(name) >= sizeof(r.ifr_name)) {
		snprintf(err, errlen, "unknown interface '%.32s'", name);
		return -ENODEV;
	}
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", name);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && !ioctl(fd, SIOCGIFHWADDR, &r)) {
		close(fd);
		return r.ifr_hwaddr.sa_family;
	}
	e = fd < 0 ? -errno : errno == ENODEV ? -ENODEV : -errno;
	if (fd >= 0)
		close(fd);
	if (e == -ENODEV)
		snprintf(err, errlen, "unknown interface '%s'", name);
	else
		snprintf(err, errlen, "%s: reading its hardware type: %s", name, strerror(-e));
	return e;
}

/* The packet socket's address (dev_parse_header) comes from the device's
 * header_ops: eth_header_parse, the frame's source, for Ethernet and
 * loopback; nothing on the devices without a link layer (tun, WireGuard,
 * PPP, ip6tnl, GRE and ip6gre with a unicast remote have no header_ops,
 * ipip and sit no parse). At TC the skb starts at the link-layer header: 14
 * bytes, or none. Other types have headers and addresses of their own, not
 * made here. */
int ecap_iface_cooked(const char *name, int ifindex, struct ecap_cooked_if *ret, char *err,
		      size_t errlen)
{
	struct ecap_linktype lt;
	int type = hw_type(name, err, errlen), r;

	if (type < 0)
		return type;
	r = ecap_iface_linktype(name, &lt, err, errlen);
	if (r == -EPROTONOSUPPORT ||
	    (!r && type == ARPHRD_ETHER && lt.dlt != ECAP_LINKTYPE_EN10MB)) {
		/* the SLL2 header of a type not captured alone either */
		snprintf(err, errlen,
			 "-i any: %s has hardware type %d, whose cooked header edgecap does not "
			 "make (tcpdump -i any captures it)",
			 name, type);
		return -EPROTONOSUPPORT;
	}
	if (r)
		return r;
	*ret = (struct ecap_cooked_if){.ifindex = ifindex, .hatype = (uint16_t)type};
	if (type == ARPHRD_IPGRE || type == ARPHRD_IP6GRE) {
		struct gre_outer g;

		if ((r = gre_outer_of(name, type, &g))) {
			snprintf(err, errlen, "%s: reading its GRE parameters: %s", name,
				 strerror(-r));
			return r;
		}
		if (g.outer) {
			ret->out_hdr = g.out_hdr;
			/* ipgre_header_parse: the outer source; ip6gre has no parse */
			ret->gre4_in = !g.v6;
			ret->halen = g.v6 ? 0 : 4;
			ret->haddr_at = 12;
		}
	}
	if (lt.dlt == ECAP_LINKTYPE_EN10MB) {
		int tx = ecap_vlan_tx_offload(ifindex);

		ret->halen = 6;
		ret->haddr_at = 6;
		ret->l2len = 14;
		/* a device ethtool cannot ask is taken to keep tags out of band */
		ret->txvlan = tx < 0 ? ECAP_VLAN_TX_CTAG | ECAP_VLAN_TX_STAG : (uint8_t)tx;
	}
	return 0;
}

int ecap_iface_linktype(const char *name, struct ecap_linktype *ret, char *err, size_t errlen)
{
	struct ifreq r = {0};
	int fd, type, dlt;

	if (strlen(name) >= sizeof(r.ifr_name)) {
		snprintf(err, errlen, "unknown interface '%.32s'", name);
		return -ENODEV;
	}
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", name);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &r)) {
		int e = fd < 0 ? -errno : errno == ENODEV ? -ENODEV : -errno;

		if (fd >= 0)
			close(fd);
		if (e == -ENODEV)
			snprintf(err, errlen, "unknown interface '%s'", name);
		else
			snprintf(err, errlen, "%s: reading its hardware type: %s", name,
				 strerror(-e));
		return e;
	}
	close(fd);
	type = r.ifr_hwaddr.sa_family;
	switch (type) {
	case ARPHRD_ETHER:
		/* an Android modem that says Ethernet and sends IP: libpcap
		 * knows it by name */
		dlt = strncmp(name, "cdma_rmnet", 10) ? ECAP_LINKTYPE_EN10MB : ECAP_LINKTYPE_RAW;
		if (dlt == ECAP_LINKTYPE_EN10MB && dsa_tagged(name)) {
			snprintf(err, errlen,
				 "%s is a DSA switch conduit: tcpdump gives it the switch tag's "
				 "link type, which edgecap does not capture (capture on the "
				 "switch ports)",
				 name);
			return -EPROTONOSUPPORT;
		}
		break;
	case ARPHRD_LOOPBACK:
		dlt = ECAP_LINKTYPE_EN10MB;
		break;
	case ARPHRD_NONE:
	case ARPHRD_TUNNEL:
	case ARPHRD_SIT:
		dlt = ECAP_LINKTYPE_RAW;
		break;
	case ARPHRD_PPP:
	case ARPHRD_TUNNEL6: /* not in libpcap's table: cooked */
		dlt = ECAP_LINKTYPE_LINUX_SLL;
		break;
	case ARPHRD_IPGRE:
	case ARPHRD_IP6GRE: { /* not in libpcap's table: cooked */
		struct gre_outer g;
		int e = gre_outer_of(name, type, &g);

		if (e) {
			snprintf(err, errlen, "%s: reading its GRE parameters: %s", name,
				 strerror(-e));
			return e == -ENODEV ? e : -EPROTONOSUPPORT;
		}
		if (g.outer && g.encap) {
			snprintf(err, errlen,
				 "%s has hardware type %d, no unicast remote and a FOU or GUE "
				 "encapsulation: tcpdump captures it as LINUX_SLL, whose "
				 "packets the kernel hooks see behind outer headers of a "
				 "length edgecap does not know; edgecap does not capture it",
				 name, type);
			return -EPROTONOSUPPORT;
		}
		dlt = ECAP_LINKTYPE_LINUX_SLL;
		break;
	}
	default:
		snprintf(err, errlen,
			 "%s has hardware type %d: tcpdump captures it with a link type other than "
			 "EN10MB, RAW and LINUX_SLL, or as LINUX_SLL with a header edgecap does "
			 "not make; edgecap does not capture it",
			 name, type);
		return -EPROTONOSUPPORT;
	}
	*ret = *ecap_linktype_of_dlt(dlt);
	return 0;
}
