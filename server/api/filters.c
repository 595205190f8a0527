/* filters.c - POST /api/v1/filters/compile {expression[, snaplen]}: the
 * expression compiled as a capture would compile it, with libpcap's listing
 * (tcpdump -d), or libpcap's own message. */
#include <stdlib.h>

#include "api/api.h"
#include "filter/compile.h"

int srv_filters_compile(struct srv_api *api, h2o_req_t *req, const struct reg_admin *who,
			char **params)
{
	static const char *const keys[] = {"expression", "snaplen", NULL};
	struct ecap_cbpf prog = {0};
	char err[ECAP_ERRLEN], *listing;
	json_t *j = srv_body(req);
	const char *expr;
	int64_t snaplen = ECAP_SNAPLEN_DEFAULT;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "expression", 1, &expr) ||
	    srv_int_field(req, j, "snaplen", 1, ECAP_SNAPLEN_MAX, &snaplen))
		goto out;
	if (ecap_filter_compile(expr, ECAP_LINKTYPE_EN10MB, (uint32_t)snaplen, &prog, err,
				sizeof(err))) {
		srv_fail(req, 400, "%s", err);
		goto out;
	}
	listing = ecap_cbpf_listing(&prog);
	srv_json(req, 200,
		 json_pack("{s:s,s:i,s:s}", "expression", expr, "instructions", (int)prog.len,
			   "listing", listing ? listing : ""));
	free(listing);
out:
	ecap_cbpf_free(&prog);
	json_decref(j);
	return 0;
}
