/* test_lptable.c - the long-poll table (server/service/lptable.h) on a real
 * h2o loop with real UDP sockets on loopback, no root: a socket here plays
 * the mTunnel server, and the parked requests are records of their answers.
 * Parking and the hold time, datagrams up from a client's own socket, down
 * into the parked request after the coalescing delay, a newer request
 * completing the older, the oldest answered when a third comes, the queue's
 * bound, refused batches, and the quiet socket and idle client leaving. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "service/lptable.h"
#include "tunnel/wire.h"
#include "run_until.h"

#define HOLD_MS 300
#define IDLE_MS 1500

struct waiter {
	int answered;
	uint8_t body[SRV_LP_BODY_MAX];
	size_t len;
	uint64_t at; /* loop ms */
};

static h2o_loop_t *loop;
static int server_fd = -1; /* the mTunnel server's socket */
static struct sockaddr_in server_addr;
static struct srv_lptab *tab;

static void answer(void *w, const uint8_t *body, size_t len)
{
	struct waiter *x = w;

	assert_false(x->answered); /* once */
	x->answered = 1;
	memcpy(x->body, body, len);
	x->len = len;
	x->at = h2o_now(loop);
}

/* A datagram of client's: its header (the table reads the client id at
 * offset 4) and n bytes of payload. */
static size_t dgram(uint8_t *p, uint32_t client, uint8_t fill, size_t n)
{
	memset(p, 0, MTUN_HDR);
	p[0] = MTUN_VERSION;
	mtun_put32(p + 4, client);
	memset(p + MTUN_HDR, fill, n);
	return MTUN_HDR + n;
}

static int setup(void **state)
{
	socklen_t len = sizeof(server_addr);

	loop = loop ? loop : h2o_evloop_create();
	server_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	server_addr =
	    (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (server_fd < 0 ||
	    bind(server_fd, (struct sockaddr *)&server_addr, sizeof(server_addr)) ||
	    getsockname(server_fd, (struct sockaddr *)&server_addr, &len))
		return -1;
	tab = srv_lptab_new(&(struct srv_lptab_conf){.loop = loop,
						     .udp = server_addr,
						     .hold_ms = HOLD_MS,
						     .idle_ms = IDLE_MS,
						     .answer = answer});
	return tab ? 0 : -1;
}

static int teardown(void **state)
{
	srv_lptab_free(tab);
	tab = NULL;
	close(server_fd);
	return 0;
}

static void poll_ok(uint32_t client, const void *batch, size_t len, struct waiter *w)
{
	char err[256] = "";

	assert_int_equal(srv_lptab_poll(tab, client, batch, len, 0, w, err, sizeof(err)), 0);
}

static void parked_until_the_hold(void **state)
{
	struct waiter w = {0};
	uint64_t t0 = h2o_now(loop);

	poll_ok(7, NULL, 0, &w);
	h2o_evloop_run(loop, 50);
	assert_false(w.answered);
	RUN_UNTIL(loop, w.answered, 3 * HOLD_MS);
	assert_true(w.answered);
	assert_int_equal(w.len, 0);
	assert_true(w.at - t0 >= HOLD_MS - 5);
}

static void datagrams_go_up_from_the_clients_socket(void **state)
{
	uint8_t batch[2 * (2 + MTUN_HDR + 100)], dg[MTUN_DGRAM_MAX], got[MTUN_DGRAM_MAX + 1];
	struct ecap_buf b = {0};
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	struct waiter w = {0};
	struct srv_lptab_stats st;
	ssize_t n;

	mtun_batch_put(&b, dg, dgram(dg, 9, 0xaa, 100));
	mtun_batch_put(&b, dg, dgram(dg, 9, 0xbb, 50));
	assert_int_equal(b.len, 2 + 116 + 2 + 66);
	memcpy(batch, b.data, b.len);
	poll_ok(9, batch, b.len, &w);
	n = recvfrom(server_fd, got, sizeof(got), 0, (struct sockaddr *)&from, &flen);
	assert_int_equal(n, 116);
	assert_int_equal(got[MTUN_HDR], 0xaa);
	assert_int_equal(ntohs(from.sin_port), srv_lptab_port(tab, 9));
	assert_true(srv_lptab_owns(tab, ntohs(from.sin_port)));
	assert_int_equal(recv(server_fd, got, sizeof(got), 0), 66);
	srv_lptab_stats(tab, &st);
	assert_int_equal(st.datagrams_up, 2);
	assert_int_equal(st.clients, 1);
	assert_int_equal(st.sockets, 1);
	ecap_buf_free(&b);
	srv_lptab_forget(tab, 9);
	assert_true(w.answered); /* forgetting answers what waits */
	srv_lptab_stats(tab, &st);
	assert_int_equal(st.clients, 0);
	assert_int_equal(srv_lptab_port(tab, 9), 0);
}

static void datagrams_come_down_after_the_coalescing_delay(void **state)
{
	struct sockaddr_in path;
	struct waiter w = {0};
	uint8_t dg[MTUN_DGRAM_MAX];
	const uint8_t *p;
	size_t off = 0, plen;
	const char *why;
	uint64_t t0;

	poll_ok(11, NULL, 0, &w);
	assert_int_equal(srv_lptab_path(tab, 11, &path), 0);
	assert_int_equal(srv_lptab_path(tab, 12, &path), -ENOENT); /* does not poll */
	assert_int_equal(srv_lptab_path(tab, 11, &path), 0);
	t0 = h2o_now(loop);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sendto(server_fd, dg, dgram(dg, 11, (uint8_t)i, 200), 0,
					(struct sockaddr *)&path, sizeof(path)),
				 MTUN_HDR + 200);
	RUN_UNTIL(loop, w.answered, HOLD_MS / 2);
	assert_true(w.answered);
	assert_true(w.at - t0 >= SRV_LP_COALESCE_MS - 2);
	for (int i = 0; i < 3; i++) { /* all three rode along, in order */
		assert_int_equal(mtun_batch_next(w.body, w.len, &off, &p, &plen, &why), 1);
		assert_int_equal(plen, MTUN_HDR + 200);
		assert_int_equal(p[MTUN_HDR], i);
	}
	assert_int_equal(mtun_batch_next(w.body, w.len, &off, &p, &plen, &why), 0);
}

static void a_newer_request_completes_the_older(void **state)
{
	struct waiter a = {0}, b = {0}, c = {0}, d = {0};

	poll_ok(13, NULL, 0, &a);
	poll_ok(13, NULL, 0, &b);
	assert_false(a.answered); /* not before the coalescing delay */
	RUN_UNTIL(loop, a.answered, HOLD_MS / 2);
	assert_true(a.answered);
	assert_int_equal(a.len, 0);
	assert_false(b.answered); /* the newest stays parked */
	poll_ok(13, NULL, 0, &c);
	assert_false(b.answered);
	poll_ok(13, NULL, 0, &d); /* a third waiting: the oldest goes at once */
	assert_true(b.answered);
	assert_false(c.answered || d.answered);
	srv_lptab_forget(tab, 13);
	assert_true(c.answered && d.answered);
}

static void the_queue_is_bounded(void **state)
{
	struct sockaddr_in path;
	struct waiter w = {0}, w2 = {0};
	struct srv_lptab_stats st;
	uint8_t dg[MTUN_DGRAM_MAX];
	size_t sent = 0;
	int sock_buf = 8 << 20;

	setsockopt(server_fd, SOL_SOCKET, SO_SNDBUF, &sock_buf, sizeof(sock_buf));
	poll_ok(15, NULL, 0, &w);
	RUN_UNTIL(loop, w.answered, 3 * HOLD_MS); /* none parked from here */
	assert_int_equal(srv_lptab_path(tab, 15, &path), 0);
	/* until the queue is full: rounds the sockets' buffers take, the table
	 * reading between them (what the kernel drops on the way is not the
	 * table's to count, so the rounds go on until it counts one) */
	do {
		for (int i = 0; i < 64; i++)
			assert_int_equal(sendto(server_fd, dg,
						dgram(dg, 15, 1, MTUN_DGRAM_MAX - MTUN_HDR), 0,
						(struct sockaddr *)&path, sizeof(path)),
					 MTUN_DGRAM_MAX);
		sent += 64 * (2 + MTUN_DGRAM_MAX);
		h2o_evloop_run(loop, 1);
		srv_lptab_stats(tab, &st);
	} while (!st.overflow && sent < 16 * SRV_LP_QUEUE_MAX);
	assert_true(st.overflow > 0);
	assert_true(st.datagrams_down * (2 + MTUN_DGRAM_MAX) <= SRV_LP_QUEUE_MAX);
	/* the next poll takes at most a body's worth, at a datagram's end */
	poll_ok(15, NULL, 0, &w2);
	RUN_UNTIL(loop, w2.answered, HOLD_MS);
	assert_true(w2.answered);
	assert_true(w2.len <= SRV_LP_BODY_MAX && w2.len > SRV_LP_BODY_MAX - 2 - MTUN_DGRAM_MAX);
	assert_int_equal(w2.len % (2 + MTUN_DGRAM_MAX), 0);
	srv_lptab_forget(tab, 15);
}

static void malformed_batches_are_refused_whole(void **state)
{
	uint8_t dg[MTUN_DGRAM_MAX], got[MTUN_DGRAM_MAX];
	struct ecap_buf b = {0};
	struct waiter w = {0};
	char err[256];

	mtun_batch_put(&b, dg, dgram(dg, 17, 1, 10));
	mtun_batch_put(&b, dg, dgram(dg, 18, 1, 10)); /* another client's */
	assert_int_equal(srv_lptab_poll(tab, 17, b.data, b.len, 0, &w, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "batch at byte 28: a datagram of another client");
	assert_int_equal(srv_lptab_poll(tab, 17, b.data, b.len - 1, 0, &w, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "batch at byte 28: "));
	assert_false(w.answered);					  /* not parked */
	assert_true(recv(server_fd, got, sizeof(got), MSG_DONTWAIT) < 0); /* nothing went on */
	ecap_buf_free(&b);
}

static void quiet_sockets_close_and_idle_clients_leave(void **state)
{
	struct srv_lptab_stats st;
	struct sockaddr_in path;
	struct waiter w = {0};

	poll_ok(19, NULL, 0, &w);
	assert_int_equal(srv_lptab_path(tab, 19, &path), 0);
	assert_int_not_equal(srv_lptab_port(tab, 19), 0);
	/* two hold times without a datagram: the socket goes (the client stays) */
	RUN_UNTIL(loop, srv_lptab_port(tab, 19) == 0, 2 * HOLD_MS + 2000);
	assert_int_equal(srv_lptab_port(tab, 19), 0);
	srv_lptab_stats(tab, &st);
	assert_int_equal(st.clients, 1);
	assert_int_equal(st.sockets, 0);
	/* a datagram for it opens it again */
	assert_int_equal(srv_lptab_path(tab, 19, &path), 0);
	assert_int_not_equal(srv_lptab_port(tab, 19), 0);
	/* no request for the idle time: the client leaves */
	RUN_UNTIL(loop, (srv_lptab_stats(tab, &st), st.clients == 0), IDLE_MS + 2000);
	assert_int_equal(st.clients, 0);
	assert_int_equal(st.sockets, 0);
}

/* A device's own hold (its settings): parked for its whole seconds when
 * shorter than the table's, else the table's; a table freed with polls
 * parked on either answers them all. */
static void a_devices_own_hold(void **state)
{
	struct srv_lptab *t3 = srv_lptab_new(&(struct srv_lptab_conf){
	    .loop = loop, .udp = server_addr, .hold_ms = 3000, .answer = answer});
	struct waiter own = {0}, longer = {0}, left1 = {0}, left2 = {0};
	uint64_t t0 = h2o_now(loop);
	char err[256];

	assert_non_null(t3);
	assert_int_equal(srv_lptab_poll(t3, 1, NULL, 0, 1999, &own, err, sizeof(err)), 0);
	assert_int_equal(srv_lptab_poll(t3, 2, NULL, 0, 5000, &longer, err, sizeof(err)), 0);
	RUN_UNTIL(loop, own.answered, 2500);
	assert_true(own.answered && own.len == 0);
	assert_true(own.at - t0 >= 995 && own.at - t0 < 1900); /* 1999: its whole second */
	assert_false(longer.answered);			       /* the table's 3 s */
	RUN_UNTIL(loop, longer.answered, 2500);
	assert_true(longer.answered && longer.at - t0 >= 2995);
	assert_int_equal(srv_lptab_poll(t3, 1, NULL, 0, 2000, &left1, err, sizeof(err)), 0);
	assert_int_equal(srv_lptab_poll(t3, 2, NULL, 0, 0, &left2, err, sizeof(err)), 0);
	srv_lptab_free(t3);
	assert_true(left1.answered && left2.answered);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(parked_until_the_hold, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_devices_own_hold, setup, teardown),
	    cmocka_unit_test_setup_teardown(datagrams_go_up_from_the_clients_socket, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(datagrams_come_down_after_the_coalescing_delay, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(a_newer_request_completes_the_older, setup, teardown),
	    cmocka_unit_test_setup_teardown(the_queue_is_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(malformed_batches_are_refused_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(quiet_sockets_close_and_idle_clients_leave, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
