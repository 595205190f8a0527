/* server.c - edgecap-server's life, see server.h. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/co.h"
#include "server.h"
#include "service/devca.h"
#include "service/reports.h"
#include "service/sharkd.h"

#define STOP_GRACE_MS 3000

/* Each device polling over HTTP holds a connection and a UDP socket of its
 * own: the soft limit (often 1024) would stop the server at a few hundred. */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* The audit log keeps audit_days. */
static void expire_audit(struct srv_daemon *d)
{
	int64_t before = ((int64_t)time(NULL) - (int64_t)d->conf.audit_days * 86400) * 1000;
	int64_t n = reg_audit_expire(d->reg, before);

	if (n < 0)
		ecap_log(LOG_ERR, "audit log retention: registry: %s", reg_errmsg(d->reg));
	else if (n)
		ecap_log(LOG_INFO, "audit log: %lld entries older than %u days removed",
			 (long long)n, d->conf.audit_days);
}

/* Retention, once an hour (and at start). */
static void on_hour(h2o_timeout_entry_t *e)
{
	struct srv_daemon *d = H2O_STRUCT_FROM_MEMBER(struct srv_daemon, expire, e);

	srv_store_expire(&d->store, time(NULL));
	expire_audit(d);
	h2o_timeout_link(d->site.ctx.loop, &d->hourly, &d->expire);
}

static void on_signal(h2o_socket_t *sock, const char *e)
{
	struct srv_daemon *d = sock->data;
	struct signalfd_siginfo si;

	while (read(h2o_socket_get_fd(sock), &si, sizeof(si)) == sizeof(si))
		;
	if (d->api.stopping)
		return;
	ecap_log(LOG_INFO, "stopping: ending %d capture(s)", srv_captures_running(d->captures));
	d->api.stopping = 1;
	web_site_stop(&d->site);
	srv_captures_stop_all(d->captures);
}

static void stop_noticed(void *data, int64_t capture)
{
	srv_captures_stop_noticed(((struct srv_daemon *)data)->captures, capture);
}

static void moved_noticed(void *data, int64_t device)
{
	srv_tunnel_moved_noticed(((struct srv_daemon *)data)->tunnel, device);
}

int srv_daemon_start(struct srv_daemon *d, char *err, size_t errlen)
{
	h2o_hostconf_t *host;
	sigset_t mask;
	int r;

	r = reg_open(d->conf.db, &d->reg, err, errlen);
	if (r)
		return r;
	if (mkdir(d->conf.data, 0700) && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "data directory %s: %s", d->conf.data, strerror(-r));
		return r;
	}
	/* the server's alone: a capture lent to a packet view is readable by
	 * the view's group, and only this directory keeps everyone else out */
	struct stat dst;

	if (!stat(d->conf.data, &dst) && (dst.st_mode & 077)) {
		/* a directory others share (/tmp, a home) is not made ours */
		if (dst.st_uid != geteuid() || (dst.st_mode & S_ISVTX)) {
			snprintf(err, errlen,
				 "data directory %s: mode %o, %s: give the server a directory "
				 "of its own (data = DIR)",
				 d->conf.data, dst.st_mode & 07777,
				 dst.st_mode & S_ISVTX ? "shared (sticky)" : "another user's");
			return -EPERM;
		}
		if (chmod(d->conf.data, 0700)) {
			r = -errno;
			snprintf(err, errlen, "data directory %s: mode %o, and chmod 0700: %s",
				 d->conf.data, dst.st_mode & 07777, strerror(-r));
			return r;
		}
		ecap_log(LOG_NOTICE, "data directory %s: mode %o made 0700", d->conf.data,
			 dst.st_mode & 07777);
	}
	r = srv_reach_parse(&d->reach, "device_networks", d->conf.device_networks, err, errlen);
	if (!r)
		r = srv_reach_parse(&d->proxies, "trusted_proxies", d->conf.trusted_proxies, err,
				    errlen);
	if (r)
		return r;
	d->api.proxies = &d->proxies;
	reg_captures_interrupted(d->reg);
	d->store = (struct srv_store){.reg = d->reg,
				      .dir = d->conf.data,
				      .org_max = (uint64_t)d->conf.org_storage_max_mib << 20,
				      .reserve = (uint64_t)d->conf.data_reserve_mib << 20,
				      .retention = d->conf.capture_retention_days};
	srv_store_reconcile(&d->store);
	srv_store_expire(&d->store, time(NULL));
	expire_audit(d);
	raise_fd_limit();
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Sockets' input buffers start at 4 KiB, not 8 (they grow as they must):
	 * a device's parked poll keeps its connection's buffer, so this is most
	 * of what an idle device costs the server. */
	h2o_socket_buffer_prototype._initial_buf.capacity = 4096;
	/* whether sharkd's sandbox starts here (a tenth of a second), before
	 * the site: its lines follow one another as they did */
	struct srv_sharkd_conf sc = {.max = d->conf.sharkd_max,
				     .idle_s = d->conf.sharkd_idle_s,
				     .mem_mib = d->conf.sharkd_mem_mib};
	char why[256];
	int sandbox = sc.max ? srv_sharkd_probe(&sc, why, sizeof(why)) : 0;

	host = web_site_init(&d->site, "edgecap-server", 1 << 20, NULL);
	srv_api_init(&d->api, host, d->conf.web_root);
	d->site.conns_max = d->conf.connections_max;
	d->site.conns_per_addr_max = d->conf.connections_per_address_max;
	r = web_site_start(&d->site, NULL, d->conf.listen,
			   d->conf.plain_http ? NULL : d->conf.tls_cert, d->conf.tls_key, err,
			   errlen);
	if (r)
		return r;
	h2o_multithread_register_receiver(d->site.ctx.queue, &d->getaddr,
					  h2o_hostinfo_getaddr_receiver);
	/* the routes that read the registry, off the loop where it can wait
	 * (PostgreSQL): so many at once, a connection each */
	r = srv_co_start(d->site.ctx.loop, d->reg, d->conf.registry_connections);
	if (r < 0) {
		snprintf(err, errlen, "registry: connections for requests: %s", strerror(-r));
		return r;
	}
	/* the CAs devices are checked against; each connection has its own context
	 * for the device's name (service/capture.c) */
	d->ca = web_tls_client(d->conf.ca_file[0] ? d->conf.ca_file : NULL, NULL,
			       h2o_iovec_init(NULL, 0), err, errlen);
	if (!d->ca)
		return -EINVAL;
	/* and the CA the server issues its claimed devices' certificates from */
	r = srv_devca_open(d->conf.data, &d->devca, err, errlen);
	if (r)
		return r;
	if (X509_STORE_add_cert(SSL_CTX_get_cert_store(d->ca), srv_devca_cert(d->devca)) != 1) {
		snprintf(err, errlen, "the device CA: cannot trust it");
		return -EIO;
	}
	d->captures = srv_captures_new(&(struct srv_captures_conf){
	    .loop = d->site.ctx.loop,
	    .getaddr = &d->getaddr,
	    .reg = d->reg,
	    .data_dir = d->conf.data,
	    .ca_store = SSL_CTX_get_cert_store(d->ca),
	    .userappl = SRV_VERSION,
	    .bytes_max = (uint64_t)d->conf.capture_max_mib << 20,
	    .org_captures_max = d->conf.org_captures_max,
	    .reach = &d->reach,
	    .store = &d->store,
	    .instance = &d->instance,
	});
	if (!d->captures) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = srv_compiler_new(&(struct srv_compiler_conf){.loop = d->site.ctx.loop,
							 .workers = d->conf.compile_workers,
							 .cpu_ms = d->conf.compile_cpu_ms},
			     &d->compiler, err, errlen);
	if (r)
		return r;
	d->api.compiler = d->compiler;
	r = srv_pwwork_new(d->site.ctx.loop, d->conf.password_workers, 64, &d->pwwork);
	if (r) {
		snprintf(err, errlen, "password workers: %s", strerror(-r));
		return r;
	}
	d->api.pwwork = d->pwwork;
	sc.loop = d->site.ctx.loop;
	if (!d->conf.sharkd_max) {
		snprintf(d->api.sharkd_off, sizeof(d->api.sharkd_off),
			 "packet detail is off on this server (sharkd_max = 0)");
	} else if (sandbox) {
		snprintf(d->api.sharkd_off, sizeof(d->api.sharkd_off),
			 "packet detail is off on this server: %s", why);
		ecap_log(LOG_WARNING, "%s", d->api.sharkd_off);
	} else {
		d->sharkd = srv_sharkd_pool_new(&sc);
		if (!d->sharkd) {
			snprintf(err, errlen, "packet views: %s", strerror(ENOMEM));
			return -ENOMEM;
		}
	}
	d->api.sharkd = d->sharkd;
	d->api.session_idle_s = d->conf.session_idle_s;
	d->api.session_max_s = d->conf.session_max_s;
	d->api.loop = d->site.ctx.loop;
	d->api.reg = d->reg;
	d->api.reach = &d->reach;
	d->api.store = &d->store;
	d->api.captures = d->captures;
	d->api.duration = d->conf.capture_duration;
	d->api.duration_max = d->conf.capture_duration_max;
	d->api.readers_max = d->conf.capture_readers_max;
	d->api.text_readers_max = d->conf.text_readers_max;
	d->api.site = &d->site;
	d->api.instance = &d->instance;
	d->api.getaddr = &d->getaddr;
	d->api.ca_store = SSL_CTX_get_cert_store(d->ca);
	d->started = 1;
	r = srv_instance_start(&d->instance, d->site.ctx.loop, d->reg, d->conf.instance_address,
			       err, errlen);
	if (r)
		return r;
	if (d->conf.tunnel_udp[0]) {
		r = srv_tunnel_start(&(struct srv_tunnel_conf){.loop = d->site.ctx.loop,
							       .reg = d->reg,
							       .udp = d->conf.tunnel_udp,
							       .ifname = d->conf.tunnel_if,
							       .max_devices = d->conf.tunnel_max,
							       .hold_ms = d->conf.tunnel_hold_ms,
							       .devca = d->devca,
							       .instance = d->instance.id,
							       .answer = srv_tunnel_answer},
				     &d->tunnel, err, errlen);
		if (r)
			return r;
		d->api.tunnel = d->tunnel;
	}
	/* what the other servers on the registry signal */
	d->notices =
	    (struct srv_notice_hooks){.stop = stop_noticed, .moved = moved_noticed, .data = d};
	r = srv_instance_listen(&d->instance, d->site.ctx.queue, &d->notices);
	if (r && r != -EOPNOTSUPP) {
		snprintf(err, errlen, "instance: listening: %s", strerror(-r));
		return r;
	}
	d->reports =
	    srv_reports_new(&(struct srv_reports_conf){.loop = d->site.ctx.loop,
						       .getaddr = &d->getaddr,
						       .reg = d->reg,
						       .ca_store = SSL_CTX_get_cert_store(d->ca),
						       .reach = &d->reach,
						       .userappl = SRV_VERSION,
						       .interval_s = d->conf.report_interval_s,
						       .instance = d->instance.id});
	if (!d->reports) {
		snprintf(err, errlen, "device reports: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	d->api.report_interval_s = d->conf.report_interval_s;
	r = srv_metrics_start(&d->api, d->conf.metrics_listen, err, errlen);
	if (r)
		return r;
	srv_api_start(&d->api);
	h2o_timeout_init(d->site.ctx.loop, &d->hourly, 3600 * 1000);
	d->expire.cb = on_hour;
	h2o_timeout_link(d->site.ctx.loop, &d->hourly, &d->expire);
	web_watch(d->site.ctx.loop, signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC), on_signal, d);
	ecap_log(LOG_INFO,
		 "serving on %s%s, registry %s (schema %d) as instance %s, captures in %s, at "
		 "most %u connections (%u from one address)",
		 d->conf.listen, d->conf.plain_http ? " (plain HTTP)" : " (HTTPS)",
		 reg_where(d->reg), reg_schema_version(d->reg), d->instance.id, d->conf.data,
		 d->site.conns_max, d->site.conns_per_addr_max);
	return 0;
}

void srv_daemon_run(struct srv_daemon *d)
{
	while (!d->api.stopping)
		h2o_evloop_run(d->site.ctx.loop, INT32_MAX);
	for (uint64_t until = h2o_now(d->site.ctx.loop) + STOP_GRACE_MS;
	     srv_captures_running(d->captures) && h2o_now(d->site.ctx.loop) < until;)
		h2o_evloop_run(d->site.ctx.loop, 100);
}

void srv_daemon_free(struct srv_daemon *d)
{
	if (d->started)
		srv_api_stop(&d->api);
	srv_reports_free(d->reports);
	srv_tunnel_stop(d->tunnel);
	srv_instance_stop(&d->instance);
	/* compiles still under way are answered 503, their workers killed */
	srv_compiler_free(d->compiler);
	srv_pwwork_free(d->pwwork);
	srv_sharkd_pool_free(d->sharkd);
	/* the loop and h2o's contexts live until exit: h2o 2.2 cannot destroy a
	 * loop; captures still running after the grace period go with it */
	if (d->site.ssl)
		SSL_CTX_free(d->site.ssl);
	if (d->ca)
		SSL_CTX_free(d->ca);
	srv_devca_free(d->devca);
	srv_co_stop();
	reg_close(d->reg);
}
