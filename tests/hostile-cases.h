/* hostile-cases.h: the hostile GGUF files of reliability.md section (a),
 * cases 1-57, built in memory: by our writer (gguf_writer_*) and byte
 * patches at the offsets its gguf_mark list gives, or by a small byte
 * builder for headers the writer cannot express.
 *
 * Shared by tests/unit/test-hostile.c, which parses every file in memory,
 * and tests/tools/gguf-hostile.c, which writes them into a directory with
 * a MANIFEST for tests/integration/t-hostile.sh. Each of those two
 * #includes "hostile-cases.c" (the Makefile builds a test or a tool from
 * one .c file), so the definitions below have exactly one home.
 *
 * Case 53 (FIFOs, devices, directories) and the race of case 54 are made
 * by the shell script; the others are here. */
#ifndef LLMEM_TESTS_HOSTILE_CASES_H
#define LLMEM_TESTS_HOSTILE_CASES_H

#include "base/compat.h"
#include "base/sbuf.h"

/* err_off when any offset inside the file will do */
#define HOSTILE_ANY_OFFSET UINT64_MAX
#define HOSTILE_NAME_MAX 96

/* One built file. */
struct hostile_file {
	int number;                  /* the case in reliability.md (a) */
	char name[HOSTILE_NAME_MAX]; /* its file name, ending in .gguf */
	bool ok;                     /* gguf_parse must accept it */
	int err;                     /* else the negative errno it must return */
	uint64_t err_off;            /* and the offset it must report, or
	                              * HOSTILE_ANY_OFFSET */
	uint64_t n_kv, n_tensors;    /* what a successful parse must count */
	bool listed;                 /* goes in the MANIFEST (false for the
	                              * later parts of a split set) */
	const char *inspect;         /* the MANIFEST's expectation for `llmem
	                              * inspect FILE`: "valid", "invalid" (exit
	                              * 2, one line naming the file and an
	                              * offset) or "invalid-split" (exit 2,
	                              * one line naming a file of the set) */
	struct sbuf data;            /* the file's bytes, or its first bytes */
	uint64_t size;               /* its size: bytes past data.len are
	                              * zeros, written as a hole */
};

typedef int hostile_build_fn(struct hostile_file *f, int64_t arg);

/* How to build one file. */
struct hostile_entry {
	int number;
	char name[HOSTILE_NAME_MAX];
	hostile_build_fn *build;
	int64_t arg;
};

/* Every file, in case order, as a malloc'ed array the caller frees.
 * Returns 0 or a negative errno. */
int hostile_entries(struct hostile_entry **ret, size_t *ret_n);

/* Builds e into *f (which need not be initialized). Returns 0 or a
 * negative errno; release *f either way. Some files are large: the 1M-key
 * and 1M-tensor files of case 57 take 17 and 36 MB. */
int hostile_build(const struct hostile_entry *e, struct hostile_file *f);

/* Frees f's bytes. */
void hostile_file_release(struct hostile_file *f);

/* The valid file of the truncation sweep (case 1): its data ends with the
 * last tensor's last byte, so every proper prefix is truncated. Appends
 * to out. Returns 0 or a negative errno. */
int hostile_sweep_source(struct sbuf *out, uint64_t *ret_n_kv, uint64_t *ret_n_tensors);

/* Writes f to DIR/NAME (sparse past data.len). Returns 0 or -errno. */
int hostile_write_file(const char *dir, const struct hostile_file *f);

#endif
