/* linkwatch.c - see linkwatch.h. */
#include "linkwatch.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define WATCH_MAX 16

struct linkwatch {
	int nl, quit; /* the netlink socket; an eventfd that ends the thread */
	int ifindex[WATCH_MAX];
	char names[WATCH_MAX][IF_NAMESIZE];
	unsigned n;
	char why[IF_NAMESIZE + 64];
	int happened; /* why is set (atomic) */
	int gone;     /* the interface (position) that went down or away */
	pthread_t thread;
	linkwatch_new_fn *fn; /* -i any: told of new links; no interface ends it */
	void *ctx;
};

/* One notification: 1 when it takes one of the interfaces down or away
 * (why set), else 0. */
static int look(struct linkwatch *w, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);

	if ((h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	if (w->fn) {
		if (h->nlmsg_type == RTM_NEWLINK)
			w->fn(w->ctx);
		return 0;
	}
	for (unsigned i = 0; i < w->n; i++) {
		if (ifi->ifi_index != w->ifindex[i])
			continue;
		if (h->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_UP))
			return 0;
		snprintf(w->why, sizeof(w->why), "%s: The interface went down", w->names[i]);
		w->gone = (int)i; /* linkwatch_why tells a deleted one */
		return 1;
	}
	return 0;
}

static void *run(void *arg)
{
	struct linkwatch *w = arg;
	struct pollfd p[2] = {{.fd = w->nl, .events = POLLIN}, {.fd = w->quit, .events = POLLIN}};
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));

	while (poll(p, 2, -1) >= 0 || errno == EINTR) {
		ssize_t len;

		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		len = recv(w->nl, buf, sizeof(buf), 0);
		if (len < 0)
			continue; /* ENOBUFS: notifications lost; the next ones still count */
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
		     h = NLMSG_NEXT(h, len)) {
			if (look(w, h)) {
				__atomic_store_n(&w->happened, 1, __ATOMIC_RELEASE);
				kill(getpid(), SIGTERM);
				return NULL;
			}
		}
	}
	return NULL;
}

static struct linkwatch *start(const int *ifindex, const char *const *names, unsigned n,
			       linkwatch_new_fn *fn, void *ctx, char *err, size_t errlen)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
	struct linkwatch *w = calloc(1, sizeof(*w));

	if (!w || n > WATCH_MAX) {
		snprintf(err, errlen, "watching interfaces: %s", w ? "too many" : "out of memory");
		free(w);
		return NULL;
	}
	w->n = n;
	w->fn = fn;
	w->ctx = ctx;
	for (unsigned i = 0; i < n; i++) {
		w->ifindex[i] = ifindex[i];
		snprintf(w->names[i], sizeof(w->names[i]), "%s", names[i]);
	}
	w->quit = eventfd(0, EFD_CLOEXEC);
	w->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (w->quit < 0 || w->nl < 0 || bind(w->nl, (struct sockaddr *)&sa, sizeof(sa)) ||
	    pthread_create(&w->thread, NULL, run, w)) {
		snprintf(err, errlen, "watching interfaces: %s", strerror(errno));
		if (w->quit >= 0)
			close(w->quit);
		if (w->nl >= 0)
			close(w->nl);
		free(w);
		return NULL;
	}
	return w;
}

struct linkwatch *linkwatch_start(const int *ifindex, const char *const *names, unsigned n,
				  char *err, size_t errlen)
{
	return start(ifindex, names, n, NULL, NULL, err, errlen);
}

struct linkwatch *linkwatch_start_any(linkwatch_new_fn *fn, void *ctx, char *err, size_t errlen)
{
	return start(NULL, NULL, 0, fn, ctx, err, errlen);
}

const char *linkwatch_why(struct linkwatch *w)
{
	char name[IF_NAMESIZE];

	if (!w || !__atomic_load_n(&w->happened, __ATOMIC_ACQUIRE))
		return NULL;
	/* an interface being deleted goes down first (two notifications); by
	 * the time the capture has ended, it is gone */
	if (!if_indextoname((unsigned)w->ifindex[w->gone], name))
		snprintf(w->why, sizeof(w->why), "%s: The interface disappeared",
			 w->names[w->gone]);
	return w->why;
}

void linkwatch_stop(struct linkwatch *w)
{
	if (!w)
		return;
	if (eventfd_write(w->quit, 1) == 0)
		pthread_join(w->thread, NULL);
	close(w->quit);
	close(w->nl);
	free(w);
}
