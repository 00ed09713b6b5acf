/* estimate.c: bytes per device for a model and a llama-server
 * configuration. Every rule cites where llama.cpp decides it (file:line in
 * the tree that memory-model.md studies). */
#include "base/compat.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "base/checked.h"
#include "estimate/estimate.h"
#include "gguf/ggml-type.h"

#define PAD(x, a) (((x) + (a) - 1) / (a) * (a))
#define HOST 0

void est_config_init(struct est_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n_ctx = 0;
	c->n_gpu_layers = -1;
	c->n_parallel = -1;
	c->kv_unified = -1;
	c->n_batch = 2048;
	c->n_ubatch = 512;
	c->type_k = GGML_TYPE_F16;
	c->type_v = GGML_TYPE_F16;
	c->flash_attn = EST_FA_AUTO;
	c->split_mode = EST_SPLIT_LAYER;
}

/* common/arg.cpp kv_cache_types */
static const uint32_t kv_types[] = {
	GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
	GGML_TYPE_Q4_1, GGML_TYPE_IQ4_NL, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
};

int est_kv_type_parse(const char *name, uint32_t *ret)
{
	int id = ggml_type_find(name);

	for (size_t i = 0; id >= 0 && i < ARRAY_SIZE(kv_types); i++) {
		if ((uint32_t)id == kv_types[i]) {
			*ret = (uint32_t)id;
			return 0;
		}
	}
	return -EINVAL;
}

static bool is_kv_type(uint32_t t)
{
	for (size_t i = 0; i < ARRAY_SIZE(kv_types); i++)
		if (kv_types[i] == t)
			return true;
	return false;
}

static uint64_t row_bytes(uint32_t type, uint64_t n)
{
	uint64_t r = 0;

	if (ggml_type_row_size(type, (int64_t)n, &r) < 0)
		return UINT64_MAX;
	return r;
}

/* ggml-cpu/repack.cpp ggml_repack_get_optimal_repack_type(): which weights
 * get interleaved copies on this CPU. */
static bool repackable(const struct model_tensor *t, unsigned cpu)
{
	int64_t ne1 = t->ne[1];

	if (t->op == MODEL_OP_MUL_MAT ? t->n_dims != 2 && !(t->n_dims > 2 && t->ne[2] == 1 && t->ne[3] == 1)
				       : t->op != MODEL_OP_MUL_MAT_ID)
		return false;
	switch (t->type) {
	case GGML_TYPE_Q4_0:
		return ((cpu & EST_CPU_AVX2) && ne1 % 8 == 0) ||
		       ((cpu & (EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD)) && ne1 % 4 == 0);
	case GGML_TYPE_Q4_K:
		return (cpu & (EST_CPU_AVX2 | EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD)) && ne1 % 8 == 0;
	case GGML_TYPE_Q2_K:
		return (cpu & EST_CPU_AVX512) && ne1 % 8 == 0;
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
		return (cpu & (EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD)) && ne1 % 8 == 0;
	case GGML_TYPE_IQ4_NL:
	case GGML_TYPE_MXFP4:
		return ((cpu & EST_CPU_AVX2) && ne1 % 8 == 0) ||
		       ((cpu & EST_CPU_NEON_DOTPROD) && ne1 % 4 == 0);
	case GGML_TYPE_Q8_0:
	case GGML_TYPE_Q1_0:
		return (cpu & (EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD)) && ne1 % 4 == 0;
	default:
		return false;
	}
}

/* ggml-cuda.cu get_alloc_size + buffer alignment: 128-byte aligned, and
 * quantized rows not a multiple of 512 get one padding row segment. */
static uint64_t gpu_alloc(uint32_t type, int64_t ne0, uint64_t nbytes)
{
	const struct ggml_type_info *ti = ggml_type_get(type);

	if (ti && ti->blck_size > 1 && ne0 % 512 != 0)
		nbytes += row_bytes(type, (uint64_t)(512 - ne0 % 512));
	return PAD(nbytes, 128);
}

struct ctx {
	const struct model *m;
	const struct est_config *c;
	struct est_result *r;
	struct diag *d;
	int layer_dev[MODEL_MAX_LAYERS + 1]; /* 0 = host, 1.. = GPU index + 1 */
};

/* src/llama-model.cpp:1438-1500: which device each layer is on. Layers
 * fill from the end; the output layer is layer n_layer. */
static void assign_layers(struct ctx *x)
{
	const struct est_config *c = x->c;
	uint32_t L = x->m->n_layer, ngl, start, act;
	double frac[EST_MAX_DEVICES], sum = 0, acc = 0;
	size_t nd = c->n_devices;

	if (c->split_mode == EST_SPLIT_NONE && nd > 1)
		nd = 1;
	ngl = c->n_gpu_layers < 0 ? L + 1 : (uint32_t)c->n_gpu_layers;
	if (ngl > L + 1)
		ngl = L + 1;
	start = L + 1 - ngl;
	act = nd == 0 ? 0 : ngl;
	x->r->n_gpu_layers = act;
	for (size_t i = 0; i < nd; i++) {
		double w = c->n_ts ? (i < c->n_ts ? c->ts[i] : 0) : (double)c->devices[i].total_bytes;

		frac[i] = w;
		sum += w;
	}
	for (size_t i = 0; i < nd; i++) {
		acc += sum > 0 ? frac[i] / sum : 1.0 / (double)nd;
		frac[i] = acc;
	}
	for (uint32_t il = 0; il <= L; il++) {
		int dev = HOST;

		if (il >= start && il - start < act) {
			double pos = (double)(il - start) / (double)act;
			size_t g = 0;

			while (g + 1 < nd && frac[g] <= pos)
				g++;
			dev = (int)(c->split_mode == EST_SPLIT_NONE && c->n_devices > 1 ?
				    (size_t)(c->main_gpu >= 0 ? c->main_gpu : 0) : g) + 1;
		}
		x->layer_dev[il] = dev;
	}
}

static int tensor_device(struct ctx *x, const struct model_tensor *t, const regex_t *ot)
{
	const struct est_config *c = x->c;
	uint32_t L = x->m->n_layer;
	int dev;

	for (size_t i = 0; i < c->n_ot; i++)
		if (regexec(&ot[i], t->name, 0, NULL, 0) == 0)
			return c->ot[i].device < 0 ? HOST : c->ot[i].device + 1;
	if (t->expert && t->layer >= 0 && (c->cpu_moe || (uint32_t)t->layer < c->n_cpu_moe))
		return HOST;
	if (t->layer == MODEL_LAYER_INPUT)
		return HOST;
	dev = x->layer_dev[t->layer == MODEL_LAYER_OUTPUT ? L : (uint32_t)t->layer];
	return dev;
}

/* ---- weights (memory-model.md 2.3-2.5) ---- */

static int weights(struct ctx *x)
{
	const struct model *m = x->m;
	const struct est_config *c = x->c;
	struct est_result *r = x->r;
	bool mmap = !c->no_mmap && !c->mlock;
	bool gpu_build = c->n_devices > 0;
	uint64_t span_lo[64], span_hi[64], host_anon = 0, repack = 0;
	regex_t ot[EST_MAX_OVERRIDES];
	size_t n_ot = 0;
	int e = 0;

	for (size_t p = 0; p < 64; p++) {
		span_lo[p] = UINT64_MAX;
		span_hi[p] = 0;
	}
	for (; n_ot < c->n_ot; n_ot++) {
		if (regcomp(&ot[n_ot], c->ot[n_ot].pattern, REG_EXTENDED | REG_NOSUB) != 0) {
			e = diag_set(x->d, -EINVAL, DIAG_NO_OFFSET, "invalid -ot pattern '%s'",
				     c->ot[n_ot].pattern);
			goto out;
		}
	}
	const struct model_tensor *embd = NULL;

	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct model_tensor *t = &m->tensors[i];
		int dev;

		if (t->skip)
			continue;
		if (!strcmp(t->name, "token_embd.weight"))
			embd = t;
		dev = tensor_device(x, t, ot);
		/* decode reads every weight once per token, except the
		 * experts the router did not pick, and one row of the
		 * embedding table */
		if (t->op != MODEL_OP_GET_ROWS)
			r->usage[dev].weights_read += t->expert && m->n_expert ?
				t->nbytes / m->n_expert * m->n_expert_used : t->nbytes;
		if (dev != HOST) {
			struct est_usage *u = &r->usage[dev];

			u->weights += gpu_alloc(t->type, t->ne[0], t->nbytes);
			continue;
		}
		/* host: CPU_REPACK when the CPU list reaches it (a CPU-only
		 * build, or no mmap), else the mapped file, else a copy */
		if (!c->no_repack && !gpu_build && repackable(t, c->cpu_flags)) {
			repack += PAD(t->nbytes, 32);
			continue;
		}
		if (mmap && t->part < 64) {
			if (t->file_off < span_lo[t->part])
				span_lo[t->part] = t->file_off;
			if (t->file_off + t->nbytes > span_hi[t->part])
				span_hi[t->part] = t->file_off + t->nbytes;
			continue;
		}
		host_anon += PAD(t->nbytes, 32);
	}
	/* a tied output on a GPU gets its own copy of token_embd
	 * (llama-model-loader.cpp:1362-1381) */
	if (m->tied_output && embd && x->layer_dev[m->n_layer] != HOST)
		r->usage[x->layer_dev[m->n_layer]].weights += gpu_alloc(embd->type, embd->ne[0], embd->nbytes);
	/* a tied output multiplies by the whole embedding table */
	if (m->tied_output && embd)
		r->usage[x->layer_dev[m->n_layer]].weights_read += embd->nbytes;

	struct est_usage *h = &r->usage[HOST];

	for (size_t p = 0; p < 64; p++)
		if (span_hi[p] > span_lo[p])
			h->weights_mapped += span_hi[p] - span_lo[p];
	h->weights_repack = repack;
	h->weights = h->weights_mapped + repack + host_anon;
	snprintf(r->rule_weights, sizeof(r->rule_weights),
		 "%s; CPU_REPACK %llu B (AVX2/NEON interleaved copies); GPU tensors 128-B aligned",
		 mmap ? "host weights mapped from the file (CPU_Mapped = span of the file's CPU tensors)"
		      : "host weights read into memory",
		 (unsigned long long)repack);
out:
	for (size_t i = 0; i < n_ot; i++)
		regfree(&ot[i]);
	return e;
}

/* ---- context sizes (memory-model.md 3.1) ---- */

static int context_sizes(struct ctx *x)
{
	const struct model *m = x->m;
	const struct est_config *c = x->c;
	struct est_result *r = x->r;
	uint64_t n_ctx = c->n_ctx > 0 ? (uint64_t)c->n_ctx : m->n_ctx_train;
	uint32_t n_seq;

	if (n_ctx == 0)
		n_ctx = 4096;
	if (n_ctx > UINT32_MAX - 256)
		return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET, "context size %llu is too large",
				(unsigned long long)n_ctx);
	if (c->n_parallel < 0) {
		n_seq = 4; /* tools/server/server.cpp:152-157 */
		r->kv_unified = c->kv_unified != 0;
	} else {
		n_seq = c->n_parallel ? (uint32_t)c->n_parallel : 1;
		r->kv_unified = c->kv_unified > 0;
	}
	if (n_seq > 256)
		return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET, "-np %u is over llama.cpp's 256", n_seq);
	r->n_seq = n_seq;
	r->n_batch = (uint32_t)(n_ctx < c->n_batch ? n_ctx : c->n_batch);
	r->n_ubatch = c->n_ubatch && c->n_ubatch < r->n_batch ? c->n_ubatch : r->n_batch;
	r->n_outputs_max = n_seq < r->n_batch ? n_seq : r->n_batch;
	n_ctx = PAD(n_ctx, 256);
	if (r->kv_unified) {
		r->n_ctx_seq = (uint32_t)n_ctx;
	} else {
		r->n_ctx_seq = (uint32_t)PAD(n_ctx / n_seq, 256);
		n_ctx = (uint64_t)r->n_ctx_seq * n_seq;
	}
	r->n_ctx = (uint32_t)n_ctx;
	r->n_stream = r->kv_unified ? 1 : n_seq;
	r->kv_size = r->n_ctx_seq;
	if (m->n_swa) {
		uint64_t s = (uint64_t)m->n_swa * (r->kv_unified ? n_seq : 1) + r->n_ubatch;

		r->kv_size_swa = c->swa_full ? r->n_ctx_seq :
				 (uint32_t)PAD(s < r->n_ctx_seq ? s : r->n_ctx_seq, 256);
	}
	/* flash attention auto counts as on when the cache is made
	 * (llama-context.cpp:229-230) */
	r->fa_kv = c->flash_attn != EST_FA_OFF;
	{
		uint32_t T = r->n_ctx < r->n_ubatch ? r->n_ctx : r->n_ubatch;

		r->n_reserve_tokens = (uint32_t)PAD(T, n_seq);
	}
	return 0;
}

/* ---- KV cache and recurrent state (3.2-3.5) ---- */

static int caches(struct ctx *x)
{
	const struct model *m = x->m;
	const struct est_config *c = x->c;
	struct est_result *r = x->r;
	uint64_t v_max = 0;

	if (m->no_memory)
		return 0;
	for (uint32_t il = 0; il < m->n_layer; il++) {
		const struct model_layer *ly = &m->layers[il];
		uint64_t v = (uint64_t)ly->head_v * ly->n_head_kv;

		if (ly->has_kv && v > v_max)
			v_max = v;
	}
	for (uint32_t il = 0; il < m->n_layer; il++) {
		const struct model_layer *ly = &m->layers[il];
		int dev = c->no_kv_offload ? HOST : x->layer_dev[il];
		struct est_usage *u = &r->usage[dev];

		if (ly->has_kv && ly->n_head_kv) {
			uint64_t cells = (uint64_t)(ly->swa ? r->kv_size_swa : r->kv_size) * r->n_stream;
			uint64_t nk = (uint64_t)ly->head_k * ly->n_head_kv;
			uint64_t nv = r->fa_kv ? (uint64_t)ly->head_v * ly->n_head_kv : v_max;
			uint64_t kb = row_bytes(c->type_k, nk), vb = m->mla ? 0 : row_bytes(c->type_v, nv);
			uint64_t k, v;

			if (kb == UINT64_MAX || vb == UINT64_MAX)
				return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
						"layer %u: K/V head size %llu/%llu is not a multiple of the cache type's block size",
						il, (unsigned long long)nk, (unsigned long long)nv);
			if (!ck_mul_u64(kb, cells, &k) || !ck_mul_u64(vb, cells, &v))
				return diag_set(x->d, -EOVERFLOW, DIAG_NO_OFFSET, "KV cache size overflows");
			if (dev == HOST) {
				k = PAD(k, 32);
				v = PAD(v, 32);
			} else {
				k = gpu_alloc(c->type_k, (int64_t)nk, k);
				v = v ? gpu_alloc(c->type_v, (int64_t)nv, v) : 0;
			}
			u->kv += k + v;
			r->n_kv_layers++;
			if (ly->swa)
				r->n_swa_layers++;
		}
		if (ly->recurrent) {
			/* R and S are F32 [n_embd_r|s, max(1, n_seq)]
			 * (llama-memory-recurrent.cpp:20-135) */
			uint64_t rows = r->n_seq ? r->n_seq : 1;

			u->recurrent += PAD(4 * ly->n_embd_r * rows, 32) + PAD(4 * ly->n_embd_s * rows, 32);
			r->n_recurrent_layers++;
		}
	}
	snprintf(r->rule_kv, sizeof(r->rule_kv),
		 "%u layers x %u cells x %u stream(s)%s, K %s, V %s%s",
		 r->n_kv_layers, r->kv_size, r->n_stream,
		 r->n_swa_layers ? " (sliding-window layers: fewer cells)" : "",
		 ggml_type_get(c->type_k)->name, m->mla ? "none (MLA)" : ggml_type_get(c->type_v)->name,
		 r->fa_kv ? "" : ", V transposed (no flash attention)");
	snprintf(r->rule_recurrent, sizeof(r->rule_recurrent),
		 "%u recurrent layers x %u sequence(s), F32 conv + state rows", r->n_recurrent_layers,
		 r->n_seq);
	return 0;
}

/* ---- compute and output buffers (4.1-4.4) ---- */

/* Bytes per reserved token of the largest phase of one layer's graph
 * (memory-model.md 4.2: closed forms of the allocator's high-water mark,
 * checked against llama-server's logged compute buffers). mask is the
 * KQ-mask bytes per token of every cache the graph reads. */
static uint64_t layer_peak(const struct ctx *x, const struct model_layer *ly, uint64_t n_kv,
			   uint64_t mask, uint64_t v_max)
{
	const struct model *m = x->m;
	const struct est_result *r = x->r;
	uint64_t E = m->n_embd, att = 0, ffn, inp, nkv_embd;

	inp = 20 + 8 * (r->fa_kv ? 1 : v_max);
	nkv_embd = (uint64_t)ly->head_k * ly->n_head_kv;
	if (ly->has_kv && ly->n_head_kv) {
		if (r->fa_kv)
			att = 16 * E + 4 * (E > 2 * nkv_embd ? E : 2 * nkv_embd) + mask + inp;
		else
			att = 4 * (uint64_t)ly->n_head * n_kv + mask + inp + 20 * E;
		if (m->mla && m->kv_lora_rank) {
			/* latent attention: the absorbed query, the query
			 * with its rope part, and the latent output, F32 per
			 * head (deepseek2 graph) */
			uint64_t mla = 4 * (uint64_t)ly->n_head * (3ull * m->kv_lora_rank + m->n_rot) +
				       144 + mask + inp;

			if (mla > att)
				att = mla;
		}
	}
	if (ly->moe) {
		/* up, gate and their product per routed expert, the experts'
		 * outputs before they are weighed and summed, plus the shared
		 * experts' FFN */
		uint64_t k = m->n_expert_used;

		ffn = 12 * m->n_ff_exp * k + 4 * E * k + 4 * E + mask + inp;
		if (m->n_ff_shexp)
			ffn += 12 * m->n_ff_shexp;
	} else {
		ffn = 12 * (uint64_t)ly->n_ff + 16 * E + mask + inp;
	}
	return att > ffn ? att : ffn;
}

static void compute_buffers(struct ctx *x)
{
	const struct model *m = x->m;
	struct est_result *r = x->r;
	uint64_t T = r->n_reserve_tokens, n_out = r->n_outputs_max < T ? r->n_outputs_max : T;
	uint64_t peak[EST_MAX_DEVICES + 1] = { 0 }, out_b, E = m->n_embd;

	uint64_t v_max = 0, mask;

	if (m->no_memory)
		n_out = T;
	for (uint32_t il = 0; il < m->n_layer; il++) {
		uint64_t v = (uint64_t)m->layers[il].head_v * m->layers[il].n_head_kv;

		if (m->layers[il].has_kv && v > v_max)
			v_max = v;
	}
	/* every cache's mask is a graph input: F16 with flash attention */
	mask = ((uint64_t)r->kv_size + (r->n_swa_layers ? r->kv_size_swa : 0)) * (r->fa_kv ? 2 : 4);
	for (uint32_t il = 0; il < m->n_layer - m->n_layer_nextn; il++) {
		const struct model_layer *ly = &m->layers[il];
		uint64_t n_kv = ly->swa ? r->kv_size_swa : r->kv_size;
		int dev = x->c->no_kv_offload ? HOST : x->layer_dev[il];
		uint64_t b = layer_peak(x, ly, n_kv, mask, v_max);

		if (b > peak[dev])
			peak[dev] = b;
		if (dev != HOST) {
			/* the host keeps the graph inputs (4.3) */
			uint64_t hin = 4 * E + n_kv * (r->fa_kv ? 2 : 4) + 28;

			if (hin > peak[HOST])
				peak[HOST] = hin;
		}
	}
	/* logits: F32 [n_vocab, n_out], on the output layer's device */
	out_b = (4 * m->n_vocab * n_out + (n_out < T ? 6 : 8) * E * T + 4 * T) / T;
	{
		int od = x->layer_dev[m->n_layer];

		if (out_b > peak[od])
			peak[od] = out_b;
	}
	for (size_t d = 0; d < r->n_usage; d++)
		r->usage[d].compute = PAD(T * peak[d], 32);
	snprintf(r->rule_compute, sizeof(r->rule_compute),
		 "%llu reserved tokens x the largest of attention (%s), FFN and logits per token",
		 (unsigned long long)T, r->fa_kv ? "flash" : "KQ matrix");

	/* the output buffer: logits for n_seq outputs (llama-context.cpp
	 * output_reserve), in host memory */
	r->usage[HOST].output = 4 * m->n_vocab * (r->n_seq ? r->n_seq : 1);
	snprintf(r->rule_output, sizeof(r->rule_output), "4 B x %llu vocabulary x %u sequence(s)",
		 (unsigned long long)m->n_vocab, r->n_seq);
}

/* ggml tensor metadata and graph bookkeeping on the host (6.2) */
static void overheads(struct ctx *x)
{
	const struct model *m = x->m;
	struct est_result *r = x->r;
	uint64_t n = m->n_tensors, nodes = 8 * n > 1024 ? 8 * n : 1024;
	uint64_t b = 368 * (n + 1 + 2ull * m->n_layer) + 368 * n + 368 * 2 * (1 + r->n_stream) * m->n_layer +
		     2 * nodes * 400;

	r->usage[HOST].overhead = b;
	/* What llama.cpp's own accounting leaves out on a GPU: the CUDA
	 * context, the cuBLAS workspace and the memory pool. Measured with
	 * nvidia-smi beside llama-server on an H200 (CUDA 13, driver 580):
	 * 588 MiB once the GPU holds weights, 519 MiB when it only runs
	 * offloaded operations (bench/RESULTS.md). Other GPUs and drivers
	 * differ by some tens of MiB. */
	for (size_t i = 1; i < r->n_usage; i++) {
		struct est_usage *u = &r->usage[i];

		u->overhead = (u->weights || u->kv ? 588ull : 519ull) << 20;
	}
	snprintf(r->rule_overhead, sizeof(r->rule_overhead),
		 "ggml tensor metadata (368 B each) and graph bookkeeping for %llu nodes%s",
		 (unsigned long long)nodes,
		 r->n_usage > 1 ? "; per GPU the CUDA context, cuBLAS workspace and pool (588 MiB measured)" : "");
}

int est_estimate(const struct model *m, const struct est_config *c, struct est_result *r,
		 struct diag *d)
{
	struct ctx x;
	int e;

	memset(r, 0, sizeof(*r));
	memset(&x, 0, sizeof(x));
	x.m = m;
	x.c = c;
	x.r = r;
	x.d = d;
	if (c->n_devices > EST_MAX_DEVICES)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "too many devices");
	if (!is_kv_type(c->type_k) || !is_kv_type(c->type_v))
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"unsupported cache type: allowed are f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1");
	/* llama-context.cpp:3698-3707 */
	if (c->flash_attn == EST_FA_OFF && ggml_type_get(c->type_v)->blck_size > 1)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"V cache quantization requires flash_attn (use -fa on or -fa auto)");
	if (m->mla && c->type_k != c->type_v)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"MLA models need the same type for K and V (-ctk %s -ctv %s)",
				ggml_type_get(c->type_k)->name, ggml_type_get(c->type_v)->name);
	if (c->n_ubatch == 0 || c->n_batch == 0)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "-b and -ub must be at least 1");
	if (c->main_gpu >= (int32_t)c->n_devices && c->n_devices)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "-mg %d: there are %zu GPUs", c->main_gpu,
				c->n_devices);

	r->n_usage = 1 + c->n_devices;
	snprintf(r->usage[HOST].name, sizeof(r->usage[HOST].name), "CPU");
	r->usage[HOST].kind = EST_DEV_HOST;
	for (size_t i = 0; i < c->n_devices; i++) {
		memcpy(r->usage[i + 1].name, c->devices[i].name, sizeof(r->usage[i + 1].name));
		r->usage[i + 1].kind = c->devices[i].kind;
	}
	assign_layers(&x);
	if ((e = context_sizes(&x)) < 0 || (e = weights(&x)) < 0 || (e = caches(&x)) < 0)
		return e;
	compute_buffers(&x);
	overheads(&x);
	/* resident memory, measured on llama-server (CPU build): its binary
	 * and libraries keep about 11.5 MiB of file pages beside the mapped
	 * weights; its own heap is about 400 B per vocabulary token (token
	 * texts, maps, merges) over a few MiB; buffers are resident once
	 * written (the compute buffer only after the first batch) */
	{
		const struct est_usage *h = &r->usage[HOST];

		r->rss.file = h->weights_mapped + (23ull << 19);
		r->rss.anon_loaded = (h->weights - h->weights_mapped) + h->kv + h->recurrent + h->output +
				     h->overhead + 400 * m->n_vocab + (4ull << 20);
		r->rss.anon_running = r->rss.anon_loaded + h->compute;
	}
	for (size_t i = 0; i < r->n_usage; i++) {
		struct est_usage *u = &r->usage[i];
		uint64_t t = 0;

		if (!ck_add_u64(t, u->weights, &t) || !ck_add_u64(t, u->kv, &t) ||
		    !ck_add_u64(t, u->recurrent, &t) || !ck_add_u64(t, u->compute, &t) ||
		    !ck_add_u64(t, u->output, &t) || !ck_add_u64(t, u->overhead, &t))
			return diag_set(d, -EOVERFLOW, DIAG_NO_OFFSET, "memory total overflows");
		u->total = t;
	}
	return 0;
}
