/* test-gguf-roundtrip.c: random valid GGUF files written by our writer and
 * read back by our parser must agree on every key, type, value, shape and
 * offset; each file cut at every structural boundary must be rejected
 * cleanly; and parsing from a buffer that grows on -EAGAIN (as src/io
 * does) must give the same result as parsing it whole. */
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

#include "gguf/ggml-type.h"
#include "base/sbuf.h"
#include "gguf/gguf.h"

#define N_FILES 1000
#define MAX_KV 12
#define MAX_T 8
#define MAX_ARR 20

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static uint64_t rndn(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* What the test wrote, to compare against what the parser read. */
struct want_kv {
	char key[32];
	uint32_t type, arr_type;
	uint64_t n;
	uint64_t num[MAX_ARR];          /* raw little-endian bits of numbers */
	char str[MAX_ARR][40];          /* string values (no NULs, for strlen) */
};

struct want_t {
	char name[GGUF_MAX_NAME];
	uint32_t type, n_dims;
	int64_t ne[4];
};

struct want_file {
	uint32_t alignment;
	size_t n_kv, n_t;
	struct want_kv kv[MAX_KV + 1];
	struct want_t t[MAX_T];
};

static const uint32_t num_types[] = {
	GGUF_TYPE_UINT8, GGUF_TYPE_INT8, GGUF_TYPE_UINT16, GGUF_TYPE_INT16, GGUF_TYPE_UINT32,
	GGUF_TYPE_INT32, GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL, GGUF_TYPE_UINT64, GGUF_TYPE_INT64,
	GGUF_TYPE_FLOAT64,
};

static uint64_t rnd_num(uint32_t t)
{
	size_t sz = gguf_type_size(t);
	uint64_t v = rnd();

	if (t == GGUF_TYPE_BOOL)
		return v & 1;
	if (t == GGUF_TYPE_FLOAT32) {
		float f = (float)((double)(int64_t)v / 1e6);
		uint32_t b;

		memcpy(&b, &f, 4);
		return b;
	}
	if (t == GGUF_TYPE_FLOAT64) {
		double d = (double)(int64_t)v / 1e9;

		memcpy(&v, &d, 8);
		return v;
	}
	return sz == 8 ? v : v & ((1ull << (8 * sz)) - 1);
}

static void rnd_str(char *out, size_t max)
{
	size_t n = rndn(max);

	for (size_t i = 0; i < n; i++)
		out[i] = (char)(1 + rndn(255)); /* any byte but NUL */
	out[n] = '\0';
}

static void make_file(struct want_file *wf, struct gguf_writer *w)
{
	static const uint32_t aligns[] = { 1, 8, 16, 32, 64, 256, 4096 };
	int e;

	memset(wf, 0, sizeof(*wf));
	wf->alignment = GGUF_DEFAULT_ALIGNMENT;
	wf->n_kv = rndn(MAX_KV + 1);
	for (size_t i = 0; i < wf->n_kv; i++) {
		struct want_kv *kv = &wf->kv[i];

		snprintf(kv->key, sizeof(kv->key), "k%zu.r_%llu", i, (unsigned long long)rndn(1000));
		switch (rndn(3)) {
		case 0:
			kv->type = num_types[rndn(ARRAY_SIZE(num_types))];
			kv->n = 1;
			kv->num[0] = rnd_num(kv->type);
			e = gguf_writer_add_scalar(w, kv->key, kv->type, &kv->num[0]);
			break;
		case 1:
			kv->type = GGUF_TYPE_STRING;
			kv->n = 1;
			rnd_str(kv->str[0], sizeof(kv->str[0]));
			e = gguf_writer_add_str(w, kv->key, kv->str[0], strlen(kv->str[0]));
			break;
		default:
			kv->type = GGUF_TYPE_ARRAY;
			kv->n = rndn(MAX_ARR + 1);
			if (rndn(3) == 0) {
				const char *ptrs[MAX_ARR];

				kv->arr_type = GGUF_TYPE_STRING;
				for (uint64_t j = 0; j < kv->n; j++) {
					rnd_str(kv->str[j], sizeof(kv->str[j]));
					ptrs[j] = kv->str[j];
				}
				e = gguf_writer_add_arr_str(w, kv->key, ptrs, kv->n);
			} else {
				uint8_t data[MAX_ARR * 8];
				size_t sz;

				kv->arr_type = num_types[rndn(ARRAY_SIZE(num_types))];
				sz = gguf_type_size(kv->arr_type);
				for (uint64_t j = 0; j < kv->n; j++) {
					kv->num[j] = rnd_num(kv->arr_type);
					memcpy(data + j * sz, &kv->num[j], sz);
				}
				e = gguf_writer_add_arr(w, kv->key, kv->arr_type, data, kv->n);
			}
			break;
		}
		assert_int_equal(e, 0);
	}
	if (rndn(2)) {
		struct want_kv *kv = &wf->kv[wf->n_kv++];
		uint32_t a = aligns[rndn(ARRAY_SIZE(aligns))];

		snprintf(kv->key, sizeof(kv->key), "%s", GGUF_KEY_GENERAL_ALIGNMENT);
		kv->type = GGUF_TYPE_UINT32;
		kv->n = 1;
		kv->num[0] = a;
		wf->alignment = a;
		assert_int_equal(gguf_writer_add_scalar(w, kv->key, GGUF_TYPE_UINT32, &a), 0);
	}
	wf->n_t = rndn(MAX_T + 1);
	for (size_t i = 0; i < wf->n_t; i++) {
		struct want_t *t = &wf->t[i];
		const struct ggml_type_info *ti;

		do {
			t->type = (uint32_t)rndn(GGML_TYPE_ID_COUNT);
			ti = ggml_type_get(t->type);
		} while (ti->removed);
		snprintf(t->name, sizeof(t->name), "blk.%zu.w%llu", i, (unsigned long long)rndn(100));
		t->n_dims = (uint32_t)rndn(5);
		for (int k = 0; k < 4; k++)
			t->ne[k] = 1;
		for (uint32_t k = 0; k < t->n_dims; k++)
			t->ne[k] = (int64_t)rndn(4) + (rndn(16) == 0 ? 0 : 1);
		/* rows must hold whole blocks */
		if (t->n_dims > 0)
			t->ne[0] *= ti->blck_size;
		else if (ti->blck_size != 1)
			t->n_dims = 1, t->ne[0] = ti->blck_size;
		assert_int_equal(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne), 0);
	}
}

/* Serializes w: header, then zero-filled data up to the full size. */
static uint8_t *serialize(struct gguf_writer *w, size_t *ret_len, struct gguf_mark **marks,
			  size_t *n_marks)
{
	struct sbuf sb;
	uint64_t size = gguf_writer_file_size(w);
	uint8_t *buf;

	sbuf_init(&sb, 1u << 30);
	assert_int_equal(gguf_writer_header(w, &sb, marks, n_marks), 0);
	assert_true(sb.len <= size);
	buf = calloc(1, size ? size : 1);
	assert_non_null(buf);
	memcpy(buf, sb.buf, sb.len);
	sbuf_release(&sb);
	*ret_len = size;
	return buf;
}

static void check_equal(const struct want_file *wf, const struct gguf_file *f)
{
	assert_int_equal(f->n_kv, wf->n_kv);
	assert_int_equal(f->n_tensors, wf->n_t);
	assert_int_equal(f->alignment, wf->alignment);
	for (size_t i = 0; i < wf->n_kv; i++) {
		const struct want_kv *kv = &wf->kv[i];
		int64_t k = gguf_kv_find(f, kv->key);
		struct gguf_str s;

		assert_int_equal(k, (int64_t)i);
		s = gguf_kv_key(f, (uint64_t)k);
		assert_int_equal(s.n, strlen(kv->key));
		assert_memory_equal(s.p, kv->key, s.n);
		assert_int_equal(f->kvs[k].type, kv->type);
		if (kv->type == GGUF_TYPE_STRING) {
			assert_int_equal(gguf_kv_get_str(f, (uint64_t)k, &s), 0);
			assert_int_equal(s.n, strlen(kv->str[0]));
			assert_memory_equal(s.p, kv->str[0], s.n);
			continue;
		}
		if (kv->type != GGUF_TYPE_ARRAY) {
			size_t sz = gguf_type_size(kv->type);

			assert_int_equal(f->kvs[k].val_end - f->kvs[k].val_off, sz);
			assert_memory_equal(f->buf + f->kvs[k].val_off, &kv->num[0], sz);
			continue;
		}
		assert_int_equal(f->kvs[k].arr_type, kv->arr_type);
		assert_int_equal(f->kvs[k].n, kv->n);
		if (kv->arr_type == GGUF_TYPE_STRING) {
			uint64_t pos = 0;

			for (uint64_t j = 0; j < kv->n; j++) {
				assert_int_equal(gguf_kv_arr_next_str(f, (uint64_t)k, &pos, &s), 0);
				assert_int_equal(s.n, strlen(kv->str[j]));
				assert_memory_equal(s.p, kv->str[j], s.n);
			}
			assert_int_equal(gguf_kv_arr_next_str(f, (uint64_t)k, &pos, &s), -ERANGE);
			if (kv->n) {
				assert_int_equal(gguf_kv_arr_get_str(f, (uint64_t)k, kv->n - 1, &s), 0);
				assert_int_equal(s.n, strlen(kv->str[kv->n - 1]));
			}
		} else {
			size_t sz = gguf_type_size(kv->arr_type);

			for (uint64_t j = 0; j < kv->n; j++)
				assert_memory_equal(f->buf + f->kvs[k].val_off + j * sz, &kv->num[j], sz);
		}
	}
	for (size_t i = 0; i < wf->n_t; i++) {
		const struct want_t *t = &wf->t[i];
		const struct gguf_tensor *ft = &f->tensors[i];
		struct gguf_str s = gguf_tensor_name(f, i);
		uint64_t nbytes;

		assert_int_equal(gguf_tensor_find(f, t->name), (int64_t)i);
		assert_int_equal(s.n, strlen(t->name));
		assert_memory_equal(s.p, t->name, s.n);
		assert_int_equal(ft->type, t->type);
		assert_int_equal(ft->n_dims, t->n_dims);
		for (int k = 0; k < 4; k++)
			assert_int_equal(ft->ne[k], t->ne[k]);
		assert_int_equal(ggml_type_tensor_size(t->type, t->ne, 4, &nbytes), 0);
		assert_int_equal(ft->nbytes, nbytes);
		assert_int_equal(ft->offset % wf->alignment, 0);
		assert_int_equal(f->data_offset % wf->alignment, 0);
	}
}

/* Parses as src/io does: start small, grow on -EAGAIN. */
static int parse_growing(const uint8_t *buf, size_t len, struct gguf_file **ret, int *rounds,
			 struct diag *d)
{
	size_t have = len < 16 ? len : 16;
	uint64_t need = 0;
	int e;

	*rounds = 0;
	for (;;) {
		e = gguf_parse(buf, have, len, ret, &need, d);
		if (e != -EAGAIN)
			return e;
		assert_true(need > have);
		assert_true(need <= len);
		have = have * 2 > need ? have * 2 : need;
		if (have > len)
			have = len;
		(*rounds)++;
	}
}

static void test_roundtrip(void **state)
{
	(void)state;
	rng_state = 0x9e3779b97f4a7c15ull;
	size_t cuts = 0;

	for (int n = 0; n < N_FILES; n++) {
		struct want_file wf;
		struct gguf_writer *w = gguf_writer_new();
		struct gguf_file *f = NULL, *g = NULL;
		struct gguf_mark *marks = NULL;
		size_t len, n_marks = 0;
		uint64_t required;
		struct diag d;
		uint8_t *buf;
		int rounds;

		assert_non_null(w);
		make_file(&wf, w);
		buf = serialize(w, &len, &marks, &n_marks);
		diag_init(&d);
		assert_int_equal(gguf_parse(buf, len, len, &f, NULL, &d), 0);
		check_equal(&wf, f);
		assert_int_equal(f->data_offset + f->data_bytes, len);

		assert_int_equal(parse_growing(buf, len, &g, &rounds, &d), 0);
		check_equal(&wf, g);
		g = gguf_file_free(g);

		/* the file must hold the header and every tensor's bytes */
		required = f->header_bytes;
		for (uint64_t i = 0; i < f->n_tensors; i++) {
			uint64_t end = f->data_offset + f->tensors[i].offset + f->tensors[i].nbytes;

			if (end > required)
				required = end;
		}
		for (size_t m = 0; m < n_marks; m++) {
			uint64_t cut = marks[m].off;

			if (cut >= len)
				continue;
			diag_init(&d);
			g = NULL;
			int e = gguf_parse(buf, cut, cut, &g, NULL, &d);

			if (cut < required) {
				if (e == 0)
					fail_msg("file %d cut at %llu (%s %llu) was accepted", n,
						 (unsigned long long)cut, marks[m].what,
						 (unsigned long long)marks[m].index);
				assert_int_not_equal(e, -EAGAIN);
				assert_true(d.msg[0] != '\0');
				assert_true(d.offset <= cut);
				assert_null(g);
				cuts++;
			} else {
				assert_int_equal(e, 0);
				g = gguf_file_free(g);
			}
		}
		free(marks);
		free(buf);
		gguf_file_free(f);
		gguf_writer_free(w);
	}
	/* the sweep must have exercised real cuts */
	assert_true(cuts > N_FILES * 5);
}

/* Every prefix of one richer file, byte by byte, not only at boundaries. */
static void test_every_prefix(void **state)
{
	(void)state;
	rng_state = 12345;
	struct want_file wf;
	struct gguf_writer *w = gguf_writer_new();
	struct gguf_mark *marks;
	size_t len, n_marks;
	uint8_t *buf;

	do {
		gguf_writer_free(w);
		w = gguf_writer_new();
		make_file(&wf, w);
	} while (wf.n_kv < 6 || wf.n_t < 4);
	buf = serialize(w, &len, &marks, &n_marks);
	for (size_t cut = 0; cut < len; cut++) {
		struct gguf_file *f = NULL;
		struct diag d;
		int e;

		diag_init(&d);
		e = gguf_parse(buf, cut, cut, &f, NULL, &d);
		if (e == 0) {
			/* only cuts inside the padding after the last tensor
			 * (or after a header with no tensor bytes) are whole */
			for (uint64_t i = 0; i < f->n_tensors; i++)
				assert_true(f->data_offset + f->tensors[i].offset + f->tensors[i].nbytes <= cut);
			gguf_file_free(f);
		} else {
			assert_int_not_equal(e, -EAGAIN);
			assert_true(d.msg[0] != '\0');
		}
	}
	free(marks);
	free(buf);
	gguf_writer_free(w);
}

static void test_writer_refuses(void **state)
{
	(void)state;
	struct gguf_writer *w = gguf_writer_new();
	int64_t ne[2] = { 33, 1 };
	uint32_t v = 3, bad_align = 24;
	char longname[80];

	assert_int_equal(gguf_writer_add_scalar(w, "a.b", GGUF_TYPE_UINT32, &v), 0);
	assert_int_equal(gguf_writer_add_scalar(w, "a.b", GGUF_TYPE_UINT32, &v), -EINVAL);
	assert_int_equal(gguf_writer_add_scalar(w, "a.c", GGUF_TYPE_STRING, &v), -EINVAL);
	assert_int_equal(gguf_writer_add_scalar(w, GGUF_KEY_GENERAL_ALIGNMENT, GGUF_TYPE_UINT32,
						&bad_align), -EINVAL);
	/* Q4_0 rows hold whole 32-element blocks */
	assert_int_equal(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q4_0, 2, ne), -EDOM);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ne[0] = 32;
	assert_int_equal(gguf_writer_add_tensor(w, longname, GGML_TYPE_Q4_0, 2, ne), -EINVAL);
	assert_int_equal(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q4_0, 2, ne), 0);
	assert_int_equal(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q4_0, 2, ne), -EINVAL);
	assert_int_equal(gguf_writer_add_tensor(w, "u", 4 /* removed */, 2, ne), -EINVAL);
	gguf_writer_free(w);
}

/* The skip index and the list of long strings against a plain walk. */
static void check_string_index(const struct gguf_file *f, uint64_t k, const char *const *want)
{
	const struct gguf_kv *kv = &f->kvs[k];
	uint64_t pos = 0, nl = 0;
	struct gguf_str s;

	if (!f->has_longs) {
		assert_null(kv->longs);
		assert_int_equal(kv->n_long, 0);
	}

	assert_int_equal(kv->skip != NULL, kv->n > GGUF_SKIP_EVERY);
	for (uint64_t j = 0; j < kv->n; j++) {
		uint64_t at = pos ? pos : kv->val_off;

		assert_int_equal(gguf_kv_arr_next_str(f, k, &pos, &s), 0);
		assert_int_equal(s.n, strlen(want[j]));
		assert_memory_equal(s.p, want[j], s.n);
		if (kv->skip && j % GGUF_SKIP_EVERY == 0)
			assert_int_equal(kv->skip[j / GGUF_SKIP_EVERY], at);
		if (s.n > GGUF_SHORT_STR && f->has_longs) {
			assert_true(nl < kv->n_long);
			assert_int_equal(kv->longs[nl].j, j);
			assert_int_equal(kv->longs[nl].off, at);
			nl++;
		}
	}
	assert_int_equal(nl, kv->n_long);
	for (uint64_t j = 0; j < kv->n; j += 1 + rndn(3000)) {
		assert_int_equal(gguf_kv_arr_get_str(f, k, j, &s), 0);
		assert_int_equal(s.n, strlen(want[j]));
		assert_memory_equal(s.p, want[j], s.n);
	}
}

/* A vocabulary-sized string array (and a small one): read whole, and fed
 * in pieces to one parser (the resumed walk keeps what it listed). */
static void test_string_index(void **state)
{
	enum { N_BIG = 3 * GGUF_SKIP_EVERY + 123, N_SMALL = 300 };
	static char pool[N_BIG + N_SMALL][48];
	const char *big[N_BIG], *small[N_SMALL];
	struct gguf_writer *w = gguf_writer_new();
	struct sbuf out;
	uint64_t fsz;

	(void)state;
	rng_state = 0x5eed1e55;
	for (size_t i = 0; i < N_BIG + N_SMALL; i++) {
		size_t n = rndn(4) ? rndn(16) : 16 + rndn(30); /* about a quarter long */

		for (size_t c = 0; c < n; c++)
			pool[i][c] = (char)('a' + rndn(26));
		pool[i][n] = '\0';
	}
	for (size_t i = 0; i < N_BIG; i++)
		big[i] = pool[i];
	for (size_t i = 0; i < N_SMALL; i++)
		small[i] = pool[N_BIG + i];
	assert_non_null(w);
	assert_int_equal(gguf_writer_add_str(w, "general.architecture", "llama", 5), 0);
	assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", big, N_BIG), 0);
	assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", small, N_SMALL), 0);
	sbuf_init(&out, (size_t)64 << 20);
	assert_int_equal(gguf_writer_header(w, &out, NULL, NULL), 0);
	fsz = gguf_writer_file_size(w);
	for (int mode = 0; mode < 3; mode++) {
		struct gguf_file *f = NULL;
		struct diag d;

		diag_init(&d);
		if (mode == 0) {
			/* no list of long strings asked for */
			assert_int_equal(gguf_parse((const uint8_t *)out.buf, out.len, fsz, &f, NULL, &d), 0);
			assert_false(f->has_longs);
		} else {
			struct gguf_parser *p = gguf_parser_new(fsz);
			size_t have = mode == 1 ? out.len : 100;
			int e;

			assert_non_null(p);
			gguf_parser_set_flags(p, GGUF_PARSE_LONG_STRINGS);
			while ((e = gguf_parser_feed(p, (const uint8_t *)out.buf, have, &f, NULL, &d)) == -EAGAIN)
				have = have + 997 < out.len ? have + 997 : out.len;
			assert_int_equal(e, 0);
			gguf_parser_free(p);
		}
		check_string_index(f, (uint64_t)gguf_kv_find(f, "tokenizer.ggml.tokens"), big);
		check_string_index(f, (uint64_t)gguf_kv_find(f, "tokenizer.ggml.merges"), small);
		gguf_file_free(f);
	}
	sbuf_release(&out);
	gguf_writer_free(w);
}


/* ---- the two-chain walk of string arrays against one chain ---- */

static void put_u64(uint8_t *b, size_t *o, uint64_t v)
{
	memcpy(b + *o, &v, 8);
	*o += 8;
}

static void put_u32(uint8_t *b, size_t *o, uint32_t v)
{
	memcpy(b + *o, &v, 4);
	*o += 4;
}

static void put_str(uint8_t *b, size_t *o, const void *s, size_t n)
{
	put_u64(b, o, n);
	memcpy(b + *o, s, n);
	*o += n;
}

/* A header of one string array of n elements and a uint32 after it, its
 * elements drawn to mislead a second chain: empty ones, long ones, ones
 * whose bytes hold what looks like further elements (a length and text:
 * a chain that starts inside them walks on for a while), runs of
 * zeros. Returns its size. */
static size_t spec_header(uint8_t *b, uint64_t n)
{
	size_t o = 0;
	uint32_t one = 7;

	memcpy(b, "GGUF", 4);
	o = 4;
	put_u32(b, &o, 3);
	put_u64(b, &o, 0);
	put_u64(b, &o, 2);
	put_str(b, &o, "tokenizer.ggml.tokens", 21);
	put_u32(b, &o, GGUF_TYPE_ARRAY);
	put_u32(b, &o, GGUF_TYPE_STRING);
	put_u64(b, &o, n);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t e[2100];
		size_t len = 0;

		switch (rndn(8)) {
		case 0:
			len = 0;
			break;
		case 1:
			len = 16 + rndn(rndn(8) ? 40 : 2000);
			for (size_t c = 0; c < len; c++)
				e[c] = (uint8_t)('a' + rndn(26));
			break;
		case 2: case 3: {
			/* fake elements inside: "len text" pieces */
			size_t fo = 0, pieces = 1 + rndn(12);

			for (size_t pc = 0; pc < pieces && fo + 40 < sizeof(e); pc++) {
				uint64_t fl = 1 + rndn(20);

				memcpy(e + fo, &fl, 8);
				fo += 8;
				for (uint64_t c = 0; c < fl; c++)
					e[fo++] = (uint8_t)('A' + rndn(26));
			}
			len = fo;
			break;
		}
		case 4:
			len = rndn(24);
			memset(e, 0, len);
			break;
		default:
			len = rndn(16);
			for (size_t c = 0; c < len; c++)
				e[c] = (uint8_t)(1 + rndn(255));
			break;
		}
		put_str(b, &o, e, len);
	}
	put_str(b, &o, "x.after", 7);
	put_u32(b, &o, GGUF_TYPE_UINT32);
	put_u32(b, &o, one);
	return o;
}

/* Parses b[0..len) of a file of fsz bytes with flags, fed in pieces of
 * step bytes (0: whole). */
static int spec_parse(const uint8_t *b, size_t len, uint64_t fsz, unsigned flags, size_t step,
		      struct gguf_file **f, struct diag *d)
{
	struct gguf_parser *p = gguf_parser_new(fsz);
	size_t have = step ? (step < len ? step : len) : len;
	int e;

	assert_non_null(p);
	gguf_parser_set_flags(p, flags);
	*f = NULL;
	diag_init(d);
	while ((e = gguf_parser_feed(p, b, have, f, NULL, d)) == -EAGAIN && have < len)
		have = have + step < len ? have + step : len;
	gguf_parser_free(p);
	return e;
}

static void spec_same(const struct gguf_file *a, const struct gguf_file *b)
{
	assert_int_equal(a->n_kv, b->n_kv);
	for (uint64_t i = 0; i < a->n_kv; i++) {
		const struct gguf_kv *x = &a->kvs[i], *y = &b->kvs[i];

		assert_int_equal(x->val_off, y->val_off);
		assert_int_equal(x->val_end, y->val_end);
		assert_int_equal(x->n_long, y->n_long);
		if (x->n_long)
			assert_memory_equal(x->longs, y->longs, x->n_long * sizeof(*x->longs));
		assert_int_equal(x->skip != NULL, y->skip != NULL);
		if (x->skip)
			assert_memory_equal(x->skip, y->skip,
					    ((x->n - 1) / GGUF_SKIP_EVERY + 1) * sizeof(*x->skip));
	}
}

/* Random arrays, whole, cut short, fed in pieces and with one length
 * made impossible: the two-chain walk (with the thresholds lowered, and
 * at the real ones for the large arrays) gives what one chain gives, to
 * the byte and to the error. */
static void test_string_spec(void **state)
{
	size_t cap = 48u << 20;
	uint8_t *b = malloc(cap);

	(void)state;
	assert_non_null(b);
	rng_state = 0x2c4a1b;
	for (int t = 0; t < 400; t++) {
		uint64_t n = t < 8 ? 5000 + rndn(60000) : 1 + rndn(t % 4 ? 300 : 3000);
		size_t len = spec_header(b, n), cut = len;
		struct gguf_file *f1, *f2;
		struct diag d1, d2;
		int e1, e2;

		if (t % 5 == 1)
			cut = 40 + rndn(len - 40); /* a prefix of a larger file */
		if (t % 5 == 2) {
			/* one element's length made impossible, somewhere
			 * after the start */
			size_t at = 49 + 8 + 21 + 16 + rndn(len / 2), o = 49 + 8 + 21 + 16 - 8;
			uint64_t sl, bad = (uint64_t)1 << (20 + rndn(40));

			o = 4 + 4 + 8 + 8 + 8 + 21 + 4 + 4 + 8;
			while (o < at && o + 8 <= len) {
				memcpy(&sl, b + o, 8);
				if (o + 8 + sl > at)
					break;
				o += 8 + sl;
			}
			if (o + 8 <= len)
				memcpy(b + o, &bad, 8);
		}
		e1 = spec_parse(b, cut, len, GGUF_PARSE_LONG_STRINGS | GGUF_PARSE_ONE_CHAIN, 0, &f1, &d1);
		for (int mode = 0; mode < 3; mode++) {
			unsigned fl = GGUF_PARSE_LONG_STRINGS | (mode < 2 ? GGUF_PARSE_SPEC_SMALL : 0);
			size_t step = mode == 1 ? 1 + rndn(cut / 3 + 1) : 0;

			e2 = spec_parse(b, cut, len, fl, step, &f2, &d2);
			if (step && e1 == -EAGAIN)
				continue; /* fed to the end: the same -EAGAIN */
			assert_int_equal(e1, e2);
			if (e1 == 0)
				spec_same(f1, f2);
			else if (e1 != -EAGAIN) {
				assert_int_equal(d1.offset, d2.offset);
				assert_string_equal(d1.msg, d2.msg);
			}
			gguf_file_free(f2);
		}
		gguf_file_free(f1);
	}
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_writer_refuses),
		cmocka_unit_test(test_string_index),
		cmocka_unit_test(test_string_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
