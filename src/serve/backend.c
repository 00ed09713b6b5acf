/* backend.c: one llama-server child process: the log parser (pure), the
 * output's line assembly and tail, and the process itself (fork/exec in
 * its own process group, signals, reaping, reading, RSS). See backend.h. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/checked.h"
#include "serve/backend.h"

/* ---- the report ------------------------------------------------------- */

void backend_report_init(struct backend_report *r)
{
	memset(r, 0, sizeof(*r));
}

const char *backend_buf_kind_name(enum backend_buf_kind k)
{
	static const char *const names[] = { "model", "KV", "RS", "compute", "output" };

	return (unsigned)k < ARRAY_SIZE(names) ? names[k] : "?";
}

/* The first occurrence of the NUL-terminated needle in s[0..n). */
static const char *find(const char *s, size_t n, const char *needle)
{
	return memmem(s, n, needle, strlen(needle));
}

/* Skips llama.cpp's log prefix "0.00.713.297 I " (timestamp and level
 * letter) when the line has one; *level gets the letter or 0. */
static size_t skip_prefix(const char *s, size_t n, char *level)
{
	size_t i = 0;

	*level = 0;
	while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
		i++;
	if (i == 0 || i + 3 > n || s[i] != ' ' || s[i + 1] < 'A' || s[i + 1] > 'Z' ||
	    s[i + 2] != ' ')
		return 0;
	*level = s[i + 1];
	return i + 3;
}

/* Whether a loaded backend's line says nothing llmem acts on: info and
 * debug lines, and the continuation lines of a multi-line entry (the
 * sampler parameters, four tab-indented lines a request). */
static bool quiet_line(const char *s, size_t n)
{
	char level;

	(void)skip_prefix(s, n, &level);
	return level == 'I' || level == 'D' || (level == 0 && n > 0 && (s[0] == '\t' || s[0] == ' '));
}

/* Copies a line (cut to len) into dst without its prefix. */
static void keep_line(char *dst, const char *s, size_t n)
{
	char level;
	size_t skip = skip_prefix(s, n, &level);

	s += skip;
	n -= skip;
	if (n > BACKEND_REPORT_LINE - 1)
		n = BACKEND_REPORT_LINE - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* "  26.29 MiB" at *p: a decimal number of MiB, then " MiB". Returns the
 * bytes, round(MiB * 2^20) computed exactly, or -1. */
static int parse_mib(const char *s, size_t n, uint64_t *bytes)
{
	size_t i = 0;
	uint64_t whole = 0, frac = 0, scale = 1, v;
	int nd = 0, nf = 0;

	while (i < n && s[i] == ' ')
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (++nd > 15)
			return -1;
		whole = whole * 10 + (uint64_t)(s[i] - '0');
	}
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (nf < 6) {
				frac = frac * 10 + (uint64_t)(s[i] - '0');
				scale *= 10;
			}
			nf++;
		}
	}
	if (nd == 0 || i + 4 > n || memcmp(s + i, " MiB", 4))
		return -1;
	/* whole < 10^15 so whole * 2^20 < 2^70: check; frac * 2^21 < 2^41 */
	if (!ck_mul_u64(whole, UINT64_C(1) << 20, &v))
		return -1;
	if (!ck_add_u64(v, (frac * (UINT64_C(2) << 20) + scale) / (2 * scale), &v))
		return -1;
	*bytes = v;
	return 0;
}

/* A buffer line: added to what the device already has of that kind
 * (replace: a compute buffer of the scheduler, which the same context
 * reserving again frees and allocates anew: it takes the place of what
 * that context reserved before) */
static void add_buf(struct backend_report *r, const char *dev, size_t dev_len,
		    enum backend_buf_kind kind, uint64_t bytes, bool replace)
{
	struct backend_buf *b;

	for (size_t i = 0; i < r->n_bufs; i++) {
		b = &r->bufs[i];
		if (b->kind == kind && strlen(b->device) == dev_len &&
		    !memcmp(b->device, dev, dev_len)) {
			if (replace && b->ctx == r->ctx && b->ctx_bytes <= b->bytes)
				b->bytes -= b->ctx_bytes;
			if (!ck_add_u64(b->bytes, bytes, &b->bytes))
				b->bytes = UINT64_MAX;
			if (replace) {
				b->ctx = r->ctx;
				b->ctx_bytes = bytes;
			}
			return;
		}
	}
	if (r->n_bufs == BACKEND_MAX_BUFS) {
		r->bufs_overflow = true;
		return;
	}
	b = &r->bufs[r->n_bufs++];
	memcpy(b->device, dev, dev_len);
	b->device[dev_len] = '\0';
	b->kind = kind;
	b->bytes = bytes;
	b->ctx = r->ctx;
	b->ctx_bytes = replace ? bytes : 0;
}

static bool is_dev_char(char c)
{
	return c > ' ' && c < 0x7f;
}

/* "<func>: <device> <kind> buffer size = <MiB> MiB" (a LoRA adapter's
 * buffers count with the weights) */
static void parse_buffer_line(struct backend_report *r, const char *s, size_t n)
{
	static const struct { const char *word; enum backend_buf_kind kind; } kinds[] = {
		{ "model", BACKEND_BUF_MODEL }, { "KV", BACKEND_BUF_KV },
		{ "RS", BACKEND_BUF_RS }, { "compute", BACKEND_BUF_COMPUTE },
		{ "output", BACKEND_BUF_OUTPUT }, { "LoRA", BACKEND_BUF_MODEL },
	};
	const char *p = find(s, n, " buffer size = ");
	size_t at, k_end, k_beg, d_end, d_beg;
	uint64_t bytes;
	int kind = -1;

	if (!p)
		return;
	at = (size_t)(p - s);
	k_end = at;
	k_beg = k_end;
	while (k_beg > 0 && is_dev_char(s[k_beg - 1]))
		k_beg--;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (strlen(kinds[i].word) == k_end - k_beg &&
		    !memcmp(s + k_beg, kinds[i].word, k_end - k_beg))
			kind = (int)kinds[i].kind;
	}
	if (kind < 0)
		return;
	d_end = k_beg;
	while (d_end > 0 && s[d_end - 1] == ' ')
		d_end--;
	if (d_end == k_beg)
		return;
	d_beg = d_end;
	while (d_beg > 0 && is_dev_char(s[d_beg - 1]))
		d_beg--;
	if (d_beg == d_end || d_end - d_beg >= BACKEND_DEV_MAX || s[d_end - 1] == ':')
		return;
	at += strlen(" buffer size = ");
	if (parse_mib(s + at, n - at, &bytes) < 0)
		return;
	/* llama.cpp reserves the graph again when what it holds changes
	 * (adapters applied after the context is made): the last
	 * sched_reserve line of a device is its compute buffer */
	add_buf(r, s + d_beg, d_end - d_beg, (enum backend_buf_kind)kind, bytes,
		kind == BACKEND_BUF_COMPUTE && find(s, at, "sched_reserve:") != NULL);
}

/* The mmproj (clip) logs its weights without a device: "CLIP using CUDA0
 * backend" comes first, then "load_hparams: model size: 851.38 MiB". */
static void parse_clip_line(struct backend_report *r, const char *s, size_t n)
{
	const char *p;

	if ((p = find(s, n, "CLIP using "))) {
		size_t at = (size_t)(p - s) + strlen("CLIP using "), e = at;

		while (e < n && is_dev_char(s[e]))
			e++;
		if (e > at && e - at < BACKEND_DEV_MAX && n - e >= 8 &&
		    !memcmp(s + e, " backend", 8)) {
			memcpy(r->clip_dev, s + at, e - at);
			r->clip_dev[e - at] = '\0';
		}
	} else if ((p = find(s, n, "load_hparams: model size:"))) {
		size_t at = (size_t)(p - s) + strlen("load_hparams: model size:");
		uint64_t bytes;
		const char *dev = r->clip_dev[0] ? r->clip_dev : "CPU";

		if (parse_mib(s + at, n - at, &bytes) == 0)
			add_buf(r, dev, strlen(dev), BACKEND_BUF_MODEL, bytes, false);
	}
}

/* Whether the line, lowered, holds one of pats (each lower case). */
static bool match_any(const char *low, size_t n, const char *const *pats, size_t np)
{
	for (size_t i = 0; i < np; i++)
		if (memmem(low, n, pats[i], strlen(pats[i])))
			return true;
	return false;
}

/* Whether a lowered line could hold one of the failure patterns below:
 * each holds one of these four-letter words. One pass instead of a
 * search per pattern, for the warnings a loaded backend prints on every
 * request. */
static bool may_fail(const char *low, size_t n)
{
	static const char words[][4] = { "memo", "allo", "fail", "erro", "bind", "exit" };

	for (size_t i = 0; i + 4 <= n; i++)
		for (size_t w = 0; w < ARRAY_SIZE(words); w++)
			if (low[i] == words[w][0] && !memcmp(low + i, words[w], 4))
				return true;
	return false;
}

void backend_report_parse_line(struct backend_report *r, const char *line, size_t n)
{
	/* lower case: they are matched against the line lowered */
	static const char *const oom[] = {
		"out of memory", "cudamalloc failed", "failed to allocate", "unable to allocate",
		"erroroutofdevicememory", "erroroutofhostmemory", "std::bad_alloc",
	};
	/* allocation failures llama.cpp recovers from */
	static const char *const oom_benign[] = {
		"pinned memory", "async uploads", "prompt cache",
	};
	static const char *const fail[] = {
		"error loading model", "failed to load model", "failed to create context",
		"failed to initialize the context", "failed to load lora", "failed to load control vector",
		"couldn't bind", "exiting due to",
	};
	char buf[BACKEND_LINE_MAX + 1], low[BACKEND_LINE_MAX + 1];
	size_t m = 0, skip;
	char level;

	if (n > BACKEND_LINE_MAX)
		n = BACKEND_LINE_MAX;
	if (r->loaded && quiet_line(line, n)) {
		r->n_lines++;
		return;
	}
	/* drop ANSI escape sequences (--log-colors on) and NULs */
	for (size_t i = 0; i < n; i++) {
		if (line[i] == 0x1b && i + 1 < n && line[i + 1] == '[') {
			i += 2;
			while (i < n && !((unsigned char)line[i] >= 0x40 && (unsigned char)line[i] <= 0x7e))
				i++;
			continue;
		}
		buf[m++] = line[i] ? line[i] : '?';
	}
	buf[m] = '\0';
	r->n_lines++;
	skip = skip_prefix(buf, m, &level);
	if (r->loaded)
		goto failures; /* the rest is said while loading */

	if (find(buf, m, "fitting params to device memory"))
		r->in_fit = true;
	else if (find(buf, m, "fitting params to free memory took"))
		r->in_fit = false;

	if (find(buf, m, "listening on http")) {
		const char *u = strstr(buf, "listening on http");
		const char *h = u ? strstr(u, "://") : NULL;
		unsigned port = 0;

		r->listening = true;
		r->in_fit = false;
		/* "http://HOST:PORT": the digits after the host's colon */
		if (h) {
			h += 3;
			while (*h && *h != ':' && *h != ' ' && *h != '/')
				h++;
			if (*h == ':')
				for (h++; *h >= '0' && *h <= '9' && port < 65536; h++)
					port = port * 10 + (unsigned)(*h - '0');
		}
		r->listen_port = port < 65536 ? port : 0;
	}
	if (!r->in_fit) {
		/* llama-context.cpp: each context (the draft model's too)
		 * reserves a compute buffer of its own */
		if (find(buf, m, "constructing llama_context"))
			r->ctx++;
		parse_buffer_line(r, buf + skip, m - skip);
		parse_clip_line(r, buf + skip, m - skip);
	}
	if (find(buf, m, "couldn't bind"))
		r->bind_failed = true;
failures:
	if ((r->oom && r->load_failed) || level == 'D')
		return;
	for (size_t i = 0; i < m; i++)
		low[i] = buf[i] >= 'A' && buf[i] <= 'Z' ? (char)(buf[i] - 'A' + 'a') : buf[i];
	if (!may_fail(low, m))
		return;
	if (!r->oom && match_any(low, m, oom, ARRAY_SIZE(oom)) &&
	    !match_any(low, m, oom_benign, ARRAY_SIZE(oom_benign))) {
		r->oom = true;
		keep_line(r->oom_line, buf, m);
	}
	if (!r->load_failed && match_any(low, m, fail, ARRAY_SIZE(fail))) {
		r->load_failed = true;
		keep_line(r->fail_line, buf, m);
	}
}

int backend_device_pool(const char *device)
{
	static const char *const gpus[] = {
		"CUDA", "ROCm", "MUSA", "Vulkan", "SYCL", "MTL", "Metal", "CANN",
	};
	size_t n = strlen(device);

	if (!strncmp(device, "CPU", 3) || !strcmp(device, "AMX") ||
	    (n >= 5 && !strcmp(device + n - 5, "_Host")))
		return 0;
	if (!strcmp(device, "OpenCL"))
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(gpus); i++) {
		size_t pl = strlen(gpus[i]);
		const char *d = device + pl;
		unsigned long idx = 0;
		size_t nd = 0;

		if (strncmp(device, gpus[i], pl))
			continue;
		for (; *d >= '0' && *d <= '9'; d++, nd++) {
			idx = idx * 10 + (unsigned long)(*d - '0');
			if (idx > 4096)
				return -1;
		}
		if (nd == 0 || (*d && *d != '_'))
			continue;
		return (int)idx + 1;
	}
	return -1;
}

int backend_report_pool_bytes(const struct backend_report *r, size_t n_gpus, uint64_t *pool)
{
	int ret = 0;

	for (size_t i = 0; i <= n_gpus; i++)
		pool[i] = 0;
	for (size_t i = 0; i < r->n_bufs; i++) {
		int p = backend_device_pool(r->bufs[i].device);

		if (p < 0 || (size_t)p > n_gpus) {
			ret = -ERANGE;
			continue;
		}
		if (!ck_add_u64(pool[p], r->bufs[i].bytes, &pool[p]))
			return -EOVERFLOW;
	}
	return ret;
}

/* ---- the log ---------------------------------------------------------- */

void backend_log_init(struct backend_log *lg)
{
	lg->line_len = 0;
	lg->line[0] = '\0';
	lg->line_cut = false;
	lg->ring_pos = 0;
	lg->ring_len = 0;
	lg->n_bytes = 0;
}

void backend_log_release(struct backend_log *lg)
{
	backend_log_init(lg);
}

static void ring_add(struct backend_log *lg, const char *p, size_t n)
{
	if (n >= BACKEND_TAIL_MAX) {
		memcpy(lg->ring, p + n - BACKEND_TAIL_MAX, BACKEND_TAIL_MAX);
		lg->ring_pos = 0;
		lg->ring_len = BACKEND_TAIL_MAX;
		return;
	}
	while (n > 0) {
		size_t k = BACKEND_TAIL_MAX - lg->ring_pos;

		if (k > n)
			k = n;
		memcpy(lg->ring + lg->ring_pos, p, k);
		lg->ring_pos = (lg->ring_pos + k) % BACKEND_TAIL_MAX;
		lg->ring_len = lg->ring_len + k > BACKEND_TAIL_MAX ? BACKEND_TAIL_MAX : lg->ring_len + k;
		p += k;
		n -= k;
	}
}

static void line_end(struct backend_log *lg, struct backend_report *rep)
{
	size_t n = lg->line_len;

	if (n > 0 && lg->line[n - 1] == '\r' && !lg->line_cut)
		n--;
	lg->line[n] = '\0';
	if (rep)
		backend_report_parse_line(rep, lg->line, n);
	lg->line_len = 0;
	lg->line_cut = false;
}

void backend_log_feed(struct backend_log *lg, struct backend_report *rep, const char *p, size_t n)
{
	lg->n_bytes += n;
	ring_add(lg, p, n);
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n, room = BACKEND_LINE_MAX - lg->line_len;

		/* a whole quiet line of a loaded backend (nearly all it says
		 * while serving: 30-odd lines a request at -lv 4) is counted
		 * where it lies, not copied: what backend_report_parse_line()
		 * does with it, without the copy */
		if (nl && rep && rep->loaded && lg->line_len == 0 && !lg->line_cut && k <= BACKEND_LINE_MAX &&
		    quiet_line(p, k > 0 && p[k - 1] == '\r' ? k - 1 : k)) {
			rep->n_lines++;
			p = nl + 1;
			n -= k + 1;
			continue;
		}
		if (k > room) {
			lg->line_cut = true;
			memcpy(lg->line + lg->line_len, p, room);
			lg->line_len += room;
		} else {
			memcpy(lg->line + lg->line_len, p, k);
			lg->line_len += k;
		}
		if (!nl)
			break;
		line_end(lg, rep);
		p = nl + 1;
		n -= k + 1;
	}
}

void backend_log_flush(struct backend_log *lg, struct backend_report *rep)
{
	if (lg->line_len > 0 || lg->line_cut)
		line_end(lg, rep);
}

size_t backend_log_tail(const struct backend_log *lg, char *buf, size_t bufsz)
{
	size_t n, start, skip = 0;

	if (bufsz == 0)
		return 0;
	n = lg->ring_len < bufsz - 1 ? lg->ring_len : bufsz - 1;
	/* the window is the last n of ring_len bytes ending at ring_pos */
	start = (lg->ring_pos + BACKEND_TAIL_MAX - n) % BACKEND_TAIL_MAX;
	for (size_t i = 0; i < n; i++)
		buf[i] = lg->ring[(start + i) % BACKEND_TAIL_MAX];
	if (n < lg->n_bytes) {
		/* the window starts inside the output: is that a line start? */
		size_t before = (start + BACKEND_TAIL_MAX - 1) % BACKEND_TAIL_MAX;
		bool at_line = n < lg->ring_len && lg->ring[before] == '\n';

		if (!at_line) {
			const char *nl = memchr(buf, '\n', n);

			if (nl && (size_t)(nl - buf) + 1 < n)
				skip = (size_t)(nl - buf) + 1;
		}
	}
	if (skip)
		memmove(buf, buf + skip, n - skip);
	n -= skip;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = '?';
	buf[n] = '\0';
	return n;
}

/* ---- the process ------------------------------------------------------ */

/* Moves fd to 3 or above (so dup2 onto 0-2 in the child cannot clobber
 * it), keeping it close-on-exec. */
static int fd_above_stdio(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd < 0 ? -1 : nfd;
}

static void close_from(int lo, int hi)
{
#ifdef SYS_close_range
	if (lo > hi || syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0) == 0)
		return;
#endif
	for (int fd = lo; fd <= hi && fd < 65536; fd++)
		close(fd);
}

struct child_status {
	int step; /* 1 setup, 2 cgroup, 3 exec */
	int err;
};

static void child_fail(int st_fd, int step)
{
	struct child_status cs = { step, errno ? errno : EIO };
	ssize_t w;

	do
		w = write(st_fd, &cs, sizeof(cs));
	while (w < 0 && errno == EINTR);
	_exit(127);
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void child_run(const struct backend_spec *sp, pid_t parent, int out_w, int st_w)
{
	struct sigaction dfl;
	sigset_t empty;
	int dn;

	if (setpgid(0, 0) < 0)
		child_fail(st_w, 1);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(st_w, 1);
	if (getppid() != parent)
		_exit(127); /* the parent died before the prctl */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &dfl, NULL);
	dn = open("/dev/null", O_RDONLY);
	if (dn < 0)
		child_fail(st_w, 1);
	if (dn != 0 && dup2(dn, 0) < 0)
		child_fail(st_w, 1);
	if (dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
		child_fail(st_w, 1);
	close_from(3, st_w - 1);
	close_from(st_w + 1, INT_MAX);
	if (sp->cgroup_procs) {
		char num[24];
		int i = (int)sizeof(num), fd;
		long pid = (long)getpid();
		ssize_t w;

		num[--i] = '\n';
		do
			num[--i] = (char)('0' + pid % 10);
		while ((pid /= 10) > 0);
		fd = open(sp->cgroup_procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			child_fail(st_w, 2);
		do
			w = write(fd, num + i, sizeof(num) - (size_t)i);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			child_fail(st_w, 2);
		close(fd);
	}
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	if (sp->envp)
		execve(sp->exe, sp->argv, sp->envp);
	else
		execv(sp->exe, sp->argv);
	child_fail(st_w, 3);
}

int backend_start(const struct backend_spec *sp, struct backend_proc *bp)
{
	int out[2], st[2], e = 0;
	struct child_status cs;
	sigset_t all, old;
	pid_t parent = getpid(), pid;
	ssize_t r;

	bp->pid = 0;
	bp->out_fd = -1;
	bp->exited = false;
	bp->eof = false;
	bp->wstatus = 0;
	if (!sp || !sp->exe || !sp->argv || !sp->argv[0])
		return -EINVAL;
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(st, O_CLOEXEC) < 0) {
		e = -errno;
		close(out[0]);
		close(out[1]);
		return e;
	}
	out[0] = fd_above_stdio(out[0]);
	out[1] = fd_above_stdio(out[1]);
	st[0] = fd_above_stdio(st[0]);
	st[1] = fd_above_stdio(st[1]);
	if (out[0] < 0 || out[1] < 0 || st[0] < 0 || st[1] < 0) {
		e = -EMFILE;
		goto fail_fds;
	}
	/* no handler of ours may run in the child before it resets them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_run(sp, parent, out[1], st[1]);
	e = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e < 0)
		goto fail_fds;
	close(out[1]);
	close(st[1]);
	do
		r = read(st[0], &cs, sizeof(cs));
	while (r < 0 && errno == EINTR);
	close(st[0]);
	if (r == (ssize_t)sizeof(cs) || r < 0) {
		int ws;

		e = r < 0 ? -EIO : -cs.err;
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		close(out[0]);
		return e;
	}
	if (fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK) < 0) {
		e = -errno;
		kill(-pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(out[0]);
		return e;
	}
	bp->pid = pid;
	bp->out_fd = out[0];
	return 0;

fail_fds:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (st[i] >= 0)
			close(st[i]);
	}
	return e;
}

int backend_signal(const struct backend_proc *bp, int sig)
{
	if (bp->pid <= 1)
		return -EINVAL;
	if (kill(-bp->pid, sig) < 0)
		return -errno;
	return 0;
}

int backend_reap(struct backend_proc *bp, int *wstatus)
{
	int ws;
	pid_t r;

	if (bp->pid <= 1)
		return -EINVAL;
	if (bp->exited)
		return -ECHILD;
	do
		r = waitpid(bp->pid, &ws, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	bp->exited = true;
	bp->wstatus = ws;
	if (wstatus)
		*wstatus = ws;
	return 1;
}

bool backend_claim(struct backend_proc *bp, pid_t pid, int wstatus)
{
	if (pid <= 1 || bp->pid != pid || bp->exited)
		return false;
	bp->exited = true;
	bp->wstatus = wstatus;
	return true;
}

void backend_describe_exit(int wstatus, char *buf, size_t n)
{
	if (n == 0)
		return;
	if (WIFEXITED(wstatus)) {
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(wstatus));
	} else if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		const char *name = sigabbrev_np(sig);
		const char *core = WCOREDUMP(wstatus) ? " (core dumped)" : "";

		if (name)
			snprintf(buf, n, "killed by SIG%s%s", name, core);
		else
			snprintf(buf, n, "killed by signal %d%s", sig, core);
	} else if (WIFSTOPPED(wstatus)) {
		snprintf(buf, n, "stopped by signal %d", WSTOPSIG(wstatus));
	} else {
		snprintf(buf, n, "wait status 0x%x", (unsigned)wstatus);
	}
}

int backend_read(struct backend_proc *bp, struct backend_log *lg, struct backend_report *rep)
{
	return backend_read_max(bp, lg, rep, (size_t)1 << 20);
}

int backend_read_max(struct backend_proc *bp, struct backend_log *lg, struct backend_report *rep, size_t max)
{
	char buf[65536];
	size_t total = 0;

	if (bp->out_fd < 0)
		return bp->eof ? 0 : -EBADF;
	while (total < max) {
		size_t want = max - total < sizeof(buf) ? max - total : sizeof(buf);
		ssize_t r = read(bp->out_fd, buf, want);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return total ? (int)total : -EAGAIN;
			return total ? (int)total : -errno;
		}
		if (r == 0) {
			if (total)
				return (int)total; /* the end is seen on the next call */
			if (!bp->eof)
				backend_log_flush(lg, rep);
			bp->eof = true;
			return 0;
		}
		backend_log_feed(lg, rep, buf, (size_t)r);
		total += (size_t)r;
	}
	return (int)total;
}

void backend_close(struct backend_proc *bp)
{
	if (bp->out_fd >= 0)
		close(bp->out_fd);
	bp->out_fd = -1;
}

int backend_pick_port(uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e = 0;

	if (fd < 0)
		return -errno;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		e = -errno;
	close(fd);
	if (e)
		return e;
	*port = ntohs(a.sin_port);
	return *port ? 0 : -EADDRNOTAVAIL;
}

/* ---- resident memory -------------------------------------------------- */

/* "RssAnon:\t   69240 kB" once the key is matched: the value in bytes. */
static int rss_value(const char *s, size_t n, uint64_t *bytes)
{
	size_t i = 0;
	uint64_t v = 0;
	bool digits = false;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (!ck_mul_u64(v, 10, &v) || !ck_add_u64(v, (uint64_t)(s[i] - '0'), &v))
			return -ERANGE;
		digits = true;
	}
	if (!digits)
		return -EBADMSG;
	while (i < n && s[i] == ' ')
		i++;
	if (n - i != 2 || memcmp(s + i, "kB", 2))
		return -EBADMSG;
	if (!ck_mul_u64(v, 1024, bytes))
		return -ERANGE;
	return 0;
}

int backend_rss_parse(const char *text, size_t n, uint64_t *rss_anon, uint64_t *rss_file)
{
	static const char *const keys[] = { "RssAnon:", "RssFile:", "RssShmem:" };
	uint64_t v[3] = { 0, 0, 0 };
	bool seen[3] = { false, false, false };
	size_t pos = 0;

	while (pos < n) {
		const char *nl = memchr(text + pos, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - (text + pos)) : n - pos;
		const char *l = text + pos;

		for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
			size_t kl = strlen(keys[k]);
			int e;

			if (len < kl || memcmp(l, keys[k], kl))
				continue;
			e = rss_value(l + kl, len - kl, &v[k]);
			if (e < 0)
				return e;
			seen[k] = true;
		}
		pos += len + 1;
	}
	if (!seen[0] || !seen[1])
		return -ENOENT;
	if (!ck_add_u64(v[0], v[2], rss_anon))
		return -ERANGE;
	*rss_file = v[1];
	return 0;
}

/* <proc_root or /proc>/PID/NAME, up to cap bytes: 0 and *n, or a negative
 * errno (-ENOENT: no such process). */
static int proc_file(pid_t pid, const char *proc_root, const char *name, char *buf, size_t cap,
		     size_t *n)
{
	char path[4200];
	int fd, e = 0;

	*n = 0;
	if (pid <= 0)
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%ld/%s", proc_root ? proc_root : "/proc", (long)pid,
			     name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ESRCH ? -ENOENT : -errno;
	while (*n < cap) {
		ssize_t r = read(fd, buf + *n, cap - *n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno == ESRCH ? -ENOENT : -errno;
			break;
		}
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	close(fd);
	return e;
}

int backend_rss(pid_t pid, const char *proc_root, uint64_t *rss_anon, uint64_t *rss_file)
{
	char buf[16384];
	size_t n;
	int e = proc_file(pid, proc_root, "status", buf, sizeof(buf), &n);

	if (e < 0)
		return e;
	return backend_rss_parse(buf, n, rss_anon, rss_file);
}

/* ---- CPU time ----------------------------------------------------------- */

int backend_cpu_parse(const char *text, size_t n, uint64_t *ticks)
{
	const char *p = NULL, *end = text + n;
	uint64_t v[2];

	/* the last ')' ends the command name */
	for (size_t i = n; i > 0; i--)
		if (text[i - 1] == ')') {
			p = text + i;
			break;
		}
	if (!p)
		return -EINVAL;
	/* after it: state (field 3) ... utime (14), stime (15) */
	for (int field = 3; field <= 15; field++) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return -EINVAL;
		if (field >= 14) {
			uint64_t x = 0;

			if (*p < '0' || *p > '9')
				return -EINVAL;
			for (; p < end && *p >= '0' && *p <= '9'; p++)
				if (!ck_mul_u64(x, 10, &x) || !ck_add_u64(x, (uint64_t)(*p - '0'), &x))
					return -EINVAL;
			v[field - 14] = x;
		} else {
			while (p < end && *p != ' ')
				p++;
		}
	}
	if (!ck_add_u64(v[0], v[1], ticks))
		return -EINVAL;
	return 0;
}

int backend_cpu(pid_t pid, const char *proc_root, uint64_t *ticks)
{
	char buf[1024];
	size_t n;
	int e = proc_file(pid, proc_root, "stat", buf, sizeof(buf), &n);

	if (e < 0)
		return e;
	return backend_cpu_parse(buf, n, ticks);
}
