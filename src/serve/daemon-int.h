/* daemon-int.h: the daemon's internal state, shared by daemon.c (loop,
 * backends, scheduler glue), api.c (routing, handlers) and proxy.c
 * (forwarding a request to its backend, translated or not). */
#ifndef LLMEM_SERVE_DAEMON_INT_H
#define LLMEM_SERVE_DAEMON_INT_H

#include "base/compat.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>

#include "base/sbuf.h"
#include "serve/backend.h"
#include "serve/daemon.h"
#include "serve/footprint.h"
#include "serve/http.h"
#include "serve/sched.h"
#include "serve/translate.h"

struct srv;

#define BK_POOL_MAX 16
#define BK_POOL_IDLE_MS 3000

enum bk_hdr {
	BK_HDR_GET,    /* llmem's own GET /health, /slots */
	BK_HDR_JSON,   /* a request's JSON body */
	BK_HDR_STREAM, /* the same, answered as a stream */
	BK_HDR_N
};

/* One backend: the llama-server of a loaded (or loading) model. */
struct bk {
	struct srv *s;
	size_t model;
	bool running;            /* a process exists (not yet reaped) */
	bool healthy;
	bool stopping;           /* SIGTERM sent */
	bool timed_out;          /* killed for not becoming healthy (in time,
	                          * or stalled while loading) */
	bool health_inflight;
	struct backend_proc proc;
	struct backend_log log;
	struct backend_report rep;
	struct event *ev_out;    /* its output is readable */
	struct event *ev_timer;  /* health poll, or the SIGKILL deadline */
	struct hcli *health_conn; /* llmem's own requests: GET /health while it
	                          * loads, GET /slots while it computes in silence */
	uint16_t port;
	uint32_t plan_id;
	struct serve_plan_info plan;
	int64_t started_ms, ready_ms, stop_deadline;
	uint64_t rss_anon, rss_file;
	uint64_t measured[SCHED_MAX_POOLS];
	bool has_measured;
	char exit_msg[SCHED_REASON_LEN];
	/* what the model is (from the hooks, once) */
	bool info_done;
	int info_err;
	struct serve_model_info info;
	char info_msg[SCHED_REASON_LEN];
	uint64_t n_requests;
	char key[40];            /* its --api-key: only llmem talks to it */
	unsigned bind_retries;   /* starts again after "couldn't bind" */
	unsigned plans_lost;     /* starts in a row whose plan was gone */
	struct footprint_key fkey; /* what its footprint is remembered by */
	bool has_fkey;
	/* idle keep-alive connections to it, as nginx keeps its upstream's:
	 * no connect per request. At most its slot count (each idle one
	 * holds one of llama-server's HTTP threads), dropped after
	 * BK_POOL_IDLE_MS (under cpp-httplib's 5 s keep-alive timeout) */
	struct hcli *pool[BK_POOL_MAX];
	int64_t pool_ms[BK_POOL_MAX]; /* when each went idle */
	size_t n_pool;
	uint32_t gen;            /* one per process started: pooled
	                          * connections belong to one */
	/* once it is healthy its log is read by a thread of its own
	 * (daemon.c, bk_log_main): while it runs, log, rep and proc's output
	 * are touched only under log_mu */
	pthread_t log_th;
	bool log_th_on;
	int log_stop[2];           /* a pipe: a byte in it stops the thread */
	pthread_mutex_t log_mu;
	_Atomic int64_t log_io_ms; /* the thread's last read with bytes */
	int64_t progress_ms;     /* its last sign of work while loading or busy */
	int64_t io_ms;           /* its last byte or log line (CPU time aside) */
	uint64_t cpu_ticks;      /* its CPU time then */
	bool cpu_stale;          /* cpu_ticks not read while it sent (bk_stalled) */
	bool stalled;            /* killed for a hang (B24) */
	char hdr[BK_HDR_N][160]; /* srv_bk_headers() */
};

enum rq_kind {
	RQ_OPENAI,          /* /v1/...: forwarded unchanged */
	RQ_OLLAMA_CHAT,     /* /api/chat */
	RQ_OLLAMA_GENERATE, /* /api/generate */
	RQ_OLLAMA_EMBED,    /* /api/embed */
	RQ_OLLAMA_EMBEDDINGS, /* /api/embeddings (legacy) */
	RQ_LOAD,            /* waits until the model is loaded, then answers */
};

/* One client request that needs a backend. */
struct rq {
	struct srv *s;
	struct rq *next, *prev;
	uint64_t id;
	size_t model;
	enum rq_kind kind;
	bool ollama_err;         /* errors in Ollama's form */
	struct hreq *client;     /* NULL once its reply is over or it left */
	bool client_gone;
	bool answered;           /* the reply is complete (or the client gone) */
	bool in_sched;           /* the scheduler knows it */
	bool done_told;          /* sched_request_done() called */
	bool finished;           /* srv_rq_finish() called: freed soon */
	struct rq *reap_next;
	int64_t t_arrive, t_dispatch;
	/* forwarding */
	char path[64];           /* backend path */
	char *body;              /* what to send */
	size_t body_len;
	bool stream;
	struct hcli *up_conn;
	uint32_t up_gen;         /* the backend process it belongs to */
	bool up_reuse;           /* a whole answer came: keep it alive */
	bool up_active;          /* its request is in flight */
	bool reply_started;
	bool paused;
	int up_status;
	char up_ctype[128];      /* the backend's Content-Type, passed on */
	bool up_ctype_set;
	struct sbuf acc;         /* a whole upstream body, when translated */
	struct tr_request tq;    /* an Ollama request, translated */
	bool has_tq;
	struct tr_meta meta;
	struct tr_sse sse;
	struct tr_stream ts;
	bool ts_init, sse_init;
	struct sbuf out;         /* NDJSON lines to send */
	/* RQ_LOAD */
	bool chat;               /* an Ollama /api/chat load: answer with a message */
	char model_name[TR_MODEL_MAX + 1];
};

struct srv {
	const struct serve_options *o;
	struct event_base *base;
	struct hsrv *http;
	struct sched sch;
	struct sched_action *act_v;
	struct sched_actions acts;
	size_t acts_done;
	bool in_actions;
	struct bk *bks;          /* one per registry model */
	struct rq rqs;           /* list head */
	uint64_t next_id;
	size_t n_rqs;
	struct event *ev_tick, *ev_term, *ev_int, *ev_chld, *ev_pressure;
	struct event *ev_watch;   /* hung backends, every second */
	bool stopping;
	int64_t started_ms;
	struct footprint_cache fc; /* measured footprints, across restarts */
	struct event *ev_fsave;   /* writes fc a moment after a change */
	bool fsave_pending;
	struct fsave_job *fsave_job; /* the file being written by fsave_tid */
	pthread_t fsave_tid;
	struct rq *reap;          /* finished requests, freed by ev_reap */
	struct event *ev_reap;
	char host_ok[64];         /* the last Host value allowed (most clients send one) */
	uint64_t n_http;          /* requests served */
	uint64_t n_rejected;
	struct srv_mem *mem;      /* memory pressure, cgroups (daemon-mem.c) */
};

/* daemon.c */
/* Before a request or load for model: when it is not loaded and its file
 * changed since it was read, its remembered plans and description go (B36). */
void srv_model_fresh(struct srv *s, size_t model);
int64_t srv_now(void);      /* monotonic ms */
int64_t srv_wall_ns(void);  /* CLOCK_REALTIME ns, for answers */
void srv_actions_run(struct srv *s);
struct bk *srv_bk(struct srv *s, size_t model);
/* b did some work for its requests (a byte came, a log line) */
void srv_bk_progress(struct bk *b);
/* Around any read of b's log or report (rep) from the loop while the
 * backend is healthy: its log thread writes them. */
void srv_bk_log_lock(const struct bk *b);
void srv_bk_log_unlock(const struct bk *b);
/* The header lines every request to b's backend carries ("Host: ...\r\n"
 * and its key's "Authorization: Bearer ...\r\n"), then those of the kind
 * of request; made once per process (port and key), owned by b. */
const char *srv_bk_headers(const struct bk *b, enum bk_hdr kind);
/* A connection to b's backend: an idle one from its pool, or a new one
 * (NULL: out of memory). srv_bk_conn_put() gives one back (gen: b->gen
 * when it was taken): kept when reuse (its last answer was read whole and
 * the backend keeps it open), else freed; when the backend closes it
 * after a whole answer, a new one is opened into the pool at once. */
struct hcli *srv_bk_conn_get(struct bk *b);
void srv_bk_conn_put(struct bk *b, struct hcli *c, uint32_t gen, bool reuse);
const struct serve_model_info *srv_model_info(struct srv *s, size_t model, const char **err);
/* r watches client from here: when it leaves, r is cancelled */
struct rq *srv_rq_new(struct srv *s, struct hreq *client, size_t model, enum rq_kind kind);
struct rq *srv_rq_find(struct srv *s, uint64_t id);
/* Tells the scheduler (once) and frees r from the loop, once the
 * callbacks now on the stack (its backend connection's, its client's)
 * have returned. */
void srv_rq_finish(struct rq *r);
/* The whole answer to r's client, unless it has left (body is taken
 * either way); r->client is no longer r's afterwards. */
void srv_rq_reply(struct rq *r, int status, json_t *body);
/* hreq_watch()'s gone callback of r's client (arg: r): r is cancelled */
void srv_client_gone(void *arg);

/* api.c */
void api_handle(struct hreq *req, void *arg);
/* The whole reply (req is no longer the caller's); NULL req: nothing */
void api_reply_json(struct hreq *req, int status, json_t *body);
void api_reply_error(struct hreq *req, int status, bool ollama, const char *fmt, ...)
	ATTR_PRINTF(4, 5);
/* An error body in OpenAI's or Ollama's form (what api_reply_error sends) */
json_t *api_error_json(int status, bool ollama, const char *msg);
json_t *api_status_json(struct srv *s);
void api_format_time(int64_t unix_ns, char *buf, size_t n);

/* metrics.c: answers GET /metrics (Prometheus text format) */
void metrics_reply(struct srv *s, struct hreq *req);

/* dashboard.c: answers GET / and the dashboard's other files (true) after
 * the Host and Origin checks, without the API key (the page asks for it);
 * false for any other path */
bool dashboard_reply(struct srv *s, struct hreq *req, const char *path);

/* daemon-mem.c: memory pressure (the budget hook, every second and on a
 * PSI trigger) and a memory cgroup per backend where delegated */
int srv_mem_start(struct srv *s);   /* once the loop exists; 0 or -ENOMEM */
void srv_mem_stop(struct srv *s);   /* after the backends are reaped */
void srv_mem_update(struct srv *s); /* reads the budgets now */
/* pthread_create() with every signal blocked in the thread (they are the
 * loop's, libevent's handlers): 0 or its error number */
int srv_thread_start(pthread_t *th, void *(*fn)(void *), void *arg);
/* a backend started or ended: the readings count the backends running now */
void srv_mem_backends_changed(struct srv *s);
/* Before backend_start(): the backend's cgroup, into sp->cgroup_procs */
void srv_cgroup_prepare(struct bk *b, struct backend_spec *sp);
/* backend_start() failed with e while sp->cgroup_procs was set: the
 * cgroup goes (the start is tried again without it) */
void srv_cgroup_failed(struct bk *b, int e);
/* After the backend exited: whether the kernel's OOM killer killed it in
 * its cgroup (msg says so, with the limit); the cgroup goes. */
bool srv_cgroup_exited(struct bk *b, char *msg, size_t n);
json_t *srv_pressure_json(struct srv *s);
json_t *srv_cgroup_json(struct srv *s);

/* proxy.c */
void proxy_start(struct rq *r);
/* Ends r with an error: a status reply if nothing was sent yet, else an
 * error event or line in the stream, then the connection is closed
 * without the reply's end, so the client sees the answer cut (B21). */
void proxy_fail(struct rq *r, int status, const char *msg);
void proxy_cancel(struct rq *r);

#endif
