/* test_cbpf.c - compiling with libpcap and the -ddd text format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filter/compile.h"

static char err[ECAP_ERRLEN];

static void compile_error_is_libpcaps(void **s)
{
	struct ecap_cbpf p = {0};

	assert_int_equal(
	    ecap_filter_compile("tcp port", ECAP_LINKTYPE_EN10MB, 262144, &p, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "syntax error"));
	assert_int_equal(
	    ecap_filter_compile("ip broadcast", ECAP_LINKTYPE_EN10MB, 262144, &p, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "netmask not known"));
	assert_int_equal(ecap_filter_compile("ether host 1:2:3:4:5:6", ECAP_LINKTYPE_RAW, 262144,
					     &p, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(ecap_filter_compile("tcp", ECAP_LINKTYPE_EN10MB, 0, &p, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "snaplen"));
}

static void snaplen_is_the_return_value(void **s)
{
	struct ecap_cbpf p = {0};

	assert_int_equal(ecap_filter_compile("", ECAP_LINKTYPE_EN10MB, 96, &p, err, sizeof(err)),
			 0);
	assert_int_equal(p.len, 1);
	assert_int_equal(p.insns[0].code, BPF_RET | BPF_K);
	assert_int_equal(p.insns[0].k, 96);
	ecap_cbpf_free(&p);
}

static void ddd_round_trip(void **s)
{
	struct ecap_cbpf p = {0}, q = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_int_equal(ecap_filter_compile("udp port 53 or icmp6", ECAP_LINKTYPE_EN10MB, 262144,
					     &p, err, sizeof(err)),
			 0);
	assert_int_equal(ecap_cbpf_print_ddd(f, &p), 0);
	fclose(f);
	assert_int_equal(ecap_cbpf_parse_ddd(text, &q, err, sizeof(err)), 0);
	assert_int_equal(p.len, q.len);
	assert_memory_equal(p.insns, q.insns, p.len * sizeof(*p.insns));
	free(text);
	ecap_cbpf_free(&p);
	ecap_cbpf_free(&q);
}

static void ddd_errors(void **s)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"", "line 1: expected an instruction count"},
	    {"x\n", "line 1: expected an instruction count"},
	    {"0\n", "no instructions"},
	    {"4097\n", "line 1"},
	    {"2\n6 0 0 1\n", "line 3: expected \"code jt jf k\""},
	    {"1\n6 0 0\n", "line 2"},
	    {"1\n6 0 256 1\n", "line 2"},
	    {"1\n6 0 0 4294967296\n", "line 2"},
	    {"1\n6 0 0 1 5\n", "line 2: trailing characters"},
	    {"1\n6 0 0 1\n6 0 0 1\n", "more lines than the 1 instructions"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ecap_cbpf p = {0};

		err[0] = '\0';
		assert_int_equal(ecap_cbpf_parse_ddd(bad[i].text, &p, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].want))
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", bad[i].text, err,
				 bad[i].want);
		assert_null(p.insns);
	}
}

static void linktype_names(void **s)
{
	assert_int_equal(ecap_linktype_from_name("EN10MB"), ECAP_LINKTYPE_EN10MB);
	assert_int_equal(ecap_linktype_from_name("RAW"), ECAP_LINKTYPE_RAW);
	assert_int_equal(ecap_linktype_from_name("LINUX_SLL2"), ECAP_LINKTYPE_LINUX_SLL2);
	assert_int_equal(ecap_linktype_from_name("NOPE"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(compile_error_is_libpcaps),
	    cmocka_unit_test(snaplen_is_the_return_value),
	    cmocka_unit_test(ddd_round_trip),
	    cmocka_unit_test(ddd_errors),
	    cmocka_unit_test(linktype_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
