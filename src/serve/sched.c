/* sched.c: the serve daemon's scheduler (the contract is sched.h). Every
 * event takes the time, updates the models' states and appends actions for
 * the daemon; nothing here starts processes, reads clocks or allocates after
 * sched_init(), so the unit tests drive it with made-up events.
 *
 * Memory is accounted per pool from the plans' needs (then the backends'
 * measured ones). A load is started only when its need plus everything held
 * (unloading models included: their memory is not free until they have
 * exited) fits every pool's budget, and only one at a time. Every event ends
 * with one pass (pass()): idle models that should stop are stopped, memory
 * pressure is relieved, the models waiting for a load are admitted in the
 * order they started waiting, and, when the first in line has waited
 * drain_after_ms, models in use are drained for it (drain_step()). */
#include "base/compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/sched.h"

/* A FAILED model rejects requests at once for this long, then a request
 * tries again (the cause may have been fixed: a file replaced, memory
 * freed). */
#define FAILED_HOLD_MS 60000
/* After an out-of-memory exit the next plan gets at most this share of the
 * failed one's need: the estimate was short by an unknown amount. */
#define OOM_CAP_PCT 85

struct sched_memo {
	bool valid;
	int rc;
	uint64_t avail[SCHED_MAX_POOLS];
	struct sched_plan plan;
};

enum { MEMO_BEST, MEMO_SMALL, MEMO_PER_MODEL };

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* now + d for d >= 0, INT64_MAX when it would not fit (a keep-alive of
 * years must not wrap into the past). */
static int64_t after(int64_t now, int64_t d)
{
	if (d < 0)
		return now;
	return now > INT64_MAX - d ? INT64_MAX : now + d;
}

static bool holds_memory(enum sched_state st)
{
	return st == SCHED_LOADING || st == SCHED_READY || st == SCHED_UNLOADING;
}

static bool is_idle(const struct sched_model *md)
{
	return md->state == SCHED_READY && md->busy == 0 && md->n_queued == 0;
}

/* Stopping it loses nothing: ready, nobody using or waiting for it, not
 * pinned. Loading and unloading models never are (a load is never wasted,
 * an unload is already under way). */
static bool is_evictable(const struct sched_model *md)
{
	return is_idle(md) && !md->cfg.pin;
}

/* Waiting for a load: requests queued (or an explicit load) and no backend
 * that will serve them (an unloading one has to exit first). */
static bool wants_load(const struct sched_model *md)
{
	return (md->state == SCHED_UNLOADED || md->state == SCHED_UNLOADING) &&
	       (md->n_queued > 0 || md->load_wanted);
}

static void vreason(char *dst, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);
static void vreason(char *dst, const char *fmt, va_list ap)
{
	vsnprintf(dst, SCHED_REASON_LEN, fmt, ap);
}

/* A reason of SCHED_REASON_LEN, truncated as it must be. */
static void reasonf(char *dst, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void reasonf(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreason(dst, fmt, ap);
	va_end(ap);
}

/* Appends an action; when the array is full, sets overflow and drops it
 * (the header's contract: the caller sizes it with sched_actions_max()). */
static struct sched_action *act_add(struct sched_actions *out, enum sched_act_kind kind, size_t model)
{
	struct sched_action *a;

	if (!out)
		return NULL;
	if (!out->v || out->n >= out->cap) {
		out->overflow = true;
		return NULL;
	}
	a = &out->v[out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->model = model;
	return a;
}

static void act_req(struct sched_actions *out, enum sched_act_kind kind, size_t model, uint64_t req,
		    int status, const char *fmt, ...) ATTR_PRINTF(6, 7);
static void act_req(struct sched_actions *out, enum sched_act_kind kind, size_t model, uint64_t req,
		    int status, const char *fmt, ...)
{
	struct sched_action *a = act_add(out, kind, model);
	va_list ap;

	if (!a)
		return;
	a->req = req;
	a->status = status;
	va_start(ap, fmt);
	vreason(a->reason, fmt, ap);
	va_end(ap);
}

/* The per-model queue: a ring of max_queue ids from q_head. */
static uint64_t *q_at(struct sched *s, size_t m, uint32_t i)
{
	return &s->queue[m * s->opt.max_queue + (s->q_head[m] + i) % s->opt.max_queue];
}

static void q_push(struct sched *s, size_t m, uint64_t req)
{
	*q_at(s, m, s->models[m].n_queued) = req;
	s->models[m].n_queued++;
}

static uint64_t q_pop(struct sched *s, size_t m)
{
	uint64_t req = *q_at(s, m, 0);

	s->q_head[m] = (s->q_head[m] + 1) % s->opt.max_queue;
	s->models[m].n_queued--;
	return req;
}

/* Removes the i-th queued id, keeping the others in order (FIFO). */
static void q_remove(struct sched *s, size_t m, uint32_t i)
{
	struct sched_model *md = &s->models[m];

	for (; i + 1 < md->n_queued; i++)
		*q_at(s, m, i) = *q_at(s, m, i + 1);
	md->n_queued--;
}

static uint64_t *inflight(struct sched *s, size_t m)
{
	return &s->inflight[m * s->slots_max];
}

static void wait_clear(struct sched_model *md)
{
	md->waiting = false;
	md->wait_since = 0;
}

/* Rejects every queued request of m (and gives up an explicit load: whoever
 * asked for it is answered by the status, and nothing is left to load for). */
static void reject_queue(struct sched *s, size_t m, int status, struct sched_actions *out,
			 const char *fmt, ...) ATTR_PRINTF(5, 6);
static void reject_queue(struct sched *s, size_t m, int status, struct sched_actions *out,
			 const char *fmt, ...)
{
	struct sched_model *md = &s->models[m];
	char reason[SCHED_REASON_LEN];
	va_list ap;

	va_start(ap, fmt);
	vreason(reason, fmt, ap);
	va_end(ap);
	while (md->n_queued > 0)
		act_req(out, SCHED_ACT_REJECT, m, q_pop(s, m), status, "%s", reason);
	md->load_wanted = false;
	md->want_seq = 0;
	wait_clear(md);
}

/* Sends queued requests to a ready model while it has free slots, oldest
 * first; none to a draining one (they wait for it to load again). */
static void pump(struct sched *s, size_t m, struct sched_actions *out)
{
	struct sched_model *md = &s->models[m];

	while (md->state == SCHED_READY && !md->draining && md->n_queued > 0 && md->busy < md->cfg.slots) {
		uint64_t req = q_pop(s, m);
		struct sched_action *a;

		inflight(s, m)[md->busy++] = req;
		a = act_add(out, SCHED_ACT_DISPATCH, m);
		if (a) {
			a->req = req;
			a->plan_id = md->plan_id;
		}
	}
}

/* A ready model has just become idle: its keep-alive starts now (the pass
 * at the end of the event stops it at once when that is 0). */
static void went_idle(struct sched_model *md, int64_t now)
{
	md->expires_at = md->cfg.pin || md->keep_alive_ms < 0 ? INT64_MAX : after(now, md->keep_alive_ms);
}

static void set_keep_alive(struct sched_model *md, int64_t keep_alive_ms)
{
	/* Ollama: a request without keep_alive gets the default again, so the
	 * last request's choice is the one in force. */
	md->keep_alive_ms = keep_alive_ms == SCHED_KEEP_ALIVE_DEFAULT ? md->cfg.keep_alive_ms : keep_alive_ms;
}

/* A model's name for reasons. */
static const char *model_name(const struct sched *s, size_t m, char *buf, size_t len)
{
	if (m < s->n_models && s->models[m].cfg.name && s->models[m].cfg.name[0])
		return s->models[m].cfg.name;
	snprintf(buf, len, "model %zu", m);
	return buf;
}

static const char *pool_name(const struct sched *s, size_t p, char *buf, size_t len)
{
	if (s->opt.pool_names[p][0]) {
		snprintf(buf, len, "%.31s", s->opt.pool_names[p]);
		return buf;
	}
	if (p == 0)
		snprintf(buf, len, "RAM");
	else
		snprintf(buf, len, "GPU%zu", p - 1);
	return buf;
}

/* Stops a ready model. Never one in use: requests are never interrupted;
 * queued requests only of a draining one (they make it wait for a load in
 * turn). */
static void stop(struct sched *s, size_t m, enum sched_stop why, const char *reason,
		 struct sched_actions *out)
{
	struct sched_model *md = &s->models[m];
	struct sched_action *a;
	bool eviction = why == SCHED_STOP_MAKE_ROOM || why == SCHED_STOP_PRESSURE || why == SCHED_STOP_DRAIN;

	if (md->state != SCHED_READY || md->busy > 0 || (md->n_queued > 0 && !md->draining))
		return;
	md->state = SCHED_UNLOADING;
	md->draining = false;
	md->drain_pick = false;
	md->unload_when_idle = false;
	md->expires_at = INT64_MAX;
	md->n_stops[why < SCHED_STOP_N ? why : SCHED_STOP_OTHER]++;
	if (eviction) {
		md->n_evictions++;
		snprintf(md->reason, sizeof(md->reason), "%s", reason);
	}
	a = act_add(out, SCHED_ACT_STOP, m);
	if (a) {
		a->plan_id = md->plan_id;
		snprintf(a->reason, sizeof(a->reason), "%s", reason);
	}
}

static void to_unloaded(struct sched_model *md)
{
	md->state = SCHED_UNLOADED;
	md->busy = 0;
	md->draining = false;
	md->drain_pick = false;
	md->unload_when_idle = false;
	md->expires_at = INT64_MAX;
}

uint64_t sched_used(const struct sched *s, size_t pool)
{
	uint64_t sum = 0;

	if (pool >= s->opt.n_pools)
		return 0;
	for (size_t m = 0; m < s->n_models; m++)
		if (holds_memory(s->models[m].state))
			sum = add_sat(sum, s->models[m].need[pool]);
	return sum;
}

static uint32_t n_holding(const struct sched *s)
{
	uint32_t n = 0;

	for (size_t m = 0; m < s->n_models; m++)
		n += holds_memory(s->models[m].state);
	return n;
}

/* Pool p is short for need on top of held. For a model to load (slot), a
 * pool it does not use is never short: what others hold over the budget
 * there (pinned models that measured more than planned) is not its to
 * relieve, and its load changes nothing there. */
static bool pool_short(const struct sched *s, uint64_t held, const uint64_t *need, size_t p, bool slot)
{
	if (slot && need[p] == 0)
		return false;
	return add_sat(held, need[p]) > s->opt.budget[p];
}

/* need fits now: on top of everything held, unloading models included,
 * and under max_loaded counting them too. */
static bool fits_now(const struct sched *s, const uint64_t *need)
{
	for (size_t p = 0; p < s->opt.n_pools; p++)
		if (pool_short(s, sched_used(s, p), need, p, true))
			return false;
	return !s->opt.max_loaded || n_holding(s) < s->opt.max_loaded;
}

/* What will be held once the unloading models have exited: the loading
 * and ready models, less those chosen to stop. */
struct room {
	uint64_t held[SCHED_MAX_POOLS];
	uint32_t count;
};

static void room_init(const struct sched *s, struct room *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t m = 0; m < s->n_models; m++) {
		const struct sched_model *md = &s->models[m];

		if (md->state != SCHED_LOADING && md->state != SCHED_READY)
			continue;
		for (size_t p = 0; p < s->opt.n_pools; p++)
			r->held[p] = add_sat(r->held[p], md->need[p]);
		r->count++;
	}
}

/* slot: need is a model to load, so max_loaded counts too (memory
 * pressure only asks for memory). */
static bool room_fits(const struct sched *s, const struct room *r, const uint64_t *need, bool slot)
{
	for (size_t p = 0; p < s->opt.n_pools; p++)
		if (pool_short(s, r->held[p], need, p, slot))
			return false;
	return !slot || !s->opt.max_loaded || r->count < s->opt.max_loaded;
}

/* Stopping j brings need closer to fitting: it frees a pool still short,
 * or a model slot when max_loaded is what is short. (Stopping a model that
 * helps nowhere would lose it for nothing.) */
static bool room_helps(const struct sched *s, const struct room *r, const uint64_t *need, bool slot, size_t j)
{
	if (slot && s->opt.max_loaded && r->count >= s->opt.max_loaded)
		return true;
	for (size_t p = 0; p < s->opt.n_pools; p++)
		if (pool_short(s, r->held[p], need, p, slot) && s->models[j].need[p] > 0)
			return true;
	return false;
}

/* Eviction order: lowest priority first, then least recently used, then
 * registry order (a total order: the same state always picks the same
 * victims, which make_room() relies on). */
static bool ranks_before(const struct sched *s, size_t a, size_t b)
{
	const struct sched_model *x = &s->models[a], *y = &s->models[b];

	if (x->cfg.priority != y->cfg.priority)
		return x->cfg.priority < y->cfg.priority;
	if (x->last_used != y->last_used)
		return x->last_used < y->last_used;
	return a < b;
}

/* The model that ok() accepts ranked next by before() after prev
 * (SIZE_MAX: the first one); SIZE_MAX when none is left. No sorting: it
 * would need scratch memory, and there are a handful of models. */
static size_t next_ranked(const struct sched *s, size_t prev, bool (*ok)(const struct sched_model *),
			  bool (*before)(const struct sched *, size_t, size_t))
{
	size_t best = SIZE_MAX;

	for (size_t j = 0; j < s->n_models; j++) {
		if (!ok(&s->models[j]))
			continue;
		if (prev != SIZE_MAX && !before(s, prev, j))
			continue;
		if (best == SIZE_MAX || before(s, j, best))
			best = j;
	}
	return best;
}

static size_t next_victim(const struct sched *s, size_t prev)
{
	return next_ranked(s, prev, is_evictable, ranks_before);
}

/* Chooses idle models in eviction order, each only where it helps, until
 * need fits what stays; stops them when apply. Returns whether need fits
 * then. Called once without apply to see whether stopping is worth it, then
 * with apply: the choice is the same both times (ranks_before()), and a
 * model stopped on the way keeps its rank. */
static bool make_room(struct sched *s, const uint64_t *need, bool slot, bool apply, enum sched_stop why,
		      const char *reason, struct sched_actions *out)
{
	struct room r;
	size_t j = SIZE_MAX;

	room_init(s, &r);
	while (!room_fits(s, &r, need, slot)) {
		j = next_victim(s, j);
		if (j == SIZE_MAX)
			return false;
		if (!room_helps(s, &r, need, slot, j))
			continue;
		for (size_t p = 0; p < s->opt.n_pools; p++)
			r.held[p] = sub_sat(r.held[p], s->models[j].need[p]);
		r.count--;
		if (apply)
			stop(s, j, why, reason, out);
	}
	return true;
}

/* The planner, with the model's cap folded into avail and its answers
 * remembered per avail (they depend on nothing else). */
static int plan_for(struct sched *s, size_t m, const uint64_t *avail_in, int which, struct sched_plan *plan)
{
	const struct sched_model *md = &s->models[m];
	struct sched_memo *c = &s->memo[m * MEMO_PER_MODEL + (size_t)which];
	uint64_t avail[SCHED_MAX_POOLS] = { 0 };
	int rc;

	for (size_t p = 0; p < s->opt.n_pools; p++)
		avail[p] = md->has_cap && md->cap[p] < avail_in[p] ? md->cap[p] : avail_in[p];
	if (c->valid && memcmp(c->avail, avail, sizeof(avail)) == 0) {
		*plan = c->plan;
		return c->rc;
	}
	memset(plan, 0, sizeof(*plan));
	rc = s->opt.plan(s->opt.plan_ctx, m, avail, plan);
	plan->why[SCHED_REASON_LEN - 1] = '\0';
	for (size_t p = s->opt.n_pools; p < SCHED_MAX_POOLS; p++)
		plan->need[p] = 0;
	if (rc < 0)
		return rc; /* maybe transient (-ENOMEM): not remembered */
	c->valid = true;
	c->rc = rc;
	memcpy(c->avail, avail, sizeof(avail));
	c->plan = *plan;
	return rc;
}

static void start_load(struct sched *s, size_t m, const struct sched_plan *plan, struct sched_actions *out)
{
	struct sched_model *md = &s->models[m];
	struct sched_action *a;

	md->state = SCHED_LOADING;
	md->plan_id = plan->id;
	memcpy(md->need, plan->need, sizeof(md->need));
	md->measured = false;
	md->unload_when_idle = false;
	md->want_seq = 0;
	wait_clear(md);
	s->loading = true;
	a = act_add(out, SCHED_ACT_LOAD, m);
	if (a)
		a->plan_id = plan->id;
}

/* MiB, rounded up (a need of a few bytes is not 0 MiB). */
static unsigned long long mib(uint64_t n)
{
	return (unsigned long long)(n / (1u << 20) + (n % (1u << 20) != 0));
}

/* No plan fits under the cap an out-of-memory exit set: the model is
 * FAILED (500 for FAILED_HOLD_MS, then a request retries; sched_load()
 * at once), with a reason that says what to change. Leaving FAILED drops
 * the cap: memory may have been freed meanwhile. */
static void oom_fail(struct sched *s, size_t m, struct sched_actions *out)
{
	struct sched_model *md = &s->models[m];
	char needs[160] = "", name[40];
	size_t k = 0;

	for (size_t p = 0; p < s->opt.n_pools && k < sizeof(needs); p++) {
		int w;

		if (!md->oom_need[p])
			continue;
		w = snprintf(needs + k, sizeof(needs) - k, "%s%llu MiB of %s", k ? ", " : "", mib(md->oom_need[p]),
			     pool_name(s, p, name, sizeof(name)));
		if (w < 0)
			break;
		k += (size_t)w;
	}
	md->state = SCHED_FAILED;
	md->retry_at = after(s->now, FAILED_HOLD_MS);
	/* (the backend's last words last: truncated first) */
	reasonf(md->reason, "ran out of memory %s (needed %s); no smaller plan fits its fixed options: lower -c or "
		"-ngl in its preset, or free memory (%s)",
		md->oom_at_start ? "at its last start" : "while running", needs[0] ? needs : "?", md->oom_msg);
	reject_queue(s, m, 500, out, "%s", md->reason);
}

enum verdict {
	V_LOADED,   /* LOAD emitted */
	V_PENDING,  /* it fits once the unloading models (some just stopped) exit */
	V_WAIT,     /* it waits for models in use to go idle */
	V_REJECTED, /* its queue was rejected */
};

/* Admission of m, waiting for a load. head: the first in line, the only
 * one that may stop models or shrink; the others only load when they fit
 * as things are (so a small model is not stuck behind a big one waiting
 * for busy models; while the head waits for its victims to exit, admit()
 * considers nobody after it, so nobody takes what they free). */
static enum verdict consider(struct sched *s, size_t m, bool head, uint64_t *wait_need,
			    struct sched_actions *out)
{
	struct sched_model *md = &s->models[m];
	uint64_t avail[SCHED_MAX_POOLS] = { 0 };
	struct sched_plan best, small;
	uint32_t n_pinned = 0;
	int rc;

	/* The best plan: as if every model that can ever be stopped were; only
	 * pinned ones stay (unless an unload of theirs is pending). */
	for (size_t p = 0; p < s->opt.n_pools; p++)
		avail[p] = s->opt.budget[p];
	for (size_t j = 0; j < s->n_models; j++) {
		const struct sched_model *o = &s->models[j];

		if (j == m || !o->cfg.pin || o->unload_when_idle ||
		    (o->state != SCHED_LOADING && o->state != SCHED_READY))
			continue;
		for (size_t p = 0; p < s->opt.n_pools; p++)
			avail[p] = sub_sat(avail[p], o->need[p]);
		n_pinned++;
	}
	if (s->opt.max_loaded && n_pinned >= s->opt.max_loaded) {
		/* waiting would be forever (wait_ms < 0) */
		reject_queue(s, m, 503, out, "all %u model slots (max_loaded) hold pinned models", s->opt.max_loaded);
		return V_REJECTED;
	}
	rc = plan_for(s, m, avail, MEMO_BEST, &best);
	if (rc < 0) {
		reject_queue(s, m, 500, out, "cannot plan the model's placement (error %d)", -rc);
		return V_REJECTED;
	}
	if (!best.fits && md->has_cap) {
		/* the cap is what does not fit, unless the budgets or pinned
		 * models leave too little for any plan anyway (then: the
		 * planner's why, below) */
		struct sched_plan full;

		md->has_cap = false;
		rc = plan_for(s, m, avail, MEMO_SMALL, &full);
		md->has_cap = true;
		if (rc == 0 && full.fits) {
			oom_fail(s, m, out);
			return V_REJECTED;
		}
	}
	if (!best.fits) {
		/* nothing to wait for: no model that could ever stop makes room;
		 * the status keeps why (an unreadable file, too big) */
		snprintf(md->reason, sizeof(md->reason), "%s",
			 best.why[0] ? best.why : "the model does not fit in memory");
		reject_queue(s, m, 503, out, "%s", best.why[0] ? best.why : "the model does not fit in memory");
		return V_REJECTED;
	}
	if (fits_now(s, best.need)) {
		start_load(s, m, &best, out);
		return V_LOADED;
	}
	memcpy(wait_need, best.need, sizeof(best.need));
	if (!head)
		return V_WAIT;
	if (make_room(s, best.need, true, false, SCHED_STOP_MAKE_ROOM, NULL, out)) {
		make_room(s, best.need, true, true, SCHED_STOP_MAKE_ROOM, "evicted to load another model", out);
		return V_PENDING;
	}
	if (md->cfg.may_shrink) {
		/* The most it can have without waiting: what the models that
		 * stay (in use, pinned, loading) leave. */
		for (size_t p = 0; p < s->opt.n_pools; p++)
			avail[p] = s->opt.budget[p];
		for (size_t j = 0; j < s->n_models; j++) {
			const struct sched_model *o = &s->models[j];

			if (j == m || is_evictable(o) || (o->state != SCHED_LOADING && o->state != SCHED_READY))
				continue;
			for (size_t p = 0; p < s->opt.n_pools; p++)
				avail[p] = sub_sat(avail[p], o->need[p]);
		}
		rc = plan_for(s, m, avail, MEMO_SMALL, &small);
		if (rc == 0 && small.fits) {
			if (fits_now(s, small.need)) {
				start_load(s, m, &small, out);
				return V_LOADED;
			}
			if (make_room(s, small.need, true, false, SCHED_STOP_MAKE_ROOM, NULL, out)) {
				make_room(s, small.need, true, true, SCHED_STOP_MAKE_ROOM, "evicted to load another model", out);
				return V_PENDING;
			}
		}
	}
	return V_WAIT;
}

/* The model waiting to load with the smallest want_seq above prev;
 * SIZE_MAX when none. */
static size_t next_in_line(const struct sched *s, uint64_t prev)
{
	size_t best = SIZE_MAX;

	for (size_t m = 0; m < s->n_models; m++) {
		const struct sched_model *md = &s->models[m];

		if (!md->want_seq || md->want_seq <= prev)
			continue;
		if (best == SIZE_MAX || md->want_seq < s->models[best].want_seq)
			best = m;
	}
	return best;
}

/* Admission: models waiting to load, in the order they started waiting
 * (FIFO across models, as requests arrive). */
static void admit(struct sched *s, int64_t now, struct sched_actions *out)
{
	bool head = true;
	uint64_t prev = 0;

	for (size_t m = 0; m < s->n_models; m++) {
		struct sched_model *md = &s->models[m];

		if (!wants_load(md)) {
			md->want_seq = 0;
			wait_clear(md);
		} else if (!md->want_seq) {
			md->want_seq = ++s->seq;
		}
	}
	if (s->loading)
		return; /* one at a time: the next one is admitted when it ends */
	s->drain_head = SIZE_MAX;
	for (;;) {
		size_t m = next_in_line(s, prev);
		struct sched_model *md;
		uint64_t need[SCHED_MAX_POOLS];

		if (m == SIZE_MAX)
			return;
		md = &s->models[m];
		prev = md->want_seq;
		/* its own backend is still exiting, or a failed start's retry
		 * is not due: not in line yet */
		if (md->state != SCHED_UNLOADED || (md->failures > 0 && md->retry_at > now))
			continue;
		switch (consider(s, m, head, need, out)) {
		case V_LOADED:
			return;
		case V_PENDING:
			wait_clear(md);
			return;
		case V_WAIT:
			if (!md->waiting) {
				md->waiting = true;
				md->wait_since = now;
			}
			if (head) {
				s->drain_head = m;
				memcpy(s->drain_need, need, sizeof(need));
				/* while models drain for it, nobody takes what
				 * is free: it would only make them drain more */
				for (size_t j = 0; j < s->n_models; j++)
					if (s->models[j].draining)
						return;
			}
			head = false;
			break;
		case V_REJECTED:
			break;
		}
	}
}

/* The first in line (so that its going frees the way for the next) of the
 * models that waited wait_ms in vain: its queue gets 503. Returns whether
 * there was one. */
static bool time_out_one(struct sched *s, int64_t now, struct sched_actions *out)
{
	size_t hit = SIZE_MAX;

	if (s->opt.wait_ms < 0)
		return false;
	for (size_t m = 0; m < s->n_models; m++) {
		const struct sched_model *md = &s->models[m];

		if (!md->waiting || now < after(md->wait_since, s->opt.wait_ms))
			continue;
		if (hit == SIZE_MAX || md->want_seq < s->models[hit].want_seq)
			hit = m;
	}
	if (hit == SIZE_MAX)
		return false;
	if (s->opt.max_loaded && n_holding(s) >= s->opt.max_loaded)
		reject_queue(s, hit, 503, out, "no model slot freed within %lld ms (max_loaded %u, all in use)",
			     (long long)s->opt.wait_ms, s->opt.max_loaded);
	else
		reject_queue(s, hit, 503, out, "no memory freed for the model within %lld ms (the models holding it are in use)",
			     (long long)s->opt.wait_ms);
	return true;
}

/* A model a drain may stop: ready, and not pinned (unless its unload is
 * pending: it goes once idle anyway). */
static bool is_drainable(const struct sched_model *md)
{
	return md->state == SCHED_READY && (!md->cfg.pin || md->unload_when_idle);
}

/* Drain order: the models already draining first (a drain under way is
 * kept, not traded for another), then eviction order. */
static bool drains_before(const struct sched *s, size_t a, size_t b)
{
	if (s->models[a].draining != s->models[b].draining)
		return s->models[a].draining;
	return ranks_before(s, a, b);
}

static size_t next_drain_victim(const struct sched *s, size_t prev)
{
	return next_ranked(s, prev, is_drainable, drains_before);
}

/* As make_room(), among the drainable models, busy or not: picks
 * (drain_pick) those that must go for need to fit; false (and none picked)
 * when it does not fit even with them all gone. */
static bool drain_room(struct sched *s, const uint64_t *need)
{
	struct room r;
	size_t j = SIZE_MAX;

	for (size_t m = 0; m < s->n_models; m++)
		s->models[m].drain_pick = false;
	room_init(s, &r);
	while (!room_fits(s, &r, need, true)) {
		j = next_drain_victim(s, j);
		if (j == SIZE_MAX) {
			for (size_t m = 0; m < s->n_models; m++)
				s->models[m].drain_pick = false;
			return false;
		}
		if (!room_helps(s, &r, need, true, j))
			continue;
		for (size_t p = 0; p < s->opt.n_pools; p++)
			r.held[p] = sub_sat(r.held[p], s->models[j].need[p]);
		r.count--;
		s->models[j].drain_pick = true;
	}
	return true;
}

/* Fairness: when the first in line (drain_head) has waited drain_after_ms
 * for models in use, the models that must go for it are drained: nothing
 * new is dispatched to them, and each is stopped once its requests in
 * flight are done, queued ones or not. Models no longer needed for it (it
 * loaded, left the line, or needs less) are dispatched to again. Returns
 * whether it stopped one or gave one back (admission may go on then). */
static bool drain_step(struct sched *s, int64_t now, struct sched_actions *out)
{
	size_t h = s->drain_head;
	bool changed = false, want = false;
	char reason[SCHED_REASON_LEN], name[40];

	if (h != SIZE_MAX) {
		const struct sched_model *hd = &s->models[h];

		/* (while a load is under way admit() does not look again) */
		if (hd->state != SCHED_UNLOADED || !hd->waiting || !hd->want_seq)
			s->drain_head = h = SIZE_MAX;
		else
			want = s->opt.drain_after_ms > 0 && now >= after(hd->wait_since, s->opt.drain_after_ms);
	}
	if (!want || !drain_room(s, s->drain_need))
		for (size_t m = 0; m < s->n_models; m++)
			s->models[m].drain_pick = false;
	if (h != SIZE_MAX)
		snprintf(reason, sizeof(reason), "drained for %s (waiting %lld ms)",
			 model_name(s, h, name, sizeof(name)), (long long)(now - s->models[h].wait_since));
	for (size_t m = 0; m < s->n_models; m++) {
		struct sched_model *md = &s->models[m];

		if (md->draining && !md->drain_pick) {
			md->draining = false;
			changed = true;
			pump(s, m, out);
			if (is_idle(md))
				went_idle(md, now);
		} else if (md->drain_pick) {
			md->draining = true;
		}
		md->drain_pick = false;
		if (md->draining && md->busy == 0) {
			stop(s, m, SCHED_STOP_DRAIN, reason, out);
			changed |= md->state == SCHED_UNLOADING;
		}
	}
	return changed;
}

/* The end of every event. */
static void pass(struct sched *s, int64_t now, struct sched_actions *out)
{
	static const uint64_t nothing[SCHED_MAX_POOLS];

	s->now = now;
	for (size_t m = 0; m < s->n_models; m++) {
		struct sched_model *md = &s->models[m];

		if (!is_idle(md))
			continue;
		if (md->unload_when_idle)
			stop(s, m, SCHED_STOP_UNLOAD_REQUEST, "unloaded on request", out);
		else if (!md->cfg.pin && md->expires_at <= now)
			stop(s, m, SCHED_STOP_KEEP_ALIVE, "keep-alive expired", out);
	}
	/* over budget (budgets lowered, or a backend measured more than its
	 * plan): idle models go until what stays fits */
	make_room(s, nothing, false, true, SCHED_STOP_PRESSURE,
		  s->budget_why[0] ? s->budget_why : "memory pressure", out);
	/* a drain that stops models (the first in line may be pending then)
	 * or gives them back (the others may load again) is followed by
	 * another admission; each round stops or gives back a model */
	for (size_t round = 0;; round++) {
		do
			admit(s, now, out);
		while (time_out_one(s, now, out));
		if (!drain_step(s, now, out) || round > 2 * s->n_models)
			break;
	}
}

int sched_init(struct sched *s, const struct sched_options *opt, size_t n, const struct sched_model_cfg *cfg)
{
	size_t nq, ni, nm;

	memset(s, 0, sizeof(*s));
	if (!opt || (n && !cfg) || !opt->plan || opt->n_pools == 0 || opt->n_pools > SCHED_MAX_POOLS ||
	    opt->max_queue == 0)
		return -EINVAL;
	for (size_t m = 0; m < n; m++) {
		if (cfg[m].slots == 0)
			return -EINVAL;
		if (cfg[m].slots > s->slots_max)
			s->slots_max = cfg[m].slots;
	}
	if (__builtin_mul_overflow(n, (size_t)opt->max_queue, &nq) ||
	    __builtin_mul_overflow(n, (size_t)s->slots_max, &ni) ||
	    __builtin_mul_overflow(n, (size_t)MEMO_PER_MODEL, &nm))
		return -ENOMEM;
	s->opt = *opt;
	s->n_models = n;
	/* + 1: calloc(0) may return NULL, which would read as failure */
	s->models = calloc(n + 1, sizeof(*s->models));
	s->queue = calloc(nq + 1, sizeof(*s->queue));
	s->q_head = calloc(n + 1, sizeof(*s->q_head));
	s->inflight = calloc(ni + 1, sizeof(*s->inflight));
	s->memo = calloc(nm + 1, sizeof(*s->memo));
	if (!s->models || !s->queue || !s->q_head || !s->inflight || !s->memo) {
		sched_release(s);
		return -ENOMEM;
	}
	for (size_t m = 0; m < n; m++) {
		struct sched_model *md = &s->models[m];

		md->cfg = cfg[m];
		md->state = SCHED_UNLOADED;
		md->keep_alive_ms = cfg[m].keep_alive_ms;
		md->expires_at = INT64_MAX;
	}
	s->drain_head = SIZE_MAX;
	return 0;
}

void sched_release(struct sched *s)
{
	if (!s)
		return;
	free(s->models);
	free(s->queue);
	free(s->q_head);
	free(s->inflight);
	free(s->memo);
	memset(s, 0, sizeof(*s));
}

void sched_request(struct sched *s, int64_t now, size_t model, uint64_t req, int64_t keep_alive_ms,
		   struct sched_actions *out)
{
	struct sched_model *md;

	if (model >= s->n_models) {
		act_req(out, SCHED_ACT_REJECT, model, req, 404, "no such model");
		return;
	}
	md = &s->models[model];
	set_keep_alive(md, keep_alive_ms);
	md->last_used = now;
	if (md->state == SCHED_FAILED) {
		if (now < md->retry_at) {
			act_req(out, SCHED_ACT_REJECT, model, req, 500, "%s", md->reason);
			pass(s, now, out);
			return;
		}
		/* held long enough: this request tries again, full size (an
		 * OOM cap goes: memory may have been freed meanwhile) */
		md->state = SCHED_UNLOADED;
		md->failures = 0;
		md->has_cap = false;
	}
	if (md->n_queued >= s->opt.max_queue) {
		/* (a ready model with a free slot has an empty queue: pump()) */
		act_req(out, SCHED_ACT_REJECT, model, req, 503, "too many requests waiting for the model (max_queue %u)",
			s->opt.max_queue);
	} else {
		q_push(s, model, req);
		pump(s, model, out);
	}
	pass(s, now, out);
}

void sched_request_done(struct sched *s, int64_t now, uint64_t req, struct sched_actions *out)
{
	for (size_t m = 0; m < s->n_models; m++) {
		struct sched_model *md = &s->models[m];
		uint64_t *in = inflight(s, m);

		for (uint32_t i = 0; i < md->busy; i++) {
			if (in[i] != req)
				continue;
			in[i] = in[--md->busy];
			md->last_used = now;
			pump(s, m, out);
			if (is_idle(md))
				went_idle(md, now);
			pass(s, now, out);
			return;
		}
		for (uint32_t i = 0; i < md->n_queued; i++) {
			if (*q_at(s, m, i) != req)
				continue;
			/* its client went away before it was dispatched */
			q_remove(s, m, i);
			pass(s, now, out);
			return;
		}
	}
}

void sched_loaded(struct sched *s, int64_t now, size_t model, const uint64_t *measured,
		  struct sched_actions *out)
{
	struct sched_model *md;

	if (model >= s->n_models || s->models[model].state != SCHED_LOADING)
		return;
	md = &s->models[model];
	md->state = SCHED_READY;
	s->loading = false;
	md->failures = 0;
	md->retry_at = 0;
	md->load_wanted = false;
	md->n_loads++;
	md->last_used = now;
	if (measured) {
		for (size_t p = 0; p < s->opt.n_pools; p++)
			md->need[p] = measured[p];
		md->measured = true;
	}
	pump(s, model, out);
	if (is_idle(md))
		went_idle(md, now);
	pass(s, now, out);
}

/* After an out-of-memory exit: the next plan gets at most OOM_CAP_PCT% of
 * this one's need in every pool it used (the estimate was short by an
 * unknown amount somewhere). */
static void cap_after_oom(struct sched_model *md, size_t n_pools, bool at_start, const char *msg)
{
	memcpy(md->oom_need, md->need, sizeof(md->oom_need));
	md->oom_at_start = at_start;
	snprintf(md->oom_msg, sizeof(md->oom_msg), "%s", msg);
	for (size_t p = 0; p < n_pools; p++) {
		uint64_t n = md->need[p], c;

		if (n == 0) {
			if (!md->has_cap)
				md->cap[p] = UINT64_MAX;
			continue;
		}
		c = n / 100 * OOM_CAP_PCT + n % 100 * OOM_CAP_PCT / 100;
		md->cap[p] = md->has_cap && md->cap[p] < c ? md->cap[p] : c;
	}
	md->has_cap = true;
}

static const char *exit_name(enum sched_exit why)
{
	switch (why) {
	case SCHED_EXIT_STOPPED:
		return "stopped";
	case SCHED_EXIT_CRASH:
		return "crashed";
	case SCHED_EXIT_OOM:
		return "out of memory";
	case SCHED_EXIT_TIMEOUT:
		return "not healthy in time";
	}
	return "exited";
}

void sched_exited(struct sched *s, int64_t now, size_t model, enum sched_exit why, const char *msg,
		  struct sched_actions *out)
{
	struct sched_model *md;

	if (model >= s->n_models)
		return;
	md = &s->models[model];
	if (!msg || !*msg)
		msg = exit_name(why);
	switch (md->state) {
	case SCHED_UNLOADING:
		/* gone, as asked (a crash on the way out changes nothing); a
		 * model that loaded under an OOM cap starts from its best plan
		 * again next time */
		to_unloaded(md);
		md->has_cap = false;
		break;
	case SCHED_READY: {
		uint64_t *in = inflight(s, model);

		/* died on its own (or was stopped behind our back) */
		snprintf(md->reason, sizeof(md->reason), "backend %s: %s", exit_name(why), msg);
		for (uint32_t i = 0; i < md->busy; i++)
			act_req(out, SCHED_ACT_ABORT, model, in[i], 502, "%s", md->reason);
		if (why == SCHED_EXIT_OOM) {
			md->n_ooms++;
			cap_after_oom(md, s->opt.n_pools, false, msg);
		} else {
			md->n_crashes++;
		}
		/* queued requests stay: the pass loads it again for them */
		to_unloaded(md);
		break;
	}
	case SCHED_LOADING:
		s->loading = false;
		md->failures++;
		if (why == SCHED_EXIT_OOM) {
			md->n_ooms++;
			cap_after_oom(md, s->opt.n_pools, true, msg);
		} else if (why == SCHED_EXIT_CRASH) {
			md->n_crashes++;
		}
		to_unloaded(md);
		if (md->failures >= SCHED_MAX_FAILURES) {
			md->state = SCHED_FAILED;
			snprintf(md->reason, sizeof(md->reason), "failed to start %u times in a row; last: %s: %s",
				 md->failures, exit_name(why), msg);
			md->retry_at = after(now, FAILED_HOLD_MS);
			reject_queue(s, model, 500, out, "%s", md->reason);
		} else {
			snprintf(md->reason, sizeof(md->reason), "failed to start: %s: %s", exit_name(why), msg);
			/* 1 s, 2 s, 4 s, ... */
			md->retry_at = after(now, (int64_t)1000 << (md->failures - 1));
		}
		break;
	case SCHED_UNLOADED:
	case SCHED_FAILED:
		return; /* not ours (reported twice, or late) */
	}
	pass(s, now, out);
}

void sched_unload(struct sched *s, int64_t now, size_t model, struct sched_actions *out)
{
	struct sched_model *md;

	if (model >= s->n_models)
		return;
	md = &s->models[model];
	switch (md->state) {
	case SCHED_READY:
	case SCHED_LOADING:
		/* now if idle (the pass stops it), else once idle */
		md->unload_when_idle = true;
		break;
	case SCHED_UNLOADED:
	case SCHED_UNLOADING:
		md->load_wanted = false;
		break;
	case SCHED_FAILED:
		break;
	}
	pass(s, now, out);
}

void sched_load(struct sched *s, int64_t now, size_t model, int64_t keep_alive_ms, struct sched_actions *out)
{
	struct sched_model *md;

	if (model >= s->n_models)
		return;
	if (keep_alive_ms == 0) {
		sched_unload(s, now, model, out);
		return;
	}
	md = &s->models[model];
	set_keep_alive(md, keep_alive_ms);
	switch (md->state) {
	case SCHED_FAILED:
		md->state = SCHED_UNLOADED;
		md->failures = 0;
		md->retry_at = 0;
		md->load_wanted = true;
		md->has_cap = false; /* full size again */
		break;
	case SCHED_UNLOADED:
	case SCHED_UNLOADING:
		md->load_wanted = true;
		break;
	case SCHED_LOADING:
		md->unload_when_idle = false;
		break;
	case SCHED_READY:
		md->unload_when_idle = false;
		md->last_used = now;
		if (is_idle(md))
			went_idle(md, now);
		break;
	}
	pass(s, now, out);
}

void sched_tick(struct sched *s, int64_t now, struct sched_actions *out)
{
	pass(s, now, out);
}

void sched_set_budget(struct sched *s, int64_t now, const uint64_t *budget, struct sched_actions *out)
{
	sched_set_budget_why(s, now, budget, NULL, out);
}

void sched_set_budget_why(struct sched *s, int64_t now, const uint64_t *budget, const char *why,
			  struct sched_actions *out)
{
	for (size_t p = 0; p < s->opt.n_pools; p++)
		s->opt.budget[p] = budget[p];
	snprintf(s->budget_why, sizeof(s->budget_why), "%s", why ? why : "");
	pass(s, now, out);
}

int64_t sched_next_deadline(const struct sched *s)
{
	int64_t d = INT64_MAX;

	for (size_t m = 0; m < s->n_models; m++) {
		const struct sched_model *md = &s->models[m];

		if (is_idle(md) && !md->cfg.pin && !md->unload_when_idle && md->expires_at < d)
			d = md->expires_at;
		/* a retry already due waits for an event (the load under way
		 * ending, memory), not for time */
		if (md->state == SCHED_UNLOADED && wants_load(md) && md->failures > 0 && md->retry_at > s->now &&
		    md->retry_at < d)
			d = md->retry_at;
		if (md->waiting && s->opt.wait_ms >= 0 && after(md->wait_since, s->opt.wait_ms) < d)
			d = after(md->wait_since, s->opt.wait_ms);
		/* a drain is due (once passed, it is decided on every event) */
		if (md->waiting && s->opt.drain_after_ms > 0 && after(md->wait_since, s->opt.drain_after_ms) > s->now &&
		    after(md->wait_since, s->opt.drain_after_ms) < d)
			d = after(md->wait_since, s->opt.drain_after_ms);
	}
	return d;
}

size_t sched_actions_max(const struct sched *s)
{
	/* one event: a STOP per model, every queued request rejected plus the
	 * new one, one LOAD, and one model's slots dispatched or aborted */
	return s->n_models * ((size_t)s->opt.max_queue + 1) + 2 + 2 * (size_t)s->slots_max;
}

void sched_replan(struct sched *s, size_t model)
{
	for (size_t m = 0; m < s->n_models; m++) {
		if (model != SIZE_MAX && m != model)
			continue;
		for (size_t k = 0; k < MEMO_PER_MODEL; k++)
			s->memo[m * MEMO_PER_MODEL + k].valid = false;
		/* an OOM cap was about the old plans */
		s->models[m].has_cap = false;
	}
}

void sched_plan_lost(struct sched *s, int64_t now, size_t model, struct sched_actions *out)
{
	if (model >= s->n_models || s->models[model].state != SCHED_LOADING)
		return;
	for (size_t k = 0; k < MEMO_PER_MODEL; k++)
		s->memo[model * MEMO_PER_MODEL + k].valid = false;
	s->loading = false;
	to_unloaded(&s->models[model]);
	pass(s, now, out);
}

const char *sched_state_name(enum sched_state st)
{
	switch (st) {
	case SCHED_UNLOADED:
		return "unloaded";
	case SCHED_LOADING:
		return "loading";
	case SCHED_READY:
		return "ready";
	case SCHED_UNLOADING:
		return "unloading";
	case SCHED_FAILED:
		return "failed";
	}
	return "?";
}

const char *sched_stop_name(enum sched_stop why)
{
	switch (why) {
	case SCHED_STOP_KEEP_ALIVE:
		return "keep_alive";
	case SCHED_STOP_PRESSURE:
		return "pressure";
	case SCHED_STOP_MAKE_ROOM:
		return "make_room";
	case SCHED_STOP_UNLOAD_REQUEST:
		return "unload_request";
	case SCHED_STOP_DRAIN:
		return "drain";
	case SCHED_STOP_OTHER:
	case SCHED_STOP_N:
		break;
	}
	return "other";
}
