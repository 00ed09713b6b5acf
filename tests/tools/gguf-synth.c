/* gguf-synth.c: synthesizes GGUF model files shaped like well-known
 * models, with llama.cpp's tensor names, shapes, metadata and a
 * quantization mix, and the tensor data left as a sparse hole. Used by the
 * tests, the benchmark and the README's first command. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/ggml-type.h"
#include "gguf/gguf.h"
#include "io/io.h"

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
};

static const struct shape shapes[] = {
	{ "llama-3.1-8b", "llama", "Llama 3.1 8B Instruct", 32, 4096, 14336, 32, 8, 128,
	  128256, 131072, 0, 0, 0, 0, false, false, false, 280147 },
	{ "llama-3.3-70b", "llama", "Llama 3.3 70B Instruct", 80, 8192, 28672, 64, 8, 128,
	  128256, 131072, 0, 0, 0, 0, false, false, false, 280147 },
	{ "qwen3-30b-a3b", "qwen3moe", "Qwen3 30B A3B", 48, 2048, 6144, 32, 4, 128,
	  151936, 40960, 128, 8, 768, 0, true, false, false, 151387 },
	{ "gemma-3-12b", "gemma3", "Gemma 3 12B It", 48, 3840, 15360, 16, 8, 256,
	  262144, 131072, 0, 0, 0, 1024, true, true, true, 0 },
	{ "tiny", "llama", "Tiny Test Model", 2, 256, 512, 4, 2, 64,
	  512, 2048, 0, 0, 0, 0, false, false, false, 0 },
	{ "micro", "llama", "Micro Test Model", 1, 64, 128, 2, 1, 32,
	  64, 512, 0, 0, 0, 0, false, false, false, 16 },
};

/* llama.cpp's use_more_bits(): the first and last eighth of the layers,
 * and every third one between, get more bits in the _M mixes. */
static bool more_bits(uint32_t i, uint32_t n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

enum mix { MIX_Q4_K_M, MIX_Q8_0, MIX_F16, MIX_Q4_0 };

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

static int build(struct gguf_writer *w, const struct shape *s, enum mix m, uint32_t ftype)
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
	{
		char **toks = calloc(s->n_vocab, sizeof(*toks));
		int32_t *tt = calloc(s->n_vocab, sizeof(*tt));
		char **merges = s->n_merges ? calloc(s->n_merges, sizeof(*merges)) : NULL;

		if (!toks || !tt || (s->n_merges && !merges))
			return -ENOMEM;
		for (uint32_t i = 0; i < s->n_vocab; i++) {
			char b[24];

			snprintf(b, sizeof(b), "tok%u", i);
			toks[i] = strdup(b);
			tt[i] = 1;
		}
		for (uint32_t i = 0; i < s->n_merges; i++) {
			char b[32];

			snprintf(b, sizeof(b), "t%u m%u", i % 997, i);
			merges[i] = strdup(b);
		}
		e |= gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4);
		e |= gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks,
					     s->n_vocab);
		e |= gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, tt, s->n_vocab);
		if (s->n_merges)
			e |= gguf_writer_add_arr_str(w, "tokenizer.ggml.merges",
						     (const char *const *)merges, s->n_merges);
		for (uint32_t i = 0; i < s->n_vocab; i++)
			free(toks[i]);
		for (uint32_t i = 0; i < s->n_merges; i++)
			free(merges[i]);
		free(toks);
		free(tt);
		free(merges);
		if (e)
			return -EINVAL;
	}

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

static void usage(FILE *fp)
{
	fputs("usage: gguf-synth --shape NAME [--ftype q4_k_m|q8_0|f16|q4_0] OUT.gguf\n"
	      "       gguf-synth --list\n", fp);
}

int main(int argc, char **argv)
{
	const char *shape = NULL, *ftype = "q4_k_m", *out = NULL;
	const struct shape *s = NULL;
	struct gguf_writer *w;
	enum mix m;
	uint32_t ft;
	int e;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list")) {
			for (size_t k = 0; k < ARRAY_SIZE(shapes); k++)
				printf("%s\n", shapes[k].name);
			return 0;
		} else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
			shape = argv[++i];
		} else if (!strcmp(argv[i], "--ftype") && i + 1 < argc) {
			ftype = argv[++i];
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
			s = &shapes[k];
	if (!s) {
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
	else {
		fprintf(stderr, "gguf-synth: unknown --ftype '%s'\n", ftype);
		return 2;
	}
	e = llama_ftype_find(ftype);
	ft = e < 0 ? 0 : (uint32_t)e;
	w = gguf_writer_new();
	if (!w)
		return 1;
	e = build(w, s, m, ft);
	if (e == 0)
		e = io_gguf_write(out, w, NULL, NULL);
	gguf_writer_free(w);
	if (e < 0) {
		fprintf(stderr, "gguf-synth: %s: %s\n", out, strerror(-e));
		return 1;
	}
	return 0;
}
