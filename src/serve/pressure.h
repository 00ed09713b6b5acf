/* pressure.h: memory pressure for `llmem serve` (issue #7 item 4): the
 * budget rule, the readings it is fed with (MemAvailable, the cgroup's
 * room, the PSI averages) and a PSI trigger the event loop can wait on.
 *
 * The rule: the system-RAM budget the daemon may use is
 *   min(configured budget, held + available - headroom)
 * where held is what llmem's models hold now (as the scheduler counts
 * them) and available is MemAvailable less the file pages the backends
 * map (their weights: held counts them, and MemAvailable counts page
 * cache as available), or what the process's cgroup leaves when less. The models fit it exactly while available stays at or
 * above the headroom: when other programs grow past that, the scheduler
 * stops idle models (sched_set_budget_why()) until it holds again, before
 * the kernel's OOM killer has to act; when they shrink, models load again
 * on demand.
 *
 * PSI: a trigger on /proc/pressure/memory ("some 150000 1000000": tasks
 * stalled 150 ms in a 1 s window; a 2 s window for a process without
 * CAP_SYS_RESOURCE, as the kernel requires) wakes the daemon at once
 * rather than at its next periodic reading. The trigger's POLLPRI is
 * delivered through an epoll descriptor of its own, which becomes
 * readable (EV_READ) when the trigger fires: libevent's epoll backend
 * cannot wait for POLLPRI itself. Where a trigger cannot be made (no PSI,
 * no permission, a fixture tree), the daemon reads every second.
 *
 * The rule and the message are pure; the readers read under a root
 * directory ("/" live, a fixture tree in the tests). Nothing prints. */
#ifndef LLMEM_SERVE_PRESSURE_H
#define LLMEM_SERVE_PRESSURE_H

#include "base/compat.h"
#include "base/diag.h"
#include "serve/daemon.h"

#define PRESSURE_WHY_MAX 160

/* ---- pure ---------------------------------------------------------------- */

/* min(cap, held + available - headroom), saturating at 0 and UINT64_MAX.
 * cap UINT64_MAX = none. */
uint64_t pressure_budget_compute(uint64_t cap, uint64_t held, uint64_t available, uint64_t headroom);

/* The eviction reason while available is below headroom: "memory
 * pressure: MemAvailable 812 MiB, under the headroom of 2048 MiB" (with
 * "less the models' mapped files N MiB is" when they count; or the
 * cgroup's room, when that is what binds); "" otherwise. */
void pressure_reason_format(char *buf, size_t n, const struct serve_pressure *p);

/* ---- readings ------------------------------------------------------------ */

struct probe_result;

/* What the budget hook needs: set by the caller, then given as the hook's
 * context. */
struct pressure_cfg {
	const char *root;          /* NULL = "/" */
	size_t n_pools;
	uint64_t budget[SCHED_MAX_POOLS]; /* the configured budgets: pool 0's
	                                   * is replaced by the rule */
	uint64_t cap;              /* --budget, UINT64_MAX when not given */
	uint64_t headroom;         /* kept free in system RAM */
	/* the PSI trigger (pressure_trigger_open()) */
	int trigger_fd;            /* readable when it fires; -1 none */
	int psi_fd;                /* the pressure file, -1 none */
	char trigger_why[PRESSURE_WHY_MAX]; /* what it is, or why none */
	struct probe_result *pr;   /* scratch */
};

/* Empty, no trigger. 0 or -ENOMEM. Release with pressure_cfg_release()
 * (which closes the trigger). */
int pressure_cfg_init(struct pressure_cfg *c) ATTR_WUR;
void pressure_cfg_release(struct pressure_cfg *c);

/* MemAvailable, the cgroup's room and PSI into p (mem_available,
 * cgroup_available, available, has_psi, psi_*; p->mapped is read). 0, or -errno with d when
 * meminfo cannot be read (PSI and the cgroup are optional). */
int pressure_read(struct pressure_cfg *c, struct serve_pressure *p, struct diag *d) ATTR_WUR;

/* serve_hooks.budget_read with a struct pressure_cfg as ctx: reads
 * (pressure_read()); uses c->pr, so one caller at a time. */
int pressure_budget_read(void *ctx, struct serve_pressure *p);

/* serve_hooks.budget_apply with a struct pressure_cfg as ctx: applies
 * the rule to pool 0 and keeps the other pools' configured budgets. */
void pressure_budget_apply(void *ctx, const uint64_t *held, uint64_t *budget, struct serve_pressure *p);

/* ---- the PSI trigger ----------------------------------------------------- */

/* Arms a trigger on ROOT/proc/pressure/memory: c->trigger_fd is then a
 * descriptor that is readable when it fires. 0, or -errno (trigger_fd
 * -1); c->trigger_why says which trigger, or why none. */
int pressure_trigger_open(struct pressure_cfg *c) ATTR_WUR;

/* After trigger_fd was readable: consumes the event. 0, or -EIO when the
 * trigger is gone (stop waiting on it). */
int pressure_trigger_drain(int trigger_fd);

#endif
