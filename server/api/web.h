/* web.h - the page: edgecap-server serves the built front end (web/,
 * docs/web.md) from one directory. */
#ifndef SRV_WEB_H
#define SRV_WEB_H

#include <h2o.h>

struct srv_web;

/* Serve the page built into dir (index.html, assets/) on pathconf, after
 * the API's handler. NULL (with a reason in err) when dir holds no page: the
 * server then answers the API only. */
struct srv_web *srv_web_register(h2o_pathconf_t *pathconf, const char *dir, char *err,
				 size_t errlen);

#endif
