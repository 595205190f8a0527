/* prom.h - metrics in Prometheus' text exposition format (version 0.0.4),
 * appended to a buffer: a family's HELP and TYPE lines, then its samples. */
#ifndef ECAP_PROM_H
#define ECAP_PROM_H

#include <stdint.h>

#include "common/buf.h"

#define ECAP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* type: "counter" or "gauge". */
void ecap_prom_family(struct ecap_buf *b, const char *name, const char *type, const char *help);
/* One sample; label and value NULL for none, else one label (its value
 * escaped as the format wants). */
void ecap_prom_sample(struct ecap_buf *b, const char *name, const char *label, const char *value,
		      uint64_t v);
/* A family of one sample without labels. */
void ecap_prom_one(struct ecap_buf *b, const char *name, const char *type, const char *help,
		   uint64_t v);

#endif
