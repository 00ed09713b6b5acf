/* parse-sysfs.c: the small files of sysfs (one number, one line, a
 * uevent), text in, values out. Pure. */
#include "base/compat.h"
#include "base/parse.h"

#include <errno.h>
#include <string.h>

#include "probe/probe-int.h"
#include "probe/probe.h"

int probe_parse_u64_file(const char *text, size_t n, uint64_t *ret)
{
	const char *p = probe_span_trim(text, &n);

	return probe_span_u64(p, n, ret);
}

int probe_parse_i64_file(const char *text, size_t n, int64_t *ret)
{
	const char *p = probe_span_trim(text, &n);

	return probe_span_i64(p, n, ret);
}

/* Exactly 1 to 4 hex digits. */
static int span_hex_u16(const char *p, size_t n, uint16_t *ret)
{
	unsigned v = 0;

	if (n == 0)
		return -EBADMSG;
	if (n > 4)
		return -ERANGE;
	for (size_t i = 0; i < n; i++) {
		int d = parse_hex_digit(p[i]);

		if (d < 0)
			return -EBADMSG;
		v = v << 4 | (unsigned)d;
	}
	*ret = (uint16_t)v;
	return 0;
}

int probe_parse_hex_u16(const char *text, size_t n, uint16_t *ret)
{
	const char *p = probe_span_trim(text, &n);

	if (n >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		n -= 2;
	}
	return span_hex_u16(p, n, ret);
}

int probe_parse_uevent(const char *text, size_t n, struct probe_uevent *ret)
{
	size_t pos = 0, len;
	const char *line;

	memset(ret, 0, sizeof(*ret));
	while (probe_line_next(text, n, &pos, &line, &len)) {
		const char *eq = memchr(line, '=', len);
		size_t klen, vn;
		const char *v;

		if (!eq)
			continue;
		klen = (size_t)(eq - line);
		v = eq + 1;
		vn = len - klen - 1;
		if (klen == 6 && !memcmp(line, "DRIVER", 6)) {
			probe_span_copy(ret->driver, sizeof(ret->driver), v, vn);
		} else if (klen == 13 && !memcmp(line, "PCI_SLOT_NAME", 13)) {
			probe_span_copy(ret->slot, sizeof(ret->slot), v, vn);
		} else if (klen == 6 && !memcmp(line, "PCI_ID", 6)) {
			const char *colon = memchr(v, ':', vn);

			if (!colon || span_hex_u16(v, (size_t)(colon - v), &ret->vendor) < 0 ||
			    span_hex_u16(colon + 1, vn - (size_t)(colon - v) - 1, &ret->device) < 0)
				return -EBADMSG;
			ret->has_id = true;
		}
	}
	return 0;
}

size_t probe_parse_line(const char *text, size_t n, char *buf, size_t bufsz)
{
	const char *nl = memchr(text, '\n', n);

	if (nl)
		n = (size_t)(nl - text);
	text = probe_span_trim(text, &n);
	return probe_span_copy(buf, bufsz, text, n);
}
