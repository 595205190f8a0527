/* conf.h - configuration files of "key = value" lines with '#' comments,
 * the agent's and the server's, read against a table of keys. A flag on
 * the command line sets the same key after the file. */
#ifndef ECAP_CONF_H
#define ECAP_CONF_H

#include <stddef.h>
#include <stdint.h>

enum ecap_conf_type {
	ECAP_CONF_STR,	/* char[size] at off */
	ECAP_CONF_UINT, /* unsigned at off: the value times scale, in [min, max] */
	ECAP_CONF_BOOL, /* int at off: yes or no */
	ECAP_CONF_FN,	/* fn parses it */
};

struct ecap_conf_key {
	const char *key;
	enum ecap_conf_type type;
	size_t off, size;
	double scale; /* UINT: 1000 reads seconds into milliseconds */
	unsigned min, max;
	int (*fn)(void *conf, const char *value, char *err, size_t errlen);
};

#define ECAP_CONF_STR_KEY(name, T, field)                                                          \
	{                                                                                          \
		.key = name, .type = ECAP_CONF_STR, .off = offsetof(T, field),                     \
		.size = sizeof(((T *)0)->field)                                                    \
	}
#define ECAP_CONF_UINT_KEY(name, T, field, sc, lo, hi)                                             \
	{                                                                                          \
		.key = name, .type = ECAP_CONF_UINT, .off = offsetof(T, field), .scale = (sc),     \
		.min = (lo), .max = (hi)                                                           \
	}
#define ECAP_CONF_BOOL_KEY(name, T, field)                                                         \
	{                                                                                          \
		.key = name, .type = ECAP_CONF_BOOL, .off = offsetof(T, field)                     \
	}
#define ECAP_CONF_FN_KEY(name, f)                                                                  \
	{                                                                                          \
		.key = name, .type = ECAP_CONF_FN, .fn = (f)                                       \
	}

/* One setting: 0, or -EINVAL with err saying why ("KEY: ..."). keys ends
 * with an entry whose key is NULL. */
int ecap_conf_set(const struct ecap_conf_key *keys, void *conf, const char *key, const char *value,
		  char *err, size_t errlen);
/* Every line of the file: 0, or -errno with err naming the file and the
 * line. A missing file is fine unless must_exist. */
int ecap_conf_load(const struct ecap_conf_key *keys, void *conf, const char *path, int must_exist,
		   char *err, size_t errlen);

#endif
