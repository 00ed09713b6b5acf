/* translate.h: the serve daemon's protocol translation, pure: Ollama's API
 * (/api/chat, /api/generate, /api/embed, /api/embeddings) in, llama-server's
 * OpenAI-compatible API out, and its answers back in Ollama's form; an
 * incremental server-sent-events parser; the request checks (Host, Origin,
 * bearer key, model name). JSON is jansson's; there is no I/O, no clock (the
 * caller passes times in) and no global state. The daemon (serve/daemon.c)
 * moves the bytes.
 *
 * A request's life, for the daemon:
 *
 *   tr_request_parse(TR_API_CHAT, body, len, &req, &d)     400 + tr_error_ollama(d.msg) on error
 *   req.action == TR_ACT_LOAD / TR_ACT_UNLOAD:             load or unload req.model, answer
 *       tr_load_response(&meta, req.action)                (one JSON object, never a stream)
 *   else POST tr_backend_path(req.backend) with req.body (tr_dump()); then
 *     - a non-2xx answer: same status, tr_error_from_backend(status, body, len)
 *     - !req.stream: tr_response(&meta, body, len, &out, &d)
 *     - req.stream: tr_sse_feed() the body; each event's data to
 *       tr_stream_event(), which appends NDJSON lines to write; at EOF
 *       tr_stream_finish(). Content-Type: application/x-ndjson.
 *
 * Times are CLOCK_REALTIME nanoseconds since the epoch (created_at is made
 * from them; total_duration is now - start, never negative).
 *
 * Choices made here (Ollama's behaviour unless said):
 *  - stream defaults to true for chat and generate;
 *  - empty messages (chat) / empty prompt (generate) / empty input (embed,
 *    embeddings) = load only; with keep_alive under one second (Ollama
 *    truncates to whole seconds) = unload; negative keep_alive = forever;
 *  - options.num_ctx and the other load-time options are not applied (llmem
 *    plans the context); they are reported in req.num_ctx / req.ignored;
 *  - num_predict <= 0 = unlimited (max_tokens left out);
 *  - generate with raw: /v1/completions; with a suffix: llama-server's
 *    /infill (its own format, which tr_response/tr_stream read too);
 *    otherwise /v1/chat/completions with [system?, user];
 *  - images become data: URLs (image/png, jpeg, gif, webp or bmp by their
 *    first bytes); a client's URL is never passed on, so llama-server never
 *    fetches anything for a client;
 *  - tool-call arguments: Ollama's object <-> OpenAI's JSON string; an
 *    argument string from the backend that is not a JSON object is passed
 *    on as a string rather than dropped. */
#ifndef LLMEM_SERVE_TRANSLATE_H
#define LLMEM_SERVE_TRANSLATE_H

#include <jansson.h>

#include "base/compat.h"
#include "base/diag.h"
#include "base/sbuf.h"

#define TR_MODEL_MAX 200               /* bytes in a model name */
#define TR_IGNORED_MAX 240             /* bytes in tr_request.ignored */
#define TR_SSE_CAP (16u << 20)         /* default cap on one SSE event */
#define TR_STREAM_ACC_MAX (16u << 20)  /* tool-call text a stream may accumulate */
#define TR_TIME_LEN 36                 /* "2006-01-02T15:04:05.999999999Z" + NUL, rounded up */

enum tr_api {
	TR_API_CHAT,       /* POST /api/chat */
	TR_API_GENERATE,   /* POST /api/generate */
	TR_API_EMBED,      /* POST /api/embed */
	TR_API_EMBEDDINGS, /* POST /api/embeddings (legacy) */
};

enum tr_action {
	TR_ACT_INFER,  /* send req.body to the backend */
	TR_ACT_LOAD,   /* only load the model (and apply keep_alive) */
	TR_ACT_UNLOAD, /* only unload it */
};

enum tr_backend {
	TR_BE_NONE,
	TR_BE_CHAT,        /* POST /v1/chat/completions */
	TR_BE_COMPLETIONS, /* POST /v1/completions */
	TR_BE_INFILL,      /* POST /infill (llama-server's own format) */
	TR_BE_EMBEDDINGS,  /* POST /v1/embeddings */
};

/* The backend path for be ("/v1/chat/completions", ...; "" for NONE). */
const char *tr_backend_path(enum tr_backend be);

/* An Ollama request, translated. */
struct tr_request {
	enum tr_api api;
	enum tr_action action;
	enum tr_backend backend; /* TR_BE_NONE unless action == TR_ACT_INFER */
	json_t *body;            /* owned; the backend's request body, or NULL */
	char model[TR_MODEL_MAX + 1];
	bool stream;             /* answer as an NDJSON stream (body's "stream" matches) */
	bool keep_alive_set;     /* keep_alive given (and not null) */
	int64_t keep_alive_ms;   /* when set: >= 0 a duration, < 0 forever */
	int64_t num_ctx;         /* options.num_ctx, or 0: not applied */
	int64_t dimensions;      /* /api/embed "dimensions", 0 = all */
	bool truncate;           /* /api/embed "truncate" (default true); llama-server
	                          * cannot truncate: an input over its batch size gets
	                          * HTTP 500 "input (N tokens) is too large to process.
	                          * increase the physical batch size (...)" */
	char ignored[TR_IGNORED_MAX]; /* "num_ctx, template, ...": given, not applied */
};

/* Parses an Ollama request body (len bytes of JSON) for api into req (which
 * it initializes; release it even on failure). 0, or -EBADMSG (not JSON, a
 * field of the wrong type), -EINVAL (a bad value: model name, format,
 * keep_alive, think, base64 image), -ENOTSUP (something llmem cannot send
 * llama-server), -ENOMEM; d says which field and why, for a 400 answer. */
int tr_request_parse(enum tr_api api, const char *body, size_t len, struct tr_request *req,
		     struct diag *d) ATTR_WUR;

/* Frees req->body; req is left empty. */
void tr_request_release(struct tr_request *req);

/* What an answer needs to know about its request and times. */
struct tr_meta {
	const char *model;     /* echoed as "model"; not copied (the stream copies it) */
	enum tr_api api;
	enum tr_backend backend;
	int64_t start_ns;      /* when the request arrived */
	int64_t now_ns;        /* now (tr_response, tr_load_response only) */
	int64_t load_ns;       /* load_duration: time spent loading the model for it */
	int64_t dimensions;    /* from the request: embeddings cut to this many, renormalized */
};

/* Fills m from req (m->model points into req) with the given times. */
void tr_meta_init(struct tr_meta *m, const struct tr_request *req, int64_t start_ns,
		  int64_t now_ns, int64_t load_ns);

/* A whole (non-streamed) backend answer (2xx, len bytes) in Ollama's form for
 * m->api: /api/chat {model, created_at, message{role, content, thinking?,
 * tool_calls?}, done_reason, done, total_duration, load_duration,
 * prompt_eval_count, prompt_eval_duration, eval_count, eval_duration};
 * /api/generate {model, created_at, response, thinking?, done, done_reason,
 * ...}; /api/embed {model, embeddings, total_duration, load_duration,
 * prompt_eval_count}; /api/embeddings {embedding}. Counts and durations come
 * from llama-server's usage and timings (durations 0 without timings).
 * 0 (*out new, the caller's), -EBADMSG (not the expected shape; d says what),
 * -EPROTO (the body is an error object; d has its message), -ENOMEM. */
int tr_response(const struct tr_meta *m, const char *body, size_t len, json_t **out,
		struct diag *d) ATTR_WUR;

/* The answer to a load or unload request (act): chat and generate as
 * Ollama's, done:true with done_reason "load"/"unload"; embed
 * {model, embeddings:[]}; embeddings {embedding:[]}. NULL if out of memory. */
json_t *tr_load_response(const struct tr_meta *m, enum tr_action act);

/* A streamed answer. tr_stream_event() takes each SSE event's data and
 * appends 0 or more NDJSON lines (each ending "\n") to out: a done:false line
 * per piece of content or thinking, one with the tool calls (complete, when
 * the backend finishes them), and the final done:true line with done_reason
 * and the counts when the backend's stream ends ("[DONE]", or for /infill its
 * "stop":true event). The backend's last events carry the counts:
 * llama-server sends the finish_reason chunk, then (with include_usage, which
 * the request sets) a usage chunk with "choices":[] and "timings", then
 * "[DONE]". tr_stream_finish() is for the end of the body: it writes the
 * final line if the backend finished but sent no "[DONE]", an error line if
 * it stopped short; after a final line both do nothing.
 *
 * Both return 0, or a negative errno after appending an Ollama error line
 * ({"error":"..."}) to out when they can: -EPROTO the backend reported an
 * error mid-stream (llama-server sends data: {"error":{...}} and ends the
 * stream without "[DONE]"), -EBADMSG a malformed event, -EPIPE the stream
 * ended before the backend finished, -E2BIG over TR_STREAM_ACC_MAX, -ENOMEM.
 * After a negative return the stream is over: write out, end the response. */
struct tr_counts {
	bool usage, timings;                      /* which of the two the backend sent */
	int64_t prompt_tokens, completion_tokens; /* usage (or /infill's tokens_*) */
	int64_t prompt_n, cache_n, predicted_n;   /* timings */
	double prompt_ms, predicted_ms;
};

struct tr_stream {
	struct tr_meta meta;
	char model[TR_MODEL_MAX + 1];
	bool done;         /* the final line or an error line was written */
	bool failed;       /* ... an error line */
	bool finished;     /* the backend said why it stopped */
	char done_reason[24];
	struct tr_counts counts;
	json_t *calls;     /* tool calls being put together, OpenAI-shaped */
	size_t acc;        /* bytes of tool-call text in calls */
};

void tr_stream_init(struct tr_stream *st, const struct tr_meta *m);
void tr_stream_release(struct tr_stream *st);
int tr_stream_event(struct tr_stream *st, const char *data, size_t len, int64_t now_ns,
		    struct sbuf *out, struct diag *d) ATTR_WUR;
int tr_stream_finish(struct tr_stream *st, int64_t now_ns, struct sbuf *out,
		     struct diag *d) ATTR_WUR;

/* Incremental server-sent-events parser (the WHATWG rules): feed it the
 * body in chunks of any size; it calls fn once per complete event that has
 * data, with the event's type ("message" when none was given) and its data
 * (the "data:" lines joined with "\n", NUL-terminated, len without it).
 * Lines end in "\n", "\r\n" or "\r"; ":" lines are comments (llama-server's
 * keep-alive pings); "id", "retry" and unknown fields are ignored; events
 * without data are dropped; a leading UTF-8 BOM is skipped. One event (its
 * lines and data) must stay under cap bytes: at cap, -E2BIG before anything
 * more is buffered (so a body without newlines costs at most cap bytes; each
 * of the two buffers allocates at most cap when cap is a power of two). */
typedef int (*tr_sse_fn)(void *arg, const char *event, const char *data, size_t len);

struct tr_sse {
	struct sbuf line;  /* the line being read */
	struct sbuf data;  /* the event's data so far */
	char event[64];    /* the event's type so far ("" = message) */
	size_t cap;
	bool cr;           /* the last byte was "\r": a "\n" next is part of it */
	bool started;      /* past a possible BOM */
	int error;         /* sticky: feeding after an error returns it */
	uint64_t offset;   /* bytes fed */
};

void tr_sse_init(struct tr_sse *s, size_t cap);
void tr_sse_release(struct tr_sse *s);

/* Parses len bytes. 0; or fn's return value if fn returns nonzero (parsing
 * stops there, and the parser stays stopped); or -E2BIG, -ENOMEM (d says
 * where). */
int tr_sse_feed(struct tr_sse *s, const void *buf, size_t len, tr_sse_fn fn, void *arg,
		struct diag *d) ATTR_WUR;

/* At the end of the body: 0 if it ended between events, -EPIPE if inside
 * one (whose data is dropped, as the spec says). */
int tr_sse_end(struct tr_sse *s, struct diag *d) ATTR_WUR;

/* Whether data is OpenAI's end-of-stream sentinel "[DONE]". */
bool tr_sse_is_done(const char *data, size_t len);

/* keep_alive (v may be NULL: absent), as Ollama's api.Duration: a number is
 * seconds (fractions allowed); a string is a Go duration ("5m", "1h30m",
 * "300ms", "-1m", "0") or, as OLLAMA_KEEP_ALIVE takes it, a bare number of
 * seconds ("300", "2.5"); null is absent. Any negative value = forever:
 * *ms = -1. *present says whether it was given. 0, or -EINVAL (junk, wrong
 * type) / -ERANGE (over int64 nanoseconds) with d saying why. */
int tr_keep_alive(const json_t *v, int64_t *ms, bool *present, struct diag *d) ATTR_WUR;

/* Go's time.ParseDuration, exactly: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ or "0",
 * units ns us µs μs ms s m h, overflow past int64 nanoseconds an error.
 * 0 or -EINVAL / -ERANGE. */
int tr_go_duration(const char *s, size_t len, int64_t *ns, struct diag *d) ATTR_WUR;

/* Formats ns (since the epoch) as Go's RFC3339Nano in UTC, as Ollama's
 * created_at: "2023-08-04T19:22:45.499127Z" (trailing zeros of the fraction
 * dropped, no fraction when whole). Returns the length, or -ENOSPC when size
 * < TR_TIME_LEN. */
int tr_time_rfc3339(int64_t ns, char *buf, size_t size);

/* Error bodies. {"error":"msg"}: Ollama's form. */
json_t *tr_error_ollama(const char *msg);

/* A backend's non-2xx answer (status, len bytes: OpenAI's
 * {"error":{"message","type","code"}}, llama-server's variants, or plain
 * text) as {"error":"message"}; the message is cleaned (no control bytes)
 * and cut to 400 bytes; an empty or unreadable body gives
 * "the model's backend failed (HTTP <status>)". NULL if out of memory. */
json_t *tr_error_from_backend(int status, const char *body, size_t len);

/* llmem's own error in OpenAI's (and llama-server's) form:
 * {"error":{"message":msg,"type":T,"code":status}}, T by status: 400
 * invalid_request_error, 401 authentication_error, 403 permission_error, 404
 * not_found_error, 429 rate_limit_error, 501 not_supported_error, 503
 * unavailable_error, else server_error. NULL if out of memory. */
json_t *tr_error_openai(int status, const char *msg);

/* The JSON text of a request v for the backend, compact, every real exact
 * (15 significant digits where that reads back the same, else 17):
 * malloc'd (free()), *len its length; NULL if out of memory. */
char *tr_dump(const json_t *v, size_t *len);

/* Appends the JSON text of an answer v and "\n" to out: compact, reals
 * with 9 significant digits (exact for float32 embeddings, "0.8" stays
 * "0.8"). 0, -E2BIG, -ENOMEM. */
int tr_dump_line(const json_t *v, struct sbuf *out) ATTR_WUR;

/* DNS-rebinding defence: whether a request's Host header may be served.
 *  - bound to anything but loopback (0.0.0.0, ::, a LAN address, a name
 *    other than localhost): every Host, as Ollama; the server is reachable by
 *    any name then, and --api-key is the defence;
 *  - bound to loopback (127.0.0.0/8, ::1, "localhost"; NULL counts as
 *    loopback): no Host (HTTP/1.0), any IP literal (v4, or v6 in brackets:
 *    a rebinding page's origin is always a name), "localhost" and
 *    "*.localhost" (RFC 6761), case-insensitive, one trailing dot allowed;
 *    each with no port or ":port" equal to port. Other names are refused. */
bool tr_host_allowed(const char *host_header, const char *bind_addr, uint16_t port);

/* CORS: whether a browser page of this Origin may use the API. No Origin
 * (NULL or "": not a browser) is allowed. Allowed by default, as Ollama's
 * OLLAMA_ORIGINS defaults: http:// and https:// localhost, 127.0.0.1,
 * 0.0.0.0 (and [::1]) with no port or a numeric one, and app://, file://,
 * tauri://, vscode-webview://, vscode-file:// anything. Then allow[0..n):
 * patterns compared case-insensitively, "*" matching any run of characters
 * ("*" alone: everything; "https://" "*.example.com"). */
bool tr_origin_allowed(const char *origin, const char *const *allow, size_t n);

/* Whether an Authorization header is "Bearer <key>" (scheme any case),
 * compared in time that does not depend on where they differ. A NULL or
 * empty key matches nothing: skip the check when no key is configured. */
bool tr_bearer_ok(const char *authorization, const char *key);

/* Whether s can be a model name: 1 to TR_MODEL_MAX bytes of valid UTF-8,
 * no control characters (C0, DEL, C1), no leading or trailing space. Whether
 * such a model exists is the registry's question. */
bool tr_model_name_ok(const char *s);

#endif
