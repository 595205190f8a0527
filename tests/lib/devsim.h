/* devsim.h - synthetic devices for tests and benchmarks. A devsim serves
 * GET /v1/capture on one address as edgecap-agent answers it on the wire
 * (docs/remote.md): the same parameters, signature check and refusals, a
 * chunked application/x-pcapng 200 with an SHB, the interface blocks, EPBs
 * with direction flags and, at the end, one ISB per interface block; it ends
 * at its count or duration, when stopped, or when the client shuts its side
 * of the connection, as the agent does. Its packets are made up in memory
 * instead of captured: no root, no hooks, no generator, and as fast as the
 * client takes them.
 *
 * Each capture builds one buffer of EPBs (UDP/IPv4 frames whose payload
 * starts with the seed and a packet number) and sends it over and over,
 * patching the timestamps and packet numbers between sends: h2o holds the
 * buffer until it calls proceed, and nothing else is copied. Packets are
 * numbered from 0 in each capture, so two devices with the same seed send
 * the same packets (de-duplicated by the server when they come within
 * 100 ms of each other); different seeds, different packets. */
#ifndef DEVSIM_H
#define DEVSIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/web.h"

#define DEVSIM_LEN_MIN 60 /* headers, seed and packet number */
#define DEVSIM_LEN_MAX 9000

struct devsim_opts {
	uint64_t packets;      /* per capture; 0: until its limits or a stop */
	uint32_t len;	       /* frame length; 0: 1514 */
	uint64_t seed;	       /* which packets */
	const char *iface;     /* the one interface it serves; NULL: "eth0" */
	const uint8_t *secret; /* requests must be signed with it; NULL: not checked */
	size_t secret_len;
	/* Failure modes, for tests. */
	int refuse;		 /* answer every capture with this status; 0: no */
	const char *refuse_body; /* and this line */
	int foreign;		 /* refuse as a service that is not an agent: the line
				  * in the body only, no Edgecap-Error header */
	uint64_t break_after;	 /* close after this many bytes of the stream, without
				  * statistics (a broken chunk); 0: no */
	int stall;		 /* send the header, then nothing: a hung device, which
				  * ignores the half-close (the server must cut it off);
				  * devsim_stop drops its connection */
};

struct devsim_stats {
	uint64_t captures; /* answered with a stream */
	uint64_t refused;  /* answered with an error */
	uint64_t packets;  /* sent, every capture */
	uint64_t bytes;	   /* of streams handed to h2o */
};

struct devsim;

/* A device listening on "ADDR:PORT" ("127.0.0.1:0": any port, see
 * devsim_port), served from loop. 0, or -errno with err. */
int devsim_new(h2o_loop_t *loop, const char *listen, const struct devsim_opts *o,
	       struct devsim **ret, char *err, size_t errlen);
/* The port it listens on. */
int devsim_port(const struct devsim *d);
/* Stop as the agent stops: no new connections; each capture ends with its
 * statistics (a stalled one is dropped). */
void devsim_stop(struct devsim *d);
/* No connection open: it can be freed. */
int devsim_idle(const struct devsim *d);
void devsim_stats(const struct devsim *d, struct devsim_stats *ret);
/* Only once idle: h2o cannot drop a connection it serves from outside. */
void devsim_free(struct devsim *d);

#endif
