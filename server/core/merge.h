/* merge.h - merges packet streams from several devices into one, in
 * timestamp order, keeping a packet seen by several devices once.
 *
 * Ordering. Each input's packets are kept sorted as they arrive (a device's
 * stream is nearly ordered already: records from several CPUs share one
 * ring). A packet goes out once every input still open has shown a later
 * timestamp (its high mark), minus `slack` for an input's own disorder. An
 * input that has been silent does not hold the others back for more than
 * `window`: its mark is taken as at least now - window. Silent means not
 * heard from (srv_merge_heard: bytes came or waited on its connection) for
 * the window, not packets older than the window: a device's packets may
 * wait in the network and in socket buffers for longer than that while it
 * streams, and the others' must not pass them. A packet older than one
 * already sent is late: sent at once, flagged and counted, never dropped.
 *
 * Duplicates. A packet's key is XXH3-128 of it from the network header on,
 * with link-layer and 802.1Q/802.1ad headers skipped and the IPv4 TTL and
 * header checksum (IPv6: hop limit) zeroed, so one packet seen on two
 * devices, or either side of a router, has one key. A packet whose key was
 * sent from another input within `dedup` before it is a duplicate: dropped
 * and counted. The same key from the same input is not (a device may see a
 * packet twice, e.g. in on one interface and out on another). An input
 * may carry several devices' packets (a stream another merger put in
 * order, not de-duplicated: docs/scale.md); each interface of it is then
 * given its device's source, and sources are compared instead, so that the
 * result is what one merger of every device would give.
 *
 * Memory. Past `max_bytes` of packet data held, the oldest go out even if
 * an input lags (counted as forced). An input whose reader has no room
 * left for more of it (srv_merge_squeeze) cannot show a later mark until
 * some of its packets go: its slack holds none of them back then. A packet is copied in, or pushed
 * by reference: its bytes stay the caller's (where it read them) until it is emitted or dropped. */
#ifndef SRV_MERGE_H
#define SRV_MERGE_H

#include <stddef.h>
#include <stdint.h>

#define SRV_MERGE_INPUTS_MAX  1024
#define SRV_MERGE_SOURCES_MAX 4096

struct srv_merge_opts {
	int64_t window_ns; /* default 500 ms */
	int64_t slack_ns;  /* default 2 ms */
	int64_t dedup_ns;  /* default 100 ms; < 0: no de-duplication */
	size_t max_bytes;  /* default 256 MiB */
};

struct srv_merge_pkt {
	int64_t ts; /* ns since the epoch */
	uint32_t input, iface, flags;
	uint32_t caplen, wirelen;
	uint16_t linktype;
	uint8_t late;	     /* older than a packet already sent */
	uint8_t tag;	     /* srv_merge_push_ref's, as given */
	const uint8_t *data; /* the merger's copy (right after), or the caller's bytes */
};

/* srv_merge_push_ref's ref, as given; NULL for a copy. (Kept after the
 * header, where a copy's bytes go: `edgecap merge` feels every byte a
 * packet's header takes.) */
static inline void *srv_merge_pkt_ref(const struct srv_merge_pkt *p)
{
	return p->data != (const uint8_t *)(p + 1) ? *(void *const *)(p + 1) : NULL;
}

struct srv_merge_stats {
	uint64_t merged;     /* sent */
	uint64_t duplicates; /* dropped as another input's packet */
	uint64_t late;	     /* sent out of order */
	uint64_t forced;     /* sent before every input had caught up: memory bound */
};

struct srv_merge;

/* Called for each packet sent, in order; p is valid during the call. */
typedef void srv_merge_emit_fn(void *ctx, const struct srv_merge_pkt *p);
/* Called for each packet pushed by reference that is dropped instead (a
 * duplicate, or still held when the merger is freed). */
typedef void srv_merge_drop_fn(void *ctx, const struct srv_merge_pkt *p);

/* NULL opts: the defaults. */
struct srv_merge *srv_merge_new(const struct srv_merge_opts *o, srv_merge_emit_fn *emit, void *ctx);
void srv_merge_free(struct srv_merge *m);
/* A new input: its index, or -ENOSPC / -ENOMEM. */
int srv_merge_add_input(struct srv_merge *m);
/* Copy a packet in. 0 or -ENOMEM / -EINVAL. */
int srv_merge_push(struct srv_merge *m, unsigned input, int64_t ts, uint32_t iface,
		   uint16_t linktype, uint32_t flags, const uint8_t *data, uint32_t caplen,
		   uint32_t wirelen);
/* The same by reference: data stays valid until the packet is emitted or
 * dropped; ref and tag come back with it. */
int srv_merge_push_ref(struct srv_merge *m, unsigned input, int64_t ts, uint32_t iface,
		       uint16_t linktype, uint32_t flags, const uint8_t *data, uint32_t caplen,
		       uint32_t wirelen, void *ref, uint8_t tag);
/* Who hears of packets pushed by reference and dropped (NULL: nobody). */
void srv_merge_on_drop(struct srv_merge *m, srv_merge_drop_fn *drop);
/* The input will push no packet older than ts (a part's mark, mux.h):
 * it holds the others back no further, as a packet at ts would. */
void srv_merge_mark(struct srv_merge *m, unsigned input, int64_t ts);
/* The timestamp every open input has shown (or been taken, silent) to be
 * past, less its slack: packets up to it have gone at the last run, and
 * those to come are later (or late). INT64_MIN / INT64_MAX: none yet / no
 * input open. */
int64_t srv_merge_horizon(const struct srv_merge *m, int64_t now_ns);
/* The input was heard from at now_ns (the wall clock srv_merge_run is
 * given): it is not silent until now_ns + window, however old its packets.
 * Inputs never heard from are judged by their packets alone. */
void srv_merge_heard(struct srv_merge *m, unsigned input, int64_t now_ns);
/* The input's reader cannot take more of it until some of its packets go
 * (its buffers are full of them), or can again (on 0): its own slack holds
 * none back, and they go up to its mark as far as the others allow,
 * counted as forced where the slack would have held them. */
void srv_merge_squeeze(struct srv_merge *m, unsigned input, int on);
/* The input has ended: it holds nothing back any more. */
void srv_merge_close_input(struct srv_merge *m, unsigned input);
/* Send what the marks allow. now_ns: wall clock for silent inputs, or
 * INT64_MIN for inputs that are never silent (files). */
void srv_merge_run(struct srv_merge *m, int64_t now_ns);
/* Send everything held. */
void srv_merge_flush(struct srv_merge *m);
void srv_merge_stats(const struct srv_merge *m, struct srv_merge_stats *ret);
/* A source for interfaces of an input that carries several devices'
 * packets: its number (from SRV_MERGE_INPUTS_MAX up), or -ENOSPC /
 * -ENOMEM. */
int srv_merge_add_source(struct srv_merge *m);
/* The packets of interface iface (srv_merge_pkt.iface) are source's:
 * duplicates are looked for among other sources' packets, and counted
 * for it. 0, -EINVAL, -ENOMEM. */
int srv_merge_iface_source(struct srv_merge *m, uint32_t iface, unsigned source);
/* Duplicates dropped of the source's packets. */
uint64_t srv_merge_source_duplicates(const struct srv_merge *m, unsigned source);
/* Per input: packets pushed, duplicates of it dropped. */
void srv_merge_input_stats(const struct srv_merge *m, unsigned input, uint64_t *ret_pushed,
			   uint64_t *ret_duplicates);

#endif
