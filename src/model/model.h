/* model.h: what a model is, as far as memory goes: its layers (attention,
 * sliding-window, recurrent), heads and head sizes per layer, experts, and
 * every tensor with its layer, size, place in the file and the operation
 * that consumes it. Built from GGUF headers. Pure.
 *
 * General mechanisms, not one code path per architecture: what differs
 * between architectures (which layers slide, which are recurrent, which
 * have no cache at all) is an entry in a table (model-arch.c). */
#ifndef LLMEM_MODEL_MODEL_H
#define LLMEM_MODEL_MODEL_H

#include "base/compat.h"
#include "base/diag.h"
#include "gguf/gguf.h"

/* The limits llama.cpp asserts (LLAMA_MAX_LAYERS, LLAMA_MAX_EXPERTS). */
#define MODEL_MAX_LAYERS 512
#define MODEL_MAX_EXPERTS 1024

enum model_op {
	MODEL_OP_MUL_MAT,    /* a 2-D weight multiplied by activations */
	MODEL_OP_MUL_MAT_ID, /* a 3-D expert weight, indexed by the router */
	MODEL_OP_GET_ROWS,   /* an embedding table, read by row */
	MODEL_OP_OTHER,      /* norms, biases, convolutions, ... */
};

/* Which weight of its block a matrix is, for the compute graph (which
 * multiplication it feeds): enough to tell the graph's matmuls apart. */
enum model_role {
	MODEL_ROLE_NONE,
	MODEL_ROLE_Q, MODEL_ROLE_K, MODEL_ROLE_V, MODEL_ROLE_QKV, MODEL_ROLE_O,
	MODEL_ROLE_GATE, MODEL_ROLE_UP, MODEL_ROLE_DOWN,
	MODEL_ROLE_ROUTER, MODEL_ROLE_GATE_EXPS, MODEL_ROLE_UP_EXPS, MODEL_ROLE_DOWN_EXPS,
	MODEL_ROLE_GATE_UP_EXPS, MODEL_ROLE_GATE_SHEXP, MODEL_ROLE_UP_SHEXP, MODEL_ROLE_DOWN_SHEXP,
	MODEL_ROLE_Q_A, MODEL_ROLE_Q_B, MODEL_ROLE_KV_A, MODEL_ROLE_K_B, MODEL_ROLE_V_B,
	MODEL_ROLE_CONV_IN, MODEL_ROLE_CONV_OUT,
	MODEL_ROLE_COUNT
};

#define MODEL_LAYER_INPUT (-1)  /* token embeddings: always on the host */
#define MODEL_LAYER_OUTPUT (-2) /* output norm and head */

struct model_tensor {
	char name[GGUF_MAX_NAME];
	uint32_t part;      /* which file of a split model */
	uint64_t file_off;  /* absolute offset of its data in that file */
	uint32_t type;      /* ggml type id */
	uint32_t n_dims;
	int64_t ne[GGUF_MAX_DIMS];
	uint64_t nbytes;
	int32_t layer;      /* block index, MODEL_LAYER_INPUT or _OUTPUT */
	uint8_t op;         /* enum model_op */
	uint8_t role;       /* enum model_role, for a block's matrices */
	bool expert;        /* ffn_{up,gate,down,gate_up}_(ch)exps */
	bool skip;          /* not loaded by llama.cpp (MTP/nextn blocks) */
};

struct model_layer {
	uint32_t n_head, n_head_kv, n_ff;
	uint32_t head_k, head_v; /* per-head sizes of K and V in the cache */
	bool swa;        /* attends within the sliding window */
	bool recurrent;  /* keeps a recurrent state (SSM, RWKV, ...) */
	bool has_kv;     /* has its own KV cache */
	bool moe;        /* routes through experts (has *_exps tensors) */
	uint64_t n_embd_r, n_embd_s; /* recurrent state sizes, F32 elements */
};

struct model {
	char arch[64];           /* general.architecture */
	uint32_t n_layer;        /* block_count, MTP/nextn blocks included */
	uint32_t n_layer_nextn;  /* trailing MTP blocks (skipped) */
	uint64_t n_embd, n_vocab, n_ctx_train;
	uint32_t n_head_max;
	uint32_t n_swa;          /* sliding window, 0 = none */
	bool mla;                /* DeepSeek-style latent attention: no V */
	bool no_memory;          /* encoder/embedding model: no KV cache */
	bool tied_output;        /* no output.weight: token_embd doubles */
	uint32_t n_expert, n_expert_used;
	uint64_t n_ff_exp, n_ff_shexp; /* from the metadata, else the tensors */
	uint32_t kv_lora_rank, n_rot;  /* MLA latent size, rope dims */
	/* what shapes the compute graph (llama-graph.cpp build_moe_ffn,
	 * src/models/<arch>.cpp): the MoE router's options and the leading
	 * dense blocks, LFM2's short convolution */
	uint32_t n_layer_dense_lead;   /* leading_dense_block_count */
	uint32_t expert_gating;        /* expert_gating_func, 0 = unset */
	bool expert_weights_norm;      /* expert_weights_norm */
	bool expert_weights_scaled;    /* expert_weights_scale not 0 or 1 */
	uint32_t n_expert_groups, n_group_used; /* expert_group_(used_)count */
	uint32_t shortconv_l_cache;    /* shortconv.l_cache */
	uint32_t head_k_mla, head_v_mla; /* MLA per-head Q/K and V sizes */
	uint32_t q_lora_rank;          /* MLA low-rank Q, 0 = none */
	/* the tokenizer as llama.cpp's vocabulary keeps it on the heap
	 * (llama-vocab.cpp, gguf.cpp): entry counts, and the glibc malloc
	 * chunks of the libstdc++ strings too long for the in-object buffer
	 * (over 15 bytes) */
	uint64_t tok_n;               /* tokenizer.ggml.tokens entries */
	uint64_t tok_n_merges;        /* tokenizer.ggml.merges entries */
	uint64_t tok_text_heap;       /* token texts */
	uint64_t tok_piece_heap;      /* their decoded pieces (token-to-piece cache) */
	uint64_t tok_merge_heap;      /* merge strings ("a b") */
	uint64_t tok_merge_half_heap; /* their two halves (the BPE ranks' keys) */
	uint64_t tok_arr_bytes[2];    /* tokenizer.ggml.scores, .token_type data */
	bool tok_heap;                /* the *_heap fields were computed */
	struct model_layer *layers;  /* n_layer entries */
	size_t n_tensors;
	struct model_tensor *tensors;
	size_t n_parts;
	uint64_t weight_bytes;       /* sum of loaded tensors */
};

/* Builds *m from the parsed parts of one model. Hostile or inconsistent
 * hyperparameters (zero layers or heads, more KV heads than heads,
 * per-layer arrays of the wrong length, a context length or expert count
 * beyond llama.cpp's limits, an architecture whose memory rules llmem does
 * not know) give a negative errno and a message in *d; nothing is
 * divided by zero and every sum is checked. Release with
 * model_release(). */
int model_from_gguf(const struct gguf_file *const *parts, size_t n_parts, struct model *m,
		    struct diag *d) ATTR_WUR;

/* The same, with MODEL_NO_HEAP: without the tokenizer's heap facts (the
 * tok_*_heap fields stay 0, tok_heap false), which only the resident-memory
 * prediction uses and which cost a visit of every long token and merge:
 * for a caller that plans many models and shows no RSS (recommend). */
enum { MODEL_NO_HEAP = 1u << 0 };
int model_from_gguf_flags(const struct gguf_file *const *parts, size_t n_parts, unsigned flags,
			  struct model *m, struct diag *d) ATTR_WUR;

/* Frees what m holds; m may be zeroed or half-built. */
void model_release(struct model *m);

#endif
