/* estimate.h: the memory model. For a model and a configuration that
 * mirrors llama-server's options (and defaults), the bytes llama.cpp
 * allocates on each device and on the host: weights, KV cache, recurrent
 * state, compute buffer, output buffer and fixed overhead, each with the
 * rule that produced it. Pure. The rules and their sources in llama.cpp
 * are in ../shared/research/memory-model.md and docs/ESTIMATE.md. */
#ifndef LLMEM_ESTIMATE_ESTIMATE_H
#define LLMEM_ESTIMATE_ESTIMATE_H

#include "base/compat.h"
#include "base/diag.h"
#include "model/model.h"

#define EST_MAX_DEVICES 16
#define EST_MAX_OVERRIDES 32
#define EST_RULE_MAX 256

enum est_dev_kind {
	EST_DEV_HOST,     /* the CPU and system RAM */
	EST_DEV_DISCRETE, /* a GPU with its own memory */
	EST_DEV_UNIFIED,  /* a GPU that draws on system RAM (GB10, Strix Halo) */
};

struct est_device {
	char name[32];    /* "CUDA0", "ROCm1", ... */
	uint8_t kind;     /* enum est_dev_kind */
	uint64_t total_bytes;
};

/* -ot PATTERN=DEVICE: tensors whose name matches the regex go to device
 * (-1 = the host). */
struct est_override {
	char pattern[128];
	int device;
};

enum est_fa { EST_FA_AUTO, EST_FA_ON, EST_FA_OFF };
/* --pooling: unset (the model's), then llama.cpp's names in order */
enum est_pooling { EST_POOL_UNSET, EST_POOL_NONE, EST_POOL_MEAN, EST_POOL_CLS, EST_POOL_LAST, EST_POOL_RANK };
enum est_split { EST_SPLIT_LAYER, EST_SPLIT_ROW, EST_SPLIT_NONE, EST_SPLIT_TENSOR };

/* CPU features that decide which weights llama.cpp repacks (CPU_REPACK). */
enum est_cpu_flags {
	EST_CPU_AVX2 = 1 << 0,
	EST_CPU_AVX512 = 1 << 1,
	EST_CPU_NEON_DOTPROD = 1 << 2,
	EST_CPU_NEON_I8MM = 1 << 3,
};

/* --lora adapters an estimate takes */
#define EST_MAX_LORAS 8

struct est_config {
	int64_t n_ctx;        /* -c; 0 = the model's training context */
	int32_t n_gpu_layers; /* -ngl; -1 = all (auto until fit decides) */
	int32_t n_parallel;   /* -np; -1 = auto: 4 slots, unified KV */
	int8_t kv_unified;    /* --kv-unified: -1 unset, 0, 1 */
	uint32_t n_batch;     /* -b, 2048 */
	uint32_t n_ubatch;    /* -ub, 512 */
	uint32_t type_k, type_v; /* -ctk/-ctv, ggml type ids, f16 */
	uint8_t flash_attn;   /* enum est_fa */
	uint8_t split_mode;   /* enum est_split */
	int32_t main_gpu;
	bool no_mmap;         /* --no-mmap / -lm none, dio or mlock: weights read in */
	bool mlock;           /* --mlock / -lm mlock or mmap+mlock: locked in RAM */
	bool direct_io;       /* -lm dio: read in with O_DIRECT (as no_mmap here) */
	bool no_kv_offload;   /* -nkvo */
	bool swa_full;
	bool no_repack;       /* -nr */
	bool embeddings;      /* --embeddings or --rerank: the context keeps
	                       * embeddings beside the logits */
	uint8_t pooling;      /* enum est_pooling (--pooling); with
	                       * embeddings or a pooling other than none,
	                       * llama-server outputs a whole batch */
	bool cpu_moe;         /* --cpu-moe */
	uint32_t n_cpu_moe;   /* --n-cpu-moe N */
	uint32_t n_cpu_ffn;   /* --n-cpu-ffn N: dense FFN weights of the first N
	                       * layers on the host */
	/* where each of the three sits among the -ot patterns: llama.cpp
	 * appends them all to one list in command-line order and the first
	 * match wins. The number of -ot patterns before it; -1 (the
	 * default, and where fit puts its own) after all of them */
	int16_t cpu_moe_at, n_cpu_moe_at, n_cpu_ffn_at;
	bool no_fit;          /* -fit off: without -c, the training context
	                       * is the total, not each slot's */
	int32_t cache_ram_mib; /* --cache-ram: the prompt cache's ceiling in
	                        * host RAM, MiB (8192; -1 no limit, 0 off) */
	int32_t n_ctx_checkpoints; /* -ctxcp: context checkpoints a slot keeps
	                        * at most (32; 0 off) */
	/* --mmproj: the multimodal projector's header (borrowed: keep it
	 * alive while the config is used), NULL for none; mmproj_cpu:
	 * --no-mmproj-offload */
	const struct gguf_file *mmproj;
	bool mmproj_cpu;
	/* --lora / --lora-scaled: the adapters' headers (borrowed), in order */
	const struct gguf_file *loras[EST_MAX_LORAS];
	size_t n_loras;
	/* the adapters llama.cpp leaves out of the graph: a scale of 0, or
	 * --lora-init-without-apply (their tensors are loaded all the same) */
	bool lora_off[EST_MAX_LORAS];
	/* -md: a draft model for speculative decoding (borrowed), which
	 * llama-server loads beside this one with the same options but its
	 * own layers on the GPU (-ngld, -1 = all), cache types (-ctkd,
	 * -ctvd) and no -ot or experts on the CPU (common/speculative.cpp
	 * common_base_params_to_speculative) */
	const struct model *draft;
	int32_t n_gpu_layers_draft;
	uint32_t type_k_draft, type_v_draft;
	size_t n_ts;
	double ts[EST_MAX_DEVICES]; /* -ts */
	size_t n_ot;
	struct est_override ot[EST_MAX_OVERRIDES];
	unsigned cpu_flags;   /* enum est_cpu_flags */
	size_t n_devices;     /* GPUs; 0 = CPU only */
	struct est_device devices[EST_MAX_DEVICES];
};

/* Whether a rule placed at `at` among n -ot patterns (cpu_moe_at,
 * n_cpu_moe_at, n_cpu_ffn_at) comes right before pattern i; i == n: after
 * the last. */
bool est_rule_at(int16_t at, size_t i, size_t n);

/* llama.cpp's name of a --pooling value ("none" .. "rank"), NULL for
 * EST_POOL_UNSET; est_pooling_parse() the reverse: 0 or -EINVAL. */
const char *est_pooling_name(uint8_t pooling);
int est_pooling_parse(const char *name, uint8_t *ret);

/* llama-server's --cache-ram default (common.h cache_ram_mib) */
#define EST_CACHE_RAM_DEFAULT_MIB 8192
/* and its --ctx-checkpoints default (common.h n_ctx_checkpoints) */
#define EST_CTX_CHECKPOINTS_DEFAULT 32

/* Fills c with llama-server's defaults (CPU only, no CPU features). */
void est_config_init(struct est_config *c);

/* Memory of one device (index 0 is always the host). */
struct est_usage {
	char name[32];
	uint8_t kind;
	uint64_t weights;        /* all model buffers on this device */
	uint64_t weights_mapped; /* host: the CPU_Mapped span (file pages) */
	uint64_t weights_repack; /* host: CPU_REPACK copies (anonymous) */
	uint64_t weights_read;   /* weight bytes one decoded token reads here:
	                          * each tensor once, experts scaled by the
	                          * share of them a token uses */
	uint64_t kv;
	uint64_t recurrent;
	uint64_t compute;
	uint64_t output;
	uint64_t overhead;
	uint64_t lora;           /* --lora: the adapters' tensors, in buffers of
	                          * the device of the weight each adapts */
	uint64_t projector;      /* --mmproj: the projector's weights (clip.cpp
	                          * reads them into a buffer of its device) */
	uint64_t projector_compute; /* and the compute buffer clip.cpp reserves
	                          * for its warmup image (Gemma 3's and Idefics3's projectors;
	                          * 0 for the types not modelled: projector_why) */
	uint64_t draft;          /* -md: the draft model's weights, caches,
	                          * compute and output buffers on this device */
	uint64_t total;
};

/* What `top` shows for the llama-server process: resident file pages (the
 * mapped weights, the binary, with a GPU the CUDA libraries) and anonymous
 * memory, after loading and after the first batch (which touches the
 * compute buffer; llama-server's warmup runs one at start unless
 * --no-warmup). The file pages are reclaimable page cache. With a GPU the
 * host's compute buffer (and the output buffer once the output layer is
 * offloaded, which it is with the first offloaded layer) is pinned memory
 * instead, resident from the start and counted by the kernel as shared
 * (RssShmem): pinned; 0 without a GPU. */
struct est_rss {
	uint64_t file;
	uint64_t anon_loaded;
	uint64_t anon_running;
	uint64_t pinned;
};

struct est_result {
	/* the configuration as llama.cpp resolves it */
	uint32_t n_ctx, n_ctx_seq, n_seq, n_stream, n_batch, n_ubatch, n_outputs_max;
	uint32_t kv_size, kv_size_swa, n_reserve_tokens;
	bool kv_unified, fa_kv;  /* fa_kv: flash attention as the cache sees it */
	bool fa_graph;           /* flash attention in the compute graphs: fa_kv, but
	                          * -fa auto resolved as llama.cpp does (off when an
	                          * attention lands off its layer's device) */
	uint32_t n_gpu_layers;   /* layers offloaded, output layer included */
	uint32_t dev_layers[EST_MAX_DEVICES]; /* of those, on each device */
	uint32_t n_kv_layers, n_swa_layers, n_recurrent_layers;
	size_t n_usage;
	struct est_usage usage[EST_MAX_DEVICES + 1];
	struct est_rss rss;
	/* --mmproj: why the projector's compute buffer is not counted (NULL
	 * when it is, or without a projector) */
	const char *projector_why;
	/* host RAM llama-server's prompt cache may take at run time, beyond
	 * what loading allocates (not in any total): saved slot states, up to
	 * --cache-ram. UINT64_MAX: no limit */
	uint64_t prompt_cache;
	/* host RAM the context checkpoints may take at run time (not in any
	 * total): llama-server saves, per slot, up to -ctxcp copies of what
	 * its cache cannot roll back (the sliding-window layers' cells of the
	 * sequence, a recurrent state), each checkpoint_size bytes; 0 when the
	 * model needs none (a cache without sliding window or recurrent
	 * state can drop a sequence's tail) */
	uint64_t checkpoint_size;
	uint64_t checkpoints_max;
	/* why: one line per component */
	char rule_weights[EST_RULE_MAX];
	char rule_kv[EST_RULE_MAX];
	char rule_recurrent[EST_RULE_MAX];
	char rule_compute[EST_RULE_MAX];
	char rule_output[EST_RULE_MAX];
	char rule_overhead[EST_RULE_MAX];
};

/* Estimates m under c into *r. Returns 0, or -EINVAL with the refusal
 * llama.cpp would give (a quantized V cache without flash attention, an
 * unsupported KV type, ...) in *d, or -EOVERFLOW when a size overflows. */
int est_estimate(const struct model *m, const struct est_config *c, struct est_result *r,
		 struct diag *d) ATTR_WUR;

/* The cache types llama-server accepts for -ctk/-ctv, by name; -EINVAL
 * for others. */
int est_kv_type_parse(const char *name, uint32_t *ret) ATTR_WUR;

#endif
