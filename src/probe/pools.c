/* pools.c: turns the readings (RAM, cgroup, GPUs) into memory pools and
 * says which devices draw on which. A unified GPU draws on the system
 * pool beside the CPU, so the system's free memory is counted once.
 * Pure. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "probe/probe-int.h"
#include "probe/probe.h"

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return ck_add_u64(a, b, &r) ? r : UINT64_MAX;
}

/* The cgroup's limit: the smaller of max and high, UNLIMITED when none. */
static uint64_t cgroup_limit(const struct probe_result *r)
{
	if (r->cgroup.version == 0)
		return PROBE_UNLIMITED;
	return min_u64(r->cgroup.max, r->cgroup.high);
}

uint64_t probe_system_size(const struct probe_result *r)
{
	return min_u64(r->mem.mem_total, cgroup_limit(r));
}

int probe_devices_keep(struct probe_result *r, size_t first, size_t n, const unsigned *order, size_t n_vis,
		       const char *prefix)
{
	struct probe_device *keep;
	size_t tail;

	if (first > r->n_devices || n > r->n_devices - first || n_vis > n)
		return -EINVAL;
	for (size_t i = 0; i < n_vis; i++)
		if (order[i] >= n)
			return -EINVAL;
	keep = calloc(n_vis ? n_vis : 1, sizeof(*keep));
	if (!keep)
		return -ENOMEM;
	for (size_t i = 0; i < n_vis; i++)
		keep[i] = r->devices[first + order[i]];
	tail = r->n_devices - first - n;
	memmove(&r->devices[first + n_vis], &r->devices[first + n], tail * sizeof(*keep));
	for (size_t i = 0; i < n_vis; i++) {
		r->devices[first + i] = keep[i];
		snprintf(r->devices[first + i].id, sizeof(r->devices[first + i].id), "%.8s%u", prefix,
			 (unsigned)(i % 1000));
	}
	r->n_devices -= n - n_vis;
	free(keep);
	return 0;
}

void probe_system_what_if(struct probe_result *r, uint64_t bytes)
{
	r->mem.mem_total = bytes;
	r->mem.mem_available = bytes;
	r->cgroup.version = 0;
	for (size_t p = 0; p < r->n_pools; p++) {
		struct probe_pool *pl = &r->pools[p];

		if (pl->kind != PROBE_POOL_SYSTEM)
			continue;
		pl->total = bytes;
		pl->limit = PROBE_UNLIMITED;
		pl->free = bytes;
		pl->available = bytes;
	}
}

static struct probe_pool *pool_add(struct probe_result *r, const char *id, uint8_t kind,
				   uint32_t *index)
{
	struct probe_pool *p;

	if (r->n_pools >= PROBE_MAX_POOLS)
		return NULL;
	*index = (uint32_t)r->n_pools;
	p = &r->pools[r->n_pools++];
	memset(p, 0, sizeof(*p));
	probe_span_copy(p->id, sizeof(p->id), id, strlen(id));
	p->kind = kind;
	p->limit = PROBE_UNLIMITED;
	return p;
}

static void draw_add(struct probe_device *d, uint32_t pool, uint64_t cap, uint64_t used)
{
	if (d->n_draws >= ARRAY_SIZE(d->draws))
		return;
	d->draws[d->n_draws++] = (struct probe_draw){ pool, cap, used };
}

static void build_cpu(struct probe_result *r)
{
	struct probe_device *cpu = &r->devices[0];
	const struct probe_pool *sys = &r->pools[0];
	uint64_t limit = cgroup_limit(r);

	memset(cpu, 0, sizeof(*cpu));
	memcpy(cpu->id, "CPU", 4);
	cpu->vendor = PROBE_VENDOR_NONE;
	cpu->kind = PROBE_DEV_HOST;
	cpu->total = probe_system_size(r);
	cpu->free = sys->available;
	if (limit != PROBE_UNLIMITED && r->cgroup.current != PROBE_UNKNOWN)
		cpu->used = r->cgroup.current;
	else
		cpu->used = sub_sat(r->mem.mem_total, r->mem.mem_available);
	if (limit != PROBE_UNLIMITED && limit < r->mem.mem_total)
		probe_fmt(cpu->reason, sizeof(cpu->reason),
			  "system RAM, limited by the memory cgroup %s", r->cgroup.limit_path);
	else
		probe_fmt(cpu->reason, sizeof(cpu->reason), "system RAM");
	draw_add(cpu, 0, PROBE_UNLIMITED, cpu->used);
}

static void build_gpu(struct probe_result *r, struct probe_device *d)
{
	const struct probe_pool *sys = &r->pools[0];
	struct probe_pool *p;
	uint32_t pi;

	d->n_draws = 0;
	if (d->kind != PROBE_DEV_UNIFIED) {
		d->kind = PROBE_DEV_DISCRETE;
		p = pool_add(r, d->id, PROBE_POOL_VRAM, &pi);
		if (!p)
			return;
		p->total = d->total;
		p->free = min_u64(d->free, d->total);
		p->available = p->free;
		draw_add(d, pi, PROBE_UNLIMITED, d->used);
		return;
	}
	if (d->vendor == PROBE_VENDOR_AMD) {
		const struct probe_amdgpu *a = &d->amd;
		uint64_t vram_free = sub_sat(a->vram_total, a->vram_used);
		uint64_t gtt_left = sub_sat(a->gtt_limit, a->gtt_used);

		/* home: the GTT window on system RAM; then the carve-out */
		draw_add(d, 0, a->gtt_limit, a->gtt_used);
		if (a->vram_total) {
			p = pool_add(r, d->id, PROBE_POOL_VRAM, &pi);
			if (p) {
				p->total = a->vram_total;
				p->free = vram_free;
				p->available = vram_free;
				draw_add(d, pi, PROBE_UNLIMITED, a->vram_used);
			}
		}
		d->total = add_sat(a->vram_total, a->gtt_limit);
		d->free = add_sat(vram_free, min_u64(gtt_left, sys->available));
		d->used = add_sat(a->vram_used, a->gtt_used);
		return;
	}
	/* NVIDIA unified (GB10, Jetson): all of it is system RAM */
	draw_add(d, 0, PROBE_UNLIMITED, d->used);
	d->total = probe_system_size(r);
	d->free = sys->available;
}

void probe_pools_build(struct probe_result *r)
{
	struct probe_pool *sys;
	uint32_t pi;

	if (r->n_devices == 0)
		r->n_devices = 1;
	r->n_pools = 0;
	sys = pool_add(r, "system", PROBE_POOL_SYSTEM, &pi);
	sys->total = r->mem.mem_total;
	sys->limit = cgroup_limit(r);
	sys->free = r->mem.mem_available;
	sys->available = min_u64(r->mem.mem_available,
				 r->cgroup.version ? r->cgroup.available : PROBE_UNLIMITED);
	build_cpu(r);
	for (size_t i = 1; i < r->n_devices; i++)
		build_gpu(r, &r->devices[i]);
}
