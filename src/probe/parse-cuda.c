/* parse-cuda.c: $CUDA_VISIBLE_DEVICES as the CUDA runtime reads it, so
 * that the GPUs llmem plans for are the ones llama-server will see, under
 * the names (CUDA0, CUDA1, ...) it will give them. Pure. */
#include "base/compat.h"

#include <string.h>

#include "probe/probe.h"

static bool span_is_index(const char *s, size_t n, unsigned *ret)
{
	unsigned v = 0;

	if (n == 0 || n > 6)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*ret = v;
	return true;
}

size_t probe_cuda_visible(const char *spec, const char *const *uuids, size_t n, unsigned *order)
{
	size_t n_vis = 0;
	const char *p = spec;

	while (*p && n_vis < n) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const char *t = p;
		size_t tl = len;
		unsigned idx = 0;
		bool found = false;

		while (tl && (*t == ' ' || *t == '\t')) {
			t++;
			tl--;
		}
		while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
			tl--;
		if (span_is_index(t, tl, &idx)) {
			found = idx < n;
		} else if (tl > 4 && !strncmp(t, "GPU-", 4)) {
			/* a UUID, or a prefix of one that names a single GPU */
			size_t hits = 0;

			for (size_t i = 0; i < n; i++)
				if (uuids && uuids[i] && strlen(uuids[i]) >= tl && !strncmp(uuids[i], t, tl)) {
					idx = (unsigned)i;
					hits++;
				}
			found = hits == 1;
		}
		/* the list ends at the first entry that names no GPU (a MIG
		 * instance included), or one listed already */
		for (size_t i = 0; found && i < n_vis; i++)
			if (order[i] == idx)
				found = false;
		if (!found)
			break;
		order[n_vis++] = idx;
		if (!e)
			break;
		p = e + 1;
	}
	return n_vis;
}
