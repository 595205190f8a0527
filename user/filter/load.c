/* load.c - loads translated filters into the kernel, see filter.h. */
#include "filter/filter.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VERIFIER_LOG_SIZE (4u << 20)

/* Keep the last `lines` lines of a verifier log, joined with "; ". */
static void log_tail(const char *log, int lines, char *err, size_t errlen)
{
	const char *end = log + strlen(log), *p = end;
	size_t o = 0;

	while (p > log && (p[-1] == '\n' || p[-1] == ' '))
		p--;
	end = p;
	while (p > log && lines > 0) {
		p--;
		if (*p == '\n' && --lines == 0) {
			p++;
			break;
		}
	}
	o = snprintf(err, errlen, "verifier: ");
	for (; p < end && o + 3 < errlen; p++) {
		if (*p == '\n') {
			err[o++] = ';';
			err[o++] = ' ';
		} else {
			err[o++] = *p;
		}
	}
	err[o < errlen ? o : errlen - 1] = '\0';
}

/* Linux 6.3, where the system's headers predate it */
#ifndef BPF_F_XDP_DEV_BOUND_ONLY
#define BPF_F_XDP_DEV_BOUND_ONLY (1U << 6)
#endif

/* ifindex > 0: XDP, bound to that device */
static int load(const struct bpf_insn *insns, uint32_t n, enum ecap_hook hook, int ifindex,
		const char *name, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	enum bpf_prog_type type;
	char *log;
	int fd, r;

	if (hook == ECAP_HOOK_XDP) {
		type = BPF_PROG_TYPE_XDP;
		/* the hook programs tail-call into filters: attach types must match */
		opts.expected_attach_type = BPF_XDP;
		opts.prog_flags = BPF_F_XDP_HAS_FRAGS;
		if (ifindex > 0) {
			opts.prog_ifindex = (__u32)ifindex;
			opts.prog_flags |= BPF_F_XDP_DEV_BOUND_ONLY;
		}
	} else {
		type = BPF_PROG_TYPE_SCHED_CLS;
	}
	fd = bpf_prog_load(type, name, "GPL", insns, n, &opts);
	if (fd >= 0)
		return fd;
	r = -errno;

	/* Load again with a log only on failure: logging slows the verifier. */
	log = calloc(1, VERIFIER_LOG_SIZE);
	if (!log) {
		snprintf(err, errlen, "verifier refused the program: %s", strerror(-r));
		return r;
	}
	opts.log_buf = log;
	opts.log_size = VERIFIER_LOG_SIZE;
	opts.log_level = 1;
	fd = bpf_prog_load(type, name, "GPL", insns, n, &opts);
	if (fd >= 0) { /* passed the second time: report nothing odd */
		free(log);
		return fd;
	}
	if (log[0])
		log_tail(log, 3, err, errlen);
	else
		snprintf(err, errlen, "loading the program failed: %s", strerror(-r));
	free(log);
	return r;
}

int ecap_prog_load(const struct bpf_insn *insns, uint32_t n, enum ecap_hook hook, char *err,
		   size_t errlen)
{
	return load(insns, n, hook, 0, "ecap_filter", err, errlen);
}

int ecap_prog_load_xdp_bound(const struct bpf_insn *insns, uint32_t n, int ifindex,
			     const char *name, char *err, size_t errlen)
{
	return load(insns, n, ECAP_HOOK_XDP, ifindex, name, err, errlen);
}

int ecap_filter_load(const struct sock_filter *insns, uint32_t n,
		     const struct ecap_xlate_opts *opts, char *err, size_t errlen)
{
	struct bpf_insn *ebpf = NULL;
	uint32_t len;
	int r;

	r = ecap_filter_translate(insns, n, opts, &ebpf, &len, err, errlen);
	if (r)
		return r;
	r = ecap_prog_load(ebpf, len, opts->hook, err, errlen);
	free(ebpf);
	return r;
}
