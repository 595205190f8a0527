/* vlan.c - see vlan.h. The features come by name through the ethtool ioctl
 * (ETHTOOL_GSSET_INFO, ETHTOOL_GSTRINGS, ETHTOOL_GFEATURES), the names the
 * kernel gives them in its feature string set; no netlink library needed. */
#include "capture/vlan.h"

#include <errno.h>
#include <linux/ethtool.h>
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

int ecap_vlan_hidden_from_xdp(int ifindex)
{
	static const char *const wanted[] = {"rx-vlan-hw-parse", "rx-vlan-stag-hw-parse"};
	struct {
		struct ethtool_sset_info info;
		uint32_t len;
	} sset = {.info = {.cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ull << ETH_SS_FEATURES}};
	struct ethtool_drvinfo drv = {.cmd = ETHTOOL_GDRVINFO};
	struct ethtool_gstrings *names = NULL;
	struct ethtool_gfeatures *feat = NULL;
	char ifname[IF_NAMESIZE];
	uint32_t n, blocks;
	int fd = -1, r, on = 0;

	if (!if_indextoname((unsigned)ifindex, ifname))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = ethtool(fd, ifname, &drv);
	if (!r && !strcmp(drv.driver, "veth")) {
		r = 1; /* whatever its own features say */
		goto out;
	}
	r = ethtool(fd, ifname, &sset);
	if (r)
		goto out;
	n = sset.len;
	if (!(sset.info.sset_mask & (1ull << ETH_SS_FEATURES)) || !n || n > FEATURES_MAX) {
		r = -EOPNOTSUPP;
		goto out;
	}
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

		for (size_t w = 0; w < sizeof(wanted) / sizeof(wanted[0]); w++)
			if (!strncmp(s, wanted[w], ETH_GSTRING_LEN) &&
			    feat->features[i / 32].active & (1u << (i % 32)))
				on = 1;
	}
	r = on;
out:
	free(names);
	free(feat);
	if (fd >= 0)
		close(fd);
	return r;
}

int ecap_vlan_tx_offload(int ifindex)
{
	static const char *const wanted[] = {"tx-vlan-hw-insert", "tx-vlan-stag-hw-insert"};
	struct {
		struct ethtool_sset_info info;
		uint32_t len;
	} sset = {.info = {.cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ull << ETH_SS_FEATURES}};
	struct ethtool_gstrings *names = NULL;
	struct ethtool_gfeatures *feat = NULL;
	char ifname[IF_NAMESIZE];
	uint32_t n, blocks;
	int fd = -1, r, on = 0;

	if (!if_indextoname((unsigned)ifindex, ifname))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = ethtool(fd, ifname, &sset);
	if (r)
		goto out;
	n = sset.len;
	if (!(sset.info.sset_mask & (1ull << ETH_SS_FEATURES)) || !n || n > FEATURES_MAX) {
		r = -EOPNOTSUPP;
		goto out;
	}
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

		for (size_t w = 0; w < sizeof(wanted) / sizeof(wanted[0]); w++)
			if (!strncmp(s, wanted[w], ETH_GSTRING_LEN) &&
			    feat->features[i / 32].active & (1u << (i % 32)))
				on |= 1 << w;
	}
	r = on;
out:
	free(names);
	free(feat);
	if (fd >= 0)
		close(fd);
	return r;
}
