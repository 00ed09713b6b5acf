/* fake-nvml.c: a stand-in for libnvidia-ml.so.1 that the tests load with
 * LLMEM_NVML=build/tools/libfake-nvml.so. It serves the NVML calls llmem
 * makes from a description in the file named by $FAKE_NVML_CONFIG:
 *
 *   # comment
 *   driver 580.95.05
 *   gpu TOTAL FREE USED BUS_ID NAME...   bytes; "-" for all three: the
 *                                        memory query is NOT_SUPPORTED
 *   proc PID BYTES|- compute|graphics    a process on the gpu above
 *   uuid GPU-...                         the gpu above's UUID (default:
 *                                        GPU-00000000-0000-0000-0000-00000000000N,
 *                                        N its index)
 *   fail init|count|procs CODE           that call returns NVML error CODE
 *   memv2 mismatch                       nvmlDeviceGetMemoryInfo_v2 rejects
 *                                        the struct version (old driver)
 *
 * With $FAKE_NVML_LOG set, the name of every entry point called is
 * appended to that file, so a test can see which versions llmem chose.
 * Built twice (tests/tools/nvml/ is not a tool directory: it has its own
 * rule in the Makefile): libfake-nvml.so exports the current names
 * (nvmlInit_v2, ..._v2, ..._v3), libfake-nvml-old.so (FAKE_NVML_OLD) only
 * the first ones. Test code: globals are fine here. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN 999
#define NVML_VALUE_NOT_AVAILABLE (~0ULL)

#define MAX_GPUS 32
#define MAX_PROCS 64

typedef int nvmlReturn_t;
typedef struct fake_gpu *nvmlDevice_t;

typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
	unsigned int version;
	unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
	char busIdLegacy[16];
	unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
	char busId[32];
} nvmlPciInfo_t;

struct fake_proc {
	unsigned int pid;
	unsigned long long used;
	int graphics;
};

struct fake_gpu {
	char name[96];
	char bus_id[32];
	char uuid[96];
	int no_memory;
	unsigned long long total, free, used;
	size_t n_procs;
	struct fake_proc procs[MAX_PROCS];
};

static struct {
	int initialized;
	char driver[80];
	size_t n_gpus;
	struct fake_gpu gpus[MAX_GPUS];
	int fail_init, fail_count, fail_procs;
	int memv2_mismatch;
} fake;

/* The exported entry points (prototypes for -Wmissing-prototypes). */
#define EXPORT __attribute__((visibility("default")))
EXPORT const char *nvmlErrorString(nvmlReturn_t e);
EXPORT nvmlReturn_t nvmlShutdown(void);
EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned int len);
EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *buf, unsigned int len);
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *buf, unsigned int len);
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m);
EXPORT nvmlReturn_t nvmlInit(void);
EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *n);
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t *d);
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int *n,
							 nvmlProcessInfo_v1_t *p);
EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t d, unsigned int *n,
							  nvmlProcessInfo_v1_t *p);
#ifndef FAKE_NVML_OLD
EXPORT nvmlReturn_t nvmlInit_v2(void);
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n);
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d);
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p);
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m);
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *n,
							    nvmlProcessInfo_t *p);
EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *n,
							     nvmlProcessInfo_t *p);
#endif

static void log_call(const char *name)
{
	const char *path = getenv("FAKE_NVML_LOG");
	FILE *fp;

	if (!path || !*path)
		return;
	fp = fopen(path, "a");
	if (!fp)
		return;
	fprintf(fp, "%s\n", name);
	fclose(fp);
}

static unsigned long long number(const char *s, int *none)
{
	if (!strcmp(s, "-")) {
		*none = 1;
		return 0;
	}
	return strtoull(s, NULL, 10);
}

static int load(void)
{
	const char *path = getenv("FAKE_NVML_CONFIG");
	char line[512];
	FILE *fp;

	memset(&fake, 0, sizeof(fake));
	strcpy(fake.driver, "999.99");
	if (!path || !(fp = fopen(path, "r")))
		return NVML_ERROR_DRIVER_NOT_LOADED;
	while (fgets(line, sizeof(line), fp)) {
		char *save = NULL, *kw;

		line[strcspn(line, "\n")] = '\0';
		kw = strtok_r(line, " \t", &save);
		if (!kw || kw[0] == '#')
			continue;
		if (!strcmp(kw, "driver")) {
			char *v = strtok_r(NULL, " \t", &save);

			snprintf(fake.driver, sizeof(fake.driver), "%s", v ? v : "");
		} else if (!strcmp(kw, "gpu") && fake.n_gpus < MAX_GPUS) {
			struct fake_gpu *g = &fake.gpus[fake.n_gpus++];
			char *t = strtok_r(NULL, " \t", &save), *f = strtok_r(NULL, " \t", &save);
			char *u = strtok_r(NULL, " \t", &save), *bus = strtok_r(NULL, " \t", &save);
			char *name = save;
			int none = 0;

			if (!t || !f || !u || !bus)
				continue;
			g->total = number(t, &none);
			g->free = number(f, &none);
			g->used = number(u, &none);
			g->no_memory = none;
			snprintf(g->bus_id, sizeof(g->bus_id), "%s", bus);
			snprintf(g->uuid, sizeof(g->uuid), "GPU-00000000-0000-0000-0000-%012zu", fake.n_gpus - 1);
			snprintf(g->name, sizeof(g->name), "%s", name ? name : "");
		} else if (!strcmp(kw, "uuid") && fake.n_gpus) {
			char *v = strtok_r(NULL, " \t", &save);

			if (v)
				snprintf(fake.gpus[fake.n_gpus - 1].uuid, sizeof(fake.gpus[0].uuid), "%s", v);
		} else if (!strcmp(kw, "proc") && fake.n_gpus) {
			struct fake_gpu *g = &fake.gpus[fake.n_gpus - 1];
			char *pid = strtok_r(NULL, " \t", &save), *b = strtok_r(NULL, " \t", &save);
			char *type = strtok_r(NULL, " \t", &save);
			int none = 0;

			if (!pid || !b || g->n_procs >= MAX_PROCS)
				continue;
			g->procs[g->n_procs].pid = (unsigned int)strtoul(pid, NULL, 10);
			g->procs[g->n_procs].used = number(b, &none);
			if (none)
				g->procs[g->n_procs].used = NVML_VALUE_NOT_AVAILABLE;
			g->procs[g->n_procs].graphics = type && !strcmp(type, "graphics");
			g->n_procs++;
		} else if (!strcmp(kw, "fail")) {
			char *what = strtok_r(NULL, " \t", &save), *code = strtok_r(NULL, " \t", &save);
			int c = code ? atoi(code) : NVML_ERROR_UNKNOWN;

			if (what && !strcmp(what, "init"))
				fake.fail_init = c;
			else if (what && !strcmp(what, "count"))
				fake.fail_count = c;
			else if (what && !strcmp(what, "procs"))
				fake.fail_procs = c;
		} else if (!strcmp(kw, "memv2")) {
			fake.memv2_mismatch = 1;
		}
	}
	fclose(fp);
	return fake.fail_init;
}

static int valid(nvmlDevice_t d)
{
	return fake.initialized && d >= fake.gpus && d < fake.gpus + fake.n_gpus;
}

const char *nvmlErrorString(nvmlReturn_t e)
{
	switch (e) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
	case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument Version Mismatch";
	default: return "Unknown Error";
	}
}

static nvmlReturn_t init(const char *name)
{
	int e;

	log_call(name);
	e = load();
	fake.initialized = e == NVML_SUCCESS;
	return e;
}

nvmlReturn_t nvmlInit(void)
{
	return init("nvmlInit");
}

nvmlReturn_t nvmlShutdown(void)
{
	log_call("nvmlShutdown");
	fake.initialized = 0;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned int len)
{
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (!buf || strlen(fake.driver) + 1 > len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	strcpy(buf, fake.driver);
	return NVML_SUCCESS;
}

static nvmlReturn_t count(unsigned int *n, const char *name)
{
	log_call(name);
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (fake.fail_count)
		return fake.fail_count;
	*n = (unsigned int)fake.n_gpus;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount(unsigned int *n)
{
	return count(n, "nvmlDeviceGetCount");
}

static nvmlReturn_t handle(unsigned int i, nvmlDevice_t *d, const char *name)
{
	log_call(name);
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (i >= fake.n_gpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	*d = &fake.gpus[i];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t *d)
{
	return handle(i, d, "nvmlDeviceGetHandleByIndex");
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *buf, unsigned int len)
{
	if (!valid(d))
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(d->name) + 1 > len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	strcpy(buf, d->name);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *buf, unsigned int len)
{
	log_call("nvmlDeviceGetUUID");
	if (!valid(d))
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(d->uuid) + 1 > len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	strcpy(buf, d->uuid);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	log_call("nvmlDeviceGetMemoryInfo");
	if (!valid(d))
		return NVML_ERROR_INVALID_ARGUMENT;
	if (d->no_memory)
		return NVML_ERROR_NOT_SUPPORTED;
	m->total = d->total;
	m->free = d->free;
	m->used = d->used;
	return NVML_SUCCESS;
}

/* Both process layouts: the count protocol of NVML (too small a buffer:
 * INSUFFICIENT_SIZE and the count needed). */
static nvmlReturn_t procs(nvmlDevice_t d, unsigned int *n, void *out, int v1, int graphics,
			  const char *name)
{
	unsigned int want = 0;

	log_call(name);
	if (!valid(d) || !n)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake.fail_procs)
		return fake.fail_procs;
	for (size_t i = 0; i < d->n_procs; i++)
		want += d->procs[i].graphics == graphics;
	if (*n < want || (want && !out)) {
		*n = want;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	*n = 0;
	for (size_t i = 0; i < d->n_procs; i++) {
		if (d->procs[i].graphics != graphics)
			continue;
		if (v1) {
			nvmlProcessInfo_v1_t *p = (nvmlProcessInfo_v1_t *)out + *n;

			p->pid = d->procs[i].pid;
			p->usedGpuMemory = d->procs[i].used;
		} else {
			nvmlProcessInfo_t *p = (nvmlProcessInfo_t *)out + *n;

			p->pid = d->procs[i].pid;
			p->usedGpuMemory = d->procs[i].used;
			p->gpuInstanceId = p->computeInstanceId = 0xffffffffu;
		}
		(*n)++;
	}
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int *n,
						  nvmlProcessInfo_v1_t *p)
{
	return procs(d, n, p, 1, 0, "nvmlDeviceGetComputeRunningProcesses");
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t d, unsigned int *n,
						   nvmlProcessInfo_v1_t *p)
{
	return procs(d, n, p, 1, 1, "nvmlDeviceGetGraphicsRunningProcesses");
}

#ifndef FAKE_NVML_OLD
nvmlReturn_t nvmlInit_v2(void)
{
	return init("nvmlInit_v2");
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
	return count(n, "nvmlDeviceGetCount_v2");
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d)
{
	return handle(i, d, "nvmlDeviceGetHandleByIndex_v2");
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p)
{
	if (!valid(d))
		return NVML_ERROR_INVALID_ARGUMENT;
	memset(p, 0, sizeof(*p));
	snprintf(p->busId, sizeof(p->busId), "%s", d->bus_id);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m)
{
	log_call("nvmlDeviceGetMemoryInfo_v2");
	if (!valid(d))
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake.memv2_mismatch ||
	    m->version != (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)))
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	if (d->no_memory)
		return NVML_ERROR_NOT_SUPPORTED;
	m->total = d->total;
	m->reserved = 0;
	m->free = d->free;
	m->used = d->used;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *n,
						     nvmlProcessInfo_t *p)
{
	return procs(d, n, p, 0, 0, "nvmlDeviceGetComputeRunningProcesses_v3");
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *n,
						      nvmlProcessInfo_t *p)
{
	return procs(d, n, p, 0, 1, "nvmlDeviceGetGraphicsRunningProcesses_v3");
}
#endif
