/* test-estimate.c: the memory model against the byte counts memory-model.md
 * verified on llama.cpp dry runs, and hostile hyperparameters, which must
 * give a clear error rather than a division by zero or a wrapped sum. */
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
#include "model/catalog.h"

struct shape {
	const char *arch;
	uint32_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
	uint32_t n_expert, n_expert_used, n_ff_exp;
	/* recurrent */
	uint32_t d_conv, d_inner, d_state, n_group;
};

struct built {
	uint8_t *buf;
	size_t len;
	struct gguf_file *f;
	struct model m;
};

static void put_u32(struct gguf_writer *w, const char *arch, const char *suffix, uint32_t v)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	assert_int_equal(gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &v), 0);
}

static void tensor(struct gguf_writer *w, const char *name, uint32_t type, int64_t a, int64_t b,
		   int64_t c)
{
	int64_t ne[3] = { a, b, c };
	uint32_t nd = c > 1 ? 3 : b > 1 ? 2 : 1;

	assert_int_equal(gguf_writer_add_tensor(w, name, type, nd, ne), 0);
}

/* A model of shape s in memory (data zero), parsed and described. */
static int build(const struct shape *s, struct built *b, struct diag *d,
		 void (*tweak)(struct gguf_writer *, const struct shape *))
{
	struct gguf_writer *w = gguf_writer_new();
	struct sbuf sb;
	uint64_t size;
	char nm[64];
	int e;

	assert_non_null(w);
	assert_int_equal(gguf_writer_add_str(w, "general.architecture", s->arch, strlen(s->arch)), 0);
	put_u32(w, s->arch, "block_count", s->n_layer);
	put_u32(w, s->arch, "embedding_length", s->n_embd);
	put_u32(w, s->arch, "context_length", s->n_ctx);
	if (s->n_head) {
		put_u32(w, s->arch, "attention.head_count", s->n_head);
		put_u32(w, s->arch, "attention.head_count_kv", s->n_head_kv);
	}
	put_u32(w, s->arch, "feed_forward_length", s->n_ff);
	put_u32(w, s->arch, "vocab_size", s->n_vocab);
	if (s->n_expert) {
		put_u32(w, s->arch, "expert_count", s->n_expert);
		put_u32(w, s->arch, "expert_used_count", s->n_expert_used);
		put_u32(w, s->arch, "expert_feed_forward_length", s->n_ff_exp);
	}
	if (s->d_inner) {
		put_u32(w, s->arch, "ssm.conv_kernel", s->d_conv);
		put_u32(w, s->arch, "ssm.inner_size", s->d_inner);
		put_u32(w, s->arch, "ssm.state_size", s->d_state);
		put_u32(w, s->arch, "ssm.group_count", s->n_group);
	}
	if (tweak)
		tweak(w, s);
	tensor(w, "token_embd.weight", GGML_TYPE_F16, s->n_embd, s->n_vocab, 1);
	for (uint32_t il = 0; il < s->n_layer; il++) {
		snprintf(nm, sizeof(nm), "blk.%u.attn_norm.weight", il);
		tensor(w, nm, GGML_TYPE_F32, s->n_embd, 1, 1);
		if (s->n_head) {
			uint32_t hd = s->n_embd / s->n_head;

			snprintf(nm, sizeof(nm), "blk.%u.attn_q.weight", il);
			tensor(w, nm, GGML_TYPE_F16, s->n_embd, s->n_embd, 1);
			snprintf(nm, sizeof(nm), "blk.%u.attn_k.weight", il);
			tensor(w, nm, GGML_TYPE_F16, s->n_embd, (int64_t)hd * s->n_head_kv, 1);
		}
		snprintf(nm, sizeof(nm), "blk.%u.ffn_up.weight", il);
		tensor(w, nm, GGML_TYPE_F16, s->n_embd, s->n_ff ? s->n_ff : 1, 1);
	}
	tensor(w, "output.weight", GGML_TYPE_F16, s->n_embd, s->n_vocab, 1);

	sbuf_init(&sb, 1u << 30);
	assert_int_equal(gguf_writer_header(w, &sb, NULL, NULL), 0);
	size = gguf_writer_file_size(w);
	gguf_writer_free(w);
	/* the data region stays unread: only the header is in memory */
	b->len = sb.len;
	b->buf = (uint8_t *)sbuf_detach(&sb, NULL);
	diag_init(d);
	assert_int_equal(gguf_parse(b->buf, b->len, size, &b->f, NULL, d), 0);
	const struct gguf_file *parts[1] = { b->f };

	e = model_from_gguf(parts, 1, &b->m, d);
	return e;
}

static void release(struct built *b)
{
	model_release(&b->m);
	gguf_file_free(b->f);
	free(b->buf);
}

static const struct shape small = { "llama", 4, 2048, 16, 4, 5632, 32000, 4096, 0, 0, 0, 0, 0, 0, 0 };

static void cpu_config(struct est_config *c)
{
	est_config_init(c);
	c->n_ctx = 4096;
	c->n_parallel = 1;
}

/* memory-model.md 3.2 "Worked check [verified]" */
static void test_kv_f16_q8(void **state)
{
	(void)state;
	struct built b;
	struct diag d;
	struct est_config c;
	struct est_result r;

	assert_int_equal(build(&small, &b, &d, NULL), 0);
	cpu_config(&c);
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].kv, 33554432);
	c.type_k = c.type_v = GGML_TYPE_Q8_0;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].kv, 17825792);
	/* a quantized V needs flash attention, as llama.cpp refuses */
	c.flash_attn = EST_FA_OFF;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "flash"));
	release(&b);
}

/* 3.1: context rounding and streams [verified] */
static void test_context_rounding(void **state)
{
	(void)state;
	struct built b;
	struct diag d;
	struct est_config c;
	struct est_result r;

	assert_int_equal(build(&small, &b, &d, NULL), 0);
	cpu_config(&c);
	c.n_ctx = 100;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.n_ctx, 256);
	assert_int_equal(r.n_batch, 100);
	assert_int_equal(r.n_ubatch, 100);
	c.n_ctx = 8192;
	c.n_parallel = 3;
	c.kv_unified = 0;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.n_ctx_seq, 2816);
	assert_int_equal(r.n_ctx, 8448);
	assert_int_equal(r.n_stream, 3);
	/* llama-server's default: 4 slots sharing one unified cache */
	est_config_init(&c);
	c.n_ctx = 4096;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.n_seq, 4);
	assert_true(r.kv_unified);
	assert_int_equal(r.kv_size, 4096);
	release(&b);
}

/* 4.2: the CPU compute buffer is ggml-alloc's high-water mark over the
 * reserved graph, replayed byte for byte. Measured on llama-server
 * de3ff81 (CPU) with a gguf-synth model of this shape (E=2048, H=16,
 * Hkv=4, head 128, F=5632, V=32000, 4 layers; llama-spm vocabulary),
 * ctx 4096, ub 512. */
static void test_compute(void **state)
{
	(void)state;
	struct built b;
	struct diag d;
	struct est_config c;
	struct est_result r;

	assert_int_equal(build(&small, &b, &d, NULL), 0);
	cpu_config(&c);
	c.flash_attn = EST_FA_OFF;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	/* the KQ matrix [4096, 512, 16] F32 and its neighbours */
	assert_int_equal(r.usage[0].compute, 165683232);
	/* one output (llama-server -np 1), flash attention: FFN-bound */
	c.flash_attn = EST_FA_ON;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].compute, 55586848);
	/* -c 8192 -np 4, one stream per sequence: each attends 2048 cells */
	c.flash_attn = EST_FA_OFF;
	c.n_ctx = 8192;
	c.n_parallel = 4;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].compute, 94380064);
	release(&b);
}

/* A model described by its metadata and tensor names, for the graphs of
 * other architectures (the compute graph only reads the names and the
 * hyperparameters). */
struct kv32 {
	const char *suffix;
	uint32_t v;
};

struct blk_tensors {
	uint32_t layers; /* bit il: the tensors exist in block il */
	const char *const *names;
};

struct spec {
	const char *arch;
	uint32_t n_layer, n_embd, n_vocab;
	const struct kv32 *kvs;     /* "<arch>.<suffix>" scalars, ends at NULL */
	const uint32_t *head_kv;    /* a per-layer head_count_kv array, or NULL */
	struct blk_tensors blk[3];
	bool tied;                  /* no output.weight */
};

static void build_spec(const struct spec *s, struct built *b)
{
	struct gguf_writer *w = gguf_writer_new();
	struct sbuf sb;
	struct diag d;
	uint64_t size;
	char nm[96];

	assert_non_null(w);
	assert_int_equal(gguf_writer_add_str(w, "general.architecture", s->arch, strlen(s->arch)), 0);
	put_u32(w, s->arch, "block_count", s->n_layer);
	put_u32(w, s->arch, "embedding_length", s->n_embd);
	put_u32(w, s->arch, "vocab_size", s->n_vocab);
	for (const struct kv32 *kv = s->kvs; kv->suffix; kv++)
		put_u32(w, s->arch, kv->suffix, kv->v);
	if (s->head_kv) {
		snprintf(nm, sizeof(nm), "%s.attention.head_count_kv", s->arch);
		assert_int_equal(gguf_writer_add_arr(w, nm, GGUF_TYPE_UINT32, s->head_kv, s->n_layer), 0);
	}
	tensor(w, "token_embd.weight", GGML_TYPE_F16, s->n_embd, s->n_vocab, 1);
	for (uint32_t il = 0; il < s->n_layer; il++) {
		for (size_t k = 0; k < ARRAY_SIZE(s->blk); k++) {
			if (!s->blk[k].names || !(s->blk[k].layers & (1u << il)))
				continue;
			for (const char *const *n = s->blk[k].names; *n; n++) {
				snprintf(nm, sizeof(nm), "blk.%u.%s", il, *n);
				tensor(w, nm, GGML_TYPE_F32, s->n_embd, s->n_embd, 1);
			}
		}
	}
	tensor(w, "output_norm.weight", GGML_TYPE_F32, s->n_embd, 1, 1);
	if (!s->tied)
		tensor(w, "output.weight", GGML_TYPE_F16, s->n_embd, s->n_vocab, 1);
	sbuf_init(&sb, 1u << 30);
	assert_int_equal(gguf_writer_header(w, &sb, NULL, NULL), 0);
	size = gguf_writer_file_size(w);
	gguf_writer_free(w);
	b->len = sb.len;
	b->buf = (uint8_t *)sbuf_detach(&sb, NULL);
	diag_init(&d);
	assert_int_equal(gguf_parse(b->buf, b->len, size, &b->f, NULL, &d), 0);
	const struct gguf_file *parts[1] = { b->f };

	assert_int_equal(model_from_gguf(parts, 1, &b->m, &d), 0);
}

/* tests/integration/t-truth.sh's three configurations: llama-server's
 * default (-c 4096, 4 slots in one unified cache, flash attention auto),
 * -c 512 -fa off -ctk q8_0, and -c 512 -fa on -ctk q8_0 -ctv q8_0 -np 1 */
static void expect_compute(const struct spec *s, uint64_t c4096, uint64_t c512q, uint64_t c512fa,
			   bool q8_k)
{
	struct built b;
	struct diag d;
	struct est_config c;
	struct est_result r;

	build_spec(s, &b);
	est_config_init(&c);
	c.n_ctx = 4096;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].compute, c4096);
	c.n_ctx = 512;
	c.flash_attn = EST_FA_OFF;
	if (q8_k)
		c.type_k = GGML_TYPE_Q8_0;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].compute, c512q);
	c.flash_attn = EST_FA_ON;
	c.type_k = c.type_v = GGML_TYPE_Q8_0;
	c.n_parallel = 1;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].compute, c512fa);
	release(&b);
}

/* The context checkpoints of a Gemma 3 shaped model (5 sliding-window
 * layers of 6, one 256-wide KV head, n_swa 512): each holds the 512 cells
 * the window shows, as llama_kv_cache::state_write lays them out; sizes
 * llama-server logged for this shape (t-truth: 2.506 and 1.334 MiB). */
static void expect_checkpoints(const struct spec *s)
{
	struct built b;
	struct diag d;
	struct est_config c;
	struct est_result r;

	build_spec(s, &b);
	est_config_init(&c);
	c.n_ctx = 8192;
	c.n_parallel = 1;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	/* 8 + 512 x 12 + 8 + 5 x 2 x (12 + 512 x 512) */
	assert_int_equal(r.checkpoint_size, 2627720);
	assert_int_equal(r.checkpoints_max, 32ull * 2627720);
	c.type_k = c.type_v = GGML_TYPE_Q8_0;
	c.flash_attn = EST_FA_ON;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.checkpoint_size, 1398920);
	/* none with a full-size window cache, or for an embedding server */
	c.swa_full = true;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.checkpoint_size, 0);
	c.swa_full = false;
	c.embeddings = true;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.checkpoints_max, 0);
	release(&b);
}

#define ALL_LAYERS 0xffffffffu

/* One GPU of 140 GiB (the H200's class), -c 4096, -ngl ngl (-1: all),
 * llama-server's defaults otherwise. */
static void cuda_config(struct est_config *c, int ngl)
{
	est_config_init(c);
	c->n_ctx = 4096;
	c->n_devices = 1;
	c->devices[0].kind = EST_DEV_DISCRETE;
	c->devices[0].total_bytes = 140ull << 30;
	c->n_gpu_layers = ngl;
}

/* usage's compute buffer is want MiB as llama-server prints it (two
 * decimals, so +-0.005) */
static void assert_compute_mib(const struct est_usage *u, double want)
{
	double got = (double)u->compute / 1048576.0;

	assert_true(got > want - 0.005 && got < want + 0.005);
}

/* est_estimate of the model s describes, which must succeed */
static void estimate_spec(const struct spec *s, const struct est_config *c, struct est_result *r)
{
	struct built b;
	struct diag d;

	build_spec(s, &b);
	assert_int_equal(est_estimate(&b.m, c, r, &d), 0);
	release(&b);
}

/* The same small models on one GPU, measured on an NVIDIA H200 with
 * de3ff81 built for CUDA (bench/data/cuda-h200-2026-11-28.jsonl). -ngl
 * all: the GPU's compute buffer (gpu_full; < 0 where llmem is known to
 * miss it, said at the call) and the host's (CUDA_Host: the inputs, the
 * embedding rows and the unused embeddings input). -ngl 0 and half: the
 * host's, which with host caches also holds the copies of K and V that
 * set_rows writes there (ggml_dup_tensor_layout: a strided view's copy
 * spans its rows), and what the host's short-convolution state ops make.
 * The GPU's side of those depends on the weights' types (their copies),
 * which these specs do not reproduce. */
static void expect_cuda(const struct spec *s, double gpu_full, double host_full, double host_part)
{
	struct est_config c;
	struct est_result r;

	for (int ngl = 0; ngl < 3; ngl++) {
		cuda_config(&c, ngl == 2 ? -1 : ngl == 1 ? (int)s->n_layer / 2 : 0);
		estimate_spec(s, &c, &r);
		if (ngl < 2) {
			assert_compute_mib(&r.usage[0], host_part);
			continue;
		}
		assert_compute_mib(&r.usage[0], host_full);
		if (gpu_full >= 0)
			assert_compute_mib(&r.usage[1], gpu_full);
	}
}

/* -c 512 -ctk q4_0 -ctv q4_0 -fa on -np 4 -ub 2048, every layer on the
 * GPU: CUDA's tensor-core flash attention reads F16 K and V, and their
 * F16 copies are part of the attention node's own allocation (12.29 for
 * llama, where 11.29 was predicted without them) */
static void expect_cuda_fa_quant(const struct spec *s, double gpu_mib)
{
	struct est_config c;
	struct est_result r;

	cuda_config(&c, -1);
	c.n_ctx = 512;
	c.type_k = c.type_v = GGML_TYPE_Q4_0;
	c.flash_attn = EST_FA_ON;
	c.n_parallel = 4;
	c.n_ubatch = 2048;
	estimate_spec(s, &c, &r);
	assert_compute_mib(&r.usage[1], gpu_mib);
}

/* -ngl all -nkvo: the caches stay on the host, the K and V views are
 * copied in for flash attention. LFM2's attention lands on the CPU (its
 * short-convolution state ops sit between it and the output projection),
 * so -fa auto turns flash attention off (resolve_fused_ops) and the
 * attention, pinned to the CPU with -nkvo, runs there: 77.01 MiB on the
 * host. fa: flash attention as -fa auto resolves it */
static void expect_cuda_nkvo(const struct spec *s, double gpu_mib, double host_mib, bool fa)
{
	struct est_config c;
	struct est_result r;

	cuda_config(&c, -1);
	c.no_kv_offload = true;
	estimate_spec(s, &c, &r);
	assert_compute_mib(&r.usage[1], gpu_mib);
	assert_compute_mib(&r.usage[0], host_mib);
	assert_int_equal(r.fa_graph, fa);
}

static const char *const attn_plain[] = { "attn_norm.weight", "attn_q.weight", "attn_k.weight",
					  "attn_v.weight", "attn_output.weight", "ffn_norm.weight",
					  NULL };
static const char *const attn_qk_norm[] = { "attn_norm.weight", "attn_q.weight", "attn_k.weight",
					    "attn_v.weight", "attn_output.weight", "attn_q_norm.weight",
					    "attn_k_norm.weight", "ffn_norm.weight", NULL };
static const char *const ffn_dense[] = { "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", NULL };
static const char *const ffn_moe[] = { "ffn_gate_inp.weight", "ffn_gate_exps.weight",
				       "ffn_up_exps.weight", "ffn_down_exps.weight", NULL };

/* Llama-3.2-1B's shape (tied embeddings), for the CUDA checks */
static const struct kv32 llama1b_kvs[] = {
	{ "context_length", 131072 }, { "feed_forward_length", 8192 },
	{ "attention.head_count", 32 }, { "attention.head_count_kv", 8 },
	{ "attention.key_length", 64 }, { "attention.value_length", 64 },
	{ "rope.dimension_count", 64 }, { NULL, 0 },
};
static const struct spec llama1b = { "llama", 16, 2048, 128256, llama1b_kvs, NULL,
				     { { ALL_LAYERS, attn_plain }, { ALL_LAYERS, ffn_dense } }, true };

/* Measured on llama-server de3ff81 (CPU), exact bytes of the allocator's
 * high-water mark (a traced ggml-alloc.c; the server logs MiB to two
 * decimals), with t-truth.sh's gguf-synth recipes. The closed forms were
 * off by up to 12 % on these. */
static void test_compute_llama(void **state)
{
	(void)state;
	static const struct kv32 kvs[] = {
		{ "context_length", 131072 }, { "feed_forward_length", 1536 },
		{ "attention.head_count", 8 }, { "attention.head_count_kv", 2 },
		{ "attention.key_length", 64 }, { "attention.value_length", 64 },
		{ "rope.dimension_count", 64 }, { NULL, 0 },
	};
	static const struct spec s = { "llama", 4, 512, 128256, kvs, NULL,
				       { { ALL_LAYERS, attn_plain }, { ALL_LAYERS, ffn_dense } }, false };

	/* -c 512: the KQ matrix of layer 0 over the inputs (inp_embd stays
	 * allocated: the unused branch of build_inp_embd's select) */
	expect_compute(&s, 17838112, 14180384, 13152288, true);
	expect_cuda(&s, 16.01, 6.01, 6.01);
	expect_cuda_fa_quant(&s, 12.29);
	expect_cuda_nkvo(&s, 17.00, 6.01, true);
}

/* On one GPU holding every layer, the output and the cache (llama-server
 * -ngl all, and -ts over one device), measured on an NVIDIA H200 with
 * de3ff81 built for CUDA (bench/data/cuda-h200-truth.jsonl, MiB to two
 * decimals, so +-0.005 MiB): the GPU's compute buffer is the graph
 * without the embeddings input that stays on the host, and the host's
 * (CUDA_Host) holds the inputs and the embedding rows. gguf-synth's
 * Llama-3.2-1B and Qwen3-30B-A3B cut to 8 layers, -c 4096. */
static void expect_cuda_full(const struct spec *s, double gpu_mib, double host_mib)
{
	struct est_config c;
	struct est_result r;

	for (int ts = 0; ts < 2; ts++) {
		cuda_config(&c, -1);
		if (ts) {
			c.n_ts = 1;
			c.ts[0] = 1;
		}
		estimate_spec(s, &c, &r);
		assert_compute_mib(&r.usage[1], gpu_mib);
		assert_compute_mib(&r.usage[0], host_mib);
	}
}

static void test_compute_cuda_full(void **state)
{
	(void)state;
	static const struct kv32 moe_kvs[] = {
		{ "context_length", 40960 }, { "feed_forward_length", 6144 },
		{ "attention.head_count", 32 }, { "attention.head_count_kv", 4 },
		{ "attention.key_length", 128 }, { "attention.value_length", 128 },
		{ "expert_count", 128 }, { "expert_used_count", 8 },
		{ "expert_feed_forward_length", 768 }, { NULL, 0 },
	};
	static const struct spec moe = { "qwen3moe", 8, 2048, 151936, moe_kvs, NULL,
					 { { ALL_LAYERS, attn_qk_norm }, { ALL_LAYERS, ffn_moe } }, false };

	expect_cuda_full(&llama1b, 64.01, 12.01);
	expect_cuda_full(&moe, 88.01, 12.01);
}

/* With a GPU, what `top` shows: the CUDA runtime's own anonymous memory
 * joins the host's overhead (115 MiB while the GPU only runs offloaded
 * operations, 150 MiB once it holds layers: measured on the H200 of
 * bench/data/cuda-h200-2026-11-28.jsonl, which t-cuda-data.sh compares
 * with), its libraries' file pages the resident file pages (146 and 151
 * MiB); the host's compute buffer, and the output buffer once the output
 * layer is offloaded, are pinned (RssShmem), not anonymous. */
static void test_rss_cuda(void **state)
{
	(void)state;
	struct est_config c;
	struct est_result cpu, ops, all;
	const uint64_t MiB = 1ull << 20;

	cuda_config(&c, 0);
	c.n_devices = 0;
	estimate_spec(&llama1b, &c, &cpu);
	assert_int_equal(cpu.rss.pinned, 0);
	assert_int_equal(cpu.rss.anon_running, cpu.rss.anon_loaded + cpu.usage[0].compute);

	cuda_config(&c, 0);
	estimate_spec(&llama1b, &c, &ops);
	assert_int_equal(ops.usage[0].overhead, cpu.usage[0].overhead + 115 * MiB);
	assert_int_equal(ops.rss.file, cpu.rss.file + 146 * MiB);
	/* the heap and the host buffers are the CPU build's: only the
	 * runtime's share is new; the compute buffer is pinned, the output
	 * buffer (the output layer is on the host) is not */
	assert_int_equal(ops.rss.anon_loaded, cpu.rss.anon_loaded + 115 * MiB);
	assert_int_equal(ops.rss.anon_running, ops.rss.anon_loaded);
	assert_int_equal(ops.rss.pinned, ops.usage[0].compute);

	cuda_config(&c, -1);
	estimate_spec(&llama1b, &c, &all);
	assert_int_equal(all.usage[0].overhead, cpu.usage[0].overhead + 150 * MiB);
	assert_int_equal(all.rss.file, all.usage[0].weights_mapped + (23ull << 19) + 151 * MiB);
	assert_int_equal(all.rss.pinned, all.usage[0].compute + all.usage[0].output);
	assert_true(all.usage[0].output > 0);
	assert_int_equal(all.rss.anon_running, all.rss.anon_loaded);
}

/* The same models with layers left on the host (-ngl 0 and half),
 * measured 79.25 and 217.50 MiB: the scheduler's splits replayed (each
 * host weight copied in at the start of its op's split, the K/V views
 * of a host cache and the other split inputs copied in at the start of
 * theirs) and ggml-alloc over its graph copy, one allocator a buffer;
 * the host's (host_mib) holds the inputs and what set_rows writes to the
 * host caches. The catalog's Q4_K_M mix gives the weights their sizes
 * (Qwen3-30B-A3B whole: the peak is at block 0's Q6_K ffn_down_exps, as
 * in the 8 measured blocks). */
static void expect_cuda_partial(const char *name, uint32_t n_ctx, double host_mib, double gpu_mib)
{
	const struct catalog_model *cm = catalog_find(name);
	struct gguf_writer *w = gguf_writer_new();
	struct gguf_file *f = NULL;
	const struct gguf_file *parts[1];
	struct est_config c;
	struct est_result r;
	struct model m;
	struct diag d;
	struct sbuf sb;

	assert_non_null(cm);
	assert_non_null(w);
	assert_int_equal(catalog_build(cm, 15 /* Q4_K_M */, w), 0);
	sbuf_init(&sb, 1u << 30);
	assert_int_equal(gguf_writer_header(w, &sb, NULL, NULL), 0);
	diag_init(&d);
	assert_int_equal(gguf_parse((const uint8_t *)sb.buf, sb.len, gguf_writer_file_size(w), &f, NULL, &d), 0);
	parts[0] = f;
	assert_int_equal(model_from_gguf(parts, 1, &m, &d), 0);
	for (int half = 0; half < 2; half++) {
		cuda_config(&c, half ? (int)m.n_layer / 2 : 0);
		c.n_ctx = n_ctx;
		assert_int_equal(est_estimate(&m, &c, &r, &d), 0);
		assert_compute_mib(&r.usage[0], host_mib);
		assert_compute_mib(&r.usage[1], gpu_mib);
	}
	model_release(&m);
	gguf_file_free(f);
	sbuf_release(&sb);
	gguf_writer_free(w);
}

static void test_compute_cuda_partial(void **state)
{
	(void)state;
	expect_cuda_partial("llama-3.2-1b", 4096, 12.01, 79.25);
	expect_cuda_partial("qwen3-30b-a3b", 4096, 12.01, 217.50);
	/* measured 2026-11-28 (bench/data/cuda-h200-2026-11-28.jsonl): one
	 * rope_freqs for every block, copied to the GPU once (the split
	 * after its first copy takes the next host weight's copy before
	 * the rope runs); was 128.50 with a copy per block */
	expect_cuda_partial("llama-3.1-8b", 8192, 24.01, 135.50);
}

/* Q/K norms and experts: router, top-k, weights renormalised */
static void test_compute_qwen3moe(void **state)
{
	(void)state;
	static const struct kv32 kvs[] = {
		{ "context_length", 40960 }, { "feed_forward_length", 1536 },
		{ "attention.head_count", 8 }, { "attention.head_count_kv", 4 },
		{ "attention.key_length", 128 }, { "attention.value_length", 128 },
		{ "expert_count", 16 }, { "expert_used_count", 4 },
		{ "expert_feed_forward_length", 256 }, { NULL, 0 },
	};
	static const struct spec s = { "qwen3moe", 4, 512, 151936, kvs, NULL,
				       { { ALL_LAYERS, attn_qk_norm }, { ALL_LAYERS, ffn_moe } }, false };

	expect_compute(&s, 15740960, 16850976, 12152864, true);
	/* GPU: CUDA fuses the experts' weighting and sum and keeps their
	 * outputs allocated until the sum (14.01 before that was replayed) */
	expect_cuda(&s, 16.01, 6.01, 7.01);
}

/* sliding-window layers with their own cache and mask, post norms,
 * scaled embeddings, GEGLU */
static void test_compute_gemma3(void **state)
{
	(void)state;
	static const char *const post[] = { "post_attention_norm.weight", "post_ffw_norm.weight", NULL };
	static const struct kv32 kvs[] = {
		{ "context_length", 32768 }, { "feed_forward_length", 1536 },
		{ "attention.head_count", 4 }, { "attention.head_count_kv", 1 },
		{ "attention.key_length", 256 }, { "attention.value_length", 256 },
		{ "attention.sliding_window", 512 }, { NULL, 0 },
	};
	static const struct spec s = { "gemma3", 6, 512, 262144, kvs, NULL,
				       { { ALL_LAYERS, attn_qk_norm }, { ALL_LAYERS, ffn_dense },
					 { ALL_LAYERS, post } }, true };

	expect_compute(&s, 20467744, 17313824, 15257632, true);
	expect_checkpoints(&s);
	expect_cuda(&s, 19.52, 8.52, 8.52);
	expect_cuda_fa_quant(&s, 14.05);
	expect_cuda_nkvo(&s, 14.50, 8.52, true);
}

/* latent attention (the absorbed form: Q through wk_b, V through wv_b),
 * a leading dense block, shared experts; an F16 cache without flash
 * attention (MLA's V is a copy of the K cache) */
static void test_compute_deepseek2(void **state)
{
	(void)state;
	static const char *const mla[] = { "attn_norm.weight", "attn_q.weight", "attn_kv_a_mqa.weight",
					   "attn_kv_a_norm.weight", "attn_k_b.weight", "attn_v_b.weight",
					   "attn_output.weight", "ffn_norm.weight", NULL };
	static const char *const moe[] = { "ffn_gate_inp.weight", "ffn_gate_exps.weight",
					   "ffn_up_exps.weight", "ffn_down_exps.weight",
					   "ffn_gate_shexp.weight", "ffn_up_shexp.weight",
					   "ffn_down_shexp.weight", NULL };
	static const struct kv32 kvs[] = {
		{ "context_length", 163840 }, { "feed_forward_length", 1536 },
		{ "attention.head_count", 8 }, { "attention.head_count_kv", 1 },
		{ "attention.key_length", 576 }, { "attention.value_length", 512 },
		{ "attention.key_length_mla", 192 }, { "attention.value_length_mla", 128 },
		{ "attention.kv_lora_rank", 512 }, { "attention.q_lora_rank", 0 },
		{ "rope.dimension_count", 64 }, { "expert_count", 16 }, { "expert_used_count", 4 },
		{ "expert_shared_count", 2 }, { "expert_feed_forward_length", 256 },
		{ "expert_shared_feed_forward_length", 512 }, { "leading_dense_block_count", 1 },
		{ NULL, 0 },
	};
	static const struct spec s = { "deepseek2", 3, 512, 102400, kvs, NULL,
				       { { ALL_LAYERS, mla }, { 1, ffn_dense }, { 6, moe } }, false };

	expect_compute(&s, 30490656, 27344928, 26820640, false);
	/* GPU 27.11 measured, 27.08 here */
	expect_cuda(&s, -1, 6.01, 6.13);
}

/* biases, attention sinks, SWIGLU_OAI experts with biases, softmax over
 * the chosen experts; the last layer runs on every token and its output
 * is a graph output (t_h_nextn) */
static void test_compute_gpt_oss(void **state)
{
	(void)state;
	static const char *const attn[] = { "attn_norm.weight", "attn_q.weight", "attn_q.bias",
					    "attn_k.weight", "attn_k.bias", "attn_v.weight",
					    "attn_v.bias", "attn_output.weight", "attn_output.bias",
					    "attn_sinks.weight", "post_attention_norm.weight", NULL };
	static const char *const moe[] = { "ffn_gate_inp.weight", "ffn_gate_inp.bias",
					   "ffn_gate_exps.weight", "ffn_gate_exps.bias",
					   "ffn_up_exps.weight", "ffn_up_exps.bias",
					   "ffn_down_exps.weight", "ffn_down_exps.bias", NULL };
	static const struct kv32 kvs[] = {
		{ "context_length", 131072 }, { "feed_forward_length", 512 },
		{ "attention.head_count", 8 }, { "attention.head_count_kv", 2 },
		{ "attention.key_length", 64 }, { "attention.value_length", 64 },
		{ "attention.sliding_window", 128 }, { "rope.dimension_count", 64 },
		{ "expert_count", 16 }, { "expert_used_count", 4 },
		{ "expert_feed_forward_length", 512 }, { NULL, 0 },
	};
	static const struct spec s = { "gpt-oss", 4, 512, 50257, kvs, NULL,
				       { { ALL_LAYERS, attn }, { ALL_LAYERS, moe } }, false };

	expect_compute(&s, 22040608, 18984992, 16928800, true);
	expect_cuda(&s, 20.02, 7.02, 7.02);
}

/* short-convolution blocks (state rows fetched and stored per layer)
 * between attention blocks */
static void test_compute_lfm2(void **state)
{
	(void)state;
	static const char *const conv[] = { "shortconv.conv.weight", "shortconv.in_proj.weight",
					    "shortconv.out_proj.weight", NULL };
	static const char *const attn[] = { "attn_q.weight", "attn_k.weight", "attn_v.weight",
					    "attn_output.weight", "attn_q_norm.weight",
					    "attn_k_norm.weight", NULL };
	static const char *const common[] = { "attn_norm.weight", "ffn_norm.weight", "ffn_gate.weight",
					      "ffn_up.weight", "ffn_down.weight", NULL };
	static const uint32_t head_kv[6] = { 0, 0, 4, 0, 0, 4 };
	static const struct kv32 kvs[] = {
		{ "context_length", 128000 }, { "feed_forward_length", 1536 },
		{ "attention.head_count", 8 }, { "shortconv.l_cache", 3 }, { NULL, 0 },
	};
	static const struct spec s = { "lfm2", 6, 512, 128256, kvs, head_kv,
				       { { 0x1b, conv }, { 0x24, attn }, { ALL_LAYERS, common } }, true };

	expect_compute(&s, 16805952, 14721088, 13156416, true);
	expect_cuda(&s, 15.03, 6.01, 7.01);
	expect_cuda_nkvo(&s, 11.02, 77.01, false);
}

/* a fused QKV projection (Q, K, V are views of it) and a fused gate+up
 * split by SWIGLU */
static void test_compute_phi3(void **state)
{
	(void)state;
	static const char *const blk[] = { "attn_norm.weight", "attn_qkv.weight", "attn_output.weight",
					   "ffn_norm.weight", "ffn_up.weight", "ffn_down.weight", NULL };
	static const struct kv32 kvs[] = {
		{ "context_length", 131072 }, { "feed_forward_length", 1536 },
		{ "attention.head_count", 8 }, { "attention.head_count_kv", 8 },
		{ "attention.sliding_window", 262144 }, { "rope.dimension_count", 64 }, { NULL, 0 },
	};
	static const struct spec s = { "phi3", 4, 512, 32064, kvs, NULL, { { ALL_LAYERS, blk } }, false };

	expect_compute(&s, 16789536, 18898976, 13152288, true);
	expect_cuda(&s, 15.01, 6.01, 9.01);
	expect_cuda_fa_quant(&s, 12.29);
}

/* 3.4 [verified]: mamba2-like state, 1 and 4 sequences */
static void test_recurrent(void **state)
{
	(void)state;
	static const struct shape mamba = { "mamba2", 4, 1024, 0, 0, 0, 32000, 4096, 0, 0, 0,
					    4, 2048, 128, 1 };
	struct built b;
	struct diag d;
	struct est_config c;
	struct est_result r;

	assert_int_equal(build(&mamba, &b, &d, NULL), 0);
	cpu_config(&c);
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].recurrent, 4304896);
	assert_int_equal(r.usage[0].kv, 0);
	c.n_parallel = 4;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	assert_int_equal(r.usage[0].recurrent, 17219584);
	release(&b);
}

/* ---- hostile hyperparameters ---- */

static void expect_refused(const struct shape *s, void (*tweak)(struct gguf_writer *, const struct shape *),
			   const char *word)
{
	struct built b;
	struct diag d;
	int e = build(s, &b, &d, tweak);

	assert_int_equal(e, -EBADMSG);
	if (!strstr(d.msg, word))
		fail_msg("message '%s' does not mention '%s'", d.msg, word);
	gguf_file_free(b.f);
	free(b.buf);
}

static void test_zero_layers(void **state)
{
	(void)state;
	struct shape s = small;

	s.n_layer = 0;
	expect_refused(&s, NULL, "block_count");
}

static void test_zero_heads(void **state)
{
	(void)state;
	struct shape s = small;

	s.n_head = 0;
	expect_refused(&s, NULL, "head_count");
}

static void test_kv_heads_over_heads(void **state)
{
	(void)state;
	struct shape s = small;

	s.n_head_kv = 32;
	expect_refused(&s, NULL, "KV heads");
}

static void bad_array(struct gguf_writer *w, const struct shape *s)
{
	uint32_t v[3] = { 1, 2, 3 };
	char key[96];

	snprintf(key, sizeof(key), "%s.attention.sliding_window_pattern", s->arch);
	assert_int_equal(gguf_writer_add_arr(w, key, GGUF_TYPE_UINT32, v, 3), 0);
}

static void test_per_layer_wrong_length(void **state)
{
	(void)state;
	struct shape s = small;

	s.arch = "gemma3";
	expect_refused(&s, bad_array, "entries");
}

/* A one-layer header of arch with one hostile key: model_from_gguf must
 * refuse it with a message naming the key. */
static void refuse_key(const char *arch, const char *suffix, uint32_t type, const void *val,
		       bool with_shape)
{
	struct gguf_writer *w = gguf_writer_new();
	uint32_t one = 1, e2 = 64;
	char key[96];
	struct sbuf sb;
	struct gguf_file *f;
	struct model m;
	struct diag d;

	assert_int_equal(gguf_writer_add_str(w, "general.architecture", arch, strlen(arch)), 0);
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	if (type == GGUF_TYPE_STRING)
		assert_int_equal(gguf_writer_add_str(w, key, val, strlen(val)), 0);
	else
		assert_int_equal(gguf_writer_add_scalar(w, key, type, val), 0);
	if (with_shape) {
		snprintf(key, sizeof(key), "%s.block_count", arch);
		assert_int_equal(gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &one), 0);
		snprintf(key, sizeof(key), "%s.attention.head_count", arch);
		assert_int_equal(gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &one), 0);
	}
	snprintf(key, sizeof(key), "%s.embedding_length", arch);
	assert_int_equal(gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &e2), 0);
	sbuf_init(&sb, 1u << 20);
	assert_int_equal(gguf_writer_header(w, &sb, NULL, NULL), 0);
	assert_int_equal(gguf_parse((const uint8_t *)sb.buf, sb.len, sb.len, &f, NULL, &d), 0);
	const struct gguf_file *parts[1] = { f };

	assert_int_equal(model_from_gguf(parts, 1, &m, &d), -EBADMSG);
	if (!strstr(d.msg, suffix))
		fail_msg("message '%s' does not name %s", d.msg, suffix);
	gguf_file_free(f);
	sbuf_release(&sb);
	gguf_writer_free(w);
}

static void test_huge_context(void **state)
{
	uint64_t big = 1ull << 63;

	(void)state;
	refuse_key("llama", "context_length", GGUF_TYPE_UINT64, &big, true);
}

static void test_huge_experts(void **state)
{
	uint64_t big = 1ull << 32;

	(void)state;
	refuse_key("qwen3moe", "expert_count", GGUF_TYPE_UINT64, &big, true);
}

/* The tokenizer facts behind llama-server's resident heap: strings over
 * 15 bytes take a glibc chunk of len + 1 + 8 rounded up to 16 (pieces
 * grown by resize to 30 at least); byte-level BPE pieces count code
 * points; merges are split at the first space after the first byte. */
static void tok_tweak(struct gguf_writer *w, const struct shape *s)
{
	static const char *const toks[] = { "a", "0123456789abcdef" /* 16 */,
		"\xc4\xa0" "0123456789abcdefgh" /* 20 bytes, 19 code points */,
		"<|0123456789abcdefghijklmnopqrstuvwx|>" /* 38, control */ };
	static const char *const merges[] = { "a b", "0123456789abcdef 0123456789abcdefg" };
	const int32_t types[] = { 1, 1, 1, 3 };

	(void)s;
	assert_int_equal(gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4), 0);
	assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, 4), 0);
	assert_int_equal(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 4), 0);
	assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, 2), 0);
}

static void test_tokenizer_heap(void **state)
{
	struct shape sh = small;
	struct built b;
	struct diag d;
	struct est_config c;
	struct est_result r;

	(void)state;
	sh.n_vocab = 4;
	assert_int_equal(build(&sh, &b, &d, tok_tweak), 0);
	assert_int_equal(b.m.tok_n, 4);
	assert_int_equal(b.m.tok_n_merges, 2);
	/* texts: 16 -> 32, 20 -> 32, 38 -> 48 */
	assert_int_equal(b.m.tok_text_heap, 32 + 32 + 48);
	/* pieces: 16 -> 31 -> 48, 19 -> 31 -> 48, 38 -> 48 */
	assert_int_equal(b.m.tok_piece_heap, 48 + 48 + 48);
	/* "0123...f 0123...g" (34 bytes) -> 48; halves 16 -> 32, 17 -> 32 */
	assert_int_equal(b.m.tok_merge_heap, 48);
	assert_int_equal(b.m.tok_merge_half_heap, 32 + 32);
	assert_int_equal(b.m.tok_arr_bytes[0], 0);
	assert_int_equal(b.m.tok_arr_bytes[1], 16);
	assert_true(b.m.tok_heap);
	{
		/* the same from the parser's list of long strings (what the
		 * files `llmem estimate` opens are read with) */
		struct gguf_parser *p = gguf_parser_new(b.f->file_size);
		struct gguf_file *f2 = NULL;
		struct model m2;

		assert_non_null(p);
		gguf_parser_set_flags(p, GGUF_PARSE_LONG_STRINGS);
		assert_int_equal(gguf_parser_feed(p, b.buf, b.len, &f2, NULL, &d), 0);
		gguf_parser_free(p);
		assert_true(f2->has_longs);
		{
			const struct gguf_file *parts2[1] = { f2 };

			assert_int_equal(model_from_gguf(parts2, 1, &m2, &d), 0);
		}
		assert_int_equal(m2.tok_text_heap, b.m.tok_text_heap);
		assert_int_equal(m2.tok_piece_heap, b.m.tok_piece_heap);
		assert_int_equal(m2.tok_merge_heap, b.m.tok_merge_heap);
		assert_int_equal(m2.tok_merge_half_heap, b.m.tok_merge_half_heap);
		model_release(&m2);
		gguf_file_free(f2);
		/* without the heap facts */
		{
			const struct gguf_file *parts3[1] = { b.f };

			assert_int_equal(model_from_gguf_flags(parts3, 1, MODEL_NO_HEAP, &m2, &d), 0);
		}
		assert_false(m2.tok_heap);
		assert_int_equal(m2.tok_text_heap, 0);
		assert_int_equal(m2.tok_n, 0);
		model_release(&m2);
	}
	cpu_config(&c);
	c.n_ctx = 512;
	assert_int_equal(est_estimate(&b.m, &c, &r, &d), 0);
	/* the heap: 3 MiB, the GGUF arrays (4 x 32 + 112, 2 x 32 + 48, 16), the
	 * vocabulary (4 x 136 + 2 x 112 + 144 + 13 buckets x 8; 2 x 96 + 64 +
	 * 13 x 8); the output buffer (4 logits, 16 B) fits the token-type
	 * array's hole, the KV cache (above the 128 KiB mmap threshold) is
	 * mapped on its own: counted whole; so is BPE's code-point table
	 * (2.125 MiB: the vocabulary has merges) */
	assert_int_equal(r.rss.anon_loaded,
			 (r.usage[0].weights - r.usage[0].weights_mapped) + r.usage[0].overhead +
				 (3ull << 20) + (240 + 112 + 16) + (544 + 224 + 144 + 104) +
				 (192 + 64 + 104) + r.usage[0].kv + 2ull * 0x110000);
	assert_int_equal(r.usage[0].output, 16);
	release(&b);
}

static void test_wrong_type(void **state)
{
	(void)state;
	/* a block count written as a string */
	refuse_key("llama", "block_count", GGUF_TYPE_STRING, "32", false);
}

static void int8_scores(struct gguf_writer *w, const struct shape *s)
{
	static const char *const toks[4] = { "a", "b", "c", "d" };
	int8_t sc[4] = { 1, 2, 3, 4 };

	(void)s;
	assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, 4), 0);
	assert_int_equal(gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_INT8, sc, 4), 0);
}

/* reliability.md case 26: a typed array checked for its element type */
static void test_tokenizer_types(void **state)
{
	(void)state;
	expect_refused(&small, int8_scores, "tokenizer.ggml.scores must be an array of float32");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_f16_q8),
		cmocka_unit_test(test_context_rounding),
		cmocka_unit_test(test_compute),
		cmocka_unit_test(test_compute_llama),
		cmocka_unit_test(test_compute_cuda_full),
		cmocka_unit_test(test_rss_cuda),
		cmocka_unit_test(test_compute_cuda_partial),
		cmocka_unit_test(test_compute_qwen3moe),
		cmocka_unit_test(test_compute_gemma3),
		cmocka_unit_test(test_compute_deepseek2),
		cmocka_unit_test(test_compute_gpt_oss),
		cmocka_unit_test(test_compute_lfm2),
		cmocka_unit_test(test_compute_phi3),
		cmocka_unit_test(test_recurrent),
		cmocka_unit_test(test_zero_layers),
		cmocka_unit_test(test_zero_heads),
		cmocka_unit_test(test_kv_heads_over_heads),
		cmocka_unit_test(test_per_layer_wrong_length),
		cmocka_unit_test(test_huge_context),
		cmocka_unit_test(test_huge_experts),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_tokenizer_heap),
		cmocka_unit_test(test_tokenizer_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
