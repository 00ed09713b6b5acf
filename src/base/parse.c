/* parse.c: strict number parsing. */
#include "base/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/parse.h"

int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

int parse_i64(const char *s, int64_t *ret)
{
	uint64_t v;
	bool neg = s && *s == '-';
	int e = parse_u64(neg ? s + 1 : s, &v);

	if (e < 0)
		return e;
	if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return -ERANGE;
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int parse_double(const char *s, double *ret)
{
	double v = 0, scale = 0.1;
	bool digits = false, dot = false;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s == '.' && !dot) {
			dot = true;
		} else if (*s >= '0' && *s <= '9') {
			digits = true;
			if (dot) {
				v += (*s - '0') * scale;
				scale /= 10;
			} else {
				v = v * 10 + (*s - '0');
			}
		} else {
			return -EINVAL;
		}
	}
	if (!digits)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const struct { const char *unit; double mul; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "K", 1024.0 }, { "KiB", 1024.0 }, { "KB", 1e3 },
		{ "M", 1048576.0 }, { "MiB", 1048576.0 }, { "MB", 1e6 },
		{ "G", 1073741824.0 }, { "GiB", 1073741824.0 }, { "GB", 1e9 },
		{ "T", 1099511627776.0 }, { "TiB", 1099511627776.0 }, { "TB", 1e12 },
	};
	char num[64];
	size_t n = 0;
	const char *u;
	double v;

	if (!s)
		return -EINVAL;
	while ((s[n] >= '0' && s[n] <= '9') || s[n] == '.')
		n++;
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_double(num, &v) < 0)
		return -EINVAL;
	u = s + n;
	while (*u == ' ')
		u++;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!strcasecmp(u, units[i].unit)) {
			double b = v * units[i].mul;

			if (b >= 18446744073709551615.0)
				return -ERANGE;
			*ret = (uint64_t)(b + 0.5);
			return 0;
		}
	}
	return -EINVAL;
}
