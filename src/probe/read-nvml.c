/* read-nvml.c: NVIDIA GPUs through NVML, loaded with dlopen so llmem has
 * no build or run-time dependency on the driver. The few NVML types and
 * entry points used are declared here (as nvtop does); the newest symbol
 * of each is used where the library has it (nvmlInit_v2,
 * nvmlDeviceGetMemoryInfo_v2, nvmlDeviceGetComputeRunningProcesses_v3,
 * ...), the older one otherwise. A GPU whose memory NVML cannot report
 * (NVML_ERROR_NOT_SUPPORTED, or a total of 0: GB10 / DGX Spark, Jetson
 * Thor) has no memory of its own and draws on system RAM. */
#include "base/compat.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe-int.h"
#include "probe/probe.h"

typedef int nvml_ret; /* nvmlReturn_t */
typedef struct nvmlDevice_st *nvml_dev;

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_VALUE_NOT_AVAILABLE (~0ULL)
#define NVML_NAME_LEN 96     /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define NVML_UUID_LEN 96     /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define NVML_DRIVER_LEN 80   /* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE */
#define NVML_MAX_PROCS 4096  /* never ask for more than this */

struct nvml_memory_v1 {
	unsigned long long total, free, used;
};

struct nvml_memory_v2 {
	unsigned int version;
	unsigned long long total, reserved, free, used;
};

/* NVML_STRUCT_VERSION(Memory, 2) */
#define NVML_MEMORY_V2 ((unsigned int)(sizeof(struct nvml_memory_v2) | (2u << 24)))

struct nvml_process_v1 {
	unsigned int pid;
	unsigned long long usedGpuMemory;
};

/* the layout of both the _v2 and the _v3 process queries */
struct nvml_process_v2 {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId, computeInstanceId;
};

struct nvml_pci_info {
	char busIdLegacy[16];
	unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
	char busId[32];
};

typedef nvml_ret (*nvml_void_fn)(void);
typedef const char *(*nvml_errstr_fn)(nvml_ret);
typedef nvml_ret (*nvml_count_fn)(unsigned int *);
typedef nvml_ret (*nvml_handle_fn)(unsigned int, nvml_dev *);
typedef nvml_ret (*nvml_str_fn)(nvml_dev, char *, unsigned int);
typedef nvml_ret (*nvml_sysstr_fn)(char *, unsigned int);
typedef nvml_ret (*nvml_pci_fn)(nvml_dev, struct nvml_pci_info *);
typedef nvml_ret (*nvml_mem1_fn)(nvml_dev, struct nvml_memory_v1 *);
typedef nvml_ret (*nvml_mem2_fn)(nvml_dev, struct nvml_memory_v2 *);
typedef nvml_ret (*nvml_procs_fn)(nvml_dev, unsigned int *, void *);

/* The process queries: compute first (the models), then graphics. */
struct nvml_procs {
	nvml_procs_fn fn;
	bool v2_layout;
	uint8_t type; /* enum probe_proc_type */
};

struct nvml {
	void *h;
	nvml_void_fn init, shutdown;
	nvml_errstr_fn error_string;
	nvml_count_fn count;
	nvml_handle_fn handle;
	nvml_str_fn name;
	nvml_str_fn uuid;
	nvml_sysstr_fn driver_version;
	nvml_pci_fn pci;
	nvml_mem1_fn mem_v1;
	nvml_mem2_fn mem_v2;
	struct nvml_procs procs[2];
};

static void *sym(void *h, const char *name)
{
	return dlsym(h, name);
}

/* The first of the names the library has, or NULL. */
static void *sym_first(void *h, const char *a, const char *b, const char *c)
{
	void *p = sym(h, a);

	if (!p && b)
		p = sym(h, b);
	if (!p && c)
		p = sym(h, c);
	return p;
}

static const char *nvml_err(const struct nvml *n, nvml_ret e)
{
	const char *s = n->error_string ? n->error_string(e) : NULL;

	return s ? s : "unknown error";
}

static void load_procs(struct nvml *n, int k, const char *v3, const char *v2, const char *v1,
		       uint8_t type)
{
	void *p;

	n->procs[k].type = type;
	n->procs[k].v2_layout = true;
	p = sym_first(n->h, v3, v2, NULL);
	if (!p) {
		p = sym(n->h, v1);
		n->procs[k].v2_layout = false;
	}
	n->procs[k].fn = (nvml_procs_fn)p;
}

/* dlopen and dlsym; 0, or -ENOENT (no library) / -ENOSYS (not NVML). */
static int nvml_load(struct nvml *n, const char *path, struct probe_source *src)
{
	const char *err;

	memset(n, 0, sizeof(*n));
	dlerror();
	n->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!n->h) {
		err = dlerror();
		probe_fmt(src->msg, sizeof(src->msg), "%s", err ? err : path);
		probe_span_copy(src->msg, sizeof(src->msg), src->msg, strlen(src->msg));
		return -ENOENT;
	}
	n->init = (nvml_void_fn)sym_first(n->h, "nvmlInit_v2", "nvmlInit", NULL);
	n->shutdown = (nvml_void_fn)sym(n->h, "nvmlShutdown");
	n->error_string = (nvml_errstr_fn)sym(n->h, "nvmlErrorString");
	n->count = (nvml_count_fn)sym_first(n->h, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount", NULL);
	n->handle = (nvml_handle_fn)sym_first(n->h, "nvmlDeviceGetHandleByIndex_v2",
					      "nvmlDeviceGetHandleByIndex", NULL);
	n->name = (nvml_str_fn)sym(n->h, "nvmlDeviceGetName");
	n->uuid = (nvml_str_fn)sym(n->h, "nvmlDeviceGetUUID");
	n->driver_version = (nvml_sysstr_fn)sym(n->h, "nvmlSystemGetDriverVersion");
	n->pci = (nvml_pci_fn)sym_first(n->h, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2",
					NULL);
	n->mem_v2 = (nvml_mem2_fn)sym(n->h, "nvmlDeviceGetMemoryInfo_v2");
	n->mem_v1 = (nvml_mem1_fn)sym(n->h, "nvmlDeviceGetMemoryInfo");
	load_procs(n, 0, "nvmlDeviceGetComputeRunningProcesses_v3",
		   "nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses",
		   PROBE_PROC_COMPUTE);
	load_procs(n, 1, "nvmlDeviceGetGraphicsRunningProcesses_v3",
		   "nvmlDeviceGetGraphicsRunningProcesses_v2", "nvmlDeviceGetGraphicsRunningProcesses",
		   PROBE_PROC_GRAPHICS);
	if (!n->init || !n->shutdown || !n->count || !n->handle || (!n->mem_v2 && !n->mem_v1)) {
		probe_fmt(src->msg, sizeof(src->msg), "%s does not have the NVML functions llmem needs",
			  path);
		probe_span_copy(src->msg, sizeof(src->msg), src->msg, strlen(src->msg));
		dlclose(n->h);
		n->h = NULL;
		return -ENOSYS;
	}
	return 0;
}

/* The device's memory: 0 with total/free/used, or -EOPNOTSUPP when it
 * has none of its own (unified), or -EIO with *err set. */
static int nvml_memory(const struct nvml *n, nvml_dev dev, struct probe_device *d, nvml_ret *err)
{
	nvml_ret e = NVML_ERROR_NOT_SUPPORTED;

	if (n->mem_v2) {
		struct nvml_memory_v2 m = { .version = NVML_MEMORY_V2 };

		e = n->mem_v2(dev, &m);
		if (e == NVML_SUCCESS) {
			if (m.total == 0)
				return -EOPNOTSUPP;
			d->total = m.total;
			d->free = m.free;
			d->used = m.used; /* without the driver's reserve */
			return 0;
		}
	}
	/* no _v2, or it failed (an old driver refuses the version): v1 */
	if (n->mem_v1) {
		struct nvml_memory_v1 m = { 0 };

		e = n->mem_v1(dev, &m);
		if (e == NVML_SUCCESS) {
			if (m.total == 0)
				return -EOPNOTSUPP;
			d->total = m.total;
			d->free = m.free;
			d->used = m.used;
			return 0;
		}
	}
	if (e == NVML_ERROR_NOT_SUPPORTED)
		return -EOPNOTSUPP;
	*err = e;
	return -EIO;
}

static void proc_add(struct probe_device *d, const char *root, uint32_t pid, uint64_t used,
		     uint8_t type)
{
	struct probe_proc *p;
	char rel[48];
	char *buf;
	size_t n;

	for (size_t i = 0; i < d->n_procs; i++)
		if (d->procs[i].pid == pid)
			return; /* listed as compute already */
	if (d->n_procs >= PROBE_MAX_PROCS) {
		d->procs_truncated = true;
		return;
	}
	p = &d->procs[d->n_procs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->type = type;
	p->used = used == NVML_VALUE_NOT_AVAILABLE ? PROBE_UNKNOWN : used;
	p->vram = p->gtt = PROBE_UNKNOWN; /* AMD's */
	/* the pid is the host's: in a container it may not be visible */
	snprintf(rel, sizeof(rel), "proc/%u/comm", pid);
	if (probe_file_read(root, rel, &buf, &n) == 0) {
		probe_parse_line(buf, n, p->comm, sizeof(p->comm));
		free(buf);
	}
}

/* One process query: asks for the count, then for the list (processes
 * may start in between: a few retries). 0 or -EIO. */
static int nvml_processes(const struct nvml_procs *q, nvml_dev dev, struct probe_device *d,
			  const char *root)
{
	size_t size = q->v2_layout ? sizeof(struct nvml_process_v2) : sizeof(struct nvml_process_v1);
	unsigned int cnt = 0;
	nvml_ret e;

	if (!q->fn)
		return 0;
	e = q->fn(dev, &cnt, NULL);
	if (e == NVML_SUCCESS)
		return 0;
	if (e != NVML_ERROR_INSUFFICIENT_SIZE)
		return -EIO;
	for (int attempt = 0; attempt < 4; attempt++) {
		unsigned int want = cnt + 8 < NVML_MAX_PROCS ? cnt + 8 : NVML_MAX_PROCS, got = want;
		void *buf = calloc(want, size);

		if (!buf)
			return -EIO;
		e = q->fn(dev, &got, buf);
		if (e == NVML_SUCCESS) {
			if (got > want)
				got = want;
			for (unsigned int i = 0; i < got; i++) {
				if (q->v2_layout) {
					const struct nvml_process_v2 *p = (const struct nvml_process_v2 *)buf + i;

					proc_add(d, root, p->pid, p->usedGpuMemory, q->type);
				} else {
					const struct nvml_process_v1 *p = (const struct nvml_process_v1 *)buf + i;

					proc_add(d, root, p->pid, p->usedGpuMemory, q->type);
				}
			}
			free(buf);
			return 0;
		}
		free(buf);
		if (e != NVML_ERROR_INSUFFICIENT_SIZE || want == NVML_MAX_PROCS)
			return -EIO;
		cnt = got > cnt ? got : cnt + 8;
	}
	return -EIO;
}

static void nvml_device(const struct nvml *n, unsigned int index, const char *root,
			struct probe_result *r)
{
	struct probe_device *d = &r->devices[r->n_devices];
	char name[NVML_NAME_LEN + 1] = "";
	nvml_ret err = NVML_SUCCESS;
	nvml_dev dev;
	nvml_ret e;

	e = n->handle(index, &dev);
	if (e != NVML_SUCCESS) {
		/* NVML_ERROR_NO_PERMISSION for a GPU cgroups hide, and the like */
		probe_note(r, "NVML: GPU %u: %s", index, nvml_err(n, e));
		return;
	}
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "CUDA%u", r->nvml.n_gpus);
	d->vendor = PROBE_VENDOR_NVIDIA;
	d->used = PROBE_UNKNOWN;
	if (n->name && n->name(dev, name, NVML_NAME_LEN) == NVML_SUCCESS)
		probe_span_copy(d->model, sizeof(d->model), name, strnlen(name, NVML_NAME_LEN));
	else
		snprintf(d->model, sizeof(d->model), "NVIDIA GPU %u", index);
	if (n->pci) {
		struct nvml_pci_info pci;

		memset(&pci, 0, sizeof(pci));
		if (n->pci(dev, &pci) == NVML_SUCCESS)
			probe_span_copy(d->bus_id, sizeof(d->bus_id), pci.busId,
					strnlen(pci.busId, sizeof(pci.busId)));
	}
	switch (nvml_memory(n, dev, d, &err)) {
	case 0:
		d->kind = PROBE_DEV_DISCRETE;
		probe_fmt(d->reason, sizeof(d->reason), "NVML reports %llu MiB of its own memory",
			  (unsigned long long)(d->total >> 20));
		break;
	case -EOPNOTSUPP:
		d->kind = PROBE_DEV_UNIFIED;
		d->total = d->free = 0;
		d->used = PROBE_UNKNOWN;
		probe_fmt(d->reason, sizeof(d->reason),
			  "NVML reports no memory of its own (not supported): it shares system RAM");
		break;
	default:
		d->kind = PROBE_DEV_DISCRETE;
		d->total = d->free = 0;
		probe_fmt(d->reason, sizeof(d->reason), "NVML cannot report its memory: %s",
			  nvml_err(n, err));
		probe_note(r, "NVML: %s: memory info: %s", d->id, nvml_err(n, err));
		break;
	}
	for (size_t k = 0; k < ARRAY_SIZE(n->procs); k++)
		if (nvml_processes(&n->procs[k], dev, d, root) < 0 && k == 0)
			probe_note(r, "NVML: %s: cannot list its processes", d->id);
	r->n_devices++;
	r->nvml.n_gpus++;
}

/* Which GPUs CUDA_VISIBLE_DEVICES leaves visible, in its order, into
 * order[]; the count. Their UUIDs are read only when it names one. */
static size_t nvml_visible(const struct nvml *n, const struct probe_options *o, unsigned int count,
			   unsigned *order, struct probe_result *r)
{
	char uuid[PROBE_MAX_GPUS][NVML_UUID_LEN + 1];
	const char *uuids[PROBE_MAX_GPUS];
	size_t n_vis;

	if (!o->cuda_visible) {
		for (unsigned int i = 0; i < count; i++)
			order[i] = i;
		return count;
	}
	for (unsigned int i = 0; i < count; i++) {
		nvml_dev dev;

		uuids[i] = NULL;
		uuid[i][0] = '\0';
		if (strstr(o->cuda_visible, "GPU-") && n->uuid && n->handle(i, &dev) == NVML_SUCCESS &&
		    n->uuid(dev, uuid[i], NVML_UUID_LEN) == NVML_SUCCESS) {
			uuid[i][NVML_UUID_LEN] = '\0';
			uuids[i] = uuid[i];
		}
	}
	n_vis = probe_cuda_visible(o->cuda_visible, uuids, count, order);
	if (n_vis < count) {
		char shown[48];

		probe_span_copy(shown, sizeof(shown), o->cuda_visible, strnlen(o->cuda_visible, 40));
		probe_note(r, "CUDA_VISIBLE_DEVICES=%s: %zu of %u NVIDIA GPUs visible (llama-server sees the same)",
			   shown, n_vis, count);
	}
	return n_vis;
}

/* CUDA numbers GPUs fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID,
 * NVML (and llmem) in PCI order: the same when the GPUs are alike. All
 * of them are compared, hidden ones too: CUDA_VISIBLE_DEVICES's indices
 * are read in that order as well. */
static void cuda_order_note(const struct nvml *n, const struct probe_options *o, unsigned int count,
			    struct probe_result *r)
{
	char first[NVML_NAME_LEN + 1] = "", name[NVML_NAME_LEN + 1];

	if ((o->cuda_order && !strcmp(o->cuda_order, "PCI_BUS_ID")) || !n->name)
		return;
	for (unsigned int i = 0; i < count; i++) {
		nvml_dev dev;

		memset(name, 0, sizeof(name));
		if (n->handle(i, &dev) != NVML_SUCCESS || n->name(dev, name, NVML_NAME_LEN) != NVML_SUCCESS)
			continue;
		if (!first[0]) {
			memcpy(first, name, sizeof(first));
		} else if (strcmp(first, name)) {
			probe_note(r, "NVIDIA GPUs of different models: llmem names them CUDA0, CUDA1, ... in PCI "
				   "order (and reads CUDA_VISIBLE_DEVICES's indices so), CUDA fastest first; run "
				   "llama-server with CUDA_DEVICE_ORDER=PCI_BUS_ID (llmem serve sets it) so that the "
				   "names agree");
			return;
		}
	}
}

void probe_nvml_read(const struct probe_options *o, const char *root, struct probe_result *r)
{
	struct probe_source *src = &r->nvml;
	const char *nvml_path = o->nvml_path;
	char driver[NVML_DRIVER_LEN + 1] = "";
	unsigned int count = 0;
	unsigned order[PROBE_MAX_GPUS];
	size_t n_vis;
	struct nvml n;
	nvml_ret e;

	memset(src, 0, sizeof(*src));
	if (!nvml_path) {
		src->state = PROBE_SRC_SKIPPED;
		return;
	}
	e = nvml_load(&n, nvml_path, src);
	if (e < 0) {
		src->state = e == -ENOENT ? PROBE_SRC_ABSENT : PROBE_SRC_FAILED;
		return;
	}
	e = n.init();
	if (e != NVML_SUCCESS) {
		src->state = e == NVML_ERROR_DRIVER_NOT_LOADED ? PROBE_SRC_ABSENT : PROBE_SRC_FAILED;
		probe_fmt(src->msg, sizeof(src->msg), "nvmlInit: %s", nvml_err(&n, e));
		dlclose(n.h);
		return;
	}
	e = n.count(&count);
	if (e != NVML_SUCCESS) {
		src->state = PROBE_SRC_FAILED;
		probe_fmt(src->msg, sizeof(src->msg), "nvmlDeviceGetCount: %s", nvml_err(&n, e));
		goto out;
	}
	if (count > PROBE_MAX_GPUS) {
		probe_note(r, "NVML: %u GPUs, llmem looks at %d", count, PROBE_MAX_GPUS);
		count = PROBE_MAX_GPUS;
	}
	n_vis = nvml_visible(&n, o, count, order, r);
	for (size_t k = 0; k < n_vis; k++) {
		if (r->n_devices >= PROBE_MAX_DEVICES) {
			probe_note(r, "NVML: %u GPUs, llmem looks at %d", count, PROBE_MAX_GPUS);
			break;
		}
		nvml_device(&n, order[k], root, r);
	}
	cuda_order_note(&n, o, count, r);
	src->state = PROBE_SRC_OK;
	if (n.driver_version && n.driver_version(driver, NVML_DRIVER_LEN) == NVML_SUCCESS) {
		char clean[NVML_DRIVER_LEN + 1];

		probe_span_copy(clean, sizeof(clean), driver, strnlen(driver, NVML_DRIVER_LEN));
		probe_fmt(src->msg, sizeof(src->msg), "driver %s, %u GPU%s", clean, src->n_gpus,
			  src->n_gpus == 1 ? "" : "s");
	} else {
		probe_fmt(src->msg, sizeof(src->msg), "%u GPU%s", src->n_gpus, src->n_gpus == 1 ? "" : "s");
	}
out:
	n.shutdown();
	dlclose(n.h);
}
