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
 * LINUX_SLL. Other cooked types (GRE without a remote, whose outer headers
 * the skb keeps before the network header and whose address tcpdump reads
 * from them; ATM; types libpcap does not know) are refused rather than
 * labelled with a type they are not. */
#include "capture/linktype.h"

#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* Has a GRE or ip6gre device a unicast remote? Without one (NBMA mode,
 * `remote any`, or a multicast group) the kernel gives it header_ops: its
 * packets carry the outer IP and GRE headers before the network header at
 * the hooks, and tcpdump's address comes from them. The remote is the
 * device's broadcast address (ip_gre.c, ip6_gre.c). */
static int gre_unicast_remote(const char *name)
{
	char path[64 + IF_NAMESIZE], addr[64] = "";
	unsigned first = 0;
	int nonzero = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/broadcast", name);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(addr, sizeof(addr), f))
		addr[0] = 0;
	fclose(f);
	if (sscanf(addr, "%2x", &first) != 1)
		return 0;
	for (const char *c = addr; *c && *c != '\n'; c++)
		nonzero |= *c != '0' && *c != ':';
	/* 224.0.0.0/4 for GRE (4 bytes: "e0:..."), ff00::/8 for ip6gre */
	return nonzero && (first & 0xf0) != 0xe0 && first != 0xff;
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
	if (lt.dlt == ECAP_LINKTYPE_EN10MB) {
		int tx = ecap_vlan_tx_offload(ifindex);

		ret->halen = 6;
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
	case ARPHRD_IP6GRE: /* not in libpcap's table: cooked */
		if (!gre_unicast_remote(name)) {
			snprintf(
			    err, errlen,
			    "%s has hardware type %d and no unicast remote: tcpdump captures "
			    "it as LINUX_SLL with an address from the outer headers the kernel "
			    "keeps before its packets; edgecap does not capture it",
			    name, type);
			return -EPROTONOSUPPORT;
		}
		dlt = ECAP_LINKTYPE_LINUX_SLL;
		break;
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
