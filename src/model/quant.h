/* quant.h: llama.cpp's quantization mixes. For a llama.cpp file type
 * (Q4_K_M, Q8_0, ...) and a list of tensors, the ggml type llama-quantize
 * gives each tensor: llama_tensor_get_type() in llama.cpp's
 * src/llama-quant.cpp with its exceptions (attn_v and ffn_down in the
 * use_more_bits layers, the output and token embeddings, the n_gqa and
 * n_expert adjustments, Llama-70B's attn_v, rows that are not a multiple
 * of the block size falling back, tensors that are never quantized).
 * Pure. */
#ifndef LLMEM_MODEL_QUANT_H
#define LLMEM_MODEL_QUANT_H

#include "base/compat.h"
#include "gguf/gguf.h"

/* One tensor as llama-quantize sees it. */
struct quant_tensor {
	char name[GGUF_MAX_NAME];
	uint32_t n_dims;
	int64_t ne[GGUF_MAX_DIMS]; /* 1 past n_dims */
	uint32_t src_type;         /* its type in the source file */
	uint32_t type;             /* out: the type llama-quantize writes */
};

/* What the rule reads of the model (llama_hparams, llm_type). */
struct quant_model {
	char arch[64];       /* general.architecture */
	uint32_t n_layer;    /* block_count, MTP blocks included */
	uint32_t n_head, n_head_kv; /* of layer 0, for n_gqa() */
	uint32_t n_expert;   /* expert_count, 0 when dense */
};

/* The file types `llmem quants` lists, largest first (llama_ftype ids). */
size_t quant_ftype_count(void);
uint32_t quant_ftype_at(size_t i);

/* llama_ftype_get_default_type(): the ggml type of a file type's bulk, or
 * -EINVAL for a file type llmem does not model. */
int quant_ftype_default_type(uint32_t ftype);

/* tensor_allows_quantization(): whether llama-quantize may change the
 * type of a tensor with this name and number of dimensions. */
bool quant_tensor_allowed(const char *name, uint32_t n_dims);

/* Sets t[i].type for every tensor, as llama-quantize would for ftype from
 * a source whose tensors have t[i].src_type. The order of t does not
 * matter (llama-quantize's own order, by block then name, is used for the
 * counters). Returns 0, -EINVAL for an unknown file type or a tensor whose
 * row length fits no type, -ENOMEM. */
int quant_apply(const struct quant_model *qm, uint32_t ftype, struct quant_tensor *t, size_t n) ATTR_WUR;

/* Bytes of t in its chosen type (0 when its shape is invalid). */
uint64_t quant_tensor_bytes(const struct quant_tensor *t);

#endif
