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
#include <strings.h>
#include <time.h>

#include "serve/daemon-int.h"

#define PROXY_HIGH_WATER ((size_t)1 << 20)

static bool is_ollama(const struct rq *r)
{
	return r->kind == RQ_OLLAMA_CHAT || r->kind == RQ_OLLAMA_GENERATE ||
	       r->kind == RQ_OLLAMA_EMBED || r->kind == RQ_OLLAMA_EMBEDDINGS;
}

static void up_resume(struct rq *r)
{
	if (r->paused && r->up_conn) {
		r->paused = false;
		hcli_pause(r->up_conn, false);
	}
}

static void client_drained_cb(void *arg)
{
	struct rq *r = arg;

	if (r->answered || r->client_gone)
		return;
	up_resume(r);
}

/* Sends p to the client as the next piece of the reply (starting it with
 * status and content type the first time), and pauses the backend when
 * the client falls behind. While the reply streams, the server cuts the
 * client only when a write makes no progress for --request-timeout (a
 * stalled reader, B14), never for its own silence or the model's. */
static void client_send(struct rq *r, const char *p, size_t n, int status, const char *ctype)
{
	if (r->client_gone || r->answered || !r->client)
		return;
	if (!r->reply_started) {
		if (ctype)
			hreq_add_header(r->client, "Content-Type", ctype);
		if (r->stream)
			hreq_add_header(r->client, "Cache-Control", "no-cache");
		hreq_watch(r->client, client_drained_cb, srv_client_gone, r);
		hreq_reply_start(r->client, status);
		r->reply_started = true;
	}
	hreq_reply_chunk(r->client, p, n);
	if (r->up_conn && !r->paused && hreq_unsent(r->client) > PROXY_HIGH_WATER) {
		r->paused = true;
		hcli_pause(r->up_conn, true);
	}
}

static void client_end(struct rq *r)
{
	if (!r->client_gone && !r->answered && r->reply_started && r->client) {
		hreq_reply_end(r->client);
		r->client = NULL;
	}
}

/* Ends r after an error when its reply has started: p (the error event or
 * line; may be empty) is sent, then the connection closes without the
 * reply's end: no terminating chunk, no missing bytes of a
 * Content-Length. Ending it normally would make a truncated answer look
 * complete (B21: h2o and nginx cut the connection too). Finishes r. */
static void client_abort(struct rq *r, const char *p, size_t n)
{
	proxy_cancel(r);
	r->answered = true;
	if (r->client && !r->client_gone) {
		hreq_abort(r->client, p, n);
		r->client = NULL;
	}
	srv_rq_finish(r);
}

/* A translated stream that failed after its reply started: the lines in
 * r->out (its error line) go out, then the connection is cut. */
static void ollama_stream_abort(struct rq *r)
{
	client_abort(r, r->out.buf, r->out.len);
	sbuf_release(&r->out);
}

/* ---- the Ollama translation of a stream ---- */

/* Sends the NDJSON lines collected in r->out. */
static void out_flush(struct rq *r)
{
	if (r->out.len) {
		client_send(r, r->out.buf, r->out.len, 200, "application/x-ndjson");
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

static void up_head_cb(struct hcli *c, void *arg)
{
	struct rq *r = arg;

	r->up_status = hcli_status(c);
	srv_bk_progress(srv_bk(r->s, r->model));
	if (r->answered || r->client_gone || is_ollama(r) || r->reply_started || !r->client)
		return;
	{
		const char *ct = hcli_header(c, "Content-Type");
		const char *cl = hcli_header(c, "Content-Length");

		/* OpenAI: passed through; the head goes out with the first
		 * bytes of the body, or at the end when there are none */
		if (cl)
			hreq_add_header(r->client, "Content-Length", cl);
		r->up_ctype_set = true;
		snprintf(r->up_ctype, sizeof(r->up_ctype), "%s", ct ? ct : "application/json");
	}
}

static void up_body_cb(struct hcli *c, void *arg, const char *p, size_t n)
{
	struct rq *r = arg;

	(void)c;
	srv_bk_progress(srv_bk(r->s, r->model));
	if (r->answered || r->client_gone)
		return;
	if (!is_ollama(r)) {
		client_send(r, p, n, r->up_status, r->reply_started ? NULL : r->up_ctype);
		return;
	}
	/* Ollama: a stream is translated event by event; the rest (and every
	 * error) is collected and translated whole */
	if (r->stream && r->up_status >= 200 && r->up_status < 300) {
		struct diag d;
		int e;

		diag_init(&d);
		e = tr_sse_feed(&r->sse, p, n, sse_event, r, &d);
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
	if (sbuf_add(&r->acc, p, n) < 0)
		proxy_fail(r, 502, "the backend's answer is too large");
}

/* The whole (non-streamed) Ollama answer, translated. */
static void ollama_finish_whole(struct rq *r)
{
	struct diag d;
	json_t *out = NULL;
	int e;

	diag_init(&d);
	if (r->up_status < 200 || r->up_status >= 300) {
		srv_rq_reply(r, r->up_status >= 400 ? r->up_status : 502,
			     tr_error_from_backend(r->up_status, r->acc.buf, r->acc.len));
		r->answered = true;
		return;
	}
	r->meta.now_ns = srv_wall_ns();
	e = tr_response(&r->meta, r->acc.buf, r->acc.len, &out, &d);
	if (e < 0)
		srv_rq_reply(r, e == -EPROTO ? 500 : 502, api_error_json(e == -EPROTO ? 500 : 502, true, d.msg));
	else
		srv_rq_reply(r, 200, out);
	r->answered = true;
}

static void up_done_cb(struct hcli *c, void *arg, int err)
{
	struct rq *r = arg;

	r->up_active = false;
	if (r->answered || r->client_gone) {
		if (!r->answered)
			srv_rq_finish(r);
		return;
	}
	if (err < 0 || r->up_status == 0) {
		proxy_fail(r, 502, "the backend closed the connection or sent a malformed answer (it may have crashed)");
		return;
	}
	/* read whole: the connection may serve the next request. Not after
	 * a chunked answer (a stream): cpp-httplib closes the connection
	 * once its content provider is done, without saying so, and a
	 * request sent on it before its end is seen fails */
	{
		const char *te = hcli_header(c, "Transfer-Encoding");

		r->up_reuse = hcli_reusable(c) && (!te || !strcasestr(te, "chunked"));
	}
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
		if (r->client) {
			if (r->up_ctype_set)
				hreq_add_header(r->client, "Content-Type", r->up_ctype);
			hreq_reply(r->client, r->up_status, NULL, 0);
			r->client = NULL;
		}
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
	 * gone and stops generating. No callback of it comes after this. */
	if (r->up_conn && r->up_active) {
		hcli_free(r->up_conn);
		r->up_conn = NULL;
		r->up_active = false;
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
		json_t *o = api_error_json(status, is_ollama(r), msg);
		char *txt = o && (r->stream || is_ollama(r)) ? json_dumps(o, JSON_COMPACT) : NULL;
		struct sbuf b;

		sbuf_init(&b, (size_t)1 << 20);
		if (txt)
			(void)!sbuf_addf(&b, is_ollama(r) ? "%s\n" : "data: %s\n\n", txt);
		free(txt);
		json_decref(o);
		client_abort(r, b.buf, b.len);
		sbuf_release(&b);
		return;
	}
	srv_rq_reply(r, status, api_error_json(status, is_ollama(r) || r->ollama_err, msg));
	r->answered = true;
	srv_rq_finish(r);
}

void proxy_start(struct rq *r)
{
	static const struct hcli_cbs up_cbs = { up_head_cb, up_body_cb, up_done_cb };
	struct srv *s = r->s;
	struct bk *b = srv_bk(s, r->model);
	int e;

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
	r->up_active = true;
	e = hcli_request(r->up_conn, r->body ? "POST" : "GET", r->path,
			 srv_bk_headers(b, r->stream ? BK_HDR_STREAM : BK_HDR_JSON), r->body,
			 r->body ? r->body_len : 0, 0, &up_cbs, r);
	if (e < 0) {
		r->up_active = false;
		proxy_fail(r, e == -ENOMEM ? 500 : 502, e == -ENOMEM ? "out of memory" : "cannot reach the backend");
	}
}
