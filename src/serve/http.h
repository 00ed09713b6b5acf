/* http.h: the daemon's HTTP/1.1, both sides, on libevent's loop: the API
 * server (hsrv, hreq) and the connections to the backends (hcli). The
 * messages are framed by http_parser (Debian's libhttp-parser); the rest
 * is here because the proxy's latency is in it: every write is made as
 * soon as its bytes exist (EV_WRITE only after a short write), the read
 * events stay registered (EV_PERSIST), so a proxied request costs two
 * wake-ups, two reads and two writes (docs/DESIGN.md, "a proxy path that
 * writes at once"; evhttp needed 20 system calls).
 *
 * The server enforces what a daemon on a socket must: a cap on a
 * request's head (431) and body (413, also announced by Content-Length
 * or Expect: 100-continue), a total deadline for the head and an
 * inactivity one for the body (408; slowloris, B12/B13), an idle
 * keep-alive timeout, a stall timeout for a reply the client does not
 * read (B14), ambiguous framing refused by the parser (400, B19),
 * keep-alive by HTTP/1.0 and 1.1 rules, HEAD, pipelined requests
 * answered in order, and a lingering close after an error reply so the
 * client reads it rather than a reset.
 *
 * Callbacks are only ever made from the event loop, never from inside a
 * call of this API: a reply that fails, or a close, is reported later. */
#ifndef LLMEM_SERVE_HTTP_H
#define LLMEM_SERVE_HTTP_H

#include "base/compat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evconnlistener;

/* ---- server ---- */

struct hsrv;
struct hreq;

enum hmethod {
	HM_OTHER = 0,
	HM_GET,
	HM_HEAD,
	HM_POST,
	HM_OPTIONS,
	HM_DELETE,
};

struct hsrv_limits {
	size_t max_head;   /* request line and headers, bytes: 431 above */
	size_t max_body;   /* bytes: 413 above */
	int timeout_s;     /* head deadline, body and write inactivity, keep-alive idle */
};

/* Called once per request whose head and body are in. The handler replies
 * now (hreq_reply) or later; until the reply ends, req stays valid, unless
 * the client goes first (see hreq_watch). */
typedef void (*hsrv_handler_fn)(struct hreq *req, void *arg);

/* Listens on host:port (host: an address or a name; port 0 picks one).
 * Returns 0 and *out, -EADDRINUSE (or another negative errno) when the
 * address cannot be bound, -ENOMEM. Free with hsrv_free(). */
int hsrv_new(struct event_base *base, const char *host, uint16_t port, const struct hsrv_limits *lim,
	     hsrv_handler_fn fn, void *arg, struct hsrv **out) ATTR_WUR;

/* Closes the listener and every connection at once; the gone callbacks of
 * requests still open are not called. */
void hsrv_free(struct hsrv *s);

/* Serves a connection accepted elsewhere (a socket pair in the fuzz
 * target and tests) as if the listener had accepted it; fd is the
 * server's from now on (closed by it, also on failure). 0 or -ENOMEM. */
int hsrv_adopt(struct hsrv *s, int fd) ATTR_WUR;

/* The listener, for an accept error callback (descriptor exhaustion). */
struct evconnlistener *hsrv_listener(struct hsrv *s);

/* The port it listens on. */
uint16_t hsrv_port(const struct hsrv *s);

/* What a request is. The strings live as long as req. */
enum hmethod hreq_method(const struct hreq *req);
const char *hreq_uri(const struct hreq *req);
/* The first header of that name (case-insensitive), or NULL. */
const char *hreq_header(const struct hreq *req, const char *name);
/* The i-th header: false past the last. */
bool hreq_header_at(const struct hreq *req, size_t i, const char **name, const char **value);
/* The body (NUL-terminated; "" when none). */
const char *hreq_body(const struct hreq *req, size_t *len);

/* Adds a header to the reply (before it starts). A name or value with a
 * CR or LF is dropped. "Content-Length" makes a reply started with
 * hreq_reply_start() unchunked; "Connection: close" closes after it. */
void hreq_add_header(struct hreq *req, const char *name, const char *value);

/* The whole reply. req is no longer the caller's afterwards. */
void hreq_reply(struct hreq *req, int status, const void *body, size_t len);

/* A reply in pieces: its head, then hreq_reply_chunk() as many times as
 * needed (chunked, or raw after a Content-Length header, or up to the
 * close for an HTTP/1.0 client), then hreq_reply_end() (req is no longer
 * the caller's afterwards). The head is written with the first piece. */
void hreq_reply_start(struct hreq *req, int status);
void hreq_reply_chunk(struct hreq *req, const void *p, size_t n);
void hreq_reply_end(struct hreq *req);

/* Ends a started reply without its end (no last chunk, the promised length
 * not met): p (may be NULL) is written, then the connection is closed, so
 * the client sees the answer cut. req is no longer the caller's. */
void hreq_abort(struct hreq *req, const void *p, size_t n);

/* Bytes of the reply not yet taken by the client's socket. */
size_t hreq_unsent(const struct hreq *req);

/* Until the reply ends: drained(arg) when the unsent bytes have all gone
 * after a write had to wait; gone(arg) when the client closed, broke or
 * stalled past the timeout before the end (req is freed after gone
 * returns). NULLs stop both. */
void hreq_watch(struct hreq *req, void (*drained)(void *arg), void (*gone)(void *arg), void *arg);

/* ---- client ---- */

struct hcli;

struct hcli_cbs {
	/* The status line and headers are in (hcli_status, hcli_header). */
	void (*head)(struct hcli *c, void *arg);
	/* A piece of the body, de-chunked. */
	void (*body)(struct hcli *c, void *arg, const char *p, size_t n);
	/* The response is complete (0), or failed: -ECONNREFUSED,
	 * -ECONNRESET (closed before its end), -EPROTO (malformed),
	 * -ETIMEDOUT. Not called after hcli_free(). */
	void (*done)(struct hcli *c, void *arg, int err);
};

/* A connection to 127.0.0.1:port, opened by the first request and kept
 * alive between requests. NULL: out of memory. */
struct hcli *hcli_new(struct event_base *base, uint16_t port);

/* Closes it; no callback is made afterwards, even when called from one. */
void hcli_free(struct hcli *c);

/* Sends a request: method and path, extra header lines ("Name: value\r\n"
 * each, may be NULL), a body (may be NULL; it is copied), a timeout for
 * the whole exchange (0: none). The answer comes through cbs. On a
 * connection reused from an earlier request that the backend closed
 * meanwhile (no byte of an answer came), the request is sent once more
 * on a new connection. Returns 0, or -EBUSY (a request is in flight),
 * -ECONNREFUSED (nothing listens), -ENOMEM: then no callback is made. */
int hcli_request(struct hcli *c, const char *method, const char *path, const char *extra,
		 const void *body, size_t len, int timeout_ms, const struct hcli_cbs *cbs, void *arg) ATTR_WUR;

int hcli_status(const struct hcli *c);
const char *hcli_header(const struct hcli *c, const char *name);

/* Stops reading the answer (backpressure) or reads again. */
void hcli_pause(struct hcli *c, bool paused);

/* Whether the last answer ended, the backend allows another request on
 * the connection and has not closed it since (or it was opened by
 * hcli_open() and is still open). */
bool hcli_reusable(const struct hcli *c);

/* Whether the last request got its whole answer (reusable or not). */
bool hcli_answered(const struct hcli *c);

/* Connects now, before any request (a request on it is sent once more on
 * a new connection when the backend closed this one meanwhile, as on a
 * reused one). 0 or -errno. */
int hcli_open(struct hcli *c) ATTR_WUR;

#endif
