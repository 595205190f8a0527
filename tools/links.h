/* links.h - `edgecap capture -D` and `-L`: interfaces and their link types,
 * in tcpdump's words. */
#ifndef ECAP_LINKS_H
#define ECAP_LINKS_H

#include <stddef.h>

/* -D: tcpdump -D's lines, each followed by the link type edgecap captures
 * the interface with, or why it does not. The exit status. */
int links_list(void);

/* -L -i IF,...: the link types each interface can be captured with, as
 * tcpdump -L prints them. The exit status (1: one is not captured). */
int links_types(const char *ifaces);

/* -i N: the name of the Nth interface of -D's list into ret (as tcpdump,
 * when no interface is named N). 0, or -ENOENT / -EIO with one line on
 * stderr. */
int links_by_number(unsigned long n, char *ret, size_t len);

#endif
