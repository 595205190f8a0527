/* log.c - see log.h. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

void ecap_log_init(const char *name)
{
	program = name;
	journal = stderr_is_journal();
}

void ecap_log(int level, const char *fmt, ...)
{
	static const char *const words[] = {"emergency", "alert",  "critical", "error",
					    "warning",	 "notice", "info",     "debug"};
	char line[2048];
	va_list ap;
	int n;

	level &= 7;
	n = journal ? snprintf(line, sizeof(line), "<%d>", level)
		    : snprintf(line, sizeof(line), "%s: %s: ", program, words[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof(line) - 2) /* cut short: the line still ends */
		n = sizeof(line) - 2;
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
