/* test-pressure.c: `llmem serve` under memory pressure and in cgroups
 * (issue #7 items 4 and 5): the budget rule (src/serve/pressure.c) on
 * made-up numbers and on fixture trees written here, the reason evictions
 * get through the scheduler (sched_set_budget_why()), and the cgroup code
 * (src/serve/cgroup.c): its parsers and names, and the delegation checks on
 * fixture trees that are not delegated (a real delegated cgroup is
 * tests/integration/t-serve-cgroup.sh's). */
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "serve/cgroup.h"
#include "serve/pressure.h"
#include "serve/sched.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (MIB * 1024)
#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- fixture trees ---- */

static char tree[256];

static void tree_new(void)
{
	snprintf(tree, sizeof(tree), "%s/test-pressure.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tree));
}

/* mkdir -p of tree/rel's directory, then the file */
static void put(const char *rel, const char *text)
{
	char p[1024];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	for (char *s = p + strlen(tree) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		(void)mkdir(p, 0755);
		*s = '/';
	}
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void mkd(const char *rel)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static bool there(const char *rel)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	return access(p, F_OK) == 0;
}

static void tree_free(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
	assert_int_equal(system(cmd), 0);
}

/* ---- the rule ---- */

/* the daemon's two steps at once: the reading (its thread), then the rule
 * (its loop) */
static int budget_hook(struct pressure_cfg *c, const uint64_t *held, uint64_t *budget, struct serve_pressure *p)
{
	int e = pressure_budget_read(c, p);

	if (e == 0)
		pressure_budget_apply(c, held, budget, p);
	return e;
}

static void test_budget_rule(void **state UNUSED)
{
	/* held + available - headroom */
	assert_int_equal(pressure_budget_compute(UINT64_MAX, 4 * GIB, 10 * GIB, 2 * GIB), 12 * GIB);
	/* the configured budget caps it */
	assert_int_equal(pressure_budget_compute(8 * GIB, 4 * GIB, 10 * GIB, 2 * GIB), 8 * GIB);
	/* others took memory: below what is held */
	assert_int_equal(pressure_budget_compute(UINT64_MAX, 4 * GIB, 1 * GIB, 2 * GIB), 3 * GIB);
	/* nothing left at all */
	assert_int_equal(pressure_budget_compute(UINT64_MAX, 1 * GIB, 0, 2 * GIB), 0);
	assert_int_equal(pressure_budget_compute(UINT64_MAX, 0, 0, 0), 0);
	/* saturates */
	assert_int_equal(pressure_budget_compute(UINT64_MAX, UINT64_MAX, UINT64_MAX, 1), UINT64_MAX - 1);
	assert_int_equal(pressure_budget_compute(5, UINT64_MAX, 10, 0), 5);
	/* what is held fits exactly while available holds the headroom */
	for (uint64_t avail = 0; avail <= 4 * GIB; avail += 256 * MIB) {
		uint64_t held = 3 * GIB, hr = 2 * GIB;
		uint64_t b = pressure_budget_compute(UINT64_MAX, held, avail, hr);

		assert_true((held <= b) == (avail >= hr));
	}
}

static void test_reason(void **state UNUSED)
{
	struct serve_pressure p;
	char buf[SCHED_REASON_LEN];

	memset(&p, 0, sizeof(p));
	p.known = true;
	p.mem_available = p.available = 812 * MIB;
	p.cgroup_available = UINT64_MAX;
	p.headroom = 2 * GIB;
	pressure_reason_format(buf, sizeof(buf), &p);
	assert_string_equal(buf, "memory pressure: MemAvailable 812 MiB, under the headroom of 2048 MiB");
	p.cgroup_available = p.available = 100 * MIB;
	pressure_reason_format(buf, sizeof(buf), &p);
	assert_string_equal(buf, "memory pressure: the cgroup's limit leaves 100 MiB, under the headroom of 2048 MiB");
	p.mem_available = p.available = 3 * GIB;
	p.cgroup_available = UINT64_MAX;
	pressure_reason_format(buf, sizeof(buf), &p);
	assert_string_equal(buf, "");
	p.known = false;
	p.available = 0;
	pressure_reason_format(buf, sizeof(buf), &p);
	assert_string_equal(buf, "");
}

/* ---- the readings, on a fixture tree ---- */

static void machine(const char *avail_kb)
{
	char mi[512];

	snprintf(mi, sizeof(mi),
		 "MemTotal:       24684092 kB\nMemFree:        1000000 kB\nMemAvailable:   %s kB\n"
		 "Buffers:           13120 kB\nCached:           712216 kB\n", avail_kb);
	put("proc/meminfo", mi);
}

static void test_read_and_hook(void **state UNUSED)
{
	struct pressure_cfg c;
	struct serve_pressure p;
	uint64_t held[SCHED_MAX_POOLS] = { 3 * GIB, 5 * GIB }, budget[SCHED_MAX_POOLS];
	struct diag d;

	tree_new();
	machine("2097152"); /* 2 GiB */
	put("proc/pressure/memory", "some avg10=12.34 avg60=1.00 avg300=0.10 total=12345\n"
				    "full avg10=2.50 avg60=0.00 avg300=0.00 total=678\n");
	assert_int_equal(pressure_cfg_init(&c), 0);
	c.root = tree;
	c.n_pools = 2;
	c.budget[0] = 20 * GIB;
	c.budget[1] = 22 * GIB;
	c.headroom = 1 * GIB;
	memset(&p, 0, sizeof(p));
	diag_init(&d);
	assert_int_equal(pressure_read(&c, &p, &d), 0);
	assert_int_equal(p.mem_available, 2 * GIB);
	assert_int_equal(p.available, 2 * GIB);
	assert_true(p.cgroup_available == UINT64_MAX);
	assert_true(p.has_psi);
	assert_int_equal(p.psi_some_avg10, 1234);
	assert_int_equal(p.psi_full_avg10, 250);

	/* the hook: pool 0 by the rule, the GPU's as configured */
	memset(&p, 0, sizeof(p));
	assert_int_equal(budget_hook(&c, held, budget, &p), 0);
	assert_int_equal(budget[0], 4 * GIB);
	assert_int_equal(budget[1], 22 * GIB);
	assert_true(p.known);
	assert_int_equal(p.held, 3 * GIB);
	assert_int_equal(p.budget, 4 * GIB);
	assert_string_equal(p.why, "");
	assert_false(p.psi_trigger);

	/* others grew: 512 MiB left, under the headroom */
	machine("524288");
	assert_int_equal(budget_hook(&c, held, budget, &p), 0);
	assert_int_equal(budget[0], 3 * GIB - 512 * MIB);
	assert_string_equal(p.why, "memory pressure: MemAvailable 512 MiB, under the headroom of 1024 MiB");

	/* the backends' mapped weights are in MemAvailable and in held: they
	 * are taken off MemAvailable */
	machine("2097152");
	p.mapped = 256 * MIB;
	assert_int_equal(budget_hook(&c, held, budget, &p), 0);
	assert_int_equal(p.available, 2 * GIB - 256 * MIB);
	assert_int_equal(budget[0], 3 * GIB + 2 * GIB - 256 * MIB - 1 * GIB);
	assert_string_equal(p.why, "");
	machine("1048576");
	assert_int_equal(budget_hook(&c, held, budget, &p), 0);
	assert_string_equal(p.why, "memory pressure: MemAvailable 1024 MiB less the models' mapped files "
			    "256 MiB is under the headroom of 1024 MiB");
	p.mapped = 4 * GIB; /* more than MemAvailable: nothing left */
	assert_int_equal(budget_hook(&c, held, budget, &p), 0);
	assert_int_equal(p.available, 0);
	assert_int_equal(budget[0], 2 * GIB);
	p.mapped = 0;

	/* --budget caps it */
	c.cap = 2 * GIB;
	machine("20971520");
	assert_int_equal(budget_hook(&c, held, budget, &p), 0);
	assert_int_equal(budget[0], 2 * GIB);

	/* a cgroup v2 limit of 8 GiB with 7.5 GiB in use (256 MiB of it
	 * reclaimable): 768 MiB left, less than MemAvailable */
	c.cap = UINT64_MAX;
	put("proc/self/cgroup", "0::/svc\n");
	put("sys/fs/cgroup/svc/memory.max", "8589934592\n");
	put("sys/fs/cgroup/svc/memory.current", "8053063680\n");
	put("sys/fs/cgroup/svc/memory.stat", "anon 1\ninactive_file 268435456\n");
	assert_int_equal(budget_hook(&c, held, budget, &p), 0);
	assert_int_equal(p.cgroup_available, 768 * MIB);
	assert_int_equal(p.available, 768 * MIB);
	assert_int_equal(budget[0], 3 * GIB + 768 * MIB - 1 * GIB);
	assert_string_equal(p.why, "memory pressure: the cgroup's limit leaves 768 MiB, under the headroom of 1024 MiB");

	/* no PSI: fine; no meminfo: an error, the budgets stay */
	put("proc/pressure/memory", "garbage\n");
	assert_int_equal(budget_hook(&c, held, budget, &p), 0);
	assert_false(p.has_psi);
	{
		char mi[1024];

		snprintf(mi, sizeof(mi), "%s/proc/meminfo", tree);
		assert_int_equal(unlink(mi), 0);
	}
	assert_true(budget_hook(&c, held, budget, &p) < 0);

	/* a trigger cannot be made on a fixture's regular file */
	assert_true(pressure_trigger_open(&c) < 0);
	assert_int_equal(c.trigger_fd, -1);
	assert_non_null(strstr(c.trigger_why, "no PSI trigger"));
	put("proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
	assert_true(pressure_trigger_open(&c) < 0);
	assert_non_null(strstr(c.trigger_why, "no PSI trigger"));
	pressure_cfg_release(&c);
	tree_free();
}

/* ---- the reason, through the scheduler ---- */

static int plan_10(void *ctx, size_t model, const uint64_t *avail, struct sched_plan *plan)
{
	(void)ctx;
	plan->need[0] = 10;
	plan->fits = avail[0] >= 10;
	plan->id = (uint32_t)model + 1;
	if (!plan->fits)
		snprintf(plan->why, sizeof(plan->why), "model %zu does not fit", model);
	return 0;
}

static size_t count_stops(const struct sched_actions *out, const char *reason)
{
	size_t n = 0;

	for (size_t i = 0; i < out->n; i++)
		n += out->v[i].kind == SCHED_ACT_STOP && !strcmp(out->v[i].reason, reason);
	return n;
}

static void test_sched_reason(void **state UNUSED)
{
	static const char why[] = "memory pressure: MemAvailable 10 MiB, under the headroom of 2048 MiB";
	struct sched_options opt;
	struct sched_model_cfg cfg[3];
	struct sched s;
	struct sched_action v[64];
	struct sched_actions out = { v, 0, 64, false };
	uint64_t b[SCHED_MAX_POOLS] = { 0 };
	int64_t now = 1000;

	memset(&opt, 0, sizeof(opt));
	opt.n_pools = 1;
	opt.budget[0] = 100;
	opt.max_queue = 4;
	opt.wait_ms = 1000;
	opt.plan = plan_10;
	memset(cfg, 0, sizeof(cfg));
	for (int i = 0; i < 3; i++) {
		cfg[i].slots = 1;
		cfg[i].keep_alive_ms = -1;
	}
	cfg[2].pin = true;
	assert_int_equal(sched_init(&s, &opt, 3, cfg), 0);
	/* three models loaded and idle (model 2 pinned) */
	for (size_t m = 0; m < 3; m++) {
		out.n = 0;
		sched_load(&s, now++, m, SCHED_KEEP_ALIVE_DEFAULT, &out);
		assert_int_equal(out.n, 1);
		assert_int_equal(v[0].kind, SCHED_ACT_LOAD);
		out.n = 0;
		sched_loaded(&s, now++, m, NULL, &out);
		assert_int_equal(s.models[m].state, SCHED_READY);
	}
	/* the budget falls to 15: two idle unpinned models go, with the reason */
	b[0] = 15;
	out.n = 0;
	sched_set_budget_why(&s, now++, b, why, &out);
	assert_int_equal(count_stops(&out, why), 2);
	assert_string_equal(s.models[0].reason, why);
	assert_string_equal(s.models[1].reason, why);
	assert_int_equal(s.models[2].state, SCHED_READY);
	assert_int_equal(s.models[0].n_stops[SCHED_STOP_PRESSURE], 1);
	for (size_t m = 0; m < 2; m++) {
		out.n = 0;
		sched_exited(&s, now++, m, SCHED_EXIT_STOPPED, "stopped", &out);
		assert_int_equal(s.models[m].state, SCHED_UNLOADED);
	}
	/* while it lasts, a load does not fit */
	out.n = 0;
	sched_request(&s, now++, 0, 77, SCHED_KEEP_ALIVE_DEFAULT, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(v[0].kind, SCHED_ACT_REJECT);
	assert_int_equal(v[0].status, 503);
	/* pressure gone: a request loads it again */
	b[0] = 100;
	out.n = 0;
	sched_set_budget_why(&s, now++, b, "", &out);
	assert_int_equal(out.n, 0);
	out.n = 0;
	sched_request(&s, now++, 0, 78, SCHED_KEEP_ALIVE_DEFAULT, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(v[0].kind, SCHED_ACT_LOAD);
	/* without a why, "memory pressure" as before */
	out.n = 0;
	sched_loaded(&s, now++, 0, NULL, &out);
	out.n = 0;
	sched_request_done(&s, now++, 78, &out);
	b[0] = 10;
	out.n = 0;
	sched_set_budget(&s, now++, b, &out);
	assert_int_equal(count_stops(&out, "memory pressure"), 1);
	sched_release(&s);
}

/* ---- cgroups: pure ---- */

static void test_cgroup_pure(void **state UNUSED)
{
	uint64_t k = 99;
	char buf[256];
	pid_t pid;

	assert_int_equal(cgroup_limit_compute(0), 256 * MIB);
	assert_int_equal(cgroup_limit_compute(1000 * MIB), 1100 * MIB + 256 * MIB);
	assert_true(cgroup_limit_compute(UINT64_MAX - 5) == UINT64_MAX);

	assert_int_equal(cgroup_parse_oom_kills(S("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n"), &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(cgroup_parse_oom_kills(S("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), &k), 0);
	assert_int_equal(k, 3);
	assert_int_equal(cgroup_parse_oom_kills(S("oom_kill_disable 0\nunder_oom 0\n"), &k), -ENOENT);
	assert_int_equal(cgroup_parse_oom_kills(S("oom_kill x\n"), &k), -EBADMSG);
	assert_int_equal(cgroup_parse_oom_kills(S("oom_kill 1 2\n"), &k), -EBADMSG);
	assert_int_equal(cgroup_parse_oom_kills(S("oom_kill 99999999999999999999999\n"), &k), -EBADMSG);
	assert_int_equal(cgroup_parse_oom_kills(S("oom_kill 7"), &k), 0); /* no newline */
	assert_int_equal(k, 7);
	assert_int_equal(cgroup_parse_oom_kills(S(""), &k), -ENOENT);

	assert_true(cgroup_list_has(S("cpuset cpu io memory pids\n"), "memory"));
	assert_true(cgroup_list_has(S("memory"), "memory"));
	assert_false(cgroup_list_has(S("cpu io memoryx pids\n"), "memory"));
	assert_false(cgroup_list_has(S("hugetlb\n"), "memory"));
	assert_false(cgroup_list_has(S(""), "memory"));

	assert_int_equal(cgroup_model_name(buf, sizeof(buf), "llama3:8b/Q4-K", 4242, 7),
			 (int)strlen("model-llama3_8b_Q4_K-4242-7"));
	assert_string_equal(buf, "model-llama3_8b_Q4_K-4242-7");
	assert_true(cgroup_model_name_pid(buf, &pid));
	assert_int_equal(pid, 4242);
	assert_true(cgroup_model_name(buf, sizeof(buf), "..", 1, 1) > 0);
	assert_string_equal(buf, "model-_-1-1");
	assert_true(cgroup_model_name(buf, sizeof(buf), "", 1, 1) > 0);
	assert_string_equal(buf, "model-_-1-1");
	assert_int_equal(cgroup_model_name(buf, 10, "abc", 1, 1), -ENAMETOOLONG);
	/* long names are cut */
	{
		char name[200];

		memset(name, 'x', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		assert_true(cgroup_model_name(buf, sizeof(buf), name, 12, 3) > 0);
		assert_int_equal(strlen(buf), strlen("model-") + 64 + strlen("-12-3"));
		assert_true(cgroup_model_name_pid(buf, &pid));
		assert_int_equal(pid, 12);
	}
	assert_false(cgroup_model_name_pid("model-a", &pid));
	assert_false(cgroup_model_name_pid("model-a-12", &pid));
	assert_false(cgroup_model_name_pid("model-12-3", &pid));
	assert_false(cgroup_model_name_pid("model-a-0-3", &pid));
	assert_false(cgroup_model_name_pid("model-a-12-", &pid));
	assert_false(cgroup_model_name_pid("model-a-1x-3", &pid));
	assert_false(cgroup_model_name_pid("llmem-daemon", &pid));
	assert_false(cgroup_model_name_pid("other-a-12-3", &pid));
	assert_string_equal(cgroup_limit_name(2), "memory.max");
	assert_string_equal(cgroup_limit_name(1), "memory.limit_in_bytes");
}

/* ---- cgroups: the delegation checks on fixture trees ---- */

static void test_cgroup_setup(void **state UNUSED)
{
	struct cgroup_tree t;
	struct cgroup_model m;
	char why[256], self[128], dead[128];
	uint64_t k;
	bool own;
	pid_t gone;

	/* no /proc/self/cgroup */
	tree_new();
	cgroup_tree_setup(&t, tree);
	assert_false(t.delegated);
	assert_non_null(strstr(t.why, "/proc/self/cgroup"));

	/* v2, memory not delegated to the service */
	put("proc/self/cgroup", "0::/system.slice/llmem.service\n");
	put("sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
	put("sys/fs/cgroup/system.slice/llmem.service/cgroup.controllers", "cpu io pids\n");
	cgroup_tree_setup(&t, tree);
	assert_false(t.delegated);
	assert_int_equal(t.version, 2);
	assert_non_null(strstr(t.why, "memory controller is not delegated"));
	assert_non_null(strstr(t.why, "Delegate=yes"));

	/* delegated, but other processes share the cgroup */
	put("sys/fs/cgroup/system.slice/llmem.service/cgroup.controllers", "cpu io memory pids\n");
	put("sys/fs/cgroup/system.slice/llmem.service/cgroup.subtree_control", "");
	snprintf(self, sizeof(self), "1\n%ld\n77\n", (long)getpid());
	put("sys/fs/cgroup/system.slice/llmem.service/cgroup.procs", self);
	cgroup_tree_setup(&t, tree);
	assert_false(t.delegated);
	assert_non_null(strstr(t.why, "holds 2 other processes"));

	/* alone in it: the move into the leaf fails here (a fixture has no
	 * cgroup.procs in a new directory), and is undone */
	snprintf(self, sizeof(self), "%ld\n", (long)getpid());
	put("sys/fs/cgroup/system.slice/llmem.service/cgroup.procs", self);
	cgroup_tree_setup(&t, tree);
	assert_false(t.delegated);
	assert_non_null(strstr(t.why, "cannot move llmem into"));
	assert_false(there("sys/fs/cgroup/system.slice/llmem.service/" CGROUP_LEAF));
	assert_non_null(strstr(t.dir, "/sys/fs/cgroup/system.slice/llmem.service"));

	/* already set up (a leaf and +memory): delegated; the stale cgroup of
	 * a dead daemon goes, a live one's and other directories stay */
	gone = fork();
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	put("sys/fs/cgroup/system.slice/llmem.service/cgroup.subtree_control", "memory\n");
	mkd("sys/fs/cgroup/system.slice/llmem.service/" CGROUP_LEAF);
	snprintf(dead, sizeof(dead), "sys/fs/cgroup/system.slice/llmem.service/model-a-%ld-1", (long)gone);
	mkd(dead);
	mkd("sys/fs/cgroup/system.slice/llmem.service/model-b-1-2");
	snprintf(self, sizeof(self), "sys/fs/cgroup/system.slice/llmem.service/model-c-%ld-3", (long)getpid());
	mkd(self);
	cgroup_tree_setup(&t, tree);
	assert_true(t.delegated);
	assert_int_equal(t.n_stale, 1);
	assert_false(there(dead));
	assert_true(there("sys/fs/cgroup/system.slice/llmem.service/model-b-1-2"));
	assert_true(there(self));
	assert_non_null(strstr(t.why, "cgroup v2: each model runs in a cgroup of its own"));

	/* a model cgroup whose limit cannot be set (a fixture's new
	 * directory has no memory.max): an error, and no directory left */
	assert_int_equal(cgroup_model_create(&t, "tiny", 300 * MIB, &m, why, sizeof(why)), -ENOENT);
	assert_false(m.active);
	assert_non_null(strstr(why, "memory.max"));
	snprintf(dead, sizeof(dead), "sys/fs/cgroup/system.slice/llmem.service/model-tiny-%ld-1", (long)getpid());
	assert_false(there(dead));

	/* the OOM count and the removal, on a made-up model cgroup */
	memset(&m, 0, sizeof(m));
	m.active = true;
	m.version = 2;
	snprintf(m.dir, sizeof(m.dir), "%s/%s", tree, self);
	{
		char rel[512];

		snprintf(rel, sizeof(rel), "%s/memory.events", self);
		put(rel, "low 0\nhigh 0\nmax 3\noom 0\noom_kill 1\n");
		assert_int_equal(cgroup_model_oom_kills(&m, &k, &own), 0);
		assert_int_equal(k, 1);
		assert_false(own);
		put(rel, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
		assert_int_equal(cgroup_model_oom_kills(&m, &k, &own), 0);
		assert_true(own);
		/* v1: the kills in memory.oom_control, the limit reached by the
		 * peak usage */
		m.version = 1;
		m.limit = 64 * MIB;
		snprintf(rel, sizeof(rel), "%s/memory.oom_control", self);
		put(rel, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
		snprintf(rel, sizeof(rel), "%s/memory.max_usage_in_bytes", self);
		put(rel, "67108864\n");
		assert_int_equal(cgroup_model_oom_kills(&m, &k, &own), 0);
		assert_int_equal(k, 2);
		assert_true(own);
		put(rel, "41943040\n");
		assert_int_equal(cgroup_model_oom_kills(&m, &k, &own), 0);
		assert_false(own);
		snprintf(rel, sizeof(rel), "%s/%s/memory.oom_control", tree, self);
		assert_int_equal(unlink(rel), 0);
		snprintf(rel, sizeof(rel), "%s/%s/memory.max_usage_in_bytes", tree, self);
		assert_int_equal(unlink(rel), 0);
		/* not empty: it stays */
		assert_true(cgroup_model_remove(&m) < 0);
		assert_true(m.active);
		snprintf(rel, sizeof(rel), "%s/%s/memory.events", tree, self);
		assert_int_equal(unlink(rel), 0);
	}
	assert_int_equal(cgroup_model_remove(&m), 0);
	assert_false(m.active);
	assert_false(there(self));
	assert_int_equal(cgroup_model_remove(&m), 0);
	assert_true(cgroup_model_oom_kills(&m, &k, &own) < 0);
	tree_free();

	/* v1: the memory hierarchy, not writable below (the fixture's new
	 * directory has no memory.limit_in_bytes); the check leaves nothing */
	tree_new();
	put("proc/self/cgroup", "5:cpu:/\n4:memory:/docker/abc\n0::/\n");
	put("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n");
	cgroup_tree_setup(&t, tree);
	assert_false(t.delegated);
	assert_int_equal(t.version, 1);
	assert_non_null(strstr(t.why, "cgroup v1"));
	snprintf(dead, sizeof(dead), "sys/fs/cgroup/memory/docker/abc/llmem-check-%ld", (long)getpid());
	assert_false(there(dead));
	/* no controller there at all */
	put("proc/self/cgroup", "4:memory:/elsewhere\n");
	cgroup_tree_setup(&t, tree);
	assert_false(t.delegated);
	assert_non_null(strstr(t.why, "no memory controller"));
	/* creating in a tree that is not delegated */
	assert_int_equal(cgroup_model_create(&t, "tiny", MIB, &m, why, sizeof(why)), -ENOTSUP);
	assert_int_equal(cgroup_model_create(NULL, "tiny", MIB, &m, why, sizeof(why)), -ENOTSUP);
	tree_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_rule),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_read_and_hook),
		cmocka_unit_test(test_sched_reason),
		cmocka_unit_test(test_cgroup_pure),
		cmocka_unit_test(test_cgroup_setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
