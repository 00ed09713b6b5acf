/* test-doctor.c: `llmem doctor`'s pure parsers (the /dev/kmsg record and
 * the OOM killer's lines, /proc/buddyinfo, /proc/PID/limits, /proc/swaps,
 * PSI, /proc/PID/status, a NUMA node's meminfo, cmdline) on real and
 * hostile text; the checks' verdicts on hand-made facts at and around
 * each threshold; and the facts read from the fixture trees of
 * tests/fixtures/doctor/. Run from the repository root, as tests/run.sh
 * does. */
#include "base/compat.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "probe/doctor.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define FIXTURES "tests/fixtures/doctor"

#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- /dev/kmsg records ------------------------------------------------- */

static void test_kmsg_record(void **state)
{
	static const char kill[] =
		"3,8851,93428118010,-;Out of memory: Killed process 4242 (llama-server) "
		"total-vm:52488356kB, anon-rss:30412844kB, file-rss:1048576kB, shmem-rss:0kB, "
		"UID:1000 pgtables:62468kB oom_score_adj:0\n";
	static const char caller[] = "6,1,0,-,caller=T1;Command line: ro quiet";
	static const char user[] = "12,1400,95003113,-;llmem-test[7788]: hello";
	struct probe_kmsg_record r;

	(void)state;
	assert_int_equal(probe_parse_kmsg_record(S(kill), &r), 0);
	assert_int_equal(r.level, 3);
	assert_int_equal(r.facility, 0);
	assert_int_equal(r.seq, 8851);
	assert_int_equal(r.usec, 93428118010ULL);
	assert_int_equal(r.msg_len, strlen("Out of memory: Killed process 4242 (llama-server) "
					   "total-vm:52488356kB, anon-rss:30412844kB, "
					   "file-rss:1048576kB, shmem-rss:0kB, UID:1000 "
					   "pgtables:62468kB oom_score_adj:0"));
	assert_memory_equal(r.msg, "Out of memory:", 14);
	/* newer kernels add fields after the flags */
	assert_int_equal(probe_parse_kmsg_record(S(caller), &r), 0);
	assert_int_equal(r.level, 6);
	assert_int_equal(r.msg_len, strlen("Command line: ro quiet"));
	/* a program's message: facility 1 (LOG_USER) */
	assert_int_equal(probe_parse_kmsg_record(S(user), &r), 0);
	assert_int_equal(r.facility, 1);
	assert_int_equal(r.level, 4);
}

static void test_kmsg_record_bad(void **state)
{
	static const char *const bad[] = {
		" SUBSYSTEM=cpu",              /* a continuation line */
		"",
		";message",
		"3,1;message",                 /* too few fields */
		"3,1,2;message",
		"3,1,2,--;message",            /* flags are one character */
		"x,1,2,-;message",
		"3,-1,2,-;message",
		"3,1,99999999999999999999999,-;m", /* over 2^64 */
		"99999999999,1,2,-;message",   /* prio over 32 bits */
		"3,1,2,-",                     /* no ';' */
	};
	struct probe_kmsg_record r;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(probe_parse_kmsg_record(bad[i], strlen(bad[i]), &r), -EBADMSG);
}

static void test_oom_kill(void **state)
{
	static const char global[] =
		"Out of memory: Killed process 4242 (llama-server) total-vm:52488356kB, "
		"anon-rss:30412844kB, file-rss:1048576kB, shmem-rss:0kB, UID:1000 pgtables:62468kB "
		"oom_score_adj:0";
	static const char memcg[] =
		"Memory cgroup out of memory: Killed process 3817 (llama-server) total-vm:52488356kB, "
		"anon-rss:24917440kB, file-rss:16384kB, shmem-rss:0kB, UID:999 pgtables:49204kB "
		"oom_score_adj:0";
	/* Linux 4.x: the choice, then the kill on a line of its own */
	static const char old[] = "Killed process 2911 (python3) total-vm:48177244kB, "
				  "anon-rss:46120960kB, file-rss:16384kB, shmem-rss:0kB";
	static const char odd[] = "Out of memory: Killed process 77 (a) b (c)) total-vm:8kB, "
				  "anon-rss:4kB, file-rss:0kB, shmem-rss:0kB";
	static const char bare[] = "Out of memory: Killed process 12 (ollama_llama_se)";
	struct probe_oom_kill k;

	(void)state;
	assert_int_equal(probe_parse_oom_kill(S(global), &k), 0);
	assert_int_equal(k.pid, 4242);
	assert_string_equal(k.comm, "llama-server");
	assert_false(k.memcg);
	assert_int_equal(k.total_vm, 52488356 * KIB);
	assert_int_equal(k.anon_rss, 30412844 * KIB);
	assert_int_equal(k.file_rss, 1048576 * KIB);
	assert_int_equal(k.shmem_rss, 0);
	assert_int_equal(probe_parse_oom_kill(S(memcg), &k), 0);
	assert_int_equal(k.pid, 3817);
	assert_true(k.memcg);
	assert_int_equal(k.anon_rss, 24917440 * KIB);
	assert_int_equal(probe_parse_oom_kill(S(old), &k), 0);
	assert_int_equal(k.pid, 2911);
	assert_string_equal(k.comm, "python3");
	/* a name holding ") ": the one before " total-vm:" ends it */
	assert_int_equal(probe_parse_oom_kill(S(odd), &k), 0);
	assert_string_equal(k.comm, "a) b (c)");
	assert_int_equal(k.total_vm, 8 * KIB);
	/* no sizes: unknown */
	assert_int_equal(probe_parse_oom_kill(S(bare), &k), 0);
	assert_string_equal(k.comm, "ollama_llama_se");
	assert_int_equal(k.anon_rss, PROBE_UNKNOWN);
}

static void test_oom_kill_not(void **state)
{
	static const char *const other[] = {
		"oom_reaper: reaped process 3817 (llama-server), now anon-rss:0kB, file-rss:0kB",
		"llama-server invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
		"Out of memory: Kill process 2911 (python3) score 912 or sacrifice child",
		"[   3817]   999  3817 13122089  6233456  6229360     4096         0 50384896        0"
		"             0 llama-server",
		"CPU: 7 PID: 3817 Comm: llama-server Not tainted 6.8.0-49-generic",
		"audit: Killed process 5 (x)",              /* not the OOM killer */
		"Out of memory: Killed process 0 (swapper)", /* pid 0 */
		"Out of memory: Killed process 99999999999 (x)",
		"Out of memory: Killed process 12 llama-server",
		"Out of memory: Killed process 12 (no end",
		"Out of memory: Killed process ",
		"",
	};
	struct probe_oom_kill k;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(other); i++)
		assert_int_equal(probe_parse_oom_kill(other[i], strlen(other[i]), &k), -ENOENT);
}

static void test_oom_summary(void **state)
{
	static const char memcg[] =
		"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=llmem.service,"
		"mems_allowed=0,oom_memcg=/system.slice/llmem.service,"
		"task_memcg=/system.slice/llmem.service,task=llama-server,pid=3817,uid=999";
	static const char global[] =
		"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
		"global_oom,task_memcg=/user.slice/user-1000.slice/session-3.scope,task=python3,"
		"pid=2911,uid=1000\n";
	struct probe_oom_summary s;

	(void)state;
	assert_int_equal(probe_parse_oom_summary(S(memcg), &s), 0);
	assert_int_equal(s.pid, 3817);
	assert_string_equal(s.constraint, "CONSTRAINT_MEMCG");
	assert_string_equal(s.task_memcg, "/system.slice/llmem.service");
	assert_int_equal(probe_parse_oom_summary(S(global), &s), 0);
	assert_int_equal(s.pid, 2911);
	assert_string_equal(s.task_memcg, "/user.slice/user-1000.slice/session-3.scope");
	assert_int_equal(probe_parse_oom_summary(S("oom-kill:constraint=CONSTRAINT_NONE"), &s), -ENOENT);
	assert_int_equal(probe_parse_oom_summary(S("Out of memory: Killed process 1 (x)"), &s), -ENOENT);
	assert_int_equal(probe_parse_oom_summary(S("oom-kill:pid=abc"), &s), -ENOENT);
}

/* ---- /proc/buddyinfo ---------------------------------------------------- */

static void test_buddyinfo(void **state)
{
	static const char live[] =
		"Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
		"Node 0, zone    DMA32      7     10     12      8     10      8      8      8      9      7    747 \n"
		"Node 0, zone   Normal  10752   4397   3788   5408   3331   2129   1280    732    308    484   3999 \n"
		"Node 1, zone   Normal 2011023 874532 398221 110234  25331   4120    633     71      2      0      0 \n";
	struct probe_buddyinfo b;

	(void)state;
	assert_int_equal(probe_parse_buddyinfo(S(live), &b), 0);
	assert_int_equal(b.n_zones, 4);
	assert_string_equal(b.zones[0].zone, "DMA");
	assert_int_equal(b.zones[0].n_orders, 11);
	assert_int_equal(b.zones[0].free[10], 3);
	assert_string_equal(b.zones[2].zone, "Normal");
	assert_int_equal(b.zones[2].free[0], 10752);
	assert_int_equal(b.zones[2].free[10], 3999);
	assert_int_equal(b.zones[3].node, 1);
	assert_int_equal(b.zones[3].free[0], 2011023);
	/* empty is no zone; garbage is an error */
	assert_int_equal(probe_parse_buddyinfo(S(""), &b), 0);
	assert_int_equal(b.n_zones, 0);
	assert_int_equal(probe_parse_buddyinfo(S("Node 0 zone DMA 1 2\n"), &b), -EBADMSG);
	assert_int_equal(probe_parse_buddyinfo(S("Node 0, zone DMA\n"), &b), -EBADMSG);
	assert_int_equal(probe_parse_buddyinfo(S("Node 0, zone DMA 1 x 3\n"), &b), -EBADMSG);
	assert_int_equal(probe_parse_buddyinfo(S("Node 0, area DMA 1\n"), &b), -EBADMSG);
	assert_int_equal(probe_parse_buddyinfo(S("Node 0, zone DMA 99999999999999999999999\n"), &b),
			 -ERANGE);
	assert_int_equal(probe_parse_buddyinfo(S("Node 0, zone DMA 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"),
					       &b), -E2BIG);
}

/* ---- /proc/PID/limits ----------------------------------------------------- */

static const char limits_live[] =
	"Limit                     Soft Limit           Hard Limit           Units     \n"
	"Max cpu time              unlimited            unlimited            seconds   \n"
	"Max stack size            8388608              unlimited            bytes     \n"
	"Max locked memory         8388608              16777216             bytes     \n"
	"Max nice priority         0                    0                    \n";

static void test_limits(void **state)
{
	struct probe_limit l;

	(void)state;
	assert_int_equal(probe_parse_limits(S(limits_live), "Max locked memory", &l), 0);
	assert_int_equal(l.soft, 8 * MIB);
	assert_int_equal(l.hard, 16 * MIB);
	assert_int_equal(probe_parse_limits(S(limits_live), "Max stack size", &l), 0);
	assert_int_equal(l.soft, 8 * MIB);
	assert_int_equal(l.hard, PROBE_UNLIMITED);
	assert_int_equal(probe_parse_limits(S(limits_live), "Max cpu time", &l), 0);
	assert_int_equal(l.soft, PROBE_UNLIMITED);
	assert_int_equal(probe_parse_limits(S(limits_live), "Max nice priority", &l), 0);
	assert_int_equal(l.hard, 0);
	assert_int_equal(probe_parse_limits(S(limits_live), "Max open files", &l), -ENOENT);
	assert_int_equal(probe_parse_limits(S("Max locked memory         lots   8\n"),
					    "Max locked memory", &l), -EBADMSG);
	assert_int_equal(probe_parse_limits(S("Max locked memory         8\n"),
					    "Max locked memory", &l), -EBADMSG);
	/* a longer name that starts the same is another line */
	assert_int_equal(probe_parse_limits(S("Max locked memoryX  1 1\n"), "Max locked memory", &l),
			 -ENOENT);
}

/* ---- /proc/swaps ------------------------------------------------------------ */

static void test_swaps(void **state)
{
	static const char two[] =
		"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
		"/dev/nvme0n1p3                          partition\t8388604\t\t1572860\t\t-2\n"
		"/swap\\040file                           file\t\t2097148\t\t0\t\t-3\n";
	struct probe_swap sw[4];
	size_t n, total;

	(void)state;
	assert_int_equal(probe_parse_swaps(S("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"), sw, 4,
					   &n, &total), 0);
	assert_int_equal(n, 0);
	assert_int_equal(total, 0);
	assert_int_equal(probe_parse_swaps(S(two), sw, 4, &n, &total), 0);
	assert_int_equal(n, 2);
	assert_string_equal(sw[0].name, "/dev/nvme0n1p3");
	assert_string_equal(sw[0].type, "partition");
	assert_int_equal(sw[0].size, 8388604 * KIB);
	assert_int_equal(sw[0].used, 1572860 * KIB);
	assert_int_equal(sw[0].priority, -2);
	assert_string_equal(sw[1].name, "/swap\\040file");
	/* more than fit: counted, not stored */
	assert_int_equal(probe_parse_swaps(S(two), sw, 1, &n, &total), 0);
	assert_int_equal(n, 1);
	assert_int_equal(total, 2);
	assert_int_equal(probe_parse_swaps(S("/dev/sda2 partition 100 10\n"), sw, 4, &n, &total), -EBADMSG);
	assert_int_equal(probe_parse_swaps(S("/dev/sda2 partition x 10 -2\n"), sw, 4, &n, &total), -EBADMSG);
	assert_int_equal(probe_parse_swaps(S("/dev/sda2 partition 99999999999999999999 10 -2\n"), sw, 4,
					   &n, &total), -ERANGE);
	/* a size in KiB that overflows as bytes */
	assert_int_equal(probe_parse_swaps(S("/dev/sda2 partition 18446744073709551615 0 -2\n"), sw, 4,
					   &n, &total), -ERANGE);
}

/* ---- PSI ------------------------------------------------------------------ */

static void test_psi(void **state)
{
	static const char both[] = "some avg10=14.27 avg60=9.81 avg300=3.12 total=981234567\n"
				   "full avg10=3.05 avg60=1.72 avg300=0.51 total=401234567\n";
	static const char some_only[] = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
	struct probe_psi p;

	(void)state;
	assert_int_equal(probe_parse_psi(S(both), &p), 0);
	assert_true(p.some.present);
	assert_int_equal(p.some.avg10, 1427);
	assert_int_equal(p.some.avg60, 981);
	assert_int_equal(p.some.avg300, 312);
	assert_int_equal(p.some.total_us, 981234567);
	assert_true(p.full.present);
	assert_int_equal(p.full.avg10, 305);
	assert_int_equal(p.full.total_us, 401234567);
	assert_int_equal(probe_parse_psi(S(some_only), &p), 0);
	assert_false(p.full.present);
	assert_int_equal(probe_parse_psi(S("some avg10=100.00 avg60=1.5 avg300=2 total=1\n"), &p), 0);
	assert_int_equal(p.some.avg10, 10000);
	assert_int_equal(p.some.avg60, 150);
	assert_int_equal(p.some.avg300, 200);
	assert_int_equal(probe_parse_psi(S(""), &p), -EBADMSG);
	assert_int_equal(probe_parse_psi(S("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"), &p),
			 -EBADMSG);
	assert_int_equal(probe_parse_psi(S("some avg10=0.00 avg60=0.00 total=0\n"), &p), -EBADMSG);
	assert_int_equal(probe_parse_psi(S("some avg10=1.234 avg60=0 avg300=0 total=0\n"), &p), -EBADMSG);
	assert_int_equal(probe_parse_psi(S("some avg10=x avg60=0 avg300=0 total=0\n"), &p), -EBADMSG);
	assert_int_equal(probe_parse_psi(S("some avg10 avg60=0 avg300=0 total=0\n"), &p), -EBADMSG);
	assert_int_equal(probe_parse_psi(S("half avg10=0 avg60=0 avg300=0 total=0\n"), &p), -EBADMSG);
}

/* ---- /proc/PID/status, node meminfo, cmdline, names ------------------------ */

static void test_proc_status(void **state)
{
	static const char st[] = "Name:\tllama-server\nUmask:\t0022\nState:\tS (sleeping)\n"
				 "VmRSS:\t 5242880 kB\nRssAnon:\t 3932160 kB\nVmSwap:\t  262144 kB\n"
				 "CapEff:\t000001fffeffffff\n";
	static const char kthread[] = "Name:\tkworker/0:1\nState:\tI (idle)\n";
	struct probe_proc_status s;

	(void)state;
	assert_int_equal(probe_parse_proc_status(S(st), &s), 0);
	assert_string_equal(s.name, "llama-server");
	assert_int_equal(s.vm_rss, 5 * GIB);
	assert_int_equal(s.vm_swap, 256 * MIB);
	assert_true(s.has_cap_eff);
	assert_int_equal(s.cap_eff, 0x000001fffeffffffULL);
	assert_int_equal(probe_parse_proc_status(S(kthread), &s), 0);
	assert_false(s.has_cap_eff);
	assert_int_equal(s.vm_rss, PROBE_UNKNOWN);
	assert_int_equal(s.vm_swap, PROBE_UNKNOWN);
	assert_int_equal(probe_parse_proc_status(S("VmRSS:\t 1 kB\n"), &s), -EBADMSG);
	assert_int_equal(probe_parse_proc_status(S("Name:\tx\nVmSwap:\t lots kB\n"), &s), -EBADMSG);
	assert_int_equal(probe_parse_proc_status(S("Name:\tx\nVmSwap:\t 12 MB\n"), &s), -EBADMSG);
	assert_int_equal(probe_parse_proc_status(S("Name:\tx\nCapEff:\t0000000g\n"), &s), -EBADMSG);
	assert_int_equal(probe_parse_proc_status(S("Name:\tx\nCapEff:\t00000000000000000\n"), &s),
			 -EBADMSG);
}

static void test_node_meminfo(void **state)
{
	static const char n0[] = "Node 0 MemTotal:       24684092 kB\nNode 0 MemFree:        22360628 kB\n"
				 "Node 0 MemUsed:         2323464 kB\nNode 0 HugePages_Total:     0\n";
	uint64_t total, free_bytes;

	(void)state;
	assert_int_equal(probe_parse_node_meminfo(S(n0), &total, &free_bytes), 0);
	assert_int_equal(total, 24684092 * KIB);
	assert_int_equal(free_bytes, 22360628 * KIB);
	assert_int_equal(probe_parse_node_meminfo(S("Node 0 MemFree: 1 kB\n"), &total, &free_bytes),
			 -EBADMSG);
	assert_int_equal(probe_parse_node_meminfo(S("MemTotal: 1 kB\n"), &total, &free_bytes), -EBADMSG);
	assert_int_equal(probe_parse_node_meminfo(S("Node 0 MemTotal: x kB\n"), &total, &free_bytes),
			 -EBADMSG);
}

static void test_cmdline_and_names(void **state)
{
	static const char cmd[] = "/usr/local/bin/llama-server\0-m\0model.gguf\0";
	char a0[32], a1[32];

	(void)state;
	probe_parse_cmdline(cmd, sizeof(cmd) - 1, a0, sizeof(a0), a1, sizeof(a1));
	assert_string_equal(a0, "llama-server");
	assert_string_equal(a1, "-m");
	probe_parse_cmdline(S("llmem\0serve\0"), a0, sizeof(a0), a1, sizeof(a1));
	assert_string_equal(a0, "llmem");
	assert_string_equal(a1, "serve");
	probe_parse_cmdline(S(""), a0, sizeof(a0), a1, sizeof(a1));
	assert_string_equal(a0, "");
	assert_string_equal(a1, "");
	/* no trailing NUL (a process that rewrote its arguments), control bytes */
	probe_parse_cmdline(S("/bin/x\ny\0last"), a0, sizeof(a0), a1, sizeof(a1));
	assert_string_equal(a0, "x?y");
	assert_string_equal(a1, "last");

	assert_true(probe_model_proc_name("llama-server"));
	assert_true(probe_model_proc_name("ollama"));
	assert_true(probe_model_proc_name("ollama_llama_se"));
	assert_true(probe_model_proc_name("llamafile"));
	assert_true(probe_model_proc_name("llmem"));
	assert_false(probe_model_proc_name("llama-server2"));
	assert_false(probe_model_proc_name("python3"));
	assert_false(probe_model_proc_name(""));
	assert_false(probe_model_proc_name(NULL));
}

/* ---- the checks on hand-made facts ---------------------------------------- */

/* A healthy machine: 64 GiB, no swap, THP madvise, nothing wrong. */
static struct probe_doctor_facts *facts_healthy(void)
{
	struct probe_doctor_facts *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->probe.mem.mem_total = 64 * GIB;
	f->probe.mem.mem_free = 48 * GIB;
	f->probe.mem.mem_available = 56 * GIB;
	f->probe.mem.hugepage_size = 2 * MIB;
	f->probe.mem.commit_limit = 32 * GIB;
	f->probe.mem.committed_as = 4 * GIB;
	f->probe.thp = PROBE_THP_MADVISE;
	f->probe.cgroup.version = 2;
	strcpy(f->probe.cgroup.path, "/user.slice");
	f->probe.cgroup.max = f->probe.cgroup.high = PROBE_UNLIMITED;
	f->probe.cgroup.current = PROBE_UNKNOWN;
	f->probe.n_devices = 1;
	f->swappiness = 60;
	strcpy(f->thp_defrag, "madvise");
	f->overcommit_memory = 0;
	f->overcommit_ratio = 50;
	f->memlock.soft = f->memlock.hard = PROBE_UNLIMITED;
	f->psi.some.present = f->psi.full.present = true;
	f->uptime_us = PROBE_UNKNOWN;
	f->n_nodes = 1;
	f->nodes[0].total = 64 * GIB;
	f->numa_balancing = 0;
	f->buddy.n_zones = 1;
	f->buddy.zones[0].n_orders = 11;
	f->buddy.zones[0].free[10] = 10000; /* 39 GiB in 4 MiB blocks */
	return f;
}

static const struct probe_check *find(const struct probe_doctor_report *r, const char *id)
{
	for (size_t i = 0; i < r->n_checks; i++)
		if (!strcmp(r->checks[i].id, id))
			return &r->checks[i];
	fail_msg("no check %s", id);
	return NULL;
}

static uint8_t verdict_of(const struct probe_doctor_facts *f, const char *id)
{
	static struct probe_doctor_report r; /* test code: a large struct off the stack */

	probe_doctor_check(f, &r);
	return find(&r, id)->verdict;
}

static void test_checks_healthy(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();
	struct probe_doctor_report *r = calloc(1, sizeof(*r));

	(void)state;
	probe_doctor_check(f, r);
	assert_int_equal(r->n_checks, 13);
	assert_int_equal(r->n_ok, 13);
	for (size_t i = 0; i < r->n_checks; i++) {
		assert_true(r->checks[i].found[0]);
		assert_true(r->checks[i].why[0]);
		assert_false(r->checks[i].fix[0]);
	}
	free(r);
	free(f);
}

static void test_check_swap(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();

	(void)state;
	f->probe.mem.swap_total = 8 * GIB;
	f->probe.mem.swap_free = 8 * GIB;
	f->swappiness = PROBE_DOCTOR_SWAPPINESS_MAX;
	assert_int_equal(verdict_of(f, "swap"), PROBE_VERDICT_OK);
	f->swappiness = PROBE_DOCTOR_SWAPPINESS_MAX + 1;
	assert_int_equal(verdict_of(f, "swap"), PROBE_VERDICT_WARN);
	f->probe.mem.swap_total = f->probe.mem.swap_free = 0;
	assert_int_equal(verdict_of(f, "swap"), PROBE_VERDICT_OK);
	free(f);
}

static void test_check_model_swap(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();

	(void)state;
	f->n_mprocs = 1;
	f->mprocs[0].pid = 4242;
	strcpy(f->mprocs[0].name, "llama-server");
	f->mprocs[0].vm_rss = 9 * GIB;
	f->mprocs[0].vm_swap = 0;
	assert_int_equal(verdict_of(f, "model-swap"), PROBE_VERDICT_OK);
	f->mprocs[0].vm_swap = 4 * KIB;
	assert_int_equal(verdict_of(f, "model-swap"), PROBE_VERDICT_WARN);
	f->mprocs[0].vm_swap = 1 * GIB; /* a tenth of 10 GiB */
	assert_int_equal(verdict_of(f, "model-swap"), PROBE_VERDICT_BAD);
	f->mprocs[0].vm_swap = PROBE_UNKNOWN;
	assert_int_equal(verdict_of(f, "model-swap"), PROBE_VERDICT_OK);
	free(f);
}

static void test_check_thp_hugetlb_fragmentation(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();

	(void)state;
	f->probe.thp = PROBE_THP_ALWAYS;
	assert_int_equal(verdict_of(f, "thp"), PROBE_VERDICT_WARN);
	f->probe.thp = PROBE_THP_NEVER;
	assert_int_equal(verdict_of(f, "thp"), PROBE_VERDICT_OK);
	f->probe.thp = PROBE_THP_MADVISE;
	f->thp_defrag_state = PROBE_READ_OK;
	strcpy(f->thp_defrag, "always");
	assert_int_equal(verdict_of(f, "thp"), PROBE_VERDICT_WARN);
	strcpy(f->thp_defrag, "madvise");

	f->probe.mem.hugepages_total = 1024;
	f->probe.mem.hugepages_free = 511; /* under 1 GiB free */
	assert_int_equal(verdict_of(f, "hugetlb"), PROBE_VERDICT_OK);
	f->probe.mem.hugepages_free = 512;
	assert_int_equal(verdict_of(f, "hugetlb"), PROBE_VERDICT_WARN);

	/* 4 GiB free in 4 KiB pages, 1 GiB in 2 MiB blocks: 20% */
	memset(&f->buddy, 0, sizeof(f->buddy));
	f->buddy.n_zones = 1;
	f->buddy.zones[0].n_orders = 11;
	f->buddy.zones[0].free[0] = 4 * GIB / 4096;
	f->buddy.zones[0].free[9] = 512;
	assert_int_equal(verdict_of(f, "fragmentation"), PROBE_VERDICT_WARN);
	f->buddy.zones[0].free[9] = 1024 * 2; /* 4 GiB of 8: 50% */
	assert_int_equal(verdict_of(f, "fragmentation"), PROBE_VERDICT_OK);
	f->buddy.zones[0].free[9] = 0;
	f->probe.thp = PROBE_THP_NEVER; /* no huge pages wanted: not checked */
	assert_int_equal(verdict_of(f, "fragmentation"), PROBE_VERDICT_OK);
	free(f);
}

static void test_check_overcommit_memlock(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();

	(void)state;
	f->overcommit_memory = 1;
	assert_int_equal(verdict_of(f, "overcommit"), PROBE_VERDICT_OK);
	f->overcommit_memory = 2;
	assert_int_equal(verdict_of(f, "overcommit"), PROBE_VERDICT_WARN);
	f->n_models = 1;
	strcpy(f->models[0].name, "m.gguf");
	f->models[0].bytes = 28 * GIB; /* exactly what is left: fits */
	assert_int_equal(verdict_of(f, "overcommit"), PROBE_VERDICT_WARN);
	f->models[0].bytes = 28 * GIB + 1;
	assert_int_equal(verdict_of(f, "overcommit"), PROBE_VERDICT_BAD);

	f->memlock.soft = f->memlock.hard = 8 * MIB;
	assert_int_equal(verdict_of(f, "memlock"), PROBE_VERDICT_WARN);
	f->cap_ipc_lock = true; /* root: --mlock locks past the limit */
	assert_int_equal(verdict_of(f, "memlock"), PROBE_VERDICT_OK);
	f->cap_ipc_lock = false;
	f->memlock.soft = 28 * GIB + 1;
	assert_int_equal(verdict_of(f, "memlock"), PROBE_VERDICT_OK);
	f->n_models = 0; /* no model: the limit is only reported */
	f->memlock.soft = 8 * MIB;
	assert_int_equal(verdict_of(f, "memlock"), PROBE_VERDICT_OK);
	f->memlock_state = PROBE_READ_DENIED;
	assert_int_equal(verdict_of(f, "memlock"), PROBE_VERDICT_OK);
	free(f);
}

static void test_check_psi(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();

	(void)state;
	f->psi.some.avg10 = PROBE_DOCTOR_PSI_SOME_WARN - 1;
	f->psi.full.avg10 = PROBE_DOCTOR_PSI_FULL_WARN - 1;
	assert_int_equal(verdict_of(f, "psi"), PROBE_VERDICT_OK);
	f->psi.some.avg10 = PROBE_DOCTOR_PSI_SOME_WARN;
	assert_int_equal(verdict_of(f, "psi"), PROBE_VERDICT_WARN);
	f->psi.some.avg10 = 0;
	f->psi.full.avg10 = PROBE_DOCTOR_PSI_FULL_WARN;
	assert_int_equal(verdict_of(f, "psi"), PROBE_VERDICT_WARN);
	f->psi.full.avg10 = PROBE_DOCTOR_PSI_FULL_BAD;
	assert_int_equal(verdict_of(f, "psi"), PROBE_VERDICT_BAD);
	f->psi_state = PROBE_READ_ABSENT;
	assert_int_equal(verdict_of(f, "psi"), PROBE_VERDICT_WARN);
	f->psi_state = PROBE_READ_UNSUPPORTED;
	assert_int_equal(verdict_of(f, "psi"), PROBE_VERDICT_WARN);
	free(f);
}

static void test_check_oom(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();

	(void)state;
	f->kmsg_state = PROBE_READ_DENIED;
	assert_int_equal(verdict_of(f, "oom"), PROBE_VERDICT_OK);
	f->n_cg_ooms = 1;
	strcpy(f->cg_ooms[0].path, "/system.slice/ollama.service");
	f->cg_ooms[0].oom_kill = 2;
	assert_int_equal(verdict_of(f, "oom"), PROBE_VERDICT_WARN);
	f->n_cg_ooms = 0;
	f->kmsg_state = PROBE_READ_OK;
	f->n_ooms = f->n_ooms_total = 1;
	f->ooms[0].pid = 2911;
	strcpy(f->ooms[0].comm, "python3");
	f->ooms[0].usec = f->ooms[0].anon_rss = PROBE_UNKNOWN;
	assert_int_equal(verdict_of(f, "oom"), PROBE_VERDICT_WARN);
	strcpy(f->ooms[0].comm, "llama-server");
	assert_int_equal(verdict_of(f, "oom"), PROBE_VERDICT_BAD);
	free(f);
}

static void test_check_cgroup_numa(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();

	(void)state;
	f->probe.cgroup.high = 64 * GIB;
	assert_int_equal(verdict_of(f, "cgroup"), PROBE_VERDICT_OK);
	f->probe.cgroup.high = 16 * GIB;
	assert_int_equal(verdict_of(f, "cgroup"), PROBE_VERDICT_WARN);
	f->n_models = 1;
	f->models[0].bytes = 16 * GIB + 1;
	assert_int_equal(verdict_of(f, "cgroup"), PROBE_VERDICT_BAD);
	f->probe.cgroup.high = PROBE_UNLIMITED;
	/* a model server's cgroup counts too */
	f->n_mprocs = 1;
	f->mprocs[0].cg_version = 2;
	strcpy(f->mprocs[0].cgroup, "/system.slice/llama.service");
	strcpy(f->mprocs[0].cg_limit_path, "/system.slice/llama.service");
	f->mprocs[0].cg_limit = 8 * GIB;
	assert_int_equal(verdict_of(f, "cgroup"), PROBE_VERDICT_BAD);

	f->n_nodes = 2;
	f->nodes[1].id = 1;
	f->nodes[1].total = 64 * GIB;
	assert_int_equal(verdict_of(f, "numa"), PROBE_VERDICT_WARN);
	free(f);
}

static void test_check_amd_gtt(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();
	struct probe_device *d = &f->probe.devices[1];

	(void)state;
	f->probe.mem.mem_total = 128 * GIB;
	f->probe.n_devices = 2;
	d->vendor = PROBE_VENDOR_AMD;
	d->kind = PROBE_DEV_UNIFIED;
	strcpy(d->id, "ROCm0");
	d->amd.gtt_limit = 64 * GIB;
	assert_int_equal(verdict_of(f, "amd-gtt"), PROBE_VERDICT_WARN);
	d->amd.gtt_limit = 96 * GIB; /* 75% */
	assert_int_equal(verdict_of(f, "amd-gtt"), PROBE_VERDICT_OK);
	d->kind = PROBE_DEV_DISCRETE;
	d->amd.gtt_limit = 1 * GIB;
	assert_int_equal(verdict_of(f, "amd-gtt"), PROBE_VERDICT_OK);
	/* RAM less 4 GiB (or 1/32 of it), whole GiB */
	assert_int_equal(probe_doctor_gtt_target(128 * GIB), 124 * GIB);
	assert_int_equal(probe_doctor_gtt_target(256 * GIB), 248 * GIB);
	assert_int_equal(probe_doctor_gtt_target(132966052 * KIB), 122 * GIB);
	assert_int_equal(probe_doctor_gtt_target(4 * GIB), 0);
	free(f);
}

static void test_check_gpu_procs(void **state)
{
	struct probe_doctor_facts *f = facts_healthy();
	struct probe_device *d = &f->probe.devices[1];

	(void)state;
	f->probe.n_devices = 2;
	d->vendor = PROBE_VENDOR_NVIDIA;
	d->kind = PROBE_DEV_DISCRETE;
	strcpy(d->id, "CUDA0");
	d->n_procs = 1;
	d->procs[0].pid = 1873;
	d->procs[0].type = PROBE_PROC_GRAPHICS;
	d->procs[0].used = 300 * MIB;
	assert_int_equal(verdict_of(f, "gpu-procs"), PROBE_VERDICT_OK);
	d->procs[0].used = 1 * GIB;
	assert_int_equal(verdict_of(f, "gpu-procs"), PROBE_VERDICT_WARN);
	d->procs[0].used = PROBE_UNKNOWN;
	d->procs[0].type = PROBE_PROC_COMPUTE;
	assert_int_equal(verdict_of(f, "gpu-procs"), PROBE_VERDICT_WARN);
	free(f);
}

/* ---- the fixture trees ------------------------------------------------------ */

static struct probe_doctor_facts *read_fixture(const char *name)
{
	struct probe_doctor_facts *f = calloc(1, sizeof(*f));
	struct probe_options o = { 0 };
	char root[256];
	struct diag d;

	assert_non_null(f);
	snprintf(root, sizeof(root), "%s/%s", FIXTURES, name);
	o.root = root;
	diag_init(&d);
	assert_int_equal(probe_doctor_read(&o, f, &d), 0);
	return f;
}

static void test_fixture_oom(void **state)
{
	struct probe_doctor_facts *f = read_fixture("oom-llama");

	(void)state;
	assert_int_equal(f->kmsg_state, PROBE_READ_OK);
	/* the LOG_USER line that looks like a kill is not counted */
	assert_int_equal(f->n_ooms_total, 2);
	assert_int_equal(f->ooms[0].pid, 2911);
	assert_false(f->ooms[0].memcg);
	assert_string_equal(f->ooms[0].task_memcg, "/user.slice/user-1000.slice/session-3.scope");
	assert_int_equal(f->ooms[1].pid, 3817);
	assert_string_equal(f->ooms[1].comm, "llama-server");
	assert_true(f->ooms[1].memcg);
	assert_string_equal(f->ooms[1].task_memcg, "/system.slice/llmem.service");
	assert_int_equal(f->ooms[1].usec, 2843112620ULL);
	assert_int_equal(f->ooms[1].anon_rss, 24917440 * KIB);
	assert_int_equal(f->uptime_us, 10243550000ULL);
	assert_int_equal(f->n_mprocs, 2);
	assert_int_equal(f->mprocs[0].pid, 1500);
	assert_string_equal(f->mprocs[0].name, "llmem");
	assert_int_equal(f->mprocs[1].pid, 4242);
	assert_int_equal(f->mprocs[1].cg_limit, 24 * GIB);
	assert_string_equal(f->mprocs[1].cg_limit_path, "/system.slice/llmem.service");
	assert_int_equal(f->n_cg_ooms, 2);
	assert_string_equal(f->cg_ooms[1].path, "/system.slice/llmem.service");
	assert_int_equal(f->cg_ooms[1].oom_kill, 1);
	assert_int_equal(f->cg_ooms[0].oom_kill, 0);
	free(f);
}

static void test_fixture_desktop_swap(void **state)
{
	struct probe_doctor_facts *f = read_fixture("desktop-swap");

	(void)state;
	assert_int_equal(f->swaps_state, PROBE_READ_OK);
	assert_int_equal(f->n_swaps, 1);
	assert_string_equal(f->swaps[0].name, "/dev/nvme0n1p3");
	assert_int_equal(f->swaps[0].used, 1572860 * KIB);
	assert_int_equal(f->swappiness, 60);
	assert_int_equal(f->n_mprocs, 2);
	assert_string_equal(f->mprocs[0].name, "ollama");
	assert_int_equal(f->mprocs[1].vm_swap, 256 * MIB);
	assert_true(f->memlock_from_file);
	assert_int_equal(f->memlock.soft, 8 * MIB);
	assert_int_equal(f->psi.some.avg10, 1427);
	free(f);
}

static void test_fixture_server(void **state)
{
	struct probe_doctor_facts *f = read_fixture("server-thp");

	(void)state;
	assert_int_equal(f->probe.thp, PROBE_THP_ALWAYS);
	assert_string_equal(f->thp_defrag, "always");
	assert_int_equal(f->n_nodes, 2);
	assert_int_equal(f->nodes[1].id, 1);
	assert_int_equal(f->numa_balancing, 1);
	assert_int_equal(f->buddy.n_zones, 4);
	assert_int_equal(f->probe.mem.hugepages_total, 16384);
	free(f);
}

static void test_fixture_missing_files(void **state)
{
	/* a probe fixture: meminfo and cgroup, none of doctor's files */
	struct probe_doctor_facts *f = calloc(1, sizeof(*f));
	struct probe_options o = { .root = "tests/fixtures/probe/container-v2-16g" };
	struct probe_doctor_report *r = calloc(1, sizeof(*r));
	struct diag d;

	(void)state;
	assert_non_null(f);
	assert_non_null(r);
	diag_init(&d);
	assert_int_equal(probe_doctor_read(&o, f, &d), 0);
	assert_int_equal(f->kmsg_state, PROBE_READ_ABSENT);
	assert_int_equal(f->psi_state, PROBE_READ_ABSENT);
	assert_int_equal(f->swappiness, -1);
	assert_int_equal(f->overcommit_memory, -1);
	assert_int_equal(f->n_mprocs, 0);
	probe_doctor_check(f, r);
	assert_int_equal(r->n_checks, 13);
	assert_int_equal(find(r, "cgroup")->verdict, PROBE_VERDICT_WARN);
	free(r);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kmsg_record),
		cmocka_unit_test(test_kmsg_record_bad),
		cmocka_unit_test(test_oom_kill),
		cmocka_unit_test(test_oom_kill_not),
		cmocka_unit_test(test_oom_summary),
		cmocka_unit_test(test_buddyinfo),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_swaps),
		cmocka_unit_test(test_psi),
		cmocka_unit_test(test_proc_status),
		cmocka_unit_test(test_node_meminfo),
		cmocka_unit_test(test_cmdline_and_names),
		cmocka_unit_test(test_checks_healthy),
		cmocka_unit_test(test_check_swap),
		cmocka_unit_test(test_check_model_swap),
		cmocka_unit_test(test_check_thp_hugetlb_fragmentation),
		cmocka_unit_test(test_check_overcommit_memlock),
		cmocka_unit_test(test_check_psi),
		cmocka_unit_test(test_check_oom),
		cmocka_unit_test(test_check_cgroup_numa),
		cmocka_unit_test(test_check_amd_gtt),
		cmocka_unit_test(test_check_gpu_procs),
		cmocka_unit_test(test_fixture_oom),
		cmocka_unit_test(test_fixture_desktop_swap),
		cmocka_unit_test(test_fixture_server),
		cmocka_unit_test(test_fixture_missing_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
