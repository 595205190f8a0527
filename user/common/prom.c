/* prom.c - see prom.h. */
#include "common/prom.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void puts_buf(struct ecap_buf *b, const char *s)
{
	ecap_buf_put(b, s, strlen(s));
}

void ecap_prom_family(struct ecap_buf *b, const char *name, const char *type, const char *help)
{
	puts_buf(b, "# HELP ");
	puts_buf(b, name);
	puts_buf(b, " ");
	puts_buf(b, help);
	puts_buf(b, "\n# TYPE ");
	puts_buf(b, name);
	puts_buf(b, " ");
	puts_buf(b, type);
	puts_buf(b, "\n");
}

void ecap_prom_sample(struct ecap_buf *b, const char *name, const char *label, const char *value,
		      uint64_t v)
{
	char num[32];

	puts_buf(b, name);
	if (label) {
		puts_buf(b, "{");
		puts_buf(b, label);
		puts_buf(b, "=\"");
		for (const char *p = value; *p; p++) /* \, " and newline are escaped */
			if (*p == '\\' || *p == '"')
				ecap_buf_put(b, (const char[]){'\\', *p}, 2);
			else if (*p == '\n')
				puts_buf(b, "\\n");
			else
				ecap_buf_put(b, p, 1);
		puts_buf(b, "\"}");
	}
	snprintf(num, sizeof(num), " %" PRIu64 "\n", v);
	puts_buf(b, num);
}

void ecap_prom_one(struct ecap_buf *b, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	ecap_prom_family(b, name, type, help);
	ecap_prom_sample(b, name, NULL, NULL, v);
}
