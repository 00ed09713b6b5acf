/* cmd-top.h: the parts of `llmem top` (cmd-top.c) that do no I/O, for the
 * unit tests: a snapshot's models from the daemon's GET /llmem/status,
 * their sort orders, and the formatting of bars and countdowns. */
#ifndef LLMEM_CLI_CMD_TOP_H
#define LLMEM_CLI_CMD_TOP_H

#include "base/compat.h"

#include <stddef.h>
#include <time.h>

#define TOP_MAX_MODELS 256
#define TOP_MAX_POOLS 17
#define TOP_UNTIL_NA (-1)      /* not ready: no countdown */
#define TOP_UNTIL_FOREVER (-2) /* pinned, or keep-alive < 0 */
#define TOP_UNTIL_BUSY (-3)    /* requests in flight: counts from the last */

enum top_sort { TOP_SORT_NAME, TOP_SORT_SIZE, TOP_SORT_STATE, TOP_SORT_N };

/* A model of the daemon, or a llama-server process found in /proc. */
struct top_model {
	char name[160];
	char state[16];     /* the daemon's state, "running" for a process */
	uint64_t size;      /* footprint (daemon), RSS + GPU memory (process) */
	uint64_t gpu;       /* of size, on GPUs */
	uint64_t rss;       /* a process's resident memory */
	bool gpu_known;     /* a process: NVML listed it or said nothing */
	int64_t ctx;        /* 0 unknown */
	int64_t until_s;    /* seconds until the keep-alive ends, or TOP_UNTIL_* */
	uint32_t busy, queued;
	uint32_t pid;       /* 0 none */
};

/* A memory pool the daemon plans with: what its models hold, its budget. */
struct top_budget {
	char name[32];
	uint64_t used, budget;
};

struct top_models {
	bool daemon;        /* from a daemon (else processes) */
	char version[32];
	int64_t uptime_ms;
	size_t n_budgets;
	struct top_budget budgets[TOP_MAX_POOLS];
	size_t n;
	bool truncated;     /* more than TOP_MAX_MODELS */
	struct top_model v[TOP_MAX_MODELS];
};

/* Fills *m (daemon = true) from the text of GET /llmem/status, with the
 * keep-alive countdowns as of now. 0, or -EBADMSG when it is not a status
 * object. */
int cmd_top_status_parse(const char *text, size_t n, time_t now, struct top_models *m) ATTR_WUR;

/* Sorts m's models: by name; by size, largest first; by state (ready,
 * loading, unloading, failed, unloaded, others), each then by name. */
void cmd_top_sort(struct top_models *m, enum top_sort by);

/* "name", "size", "state" */
const char *cmd_top_sort_name(enum top_sort by);

/* "[||||||      ]" of width cells in all (brackets included; at least 3),
 * used/total of it filled (none when total is 0). */
void cmd_top_bar(uint64_t used, uint64_t total, size_t width, char *buf, size_t n);

/* "4:58", "1:02:03", "forever", "busy", "-" */
void cmd_top_until(int64_t until_s, char *buf, size_t n);

#endif
