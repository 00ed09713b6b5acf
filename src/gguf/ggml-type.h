/* ggml-type.h: the ggml tensor types and llama.cpp file types, as numbered by
 * ggml.h and llama.h. The ids are part of the GGUF format, so they mirror
 * ggml's exactly; ids ggml removed stay in the table, marked removed, so a
 * file that uses one is refused by name rather than by "unknown type". */
#ifndef LLMEM_GGUF_GGML_TYPE_H
#define LLMEM_GGUF_GGML_TYPE_H

#include "base/compat.h"

/* One past the highest ggml type id llmem knows (GGML_TYPE_COUNT). */
#define GGML_TYPE_ID_COUNT 43

enum ggml_type_id {
	GGML_TYPE_F32 = 0,
	GGML_TYPE_F16 = 1,
	GGML_TYPE_Q4_0 = 2,
	GGML_TYPE_Q4_1 = 3,
	GGML_TYPE_Q5_0 = 6,
	GGML_TYPE_Q5_1 = 7,
	GGML_TYPE_Q8_0 = 8,
	GGML_TYPE_Q8_1 = 9,
	GGML_TYPE_Q2_K = 10,
	GGML_TYPE_Q3_K = 11,
	GGML_TYPE_Q4_K = 12,
	GGML_TYPE_Q5_K = 13,
	GGML_TYPE_Q6_K = 14,
	GGML_TYPE_Q8_K = 15,
	GGML_TYPE_IQ2_XXS = 16,
	GGML_TYPE_IQ2_XS = 17,
	GGML_TYPE_IQ3_XXS = 18,
	GGML_TYPE_IQ1_S = 19,
	GGML_TYPE_IQ4_NL = 20,
	GGML_TYPE_IQ3_S = 21,
	GGML_TYPE_IQ2_S = 22,
	GGML_TYPE_IQ4_XS = 23,
	GGML_TYPE_I8 = 24,
	GGML_TYPE_I16 = 25,
	GGML_TYPE_I32 = 26,
	GGML_TYPE_I64 = 27,
	GGML_TYPE_F64 = 28,
	GGML_TYPE_IQ1_M = 29,
	GGML_TYPE_BF16 = 30,
	GGML_TYPE_TQ1_0 = 34,
	GGML_TYPE_TQ2_0 = 35,
	GGML_TYPE_MXFP4 = 39,
	GGML_TYPE_NVFP4 = 40,
	GGML_TYPE_Q1_0 = 41,
	GGML_TYPE_Q2_0 = 42,
};

/* Room for the longest name and its NUL. The name is an array, not a
 * pointer, so the type table holds no address: a pointer in a static
 * table needs a load-time relocation under PIE, which puts the table in
 * .data.rel.ro, and scripts/check-pure.sh refuses that as writable data. */
#define GGML_TYPE_NAME_SIZE 16

struct ggml_type_info {
	char name[GGML_TYPE_NAME_SIZE]; /* ggml's type_traits name: "f32",
	                      * "q4_K", ...; for a removed id the name ggml
	                      * last gave it, e.g. "q4_0_4x4" for id 31 */
	uint32_t blck_size;  /* elements per block; 0 for a removed id */
	uint32_t type_size;  /* bytes per block; 0 for a removed id */
	bool removed;        /* ggml no longer accepts this id */
};

/* The entry for id, or NULL when id >= GGML_TYPE_ID_COUNT. The returned
 * pointer is to static storage. Removed ids return an entry with
 * removed == true. */
const struct ggml_type_info *ggml_type_get(uint32_t id);

/* Finds a type by ggml's name, case-insensitively ("q4_k" finds Q4_K).
 * Returns the id, or -ENOENT; removed ids are not found. */
int ggml_type_find(const char *name);

/* Bytes of one row of ne0 elements of type id into *ret.
 * Returns 0; -EINVAL for an unknown or removed id or a negative ne0;
 * -EDOM when ne0 is not a multiple of the block size; -EOVERFLOW when the
 * size does not fit in 64 bits. *ret is untouched on failure. */
int ggml_type_row_size(uint32_t id, int64_t ne0, uint64_t *ret) ATTR_WUR;

/* Bytes of a tensor of type id and shape ne[0..n_dims-1] (missing dims
 * are 1; ne may be NULL when n_dims is 0) into *ret. Same errors as
 * ggml_type_row_size(), plus -EINVAL for n_dims > 4 or any negative
 * ne[i], and -EOVERFLOW when the element count does not fit an int64_t
 * (as ggml counts it) or the byte size does not fit 64 bits. A zero in
 * any dim gives 0 bytes, once ne0 has passed the block size check. */
int ggml_type_tensor_size(uint32_t id, const int64_t *ne, uint32_t n_dims,
			  uint64_t *ret) ATTR_WUR;

/* The llama.cpp file type (general.file_type, enum llama_ftype) name: the
 * enum identifier without its "LLAMA_FTYPE_" and "MOSTLY_" prefixes
 * ("Q4_K_M", "IQ4_XS", "MXFP4_MOE", "F16", "ALL_F32", ...; llama.cpp's
 * own log line says "Q4_K - Medium" instead), or NULL for an unknown value,
 * for a value llama.cpp removed (4-6, 33-35) and for one with the
 * LLAMA_FTYPE_GUESSED (1024) flag, which llama.cpp never writes to a file.
 * Static storage. */
const char *llama_ftype_name(uint32_t ftype);

/* The file type whose name is name (case-insensitive), or -ENOENT. */
int llama_ftype_find(const char *name);

#endif
