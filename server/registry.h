/* registry.h - edgecap-server's registry: one SQLite file. Organizations,
 * their administrators (API tokens kept only as SHA-256), their devices, and
 * captures with each device's part in them. Every lookup an administrator
 * can cause takes the organization: rows of another organization are not
 * found. The schema is versioned (PRAGMA user_version); registry.c holds the
 * migrations and applies the missing ones in one transaction at open. */
#ifndef SRV_REGISTRY_H
#define SRV_REGISTRY_H

#include <jansson.h>
#include <stdint.h>

#define REG_NAME_MAX   64
#define REG_SECRET_LEN 32 /* bytes; the device's HMAC key */
#define REG_TOKEN_LEN  32 /* bytes; shown once in hex */

struct reg;

struct reg_admin {
	int64_t id, org;
	char name[REG_NAME_MAX + 1], org_name[REG_NAME_MAX + 1];
};

struct reg_device {
	int64_t id, org;
	char name[REG_NAME_MAX + 1];
	char address[256]; /* http(s)://HOST:PORT of the agent */
	uint8_t secret[REG_SECRET_LEN];
	int enabled;
	uint32_t mgmt; /* management address (mTunnel), host order */
};

/* What the mTunnel's registration needs of a device. */
struct reg_tunnel_device {
	int64_t id, org;
	char name[REG_NAME_MAX + 1];
	char pubkey[64]; /* "": none enrolled */
	int enabled;
	uint32_t mgmt;
};

/* Open (creating) and migrate: 0, or -errno with err set. */
int reg_open(const char *path, struct reg **ret, char *err, size_t errlen);
void reg_close(struct reg *r);
int reg_schema_version(struct reg *r);
const char *reg_errmsg(struct reg *r);

/* Bootstrap (the server's command line). The new id, or -EEXIST / -ENOENT /
 * -EIO. A new administrator's token is written as hex into token_hex
 * (2 * REG_TOKEN_LEN + 1 bytes): it is not kept. */
int64_t reg_org_add(struct reg *r, const char *name);
int64_t reg_admin_add(struct reg *r, const char *org, const char *name, char *token_hex);

/* The administrator a bearer token belongs to: 0, or -ENOENT. */
int reg_admin_by_token(struct reg *r, const char *token, size_t len, struct reg_admin *ret);

/* Enrol a device into an organization: the new id, or -EEXIST (name in the
 * organization, or serial anywhere) / -EIO. Its management address is the
 * first free one for its serial (mtun_address), so collisions resolve here.
 * Its secret is generated and
 * written as hex into secret_hex (2 * REG_SECRET_LEN + 1). */
int64_t reg_device_add(struct reg *r, int64_t org, const char *name, const char *serial,
		       const char *address, const char *pubkey, char *secret_hex);
int reg_device_get(struct reg *r, int64_t org, const char *name, struct reg_device *ret);
int reg_device_delete(struct reg *r, int64_t org, const char *name);
void reg_device_seen(struct reg *r, int64_t id, int64_t when);
/* Any organization's device by serial (the device proves it holds the key):
 * 0 or -ENOENT / -EIO. */
int reg_device_by_serial(struct reg *r, const char *serial, struct reg_tunnel_device *ret);
/* 0, or -ENOENT. */
int reg_device_enable(struct reg *r, int64_t org, const char *name, int enabled);
/* The transport a device's last message came by ("udp", "http"), and when. */
void reg_device_transport(struct reg *r, int64_t id, const char *transport, int64_t when);
/* The organization's devices as a JSON array (new reference), or NULL. */
json_t *reg_devices_json(struct reg *r, int64_t org, const char *name);

/* Captures. reg_capture_add takes the request as JSON (kept as given). */
int64_t reg_capture_add(struct reg *r, int64_t org, int64_t admin, json_t *request,
			const char *file);
int reg_capture_set_file(struct reg *r, int64_t capture, const char *file);
int reg_capture_device_add(struct reg *r, int64_t capture, int64_t device);
struct reg_capture_device_state {
	const char *state; /* connecting, streaming, done, failed */
	const char *error; /* NULL: none */
	uint64_t bytes, packets, duplicates, dropped;
};
int reg_capture_device_update(struct reg *r, int64_t capture, int64_t device,
			      const struct reg_capture_device_state *s);
struct reg_capture_state {
	const char *state; /* running, done */
	uint64_t merged, duplicates, late;
	int64_t ended; /* 0: not yet */
};
int reg_capture_update(struct reg *r, int64_t capture, const struct reg_capture_state *s);
/* Captures that were running when the server stopped are done now. */
void reg_captures_interrupted(struct reg *r);
/* One capture (id > 0) with its devices, or the organization's captures
 * (id 0), as JSON; NULL when not found in the organization. */
json_t *reg_captures_json(struct reg *r, int64_t org, int64_t id);
/* Its file, when the capture is the organization's: 0 or -ENOENT. */
int reg_capture_file(struct reg *r, int64_t org, int64_t id, char *ret, size_t len);

#endif
