/* doctor.h: `llmem doctor`: checks of the operating system's settings
 * that decide how well a local model runs: swap and vm.swappiness, swap
 * used by model processes, transparent and reserved huge pages, free
 * memory fragmentation, overcommit, the memlock limit (--mlock), PSI, OOM
 * kills, the memory cgroup's limit, NUMA, GPU memory held by other
 * processes and an AMD APU's GTT size.
 *
 * Three layers, as in the rest of the probe: the parsers of the files
 * read (parse-kmsg.c, parse-vm.c: text in, struct out, no I/O); the
 * reader (doctor-read.c) that fills struct probe_doctor_facts from
 * ROOT/proc, ROOT/sys and ROOT/dev/kmsg ("/" on a live system, a fixture
 * tree in the tests); and the checks (doctor.c: pure, facts in, verdicts
 * out). Nothing here prints. */
#ifndef LLMEM_PROBE_DOCTOR_H
#define LLMEM_PROBE_DOCTOR_H

#include "base/compat.h"
#include "probe/probe.h"

#define PROBE_DOCTOR_MAX_SWAPS 8
#define PROBE_DOCTOR_MAX_MPROCS 16     /* model processes looked at */
#define PROBE_DOCTOR_MAX_OOMS 8        /* the latest OOM kills kept */
#define PROBE_DOCTOR_MAX_CG_OOMS 8
#define PROBE_DOCTOR_MAX_NODES 16
#define PROBE_DOCTOR_MAX_MODELS 8
#define PROBE_DOCTOR_MAX_CHECKS 16
#define PROBE_BUDDY_MAX_ORDERS 16
#define PROBE_BUDDY_MAX_ZONES 32
#define PROBE_CHECK_TEXT 1024

/* How reading an optional file went. */
enum probe_read_state {
	PROBE_READ_OK,
	PROBE_READ_ABSENT,      /* ENOENT: not there (a kernel without it) */
	PROBE_READ_DENIED,      /* EACCES / EPERM */
	PROBE_READ_UNSUPPORTED, /* EOPNOTSUPP: there, but switched off */
	PROBE_READ_ERROR,       /* another error, or malformed */
};

/* ---- parsed files ------------------------------------------------------- */

/* One line of /proc/swaps. */
struct probe_swap {
	char name[128];   /* the file or device, as the kernel escapes it */
	char type[16];    /* "partition", "file" */
	uint64_t size;    /* bytes */
	uint64_t used;    /* bytes */
	int64_t priority;
};

/* One line of a PSI file: averages in hundredths of a percent ("12.34"
 * is 1234), total in microseconds. */
struct probe_psi_line {
	bool present;
	uint32_t avg10, avg60, avg300;
	uint64_t total_us;
};

struct probe_psi {
	struct probe_psi_line some, full;
};

/* A soft and hard limit of /proc/PID/limits, PROBE_UNLIMITED for
 * "unlimited". */
struct probe_limit {
	uint64_t soft, hard;
};

/* One zone of /proc/buddyinfo: free blocks of each order. */
struct probe_buddy_zone {
	uint32_t node;
	char zone[16];           /* "DMA", "DMA32", "Normal", "Movable" */
	size_t n_orders;
	uint64_t free[PROBE_BUDDY_MAX_ORDERS];
};

struct probe_buddyinfo {
	size_t n_zones;
	struct probe_buddy_zone zones[PROBE_BUDDY_MAX_ZONES];
};

/* What /proc/PID/status says about memory (and its capabilities). */
struct probe_proc_status {
	char name[32];
	uint64_t vm_rss;   /* bytes, PROBE_UNKNOWN when absent (a kernel thread) */
	uint64_t vm_swap;  /* bytes, PROBE_UNKNOWN when absent */
	uint64_t cap_eff;  /* CapEff, a bit per capability */
	bool has_cap_eff;
};

/* One record of /dev/kmsg: "PRIO,SEQ,USEC,FLAGS[,...];MESSAGE". msg
 * points into the text parsed. */
struct probe_kmsg_record {
	uint8_t level;     /* PRIO & 7 */
	uint32_t facility; /* PRIO >> 3 */
	uint64_t seq;
	uint64_t usec;     /* since boot */
	const char *msg;
	size_t msg_len;
};

/* An OOM kill: "Out of memory: Killed process 4242 (llama-server)
 * total-vm:52488356kB, anon-rss:30412844kB, file-rss:1048576kB,
 * shmem-rss:0kB, UID:1000 pgtables:62468kB oom_score_adj:0", or the
 * same after "Memory cgroup out of memory:", or an older kernel's bare
 * "Killed process ..." line. Sizes in bytes, PROBE_UNKNOWN when not
 * given. */
struct probe_oom_kill {
	uint32_t pid;
	char comm[32];
	bool memcg;         /* the cgroup's limit, not the whole machine */
	uint64_t total_vm, anon_rss, file_rss, shmem_rss;
	uint64_t usec;      /* the record's time since boot, PROBE_UNKNOWN */
	char task_memcg[160]; /* from the "oom-kill:" line before it, "" */
};

/* The summary line before a kill: "oom-kill:constraint=CONSTRAINT_NONE,
 * ...,task_memcg=/user.slice/...,task=llama-server,pid=4242,uid=1000". */
struct probe_oom_summary {
	uint32_t pid;
	char constraint[32];  /* "CONSTRAINT_NONE", "CONSTRAINT_MEMCG" */
	char task_memcg[160];
};

/* /proc/swaps. 0, -EBADMSG for a line that is not name type size used
 * priority (the header line is skipped), -ERANGE for a huge value. At
 * most max lines are stored; *n_total counts them all. */
int probe_parse_swaps(const char *text, size_t n, struct probe_swap *swaps, size_t max,
		      size_t *n_swaps, size_t *n_total) ATTR_WUR;

/* /proc/pressure/memory ("some avg10=0.00 avg60=0.00 avg300=0.00
 * total=0" and a "full" line, which kernels before 5.x and the cpu file
 * may lack). 0, or -EBADMSG without a some line or with a bad value. */
int probe_parse_psi(const char *text, size_t n, struct probe_psi *ret) ATTR_WUR;

/* The line of /proc/PID/limits whose name is `name` ("Max locked
 * memory"): soft and hard ("unlimited" is PROBE_UNLIMITED). 0, -ENOENT
 * when the line is not there, -EBADMSG / -ERANGE. */
int probe_parse_limits(const char *text, size_t n, const char *name,
		       struct probe_limit *ret) ATTR_WUR;

/* /proc/buddyinfo ("Node 0, zone   Normal  10752 4397 ..."). 0,
 * -EBADMSG, -E2BIG over PROBE_BUDDY_MAX_ZONES zones or orders. */
int probe_parse_buddyinfo(const char *text, size_t n, struct probe_buddyinfo *ret) ATTR_WUR;

/* /proc/PID/status: Name, VmRSS, VmSwap and CapEff. 0, or -EBADMSG (no
 * Name, a bad value). */
int probe_parse_proc_status(const char *text, size_t n, struct probe_proc_status *ret) ATTR_WUR;

/* /sys/devices/system/node/nodeN/meminfo ("Node 0 MemTotal: 32768 kB").
 * 0 with total and free in bytes, or -EBADMSG. */
int probe_parse_node_meminfo(const char *text, size_t n, uint64_t *total,
			     uint64_t *free_bytes) ATTR_WUR;

/* /proc/PID/cmdline (NUL-separated): the base name of argv[0] and, when
 * there, argv[1], into the buffers ("" when absent). */
void probe_parse_cmdline(const char *text, size_t n, char *argv0, size_t argv0sz, char *argv1,
			 size_t argv1sz);

/* One /dev/kmsg record (one line, without continuation lines). 0, or
 * -EBADMSG when the prefix is not PRIO,SEQ,USEC,FLAGS;. */
int probe_parse_kmsg_record(const char *line, size_t n, struct probe_kmsg_record *ret) ATTR_WUR;

/* A kernel message that reports a process killed by the OOM killer. 0,
 * or -ENOENT when the message is something else. */
int probe_parse_oom_kill(const char *msg, size_t n, struct probe_oom_kill *ret) ATTR_WUR;

/* The "oom-kill:..." summary line. 0, or -ENOENT. */
int probe_parse_oom_summary(const char *msg, size_t n, struct probe_oom_summary *ret) ATTR_WUR;

/* Whether a process name (comm, 15 bytes at most, or argv[0]'s base
 * name) is one that runs models: llama-server, llama-cli, llamafile,
 * ollama (and its runners), koboldcpp, llmem. */
bool probe_model_proc_name(const char *name);

/* ---- facts ---------------------------------------------------------------- */

/* A process that runs a model. */
struct probe_model_proc {
	uint32_t pid;
	char name[32];        /* comm */
	uint64_t vm_rss, vm_swap;  /* bytes, PROBE_UNKNOWN */
	uint8_t cg_version;   /* its memory cgroup, 0 none */
	char cgroup[160];
	uint64_t cg_limit;    /* the smallest memory.max / memory.high on the
	                       * way up (v1: memory.limit_in_bytes),
	                       * PROBE_UNLIMITED */
	char cg_limit_path[160]; /* the cgroup that sets it, "" none */
};

/* The OOM kill counter of a memory cgroup (memory.events oom_kill, or
 * v1's memory.oom_control). */
struct probe_cg_oom {
	char path[160];
	uint64_t oom_kill;
	char who[32];   /* "llmem" (its own cgroup) or a model process's name */
};

struct probe_numa_node {
	uint32_t id;
	uint64_t total, free;
};

/* A model the user named (--model): its files' size. */
struct probe_doctor_model {
	char name[128];
	uint64_t bytes;
};

/* Everything the checks look at. */
struct probe_doctor_facts {
	struct probe_result probe;   /* meminfo, THP, cgroup, GPUs */
	char root[PROBE_PATH_MAX];

	uint8_t swaps_state;         /* enum probe_read_state */
	size_t n_swaps, n_swaps_total;
	struct probe_swap swaps[PROBE_DOCTOR_MAX_SWAPS];
	int64_t swappiness;          /* -1 unknown */

	size_t n_mprocs;             /* model processes */
	bool mprocs_truncated;
	struct probe_model_proc mprocs[PROBE_DOCTOR_MAX_MPROCS];

	uint8_t thp_defrag_state;    /* enum probe_read_state */
	char thp_defrag[24];         /* the bracketed word, "" unknown */

	int64_t overcommit_memory;   /* -1 unknown */
	int64_t overcommit_ratio;    /* -1 unknown */

	uint8_t memlock_state;       /* enum probe_read_state */
	bool memlock_from_file;      /* ROOT/proc/self/limits, not getrlimit */
	struct probe_limit memlock;
	bool cap_ipc_lock;           /* ROOT/proc/self/status: CAP_IPC_LOCK,
	                              * which locks past the limit */

	uint8_t psi_state;           /* enum probe_read_state */
	struct probe_psi psi;

	uint8_t kmsg_state;          /* enum probe_read_state */
	char kmsg_error[64];         /* strerror when not read */
	uint32_t n_ooms_total;       /* OOM kills in the kernel log */
	size_t n_ooms;               /* the latest, oldest first */
	struct probe_oom_kill ooms[PROBE_DOCTOR_MAX_OOMS];
	uint64_t uptime_us;          /* ROOT/proc/uptime, PROBE_UNKNOWN */
	size_t n_cg_ooms;
	struct probe_cg_oom cg_ooms[PROBE_DOCTOR_MAX_CG_OOMS];

	uint8_t numa_state;          /* enum probe_read_state */
	size_t n_nodes;              /* nodes with memory */
	struct probe_numa_node nodes[PROBE_DOCTOR_MAX_NODES];
	int64_t numa_balancing;      /* -1 unknown */

	uint8_t buddy_state;         /* enum probe_read_state */
	struct probe_buddyinfo buddy;

	size_t n_models;             /* filled by the caller */
	struct probe_doctor_model models[PROBE_DOCTOR_MAX_MODELS];
};

/* Reads the facts under opts->root (NVML as probe_run() does). Fails
 * only when probe_run() does (no readable meminfo: d says why); files
 * that are missing or unreadable are recorded in the facts' states.
 * f->n_models is left at 0. */
int probe_doctor_read(const struct probe_options *opts, struct probe_doctor_facts *f,
		      struct diag *d) ATTR_WUR;

/* ---- checks (pure) ------------------------------------------------------ */

enum probe_verdict {
	PROBE_VERDICT_OK,
	PROBE_VERDICT_WARN,
	PROBE_VERDICT_BAD,
};

struct probe_check {
	const char *id;                /* "swap", "thp", ... (static) */
	uint8_t verdict;               /* enum probe_verdict */
	char found[PROBE_CHECK_TEXT];  /* what the check saw */
	char why[PROBE_CHECK_TEXT];    /* why it matters for inference */
	char fix[PROBE_CHECK_TEXT];    /* the command that fixes it, "" none */
};

struct probe_doctor_report {
	size_t n_checks;
	struct probe_check checks[PROBE_DOCTOR_MAX_CHECKS];
	size_t n_ok, n_warn, n_bad;
};

/* Every check, in a fixed order: swap, model-swap, thp, hugetlb,
 * fragmentation, overcommit, memlock, psi, oom, cgroup, numa, gpu-procs,
 * amd-gtt. */
void probe_doctor_check(const struct probe_doctor_facts *f, struct probe_doctor_report *ret);

/* The thresholds, for the documentation and the tests. */
#define PROBE_DOCTOR_SWAPPINESS_MAX 10      /* above: warn with swap on */
#define PROBE_DOCTOR_PSI_SOME_WARN 1000     /* some avg10 >= 10.00% */
#define PROBE_DOCTOR_PSI_FULL_WARN 200      /* full avg10 >= 2.00% */
#define PROBE_DOCTOR_PSI_FULL_BAD 2000      /* full avg10 >= 20.00% */
#define PROBE_DOCTOR_HUGE_ORDER 9           /* 2 MiB blocks of 4 KiB pages */
#define PROBE_DOCTOR_FRAG_PERCENT 25        /* huge blocks under 25% of free */
#define PROBE_DOCTOR_GTT_PERCENT 75         /* APU GTT under 75% of RAM */

const char *probe_verdict_name(uint8_t verdict);
const char *probe_read_state_name(uint8_t state);

/* The GTT an APU should be given: RAM less the larger of 4 GiB and 1/32
 * of it for the OS, in whole GiB (0 when RAM is under 8 GiB). */
uint64_t probe_doctor_gtt_target(uint64_t mem_total);

#endif
