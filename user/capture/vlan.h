/* vlan.h - what the hooks can know of an interface's VLAN tags. */
#ifndef ECAP_CAPTURE_VLAN_H
#define ECAP_CAPTURE_VLAN_H

/* 1 when the interface may receive VLAN tags out of band, where XDP cannot
 * see them: receive VLAN offload (ethtool's rx-vlan-offload, or
 * rx-vlan-stag-hw-parse for 802.1ad) is on, or the device is a veth, whose
 * XDP misses the tags its peer's transmit offload kept out of the frame,
 * whatever its own features say (measured: docs/capture.md). 0 when not,
 * -errno when the device cannot be asked. TC sees such tags (__sk_buff
 * vlan_present) and the capture puts them back. */
int ecap_vlan_hidden_from_xdp(int ifindex);

/* The interface's transmit VLAN offload: ECAP_VLAN_TX_CTAG (ethtool's
 * tx-vlan-hw-insert, 802.1Q) and ECAP_VLAN_TX_STAG (tx-vlan-stag-hw-insert,
 * 802.1ad) where on, or -errno. A tag TC egress sees out of band goes into
 * the frame after TC, before the packet taps, where the device lacks it. */
#define ECAP_VLAN_TX_CTAG 1
#define ECAP_VLAN_TX_STAG 2
int ecap_vlan_tx_offload(int ifindex);
/* 1 when the driver lets XDP read the VLAN tag it keeps out of band (its
 * RX metadata, through the kfunc bpf_xdp_metadata_rx_vlan_tag, Linux 6.8):
 * the netdev netlink family's xdp-rx-metadata-features has vlan-tag. 0 when
 * not, or when the kernel predates that family (6.3); -errno when the
 * kernel cannot be asked. */
int ecap_vlan_xdp_metadata(int ifindex);

/* What a program says, once per interface, when the answer is 1. */
#define ECAP_VLAN_XDP_WARNING                                                                      \
	"XDP cannot see VLAN tags this device receives out of band (rx-vlan-offload): "            \
	"such frames are filtered and captured without their outer tag"

#endif
