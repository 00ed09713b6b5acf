/* budget.c: the memory llmem plans with: each pool's available memory
 * less a headroom (1 GiB per GPU on its home pool; on the system pool the
 * larger of 2 GiB and 10% of its size), and the most each device alone
 * could take. Pure. */
#include "base/compat.h"

#include <string.h>

#include "base/checked.h"
#include "probe/probe.h"

#define GIB (UINT64_C(1) << 30)

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

void probe_headroom_default(struct probe_headroom *h)
{
	h->gpu = GIB;
	h->host_min = 2 * GIB;
	h->host_percent = 10;
}

/* size * pct / 100 without overflow (pct <= 100 in practice; larger
 * values saturate). */
static uint64_t percent_of(uint64_t size, uint32_t pct)
{
	uint64_t a, b;

	if (!ck_mul_u64(size / 100, pct, &a))
		return UINT64_MAX;
	b = size % 100 * pct / 100;
	return add_sat(a, b);
}

void probe_budget_compute(const struct probe_result *r, const struct probe_headroom *h,
			  struct probe_budget *ret)
{
	struct probe_headroom def;

	if (!h) {
		probe_headroom_default(&def);
		h = &def;
	}
	memset(ret, 0, sizeof(*ret));
	ret->n_pools = r->n_pools;
	ret->n_devices = r->n_devices;
	for (size_t p = 0; p < r->n_pools; p++) {
		ret->pools[p].available = r->pools[p].available;
		if (r->pools[p].kind == PROBE_POOL_SYSTEM) {
			uint64_t pct = percent_of(probe_system_size(r), h->host_percent);

			ret->pools[p].headroom = pct > h->host_min ? pct : h->host_min;
		}
	}
	/* each GPU keeps its headroom on its home pool (draws[0]) */
	for (size_t i = 1; i < r->n_devices; i++) {
		const struct probe_device *d = &r->devices[i];

		if (d->n_draws && d->draws[0].pool < r->n_pools) {
			uint64_t *hr = &ret->pools[d->draws[0].pool].headroom;

			*hr = add_sat(*hr, h->gpu);
		}
	}
	for (size_t p = 0; p < r->n_pools; p++)
		ret->pools[p].budget = sub_sat(ret->pools[p].available, ret->pools[p].headroom);
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct probe_device *d = &r->devices[i];
		uint64_t sum = 0;

		for (size_t k = 0; k < d->n_draws; k++) {
			const struct probe_draw *w = &d->draws[k];
			uint64_t left;

			if (w->pool >= r->n_pools)
				continue;
			left = w->cap == PROBE_UNLIMITED ? UINT64_MAX :
			       sub_sat(w->cap, w->used == PROBE_UNKNOWN ? 0 : w->used);
			sum = add_sat(sum, min_u64(left, ret->pools[w->pool].budget));
		}
		ret->device_max[i] = sum;
	}
}
