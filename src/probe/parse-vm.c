/* parse-vm.c: the virtual memory files `llmem doctor` reads, text in,
 * struct out: /proc/swaps, /proc/pressure/memory (PSI), the limits of
 * /proc/PID/limits, /proc/buddyinfo, /proc/PID/status, a NUMA node's
 * meminfo and /proc/PID/cmdline; and which process names run models.
 * Pure. */
#include "base/compat.h"

#include <errno.h>
#include <string.h>

#include "base/checked.h"
#include "probe/doctor.h"
#include "probe/probe-int.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The next whitespace-separated token of p[0..n) from *pos. */
static bool next_token(const char *p, size_t n, size_t *pos, const char **tok, size_t *len)
{
	size_t i = *pos, s;

	while (i < n && is_space(p[i]))
		i++;
	if (i >= n)
		return false;
	s = i;
	while (i < n && !is_space(p[i]))
		i++;
	*tok = p + s;
	*len = i - s;
	*pos = i;
	return true;
}

static bool tok_is(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && !memcmp(t, word, n);
}

static int kib_to_bytes(uint64_t kib, uint64_t *ret)
{
	return ck_mul_u64(kib, 1024, ret) ? 0 : -ERANGE;
}

/* ---- /proc/swaps ---------------------------------------------------------- */

int probe_parse_swaps(const char *text, size_t n, struct probe_swap *swaps, size_t max,
		      size_t *n_swaps, size_t *n_total)
{
	size_t pos = 0, len, stored = 0, total = 0;
	const char *line;

	while (probe_line_next(text, n, &pos, &line, &len)) {
		const char *t[6];
		size_t tl[6], k = 0, lp = 0;
		uint64_t size, used;
		int64_t prio;
		int e;

		while (k < 6 && next_token(line, len, &lp, &t[k], &tl[k]))
			k++;
		if (k == 0)
			continue;
		if (tok_is(t[0], tl[0], "Filename"))
			continue;
		if (k != 5)
			return -EBADMSG;
		if ((e = probe_span_u64(t[2], tl[2], &size)) < 0 ||
		    (e = probe_span_u64(t[3], tl[3], &used)) < 0 ||
		    (e = probe_span_i64(t[4], tl[4], &prio)) < 0)
			return e;
		if ((e = kib_to_bytes(size, &size)) < 0 || (e = kib_to_bytes(used, &used)) < 0)
			return e;
		total++;
		if (stored < max) {
			struct probe_swap *s = &swaps[stored++];

			memset(s, 0, sizeof(*s));
			probe_span_copy(s->name, sizeof(s->name), t[0], tl[0]);
			probe_span_copy(s->type, sizeof(s->type), t[1], tl[1]);
			s->size = size;
			s->used = used < size ? used : size;
			s->priority = prio;
		}
	}
	*n_swaps = stored;
	*n_total = total;
	return 0;
}

/* ---- PSI ------------------------------------------------------------------- */

/* "12.34" (or "12.3", "12") -> 1234. */
static int hundredths(const char *p, size_t n, uint32_t *ret)
{
	const char *dot = memchr(p, '.', n);
	size_t in = dot ? (size_t)(dot - p) : n, fn = dot ? n - in - 1 : 0;
	uint64_t whole, frac = 0;
	int e;

	if ((e = probe_span_u64(p, in, &whole)) < 0)
		return e;
	if (dot) {
		if (fn == 0 || fn > 2)
			return -EBADMSG;
		if ((e = probe_span_u64(dot + 1, fn, &frac)) < 0)
			return e;
		if (fn == 1)
			frac *= 10;
	}
	if (whole > 100000)
		return -ERANGE;
	*ret = (uint32_t)(whole * 100 + frac);
	return 0;
}

static int psi_line(const char *line, size_t len, size_t pos, struct probe_psi_line *l)
{
	const char *t;
	size_t tl;
	bool seen[4] = { false };

	memset(l, 0, sizeof(*l));
	while (next_token(line, len, &pos, &t, &tl)) {
		const char *eq = memchr(t, '=', tl);
		size_t kn, vn;
		int e = 0;

		if (!eq)
			return -EBADMSG;
		kn = (size_t)(eq - t);
		vn = tl - kn - 1;
		if (tok_is(t, kn, "avg10"))
			e = hundredths(eq + 1, vn, &l->avg10), seen[0] = true;
		else if (tok_is(t, kn, "avg60"))
			e = hundredths(eq + 1, vn, &l->avg60), seen[1] = true;
		else if (tok_is(t, kn, "avg300"))
			e = hundredths(eq + 1, vn, &l->avg300), seen[2] = true;
		else if (tok_is(t, kn, "total"))
			e = probe_span_u64(eq + 1, vn, &l->total_us), seen[3] = true;
		if (e < 0)
			return e;
	}
	if (!seen[0] || !seen[1] || !seen[2])
		return -EBADMSG;
	l->present = true;
	return 0;
}

int probe_parse_psi(const char *text, size_t n, struct probe_psi *ret)
{
	size_t pos = 0, len;
	const char *line;

	memset(ret, 0, sizeof(*ret));
	while (probe_line_next(text, n, &pos, &line, &len)) {
		size_t lp = 0, tl;
		const char *t;
		int e;

		if (!next_token(line, len, &lp, &t, &tl))
			continue;
		if (tok_is(t, tl, "some"))
			e = psi_line(line, len, lp, &ret->some);
		else if (tok_is(t, tl, "full"))
			e = psi_line(line, len, lp, &ret->full);
		else
			e = -EBADMSG;
		if (e < 0)
			return e;
	}
	return ret->some.present ? 0 : -EBADMSG;
}

/* ---- /proc/PID/limits ---------------------------------------------------- */

static int limit_value(const char *t, size_t n, uint64_t *ret)
{
	if (tok_is(t, n, "unlimited")) {
		*ret = PROBE_UNLIMITED;
		return 0;
	}
	return probe_span_u64(t, n, ret);
}

int probe_parse_limits(const char *text, size_t n, const char *name, struct probe_limit *ret)
{
	size_t nl = strlen(name), pos = 0, len;
	const char *line;

	while (probe_line_next(text, n, &pos, &line, &len)) {
		const char *t;
		size_t tl, lp = nl;
		int e;

		if (len <= nl || memcmp(line, name, nl) || !is_space(line[nl]))
			continue;
		if (!next_token(line, len, &lp, &t, &tl))
			return -EBADMSG;
		if ((e = limit_value(t, tl, &ret->soft)) < 0)
			return e;
		if (!next_token(line, len, &lp, &t, &tl))
			return -EBADMSG;
		return limit_value(t, tl, &ret->hard);
	}
	return -ENOENT;
}

/* ---- /proc/buddyinfo -------------------------------------------------- */

int probe_parse_buddyinfo(const char *text, size_t n, struct probe_buddyinfo *ret)
{
	size_t pos = 0, len;
	const char *line;

	memset(ret, 0, sizeof(*ret));
	while (probe_line_next(text, n, &pos, &line, &len)) {
		struct probe_buddy_zone *z;
		const char *t;
		size_t tl, lp = 0;
		uint64_t node;
		int e;

		if (!next_token(line, len, &lp, &t, &tl))
			continue;
		if (!tok_is(t, tl, "Node") || !next_token(line, len, &lp, &t, &tl) || tl < 2 ||
		    t[tl - 1] != ',')
			return -EBADMSG;
		if ((e = probe_span_u64(t, tl - 1, &node)) < 0)
			return e;
		if (node > UINT32_MAX)
			return -ERANGE;
		if (!next_token(line, len, &lp, &t, &tl) || !tok_is(t, tl, "zone") ||
		    !next_token(line, len, &lp, &t, &tl))
			return -EBADMSG;
		if (ret->n_zones >= PROBE_BUDDY_MAX_ZONES)
			return -E2BIG;
		z = &ret->zones[ret->n_zones];
		memset(z, 0, sizeof(*z));
		z->node = (uint32_t)node;
		probe_span_copy(z->zone, sizeof(z->zone), t, tl);
		while (next_token(line, len, &lp, &t, &tl)) {
			if (z->n_orders >= PROBE_BUDDY_MAX_ORDERS)
				return -E2BIG;
			if ((e = probe_span_u64(t, tl, &z->free[z->n_orders])) < 0)
				return e;
			z->n_orders++;
		}
		if (z->n_orders == 0)
			return -EBADMSG;
		ret->n_zones++;
	}
	return 0;
}

/* ---- /proc/PID/status ------------------------------------------------- */

/* "   1234 kB" -> bytes */
static int kb_value(const char *p, size_t n, uint64_t *ret)
{
	const char *t;
	size_t tl, pos = 0;
	uint64_t v;
	int e;

	if (!next_token(p, n, &pos, &t, &tl))
		return -EBADMSG;
	if ((e = probe_span_u64(t, tl, &v)) < 0)
		return e;
	if (!next_token(p, n, &pos, &t, &tl) || !tok_is(t, tl, "kB"))
		return -EBADMSG;
	return kib_to_bytes(v, ret);
}

/* "\t000001fffeffffff": 1 to 16 hex digits */
static int hex_u64(const char *p, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	p = probe_span_trim(p, &n);
	if (n == 0 || n > 16)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -EBADMSG;
		v = v << 4 | d;
	}
	*ret = v;
	return 0;
}

int probe_parse_proc_status(const char *text, size_t n, struct probe_proc_status *ret)
{
	size_t pos = 0, len;
	const char *line;
	bool name = false;

	memset(ret, 0, sizeof(*ret));
	ret->vm_rss = ret->vm_swap = PROBE_UNKNOWN;
	while (probe_line_next(text, n, &pos, &line, &len)) {
		const char *colon = memchr(line, ':', len);
		size_t kn, vn;
		const char *v;
		int e;

		if (!colon)
			continue;
		kn = (size_t)(colon - line);
		vn = len - kn - 1;
		v = colon + 1;
		if (tok_is(line, kn, "Name")) {
			while (vn && is_space(*v))
				v++, vn--;
			probe_span_copy(ret->name, sizeof(ret->name), v, vn);
			name = true;
		} else if (tok_is(line, kn, "VmRSS")) {
			if ((e = kb_value(v, vn, &ret->vm_rss)) < 0)
				return e;
		} else if (tok_is(line, kn, "VmSwap")) {
			if ((e = kb_value(v, vn, &ret->vm_swap)) < 0)
				return e;
		} else if (tok_is(line, kn, "CapEff")) {
			if ((e = hex_u64(v, vn, &ret->cap_eff)) < 0)
				return e;
			ret->has_cap_eff = true;
		}
	}
	return name ? 0 : -EBADMSG;
}

/* ---- a NUMA node's meminfo ------------------------------------------- */

int probe_parse_node_meminfo(const char *text, size_t n, uint64_t *total, uint64_t *free_bytes)
{
	size_t pos = 0, len;
	const char *line;
	bool seen_total = false;

	*total = *free_bytes = 0;
	while (probe_line_next(text, n, &pos, &line, &len)) {
		const char *t;
		size_t tl, lp = 0;
		uint64_t *dst = NULL;
		int e;

		/* "Node 0 MemTotal:       32768000 kB" */
		if (!next_token(line, len, &lp, &t, &tl))
			continue;
		if (!tok_is(t, tl, "Node") || !next_token(line, len, &lp, &t, &tl) ||
		    !next_token(line, len, &lp, &t, &tl))
			return -EBADMSG;
		if (tok_is(t, tl, "MemTotal:"))
			dst = total;
		else if (tok_is(t, tl, "MemFree:"))
			dst = free_bytes;
		if (!dst)
			continue;
		if ((e = kb_value(line + lp, len - lp, dst)) < 0)
			return e;
		if (dst == total)
			seen_total = true;
	}
	return seen_total ? 0 : -EBADMSG;
}

/* ---- /proc/PID/cmdline and model process names --------------------------- */

void probe_parse_cmdline(const char *text, size_t n, char *argv0, size_t argv0sz, char *argv1,
			 size_t argv1sz)
{
	const char *nul = memchr(text, '\0', n), *base;
	size_t a0 = nul ? (size_t)(nul - text) : n;

	argv0[0] = argv1[0] = '\0';
	base = text;
	for (size_t i = 0; i < a0; i++)
		if (text[i] == '/')
			base = text + i + 1;
	probe_span_copy(argv0, argv0sz, base, a0 - (size_t)(base - text));
	if (nul && (size_t)(nul - text) + 1 < n) {
		const char *a1 = nul + 1;
		size_t rest = n - (size_t)(a1 - text);
		const char *end = memchr(a1, '\0', rest);

		probe_span_copy(argv1, argv1sz, a1, end ? (size_t)(end - a1) : rest);
	}
}

bool probe_model_proc_name(const char *name)
{
	static const char *const exact[] = {
		"llama-server", "llama-cli", "llama-run", "llama-mtmd-cli", "llamafile", "llmem",
		"koboldcpp",
	};

	if (!name || !*name)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
		if (!strcmp(name, exact[i]))
			return true;
	/* ollama, ollama_llama_server (comm: "ollama_llama_se") */
	return !strncmp(name, "ollama", 6);
}
