#!/usr/bin/env python3
"""ppp_end.py NAMEFILE - one end of a PPP link made without pppd.

A pty whose slave takes the PPP line discipline (ppp_async), its channel
connected to a new PPP unit in this network namespace, IPv4 passed (no LCP
or IPCP: both ends are set up alike by hand). The async HDLC bytes go out on
stdout and come in on stdin, so two ends joined by pipes make a link. The
unit's name goes to NAMEFILE once it exists (NAMEFILE.skip says why when
the kernel has no PPP line discipline); the process stays until stdin ends
or stdout breaks."""
import fcntl
import os
import pty
import select
import struct
import sys
import tty

N_PPP = 3
TIOCSETD = 0x5423


def ioc(direction, nr, size):  # _IOC(dir, 't', nr, size) of linux/ppp-ioctl.h
    return direction << 30 | size << 16 | ord("t") << 8 | nr


PPPIOCGCHAN = ioc(2, 55, 4)
PPPIOCATTCHAN = ioc(1, 56, 4)
PPPIOCCONNECT = ioc(1, 58, 4)
PPPIOCNEWUNIT = ioc(3, 62, 4)
PPPIOCSNPMODE = ioc(1, 75, 8)
PPP_IP, NPMODE_PASS = 0x21, 0


def one_int(fd, req, value=0):
    return struct.unpack("i", fcntl.ioctl(fd, req, struct.pack("i", value)))[0]


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def main():
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        fcntl.ioctl(slave, TIOCSETD, struct.pack("i", N_PPP))
    except OSError as e:  # no ppp_async: NAMEFILE.skip says so
        with open(sys.argv[1] + ".skip", "w") as f:
            f.write("no PPP line discipline (ppp_async): %s\n" % e.strerror)
        return
    chan = one_int(slave, PPPIOCGCHAN)
    chan_fd = os.open("/dev/ppp", os.O_RDWR)
    one_int(chan_fd, PPPIOCATTCHAN, chan)
    unit_fd = os.open("/dev/ppp", os.O_RDWR)
    unit = one_int(unit_fd, PPPIOCNEWUNIT, -1)
    one_int(chan_fd, PPPIOCCONNECT, unit)
    fcntl.ioctl(unit_fd, PPPIOCSNPMODE, struct.pack("ii", PPP_IP, NPMODE_PASS))
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("ppp%d\n" % unit)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    try:
        while True:
            ready, _, _ = select.select([0, master], [], [])
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    return
                write_all(master, data)
            if master in ready:
                write_all(1, os.read(master, 65536))
    except (BrokenPipeError, OSError):
        return


if __name__ == "__main__":
    main()
