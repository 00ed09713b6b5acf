/* sbuf.h: a growable byte buffer with a hard size cap (git's strbuf
 * invariants, curl's dynbuf "toobig" limit). Every buffer filled from
 * outside input has a cap, so hostile input cannot grow it without bound.
 *
 * Invariants: after sbuf_init(), buf is never NULL and buf[len] == '\0'
 * (the terminator is not counted in len and does not count against cap). */
#ifndef LLMEM_BASE_SBUF_H
#define LLMEM_BASE_SBUF_H

#include "base/compat.h"

struct sbuf {
	char *buf;
	size_t len;
	size_t alloc; /* bytes allocated; 0 while buf points at a static "" */
	size_t cap;   /* len may never exceed this */
};

/* Makes sb an empty buffer that may hold up to cap bytes. Allocates
 * nothing. */
void sbuf_init(struct sbuf *sb, size_t cap);

/* Frees sb's memory and leaves it as after sbuf_init() with the same cap. */
void sbuf_release(struct sbuf *sb);

/* Empties sb and keeps its memory for the next fill (a buffer refilled
 * for every request of a connection). */
void sbuf_reset(struct sbuf *sb);

/* Appends n bytes. Returns 0, -E2BIG when the cap would be exceeded, or
 * -ENOMEM; sb is unchanged on failure. */
int sbuf_add(struct sbuf *sb, const void *p, size_t n) ATTR_WUR;

/* Appends n zero bytes; errors as sbuf_add(). */
int sbuf_add_zeros(struct sbuf *sb, size_t n) ATTR_WUR;

/* Appends a formatted string; errors as sbuf_add(). */
int sbuf_addf(struct sbuf *sb, const char *fmt, ...) ATTR_PRINTF(2, 3) ATTR_WUR;

/* Appends little-endian integers; errors as sbuf_add(). */
int sbuf_add_u32le(struct sbuf *sb, uint32_t v) ATTR_WUR;
int sbuf_add_u64le(struct sbuf *sb, uint64_t v) ATTR_WUR;

/* Hands the memory to the caller (who frees it with free()); sb is left
 * empty as after sbuf_init(). *ret_len gets the length if not NULL. Never
 * returns NULL unless allocation of an empty string fails. */
char *sbuf_detach(struct sbuf *sb, size_t *ret_len);

#endif
