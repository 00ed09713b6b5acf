/* catalog.h: well-known models as architecture facts from their published
 * configurations (layers, widths, heads, head sizes, FFN and expert sizes,
 * vocabulary, tied embeddings, sliding window, MLA and training context),
 * and what llama.cpp's converter makes of them: the GGUF metadata keys its
 * loader requires and the tensors it creates, with names, shapes and
 * order. A catalog name with a file type ("llama-3.3-70b:q4_k_m") becomes
 * a GGUF header in memory, so every command works without the file. Pure. */
#ifndef LLMEM_MODEL_CATALOG_H
#define LLMEM_MODEL_CATALOG_H

#include "base/compat.h"
#include "gguf/gguf.h"
#include "model/quant.h"

enum catalog_family {
	CAT_LLAMA,     /* llama (Llama, Mistral, Mixtral) */
	CAT_QWEN2,     /* qwen2: q/k/v biases */
	CAT_QWEN3,     /* qwen3, qwen3moe: q/k norms */
	CAT_GEMMA3,    /* q/k norms, post norms, 5:1 sliding window */
	CAT_PHI3,      /* fused qkv and gate+up */
	CAT_DEEPSEEK2, /* MLA, shared experts, dense lead blocks */
	CAT_GPTOSS,    /* MXFP4 experts, attention sinks, 1:1 sliding window */
	CAT_GLM4MOE,   /* shared expert, dense lead block, an MTP block */
};

enum catalog_rope { CAT_ROPE_NONE, CAT_ROPE_LINEAR, CAT_ROPE_YARN };

struct catalog_model {
	char name[24];   /* "llama-3.3-70b" */
	char title[40];  /* general.name */
	char arch[16];   /* general.architecture */
	char vocab[16];  /* llama.cpp's models/ggml-vocab-<vocab>.gguf */
	uint8_t family;  /* enum catalog_family */
	uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim;
	uint32_t n_vocab, n_ctx, n_merges;
	uint32_t n_expert, n_expert_used, n_ff_exp, n_expert_shared, n_dense_lead;
	uint32_t n_nextn;        /* trailing MTP blocks (in n_layer) */
	uint32_t swa;            /* sliding window, 0 = none */
	bool qk_norm, tied, qkv_bias, rope_freqs;
	uint32_t rope_dim;       /* 0 = head_dim */
	uint32_t q_lora_rank, kv_lora_rank, qk_rope_dim, qk_nope_dim, v_head_dim;
	uint32_t expert_gating;  /* 0 unset, 1 softmax, 2 sigmoid */
	bool expert_weights_norm;
	float expert_weights_scale;
	uint32_t n_expert_groups, n_group_used;
	float rms_eps, rope_base, rope_base_swa;
	uint8_t rope_scaling;    /* enum catalog_rope */
	float rope_factor, yarn_log_mul;
	uint32_t rope_orig_ctx;
};

#define CATALOG_DEFAULT_FTYPE 15 /* Q4_K_M */

size_t catalog_count(void);
const struct catalog_model *catalog_at(size_t i);

/* The model named name (case-insensitive), or NULL. */
const struct catalog_model *catalog_find(const char *name);

/* "NAME[:FILETYPE]" (file type as llama_ftype_find() takes it, default
 * Q4_K_M). Returns 0; -ENOENT when NAME is not in the catalog; -EINVAL
 * when FILETYPE is not one `quants` lists. */
int catalog_parse(const char *spec, const struct catalog_model **ret, uint32_t *ret_ftype) ATTR_WUR;

/* The up to max catalog entries closest to name (edit distance over the
 * part before any ':'), closest first; returns how many. */
size_t catalog_suggest(const char *name, const struct catalog_model **out, size_t max);

/* What quant_apply() needs to know of the model. */
void catalog_quant_model(const struct catalog_model *cm, struct quant_model *qm);

/* The tensors llama.cpp's converter writes for cm with a vocabulary of
 * n_vocab tokens, in its order, as an F16 file holds them (1-D and
 * never-quantized tensors F32; gpt-oss's experts MXFP4). *ret is
 * malloc'ed. 0 or -ENOMEM / -EOVERFLOW. */
int catalog_tensors(const struct catalog_model *cm, uint32_t n_vocab, struct quant_tensor **ret,
		    size_t *ret_n) ATTR_WUR;

/* Adds general.* and the architecture's keys (not the tokenizer) for a
 * file of type ftype with a vocabulary of n_vocab tokens. */
int catalog_add_keys(const struct catalog_model *cm, struct gguf_writer *w, uint32_t ftype,
		     uint32_t n_vocab) ATTR_WUR;

/* A stand-in tokenizer: n_vocab tokens and n_merges merges, so the header
 * is about as large as the real one (llama.cpp loads it, but it tokenizes
 * nothing sensibly). */
int catalog_add_fake_vocab(struct gguf_writer *w, uint32_t n_vocab, uint32_t n_merges) ATTR_WUR;

/* The bytes catalog_add_fake_vocab() adds to a header, computed without
 * building it (a 128k-token vocabulary takes milliseconds to build). */
uint64_t catalog_fake_vocab_bytes(uint32_t n_vocab, uint32_t n_merges);

/* Adds cm's tensors, typed by quant_apply() for ftype, in llama-quantize's
 * order (the converter's for F16 and BF16). */
int catalog_add_tensors(const struct catalog_model *cm, struct gguf_writer *w, uint32_t ftype,
			uint32_t n_vocab) ATTR_WUR;

/* All three: the whole header of cm as a ftype file, stand-in tokenizer
 * included. */
int catalog_build(const struct catalog_model *cm, uint32_t ftype, struct gguf_writer *w) ATTR_WUR;

#endif
