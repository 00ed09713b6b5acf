/* diag.c: filling a struct diag. */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/diag.h"

void diag_init(struct diag *d)
{
	d->code = 0;
	d->offset = DIAG_NO_OFFSET;
	d->msg[0] = '\0';
}

int diag_set(struct diag *d, int code, uint64_t offset, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return code;
	d->code = code;
	d->offset = offset;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	return code;
}

void msgf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!n)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}
