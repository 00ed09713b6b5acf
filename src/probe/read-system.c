/* read-system.c: system RAM (/proc/meminfo), the transparent huge page
 * mode and the memory cgroup of the process, read under the probe's
 * root. The parsing is in parse-meminfo.c and parse-cgroup.c. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const char *parse_error(int e)
{
	return e == -ERANGE ? "a number is out of range" : "malformed";
}

/* Reads ROOT/rel and parses it with fn (a limit or a plain number).
 * 0, -ENOENT when the file is not there; other errors become a note. */
static int read_number(const char *root, const char *rel, struct probe_result *r,
		       int (*fn)(const char *, size_t, uint64_t *), uint64_t *ret)
{
	char *buf;
	size_t n;
	int e = probe_file_read(root, rel, &buf, &n);

	if (e < 0) {
		if (e != -ENOENT)
			probe_note(r, "cannot read /%s: %s", rel, strerror(-e));
		return e;
	}
	e = fn(buf, n, ret);
	free(buf);
	if (e < 0)
		probe_note(r, "/%s: %s", rel, parse_error(e));
	return e;
}

/* inactive file pages of a cgroup (reclaimable page cache), 0 if unknown */
static uint64_t read_inactive_file(const char *root, const char *rel, uint8_t version)
{
	uint64_t v = 0;
	char *buf;
	size_t n;

	if (probe_file_read(root, rel, &buf, &n) < 0)
		return 0;
	/* v1 counts the whole subtree in total_inactive_file, like its
	 * usage_in_bytes */
	if (version == 1 && probe_parse_keyed_u64(buf, n, "total_inactive_file", &v) == 0) {
		free(buf);
		return v;
	}
	if (probe_parse_keyed_u64(buf, n, "inactive_file", &v) < 0)
		v = 0;
	free(buf);
	return v;
}

/* One cgroup on the way up: its limits and usage. */
static void cgroup_level(const char *root, const char *base, const char *level,
			 struct probe_result *r)
{
	struct probe_cgroup *cg = &r->cgroup;
	bool v2 = cg->version == 2;
	char rel[PROBE_PATH_MAX + 64];
	uint64_t max, high = PROBE_UNLIMITED, cur = PROBE_UNKNOWN, swap = PROBE_UNLIMITED;
	uint64_t inactive = 0, lim, v;
	const char *dir = strcmp(level, "/") ? level : "";

#define REL(file) (snprintf(rel, sizeof(rel), "%s%s/%s", base, dir, file) < (int)sizeof(rel))
	if (!REL(v2 ? "memory.max" : "memory.limit_in_bytes") ||
	    read_number(root, rel, r, probe_parse_cgroup_limit, &max) < 0)
		return;
	if (v2 && REL("memory.high") && read_number(root, rel, r, probe_parse_cgroup_limit, &v) == 0)
		high = v;
	if (REL(v2 ? "memory.current" : "memory.usage_in_bytes") &&
	    read_number(root, rel, r, probe_parse_u64_file, &v) == 0)
		cur = v;
	if (REL("memory.stat"))
		inactive = min_u64(read_inactive_file(root, rel, cg->version), cur == PROBE_UNKNOWN ? 0 : cur);
	if (v2) {
		if (REL("memory.swap.max") && read_number(root, rel, r, probe_parse_cgroup_limit, &v) == 0)
			swap = v;
	} else if (REL("memory.memsw.limit_in_bytes") &&
		   read_number(root, rel, r, probe_parse_cgroup_limit, &v) == 0) {
		/* v1 limits memory + swap together */
		swap = v == PROBE_UNLIMITED || max == PROBE_UNLIMITED ? PROBE_UNLIMITED : sub_sat(v, max);
	}
#undef REL

	if (cg->current == PROBE_UNKNOWN && cur != PROBE_UNKNOWN) {
		cg->current = cur;
		cg->reclaimable = inactive;
	}
	lim = min_u64(max, high);
	if (lim != PROBE_UNLIMITED) {
		/* what the kernel cannot reclaim counts against the limit */
		uint64_t ws = cur == PROBE_UNKNOWN ? 0 : cur - inactive;

		if (lim < min_u64(cg->max, cg->high))
			probe_span_copy(cg->limit_path, sizeof(cg->limit_path), level, strlen(level));
		cg->available = min_u64(cg->available, sub_sat(lim, ws));
	}
	cg->max = min_u64(cg->max, max);
	cg->high = min_u64(cg->high, high);
	cg->swap_max = min_u64(cg->swap_max, swap);
}

static void cgroup_read(const char *root, struct probe_result *r)
{
	struct probe_cgroup *cg = &r->cgroup;
	char level[PROBE_PATH_MAX];
	const char *base;
	char *buf;
	size_t n;
	int e;

	memset(cg, 0, sizeof(*cg));
	cg->max = cg->high = cg->swap_max = cg->available = PROBE_UNLIMITED;
	cg->current = PROBE_UNKNOWN;
	e = probe_file_read(root, "proc/self/cgroup", &buf, &n);
	if (e < 0) {
		if (e != -ENOENT)
			probe_note(r, "cannot read /proc/self/cgroup: %s", strerror(-e));
		return;
	}
	e = probe_parse_proc_cgroup(buf, n, &cg->version, cg->path, sizeof(cg->path));
	free(buf);
	if (e < 0) {
		cg->version = 0;
		cg->path[0] = '\0';
		if (e != -ENOENT)
			probe_note(r, "/proc/self/cgroup: %s", e == -ENAMETOOLONG ? "the path is too long" :
				   "the memory cgroup's path is malformed");
		return;
	}
	/* v2 at /sys/fs/cgroup; v1's memory controller at .../memory. A
	 * container may see its own cgroup as the root of the mount while
	 * /proc/self/cgroup names the host's path: the walk up to "/"
	 * reads it there. */
	base = cg->version == 2 ? "sys/fs/cgroup" : "sys/fs/cgroup/memory";
	strcpy(level, cg->path);
	for (;;) {
		char *slash;

		cgroup_level(root, base, level, r);
		if (!strcmp(level, "/"))
			break;
		slash = strrchr(level, '/');
		if (slash == level)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

int probe_system_read(const char *root, struct probe_result *r, struct diag *d)
{
	char path[PROBE_PATH_MAX * 2];
	char *buf;
	size_t n;
	int e;

	if (probe_path_join(path, sizeof(path), root, "proc/meminfo") < 0)
		return diag_set(d, -ENAMETOOLONG, DIAG_NO_OFFSET, "the root path is too long");
	e = probe_file_read(root, "proc/meminfo", &buf, &n);
	if (e < 0)
		return diag_set(d, e, DIAG_NO_OFFSET, "cannot read %s: %s", path, strerror(-e));
	e = probe_parse_meminfo(buf, n, &r->mem);
	free(buf);
	if (e < 0)
		return diag_set(d, e, DIAG_NO_OFFSET, "%s: %s", path,
				e == -ERANGE ? "a value is over 2^64 bytes" :
				"not a meminfo file (no MemTotal, or a malformed value)");

	r->thp = PROBE_THP_UNKNOWN;
	e = probe_file_read(root, "sys/kernel/mm/transparent_hugepage/enabled", &buf, &n);
	if (e == 0) {
		r->thp = (uint8_t)probe_parse_thp(buf, n);
		free(buf);
	} else if (e != -ENOENT) {
		probe_note(r, "cannot read /sys/kernel/mm/transparent_hugepage/enabled: %s", strerror(-e));
	}
	cgroup_read(root, r);
	return 0;
}
