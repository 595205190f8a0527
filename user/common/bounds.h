/* bounds.h - limits that the server checks on a request and the agent
 * checks again on its own: each defined once, here. */
#ifndef ECAP_BOUNDS_H
#define ECAP_BOUNDS_H

#include "capture.h" /* the hooks' layouts: ECAP_MAX_SESSION_IFACES */

/* Interfaces one capture may name: as many as a session's counters have
 * positions for in the kernel. */
#define ECAP_CAPTURE_IFACES_MAX ECAP_MAX_SESSION_IFACES
/* The longest a capture may be asked to run, in seconds. */
#define ECAP_CAPTURE_DURATION_MAX 86400u

#endif
