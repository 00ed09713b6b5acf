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

/* Go's time.ParseDuration, in nanoseconds (its algorithm: a sum of
 * number-unit components, each number with an optional fraction). */
static int parse_go_duration_ns(const char *s, bool *neg, uint64_t *ret)
{
	static const struct { const char *unit; uint64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
		{ "ms", 1000000 }, { "s", 1000000000 }, { "m", UINT64_C(60000000000) },
		{ "h", UINT64_C(3600000000000) },
	};
	const uint64_t lim = UINT64_C(1) << 63;
	uint64_t d = 0;

	*neg = false;
	if (*s == '-' || *s == '+')
		*neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*ret = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		uint64_t v = 0, f = 0, unit = 0;
		double scale = 1;
		bool pre = false, post = false, f_over = false;
		size_t ul = 0;

		if (*s != '.' && (*s < '0' || *s > '9'))
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (v > (lim - 1) / 10)
				return -ERANGE;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > lim)
				return -ERANGE;
			pre = true;
		}
		if (*s == '.') {
			for (s++; *s >= '0' && *s <= '9'; s++) {
				post = true;
				if (f_over)
					continue;
				if (f > (lim - 1) / 10) {
					f_over = true; /* further digits are below precision */
					continue;
				}
				f = f * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (!pre && !post)
			return -EINVAL;
		while (s[ul] && s[ul] != '.' && (s[ul] < '0' || s[ul] > '9'))
			ul++;
		if (ul == 0)
			return -EINVAL; /* missing unit */
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			if (strlen(units[i].unit) == ul && !memcmp(s, units[i].unit, ul)) {
				unit = units[i].ns;
				break;
			}
		}
		if (!unit)
			return -EINVAL;
		s += ul;
		if (v > lim / unit)
			return -ERANGE;
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > lim)
				return -ERANGE;
		}
		d += v;
		if (d > lim)
			return -ERANGE;
	}
	if (!*neg && d > lim - 1)
		return -ERANGE;
	*ret = d;
	return 0;
}

/* A decimal number of seconds with an optional sign and fraction, in
 * milliseconds (fractions of one truncated), at most Go's limit of
 * 2^63 - 1 ns; *nonzero says whether it is at least a nanosecond (so
 * "-0.0001" is negative, as "-0.0001s" is, and "-0.0000000001" is 0). */
static int parse_seconds_ms(const char *s, bool *neg, bool *nonzero, uint64_t *ret)
{
	const uint64_t lim = (uint64_t)INT64_MAX / 1000000;
	uint64_t whole = 0, frac = 0;
	int nfrac = 0;
	bool digits = false;

	*neg = false;
	*nonzero = false;
	if (*s == '-' || *s == '+')
		*neg = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*s - '0');
		digits = true;
		*nonzero |= *s != '0';
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (nfrac < 3)
				frac = frac * 10 + (uint64_t)(*s - '0');
			if (nfrac < 9) {
				*nonzero |= *s != '0';
				nfrac++;
			}
			digits = true;
		}
	}
	if (*s || !digits)
		return -EINVAL;
	for (; nfrac < 3; nfrac++)
		frac *= 10;
	if (whole > (lim - frac) / 1000)
		return -ERANGE;
	*ret = whole * 1000 + frac;
	return 0;
}

int parse_duration_ms(const char *s, int64_t *ms)
{
	uint64_t v;
	bool neg, nonzero;
	int e;

	if (!s || !*s)
		return -EINVAL;
	e = parse_go_duration_ns(s, &neg, &v);
	if (e == 0) {
		if (neg && v > 0) {
			*ms = -1;
			return 0;
		}
		*ms = (int64_t)(v / 1000000);
		return 0;
	}
	if (e == -ERANGE)
		return e;
	e = parse_seconds_ms(s, &neg, &nonzero, &v);
	if (e < 0)
		return e;
	*ms = neg && nonzero ? -1 : (int64_t)v;
	return 0;
}

int parse_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
