/* gguf-read.c: the GGUF header parser. Every count and length is checked
 * against the limits in gguf.h and against the bytes left in the file
 * before anything is allocated or looped over, and every size is
 * overflow-checked (reliability.md section 1 lists the bugs this avoids).
 * Arrays grow with what has actually been parsed, never with a count
 * taken from the file. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "gguf/ggml-type.h"
#include "gguf/gguf.h"

/* Where a string or bool array that did not fit the buffer stopped: the
 * next round goes on from there instead of checking its elements again
 * (a vocabulary is most of a header, and is read in a few rounds). */
struct arr_resume {
	uint64_t kv_off; /* the key-value record, UINT64_MAX when none */
	uint64_t k;      /* elements checked */
	uint64_t pos;    /* where element k starts */
	uint64_t *skip;  /* the skip index of the string array being read
	                  * (kv_off's), handed to its gguf_kv when done */
	bool want_longs; /* GGUF_PARSE_LONG_STRINGS */
	unsigned spec;   /* GGUF_PARSE_ONE_CHAIN, GGUF_PARSE_SPEC_SMALL */
	struct gguf_long_str *longs; /* and its long strings so far */
	uint64_t n_long, cap_long;
};

/* Room for want more long strings and one past them (the fast loops
 * write every element there and count only the long ones): 0 or
 * -ENOMEM. */
static int long_reserve(struct arr_resume *res, uint64_t want)
{
	uint64_t cap = res->cap_long ? res->cap_long : 1024;
	struct gguf_long_str *v;

	while (res->n_long + want + 1 >= cap)
		cap *= 2;
	if (cap == res->cap_long)
		return 0;
	v = realloc(res->longs, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	res->longs = v;
	res->cap_long = cap;
	return 0;
}

/* Writes element j at off past the long strings, and keeps it when
 * keep: 0 or -ENOMEM. */
static inline int long_put(struct arr_resume *res, uint64_t j, uint64_t off, bool keep)
{
	if (long_reserve(res, 0) < 0)
		return -ENOMEM;
	res->longs[res->n_long].j = (uint32_t)j;
	res->longs[res->n_long].off = (uint32_t)off;
	res->n_long += keep;
	return 0;
}

static void res_drop(struct arr_resume *res)
{
	free(res->skip);
	free(res->longs);
	res->skip = NULL;
	res->longs = NULL;
	res->n_long = res->cap_long = 0;
}

/* ---- the hot loop: a string array's elements ----
 *
 * Walking a string array is a chain of dependent loads (where element k+1
 * starts is known only once element k's length is read), so one walk runs
 * at the speed of a load's latency, not of the memory. A large array is
 * walked by two chains at once: the real one (A) from the start, and a
 * speculative one (B) from a guessed element start halfway through the
 * bytes. B's work is kept only if A lands exactly on B's starting byte,
 * which makes that byte an element start and B's walk the real one from
 * there; otherwise B's work is dropped. The guess never changes a result,
 * only the time (tests/unit/test-gguf-roundtrip.c parses each way). */

#define SPEC_FIRST 512u            /* elements walked alone first */
#define SPEC_MIN_ELEMS 4096u       /* elements left, to try a second chain */
#define SPEC_MIN_BYTES (64u << 10) /* bytes left in the buffer, likewise */
#define SPEC_CP 64u                /* B notes where every 64th element starts */
#define SPEC_MAX_ELEMS (4u << 20)  /* B walks at most this many */

struct spec {
	uint64_t q;      /* B's first byte */
	uint64_t pos, k; /* B's next byte and elements walked */
	uint64_t cap;    /* at most this many */
	uint32_t *cp;    /* cp[i]: where B's element i * SPEC_CP starts */
	struct gguf_long_str *lv; /* B's long strings, j relative to q */
	uint64_t nl;
};

/* Whether 8 elements in a row from q look like strings: lengths from 1 to
 * 1 KiB, wholly inside lim. Text rarely does (its bytes read as a length
 * are huge), so a guess that passes is almost always a real start. */
static bool spec_plausible(const uint8_t *b, uint64_t q, uint64_t lim)
{
	for (int i = 0; i < 8; i++) {
		uint64_t sl;

		if (lim - q < 8)
			return false;
		memcpy(&sl, b + q, 8);
		if (sl == 0 || sl > 1024 || sl > lim - q - 8)
			return false;
		q += 8 + sl;
	}
	return true;
}

/* Sets up B for the elements left after (k, pos), whose average size is
 * avg bytes so far: false when not worth it or no start is found near the
 * middle. */
static bool spec_start(struct spec *sp, const uint8_t *b, uint64_t lim, uint64_t n, uint64_t k,
		       uint64_t pos, uint64_t avg, bool small)
{
	uint64_t left = n - k, span, end, g;

	memset(sp, 0, sizeof(*sp));
	if (left < (small ? 4 : SPEC_MIN_ELEMS) || lim - pos < (small ? 32 : SPEC_MIN_BYTES))
		return false;
	/* where the array ends, as far as the buffer holds it */
	span = avg && left <= (lim - pos) / avg ? avg * left : lim - pos;
	end = pos + span;
	g = pos + span / 2;
	for (uint64_t q = g; q < g + 4096 && q < end; q++) {
		if (!spec_plausible(b, q, lim))
			continue;
		sp->q = sp->pos = q;
		sp->cap = (lim - q) / 8 + 1;
		if (sp->cap > left)
			sp->cap = left;
		if (sp->cap > SPEC_MAX_ELEMS)
			sp->cap = SPEC_MAX_ELEMS;
		sp->cp = malloc((size_t)(sp->cap / SPEC_CP + 1) * sizeof(*sp->cp));
		sp->lv = malloc((size_t)(sp->cap + 1) * sizeof(*sp->lv));
		if (!sp->cp || !sp->lv) {
			free(sp->cp);
			free(sp->lv);
			return false; /* only slower */
		}
		return true;
	}
	return false;
}

static void spec_drop(struct spec *sp)
{
	free(sp->cp);
	free(sp->lv);
	sp->cp = NULL;
	sp->lv = NULL;
}

/* Where B's element i starts (i <= sp->k): from the nearest note. */
static uint64_t spec_elem(const struct spec *sp, const uint8_t *b, uint64_t i)
{
	uint64_t q;

	if (i == sp->k)
		return sp->pos;
	q = sp->cp[i / SPEC_CP];
	for (uint64_t j = i / SPEC_CP * SPEC_CP; j < i; j++) {
		uint64_t sl;

		memcpy(&sl, b + q, 8);
		q += 8 + sl;
	}
	return q;
}

/* A has walked *pk elements and stands on B's first byte: B's elements
 * become elements *pk.. (no more than n in all), with their long strings
 * and skip entries, and A goes on after them. 0 or -ENOMEM. */
static int spec_merge(struct spec *sp, const uint8_t *b, uint64_t n, uint64_t *pk, uint64_t *ppos,
		      uint64_t *skip, struct arr_resume *res)
{
	uint64_t k0 = *pk, m = sp->k < n - k0 ? sp->k : n - k0;

	if (res) {
		if (long_reserve(res, sp->nl) < 0)
			return -ENOMEM;
		for (uint64_t i = 0; i < sp->nl && sp->lv[i].j < m; i++) {
			res->longs[res->n_long].j = (uint32_t)(k0 + sp->lv[i].j);
			res->longs[res->n_long].off = sp->lv[i].off;
			res->n_long++;
		}
	}
	if (skip) {
		uint64_t e = (k0 + GGUF_SKIP_EVERY - 1) / GGUF_SKIP_EVERY * GGUF_SKIP_EVERY;

		for (; e < k0 + m; e += GGUF_SKIP_EVERY)
			skip[e / GGUF_SKIP_EVERY] = spec_elem(sp, b, e - k0);
	}
	*ppos = spec_elem(sp, b, m);
	*pk = k0 + m;
	return 0;
}

/* One chain: walks elements from (*pk, *ppos) to at most element kmax,
 * while each is wholly inside lim and no longer than
 * GGUF_MAX_STRING_BYTES, and stops once *ppos >= stop; notes skip entries
 * and (res) long strings. 0 or -ENOMEM. */
static int walk_one(const uint8_t *b, uint64_t lim, uint64_t kmax, uint64_t *pk, uint64_t *ppos,
		    uint64_t *skip, struct arr_resume *res, uint64_t stop)
{
	uint64_t k = *pk, pos = *ppos;
	/* the long-string list in locals: through res every store to it
	 * would reload its count (the stores may alias res), a load on the
	 * loop's critical path */
	struct gguf_long_str *lv = res ? res->longs : NULL;
	uint64_t nl = res ? res->n_long : 0, cap = res ? res->cap_long : 0;
	int e = 0;

	while (k < kmax && lim - pos >= 8 && pos < stop) {
		uint64_t sl;

		memcpy(&sl, b + pos, 8);
		if (sl > GGUF_MAX_STRING_BYTES || sl > lim - pos - 8)
			break;
		if (skip && k % GGUF_SKIP_EVERY == 0)
			skip[k / GGUF_SKIP_EVERY] = pos;
		if (res) {
			if (nl + 1 >= cap) {
				res->n_long = nl;
				if (long_reserve(res, 0) < 0) {
					e = -ENOMEM;
					break;
				}
				lv = res->longs;
				cap = res->cap_long;
			}
			/* written every time, kept when long: no branch on
			 * the length (a vocabulary's are long at random) */
			lv[nl].j = (uint32_t)k;
			lv[nl].off = (uint32_t)pos;
			nl += sl > GGUF_SHORT_STR;
		}
		pos += 8 + sl;
		k++;
	}
	if (res)
		res->n_long = nl;
	*pk = k;
	*ppos = pos;
	return e;
}

/* Both chains in lockstep, A from (*pk, *ppos) with its long strings in
 * res, B from sp's cursor, until A reaches sp->q, either chain meets an
 * element it cannot take, A reaches kmax or B its cap. The loop keeps no
 * bookkeeping per element beyond the long strings: the skip entries, B's
 * notes and the room in both lists are settled per block of at most
 * SPEC_CP elements. B's long strings are noted with A's index, which is
 * B's plus dk while they step together. 0 or -ENOMEM. */
static int walk_two(const uint8_t *b, uint64_t lim, uint64_t kmax, uint64_t *pk, uint64_t *ppos,
		    uint64_t *skip, struct arr_resume *res, struct spec *sp, uint64_t dk, bool *b_stopped)
{
	uint64_t k = *pk, pos = *ppos, qb = sp->pos, nlb = sp->nl, q = sp->q, lim8 = lim - 8;
	struct gguf_long_str *lvb = sp->lv;
	int e = 0;

	*b_stopped = false;
	while (k < kmax && pos < q) {
		uint64_t kb = k - dk, kend = kmax, nl;
		struct gguf_long_str *lv;

		if (kb >= sp->cap) {
			*b_stopped = true;
			break;
		}
		if (kb % SPEC_CP == 0)
			sp->cp[kb / SPEC_CP] = (uint32_t)qb;
		if (k % GGUF_SKIP_EVERY == 0)
			skip[k / GGUF_SKIP_EVERY] = pos;
		if (long_reserve(res, SPEC_CP) < 0) {
			e = -ENOMEM;
			break;
		}
		/* the block: to B's next note, A's next skip entry, B's cap */
		if (kend > k + (SPEC_CP - kb % SPEC_CP))
			kend = k + (SPEC_CP - kb % SPEC_CP);
		if (kend > k + (GGUF_SKIP_EVERY - k % GGUF_SKIP_EVERY))
			kend = k + (GGUF_SKIP_EVERY - k % GGUF_SKIP_EVERY);
		if (kend > k + (sp->cap - kb))
			kend = k + (sp->cap - kb);
		lv = res->longs;
		nl = res->n_long;
		while (k < kend) {
			uint64_t sl, sb;

			/* lim >= 8 here: B's first element was inside it */
			if (pos > lim8 || qb > lim8)
				break;
			memcpy(&sl, b + pos, 8);
			memcpy(&sb, b + qb, 8);
			/* a page ahead of both chains: the hardware's
			 * prefetchers stop at page boundaries, and on a VM the
			 * first touch of a page is a TLB walk of two levels
			 * (the address in integers: it may pass the buffer's
			 * end, which a prefetch never reads) */
			__builtin_prefetch((const void *)((uintptr_t)b + pos + 4096));
			__builtin_prefetch((const void *)((uintptr_t)b + qb + 4096));
			if (sl > GGUF_MAX_STRING_BYTES || sl > lim8 - pos || sb > GGUF_MAX_STRING_BYTES ||
			    sb > lim8 - qb)
				break;
			lv[nl].j = (uint32_t)k;
			lv[nl].off = (uint32_t)pos;
			nl += sl > GGUF_SHORT_STR;
			lvb[nlb].j = (uint32_t)k;
			lvb[nlb].off = (uint32_t)qb;
			nlb += sb > GGUF_SHORT_STR;
			pos += 8 + sl;
			qb += 8 + sb;
			k++;
			if (pos >= q)
				break;
		}
		res->n_long = nl;
		if (k < kend && pos < q) {
			/* one of the chains met an element it cannot take:
			 * when it is B's, A goes on alone; when A's, A stops
			 * there too (the careful loop reads or reports it) */
			*b_stopped = true;
			break;
		}
	}
	sp->pos = qb;
	sp->k = k - dk;
	sp->nl = nlb;
	for (uint64_t i = 0; i < nlb; i++)
		lvb[i].j -= (uint32_t)dk;
	*pk = k;
	*ppos = pos;
	return e;
}

/* Walks string elements from (*pk, *ppos) while each is wholly inside
 * lim and no longer than GGUF_MAX_STRING_BYTES, noting skip entries and
 * (res) long strings; stops at n or at the first element it cannot take
 * (the caller's careful loop then reads or reports it). speculate: the
 * parser's GGUF_PARSE_ONE_CHAIN and GGUF_PARSE_SPEC_SMALL. 0, or -ENOMEM
 * with *pk, *ppos where it stopped. */
static int walk_strings(const uint8_t *b, uint64_t lim, uint64_t n, uint64_t *pk, uint64_t *ppos,
			uint64_t *skip, struct arr_resume *res, unsigned speculate)
{
	uint64_t k0 = *pk, pos0 = *ppos, first = speculate & GGUF_PARSE_SPEC_SMALL ? 2 : SPEC_FIRST;
	struct spec sp;
	bool b_stopped;
	int e;

	if ((speculate & GGUF_PARSE_ONE_CHAIN) || !res || !skip)
		return walk_one(b, lim, n, pk, ppos, skip, res, UINT64_MAX);
	/* SPEC_FIRST elements alone, for their average size */
	e = walk_one(b, lim, n - k0 > first ? k0 + first : n, pk, ppos, skip, res, UINT64_MAX);
	/* then B from the middle of what is left, as the average so far
	 * places it; again on what is left after each merge, with a better
	 * average */
	while (e == 0 && *pk - k0 >= first &&
	       spec_start(&sp, b, lim, n, *pk, *ppos, (*ppos - pos0) / (*pk - k0),
			  speculate & GGUF_PARSE_SPEC_SMALL)) {
		bool merged = false;

		e = walk_two(b, lim, n, pk, ppos, skip, res, &sp, *pk, &b_stopped);
		if (e == 0 && b_stopped && *ppos < sp.q)
			/* A alone up to B's first byte */
			e = walk_one(b, lim, n, pk, ppos, skip, res, sp.q);
		if (e == 0 && *ppos == sp.q) {
			e = spec_merge(&sp, b, n, pk, ppos, skip, res);
			merged = true;
		}
		spec_drop(&sp);
		if (!merged)
			break;
	}
	return e < 0 ? e : walk_one(b, lim, n, pk, ppos, skip, res, UINT64_MAX);
}

struct reader {
	const uint8_t *buf;
	size_t buf_len;
	uint64_t file_size;
	uint64_t pos;
	uint64_t need; /* set with -EAGAIN */
	struct diag *d;
	struct arr_resume *res; /* NULL: no resuming */
};

static const char *const type_names[GGUF_TYPE_COUNT] = {
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
};

const char *gguf_type_name(uint32_t type)
{
	return type < GGUF_TYPE_COUNT ? type_names[type] : "invalid";
}

size_t gguf_type_size(uint32_t t)
{
	switch (t) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL:
		return 1;
	case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
		return 2;
	case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32:
		return 4;
	case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64:
		return 8;
	default:
		return 0;
	}
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf-read.c assumes a little-endian host, as GGUF files are"
#endif

static uint64_t le_load(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, p, n);
	return v;
}

/* Makes sure n bytes at r->pos are in the buffer. Fails with a truncation
 * error naming what when the file ends first, asks for more with -EAGAIN
 * when only the buffer does. */
static int need(struct reader *r, uint64_t n, const char *what)
{
	uint64_t end;

	if (!ck_add_u64(r->pos, n, &end) || end > r->file_size)
		return diag_set(r->d, -EBADMSG, r->pos,
				"file ends inside %s (%llu bytes needed, %llu left)", what,
				(unsigned long long)n,
				(unsigned long long)(r->file_size - r->pos));
	if (end > GGUF_MAX_HEADER_BYTES)
		return diag_set(r->d, -E2BIG, r->pos,
				"header is larger than the %llu MiB limit",
				GGUF_MAX_HEADER_BYTES >> 20);
	if (end > r->buf_len) {
		r->need = end;
		return -EAGAIN;
	}
	return 0;
}

static int read_le(struct reader *r, size_t n, const char *what, uint64_t *ret)
{
	int e = need(r, n, what);

	if (e < 0)
		return e;
	*ret = le_load(r->buf + r->pos, n);
	r->pos += n;
	return 0;
}

static uint64_t remaining(const struct reader *r)
{
	uint64_t end = r->file_size < GGUF_MAX_HEADER_BYTES ? r->file_size : GGUF_MAX_HEADER_BYTES;

	return r->pos < end ? end - r->pos : 0;
}

/* Reads a string's length and checks it against max and the file; leaves
 * pos after the length, with the bytes available in the buffer. */
static int read_str(struct reader *r, uint64_t max, const char *what,
		    uint64_t *ret_off, uint64_t *ret_len)
{
	uint64_t at = r->pos, len;
	int e = read_le(r, 8, what, &len);

	if (e < 0)
		return e;
	if (len > max)
		return diag_set(r->d, -E2BIG, at, "%s is %llu bytes long, over the %llu-byte limit",
				what, (unsigned long long)len, (unsigned long long)max);
	if (len > remaining(r))
		return diag_set(r->d, -EBADMSG, at,
				"%s is %llu bytes long but only %llu bytes are left in the header",
				what, (unsigned long long)len, (unsigned long long)remaining(r));
	e = need(r, len, what);
	if (e < 0)
		return e;
	*ret_off = r->pos;
	*ret_len = len;
	r->pos += len;
	return 0;
}

/* ---- sorted indexes over keys and tensor names ----
 *
 * Record numbers sorted by name, searched by bisection. A sort has a worst
 * case of n log n comparisons whatever the names are, where a hash table
 * can be flooded with colliding names and go quadratic; duplicates show up
 * as neighbours. */

struct index_ops {
	const uint8_t *buf;
	uint64_t (*off)(const void *recs, uint32_t i);
	uint32_t (*len)(const void *recs, uint32_t i);
	const void *recs;
};

static uint64_t kv_rec_off(const void *recs, uint32_t i)
{
	return ((const struct gguf_kv *)recs)[i].key_off;
}

static uint32_t kv_rec_len(const void *recs, uint32_t i)
{
	return ((const struct gguf_kv *)recs)[i].key_len;
}

static uint64_t t_rec_off(const void *recs, uint32_t i)
{
	return ((const struct gguf_tensor *)recs)[i].name_off;
}

static uint32_t t_rec_len(const void *recs, uint32_t i)
{
	return ((const struct gguf_tensor *)recs)[i].name_len;
}

static int name_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

static int rec_cmp(const struct index_ops *ops, uint32_t x, uint32_t y)
{
	int c = name_cmp(ops->buf + ops->off(ops->recs, x), ops->len(ops->recs, x),
			 ops->buf + ops->off(ops->recs, y), ops->len(ops->recs, y));

	/* equal names keep file order, so a run's first is the original */
	return c ? c : (x < y ? -1 : x > y);
}

/* Bottom-up merge sort of v[0..n) using tmp[0..n). */
static void sort_recs(uint32_t *v, uint32_t *tmp, uint64_t n, const struct index_ops *ops)
{
	for (uint64_t w = 1; w < n; w *= 2) {
		for (uint64_t lo = 0; lo < n; lo += 2 * w) {
			uint64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			uint64_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				tmp[k++] = rec_cmp(ops, v[i], v[j]) <= 0 ? v[i++] : v[j++];
			while (i < mid)
				tmp[k++] = v[i++];
			while (j < hi)
				tmp[k++] = v[j++];
		}
		memcpy(v, tmp, n * sizeof(*v));
	}
}

/* Builds the sorted index of n records. Returns 0; -EEXIST with the file
 * order's first repeated record in *ret_dup; -ENOMEM. */
static int index_build(uint32_t **ret, uint64_t n, const struct index_ops *ops, uint32_t *ret_dup)
{
	uint32_t *v = malloc((n ? n : 1) * sizeof(*v)), *tmp = malloc((n ? n : 1) * sizeof(*tmp));
	uint64_t dup = UINT64_MAX;

	if (!v || !tmp) {
		free(v);
		free(tmp);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < n; i++)
		v[i] = (uint32_t)i;
	sort_recs(v, tmp, n, ops);
	free(tmp);
	for (uint64_t i = 1; i < n; i++) {
		if (name_cmp(ops->buf + ops->off(ops->recs, v[i - 1]), ops->len(ops->recs, v[i - 1]),
			     ops->buf + ops->off(ops->recs, v[i]), ops->len(ops->recs, v[i])) == 0 &&
		    (i < 2 || name_cmp(ops->buf + ops->off(ops->recs, v[i - 2]),
				       ops->len(ops->recs, v[i - 2]),
				       ops->buf + ops->off(ops->recs, v[i]),
				       ops->len(ops->recs, v[i])) != 0) &&
		    v[i] < dup)
			dup = v[i]; /* the second of a run is its first repeat */
	}
	free(*ret);
	*ret = v;
	if (dup != UINT64_MAX) {
		*ret_dup = (uint32_t)dup;
		return -EEXIST;
	}
	return 0;
}

static int64_t index_find(const uint32_t *tab, uint64_t n, const struct index_ops *ops,
			  const char *name)
{
	size_t len = strlen(name);
	uint64_t lo = 0, hi = n;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(ops->buf + ops->off(ops->recs, tab[mid]), ops->len(ops->recs, tab[mid]),
				 (const uint8_t *)name, len);

		if (c == 0)
			return tab[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

/* ---- growable record arrays ---- */

static int grow(void **arr, uint64_t *cap, uint64_t want, size_t elem)
{
	uint64_t ncap;
	void *p;

	if (want <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap < want)
		ncap = want;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* ---- key-value section ---- */

static bool key_char_ok(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* Writes a printable, quoted excerpt of n bytes at p for messages. */
static void excerpt(char *out, size_t outsz, const uint8_t *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < outsz; i++) {
		uint8_t c = p[i];

		if (i == 32) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
			out[o++] = (char)c;
		} else {
			static const char hex[] = "0123456789abcdef";

			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

/* Checks one scalar or array element of type t at r->pos (already in the
 * buffer) and advances past it. Strings are read with their length. */
static int read_value(struct reader *r, uint32_t t, const char *what)
{
	uint64_t off, len, v;
	int e;

	if (t == GGUF_TYPE_STRING)
		return read_str(r, GGUF_MAX_STRING_BYTES, what, &off, &len);
	e = read_le(r, gguf_type_size(t), what, &v);
	if (e < 0)
		return e;
	if (t == GGUF_TYPE_BOOL && v > 1)
		return diag_set(r->d, -EBADMSG, r->pos - 1,
				"%s is a bool with value %llu, neither 0 nor 1", what,
				(unsigned long long)v);
	return 0;
}

/* "PREFIX<i>" into buf without printf: every tensor record builds one */
static void what_index(char *buf, size_t n, const char *prefix, uint64_t i)
{
	char digits[20];
	size_t k = 0, p = strlen(prefix);

	do {
		digits[k++] = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	if (p + k + 1 > n) {
		buf[0] = '\0';
		return;
	}
	memcpy(buf, prefix, p);
	while (k)
		buf[p++] = digits[--k];
	buf[p] = '\0';
}

static int read_kv(struct reader *r, struct gguf_kv *kv, uint64_t i)
{
	uint64_t off, len, t, at;
	char what[64];
	int e;

	memset(kv, 0, sizeof(*kv));
	kv->off = r->pos;
	snprintf(what, sizeof(what), "the key of key-value pair %llu", (unsigned long long)i);
	at = r->pos;
	e = read_str(r, GGUF_MAX_KEY_BYTES, what, &off, &len);
	if (e < 0)
		return e;
	if (len == 0)
		return diag_set(r->d, -EBADMSG, at, "key-value pair %llu has an empty key",
				(unsigned long long)i);
	for (uint64_t k = 0; k < len; k++) {
		if (!key_char_ok(r->buf[off + k])) {
			char ex[160];

			excerpt(ex, sizeof(ex), r->buf + off, len);
			return diag_set(r->d, -EBADMSG, off + k,
					"key '%s' has a character outside [A-Za-z0-9_.-]", ex);
		}
	}
	kv->key_off = off;
	kv->key_len = (uint32_t)len;

	at = r->pos;
	e = read_le(r, 4, "a value type", &t);
	if (e < 0)
		return e;
	if (t >= GGUF_TYPE_COUNT)
		return diag_set(r->d, -EBADMSG, at, "key '%.*s' has invalid value type %llu",
				(int)len, (const char *)r->buf + off, (unsigned long long)t);
	kv->type = (uint32_t)t;
	kv->n = 1;
	kv->val_off = r->pos;
	snprintf(what, sizeof(what), "the value of key-value pair %llu", (unsigned long long)i);
	if (t != GGUF_TYPE_ARRAY) {
		e = read_value(r, (uint32_t)t, what);
		if (e < 0)
			return e;
		kv->val_end = r->pos;
		return 0;
	}

	uint64_t et, n, min_bytes;

	at = r->pos;
	e = read_le(r, 4, "an array element type", &et);
	if (e < 0)
		return e;
	if (et == GGUF_TYPE_ARRAY)
		return diag_set(r->d, -EBADMSG, at, "key '%.*s' is an array of arrays (not allowed)",
				(int)len, (const char *)r->buf + off);
	if (et >= GGUF_TYPE_COUNT)
		return diag_set(r->d, -EBADMSG, at, "key '%.*s' has invalid array element type %llu",
				(int)len, (const char *)r->buf + off, (unsigned long long)et);
	at = r->pos;
	e = read_le(r, 8, "an array length", &n);
	if (e < 0)
		return e;
	if (n > GGUF_MAX_ARRAY_ELEMS)
		return diag_set(r->d, -E2BIG, at,
				"key '%.*s' is an array of %llu elements, over the %llu limit",
				(int)len, (const char *)r->buf + off, (unsigned long long)n,
				(unsigned long long)GGUF_MAX_ARRAY_ELEMS);
	/* a string element takes at least its 8-byte length */
	if (!ck_mul_u64(n, et == GGUF_TYPE_STRING ? 8 : gguf_type_size((uint32_t)et), &min_bytes) ||
	    min_bytes > remaining(r))
		return diag_set(r->d, -EBADMSG, at,
				"key '%.*s' is an array of %llu %s elements, more than the %llu bytes left in the header",
				(int)len, (const char *)r->buf + off, (unsigned long long)n,
				gguf_type_name((uint32_t)et), (unsigned long long)remaining(r));
	kv->arr_type = (uint32_t)et;
	kv->n = n;
	kv->val_off = r->pos;
	if (et != GGUF_TYPE_STRING && et != GGUF_TYPE_BOOL) {
		e = need(r, min_bytes, what);
		if (e < 0)
			return e;
		r->pos += min_bytes;
	} else {
		/* The fast path covers strings wholly inside the buffer; the
		 * checks are the same as read_str()'s, which handles the rest
		 * (and reports). Vocabularies make this the hot loop. */
		uint64_t lim = r->buf_len < GGUF_MAX_HEADER_BYTES ? r->buf_len : GGUF_MAX_HEADER_BYTES;
		uint64_t k = 0;

		/* the elements before res->k were checked in an earlier round,
		 * in the same bytes (the buffer only grows) */
		uint64_t *skip = NULL;

		if (r->res && r->res->kv_off == kv->off && r->res->k <= n && r->res->pos >= r->pos &&
		    r->res->pos <= lim) {
			k = r->res->k;
			r->pos = r->res->pos;
			skip = r->res->skip;
		} else if (r->res) {
			/* a new array: its skip index and long strings are
			 * kept in res from the first round on */
			res_drop(r->res);
			r->res->kv_off = kv->off;
			r->res->k = 0;
			r->res->pos = r->pos;
		}
		/* n is at most the header's bytes / 8 (checked above) */
		if (!skip && r->res && et == GGUF_TYPE_STRING && n > GGUF_SKIP_EVERY) {
			skip = malloc((size_t)((n - 1) / GGUF_SKIP_EVERY + 1) * sizeof(*skip));
			if (!skip)
				return diag_set(r->d, -ENOMEM, r->pos, "out of memory");
			r->res->skip = skip;
		}
		if (et == GGUF_TYPE_STRING) {
			struct arr_resume *res = r->res && r->res->want_longs ? r->res : NULL;

			e = walk_strings(r->buf, lim, n, &k, &r->pos, skip, res, r->res ? r->res->spec : 0);
			if (e < 0)
				return diag_set(r->d, e, r->pos, "out of memory");
		}
		for (; k < n; k++) {
			uint64_t el = r->pos;

			if (skip && k % GGUF_SKIP_EVERY == 0)
				skip[k / GGUF_SKIP_EVERY] = el;
			e = read_value(r, (uint32_t)et, what);
			if (e == -EAGAIN && r->res) {
				r->res->kv_off = kv->off;
				r->res->k = k;
				r->res->pos = el;
			}
			if (e == 0 && et == GGUF_TYPE_STRING && r->res && r->res->want_longs &&
			    long_put(r->res, k, el, r->pos - el - 8 > GGUF_SHORT_STR) < 0)
				return diag_set(r->d, -ENOMEM, el, "out of memory");
			if (e == -EAGAIN && k > 0) {
				/* ask for the rest of the array at once, guessing
				 * its size from the elements seen (with a
				 * sixteenth more), so a large vocabulary costs a
				 * read or two, not many; the elements checked are
				 * not checked again (r->res) */
				uint64_t seen = el - kv->val_off, avg = (seen + k - 1) / k, guess;

				if (ck_mul_u64(avg, n - k, &guess) &&
				    ck_add_u64(guess, guess / 16 + el, &guess) && guess > r->need)
					r->need = guess < r->file_size ? guess : r->file_size;
			}
			if (e < 0)
				return e;
		}
	}
	if (r->res && r->res->kv_off == kv->off) {
		r->res->kv_off = UINT64_MAX;
		kv->skip = r->res->skip;
		kv->longs = r->res->longs;
		kv->n_long = r->res->n_long;
		r->res->skip = NULL;
		r->res->longs = NULL;
		r->res->n_long = r->res->cap_long = 0;
	}
	kv->val_end = r->pos;
	return 0;
}

/* ---- tensor-info section ---- */

static int read_tensor(struct reader *r, struct gguf_tensor *t, uint64_t i)
{
	uint64_t off, len, v, at;
	const struct ggml_type_info *ti;
	char what[64], name[160];
	int e;

	memset(t, 0, sizeof(*t));
	t->off = r->pos;
	what_index(what, sizeof(what), "the name of tensor ", i);
	at = r->pos;
	e = read_str(r, GGUF_MAX_STRING_BYTES, what, &off, &len);
	if (e < 0)
		return e;
	if (len == 0)
		return diag_set(r->d, -EBADMSG, at, "tensor %llu has an empty name",
				(unsigned long long)i);
	/* the name, escaped, only for a message */
#define NAME() (excerpt(name, sizeof(name), r->buf + off, len), name)
	if (len >= GGUF_MAX_NAME)
		return diag_set(r->d, -EBADMSG, at,
				"tensor name '%s' is %llu bytes long, the limit is %d", NAME(),
				(unsigned long long)len, GGUF_MAX_NAME - 1);
	for (uint64_t k = 0; k < len; k++) {
		uint8_t c = r->buf[off + k];

		if (c < 0x20 || c == 0x7f)
			return diag_set(r->d, -EBADMSG, off + k,
					"tensor name '%s' contains a control character", NAME());
	}
	t->name_off = off;
	t->name_len = (uint32_t)len;

	at = r->pos;
	e = read_le(r, 4, "a tensor's dimension count", &v);
	if (e < 0)
		return e;
	if (v > GGUF_MAX_DIMS)
		return diag_set(r->d, -EBADMSG, at, "tensor '%s' has %llu dimensions, at most %d allowed",
				NAME(), (unsigned long long)v, GGUF_MAX_DIMS);
	t->n_dims = (uint32_t)v;
	for (int k = 0; k < GGUF_MAX_DIMS; k++)
		t->ne[k] = 1;
	for (uint32_t k = 0; k < t->n_dims; k++) {
		at = r->pos;
		e = read_le(r, 8, "a tensor dimension", &v);
		if (e < 0)
			return e;
		if (v > INT64_MAX)
			return diag_set(r->d, -EBADMSG, at, "tensor '%s' has negative dimension %lld",
					NAME(), (long long)(int64_t)v);
		t->ne[k] = (int64_t)v;
	}
	int64_t nel = 1;
	bool zero = false;

	for (int k = 0; k < GGUF_MAX_DIMS; k++)
		zero |= t->ne[k] == 0;
	/* A zero dimension makes the tensor empty; ggml accepts that, and the
	 * product check below would divide by zero in ggml's formulation. */
	for (int k = 0; k < GGUF_MAX_DIMS && !zero; k++) {
		if (!ck_mul_i64(nel, t->ne[k], &nel))
			return diag_set(r->d, -EBADMSG, t->off + 12 + len,
					"tensor '%s' has more elements than fit in 63 bits", NAME());
	}
	t->n_elements = zero ? 0 : (uint64_t)nel;

	at = r->pos;
	e = read_le(r, 4, "a tensor type", &v);
	if (e < 0)
		return e;
	ti = ggml_type_get(v > UINT32_MAX ? UINT32_MAX : (uint32_t)v);
	if (!ti)
		return diag_set(r->d, -EBADMSG, at, "tensor '%s' has unknown ggml type %llu", NAME(),
				(unsigned long long)v);
	if (ti->removed)
		return diag_set(r->d, -EBADMSG, at,
				"tensor '%s' has ggml type %llu (%s), which ggml removed", NAME(),
				(unsigned long long)v, ti->name);
	t->type = (uint32_t)v;
	e = ggml_type_tensor_size(t->type, t->ne, GGUF_MAX_DIMS, &t->nbytes);
	if (e == -EDOM)
		return diag_set(r->d, -EBADMSG, at,
				"tensor '%s' of type %s has %lld elements per row, not a multiple of the block size %u",
				NAME(), ti->name, (long long)t->ne[0], ti->blck_size);
	if (e < 0 || t->nbytes > INT64_MAX)
		return diag_set(r->d, -EBADMSG, at,
				"tensor '%s' of type %s is too large: its size in bytes overflows",
				NAME(), ti->name);

	e = read_le(r, 8, "a tensor offset", &t->offset);
	if (e < 0)
		return e;
	return 0;
#undef NAME
}

/* ---- the whole header, resumable ---- */

enum parser_phase { PH_HEADER, PH_KV, PH_TENSORS, PH_DONE, PH_FAILED };

struct gguf_parser {
	struct gguf_file *f;
	uint64_t file_size;
	enum parser_phase phase;
	uint64_t pos;           /* end of the last complete record */
	struct arr_resume res;  /* inside the record at pos */
	uint64_t n_kv, n_tensors;
	uint64_t cap_kv, cap_t;
};

struct gguf_parser *gguf_parser_new(uint64_t file_size)
{
	struct gguf_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->f = calloc(1, sizeof(*p->f));
	if (!p->f) {
		free(p);
		return NULL;
	}
	p->file_size = file_size;
	p->res.kv_off = UINT64_MAX;
	p->f->file_size = file_size;
	p->f->alignment = GGUF_DEFAULT_ALIGNMENT;
	return p;
}

void gguf_parser_set_flags(struct gguf_parser *p, unsigned flags)
{
	p->res.want_longs = flags & GGUF_PARSE_LONG_STRINGS;
	p->res.spec = flags & (GGUF_PARSE_ONE_CHAIN | GGUF_PARSE_SPEC_SMALL);
	p->f->has_longs = p->res.want_longs;
}

struct gguf_parser *gguf_parser_free(struct gguf_parser *p)
{
	if (!p)
		return NULL;
	res_drop(&p->res);
	gguf_file_free(p->f);
	free(p);
	return NULL;
}

static int parse_counts(struct reader *r, struct gguf_parser *p)
{
	uint64_t v;
	int e;

	e = need(r, 4, "the magic");
	if (e < 0)
		return e;
	if (memcmp(r->buf, GGUF_MAGIC, 4) != 0) {
		char ex[32];

		excerpt(ex, sizeof(ex), r->buf, 4);
		return diag_set(r->d, -EBADMSG, 0, "not a GGUF file: the magic is '%s', not 'GGUF'", ex);
	}
	r->pos = 4;
	e = read_le(r, 4, "the version", &v);
	if (e < 0)
		return e;
	if (v != 0 && (v & 0xffff) == 0)
		return diag_set(r->d, -EPROTONOSUPPORT, 4,
				"version 0x%08llx looks byte-swapped: big-endian GGUF files are not supported",
				(unsigned long long)v);
	if (v == 1)
		return diag_set(r->d, -EPROTONOSUPPORT, 4,
				"GGUF version 1 is not supported (convert the model with a current llama.cpp)");
	if (v != 2 && v != 3)
		return diag_set(r->d, -EPROTONOSUPPORT, 4, "unsupported GGUF version %llu",
				(unsigned long long)v);
	p->f->version = (uint32_t)v;

	e = read_le(r, 8, "the tensor count", &p->n_tensors);
	if (e < 0)
		return e;
	e = read_le(r, 8, "the key-value count", &p->n_kv);
	if (e < 0)
		return e;
	if (p->n_tensors > INT64_MAX || p->n_tensors > GGUF_MAX_TENSORS)
		return diag_set(r->d, p->n_tensors > INT64_MAX ? -EBADMSG : -E2BIG, 8,
				"tensor count %llu is over the limit of %llu",
				(unsigned long long)p->n_tensors, (unsigned long long)GGUF_MAX_TENSORS);
	if (p->n_kv > INT64_MAX || p->n_kv > GGUF_MAX_KV)
		return diag_set(r->d, p->n_kv > INT64_MAX ? -EBADMSG : -E2BIG, 16,
				"key-value count %llu is over the limit of %llu",
				(unsigned long long)p->n_kv, (unsigned long long)GGUF_MAX_KV);
	/* minimum records: a kv is an 8-byte key length, a 1-byte key, a
	 * 4-byte type and a 1-byte value; a tensor info is an 8-byte name
	 * length, a 1-byte name, n_dims, type and offset */
	if (p->n_kv * 14 + p->n_tensors * 25 > remaining(r))
		return diag_set(r->d, -EBADMSG, 8,
				"%llu tensors and %llu key-value pairs cannot fit in the %llu bytes left",
				(unsigned long long)p->n_tensors, (unsigned long long)p->n_kv,
				(unsigned long long)remaining(r));
	return 0;
}

static int check_alignment(struct reader *r, struct gguf_file *f)
{
	int64_t ai = gguf_kv_find(f, GGUF_KEY_GENERAL_ALIGNMENT);
	uint64_t v;

	if (ai < 0)
		return 0;
	const struct gguf_kv *kv = &f->kvs[ai];

	if (kv->type != GGUF_TYPE_UINT32)
		return diag_set(r->d, -EBADMSG, kv->off, "general.alignment has type %s, it must be uint32",
				gguf_type_name(kv->type));
	v = le_load(r->buf + kv->val_off, 4);
	if (v == 0 || (v & (v - 1)) != 0 || v > GGUF_MAX_ALIGNMENT)
		return diag_set(r->d, -EBADMSG, kv->val_off,
				"general.alignment is %llu, it must be a power of two up to %u",
				(unsigned long long)v, GGUF_MAX_ALIGNMENT);
	f->alignment = (uint32_t)v;
	return 0;
}

/* Offsets must be exactly the padded running sum (ggml's rule), and every
 * tensor must end inside the file even though its data is not read here
 * (CVE-2026-7482 leaked memory past a short file). */
static int check_data(struct reader *r, struct gguf_file *f)
{
	uint64_t expect = 0, at;

	f->header_bytes = r->pos;
	if (!ck_align_u64(r->pos, f->alignment, &f->data_offset))
		return diag_set(r->d, -EBADMSG, r->pos, "data offset overflows");
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		uint64_t padded, end;
		char nm[160];

		/* the name is quoted only on failure */
#define NAME() excerpt(nm, sizeof(nm), r->buf + t->name_off, t->name_len), nm
		at = t->off + 8 + t->name_len + 4 + 8ull * t->n_dims + 4;
		if (t->offset != expect)
			return diag_set(r->d, -EBADMSG, at,
					"tensor '%s' has data offset %llu, expected %llu",
					(NAME()), (unsigned long long)t->offset, (unsigned long long)expect);
		if (!ck_align_u64(t->nbytes, f->alignment, &padded) ||
		    !ck_add_u64(expect, padded, &expect))
			return diag_set(r->d, -EBADMSG, at,
					"tensor '%s': the data section size overflows",
					(NAME()));
		if (!ck_add_u64(f->data_offset, t->offset, &end) ||
		    !ck_add_u64(end, t->nbytes, &end) || end > r->file_size)
			return diag_set(r->d, -EBADMSG, at,
					"tensor '%s' (%llu bytes at data offset %llu) ends past the end of the file (%llu bytes): the file is truncated",
					(NAME()), (unsigned long long)t->nbytes, (unsigned long long)t->offset,
					(unsigned long long)r->file_size);
	}
#undef NAME
	f->data_bytes = expect;
	return 0;
}

/* Parses complete records from p->pos on; returns -EAGAIN (rewound to the
 * start of the record that did not fit) when the buffer ends first. */
static int parse_step(struct reader *r, struct gguf_parser *p)
{
	struct gguf_file *f = p->f;
	int e;

	if (p->phase == PH_HEADER) {
		e = parse_counts(r, p);
		if (e < 0)
			return e;
		p->pos = r->pos;
		p->phase = PH_KV;
	}
	if (p->phase == PH_KV) {
		struct index_ops kops = { r->buf, kv_rec_off, kv_rec_len, NULL };

		while (f->n_kv < p->n_kv) {
			uint64_t i = f->n_kv;

			e = grow((void **)&f->kvs, &p->cap_kv, i + 1, sizeof(*f->kvs));
			if (e < 0)
				return diag_set(r->d, e, r->pos, "out of memory");
			e = read_kv(r, &f->kvs[i], i);
			if (e < 0)
				return e;
			f->n_kv = i + 1;
			p->pos = r->pos;
		}
		{
			uint32_t dup = 0;

			kops.recs = f->kvs;
			e = index_build(&f->kv_index, f->n_kv, &kops, &dup);
			f->kv_index_size = f->n_kv;
			if (e == -EEXIST)
				return diag_set(r->d, -EBADMSG, f->kvs[dup].off, "duplicate key '%.*s'",
						(int)f->kvs[dup].key_len,
						(const char *)r->buf + f->kvs[dup].key_off);
			if (e < 0)
				return diag_set(r->d, e, r->pos, "out of memory");
		}
		e = check_alignment(r, f);
		if (e < 0)
			return e;
		p->phase = PH_TENSORS;
	}
	if (p->phase == PH_TENSORS) {
		struct index_ops tops = { r->buf, t_rec_off, t_rec_len, NULL };

		while (f->n_tensors < p->n_tensors) {
			uint64_t i = f->n_tensors;

			e = grow((void **)&f->tensors, &p->cap_t, i + 1, sizeof(*f->tensors));
			if (e < 0)
				return diag_set(r->d, e, r->pos, "out of memory");
			e = read_tensor(r, &f->tensors[i], i);
			if (e == -EAGAIN) {
				/* ask for every tensor info left at once, at the
				 * average size of those seen, else the smallest a
				 * record can be (25 bytes): a guess that never
				 * reaches past the header when the records are
				 * alike, and costs one more read when it is short */
				uint64_t start = i ? f->tensors[0].off : p->pos;
				uint64_t avg = i ? (p->pos - start) / i : 25, guess;

				if (ck_mul_u64(avg, p->n_tensors - i, &guess) &&
				    ck_add_u64(guess, p->pos, &guess) && guess > r->need)
					r->need = guess < r->file_size ? guess : r->file_size;
			}
			if (e < 0)
				return e;
			f->n_tensors = i + 1;
			p->pos = r->pos;
		}
		{
			uint32_t dup = 0;
			char nm[160];

			tops.recs = f->tensors;
			e = index_build(&f->tensor_index, f->n_tensors, &tops, &dup);
			f->tensor_index_size = f->n_tensors;
			if (e == -EEXIST) {
				excerpt(nm, sizeof(nm), r->buf + f->tensors[dup].name_off,
					f->tensors[dup].name_len);
				return diag_set(r->d, -EBADMSG, f->tensors[dup].off,
						"duplicate tensor name '%s'", nm);
			}
			if (e < 0)
				return diag_set(r->d, e, r->pos, "out of memory");
		}
		e = check_data(r, f);
		if (e < 0)
			return e;
		p->phase = PH_DONE;
	}
	return 0;
}

int gguf_parser_feed(struct gguf_parser *p, const uint8_t *buf, size_t buf_len,
		     struct gguf_file **ret, uint64_t *ret_need, struct diag *d)
{
	struct reader r = { buf, buf_len, p->file_size, p->pos, 0, d, &p->res };
	int e;

	if (p->phase == PH_DONE || p->phase == PH_FAILED || buf_len > p->file_size ||
	    buf_len < p->pos)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "parser misused");
	p->f->buf = buf;
	p->f->buf_len = buf_len;
	e = parse_step(&r, p);
	if (e == -EAGAIN) {
		if (ret_need)
			*ret_need = r.need;
		return e;
	}
	if (e < 0) {
		p->phase = PH_FAILED;
		return e;
	}
	*ret = p->f;
	p->f = NULL;
	return 0;
}

int gguf_parse(const uint8_t *buf, size_t buf_len, uint64_t file_size,
	       struct gguf_file **ret, uint64_t *ret_need, struct diag *d)
{
	struct gguf_parser *p;
	int e;

	if (buf_len > file_size)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "buffer longer than the file");
	p = gguf_parser_new(file_size);
	if (!p)
		return diag_set(d, -ENOMEM, 0, "out of memory");
	e = gguf_parser_feed(p, buf, buf_len, ret, ret_need, d);
	gguf_parser_free(p);
	return e;
}

struct gguf_file *gguf_file_free(struct gguf_file *f)
{
	if (!f)
		return NULL;
	for (uint64_t i = 0; f->kvs && i < f->n_kv; i++) {
		free((void *)f->kvs[i].skip);
		free((void *)f->kvs[i].longs);
	}
	free(f->kvs);
	free(f->tensors);
	free(f->kv_index);
	free(f->tensor_index);
	free(f);
	return NULL;
}

int64_t gguf_kv_find(const struct gguf_file *f, const char *key)
{
	struct index_ops ops = { f->buf, kv_rec_off, kv_rec_len, f->kvs };

	return index_find(f->kv_index, f->kv_index_size, &ops, key);
}

int64_t gguf_tensor_find(const struct gguf_file *f, const char *name)
{
	struct index_ops ops = { f->buf, t_rec_off, t_rec_len, f->tensors };

	return index_find(f->tensor_index, f->tensor_index_size, &ops, name);
}

struct gguf_str gguf_kv_key(const struct gguf_file *f, uint64_t i)
{
	struct gguf_str s = { (const char *)f->buf + f->kvs[i].key_off, f->kvs[i].key_len };

	return s;
}

struct gguf_str gguf_tensor_name(const struct gguf_file *f, uint64_t i)
{
	struct gguf_str s = { (const char *)f->buf + f->tensors[i].name_off, f->tensors[i].name_len };

	return s;
}

/* ---- typed getters ---- */

struct num {
	enum { NUM_UINT, NUM_INT, NUM_FLOAT, NUM_BOOL, NUM_NONE } kind;
	uint64_t u;
	int64_t i;
	double f;
};

static struct num load_num(const uint8_t *p, uint32_t t)
{
	struct num n = { NUM_NONE, 0, 0, 0 };
	uint64_t raw = le_load(p, gguf_type_size(t));

	switch (t) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
		n.kind = NUM_UINT;
		n.u = raw;
		break;
	case GGUF_TYPE_INT8:
		n.kind = NUM_INT;
		n.i = (int8_t)raw;
		break;
	case GGUF_TYPE_INT16:
		n.kind = NUM_INT;
		n.i = (int16_t)raw;
		break;
	case GGUF_TYPE_INT32:
		n.kind = NUM_INT;
		n.i = (int32_t)raw;
		break;
	case GGUF_TYPE_INT64:
		n.kind = NUM_INT;
		n.i = (int64_t)raw;
		break;
	case GGUF_TYPE_FLOAT32: {
		uint32_t w = (uint32_t)raw;
		float fl;

		memcpy(&fl, &w, 4);
		n.kind = NUM_FLOAT;
		n.f = fl;
		break;
	}
	case GGUF_TYPE_FLOAT64:
		n.kind = NUM_FLOAT;
		memcpy(&n.f, &raw, 8);
		break;
	case GGUF_TYPE_BOOL:
		n.kind = NUM_BOOL;
		n.u = raw;
		break;
	default:
		break;
	}
	return n;
}

static int num_uint(struct num n, uint64_t *ret)
{
	if (n.kind == NUM_UINT) {
		*ret = n.u;
		return 0;
	}
	if (n.kind == NUM_INT) {
		if (n.i < 0)
			return -ERANGE;
		*ret = (uint64_t)n.i;
		return 0;
	}
	return -EINVAL;
}

static int num_int(struct num n, int64_t *ret)
{
	if (n.kind == NUM_INT) {
		*ret = n.i;
		return 0;
	}
	if (n.kind == NUM_UINT) {
		if (n.u > INT64_MAX)
			return -ERANGE;
		*ret = (int64_t)n.u;
		return 0;
	}
	return -EINVAL;
}

static int num_float(struct num n, double *ret)
{
	switch (n.kind) {
	case NUM_FLOAT: *ret = n.f; return 0;
	case NUM_UINT: *ret = (double)n.u; return 0;
	case NUM_INT: *ret = (double)n.i; return 0;
	default: return -EINVAL;
	}
}

int gguf_kv_get_uint(const struct gguf_file *f, uint64_t i, uint64_t *ret)
{
	const struct gguf_kv *kv = &f->kvs[i];

	if (kv->type == GGUF_TYPE_ARRAY || kv->type == GGUF_TYPE_STRING)
		return -EINVAL;
	return num_uint(load_num(f->buf + kv->val_off, kv->type), ret);
}

int gguf_kv_get_int(const struct gguf_file *f, uint64_t i, int64_t *ret)
{
	const struct gguf_kv *kv = &f->kvs[i];

	if (kv->type == GGUF_TYPE_ARRAY || kv->type == GGUF_TYPE_STRING)
		return -EINVAL;
	return num_int(load_num(f->buf + kv->val_off, kv->type), ret);
}

int gguf_kv_get_float(const struct gguf_file *f, uint64_t i, double *ret)
{
	const struct gguf_kv *kv = &f->kvs[i];

	if (kv->type == GGUF_TYPE_ARRAY || kv->type == GGUF_TYPE_STRING)
		return -EINVAL;
	return num_float(load_num(f->buf + kv->val_off, kv->type), ret);
}

int gguf_kv_get_bool(const struct gguf_file *f, uint64_t i, bool *ret)
{
	const struct gguf_kv *kv = &f->kvs[i];

	if (kv->type != GGUF_TYPE_BOOL)
		return -EINVAL;
	*ret = f->buf[kv->val_off] != 0;
	return 0;
}

static struct gguf_str str_at(const struct gguf_file *f, uint64_t off)
{
	struct gguf_str s = { (const char *)f->buf + off + 8, (size_t)le_load(f->buf + off, 8) };

	return s;
}

int gguf_kv_get_str(const struct gguf_file *f, uint64_t i, struct gguf_str *ret)
{
	const struct gguf_kv *kv = &f->kvs[i];

	if (kv->type != GGUF_TYPE_STRING)
		return -EINVAL;
	*ret = str_at(f, kv->val_off);
	return 0;
}

static int arr_elem(const struct gguf_file *f, uint64_t i, uint64_t j, struct num *ret)
{
	const struct gguf_kv *kv = &f->kvs[i];
	size_t sz;

	if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type == GGUF_TYPE_STRING)
		return -EINVAL;
	if (j >= kv->n)
		return -ERANGE;
	sz = gguf_type_size(kv->arr_type);
	*ret = load_num(f->buf + kv->val_off + j * sz, kv->arr_type);
	return 0;
}

int gguf_kv_arr_get_uint(const struct gguf_file *f, uint64_t i, uint64_t j, uint64_t *ret)
{
	struct num n;
	int e = arr_elem(f, i, j, &n);

	return e < 0 ? e : num_uint(n, ret);
}

int gguf_kv_arr_get_int(const struct gguf_file *f, uint64_t i, uint64_t j, int64_t *ret)
{
	struct num n;
	int e = arr_elem(f, i, j, &n);

	return e < 0 ? e : num_int(n, ret);
}

int gguf_kv_arr_get_float(const struct gguf_file *f, uint64_t i, uint64_t j, double *ret)
{
	struct num n;
	int e = arr_elem(f, i, j, &n);

	return e < 0 ? e : num_float(n, ret);
}

int gguf_kv_arr_next_str(const struct gguf_file *f, uint64_t i, uint64_t *pos,
			 struct gguf_str *ret)
{
	const struct gguf_kv *kv = &f->kvs[i];
	uint64_t off;

	if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
		return -EINVAL;
	off = *pos ? *pos : kv->val_off;
	if (off >= kv->val_end)
		return -ERANGE;
	*ret = str_at(f, off);
	*pos = off + 8 + ret->n;
	return 0;
}

int gguf_kv_arr_get_str(const struct gguf_file *f, uint64_t i, uint64_t j, struct gguf_str *ret)
{
	uint64_t pos = 0, k = 0;
	struct gguf_str s;
	int e;

	if (f->kvs[i].type == GGUF_TYPE_ARRAY && j >= f->kvs[i].n)
		return -ERANGE;
	if (f->kvs[i].skip) {
		k = j / GGUF_SKIP_EVERY * GGUF_SKIP_EVERY;
		pos = f->kvs[i].skip[j / GGUF_SKIP_EVERY];
	}
	for (; k <= j; k++) {
		e = gguf_kv_arr_next_str(f, i, &pos, &s);
		if (e < 0)
			return e;
	}
	*ret = s;
	return 0;
}
