/* vlan_push.bpf.c - TC egress programs for the VLAN tests: they give the
 * frames the test sends a tag out of band (bpf_skb_vlan_push), as a VLAN
 * device with transmit offload does. veth keeps such a tag in the skb
 * (tx-vlan-offload), so its peer receives the frame without it in the bytes
 * and the tag in metadata: what a NIC with receive VLAN offload hands over.
 * No 8021q module needed. Each program tags only the frames of its test
 * case and passes everything else unchanged. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>

#define SEC(name) __attribute__((section(name), used))

static long (*bpf_skb_vlan_push)(struct __sk_buff *skb, __be16 proto,
				 __u16 tci) = (void *)BPF_FUNC_skb_vlan_push;
static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to,
				  __u32 len) = (void *)BPF_FUNC_skb_load_bytes;

/* UDP to port 5555 right behind an Ethernet header with `proto` (host
 * order): 802.1Q 100 (PCP 5, DEI) for untagged IPv4, 802.1ad 200 (PCP 3)
 * for frames that carry an 802.1Q tag of their own. */
static int tag(struct __sk_buff *skb, __u16 proto, __u16 tpid, __u16 tci)
{
	__u8 b[4];
	__u32 ip = proto == ETH_P_IP ? 14 : 18;

	if (bpf_skb_load_bytes(skb, 12, b, 2) || (b[0] << 8 | b[1]) != proto)
		return TC_ACT_OK;
	if (proto == ETH_P_8021Q &&
	    (bpf_skb_load_bytes(skb, 16, b, 2) || (b[0] << 8 | b[1]) != ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ip + 9, b, 1) || b[0] != IPPROTO_UDP)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ip + 20 + 2, b, 2) || (b[0] << 8 | b[1]) != 5555)
		return TC_ACT_OK;
	bpf_skb_vlan_push(skb, __builtin_bswap16(tpid), tci);
	return TC_ACT_OK;
}

SEC("vlan_q")
int vlan_push_q(struct __sk_buff *skb)
{
	return tag(skb, ETH_P_IP, ETH_P_8021Q, 5 << 13 | 1 << 12 | 100);
}

SEC("vlan_ad")
int vlan_push_ad(struct __sk_buff *skb)
{
	return tag(skb, ETH_P_8021Q, ETH_P_8021AD, 3 << 13 | 200);
}

char LICENSE[] SEC("license") = "GPL";
