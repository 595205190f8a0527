/* test_capture.c - the capture lifecycle (server/service/capture.h) without
 * root: real HTTP on loopback, synthetic devices (tests/lib/devsim.h) that
 * check the server's signatures, a registry on SQLite in memory, the
 * merged file read back with the stream reader. Streams merged to the end
 * with every device's statistics; a device that breaks off, one that
 * refuses, one that cannot be reached; a stop, with a device that ends as
 * asked and one that hangs and is cut off; readers watching and the last
 * one leaving. */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/hex.h"
#include "core/pcapng_reader.h"
#include "devsim.h"
#include "service/capture.h"
#include "run_until.h"

#define DEVS_MAX 8

static h2o_loop_t *loop;
static h2o_multithread_queue_t *queue;
static h2o_multithread_receiver_t getaddr;
static struct reg *reg;
static struct srv_captures *caps;
static struct reg_user admin;
static char data[64];
static uint64_t bytes_max; /* the next setup's limit on a capture's packets */
static unsigned org_max;   /* the next setup's captures an organization runs at once */

struct dev {
	struct devsim *sim;
	struct reg_device d;
};
static struct dev devs[DEVS_MAX];
static unsigned ndevs;

static int setup(void **state)
{
	char err[256], token[2 * REG_TOKEN_LEN + 1];

	if (!loop) {
		loop = h2o_evloop_create();
		queue = h2o_multithread_create_queue(loop);
		h2o_multithread_register_receiver(queue, &getaddr, h2o_hostinfo_getaddr_receiver);
	}
	snprintf(data, sizeof(data), "/tmp/ecap-capture-test.XXXXXX");
	if (!mkdtemp(data) || reg_open(":memory:", &reg, err, sizeof(err)) ||
	    reg_org_add(reg, "acme") < 0 || reg_admin_add(reg, "acme", "alice", token) < 0 ||
	    reg_user_by_token(reg, token, strlen(token), &admin))
		return -1;
	caps = srv_captures_new(&(struct srv_captures_conf){.loop = loop,
							    .getaddr = &getaddr,
							    .reg = reg,
							    .data_dir = data,
							    .userappl = "test",
							    .bytes_max = bytes_max,
							    .org_captures_max = org_max});
	ndevs = 0;
	return caps ? 0 : -1;
}

/* A free port on loopback (the kernel's choice, released for a device to
 * take next). */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* A device named name, enrolled, served by a devsim made with o that
 * checks the server signs with the device's secret. */
static struct dev *device(const char *name, struct devsim_opts o)
{
	char secret_hex[2 * REG_SECRET_LEN + 1], addr[64], listen[32], err[256];
	struct dev *v;
	uint8_t secret[REG_SECRET_LEN];
	int port;

	assert_true(ndevs < DEVS_MAX);
	v = &devs[ndevs++];
	port = free_port();

	snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	assert_true(reg_device_add(reg, admin.org, name, name, addr, NULL, secret_hex) > 0);
	assert_int_equal(reg_device_get(reg, admin.org, name, &v->d), 0);
	assert_int_equal(ecap_hex_decode(secret_hex, secret, sizeof(secret)), REG_SECRET_LEN);
	o.secret = secret;
	o.secret_len = sizeof(secret);
	assert_int_equal(devsim_new(loop, listen, &o, &v->sim, err, sizeof(err)), 0);
	return v;
}

/* An address nothing listens on. */
static void unreachable(const char *name)
{
	char secret_hex[2 * REG_SECRET_LEN + 1];
	struct dev *v;

	assert_true(ndevs < DEVS_MAX);
	v = &devs[ndevs++];
	assert_true(
	    reg_device_add(reg, admin.org, name, name, "http://127.0.0.1:9", NULL, secret_hex) > 0);
	assert_int_equal(reg_device_get(reg, admin.org, name, &v->d), 0);
	v->sim = NULL;
}

static int teardown(void **state)
{
	char cmd[128];

	RUN_UNTIL(loop, !srv_captures_running(caps), 5000);
	for (unsigned i = 0; i < ndevs; i++)
		if (devs[i].sim) {
			devsim_stop(devs[i].sim);
			RUN_UNTIL(loop, devsim_idle(devs[i].sim), 5000);
			devsim_free(devs[i].sim);
		}
	srv_captures_free(caps);
	reg_close(reg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", data);
	return system(cmd);
}

/* Over: done, or already freed (done, and nobody read it). */
static int done(int64_t id)
{
	struct srv_capture *c = srv_capture_find(caps, admin.org, id);

	return !c || srv_capture_done(c);
}

static void run_for(unsigned ms)
{
	uint64_t until = h2o_now(loop) + ms;

	while (h2o_now(loop) < until)
		h2o_evloop_run(loop, 10);
}

/* A capture of every device by who: its id, or -errno with err. */
static int64_t start_as(const struct reg_user *who, uint64_t count, uint32_t duration, char *err,
			size_t errlen)
{
	struct reg_device d[DEVS_MAX];

	for (unsigned i = 0; i < ndevs; i++)
		d[i] = devs[i].d;
	/* the filter as the agent takes it: "return 262144", every packet */
	return srv_capture_start(
	    caps, who,
	    &(struct srv_capture_req){.request = "{}",
				      .devs = d,
				      .ndevs = ndevs,
				      .progs = {{"EN10MB", "1,6%200%200%20262144"}},
				      .nprogs = 1,
				      .ifaces = "",
				      .dir = "inout",
				      .snaplen = 262144,
				      .count = count,
				      .duration = duration},
	    err, errlen);
}

static int64_t start(uint64_t count, uint32_t duration)
{
	char err[256];
	int64_t id = start_as(&admin, count, duration, err, sizeof(err));

	assert_true(id > 0);
	return id;
}

static struct reg_capture *status(int64_t id)
{
	struct reg_capture *c;
	size_t n;

	assert_int_equal(reg_captures_list(reg, admin.org, id, &c, &n), 0);
	return c;
}

/* What the registry says ended the capture. */
static void ended_by(int64_t id, const char *want)
{
	struct reg_capture *c = status(id);

	assert_non_null(c->ended_by);
	assert_string_equal(c->ended_by, want);
	reg_captures_free(c, 1);
}

static const struct reg_capture_device *device_state(const struct reg_capture *c, const char *name)
{
	for (size_t i = 0; i < c->ndevs; i++)
		if (!strcmp(c->devs[i].device, name))
			return &c->devs[i];
	fail_msg("no device %s in the capture", name);
	return NULL;
}

struct file_count {
	uint64_t packets, stats, ifaces, bytes;
	int64_t first_ts, last_ts;
	int ordered;
};

static int count_block(void *ctx, enum srv_pcapng_event ev, const void *arg)
{
	struct file_count *f = ctx;

	if (ev == SRV_PCAPNG_PACKET) {
		const struct srv_pcapng_packet *p = arg;

		f->ordered &= p->ts >= f->last_ts;
		if (!f->packets)
			f->first_ts = p->ts;
		f->last_ts = p->ts;
		f->packets++;
		f->bytes += p->caplen;
	}
	f->stats += ev == SRV_PCAPNG_STATS;
	f->ifaces += ev == SRV_PCAPNG_IFACE;
	return 0;
}

/* The capture's merged file, read back whole. */
static struct file_count read_file(int64_t id)
{
	struct file_count f = {.ordered = 1};
	struct srv_pcapng_reader rd;
	char path[512];
	uint8_t buf[65536];
	ssize_t n;
	int fd;

	assert_int_equal(reg_capture_file(reg, admin.org, id, path, sizeof(path)), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	srv_pcapng_init(&rd, count_block, &f);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		assert_int_equal(srv_pcapng_feed(&rd, buf, (size_t)n), 0);
	assert_int_equal(srv_pcapng_end(&rd), 0);
	srv_pcapng_free(&rd);
	close(fd);
	return f;
}

/* Each device's packets on the server's time line, by the clock offset it
 * reported: one 5 s ahead is taken back 5 s and flagged past the reorder
 * window; one within the measure's error is left alone; one that never
 * reported is flagged unknown. */
static void clocks_place_packets_on_the_servers_time(void **state)
{
	struct dev *ahead = device("ahead", (struct devsim_opts){.packets = 30, .seed = 7}),
		   *steady = device("steady", (struct devsim_opts){.packets = 30, .seed = 8});
	struct timespec t;
	struct reg_capture *c;
	struct file_count f;
	int64_t id, before;

	device("unknown", (struct devsim_opts){.packets = 30, .seed = 9});
	reg_device_report(reg, ahead->d.id, ahead->d.serial,
			  "{\"clock_offset_ms\":5000,\"rtt_ms\":4}", time(NULL));
	reg_device_report(reg, steady->d.id, steady->d.serial,
			  "{\"clock_offset_ms\":-2,\"rtt_ms\":4}", time(NULL));
	clock_gettime(CLOCK_REALTIME, &t);
	before = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
	id = start(0, 0);
	RUN_UNTIL(loop, done(id), 10000);
	c = status(id);
	assert_non_null(device_state(c, "ahead")->clock);
	assert_string_equal(device_state(c, "ahead")->clock,
			    "clock +5000 ms off the server's (to within 3 ms), past the merger's "
			    "reorder window: its packets are placed on the server's time line");
	assert_null(device_state(c, "steady")->clock);
	assert_non_null(device_state(c, "unknown")->clock);
	assert_non_null(strstr(device_state(c, "unknown")->clock, "clock unknown"));
	reg_captures_free(c, 1);
	f = read_file(id);
	assert_int_equal(f.packets, 90);
	assert_true(f.ordered);
	/* the first packets are the device's that runs ahead, taken back 5 s */
	assert_true(f.first_ts < before - 4000000000ll);
	assert_true(f.first_ts > before - 6000000000ll);
	assert_true(f.last_ts >= before);
}

static void streams_merge_to_the_end(void **state)
{
	struct reg_capture *c;
	struct file_count f;
	int64_t id;

	device("gw1", (struct devsim_opts){.packets = 3000, .seed = 1});
	device("gw2", (struct devsim_opts){.packets = 2000, .seed = 2});
	id = start(0, 0);
	assert_non_null(srv_capture_find(caps, admin.org, id));
	RUN_UNTIL(loop, done(id), 20000);
	c = status(id);
	assert_string_equal(c->state, "done");
	assert_int_equal(c->merged, 5000);
	assert_int_equal(c->duplicates, 0);
	assert_int_equal(c->late, 0);
	assert_string_equal(device_state(c, "gw1")->state, "done");
	assert_null(device_state(c, "gw1")->error);
	assert_int_equal(device_state(c, "gw1")->packets, 3000);
	assert_int_equal(device_state(c, "gw2")->packets, 2000);
	assert_string_equal(c->ended_by, "devices done"); /* at their own ends: no duration */
	reg_captures_free(c, 1);
	f = read_file(id);
	assert_int_equal(f.packets, 5000);
	assert_int_equal(f.ifaces, 4); /* each device's, in and out */
	assert_int_equal(f.stats, 4);  /* each with its device's statistics */
	assert_true(f.ordered);
}

static void the_same_packets_from_two_devices_once(void **state)
{
	struct reg_capture *c;
	int64_t id;

	device("gw1", (struct devsim_opts){.packets = 1000, .seed = 7});
	device("gw2", (struct devsim_opts){.packets = 1000, .seed = 7});
	id = start(0, 0);
	RUN_UNTIL(loop, done(id), 20000);
	c = status(id);
	assert_string_equal(c->state, "done");
	assert_int_equal(c->merged + c->duplicates, 2000);
	assert_int_equal(c->duplicates, 1000);
	reg_captures_free(c, 1);
}

static void failing_devices_are_reported_and_the_others_go_on(void **state)
{
	const struct reg_capture_device *d;
	struct reg_capture *c;
	int64_t id;

	device("good", (struct devsim_opts){.packets = 500, .seed = 1});
	device("broken", (struct devsim_opts){.packets = 100000, .seed = 2, .break_after = 200000});
	device("refuses", (struct devsim_opts){.refuse = 403, .refuse_body = "bad signature"});
	device("foreign", (struct devsim_opts){.refuse = 404,
					       .refuse_body = "INTERNAL secret=hunter2",
					       .foreign = 1});
	unreachable("gone");
	id = start(0, 0);
	RUN_UNTIL(loop, done(id), 20000);
	c = status(id);
	assert_string_equal(c->state, "done");
	d = device_state(c, "good");
	assert_string_equal(d->state, "done");
	assert_int_equal(d->packets, 500);
	d = device_state(c, "broken");
	assert_string_equal(d->state, "failed");
	/* cut inside a chunk (by the HTTP layer) or between two (by the stream's
	 * missing end), it broke off */
	assert_non_null(d->error);
	assert_memory_equal(d->error, "the stream broke off", 20);
	assert_true(d->packets > 0 && d->packets < 100000);
	d = device_state(c, "refuses");
	assert_string_equal(d->state, "failed");
	assert_string_equal(d->error, "HTTP 403: bad signature");
	/* what another service at a device's address answers is not shown */
	d = device_state(c, "foreign");
	assert_string_equal(d->state, "failed");
	assert_string_equal(d->error, "HTTP 404");
	d = device_state(c, "gone");
	assert_string_equal(d->state, "failed");
	assert_non_null(strstr(d->error, "connecting to http://127.0.0.1:9: "));
	assert_true(c->merged >= 500);
	reg_captures_free(c, 1);
}

static void a_stop_ends_devices_with_their_statistics(void **state)
{
	const struct reg_capture_device *d;
	struct reg_capture *c;
	struct file_count f;
	int64_t id;

	device("endless", (struct devsim_opts){.seed = 1});
	device("hung", (struct devsim_opts){.stall = 1});
	id = start(0, 0);
	run_for(300); /* streaming a while */
	assert_int_equal(srv_capture_stop(caps, admin.org, id), 0);
	assert_int_equal(srv_capture_stop(caps, admin.org + 1, id), -ENOENT); /* another org's */
	RUN_UNTIL(loop, done(id), 10000);
	c = status(id);
	assert_string_equal(c->state, "done");
	d = device_state(c, "endless"); /* ended as at a limit: statistics came */
	assert_string_equal(d->state, "done");
	assert_null(d->error);
	assert_true(d->packets > 0);
	d = device_state(c, "hung"); /* cut off after the wait: it failed */
	assert_string_equal(d->state, "failed");
	assert_string_equal(d->error, "it hung: it did not end in time when asked to stop");
	reg_captures_free(c, 1);
	f = read_file(id);
	assert_true(f.packets > 0);
	assert_int_equal(f.stats, 4); /* the hung one's say its statistics did not come */
	assert_int_equal(srv_capture_stop(caps, admin.org, id), -ENOENT); /* over */
	ended_by(id, "stopped");
}

struct watch {
	struct srv_capture_watch w;
	struct srv_capture *c;
	unsigned wakes;
	int saw_done;
};

static void on_wake(struct srv_capture_watch *w)
{
	struct watch *x = (struct watch *)w;

	x->wakes++;
	x->saw_done |= srv_capture_done(x->c);
}

static void watches_follow_and_the_last_one_leaving_stops_it(void **state)
{
	struct watch a = {.w = {.wake = on_wake}}, b = {.w = {.wake = on_wake}};
	struct reg_capture *c;
	int64_t id;

	device("gw1", (struct devsim_opts){.packets = 2000, .seed = 1});
	id = start(0, 0);
	a.c = b.c = srv_capture_find(caps, admin.org, id);
	srv_capture_watch(a.c, &a.w);
	RUN_UNTIL(loop, srv_capture_done(a.c), 20000);
	assert_true(a.wakes > 0 && a.saw_done); /* woken as it grew, and at its end */
	srv_capture_unwatch(a.c, &a.w);
	RUN_UNTIL(loop, !srv_capture_find(caps, admin.org, id), 2000);
	assert_null(srv_capture_find(caps, admin.org, id)); /* freed: read from its file */

	/* a capture whose last reader leaves is stopped */
	devsim_stop(devs[0].sim);
	RUN_UNTIL(loop, devsim_idle(devs[0].sim), 5000);
	devsim_free(devs[0].sim);
	ndevs = 0;
	device("gw9", (struct devsim_opts){.seed = 3});
	id = start(0, 0);
	b.c = srv_capture_find(caps, admin.org, id);
	srv_capture_watch(b.c, &b.w);
	RUN_UNTIL(loop, b.wakes > 2, 5000);
	srv_capture_unwatch(b.c, &b.w);
	RUN_UNTIL(loop, srv_capture_done(b.c), 10000);
	c = status(id);
	assert_string_equal(c->state, "done");
	assert_string_equal(device_state(c, "gw9")->state, "done");
	assert_string_equal(c->ended_by, "reader left");
	reg_captures_free(c, 1);
}

static void a_count_stops_the_merged_output_exactly(void **state)
{
	struct file_count f;
	int64_t id;

	device("gw1", (struct devsim_opts){.seed = 1});
	device("gw2", (struct devsim_opts){.seed = 2});
	id = start(777, 0);
	RUN_UNTIL(loop, done(id), 20000);
	f = read_file(id);
	assert_int_equal(f.packets, 777);
	assert_int_equal(f.stats, 4);
	ended_by(id, "count");
}

static void a_capture_whose_devices_all_fail_says_so(void **state)
{
	int64_t id;

	unreachable("gone");
	device("refuses", (struct devsim_opts){.refuse = 403, .refuse_body = "bad signature"});
	id = start(0, 5);
	RUN_UNTIL(loop, done(id), 10000);
	ended_by(id, "devices failed");
}

static int setup_org_max(void **state)
{
	org_max = 2;
	return setup(state);
}

static int teardown_org_max(void **state)
{
	org_max = 0;
	return teardown(state);
}

/* An organization runs org_captures_max captures at once; another's start
 * all the same, and one that ends makes room. */
static void an_organization_runs_a_bounded_number_of_captures(void **state)
{
	char err[256], token[2 * REG_TOKEN_LEN + 1];
	struct reg_user bob;
	int64_t a, b, c;

	assert_true(reg_org_add(reg, "globex") > 0);
	assert_true(reg_admin_add(reg, "globex", "bob", token) > 0);
	assert_int_equal(reg_user_by_token(reg, token, strlen(token), &bob), 0);
	device("gw1", (struct devsim_opts){.seed = 1}); /* streams until stopped */
	a = start(0, 0);
	b = start(0, 0);
	assert_int_equal(start_as(&admin, 0, 0, err, sizeof(err)), -EUSERS);
	assert_string_equal(err, "the organization runs 2 captures already, the most it may "
				 "(org_captures_max = 2)");
	c = start_as(&bob, 0, 0, err, sizeof(err)); /* another organization's */
	assert_true(c > 0);
	assert_int_equal(srv_capture_stop(caps, admin.org, a), 0);
	RUN_UNTIL(loop, done(a), 10000);
	a = start(0, 0); /* room again */
	assert_int_equal(srv_capture_stop(caps, admin.org, a), 0);
	assert_int_equal(srv_capture_stop(caps, admin.org, b), 0);
	assert_int_equal(srv_capture_stop(caps, bob.org, c), 0);
	RUN_UNTIL(loop, done(a) && done(b) && done(c), 10000);
}

static int setup_bytes(void **state)
{
	bytes_max = 3u << 20;
	return setup(state);
}

static int teardown_bytes(void **state)
{
	bytes_max = 0;
	return teardown(state);
}

/* Devices that would stream for ever: the server's byte limit ends the
 * capture, with their statistics, and nothing past it is kept. */
static void the_byte_limit_ends_a_capture(void **state)
{
	struct file_count f;
	struct reg_capture *c;
	int64_t id;

	device("gw1", (struct devsim_opts){.seed = 1});
	device("gw2", (struct devsim_opts){.seed = 2});
	id = start(0, 0);
	RUN_UNTIL(loop, done(id), 20000);
	f = read_file(id);
	assert_true(f.packets > 0);
	/* packet data alone: the blocks' headers count against the limit too */
	assert_true(f.bytes < bytes_max);
	assert_true(f.bytes > bytes_max / 2);
	assert_int_equal(f.stats, 4);
	c = status(id);
	assert_string_equal(c->state, "done");
	assert_int_equal(c->merged, f.packets);
	assert_string_equal(c->ended_by, "bytes");
	reg_captures_free(c, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(streams_merge_to_the_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(clocks_place_packets_on_the_servers_time, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(the_same_packets_from_two_devices_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(failing_devices_are_reported_and_the_others_go_on,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(a_stop_ends_devices_with_their_statistics, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(watches_follow_and_the_last_one_leaving_stops_it, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(a_count_stops_the_merged_output_exactly, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(a_capture_whose_devices_all_fail_says_so, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(an_organization_runs_a_bounded_number_of_captures,
					    setup_org_max, teardown_org_max),
	    cmocka_unit_test_setup_teardown(the_byte_limit_ends_a_capture, setup_bytes,
					    teardown_bytes),
	};

	signal(SIGPIPE, SIG_IGN); /* as the server: a peer's close is an error, not the end */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
