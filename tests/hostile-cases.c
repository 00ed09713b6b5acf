/* hostile-cases.c: builds the hostile GGUF files of reliability.md
 * section (a) in memory (see hostile-cases.h). #included by
 * tests/unit/test-hostile.c and tests/tools/gguf-hostile.c.
 *
 * Most files start as one small valid model made by the writer and get
 * one defect patched in at an offset from the writer's gguf_mark list;
 * the tables patch_cases[] and shape_cases[] list those. Cases 26-28 and
 * 30 change keys of a complete small model (micro_cases[]). The rest
 * have a builder function each (named_cases[]). A file name starts with its case
 * number: "14-strlen-2^63.gguf" is case 14. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/ggml-type.h"
#include "gguf/gguf.h"
#include "hostile-cases.h"

/* No file here is larger than this in memory. */
#define HOSTILE_SBUF_CAP (1ull << 30)

#define M4(a, b, c, d) \
	((uint64_t)(uint8_t)(a) | (uint64_t)(uint8_t)(b) << 8 | \
	 (uint64_t)(uint8_t)(c) << 16 | (uint64_t)(uint8_t)(d) << 24)

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* n bytes of a fixed pseudo-random pattern (xorshift from seed). */
static int add_noise(struct sbuf *s, uint64_t n, uint64_t seed)
{
	uint8_t chunk[4096];
	uint64_t x = seed | 1;

	while (n) {
		size_t k = n < sizeof(chunk) ? (size_t)n : sizeof(chunk);
		int e;

		for (size_t i = 0; i < k; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			chunk[i] = (uint8_t)x;
		}
		e = sbuf_add(s, chunk, k);
		if (e < 0)
			return e;
		n -= k;
	}
	return 0;
}

/* Inserts n bytes at off, moving the rest up. */
static int splice_in(struct sbuf *s, size_t off, const void *p, size_t n)
{
	size_t old = s->len;
	int e;

	if (off > old)
		return -EINVAL;
	e = sbuf_add_zeros(s, n);
	if (e < 0)
		return e;
	memmove(s->buf + off + n, s->buf + off, old - off);
	memcpy(s->buf + off, p, n);
	return 0;
}

/* Cuts s to n bytes. */
static void cut_to(struct sbuf *s, size_t n)
{
	if (n < s->len) {
		s->len = n;
		s->buf[n] = '\0';
	}
}

/* ---- the raw byte builder ---- */

struct rb {
	struct sbuf *s;
	int err; /* the first failure */
};

static void rb_bytes(struct rb *r, const void *p, size_t n)
{
	if (!r->err)
		r->err = sbuf_add(r->s, p, n);
}

static void rb_u32(struct rb *r, uint32_t v)
{
	if (!r->err)
		r->err = sbuf_add_u32le(r->s, v);
}

static void rb_u64(struct rb *r, uint64_t v)
{
	if (!r->err)
		r->err = sbuf_add_u64le(r->s, v);
}

static void rb_str(struct rb *r, const char *s)
{
	rb_u64(r, strlen(s));
	rb_bytes(r, s, strlen(s));
}

static void rb_header(struct rb *r, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	rb_bytes(r, GGUF_MAGIC, 4);
	rb_u32(r, version);
	rb_u64(r, n_tensors);
	rb_u64(r, n_kv);
}

/* ---- building with the writer ---- */

struct hb {
	struct hostile_file *f;
	struct gguf_writer *w;
	struct gguf_mark *marks;
	size_t n_marks;
	uint64_t n_kv;
	uint64_t data_off; /* the data section's start, after hb_write() */
	int err;           /* the first failure */
};

static void hb_fail(struct hb *b, int e)
{
	if (!b->err && e)
		b->err = e;
}

static void hb_init(struct hb *b, struct hostile_file *f)
{
	memset(b, 0, sizeof(*b));
	b->f = f;
	b->w = gguf_writer_new();
	if (!b->w)
		b->err = -ENOMEM;
}

static int hb_end(struct hb *b)
{
	gguf_writer_free(b->w);
	free(b->marks);
	return b->err;
}

static void hb_scalar(struct hb *b, const char *key, uint32_t type, const void *val)
{
	if (b->err)
		return;
	hb_fail(b, gguf_writer_add_scalar(b->w, key, type, val));
	b->n_kv++;
}

static void hb_u16(struct hb *b, const char *key, uint16_t v)
{
	hb_scalar(b, key, GGUF_TYPE_UINT16, &v);
}

static void hb_u32(struct hb *b, const char *key, uint32_t v)
{
	hb_scalar(b, key, GGUF_TYPE_UINT32, &v);
}

static void hb_i32(struct hb *b, const char *key, int32_t v)
{
	hb_scalar(b, key, GGUF_TYPE_INT32, &v);
}

static void hb_u64(struct hb *b, const char *key, uint64_t v)
{
	hb_scalar(b, key, GGUF_TYPE_UINT64, &v);
}

static void hb_i64(struct hb *b, const char *key, int64_t v)
{
	hb_scalar(b, key, GGUF_TYPE_INT64, &v);
}

static void hb_f32(struct hb *b, const char *key, float v)
{
	hb_scalar(b, key, GGUF_TYPE_FLOAT32, &v);
}

static void hb_bool(struct hb *b, const char *key, bool v)
{
	uint8_t u = v;

	hb_scalar(b, key, GGUF_TYPE_BOOL, &u);
}

static void hb_strn(struct hb *b, const char *key, const char *s, size_t n)
{
	if (b->err)
		return;
	hb_fail(b, gguf_writer_add_str(b->w, key, s, n));
	b->n_kv++;
}

static void hb_str(struct hb *b, const char *key, const char *s)
{
	hb_strn(b, key, s, strlen(s));
}

static void hb_arr(struct hb *b, const char *key, uint32_t type, const void *data, uint64_t n)
{
	if (b->err)
		return;
	hb_fail(b, gguf_writer_add_arr(b->w, key, type, data, n));
	b->n_kv++;
}

static void hb_arr_str(struct hb *b, const char *key, const char *const *strs, uint64_t n)
{
	if (b->err)
		return;
	hb_fail(b, gguf_writer_add_arr_str(b->w, key, strs, n));
	b->n_kv++;
}

static void hb_tensor(struct hb *b, const char *name, uint32_t type, uint32_t n_dims,
		      int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)
{
	int64_t ne[GGUF_MAX_DIMS] = { ne0, ne1, ne2, ne3 };

	if (!b->err)
		hb_fail(b, gguf_writer_add_tensor(b->w, name, type, n_dims, ne));
}

/* Serializes the header into f->data (which must be empty) and at most
 * data_limit bytes of the data section: a pattern in the tensors, zeros
 * in their padding. The file is valid until patched. */
static void hb_write(struct hb *b, uint64_t data_limit)
{
	struct hostile_file *f = b->f;
	uint64_t full, n, i_end = 0;

	if (b->err)
		return;
	hb_fail(b, gguf_writer_header(b->w, &f->data, &b->marks, &b->n_marks));
	if (b->err)
		return;
	b->data_off = f->data.len;
	full = gguf_writer_file_size(b->w) - b->data_off;
	n = full < data_limit ? full : data_limit;
	for (uint64_t i = 0; i < gguf_writer_n_tensors(b->w) && !b->err; i++) {
		uint64_t off, nb, want;

		gguf_writer_tensor_extent(b->w, i, &off, &nb);
		if (off >= n)
			break;
		if (off > i_end)
			hb_fail(b, sbuf_add_zeros(&f->data, (size_t)(off - i_end)));
		want = nb < n - off ? nb : n - off;
		hb_fail(b, add_noise(&f->data, want, 0x9e3779b97f4a7c15ull + i));
		i_end = off + want;
	}
	if (!b->err && n > i_end)
		hb_fail(b, sbuf_add_zeros(&f->data, (size_t)(n - i_end)));
	f->size = f->data.len;
	f->ok = true;
	f->n_kv = b->n_kv;
	f->n_tensors = gguf_writer_n_tensors(b->w);
}

/* The offset of the mark (what, index). */
static uint64_t hb_at(struct hb *b, const char *what, uint64_t index)
{
	for (size_t i = 0; i < b->n_marks; i++)
		if (b->marks[i].index == index && strcmp(b->marks[i].what, what) == 0)
			return b->marks[i].off;
	hb_fail(b, -EINVAL);
	return 0;
}

/* Overwrites width bytes at off with v, little-endian. */
static void hb_put(struct hb *b, uint64_t off, uint64_t v, unsigned width)
{
	if (b->err)
		return;
	if (off + width > b->f->data.len) {
		hb_fail(b, -EINVAL);
		return;
	}
	put_le((uint8_t *)b->f->data.buf + off, v, width);
}

/* The file must be refused with err, reported at off. */
static void hb_bad(struct hb *b, int err, uint64_t off)
{
	b->f->ok = false;
	b->f->err = err;
	b->f->err_off = off;
}

/* ---- the small valid model most cases patch ---- */

enum {
	KV_ARCH, KV_NAME, KV_BLOCKS, KV_FLAG, KV_TOKENS, KV_SCORES, KV_ALIGN, KV_U64S,
};

static void base_kvs(struct hb *b)
{
	static const char *const toks[] = { "a", "bc", "def" };
	static const float scores[] = { 0.5f, 1.0f, 2.0f };
	static const uint64_t u64s[] = { 1, 2 };

	hb_str(b, "general.architecture", "llama");
	hb_str(b, "general.name", "hostile");
	hb_u32(b, "llama.block_count", 2);
	hb_bool(b, "general.flag", true);
	hb_arr_str(b, "tokenizer.ggml.tokens", toks, 3);
	hb_arr(b, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 3);
	hb_u32(b, GGUF_KEY_GENERAL_ALIGNMENT, 32);
	hb_arr(b, "general.u64s", GGUF_TYPE_UINT64, u64s, 2);
}

/* Eight keys and three tensors: 64 bytes at 0, 32 at 64, and a Q4_0 one
 * of 36 bytes at 96 (padded to 64). */
static void base_model(struct hb *b)
{
	base_kvs(b);
	hb_tensor(b, "token_embd.weight", GGML_TYPE_F32, 2, 8, 2, 1, 1);
	hb_tensor(b, "output.weight", GGML_TYPE_F32, 1, 8, 1, 1, 1);
	hb_tensor(b, "blk.0.attn_q.weight", GGML_TYPE_Q4_0, 2, 32, 2, 1, 1);
}

/* The same keys with tensors whose sizes are multiples of 32, so the file
 * ends with the last tensor's last byte. */
static void sweep_model(struct hb *b)
{
	base_kvs(b);
	hb_tensor(b, "token_embd.weight", GGML_TYPE_F32, 2, 8, 2, 1, 1);
	hb_tensor(b, "output.weight", GGML_TYPE_F32, 1, 8, 1, 1, 1);
	hb_tensor(b, "output_norm.weight", GGML_TYPE_F16, 1, 16, 1, 1, 1);
}

int hostile_sweep_source(struct sbuf *out, uint64_t *ret_n_kv, uint64_t *ret_n_tensors)
{
	struct hostile_file f;
	struct hb b;
	int e;

	memset(&f, 0, sizeof(f));
	sbuf_init(&f.data, HOSTILE_SBUF_CAP);
	hb_init(&b, &f);
	sweep_model(&b);
	hb_write(&b, UINT64_MAX);
	e = hb_end(&b);
	if (!e)
		e = sbuf_add(out, f.data.buf, f.data.len);
	if (!e) {
		*ret_n_kv = f.n_kv;
		*ret_n_tensors = f.n_tensors;
	}
	sbuf_release(&f.data);
	return e;
}

/* ---- one patch to the base model ---- */

struct patch {
	const char *what; /* the mark */
	uint8_t index;    /* of which kv or tensor */
	uint8_t delta;    /* bytes past the mark */
	uint8_t width;    /* bytes written */
	uint64_t value;
};

enum { AT_ANY, AT_PATCH, AT_KV, AT_TENSOR_OFFSET };

struct patch_case {
	int number;
	const char *name;
	int err;       /* 0: the file stays valid */
	int at;        /* where the error is reported: AT_PATCH the first
	                * patch; AT_KV the start of the first patch's kv;
	                * AT_TENSOR_OFFSET the offset field of tensor
	                * at_index */
	uint8_t at_index;
	struct patch p[2];
};

#define P1(num, name, err, at, what, idx, delta, width, val) \
	{ num, name, err, at, 0, { { what, idx, delta, width, val }, { NULL, 0, 0, 0, 0 } } }
#define P2(num, name, err, at, at_index, w1, i1, d1, n1, v1, w2, i2, d2, n2, v2) \
	{ num, name, err, at, at_index, { { w1, i1, d1, n1, v1 }, { w2, i2, d2, n2, v2 } } }

#define EB (-EBADMSG)
#define EP (-EPROTONOSUPPORT)
#define E2 (-E2BIG)

static const struct patch_case patch_cases[] = {
	/* 2: magic */
	P1(2, "02-magic-FUGG", EB, AT_PATCH, "magic", 0, 0, 4, M4('F', 'U', 'G', 'G')),
	P1(2, "02-magic-GGML", EB, AT_PATCH, "magic", 0, 0, 4, M4('G', 'G', 'M', 'L')),
	P1(2, "02-magic-GGJT", EB, AT_PATCH, "magic", 0, 0, 4, M4('G', 'G', 'J', 'T')),
	P1(2, "02-magic-ggml", EB, AT_PATCH, "magic", 0, 0, 4, M4('g', 'g', 'm', 'l')),
	P1(2, "02-magic-escape", EB, AT_PATCH, "magic", 0, 0, 4, M4(0x1b, '[', '2', 'J')),
	P1(2, "02-magic-nul", EB, AT_PATCH, "magic", 0, 0, 4, 0),
	/* 3: version */
	P1(3, "03-version-0", EP, AT_PATCH, "version", 0, 0, 4, 0),
	P1(3, "03-version-1", EP, AT_PATCH, "version", 0, 0, 4, 1),
	P1(3, "03-version-4", EP, AT_PATCH, "version", 0, 0, 4, 4),
	P1(3, "03-version-0x03000000", EP, AT_PATCH, "version", 0, 0, 4, 0x03000000),
	P1(3, "03-version-0x02000000", EP, AT_PATCH, "version", 0, 0, 4, 0x02000000),
	P1(3, "03-version-0xffffffff", EP, AT_PATCH, "version", 0, 0, 4, 0xffffffff),
	P1(3, "03-version-2", 0, AT_ANY, "version", 0, 0, 4, 2),
	/* 4: n_tensors */
	P1(4, "04-ntensors-neg1", EB, AT_PATCH, "tensor count", 0, 0, 8, UINT64_MAX),
	P1(4, "04-ntensors-0x1d1d", E2, AT_PATCH, "tensor count", 0, 0, 8, 0x1D1D1D1D1D1D1D1Dull),
	P1(4, "04-ntensors-2^20+1", E2, AT_PATCH, "tensor count", 0, 0, 8, (1ull << 20) + 1),
	P1(4, "04-ntensors-plus1", E2, AT_ANY, "tensor count", 0, 0, 8, 4),
	/* 5: n_kv */
	P1(5, "05-nkv-neg1", EB, AT_PATCH, "kv count", 0, 0, 8, UINT64_MAX),
	P1(5, "05-nkv-0xffffffff", E2, AT_PATCH, "kv count", 0, 0, 8, 0xffffffffull),
	P1(5, "05-nkv-2^20+1", E2, AT_PATCH, "kv count", 0, 0, 8, (1ull << 20) + 1),
	/* 8, 9, 10: key length */
	P1(8, "08-keylen-2^64-1", E2, AT_PATCH, "kv key length", 0, 0, 8, UINT64_MAX),
	P1(8, "08-keylen-2^63", E2, AT_PATCH, "kv key length", 3, 0, 8, 1ull << 63),
	P1(9, "09-keylen-10^12", E2, AT_PATCH, "kv key length", 1, 0, 8, 1000000000000ull),
	P1(9, "09-keylen-over-remaining", EB, AT_PATCH, "kv key length", 7, 0, 8, 60000),
	P1(10, "10-keylen-0", EB, AT_PATCH, "kv key length", 1, 0, 8, 0),
	/* 11: key bytes ("llama.block_count") */
	P1(11, "11-key-nul-first", EB, AT_PATCH, "kv key", KV_BLOCKS, 0, 1, 0),
	P1(11, "11-key-nul", EB, AT_PATCH, "kv key", KV_BLOCKS, 3, 1, 0),
	P1(11, "11-key-escape", EB, AT_PATCH, "kv key", KV_BLOCKS, 5, 1, 0x1b),
	P1(11, "11-key-newline", EB, AT_PATCH, "kv key", KV_BLOCKS, 5, 1, '\n'),
	P1(11, "11-key-non-ascii", EB, AT_PATCH, "kv key", KV_BLOCKS, 5, 2, 0xa9c3),
	P1(11, "11-key-0xff", EB, AT_PATCH, "kv key", KV_BLOCKS, 16, 1, 0xff),
	P1(11, "11-key-dotdot-slash", EB, AT_ANY, "kv key", KV_BLOCKS, 0, 3, M4('.', '.', '/', 0)),
	P1(11, "11-key-space", EB, AT_PATCH, "kv key", KV_BLOCKS, 5, 1, ' '),
	P1(11, "11-key-percent", EB, AT_PATCH, "kv key", KV_BLOCKS, 5, 2, M4('%', 'n', 0, 0)),
	/* 13: value type */
	P1(13, "13-valtype-13", EB, AT_PATCH, "kv type", KV_BLOCKS, 0, 4, 13),
	P1(13, "13-valtype-0x7fffffff", EB, AT_PATCH, "kv type", KV_BLOCKS, 0, 4, 0x7fffffff),
	P1(13, "13-valtype-0xffffffff", EB, AT_PATCH, "kv type", KV_BLOCKS, 0, 4, 0xffffffff),
	P1(13, "13-valtype-0x80000000", EB, AT_PATCH, "kv type", KV_BLOCKS, 0, 4, 0x80000000),
	/* 14: string value length ("general.name") */
	P1(14, "14-strlen-2^64-1", E2, AT_PATCH, "kv value", KV_NAME, 0, 8, UINT64_MAX),
	P1(14, "14-strlen-2^63", E2, AT_PATCH, "kv value", KV_NAME, 0, 8, 1ull << 63),
	P1(14, "14-strlen-0x80000000", E2, AT_PATCH, "kv value", KV_NAME, 0, 8, 0x80000000ull),
	P1(14, "14-strlen-cap+1", E2, AT_PATCH, "kv value", KV_NAME, 0, 8, (16ull << 20) + 1),
	P1(14, "14-strlen-cap", EB, AT_PATCH, "kv value", KV_NAME, 0, 8, 16ull << 20),
	P1(14, "14-strlen-over-remaining", EB, AT_PATCH, "kv value", KV_NAME, 0, 8, 1000000),
	/* 16: bool value */
	P1(16, "16-bool-2", EB, AT_PATCH, "kv value", KV_FLAG, 0, 1, 2),
	P1(16, "16-bool-255", EB, AT_PATCH, "kv value", KV_FLAG, 0, 1, 255),
	/* 17, 18: array element type ("tokenizer.ggml.scores") */
	P1(17, "17-nested-array", EB, AT_PATCH, "kv value", KV_SCORES, 0, 4, GGUF_TYPE_ARRAY),
	P1(18, "18-elemtype-13", EB, AT_PATCH, "kv value", KV_SCORES, 0, 4, 13),
	P1(18, "18-elemtype-0xffffffff", EB, AT_PATCH, "kv value", KV_SCORES, 0, 4, 0xffffffff),
	P1(18, "18-elemtype-0x80000000", EB, AT_PATCH, "kv value", KV_SCORES, 0, 4, 0x80000000),
	/* 19, 20: array count */
	P1(19, "19-arrcount-2^64-1", E2, AT_PATCH, "kv array length", KV_SCORES, 0, 8, UINT64_MAX),
	P1(19, "19-arrcount-2^63", E2, AT_PATCH, "kv array length", KV_SCORES, 0, 8, 1ull << 63),
	P1(19, "19-arrcount-2^62", E2, AT_PATCH, "kv array length", KV_SCORES, 0, 8, 1ull << 62),
	P1(20, "20-arrcount-2^61-u64", E2, AT_PATCH, "kv array length", KV_U64S, 0, 8, 1ull << 61),
	P1(20, "20-arrcount-2^26+1-u64", E2, AT_PATCH, "kv array length", KV_U64S, 0, 8, (1ull << 26) + 1),
	P1(20, "20-arrcount-2^26-u64", EB, AT_PATCH, "kv array length", KV_U64S, 0, 8, 1ull << 26),
	P1(20, "20-arrcount-2^26-f32", EB, AT_PATCH, "kv array length", KV_SCORES, 0, 8, 1ull << 26),
	/* 22: arrays of strings ("tokenizer.ggml.tokens") */
	P1(22, "22-strarr-count-over-remaining", EB, AT_PATCH, "kv array length", KV_TOKENS, 0, 8, 1000000),
	P1(22, "22-strarr-count-plus1", E2, AT_ANY, "kv array length", KV_TOKENS, 0, 8, 4),
	P1(22, "22-strarr-elemlen-over-remaining", EB, AT_PATCH, "kv array data", KV_TOKENS, 0, 8, 1000000),
	P1(22, "22-strarr-elemlen-2^64-1", E2, AT_PATCH, "kv array data", KV_TOKENS, 0, 8, UINT64_MAX),
	P1(22, "22-strarr-elemlen-2^63", E2, AT_PATCH, "kv array data", KV_TOKENS, 9, 8, 1ull << 63),
	/* 24: general.alignment of another 4-byte type */
	P1(24, "24-align-int32", EB, AT_KV, "kv type", KV_ALIGN, 0, 4, GGUF_TYPE_INT32),
	P1(24, "24-align-float32", EB, AT_KV, "kv type", KV_ALIGN, 0, 4, GGUF_TYPE_FLOAT32),
	/* 25: general.alignment values */
	P1(25, "25-align-0", EB, AT_PATCH, "kv value", KV_ALIGN, 0, 4, 0),
	P1(25, "25-align-13", EB, AT_PATCH, "kv value", KV_ALIGN, 0, 4, 13),
	P1(25, "25-align-3", EB, AT_PATCH, "kv value", KV_ALIGN, 0, 4, 3),
	P1(25, "25-align-2^31", EB, AT_PATCH, "kv value", KV_ALIGN, 0, 4, 1ull << 31),
	P1(25, "25-align-2^30", EB, AT_PATCH, "kv value", KV_ALIGN, 0, 4, 1ull << 30),
	P1(25, "25-align-2^21", EB, AT_PATCH, "kv value", KV_ALIGN, 0, 4, 1ull << 21),
	P1(25, "25-align-0xffffffff", EB, AT_PATCH, "kv value", KV_ALIGN, 0, 4, 0xffffffff),
	/* 33: tensor name length */
	P1(33, "33-namelen-2^64-1", E2, AT_PATCH, "tensor name length", 0, 0, 8, UINT64_MAX),
	P1(33, "33-namelen-cap+1", E2, AT_PATCH, "tensor name length", 1, 0, 8, (16ull << 20) + 1),
	P1(33, "33-namelen-over-remaining", EB, AT_PATCH, "tensor name length", 2, 0, 8, 100000),
	P1(33, "33-namelen-0", EB, AT_PATCH, "tensor name length", 1, 0, 8, 0),
	/* 34: a name of 64 bytes or more (here its bytes are those after it) */
	P1(34, "34-namelen-64-overlapping", EB, AT_PATCH, "tensor name length", 2, 0, 8, 64),
	/* 36: n_dims */
	P1(36, "36-ndims-5", EB, AT_PATCH, "tensor n_dims", 1, 0, 4, 5),
	P1(36, "36-ndims-9", EB, AT_PATCH, "tensor n_dims", 1, 0, 4, 9),
	P1(36, "36-ndims-0xffffffff", EB, AT_PATCH, "tensor n_dims", 1, 0, 4, 0xffffffff),
	P1(36, "36-ndims-0x80000000", EB, AT_PATCH, "tensor n_dims", 0, 0, 4, 0x80000000),
	/* 38: negative dimensions */
	P1(38, "38-ne0-neg1", EB, AT_PATCH, "tensor dims", 0, 0, 8, UINT64_MAX),
	P1(38, "38-ne0-int64min", EB, AT_PATCH, "tensor dims", 0, 0, 8, 1ull << 63),
	P1(38, "38-ne1-neg1", EB, AT_PATCH, "tensor dims", 0, 8, 8, UINT64_MAX),
	P1(38, "38-ne1-int64min-q4", EB, AT_PATCH, "tensor dims", 2, 8, 8, 1ull << 63),
	/* 46: offset */
	P1(46, "46-offset-2^64-1-first", EB, AT_PATCH, "tensor offset", 0, 0, 8, UINT64_MAX),
	P1(46, "46-offset-2^64-1-last", EB, AT_PATCH, "tensor offset", 2, 0, 8, UINT64_MAX),
	/* 47: offsets not the padded running sum (0, 64, 96) */
	P1(47, "47-gap", EB, AT_PATCH, "tensor offset", 1, 0, 8, 128),
	P1(47, "47-overlap", EB, AT_PATCH, "tensor offset", 1, 0, 8, 32),
	P1(47, "47-alias", EB, AT_PATCH, "tensor offset", 1, 0, 8, 0),
	P1(47, "47-alias-last", EB, AT_PATCH, "tensor offset", 2, 0, 8, 64),
	P2(47, "47-out-of-order", EB, AT_PATCH, 0, "tensor offset", 0, 0, 8, 64,
	   "tensor offset", 1, 0, 8, 0),
	P1(47, "47-first-not-0", EB, AT_PATCH, "tensor offset", 0, 0, 8, 32),
	/* 48: alignment and layout disagree */
	P1(48, "48-offset-unaligned", EB, AT_PATCH, "tensor offset", 2, 0, 8, 80),
	P1(48, "48-offset-odd", EB, AT_PATCH, "tensor offset", 1, 0, 8, 65),
	P2(48, "48-align-64-layout-32", EB, AT_TENSOR_OFFSET, 2, "kv value", KV_ALIGN, 0, 4, 64,
	   NULL, 0, 0, 0, 0),
	P2(48, "48-align-128-layout-32", EB, AT_TENSOR_OFFSET, 1, "kv value", KV_ALIGN, 0, 4, 128,
	   NULL, 0, 0, 0, 0),
	/* 51: counts whose products wrap (x 32 bytes of overhead) */
	P1(51, "51-ntensors-2^59+1", E2, AT_PATCH, "tensor count", 0, 0, 8, (1ull << 59) + 1),
	P1(51, "51-nkv-2^60+1", E2, AT_PATCH, "kv count", 0, 0, 8, (1ull << 60) + 1),
	/* 57: over the count caps */
	P1(57, "57-nkv-2^20+1", E2, AT_PATCH, "kv count", 0, 0, 8, (1ull << 20) + 1),
	P1(57, "57-ntensors-2^20+1", E2, AT_PATCH, "tensor count", 0, 0, 8, (1ull << 20) + 1),
};

static int b_patch(struct hostile_file *f, int64_t arg)
{
	const struct patch_case *pc = &patch_cases[arg];
	uint64_t first = 0;
	struct hb b;

	hb_init(&b, f);
	base_model(&b);
	hb_write(&b, UINT64_MAX);
	for (int i = 0; i < 2 && pc->p[i].what; i++) {
		const struct patch *p = &pc->p[i];
		uint64_t off = hb_at(&b, p->what, p->index) + p->delta;

		if (i == 0)
			first = off;
		hb_put(&b, off, p->value, p->width);
	}
	if (pc->err) {
		uint64_t at = HOSTILE_ANY_OFFSET;

		if (pc->at == AT_PATCH)
			at = first;
		else if (pc->at == AT_KV)
			at = hb_at(&b, "kv key length", pc->p[0].index);
		else if (pc->at == AT_TENSOR_OFFSET)
			at = hb_at(&b, "tensor offset", pc->at_index);
		hb_bad(&b, pc->err, at);
	}
	return hb_end(&b);
}

/* ---- one tensor of a patched shape and type ---- */

struct shape_case {
	int number;
	const char *name;
	uint32_t type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	int err;             /* 0: valid */
	bool at_dims;        /* reported at the dims (else at the type) */
	uint64_t n_elements; /* when valid */
};

static const struct shape_case shape_cases[] = {
	{ 37, "37-ndims-0-scalar", GGML_TYPE_F32, 0, { 0 }, 0, false, 1 },
	{ 37, "37-ndims-0-q8", GGML_TYPE_Q8_0, 0, { 0 }, EB, false, 0 },
	{ 39, "39-ne1-zero", GGML_TYPE_F32, 2, { 8, 0 }, 0, false, 0 },
	{ 39, "39-ne0-zero", GGML_TYPE_F32, 2, { 0, 8 }, 0, false, 0 },
	{ 39, "39-ne3-zero-huge-others", GGML_TYPE_F32, 4,
	  { 1ull << 40, 1ull << 40, 1ull << 40, 0 }, 0, false, 0 },
	{ 39, "39-ne1-zero-q4", GGML_TYPE_Q4_0, 3, { 32, 0, 5 }, 0, false, 0 },
	{ 39, "39-ne1-zero-q4-bad-row", GGML_TYPE_Q4_0, 2, { 33, 0 }, EB, false, 0 },
	{ 40, "40-ne-4xint32max-2d", GGML_TYPE_F32, 2,
	  { 4ull * INT32_MAX, 4ull * INT32_MAX }, EB, true, 0 },
	{ 40, "40-ne-neg1-2-1-1", GGML_TYPE_F32, 4, { UINT64_MAX, 2, 1, 1 }, EB, true, 0 },
	{ 40, "40-ne-int64max-2", GGML_TYPE_F32, 2, { INT64_MAX, 2 }, EB, true, 0 },
	{ 40, "40-ne-2^16-x4", GGML_TYPE_I8, 4, { 1u << 16, 1u << 16, 1u << 16, 1u << 16 }, EB,
	  true, 0 },
	{ 41, "41-q8-ne1-2^42+1", GGML_TYPE_Q8_0, 2, { (1ull << 21) - 32, (1ull << 42) + 1 }, EB,
	  false, 0 },
	{ 42, "42-f32-sizemax-div4", GGML_TYPE_F32, 1, { (1ull << 62) - 1 }, EB, false, 0 },
	{ 43, "43-f32-2^62", GGML_TYPE_F32, 1, { 1ull << 62 }, EB, false, 0 },
	{ 43, "43-f64-2^61-x2", GGML_TYPE_F64, 2, { 1ull << 61, 2 }, EB, false, 0 },
	{ 44, "44-type-43-count", 43, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-0xffffffff", 0xffffffffu, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-0x80000000", 0x80000000u, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-4-removed", 4, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-5-removed", 5, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-31-removed", 31, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-32-removed", 32, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-33-removed", 33, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-36-removed", 36, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-37-removed", 37, 1, { 64 }, EB, false, 0 },
	{ 44, "44-type-38-removed", 38, 1, { 64 }, EB, false, 0 },
	/* 40 was GGML_TYPE_COUNT when the spec was written; it is NVFP4 now */
	{ 44, "44-type-40-nvfp4", GGML_TYPE_NVFP4, 1, { 64 }, 0, false, 64 },
	{ 45, "45-q4-ne0-33", GGML_TYPE_Q4_0, 1, { 33 }, EB, false, 0 },
	{ 45, "45-q4k-ne0-255", GGML_TYPE_Q4_K, 2, { 255, 2 }, EB, false, 0 },
	{ 45, "45-q4-ne0-1", GGML_TYPE_Q4_0, 1, { 1 }, EB, false, 0 },
};

static int b_shape(struct hostile_file *f, int64_t arg)
{
	const struct shape_case *sc = &shape_cases[arg];
	uint64_t dims, type;
	struct hb b;

	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	hb_tensor(&b, "weight", GGML_TYPE_F32, sc->n_dims, 64, 1, 1, 1);
	hb_write(&b, UINT64_MAX);
	dims = hb_at(&b, "tensor dims", 0);
	type = hb_at(&b, "tensor type", 0);
	for (uint32_t k = 0; k < sc->n_dims; k++)
		hb_put(&b, dims + 8 * k, sc->ne[k], 8);
	hb_put(&b, type, sc->type, 4);
	if (sc->err)
		hb_bad(&b, sc->err, sc->at_dims ? dims : type);
	return hb_end(&b);
}

/* ---- case 1: prefixes of the sweep file ---- */

static int b_prefix(struct hostile_file *f, int64_t arg)
{
	uint64_t n_kv, n_t;
	int e = hostile_sweep_source(&f->data, &n_kv, &n_t);

	if (e < 0)
		return e;
	if ((uint64_t)arg >= f->data.len)
		return -EINVAL;
	cut_to(&f->data, (size_t)arg);
	f->size = f->data.len;
	f->ok = false;
	f->err = -EBADMSG;
	f->err_off = HOSTILE_ANY_OFFSET;
	return 0;
}

/* ---- small files from the byte builder ---- */

static int b_raw(struct hostile_file *f, int64_t arg)
{
	struct rb r = { &f->data, 0 };

	f->ok = false;
	f->err = -EBADMSG;
	f->err_off = HOSTILE_ANY_OFFSET;
	switch (arg) {
	case 0: /* 6: 10^8 keys in a 44-byte file, over the cap */
		rb_header(&r, 3, 0, 100000000);
		rb_bytes(&r, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
		f->err = -E2BIG;
		f->err_off = 16;
		break;
	case 1: /* 6: 10^8 tensors */
		rb_header(&r, 3, 100000000, 0);
		rb_bytes(&r, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
		f->err = -E2BIG;
		f->err_off = 8;
		break;
	case 2: /* 6: 10^6 keys, under the cap, cannot fit in 20 bytes */
		rb_header(&r, 3, 0, 1000000);
		rb_bytes(&r, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
		f->err_off = 8;
		break;
	case 3: /* 6: 10^6 tensors */
		rb_header(&r, 3, 1000000, 0);
		rb_bytes(&r, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
		f->err_off = 8;
		break;
	case 4: /* 6: both at the cap */
		rb_header(&r, 3, 1ull << 20, 1ull << 20);
		rb_bytes(&r, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
		f->err_off = 8;
		break;
	case 5: /* 7: an empty model, nothing after the counts */
		rb_header(&r, 3, 0, 0);
		f->ok = true;
		break;
	case 6: /* 7: the same in version 2 */
		rb_header(&r, 2, 0, 0);
		f->ok = true;
		break;
	case 7: /* 9: key length 10^12, nothing after it (32 bytes): too
		 * short for even one key-value pair */
		rb_header(&r, 3, 0, 1);
		rb_u64(&r, 1000000000000ull);
		f->err_off = 8;
		break;
	case 8: /* 9: key length 60000, under the cap, nothing after it */
		rb_header(&r, 3, 0, 1);
		rb_u64(&r, 60000);
		f->err_off = 8;
		break;
	case 13: /* 9: key length 10^12 and the 6 bytes a minimal pair needs */
		rb_header(&r, 3, 0, 1);
		rb_u64(&r, 1000000000000ull);
		rb_bytes(&r, "abcdef", 6);
		f->err = -E2BIG;
		f->err_off = 24;
		break;
	case 14: /* 9: key length 60000 and 6 bytes */
		rb_header(&r, 3, 0, 1);
		rb_u64(&r, 60000);
		rb_bytes(&r, "abcdef", 6);
		f->err_off = 24;
		break;
	case 9: /* 17: arrays nested 1,100 deep */
		rb_header(&r, 3, 0, 1);
		rb_str(&r, "a");
		rb_u32(&r, GGUF_TYPE_ARRAY);
		for (int i = 0; i < 1100; i++) {
			rb_u32(&r, GGUF_TYPE_ARRAY);
			rb_u64(&r, 1);
		}
		rb_u32(&r, GGUF_TYPE_UINT8);
		rb_u64(&r, 1);
		rb_bytes(&r, "", 1);
		f->err_off = 24 + 8 + 1 + 4;
		break;
	case 10: /* 21: 5*10^7 uint8 elements, no payload: a 69-byte file */
		rb_header(&r, 3, 0, 1);
		rb_str(&r, "general.some_u8_array");
		rb_u32(&r, GGUF_TYPE_ARRAY);
		rb_u32(&r, GGUF_TYPE_UINT8);
		rb_u64(&r, 50000000);
		f->err_off = 24 + 8 + 21 + 4 + 4;
		break;
	case 11: /* 3: a whole big-endian file (version 3 byte-swapped) */
		rb_bytes(&r, GGUF_MAGIC, 4);
		rb_bytes(&r, "\0\0\0\3", 4);
		rb_bytes(&r, "\0\0\0\0\0\0\0\0", 8);
		rb_bytes(&r, "\0\0\0\0\0\0\0\1", 8);
		rb_bytes(&r, "\0\0\0\0\0\0\0\1a\0\0\0\4\0\0\0\1", 17);
		f->err = -EPROTONOSUPPORT;
		f->err_off = 4;
		break;
	case 12: /* 1: a file of 4 bytes (CVE-2024-39720) */
		rb_bytes(&r, GGUF_MAGIC, 4);
		f->err_off = 4;
		break;
	default:
		return -EINVAL;
	}
	f->size = f->data.len;
	return r.err;
}

/* 7: an empty model from the writer (padded to 32 bytes) */
static int b_empty(struct hostile_file *f, int64_t arg)
{
	struct hb b;

	(void)arg;
	hb_init(&b, f);
	hb_write(&b, UINT64_MAX);
	return hb_end(&b);
}

/* 11: a key of arg bytes: valid up to 65535 */
static int b_long_key(struct hostile_file *f, int64_t arg)
{
	char *key = malloc((size_t)arg + 1);
	struct hb b;

	if (!key)
		return -ENOMEM;
	memcpy(key, "general.", 8);
	memset(key + 8, 'k', (size_t)arg - 8);
	key[arg] = '\0';
	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	hb_u32(&b, key, 7);
	hb_write(&b, UINT64_MAX);
	if (arg > 65535)
		hb_bad(&b, -E2BIG, hb_at(&b, "kv key length", 1));
	free(key);
	return hb_end(&b);
}

/* 12: duplicate keys, made by writing a near-duplicate and patching its
 * last byte */
static int b_dup_key(struct hostile_file *f, int64_t arg)
{
	struct hb b;
	uint64_t key;

	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	switch (arg) {
	case 0:
		hb_u32(&b, GGUF_KEY_GENERAL_ALIGNMENT, 32);
		hb_u32(&b, "general.alignmenX", 64);
		break;
	case 1:
		hb_str(&b, "general.name", "first");
		hb_str(&b, "general.namX", "second");
		break;
	case 2: /* keys are compared as bytes: these two differ */
		hb_str(&b, "general.name", "first");
		hb_str(&b, "General.name", "second");
		break;
	case 3: /* the duplicate far from the first, of another type */
		hb_str(&b, "general.name", "first");
		for (int i = 0; i < 100; i++) {
			char k[32];

			snprintf(k, sizeof(k), "general.k%d", i);
			hb_u32(&b, k, (uint32_t)i);
		}
		hb_u32(&b, "general.namX", 2);
		break;
	default:
		return -EINVAL;
	}
	hb_write(&b, UINT64_MAX);
	if (arg != 2) {
		uint64_t i = b.n_kv - 1;

		key = hb_at(&b, "kv key", i);
		hb_put(&b, key + (arg == 0 ? 16 : 11), arg == 0 ? 't' : 'e', 1);
		hb_bad(&b, -EBADMSG, hb_at(&b, "kv key length", i));
	}
	return hb_end(&b);
}

/* 15: string values with NULs, control bytes, invalid UTF-8, 16 MiB */
static int b_str_value(struct hostile_file *f, int64_t arg)
{
	static const char nul_ctrl[] = "a\0b\x1b[31mred\x07\r\n%n%s\\";
	static const char bad_utf8[] = "\xff\xfe \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf";
	static const char c1[] = "\xc2\x9b" "31m \xc2\x85 ok";
	struct hb b;

	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	switch (arg) {
	case 0:
		hb_strn(&b, "general.name", nul_ctrl, sizeof(nul_ctrl) - 1);
		break;
	case 1:
		hb_strn(&b, "general.name", bad_utf8, sizeof(bad_utf8) - 1);
		break;
	case 2: {
		/* exactly the 16 MiB cap of "{{" */
		size_t n = 16u << 20;
		char *s = malloc(n);

		if (!s) {
			hb_fail(&b, -ENOMEM);
			break;
		}
		memset(s, '{', n);
		hb_strn(&b, "general.description", s, n);
		free(s);
		break;
	}
	case 3:
		hb_strn(&b, "general.name", c1, sizeof(c1) - 1);
		break;
	case 4: /* the empty string */
		hb_strn(&b, "general.name", "", 0);
		break;
	default:
		return -EINVAL;
	}
	hb_write(&b, UINT64_MAX);
	return hb_end(&b);
}

/* 16: a bool array with an element of 0x80 */
static int b_bool_arr(struct hostile_file *f, int64_t arg)
{
	static const uint8_t v[] = { 1, 0, 1, 1 };
	struct hb b;
	uint64_t at;

	(void)arg;
	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	hb_arr(&b, "general.flags", GGUF_TYPE_BOOL, v, 4);
	hb_write(&b, UINT64_MAX);
	at = hb_at(&b, "kv array data", 1) + 2;
	hb_put(&b, at, 0x80, 1);
	hb_bad(&b, -EBADMSG, at);
	return hb_end(&b);
}

/* 23: 1,000,000 empty strings */
static int b_many_strings(struct hostile_file *f, int64_t arg)
{
	const char **v = malloc(1000000 * sizeof(*v));
	struct hb b;

	(void)arg;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < 1000000; i++)
		v[i] = "";
	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	hb_arr_str(&b, "tokenizer.ggml.tokens", v, 1000000);
	hb_write(&b, UINT64_MAX);
	free(v);
	return hb_end(&b);
}

/* 24: general.alignment of a type other than uint32 */
static int b_align_type(struct hostile_file *f, int64_t arg)
{
	static const uint32_t one[] = { 32 };
	struct hb b;

	hb_init(&b, f);
	switch (arg) {
	case 0: hb_str(&b, GGUF_KEY_GENERAL_ALIGNMENT, "32"); break;
	case 1: hb_u64(&b, GGUF_KEY_GENERAL_ALIGNMENT, 32); break;
	case 2: hb_u16(&b, GGUF_KEY_GENERAL_ALIGNMENT, 32); break;
	case 3: hb_bool(&b, GGUF_KEY_GENERAL_ALIGNMENT, true); break;
	case 4: hb_arr(&b, GGUF_KEY_GENERAL_ALIGNMENT, GGUF_TYPE_UINT32, one, 1); break;
	case 5: hb_i32(&b, GGUF_KEY_GENERAL_ALIGNMENT, 32); break;
	default: return -EINVAL;
	}
	hb_str(&b, "general.architecture", "llama");
	hb_tensor(&b, "output.weight", GGML_TYPE_F32, 1, 8, 1, 1, 1);
	hb_write(&b, UINT64_MAX);
	hb_bad(&b, -EBADMSG, 24);
	return hb_end(&b);
}

/* 25: alignments that are valid: 1, 64 and the 1 MiB cap */
static int b_align_ok(struct hostile_file *f, int64_t arg)
{
	struct hb b;

	hb_init(&b, f);
	hb_u32(&b, GGUF_KEY_GENERAL_ALIGNMENT, (uint32_t)arg);
	hb_str(&b, "general.architecture", "llama");
	hb_tensor(&b, "a", GGML_TYPE_F32, 1, 3, 1, 1, 1);
	hb_tensor(&b, "b", GGML_TYPE_Q4_0, 1, 32, 1, 1, 1);
	hb_tensor(&b, "c", GGML_TYPE_F16, 1, 5, 1, 1, 1);
	hb_write(&b, UINT64_MAX);
	return hb_end(&b);
}

/* ---- 26-28, 30: a complete small llama model with hostile values ----
 *
 * The model (two layers, 64 wide, 64 tokens) is one llama.cpp and llmem
 * estimate would load; each case replaces or adds up to three keys. */

enum ov_kind { OV_U32, OV_U64, OV_I32, OV_I64, OV_F32, OV_STR, OV_ARR, OV_ARR_STR };

struct ovr {
	const char *key;
	enum ov_kind kind;
	uint64_t u;         /* OV_U32, OV_U64; the bits of OV_I32, OV_I64 */
	double f;           /* OV_F32 */
	const char *s;      /* OV_STR */
	uint32_t arr_type;  /* OV_ARR */
	const void *arr;    /* OV_ARR: the elements; OV_ARR_STR: strings */
	uint64_t n;         /* OV_ARR, OV_ARR_STR */
};

struct micro_case {
	int number;
	const char *name;
	struct ovr o[3];
};

static const int32_t i32_one[] = { 1 };
static const int32_t i32_five[] = { 8, 8, 8, 8, 8 };
static const char *const str_two[] = { "1", "%n" };
static const float f32_two[] = { 1.0f, 1.5f };
static const int32_t i32_neg[] = { -1, INT32_MIN };
static const uint8_t bool_two[] = { 1, 0 };
static const uint32_t u32_64[64] = { 1, 2, 3 };
static const int8_t i8_64[64] = { -1, 0, 1, 127 };
static const float f32_three[] = { 0, 0, -1 };
static const int32_t i32_65[65] = { 3, 3, 1 };

#define OU32(k, v) { k, OV_U32, v, 0, NULL, 0, NULL, 0 }
#define OU64(k, v) { k, OV_U64, v, 0, NULL, 0, NULL, 0 }
#define OI32(k, v) { k, OV_I32, (uint64_t)(int64_t)(v), 0, NULL, 0, NULL, 0 }
#define OI64(k, v) { k, OV_I64, (uint64_t)(int64_t)(v), 0, NULL, 0, NULL, 0 }
#define OF32(k, v) { k, OV_F32, 0, v, NULL, 0, NULL, 0 }
#define OSTR(k, v) { k, OV_STR, 0, 0, v, 0, NULL, 0 }
#define OARR(k, t, a, n) { k, OV_ARR, 0, 0, NULL, t, a, n }
#define OARS(k, a, n) { k, OV_ARR_STR, 0, 0, NULL, 0, a, n }

static const struct micro_case micro_cases[] = {
	{ 26, "26-micro-valid", { OU32(NULL, 0) } },
	{ 26, "26-tokens-uint32-scores-int8", {
		OARR("tokenizer.ggml.tokens", GGUF_TYPE_UINT32, u32_64, 64),
		OARR("tokenizer.ggml.scores", GGUF_TYPE_INT8, i8_64, 64),
		OARR("tokenizer.ggml.token_type", GGUF_TYPE_INT8, i8_64, 64) } },
	{ 26, "26-tokenizer-counts-differ", {
		OARR("tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, f32_three, 3),
		OARR("tokenizer.ggml.token_type", GGUF_TYPE_INT32, i32_65, 65) } },
	{ 26, "26-tokens-string-scalar", { OSTR("tokenizer.ggml.tokens", "abc") } },
	{ 27, "27-block-count-0", { OU32("llama.block_count", 0) } },
	{ 27, "27-block-count-string", { OSTR("llama.block_count", "32") } },
	{ 27, "27-block-count-float", { OF32("llama.block_count", 32.5) } },
	{ 27, "27-block-count-2^64-1", { OU64("llama.block_count", UINT64_MAX) } },
	{ 27, "27-head-count-0", { OU32("llama.attention.head_count", 0) } },
	{ 27, "27-head-count-minus-inf", { OF32("llama.attention.head_count", -INFINITY) } },
	{ 27, "27-head-count-kv-0", { OU32("llama.attention.head_count_kv", 0) } },
	{ 27, "27-head-count-kv-gt-heads", { OU32("llama.attention.head_count_kv", 64) } },
	{ 27, "27-embedding-length-0", { OU32("llama.embedding_length", 0) } },
	{ 27, "27-embedding-length-neg1", { OI32("llama.embedding_length", -1) } },
	{ 27, "27-context-length-2^63", { OU64("llama.context_length", 1ull << 63) } },
	{ 27, "27-context-length-0", { OU32("llama.context_length", 0) } },
	{ 27, "27-expert-count-2^32", {
		OU64("llama.expert_count", 1ull << 32), OU32("llama.expert_used_count", 2) } },
	{ 27, "27-expert-used-gt-count", {
		OU32("llama.expert_count", 4), OU32("llama.expert_used_count", 8) } },
	{ 27, "27-ff-length-int64min", { OI64("llama.feed_forward_length", INT64_MIN) } },
	{ 27, "27-key-length-0", { OU32("llama.attention.key_length", 0) } },
	{ 27, "27-rope-dims-2^32", { OU64("llama.rope.dimension_count", 1ull << 32) } },
	{ 28, "28-head-count-kv-short", {
		OARR("llama.attention.head_count_kv", GGUF_TYPE_INT32, i32_one, 1) } },
	{ 28, "28-head-count-kv-long", {
		OARR("llama.attention.head_count_kv", GGUF_TYPE_INT32, i32_five, 5) } },
	{ 28, "28-head-count-kv-strings", { OARS("llama.attention.head_count_kv", str_two, 2) } },
	{ 28, "28-head-count-kv-float", {
		OARR("llama.attention.head_count_kv", GGUF_TYPE_FLOAT32, f32_two, 2) } },
	{ 28, "28-head-count-kv-negative", {
		OARR("llama.attention.head_count_kv", GGUF_TYPE_INT32, i32_neg, 2) } },
	{ 28, "28-head-count-bool", {
		OARR("llama.attention.head_count", GGUF_TYPE_BOOL, bool_two, 2) } },
	{ 28, "28-ff-length-empty", {
		OARR("llama.feed_forward_length", GGUF_TYPE_INT32, i32_one, 0) } },
	{ 30, "30-special-token-ids", {
		OU32("tokenizer.ggml.bos_token_id", 1000000),
		OI32("tokenizer.ggml.eos_token_id", -1),
		OI64("tokenizer.ggml.unknown_token_id", INT64_MIN) } },
	{ 30, "30-special-token-ids-2", {
		OU32("tokenizer.ggml.padding_token_id", UINT32_MAX),
		OSTR("tokenizer.ggml.seperator_token_id", "4"),
		OU64("tokenizer.ggml.eot_token_id", 64) } },
};

static const struct ovr *micro_find(const struct micro_case *mc, const char *key)
{
	for (int i = 0; i < 3 && mc->o[i].key; i++)
		if (strcmp(mc->o[i].key, key) == 0)
			return &mc->o[i];
	return NULL;
}

static void hb_ovr(struct hb *b, const struct ovr *o)
{
	switch (o->kind) {
	case OV_U32: hb_u32(b, o->key, (uint32_t)o->u); break;
	case OV_U64: hb_u64(b, o->key, o->u); break;
	case OV_I32: hb_i32(b, o->key, (int32_t)(int64_t)o->u); break;
	case OV_I64: hb_i64(b, o->key, (int64_t)o->u); break;
	case OV_F32: hb_f32(b, o->key, (float)o->f); break;
	case OV_STR: hb_str(b, o->key, o->s); break;
	case OV_ARR: hb_arr(b, o->key, o->arr_type, o->arr, o->n); break;
	case OV_ARR_STR: hb_arr_str(b, o->key, (const char *const *)o->arr, o->n); break;
	}
}

/* key = v, unless the case replaces it */
static void micro_u32(struct hb *b, const struct micro_case *mc, const char *key, uint32_t v)
{
	const struct ovr *o = micro_find(mc, key);

	if (o)
		hb_ovr(b, o);
	else
		hb_u32(b, key, v);
}

static int b_micro(struct hostile_file *f, int64_t arg)
{
	static const struct {
		const char *key;
		uint32_t v;
	} hp[] = {
		{ "llama.context_length", 512 },
		{ "llama.embedding_length", 64 },
		{ "llama.block_count", 2 },
		{ "llama.feed_forward_length", 128 },
		{ "llama.attention.head_count", 2 },
		{ "llama.attention.head_count_kv", 1 },
		{ "llama.attention.key_length", 32 },
		{ "llama.attention.value_length", 32 },
		{ "llama.rope.dimension_count", 32 },
	};
	static const char *const tok_keys[] = {
		"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
	};
	const struct micro_case *mc = &micro_cases[arg];
	const char *toks[64];
	char tokbuf[64][16];
	float scores[64];
	int32_t types[64];
	uint32_t ftype = 1;
	struct hb b;

	for (int i = 0; i < 64; i++) {
		snprintf(tokbuf[i], sizeof(tokbuf[i]), "t%d", i);
		toks[i] = tokbuf[i];
		scores[i] = (float)-i;
		types[i] = 1;
	}
	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	hb_str(&b, "general.name", mc->name);
	hb_scalar(&b, "general.file_type", GGUF_TYPE_UINT32, &ftype);
	for (size_t i = 0; i < ARRAY_SIZE(hp); i++)
		micro_u32(&b, mc, hp[i].key, hp[i].v);
	hb_str(&b, "tokenizer.ggml.model", "llama");
	for (size_t i = 0; i < ARRAY_SIZE(tok_keys); i++) {
		const struct ovr *o = micro_find(mc, tok_keys[i]);

		if (o)
			hb_ovr(&b, o);
		else if (i == 0)
			hb_arr_str(&b, tok_keys[i], toks, 64);
		else if (i == 1)
			hb_arr(&b, tok_keys[i], GGUF_TYPE_FLOAT32, scores, 64);
		else
			hb_arr(&b, tok_keys[i], GGUF_TYPE_INT32, types, 64);
	}
	/* what the case adds */
	for (int i = 0; i < 3 && mc->o[i].key; i++) {
		bool known = false;

		for (size_t k = 0; k < ARRAY_SIZE(hp); k++)
			known |= strcmp(hp[k].key, mc->o[i].key) == 0;
		for (size_t k = 0; k < ARRAY_SIZE(tok_keys); k++)
			known |= strcmp(tok_keys[k], mc->o[i].key) == 0;
		if (!known)
			hb_ovr(&b, &mc->o[i]);
	}
	hb_tensor(&b, "token_embd.weight", GGML_TYPE_F16, 2, 64, 64, 1, 1);
	for (int l = 0; l < 2; l++) {
		static const struct {
			const char *name;
			uint32_t type;
			int64_t ne0, ne1;
		} lt[] = {
			{ "attn_norm", GGML_TYPE_F32, 64, 1 },
			{ "attn_q", GGML_TYPE_F16, 64, 64 },
			{ "attn_k", GGML_TYPE_F16, 64, 32 },
			{ "attn_v", GGML_TYPE_F16, 64, 32 },
			{ "attn_output", GGML_TYPE_F16, 64, 64 },
			{ "ffn_norm", GGML_TYPE_F32, 64, 1 },
			{ "ffn_gate", GGML_TYPE_F16, 64, 128 },
			{ "ffn_up", GGML_TYPE_F16, 64, 128 },
			{ "ffn_down", GGML_TYPE_F16, 128, 64 },
		};

		for (size_t k = 0; k < ARRAY_SIZE(lt); k++) {
			char nm[64];

			snprintf(nm, sizeof(nm), "blk.%d.%s.weight", l, lt[k].name);
			hb_tensor(&b, nm, lt[k].type, lt[k].ne1 > 1 ? 2 : 1, lt[k].ne0, lt[k].ne1, 1, 1);
		}
	}
	hb_tensor(&b, "output_norm.weight", GGML_TYPE_F32, 1, 64, 1, 1, 1);
	hb_tensor(&b, "output.weight", GGML_TYPE_F16, 2, 64, 64, 1, 1);
	hb_write(&b, UINT64_MAX);
	return hb_end(&b);
}

/* 29: general.architecture missing, 1 MiB long, a format string, a path,
 * terminal escapes, empty */
static int b_arch(struct hostile_file *f, int64_t arg)
{
	struct hb b;

	hb_init(&b, f);
	switch (arg) {
	case 0:
		hb_str(&b, "general.name", "no architecture");
		hb_u32(&b, "llama.block_count", 2);
		break;
	case 1: {
		size_t n = 1u << 20;
		char *s = malloc(n);

		if (!s) {
			hb_fail(&b, -ENOMEM);
			break;
		}
		for (size_t i = 0; i < n; i++)
			s[i] = (char)('a' + i % 26);
		hb_strn(&b, "general.architecture", s, n);
		free(s);
		break;
	}
	case 2:
		hb_str(&b, "general.architecture", "%n%n%s%s%s%p%x");
		break;
	case 3:
		hb_str(&b, "general.architecture", "../x");
		break;
	case 4:
		hb_str(&b, "general.architecture", "\x1b[2J\x1b]0;pwned\x07llama\n\r");
		break;
	case 5:
		hb_str(&b, "general.architecture", "");
		break;
	default:
		return -EINVAL;
	}
	hb_tensor(&b, "output.weight", GGML_TYPE_F32, 1, 8, 1, 1, 1);
	hb_write(&b, UINT64_MAX);
	return hb_end(&b);
}

/* 31: chat templates: template injection, 10 MB, endless loops */
static int b_template(struct hostile_file *f, int64_t arg)
{
	static const char ssti[] =
		"{{ ''.__class__.__mro__[1].__subclasses__()[408]('id',shell=True,stdout=-1)"
		".communicate()[0] }}{{ self.__init__.__globals__.__builtins__.__import__('os')"
		".popen('id').read() }}";
	static const char loop[] =
		"{% for i in range(1000000000) %}{% for j in range(1000000000) %}{{ i }}"
		"{% endfor %}{% endfor %}{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}";
	struct hb b;

	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	switch (arg) {
	case 0:
		hb_str(&b, "tokenizer.chat_template", ssti);
		break;
	case 1: {
		size_t n = 10000000, piece = sizeof(loop) - 1;
		char *s = malloc(n);

		if (!s) {
			hb_fail(&b, -ENOMEM);
			break;
		}
		for (size_t i = 0; i < n; i++)
			s[i] = loop[i % piece];
		hb_strn(&b, "tokenizer.chat_template", s, n);
		free(s);
		break;
	}
	case 2:
		hb_str(&b, "tokenizer.chat_template", loop);
		break;
	default:
		return -EINVAL;
	}
	hb_write(&b, UINT64_MAX);
	return hb_end(&b);
}

/* 32: byte tokens a vocabulary loader could mis-parse; a token longer
 * than INT32_MAX (over the string cap) */
static int b_vocab(struct hostile_file *f, int64_t arg)
{
	static const char *const toks[] = { "<0x-1>", "<0xZZ>", "<0x>", "<0x100>", "<0x0A>",
					     "<0x80000000>" };
	static const int32_t types[] = { 6, 6, 6, 6, 6, 6 };
	struct hb b;

	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	hb_str(&b, "tokenizer.ggml.model", "llama");
	hb_arr_str(&b, "tokenizer.ggml.tokens", toks, 6);
	hb_arr(&b, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 6);
	hb_write(&b, UINT64_MAX);
	if (arg) {
		uint64_t at = hb_at(&b, "kv array data", 2);

		hb_put(&b, at, arg == 1 ? (1ull << 31) : (1ull << 32) + 6, 8);
		hb_bad(&b, -E2BIG, at);
	}
	return hb_end(&b);
}

/* 34: tensor names of 63 (valid), 64 and 4096 bytes, with a control
 * byte, with UTF-8 and C1 controls */
static int b_tensor_name(struct hostile_file *f, int64_t arg)
{
	char name[64];
	struct hb b;
	uint64_t at;

	memset(name, 'n', 63);
	name[63] = '\0';
	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	switch (arg) {
	case 0: case 1: case 2:
		hb_tensor(&b, name, GGML_TYPE_F32, 1, 8, 1, 1, 1);
		break;
	case 3:
		hb_tensor(&b, "blk.0.xxx", GGML_TYPE_F32, 1, 8, 1, 1, 1);
		break;
	case 4:
		hb_tensor(&b, "blk.\xc3\xa9.\xe2\x82\xac", GGML_TYPE_F32, 1, 8, 1, 1, 1);
		break;
	case 5:
		hb_tensor(&b, "blk.\xc2\x9b" "31m.\xff\xfe", GGML_TYPE_F32, 1, 8, 1, 1, 1);
		break;
	default:
		return -EINVAL;
	}
	hb_write(&b, UINT64_MAX);
	if (b.err)
		return hb_end(&b);
	at = hb_at(&b, "tensor name length", 0);
	if (arg == 1 || arg == 2) {
		size_t extra = arg == 1 ? 1 : 4096 - 63;
		char *more = malloc(extra);

		if (more) {
			memset(more, 'm', extra);
			hb_fail(&b, splice_in(&f->data, (size_t)at + 8, more, extra));
			free(more);
		} else {
			hb_fail(&b, -ENOMEM);
		}
		hb_put(&b, at, 63 + extra, 8);
		f->size = f->data.len;
		hb_bad(&b, -EBADMSG, at);
	} else if (arg == 3) {
		hb_put(&b, at + 8 + 5, 0x01, 1);
		hb_bad(&b, -EBADMSG, at + 8 + 5);
	}
	return hb_end(&b);
}

/* 35: two tensors with the same name */
static int b_dup_tensor(struct hostile_file *f, int64_t arg)
{
	struct hb b;

	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	hb_tensor(&b, "blk.0.a", GGML_TYPE_F32, 1, 8, 1, 1, 1);
	if (arg == 1)
		for (int i = 0; i < 50; i++) {
			char n[32];

			snprintf(n, sizeof(n), "blk.%d.z", i);
			hb_tensor(&b, n, GGML_TYPE_F32, 1, 8, 1, 1, 1);
		}
	hb_tensor(&b, "blk.0.b", GGML_TYPE_F16, 1, 16, 1, 1, 1);
	hb_write(&b, UINT64_MAX);
	{
		uint64_t i = arg == 1 ? 51 : 1;

		hb_put(&b, hb_at(&b, "tensor name", i) + 6, 'a', 1);
		hb_bad(&b, -EBADMSG, hb_at(&b, "tensor name length", i));
	}
	return hb_end(&b);
}

/* 49: the data cut short */
static int b_short_data(struct hostile_file *f, int64_t arg)
{
	struct hb b;
	uint64_t cut = 0, t = 0;

	hb_init(&b, f);
	if (arg <= 1)
		sweep_model(&b);
	else
		base_model(&b);
	hb_write(&b, UINT64_MAX);
	switch (arg) {
	case 0: cut = f->data.len - 1; t = 2; break; /* the last byte */
	case 1: cut = b.data_off; t = 0; break;      /* all the data */
	case 2: cut = b.data_off + 96 + 35; t = 2; break; /* Q4_0 short by 1 */
	case 3: cut = b.data_off + 96 + 36; break; /* only the last padding */
	default: return -EINVAL;
	}
	if (b.err)
		return hb_end(&b);
	cut_to(&f->data, (size_t)cut);
	f->size = cut;
	if (arg != 3)
		hb_bad(&b, -EBADMSG, hb_at(&b, "tensor offset", t));
	return hb_end(&b);
}

/* 50: two I8 tensors of 0x7FFFFFFFFFFFFFC0 elements with 32 data bytes;
 * 51: three whose padded offsets add up past 2^64 */
static int b_huge_tensors(struct hostile_file *f, int64_t arg)
{
	const int64_t big = 0x7FFFFFFFFFFFFFC0;
	struct hb b;

	hb_init(&b, f);
	hb_str(&b, "general.architecture", "llama");
	if (arg == 0) {
		hb_tensor(&b, "a", GGML_TYPE_I8, 1, big, 1, 1, 1);
		hb_tensor(&b, "b", GGML_TYPE_I8, 1, big, 1, 1, 1);
		hb_write(&b, 32);
		hb_bad(&b, -EBADMSG, hb_at(&b, "tensor offset", 0));
	} else {
		hb_tensor(&b, "a", GGML_TYPE_I8, 1, 32, 1, 1, 1);
		hb_tensor(&b, "b", GGML_TYPE_I8, 1, 32, 1, 1, 1);
		hb_tensor(&b, "c", GGML_TYPE_I8, 1, 32, 1, 1, 1);
		hb_write(&b, UINT64_MAX);
		for (int i = 0; i < 3; i++)
			hb_put(&b, hb_at(&b, "tensor dims", (uint64_t)i), (uint64_t)big, 8);
		hb_put(&b, hb_at(&b, "tensor offset", 1), (uint64_t)big, 8);
		hb_put(&b, hb_at(&b, "tensor offset", 2), 2 * (uint64_t)big, 8);
		hb_bad(&b, -EBADMSG, hb_at(&b, "tensor offset", 0));
	}
	return hb_end(&b);
}

/* 52: the file ends where the tensor infos end */
static int b_infos_at_eof(struct hostile_file *f, int64_t arg)
{
	struct hb b;
	uint64_t end;

	hb_init(&b, f);
	if (arg == 0) {
		base_model(&b);
	} else {
		/* one empty tensor: nothing to read, but the data section
		 * would start past the end (the header does not end on a
		 * multiple of 32) */
		hb_str(&b, "general.architecture", "llama");
		hb_tensor(&b, "empty", GGML_TYPE_F32, 1, 0, 1, 1, 1);
	}
	hb_write(&b, UINT64_MAX);
	end = hb_at(&b, "header end", 0);
	if (b.err)
		return hb_end(&b);
	if (arg == 1 && end % 32 == 0)
		return -EINVAL; /* the case would not test anything */
	cut_to(&f->data, (size_t)end);
	f->size = end;
	hb_bad(&b, -EBADMSG, hb_at(&b, "tensor offset", 0));
	return hb_end(&b);
}

/* 55: bytes after the data */
static int b_trailing(struct hostile_file *f, int64_t arg)
{
	struct rb r = { &f->data, 0 };
	struct hb b;

	hb_init(&b, f);
	base_model(&b);
	hb_write(&b, UINT64_MAX);
	switch (arg) {
	case 0:
		hb_fail(&b, sbuf_add_zeros(&f->data, 4096));
		break;
	case 1:
		hb_fail(&b, add_noise(&f->data, 1000, 55));
		break;
	case 2: { /* a second, different, whole GGUF file */
		struct hostile_file g;
		struct hb b2;

		memset(&g, 0, sizeof(g));
		sbuf_init(&g.data, HOSTILE_SBUF_CAP);
		hb_init(&b2, &g);
		hb_str(&b2, "general.architecture", "second");
		hb_tensor(&b2, "x", GGML_TYPE_F32, 1, 8, 1, 1, 1);
		hb_write(&b2, UINT64_MAX);
		hb_fail(&b, hb_end(&b2));
		hb_fail(&b, sbuf_add(&f->data, g.data.buf, g.data.len));
		sbuf_release(&g.data);
		break;
	}
	case 3: /* a GGUF header claiming everything */
		rb_header(&r, 3, UINT64_MAX, UINT64_MAX);
		hb_fail(&b, r.err);
		break;
	default:
		return -EINVAL;
	}
	f->size = f->data.len;
	return hb_end(&b);
}

/* 54: a valid file whose header is over 256 KiB, so `llmem inspect`
 * reads it in more than one step, for the truncation race */
static int b_race_source(struct hostile_file *f, int64_t arg)
{
	const size_t n = 30000;
	char **toks = calloc(n, sizeof(*toks));
	struct hb b;

	(void)arg;
	if (!toks)
		return -ENOMEM;
	hb_init(&b, f);
	for (size_t i = 0; i < n && !b.err; i++) {
		char t[32];

		snprintf(t, sizeof(t), "token-%zu", i);
		toks[i] = strdup(t);
		if (!toks[i])
			hb_fail(&b, -ENOMEM);
	}
	hb_str(&b, "general.architecture", "llama");
	hb_u32(&b, "llama.block_count", 2);
	hb_arr_str(&b, "tokenizer.ggml.tokens", (const char *const *)toks, n);
	hb_tensor(&b, "token_embd.weight", GGML_TYPE_F32, 2, 64, 64, 1, 1);
	hb_tensor(&b, "output.weight", GGML_TYPE_Q8_0, 2, 64, 64, 1, 1);
	hb_tensor(&b, "blk.0.attn_q.weight", GGML_TYPE_F16, 2, 64, 64, 1, 1);
	hb_write(&b, UINT64_MAX);
	for (size_t i = 0; i < n; i++)
		free(toks[i]);
	free(toks);
	return hb_end(&b);
}

/* 56: split models. arg = set * 16 + part (0-based); the table below
 * gives each set's declared part count and what is wrong with it. */
enum {
	SPLIT_OK, SPLIT_COUNT0, SPLIT_COUNT65535, SPLIT_NO_GE_COUNT, SPLIT_NO_FIRST,
	SPLIT_MISSING, SPLIT_TOTAL, SPLIT_DUP, SPLIT_COUNT_DIFFERS, SPLIT_NONAME,
	SPLIT_COUNT_U32, SPLIT_SINGLE, SPLIT_TOTAL_U32,
};

static int b_split(struct hostile_file *f, int64_t arg)
{
	static const uint16_t counts[] = { 3, 2, 65535, 2, 2, 3, 2, 2, 2, 2, 2, 1, 2 };
	unsigned set = (unsigned)(arg >> 4), part = (unsigned)(arg & 15);
	uint16_t count, no = (uint16_t)part;
	int32_t total = set == SPLIT_OK ? 6 : set == SPLIT_COUNT65535 ? 2 :
			set == SPLIT_SINGLE ? 2 : 4;
	char t0[32], t1[32];
	struct hb b;

	if (set >= ARRAY_SIZE(counts))
		return -EINVAL;
	count = counts[set];
	if (set == SPLIT_TOTAL)
		total = 5;
	if (set == SPLIT_NO_GE_COUNT && part == 1)
		no = 2;
	if (set == SPLIT_NO_FIRST && part == 0)
		no = 7;
	hb_init(&b, f);
	if (part == 0) {
		hb_str(&b, "general.architecture", "llama");
		hb_str(&b, "general.name", "split");
	}
	hb_u16(&b, "split.no", no);
	if (set == SPLIT_COUNT0 && part == 0)
		hb_u16(&b, "split.count", 0);
	else if (set == SPLIT_COUNT_DIFFERS && part == 1)
		hb_u16(&b, "split.count", 3);
	else if (set == SPLIT_COUNT_U32)
		hb_u32(&b, "split.count", count);
	else
		hb_u16(&b, "split.count", count);
	if (set == SPLIT_TOTAL_U32)
		hb_u32(&b, "split.tensors.count", (uint32_t)total);
	else
		hb_i32(&b, "split.tensors.count", total);
	snprintf(t0, sizeof(t0), "blk.%u.w0", part);
	snprintf(t1, sizeof(t1), "blk.%u.w1", part);
	if (set == SPLIT_DUP && part == 1)
		snprintf(t0, sizeof(t0), "blk.0.w1");
	hb_tensor(&b, t0, GGML_TYPE_F32, 1, 8, 1, 1, 1);
	hb_tensor(&b, t1, GGML_TYPE_F16, 2, 8, 2, 1, 1);
	hb_write(&b, UINT64_MAX);
	if (part == 0 || set == SPLIT_OK) {
		switch (set) {
		case SPLIT_OK: case SPLIT_SINGLE:
			f->inspect = "valid";
			break;
		case SPLIT_COUNT0: case SPLIT_TOTAL: case SPLIT_COUNT_U32: case SPLIT_TOTAL_U32:
			f->inspect = "invalid";
			break;
		default:
			f->inspect = "invalid-split";
			break;
		}
	} else {
		f->listed = false;
	}
	return hb_end(&b);
}

/* 57: 1,000,000 minimal keys, or 1,000,000 tensors of one float each
 * (their data a hole), from the byte builder: the writer checks for
 * duplicates in O(n^2). Names are four characters of a 64-letter
 * alphabet. */
static void name4(char *out, uint64_t i)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

	for (int k = 0; k < 4; k++) {
		out[k] = alpha[i % 64];
		i /= 64;
	}
}

static int b_million(struct hostile_file *f, int64_t arg)
{
	const uint64_t n = 1000000;
	struct rb r = { &f->data, 0 };
	char nm[4];

	if (arg == 0) {
		rb_header(&r, 3, 0, n);
		for (uint64_t i = 0; i < n && !r.err; i++) {
			uint8_t rec[17];

			name4(nm, i);
			put_le(rec, 4, 8);
			memcpy(rec + 8, nm, 4);
			put_le(rec + 12, GGUF_TYPE_UINT8, 4);
			rec[16] = (uint8_t)i;
			rb_bytes(&r, rec, sizeof(rec));
		}
		f->size = f->data.len;
		f->n_kv = n;
	} else {
		rb_header(&r, 3, n, 0);
		for (uint64_t i = 0; i < n && !r.err; i++) {
			uint8_t rec[36];

			name4(nm, i);
			put_le(rec, 4, 8);
			memcpy(rec + 8, nm, 4);
			put_le(rec + 12, 1, 4);
			put_le(rec + 16, 1, 8);
			put_le(rec + 24, GGML_TYPE_F32, 4);
			put_le(rec + 28, i * 32, 8);
			rb_bytes(&r, rec, sizeof(rec));
		}
		if (!r.err && f->data.len % 32)
			r.err = sbuf_add_zeros(&f->data, 32 - f->data.len % 32);
		f->size = f->data.len + n * 32;
		f->n_tensors = n;
	}
	f->ok = true;
	return r.err;
}

/* 57, when HOSTILE_FLOOD=N is set: N keys (arg even) or N tensor names
 * (arg odd), arg = 2 N + kind, whose FNV-1a hashes (the parser's index
 * hash) agree in their low 21 bits, so they all land in one chain of an
 * open-addressing table of up to 2^21 slots. Each name is a chain of
 * 3-character blocks; every block is one of up to 8 strings that take the
 * hash state to the same state mod 2^21. Linear parsing stays linear;
 * a table indexed by those bits goes quadratic (N = 32000: seconds;
 * 10^6: hours). The parser's index is sorted now, so this is a
 * regression test, on by default with 100,000 keys. */
#define FLOOD_BITS 21

static int flood_names(uint64_t n, char **ret, size_t *ret_len)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	const uint64_t mask = (1ull << FLOOD_BITS) - 1, prime = 1099511628211ull;
	uint16_t *count = malloc(sizeof(*count) << FLOOD_BITS);
	char blk[20][8][3];
	size_t m[20], nb = 0, len;
	uint64_t h = 1469598103934665603ull & mask, total = 1;
	char *out;

	if (!count)
		return -ENOMEM;
	while (total < n) {
		uint64_t best = 0;

		if (nb == 20) {
			free(count);
			return -ERANGE;
		}
		memset(count, 0, sizeof(*count) << FLOOD_BITS);
		for (int pass = 0; pass < 2; pass++) {
			m[nb] = 0;
			for (int a = 0; a < 64; a++) {
				uint64_t ha = ((h ^ (uint8_t)alpha[a]) * prime) & mask;

				for (int b2 = 0; b2 < 64; b2++) {
					uint64_t hb2 = ((ha ^ (uint8_t)alpha[b2]) * prime) & mask;

					for (int c = 0; c < 64; c++) {
						uint64_t hc = ((hb2 ^ (uint8_t)alpha[c]) * prime) & mask;

						if (pass == 0) {
							if (count[hc] < UINT16_MAX)
								count[hc]++;
							if (count[hc] > count[best])
								best = hc;
						} else if (hc == best && m[nb] < 8) {
							blk[nb][m[nb]][0] = alpha[a];
							blk[nb][m[nb]][1] = alpha[b2];
							blk[nb][m[nb]][2] = alpha[c];
							m[nb]++;
						}
					}
				}
			}
		}
		if (m[nb] < 2) {
			free(count);
			return -ERANGE;
		}
		h = best;
		total *= m[nb];
		nb++;
	}
	free(count);
	len = 3 * nb;
	out = malloc(n * len);
	if (!out)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = i;

		for (size_t k = 0; k < nb; k++) {
			memcpy(out + i * len + 3 * k, blk[k][v % m[k]], 3);
			v /= m[k];
		}
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

static int b_flood(struct hostile_file *f, int64_t arg)
{
	uint64_t n = (uint64_t)arg / 2;
	struct rb r = { &f->data, 0 };
	size_t len;
	char *names;
	int e = flood_names(n, &names, &len);

	if (e < 0)
		return e;
	if (arg % 2 == 0) {
		rb_header(&r, 3, 0, n);
		for (uint64_t i = 0; i < n; i++) {
			rb_u64(&r, len);
			rb_bytes(&r, names + i * len, len);
			rb_u32(&r, GGUF_TYPE_UINT8);
			rb_bytes(&r, "\1", 1);
		}
		f->n_kv = n;
	} else {
		rb_header(&r, 3, n, 0);
		for (uint64_t i = 0; i < n; i++) {
			rb_u64(&r, len);
			rb_bytes(&r, names + i * len, len);
			rb_u32(&r, 1);
			rb_u64(&r, 0); /* no elements: every offset is 0 */
			rb_u32(&r, GGML_TYPE_F32);
			rb_u64(&r, 0);
		}
		if (!r.err && f->data.len % 32)
			r.err = sbuf_add_zeros(&f->data, 32 - f->data.len % 32);
		f->n_tensors = n;
	}
	free(names);
	f->size = f->data.len;
	f->ok = true;
	return r.err;
}

/* ---- the list ---- */

struct named_case {
	int number;
	const char *name;
	hostile_build_fn *build;
	int64_t arg;
};

static const struct named_case named_cases[] = {
	{ 1, "01-file-4-bytes.gguf", b_raw, 12 },
	{ 3, "03-big-endian-file.gguf", b_raw, 11 },
	{ 6, "06-nkv-10^8-44-bytes.gguf", b_raw, 0 },
	{ 6, "06-ntensors-10^8-44-bytes.gguf", b_raw, 1 },
	{ 6, "06-nkv-10^6-44-bytes.gguf", b_raw, 2 },
	{ 6, "06-ntensors-10^6-44-bytes.gguf", b_raw, 3 },
	{ 6, "06-both-2^20-44-bytes.gguf", b_raw, 4 },
	{ 7, "07-empty-24-bytes.gguf", b_raw, 5 },
	{ 7, "07-empty-24-bytes-v2.gguf", b_raw, 6 },
	{ 7, "07-empty-writer.gguf", b_empty, 0 },
	{ 9, "09-keylen-10^12-32-bytes.gguf", b_raw, 7 },
	{ 9, "09-keylen-60000-32-bytes.gguf", b_raw, 8 },
	{ 9, "09-keylen-10^12-38-bytes.gguf", b_raw, 13 },
	{ 9, "09-keylen-60000-38-bytes.gguf", b_raw, 14 },
	{ 11, "11-key-65535-bytes.gguf", b_long_key, 65535 },
	{ 11, "11-key-65536-bytes.gguf", b_long_key, 65536 },
	{ 12, "12-dup-alignment.gguf", b_dup_key, 0 },
	{ 12, "12-dup-name.gguf", b_dup_key, 1 },
	{ 12, "12-keys-differ-in-case.gguf", b_dup_key, 2 },
	{ 12, "12-dup-far-other-type.gguf", b_dup_key, 3 },
	{ 15, "15-str-nul-ctrl.gguf", b_str_value, 0 },
	{ 15, "15-str-bad-utf8.gguf", b_str_value, 1 },
	{ 15, "15-str-16mib-braces.gguf", b_str_value, 2 },
	{ 15, "15-str-c1-ctrl.gguf", b_str_value, 3 },
	{ 15, "15-str-empty.gguf", b_str_value, 4 },
	{ 16, "16-bool-array-0x80.gguf", b_bool_arr, 0 },
	{ 17, "17-nested-1100-deep.gguf", b_raw, 9 },
	{ 21, "21-arr-5e7-u8-69-bytes.gguf", b_raw, 10 },
	{ 23, "23-strarr-10^6-empty.gguf", b_many_strings, 0 },
	{ 24, "24-align-string.gguf", b_align_type, 0 },
	{ 24, "24-align-uint64.gguf", b_align_type, 1 },
	{ 24, "24-align-uint16.gguf", b_align_type, 2 },
	{ 24, "24-align-bool.gguf", b_align_type, 3 },
	{ 24, "24-align-array.gguf", b_align_type, 4 },
	{ 24, "24-align-int32-first.gguf", b_align_type, 5 },
	{ 25, "25-align-1.gguf", b_align_ok, 1 },
	{ 25, "25-align-64.gguf", b_align_ok, 64 },
	{ 25, "25-align-1mib.gguf", b_align_ok, 1 << 20 },
	{ 29, "29-arch-missing.gguf", b_arch, 0 },
	{ 29, "29-arch-1mib.gguf", b_arch, 1 },
	{ 29, "29-arch-format.gguf", b_arch, 2 },
	{ 29, "29-arch-path.gguf", b_arch, 3 },
	{ 29, "29-arch-escapes.gguf", b_arch, 4 },
	{ 29, "29-arch-empty.gguf", b_arch, 5 },
	{ 31, "31-template-ssti.gguf", b_template, 0 },
	{ 31, "31-template-10mb.gguf", b_template, 1 },
	{ 31, "31-template-loop.gguf", b_template, 2 },
	{ 32, "32-vocab-byte-tokens.gguf", b_vocab, 0 },
	{ 32, "32-vocab-token-2^31-bytes.gguf", b_vocab, 1 },
	{ 32, "32-vocab-token-2^32+6-bytes.gguf", b_vocab, 2 },
	{ 34, "34-name-63.gguf", b_tensor_name, 0 },
	{ 34, "34-name-64.gguf", b_tensor_name, 1 },
	{ 34, "34-name-4096.gguf", b_tensor_name, 2 },
	{ 34, "34-name-control-byte.gguf", b_tensor_name, 3 },
	{ 34, "34-name-utf8.gguf", b_tensor_name, 4 },
	{ 34, "34-name-c1-invalid-utf8.gguf", b_tensor_name, 5 },
	{ 35, "35-dup-tensor.gguf", b_dup_tensor, 0 },
	{ 35, "35-dup-tensor-far.gguf", b_dup_tensor, 1 },
	{ 49, "49-short-by-1.gguf", b_short_data, 0 },
	{ 49, "49-no-data.gguf", b_short_data, 1 },
	{ 49, "49-q4-short-by-1.gguf", b_short_data, 2 },
	{ 49, "49-no-final-padding.gguf", b_short_data, 3 },
	{ 50, "50-i8-2x-0x7fffffffffffffc0.gguf", b_huge_tensors, 0 },
	{ 51, "51-offsets-sum-past-2^64.gguf", b_huge_tensors, 1 },
	{ 52, "52-infos-end-at-eof.gguf", b_infos_at_eof, 0 },
	{ 52, "52-empty-tensor-infos-end-at-eof.gguf", b_infos_at_eof, 1 },
	{ 54, "54-race-source.gguf", b_race_source, 0 },
	{ 55, "55-trailing-zeros.gguf", b_trailing, 0 },
	{ 55, "55-trailing-garbage.gguf", b_trailing, 1 },
	{ 55, "55-trailing-second-gguf.gguf", b_trailing, 2 },
	{ 55, "55-trailing-hostile-header.gguf", b_trailing, 3 },
	{ 56, "56-ok-00001-of-00003.gguf", b_split, SPLIT_OK * 16 + 0 },
	{ 56, "56-ok-00002-of-00003.gguf", b_split, SPLIT_OK * 16 + 1 },
	{ 56, "56-ok-00003-of-00003.gguf", b_split, SPLIT_OK * 16 + 2 },
	{ 56, "56-count0-00001-of-00002.gguf", b_split, SPLIT_COUNT0 * 16 + 0 },
	{ 56, "56-count0-00002-of-00002.gguf", b_split, SPLIT_COUNT0 * 16 + 1 },
	{ 56, "56-count65535-00001-of-65535.gguf", b_split, SPLIT_COUNT65535 * 16 + 0 },
	{ 56, "56-no-ge-count-00001-of-00002.gguf", b_split, SPLIT_NO_GE_COUNT * 16 + 0 },
	{ 56, "56-no-ge-count-00002-of-00002.gguf", b_split, SPLIT_NO_GE_COUNT * 16 + 1 },
	{ 56, "56-no-first-00001-of-00002.gguf", b_split, SPLIT_NO_FIRST * 16 + 0 },
	{ 56, "56-no-first-00002-of-00002.gguf", b_split, SPLIT_NO_FIRST * 16 + 1 },
	{ 56, "56-missing-00001-of-00003.gguf", b_split, SPLIT_MISSING * 16 + 0 },
	{ 56, "56-missing-00003-of-00003.gguf", b_split, SPLIT_MISSING * 16 + 2 },
	{ 56, "56-total-00001-of-00002.gguf", b_split, SPLIT_TOTAL * 16 + 0 },
	{ 56, "56-total-00002-of-00002.gguf", b_split, SPLIT_TOTAL * 16 + 1 },
	{ 56, "56-dup-00001-of-00002.gguf", b_split, SPLIT_DUP * 16 + 0 },
	{ 56, "56-dup-00002-of-00002.gguf", b_split, SPLIT_DUP * 16 + 1 },
	{ 56, "56-count-differs-00001-of-00002.gguf", b_split, SPLIT_COUNT_DIFFERS * 16 + 0 },
	{ 56, "56-count-differs-00002-of-00002.gguf", b_split, SPLIT_COUNT_DIFFERS * 16 + 1 },
	{ 56, "56-noname.gguf", b_split, SPLIT_NONAME * 16 + 0 },
	{ 56, "56-count-u32-00001-of-00002.gguf", b_split, SPLIT_COUNT_U32 * 16 + 0 },
	{ 56, "56-count-u32-00002-of-00002.gguf", b_split, SPLIT_COUNT_U32 * 16 + 1 },
	{ 56, "56-single-00001-of-00001.gguf", b_split, SPLIT_SINGLE * 16 + 0 },
	{ 56, "56-total-u32-00001-of-00002.gguf", b_split, SPLIT_TOTAL_U32 * 16 + 0 },
	{ 56, "56-total-u32-00002-of-00002.gguf", b_split, SPLIT_TOTAL_U32 * 16 + 1 },
	{ 57, "57-kv-10^6.gguf", b_million, 0 },
	{ 57, "57-tensors-10^6.gguf", b_million, 1 },
};

/* The cuts of the truncation sweep that become files: some lengths up to
 * 24, one byte into each field of the header, and around the data. (The
 * unit test sweeps every length.) Returns the count written to cuts[]. */
static size_t sweep_cuts(uint64_t *cuts, size_t max)
{
	struct hostile_file f;
	struct hb b;
	size_t n = 0;

	memset(&f, 0, sizeof(f));
	sbuf_init(&f.data, HOSTILE_SBUF_CAP);
	hb_init(&b, &f);
	sweep_model(&b);
	hb_write(&b, UINT64_MAX);
	if (!b.err) {
		static const uint64_t small[] = { 0, 1, 3, 4, 5, 7, 8, 15, 16, 23 };
		uint64_t extra[3] = { b.data_off - 1, b.data_off, f.data.len - 1 };

		for (size_t i = 0; i < ARRAY_SIZE(small) && n < max; i++)
			cuts[n++] = small[i];
		/* inside each field of the header, and where the data starts
		 * and ends */
		for (size_t i = 0; i < b.n_marks + ARRAY_SIZE(extra); i++) {
			uint64_t c = i < b.n_marks ? b.marks[i].off + 1 : extra[i - b.n_marks];
			bool seen = false;

			if (i < b.n_marks && b.marks[i].off >= b.data_off)
				continue;
			for (size_t k = 0; k < n; k++)
				seen |= cuts[k] == c;
			if (!seen && c < f.data.len && n < max)
				cuts[n++] = c;
		}
	}
	hb_end(&b);
	sbuf_release(&f.data);
	return n;
}

struct order {
	struct hostile_entry e;
	size_t seq;
};

static int order_cmp(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->e.number != y->e.number)
		return x->e.number < y->e.number ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int hostile_entries(struct hostile_entry **ret, size_t *ret_n)
{
	uint64_t cuts[256];
	size_t n_cuts = sweep_cuts(cuts, ARRAY_SIZE(cuts));
	const char *fl = getenv("HOSTILE_FLOOD");
	/* on by default: 100,000 keys whose hashes collide; the sorted index
	 * keeps them linear-logarithmic (HOSTILE_FLOOD=0 turns it off) */
	uint64_t flood = fl ? strtoull(fl, NULL, 10) : 200000;
	size_t total = n_cuts + ARRAY_SIZE(patch_cases) + ARRAY_SIZE(shape_cases) +
		       ARRAY_SIZE(micro_cases) + ARRAY_SIZE(named_cases) + 2;
	struct order *o = calloc(total, sizeof(*o));
	struct hostile_entry *out = calloc(total, sizeof(*out));
	size_t n = 0;

	if (!o || !out || n_cuts == 0) {
		free(o);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_cuts; i++, n++) {
		o[n].e.number = 1;
		snprintf(o[n].e.name, HOSTILE_NAME_MAX, "01-cut-%05llu.gguf",
			 (unsigned long long)cuts[i]);
		o[n].e.build = b_prefix;
		o[n].e.arg = (int64_t)cuts[i];
	}
	for (size_t i = 0; i < ARRAY_SIZE(patch_cases); i++, n++) {
		o[n].e.number = patch_cases[i].number;
		snprintf(o[n].e.name, HOSTILE_NAME_MAX, "%s.gguf", patch_cases[i].name);
		o[n].e.build = b_patch;
		o[n].e.arg = (int64_t)i;
	}
	for (size_t i = 0; i < ARRAY_SIZE(shape_cases); i++, n++) {
		o[n].e.number = shape_cases[i].number;
		snprintf(o[n].e.name, HOSTILE_NAME_MAX, "%s.gguf", shape_cases[i].name);
		o[n].e.build = b_shape;
		o[n].e.arg = (int64_t)i;
	}
	for (size_t i = 0; i < ARRAY_SIZE(micro_cases); i++, n++) {
		o[n].e.number = micro_cases[i].number;
		snprintf(o[n].e.name, HOSTILE_NAME_MAX, "%s.gguf", micro_cases[i].name);
		o[n].e.build = b_micro;
		o[n].e.arg = (int64_t)i;
	}
	for (size_t i = 0; i < ARRAY_SIZE(named_cases); i++, n++) {
		o[n].e.number = named_cases[i].number;
		snprintf(o[n].e.name, HOSTILE_NAME_MAX, "%s", named_cases[i].name);
		o[n].e.build = named_cases[i].build;
		o[n].e.arg = named_cases[i].arg;
	}
	if (flood > 0 && n + 2 <= total) {
		for (int k = 0; k < 2; k++, n++) {
			o[n].e.number = 57;
			snprintf(o[n].e.name, HOSTILE_NAME_MAX, "57-%s-hash-flood-%llu.gguf",
				 k ? "tensors" : "kv", (unsigned long long)flood);
			o[n].e.build = b_flood;
			o[n].e.arg = (int64_t)(2 * flood + (uint64_t)k);
		}
	}
	for (size_t i = 0; i < n; i++)
		o[i].seq = i;
	qsort(o, n, sizeof(*o), order_cmp);
	for (size_t i = 0; i < n; i++)
		out[i] = o[i].e;
	free(o);
	*ret = out;
	*ret_n = n;
	return 0;
}

int hostile_build(const struct hostile_entry *e, struct hostile_file *f)
{
	int err;

	memset(f, 0, sizeof(*f));
	sbuf_init(&f->data, HOSTILE_SBUF_CAP);
	f->number = e->number;
	snprintf(f->name, sizeof(f->name), "%s", e->name);
	f->err_off = HOSTILE_ANY_OFFSET;
	f->listed = true;
	err = e->build(f, e->arg);
	if (err < 0)
		return err;
	if (f->size < f->data.len)
		return -EINVAL;
	if (!f->inspect && f->listed)
		f->inspect = f->ok ? "valid" : "invalid";
	return 0;
}

void hostile_file_release(struct hostile_file *f)
{
	sbuf_release(&f->data);
}

int hostile_write_file(const char *dir, const struct hostile_file *f)
{
	size_t plen = strlen(dir) + strlen(f->name) + 2;
	char *path = malloc(plen);
	const char *p;
	size_t left;
	int fd, e = 0;

	if (!path)
		return -ENOMEM;
	snprintf(path, plen, "%s/%s", dir, f->name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return -errno;
	p = f->data.buf;
	left = f->data.len;
	while (left) {
		ssize_t w = write(fd, p, left);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			e = -errno;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (!e && ftruncate(fd, (off_t)f->size) < 0)
		e = -errno;
	if (close(fd) < 0 && !e)
		e = -errno;
	return e;
}
