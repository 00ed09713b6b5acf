/* probe.h: what memory this machine has for a model, and where. The probe
 * reads system RAM (/proc/meminfo), the memory limit of the cgroup the
 * process runs in, NVIDIA GPUs through NVML (loaded with dlopen) and AMD
 * GPUs through amdgpu's sysfs files (their processes through the DRM
 * clients in /proc/PID/fdinfo), and describes the result as memory
 * pools (system RAM, a GPU's own VRAM) and the devices that draw on them.
 * A unified GPU (GB10, Strix Halo) draws on the system pool beside the
 * CPU, and the pool's free memory is counted once.
 *
 * Every reader takes a root directory ("/" on a live system, a fixture
 * tree in the tests) and reads ROOT/proc/... and ROOT/sys/... under it.
 * The parsers (parse-*.c: text in, struct out) and the pool and budget
 * arithmetic (pools.c, budget.c) do no I/O; the readers (read-*.c,
 * probe.c) are thin. Nothing here prints. */
#ifndef LLMEM_PROBE_PROBE_H
#define LLMEM_PROBE_PROBE_H

#include "base/compat.h"
#include "base/diag.h"

#define PROBE_MAX_GPUS 16
#define PROBE_MAX_DEVICES (PROBE_MAX_GPUS + 1) /* the CPU first */
#define PROBE_MAX_POOLS (PROBE_MAX_GPUS + 1)   /* the system pool first */
#define PROBE_MAX_PROCS 32
#define PROBE_MAX_NOTES 8
#define PROBE_NAME_MAX 96   /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define PROBE_ID_MAX 16     /* "CPU", "CUDA0", "ROCm1", "system" */
#define PROBE_PATH_MAX 1024
#define PROBE_NOTE_MAX 200
#define PROBE_FILE_MAX (256 * 1024) /* the most read from one file */

/* A size with no limit (cgroup "max"), or one nobody reported. */
#define PROBE_UNLIMITED UINT64_MAX
#define PROBE_UNKNOWN UINT64_MAX

/* ---- system RAM ---------------------------------------------------- */

/* /proc/meminfo, in bytes (the file's kB are KiB). */
struct probe_meminfo {
	uint64_t mem_total;
	uint64_t mem_free;
	uint64_t mem_available; /* MemAvailable, or an estimate without it */
	uint64_t buffers;
	uint64_t cached;
	uint64_t swap_total;
	uint64_t swap_free;
	uint64_t hugepages_total; /* pages, not bytes */
	uint64_t hugepages_free;  /* pages */
	uint64_t hugepage_size;   /* bytes */
	uint64_t commit_limit;    /* CommitLimit, PROBE_UNKNOWN when absent */
	uint64_t committed_as;    /* Committed_AS, PROBE_UNKNOWN when absent */
	bool has_available;       /* MemAvailable was there (Linux >= 3.14) */
};

/* /sys/kernel/mm/transparent_hugepage/enabled */
enum probe_thp {
	PROBE_THP_UNKNOWN,
	PROBE_THP_ALWAYS,
	PROBE_THP_MADVISE,
	PROBE_THP_NEVER,
};

/* The memory cgroup of the process. Limits are the smallest found on the
 * way from its cgroup up to the root of the hierarchy. */
struct probe_cgroup {
	uint8_t version;                 /* 0 none found, 1 or 2 */
	char path[PROBE_PATH_MAX];       /* from /proc/self/cgroup */
	char limit_path[PROBE_PATH_MAX]; /* the cgroup whose limit binds ("" none) */
	uint64_t max;         /* memory.max / memory.limit_in_bytes, UNLIMITED */
	uint64_t high;        /* memory.high (v2 only), UNLIMITED */
	uint64_t current;     /* memory.current / memory.usage_in_bytes of the
	                       * deepest cgroup read; UNKNOWN if none */
	uint64_t reclaimable; /* inactive file pages in it (memory.stat) */
	uint64_t swap_max;    /* memory.swap.max (v2), UNLIMITED */
	uint64_t available;   /* min over the limited levels of
	                       * limit - (usage - inactive file), UNLIMITED */
};

/* ---- devices and pools ---------------------------------------------- */

enum probe_vendor {
	PROBE_VENDOR_NONE,   /* the CPU */
	PROBE_VENDOR_NVIDIA,
	PROBE_VENDOR_AMD,
};

/* Same values as enum est_dev_kind. */
enum probe_dev_kind {
	PROBE_DEV_HOST,     /* the CPU and system RAM */
	PROBE_DEV_DISCRETE, /* a GPU with its own memory */
	PROBE_DEV_UNIFIED,  /* a GPU that draws (also) on system RAM */
};

enum probe_pool_kind {
	PROBE_POOL_SYSTEM, /* system RAM, as far as the cgroup allows */
	PROBE_POOL_VRAM,   /* a GPU's own memory (or an APU's carve-out) */
};

enum probe_proc_type {
	PROBE_PROC_COMPUTE,
	PROBE_PROC_GRAPHICS,
};

/* A process holding GPU memory. NVIDIA: from NVML's compute and
 * graphics lists. AMD: from the DRM clients in ROOT/proc/PID/fdinfo (see
 * probe_amdgpu_procs_read()); it is "graphics" when it kept the gfx
 * engine busy and never the compute engine, else "compute" (ROCm's
 * queues are the process's own: they show no engine time at all). */
struct probe_proc {
	uint32_t pid;
	uint8_t type;      /* enum probe_proc_type */
	uint64_t used;     /* bytes, PROBE_UNKNOWN when the driver cannot say;
	                    * AMD: its VRAM on a discrete card, VRAM + GTT on
	                    * a unified one (what the device's total counts) */
	uint64_t vram;     /* AMD: bytes resident in VRAM; PROBE_UNKNOWN for */
	uint64_t gtt;      /* NVIDIA or when not reported. GTT: system RAM
	                    * mapped for the GPU */
	char comm[32];     /* ROOT/proc/PID/comm, "" when not visible */
};

/* A device draws on a pool: up to cap bytes of it in all (PROBE_UNLIMITED:
 * as much as the pool has), holding used bytes there now. */
struct probe_draw {
	uint32_t pool;     /* index into probe_result.pools */
	uint64_t cap;
	uint64_t used;     /* PROBE_UNKNOWN when not known */
};

/* amdgpu's view of a card (ROOT/sys/class/drm/cardN/device/mem_info_*). */
struct probe_amdgpu {
	char card[16];      /* "card1" */
	uint16_t pci_vendor, pci_device;
	uint64_t vram_total, vram_used;
	uint64_t gtt_total, gtt_used;
	uint64_t gtt_limit; /* min(gtt_total, TTM pages_limit, amdgpu.gttsize) */
	char uuid[24];      /* "GPU-" and device/unique_id, as ROCm names it;
	                     * "" when the card has none */
};

struct probe_device {
	char id[PROBE_ID_MAX];        /* "CPU", "CUDA0", "ROCm0" (numbered in
	                               * NVML and DRM card order) */
	char model[PROBE_NAME_MAX];   /* "NVIDIA GeForce RTX 4090" */
	char bus_id[32];              /* PCI address, "" unknown */
	uint8_t vendor;               /* enum probe_vendor */
	uint8_t kind;                 /* enum probe_dev_kind */
	uint64_t total;  /* memory it can hold: VRAM; for a unified GPU its
	                  * carve-out plus what it may take of system RAM */
	uint64_t free;   /* of that, free now (pool budgets aside) */
	uint64_t used;   /* in use now, PROBE_UNKNOWN when not known */
	char reason[PROBE_NOTE_MAX];  /* why discrete or unified */
	struct probe_amdgpu amd;      /* vendor AMD only */
	size_t n_draws;
	struct probe_draw draws[2];   /* [0] the home pool */
	size_t n_procs;
	bool procs_truncated;         /* more than PROBE_MAX_PROCS */
	struct probe_proc procs[PROBE_MAX_PROCS];
};

struct probe_pool {
	char id[PROBE_ID_MAX];  /* "system", or the GPU's id */
	uint8_t kind;           /* enum probe_pool_kind */
	uint64_t total;         /* MemTotal, or VRAM size */
	uint64_t limit;         /* system: the cgroup's limit (the smaller of
	                         * max and high), UNLIMITED when none */
	uint64_t free;          /* MemAvailable, or free VRAM */
	uint64_t available;     /* what a new process may take: system:
	                         * min(MemAvailable, cgroup available);
	                         * VRAM: free */
};

/* How a GPU source went. */
enum probe_src_state {
	PROBE_SRC_SKIPPED, /* not asked (LLMEM_NVML=none, or a --root tree) */
	PROBE_SRC_ABSENT,  /* no library, no card, no driver */
	PROBE_SRC_FAILED,  /* there, but an error stopped it */
	PROBE_SRC_OK,
};

struct probe_source {
	uint8_t state;          /* enum probe_src_state */
	uint32_t n_gpus;        /* GPUs it found */
	char msg[PROBE_NOTE_MAX];
};

struct probe_result {
	struct probe_meminfo mem;
	uint8_t thp;                     /* enum probe_thp */
	struct probe_cgroup cgroup;
	uint64_t ttm_pages_limit;        /* pages, PROBE_UNKNOWN if absent */
	int64_t amdgpu_gttsize_mib;      /* amdgpu.gttsize, -1 default/absent */
	struct probe_source nvml, amdgpu;
	size_t n_pools;
	struct probe_pool pools[PROBE_MAX_POOLS];     /* [0] system */
	size_t n_devices;
	struct probe_device devices[PROBE_MAX_DEVICES]; /* [0] CPU */
	size_t n_notes;
	char notes[PROBE_MAX_NOTES][PROBE_NOTE_MAX];  /* what could not be read */
};

struct probe_options {
	const char *root;       /* "/" or a fixture tree; NULL = "/" */
	const char *nvml_path;  /* path or soname for dlopen; NULL: skip NVML */
	const char *nvml_skip;  /* why NVML is skipped, for r->nvml.msg */
	const char *cuda_visible; /* $CUDA_VISIBLE_DEVICES; NULL: unset */
	const char *cuda_order;   /* $CUDA_DEVICE_ORDER; NULL: unset */
	const char *rocr_visible; /* $ROCR_VISIBLE_DEVICES; NULL: unset */
	const char *hip_visible;  /* $HIP_VISIBLE_DEVICES; NULL: unset */
};

/* ---- parsers (pure) -------------------------------------------------- */

/* /proc/meminfo. Needs MemTotal; MemFree and the rest default to 0, and
 * without MemAvailable it is estimated as MemFree + Buffers + Cached
 * (capped at MemTotal). Unknown lines are skipped; a known field with a
 * malformed value is an error. 0, -EBADMSG (MemTotal missing, bad value)
 * or -ERANGE (a value over 2^64 bytes). */
int probe_parse_meminfo(const char *text, size_t n, struct probe_meminfo *ret) ATTR_WUR;

/* $CUDA_VISIBLE_DEVICES (spec) over n GPUs in the driver's order, as the
 * CUDA runtime reads it: comma-separated indices or UUIDs ("GPU-...", or
 * a prefix naming one GPU; uuids[i] NULL when unknown); the list ends at
 * the first entry that names no GPU or one already listed. Fills order[]
 * (room for n) with the visible GPUs' indices, CUDA0 first; returns how
 * many ("" hides them all). */
size_t probe_cuda_visible(const char *spec, const char *const *uuids, size_t n, unsigned *order);

/* "always [madvise] never" -> PROBE_THP_MADVISE; UNKNOWN without a
 * bracketed known word. */
enum probe_thp probe_parse_thp(const char *text, size_t n);

/* /proc/self/cgroup: the memory controller's line. A v1 line listing
 * "memory" ("4:memory:/docker/ab") wins over the v2 line ("0::/a/b"), as
 * on a hybrid host the v2 hierarchy has no memory controller. The path
 * must be absolute with no "." or ".." component. 0 with *version 1 or 2
 * and path filled; -ENOENT when neither line is there; -EBADMSG for a bad
 * path; -ENAMETOOLONG when it does not fit pathsz. */
int probe_parse_proc_cgroup(const char *text, size_t n, uint8_t *version, char *path,
			    size_t pathsz) ATTR_WUR;

/* A cgroup limit file: "max" (v2) or bytes. A v1 value at or above 2^62
 * (9223372036854771712 is v1's "no limit") is PROBE_UNLIMITED.
 * 0 or -EBADMSG / -ERANGE. */
int probe_parse_cgroup_limit(const char *text, size_t n, uint64_t *ret) ATTR_WUR;

/* A file holding one unsigned decimal number and optional trailing
 * whitespace (sysfs, memory.current). 0 or -EBADMSG / -ERANGE. */
int probe_parse_u64_file(const char *text, size_t n, uint64_t *ret) ATTR_WUR;

/* The same for a signed number (amdgpu.gttsize is -1 by default). */
int probe_parse_i64_file(const char *text, size_t n, int64_t *ret) ATTR_WUR;

/* "key value" lines (memory.stat): the value of key. 0, -ENOENT when the
 * key is not there, -EBADMSG / -ERANGE for a bad value. */
int probe_parse_keyed_u64(const char *text, size_t n, const char *key, uint64_t *ret) ATTR_WUR;

/* A PCI device's uevent (DRIVER=amdgpu, PCI_ID=1002:744C,
 * PCI_SLOT_NAME=0000:03:00.0). Fields not there are left empty / 0.
 * 0, or -EBADMSG for a malformed PCI_ID. */
struct probe_uevent {
	char driver[32];
	char slot[32];
	uint16_t vendor, device;
	bool has_id;
};
int probe_parse_uevent(const char *text, size_t n, struct probe_uevent *ret) ATTR_WUR;

/* "0x1002\n" (sysfs vendor and device files). 0 or -EBADMSG / -ERANGE. */
int probe_parse_hex_u16(const char *text, size_t n, uint16_t *ret) ATTR_WUR;

/* A one-line text file (product_name, comm) into buf without the
 * trailing newline; control bytes become '?'. Returns the length. */
size_t probe_parse_line(const char *text, size_t n, char *buf, size_t bufsz);

/* One DRM client's fdinfo (ROOT/proc/PID/fdinfo/FD of a DRM device
 * file), in the kernel's format (Documentation/gpu/drm-usage-stats.rst):
 * "key:<tab>value" lines. Memory values are "<uint> [KiB|MiB|GiB]"
 * (bytes without a unit); per region (vram, gtt) the resident size is
 * drm-resident-<region> (kernel 6.11+), else drm-memory-<region> (the
 * legacy key, also resident), else drm-total-<region>. */
struct probe_drm_fdinfo {
	char driver[16];       /* drm-driver: "amdgpu", "i915", ... */
	char pdev[32];         /* drm-pdev: "0000:03:00.0"; "" when not there */
	uint64_t client_id;    /* drm-client-id: fds sharing one are one client */
	bool has_client_id;
	uint64_t vram, gtt;    /* bytes resident; PROBE_UNKNOWN when not there */
	uint64_t engine_gfx;   /* drm-engine-gfx / -compute: ns busy, 0 when */
	uint64_t engine_compute; /* not there */
};

/* 0; -ENOENT when text has no drm-driver line (the fdinfo of a file, a
 * socket, /dev/kfd...); -EBADMSG for a malformed value of a key above
 * (no number, an unknown unit, an empty or too long driver or pdev);
 * -ERANGE for a size over 2^64 bytes. Other lines are skipped; of a key
 * given twice the last counts. */
int probe_parse_drm_fdinfo(const char *text, size_t n, struct probe_drm_fdinfo *ret) ATTR_WUR;

/* AMD PCI device ids: whether it is an APU's integrated GPU, and a
 * marketing name for a few well-known ids (NULL otherwise). */
bool probe_amd_id_is_apu(uint16_t device);
const char *probe_amd_id_name(uint16_t device);

/* The GTT an amdgpu device can really use: gtt_total, capped by TTM's
 * pages_limit (4 KiB pages; PROBE_UNKNOWN or 0: no cap) and by
 * amdgpu.gttsize (MiB; <= 0: the default). */
uint64_t probe_amdgpu_gtt_limit(uint64_t gtt_total, uint64_t ttm_pages_limit, int64_t gttsize_mib);

/* Discrete or unified, with the reason in words: an APU by its PCI id,
 * or by its VRAM (1 GiB or less) being smaller than its GTT. */
enum probe_dev_kind probe_amdgpu_kind(const struct probe_amdgpu *a, char *reason, size_t reasonsz);

/* ---- pools and budgets (pure) --------------------------------------- */

/* Builds r->pools and every device's draws from r->mem, r->cgroup and the
 * GPUs in r->devices[1..]; adds the CPU as r->devices[0] (the GPUs move
 * up one). A discrete GPU gets a VRAM pool of its own; a unified NVIDIA
 * GPU draws on the system pool only; an AMD APU gets a pool for its VRAM
 * carve-out and draws on the system pool up to its GTT limit. */
void probe_pools_build(struct probe_result *r);

/* What llmem keeps free: on every GPU's home pool (its VRAM, or the
 * system pool for a unified GPU) gpu bytes, and on the system pool the
 * larger of host_min and host_percent of the system pool's size (MemTotal,
 * or the cgroup limit when smaller). */
struct probe_headroom {
	uint64_t gpu;
	uint64_t host_min;
	uint32_t host_percent;
};

/* 1 GiB per GPU; the larger of 2 GiB and 10% of RAM on the host. */
void probe_headroom_default(struct probe_headroom *h);

struct probe_pool_budget {
	uint64_t available; /* the pool's available */
	uint64_t headroom;
	uint64_t budget;    /* available - headroom, never below 0 */
};

/* The budget llmem plans with. Devices sharing a pool share its budget:
 * device_max[i] is the most device i alone could take (the sum over its
 * draws of min(cap - used, pool budget)); do not add them up. */
struct probe_budget {
	size_t n_pools;
	struct probe_pool_budget pools[PROBE_MAX_POOLS];
	size_t n_devices;
	uint64_t device_max[PROBE_MAX_DEVICES];
};

/* h NULL = probe_headroom_default(). */
void probe_budget_compute(const struct probe_result *r, const struct probe_headroom *h,
			  struct probe_budget *ret);

/* Keeps, of the n devices from r->devices[first], those order[0..n_vis)
 * names (indices into that slice), in that order, and renames them
 * <prefix>0, <prefix>1, ...; the devices after the slice move up. 0,
 * -EINVAL (a slice or index out of range) or -ENOMEM; r is unchanged on
 * failure. */
int probe_devices_keep(struct probe_result *r, size_t first, size_t n, const unsigned *order, size_t n_vis,
		       const char *prefix) ATTR_WUR;

/* The system pool's size for the headroom rule: MemTotal, or the cgroup
 * limit when smaller. */
uint64_t probe_system_size(const struct probe_result *r);

/* What-if: plans for a machine with bytes of RAM and nothing else
 * running, in place of the probed RAM: the system pool's total, free and
 * available become bytes, and no cgroup limit applies (the headroom rule
 * then takes its percent of bytes). GPUs and their draws are kept. */
void probe_system_what_if(struct probe_result *r, uint64_t bytes);

/* ---- readers ---------------------------------------------------------- */

/* Reads ROOT/REL (REL without a leading '/') into buf (NUL-terminated,
 * at most PROBE_FILE_MAX bytes). 0, -ENAMETOOLONG, -E2BIG, or the -errno
 * of open/read (-ENOENT when missing). *ret_n gets the length. */
int probe_file_read(const char *root, const char *rel, char **buf, size_t *ret_n) ATTR_WUR;

/* Appends a note (what could not be read) to r; silently drops it when
 * the list is full. */
void probe_note(struct probe_result *r, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* System RAM, THP and the cgroup. Fails only when meminfo cannot be read
 * or parsed (d says which file); the rest becomes notes. */
int probe_system_read(const char *root, struct probe_result *r, struct diag *d) ATTR_WUR;

/* NVIDIA GPUs through NVML at o->nvml_path (dlopen'ed, closed before it
 * returns), those o->cuda_visible leaves visible, named in its order.
 * Appends GPUs to r->devices; never fails: r->nvml says how it went. */
void probe_nvml_read(const struct probe_options *o, const char *root, struct probe_result *r);

/* AMD GPUs from ROOT/sys/class/drm/card* (amdgpu) and the TTM limits.
 * Appends GPUs to r->devices; r->amdgpu says how it went. With
 * o->rocr_visible and o->hip_visible, only those ROCm leaves visible
 * (ROCR_VISIBLE_DEVICES first, then HIP_VISIBLE_DEVICES over what it
 * left; without HIP_VISIBLE_DEVICES, HIP reads CUDA_VISIBLE_DEVICES,
 * taken here when no NVIDIA GPU was found), in their order, named ROCm0,
 * ROCm1, ... as llama-server's HIP build names them. */
void probe_amdgpu_read(const struct probe_options *o, const char *root, struct probe_result *r);

/* The processes holding memory on the AMD GPUs already in r->devices
 * (matched by drm-pdev against bus_id; with one AMD GPU, a client with no
 * drm-pdev is its): every amdgpu DRM client in ROOT/proc/PID/fdinfo/FD,
 * each client id counted once per GPU (for the lowest pid holding it),
 * summed per process. Processes whose fdinfo cannot be read are skipped.
 * With more than PROBE_MAX_PROCS the largest are kept (procs_truncated);
 * the list is sorted by used, largest first. Called by
 * probe_amdgpu_read(). */
void probe_amdgpu_procs_read(const char *root, struct probe_result *r);

/* Everything: system, NVML, amdgpu, then the pools. r is overwritten.
 * 0, or the error of probe_system_read(). */
int probe_run(const struct probe_options *o, struct probe_result *r, struct diag *d) ATTR_WUR;

/* Names for the enums ("unified", "vram", "madvise", ...). */
const char *probe_dev_kind_name(uint8_t kind);
const char *probe_pool_kind_name(uint8_t kind);
const char *probe_vendor_name(uint8_t vendor);
const char *probe_thp_name(uint8_t thp);
const char *probe_src_state_name(uint8_t state);

#endif
