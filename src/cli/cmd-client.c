/* cmd-client.c: the commands' HTTP client for a running `llmem serve`
 * (cmd-client.h): libevent's HTTP client, one event loop per request. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "base/parse.h"
#include "cli/cmd.h"
#include "cli/cmd-client.h"

struct pending {
	struct cmd_call *c;
	struct event_base *base;
};

/* The reply is in: stop the loop now (it would otherwise wait on the
 * kept-alive connection until its timeout). */
static void call_done(struct evhttp_request *req, void *arg)
{
	struct pending *pd = arg;
	struct cmd_call *c = pd->c;

	c->done = true;
	event_base_loopbreak(pd->base);
	if (!req || evhttp_request_get_response_code(req) == 0)
		return;
	c->status = evhttp_request_get_response_code(req);
	{
		struct evbuffer *in = evhttp_request_get_input_buffer(req);

		c->len = evbuffer_get_length(in);
		c->body = malloc(c->len + 1);
		if (c->body) {
			evbuffer_copyout(in, c->body, c->len);
			c->body[c->len] = '\0';
		}
	}
}

const char *cmd_daemon_host(void)
{
	const char *h = getenv("LLMEM_HOST");

	return h && *h ? h : "127.0.0.1:11435";
}

int cmd_daemon_split_host(const char *spec, char *host, size_t n, uint16_t *port)
{
	const char *p = spec;
	const char *colon;
	uint64_t u;

	*port = 11435;
	if (!strncmp(p, "http://", 7))
		p += 7;
	colon = strrchr(p, ':');
	if (colon && !strchr(colon, ']')) {
		char pb[16];
		size_t k = strcspn(colon + 1, "/");

		if (k == 0 || k >= sizeof(pb))
			return -EINVAL;
		memcpy(pb, colon + 1, k);
		pb[k] = '\0';
		if (parse_u64(pb, &u) < 0 || u > 65535)
			return -EINVAL;
		*port = (uint16_t)u;
		snprintf(host, n, "%.*s", (int)(colon - p), p);
	} else {
		snprintf(host, n, "%.*s", (int)strcspn(p, "/"), p);
	}
	if (!host[0])
		snprintf(host, n, "127.0.0.1");
	return 0;
}

int cmd_daemon_call(const char *hostspec, const char *method, const char *path, const char *body,
		    int timeout_s, bool quiet, struct cmd_call *c)
{
	char host[256], hh[300];
	uint16_t port;
	struct event_base *base = NULL;
	struct evhttp_connection *conn = NULL;
	struct evhttp_request *req;
	struct pending pd;
	const char *key = getenv("LLMEM_API_KEY");
	int e = 0;

	memset(c, 0, sizeof(*c));
	if (cmd_daemon_split_host(hostspec, host, sizeof(host), &port) < 0) {
		if (!quiet)
			cmd_error("bad host '%s' (expected ADDR[:PORT])", hostspec);
		return -EINVAL;
	}
	base = event_base_new();
	conn = base ? evhttp_connection_base_new(base, NULL, host, port) : NULL;
	if (!conn) {
		e = -ENOMEM;
		goto out;
	}
	evhttp_connection_set_timeout(conn, timeout_s);
	pd.c = c;
	pd.base = base;
	req = evhttp_request_new(call_done, &pd);
	if (!req) {
		e = -ENOMEM;
		goto out;
	}
	snprintf(hh, sizeof(hh), "%s:%u", host, port);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", hh);
	if (key) {
		char auth[512];

		snprintf(auth, sizeof(auth), "Bearer %s", key);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
	}
	if (body) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	}
	if (evhttp_make_request(conn, req, !strcmp(method, "POST") ? EVHTTP_REQ_POST : EVHTTP_REQ_GET,
				path) < 0) {
		e = -EIO;
		goto out;
	}
	event_base_dispatch(base);
	if (!c->status) {
		if (!quiet)
			cmd_error("cannot reach llmem serve at %s:%u (is it running?)", host, port);
		e = -ECONNREFUSED;
	}
out:
	if (conn)
		evhttp_connection_free(conn);
	if (base)
		event_base_free(base);
	return e;
}

void cmd_daemon_processor(uint64_t total, uint64_t gpu, char *buf, size_t n)
{
	if (gpu == 0) {
		snprintf(buf, n, "100%% CPU");
	} else if (gpu >= total) {
		snprintf(buf, n, "100%% GPU");
	} else {
		int g = (int)((gpu * 100 + total / 2) / total);

		snprintf(buf, n, "%d%%/%d%% CPU/GPU", 100 - g, g);
	}
}

void cmd_daemon_size(uint64_t b, char *buf, size_t n)
{
	if (b >= (uint64_t)1 << 30)
		snprintf(buf, n, "%.1f GB", (double)b / 1e9);
	else
		snprintf(buf, n, "%.0f MB", (double)b / 1e6);
}
