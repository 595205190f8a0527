/* registry.h - edgecap-server's registry: organizations, their users
 * (roles, argon2id password hashes, API tokens kept only as SHA-256;
 * docs/accounts.md), their devices, and captures with each device's part
 * in them. Plain structs in and out: no
 * type of the storage engine shows here, so a second backend can come
 * without touching a caller (registry_sqlite.c is the one today: one SQLite
 * file, docs/remote.md).
 *
 * Every lookup an administrator can cause takes the organization: rows of
 * another organization are not found. Functions return 0 (or an id) on
 * success and -errno on failure: -ENOENT not found, -EEXIST a name or
 * serial taken, -EBUSY still referred to, -EIO the storage failed
 * (reg_errmsg says how). The schema is versioned; the backend holds the
 * migrations and applies the missing ones in one transaction at open. */
#ifndef SRV_REGISTRY_H
#define SRV_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#define REG_NAME_MAX	64
#define REG_SERIAL_MAX	128
#define REG_ADDRESS_MAX 255
#define REG_SECRET_LEN	32 /* bytes; the device's HMAC key */
#define REG_TOKEN_LEN	32 /* bytes; shown once in hex */
#define REG_EMAIL_MAX	254
#define REG_PWHASH_MAX	128 /* an encoded argon2id hash, with its NUL */

struct reg;

/* Roles, in order of what they may do (docs/accounts.md). */
enum reg_role { REG_VIEWER = 1, REG_OPERATOR, REG_OWNER };
const char *reg_role_name(enum reg_role role);
/* "owner", "operator", "viewer": the role, or 0. */
enum reg_role reg_role_parse(const char *name);

/* A user as a request acts: by its token or its session. */
struct reg_user {
	int64_t id, org;
	enum reg_role role;
	int pw_change;	      /* a one-time password: set one before anything else */
	int viewer_downloads; /* its organization lets viewers download captures */
	char name[REG_NAME_MAX + 1], org_name[REG_NAME_MAX + 1];
	char email[REG_EMAIL_MAX + 1]; /* "": none (a token-only user) */
};

struct reg_device {
	int64_t id, org;
	char name[REG_NAME_MAX + 1];
	char serial[REG_SERIAL_MAX + 1];
	char address[REG_ADDRESS_MAX + 1]; /* http(s)://HOST:PORT of the agent */
	char pubkey[64];		   /* "": none enrolled */
	char transport[8];		   /* direct, udp, http: how it was last heard */
	uint8_t secret[REG_SECRET_LEN];
	int enabled;
	uint32_t mgmt;	   /* management address (mTunnel), host order */
	int64_t last_seen; /* unix seconds, 0: never */
	int64_t created;
};

/* Open (creating) and migrate: 0, or -errno with err set. where is a
 * SQLite file, or a postgresql:// (postgres://) URL as libpq takes it.
 * The registry's files are made readable by the server's user alone
 * (0600; one warning logged for each that was not). Storage found damaged
 * at open: -EUCLEAN, err naming the file and saying so. */
int reg_open(const char *where, struct reg **ret, char *err, size_t errlen);
/* Is where a PostgreSQL URL? */
int reg_is_url(const char *where);
void reg_close(struct reg *r);
int reg_schema_version(struct reg *r);
/* The storage's last error, for a message. */
const char *reg_errmsg(struct reg *r);
/* Where the registry is (a file, or a URL without its password). */
const char *reg_where(struct reg *r);
/* Does the storage answer? 0 or -EIO. */
int reg_ping(struct reg *r);

/* Signals between the servers on one registry (PostgreSQL's LISTEN and
 * NOTIFY): a payload of at most REG_NOTICE_MAX bytes, sent when the
 * statement that made it commits. A hint to read the tables again sooner,
 * never needed: one lost (a connection made again) changes nothing but
 * when a server learns. On its own thread and connection, a listener calls
 * cb with each payload heard. -EOPNOTSUPP where the registry has no other
 * servers (SQLite). */
#define REG_NOTICE_MAX 64
/* what the registry signals: "stop CAPTURE" (reg_capture_ask_stop),
 * "moved DEVICE" (reg_device_take from another instance) */
#define REG_NOTICE_STOP	 "stop"
#define REG_NOTICE_MOVED "moved"
struct reg_listener;
typedef void reg_notice_cb(void *data, const char *payload);
int reg_listen(struct reg *r, reg_notice_cb *cb, void *data, struct reg_listener **ret);
/* Its thread ended and joined: cb is called no more. */
void reg_unlisten(struct reg *r, struct reg_listener *l);
/* Tell every listener "WHAT ID" (nothing on SQLite): 0 or -EIO. */
int reg_notify(struct reg *r, const char *what, int64_t id);

/* Statements that do not hold up the loop (PostgreSQL): code running on a
 * coroutine of its own (the server's api/co.h) that has taken a connection
 * of the registry's pool sends its statements there and, until the answer
 * comes, yields to the loop, which goes on with everything else. Code on
 * the loop itself runs its statements on the registry's first connection,
 * waiting as before. A transaction (reg_begin) runs on that first
 * connection too, the loop waiting, whoever runs it: one held open by a
 * waiting coroutine would hold up the loop's next one. */
struct reg_async {
	/* where the running coroutine keeps its connection; NULL on the loop */
	void **(*slot)(void *data);
	/* yield the running coroutine until fd can be read */
	void (*wait)(void *data, int fd);
	/* fn(arg) on a free coroutine: 1, or 0 when there is none */
	int (*run)(void *data, void (*fn)(void *), void *arg);
	void *data;
};
/* conns connections opened for coroutines: 0, -EOPNOTSUPP (SQLite), or
 * -EIO (none could be). */
int reg_async_start(struct reg *r, const struct reg_async *a, unsigned conns);
/* A connection for a coroutine into *slot: 0, or -EBUSY when every one is
 * taken (run on the loop instead). */
int reg_async_take(struct reg *r, void **slot);
/* Given back when the coroutine ends (a transaction left open rolled back). */
void reg_async_give(struct reg *r, void **slot);
/* fn(arg) on a coroutine of its own, for a timer's statements that keep
 * no pointer to the loop's objects across them: 1 (it ran until it ended
 * or waited), or 0 when none is free or the registry waits for nothing
 * (SQLite): run it yourself. */
int reg_async_run(struct reg *r, void (*fn)(void *), void *arg);
/* Rows of every organization, for the operator's metrics. */
struct reg_stats {
	uint64_t orgs, devices, captures;
};
int reg_stats(struct reg *r, struct reg_stats *ret);

/* Bootstrap (the server's command line). The new id. */
int64_t reg_org_add(struct reg *r, const char *name);
/* The organization's one setting: may its viewers download captures? */
int reg_org_set_viewer_downloads(struct reg *r, int64_t org, int on);
/* Who started the organization's capture: 0 or -ENOENT. */
int reg_capture_user(struct reg *r, int64_t org, int64_t capture, int64_t *ret);

/* An address as a person types it: one '@' with something either side and
 * a dot after it, no spaces or control characters, at most REG_EMAIL_MAX.
 * NULL, or what is wrong, fit for "email: %s". */
const char *reg_email_bad(const char *email);
/* Users (registry_users.c). A new user of the organization named org: its
 * id; -ENOENT no such organization, -EEXIST its name in the organization
 * or its email anywhere. email NULL: none (a user that only has tokens);
 * it is kept in lower case. pwhash NULL: none yet; pw_change: it is a
 * one-time password. */
int64_t reg_user_add(struct reg *r, const char *org, const char *name, const char *email,
		     enum reg_role role, const char *pwhash, int pw_change);
/* An API token for the user, named (unique per user): its id. The token
 * is written as hex into token_hex (2 * REG_TOKEN_LEN + 1 bytes): only its
 * SHA-256 is kept. */
int64_t reg_token_add(struct reg *r, int64_t user, const char *name, char *token_hex);
/* An owner with a token, as `edgecap-server admin add ORG NAME` makes: the
 * user's id; the token as reg_token_add writes it. */
int64_t reg_admin_add(struct reg *r, const char *org, const char *name, char *token_hex);
/* The user a bearer token belongs to (not disabled): 0, or -ENOENT. Its
 * last use is kept to the minute. */
int reg_user_by_token(struct reg *r, const char *token, size_t len, struct reg_user *ret);
/* A user by email (any case), with its password hash into pwhash
 * (REG_PWHASH_MAX; "" when it has none): 0, or -ENOENT (none, or
 * disabled). */
int reg_user_by_email(struct reg *r, const char *email, struct reg_user *ret, char *pwhash);
/* A new password hash; pw_change: it is a one-time password. */
int reg_user_set_password(struct reg *r, int64_t user, const char *pwhash, int pw_change);
/* The organization's users by name: a malloc'ed array (NULL when empty);
 * disabled ones included (their disabled set). */
struct reg_user_row {
	struct reg_user u;
	int disabled;
	int64_t created;
};
int reg_users_list(struct reg *r, int64_t org, struct reg_user_row **ret, size_t *ret_n);
int reg_user_get(struct reg *r, int64_t org, const char *name, struct reg_user_row *ret);
/* A new role (0: as it is) and disabled (-1: as it is): 0, -ENOENT, or
 * -EPERM when no enabled owner would be left. Disabling ends its sessions. */
int reg_user_update(struct reg *r, int64_t org, const char *name, enum reg_role role, int disabled);
/* Remove a user, its tokens and sessions: 0, -ENOENT, -EBUSY (it started
 * captures: disable it instead), -EPERM (the last enabled owner). */
int reg_user_delete(struct reg *r, int64_t org, const char *name);

/* A user's tokens by name (the secret is never kept). */
struct reg_token_row {
	char name[REG_NAME_MAX + 1];
	int64_t created, last_used; /* last_used 0: never */
};
int reg_tokens_list(struct reg *r, int64_t user, struct reg_token_row **ret, size_t *ret_n);
/* 0 or -ENOENT. */
int reg_token_delete(struct reg *r, int64_t user, const char *name);

/* Sign-in sessions (docs/accounts.md). A new one for the user: its cookie
 * value and CSRF token written as hex into cookie_hex and csrf_hex
 * (2 * REG_TOKEN_LEN + 1 each; the cookie is kept as SHA-256 only). */
int reg_session_add(struct reg *r, int64_t user, int64_t now, char *cookie_hex, char *csrf_hex);
/* The user of a session that was used within idle_s and began within
 * max_s of now, its CSRF token into csrf_hex: 0, or -ENOENT (none, ended,
 * or the user disabled; an expired session is removed). Its last use is
 * kept, to the second. */
int reg_session_get(struct reg *r, const char *cookie, size_t len, int64_t now, int64_t idle_s,
		    int64_t max_s, struct reg_user *ret, char *csrf_hex);
/* End one session (sign out), or every session of a user but one (keep:
 * its cookie, NULL: none): 0 or -EIO. */
int reg_session_end(struct reg *r, const char *cookie, size_t len);
int reg_sessions_end_user(struct reg *r, int64_t user, const char *keep, size_t keep_len);

/* Failed sign-ins under a key ("account NAME", "address A"): one more at
 * now; how many since since and the last one's time; forget them all. */
int reg_signin_failed(struct reg *r, const char *key, int64_t now);
int reg_signin_failures(struct reg *r, const char *key, int64_t since, unsigned *ret_n,
			int64_t *ret_last);
int reg_signin_forget(struct reg *r, const char *key);

/* The audit log (registry_audit.c). One entry: the organization's; user 0
 * and actor "server" for the command line; detail a JSON object's text. */
int reg_audit_add(struct reg *r, int64_t org, int64_t at_ms, int64_t user, const char *actor,
		  const char *address, const char *action, const char *target, const char *detail);
struct reg_audit {
	int64_t id, at_ms, user;
	char actor[REG_EMAIL_MAX + 1], address[64], action[32];
	char *target, *detail;
};
/* What a page of it holds: newest first, ids below before (0: from the
 * newest), at most limit; action and actor (NULL: any) and a time range
 * in ms (0: open). */
struct reg_audit_filter {
	const char *action, *actor;
	int64_t since_ms, until_ms, before;
	size_t limit;
};
int reg_audit_page(struct reg *r, int64_t org, const struct reg_audit_filter *f,
		   struct reg_audit **ret, size_t *ret_n);
void reg_audit_free(struct reg_audit *a, size_t n);
/* Remove entries older than before_ms: how many, or -EIO. */
int64_t reg_audit_expire(struct reg *r, int64_t before_ms);

/* Enrol a device into an organization: the new id (-EEXIST: its name or
 * serial in the organization, or its key anywhere). Its management address is the
 * first free one for its serial (mtun_address), so collisions resolve here.
 * Its secret is generated and written as hex into secret_hex
 * (2 * REG_SECRET_LEN + 1). pubkey NULL: none. */
int64_t reg_device_add(struct reg *r, int64_t org, const char *name, const char *serial,
		       const char *address, const char *pubkey, char *secret_hex);
int reg_device_get(struct reg *r, int64_t org, const char *name, struct reg_device *ret);
/* Any organization's device by its id (between servers, which serve every
 * organization): 0, -ENOENT or -EIO. */
int reg_device_by_id(struct reg *r, int64_t id, struct reg_device *ret);
/* Any organization's device by its key (the device proves it holds it):
 * 0, -ENOENT or -EIO. */
int reg_device_by_pubkey(struct reg *r, const char *pubkey, struct reg_device *ret);

/* Devices that announced themselves and wait to be claimed
 * (registry_claim.c, docs/tunnel.md): one per key, what it said, from
 * which address, when first and last. */
struct reg_unclaimed {
	char pubkey[64];
	char serial[REG_SERIAL_MAX + 1];
	char claim[65]; /* SHA-256 in hex of the claim code (mtun_claim_hash) */
	char hostname[REG_NAME_MAX + 1];
	char agent[REG_ADDRESS_MAX + 1]; /* where its agent answers through the tunnel */
	char source[64];
	int64_t last_seen;
};
struct reg_unclaimed_limits {
	int64_t max, per_source; /* announcements kept, in all and from one address */
	int64_t expire_s;	 /* forgotten when not heard for this long */
};
/* Keep an announcement: 1 when new or changed, 0 for its words again
 * (written once a minute at most), -ENOSPC (max reached), -EMFILE (the address's share reached),
 * -EIO. */
int reg_unclaimed_announce(struct reg *r, const struct reg_unclaimed *u,
			   const struct reg_unclaimed_limits *lim);
/* Claim the device that announced serial with this code (as typed) into
 * org, named name (NULL or "": its host name, else its serial): the new
 * device's id, and what it had announced in ret, hostname set to the name
 * it was given; -ENOENT (no such serial and code, whoever
 * holds the serial), -EEXIST (its name or serial in org), -ENAMETOOLONG
 * (no name given nor announced, and a serial too long for one), -EIO. */
int64_t reg_device_claim(struct reg *r, int64_t org, const char *serial, const char *code,
			 const char *name, struct reg_unclaimed *ret);
/* The organization's devices by name, those after after (NULL: from the
 * first), limit of them (0: all): a malloc'ed array (NULL when empty). */
int reg_devices_list(struct reg *r, int64_t org, const char *after, size_t limit,
		     struct reg_device **ret, size_t *ret_n);
int reg_device_delete(struct reg *r, int64_t org, const char *name);
int reg_device_enable(struct reg *r, int64_t org, const char *name, int enabled);
void reg_device_seen(struct reg *r, int64_t id, int64_t when);

/* Reports (service/reports.c): what a device's agent last said of itself.
 * Enabled devices whose turn it is at now: not asked for interval_s, or for
 * 2^n of them after n failed asks in a row (n at most 3); enrolled in the
 * last ten minutes and never heard, every five seconds. Those asked longest
 * ago first, at most per_org of one organization and limit in all: a
 * malloc'ed array (NULL when none). A device whose tunnel another instance
 * holds is left to it: only the holder reaches it. */
int reg_devices_due(struct reg *r, const char *instance, int64_t now, int64_t interval_s,
		    size_t per_org, size_t limit, struct reg_device **ret, size_t *ret_n);
/* Asked at `when` (whatever the answer). */
void reg_device_polled(struct reg *r, int64_t id, int64_t when);
/* Its answer (JSON text) at `when`: it was heard then too. The device is
 * named by id and serial (an id is handed out again after a delete). */
void reg_device_report(struct reg *r, int64_t id, const char *serial, const char *json,
		       int64_t when);
/* Why it could not be asked, or did not answer (the last report stays). */
void reg_device_report_error(struct reg *r, int64_t id, const char *serial, const char *error);

/* The tunnel settings set centrally, as JSON objects (NULL: none set): the
 * organization's and the device's own (device 0: none). 0, -ENOENT (no
 * such organization), -EIO; the strings are the caller's to free. */
int reg_settings_get(struct reg *r, int64_t org, int64_t device, char **of_org, char **of_dev);
/* Set them (json NULL: none). 0, -ENOENT (no such device), -EIO. */
int reg_org_set_settings(struct reg *r, int64_t org, const char *json);
int reg_device_set_settings(struct reg *r, int64_t org, const char *name, const char *json);
/* The organization's devices (name NULL), or one, are asked at the next
 * round, whatever their interval: what they are to run by changed. */
void reg_devices_ask_soon(struct reg *r, int64_t org, const char *name);
/* The last report (malloc'ed JSON text, NULL: none) and when it came, and
 * the last error since (malloc'ed, NULL: none). 0, -ENOENT or -EIO. */
int reg_device_report_get(struct reg *r, int64_t id, char **json, int64_t *when, char **error);
/* The same of a page of devices at once, and their own settings: one row
 * for each reg_devices_list gives for the same arguments, in its order
 * (malloc'ed strings, NULL when none). 0, -ENOMEM or -EIO. */
struct reg_device_said {
	int64_t id, reported;
	char *report, *error, *settings;
};
int reg_devices_said(struct reg *r, int64_t org, const char *after, size_t limit,
		     struct reg_device_said **ret, size_t *ret_n);
void reg_devices_said_free(struct reg_device_said *s, size_t n);

/* Captures. The request is kept as given (JSON text). */
/* instance: the server that runs it (NULL: none named). */
int64_t reg_capture_add(struct reg *r, int64_t org, int64_t user, const char *request,
			const char *file, const char *instance);
int reg_capture_set_file(struct reg *r, int64_t capture, const char *file);
int reg_capture_device_add(struct reg *r, int64_t capture, int64_t device);
struct reg_capture_device_state {
	const char *state; /* connecting, streaming, done, failed; NULL: as it was */
	const char *error; /* NULL: none (an earlier one is kept) */
	uint64_t bytes, packets, duplicates, dropped;
	/* a device another server streams, merged here (docs/scale.md): that
	 * server writes what it reads (keep_duplicates), this one the
	 * duplicates it finds (keep_counts) */
	int keep_counts, keep_duplicates;
	/* written only while the capture's row says running (a tick's) */
	int if_running;
};
/* A device that is done or failed keeps its state: a state given then is
 * not written, nor anything with it. */
int reg_capture_device_update(struct reg *r, int64_t capture, int64_t device,
			      const struct reg_capture_device_state *s);
/* What the device's clock was to the server's at the start (NULL: in step). */
int reg_capture_device_clock(struct reg *r, int64_t capture, int64_t device, const char *clock);
struct reg_capture_state {
	const char *state; /* running, done */
	uint64_t merged, duplicates, late;
	int64_t ended;	      /* 0: not yet */
	const char *ended_by; /* what ended it (count, duration, bytes, ...); NULL: as it was */
	const char *error;    /* why it failed (ended_by "error"); NULL: as it was */
	uint64_t stored;      /* bytes its file keeps */
	/* written only while the row says running: a tick's write that lands
	 * after the capture's last cannot undo it */
	int if_running;
};
/* 0, 1 when a stop was asked for it meanwhile (reg_capture_ask_stop), or
 * the error. */
int reg_capture_update(struct reg *r, int64_t capture, const struct reg_capture_state *s);
/* Ask the server that runs the organization's capture to stop it, at its
 * next update (a second at most): 0, -ENOENT when it runs no more (or is
 * not the organization's). */
int reg_capture_ask_stop(struct reg *r, int64_t org, int64_t capture);
/* The server that runs the organization's capture, into ret ("" when none
 * is named): 0, or -ENOENT when it runs no more. */
int reg_capture_runner(struct reg *r, int64_t org, int64_t capture, char *ret, size_t len);
/* Captures whose server is no longer among the instances (it stopped, or
 * died and was reaped; or none was named) are done now, their devices
 * still streaming failed. */
void reg_captures_interrupted(struct reg *r);

/* A capture as the registry holds it, with each device's part. */
struct reg_capture_device {
	char device[REG_NAME_MAX + 1];
	char state[16];
	char *error; /* NULL: none */
	char *clock; /* NULL: in step with the server's */
	uint64_t bytes, packets, duplicates, dropped;
};
struct reg_capture {
	int64_t id;
	char state[16];
	char *request; /* JSON text as given */
	uint64_t merged, duplicates, late;
	int64_t created, ended;	     /* ended 0: not yet */
	char *ended_by;		     /* NULL: not yet, or not said */
	char *error;		     /* NULL: none */
	uint64_t stored;	     /* bytes its file keeps */
	int lost;		     /* its file was found gone */
	char user[REG_NAME_MAX + 1]; /* who started it */
	struct reg_capture_device *devs;
	size_t ndevs;
};
/* One capture (id > 0) or all of the organization's (id 0), by id, with
 * their devices by name: a malloc'ed array for reg_captures_free; one
 * asked for and not the organization's: -ENOENT. */
int reg_captures_list(struct reg *r, int64_t org, int64_t id, struct reg_capture **ret,
		      size_t *ret_n);
/* A page of them: those with ids after after, limit of them, by id, that
 * the filter lets through (NULL or 0: any): a state, a device among
 * theirs, the user who started them (name or email), created in
 * [since, until) (Unix seconds). */
struct reg_capture_filter {
	const char *state, *device, *user;
	int64_t since, until;
};
int reg_captures_page(struct reg *r, int64_t org, int64_t after, size_t limit,
		      const struct reg_capture_filter *f, struct reg_capture **ret, size_t *ret_n);
void reg_captures_free(struct reg_capture *c, size_t n);
/* Its file, when the capture is the organization's. */
int reg_capture_file(struct reg *r, int64_t org, int64_t id, char *ret, size_t len);

/* Storage. Bytes the organization's finished captures keep. */
int reg_org_stored(struct reg *r, int64_t org, uint64_t *ret);
/* Remove a finished capture's rows, its file's path into file (for the
 * caller to remove): 0, -ENOENT (not the organization's), -EBUSY (running). */
int reg_capture_delete(struct reg *r, int64_t org, int64_t id, char *file, size_t len);
/* fn for each capture (ended_before 0), or each finished one that ended
 * before ended_before, oldest first; a non-zero return stops and is returned. */
typedef int reg_capture_file_fn(void *arg, int64_t id, int64_t org, const char *file, int lost);
int reg_captures_each(struct reg *r, int64_t ended_before, reg_capture_file_fn *fn, void *arg);
/* Its file is gone. */
int reg_capture_lost(struct reg *r, int64_t id);
/* What its file keeps, as found. */
int reg_capture_set_stored(struct reg *r, int64_t id, uint64_t bytes);

/* Servers sharing the registry (docs/scale.md). Each has an id of its own
 * for as long as it runs and beats every few seconds. */
#define REG_INSTANCE_MAX 64 /* an id's bytes, its NUL included */
struct reg_instance {
	char id[REG_INSTANCE_MAX];
	char address[256]; /* where the others reach it */
	int64_t started, heartbeat;
	int64_t devices; /* tunnels it holds */
};
/* It lives: its row written (made when it is not there). 1 when it was
 * not there although started is older than now (taken for dead
 * meanwhile, its devices released), else 0; or the error. */
int reg_instance_beat(struct reg *r, const char *id, const char *address, int64_t started,
		      int64_t now);
/* Instances silent since before before: removed, the tunnels they held
 * released (their epochs moved on). The number of devices released. */
int64_t reg_instances_reap(struct reg *r, int64_t before);
/* An instance ending: removed, its tunnels released. */
int reg_instance_gone(struct reg *r, const char *id);
/* Every instance, by id; free() the array. */
int reg_instances_list(struct reg *r, struct reg_instance **ret, size_t *ret_n);
/* Where instance id is reached (its address): 0 or -ENOENT (gone), -EIO. */
int reg_instance_address(struct reg *r, const char *id, char *ret, size_t len);
/* The key instances sign their requests to each other with, made by the
 * first to ask: 0 or -EIO. */
#define REG_CLUSTER_SECRET_LEN 32
int reg_cluster_secret(struct reg *r, uint8_t ret[REG_CLUSTER_SECRET_LEN]);

/* A device's tunnel belongs to one instance at a time: which, and the
 * epoch of its hold ("" and the epoch when released; -ENOENT when never
 * held). */
int reg_device_owner(struct reg *r, int64_t device, char *instance, size_t len, int64_t *epoch);
/* Take it for instance, if its epoch is still seen (0: never held): the
 * new epoch, or -EBUSY when another took it first. Of two instances that
 * read the same epoch, exactly one takes it. */
int64_t reg_device_take(struct reg *r, int64_t device, const char *instance, int64_t seen);
/* How it is reached and when it was heard, written only while instance
 * holds it at epoch: 0, -ESTALE when it does not (it moved), -EIO. */
int reg_device_heard(struct reg *r, int64_t device, const char *instance, int64_t epoch,
		     const char *transport, int64_t when);

#endif
