/* test-ggml-type.c: unit tests for the ggml type table, checked tensor sizes and llama.cpp file type names. */
#include "base/compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gguf/ggml-type.h"

#define SENTINEL UINT64_C(0xdeadbeefcafef00d)

/*
 * Expected entries, written out by hand from ggml.h (ids), ggml.c
 * (type_traits names) and ggml-common.h (block structs, QK_K = 256); the
 * byte counts are the struct fields added up, as noted per line.
 */
struct want_type {
	uint32_t id;
	const char *name;
	uint32_t blck;
	uint32_t size;
	bool removed;
};

static const struct want_type want_types[] = {
	{ 0, "f32", 1, 4, false },
	{ 1, "f16", 1, 2, false },
	{ 2, "q4_0", 32, 18, false },      /* d 2 + qs 16 */
	{ 3, "q4_1", 32, 20, false },      /* d 2 + m 2 + qs 16 */
	{ 4, "q4_2", 0, 0, true },
	{ 5, "q4_3", 0, 0, true },
	{ 6, "q5_0", 32, 22, false },      /* d 2 + qh 4 + qs 16 */
	{ 7, "q5_1", 32, 24, false },      /* d 2 + m 2 + qh 4 + qs 16 */
	{ 8, "q8_0", 32, 34, false },      /* d 2 + qs 32 */
	{ 9, "q8_1", 32, 36, false },      /* d 2 + s 2 + qs 32 */
	{ 10, "q2_K", 256, 84, false },    /* scales 16 + qs 64 + d 2 + dmin 2 */
	{ 11, "q3_K", 256, 110, false },   /* hmask 32 + qs 64 + scales 12 + d 2 */
	{ 12, "q4_K", 256, 144, false },   /* d 2 + dmin 2 + scales 12 + qs 128 */
	{ 13, "q5_K", 256, 176, false },   /* 4 + scales 12 + qh 32 + qs 128 */
	{ 14, "q6_K", 256, 210, false },   /* ql 128 + qh 64 + scales 16 + d 2 */
	{ 15, "q8_K", 256, 292, false },   /* d 4 (float) + qs 256 + bsums 32 */
	{ 16, "iq2_xxs", 256, 66, false }, /* d 2 + qs 32 x u16 */
	{ 17, "iq2_xs", 256, 74, false },  /* d 2 + qs 64 + scales 8 */
	{ 18, "iq3_xxs", 256, 98, false }, /* d 2 + qs 96 */
	{ 19, "iq1_s", 256, 50, false },   /* d 2 + qs 32 + qh 8 x u16 */
	{ 20, "iq4_nl", 32, 18, false },   /* d 2 + qs 16 */
	{ 21, "iq3_s", 256, 110, false },  /* d 2 + qs 64 + qh 8 + signs 32 + scales 4 */
	{ 22, "iq2_s", 256, 82, false },   /* d 2 + qs 64 + qh 8 + scales 8 */
	{ 23, "iq4_xs", 256, 136, false }, /* d 2 + scales_h 2 + scales_l 4 + qs 128 */
	{ 24, "i8", 1, 1, false },
	{ 25, "i16", 1, 2, false },
	{ 26, "i32", 1, 4, false },
	{ 27, "i64", 1, 8, false },
	{ 28, "f64", 1, 8, false },
	{ 29, "iq1_m", 256, 56, false },   /* qs 32 + qh 16 + scales 8 */
	{ 30, "bf16", 1, 2, false },
	{ 31, "q4_0_4x4", 0, 0, true },
	{ 32, "q4_0_4x8", 0, 0, true },
	{ 33, "q4_0_8x8", 0, 0, true },
	{ 34, "tq1_0", 256, 54, false },   /* qs 48 + qh 4 + d 2 */
	{ 35, "tq2_0", 256, 66, false },   /* qs 64 + d 2 */
	{ 36, "iq4_nl_4x4", 0, 0, true },
	{ 37, "iq4_nl_4x8", 0, 0, true },
	{ 38, "iq4_nl_8x8", 0, 0, true },
	{ 39, "mxfp4", 32, 17, false },    /* e 1 + qs 16 */
	{ 40, "nvfp4", 64, 36, false },    /* d 4 x ue4m3 + qs 32 */
	{ 41, "q1_0", 128, 18, false },    /* d 2 + qs 16 */
	{ 42, "q2_0", 64, 18, false },     /* d 2 + qs 16 */
};

static void test_type_count(void **state)
{
	(void)state;
	assert_int_equal(GGML_TYPE_ID_COUNT, 43);
	assert_int_equal(ARRAY_SIZE(want_types), GGML_TYPE_ID_COUNT);
}

static void test_type_enum_ids(void **state)
{
	(void)state;
	assert_int_equal(GGML_TYPE_F32, 0);
	assert_int_equal(GGML_TYPE_F16, 1);
	assert_int_equal(GGML_TYPE_Q4_0, 2);
	assert_int_equal(GGML_TYPE_Q4_1, 3);
	assert_int_equal(GGML_TYPE_Q5_0, 6);
	assert_int_equal(GGML_TYPE_Q5_1, 7);
	assert_int_equal(GGML_TYPE_Q8_0, 8);
	assert_int_equal(GGML_TYPE_Q8_1, 9);
	assert_int_equal(GGML_TYPE_Q2_K, 10);
	assert_int_equal(GGML_TYPE_Q3_K, 11);
	assert_int_equal(GGML_TYPE_Q4_K, 12);
	assert_int_equal(GGML_TYPE_Q5_K, 13);
	assert_int_equal(GGML_TYPE_Q6_K, 14);
	assert_int_equal(GGML_TYPE_Q8_K, 15);
	assert_int_equal(GGML_TYPE_IQ2_XXS, 16);
	assert_int_equal(GGML_TYPE_IQ2_XS, 17);
	assert_int_equal(GGML_TYPE_IQ3_XXS, 18);
	assert_int_equal(GGML_TYPE_IQ1_S, 19);
	assert_int_equal(GGML_TYPE_IQ4_NL, 20);
	assert_int_equal(GGML_TYPE_IQ3_S, 21);
	assert_int_equal(GGML_TYPE_IQ2_S, 22);
	assert_int_equal(GGML_TYPE_IQ4_XS, 23);
	assert_int_equal(GGML_TYPE_I8, 24);
	assert_int_equal(GGML_TYPE_I16, 25);
	assert_int_equal(GGML_TYPE_I32, 26);
	assert_int_equal(GGML_TYPE_I64, 27);
	assert_int_equal(GGML_TYPE_F64, 28);
	assert_int_equal(GGML_TYPE_IQ1_M, 29);
	assert_int_equal(GGML_TYPE_BF16, 30);
	assert_int_equal(GGML_TYPE_TQ1_0, 34);
	assert_int_equal(GGML_TYPE_TQ2_0, 35);
	assert_int_equal(GGML_TYPE_MXFP4, 39);
	assert_int_equal(GGML_TYPE_NVFP4, 40);
	assert_int_equal(GGML_TYPE_Q1_0, 41);
	assert_int_equal(GGML_TYPE_Q2_0, 42);
}

/* One check per entry: name, block size, bytes per block, removed. */
static void test_type_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(want_types); i++) {
		const struct want_type *w = &want_types[i];
		const struct ggml_type_info *t = ggml_type_get(w->id);

		assert_int_equal(w->id, i);
		assert_non_null(t);
		assert_string_equal(t->name, w->name);
		assert_int_equal(t->blck_size, w->blck);
		assert_int_equal(t->type_size, w->size);
		assert_int_equal(t->removed, w->removed);
		assert_true(strlen(t->name) < GGML_TYPE_NAME_SIZE);
	}
}

static void test_type_removed_ids(void **state)
{
	static const uint32_t gone[] = { 4, 5, 31, 32, 33, 36, 37, 38 };
	uint64_t bytes = SENTINEL;
	int64_t ne[2] = { 32, 2 };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(gone); i++) {
		const struct ggml_type_info *t = ggml_type_get(gone[i]);

		assert_non_null(t);
		assert_true(t->removed);
		assert_int_equal(t->blck_size, 0);
		assert_int_equal(t->type_size, 0);
		assert_int_equal(ggml_type_find(t->name), -ENOENT);
		assert_int_equal(ggml_type_row_size(gone[i], 32, &bytes), -EINVAL);
		assert_int_equal(ggml_type_row_size(gone[i], 0, &bytes), -EINVAL);
		assert_int_equal(ggml_type_tensor_size(gone[i], ne, 2, &bytes), -EINVAL);
		assert_true(bytes == SENTINEL);
	}
}

static void test_type_out_of_range(void **state)
{
	uint64_t bytes = SENTINEL;
	int64_t ne[1] = { 32 };

	(void)state;
	assert_null(ggml_type_get(GGML_TYPE_ID_COUNT));
	assert_null(ggml_type_get(43));
	assert_null(ggml_type_get(44));
	assert_null(ggml_type_get(1024));
	assert_null(ggml_type_get(UINT32_MAX));
	assert_int_equal(ggml_type_row_size(43, 32, &bytes), -EINVAL);
	assert_int_equal(ggml_type_row_size(UINT32_MAX, 32, &bytes), -EINVAL);
	assert_int_equal(ggml_type_tensor_size(43, ne, 1, &bytes), -EINVAL);
	assert_int_equal(ggml_type_tensor_size(UINT32_MAX, ne, 1, &bytes), -EINVAL);
	assert_true(bytes == SENTINEL);
}

static void upper(char *dst, const char *src)
{
	for (; *src; src++, dst++)
		*dst = (*src >= 'a' && *src <= 'z') ? (char)(*src - 'a' + 'A') : *src;
	*dst = '\0';
}

static void test_type_find(void **state)
{
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(want_types); i++) {
		const struct want_type *w = &want_types[i];

		if (w->removed)
			continue;
		assert_int_equal(ggml_type_find(w->name), (int)w->id);
		upper(buf, w->name);
		assert_int_equal(ggml_type_find(buf), (int)w->id);
	}
	assert_int_equal(ggml_type_find("q4_k"), GGML_TYPE_Q4_K);
	assert_int_equal(ggml_type_find("Q4_K"), GGML_TYPE_Q4_K);
	assert_int_equal(ggml_type_find("IQ2_xxs"), GGML_TYPE_IQ2_XXS);
	assert_int_equal(ggml_type_find("BF16"), GGML_TYPE_BF16);
	assert_int_equal(ggml_type_find("NVFP4"), GGML_TYPE_NVFP4);
	assert_int_equal(ggml_type_find("Q2_0"), GGML_TYPE_Q2_0);

	assert_int_equal(ggml_type_find(NULL), -ENOENT);
	assert_int_equal(ggml_type_find(""), -ENOENT);
	assert_int_equal(ggml_type_find("q4"), -ENOENT);
	assert_int_equal(ggml_type_find("q4_k "), -ENOENT);
	assert_int_equal(ggml_type_find("q4_k_m"), -ENOENT);
	assert_int_equal(ggml_type_find("f32x"), -ENOENT);
	assert_int_equal(ggml_type_find("DEPRECATED"), -ENOENT);
	assert_int_equal(ggml_type_find("q4_0_4_4"), -ENOENT);
	assert_int_equal(ggml_type_find("Q4_0_4X4"), -ENOENT);
}

static void test_row_size(void **state)
{
	uint64_t bytes;

	(void)state;
	assert_int_equal(ggml_type_row_size(GGML_TYPE_F32, 4096, &bytes), 0);
	assert_true(bytes == 16384);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_BF16, 7, &bytes), 0);
	assert_true(bytes == 14);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q4_K, 4096, &bytes), 0);
	assert_true(bytes == 16 * 144);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q8_0, 1152, &bytes), 0);
	assert_true(bytes == 36 * 34);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_NVFP4, 128, &bytes), 0);
	assert_true(bytes == 72);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q1_0, 4096, &bytes), 0);
	assert_true(bytes == 32 * 18);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q2_0, 4096, &bytes), 0);
	assert_true(bytes == 64 * 18);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_TQ1_0, 2560, &bytes), 0);
	assert_true(bytes == 10 * 54);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q6_K, 0, &bytes), 0);
	assert_true(bytes == 0);

	/* The largest Q8_0 row an int64_t ne0 can describe still fits:
	 * (2^63 - 32) / 32 = 2^58 - 1 blocks of 34 bytes. */
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q8_0, INT64_MAX - 31, &bytes), 0);
	assert_true(bytes == UINT64_C(9799832789158199262));
	/* F32 up to 2^62 - 1 elements fits (2^64 - 4 bytes). */
	assert_int_equal(ggml_type_row_size(GGML_TYPE_F32, (INT64_C(1) << 62) - 1, &bytes), 0);
	assert_true(bytes == UINT64_MAX - 3);
}

static void test_row_size_errors(void **state)
{
	uint64_t bytes = SENTINEL;

	(void)state;
	/* ne0 not a whole number of blocks */
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q4_K, 4095, &bytes), -EDOM);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q4_K, 128, &bytes), -EDOM);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q8_0, 33, &bytes), -EDOM);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q1_0, 64, &bytes), -EDOM);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_NVFP4, 32, &bytes), -EDOM);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q2_0, 32, &bytes), -EDOM);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q8_0, INT64_MAX, &bytes), -EDOM);
	/* negative ne0 */
	assert_int_equal(ggml_type_row_size(GGML_TYPE_F32, -1, &bytes), -EINVAL);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_Q8_0, -32, &bytes), -EINVAL);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_F32, INT64_MIN, &bytes), -EINVAL);
	/* bytes past 2^64 */
	assert_int_equal(ggml_type_row_size(GGML_TYPE_F32, INT64_C(1) << 62, &bytes), -EOVERFLOW);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_F64, INT64_C(1) << 61, &bytes), -EOVERFLOW);
	assert_int_equal(ggml_type_row_size(GGML_TYPE_I64, INT64_MAX, &bytes), -EOVERFLOW);
	assert_true(bytes == SENTINEL);
	/* no place for the answer */
	assert_int_equal(ggml_type_row_size(GGML_TYPE_F32, 4, NULL), -EINVAL);
}

static void test_tensor_size(void **state)
{
	uint64_t bytes;
	int64_t ne4[4] = { 4096, 14336, 1, 1 };
	int64_t f16[4] = { 128, 32, 8, 2 };
	int64_t part[4] = { 4096, 3, -1, -7 }; /* ne[2], ne[3] beyond n_dims */

	(void)state;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q4_K, ne4, 4, &bytes), 0);
	assert_true(bytes == UINT64_C(2304) * 14336);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q4_K, ne4, 2, &bytes), 0);
	assert_true(bytes == UINT64_C(2304) * 14336);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F16, f16, 4, &bytes), 0);
	assert_true(bytes == UINT64_C(128) * 32 * 8 * 2 * 2);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F16, f16, 3, &bytes), 0);
	assert_true(bytes == UINT64_C(128) * 32 * 8 * 2);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F16, f16, 1, &bytes), 0);
	assert_true(bytes == 256);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, part, 2, &bytes), 0);
	assert_true(bytes == UINT64_C(128) * 34 * 3);

	/* n_dims 0: a scalar, one element; ne may be NULL */
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F32, NULL, 0, &bytes), 0);
	assert_true(bytes == 4);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_I64, ne4, 0, &bytes), 0);
	assert_true(bytes == 8);
}

static void test_tensor_size_zero_dims(void **state)
{
	uint64_t bytes;
	int64_t a[2] = { 4096, 0 };
	int64_t b[1] = { 0 };
	int64_t c[4] = { INT64_MAX, INT64_MAX, 0, INT64_MAX };
	int64_t d[2] = { 4095, 0 };
	int64_t e[3] = { 0, 5, -1 };
	int64_t f[4] = { 0, 0, 0, 0 };

	(void)state;
	bytes = SENTINEL;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q4_K, a, 2, &bytes), 0);
	assert_true(bytes == 0);
	bytes = SENTINEL;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, b, 1, &bytes), 0);
	assert_true(bytes == 0);
	/* Zero elements in all: the huge dims do not overflow anything. */
	bytes = SENTINEL;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F64, c, 4, &bytes), 0);
	assert_true(bytes == 0);
	bytes = SENTINEL;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q2_0, f, 4, &bytes), 0);
	assert_true(bytes == 0);

	/* ne0 is still checked against the block size ... */
	bytes = SENTINEL;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q4_K, d, 2, &bytes), -EDOM);
	/* ... and every dim against a sign. */
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F32, e, 3, &bytes), -EINVAL);
	assert_true(bytes == SENTINEL);
}

static void test_tensor_size_errors(void **state)
{
	uint64_t bytes = SENTINEL;
	int64_t neg0[1] = { -1 };
	int64_t neg1[2] = { 32, -5 };
	int64_t neg3[4] = { 32, 1, 1, INT64_MIN };
	int64_t ok[4] = { 32, 2, 2, 2 };
	int64_t part[2] = { 48, 2 };

	(void)state;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F32, neg0, 1, &bytes), -EINVAL);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, neg1, 2, &bytes), -EINVAL);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, neg3, 4, &bytes), -EINVAL);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, ok, 5, &bytes), -EINVAL);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, ok, UINT32_MAX, &bytes), -EINVAL);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, NULL, 2, &bytes), -EINVAL);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, part, 2, &bytes), -EDOM);
	/* a scalar of a block type is a partial block */
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q4_0, NULL, 0, &bytes), -EDOM);
	assert_true(bytes == SENTINEL);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, ok, 4, NULL), -EINVAL);
}

/*
 * The GHSA-96jg-mvhq-q7q7 / CVE-2026-33298 shapes: a Q8_0 token_embd with
 * a forged ne1. Each case is checked against the exact arithmetic.
 */
static void test_tensor_size_cve_shape(void **state)
{
	uint64_t bytes;
	/* The published PoC: ne1 = 2^42 + 1. 1152 / 32 = 36 blocks of 34
	 * bytes = 1224 per row; 1224 * (2^42 + 1) = 5383208929592520, about
	 * 2^52.3: no 64-bit overflow, just an absurd size to compare with the
	 * file. */
	int64_t poc[2] = { 1152, (INT64_C(1) << 42) + 1 };
	/* ne0 = 2^40 * 32 = 2^45: a row is 2^40 blocks = 34 * 2^40 bytes.
	 * With ne1 = 2^24 the bytes are 34 * 2^64, which an unchecked
	 * multiply wraps to exactly 0. The element count, 2^69, already
	 * overflows. */
	int64_t wrap[2] = { INT64_C(1) << 45, INT64_C(1) << 24 };
	/* ne1 = 493447 = floor(2^64 / (34 * 2^40)): the bytes,
	 * 18446724282500251648, would still fit a uint64_t, but the element
	 * count 2^45 * 493447 is past INT64_MAX, which ggml cannot count. */
	int64_t edge[2] = { INT64_C(1) << 45, 493447 };
	/* The largest ne1 that keeps 2^45 * ne1 <= INT64_MAX is 2^18 - 1:
	 * (2^18 - 1) * 34 * 2^40 bytes. */
	int64_t fits[2] = { INT64_C(1) << 45, (INT64_C(1) << 18) - 1 };
	int64_t over[2] = { INT64_C(1) << 45, INT64_C(1) << 18 };

	(void)state;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, poc, 2, &bytes), 0);
	assert_true(bytes == UINT64_C(5383208929592520));

	bytes = SENTINEL;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, wrap, 2, &bytes), -EOVERFLOW);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, edge, 2, &bytes), -EOVERFLOW);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, over, 2, &bytes), -EOVERFLOW);
	assert_true(bytes == SENTINEL);

	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_Q8_0, fits, 2, &bytes), 0);
	assert_true(bytes == ((UINT64_C(1) << 18) - 1) * 34 * (UINT64_C(1) << 40));
}

/* Where the element count fits an int64_t but the bytes do not fit 64
 * bits, and the other way round. */
static void test_tensor_size_overflow(void **state)
{
	uint64_t bytes = SENTINEL;
	/* F64: 2^61 elements fit, 2^64 bytes do not */
	int64_t f64_over[2] = { INT64_C(1) << 60, 2 };
	int64_t f64_fits[2] = { INT64_C(1) << 59, 2 };
	/* F32 spread over all four dims: 2^62 elements, 2^64 bytes */
	int64_t f32_over[4] = { INT64_C(1) << 20, INT64_C(1) << 20, INT64_C(1) << 20, 4 };
	/* I8: INT64_MAX * 2 bytes would fit a uint64_t, the count does not
	 * fit an int64_t (the ggml_nelements wrap of llama.cpp #27203). */
	int64_t i8_over[2] = { INT64_MAX, 2 };
	int64_t i8_max[1] = { INT64_MAX };
	int64_t all_max[4] = { INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX };

	(void)state;
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F64, f64_over, 2, &bytes), -EOVERFLOW);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F32, f32_over, 4, &bytes), -EOVERFLOW);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_I8, i8_over, 2, &bytes), -EOVERFLOW);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_I8, all_max, 4, &bytes), -EOVERFLOW);
	assert_true(bytes == SENTINEL);

	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_F64, f64_fits, 2, &bytes), 0);
	assert_true(bytes == UINT64_C(1) << 63);
	assert_int_equal(ggml_type_tensor_size(GGML_TYPE_I8, i8_max, 1, &bytes), 0);
	assert_true(bytes == (uint64_t)INT64_MAX);
}

struct want_ftype {
	uint32_t value;
	const char *name;
};

/* enum llama_ftype of llama.h, by hand. */
static const struct want_ftype want_ftypes[] = {
	{ 0, "ALL_F32" },
	{ 1, "F16" },
	{ 2, "Q4_0" },
	{ 3, "Q4_1" },
	{ 7, "Q8_0" },
	{ 8, "Q5_0" },
	{ 9, "Q5_1" },
	{ 10, "Q2_K" },
	{ 11, "Q3_K_S" },
	{ 12, "Q3_K_M" },
	{ 13, "Q3_K_L" },
	{ 14, "Q4_K_S" },
	{ 15, "Q4_K_M" },
	{ 16, "Q5_K_S" },
	{ 17, "Q5_K_M" },
	{ 18, "Q6_K" },
	{ 19, "IQ2_XXS" },
	{ 20, "IQ2_XS" },
	{ 21, "Q2_K_S" },
	{ 22, "IQ3_XS" },
	{ 23, "IQ3_XXS" },
	{ 24, "IQ1_S" },
	{ 25, "IQ4_NL" },
	{ 26, "IQ3_S" },
	{ 27, "IQ3_M" },
	{ 28, "IQ2_S" },
	{ 29, "IQ2_M" },
	{ 30, "IQ4_XS" },
	{ 31, "IQ1_M" },
	{ 32, "BF16" },
	{ 36, "TQ1_0" },
	{ 37, "TQ2_0" },
	{ 38, "MXFP4_MOE" },
	{ 39, "NVFP4" },
	{ 40, "Q1_0" },
	{ 41, "Q2_0" },
};

static void test_ftype_names(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(want_ftypes); i++) {
		const char *name = llama_ftype_name(want_ftypes[i].value);

		assert_non_null(name);
		assert_string_equal(name, want_ftypes[i].name);
	}
}

static void test_ftype_unknown(void **state)
{
	/* removed: 4 Q4_1_SOME_F16, 5 Q4_2, 6 Q4_3, 33-35 Q4_0_4_4/4_8/8_8;
	 * then past the end, and the GUESSED flag alone and on a real type */
	static const uint32_t none[] = {
		4, 5, 6, 33, 34, 35, 42, 43, 100, 1024, 1024 | 15, UINT32_MAX,
	};
	uint32_t v;
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(none); i++)
		assert_null(llama_ftype_name(none[i]));
	/* exactly the hand-written values have names below 64 */
	for (v = 0; v < 64; v++) {
		if (llama_ftype_name(v))
			n++;
	}
	assert_int_equal(n, ARRAY_SIZE(want_ftypes));
}

static void test_ftype_find(void **state)
{
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(want_ftypes); i++) {
		const char *name = want_ftypes[i].name;
		size_t j, len = strlen(name);

		assert_int_equal(llama_ftype_find(name), (int)want_ftypes[i].value);
		for (j = 0; j <= len; j++)
			buf[j] = (name[j] >= 'A' && name[j] <= 'Z') ?
				(char)(name[j] - 'A' + 'a') : name[j];
		assert_int_equal(llama_ftype_find(buf), (int)want_ftypes[i].value);
	}
	assert_int_equal(llama_ftype_find("q4_k_m"), 15);
	assert_int_equal(llama_ftype_find("Mxfp4_MoE"), 38);
	assert_int_equal(llama_ftype_find("all_f32"), 0);

	assert_int_equal(llama_ftype_find(NULL), -ENOENT);
	assert_int_equal(llama_ftype_find(""), -ENOENT);
	assert_int_equal(llama_ftype_find("MOSTLY_Q4_K_M"), -ENOENT);
	assert_int_equal(llama_ftype_find("LLAMA_FTYPE_MOSTLY_Q4_K_M"), -ENOENT);
	assert_int_equal(llama_ftype_find("Q4_K"), -ENOENT);
	assert_int_equal(llama_ftype_find("Q4_1_SOME_F16"), -ENOENT);
	assert_int_equal(llama_ftype_find("Q4_0_4_4"), -ENOENT);
	assert_int_equal(llama_ftype_find("GUESSED"), -ENOENT);
	assert_int_equal(llama_ftype_find("F32"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_count),
		cmocka_unit_test(test_type_enum_ids),
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_type_removed_ids),
		cmocka_unit_test(test_type_out_of_range),
		cmocka_unit_test(test_type_find),
		cmocka_unit_test(test_row_size),
		cmocka_unit_test(test_row_size_errors),
		cmocka_unit_test(test_tensor_size),
		cmocka_unit_test(test_tensor_size_zero_dims),
		cmocka_unit_test(test_tensor_size_errors),
		cmocka_unit_test(test_tensor_size_cve_shape),
		cmocka_unit_test(test_tensor_size_overflow),
		cmocka_unit_test(test_ftype_names),
		cmocka_unit_test(test_ftype_unknown),
		cmocka_unit_test(test_ftype_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
