/* cgroup.c: a memory cgroup per backend (cgroup.h): finding the daemon's
 * cgroup and whether it is delegated, making and removing a backend's
 * cgroup, and reading its OOM kills. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/parse.h"
#include "probe/probe.h"
#include "serve/cgroup.h"

#define MIB (UINT64_C(1) << 20)
#define NAME_CUT 64

/* ---- pure ---- */

uint64_t cgroup_limit_compute(uint64_t need)
{
	uint64_t r;

	if (!ck_add_u64(need, need / 10, &r) || !ck_add_u64(r, 256 * MIB, &r))
		return UINT64_MAX;
	return r;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cgroup_parse_oom_kills(const char *text, size_t n, uint64_t *ret)
{
	static const char key[] = "oom_kill";
	size_t pos = 0;

	while (pos < n) {
		const char *line = text + pos, *nl = memchr(line, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - line) : n - pos;

		pos += len + 1;
		if (len > sizeof(key) - 1 && !memcmp(line, key, sizeof(key) - 1) &&
		    (line[sizeof(key) - 1] == ' ' || line[sizeof(key) - 1] == '\t')) {
			char num[32];
			size_t k = sizeof(key) - 1, m = 0;

			while (k < len && is_space(line[k]))
				k++;
			while (k < len && !is_space(line[k]) && m + 1 < sizeof(num))
				num[m++] = line[k++];
			num[m] = '\0';
			while (k < len && is_space(line[k]))
				k++;
			if (!m || k != len || parse_u64(num, ret) < 0)
				return -EBADMSG;
			return 0;
		}
	}
	return -ENOENT;
}

bool cgroup_list_has(const char *text, size_t n, const char *ctl)
{
	size_t cl = strlen(ctl), i = 0;

	while (i < n) {
		size_t s;

		while (i < n && is_space(text[i]))
			i++;
		s = i;
		while (i < n && !is_space(text[i]))
			i++;
		if (i - s == cl && !memcmp(text + s, ctl, cl))
			return true;
	}
	return false;
}

static bool name_byte_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_';
}

int cgroup_model_name(char *buf, size_t bufsz, const char *name, pid_t pid, uint32_t seq)
{
	char safe[NAME_CUT + 1];
	size_t k = 0;
	int w;

	for (const char *p = name; *p && k < NAME_CUT; p++)
		safe[k++] = name_byte_ok(*p) ? *p : '_';
	safe[k] = '\0';
	/* "." and ".." are not names */
	if (!k || !strcmp(safe, ".") || !strcmp(safe, ".."))
		snprintf(safe, sizeof(safe), "_");
	w = snprintf(buf, bufsz, "model-%s-%ld-%u", safe, (long)pid, seq);
	if (w < 0 || (size_t)w >= bufsz)
		return -ENAMETOOLONG;
	return w;
}

/* digits p[0..n) -> *v */
static bool span_num(const char *p, size_t n, uint64_t *v)
{
	char num[24];

	if (!n || n >= sizeof(num))
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	memcpy(num, p, n);
	num[n] = '\0';
	return parse_u64(num, v) == 0;
}

bool cgroup_model_name_pid(const char *dirname, pid_t *pid)
{
	size_t n = strlen(dirname);
	const char *seq, *p;
	uint64_t v, s;

	if (n < 6 || memcmp(dirname, "model-", 6))
		return false;
	seq = memrchr(dirname, '-', n);
	if (!seq || seq < dirname + 6)
		return false;
	if (!span_num(seq + 1, (size_t)(dirname + n - seq - 1), &s))
		return false;
	p = seq - 1;
	while (p > dirname + 5 && *p != '-')
		p--;
	if (p <= dirname + 5) /* "model-" then the pid: no name */
		return false;
	if (!span_num(p + 1, (size_t)(seq - p - 1), &v) || v == 0 || v > INT32_MAX)
		return false;
	*pid = (pid_t)v;
	return true;
}

const char *cgroup_limit_name(uint8_t version)
{
	return version == 1 ? "memory.limit_in_bytes" : "memory.max";
}

/* ---- files ---- */

/* root + "/" + rel, without doubling the '/' */
static int path_join(char *buf, size_t n, const char *root, const char *rel)
{
	int w;

	if (!root || !*root)
		root = "/";
	while (*rel == '/')
		rel++;
	w = snprintf(buf, n, "%s%s%s", root, root[strlen(root) - 1] == '/' ? "" : "/", rel);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* Writes text to an existing file (a cgroup interface file takes one
 * write). 0 or -errno. */
static int file_write(const char *path, const char *text)
{
	size_t n = strlen(text);
	ssize_t w;
	int fd = open(path, O_WRONLY | O_CLOEXEC), e = 0;

	if (fd < 0)
		return -errno;
	do
		w = write(fd, text, n);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		e = -errno;
	else if ((size_t)w != n)
		e = -EIO;
	if (close(fd) < 0 && !e && errno != EINTR)
		e = -errno;
	return e;
}

static int file_write_u64(const char *path, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu\n", (unsigned long long)v);
	return file_write(path, num);
}

/* A whole small file, NUL-terminated (at most 64 KiB). 0 or -errno. */
static int file_read(const char *path, char *buf, size_t bufsz, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;
	size_t k = 0;

	if (fd < 0)
		return -errno;
	while (k + 1 < bufsz) {
		ssize_t r = read(fd, buf + k, bufsz - 1 - k);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = -errno;
			break;
		}
		if (r == 0)
			break;
		k += (size_t)r;
	}
	close(fd);
	buf[k] = '\0';
	*len = k;
	return e;
}

static int dir_file(char *buf, size_t n, const char *dir, const char *file)
{
	int w = snprintf(buf, n, "%s/%s", dir, file);

	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static bool exists(const char *dir, const char *file)
{
	char p[CGROUP_PATH_MAX + 64];

	return dir_file(p, sizeof(p), dir, file) == 0 && access(p, F_OK) == 0;
}

/* ---- the daemon's cgroup ---- */

/* Removes the empty model cgroups of daemons that no longer run (a daemon
 * killed with SIGKILL leaves them). */
static void sweep_stale(struct cgroup_tree *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[CGROUP_PATH_MAX + 300];
		pid_t pid;

		if (!cgroup_model_name_pid(de->d_name, &pid))
			continue;
		if (pid == t->pid || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		if (dir_file(p, sizeof(p), t->dir, de->d_name) == 0 && rmdir(p) == 0)
			t->n_stale++;
	}
	closedir(d);
}

/* The pids in a cgroup.procs file other than self: their count. */
static size_t other_pids(const char *text, size_t n, pid_t self)
{
	size_t count = 0, i = 0;

	while (i < n) {
		uint64_t v;
		size_t s;

		while (i < n && is_space(text[i]))
			i++;
		s = i;
		while (i < n && !is_space(text[i]))
			i++;
		if (i > s && (!span_num(text + s, i - s, &v) || v != (uint64_t)self))
			count++;
	}
	return count;
}

static const char delegate_hint[] =
	"run llmem serve as a systemd service with Delegate=yes (contrib/llmem.service), or "
	"under systemd-run -p Delegate=yes";

static void setup_v2(struct cgroup_tree *t, const char *root)
{
	char base[CGROUP_PATH_MAX], p[CGROUP_PATH_MAX + 64], leaf[CGROUP_PATH_MAX + 64], buf[65536];
	char num[32];
	size_t n;
	int e;

	/* a hybrid host mounts v2 at .../unified */
	if (path_join(base, sizeof(base), root, "sys/fs/cgroup") < 0)
		goto toolong;
	if (!exists(base, "cgroup.controllers") &&
	    path_join(base, sizeof(base), root, "sys/fs/cgroup/unified") < 0)
		goto toolong;
	e = snprintf(t->dir, sizeof(t->dir), "%s%s", base, strcmp(t->path, "/") ? t->path : "");
	if (e < 0 || (size_t)e >= sizeof(t->dir))
		goto toolong;
	if (dir_file(p, sizeof(p), t->dir, "cgroup.controllers") < 0)
		goto toolong;
	e = file_read(p, buf, sizeof(buf), &n);
	if (e < 0) {
		msgf(t->why, sizeof(t->why), "cgroup v2: cannot read %s: %s", p, strerror(-e));
		return;
	}
	if (!cgroup_list_has(buf, n, "memory")) {
		msgf(t->why, sizeof(t->why),
		     "cgroup v2: the memory controller is not delegated to %s (its parent does not enable it); %s",
		     t->path, delegate_hint);
		return;
	}
	if (dir_file(p, sizeof(p), t->dir, "cgroup.subtree_control") < 0)
		goto toolong;
	if (access(p, W_OK) < 0) {
		msgf(t->why, sizeof(t->why), "cgroup v2: %s is not writable (%s); %s", t->path, strerror(errno),
		     delegate_hint);
		return;
	}
	/* already done (the daemon is in its leaf, started again in place) */
	if (file_read(p, buf, sizeof(buf), &n) == 0 && cgroup_list_has(buf, n, "memory") &&
	    exists(t->dir, CGROUP_LEAF)) {
		t->delegated = true;
		return;
	}
	if (dir_file(p, sizeof(p), t->dir, "cgroup.procs") < 0)
		goto toolong;
	e = file_read(p, buf, sizeof(buf), &n);
	if (e < 0) {
		msgf(t->why, sizeof(t->why), "cgroup v2: cannot read %s: %s", p, strerror(-e));
		return;
	}
	n = other_pids(buf, n, t->pid);
	if (n) {
		msgf(t->why, sizeof(t->why),
		     "cgroup v2: %s holds %zu other process%s, and a cgroup with processes cannot give its "
		     "children a memory limit; %s", t->path, n, n == 1 ? "" : "es", delegate_hint);
		return;
	}
	/* no internal processes: the daemon moves into a leaf first */
	if (dir_file(leaf, sizeof(leaf), t->dir, CGROUP_LEAF) < 0)
		goto toolong;
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST) {
		msgf(t->why, sizeof(t->why), "cgroup v2: cannot make %s: %s; %s", leaf, strerror(errno),
		     delegate_hint);
		return;
	}
	snprintf(num, sizeof(num), "%ld\n", (long)t->pid);
	if (dir_file(p, sizeof(p), leaf, "cgroup.procs") < 0 || (e = file_write(p, num)) < 0) {
		msgf(t->why, sizeof(t->why), "cgroup v2: cannot move llmem into %s: %s; %s", leaf,
		     strerror(-e), delegate_hint);
		(void)!rmdir(leaf);
		return;
	}
	if (dir_file(p, sizeof(p), t->dir, "cgroup.subtree_control") < 0 ||
	    (e = file_write(p, "+memory")) < 0) {
		char back[CGROUP_PATH_MAX + 64];

		msgf(t->why, sizeof(t->why), "cgroup v2: cannot enable +memory in %s/cgroup.subtree_control: %s; %s",
		     t->path, strerror(-e), delegate_hint);
		if (dir_file(back, sizeof(back), t->dir, "cgroup.procs") == 0)
			(void)!file_write(back, num);
		(void)!rmdir(leaf);
		return;
	}
	t->moved = true;
	t->delegated = true;
	return;
toolong:
	msgf(t->why, sizeof(t->why), "cgroup v2: the cgroup's path is too long");
}

static void setup_v1(struct cgroup_tree *t, const char *root)
{
	char base[CGROUP_PATH_MAX], test[CGROUP_PATH_MAX + 64], p[CGROUP_PATH_MAX + 128], buf[4096];
	uint64_t k;
	size_t n;
	int e;

	if (path_join(base, sizeof(base), root, "sys/fs/cgroup/memory") < 0)
		goto toolong;
	e = snprintf(t->dir, sizeof(t->dir), "%s%s", base, strcmp(t->path, "/") ? t->path : "");
	if (e < 0 || (size_t)e >= sizeof(t->dir))
		goto toolong;
	if (!exists(t->dir, "memory.limit_in_bytes")) {
		msgf(t->why, sizeof(t->why), "cgroup v1: no memory controller at %s", t->dir);
		return;
	}
	/* a child made and removed says whether it is writable */
	e = snprintf(test, sizeof(test), "%s/llmem-check-%ld", t->dir, (long)t->pid);
	if (e < 0 || (size_t)e >= sizeof(test))
		goto toolong;
	if (mkdir(test, 0755) < 0 && errno != EEXIST) {
		msgf(t->why, sizeof(t->why), "cgroup v1: cannot make a cgroup in %s (%s); %s", t->path,
		     strerror(errno), delegate_hint);
		return;
	}
	e = 0;
	if (dir_file(p, sizeof(p), test, "memory.limit_in_bytes") < 0 || access(p, W_OK) < 0)
		e = -EACCES;
	else if (dir_file(p, sizeof(p), test, "memory.oom_control") < 0 ||
		 file_read(p, buf, sizeof(buf), &n) < 0 || cgroup_parse_oom_kills(buf, n, &k) < 0)
		e = -ENOENT;
	(void)!rmdir(test);
	if (e == -EACCES) {
		msgf(t->why, sizeof(t->why), "cgroup v1: the memory limits under %s are not writable; %s", t->path,
		     delegate_hint);
		return;
	}
	if (e < 0) {
		msgf(t->why, sizeof(t->why),
		     "cgroup v1: memory.oom_control under %s has no oom_kill count (Linux 4.13 or later)", t->path);
		return;
	}
	t->delegated = true;
	return;
toolong:
	msgf(t->why, sizeof(t->why), "cgroup v1: the cgroup's path is too long");
}

void cgroup_tree_setup(struct cgroup_tree *t, const char *root)
{
	char *buf = NULL;
	size_t n;
	int e;

	memset(t, 0, sizeof(*t));
	t->pid = getpid();
	t->next = 1;
	e = probe_file_read(root ? root : "/", "proc/self/cgroup", &buf, &n);
	if (e < 0) {
		msgf(t->why, sizeof(t->why), "cannot read /proc/self/cgroup: %s", strerror(-e));
		return;
	}
	e = probe_parse_proc_cgroup(buf, n, &t->version, t->path, sizeof(t->path));
	free(buf);
	if (e < 0) {
		t->version = 0;
		msgf(t->why, sizeof(t->why), "no memory cgroup in /proc/self/cgroup");
		return;
	}
	if (t->version == 2)
		setup_v2(t, root);
	else
		setup_v1(t, root);
	if (!t->delegated)
		return;
	sweep_stale(t);
	msgf(t->why, sizeof(t->why), "cgroup v%u: each model runs in a cgroup of its own under %s (%s%s)",
	     t->version, t->path, cgroup_limit_name(t->version),
	     t->version == 2 ? ", memory.oom.group" : "; v1 has no memory.oom.group");
}

/* ---- a backend's cgroup ---- */

int cgroup_model_create(struct cgroup_tree *t, const char *name, uint64_t limit, struct cgroup_model *m,
			char *why, size_t whysz)
{
	char dn[NAME_CUT + 64], p[CGROUP_PATH_MAX + 64];
	int e = -ENAMETOOLONG;

	memset(m, 0, sizeof(*m));
	if (!t || !t->delegated) {
		msgf(why, whysz, "no delegated cgroup");
		return -ENOTSUP;
	}
	if (cgroup_model_name(dn, sizeof(dn), name, t->pid, t->next++) < 0 ||
	    dir_file(m->dir, sizeof(m->dir), t->dir, dn) < 0 ||
	    dir_file(m->procs, sizeof(m->procs), m->dir, "cgroup.procs") < 0) {
		msgf(why, whysz, "the cgroup's path is too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(m->dir, 0755) < 0) {
		e = -errno;
		msgf(why, whysz, "cannot make %s: %s", m->dir, strerror(-e));
		return e;
	}
	m->version = t->version;
	m->limit = limit;
	if (dir_file(p, sizeof(p), m->dir, cgroup_limit_name(t->version)) < 0 ||
	    (e = file_write_u64(p, limit)) < 0) {
		msgf(why, whysz, "cannot set %s of %s: %s", cgroup_limit_name(t->version), m->dir, strerror(-e));
		(void)!rmdir(m->dir);
		return e < 0 ? e : -ENAMETOOLONG;
	}
	/* the kernel rounds it to pages: what it holds is the limit */
	{
		char buf[64];
		uint64_t v;
		size_t n;

		if (file_read(p, buf, sizeof(buf), &n) == 0 && probe_parse_cgroup_limit(buf, n, &v) == 0 &&
		    v != PROBE_UNLIMITED)
			m->limit = v;
	}
	/* best effort: the whole backend is killed, not swapped out */
	if (t->version == 2) {
		if (dir_file(p, sizeof(p), m->dir, "memory.oom.group") == 0)
			(void)!file_write(p, "1\n");
		if (dir_file(p, sizeof(p), m->dir, "memory.swap.max") == 0 && access(p, F_OK) == 0)
			(void)!file_write(p, "0\n");
	} else if (dir_file(p, sizeof(p), m->dir, "memory.memsw.limit_in_bytes") == 0 && access(p, F_OK) == 0) {
		(void)!file_write_u64(p, limit);
	}
	m->active = true;
	return 0;
}

int cgroup_model_oom_kills(const struct cgroup_model *m, uint64_t *kills, bool *own_limit)
{
	char p[CGROUP_PATH_MAX + 64], buf[4096];
	uint64_t v = 0;
	size_t n;
	int e;

	*own_limit = false;
	if (!m->active)
		return -ENOENT;
	if (dir_file(p, sizeof(p), m->dir, m->version == 1 ? "memory.oom_control" : "memory.events") < 0)
		return -ENAMETOOLONG;
	e = file_read(p, buf, sizeof(buf), &n);
	if (e < 0)
		return e;
	e = cgroup_parse_oom_kills(buf, n, kills);
	if (e < 0)
		return e;
	if (m->version == 1) {
		/* v1 counts no "oom" events, and its failcnt is not reliable
		 * (6.x kernels): the peak usage reaching the limit (within a
		 * huge page) says it */
		if (dir_file(p, sizeof(p), m->dir, "memory.max_usage_in_bytes") == 0 &&
		    file_read(p, buf, sizeof(buf), &n) == 0 && probe_parse_u64_file(buf, n, &v) == 0)
			*own_limit = v + 2 * MIB >= m->limit;
	} else if (probe_parse_keyed_u64(buf, n, "oom", &v) == 0) {
		*own_limit = v > 0;
	}
	return 0;
}

int cgroup_model_remove(struct cgroup_model *m)
{
	if (!m->active)
		return 0;
	if (rmdir(m->dir) < 0 && errno != ENOENT)
		return -errno;
	m->active = false;
	return 0;
}
