/* probe-int.h: helpers shared by the probe's parsers and readers; not
 * part of the probe's interface. */
#ifndef LLMEM_PROBE_PROBE_INT_H
#define LLMEM_PROBE_PROBE_INT_H

#include "base/compat.h"

/* The next line of text[0..n) from *pos: *line and *len (without the
 * '\n'); advances *pos. false at the end. */
bool probe_line_next(const char *text, size_t n, size_t *pos, const char **line, size_t *len);

/* Strips spaces and tabs (and a trailing '\n' or '\r') from both ends of
 * p[0..*n): returns the new start, *n the new length. */
const char *probe_span_trim(const char *p, size_t *n);

/* An unsigned decimal number that is all of p[0..n) (checked with
 * parse_u64). 0, -EBADMSG (empty, not a number) or -ERANGE (over 2^64). */
int probe_span_u64(const char *p, size_t n, uint64_t *ret);

/* The same, signed. */
int probe_span_i64(const char *p, size_t n, int64_t *ret);

/* Copies p[0..n) into buf (NUL-terminated, cut to bufsz - 1), replacing
 * control bytes with '?'. Returns the length written. */
size_t probe_span_copy(char *buf, size_t bufsz, const char *p, size_t n);

/* ROOT/REL into buf ("/" for an empty or NULL root). 0 or
 * -ENAMETOOLONG. */
int probe_path_join(char *buf, size_t bufsz, const char *root, const char *rel);

/* snprintf into buf that never fails loudly: a cut message is fine. */
void probe_fmt(char *buf, size_t bufsz, const char *fmt, ...) ATTR_PRINTF(3, 4);

#endif
