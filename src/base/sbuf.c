/* sbuf.c: the capped growable buffer. */
#include "base/compat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"

/* Never written: sbuf_grow() allocates before the first write. */
static const char sbuf_empty[1];

void sbuf_init(struct sbuf *sb, size_t cap)
{
	sb->buf = (char *)sbuf_empty;
	sb->len = 0;
	sb->alloc = 0;
	sb->cap = cap;
}

void sbuf_release(struct sbuf *sb)
{
	if (sb->alloc)
		free(sb->buf);
	sbuf_init(sb, sb->cap);
}

void sbuf_reset(struct sbuf *sb)
{
	if (sb->alloc)
		sb->buf[0] = '\0';
	sb->len = 0;
}

/* Makes room for n more bytes plus the terminator. */
static int sbuf_grow(struct sbuf *sb, size_t n)
{
	size_t want, alloc;
	char *p;

	if (n > sb->cap || sb->len > sb->cap - n)
		return -E2BIG;
	want = sb->len + n + 1;
	if (want <= sb->alloc)
		return 0;
	alloc = sb->alloc ? sb->alloc : 64;
	while (alloc < want)
		alloc = alloc > SIZE_MAX / 2 ? want : alloc * 2;
	p = realloc(sb->alloc ? sb->buf : NULL, alloc);
	if (!p)
		return -ENOMEM;
	if (!sb->alloc)
		p[0] = '\0';
	sb->buf = p;
	sb->alloc = alloc;
	return 0;
}

int sbuf_add(struct sbuf *sb, const void *p, size_t n)
{
	int r = sbuf_grow(sb, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(sb->buf + sb->len, p, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return 0;
}

int sbuf_add_zeros(struct sbuf *sb, size_t n)
{
	int r = sbuf_grow(sb, n);

	if (r < 0)
		return r;
	memset(sb->buf + sb->len, 0, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return 0;
}

int sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = sbuf_grow(sb, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}

int sbuf_add_u32le(struct sbuf *sb, uint32_t v)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return sbuf_add(sb, b, sizeof(b));
}

int sbuf_add_u64le(struct sbuf *sb, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return sbuf_add(sb, b, sizeof(b));
}

char *sbuf_detach(struct sbuf *sb, size_t *ret_len)
{
	char *p = sb->buf;

	if (ret_len)
		*ret_len = sb->len;
	if (!sb->alloc)
		p = calloc(1, 1);
	sbuf_init(sb, sb->cap);
	return p;
}
