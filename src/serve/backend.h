/* backend.h: one llama-server child process of `llmem serve`: starting it
 * (its own process group, killed with its parent, output on one pipe),
 * signalling and reaping it, reading its output, and the pure parser that
 * turns that output into a report: the buffers llama.cpp allocated per
 * device, whether it is listening, and why it failed (out of memory, or a
 * model that would not load).
 *
 * The buffer lines need llama-server's log at -lv 4 or above (llama.cpp
 * v0.5.0 logs them at "trace"; at the default -lv 3 they are not
 * printed). Lines inside the --fit dry run ("fitting params to device
 * memory ..." up to "fitting params to free memory took"), which -lv 5
 * prints with made-up sizes, are not counted. */
#ifndef LLMEM_SERVE_BACKEND_H
#define LLMEM_SERVE_BACKEND_H

#include <sys/types.h>

#include "base/compat.h"

#define BACKEND_LINE_MAX 4096            /* longer lines are cut to this */
#define BACKEND_TAIL_MAX (64 * 1024)     /* output kept for messages */
#define BACKEND_MAX_BUFS 64              /* distinct (device, kind) pairs */
#define BACKEND_DEV_MAX 32               /* device name, with its NUL */
#define BACKEND_REPORT_LINE 512          /* a kept log line, with its NUL */

/* What a buffer holds (the word before "buffer size" in the log). */
enum backend_buf_kind {
	BACKEND_BUF_MODEL,   /* "model": weights (mmproj weights too) */
	BACKEND_BUF_KV,      /* "KV": the KV cache */
	BACKEND_BUF_RS,      /* "RS": recurrent state */
	BACKEND_BUF_COMPUTE, /* "compute": the scheduler's compute buffer */
	BACKEND_BUF_OUTPUT,  /* "output": logits and embeddings */
	BACKEND_BUF_KINDS,
};

/* The bytes of one kind on one device, summed over every line that named
 * them (a draft model and the mmproj add to the main model's). */
struct backend_buf {
	char device[BACKEND_DEV_MAX]; /* as llama.cpp names the buffer:
	                               * "CPU", "CPU_Mapped", "CPU_REPACK",
	                               * "CUDA0", "CUDA_Host", "ROCm0", "Vulkan0" */
	enum backend_buf_kind kind;
	uint64_t bytes;
	/* private: of bytes, what the context being built reserved last
	 * (a compute buffer it reserves again replaces it) */
	uint32_t ctx;
	uint64_t ctx_bytes;
};

/* What the log said. llama.cpp prints sizes in MiB with two decimals, so
 * every line's bytes are round(MiB * 2^20), exact to +-0.005 MiB (+-5243
 * bytes) per line. */
struct backend_report {
	size_t n_bufs;
	struct backend_buf bufs[BACKEND_MAX_BUFS];
	bool bufs_overflow;   /* more pairs than BACKEND_MAX_BUFS: dropped */
	bool listening;       /* "listening on http://..." seen: llama-server
	                       * v0.5.0 prints it once the model is loaded
	                       * (its port answers 503 before that) */
	unsigned listen_port; /* the port that line names, 0 when none */
	bool oom;             /* an out-of-memory line seen (oom_line) */
	bool load_failed;     /* a model/context load failure seen (fail_line) */
	bool bind_failed;     /* "couldn't bind": the port was taken; start
	                       * again on another (load_failed is set too) */
	char oom_line[BACKEND_REPORT_LINE];  /* the first such line, without
	                                      * its timestamp prefix */
	char fail_line[BACKEND_REPORT_LINE]; /* the first such line */
	uint64_t n_lines;     /* lines parsed */
	bool loaded;          /* set by the caller once the backend is ready:
	                       * from then on its info and debug lines (about
	                       * 25 a request at -lv 4) are counted, not
	                       * parsed: buffers are logged while loading, and
	                       * failures as warnings, errors or bare lines */
	/* private: parser state */
	bool in_fit;
	uint32_t ctx;         /* llama_contexts constructed so far (a draft
	                       * model has its own) */
	char clip_dev[BACKEND_DEV_MAX];
};

/* Empties r. */
void backend_report_init(struct backend_report *r);

/* Parses one log line (without its newline; at most BACKEND_LINE_MAX
 * bytes are looked at) into r. Pure. */
void backend_report_parse_line(struct backend_report *r, const char *line, size_t n);

/* The memory pool a buffer of this device is in: 0 the host (CPU*,
 * "AMX", *_Host), 1 + i the i-th GPU (CUDA<i>, ROCm<i>, MUSA<i>,
 * Vulkan<i>, SYCL<i>, MTL<i>, CANN<i>, with any "_suffix"; "OpenCL" is
 * GPU 0), or -1 for a name it does not know. */
int backend_device_pool(const char *device);

/* Sums r's buffers per pool: pool[0] the host, pool[1 + i] the i-th GPU,
 * for i < n_gpus (pool has 1 + n_gpus entries, all set). Returns 0, or
 * -ERANGE when some buffer's device is unknown or a GPU index >= n_gpus
 * (those bytes are left out; the rest is summed), or -EOVERFLOW. */
int backend_report_pool_bytes(const struct backend_report *r, size_t n_gpus, uint64_t *pool);

const char *backend_buf_kind_name(enum backend_buf_kind k);

/* The output of a backend: lines assembled across reads, and its last
 * BACKEND_TAIL_MAX bytes kept for messages. Caller-allocated (about
 * 68 KiB); nothing else is allocated. */
struct backend_log {
	char line[BACKEND_LINE_MAX + 1];
	size_t line_len;
	bool line_cut;        /* the current line went over BACKEND_LINE_MAX */
	char ring[BACKEND_TAIL_MAX];
	size_t ring_pos;      /* next write position */
	size_t ring_len;      /* bytes held, <= BACKEND_TAIL_MAX */
	uint64_t n_bytes;     /* bytes fed in all */
};

void backend_log_init(struct backend_log *lg);
void backend_log_release(struct backend_log *lg);

/* Feeds n bytes of output: kept in the tail, and every complete line
 * ("\n"-terminated; a "\r" before it is dropped) given to
 * backend_report_parse_line(rep, ...). Lines over BACKEND_LINE_MAX are
 * cut (the rest of the line is dropped). rep may be NULL. */
void backend_log_feed(struct backend_log *lg, struct backend_report *rep, const char *p, size_t n);

/* At the end of the output: a last line without a newline is parsed. */
void backend_log_flush(struct backend_log *lg, struct backend_report *rep);

/* Copies the last output into buf (NUL-terminated; NUL bytes of the
 * output become '?') and returns the length. When the output is longer
 * than bufsz - 1, it starts after a newline where the window holds one,
 * so the first line is whole; a last line still without its newline is
 * included (it is the newest output). */
size_t backend_log_tail(const struct backend_log *lg, char *buf, size_t bufsz);

/* ---- the process ------------------------------------------------------ */

struct backend_spec {
	const char *exe;      /* path of llama-server (execv: no PATH search) */
	char *const *argv;    /* NULL-terminated; argv[0] by convention exe */
	const char *cgroup_procs; /* optional: a cgroup.procs file the child
	                           * writes its pid into before exec; NULL =
	                           * none */
	char *const *envp;    /* its environment; NULL = the daemon's */
};

struct backend_proc {
	pid_t pid;        /* also its process group id; 0 when none */
	int out_fd;       /* non-blocking read end of stdout+stderr; -1 closed */
	bool exited;      /* reaped by backend_reap() */
	bool eof;         /* backend_read() saw the end of the output */
	int wstatus;      /* when exited */
};

/* Starts the backend: a pipe for stdout and stderr; the child gets its own
 * process group, SIGKILL when the thread that started it dies (call this
 * from the daemon's main thread), default signal dispositions and an empty
 * mask, stdin from /dev/null, no other descriptors, is moved into
 * cgroup_procs if given, and execs exe. Returns 0 with bp filled, or
 * -errno: of the exec (-ENOENT for a missing exe, -EACCES), of the cgroup
 * write, or of pipe/fork here. Nothing is left behind on failure. */
int backend_start(const struct backend_spec *sp, struct backend_proc *bp) ATTR_WUR;

/* Sends sig to the backend's whole process group. 0 or -errno (-ESRCH
 * when the group is gone; -EINVAL without a pid). Still works after
 * backend_reap() to clean up what the backend left running: do it at
 * once, before the group's id can be reused. */
int backend_signal(const struct backend_proc *bp, int sig) ATTR_WUR;

/* waitpid(WNOHANG): 1 when it has exited (*wstatus, also bp->wstatus),
 * 0 while it runs, or -errno (-ECHILD when already reaped). */
int backend_reap(struct backend_proc *bp, int *wstatus) ATTR_WUR;

/* Records that pid, reaped by someone else's waitpid(-1), was bp's process
 * (exited with wstatus), as backend_reap() would have: true, or false and
 * bp is unchanged (another pid, or bp's was reaped already). */
bool backend_claim(struct backend_proc *bp, pid_t pid, int wstatus) ATTR_WUR;

/* "exited with status 1", "killed by SIGKILL", "killed by SIGSEGV (core
 * dumped)". */
void backend_describe_exit(int wstatus, char *buf, size_t n);

/* Reads what the pipe holds now (at most 1 MiB a call) into lg and rep.
 * Returns the bytes read (> 0), 0 at the end of the output (the last
 * partial line is parsed; bp->eof set), -EAGAIN when there is nothing now,
 * or -errno. */
int backend_read(struct backend_proc *bp, struct backend_log *lg, struct backend_report *rep) ATTR_WUR;
/* The same, at most max bytes (> 0) a call. */
int backend_read_max(struct backend_proc *bp, struct backend_log *lg, struct backend_report *rep,
		     size_t max) ATTR_WUR;

/* Closes the output pipe (the process is not touched). */
void backend_close(struct backend_proc *bp);

/* A free TCP port on 127.0.0.1 (bind port 0, read it back, close): the
 * kernel does not hand it out again at once, but another program may take
 * it before the backend binds it; retry the start on "couldn't bind".
 * 0 or -errno. */
int backend_pick_port(uint16_t *port) ATTR_WUR;

/* Parses the text of /proc/PID/status: *rss_anon = RssAnon + RssShmem
 * (memory only swap can free), *rss_file = RssFile (file pages, the
 * mapped model: reclaimable), in bytes. 0, -ENOENT (no RssAnon or
 * RssFile: a kernel before 4.5, or a zombie), -EBADMSG or -ERANGE. Pure. */
int backend_rss_parse(const char *text, size_t n, uint64_t *rss_anon, uint64_t *rss_file) ATTR_WUR;

/* Reads proc_root/PID/status (proc_root NULL = "/proc") and parses it as
 * above. 0 or -errno (-ENOENT when the process is gone). */
int backend_rss(pid_t pid, const char *proc_root, uint64_t *rss_anon, uint64_t *rss_file) ATTR_WUR;

/* CPU time of a process, every thread (utime + stime, clock ticks), from
 * the text of /proc/PID/stat: 0, or -EINVAL when it is not that. The
 * command name in parentheses may hold spaces and ')' itself. */
int backend_cpu_parse(const char *text, size_t n, uint64_t *ticks) ATTR_WUR;

/* The same from <proc_root or /proc>/PID/stat: 0 or a negative errno
 * (-ENOENT: no such process). */
int backend_cpu(pid_t pid, const char *proc_root, uint64_t *ticks) ATTR_WUR;

#endif
