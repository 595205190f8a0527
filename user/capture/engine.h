/* engine.h - the device capture engine's kernel side: loads the capture
 * hooks (bpf/capture.bpf.c), attaches them to interfaces (XDP as a link; TC
 * as tcx links where the kernel has them, Linux 6.6, else as clsact filters
 * through libbpf's bpf_tc_* API), installs the generated session programs
 * in the hooks' slots, and takes everything down again.
 *
 * tcx runs a program straight from the device's receive and transmit paths;
 * a clsact filter runs under the qdisc and classifier layers, which cost
 * about 90 ns a packet here (docs/capture.md). A link (XDP, tcx) lives as
 * long as its file descriptor: a run that dies leaves nothing attached. */
#ifndef ECAP_ENGINE_H
#define ECAP_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "capture.h" /* ECAP_HOOKS */

#define ECAP_ATTACH_XDP	   1u /* ingress, native XDP */
#define ECAP_ATTACH_TC_IN  2u /* ingress, TC (where XDP is unavailable or costly) */
#define ECAP_ATTACH_TC_OUT 4u /* egress, TC */

/* Our clsact filters carry this handle and priority plus their owner's slot
 * (see ECAP_MAX_OWNERS), so a later run can find (and remove) what a crashed
 * one left, without touching anyone else's. */
#define ECAP_TC_HANDLE	 0xec0a
#define ECAP_TC_PRIORITY 0xec0a

/* Captures (engines, in any process: CLI or agent) attached to one interface
 * at once; each holds one owner slot there, a lock file in ECAP_LOCK_DIR. */
#define ECAP_MAX_OWNERS 8
#define ECAP_LOCK_DIR	"/run/edgecap"

struct ecap_engine;

/* Interfaces one engine attaches to. */
#define ECAP_ENGINE_MAX_IFACES 64
/* The programs ecap_engine_load_sessions makes: one per hook
 * (ECAP_HOOK_ID_*), then one per interface (in the order they were first
 * attached) where XDP runs a program bound to the device. */
#define ECAP_LOAD_FDS (ECAP_HOOKS + ECAP_ENGINE_MAX_IFACES)

struct ecap_engine_opts {
	uint32_t ring_bytes; /* ring buffer size, a power of two >= 4096 */
	int tc_clsact;	     /* TC through clsact even where tcx is available */
	int immediate;	     /* wake the reader on every record (tcpdump's -U,
				--immediate-mode), not as a quarter of the ring fills */
};

/* Does the kernel attach TC programs as tcx links (Linux 6.6)? */
int ecap_tcx_available(void);

/* Check that the running kernel has every feature capture needs (map and
 * program types, helpers, tcx or the clsact qdisc), without loading the hooks.
 * Returns 0, or -1 with err naming each missing feature and the Linux
 * version that brought it, in one line. */
int ecap_engine_probe(char *err, size_t errlen);

int ecap_engine_open(const struct ecap_engine_opts *o, struct ecap_engine **ret, char *err,
		     size_t errlen);
/* Attach the hooks named by `which` on ifindex. Several engines share an
 * interface, each with hooks of its own (tcx links, or clsact filters with
 * their own handle and priority), up to ECAP_MAX_OWNERS (-EBUSY). The first
 * attach on an interface takes a free owner slot and removes the hooks that
 * dead runs left there. XDP has one program per interface: -EBUSY when
 * another capture holds it. On loopback TC egress is left out: each
 * packet is captured once, coming in, as tcpdump's. */
int ecap_engine_attach(struct ecap_engine *e, int ifindex, unsigned which, char *err,
		       size_t errlen);
struct ecap_session;
/* Generate and install the program for every attached hook that serves one
 * of the sessions' directions; each slot changes with one map update, the
 * hooks stay attached. n == 0 empties the slots. */
int ecap_engine_set_sessions(struct ecap_engine *e, const struct ecap_session *s, unsigned n,
			     char *err, size_t errlen);
/* ecap_engine_set_sessions in two steps, so that the slow one can run on
 * another thread. Load: generate and load the program for every attached
 * hook (ret_fds[ECAP_HOOK_ID_*]) and every interface whose XDP program is
 * bound to the device (ret_fds[ECAP_HOOKS + i]), -1 where none; it only
 * reads what the engine set up at open and attach, so it may run beside the
 * calls below. Install: switch on the sessions in `on` (a bit each by id;
 * the counters of those not on before start at zero) and put the programs
 * in the slots, or in the XDP links of those interfaces; it takes the fds,
 * closing them on failure. */
int ecap_engine_load_sessions(struct ecap_engine *e, const struct ecap_session *s, unsigned n,
			      int ret_fds[ECAP_LOAD_FDS], char *err, size_t errlen);
int ecap_engine_install_sessions(struct ecap_engine *e, int fds[ECAP_LOAD_FDS], uint32_t on,
				 char *err, size_t errlen);
/* Switch sessions off at once (a bit each by id): their code stays in the
 * slots' programs until the next install, but runs no more, so their
 * counters are final. 0 or -errno. */
int ecap_engine_sessions_off(struct ecap_engine *e, uint32_t ids);
/* Put a loaded program (fd) in a hook's slot, or empty it (fd < 0). */
int ecap_engine_set_slot(struct ecap_engine *e, unsigned hook_id, int prog_fd);
/* File descriptors of the hook programs and the shared maps. */
int ecap_engine_hook_fd(struct ecap_engine *e, unsigned hook_id);
int ecap_engine_ring_fd(struct ecap_engine *e);
int ecap_engine_counters_fd(struct ecap_engine *e);
int ecap_engine_clock_fd(struct ecap_engine *e);
/* Records carry wall clock time: the hooks add REALTIME - BOOTTIME, which
 * this takes from a fresh paired reading (at load, then every second by the
 * streamer, so that changes of the system clock follow). 0 or -errno. */
int ecap_engine_sync_clock(struct ecap_engine *e);
/* clock_gettime(c) in ns */
int64_t ecap_now_ns(clockid_t c);
struct ecap_counters;
/* A session's counters at one hook and interface position (see
 * ECAP_COUNTERS_KEY), summed over the CPUs into *ret. */
int ecap_engine_counters(struct ecap_engine *e, unsigned session, unsigned hook_id, unsigned iface,
			 struct ecap_counters *ret);
/* *sum += *c, field by field. */
void ecap_counters_add(struct ecap_counters *sum, const struct ecap_counters *c);
/* Detach everything and free; accepts NULL. */
void ecap_engine_close(struct ecap_engine *e);

/* 1 when the XDP hook on ifindex cannot see the VLAN tags the device may
 * receive out of band (ecap_vlan_hidden_from_xdp) and has no way to ask for
 * them: the kernel has no bpf_xdp_metadata_rx_vlan_tag (Linux 6.8) or the
 * driver does not implement it (ecap_vlan_xdp_metadata). Where both have
 * it, the sessions' XDP program on that interface is loaded bound to the
 * device, calls the kfunc and is attached directly, without the tail call;
 * the tag then reaches filters and records as on TC. 0 otherwise (also when
 * XDP is not attached there). */
int ecap_engine_xdp_vlan_blind(struct ecap_engine *e, int ifindex);

/* The cheaper ingress hook for this interface: ECAP_ATTACH_XDP where XDP
 * runs on the driver's receive buffers, ECAP_ATTACH_TC_IN on veth, where
 * native XDP makes the kernel copy every skb into an XDP buffer (and switches
 * the device to NAPI receive, which capture should not change). */
unsigned ecap_engine_ingress_hook(int ifindex);

/* Attach the ingress hook: `want` (ECAP_ATTACH_XDP or _TC_IN) as asked, or
 * with 0 the cheaper one for the driver, falling back to TC where the driver
 * has no XDP, or where another capture's XDP program holds the hook (then
 * err says so in one line, else it is empty). Returns the hook attached, or
 * -errno with err set. */
int ecap_engine_attach_ingress(struct ecap_engine *e, int ifindex, unsigned want, char *err,
			       size_t errlen);

/* Silence libbpf's and libxdp's own printing (libxdp explains its dispatcher
 * fallback at length): programs report the errors they get back instead. */
void ecap_engine_quiet_libraries(void);

/* Remove edgecap's XDP program attached through netlink (by libxdp, as
 * earlier versions did) and the clsact filters of owners that are gone from
 * ifindex, if present (links go with the process that made them). */
int ecap_engine_cleanup_ifindex(int ifindex);

/* One of edgecap's hooks found on an interface. */
struct ecap_hook_state {
	uint32_t prog_id; /* 0: not attached */
	const char *via;  /* "xdp-link", "xdp" (through netlink), "tcx" or "clsact" */
};

/* Which of edgecap's hooks are attached to ifindex, by this process or any
 * other, indexed by ECAP_HOOK_ID_* (the first of each). Returns how many
 * there are. */
int ecap_engine_hooks_on(int ifindex, struct ecap_hook_state st[3]);

/* Every one of edgecap's hooks on ifindex, whichever capture attached it:
 * up to max, the count returned. */
struct ecap_hook_entry {
	unsigned hook; /* ECAP_HOOK_ID_* */
	uint32_t prog_id;
	const char *via;
};
int ecap_engine_hooks_list(int ifindex, struct ecap_hook_entry *ret, unsigned max);

#endif
