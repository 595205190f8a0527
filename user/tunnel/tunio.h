/* tunio.h - the mTunnel's I/O: the TUN device of the management network,
 * datagrams gathered into few UDP sends, socket buffers. */
#ifndef ECAP_MTUN_TUNIO_H
#define ECAP_MTUN_TUNIO_H

#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tunnel/wire.h"

/* Datagrams to send, gathered so that one sendmmsg carries many (and one
 * UDP GSO message the runs of equal ones to one peer): add them, then flush
 * before the event loop sleeps. */
#define MTUN_SENDQ 64
struct mtun_sendq {
	int fd;
	unsigned n;
	uint64_t errors; /* not sent (a full socket buffer): the link sends them again */
	int no_gso;	 /* the path refused UDP GSO: one datagram a message */
	struct sockaddr_in to[MTUN_SENDQ];
	uint16_t len[MTUN_SENDQ];
	uint8_t buf[MTUN_SENDQ][MTUN_DGRAM_MAX];
};
/* Queue one datagram for to (copied); flushes when the queue is full. */
void mtun_sendq_add(struct mtun_sendq *q, const struct sockaddr_in *to, const void *dg, size_t len);
void mtun_sendq_flush(struct mtun_sendq *q);

/* Socket buffers of bytes each way: a whole window may arrive, or be sent
 * again, in one burst, and a datagram lost to a full buffer costs a
 * go-back-N round. */
void mtun_socket_buffers(int fd, int bytes);

/* A TUN device named name, up, with the address addr/prefix (host order)
 * and MTU MTUN_MTU: its non-blocking fd, or -errno with err set. It goes
 * away when the fd is closed. Each packet comes and goes with a
 * virtio_net_hdr (little-endian), and the kernel hands over TCP segments up
 * to 64 KiB with their checksum still to compute, as to a NIC with TSO: one
 * read and one write per 64 KiB instead of per 1400 bytes. */
int mtun_tun_open(const char *name, uint32_t addr, int prefix, char *err, size_t errlen);
/* One packet from the TUN into pkt (MTUN_PKT_MAX bytes) and its offload
 * header into vh: its length, or -errno (-EAGAIN: none waits). */
ssize_t mtun_tun_read(int fd, struct virtio_net_hdr *vh, uint8_t *pkt);
/* One packet to the TUN: 0 or -errno. */
int mtun_tun_write(int fd, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len);

#endif
