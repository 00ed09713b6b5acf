/* test-probe.c: the probe's pure parsers on real and hostile text
 * (missing fields, huge numbers, garbage), the pool and budget arithmetic
 * on hand-made readings, and every fixture machine of
 * tests/fixtures/probe/ read end to end (the NVIDIA ones through the fake
 * NVML in $TOOLS/libfake-nvml.so; the AMD ones' processes from their
 * proc/PID/fdinfo). Run from the repository root, as
 * tests/run.sh does. */
#include "base/compat.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "probe/probe.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define FIXTURES "tests/fixtures/probe"

#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- meminfo ---------------------------------------------------------- */

static const char meminfo_real[] =
	"MemTotal:       24684092 kB\n"
	"MemFree:        23730048 kB\n"
	"MemAvailable:   24179176 kB\n"
	"Buffers:           13120 kB\n"
	"Cached:           712216 kB\n"
	"SwapCached:            0 kB\n"
	"Active(file):     543836 kB\n"
	"SwapTotal:       8388604 kB\n"
	"SwapFree:        8126460 kB\n"
	"AnonHugePages:         0 kB\n"
	"HugePages_Total:     512\n"
	"HugePages_Free:      500\n"
	"HugePages_Rsvd:        0\n"
	"Hugepagesize:       2048 kB\n"
	"DirectMap1G:    25165824 kB\n";

static void test_meminfo_real(void **state)
{
	struct probe_meminfo m;

	(void)state;
	assert_int_equal(probe_parse_meminfo(S(meminfo_real), &m), 0);
	assert_int_equal(m.mem_total, 24684092 * KIB);
	assert_int_equal(m.mem_free, 23730048 * KIB);
	assert_int_equal(m.mem_available, 24179176 * KIB);
	assert_true(m.has_available);
	assert_int_equal(m.swap_total, 8388604 * KIB);
	assert_int_equal(m.swap_free, 8126460 * KIB);
	assert_int_equal(m.hugepages_total, 512);
	assert_int_equal(m.hugepages_free, 500);
	assert_int_equal(m.hugepage_size, 2 * MIB);
}

static void test_meminfo_no_available(void **state)
{
	static const char t[] = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB";
	static const char over[] = "MemTotal: 1000 kB\nMemFree: 900 kB\nCached: 900 kB\n";
	struct probe_meminfo m;

	(void)state;
	/* before Linux 3.14: free + buffers + cached, no trailing newline */
	assert_int_equal(probe_parse_meminfo(S(t), &m), 0);
	assert_false(m.has_available);
	assert_int_equal(m.mem_available, 310 * KIB);
	/* never more than MemTotal */
	assert_int_equal(probe_parse_meminfo(S(over), &m), 0);
	assert_int_equal(m.mem_available, 1000 * KIB);
}

static void test_meminfo_hostile(void **state)
{
	static const struct { const char *text; int e; } cases[] = {
		{ "", -EBADMSG },
		{ "MemFree: 100 kB\n", -EBADMSG },                      /* no MemTotal */
		{ "MemTotal: 0 kB\n", -EBADMSG },
		{ "MemTotal: abc kB\n", -EBADMSG },
		{ "MemTotal: 12 34 kB\n", -EBADMSG },
		{ "MemTotal: -5 kB\n", -EBADMSG },
		{ "MemTotal: 100\n", -EBADMSG },                         /* no unit */
		{ "MemTotal: 100 MB\n", -EBADMSG },
		{ "MemTotal: kB\n", -EBADMSG },
		{ "MemTotal: 18014398509481984 kB\n", -ERANGE },         /* 2^54 KiB */
		{ "MemTotal: 99999999999999999999999999 kB\n", -ERANGE },
		{ "MemTotal: 1000 kB\nMemAvailable: 0x10 kB\n", -EBADMSG },
		{ "MemTotal: 1000 kB\nHugePages_Total: many\n", -EBADMSG },
	};
	struct probe_meminfo m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int e = probe_parse_meminfo(cases[i].text, strlen(cases[i].text), &m);

		if (e != cases[i].e)
			fail_msg("case %zu (%s): %d, expected %d", i, cases[i].text, e, cases[i].e);
	}
}

static void test_meminfo_garbage(void **state)
{
	/* NUL bytes, lines without colons, unknown keys and a duplicate:
	 * skipped; the first MemTotal counts */
	static const char t[] = "\x01\x02\xff garbage\n\0\0: :\nNoColonHere\nMemTotal:   2048 kB\n"
				"MemTotal: 1 kB\nWeird(key): x y z\nMemAvailable: 4096 kB\nSwapFree: 9 kB\n";
	struct probe_meminfo m;
	char big[4096];

	(void)state;
	assert_int_equal(probe_parse_meminfo(t, sizeof(t) - 1, &m), 0);
	assert_int_equal(m.mem_total, 2 * MIB);
	assert_int_equal(m.mem_available, 2 * MIB); /* capped at the total */
	assert_int_equal(m.swap_free, 0);           /* capped at SwapTotal (0) */
	/* random bytes never crash */
	srand(7);
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (char)(rand() % 8 == 0 ? '\n' : rand() % 256);
		if (probe_parse_meminfo(big, sizeof(big), &m) == 0)
			assert_true(m.mem_available <= m.mem_total);
		(void)probe_parse_thp(big, sizeof(big));
	}
}

static void test_thp(void **state)
{
	(void)state;
	assert_int_equal(probe_parse_thp(S("always [madvise] never\n")), PROBE_THP_MADVISE);
	assert_int_equal(probe_parse_thp(S("[always] madvise never\n")), PROBE_THP_ALWAYS);
	assert_int_equal(probe_parse_thp(S("always madvise [never]\n")), PROBE_THP_NEVER);
	assert_int_equal(probe_parse_thp(S("always [bogus] never\n")), PROBE_THP_UNKNOWN);
	assert_int_equal(probe_parse_thp(S("always [madvise never\n")), PROBE_THP_UNKNOWN);
	assert_int_equal(probe_parse_thp(S("")), PROBE_THP_UNKNOWN);
	assert_int_equal(probe_parse_thp(S("][")), PROBE_THP_UNKNOWN);
}

/* ---- cgroup ------------------------------------------------------------ */

static void test_proc_cgroup(void **state)
{
	char path[64];
	uint8_t v;

	(void)state;
	assert_int_equal(probe_parse_proc_cgroup(S("0::/user.slice/session-2.scope\n"), &v, path, sizeof(path)), 0);
	assert_int_equal(v, 2);
	assert_string_equal(path, "/user.slice/session-2.scope");
	assert_int_equal(probe_parse_proc_cgroup(S("0::/\n"), &v, path, sizeof(path)), 0);
	assert_string_equal(path, "/");
	/* a hybrid host: the memory controller is on v1 */
	assert_int_equal(probe_parse_proc_cgroup(S("12:pids:/a\n4:memory:/docker/ab\n0::/x\n"), &v, path,
						 sizeof(path)), 0);
	assert_int_equal(v, 1);
	assert_string_equal(path, "/docker/ab");
	assert_int_equal(probe_parse_proc_cgroup(S("0::/x\n3:cpu,memory,pids:/y/\n"), &v, path, sizeof(path)), 0);
	assert_int_equal(v, 1);
	assert_string_equal(path, "/y");
	/* "memoryfoo" and "name=memory" are not the memory controller */
	assert_int_equal(probe_parse_proc_cgroup(S("3:memoryfoo:/a\n2:name=memory:/b\n0::/c\n"), &v, path,
						 sizeof(path)), 0);
	assert_int_equal(v, 2);
	assert_string_equal(path, "/c");
	assert_int_equal(probe_parse_proc_cgroup(S("0::/gone.scope (deleted)\n"), &v, path, sizeof(path)), 0);
	assert_string_equal(path, "/gone.scope");
	/* a path with a colon in it */
	assert_int_equal(probe_parse_proc_cgroup(S("0::/a:b\n"), &v, path, sizeof(path)), 0);
	assert_string_equal(path, "/a:b");

	assert_int_equal(probe_parse_proc_cgroup(S(""), &v, path, sizeof(path)), -ENOENT);
	assert_int_equal(probe_parse_proc_cgroup(S("1:cpu:/a\nno colons\n"), &v, path, sizeof(path)), -ENOENT);
	assert_int_equal(probe_parse_proc_cgroup(S("0::/../../etc\n"), &v, path, sizeof(path)), -EBADMSG);
	assert_int_equal(probe_parse_proc_cgroup(S("0::/a/./b\n"), &v, path, sizeof(path)), -EBADMSG);
	assert_int_equal(probe_parse_proc_cgroup(S("0::/a//b\n"), &v, path, sizeof(path)), -EBADMSG);
	assert_int_equal(probe_parse_proc_cgroup(S("0::relative\n"), &v, path, sizeof(path)), -EBADMSG);
	assert_int_equal(probe_parse_proc_cgroup(S("0::\n"), &v, path, sizeof(path)), -EBADMSG);
	assert_int_equal(probe_parse_proc_cgroup("0::/a\0b\n", 8, &v, path, sizeof(path)), -EBADMSG);
	assert_int_equal(probe_parse_proc_cgroup(S("0::/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"),
						 &v, path, sizeof(path)), -ENAMETOOLONG);
}

static void test_cgroup_limit(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(probe_parse_cgroup_limit(S("max\n"), &v), 0);
	assert_true(v == PROBE_UNLIMITED);
	assert_int_equal(probe_parse_cgroup_limit(S("17179869184\n"), &v), 0);
	assert_int_equal(v, 16 * GIB);
	assert_int_equal(probe_parse_cgroup_limit(S("0\n"), &v), 0);
	assert_int_equal(v, 0);
	/* v1's "no limit" with 4 KiB and 64 KiB pages */
	assert_int_equal(probe_parse_cgroup_limit(S("9223372036854771712\n"), &v), 0);
	assert_true(v == PROBE_UNLIMITED);
	assert_int_equal(probe_parse_cgroup_limit(S("9223372036854710272\n"), &v), 0);
	assert_true(v == PROBE_UNLIMITED);
	assert_int_equal(probe_parse_cgroup_limit(S("18446744073709551615"), &v), 0);
	assert_true(v == PROBE_UNLIMITED);
	assert_int_equal(probe_parse_cgroup_limit(S("18446744073709551616"), &v), -ERANGE);
	assert_int_equal(probe_parse_cgroup_limit(S("-1\n"), &v), -EBADMSG);
	assert_int_equal(probe_parse_cgroup_limit(S(""), &v), -EBADMSG);
	assert_int_equal(probe_parse_cgroup_limit(S("maximum\n"), &v), -EBADMSG);
	assert_int_equal(probe_parse_cgroup_limit(S("12 34\n"), &v), -EBADMSG);
	assert_int_equal(probe_parse_cgroup_limit(S("16G\n"), &v), -EBADMSG);
}

static void test_numbers(void **state)
{
	uint64_t v;
	int64_t s;

	(void)state;
	assert_int_equal(probe_parse_u64_file(S("25753026560\n"), &v), 0);
	assert_int_equal(v, 25753026560u);
	assert_int_equal(probe_parse_u64_file(S("  42 \n\n"), &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(probe_parse_u64_file(S("\n"), &v), -EBADMSG);
	assert_int_equal(probe_parse_u64_file(S("4.5\n"), &v), -EBADMSG);
	assert_int_equal(probe_parse_u64_file(S("0x10\n"), &v), -EBADMSG);
	assert_int_equal(probe_parse_u64_file(S("1\n2\n"), &v), -EBADMSG);
	assert_int_equal(probe_parse_u64_file(S("000000000000000000000000000000000001"), &v), -ERANGE);
	assert_int_equal(probe_parse_i64_file(S("-1\n"), &s), 0);
	assert_int_equal(s, -1);
	assert_int_equal(probe_parse_i64_file(S("122880\n"), &s), 0);
	assert_int_equal(s, 122880);
	assert_int_equal(probe_parse_i64_file(S("-\n"), &s), -EBADMSG);
	assert_int_equal(probe_parse_i64_file(S("9223372036854775808"), &s), -ERANGE);
}

static void test_keyed(void **state)
{
	static const char stat[] = "anon 100\ntotal_inactive_file 7\ninactive_file_x 9\ninactive_file 536870912\n"
				   "active_file 3\nbad value\n";
	uint64_t v;

	(void)state;
	assert_int_equal(probe_parse_keyed_u64(S(stat), "inactive_file", &v), 0);
	assert_int_equal(v, 512 * MIB);
	assert_int_equal(probe_parse_keyed_u64(S(stat), "total_inactive_file", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(probe_parse_keyed_u64(S(stat), "file", &v), -ENOENT);
	assert_int_equal(probe_parse_keyed_u64(S(stat), "bad", &v), -EBADMSG);
	assert_int_equal(probe_parse_keyed_u64(S("inactive_file 99999999999999999999999\n"), "inactive_file", &v),
			 -ERANGE);
	assert_int_equal(probe_parse_keyed_u64(S(""), "anon", &v), -ENOENT);
}

/* ---- sysfs ------------------------------------------------------------- */

static void test_uevent(void **state)
{
	static const char ue[] = "DRIVER=amdgpu\nPCI_CLASS=30000\nPCI_ID=1002:744C\nPCI_SUBSYS_ID=1DA2:E471\n"
				 "PCI_SLOT_NAME=0000:03:00.0\nMODALIAS=pci:v00001002d0000744Csv00001DA2\n";
	struct probe_uevent u;

	(void)state;
	assert_int_equal(probe_parse_uevent(S(ue), &u), 0);
	assert_string_equal(u.driver, "amdgpu");
	assert_string_equal(u.slot, "0000:03:00.0");
	assert_true(u.has_id);
	assert_int_equal(u.vendor, 0x1002);
	assert_int_equal(u.device, 0x744c);
	/* a platform device: no PCI_ID */
	assert_int_equal(probe_parse_uevent(S("DRIVER=simple-framebuffer\nOF_NAME=framebuffer\n"), &u), 0);
	assert_false(u.has_id);
	assert_string_equal(u.driver, "simple-framebuffer");
	assert_int_equal(probe_parse_uevent(S("PCI_ID=1002\n"), &u), -EBADMSG);
	assert_int_equal(probe_parse_uevent(S("PCI_ID=1002:XYZW\n"), &u), -EBADMSG);
	assert_int_equal(probe_parse_uevent(S("PCI_ID=10020:1\n"), &u), -EBADMSG);
	assert_int_equal(probe_parse_uevent(S("PCI_ID=:\n"), &u), -EBADMSG);
	/* control bytes in a value never reach the output as such */
	assert_int_equal(probe_parse_uevent(S("DRIVER=amd\x1b[2Jgpu\n"), &u), 0);
	assert_string_equal(u.driver, "amd?[2Jgpu");
}

static void test_hex_and_line(void **state)
{
	char buf[16];
	uint16_t v;

	(void)state;
	assert_int_equal(probe_parse_hex_u16(S("0x1002\n"), &v), 0);
	assert_int_equal(v, 0x1002);
	assert_int_equal(probe_parse_hex_u16(S("744C"), &v), 0);
	assert_int_equal(v, 0x744c);
	assert_int_equal(probe_parse_hex_u16(S("0x"), &v), -EBADMSG);
	assert_int_equal(probe_parse_hex_u16(S("0x10020"), &v), -ERANGE);
	assert_int_equal(probe_parse_hex_u16(S("0xg"), &v), -EBADMSG);
	assert_int_equal(probe_parse_line(S("llama-server\n"), buf, sizeof(buf)), 12);
	assert_string_equal(buf, "llama-server");
	assert_int_equal(probe_parse_line(S("a\tb\x07\nsecond line"), buf, sizeof(buf)), 4);
	assert_string_equal(buf, "a?b?");
	assert_int_equal(probe_parse_line(S("a very long process name"), buf, sizeof(buf)), 15);
	assert_int_equal(probe_parse_line(S("\n"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

/* ---- DRM fdinfo ------------------------------------------------------- */

/* amdgpu on Linux 6.8: legacy keys, a space before the tab of some */
static const char fdinfo_68[] =
	"pos:\t0\n"
	"flags:\t02100002\n"
	"mnt_id:\t26\n"
	"ino:\t1060\n"
	"drm-driver:\tamdgpu\n"
	"drm-client-id:\t12\n"
	"drm-pdev:\t0000:03:00.0\n"
	"pasid:\t32771\n"
	"drm-memory-vram:\t1048576 KiB\n"
	"drm-memory-gtt: \t20480 KiB\n"
	"drm-memory-cpu: \t0 KiB\n"
	"amd-memory-visible-vram:\t1048576 KiB\n"
	"amd-requested-gtt:\t20480 KiB\n"
	"drm-engine-gfx:\t8523941020 ns\n"
	"drm-engine-dma:\t10448112 ns\n";

/* amdgpu on Linux 6.14: drm-total/-resident first, MiB when aligned; the
 * total (what was asked for) is larger than what is resident */
static const char fdinfo_614[] =
	"drm-driver:\tamdgpu\n"
	"drm-client-id:\t40\n"
	"drm-pdev:\t0000:C5:00.0\n"
	"drm-total-gtt:\t160 MiB\n"
	"drm-resident-gtt:\t160 MiB\n"
	"drm-total-vram:\t48 MiB\n"
	"drm-resident-vram:\t40 MiB\n"
	"drm-purgeable-vram:\t0\n"
	"drm-memory-vram:\t1 GiB\n"
	"drm-memory-gtt: \t163840 KiB\n"
	"drm-engine-compute:\t912345678 ns"; /* no newline at the end */

static void test_drm_fdinfo(void **state)
{
	struct probe_drm_fdinfo f;

	(void)state;
	assert_int_equal(probe_parse_drm_fdinfo(S(fdinfo_68), &f), 0);
	assert_string_equal(f.driver, "amdgpu");
	assert_string_equal(f.pdev, "0000:03:00.0");
	assert_true(f.has_client_id);
	assert_int_equal(f.client_id, 12);
	assert_int_equal(f.vram, GIB);
	assert_int_equal(f.gtt, 20 * MIB);
	assert_int_equal(f.engine_gfx, 8523941020u);
	assert_int_equal(f.engine_compute, 0);
	/* resident wins over the legacy key and over total, in any order */
	assert_int_equal(probe_parse_drm_fdinfo(S(fdinfo_614), &f), 0);
	assert_string_equal(f.pdev, "0000:C5:00.0");
	assert_int_equal(f.vram, 40 * MIB);
	assert_int_equal(f.gtt, 160 * MIB);
	assert_int_equal(f.engine_compute, 912345678);
	/* only drm-total: that is all there is */
	assert_int_equal(probe_parse_drm_fdinfo(S("drm-driver: i915\ndrm-total-vram: 4096\n"
						  "drm-memory-gtt: 2 MiB\ndrm-total-gtt: 9 MiB\n"), &f), 0);
	assert_string_equal(f.driver, "i915");
	assert_int_equal(f.vram, 4096);
	assert_int_equal(f.gtt, 2 * MIB);
	/* not a DRM file: a regular file's, an eventfd's, /dev/kfd's */
	assert_int_equal(probe_parse_drm_fdinfo(S("pos:\t0\nflags:\t02\nmnt_id:\t26\nino:\t1045\n"), &f),
			 -ENOENT);
	assert_int_equal(probe_parse_drm_fdinfo(S("eventfd-count:                0\neventfd-id: 3\n"), &f),
			 -ENOENT);
	assert_int_equal(probe_parse_drm_fdinfo(S(""), &f), -ENOENT);
}

static void test_drm_fdinfo_hostile(void **state)
{
	static const struct { const char *text; int rc; } cases[] = {
		/* missing keys: fine, unknown */
		{ "drm-driver:\tamdgpu\n", 0 },
		/* huge numbers */
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\t99999999999999999999999 KiB\n", -ERANGE },
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\t18014398509481984 KiB\n", -ERANGE },
		{ "drm-driver:\tamdgpu\ndrm-resident-gtt:\t18446744073709551615\n", -ERANGE },
		{ "drm-driver:\tamdgpu\ndrm-total-vram:\t17592186044416 MiB\n", -ERANGE },
		{ "drm-driver:\tamdgpu\ndrm-client-id:\t18446744073709551616\n", -ERANGE },
		/* bad units and numbers */
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\t12 kB\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\t12 KB\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\t12 KiBx\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\t12 KiB KiB\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\tKiB\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\t-1 KiB\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:\t1.5 MiB\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-memory-gtt:\t0x10\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-engine-gfx:\t12 ms\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-client-id:\tmany\n", -EBADMSG },
		/* truncated lines */
		{ "drm-driver:\tamdgpu\ndrm-memory-vram:", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-memory-vr", 0 },
		{ "drm-driver:", -EBADMSG },
		{ "drm-driv", -ENOENT },
		{ "drm-driver:\tamdgpu\ndrm-pdev:\n", -EBADMSG },
		/* a driver or pdev that does not fit */
		{ "drm-driver:\tamdgpu-with-a-long-name\n", -EBADMSG },
		{ "drm-driver:\tamdgpu\ndrm-pdev:\t0000:03:00.0:0000:03:00.0:0000:03:00.0\n", -EBADMSG },
		/* keys llmem does not read may hold anything */
		{ "drm-driver:\tamdgpu\ndrm-memory-cpu:\tlots\namd-evicted-vram:\t?\ndrm-engine-dma: x\n"
		  "\n:\n::::\n\x01\x02\n", 0 },
	};
	struct probe_drm_fdinfo f;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc = probe_parse_drm_fdinfo(cases[i].text, strlen(cases[i].text), &f);

		if (rc != cases[i].rc)
			fail_msg("case %zu: %d, expected %d", i, rc, cases[i].rc);
	}
	/* a NUL byte inside a number */
	assert_int_equal(probe_parse_drm_fdinfo(S("drm-driver:\tamdgpu\ndrm-memory-vram:\t1\0002 KiB\n"), &f),
			 -EBADMSG);
	assert_int_equal(probe_parse_drm_fdinfo(S("drm-driver:\tamdgpu\n"), &f), 0);
	assert_true(f.vram == PROBE_UNKNOWN && f.gtt == PROBE_UNKNOWN);
	assert_false(f.has_client_id);
	assert_string_equal(f.pdev, "");
	/* control bytes in a text value are replaced */
	assert_int_equal(probe_parse_drm_fdinfo(S("drm-driver:\tamd\x1bgpu\n"), &f), 0);
	assert_string_equal(f.driver, "amd?gpu");
}

static void test_amdgpu_kind(void **state)
{
	struct probe_amdgpu a = { .pci_vendor = 0x1002 };
	char why[PROBE_NOTE_MAX];

	(void)state;
	a.pci_device = 0x1586; /* Strix Halo, even with a 96 GiB carve-out */
	a.vram_total = 96 * GIB;
	a.gtt_total = 16 * GIB;
	assert_int_equal(probe_amdgpu_kind(&a, why, sizeof(why)), PROBE_DEV_UNIFIED);
	assert_non_null(strstr(why, "APU"));
	a.pci_device = 0x744c; /* 7900 XTX */
	a.vram_total = 24 * GIB;
	a.gtt_total = 31 * GIB;
	assert_int_equal(probe_amdgpu_kind(&a, why, sizeof(why)), PROBE_DEV_DISCRETE);
	a.pci_device = 0x9999; /* unknown, 512 MiB carve-out beside 30 GiB of GTT */
	a.vram_total = 512 * MIB;
	a.gtt_total = 30 * GIB;
	assert_int_equal(probe_amdgpu_kind(&a, why, sizeof(why)), PROBE_DEV_UNIFIED);
	a.gtt_total = 256 * MIB;
	assert_int_equal(probe_amdgpu_kind(&a, why, sizeof(why)), PROBE_DEV_DISCRETE);
	assert_true(probe_amd_id_is_apu(0x150e));
	assert_false(probe_amd_id_is_apu(0x744c));
	assert_null(probe_amd_id_name(0x0001));
}

static void test_gtt_limit(void **state)
{
	(void)state;
	/* no caps */
	assert_int_equal(probe_amdgpu_gtt_limit(120 * GIB, PROBE_UNKNOWN, -1), 120 * GIB);
	/* TTM's pages_limit (4 KiB pages) */
	assert_int_equal(probe_amdgpu_gtt_limit(120 * GIB, 25165824, -1), 96 * GIB);
	/* amdgpu.gttsize (MiB) */
	assert_int_equal(probe_amdgpu_gtt_limit(120 * GIB, PROBE_UNKNOWN, 65536), 64 * GIB);
	/* the smallest wins; a cap above the total changes nothing */
	assert_int_equal(probe_amdgpu_gtt_limit(120 * GIB, 25165824, 65536), 64 * GIB);
	assert_int_equal(probe_amdgpu_gtt_limit(8 * GIB, 25165824, 122880), 8 * GIB);
	/* 0 and absurd values are no cap, never an overflow */
	assert_int_equal(probe_amdgpu_gtt_limit(8 * GIB, 0, 0), 8 * GIB);
	assert_int_equal(probe_amdgpu_gtt_limit(8 * GIB, UINT64_MAX - 1, INT64_MAX), 8 * GIB);
}

/* ---- pools and budgets -------------------------------------------------- */

/* A machine by hand: 64 GiB, 48 GiB available, no cgroup. */
static void machine(struct probe_result *r)
{
	memset(r, 0, sizeof(*r));
	r->mem.mem_total = 64 * GIB;
	r->mem.mem_available = 48 * GIB;
	r->mem.has_available = true;
	r->n_devices = 1;
}

static struct probe_device *gpu(struct probe_result *r, const char *id, uint8_t vendor, uint8_t kind)
{
	struct probe_device *d = &r->devices[r->n_devices++];

	memset(d, 0, sizeof(*d));
	strcpy(d->id, id);
	d->vendor = vendor;
	d->kind = kind;
	d->used = PROBE_UNKNOWN;
	return d;
}

static void test_pools_unified_counted_once(void **state)
{
	struct probe_result *r = calloc(1, sizeof(*r));
	struct probe_budget b;

	(void)state;
	assert_non_null(r);
	machine(r);
	gpu(r, "CUDA0", PROBE_VENDOR_NVIDIA, PROBE_DEV_UNIFIED);
	probe_pools_build(r);
	/* one pool, both devices on it, its free memory once */
	assert_int_equal(r->n_pools, 1);
	assert_int_equal(r->pools[0].available, 48 * GIB);
	assert_string_equal(r->devices[0].id, "CPU");
	assert_int_equal(r->devices[0].draws[0].pool, 0);
	assert_int_equal(r->devices[1].n_draws, 1);
	assert_int_equal(r->devices[1].draws[0].pool, 0);
	assert_int_equal(r->devices[1].total, 64 * GIB);
	assert_int_equal(r->devices[1].free, 48 * GIB);
	probe_budget_compute(r, NULL, &b);
	/* 10% of 64 GiB plus the GPU's 1 GiB, on the one pool */
	assert_int_equal(b.pools[0].headroom, 64 * GIB / 10 + GIB);
	assert_int_equal(b.pools[0].budget, 48 * GIB - b.pools[0].headroom);
	assert_int_equal(b.device_max[0], b.pools[0].budget);
	assert_int_equal(b.device_max[1], b.pools[0].budget);
	free(r);
}

static void test_pools_discrete_and_apu(void **state)
{
	struct probe_result *r = calloc(1, sizeof(*r));
	struct probe_device *d;
	struct probe_budget b;
	struct probe_headroom h = { .gpu = 0, .host_min = 0, .host_percent = 0 };

	(void)state;
	assert_non_null(r);
	machine(r);
	d = gpu(r, "CUDA0", PROBE_VENDOR_NVIDIA, PROBE_DEV_DISCRETE);
	d->total = 24 * GIB;
	d->free = 20 * GIB;
	d->used = 4 * GIB;
	d = gpu(r, "ROCm0", PROBE_VENDOR_AMD, PROBE_DEV_UNIFIED);
	d->amd.vram_total = 512 * MIB;
	d->amd.vram_used = 100 * MIB;
	d->amd.gtt_total = 60 * GIB;
	d->amd.gtt_used = GIB;
	d->amd.gtt_limit = 32 * GIB;
	probe_pools_build(r);
	assert_int_equal(r->n_pools, 3);
	assert_string_equal(r->pools[1].id, "CUDA0");
	assert_int_equal(r->pools[1].available, 20 * GIB);
	assert_string_equal(r->pools[2].id, "ROCm0");
	assert_int_equal(r->pools[2].total, 512 * MIB);
	/* the APU: home on system RAM up to its GTT limit, then its carve-out */
	d = &r->devices[2];
	assert_int_equal(d->n_draws, 2);
	assert_int_equal(d->draws[0].pool, 0);
	assert_int_equal(d->draws[0].cap, 32 * GIB);
	assert_int_equal(d->draws[1].pool, 2);
	assert_int_equal(d->total, 32 * GIB + 512 * MIB);
	assert_int_equal(d->free, 31 * GIB + 412 * MIB);
	/* no headroom at all: budgets are what is available */
	probe_budget_compute(r, &h, &b);
	assert_int_equal(b.pools[0].budget, 48 * GIB);
	assert_int_equal(b.device_max[1], 20 * GIB);
	assert_int_equal(b.device_max[2], 31 * GIB + 412 * MIB);
	/* defaults: the APU's 1 GiB lands on the system pool, not on the
	 * 512 MiB carve-out */
	probe_budget_compute(r, NULL, &b);
	assert_int_equal(b.pools[1].headroom, GIB);
	assert_int_equal(b.pools[2].headroom, 0);
	assert_int_equal(b.pools[0].headroom, 64 * GIB / 10 + GIB);
	free(r);
}

static void test_budget_saturates(void **state)
{
	struct probe_result *r = calloc(1, sizeof(*r));
	struct probe_budget b;

	(void)state;
	assert_non_null(r);
	machine(r);
	r->mem.mem_total = 4 * GIB;
	r->mem.mem_available = GIB; /* less than the 2 GiB headroom */
	probe_pools_build(r);
	probe_budget_compute(r, NULL, &b);
	assert_int_equal(b.pools[0].headroom, 2 * GIB);
	assert_int_equal(b.pools[0].budget, 0);
	/* a cgroup limit smaller than RAM sets the 10% base */
	machine(r);
	r->cgroup.version = 2;
	r->cgroup.max = 40 * GIB;
	r->cgroup.high = PROBE_UNLIMITED;
	r->cgroup.available = 30 * GIB;
	probe_pools_build(r);
	assert_int_equal(probe_system_size(r), 40 * GIB);
	assert_int_equal(r->pools[0].available, 30 * GIB);
	probe_budget_compute(r, NULL, &b);
	assert_int_equal(b.pools[0].headroom, 4 * GIB);
	free(r);
}

/* --ram: the system pool becomes the what-if size, with no cgroup limit;
 * a discrete GPU's VRAM pool is kept */
static void test_system_what_if(void **state)
{
	struct probe_result *r = calloc(1, sizeof(*r));
	struct probe_budget b;
	struct probe_device *d;

	(void)state;
	assert_non_null(r);
	machine(r);
	r->cgroup.version = 2;
	r->cgroup.max = 16 * GIB;
	r->cgroup.high = PROBE_UNLIMITED;
	r->cgroup.available = 10 * GIB;
	d = gpu(r, "CUDA0", PROBE_VENDOR_NVIDIA, PROBE_DEV_DISCRETE);
	d->total = 24 * GIB;
	d->free = 23 * GIB;
	probe_pools_build(r);
	assert_int_equal(r->pools[0].available, 10 * GIB);
	probe_system_what_if(r, 128 * GIB);
	assert_int_equal(probe_system_size(r), 128 * GIB);
	assert_int_equal(r->pools[0].total, 128 * GIB);
	assert_int_equal(r->pools[0].available, 128 * GIB);
	assert_int_equal(r->pools[1].available, 23 * GIB);
	probe_budget_compute(r, NULL, &b);
	assert_int_equal(b.pools[0].headroom, 128 * GIB / 10);
	assert_int_equal(b.pools[0].budget, 128 * GIB - 128 * GIB / 10);
	assert_int_equal(b.pools[1].budget, 22 * GIB);
	free(r);
}

/* HIP_VISIBLE_DEVICES and the like: a slice of the devices kept in the
 * order given and renamed; what follows moves up */
static void test_devices_keep(void **state)
{
	struct probe_result *r = calloc(1, sizeof(*r));
	const unsigned order[] = { 2, 0 };

	(void)state;
	assert_non_null(r);
	machine(r);
	gpu(r, "CUDA0", PROBE_VENDOR_NVIDIA, PROBE_DEV_DISCRETE);
	strcpy(gpu(r, "ROCm0", PROBE_VENDOR_AMD, PROBE_DEV_DISCRETE)->model, "a");
	strcpy(gpu(r, "ROCm1", PROBE_VENDOR_AMD, PROBE_DEV_DISCRETE)->model, "b");
	strcpy(gpu(r, "ROCm2", PROBE_VENDOR_AMD, PROBE_DEV_DISCRETE)->model, "c");
	strcpy(gpu(r, "X", PROBE_VENDOR_AMD, PROBE_DEV_DISCRETE)->model, "after");
	assert_int_equal(probe_devices_keep(r, 2, 3, order, 2, "ROCm"), 0);
	assert_int_equal(r->n_devices, 5);
	assert_string_equal(r->devices[1].id, "CUDA0");
	assert_string_equal(r->devices[2].id, "ROCm0");
	assert_string_equal(r->devices[2].model, "c");
	assert_string_equal(r->devices[3].id, "ROCm1");
	assert_string_equal(r->devices[3].model, "a");
	assert_string_equal(r->devices[4].model, "after");
	/* an index outside the slice, a slice outside the devices */
	assert_int_equal(probe_devices_keep(r, 2, 2, order, 1, "ROCm"), -EINVAL);
	assert_int_equal(probe_devices_keep(r, 4, 3, order, 0, "ROCm"), -EINVAL);
	assert_int_equal(r->n_devices, 5);
	/* none visible */
	assert_int_equal(probe_devices_keep(r, 2, 2, order, 0, "ROCm"), 0);
	assert_int_equal(r->n_devices, 3);
	assert_string_equal(r->devices[2].model, "after");
	free(r);
}

/* ---- the fixture machines ------------------------------------------------ */

static struct probe_result *scenario(const char *name, bool nvml)
{
	struct probe_result *r = calloc(1, sizeof(*r));
	struct probe_options o = { 0 };
	char root[256], lib[512], conf[300];
	const char *tools = getenv("TOOLS");
	struct diag d;

	assert_non_null(r);
	snprintf(root, sizeof(root), FIXTURES "/%s", name);
	o.root = root;
	if (nvml) {
		snprintf(lib, sizeof(lib), "%s/libfake-nvml.so", tools ? tools : "build/tools");
		snprintf(conf, sizeof(conf), "%s/nvml.conf", root);
		setenv("FAKE_NVML_CONFIG", conf, 1);
		o.nvml_path = lib;
	}
	diag_init(&d);
	if (probe_run(&o, r, &d) < 0)
		fail_msg("%s: %s", name, d.msg);
	return r;
}

static const struct probe_pool *pool(const struct probe_result *r, const char *id)
{
	for (size_t i = 0; i < r->n_pools; i++)
		if (!strcmp(r->pools[i].id, id))
			return &r->pools[i];
	fail_msg("no pool %s", id);
	return NULL;
}

static uint64_t budget_of(const struct probe_result *r, const char *id)
{
	struct probe_budget b;

	probe_budget_compute(r, NULL, &b);
	return b.pools[pool(r, id) - r->pools].budget;
}

static void test_fixture_desktop_swap(void **state)
{
	struct probe_result *r = scenario("desktop-swap", false);

	(void)state;
	assert_int_equal(r->n_notes, 0);
	assert_int_equal(r->n_devices, 1); /* the i915 iGPU is not amdgpu */
	assert_int_equal(r->n_pools, 1);
	assert_int_equal(r->mem.swap_total, 8388604 * KIB);
	assert_int_equal(r->mem.swap_free, 8126460 * KIB);
	assert_int_equal(r->thp, PROBE_THP_MADVISE);
	assert_int_equal(r->cgroup.version, 2);
	assert_true(r->cgroup.max == PROBE_UNLIMITED);
	assert_true(r->pools[0].limit == PROBE_UNLIMITED);
	assert_int_equal(r->pools[0].available, 24117528 * KIB);
	/* headroom: 10% of 32803400 KiB (more than 2 GiB) */
	assert_int_equal(budget_of(r, "system"), 24117528 * KIB - 3359068160u);
	free(r);
}

static void test_fixture_container_v2(void **state)
{
	struct probe_result *r = scenario("container-v2-16g", false);

	(void)state;
	assert_int_equal(r->n_notes, 0);
	assert_int_equal(r->cgroup.version, 2);
	assert_string_equal(r->cgroup.path, "/");
	assert_int_equal(r->cgroup.max, 16 * GIB);
	assert_int_equal(r->cgroup.current, 2 * GIB);
	assert_int_equal(r->cgroup.reclaimable, 512 * MIB);
	assert_int_equal(r->cgroup.swap_max, 0);
	/* the budget is the container's 16 GiB, not the host's 125 GiB:
	 * 16 GiB - (2 GiB used - 512 MiB reclaimable) */
	assert_int_equal(r->pools[0].limit, 16 * GIB);
	assert_int_equal(r->pools[0].available, 16 * GIB - 1536 * MIB);
	assert_int_equal(budget_of(r, "system"), 16 * GIB - 1536 * MIB - 2 * GIB);
	free(r);
}

static void test_fixture_container_v1(void **state)
{
	struct probe_result *r = scenario("container-v1", false);

	(void)state;
	assert_int_equal(r->n_notes, 0);
	assert_int_equal(r->cgroup.version, 1); /* wins over the 0:: line */
	assert_string_equal(r->cgroup.path,
			    "/docker/3f1c9a0e2b7d4c58a61f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3928170605");
	/* the host path does not exist in the container: the mount's root
	 * is the container's cgroup */
	assert_string_equal(r->cgroup.limit_path, "/");
	assert_int_equal(r->cgroup.max, 8 * GIB);
	assert_int_equal(r->cgroup.swap_max, 0); /* memsw == limit: no swap */
	assert_int_equal(r->pools[0].available, 8 * GIB - 768 * MIB);
	assert_int_equal(budget_of(r, "system"), 8 * GIB - 768 * MIB - 2 * GIB);
	free(r);
}

static void test_fixture_nvidia(void **state)
{
	struct probe_result *r = scenario("nvidia-2gpu", true);
	const struct probe_device *d;

	(void)state;
	assert_int_equal(r->nvml.state, PROBE_SRC_OK);
	assert_int_equal(r->nvml.n_gpus, 2);
	assert_int_equal(r->n_devices, 3);
	assert_int_equal(r->n_pools, 3);
	d = &r->devices[1];
	assert_string_equal(d->id, "CUDA0");
	assert_string_equal(d->model, "NVIDIA GeForce RTX 4090");
	assert_string_equal(d->bus_id, "00000000:01:00.0");
	assert_int_equal(d->kind, PROBE_DEV_DISCRETE);
	assert_int_equal(d->total, 25757220864u);
	assert_int_equal(d->n_procs, 2);
	assert_int_equal(d->procs[0].pid, 4242);
	assert_string_equal(d->procs[0].comm, "llama-server");
	assert_int_equal(d->procs[0].used, 3 * GIB);
	assert_int_equal(d->procs[0].type, PROBE_PROC_COMPUTE);
	assert_string_equal(d->procs[1].comm, "Xorg");
	assert_int_equal(d->procs[1].type, PROBE_PROC_GRAPHICS);
	assert_int_equal(r->devices[2].n_procs, 0);
	assert_int_equal(budget_of(r, "CUDA0"), 22012723200u - GIB);
	assert_int_equal(budget_of(r, "CUDA1"), 12450791424u - GIB);
	/* the GPUs keep their headroom on their own VRAM, not on RAM */
	assert_int_equal(budget_of(r, "system"), 58129436 * KIB - 6728998502u);
	free(r);
}

static void test_fixture_gb10(void **state)
{
	struct probe_result *r = scenario("gb10-unified", true);
	const struct probe_device *d = &r->devices[1];

	(void)state;
	assert_int_equal(r->n_devices, 2);
	assert_int_equal(r->n_pools, 1);
	assert_string_equal(d->model, "NVIDIA GB10");
	assert_int_equal(d->kind, PROBE_DEV_UNIFIED);
	assert_int_equal(d->draws[0].pool, 0);
	assert_int_equal(d->total, 125513584 * KIB);
	assert_int_equal(d->free, 112644136 * KIB);
	assert_int_equal(d->n_procs, 1);
	assert_true(d->procs[0].used == PROBE_UNKNOWN);
	/* 10% of RAM plus the GPU's 1 GiB, both on the one pool */
	assert_int_equal(budget_of(r, "system"), 112644136 * KIB - 12852591001u - GIB);
	free(r);
}

static void test_fixture_amd_discrete(void **state)
{
	struct probe_result *r = scenario("amd-discrete", false);
	const struct probe_device *d = &r->devices[1];

	(void)state;
	assert_int_equal(r->amdgpu.state, PROBE_SRC_OK);
	assert_int_equal(r->n_devices, 2);
	assert_string_equal(d->id, "ROCm0");
	assert_int_equal(d->kind, PROBE_DEV_DISCRETE);
	assert_string_equal(d->bus_id, "0000:03:00.0");
	assert_non_null(strstr(d->model, "7900 XTX")); /* empty product_name: by id */
	assert_int_equal(d->amd.vram_total, 25753026560u);
	assert_int_equal(pool(r, "ROCm0")->available, 25753026560u - 1536 * MIB);
	assert_int_equal(budget_of(r, "ROCm0"), 25753026560u - 1536 * MIB - GIB);
	/* from fdinfo: llama-server's client 12 (on two fds) once, plus client
	 * 13; steam's client on another GPU is not this card's */
	assert_int_equal(d->n_procs, 3);
	assert_false(d->procs_truncated);
	assert_int_equal(d->procs[0].pid, 4242);
	assert_string_equal(d->procs[0].comm, "llama-server");
	assert_int_equal(d->procs[0].type, PROBE_PROC_COMPUTE);
	assert_int_equal(d->procs[0].used, 1088 * MIB);
	assert_int_equal(d->procs[0].vram, 1088 * MIB);
	assert_int_equal(d->procs[0].gtt, 28 * MIB);
	assert_int_equal(d->procs[1].pid, 1873);
	assert_string_equal(d->procs[1].comm, "Xorg");
	assert_int_equal(d->procs[1].type, PROBE_PROC_GRAPHICS);
	assert_int_equal(d->procs[1].used, 256 * MIB);
	assert_int_equal(d->procs[2].pid, 2101);
	assert_int_equal(d->procs[2].used, 96 * MIB);
	free(r);
}

static void test_fixture_strix_halo(void **state)
{
	struct probe_result *r = scenario("strix-halo", false);
	const struct probe_device *d = &r->devices[1];
	struct probe_budget b;

	(void)state;
	assert_int_equal(r->n_devices, 2); /* card0 is simpledrm */
	assert_string_equal(d->amd.card, "card1");
	assert_int_equal(d->kind, PROBE_DEV_UNIFIED);
	assert_int_equal(r->ttm_pages_limit, 25165824);
	assert_int_equal(r->amdgpu_gttsize_mib, 122880);
	assert_int_equal(d->amd.gtt_total, 120 * GIB);
	assert_int_equal(d->amd.gtt_limit, 96 * GIB); /* TTM caps it */
	assert_int_equal(d->total, 96 * GIB + 512 * MIB);
	assert_int_equal(r->n_pools, 2);
	assert_int_equal(pool(r, "ROCm0")->total, 512 * MIB);
	/* the system pool is counted once: the APU's GTT is drawn from it */
	assert_int_equal(pool(r, "system")->available, 125820416 * KIB);
	probe_budget_compute(r, NULL, &b);
	assert_int_equal(b.pools[0].headroom, 13615723724u + GIB);
	assert_int_equal(b.pools[1].headroom, 0);
	assert_int_equal(b.device_max[1], 96 * GIB - 256 * MIB + 512 * MIB - 94 * MIB);
	/* unified: a process's VRAM and GTT both count (Linux 6.14 keys) */
	assert_int_equal(d->n_procs, 2);
	assert_int_equal(d->procs[0].pid, 7001);
	assert_int_equal(d->procs[0].type, PROBE_PROC_COMPUTE);
	assert_int_equal(d->procs[0].vram, 32 * MIB);
	assert_int_equal(d->procs[0].gtt, 176 * MIB);
	assert_int_equal(d->procs[0].used, 208 * MIB);
	assert_string_equal(d->procs[1].comm, "gnome-shell");
	assert_int_equal(d->procs[1].type, PROBE_PROC_GRAPHICS);
	assert_int_equal(d->procs[1].vram, 40 * MIB); /* resident, not total */
	assert_int_equal(d->procs[1].used, 64 * MIB);
	free(r);
}

static void test_fixture_no_gpu(void **state)
{
	struct probe_result *r = scenario("no-gpu", false);

	(void)state;
	assert_int_equal(r->n_devices, 1);
	assert_int_equal(r->amdgpu.state, PROBE_SRC_ABSENT);
	assert_int_equal(r->nvml.state, PROBE_SRC_SKIPPED);
	assert_int_equal(r->thp, PROBE_THP_NEVER);
	assert_int_equal(r->mem.hugepages_total, 512);
	/* MemoryHigh=12G on the service binds */
	assert_true(r->cgroup.max == PROBE_UNLIMITED);
	assert_int_equal(r->cgroup.high, 12 * GIB);
	assert_string_equal(r->cgroup.limit_path, "/system.slice/llama.service");
	assert_int_equal(r->pools[0].available, 12 * GIB - 768 * MIB);
	assert_int_equal(budget_of(r, "system"), 12 * GIB - 768 * MIB - 2 * GIB);
	free(r);
}

/* ---- hostile trees --------------------------------------------------- */

static void put(const char *dir, const char *rel, const char *text)
{
	char path[512], *slash;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_hostile_tree(void **state)
{
	char dir[] = "/tmp/llmem-probe-XXXXXX", cmd[600];
	struct probe_result *r = calloc(1, sizeof(*r));
	struct probe_options o = { 0 };
	struct diag d;

	(void)state;
	assert_non_null(r);
	assert_non_null(mkdtemp(dir));
	o.root = dir;
	/* no meminfo: an error naming the file */
	diag_init(&d);
	assert_int_equal(probe_run(&o, r, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "proc/meminfo"));
	/* a garbage meminfo */
	put(dir, "proc/meminfo", "MemTotal: lots\n");
	diag_init(&d);
	assert_int_equal(probe_run(&o, r, &d), -EBADMSG);
	/* garbage around a good meminfo: notes, never a failure */
	put(dir, "proc/meminfo", "MemTotal: 1048576 kB\nMemAvailable: 524288 kB\n");
	put(dir, "proc/self/cgroup", "0::/a/b\n");
	put(dir, "sys/fs/cgroup/a/b/memory.max", "lots\n");
	put(dir, "sys/fs/cgroup/a/memory.max", "1073741824\n");
	put(dir, "sys/fs/cgroup/a/memory.current", "99999999999999999999999\n");
	put(dir, "sys/fs/cgroup/a/memory.stat", "inactive_file x\n");
	put(dir, "sys/kernel/mm/transparent_hugepage/enabled", "\x01\x02[");
	put(dir, "sys/class/drm/card0/device/uevent", "DRIVER=amdgpu\nPCI_ID=1002:744C\n");
	put(dir, "sys/class/drm/card0/device/mem_info_vram_total", "-1\n");
	put(dir, "sys/class/drm/card1/device/uevent", "DRIVER=amdgpu\nPCI_ID=1002:744C\n");
	put(dir, "sys/class/drm/card1/device/mem_info_vram_total", "1073741824\n");
	put(dir, "sys/class/drm/card1/device/mem_info_vram_used", "2147483648\n"); /* more than total */
	put(dir, "sys/class/drm/card1/device/product_name", "\x1b[31mEvil\n");
	put(dir, "sys/module/ttm/parameters/pages_limit", "x\n");
	diag_init(&d);
	assert_int_equal(probe_run(&o, r, &d), 0);
	assert_true(r->n_notes >= 3);
	assert_int_equal(r->thp, PROBE_THP_UNKNOWN);
	/* the one good limit is used; the unknown usage counts as none */
	assert_int_equal(r->cgroup.max, GIB);
	assert_int_equal(r->pools[0].available, 512 * MIB);
	assert_int_equal(r->n_devices, 2);
	assert_string_equal(r->devices[1].amd.card, "card1");
	assert_int_equal(r->devices[1].free, 0);
	assert_string_equal(r->devices[1].model, "?[31mEvil");
	/* a missing NVML library is "absent", not an error */
	o.nvml_path = "/nonexistent/libnvidia-ml.so.1";
	assert_int_equal(probe_run(&o, r, &d), 0);
	assert_int_equal(r->nvml.state, PROBE_SRC_ABSENT);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(r);
}

/* Two AMD GPUs (the second's PCI address only in its device link), more
 * processes than are listed, a client shared by two processes, fdinfo
 * that is not there or not DRM. */
static void test_amd_procs_tree(void **state)
{
	char dir[] = "/tmp/llmem-probe-XXXXXX", cmd[600], rel[128], text[512], link[600];
	struct probe_result *r = calloc(1, sizeof(*r));
	struct probe_options o = { 0 };
	const struct probe_device *a, *b;
	struct diag d;

	(void)state;
	assert_non_null(r);
	assert_non_null(mkdtemp(dir));
	o.root = dir;
	put(dir, "proc/meminfo", "MemTotal: 67108864 kB\nMemAvailable: 33554432 kB\n");
	put(dir, "sys/class/drm/card0/device/uevent",
	    "DRIVER=amdgpu\nPCI_ID=1002:744C\nPCI_SLOT_NAME=0000:03:00.0\n");
	put(dir, "sys/class/drm/card0/device/mem_info_vram_total", "25753026560\n");
	put(dir, "sys/devices/pci0000:00/0000:0c:00.0/uevent", "DRIVER=amdgpu\nPCI_ID=1002:73BF\n");
	put(dir, "sys/devices/pci0000:00/0000:0c:00.0/mem_info_vram_total", "17163091968\n");
	snprintf(link, sizeof(link), "%s/sys/class/drm/card1", dir);
	mkdir(link, 0755);
	snprintf(link, sizeof(link), "%s/sys/class/drm/card1/device", dir);
	assert_int_equal(symlink("../../../devices/pci0000:00/0000:0c:00.0", link), 0);
	/* 40 processes with a client each on card0, pid 100 + i holding
	 * (i + 1) MiB; the 8 smallest do not make the list */
	for (int i = 0; i < 40; i++) {
		snprintf(rel, sizeof(rel), "proc/%d/fdinfo/5", 100 + i);
		snprintf(text, sizeof(text),
			 "pos:\t0\ndrm-driver:\tamdgpu\ndrm-pdev:\t0000:03:00.0\n"
			 "drm-client-id:\t%d\ndrm-memory-vram:\t%d KiB\n", 1000 + i, (i + 1) * 1024);
		put(dir, rel, text);
		snprintf(rel, sizeof(rel), "proc/%d/comm", 100 + i);
		put(dir, rel, "worker\n");
	}
	/* card1 (found by its link): client 7 in pids 50 and 60 (a fork), 60
	 * has client 8 too; an fd with no pdev cannot say which card it is */
	put(dir, "proc/50/fdinfo/3", "drm-driver:\tamdgpu\ndrm-pdev:\t0000:0c:00.0\n"
	    "drm-client-id:\t7\ndrm-memory-vram:\t4 GiB\n");
	put(dir, "proc/60/fdinfo/3", "drm-driver:\tamdgpu\ndrm-pdev:\t0000:0C:00.0\n"
	    "drm-client-id:\t7\ndrm-memory-vram:\t4 GiB\n");
	put(dir, "proc/60/fdinfo/4", "drm-driver:\tamdgpu\ndrm-pdev:\t0000:0c:00.0\n"
	    "drm-client-id:\t8\ndrm-memory-vram:\t1 MiB\n");
	put(dir, "proc/60/fdinfo/5", "drm-driver:\tamdgpu\ndrm-client-id:\t9\ndrm-memory-vram:\t1 MiB\n");
	/* garbage and other drivers: skipped */
	put(dir, "proc/61/fdinfo/1", "drm-driver:\tamdgpu\ndrm-pdev:\t0000:0c:00.0\n"
	    "drm-memory-vram:\tlots\n");
	put(dir, "proc/62/fdinfo/1", "drm-driver:\ti915\ndrm-pdev:\t0000:0c:00.0\n"
	    "drm-total-local0:\t4 GiB\n");
	put(dir, "proc/63/fdinfo/x", "drm-driver:\tamdgpu\ndrm-pdev:\t0000:0c:00.0\n");
	put(dir, "proc/64/comm", "no-fdinfo\n");
	put(dir, "proc/65x/fdinfo/1", "drm-driver:\tamdgpu\ndrm-pdev:\t0000:0c:00.0\n");
	diag_init(&d);
	assert_int_equal(probe_run(&o, r, &d), 0);
	assert_int_equal(r->n_devices, 3);
	a = &r->devices[1];
	b = &r->devices[2];
	assert_string_equal(b->bus_id, "0000:0c:00.0");
	assert_true(a->procs_truncated);
	assert_int_equal(a->n_procs, PROBE_MAX_PROCS);
	for (size_t i = 0; i < a->n_procs; i++) {
		assert_int_equal(a->procs[i].pid, 139 - i);
		assert_int_equal(a->procs[i].used, (40 - i) * MIB);
		assert_string_equal(a->procs[i].comm, "worker");
	}
	assert_false(b->procs_truncated);
	assert_int_equal(b->n_procs, 2);
	assert_int_equal(b->procs[0].pid, 50);
	assert_int_equal(b->procs[0].used, 4 * GIB);
	assert_string_equal(b->procs[0].comm, "");
	assert_int_equal(b->procs[1].pid, 60);
	assert_int_equal(b->procs[1].used, MIB);
	assert_int_equal(b->procs[1].gtt, PROBE_UNKNOWN);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(r);
}

/* $CUDA_VISIBLE_DEVICES as the CUDA runtime reads it */
static void test_cuda_visible(void **state)
{
	const char *uuids[3] = { "GPU-aaaa-1111", "GPU-bbbb-2222", "GPU-aaab-3333" };
	unsigned o[3];

	(void)state;
	assert_int_equal(probe_cuda_visible("1", uuids, 3, o), 1);
	assert_int_equal(o[0], 1);
	assert_int_equal(probe_cuda_visible("2, 0", uuids, 3, o), 2);
	assert_int_equal(o[0], 2);
	assert_int_equal(o[1], 0);
	/* nothing visible */
	assert_int_equal(probe_cuda_visible("", uuids, 3, o), 0);
	/* the list ends at an entry that names no GPU */
	assert_int_equal(probe_cuda_visible("0,5,1", uuids, 3, o), 1);
	assert_int_equal(probe_cuda_visible("-1,0", uuids, 3, o), 0);
	assert_int_equal(probe_cuda_visible("0,x,1", uuids, 3, o), 1);
	assert_int_equal(probe_cuda_visible("MIG-1234,0", uuids, 3, o), 0);
	/* ... or one listed already */
	assert_int_equal(probe_cuda_visible("1,1,2", uuids, 3, o), 1);
	/* UUIDs, whole or a prefix that names one GPU */
	assert_int_equal(probe_cuda_visible("GPU-bbbb-2222,GPU-aaab", uuids, 3, o), 2);
	assert_int_equal(o[0], 1);
	assert_int_equal(o[1], 2);
	assert_int_equal(probe_cuda_visible("GPU-aaa", uuids, 3, o), 0); /* two match */
	assert_int_equal(probe_cuda_visible("GPU-bbbb", NULL, 3, o), 0); /* unknown UUIDs */
	/* never more than there are */
	assert_int_equal(probe_cuda_visible("0,1,2", uuids, 2, o), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meminfo_real),
		cmocka_unit_test(test_meminfo_no_available),
		cmocka_unit_test(test_meminfo_hostile),
		cmocka_unit_test(test_meminfo_garbage),
		cmocka_unit_test(test_thp),
		cmocka_unit_test(test_proc_cgroup),
		cmocka_unit_test(test_cgroup_limit),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_keyed),
		cmocka_unit_test(test_uevent),
		cmocka_unit_test(test_hex_and_line),
		cmocka_unit_test(test_drm_fdinfo),
		cmocka_unit_test(test_drm_fdinfo_hostile),
		cmocka_unit_test(test_amdgpu_kind),
		cmocka_unit_test(test_gtt_limit),
		cmocka_unit_test(test_pools_unified_counted_once),
		cmocka_unit_test(test_pools_discrete_and_apu),
		cmocka_unit_test(test_budget_saturates),
		cmocka_unit_test(test_system_what_if),
		cmocka_unit_test(test_devices_keep),
		cmocka_unit_test(test_fixture_desktop_swap),
		cmocka_unit_test(test_fixture_container_v2),
		cmocka_unit_test(test_fixture_container_v1),
		cmocka_unit_test(test_fixture_nvidia),
		cmocka_unit_test(test_fixture_gb10),
		cmocka_unit_test(test_fixture_amd_discrete),
		cmocka_unit_test(test_fixture_strix_halo),
		cmocka_unit_test(test_fixture_no_gpu),
		cmocka_unit_test(test_hostile_tree),
		cmocka_unit_test(test_amd_procs_tree),
		cmocka_unit_test(test_cuda_visible),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
