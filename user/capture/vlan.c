/* vlan.c - see vlan.h. The features come by name through the ethtool ioctl
 * (ETHTOOL_GSSET_INFO, ETHTOOL_GSTRINGS, ETHTOOL_GFEATURES), the names the
 * kernel gives them in its feature string set; what a driver's XDP can read
 * of its receive metadata comes from the netdev generic netlink family. No
 * netlink library needed. */
#include "capture/vlan.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel has about 70 features; anything past this is not believed. */
#define FEATURES_MAX 1024

static int ethtool(int fd, const char *name, void *data)
{
	struct ifreq ifr = {.ifr_data = data};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	return ioctl(fd, SIOCETHTOOL, &ifr) ? -errno : 0;
}

/* Which of the named features (ethtool's strings) are on: bit w for
 * wanted[w], or -errno. fd: a socket for the ioctl. */
static int features_on(int fd, const char *ifname, const char *const *wanted, size_t nwanted)
{
	struct {
		struct ethtool_sset_info info;
		uint32_t len;
	} sset = {.info = {.cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ull << ETH_SS_FEATURES}};
	struct ethtool_gstrings *names = NULL;
	struct ethtool_gfeatures *feat = NULL;
	uint32_t n, blocks;
	int r, on = 0;

	r = ethtool(fd, ifname, &sset);
	if (r)
		return r;
	n = sset.len;
	if (!(sset.info.sset_mask & (1ull << ETH_SS_FEATURES)) || !n || n > FEATURES_MAX)
		return -EOPNOTSUPP;
	blocks = (n + 31) / 32;
	names = calloc(1, sizeof(*names) + (size_t)n * ETH_GSTRING_LEN);
	feat = calloc(1, sizeof(*feat) + blocks * sizeof(feat->features[0]));
	if (!names || !feat) {
		r = -ENOMEM;
		goto out;
	}
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_FEATURES;
	names->len = n;
	feat->cmd = ETHTOOL_GFEATURES;
	feat->size = blocks;
	r = ethtool(fd, ifname, names);
	if (!r)
		r = ethtool(fd, ifname, feat);
	if (r)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		const char *s = (const char *)names->data + (size_t)i * ETH_GSTRING_LEN;

		for (size_t w = 0; w < nwanted; w++)
			if (!strncmp(s, wanted[w], ETH_GSTRING_LEN) &&
			    feat->features[i / 32].active & (1u << (i % 32)))
				on |= 1 << w;
	}
	r = on;
out:
	free(names);
	free(feat);
	return r;
}

int ecap_vlan_hidden_from_xdp(int ifindex)
{
	static const char *const wanted[] = {"rx-vlan-hw-parse", "rx-vlan-stag-hw-parse"};
	struct ethtool_drvinfo drv = {.cmd = ETHTOOL_GDRVINFO};
	char ifname[IF_NAMESIZE];
	int fd, r;

	if (!if_indextoname((unsigned)ifindex, ifname))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = ethtool(fd, ifname, &drv);
	if (!r && !strcmp(drv.driver, "veth"))
		r = 1; /* whatever its own features say */
	else if ((r = features_on(fd, ifname, wanted, 2)) > 0)
		r = 1;
	close(fd);
	return r;
}

int ecap_vlan_tx_offload(int ifindex)
{
	static const char *const wanted[] = {"tx-vlan-hw-insert", "tx-vlan-stag-hw-insert"};
	char ifname[IF_NAMESIZE];
	int fd, r;

	_Static_assert(ECAP_VLAN_TX_CTAG == 1 && ECAP_VLAN_TX_STAG == 2, "bits as wanted[]");
	if (!if_indextoname((unsigned)ifindex, ifname))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = features_on(fd, ifname, wanted, 2);
	close(fd);
	return r;
}

/* The netdev generic netlink family (Linux 6.3; the VLAN bit 6.8), by
 * number: the system's headers may predate it. */
#define NETDEV_FAMILY			      "netdev"
#define NETDEV_CMD_DEV_GET		      1
#define NETDEV_A_DEV_IFINDEX		      1
#define NETDEV_A_DEV_XDP_RX_METADATA_FEATURES 5
#define NETDEV_XDP_RX_METADATA_VLAN_TAG	      4

#define NL_BUF 4096

struct nl_req {
	struct nlmsghdr n;
	struct genlmsghdr g;
	char attrs[64];
};

/* Append one attribute to the request. */
static void nl_put(struct nl_req *q, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)((char *)q + NLMSG_ALIGN(q->n.nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	q->n.nlmsg_len = NLMSG_ALIGN(q->n.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Send q, receive the one answer into buf: its generic netlink payload
 * (attributes) and length, or -errno (the kernel's error). */
static int nl_ask(int fd, struct nl_req *q, char *buf, const struct nlattr **ret, size_t *ret_len)
{
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	ssize_t n;

	if (send(fd, q, q->n.nlmsg_len, 0) < 0)
		return -errno;
	n = recv(fd, buf, NL_BUF, 0);
	if (n < 0)
		return -errno;
	if (!NLMSG_OK(h, (size_t)n))
		return -EBADMSG;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		return h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EBADMSG;
	}
	if (h->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return -EBADMSG;
	*ret = (const struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
	*ret_len = h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	return 0;
}

/* The attribute `type` among len bytes of them, or NULL. */
static const struct nlattr *nl_find(const struct nlattr *a, size_t len, uint16_t type)
{
	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len) {
		size_t step = NLA_ALIGN(a->nla_len);

		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		if (step >= len)
			break;
		len -= step;
		a = (const struct nlattr *)((const char *)a + step);
	}
	return NULL;
}

int ecap_vlan_xdp_metadata(int ifindex)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	struct nl_req q = {.n = {.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN),
				 .nlmsg_type = GENL_ID_CTRL,
				 .nlmsg_flags = NLM_F_REQUEST},
			   .g = {.cmd = CTRL_CMD_GETFAMILY, .version = 1}};
	const struct nlattr *a, *at;
	uint32_t idx = (uint32_t)ifindex;
	uint64_t features = 0;
	uint16_t family;
	size_t len;
	char *buf;
	int fd = -1, r;

	buf = malloc(NL_BUF);
	if (!buf)
		return -ENOMEM;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&kernel, sizeof(kernel))) {
		r = -errno;
		goto out;
	}
	nl_put(&q, CTRL_ATTR_FAMILY_NAME, NETDEV_FAMILY, sizeof(NETDEV_FAMILY));
	r = nl_ask(fd, &q, buf, &a, &len);
	if (r == -ENOENT) { /* no such family: before Linux 6.3 */
		r = 0;
		goto out;
	}
	if (r)
		goto out;
	at = nl_find(a, len, CTRL_ATTR_FAMILY_ID);
	if (!at || at->nla_len < NLA_HDRLEN + sizeof(family)) {
		r = -EBADMSG;
		goto out;
	}
	memcpy(&family, (const char *)at + NLA_HDRLEN, sizeof(family));
	q = (struct nl_req){.n = {.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN),
				  .nlmsg_type = family,
				  .nlmsg_flags = NLM_F_REQUEST},
			    .g = {.cmd = NETDEV_CMD_DEV_GET, .version = 1}};
	nl_put(&q, NETDEV_A_DEV_IFINDEX, &idx, sizeof(idx));
	r = nl_ask(fd, &q, buf, &a, &len);
	if (r)
		goto out;
	/* absent before Linux 6.3's drivers reported it: none */
	at = nl_find(a, len, NETDEV_A_DEV_XDP_RX_METADATA_FEATURES);
	if (at && at->nla_len >= NLA_HDRLEN + sizeof(features))
		memcpy(&features, (const char *)at + NLA_HDRLEN, sizeof(features));
	r = !!(features & NETDEV_XDP_RX_METADATA_VLAN_TAG);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}
