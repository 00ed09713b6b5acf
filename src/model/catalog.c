/* catalog.c: the catalog's data (each entry from the model's published
 * config.json, as llama.cpp's converter reads it) and the code that turns
 * an entry into GGUF metadata and tensors. The tensor layouts follow the
 * pinned llama.cpp's load_arch_tensors() (src/models/<arch>.cpp), as
 * tests/tools/gguf-synth.c does; t-quants.sh checks them against the real
 * llama-quantize. */
#include "base/compat.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/checked.h"
#include "gguf/ggml-type.h"
#include "model/catalog.h"

#define LLAMA3 .vocab = "llama-bpe", .family = CAT_LLAMA, .arch = "llama", .rms_eps = 1e-5f, \
	.rope_base = 500000.0f, .rope_freqs = true, .n_vocab = 128256, .n_ctx = 131072, \
	.n_merges = 280147
#define QWEN25 .vocab = "qwen2", .family = CAT_QWEN2, .arch = "qwen2", .rms_eps = 1e-6f, \
	.rope_base = 1000000.0f, .qkv_bias = true, .n_vocab = 152064, .n_ctx = 32768, \
	.n_merges = 151387
#define QWEN3 .vocab = "qwen2", .family = CAT_QWEN3, .arch = "qwen3", .rms_eps = 1e-6f, \
	.rope_base = 1000000.0f, .qk_norm = true, .n_vocab = 151936, .n_ctx = 40960, \
	.n_merges = 151387
#define QWEN3MOE .vocab = "qwen2", .family = CAT_QWEN3, .arch = "qwen3moe", .rms_eps = 1e-6f, \
	.rope_base = 1000000.0f, .qk_norm = true, .n_vocab = 151936, .n_ctx = 40960, \
	.n_merges = 151387
#define GEMMA3 .vocab = "gemma-4", .family = CAT_GEMMA3, .arch = "gemma3", .rms_eps = 1e-6f, \
	.rope_base = 1000000.0f, .rope_base_swa = 10000.0f, .qk_norm = true, .tied = true
/* 4B and up: a 262208-token vocabulary, 128k context, linear rope x8 */
#define GEMMA3_LARGE GEMMA3, .n_vocab = 262208, .n_ctx = 131072, .swa = 1024, \
	.rope_scaling = CAT_ROPE_LINEAR, .rope_factor = 8.0f
#define GPTOSS .vocab = "gpt-2", .family = CAT_GPTOSS, .arch = "gpt-oss", .rms_eps = 1e-5f, \
	.rope_base = 150000.0f, .n_vocab = 201088, .n_ctx = 131072, .n_merges = 446189, \
	.rope_scaling = CAT_ROPE_YARN, .rope_factor = 32.0f, .rope_orig_ctx = 4096, .swa = 128, \
	.n_embd = 2880, .n_ff = 2880, .n_ff_exp = 2880, .n_head = 64, .n_head_kv = 8, \
	.head_dim = 64, .n_expert_used = 4
#define DSV3 .vocab = "", .family = CAT_DEEPSEEK2, .arch = "deepseek2", .rms_eps = 1e-6f, \
	.rope_base = 10000.0f, .n_layer = 61, .n_embd = 7168, .n_ff = 18432, .n_head = 128, \
	.n_head_kv = 1, .n_vocab = 129280, .n_ctx = 163840, .n_merges = 127741, \
	.n_expert = 256, .n_expert_used = 8, .n_ff_exp = 2048, .n_expert_shared = 1, \
	.n_dense_lead = 3, .q_lora_rank = 1536, .kv_lora_rank = 512, .qk_rope_dim = 64, \
	.qk_nope_dim = 128, .v_head_dim = 128, .expert_gating = 2, .expert_weights_norm = true, \
	.expert_weights_scale = 2.5f, .n_expert_groups = 8, .n_group_used = 4, \
	.rope_scaling = CAT_ROPE_YARN, .rope_factor = 40.0f, .rope_orig_ctx = 4096, \
	.yarn_log_mul = 0.1f

static const struct catalog_model models[] = {
	{ .name = "llama-3.1-8b", .title = "Llama 3.1 8B Instruct", LLAMA3,
	  .n_layer = 32, .n_embd = 4096, .n_ff = 14336, .n_head = 32, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "llama-3.2-1b", .title = "Llama 3.2 1B Instruct", LLAMA3, .tied = true,
	  .n_layer = 16, .n_embd = 2048, .n_ff = 8192, .n_head = 32, .n_head_kv = 8, .head_dim = 64 },
	{ .name = "llama-3.2-3b", .title = "Llama 3.2 3B Instruct", LLAMA3, .tied = true,
	  .n_layer = 28, .n_embd = 3072, .n_ff = 8192, .n_head = 24, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "llama-3.3-70b", .title = "Llama 3.3 70B Instruct", LLAMA3,
	  .n_layer = 80, .n_embd = 8192, .n_ff = 28672, .n_head = 64, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "llama-3.1-405b", .title = "Llama 3.1 405B Instruct", LLAMA3,
	  .n_layer = 126, .n_embd = 16384, .n_ff = 53248, .n_head = 128, .n_head_kv = 8,
	  .head_dim = 128 },
	{ .name = "qwen2.5-7b", .title = "Qwen2.5 7B Instruct", QWEN25,
	  .n_layer = 28, .n_embd = 3584, .n_ff = 18944, .n_head = 28, .n_head_kv = 4, .head_dim = 128 },
	{ .name = "qwen2.5-14b", .title = "Qwen2.5 14B Instruct", QWEN25,
	  .n_layer = 48, .n_embd = 5120, .n_ff = 13824, .n_head = 40, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen2.5-32b", .title = "Qwen2.5 32B Instruct", QWEN25,
	  .n_layer = 64, .n_embd = 5120, .n_ff = 27648, .n_head = 40, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen2.5-72b", .title = "Qwen2.5 72B Instruct", QWEN25,
	  .n_layer = 80, .n_embd = 8192, .n_ff = 29568, .n_head = 64, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen3-0.6b", .title = "Qwen3 0.6B", QWEN3, .tied = true,
	  .n_layer = 28, .n_embd = 1024, .n_ff = 3072, .n_head = 16, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen3-1.7b", .title = "Qwen3 1.7B", QWEN3, .tied = true,
	  .n_layer = 28, .n_embd = 2048, .n_ff = 6144, .n_head = 16, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen3-4b", .title = "Qwen3 4B", QWEN3, .tied = true,
	  .n_layer = 36, .n_embd = 2560, .n_ff = 9728, .n_head = 32, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen3-8b", .title = "Qwen3 8B", QWEN3,
	  .n_layer = 36, .n_embd = 4096, .n_ff = 12288, .n_head = 32, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen3-14b", .title = "Qwen3 14B", QWEN3,
	  .n_layer = 40, .n_embd = 5120, .n_ff = 17408, .n_head = 40, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen3-32b", .title = "Qwen3 32B", QWEN3,
	  .n_layer = 64, .n_embd = 5120, .n_ff = 25600, .n_head = 64, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "qwen3-30b-a3b", .title = "Qwen3 30B A3B", QWEN3MOE,
	  .n_layer = 48, .n_embd = 2048, .n_ff = 6144, .n_head = 32, .n_head_kv = 4, .head_dim = 128,
	  .n_expert = 128, .n_expert_used = 8, .n_ff_exp = 768 },
	{ .name = "qwen3-235b-a22b", .title = "Qwen3 235B A22B", QWEN3MOE,
	  .n_layer = 94, .n_embd = 4096, .n_ff = 12288, .n_head = 64, .n_head_kv = 4, .head_dim = 128,
	  .n_expert = 128, .n_expert_used = 8, .n_ff_exp = 1536 },
	{ .name = "gemma-3-1b", .title = "Gemma 3 1B It", GEMMA3, .n_vocab = 262144, .n_ctx = 32768,
	  .swa = 512,
	  .n_layer = 26, .n_embd = 1152, .n_ff = 6912, .n_head = 4, .n_head_kv = 1, .head_dim = 256 },
	{ .name = "gemma-3-4b", .title = "Gemma 3 4B It", GEMMA3_LARGE,
	  .n_layer = 34, .n_embd = 2560, .n_ff = 10240, .n_head = 8, .n_head_kv = 4, .head_dim = 256 },
	{ .name = "gemma-3-12b", .title = "Gemma 3 12B It", GEMMA3_LARGE,
	  .n_layer = 48, .n_embd = 3840, .n_ff = 15360, .n_head = 16, .n_head_kv = 8, .head_dim = 256 },
	{ .name = "gemma-3-27b", .title = "Gemma 3 27B It", GEMMA3_LARGE,
	  .n_layer = 62, .n_embd = 5376, .n_ff = 21504, .n_head = 32, .n_head_kv = 16, .head_dim = 128 },
	{ .name = "mistral-7b", .title = "Mistral 7B Instruct v0.3", .vocab = "llama-spm",
	  .family = CAT_LLAMA, .arch = "llama", .rms_eps = 1e-5f, .rope_base = 1000000.0f,
	  .n_vocab = 32768, .n_ctx = 32768,
	  .n_layer = 32, .n_embd = 4096, .n_ff = 14336, .n_head = 32, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "mistral-small-24b", .title = "Mistral Small 24B Instruct 2501", .vocab = "",
	  .family = CAT_LLAMA, .arch = "llama", .rms_eps = 1e-5f, .rope_base = 100000000.0f,
	  .n_vocab = 131072, .n_ctx = 32768, .n_merges = 269443,
	  .n_layer = 40, .n_embd = 5120, .n_ff = 32768, .n_head = 32, .n_head_kv = 8, .head_dim = 128 },
	{ .name = "mixtral-8x7b", .title = "Mixtral 8x7B Instruct v0.1", .vocab = "llama-spm",
	  .family = CAT_LLAMA, .arch = "llama", .rms_eps = 1e-5f, .rope_base = 1000000.0f,
	  .n_vocab = 32000, .n_ctx = 32768,
	  .n_layer = 32, .n_embd = 4096, .n_ff = 14336, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
	  .n_expert = 8, .n_expert_used = 2, .n_ff_exp = 14336 },
	{ .name = "phi-4", .title = "Phi 4", .vocab = "", .family = CAT_PHI3, .arch = "phi3",
	  .rms_eps = 1e-5f, .rope_base = 250000.0f, .n_vocab = 100352, .n_ctx = 16384,
	  .n_merges = 100000,
	  .n_layer = 40, .n_embd = 5120, .n_ff = 17920, .n_head = 40, .n_head_kv = 10, .head_dim = 128 },
	{ .name = "deepseek-v3", .title = "DeepSeek V3", DSV3 },
	{ .name = "deepseek-r1", .title = "DeepSeek R1", DSV3 },
	{ .name = "gpt-oss-20b", .title = "Gpt Oss 20b", GPTOSS, .n_layer = 24, .n_expert = 32 },
	{ .name = "gpt-oss-120b", .title = "Gpt Oss 120b", GPTOSS, .n_layer = 36, .n_expert = 128 },
	{ .name = "glm-4.5-air", .title = "GLM 4.5 Air", .vocab = "", .family = CAT_GLM4MOE,
	  .arch = "glm4moe", .rms_eps = 1e-5f, .rope_base = 1000000.0f, .n_vocab = 151552,
	  .n_ctx = 131072, .n_merges = 318088, .qkv_bias = true, .rope_dim = 64,
	  .n_layer = 47, .n_nextn = 1, .n_embd = 4096, .n_ff = 10944, .n_head = 96, .n_head_kv = 8,
	  .head_dim = 128, .n_expert = 128, .n_expert_used = 8, .n_ff_exp = 1408,
	  .n_expert_shared = 1, .n_dense_lead = 1, .expert_gating = 2, .expert_weights_norm = true,
	  .expert_weights_scale = 1.0f },
};

size_t catalog_count(void)
{
	return ARRAY_SIZE(models);
}

const struct catalog_model *catalog_at(size_t i)
{
	return i < ARRAY_SIZE(models) ? &models[i] : NULL;
}

const struct catalog_model *catalog_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(models); i++)
		if (!strcasecmp(models[i].name, name))
			return &models[i];
	return NULL;
}

int catalog_parse(const char *spec, const struct catalog_model **ret, uint32_t *ret_ftype)
{
	char name[64];
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	const struct catalog_model *cm;

	if (n >= sizeof(name))
		return -ENOENT;
	memcpy(name, spec, n);
	name[n] = '\0';
	cm = catalog_find(name);
	if (!cm)
		return -ENOENT;
	uint32_t ft = CATALOG_DEFAULT_FTYPE;

	if (colon) {
		int f = llama_ftype_find(colon + 1);

		if (f < 0 || quant_ftype_default_type((uint32_t)f) < 0)
			return -EINVAL;
		ft = (uint32_t)f;
	}
	*ret = cm;
	*ret_ftype = ft;
	return 0;
}

/* Levenshtein distance, case-insensitive, of strings up to 63 bytes */
static size_t distance(const char *a, const char *b)
{
	size_t na = strnlen(a, 63), nb = strnlen(b, 63);
	size_t row[64];

	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t v = diag + cost;

			if (row[j] + 1 < v)
				v = row[j] + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
		}
	}
	return row[nb];
}

size_t catalog_suggest(const char *name, const struct catalog_model **out, size_t max)
{
	char key[64];
	size_t n = 0, dist[ARRAY_SIZE(models)], k = 0;
	const char *slash = NULL;

	while (name[n] && name[n] != ':')
		n++;
	/* a path: compare its last component */
	for (const char *p = name; p < name + n; p++)
		if (*p == '/')
			slash = p;
	if (slash) {
		n -= (size_t)(slash + 1 - name);
		name = slash + 1;
	}
	if (n >= sizeof(key))
		n = sizeof(key) - 1;
	memcpy(key, name, n);
	key[n] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(models); i++) {
		dist[i] = distance(key, models[i].name);
		/* a prefix or a substring counts as close */
		if (n >= 3 && strstr(models[i].name, key))
			dist[i] = 0;
	}
	while (k < max) {
		size_t best = SIZE_MAX, bi = 0;

		for (size_t i = 0; i < ARRAY_SIZE(models); i++)
			if (dist[i] < best) {
				best = dist[i];
				bi = i;
			}
		if (best == SIZE_MAX || (k > 0 && best > 4) || best > strlen(key))
			break;
		out[k++] = &models[bi];
		dist[bi] = SIZE_MAX;
	}
	return k;
}

void catalog_quant_model(const struct catalog_model *cm, struct quant_model *qm)
{
	memset(qm, 0, sizeof(*qm));
	snprintf(qm->arch, sizeof(qm->arch), "%s", cm->arch);
	qm->n_layer = cm->n_layer;
	qm->n_head = cm->n_head;
	qm->n_head_kv = cm->n_head_kv;
	qm->n_expert = cm->n_expert;
}

/* ---- tensors ---- */

struct tlist {
	struct quant_tensor *t;
	size_t n, cap;
	int err;
};

static void tl_add(struct tlist *l, const char *name, uint32_t nd, int64_t a, int64_t b, int64_t c)
{
	struct quant_tensor *d;

	if (l->err)
		return;
	if (a <= 0 || b <= 0 || c <= 0) {
		l->err = -EOVERFLOW;
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct quant_tensor *t = realloc(l->t, cap * sizeof(*t));

		if (!t) {
			l->err = -ENOMEM;
			return;
		}
		l->t = t;
		l->cap = cap;
	}
	d = &l->t[l->n++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->n_dims = nd;
	d->ne[0] = a;
	d->ne[1] = b;
	d->ne[2] = c;
	d->ne[3] = 1;
	d->src_type = nd < 2 || !quant_tensor_allowed(name, nd) ? GGML_TYPE_F32 : GGML_TYPE_F16;
	d->type = d->src_type;
}

static void tl_blk(struct tlist *l, uint32_t il, const char *suffix, uint32_t nd, int64_t a,
		   int64_t b, int64_t c)
{
	char nm[GGUF_MAX_NAME];

	snprintf(nm, sizeof(nm), "blk.%u.%s", il, suffix);
	tl_add(l, nm, nd, a, b, c);
}

/* attention with separate q, k, v (and optional biases) */
static void attn_qkv(struct tlist *l, const struct catalog_model *s, uint32_t i)
{
	const int64_t E = s->n_embd, hd = s->head_dim, H = s->n_head, HKV = s->n_head_kv;

	tl_blk(l, i, "attn_q.weight", 2, E, H * hd, 1);
	if (s->qkv_bias)
		tl_blk(l, i, "attn_q.bias", 1, H * hd, 1, 1);
	tl_blk(l, i, "attn_k.weight", 2, E, HKV * hd, 1);
	if (s->qkv_bias)
		tl_blk(l, i, "attn_k.bias", 1, HKV * hd, 1, 1);
	tl_blk(l, i, "attn_v.weight", 2, E, HKV * hd, 1);
	if (s->qkv_bias)
		tl_blk(l, i, "attn_v.bias", 1, HKV * hd, 1, 1);
	tl_blk(l, i, "attn_output.weight", 2, H * hd, E, 1);
}

static void moe(struct tlist *l, const struct catalog_model *s, uint32_t i, bool probs_b)
{
	const int64_t E = s->n_embd, X = s->n_expert, FX = s->n_ff_exp;

	tl_blk(l, i, "ffn_gate_inp.weight", 2, E, X, 1);
	if (probs_b)
		tl_blk(l, i, "exp_probs_b.bias", 1, X, 1, 1);
	tl_blk(l, i, "ffn_gate_exps.weight", 3, E, FX, X);
	tl_blk(l, i, "ffn_up_exps.weight", 3, E, FX, X);
	tl_blk(l, i, "ffn_down_exps.weight", 3, FX, E, X);
	if (s->n_expert_shared) {
		const int64_t FS = FX * s->n_expert_shared;

		tl_blk(l, i, "ffn_gate_shexp.weight", 2, E, FS, 1);
		tl_blk(l, i, "ffn_up_shexp.weight", 2, E, FS, 1);
		tl_blk(l, i, "ffn_down_shexp.weight", 2, FS, E, 1);
	}
}

static void dense_ffn(struct tlist *l, const struct catalog_model *s, uint32_t i)
{
	const int64_t E = s->n_embd, F = s->n_ff;

	tl_blk(l, i, "ffn_gate.weight", 2, E, F, 1);
	tl_blk(l, i, "ffn_up.weight", 2, E, F, 1);
	tl_blk(l, i, "ffn_down.weight", 2, F, E, 1);
}

int catalog_tensors(const struct catalog_model *s, uint32_t n_vocab, struct quant_tensor **ret,
		    size_t *ret_n)
{
	struct tlist l = { 0 };
	const int64_t E = s->n_embd, V = n_vocab, F = s->n_ff, X = s->n_expert, FX = s->n_ff_exp;
	const int64_t hd = s->head_dim, H = s->n_head, HKV = s->n_head_kv;

	if (s->rope_freqs)
		tl_add(&l, "rope_freqs.weight", 1, hd / 2, 1, 1);
	tl_add(&l, "token_embd.weight", 2, E, V, 1);
	for (uint32_t i = 0; i < s->n_layer; i++) {
		tl_blk(&l, i, "attn_norm.weight", 1, E, 1, 1);
		switch (s->family) {
		case CAT_LLAMA:
		case CAT_QWEN2:
		case CAT_QWEN3:
		case CAT_GEMMA3:
			attn_qkv(&l, s, i);
			if (s->qk_norm) {
				tl_blk(&l, i, "attn_q_norm.weight", 1, hd, 1, 1);
				tl_blk(&l, i, "attn_k_norm.weight", 1, hd, 1, 1);
			}
			if (s->family == CAT_GEMMA3)
				tl_blk(&l, i, "post_attention_norm.weight", 1, E, 1, 1);
			tl_blk(&l, i, "ffn_norm.weight", 1, E, 1, 1);
			if (X)
				moe(&l, s, i, false);
			else
				dense_ffn(&l, s, i);
			if (s->family == CAT_GEMMA3)
				tl_blk(&l, i, "post_ffw_norm.weight", 1, E, 1, 1);
			break;
		case CAT_PHI3:
			tl_blk(&l, i, "attn_qkv.weight", 2, E, H * hd + 2 * HKV * hd, 1);
			tl_blk(&l, i, "attn_output.weight", 2, H * hd, E, 1);
			tl_blk(&l, i, "ffn_norm.weight", 1, E, 1, 1);
			tl_blk(&l, i, "ffn_up.weight", 2, E, 2 * F, 1);
			tl_blk(&l, i, "ffn_down.weight", 2, F, E, 1);
			break;
		case CAT_DEEPSEEK2: {
			const int64_t kvr = s->kv_lora_rank, rope = s->qk_rope_dim;
			const int64_t nope = s->qk_nope_dim, vd = s->v_head_dim;

			if (s->q_lora_rank) {
				tl_blk(&l, i, "attn_q_a_norm.weight", 1, s->q_lora_rank, 1, 1);
				tl_blk(&l, i, "attn_q_a.weight", 2, E, s->q_lora_rank, 1);
				tl_blk(&l, i, "attn_q_b.weight", 2, s->q_lora_rank, H * (nope + rope), 1);
			} else {
				tl_blk(&l, i, "attn_q.weight", 2, E, H * (nope + rope), 1);
			}
			tl_blk(&l, i, "attn_kv_a_norm.weight", 1, kvr, 1, 1);
			tl_blk(&l, i, "attn_kv_a_mqa.weight", 2, E, kvr + rope, 1);
			tl_blk(&l, i, "attn_k_b.weight", 3, nope, kvr, H);
			tl_blk(&l, i, "attn_v_b.weight", 3, kvr, vd, H);
			tl_blk(&l, i, "attn_output.weight", 2, H * vd, E, 1);
			tl_blk(&l, i, "ffn_norm.weight", 1, E, 1, 1);
			if (i < s->n_dense_lead)
				dense_ffn(&l, s, i);
			else
				moe(&l, s, i, s->expert_gating == 2);
			break;
		}
		case CAT_GPTOSS:
			tl_blk(&l, i, "attn_q.weight", 2, E, H * hd, 1);
			tl_blk(&l, i, "attn_q.bias", 1, H * hd, 1, 1);
			tl_blk(&l, i, "attn_k.weight", 2, E, HKV * hd, 1);
			tl_blk(&l, i, "attn_k.bias", 1, HKV * hd, 1, 1);
			tl_blk(&l, i, "attn_v.weight", 2, E, HKV * hd, 1);
			tl_blk(&l, i, "attn_v.bias", 1, HKV * hd, 1, 1);
			tl_blk(&l, i, "attn_output.weight", 2, H * hd, E, 1);
			tl_blk(&l, i, "attn_output.bias", 1, E, 1, 1);
			tl_blk(&l, i, "attn_sinks.weight", 1, H, 1, 1);
			tl_blk(&l, i, "post_attention_norm.weight", 1, E, 1, 1);
			tl_blk(&l, i, "ffn_gate_inp.weight", 2, E, X, 1);
			tl_blk(&l, i, "ffn_gate_inp.bias", 1, X, 1, 1);
			tl_blk(&l, i, "ffn_gate_exps.weight", 3, E, FX, X);
			tl_blk(&l, i, "ffn_gate_exps.bias", 2, FX, X, 1);
			tl_blk(&l, i, "ffn_up_exps.weight", 3, E, FX, X);
			tl_blk(&l, i, "ffn_up_exps.bias", 2, FX, X, 1);
			tl_blk(&l, i, "ffn_down_exps.weight", 3, FX, E, X);
			tl_blk(&l, i, "ffn_down_exps.bias", 2, E, X, 1);
			break;
		case CAT_GLM4MOE:
			attn_qkv(&l, s, i);
			tl_blk(&l, i, "post_attention_norm.weight", 1, E, 1, 1);
			if (i < s->n_dense_lead)
				dense_ffn(&l, s, i);
			else
				moe(&l, s, i, true);
			if (i >= s->n_layer - s->n_nextn) {
				tl_blk(&l, i, "nextn.eh_proj.weight", 2, 2 * E, E, 1);
				tl_blk(&l, i, "nextn.enorm.weight", 1, E, 1, 1);
				tl_blk(&l, i, "nextn.hnorm.weight", 1, E, 1, 1);
				tl_blk(&l, i, "nextn.shared_head_norm.weight", 1, E, 1, 1);
			}
			break;
		}
	}
	tl_add(&l, "output_norm.weight", 1, E, 1, 1);
	if (!s->tied)
		tl_add(&l, "output.weight", 2, E, V, 1);
	if (l.err) {
		free(l.t);
		return l.err;
	}
	/* gpt-oss ships its experts in MXFP4, and the converter keeps them */
	if (s->family == CAT_GPTOSS)
		for (size_t k = 0; k < l.n; k++)
			if (l.t[k].n_dims == 3 && strstr(l.t[k].name, "_exps.weight"))
				l.t[k].src_type = l.t[k].type = GGML_TYPE_MXFP4;
	*ret = l.t;
	*ret_n = l.n;
	return 0;
}

/* ---- metadata ---- */

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

static int add_bool(struct gguf_writer *w, const char *arch, const char *suffix, bool v)
{
	char key[128];
	uint8_t b = v;

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return gguf_writer_add_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

static int add_s(struct gguf_writer *w, const char *arch, const char *suffix, const char *v)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return gguf_writer_add_str(w, key, v, strlen(v));
}

int catalog_add_keys(const struct catalog_model *s, struct gguf_writer *w, uint32_t ftype,
		     uint32_t n_vocab)
{
	const char *a = s->arch;
	uint32_t qv = 2;
	int e = 0;

	e |= gguf_writer_add_str(w, "general.architecture", a, strlen(a));
	e |= gguf_writer_add_str(w, "general.name", s->title, strlen(s->title));
	e |= gguf_writer_add_scalar(w, "general.file_type", GGUF_TYPE_UINT32, &ftype);
	if (ftype != 1 && ftype != 32 && ftype != 0)
		e |= gguf_writer_add_scalar(w, "general.quantization_version", GGUF_TYPE_UINT32, &qv);
	e |= add_u32(w, a, "context_length", s->n_ctx);
	e |= add_u32(w, a, "embedding_length", s->n_embd);
	e |= add_u32(w, a, "block_count", s->n_layer);
	e |= add_u32(w, a, "feed_forward_length", s->n_ff);
	e |= add_u32(w, a, "attention.head_count", s->n_head);
	e |= add_u32(w, a, "attention.head_count_kv", s->n_head_kv);
	e |= add_f32(w, a, "rope.freq_base", s->rope_base);
	e |= add_f32(w, a, "attention.layer_norm_rms_epsilon", s->rms_eps);
	if (s->family == CAT_DEEPSEEK2) {
		/* MLA as the current converter writes it: one KV head of
		 * kv_lora_rank + rope dims, the decompressed sizes in *_mla */
		e |= add_u32(w, a, "leading_dense_block_count", s->n_dense_lead);
		e |= add_u32(w, a, "vocab_size", n_vocab);
		if (s->q_lora_rank || (s->n_layer != 26 && s->n_layer != 27))
			e |= add_u32(w, a, "attention.q_lora_rank", s->q_lora_rank);
		e |= add_u32(w, a, "attention.kv_lora_rank", s->kv_lora_rank);
		e |= add_u32(w, a, "attention.key_length", s->kv_lora_rank + s->qk_rope_dim);
		e |= add_u32(w, a, "attention.value_length", s->kv_lora_rank);
		e |= add_u32(w, a, "attention.key_length_mla", s->qk_nope_dim + s->qk_rope_dim);
		e |= add_u32(w, a, "attention.value_length_mla", s->v_head_dim);
		e |= add_u32(w, a, "rope.dimension_count", s->qk_rope_dim);
	} else {
		e |= add_u32(w, a, "attention.key_length", s->head_dim);
		e |= add_u32(w, a, "attention.value_length", s->head_dim);
		e |= add_u32(w, a, "rope.dimension_count", s->rope_dim ? s->rope_dim : s->head_dim);
	}
	if (s->n_expert) {
		e |= add_u32(w, a, "expert_count", s->n_expert);
		e |= add_u32(w, a, "expert_used_count", s->n_expert_used);
		if (s->family != CAT_LLAMA)
			e |= add_u32(w, a, "expert_feed_forward_length", s->n_ff_exp);
	}
	if (s->n_expert_shared)
		e |= add_u32(w, a, "expert_shared_count", s->n_expert_shared);
	if (s->family == CAT_GLM4MOE) {
		e |= add_u32(w, a, "leading_dense_block_count", s->n_dense_lead);
		e |= add_u32(w, a, "nextn_predict_layers", s->n_nextn);
	}
	if (s->expert_weights_scale != 0.0f)
		e |= add_f32(w, a, "expert_weights_scale", s->expert_weights_scale);
	if (s->expert_gating) {
		e |= add_bool(w, a, "expert_weights_norm", s->expert_weights_norm);
		e |= add_u32(w, a, "expert_gating_func", s->expert_gating);
	}
	if (s->n_expert_groups) {
		e |= add_u32(w, a, "expert_group_count", s->n_expert_groups);
		e |= add_u32(w, a, "expert_group_used_count", s->n_group_used);
	}
	if (s->swa)
		e |= add_u32(w, a, "attention.sliding_window", s->swa);
	if (s->rope_base_swa != 0.0f)
		e |= add_f32(w, a, "rope.freq_base_swa", s->rope_base_swa);
	if (s->rope_scaling != CAT_ROPE_NONE) {
		e |= add_s(w, a, "rope.scaling.type", s->rope_scaling == CAT_ROPE_YARN ? "yarn" : "linear");
		e |= add_f32(w, a, "rope.scaling.factor", s->rope_factor);
		if (s->rope_orig_ctx)
			e |= add_u32(w, a, "rope.scaling.original_context_length", s->rope_orig_ctx);
		if (s->yarn_log_mul != 0.0f)
			e |= add_f32(w, a, "rope.scaling.yarn_log_multiplier", s->yarn_log_mul);
	}
	return e ? -EINVAL : 0;
}

int catalog_add_fake_vocab(struct gguf_writer *w, uint32_t n_vocab, uint32_t n_merges)
{
	/* one buffer for every string: "tok<i>" and "t<i%997> m<i>" */
	size_t per = 24, n = (size_t)n_vocab + n_merges;
	char *buf = malloc(n * per + 1);
	const char **strs = calloc(n ? n : 1, sizeof(*strs));
	int32_t *tt = calloc(n_vocab ? n_vocab : 1, sizeof(*tt));
	int e = 0;

	if (!buf || !strs || !tt) {
		e = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n_vocab; i++) {
		char *p = buf + (size_t)i * per;

		snprintf(p, per, "tok%u", i);
		strs[i] = p;
		tt[i] = 1;
	}
	for (uint32_t i = 0; i < n_merges; i++) {
		char *p = buf + ((size_t)n_vocab + i) * per;

		snprintf(p, per, "t%u m%u", i % 997, i);
		strs[n_vocab + i] = p;
	}
	e |= gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4);
	e |= gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", strs, n_vocab);
	e |= gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, tt, n_vocab);
	if (n_merges)
		e |= gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", strs + n_vocab, n_merges);
	if (e)
		e = -EINVAL;
out:
	free(buf);
	free(strs);
	free(tt);
	return e;
}

/* the decimal digits of every number in [0, n) */
static uint64_t digit_sum(uint64_t n)
{
	uint64_t sum = n;

	/* each number at or above 10^k has a digit more */
	for (uint64_t p = 10; p < n; p *= 10)
		sum += n - p;
	return sum;
}

uint64_t catalog_fake_vocab_bytes(uint32_t n_vocab, uint32_t n_merges)
{
	/* a key: its length (8), name, type (4); an array adds its element
	 * type (4) and count (8); a string is its length (8) and bytes */
	uint64_t n = 8 + strlen("tokenizer.ggml.model") + 4 + 8 + 4;

	n += 8 + strlen("tokenizer.ggml.tokens") + 4 + 4 + 8;
	n += (8 + 3) * (uint64_t)n_vocab + digit_sum(n_vocab);             /* "tok<i>" */
	n += 8 + strlen("tokenizer.ggml.token_type") + 4 + 4 + 8 + 4ull * n_vocab;
	if (n_merges) {
		/* "t<i % 997> m<i>" */
		n += 8 + strlen("tokenizer.ggml.merges") + 4 + 4 + 8;
		n += (8 + 3) * (uint64_t)n_merges + digit_sum(n_merges);
		n += (n_merges / 997) * digit_sum(997) + digit_sum(n_merges % 997);
	}
	return n;
}

struct tord {
	int layer;
	const struct quant_tensor *t;
};

static int tord_layer(const char *name)
{
	if (strncmp(name, "blk.", 4))
		return -1;
	return (int)strtoul(name + 4, NULL, 10);
}

static int cmp_tord(const void *pa, const void *pb)
{
	const struct tord *a = pa, *b = pb;

	if (a->layer != b->layer)
		return a->layer < b->layer ? -1 : 1;
	return strcmp(a->t->name, b->t->name);
}

int catalog_add_tensors(const struct catalog_model *cm, struct gguf_writer *w, uint32_t ftype,
			uint32_t n_vocab)
{
	struct quant_tensor *t = NULL;
	struct quant_model qm;
	struct tord *ord = NULL;
	size_t n = 0;
	int e;

	e = catalog_tensors(cm, n_vocab, &t, &n);
	if (e)
		return e;
	catalog_quant_model(cm, &qm);
	e = quant_apply(&qm, ftype, t, n);
	if (!e && !(ord = calloc(n ? n : 1, sizeof(*ord))))
		e = -ENOMEM;
	for (size_t i = 0; !e && i < n; i++) {
		ord[i].layer = tord_layer(t[i].name);
		ord[i].t = &t[i];
	}
	/* llama-quantize writes in its loader's order; the converter (F16,
	 * BF16) in its own */
	if (!e && ftype != 1 && ftype != 32)
		qsort(ord, n, sizeof(*ord), cmp_tord);
	for (size_t i = 0; !e && i < n; i++)
		e = gguf_writer_add_tensor(w, ord[i].t->name, ord[i].t->type, ord[i].t->n_dims,
					   ord[i].t->ne);
	free(ord);
	free(t);
	return e;
}

int catalog_build(const struct catalog_model *cm, uint32_t ftype, struct gguf_writer *w)
{
	int e = catalog_add_keys(cm, w, ftype, cm->n_vocab);

	if (!e)
		e = catalog_add_fake_vocab(w, cm->n_vocab, cm->n_merges);
	if (!e)
		e = catalog_add_tensors(cm, w, ftype, cm->n_vocab);
	return e;
}
