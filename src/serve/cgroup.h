/* cgroup.h: a memory cgroup per backend of `llmem serve`, where the
 * daemon's own cgroup is delegated to it. Each llama-server then runs in
 * DIR/model-NAME-PID-N with a memory limit (its planned footprint in system
 * RAM and a margin), so a runaway backend is killed alone by the kernel,
 * and its death is known for what it is (the cgroup's oom_kill count)
 * rather than guessed from a SIGKILL.
 *
 * cgroup v2: the daemon's cgroup must offer the memory controller, be
 * writable and hold no other process (a systemd service with
 * Delegate=yes); by the "no internal processes" rule the daemon moves into
 * a leaf, DIR/llmem-daemon, before enabling +memory for DIR's children.
 * Each model's cgroup gets memory.max, memory.oom.group = 1 (the whole
 * backend goes) and memory.swap.max = 0 (it is killed, not swapped out).
 * cgroup v1 (the memory hierarchy, as in many containers): the daemon's
 * cgroup must be writable; each model's gets memory.limit_in_bytes (and
 * memory.memsw.limit_in_bytes where swap is accounted); no oom.group.
 *
 * Every path is under a root directory ("/" live, a fixture tree in the
 * tests). Nothing here prints; the parsers and the limit rule are pure. */
#ifndef LLMEM_SERVE_CGROUP_H
#define LLMEM_SERVE_CGROUP_H

#include <sys/types.h>

#include "base/compat.h"

#define CGROUP_PATH_MAX 768
#define CGROUP_WHY_MAX 320
#define CGROUP_LEAF "llmem-daemon" /* v2: where the daemon itself runs */

struct cgroup_tree {
	bool delegated;          /* model cgroups can be made */
	uint8_t version;         /* 1 or 2; 0 no memory cgroup found */
	bool moved;              /* v2: the daemon moved into CGROUP_LEAF */
	char path[CGROUP_PATH_MAX]; /* the daemon's cgroup as /proc/self/cgroup
	                             * names it (before any move) */
	char dir[CGROUP_PATH_MAX];  /* its directory: model cgroups go there */
	char why[CGROUP_WHY_MAX];   /* a line for a user: what was found, and
	                             * when not delegated, what to do */
	uint32_t n_stale;        /* stale model cgroups of dead daemons removed */
	uint32_t next;           /* the next model cgroup's number */
	pid_t pid;               /* the daemon's */
};

/* One backend's cgroup. */
struct cgroup_model {
	bool active;             /* made; not yet removed */
	char dir[CGROUP_PATH_MAX];
	char procs[CGROUP_PATH_MAX + 16]; /* dir/cgroup.procs: backend_spec's */
	uint64_t limit;          /* bytes */
	uint8_t version;
};

/* Looks at the memory cgroup of this process under root (NULL = "/") and
 * makes it ready for model cgroups (see above), removing the empty model
 * cgroups of daemons no longer running. t->delegated says whether it
 * worked and t->why, in words, why or why not. Never fails otherwise. */
void cgroup_tree_setup(struct cgroup_tree *t, const char *root);

/* A cgroup for one backend of model name (any bytes: the name is made
 * safe for a directory), limited to limit bytes. 0, or -errno with why
 * filled (m->active false: the backend runs without one). */
int cgroup_model_create(struct cgroup_tree *t, const char *name, uint64_t limit, struct cgroup_model *m,
			char *why, size_t whysz) ATTR_WUR;

/* The OOM kills in m so far (v2 memory.events, v1 memory.oom_control),
 * and whether m's own limit was reached (v2: its "oom" count; v1: its
 * peak usage, memory.max_usage_in_bytes, at the limit): when not, a limit above it ran out (the machine's, a
 * parent cgroup's). 0 or -errno. */
int cgroup_model_oom_kills(const struct cgroup_model *m, uint64_t *kills, bool *own_limit) ATTR_WUR;

/* Removes m's directory (the backend has exited). 0 (also when already
 * gone) or -errno (-EBUSY while a process is still in it; m stays active:
 * try again later). */
int cgroup_model_remove(struct cgroup_model *m) ATTR_WUR;

/* The name of the limit file, for messages: "memory.max" (v2) or
 * "memory.limit_in_bytes" (v1). */
const char *cgroup_limit_name(uint8_t version);

/* ---- pure ---------------------------------------------------------------- */

/* The limit of a backend planned to hold need bytes of system RAM: need,
 * 10% more, and 256 MiB (the runtime, the page cache of what it reads,
 * the estimate's error). Saturates. */
uint64_t cgroup_limit_compute(uint64_t need);

/* The "oom_kill N" line of memory.events (v2) or memory.oom_control (v1).
 * 0, -ENOENT (no such line: a kernel before 4.13 in v1), -EBADMSG. */
int cgroup_parse_oom_kills(const char *text, size_t n, uint64_t *ret) ATTR_WUR;

/* Whether a space-separated controller list (cgroup.controllers,
 * cgroup.subtree_control) names ctl. */
bool cgroup_list_has(const char *text, size_t n, const char *ctl);

/* The directory name of a backend's cgroup: "model-NAME-PID-SEQ", NAME cut
 * to 64 bytes and every byte other than [A-Za-z0-9._] made '_'. Returns
 * the length, or -ENAMETOOLONG when it does not fit bufsz. */
int cgroup_model_name(char *buf, size_t bufsz, const char *name, pid_t pid, uint32_t seq);

/* The daemon pid in such a name; false for a name not made so. */
bool cgroup_model_name_pid(const char *dirname, pid_t *pid);

#endif
