/* reach.c - see reach.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/reach.h"
#include "tunnel/identity.h"

int srv_reach_parse(struct srv_reach *r, const char *key, const char *list, char *err,
		    size_t errlen)
{
	const char *p = list;

	r->n = 0;
	while (*p) {
		size_t len = strcspn(p, ", \t");
		char item[64], *slash, *end;
		struct srv_reach_net *n;
		unsigned long prefix;

		if (!len) {
			p++;
			continue;
		}
		if (len >= sizeof(item) || r->n == SRV_REACH_NETS_MAX)
			goto bad;
		memcpy(item, p, len);
		item[len] = 0;
		p += len;
		n = &r->nets[r->n];
		slash = strchr(item, '/');
		if (slash)
			*slash = 0;
		if (inet_pton(AF_INET, item, n->addr) == 1)
			n->family = AF_INET;
		else if (inet_pton(AF_INET6, item, n->addr) == 1)
			n->family = AF_INET6;
		else
			goto bad_item;
		n->prefix = n->family == AF_INET ? 32 : 128;
		if (slash) {
			errno = 0;
			prefix = strtoul(slash + 1, &end, 10);
			if (errno || end == slash + 1 || *end || prefix > n->prefix)
				goto bad_item;
			n->prefix = (unsigned)prefix;
		}
		r->n++;
		continue;
	bad_item:
		if (slash)
			*slash = '/';
		snprintf(err, errlen, "%s: '%s' is not an address or ADDRESS/PREFIX", key, item);
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: at most %d networks of up to 63 characters", key,
		 SRV_REACH_NETS_MAX);
	return -EINVAL;
}

static int in_net(const struct srv_reach_net *n, int family, const uint8_t *a)
{
	unsigned whole = n->prefix / 8, rest = n->prefix % 8;

	if (n->family != family || memcmp(n->addr, a, whole))
		return 0;
	return !rest || !((n->addr[whole] ^ a[whole]) & (0xff00 >> rest));
}

/* What a rule calls an IPv4 address (host order), NULL: no rule. */
static const char *v4_rule(uint32_t a)
{
	if (a >> 24 == 0)
		return "an unspecified address";
	if (a >> 24 == 127)
		return "a loopback address";
	if (a >> 16 == 0xa9fe)
		return "a link-local address";
	if (a >> 28 == 0xe)
		return "a multicast address";
	if (a >> 28 == 0xf)
		return "a broadcast or reserved address";
	return NULL;
}

static const char *v6_rule(const struct in6_addr *a)
{
	static const uint8_t metadata[16] = {0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54};

	if (!memcmp(a, metadata, 16))
		return "a cloud metadata address";
	if (IN6_IS_ADDR_UNSPECIFIED(a))
		return "an unspecified address";
	if (IN6_IS_ADDR_LOOPBACK(a))
		return "a loopback address";
	if (IN6_IS_ADDR_LINKLOCAL(a))
		return "a link-local address";
	if (IN6_IS_ADDR_MULTICAST(a))
		return "a multicast address";
	return NULL;
}

/* Is the address one of this host's (in its network namespace)? */
static int own_address(int family, const uint8_t *a)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (getifaddrs(&ifs))
		return 1; /* cannot tell: refuse rather than guess */
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != family)
			continue;
		if (family == AF_INET)
			found = !memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, 4);
		else
			found = !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a, 16);
	}
	freeifaddrs(ifs);
	return found;
}

int srv_reach_check(const struct srv_reach *r, const struct sockaddr *sa, uint32_t own_mgmt,
		    char *why, size_t len)
{
	char text[INET6_ADDRSTRLEN] = "?";
	const char *rule = NULL;
	uint8_t a[16];
	int family = sa->sa_family, listed = 0;
	uint32_t v4 = 0;

	if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};

		/* IPv4-mapped, and NAT64's well-known prefix: the IPv4 inside */
		if (IN6_IS_ADDR_V4MAPPED(a6) || !memcmp(a6->s6_addr, nat64, 12)) {
			family = AF_INET;
			memcpy(a, a6->s6_addr + 12, 4);
		} else {
			memcpy(a, a6, 16);
			rule = v6_rule(a6);
		}
	} else if (family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else {
		snprintf(why, len, "not an IP address");
		return -EACCES;
	}
	inet_ntop(family, a, text, sizeof(text));
	if (family == AF_INET) {
		memcpy(&v4, a, 4);
		v4 = ntohl(v4);
		if (v4 >> 24 == MTUN_NET >> 24) {
			if (own_mgmt && v4 == own_mgmt)
				return 0;
			snprintf(why, len,
				 "%s is in the management network: a device is reached there "
				 "only as https://tunnel:PORT",
				 text);
			return -EACCES;
		}
		rule = v4_rule(v4);
	}
	for (unsigned i = 0; i < r->n && listed < 2; i++)
		if (in_net(&r->nets[i], family, a))
			listed = r->nets[i].prefix == (family == AF_INET ? 32u : 128u) ? 2 : 1;
	if (listed == 2) /* the address itself: as the operator says */
		return 0;
	if (listed && !own_address(family, a))
		return 0;
	if (listed)
		rule = "this server's own address";
	else if (r->n)
		rule = "outside device_networks";
	else if (!rule && own_address(family, a))
		rule = "this server's own address";
	if (!rule)
		return 0;
	snprintf(why, len, "%s is %s", text, rule);
	return -EACCES;
}

int srv_reach_listed(const struct srv_reach *r, const char *addr)
{
	uint8_t a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, addr, a) != 1)
		return 0;
	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) {
		memmove(a, a + 12, 4); /* an IPv4 peer of a dual-stack listener */
		family = AF_INET;
	}
	for (unsigned i = 0; i < r->n; i++)
		if (in_net(&r->nets[i], family, a))
			return 1;
	return 0;
}
