/* tun.c - the management network's TUN device and batched UDP sends, see
 * mtun.h. */
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

void mtun_socket_buffers(int fd, int bytes)
{
	/* past net.core.[rw]mem_max where we may (CAP_NET_ADMIN) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

void mtun_sendq_flush(struct mtun_sendq *q)
{
	struct mmsghdr m[MTUN_SENDQ];
	struct iovec iov[MTUN_SENDQ];
	unsigned done = 0;

	for (unsigned i = 0; i < q->n; i++) {
		iov[i] = (struct iovec){q->buf[i], q->len[i]};
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &q->to[i],
						    .msg_namelen = sizeof(q->to[i]),
						    .msg_iov = &iov[i],
						    .msg_iovlen = 1}};
	}
	while (done < q->n) {
		int r = sendmmsg(q->fd, m + done, q->n - done, MSG_DONTWAIT);

		if (r <= 0) { /* the first unsent one fails: skip it, go on */
			q->errors++;
			r = 1;
		}
		done += (unsigned)r;
	}
	q->n = 0;
}

void mtun_sendq_add(struct mtun_sendq *q, const struct sockaddr_in *to, const void *dg, size_t len)
{
	if (q->n == MTUN_SENDQ)
		mtun_sendq_flush(q);
	q->to[q->n] = *to;
	q->len[q->n] = (uint16_t)len;
	memcpy(q->buf[q->n++], dg, len);
}

static void set_addr(struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;

	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(addr);
}

/* IPv4 only inside the tunnel: no IPv6 neighbour discovery or MLD over it. */
static int disable_ipv6(const char *name)
{
	char path[96];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, "1", 1);
	close(fd);
	return n == 1 ? 0 : -EIO;
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
	step = "set the queue length";
	ifr.ifr_qlen = 4096; /* bursts while the tunnel's reader is busy */
	if (ioctl(s, SIOCSIFTXQLEN, &ifr))
		goto fail;
	step = "bring it up";
	if (ioctl(s, SIOCGIFFLAGS, &ifr))
		goto fail;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		goto fail;
	close(s);
	disable_ipv6(name); /* best effort: a kernel without IPv6 has none to disable */
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
