/* engine.c - see engine.h. */
#include "capture/engine.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/stat.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include "capture.h"
#include "capture.skel.h"
#include "capture/sessions.h"
#include "capture/vlan.h"
#include "filter/ebpf.h"

#define MAX_IFACES ECAP_ENGINE_MAX_IFACES

/* tcx (Linux 6.6), where the system's headers predate it */
#ifndef BPF_F_BEFORE
#define BPF_F_BEFORE (1U << 3)
#endif
#define TCX_INGRESS ((enum bpf_attach_type)46) /* BPF_TCX_INGRESS */
#define TCX_EGRESS  ((enum bpf_attach_type)47) /* BPF_TCX_EGRESS */

struct iface {
	int ifindex;
	unsigned which;
	int xdp_link; /* the XDP link; -1: none */
	/* XDP reads the VLAN tag through the RX metadata kfunc: the sessions'
	 * program is bound to this device and sits in the link itself (the
	 * hook program while there are none) */
	int bound;
	int bound_fd;	/* that program; -1: the hook program is in the link */
	int vlan_blind; /* XDP cannot know tags the device keeps out of band */
	int link_fd[2]; /* tcx links, ingress and egress; -1: none (or clsact) */
	int lock_fd;	/* flock on our owner slot's file, see lock_slot() */
	unsigned slot;	/* our owner slot on this interface: clsact handle and priority */
};

struct ecap_engine {
	int tcx; /* TC hooks as tcx links, else clsact filters */
	struct capture_bpf *skel;
	int slot_fd[ECAP_HOOKS]; /* programs in the slots, -1 when empty */
	struct iface ifaces[MAX_IFACES];
	unsigned nifaces;
	uint32_t ring_bytes;
	uint32_t active; /* session ids in the slots' programs, a bit each */
	/* the hooks wake the reader as this much waits; 0: on each record */
	uint32_t wake_bytes;
	/* vmlinux BTF id of bpf_xdp_metadata_rx_vlan_tag; 0: none, -1: not
	 * looked up yet */
	int64_t vlan_kfunc;
};

_Static_assert(sizeof(struct ecap_rec) == 32, "ring record header layout");
_Static_assert(sizeof(struct ecap_counters) == 32, "counters layout");

/* What the hooks and the generated session programs use (bpf/capture.bpf.c,
 * user/ebpf.c), with the Linux version that brought each. */
static const struct {
	enum bpf_map_type map;
	enum bpf_prog_type prog;
	enum bpf_func_id helper;
	const char *what, *since;
} features[] = {
    {.map = BPF_MAP_TYPE_RINGBUF, .what = "BPF ring buffer", .since = "5.8"},
    {.map = BPF_MAP_TYPE_PROG_ARRAY, .what = "BPF program arrays", .since = "4.2"},
    {.map = BPF_MAP_TYPE_PERCPU_ARRAY, .what = "BPF per-CPU arrays", .since = "4.6"},
    {.prog = BPF_PROG_TYPE_XDP, .what = "XDP programs", .since = "4.8"},
    {.prog = BPF_PROG_TYPE_SCHED_CLS, .what = "TC programs", .since = "4.1"},
    {.prog = BPF_PROG_TYPE_XDP,
     .helper = BPF_FUNC_xdp_load_bytes,
     .what = "bpf_xdp_load_bytes",
     .since = "5.18"},
    {.prog = BPF_PROG_TYPE_XDP,
     .helper = BPF_FUNC_xdp_get_buff_len,
     .what = "bpf_xdp_get_buff_len",
     .since = "5.18"},
    {.prog = BPF_PROG_TYPE_SCHED_CLS,
     .helper = BPF_FUNC_skb_load_bytes,
     .what = "bpf_skb_load_bytes",
     .since = "4.5"},
    {.prog = BPF_PROG_TYPE_XDP,
     .helper = BPF_FUNC_ringbuf_reserve,
     .what = "bpf_ringbuf_reserve in XDP",
     .since = "5.8"},
    {.prog = BPF_PROG_TYPE_SCHED_CLS,
     .helper = BPF_FUNC_ringbuf_output,
     .what = "bpf_ringbuf_output in TC",
     .since = "5.8"},
    {.prog = BPF_PROG_TYPE_XDP,
     .helper = BPF_FUNC_ringbuf_query,
     .what = "bpf_ringbuf_query",
     .since = "5.8"},
    {.prog = BPF_PROG_TYPE_XDP,
     .helper = BPF_FUNC_ktime_get_boot_ns,
     .what = "bpf_ktime_get_boot_ns",
     .since = "5.8"},
    {.prog = BPF_PROG_TYPE_SCHED_CLS,
     .helper = BPF_FUNC_tail_call,
     .what = "bpf_tail_call",
     .since = "4.2"},
};

/* The clsact qdisc, created on the loopback of a network namespace of our
 * own (a child process's), so no one else's qdisc is ever touched. */
static int have_clsact(void)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = 1, .attach_point = BPF_TC_INGRESS);

		_exit(unshare(CLONE_NEWNET) || bpf_tc_hook_create(&hook) ? 1 : 0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int ecap_engine_probe(char *err, size_t errlen)
{
	struct utsname u;
	size_t n = 0;
	int r;

	err[0] = 0;
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (features[i].map)
			r = libbpf_probe_bpf_map_type(features[i].map, NULL);
		else if (features[i].helper)
			r = libbpf_probe_bpf_helper(features[i].prog, features[i].helper, NULL);
		else
			r = libbpf_probe_bpf_prog_type(features[i].prog, NULL);
		if (r == -EPERM)
			return snprintf(err, errlen, "loading BPF programs is not permitted"), -1;
		if (r != 1 && n < errlen)
			n += snprintf(err + n, errlen - n, "%s%s (Linux %s)", n ? ", " : "",
				      features[i].what, features[i].since);
	}
	if (!ecap_tcx_available() && have_clsact() != 1 && n < errlen)
		n += snprintf(err + n, errlen - n, "%sthe clsact qdisc (sch_ingress, Linux 4.5)",
			      n ? ", " : "");
	if (!n)
		return 0;
	if (n < errlen) {
		uname(&u);
		snprintf(err + n, errlen - n,
			 "; running %s, capture needs Linux 5.18 or newer with all of these",
			 u.release);
	}
	return -1;
}

int ecap_engine_open(const struct ecap_engine_opts *o, struct ecap_engine **ret, char *err,
		     size_t errlen)
{
	struct ecap_engine *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	for (int i = 0; i < ECAP_HOOKS; i++)
		e->slot_fd[i] = -1;
	e->vlan_kfunc = -1;
	e->tcx = !o->tc_clsact && ecap_tcx_available();
	e->skel = capture_bpf__open();
	if (!e->skel) {
		r = -errno;
		snprintf(err, errlen, "open capture hooks: %s", strerror(-r));
		goto fail;
	}
	if (o->ring_bytes) {
		r = bpf_map__set_max_entries(e->skel->maps.ecap_ring, o->ring_bytes);
		if (r) {
			snprintf(err, errlen, "ring size %u: %s", o->ring_bytes, strerror(-r));
			goto fail;
		}
	}
	e->ring_bytes = bpf_map__max_entries(e->skel->maps.ecap_ring);
	e->wake_bytes = o->immediate ? 0 : e->ring_bytes / 4;
	r = capture_bpf__load(e->skel);
	if (r) {
		snprintf(err, errlen, "load capture hooks: %s", strerror(-r));
		goto fail;
	}
	r = ecap_engine_sync_clock(e);
	if (r) {
		snprintf(err, errlen, "clock offset: %s", strerror(-r));
		goto fail;
	}
	*ret = e;
	return 0;
fail:
	ecap_engine_close(e);
	return r;
}

int ecap_tcx_available(void)
{
	uint32_t n = 0;

	/* kernels without tcx refuse the attach type; lo is always there */
	return bpf_prog_query(1, TCX_INGRESS, 0, NULL, NULL, &n) == 0;
}

/* Our clsact filter of owner slot `slot`: attach (create) or detach. */
static int tc_hook(int ifindex, enum bpf_tc_attach_point where, int prog_fd, int create,
		   unsigned slot)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ECAP_TC_HANDLE + slot,
		    .priority = ECAP_TC_PRIORITY + slot);
	int r;

	if (!create) {
		r = bpf_tc_detach(&hook, &opts);
		return r == -ENOENT || r == -EINVAL ? 0 : r;
	}
	/* creates clsact if missing; an existing qdisc (ours or not) is kept */
	r = bpf_tc_hook_create(&hook);
	if (r && r != -EEXIST)
		return r;
	opts.prog_fd = prog_fd;
	opts.flags = BPF_TC_F_REPLACE;
	return bpf_tc_attach(&hook, &opts);
}

static int is_ours(struct xdp_program *p)
{
	return p && !strcmp(xdp_program__name(p), "ecap_xdp");
}

/* Our XDP program is recognised by name: attached alone (as a link, as we
 * do, or through netlink, as edgecap did with libxdp and other tools do) or
 * as a component of libxdp's dispatcher, which earlier versions could use. */
static struct xdp_program *xdp_ours(struct xdp_multiprog *mp)
{
	struct xdp_program *p;

	if (xdp_multiprog__is_legacy(mp))
		p = xdp_multiprog__main_prog(mp);
	else
		for (p = xdp_multiprog__next_prog(NULL, mp); p && !is_ours(p);
		     p = xdp_multiprog__next_prog(p, mp))
			;
	return is_ours(p) ? p : NULL;
}

/* Is prog_id attached to ifindex by an XDP link (else through netlink)? */
static int xdp_by_link(int ifindex, uint32_t prog_id)
{
	uint32_t id = 0;
	int found = 0;

	while (!found && !bpf_link_get_next_id(id, &id)) {
		struct bpf_link_info info = {0};
		uint32_t len = sizeof(info);
		int fd = bpf_link_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_XDP &&
		    info.prog_id == prog_id && (int)info.xdp.ifindex == ifindex)
			found = 1;
		close(fd);
	}
	return found;
}

/* "id 42, 'name'" of the XDP program on ifindex that is not ours, if any. */
static int xdp_other(int ifindex, char *ret, size_t len)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	uint32_t ids[2];

	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	ids[0] = q.drv_prog_id;
	ids[1] = q.skb_prog_id;
	for (int i = 0; i < 2; i++) {
		struct bpf_prog_info info = {0};
		uint32_t n = sizeof(info);
		int fd = ids[i] ? bpf_prog_get_fd_by_id(ids[i]) : -1;

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &n) && strcmp(info.name, "ecap_xdp")) {
			snprintf(ret, len, "id %u, '%s'", ids[i], info.name);
			close(fd);
			return 1;
		}
		close(fd);
	}
	return 0;
}

/* Is edgecap's XDP program on ifindex (another capture's)? */
static int xdp_edgecap(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info = {0};
	uint32_t n = sizeof(info);
	int fd, r = 0;

	if (bpf_xdp_query(ifindex, 0, &q) || !q.drv_prog_id)
		return 0;
	fd = bpf_prog_get_fd_by_id(q.drv_prog_id);
	if (fd < 0)
		return 0;
	r = !bpf_obj_get_info_by_fd(fd, &info, &n) && !strcmp(info.name, "ecap_xdp");
	close(fd);
	return r;
}

static int xdp_cleanup(int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p;
	int r = 0;

	if (!mp || libxdp_get_error(mp))
		return 0;
	p = xdp_ours(mp);
	/* a link is a live capture's (it goes with its process) */
	if (p && !xdp_by_link(ifindex, xdp_program__id(p)))
		r = xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
	xdp_multiprog__close(mp);
	return r;
}

/* The ids of the programs named `name` among those attached by tcx (up to
 * max); how many. */
static unsigned tcx_list(int ifindex, enum bpf_attach_type type, const char *name, uint32_t *ret,
			 unsigned max)
{
	uint32_t ids[64], n = 64;
	unsigned found = 0;

	if (bpf_prog_query(ifindex, type, 0, NULL, ids, &n))
		return 0;
	for (uint32_t i = 0; i < n && i < 64 && found < max; i++) {
		struct bpf_prog_info info = {0};
		uint32_t len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, name))
			ret[found++] = ids[i];
		close(fd);
	}
	return found;
}

int ecap_engine_hooks_list(int ifindex, struct ecap_hook_entry *ret, unsigned max)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	static const char *const names[2] = {"ecap_tc_ingress", "ecap_tc_egress"};
	unsigned n = 0;

	if (mp && !libxdp_get_error(mp)) {
		struct xdp_program *p = xdp_ours(mp);

		if (p && n < max)
			ret[n++] = (struct ecap_hook_entry){
			    ECAP_HOOK_ID_XDP, xdp_program__id(p),
			    xdp_by_link(ifindex, xdp_program__id(p)) ? "xdp-link" : "xdp"};
		xdp_multiprog__close(mp);
	}
	for (int out = 0; out < 2; out++) {
		unsigned hook = out ? ECAP_HOOK_ID_TC_OUT : ECAP_HOOK_ID_TC_IN;
		uint32_t ids[ECAP_MAX_OWNERS];
		unsigned k = tcx_list(ifindex, out ? TCX_EGRESS : TCX_INGRESS, names[out], ids,
				      ECAP_MAX_OWNERS);

		for (unsigned i = 0; i < k && n < max; i++)
			ret[n++] = (struct ecap_hook_entry){hook, ids[i], "tcx"};
		for (unsigned slot = 0; slot < ECAP_MAX_OWNERS && n < max; slot++) {
			LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = ifindex,
				    .attach_point = out ? BPF_TC_EGRESS : BPF_TC_INGRESS);
			LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ECAP_TC_HANDLE + slot,
				    .priority = ECAP_TC_PRIORITY + slot);

			if (!bpf_tc_query(&h, &opts))
				ret[n++] = (struct ecap_hook_entry){hook, opts.prog_id, "clsact"};
		}
	}
	return (int)n;
}

int ecap_engine_hooks_on(int ifindex, struct ecap_hook_state st[3])
{
	struct ecap_hook_entry all[1 + 2 * 2 * ECAP_MAX_OWNERS];
	int n = ecap_engine_hooks_list(ifindex, all, sizeof(all) / sizeof(all[0])), k = 0;

	memset(st, 0, 3 * sizeof(*st));
	for (int i = 0; i < n; i++) {
		if (st[all[i].hook].prog_id)
			continue;
		st[all[i].hook] = (struct ecap_hook_state){all[i].prog_id, all[i].via};
		k++;
	}
	return k;
}

/* Owner slots: each engine that attaches to an interface holds the flock
 * of one of ECAP_MAX_OWNERS files for it (the kernel drops it with the
 * process), and its clsact filters carry the slot in their handle and
 * priority. A slot whose lock can be taken has no live owner: what its
 * filters are is what a dead run left. Interface indexes are per network
 * namespace, so the files' names carry the namespace's inode too. */
static int slot_lock(int ifindex, unsigned slot)
{
	char path[112];
	struct stat ns;
	int fd;

	if (stat("/proc/self/ns/net", &ns))
		return -errno;
	if (mkdir(ECAP_LOCK_DIR, 0755) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), ECAP_LOCK_DIR "/%llu-%d.%u", (unsigned long long)ns.st_ino,
		 ifindex, slot);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int slot_cleanup(int ifindex, unsigned slot)
{
	int t1 = tc_hook(ifindex, BPF_TC_INGRESS, -1, 0, slot);
	int t2 = tc_hook(ifindex, BPF_TC_EGRESS, -1, 0, slot);

	return t1 ? t1 : t2;
}

/* Remove the hooks of dead owners (ours: -1, or the slot we hold) and
 * return the lock of the first free slot when asked (ret_slot), or -EBUSY
 * when every slot has a live owner. */
static int slots_scan(int ifindex, unsigned *ret_slot)
{
	int mine = -EBUSY, r = 0, fd;

	for (unsigned slot = 0; slot < ECAP_MAX_OWNERS; slot++) {
		fd = slot_lock(ifindex, slot);
		if (fd == -EBUSY)
			continue; /* a live owner */
		if (fd < 0)
			return fd;
		r = slot_cleanup(ifindex, slot) ?: r;
		if (ret_slot && mine < 0) {
			mine = fd;
			*ret_slot = slot;
		} else {
			close(fd);
		}
	}
	return ret_slot ? mine : r;
}

int ecap_engine_cleanup_ifindex(int ifindex)
{
	int r = xdp_cleanup(ifindex), t = slots_scan(ifindex, NULL);

	return r ? r : t;
}

int ecap_engine_attach_ingress(struct ecap_engine *e, int ifindex, unsigned want, char *err,
			       size_t errlen)
{
	unsigned which = want ? want : ecap_engine_ingress_hook(ifindex);
	int r = ecap_engine_attach(e, ifindex, which, err, errlen), shared = 0;
	char name[IF_NAMESIZE] = "?";

	/* no XDP in this driver (auto), or another capture's XDP program holds
	 * the hook: one program per interface, and libxdp's dispatcher needs
	 * freplace (BPF_PROG_TYPE_EXT), which not every system permits */
	if (r && which == ECAP_ATTACH_XDP && ((shared = xdp_edgecap(ifindex)) || !want)) {
		which = ECAP_ATTACH_TC_IN;
		r = ecap_engine_attach(e, ifindex, which, err, errlen);
	}
	if (!r)
		err[0] = 0;
	if (!r && shared) {
		if_indextoname((unsigned)ifindex, name);
		snprintf(err, errlen, "%s: XDP is another capture's: capturing ingress with TC",
			 name);
	}
	return r ? r : (int)which;
}

static int quiet_xdp(enum libxdp_print_level level, const char *fmt, va_list args)
{
	return 0;
}

static int quiet_bpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return 0;
}

void ecap_engine_quiet_libraries(void)
{
	libxdp_set_print(quiet_xdp);
	libbpf_set_print(quiet_bpf);
}

unsigned ecap_engine_ingress_hook(int ifindex)
{
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr = {.ifr_data = (void *)&info};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	if (fd >= 0 && if_indextoname((unsigned)ifindex, ifr.ifr_name))
		r = ioctl(fd, SIOCETHTOOL, &ifr);
	if (fd >= 0)
		close(fd);
	return !r && !strcmp(info.driver, "veth") ? ECAP_ATTACH_TC_IN : ECAP_ATTACH_XDP;
}

/* A TC hook, out = 0 ingress, 1 egress. A tcx link goes first on ingress,
 * as the packet taps tcpdump uses run before any TC program, and last on
 * egress, as they run after. */
static int tc_attach(struct ecap_engine *e, struct iface *f, int out, int prog_fd)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = out ? 0 : BPF_F_BEFORE);

	if (!e->tcx)
		return tc_hook(f->ifindex, out ? BPF_TC_EGRESS : BPF_TC_INGRESS, prog_fd, 1,
			       f->slot);
	int fd = bpf_link_create(prog_fd, f->ifindex, out ? TCX_EGRESS : TCX_INGRESS, &lo);

	f->link_fd[out] = fd < 0 ? -1 : fd;
	return fd < 0 ? fd : 0;
}

static void tc_detach(struct iface *f, int out)
{
	if (f->link_fd[out] >= 0) { /* the link's last fd: closing it detaches */
		close(f->link_fd[out]);
		f->link_fd[out] = -1;
	} else {
		tc_hook(f->ifindex, out ? BPF_TC_EGRESS : BPF_TC_INGRESS, -1, 0, f->slot);
	}
}

static int is_loopback(int ifindex)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (fd >= 0 && if_indextoname((unsigned)ifindex, ifr.ifr_name) &&
	    !ioctl(fd, SIOCGIFFLAGS, &ifr))
		r = !!(ifr.ifr_flags & IFF_LOOPBACK);
	if (fd >= 0)
		close(fd);
	return r;
}

/* The id of bpf_xdp_metadata_rx_vlan_tag in the kernel's BTF, 0 when it
 * has none (before Linux 6.8). */
static uint32_t vlan_kfunc(struct ecap_engine *e)
{
	struct btf *btf;
	int id;

	if (e->vlan_kfunc >= 0)
		return (uint32_t)e->vlan_kfunc;
	btf = btf__load_vmlinux_btf();
	id = btf ? btf__find_by_name_kind(btf, "bpf_xdp_metadata_rx_vlan_tag", BTF_KIND_FUNC) : -1;
	btf__free(btf);
	e->vlan_kfunc = id > 0 ? id : 0;
	return (uint32_t)e->vlan_kfunc;
}

/* Does the kernel load a program bound to ifindex that calls the kfunc
 * (id)? What the sessions' programs do around it they do on every hook. */
static int bound_loads(int ifindex, uint32_t id)
{
	const struct bpf_insn probe[] = {
	    E_ST(BPF_W, BPF_REG_10, -8, 0),
	    E_MOV64_REG(BPF_REG_2, BPF_REG_10),
	    E_ALU64_IMM(BPF_ADD, BPF_REG_2, -8),
	    E_MOV64_REG(BPF_REG_3, BPF_REG_10),
	    E_ALU64_IMM(BPF_ADD, BPF_REG_3, -6),
	    ECAP_INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, (int32_t)id),
	    E_MOV32_IMM(BPF_REG_0, XDP_PASS),
	    E_EXIT(),
	};
	char err[256];
	int fd = ecap_prog_load_xdp_bound(probe, sizeof(probe) / sizeof(probe[0]), ifindex,
					  "ecap_probe", err, sizeof(err));

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* How XDP on f gets the tags the device may keep out of band: through the
 * kfunc (f->bound), or not at all (f->vlan_blind). */
static void xdp_vlan_mode(struct ecap_engine *e, struct iface *f)
{
	uint32_t id;

	f->bound = f->vlan_blind = 0;
	if (ecap_vlan_hidden_from_xdp(f->ifindex) <= 0)
		return;
	id = vlan_kfunc(e);
	if (id && ecap_vlan_xdp_metadata(f->ifindex) > 0 && bound_loads(f->ifindex, id))
		f->bound = 1;
	else
		f->vlan_blind = 1;
}

int ecap_engine_xdp_vlan_blind(struct ecap_engine *e, int ifindex)
{
	for (unsigned i = 0; i < e->nifaces; i++)
		if (e->ifaces[i].ifindex == ifindex)
			return (e->ifaces[i].which & ECAP_ATTACH_XDP) && e->ifaces[i].vlan_blind;
	return 0;
}

int ecap_engine_attach(struct ecap_engine *e, int ifindex, unsigned which, char *err, size_t errlen)
{
	struct iface *f;
	char name[IF_NAMESIZE] = "?";
	int r;

	if_indextoname(ifindex, name);
	for (f = e->ifaces; f < e->ifaces + e->nifaces && f->ifindex != ifindex; f++)
		;
	if (f == e->ifaces + e->nifaces) { /* new here: clear what dead runs left */
		if (e->nifaces == MAX_IFACES) {
			snprintf(err, errlen, "%s: more than %d interfaces", name, MAX_IFACES);
			return -E2BIG;
		}
		f->lock_fd = slots_scan(ifindex, &f->slot);
		if (f->lock_fd < 0) {
			if (f->lock_fd == -EBUSY)
				snprintf(err, errlen,
					 "%s: %d edgecap captures are running on it (the limit)",
					 name, ECAP_MAX_OWNERS);
			else
				snprintf(err, errlen, "%s: %s", name, strerror(-f->lock_fd));
			return f->lock_fd;
		}
		xdp_cleanup(ifindex);
		f->ifindex = ifindex;
		f->xdp_link = f->link_fd[0] = f->link_fd[1] = f->bound_fd = -1;
		e->nifaces++; /* from here on, close undoes whatever did attach */
	}
	/* A packet sent on loopback comes back in on it: TC egress and ingress
	 * both see it. tcpdump shows it once, as incoming (libpcap drops lo's
	 * outgoing copies: -Q in shows every packet, -Q out none), so the
	 * egress hook is never attached there. */
	if (is_loopback(ifindex))
		which &= ~ECAP_ATTACH_TC_OUT;
	which &= ~f->which;
	if (which & ECAP_ATTACH_XDP) {
		/* a link, native mode: it lives as long as our fd, so a run that
		 * dies leaves nothing; the kernel refuses it while another
		 * program holds the hook, and we leave that one alone */
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_DRV_MODE);
		char other[64];

		/* before the link: parsing the kernel's BTF takes a while, and
		 * the hook should not be seen on before sessions can follow */
		xdp_vlan_mode(e, f);
		r = bpf_link_create(bpf_program__fd(e->skel->progs.ecap_xdp), ifindex, BPF_XDP,
				    &lo);
		if (r < 0) {
			if (xdp_other(ifindex, other, sizeof(other)))
				snprintf(err, errlen,
					 "attach XDP on %s: another XDP program is attached (%s); "
					 "detach it, or capture with TC ingress",
					 name, other);
			else
				snprintf(err, errlen, "attach XDP on %s: %s", name, strerror(-r));
			goto fail;
		}
		f->xdp_link = r;
		f->which |= ECAP_ATTACH_XDP;
	}
	if (which & ECAP_ATTACH_TC_IN) {
		r = tc_attach(e, f, 0, bpf_program__fd(e->skel->progs.ecap_tc_ingress));
		if (r) {
			snprintf(err, errlen, "attach TC ingress on %s: %s", name, strerror(-r));
			goto fail;
		}
		f->which |= ECAP_ATTACH_TC_IN;
	}
	if (which & ECAP_ATTACH_TC_OUT) {
		r = tc_attach(e, f, 1, bpf_program__fd(e->skel->progs.ecap_tc_egress));
		if (r) {
			snprintf(err, errlen, "attach TC egress on %s: %s", name, strerror(-r));
			goto fail;
		}
		f->which |= ECAP_ATTACH_TC_OUT;
	}
	return 0;
fail:
	return r;
}

int ecap_engine_set_slot(struct ecap_engine *e, unsigned hook_id, int prog_fd)
{
	__u32 key = hook_id == ECAP_HOOK_ID_XDP	    ? 0
		    : hook_id == ECAP_HOOK_ID_TC_IN ? ECAP_TC_SLOT_INGRESS
						    : ECAP_TC_SLOT_EGRESS;
	int map = hook_id == ECAP_HOOK_ID_XDP ? bpf_map__fd(e->skel->maps.ecap_xdp_slot)
					      : bpf_map__fd(e->skel->maps.ecap_tc_slots);

	if (hook_id >= ECAP_HOOKS)
		return -EINVAL;
	if (prog_fd < 0)
		return bpf_map_delete_elem(map, &key) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(map, &key, &prog_fd, BPF_ANY) ? -errno : 0;
}

/* The hooks whose shared program is in use: XDP only where an interface's
 * XDP program is not bound to the device. */
static unsigned attached_hooks(const struct ecap_engine *e)
{
	unsigned which = 0;

	for (unsigned i = 0; i < e->nifaces; i++)
		which |=
		    e->ifaces[i].bound ? e->ifaces[i].which & ~ECAP_ATTACH_XDP : e->ifaces[i].which;
	return which;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* A session id taken anew counts from zero: its counters are zeroed before
 * the program that uses them is installed. */
static int zero_counters(struct ecap_engine *e, uint32_t ids)
{
	int ncpu = libbpf_num_possible_cpus(), r = 0;
	struct ecap_counters *zero;

	if (!ids)
		return 0;
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (unsigned s = 0; s < ECAP_MAX_SESSIONS; s++) {
		if (!(ids & (1u << s)))
			continue;
		for (unsigned h = 0; h < ECAP_HOOKS; h++) {
			for (unsigned i = 0; i < ECAP_MAX_SESSION_IFACES && !r; i++) {
				__u32 key = ECAP_COUNTERS_KEY(s, h, i);

				if (bpf_map_update_elem(ecap_engine_counters_fd(e), &key, zero,
							BPF_ANY))
					r = -errno;
			}
		}
	}
	free(zero);
	return r;
}

int ecap_engine_load_sessions(struct ecap_engine *e, const struct ecap_session *s, unsigned n,
			      int ret_fds[ECAP_LOAD_FDS], char *err, size_t errlen)
{
	static const unsigned attach_bit[ECAP_HOOKS] = {ECAP_ATTACH_XDP, ECAP_ATTACH_TC_IN,
							ECAP_ATTACH_TC_OUT};
	struct ecap_session_maps maps = {
	    .ring_fd = ecap_engine_ring_fd(e),
	    .counters_fd = ecap_engine_counters_fd(e),
	    .clock_fd = ecap_engine_clock_fd(e),
	    .on_fd = bpf_map__fd(e->skel->maps.ecap_on),
	    .wake_bytes = e->wake_bytes,
	};
	int fds[ECAP_LOAD_FDS], xdp_in[MAX_IFACES];
	unsigned which = attached_hooks(e);
	int r;

	for (unsigned i = 0; i < ECAP_LOAD_FDS; i++)
		fds[i] = -1;
	for (unsigned i = 0; i < e->nifaces; i++) /* both ingress hooks: XDP's is the one */
		if ((e->ifaces[i].which & (ECAP_ATTACH_XDP | ECAP_ATTACH_TC_IN)) ==
		    (ECAP_ATTACH_XDP | ECAP_ATTACH_TC_IN))
			xdp_in[maps.nxdp_in++] = e->ifaces[i].ifindex;
	maps.xdp_in = xdp_in;
	for (unsigned h = 0; h < ECAP_HOOKS && n; h++) {
		if (!(which & attach_bit[h]))
			continue;
		fds[h] = ecap_sessions_load(h, ECAP_INPUT_LIVE, s, n, &maps, err, errlen);
		if (fds[h] < 0) {
			r = fds[h];
			fds[h] = -1;
			goto fail;
		}
	}
	maps.vlan_kfunc = e->vlan_kfunc > 0 ? (uint32_t)e->vlan_kfunc : 0;
	for (unsigned i = 0; i < e->nifaces && n; i++) {
		const struct iface *f = &e->ifaces[i];
		char name[IF_NAMESIZE] = "?", why[256];

		if (!f->bound || !(f->which & ECAP_ATTACH_XDP))
			continue;
		r = ecap_sessions_load_xdp_bound(s, n, &maps, f->ifindex, why, sizeof(why));
		if (r < 0) {
			if_indextoname((unsigned)f->ifindex, name);
			snprintf(err, errlen, "XDP program bound to %s: %s", name, why);
			goto fail;
		}
		fds[ECAP_HOOKS + i] = r;
	}
	memcpy(ret_fds, fds, sizeof(fds));
	return 0;
fail:
	close_fds(fds, ECAP_LOAD_FDS);
	return r;
}

static int set_on(struct ecap_engine *e, uint32_t ids)
{
	__u32 key = 0;

	return bpf_map_update_elem(bpf_map__fd(e->skel->maps.ecap_on), &key, &ids, BPF_ANY) ? -errno
											    : 0;
}

/* f's XDP link runs fd, or the hook program when fd < 0. A link's program
 * changes at once, as a slot's does: no packet goes without. Takes fd. */
static int xdp_bound_update(struct ecap_engine *e, struct iface *f, int fd)
{
	int prog = fd >= 0 ? fd : bpf_program__fd(e->skel->progs.ecap_xdp);

	if (bpf_link_update(f->xdp_link, prog, NULL)) {
		int r = -errno;

		if (fd >= 0)
			close(fd);
		return r;
	}
	if (f->bound_fd >= 0)
		close(f->bound_fd);
	f->bound_fd = fd;
	return 0;
}

int ecap_engine_install_sessions(struct ecap_engine *e, int fds[ECAP_LOAD_FDS], uint32_t on,
				 char *err, size_t errlen)
{
	static const unsigned attach_bit[ECAP_HOOKS] = {ECAP_ATTACH_XDP, ECAP_ATTACH_TC_IN,
							ECAP_ATTACH_TC_OUT};
	unsigned which = attached_hooks(e);
	int r;

	/* Sessions taken off first; those new are switched on only once their
	 * code is in the slots: the program there may still hold the code of
	 * an earlier session with the same id, switched off. */
	r = set_on(e, e->active & on);
	if (r) {
		snprintf(err, errlen, "switch sessions off: %s", strerror(-r));
		goto out;
	}
	e->active &= on;
	r = zero_counters(e, on & ~e->active);
	if (r) {
		snprintf(err, errlen, "reset session counters: %s", strerror(-r));
		goto out;
	}
	for (unsigned h = 0; h < ECAP_HOOKS; h++) {
		if (!(which & attach_bit[h]))
			continue;
		r = ecap_engine_set_slot(e, h, fds[h]);
		if (r) {
			snprintf(err, errlen, "install sessions: %s", strerror(-r));
			goto out;
		}
		if (e->slot_fd[h] >= 0)
			close(e->slot_fd[h]);
		e->slot_fd[h] = fds[h];
		fds[h] = -1;
	}
	for (unsigned i = 0; i < e->nifaces; i++) {
		struct iface *f = &e->ifaces[i];
		char name[IF_NAMESIZE] = "?";

		if (!f->bound || !(f->which & ECAP_ATTACH_XDP))
			continue;
		r = xdp_bound_update(e, f, fds[ECAP_HOOKS + i]);
		fds[ECAP_HOOKS + i] = -1;
		if (r) {
			if_indextoname((unsigned)f->ifindex, name);
			snprintf(err, errlen, "install sessions in the XDP link of %s: %s", name,
				 strerror(-r));
			goto out;
		}
	}
	r = set_on(e, on);
	if (r)
		snprintf(err, errlen, "switch sessions on: %s", strerror(-r));
	else
		e->active = on;
out:
	close_fds(fds, ECAP_LOAD_FDS);
	return r;
}

int ecap_engine_sessions_off(struct ecap_engine *e, uint32_t ids)
{
	int r = set_on(e, e->active & ~ids);

	if (!r)
		e->active &= ~ids;
	return r;
}

int ecap_engine_set_sessions(struct ecap_engine *e, const struct ecap_session *s, unsigned n,
			     char *err, size_t errlen)
{
	int fds[ECAP_LOAD_FDS];
	uint32_t on = 0;
	int r;

	for (unsigned i = 0; i < n; i++)
		on |= 1u << s[i].id;
	/* every program first, so a failure changes nothing */
	r = ecap_engine_load_sessions(e, s, n, fds, err, errlen);
	if (!r)
		r = ecap_engine_install_sessions(e, fds, on, err, errlen);
	return r;
}

int ecap_engine_hook_fd(struct ecap_engine *e, unsigned hook_id)
{
	switch (hook_id) {
	case ECAP_HOOK_ID_XDP:
		return bpf_program__fd(e->skel->progs.ecap_xdp);
	case ECAP_HOOK_ID_TC_IN:
		return bpf_program__fd(e->skel->progs.ecap_tc_ingress);
	case ECAP_HOOK_ID_TC_OUT:
		return bpf_program__fd(e->skel->progs.ecap_tc_egress);
	default:
		return -EINVAL;
	}
}

int ecap_engine_ring_fd(struct ecap_engine *e)
{
	return bpf_map__fd(e->skel->maps.ecap_ring);
}

int ecap_engine_counters_fd(struct ecap_engine *e)
{
	return bpf_map__fd(e->skel->maps.ecap_counters);
}

int ecap_engine_clock_fd(struct ecap_engine *e)
{
	return bpf_map__fd(e->skel->maps.ecap_clock);
}

int64_t ecap_now_ns(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

int ecap_engine_sync_clock(struct ecap_engine *e)
{
	/* a REALTIME reading bracketed by two BOOTTIME ones */
	int64_t b1 = ecap_now_ns(CLOCK_BOOTTIME), r = ecap_now_ns(CLOCK_REALTIME);
	int64_t b2 = ecap_now_ns(CLOCK_BOOTTIME);
	int64_t off = r - (b1 + (b2 - b1) / 2);
	__u32 key = 0;

	return bpf_map_update_elem(ecap_engine_clock_fd(e), &key, &off, BPF_ANY) ? -errno : 0;
}

int ecap_engine_counters(struct ecap_engine *e, unsigned session, unsigned hook_id, unsigned iface,
			 struct ecap_counters *ret)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 key = ECAP_COUNTERS_KEY(session, hook_id, iface);
	struct ecap_counters *v, sum = {0};

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	if (session >= ECAP_MAX_SESSIONS || hook_id >= ECAP_HOOKS ||
	    iface >= ECAP_MAX_SESSION_IFACES)
		return -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(ecap_engine_counters_fd(e), &key, v)) {
		int r = -errno;

		free(v);
		return r;
	}
	for (int i = 0; i < ncpu; i++)
		ecap_counters_add(&sum, &v[i]);
	free(v);
	*ret = sum;
	return 0;
}

void ecap_counters_add(struct ecap_counters *sum, const struct ecap_counters *c)
{
	sum->seen += c->seen;
	sum->matched += c->matched;
	sum->captured += c->captured;
	sum->dropped += c->dropped;
}

void ecap_engine_close(struct ecap_engine *e)
{
	if (!e)
		return;
	for (int h = 0; h < ECAP_HOOKS; h++)
		if (e->slot_fd[h] >= 0)
			close(e->slot_fd[h]);
	for (unsigned i = 0; i < e->nifaces; i++) {
		struct iface *f = &e->ifaces[i];

		if (f->xdp_link >= 0) /* the link's last fd: closing it detaches */
			close(f->xdp_link);
		if (f->bound_fd >= 0)
			close(f->bound_fd);
		if (f->which & ECAP_ATTACH_TC_IN)
			tc_detach(f, 0);
		if (f->which & ECAP_ATTACH_TC_OUT)
			tc_detach(f, 1);
		close(f->lock_fd);
	}
	capture_bpf__destroy(e->skel);
	free(e);
}
