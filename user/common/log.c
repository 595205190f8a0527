/* log.c - see log.h. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *program = "edgecap";
static int journal;

/* JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected; it is
 * ours only while stderr is still that stream (not redirected since). */
static int stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return v && sscanf(v, "%llu:%llu", &dev, &ino) == 2 && !fstat(2, &st) && st.st_dev == dev &&
	       st.st_ino == ino;
}

/* The length of the valid UTF-8 sequence at p (1..4), or 0. */
static int utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	int n = c < 0x80		 ? 1
		: c >= 0xc2 && c <= 0xdf ? 2
		: c >= 0xe0 && c <= 0xef ? 3
		: c >= 0xf0 && c <= 0xf4 ? 4
					 : 0;
	/* the second byte's range rules out overlong forms, surrogates and
	 * code points past U+10FFFF */
	unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
	unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;

	for (int i = 1; i < n; i++)
		if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
			return 0;
	return n;
}

size_t ecap_text_clean(char *out, size_t len, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	if (!len)
		return 0;
	while (*p) {
		int n = utf8_len(p);

		if (n == 1 && (*p < 0x20 || *p == 0x7f))
			n = 0;
		if (n ? o + (size_t)n >= len : o + 4 >= len)
			break;
		if (n) {
			memcpy(out + o, p, (size_t)n);
			o += (size_t)n;
			p += n;
		} else {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p++);
		}
	}
	out[o] = 0;
	return o;
}

void ecap_log_init(const char *name)
{
	program = name;
	journal = stderr_is_journal();
}

void ecap_log(int level, const char *fmt, ...)
{
	static const char *const words[] = {"emergency", "alert",  "critical", "error",
					    "warning",	 "notice", "info",     "debug"};
	char msg[2048], line[2048];
	va_list ap;
	int n;

	level &= 7;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = journal ? snprintf(line, sizeof(line), "<%d>", level)
		    : snprintf(line, sizeof(line), "%s: %s: ", program, words[level]);
	n += (int)ecap_text_clean(line + n, sizeof(line) - (size_t)n - 1, msg);
	line[n++] = '\n';
	/* one write a line, so that lines of concurrent writers do not mix */
	if (write(2, line, (size_t)n) < 0)
		return;
}

int ecap_log_end(int failed, const char *err)
{
	if (failed) {
		ecap_log(LOG_ERR, "%s", err);
		return 2;
	}
	ecap_log(LOG_INFO, "stopped");
	return 0;
}
