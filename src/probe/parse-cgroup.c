/* parse-cgroup.c: /proc/self/cgroup, cgroup limit files and memory.stat,
 * text in, values out. Pure. */
#include "base/compat.h"

#include <errno.h>
#include <string.h>

#include "probe/probe-int.h"
#include "probe/probe.h"

/* v1 writes PAGE_COUNTER_MAX * PAGE_SIZE (9223372036854771712 with 4 KiB
 * pages, less with larger pages) for "no limit"; no machine has 4 EiB. */
#define V1_UNLIMITED_FLOOR (UINT64_C(1) << 62)

/* Whether the comma-separated list names the memory controller. */
static bool lists_memory(const char *p, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == ',') {
			if (i - start == 6 && !memcmp(p + start, "memory", 6))
				return true;
			start = i + 1;
		}
	}
	return false;
}

/* An absolute path with no empty, "." or ".." component except a
 * trailing '/' and the root itself; no NUL bytes. */
static bool path_ok(const char *p, size_t n)
{
	size_t start;

	if (n == 0 || p[0] != '/' || memchr(p, '\0', n))
		return false;
	start = 1;
	for (size_t i = 1; i <= n; i++) {
		if (i == n || p[i] == '/') {
			size_t len = i - start;

			if ((len == 1 && p[start] == '.') || (len == 2 && !memcmp(p + start, "..", 2)))
				return false;
			if (len == 0 && i != n)
				return false; /* "//" */
			start = i + 1;
		}
	}
	return true;
}

int probe_parse_proc_cgroup(const char *text, size_t n, uint8_t *version, char *path,
			    size_t pathsz)
{
	static const char deleted[] = " (deleted)";
	const char *v1 = NULL, *v2 = NULL, *line;
	size_t v1n = 0, v2n = 0, pos = 0, len;
	const char *p;
	size_t pn;

	while (probe_line_next(text, n, &pos, &line, &len)) {
		const char *c1 = memchr(line, ':', len), *c2;

		if (!c1)
			continue;
		c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line));
		if (!c2)
			continue;
		p = c2 + 1;
		pn = len - (size_t)(p - line);
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
			if (!v2)
				v2 = p, v2n = pn;
		} else if (lists_memory(c1 + 1, (size_t)(c2 - c1 - 1))) {
			if (!v1)
				v1 = p, v1n = pn;
		}
	}
	if (v1) {
		p = v1, pn = v1n, *version = 1;
	} else if (v2) {
		p = v2, pn = v2n, *version = 2;
	} else {
		return -ENOENT;
	}
	/* a cgroup removed while we run */
	if (pn > sizeof(deleted) - 1 && !memcmp(p + pn - (sizeof(deleted) - 1), deleted,
						 sizeof(deleted) - 1))
		pn -= sizeof(deleted) - 1;
	if (pn > 1 && p[pn - 1] == '/')
		pn--;
	if (!path_ok(p, pn))
		return -EBADMSG;
	if (pn >= pathsz)
		return -ENAMETOOLONG;
	memcpy(path, p, pn);
	path[pn] = '\0';
	return 0;
}

int probe_parse_cgroup_limit(const char *text, size_t n, uint64_t *ret)
{
	const char *p = probe_span_trim(text, &n);
	uint64_t v;
	int e;

	if (n == 3 && !memcmp(p, "max", 3)) {
		*ret = PROBE_UNLIMITED;
		return 0;
	}
	e = probe_span_u64(p, n, &v);
	if (e < 0)
		return e;
	*ret = v >= V1_UNLIMITED_FLOOR ? PROBE_UNLIMITED : v;
	return 0;
}

int probe_parse_keyed_u64(const char *text, size_t n, const char *key, uint64_t *ret)
{
	size_t klen = strlen(key), pos = 0, len;
	const char *line;

	while (probe_line_next(text, n, &pos, &line, &len)) {
		if (len <= klen || memcmp(line, key, klen) || (line[klen] != ' ' && line[klen] != '\t'))
			continue;
		size_t vn = len - klen;
		const char *v = probe_span_trim(line + klen, &vn);

		return probe_span_u64(v, vn, ret);
	}
	return -ENOENT;
}
