/* capture.h - layouts shared by the capture hooks (capture.bpf.c), the
 * session programs generated in user space, and the streamer. Fixed-width
 * types and explicit padding only; user code pins the sizes. */
#ifndef ECAP_CAPTURE_H
#define ECAP_CAPTURE_H

#include <linux/types.h>

#define ECAP_MAX_SESSIONS 8

/* Each hook tail-calls into one slot; the program there runs every active
 * session's filter and is swapped with one map update when sessions change.
 * XDP and TC programs cannot share a PROG_ARRAY (its owner type is fixed by
 * the first program that uses it), hence two arrays. */
#define ECAP_TC_SLOT_INGRESS 0
#define ECAP_TC_SLOT_EGRESS  1
#define ECAP_TC_SLOTS	     2

/* Which hook saw the packet. */
#define ECAP_HOOK_ID_XDP    0
#define ECAP_HOOK_ID_TC_IN  1
#define ECAP_HOOK_ID_TC_OUT 2
#define ECAP_HOOKS	    3

/* A session lists at most this many interfaces (none: all of the hooks'). */
#define ECAP_MAX_SESSION_IFACES 16

/* Counters are kept per session, hook, and position of the packet's
 * interface in the session's list (0 for a session without a list), so that
 * each interface's statistics block carries its own counts. */
#define ECAP_COUNTERS_KEY(session, hook, iface)                                                    \
	(((session)*ECAP_HOOKS + (hook)) * ECAP_MAX_SESSION_IFACES + (iface))
#define ECAP_COUNTERS_ENTRIES (ECAP_MAX_SESSIONS * ECAP_HOOKS * ECAP_MAX_SESSION_IFACES)

/* Direction, with pcapng's epb_flags values. */
#define ECAP_DIR_IN  1
#define ECAP_DIR_OUT 2

/* One ring buffer record: which session and direction, then the packet as a
 * complete pcapng Enhanced Packet Block (host byte order, as pcapng
 * writers use): this header, caplen bytes of data, zeros to a multiple of
 * 4, an epb_flags option with the direction, opt_endofopt and block_len
 * again. The record may be longer (reservations come in size classes). */
struct ecap_rec {
	__u8 session;
	__u8 dir;
	__u16 pad;
	__u32 block_type; /* 6 */
	__u32 block_len;  /* ECAP_EPB_LEN(caplen) */
	__u32 if_id;	  /* ECAP_IDB_ID(position of the interface, dirs, dir) */
	__u32 ts_high;	  /* wall clock ns: bpf_ktime_get_boot_ns() + ecap_clock */
	__u32 ts_low;
	__u32 caplen;
	__u32 wirelen;
};

#define ECAP_EPB_TYPE	     6 /* pcapng block type */
#define ECAP_EPB_OPT_FLAGS   2 /* the epb_flags option's code */
#define ECAP_EPB_LEN(caplen) (28 + (((caplen) + 3) & ~3u) + 16)

/* A stream's interface blocks: for each interface of the session, in order,
 * one for each direction it captures (pcap output numbers them too). */
#define ECAP_IDB_ID(position, dirs, dir)                                                           \
	((position) * (1 + ((dirs) == (ECAP_DIR_IN | ECAP_DIR_OUT))) +                             \
	 ((dirs) == (ECAP_DIR_IN | ECAP_DIR_OUT)) * ((dir)-1))

/* Per CPU, per session, hook and interface. */
struct ecap_counters {
	__u64 seen;	/* packets the session's filter ran on */
	__u64 matched;	/* the filter accepted */
	__u64 captured; /* written to the ring buffer */
	__u64 dropped;	/* accepted but the ring buffer was full */
};

#endif
