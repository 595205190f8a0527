/* tun.c - the management network's TUN device, see mtun.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtun.h"

static void set_addr(struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;

	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(addr);
}

int mtun_tun_open(const char *name, uint32_t addr, int prefix, char *err, size_t errlen)
{
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
	const char *step = "open /dev/net/tun";
	int fd = -1, s = -1, r;

	if (strlen(name) >= IFNAMSIZ || prefix < 1 || prefix > 32) {
		snprintf(err, errlen, "TUN %s: bad name or prefix", name);
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	strcpy(ifr.ifr_name, name);
	step = "create";
	if (ioctl(fd, TUNSETIFF, &ifr))
		goto fail;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		goto fail;
	step = "set the address";
	set_addr(&ifr.ifr_addr, addr);
	if (ioctl(s, SIOCSIFADDR, &ifr))
		goto fail;
	set_addr(&ifr.ifr_netmask, prefix == 32 ? ~0u : ~((1u << (32 - prefix)) - 1));
	if (ioctl(s, SIOCSIFNETMASK, &ifr))
		goto fail;
	step = "set the MTU";
	ifr.ifr_mtu = MTUN_MTU;
	if (ioctl(s, SIOCSIFMTU, &ifr))
		goto fail;
	step = "bring it up";
	if (ioctl(s, SIOCGIFFLAGS, &ifr))
		goto fail;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		goto fail;
	close(s);
	return fd;
fail:
	r = -errno;
	snprintf(err, errlen, "TUN %s: %s: %s", name, step, strerror(errno));
	if (s >= 0)
		close(s);
	if (fd >= 0)
		close(fd);
	return r;
}
