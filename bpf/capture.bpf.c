/* capture.bpf.c - the capture hooks: an XDP program for ingress and TC
 * programs for egress (and ingress where native XDP is missing). Each one only
 * tail-calls into the program user space generated for the active sessions;
 * with no session the slot is empty, the tail call falls through, and the
 * packet passes at the cost of one failed tail call. They never change
 * forwarding: XDP_PASS, and TC_ACT_UNSPEC so later filters still run.
 *
 * The maps are defined here so one skeleton owns them; generated programs
 * refer to them by fd. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "capture.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ecap_xdp_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, ECAP_TC_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} ecap_tc_slots SEC(".maps");

/* Size set by user space before load (ring size is configurable). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} ecap_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ECAP_COUNTERS_ENTRIES);
	__type(key, __u32);
	__type(value, struct ecap_counters);
} ecap_counters SEC(".maps");

/* REALTIME - BOOTTIME in ns, from a paired reading that user space takes
 * at load and refreshes every second: records carry wall clock time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} ecap_clock SEC(".maps");

/* The sessions switched on, a bit each by id: every session's code in the
 * generated program starts by testing its bit. Switching one off is a map
 * update, so a capture leaves the hooks at once, however long the kernel
 * takes to verify the program without it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ecap_on SEC(".maps");

SEC("xdp.frags")
int ecap_xdp(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &ecap_xdp_slot, 0);
	return XDP_PASS;
}

SEC("tc")
int ecap_tc_ingress(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &ecap_tc_slots, ECAP_TC_SLOT_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ecap_tc_egress(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &ecap_tc_slots, ECAP_TC_SLOT_EGRESS);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
