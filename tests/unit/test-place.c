/* test-place.c: properties of the placement solver over thousands of
 * random models, machines and requests: a plan's estimate fits every pool
 * (host RAM included, unified GPUs counted once, in system RAM); no plan
 * with one more GPU layer, one more layer's experts on the GPU, or (with
 * -c max) one more 256-cell step of context fits; and when nothing is
 * said to fit, the most modest configuration really does not. */
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

#include "estimate/estimate.h"
#include "gguf/ggml-type.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "place/place.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? rng % n : 0;
}

struct built {
	uint8_t *buf;
	struct gguf_file *f;
	struct model m;
};

static void u32(struct gguf_writer *w, const char *arch, const char *k, uint32_t v)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", arch, k);
	assert_int_equal(gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &v), 0);
}

static void tensor(struct gguf_writer *w, const char *name, uint32_t type, int64_t a, int64_t b,
		   int64_t c)
{
	int64_t ne[3] = { a, b, c };

	assert_int_equal(gguf_writer_add_tensor(w, name, type, c > 1 ? 3 : b > 1 ? 2 : 1, ne), 0);
}

/* A random llama- or qwen3moe-shaped model, header only. */
static void build_random(struct built *b)
{
	static const uint32_t types[] = { GGML_TYPE_Q4_K, GGML_TYPE_Q8_0, GGML_TYPE_F16, GGML_TYPE_Q6_K };
	bool moe = rnd(3) == 0;
	const char *arch = moe ? "qwen3moe" : "llama";
	uint32_t L = 1 + (uint32_t)rnd(96), E = 256 * (1 + (uint32_t)rnd(32));
	uint32_t H = 4 << rnd(3), Hkv = H >> rnd(3), hd = E / H, F = E * (2 + (uint32_t)rnd(3));
	uint32_t V = 1000 + (uint32_t)rnd(150000), ctx = 2048u << rnd(6), type = types[rnd(4)];
	uint32_t X = 8 << rnd(4), K = 1 + (uint32_t)rnd(X < 8 ? X : 8), Fx = 256 * (1 + (uint32_t)rnd(4));
	struct gguf_writer *w = gguf_writer_new();
	struct sbuf sb;
	struct diag d;
	char nm[64];

	if (Hkv == 0)
		Hkv = 1;
	assert_int_equal(gguf_writer_add_str(w, "general.architecture", arch, strlen(arch)), 0);
	u32(w, arch, "block_count", L);
	u32(w, arch, "embedding_length", E);
	u32(w, arch, "context_length", ctx);
	u32(w, arch, "attention.head_count", H);
	u32(w, arch, "attention.head_count_kv", Hkv);
	u32(w, arch, "feed_forward_length", F);
	u32(w, arch, "vocab_size", V);
	if (moe) {
		u32(w, arch, "expert_count", X);
		u32(w, arch, "expert_used_count", K);
		u32(w, arch, "expert_feed_forward_length", Fx);
	}
	tensor(w, "token_embd.weight", type, E, V, 1);
	for (uint32_t il = 0; il < L; il++) {
		snprintf(nm, sizeof(nm), "blk.%u.attn_norm.weight", il);
		tensor(w, nm, GGML_TYPE_F32, E, 1, 1);
		snprintf(nm, sizeof(nm), "blk.%u.attn_q.weight", il);
		tensor(w, nm, type, E, E, 1);
		snprintf(nm, sizeof(nm), "blk.%u.attn_k.weight", il);
		tensor(w, nm, type, E, (int64_t)hd * Hkv, 1);
		snprintf(nm, sizeof(nm), "blk.%u.attn_v.weight", il);
		tensor(w, nm, type, E, (int64_t)hd * Hkv, 1);
		if (moe) {
			snprintf(nm, sizeof(nm), "blk.%u.ffn_up_exps.weight", il);
			tensor(w, nm, type, E, Fx, X);
			snprintf(nm, sizeof(nm), "blk.%u.ffn_down_exps.weight", il);
			tensor(w, nm, type, Fx, E, X);
		} else {
			snprintf(nm, sizeof(nm), "blk.%u.ffn_up.weight", il);
			tensor(w, nm, type, E, F, 1);
		}
	}
	if (rnd(2))
		tensor(w, "output.weight", type, E, V, 1);
	sbuf_init(&sb, 1u << 30);
	assert_int_equal(gguf_writer_header(w, &sb, NULL, NULL), 0);
	uint64_t size = gguf_writer_file_size(w);
	size_t len;

	gguf_writer_free(w);
	b->buf = (uint8_t *)sbuf_detach(&sb, &len);
	diag_init(&d);
	assert_int_equal(gguf_parse(b->buf, len, size, &b->f, NULL, &d), 0);
	const struct gguf_file *parts[1] = { b->f };

	if (model_from_gguf(parts, 1, &b->m, &d) < 0)
		fail_msg("random model refused: %s", d.msg);
}

static void release(struct built *b)
{
	model_release(&b->m);
	gguf_file_free(b->f);
	free(b->buf);
}


/* A random machine: 0-3 GPUs, discrete or unified, budgets in GiB. */
static void random_request(const struct model *m, struct place_request *q)
{
	memset(q, 0, sizeof(*q));
	est_config_init(&q->base);
	q->base.cpu_flags = rnd(2) ? EST_CPU_AVX2 : 0;
	q->base.n_devices = rnd(4);
	q->budget[0] = (1 + rnd(64)) << 30;
	for (size_t i = 0; i < q->base.n_devices; i++) {
		struct est_device *dv = &q->base.devices[i];

		snprintf(dv->name, sizeof(dv->name), "CUDA%zu", i);
		dv->kind = rnd(5) == 0 ? EST_DEV_UNIFIED : EST_DEV_DISCRETE;
		dv->total_bytes = (1 + rnd(48)) << 30;
		q->budget[i + 1] = dv->kind == EST_DEV_UNIFIED ? 0 : dv->total_bytes - (dv->total_bytes >> 4);
	}
	switch (rnd(4)) {
	case 0: q->ctx_max = true; break;
	case 1: q->ctx_fixed = true; q->base.n_ctx = 256 * (1 + (int64_t)rnd(128)); break;
	default: break; /* no -c: the training context, shrunk if need be */
	}
	q->kv_auto = rnd(2);
	q->no_cpu = rnd(6) == 0;
	q->base.n_parallel = rnd(2) ? -1 : 1 + (int32_t)rnd(4);
	(void)m;
}

static bool fits(const struct model *m, const struct place_request *q, const struct est_config *c)
{
	struct est_result r;
	uint64_t need[EST_MAX_DEVICES + 1];
	struct diag d;

	return place_check(m, c, q->budget, &r, need, &d) == 1;
}

static int n_solves, n_fit, n_gpu_partial, n_moe_cpu, n_ctx_max;

static void check_plan(const struct model *m, const struct place_request *q, const struct place_plan *p)
{
	const struct est_config *c = &p->config;
	struct est_result r;
	uint64_t need[EST_MAX_DEVICES + 1];
	struct diag d;

	n_solves++;
	if (!p->fits)
		return;
	n_fit++;
	/* the plan fits, recomputed from scratch */
	assert_int_equal(place_check(m, c, q->budget, &r, need, &d), 1);
	/* unified GPUs are counted once: in system RAM, not in a pool of
	 * their own */
	uint64_t host = r.usage[0].total;

	for (size_t i = 0; i < c->n_devices; i++) {
		if (c->devices[i].kind == EST_DEV_UNIFIED) {
			host += r.usage[i + 1].total;
			assert_int_equal(need[i + 1], 0);
		} else {
			assert_true(need[i + 1] <= q->budget[i + 1]);
		}
	}
	assert_int_equal(need[0], host);
	assert_true(host <= q->budget[0]);
	if (q->no_cpu && c->n_devices) {
		assert_true(c->n_gpu_layers < 0);
		assert_int_equal(c->n_cpu_moe, 0);
	}
	/* one more GPU layer does not fit */
	if (c->n_devices && c->n_gpu_layers >= 0 && (uint32_t)c->n_gpu_layers <= m->n_layer) {
		struct est_config t = *c;

		n_gpu_partial++;
		t.n_gpu_layers++;
		assert_false(fits(m, q, &t));
		/* over several GPUs the split is layer counts: the extra layer
		 * fits on none of them */
		bool discrete = c->split_mode == EST_SPLIT_LAYER;

		for (size_t i = 0; i < c->n_devices; i++)
			if (c->devices[i].kind == EST_DEV_UNIFIED)
				discrete = false;
		if (c->n_devices > 1 && !q->ts_fixed && discrete) {
			double sum = 0;

			for (size_t i = 0; i < c->n_ts; i++)
				sum += c->ts[i];
			assert_true(sum == (double)c->n_gpu_layers);
			for (size_t i = 0; i < c->n_devices; i++) {
				struct est_config u = t;

				u.ts[i] += 1;
				assert_false(fits(m, q, &u));
			}
		}
	}
	/* one more layer's experts on the GPU does not fit */
	if (c->n_devices && c->n_cpu_moe > 0 && (c->n_gpu_layers < 0 || (uint32_t)c->n_gpu_layers > m->n_layer)) {
		struct est_config t = *c;

		n_moe_cpu++;
		t.n_cpu_moe--;
		assert_false(fits(m, q, &t));
	}
	/* -c max: one more step does not fit, unless at the training context */
	if (q->ctx_max && (uint64_t)c->n_ctx + 256 <= (m->n_ctx_train ? m->n_ctx_train : 4096)) {
		struct est_config t = *c;

		n_ctx_max++;
		t.n_ctx = c->n_ctx + 256;
		assert_false(fits(m, q, &t));
	}
}

static void test_random_plans(void **state)
{
	(void)state;
	for (int i = 0; i < 300; i++) {
		struct built b;

		memset(&b, 0, sizeof(b));
		build_random(&b);
		for (int k = 0; k < 12; k++) {
			struct place_request q;
			struct place_plan p;
			struct diag d;

			random_request(&b.m, &q);
			diag_init(&d);
			assert_int_equal(place_solve(&b.m, &q, &p, &d), 0);
			check_plan(&b.m, &q, &p);
			if (!p.fits) {
				/* nothing fits: no split of the layers (and of
				 * the experts) at the smallest context the request
				 * allows fits either */
				struct est_config t = q.base;

				t.n_ctx = q.ctx_fixed ? q.base.n_ctx : 256;
				/* the split the solver is asked to use: in
				 * proportion to the budgets */
				if (t.n_devices > 1) {
					t.n_ts = t.n_devices;
					for (size_t g = 0; g < t.n_devices; g++)
						t.ts[g] = (double)(t.devices[g].kind == EST_DEV_UNIFIED ?
								   q.budget[0] : q.budget[g + 1]) / 1073741824.0;
				}
				for (uint32_t ngl = 0; ngl <= b.m.n_layer + 1; ngl++) {
					t.n_gpu_layers = q.no_cpu ? -1 : (int32_t)ngl;
					t.n_cpu_moe = 0;
					if (fits(&b.m, &q, &t)) {
						for (int g = 55; g <= (int)b.m.n_layer + 1; g++) {
							struct est_config u = t;
							struct est_result rr;
							uint64_t nd[EST_MAX_DEVICES + 1];
							struct diag dd;
							int f;

							u.n_gpu_layers = g;
							f = place_check(&b.m, &u, q.budget, &rr, nd, &dd);
							print_message("ngl %d fits %d host %.2f/%.2f g0 %.2f/%.2f g1 %.2f/%.2f g2 %.2f/%.2f kinds %d%d%d type_k %u\n", g, f,
								      nd[0] / 1073741824.0, q.budget[0] / 1073741824.0,
								      nd[1] / 1073741824.0, q.budget[1] / 1073741824.0,
								      nd[2] / 1073741824.0, q.budget[2] / 1073741824.0,
								      nd[3] / 1073741824.0, q.budget[3] / 1073741824.0,
								      q.base.devices[0].kind, q.base.devices[1].kind, q.base.devices[2].kind, u.type_k);
						}
						fail_msg("said not to fit [plan ngl %d ctx %lld ncmoe %u moe %u] but -ngl %d -c %lld fits (L %u, %zu GPUs, no_cpu %d, ngl_fixed %d, ctx_fixed %d, max %d, kv_auto %d, why: %s)",
							 p.config.n_gpu_layers, (long long)p.config.n_ctx, p.config.n_cpu_moe, b.m.n_expert, t.n_gpu_layers, (long long)t.n_ctx, b.m.n_layer, q.base.n_devices,
							 q.no_cpu, q.ngl_fixed, q.ctx_fixed, q.ctx_max, q.kv_auto, p.n_why ? p.why[0] : "");
					}
					t.n_cpu_moe = q.no_cpu ? 0 : b.m.n_layer;
					assert_false(fits(&b.m, &q, &t));
				}
			}
		}
		release(&b);
	}
	print_message("%d solves, %d fit; checked %d partial offloads, %d expert offloads, %d -c max\n",
		      n_solves, n_fit, n_gpu_partial, n_moe_cpu, n_ctx_max);
	/* the random cases must reach every branch they check */
	assert_true(n_fit > 100 && n_gpu_partial > 20 && n_moe_cpu > 5 && n_ctx_max > 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_plans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
