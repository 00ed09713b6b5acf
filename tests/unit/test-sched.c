/* test-sched.c: the serve scheduler (src/serve/sched.c) driven by made-up
 * events and a fake planner (each model has a list of plans, best first;
 * the planner returns the first that fits what it is given). One test per
 * rule of sched.h, then thousands of random events checked against a model
 * of the daemon: loads fit the budgets, one load at a time, no model stopped
 * while in use or pinned, slots respected, FIFO dispatch, nothing new
 * dispatched to a draining model, and every request answered exactly once;
 * and, under continuous load on the loaded models, every request answered
 * within a bound (fairness: models in use are drained for one that waits). */
#include "base/compat.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "serve/sched.h"

#define NP 2      /* pools: RAM, one GPU */
#define MAXM 8    /* models */
#define MAXO 3    /* plans per model */
#define KA_DEF SCHED_KEEP_ALIVE_DEFAULT
#define DEF_KA 300000 /* the models' default keep-alive in these tests */

struct fake {
	uint32_t n_opts[MAXM];
	uint64_t opts[MAXM][MAXO][NP];
	int rc;            /* < 0: the planner fails */
	int calls;
	uint64_t last_avail[MAXM][NP];
};

/* plan id: model * 10 + the option's index */
static int fake_plan(void *ctx, size_t model, const uint64_t *avail, struct sched_plan *plan)
{
	struct fake *f = ctx;

	f->calls++;
	memcpy(f->last_avail[model], avail, sizeof(f->last_avail[model]));
	if (f->rc)
		return f->rc;
	for (uint32_t i = 0; i < f->n_opts[model]; i++) {
		bool ok = true;

		for (size_t p = 0; p < NP; p++)
			ok &= f->opts[model][i][p] <= avail[p];
		if (!ok)
			continue;
		plan->fits = true;
		plan->id = (uint32_t)(model * 10 + i);
		for (size_t p = 0; p < NP; p++)
			plan->need[p] = f->opts[model][i][p];
		return 0;
	}
	plan->fits = false;
	snprintf(plan->why, sizeof(plan->why), "model %zu needs %llu GPU bytes, %llu available", model,
		 (unsigned long long)f->opts[model][f->n_opts[model] - 1][1], (unsigned long long)avail[1]);
	return 0;
}

struct fx {
	struct fake f;
	struct sched s;
	struct sched_action v[1024];
	struct sched_actions out;
	size_t n;
	struct sched_model_cfg cfg[MAXM];
	struct sched_options opt;
};

static struct sched_model_cfg cfg_default(void)
{
	struct sched_model_cfg c = { .priority = 0, .slots = 1, .keep_alive_ms = DEF_KA };
	return c;
}

/* n models, each with the one plan {ram, gpu}; budget {100, 24}. Tweak
 * x->cfg / x->opt / x->f between fx_new() and fx_start(). */
static struct fx *fx_new(size_t n)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->n = n;
	for (size_t m = 0; m < n; m++) {
		x->cfg[m] = cfg_default();
		x->f.n_opts[m] = 1;
		x->f.opts[m][0][0] = 10;
		x->f.opts[m][0][1] = 10;
	}
	x->opt.n_pools = NP;
	x->opt.budget[0] = 100;
	x->opt.budget[1] = 24;
	x->opt.max_queue = 8;
	x->opt.wait_ms = 10000;
	x->opt.plan = fake_plan;
	x->opt.plan_ctx = &x->f;
	return x;
}

static void fx_start(struct fx *x)
{
	assert_int_equal(sched_init(&x->s, &x->opt, x->n, x->cfg), 0);
	x->out.v = x->v;
	x->out.cap = ARRAY_SIZE(x->v);
	assert_true(sched_actions_max(&x->s) <= x->out.cap);
}

static void fx_free(struct fx *x)
{
	sched_release(&x->s);
	free(x);
}

static void clr(struct fx *x)
{
	x->out.n = 0;
	x->out.overflow = false;
}

/* Events: each clears the actions first, so x->out holds its own. */
static void req(struct fx *x, int64_t now, size_t m, uint64_t id, int64_t ka)
{
	clr(x);
	sched_request(&x->s, now, m, id, ka, &x->out);
}

static void done(struct fx *x, int64_t now, uint64_t id)
{
	clr(x);
	sched_request_done(&x->s, now, id, &x->out);
}

static void loaded(struct fx *x, int64_t now, size_t m)
{
	clr(x);
	sched_loaded(&x->s, now, m, NULL, &x->out);
}

static void exited(struct fx *x, int64_t now, size_t m, enum sched_exit why, const char *msg)
{
	clr(x);
	sched_exited(&x->s, now, m, why, msg, &x->out);
}

static void tick(struct fx *x, int64_t now)
{
	clr(x);
	sched_tick(&x->s, now, &x->out);
}

static void budget(struct fx *x, int64_t now, uint64_t ram, uint64_t gpu)
{
	uint64_t b[SCHED_MAX_POOLS] = { ram, gpu };

	clr(x);
	sched_set_budget(&x->s, now, b, &x->out);
}

static size_t count(const struct fx *x, enum sched_act_kind kind, size_t m)
{
	size_t n = 0;

	for (size_t i = 0; i < x->out.n; i++)
		n += x->out.v[i].kind == kind && (m == SIZE_MAX || x->out.v[i].model == m);
	return n;
}

/* The action of kind for model m (find) or request id (find_req); fails
 * the test, naming the caller's line, when there is none. */
static const struct sched_action *find_at(const struct fx *x, enum sched_act_kind kind, size_t m, int line)
{
	for (size_t i = 0; i < x->out.n; i++)
		if (x->out.v[i].kind == kind && (m == SIZE_MAX || x->out.v[i].model == m))
			return &x->out.v[i];
	fail_msg("line %d: no action %d for model %zu among %zu", line, kind, m, x->out.n);
	return NULL;
}

static const struct sched_action *find_req_at(const struct fx *x, enum sched_act_kind kind, uint64_t id, int line)
{
	for (size_t i = 0; i < x->out.n; i++)
		if (x->out.v[i].kind == kind && x->out.v[i].req == id)
			return &x->out.v[i];
	fail_msg("line %d: no action %d for request %llu among %zu", line, kind, (unsigned long long)id, x->out.n);
	return NULL;
}

#define find(x, kind, m) find_at(x, kind, m, __LINE__)
#define find_req(x, kind, id) find_req_at(x, kind, id, __LINE__)

/* Loads m for request id at now (it must fit at once) and dispatches it. */
static void serve(struct fx *x, int64_t now, size_t m, uint64_t id)
{
	req(x, now, m, id, KA_DEF);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(find(x, SCHED_ACT_LOAD, m)->plan_id, m * 10);
	loaded(x, now, m);
	assert_int_equal(find_req(x, SCHED_ACT_DISPATCH, id)->model, m);
}

#define ST(x, m) ((x)->s.models[m].state)

/* The daemon lost the plan a load named: the model is planned again and
 * its load starts at once, not counted as a failure, with no back-off. */
static void test_plan_lost(void **state)
{
	struct fx *x = fx_new(2);
	int calls;

	(void)state;
	fx_start(x);
	req(x, 1000, 0, 1, KA_DEF);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 0);
	calls = x->f.calls;
	/* a model that is not loading is left alone */
	clr(x);
	sched_plan_lost(&x->s, 1001, 1, &x->out);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(ST(x, 1), SCHED_UNLOADED);
	/* now with a plan the fake planner numbers differently */
	x->f.opts[0][0][0] = 20;
	clr(x);
	sched_plan_lost(&x->s, 1002, 0, &x->out);
	assert_int_equal(count(x, SCHED_ACT_LOAD, 0), 1);
	assert_true(x->f.calls > calls); /* planned again, not from memory */
	assert_int_equal(ST(x, 0), SCHED_LOADING);
	assert_int_equal(x->s.models[0].failures, 0);
	assert_int_equal(x->s.models[0].n_crashes, 0);
	assert_int_equal(sched_used(&x->s, 0), 20);
	assert_true(x->s.loading);
	loaded(x, 1500, 0);
	assert_int_equal(find_req(x, SCHED_ACT_DISPATCH, 1)->model, 0);
	fx_free(x);
}

static void test_basic_lifecycle(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	x->f.opts[0][0][0] = 2;
	fx_start(x);
	req(x, 1000, 0, 1, KA_DEF);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 0);
	assert_int_equal(ST(x, 0), SCHED_LOADING);
	assert_true(x->s.loading);
	assert_int_equal(sched_used(&x->s, 0), 2);
	assert_int_equal(sched_used(&x->s, 1), 10);
	assert_int_equal(sched_used(&x->s, 7), 0);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);

	loaded(x, 2000, 0);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(find_req(x, SCHED_ACT_DISPATCH, 1)->model, 0);
	assert_int_equal(ST(x, 0), SCHED_READY);
	assert_false(x->s.loading);
	assert_int_equal(x->s.models[0].busy, 1);
	assert_int_equal(x->s.models[0].n_loads, 1);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX); /* busy */

	done(x, 3000, 1);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(x->s.models[0].busy, 0);
	assert_int_equal(x->s.models[0].expires_at, 3000 + DEF_KA);
	assert_int_equal(sched_next_deadline(&x->s), 3000 + DEF_KA);

	tick(x, 3000 + DEF_KA - 1);
	assert_int_equal(x->out.n, 0);
	tick(x, 3000 + DEF_KA);
	assert_int_equal(x->out.n, 1);
	assert_string_equal(find(x, SCHED_ACT_STOP, 0)->reason, "keep-alive expired");
	assert_int_equal(ST(x, 0), SCHED_UNLOADING);
	assert_int_equal(sched_used(&x->s, 1), 10); /* until it has exited */
	assert_int_equal(x->s.models[0].n_evictions, 0);

	exited(x, 3000 + DEF_KA + 100, 0, SCHED_EXIT_STOPPED, NULL);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(ST(x, 0), SCHED_UNLOADED);
	assert_int_equal(sched_used(&x->s, 0), 0);
	assert_int_equal(sched_used(&x->s, 1), 0);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	assert_string_equal(sched_state_name(SCHED_UNLOADING), "unloading");
	assert_string_equal(sched_state_name(SCHED_FAILED), "failed");
	fx_free(x);
}

static void test_keep_alive_zero_and_negative(void **state)
{
	struct fx *x = fx_new(2);

	(void)state;
	fx_start(x);
	req(x, 0, 0, 1, 0);
	loaded(x, 10, 0);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, 0), 1);
	done(x, 20, 1);
	/* 0: stopped right after the response */
	assert_int_equal(x->out.n, 1);
	assert_string_equal(find(x, SCHED_ACT_STOP, 0)->reason, "keep-alive expired");

	/* negative: never */
	req(x, 30, 1, 2, -1);
	loaded(x, 40, 1);
	done(x, 50, 2);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(x->s.models[1].expires_at, INT64_MAX);
	exited(x, 60, 0, SCHED_EXIT_STOPPED, NULL);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	tick(x, INT64_MAX - 1);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(ST(x, 1), SCHED_READY);
	fx_free(x);
}

static void test_keep_alive_per_request_last_wins(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	x->cfg[0].slots = 2;
	fx_start(x);
	req(x, 0, 0, 1, 10000);
	loaded(x, 0, 0);
	done(x, 5000, 1);
	assert_int_equal(x->s.models[0].keep_alive_ms, 10000);
	assert_int_equal(sched_next_deadline(&x->s), 15000);

	/* a request without keep_alive puts the default back (Ollama) */
	req(x, 6000, 0, 2, KA_DEF);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, 0), 1);
	done(x, 7000, 2);
	assert_int_equal(sched_next_deadline(&x->s), 7000 + DEF_KA);

	/* two at once: the last to arrive decides, from when both are done */
	req(x, 8000, 0, 3, 1000);
	req(x, 8001, 0, 4, 50000);
	done(x, 8500, 4);
	assert_int_equal(x->out.n, 0);
	done(x, 9000, 3);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(sched_next_deadline(&x->s), 59000);
	tick(x, 58999);
	assert_int_equal(x->out.n, 0);
	tick(x, 59000);
	assert_int_equal(count(x, SCHED_ACT_STOP, 0), 1);
	fx_free(x);
}

static void test_pinned_never_expires(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	x->cfg[0].pin = true;
	fx_start(x);
	serve(x, 0, 0, 1);
	done(x, 10, 1);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	req(x, 20, 0, 2, 0); /* keep_alive 0: pin wins */
	done(x, 30, 2);
	assert_int_equal(x->out.n, 0);
	tick(x, INT64_MAX - 1);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(ST(x, 0), SCHED_READY);
	fx_free(x);
}

static void test_queue_bound(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	x->opt.max_queue = 2;
	fx_start(x);
	req(x, 0, 0, 1, KA_DEF);
	req(x, 1, 0, 2, KA_DEF);
	assert_int_equal(x->out.n, 0);
	req(x, 2, 0, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 3)->status, 503);
	assert_non_null(strstr(find_req(x, SCHED_ACT_REJECT, 3)->reason, "max_queue 2"));
	loaded(x, 10, 0);
	assert_int_equal(x->out.n, 1);
	find_req(x, SCHED_ACT_DISPATCH, 1);
	/* one slot busy, one queued: room for one more */
	req(x, 11, 0, 4, KA_DEF);
	assert_int_equal(x->out.n, 0);
	req(x, 12, 0, 5, KA_DEF);
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 5)->status, 503);
	done(x, 20, 1);
	find_req(x, SCHED_ACT_DISPATCH, 2);
	done(x, 21, 2);
	find_req(x, SCHED_ACT_DISPATCH, 4);
	fx_free(x);
}

static void test_slots_fifo(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	x->cfg[0].slots = 2;
	fx_start(x);
	for (uint64_t id = 1; id <= 5; id++)
		req(x, (int64_t)id, 0, id, KA_DEF);
	loaded(x, 10, 0);
	assert_int_equal(x->out.n, 2);
	assert_int_equal(x->out.v[0].req, 1);
	assert_int_equal(x->out.v[1].req, 2);
	assert_int_equal(x->s.models[0].busy, 2);
	assert_int_equal(x->s.models[0].n_queued, 3);
	done(x, 20, 2);
	assert_int_equal(x->out.n, 1);
	find_req(x, SCHED_ACT_DISPATCH, 3);
	done(x, 21, 1);
	find_req(x, SCHED_ACT_DISPATCH, 4);
	req(x, 22, 0, 6, KA_DEF);
	assert_int_equal(x->out.n, 0);
	done(x, 23, 3);
	find_req(x, SCHED_ACT_DISPATCH, 5);
	done(x, 24, 4);
	find_req(x, SCHED_ACT_DISPATCH, 6);
	assert_int_equal(x->s.models[0].busy, 2);
	assert_int_equal(x->s.models[0].n_queued, 0);
	fx_free(x);
}

static void test_no_double_load(void **state)
{
	struct fx *x = fx_new(1);
	size_t loads = 0;

	(void)state;
	fx_start(x);
	for (uint64_t id = 1; id <= 8; id++) {
		req(x, (int64_t)id, 0, id, KA_DEF);
		loads += count(x, SCHED_ACT_LOAD, SIZE_MAX);
		tick(x, (int64_t)id);
		loads += count(x, SCHED_ACT_LOAD, SIZE_MAX);
	}
	assert_int_equal(loads, 1);
	loaded(x, 100, 0);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, 0), 1);
	assert_int_equal(count(x, SCHED_ACT_LOAD, SIZE_MAX), 0);
	fx_free(x);
}

static void test_request_while_unloading(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	fx_start(x);
	serve(x, 0, 0, 1);
	clr(x);
	sched_unload(&x->s, 5, 0, &x->out);
	assert_int_equal(x->out.n, 0); /* busy */
	done(x, 10, 1);
	assert_string_equal(find(x, SCHED_ACT_STOP, 0)->reason, "unloaded on request");
	req(x, 11, 0, 2, KA_DEF);
	assert_int_equal(x->out.n, 0); /* queued: its backend has to exit first */
	assert_int_equal(x->s.models[0].n_queued, 1);
	exited(x, 12, 0, SCHED_EXIT_STOPPED, NULL);
	assert_int_equal(count(x, SCHED_ACT_LOAD, 0), 1);
	loaded(x, 13, 0);
	find_req(x, SCHED_ACT_DISPATCH, 2);
	fx_free(x);
}

/* Three models of {10, 10} in {100, 24}: two fit. */
static struct fx *two_of_three(void)
{
	struct fx *x = fx_new(3);

	fx_start(x);
	serve(x, 1, 0, 1);
	serve(x, 2, 1, 2);
	return x;
}

static void test_evict_lru_idle(void **state)
{
	struct fx *x = two_of_three();

	(void)state;
	done(x, 10, 1);
	done(x, 11, 2);
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	assert_string_equal(find(x, SCHED_ACT_STOP, 0)->reason, "evicted to load another model");
	assert_int_equal(x->s.models[0].n_evictions, 1);
	assert_string_equal(x->s.models[0].reason, "evicted to load another model");
	assert_int_equal(ST(x, 1), SCHED_READY);
	/* the load waits for the memory to be free */
	tick(x, 21);
	assert_int_equal(x->out.n, 0);
	exited(x, 22, 0, SCHED_EXIT_STOPPED, NULL);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 2)->plan_id, 20);
	fx_free(x);
}

static void test_evict_never_busy(void **state)
{
	struct fx *x = two_of_three();

	(void)state;
	/* model 0 is the least recently used but busy: model 1 goes */
	done(x, 11, 2);
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 1);
	assert_int_equal(ST(x, 0), SCHED_READY);
	fx_free(x);
}

static void test_evict_never_pinned(void **state)
{
	struct fx *x = fx_new(3);

	(void)state;
	x->cfg[0].pin = true;
	fx_start(x);
	serve(x, 1, 0, 1);
	serve(x, 2, 1, 2);
	done(x, 10, 1);
	done(x, 11, 2);
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 1);
	fx_free(x);
}

static void test_evict_never_queued_model(void **state)
{
	struct fx *x = fx_new(3);

	(void)state;
	fx_start(x);
	serve(x, 1, 0, 1);
	serve(x, 2, 1, 2);
	done(x, 11, 2);
	/* model 1 queued behind its busy slot (slots 1), model 0 idle */
	req(x, 12, 1, 3, KA_DEF);
	done(x, 13, 1);
	req(x, 20, 2, 4, KA_DEF);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 0);
	fx_free(x);
}

static void test_evict_priority_first(void **state)
{
	struct fx *x = fx_new(3);

	(void)state;
	x->cfg[0].priority = 5;
	fx_start(x);
	serve(x, 1, 0, 1);
	serve(x, 2, 1, 2);
	done(x, 10, 1);
	done(x, 11, 2);
	/* model 0 is older but has the higher priority */
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 1);
	fx_free(x);
}

static void test_evict_only_where_it_helps(void **state)
{
	struct fx *x = fx_new(3);

	(void)state;
	/* model 0 holds only RAM, model 1 the GPU; model 2 needs the GPU */
	x->f.opts[0][0][1] = 0;
	x->f.opts[1][0][1] = 20;
	x->f.opts[2][0][1] = 20;
	fx_start(x);
	serve(x, 1, 0, 1);
	serve(x, 2, 1, 2);
	done(x, 10, 1);
	done(x, 11, 2);
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 1);
	fx_free(x);
}

static void test_wait_for_busy_then_load(void **state)
{
	struct fx *x = two_of_three();

	(void)state;
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 0);
	assert_true(x->s.models[2].waiting);
	assert_int_equal(x->s.models[2].wait_since, 20);
	assert_int_equal(sched_next_deadline(&x->s), 20 + 10000);
	tick(x, 5000);
	assert_int_equal(x->out.n, 0);
	done(x, 6000, 2);
	assert_int_equal(x->out.n, 1);
	assert_string_equal(find(x, SCHED_ACT_STOP, 1)->reason, "evicted to load another model");
	assert_false(x->s.models[2].waiting);
	exited(x, 6100, 1, SCHED_EXIT_STOPPED, NULL);
	find(x, SCHED_ACT_LOAD, 2);
	loaded(x, 6200, 2);
	find_req(x, SCHED_ACT_DISPATCH, 3);
	fx_free(x);
}

static void test_wait_timeout(void **state)
{
	struct fx *x = two_of_three();
	const struct sched_action *a;

	(void)state;
	req(x, 20, 2, 3, KA_DEF);
	req(x, 30, 2, 4, KA_DEF);
	assert_int_equal(x->s.models[2].wait_since, 20);
	tick(x, 20 + 9999);
	assert_int_equal(x->out.n, 0);
	tick(x, 20 + 10000);
	assert_int_equal(x->out.n, 2);
	a = find_req(x, SCHED_ACT_REJECT, 3);
	assert_int_equal(a->status, 503);
	assert_non_null(strstr(a->reason, "within 10000 ms"));
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 4)->status, 503);
	assert_false(x->s.models[2].waiting);
	assert_int_equal(x->s.models[2].n_queued, 0);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	done(x, 20000, 1);
	assert_int_equal(x->out.n, 0); /* nobody waits any more */
	fx_free(x);
}

static void test_small_model_passes_waiting_big_one(void **state)
{
	struct fx *x = fx_new(4);

	(void)state;
	x->f.opts[2][0][1] = 20; /* waits for both busy models */
	x->f.opts[3][0][1] = 2;  /* fits in what is free */
	fx_start(x);
	serve(x, 1, 0, 1);
	x->f.opts[1][0][1] = 2;
	serve(x, 2, 1, 2);
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 0);
	req(x, 21, 3, 4, KA_DEF);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_LOAD, 3);
	assert_true(x->s.models[2].waiting);
	fx_free(x);
}

/* While the head's victims unload, nobody else takes the memory they free. */
static void test_no_bypass_while_head_evicts(void **state)
{
	struct fx *x = fx_new(4);

	(void)state;
	x->f.opts[2][0][1] = 14;
	x->f.opts[3][0][1] = 2;
	fx_start(x);
	serve(x, 1, 0, 1);
	serve(x, 2, 1, 2);
	done(x, 3, 1);
	req(x, 10, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 0);
	req(x, 11, 3, 4, KA_DEF); /* would fit in what is free now */
	assert_int_equal(x->out.n, 0);
	exited(x, 12, 0, SCHED_EXIT_STOPPED, NULL);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_LOAD, 2);
	fx_free(x);
}

static void test_may_shrink(void **state)
{
	struct fx *x = fx_new(3);

	(void)state;
	x->cfg[2].may_shrink = true;
	x->f.n_opts[2] = 2;
	x->f.opts[2][1][0] = 20;
	x->f.opts[2][1][1] = 4;
	fx_start(x);
	serve(x, 1, 0, 1);
	serve(x, 2, 1, 2);
	/* both busy: the best plan would wait, the smaller one fits now */
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 2)->plan_id, 21);
	assert_int_equal(x->s.models[2].need[1], 4);
	assert_int_equal(x->f.last_avail[2][1], 4);
	assert_int_equal(x->f.last_avail[2][0], 80);
	fx_free(x);
}

static void test_may_shrink_prefers_eviction(void **state)
{
	struct fx *x = fx_new(3);

	(void)state;
	x->cfg[2].may_shrink = true;
	x->f.n_opts[2] = 2;
	x->f.opts[2][1][0] = 20;
	x->f.opts[2][1][1] = 4;
	fx_start(x);
	serve(x, 1, 0, 1);
	serve(x, 2, 1, 2);
	done(x, 10, 2);
	/* an idle model can go: the best plan, after it */
	req(x, 20, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 1);
	exited(x, 21, 1, SCHED_EXIT_STOPPED, NULL);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 2)->plan_id, 20);
	fx_free(x);
}

static void test_loads_serialized(void **state)
{
	struct fx *x = fx_new(2);

	(void)state;
	fx_start(x);
	req(x, 0, 0, 1, KA_DEF);
	find(x, SCHED_ACT_LOAD, 0);
	req(x, 1, 1, 2, KA_DEF);
	assert_int_equal(x->out.n, 0);
	assert_false(x->s.models[1].waiting); /* not waiting for memory */
	tick(x, 2);
	assert_int_equal(x->out.n, 0);
	loaded(x, 3, 0);
	assert_int_equal(x->out.n, 2);
	find_req(x, SCHED_ACT_DISPATCH, 1);
	find(x, SCHED_ACT_LOAD, 1);
	/* a failed load frees the way too */
	exited(x, 4, 1, SCHED_EXIT_CRASH, "boom");
	assert_false(x->s.loading);
	fx_free(x);
}

static void test_max_loaded(void **state)
{
	struct fx *x = fx_new(3);

	(void)state;
	x->opt.max_loaded = 1;
	for (size_t m = 0; m < 3; m++)
		x->f.opts[m][0][1] = 1;
	fx_start(x);
	serve(x, 0, 0, 1);
	/* model 0 busy: model 1 waits for the slot */
	req(x, 1, 1, 2, KA_DEF);
	assert_int_equal(x->out.n, 0);
	assert_true(x->s.models[1].waiting);
	done(x, 2, 1);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 0);
	/* an unloading model still counts */
	tick(x, 3);
	assert_int_equal(x->out.n, 0);
	exited(x, 4, 0, SCHED_EXIT_STOPPED, NULL);
	find(x, SCHED_ACT_LOAD, 1);
	loaded(x, 5, 1);
	/* and times out like a wait for memory */
	req(x, 6, 2, 3, KA_DEF);
	assert_int_equal(x->out.n, 0);
	tick(x, 6 + 10000);
	assert_non_null(strstr(find_req(x, SCHED_ACT_REJECT, 3)->reason, "max_loaded 1"));
	fx_free(x);
}

/* Pinned models holding every model slot: no wait could end. */
static void test_max_loaded_all_pinned(void **state)
{
	struct fx *x = fx_new(2);

	(void)state;
	x->opt.max_loaded = 1;
	x->opt.wait_ms = -1;
	x->cfg[0].pin = true;
	fx_start(x);
	serve(x, 0, 0, 1);
	done(x, 1, 1);
	req(x, 2, 1, 2, KA_DEF);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 2)->status, 503);
	assert_non_null(strstr(find_req(x, SCHED_ACT_REJECT, 2)->reason, "pinned"));
	/* unless its unload is asked for */
	clr(x);
	sched_unload(&x->s, 3, 0, &x->out);
	find(x, SCHED_ACT_STOP, 0);
	req(x, 4, 1, 3, KA_DEF);
	assert_int_equal(x->out.n, 0);
	exited(x, 5, 0, SCHED_EXIT_STOPPED, NULL);
	find(x, SCHED_ACT_LOAD, 1);
	fx_free(x);
}

static void test_crash_while_ready(void **state)
{
	struct fx *x = fx_new(1);
	const struct sched_action *a;

	(void)state;
	x->cfg[0].slots = 2;
	fx_start(x);
	req(x, 0, 0, 1, KA_DEF);
	req(x, 0, 0, 2, KA_DEF);
	req(x, 0, 0, 3, KA_DEF);
	loaded(x, 1, 0);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, 0), 2);
	exited(x, 2, 0, SCHED_EXIT_CRASH, "signal 11");
	assert_int_equal(x->out.n, 3);
	a = find_req(x, SCHED_ACT_ABORT, 1);
	assert_int_equal(a->status, 502);
	assert_non_null(strstr(a->reason, "signal 11"));
	find_req(x, SCHED_ACT_ABORT, 2);
	/* the queued request loads it again */
	find(x, SCHED_ACT_LOAD, 0);
	assert_int_equal(x->s.models[0].n_crashes, 1);
	assert_int_equal(x->s.models[0].failures, 0);
	assert_non_null(strstr(x->s.models[0].reason, "signal 11"));
	assert_int_equal(x->s.models[0].busy, 0);
	done(x, 3, 1); /* the aborted one: unknown now */
	assert_int_equal(x->out.n, 0);
	loaded(x, 4, 0);
	find_req(x, SCHED_ACT_DISPATCH, 3);

	/* with nothing queued it stays down until the next request */
	exited(x, 5, 0, SCHED_EXIT_CRASH, NULL);
	assert_int_equal(x->out.n, 1);
	find_req(x, SCHED_ACT_ABORT, 3);
	assert_int_equal(ST(x, 0), SCHED_UNLOADED);
	req(x, 6, 0, 4, KA_DEF);
	find(x, SCHED_ACT_LOAD, 0);
	fx_free(x);
}

static void test_oom_caps_next_plan(void **state)
{
	struct fx *x = fx_new(1);
	static const uint64_t opts[3][NP] = { { 10, 20 }, { 8, 16 }, { 6, 8 } };

	(void)state;
	x->f.n_opts[0] = 3;
	memcpy(x->f.opts[0], opts, sizeof(opts));
	fx_start(x);
	serve(x, 0, 0, 1);
	assert_int_equal(x->s.models[0].need[1], 20);
	exited(x, 1, 0, SCHED_EXIT_OOM, "cuda out of memory");
	find_req(x, SCHED_ACT_ABORT, 1);
	assert_int_equal(x->s.models[0].n_ooms, 1);
	assert_true(x->s.models[0].has_cap);
	assert_int_equal(x->s.models[0].cap[0], 8);
	assert_int_equal(x->s.models[0].cap[1], 17);
	req(x, 2, 0, 2, KA_DEF);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 1);
	assert_int_equal(x->f.last_avail[0][0], 8);
	assert_int_equal(x->f.last_avail[0][1], 17);
	/* out of memory while starting: smaller again, after the backoff */
	exited(x, 3, 0, SCHED_EXIT_OOM, NULL);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(x->s.models[0].cap[0], 6);
	assert_int_equal(x->s.models[0].cap[1], 13);
	tick(x, 3 + 1000);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 2);
	fx_free(x);
}

static void test_oom_cap_from_measured(void **state)
{
	struct fx *x = fx_new(1);
	uint64_t meas[SCHED_MAX_POOLS] = { 20, 12 };

	(void)state;
	fx_start(x);
	req(x, 0, 0, 1, KA_DEF);
	clr(x);
	sched_loaded(&x->s, 1, 0, meas, &x->out);
	find_req(x, SCHED_ACT_DISPATCH, 1);
	assert_true(x->s.models[0].measured);
	assert_int_equal(sched_used(&x->s, 0), 20);
	assert_int_equal(sched_used(&x->s, 1), 12);
	exited(x, 2, 0, SCHED_EXIT_OOM, NULL);
	assert_int_equal(x->s.models[0].cap[0], 17);
	assert_int_equal(x->s.models[0].cap[1], 10);
	fx_free(x);
}

static void test_start_failures_backoff_failed(void **state)
{
	struct fx *x = fx_new(1);
	const struct sched_action *a;

	(void)state;
	fx_start(x);
	req(x, 1000, 0, 1, KA_DEF);
	find(x, SCHED_ACT_LOAD, 0);
	exited(x, 1500, 0, SCHED_EXIT_CRASH, "exit status 1");
	assert_int_equal(x->out.n, 0);
	assert_int_equal(ST(x, 0), SCHED_UNLOADED);
	assert_int_equal(x->s.models[0].failures, 1);
	assert_int_equal(x->s.models[0].retry_at, 2500);
	assert_int_equal(sched_next_deadline(&x->s), 2500);
	req(x, 1600, 0, 2, KA_DEF); /* no load before the retry is due */
	assert_int_equal(x->out.n, 0);
	tick(x, 2499);
	assert_int_equal(x->out.n, 0);
	tick(x, 2500);
	find(x, SCHED_ACT_LOAD, 0);
	exited(x, 3000, 0, SCHED_EXIT_TIMEOUT, NULL);
	assert_int_equal(x->s.models[0].retry_at, 5000);
	tick(x, 5000);
	find(x, SCHED_ACT_LOAD, 0);
	exited(x, 5100, 0, SCHED_EXIT_CRASH, "exit status 134");
	assert_int_equal(ST(x, 0), SCHED_FAILED);
	assert_int_equal(x->out.n, 2);
	a = find_req(x, SCHED_ACT_REJECT, 1);
	assert_int_equal(a->status, 500);
	assert_non_null(strstr(a->reason, "failed to start 3 times"));
	assert_non_null(strstr(a->reason, "exit status 134"));
	find_req(x, SCHED_ACT_REJECT, 2);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	/* rejected at once */
	req(x, 6000, 0, 3, KA_DEF);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 3)->status, 500);
	/* an explicit load clears it */
	clr(x);
	sched_load(&x->s, 7000, 0, KA_DEF, &x->out);
	find(x, SCHED_ACT_LOAD, 0);
	assert_int_equal(x->s.models[0].failures, 0);
	loaded(x, 7100, 0);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(ST(x, 0), SCHED_READY);
	assert_false(x->s.models[0].load_wanted);
	assert_int_equal(x->s.models[0].expires_at, 7100 + DEF_KA);
	fx_free(x);
}

#define MIB ((uint64_t)1 << 20)

/* An OOM cap under every plan of the model (its options fixed by the
 * preset): FAILED at once, 500 with a reason that says so (not the
 * planner's why), for a minute; leaving FAILED (a request after the
 * minute, or sched_load()) drops the cap: a full-size start again, as
 * memory may have been freed meanwhile. sched_replan() drops it too. */
static void test_oom_cap_below_every_plan(void **state)
{
	struct fx *x = fx_new(1);
	const struct sched_action *a;
	const struct sched_model *md;

	(void)state;
	x->f.opts[0][0][0] = 1200 * MIB;
	x->f.opts[0][0][1] = 6000 * MIB;
	x->opt.budget[0] = 64000 * MIB;
	x->opt.budget[1] = 24000 * MIB;
	snprintf(x->opt.pool_names[1], sizeof(x->opt.pool_names[1]), "CUDA0");
	fx_start(x);
	md = &x->s.models[0];
	req(x, 0, 0, 1, KA_DEF);
	find(x, SCHED_ACT_LOAD, 0);
	exited(x, 10, 0, SCHED_EXIT_OOM, "out of memory (exit status 1): failed to allocate CUDA0 buffer");
	/* a failed start: retried after 1 s, capped */
	assert_int_equal(x->out.n, 0);
	assert_int_equal(md->n_ooms, 1);
	assert_true(md->has_cap);
	tick(x, 1010);
	assert_int_equal(x->out.n, 1);
	a = find_req(x, SCHED_ACT_REJECT, 1);
	assert_int_equal(a->status, 500);
	assert_non_null(strstr(a->reason, "ran out of memory at its last start (needed 1200 MiB of RAM, 6000 MiB of "
					  "CUDA0); no smaller plan fits its fixed options: lower -c or -ngl in its "
					  "preset, or free memory"));
	assert_non_null(strstr(a->reason, "failed to allocate CUDA0 buffer"));
	assert_null(strstr(a->reason, "GPU bytes")); /* not the planner's why */
	assert_int_equal(ST(x, 0), SCHED_FAILED);
	assert_string_equal(md->reason, a->reason);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	/* within the minute: at once, the same reason */
	req(x, 2000, 0, 2, KA_DEF);
	assert_int_equal(x->out.n, 1);
	a = find_req(x, SCHED_ACT_REJECT, 2);
	assert_int_equal(a->status, 500);
	assert_non_null(strstr(a->reason, "ran out of memory at its last start"));
	/* after it: full size again */
	req(x, 1010 + 60000, 0, 3, KA_DEF);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 0);
	assert_false(md->has_cap);
	assert_int_equal(x->f.last_avail[0][1], 24000 * MIB);
	loaded(x, 61100, 0);
	find_req(x, SCHED_ACT_DISPATCH, 3);
	/* out of memory while running, this time, and nothing queued */
	exited(x, 61200, 0, SCHED_EXIT_OOM, "oom-kill");
	assert_int_equal(x->out.n, 1);
	find_req(x, SCHED_ACT_ABORT, 3);
	assert_int_equal(ST(x, 0), SCHED_UNLOADED);
	req(x, 61300, 0, 4, KA_DEF);
	assert_int_equal(x->out.n, 1);
	a = find_req(x, SCHED_ACT_REJECT, 4);
	assert_int_equal(a->status, 500);
	assert_non_null(strstr(a->reason, "ran out of memory while running (needed 1200 MiB of RAM, 6000 MiB"));
	assert_non_null(strstr(a->reason, "(oom-kill)"));
	assert_int_equal(ST(x, 0), SCHED_FAILED);
	/* an explicit load: full size at once */
	clr(x);
	sched_load(&x->s, 61400, 0, KA_DEF, &x->out);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 0);
	assert_false(md->has_cap);
	/* and sched_replan() (the preset changed) drops a cap too */
	exited(x, 61500, 0, SCHED_EXIT_OOM, NULL);
	assert_true(md->has_cap);
	sched_replan(&x->s, 0);
	assert_false(md->has_cap);
	tick(x, 62500);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 0);
	assert_int_equal(md->n_ooms, 3);
	fx_free(x);
}

/* Pools without names in the options: "RAM" and "GPU<i>"; a need under a
 * MiB is not 0 MiB. */
static void test_oom_reason_default_names(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	fx_start(x);
	req(x, 0, 0, 1, KA_DEF);
	exited(x, 1, 0, SCHED_EXIT_OOM, NULL);
	tick(x, 1001);
	assert_non_null(strstr(find_req(x, SCHED_ACT_REJECT, 1)->reason,
			       "(needed 1 MiB of RAM, 1 MiB of GPU0)"));
	assert_non_null(strstr(x->s.models[0].reason, "(out of memory)"));
	fx_free(x);
}

/* Capped, but no plan would fit without the cap either (the budgets went
 * down): the planner's why, 503, as for any model; not FAILED. */
static void test_oom_cap_and_no_room_anyway(void **state)
{
	struct fx *x = fx_new(1);
	const struct sched_action *a;

	(void)state;
	fx_start(x);
	serve(x, 0, 0, 1);
	exited(x, 1, 0, SCHED_EXIT_OOM, NULL);
	budget(x, 2, 100, 5);
	req(x, 3, 0, 2, KA_DEF);
	a = find_req(x, SCHED_ACT_REJECT, 2);
	assert_int_equal(a->status, 503);
	assert_non_null(strstr(a->reason, "needs 10 GPU bytes, 5 available"));
	assert_int_equal(ST(x, 0), SCHED_UNLOADED);
	assert_true(x->s.models[0].has_cap);
	budget(x, 4, 100, 24);
	req(x, 5, 0, 3, KA_DEF);
	a = find_req(x, SCHED_ACT_REJECT, 3);
	assert_int_equal(a->status, 500);
	assert_non_null(strstr(a->reason, "ran out of memory while running"));
	assert_int_equal(ST(x, 0), SCHED_FAILED);
	fx_free(x);
}

/* A capped load that succeeds keeps its smaller plan (a crash reloads it
 * capped too); the cap goes when the model is next stopped normally, so
 * the next load starts from the best plan again. */
static void test_oom_capped_plan_kept_until_unloaded(void **state)
{
	struct fx *x = fx_new(1);
	static const uint64_t opts[3][NP] = { { 10, 20 }, { 8, 16 }, { 6, 8 } };
	const struct sched_model *md;

	(void)state;
	x->f.n_opts[0] = 3;
	memcpy(x->f.opts[0], opts, sizeof(opts));
	fx_start(x);
	md = &x->s.models[0];
	serve(x, 0, 0, 1);
	exited(x, 1, 0, SCHED_EXIT_OOM, NULL);
	req(x, 2, 0, 2, KA_DEF);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 1);
	loaded(x, 3, 0);
	find_req(x, SCHED_ACT_DISPATCH, 2);
	done(x, 4, 2);
	req(x, 5, 0, 3, KA_DEF);
	assert_int_equal(x->out.n, 1); /* no reload: the plan stays */
	find_req(x, SCHED_ACT_DISPATCH, 3);
	assert_int_equal(md->plan_id, 1);
	assert_true(md->has_cap);
	/* a crash (not out of memory): reloaded capped */
	req(x, 6, 0, 4, KA_DEF);
	exited(x, 7, 0, SCHED_EXIT_CRASH, "signal 11");
	find_req(x, SCHED_ACT_ABORT, 3);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 1);
	loaded(x, 8, 0);
	find_req(x, SCHED_ACT_DISPATCH, 4);
	done(x, 9, 4);
	/* keep-alive: stopped normally; the cap goes once it has exited */
	tick(x, 9 + DEF_KA);
	find(x, SCHED_ACT_STOP, 0);
	assert_true(md->has_cap);
	exited(x, 10 + DEF_KA, 0, SCHED_EXIT_STOPPED, NULL);
	assert_false(md->has_cap);
	req(x, 11 + DEF_KA, 0, 5, KA_DEF);
	assert_int_equal(find(x, SCHED_ACT_LOAD, 0)->plan_id, 0);
	assert_int_equal(md->n_ooms, 1);
	assert_int_equal(md->n_crashes, 1);
	fx_free(x);
}

static void test_failed_retried_after_a_minute(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	fx_start(x);
	req(x, 0, 0, 1, KA_DEF);
	exited(x, 0, 0, SCHED_EXIT_CRASH, NULL);
	tick(x, 1000);
	exited(x, 1000, 0, SCHED_EXIT_CRASH, NULL);
	tick(x, 3000);
	exited(x, 3000, 0, SCHED_EXIT_CRASH, NULL);
	assert_int_equal(ST(x, 0), SCHED_FAILED);
	req(x, 62999, 0, 2, KA_DEF);
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 2)->status, 500);
	req(x, 63000, 0, 3, KA_DEF);
	find(x, SCHED_ACT_LOAD, 0);
	/* a successful load resets the count */
	exited(x, 63100, 0, SCHED_EXIT_CRASH, NULL);
	assert_int_equal(x->s.models[0].failures, 1);
	tick(x, 64100);
	loaded(x, 64200, 0);
	assert_int_equal(x->s.models[0].failures, 0);
	find_req(x, SCHED_ACT_DISPATCH, 3);
	fx_free(x);
}

static void test_no_plan_fits(void **state)
{
	struct fx *x = fx_new(2);
	const struct sched_action *a;

	(void)state;
	x->f.opts[1][0][1] = 30;
	fx_start(x);
	req(x, 0, 1, 1, KA_DEF);
	assert_int_equal(x->out.n, 1);
	a = find_req(x, SCHED_ACT_REJECT, 1);
	assert_int_equal(a->status, 503);
	assert_non_null(strstr(a->reason, "needs 30 GPU bytes"));
	/* nor when a pinned model holds what it needs */
	sched_release(&x->s);
	x->cfg[0].pin = true;
	x->f.opts[1][0][1] = 20;
	fx_start(x);
	serve(x, 0, 0, 1);
	done(x, 1, 1);
	req(x, 2, 1, 2, KA_DEF);
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 2)->status, 503);
	assert_int_equal(x->f.last_avail[1][1], 14);
	/* the planner failing: 500 */
	x->f.rc = -ENOMEM;
	sched_replan(&x->s, SIZE_MAX);
	req(x, 3, 1, 3, KA_DEF);
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 3)->status, 500);
	fx_free(x);
}

static void test_pressure(void **state)
{
	struct fx *x = fx_new(4);

	(void)state;
	x->cfg[3].pin = true;
	for (size_t m = 0; m < 4; m++)
		x->f.opts[m][0][1] = 5;
	fx_start(x);
	for (size_t m = 0; m < 4; m++)
		serve(x, (int64_t)m, m, m + 1);
	done(x, 10, 1);
	done(x, 11, 2);
	done(x, 12, 4);
	/* models 0, 1 idle, 2 busy, 3 pinned: 20 held */
	budget(x, 20, 100, 16);
	assert_int_equal(x->out.n, 1);
	assert_string_equal(find(x, SCHED_ACT_STOP, 0)->reason, "memory pressure");
	assert_int_equal(x->s.models[0].n_evictions, 1);
	budget(x, 21, 100, 4);
	assert_int_equal(x->out.n, 1);
	find(x, SCHED_ACT_STOP, 1);
	/* what is left is busy or pinned: stays */
	budget(x, 22, 100, 0);
	assert_int_equal(x->out.n, 0);
	/* and goes once idle, while the pressure lasts */
	done(x, 23, 3);
	assert_int_equal(x->out.n, 1);
	assert_string_equal(find(x, SCHED_ACT_STOP, 2)->reason, "memory pressure");
	assert_int_equal(ST(x, 3), SCHED_READY);
	fx_free(x);
}

static void test_unload(void **state)
{
	struct fx *x = fx_new(2);

	(void)state;
	x->cfg[1].pin = true;
	fx_start(x);
	serve(x, 0, 0, 1);
	clr(x);
	sched_unload(&x->s, 1, 0, &x->out);
	assert_int_equal(x->out.n, 0);
	assert_true(x->s.models[0].unload_when_idle);
	done(x, 2, 1);
	assert_string_equal(find(x, SCHED_ACT_STOP, 0)->reason, "unloaded on request");
	exited(x, 3, 0, SCHED_EXIT_STOPPED, NULL);

	/* a pinned idle model: at once */
	serve(x, 4, 1, 2);
	done(x, 5, 2);
	clr(x);
	sched_unload(&x->s, 6, 1, &x->out);
	find(x, SCHED_ACT_STOP, 1);
	exited(x, 7, 1, SCHED_EXIT_STOPPED, NULL);

	/* loading: once ready and idle, its queued request served first */
	req(x, 8, 0, 3, KA_DEF);
	clr(x);
	sched_unload(&x->s, 9, 0, &x->out);
	assert_int_equal(x->out.n, 0);
	loaded(x, 10, 0);
	assert_int_equal(x->out.n, 1);
	find_req(x, SCHED_ACT_DISPATCH, 3);
	done(x, 11, 3);
	find(x, SCHED_ACT_STOP, 0);
	exited(x, 12, 0, SCHED_EXIT_STOPPED, NULL);

	/* an explicit load cancels a pending unload */
	serve(x, 13, 0, 4);
	clr(x);
	sched_unload(&x->s, 14, 0, &x->out);
	sched_load(&x->s, 15, 0, KA_DEF, &x->out);
	done(x, 16, 4);
	assert_int_equal(x->out.n, 0);
	/* and keep_alive 0 is an unload (an empty Ollama prompt) */
	clr(x);
	sched_load(&x->s, 17, 0, 0, &x->out);
	find(x, SCHED_ACT_STOP, 0);
	fx_free(x);
}

/* Every stop is counted by why (GET /metrics' evictions by reason); only
 * make_room and pressure count as evictions. */
static void test_stop_counters(void **state)
{
	struct fx *x = fx_new(3);
	const struct sched_model *m0;

	(void)state;
	fx_start(x);
	m0 = &x->s.models[0];
	/* keep-alive */
	serve(x, 0, 0, 1);
	done(x, 1, 1);
	tick(x, 1 + DEF_KA);
	find(x, SCHED_ACT_STOP, 0);
	exited(x, 2 + DEF_KA, 0, SCHED_EXIT_STOPPED, NULL);
	assert_int_equal(m0->n_stops[SCHED_STOP_KEEP_ALIVE], 1);
	assert_int_equal(m0->n_evictions, 0);
	/* an unload request */
	serve(x, 10 + DEF_KA, 0, 2);
	done(x, 11 + DEF_KA, 2);
	clr(x);
	sched_unload(&x->s, 12 + DEF_KA, 0, &x->out);
	find(x, SCHED_ACT_STOP, 0);
	exited(x, 13 + DEF_KA, 0, SCHED_EXIT_STOPPED, NULL);
	assert_int_equal(m0->n_stops[SCHED_STOP_UNLOAD_REQUEST], 1);
	assert_int_equal(m0->n_evictions, 0);
	/* make room: 0 and 1 hold 20 of 24 GPU bytes; 2 needs 10 */
	serve(x, 20 + DEF_KA, 0, 3);
	done(x, 21 + DEF_KA, 3);
	serve(x, 22 + DEF_KA, 1, 4);
	done(x, 23 + DEF_KA, 4);
	req(x, 24 + DEF_KA, 2, 5, KA_DEF);
	find(x, SCHED_ACT_STOP, 0);
	exited(x, 25 + DEF_KA, 0, SCHED_EXIT_STOPPED, NULL);
	find(x, SCHED_ACT_LOAD, 2);
	assert_int_equal(m0->n_stops[SCHED_STOP_MAKE_ROOM], 1);
	assert_int_equal(m0->n_evictions, 1);
	/* pressure: model 1 is idle */
	budget(x, 26 + DEF_KA, 100, 10);
	find(x, SCHED_ACT_STOP, 1);
	assert_int_equal(x->s.models[1].n_stops[SCHED_STOP_PRESSURE], 1);
	assert_int_equal(x->s.models[1].n_evictions, 1);
	assert_int_equal(m0->n_stops[SCHED_STOP_PRESSURE], 0);
	assert_int_equal(m0->n_stops[SCHED_STOP_OTHER], 0);
	assert_string_equal(sched_stop_name(SCHED_STOP_KEEP_ALIVE), "keep_alive");
	assert_string_equal(sched_stop_name(SCHED_STOP_PRESSURE), "pressure");
	assert_string_equal(sched_stop_name(SCHED_STOP_MAKE_ROOM), "make_room");
	assert_string_equal(sched_stop_name(SCHED_STOP_UNLOAD_REQUEST), "unload_request");
	assert_string_equal(sched_stop_name(SCHED_STOP_OTHER), "other");
	assert_string_equal(sched_stop_name(SCHED_STOP_N), "other");
	fx_free(x);
}

static void test_explicit_load(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	fx_start(x);
	clr(x);
	sched_load(&x->s, 0, 0, 5000, &x->out);
	find(x, SCHED_ACT_LOAD, 0);
	loaded(x, 100, 0);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(sched_next_deadline(&x->s), 5100);
	/* again: restarts the keep-alive */
	clr(x);
	sched_load(&x->s, 1000, 0, KA_DEF, &x->out);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(sched_next_deadline(&x->s), 1000 + DEF_KA);
	tick(x, 1000 + DEF_KA);
	find(x, SCHED_ACT_STOP, 0);
	/* while unloading: loads again once gone */
	clr(x);
	sched_load(&x->s, 1000 + DEF_KA + 1, 0, KA_DEF, &x->out);
	assert_int_equal(x->out.n, 0);
	exited(x, 1000 + DEF_KA + 2, 0, SCHED_EXIT_STOPPED, NULL);
	find(x, SCHED_ACT_LOAD, 0);
	/* a failed start of an explicit load is retried too */
	exited(x, 1000 + DEF_KA + 3, 0, SCHED_EXIT_CRASH, NULL);
	tick(x, 1000 + DEF_KA + 1003);
	find(x, SCHED_ACT_LOAD, 0);
	fx_free(x);
}

static void test_cancel_queued_and_unknown(void **state)
{
	struct fx *x = fx_new(1);

	(void)state;
	fx_start(x);
	serve(x, 0, 0, 1);
	req(x, 1, 0, 2, KA_DEF);
	req(x, 2, 0, 3, KA_DEF);
	assert_int_equal(x->s.models[0].n_queued, 2);
	done(x, 3, 2); /* its client went away */
	assert_int_equal(x->out.n, 0);
	assert_int_equal(x->s.models[0].n_queued, 1);
	done(x, 4, 999);
	assert_int_equal(x->out.n, 0);
	done(x, 5, 1);
	assert_int_equal(x->out.n, 1);
	find_req(x, SCHED_ACT_DISPATCH, 3);
	/* answered already: ignored */
	done(x, 6, 1);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(x->s.models[0].busy, 1);
	fx_free(x);
}

static void test_cancel_last_waiting(void **state)
{
	struct fx *x = two_of_three();

	(void)state;
	req(x, 20, 2, 3, KA_DEF);
	assert_true(x->s.models[2].waiting);
	done(x, 21, 3);
	assert_int_equal(x->out.n, 0);
	assert_false(x->s.models[2].waiting);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	done(x, 22, 1);
	assert_int_equal(x->out.n, 0); /* no eviction for nobody */
	fx_free(x);
}

static void test_next_deadline(void **state)
{
	struct fx *x = fx_new(5);

	(void)state;
	for (size_t m = 0; m < 5; m++)
		x->f.opts[m][0][1] = 5;
	x->f.opts[4][0][1] = 20;
	x->cfg[1].keep_alive_ms = 50000;
	fx_start(x);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	/* idle models' expiries */
	serve(x, 0, 0, 1);
	done(x, 10, 1);
	assert_int_equal(sched_next_deadline(&x->s), 10 + DEF_KA);
	serve(x, 20, 1, 2);
	done(x, 30, 2);
	assert_int_equal(sched_next_deadline(&x->s), 50030);
	/* a failed start's retry */
	req(x, 40, 2, 3, KA_DEF);
	find(x, SCHED_ACT_LOAD, 2);
	exited(x, 41, 2, SCHED_EXIT_CRASH, NULL);
	assert_int_equal(sched_next_deadline(&x->s), 1041);
	req(x, 500, 3, 4, KA_DEF);
	find(x, SCHED_ACT_LOAD, 3);
	assert_int_equal(sched_next_deadline(&x->s), 1041);
	/* due while another load is under way: it waits for that load to
	 * end, not for time (no deadline in the past: no busy loop) */
	tick(x, 1041);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(sched_next_deadline(&x->s), 50030);
	loaded(x, 1100, 3);
	find_req(x, SCHED_ACT_DISPATCH, 4);
	find(x, SCHED_ACT_LOAD, 2);
	/* a wait for memory: model 4 needs 20 of the GPU's 24, models 2 and 3
	 * are busy */
	req(x, 1150, 4, 5, KA_DEF);
	assert_int_equal(x->out.n, 0);
	loaded(x, 1200, 2);
	find_req(x, SCHED_ACT_DISPATCH, 3);
	assert_true(x->s.models[4].waiting);
	assert_int_equal(x->s.models[4].wait_since, 1200);
	assert_int_equal(sched_next_deadline(&x->s), 11200);
	/* pinned and busy models have none */
	done(x, 1300, 4);
	assert_int_equal(sched_next_deadline(&x->s), 11200);
	fx_free(x);
}

static void test_init_errors_and_overflow(void **state)
{
	struct fx *x = fx_new(2);
	struct sched s;
	struct sched_action one[1];
	struct sched_actions small = { .v = one, .cap = 1 };

	(void)state;
	x->opt.n_pools = 0;
	assert_int_equal(sched_init(&s, &x->opt, 2, x->cfg), -EINVAL);
	x->opt.n_pools = SCHED_MAX_POOLS + 1;
	assert_int_equal(sched_init(&s, &x->opt, 2, x->cfg), -EINVAL);
	x->opt.n_pools = NP;
	x->opt.max_queue = 0;
	assert_int_equal(sched_init(&s, &x->opt, 2, x->cfg), -EINVAL);
	x->opt.max_queue = 4;
	x->opt.plan = NULL;
	assert_int_equal(sched_init(&s, &x->opt, 2, x->cfg), -EINVAL);
	x->opt.plan = fake_plan;
	x->cfg[1].slots = 0;
	assert_int_equal(sched_init(&s, &x->opt, 2, x->cfg), -EINVAL);
	x->cfg[1].slots = 3;
	assert_int_equal(sched_init(&s, &x->opt, 0, NULL), 0);
	sched_release(&s);
	sched_release(&s);

	fx_start(x);
	assert_int_equal(x->s.slots_max, 3);
	assert_int_equal(sched_actions_max(&x->s), 2 * 5 + 2 + 6);
	/* a model index out of range */
	req(x, 0, 7, 1, KA_DEF);
	assert_int_equal(find_req(x, SCHED_ACT_REJECT, 1)->status, 404);
	/* a full action array: two aborts, one kept */
	serve(x, 0, 1, 2);
	req(x, 1, 1, 3, KA_DEF);
	find_req(x, SCHED_ACT_DISPATCH, 3);
	sched_exited(&x->s, 2, 1, SCHED_EXIT_CRASH, NULL, &small);
	assert_int_equal(small.n, 1);
	assert_true(small.overflow);
	assert_int_equal(one[0].kind, SCHED_ACT_ABORT);
	fx_free(x);
}

/* A pool over its budget (a pinned model measured more than its plan) is
 * not in the way of a model that does not use it. */
static void test_unused_pool_over_budget(void **state)
{
	struct fx *x = fx_new(2);
	uint64_t meas[SCHED_MAX_POOLS] = { 10, 30 };

	(void)state;
	x->cfg[0].pin = true;
	x->f.opts[0][0][1] = 20;
	x->f.opts[1][0][1] = 0; /* RAM only */
	x->opt.wait_ms = -1;
	fx_start(x);
	req(x, 0, 0, 1, KA_DEF);
	clr(x);
	sched_loaded(&x->s, 1, 0, meas, &x->out);
	find_req(x, SCHED_ACT_DISPATCH, 1);
	assert_true(sched_used(&x->s, 1) > x->s.opt.budget[1]);
	req(x, 2, 1, 2, KA_DEF);
	find(x, SCHED_ACT_LOAD, 1);
	fx_free(x);
}

/* ---- fairness: draining models in use for one that waits ---- */

/* What the tests below saw: each model's request in flight (slots 1), the
 * last load and stop, the rejected requests. */
struct book {
	uint64_t run[MAXM];
	bool has[MAXM];
	uint64_t next;
	int64_t load_at[MAXM], stop_at[MAXM];
	char stop_why[MAXM][SCHED_REASON_LEN];
	unsigned rejects, dispatches[MAXM];
};

static void book(struct fx *x, struct book *b, int64_t now)
{
	for (size_t i = 0; i < x->out.n; i++) {
		const struct sched_action *a = &x->out.v[i];

		switch (a->kind) {
		case SCHED_ACT_DISPATCH:
			assert_false(b->has[a->model]);
			b->run[a->model] = a->req;
			b->has[a->model] = true;
			b->dispatches[a->model]++;
			break;
		case SCHED_ACT_LOAD:
			b->load_at[a->model] = now;
			break;
		case SCHED_ACT_STOP:
			b->stop_at[a->model] = now;
			snprintf(b->stop_why[a->model], sizeof(b->stop_why[a->model]), "%s", a->reason);
			break;
		case SCHED_ACT_REJECT:
		case SCHED_ACT_ABORT:
			b->rejects++;
			break;
		}
	}
}

static void b_req(struct fx *x, struct book *b, int64_t now, size_t m)
{
	req(x, now, m, b->next++, KA_DEF);
	book(x, b, now);
}

static void b_done(struct fx *x, struct book *b, int64_t now, size_t m)
{
	assert_true(b->has[m]);
	b->has[m] = false;
	done(x, now, b->run[m]);
	book(x, b, now);
}

static void b_loaded(struct fx *x, struct book *b, int64_t now, size_t m)
{
	loaded(x, now, m);
	book(x, b, now);
}

static void b_exited(struct fx *x, struct book *b, int64_t now, size_t m)
{
	exited(x, now, m, SCHED_EXIT_STOPPED, NULL);
	book(x, b, now);
}

/* Continuous load on m: a request comes before the one in flight ends, so
 * the model is never idle (and never evicted). */
static void busy_step(struct fx *x, struct book *b, int64_t now, size_t m)
{
	b_req(x, b, now, m);
	if (b->has[m])
		b_done(x, b, now, m);
}

static struct fx *abc(int64_t drain_after_ms, int64_t wait_ms)
{
	struct fx *x = fx_new(3);
	static const char *const names[] = { "A", "B", "C" };

	for (size_t m = 0; m < 3; m++)
		x->cfg[m].name = names[m];
	x->opt.drain_after_ms = drain_after_ms;
	x->opt.wait_ms = wait_ms;
	fx_start(x);
	return x;
}

/* The starvation the load tests found: A and B loaded and kept busy by a
 * steady stream, C waits for the memory one of them holds. C is loaded
 * within drain_after_ms plus the end of the victim's request in flight
 * (and its exit); the victim's requests wait, unanswered, and it is loaded
 * again the same way. */
static void test_drain_starvation(void **state)
{
	struct fx *x = abc(2000, 10000);
	struct book b = { .next = 1 };
	const struct sched_model *ma = &x->s.models[0], *mb = &x->s.models[1], *mc = &x->s.models[2];
	size_t victim;
	int64_t t;

	(void)state;
	b_req(x, &b, 0, 0);
	b_loaded(x, &b, 0, 0);
	b_req(x, &b, 1, 1);
	b_loaded(x, &b, 1, 1);
	assert_true(b.has[0] && b.has[1]);
	/* C: both busy, nothing idle to evict */
	b_req(x, &b, 10, 2);
	assert_int_equal(x->out.n, 0);
	assert_true(mc->waiting);
	assert_int_equal(sched_next_deadline(&x->s), 10 + 2000);
	for (t = 100; t <= 2000; t += 100) {
		busy_step(x, &b, t, 0);
		busy_step(x, &b, t, 1);
		assert_int_equal(count(x, SCHED_ACT_STOP, SIZE_MAX), 0);
	}
	assert_false(ma->draining || mb->draining);
	/* the drain is due: A, the first in eviction order (same priority,
	 * same last use: registry order), is drained; it is busy: no stop */
	tick(x, 2010);
	assert_int_equal(x->out.n, 0);
	assert_true(ma->draining);
	assert_false(mb->draining);
	assert_int_equal(ST(x, 0), SCHED_READY);
	assert_int_equal(sched_next_deadline(&x->s), 10 + 10000); /* not 2010 again */
	/* a new request for A waits; its request in flight ends: stopped,
	 * with its queue kept */
	b_req(x, &b, 2050, 0);
	assert_int_equal(x->out.n, 0);
	b_req(x, &b, 2060, 0);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(ma->n_queued, 2);
	b_done(x, &b, 2100, 0);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, SIZE_MAX), 0);
	assert_non_null(strstr(find(x, SCHED_ACT_STOP, 0)->reason, "drained for C (waiting 2090 ms)"));
	assert_int_equal(ST(x, 0), SCHED_UNLOADING);
	assert_false(ma->draining);
	assert_int_equal(ma->n_queued, 2);
	assert_int_equal(ma->n_stops[SCHED_STOP_DRAIN], 1);
	assert_int_equal(ma->n_evictions, 1);
	assert_non_null(strstr(ma->reason, "drained for C"));
	busy_step(x, &b, 2100, 1);
	b_exited(x, &b, 2150, 0);
	assert_int_equal(count(x, SCHED_ACT_LOAD, 2), 1);
	assert_true(b.load_at[2] - 10 <= 2000 + 100 + 50);
	b_loaded(x, &b, 2200, 2);
	assert_true(b.has[2]);
	/* now A waits, since C's start ended */
	assert_true(ma->waiting);
	assert_int_equal(ma->wait_since, 2200);
	assert_int_equal(sched_next_deadline(&x->s), 2200 + 2000);
	for (t = 2300; t <= 4100; t += 100) {
		busy_step(x, &b, t, 1);
		busy_step(x, &b, t, 2);
	}
	assert_false(mb->draining || mc->draining);
	/* due at 4200: the least recently used of B and C drains, and stops
	 * when its request in flight ends */
	for (t = 4200;; t += 100) {
		assert_true(t <= 4200 + 100);
		for (size_t m = 1; m <= 2; m++)
			if (ST(x, m) == SCHED_READY)
				busy_step(x, &b, t, m);
		victim = ST(x, 1) == SCHED_UNLOADING ? 1 : ST(x, 2) == SCHED_UNLOADING ? 2 : SIZE_MAX;
		if (victim != SIZE_MAX)
			break;
		assert_true(mb->draining != mc->draining);
	}
	assert_non_null(strstr(b.stop_why[victim], "drained for A"));
	assert_int_equal(ST(x, 3 - victim), SCHED_READY);
	b_exited(x, &b, t + 50, victim);
	assert_int_equal(count(x, SCHED_ACT_LOAD, 0), 1);
	assert_true(b.load_at[0] - 4200 <= 100 + 50);
	b_loaded(x, &b, t + 100, 0);
	/* A's requests, queued since 2050 and before: served in order */
	assert_int_equal(ST(x, 0), SCHED_READY);
	assert_true(b.has[0]);
	assert_int_equal(ma->n_queued, 1);
	b_done(x, &b, t + 10, 0);
	assert_true(b.has[0]);
	assert_int_equal(ma->n_queued, 0);
	assert_int_equal(b.rejects, 0);
	assert_string_equal(sched_stop_name(SCHED_STOP_DRAIN), "drain");
	fx_free(x);

	/* drain_after_ms 0: the old way, C waits for an idle model forever */
	x = abc(0, -1);
	memset(&b, 0, sizeof(b));
	b.next = 1;
	b_req(x, &b, 0, 0);
	b_loaded(x, &b, 0, 0);
	b_req(x, &b, 1, 1);
	b_loaded(x, &b, 1, 1);
	b_req(x, &b, 10, 2);
	assert_int_equal(sched_next_deadline(&x->s), INT64_MAX);
	for (t = 100; t <= 100000; t += 100) {
		busy_step(x, &b, t, 0);
		busy_step(x, &b, t, 1);
		assert_int_equal(count(x, SCHED_ACT_STOP, SIZE_MAX), 0);
	}
	tick(x, t);
	assert_int_equal(x->out.n, 0);
	assert_true(x->s.models[2].waiting);
	assert_false(x->s.models[0].draining || x->s.models[1].draining);
	fx_free(x);
}

/* Victims: never pinned; lowest priority first, then least recently used;
 * only as many as it takes. Requests for a draining model wait. */
static void test_drain_victims(void **state)
{
	struct fx *x = fx_new(5);
	struct book b = { .next = 1 };
	static const char *const names[] = { "A", "B", "D", "E", "C" };
	static const size_t order[] = { 0, 2, 1, 3 };

	(void)state;
	for (size_t m = 0; m < 5; m++)
		x->cfg[m].name = names[m];
	x->cfg[0].pin = true;
	x->cfg[3].priority = 1;
	x->opt.budget[1] = 40;
	x->opt.drain_after_ms = 1000;
	fx_start(x);
	/* used in this order: A (pinned), D, B, E (priority 1); each busy
	 * with one more request queued */
	for (size_t i = 0; i < 4; i++) {
		size_t m = order[i];

		b_req(x, &b, (int64_t)i + 1, m);
		b_loaded(x, &b, (int64_t)i + 1, m);
		b_req(x, &b, (int64_t)i + 1, m);
	}
	b_req(x, &b, 10, 4);
	assert_true(x->s.models[4].waiting);
	tick(x, 1009);
	assert_int_equal(x->out.n, 0);
	for (size_t m = 0; m < 4; m++)
		assert_false(x->s.models[m].draining);
	tick(x, 1010);
	assert_int_equal(x->out.n, 0);
	for (size_t m = 0; m < 4; m++)
		assert_int_equal(x->s.models[m].draining, m == 2);
	/* a request for D waits in its queue; B still gets its own */
	b_req(x, &b, 1020, 2);
	assert_int_equal(x->out.n, 0);
	assert_int_equal(x->s.models[2].n_queued, 2);
	b_done(x, &b, 1030, 1);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, 1), 1);
	b_done(x, &b, 1040, 2);
	assert_int_equal(x->out.n, 1);
	assert_non_null(strstr(find(x, SCHED_ACT_STOP, 2)->reason, "drained for C"));
	assert_int_equal(x->s.models[2].n_queued, 2);
	b_exited(x, &b, 1050, 2);
	find(x, SCHED_ACT_LOAD, 4);
	assert_int_equal(b.rejects, 0);
	fx_free(x);
}

/* A drain no longer needed is given back: the waiting model's request was
 * cancelled, or its wait timed out; the drained model's queue is served. */
static void test_drain_given_back(void **state)
{
	struct fx *x = abc(2000, 10000);
	struct book b = { .next = 1 };
	uint64_t c_req;

	(void)state;
	b_req(x, &b, 0, 0);
	b_loaded(x, &b, 0, 0);
	b_req(x, &b, 1, 1);
	b_loaded(x, &b, 1, 1);
	c_req = b.next;
	b_req(x, &b, 10, 2);
	tick(x, 2010);
	assert_true(x->s.models[0].draining);
	b_req(x, &b, 2020, 0);
	assert_int_equal(x->s.models[0].n_queued, 1);
	/* C's client goes away */
	done(x, 2030, c_req);
	assert_int_equal(x->out.n, 0); /* A's one slot is still busy */
	assert_false(x->s.models[0].draining);
	b_done(x, &b, 2040, 0);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, 0), 1);
	fx_free(x);

	/* a wait that times out gives the drain back too */
	x = abc(2000, 3000);
	memset(&b, 0, sizeof(b));
	b.next = 1;
	b_req(x, &b, 0, 0);
	b_loaded(x, &b, 0, 0);
	b_req(x, &b, 1, 1);
	b_loaded(x, &b, 1, 1);
	b_req(x, &b, 10, 2);
	tick(x, 2010);
	assert_true(x->s.models[0].draining);
	b_req(x, &b, 2020, 0);
	tick(x, 3010);
	assert_int_equal(x->out.n, 1);
	assert_int_equal(x->out.v[0].kind, SCHED_ACT_REJECT);
	assert_int_equal(x->out.v[0].status, 503);
	assert_false(x->s.models[0].draining);
	b_done(x, &b, 3020, 0);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, 0), 1);
	fx_free(x);
}

/* Nothing is drained while the waiting model would not fit even with every
 * drainable model gone (here: another model's start holds memory); once it
 * would, as many as it takes are. */
static void test_drain_not_while_it_cannot_fit(void **state)
{
	struct fx *x = fx_new(4);
	struct book b = { .next = 1 };

	(void)state;
	x->opt.budget[1] = 25;
	x->f.opts[2][0][1] = 21;
	x->f.opts[3][0][1] = 5;
	x->opt.drain_after_ms = 2000;
	fx_start(x);
	b_req(x, &b, 0, 0);
	b_loaded(x, &b, 0, 0);
	b_req(x, &b, 1, 1);
	b_loaded(x, &b, 1, 1);
	b_req(x, &b, 10, 2);
	assert_true(x->s.models[2].waiting);
	/* a small model that fits in what is free starts meanwhile */
	b_req(x, &b, 20, 3);
	find(x, SCHED_ACT_LOAD, 3);
	tick(x, 2010);
	assert_int_equal(x->out.n, 0);
	for (size_t m = 0; m < 4; m++)
		assert_false(x->s.models[m].draining);
	/* started: now all three must go */
	b_loaded(x, &b, 2100, 3);
	assert_int_equal(count(x, SCHED_ACT_DISPATCH, 3), 1);
	assert_true(x->s.models[0].draining && x->s.models[1].draining && x->s.models[3].draining);
	b_done(x, &b, 2200, 0);
	find(x, SCHED_ACT_STOP, 0);
	b_done(x, &b, 2210, 1);
	find(x, SCHED_ACT_STOP, 1);
	b_exited(x, &b, 2220, 0);
	b_exited(x, &b, 2230, 1);
	assert_int_equal(x->out.n, 0);
	b_done(x, &b, 2240, 3);
	find(x, SCHED_ACT_STOP, 3);
	b_exited(x, &b, 2250, 3);
	find(x, SCHED_ACT_LOAD, 2);
	fx_free(x);
}

/* max_loaded: a model slot is drained for, like memory. */
static void test_drain_for_a_model_slot(void **state)
{
	struct fx *x = abc(500, 10000);
	struct book b = { .next = 1 };

	(void)state;
	sched_release(&x->s);
	x->opt.max_loaded = 2;
	x->opt.budget[1] = 1000;
	fx_start(x);
	b_req(x, &b, 0, 0);
	b_loaded(x, &b, 0, 0);
	b_req(x, &b, 1, 1);
	b_loaded(x, &b, 1, 1);
	b_req(x, &b, 10, 2);
	assert_true(x->s.models[2].waiting);
	/* (an idle one would just be evicted) */
	b_req(x, &b, 20, 0);
	b_req(x, &b, 21, 1);
	tick(x, 510);
	assert_true(x->s.models[0].draining);
	assert_false(x->s.models[1].draining);
	b_done(x, &b, 600, 0);
	assert_non_null(strstr(find(x, SCHED_ACT_STOP, 0)->reason, "drained for C"));
	b_exited(x, &b, 700, 0);
	find(x, SCHED_ACT_LOAD, 2);
	fx_free(x);
}

/* ---- random events against a model of the daemon ---- */

enum rq_state { RQ_QUEUED, RQ_RUNNING, RQ_CLOSED };
enum be_state { BE_NONE, BE_STARTING, BE_RUNNING, BE_STOPPING };

#define MAXR 16384

struct world {
	struct fx *x;
	size_t n;
	int64_t now;
	uint64_t base_budget[NP];
	uint32_t n_req;
	size_t rq_model[MAXR];
	enum rq_state rq[MAXR];
	int64_t rq_at[MAXR];     /* when it arrived */
	int64_t rq_end[MAXR];    /* stream(): when a running one ends */
	uint32_t open[MAXR];     /* the requests not closed, in no order */
	uint32_t open_ix[MAXR];  /* where in open[] */
	uint32_t n_open;
	uint32_t n_q[MAXM], n_run[MAXM]; /* per model: queued, running */
	uint32_t fifo_lo[MAXM];  /* no request of the model below is queued */
	enum be_state be[MAXM];
	int64_t be_at[MAXM];     /* stream(): when its start or stop ends */
	uint64_t need[MAXM][NP];
	bool unload_asked[MAXM];
	bool was_draining[MAXM]; /* draining as the last event left it */
	bool timing;             /* stream(): measure the waits */
	int64_t max_wait;        /* the longest arrival to dispatch or reject */
	unsigned n_loads, n_stops, n_dispatch, n_reject, n_abort, n_evict, n_shrink, n_drains;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? rng % n : 0;
}

static uint32_t model_queued(const struct world *w, size_t m)
{
	return w->n_q[m];
}

static uint32_t model_running(const struct world *w, size_t m)
{
	return w->n_run[m];
}

/* A request changes state; the counters and the open list follow. */
static void set_rq(struct world *w, uint32_t r, enum rq_state st)
{
	size_t m = w->rq_model[r];
	enum rq_state old = w->rq[r];

	if (old == RQ_QUEUED)
		w->n_q[m]--;
	else if (old == RQ_RUNNING)
		w->n_run[m]--;
	if (st == RQ_QUEUED)
		w->n_q[m]++;
	else if (st == RQ_RUNNING)
		w->n_run[m]++;
	if (st == RQ_CLOSED && old != RQ_CLOSED) {
		uint32_t i = w->open_ix[r], last = w->open[--w->n_open];

		w->open[i] = last;
		w->open_ix[last] = i;
	}
	w->rq[r] = st;
}

/* A new request for m (queued, before the scheduler hears of it). */
static uint32_t new_rq(struct world *w, size_t m)
{
	uint32_t r = w->n_req++;

	w->rq_model[r] = m;
	w->rq[r] = RQ_QUEUED;
	w->rq_at[r] = w->now;
	w->n_q[m]++;
	w->open_ix[r] = w->n_open;
	w->open[w->n_open++] = r;
	return r;
}

static void note_wait(struct world *w, uint32_t r)
{
	if (w->timing && w->now - w->rq_at[r] > w->max_wait)
		w->max_wait = w->now - w->rq_at[r];
}

/* Progress: with no load under way and nothing unloading, a model waiting
 * for a load whose best plan fits as things are would have been loaded. */
static void assert_no_missed_load(const struct world *w)
{
	const struct sched *s = &w->x->s;
	uint32_t holding = 0;

	for (size_t m = 0; m < w->n; m++) {
		/* (while models drain for the first in line, the others wait) */
		if (s->models[m].state == SCHED_LOADING || s->models[m].state == SCHED_UNLOADING ||
		    s->models[m].draining)
			return;
		holding += s->models[m].state == SCHED_READY;
	}
	for (size_t m = 0; m < w->n; m++) {
		const struct sched_model *md = &s->models[m];
		uint64_t avail[NP];
		uint32_t pinned = 0;
		bool fits = true;
		uint32_t o;

		if (md->state != SCHED_UNLOADED || !(md->n_queued || md->load_wanted) ||
		    (md->failures && md->retry_at > s->now))
			continue;
		for (size_t p = 0; p < NP; p++)
			avail[p] = s->opt.budget[p];
		for (size_t j = 0; j < w->n; j++) {
			const struct sched_model *o2 = &s->models[j];

			if (j == m || !o2->cfg.pin || o2->unload_when_idle || o2->state != SCHED_READY)
				continue;
			pinned++;
			for (size_t p = 0; p < NP; p++)
				avail[p] = avail[p] > o2->need[p] ? avail[p] - o2->need[p] : 0;
		}
		for (size_t p = 0; p < NP; p++)
			if (md->has_cap && md->cap[p] < avail[p])
				avail[p] = md->cap[p];
		for (o = 0; o < w->x->f.n_opts[m]; o++) {
			bool ok = true;

			for (size_t p = 0; p < NP; p++)
				ok &= w->x->f.opts[m][o][p] <= avail[p];
			if (ok)
				break;
		}
		if (o == w->x->f.n_opts[m])
			continue; /* no plan: rejected (or it will be) */
		/* (a pool it does not use is never in its way) */
		for (size_t p = 0; p < NP; p++)
			fits &= w->x->f.opts[m][o][p] == 0 ||
				sched_used(s, p) + w->x->f.opts[m][o][p] <= s->opt.budget[p];
		if (s->opt.max_loaded && holding >= s->opt.max_loaded)
			fits = false;
		if (fits)
			fail_msg("model %zu waits (queued %u) though plan %u fits", m, md->n_queued, o);
	}
}

/* Applies one event's actions to the world, in order, checking each. */
static void apply(struct world *w, bool expect_abort_of, size_t abort_model)
{
	struct fx *x = w->x;
	bool loaded_now = false;
	size_t loaded_m = 0;

	assert_false(x->out.overflow);
	for (size_t i = 0; i < x->out.n; i++) {
		const struct sched_action *a = &x->out.v[i];
		size_t m = a->model;

		assert_true(m < w->n);
		switch (a->kind) {
		case SCHED_ACT_LOAD:
			assert_int_equal(w->be[m], BE_NONE); /* no second backend */
			for (size_t j = 0; j < w->n; j++)
				assert_int_not_equal(w->be[j], BE_STARTING); /* one load at a time */
			assert_int_equal(a->plan_id / 10, m);
			assert_true(a->plan_id % 10 < w->x->f.n_opts[m]);
			w->n_shrink += a->plan_id % 10 > 0;
			memcpy(w->need[m], w->x->f.opts[m][a->plan_id % 10], sizeof(w->need[m]));
			w->be[m] = BE_STARTING;
			w->be_at[m] = w->now + 50 + (int64_t)rnd(250);
			w->unload_asked[m] = false;
			loaded_now = true;
			loaded_m = m;
			w->n_loads++;
			break;
		case SCHED_ACT_STOP: {
			bool drained = strncmp(a->reason, "drained for ", 12) == 0;

			assert_int_equal(w->be[m], BE_RUNNING);
			assert_int_equal(model_running(w, m), 0); /* never in use */
			/* queued requests only on a drained one: they wait */
			if (drained)
				assert_true(x->s.opt.drain_after_ms > 0);
			else
				assert_int_equal(model_queued(w, m), 0);
			if (x->cfg[m].pin)
				assert_true(w->unload_asked[m]);
			w->n_evict += strstr(a->reason, "evicted") || strstr(a->reason, "pressure") || drained;
			w->n_drains += drained;
			w->be[m] = BE_STOPPING;
			w->be_at[m] = w->now + 50 + (int64_t)rnd(250);
			w->unload_asked[m] = false;
			w->n_stops++;
			break;
		}
		case SCHED_ACT_DISPATCH:
			assert_true(a->req < w->n_req);
			assert_int_equal(w->rq[a->req], RQ_QUEUED);
			assert_int_equal(w->rq_model[a->req], m);
			assert_int_equal(w->be[m], BE_RUNNING);
			assert_true(model_running(w, m) < x->cfg[m].slots);
			/* nothing new to a model that drains (one given back
			 * in this event, or chosen after it, may have got it) */
			assert_false(w->was_draining[m] && x->s.models[m].draining);
			/* FIFO: no older request of this model still queued */
			for (uint32_t r = w->fifo_lo[m]; r < a->req; r++)
				assert_false(w->rq_model[r] == m && w->rq[r] == RQ_QUEUED);
			w->fifo_lo[m] = (uint32_t)a->req;
			note_wait(w, (uint32_t)a->req);
			set_rq(w, (uint32_t)a->req, RQ_RUNNING);
			w->rq_end[a->req] = w->now + 50 + (int64_t)rnd(550);
			w->n_dispatch++;
			break;
		case SCHED_ACT_REJECT:
			assert_true(a->req < w->n_req);
			assert_int_equal(w->rq[a->req], RQ_QUEUED);
			assert_true(a->status == 503 || a->status == 500);
			assert_true(a->reason[0] != '\0');
			note_wait(w, (uint32_t)a->req);
			set_rq(w, (uint32_t)a->req, RQ_CLOSED);
			w->n_reject++;
			break;
		case SCHED_ACT_ABORT:
			assert_true(expect_abort_of);
			assert_int_equal(m, abort_model);
			assert_true(a->req < w->n_req);
			assert_int_equal(w->rq[a->req], RQ_RUNNING);
			assert_int_equal(a->status, 502);
			set_rq(w, (uint32_t)a->req, RQ_CLOSED);
			w->n_abort++;
			break;
		}
	}

	/* the scheduler agrees with the world */
	{
		const struct sched *s = &x->s;
		uint64_t held[NP] = { 0 };
		int n_loading = 0;
		int64_t dl;

		for (size_t m = 0; m < w->n; m++) {
			const struct sched_model *md = &s->models[m];
			static const enum be_state want[] = {
				[SCHED_UNLOADED] = BE_NONE, [SCHED_LOADING] = BE_STARTING, [SCHED_READY] = BE_RUNNING,
				[SCHED_UNLOADING] = BE_STOPPING, [SCHED_FAILED] = BE_NONE,
			};

			assert_int_equal(want[md->state], w->be[m]);
			assert_int_equal(md->busy, model_running(w, m));
			assert_int_equal(md->n_queued, model_queued(w, m));
			assert_true(md->busy <= md->cfg.slots);
			assert_true(md->n_queued <= s->opt.max_queue);
			if (md->state == SCHED_READY && md->n_queued > 0 && !md->draining)
				assert_int_equal(md->busy, md->cfg.slots);
			/* a draining model is ready, in use (else it would
			 * have been stopped), and never pinned (unless its
			 * unload is asked for) */
			if (md->draining) {
				assert_true(s->opt.drain_after_ms > 0);
				assert_int_equal(md->state, SCHED_READY);
				assert_true(md->busy > 0);
				assert_true(!md->cfg.pin || md->unload_when_idle);
			}
			w->was_draining[m] = md->draining;
			if (md->state == SCHED_FAILED)
				assert_int_equal(md->n_queued, 0);
			if (md->state != SCHED_READY)
				assert_int_equal(md->busy, 0);
			n_loading += md->state == SCHED_LOADING;
			if (w->be[m] != BE_NONE)
				for (size_t p = 0; p < NP; p++)
					held[p] += w->need[m][p];
		}
		assert_true(n_loading <= 1);
		assert_int_equal(s->loading, n_loading == 1);
		assert_no_missed_load(w);
		for (size_t p = 0; p < NP; p++) {
			assert_int_equal(sched_used(s, p), held[p]);
			/* a load starts only when it and everything held fit
			 * (in the pools it uses) */
			if (loaded_now && w->need[loaded_m][p] > 0)
				assert_true(held[p] <= s->opt.budget[p]);
		}
		dl = sched_next_deadline(s);
		/* never a time already handled (after a tick, s->now is now;
		 * an ignored event handles nothing) */
		if (dl <= s->now) {
			for (size_t m = 0; m < w->n; m++) {
				const struct sched_model *md = &s->models[m];
				print_message("m%zu %s busy %u q %u exp %lld retry %lld fail %u wait %d %lld pin %d uwi %d lw %d ka %lld\n", m,
					      sched_state_name(md->state), md->busy, md->n_queued, (long long)md->expires_at,
					      (long long)md->retry_at, md->failures, md->waiting, (long long)md->wait_since,
					      md->cfg.pin, md->unload_when_idle, md->load_wanted, (long long)md->keep_alive_ms);
			}
			fail_msg("deadline %lld at %lld", (long long)dl, (long long)s->now);
		}
	}
}

static size_t pick_req(const struct world *w, enum rq_state st)
{
	uint32_t n = 0, k;

	if (st == RQ_CLOSED) {
		/* any closed one will do */
		uint32_t r = w->n_req ? (uint32_t)rnd(w->n_req) : 0;

		return r < w->n_req && w->rq[r] == RQ_CLOSED ? r : SIZE_MAX;
	}
	for (uint32_t i = 0; i < w->n_open; i++)
		n += w->rq[w->open[i]] == st;
	if (!n)
		return SIZE_MAX;
	k = (uint32_t)rnd(n);
	for (uint32_t i = 0; i < w->n_open; i++)
		if (w->rq[w->open[i]] == st && k-- == 0)
			return w->open[i];
	return SIZE_MAX;
}

static size_t pick_be(const struct world *w, enum be_state st)
{
	size_t n = 0, k;

	for (size_t m = 0; m < w->n; m++)
		n += w->be[m] == st;
	if (!n)
		return SIZE_MAX;
	k = rnd(n);
	for (size_t m = 0; m < w->n; m++)
		if (w->be[m] == st && k-- == 0)
			return m;
	return SIZE_MAX;
}

static void w_loaded(struct world *w, size_t m)
{
	struct fx *x = w->x;

	clr(x);
	if (rnd(3) == 0) {
		/* the backend measures a bit more or less than the plan */
		uint64_t meas[SCHED_MAX_POOLS] = { 0 };

		for (size_t p = 0; p < NP; p++)
			meas[p] = w->need[m][p] + rnd(3) - (w->need[m][p] > 0);
		memcpy(w->need[m], meas, sizeof(w->need[m]));
		sched_loaded(&x->s, w->now, m, meas, &x->out);
	} else {
		sched_loaded(&x->s, w->now, m, NULL, &x->out);
	}
	w->be[m] = BE_RUNNING;
	apply(w, false, 0);
}

static void w_exited(struct world *w, size_t m, enum sched_exit why)
{
	struct fx *x = w->x;
	bool was_running = w->be[m] == BE_RUNNING;

	w->be[m] = BE_NONE;
	w->unload_asked[m] = false;
	clr(x);
	sched_exited(&x->s, w->now, m, why, "test", &x->out);
	apply(w, was_running, m);
}

static void random_event(struct world *w)
{
	struct fx *x = w->x;
	uint64_t k = rnd(100);
	size_t m, r;

	w->now += (int64_t)rnd(rnd(10) == 0 ? 20000 : 800);
	if (k < 30 && w->n_req < MAXR) {
		static const int64_t kas[] = { KA_DEF, KA_DEF, 0, 1500, -1 };

		m = rnd(w->n);
		r = new_rq(w, m);
		req(x, w->now, m, r, kas[rnd(ARRAY_SIZE(kas))]);
		apply(w, false, 0);
	} else if (k < 50) {
		r = pick_req(w, RQ_RUNNING);
		if (r == SIZE_MAX)
			return;
		set_rq(w, (uint32_t)r, RQ_CLOSED);
		done(x, w->now, r);
		apply(w, false, 0);
	} else if (k < 54) {
		r = pick_req(w, RQ_QUEUED);
		if (r == SIZE_MAX)
			return;
		set_rq(w, (uint32_t)r, RQ_CLOSED);
		done(x, w->now, r);
		apply(w, false, 0);
	} else if (k < 56) {
		r = pick_req(w, RQ_CLOSED);
		if (r == SIZE_MAX)
			return;
		done(x, w->now, r);
		assert_int_equal(x->out.n, 0);
		apply(w, false, 0);
	} else if (k < 70) {
		m = pick_be(w, BE_STARTING);
		if (m == SIZE_MAX)
			return;
		if (rnd(5) == 0)
			w_exited(w, m, (enum sched_exit)(1 + rnd(3)));
		else
			w_loaded(w, m);
	} else if (k < 80) {
		m = pick_be(w, BE_STOPPING);
		if (m != SIZE_MAX)
			w_exited(w, m, rnd(10) ? SCHED_EXIT_STOPPED : SCHED_EXIT_CRASH);
	} else if (k < 82) {
		m = pick_be(w, BE_RUNNING);
		if (m != SIZE_MAX)
			w_exited(w, m, rnd(2) ? SCHED_EXIT_CRASH : SCHED_EXIT_OOM);
	} else if (k < 90) {
		tick(x, w->now);
		apply(w, false, 0);
	} else if (k < 94) {
		uint64_t b[SCHED_MAX_POOLS] = { 0 };

		for (size_t p = 0; p < NP; p++)
			b[p] = rnd(2) ? w->base_budget[p] : w->base_budget[p] * (50 + rnd(51)) / 100;
		clr(x);
		sched_set_budget(&x->s, w->now, b, &x->out);
		apply(w, false, 0);
	} else if (k < 97) {
		static const int64_t kas[] = { KA_DEF, 0, 3000 };
		int64_t ka = kas[rnd(ARRAY_SIZE(kas))];

		m = rnd(w->n);
		if (ka == 0 && (w->be[m] == BE_STARTING || w->be[m] == BE_RUNNING))
			w->unload_asked[m] = true;
		else if (ka != 0)
			w->unload_asked[m] = false;
		clr(x);
		sched_load(&x->s, w->now, m, ka, &x->out);
		apply(w, false, 0);
	} else {
		m = rnd(w->n);
		if (w->be[m] == BE_STARTING || w->be[m] == BE_RUNNING)
			w->unload_asked[m] = true;
		clr(x);
		sched_unload(&x->s, w->now, m, &x->out);
		apply(w, false, 0);
	}
}

/* No new requests: everything in flight ends, backends start and stop,
 * time passes; every request must end answered. */
static void settle(struct world *w)
{
	struct fx *x = w->x;
	int round;

	clr(x);
	sched_set_budget(&x->s, w->now, w->base_budget, &x->out);
	apply(w, false, 0);
	for (round = 0; round < 200; round++) {
		size_t r, m;
		bool open = false;

		while ((r = pick_req(w, RQ_RUNNING)) != SIZE_MAX) {
			set_rq(w, (uint32_t)r, RQ_CLOSED);
			w->now++;
			done(x, w->now, r);
			apply(w, false, 0);
		}
		while ((m = pick_be(w, BE_STOPPING)) != SIZE_MAX) {
			w->now++;
			w_exited(w, m, SCHED_EXIT_STOPPED);
		}
		while ((m = pick_be(w, BE_STARTING)) != SIZE_MAX) {
			w->now++;
			w_loaded(w, m);
		}
		w->now += 70000;
		tick(x, w->now);
		apply(w, false, 0);
		open = w->n_open > 0;
		if (!open)
			return;
	}
	for (size_t m = 0; m < w->n; m++) {
		const struct sched_model *md = &x->s.models[m];
		print_message("m%zu %s busy %u q %u fail %u wait %d pin %d uwi %d lw %d need %llu/%llu "
			      "prio %d shrink %d slots %u\n", m, sched_state_name(md->state), md->busy, md->n_queued,
			      md->failures, md->waiting, md->cfg.pin, md->unload_when_idle, md->load_wanted,
			      (unsigned long long)md->need[0], (unsigned long long)md->need[1], md->cfg.priority,
			      md->cfg.may_shrink, md->cfg.slots);
		for (uint32_t o = 0; o < x->f.n_opts[m]; o++)
			print_message("  plan %u: %llu/%llu\n", o, (unsigned long long)x->f.opts[m][o][0],
				      (unsigned long long)x->f.opts[m][o][1]);
	}
	print_message("budget %llu/%llu max_loaded %u wait %lld drain after %lld\n",
		      (unsigned long long)x->s.opt.budget[0], (unsigned long long)x->s.opt.budget[1],
		      x->s.opt.max_loaded, (long long)x->s.opt.wait_ms, (long long)x->s.opt.drain_after_ms);
	fail_msg("requests still open after draining");
}

/* A world of 2 to 5 models with random presets and plans, budgets that
 * hold some of them, and random options. */
static struct world *world_new(void)
{
	size_t n = 2 + rnd(4);
	struct fx *x = fx_new(n);
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->x = x;
	w->n = n;
	w->now = 1000;
	for (size_t m = 0; m < n; m++) {
		static const int64_t kas[] = { 0, 500, 5000, 60000, -1 };

		x->cfg[m].priority = (int32_t)rnd(3);
		x->cfg[m].pin = rnd(6) == 0;
		x->cfg[m].may_shrink = rnd(2);
		x->cfg[m].slots = 1 + (uint32_t)rnd(3);
		x->cfg[m].keep_alive_ms = kas[rnd(ARRAY_SIZE(kas))];
		x->f.n_opts[m] = 1 + (uint32_t)rnd(MAXO);
		for (uint32_t o = 0; o < x->f.n_opts[m]; o++) {
			/* each option smaller than the one before */
			x->f.opts[m][o][0] = o ? x->f.opts[m][o - 1][0] - rnd(3) : 5 + rnd(30);
			x->f.opts[m][o][1] = o ? x->f.opts[m][o - 1][1] / 2 : rnd(4) ? rnd(20) : 0;
		}
	}
	x->opt.budget[0] = w->base_budget[0] = 40 + rnd(60);
	x->opt.budget[1] = w->base_budget[1] = 8 + rnd(30);
	x->opt.max_loaded = (uint32_t)rnd(4);
	x->opt.max_queue = 1 + (uint32_t)rnd(4);
	x->opt.wait_ms = rnd(5) ? (int64_t)rnd(8000) : -1;
	x->opt.drain_after_ms = rnd(2) ? 0 : 1 + (int64_t)rnd(3000);
	return w;
}

static void world_free(struct world *w)
{
	fx_free(w->x);
	free(w);
}

static void test_random_invariants(void **state)
{
	unsigned events = 0, loads = 0, stops = 0, dispatched = 0, rejected = 0, aborted = 0, evicted = 0,
		 shrunk = 0, requests = 0, drains = 0;

	(void)state;
	for (int round = 0; round < 300; round++) {
		struct world *w = world_new();

		fx_start(w->x);
		for (int e = 0; e < 400; e++)
			random_event(w);
		settle(w);
		for (uint32_t r = 0; r < w->n_req; r++)
			assert_int_equal(w->rq[r], RQ_CLOSED);
		events += 400;
		requests += w->n_req;
		loads += w->n_loads;
		stops += w->n_stops;
		dispatched += w->n_dispatch;
		rejected += w->n_reject;
		aborted += w->n_abort;
		evicted += w->n_evict;
		shrunk += w->n_shrink;
		drains += w->n_drains;
		world_free(w);
	}
	print_message("%u events, %u requests: %u dispatched, %u rejected, %u aborted; %u loads (%u smaller "
		      "plans), %u stops (%u evictions, %u drains)\n",
		      events, requests, dispatched, rejected, aborted, loads, shrunk, stops, evicted, drains);
	/* the random runs must reach every kind of outcome they check */
	assert_true(dispatched > 1000 && rejected > 100 && aborted > 10 && loads > 500 && shrunk > 10 &&
		    evicted > 50 && drains > 20);
}

/* Continuous load: a request comes for every loaded model whose queue has
 * room (mostly), and now and then one for any model; requests end 50-600
 * ms after their dispatch, starts and stops 50-300 ms after they began;
 * no failures, no budget changes. */
static void stream(struct world *w, int steps)
{
	struct fx *x = w->x;
	uint32_t ending[MAXR];

	clr(x);
	sched_set_budget(&x->s, w->now, w->base_budget, &x->out);
	apply(w, false, 0);
	for (int i = 0; i < steps; i++) {
		uint32_t n_end = 0;

		w->now += 20 + (int64_t)rnd(100);
		for (uint32_t k = 0; k < w->n_open; k++)
			if (w->rq[w->open[k]] == RQ_RUNNING && w->rq_end[w->open[k]] <= w->now)
				ending[n_end++] = w->open[k];
		for (uint32_t k = 0; k < n_end; k++) {
			set_rq(w, ending[k], RQ_CLOSED);
			done(x, w->now, ending[k]);
			apply(w, false, 0);
		}
		for (size_t m = 0; m < w->n; m++) {
			if (w->be[m] == BE_STARTING && w->be_at[m] <= w->now)
				w_loaded(w, m);
			else if (w->be[m] == BE_STOPPING && w->be_at[m] <= w->now)
				w_exited(w, m, SCHED_EXIT_STOPPED);
		}
		for (size_t m = 0; m < w->n && w->n_req + 2 < MAXR; m++) {
			if (w->be[m] != BE_RUNNING || w->n_q[m] >= x->s.opt.max_queue || rnd(4) == 0)
				continue;
			req(x, w->now, m, new_rq(w, m), KA_DEF);
			apply(w, false, 0);
		}
		if (rnd(8) == 0 && w->n_req + 1 < MAXR) {
			size_t m = rnd(w->n);

			req(x, w->now, m, new_rq(w, m), KA_DEF);
			apply(w, false, 0);
		}
		tick(x, w->now);
		apply(w, false, 0);
	}
}

/* Fairness: under continuous load on the loaded models, a model waiting
 * for memory they hold is loaded all the same (they are drained for it),
 * and so is each drained one in turn: every request is dispatched or
 * rejected within a bound (a few drain_after_ms and request lengths per
 * model ahead in line), although nobody ever goes idle and no wait times
 * out (wait_ms < 0). */
static void test_random_no_starvation(void **state)
{
	int64_t worst = 0;
	unsigned drains = 0, requests = 0;

	(void)state;
	for (int round = 0; round < 60; round++) {
		struct world *w = world_new();
		struct fx *x = w->x;
		int64_t bound;

		x->opt.wait_ms = -1;
		x->opt.drain_after_ms = 200 + (int64_t)rnd(2800);
		fx_start(x);
		for (int e = 0; e < 200; e++)
			random_event(w);
		/* what went before: settled, then continuous load */
		settle(w);
		w->timing = true;
		stream(w, 3000);
		w->timing = false;
		/* a turn: the first in line waits drain_after_ms, its victims'
		 * requests end (600 ms), they exit, it starts (300 ms each),
		 * plus a step of the stream for each; a request waits for at
		 * most a turn per model and per request ahead in its queue */
		bound = (int64_t)(w->n * (x->opt.max_queue + 1)) * (x->opt.drain_after_ms + 1600);
		for (uint32_t k = 0; k < w->n_open; k++)
			if (w->rq[w->open[k]] == RQ_QUEUED)
				note_wait(w, w->open[k]);
		if (w->max_wait > bound)
			fail_msg("round %d: a request waited %lld ms (bound %lld, %zu models, max_queue %u, drain after "
				 "%lld ms)", round, (long long)w->max_wait, (long long)bound, w->n, x->opt.max_queue,
				 (long long)x->opt.drain_after_ms);
		if (w->max_wait > worst)
			worst = w->max_wait;
		settle(w);
		drains += w->n_drains;
		requests += w->n_req;
		world_free(w);
	}
	print_message("%u requests, %u drains, longest wait %lld ms\n", requests, drains, (long long)worst);
	assert_true(drains > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_lifecycle),
		cmocka_unit_test(test_keep_alive_zero_and_negative),
		cmocka_unit_test(test_keep_alive_per_request_last_wins),
		cmocka_unit_test(test_pinned_never_expires),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_slots_fifo),
		cmocka_unit_test(test_no_double_load),
		cmocka_unit_test(test_request_while_unloading),
		cmocka_unit_test(test_evict_lru_idle),
		cmocka_unit_test(test_evict_never_busy),
		cmocka_unit_test(test_evict_never_pinned),
		cmocka_unit_test(test_evict_never_queued_model),
		cmocka_unit_test(test_evict_priority_first),
		cmocka_unit_test(test_evict_only_where_it_helps),
		cmocka_unit_test(test_wait_for_busy_then_load),
		cmocka_unit_test(test_wait_timeout),
		cmocka_unit_test(test_small_model_passes_waiting_big_one),
		cmocka_unit_test(test_no_bypass_while_head_evicts),
		cmocka_unit_test(test_may_shrink),
		cmocka_unit_test(test_may_shrink_prefers_eviction),
		cmocka_unit_test(test_loads_serialized),
		cmocka_unit_test(test_max_loaded),
		cmocka_unit_test(test_max_loaded_all_pinned),
		cmocka_unit_test(test_crash_while_ready),
		cmocka_unit_test(test_oom_caps_next_plan),
		cmocka_unit_test(test_oom_cap_from_measured),
		cmocka_unit_test(test_start_failures_backoff_failed),
		cmocka_unit_test(test_oom_cap_below_every_plan),
		cmocka_unit_test(test_oom_reason_default_names),
		cmocka_unit_test(test_oom_cap_and_no_room_anyway),
		cmocka_unit_test(test_oom_capped_plan_kept_until_unloaded),
		cmocka_unit_test(test_failed_retried_after_a_minute),
		cmocka_unit_test(test_no_plan_fits),
		cmocka_unit_test(test_pressure),
		cmocka_unit_test(test_unload),
		cmocka_unit_test(test_stop_counters),
		cmocka_unit_test(test_explicit_load),
		cmocka_unit_test(test_cancel_queued_and_unknown),
		cmocka_unit_test(test_cancel_last_waiting),
		cmocka_unit_test(test_next_deadline),
		cmocka_unit_test(test_init_errors_and_overflow),
		cmocka_unit_test(test_unused_pool_over_budget),
		cmocka_unit_test(test_drain_starvation),
		cmocka_unit_test(test_drain_victims),
		cmocka_unit_test(test_drain_given_back),
		cmocka_unit_test(test_drain_not_while_it_cannot_fit),
		cmocka_unit_test(test_drain_for_a_model_slot),
		cmocka_unit_test(test_plan_lost),
		cmocka_unit_test(test_random_invariants),
		cmocka_unit_test(test_random_no_starvation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
