/* dashboard.c: the dashboard of `llmem serve` (GET /): an HTML page, its
 * script and style, embedded in the binary from src/serve/dashboard/ at
 * build time (scripts/embed.sh makes $(BUILD)/gen/dashboard-assets.inc).
 * The page polls GET /llmem/status and posts /models/load and /unload
 * itself, with the API key it asks for; the files hold nothing secret, so
 * they are served without the key, after the same Host and Origin checks
 * as every other endpoint. */
#include "base/compat.h"

#include <string.h>

#include "serve/daemon-int.h"

struct dash_asset {
	const char *path;
	const char *type;
	const unsigned char *data;
	size_t len;
};

#include "dashboard-assets.inc"

/* Scripts and styles only from the daemon itself (no inline ones), never
 * in a frame, forms posting nowhere. */
#define DASH_CSP "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

bool dashboard_reply(struct srv *s, struct hreq *req, const char *path)
{
	const struct dash_asset *a = NULL;
	const char *host, *origin;

	for (size_t i = 0; i < ARRAY_SIZE(dash_assets); i++)
		if (!strcmp(path, dash_assets[i].path))
			a = &dash_assets[i];
	if (!a)
		return false;
	host = hreq_header(req, "Host");
	origin = hreq_header(req, "Origin");
	if (!tr_host_allowed(host, s->o->host, s->o->port)) {
		api_reply_error(req, 403, false, "Host '%s' is not allowed (DNS rebinding defence)",
				host ? host : "");
		return true;
	}
	if (origin && !tr_origin_allowed(origin, s->o->origins, s->o->n_origins)) {
		api_reply_error(req, 403, false, "Origin '%s' is not allowed", origin);
		return true;
	}
	hreq_add_header(req, "Content-Type", a->type);
	hreq_add_header(req, "Content-Security-Policy", DASH_CSP);
	hreq_add_header(req, "X-Frame-Options", "DENY");
	hreq_add_header(req, "X-Content-Type-Options", "nosniff");
	hreq_add_header(req, "Referrer-Policy", "no-referrer");
	hreq_add_header(req, "Cache-Control", "no-cache");
	hreq_reply(req, 200, a->data, a->len);
	return true;
}
