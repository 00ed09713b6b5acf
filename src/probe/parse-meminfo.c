/* parse-meminfo.c: /proc/meminfo and the transparent huge page mode, text
 * in, struct out. Pure. */
#include "base/compat.h"

#include <errno.h>
#include <string.h>

#include "base/checked.h"
#include "probe/probe-int.h"
#include "probe/probe.h"

enum {
	F_MEM_TOTAL, F_MEM_FREE, F_MEM_AVAILABLE, F_BUFFERS, F_CACHED, F_SWAP_TOTAL,
	F_SWAP_FREE, F_HP_TOTAL, F_HP_FREE, F_HP_SIZE, F_COMMIT_LIMIT, F_COMMITTED, F_COUNT,
};

static const struct {
	const char *key;
	bool kb; /* "NNN kB"; otherwise a bare count */
} fields[F_COUNT] = {
	[F_MEM_TOTAL] = { "MemTotal", true },
	[F_MEM_FREE] = { "MemFree", true },
	[F_MEM_AVAILABLE] = { "MemAvailable", true },
	[F_BUFFERS] = { "Buffers", true },
	[F_CACHED] = { "Cached", true },
	[F_SWAP_TOTAL] = { "SwapTotal", true },
	[F_SWAP_FREE] = { "SwapFree", true },
	[F_HP_TOTAL] = { "HugePages_Total", false },
	[F_HP_FREE] = { "HugePages_Free", false },
	[F_HP_SIZE] = { "Hugepagesize", true },
	[F_COMMIT_LIMIT] = { "CommitLimit", true },
	[F_COMMITTED] = { "Committed_AS", true },
};

/* "   24684092 kB" -> bytes; a bare count when !kb. */
static int field_value(const char *p, size_t n, bool kb, uint64_t *ret)
{
	uint64_t v;
	int e;

	p = probe_span_trim(p, &n);
	if (kb) {
		if (n < 3 || memcmp(p + n - 2, "kB", 2) != 0)
			return -EBADMSG;
		n -= 2;
		p = probe_span_trim(p, &n);
	}
	e = probe_span_u64(p, n, &v);
	if (e < 0)
		return e;
	if (kb && !ck_mul_u64(v, 1024, &v))
		return -ERANGE;
	*ret = v;
	return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int probe_parse_meminfo(const char *text, size_t n, struct probe_meminfo *ret)
{
	uint64_t v[F_COUNT] = { 0 };
	bool seen[F_COUNT] = { false };
	size_t pos = 0, len;
	const char *line;

	while (probe_line_next(text, n, &pos, &line, &len)) {
		const char *colon = memchr(line, ':', len);
		size_t klen;

		if (!colon)
			continue;
		klen = (size_t)(colon - line);
		for (size_t f = 0; f < F_COUNT; f++) {
			int e;

			if (seen[f] || strlen(fields[f].key) != klen || memcmp(line, fields[f].key, klen))
				continue;
			e = field_value(colon + 1, len - klen - 1, fields[f].kb, &v[f]);
			if (e < 0)
				return e;
			seen[f] = true;
			break;
		}
	}
	if (!seen[F_MEM_TOTAL] || v[F_MEM_TOTAL] == 0)
		return -EBADMSG;

	memset(ret, 0, sizeof(*ret));
	ret->mem_total = v[F_MEM_TOTAL];
	ret->mem_free = min_u64(v[F_MEM_FREE], ret->mem_total);
	ret->buffers = v[F_BUFFERS];
	ret->cached = v[F_CACHED];
	ret->has_available = seen[F_MEM_AVAILABLE];
	if (seen[F_MEM_AVAILABLE]) {
		ret->mem_available = v[F_MEM_AVAILABLE];
	} else {
		/* before Linux 3.14: free plus the page cache, an overestimate
		 * the cap below keeps sane */
		uint64_t a = ret->mem_free;

		if (!ck_add_u64(a, ret->buffers, &a) || !ck_add_u64(a, ret->cached, &a))
			a = UINT64_MAX;
		ret->mem_available = a;
	}
	ret->mem_available = min_u64(ret->mem_available, ret->mem_total);
	ret->swap_total = v[F_SWAP_TOTAL];
	ret->swap_free = min_u64(v[F_SWAP_FREE], ret->swap_total);
	ret->hugepages_total = v[F_HP_TOTAL];
	ret->hugepages_free = min_u64(v[F_HP_FREE], ret->hugepages_total);
	ret->hugepage_size = v[F_HP_SIZE];
	ret->commit_limit = seen[F_COMMIT_LIMIT] ? v[F_COMMIT_LIMIT] : PROBE_UNKNOWN;
	ret->committed_as = seen[F_COMMITTED] ? v[F_COMMITTED] : PROBE_UNKNOWN;
	return 0;
}

enum probe_thp probe_parse_thp(const char *text, size_t n)
{
	static const struct { const char *word; enum probe_thp mode; } modes[] = {
		{ "always", PROBE_THP_ALWAYS },
		{ "madvise", PROBE_THP_MADVISE },
		{ "never", PROBE_THP_NEVER },
	};
	const char *open = memchr(text, '[', n), *close;
	size_t len;

	if (!open)
		return PROBE_THP_UNKNOWN;
	close = memchr(open, ']', n - (size_t)(open - text));
	if (!close)
		return PROBE_THP_UNKNOWN;
	len = (size_t)(close - open - 1);
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (strlen(modes[i].word) == len && !memcmp(open + 1, modes[i].word, len))
			return modes[i].mode;
	return PROBE_THP_UNKNOWN;
}
