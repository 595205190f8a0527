/* mux.h - capture streams from several devices in, one merged pcapng out:
 * each input's bytes go through its own stream reader (pcapng_reader.h), its
 * packets through the merger (merge.h), and its interfaces become interface
 * blocks of the output named LABEL:IFACE. The interface statistics the
 * inputs send at their ends are kept and written, with the totals, as ISBs
 * once every input is done, so they follow the last packets. Used by
 * edgecap-server for live captures and by `edgecap merge` for files.
 *
 * The output is a buffer of bytes (srv_mux_out), or, by reference
 * (srv_mux_by_ref), a list of pieces: the inputs' packets where they were
 * read (slabs, common/slab.h), their blocks passed on as they came with
 * only the interface id rewritten in place where the block is as the mux
 * would write it, and slabs of what the mux writes itself (headers,
 * statistics, packets it has to write anew: a late one's comment, another
 * byte order or time unit). */
#ifndef SRV_MUX_H
#define SRV_MUX_H

#include <stddef.h>
#include <stdint.h>

#include "core/merge.h"
#include "common/pcapng.h"
#include "common/slab.h"

struct srv_mux;

struct srv_mux_input_stats {
	uint64_t bytes;	     /* of stream read */
	uint64_t packets;    /* read */
	uint64_t duplicates; /* of its packets, dropped as another input's */
	uint64_t ifdrop;     /* the device's ISBs: dropped in the kernel ring */
	uint64_t osdrop;     /* ... and in its user space (a slow reader) */
	uint32_t ifaces;
	int stats_seen; /* the input sent its ISBs: it ended complete */
};

/* NULL opts: the merger's defaults. userappl: the SHB's shb_userappl. */
struct srv_mux *srv_mux_new(const struct srv_merge_opts *o, const char *userappl);
void srv_mux_free(struct srv_mux *x);
/* A new input: its index, or -ENOSPC / -ENOMEM. label names its interfaces
 * (copied). */
int srv_mux_add(struct srv_mux *x, const char *label);
/* A new input that carries several devices' packets: a part of the
 * capture another server's mux put in order for it, not de-duplicated
 * (docs/scale.md), its interfaces named DEVICE:IFACE there. Each keeps
 * its name, its IDB's and ISB's comments, and is its device's for
 * de-duplication (merge.h's sources): the output is what one mux of every
 * device would write. devs: the devices' names (copied). Its index, or
 * -ENOSPC / -ENOMEM. */
int srv_mux_add_part(struct srv_mux *x, const char *label, const char *const *devs, unsigned n);
/* Duplicates dropped of the part's k-th device's packets. */
uint64_t srv_mux_part_duplicates(const struct srv_mux *x, unsigned in, unsigned k);
/* The input's clock is shift_ns ahead of the server's: its packets' and
 * statistics' timestamps are taken back by it (placed on the server's time
 * line), and note (NULL: none) goes on its interfaces' IDBs as a comment.
 * Before its stream: 0, -EINVAL, -ENOMEM. */
int srv_mux_clock(struct srv_mux *x, unsigned in, int64_t shift_ns, const char *note);
/* Bytes of an input's stream. 0, or -EINVAL / -ENOMEM with the reason in
 * srv_mux_error; the input is then closed. */
int srv_mux_feed(struct srv_mux *x, unsigned in, const void *data, size_t len);
/* The same without a copy (pcapng_reader.h: srv_pcapng_parse): the bytes the
 * complete blocks at the start of data took, which the caller may drop; it
 * passes the rest again with what follows. Or -EINVAL / -ENOMEM as feed.
 * An input is read either by this or by srv_mux_feed. */
long srv_mux_take(struct srv_mux *x, unsigned in, const void *data, size_t len);
/* The same with the bytes in a slab: its packets are kept there by
 * reference (each holds one on s) until they are sent or dropped. Only by
 * reference (srv_mux_by_ref). */
long srv_mux_take_slab(struct srv_mux *x, unsigned in, struct ecap_slab *s, const void *data,
		       size_t len);
/* Bounds on what an input's stream may hold (pcapng_reader.h: the largest
 * block, interfaces over the stream, sections; 0: none). Past one, the
 * input fails with the reason in srv_mux_error. */
void srv_mux_bound(struct srv_mux *x, unsigned in, uint32_t block_max, uint32_t ifaces_max,
		   uint32_t sections_max);
/* The input's stream ended. lost: why it ended early (its ISBs carry it as
 * a comment), or NULL. 0, or -EINVAL when it ended inside a block. */
int srv_mux_close(struct srv_mux *x, unsigned in, const char *lost);
/* The input is cut short on purpose (the capture was stopped), or ended
 * without statistics while stopping: no checks; its interfaces' ISBs say
 * the device's statistics did not come. */
void srv_mux_stop(struct srv_mux *x, unsigned in);
const char *srv_mux_error(const struct srv_mux *x, unsigned in);
/* Send at most count packets, and packet blocks of at most bytes in all
 * (each 0: no limit); what comes after either is dropped. srv_mux_full
 * says which was reached: 0, SRV_MUX_FULL_COUNT or SRV_MUX_FULL_BYTES. */
enum { SRV_MUX_FULL_COUNT = 1, SRV_MUX_FULL_BYTES };
void srv_mux_limit(struct srv_mux *x, uint64_t count, uint64_t bytes);
int srv_mux_full(const struct srv_mux *x);
/* The input's connection had bytes at now_ns (merge.h: srv_merge_heard). */
void srv_mux_heard(struct srv_mux *x, unsigned in, int64_t now_ns);
/* The input's buffers are full (merge.h: srv_merge_squeeze). */
void srv_mux_squeeze(struct srv_mux *x, unsigned in, int on);
/* Send what the merger allows (merge.h: srv_merge_run). */
void srv_mux_run(struct srv_mux *x, int64_t now_ns);
/* A part's output: a mark block (pcapng_reader.h) with the merger's
 * horizon, once it has one: the receiving mux holds its other inputs back
 * no further for this one's devices than one mux of them all would,
 * though no packet came; and, hearing it, no less (a device that is heard
 * holds the horizon, and the part, back). The horizon (INT64_MIN / INT64_MAX: none, nothing
 * marked). */
int64_t srv_mux_mark(struct srv_mux *x, int64_t now_ns);
/* Every input done: the rest of the packets, then the ISBs. */
void srv_mux_finish(struct srv_mux *x);
/* The merged pcapng produced so far: the owner writes it out and resets it.
 * By reference, only its err counts (sticky: out of memory). */
struct ecap_buf *srv_mux_out(struct srv_mux *x);

/* By reference: the output as pieces, what the mux writes itself in slabs
 * of gen (which it takes up to gen's limit: past it the output's err is
 * -ENOMEM). Right after srv_mux_new. */
void srv_mux_by_ref(struct srv_mux *x, struct ecap_slab_pool *gen);
struct srv_mux_iov {
	const uint8_t *base;
	size_t len;
	struct ecap_slab *slab; /* one reference, for this piece */
};
/* Up to n pieces of the output so far, in order, into ret, with their
 * references: how many. */
size_t srv_mux_take_out(struct srv_mux *x, struct srv_mux_iov *ret, size_t n);
void srv_mux_stats(const struct srv_mux *x, struct srv_merge_stats *ret);
void srv_mux_input_stats(const struct srv_mux *x, unsigned in, struct srv_mux_input_stats *ret);

#endif
