/* test_path.c - the router's path splitting (server/api/path.h): segments
 * decoded one by one, so an escaped '/' or NUL never moves a boundary or
 * cuts a name short; malformed escapes refused as such (-EINVAL, a 400),
 * paths no route can match as such (-ENOENT, a 404), with the reason. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "api/path.h"

static char buf[512], err[256], *seg[SRV_PATH_SEGS_MAX];

static int split(const char *path)
{
	err[0] = 0;
	return srv_path_split(path, strlen(path), buf, sizeof(buf), seg, err, sizeof(err));
}

/* split with NUL bytes in the input: len given */
static int split_n(const char *path, size_t len)
{
	err[0] = 0;
	return srv_path_split(path, len, buf, sizeof(buf), seg, err, sizeof(err));
}

static void plain_and_escaped_segments(void **state)
{
	assert_int_equal(split("/"), 0);
	assert_int_equal(split("/api/v1/devices/gw1"), 4);
	assert_string_equal(seg[0], "api");
	assert_string_equal(seg[3], "gw1");
	/* an escape decodes inside its segment, any case of hex digit */
	assert_int_equal(split("/api/v1/devices/gw%2e1%2D%5f"), 4);
	assert_string_equal(seg[3], "gw.1-_");
	assert_int_equal(split("/%61pi/%E2%9C%93"), 2);
	assert_string_equal(seg[0], "api");
	assert_string_equal(seg[1], "\xe2\x9c\x93");
}

static void malformed_escapes_are_einval(void **state)
{
	assert_int_equal(split("/api/v1/devices/%zz"), -EINVAL);
	assert_string_equal(err, "invalid escape '%zz' in the path: want '%' and two hex digits");
	assert_int_equal(split("/api/v1/devices/gw1%4"), -EINVAL);
	assert_string_equal(err, "invalid escape '%4' in the path: want '%' and two hex digits");
	assert_int_equal(split("/api/v1/devices/gw1%"), -EINVAL);
	assert_int_equal(split("/api/v1/devices/gw1%4/x"), -EINVAL);
	assert_int_equal(split("/api/v1/devices/%g1"), -EINVAL);
	/* wins over what else is wrong, and control bytes are quoted escaped */
	assert_int_equal(split("//../%00/%\x01"), -EINVAL);
	assert_string_equal(err,
			    "invalid escape '%\\x01' in the path: want '%' and two hex digits");
}

static void decoded_nul_slash_control_are_enoent(void **state)
{
	seg[3] = NULL;
	assert_int_equal(split("/api/v1/devices/gw1%00anything"), -ENOENT);
	assert_string_equal(err, "path segment 'gw1\\x00anything' holds a NUL byte");
	assert_null(seg[3]); /* untouched on failure */
	assert_int_equal(split("/api/v1/devices/gw1%2Fx"), -ENOENT);
	assert_string_equal(err, "path segment 'gw1/x' holds an escaped '/'");
	assert_int_equal(split("/api/v1/devices/gw1%0aforged"), -ENOENT);
	assert_string_equal(err, "path segment 'gw1\\x0aforged' holds a control byte");
	assert_int_equal(split("/api/v1/devices/gw1%7F"), -ENOENT);
	/* raw bytes alike (HTTP/1 refuses them before us, this does not rely on it) */
	assert_int_equal(split_n("/api/v1/devices/gw1\0x", 21), -ENOENT);
	assert_string_equal(err, "path segment 'gw1\\x00x' holds a NUL byte");
}

static void shapes_no_route_has_are_enoent(void **state)
{
	assert_int_equal(split("/api/v1/../v1/devices"), -ENOENT);
	assert_string_equal(err, "path segment '..' is a dot-segment (paths are matched as sent, "
				 "not resolved)");
	assert_int_equal(split("/api/v1/./devices"), -ENOENT);
	assert_int_equal(split("/api/v1/%2E%2e/devices"), -ENOENT);
	assert_int_equal(split("/api//v1"), -ENOENT);
	assert_string_equal(err, "empty path segment (a '//' or a trailing '/')");
	assert_int_equal(split("/api/v1/devices/"), -ENOENT);
	assert_int_equal(split(""), -ENOENT);
	assert_string_equal(err, "the path does not start with '/'");
	assert_int_equal(split("http://host/api"), -ENOENT);
	assert_int_equal(split("/1/2/3/4/5/6/7/8"), 8);
	assert_int_equal(split("/1/2/3/4/5/6/7/8/9"), -ENOENT);
	assert_string_equal(err, "more than 8 path segments");
	/* dots inside a name are no dot-segment */
	assert_int_equal(split("/a/.../.b"), 3);
}

static void bounded_by_the_buffer(void **state)
{
	char path[600], small[8];

	memset(path, 'a', sizeof(path));
	path[0] = '/';
	assert_int_equal(split_n(path, sizeof(buf)), -ENOENT);
	assert_string_equal(err, "the path is longer than 511 bytes");
	assert_int_equal(split_n(path, sizeof(buf) - 1), 1);
	assert_int_equal(strlen(seg[0]), sizeof(buf) - 2);
	/* len + 1 is enough, whatever the segments */
	assert_int_equal(srv_path_split("/a/b/c", 6, small, 7, seg, err, sizeof(err)), 3);
	assert_string_equal(seg[2], "c");
	/* a long segment is quoted in part */
	path[1] = '%';
	path[2] = '0';
	path[3] = '0';
	assert_int_equal(split_n(path, 200), -ENOENT);
	assert_int_equal(strlen(err), strlen("path segment '\\x00' holds a NUL byte") + 63 + 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(plain_and_escaped_segments),
	    cmocka_unit_test(malformed_escapes_are_einval),
	    cmocka_unit_test(decoded_nul_slash_control_are_enoent),
	    cmocka_unit_test(shapes_no_route_has_are_enoent),
	    cmocka_unit_test(bounded_by_the_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
