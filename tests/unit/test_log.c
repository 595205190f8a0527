/* test_log.c - what a log line may hold (common/log.h): text from anywhere
 * comes out as one printable line of valid UTF-8, so that no request, device
 * or peer can start a line of its own or set a line's priority. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"

static const char *clean(const char *in)
{
	static char out[256];

	ecap_text_clean(out, sizeof(out), in);
	return out;
}

static void control_bytes_are_escaped(void **state)
{
	assert_string_equal(clean("a\nedgecap-server: emergency: forged"),
			    "a\\x0aedgecap-server: emergency: forged");
	assert_string_equal(clean("\r\t\x1b[31m\x7f"), "\\x0d\\x09\\x1b[31m\\x7f");
	assert_string_equal(clean("<0>plain"), "<0>plain"); /* mid-line: only text */
}

static void utf8_is_kept_and_what_is_not_utf8_escaped(void **state)
{
	assert_string_equal(clean("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_string_equal(clean("\xff"), "\\xff");
	assert_string_equal(clean("\xc0\x80"), "\\xc0\\x80");			/* overlong NUL */
	assert_string_equal(clean("\xed\xa0\x80"), "\\xed\\xa0\\x80");		/* a surrogate */
	assert_string_equal(clean("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
	assert_string_equal(clean("\xe2\x82"), "\\xe2\\x82");			/* cut short */
}

static void the_output_is_bounded_and_never_splits_a_character(void **state)
{
	char out[8];

	assert_int_equal(ecap_text_clean(out, sizeof(out), "abcdefghij"), 7);
	assert_string_equal(out, "abcdefg");
	assert_int_equal(ecap_text_clean(out, sizeof(out), "abcde\xe2\x82\xac"), 5);
	assert_string_equal(out, "abcde"); /* the euro sign would not fit whole */
	assert_int_equal(ecap_text_clean(out, sizeof(out), "abc\n\n"), 7);
	assert_string_equal(out, "abc\\x0a"); /* a second escape would not fit */
	assert_int_equal(ecap_text_clean(out, 1, "abc"), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(control_bytes_are_escaped),
	    cmocka_unit_test(utf8_is_kept_and_what_is_not_utf8_escaped),
	    cmocka_unit_test(the_output_is_bounded_and_never_splits_a_character),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
