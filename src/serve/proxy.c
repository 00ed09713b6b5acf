/* proxy.c: forwards one request to its model's llama-server and streams the
 * answer back: unchanged for the OpenAI API, translated for Ollama's
 * (translate.h). Backpressure: while the client's socket has more than
 * PROXY_HIGH_WATER bytes unsent, the backend's socket is not read, so a
 * slow client costs neither memory nor a dropped stream. A client that goes
 * away closes the backend connection, which makes llama-server cancel the
 * generation. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/daemon-int.h"

#define PROXY_HIGH_WATER ((size_t)1 << 20)
#define PROXY_UP_TIMEOUT_S (24 * 3600)

static bool is_ollama(const struct rq *r)
{
	return r->kind == RQ_OLLAMA_CHAT || r->kind == RQ_OLLAMA_GENERATE ||
	       r->kind == RQ_OLLAMA_EMBED || r->kind == RQ_OLLAMA_EMBEDDINGS;
}

static struct bufferevent *client_bev(struct rq *r)
{
	return r->client_conn ? evhttp_connection_get_bufferevent(r->client_conn) : NULL;
}

static void up_resume(struct rq *r)
{
	if (r->paused && r->up_conn) {
		r->paused = false;
		bufferevent_enable(evhttp_connection_get_bufferevent(r->up_conn), EV_READ);
	}
}

static void client_drained_cb(struct evhttp_connection *conn, void *arg)
{
	struct rq *r = arg;

	(void)conn;
	if (r->answered || r->client_gone)
		return;
	up_resume(r);
}

/* The client's timeouts while its reply streams: a write that makes no
 * progress for --request-timeout ends it (a stalled reader, B14), but
 * not silence on its side. evhttp arms its read timeout again only when
 * a chunk is queued, so a slow reader draining a paused stream, or a
 * model quiet between two tokens for that long, would be cut. Both are
 * back before the reply ends (the connection may carry another request). */
static void client_timeouts(struct rq *r, bool streaming)
{
	struct bufferevent *bev = client_bev(r);
	struct timeval tv = { r->s->o->header_timeout_s, 0 };

	if (bev && tv.tv_sec > 0)
		bufferevent_set_timeouts(bev, streaming ? NULL : &tv, &tv);
}

/* Sends buf to the client as the next piece of the reply (starting it
 * with status and content type the first time), and pauses the backend
 * when the client falls behind. */
static void client_send(struct rq *r, struct evbuffer *buf, int status, const char *ctype)
{
	struct bufferevent *bev;

	if (r->client_gone || r->answered)
		return;
	if (!r->reply_started) {
		struct evkeyvalq *h = evhttp_request_get_output_headers(r->client);

		if (ctype)
			evhttp_add_header(h, "Content-Type", ctype);
		if (r->stream)
			evhttp_add_header(h, "Cache-Control", "no-cache");
		evhttp_send_reply_start(r->client, status, NULL);
		r->reply_started = true;
		client_timeouts(r, true);
	}
	evhttp_send_reply_chunk_with_cb(r->client, buf, client_drained_cb, r);
	bev = client_bev(r);
	if (bev && r->up_conn && !r->paused &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > PROXY_HIGH_WATER) {
		r->paused = true;
		bufferevent_disable(evhttp_connection_get_bufferevent(r->up_conn), EV_READ);
	}
}

static void client_send_str(struct rq *r, const char *s, size_t n, int status, const char *ctype)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return;
	evbuffer_add(b, s, n);
	client_send(r, b, status, ctype);
	evbuffer_free(b);
}

static void client_end(struct rq *r)
{
	if (!r->client_gone && !r->answered && r->reply_started) {
		client_timeouts(r, false);
		evhttp_send_reply_end(r->client);
	}
}

/* A reply cut short, once what was queued (the error event) is written:
 * the connection is closed without the reply's end. */
static void abort_drained_cb(struct evhttp_connection *conn, void *arg)
{
	(void)arg;
	evhttp_connection_set_closecb(conn, NULL, NULL);
	evhttp_connection_free(conn); /* and the request on it */
}

/* ... or the client went first (or timed out): evhttp detached the
 * request and left it to us (docs/DESIGN.md, libevent pitfall 6). */
static void abort_close_cb(struct evhttp_connection *conn, void *arg)
{
	struct evhttp_request *req = arg;

	(void)conn;
	if (!evhttp_request_get_connection(req))
		evhttp_send_reply_end(req); /* with no connection: frees it */
}

/* Ends r after an error when its reply has started: buf (the error event
 * or line; may be NULL or empty) is sent, then the connection closes
 * without the reply's end: no terminating chunk, no missing bytes of a
 * Content-Length. Ending it normally would make a truncated answer look
 * complete (B21: h2o and nginx cut the connection too). Finishes r. */
static void client_abort(struct rq *r, struct evbuffer *buf)
{
	struct evhttp_connection *conn = r->client_gone ? NULL : r->client_conn;
	struct evhttp_request *req = r->client;
	struct bufferevent *bev = client_bev(r);

	proxy_cancel(r);
	r->answered = true;
	if (conn && req && buf && evbuffer_get_length(buf)) {
		/* replaces client_drained_cb (r is freed soon) */
		evhttp_send_reply_chunk_with_cb(req, buf, abort_drained_cb, NULL);
		srv_rq_finish(r); /* clears the close callback: set after */
		evhttp_connection_set_closecb(conn, abort_close_cb, req);
		return;
	}
	srv_rq_finish(r);
	if (!conn)
		return;
	/* nothing to add: what is queued goes now if it can, then the end */
	if (bev && evbuffer_get_length(bufferevent_get_output(bev)))
		(void)evbuffer_write(bufferevent_get_output(bev), bufferevent_getfd(bev));
	evhttp_connection_set_closecb(conn, NULL, NULL);
	evhttp_connection_free(conn);
}

/* A translated stream that failed after its reply started: the lines in
 * r->out (its error line) go out, then the connection is cut. */
static void ollama_stream_abort(struct rq *r)
{
	struct evbuffer *b = evbuffer_new();

	if (b && r->out.len)
		evbuffer_add(b, r->out.buf, r->out.len);
	sbuf_release(&r->out);
	client_abort(r, b);
	if (b)
		evbuffer_free(b);
}

/* ---- the Ollama translation of a stream ---- */

/* Sends the NDJSON lines collected in r->out. */
static void out_flush(struct rq *r)
{
	if (r->out.len) {
		client_send_str(r, r->out.buf, r->out.len, 200, "application/x-ndjson");
		sbuf_release(&r->out);
	}
}

static int sse_event(void *arg, const char *event, const char *data, size_t len)
{
	struct rq *r = arg;
	struct diag d;

	(void)event;
	diag_init(&d);
	return tr_stream_event(&r->ts, data, len, srv_wall_ns(), &r->out, &d);
}

/* A translated stream ended early (an error line is out): end the reply
 * and drop the backend connection. */
static void ollama_stream_over(struct rq *r)
{
	client_end(r);
	r->answered = true;
	proxy_cancel(r);
	srv_rq_finish(r);
}

/* ---- upstream callbacks ---- */

static void up_chunk_cb(struct evhttp_request *req, void *arg)
{
	struct rq *r = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);

	srv_bk_progress(srv_bk(r->s, r->model));
	if (r->answered || r->client_gone)
		return;
	if (!r->up_status)
		r->up_status = evhttp_request_get_response_code(req);
	if (!is_ollama(r)) {
		if (!r->reply_started) {
			const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req),
							    "Content-Type");
			const char *cl = evhttp_find_header(evhttp_request_get_input_headers(req),
							    "Content-Length");

			if (cl)
				evhttp_add_header(evhttp_request_get_output_headers(r->client),
						  "Content-Length", cl);
			client_send(r, in, r->up_status, ct ? ct : "application/json");
		} else {
			client_send(r, in, r->up_status, NULL);
		}
		return;
	}
	/* Ollama: a stream is translated event by event; the rest (and every
	 * error) is collected and translated whole */
	if (r->stream && r->up_status >= 200 && r->up_status < 300) {
		size_t n = evbuffer_get_length(in);
		const char *p = (const char *)evbuffer_pullup(in, -1);
		struct diag d;
		int e;

		diag_init(&d);
		e = tr_sse_feed(&r->sse, p, n, sse_event, r, &d);
		evbuffer_drain(in, n);
		if (e < 0 && r->reply_started) {
			/* the stream is over: its error line (when it could be
			 * written) goes out, then the connection is cut */
			if (!r->ts.done)
				(void)!tr_stream_finish(&r->ts, srv_wall_ns(), &r->out, &d);
			ollama_stream_abort(r);
			return;
		}
		out_flush(r);
		if (e < 0) {
			/* the stream is over: an error line was written when it could */
			if (!r->ts.done && !r->reply_started) {
				proxy_fail(r, 502, d.msg[0] ? d.msg : "the backend's stream is malformed");
			} else {
				if (!r->ts.done) {
					(void)!tr_stream_finish(&r->ts, srv_wall_ns(), &r->out, &d);
					out_flush(r);
				}
				ollama_stream_over(r);
			}
		}
		return;
	}
	{
		size_t n = evbuffer_get_length(in);

		if (sbuf_add(&r->acc, evbuffer_pullup(in, -1), n) < 0) {
			proxy_fail(r, 502, "the backend's answer is too large");
			return;
		}
		evbuffer_drain(in, n);
	}
}

/* The whole (non-streamed) Ollama answer, translated. */
static void ollama_finish_whole(struct rq *r)
{
	struct diag d;
	json_t *out = NULL;
	int e;

	diag_init(&d);
	if (r->up_status < 200 || r->up_status >= 300) {
		api_reply_json(r->client, r->up_status >= 400 ? r->up_status : 502,
			       tr_error_from_backend(r->up_status, r->acc.buf, r->acc.len));
		r->answered = true;
		return;
	}
	r->meta.now_ns = srv_wall_ns();
	e = tr_response(&r->meta, r->acc.buf, r->acc.len, &out, &d);
	if (e < 0)
		api_reply_error(r->client, e == -EPROTO ? 500 : 502, true, "%s", d.msg);
	else
		api_reply_json(r->client, 200, out);
	r->answered = true;
}

static void up_done_cb(struct evhttp_request *req, void *arg)
{
	struct rq *r = arg;

	r->up_req = NULL; /* libevent frees it after this returns */
	if (r->answered || r->client_gone) {
		if (!r->answered)
			srv_rq_finish(r);
		return;
	}
	if (!req || evhttp_request_get_response_code(req) == 0) {
		proxy_fail(r, 502, "the backend closed the connection or sent a malformed answer (it may have crashed)");
		return;
	}
	/* read whole: libevent keeps the connection (or has closed it, when
	 * the backend said "Connection: close"; it reconnects on the next).
	 * Not after a chunked answer (a stream): cpp-httplib closes the
	 * connection once its content provider is done, without saying so,
	 * and a request sent on it before its end is seen fails */
	{
		const char *te = evhttp_find_header(evhttp_request_get_input_headers(req), "Transfer-Encoding");

		r->up_reuse = !te || !strcasestr(te, "chunked");
	}
	if (!r->up_status)
		r->up_status = evhttp_request_get_response_code(req);
	if (is_ollama(r)) {
		if (r->stream && r->up_status >= 200 && r->up_status < 300) {
			struct diag d;

			diag_init(&d);
			(void)!tr_sse_end(&r->sse, &d);
			(void)!tr_stream_finish(&r->ts, srv_wall_ns(), &r->out, &d);
			if (r->ts.failed && r->reply_started) {
				/* it stopped short: the error line, then the cut */
				ollama_stream_abort(r);
				return;
			}
			out_flush(r);
			client_end(r);
			r->answered = true;
		} else {
			ollama_finish_whole(r);
		}
	} else if (!r->reply_started) {
		/* no body at all */
		evhttp_send_reply(r->client, r->up_status, NULL, NULL);
		r->answered = true;
	} else {
		client_end(r);
		r->answered = true;
	}
	srv_rq_finish(r);
}

void proxy_cancel(struct rq *r)
{
	/* closes the backend socket at once: llama-server sees its client
	 * gone and stops generating. The done callback is not called after
	 * this; the connection itself is freed with r, from the loop. */
	if (r->up_req) {
		evhttp_cancel_request(r->up_req);
		r->up_req = NULL;
	}
}

void proxy_fail(struct rq *r, int status, const char *msg)
{
	if (r->answered) {
		srv_rq_finish(r);
		return;
	}
	proxy_cancel(r);
	if (!r->client_gone && r->reply_started) {
		/* the status is out: an error event (SSE) or line (NDJSON),
		 * then the connection is cut (no "[DONE]", no last chunk) */
		json_t *o = is_ollama(r) ? tr_error_ollama(msg) : tr_error_openai(status, msg);
		char *txt = o && (r->stream || is_ollama(r)) ? json_dumps(o, JSON_COMPACT) : NULL;
		struct evbuffer *b = evbuffer_new();

		if (b && txt) {
			if (is_ollama(r))
				evbuffer_add_printf(b, "%s\n", txt);
			else
				evbuffer_add_printf(b, "data: %s\n\n", txt);
		}
		free(txt);
		json_decref(o);
		client_abort(r, b);
		if (b)
			evbuffer_free(b);
		return;
	}
	if (!r->client_gone)
		api_reply_error(r->client, status, is_ollama(r) || r->ollama_err, "%s", msg);
	r->answered = true;
	srv_rq_finish(r);
}

void proxy_start(struct rq *r)
{
	struct srv *s = r->s;
	struct bk *b = srv_bk(s, r->model);
	struct evkeyvalq *h;
	char host[32];

	srv_client_watch(r);
	if (is_ollama(r)) {
		r->meta.load_ns = (r->t_dispatch - r->t_arrive) * 1000000;
		if (r->stream) {
			tr_sse_init(&r->sse, TR_SSE_CAP);
			r->sse_init = true;
			tr_stream_init(&r->ts, &r->meta);
			r->ts_init = true;
		}
	}
	if (s->sch.models[r->model].busy <= 1)
		srv_bk_progress(b); /* it was idle: the clock starts now */
	r->up_conn = srv_bk_conn_get(b);
	r->up_gen = b->gen;
	if (!r->up_conn) {
		proxy_fail(r, 500, "out of memory");
		return;
	}
	evhttp_connection_set_timeout(r->up_conn, PROXY_UP_TIMEOUT_S);
	evhttp_connection_set_retries(r->up_conn, 0);
	r->up_req = evhttp_request_new(up_done_cb, r);
	if (!r->up_req) {
		proxy_fail(r, 500, "out of memory");
		return;
	}
	evhttp_request_set_chunked_cb(r->up_req, up_chunk_cb);
	h = evhttp_request_get_output_headers(r->up_req);
	snprintf(host, sizeof(host), "127.0.0.1:%u", b->port);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/json");
	if (b->key[0]) {
		char auth[64];

		snprintf(auth, sizeof(auth), "Bearer %s", b->key);
		evhttp_add_header(h, "Authorization", auth);
	}
	if (r->stream)
		evhttp_add_header(h, "Accept", "text/event-stream");
	if (r->body)
		evbuffer_add(evhttp_request_get_output_buffer(r->up_req), r->body, r->body_len);
	if (evhttp_make_request(r->up_conn, r->up_req, r->body ? EVHTTP_REQ_POST : EVHTTP_REQ_GET,
				r->path) < 0) {
		r->up_req = NULL;
		proxy_fail(r, 502, "cannot reach the backend");
	}
}
