/* dashboard.c: the dashboard of `llmem serve` (GET /): an HTML page, its
 * script and style, embedded in the binary from src/serve/dashboard/ at
 * build time (scripts/embed.sh makes $(BUILD)/gen/dashboard-assets.inc).
 * The page polls GET /llmem/status and posts /models/load and /unload
 * itself, with the API key it asks for; the files hold nothing secret, so
 * they are served without the key, after the same Host and Origin checks
 * as every other endpoint. */
#include "base/compat.h"

#include <string.h>

#include <event2/keyvalq_struct.h>

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

bool dashboard_reply(struct srv *s, struct evhttp_request *req, const char *path)
{
	const struct dash_asset *a = NULL;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req), *oh;
	const char *host, *origin;
	struct evbuffer *b;

	for (size_t i = 0; i < ARRAY_SIZE(dash_assets); i++)
		if (!strcmp(path, dash_assets[i].path))
			a = &dash_assets[i];
	if (!a)
		return false;
	host = evhttp_find_header(h, "Host");
	origin = evhttp_find_header(h, "Origin");
	if (!tr_host_allowed(host, s->o->host, s->o->port)) {
		api_reply_error(req, 403, false, "Host '%s' is not allowed (DNS rebinding defence)",
				host ? host : "");
		return true;
	}
	if (origin && !tr_origin_allowed(origin, s->o->origins, s->o->n_origins)) {
		api_reply_error(req, 403, false, "Origin '%s' is not allowed", origin);
		return true;
	}
	oh = evhttp_request_get_output_headers(req);
	evhttp_add_header(oh, "Content-Type", a->type);
	evhttp_add_header(oh, "Content-Security-Policy", DASH_CSP);
	evhttp_add_header(oh, "X-Frame-Options", "DENY");
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(oh, "Referrer-Policy", "no-referrer");
	evhttp_add_header(oh, "Cache-Control", "no-cache");
	b = evbuffer_new();
	if (!b) {
		api_reply_error(req, 500, false, "out of memory");
		return true;
	}
	/* the array outlives the daemon: no copy */
	evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
	return true;
}
