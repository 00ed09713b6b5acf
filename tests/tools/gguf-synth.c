/* gguf-synth.c: synthesizes GGUF model files shaped like well-known
 * models, with llama.cpp's tensor names, shapes, metadata and a
 * quantization mix, and the tensor data left as a sparse hole. Used by the
 * tests, the benchmark and the README's first command.
 *
 * Two modes:
 *  - legacy: the six original shapes (llama-3.1-8b, llama-3.3-70b,
 *    qwen3-30b-a3b, gemma-3-12b, tiny, micro) given only --shape and one of
 *    the four original --ftype values write exactly the bytes they always
 *    did (a stand-in tokenizer, the original metadata and type mix). Those
 *    files are for header parsing; llama.cpp refuses them (no
 *    layer_norm_rms_epsilon).
 *  - loadable: every other shape, and any shape given --vocab-from, --order,
 *    a size override or --ftype mxfp4_moe. The file then has every key
 *    llama.cpp's loader requires for its architecture, exactly the tensors
 *    it creates (names, shapes), and the types and tensor order
 *    llama-quantize produces (checked tensor by tensor against the pinned
 *    llama-quantize for Q4_K_M, Q4_0, Q8_0 and MXFP4_MOE, fallbacks for
 *    rows that are not a multiple of the block size included). With
 *    --vocab-from it has a real tokenizer (llama.cpp's
 *    models/ggml-vocab-*.gguf) and the real llama-server loads it; zero
 *    weights are fine when nothing is generated. Without --vocab-from the
 *    stand-in tokenizer is written: llama-server loads that too, but it
 *    tokenizes nothing sensibly. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/ggml-type.h"
#include "gguf/gguf.h"
#include "io/io.h"

enum family { FAM_LLAMA, FAM_QWEN3, FAM_GEMMA3, FAM_DEEPSEEK2, FAM_GPTOSS, FAM_LFM2, FAM_PHI3 };

struct shape {
	const char *name;      /* what --shape takes */
	const char *arch;
	const char *title;     /* general.name */
	uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim;
	uint32_t n_vocab, n_ctx;
	uint32_t n_expert, n_expert_used, n_ff_exp;
	uint32_t swa;          /* sliding window, 0 = none */
	bool qk_norm, tied, post_norms;
	uint32_t n_merges;
	/* ---- used only in loadable mode ---- */
	bool legacy;           /* one of the original six shapes */
	const char *vocab;     /* llama.cpp's models/ggml-vocab-<vocab>.gguf to use */
	float rms_eps, rope_base, rope_base_swa;
	bool rope_freqs;       /* Llama 3: rope_freqs.weight {head_dim/2} */
	const char *rope_scaling; /* "linear", "yarn" or NULL */
	float rope_factor, yarn_log_mul, rope_attn_factor;
	uint32_t rope_orig_ctx;
	/* deepseek2 (MLA) */
	uint32_t q_lora_rank, kv_lora_rank, qk_rope_dim, qk_nope_dim, v_head_dim;
	uint32_t n_expert_shared, n_dense_lead;
	float expert_weights_scale;
	/* lfm2: bit il set = layer il is attention (else short conv) */
	uint64_t attn_layers;
	uint32_t l_cache;
	/* phi3: rope_factors_long/short.weight {head_dim/2} */
	bool rope_factors;
};

#define LLAMA3 .rms_eps = 1e-5f, .rope_base = 500000.0f, .rope_freqs = true, .vocab = "llama-bpe"
#define QWEN3 .rms_eps = 1e-6f, .rope_base = 1000000.0f, .vocab = "qwen2"
#define GEMMA3 .rms_eps = 1e-6f, .rope_base = 1000000.0f, .rope_base_swa = 10000.0f, .vocab = "gemma-4"

static const struct shape shapes[] = {
	/* the original six: their legacy output must not change */
	{ "llama-3.1-8b", "llama", "Llama 3.1 8B Instruct", 32, 4096, 14336, 32, 8, 128,
	  128256, 131072, 0, 0, 0, 0, false, false, false, 280147, .legacy = true, LLAMA3 },
	{ "llama-3.3-70b", "llama", "Llama 3.3 70B Instruct", 80, 8192, 28672, 64, 8, 128,
	  128256, 131072, 0, 0, 0, 0, false, false, false, 280147, .legacy = true, LLAMA3 },
	{ "qwen3-30b-a3b", "qwen3moe", "Qwen3 30B A3B", 48, 2048, 6144, 32, 4, 128,
	  151936, 40960, 128, 8, 768, 0, true, false, false, 151387, .legacy = true, QWEN3 },
	{ "gemma-3-12b", "gemma3", "Gemma 3 12B It", 48, 3840, 15360, 16, 8, 256,
	  262144, 131072, 0, 0, 0, 1024, true, true, true, 0, .legacy = true, GEMMA3,
	  .rope_scaling = "linear", .rope_factor = 8.0f },
	{ "tiny", "llama", "Tiny Test Model", 2, 256, 512, 4, 2, 64,
	  512, 2048, 0, 0, 0, 0, false, false, false, 0, .legacy = true,
	  .rms_eps = 1e-5f, .rope_base = 10000.0f, .vocab = "llama-bpe" },
	{ "micro", "llama", "Micro Test Model", 1, 64, 128, 2, 1, 32,
	  64, 512, 0, 0, 0, 0, false, false, false, 16, .legacy = true,
	  .rms_eps = 1e-5f, .rope_base = 10000.0f, .vocab = "llama-bpe" },

	/* loadable shapes */
	{ "llama-3.2-1b", "llama", "Llama 3.2 1B Instruct", 16, 2048, 8192, 32, 8, 64,
	  128256, 131072, 0, 0, 0, 0, false, true, false, 280147, LLAMA3 },
	{ "qwen3-0.6b", "qwen3", "Qwen3 0.6B", 28, 1024, 3072, 16, 8, 128,
	  151936, 40960, 0, 0, 0, 0, true, true, false, 151387, QWEN3 },
	{ "qwen3-8b", "qwen3", "Qwen3 8B", 36, 4096, 12288, 32, 8, 128,
	  151936, 40960, 0, 0, 0, 0, true, false, false, 151387, QWEN3 },
	{ "gemma-3-1b", "gemma3", "Gemma 3 1B It", 26, 1152, 6912, 4, 1, 256,
	  262144, 32768, 0, 0, 0, 512, true, true, true, 514906, GEMMA3 },
	{ "gemma-3-4b", "gemma3", "Gemma 3 4B It", 34, 2560, 10240, 8, 4, 256,
	  262144, 131072, 0, 0, 0, 1024, true, true, true, 514906, GEMMA3,
	  .rope_scaling = "linear", .rope_factor = 8.0f },
	{ "deepseek-v2-lite", "deepseek2", "DeepSeek V2 Lite Chat", 27, 2048, 10944, 16, 1, 0,
	  102400, 163840, 64, 6, 1408, 0, false, false, false, 99757,
	  .rms_eps = 1e-6f, .rope_base = 10000.0f, .vocab = "deepseek-llm",
	  .rope_scaling = "yarn", .rope_factor = 40.0f, .rope_orig_ctx = 4096,
	  .yarn_log_mul = 0.0707f, .kv_lora_rank = 512, .qk_rope_dim = 64, .qk_nope_dim = 128,
	  .v_head_dim = 128, .n_expert_shared = 2, .n_dense_lead = 1, .expert_weights_scale = 1.0f },
	{ "gpt-oss-20b", "gpt-oss", "Gpt Oss 20b", 24, 2880, 2880, 64, 8, 64,
	  201088, 131072, 32, 4, 2880, 128, false, false, false, 446189,
	  .rms_eps = 1e-5f, .rope_base = 150000.0f, .vocab = "gpt-2",
	  .rope_scaling = "yarn", .rope_factor = 32.0f, .rope_orig_ctx = 4096 },
	{ "gpt-oss-120b", "gpt-oss", "Gpt Oss 120b", 36, 2880, 2880, 64, 8, 64,
	  201088, 131072, 128, 4, 2880, 128, false, false, false, 446189,
	  .rms_eps = 1e-5f, .rope_base = 150000.0f, .vocab = "gpt-2",
	  .rope_scaling = "yarn", .rope_factor = 32.0f, .rope_orig_ctx = 4096 },
	{ "lfm2-1.2b", "lfm2", "LFM2 1.2B", 16, 2048, 8192, 32, 8, 64,
	  65536, 128000, 0, 0, 0, 0, true, true, false, 63683,
	  .rms_eps = 1e-5f, .rope_base = 1000000.0f, .vocab = "llama-bpe",
	  .attn_layers = 0x5524, .l_cache = 3 },
	{ "lfm2-350m", "lfm2", "LFM2 350M", 16, 1024, 4608, 16, 8, 64,
	  65536, 128000, 0, 0, 0, 0, true, true, false, 63683,
	  .rms_eps = 1e-5f, .rope_base = 1000000.0f, .vocab = "llama-bpe",
	  .attn_layers = 0x5524, .l_cache = 3 },
	{ "phi-3.5-mini", "phi3", "Phi 3.5 Mini Instruct", 32, 3072, 8192, 32, 32, 96,
	  32064, 131072, 0, 0, 0, 262144, false, false, false, 0,
	  .rms_eps = 1e-5f, .rope_base = 10000.0f, .vocab = "phi-3", .rope_orig_ctx = 4096,
	  .rope_attn_factor = 1.1902380714238083f, .rope_factors = true },
	{ "phi-3-mini-4k", "phi3", "Phi 3 Mini 4k Instruct", 32, 3072, 8192, 32, 32, 96,
	  32064, 4096, 0, 0, 0, 2047, false, false, false, 0,
	  .rms_eps = 1e-5f, .rope_base = 10000.0f, .vocab = "phi-3", .rope_orig_ctx = 4096 },
};

static const struct {
	const char *arch;
	enum family fam;
} families[] = {
	{ "llama", FAM_LLAMA },      { "qwen3", FAM_QWEN3 },   { "qwen3moe", FAM_QWEN3 },
	{ "gemma3", FAM_GEMMA3 },    { "deepseek2", FAM_DEEPSEEK2 },
	{ "gpt-oss", FAM_GPTOSS },   { "lfm2", FAM_LFM2 },     { "phi3", FAM_PHI3 },
};

/* ---- the size overrides ---- */

enum ovr { O_LAYERS, O_EMBD, O_FF, O_FF_EXP, O_HEADS, O_KV_HEADS, O_HEAD_DIM, O_EXPERTS,
	   O_EXPERTS_USED, O_CTX_TRAIN, O_SWA, O_COUNT };

static const char *const ovr_names[O_COUNT] = {
	"--layers", "--embd", "--ff", "--ff-exp", "--heads", "--kv-heads", "--head-dim",
	"--experts", "--experts-used", "--ctx-train", "--swa",
};

#define OB(o) (1u << (o))
#define O_COMMON (OB(O_LAYERS) | OB(O_EMBD) | OB(O_FF) | OB(O_HEADS) | OB(O_CTX_TRAIN))

/* Which overrides make sense for a shape. Sizes that llama.cpp derives
 * (phi3's and lfm2's head size is n_embd / n_head; MLA's head sizes are the
 * LoRA ranks) are not offered. */
static uint32_t ovr_allowed(const struct shape *s, enum family fam)
{
	uint32_t m = O_COMMON;

	switch (fam) {
	case FAM_LLAMA:
	case FAM_QWEN3:
		m |= OB(O_KV_HEADS) | OB(O_HEAD_DIM);
		break;
	case FAM_GEMMA3:
		m |= OB(O_KV_HEADS) | OB(O_HEAD_DIM) | OB(O_SWA);
		break;
	case FAM_DEEPSEEK2:
		break;
	case FAM_GPTOSS:
		m |= OB(O_KV_HEADS) | OB(O_HEAD_DIM) | OB(O_SWA);
		break;
	case FAM_LFM2:
	case FAM_PHI3:
		m |= OB(O_KV_HEADS);
		break;
	}
	if (s->n_expert)
		m |= OB(O_FF_EXP) | OB(O_EXPERTS) | OB(O_EXPERTS_USED);
	return m;
}

/* llama.cpp's use_more_bits(): the first and last eighth of the layers,
 * and every third one between, get more bits in the _M mixes. */
static bool more_bits(uint32_t i, uint32_t n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

enum mix { MIX_Q4_K_M, MIX_Q8_0, MIX_F16, MIX_Q4_0, MIX_MXFP4_MOE };

/* ---- legacy mode: the original writer, unchanged ---- */

static uint32_t pick(enum mix m, const char *role, uint32_t layer, uint32_t n_layer)
{
	switch (m) {
	case MIX_Q8_0: return GGML_TYPE_Q8_0;
	case MIX_F16: return GGML_TYPE_F16;
	case MIX_Q4_0: return strcmp(role, "output") ? GGML_TYPE_Q4_0 : GGML_TYPE_Q6_K;
	case MIX_Q4_K_M:
	default:
		if (!strcmp(role, "output"))
			return GGML_TYPE_Q6_K;
		if ((!strcmp(role, "attn_v") || !strcmp(role, "ffn_down")) && more_bits(layer, n_layer))
			return GGML_TYPE_Q6_K;
		return GGML_TYPE_Q4_K;
	}
}

static int add_t(struct gguf_writer *w, const char *name, uint32_t type, uint32_t nd, int64_t a,
		 int64_t b, int64_t c)
{
	int64_t ne[3] = { a, b, c };
	int e = gguf_writer_add_tensor(w, name, type, nd, ne);

	if (e < 0)
		fprintf(stderr, "gguf-synth: tensor %s: %s\n", name, strerror(-e));
	return e;
}

static int add_u32(struct gguf_writer *w, const char *arch, const char *suffix, uint32_t v)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &v);
}

static int add_f32(struct gguf_writer *w, const char *arch, const char *suffix, float v)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return gguf_writer_add_scalar(w, key, GGUF_TYPE_FLOAT32, &v);
}

static int add_s(struct gguf_writer *w, const char *arch, const char *suffix, const char *v)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return gguf_writer_add_str(w, key, v, strlen(v));
}

/* The stand-in tokenizer: n_vocab tokens "tok<i>" and n_merges merges, so
 * the header is as large as the real one. llama.cpp cannot tokenize with it. */
static int add_fake_vocab(struct gguf_writer *w, uint32_t n_vocab, uint32_t n_merges)
{
	char **toks = calloc(n_vocab, sizeof(*toks));
	int32_t *tt = calloc(n_vocab, sizeof(*tt));
	char **merges = n_merges ? calloc(n_merges, sizeof(*merges)) : NULL;
	int e = 0;

	if (!toks || !tt || (n_merges && !merges)) {
		free(toks);
		free(tt);
		free(merges);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n_vocab; i++) {
		char b[24];

		snprintf(b, sizeof(b), "tok%u", i);
		toks[i] = strdup(b);
		tt[i] = 1;
		if (!toks[i])
			e = -ENOMEM;
	}
	for (uint32_t i = 0; i < n_merges; i++) {
		char b[32];

		snprintf(b, sizeof(b), "t%u m%u", i % 997, i);
		merges[i] = strdup(b);
		if (!merges[i])
			e = -ENOMEM;
	}
	if (!e) {
		e |= gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4);
		e |= gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks,
					     n_vocab);
		e |= gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, tt, n_vocab);
		if (n_merges)
			e |= gguf_writer_add_arr_str(w, "tokenizer.ggml.merges",
						     (const char *const *)merges, n_merges);
	}
	for (uint32_t i = 0; i < n_vocab; i++)
		free(toks[i]);
	for (uint32_t i = 0; i < n_merges; i++)
		free(merges[i]);
	free(toks);
	free(tt);
	free(merges);
	return e ? -EINVAL : 0;
}

static int build_legacy(struct gguf_writer *w, const struct shape *s, enum mix m, uint32_t ftype)
{
	const uint32_t F32 = GGML_TYPE_F32;
	char nm[64];
	int e = 0;

	e |= gguf_writer_add_str(w, "general.architecture", s->arch, strlen(s->arch));
	e |= gguf_writer_add_str(w, "general.name", s->title, strlen(s->title));
	e |= gguf_writer_add_scalar(w, "general.file_type", GGUF_TYPE_UINT32, &ftype);
	e |= add_u32(w, s->arch, "context_length", s->n_ctx);
	e |= add_u32(w, s->arch, "embedding_length", s->n_embd);
	e |= add_u32(w, s->arch, "block_count", s->n_layer);
	e |= add_u32(w, s->arch, "feed_forward_length", s->n_ff);
	e |= add_u32(w, s->arch, "attention.head_count", s->n_head);
	e |= add_u32(w, s->arch, "attention.head_count_kv", s->n_head_kv);
	e |= add_u32(w, s->arch, "attention.key_length", s->head_dim);
	e |= add_u32(w, s->arch, "attention.value_length", s->head_dim);
	e |= add_u32(w, s->arch, "rope.dimension_count", s->head_dim);
	if (s->swa)
		e |= add_u32(w, s->arch, "attention.sliding_window", s->swa);
	if (s->n_expert) {
		e |= add_u32(w, s->arch, "expert_count", s->n_expert);
		e |= add_u32(w, s->arch, "expert_used_count", s->n_expert_used);
		e |= add_u32(w, s->arch, "expert_feed_forward_length", s->n_ff_exp);
	}
	if (e)
		return -EINVAL;

	/* a tokenizer the size of the real one, so the header is as large */
	e = add_fake_vocab(w, s->n_vocab, s->n_merges);
	if (e)
		return e;

	uint32_t q = s->n_head * s->head_dim, kv = s->n_head_kv * s->head_dim;

	if (add_t(w, "token_embd.weight", pick(m, "token_embd", 0, 1), 2, s->n_embd, s->n_vocab, 1) < 0)
		return -EINVAL;
	for (uint32_t i = 0; i < s->n_layer; i++) {
#define T(suffix, role, nd, a, b, c) do { \
		snprintf(nm, sizeof(nm), "blk.%u.%s.weight", i, suffix); \
		if (add_t(w, nm, (nd) == 1 || !strcmp(role, "f32") ? F32 : pick(m, role, i, s->n_layer), \
			  nd, a, b, c) < 0) \
			return -EINVAL; \
	} while (0)
		T("attn_norm", "f32", 1, s->n_embd, 1, 1);
		T("attn_q", "attn_q", 2, s->n_embd, q, 1);
		T("attn_k", "attn_k", 2, s->n_embd, kv, 1);
		T("attn_v", "attn_v", 2, s->n_embd, kv, 1);
		T("attn_output", "attn_output", 2, q, s->n_embd, 1);
		if (s->qk_norm) {
			T("attn_q_norm", "f32", 1, s->head_dim, 1, 1);
			T("attn_k_norm", "f32", 1, s->head_dim, 1, 1);
		}
		if (s->post_norms)
			T("post_attention_norm", "f32", 1, s->n_embd, 1, 1);
		T("ffn_norm", "f32", 1, s->n_embd, 1, 1);
		if (s->n_expert) {
			T("ffn_gate_inp", "f32", 2, s->n_embd, s->n_expert, 1);
			T("ffn_gate_exps", "ffn_gate", 3, s->n_embd, s->n_ff_exp, s->n_expert);
			T("ffn_up_exps", "ffn_up", 3, s->n_embd, s->n_ff_exp, s->n_expert);
			T("ffn_down_exps", "ffn_down", 3, s->n_ff_exp, s->n_embd, s->n_expert);
		} else {
			T("ffn_gate", "ffn_gate", 2, s->n_embd, s->n_ff, 1);
			T("ffn_up", "ffn_up", 2, s->n_embd, s->n_ff, 1);
			T("ffn_down", "ffn_down", 2, s->n_ff, s->n_embd, 1);
		}
		if (s->post_norms)
			T("post_ffw_norm", "f32", 1, s->n_embd, 1, 1);
#undef T
	}
	if (add_t(w, "output_norm.weight", F32, 1, s->n_embd, 1, 1) < 0)
		return -EINVAL;
	if (!s->tied &&
	    add_t(w, "output.weight", pick(m, "output", 0, 1), 2, s->n_embd, s->n_vocab, 1) < 0)
		return -EINVAL;
	return 0;
}

/* ---- loadable mode ---- */

/* The tensors are listed first, then typed: llama-quantize's attn_v rule
 * needs the number of attn_v-like tensors before it types the first. */
struct tdesc {
	char name[GGUF_MAX_NAME];
	uint32_t nd;
	int64_t ne[3];
	int32_t layer; /* -1 outside the blocks */
};

struct tlist {
	struct tdesc *t;
	size_t n, cap;
	bool oom;
};

static void tl_add(struct tlist *l, int32_t layer, const char *name, uint32_t nd, int64_t a,
		   int64_t b, int64_t c)
{
	struct tdesc *d;

	if (l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct tdesc *t = realloc(l->t, cap * sizeof(*t));

		if (!t) {
			l->oom = true;
			return;
		}
		l->t = t;
		l->cap = cap;
	}
	d = &l->t[l->n++];
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->nd = nd;
	d->ne[0] = a;
	d->ne[1] = b;
	d->ne[2] = c;
	d->layer = layer;
}

/* blk.<il>.<suffix> */
static void tl_blk(struct tlist *l, uint32_t il, const char *suffix, uint32_t nd, int64_t a,
		   int64_t b, int64_t c)
{
	char nm[GGUF_MAX_NAME];

	snprintf(nm, sizeof(nm), "blk.%u.%s", il, suffix);
	tl_add(l, (int32_t)il, nm, nd, a, b, c);
}

static bool has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n >= k && !memcmp(s + n - k, suf, k);
}

/* What the converter and llama-quantize leave in F32
 * (conversion/base.py, tensor_allows_quantization() in llama-quant.cpp). */
static bool quantizable(const struct tdesc *t)
{
	return t->nd >= 2 && ends_with(t->name, ".weight") && !has(t->name, "_norm.weight") &&
	       !has(t->name, "ffn_gate_inp.weight") && !has(t->name, "ssm_conv1d") &&
	       !has(t->name, "shortconv.conv.weight");
}

enum cat { C_OTHER, C_OUTPUT, C_TOKEN_EMBD, C_ATTN_V, C_ATTN_K, C_ATTN_OUTPUT, C_FFN_DOWN };

/* tensor_get_category() in llama-quant.cpp, as far as Q4_K_M cares */
static enum cat category(const char *name)
{
	if (!strcmp(name, "output.weight"))
		return C_OUTPUT;
	if (!strcmp(name, "token_embd.weight"))
		return C_TOKEN_EMBD;
	if (has(name, "attn_qkv.weight") || has(name, "attn_kv_b.weight") || has(name, "attn_v.weight"))
		return C_ATTN_V;
	if (has(name, "attn_k.weight"))
		return C_ATTN_K;
	if (has(name, "attn_output.weight"))
		return C_ATTN_OUTPUT;
	if (has(name, "ffn_up") || has(name, "ffn_gate"))
		return C_OTHER;
	if (has(name, "ffn_down"))
		return C_FFN_DOWN;
	return C_OTHER;
}

struct qctx {
	enum mix m;
	enum family fam;
	uint32_t n_layer, n_expert;
	bool tied;
	bool is_70b;        /* llama.cpp's LLM_TYPE_70B: attn_v Q4_K -> Q5_K */
	uint32_t n_wv, i_wv; /* attn_v-like tensors: how many, which one is next */
};

/* tensor_type_fallback() in llama-quant.cpp: a row that is not a multiple
 * of the block size gets a type whose block fits, else F16. */
static uint32_t fallback(uint32_t type, int64_t ne0)
{
	const struct ggml_type_info *ti = ggml_type_get(type);

	if (ne0 % ti->blck_size == 0)
		return type;
	switch (type) {
	case GGML_TYPE_Q4_K: type = GGML_TYPE_Q5_0; break;
	case GGML_TYPE_Q5_K: type = GGML_TYPE_Q5_1; break;
	case GGML_TYPE_Q6_K: type = GGML_TYPE_Q8_0; break;
	case GGML_TYPE_Q2_K:
	case GGML_TYPE_Q3_K: type = GGML_TYPE_Q4_0; break;
	default: break;
	}
	return ne0 % ggml_type_get(type)->blck_size == 0 ? type : GGML_TYPE_F16;
}

static uint32_t qtype(struct qctx *q, const struct tdesc *t)
{
	enum cat c = category(t->name);
	bool out_like = c == C_OUTPUT || (q->tied && c == C_TOKEN_EMBD);
	uint32_t ty;

	if (!quantizable(t))
		return GGML_TYPE_F32;
	/* gpt-oss ships its experts in MXFP4; every mix keeps them */
	if (q->fam == FAM_GPTOSS && t->nd == 3 && has(t->name, "_exps.weight"))
		return GGML_TYPE_MXFP4;
	switch (q->m) {
	case MIX_F16:
		return GGML_TYPE_F16;
	case MIX_Q8_0:
		ty = GGML_TYPE_Q8_0;
		break;
	case MIX_MXFP4_MOE:
		ty = !out_like && t->ne[2] > 1 ? GGML_TYPE_MXFP4 : GGML_TYPE_Q8_0;
		break;
	case MIX_Q4_0:
		ty = out_like ? (t->ne[0] % 32 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q6_K) : GGML_TYPE_Q4_0;
		break;
	case MIX_Q4_K_M:
	default:
		ty = GGML_TYPE_Q4_K;
		if (out_like) {
			ty = t->ne[0] % 256 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q6_K;
		} else if (c == C_ATTN_V) {
			if (more_bits(q->i_wv, q->n_wv))
				ty = GGML_TYPE_Q6_K;
			if (q->is_70b && ty == GGML_TYPE_Q4_K)
				ty = GGML_TYPE_Q5_K;
			if (q->n_expert == 8)
				ty = GGML_TYPE_Q8_0;
			q->i_wv++;
		} else if (c == C_ATTN_K) {
			if (q->n_expert == 8)
				ty = GGML_TYPE_Q8_0;
		} else if (c == C_FFN_DOWN) {
			if (t->layer >= 0 && more_bits((uint32_t)t->layer, q->n_layer))
				ty = GGML_TYPE_Q6_K;
		} else if (c == C_ATTN_OUTPUT) {
			if (q->n_expert == 8)
				ty = GGML_TYPE_Q5_K;
		}
		break;
	}
	return fallback(ty, t->ne[0]);
}

static enum family family_of(const struct shape *s)
{
	for (size_t k = 0; k < ARRAY_SIZE(families); k++)
		if (!strcmp(families[k].arch, s->arch))
			return families[k].fam;
	return FAM_LLAMA;
}

static bool is_attn_layer(const struct shape *s, uint32_t il)
{
	return il < 64 && (s->attn_layers >> il) & 1;
}

/* Every key llama.cpp's loader requires for the architecture, and the
 * optional ones the converter writes that change what is allocated. */
static int arch_keys(struct gguf_writer *w, const struct shape *s, enum family fam, uint32_t n_vocab)
{
	const char *a = s->arch;
	int e = 0;

	e |= add_u32(w, a, "context_length", s->n_ctx);
	e |= add_u32(w, a, "embedding_length", s->n_embd);
	e |= add_u32(w, a, "block_count", s->n_layer);
	e |= add_u32(w, a, "feed_forward_length", s->n_ff);
	e |= add_u32(w, a, "attention.head_count", s->n_head);
	if (fam == FAM_LFM2) {
		/* per layer: 0 marks a short-conv (recurrent) layer */
		int32_t *kv = calloc(s->n_layer, sizeof(*kv));

		if (!kv)
			return -ENOMEM;
		for (uint32_t il = 0; il < s->n_layer; il++)
			kv[il] = is_attn_layer(s, il) ? (int32_t)s->n_head_kv : 0;
		e |= gguf_writer_add_arr(w, "lfm2.attention.head_count_kv", GGUF_TYPE_INT32, kv,
					 s->n_layer);
		free(kv);
	} else {
		e |= add_u32(w, a, "attention.head_count_kv", s->n_head_kv);
	}
	e |= add_f32(w, a, "rope.freq_base", s->rope_base);
	e |= add_f32(w, a, "attention.layer_norm_rms_epsilon", s->rms_eps);

	switch (fam) {
	case FAM_LLAMA:
	case FAM_QWEN3:
	case FAM_GEMMA3:
	case FAM_GPTOSS:
		e |= add_u32(w, a, "attention.key_length", s->head_dim);
		e |= add_u32(w, a, "attention.value_length", s->head_dim);
		if (fam == FAM_LLAMA || fam == FAM_GPTOSS)
			e |= add_u32(w, a, "rope.dimension_count", s->head_dim);
		break;
	case FAM_DEEPSEEK2:
		/* MLA as the current converter writes it: one KV head of
		 * kv_lora_rank + rope dims, the decompressed sizes in *_mla */
		e |= add_u32(w, a, "leading_dense_block_count", s->n_dense_lead);
		e |= add_u32(w, a, "vocab_size", n_vocab);
		/* llama.cpp requires q_lora_rank unless the layer count is a
		 * "lite" one (26 or 27); 0 selects the plain attn_q */
		if (s->q_lora_rank || (s->n_layer != 26 && s->n_layer != 27))
			e |= add_u32(w, a, "attention.q_lora_rank", s->q_lora_rank);
		e |= add_u32(w, a, "attention.kv_lora_rank", s->kv_lora_rank);
		e |= add_u32(w, a, "attention.key_length", s->kv_lora_rank + s->qk_rope_dim);
		e |= add_u32(w, a, "attention.value_length", s->kv_lora_rank);
		e |= add_u32(w, a, "attention.key_length_mla", s->qk_nope_dim + s->qk_rope_dim);
		e |= add_u32(w, a, "attention.value_length_mla", s->v_head_dim);
		e |= add_u32(w, a, "expert_shared_count", s->n_expert_shared);
		e |= add_f32(w, a, "expert_weights_scale", s->expert_weights_scale);
		e |= add_u32(w, a, "rope.dimension_count", s->qk_rope_dim);
		break;
	case FAM_LFM2:
		e |= add_u32(w, a, "vocab_size", n_vocab);
		e |= add_u32(w, a, "shortconv.l_cache", s->l_cache);
		break;
	case FAM_PHI3:
		e |= add_u32(w, a, "rope.dimension_count", s->n_embd / s->n_head);
		e |= add_u32(w, a, "rope.scaling.original_context_length", s->rope_orig_ctx);
		if (s->rope_attn_factor != 0.0f)
			e |= add_f32(w, a, "rope.scaling.attn_factor", s->rope_attn_factor);
		break;
	}
	if (s->swa)
		e |= add_u32(w, a, "attention.sliding_window", s->swa);
	if (s->rope_base_swa != 0.0f)
		e |= add_f32(w, a, "rope.freq_base_swa", s->rope_base_swa);
	if (s->rope_scaling) {
		e |= add_s(w, a, "rope.scaling.type", s->rope_scaling);
		e |= add_f32(w, a, "rope.scaling.factor", s->rope_factor);
		if (s->rope_orig_ctx)
			e |= add_u32(w, a, "rope.scaling.original_context_length", s->rope_orig_ctx);
		if (s->yarn_log_mul != 0.0f)
			e |= add_f32(w, a, "rope.scaling.yarn_log_multiplier", s->yarn_log_mul);
	}
	if (s->n_expert) {
		e |= add_u32(w, a, "expert_count", s->n_expert);
		e |= add_u32(w, a, "expert_used_count", s->n_expert_used);
		e |= add_u32(w, a, "expert_feed_forward_length", s->n_ff_exp);
	}
	return e ? -EINVAL : 0;
}

/* The tensors llama.cpp's load_arch_tensors() creates (src/models/<arch>.cpp),
 * in the order the converters write them. */
static void arch_tensors(struct tlist *l, const struct shape *s, enum family fam, uint32_t n_vocab)
{
	const int64_t E = s->n_embd, V = n_vocab, F = s->n_ff, X = s->n_expert, FX = s->n_ff_exp;
	const int64_t hd = s->head_dim, H = s->n_head, HKV = s->n_head_kv;

	if (s->rope_freqs)
		tl_add(l, -1, "rope_freqs.weight", 1, hd / 2, 1, 1);
	if (fam == FAM_PHI3 && s->rope_factors) {
		tl_add(l, -1, "rope_factors_long.weight", 1, E / H / 2, 1, 1);
		tl_add(l, -1, "rope_factors_short.weight", 1, E / H / 2, 1, 1);
	}
	tl_add(l, -1, "token_embd.weight", 2, E, V, 1);

	for (uint32_t i = 0; i < s->n_layer; i++) {
		switch (fam) {
		case FAM_LLAMA:
		case FAM_QWEN3:
		case FAM_GEMMA3:
			tl_blk(l, i, "attn_norm.weight", 1, E, 1, 1);
			tl_blk(l, i, "attn_q.weight", 2, E, H * hd, 1);
			tl_blk(l, i, "attn_k.weight", 2, E, HKV * hd, 1);
			tl_blk(l, i, "attn_v.weight", 2, E, HKV * hd, 1);
			tl_blk(l, i, "attn_output.weight", 2, H * hd, E, 1);
			if (s->qk_norm) {
				tl_blk(l, i, "attn_q_norm.weight", 1, hd, 1, 1);
				tl_blk(l, i, "attn_k_norm.weight", 1, hd, 1, 1);
			}
			if (s->post_norms)
				tl_blk(l, i, "post_attention_norm.weight", 1, E, 1, 1);
			tl_blk(l, i, "ffn_norm.weight", 1, E, 1, 1);
			if (X) {
				tl_blk(l, i, "ffn_gate_inp.weight", 2, E, X, 1);
				tl_blk(l, i, "ffn_gate_exps.weight", 3, E, FX, X);
				tl_blk(l, i, "ffn_up_exps.weight", 3, E, FX, X);
				tl_blk(l, i, "ffn_down_exps.weight", 3, FX, E, X);
			} else {
				tl_blk(l, i, "ffn_gate.weight", 2, E, F, 1);
				tl_blk(l, i, "ffn_up.weight", 2, E, F, 1);
				tl_blk(l, i, "ffn_down.weight", 2, F, E, 1);
			}
			if (s->post_norms)
				tl_blk(l, i, "post_ffw_norm.weight", 1, E, 1, 1);
			break;
		case FAM_DEEPSEEK2: {
			const int64_t kvr = s->kv_lora_rank, rope = s->qk_rope_dim;
			const int64_t nope = s->qk_nope_dim, vd = s->v_head_dim;

			tl_blk(l, i, "attn_norm.weight", 1, E, 1, 1);
			if (s->q_lora_rank) {
				tl_blk(l, i, "attn_q_a_norm.weight", 1, s->q_lora_rank, 1, 1);
				tl_blk(l, i, "attn_q_a.weight", 2, E, s->q_lora_rank, 1);
				tl_blk(l, i, "attn_q_b.weight", 2, s->q_lora_rank, H * (nope + rope), 1);
			} else {
				tl_blk(l, i, "attn_q.weight", 2, E, H * (nope + rope), 1);
			}
			tl_blk(l, i, "attn_kv_a_norm.weight", 1, kvr, 1, 1);
			tl_blk(l, i, "attn_kv_a_mqa.weight", 2, E, kvr + rope, 1);
			tl_blk(l, i, "attn_k_b.weight", 3, nope, kvr, H);
			tl_blk(l, i, "attn_v_b.weight", 3, kvr, vd, H);
			tl_blk(l, i, "attn_output.weight", 2, H * vd, E, 1);
			tl_blk(l, i, "ffn_norm.weight", 1, E, 1, 1);
			if (i < s->n_dense_lead) {
				tl_blk(l, i, "ffn_gate.weight", 2, E, F, 1);
				tl_blk(l, i, "ffn_up.weight", 2, E, F, 1);
				tl_blk(l, i, "ffn_down.weight", 2, F, E, 1);
			} else {
				const int64_t FS = FX * s->n_expert_shared;

				tl_blk(l, i, "ffn_gate_inp.weight", 2, E, X, 1);
				tl_blk(l, i, "ffn_gate_exps.weight", 3, E, FX, X);
				tl_blk(l, i, "ffn_up_exps.weight", 3, E, FX, X);
				tl_blk(l, i, "ffn_down_exps.weight", 3, FX, E, X);
				tl_blk(l, i, "ffn_gate_shexp.weight", 2, E, FS, 1);
				tl_blk(l, i, "ffn_up_shexp.weight", 2, E, FS, 1);
				tl_blk(l, i, "ffn_down_shexp.weight", 2, FS, E, 1);
			}
			break;
		}
		case FAM_GPTOSS:
			tl_blk(l, i, "attn_norm.weight", 1, E, 1, 1);
			tl_blk(l, i, "attn_q.weight", 2, E, H * hd, 1);
			tl_blk(l, i, "attn_q.bias", 1, H * hd, 1, 1);
			tl_blk(l, i, "attn_k.weight", 2, E, HKV * hd, 1);
			tl_blk(l, i, "attn_k.bias", 1, HKV * hd, 1, 1);
			tl_blk(l, i, "attn_v.weight", 2, E, HKV * hd, 1);
			tl_blk(l, i, "attn_v.bias", 1, HKV * hd, 1, 1);
			tl_blk(l, i, "attn_output.weight", 2, H * hd, E, 1);
			tl_blk(l, i, "attn_output.bias", 1, E, 1, 1);
			tl_blk(l, i, "attn_sinks.weight", 1, H, 1, 1);
			tl_blk(l, i, "post_attention_norm.weight", 1, E, 1, 1);
			tl_blk(l, i, "ffn_gate_inp.weight", 2, E, X, 1);
			tl_blk(l, i, "ffn_gate_inp.bias", 1, X, 1, 1);
			tl_blk(l, i, "ffn_gate_exps.weight", 3, E, FX, X);
			tl_blk(l, i, "ffn_gate_exps.bias", 2, FX, X, 1);
			tl_blk(l, i, "ffn_up_exps.weight", 3, E, FX, X);
			tl_blk(l, i, "ffn_up_exps.bias", 2, FX, X, 1);
			tl_blk(l, i, "ffn_down_exps.weight", 3, FX, E, X);
			tl_blk(l, i, "ffn_down_exps.bias", 2, E, X, 1);
			break;
		case FAM_LFM2:
			tl_blk(l, i, "ffn_norm.weight", 1, E, 1, 1);
			tl_blk(l, i, "ffn_gate.weight", 2, E, F, 1);
			tl_blk(l, i, "ffn_up.weight", 2, E, F, 1);
			tl_blk(l, i, "ffn_down.weight", 2, F, E, 1);
			tl_blk(l, i, "attn_norm.weight", 1, E, 1, 1);
			if (is_attn_layer(s, i)) {
				const int64_t kv = HKV * (E / H);

				tl_blk(l, i, "attn_q_norm.weight", 1, E / H, 1, 1);
				tl_blk(l, i, "attn_k_norm.weight", 1, E / H, 1, 1);
				tl_blk(l, i, "attn_q.weight", 2, E, E, 1);
				tl_blk(l, i, "attn_k.weight", 2, E, kv, 1);
				tl_blk(l, i, "attn_v.weight", 2, E, kv, 1);
				tl_blk(l, i, "attn_output.weight", 2, E, E, 1);
			} else {
				tl_blk(l, i, "shortconv.conv.weight", 2, s->l_cache, E, 1);
				tl_blk(l, i, "shortconv.in_proj.weight", 2, E, 3 * E, 1);
				tl_blk(l, i, "shortconv.out_proj.weight", 2, E, E, 1);
			}
			break;
		case FAM_PHI3: {
			const int64_t kv = HKV * (E / H);

			tl_blk(l, i, "attn_norm.weight", 1, E, 1, 1);
			tl_blk(l, i, "attn_qkv.weight", 2, E, E + 2 * kv, 1);
			tl_blk(l, i, "attn_output.weight", 2, E, E, 1);
			tl_blk(l, i, "ffn_norm.weight", 1, E, 1, 1);
			tl_blk(l, i, "ffn_up.weight", 2, E, 2 * F, 1);
			tl_blk(l, i, "ffn_down.weight", 2, F, E, 1);
			break;
		}
		}
	}
	/* lfm2's final norm is named token_embd_norm (LLM_TENSOR_OUTPUT_NORM_LFM2) */
	tl_add(l, -1, fam == FAM_LFM2 ? "token_embd_norm.weight" : "output_norm.weight", 1, E, 1, 1);
	if (!s->tied)
		tl_add(l, -1, "output.weight", 2, E, V, 1);
}

/* Copies every tokenizer.* key of a GGUF file (llama.cpp's
 * models/ggml-vocab-*.gguf) and returns its token count in *n_vocab. */
static int copy_vocab(struct gguf_writer *w, const char *path, uint32_t *n_vocab)
{
	struct io_gguf *g = NULL;
	struct diag d;
	const struct gguf_file *f;
	uint64_t n_tok = 0;
	int e;

	diag_init(&d);
	e = io_gguf_open(path, &g, &d);
	if (e < 0) {
		fprintf(stderr, "gguf-synth: %s: %s\n", path, d.msg[0] ? d.msg : strerror(-e));
		return e;
	}
	f = g->gf;
	for (uint64_t i = 0; i < f->n_kv && e == 0; i++) {
		const struct gguf_kv *kv = &f->kvs[i];
		struct gguf_str k = gguf_kv_key(f, i);
		char key[256];

		if (k.n >= sizeof(key) || k.n < 10 || memcmp(k.p, "tokenizer.", 10))
			continue;
		memcpy(key, k.p, k.n);
		key[k.n] = '\0';
		if (kv->type == GGUF_TYPE_STRING) {
			struct gguf_str v;

			e = gguf_kv_get_str(f, i, &v);
			if (e == 0)
				e = gguf_writer_add_str(w, key, v.p, v.n);
		} else if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING) {
			char **strs = calloc(kv->n ? kv->n : 1, sizeof(*strs));
			uint64_t pos = 0, j = 0;
			struct gguf_str v;

			if (!strs)
				e = -ENOMEM;
			for (; e == 0 && j < kv->n; j++) {
				e = gguf_kv_arr_next_str(f, i, &pos, &v);
				if (e == 0 && memchr(v.p, '\0', v.n)) {
					fprintf(stderr, "gguf-synth: %s: %s[%llu] holds a NUL byte\n", path,
						key, (unsigned long long)j);
					e = -EINVAL;
				}
				if (e == 0 && !(strs[j] = malloc(v.n + 1)))
					e = -ENOMEM;
				if (e == 0) {
					memcpy(strs[j], v.p, v.n);
					strs[j][v.n] = '\0';
				}
			}
			if (e == 0)
				e = gguf_writer_add_arr_str(w, key, (const char *const *)strs, kv->n);
			for (uint64_t x = 0; strs && x < kv->n; x++)
				free(strs[x]);
			free(strs);
			if (e == 0 && !strcmp(key, "tokenizer.ggml.tokens"))
				n_tok = kv->n;
		} else if (kv->type == GGUF_TYPE_ARRAY) {
			e = gguf_writer_add_arr(w, key, kv->arr_type, f->buf + kv->val_off, kv->n);
		} else {
			e = gguf_writer_add_scalar(w, key, kv->type, f->buf + kv->val_off);
		}
		if (e)
			fprintf(stderr, "gguf-synth: %s: copying %s: %s\n", path, key, strerror(-e));
	}
	io_gguf_free(g);
	if (e == 0 && (n_tok == 0 || n_tok > UINT32_MAX)) {
		fprintf(stderr, "gguf-synth: %s: no tokenizer.ggml.tokens\n", path);
		e = -EINVAL;
	}
	if (e == 0)
		*n_vocab = (uint32_t)n_tok;
	return e;
}

/* The token count of a vocabulary file. */
static int vocab_size(const char *path, uint32_t *n_vocab)
{
	struct io_gguf *g = NULL;
	struct diag d;
	int64_t k;
	int e;

	diag_init(&d);
	e = io_gguf_open(path, &g, &d);
	if (e < 0) {
		fprintf(stderr, "gguf-synth: %s: %s\n", path, d.msg[0] ? d.msg : strerror(-e));
		return e;
	}
	k = gguf_kv_find(g->gf, "tokenizer.ggml.tokens");
	if (k < 0 || g->gf->kvs[k].type != GGUF_TYPE_ARRAY ||
	    g->gf->kvs[k].arr_type != GGUF_TYPE_STRING || g->gf->kvs[k].n == 0 ||
	    g->gf->kvs[k].n > UINT32_MAX) {
		fprintf(stderr, "gguf-synth: %s: no tokenizer.ggml.tokens string array\n", path);
		e = -EINVAL;
	} else {
		*n_vocab = (uint32_t)g->gf->kvs[k].n;
	}
	io_gguf_free(g);
	return e;
}

/* weight_name_comparer in llama-model-loader.h: tensors outside the blocks
 * first, then by block number, by name within each. */
static int cmp_quantize_order(const void *pa, const void *pb)
{
	const struct tdesc *a = pa, *b = pb;

	if (a->layer != b->layer)
		return a->layer < b->layer ? -1 : 1;
	return strcmp(a->name, b->name);
}

static int build_full(struct gguf_writer *w, const struct shape *s, enum mix m, uint32_t ftype,
		      const char *vocab_from, bool sorted)
{
	enum family fam = family_of(s);
	struct tlist l = { 0 };
	struct qctx q = { .m = m, .fam = fam, .n_layer = s->n_layer, .n_expert = s->n_expert,
			  .tied = s->tied };
	uint32_t n_vocab = s->n_vocab, qv = 2;
	int e = 0;

	e |= gguf_writer_add_str(w, "general.architecture", s->arch, strlen(s->arch));
	e |= gguf_writer_add_str(w, "general.name", s->title, strlen(s->title));
	e |= gguf_writer_add_scalar(w, "general.file_type", GGUF_TYPE_UINT32, &ftype);
	if (m != MIX_F16)
		e |= gguf_writer_add_scalar(w, "general.quantization_version", GGUF_TYPE_UINT32, &qv);
	if (e)
		return -EINVAL;
	/* the vocabulary size decides keys written before the tokenizer */
	if (vocab_from) {
		e = vocab_size(vocab_from, &n_vocab);
		if (e)
			return e;
	}
	e = arch_keys(w, s, fam, n_vocab);
	if (e)
		return e;
	e = vocab_from ? copy_vocab(w, vocab_from, &n_vocab) : add_fake_vocab(w, n_vocab, s->n_merges);
	if (e)
		return e;

	arch_tensors(&l, s, fam, n_vocab);
	if (l.oom) {
		free(l.t);
		return -ENOMEM;
	}
	/* llama-quantize writes the tensors in its loader's order (a Q4_K_M or
	 * Q4_0 file always comes from it); the converter, which can write F16,
	 * Q8_0 and gpt-oss's MXFP4 directly, keeps the order it was given */
	if (sorted)
		qsort(l.t, l.n, sizeof(*l.t), cmp_quantize_order);
	q.is_70b = fam == FAM_LLAMA && s->n_layer == 80 && s->n_head != s->n_head_kv;
	for (size_t i = 0; i < l.n; i++)
		if (category(l.t[i].name) == C_ATTN_V)
			q.n_wv++;
	for (size_t i = 0; i < l.n && e == 0; i++) {
		const struct tdesc *t = &l.t[i];

		if (add_t(w, t->name, qtype(&q, t), t->nd, t->ne[0], t->ne[1], t->ne[2]) < 0)
			e = -EINVAL;
	}
	free(l.t);
	return e;
}

/* ---- command line ---- */

static void usage(FILE *fp)
{
	fputs("usage: gguf-synth --shape NAME [--ftype q4_k_m|q8_0|f16|q4_0|mxfp4_moe]\n"
	      "                  [--vocab-from VOCAB.gguf] [--order auto|quantize|convert]\n"
	      "                  [--random SEED] [SIZE OPTIONS] OUT.gguf\n"
	      "       gguf-synth --list\n"
	      "       gguf-synth --describe\n"
	      "\n"
	      "--vocab-from FILE copies every tokenizer.* key of FILE (llama.cpp's\n"
	      "models/ggml-vocab-*.gguf) and sizes token_embd/output to its token\n"
	      "count; with it the real llama-server loads the file.\n"
	      "--random SEED writes tensor data (norms near 1, small weights; F32, F16\n"
	      "and Q8_0 only) instead of a hole, for models whose output must be numbers.\n"
	      "--order: the tensor order of the file. quantize = llama-quantize's (tensors\n"
	      "outside the blocks, then block by block, by name within each); convert =\n"
	      "the converter's (token_embd, the blocks, output_norm, output); auto (the\n"
	      "default) = quantize for q4_k_m and q4_0, convert otherwise.\n"
	      "SIZE OPTIONS (each N >= 1; --describe says which a shape takes):\n"
	      "  --layers N --embd N --ff N --ff-exp N --heads N --kv-heads N\n"
	      "  --head-dim N --experts N --experts-used N --ctx-train N --swa N\n"
	      "The original six shapes given none of these (and one of the first four\n"
	      "ftypes) write the same bytes as before: a stand-in tokenizer that\n"
	      "llama.cpp cannot load.\n", fp);
}

static void describe(void)
{
	for (size_t k = 0; k < ARRAY_SIZE(shapes); k++) {
		const struct shape *s = &shapes[k];
		uint32_t m = ovr_allowed(s, family_of(s));

		printf("%-18s arch %-9s vocab ggml-vocab-%s.gguf%s\n   options:", s->name, s->arch,
		       s->vocab ? s->vocab : "?", s->legacy ? " (legacy without options)" : "");
		for (int o = 0; o < O_COUNT; o++)
			if (m & OB(o))
				printf(" %s", ovr_names[o]);
		printf("\n");
	}
}

static int parse_u32(const char *opt, const char *v, uint32_t *ret)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *end || x < 1 || x > UINT32_MAX || v[0] == '-') {
		fprintf(stderr, "gguf-synth: %s wants a whole number >= 1, not '%s'\n", opt, v);
		return -1;
	}
	*ret = (uint32_t)x;
	return 0;
}

/* Applies the overrides to a copy of the shape and checks what llama.cpp
 * would refuse. */
static int apply_overrides(struct shape *s, const uint32_t *ov, uint32_t given)
{
	enum family fam = family_of(s);
	uint32_t bad = given & ~ovr_allowed(s, fam);

	for (int o = 0; o < O_COUNT; o++)
		if (bad & OB(o)) {
			fprintf(stderr, "gguf-synth: shape %s (%s) does not take %s\n", s->name, s->arch,
				ovr_names[o]);
			return -1;
		}
	if (given & OB(O_LAYERS))
		s->n_layer = ov[O_LAYERS];
	if (given & OB(O_EMBD))
		s->n_embd = ov[O_EMBD];
	if (given & OB(O_FF))
		s->n_ff = ov[O_FF];
	if (given & OB(O_FF_EXP))
		s->n_ff_exp = ov[O_FF_EXP];
	if (given & OB(O_HEADS))
		s->n_head = ov[O_HEADS];
	if (given & OB(O_KV_HEADS))
		s->n_head_kv = ov[O_KV_HEADS];
	if (given & OB(O_HEAD_DIM))
		s->head_dim = ov[O_HEAD_DIM];
	if (given & OB(O_EXPERTS))
		s->n_expert = ov[O_EXPERTS];
	if (given & OB(O_EXPERTS_USED))
		s->n_expert_used = ov[O_EXPERTS_USED];
	if (given & OB(O_CTX_TRAIN))
		s->n_ctx = ov[O_CTX_TRAIN];
	if (given & OB(O_SWA))
		s->swa = ov[O_SWA];
	if (fam == FAM_LFM2 || fam == FAM_PHI3)
		s->head_dim = s->n_embd / s->n_head;
	if (fam == FAM_GPTOSS && !(given & OB(O_FF_EXP)) && (given & OB(O_FF)))
		s->n_ff_exp = s->n_ff; /* gpt-oss has one intermediate size */
	if (s->n_layer > 512) {
		fprintf(stderr, "gguf-synth: llama.cpp takes at most 512 layers\n");
		return -1;
	}
	if (s->n_expert && (s->n_expert_used > s->n_expert || s->n_expert > 512)) {
		fprintf(stderr, "gguf-synth: need experts-used <= experts <= 512\n");
		return -1;
	}
	if (fam != FAM_DEEPSEEK2 && s->n_head % s->n_head_kv) {
		fprintf(stderr, "gguf-synth: heads (%u) must be a multiple of kv-heads (%u)\n",
			s->n_head, s->n_head_kv);
		return -1;
	}
	if ((fam == FAM_LFM2 || fam == FAM_PHI3) && s->n_embd % s->n_head) {
		fprintf(stderr, "gguf-synth: %s needs embd a multiple of heads\n", s->arch);
		return -1;
	}
	if (s->head_dim % 2 || (fam == FAM_PHI3 && (s->n_embd / s->n_head) % 2)) {
		fprintf(stderr, "gguf-synth: the head size must be even (rope)\n");
		return -1;
	}
	return 0;
}

/* --random SEED: tensor data a model computes with (no NaN from all-zero
 * norms): norms near 1, other weights small, from a fixed-seed generator,
 * for F32, F16 and Q8_0 tensors. */
struct fill {
	const struct gguf_writer *w;
	uint64_t state;
};

static uint32_t fill_next(struct fill *f)
{
	f->state = f->state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(f->state >> 33);
}

static float fill_unit(struct fill *f) /* in [-1, 1) */
{
	return (float)fill_next(f) / (float)(1u << 30) - 1.0f;
}

static uint16_t to_half(float x)
{
	uint32_t b, sign, exp, man;

	memcpy(&b, &x, 4);
	sign = (b >> 16) & 0x8000;
	exp = (b >> 23) & 0xff;
	man = b & 0x7fffff;
	if (exp < 103)
		return (uint16_t)sign; /* too small: zero */
	if (exp < 113) /* subnormal half */
		return (uint16_t)(sign | ((man | 0x800000) >> (126 - exp)));
	return (uint16_t)(sign | ((exp - 112) << 10) | (man >> 13));
}

static int fill_data(void *userdata, uint64_t i, uint8_t *buf, uint64_t n)
{
	struct fill *f = userdata;
	uint32_t type = gguf_writer_tensor_type(f->w, i);
	bool norm = strstr(gguf_writer_tensor_name(f->w, i), "norm") != NULL;

	switch (type) {
	case GGML_TYPE_F32:
		for (uint64_t k = 0; k + 4 <= n; k += 4) {
			float v = norm ? 1.0f + 0.1f * fill_unit(f) : 0.05f * fill_unit(f);

			memcpy(buf + k, &v, 4);
		}
		return 0;
	case GGML_TYPE_F16:
		for (uint64_t k = 0; k + 2 <= n; k += 2) {
			uint16_t h = to_half(norm ? 1.0f + 0.1f * fill_unit(f) : 0.05f * fill_unit(f));

			memcpy(buf + k, &h, 2);
		}
		return 0;
	case GGML_TYPE_Q8_0:
		for (uint64_t k = 0; k + 34 <= n; k += 34) {
			uint16_t d = to_half(0.05f / 127.0f);

			memcpy(buf + k, &d, 2);
			for (int j = 0; j < 32; j++)
				buf[k + 2 + j] = (uint8_t)(int8_t)((int)(fill_next(f) % 255) - 127);
		}
		return 0;
	default:
		fprintf(stderr, "gguf-synth: --random fills F32, F16 and Q8_0 tensors only (use --ftype q8_0 or f16)\n");
		return -EINVAL;
	}
}

int main(int argc, char **argv)
{
	const char *shape = NULL, *ftype = "q4_k_m", *out = NULL, *vocab_from = NULL, *order = NULL;
	const char *seed = NULL;
	const struct shape *base = NULL;
	struct shape s;
	uint32_t ov[O_COUNT] = { 0 }, given = 0;
	struct gguf_writer *w;
	enum mix m;
	uint32_t ft;
	bool legacy, sorted;
	int e;

	for (int i = 1; i < argc; i++) {
		int o;

		for (o = 0; o < O_COUNT; o++)
			if (!strcmp(argv[i], ovr_names[o]))
				break;
		if (o < O_COUNT && i + 1 < argc) {
			if (parse_u32(argv[i], argv[i + 1], &ov[o]) < 0)
				return 2;
			given |= OB(o);
			i++;
		} else if (!strcmp(argv[i], "--list")) {
			for (size_t k = 0; k < ARRAY_SIZE(shapes); k++)
				printf("%s\n", shapes[k].name);
			return 0;
		} else if (!strcmp(argv[i], "--describe")) {
			describe();
			return 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
			shape = argv[++i];
		} else if (!strcmp(argv[i], "--ftype") && i + 1 < argc) {
			ftype = argv[++i];
		} else if (!strcmp(argv[i], "--vocab-from") && i + 1 < argc) {
			vocab_from = argv[++i];
		} else if (!strcmp(argv[i], "--order") && i + 1 < argc) {
			order = argv[++i];
		} else if (!strcmp(argv[i], "--random") && i + 1 < argc) {
			seed = argv[++i];
		} else if (argv[i][0] != '-' && !out) {
			out = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!shape || !out) {
		usage(stderr);
		return 2;
	}
	for (size_t k = 0; k < ARRAY_SIZE(shapes); k++)
		if (!strcmp(shapes[k].name, shape))
			base = &shapes[k];
	if (!base) {
		fprintf(stderr, "gguf-synth: unknown shape '%s' (see --list)\n", shape);
		return 2;
	}
	if (!strcasecmp(ftype, "q4_k_m"))
		m = MIX_Q4_K_M;
	else if (!strcasecmp(ftype, "q8_0"))
		m = MIX_Q8_0;
	else if (!strcasecmp(ftype, "f16"))
		m = MIX_F16;
	else if (!strcasecmp(ftype, "q4_0"))
		m = MIX_Q4_0;
	else if (!strcasecmp(ftype, "mxfp4_moe"))
		m = MIX_MXFP4_MOE;
	else {
		fprintf(stderr, "gguf-synth: unknown --ftype '%s'\n", ftype);
		return 2;
	}
	s = *base;
	if (apply_overrides(&s, ov, given) < 0)
		return 2;
	if (!order || !strcmp(order, "auto"))
		sorted = m == MIX_Q4_K_M || m == MIX_Q4_0;
	else if (!strcmp(order, "quantize"))
		sorted = true;
	else if (!strcmp(order, "convert"))
		sorted = false;
	else {
		fprintf(stderr, "gguf-synth: --order takes auto, quantize or convert\n");
		return 2;
	}
	legacy = s.legacy && !vocab_from && !given && m != MIX_MXFP4_MOE && !order;
	e = llama_ftype_find(ftype);
	ft = e < 0 ? 0 : (uint32_t)e;
	w = gguf_writer_new();
	if (!w)
		return 1;
	e = legacy ? build_legacy(w, &s, m, ft) : build_full(w, &s, m, ft, vocab_from, sorted);
	if (e < 0 && vocab_from && !legacy) {
		/* copy_vocab() and vocab_size() said what is wrong */
		fprintf(stderr, "gguf-synth: %s not written\n", out);
		gguf_writer_free(w);
		return 1;
	}
	if (e == 0 && seed) {
		struct fill f = { w, strtoull(seed, NULL, 10) * 2654435761u + 1 };

		e = io_gguf_write(out, w, fill_data, &f);
	} else if (e == 0) {
		e = io_gguf_write(out, w, NULL, NULL);
	}
	gguf_writer_free(w);
	if (e < 0) {
		fprintf(stderr, "gguf-synth: %s: %s\n", out, strerror(-e));
		return 1;
	}
	return 0;
}
