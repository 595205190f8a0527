/* links.c - see links.h. */
#include "links.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "capture/linktype.h"
#include "filter/compile.h"

static int line(void *ctx, const char *name, const char *text)
{
	struct ecap_linktype lt;
	char why[256];

	if (!strcmp(name, "any"))
		printf("%s: link-type LINUX_SLL2 (Linux cooked v2)\n", text);
	else if (!if_nametoindex(name))
		printf("%s: not captured (not a network interface)\n", text);
	else if (ecap_iface_linktype(name, &lt, why, sizeof(why)))
		printf("%s: not captured (%s)\n", text, why);
	else
		printf("%s: link-type %s (%s)\n", text, lt.name, lt.desc);
	return 0;
}

struct nth {
	unsigned long n;
	char *ret;
	size_t len;
};

static int nth(void *ctx, const char *name, const char *text)
{
	struct nth *w = ctx;

	if (--w->n)
		return 0;
	snprintf(w->ret, w->len, "%s", name);
	return 1;
}

int links_by_number(unsigned long n, char *ret, size_t len)
{
	struct nth w = {.n = n, .ret = ret, .len = len};
	char err[256];
	int r = n ? ecap_pcap_devices(nth, &w, err, sizeof(err)) : 0;

	if (r < 0) {
		fprintf(stderr, "edgecap: %s\n", err);
		return -EIO;
	}
	if (r != 1) {
		fprintf(stderr, "edgecap: Invalid adapter index %lu: only %lu are listed (-D)\n", n,
			n - w.n);
		return -ENOENT;
	}
	return 0;
}

int links_list(void)
{
	char err[256];

	if (ecap_pcap_devices(line, NULL, err, sizeof(err))) {
		fprintf(stderr, "edgecap: %s\n", err);
		return 2;
	}
	return 0;
}

int links_types(const char *ifaces)
{
	char list[256], *save = NULL, err[256];
	int st = 0;

	snprintf(list, sizeof(list), "%s", ifaces);
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct ecap_linktype lt;

		if (!strcmp(tok, "any")) { /* tcpdump lists LINUX_SLL too, not made here */
			printf("Data link types for any (use option -y to set):\n"
			       "  LINUX_SLL2 (Linux cooked v2)\n");
			continue;
		}
		if (ecap_iface_linktype(tok, &lt, err, sizeof(err))) {
			fprintf(stderr, "edgecap: %s\n", err);
			st = if_nametoindex(tok) ? 1 : 2;
			continue;
		}
		printf("Data link types for %s (use option -y to set):\n  %s (%s)\n", tok, lt.name,
		       lt.desc);
	}
	return st;
}
