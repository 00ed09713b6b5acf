/* read-fdinfo.c: the processes using each AMD GPU, found the way nvtop
 * and amdgpu_top find them: every DRM client the kernel lists in
 * ROOT/proc/PID/fdinfo/FD (parsed by probe_parse_drm_fdinfo()) whose
 * driver is amdgpu, matched to a card by its drm-pdev. A machine has
 * thousands of fds: only the numeric entries of ROOT/proc and of each
 * fdinfo directory are looked at, only the fdinfo files are read, each
 * into a buffer on the stack, and nothing else is read but the comm of a
 * process that is listed. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/checked.h"
#include "probe/probe-int.h"
#include "probe/probe.h"

/* An amdgpu client's fdinfo is 1 to 2 KiB; what is past this is not a
 * key llmem reads. */
#define FDINFO_MAX 8192

struct u32_list {
	uint32_t *v;
	size_t n, alloc;
};

/* The DRM clients counted so far: (device, client id). */
struct client {
	uint64_t id;
	size_t dev;
};

struct client_list {
	struct client *v;
	size_t n, alloc;
};

/* One process's use of one device, summed over its clients. */
struct use {
	uint64_t vram, gtt, gfx, compute;
	bool found, has_vram, has_gtt;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t s;

	/* UINT64_MAX is PROBE_UNKNOWN */
	return ck_add_u64(a, b, &s) && s != UINT64_MAX ? s : UINT64_MAX - 1;
}

/* "1234" -> 1234; false for "self", "1a", "" or over 2^32 - 1. */
static bool name_u32(const char *name, uint32_t *ret)
{
	uint64_t v;

	if (name[0] < '0' || name[0] > '9' || probe_span_u64(name, strlen(name), &v) < 0 ||
	    v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static int u32_push(struct u32_list *l, uint32_t v)
{
	if (l->n == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 256;
		uint32_t *nv = realloc(l->v, na * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->alloc = na;
	}
	l->v[l->n++] = v;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether (dev, id) was counted already; if not, records it. A client
 * that cannot be recorded (out of memory) is counted. */
static bool client_seen(struct client_list *l, size_t dev, uint64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].id == id && l->v[i].dev == dev)
			return true;
	if (l->n == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 64;
		struct client *nv = realloc(l->v, na * sizeof(*nv));

		if (!nv)
			return false;
		l->v = nv;
		l->alloc = na;
	}
	l->v[l->n].id = id;
	l->v[l->n].dev = dev;
	l->n++;
	return false;
}

/* The numeric entries of the directory at path, sorted. 0 or -errno. */
static int numeric_entries(const char *path, struct u32_list *ret)
{
	struct dirent *de;
	DIR *dir = opendir(path);
	uint32_t v;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)) != NULL)
		if (name_u32(de->d_name, &v) && u32_push(ret, v) < 0)
			break;
	closedir(dir);
	if (ret->n)
		qsort(ret->v, ret->n, sizeof(*ret->v), cmp_u32);
	return 0;
}

/* Reads the fdinfo file name in dirfd into buf (NUL-terminated); a file
 * longer than the buffer is cut after its last whole line. The length,
 * or -errno. */
static ssize_t fdinfo_read(int dirfd, const char *name, char *buf, size_t bufsz)
{
	size_t len = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	while (len < bufsz - 1) {
		ssize_t r = read(fd, buf + len, bufsz - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len == bufsz - 1) {
		char *nl = memrchr(buf, '\n', len);

		len = nl ? (size_t)(nl - buf) + 1 : 0;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/* The index in r->devices of the AMD GPU a client is on, or 0 (the CPU:
 * none). only: the one AMD GPU there is, or 0 when there are several. */
static size_t client_device(const struct probe_result *r, const struct probe_drm_fdinfo *f,
			    size_t only)
{
	if (!f->pdev[0])
		return only;
	for (size_t i = 1; i < r->n_devices; i++)
		if (r->devices[i].vendor == PROBE_VENDOR_AMD && r->devices[i].bus_id[0] &&
		    !strcasecmp(r->devices[i].bus_id, f->pdev))
			return i;
	return 0;
}

/* Adds the clients of one process to use[] (indexed like r->devices). */
static void process_read(const char *root, const struct probe_result *r, uint32_t pid,
			 size_t only, struct client_list *seen, struct use *use)
{
	char rel[64], path[PROBE_PATH_MAX * 2], buf[FDINFO_MAX];
	struct dirent *de;
	DIR *dir;
	uint32_t fd;

	snprintf(rel, sizeof(rel), "proc/%u/fdinfo", pid);
	if (probe_path_join(path, sizeof(path), root, rel) < 0 || !(dir = opendir(path)))
		return; /* gone, or another user's */
	while ((de = readdir(dir)) != NULL) {
		struct probe_drm_fdinfo f;
		struct use *u;
		ssize_t n;
		size_t dev;

		if (!name_u32(de->d_name, &fd))
			continue;
		n = fdinfo_read(dirfd(dir), de->d_name, buf, sizeof(buf));
		if (n < 0 || probe_parse_drm_fdinfo(buf, (size_t)n, &f) < 0 ||
		    strcmp(f.driver, "amdgpu"))
			continue;
		dev = client_device(r, &f, only);
		if (dev == 0 || (f.has_client_id && client_seen(seen, dev, f.client_id)))
			continue;
		u = &use[dev];
		u->found = true;
		if (f.vram != PROBE_UNKNOWN) {
			u->vram = sat_add(u->vram, f.vram);
			u->has_vram = true;
		}
		if (f.gtt != PROBE_UNKNOWN) {
			u->gtt = sat_add(u->gtt, f.gtt);
			u->has_gtt = true;
		}
		u->gfx = sat_add(u->gfx, f.engine_gfx);
		u->compute = sat_add(u->compute, f.engine_compute);
	}
	closedir(dir);
}

/* used, with an unknown size as 0, for keeping the largest */
static uint64_t used_or_0(const struct probe_proc *p)
{
	return p->used == PROBE_UNKNOWN ? 0 : p->used;
}

static void proc_put(struct probe_device *d, const char *root, uint32_t pid, const struct use *u)
{
	struct probe_proc p, *slot;
	char rel[48];
	char *buf;
	size_t n;

	memset(&p, 0, sizeof(p));
	p.pid = pid;
	p.type = u->gfx && !u->compute ? PROBE_PROC_GRAPHICS : PROBE_PROC_COMPUTE;
	p.vram = u->has_vram ? u->vram : PROBE_UNKNOWN;
	p.gtt = u->has_gtt ? u->gtt : PROBE_UNKNOWN;
	if (d->kind == PROBE_DEV_UNIFIED)
		p.used = u->has_vram || u->has_gtt ? sat_add(u->vram, u->gtt) : PROBE_UNKNOWN;
	else
		p.used = p.vram;
	if (d->n_procs < PROBE_MAX_PROCS) {
		slot = &d->procs[d->n_procs++];
	} else {
		/* full: the smallest makes room for a larger one */
		d->procs_truncated = true;
		slot = &d->procs[0];
		for (size_t i = 1; i < d->n_procs; i++)
			if (used_or_0(&d->procs[i]) < used_or_0(slot))
				slot = &d->procs[i];
		if (used_or_0(&p) <= used_or_0(slot))
			return;
	}
	snprintf(rel, sizeof(rel), "proc/%u/comm", pid);
	if (probe_file_read(root, rel, &buf, &n) == 0) {
		probe_parse_line(buf, n, p.comm, sizeof(p.comm));
		free(buf);
	}
	*slot = p;
}

/* largest first, an unknown size last, then by pid */
static int cmp_proc(const void *a, const void *b)
{
	const struct probe_proc *x = a, *y = b;
	bool xu = x->used == PROBE_UNKNOWN, yu = y->used == PROBE_UNKNOWN;

	if (xu != yu)
		return xu ? 1 : -1;
	if (x->used != y->used)
		return x->used > y->used ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

void probe_amdgpu_procs_read(const char *root, struct probe_result *r)
{
	struct u32_list pids = { 0 };
	struct client_list seen = { 0 };
	struct use use[PROBE_MAX_DEVICES];
	char path[PROBE_PATH_MAX * 2];
	size_t n_amd = 0, only = 0;

	for (size_t i = 1; i < r->n_devices; i++)
		if (r->devices[i].vendor == PROBE_VENDOR_AMD) {
			n_amd++;
			only = i;
		}
	if (n_amd == 0)
		return;
	if (n_amd > 1)
		only = 0;
	if (probe_path_join(path, sizeof(path), root, "proc") < 0 ||
	    numeric_entries(path, &pids) < 0)
		return;
	for (size_t k = 0; k < pids.n; k++) {
		memset(use, 0, sizeof(use));
		process_read(root, r, pids.v[k], only, &seen, use);
		for (size_t i = 1; i < r->n_devices; i++)
			if (use[i].found)
				proc_put(&r->devices[i], root, pids.v[k], &use[i]);
	}
	for (size_t i = 1; i < r->n_devices; i++)
		if (r->devices[i].vendor == PROBE_VENDOR_AMD)
			qsort(r->devices[i].procs, r->devices[i].n_procs, sizeof(struct probe_proc),
			      cmp_proc);
	free(pids.v);
	free(seen.v);
}
