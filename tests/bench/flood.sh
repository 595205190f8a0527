# flood.sh - sourced by the benchmarks that flood a veth with trafgen.
# flood_config FILE FRAME: a trafgen config of FRAME-byte UDP frames from
# 10.99.0.1 to 10.99.0.2 port 5001, to a MAC that is not the receiver's: its
# stack drops them early (PACKET_OTHERHOST), so they cost little and nothing
# is sent back.
flood_config() {
	local ipl=$(($2 - 14)) udpl=$(($2 - 34))
	cat > "$1" << EOF2
{ 0x02,0x00,0x00,0x00,0x00,0x99, 0x02,0x00,0x00,0x00,0x00,0x01, c16(0x0800),
  0x45,0x00, c16($ipl), drnd(2), c16(0x4000), 64, 17, csumip(14,33),
  10,99,0,1, 10,99,0,2,
  c16(40000), c16(5001), c16($udpl), c16(0), fill(0x41, $((udpl - 8))) }
EOF2
}
