/* daemon.c: `llmem serve`'s event loop: starts and watches the llama-server
 * backends, carries out the scheduler's actions, and feeds it the events
 * (requests, loads, exits, time). HTTP handling is in api.c, forwarding
 * in proxy.c. Backends run in their own process groups with a parent-death
 * signal, and are stopped (SIGTERM, then SIGKILL) when the daemon stops,
 * so none outlives it. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>

#include "serve/daemon-int.h"

#define HEALTH_POLL_MS 20
#define TICK_MAX_MS 1000
#define WATCH_MS 1000 /* the watchdog's period (watch_cb) */

int64_t srv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t srv_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timeval ms_tv(int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

struct bk *srv_bk(struct srv *s, size_t model)
{
	return &s->bks[model];
}

void srv_model_fresh(struct srv *s, size_t model)
{
	const struct serve_hooks *h = &s->o->hooks;
	enum sched_state st = s->sch.models[model].state;

	if (!h->model_changed || st == SCHED_READY || st == SCHED_LOADING || st == SCHED_UNLOADING)
		return;
	if (h->model_changed(h->ctx, model)) {
		sched_replan(&s->sch, model);
		s->bks[model].info_done = false;
	}
}

void srv_bk_progress(struct bk *b)
{
	b->progress_ms = b->io_ms = srv_now();
}

/* The log thread's last read with bytes (bk_log_main) counts as the
 * backend's sign of life too: folded into io_ms where the watchdog looks. */
static void bk_log_progress(struct bk *b)
{
	int64_t t = atomic_load(&b->log_io_ms);

	if (t > b->io_ms)
		b->progress_ms = b->io_ms = t;
}

/* The header lines of every request to b's backend, made when its port
 * and key are chosen (bk_start). */
static void bk_headers_make(struct bk *b)
{
	static const char *const tail[BK_HDR_N] = {
		"", "Content-Type: application/json\r\n",
		"Content-Type: application/json\r\nAccept: text/event-stream\r\n",
	};

	for (int i = 0; i < BK_HDR_N; i++)
		snprintf(b->hdr[i], sizeof(b->hdr[i]), "Host: 127.0.0.1:%u\r\n%s%s%s%s", b->port,
			 b->key[0] ? "Authorization: Bearer " : "", b->key, b->key[0] ? "\r\n" : "", tail[i]);
}

const char *srv_bk_headers(const struct bk *b, enum bk_hdr kind)
{
	return b->hdr[kind];
}

/* Whether b has shown no work for stall_timeout_ms: CPU time is work
 * too (log lines and bytes are noted where they arrive). */
static bool bk_stalled(struct srv *s, struct bk *b, int64_t now)
{
	uint64_t t;

	/* a byte or a log line since the last look is progress enough:
	 * /proc is read (on the loop, in the way of requests) only when
	 * they are missing */
	if (now - b->io_ms < WATCH_MS) {
		b->cpu_stale = true;
		return false;
	}
	if (backend_cpu(b->proc.pid, NULL, &t) == 0) {
		if (b->cpu_stale) {
			/* the CPU time it used while it sent is no news:
			 * counted from here, the stall from its last byte
			 * (progress_ms) */
			b->cpu_ticks = t;
			b->cpu_stale = false;
		} else if (t != b->cpu_ticks) {
			b->cpu_ticks = t;
			b->progress_ms = now;
			return false;
		}
	}
	return s->o->stall_timeout_ms > 0 && now - b->progress_ms >= s->o->stall_timeout_ms;
}

/* The answer to GET /slots of a backend that computes in silence. Only
 * llama-server's main loop answers it (a task on its queue, between two
 * decode calls): an answer, whatever its status, says the loop still
 * turns; none in 3 x stall_timeout says it is stuck in a call that
 * never returns while spinning a CPU, a busy-wait on a lost GPU (B24). */
static void bk_probe_done(struct hcli *c, void *arg, int err)
{
	struct bk *b = arg;
	struct srv *s = b->s;

	(void)c;
	b->health_inflight = false;
	if (!b->running || b->stopping || b->stalled)
		return;
	if (err == 0) {
		b->io_ms = srv_now();
		return;
	}
	if (err != -ETIMEDOUT || s->sch.models[b->model].busy == 0)
		return; /* it went away, or idle meanwhile: the exit or the next probe tells */
	b->stalled = true;
	msgf(b->exit_msg, sizeof(b->exit_msg),
	     "hung: busy on the CPU, but no answer, log line or reply to GET /slots for %lld s with %u request(s) in flight: killed",
	     (long long)((srv_now() - b->io_ms) / 1000), s->sch.models[b->model].busy);
	(void)!backend_signal(&b->proc, SIGKILL);
}

/* A request of llmem's own to b's backend on its control connection
 * (GET /health while it loads, GET /slots while it computes in silence):
 * true when it went out, else nothing is in flight. */
static bool bk_ctl(struct bk *b, const char *path, int64_t timeout_ms, const struct hcli_cbs *cbs)
{
	if (b->health_inflight)
		return false;
	if (!b->health_conn)
		b->health_conn = hcli_new(b->s->base, b->port);
	if (!b->health_conn)
		return false;
	b->health_inflight = hcli_request(b->health_conn, "GET", path, srv_bk_headers(b, BK_HDR_GET), NULL, 0,
					  timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms, cbs, b) == 0;
	return b->health_inflight;
}

static void bk_probe(struct srv *s, struct bk *b)
{
	static const struct hcli_cbs cbs = { NULL, NULL, bk_probe_done };

	(void)bk_ctl(b, "/slots", 3 * s->o->stall_timeout_ms, &cbs);
}

/* A backend answering requests shows work: bytes on its connections, log
 * lines, or CPU time (a long prompt on a CPU sends nothing for minutes,
 * but computes). None of the three for stall_timeout_ms while requests
 * are in flight: it is hung (a deadlock, a lost device), and its requests
 * would wait for ever. It is killed; its requests get an error, and the
 * scheduler treats it as a crash (B24). A backend still loading shows
 * work the same way (reading a file from disk is CPU time in the kernel,
 * page faults included): none for stall_timeout_ms and the load has
 * stalled (a dead network mount, a lost device); it is killed as a load
 * that timed out, long before --load-timeout, which stays the cap for a
 * load that keeps working (B25). */
static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	int64_t now = srv_now();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < s->o->reg->n; i++) {
		struct bk *b = &s->bks[i];
		bool loading = b->running && !b->healthy && !b->stopping && !b->timed_out;

		bk_log_progress(b);
		if (!loading && (!b->running || !b->healthy || b->stopping || b->stalled))
			continue;
		if (!loading && s->sch.models[i].busy == 0) {
			b->progress_ms = b->io_ms = now;
			continue;
		}
		if (!bk_stalled(s, b, now)) {
			/* CPU time, but no byte or log line for as long: ask its
			 * main loop whether it turns */
			if (!loading && s->o->stall_timeout_ms > 0 && now - b->io_ms >= s->o->stall_timeout_ms)
				bk_probe(s, b);
			continue;
		}
		if (loading) {
			b->timed_out = true;
			msgf(b->exit_msg, sizeof(b->exit_msg),
			     "stalled while loading: no log line or CPU time for %lld s: killed",
			     (long long)((now - b->progress_ms) / 1000));
		} else {
			b->stalled = true;
			msgf(b->exit_msg, sizeof(b->exit_msg),
			     "hung: no answer, log line or CPU time for %lld s with %u request(s) in flight: killed",
			     (long long)((now - b->progress_ms) / 1000), s->sch.models[i].busy);
		}
		(void)!backend_signal(&b->proc, SIGKILL);
	}
}

static void bk_pool_drop(struct bk *b)
{
	for (size_t i = 0; i < b->n_pool; i++)
		hcli_free(b->pool[i]);
	b->n_pool = 0;
}

struct hcli *srv_bk_conn_get(struct bk *b)
{
	int64_t now = srv_now();

	/* the newest first; an older one may be near the backend's own
	 * keep-alive timeout; one it closed meanwhile is dropped (and one
	 * it closes as the request goes out is retried by hcli) */
	while (b->n_pool > 0) {
		size_t i = --b->n_pool;

		if (now - b->pool_ms[i] <= BK_POOL_IDLE_MS && hcli_reusable(b->pool[i]))
			return b->pool[i];
		hcli_free(b->pool[i]);
	}
	return hcli_new(b->s->base, b->port);
}

/* Keeps c idle in b's pool when there is room (at most its slots): true,
 * or false and c is still the caller's. */
static bool bk_pool_keep(struct bk *b, struct hcli *c)
{
	size_t cap = b->plan.slots == 0 ? 1 : b->plan.slots < BK_POOL_MAX ? b->plan.slots : BK_POOL_MAX;

	if (b->n_pool >= cap)
		return false;
	b->pool[b->n_pool] = c;
	b->pool_ms[b->n_pool] = srv_now();
	b->n_pool++;
	return true;
}

void srv_bk_conn_put(struct bk *b, struct hcli *c, uint32_t gen, bool reuse)
{
	bool live = gen == b->gen && b->running && b->healthy && !b->stopping && !b->s->stopping, reopen;

	if (!c)
		return;
	if (live && reuse && hcli_reusable(c) && bk_pool_keep(b, c))
		return;
	/* The backend closes it after a whole answer (cpp-httplib does after
	 * 100 requests on one connection, and after every stream): the next
	 * one is opened now, while nothing waits, rather than by the next
	 * request (180 us here: on one request in a hundred, a p99) */
	reopen = live && hcli_answered(c) && (!reuse || !hcli_reusable(c));
	hcli_free(c);
	if (reopen) {
		struct hcli *n = hcli_new(b->s->base, b->port);

		if (n && (hcli_open(n) < 0 || !bk_pool_keep(b, n)))
			hcli_free(n);
	}
}

const struct serve_model_info *srv_model_info(struct srv *s, size_t model, const char **err)
{
	struct bk *b = &s->bks[model];

	if (!b->info_done) {
		b->info_done = true;
		b->info_err = s->o->hooks.model_info(s->o->hooks.ctx, model, &b->info, b->info_msg,
						     sizeof(b->info_msg));
	}
	if (b->info_err < 0) {
		if (err)
			*err = b->info_msg;
		return NULL;
	}
	return &b->info;
}

/* ---- requests ---- */

struct rq *srv_rq_new(struct srv *s, struct hreq *client, size_t model, enum rq_kind kind)
{
	struct rq *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->s = s;
	r->id = ++s->next_id;
	r->model = model;
	r->kind = kind;
	r->client = client;
	if (client)
		hreq_watch(client, NULL, srv_client_gone, r);
	r->t_arrive = srv_now();
	sbuf_init(&r->acc, (size_t)256 << 20);
	sbuf_init(&r->out, (size_t)64 << 20);
	r->next = s->rqs.next;
	r->prev = &s->rqs;
	s->rqs.next->prev = r;
	s->rqs.next = r;
	s->n_rqs++;
	return r;
}

struct rq *srv_rq_find(struct srv *s, uint64_t id)
{
	for (struct rq *r = s->rqs.next; r != &s->rqs; r = r->next)
		if (r->id == id && !r->finished)
			return r;
	return NULL;
}


static void rq_free(struct rq *r)
{
	if (r->up_conn && !r->up_active)
		srv_bk_conn_put(srv_bk(r->s, r->model), r->up_conn, r->up_gen, r->up_reuse);
	else if (r->up_conn)
		hcli_free(r->up_conn);
	r->up_conn = NULL;
	r->next->prev = r->prev;
	r->prev->next = r->next;
	r->s->n_rqs--;
	sbuf_release(&r->acc);
	sbuf_release(&r->out);
	if (r->sse_init)
		tr_sse_release(&r->sse);
	if (r->ts_init)
		tr_stream_release(&r->ts);
	if (r->has_tq)
		tr_request_release(&r->tq);
	free(r->body);
	free(r);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	(void)fd;
	(void)what;
	while (s->reap) {
		struct rq *r = s->reap;

		s->reap = r->reap_next;
		rq_free(r);
	}
}

void srv_rq_finish(struct rq *r)
{
	struct srv *s = r->s;

	if (r->finished)
		return;
	r->finished = true;
	if (r->client) {
		/* ended without its reply's end (a path that forgot it): the
		 * client sees it cut rather than waiting */
		hreq_abort(r->client, NULL, 0);
		r->client = NULL;
	}
	r->answered = true;
	if (r->in_sched && !r->done_told) {
		r->done_told = true;
		sched_request_done(&s->sch, srv_now(), r->id, &s->acts);
	}
	/* a callback of r's backend connection or client may be on the
	 * stack, and use r after this returns: r is freed from the loop
	 * (one event for all, no allocation per request) */
	r->reap_next = s->reap;
	s->reap = r;
	event_active(s->ev_reap, EV_TIMEOUT, 0);
	srv_actions_run(s);
}

void srv_rq_reply(struct rq *r, int status, json_t *body)
{
	api_reply_json(r->client_gone ? NULL : r->client, status, body);
	r->client = NULL;
}

/* The client left (closed, broke, or stalled past the timeout) before its
 * answer was complete, whether r is queued, loading or streaming: r is
 * cancelled (a queued request never loads its model for no one, B17). */
void srv_client_gone(void *arg)
{
	struct rq *r = arg;

	r->client = NULL;
	if (r->finished)
		return;
	r->client_gone = true;
	proxy_cancel(r);
	srv_rq_finish(r);
}

/* An explicit load (POST /models/load, an Ollama request with no prompt)
 * is a request that needs its model and nothing else: dispatched means
 * loaded. */
static void load_reply(struct rq *r)
{
	if (r->client_gone) {
		srv_rq_finish(r);
		return;
	}
	if (r->has_tq) {
		r->meta.now_ns = srv_wall_ns();
		r->meta.load_ns = (r->t_dispatch - r->t_arrive) * 1000000;
		srv_rq_reply(r, 200, tr_load_response(&r->meta, TR_ACT_LOAD));
	} else {
		json_t *o = json_object();

		json_object_set_new(o, "success", json_true());
		json_object_set_new(o, "model", json_string(r->model_name));
		srv_rq_reply(r, 200, o);
	}
	r->answered = true;
	srv_rq_finish(r);
}

/* ---- backends ---- */

static void bk_timer_cb(evutil_socket_t fd, short what, void *arg);
static void bk_out_cb(evutil_socket_t fd, short what, void *arg);

static void bk_log_stop(struct bk *b);

static void bk_clear(struct bk *b)
{
	if (b->ev_out) {
		event_free(b->ev_out);
		b->ev_out = NULL;
	}
	if (b->ev_timer)
		evtimer_del(b->ev_timer);
	if (b->health_conn) {
		hcli_free(b->health_conn);
		b->health_conn = NULL;
	}
	b->health_inflight = false;
	bk_pool_drop(b);
	bk_log_stop(b);
	if (b->proc.out_fd >= 0) {
		close(b->proc.out_fd);
		b->proc.out_fd = -1;
	}
}

static void bk_arm(struct bk *b, int64_t ms)
{
	struct timeval tv = ms_tv(ms);

	evtimer_add(b->ev_timer, &tv);
}

extern char **environ;

/* Variables of the daemon's environment a backend does not get: llama-server
 * reads LLAMA_ARG_* for the options not on its command line, and these
 * would change where it listens, its key, or what it exposes (B40), or
 * the memory it takes: the plan writes only what differs from llama-server's
 * defaults, so an exported LLAMA_ARG_CACHE_TYPE_K=f32 or LLAMA_ARG_UBATCH
 * would load something else than was planned (a preset says them). An
 * entry without '=' drops every name it begins. */
static const char *const env_dropped[] = {
	"LLAMA_API_KEY=", "LLAMA_ARG_API_KEY_FILE=", "LLAMA_ARG_HOST=", "LLAMA_ARG_PORT=",
	"LLAMA_ARG_RPC=", "LLAMA_ARG_ENDPOINT_PROPS=", "LLAMA_ARG_TOOLS", "LLAMA_ARG_MCP_",
	"LLAMA_ARG_AGENT=", "LLAMA_ARG_UI_MCP_PROXY=", "LLAMA_ARG_SSL_", "LLAMA_ARG_API_PREFIX=",
	/* memory */
	"LLAMA_ARG_CTX_SIZE=", "LLAMA_ARG_KV_UNIFIED", "LLAMA_ARG_BATCH=", "LLAMA_ARG_UBATCH=",
	"LLAMA_ARG_SWA_FULL=", "LLAMA_ARG_FLASH_ATTN=", "LLAMA_ARG_POOLING=", "LLAMA_ARG_KV_OFFLOAD=",
	"LLAMA_ARG_REPACK=", "LLAMA_ARG_CACHE_TYPE_K=", "LLAMA_ARG_CACHE_TYPE_V=",
	"LLAMA_ARG_N_PARALLEL=", "LLAMA_ARG_LOAD_MODE=", "LLAMA_ARG_OVERRIDE_TENSOR=",
	"LLAMA_ARG_CPU_MOE=", "LLAMA_ARG_N_CPU_MOE=", "LLAMA_ARG_N_GPU_LAYERS=",
	"LLAMA_ARG_SPLIT_MODE=", "LLAMA_ARG_TENSOR_SPLIT=", "LLAMA_ARG_MAIN_GPU=", "LLAMA_ARG_FIT",
	"LLAMA_ARG_EMBEDDINGS=", "LLAMA_ARG_RERANKING=", "LLAMA_ARG_CACHE_RAM=", "LLAMA_ARG_N_CPU_FFN=",
	"LLAMA_ARG_MMPROJ", "MTMD_BACKEND_DEVICE=", "LLAMA_ARG_SPEC_DRAFT_", "LLAMA_ARG_N_GPU_LAYERS_DRAFT=",
	"LLAMA_ARG_NO_MMPROJ",
};

/* A backend's environment (malloc'd; its strings are environ's and
 * keyvar): the daemon's less env_dropped, plus LLAMA_API_KEY=key, its key
 * given there rather than on its command line, which every user of the
 * machine can read in /proc (B4). */
static char **bk_env(const char *key, char *keyvar, size_t n)
{
	size_t c = 0, k = 0;
	char **v;

	while (environ && environ[c])
		c++;
	v = malloc((c + 3) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < c; i++) {
		bool drop = false;

		for (size_t j = 0; j < ARRAY_SIZE(env_dropped) && !drop; j++)
			drop = !strncmp(environ[i], env_dropped[j], strlen(env_dropped[j]));
		if (!drop)
			v[k++] = environ[i];
	}
	if (key && key[0]) {
		snprintf(keyvar, n, "LLAMA_API_KEY=%s", key);
		v[k++] = keyvar;
	}
	/* the plan names GPUs in PCI order (NVML's), and so must CUDA, which
	 * numbers them fastest first by default (probe: cuda_order_note) */
	if (!getenv("CUDA_DEVICE_ORDER"))
		v[k++] = (char *)"CUDA_DEVICE_ORDER=PCI_BUS_ID";
	v[k] = NULL;
	return v;
}

/* A backend's command line: llmem's options, then the plan's and the
 * preset's (extra). Returns the count; argv[count] is NULL. The key goes
 * in its environment (bk_env()); key here is only for tests of its
 * presence (a NULL key and a key give the same list). */
static size_t build_argv(struct srv *s, size_t model, const char *port, const char *key,
			 const char **extra, int k, const char **argv)
{
	const struct reg_model *rm = &s->o->reg->v[model];
	size_t n = 0;

	argv[n++] = s->o->backend;
	argv[n++] = "-m";
	argv[n++] = rm->path;
	argv[n++] = "--host";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--alias";
	argv[n++] = rm->name;
	argv[n++] = "--fit";
	argv[n++] = "off";
	/* info-level logging: the buffer sizes llmem reads back */
	argv[n++] = "-lv";
	argv[n++] = "4";
	argv[n++] = "--offline";
	(void)key;
	/* a projector, unless the preset turns it off (llama-server would
	 * load one it is given anyway) */
	if (rm->mmproj[0] && !reg_model_no_mmproj(rm)) {
		argv[n++] = "--mmproj";
		argv[n++] = rm->mmproj;
	}
	for (int i = 0; i < k && n < SERVE_MAX_ARGS + 15; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return n;
}

static void bk_start(struct srv *s, size_t model, uint32_t plan_id)
{
	struct bk *b = &s->bks[model];
	const struct reg_model *rm = &s->o->reg->v[model];
	const char *argv[SERVE_MAX_ARGS + 16], *extra[SERVE_MAX_ARGS];
	char port[16], keyvar[64], **envp;
	struct backend_spec sp;
	size_t n = 0;
	int k, e;

	backend_log_release(&b->log);
	backend_log_init(&b->log);
	memset(&b->rep, 0, sizeof(b->rep));
	b->healthy = b->stopping = b->timed_out = false;
	b->has_measured = false;
	b->exit_msg[0] = '\0';
	b->plan_id = plan_id;
	memset(&b->plan, 0, sizeof(b->plan));
	k = s->o->hooks.plan_info(s->o->hooks.ctx, model, plan_id, &b->plan);
	if (k == -ENOENT && b->plans_lost < 3) {
		/* the planner keeps a few plans, and the scheduler remembered
		 * this one longer (a bind retry, or its best plan while it
		 * kept planning smaller ones): plan again, at once */
		b->plans_lost++;
		sched_plan_lost(&s->sch, srv_now(), model, &s->acts);
		return;
	}
	e = backend_pick_port(&b->port);
	if (e < 0)
		goto fail;
	snprintf(port, sizeof(port), "%u", b->port);
	/* a key of its own: nothing but llmem can use the backend's port */
	{
		uint8_t rnd[16];

		b->key[0] = '\0';
		if (getrandom(rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd))
			for (size_t i = 0; i < sizeof(rnd); i++)
				snprintf(b->key + 2 * i, 3, "%02x", rnd[i]);
	}
	bk_headers_make(b);
	k = s->o->hooks.plan_args(s->o->hooks.ctx, model, plan_id, extra, SERVE_MAX_ARGS);
	if (k < 0) {
		e = k;
		goto fail;
	}
	b->plans_lost = 0;
	n = build_argv(s, model, port, b->key, extra, k, argv);
	argv[n] = NULL;
	/* the footprint is remembered by the model and the arguments that
	 * shape it (not the port, nor the key) */
	{
		char *fargs[SERVE_MAX_ARGS + 16];
		size_t fn = 0;

		for (size_t i = 1; i < n; i++) {
			if (!strcmp(argv[i], "--api-key")) {
				i++;
				continue;
			}
			fargs[fn++] = (char *)argv[i];
		}
		b->has_fkey = footprint_key_make(&b->fkey, rm->path, s->o->backend, fargs, fn) == 0;
	}
	memset(&sp, 0, sizeof(sp));
	sp.exe = s->o->backend;
	sp.argv = (char *const *)argv;
	envp = bk_env(b->key, keyvar, sizeof(keyvar));
	if (!envp) {
		e = -ENOMEM;
		goto fail;
	}
	sp.envp = envp;
	srv_cgroup_prepare(b, &sp);
	e = backend_start(&sp, &b->proc);
	if (e < 0 && sp.cgroup_procs) {
		srv_cgroup_failed(b, e);
		sp.cgroup_procs = NULL;
		e = backend_start(&sp, &b->proc);
	}
	free(envp);
	if (e < 0)
		goto fail;
	b->running = true;
	srv_mem_backends_changed(s);
	b->stalled = false;
	b->gen++;
	b->started_ms = srv_now();
	b->progress_ms = b->io_ms = b->started_ms;
	b->cpu_ticks = 0;
	b->cpu_stale = false;
	b->ev_out = event_new(s->base, b->proc.out_fd, EV_READ | EV_PERSIST, bk_out_cb, b);
	if (b->ev_out)
		event_add(b->ev_out, NULL);
	bk_arm(b, HEALTH_POLL_MS);
	return;
fail:
	snprintf(b->exit_msg, sizeof(b->exit_msg), "cannot start %s: %s", s->o->backend, strerror(-e));
	sched_exited(&s->sch, srv_now(), model, SCHED_EXIT_CRASH, b->exit_msg, &s->acts);
}

/* Reads what the backend wrote (a bounded number of rounds, so that a
 * chatty one cannot hold the loop): false at EOF, when ev (the event that
 * called) is removed, as the process is exiting (SIGCHLD reaps it). */
static bool bk_log_read(struct bk *b, struct event *ev)
{
	for (int i = 0; i < 64; i++) {
		int n = backend_read(&b->proc, &b->log, &b->rep);

		if (n == 0) {
			event_del(ev);
			return false;
		}
		if (n < 0)
			break;
		srv_bk_progress(b);
	}
	return true;
}

static void bk_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bk *b = arg;

	(void)fd;
	(void)what;
	if (!bk_log_read(b, b->ev_out))
		return;
	/* it said something while loading ("model loaded", "all slots are
	 * idle"): ask at once rather than at the next poll */
	if (b->running && !b->healthy && !b->stopping && !b->health_inflight) {
		evtimer_del(b->ev_timer);
		bk_timer_cb(-1, 0, b);
	}
}

/* Once the backend is healthy its log only matters for a later failure
 * (out of memory, a crash), and bk_exited() reads what is left before it
 * decides. At -lv 4 llama-server writes about 3 KB in 25 lines per
 * request, in pieces. It is read by a thread of its own, every
 * BK_LOG_BUSY_MS while the backend writes (BK_LOG_MS while it is quiet),
 * from a pipe enlarged so that the backend does not block in between.
 *
 * Not on the loop: read there (in 8 KiB slices between requests, the
 * design before), the reading was llmem's only CPU time that no request
 * of its own asked for, about 5 us per request on whichever path the
 * request took, and the loop thread paid for it at its next wake-up: on
 * a machine the backends keep busy, llmem woke later than nginx and
 * added 0-8 us more than it at p50 on bench/serve.sh's `micro`; read
 * here, 4-11 us less (bench/RESULTS.md, 2026-11-28). */
#define BK_LOG_MS 100
#define BK_LOG_BUSY_MS 10
#define BK_LOG_BUSY_BYTES 4096 /* a reading this large: the backend is writing */
#define BK_LOG_READ_MAX ((size_t)1 << 20)
#define BK_PIPE_BYTES (1 << 20)

static void *bk_log_main(void *arg)
{
	struct bk *b = arg;
	struct pollfd p = { b->log_stop[0], POLLIN, 0 };
	int wait = BK_LOG_MS;

	for (;;) {
		int n, r = poll(&p, 1, wait);

		if (r > 0 || (r < 0 && errno != EINTR))
			break; /* asked to stop */
		pthread_mutex_lock(&b->log_mu);
		n = backend_read_max(&b->proc, &b->log, &b->rep, BK_LOG_READ_MAX);
		pthread_mutex_unlock(&b->log_mu);
		if (n == 0 || (n < 0 && n != -EAGAIN))
			break; /* the end: SIGCHLD reaps it, bk_exited() reads the rest */
		if (n > 0)
			atomic_store(&b->log_io_ms, srv_now());
		wait = n >= BK_LOG_BUSY_BYTES ? BK_LOG_BUSY_MS : BK_LOG_MS;
	}
	return NULL;
}

/* Stops b's log thread, if it runs: the loop owns the log again. */
static void bk_log_stop(struct bk *b)
{
	ssize_t w;

	if (!b->log_th_on)
		return;
	do
		w = write(b->log_stop[1], "x", 1);
	while (w < 0 && errno == EINTR);
	pthread_join(b->log_th, NULL);
	close(b->log_stop[0]);
	close(b->log_stop[1]);
	b->log_th_on = false;
	bk_log_progress(b);
}

/* (const: the lock is not part of what a reader of b changes) */
void srv_bk_log_lock(const struct bk *b)
{
	pthread_mutex_lock((pthread_mutex_t *)&b->log_mu);
}

void srv_bk_log_unlock(const struct bk *b)
{
	pthread_mutex_unlock((pthread_mutex_t *)&b->log_mu);
}

int srv_thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int e;

	/* signals are the loop's (libevent's handlers): none for the thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

static void bk_log_start(struct bk *b)
{
	if (b->proc.out_fd < 0 || b->log_th_on)
		return;
	if (pipe2(b->log_stop, O_CLOEXEC) < 0)
		return; /* keep reading at each line */
#ifdef F_SETPIPE_SZ
	(void)fcntl(b->proc.out_fd, F_SETPIPE_SZ, BK_PIPE_BYTES);
#endif
	atomic_store(&b->log_io_ms, 0);
	if (srv_thread_start(&b->log_th, bk_log_main, b) != 0) {
		close(b->log_stop[0]);
		close(b->log_stop[1]);
		return;
	}
	b->log_th_on = true;
	if (b->ev_out) {
		event_free(b->ev_out);
		b->ev_out = NULL;
	}
}

#define FSAVE_DELAY_MS 500

/* The footprint file is written by a thread of its own: its fsync takes
 * 1-15 ms on a VM's disk, which every request open on the loop would wait
 * for (it was the largest of llmem's p99 outliers in bench/serve.sh).
 * The loop makes the text; the thread writes it, one at a time. */
struct fsave_job {
	const char *path;
	char *text;
	size_t len;
	atomic_bool done;
};

static void *fsave_thread(void *arg)
{
	struct fsave_job *j = arg;
	struct diag d;

	diag_init(&d);
	(void)!footprint_file_write(j->path, j->text, j->len, &d);
	atomic_store(&j->done, true);
	return NULL;
}

/* Waits for the writer thread, if one was started. */
static void fsave_join(struct srv *s)
{
	if (!s->fsave_job)
		return;
	pthread_join(s->fsave_tid, NULL);
	free(s->fsave_job->text);
	free(s->fsave_job);
	s->fsave_job = NULL;
}

/* Saves the footprint cache: from a thread (wait false), or here (at
 * exit, or when no thread can be made). */
static void fsave(struct srv *s, bool wait)
{
	struct fsave_job *j;
	struct diag fd;

	if (s->fsave_job && !wait && !atomic_load(&s->fsave_job->done)) {
		/* the last one is still being written: once it is */
		struct timeval tv = ms_tv(100);

		evtimer_add(s->ev_fsave, &tv);
		return;
	}
	fsave_join(s);
	s->fsave_pending = false;
	j = wait ? NULL : calloc(1, sizeof(*j));
	if (j) {
		j->path = s->o->footprint_path;
		j->text = footprint_cache_text(&s->fc, &j->len);
		atomic_init(&j->done, false);
		if (j->text && pthread_create(&s->fsave_tid, NULL, fsave_thread, j) == 0) {
			s->fsave_job = j;
			return;
		}
		free(j->text);
		free(j);
	}
	diag_init(&fd);
	(void)!footprint_cache_save(&s->fc, s->o->footprint_path, &fd);
}

static void fsave_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fsave(arg, false);
}

/* The backend is healthy: its real footprint replaces the prediction. */
static void bk_ready(struct bk *b)
{
	struct srv *s = b->s;
	uint64_t logged[SCHED_MAX_POOLS] = { 0 };
	size_t np = s->o->n_pools;

	b->healthy = true;
	b->ready_ms = srv_now();
	/* drain what it has said so far: the buffer lines */
	while (backend_read(&b->proc, &b->log, &b->rep) > 0)
		;
	bk_log_start(b);
	b->rep.loaded = true;
	/* the health connection is the first idle one: left open it would
	 * hold one of the backend's HTTP threads for nothing. (Not freed
	 * here: this runs inside its callback.) */
	if (b->health_conn && bk_pool_keep(b, b->health_conn))
		b->health_conn = NULL;
	backend_report_pool_bytes(&b->rep, np > 0 ? np - 1 : 0, logged);
	for (size_t p = 0; p < np; p++) {
		uint64_t pred = b->plan.need[p], buf = b->plan.buffers[p];
		uint64_t other = pred > buf ? pred - buf : 0;

		b->measured[p] = other + logged[p];
	}
	b->has_measured = b->rep.n_bufs > 0;
	/* saved from a timer: the file is fsync'ed (1-8 ms here), which
	 * must not delay the request that waits for this model */
	if (b->has_measured && b->has_fkey && s->o->footprint_path &&
	    footprint_cache_store(&s->fc, &b->fkey, b->measured, np) == 0 && !s->fsave_pending) {
		struct timeval tv = ms_tv(FSAVE_DELAY_MS);

		s->fsave_pending = true;
		evtimer_add(s->ev_fsave, &tv);
	}
	(void)!backend_rss(b->proc.pid, NULL, &b->rss_anon, &b->rss_file);
	sched_loaded(&s->sch, srv_now(), b->model, b->has_measured ? b->measured : NULL, &s->acts);
	srv_actions_run(s);
}

static void bk_health_done(struct hcli *c, void *arg, int err)
{
	struct bk *b = arg;

	b->health_inflight = false;
	if (!b->running || b->stopping || b->healthy)
		return;
	if (err == 0 && hcli_status(c) == 200) {
		/* whoever answers on the port must be our child: it says
		 * which port it listens on once it does (B30). A process that
		 * took the port first answers, but our child then cannot bind
		 * it and says so (started again elsewhere), or says nothing
		 * (a stalled load). The line may still be in the pipe. */
		if (b->ev_out)
			(void)bk_log_read(b, b->ev_out);
		if (b->rep.listen_port == (unsigned)b->port) {
			bk_ready(b);
			return;
		}
	}
	bk_arm(b, HEALTH_POLL_MS);
}

static void bk_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bk *b = arg;
	struct srv *s = b->s;
	static const struct hcli_cbs health_cbs = { NULL, NULL, bk_health_done };
	int64_t now = srv_now();

	(void)fd;
	(void)what;
	if (!b->running)
		return;
	if (b->stopping) {
		if (now >= b->stop_deadline)
			(void)!backend_signal(&b->proc, SIGKILL);
		else
			bk_arm(b, b->stop_deadline - now);
		return;
	}
	if (b->healthy)
		return;
	if (s->o->load_timeout_ms > 0 && now - b->started_ms > s->o->load_timeout_ms) {
		b->timed_out = true;
		snprintf(b->exit_msg, sizeof(b->exit_msg), "not healthy after %lld s: killed",
			 (long long)(s->o->load_timeout_ms / 1000));
		(void)!backend_signal(&b->proc, SIGKILL);
		return;
	}
	if (!b->health_inflight && !bk_ctl(b, "/health", 2000, &health_cbs))
		bk_arm(b, HEALTH_POLL_MS);
}

static void bk_stop(struct srv *s, size_t model)
{
	struct bk *b = &s->bks[model];
	const struct reg_model *rm = &s->o->reg->v[model];
	int64_t t = rm->stop_timeout_ms > 0 ? rm->stop_timeout_ms : 10000;

	if (!b->running) {
		sched_exited(&s->sch, srv_now(), model, SCHED_EXIT_STOPPED, "stopped", &s->acts);
		return;
	}
	if (b->stopping)
		return;
	b->stopping = true;
	b->stop_deadline = srv_now() + t;
	(void)!backend_signal(&b->proc, SIGTERM);
	bk_arm(b, t);
}

/* Why did it die: asked to, out of memory, never healthy, or a crash. */
static void bk_exited(struct bk *b, int wstatus)
{
	struct srv *s = b->s;
	enum sched_exit why;
	char desc[96], cg_msg[SCHED_REASON_LEN];
	bool cg_oom;

	bk_log_stop(b);
	while (b->proc.out_fd >= 0 && backend_read(&b->proc, &b->log, &b->rep) > 0)
		;
	bk_clear(b);
	b->running = false;
	srv_mem_backends_changed(b->s);
	b->healthy = false;
	backend_describe_exit(wstatus, desc, sizeof(desc));
	cg_oom = srv_cgroup_exited(b, cg_msg, sizeof(cg_msg));
	/* another program took the port between backend_pick_port() and the
	 * backend's bind: start it again on another, not a failure (B30) */
	if (!b->stopping && b->rep.bind_failed && !cg_oom && b->bind_retries < 3) {
		b->bind_retries++;
		bk_start(s, b->model, b->plan_id);
		return;
	}
	if (b->stopping) {
		why = SCHED_EXIT_STOPPED;
		snprintf(b->exit_msg, sizeof(b->exit_msg), "stopped (%s)", desc);
	} else if (cg_oom) {
		why = SCHED_EXIT_OOM;
		msgf(b->exit_msg, sizeof(b->exit_msg), "%s: %.80s", cg_msg, desc);
	} else if (b->rep.oom) {
		why = SCHED_EXIT_OOM;
		msgf(b->exit_msg, sizeof(b->exit_msg), "out of memory (%s): %.120s", desc, b->rep.oom_line);
	} else if (b->timed_out) {
		why = SCHED_EXIT_TIMEOUT;
	} else if (b->stalled) {
		why = SCHED_EXIT_CRASH; /* exit_msg says it hung */
	} else {
		char tail[160];

		why = SCHED_EXIT_CRASH;
		tail[0] = '\0';
		if (b->rep.fail_line[0])
			msgf(tail, sizeof(tail), "%s", b->rep.fail_line);
		msgf(b->exit_msg, sizeof(b->exit_msg), "%s%s%.150s", desc, tail[0] ? ": " : "", tail);
	}
	sched_exited(&s->sch, srv_now(), b->model, why, b->exit_msg, &s->acts);
	srv_actions_run(s);
}

static void chld_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	size_t n = s->o->reg->n;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < n; i++) {
		struct bk *b = &s->bks[i];
		int ws;

		if (b->running && backend_reap(&b->proc, &ws) == 1) {
			/* what it left in its process group (a child ignoring
			 * SIGTERM) goes now, before the group id can be reused */
			(void)!backend_signal(&b->proc, SIGKILL);
			bk_exited(b, ws);
		}
	}
	/* anything else (a stray child). A backend that exited since the
	 * loop above is reaped here too: it is matched to its model, not
	 * dropped (it would stay "unloading" for ever) */
	for (;;) {
		int ws;
		pid_t pid;

		do
			pid = waitpid(-1, &ws, WNOHANG);
		while (pid < 0 && errno == EINTR);
		if (pid <= 0)
			break;
		for (size_t i = 0; i < n; i++) {
			struct bk *b = &s->bks[i];

			if (b->running && backend_claim(&b->proc, pid, ws)) {
				(void)!backend_signal(&b->proc, SIGKILL);
				bk_exited(b, ws);
				break;
			}
		}
	}
}

/* The scheduler's planner: the caller's, with the footprint a plan
 * measured when it last ran in place of the prediction. */
static int plan_wrap(void *ctx, size_t model, const uint64_t *avail, struct sched_plan *plan)
{
	struct srv *s = ctx;
	const struct reg_model *rm = &s->o->reg->v[model];
	const char *extra[SERVE_MAX_ARGS];
	char *fargs[SERVE_MAX_ARGS + 8];
	struct footprint_key k;
	uint64_t need[FOOTPRINT_MAX_POOLS];
	size_t fn = 0, np = 0;
	int e, n;

	e = s->o->hooks.plan(s->o->hooks.ctx, model, avail, plan);
	if (e < 0 || !plan->fits || !s->fc.n)
		return e;
	n = s->o->hooks.plan_args(s->o->hooks.ctx, model, plan->id, extra, SERVE_MAX_ARGS);
	if (n < 0)
		return 0;
	/* the list bk_start() keys on */
	{
		const char *argv[SERVE_MAX_ARGS + 16];
		size_t an = build_argv(s, model, "0", NULL, extra, n, argv);

		for (size_t i = 1; i < an && fn < ARRAY_SIZE(fargs); i++)
			fargs[fn++] = (char *)argv[i];
	}
	if (footprint_key_make(&k, rm->path, s->o->backend, fargs, fn) < 0 ||
	    footprint_cache_lookup(&s->fc, &k, need, &np) != 1 || np != s->o->n_pools)
		return 0;
	for (size_t p = 0; p < np; p++) {
		plan->need[p] = need[p];
		if (need[p] > avail[p])
			plan->fits = false;
	}
	return 0;
}

/* ---- the scheduler's actions ---- */

static void tick_arm(struct srv *s)
{
	int64_t now = srv_now(), d = sched_next_deadline(&s->sch), ms;
	struct timeval tv;

	ms = d == INT64_MAX ? TICK_MAX_MS : d - now;
	if (ms > TICK_MAX_MS)
		ms = TICK_MAX_MS;
	if (ms < 1)
		ms = 1;
	tv = ms_tv(ms);
	evtimer_add(s->ev_tick, &tv);
}

static void act_one(struct srv *s, const struct sched_action *a)
{
	struct rq *r;

	switch (a->kind) {
	case SCHED_ACT_LOAD:
		s->bks[a->model].bind_retries = 0;
		bk_start(s, a->model, a->plan_id);
		break;
	case SCHED_ACT_STOP:
		bk_stop(s, a->model);
		break;
	case SCHED_ACT_DISPATCH:
		r = srv_rq_find(s, a->req);
		if (!r)
			break;
		if (r->client_gone) {
			srv_rq_finish(r);
			break;
		}
		r->t_dispatch = srv_now();
		if (r->kind == RQ_LOAD) {
			load_reply(r);
			break;
		}
		s->bks[a->model].n_requests++;
		proxy_start(r);
		break;
	case SCHED_ACT_REJECT:
	case SCHED_ACT_ABORT:
		r = srv_rq_find(s, a->req);
		if (!r)
			break;
		r->done_told = true; /* the scheduler has dropped it */
		if (a->kind == SCHED_ACT_REJECT)
			s->n_rejected++;
		/* a full queue, or no room in time: when to ask again (B16) */
		if (a->kind == SCHED_ACT_REJECT && a->status == 503 && r->client && !r->client_gone &&
		    !r->reply_started)
			hreq_add_header(r->client, "Retry-After", "5");
		if (r->kind == RQ_LOAD) {
			srv_rq_reply(r, a->status, api_error_json(a->status, r->ollama_err, a->reason));
			srv_rq_finish(r);
		} else {
			proxy_fail(r, a->status, a->reason);
		}
		break;
	}
}

void srv_actions_run(struct srv *s)
{
	if (s->in_actions)
		return;
	s->in_actions = true;
	while (s->acts_done < s->acts.n) {
		struct sched_action a = s->acts.v[s->acts_done++];

		act_one(s, &a);
	}
	s->acts.n = 0;
	s->acts_done = 0;
	s->acts.overflow = false;
	s->in_actions = false;
	if (!s->stopping)
		tick_arm(s);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	(void)fd;
	(void)what;
	/* the budgets are read by daemon-mem.c's own timer */
	sched_tick(&s->sch, srv_now(), &s->acts);
	srv_actions_run(s);
}

/* ---- start and stop ---- */

static void term_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	(void)fd;
	(void)what;
	if (s->stopping)
		return;
	s->stopping = true;
	event_base_loopbreak(s->base);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/* accept() failed for want of descriptors (or memory), a connection flood:
 * libevent would try again at once, in a busy loop that prints a line
 * each time; accepting pauses for 100 ms instead, the waiting connections
 * stay in the backlog, and the daemon serves those it has (B15). */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	static int64_t warned;
	struct timeval tv = { 0, 100000 };
	int e = EVUTIL_SOCKET_ERROR();
	int64_t now = srv_now();

	(void)arg;
	if (!warned || now - warned >= 60000) {
		warned = now;
		fprintf(stderr, "llmem: cannot accept connections: %s (pausing 100 ms; said once a minute)\n",
			strerror(e));
	}
	evconnlistener_disable(lev);
	if (event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT, accept_resume_cb, lev, &tv) < 0)
		evconnlistener_enable(lev);
}

/* Stops every backend: SIGTERM, then SIGKILL after its stop-timeout (at
 * most 10 s in all), reaping each. */
static void stop_all(struct srv *s)
{
	int64_t deadline = 0, now = srv_now();
	size_t n = s->o->reg->n;
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		struct bk *b = &s->bks[i];
		const struct reg_model *rm = &s->o->reg->v[i];
		int64_t t = rm->stop_timeout_ms > 0 ? rm->stop_timeout_ms : 10000;

		if (!b->running)
			continue;
		any = true;
		(void)!backend_signal(&b->proc, SIGTERM);
		if (t > 10000)
			t = 10000;
		if (now + t > deadline)
			deadline = now + t;
	}
	while (any) {
		any = false;
		for (size_t i = 0; i < n; i++) {
			struct bk *b = &s->bks[i];
			int ws;

			if (!b->running)
				continue;
			if (backend_reap(&b->proc, &ws) == 1) {
				b->running = false;
				srv_mem_backends_changed(s);
				continue;
			}
			any = true;
			if (srv_now() >= deadline)
				(void)!backend_signal(&b->proc, SIGKILL);
		}
		if (any)
			usleep(20000);
	}
}

int serve_run(const struct serve_options *o, struct diag *d)
{
	struct srv s;
	struct sched_options so;
	size_t n = o->reg->n, cap;
	struct sched_model_cfg *cfg = NULL;
	int e = 0;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.rqs.next = s.rqs.prev = &s.rqs;
	s.started_ms = srv_now();
	signal(SIGPIPE, SIG_IGN);
	/* a descriptor per connection: as many as the hard limit allows */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
			rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	cfg = calloc(n ? n : 1, sizeof(*cfg));
	s.bks = calloc(n ? n : 1, sizeof(*s.bks));
	if (!cfg || !s.bks) {
		e = -ENOMEM;
		diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct reg_model *rm = &o->reg->v[i];

		cfg[i].priority = rm->priority;
		cfg[i].pin = rm->pin;
		cfg[i].may_shrink = rm->may_shrink;
		cfg[i].slots = 1;
		cfg[i].keep_alive_ms = rm->keep_alive_set ? rm->keep_alive_ms : o->default_keep_alive_ms;
		cfg[i].name = rm->name;
		s.bks[i].s = &s;
		s.bks[i].model = i;
		s.bks[i].proc.out_fd = -1;
		backend_log_init(&s.bks[i].log);
		pthread_mutex_init(&s.bks[i].log_mu, NULL);
	}
	/* slots: what the plan runs with (-np); a first plan tells */
	for (size_t i = 0; i < n; i++) {
		struct serve_plan_info pi;

		memset(&pi, 0, sizeof(pi));
		if (o->hooks.plan_info(o->hooks.ctx, i, UINT32_MAX, &pi) == 0 && pi.slots)
			cfg[i].slots = pi.slots;
	}
	so = o->sched;
	so.plan = plan_wrap;
	so.plan_ctx = &s;
	footprint_cache_init(&s.fc);
	if (o->footprint_path) {
		struct diag fd;

		diag_init(&fd);
		(void)!footprint_cache_load(&s.fc, o->footprint_path, &fd);
	}
	so.n_pools = o->n_pools;
	memcpy(so.pool_names, o->pool_names, sizeof(so.pool_names));
	e = sched_init(&s.sch, &so, n, cfg);
	if (e < 0) {
		diag_set(d, e, DIAG_NO_OFFSET, "cannot set up the scheduler: %s", strerror(-e));
		goto out;
	}
	cap = sched_actions_max(&s.sch);
	s.act_v = calloc(cap, sizeof(*s.act_v));
	if (!s.act_v) {
		e = -ENOMEM;
		goto out;
	}
	s.acts.v = s.act_v;
	s.acts.cap = cap;
	s.base = event_base_new();
	if (!s.base) {
		e = -ENOMEM;
		diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "cannot set up the event loop");
		goto out;
	}
	{
		struct hsrv_limits lim = { o->max_headers, o->max_body, o->header_timeout_s };

		e = hsrv_new(s.base, o->host, o->port, &lim, api_handle, &s, &s.http);
	}
	if (e == -ENOMEM) {
		diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "cannot set up the event loop");
		goto out;
	}
	if (e < 0) {
		e = -EADDRINUSE;
		diag_set(d, -EADDRINUSE, DIAG_NO_OFFSET, "cannot listen on %s:%u (in use, or not an address of this machine)",
			 o->host, o->port);
		goto out;
	}
	evconnlistener_set_error_cb(hsrv_listener(s.http), accept_error_cb);
	s.ev_tick = evtimer_new(s.base, tick_cb, &s);
	s.ev_term = evsignal_new(s.base, SIGTERM, term_cb, &s);
	s.ev_int = evsignal_new(s.base, SIGINT, term_cb, &s);
	s.ev_chld = evsignal_new(s.base, SIGCHLD, chld_cb, &s);
	s.ev_fsave = evtimer_new(s.base, fsave_cb, &s);
	s.ev_watch = event_new(s.base, -1, EV_PERSIST, watch_cb, &s);
	s.ev_reap = event_new(s.base, -1, 0, reap_cb, &s);
	if (!s.ev_tick || !s.ev_term || !s.ev_int || !s.ev_chld || !s.ev_fsave || !s.ev_watch || !s.ev_reap) {
		e = -ENOMEM;
		goto out;
	}
	evsignal_add(s.ev_term, NULL);
	evsignal_add(s.ev_int, NULL);
	evsignal_add(s.ev_chld, NULL);
	{
		struct timeval wtv = ms_tv(WATCH_MS);

		event_add(s.ev_watch, &wtv);
	}
	for (size_t i = 0; i < n; i++) {
		s.bks[i].ev_timer = evtimer_new(s.base, bk_timer_cb, &s.bks[i]);
		if (!s.bks[i].ev_timer) {
			e = -ENOMEM;
			goto out;
		}
	}
	/* the budgets as memory stands now, before any load */
	if (srv_mem_start(&s) < 0) {
		e = -ENOMEM;
		diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (o->reg->v[i].load_on_startup)
			sched_load(&s.sch, srv_now(), i, SCHED_KEEP_ALIVE_DEFAULT, &s.acts);
	srv_actions_run(&s);
	if (o->ready_fd >= 0) {
		ssize_t w = write(o->ready_fd, "ready\n", 6);

		(void)w;
	}
	event_base_dispatch(s.base);
	/* stopping: every request still open gets an answer, then backends go */
	for (struct rq *r = s.rqs.next; r != &s.rqs; r = r->next) {
		if (!r->answered && !r->client_gone) {
			r->done_told = true;
			if (r->kind == RQ_LOAD) {
				srv_rq_reply(r, 503, api_error_json(503, r->ollama_err, "llmem is shutting down"));
			} else {
				proxy_fail(r, 503, "llmem is shutting down");
			}
			r->answered = true;
		}
	}
	/* let the replies go out */
	event_base_loop(s.base, EVLOOP_NONBLOCK);
	stop_all(&s);
out:
	srv_mem_stop(&s);
	if (s.bks) {
		for (size_t i = 0; i < n; i++) {
			bk_clear(&s.bks[i]);
			if (s.bks[i].ev_timer)
				event_free(s.bks[i].ev_timer);
			backend_log_release(&s.bks[i].log);
			pthread_mutex_destroy(&s.bks[i].log_mu);
		}
	}
	/* every request, finished (on s.reap) or not */
	while (s.rqs.next && s.rqs.next != &s.rqs)
		rq_free(s.rqs.next);
	s.reap = NULL;
	if (s.ev_reap)
		event_free(s.ev_reap);
	if (s.ev_tick)
		event_free(s.ev_tick);
	if (s.ev_term)
		event_free(s.ev_term);
	if (s.ev_int)
		event_free(s.ev_int);
	if (s.ev_chld)
		event_free(s.ev_chld);
	if (s.fsave_pending)
		fsave(&s, true);
	fsave_join(&s);
	if (s.ev_fsave)
		event_free(s.ev_fsave);
	if (s.ev_watch)
		event_free(s.ev_watch);
	hsrv_free(s.http);
	if (s.base)
		event_base_free(s.base);
	sched_release(&s.sch);
	footprint_cache_release(&s.fc);
	free(s.act_v);
	free(s.bks);
	free(cfg);
	return e;
}
