/* place.c: the placement solver (see place.h for the order of
 * preference). Every candidate is measured with the estimator, and memory
 * only grows with the quantity searched (GPU layers, experts on the GPU,
 * context), so each search is a bisection over llama.cpp's own steps. */
#include "base/compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "gguf/ggml-type.h"
#include "place/place.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define DEFAULT_GPU_BW 900e9  /* a mid-range discrete GPU, when unknown */
#define DEFAULT_CPU_BW 50e9   /* dual-channel DDR5, when unknown */

int place_check(const struct model *m, const struct est_config *c, const uint64_t *budget,
		struct est_result *ret_est, uint64_t *ret_need, struct diag *d)
{
	int e = est_estimate(m, c, ret_est, d);
	bool fits = true;

	if (e < 0)
		return e;
	for (size_t i = 0; i <= c->n_devices; i++)
		ret_need[i] = 0;
	ret_need[0] = ret_est->usage[0].total;
	for (size_t i = 0; i < c->n_devices; i++) {
		uint64_t t = ret_est->usage[i + 1].total;

		/* a unified GPU draws on system RAM: one pool, counted once */
		if (c->devices[i].kind == EST_DEV_UNIFIED)
			ret_need[0] += t;
		else
			ret_need[i + 1] = t;
	}
	for (size_t i = 0; i <= c->n_devices; i++) {
		bool unified_slot = i > 0 && c->devices[i - 1].kind == EST_DEV_UNIFIED;

		if (!unified_slot && ret_need[i] > budget[i])
			fits = false;
	}
	return fits ? 1 : 0;
}

struct solver {
	const char *how;
	bool allow_disk;
	const struct model *m;
	const struct place_request *q;
	struct place_plan *p;
	struct diag *d;
	struct est_result est;
	uint64_t need[EST_MAX_DEVICES + 1];
	int err;
	uint32_t n_layer;
};

/* Layer-granular split in proportion to the budgets (llama.cpp -ts). */
static void default_split(const struct place_request *q, struct est_config *c)
{
	if (c->n_devices < 2 || q->ts_fixed)
		return;
	c->n_ts = c->n_devices;
	for (size_t i = 0; i < c->n_devices; i++)
		c->ts[i] = (double)(c->devices[i].kind == EST_DEV_UNIFIED ? q->budget[0] : q->budget[i + 1]) / GIB;
}

/* The split is the solver's to choose: several discrete GPUs, by layer,
 * no -ts from the user. */
static bool own_split(const struct solver *s, const struct est_config *c)
{
	if (c->n_devices < 2 || s->q->ts_fixed || c->split_mode != EST_SPLIT_LAYER)
		return false;
	for (size_t i = 0; i < c->n_devices; i++)
		if (c->devices[i].kind == EST_DEV_UNIFIED)
			return false;
	return true;
}

/* -ts as the layer counts the last estimate put on each device: the same
 * placement (llama.cpp's split points then fall on the layers), printed
 * as what it is ("-ts 39,42"). */
static void counts_split(const struct solver *s, struct est_config *c)
{
	c->n_ts = c->n_devices;
	for (size_t i = 0; i < c->n_devices; i++)
		c->ts[i] = s->est.dev_layers[i];
}

/* 1 fits, 0 not (or refused as invalid for this model: a KV type whose
 * block does not divide the head size), < 0 a real error. With gpu_only
 * set, only the GPUs' own pools are checked: GPU memory only grows as
 * more goes to the GPUs while host memory only shrinks, so the most that
 * fits the GPUs is the one placement worth checking against the host. */
static int try_once(struct solver *s, const struct est_config *c, bool gpu_only)
{
	struct diag d;
	int e;

	diag_init(&d);
	e = place_check(s->m, c, s->q->budget, &s->est, s->need, &d);
	if (e == -EINVAL)
		return 0;
	if (e < 0 && s->d)
		*s->d = d;
	/* --allow-disk: the mapped weights may spill past RAM (the kernel
	 * pages them in from the file); everything else must fit */
	if (e == 0 && s->allow_disk && !gpu_only) {
		uint64_t mapped = s->est.usage[0].weights_mapped;

		e = s->need[0] - mapped <= s->q->budget[0];
		for (size_t i = 0; e && i < c->n_devices; i++)
			if (c->devices[i].kind != EST_DEV_UNIFIED && s->need[i + 1] > s->q->budget[i + 1])
				e = 0;
	}
	if (e == 0 && gpu_only) {
		e = 1;
		for (size_t i = 0; i < c->n_devices; i++)
			if (c->devices[i].kind != EST_DEV_UNIFIED && s->need[i + 1] > s->q->budget[i + 1])
				e = 0;
	}
	return e;
}

/* Over several GPUs the split starts in proportion to their budgets; when
 * that does not fit, whole layers move, one at a time, from the GPU
 * furthest over its budget to the one with the most room (the last GPU
 * also holds the output layer, and each its own compute buffer, so the
 * shares are not the budgets'), as llama.cpp's --fit sets per-device
 * layer counts. c's split becomes layer counts either way. */
static int try_mode(struct solver *s, struct est_config *c, bool gpu_only)
{
	bool own = own_split(s, c);
	int r, last_from = -1, last_to = -1;

	if (own)
		default_split(s->q, c);
	r = try_once(s, c, gpu_only);
	if (!own || r < 0)
		return r;
	counts_split(s, c);
	for (uint32_t step = 0; r == 0 && step <= 2 * (s->n_layer + 1); step++) {
		int from = -1, to = -1;
		uint64_t over = 0, room = 0;

		for (size_t i = 0; i < c->n_devices; i++) {
			uint64_t need = s->need[i + 1], budget = s->q->budget[i + 1];

			if (need > budget && need - budget > over && c->ts[i] > 0) {
				over = need - budget;
				from = (int)i;
			} else if (need < budget && budget - need > room) {
				room = budget - need;
				to = (int)i;
			}
		}
		/* nothing over (the host is what does not fit), nowhere to go,
		 * or the move just made undone: no split fits */
		if (from < 0 || to < 0 || (from == last_to && to == last_from))
			break;
		c->ts[from] -= 1;
		c->ts[to] += 1;
		last_from = from;
		last_to = to;
		r = try_once(s, c, gpu_only);
		if (r < 0)
			return r;
	}
	if (r == 0) {
		/* the proportional split, as the estimate kept last says */
		default_split(s->q, c);
		return try_once(s, c, gpu_only) < 0 ? -1 : 0;
	}
	counts_split(s, c);
	return r;
}

static int try_cfg(struct solver *s, struct est_config *c)
{
	return try_mode(s, c, false);
}

static void why(struct place_plan *p, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void why(struct place_plan *p, const char *fmt, ...)
{
	va_list ap;

	if (p->n_why >= PLACE_WHY_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(p->why[p->n_why++], PLACE_WHY_LEN, fmt, ap);
	va_end(ap);
}

static void accept(struct solver *s, const struct est_config *c)
{
	s->p->fits = true;
	s->p->config = *c;
	s->p->est = s->est;
	memcpy(s->p->need, s->need, sizeof(s->need));
}

/* llama-server's prompt cache grows in system RAM at run time, up to
 * --cache-ram (8 GiB by default) beyond what loading takes: cap it at
 * what the plan leaves of the RAM budget, so the server stays inside it */
static void cap_prompt_cache(const struct place_request *q, struct place_plan *p)
{
	uint64_t left = q->budget[0] > p->need[0] ? q->budget[0] - p->need[0] : 0;
	uint64_t cur = p->est.prompt_cache;

	/* the context checkpoints first: without them a sliding-window or
	 * recurrent model reprocesses the whole prompt when a chat goes back;
	 * as many a slot as the RAM the plan leaves holds */
	if (p->est.checkpoints_max > left && !q->ctxcp_fixed && p->est.checkpoint_size) {
		uint64_t per, n;

		if (!ck_mul_u64(p->est.checkpoint_size, p->est.n_seq ? p->est.n_seq : 1, &per))
			per = UINT64_MAX;
		n = per ? left / per : 0;
		if (n > INT32_MAX)
			n = INT32_MAX;
		int32_t was = p->config.n_ctx_checkpoints;

		p->config.n_ctx_checkpoints = (int32_t)n;
		p->est.checkpoints_max = n * per;
		why(p, "--ctx-checkpoints %d: %d a slot of %.0f MiB each fit the %.1f GiB of RAM the plan leaves, not %d",
		    p->config.n_ctx_checkpoints, p->config.n_ctx_checkpoints,
		    (double)p->est.checkpoint_size / 1048576.0, (double)left / GIB, was);
	}
	left -= p->est.checkpoints_max < left ? p->est.checkpoints_max : left;

	if (q->cram_fixed || left >= cur)
		return;
	p->config.cache_ram_mib = (int32_t)(left >> 20);
	p->est.prompt_cache = left >> 20 << 20;
	why(p, "--cache-ram %d: the prompt cache gets the %.1f GiB of RAM the plan leaves, not %.0f GiB",
	    p->config.cache_ram_mib, (double)left / GIB, (double)cur / GIB);
}

/* The largest v in [lo, hi] for which set(c, v) fits, by bisection, given
 * that memory grows with v; returns -1 when even lo does not fit. */
static int64_t bisect_mode(struct solver *s, struct est_config *c, int64_t lo, int64_t hi,
			   void (*set)(const struct solver *, struct est_config *, int64_t), bool gpu_only)
{
	int r;

	set(s, c, lo);
	r = try_mode(s, c, gpu_only);
	if (r <= 0) {
		s->err = r < 0 ? r : s->err;
		return -1;
	}
	while (lo < hi) {
		int64_t mid = lo + (hi - lo + 1) / 2;

		set(s, c, mid);
		r = try_mode(s, c, gpu_only);
		if (r < 0) {
			s->err = r;
			return -1;
		}
		if (r)
			lo = mid;
		else
			hi = mid - 1;
	}
	set(s, c, lo);
	/* the last candidate measured may have been a failing one: measure
	 * the answer again so the estimate kept is its own */
	r = try_mode(s, c, gpu_only);
	if (r < 0) {
		s->err = r;
		return -1;
	}
	return lo;
}

static int64_t bisect_max(struct solver *s, struct est_config *c, int64_t lo, int64_t hi,
			  void (*set)(const struct solver *, struct est_config *, int64_t))
{
	return bisect_mode(s, c, lo, hi, set, false);
}

/* The most of something that fits the GPUs, then checked against the
 * host: 1 fits (c set to it), 0 not, < 0 error. */
static int most_on_gpu(struct solver *s, struct est_config *c, int64_t lo, int64_t hi,
		       void (*set)(const struct solver *, struct est_config *, int64_t))
{
	int64_t v;

	/* Over several GPUs a layer more can move another from one device
	 * to the next (llama.cpp splits by fractions of the offloaded
	 * layers), so each device's share is not monotonic: walk down from
	 * the top instead of bisecting. */
	if (c->n_devices > 1) {
		for (v = hi; v >= lo; v--) {
			int r;

			set(s, c, v);
			r = try_mode(s, c, true);
			if (r < 0)
				return r;
			if (r)
				return try_cfg(s, c);
		}
		return 0;
	}
	v = bisect_mode(s, c, lo, hi, set, true);

	if (v < 0)
		return s->err < 0 ? s->err : 0;
	return try_cfg(s, c);
}

static void set_ngl(const struct solver *s, struct est_config *c, int64_t v)
{
	(void)s;
	c->n_gpu_layers = (int32_t)v;
}

/* experts on the GPU for the last v layers: --n-cpu-moe counts the first */
static void set_moe_gpu(const struct solver *s, struct est_config *c, int64_t v)
{
	c->n_cpu_moe = s->n_layer - (uint32_t)v;
}

static void set_ctx(const struct solver *s, struct est_config *c, int64_t v)
{
	(void)s;
	c->n_ctx = v * 256;
}

static bool is_moe(const struct model *m)
{
	return m->n_expert > 0;
}

/* Seconds per decoded token: decode is bound by memory bandwidth, so it
 * is the bytes each device reads per token over its bandwidth. */
static double token_time(const struct est_result *r, const struct est_config *c, const double *bw,
			 bool *known)
{
	double t = 0;

	*known = true;
	for (size_t i = 0; i < r->n_usage; i++) {
		const struct est_usage *u = &r->usage[i];
		double b = bw[i];

		if (b <= 0) {
			*known = false;
			b = i == 0 ? DEFAULT_CPU_BW :
			    c->devices[i - 1].kind == EST_DEV_UNIFIED ? bw[0] > 0 ? bw[0] : DEFAULT_CPU_BW * 4 :
			    DEFAULT_GPU_BW;
		}
		t += (double)(u->weights_read + u->kv + u->recurrent) / b;
	}
	return t;
}

static void speed(struct solver *s, const struct est_config *best)
{
	struct est_config all = *best;
	struct est_result r0;
	struct diag d;
	bool k1, k2;
	double t, t0;

	t = token_time(&s->p->est, best, s->q->bandwidth, &k1);
	if (s->allow_disk && s->p->need[0] > s->q->budget[0]) {
		double disk = s->q->disk_bandwidth > 0 ? s->q->disk_bandwidth : 2e9;

		s->p->from_disk = s->p->need[0] - s->q->budget[0];
		t += (double)s->p->from_disk / disk;
	}
	all.n_gpu_layers = -1;
	all.n_cpu_moe = 0;
	all.cpu_moe = false;
	all.n_cpu_ffn = 0;
	diag_init(&d);
	if (best->n_devices == 0 || est_estimate(s->m, &all, &r0, &d) < 0) {
		s->p->speed_ratio = 1.0;
	} else {
		t0 = token_time(&r0, &all, s->q->bandwidth, &k2);
		s->p->speed_ratio = t > 0 ? t0 / t : 1.0;
	}
	s->p->tokens_per_s = k1 && t > 0 ? 1.0 / t : 0;
}

static void explain(struct solver *s, const struct est_config *c, const char *how)
{
	const struct est_result *r = &s->p->est;
	const struct place_request *q = s->q;

	why(s->p, "%s", how);
	if (c->n_devices == 0) {
		why(s->p, "no GPU: everything on the CPU, %.1f GiB of the %.1f GiB RAM budget",
		    (double)s->p->need[0] / GIB, (double)q->budget[0] / GIB);
		return;
	}
	for (size_t i = 0; i < c->n_devices; i++) {
		const struct est_usage *u = &r->usage[i + 1];
		bool uni = c->devices[i].kind == EST_DEV_UNIFIED;
		char extra[64] = "";
		int o = 0;

		if (u->draft)
			o = snprintf(extra, sizeof(extra), ", draft %.1f", (double)u->draft / GIB);
		if (u->projector && o >= 0 && (size_t)o < sizeof(extra))
			snprintf(extra + o, sizeof(extra) - (size_t)o, ", projector %.1f",
				 (double)(u->projector + u->projector_compute) / GIB);
		why(s->p, "%s: %.1f GiB (weights %.1f, KV %.1f, compute %.1f, overhead %.1f%s)%s%.1f GiB budget",
		    c->devices[i].name, (double)u->total / GIB, (double)u->weights / GIB, (double)u->kv / GIB,
		    (double)u->compute / GIB, (double)u->overhead / GIB, extra,
		    uni ? " of system RAM's " : " of its ", uni ? (double)q->budget[0] / GIB :
		    (double)q->budget[i + 1] / GIB);
	}
	why(s->p, "system RAM: %.1f GiB of %.1f GiB budget", (double)s->p->need[0] / GIB,
	    (double)q->budget[0] / GIB);
}

static int grow_ctx(struct solver *s, struct est_config *c)
{
	uint64_t train = s->m->n_ctx_train ? s->m->n_ctx_train : 4096;
	int64_t lo = c->n_ctx > 0 ? (c->n_ctx + 255) / 256 : 1, hi = (int64_t)(train / 256);
	int64_t v;

	if (hi < lo)
		return 0;
	v = bisect_max(s, c, lo, hi, set_ctx);
	if (v < 0)
		return s->err;
	if (try_cfg(s, c) == 1)
		accept(s, c);
	return 0;
}

/* Steps 1, 3 and 4 at c's context: everything on the GPUs; else the
 * experts of the fewest layers on the CPU; else the most layers on the
 * GPUs. 1 with c set to the split, 0 when none fits, < 0 error. */
static int best_split(struct solver *s, struct est_config *c)
{
	const struct place_request *q = s->q;
	struct est_config t = *c;
	uint32_t L = s->m->n_layer;
	int r;

	s->p->n_why = 0;
	if (!q->ngl_fixed)
		t.n_gpu_layers = -1;
	r = try_cfg(s, &t);
	if (r) {
		if (r > 0) {
			*c = t;
			s->how = c->n_devices ? "every layer on the GPUs" : "the whole model on the CPU";
		}
		return r;
	}
	if (!c->n_devices || q->no_cpu)
		return 0;
	if (is_moe(s->m) && !q->ncmoe_fixed) {
		t.cpu_moe = false;
		r = most_on_gpu(s, &t, 0, L, set_moe_gpu);
		if (r) {
			if (r > 0) {
				*c = t;
				s->how = "MoE experts of the first layers on the CPU, every other weight on the GPUs";
				why(s->p, "--n-cpu-moe %u: experts of %u of %u layers on the CPU; one layer fewer does not fit",
				    t.n_cpu_moe, t.n_cpu_moe, L);
			}
			return r;
		}
	}
	if (q->ngl_fixed)
		return 0;
	/* fewer GPU layers; for MoE both with each GPU layer's experts on
	 * the GPU and with every expert on the CPU (more dense layers fit),
	 * keeping whichever decodes faster */
	{
		struct est_config cand[2];
		double best_t = 0;
		int n_cand = is_moe(s->m) && !q->ncmoe_fixed ? 2 : 1, found = -1;

		for (int k = 0; k < n_cand; k++) {
			bool known;
			double tt;

			cand[k] = t;
			if (n_cand == 2)
				cand[k].n_cpu_moe = k ? L : 0;
			r = most_on_gpu(s, &cand[k], 0, L, set_ngl);
			if (r < 0)
				return r;
			if (!r)
				continue;
			tt = token_time(&s->est, &cand[k], q->bandwidth, &known);
			if (found < 0 || tt < best_t) {
				found = k;
				best_t = tt;
			}
		}
		if (found < 0)
			return 0;
		*c = cand[found];
		r = try_cfg(s, c);
		if (r <= 0)
			return r;
		s->how = "part of the model on the CPU";
		why(s->p, "%d of %u layers on the GPUs (output layer included)%s: one more does not fit",
		    c->n_gpu_layers, L + 1, c->n_cpu_moe ? ", every expert on the CPU" : "");
		return 1;
	}
}

static int solve(const struct model *m, const struct place_request *q, struct place_plan *p,
		 struct diag *d, bool allow_disk)
{
	struct solver s = { NULL, allow_disk, m, q, p, d, { 0 }, { 0 }, 0, m->n_layer };
	struct est_config c = q->base;
	uint32_t kv_list[3], n_kv = 0;
	uint64_t train = m->n_ctx_train ? m->n_ctx_train : 4096;
	int r;

	memset(p, 0, sizeof(*p));
	default_split(q, &c);
	if (!q->ngl_fixed)
		c.n_gpu_layers = -1;
	if (q->kv_auto) {
		kv_list[n_kv++] = GGML_TYPE_F16;
		if (c.flash_attn != EST_FA_OFF) {
			kv_list[n_kv++] = GGML_TYPE_Q8_0;
			kv_list[n_kv++] = GGML_TYPE_Q4_0;
		}
	} else {
		kv_list[n_kv++] = c.type_k;
	}
	/* -c max starts from the smallest useful context and grows at the
	 * end; no -c starts from the training context and may shrink to
	 * 4096 before anything leaves the GPU, as llama.cpp's --fit does */
	if (q->ctx_max)
		c.n_ctx = (int64_t)(train < 4096 ? train : 4096);
	else if (!q->ctx_fixed)
		c.n_ctx = (int64_t)train;
	p->config = c;

	/* 1 and 2: everything on the GPUs, then a smaller KV cache */
	for (uint32_t k = 0; k < n_kv; k++) {
		struct est_config t = c;

		if (q->kv_auto) {
			t.type_k = kv_list[k];
			t.type_v = kv_list[k];
		}
		r = try_cfg(&s, &t);
		if (r < 0)
			return r;
		if (r) {
			accept(&s, &t);
			s.how = k ? "KV cache quantized so that every layer stays on the GPUs" :
				c.n_devices ? "every layer on the GPUs" : "the whole model on the CPU";
			goto done;
		}
	}
	/* no -c: shrink the context toward 4096 before offloading less */
	if (!q->ctx_fixed && !q->ctx_max && train > 4096) {
		struct est_config t = c;

		if (bisect_max(&s, &t, 16, (int64_t)(train / 256), set_ctx) >= 0) {
			accept(&s, &t);
			s.how = "context reduced so that every layer stays on the GPUs";
			goto done;
		}
		if (s.err < 0)
			return s.err;
		c.n_ctx = 4096;
	}
	/* 3 and 4 at the requested context */
	{
		struct est_config t = c;

		r = best_split(&s, &t);
		if (r < 0)
			return r;
		if (r) {
			accept(&s, &t);
			goto done;
		}
	}
	/* 5: a smaller context, when the user did not fix it, each candidate
	 * with the best split of layers and experts it allows */
	if (!q->ctx_fixed) {
		int64_t lo = 1, hi = (c.n_ctx + 255) / 256, best = -1;
		struct est_config best_cfg = c;

		while (lo <= hi) {
			int64_t mid = lo + (hi - lo) / 2;
			struct est_config u = c;

			set_ctx(&s, &u, mid);
			r = best_split(&s, &u);
			if (r < 0)
				return r;
			if (r) {
				best = mid;
				best_cfg = u;
				lo = mid + 1;
			} else {
				hi = mid - 1;
			}
		}
		if (best > 0) {
			r = try_cfg(&s, &best_cfg);
			if (r < 0)
				return r;
			accept(&s, &best_cfg);
			p->n_why = 0;
			why(p, "context reduced to %u to fit", s.est.n_ctx);
			goto done;
		}
	}
	/* nothing fits: say by how much, at the closest configuration */
	{
		struct est_config t = c;

		t.n_gpu_layers = q->no_cpu || q->ngl_fixed ? c.n_gpu_layers : 0;
		r = try_cfg(&s, &t);
		if (r < 0)
			return r;
		p->config = t;
		p->est = s.est;
		memcpy(p->need, s.need, sizeof(s.need));
		why(p, "does not fit: needs %.1f GiB of system RAM (budget %.1f GiB)",
		    (double)s.need[0] / GIB, (double)q->budget[0] / GIB);
		for (size_t i = 0; i < t.n_devices; i++)
			if (t.devices[i].kind != EST_DEV_UNIFIED && s.need[i + 1] > q->budget[i + 1])
				why(p, "%s needs %.1f GiB, budget %.1f GiB", t.devices[i].name,
				    (double)s.need[i + 1] / GIB, (double)q->budget[i + 1] / GIB);
		why(p, "a smaller quantization or context%s would fit%s",
		    q->no_cpu ? ", or allowing CPU offload" : "",
		    q->allow_disk ? "" : "; --allow-disk would read what RAM cannot hold from disk, slowly");
		return 0;
	}
done:
	{
		/* the notes come first, then the per-pool lines */
		char notes[2][PLACE_WHY_LEN];
		size_t n_notes = p->n_why;

		for (size_t i = 0; i < n_notes && i < 2; i++)
			memcpy(notes[i], p->why[i], PLACE_WHY_LEN);
		p->n_why = 0;
		if (q->ctx_max) {
			struct est_config t = p->config;

			r = grow_ctx(&s, &t);
			if (r < 0)
				return r;
		}
		explain(&s, &p->config, s.how ? s.how : "");
		for (size_t i = 0; i < n_notes && i < 2; i++)
			why(p, "%s", notes[i]);
		if (q->ctx_max)
			why(p, "-c max: %u, the largest context that fits (training context %llu)",
			    p->est.n_ctx, (unsigned long long)train);
	}
	speed(&s, &p->config);
	return 0;
}

int place_solve(const struct model *m, const struct place_request *q, struct place_plan *p,
		struct diag *d)
{
	struct place_request q2;
	struct place_plan *p2;
	int r = solve(m, q, p, d, false);

	if (r == 0 && p->fits)
		cap_prompt_cache(q, p);
	/* With mmap, llama.cpp keeps a model's file pages mapped beside the
	 * repacked copies it makes for the CPU, so the weights can take
	 * RAM twice; -lm none (--no-mmap) reads them once. Tried only when nothing
	 * fits otherwise and the user chose no load mode. */
	if (r < 0 || p->fits)
		return r;
	p2 = calloc(1, sizeof(*p2));
	if (!p2)
		return r;
	if (!q->mmap_fixed && !q->base.no_mmap && !q->base.mlock) {
		q2 = *q;
		q2.base.no_mmap = true;
		r = solve(m, &q2, p2, d, false);
		if (r == 0 && p2->fits) {
			*p = *p2;
			why(p, "-lm none (no mmap): the weights are read once instead of staying mapped beside their repacked copies");
			cap_prompt_cache(&q2, p);
			free(p2);
			return 0;
		}
	}
	/* --allow-disk: keep the weights mapped (no repacked copies) and let
	 * what RAM cannot hold be paged in from the file */
	if (r >= 0 && q->allow_disk && !q->base.no_mmap && !q->base.mlock) {
		q2 = *q;
		q2.base.no_repack = true;
		r = solve(m, &q2, p2, d, true);
		if (r == 0 && p2->fits) {
			*p = *p2;
			why(p, "--allow-disk: %.1f GiB of the weights do not fit in RAM and are read from the file for every token (-nr keeps them mapped)",
			    (double)p->from_disk / GIB);
			cap_prompt_cache(&q2, p);
		}
	}
	free(p2);
	return r < 0 ? r : 0;
}
