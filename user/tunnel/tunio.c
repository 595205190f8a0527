/* tunio.c - the management network's TUN device and batched UDP sends, see
 * tunio.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tunnel/route.h"
#include "tunnel/tunio.h"

void mtun_socket_buffers(int fd, int bytes)
{
	/* past net.core.[rw]mem_max where we may (CAP_NET_ADMIN) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

#define GSO_SEGS  64	/* UDP_MAX_SEGMENTS on 6.1 */
#define GSO_BYTES 65507 /* what one UDP datagram can hold */

static int same_peer(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* Consecutive datagrams to one peer, all as long as the first but the last,
 * go as one UDP GSO send: the stack is walked once for them all and the
 * kernel cuts them apart at the end (on the NIC where it can). */
void mtun_sendq_flush(struct mtun_sendq *q)
{
	struct mmsghdr m[MTUN_SENDQ];
	struct iovec iov[MTUN_SENDQ];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[MTUN_SENDQ];
	unsigned first[MTUN_SENDQ + 1], done = 0;

	for (unsigned i = 0; i < q->n; i++)
		iov[i] = (struct iovec){q->buf[i], q->len[i]};
	while (done < q->n) {
		unsigned nm = 0;
		int r;

		for (unsigned i = done; i < q->n; nm++) {
			unsigned j = i + 1;
			size_t bytes = q->len[i];

			while (!q->no_gso && j < q->n && j - i < GSO_SEGS &&
			       q->len[j - 1] == q->len[i] && q->len[j] <= q->len[i] &&
			       bytes + q->len[j] <= GSO_BYTES && same_peer(&q->to[j], &q->to[i]))
				bytes += q->len[j++];
			first[nm] = i;
			m[nm] = (struct mmsghdr){.msg_hdr = {.msg_name = &q->to[i],
							     .msg_namelen = sizeof(q->to[i]),
							     .msg_iov = &iov[i],
							     .msg_iovlen = j - i}};
			if (j - i > 1) {
				struct cmsghdr *c = &ctl[nm].align;

				c->cmsg_level = SOL_UDP;
				c->cmsg_type = UDP_SEGMENT;
				c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
				*(uint16_t *)CMSG_DATA(c) = q->len[i];
				m[nm].msg_hdr.msg_control = ctl[nm].buf;
				m[nm].msg_hdr.msg_controllen = sizeof(ctl[nm].buf);
			}
			i = j;
		}
		first[nm] = q->n;
		r = sendmmsg(q->fd, m, nm, MSG_DONTWAIT);
		if (r > 0) {
			done = first[r];
			continue;
		}
		/* the first message fails: a device without checksum offload or
		 * a path MTU below a datagram (EIO, EINVAL) rules GSO out for
		 * good, then it goes again; else it is skipped (the link sends it
		 * again) */
		if (m[0].msg_hdr.msg_iovlen > 1 && (errno == EIO || errno == EINVAL)) {
			q->no_gso = 1;
			continue;
		}
		q->errors += first[1] - first[0];
		done = first[1];
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

int mtun_tun_open(const char *name, uint32_t addr, int prefix, char *err, size_t errlen)
{
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR};
	const char *step = "open /dev/net/tun";
	int fd = -1, s = -1, r, le = 1;

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
	step = "little-endian offload headers";
	if (ioctl(fd, TUNSETVNETLE, &le))
		goto fail;
	/* TCP segments up to 64 KiB, checksums left to the receiver; without
	 * (an old kernel) packets come one MTU at a time, which works too */
	ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4);
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
	/* IPv4 only inside the tunnel: no IPv6 neighbour discovery or MLD
	 * over it (best effort: a kernel without IPv6 has none to disable) */
	mtun_conf_on("ipv6", name, "disable_ipv6");
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

ssize_t mtun_tun_read(int fd, struct virtio_net_hdr *vh, uint8_t *pkt)
{
	struct iovec iov[2] = {{vh, sizeof(*vh)}, {pkt, MTUN_PKT_MAX}};
	ssize_t n = readv(fd, iov, 2);

	if (n < 0)
		return -errno;
	return n < (ssize_t)sizeof(*vh) ? -EIO : n - (ssize_t)sizeof(*vh);
}

int mtun_tun_write(int fd, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len)
{
	struct iovec iov[2] = {{(void *)vh, sizeof(*vh)}, {(void *)pkt, len}};

	return writev(fd, iov, 2) < 0 ? -errno : 0;
}
