/* textprint.h - a capture stream's packets as `tcpdump -nn -tt` prints
 * them, each line prefixed with its device (the name of its interface up
 * to the first ':', as the merged stream names them DEVICE:IFACE), printed
 * by tcpdump's own printers in confined child processes (printer.h): one
 * per link type in the stream, as a pcap file holds one.
 *
 * Lines stay aligned with their packets however tcpdump prints: a
 * packet's first line starts with its time (-tt), known from the stream,
 * and gets the packet's device in front. Any other line continues the
 * packet before it (an encapsulated packet, -v's details) and starts with
 * the same device, so that every line names its device and cutting the
 * first word off gives tcpdump's output. One field differs: a LINUX_SLL2
 * record's interface, which tcpdump names from the header's index as the
 * reading machine knows it, is named from the record's interface block
 * (DEVICE:IFACE), as tcpdump -i any on the device prints it.
 *
 * No call blocks: the pipes are non-blocking, and one descriptor
 * (srv_tp_fd, an epoll set) becomes readable when srv_tp_pump has work,
 * for an event loop (or poll) to wait on. Bounds: input waiting for the
 * printers (srv_tp_hungry says when to feed), their output held, one
 * printer per link type up to TP_PRINTERS_MAX, and a printer that prints
 * nothing for TP_STUCK_MS while it has packets is killed. */
#ifndef SRV_TEXTPRINT_H
#define SRV_TEXTPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct srv_tp;

/* live: the printers flush each line (a capture still running); else
 * they write in blocks. file_fd >= 0 (not live): a finished capture's
 * file, at its start, which one printer reads itself (no copy through a
 * pipe); the caller still feeds the same bytes, for the packets' devices,
 * and closes file_fd. Feeding then fails with -EXDEV if the file holds
 * several link types: read it as a stream instead. NULL, err set. */
struct srv_tp *srv_tp_new(int live, int file_fd, char *err, size_t errlen);
/* Kills what still runs. Accepts NULL. */
void srv_tp_free(struct srv_tp *t);

/* Bytes of the capture (pcapng or pcap), in pieces of any size. 0, or
 * -errno: a malformed stream, or a printer that could not start
 * (srv_tp_error); the text is done. */
int srv_tp_feed(struct srv_tp *t, const void *data, size_t len);
/* 1 when feeding more will not grow what waits beyond the bounds. */
int srv_tp_hungry(const struct srv_tp *t);
/* The stream ends here: the printers get end of file. */
void srv_tp_end(struct srv_tp *t);

/* What can be done without blocking: the printers' input written, their
 * output read, and the finished lines appended to out in the stream's
 * order, until out holds max bytes. 0, or -errno when a printer failed
 * (srv_tp_error says how; the lines before it are out). */
int srv_tp_pump(struct srv_tp *t, struct ecap_buf *out, size_t max);
/* Readable when srv_tp_pump has something to do. */
int srv_tp_fd(const struct srv_tp *t);
/* Ended, and every line is out. */
int srv_tp_done(const struct srv_tp *t);
/* Kills a printer stuck on a packet for TP_STUCK_MS; the next pump
 * reports it. Call it now and then. */
void srv_tp_check(struct srv_tp *t);
/* Every packet's lines start with name (truncated at 63 bytes), whatever
 * its interface: before the first feed. */
/* Before the first bytes: each packet as a Server-Sent Event instead of a
 * line: "event: packet", "id:" its number in the stream (from 1), and data
 * {n, time (ISO 8601, microseconds), len (on the wire), dir ("in", "out",
 * null), device, iface, line (tcpdump's, as text)}; a line that goes on a
 * packet (n 0: before the first) as "event: more" {n, line}. 0 or
 * -ENOMEM. */
int srv_tp_rows(struct srv_tp *t);
void srv_tp_name(struct srv_tp *t, const char *name);
/* Packets whose lines are out. */
uint64_t srv_tp_lines(const struct srv_tp *t);
/* The lines of the first n packets are not shown (they were, by a reader
 * before this one): a new reader picks up where the last left off. */
void srv_tp_quiet(struct srv_tp *t, uint64_t n);
const char *srv_tp_error(const struct srv_tp *t);

/* For a program that may block: feed data, then pump and wait until the
 * printers want more (or, with end, until every line is out), writing the
 * lines to fd. 0 or -errno (srv_tp_error). */
int srv_tp_write(struct srv_tp *t, const void *data, size_t len, int end, int fd);

#endif
