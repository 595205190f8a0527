/* test_reach.c - where a device may be (server/service/reach.h): each
 * rule refuses its addresses with its reason, an IPv4-mapped address is
 * judged as IPv4 (NAT64's too), the management network only as the
 * device's own address, device_networks allows what it lists (loopback
 * too; the server's own addresses only listed alone) and refuses the rest,
 * and a malformed list is refused with the item named. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "service/reach.h"

static char why[200];

static int check(const struct srv_reach *r, const char *text, uint32_t own_mgmt)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr_in s4 = {.sin_family = AF_INET};

	why[0] = 0;
	if (inet_pton(AF_INET, text, &s4.sin_addr) == 1)
		return srv_reach_check(r, (struct sockaddr *)&s4, own_mgmt, why, sizeof(why));
	assert_int_equal(inet_pton(AF_INET6, text, &s6.sin6_addr), 1);
	return srv_reach_check(r, (struct sockaddr *)&s6, own_mgmt, why, sizeof(why));
}

static void refused(const struct srv_reach *r, const char *text, const char *reason)
{
	assert_int_equal(check(r, text, 0), -EACCES);
	if (!strstr(why, reason))
		fail_msg("%s: '%s', want '%s'", text, why, reason);
}

static void rules(void **state)
{
	struct srv_reach none = {0};

	(void)state;
	refused(&none, "127.0.0.1", "127.0.0.1 is a loopback address");
	refused(&none, "127.200.0.9", "loopback");
	refused(&none, "0.0.0.0", "unspecified");
	refused(&none, "169.254.10.1", "link-local");
	refused(&none, "224.0.0.1", "multicast");
	refused(&none, "239.255.255.250", "multicast");
	refused(&none, "255.255.255.255", "broadcast");
	refused(&none, "::", "unspecified");
	refused(&none, "::1", "::1 is a loopback address");
	refused(&none, "fe80::1", "link-local");
	refused(&none, "ff02::1", "multicast");
	refused(&none, "::ffff:127.0.0.1", "127.0.0.1 is a loopback address");
	refused(&none, "64:ff9b::7f00:1", "127.0.0.1 is a loopback address"); /* NAT64 */
	refused(&none, "64:ff9b::a9fe:a9fe", "169.254.169.254 is a link-local address");
	refused(&none, "fd00:ec2::254", "a cloud metadata address");
	refused(&none, "6.0.0.9", "management network");
	refused(&none, "::ffff:6.0.0.9", "management network");
	/* the device's own management address, reached over the tunnel */
	assert_int_equal(check(&none, "6.0.0.9", 0x06000009u), 0);
	refused(&none, "6.0.0.10", "management network"); /* not with another's */
	assert_int_equal(check(&none, "6.0.0.10", 0x06000009u), -EACCES);
	/* the server's own: loopback above; the rest are the host's interfaces,
	 * which this test cannot know; ordinary addresses pass */
	assert_int_equal(check(&none, "192.0.2.10", 0), 0);
	assert_int_equal(check(&none, "2001:db8::10", 0), 0);
}

static void networks(void **state)
{
	struct srv_reach r;
	char err[200];

	(void)state;
	assert_int_equal(srv_reach_parse(&r, "device_networks",
					 "127.0.0.0/8, 10.1.0.0/16 2001:db8::/33,192.0.2.7", err,
					 sizeof(err)),
			 0);
	assert_int_equal(r.n, 4);
	assert_int_equal(check(&r, "127.0.0.2", 0), 0); /* listed: a lab's loopback */
	/* the server's own address (lo's) only when listed alone */
	refused(&r, "127.0.0.1", "127.0.0.1 is this server's own address");
	assert_int_equal(check(&r, "10.1.255.1", 0), 0);
	assert_int_equal(check(&r, "192.0.2.7", 0), 0);
	assert_int_equal(check(&r, "2001:db8:7fff::1", 0), 0);
	refused(&r, "2001:db8:8000::1", "outside device_networks");
	refused(&r, "10.2.0.1", "10.2.0.1 is outside device_networks");
	refused(&r, "192.0.2.8", "outside device_networks");
	refused(&r, "169.254.1.1", "outside device_networks");
	assert_int_equal(
	    srv_reach_parse(&r, "device_networks", "127.0.0.0/8 127.0.0.1", err, sizeof(err)), 0);
	assert_int_equal(check(&r, "127.0.0.1", 0), 0);
	assert_int_equal(srv_reach_parse(&r, "device_networks", "::1/128", err, sizeof(err)), 0);
	assert_int_equal(check(&r, "::1", 0), 0);
	/* never the management network, listed or not */
	assert_int_equal(srv_reach_parse(&r, "device_networks", "0.0.0.0/0", err, sizeof(err)), 0);
	refused(&r, "6.1.2.3", "management network");
	assert_int_equal(check(&r, "6.1.2.3", 0x06010203u), 0);
	assert_int_equal(srv_reach_parse(&r, "device_networks", "", err, sizeof(err)), 0);
	assert_int_equal(r.n, 0);
}

static void bad_lists(void **state)
{
	struct srv_reach r;
	char err[200];

	(void)state;
	assert_int_equal(
	    srv_reach_parse(&r, "device_networks", "10.0.0.0/8, 10.0.0.0/33", err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err,
			    "device_networks: '10.0.0.0/33' is not an address or ADDRESS/PREFIX");
	assert_int_equal(srv_reach_parse(&r, "device_networks", "example.com", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "'example.com'"));
	assert_int_equal(srv_reach_parse(&r, "device_networks", "10.0.0.0/", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(srv_reach_parse(&r, "device_networks", "fd00::/129", err, sizeof(err)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rules),
	    cmocka_unit_test(networks),
	    cmocka_unit_test(bad_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
