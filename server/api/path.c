/* path.c - the request path split and decoded, see path.h.
 *
 * Why not h2o's req->path_normalized: h2o 2.2 decodes the whole path before
 * splitting it, so "%2F" becomes a segment boundary, and it resolves "." and
 * ".." and passes a malformed escape on as it is; a decoded NUL then cuts a
 * C string short. Matching the raw path segment by segment keeps what the
 * client sent and what the endpoint is given the same bytes.
 *
 * What h2o 2.2.5 answers before any handler runs, so never with our JSON
 * (it offers no hook there): over HTTP/1, picohttpparser refuses a request
 * line whose target holds a raw control byte, DEL or a space, and h2o
 * writes a fixed "400 Bad Request" (text/plain) and closes the connection;
 * over HTTP/2, a :path with a raw control byte fails HPACK's field-value
 * check and h2o sends "400 Invalid Headers" as text. Malformed escapes,
 * escaped NULs and dot-segments all reach us: h2o only rewrites them in
 * path_normalized, which we do not use. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/path.h"

#define QUOTE_MAX 64 /* bytes of a segment an error message quotes */

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* s (n bytes) for an error message: NUL and control bytes as \xNN (as the
 * log has them), at most QUOTE_MAX bytes, then "...". */
static void quote(char *out, size_t len, const char *s, size_t n)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t i = 0; i < n && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		int w = c < 0x20 || c == 0x7f ? snprintf(out + o, len - o, "\\x%02x", c)
					      : snprintf(out + o, len - o, "%c", c);

		if (w < 0 || (size_t)w >= len - o) {
			out[o] = 0;
			return;
		}
		o += (size_t)w;
	}
	if (n > QUOTE_MAX)
		snprintf(out + o, len - o, "...");
}

/* What a decoded segment holds that no route or name can: NULL if nothing.
 * A 404 rather than a 400: the escapes are well-formed, the path merely
 * names nothing, as device names and ids are printable ASCII without '/'. */
static const char *unmatchable(const char *s, size_t n)
{
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return "is a dot-segment (paths are matched as sent, not resolved)";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0)
			return "holds a NUL byte";
		if (c == '/')
			return "holds an escaped '/'";
		if (c < 0x20 || c == 0x7f)
			return "holds a control byte";
	}
	return NULL;
}

int srv_path_split(const char *path, size_t len, char *buf, size_t buflen,
		   char *ret_seg[SRV_PATH_SEGS_MAX], char *err, size_t errlen)
{
	char *seg[SRV_PATH_SEGS_MAX], q[4 * QUOTE_MAX + 4];
	size_t i = 1, o = 0;
	int n = 0;

	/* escapes first: a malformed one is a 400 whatever else the path holds */
	for (size_t j = 0; j < len; j++) {
		if (path[j] != '%')
			continue;
		if (j + 2 < len && hex((unsigned char)path[j + 1]) >= 0 &&
		    hex((unsigned char)path[j + 2]) >= 0) {
			j += 2;
			continue;
		}
		quote(q, sizeof(q), path + j, len - j < 3 ? len - j : 3);
		snprintf(err, errlen,
			 "invalid escape '%s' in the path: want '%%' and two hex digits", q);
		return -EINVAL;
	}
	if (len >= buflen) {
		snprintf(err, errlen, "the path is longer than %zu bytes", buflen - 1);
		return -ENOENT;
	}
	if (!len || path[0] != '/') {
		snprintf(err, errlen, "the path does not start with '/'");
		return -ENOENT;
	}
	while (len > 1) {
		const char *end = memchr(path + i, '/', len - i);
		size_t e = end ? (size_t)(end - path) : len, m = 0;
		const char *why;

		if (e == i) {
			snprintf(err, errlen, "empty path segment (a '//' or a trailing '/')");
			return -ENOENT;
		}
		if (n == SRV_PATH_SEGS_MAX) {
			snprintf(err, errlen, "more than %d path segments", SRV_PATH_SEGS_MAX);
			return -ENOENT;
		}
		for (size_t j = i; j < e; j++) {
			if (path[j] == '%') {
				buf[o + m++] = (char)(hex((unsigned char)path[j + 1]) << 4 |
						      hex((unsigned char)path[j + 2]));
				j += 2;
			} else {
				buf[o + m++] = path[j];
			}
		}
		why = unmatchable(buf + o, m);
		if (why) {
			quote(q, sizeof(q), buf + o, m);
			snprintf(err, errlen, "path segment '%s' %s", q, why);
			return -ENOENT;
		}
		buf[o + m] = 0;
		seg[n++] = buf + o;
		o += m + 1;
		if (e == len)
			break;
		i = e + 1;
	}
	memcpy(ret_seg, seg, (size_t)n * sizeof(seg[0]));
	return n;
}
