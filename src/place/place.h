/* place.h: the solver. Given a model, the devices with the memory llmem may
 * use on each (budgets, after headroom) and what the user fixed, the
 * configuration with the highest predicted decode speed that fits every
 * memory pool, host RAM included. Pure: it measures candidates with
 * est_estimate() and nothing else.
 *
 * Order of preference (each step only when the one before cannot fit):
 *   1. every layer on the GPUs at the requested context;
 *   2. with -ctk/-ctv auto, a q8_0 then q4_0 KV cache that keeps every
 *      layer on the GPUs;
 *   3. for MoE models, the experts of the fewest layers on the CPU
 *      (--n-cpu-moe) before any dense layer leaves the GPUs;
 *   4. fewer GPU layers (the most that fit);
 *   5. with --no-cpu instead of 3-4 (or when nothing fits at all and the
 *      context is not fixed), a smaller context.
 * With -c max the context is then grown to the largest that fits (at most
 * the training context, in llama.cpp's 256-cell steps). Several GPUs get a
 * tensor split in proportion to their budgets. */
#ifndef LLMEM_PLACE_PLACE_H
#define LLMEM_PLACE_PLACE_H

#include "base/compat.h"
#include "base/diag.h"
#include "estimate/estimate.h"
#include "model/model.h"

#define PLACE_WHY_MAX 10
#define PLACE_WHY_LEN 200

struct place_request {
	/* the user's options, with the devices; fields below say which of
	 * them the solver may change */
	struct est_config base;
	bool ngl_fixed, ctx_fixed, ncmoe_fixed, ts_fixed;
	bool ctx_max;   /* -c max */
	bool kv_auto;   /* -ctk auto / -ctv auto */
	bool no_cpu;    /* --no-cpu: no layer or expert on the CPU */
	bool mmap_fixed; /* the user chose the load mode (--no-mmap, -lm) */
	bool ctxcp_fixed; /* the user chose --ctx-checkpoints; else the plan caps
	                   * them at the RAM it leaves, before the prompt cache */
	bool cram_fixed; /* the user chose --cache-ram; else the plan caps the
	                  * prompt cache at the system RAM it leaves */
	bool allow_disk; /* --allow-disk: weights mapped from the file may
	                  * exceed RAM and be read from disk as they are used */
	double disk_bandwidth; /* bytes/s for that, 0 = 2 GB/s (an NVMe SSD) */
	/* budgets in bytes: [0] system RAM, [1 + i] the i-th GPU's own
	 * memory (ignored for unified GPUs, which draw on [0]) */
	uint64_t budget[EST_MAX_DEVICES + 1];
	/* memory bandwidth in bytes per second, 0 = unknown */
	double bandwidth[EST_MAX_DEVICES + 1];
};

struct place_plan {
	bool fits;
	struct est_config config;  /* what to run */
	struct est_result est;     /* its estimate */
	uint64_t need[EST_MAX_DEVICES + 1]; /* per pool, as checked */
	double speed_ratio;        /* decode speed / all layers on the GPUs */
	double tokens_per_s;       /* 0 when a bandwidth is unknown */
	uint64_t from_disk;        /* --allow-disk: weight bytes not resident,
	                            * read from the file for every token */
	size_t n_why;
	char why[PLACE_WHY_MAX][PLACE_WHY_LEN];
};

/* Solves q for m into *p. Returns 0 with p->fits true and the plan, or 0
 * with p->fits false and p->why saying what does not fit and what would
 * (the closest configuration tried is in p->config); a negative errno
 * with *d when an estimate itself is refused (the user's options are
 * invalid). */
int place_solve(const struct model *m, const struct place_request *q, struct place_plan *p,
		struct diag *d) ATTR_WUR;

/* Checks one configuration: fills *ret_est and ret_need (per pool, see
 * place_request.budget) and returns 1 when it fits, 0 when not, or a
 * negative errno. */
int place_check(const struct model *m, const struct est_config *c, const uint64_t *budget,
		struct est_result *ret_est, uint64_t *ret_need, struct diag *d) ATTR_WUR;

#endif
