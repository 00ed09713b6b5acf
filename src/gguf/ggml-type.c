/* ggml-type.c: the ggml tensor types, their checked sizes, and the llama.cpp file type names. */
#include "base/compat.h"

#include <errno.h>

#include "base/checked.h"
#include "gguf/ggml-type.h"

#define QK_K 256 /* elements in a k-quant super-block */

#define TYPE(n, blck, size) { .name = n, .blck_size = blck, .type_size = size, .removed = false }
#define GONE(n) { .name = n, .blck_size = 0, .type_size = 0, .removed = true }

/*
 * Indexed by type id, as ggml.h numbers them. Block sizes and bytes per
 * block follow the block structs of ggml-common.h (QK_K = 256); the byte
 * counts are spelled out as the sum of each struct's fields. Removed ids
 * carry the name ggml's type_traits gave them while they existed.
 */
static const struct ggml_type_info ggml_types[GGML_TYPE_ID_COUNT] = {
	[GGML_TYPE_F32]     = TYPE("f32", 1, 4),
	[GGML_TYPE_F16]     = TYPE("f16", 1, 2),
	[GGML_TYPE_Q4_0]    = TYPE("q4_0", 32, 2 + 16),
	[GGML_TYPE_Q4_1]    = TYPE("q4_1", 32, 2 + 2 + 16),
	[4]                 = GONE("q4_2"),
	[5]                 = GONE("q4_3"),
	[GGML_TYPE_Q5_0]    = TYPE("q5_0", 32, 2 + 4 + 16),
	[GGML_TYPE_Q5_1]    = TYPE("q5_1", 32, 2 + 2 + 4 + 16),
	[GGML_TYPE_Q8_0]    = TYPE("q8_0", 32, 2 + 32),
	[GGML_TYPE_Q8_1]    = TYPE("q8_1", 32, 2 + 2 + 32),
	[GGML_TYPE_Q2_K]    = TYPE("q2_K", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2),
	[GGML_TYPE_Q3_K]    = TYPE("q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2),
	[GGML_TYPE_Q4_K]    = TYPE("q4_K", QK_K, 2 + 2 + 12 + QK_K / 2),
	[GGML_TYPE_Q5_K]    = TYPE("q5_K", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2),
	[GGML_TYPE_Q6_K]    = TYPE("q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2),
	[GGML_TYPE_Q8_K]    = TYPE("q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2),
	[GGML_TYPE_IQ2_XXS] = TYPE("iq2_xxs", QK_K, 2 + QK_K / 8 * 2),
	[GGML_TYPE_IQ2_XS]  = TYPE("iq2_xs", QK_K, 2 + QK_K / 8 * 2 + QK_K / 32),
	[GGML_TYPE_IQ3_XXS] = TYPE("iq3_xxs", QK_K, 2 + 3 * (QK_K / 8)),
	[GGML_TYPE_IQ1_S]   = TYPE("iq1_s", QK_K, 2 + QK_K / 8 + QK_K / 32 * 2),
	[GGML_TYPE_IQ4_NL]  = TYPE("iq4_nl", 32, 2 + 16),
	[GGML_TYPE_IQ3_S]   = TYPE("iq3_s", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 8 + QK_K / 64),
	[GGML_TYPE_IQ2_S]   = TYPE("iq2_s", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 32),
	[GGML_TYPE_IQ4_XS]  = TYPE("iq4_xs", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2),
	[GGML_TYPE_I8]      = TYPE("i8", 1, 1),
	[GGML_TYPE_I16]     = TYPE("i16", 1, 2),
	[GGML_TYPE_I32]     = TYPE("i32", 1, 4),
	[GGML_TYPE_I64]     = TYPE("i64", 1, 8),
	[GGML_TYPE_F64]     = TYPE("f64", 1, 8),
	[GGML_TYPE_IQ1_M]   = TYPE("iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
	[GGML_TYPE_BF16]    = TYPE("bf16", 1, 2),
	[31]                = GONE("q4_0_4x4"),
	[32]                = GONE("q4_0_4x8"),
	[33]                = GONE("q4_0_8x8"),
	[GGML_TYPE_TQ1_0]   = TYPE("tq1_0", QK_K, (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2),
	[GGML_TYPE_TQ2_0]   = TYPE("tq2_0", QK_K, QK_K / 4 + 2),
	[36]                = GONE("iq4_nl_4x4"),
	[37]                = GONE("iq4_nl_4x8"),
	[38]                = GONE("iq4_nl_8x8"),
	[GGML_TYPE_MXFP4]   = TYPE("mxfp4", 32, 1 + 16),
	/* NVFP4: four UE4M3 scales, one per 16 elements, then 32 bytes of
	 * E2M1 nibbles. */
	[GGML_TYPE_NVFP4]   = TYPE("nvfp4", 64, 4 + 32),
	[GGML_TYPE_Q1_0]    = TYPE("q1_0", 128, 2 + 128 / 8),
	[GGML_TYPE_Q2_0]    = TYPE("q2_0", 64, 2 + 64 / 4),
};

#undef TYPE
#undef GONE

/*
 * enum llama_ftype of llama.h, indexed by value, without the LLAMA_FTYPE_
 * and MOSTLY_ prefixes. Values llama.cpp removed (4 Q4_1_SOME_F16, 5 Q4_2,
 * 6 Q4_3, 33-35 Q4_0_4_4/Q4_0_4_8/Q4_0_8_8) are left empty so they read
 * as unknown: llama.cpp itself prints them as "unknown", and a name for
 * them would let llama_ftype_find() hand out a type nothing can produce.
 * Arrays of char rather than pointers, for the reason given at
 * GGML_TYPE_NAME_SIZE.
 */
static const char llama_ftypes[][12] = {
	[0]  = "ALL_F32",
	[1]  = "F16",
	[2]  = "Q4_0",
	[3]  = "Q4_1",
	[7]  = "Q8_0",
	[8]  = "Q5_0",
	[9]  = "Q5_1",
	[10] = "Q2_K",
	[11] = "Q3_K_S",
	[12] = "Q3_K_M",
	[13] = "Q3_K_L",
	[14] = "Q4_K_S",
	[15] = "Q4_K_M",
	[16] = "Q5_K_S",
	[17] = "Q5_K_M",
	[18] = "Q6_K",
	[19] = "IQ2_XXS",
	[20] = "IQ2_XS",
	[21] = "Q2_K_S",
	[22] = "IQ3_XS",
	[23] = "IQ3_XXS",
	[24] = "IQ1_S",
	[25] = "IQ4_NL",
	[26] = "IQ3_S",
	[27] = "IQ3_M",
	[28] = "IQ2_S",
	[29] = "IQ2_M",
	[30] = "IQ4_XS",
	[31] = "IQ1_M",
	[32] = "BF16",
	[36] = "TQ1_0",
	[37] = "TQ2_0",
	[38] = "MXFP4_MOE",
	[39] = "NVFP4",
	[40] = "Q1_0",
	[41] = "Q2_0",
};

/* ASCII-only, so the answer does not depend on the locale. */
static char ascii_lower(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (char)(c - 'A' + 'a');
	return c;
}

static bool name_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		if (ascii_lower(*a) != ascii_lower(*b))
			return false;
	}
	return *a == *b;
}

/* The entry for id when ggml still accepts it, else NULL. */
static const struct ggml_type_info *live_type(uint32_t id)
{
	const struct ggml_type_info *t = ggml_type_get(id);

	if (!t || t->removed)
		return NULL;
	return t;
}

const struct ggml_type_info *ggml_type_get(uint32_t id)
{
	if (id >= GGML_TYPE_ID_COUNT)
		return NULL;
	return &ggml_types[id];
}

int ggml_type_find(const char *name)
{
	uint32_t id;

	if (!name)
		return -ENOENT;
	for (id = 0; id < GGML_TYPE_ID_COUNT; id++) {
		if (!ggml_types[id].removed && name_eq(ggml_types[id].name, name))
			return (int)id;
	}
	return -ENOENT;
}

/* Row bytes for a known live type; ne0 >= 0 already checked. */
static int row_bytes(const struct ggml_type_info *t, int64_t ne0, uint64_t *ret)
{
	uint64_t n = (uint64_t)ne0;

	if (n % t->blck_size != 0)
		return -EDOM;
	if (!ck_mul_u64(n / t->blck_size, t->type_size, ret))
		return -EOVERFLOW;
	return 0;
}

int ggml_type_row_size(uint32_t id, int64_t ne0, uint64_t *ret)
{
	const struct ggml_type_info *t = live_type(id);
	uint64_t bytes;
	int err;

	if (!t || !ret || ne0 < 0)
		return -EINVAL;
	err = row_bytes(t, ne0, &bytes);
	if (err)
		return err;
	*ret = bytes;
	return 0;
}

int ggml_type_tensor_size(uint32_t id, const int64_t *ne, uint32_t n_dims,
			  uint64_t *ret)
{
	const struct ggml_type_info *t = live_type(id);
	int64_t dim[4] = { 1, 1, 1, 1 };
	int64_t nelem = 1;
	uint64_t bytes;
	bool empty = false;
	uint32_t i;
	int err;

	if (!t || !ret || n_dims > 4 || (n_dims > 0 && !ne))
		return -EINVAL;
	for (i = 0; i < n_dims; i++) {
		if (ne[i] < 0)
			return -EINVAL;
		if (ne[i] == 0)
			empty = true;
		dim[i] = ne[i];
	}
	if ((uint64_t)dim[0] % t->blck_size != 0)
		return -EDOM;
	if (empty) {
		/* Zero elements: 0 bytes, however large the other dims. */
		*ret = 0;
		return 0;
	}

	/* ggml counts elements in an int64_t; refuse a count it cannot hold
	 * even when the byte size would fit (I8 with 2^63 elements). */
	for (i = 0; i < 4; i++) {
		if (!ck_mul_i64(nelem, dim[i], &nelem))
			return -EOVERFLOW;
	}

	err = row_bytes(t, dim[0], &bytes);
	if (err)
		return err;
	for (i = 1; i < 4; i++) {
		if (!ck_mul_u64(bytes, (uint64_t)dim[i], &bytes))
			return -EOVERFLOW;
	}
	*ret = bytes;
	return 0;
}

const char *llama_ftype_name(uint32_t ftype)
{
	if (ftype >= ARRAY_SIZE(llama_ftypes) || llama_ftypes[ftype][0] == '\0')
		return NULL;
	return llama_ftypes[ftype];
}

int llama_ftype_find(const char *name)
{
	uint32_t i;

	if (!name || !*name)
		return -ENOENT;
	for (i = 0; i < ARRAY_SIZE(llama_ftypes); i++) {
		if (llama_ftypes[i][0] != '\0' && name_eq(llama_ftypes[i], name))
			return (int)i;
	}
	return -ENOENT;
}
