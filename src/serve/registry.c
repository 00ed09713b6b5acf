/* registry.c: the models `llmem serve` serves: llama.cpp router's
 * --models-dir layout and --models-preset INI files, merged the way the
 * router merges them, into one list with each model's llama-server
 * options. See registry.h for the rules. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/parse.h"
#include "serve/registry.h"

/* ---- llama-server's options ------------------------------------------- */

#define LLO_VALUE 1u  /* takes a value */
#define LLO_TWO 2u    /* takes two values (not in presets, as llama.cpp) */
#define LLO_PRESET 4u /* preset-only: not a command-line option */
#define LLO_LLMEM 8u  /* llmem's own key */

struct llopt {
	const char *args; /* its names, space-separated; the last is used */
	const char *neg;  /* its negative names ("--no-..."), or "" */
	const char *env;  /* its environment name, or "" */
	unsigned flags;
};

/* llama-server v0.5.0's options (common_params_parser_init(...,
 * LLAMA_EXAMPLE_SERVER) plus common_params_add_preset_options(), dumped
 * from the library), then llmem's keys. */
static const struct llopt llopts[] = {
	{ "-h --help --usage", "", "", 0 },
	{ "--version", "", "", 0 },
	{ "-cl --cache-list", "", "", 0 },
	{ "--completion-bash", "", "", 0 },
	{ "-t --threads", "", "LLAMA_ARG_THREADS", LLO_VALUE },
	{ "-tb --threads-batch", "", "", LLO_VALUE },
	{ "-C --cpu-mask", "", "", LLO_VALUE },
	{ "-Cr --cpu-range", "", "", LLO_VALUE },
	{ "--cpu-strict", "", "", LLO_VALUE },
	{ "--prio", "", "", LLO_VALUE },
	{ "--poll", "", "", LLO_VALUE },
	{ "-Cb --cpu-mask-batch", "", "", LLO_VALUE },
	{ "-Crb --cpu-range-batch", "", "", LLO_VALUE },
	{ "--cpu-strict-batch", "", "", LLO_VALUE },
	{ "--prio-batch", "", "", LLO_VALUE },
	{ "--poll-batch", "", "", LLO_VALUE },
	{ "-lcs --lookup-cache-static", "", "", LLO_VALUE },
	{ "-lcd --lookup-cache-dynamic", "", "", LLO_VALUE },
	{ "-c --ctx-size", "", "LLAMA_ARG_CTX_SIZE", LLO_VALUE },
	{ "--kv-unified-per-slot", "", "LLAMA_ARG_KV_UNIFIED_PER_SLOT", LLO_VALUE },
	{ "-n --predict --n-predict", "", "LLAMA_ARG_N_PREDICT", LLO_VALUE },
	{ "-b --batch-size", "", "LLAMA_ARG_BATCH", LLO_VALUE },
	{ "-ub --ubatch-size", "", "LLAMA_ARG_UBATCH", LLO_VALUE },
	{ "--keep", "", "", LLO_VALUE },
	{ "--swa-full", "", "LLAMA_ARG_SWA_FULL", 0 },
	{ "-ctxcp --ctx-checkpoints --swa-checkpoints", "", "LLAMA_ARG_CTX_CHECKPOINTS", LLO_VALUE },
	{ "-cms --checkpoint-min-step", "", "LLAMA_ARG_CHECKPOINT_MIN_SPACING_NT", LLO_VALUE },
	{ "-cram --cache-ram", "", "LLAMA_ARG_CACHE_RAM", LLO_VALUE },
	{ "-kvu --kv-unified", "-no-kvu --no-kv-unified", "LLAMA_ARG_KV_UNIFIED", 0 },
	{ "--cache-idle-slots", "--no-cache-idle-slots", "LLAMA_ARG_CACHE_IDLE_SLOTS", 0 },
	{ "--context-shift", "--no-context-shift", "LLAMA_ARG_CONTEXT_SHIFT", 0 },
	{ "-fa --flash-attn", "", "LLAMA_ARG_FLASH_ATTN", LLO_VALUE },
	{ "--perf", "--no-perf", "LLAMA_ARG_PERF", 0 },
	{ "-e --escape", "--no-escape", "", 0 },
	{ "-r --reverse-prompt", "", "", LLO_VALUE },
	{ "-sp --special", "", "", 0 },
	{ "--warmup", "--no-warmup", "", 0 },
	{ "--spm-infill", "", "", 0 },
	{ "--samplers", "", "", LLO_VALUE },
	{ "-s --seed", "", "", LLO_VALUE },
	{ "--sampler-seq --sampling-seq", "", "", LLO_VALUE },
	{ "--ignore-eos", "", "", 0 },
	{ "--temp --temperature", "", "LLAMA_ARG_TEMPERATURE", LLO_VALUE },
	{ "--top-k", "", "LLAMA_ARG_TOP_K", LLO_VALUE },
	{ "--top-p", "", "LLAMA_ARG_TOP_P", LLO_VALUE },
	{ "--min-p", "", "LLAMA_ARG_MIN_P", LLO_VALUE },
	{ "--top-nsigma --top-n-sigma", "", "", LLO_VALUE },
	{ "--xtc-probability", "", "", LLO_VALUE },
	{ "--xtc-threshold", "", "", LLO_VALUE },
	{ "--typical --typical-p", "", "", LLO_VALUE },
	{ "--repeat-last-n", "", "", LLO_VALUE },
	{ "--repeat-penalty", "", "LLAMA_ARG_REPEAT_PENALTY", LLO_VALUE },
	{ "--presence-penalty", "", "LLAMA_ARG_PRESENCE_PENALTY", LLO_VALUE },
	{ "--frequency-penalty", "", "LLAMA_ARG_FREQUENCY_PENALTY", LLO_VALUE },
	{ "--dry-multiplier", "", "", LLO_VALUE },
	{ "--dry-base", "", "", LLO_VALUE },
	{ "--dry-allowed-length", "", "", LLO_VALUE },
	{ "--dry-penalty-last-n", "", "", LLO_VALUE },
	{ "--dry-sequence-breaker", "", "", LLO_VALUE },
	{ "--adaptive-target", "", "", LLO_VALUE },
	{ "--adaptive-decay", "", "", LLO_VALUE },
	{ "--dynatemp-range", "", "", LLO_VALUE },
	{ "--dynatemp-exp", "", "", LLO_VALUE },
	{ "--mirostat", "", "", LLO_VALUE },
	{ "--mirostat-lr", "", "", LLO_VALUE },
	{ "--mirostat-ent", "", "", LLO_VALUE },
	{ "-l --logit-bias", "", "", LLO_VALUE },
	{ "--grammar", "", "", LLO_VALUE },
	{ "--grammar-file", "", "", LLO_VALUE },
	{ "-j --json-schema", "", "", LLO_VALUE },
	{ "-jf --json-schema-file", "", "", LLO_VALUE },
	{ "-bs --backend-sampling", "", "LLAMA_ARG_BACKEND_SAMPLING", 0 },
	{ "--pooling", "", "LLAMA_ARG_POOLING", LLO_VALUE },
	{ "--rope-scaling", "", "LLAMA_ARG_ROPE_SCALING_TYPE", LLO_VALUE },
	{ "--rope-scale", "", "LLAMA_ARG_ROPE_SCALE", LLO_VALUE },
	{ "--rope-freq-base", "", "LLAMA_ARG_ROPE_FREQ_BASE", LLO_VALUE },
	{ "--rope-freq-scale", "", "LLAMA_ARG_ROPE_FREQ_SCALE", LLO_VALUE },
	{ "--yarn-orig-ctx", "", "LLAMA_ARG_YARN_ORIG_CTX", LLO_VALUE },
	{ "--yarn-ext-factor", "", "LLAMA_ARG_YARN_EXT_FACTOR", LLO_VALUE },
	{ "--yarn-attn-factor", "", "LLAMA_ARG_YARN_ATTN_FACTOR", LLO_VALUE },
	{ "--yarn-beta-slow", "", "LLAMA_ARG_YARN_BETA_SLOW", LLO_VALUE },
	{ "--yarn-beta-fast", "", "LLAMA_ARG_YARN_BETA_FAST", LLO_VALUE },
	{ "-kvo --kv-offload", "-nkvo --no-kv-offload", "LLAMA_ARG_KV_OFFLOAD", 0 },
	{ "--repack", "-nr --no-repack", "LLAMA_ARG_REPACK", 0 },
	{ "--no-host", "", "LLAMA_ARG_NO_HOST", 0 },
	{ "-ctk --cache-type-k", "", "LLAMA_ARG_CACHE_TYPE_K", LLO_VALUE },
	{ "-ctv --cache-type-v", "", "LLAMA_ARG_CACHE_TYPE_V", LLO_VALUE },
	{ "-dt --defrag-thold", "", "LLAMA_ARG_DEFRAG_THOLD", LLO_VALUE },
	{ "-np --parallel", "", "LLAMA_ARG_N_PARALLEL", LLO_VALUE },
	{ "-cb --cont-batching", "-nocb --no-cont-batching", "LLAMA_ARG_CONT_BATCHING", 0 },
	{ "-mm --mmproj", "", "LLAMA_ARG_MMPROJ", LLO_VALUE },
	{ "-mmu --mmproj-url", "", "LLAMA_ARG_MMPROJ_URL", LLO_VALUE },
	{ "--mmproj-auto", "--no-mmproj --no-mmproj-auto", "LLAMA_ARG_MMPROJ_AUTO", 0 },
	{ "--mmproj-offload", "--no-mmproj-offload", "LLAMA_ARG_MMPROJ_OFFLOAD", 0 },
	{ "-mmdev --mmproj-device", "", "MTMD_BACKEND_DEVICE", LLO_VALUE },
	{ "--image-min-tokens", "", "LLAMA_ARG_IMAGE_MIN_TOKENS", LLO_VALUE },
	{ "--image-max-tokens", "", "LLAMA_ARG_IMAGE_MAX_TOKENS", LLO_VALUE },
	{ "--mtmd-batch-max-tokens", "", "LLAMA_ARG_MTMD_BATCH_MAX_TOKENS", LLO_VALUE },
	{ "--video-fps", "", "LLAMA_ARG_VIDEO_FPS", LLO_VALUE },
	{ "--video-timestamp-interval", "", "LLAMA_ARG_VIDEO_TIMESTAMP_INTERVAL", LLO_VALUE },
	{ "--video-ffmpeg-dir", "", "LLAMA_ARG_VIDEO_FFMPEG_DIR", LLO_VALUE },
	{ "-lm --load-mode", "", "LLAMA_ARG_LOAD_MODE", LLO_VALUE },
	{ "-lzm --lazy-mode", "", "LLAMA_ARG_LAZY_MODE", LLO_VALUE },
	{ "--numa", "", "LLAMA_ARG_NUMA", LLO_VALUE },
	{ "-dev --device", "", "LLAMA_ARG_DEVICE", LLO_VALUE },
	{ "--list-devices", "", "", 0 },
	{ "-ot --override-tensor", "", "LLAMA_ARG_OVERRIDE_TENSOR", LLO_VALUE },
	{ "-cmoe --cpu-moe", "", "LLAMA_ARG_CPU_MOE", 0 },
	{ "-ncmoe --n-cpu-moe", "", "LLAMA_ARG_N_CPU_MOE", LLO_VALUE },
	{ "-ncffn --n-cpu-ffn", "", "LLAMA_ARG_N_CPU_FFN", LLO_VALUE },
	{ "-ngl --gpu-layers --n-gpu-layers", "", "LLAMA_ARG_N_GPU_LAYERS", LLO_VALUE },
	{ "-sm --split-mode", "", "LLAMA_ARG_SPLIT_MODE", LLO_VALUE },
	{ "-ts --tensor-split", "", "LLAMA_ARG_TENSOR_SPLIT", LLO_VALUE },
	{ "-mg --main-gpu", "", "LLAMA_ARG_MAIN_GPU", LLO_VALUE },
	{ "-fit --fit", "", "LLAMA_ARG_FIT", LLO_VALUE },
	{ "-fitt --fit-target", "", "LLAMA_ARG_FIT_TARGET", LLO_VALUE },
	{ "-fitc --fit-ctx", "", "LLAMA_ARG_FIT_CTX", LLO_VALUE },
	{ "--check-tensors", "", "", 0 },
	{ "--override-kv", "", "", LLO_VALUE },
	{ "--op-offload", "--no-op-offload", "", 0 },
	{ "--lora", "", "", LLO_VALUE },
	{ "--lora-scaled", "", "", LLO_VALUE },
	{ "--control-vector", "", "", LLO_VALUE },
	{ "--control-vector-scaled", "", "", LLO_VALUE },
	{ "--control-vector-layer-range", "", "", LLO_VALUE|LLO_TWO },
	{ "-a --alias", "", "LLAMA_ARG_ALIAS", LLO_VALUE },
	{ "--tags", "", "LLAMA_ARG_TAGS", LLO_VALUE },
	{ "-m --model", "", "LLAMA_ARG_MODEL", LLO_VALUE },
	{ "-mu --model-url", "", "LLAMA_ARG_MODEL_URL", LLO_VALUE },
	{ "-dr --docker-repo", "", "LLAMA_ARG_DOCKER_REPO", LLO_VALUE },
	{ "-hf -hfr --hf-repo", "", "LLAMA_ARG_HF_REPO", LLO_VALUE },
	{ "-hff --hf-file", "", "LLAMA_ARG_HF_FILE", LLO_VALUE },
	{ "-hft --hf-token", "", "HF_TOKEN", LLO_VALUE },
	{ "--embd-normalize", "", "", LLO_VALUE },
	{ "--host", "", "LLAMA_ARG_HOST", LLO_VALUE },
	{ "--port", "", "LLAMA_ARG_PORT", LLO_VALUE },
	{ "--reuse-port", "", "LLAMA_ARG_REUSE_PORT", 0 },
	{ "--path", "", "LLAMA_ARG_STATIC_PATH", LLO_VALUE },
	{ "--cors-origins", "", "LLAMA_ARG_CORS_ORIGINS", LLO_VALUE },
	{ "--cors-methods", "", "LLAMA_ARG_CORS_METHODS", LLO_VALUE },
	{ "--cors-headers", "", "LLAMA_ARG_CORS_HEADERS", LLO_VALUE },
	{ "--cors-credentials", "--no-cors-credentials", "LLAMA_ARG_CORS_CREDENTIALS", 0 },
	{ "--api-prefix", "", "LLAMA_ARG_API_PREFIX", LLO_VALUE },
	{ "--ui-config --webui-config", "", "LLAMA_ARG_UI_CONFIG", LLO_VALUE },
	{ "--ui-config-file --webui-config-file", "", "LLAMA_ARG_UI_CONFIG_FILE", LLO_VALUE },
	{ "--ui-mcp-proxy --webui-mcp-proxy", "--no-ui-mcp-proxy --no-webui-mcp-proxy", "LLAMA_ARG_UI_MCP_PROXY", 0 },
	{ "--tools", "", "LLAMA_ARG_TOOLS", LLO_VALUE },
	{ "--tools-runtime", "", "LLAMA_ARG_TOOLS_RUNTIME", LLO_VALUE },
	{ "--mcp-servers-config", "", "LLAMA_ARG_MCP_SERVERS_CONFIG", LLO_VALUE },
	{ "--mcp-servers-json", "", "LLAMA_ARG_MCP_SERVERS_JSON", LLO_VALUE },
	{ "-ag --agent", "-no-ag --no-agent", "LLAMA_ARG_AGENT", 0 },
	{ "--ui --webui", "--no-ui --no-webui", "LLAMA_ARG_UI", 0 },
	{ "--embedding --embeddings", "", "LLAMA_ARG_EMBEDDINGS", 0 },
	{ "--rerank --reranking", "", "LLAMA_ARG_RERANKING", 0 },
	{ "--api-key", "", "LLAMA_API_KEY", LLO_VALUE },
	{ "--api-key-file", "", "LLAMA_ARG_API_KEY_FILE", LLO_VALUE },
	{ "--ssl-key-file", "", "LLAMA_ARG_SSL_KEY_FILE", LLO_VALUE },
	{ "--ssl-cert-file", "", "LLAMA_ARG_SSL_CERT_FILE", LLO_VALUE },
	{ "--chat-template-kwargs", "", "LLAMA_ARG_CHAT_TEMPLATE_KWARGS", LLO_VALUE },
	{ "-to --timeout", "", "LLAMA_ARG_TIMEOUT", LLO_VALUE },
	{ "--sse-ping-interval", "", "LLAMA_ARG_SSE_PING_INTERVAL", LLO_VALUE },
	{ "--threads-http", "", "LLAMA_ARG_THREADS_HTTP", LLO_VALUE },
	{ "--cache-prompt", "--no-cache-prompt", "LLAMA_ARG_CACHE_PROMPT", 0 },
	{ "--cache-reuse", "", "LLAMA_ARG_CACHE_REUSE", LLO_VALUE },
	{ "--metrics", "", "LLAMA_ARG_ENDPOINT_METRICS", 0 },
	{ "--props", "", "LLAMA_ARG_ENDPOINT_PROPS", 0 },
	{ "--slots", "--no-slots", "LLAMA_ARG_ENDPOINT_SLOTS", 0 },
	{ "--slot-save-path", "", "", LLO_VALUE },
	{ "--media-path", "", "", LLO_VALUE },
	{ "--models-dir", "", "LLAMA_ARG_MODELS_DIR", LLO_VALUE },
	{ "--models-preset", "", "LLAMA_ARG_MODELS_PRESET", LLO_VALUE },
	{ "--models-max", "", "LLAMA_ARG_MODELS_MAX", LLO_VALUE },
	{ "--models-autoload", "--no-models-autoload", "LLAMA_ARG_MODELS_AUTOLOAD", 0 },
	{ "--jinja", "--no-jinja", "LLAMA_ARG_JINJA", 0 },
	{ "--reasoning-format", "", "LLAMA_ARG_THINK", LLO_VALUE },
	{ "-rea --reasoning", "", "LLAMA_ARG_REASONING", LLO_VALUE },
	{ "--reasoning-effort", "", "LLAMA_ARG_REASONING_EFFORT", LLO_VALUE },
	{ "--reasoning-budget", "", "LLAMA_ARG_THINK_BUDGET", LLO_VALUE },
	{ "--reasoning-budget-message", "", "LLAMA_ARG_THINK_BUDGET_MESSAGE", LLO_VALUE },
	{ "--reasoning-preserve", "--no-reasoning-preserve", "LLAMA_ARG_REASONING_PRESERVE", 0 },
	{ "--chat-template", "", "LLAMA_ARG_CHAT_TEMPLATE", LLO_VALUE },
	{ "--chat-template-file", "", "LLAMA_ARG_CHAT_TEMPLATE_FILE", LLO_VALUE },
	{ "--skip-chat-parsing", "--no-skip-chat-parsing", "LLAMA_ARG_SKIP_CHAT_PARSING", 0 },
	{ "--prefill-assistant", "--no-prefill-assistant", "LLAMA_ARG_PREFILL_ASSISTANT", 0 },
	{ "-sps --slot-prompt-similarity", "", "", LLO_VALUE },
	{ "--lora-init-without-apply", "", "", 0 },
	{ "--sleep-idle-seconds", "", "", LLO_VALUE },
	{ "--log-disable", "", "", 0 },
	{ "--log-file", "", "LLAMA_ARG_LOG_FILE", LLO_VALUE },
	{ "--log-jsonl", "--no-log-jsonl", "LLAMA_ARG_LOG_JSONL", 0 },
	{ "--log-prompts-dir", "", "", LLO_VALUE },
	{ "--log-colors", "", "LLAMA_ARG_LOG_COLORS", LLO_VALUE },
	{ "-v --verbose --log-verbose", "", "", 0 },
	{ "--offline", "", "LLAMA_ARG_OFFLINE", 0 },
	{ "-lv --verbosity --log-verbosity", "", "LLAMA_ARG_LOG_VERBOSITY", LLO_VALUE },
	{ "--log-prefix", "--no-log-prefix", "LLAMA_ARG_LOG_PREFIX", 0 },
	{ "--log-timestamps", "--no-log-timestamps", "LLAMA_ARG_LOG_TIMESTAMPS", 0 },
	{ "--spec-draft-hf -hfd -hfrd --hf-repo-draft", "", "LLAMA_ARG_SPEC_DRAFT_HF_REPO", LLO_VALUE },
	{ "--spec-draft-threads -td --threads-draft", "", "", LLO_VALUE },
	{ "--spec-draft-threads-batch -tbd --threads-batch-draft", "", "", LLO_VALUE },
	{ "--spec-draft-cpu-mask -Cd --cpu-mask-draft", "", "", LLO_VALUE },
	{ "--spec-draft-cpu-range -Crd --cpu-range-draft", "", "", LLO_VALUE },
	{ "--spec-draft-cpu-strict --cpu-strict-draft", "", "", LLO_VALUE },
	{ "--spec-draft-prio --prio-draft", "", "", LLO_VALUE },
	{ "--spec-draft-poll --poll-draft", "", "", LLO_VALUE },
	{ "--spec-draft-cpu-mask-batch -Cbd --cpu-mask-batch-draft", "", "", LLO_VALUE },
	{ "--spec-draft-cpu-strict-batch --cpu-strict-batch-draft", "", "", LLO_VALUE },
	{ "--spec-draft-prio-batch --prio-batch-draft", "", "", LLO_VALUE },
	{ "--spec-draft-poll-batch --poll-batch-draft", "", "", LLO_VALUE },
	{ "--spec-draft-type-k -ctkd --cache-type-k-draft", "", "LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_K", LLO_VALUE },
	{ "--spec-draft-type-v -ctvd --cache-type-v-draft", "", "LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_V", LLO_VALUE },
	{ "--spec-draft-override-tensor -otd --override-tensor-draft", "", "", LLO_VALUE },
	{ "--spec-draft-cpu-moe -cmoed --cpu-moe-draft", "", "LLAMA_ARG_SPEC_DRAFT_CPU_MOE", 0 },
	{ "--spec-draft-n-cpu-moe --spec-draft-ncmoe -ncmoed --n-cpu-moe-draft", "", "LLAMA_ARG_SPEC_DRAFT_N_CPU_MOE", LLO_VALUE },
	{ "--spec-draft-n-max", "", "LLAMA_ARG_SPEC_DRAFT_N_MAX", LLO_VALUE },
	{ "--spec-draft-n-min", "", "LLAMA_ARG_SPEC_DRAFT_N_MIN", LLO_VALUE },
	{ "--spec-synth-len", "", "LLAMA_ARG_SPEC_SYNTH_LEN", LLO_VALUE },
	{ "--spec-synth-rates", "", "LLAMA_ARG_SPEC_SYNTH_RATES", LLO_VALUE },
	{ "--spec-draft-p-split --draft-p-split", "", "LLAMA_ARG_SPEC_DRAFT_P_SPLIT", LLO_VALUE },
	{ "--spec-draft-p-min --draft-p-min", "", "LLAMA_ARG_SPEC_DRAFT_P_MIN", LLO_VALUE },
	{ "--spec-draft-backend-sampling", "--no-spec-draft-backend-sampling", "LLAMA_ARG_SPEC_DRAFT_BACKEND_SAMPLING", 0 },
	{ "--spec-draft-device -devd --device-draft", "", "", LLO_VALUE },
	{ "--spec-draft-ngl -ngld --gpu-layers-draft --n-gpu-layers-draft", "", "LLAMA_ARG_N_GPU_LAYERS_DRAFT", LLO_VALUE },
	{ "--spec-draft-model -md --model-draft", "", "LLAMA_ARG_SPEC_DRAFT_MODEL", LLO_VALUE },
	{ "--spec-type", "", "LLAMA_ARG_SPEC_TYPE", LLO_VALUE },
	{ "--spec-ngram-mod-n-min", "", "", LLO_VALUE },
	{ "--spec-ngram-mod-n-max", "", "", LLO_VALUE },
	{ "--spec-ngram-mod-n-match", "", "", LLO_VALUE },
	{ "--spec-ngram-simple-size-n", "", "", LLO_VALUE },
	{ "--spec-ngram-simple-size-m", "", "", LLO_VALUE },
	{ "--spec-ngram-simple-min-hits", "", "", LLO_VALUE },
	{ "--spec-ngram-map-k-size-n", "", "", LLO_VALUE },
	{ "--spec-ngram-map-k-size-m", "", "", LLO_VALUE },
	{ "--spec-ngram-map-k-min-hits", "", "", LLO_VALUE },
	{ "--spec-ngram-map-k4v-size-n", "", "", LLO_VALUE },
	{ "--spec-ngram-map-k4v-size-m", "", "", LLO_VALUE },
	{ "--spec-ngram-map-k4v-min-hits", "", "", LLO_VALUE },
	{ "--draft --draft-n --draft-max", "", "LLAMA_ARG_DRAFT_MAX", LLO_VALUE },
	{ "--draft-min --draft-n-min", "", "LLAMA_ARG_DRAFT_MIN", LLO_VALUE },
	{ "--spec-ngram-size-n", "", "", LLO_VALUE },
	{ "--spec-ngram-size-m", "", "", LLO_VALUE },
	{ "--spec-ngram-min-hits", "", "", LLO_VALUE },
	{ "--embd-gemma-default", "", "", 0 },
	{ "--fim-qwen-1.5b-default", "", "", 0 },
	{ "--fim-qwen-3b-default", "", "", 0 },
	{ "--fim-qwen-7b-default", "", "", 0 },
	{ "--fim-qwen-7b-spec", "", "", 0 },
	{ "--fim-qwen-14b-spec", "", "", 0 },
	{ "--fim-qwen-30b-default", "", "", 0 },
	{ "--gpt-oss-20b-default", "", "", 0 },
	{ "--gpt-oss-120b-default", "", "", 0 },
	{ "--vision-gemma-4b-default", "", "", 0 },
	{ "--vision-gemma-12b-default", "", "", 0 },
	{ "--spec-default", "", "", 0 },
	{ "load-on-startup", "", "__PRESET_LOAD_ON_STARTUP", LLO_VALUE|LLO_PRESET },
	{ "stop-timeout", "", "__PRESET_STOP_TIMEOUT", LLO_VALUE|LLO_PRESET },
	{ "dedup-cache-models", "", "__PRESET_DEDUP_CACHE_MODELS", LLO_VALUE|LLO_PRESET },
	{ "keep-alive", "", "", LLO_VALUE | LLO_LLMEM },
	{ "pin", "", "", LLO_VALUE | LLO_LLMEM },
	{ "priority", "", "", LLO_VALUE | LLO_LLMEM },
	{ "shrink", "", "", LLO_VALUE | LLO_LLMEM },
};

struct reg_opt {
	int idx;     /* into llopts, or -1: a key llama-server v0.5.0 does not
	              * know, passed on as "--key" */
	char *key;   /* the key as written */
	char *value; /* flags negated by their key already turned over */
	char *where; /* "FILE:LINE", or the file a models dir gave */
};

static const struct {
	const char *name;
	const char *why;
} refused[] = {
	{ "host", "llmem chooses the backend's address" },
	{ "port", "llmem chooses the backend's port" },
	{ "api-key", "llmem talks to its backends without a key" },
	{ "api-key-file", "llmem talks to its backends without a key" },
	{ "ssl-key-file", "llmem talks plain HTTP to its backends" },
	{ "ssl-cert-file", "llmem talks plain HTTP to its backends" },
	{ "api-prefix", "llmem forwards requests to the backend's usual paths" },
	{ "models-dir", "a backend serves one model: give the directory to llmem serve" },
	{ "models-preset", "a backend serves one model: give the file to llmem serve" },
	{ "models-max", "llmem decides how many models are loaded" },
	{ "models-autoload", "llmem decides when models load" },
	{ "fit", "llmem places the model itself and starts llama-server with --fit off" },
	{ "log-disable", "llmem reads the backend's log" },
	{ "log-jsonl", "llmem reads the backend's text log" },
	{ "help", "it makes llama-server print its help and exit" },
	{ "cache-list", "it makes llama-server print and exit" },
	{ "completion-bash", "it makes llama-server print and exit" },
	{ "list-devices", "it makes llama-server print and exit" },
	{ "hf-repo", "llmem serves local files: download the model and give its path as model" },
	{ "hf-file", "llmem serves local files: download the model and give its path as model" },
	{ "model-url", "llmem serves local files: download the model and give its path as model" },
	{ "docker-repo", "llmem serves local files: download the model and give its path as model" },
	{ "mmproj-url", "llmem serves local files: download the projector and give its path as mmproj" },
	{ "hf-repo-draft", "llmem serves local files: download the draft model and give its path as model-draft" },
	/* what would let a client reach past the model (docs/SECURITY.md, B40) */
	{ "rpc", "a backend computes on this machine only (RPC servers take tensors from anyone who connects)" },
	{ "props", "POST /props would let a client change the backend's settings" },
	{ "slot-save-path", "slot files would be written where a client names them" },
	{ "media-path", "clients would read files of this machine through file:// URLs" },
	{ "tools", "llama-server's built-in tools read, write and run files for the client" },
	{ "tools-runtime", "llama-server's built-in tools read, write and run files for the client" },
	{ "agent", "llama-server's built-in tools read, write and run files for the client" },
	{ "mcp-servers-config", "MCP servers run with the backend's rights" },
	{ "mcp-servers-json", "MCP servers run with the backend's rights" },
	{ "ui-mcp-proxy", "the MCP proxy forwards requests anywhere the machine reaches" },
};

/* A key llama-server v0.5.0 does not know (passed on as "--key") that
 * refused[] names (--rpc exists only in builds with the RPC backend). */
static const char *refused_unknown(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (!strcmp(key, refused[i].name))
			return refused[i].why;
	return NULL;
}

/* Whether the space-separated list holds name, leading dashes ignored. */
static bool tok_has(const char *list, const char *name)
{
	size_t nl = strlen(name);

	while (*list) {
		const char *e;

		while (*list == ' ')
			list++;
		while (*list == '-')
			list++;
		e = strchr(list, ' ');
		if (!e)
			e = list + strlen(list);
		if ((size_t)(e - list) == nl && !memcmp(list, name, nl))
			return true;
		list = e;
	}
	return false;
}

/* whether list (space-separated names) has name exactly, dashes and all */
static bool spelled(const char *list, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = list; (p = strstr(p, name)) != NULL; p += nl)
		if ((p == list || p[-1] == ' ') && (p[nl] == ' ' || p[nl] == '\0'))
			return true;
	return false;
}

/* The last name of the list, dashes kept: the one llama.cpp writes. */
static size_t tok_last(const char *list, const char **start)
{
	const char *sp = strrchr(list, ' ');

	*start = sp ? sp + 1 : list;
	return strlen(*start);
}

/* The option a preset key names (llama.cpp's key_to_opt: every name
 * without dashes, positive and negative, the environment name and, for
 * a flag with a negative form, its LLAMA_ARG_NO_ name). *neg: the key is
 * a negative name. -1 when none. */
static int opt_lookup(const char *key, bool *neg)
{
	*neg = false;
	for (size_t i = 0; i < ARRAY_SIZE(llopts); i++) {
		const struct llopt *o = &llopts[i];

		if (tok_has(o->args, key))
			return (int)i;
		if (o->neg[0] && tok_has(o->neg, key)) {
			*neg = true;
			return (int)i;
		}
		if (o->env[0] && !strcmp(o->env, key))
			return (int)i;
		/* llama.cpp accepts it but does not turn the value over */
		if (o->neg[0] && !strncmp(o->env, "LLAMA_ARG_", 10) && !strncmp(key, "LLAMA_ARG_NO_", 13) &&
		    !strcmp(o->env + 10, key + 13))
			return (int)i;
	}
	return -1;
}

bool reg_model_no_mmproj(const struct reg_model *m)
{
	for (size_t i = 0; i < m->n_args; i++)
		if (!strcmp(m->args[i], "--no-mmproj-auto") || !strcmp(m->args[i], "--no-mmproj"))
			return true;
	return false;
}

int registry_llama_opt_values(const char *arg)
{
	char buf[96];
	size_t n = strlen(arg);
	bool neg;
	int idx;

	/* tok_has() compares without the dashes: "-c" and "--c" would be
	 * the same name, so the dashes are checked against the table's */
	if (arg[0] != '-' || n >= sizeof(buf))
		return -1;
	memcpy(buf, arg, n + 1);
	if (arg[1] == '-')
		for (char *p = buf; *p; p++)
			if (*p == '_')
				*p = '-';
	idx = opt_lookup(buf + (buf[1] == '-' ? 2 : 1), &neg);
	if (idx < 0 || (llopts[idx].flags & (LLO_PRESET | LLO_LLMEM)) ||
	    !spelled(neg ? llopts[idx].neg : llopts[idx].args, buf))
		return -1;
	if (neg || !(llopts[idx].flags & LLO_VALUE))
		return 0;
	return llopts[idx].flags & LLO_TWO ? 2 : 1;
}

static bool opt_is(int idx, const char *name)
{
	return idx >= 0 && tok_has(llopts[idx].args, name);
}

static bool is_truthy(const char *v)
{
	return !strcmp(v, "on") || !strcmp(v, "enabled") || !strcmp(v, "true") || !strcmp(v, "1");
}

static bool is_falsey(const char *v)
{
	return !strcmp(v, "off") || !strcmp(v, "disabled") || !strcmp(v, "false") || !strcmp(v, "0");
}

static int parse_bool(const char *v, bool *b)
{
	if (is_truthy(v))
		*b = true;
	else if (is_falsey(v))
		*b = false;
	else
		return -EINVAL;
	return 0;
}

/* Valid UTF-8 with no control characters: a name fit for JSON and logs. */
static bool name_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p;
		int k;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3;
		else
			return false;
		for (int i = 1; i <= k; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
		    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
			return false;
		p += k + 1;
	}
	return true;
}

/* llama.cpp's canonical_tag(): the tag after the last '-' or '.' when
 * only [A-Za-z0-9_] follow it, else the whole tag, upper-cased. */
static void canonical_tag(const char *tag, char *out, size_t outsz)
{
	size_t n = strlen(tag), start = 0, k = 0;

	for (size_t i = n; i > 0; i--) {
		char c = tag[i - 1];

		if ((c == '-' || c == '.') && i < n) {
			start = i;
			break;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			break;
	}
	for (size_t i = start; i < n && k + 1 < outsz; i++)
		out[k++] = (tag[i] >= 'a' && tag[i] <= 'z') ? (char)(tag[i] - 'a' + 'A') : tag[i];
	out[k] = '\0';
}

/* name with its tag (after the last ':') made canonical, into out. */
static void canonical_name(const char *name, char *out, size_t outsz)
{
	const char *colon = strrchr(name, ':');
	size_t pre;

	snprintf(out, outsz, "%s", name);
	if (!colon || !strcmp(name, "*") || !strcmp(name, "default"))
		return;
	pre = (size_t)(colon - name) + 1;
	if (pre < outsz)
		canonical_tag(colon + 1, out + pre, outsz - pre);
}

/* ---- layers of options ------------------------------------------------ */

static void opt_free(struct reg_opt *o)
{
	free(o->key);
	free(o->value);
	free(o->where);
}

static void layer_free(struct reg_layer *l)
{
	for (size_t i = 0; i < l->n; i++)
		opt_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool same_opt(const struct reg_opt *a, int idx, const char *key)
{
	return a->idx == idx && (idx >= 0 || !strcmp(a->key, key));
}

/* Sets an option in l: replaces the one it names, or appends. */
static int layer_set(struct reg_layer *l, int idx, const char *key, const char *value, const char *where)
{
	struct reg_opt o = { idx, strdup(key), strdup(value), strdup(where) };

	if (!o.key || !o.value || !o.where) {
		opt_free(&o);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (same_opt(&l->v[i], idx, key)) {
			opt_free(&l->v[i]);
			l->v[i] = o;
			return 0;
		}
	}
	{
		struct reg_opt *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

		if (!nv) {
			opt_free(&o);
			return -ENOMEM;
		}
		l->v = nv;
		l->v[l->n++] = o;
	}
	return 0;
}

static int layer_merge(struct reg_layer *dst, const struct reg_layer *src)
{
	for (size_t i = 0; i < src->n; i++) {
		const struct reg_opt *o = &src->v[i];
		int e = layer_set(dst, o->idx, o->key, o->value, o->where);

		if (e < 0)
			return e;
	}
	return 0;
}

/* ---- models ----------------------------------------------------------- */

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void model_free(struct reg_model *m)
{
	strv_free(m->args, m->n_args);
	strv_free(m->aliases, m->n_aliases);
	m->args = m->aliases = NULL;
	m->n_args = m->n_aliases = 0;
	layer_free(&m->dir);
	layer_free(&m->sec);
}

static int strv_add(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strndup(s, len);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int layer_copy(struct reg_layer *dst, const struct reg_layer *src)
{
	dst->n = 0;
	dst->v = NULL;
	return layer_merge(dst, src);
}

static int model_copy(struct reg_model *dst, const struct reg_model *src)
{
	*dst = *src;
	dst->args = dst->aliases = NULL;
	dst->n_args = dst->n_aliases = 0;
	dst->dir.v = dst->sec.v = NULL;
	dst->dir.n = dst->sec.n = 0;
	for (size_t i = 0; i < src->n_args; i++)
		if (strv_add(&dst->args, &dst->n_args, src->args[i], strlen(src->args[i])) < 0)
			goto fail;
	for (size_t i = 0; i < src->n_aliases; i++)
		if (strv_add(&dst->aliases, &dst->n_aliases, src->aliases[i], strlen(src->aliases[i])) < 0)
			goto fail;
	if (layer_copy(&dst->dir, &src->dir) < 0 || layer_copy(&dst->sec, &src->sec) < 0)
		goto fail;
	return 0;
fail:
	model_free(dst);
	return -ENOMEM;
}

/* Appends the llama-server arguments of one option (llama.cpp's
 * common_preset::to_args()). */
static int render_opt(struct reg_model *m, const struct reg_opt *o)
{
	const char *name;
	size_t len;
	char buf[REG_NAME_MAX + 3];
	int e;

	if (o->idx < 0) {
		/* unknown to v0.5.0: "--key value", a flag when true or empty */
		if (!strcmp(o->value, "false"))
			return 0;
		snprintf(buf, sizeof(buf), "--%s", o->key);
		e = strv_add(&m->args, &m->n_args, buf, strlen(buf));
		if (e == 0 && o->value[0] && strcmp(o->value, "true"))
			e = strv_add(&m->args, &m->n_args, o->value, strlen(o->value));
		return e;
	}
	len = tok_last(llopts[o->idx].args, &name);
	if (!(llopts[o->idx].flags & LLO_VALUE)) {
		if (is_falsey(o->value)) {
			if (!llopts[o->idx].neg[0])
				return 0;
			len = tok_last(llopts[o->idx].neg, &name);
		}
		return strv_add(&m->args, &m->n_args, name, len);
	}
	e = strv_add(&m->args, &m->n_args, name, len);
	if (e == 0)
		e = strv_add(&m->args, &m->n_args, o->value, strlen(o->value));
	return e;
}

static int set_aliases(struct reg_model *m, const char *v)
{
	while (*v) {
		const char *e = strchr(v, ','), *b = v;
		size_t len;

		if (!e)
			e = v + strlen(v);
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		len = (size_t)(e - b);
		while (len > 0 && (b[len - 1] == ' ' || b[len - 1] == '\t'))
			len--;
		if (len > 0) {
			int r = strv_add(&m->aliases, &m->n_aliases, b, len);

			if (r < 0)
				return r;
		}
		v = *e ? e + 1 : e;
	}
	return 0;
}

/* Computes m's public fields from the layers: [*], then the models dir's,
 * then (with [*] again, as llama.cpp cascades each source over [*]) the
 * section's. */
static int model_resolve(struct reg_model *m, const struct reg_layer *global, struct diag *d)
{
	struct reg_layer all = { 0, NULL };
	int e;

	strv_free(m->args, m->n_args);
	strv_free(m->aliases, m->n_aliases);
	m->args = m->aliases = NULL;
	m->n_args = m->n_aliases = 0;
	m->path[0] = m->mmproj[0] = '\0';
	m->load_on_startup = false;
	m->stop_timeout_ms = REG_STOP_TIMEOUT_DEFAULT_MS;
	m->priority = 0;
	m->pin = false;
	m->keep_alive_ms = 0;
	m->keep_alive_set = false;
	m->may_shrink = true;

	e = layer_merge(&all, global);
	if (e == 0 && m->has_dir)
		e = layer_merge(&all, &m->dir);
	if (e == 0 && m->has_sec && m->has_dir)
		e = layer_merge(&all, global);
	if (e == 0 && m->has_sec)
		e = layer_merge(&all, &m->sec);
	for (size_t i = 0; e == 0 && i < all.n; i++) {
		const struct reg_opt *o = &all.v[i];
		int64_t v;

		if (opt_is(o->idx, "model")) {
			snprintf(m->path, sizeof(m->path), "%s", o->value);
		} else if (opt_is(o->idx, "mmproj")) {
			snprintf(m->mmproj, sizeof(m->mmproj), "%s", o->value);
		} else if (opt_is(o->idx, "alias")) {
			e = set_aliases(m, o->value);
		} else if (opt_is(o->idx, "load-on-startup")) {
			e = parse_bool(o->value, &m->load_on_startup);
		} else if (opt_is(o->idx, "stop-timeout")) {
			e = parse_i64(o->value, &v);
			m->stop_timeout_ms = v * 1000; /* checked when read */
		} else if (opt_is(o->idx, "dedup-cache-models")) {
			/* for the router's Hugging Face cache: nothing here */
		} else if (opt_is(o->idx, "keep-alive")) {
			e = parse_duration_ms(o->value, &m->keep_alive_ms);
			m->keep_alive_set = true;
		} else if (opt_is(o->idx, "pin")) {
			e = parse_bool(o->value, &m->pin);
		} else if (opt_is(o->idx, "shrink")) {
			e = parse_bool(o->value, &m->may_shrink);
		} else if (opt_is(o->idx, "priority")) {
			e = parse_i64(o->value, &v);
			m->priority = (int32_t)v; /* range checked when read */
		} else {
			e = render_opt(m, o);
		}
		if (e < 0 && e != -ENOMEM)
			e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "%s: bad value '%s' for %s", o->where,
				     o->value, o->key);
	}
	if (e == -ENOMEM)
		diag_set(d, e, DIAG_NO_OFFSET, "out of memory");
	layer_free(&all);
	return e;
}

/* ---- the registry ----------------------------------------------------- */

void registry_init(struct registry *r)
{
	memset(r, 0, sizeof(*r));
}

void registry_release(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		model_free(&r->v[i]);
	for (size_t i = 0; i < r->n_pending; i++)
		model_free(&r->pending[i]);
	free(r->v);
	free(r->pending);
	layer_free(&r->global);
	registry_init(r);
}

static int registry_copy(struct registry *dst, const struct registry *src)
{
	registry_init(dst);
	if (src->n && !(dst->v = calloc(src->n, sizeof(*dst->v))))
		return -ENOMEM;
	for (; dst->n < src->n; dst->n++)
		if (model_copy(&dst->v[dst->n], &src->v[dst->n]) < 0)
			goto fail;
	if (src->n_pending && !(dst->pending = calloc(src->n_pending, sizeof(*dst->pending))))
		goto fail;
	for (; dst->n_pending < src->n_pending; dst->n_pending++)
		if (model_copy(&dst->pending[dst->n_pending], &src->pending[dst->n_pending]) < 0)
			goto fail;
	if (layer_copy(&dst->global, &src->global) < 0)
		goto fail;
	return 0;
fail:
	registry_release(dst);
	return -ENOMEM;
}

static struct reg_model *find_in(struct reg_model *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* Appends a model (moved: the caller's copy is not freed) to v. */
static int models_push(struct reg_model **v, size_t *n, struct reg_model *m)
{
	struct reg_model *nv;

	if (*n >= REG_MAX_MODELS)
		return -E2BIG;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[(*n)++] = *m;
	return 0;
}

/* Resolves every model, moves pending sections that now name a file into
 * the list, and checks names against aliases (llama.cpp's add_model()). */
static int registry_settle(struct registry *r, struct diag *d)
{
	int e;

	for (size_t i = 0; i < r->n_pending;) {
		struct reg_model *m = &r->pending[i];

		e = model_resolve(m, &r->global, d);
		if (e < 0)
			return e;
		if (!m->path[0]) {
			i++;
			continue;
		}
		e = models_push(&r->v, &r->n, m);
		if (e < 0)
			return diag_set(d, e, DIAG_NO_OFFSET, "%s: too many models (at most %d)",
					m->source, REG_MAX_MODELS);
		memmove(m, m + 1, (r->n_pending - i - 1) * sizeof(*m));
		r->n_pending--;
	}
	for (size_t i = 0; i < r->n; i++) {
		e = model_resolve(&r->v[i], &r->global, d);
		if (e < 0)
			return e;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct reg_model *m = &r->v[i];

		for (size_t a = 0; a < m->n_aliases; a++) {
			const char *al = m->aliases[a];

			if (strlen(al) >= REG_NAME_MAX || !name_ok(al))
				return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
						"%s: alias '%.60s' is too long or has control characters",
						m->source, al);
			for (size_t j = 0; j < r->n; j++) {
				const struct reg_model *o = &r->v[j];

				if (j != i && !strcmp(o->name, al))
					return diag_set(d, -EEXIST, DIAG_NO_OFFSET,
							"%s: alias '%s' of model '%s' is the name of another model (%s)",
							m->source, al, m->name, o->source);
				for (size_t b = 0; j != i && b < o->n_aliases; b++)
					if (!strcmp(o->aliases[b], al))
						return diag_set(d, -EEXIST, DIAG_NO_OFFSET,
								"%s: alias '%s' of model '%s' is also an alias of '%s'",
								m->source, al, m->name, o->name);
			}
		}
	}
	return 0;
}

/* Replaces *r with the changed copy when ok, else drops the copy. */
static int registry_commit(struct registry *r, struct registry *copy, int e)
{
	if (e < 0) {
		registry_release(copy);
		return e;
	}
	registry_release(r);
	*r = *copy;
	return 0;
}

int registry_check(const struct registry *r, struct diag *d)
{
	if (r->n_pending == 0)
		return 0;
	return diag_set(d, -ENOENT, DIAG_NO_OFFSET,
			"%s: [%s] names no model file (no `model = PATH`, and no model of that name in a models directory)",
			r->pending[0].source, r->pending[0].name);
}

static int find_exact(const struct registry *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].name, name))
			return (int)i;
	for (size_t i = 0; i < r->n; i++)
		for (size_t a = 0; a < r->v[i].n_aliases; a++)
			if (!strcmp(r->v[i].aliases[a], name))
				return (int)i;
	return -1;
}

static int find_name(const struct registry *r, const char *name)
{
	char canon[REG_NAME_MAX];
	int i = find_exact(r, name);

	if (i >= 0 || !strchr(name, ':') || strlen(name) >= sizeof(canon))
		return i;
	canonical_name(name, canon, sizeof(canon));
	return find_exact(r, canon);
}

int registry_find(const struct registry *r, const char *name)
{
	char base[REG_NAME_MAX];
	size_t n;
	int i;

	if (!name || !*name)
		return -1;
	i = find_name(r, name);
	n = strlen(name);
	if (i >= 0 || n <= 7 || n - 7 >= sizeof(base) || strcmp(name + n - 7, ":latest"))
		return i;
	memcpy(base, name, n - 7);
	base[n - 7] = '\0';
	return find_name(r, base);
}

/* ---- --models-dir ----------------------------------------------------- */

struct dir_model {
	char name[REG_NAME_MAX];
	char path[REG_PATH_MAX];
	char mmproj[REG_PATH_MAX];
	char draft[REG_PATH_MAX];
};

struct dent {
	char *name;
	bool is_dir;
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static void dents_free(struct dent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* The regular files and (with dirs) directories in path, symbolic links
 * followed, sorted by name. */
static int list_dir(const char *path, bool dirs, struct dent **out, size_t *n_out, struct diag *d)
{
	DIR *dh = opendir(path);
	struct dent *v = NULL;
	size_t n = 0;
	struct dirent *de;
	int e = 0;

	*out = NULL;
	*n_out = 0;
	if (!dh)
		return diag_set(d, -errno, DIAG_NO_OFFSET, "%s: %s", path, strerror(errno));
	while ((errno = 0, de = readdir(dh))) {
		char full[REG_PATH_MAX];
		struct stat st;
		struct dent *nv;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", path, de->d_name) >= sizeof(full)) {
			e = diag_set(d, -ENAMETOOLONG, DIAG_NO_OFFSET, "%s/%.40s...: path too long", path,
				     de->d_name);
			break;
		}
		if (stat(full, &st) < 0)
			continue; /* a dangling link: llama.cpp skips it too */
		if (!S_ISREG(st.st_mode) && !(dirs && S_ISDIR(st.st_mode)))
			continue;
		if (n >= 16 * REG_MAX_MODELS) {
			e = diag_set(d, -E2BIG, DIAG_NO_OFFSET, "%s: too many entries", path);
			break;
		}
		nv = realloc(v, (n + 1) * sizeof(*nv));
		if (!nv || !(nv[n].name = strdup(de->d_name))) {
			if (nv)
				v = nv;
			e = diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
			break;
		}
		v = nv;
		v[n++].is_dir = S_ISDIR(st.st_mode);
	}
	if (!e && errno)
		e = diag_set(d, -errno, DIAG_NO_OFFSET, "%s: %s", path, strerror(errno));
	closedir(dh);
	if (e < 0) {
		dents_free(v, n);
		return e;
	}
	if (n)
		qsort(v, n, sizeof(*v), dent_cmp);
	*out = v;
	*n_out = n;
	return 0;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !memcmp(s + n - m, suf, m);
}

static bool is_mmproj(const char *f)
{
	return strstr(f, "mmproj") != NULL;
}

static bool is_draft(const char *f)
{
	return !strncmp(f, "mtp-", 4) || !strncmp(f, "dspark-", 7) || !strncmp(f, "dflash-", 7);
}

/* "NAME-0000K-of-0000N.gguf" with K > 1: a part that cannot load alone. */
static bool is_later_part(const char *f)
{
	const char *p = strstr(f, "-of-");

	while (p) {
		size_t i = (size_t)(p - f);

		if (i >= 6 && f[i - 6] == '-') {
			bool digits = true;

			for (size_t k = i - 5; k < i; k++)
				digits = digits && f[k] >= '0' && f[k] <= '9';
			if (digits && memcmp(f + i - 5, "00001", 5))
				return true;
		}
		p = strstr(p + 1, "-of-");
	}
	return false;
}

static int dir_name(const char *from, char *name, const char *where, struct diag *d)
{
	size_t n = 0;

	/* llama.cpp: string_replace_all(name, ".gguf", "") */
	for (const char *p = from; *p;) {
		if (!strncmp(p, ".gguf", 5)) {
			p += 5;
			continue;
		}
		if (n + 1 >= REG_NAME_MAX)
			return diag_set(d, -ENAMETOOLONG, DIAG_NO_OFFSET,
					"%s: model name over %d bytes", where, REG_NAME_MAX - 1);
		name[n++] = *p++;
	}
	name[n] = '\0';
	if (!name_ok(name))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				"%s: the model name has control characters or is not UTF-8", where);
	return 0;
}

static int path_join(char *out, const char *dir, const char *name)
{
	int k = snprintf(out, REG_PATH_MAX, "%s/%s", dir, name);

	return k < 0 || k >= REG_PATH_MAX ? -ENAMETOOLONG : 0;
}

static int scan_subdir(const char *path, struct dir_model *m, bool *found, struct diag *d)
{
	struct dent *v;
	size_t n;
	const char *model = NULL, *shard = NULL, *mmproj = NULL, *draft = NULL;
	int e = list_dir(path, false, &v, &n, d);

	*found = false;
	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i++) {
		const char *f = v[i].name;

		if (!ends_with(f, ".gguf"))
			continue;
		if (is_mmproj(f)) {
			if (!mmproj)
				mmproj = f;
		} else if (is_draft(f)) {
			if (!draft)
				draft = f;
		} else if (strstr(f, "-00001-of-")) {
			if (!shard)
				shard = f;
		} else if (!model) {
			model = f;
		}
	}
	if (shard)
		model = shard;
	if (model) {
		/* list_dir checked that path/name fits */
		if (path_join(m->path, path, model) < 0 ||
		    (mmproj && path_join(m->mmproj, path, mmproj) < 0) ||
		    (draft && path_join(m->draft, path, draft) < 0))
			e = diag_set(d, -ENAMETOOLONG, DIAG_NO_OFFSET, "%s: path too long", path);
		*found = e == 0;
	}
	dents_free(v, n);
	return e;
}

static int dir_layer(struct reg_model *m, const struct dir_model *dm)
{
	bool neg;
	int e = layer_set(&m->dir, opt_lookup("model", &neg), "model", dm->path, dm->path);

	if (e == 0 && dm->mmproj[0])
		e = layer_set(&m->dir, opt_lookup("mmproj", &neg), "mmproj", dm->mmproj, dm->mmproj);
	if (e == 0 && dm->draft[0])
		e = layer_set(&m->dir, opt_lookup("model-draft", &neg), "model-draft", dm->draft, dm->draft);
	m->has_dir = true;
	return e;
}

static int add_dir_models(struct registry *r, const struct dir_model *dm, size_t n, struct diag *d)
{
	for (size_t i = 0; i < n; i++) {
		struct reg_model *m = find_in(r->v, r->n, dm[i].name), nm;
		int e;

		if (m && m->has_dir)
			return diag_set(d, -EEXIST, DIAG_NO_OFFSET, "%s: a model named '%s' is already in %s",
					dm[i].path, dm[i].name, m->source);
		if (m)
			e = dir_layer(m, &dm[i]);
		else if ((m = find_in(r->pending, r->n_pending, dm[i].name))) {
			e = dir_layer(m, &dm[i]);
			if (e == 0)
				e = models_push(&r->v, &r->n, m);
			if (e == 0) {
				size_t k = (size_t)(m - r->pending);

				memmove(m, m + 1, (r->n_pending - k - 1) * sizeof(*m));
				r->n_pending--;
			}
		} else {
			memset(&nm, 0, sizeof(nm));
			snprintf(nm.name, sizeof(nm.name), "%s", dm[i].name);
			snprintf(nm.source, sizeof(nm.source), "%s", dm[i].path);
			e = dir_layer(&nm, &dm[i]);
			if (e == 0)
				e = models_push(&r->v, &r->n, &nm);
			if (e < 0)
				model_free(&nm);
		}
		if (e == -E2BIG)
			return diag_set(d, e, DIAG_NO_OFFSET, "%s: too many models (at most %d)", dm[i].path,
					REG_MAX_MODELS);
		if (e < 0)
			return diag_set(d, e, DIAG_NO_OFFSET, "out of memory");
	}
	return 0;
}

int registry_add_dir(struct registry *r, const char *dir, struct diag *d)
{
	struct registry copy;
	struct dent *v = NULL;
	struct dir_model *dm = NULL;
	size_t n = 0, nm = 0;
	struct stat st;
	int e;

	if (stat(dir, &st) < 0)
		return diag_set(d, -errno, DIAG_NO_OFFSET, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return diag_set(d, -ENOTDIR, DIAG_NO_OFFSET, "%s: not a directory", dir);
	e = list_dir(dir, true, &v, &n, d);
	if (e < 0)
		return e;
	dm = calloc(n ? n : 1, sizeof(*dm));
	if (!dm) {
		dents_free(v, n);
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	for (size_t i = 0; i < n && e == 0; i++) {
		const char *f = v[i].name;
		struct dir_model *m = &dm[nm];
		char where[REG_PATH_MAX];
		bool found = true;

		snprintf(where, sizeof(where), "%s/%s", dir, f);
		memset(m, 0, sizeof(*m));
		if (v[i].is_dir) {
			e = scan_subdir(where, m, &found, d);
			/* the directory's name is the model's, as it is */
			if (e == 0 && found && strlen(f) >= sizeof(m->name))
				e = diag_set(d, -ENAMETOOLONG, DIAG_NO_OFFSET,
					     "%s: model name over %d bytes", where, REG_NAME_MAX - 1);
			else if (e == 0 && found && !name_ok(f))
				e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					     "%s: the model name has control characters or is not UTF-8", where);
			else if (e == 0 && found)
				memcpy(m->name, f, strlen(f) + 1);
		} else {
			if (!ends_with(f, ".gguf") || is_mmproj(f) || is_draft(f) || is_later_part(f))
				continue;
			e = dir_name(f, m->name, where, d);
			if (e == 0 && !m->name[0])
				continue; /* ".gguf" */
			snprintf(m->path, sizeof(m->path), "%s", where);
		}
		if (e < 0 || !found)
			continue;
		for (size_t k = 0; k < nm; k++)
			if (!strcmp(dm[k].name, m->name))
				e = diag_set(d, -EEXIST, DIAG_NO_OFFSET,
					     "%s and %s are both model '%s'", dm[k].path, m->path, m->name);
		if (e == 0)
			nm++;
	}
	dents_free(v, n);
	if (e == 0)
		e = registry_copy(&copy, r);
	if (e == -ENOMEM)
		diag_set(d, e, DIAG_NO_OFFSET, "out of memory");
	if (e < 0) {
		free(dm);
		return e;
	}
	e = add_dir_models(&copy, dm, nm, d);
	free(dm);
	if (e == 0)
		e = registry_settle(&copy, d);
	return registry_commit(r, &copy, e);
}

/* ---- --models-preset -------------------------------------------------- */

struct psec {
	char name[REG_NAME_MAX];
	char where[REG_PATH_MAX + 32];
	struct reg_layer opts;
};

struct pctx {
	const char *file;
	uint32_t line;
	uint64_t off;
	struct diag *d;
	struct psec *v;
	size_t n;
	size_t cur; /* the section keys go to; SIZE_MAX: none yet */
};

#define PERR(c, code, ...) perr((c), (code), __VA_ARGS__)

static int perr(struct pctx *c, int code, const char *fmt, ...) ATTR_PRINTF(3, 4);

static int perr(struct pctx *c, int code, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return diag_set(c->d, code, c->off, "%s:%u: %s", c->file, c->line, msg);
}

static int section_open(struct pctx *c, const char *raw, size_t len)
{
	char name[REG_NAME_MAX], canon[REG_NAME_MAX];
	struct psec *nv;

	while (len > 0 && (raw[len - 1] == ' ' || raw[len - 1] == '\t'))
		len--;
	if (len == 0)
		return PERR(c, -EBADMSG, "empty section name");
	if (len >= sizeof(name))
		return PERR(c, -ENAMETOOLONG, "section name over %d bytes", REG_NAME_MAX - 1);
	memcpy(name, raw, len);
	name[len] = '\0';
	if (!name_ok(name))
		return PERR(c, -EBADMSG, "section name with control characters or not UTF-8");
	canonical_name(name, canon, sizeof(canon));
	for (size_t i = 0; i < c->n; i++) {
		if (!strcmp(c->v[i].name, canon)) {
			c->cur = i; /* given again: one section */
			return 0;
		}
	}
	if (c->n >= REG_MAX_MODELS)
		return PERR(c, -E2BIG, "too many sections (at most %d)", REG_MAX_MODELS);
	nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
	if (!nv)
		return PERR(c, -ENOMEM, "out of memory");
	c->v = nv;
	memset(&nv[c->n], 0, sizeof(nv[c->n]));
	snprintf(nv[c->n].name, sizeof(nv[c->n].name), "%s", canon);
	snprintf(nv[c->n].where, sizeof(nv[c->n].where), "%s:%u", c->file, c->line);
	c->cur = c->n++;
	return 0;
}

static int check_value(struct pctx *c, int idx, const char *key, const char *value, bool global)
{
	int64_t v;
	bool b;

	if (llopts[idx].flags & LLO_TWO)
		return PERR(c, -EBADMSG, "%s takes two values, which a preset cannot give (as in llama.cpp)",
			    key);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (opt_is(idx, refused[i].name))
			return PERR(c, -EBADMSG, "%s is not allowed: %s", key, refused[i].why);
	if (global && (opt_is(idx, "model") || opt_is(idx, "mmproj") || opt_is(idx, "alias")))
		return PERR(c, -EBADMSG, "%s in [*] would apply to every model", key);
	if (opt_is(idx, "model") || opt_is(idx, "mmproj")) {
		if (!value[0])
			return PERR(c, -EBADMSG, "%s needs a path", key);
		if (strlen(value) >= REG_PATH_MAX)
			return PERR(c, -ENAMETOOLONG, "%s: path over %d bytes", key, REG_PATH_MAX - 1);
	} else if (opt_is(idx, "load-on-startup") || opt_is(idx, "pin") || opt_is(idx, "shrink")) {
		if (parse_bool(value, &b) < 0)
			return PERR(c, -EBADMSG, "%s: '%.40s' is not a boolean (true/false, on/off, 1/0, enabled/disabled)",
				    key, value);
	} else if (opt_is(idx, "stop-timeout")) {
		if (parse_i64(value, &v) < 0 || v < 0 || v > INT64_MAX / 1000)
			return PERR(c, -EBADMSG, "%s: '%.40s' is not a number of seconds", key, value);
	} else if (opt_is(idx, "priority")) {
		if (parse_i64(value, &v) < 0 || v < INT32_MIN || v > INT32_MAX)
			return PERR(c, -EBADMSG, "%s: '%.40s' is not an integer", key, value);
	} else if (opt_is(idx, "log-verbosity")) {
		if (parse_i64(value, &v) < 0 || v < 4)
			return PERR(c, -EBADMSG, "%s: llmem reads the buffer sizes llama-server logs at 4 and above",
				    key);
	} else if (opt_is(idx, "keep-alive")) {
		if (parse_duration_ms(value, &v) < 0)
			return PERR(c, -EBADMSG, "%s: '%.40s' is not a duration (5m, 1h30m, 300, -1)", key, value);
	}
	return 0;
}

static int key_value(struct pctx *c, const char *key, const char *value)
{
	char where[REG_PATH_MAX + 32];
	struct psec *s;
	bool neg, global;
	int idx, e;

	if (!strcmp(key, "version"))
		return 0; /* reserved by llama.cpp */
	if (strlen(value) > REG_VALUE_MAX)
		return PERR(c, -E2BIG, "value of %s over %u bytes", key, REG_VALUE_MAX);
	if (c->cur == SIZE_MAX) {
		/* keys before any section: llama.cpp's section "default" */
		e = section_open(c, "default", 7);
		if (e < 0)
			return e;
	}
	s = &c->v[c->cur];
	global = !strcmp(s->name, "*");
	idx = opt_lookup(key, &neg);
	if (idx < 0) {
		if (!strncmp(key, "LLAMA_", 6) || key[0] == '_')
			return PERR(c, -EBADMSG, "%s is not an option of llama-server", key);
		if (refused_unknown(key))
			return PERR(c, -EBADMSG, "%s is not allowed: %s", key, refused_unknown(key));
	} else {
		e = check_value(c, idx, key, value, global);
		if (e < 0)
			return e;
		/* a flag named by its negative form: llama.cpp's parse_bool_arg() */
		if (neg && !(llopts[idx].flags & LLO_VALUE))
			value = is_truthy(value) ? "false" : "true";
	}
	snprintf(where, sizeof(where), "%s:%u", c->file, c->line);
	e = layer_set(&s->opts, idx, key, value, where);
	return e < 0 ? PERR(c, e, "out of memory") : 0;
}

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool is_ident(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (!first && ((ch >= '0' && ch <= '9') || ch == '.' || ch == '-'));
}

/* One line (without its end) of llama.cpp's grammar: blank, comment,
 * "[section]" or "key = value". */
static int parse_line(struct pctx *c, const char *s, size_t n)
{
	size_t i = 0;

	if (memchr(s, '\0', n))
		return PERR(c, -EBADMSG, "NUL byte in the line");
	while (i < n && is_ws(s[i]))
		i++;
	if (i == n || s[i] == ';' || s[i] == '#')
		return 0;
	if (i > 0)
		return PERR(c, -EBADMSG, "indented line (llama.cpp takes keys and sections at the start of the line)");
	if (s[0] == '[') {
		size_t b, e;

		for (i = 1; i < n && is_ws(s[i]); i++)
			;
		b = i;
		while (i < n && s[i] != ']')
			i++;
		if (i == n)
			return PERR(c, -EBADMSG, "'[' without ']'");
		e = i++;
		while (i < n && is_ws(s[i]))
			i++;
		if (i < n && s[i] != ';' && s[i] != '#')
			return PERR(c, -EBADMSG, "text after ']'");
		return section_open(c, s + b, e - b);
	}
	if (is_ident(s[0], true)) {
		char key[REG_NAME_MAX], *value;
		size_t kl, vb, ve;
		int e;

		while (i < n && is_ident(s[i], i == 0))
			i++;
		kl = i;
		if (kl >= sizeof(key))
			return PERR(c, -EBADMSG, "key over %d bytes", REG_NAME_MAX - 1);
		memcpy(key, s, kl);
		key[kl] = '\0';
		while (i < n && is_ws(s[i]))
			i++;
		if (i == n || s[i] != '=')
			return PERR(c, -EBADMSG, "expected '=' after %s", key);
		for (i++; i < n && is_ws(s[i]); i++)
			;
		vb = i;
		while (i < n && s[i] != ';' && s[i] != '#')
			i++;
		ve = i;
		while (ve > vb && is_ws(s[ve - 1]))
			ve--;
		value = strndup(s + vb, ve - vb);
		if (!value)
			return PERR(c, -ENOMEM, "out of memory");
		e = key_value(c, key, value);
		free(value);
		return e;
	}
	return PERR(c, -EBADMSG, "expected 'key = value', '[section]' or a comment");
}

static int read_file(const char *path, char **buf, size_t *len, struct diag *d)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t n = 0, cap;
	char *b;

	if (fd < 0)
		return diag_set(d, -errno, DIAG_NO_OFFSET, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > REG_FILE_MAX) {
		close(fd);
		return diag_set(d, -E2BIG, DIAG_NO_OFFSET, "%s: over %u bytes", path, REG_FILE_MAX);
	}
	cap = (size_t)st.st_size + 1;
	b = malloc(cap + 1);
	if (!b) {
		close(fd);
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, b + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			close(fd);
			free(b);
			return diag_set(d, e, DIAG_NO_OFFSET, "%s: %s", path, strerror(-e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			/* it grew while read: still bounded */
			close(fd);
			free(b);
			return diag_set(d, -E2BIG, DIAG_NO_OFFSET, "%s: changed while read", path);
		}
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

static void psecs_free(struct psec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		layer_free(&v[i].opts);
	free(v);
}

static int apply_sections(struct registry *r, struct psec *v, size_t n, struct diag *d)
{
	for (size_t i = 0; i < n; i++) {
		struct psec *s = &v[i];
		struct reg_model *m, nm;
		int e;

		if (!strcmp(s->name, "*")) {
			e = layer_merge(&r->global, &s->opts);
		} else if ((m = find_in(r->v, r->n, s->name)) ||
			   (m = find_in(r->pending, r->n_pending, s->name))) {
			if (!m->has_sec)
				snprintf(m->source, sizeof(m->source), "%s", s->where);
			m->has_sec = true;
			e = layer_merge(&m->sec, &s->opts);
		} else {
			memset(&nm, 0, sizeof(nm));
			snprintf(nm.name, sizeof(nm.name), "%s", s->name);
			snprintf(nm.source, sizeof(nm.source), "%s", s->where);
			nm.has_sec = true;
			e = layer_merge(&nm.sec, &s->opts);
			if (e == 0)
				e = models_push(&r->pending, &r->n_pending, &nm);
			if (e < 0)
				model_free(&nm);
		}
		if (e == -E2BIG)
			return diag_set(d, e, DIAG_NO_OFFSET, "%s: too many models (at most %d)", s->where,
					REG_MAX_MODELS);
		if (e < 0)
			return diag_set(d, e, DIAG_NO_OFFSET, "out of memory");
	}
	return 0;
}

int registry_add_preset(struct registry *r, const char *ini_path, struct diag *d)
{
	struct pctx c = { ini_path, 0, 0, d, NULL, 0, SIZE_MAX };
	struct registry copy;
	char *buf = NULL;
	size_t len = 0, pos = 0;
	int e = read_file(ini_path, &buf, &len, d);

	if (e < 0)
		return e;
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		pos = 3; /* a UTF-8 byte order mark */
	while (pos < len && e == 0) {
		size_t end = pos, next;

		while (end < len && buf[end] != '\n' && buf[end] != '\r')
			end++;
		next = end;
		if (next < len && buf[next] == '\r')
			next++;
		if (end < len && buf[end] == '\n')
			next = end + 1;
		else if (next < len && buf[next] == '\n')
			next++;
		c.line++;
		c.off = pos;
		e = parse_line(&c, buf + pos, end - pos);
		pos = next;
	}
	free(buf);
	if (e == 0) {
		e = registry_copy(&copy, r);
		if (e < 0)
			diag_set(d, e, DIAG_NO_OFFSET, "out of memory");
		else {
			e = apply_sections(&copy, c.v, c.n, d);
			if (e == 0)
				e = registry_settle(&copy, d);
			e = registry_commit(r, &copy, e);
		}
	}
	psecs_free(c.v, c.n);
	return e;
}
