/* record.h - the C benchmarks' side of tests/bench/record.sh: one figure as
 * a JSON object on one line, appended to $BENCH_JSON when it is set. */
#ifndef ECAP_BENCH_RECORD_H
#define ECAP_BENCH_RECORD_H

#include <jansson.h>

/* Takes the object's reference. */
void bench_record(json_t *figure);

#endif
