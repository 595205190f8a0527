/* server.h - edgecap-server, the daemon: one thread, one h2o event loop
 * serving the API (api/), running captures, the registry and the
 * management tunnel (service/), wired together here (expressions compile
 * in worker processes, service/compiler.h); main.c only parses
 * flags. docs/remote.md describes the interface, docs/layout.md the rooms. */
#ifndef SRV_SERVER_H
#define SRV_SERVER_H

#include "api/api.h"
#include "conf.h"
#include "service/instance.h"

struct srv_daemon {
	struct srv_conf conf;
	struct reg *reg;
	struct web_site site;
	SSL_CTX *ca;		 /* the store devices' certificates are checked against */
	struct srv_devca *devca; /* our own CA for claimed devices, trusted in ca too */
	h2o_multithread_receiver_t getaddr;
	struct srv_captures *captures;
	struct srv_tunnel *tunnel;
	struct srv_compiler *compiler;	 /* its worker processes */
	struct srv_pwwork *pwwork;	 /* its password threads */
	struct srv_sharkd_pool *sharkd;	 /* packet detail processes */
	struct srv_reports *reports;	 /* what devices say of themselves */
	struct srv_reach reach;		 /* where devices may be */
	struct srv_reach proxies;	 /* whose X-Forwarded-For is believed */
	struct srv_store store;		 /* what captures keep */
	struct srv_instance instance;	 /* this server among those on the registry */
	struct srv_notice_hooks notices; /* what the others signal it */
	h2o_timeout_t hourly;
	h2o_timeout_entry_t expire;
	struct srv_api api;
	int started; /* the loop and the API exist */
};

/* Open the registry, serve, start the tunnel: 0, or -errno with err set
 * (srv_daemon_free releases what was taken either way). */
int srv_daemon_start(struct srv_daemon *d, char *err, size_t errlen);
/* Until SIGINT or SIGTERM; then the captures end, within a grace period. */
void srv_daemon_run(struct srv_daemon *d);
void srv_daemon_free(struct srv_daemon *d);

/* The registry's commands (bootstrap.c): `org add`, `user add`, `admin
 * add`, with argv from the command's first word. The exit status. */
int srv_bootstrap(const char *db, int argc, char **argv);
extern const char *srv_bootstrap_usage;

#endif
