/* http.c: the daemon's HTTP/1.1 server and backend client (http.h). One
 * connection, one struct; its read event stays registered for its whole
 * life, its write event only while a write had to wait. Requests and
 * responses are framed by http_parser; the bytes are read into a stack
 * buffer and parsed there, so a request's head and body are copied once,
 * into the capped buffers the handler reads. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>

#include "base/sbuf.h"
#include "serve/http.h"

#define READ_CHUNK ((size_t)64 << 10)
#define HREQ_MAX_HEADERS 128
#define PEND_MAX ((size_t)64 << 10) /* pipelined bytes held while a request is answered */
#define LINGER_S 2
#define HCLI_MAX_HEAD ((size_t)64 << 10)
#define HCLI_MAX_HEADERS 64
#define KEEP_BUF ((size_t)64 << 10) /* a request's buffers kept for the next one up to this */
#define OUT_MAX ((size_t)64 << 20) /* unwritten reply bytes */

/* A message's start line (or nothing) and headers as http_parser hands
 * them over, in pieces: "first\0name\0value\0...", with the offsets of each
 * name and value. Both sides keep theirs in one. */
struct hdrs {
	struct sbuf b;
	size_t n, max;
	uint32_t off[HREQ_MAX_HEADERS][2];
	int state; /* 0 start line, 1 name, 2 value */
};

static void hdrs_init(struct hdrs *h, size_t cap, size_t max)
{
	sbuf_init(&h->b, cap);
	h->n = 0;
	h->max = max;
	h->state = 0;
}

/* Appends a piece of the start line (state 0), a name (1) or a value (2):
 * 0, or -1 past the caps. */
static int hdrs_piece(struct hdrs *h, int state, const char *at, size_t n)
{
	if (h->state != state) {
		/* a new string starts: end the last one */
		if ((h->state != 0 || h->b.len > 0 || state != 0) && sbuf_add(&h->b, "", 1) < 0)
			return -1;
		if (state == 1) {
			if (h->n >= h->max)
				return -1;
			h->off[h->n][0] = (uint32_t)h->b.len;
		} else if (state == 2) {
			h->off[h->n][1] = (uint32_t)h->b.len;
			h->n++;
		}
		h->state = state;
	}
	return sbuf_add(&h->b, at, n) < 0 ? -1 : 0;
}

/* The head is complete: a name without a value gets an empty one, the
 * last string its terminator. 0 or -1. */
static int hdrs_end(struct hdrs *h)
{
	if (h->state == 1 && hdrs_piece(h, 2, "", 0) < 0)
		return -1;
	return sbuf_add(&h->b, "", 1) < 0 || h->b.len > UINT32_MAX ? -1 : 0;
}

static const char *hdrs_find(const struct hdrs *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcasecmp(h->b.buf + h->off[i][0], name))
			return h->b.buf + h->off[i][1];
	return NULL;
}

/* ---- server ---- */

enum cstate {
	C_IDLE,    /* waiting for a request */
	C_HEAD,    /* a request's head is coming */
	C_BODY,    /* its body is coming */
	C_HANDLER, /* the handler has it; the reply may have started */
	C_ENDING,  /* the reply ended (or was cut), bytes still to write */
	C_LINGER,  /* after an error reply: reading what the client still sends, then closing */
};

struct hreq {
	struct hconn *c;
	enum hmethod method;
	bool head_only;          /* the reply has no body (HEAD, 204, 304) */
	bool keep_alive;         /* by the request's version and Connection */
	struct hdrs h;           /* its URI and headers */
	struct sbuf body;
	/* the reply */
	struct sbuf oh;          /* "Name: value\r\n" lines */
	bool started, ended;
	bool chunked, raw_cl, close_after;
	uint64_t cl;             /* the Content-Length given for raw pieces */
	void (*drained)(void *);
	void (*gone)(void *);
	void *arg;
};

struct hconn {
	struct hsrv *srv;
	struct hconn *prev, *next;
	int fd;
	struct event *ev_r, *ev_w, *ev_t, *ev_next;
	http_parser p;
	enum cstate st;
	struct sbuf out;         /* the reply's bytes not yet written */
	size_t out_off;          /* from here */
	struct evbuffer *pend;   /* bytes after the request being answered */
	bool reading;            /* ev_r added */
	bool writing;            /* ev_w added (a write had to wait) */
	bool dead;               /* broken or to be closed: from the loop */
	int err_status;          /* a callback refused the request: this reply */
	struct hreq req;
};

struct hsrv {
	struct event_base *base;
	struct evconnlistener *lev;
	struct hsrv_limits lim;
	hsrv_handler_fn fn;
	void *arg;
	struct hconn conns;      /* list head */
	uint16_t port;
	time_t date_t;
	char date[40];
};

static void conn_close(struct hconn *c);
static void conn_flush(struct hconn *c);
static void conn_kill_later(struct hconn *c);

/* Queues bytes of the reply (written by conn_flush()); past OUT_MAX
 * unwritten (a client that reads nothing of a long answer; the proxy
 * pauses its backend at a megabyte) the connection is closed. */
static void out_add(struct hconn *c, const void *p, size_t n)
{
	if (c->dead)
		return;
	/* what was written goes before the buffer grows: a client that
	 * always reads a part (a slow stream) would otherwise make it grow
	 * to OUT_MAX with bytes long sent */
	if (c->out_off > 0 && c->out_off >= c->out.len / 2) {
		c->out.len -= c->out_off;
		memmove(c->out.buf, c->out.buf + c->out_off, c->out.len);
		c->out.buf[c->out.len] = '\0';
		c->out_off = 0;
	}
	if (sbuf_add(&c->out, p, n) < 0)
		conn_kill_later(c);
}
static void conn_parse_pending(struct hconn *c);

/* Sends buf[*off, len) now, as far as the socket takes it: 0 when all of
 * it is out, -EAGAIN when the socket is full (or still connecting), or the
 * send's -errno. */
static int send_from(int fd, const char *buf, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t n = send(fd, buf + *off, len - *off, MSG_NOSIGNAL);

		if (n > 0)
			*off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		else
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static void arm(struct hconn *c, int secs)
{
	struct timeval tv = { secs, 0 };

	if (secs > 0)
		event_add(c->ev_t, &tv);
	else
		event_del(c->ev_t);
}

static void set_reading(struct hconn *c, bool on)
{
	if (on == c->reading)
		return;
	c->reading = on;
	if (on)
		event_add(c->ev_r, NULL);
	else
		event_del(c->ev_r);
}

/* Something went wrong inside a call from the user, or the connection must
 * close: the loop does it, so no callback runs inside the user's call. */
static void conn_kill_later(struct hconn *c)
{
	c->dead = true;
	event_active(c->ev_next, EV_TIMEOUT, 0);
}

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
	}
}

/* The Date header, formatted once a second. */
static const char *date_now(struct hsrv *s)
{
	time_t t = time(NULL);

	if (t != s->date_t) {
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		s->date_t = t;
	}
	return s->date;
}

/* Empties a buffer for the next message, keeping its memory unless a large
 * message grew it (no allocation per request on a kept-alive connection). */
static void buf_clear(struct sbuf *b)
{
	if (b->alloc > KEEP_BUF)
		sbuf_release(b);
	else
		sbuf_reset(b);
}

static void req_reset(struct hreq *q)
{
	struct hconn *c = q->c;
	struct sbuf hb = q->h.b, body = q->body, oh = q->oh;

	buf_clear(&hb);
	buf_clear(&body);
	buf_clear(&oh);
	memset(q, 0, sizeof(*q));
	q->c = c;
	q->h.b = hb;
	q->h.max = HREQ_MAX_HEADERS;
	q->body = body;
	q->oh = oh;
}

/* Decimal digits of v into buf (at least 21 bytes); returns their count. */
static size_t u64_dec(char *buf, uint64_t v)
{
	char t[24];
	size_t n = 0, k = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		buf[k++] = t[--n];
	return k;
}

/* The status line and headers of a reply; len: the body's length, or
 * UINT64_MAX when it comes in pieces. */
static void put_head(struct hreq *q, int status, uint64_t len)
{
	struct hconn *c = q->c;
	bool nobody = status == 204 || status == 304 || status < 200;

	char line[160];
	const char *why = reason(status);
	size_t k, wl = strlen(why);

	q->started = true;
	if (!q->keep_alive || c->err_status)
		q->close_after = true;
	/* written by hand: this is on every proxied answer's path */
	if (status < 100 || status > 999)
		status = 500;
	memcpy(line, "HTTP/1.1 ", 9);
	k = 9 + u64_dec(line + 9, (uint64_t)status);
	line[k++] = ' ';
	memcpy(line + k, why, wl);
	k += wl;
	memcpy(line + k, "\r\nDate: ", 8);
	k += 8;
	memcpy(line + k, date_now(c->srv), 29);
	k += 29;
	memcpy(line + k, "\r\n", 2);
	k += 2;
	out_add(c, line, k);
	if (!nobody) {
		if (len != UINT64_MAX || q->raw_cl) {
			memcpy(line, "Content-Length: ", 16);
			k = 16 + u64_dec(line + 16, len != UINT64_MAX ? len : q->cl);
			memcpy(line + k, "\r\n", 2);
			out_add(c, line, k + 2);
		} else {
			if (c->p.http_major == 1 && c->p.http_minor >= 1) {
				q->chunked = true;
				out_add(c, "Transfer-Encoding: chunked\r\n", 28);
			} else {
				q->close_after = true; /* HTTP/1.0: the end is the close */
			}
		}
	}
	if (q->oh.len)
		out_add(c, q->oh.buf, q->oh.len);
	if (q->close_after)
		out_add(c, "Connection: close\r\n\r\n", 21);
	else if (c->p.http_major == 1 && c->p.http_minor == 0)
		out_add(c, "Connection: keep-alive\r\n\r\n", 26);
	else
		out_add(c, "\r\n", 2);
	q->head_only = nobody || q->method == HM_HEAD;
}

/* The reply is over on our side: once written, the next request, or the
 * close. */
static void req_end(struct hreq *q)
{
	struct hconn *c = q->c;

	q->ended = true;
	q->drained = NULL;
	q->gone = NULL;
	q->arg = NULL;
	c->st = C_ENDING;
	conn_flush(c);
	if (!c->dead && !c->writing)
		event_active(c->ev_next, EV_TIMEOUT, 0);
}

enum hmethod hreq_method(const struct hreq *q)
{
	return q->method;
}

const char *hreq_uri(const struct hreq *q)
{
	return q->h.b.buf;
}

bool hreq_header_at(const struct hreq *q, size_t i, const char **name, const char **value)
{
	if (i >= q->h.n)
		return false;
	*name = q->h.b.buf + q->h.off[i][0];
	*value = q->h.b.buf + q->h.off[i][1];
	return true;
}

const char *hreq_header(const struct hreq *q, const char *name)
{
	return hdrs_find(&q->h, name);
}

const char *hreq_body(const struct hreq *q, size_t *len)
{
	if (len)
		*len = q->body.len;
	return q->body.buf;
}

static bool hdr_clean(const char *s)
{
	return !strpbrk(s, "\r\n");
}

void hreq_add_header(struct hreq *q, const char *name, const char *value)
{
	if (q->started || !hdr_clean(name) || !hdr_clean(value))
		return;
	if (!strcasecmp(name, "Content-Length")) {
		/* put_head() writes it (once, whatever the reply): only a plain
		 * decimal is taken */
		uint64_t v = 0;
		size_t i = 0;

		for (; value[i] >= '0' && value[i] <= '9' && i < 19; i++)
			v = v * 10 + (uint64_t)(value[i] - '0');
		if (i > 0 && value[i] == '\0') {
			q->raw_cl = true;
			q->cl = v;
		}
		return;
	}
	if (!strcasecmp(name, "Connection")) {
		if (!strcasecmp(value, "close"))
			q->close_after = true;
		return; /* put_head() writes it */
	}
	if (sbuf_add(&q->oh, name, strlen(name)) < 0 || sbuf_add(&q->oh, ": ", 2) < 0 ||
	    sbuf_add(&q->oh, value, strlen(value)) < 0 || sbuf_add(&q->oh, "\r\n", 2) < 0)
		return; /* over 64 KiB of headers: the rest is dropped */
}

void hreq_reply(struct hreq *q, int status, const void *body, size_t len)
{
	struct hconn *c = q->c;

	if (q->started || q->ended)
		return;
	q->raw_cl = false;
	put_head(q, status, len);
	if (len && !q->head_only)
		out_add(c, body, len);
	req_end(q);
}

void hreq_reply_start(struct hreq *q, int status)
{
	if (q->started || q->ended)
		return;
	put_head(q, status, UINT64_MAX);
	/* not written yet: it goes with the first piece (one write, not two) */
}

void hreq_reply_chunk(struct hreq *q, const void *p, size_t n)
{
	struct hconn *c = q->c;

	if (!q->started || q->ended || n == 0 || q->head_only)
		return;
	if (q->chunked) {
		char sz[24];
		int k = snprintf(sz, sizeof(sz), "%zx\r\n", n);

		out_add(c, sz, (size_t)k);
		out_add(c, p, n);
		out_add(c, "\r\n", 2);
	} else {
		out_add(c, p, n);
	}
	conn_flush(c);
}

void hreq_reply_end(struct hreq *q)
{
	if (!q->started || q->ended)
		return;
	if (q->chunked && !q->head_only)
		out_add(q->c, "0\r\n\r\n", 5);
	req_end(q);
}

void hreq_abort(struct hreq *q, const void *p, size_t n)
{
	if (q->ended)
		return;
	if (!q->started) {
		/* nothing went out: a reply that says so */
		q->close_after = true;
		hreq_reply(q, 502, NULL, 0);
		return;
	}
	if (p && n)
		hreq_reply_chunk(q, p, n);
	q->close_after = true; /* no last chunk: the close ends it */
	req_end(q);
}

size_t hreq_unsent(const struct hreq *q)
{
	return q->c->out.len - q->c->out_off;
}

void hreq_watch(struct hreq *q, void (*drained)(void *), void (*gone)(void *), void *arg)
{
	if (q->ended)
		return;
	q->drained = drained;
	q->gone = gone;
	q->arg = arg;
}

/* Writes what is queued, now; waits for EV_WRITE only when the socket is
 * full. A write error marks the connection for closing. */
static void conn_flush(struct hconn *c)
{
	int e;

	if (c->dead || c->out_off == c->out.len)
		return;
	e = send_from(c->fd, c->out.buf, c->out.len, &c->out_off);
	if (e == 0) {
		c->out_off = 0;
		buf_clear(&c->out);
	} else if (e == -EAGAIN) {
		if (!c->writing) {
			c->writing = true;
			event_add(c->ev_w, NULL);
			if (c->st == C_HANDLER || c->st == C_ENDING)
				arm(c, c->srv->lim.timeout_s); /* a stalled reader (B14) */
		}
	} else {
		conn_kill_later(c);
	}
}

/* A parser callback refuses the request with this status. */
static int refuse(struct hconn *c, int status)
{
	if (!c->err_status)
		c->err_status = status;
	return -1;
}

/* A piece of the request line's URI (state 0), a header name (1) or value
 * (2): past the head's cap or count, 431. */
static int hb_piece(struct hconn *c, int state, const char *at, size_t n)
{
	return hdrs_piece(&c->req.h, state, at, n) < 0 ? refuse(c, 431) : 0;
}

static int on_begin(http_parser *p)
{
	struct hconn *c = p->data;

	req_reset(&c->req);
	c->st = C_HEAD;
	arm(c, c->srv->lim.timeout_s); /* the whole head must come in this */
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	return hb_piece(p->data, 0, at, n);
}

static int on_hfield(http_parser *p, const char *at, size_t n)
{
	return hb_piece(p->data, 1, at, n);
}

static int on_hvalue(http_parser *p, const char *at, size_t n)
{
	return hb_piece(p->data, 2, at, n);
}

static int on_headers(http_parser *p)
{
	struct hconn *c = p->data;
	struct hreq *q = &c->req;
	const char *exp;

	if (hdrs_end(&q->h) < 0)
		return refuse(c, 431);
	switch (p->method) {
	case HTTP_GET: q->method = HM_GET; break;
	case HTTP_HEAD: q->method = HM_HEAD; break;
	case HTTP_POST: q->method = HM_POST; break;
	case HTTP_OPTIONS: q->method = HM_OPTIONS; break;
	case HTTP_DELETE: q->method = HM_DELETE; break;
	default: q->method = HM_OTHER; break;
	}
	q->keep_alive = http_should_keep_alive(p) != 0;
	if (p->http_major != 1)
		return refuse(c, 505);
	if (p->content_length != ULLONG_MAX && p->content_length > c->srv->lim.max_body)
		return refuse(c, 413); /* before the body (B9) */
	exp = hreq_header(q, "Expect");
	if (exp) {
		if (strcasecmp(exp, "100-continue"))
			return refuse(c, 417);
		if (p->http_minor >= 1) {
			out_add(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			conn_flush(c);
		}
	}
	c->st = C_BODY;
	arm(c, c->srv->lim.timeout_s); /* from here, the body's inactivity */
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct hconn *c = p->data;

	if (sbuf_add(&c->req.body, at, n) < 0)
		return refuse(c, 413);
	return 0;
}

static int on_complete(http_parser *p)
{
	struct hconn *c = p->data;

	c->st = C_HANDLER;
	/* one request at a time: the rest waits in c->pend */
	http_parser_pause(p, 1);
	return 0;
}

/* A reply the server makes itself (an error), after which it closes. */
static void conn_error_reply(struct hconn *c, int status)
{
	struct hreq *q = &c->req;
	char body[160];
	int n;

	if (q->started)
		return;
	sbuf_release(&q->oh);
	n = snprintf(body, sizeof(body), "{\"error\":{\"code\":%d,\"message\":\"%s\",\"type\":\"invalid_request_error\"}}\n",
		     status, reason(status));
	q->close_after = true;
	q->keep_alive = false;
	hreq_add_header(q, "Content-Type", "application/json");
	put_head(q, status, (uint64_t)n);
	out_add(c, body, (size_t)n);
	q->ended = true;
	c->st = C_LINGER;
	conn_flush(c);
	if (!c->dead) {
		/* read what the client still sends (its body) for a moment, so
		 * the close does not reset the connection before it reads the
		 * reply */
		if (!c->writing)
			shutdown(c->fd, SHUT_WR);
		arm(c, LINGER_S);
	}
}

static const http_parser_settings srv_parse = {
	.on_message_begin = on_begin,
	.on_url = on_url,
	.on_header_field = on_hfield,
	.on_header_value = on_hvalue,
	.on_headers_complete = on_headers,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

/* Parses n bytes; dispatches a complete request. */
static void conn_feed(struct hconn *c, const char *buf, size_t n)
{
	size_t used = http_parser_execute(&c->p, &srv_parse, buf, n);
	enum http_errno e = HTTP_PARSER_ERRNO(&c->p);

	if (e == HPE_PAUSED) {
		http_parser_pause(&c->p, 0);
		if (used < n)
			evbuffer_add(c->pend, buf + used, n - used);
		if (c->p.upgrade)
			c->req.keep_alive = false;
		if (c->req.method == HM_OTHER) {
			hreq_add_header(&c->req, "Allow", "GET, HEAD, POST, DELETE, OPTIONS");
			c->req.close_after = true;
			hreq_reply(&c->req, 405, NULL, 0);
			return;
		}
		c->srv->fn(&c->req, c->srv->arg);
		return;
	}
	if (e != HPE_OK) {
		conn_error_reply(c, c->err_status ? c->err_status : e == HPE_HEADER_OVERFLOW ? 431 : 400);
		return;
	}
	if (c->p.upgrade) {
		/* an Upgrade (or CONNECT) request is not ours to take */
		conn_error_reply(c, 400);
		return;
	}
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;
	char buf[READ_CHUNK];
	ssize_t n;

	(void)what;
	if (c->dead)
		return;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	switch (c->st) {
	case C_IDLE:
	case C_HEAD:
	case C_BODY:
		conn_feed(c, buf, (size_t)n);
		break;
	case C_HANDLER:
	case C_ENDING:
		/* the next request, pipelined: held until this one is over */
		evbuffer_add(c->pend, buf, (size_t)n);
		if (evbuffer_get_length(c->pend) > PEND_MAX)
			set_reading(c, false);
		break;
	case C_LINGER:
		break; /* discarded */
	}
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;
	struct hreq *q = &c->req;

	(void)fd;
	(void)what;
	if (c->dead)
		return;
	c->writing = false;
	event_del(c->ev_w);
	conn_flush(c);
	if (c->dead) {
		conn_close(c);
		return;
	}
	if (c->writing) {
		arm(c, c->srv->lim.timeout_s); /* progress: the stall clock again */
		return;
	}
	switch (c->st) {
	case C_HANDLER:
		event_del(c->ev_t);
		if (q->drained)
			q->drained(q->arg);
		break;
	case C_ENDING:
		event_active(c->ev_next, EV_TIMEOUT, 0);
		break;
	case C_LINGER:
		shutdown(c->fd, SHUT_WR);
		break;
	default:
		break;
	}
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;

	(void)fd;
	(void)what;
	switch (c->st) {
	case C_HEAD:
	case C_BODY:
		/* slowloris, or a body that stopped coming (B12, B13) */
		conn_error_reply(c, 408);
		break;
	case C_HANDLER:
	case C_ENDING:
		if (c->writing)
			conn_close(c); /* a client that stopped reading (B14) */
		break;
	default:
		conn_close(c);
		break;
	}
}

/* From the loop: a closing the user's call asked for, or the next request
 * after a reply was written. */
static void conn_next_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;

	(void)fd;
	(void)what;
	if (c->dead) {
		conn_close(c);
		return;
	}
	if (c->st != C_ENDING || c->writing)
		return;
	if (c->req.close_after) {
		conn_close(c);
		return;
	}
	/* the reply is out: the next request */
	req_reset(&c->req);
	c->st = C_IDLE;
	c->err_status = 0;
	arm(c, c->srv->lim.timeout_s);
	set_reading(c, true);
	conn_parse_pending(c);
}

static void conn_parse_pending(struct hconn *c)
{
	size_t n = evbuffer_get_length(c->pend);
	char *tmp;

	if (!n)
		return;
	tmp = malloc(n);
	if (!tmp) {
		conn_close(c);
		return;
	}
	evbuffer_remove(c->pend, tmp, n);
	conn_feed(c, tmp, n);
	free(tmp);
}

/* What a connection holds (any part may be missing: a failed set-up),
 * its socket included. */
static void conn_free(struct hconn *c)
{
	struct event *ev[] = { c->ev_r, c->ev_w, c->ev_t, c->ev_next };

	for (size_t i = 0; i < ARRAY_SIZE(ev); i++)
		if (ev[i])
			event_free(ev[i]);
	close(c->fd);
	sbuf_release(&c->out);
	if (c->pend)
		evbuffer_free(c->pend);
	sbuf_release(&c->req.h.b);
	sbuf_release(&c->req.body);
	sbuf_release(&c->req.oh);
	free(c);
}

/* Frees c now; the request's owner hears of it first when its reply was
 * not over. */
static void conn_close(struct hconn *c)
{
	struct hreq *q = &c->req;

	if (c->st == C_HANDLER && !q->ended && q->gone) {
		void (*gone)(void *) = q->gone;

		q->gone = NULL;
		q->drained = NULL;
		q->ended = true;
		gone(q->arg);
	}
	c->prev->next = c->next;
	c->next->prev = c->prev;
	conn_free(c);
}

int hsrv_adopt(struct hsrv *s, int fd)
{
	struct hconn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = s;
	c->fd = fd;
	sbuf_init(&c->out, OUT_MAX);
	c->pend = evbuffer_new();
	c->ev_r = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->ev_w = event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	c->ev_t = evtimer_new(s->base, conn_timer_cb, c);
	c->ev_next = event_new(s->base, -1, 0, conn_next_cb, c);
	if (!c->pend || !c->ev_r || !c->ev_w || !c->ev_t || !c->ev_next) {
		conn_free(c);
		return -ENOMEM;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	{
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0 && !(fl & O_NONBLOCK))
			(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	c->req.c = c;
	hdrs_init(&c->req.h, s->lim.max_head, HREQ_MAX_HEADERS);
	sbuf_init(&c->req.body, s->lim.max_body);
	sbuf_init(&c->req.oh, (size_t)64 << 10);
	c->st = C_IDLE;
	c->next = s->conns.next;
	c->prev = &s->conns;
	s->conns.next->prev = c;
	s->conns.next = c;
	arm(c, s->lim.timeout_s);
	set_reading(c, true);
	return 0;
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	(void)lev;
	(void)sa;
	(void)salen;
	(void)!hsrv_adopt(arg, fd); /* out of memory: the connection is closed */
}

int hsrv_new(struct event_base *base, const char *host, uint16_t port, const struct hsrv_limits *lim,
	     hsrv_handler_fn fn, void *arg, struct hsrv **out)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char ps[8];
	struct hsrv *s;
	int e;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = base;
	s->lim = *lim;
	s->fn = fn;
	s->arg = arg;
	s->conns.next = s->conns.prev = &s->conns;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	e = getaddrinfo(host, ps, &hints, &ai);
	if (e != 0 || !ai) {
		free(s);
		return -EADDRNOTAVAIL;
	}
	s->lev = evconnlistener_new_bind(base, accept_cb, s,
					 LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 511,
					 ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!s->lev) {
		free(s);
		return -EADDRINUSE;
	}
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockname(evconnlistener_get_fd(s->lev), (struct sockaddr *)&ss, &sl) == 0)
			s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
								  : ((struct sockaddr_in *)&ss)->sin_port);
	}
	*out = s;
	return 0;
}

void hsrv_free(struct hsrv *s)
{
	if (!s)
		return;
	while (s->conns.next != &s->conns) {
		s->conns.next->req.gone = NULL;
		conn_close(s->conns.next);
	}
	evconnlistener_free(s->lev);
	free(s);
}

struct evconnlistener *hsrv_listener(struct hsrv *s)
{
	return s->lev;
}

uint16_t hsrv_port(const struct hsrv *s)
{
	return s->port;
}

/* ---- client ---- */

enum hcstate {
	H_NONE,     /* no socket */
	H_IDLE,     /* connected, no request */
	H_SENDING,  /* the request is going out (or the connect is pending) */
	H_WAITING,  /* sent: the answer is coming */
	H_DONE,     /* the answer ended (the connection may be reused) */
	H_DEAD,     /* closed, or failed */
};

struct hcli {
	struct event_base *base;
	uint16_t port;
	int fd;
	struct event *ev_r, *ev_w, *ev_t;
	bool reading, writing, paused;
	http_parser p;
	enum hcstate st;
	struct sbuf req;          /* the request's bytes, kept for one resend */
	size_t sent;              /* of them, written */
	bool retried;
	bool got_bytes;           /* a byte of the answer came */
	unsigned n_done;          /* answers completed on this socket */
	bool keep_alive;
	bool opened_idle;         /* connected by hcli_open(), before any request */
	bool in_cb, doomed;
	struct hdrs h;            /* the answer's headers */
	const struct hcli_cbs *cbs;
	void *arg;
	int werr;                 /* a write failed inside hcli_request(): reported from the loop */
};

static void hc_close_fd(struct hcli *c)
{
	if (c->fd >= 0) {
		event_free(c->ev_r);
		event_free(c->ev_w);
		c->ev_r = c->ev_w = NULL;
		close(c->fd);
		c->fd = -1;
	}
	c->reading = c->writing = false;
	c->sent = c->req.len; /* what was not written never will be */
}

static void hc_really_free(struct hcli *c)
{
	hc_close_fd(c);
	if (c->ev_t)
		event_free(c->ev_t);
	sbuf_release(&c->req);
	sbuf_release(&c->h.b);
	free(c);
}

void hcli_free(struct hcli *c)
{
	if (!c)
		return;
	if (c->in_cb) {
		c->doomed = true;
		c->cbs = NULL;
		return;
	}
	hc_really_free(c);
}

int hcli_status(const struct hcli *c)
{
	return c->p.status_code;
}

const char *hcli_header(const struct hcli *c, const char *name)
{
	return hdrs_find(&c->h, name);
}

static int hc_connect(struct hcli *c);

bool hcli_reusable(const struct hcli *c)
{
	return c->fd >= 0 && ((c->st == H_DONE && c->keep_alive) || (c->st == H_IDLE && c->opened_idle));
}

bool hcli_answered(const struct hcli *c)
{
	return c->st == H_DONE;
}

int hcli_open(struct hcli *c)
{
	int e;

	if (c->fd >= 0)
		return 0;
	e = hc_connect(c);
	if (e == 0)
		c->opened_idle = true;
	return e;
}

static void hc_set_reading(struct hcli *c, bool on)
{
	if (c->fd < 0 || on == c->reading)
		return;
	c->reading = on;
	if (on)
		event_add(c->ev_r, NULL);
	else
		event_del(c->ev_r);
}

void hcli_pause(struct hcli *c, bool paused)
{
	c->paused = paused;
	if (c->st == H_SENDING || c->st == H_WAITING)
		hc_set_reading(c, !paused);
}

/* The answer is over (err 0) or failed: the user hears it, from the loop. */
static void hc_finish(struct hcli *c, int err)
{
	const struct hcli_cbs *cbs = c->cbs;
	void *arg = c->arg;

	event_del(c->ev_t);
	if (c->sent < c->req.len)
		c->keep_alive = false; /* answered before the request was all out */
	if (err) {
		c->st = H_DEAD;
		hc_close_fd(c);
	} else {
		c->st = H_DONE;
		c->n_done++;
		if (!c->keep_alive)
			hc_close_fd(c);
		else
			hc_set_reading(c, true); /* to see it close while idle */
	}
	c->cbs = NULL;
	c->arg = NULL;
	if (cbs && cbs->done) {
		c->in_cb = true;
		cbs->done(c, arg, err);
		c->in_cb = false;
		if (c->doomed)
			hc_really_free(c);
	}
}

static int hc_on_hfield(http_parser *p, const char *at, size_t n)
{
	return hdrs_piece(&((struct hcli *)p->data)->h, 1, at, n);
}

static int hc_on_hvalue(http_parser *p, const char *at, size_t n)
{
	return hdrs_piece(&((struct hcli *)p->data)->h, 2, at, n);
}

static int hc_on_headers(http_parser *p)
{
	struct hcli *c = p->data;

	if (hdrs_end(&c->h) < 0)
		return -1;
	if (p->status_code < 200)
		return 0; /* 1xx: another head follows */
	c->keep_alive = http_should_keep_alive(p) != 0;
	if (c->cbs && c->cbs->head)
		c->cbs->head(c, c->arg);
	return c->doomed ? -1 : 0;
}

static int hc_on_body(http_parser *p, const char *at, size_t n)
{
	struct hcli *c = p->data;

	if (c->cbs && c->cbs->body)
		c->cbs->body(c, c->arg, at, n);
	return c->doomed ? -1 : 0;
}

static int hc_on_begin(http_parser *p)
{
	struct hcli *c = p->data;

	buf_clear(&c->h.b);
	c->h.n = 0;
	c->h.state = 0;
	return 0;
}

static int hc_on_complete(http_parser *p)
{
	struct hcli *c = p->data;

	if (p->status_code < 200)
		return 0;
	c->st = H_DONE;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings cli_parse = {
	.on_message_begin = hc_on_begin,
	.on_header_field = hc_on_hfield,
	.on_header_value = hc_on_hvalue,
	.on_headers_complete = hc_on_headers,
	.on_body = hc_on_body,
	.on_message_complete = hc_on_complete,
};

/* Writes what is queued of the request now: 0 when it is all out (the
 * answer is awaited), -EAGAIN when the socket is full or still connecting
 * (EV_WRITE goes on), or the write's error. */
static int hc_flush(struct hcli *c)
{
	int e = send_from(c->fd, c->req.buf, c->req.len, &c->sent);

	if (e == -EAGAIN) {
		if (!c->writing) {
			c->writing = true;
			event_add(c->ev_w, NULL);
		}
		return e;
	}
	if (e < 0)
		return e;
	if (c->writing) {
		c->writing = false;
		event_del(c->ev_w);
	}
	if (c->st == H_SENDING)
		c->st = H_WAITING;
	return 0;
}

/* A reused connection the backend had closed: once more, on a new one
 * (the write event then reports how it went). */
static bool hc_retry(struct hcli *c)
{
	if (c->retried || c->got_bytes || (c->n_done == 0 && !c->opened_idle))
		return false;
	c->retried = true;
	hc_close_fd(c);
	c->n_done = 0;
	c->opened_idle = false;
	if (hc_connect(c) < 0)
		return false;
	c->sent = 0;
	c->st = H_SENDING;
	c->writing = true;
	event_add(c->ev_w, NULL);
	return true;
}

static void hc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hcli *c = arg;
	char buf[READ_CHUNK];
	ssize_t n;
	size_t used;
	enum http_errno e;
	int rerr;

	(void)what;
	n = recv(fd, buf, sizeof(buf), 0);
	rerr = errno;
	if (n < 0 && (rerr == EAGAIN || rerr == EWOULDBLOCK || rerr == EINTR))
		return;
	if (c->st != H_SENDING && c->st != H_WAITING) {
		/* idle: the backend closed it (or said something unasked) */
		c->st = H_DEAD;
		hc_close_fd(c);
		return;
	}
	if (n <= 0 && !c->got_bytes && hc_retry(c))
		return;
	if (n > 0)
		c->got_bytes = true;
	c->in_cb = true;
	used = http_parser_execute(&c->p, &cli_parse, buf, n > 0 ? (size_t)n : 0);
	c->in_cb = false;
	if (c->doomed) {
		hc_really_free(c);
		return;
	}
	e = HTTP_PARSER_ERRNO(&c->p);
	if (c->st == H_DONE) {
		http_parser_pause(&c->p, 0);
		if (n > 0 && used < (size_t)n)
			c->keep_alive = false; /* bytes after the answer: not ours */
		hc_finish(c, 0);
		return;
	}
	if (e != HPE_OK) {
		hc_finish(c, -EPROTO);
		return;
	}
	if (n <= 0)
		hc_finish(c, n == 0 || rerr != ECONNREFUSED ? -ECONNRESET : -ECONNREFUSED);
}

static void hc_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hcli *c = arg;
	int e, err = 0;
	socklen_t sl = sizeof(err);

	(void)what;
	if (c->werr) {
		/* a write inside hcli_request() failed */
		e = -c->werr;
		c->werr = 0;
	} else if (c->st == H_SENDING && c->n_done == 0 && !c->got_bytes &&
		   getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err) {
		e = -err; /* the connect failed */
	} else {
		e = hc_flush(c);
	}
	if (e < 0 && e != -EAGAIN && !hc_retry(c))
		hc_finish(c, e == -ECONNREFUSED ? -ECONNREFUSED : -ECONNRESET);
}
static void hc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hc_finish(arg, -ETIMEDOUT);
}

static int hc_connect(struct hcli *c)
{
	struct sockaddr_in a;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(c->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		int e = -errno;

		close(fd);
		return e;
	}
	c->ev_r = event_new(c->base, fd, EV_READ | EV_PERSIST, hc_read_cb, c);
	c->ev_w = event_new(c->base, fd, EV_WRITE | EV_PERSIST, hc_write_cb, c);
	if (!c->ev_r || !c->ev_w) {
		if (c->ev_r)
			event_free(c->ev_r);
		if (c->ev_w)
			event_free(c->ev_w);
		c->ev_r = c->ev_w = NULL;
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->st = H_IDLE;
	hc_set_reading(c, true);
	return 0;
}

struct hcli *hcli_new(struct event_base *base, uint16_t port)
{
	struct hcli *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base = base;
	c->port = port;
	c->fd = -1;
	c->ev_t = evtimer_new(base, hc_timer_cb, c);
	if (!c->ev_t) {
		free(c);
		return NULL;
	}
	sbuf_init(&c->req, (size_t)1 << 30);
	hdrs_init(&c->h, HCLI_MAX_HEAD, HCLI_MAX_HEADERS);
	return c;
}

int hcli_request(struct hcli *c, const char *method, const char *path, const char *extra, const void *body,
		 size_t len, int timeout_ms, const struct hcli_cbs *cbs, void *arg)
{
	int e;

	if (c->st == H_SENDING || c->st == H_WAITING)
		return -EBUSY;
	if (c->fd < 0 || c->st == H_DEAD || (c->st == H_DONE && !c->keep_alive)) {
		hc_close_fd(c);
		c->n_done = 0;
		e = hc_connect(c);
		if (e < 0)
			return e;
	}
	buf_clear(&c->req);
	{
		char cl[48];
		size_t k = 0;

		if (body || !strcmp(method, "POST")) {
			memcpy(cl, "Content-Length: ", 16);
			k = 16 + u64_dec(cl + 16, len);
			memcpy(cl + k, "\r\n", 2);
			k += 2;
		}
		if (sbuf_add(&c->req, method, strlen(method)) < 0 || sbuf_add(&c->req, " ", 1) < 0 ||
		    sbuf_add(&c->req, path, strlen(path)) < 0 || sbuf_add(&c->req, " HTTP/1.1\r\n", 11) < 0 ||
		    (extra && sbuf_add(&c->req, extra, strlen(extra)) < 0) || sbuf_add(&c->req, cl, k) < 0 ||
		    sbuf_add(&c->req, "\r\n", 2) < 0 || (len && sbuf_add(&c->req, body, len) < 0))
			return -ENOMEM;
	}
	http_parser_init(&c->p, HTTP_RESPONSE);
	c->p.data = c;
	c->cbs = cbs;
	c->arg = arg;
	c->retried = false;
	c->got_bytes = false;
	c->keep_alive = false;
	c->st = H_SENDING;
	c->sent = 0;
	if (timeout_ms > 0) {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

		event_add(c->ev_t, &tv);
	} else {
		event_del(c->ev_t);
	}
	hc_set_reading(c, !c->paused);
	/* now, not on the loop's next turn (a connect still pending fails
	 * with EAGAIN and waits for EV_WRITE); a failure is reported from
	 * the loop, by the write event */
	e = hc_flush(c);
	if (e < 0 && e != -EAGAIN) {
		c->werr = -e;
		c->writing = true;
		event_add(c->ev_w, NULL);
	}
	return 0;
}
