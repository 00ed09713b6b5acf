/* parse.h: strict number parsing for command-line values: the whole
 * string must be a number (no sign where unsigned, no trailing junk, no
 * overflow). */
#ifndef LLMEM_BASE_PARSE_H
#define LLMEM_BASE_PARSE_H

#include "base/compat.h"

/* Decimal unsigned integer. 0, or -EINVAL / -ERANGE. */
int parse_u64(const char *s, uint64_t *ret) ATTR_WUR;

/* Decimal signed integer. 0, or -EINVAL / -ERANGE. */
int parse_i64(const char *s, int64_t *ret) ATTR_WUR;

/* A size in bytes: a number (fractions allowed) and an optional unit:
 * K, M, G, T or KiB, MiB, GiB, TiB (powers of 1024), or KB, MB, GB, TB
 * (powers of 1000), or B. "24GiB", "24G", "1.5 GB", "4096". 0, or
 * -EINVAL / -ERANGE. */
int parse_size(const char *s, uint64_t *ret) ATTR_WUR;

/* A non-negative decimal fraction such as "0.75" or "3". 0 or -EINVAL. */
int parse_double(const char *s, double *ret) ATTR_WUR;

/* A duration as Ollama's keep_alive and OLLAMA_KEEP_ALIVE take it: Go's
 * time.ParseDuration syntax ("300ms", "1.5h", "1h30m", "-1m"; units ns, us,
 * µs, ms, s, m, h; "0" alone), else a plain number of seconds ("10", "-1",
 * "2.5": a JSON number is seconds). *ms gets milliseconds (fractions of a
 * millisecond truncated), or -1 for any negative duration ("forever", as
 * Ollama). 0, or -EINVAL (not a duration) / -ERANGE (over about 292 years,
 * Go's limit). */
int parse_duration_ms(const char *s, int64_t *ms) ATTR_WUR;

/* The value of one hexadecimal digit (0-9, a-f, A-F), or -1. */
int parse_hex_digit(int c);

#endif
