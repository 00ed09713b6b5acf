/* doctor.c: the checks of `llmem doctor`: from the facts read by
 * doctor-read.c to a verdict (ok, warn, bad) per check, with what was
 * found, why it matters for running a model, and the command that fixes
 * it. Pure: no I/O, every number comes from the facts. */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "probe/doctor.h"
#include "probe/probe-int.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define PAGE 4096u

/* ---- text helpers ------------------------------------------------------ */

/* Appends to buf (NUL-terminated, cut at bufsz - 1). */
static void cat(char *buf, size_t bufsz, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void cat(char *buf, size_t bufsz, const char *fmt, ...)
{
	size_t len = strnlen(buf, bufsz);
	va_list ap;

	if (len + 1 >= bufsz)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, bufsz - len, fmt, ap);
	va_end(ap);
}

struct hbuf {
	char s[32];
};

/* "4.58 GiB" */
static struct hbuf hb(uint64_t v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	struct hbuf h;
	double x = (double)v;
	size_t u = 0;

	while (x >= 1024.0 && u + 1 < ARRAY_SIZE(units)) {
		x /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(h.s, sizeof(h.s), "%llu B", (unsigned long long)v);
	else
		snprintf(h.s, sizeof(h.s), "%.2f %s", x, units[u]);
	return h;
}

/* "12.34%" from hundredths */
static struct hbuf pct(uint32_t h)
{
	struct hbuf b;

	snprintf(b.s, sizeof(b.s), "%u.%02u%%", h / 100, h % 100);
	return b;
}

/* "3 min", "2 h", "4 days" */
static struct hbuf ago(uint64_t us)
{
	struct hbuf b;
	uint64_t s = us / 1000000;

	if (s < 120)
		snprintf(b.s, sizeof(b.s), "%llu s", (unsigned long long)s);
	else if (s < 120 * 60)
		snprintf(b.s, sizeof(b.s), "%llu min", (unsigned long long)(s / 60));
	else if (s < 48 * 3600)
		snprintf(b.s, sizeof(b.s), "%llu h", (unsigned long long)(s / 3600));
	else
		snprintf(b.s, sizeof(b.s), "%llu days", (unsigned long long)(s / 86400));
	return b;
}

static struct probe_check *check_new(struct probe_doctor_report *r, const char *id)
{
	struct probe_check *c = &r->checks[r->n_checks++];

	memset(c, 0, sizeof(*c));
	c->id = id;
	c->verdict = PROBE_VERDICT_OK;
	return c;
}

static void verdict_raise(struct probe_check *c, uint8_t v)
{
	if (v > c->verdict)
		c->verdict = v;
}

/* The largest model given, or NULL. */
static const struct probe_doctor_model *largest_model(const struct probe_doctor_facts *f)
{
	const struct probe_doctor_model *m = NULL;

	for (size_t i = 0; i < f->n_models; i++)
		if (!m || f->models[i].bytes > m->bytes)
			m = &f->models[i];
	return m;
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* ---- swap and swappiness ----------------------------------------------- */

static void check_swap(const struct probe_doctor_facts *f, struct probe_check *c)
{
	uint64_t total = f->probe.mem.swap_total, used = total - f->probe.mem.swap_free;
	bool on = total > 0 || f->n_swaps_total > 0;

	if (!on) {
		probe_fmt(c->found, sizeof(c->found), "no swap%s",
			  f->swaps_state == PROBE_READ_OK ? " (/proc/swaps lists none, SwapTotal 0)" :
			  " (SwapTotal 0)");
		probe_fmt(c->why, sizeof(c->why),
			  "Without swap nothing of a model is paged out to disk; a model too large for "
			  "RAM is killed by the OOM killer instead of slowing to a crawl.");
		return;
	}
	probe_fmt(c->found, sizeof(c->found), "swap on: %s, %s used", hb(total).s, hb(used).s);
	for (size_t i = 0; i < f->n_swaps; i++)
		cat(c->found, sizeof(c->found), "%s%s (%s, %s)", i ? ", " : " in ", f->swaps[i].name,
		    f->swaps[i].type, hb(f->swaps[i].size).s);
	if (f->n_swaps_total > f->n_swaps)
		cat(c->found, sizeof(c->found), " and %zu more", f->n_swaps_total - f->n_swaps);
	if (f->swappiness < 0) {
		cat(c->found, sizeof(c->found), "; vm.swappiness unknown");
		probe_fmt(c->why, sizeof(c->why),
			  "With swap on, the kernel may page out a model's memory when RAM runs short.");
		return;
	}
	cat(c->found, sizeof(c->found), "; vm.swappiness %lld", (long long)f->swappiness);
	if (f->swappiness <= PROBE_DOCTOR_SWAPPINESS_MAX) {
		probe_fmt(c->why, sizeof(c->why),
			  "With vm.swappiness at %d or less the kernel drops page cache before it "
			  "swaps, so a model's memory goes to swap only under real pressure.",
			  PROBE_DOCTOR_SWAPPINESS_MAX);
		return;
	}
	c->verdict = PROBE_VERDICT_WARN;
	probe_fmt(c->why, sizeof(c->why),
		  "With swap on and vm.swappiness %lld the kernel pages out idle anonymous memory "
		  "(a model's KV cache, weights read with --no-mmap, a loaded model between "
		  "requests) long before RAM runs out; each token then waits for pages read "
		  "back from disk and generation stalls for seconds.",
		  (long long)f->swappiness);
	probe_fmt(c->fix, sizeof(c->fix),
		  "sudo sysctl vm.swappiness=1 && echo 'vm.swappiness = 1' | sudo tee "
		  "/etc/sysctl.d/90-llmem-swappiness.conf (or no swap at all: sudo swapoff -a)");
}

/* ---- swap used by model processes --------------------------------------- */

static void check_model_swap(const struct probe_doctor_facts *f, struct probe_check *c)
{
	size_t swapped = 0;

	probe_fmt(c->why, sizeof(c->why),
		  "Pages of a running model that sit in swap are read back from disk when a token "
		  "needs them: decode speed falls from memory bandwidth to disk speed.");
	if (f->n_mprocs == 0) {
		probe_fmt(c->found, sizeof(c->found),
			  "no model process running (llama-server, ollama, llamafile, koboldcpp, "
			  "llmem serve)");
		return;
	}
	for (size_t i = 0; i < f->n_mprocs; i++) {
		const struct probe_model_proc *p = &f->mprocs[i];
		bool sw = p->vm_swap != PROBE_UNKNOWN && p->vm_swap > 0;

		cat(c->found, sizeof(c->found), "%s%u %s: ", i ? "; " : "", p->pid, p->name);
		if (p->vm_rss == PROBE_UNKNOWN)
			cat(c->found, sizeof(c->found), "resident size unknown");
		else
			cat(c->found, sizeof(c->found), "%s resident", hb(p->vm_rss).s);
		if (p->vm_swap == PROBE_UNKNOWN)
			cat(c->found, sizeof(c->found), ", swap unknown");
		else
			cat(c->found, sizeof(c->found), ", %s in swap", hb(p->vm_swap).s);
		if (!sw)
			continue;
		swapped++;
		/* a tenth of it in swap (swap >= rss / 9): every few tokens
		 * wait for the disk */
		if (p->vm_rss != PROBE_UNKNOWN && p->vm_swap >= p->vm_rss / 9)
			verdict_raise(c, PROBE_VERDICT_BAD);
		else
			verdict_raise(c, PROBE_VERDICT_WARN);
	}
	if (f->mprocs_truncated)
		cat(c->found, sizeof(c->found), "; more not listed");
	if (!swapped)
		return;
	probe_fmt(c->fix, sizeof(c->fix),
		  "sudo swapoff -a && sudo swapon -a (reads the swapped pages back in; needs that much "
		  "free RAM), then keep them in RAM: sudo sysctl vm.swappiness=1, or run llama-server "
		  "with --mlock");
}

/* ---- transparent huge pages -------------------------------------------------- */

static void check_thp(const struct probe_doctor_facts *f, struct probe_check *c)
{
	bool defrag_always = f->thp_defrag_state == PROBE_READ_OK && !strcmp(f->thp_defrag, "always");

	if (f->probe.thp == PROBE_THP_UNKNOWN) {
		probe_fmt(c->found, sizeof(c->found),
			  "transparent huge pages not available (no "
			  "/sys/kernel/mm/transparent_hugepage/enabled)");
		probe_fmt(c->why, sizeof(c->why),
			  "Without THP large buffers use 4 KiB pages: a few %% slower at most, never "
			  "a stall.");
		return;
	}
	probe_fmt(c->found, sizeof(c->found), "transparent huge pages: %s, defrag: %s",
		  probe_thp_name(f->probe.thp), f->thp_defrag[0] ? f->thp_defrag : "unknown");
	switch (f->probe.thp) {
	case PROBE_THP_ALWAYS:
		c->verdict = PROBE_VERDICT_WARN;
		probe_fmt(c->why, sizeof(c->why),
			  "With THP 'always' every anonymous mapping gets huge pages whether it asked "
			  "or not: khugepaged and compaction run behind the model's back and stall page "
			  "faults (latency spikes), and sparse buffers bloat by up to 2 MiB each. "
			  "Programs that gain from huge pages ask for them with madvise() (llmem "
			  "does), so 'madvise' keeps the gain without the stalls.");
		probe_fmt(c->fix, sizeof(c->fix),
			  "echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled%s; "
			  "persist with the kernel argument transparent_hugepage=madvise",
			  defrag_always ? " && echo defer+madvise | sudo tee "
			  "/sys/kernel/mm/transparent_hugepage/defrag" : "");
		return;
	case PROBE_THP_MADVISE:
		probe_fmt(c->why, sizeof(c->why),
			  "With THP 'madvise' only the memory a program asks huge pages for gets them "
			  "(llmem does, with madvise()): fewer TLB misses there, no compaction stalls "
			  "elsewhere.");
		break;
	default:
		probe_fmt(c->why, sizeof(c->why),
			  "With THP 'never' large buffers use 4 KiB pages: a few %% slower at most, "
			  "never a compaction stall.");
		break;
	}
	if (defrag_always) {
		c->verdict = PROBE_VERDICT_WARN;
		cat(c->why, sizeof(c->why),
		    " But defrag 'always' makes a fault in such memory stall in direct compaction "
		    "until a huge page is free.");
		probe_fmt(c->fix, sizeof(c->fix),
			  "echo defer+madvise | sudo tee /sys/kernel/mm/transparent_hugepage/defrag");
	}
}

/* ---- reserved hugetlb pages ------------------------------------------------ */

static void check_hugetlb(const struct probe_doctor_facts *f, struct probe_check *c)
{
	const struct probe_meminfo *m = &f->probe.mem;
	uint64_t size = m->hugepage_size ? m->hugepage_size : 2 * MIB;
	uint64_t total = m->hugepages_total * size, unused = m->hugepages_free * size;

	probe_fmt(c->why, sizeof(c->why),
		  "Reserved hugetlb pages are taken out of RAM at once, and only programs that map "
		  "hugetlbfs (or MAP_HUGETLB) can use them; llama.cpp and Ollama do not, so the free "
		  "ones are RAM no model can have.");
	if (m->hugepages_total == 0) {
		probe_fmt(c->found, sizeof(c->found), "no hugetlb pages reserved (HugePages_Total 0)");
		return;
	}
	probe_fmt(c->found, sizeof(c->found),
		  "HugePages_Total %llu x %s = %s reserved, %s of it free (%.1f%% of RAM)",
		  (unsigned long long)m->hugepages_total, hb(size).s, hb(total).s, hb(unused).s,
		  m->mem_total ? 100.0 * (double)total / (double)m->mem_total : 0.0);
	if (unused < GIB)
		return;
	c->verdict = PROBE_VERDICT_WARN;
	probe_fmt(c->fix, sizeof(c->fix),
		  "sudo sysctl vm.nr_hugepages=0 (and drop vm.nr_hugepages from /etc/sysctl.conf and "
		  "/etc/sysctl.d, hugepages= from the kernel command line)");
}

/* ---- fragmentation -------------------------------------------------------- */

static void check_fragmentation(const struct probe_doctor_facts *f, struct probe_check *c)
{
	uint64_t free_all = 0, free_huge = 0, blocks = 0;
	uint32_t share;

	probe_fmt(c->why, sizeof(c->why),
		  "Huge pages come from free 2 MiB blocks; when free memory is scattered in small "
		  "blocks, large buffers fall back to 4 KiB pages (more TLB misses, slower prompt "
		  "processing) and faults stall while the kernel compacts memory.");
	if (f->probe.thp != PROBE_THP_ALWAYS && f->probe.thp != PROBE_THP_MADVISE) {
		probe_fmt(c->found, sizeof(c->found), "not checked: no huge pages are wanted (THP %s)",
			  probe_thp_name(f->probe.thp));
		return;
	}
	if (f->buddy_state != PROBE_READ_OK || f->buddy.n_zones == 0) {
		probe_fmt(c->found, sizeof(c->found), "not checked: /proc/buddyinfo %s",
			  probe_read_state_name(f->buddy_state));
		return;
	}
	for (size_t z = 0; z < f->buddy.n_zones; z++) {
		const struct probe_buddy_zone *bz = &f->buddy.zones[z];

		for (size_t o = 0; o < bz->n_orders; o++) {
			/* counts are small (free pages), orders < 16: no overflow */
			uint64_t bytes = bz->free[o] * ((uint64_t)PAGE << o);

			if (bz->free[o] > (UINT64_MAX >> 40))
				continue;
			free_all += bytes;
			if (o >= PROBE_DOCTOR_HUGE_ORDER) {
				free_huge += bytes;
				blocks += bz->free[o] << (o - PROBE_DOCTOR_HUGE_ORDER);
			}
		}
	}
	share = free_all ? (uint32_t)(free_huge * 100 / free_all) : 100;
	probe_fmt(c->found, sizeof(c->found),
		  "%s free, %s of it in blocks of 2 MiB or more (%u%%, %llu huge pages' worth); THP %s",
		  hb(free_all).s, hb(free_huge).s, share, (unsigned long long)blocks,
		  probe_thp_name(f->probe.thp));
	if (share >= PROBE_DOCTOR_FRAG_PERCENT || free_all < GIB)
		return;
	c->verdict = PROBE_VERDICT_WARN;
	probe_fmt(c->fix, sizeof(c->fix), "echo 1 | sudo tee /proc/sys/vm/compact_memory");
}

/* ---- overcommit ---------------------------------------------------------- */

static void check_overcommit(const struct probe_doctor_facts *f, struct probe_check *c)
{
	const struct probe_meminfo *m = &f->probe.mem;
	const struct probe_doctor_model *big = largest_model(f);
	uint64_t room;

	switch (f->overcommit_memory) {
	case 0:
		probe_fmt(c->found, sizeof(c->found), "vm.overcommit_memory 0 (heuristic)");
		probe_fmt(c->why, sizeof(c->why),
			  "The default: large allocations and mappings succeed while RAM and swap "
			  "could hold them.");
		return;
	case 1:
		probe_fmt(c->found, sizeof(c->found), "vm.overcommit_memory 1 (always)");
		probe_fmt(c->why, sizeof(c->why),
			  "Allocations never fail; a model too large for RAM is OOM-killed when it "
			  "touches the memory instead.");
		return;
	case 2:
		break;
	default:
		probe_fmt(c->found, sizeof(c->found), "vm.overcommit_memory unknown (not readable)");
		probe_fmt(c->why, sizeof(c->why),
			  "Under strict overcommit (mode 2) large allocations fail with ENOMEM.");
		return;
	}
	c->verdict = PROBE_VERDICT_WARN;
	probe_fmt(c->found, sizeof(c->found), "vm.overcommit_memory 2 (strict), vm.overcommit_ratio ");
	if (f->overcommit_ratio >= 0)
		cat(c->found, sizeof(c->found), "%lld", (long long)f->overcommit_ratio);
	else
		cat(c->found, sizeof(c->found), "unknown");
	if (m->commit_limit != PROBE_UNKNOWN && m->committed_as != PROBE_UNKNOWN) {
		room = sub_sat(m->commit_limit, m->committed_as);
		cat(c->found, sizeof(c->found), ": CommitLimit %s, Committed_AS %s, %s left",
		    hb(m->commit_limit).s, hb(m->committed_as).s, hb(room).s);
		if (big) {
			cat(c->found, sizeof(c->found), "; model %s is %s", big->name, hb(big->bytes).s);
			if (big->bytes > room) {
				c->verdict = PROBE_VERDICT_BAD;
				cat(c->found, sizeof(c->found), ", more than is left");
			}
		}
	}
	probe_fmt(c->why, sizeof(c->why),
		  "Under strict overcommit the kernel refuses any allocation that would take committed "
		  "memory over CommitLimit (swap + overcommit_ratio%% of RAM), even with RAM free: "
		  "llama.cpp's KV cache, compute buffers and weights read with --no-mmap or repacked "
		  "for the CPU fail with ENOMEM, and the model does not load.");
	probe_fmt(c->fix, sizeof(c->fix),
		  "sudo sysctl vm.overcommit_memory=0 && echo 'vm.overcommit_memory = 0' | sudo tee "
		  "/etc/sysctl.d/90-llmem-overcommit.conf");
}

/* ---- memlock ---------------------------------------------------------------- */

static struct hbuf limit_text(uint64_t v)
{
	struct hbuf b;

	if (v == PROBE_UNLIMITED) {
		snprintf(b.s, sizeof(b.s), "unlimited");
		return b;
	}
	return hb(v);
}

static void check_memlock(const struct probe_doctor_facts *f, struct probe_check *c)
{
	const struct probe_doctor_model *big = largest_model(f);
	const char *src = f->memlock_from_file ? "/proc/self/limits" : "RLIMIT_MEMLOCK";

	probe_fmt(c->why, sizeof(c->why),
		  "llama-server --mlock (Ollama's use_mlock) locks the model in RAM so it is never "
		  "paged out; with a limit below the model's size mlock fails ('failed to mlock') "
		  "and the model stays pageable.");
	if (f->memlock_state != PROBE_READ_OK) {
		probe_fmt(c->found, sizeof(c->found), "the memlock limit is unknown (%s %s)", src,
			  probe_read_state_name(f->memlock_state));
		return;
	}
	probe_fmt(c->found, sizeof(c->found), "max locked memory (%s): soft %s, hard %s", src,
		  limit_text(f->memlock.soft).s, limit_text(f->memlock.hard).s);
	if (f->memlock.soft == PROBE_UNLIMITED) {
		cat(c->found, sizeof(c->found), "; --mlock can lock a model of any size");
		return;
	}
	if (!big) {
		cat(c->found, sizeof(c->found), "; give --model MODEL to compare it with a model");
		return;
	}
	cat(c->found, sizeof(c->found), "; model %s is %s", big->name, hb(big->bytes).s);
	if (f->memlock.soft >= big->bytes)
		return;
	if (f->cap_ipc_lock) {
		cat(c->found, sizeof(c->found),
		    ", more than the limit, but this process has CAP_IPC_LOCK (root), which locks "
		    "past it; a llama-server run as another user or by a service does not");
		return;
	}
	c->verdict = PROBE_VERDICT_WARN;
	cat(c->found, sizeof(c->found), ": --mlock could not lock it");
	probe_fmt(c->fix, sizeof(c->fix),
		  "ulimit -l unlimited in the shell that starts llama-server%s; a systemd service: "
		  "LimitMEMLOCK=infinity under [Service]; every login: echo '* - memlock unlimited' | "
		  "sudo tee /etc/security/limits.d/90-llmem-memlock.conf; docker: --ulimit "
		  "memlock=-1:-1",
		  f->memlock.hard == PROBE_UNLIMITED ? "" : " (the hard limit too: as root)");
}

/* ---- PSI -------------------------------------------------------------------- */

static void check_psi(const struct probe_doctor_facts *f, struct probe_check *c)
{
	const struct probe_psi *p = &f->psi;

	if (f->psi_state != PROBE_READ_OK) {
		c->verdict = PROBE_VERDICT_WARN;
		switch (f->psi_state) {
		case PROBE_READ_ABSENT:
			probe_fmt(c->found, sizeof(c->found),
				  "no /proc/pressure/memory: a kernel without CONFIG_PSI");
			break;
		case PROBE_READ_UNSUPPORTED:
			probe_fmt(c->found, sizeof(c->found),
				  "/proc/pressure/memory is switched off (booted with psi=0, or "
				  "CONFIG_PSI_DEFAULT_DISABLED)");
			break;
		default:
			probe_fmt(c->found, sizeof(c->found), "/proc/pressure/memory: %s",
				  probe_read_state_name(f->psi_state));
			break;
		}
		probe_fmt(c->why, sizeof(c->why),
			  "PSI measures how long tasks stall waiting for memory; without it llmem (and "
			  "systemd-oomd) cannot see memory pressure build up and learn of it only when "
			  "the OOM killer has acted.");
		probe_fmt(c->fix, sizeof(c->fix),
			  "add psi=1 to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, "
			  "then sudo update-grub and reboot)%s",
			  f->psi_state == PROBE_READ_ABSENT ? "; a kernel built without CONFIG_PSI needs "
			  "another kernel" : "");
		return;
	}
	probe_fmt(c->found, sizeof(c->found), "memory pressure: some avg10 %s avg60 %s avg300 %s",
		  pct(p->some.avg10).s, pct(p->some.avg60).s, pct(p->some.avg300).s);
	if (p->full.present)
		cat(c->found, sizeof(c->found), "; full avg10 %s avg60 %s avg300 %s",
		    pct(p->full.avg10).s, pct(p->full.avg60).s, pct(p->full.avg300).s);
	if (p->full.present && p->full.avg10 >= PROBE_DOCTOR_PSI_FULL_BAD)
		c->verdict = PROBE_VERDICT_BAD;
	else if (p->some.avg10 >= PROBE_DOCTOR_PSI_SOME_WARN ||
		 (p->full.present && p->full.avg10 >= PROBE_DOCTOR_PSI_FULL_WARN))
		c->verdict = PROBE_VERDICT_WARN;
	if (c->verdict == PROBE_VERDICT_OK) {
		probe_fmt(c->why, sizeof(c->why),
			  "Tasks seldom wait for memory: there is room to load a model without "
			  "reclaiming or swapping.");
		return;
	}
	probe_fmt(c->why, sizeof(c->why),
		  "Tasks are stalled waiting for memory %s of the last 10 s (all of them at once %s): "
		  "the kernel is reclaiming page cache (a model's mapped weights among it) or swapping; "
		  "loading a model now pushes it into thrashing or the OOM killer.",
		  pct(p->some.avg10).s, p->full.present ? pct(p->full.avg10).s : "unknown");
	probe_fmt(c->fix, sizeof(c->fix),
		  "free memory before loading: unload the models you do not use (ollama stop NAME, or "
		  "stop that llama-server), or load a smaller quantization or context; "
		  "llmem devices shows what is free");
}

/* ---- OOM kills ------------------------------------------------------------ */

static void check_oom(const struct probe_doctor_facts *f, struct probe_check *c)
{
	const struct probe_oom_kill *model_kill = NULL;
	bool cg_kills = false;
	size_t n_quiet = 0;

	switch (f->kmsg_state) {
	case PROBE_READ_OK:
		if (f->n_ooms_total == 0) {
			probe_fmt(c->found, sizeof(c->found), "kernel log: no OOM kill");
			break;
		}
		probe_fmt(c->found, sizeof(c->found), "kernel log: %u OOM kill%s", f->n_ooms_total,
			  f->n_ooms_total == 1 ? "" : "s");
		for (size_t i = f->n_ooms; i-- > 0;) {
			const struct probe_oom_kill *k = &f->ooms[i];

			if (i + 3 < f->n_ooms) {
				cat(c->found, sizeof(c->found), "; ...");
				break;
			}
			cat(c->found, sizeof(c->found), "%s%s (pid %u)", i + 1 == f->n_ooms ? ": " : "; ",
			    k->comm, k->pid);
			if (k->usec != PROBE_UNKNOWN && f->uptime_us != PROBE_UNKNOWN &&
			    f->uptime_us >= k->usec)
				cat(c->found, sizeof(c->found), " %s ago", ago(f->uptime_us - k->usec).s);
			else if (k->usec != PROBE_UNKNOWN)
				cat(c->found, sizeof(c->found), " %s after boot", ago(k->usec).s);
			if (k->anon_rss != PROBE_UNKNOWN)
				cat(c->found, sizeof(c->found), ", %s anonymous", hb(k->anon_rss).s);
			if (k->memcg)
				cat(c->found, sizeof(c->found), ", at its cgroup's limit%s%s",
				    k->task_memcg[0] ? " " : "", k->task_memcg);
		}
		for (size_t i = 0; i < f->n_ooms; i++)
			if (probe_model_proc_name(f->ooms[i].comm))
				model_kill = &f->ooms[i];
		break;
	case PROBE_READ_ABSENT:
		probe_fmt(c->found, sizeof(c->found), "kernel log: no /dev/kmsg");
		break;
	default:
		probe_fmt(c->found, sizeof(c->found), "kernel log: cannot be read (%s%s)",
			  f->kmsg_error[0] ? f->kmsg_error : probe_read_state_name(f->kmsg_state),
			  f->kmsg_state == PROBE_READ_DENIED ? "; run llmem doctor as root to see it" : "");
		break;
	}
	/* the cgroups' counters: those with kills, the rest counted */
	for (size_t i = 0; i < f->n_cg_ooms; i++) {
		const struct probe_cg_oom *g = &f->cg_ooms[i];

		if (!g->oom_kill) {
			n_quiet++;
			continue;
		}
		cat(c->found, sizeof(c->found), "; cgroup %s (%s): %llu OOM kill%s", g->path, g->who,
		    (unsigned long long)g->oom_kill, g->oom_kill == 1 ? "" : "s");
		cg_kills = true;
	}
	if (n_quiet)
		cat(c->found, sizeof(c->found), "; %zu %scgroup%s of llmem and the model servers: no "
		    "OOM kill", n_quiet, cg_kills ? "other " : "", n_quiet == 1 ? "" : "s");
	if (model_kill) {
		c->verdict = PROBE_VERDICT_BAD;
		probe_fmt(c->why, sizeof(c->why),
			  "The kernel killed %s (pid %u) because memory ran out%s: the model, its KV cache "
			  "and whatever else ran beside it did not fit. It will happen again with the "
			  "same settings.",
			  model_kill->comm, model_kill->pid,
			  model_kill->memcg ? " in its cgroup" : "");
		probe_fmt(c->fix, sizeof(c->fix),
			  "make the model fit: 1. fewer GPU layers (-ngl 30 instead of 99) where the GPU "
			  "ran out or draws on system RAM (an APU, GB10); 2. a smaller quantization "
			  "(model-q4_k_s.gguf instead of q4_k_m); 3. a smaller context (-c 4096 instead of "
			  "8192: the KV cache shrinks with it); 4. unload other models (ollama stop "
			  "OTHER-MODEL). llmem fit MODEL works out -ngl and -c that fit; the kills: "
			  "sudo dmesg | grep -i 'killed process'");
		return;
	}
	if (f->n_ooms_total || cg_kills) {
		c->verdict = PROBE_VERDICT_WARN;
		probe_fmt(c->why, sizeof(c->why),
			  "The OOM killer has run: memory ran out%s. A model loaded into the same "
			  "memory is the largest process and the first one killed next time.",
			  cg_kills && !f->n_ooms_total ? " in a cgroup" : "");
		probe_fmt(c->fix, sizeof(c->fix),
			  "see what was killed: sudo dmesg | grep -i 'killed process'; leave room for the "
			  "model (llmem fit MODEL plans with what is free) or raise the cgroup's "
			  "memory limit");
		return;
	}
	probe_fmt(c->why, sizeof(c->why),
		  "An OOM kill of a model server means the model, its KV cache and the rest did not "
		  "fit; none is on record.");
}

/* ---- the cgroup's limit -------------------------------------------------- */

/* The command that lifts the limit set on cgroup lp. */
static void cgroup_fix(uint8_t version, const char *lp, char *fix, size_t fixsz)
{
	const char *last = strrchr(lp, '/');
	size_t ln;

	last = last ? last + 1 : lp;
	ln = strlen(last);
	if (!strcmp(lp, "/") || !lp[0]) {
		probe_fmt(fix, fixsz,
			  "the limit is the container's: give it more memory (docker update --memory "
			  "SIZE --memory-swap SIZE CONTAINER; Kubernetes: resources.limits.memory)");
	} else if ((ln > 8 && !strcmp(last + ln - 8, ".service")) ||
		   (ln > 6 && !strcmp(last + ln - 6, ".slice")) ||
		   (ln > 6 && !strcmp(last + ln - 6, ".scope"))) {
		probe_fmt(fix, fixsz, "sudo systemctl set-property %s MemoryMax=infinity "
			  "MemoryHigh=infinity", last);
	} else if (version == 2) {
		probe_fmt(fix, fixsz, "echo max | sudo tee /sys/fs/cgroup%s/memory.max "
			  "/sys/fs/cgroup%s/memory.high", lp, lp);
	} else {
		probe_fmt(fix, fixsz, "echo -1 | sudo tee /sys/fs/cgroup/memory%s/memory.limit_in_bytes",
			  lp);
	}
}

static void check_cgroup(const struct probe_doctor_facts *f, struct probe_check *c)
{
	const struct probe_cgroup *cg = &f->probe.cgroup;
	const struct probe_doctor_model *big = largest_model(f);
	uint64_t limit = cg->max < cg->high ? cg->max : cg->high;
	uint64_t ram = f->probe.mem.mem_total, worst = PROBE_UNLIMITED;
	const char *worst_path = NULL;
	uint8_t worst_version = 0;
	size_t n_free = 0;

	/* llmem's own cgroup (what it starts runs there) */
	if (cg->version == 0) {
		probe_fmt(c->found, sizeof(c->found), "no memory cgroup found");
	} else {
		probe_fmt(c->found, sizeof(c->found), "cgroup v%u %s: ", cg->version, cg->path);
		if (limit == PROBE_UNLIMITED) {
			cat(c->found, sizeof(c->found), "no memory limit");
		} else {
			if (cg->max != PROBE_UNLIMITED)
				cat(c->found, sizeof(c->found), "memory.max %s", hb(cg->max).s);
			if (cg->high != PROBE_UNLIMITED)
				cat(c->found, sizeof(c->found), "%smemory.high %s",
				    cg->max != PROBE_UNLIMITED ? ", " : "", hb(cg->high).s);
			if (cg->limit_path[0] && strcmp(cg->limit_path, cg->path))
				cat(c->found, sizeof(c->found), " (set on %s)", cg->limit_path);
			if (cg->current != PROBE_UNKNOWN)
				cat(c->found, sizeof(c->found), ", %s in use", hb(cg->current).s);
			worst = limit;
			worst_path = cg->limit_path[0] ? cg->limit_path : cg->path;
			worst_version = cg->version;
		}
	}
	/* the cgroups the running model servers are in: those with a limit */
	for (size_t i = 0; i < f->n_mprocs; i++) {
		const struct probe_model_proc *p = &f->mprocs[i];

		if (!p->cg_version || (cg->version && !strcmp(p->cgroup, cg->path)))
			continue;
		if (p->cg_limit == PROBE_UNLIMITED) {
			n_free++;
			continue;
		}
		cat(c->found, sizeof(c->found), "; %s (pid %u) in %s: limit %s", p->name, p->pid,
		    p->cgroup, hb(p->cg_limit).s);
		if (strcmp(p->cg_limit_path, p->cgroup))
			cat(c->found, sizeof(c->found), " (set on %s)", p->cg_limit_path);
		if (p->cg_limit < worst) {
			worst = p->cg_limit;
			worst_path = p->cg_limit_path;
			worst_version = p->cg_version;
		}
	}
	if (n_free)
		cat(c->found, sizeof(c->found), "; %zu model process%s in cgroups without a limit",
		    n_free, n_free == 1 ? "" : "es");
	cat(c->found, sizeof(c->found), "; RAM %s", hb(ram).s);
	if (big)
		cat(c->found, sizeof(c->found), "; model %s is %s", big->name, hb(big->bytes).s);
	if (worst == PROBE_UNLIMITED) {
		probe_fmt(c->why, sizeof(c->why),
			  "No cgroup limit: a model can use all of RAM.");
		return;
	}
	probe_fmt(c->why, sizeof(c->why),
		  "Processes in a cgroup are held to its limit (here as low as %s) whatever RAM is "
		  "free: past memory.high the kernel throttles and reclaims (a model's mapped weights "
		  "are dropped and read again), past memory.max the OOM killer kills inside the "
		  "cgroup.",
		  hb(worst).s);
	if (big && big->bytes > worst) {
		c->verdict = PROBE_VERDICT_BAD;
		cat(c->found, sizeof(c->found), ", more than the %s limit", hb(worst).s);
	} else if (worst < ram) {
		c->verdict = PROBE_VERDICT_WARN;
		cat(c->found, sizeof(c->found), ": a limit below RAM");
	} else {
		return;
	}
	cgroup_fix(worst_version, worst_path ? worst_path : "", c->fix, sizeof(c->fix));
}

/* ---- NUMA ------------------------------------------------------------------- */

static void check_numa(const struct probe_doctor_facts *f, struct probe_check *c)
{
	if (f->numa_state != PROBE_READ_OK || f->n_nodes == 0) {
		probe_fmt(c->found, sizeof(c->found), "no NUMA information (/sys/devices/system/node %s)",
			  probe_read_state_name(f->numa_state == PROBE_READ_OK ? PROBE_READ_ABSENT :
						f->numa_state));
		probe_fmt(c->why, sizeof(c->why), "One memory node: every thread reads all of RAM at "
			  "the same speed.");
		return;
	}
	probe_fmt(c->found, sizeof(c->found), "%zu NUMA node%s with memory:", f->n_nodes,
		  f->n_nodes == 1 ? "" : "s");
	for (size_t i = 0; i < f->n_nodes; i++)
		cat(c->found, sizeof(c->found), "%s node%u %s (%s free)", i ? "," : "", f->nodes[i].id,
		    hb(f->nodes[i].total).s, hb(f->nodes[i].free).s);
	if (f->numa_balancing >= 0)
		cat(c->found, sizeof(c->found), "; kernel.numa_balancing %lld",
		    (long long)f->numa_balancing);
	if (f->n_nodes == 1) {
		probe_fmt(c->why, sizeof(c->why), "One memory node: every thread reads all of RAM at "
			  "the same speed.");
		return;
	}
	c->verdict = PROBE_VERDICT_WARN;
	probe_fmt(c->why, sizeof(c->why),
		  "Memory on another node is read over the interconnect at a fraction of local "
		  "bandwidth, and decode is bound by memory bandwidth: threads on every node read "
		  "weights that the page cache put on one%s.",
		  f->numa_balancing > 0 ? "; automatic NUMA balancing moves pages under the model "
		  "(llama.cpp warns that it impairs performance)" : "");
	probe_fmt(c->fix, sizeof(c->fix),
		  "spread the model over the nodes: echo 3 | sudo tee /proc/sys/vm/drop_caches, then "
		  "llama-server --numa distribute; or keep it on one node: numactl --cpunodebind=0 "
		  "--membind=0 llama-server --numa numactl ...%s",
		  f->numa_balancing > 0 ? "; and sudo sysctl kernel.numa_balancing=0" : "");
}

/* ---- GPU memory held by other processes ---------------------------------- */

static void check_gpu_procs(const struct probe_doctor_facts *f, struct probe_check *c)
{
	const struct probe_result *r = &f->probe;
	char pids[160] = "";
	size_t n_gpus = 0;

	probe_fmt(c->why, sizeof(c->why),
		  "Memory other processes hold on a GPU is not there for the next model: llama.cpp "
		  "then offloads fewer layers or fails to allocate (out of memory). llmem fit plans "
		  "with what is free now.");
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct probe_device *d = &r->devices[i];
		uint64_t held = 0;
		bool compute = false;

		if (d->vendor == PROBE_VENDOR_NONE)
			continue;
		cat(c->found, sizeof(c->found), "%s%s (%s): ", n_gpus ? "; " : "", d->id, d->model);
		n_gpus++;
		if (d->vendor == PROBE_VENDOR_AMD && d->n_procs == 0) {
			/* no DRM client found: none, or other users' (unreadable) */
			cat(c->found, sizeof(c->found), "%s of %s VRAM in use (no process found holding it)",
			    hb(d->amd.vram_used).s, hb(d->amd.vram_total).s);
			continue;
		}
		if (d->n_procs == 0) {
			cat(c->found, sizeof(c->found), "no process holds memory");
			continue;
		}
		for (size_t k = 0; k < d->n_procs; k++) {
			const struct probe_proc *p = &d->procs[k];

			cat(c->found, sizeof(c->found), "%s%u %s %s (%s)", k ? ", " : "", p->pid,
			    p->comm[0] ? p->comm : "?", p->used == PROBE_UNKNOWN ? "size unknown" :
			    hb(p->used).s, p->type == PROBE_PROC_COMPUTE ? "compute" : "graphics");
			if (p->used != PROBE_UNKNOWN)
				held += p->used;
			if (p->type == PROBE_PROC_COMPUTE) {
				compute = true;
				if (strlen(pids) + 12 < sizeof(pids))
					cat(pids, sizeof(pids), " %u", p->pid);
			}
		}
		if (d->procs_truncated)
			cat(c->found, sizeof(c->found), ", more not listed");
		if (compute || held >= GIB)
			verdict_raise(c, PROBE_VERDICT_WARN);
	}
	if (n_gpus == 0) {
		probe_fmt(c->found, sizeof(c->found), "no GPU found (NVML: %s; amdgpu: %s)",
			  probe_src_state_name(r->nvml.state), probe_src_state_name(r->amdgpu.state));
		probe_fmt(c->why, sizeof(c->why), "No GPU: models run on the CPU from system RAM.");
		return;
	}
	if (c->verdict == PROBE_VERDICT_OK)
		return;
	if (pids[0])
		probe_fmt(c->fix, sizeof(c->fix),
			  "stop what you do not need: kill%s (ollama stop MODEL for Ollama's runners)",
			  pids);
	else
		probe_fmt(c->fix, sizeof(c->fix),
			  "close the programs that hold GPU memory (llmem devices lists them)");
}

/* ---- an AMD APU's GTT -------------------------------------------------------- */

uint64_t probe_doctor_gtt_target(uint64_t mem_total)
{
	uint64_t keep = mem_total / 32 > 4 * GIB ? mem_total / 32 : 4 * GIB;

	if (mem_total < 8 * GIB)
		return 0;
	return (mem_total - keep) / GIB * GIB;
}

static void check_amd_gtt(const struct probe_doctor_facts *f, struct probe_check *c)
{
	const struct probe_result *r = &f->probe;
	const struct probe_doctor_model *big = largest_model(f);
	uint64_t ram = r->mem.mem_total, target = probe_doctor_gtt_target(ram);
	size_t n_apus = 0;

	probe_fmt(c->why, sizeof(c->why),
		  "An APU's GPU reaches system RAM only through its GTT: a model larger than the GTT "
		  "limit cannot be fully offloaded (allocations fail or layers stay on the CPU) "
		  "though the RAM is free, and the kernel's default is about half of RAM.");
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct probe_device *d = &r->devices[i];
		const struct probe_amdgpu *a = &d->amd;

		if (d->vendor != PROBE_VENDOR_AMD || d->kind != PROBE_DEV_UNIFIED)
			continue;
		cat(c->found, sizeof(c->found), "%s%s (%s): GTT %s usable of %s RAM (mem_info_gtt_total %s",
		    n_apus ? "; " : "", d->id, d->model, hb(a->gtt_limit).s, hb(ram).s,
		    hb(a->gtt_total).s);
		if (r->ttm_pages_limit != PROBE_UNKNOWN && r->ttm_pages_limit)
			cat(c->found, sizeof(c->found), ", ttm.pages_limit %llu = %s",
			    (unsigned long long)r->ttm_pages_limit,
			    hb(r->ttm_pages_limit > UINT64_MAX / PAGE ? UINT64_MAX :
			       r->ttm_pages_limit * PAGE).s);
		if (r->amdgpu_gttsize_mib > 0)
			cat(c->found, sizeof(c->found), ", amdgpu.gttsize %lld MiB",
			    (long long)r->amdgpu_gttsize_mib);
		else
			cat(c->found, sizeof(c->found), ", amdgpu.gttsize default");
		cat(c->found, sizeof(c->found), "), VRAM carve-out %s", hb(a->vram_total).s);
		n_apus++;
		if (ram && a->gtt_limit < ram / 100 * PROBE_DOCTOR_GTT_PERCENT && target > a->gtt_limit)
			verdict_raise(c, PROBE_VERDICT_WARN);
		if (big && big->bytes > a->gtt_limit + a->vram_total) {
			cat(c->found, sizeof(c->found), "; model %s (%s) does not fit in it", big->name,
			    hb(big->bytes).s);
			if (target > a->gtt_limit)
				verdict_raise(c, PROBE_VERDICT_WARN);
		}
	}
	if (n_apus == 0) {
		probe_fmt(c->found, sizeof(c->found), "no AMD APU");
		probe_fmt(c->why, sizeof(c->why),
			  "Only an AMD APU's GPU draws on system RAM through a GTT window.");
		return;
	}
	if (c->verdict == PROBE_VERDICT_OK)
		return;
	probe_fmt(c->fix, sizeof(c->fix),
		  "give the GPU %s of RAM: add amdgpu.gttsize=%llu ttm.pages_limit=%llu to the kernel "
		  "command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then sudo update-grub and "
		  "reboot)",
		  hb(target).s, (unsigned long long)(target / MIB), (unsigned long long)(target / PAGE));
}

/* ---- all of them ---------------------------------------------------------- */

void probe_doctor_check(const struct probe_doctor_facts *f, struct probe_doctor_report *r)
{
	static const struct {
		const char *id;
		void (*fn)(const struct probe_doctor_facts *, struct probe_check *);
	} checks[] = {
		{ "swap", check_swap },
		{ "model-swap", check_model_swap },
		{ "thp", check_thp },
		{ "hugetlb", check_hugetlb },
		{ "fragmentation", check_fragmentation },
		{ "overcommit", check_overcommit },
		{ "memlock", check_memlock },
		{ "psi", check_psi },
		{ "oom", check_oom },
		{ "cgroup", check_cgroup },
		{ "numa", check_numa },
		{ "gpu-procs", check_gpu_procs },
		{ "amd-gtt", check_amd_gtt },
	};

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < ARRAY_SIZE(checks) && i < PROBE_DOCTOR_MAX_CHECKS; i++) {
		struct probe_check *c = check_new(r, checks[i].id);

		checks[i].fn(f, c);
		if (c->verdict == PROBE_VERDICT_BAD)
			r->n_bad++;
		else if (c->verdict == PROBE_VERDICT_WARN)
			r->n_warn++;
		else
			r->n_ok++;
	}
}

const char *probe_verdict_name(uint8_t verdict)
{
	return verdict == PROBE_VERDICT_BAD ? "bad" : verdict == PROBE_VERDICT_WARN ? "warn" : "ok";
}

const char *probe_read_state_name(uint8_t state)
{
	switch (state) {
	case PROBE_READ_OK: return "read";
	case PROBE_READ_ABSENT: return "absent";
	case PROBE_READ_DENIED: return "permission denied";
	case PROBE_READ_UNSUPPORTED: return "not supported";
	default: return "unreadable or malformed";
	}
}
