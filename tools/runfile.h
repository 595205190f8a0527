/* runfile.h - `edgecap filter run`'s file side: read a pcap or pcapng file,
 * run a loaded filter on every packet, write the accepted ones in the input's
 * format. Separate from the eBPF side because libpcap's headers collide with
 * linux/bpf.h. Functions print their errors and return an exit status. */
#ifndef ECAP_RUNFILE_H
#define ECAP_RUNFILE_H

#include "filter/prog.h"

struct runfile;

int runfile_open(const char *in, struct runfile **ret, int *ret_linktype);
/* Prints "N packets, M matched" to stderr on success. */
int runfile_filter(struct runfile *rf, int prog_fd, enum ecap_hook hook, const char *in,
		   const char *out);
void runfile_close(struct runfile *rf);

#endif
