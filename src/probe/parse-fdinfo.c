/* parse-fdinfo.c: one DRM client's /proc/PID/fdinfo/FD, the per-client
 * statistics the kernel shows for a DRM device file (drm-usage-stats:
 * driver, PCI device, client id, memory per region, engine time), as
 * nvtop and amdgpu_top read them to list the processes using an AMD GPU.
 * Pure: text in, struct out. */
#include "base/compat.h"

#include <errno.h>
#include <string.h>

#include "base/checked.h"
#include "probe/probe-int.h"
#include "probe/probe.h"

/* How sure a memory key is of the resident size: the higher wins. */
enum rank { RANK_NONE, RANK_TOTAL, RANK_LEGACY, RANK_RESIDENT };

static bool span_is(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(p, lit, n);
}

/* The longest run of digits at p[0..n). */
static size_t digits(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	return i;
}

/* "<uint> [KiB|MiB|GiB]" -> bytes. 0, -EBADMSG or -ERANGE. */
static int span_size(const char *p, size_t n, uint64_t *ret)
{
	size_t k = digits(p, n), ulen;
	const char *unit;
	uint64_t v, mul = 1;
	int e;

	e = probe_span_u64(p, k, &v);
	if (e < 0)
		return e;
	unit = p + k;
	ulen = n - k;
	unit = probe_span_trim(unit, &ulen);
	if (ulen == 0)
		mul = 1;
	else if (span_is(unit, ulen, "KiB"))
		mul = UINT64_C(1) << 10;
	else if (span_is(unit, ulen, "MiB"))
		mul = UINT64_C(1) << 20;
	else if (span_is(unit, ulen, "GiB"))
		mul = UINT64_C(1) << 30;
	else
		return -EBADMSG;
	/* UINT64_MAX is PROBE_UNKNOWN */
	if (!ck_mul_u64(v, mul, ret) || *ret == UINT64_MAX)
		return -ERANGE;
	return 0;
}

/* "<uint> ns" (or a bare number). 0, -EBADMSG or -ERANGE. */
static int span_ns(const char *p, size_t n, uint64_t *ret)
{
	size_t k = digits(p, n), ulen = n - k;
	const char *unit = probe_span_trim(p + k, &ulen);
	int e = probe_span_u64(p, k, ret);

	if (e < 0)
		return e;
	return ulen == 0 || span_is(unit, ulen, "ns") ? 0 : -EBADMSG;
}

/* A text value that must be there and fit bufsz. */
static int span_text(const char *p, size_t n, char *buf, size_t bufsz)
{
	if (n == 0 || n >= bufsz)
		return -EBADMSG;
	probe_span_copy(buf, bufsz, p, n);
	return 0;
}

/* drm-<kind>-<region> with kind resident, memory or total, region vram
 * or gtt: sets *rank and *gtt; false for any other key. */
static bool memory_key(const char *k, size_t n, enum rank *rank, bool *gtt)
{
	static const struct { const char *prefix; enum rank rank; } kinds[] = {
		{ "drm-resident-", RANK_RESIDENT },
		{ "drm-memory-", RANK_LEGACY },
		{ "drm-total-", RANK_TOTAL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		size_t pl = strlen(kinds[i].prefix);

		if (n <= pl || memcmp(k, kinds[i].prefix, pl))
			continue;
		if (span_is(k + pl, n - pl, "vram"))
			*gtt = false;
		else if (span_is(k + pl, n - pl, "gtt"))
			*gtt = true;
		else
			return false;
		*rank = kinds[i].rank;
		return true;
	}
	return false;
}

int probe_parse_drm_fdinfo(const char *text, size_t n, struct probe_drm_fdinfo *ret)
{
	enum rank vram_rank = RANK_NONE, gtt_rank = RANK_NONE;
	const char *line;
	size_t len, pos = 0;
	bool has_driver = false;

	memset(ret, 0, sizeof(*ret));
	ret->vram = ret->gtt = PROBE_UNKNOWN;
	while (probe_line_next(text, n, &pos, &line, &len)) {
		const char *colon = memchr(line, ':', len), *v;
		size_t klen, vlen;
		enum rank rank;
		bool gtt;
		int e = 0;

		if (!colon)
			continue;
		klen = (size_t)(colon - line);
		vlen = len - klen - 1;
		v = probe_span_trim(colon + 1, &vlen);
		if (klen < 4 || memcmp(line, "drm-", 4))
			continue; /* pos, flags, pasid, amd-requested-vram... */
		if (span_is(line, klen, "drm-driver")) {
			e = span_text(v, vlen, ret->driver, sizeof(ret->driver));
			has_driver = true;
		} else if (span_is(line, klen, "drm-pdev")) {
			e = span_text(v, vlen, ret->pdev, sizeof(ret->pdev));
		} else if (span_is(line, klen, "drm-client-id")) {
			e = probe_span_u64(v, vlen, &ret->client_id);
			ret->has_client_id = e == 0;
		} else if (span_is(line, klen, "drm-engine-gfx")) {
			e = span_ns(v, vlen, &ret->engine_gfx);
		} else if (span_is(line, klen, "drm-engine-compute")) {
			e = span_ns(v, vlen, &ret->engine_compute);
		} else if (memory_key(line, klen, &rank, &gtt)) {
			enum rank *have = gtt ? &gtt_rank : &vram_rank;
			uint64_t size;

			e = span_size(v, vlen, &size);
			if (e == 0 && rank >= *have) {
				*have = rank;
				*(gtt ? &ret->gtt : &ret->vram) = size;
			}
		}
		if (e < 0)
			return e;
	}
	return has_driver ? 0 : -ENOENT;
}
