/* out-util.c: escaping and number formatting shared by the reports. */
#include "base/compat.h"

#include <stdlib.h>
#include <string.h>

#include "output/output.h"

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

json_t *out_json_bytes(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	char *tmp;
	size_t o = 0;
	json_t *j;

	/* worst case: every byte becomes the 3-byte U+FFFD */
	if (n > SIZE_MAX / 3)
		return NULL;
	tmp = malloc(n * 3 + 1);
	if (!tmp)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(u + i, n - i);

		if (l == 0) {
			memcpy(tmp + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(tmp + o, u + i, l);
			o += l;
			i += l;
		}
	}
	j = json_stringn(tmp, o);
	free(tmp);
	return j;
}

void out_print_escaped(FILE *fp, const char *p, size_t n)
{
	out_print_safe(fp, p, n, true);
}

void out_print_safe(FILE *fp, const char *p, size_t n, bool escape_backslash)
{
	const unsigned char *u = (const unsigned char *)p;

	for (size_t i = 0; i < n;) {
		unsigned c = u[i];
		size_t l = utf8_len(u + i, n - i);

		if (c == '\n') {
			fputs("\\n", fp);
			i++;
		} else if (c == '\t') {
			fputs("\\t", fp);
			i++;
		} else if (c == '\r') {
			fputs("\\r", fp);
			i++;
		} else if (c == '\\' && escape_backslash) {
			fputs("\\\\", fp);
			i++;
		} else if (c < 0x20 || c == 0x7f || l == 0 ||
			   (l == 2 && c == 0xc2 && u[i + 1] < 0xa0)) {
			/* control characters, C1 controls and invalid bytes */
			fprintf(fp, "\\x%02x", c);
			i++;
		} else {
			fwrite(u + i, 1, l, fp);
			i += l;
		}
	}
}

void out_human_bytes(char *buf, size_t bufsz, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, bufsz, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, bufsz, "%.2f %s", v, units[u]);
}
