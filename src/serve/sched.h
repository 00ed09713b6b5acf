/* sched.h: the serve daemon's scheduler. Pure: state and an event in,
 * actions out; no processes, sockets, clocks or allocation after
 * sched_init(). The daemon (serve/daemon.c) carries the actions out and
 * reports back with events; unit tests drive it with made-up events.
 *
 * Models are indexed 0..n_models-1 (the daemon's registry order). Memory
 * is accounted per pool: [0] system RAM, [1 + i] the i-th discrete GPU
 * (as place_request.budget). A model's footprint is its plan's need until
 * it is ready, then what the backend reported (sched_loaded()).
 *
 * Rules (issue #6 item 4):
 *  - per model: unloaded -> loading -> ready -> unloading -> unloaded, or
 *    failed after SCHED_MAX_FAILURES failed starts in a row;
 *  - requests queue per model (at most max_queue; the one over gets 503),
 *    are dispatched up to the model's slots at a time, never interrupted by
 *    an eviction, and never cause a second load of a loading model;
 *  - one load at a time (every backend maps its weights through system
 *    RAM, so every load touches pool 0);
 *  - admission: a model loads when its plan fits the budgets less what the
 *    other models hold; otherwise idle models are stopped (never pinned,
 *    never busy or with queued requests; lowest priority first, then least
 *    recently used) until it fits; if it cannot fit even then, it loads a
 *    smaller plan when its preset allows (may_shrink), else it waits for
 *    busy models to go idle, at most wait_ms, then its queue gets 503;
 *    a model no plan of which fits even with every unpinned model stopped
 *    gets 503 at once;
 *  - fairness (drain_after_ms > 0): when the first in line has waited that
 *    long, ready unpinned models are chosen in eviction order, busy or not,
 *    until what stays leaves room for it, and drained: no new dispatches
 *    (their new and queued requests wait in their queues), their requests
 *    in flight finish, then they are stopped ("drained for <model>"); their
 *    queued requests then wait for a load in turn, the same way. Nothing is
 *    drained for a model that would not fit with them all gone;
 *  - models waiting for a load are admitted first come, first served: only
 *    the first in line stops models or shrinks; the others load meanwhile
 *    only when they fit as things are, and not while the first in line
 *    waits for its victims to exit or to drain;
 *  - keep-alive as Ollama: a duration after the model's last request ends;
 *    0 = stop after the response; negative = never; pinned: never;
 *  - failures: a backend that exits while ready is restarted by the next
 *    request (its requests in flight get 502); a start that fails is
 *    retried after 1 s, then 2 s; the SCHED_MAX_FAILURES-th failure in a
 *    row makes it FAILED (500 at once for 60 s, or until sched_load()); an
 *    out-of-memory exit caps the next plan below the failed one's need,
 *    and when no plan fits under the cap the model is FAILED at once with
 *    a reason that says so (lower -c or -ngl in its preset, or free
 *    memory); leaving FAILED drops the cap (a full-size start again), and
 *    so does the next normal stop of a model that loaded capped;
 *  - memory pressure (budgets lowered): idle models are stopped until what
 *    stays fits, and again whenever one goes idle while it does not. */
#ifndef LLMEM_SERVE_SCHED_H
#define LLMEM_SERVE_SCHED_H

#include "base/compat.h"
#include "estimate/estimate.h"

#define SCHED_MAX_POOLS (EST_MAX_DEVICES + 1)
#define SCHED_REASON_LEN 320
#define SCHED_MAX_FAILURES 3
#define SCHED_KEEP_ALIVE_DEFAULT INT64_MIN /* a request without keep_alive */

enum sched_state {
	SCHED_UNLOADED,
	SCHED_LOADING,
	SCHED_READY,
	SCHED_UNLOADING,
	SCHED_FAILED,
};

/* A plan, as the planner returns it. The scheduler reads fits and need;
 * id is the daemon's (which configuration to start) and is handed back
 * in SCHED_ACT_LOAD. */
struct sched_plan {
	bool fits;
	uint64_t need[SCHED_MAX_POOLS];
	uint32_t id;
	char why[SCHED_REASON_LEN]; /* when !fits: what does not fit */
};

/* The planner: the fastest plan for model that needs at most avail[p] in
 * every pool p (and, after an out-of-memory exit, at most cap[p]: the
 * scheduler has already folded cap into avail). Pure (place_solve()).
 * Returns 0 (plan->fits says whether one fits) or a negative errno. */
typedef int (*sched_plan_fn)(void *ctx, size_t model, const uint64_t *avail,
			     struct sched_plan *plan);

/* Why the scheduler stopped a model, for the per-reason counters. */
enum sched_stop {
	SCHED_STOP_KEEP_ALIVE,     /* its keep-alive expired (or was 0) */
	SCHED_STOP_PRESSURE,       /* memory pressure: budgets lowered */
	SCHED_STOP_MAKE_ROOM,      /* evicted to load another model */
	SCHED_STOP_UNLOAD_REQUEST, /* sched_unload() */
	SCHED_STOP_DRAIN,          /* drained for a model that waited too long */
	SCHED_STOP_OTHER,
	SCHED_STOP_N,
};

/* What the preset says of a model. */
struct sched_model_cfg {
	int32_t priority;      /* higher is evicted later; default 0 */
	bool pin;              /* never evicted, never expires */
	bool may_shrink;       /* may load a smaller plan than the best one */
	uint32_t slots;        /* requests dispatched at once (-np), >= 1 */
	int64_t keep_alive_ms; /* default keep-alive; < 0 never; 0 at once */
	const char *name;      /* for reasons ("drained for NAME"); NULL =
	                        * "model INDEX". Not copied: it must outlive
	                        * the scheduler */
};

struct sched_model {
	struct sched_model_cfg cfg;
	enum sched_state state;
	int64_t keep_alive_ms;   /* the one in force (last request's; a
	                          * request without one puts cfg's back) */
	int64_t expires_at;      /* ms; INT64_MAX = never; valid when idle */
	int64_t last_used;       /* ms, when its last request arrived or
	                          * ended, or it became ready */
	int64_t retry_at;        /* ms: a failed start is retried then; when
	                          * FAILED, a request retries from then on */
	int64_t wait_since;      /* ms: waiting for memory since; 0 = not */
	bool waiting;            /* wait_since is set (0 is a valid time) */
	bool load_wanted;        /* sched_load() asked for it: load it even
	                          * without queued requests (until ready) */
	uint64_t want_seq;       /* private: admission order (FIFO) */
	uint32_t busy;           /* requests dispatched and not done */
	bool draining;           /* ready, chosen to stop for a model that
	                          * waited drain_after_ms: nothing new is
	                          * dispatched to it, it stops once busy is 0 */
	bool drain_pick;         /* private: chosen by the current drain */
	uint32_t n_queued;       /* requests waiting */
	uint32_t failures;       /* failed starts in a row */
	bool measured;           /* need[] is what the backend reported */
	bool unload_when_idle;   /* unload asked while busy or loading
	                          * (keep_alive 0 works through expires_at) */
	bool has_cap;            /* cap[] holds (after an OOM exit) */
	bool oom_at_start;       /* the last OOM exit was while loading */
	uint32_t plan_id;        /* the plan loading or loaded */
	uint64_t need[SCHED_MAX_POOLS]; /* footprint while loading/ready/
	                                 * unloading (kept after, for status) */
	uint64_t cap[SCHED_MAX_POOLS];  /* after an OOM exit; UINT64_MAX in
	                                 * pools that need nothing */
	uint64_t oom_need[SCHED_MAX_POOLS]; /* the need that ran out of
	                                     * memory last (for the reason) */
	char oom_msg[SCHED_REASON_LEN]; /* and how its backend ended */
	uint64_t n_loads, n_evictions, n_crashes, n_ooms; /* counters;
	                          * evictions: MAKE_ROOM, PRESSURE and DRAIN
	                          * stops */
	uint64_t n_stops[SCHED_STOP_N]; /* every stop, by why */
	char reason[SCHED_REASON_LEN]; /* last failure or eviction, for status */
};

enum sched_act_kind {
	SCHED_ACT_LOAD,     /* start model's backend with plan_id */
	SCHED_ACT_STOP,     /* stop model's backend (reason says why) */
	SCHED_ACT_DISPATCH, /* send request req to model's backend */
	SCHED_ACT_REJECT,   /* answer request req with status and reason */
	SCHED_ACT_ABORT,    /* request req was in flight on a backend that
	                     * died: end it with an error (status, reason) */
};

struct sched_action {
	enum sched_act_kind kind;
	size_t model;
	uint64_t req;
	uint32_t plan_id;
	int status;                 /* HTTP status for REJECT/ABORT */
	char reason[SCHED_REASON_LEN];
};

/* Actions produced by one event; the caller gives the array. When it
 * fills, later actions are dropped and overflow is set (size it at
 * sched_actions_max(): no event produces more). */
struct sched_actions {
	struct sched_action *v;
	size_t n, cap;
	bool overflow;
};

/* Why a backend ended. */
enum sched_exit {
	SCHED_EXIT_STOPPED, /* after SCHED_ACT_STOP */
	SCHED_EXIT_CRASH,   /* exited or was killed on its own */
	SCHED_EXIT_OOM,     /* killed for memory (cgroup oom_kill, or the log) */
	SCHED_EXIT_TIMEOUT, /* never became healthy; the daemon killed it */
};

struct sched_options {
	size_t n_pools;
	uint64_t budget[SCHED_MAX_POOLS];
	uint32_t max_loaded;   /* 0 = no limit */
	uint32_t max_queue;    /* per model, >= 1 */
	int64_t wait_ms;       /* waiting for busy models, then 503; < 0 =
	                        * wait as long as it takes */
	int64_t drain_after_ms; /* the first in line waited this long: drain
	                         * busy models for it (fairness); <= 0 =
	                         * never (it waits for them to go idle) */
	char pool_names[SCHED_MAX_POOLS][32]; /* for reasons; "" = "RAM" for
	                                       * pool 0, "GPU<p-1>" */
	sched_plan_fn plan;
	void *plan_ctx;
};

struct sched_memo; /* private to sched.c */

struct sched {
	struct sched_options opt;
	size_t n_models;
	struct sched_model *models;
	/* private: per model FIFO of queued request ids, and in-flight ids */
	uint64_t *queue;    /* n_models * max_queue */
	uint32_t *q_head;
	uint64_t *inflight; /* n_models * slots_max */
	uint32_t slots_max;
	bool loading;       /* a load is in progress */
	int64_t now;        /* the last event's time */
	uint64_t seq;       /* the last want_seq given */
	struct sched_memo *memo; /* the planner's last answers, 2 per model
	                          * (a solve takes milliseconds, and a waiting
	                          * model is planned again on every event) */
	char budget_why[SCHED_REASON_LEN]; /* why the budgets are what they
	                                    * are (sched_set_budget_why());
	                                    * "" = "memory pressure" */
	size_t drain_head;  /* private: the first in line, waiting (SIZE_MAX:
	                     * none), as the last admission found it ... */
	uint64_t drain_need[SCHED_MAX_POOLS]; /* ... and its best plan's need */
};

/* Initializes s for n models with cfg[n] (copied). Allocates the queues
 * (the only allocation). Returns 0 or -ENOMEM / -EINVAL. Release with
 * sched_release(). */
int sched_init(struct sched *s, const struct sched_options *opt, size_t n,
	       const struct sched_model_cfg *cfg) ATTR_WUR;
void sched_release(struct sched *s);

/* Events. now is a monotonic time in ms. Each appends actions to *out. */

/* A request for model, with its keep_alive (ms; SCHED_KEEP_ALIVE_DEFAULT
 * when it has none). Request ids are the daemon's, unique among the
 * requests not yet answered. Statuses: 503 queue full, waited wait_ms in
 * vain, or no plan fits even with every unpinned model stopped (reason:
 * the planner's why); 500 the model FAILED (reason: the last failure; an
 * OOM cap no plan fits under fails it too) or the planner failed; 502 (ABORT) its backend died under it. A model
 * index out of range is rejected with 404. */
void sched_request(struct sched *s, int64_t now, size_t model, uint64_t req, int64_t keep_alive_ms,
		   struct sched_actions *out);
/* Request req finished (answered, failed or cancelled by its client),
 * whether queued or dispatched; unknown ids are ignored. */
void sched_request_done(struct sched *s, int64_t now, uint64_t req, struct sched_actions *out);
/* A load ended well: the backend is healthy; measured[] is the footprint
 * it reported per pool (n_pools values), or NULL to keep the plan's. A
 * load that fails is reported with sched_exited() alone (CRASH, OOM or
 * TIMEOUT while loading: a failed start). Ignored unless model is
 * loading. */
void sched_loaded(struct sched *s, int64_t now, size_t model, const uint64_t *measured,
		  struct sched_actions *out);
/* The model's backend process is gone; reason as the daemon classified
 * it, msg for status (the log line that says why, or the exit status; may
 * be NULL). While unloading: unloaded, whatever the reason. While ready:
 * its in-flight requests are aborted (502), queued ones load it again;
 * OOM caps the next plan at 85% of this one's need (if none fits under
 * the cap, the model is FAILED). While loading: a
 * failed start (STOPPED too: it was never asked to stop). Ignored in
 * other states. */
void sched_exited(struct sched *s, int64_t now, size_t model, enum sched_exit why, const char *msg,
		  struct sched_actions *out);
/* Explicit load (POST /models/load, an empty Ollama prompt): loads it if
 * it is not loaded (retried as a request would be, until it is ready),
 * clears a failed state (and an OOM cap with it), restarts an idle model's keep-alive and cancels
 * an sched_unload() not yet done. keep_alive_ms as in sched_request; 0 is
 * an unload, as an empty Ollama prompt with keep_alive 0 is. */
void sched_load(struct sched *s, int64_t now, size_t model, int64_t keep_alive_ms,
		struct sched_actions *out);
/* Explicit unload: stops it now if idle, else once idle (a loading one:
 * once ready and idle). Pinned models too: pin keeps them from eviction
 * and expiry, not from an operator. Queued requests are kept (they are
 * served first). A pending sched_load() is cancelled. */
void sched_unload(struct sched *s, int64_t now, size_t model, struct sched_actions *out);
/* Time passes: keep-alive expiries, retries, waits that time out. */
void sched_tick(struct sched *s, int64_t now, struct sched_actions *out);
/* New budgets (memory pressure, or other programs freed memory): when the
 * models hold more than budget, idle ones are stopped ("memory pressure"). */
void sched_set_budget(struct sched *s, int64_t now, const uint64_t *budget, struct sched_actions *out);
/* The same, with what the budgets come from ("memory pressure: MemAvailable
 * 812 MiB, headroom 2048 MiB"): the reason of the evictions they cause, now
 * and later while they hold (a busy model stopped once idle). NULL or ""
 * = "memory pressure". */
void sched_set_budget_why(struct sched *s, int64_t now, const uint64_t *budget, const char *why,
			  struct sched_actions *out);

/* The earliest time sched_tick() has something to do; INT64_MAX if none.
 * Never a time already handled (no busy loop while a model waits for
 * something other than time). */
int64_t sched_next_deadline(const struct sched *s);

/* The most actions one event can produce: size sched_actions.cap so. */
size_t sched_actions_max(const struct sched *s);

/* The planner's answers for model may have changed (its preset or file
 * did): forget the remembered ones, and its OOM cap (it was about the old
 * plans). SIZE_MAX: every model's. */
void sched_replan(struct sched *s, size_t model);

/* The daemon cannot start model's load: the planner no longer has the
 * plan the load named (it keeps a few; a remembered plan can outlive
 * it). Not the backend's failure: the model's remembered plans are
 * forgotten (its OOM cap kept) and the pass plans and loads it again at
 * once. A model not loading is left alone. */
void sched_plan_lost(struct sched *s, int64_t now, size_t model, struct sched_actions *out);

/* Memory held in pool p by loading, ready and unloading models. */
uint64_t sched_used(const struct sched *s, size_t pool);

const char *sched_state_name(enum sched_state st);
/* "keep_alive", "pressure", "make_room", "unload_request", "drain",
 * "other" */
const char *sched_stop_name(enum sched_stop why);

#endif
