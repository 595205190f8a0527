/* capture_int.h - what capture.c (a capture, its devices, its output)
 * and capture_part.c (the parts of a capture other servers merge for it,
 * docs/scale.md) share. Not for other rooms: capture.h is the interface. */
#ifndef SRV_CAPTURE_INT_H
#define SRV_CAPTURE_INT_H

#include <sys/uio.h>

#include "common/bounds.h"
#include "core/mux.h"
#include "service/capture.h"
#include "service/writer.h"

#define TICK_MS		  100
#define DB_EVERY_MS	  1000
#define END_GRACE_MS	  10000	    /* for devices to end after the duration */
#define REORDER_WINDOW_MS 500	    /* the merger's window (merge.h), for clock offsets */
#define STOP_WAIT_MS	  2000	    /* for devices to send their statistics after a stop */
#define NO_LIMIT_MS	  86400000u /* the silence limit of a capture without a duration */
#define SLAB_SIZE	  (2u << 20)
#define DEVICE_MEM	  (16u << 20) /* of a device's stream held at once, from read to written */
#define CAPTURE_MEM	  (128u << 20) /* of its devices' streams, shared out (2 slabs each at least) */
/* What an agent sends: one section, an interface block per interface and
 * direction, blocks no larger than a packet at the snaplen with its
 * options (a few hundred bytes; the rest is margin). */
#define STREAM_SECTIONS 1
#define STREAM_IFACES	(2 * ECAP_CAPTURE_IFACES_MAX)
#define BLOCK_SLACK	4096
#define BLOCK_MIN	(64u << 10)
#define GEN_MEM		(64u << 20) /* of what the mux writes itself, not yet written out */
#define SLABS_KEPT	(64u << 20) /* between captures */
#define HEAR_NS		100000000ll /* a device read this recently is not asked for bytes waiting */
#define JOBS		4	    /* writes to the file in flight: the writer never waits */
#define JOB_MAX		(2u << 20)  /* of output in one of them */
#define JOB_PIECES	SRV_CAPTURE_SEND_MAX
#define RETAIN		(4u << 20) /* of output in the file kept in memory for readers behind */
#define PIN_MAX		(4u << 20) /* of a capture's output its readers hold in their sends */

struct srv_captures {
	struct srv_captures_conf conf;
	struct srv_capture *live;	   /* running captures, and finished ones still read */
	h2o_timeout_t tick, zero;	   /* every capture's tick; a turn of the loop */
	struct srv_captures_stats ended;   /* what finished captures added up to */
	struct ecap_slab_cache slabs;	   /* the devices' streams are read into these */
	struct srv_writer *writer;	   /* the capture files' writes */
	struct srv_capture_prep *starting; /* prepared, not yet launched */
	unsigned completed;		   /* captures done (cs_completed) */
	char bytes_why[64];		   /* the log's words for conf.bytes_max */
	int closing;			   /* srv_captures_free: no more writes */
	int stopping;			   /* srv_captures_stop_all: no more captures */
};

struct dev_conn {
	struct srv_capture *l;
	unsigned input;
	struct reg_device d;
	struct ecap_httpc_dest dest;
	struct ecap_httpc_call call;
	struct ecap_slab_pool *pool; /* its stream is read into these */
	char *target;		     /* the signed request's path and query (one of targets) */
	char *headers;		     /* its Authorization */
	/* the request for each of the capture's programs (srv_capture_req) */
	char *targets[SRV_CAPTURE_LINKTYPES];
	char hdrs[SRV_CAPTURE_LINKTYPES][640];
	const char *linktypes[SRV_CAPTURE_LINKTYPES];
	unsigned tried;	   /* the requests sent, a bit each */
	const char *state; /* connecting, streaming, done, failed */
	int64_t heard;	   /* wall ns: the last read of its stream */
	char error[320];
	char reason[200];	/* a refusal's Edgecap-Error (on_head) */
	uint32_t mgmt;		/* its management address, when reached over the tunnel */
	char *hop;		/* starting: the address of the server that holds its tunnel */
	struct part_conn *part; /* that server's part, which streams it */
	unsigned part_k;	/* its place there */
};

/* A part: the devices whose tunnels one other server holds, merged there
 * in order and streamed here as one input (docs/scale.md). */
struct part_conn {
	struct srv_capture *l;
	unsigned input;
	char *url;	       /* the server's */
	unsigned *devs, ndevs; /* into l->devs */
	struct ecap_httpc_dest dest;
	struct ecap_httpc_call call;
	struct ecap_slab_pool *pool;
	char *target, *body;
	char headers[256];
	int64_t heard;
	char reason[200];
	int dest_ok, over;
	int no_input; /* the mux had no room for it: its devices failed at once */
};

struct srv_capture {
	struct srv_captures *cs;
	int64_t id, org;
	int fd;
	struct srv_mux *mux;
	struct ecap_slab_pool *gen; /* what the mux writes itself */
	struct dev_conn *devs;
	unsigned ndevs, open;
	struct ecap_httpc_ctx http; /* this capture's silence limit */
	h2o_timeout_entry_t tick, kick;
	uint64_t deadline, next_db; /* loop ms; deadline 0: none */
	int saving;		    /* a tick's write waits for the registry */
	uint64_t stop_at;	    /* stopping: devices still streaming are cut then */
	struct part_conn *parts;    /* this capture's, merged elsewhere */
	unsigned nparts;
	/* a part itself (srv_capture_part): no file, no row of its own; its
	 * output goes to out, its devices de-duplicated where it goes */
	int part;
	struct srv_capture_out *out;
	struct srv_capture_watch *watches;
	uint64_t unwatched_until; /* loop ms: no watch, one may come back till then; 0: none */
	const char *stop_why;	  /* a stop was asked for: kick runs it */
	const char *ended_by;	  /* with it, what the registry keeps (ask_stop) */
	int ending;		  /* the mux is finished: done once the file has it all */
	int done;
	char error[256];  /* the capture itself failed (its file) */
	uint64_t reserve; /* of the organization's storage, while it runs */
	int by_quota;	  /* reserve is below conf.bytes_max: the storage bounds it */
	struct srv_capture *next;
	size_t dev_mem; /* of slabs a device's stream may hold */
	/* The output in memory, pieces numbered from 0 as they come, in a
	 * ring: [first, writ) are in the file (kept for readers while they
	 * are behind, RETAIN bytes at most), [writ, sub) being written,
	 * [sub, last) not yet. */
	struct piece *q;
	size_t qcap; /* a power of two */
	uint64_t first, writ, sub, last;
	uint64_t end;	  /* bytes of output */
	uint64_t written; /* of them in the file */
	size_t pinned;	  /* bytes readers hold in their sends */
	uint64_t queued;  /* of them given to the writer */
	struct job *jobs; /* JOBS, [jhead, jhead + jn) in flight, oldest first */
	unsigned jhead, jn;
};

struct job {
	struct srv_write_job w;
	struct srv_capture *l;
	uint64_t pieces, bytes;
	struct iovec v[JOB_PIECES];
};

struct piece {
	uint64_t off; /* in the output */
	const uint8_t *base;
	size_t len;
	struct ecap_slab *slab; /* a reference for the piece */
};

static inline struct piece *cap_piece(struct srv_capture *l, uint64_t seq)
{
	return &l->q[seq & (l->qcap - 1)];
}

int64_t cap_wall_ns(void);
/* The output is all written: the capture is done (its row, its log). */
void cap_complete(struct srv_capture *l);

/* capture_out.c. The mux's output to memory, and on to the file (or the
 * part's receiver); the watches are woken. */
void cap_flush_out(struct srv_capture *l);
void cap_wake(struct srv_capture *l);
/* Stop the capture soon (on_kick). by: the registry's word; why: the log's. */
void cap_ask_stop(struct srv_capture *l, const char *by, const char *why);
/* Bytes of an input's stream, read where they lie (srv_mux_take_slab):
 * what it took, or -1 with error set (a malformed stream). */
long cap_take(struct srv_capture *l, unsigned input, int64_t *heard, struct ecap_slab *slab,
	      const uint8_t *p, size_t n, char *error, size_t errlen);
/* One of its connections (a device's, a part's) is over. */
void cap_closed(struct srv_capture *l);

/* capture_part.c. Devices whose tunnels other servers hold (dc->hop set):
 * one part each server, merged there (on the receiving side). */
void cap_parts_start(struct srv_capture *l, const struct srv_capture_req *c);
/* Each part's input heard from, or squeezed (run). */
void cap_parts_run(struct srv_capture *l, int64_t now);
/* Stopping: each part asked to end (on_kick); cut, past the wait (hung). */
void cap_parts_stop(struct srv_capture *l);
void cap_parts_cut(struct srv_capture *l, const char *why);
void cap_parts_free(struct srv_capture *l);

#endif
