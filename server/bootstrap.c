/* bootstrap.c - the registry's commands on the server's command line:
 * organizations, and the first users (docs/accounts.md). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "server.h"
#include "service/password.h"
#include "service/registry.h"

#define BOOTSTRAP_USAGE                                                                            \
	"       edgecap-server [--db FILE] org add NAME\n"                                         \
	"       edgecap-server [--db FILE] user add ORG EMAIL --role owner|operator|viewer\n"      \
	"                      [--name NAME] [--token TOKEN_NAME]   (prints a one-time "           \
	"password)\n"                                                                              \
	"       edgecap-server [--db FILE] admin add ORG NAME   (an owner; prints its API "        \
	"token)\n"

const char *srv_bootstrap_usage = BOOTSTRAP_USAGE;

static int registry_error(struct reg *reg, int64_t e, const char *what)
{
	if (e == -ENOENT)
		ecap_log(LOG_ERR, "no organization '%s'", what);
	else if (e == -EEXIST)
		ecap_log(LOG_ERR, "%s", what);
	else
		ecap_log(LOG_ERR, "registry: %s", reg_errmsg(reg));
	return 1;
}

/* In the organization's audit log, as done by the server's command line. */
static void audit_user_added(struct reg *reg, const char *email, enum reg_role role)
{
	char hash[REG_PWHASH_MAX], target[REG_EMAIL_MAX + 8], detail[64];
	struct reg_user u;
	struct timespec ts;

	if (reg_user_by_email(reg, email, &u, hash))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(target, sizeof(target), "user %s", u.email);
	snprintf(detail, sizeof(detail), "{\"role\":\"%s\"}", reg_role_name(role));
	if (reg_audit_add(reg, u.org, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, 0, "server",
			  "", "user_added", target, detail))
		ecap_log(LOG_WARNING, "audit log: %s", reg_errmsg(reg));
}

/* user add ORG EMAIL --role ROLE [--name NAME] [--token TOKEN_NAME] */
static int user_add(struct reg *reg, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"role", required_argument, NULL, 'r'},
	    {"name", required_argument, NULL, 'n'},
	    {"token", required_argument, NULL, 't'},
	    {0},
	};
	const char *name = NULL, *token_name = NULL, *why;
	char pw[SRV_PW_ONCE_LEN + 1], hash[SRV_PW_HASH_MAX], token[2 * REG_TOKEN_LEN + 1];
	char taken[REG_EMAIL_MAX + 80], lower[REG_NAME_MAX + 1];
	enum reg_role role = 0;
	int64_t id;
	int o;

	optind = 0; /* argv[0] is "add"; 0 starts getopt afresh */
	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (o == 'r' && !(role = reg_role_parse(optarg))) {
			ecap_log(LOG_ERR, "--role: want owner, operator or viewer, not '%s'",
				 optarg);
			return 2;
		} else if (o == 'n') {
			name = optarg;
		} else if (o == 't') {
			token_name = optarg;
		} else if (o != 'r') {
			fprintf(stderr, "usage:\n" BOOTSTRAP_USAGE);
			return 2;
		}
	}
	if (argc - optind != 2 || !role) {
		ecap_log(LOG_ERR, "user add ORG EMAIL --role owner|operator|viewer: %s",
			 argc - optind != 2 ? "want an organization and an email" : "which role?");
		return 2;
	}
	if ((why = reg_email_bad(argv[optind + 1]))) {
		ecap_log(LOG_ERR, "email '%s': %s", argv[optind + 1], why);
		return 2;
	}
	if (!name) { /* the address, as it is kept */
		if (strlen(argv[optind + 1]) > REG_NAME_MAX) {
			ecap_log(LOG_ERR, "the email is longer than %d characters: give a --name",
				 REG_NAME_MAX);
			return 2;
		}
		for (size_t i = 0; i <= strlen(argv[optind + 1]); i++)
			lower[i] = (char)tolower((unsigned char)argv[optind + 1][i]);
		name = lower;
	}
	if (strlen(name) > REG_NAME_MAX) {
		ecap_log(LOG_ERR, "--name: longer than %d characters", REG_NAME_MAX);
		return 2;
	}
	if (srv_pw_init()) {
		ecap_log(LOG_ERR, "libsodium could not start");
		return 1;
	}
	srv_pw_onetime(pw);
	if (srv_pw_hash(pw, hash)) {
		ecap_log(LOG_ERR, "hashing the password: out of memory");
		return 1;
	}
	id = reg_user_add(reg, argv[optind], name, argv[optind + 1], role, hash, 1);
	snprintf(taken, sizeof(taken), "a user named '%s' or with email '%s' exists", name,
		 argv[optind + 1]);
	if (id < 0)
		return registry_error(reg, id, id == -ENOENT ? argv[optind] : taken);
	if (token_name && (id = reg_token_add(reg, id, token_name, token)) < 0)
		return registry_error(reg, id, "the token's name is taken");
	audit_user_added(reg, argv[optind + 1], role);
	printf("user %s (%s) in %s\n", argv[optind + 1], reg_role_name(role), argv[optind]);
	printf("one-time password: %s\n", pw);
	if (token_name)
		printf("API token %s: %s\n", token_name, token);
	fprintf(stderr, "The password works once: the first sign-in sets a new one.\n");
	return 0;
}

int srv_bootstrap(const char *db, int argc, char **argv)
{
	char token[2 * REG_TOKEN_LEN + 1], err[512], taken[2 * REG_NAME_MAX + 40];
	struct reg *reg;
	int64_t id;
	int st = 0;

	if (!(argc == 3 && !strcmp(argv[0], "org") && !strcmp(argv[1], "add")) &&
	    !(argc == 4 && !strcmp(argv[0], "admin") && !strcmp(argv[1], "add")) &&
	    !(argc >= 2 && !strcmp(argv[0], "user") && !strcmp(argv[1], "add"))) {
		fprintf(stderr, "usage:\n" BOOTSTRAP_USAGE);
		return 2;
	}
	if (reg_open(db, &reg, err, sizeof(err))) {
		ecap_log(LOG_ERR, "%s", err);
		return 2;
	}
	if (!strcmp(argv[0], "user")) {
		st = user_add(reg, argc - 1, argv + 1);
	} else if (argc == 3) {
		id = reg_org_add(reg, argv[2]);
		snprintf(taken, sizeof(taken), "organization '%s' exists", argv[2]);
		if (id < 0)
			st = registry_error(reg, id, taken);
		else
			printf("organization %s: id %lld\n", argv[2], (long long)id);
	} else {
		id = reg_admin_add(reg, argv[2], argv[3], token);
		snprintf(taken, sizeof(taken), "user '%s' exists in '%s'", argv[3], argv[2]);
		if (id < 0)
			st = registry_error(reg, id, id == -ENOENT ? argv[2] : taken);
		else
			printf("%s\n", token);
	}
	reg_close(reg);
	return st;
}
