/* diag.h: a parser's diagnostic: what went wrong, where, in words a user can
 * act on. Library code fills one of these instead of printing. */
#ifndef LLMEM_BASE_DIAG_H
#define LLMEM_BASE_DIAG_H

#include "base/compat.h"

#define DIAG_MSG_MAX 240
#define DIAG_NO_OFFSET UINT64_MAX

struct diag {
	int code;        /* negative errno, 0 when nothing was reported */
	uint64_t offset; /* byte offset in the input, or DIAG_NO_OFFSET */
	char msg[DIAG_MSG_MAX];
};

/* Empties d. */
void diag_init(struct diag *d);

/* Records code, offset and a formatted message in d (d may be NULL) and
 * returns code, so a parser can write `return diag_set(d, -EBADMSG, ...)`.
 * The message is cut to DIAG_MSG_MAX-1 bytes. */
int diag_set(struct diag *d, int code, uint64_t offset, const char *fmt, ...)
	ATTR_PRINTF(4, 5);

/* snprintf into buf[n] for a message that may be cut (compilers cannot
 * warn about truncation through it, and a cut message is acceptable). */
void msgf(char *buf, size_t n, const char *fmt, ...) ATTR_PRINTF(3, 4);

#endif
