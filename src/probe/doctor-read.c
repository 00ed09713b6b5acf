/* doctor-read.c: reads what `llmem doctor` checks, under the probe's
 * root: the probe itself (meminfo, THP, the cgroup, GPUs), /proc/swaps
 * and the vm sysctls, the model processes in /proc (their swap and
 * cgroup), the THP defrag mode, the memlock limit, PSI, the kernel log
 * (/dev/kmsg: a character device read without blocking on a live
 * system, a plain file in a fixture tree), the cgroups' OOM kill
 * counters, the NUMA nodes and /proc/buddyinfo. The parsing is in
 * parse-vm.c and parse-kmsg.c; what it means is decided in doctor.c. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe/doctor.h"
#include "probe/probe-int.h"

#define KMSG_RECORD_MAX 8192           /* one /dev/kmsg read must hold a record */
#define KMSG_READ_MAX (32u << 20)      /* never read more than this of a log */

static uint8_t state_of(int e)
{
	switch (e) {
	case 0: return PROBE_READ_OK;
	case -ENOENT:
	case -ENOTDIR: return PROBE_READ_ABSENT;
	case -EACCES:
	case -EPERM: return PROBE_READ_DENIED;
	case -EOPNOTSUPP: return PROBE_READ_UNSUPPORTED;
	default: return PROBE_READ_ERROR;
	}
}

static bool is_live(const char *root)
{
	return !root || !*root || !strcmp(root, "/");
}

/* A sysctl holding one signed number: its value, or -1. */
static int64_t read_sysctl(const char *root, const char *rel)
{
	char *buf;
	size_t n;
	int64_t v = -1;

	if (probe_file_read(root, rel, &buf, &n) < 0)
		return -1;
	if (probe_parse_i64_file(buf, n, &v) < 0)
		v = -1;
	free(buf);
	return v;
}

static void read_swaps(const char *root, struct probe_doctor_facts *f)
{
	char *buf;
	size_t n;
	int e = probe_file_read(root, "proc/swaps", &buf, &n);

	if (e == 0) {
		e = probe_parse_swaps(buf, n, f->swaps, PROBE_DOCTOR_MAX_SWAPS, &f->n_swaps,
				      &f->n_swaps_total);
		free(buf);
		if (e < 0)
			f->n_swaps = f->n_swaps_total = 0;
	}
	f->swaps_state = e == -EBADMSG || e == -ERANGE ? PROBE_READ_ERROR : state_of(e);
	f->swappiness = read_sysctl(root, "proc/sys/vm/swappiness");
}

/* "always defer defer+madvise [madvise] never": the bracketed word. */
static void read_thp_defrag(const char *root, struct probe_doctor_facts *f)
{
	char *buf, *open, *close;
	size_t n;
	int e = probe_file_read(root, "sys/kernel/mm/transparent_hugepage/defrag", &buf, &n);

	f->thp_defrag_state = state_of(e);
	if (e < 0)
		return;
	open = memchr(buf, '[', n);
	close = open ? memchr(open, ']', n - (size_t)(open - buf)) : NULL;
	if (open && close)
		probe_span_copy(f->thp_defrag, sizeof(f->thp_defrag), open + 1, (size_t)(close - open - 1));
	else
		f->thp_defrag_state = PROBE_READ_ERROR;
	free(buf);
}

static void read_memlock(const char *root, struct probe_doctor_facts *f)
{
	char *buf;
	size_t n;
	int e;

	if (is_live(root)) {
		struct rlimit rl;

		/* the limit of this process: what a llama-server started from
		 * the same shell gets */
		if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
			f->memlock_state = state_of(-errno);
			return;
		}
		f->memlock.soft = rl.rlim_cur == RLIM_INFINITY ? PROBE_UNLIMITED : (uint64_t)rl.rlim_cur;
		f->memlock.hard = rl.rlim_max == RLIM_INFINITY ? PROBE_UNLIMITED : (uint64_t)rl.rlim_max;
		f->memlock_state = PROBE_READ_OK;
		return;
	}
	f->memlock_from_file = true;
	e = probe_file_read(root, "proc/self/limits", &buf, &n);
	if (e == 0) {
		e = probe_parse_limits(buf, n, "Max locked memory", &f->memlock);
		free(buf);
		if (e == -EBADMSG || e == -ERANGE)
			e = -EIO;
	}
	f->memlock_state = state_of(e);
}

#define CAP_IPC_LOCK_BIT 14

/* Whether this process may lock memory past RLIMIT_MEMLOCK. */
static void read_caps(const char *root, struct probe_doctor_facts *f)
{
	struct probe_proc_status st;
	char *buf;
	size_t n;

	if (probe_file_read(root, "proc/self/status", &buf, &n) < 0)
		return;
	if (probe_parse_proc_status(buf, n, &st) == 0 && st.has_cap_eff)
		f->cap_ipc_lock = (st.cap_eff >> CAP_IPC_LOCK_BIT) & 1;
	free(buf);
}

static void read_psi(const char *root, struct probe_doctor_facts *f)
{
	char *buf;
	size_t n;
	int e = probe_file_read(root, "proc/pressure/memory", &buf, &n);

	if (e == 0) {
		e = probe_parse_psi(buf, n, &f->psi);
		free(buf);
		if (e < 0)
			e = -EIO;
	}
	f->psi_state = state_of(e);
}

/* "350735.47 1381066.43" -> microseconds */
static void read_uptime(const char *root, struct probe_doctor_facts *f)
{
	char *buf, *sp, *dot;
	size_t n;
	uint64_t s, frac = 0;

	f->uptime_us = PROBE_UNKNOWN;
	if (probe_file_read(root, "proc/uptime", &buf, &n) < 0)
		return;
	sp = memchr(buf, ' ', n);
	dot = memchr(buf, '.', sp ? (size_t)(sp - buf) : n);
	if (sp && dot && dot < sp && probe_span_u64(buf, (size_t)(dot - buf), &s) == 0 &&
	    sp - dot == 3 && probe_span_u64(dot + 1, 2, &frac) == 0 && s < UINT64_MAX / 2000000)
		f->uptime_us = s * 1000000 + frac * 10000;
	free(buf);
}

/* ---- the kernel log ------------------------------------------------------- */

struct kmsg_scan {
	struct probe_doctor_facts *f;
	struct probe_oom_summary last; /* the latest "oom-kill:" line */
	bool has_last;
};

static void kmsg_line(struct kmsg_scan *k, const char *line, size_t len)
{
	struct probe_doctor_facts *f = k->f;
	struct probe_kmsg_record rec;
	struct probe_oom_kill kill;
	struct probe_oom_summary sum;

	/* continuation lines (" SUBSYSTEM=...") start with a space; only
	 * the kernel's own messages count (a program writing to /dev/kmsg
	 * gets LOG_USER, whatever prefix it writes) */
	if (len == 0 || line[0] == ' ' || probe_parse_kmsg_record(line, len, &rec) < 0 ||
	    rec.facility != 0)
		return;
	if (probe_parse_oom_summary(rec.msg, rec.msg_len, &sum) == 0) {
		k->last = sum;
		k->has_last = true;
		return;
	}
	if (probe_parse_oom_kill(rec.msg, rec.msg_len, &kill) < 0)
		return;
	kill.usec = rec.usec;
	if (k->has_last && k->last.pid == kill.pid) {
		memcpy(kill.task_memcg, k->last.task_memcg, sizeof(kill.task_memcg));
		if (!strcmp(k->last.constraint, "CONSTRAINT_MEMCG"))
			kill.memcg = true;
	}
	k->has_last = false;
	if (f->n_ooms_total < UINT32_MAX)
		f->n_ooms_total++;
	if (f->n_ooms == PROBE_DOCTOR_MAX_OOMS) {
		memmove(&f->ooms[0], &f->ooms[1], sizeof(f->ooms[0]) * (PROBE_DOCTOR_MAX_OOMS - 1));
		f->n_ooms--;
	}
	f->ooms[f->n_ooms++] = kill;
}

/* Reads records until the end: on /dev/kmsg one record per read() and
 * EAGAIN at the end (O_NONBLOCK), EPIPE when records were overwritten
 * while reading; on a plain file, lines until EOF. 0 or -errno. */
static int kmsg_read_fd(int fd, struct kmsg_scan *k)
{
	char *buf = malloc(KMSG_RECORD_MAX * 2 + 1);
	size_t have = 0, total = 0;
	bool skipping = false; /* inside a line longer than the buffer */
	int e = 0;

	if (!buf)
		return -ENOMEM;
	while (total < KMSG_READ_MAX) {
		ssize_t r = read(fd, buf + have, KMSG_RECORD_MAX * 2 - have);
		size_t start = 0;

		if (r < 0) {
			if (errno == EINTR || errno == EPIPE)
				continue;
			if (errno != EAGAIN)
				e = -errno;
			break;
		}
		if (r == 0)
			break;
		total += (size_t)r;
		have += (size_t)r;
		for (size_t i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			if (!skipping)
				kmsg_line(k, buf + start, i - start);
			skipping = false;
			start = i + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == KMSG_RECORD_MAX * 2) {
			have = 0;
			skipping = true;
		}
	}
	if (have && !skipping && e == 0)
		kmsg_line(k, buf, have);
	free(buf);
	return e;
}

static void read_kmsg(const char *root, struct probe_doctor_facts *f)
{
	char path[PROBE_PATH_MAX * 2];
	struct kmsg_scan k = { .f = f };
	struct stat st;
	int fd, e;

	if (probe_path_join(path, sizeof(path), root, "dev/kmsg") < 0) {
		f->kmsg_state = PROBE_READ_ERROR;
		probe_fmt(f->kmsg_error, sizeof(f->kmsg_error), "%s", strerror(ENAMETOOLONG));
		return;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = -errno;
		goto fail;
	}
	if (fstat(fd, &st) < 0 || (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode))) {
		close(fd);
		e = -EINVAL;
		goto fail;
	}
	e = kmsg_read_fd(fd, &k);
	close(fd);
	if (e < 0)
		goto fail;
	f->kmsg_state = PROBE_READ_OK;
	return;
fail:
	f->kmsg_state = state_of(e);
	probe_fmt(f->kmsg_error, sizeof(f->kmsg_error), "%s", strerror(-e));
}

/* ---- model processes --------------------------------------------------- */

/* A cgroup limit file: 0 and *v, or -errno. */
static int read_limit(const char *root, const char *rel, uint64_t *v)
{
	char *buf;
	size_t n;
	int e = probe_file_read(root, rel, &buf, &n);

	if (e < 0)
		return e;
	e = probe_parse_cgroup_limit(buf, n, v);
	free(buf);
	return e;
}

/* The smallest memory limit from the process's cgroup up to the root. */
static void read_proc_cg_limit(const char *root, struct probe_model_proc *p)
{
	const char *base = p->cg_version == 2 ? "sys/fs/cgroup" : "sys/fs/cgroup/memory";
	char level[sizeof(p->cgroup)], rel[sizeof(p->cgroup) + 64];

	p->cg_limit = PROBE_UNLIMITED;
	strcpy(level, p->cgroup);
	for (;;) {
		static const char *const v2_files[] = { "memory.max", "memory.high" };
		const char *dir = strcmp(level, "/") ? level : "";
		char *slash;

		for (size_t i = 0; i < (p->cg_version == 2 ? 2u : 1u); i++) {
			uint64_t v;

			snprintf(rel, sizeof(rel), "%s%s/%s", base, dir,
				 p->cg_version == 2 ? v2_files[i] : "memory.limit_in_bytes");
			if (read_limit(root, rel, &v) == 0 && v < p->cg_limit) {
				p->cg_limit = v;
				probe_span_copy(p->cg_limit_path, sizeof(p->cg_limit_path), level,
						strlen(level));
			}
		}
		if (!strcmp(level, "/"))
			break;
		slash = strrchr(level, '/');
		if (slash == level)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

static void read_proc_cgroup(const char *root, uint32_t pid, struct probe_model_proc *p)
{
	char rel[48];
	char *buf;
	size_t n;

	snprintf(rel, sizeof(rel), "proc/%u/cgroup", pid);
	if (probe_file_read(root, rel, &buf, &n) < 0)
		return;
	if (probe_parse_proc_cgroup(buf, n, &p->cg_version, p->cgroup, sizeof(p->cgroup)) < 0) {
		p->cg_version = 0;
		p->cgroup[0] = '\0';
	}
	free(buf);
	if (p->cg_version)
		read_proc_cg_limit(root, p);
}

/* Whether /proc/PID runs a model; fills p. */
static bool model_proc(const char *root, uint32_t pid, struct probe_model_proc *p)
{
	struct probe_proc_status st;
	char rel[48], argv0[64], argv1[32], comm[32] = "";
	char *buf;
	size_t n;
	bool named;

	snprintf(rel, sizeof(rel), "proc/%u/comm", pid);
	if (probe_file_read(root, rel, &buf, &n) < 0)
		return false;
	probe_parse_line(buf, n, comm, sizeof(comm));
	free(buf);
	argv0[0] = argv1[0] = '\0';
	snprintf(rel, sizeof(rel), "proc/%u/cmdline", pid);
	if (probe_file_read(root, rel, &buf, &n) == 0) {
		probe_parse_cmdline(buf, n, argv0, sizeof(argv0), argv1, sizeof(argv1));
		free(buf);
	}
	named = probe_model_proc_name(comm) || probe_model_proc_name(argv0);
	/* llmem runs models only as `llmem serve` */
	if (named && (!strcmp(comm, "llmem") || !strcmp(argv0, "llmem")) && strcmp(argv1, "serve"))
		named = false;
	if (!named)
		return false;
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	probe_span_copy(p->name, sizeof(p->name), comm[0] ? comm : argv0, strlen(comm[0] ? comm : argv0));
	p->vm_rss = p->vm_swap = PROBE_UNKNOWN;
	p->cg_limit = PROBE_UNLIMITED;
	snprintf(rel, sizeof(rel), "proc/%u/status", pid);
	if (probe_file_read(root, rel, &buf, &n) == 0) {
		if (probe_parse_proc_status(buf, n, &st) == 0) {
			p->vm_rss = st.vm_rss;
			p->vm_swap = st.vm_swap;
		}
		free(buf);
	}
	read_proc_cgroup(root, pid, p);
	return true;
}

static int cmp_mproc(const void *a, const void *b)
{
	uint32_t x = ((const struct probe_model_proc *)a)->pid;
	uint32_t y = ((const struct probe_model_proc *)b)->pid;

	return x < y ? -1 : x > y;
}

static void read_model_procs(const char *root, struct probe_doctor_facts *f)
{
	char path[PROBE_PATH_MAX * 2];
	uint32_t self = is_live(root) ? (uint32_t)getpid() : 0;
	struct dirent *de;
	DIR *dir;

	if (probe_path_join(path, sizeof(path), root, "proc") < 0 || !(dir = opendir(path)))
		return;
	while ((de = readdir(dir)) != NULL) {
		uint64_t pid;

		if (probe_span_u64(de->d_name, strlen(de->d_name), &pid) < 0 || pid == 0 ||
		    pid > UINT32_MAX || pid == self)
			continue;
		if (f->n_mprocs == PROBE_DOCTOR_MAX_MPROCS) {
			struct probe_model_proc spare;

			if (model_proc(root, (uint32_t)pid, &spare))
				f->mprocs_truncated = true;
			continue;
		}
		if (model_proc(root, (uint32_t)pid, &f->mprocs[f->n_mprocs]))
			f->n_mprocs++;
	}
	closedir(dir);
	qsort(f->mprocs, f->n_mprocs, sizeof(f->mprocs[0]), cmp_mproc);
}

/* ---- OOM kill counters of the cgroups ----------------------------------- */

static void cg_oom_add(const char *root, struct probe_doctor_facts *f, uint8_t version,
		       const char *path, const char *who)
{
	char rel[PROBE_PATH_MAX + 64];
	const char *dir = strcmp(path, "/") ? path : "";
	struct probe_cg_oom *c;
	char *buf;
	size_t n;
	uint64_t v;
	int e;

	if (version == 0 || f->n_cg_ooms == PROBE_DOCTOR_MAX_CG_OOMS)
		return;
	for (size_t i = 0; i < f->n_cg_ooms; i++)
		if (!strcmp(f->cg_ooms[i].path, path))
			return;
	if (version == 2)
		snprintf(rel, sizeof(rel), "sys/fs/cgroup%s/memory.events", dir);
	else
		snprintf(rel, sizeof(rel), "sys/fs/cgroup/memory%s/memory.oom_control", dir);
	if (probe_file_read(root, rel, &buf, &n) < 0)
		return; /* the root cgroup has no memory.events */
	e = probe_parse_keyed_u64(buf, n, "oom_kill", &v);
	free(buf);
	if (e < 0)
		return;
	c = &f->cg_ooms[f->n_cg_ooms++];
	memset(c, 0, sizeof(*c));
	probe_span_copy(c->path, sizeof(c->path), path, strlen(path));
	probe_span_copy(c->who, sizeof(c->who), who, strlen(who));
	c->oom_kill = v;
}

/* ---- NUMA and fragmentation ------------------------------------------------ */

static int cmp_node(const void *a, const void *b)
{
	uint32_t x = ((const struct probe_numa_node *)a)->id;
	uint32_t y = ((const struct probe_numa_node *)b)->id;

	return x < y ? -1 : x > y;
}

static void read_numa(const char *root, struct probe_doctor_facts *f)
{
	char path[PROBE_PATH_MAX * 2], rel[96];
	struct dirent *de;
	DIR *dir;
	int e;

	f->numa_balancing = read_sysctl(root, "proc/sys/kernel/numa_balancing");
	e = probe_path_join(path, sizeof(path), root, "sys/devices/system/node");
	if (e < 0 || !(dir = opendir(path))) {
		f->numa_state = e < 0 ? PROBE_READ_ERROR : state_of(-errno);
		return;
	}
	f->numa_state = PROBE_READ_OK;
	while ((de = readdir(dir)) != NULL && f->n_nodes < PROBE_DOCTOR_MAX_NODES) {
		struct probe_numa_node *nd = &f->nodes[f->n_nodes];
		uint64_t id;
		char *buf;
		size_t n;

		if (strncmp(de->d_name, "node", 4) ||
		    probe_span_u64(de->d_name + 4, strlen(de->d_name + 4), &id) < 0 || id > 4095)
			continue;
		snprintf(rel, sizeof(rel), "sys/devices/system/node/node%u/meminfo", (unsigned)id);
		if (probe_file_read(root, rel, &buf, &n) < 0)
			continue;
		e = probe_parse_node_meminfo(buf, n, &nd->total, &nd->free);
		free(buf);
		if (e < 0 || nd->total == 0)
			continue; /* a node without memory (CPUs only, or a CXL stub) */
		nd->id = (uint32_t)id;
		f->n_nodes++;
	}
	closedir(dir);
	qsort(f->nodes, f->n_nodes, sizeof(f->nodes[0]), cmp_node);
}

static void read_buddyinfo(const char *root, struct probe_doctor_facts *f)
{
	char *buf;
	size_t n;
	int e = probe_file_read(root, "proc/buddyinfo", &buf, &n);

	if (e == 0) {
		e = probe_parse_buddyinfo(buf, n, &f->buddy);
		free(buf);
		if (e < 0) {
			memset(&f->buddy, 0, sizeof(f->buddy));
			e = -EIO;
		}
	}
	f->buddy_state = state_of(e);
}

int probe_doctor_read(const struct probe_options *o, struct probe_doctor_facts *f, struct diag *d)
{
	const char *root = o->root && *o->root ? o->root : "/";
	int e;

	memset(f, 0, sizeof(*f));
	e = probe_run(o, &f->probe, d);
	if (e < 0)
		return e;
	probe_span_copy(f->root, sizeof(f->root), root, strlen(root));
	read_swaps(root, f);
	read_model_procs(root, f);
	read_thp_defrag(root, f);
	f->overcommit_memory = read_sysctl(root, "proc/sys/vm/overcommit_memory");
	f->overcommit_ratio = read_sysctl(root, "proc/sys/vm/overcommit_ratio");
	read_memlock(root, f);
	read_caps(root, f);
	read_psi(root, f);
	read_uptime(root, f);
	read_kmsg(root, f);
	cg_oom_add(root, f, f->probe.cgroup.version, f->probe.cgroup.path, "llmem doctor");
	for (size_t i = 0; i < f->n_mprocs; i++)
		cg_oom_add(root, f, f->mprocs[i].cg_version, f->mprocs[i].cgroup, f->mprocs[i].name);
	read_numa(root, f);
	read_buddyinfo(root, f);
	return 0;
}
