/* conf.c - the agent's configuration file: "key = value" lines, '#'
 * comments. Command-line flags set the same keys after the file.
 *
 *   listen      = 0.0.0.0:8443
 *   interfaces  = eth0,eth1
 *   secret_file = /etc/edgecap/secret     (hex, from enrolment)
 *   tls_cert    = /etc/edgecap/agent.crt
 *   tls_key     = /etc/edgecap/agent.key
 *   plain_http  = no                      (yes: no TLS, for labs)
 *   ring_size   = 8388608
 *   ingress     = auto                    (auto, xdp, tc)
 *   device      = gw-17
 *   tunnel      = http://server:8080      (the management tunnel: docs/tunnel.md)
 *   serial      = SN-0017
 *   key_file    = /etc/edgecap/device.key (edgecap-agent keygen)
 *   proxy       = http://proxy:3128
 *   tunnel_ca   = /etc/edgecap/ca.crt
 *   tunnel_if   = ectun0
 *   tunnel_udp_port = 4789                (default: as the server says)
 *   state_file  = /var/lib/edgecap/tunnel.state
 *   hello_interval = 25                   (s)
 *   udp_wait    = 5                       (s, may be fractional)
 *   udp_up_after = 3                      (answers in a row)
 *   coalesce    = 10                      (ms, 10..50)
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "capture/engine.h"

static int read_secret(struct agent_conf *c, const char *path, char *err, size_t errlen)
{
	char text[2 * ECAP_AUTH_SECRET_MAX + 8];
	FILE *f = fopen(path, "re");
	size_t n;
	int r;

	if (!f) {
		snprintf(err, errlen, "secret_file %s: %s", path, strerror(errno));
		return -errno;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	r = ecap_hex_decode(text, c->secret, sizeof(c->secret));
	if (r < ECAP_AUTH_SECRET_MIN) {
		snprintf(err, errlen, "secret_file %s: want %d to %d bytes in hex", path,
			 ECAP_AUTH_SECRET_MIN, ECAP_AUTH_SECRET_MAX);
		return -EINVAL;
	}
	c->secret_len = (size_t)r;
	return 0;
}

static int set_ifaces(struct agent_conf *c, const char *value, char *err, size_t errlen)
{
	char *list = strdupa(value), *save = NULL;

	c->nifaces = 0;
	for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (c->nifaces == ECAP_MAX_SESSION_IFACES || strlen(tok) >= IF_NAMESIZE) {
			snprintf(err, errlen, "interfaces: at most %d names of at most %d bytes",
				 ECAP_MAX_SESSION_IFACES, IF_NAMESIZE - 1);
			return -EINVAL;
		}
		strcpy(c->ifaces[c->nifaces++], tok);
	}
	return 0;
}

static int copy(char *dst, size_t size, const char *key, const char *value, char *err,
		size_t errlen)
{
	if (strlen(value) >= size) {
		snprintf(err, errlen, "%s: too long", key);
		return -EINVAL;
	}
	strcpy(dst, value);
	return 0;
}

/* A decimal number times scale (seconds to ms: 1000), in [min, max] after
 * scaling. */
static int number(unsigned *ret, const char *key, const char *value, double scale, unsigned min,
		  unsigned max, char *err, size_t errlen)
{
	char *end;
	double v = strtod(value, &end) * scale;

	if (*end || end == value || !(v >= min && v <= max)) { /* NaN too */
		snprintf(err, errlen, "%s: from %g to %g", key, min / scale, max / scale);
		return -EINVAL;
	}
	*ret = (unsigned)(v + 0.5);
	return 0;
}

int agent_conf_set(struct agent_conf *c, const char *key, const char *value, char *err,
		   size_t errlen)
{
	if (!strcmp(key, "listen"))
		return copy(c->listen, sizeof(c->listen), key, value, err, errlen);
	if (!strcmp(key, "interfaces"))
		return set_ifaces(c, value, err, errlen);
	if (!strcmp(key, "secret_file"))
		return read_secret(c, value, err, errlen);
	if (!strcmp(key, "tls_cert"))
		return copy(c->tls_cert, sizeof(c->tls_cert), key, value, err, errlen);
	if (!strcmp(key, "tls_key"))
		return copy(c->tls_key, sizeof(c->tls_key), key, value, err, errlen);
	if (!strcmp(key, "device"))
		return copy(c->device, sizeof(c->device), key, value, err, errlen);
	if (!strcmp(key, "tunnel"))
		return copy(c->tunnel, sizeof(c->tunnel), key, value, err, errlen);
	if (!strcmp(key, "proxy"))
		return copy(c->proxy, sizeof(c->proxy), key, value, err, errlen);
	if (!strcmp(key, "tunnel_ca"))
		return copy(c->tunnel_ca, sizeof(c->tunnel_ca), key, value, err, errlen);
	if (!strcmp(key, "serial"))
		return copy(c->serial, sizeof(c->serial), key, value, err, errlen);
	if (!strcmp(key, "key_file"))
		return copy(c->key_file, sizeof(c->key_file), key, value, err, errlen);
	if (!strcmp(key, "tunnel_if"))
		return copy(c->tunnel_if, sizeof(c->tunnel_if), key, value, err, errlen);
	if (!strcmp(key, "state_file"))
		return copy(c->state_file, sizeof(c->state_file), key, value, err, errlen);
	if (!strcmp(key, "hello_interval"))
		return number(&c->hello_ms, key, value, 1000, 1000, 60000, err, errlen);
	if (!strcmp(key, "udp_wait"))
		return number(&c->udp_wait_ms, key, value, 1000, 100, 60000, err, errlen);
	if (!strcmp(key, "udp_up_after"))
		return number(&c->udp_up_after, key, value, 1, 1, 100, err, errlen);
	if (!strcmp(key, "coalesce"))
		return number(&c->coalesce_ms, key, value, 1, 10, 50, err, errlen);
	if (!strcmp(key, "tunnel_udp_port")) {
		unsigned v;
		int r = number(&v, key, value, 1, 1, 65535, err, errlen);

		c->tunnel_udp_port = (uint16_t)v;
		return r;
	}
	if (!strcmp(key, "plain_http")) {
		if (strcmp(value, "yes") && strcmp(value, "no")) {
			snprintf(err, errlen, "plain_http: yes or no");
			return -EINVAL;
		}
		c->plain_http = !strcmp(value, "yes");
		return 0;
	}
	if (!strcmp(key, "ring_size")) {
		char *end;
		unsigned long v = strtoul(value, &end, 10);

		if (*end || v < 4096 || v > (1ul << 30) || (v & (v - 1))) {
			snprintf(err, errlen, "ring_size: a power of two, 4096..1 GiB");
			return -EINVAL;
		}
		c->ring_bytes = (uint32_t)v;
		return 0;
	}
	if (!strcmp(key, "ingress")) {
		if (!strcmp(value, "auto"))
			c->ingress = 0;
		else if (!strcmp(value, "xdp"))
			c->ingress = ECAP_ATTACH_XDP;
		else if (!strcmp(value, "tc"))
			c->ingress = ECAP_ATTACH_TC_IN;
		else {
			snprintf(err, errlen, "ingress: auto, xdp or tc");
			return -EINVAL;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown setting '%s'", key);
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int agent_conf_load(struct agent_conf *c, const char *path, int must_exist, char *err,
		    size_t errlen)
{
	char line[1024], sub[ECAP_ERRLEN];
	unsigned no = 0;
	FILE *f;
	int r = 0;

	*c = (struct agent_conf){.listen = "0.0.0.0:8443",
				 .ring_bytes = 8u << 20,
				 .key_file = "/etc/edgecap/device.key",
				 .tunnel_if = "ectun0",
				 .state_file = "/var/lib/edgecap/tunnel.state",
				 .hello_ms = 25000,
				 .udp_wait_ms = 5000,
				 .udp_up_after = 3,
				 .coalesce_ms = 10};
	gethostname(c->device, sizeof(c->device) - 1);
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p, *eq;

		no++;
		p = strchr(line, '#');
		if (p)
			*p = 0;
		p = trim(line);
		if (!*p)
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: want key = value", path, no);
			r = -EINVAL;
			break;
		}
		*eq = 0;
		r = agent_conf_set(c, trim(p), trim(eq + 1), sub, sizeof(sub));
		if (r) {
			snprintf(err, errlen, "%s:%u: %s", path, no, sub);
			break;
		}
	}
	fclose(f);
	return r;
}

int agent_conf_check(const struct agent_conf *c, char *err, size_t errlen)
{
	if (!c->nifaces)
		snprintf(err, errlen, "no interfaces to serve: set interfaces or give -i");
	else if (!c->secret_len)
		snprintf(err, errlen, "no secret: set secret_file (the device's, from enrolment)");
	else if (c->tunnel[0] && !c->serial[0])
		snprintf(err, errlen, "the tunnel needs serial (the device's, as enrolled)");
	else if (!c->plain_http && (!*c->tls_cert || !*c->tls_key))
		snprintf(err, errlen, "HTTPS needs tls_cert and tls_key (or plain_http = yes, for labs)");
	else
		return 0;
	return -EINVAL;
}
