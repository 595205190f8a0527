/* capture.h - captures while they run: one HTTP/1.1 stream from each
 * device's agent (common/httpc.h), each fed to the mux as it arrives, the
 * merged pcapng appended to DATA/ID.pcapng, and the readers that follow
 * that file woken as it grows. The readers themselves (HTTP responses) are
 * the API room's; here they are watches.
 *
 * A capture ends when every device's stream has ended (its limits), at its
 * packet count, at the byte limit of the server's configuration, when asked
 * to stop, at server shutdown, or when its last watch goes away (it had
 * one: someone was watching and stopped; a watch that comes back by itself
 * is waited for); the registry keeps which
 * (reg_capture.ended_by: count, bytes, duration, stopped, reader left,
 * server stopped, devices failed, devices done, error). A device
 * that cannot be reached, refuses or breaks off is marked failed with the
 * reason; the others go on. The registry holds each device's state and
 * counters, updated as they change and every second. */
#ifndef SRV_CAPTURE_H
#define SRV_CAPTURE_H

#include <stdint.h>
#include <sys/uio.h>

#include "common/httpc.h"
#include "service/reach.h"
#include "service/store.h"
#include "service/registry.h"

struct srv_captures; /* every capture of the server */
struct srv_capture;  /* one running (or finished and still read) */

struct srv_instance;
struct srv_captures_conf {
	h2o_loop_t *loop;
	h2o_multithread_receiver_t *getaddr; /* the loop's resolver */
	struct reg *reg;
	const char *data_dir;
	X509_STORE *ca_store;	       /* devices' certificates are checked against it */
	const char *userappl;	       /* the merged files' shb_userappl, the devices' User-Agent */
	uint64_t bytes_max;	       /* of a capture's packet blocks: it stops there (0: none) */
	unsigned org_captures_max;     /* running at once in one organization (0: no limit) */
	const struct srv_reach *reach; /* where devices may be (service/reach.h) */
	const struct srv_store *store; /* what captures may keep (NULL: no bounds) */
	struct srv_instance *instance; /* devices other servers hold are reached through them */
};

struct srv_captures *srv_captures_new(const struct srv_captures_conf *c);
/* Once no capture runs (srv_captures_running). Accepts NULL. */
void srv_captures_free(struct srv_captures *cs);

/* Link types a capture's filter is compiled for, at most. */
#define SRV_CAPTURE_LINKTYPES 4

struct srv_capture_req {
	const char *request; /* the request as given (JSON), kept in the registry */
	const struct reg_device *devs;
	unsigned ndevs;
	/* the filter compiled for each link type it has a meaning for (the
	 * agent's parameter, ecap_cbpf_param): the first is sent, and a device
	 * that refuses it because an interface has another type ("linktype: IF
	 * is T, ...") is sent T's, once */
	struct srv_capture_prog {
		const char *linktype; /* EN10MB, RAW, LINUX_SLL, LINUX_SLL2: static */
		const char *bpf;
	} progs[SRV_CAPTURE_LINKTYPES];
	unsigned nprogs;
	const char *ifaces;	 /* "IF,IF", "" for every interface a device serves */
	const char **dev_ifaces; /* each device's own (NULL: ifaces for all) */
	const char *dir;	 /* in, out, inout */
	uint32_t snaplen, duration;
	uint64_t count;
};

/* Start a capture: its id, or -errno with err set: -EUSERS when the
 * organization runs org_captures_max already, -EDQUOT / -ENOSPC when its
 * storage or the data directory is full (srv_store_room). It is
 * srv_capture_prepare, then srv_capture_launch. */
int64_t srv_capture_start(struct srv_captures *cs, const struct reg_user *who,
			  const struct srv_capture_req *c, char *err, size_t errlen);
/* A capture's start in two steps. The first asks and writes the registry:
 * the limits, the capture's row and file, each device's row, where it is
 * reached and its clock. It keeps no pointer to the loop's objects across
 * its statements, so it may wait for them on a coroutine (api/co.h): its
 * id with *prep, or -errno as srv_capture_start's. Until launched the
 * capture counts against its organization's limits. */
struct srv_capture_prep;
int64_t srv_capture_prepare(struct srv_captures *cs, const struct reg_user *who,
			    const struct srv_capture_req *c, struct srv_capture_prep **prep,
			    char *err, size_t errlen);
/* The second, on the loop with nothing between it and the first's last
 * statement that could end the server: the capture's loop objects, its
 * connections to its devices and parts. prep is taken; 0, or -ENOMEM with
 * err, out of memory or the server stopping (the capture's row then says
 * it never ran). */
int srv_capture_launch(struct srv_captures *cs, struct srv_capture_prep *prep,
		       const struct reg_user *who, const struct srv_capture_req *c, char *err,
		       size_t errlen);
/* Stop one of the organization's running captures: 0 or -ENOENT. */
int srv_capture_stop(struct srv_captures *cs, int64_t org, int64_t id);
/* Another server signalled a stop asked for capture id (instance.h): if
 * it runs here, the registry is read for it now rather than within a
 * second. */
void srv_captures_stop_noticed(struct srv_captures *cs, int64_t id);
/* At shutdown: every capture ends. */
void srv_captures_stop_all(struct srv_captures *cs);
/* Captures running, or finished with readers still on them. */
int srv_captures_running(struct srv_captures *cs);

/* Readers. A watch's wake runs when the capture has more output (in
 * memory, see srv_capture_peek, or in its file) or has ended (then
 * srv_capture_done is true, and the file has everything); it may unwatch.
 * at: the next byte of output the reader wants (0 when it does not say):
 * output the file has is let go from memory once every watch is past it,
 * or once it falls a few MiB behind. */
struct srv_capture_watch {
	void (*wake)(struct srv_capture_watch *w);
	struct srv_capture_watch *next;
	uint64_t at;
	/* ms: a reader that comes back by itself after its connection drops
	 * (the page's packet events: EventSource reconnects and goes on after
	 * the last packet it had); when it was the last, the capture waits
	 * this long for a reader before it stops. 0: it stops at once. */
	unsigned back_ms;
};
/* The organization's capture while it is live (running, or finished and
 * still read), else NULL: a finished capture is read from its file alone. */
struct srv_capture *srv_capture_find(struct srv_captures *cs, int64_t org, int64_t id);
void srv_capture_watch(struct srv_capture *c, struct srv_capture_watch *w);
/* The last watch leaving stops the capture (after its back_ms, unless a
 * watch came meanwhile). */
void srv_capture_unwatch(struct srv_capture *c, struct srv_capture_watch *w);
int srv_capture_done(const struct srv_capture *c);
/* Output from byte off on, while the capture still holds it in memory (it
 * lets go of what its file has once readers are past it): at most max
 * bytes in at most n pieces, each with a reference on the slab it lies in
 * (pins[i]) for the caller's send. The count of pieces, their bytes in
 * *ret_bytes; 0 when none (off is not in memory: read the file, which
 * has everything before what memory holds; or nothing is there yet; or
 * the capture's readers hold as much as they may already). */
size_t srv_capture_peek(struct srv_capture *c, uint64_t off, size_t max, h2o_iovec_t *iov,
			struct ecap_slab **pins, size_t n, size_t *ret_bytes);
/* Bytes of output in the capture's file so far. */
uint64_t srv_capture_written(const struct srv_capture *c);
/* A peek's pieces are sent: their references and bytes go. */
void srv_capture_unpin(struct srv_capture *c, struct ecap_slab **pins, size_t n, size_t bytes);

/* A part of a capture another server runs (docs/scale.md): the devices
 * whose tunnels this server holds, merged in order (not de-duplicated:
 * the server that runs the capture does that as if it held them all) into
 * one pcapng stream for out, with marks (mux.h) while they are silent.
 * Each device's state and counters go to the registry's row of capture
 * id, as the runner's would. out is the caller's (an HTTP response): */
#define SRV_CAPTURE_SEND_MAX 2048 /* pieces in one send */
struct srv_capture_out {
	/* Pieces of the stream to send; srv_capture_out_sent when they are. */
	void (*send)(struct srv_capture_out *o, const struct iovec *v, size_t n);
	/* The stream is over (ok 0: cut short): nothing more comes. */
	void (*end)(struct srv_capture_out *o, int ok);
	/* Polled: the receiver shut its side of the connection (a stop). */
	int (*stopped)(struct srv_capture_out *o);
	struct srv_capture *c; /* set by srv_capture_part; NULL once it is freed */
};
/* Start it: 0, or -errno with err set. c->devs all held here. */
int srv_capture_part(struct srv_captures *cs, int64_t id, int64_t org,
		     const struct srv_capture_req *c, struct srv_capture_out *out, char *err,
		     size_t errlen);
/* out's last send is done (err 0) or failed. */
void srv_capture_out_sent(struct srv_capture *c, int err);
/* out's receiver is gone: nothing more is sent; the part ends. */
void srv_capture_out_gone(struct srv_capture *c);

struct srv_captures_stats {
	unsigned running;
	uint64_t started, merged, duplicates, late, devices_failed;
};
void srv_captures_stats(struct srv_captures *cs, struct srv_captures_stats *ret);

#endif
