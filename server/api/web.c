/* web.c - see web.h. What the page needs from its server, and nothing more:
 *
 *   /assets/NAME  a file of the build, its name carrying its content's hash:
 *                 cached for a year as immutable; the .br or .gz the build
 *                 wrote next to it when the client takes that encoding (h2o's
 *                 file sender picks it and sets Vary).
 *   any other GET the page itself (index.html, revalidated on every load), so
 *                 that its own paths (/captures/12) load it too.
 *
 * An asset's name is a plain file name ([A-Za-z0-9._-], no leading dot),
 * looked up in assets/ when asked, so a new build installed under a running
 * server is served at once; nothing else of the request is joined to a
 * path. Every answer carries the page's Content-Security-Policy: scripts,
 * styles and connections from this origin only, no inline script or style,
 * no frames. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/http.h"
#include "api/web.h"

#define CSP                                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "              \
	"form-action 'self'; frame-ancestors 'none'"
#define NAME_MAX_LEN 96

struct srv_web {
	h2o_handler_t super;
	h2o_mimemap_t *mime;
	char dir[256];
};

static int plain_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= NAME_MAX_LEN || s[0] == '.')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int compressed_copy(const char *s)
{
	size_t n = strlen(s);

	return (n > 3 && !strcmp(s + n - 3, ".gz")) || (n > 3 && !strcmp(s + n - 3, ".br"));
}

static void add(h2o_req_t *req, const h2o_token_t *t, const char *v)
{
	h2o_add_header(&req->pool, &req->res.headers, t, NULL, v, strlen(v));
}

static void add_named(h2o_req_t *req, const char *name, const char *v)
{
	h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v,
			      strlen(v));
}

static int send_file(struct srv_web *w, h2o_req_t *req, const char *rel, const char *cache)
{
	char path[512];
	const char *dot = strrchr(rel, '.');
	h2o_mimemap_type_t *t = h2o_mimemap_get_type_by_extension(
	    w->mime, h2o_iovec_init(dot ? dot + 1 : "", dot ? strlen(dot + 1) : 0));
	h2o_iovec_t type = t && t->type == H2O_MIMEMAP_TYPE_MIMETYPE
			       ? t->data.mimetype
			       : h2o_iovec_init(H2O_STRLIT("application/octet-stream"));

	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", w->dir, rel);
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return srv_fail(req, 404, "not found");
	add(req, H2O_TOKEN_CACHE_CONTROL, cache);
	add_named(req, "content-security-policy", CSP);
	add_named(req, "x-content-type-options", "nosniff");
	add_named(req, "referrer-policy", "no-referrer");
	add_named(req, "x-frame-options", "DENY");
	if (h2o_file_send(req, 200, "OK", path, type, H2O_FILE_FLAG_SEND_COMPRESSED))
		return srv_fail(req, 404, "not found");
	return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct srv_web *w = (struct srv_web *)self;
	static const char prefix[] = "/assets/";
	const char *q = memchr(req->path.base, '?', req->path.len);
	size_t plen = q ? (size_t)(q - req->path.base) : req->path.len;
	char name[NAME_MAX_LEN];

	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
	    !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
		add(req, H2O_TOKEN_ALLOW, "GET, HEAD");
		return srv_fail(req, 405, "method not allowed here (GET, HEAD)");
	}
	if (plen < sizeof(prefix) - 1 || memcmp(req->path.base, prefix, sizeof(prefix) - 1))
		return send_file(w, req, "index.html", "no-cache");
	plen -= sizeof(prefix) - 1;
	if (plen >= sizeof(name))
		return srv_fail(req, 404, "not found");
	memcpy(name, req->path.base + sizeof(prefix) - 1, plen);
	name[plen] = 0;
	if (!plain_name(name) || compressed_copy(name))
		return srv_fail(req, 404, "not found");
	char rel[sizeof(prefix) + NAME_MAX_LEN];

	snprintf(rel, sizeof(rel), "assets/%s", name);
	return send_file(w, req, rel, "public, max-age=31536000, immutable");
}

struct srv_web *srv_web_register(h2o_pathconf_t *pathconf, const char *dir, char *err,
				 size_t errlen)
{
	char path[512];
	struct stat st;
	struct srv_web *w;
	DIR *d;

	snprintf(path, sizeof(path), "%s/index.html", dir);
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "no web page in %s (no index.html): serving the API only",
			 dir);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/assets", dir);
	d = opendir(path);
	if (!d) {
		snprintf(err, errlen, "no web page in %s (no assets/): serving the API only", dir);
		return NULL;
	}
	closedir(d);
	w = (struct srv_web *)h2o_create_handler(pathconf, sizeof(*w));
	w->super.on_req = on_req;
	w->mime = h2o_mimemap_create();
	h2o_mimemap_define_mimetype(w->mime, "html", "text/html; charset=utf-8", NULL);
	h2o_mimemap_define_mimetype(w->mime, "js", "text/javascript; charset=utf-8", NULL);
	h2o_mimemap_define_mimetype(w->mime, "css", "text/css; charset=utf-8", NULL);
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	return w;
}
