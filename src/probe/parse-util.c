/* parse-util.c: line and number helpers for the probe's parsers. Pure. */
#include "base/compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/parse.h"
#include "probe/probe-int.h"

bool probe_line_next(const char *text, size_t n, size_t *pos, const char **line, size_t *len)
{
	const char *nl;
	size_t p = *pos;

	if (p >= n)
		return false;
	nl = memchr(text + p, '\n', n - p);
	*line = text + p;
	*len = nl ? (size_t)(nl - (text + p)) : n - p;
	*pos = p + *len + (nl ? 1 : 0);
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

const char *probe_span_trim(const char *p, size_t *n)
{
	size_t len = *n;

	while (len && is_blank(*p)) {
		p++;
		len--;
	}
	while (len && is_blank(p[len - 1]))
		len--;
	*n = len;
	return p;
}

/* Copies a number token for parse_u64: digits (and a leading '-' when
 * sign is true) only. 0, -EBADMSG, or -ERANGE for an all-digit token too
 * long for the buffer. */
static int number_token(const char *p, size_t n, bool sign, char *buf, size_t bufsz)
{
	size_t start = sign && n && p[0] == '-' ? 1 : 0;

	if (n == start)
		return -EBADMSG;
	for (size_t i = start; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return -EBADMSG;
	if (n >= bufsz)
		return -ERANGE;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int probe_span_u64(const char *p, size_t n, uint64_t *ret)
{
	char buf[32];
	int e = number_token(p, n, false, buf, sizeof(buf));

	if (e < 0)
		return e;
	e = parse_u64(buf, ret);
	return e == -ERANGE ? -ERANGE : e < 0 ? -EBADMSG : 0;
}

int probe_span_i64(const char *p, size_t n, int64_t *ret)
{
	char buf[32];
	int e = number_token(p, n, true, buf, sizeof(buf));

	if (e < 0)
		return e;
	e = parse_i64(buf, ret);
	return e == -ERANGE ? -ERANGE : e < 0 ? -EBADMSG : 0;
}

size_t probe_span_copy(char *buf, size_t bufsz, const char *p, size_t n)
{
	size_t len;

	if (bufsz == 0)
		return 0;
	len = n < bufsz - 1 ? n : bufsz - 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[len] = '\0';
	return len;
}

void probe_fmt(char *buf, size_t bufsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, bufsz, fmt, ap);
	va_end(ap);
}
