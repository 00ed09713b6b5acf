/* parse-kmsg.c: the kernel log as /dev/kmsg gives it, one record per
 * line ("3,8851,93428118010,-;Out of memory: Killed process 4242
 * (llama-server) total-vm:..."), and the OOM killer's messages in it:
 * the kill itself and the "oom-kill:" summary before it. Text in, struct
 * out. Pure. */
#include "base/compat.h"

#include <errno.h>
#include <string.h>

#include "base/checked.h"
#include "probe/doctor.h"
#include "probe/probe-int.h"

/* The next ',' separated field of p[0..n) from *pos. */
static bool next_field(const char *p, size_t n, size_t *pos, const char **f, size_t *fn)
{
	const char *c;

	if (*pos > n)
		return false;
	c = memchr(p + *pos, ',', n - *pos);
	*f = p + *pos;
	*fn = c ? (size_t)(c - (p + *pos)) : n - *pos;
	*pos += *fn + 1;
	return true;
}

int probe_parse_kmsg_record(const char *line, size_t n, struct probe_kmsg_record *ret)
{
	const char *semi = memchr(line, ';', n), *f;
	size_t hn, pos = 0, fn;
	uint64_t prio;

	if (!semi)
		return -EBADMSG;
	hn = (size_t)(semi - line);
	memset(ret, 0, sizeof(*ret));
	if (!next_field(line, hn, &pos, &f, &fn) || probe_span_u64(f, fn, &prio) < 0 ||
	    prio > UINT32_MAX)
		return -EBADMSG;
	ret->level = (uint8_t)(prio & 7);
	ret->facility = (uint32_t)(prio >> 3);
	if (!next_field(line, hn, &pos, &f, &fn) || probe_span_u64(f, fn, &ret->seq) < 0)
		return -EBADMSG;
	if (!next_field(line, hn, &pos, &f, &fn) || probe_span_u64(f, fn, &ret->usec) < 0)
		return -EBADMSG;
	/* the flags ('-', 'c', '+'), then fields newer kernels add
	 * (",caller=T123") */
	if (!next_field(line, hn, &pos, &f, &fn) || fn != 1)
		return -EBADMSG;
	ret->msg = semi + 1;
	ret->msg_len = n - hn - 1;
	if (ret->msg_len && ret->msg[ret->msg_len - 1] == '\n')
		ret->msg_len--;
	return 0;
}

/* The first occurrence of the NUL-terminated needle in p[0..n). */
static const char *span_find(const char *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	if (k == 0 || k > n)
		return NULL;
	for (size_t i = 0; i + k <= n; i++)
		if (p[i] == needle[0] && !memcmp(p + i, needle, k))
			return p + i;
	return NULL;
}

static bool span_starts(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && !memcmp(p, prefix, k);
}

/* The digits at p (at most n): a value, and *used the count. */
static int span_digits(const char *p, size_t n, uint64_t *ret, size_t *used)
{
	size_t k = 0;

	while (k < n && p[k] >= '0' && p[k] <= '9')
		k++;
	*used = k;
	return k ? probe_span_u64(p, k, ret) : -EBADMSG;
}

/* "KEY:NNNkB" anywhere in p[0..n): bytes, or PROBE_UNKNOWN. */
static uint64_t kb_field(const char *p, size_t n, const char *key)
{
	const char *k = span_find(p, n, key);
	size_t off, used;
	uint64_t v;

	if (!k)
		return PROBE_UNKNOWN;
	off = (size_t)(k - p) + strlen(key);
	if (span_digits(p + off, n - off, &v, &used) < 0 || n - off - used < 2 ||
	    memcmp(p + off + used, "kB", 2) || !ck_mul_u64(v, 1024, &v))
		return PROBE_UNKNOWN;
	return v;
}

int probe_parse_oom_kill(const char *msg, size_t n, struct probe_oom_kill *ret)
{
	static const char killed[] = "Killed process ";
	const char *k = span_find(msg, n, killed), *comm, *end, *rest;
	size_t off, used, rn;
	uint64_t pid;

	if (!k)
		return -ENOENT;
	if (k != msg) {
		/* "Out of memory: ", "Memory cgroup out of memory: ",
		 * "Out of memory (oom_kill_allocating_task): " */
		size_t pn = (size_t)(k - msg);

		if (pn < 2 || msg[pn - 2] != ':' || msg[pn - 1] != ' ' ||
		    (!span_find(msg, pn, "out of memory") && !span_find(msg, pn, "Out of memory")))
			return -ENOENT;
	}
	memset(ret, 0, sizeof(*ret));
	ret->memcg = span_starts(msg, n, "Memory cgroup");
	off = (size_t)(k - msg) + sizeof(killed) - 1;
	if (span_digits(msg + off, n - off, &pid, &used) < 0 || pid == 0 || pid > UINT32_MAX)
		return -ENOENT;
	ret->pid = (uint32_t)pid;
	off += used;
	if (n - off < 3 || msg[off] != ' ' || msg[off + 1] != '(')
		return -ENOENT;
	comm = msg + off + 2;
	rest = comm;
	rn = n - off - 2;
	/* a name may hold ") ": the one before " total-vm:" ends it, else
	 * the last ')' */
	end = span_find(rest, rn, ") total-vm:");
	if (!end) {
		end = NULL;
		for (size_t i = rn; i > 0; i--)
			if (rest[i - 1] == ')') {
				end = rest + i - 1;
				break;
			}
		if (!end)
			return -ENOENT;
	}
	probe_span_copy(ret->comm, sizeof(ret->comm), comm, (size_t)(end - comm));
	rest = end;
	rn = n - (size_t)(end - msg);
	ret->total_vm = kb_field(rest, rn, "total-vm:");
	ret->anon_rss = kb_field(rest, rn, "anon-rss:");
	ret->file_rss = kb_field(rest, rn, "file-rss:");
	ret->shmem_rss = kb_field(rest, rn, "shmem-rss:");
	ret->usec = PROBE_UNKNOWN;
	return 0;
}

int probe_parse_oom_summary(const char *msg, size_t n, struct probe_oom_summary *ret)
{
	static const char prefix[] = "oom-kill:";
	size_t pos = sizeof(prefix) - 1, fn;
	const char *f;

	if (!span_starts(msg, n, prefix))
		return -ENOENT;
	if (n && msg[n - 1] == '\n')
		n--;
	memset(ret, 0, sizeof(*ret));
	while (next_field(msg, n, &pos, &f, &fn)) {
		const char *eq = memchr(f, '=', fn);
		size_t kn, vn;
		uint64_t v;

		if (!eq)
			continue;
		kn = (size_t)(eq - f);
		vn = fn - kn - 1;
		if (kn == 10 && !memcmp(f, "constraint", 10))
			probe_span_copy(ret->constraint, sizeof(ret->constraint), eq + 1, vn);
		else if (kn == 10 && !memcmp(f, "task_memcg", 10))
			probe_span_copy(ret->task_memcg, sizeof(ret->task_memcg), eq + 1, vn);
		else if (kn == 3 && !memcmp(f, "pid", 3) && probe_span_u64(eq + 1, vn, &v) == 0 &&
			 v <= UINT32_MAX)
			ret->pid = (uint32_t)v;
	}
	return ret->pid ? 0 : -ENOENT;
}
