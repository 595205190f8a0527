/* changes.c - the agent tells the server when a served interface changes
 * (its link, MTU, state or addresses), so that the device's report follows
 * within seconds rather than at the server's next minute (docs/tunnel.md,
 * "Reports"). rtnetlink's link and address groups are watched on the
 * agent's loop; changes within a second make one notice, sent through the
 * tunnel's registration (tunnel.c, agent_tunnel_changed). */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"

#define SETTLE_MS 1000 /* changes within this make one notice */

struct agent_changes {
	struct agent *a;
	h2o_socket_t *sock;
	h2o_timeout_t settle_q;
	h2o_timeout_entry_t settle;
};

static int served(const struct agent *a, int ifindex)
{
	for (unsigned i = 0; i < a->nifaces; i++)
		if (a->ifaces[i].ifindex == ifindex)
			return 1;
	return 0;
}

static void on_settled(h2o_timeout_entry_t *e)
{
	struct agent_changes *w = H2O_STRUCT_FROM_MEMBER(struct agent_changes, settle, e);

	agent_tunnel_changed(w->a);
}

static void on_netlink(h2o_socket_t *sock, const char *err)
{
	struct agent_changes *w = sock->data;
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	ssize_t got;
	int hit = 0;

	while ((got = recv(h2o_socket_get_fd(sock), buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		int n = (int)got;

		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
			if ((h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) &&
			    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg)))
				hit |= served(w->a, ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index);
			else if ((h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR) &&
				 h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
				hit |= served(w->a,
					      (int)((struct ifaddrmsg *)NLMSG_DATA(h))->ifa_index);
		}
	}
	if (hit && !h2o_timeout_is_linked(&w->settle))
		h2o_timeout_link(w->a->site.ctx.loop, &w->settle_q, &w->settle);
}

int agent_changes_start(struct agent *a, char *err, size_t errlen)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
				 .nl_groups =
				     RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR};
	struct agent_changes *w;
	int fd;

	if (!a->conf.tunnel[0]) /* the server asks a direct device at its minute */
		return 0;
	w = calloc(1, sizeof(*w));
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (!w || fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(err, errlen, "watching the interfaces (rtnetlink): %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(w);
		return -errno;
	}
	w->a = a;
	h2o_timeout_init(a->site.ctx.loop, &w->settle_q, SETTLE_MS);
	w->settle.cb = on_settled;
	w->sock = web_watch(a->site.ctx.loop, fd, on_netlink, w);
	a->changes = w;
	return 0;
}

void agent_changes_stop(struct agent *a)
{
	struct agent_changes *w = a->changes;

	if (!w)
		return;
	if (h2o_timeout_is_linked(&w->settle))
		h2o_timeout_unlink(&w->settle);
	h2o_socket_read_stop(w->sock);
	h2o_socket_close(w->sock);
	h2o_timeout_dispose(a->site.ctx.loop, &w->settle_q);
	free(w);
	a->changes = NULL;
}
