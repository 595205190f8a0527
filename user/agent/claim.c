/* claim.c - who the device is when it joins by claim (docs/tunnel.md): its
 * key, made at first start; its serial, the configured one or the key's;
 * its claim code and that code's hash, which it announces. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "tunnel/claim.h"
#include "tunnel/identity.h"

int agent_identity(struct agent_conf *c, struct agent_identity *id, char *err, size_t errlen)
{
	struct stat st;
	int r;

	if (stat(c->key_file, &st) && errno == ENOENT) {
		r = mtun_keygen(c->key_file, id->pubkey, err, errlen);
		if (r)
			return r;
		ecap_log(LOG_NOTICE, "made the device's key %s", c->key_file);
	} else if ((r = mtun_key_public(c->key_file, id->pubkey, err, errlen)))
		return r;
	if (!c->serial[0] && mtun_default_serial(id->pubkey, c->serial)) {
		snprintf(err, errlen, "%s: no serial of its key", c->key_file);
		return -EIO;
	}
	if ((r = mtun_claim_code(c->key_file, id->code, err, errlen)))
		return r;
	if (mtun_claim_hash(id->pubkey, id->code, id->claim)) {
		snprintf(err, errlen, "%s: no claim code of its key", c->key_file);
		return -EIO;
	}
	return 0;
}
