/* fuzz-proc.c: libFuzzer target over the parsers of the files `llmem
 * probe` and `llmem doctor` read from /proc, /sys and /dev/kmsg
 * (src/probe/parse-*.c), and the number parsers of base/parse.c. The
 * first byte picks the parser (mod PARSERS); the rest is the file's text,
 * passed as it is, not NUL-terminated (a read past the end is caught).
 *
 *    0 /proc/meminfo            10 /proc/pressure/memory
 *    1 transparent_hugepage     11 /proc/PID/limits
 *    2 /proc/PID/cgroup         12 /proc/buddyinfo
 *    3 a cgroup limit file      13 /proc/PID/status
 *    4 one number (sysfs)       14 nodeN/meminfo
 *    5 memory.stat (keyed)      15 /proc/PID/cmdline
 *    6 a PCI uevent             16 /dev/kmsg (each line, as doctor reads it)
 *    7 a hex id (0x1002)        17 one kernel message (OOM kill, summary)
 *    8 a one-line file (comm)   18 base/parse.c's numbers, sizes, durations
 *    9 /proc/swaps              19 amdgpu numbers (binary): GTT limit, kind
 *                               20 /proc/PID/fdinfo/FD (DRM client stats)
 *
 * (The seeds, in fuzz/corpus/proc and made by fuzz/run.sh, start with a
 * letter: 'd' + the number, "d" meminfo to "x" fdinfo.)
 *
 * Checked besides memory safety: results stay inside their buffers and
 * their documented ranges. */
#include "base/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/parse.h"
#include "probe/doctor.h"
#include "probe/probe.h"

#include "fuzz-util.h"

#define PARSERS 21

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* No control bytes: what probe_span_copy() promises. */
static bool clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void p_meminfo(const char *t, size_t n)
{
	struct probe_meminfo m;

	if (probe_parse_meminfo(t, n, &m) == 0) {
		FUZZ_CHECK(m.mem_total > 0);
		FUZZ_CHECK(m.mem_free <= m.mem_total && m.mem_available <= m.mem_total);
		FUZZ_CHECK(m.swap_free <= m.swap_total);
		FUZZ_CHECK(m.hugepages_free <= m.hugepages_total);
	}
}

static void p_thp(const char *t, size_t n)
{
	FUZZ_CHECK(probe_thp_name((uint8_t)probe_parse_thp(t, n)) != NULL);
}

static void p_cgroup(const char *t, size_t n)
{
	char path[256], tiny[8];
	uint8_t v = 0;
	int rc;

	rc = probe_parse_proc_cgroup(t, n, &v, path, sizeof(path));
	if (rc == 0) {
		FUZZ_CHECK(v == 1 || v == 2);
		FUZZ_CHECK(terminated(path, sizeof(path)) && path[0] == '/');
	} else {
		FUZZ_CHECK(rc == -ENOENT || rc == -EBADMSG || rc == -ENAMETOOLONG);
	}
	rc = probe_parse_proc_cgroup(t, n, &v, tiny, sizeof(tiny));
	if (rc == 0)
		FUZZ_CHECK(terminated(tiny, sizeof(tiny)));
}

static void p_limit(const char *t, size_t n)
{
	uint64_t v;
	int rc = probe_parse_cgroup_limit(t, n, &v);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE);
}

static void p_number(const char *t, size_t n)
{
	uint64_t u;
	int64_t i;
	int ru = probe_parse_u64_file(t, n, &u), ri = probe_parse_i64_file(t, n, &i);

	FUZZ_CHECK(ru == 0 || ru == -EBADMSG || ru == -ERANGE);
	FUZZ_CHECK(ri == 0 || ri == -EBADMSG || ri == -ERANGE);
	if (ru == 0 && ri == 0)
		FUZZ_CHECK(i >= 0 && (uint64_t)i == u);
}

static void p_keyed(const char *t, size_t n)
{
	static const char *const keys[] = { "oom_kill", "total_inactive_file", "inactive_file",
					    "anon", "" };
	uint64_t v;

	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		int rc = probe_parse_keyed_u64(t, n, keys[k], &v);

		FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EBADMSG || rc == -ERANGE);
	}
}

static void p_uevent(const char *t, size_t n)
{
	struct probe_uevent u;

	memset(&u, 0x55, sizeof(u));
	if (probe_parse_uevent(t, n, &u) == 0) {
		FUZZ_CHECK(terminated(u.driver, sizeof(u.driver)));
		FUZZ_CHECK(terminated(u.slot, sizeof(u.slot)));
	}
}

static void p_hex(const char *t, size_t n)
{
	uint16_t v;
	int rc = probe_parse_hex_u16(t, n, &v);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE);
	if (rc == 0) {
		(void)probe_amd_id_is_apu(v);
		(void)probe_amd_id_name(v);
	}
}

static void p_line(const char *t, size_t n)
{
	char buf[64], one[1];
	size_t k = probe_parse_line(t, n, buf, sizeof(buf));

	FUZZ_CHECK(k < sizeof(buf) && strlen(buf) == k && clean(buf));
	FUZZ_CHECK(probe_parse_line(t, n, one, sizeof(one)) == 0 && one[0] == '\0');
	(void)probe_model_proc_name(buf);
}

static void p_swaps(const char *t, size_t n)
{
	struct probe_swap sw[4];
	size_t ns = 0, nt = 0;
	int rc = probe_parse_swaps(t, n, sw, ARRAY_SIZE(sw), &ns, &nt);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE);
	if (rc < 0)
		return;
	FUZZ_CHECK(ns <= ARRAY_SIZE(sw) && ns <= nt);
	for (size_t i = 0; i < ns; i++) {
		FUZZ_CHECK(terminated(sw[i].name, sizeof(sw[i].name)) && clean(sw[i].name));
		FUZZ_CHECK(terminated(sw[i].type, sizeof(sw[i].type)) && clean(sw[i].type));
		FUZZ_CHECK(sw[i].used <= sw[i].size);
	}
	FUZZ_CHECK(probe_parse_swaps(t, n, sw, 0, &ns, &nt) == 0 && ns == 0);
}

static void p_psi(const char *t, size_t n)
{
	struct probe_psi p;
	int rc = probe_parse_psi(t, n, &p);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE);
	if (rc == 0)
		FUZZ_CHECK(p.some.present);
}

static void p_limits(const char *t, size_t n)
{
	static const char *const names[] = { "Max locked memory", "Max address space", "Max" };
	struct probe_limit l;

	for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
		int rc = probe_parse_limits(t, n, names[k], &l);

		FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EBADMSG || rc == -ERANGE);
	}
}

static void p_buddy(const char *t, size_t n)
{
	static struct probe_buddyinfo b;
	int rc = probe_parse_buddyinfo(t, n, &b);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE || rc == -E2BIG);
	if (rc < 0)
		return;
	FUZZ_CHECK(b.n_zones <= PROBE_BUDDY_MAX_ZONES);
	for (size_t i = 0; i < b.n_zones; i++) {
		FUZZ_CHECK(b.zones[i].n_orders >= 1 && b.zones[i].n_orders <= PROBE_BUDDY_MAX_ORDERS);
		FUZZ_CHECK(terminated(b.zones[i].zone, sizeof(b.zones[i].zone)));
	}
}

static void p_status(const char *t, size_t n)
{
	struct probe_proc_status s;
	int rc = probe_parse_proc_status(t, n, &s);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE);
	if (rc == 0) {
		FUZZ_CHECK(terminated(s.name, sizeof(s.name)) && clean(s.name));
		(void)probe_model_proc_name(s.name);
	}
}

static void p_node(const char *t, size_t n)
{
	uint64_t total, free_b;
	int rc = probe_parse_node_meminfo(t, n, &total, &free_b);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE);
}

static void p_cmdline(const char *t, size_t n)
{
	char a0[32], a1[16];

	memset(a0, 0x55, sizeof(a0));
	memset(a1, 0x55, sizeof(a1));
	probe_parse_cmdline(t, n, a0, sizeof(a0), a1, sizeof(a1));
	FUZZ_CHECK(terminated(a0, sizeof(a0)) && clean(a0) && !strchr(a0, '/'));
	FUZZ_CHECK(terminated(a1, sizeof(a1)) && clean(a1));
	(void)probe_model_proc_name(a0);
}

/* One kernel message, as doctor-read.c's kmsg_line() takes it apart. */
static void kmsg_message(const char *msg, size_t n)
{
	struct probe_oom_kill k;
	struct probe_oom_summary s;

	if (probe_parse_oom_summary(msg, n, &s) == 0) {
		FUZZ_CHECK(s.pid != 0);
		FUZZ_CHECK(terminated(s.constraint, sizeof(s.constraint)) && clean(s.constraint));
		FUZZ_CHECK(terminated(s.task_memcg, sizeof(s.task_memcg)) && clean(s.task_memcg));
	}
	if (probe_parse_oom_kill(msg, n, &k) == 0) {
		FUZZ_CHECK(k.pid != 0);
		FUZZ_CHECK(terminated(k.comm, sizeof(k.comm)) && clean(k.comm));
		(void)probe_model_proc_name(k.comm);
	}
}

static void p_kmsg(const char *t, size_t n)
{
	size_t pos = 0;

	while (pos < n) {
		const char *nl = memchr(t + pos, '\n', n - pos), *line = t + pos;
		size_t len = nl ? (size_t)(nl - line) : n - pos;
		struct probe_kmsg_record rec;

		/* each line in a buffer of its own, so a read past it shows */
		char *l = fuzz_strndup(line, len);

		if (probe_parse_kmsg_record(l, len, &rec) == 0) {
			FUZZ_CHECK(rec.msg >= l && rec.msg + rec.msg_len <= l + len);
			FUZZ_CHECK(rec.level <= 7);
			kmsg_message(rec.msg, rec.msg_len);
		}
		free(l);
		pos += len + 1;
	}
}

static void p_message(const char *t, size_t n)
{
	kmsg_message(t, n);
}

static void p_base(const char *t, size_t n)
{
	char *s = fuzz_strndup(t, n);
	uint64_t u;
	int64_t i, ms;
	double d;
	int rc;

	rc = parse_u64(s, &u);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
	rc = parse_i64(s, &i);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
	rc = parse_size(s, &u);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
	rc = parse_double(s, &d);
	FUZZ_CHECK(rc == -EINVAL || (rc == 0 && d >= 0));
	rc = parse_duration_ms(s, &ms);
	FUZZ_CHECK(rc == -EINVAL || rc == -ERANGE || (rc == 0 && ms >= -1));
	/* Go's limit: a duration is at most 2^63 - 1 ns */
	if (rc == 0)
		FUZZ_CHECK(ms <= INT64_MAX / 1000000);
	free(s);
}

static uint64_t get_u64(const char *t, size_t n, size_t at)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 8 && at + i < n; i++)
		v |= (uint64_t)(unsigned char)t[at + i] << (8 * i);
	return v;
}

static void p_amdgpu(const char *t, size_t n)
{
	struct probe_amdgpu a;
	char reason[96];
	uint64_t lim;

	memset(&a, 0, sizeof(a));
	snprintf(a.card, sizeof(a.card), "card1");
	a.pci_vendor = 0x1002;
	a.pci_device = (uint16_t)get_u64(t, n, 0);
	a.vram_total = get_u64(t, n, 2);
	a.vram_used = get_u64(t, n, 10);
	a.gtt_total = get_u64(t, n, 18);
	a.gtt_used = get_u64(t, n, 26);
	lim = probe_amdgpu_gtt_limit(a.gtt_total, get_u64(t, n, 34), (int64_t)get_u64(t, n, 42));
	FUZZ_CHECK(lim <= a.gtt_total);
	a.gtt_limit = lim;
	(void)probe_amdgpu_kind(&a, reason, sizeof(reason));
	FUZZ_CHECK(terminated(reason, sizeof(reason)));
	(void)probe_amdgpu_kind(&a, reason, 1);
	FUZZ_CHECK(reason[0] == '\0');
}

static void p_fdinfo(const char *t, size_t n)
{
	struct probe_drm_fdinfo f, g;
	int rc;

	memset(&f, 0x55, sizeof(f));
	memset(&g, 0xaa, sizeof(g));
	rc = probe_parse_drm_fdinfo(t, n, &f);
	FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EBADMSG || rc == -ERANGE);
	/* nothing of what was in the struct before shows through */
	FUZZ_CHECK(probe_parse_drm_fdinfo(t, n, &g) == rc);
	if (rc < 0)
		return;
	FUZZ_CHECK(memcmp(&f, &g, sizeof(f)) == 0);
	FUZZ_CHECK(terminated(f.driver, sizeof(f.driver)) && clean(f.driver) && f.driver[0]);
	FUZZ_CHECK(terminated(f.pdev, sizeof(f.pdev)) && clean(f.pdev));
	FUZZ_CHECK(f.has_client_id || f.client_id == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void (*const parsers[PARSERS])(const char *, size_t) = {
		p_meminfo, p_thp,   p_cgroup, p_limit, p_number, p_keyed,   p_uevent,
		p_hex,     p_line,  p_swaps,  p_psi,   p_limits, p_buddy,   p_status,
		p_node,    p_cmdline, p_kmsg, p_message, p_base, p_amdgpu, p_fdinfo,
	};

	if (size < 1)
		return 0;
	parsers[data[0] % PARSERS]((const char *)data + 1, size - 1);
	return 0;
}
