/* test_engine.c - the capture hooks built by meson (skeleton): they pass
 * packets on when no session is installed, tail-call into translated
 * programs put in their slots, attach to a veth in a namespace of our own and
 * leave nothing behind on close or when killed (links), and a later run
 * removes what a killed one left attached (clsact filters, and XDP attached
 * through netlink as earlier versions did). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture.h"
#include "capture/engine.h"
#include "capture/sessions.h"
#include "filter/filter.h"
#include "filter/compile.h"

static char ns[64];
static int root_ns = -1;

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* A namespace with a veth pair, entered by this process. */
static int setup(void **s)
{
	char path[128];
	int fd;

	snprintf(ns, sizeof(ns), "ecaptest-%d", getpid());
	root_ns = open("/proc/self/ns/net", O_RDONLY);
	if (sh("ip netns add %s", ns))
		return -1;
	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	fd = open(path, O_RDONLY);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		return -1;
	close(fd);
	return sh(
	    "ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up");
}

static int teardown(void **s)
{
	if (root_ns >= 0)
		setns(root_ns, CLONE_NEWNET);
	sh("ip netns del %s 2>/dev/null", ns);
	return 0;
}

static int translated(const char *expr, enum ecap_hook hook, unsigned snaplen)
{
	struct ecap_xlate_opts o = {hook, ECAP_INPUT_LIVE, ECAP_ACCESS_AUTO};
	struct ecap_cbpf p = {0};
	char err[ECAP_ERRLEN];
	int fd;

	assert_int_equal(
	    ecap_filter_compile(expr, ECAP_LINKTYPE_EN10MB, snaplen, &p, err, sizeof(err)), 0);
	fd = ecap_filter_load(p.insns, p.len, &o, err, sizeof(err));
	if (fd < 0)
		fail_msg("%s", err);
	ecap_cbpf_free(&p);
	return fd;
}

static uint32_t run(int fd, enum ecap_hook hook)
{
	static const uint8_t pkt[60] = {[12] = 0x08, [13] = 0x00, [14] = 0x45, [23] = 17};
	uint32_t ret = 0;

	/* the hooks read no test metadata: full-length packet */
	assert_int_equal(ecap_prog_test_run(fd, hook, pkt, sizeof(pkt), sizeof(pkt), &ret), 0);
	return ret;
}

static void slots(void **s)
{
	struct ecap_engine_opts o = {.ring_bytes = 1 << 20};
	struct ecap_engine *e = NULL;
	char err[ECAP_ERRLEN];
	int xdp, tc, udp_xdp, tcp_xdp, udp_tc;

	if (ecap_engine_open(&o, &e, err, sizeof(err)))
		fail_msg("%s", err);
	xdp = ecap_engine_hook_fd(e, ECAP_HOOK_ID_XDP);
	tc = ecap_engine_hook_fd(e, ECAP_HOOK_ID_TC_OUT);
	assert_int_equal(run(xdp, ECAP_HOOK_XDP), XDP_PASS);
	assert_int_equal(run(tc, ECAP_HOOK_TC), (uint32_t)TC_ACT_UNSPEC);

	/* a translated filter in the slot decides the hook's result here */
	udp_xdp = translated("udp", ECAP_HOOK_XDP, 77);
	tcp_xdp = translated("tcp", ECAP_HOOK_XDP, 77);
	udp_tc = translated("udp", ECAP_HOOK_TC, 99);
	assert_int_equal(ecap_engine_set_slot(e, ECAP_HOOK_ID_XDP, udp_xdp), 0);
	assert_int_equal(run(xdp, ECAP_HOOK_XDP), 77);
	assert_int_equal(ecap_engine_set_slot(e, ECAP_HOOK_ID_XDP, tcp_xdp), 0);
	assert_int_equal(run(xdp, ECAP_HOOK_XDP), 0);
	assert_int_equal(ecap_engine_set_slot(e, ECAP_HOOK_ID_TC_OUT, udp_tc), 0);
	assert_int_equal(run(tc, ECAP_HOOK_TC), 99);
	/* emptied slots: back to passing */
	assert_int_equal(ecap_engine_set_slot(e, ECAP_HOOK_ID_XDP, -1), 0);
	assert_int_equal(ecap_engine_set_slot(e, ECAP_HOOK_ID_TC_OUT, -1), 0);
	assert_int_equal(run(xdp, ECAP_HOOK_XDP), XDP_PASS);
	assert_int_equal(run(tc, ECAP_HOOK_TC), (uint32_t)TC_ACT_UNSPEC);
	close(udp_xdp);
	close(tcp_xdp);
	close(udp_tc);
	ecap_engine_close(e);
}

/* Our hooks on v0, a bit each (1 XDP, 2 TC ingress, 4 TC egress), as the
 * engine finds them, XDP attached `xdp_via` (xdp-link or xdp) and every TC
 * one `via` (tcx or clsact); ip and tc must see the same. */
static int attached(const char *via, const char *xdp_via)
{
	struct ecap_hook_state st[ECAP_HOOKS];
	int m = 0, clsact = !strcmp(via, "clsact");

	ecap_engine_hooks_on(if_nametoindex("v0"), st);
	for (int h = 0; h < ECAP_HOOKS; h++) {
		if (!st[h].prog_id)
			continue;
		m |= 1 << h;
		assert_string_equal(st[h].via, h == ECAP_HOOK_ID_XDP ? xdp_via : via);
	}
	assert_int_equal(m & 1, !sh("ip link show dev v0 | grep -q 'prog/xdp'"));
	assert_int_equal(clsact && (m & 2),
			 !sh("tc filter show dev v0 ingress | grep -q ecap_tc_ingress"));
	assert_int_equal(clsact && (m & 4),
			 !sh("tc filter show dev v0 egress | grep -q ecap_tc_egress"));
	return m;
}

/* The mode an engine opened with tc_clsact = `clsact` attaches TC in. */
static const char *tc_via(int clsact)
{
	return !clsact && ecap_tcx_available() ? "tcx" : "clsact";
}

#define TCX_INGRESS ((enum bpf_attach_type)46)

static void attach_detach(void **s)
{
	int clsact = *(int *)*s;
	struct ecap_engine_opts o = {.ring_bytes = 1 << 20, .tc_clsact = clsact};
	struct ecap_engine *e = NULL;
	char err[ECAP_ERRLEN];
	int v0 = if_nametoindex("v0"), link = -1;
	uint32_t ids[4], n = 4;

	assert_int_not_equal(v0, 0);
	int other = translated("tcp", ECAP_HOOK_TC, 64);
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = v0, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1, .prog_fd = other,
		    .flags = BPF_TC_F_REPLACE);

	/* somebody else's clsact qdisc and filter, and where there is tcx, a
	 * tcx program on ingress: they must survive us */
	assert_in_set(bpf_tc_hook_create(&hook), ((uintmax_t[]){0, -EEXIST}), 2);
	assert_int_equal(bpf_tc_attach(&hook, &opts), 0);
	if (ecap_tcx_available()) {
		link = bpf_link_create(other, v0, TCX_INGRESS, NULL);
		assert_true(link >= 0);
	}
	close(other);
	assert_int_equal(ecap_engine_open(&o, &e, err, sizeof(err)), 0);
	if (ecap_engine_attach(e, v0, ECAP_ATTACH_XDP | ECAP_ATTACH_TC_IN | ECAP_ATTACH_TC_OUT, err,
			       sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(attached(tc_via(clsact), "xdp-link"), 7);
	if (!strcmp(tc_via(clsact), "tcx")) { /* ours first, as tcpdump's taps */
		struct ecap_hook_state st[ECAP_HOOKS];

		ecap_engine_hooks_on(v0, st);
		assert_int_equal(bpf_prog_query(v0, TCX_INGRESS, 0, NULL, ids, &n), 0);
		assert_int_equal(n, 2);
		assert_int_equal(ids[0], st[ECAP_HOOK_ID_TC_IN].prog_id);
	}
	ecap_engine_close(e);
	assert_int_equal(attached(tc_via(clsact), "xdp-link"), 0);
	assert_int_equal(sh("tc filter show dev v0 egress | grep -q 'pref 1 bpf.*handle 0x1 '"), 0);
	if (link >= 0) {
		n = 4;
		assert_int_equal(bpf_prog_query(v0, TCX_INGRESS, 0, NULL, ids, &n), 0);
		assert_int_equal(n, 1);
		close(link);
	}
}

/* A child attaches XDP and TC egress, XDP as a link or through netlink
 * (as earlier versions did with libxdp), and dies without detaching. */
static void attach_and_die(int clsact, int netlink_xdp)
{
	int v0 = if_nametoindex("v0"), st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct ecap_engine_opts o = {.ring_bytes = 1 << 20, .tc_clsact = clsact};
		struct ecap_engine *e = NULL;
		char err[ECAP_ERRLEN];

		if (ecap_engine_open(&o, &e, err, sizeof(err)) ||
		    ecap_engine_attach(e, v0,
				       (netlink_xdp ? 0 : ECAP_ATTACH_XDP) | ECAP_ATTACH_TC_OUT,
				       err, sizeof(err)))
			_exit(1);
		if (netlink_xdp && bpf_xdp_attach(v0, ecap_engine_hook_fd(e, ECAP_HOOK_ID_XDP),
						  XDP_FLAGS_DRV_MODE, NULL))
			_exit(1);
		raise(SIGKILL);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st));
}

static void crash_recovery(void **s)
{
	int clsact = *(int *)*s;
	int v0 = if_nametoindex("v0");
	const char *via = tc_via(clsact);
	int tc_left = strcmp(via, "tcx") ? 4 : 0; /* a clsact filter stays, a tcx link goes */

	/* the XDP link went with the process */
	attach_and_die(clsact, 0);
	assert_int_equal(attached(via, "xdp-link"), tc_left);
	assert_int_equal(ecap_engine_cleanup_ifindex(v0), 0);
	assert_int_equal(attached(via, "xdp-link"), 0);
	/* XDP through netlink stays, until a later run removes it */
	attach_and_die(clsact, 1);
	assert_int_equal(attached(via, "xdp"), 1 | tc_left);
	assert_int_equal(ecap_engine_cleanup_ifindex(v0), 0);
	assert_int_equal(attached(via, "xdp"), 0);
	assert_int_equal(sh("tc filter show dev v0 egress | grep -q 'pref 1 bpf.*handle 0x1 '"), 0);
}

/* A session switched off counts no more at once, with its code still in
 * the slot; installed again as new, it counts from zero. */
static void sessions_off(void **s)
{
	struct ecap_engine_opts o = {.ring_bytes = 1 << 20};
	struct ecap_engine *e = NULL;
	struct ecap_cbpf p = {0};
	struct ecap_counters c;
	char err[ECAP_ERRLEN];
	int v0 = if_nametoindex("v0"), tc;

	assert_int_equal(ecap_engine_open(&o, &e, err, sizeof(err)), 0);
	if (ecap_engine_attach(e, v0, ECAP_ATTACH_TC_OUT, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(
	    ecap_filter_compile("udp", ECAP_LINKTYPE_EN10MB, 262144, &p, err, sizeof(err)), 0);
	struct ecap_session sess = {
	    .id = 3, .insns = p.insns, .len = p.len, .snaplen = 128, .dirs = ECAP_DIR_OUT};

	if (ecap_engine_set_sessions(e, &sess, 1, err, sizeof(err)))
		fail_msg("%s", err);
	tc = ecap_engine_hook_fd(e, ECAP_HOOK_ID_TC_OUT);
	run(tc, ECAP_HOOK_TC);
	assert_int_equal(ecap_engine_counters(e, 3, ECAP_HOOK_ID_TC_OUT, 0, &c), 0);
	assert_int_equal(c.matched, 1);
	assert_int_equal(ecap_engine_sessions_off(e, 1u << 3), 0);
	run(tc, ECAP_HOOK_TC);
	assert_int_equal(ecap_engine_counters(e, 3, ECAP_HOOK_ID_TC_OUT, 0, &c), 0);
	assert_int_equal(c.seen, 1);
	if (ecap_engine_set_sessions(e, &sess, 1, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(ecap_engine_counters(e, 3, ECAP_HOOK_ID_TC_OUT, 0, &c), 0);
	assert_int_equal(c.seen, 0);
	run(tc, ECAP_HOOK_TC);
	assert_int_equal(ecap_engine_counters(e, 3, ECAP_HOOK_ID_TC_OUT, 0, &c), 0);
	assert_int_equal(c.matched, 1);
	ecap_engine_close(e);
	ecap_cbpf_free(&p);
}

/* The program an XDP link on ifindex runs, by id (0: none). */
static uint32_t xdp_link_prog(int ifindex)
{
	uint32_t id = 0, prog = 0;

	while (!prog && !bpf_link_get_next_id(id, &id)) {
		struct bpf_link_info info = {0};
		uint32_t len = sizeof(info);
		int fd = bpf_link_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_XDP &&
		    (int)info.xdp.ifindex == ifindex)
			prog = info.prog_id;
		close(fd);
	}
	return prog;
}

static uint32_t prog_id(int fd, char name[BPF_OBJ_NAME_LEN])
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	if (name)
		memcpy(name, info.name, BPF_OBJ_NAME_LEN);
	return info.id;
}

/* On veth, where XDP misses the tags the peer kept out of band: with the RX
 * metadata kfunc (Linux 6.8) the sessions' program is bound to v0 and sits
 * in the XDP link itself, swapped as sessions change, the hook program back
 * when none is left; without it the hook program stays, tail-calling, and
 * the engine says XDP cannot see such tags. */
static void xdp_bound(void **s)
{
	struct ecap_engine_opts o = {.ring_bytes = 1 << 20};
	struct ecap_engine *e = NULL;
	struct ecap_cbpf p = {0};
	char err[ECAP_ERRLEN], name[BPF_OBJ_NAME_LEN];
	int v0 = if_nametoindex("v0"), kfunc;
	uint32_t hook, first;

	kfunc = !sh("bpftool btf dump file /sys/kernel/btf/vmlinux | "
		    "grep \"FUNC 'bpf_xdp_metadata_rx_vlan_tag'\" > /dev/null");
	assert_int_equal(ecap_engine_open(&o, &e, err, sizeof(err)), 0);
	if (ecap_engine_attach(e, v0, ECAP_ATTACH_XDP, err, sizeof(err)))
		fail_msg("%s", err);
	hook = prog_id(ecap_engine_hook_fd(e, ECAP_HOOK_ID_XDP), NULL);
	assert_int_equal(xdp_link_prog(v0), hook);
	assert_int_equal(ecap_engine_xdp_vlan_blind(e, v0), !kfunc);
	assert_int_equal(
	    ecap_filter_compile("vlan 100", ECAP_LINKTYPE_EN10MB, 262144, &p, err, sizeof(err)), 0);
	struct ecap_session sess[2] = {
	    {.id = 0, .insns = p.insns, .len = p.len, .snaplen = 128, .dirs = ECAP_DIR_IN},
	    {.id = 1, .insns = p.insns, .len = p.len, .snaplen = 64, .dirs = ECAP_DIR_IN}};

	if (ecap_engine_set_sessions(e, sess, 1, err, sizeof(err)))
		fail_msg("%s", err);
	first = xdp_link_prog(v0);
	if (!kfunc) {
		assert_int_equal(first, hook);
		goto out;
	}
	assert_int_not_equal(first, hook);
	int fd = bpf_prog_get_fd_by_id(first);

	assert_true(fd >= 0);
	prog_id(fd, name);
	close(fd);
	assert_string_equal(name, "ecap_xdp"); /* as other captures know our XDP */
	if (ecap_engine_set_sessions(e, sess, 2, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_not_equal(xdp_link_prog(v0), first);
	assert_int_not_equal(xdp_link_prog(v0), hook);
	assert_int_equal(ecap_engine_set_sessions(e, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(xdp_link_prog(v0), hook);
	if (ecap_engine_set_sessions(e, sess, 1, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_not_equal(xdp_link_prog(v0), hook);
out:
	ecap_engine_close(e);
	assert_int_equal(xdp_link_prog(v0), 0);
	ecap_cbpf_free(&p);
}

/* A child that attaches TC ingress and egress on v0 and waits to be
 * killed; its egress program's id comes back. */
static pid_t owner(int clsact, uint32_t *ret_id)
{
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ecap_engine_opts o = {.ring_bytes = 1 << 20, .tc_clsact = clsact};
		struct bpf_prog_info info = {0};
		uint32_t len = sizeof(info);
		struct ecap_engine *e = NULL;
		char err[ECAP_ERRLEN];

		close(fds[0]);
		if (ecap_engine_open(&o, &e, err, sizeof(err)) ||
		    ecap_engine_attach(e, if_nametoindex("v0"),
				       ECAP_ATTACH_TC_IN | ECAP_ATTACH_TC_OUT, err, sizeof(err)) ||
		    bpf_obj_get_info_by_fd(ecap_engine_hook_fd(e, ECAP_HOOK_ID_TC_OUT), &info,
					   &len))
			_exit(1);
		if (write(fds[1], &info.id, sizeof(info.id)) != sizeof(info.id))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], ret_id, sizeof(*ret_id)), sizeof(*ret_id));
	close(fds[0]);
	return pid;
}

/* Egress programs of ours on v0 (up to 8): how many, ids in ret. */
static int egress_ids(uint32_t *ret)
{
	struct ecap_hook_entry all[1 + 4 * ECAP_MAX_OWNERS];
	int n = ecap_engine_hooks_list(if_nametoindex("v0"), all, 1 + 4 * ECAP_MAX_OWNERS), k = 0;

	for (int i = 0; i < n; i++)
		if (all[i].hook == ECAP_HOOK_ID_TC_OUT)
			ret[k++] = all[i].prog_id;
	return k;
}

/* Two engines in two processes share v0, each with hooks of its own
 * (clsact: filters with their own priority); one killed leaves nothing of
 * its own once the next run's cleanup has gone (tcx: at once), and the
 * other's hooks stay. */
static void shared(void **s)
{
	int clsact = *(int *)*s, st, v0 = if_nametoindex("v0");
	const char *via = tc_via(clsact);
	uint32_t a, b, ids[8];
	pid_t pa = owner(clsact, &a), pb = owner(clsact, &b);

	assert_int_equal(egress_ids(ids), 2);
	assert_true((ids[0] == a && ids[1] == b) || (ids[0] == b && ids[1] == a));
	if (!strcmp(via, "clsact"))
		assert_int_equal(sh("[ $(tc filter show dev v0 egress | grep -c 'pref [0-9]* "
				    "bpf.*ecap_tc_egress') = 2 ]"),
				 0);
	kill(pa, SIGKILL);
	waitpid(pa, &st, 0);
	assert_int_equal(egress_ids(ids), strcmp(via, "tcx") ? 2 : 1);
	assert_int_equal(ecap_engine_cleanup_ifindex(v0), 0); /* b's stay */
	assert_int_equal(egress_ids(ids), 1);
	assert_int_equal(ids[0], b);
	kill(pb, SIGKILL);
	waitpid(pb, &st, 0);
	assert_int_equal(ecap_engine_cleanup_ifindex(v0), 0);
	assert_int_equal(egress_ids(ids), 0);
	assert_int_equal(attached(via, "xdp-link"), 0);
}

static int tcx_mode = 0, clsact_mode = 1;

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(slots),
	    cmocka_unit_test(sessions_off),
	    cmocka_unit_test(xdp_bound),
	    cmocka_unit_test_prestate(attach_detach, &tcx_mode),
	    cmocka_unit_test_prestate(attach_detach, &clsact_mode),
	    cmocka_unit_test_prestate(crash_recovery, &tcx_mode),
	    cmocka_unit_test_prestate(crash_recovery, &clsact_mode),
	    cmocka_unit_test_prestate(shared, &tcx_mode),
	    cmocka_unit_test_prestate(shared, &clsact_mode),
	};

	if (geteuid() != 0) {
		printf("SKIP: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
