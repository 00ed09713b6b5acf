/* checked.h: overflow-checked size arithmetic. Every sum and product of
 * values that came from outside (a file, a command line, a socket) goes
 * through these; each returns false on overflow and leaves *ret alone. */
#ifndef LLMEM_BASE_CHECKED_H
#define LLMEM_BASE_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *ret)
{
	uint64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return false;
	*ret = r;
	return true;
}

static inline bool ck_mul_u64(uint64_t a, uint64_t b, uint64_t *ret)
{
	uint64_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return false;
	*ret = r;
	return true;
}

static inline bool ck_mul_i64(int64_t a, int64_t b, int64_t *ret)
{
	int64_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return false;
	*ret = r;
	return true;
}

/* Rounds x up to a multiple of align, which must be a power of two.
 * Checks x + align - 1 before rounding, so a size near UINT64_MAX cannot
 * wrap to 0 (the GGML_PAD bug of llama.cpp PR #24759). */
static inline bool ck_align_u64(uint64_t x, uint64_t align, uint64_t *ret)
{
	uint64_t r;
	if (align == 0 || (align & (align - 1)) != 0)
		return false;
	if (__builtin_add_overflow(x, align - 1, &r))
		return false;
	*ret = r & ~(align - 1);
	return true;
}

#endif
