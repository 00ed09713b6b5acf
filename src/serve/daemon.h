/* daemon.h: `llmem serve`, the memory-managed model server: an event loop
 * (libevent's, with our own HTTP: http.h) with one HTTP port for the OpenAI, llama.cpp-router and
 * Ollama APIs, one llama-server backend per loaded model, and the pure
 * scheduler (sched.h) deciding what loads, waits and is evicted. The
 * planning (which llama-server arguments a model gets for the memory it
 * may use) is handed in by the caller (cli/cmd-serve.c) as hooks, so this
 * module does not depend on the command line's model opener. */
#ifndef LLMEM_SERVE_DAEMON_H
#define LLMEM_SERVE_DAEMON_H

#include "base/compat.h"
#include "base/diag.h"
#include "serve/registry.h"
#include "serve/sched.h"

#define SERVE_DEFAULT_PORT 11435
#define SERVE_MAX_ARGS 128

/* What a plan means, for status, `ps` and the footprint correction. */
struct serve_plan_info {
	uint32_t n_ctx;          /* the context llama-server gets (-c) */
	uint32_t n_ctx_seq;      /* per slot */
	uint32_t n_gpu_layers;   /* layers on GPUs (of n_layer + 1) */
	uint32_t n_layer;
	uint32_t slots;          /* -np as run */
	uint64_t need[SCHED_MAX_POOLS];      /* predicted, per pool */
	uint64_t buffers[SCHED_MAX_POOLS];   /* the part of need that llama.cpp
	                                      * logs as buffers, per pool */
	double tokens_per_s;     /* predicted decode speed, 0 = unknown */
	char summary[200];       /* "24/33 layers on CUDA0, -c 8192, KV q8_0" */
};

/* What a model is, for /api/tags, /api/show and /v1/models. */
struct serve_model_info {
	char arch[64];           /* "llama" */
	char ftype[32];          /* "Q4_K_M" */
	uint64_t n_params;
	uint64_t file_size;      /* all parts */
	int64_t mtime;           /* seconds since the epoch */
	uint32_t n_ctx_train;
	uint32_t n_layer;
	bool embedding;          /* served with --embeddings */
	/* Ollama's other capabilities (/api/show), as it infers them: its
	 * chat template takes tools, or thinks (a <think> block, an
	 * enable_thinking switch); the vocabulary has fill-in-the-middle
	 * tokens (insert); a projector is given (--mmproj: vision) */
	bool tools, thinking, insert, vision;
};

/* Memory pressure as the budget hook last read it (bytes; PSI averages
 * in hundredths of a percent), for /llmem/status. */
struct serve_pressure {
	bool known;                /* read at least once */
	uint64_t mem_available;    /* MemAvailable */
	uint64_t cgroup_available; /* what the process's memory cgroup leaves;
	                            * UINT64_MAX without a limit */
	uint64_t mapped;           /* in: the file pages the backends map
	                            * (their weights): MemAvailable counts
	                            * them, and so does held */
	uint64_t available;        /* MemAvailable less mapped, or the
	                            * cgroup's room when smaller: what the
	                            * rule takes */
	uint64_t headroom;         /* kept free in system RAM */
	uint64_t held;             /* what the models hold in RAM */
	uint64_t cap;              /* the configured budget, UINT64_MAX none */
	uint64_t budget;           /* the RAM budget now */
	bool has_psi;
	uint32_t psi_some_avg10, psi_full_avg10;
	bool psi_trigger;          /* a PSI trigger wakes the daemon */
	uint64_t n_triggers;       /* times it fired (the daemon counts) */
	char why[SCHED_REASON_LEN]; /* the reason evictions get now; "" while
	                             * available holds the headroom */
};

struct cgroup_tree;

struct serve_hooks {
	void *ctx;
	/* opens the model's header (once) and describes it; a negative errno
	 * with msg (a line a user can act on) when it cannot be read */
	int (*model_info)(void *ctx, size_t model, struct serve_model_info *info, char *msg,
			  size_t msgsz);
	/* whether model's file changed since its header was read (then it is
	 * read again at its next plan); NULL = never asked */
	bool (*model_changed)(void *ctx, size_t model);
	/* the scheduler's planner (sched_plan_fn) */
	sched_plan_fn plan;
	/* the llama-server arguments of model's plan plan_id, after
	 * "-m PATH --host 127.0.0.1 --port N": up to max strings written to
	 * argv (owned by the hooks until the next call). Returns the count or
	 * a negative errno. */
	int (*plan_args)(void *ctx, size_t model, uint32_t plan_id, const char **argv, size_t max);
	int (*plan_info)(void *ctx, size_t model, uint32_t plan_id, struct serve_plan_info *info);
	/* Memory pressure (serve/pressure.h), in two steps, with budget_ctx.
	 * budget_read: the readings now, into *p (p->mapped, the backends'
	 * mapped weights, set by the caller); 0 or a negative errno (the
	 * budgets stay). It reads files, so it runs every second and when a
	 * PSI trigger fires on a thread of its own, never on the loop, and
	 * only there once the daemon serves. budget_apply (pure, on the
	 * loop): from that reading and held[p], what the models hold in pool
	 * p now, fills budget[n_pools] and the rest of *p (for status, and
	 * the reason of evictions). NULL budget_read = fixed budgets. */
	int (*budget_read)(void *ctx, struct serve_pressure *p);
	void (*budget_apply)(void *ctx, const uint64_t *held, uint64_t *budget, struct serve_pressure *p);
	void *budget_ctx;
};

struct serve_options {
	const char *host;          /* default 127.0.0.1 */
	uint16_t port;             /* default 11435 */
	const char *backend;       /* llama-server executable */
	const struct registry *reg;
	struct sched_options sched; /* budgets, max_loaded, max_queue, wait_ms;
	                             * plan/plan_ctx are filled from hooks */
	size_t n_pools;
	char pool_names[SCHED_MAX_POOLS][32]; /* "RAM", "CUDA0", ... */
	uint64_t pool_total[SCHED_MAX_POOLS]; /* their sizes, 0 = unknown */
	const char *api_key;       /* NULL = none */
	const char *const *origins; /* extra allowed Origin patterns */
	size_t n_origins;
	size_t max_body;           /* bytes; 413 above */
	size_t max_headers;        /* bytes */
	int header_timeout_s;      /* slowloris: a request must arrive in this */
	int64_t load_timeout_ms;   /* a backend not healthy by then is killed */
	int64_t stall_timeout_ms;  /* a backend with requests in flight that
	                            * sends no byte, writes no log line and
	                            * uses no CPU time for this long is hung:
	                            * killed (B24). 0 = never */
	int64_t default_keep_alive_ms;
	const char *footprint_path; /* the footprint cache file; NULL = none */
	const char *version;
	struct serve_hooks hooks;
	int ready_fd;              /* >= 0: write "ready\n" there once listening */
	int pressure_fd;           /* > 0: readable when a PSI trigger fires
	                            * (serve/pressure.h); 0 = none */
	struct cgroup_tree *cgroup; /* a cgroup per backend where delegated
	                             * (serve/cgroup.h); NULL = none */
};

/* Runs the daemon until SIGTERM or SIGINT; then stops every backend
 * (SIGTERM, SIGKILL after its stop-timeout) and returns 0. Returns a
 * negative errno with *d when it cannot start (port in use, ...). */
int serve_run(const struct serve_options *o, struct diag *d) ATTR_WUR;

#endif
