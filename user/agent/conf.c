/* conf.c - the agent's configuration file: "key = value" lines, '#'
 * comments. Command-line flags set the same keys after the file.
 *
 *   listen      = 0.0.0.0:8443
 *   interfaces  = eth0,eth1
 *   secret_file = /etc/edgecap/secret     (hex, from enrolment; none with tunnel)
 *   tls_cert    = /etc/edgecap/agent.crt
 *   tls_key     = /etc/edgecap/agent.key
 *   plain_http  = no                      (yes: no TLS, for labs)
 *   ring_size   = 8388608
 *   ingress     = auto                    (auto, xdp, tc)
 *   device      = gw-17
 *   metrics_listen = 127.0.0.1:9101       (Prometheus metrics; default: off)
 *   tunnel      = http://server:8080      (the management tunnel: docs/tunnel.md;
 *                 several, comma-separated: servers sharing one registry)
 *   serial      = SN-0017                 (default: the key's, EC-XXXX-XXXX-XXXX)
 *   key_file    = /var/lib/edgecap-agent/device.key (made at first start;
 *                 $STATE_DIRECTORY/device.key under edgecap-agent@NAME)
 *   proxy       = http://proxy:3128
 *   tunnel_ca   = /etc/edgecap/ca.crt
 *   tunnel_if   = ectun0
 *   tunnel_udp_port = 4789                (default: as the server says)
 *   state_file  = /var/lib/edgecap-agent/tunnel.state (the same)
 *   hello_interval = 15                   (s, 1..60)
 *   udp_wait    = 5                       (s, 0.1..900, may be fractional)
 *   udp_up_after = 3                      (answers in a row)
 *   coalesce    = 10                      (ms, 10..50)
 *   hold        = 25000                   (ms, 1000..25000; default: the server's)
 *   settings_file = KEY_FILE.settings     (the server's settings, settings.c)
 *   relay       = lan0                    (relay registrations of the LAN's devices)
 *   relay_port  = 4790
 *
 * The server's settings (settings.c) stand in for hello_interval,
 * udp_wait, coalesce and hold while it sets them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/conf.h"
#include "capture/engine.h"

static int read_secret(void *conf, const char *path, char *err, size_t errlen)
{
	struct agent_conf *c = conf;
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

static int set_ifaces(void *conf, const char *value, char *err, size_t errlen)
{
	struct agent_conf *c = conf;
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

/* ring_size: a power of two */
static int set_ring(void *conf, const char *value, char *err, size_t errlen)
{
	char *end;
	unsigned long v = strtoul(value, &end, 10);

	if (*end || v < 4096 || v > (1ul << 30) || (v & (v - 1))) {
		snprintf(err, errlen, "ring_size: a power of two, 4096..1 GiB");
		return -EINVAL;
	}
	((struct agent_conf *)conf)->ring_bytes = (uint32_t)v;
	return 0;
}

static int set_ingress(void *conf, const char *value, char *err, size_t errlen)
{
	unsigned *ingress = &((struct agent_conf *)conf)->ingress;

	if (!strcmp(value, "auto"))
		*ingress = 0;
	else if (!strcmp(value, "xdp"))
		*ingress = ECAP_ATTACH_XDP;
	else if (!strcmp(value, "tc"))
		*ingress = ECAP_ATTACH_TC_IN;
	else {
		snprintf(err, errlen, "ingress: auto, xdp or tc");
		return -EINVAL;
	}
	return 0;
}

#define STR(name, field) ECAP_CONF_STR_KEY(name, struct agent_conf, field)
#define UINT(name, field, scale, min, max)                                                         \
	ECAP_CONF_UINT_KEY(name, struct agent_conf, field, scale, min, max)

static const struct ecap_conf_key keys[] = {
    STR("listen", listen),
    ECAP_CONF_FN_KEY("interfaces", set_ifaces),
    ECAP_CONF_FN_KEY("secret_file", read_secret),
    STR("tls_cert", tls_cert),
    STR("tls_key", tls_key),
    ECAP_CONF_BOOL_KEY("plain_http", struct agent_conf, plain_http),
    ECAP_CONF_FN_KEY("ring_size", set_ring),
    ECAP_CONF_FN_KEY("ingress", set_ingress),
    STR("device", device),
    STR("metrics_listen", metrics_listen),
    STR("tunnel", tunnel),
    STR("proxy", proxy),
    STR("tunnel_ca", tunnel_ca),
    STR("serial", serial),
    STR("key_file", key_file),
    STR("tunnel_if", tunnel_if),
    STR("state_file", state_file),
    UINT("hello_interval", hello_ms, 1000, 1000, 60000),
    UINT("udp_wait", udp_wait_ms, 1000, 100, 900000),
    UINT("udp_up_after", udp_up_after, 1, 1, 100),
    UINT("coalesce", coalesce_ms, 1, 10, 50),
    UINT("hold", hold_ms, 1, 1000, 25000),
    STR("settings_file", settings_file),
    STR("relay", relay),
    UINT("relay_port", relay_port, 1, 1, 65535),
    UINT("tunnel_udp_port", tunnel_udp_port, 1, 1, 65535),
    {0},
};

int agent_conf_set(struct agent_conf *c, const char *key, const char *value, char *err,
		   size_t errlen)
{
	return ecap_conf_set(keys, c, key, value, err, errlen);
}

int agent_conf_load(struct agent_conf *c, const char *path, int must_exist, char *err,
		    size_t errlen)
{
	const char *state_dir = getenv("STATE_DIRECTORY");
	int r;

	*c = (struct agent_conf){.listen = "0.0.0.0:8443",
				 .ring_bytes = 8u << 20,
				 .key_file = AGENT_KEY,
				 .tunnel_if = "ectun0",
				 .state_file = "/var/lib/edgecap-agent/tunnel.state",
				 .hello_ms = 15000,
				 .udp_wait_ms = 5000,
				 .udp_up_after = 3,
				 .coalesce_ms = 10,
				 .relay_port = 4790};
	gethostname(c->device, sizeof(c->device) - 1);
	/* systemd's state directory for the unit (edgecap-agent@NAME has one
	 * of its own): the key and the tunnel's state go there */
	if (state_dir && *state_dir && !strchr(state_dir, ':') && strlen(state_dir) < 200 &&
	    strcmp(state_dir, AGENT_STATE_DIR)) {
		snprintf(c->key_file, sizeof(c->key_file), "%s/device.key", state_dir);
		snprintf(c->state_file, sizeof(c->state_file), "%s/tunnel.state", state_dir);
	}
	r = ecap_conf_load(keys, c, path, must_exist, err, errlen);
	/* a key made by keygen where earlier versions kept it stays the key */
	if (!r && !strcmp(c->key_file, AGENT_KEY) && access(AGENT_KEY, F_OK) &&
	    !access(AGENT_KEY_OLD, F_OK))
		snprintf(c->key_file, sizeof(c->key_file), "%s", AGENT_KEY_OLD);
	if (!r && !c->settings_file[0])
		snprintf(c->settings_file, sizeof(c->settings_file), "%.240s.settings",
			 c->key_file);
	return r;
}

int agent_conf_check(const struct agent_conf *c, char *err, size_t errlen)
{
	if (!c->nifaces)
		snprintf(err, errlen, "no interfaces to serve: set interfaces or give -i");
	else if (!c->secret_len && !c->tunnel[0])
		snprintf(
		    err, errlen,
		    "no secret: set tunnel (the server's address: the device joins by claim "
		    "and the secret comes from it) or secret_file (a device reached directly)");
	else if (!c->plain_http && !c->tunnel[0] && (!*c->tls_cert || !*c->tls_key))
		snprintf(err, errlen,
			 "HTTPS needs tls_cert and tls_key, or tunnel (the server issues the "
			 "certificate), or plain_http = yes, for labs");
	else
		return 0;
	return -EINVAL;
}
