/* path.h - the request path as the router matches it: split at '/' first,
 * then each segment percent-decoded on its own, so that an escaped '/' or
 * NUL stays inside its segment where it can be refused instead of moving a
 * segment boundary or cutting a name short. Pure code over bytes. */
#ifndef SRV_PATH_H
#define SRV_PATH_H

#include <stddef.h>

#define SRV_PATH_SEGS_MAX 8

/* path: len bytes, the query already cut off. The decoded segments go to
 * buf (buflen bytes; decoding never grows a segment, so len + 1 is always
 * enough), NUL-terminated. Returns the number of segments with ret_seg
 * filled, or, with ret_seg untouched and err naming the problem (one line,
 * control bytes as \xNN):
 *   -EINVAL  a malformed escape: '%' without two hex digits after it in
 *            its segment (the client's syntax error, a 400);
 *   -ENOENT  a well-formed path no route can match (a 404): longer than
 *            buflen - 1, not starting with '/', an empty or dot segment
 *            (they are refused, not resolved), more than SRV_PATH_SEGS_MAX
 *            segments, or a segment that decodes to a NUL, a '/' or
 *            another control byte.
 * A malformed escape anywhere wins over every -ENOENT. "/" has 0 segments. */
int srv_path_split(const char *path, size_t len, char *buf, size_t buflen,
		   char *ret_seg[SRV_PATH_SEGS_MAX], char *err, size_t errlen);

#endif
