/* cmd_filter.c - `edgecap filter`: compile an expression like tcpdump -ddd,
 * check untrusted bytecode, show its eBPF translation, and run it in the
 * kernel over a capture file. */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "filter/ebpf.h"
#include "filter/filter.h"
#include "filter/compile.h"
#include "runfile.h"

#define MAX_DDD_BYTES (1u << 20)

struct fopts {
	uint32_t snaplen;
	int linktype;
	const char *ddd; /* --ddd FILE */
	const char *in;	 /* -r */
	const char *out; /* -w */
	char *expr;	 /* remaining arguments joined by spaces, as tcpdump does */
	enum ecap_hook hook;
	enum ecap_access access;
	enum ecap_input input; /* translate --for-run shows what run executes */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: edgecap filter compile [-s SNAPLEN] [-y LINKTYPE] EXPR\n"
		"       edgecap filter check < FILE\n"
		"       edgecap filter translate [-s SNAPLEN] [-y LINKTYPE] [--tc] [--helper] "
		"(EXPR | --ddd FILE)\n"
		"       edgecap filter run -r IN -w OUT [-s SNAPLEN] [--tc] [--helper] "
		"(EXPR | --ddd FILE)\n"
		"\n"
		"  compile    print the classic BPF program in tcpdump -ddd format\n"
		"  check      validate a -ddd program read from stdin; exit 0 if valid, 1 if not\n"
		"  translate  print the eBPF program, one instruction per line\n"
		"  run        run the translated program in the kernel on every packet of IN\n"
		"             (pcap or pcapng) and write the accepted ones to OUT in IN's format\n"
		"\n"
		"  -s SNAPLEN   snap length the filter returns (default %u)\n"
		"  -y LINKTYPE  EN10MB (default), RAW, LINUX_SLL or LINUX_SLL2\n"
		"  --ddd FILE   take the program in -ddd format from FILE ('-' = stdin)\n"
		"  --tc         translate for a TC (sched_cls) hook instead of XDP\n"
		"  --helper     read packets only through load-bytes helpers\n"
		"  --for-run    translate with the test-run prologue that run uses\n",
		ECAP_SNAPLEN_DEFAULT);
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("edgecap: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

static char *read_all(const char *path, size_t max)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	size_t len = 0, n;
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (buf) {
		while ((n = fread(buf + len, 1, max - len, f)) > 0)
			len += n;
		if (ferror(f) || (len == max && fgetc(f) != EOF)) {
			free(buf);
			buf = NULL;
			errno = ferror(f) ? EIO : EFBIG;
		} else {
			buf[len] = '\0';
		}
	}
	if (f != stdin)
		fclose(f);
	return buf;
}

static int parse_opts(int argc, char **argv, struct fopts *o)
{
	static const struct option longopts[] = {
	    {"ddd", required_argument, NULL, 'D'}, {"tc", no_argument, NULL, 'T'},
	    {"helper", no_argument, NULL, 'H'},	   {"for-run", no_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},	   {0},
	};
	char *end;
	int c;

	*o = (struct fopts){.snaplen = ECAP_SNAPLEN_DEFAULT,
			    .linktype = ECAP_LINKTYPE_EN10MB,
			    .hook = ECAP_HOOK_XDP,
			    .access = ECAP_ACCESS_AUTO,
			    .input = ECAP_INPUT_LIVE};
	optind = 1;
	while ((c = getopt_long(argc, argv, "+s:y:r:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			errno = 0;
			o->snaplen = (uint32_t)strtoul(optarg, &end, 10);
			/* tcpdump: -s 0 means the default */
			if (errno || *end || !*optarg || o->snaplen > ECAP_SNAPLEN_MAX)
				return fail("invalid snaplen '%s' (0..262144)", optarg);
			if (!o->snaplen)
				o->snaplen = ECAP_SNAPLEN_DEFAULT;
			break;
		case 'y':
			o->linktype = ecap_linktype_from_name(optarg);
			if (o->linktype < 0)
				return fail("unknown link type '%s'", optarg);
			break;
		case 'r':
			o->in = optarg;
			break;
		case 'w':
			o->out = optarg;
			break;
		case 'D':
			o->ddd = optarg;
			break;
		case 'T':
			o->hook = ECAP_HOOK_TC;
			break;
		case 'H':
			o->access = ECAP_ACCESS_HELPER;
			break;
		case 'R':
			o->input = ECAP_INPUT_TEST;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		o->expr = join_args(argc - optind, argv + optind);
		if (!o->expr)
			return fail("%s", strerror(ENOMEM));
	}
	if (o->expr && o->ddd)
		return fail("%s", "give an expression or --ddd FILE, not both");
	return 0;
}

/* The program to work on: compiled from the expression (an empty one
 * accepts everything, as with tcpdump) or read from --ddd, then validated. */
static int get_program(const struct fopts *o, int linktype, struct ecap_cbpf *ret)
{
	char err[ECAP_ERRLEN];
	char *text;
	int r;

	if (o->ddd) {
		text = read_all(o->ddd, MAX_DDD_BYTES);
		if (!text) {
			fprintf(stderr, "edgecap: %s: %s\n", o->ddd, strerror(errno));
			return 2;
		}
		r = ecap_cbpf_parse_ddd(text, ret, err, sizeof(err));
		free(text);
	} else {
		r = ecap_filter_compile(o->expr ? o->expr : "", linktype, o->snaplen, ret, err,
					sizeof(err));
	}
	if (!r)
		r = ecap_cbpf_validate(ret->insns, ret->len, err, sizeof(err));
	if (r) {
		ecap_cbpf_free(ret);
		return fail("%s", err);
	}
	return 0;
}

static int do_compile(const struct fopts *o)
{
	struct ecap_cbpf p = {0};
	char err[ECAP_ERRLEN];

	if (!o->expr)
		return fail("%s", "compile needs an expression");
	if (ecap_filter_compile(o->expr, o->linktype, o->snaplen, &p, err, sizeof(err)))
		return fail("%s", err);
	ecap_cbpf_print_ddd(stdout, &p);
	ecap_cbpf_free(&p);
	return fflush(stdout) ? 2 : 0;
}

static int do_check(void)
{
	struct ecap_cbpf p = {0};
	char err[ECAP_ERRLEN];
	char *text = read_all("-", MAX_DDD_BYTES);
	int r;

	if (!text)
		return fail("stdin: %s", strerror(errno));
	r = ecap_cbpf_parse_ddd(text, &p, err, sizeof(err));
	free(text);
	if (!r)
		r = ecap_cbpf_validate(p.insns, p.len, err, sizeof(err));
	ecap_cbpf_free(&p);
	if (r) {
		fprintf(stderr, "invalid: %s\n", err);
		return 1;
	}
	return 0;
}

static int do_translate(const struct fopts *o)
{
	struct ecap_xlate_opts xo = {.hook = o->hook, .input = o->input, .access = o->access};
	struct ecap_cbpf p = {0};
	struct bpf_insn *insns = NULL;
	char err[ECAP_ERRLEN];
	uint32_t n;
	int r;

	r = get_program(o, o->linktype, &p);
	if (r)
		return r;
	r = ecap_filter_translate(p.insns, p.len, &xo, &insns, &n, err, sizeof(err));
	ecap_cbpf_free(&p);
	if (r)
		return fail("%s", err);
	ecap_ebpf_disasm(stdout, insns, n);
	free(insns);
	return fflush(stdout) ? 2 : 0;
}

static int do_run(const struct fopts *o)
{
	struct ecap_xlate_opts xo = {
	    .hook = o->hook, .input = ECAP_INPUT_TEST, .access = o->access};
	struct ecap_cbpf p = {0};
	struct runfile *rf = NULL;
	char err[ECAP_ERRLEN];
	int fd = -1, linktype, st;

	if (!o->in || !o->out)
		return fail("%s", "run needs -r IN and -w OUT");
	st = runfile_open(o->in, &rf, &linktype);
	if (st)
		return st;
	st = get_program(o, linktype, &p);
	if (st)
		goto out;
	st = 2;
	fd = ecap_filter_load(p.insns, p.len, &xo, err, sizeof(err));
	if (fd < 0) {
		fail("%s", err);
		goto out;
	}
	st = runfile_filter(rf, fd, o->hook, o->in, o->out);
out:
	if (fd >= 0)
		close(fd);
	ecap_cbpf_free(&p);
	runfile_close(rf);
	return st;
}

int cmd_filter(int argc, char **argv)
{
	struct fopts o;
	const char *sub;
	int r;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		usage(stdout);
		return 0;
	}
	r = parse_opts(argc - 1, argv + 1, &o);
	if (r)
		return r;
	if (!strcmp(sub, "compile"))
		r = do_compile(&o);
	else if (!strcmp(sub, "check"))
		r = do_check();
	else if (!strcmp(sub, "translate"))
		r = do_translate(&o);
	else if (!strcmp(sub, "run"))
		r = do_run(&o);
	else
		r = fail("unknown filter command '%s'", sub);
	free(o.expr);
	return r;
}
