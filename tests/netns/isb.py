#!/usr/bin/env python3
"""isb.py FILE.pcapng - print each Interface Statistics Block's counters,
one line per block: "IFID ifrecv=N ifdrop=N filteraccept=N usrdeliv=N osdrop=N"
(the counters present, in that order)."""
import struct
import sys

NAMES = {4: "ifrecv", 5: "ifdrop", 6: "filteraccept", 7: "osdrop", 8: "usrdeliv"}

data = open(sys.argv[1], "rb").read()
off = 0
while off + 12 <= len(data):
    btype, blen = struct.unpack_from("<II", data, off)
    if blen < 12:
        sys.exit("bad block length at %d" % off)
    if btype == 5:  # ISB: if_id, ts_high, ts_low, options
        (ifid,) = struct.unpack_from("<I", data, off + 8)
        opt, vals = off + 20, {}
        while opt < off + blen - 4:
            code, olen = struct.unpack_from("<HH", data, opt)
            if code == 0:
                break
            if code in NAMES:
                vals[NAMES[code]] = struct.unpack_from("<Q", data, opt + 4)[0]
            opt += 4 + (olen + 3) // 4 * 4
        print(ifid, " ".join("%s=%d" % (k, vals[k]) for k in
                             ("ifrecv", "ifdrop", "filteraccept", "usrdeliv", "osdrop") if k in vals))
    off += blen
