/* test-reqscan.c: serve/reqscan.c, the one-pass scan of an OpenAI request
 * body, against the jansson tree and checks the daemon used before it
 * (fuzz/reqscan-oracle.h, the same reference fuzz-reqscan runs): every case
 * is compared with the oracle, and most also with the answer expected.
 * Each check's edges, every class of body jansson refuses (bytes, escapes,
 * surrogates, UTF-8, numbers, duplicate keys, depth, trailing text,
 * truncation, NUL bytes), the model, "stream" and the keep_alive span. */
#include "base/compat.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "serve/reqscan.h"

#include "../../fuzz/reqscan-oracle.h"

/* What a body should get: not a JSON object, or the first failed check. */
enum { X_BAD = -1, X_OK = REQSCAN_CHECK_OK, X_NUM = REQSCAN_CHECK_NUM, X_TOK = REQSCAN_CHECK_TOKENS,
       X_LB = REQSCAN_CHECK_LOGIT_BIAS, X_MEDIA = REQSCAN_CHECK_MEDIA, X_ANY = 99 };

static size_t n_compared;

/* body as C text: printable, the rest escaped, cut at 300 bytes */
static const char *show(const char *b, size_t n)
{
	static char out[1400];
	size_t k = 0;

	for (size_t i = 0; i < n && i < 300 && k + 8 < sizeof(out); i++) {
		unsigned char c = (unsigned char)b[i];

		if (c >= 0x20 && c < 0x7F && c != '\\')
			out[k++] = (char)c;
		else
			k += (size_t)snprintf(out + k, sizeof(out) - k, "\\x%02x", c);
	}
	snprintf(out + k, sizeof(out) - k, "%s", n > 300 ? "..." : "");
	return out;
}

/* body[0..n) is decided as jansson decided it, and as expected (X_ANY:
 * whatever jansson says). */
static void expect_n(const char *body, size_t n, int want)
{
	char why[256];
	const char *bad = reqscan_differs(body, n, why, sizeof(why));
	struct reqscan sc;
	int rc, got;

	n_compared++;
	if (bad)
		fail_msg("%s: %s", bad, show(body, n));
	if (want == X_ANY)
		return;
	rc = reqscan_openai(body, n, &sc);
	got = rc ? X_BAD : (int)sc.check;
	if (got != want)
		fail_msg("expected %d, got %d (%s): %s", want, got, rc ? sc.why : "", show(body, n));
}

/* a literal body with its NUL bytes */
#define EXPECT_LIT(lit, want) expect_n((lit), sizeof(lit) - 1, (want))

static void expect(const char *body, int want)
{
	expect_n(body, strlen(body), want);
}

static void expectf(int want, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void expectf(int want, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(k >= 0 && (size_t)k < sizeof(buf));
	expect_n(buf, (size_t)k, want);
}

static struct reqscan scan_ok(const char *body)
{
	struct reqscan sc;

	expect(body, X_ANY);
	assert_int_equal(reqscan_openai(body, strlen(body), &sc), 0);
	return sc;
}

/* ---------------------------------------------------------------- tests */

static void test_table(void **state)
{
	(void)state;
	assert_int_equal(ARRAY_SIZE(oracle_num_fields), REQSCAN_N_NUM);
	for (size_t i = 0; i < REQSCAN_N_NUM; i++) {
		assert_string_equal(reqscan_num_fields[i].name, oracle_num_fields[i].name);
		assert_true(reqscan_num_fields[i].min == oracle_num_fields[i].min);
		assert_true(reqscan_num_fields[i].max == oracle_num_fields[i].max);
	}
}

static void test_json_basics(void **state)
{
	static const struct {
		const char *body;
		int want;
	} cases[] = {
		{ "{}", X_OK },
		{ " \t\r\n{ \t\r\n} \t\r\n", X_OK },
		{ "[]", X_BAD }, /* JSON, not an object */
		{ "[{\"model\":\"m\"}]", X_BAD },
		{ "\"x\"", X_BAD }, { "1", X_BAD }, { "true", X_BAD }, { "null", X_BAD },
		{ " ", X_BAD }, { "\n", X_BAD },
		{ "{", X_BAD }, { "}", X_BAD }, { "{}}", X_BAD }, { "{}{}", X_BAD }, { "{} x", X_BAD },
		{ "{}\v", X_BAD }, { "{}\f", X_BAD }, { "\f{}", X_BAD }, { "{}\xc2\xa0", X_BAD },
		{ "\xef\xbb\xbf{}", X_BAD }, /* a BOM */
		{ "{\"a\"}", X_BAD }, { "{\"a\":}", X_BAD }, { "{\"a\" 1}", X_BAD }, { "{\"a\":1,}", X_BAD },
		{ "{,}", X_BAD }, { "{\"a\":1 \"b\":2}", X_BAD }, { "{a:1}", X_BAD }, { "{'a':1}", X_BAD },
		{ "{1:1}", X_BAD }, { "{\"a\":[1,]}", X_BAD }, { "{\"a\":[,1]}", X_BAD }, { "{\"a\":[1 2]}", X_BAD },
		{ "{\"a\":[}", X_BAD }, { "{\"a\":{]}", X_BAD }, { "{\"a\":[1}", X_BAD },
		{ "{\"a\":true}", X_OK }, { "{\"a\":false}", X_OK }, { "{\"a\":null}", X_OK },
		{ "{\"a\":tru}", X_BAD }, { "{\"a\":truee}", X_BAD }, { "{\"a\":True}", X_BAD },
		{ "{\"a\":nul}", X_BAD }, { "{\"a\":nulll}", X_BAD }, { "{\"a\":fals}", X_BAD },
		{ "{\"a\":true1}", X_BAD }, { "{\"a\":[true,false,null]}", X_OK }, { "{\"a\":[truefalse]}", X_BAD },
		{ "{\"a\":NaN}", X_BAD }, { "{\"a\":Infinity}", X_BAD }, { "{\"a\":undefined}", X_BAD },
		{ "{\"a\":1}/*c*/", X_BAD }, { "{\"a\":1}//", X_BAD },
		{ "{\"a\":\"x\"\"y\"}", X_BAD },
		{ "{\"\":1}", X_OK }, { "{\"\":1,\"\":2}", X_BAD },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		expect(cases[i].body, cases[i].want);
}

static void test_nul_bytes(void **state)
{
	static const char *const seeds[] = {
		"{\"model\":\"m\",\"a\":[1,2],\"s\":\"xyz\"}",
		"{\"k\":{\"a\":null}}",
	};

	(void)state;
	/* a NUL byte anywhere: in a string, between tokens, after the value */
	for (size_t s = 0; s < ARRAY_SIZE(seeds); s++) {
		size_t n = strlen(seeds[s]);
		char buf[128];

		for (size_t at = 0; at <= n; at++) {
			memcpy(buf, seeds[s], at);
			buf[at] = '\0';
			memcpy(buf + at + 1, seeds[s] + at, n - at);
			expect_n(buf, n + 1, X_ANY);
			/* and in place of a byte */
			if (at < n) {
				memcpy(buf, seeds[s], n);
				buf[at] = '\0';
				expect_n(buf, n, X_BAD);
			}
		}
	}
	EXPECT_LIT("{}\0", X_BAD);
	/* jansson loses one NUL byte put back after a number or a literal */
	EXPECT_LIT("{\"v\":1\0}", X_OK);
	EXPECT_LIT("{\"v\":0\0}", X_OK);
	EXPECT_LIT("{\"v\":-1.5e3\0}", X_OK);
	EXPECT_LIT("{\"v\":true\0}", X_OK);
	EXPECT_LIT("{\"v\":[null\0,false\0]}", X_OK);
	EXPECT_LIT("{\"v\":1\0\0}", X_BAD);
	EXPECT_LIT("{\"v\":1 \0}", X_BAD);
	EXPECT_LIT("{\"v\":1\0 \0}", X_BAD);
	EXPECT_LIT("{\"v\":\"s\"\0}", X_BAD);
	EXPECT_LIT("{\"v\":{}\0}", X_BAD);
	EXPECT_LIT("{\"v\":[]\0}", X_BAD);
	EXPECT_LIT("{\"v\":-\0 1}", X_BAD);
	EXPECT_LIT("{\"v\":1.\0 5}", X_BAD);
	EXPECT_LIT("{\"v\":tr\0ue}", X_BAD);
	EXPECT_LIT("{\"n\":-5\0}", X_NUM);
	{
		static const char ka[] = "{\"keep_alive\":5\0,\"stream\":true\0}";
		struct reqscan sc;

		expect_n(ka, sizeof(ka) - 1, X_OK);
		assert_int_equal(reqscan_openai(ka, sizeof(ka) - 1, &sc), 0);
		assert_true(sc.stream && sc.has_keep_alive);
		assert_int_equal(sc.keep_alive_len, 1);
		assert_int_equal(ka[sc.keep_alive_off], '5');
	}
	EXPECT_LIT("{\"a\":\"\0\"}", X_BAD);
	expect("{\"a\":\"\\u0000\"}", X_BAD);
	expect("{\"\\u0000\":1}", X_BAD);
	expect("{\"a\\u0000b\":1}", X_BAD);
	expect("{\"a\":[\"\\u0000\"]}", X_BAD);
	expect("{\"a\":\"\\u0001\"}", X_OK);
}

static void test_string_bytes(void **state)
{
	char buf[64];

	(void)state;
	/* every byte alone in a value, in a key, and as a token */
	for (int c = 0; c < 256; c++) {
		int k = snprintf(buf, sizeof(buf), "{\"v\":\"a%cb\"}", c);

		expect_n(buf, (size_t)k, c < 0x20 || c == '"' || c >= 0x80 ? X_BAD : X_OK); /* \\b: an escape */
		k = snprintf(buf, sizeof(buf), "{\"a%cb\":1}", c);
		expect_n(buf, (size_t)k, X_ANY);
		k = snprintf(buf, sizeof(buf), "{\"v\":%c}", c);
		expect_n(buf, (size_t)k, X_ANY);
		k = snprintf(buf, sizeof(buf), "{\"v\":1%c}", c);
		expect_n(buf, (size_t)k, X_ANY);
		k = snprintf(buf, sizeof(buf), "{\"v\":[1%c2]}", c);
		expect_n(buf, (size_t)k, X_ANY);
		/* the fast path reads 8 bytes at a time: the byte at each offset */
		for (int at = 0; at < 17; at++) {
			k = snprintf(buf, sizeof(buf), "{\"v\":\"");
			memset(buf + k, 'x', 17);
			buf[k + at] = (char)c;
			k += 17;
			k += snprintf(buf + k, sizeof(buf) - (size_t)k, "\"}");
			expect_n(buf, (size_t)k, X_ANY);
		}
	}
}

static void test_utf8(void **state)
{
	static const unsigned char conts[] = { 0x00, 0x22, 0x41, 0x7F, 0x80, 0x81, 0x8F, 0x90,
					       0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xFF };
	char buf[64];
	int k;

	(void)state;
	/* every two-byte sequence */
	for (int a = 0x80; a < 256; a++)
		for (int b = 0; b < 256; b++) {
			k = snprintf(buf, sizeof(buf), "{\"v\":\"%c", a);
			buf[k++] = (char)b;
			k += snprintf(buf + k, sizeof(buf) - (size_t)k, "\"}");
			expect_n(buf, (size_t)k, X_ANY);
		}
	/* three and four bytes: every lead byte, the continuation edges */
	for (int a = 0xC0; a < 256; a++)
		for (size_t i = 0; i < sizeof(conts); i++)
			for (size_t j = 0; j < sizeof(conts); j++) {
				k = snprintf(buf, sizeof(buf), "{\"v\":\"");
				buf[k++] = (char)a;
				buf[k++] = (char)conts[i];
				buf[k++] = (char)conts[j];
				k += snprintf(buf + k, sizeof(buf) - (size_t)k, "\"}");
				expect_n(buf, (size_t)k, X_ANY);
				for (size_t l = 0; l < sizeof(conts); l += 3) {
					k = snprintf(buf, sizeof(buf), "{\"");
					buf[k++] = (char)a;
					buf[k++] = (char)conts[i];
					buf[k++] = (char)conts[j];
					buf[k++] = (char)conts[l];
					k += snprintf(buf + k, sizeof(buf) - (size_t)k, "\":0}");
					expect_n(buf, (size_t)k, X_ANY);
				}
			}
	/* the edges by name */
	expect("{\"v\":\"\xc2\x80\"}", X_OK);             /* U+0080 */
	expect("{\"v\":\"\xc1\xbf\"}", X_BAD);            /* overlong */
	expect("{\"v\":\"\xe0\x9f\xbf\"}", X_BAD);        /* overlong */
	expect("{\"v\":\"\xe0\xa0\x80\"}", X_OK);         /* U+0800 */
	expect("{\"v\":\"\xed\x9f\xbf\"}", X_OK);         /* U+D7FF */
	expect("{\"v\":\"\xed\xa0\x80\"}", X_BAD);        /* U+D800 as UTF-8 */
	expect("{\"v\":\"\xed\xbf\xbf\"}", X_BAD);        /* U+DFFF */
	expect("{\"v\":\"\xee\x80\x80\"}", X_OK);         /* U+E000 */
	expect("{\"v\":\"\xef\xbf\xbf\"}", X_OK);         /* U+FFFF */
	expect("{\"v\":\"\xf0\x8f\xbf\xbf\"}", X_BAD);    /* overlong */
	expect("{\"v\":\"\xf0\x90\x80\x80\"}", X_OK);     /* U+10000 */
	expect("{\"v\":\"\xf4\x8f\xbf\xbf\"}", X_OK);     /* U+10FFFF */
	expect("{\"v\":\"\xf4\x90\x80\x80\"}", X_BAD);    /* U+110000 */
	expect("{\"v\":\"\xf5\x80\x80\x80\"}", X_BAD);
	expect("{\"v\":\"\xf8\x88\x80\x80\x80\"}", X_BAD); /* five bytes */
	expect("{\"v\":\"\x80\"}", X_BAD);
	expect("{\"v\":\"\xe2\x82\"}", X_BAD); /* cut by the quote */
	EXPECT_LIT("{\"v\":\"\xe2\x82", X_BAD); /* cut by the end */
	expect("{\"v\":\"h\xc3\xa9llo w\xc3\xb6rld \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\"}", X_OK);
	expect("{\"\xc3\xa9\":1,\"e\\u0301\":2,\"\\u00e9\":3}", X_BAD); /* é twice */
	expect("{\"\xc3\xa9\":1,\"e\\u0301\":2}", X_OK);
}

static void test_escapes(void **state)
{
	char buf[64];
	static const char *const hex[] = {
		"0000", "0001", "001f", "0020", "0022", "005c", "003a", "007f", "0080", "07ff", "0800", "d7ff",
		"D800", "d800", "dbff", "DC00", "dc00", "dfff", "e000", "fffe", "ffff", "FFFF", "00e9", "00E9",
		"0g00", "00G0", "12", "123", "-123", "+123", " 123", "12 3", "abcd", "ABCD", "aBcD",
	};

	(void)state;
	/* every byte after a backslash */
	for (int c = 0; c < 256; c++) {
		int k = snprintf(buf, sizeof(buf), "{\"v\":\"a\\%cb\"}", c);

		expect_n(buf, (size_t)k, strchr("\"\\/bfnrt", c) && c ? X_OK : X_BAD);
		k = snprintf(buf, sizeof(buf), "{\"a\\%cb\":1}", c);
		expect_n(buf, (size_t)k, X_ANY);
	}
	for (size_t i = 0; i < ARRAY_SIZE(hex); i++) {
		expectf(X_ANY, "{\"v\":\"\\u%s\"}", hex[i]);
		expectf(X_ANY, "{\"\\u%s\":1}", hex[i]);
		for (size_t j = 0; j < ARRAY_SIZE(hex); j++) {
			expectf(X_ANY, "{\"v\":\"\\u%s\\u%s\"}", hex[i], hex[j]);
			expectf(X_ANY, "{\"v\":\"x\\u%s\\u%sy\"}", hex[i], hex[j]);
			expectf(X_ANY, "{\"\\u%s\\u%s\":1}", hex[i], hex[j]);
		}
	}
	/* surrogates */
	expect("{\"v\":\"\\ud83d\\ude00\"}", X_OK);
	expect("{\"v\":\"\\uD83D\\uDE00\"}", X_OK);
	expect("{\"v\":\"\\ud83d\"}", X_BAD);
	expect("{\"v\":\"\\ud83dx\"}", X_BAD);
	expect("{\"v\":\"\\ud83d\\n\"}", X_BAD);
	expect("{\"v\":\"\\ud83d\\u0041\"}", X_BAD);
	expect("{\"v\":\"\\ud83d\\ud83d\"}", X_BAD);
	expect("{\"v\":\"\\ude00\"}", X_BAD);
	expect("{\"v\":\"\\ude00\\ud83d\"}", X_BAD);
	expect("{\"v\":\"\\ud83d\\ude00\\ude00\"}", X_BAD);
	expect("{\"v\":\"\\ud83d\\\\ude00\"}", X_BAD);
	EXPECT_LIT("{\"v\":\"\\ud83d\\ude0", X_BAD);
	EXPECT_LIT("{\"v\":\"\\u12", X_BAD);
	EXPECT_LIT("{\"v\":\"\\", X_BAD);
	/* decoded keys: the same key */
	expect("{\"a\":1,\"\\u0061\":2}", X_BAD);
	expect("{\"\\/\":1,\"/\":2}", X_BAD);
	expect("{\"\\u00e9\":1,\"\xc3\xa9\":2}", X_BAD);
	expect("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", X_BAD);
	expect("{\"\\n\":1,\"\\u000a\":2}", X_BAD);
	expect("{\"\\n\":1,\"\\u000A\":2,\"n\":3}", X_BAD);
	expect("{\"\\n\":1,\"n\":3}", X_OK);
	expect("{\"a\\\"b\":1,\"a\\u0022b\":2}", X_BAD);
}

static void test_numbers(void **state)
{
	static const char *const nums[] = {
		"0", "-0", "00", "-00", "01", "-01", "0.0", "-0.0", "0e0", "0E0", "0e+0", "0e-0", "0.", "-",
		"--1", "+1", ".5", "-.5", "1.", "1.e5", "1e", "1e+", "1e-", "1E+2", "1e-2", "1.5e3", "1x",
		"1.5.3", "1e5e5", "0x10", "1_000", "1,5", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "-9223372036854775809", "92233720368547758070",
		"18446744073709551616", "99999999999999999999", "-99999999999999999999",
		"9223372036854775807.0", "9223372036854775808.0", "1e308", "1.7976931348623157e308",
		"1.7976931348623158e308", "1.7976931348623159e308", "1.8e308", "1e309", "-1e309",
		"1e400", "-1e400", "1e-400", "-1e-400", "4.9e-324", "2e-324", "1e-320",
		"2147483647", "2147483648", "2147483647.0", "2147483647.0000001", "2147483647.000001",
		"2147483648.0", "-1", "-1.0", "-0.5", "-1e-300", "1024", "1024.0", "1024.0000000000001",
		"1025", "1e3", "1.024e3", "1.025e3", "-2147483648", "-2147483649", "-2147483648.0",
		"-2147483648.0000001", "-2147483649.0", "2", "3", "2.0000000000000001", "2.000001", "1", "0.5",
		"0.9999999999999999999", "1e0", "10e-1", "NaN", "Infinity", "-Infinity",
	};
	static const char *const fields[] = { "n_predict", "n", "mirostat", "top_k", "n_discard", "n_probs",
					      "other" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
		for (size_t f = 0; f < ARRAY_SIZE(fields); f++)
			expectf(X_ANY, "{\"%s\":%s}", fields[f], nums[i]);
		expectf(X_ANY, "{\"prompt\":%s}", nums[i]);
		expectf(X_ANY, "{\"prompt\":[1,[%s]]}", nums[i]);
		expectf(X_ANY, "{\"input\":[%s]}", nums[i]);
		expectf(X_ANY, "{\"logit_bias\":[[%s,1]]}", nums[i]);
		expectf(X_ANY, "{\"logit_bias\":[[1,%s]]}", nums[i]);
		expectf(X_ANY, "{\"x\":[%s]}", nums[i]);
		expectf(X_ANY, "{\"x\":%s }", nums[i]);
		expectf(X_ANY, "{\"x\":{\"y\":%s}}", nums[i]);
	}
	expect("{\"n\":1e400}", X_BAD);
	expect("{\"n\":1e-400}", X_NUM);
	expect("{\"x\":1e-400}", X_OK);
	expect("{\"x\":9223372036854775808}", X_BAD);
	expect("{\"x\":-9223372036854775808}", X_OK);
	/* long numbers: past the stack copy, past 300 digits */
	{
		char *b = malloc(4000);
		int k;

		assert_non_null(b);
		for (int len = 100; len < 1000; len += 97) {
			k = snprintf(b, 4000, "{\"x\":1%0*d}", len, 0);
			expect_n(b, (size_t)k, len < 19 ? X_OK : X_BAD);
			k = snprintf(b, 4000, "{\"x\":1%0*d.5}", len, 0);
			expect_n(b, (size_t)k, len < 308 ? X_OK : X_BAD);
			k = snprintf(b, 4000, "{\"n\":0.%0*d1}", len, 0);
			expect_n(b, (size_t)k, X_NUM);
			k = snprintf(b, 4000, "{\"n\":1.%0*d1}", len, 0);
			expect_n(b, (size_t)k, X_OK);
			k = snprintf(b, 4000, "{\"x\":0.%0*d1e-300}", len, 0);
			expect_n(b, (size_t)k, X_OK);
			k = snprintf(b, 4000, "{\"x\":0.%0*d1e%d}", len, 0, len + 300);
			expect_n(b, (size_t)k, X_ANY);
		}
		free(b);
	}
}

static void test_num_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < REQSCAN_N_NUM; i++) {
		const struct reqscan_num *f = &reqscan_num_fields[i];
		struct reqscan sc;
		char b[256];
		int k;

		expectf(X_OK, "{\"%s\":%lld}", f->name, (long long)f->min);
		expectf(X_OK, "{\"%s\":%lld}", f->name, (long long)f->max);
		expectf(X_OK, "{\"%s\":%lld.0}", f->name, (long long)f->max);
		expectf(X_NUM, "{\"%s\":%lld}", f->name, (long long)f->min - 1);
		expectf(X_NUM, "{\"%s\":%lld}", f->name, (long long)f->max + 1);
		expectf(X_NUM, "{\"%s\":%lld.5}", f->name, (long long)f->max);
		expectf(X_NUM, "{\"%s\":%lld.5}", f->name, (long long)f->min - 1);
		expectf(X_NUM, "{\"%s\":1e300}", f->name);
		expectf(X_NUM, "{\"%s\":-1e300}", f->name);
		expectf(X_NUM, "{\"%s\":9223372036854775807}", f->name);
		expectf(X_OK, "{\"%s\":\"-99\"}", f->name);
		expectf(X_OK, "{\"%s\":[-99]}", f->name);
		expectf(X_OK, "{\"%s\":{\"x\":-99}}", f->name);
		expectf(X_OK, "{\"%s\":null}", f->name);
		expectf(X_OK, "{\"%s\":true}", f->name);
		expectf(X_OK, "{\"x\":{\"%s\":-99}}", f->name);
		/* the field named with escapes is the same field */
		expectf(X_NUM, "{\"\\u%04x%s\":-9999999999}", f->name[0], f->name + 1);
		k = snprintf(b, sizeof(b), "{\"%s\":-9999999999}", f->name);
		assert_int_equal(reqscan_openai(b, (size_t)k, &sc), 0);
		assert_int_equal(sc.check, REQSCAN_CHECK_NUM);
		assert_int_equal(sc.num_field, i);
	}
	/* two out of range: the first in the table's order, not the body's */
	expect("{\"mirostat\":5,\"n_predict\":-5}", X_NUM);
	{
		struct reqscan sc = scan_ok("{\"mirostat\":5,\"top_k\":1e100,\"n_predict\":-5}");

		assert_int_equal(sc.check, REQSCAN_CHECK_NUM);
		assert_int_equal(sc.num_field, 0);
		sc = scan_ok("{\"mirostat\":5,\"top_k\":1e100}");
		assert_string_equal(reqscan_num_fields[sc.num_field].name, "top_k");
	}
	/* prefixes and extensions of names are other fields */
	expect("{\"n_\":-5,\"nn\":-5,\"N\":-5,\"n \":-5,\"n_predictx\":-5,\"mirostat2\":9}", X_OK);
}

static void test_tokens(void **state)
{
	static const struct {
		const char *body;
		int want;
	} cases[] = {
		{ "{\"prompt\":\"text\"}", X_OK },
		{ "{\"prompt\":[1,2,3]}", X_OK },
		{ "{\"prompt\":[0,2147483647]}", X_OK },
		{ "{\"prompt\":[2147483648]}", X_TOK },
		{ "{\"prompt\":[-1]}", X_TOK },
		{ "{\"prompt\":-1}", X_TOK },
		{ "{\"prompt\":-0.5}", X_TOK },
		{ "{\"prompt\":-0.0}", X_OK },
		{ "{\"prompt\":2147483647.5}", X_TOK },
		{ "{\"prompt\":[\"a\",[1,[2,[3,[-4]]]]]}", X_TOK },
		{ "{\"prompt\":[\"a\",[1,[2,[3,[4]]]]]}", X_OK },
		{ "{\"prompt\":[{\"x\":-1}]}", X_OK },
		{ "{\"prompt\":{\"x\":-1}}", X_OK },
		{ "{\"prompt\":[null,true,false,{},[]]}", X_OK },
		{ "{\"input\":[[1,2],[3,-4]]}", X_TOK },
		{ "{\"input\":[1e10]}", X_TOK },
		{ "{\"input\":[1e9]}", X_OK },
		{ "{\"prompt\":[1],\"input\":[-1]}", X_TOK },
		{ "{\"x\":{\"prompt\":[-1]}}", X_OK },
		{ "{\"messages\":[{\"prompt\":[-1]}]}", X_OK },
		{ "{\"promp\\u0074\":[-1]}", X_TOK },
		/* the order: numbers, tokens, logit_bias, media */
		{ "{\"prompt\":[-1],\"n\":0}", X_NUM },
		{ "{\"logit_bias\":{\"-1\":0},\"prompt\":[-1]}", X_TOK },
		{ "{\"messages\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]}],"
		  "\"logit_bias\":[[-1,0]]}", X_LB },
		{ "{\"messages\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]}],"
		  "\"prompt\":[[[-1]]],\"top_k\":3e9}", X_NUM },
		{ "{\"messages\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]}],"
		  "\"prompt\":[[[-1]]],\"top_k\":3e9,\"x\":[}", X_BAD },
		{ "{\"prompt\":[-1],\"model\":5}", X_TOK },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		expect(cases[i].body, cases[i].want);
}

static void test_logit_bias(void **state)
{
	/* object keys as strtoll(k, &end, 10) reads them */
	static const struct {
		const char *key;
		int want;
	} keys[] = {
		{ "5", X_OK }, { "0", X_OK }, { "-0", X_OK }, { "+0", X_OK }, { "-1", X_LB }, { "+5", X_OK },
		{ "2147483647", X_OK }, { "2147483648", X_LB }, { "00000000002147483647", X_OK },
		{ "00000000002147483648", X_LB }, { "-00000000000000000000", X_OK },
		{ "9223372036854775807", X_LB }, { "9223372036854775808", X_LB },
		{ "-9223372036854775808", X_LB }, { "99999999999999999999999", X_LB },
		{ "-99999999999999999999999", X_LB }, { " 5", X_OK }, { " -5", X_LB }, { "\\t-5", X_LB },
		{ "\\n-5", X_LB }, { "\\r-5", X_LB }, { "\\u000b-5", X_LB }, { "\\f-5", X_LB },
		{ "\\u00a0-5", X_OK }, { "-5 ", X_OK }, { "-5x", X_OK }, { "x-5", X_OK }, { "", X_OK },
		{ " ", X_OK }, { "-", X_OK }, { "+", X_OK }, { "+-5", X_OK }, { "--5", X_OK }, { "- 5", X_OK },
		{ "0x10", X_OK }, { "1e3", X_OK }, { "1.5", X_OK }, { "-1.5", X_OK }, { "\\u002d5", X_LB },
		{ "\\u0035\\u0035", X_OK }, { "-\\u0031", X_LB }, { "hello", X_OK }, { "\xd9\xa3", X_OK },
		{ "  \\t\\n -2147483648", X_LB }, { "3000000000", X_LB },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		expectf(keys[i].want, "{\"logit_bias\":{\"%s\":1}}", keys[i].key);
		expectf(keys[i].want, "{\"logit_bias\":{\"1\":2,\"%s\":-100,\"2\":3}}", keys[i].key);
		expectf(X_OK, "{\"x\":{\"%s\":1}}", keys[i].key);
		expectf(X_OK, "{\"logit_bias\":[{\"%s\":1}]}", keys[i].key);
	}
	expect("{\"logit_bias\":[[1,-100],[2,5]]}", X_OK);
	expect("{\"logit_bias\":[[-1,5]]}", X_LB);
	expect("{\"logit_bias\":[[2147483648,5]]}", X_LB);
	expect("{\"logit_bias\":[[1,-100],[-2,5]]}", X_LB);
	expect("{\"logit_bias\":[[1,-1e300]]}", X_OK);
	expect("{\"logit_bias\":[[\"-1\",5]]}", X_OK);
	expect("{\"logit_bias\":[[[-1],5]]}", X_OK);
	expect("{\"logit_bias\":[[]]}", X_OK);
	expect("{\"logit_bias\":[-1]}", X_OK);
	expect("{\"logit_bias\":[[0.5]]}", X_OK);
	expect("{\"logit_bias\":[[-0.5]]}", X_LB);
	expect("{\"logit_bias\":-1}", X_OK);
	expect("{\"logit_bias\":\"-1\"}", X_OK);
	expect("{\"logit_bias\":{\"1\":{\"-1\":2}}}", X_OK);
	expect("{\"logit_bias\":{\"-1\":1,\"-1\":2}}", X_BAD);
	expect("{\"logit_bias\":{\"-1\":1,\"\\u002d1\":2}}", X_BAD);
}

static void test_media(void **state)
{
#define MSG(parts) "{\"messages\":[{\"role\":\"user\",\"content\":[" parts "]}]}"
	static const struct {
		const char *body;
		int want;
	} cases[] = {
		{ MSG("{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://169.254.169.254/\"}}"), X_MEDIA },
		{ MSG("{\"image_url\":{\"url\":\"http://x\"},\"type\":\"image_url\"}"), X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"http://x\"}"), X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"AAAA\"}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"data:\"}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"data\"}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"dat:a\"}"), X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"DATA:x\"}"), X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\":\"}"), X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"x\\u003ay\"}"), X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"\\u0064ata:x\"}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"data\\u003ax\"}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"dat\\u0061\\u003a:x\"}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"d\\u00e1ta:x\"}"), X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image_url\":{\"url\":5}}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":{\"data\":\"http://x\"}}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":[\"http://x\"]}"), X_OK },
		{ MSG("{\"type\":\"image_url\",\"image_url\":{\"url\":{\"url\":\"http://x\"}}}"), X_OK },
		{ MSG("{\"type\":\"image_url\"}"), X_OK },
		{ MSG("{\"type\":\"text\",\"image_url\":\"http://x\"}"), X_OK },
		{ MSG("{\"type\":\"input_audio\",\"image_url\":\"http://x\"}"), X_OK },
		{ MSG("{\"type\":5,\"image_url\":\"http://x\"}"), X_OK },
		{ MSG("{\"type\":[\"image_url\"],\"image_url\":\"http://x\"}"), X_OK },
		{ MSG("{\"type\":\"image_ur\",\"image_url\":\"http://x\"}"), X_OK },
		{ MSG("{\"type\":\"image_url \",\"image_url\":\"http://x\"}"), X_OK },
		{ MSG("{\"type\":\"image\\u005furl\",\"image_url\":\"http://x\"}"), X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image\\u005furl\":\"http://x\"}"), X_MEDIA },
		{ MSG("{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AAAA\",\"format\":\"wav\"}}"), X_OK },
		{ MSG("{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"https://x/a.wav\"}}"), X_MEDIA },
		{ MSG("{\"type\":\"input_audio\",\"input_audio\":{\"url\":\"file:///etc/passwd\"}}"), X_MEDIA },
		{ MSG("{\"type\":\"input_audio\",\"input_audio\":\"https://x/a.wav\"}"), X_OK },
		{ MSG("{\"type\":\"input_audio\",\"input_video\":{\"url\":\"http://x\"}}"), X_OK },
		{ MSG("{\"type\":\"input_video\",\"input_video\":{\"url\":\"http://x\"}}"), X_MEDIA },
		{ MSG("{\"type\":\"video_url\",\"video_url\":{\"url\":\"http://x\"}}"), X_MEDIA },
		{ MSG("{\"type\":\"video_url\",\"video_url\":{\"url\":\"data:video/mp4;base64,AA\"}}"), X_OK },
		{ MSG("{\"type\":\"video_url\",\"video_url\":{\"data\":\"AA\",\"url\":\"x:y\"}}"), X_MEDIA },
		{ MSG("{\"type\":\"text\",\"text\":\"see http://x\"}"), X_OK },
		{ MSG("\"http://x\",5,null,[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]"), X_OK },
		{ MSG("{\"type\":\"text\"},{\"type\":\"image_url\",\"image_url\":\"http://x\"}"), X_MEDIA },
		{ "{\"messages\":[{\"content\":\"http://x\"},{\"content\":[{\"type\":\"image_url\","
		  "\"image_url\":\"http://x\"}]}]}", X_MEDIA },
		{ "{\"messages\":{\"content\":[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]}}", X_OK },
		{ "{\"messages\":[[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]]}", X_OK },
		{ "{\"x\":{\"messages\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]}]}}", X_OK },
		{ "{\"messages\":[{\"content\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]}]}]}", X_OK },
		{ "{\"messages\":[{\"x\":{\"content\":[{\"type\":\"image_url\",\"image_url\":\"http://x\"}]}}]}", X_OK },
		{ "{\"messages\":[{\"cont\\u0065nt\":[{\"typ\\u0065\":\"image_url\",\"image_url\":\"http://x\"}]}]}", X_MEDIA },
		{ MSG("{\"type\":\"image_url\",\"image_url\":\"http://x\",\"type\":\"text\"}"), X_BAD },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		expect(cases[i].body, cases[i].want);
#undef MSG
}

static void test_model(void **state)
{
	struct reqscan sc;
	char *b = malloc(2000), name[400];
	int k;

	(void)state;
	assert_non_null(b);
	sc = scan_ok("{\"model\":\"llama3.2:1b\",\"messages\":[]}");
	assert_true(sc.has_model);
	assert_string_equal(sc.model, "llama3.2:1b");
	sc = scan_ok("{\"messages\":[],\"model\":\"a\\\\b\\/c\\u00e9\\ud83d\\ude00\\t\"}");
	assert_true(sc.has_model);
	assert_string_equal(sc.model, "a\\b/c\xc3\xa9\xf0\x9f\x98\x80\t");
	assert_false(tr_model_name_ok(sc.model));
	sc = scan_ok("{\"model\":\"\"}");
	assert_true(sc.has_model);
	assert_string_equal(sc.model, "");
	sc = scan_ok("{\"model\":5}");
	assert_false(sc.has_model);
	sc = scan_ok("{\"model\":null}");
	assert_false(sc.has_model);
	sc = scan_ok("{\"model\":[\"m\"]}");
	assert_false(sc.has_model);
	sc = scan_ok("{\"x\":{\"model\":\"m\"}}");
	assert_false(sc.has_model);
	sc = scan_ok("{\"Model\":\"m\"}");
	assert_false(sc.has_model);
	sc = scan_ok("{\"mod\\u0065l\":\"m\"}");
	assert_true(sc.has_model);
	assert_string_equal(sc.model, "m");
	expect("{\"model\":\"a\",\"model\":\"b\"}", X_BAD);
	expect("{\"model\":\"a\",\"mod\\u0065l\":\"a\"}", X_BAD);
	/* lengths around TR_MODEL_MAX, plain and with escapes (6 bytes of
	 * text for 1 byte of name) */
	for (int len = 195; len <= 205; len++) {
		memset(name, 'm', (size_t)len);
		name[len] = '\0';
		k = snprintf(b, 2000, "{\"model\":\"%s\"}", name);
		assert_int_equal(reqscan_openai(b, (size_t)k, &sc), 0);
		expect_n(b, (size_t)k, X_OK);
		assert_int_equal(strlen(sc.model), len > REQSCAN_MODEL_MAX ? REQSCAN_MODEL_MAX + 1 : len);
		assert_int_equal(tr_model_name_ok(sc.model), len <= REQSCAN_MODEL_MAX);
		k = snprintf(b, 2000, "{\"model\":\"");
		for (int i = 0; i < len; i++)
			k += snprintf(b + k, 2000 - (size_t)k, "\\u006d");
		k += snprintf(b + k, 2000 - (size_t)k, "\"}");
		expect_n(b, (size_t)k, X_OK);
		assert_int_equal(reqscan_openai(b, (size_t)k, &sc), 0);
		assert_int_equal(tr_model_name_ok(sc.model), len <= REQSCAN_MODEL_MAX);
		/* a two-byte character across the cut */
		k = snprintf(b, 2000, "{\"model\":\"%.*s\xc3\xa9\"}", len - 1, name);
		expect_n(b, (size_t)k, X_OK);
	}
	/* names the checks refuse: the oracle compares tr_model_name_ok() */
	expect("{\"model\":\" m\"}", X_OK);
	expect("{\"model\":\"m\\u007f\"}", X_OK);
	expect("{\"model\":\"m\\u0085\"}", X_OK);
	expect("{\"model\":\"../../etc/passwd\"}", X_OK);
	free(b);
}

static void test_stream(void **state)
{
	static const struct {
		const char *body;
		bool stream;
	} cases[] = {
		{ "{\"stream\":true}", true }, { "{\"stream\" : true }", true }, { "{\"stream\":false}", false },
		{ "{\"stream\":\"true\"}", false }, { "{\"stream\":1}", false }, { "{\"stream\":1.0}", false },
		{ "{\"stream\":null}", false }, { "{}", false }, { "{\"stream\":[true]}", false },
		{ "{\"stream\":{\"stream\":true}}", false }, { "{\"x\":{\"stream\":true}}", false },
		{ "{\"messages\":[{\"stream\":true}]}", false }, { "{\"Stream\":true}", false },
		{ "{\"s\\u0074ream\":true}", true }, { "{\"stream\":true,\"x\":[true]}", true },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct reqscan sc = scan_ok(cases[i].body);

		assert_int_equal(sc.stream, cases[i].stream);
	}
	expect("{\"stream\":true,\"stream\":false}", X_BAD);
}

static void test_keep_alive(void **state)
{
	static const struct {
		const char *body;
		const char *value; /* NULL: absent */
	} cases[] = {
		{ "{\"keep_alive\":\"5m\"}", "\"5m\"" },
		{ "{ \"keep_alive\" :\t-1 , \"model\":\"m\"}", "-1" },
		{ "{\"model\":\"m\",\"keep_alive\":null}", "null" },
		{ "{\"keep_alive\":{\"a\":[1,{\"b\":2}]}}", "{\"a\":[1,{\"b\":2}]}" },
		{ "{\"keep_alive\":[1, 2 ]\n}", "[1, 2 ]" },
		{ "{\"keep_alive\":1.5e3}", "1.5e3" },
		{ "{\"keep_alive\":\"\\u0035m\"}", "\"\\u0035m\"" },
		{ "{\"keep_al\\u0069ve\":0}", "0" },
		{ "{\"x\":{\"keep_alive\":0}}", NULL },
		{ "{}", NULL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct reqscan sc = scan_ok(cases[i].body);

		assert_int_equal(sc.has_keep_alive, cases[i].value != NULL);
		if (cases[i].value) {
			assert_int_equal(sc.keep_alive_len, strlen(cases[i].value));
			assert_memory_equal(cases[i].body + sc.keep_alive_off, cases[i].value, sc.keep_alive_len);
		}
	}
	/* the oracle runs tr_keep_alive() on both */
	expect("{\"keep_alive\":\"forever\"}", X_OK);
	expect("{\"keep_alive\":1e300}", X_OK);
	expect("{\"keep_alive\":9223372036854775807}", X_OK);
	expect("{\"keep_alive\":\"5m\",\"keep_alive\":\"6m\"}", X_BAD);
}

/* depth d of arrays (or objects) around a leaf, inside the body */
static char *nest(size_t d, bool objects, const char *leaf, size_t *len)
{
	size_t ll = strlen(leaf), n = 6 + d * (objects ? 6 : 2) + ll + 1, k = 0;
	char *b = malloc(n + 1);

	assert_non_null(b);
	k += (size_t)sprintf(b, "{\"x\":");
	for (size_t i = 0; i < d; i++)
		k += (size_t)sprintf(b + k, objects ? "{\"a\":" : "[");
	memcpy(b + k, leaf, ll);
	k += ll;
	for (size_t i = 0; i < d; i++)
		b[k++] = objects ? '}' : ']';
	b[k++] = '}';
	b[k] = '\0';
	*len = k;
	return b;
}

static void test_depth(void **state)
{
	static const char *const leaves[] = { "", "1", "[]", "{}", "\"s\"" };

	(void)state;
	/* the body is depth 1, "x"'s value 2: d containers and a leaf value
	 * are d + 2 deep, at most REQSCAN_DEPTH_MAX */
	for (size_t d = REQSCAN_DEPTH_MAX - 4; d <= REQSCAN_DEPTH_MAX + 2; d++)
		for (size_t l = 0; l < ARRAY_SIZE(leaves); l++)
			for (int o = 0; o < 2; o++) {
				size_t n;
				char *b;

				if (o && !leaves[l][0])
					continue; /* {"a":} */
				b = nest(d, o, leaves[l], &n);
				expect_n(b, n, X_ANY);
				free(b);
			}
	{
		size_t n;
		char *b = nest(REQSCAN_DEPTH_MAX - 2, false, "1", &n);

		expect_n(b, n, X_OK);
		free(b);
		b = nest(REQSCAN_DEPTH_MAX - 1, false, "1", &n);
		expect_n(b, n, X_BAD);
		free(b);
		b = nest(REQSCAN_DEPTH_MAX - 1, false, "", &n);
		expect_n(b, n, X_OK);
		free(b);
		b = nest(REQSCAN_DEPTH_MAX, true, "1", &n);
		expect_n(b, n, X_BAD);
		free(b);
	}
	/* deep token arrays: the check follows them */
	{
		char *b = malloc(20000);
		int k = sprintf(b, "{\"prompt\":");

		assert_non_null(b);
		for (int i = 0; i < 2000; i++)
			b[k++] = '[';
		k += sprintf(b + k, "-1");
		for (int i = 0; i < 2000; i++)
			b[k++] = ']';
		b[k++] = '}';
		expect_n(b, (size_t)k, X_TOK);
		free(b);
	}
}

/* {"k0":0,"k1":1,...} with n keys, the key dup (if < n) again at the end */
static char *many_keys(size_t n, size_t dup, bool escaped, size_t *len)
{
	size_t cap = 64 + (n + 1) * 40, k = 0;
	char *b = malloc(cap);

	assert_non_null(b);
	b[k++] = '{';
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(b + k, cap - k, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	if (dup < n)
		k += (size_t)snprintf(b + k, cap - k, ",\"%s%zu\":{\"k%zu\":0}", escaped ? "\\u006b" : "k", dup, dup);
	b[k++] = '}';
	b[k] = '\0';
	*len = k;
	return b;
}

static void test_duplicates(void **state)
{
	static const size_t sizes[] = { 1, 2, 15, 16, 17, 18, 47, 48, 49, 50, 100, 1000, 5000 };

	(void)state;
	expect("{\"a\":1,\"a\":1}", X_BAD);
	expect("{\"a\":1,\"b\":{\"a\":1},\"c\":[{\"a\":1}]}", X_OK);
	expect("{\"a\":{\"b\":1,\"b\":2}}", X_BAD);
	expect("{\"a\":[{\"b\":1},{\"b\":2,\"b\":3}]}", X_BAD);
	expect("{\"a\":[[[[{\"b\":1,\"c\":{\"b\":1},\"b\":2}]]]]}", X_BAD);
	expect("{\"ab\":1,\"a\":1,\"b\":1,\"ba\":1}", X_OK);
	expect("{\"a\":1,\"A\":1}", X_OK);
	expect("{\"a\":1,\"a \":1}", X_OK);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t n = sizes[i], len;
		char *b = many_keys(n, n, false, &len);

		expect_n(b, len, X_OK);
		free(b);
		for (size_t d = 0; d < n; d += n / 7 + 1) {
			b = many_keys(n, d, d & 1, &len);
			expect_n(b, len, X_BAD);
			free(b);
		}
		b = many_keys(n, n - 1, true, &len);
		expect_n(b, len, X_BAD);
		free(b);
	}
	/* nested objects, each with many keys: the key stack grows across
	 * levels and each object's keys are compared alone */
	{
		char *b = malloc(200000);
		int k = 0;

		assert_non_null(b);
		k += sprintf(b + k, "{");
		for (int lvl = 0; lvl < 5; lvl++) {
			for (int i = 0; i < 60; i++)
				k += sprintf(b + k, "\"k%d\":%d,", i, i);
			k += sprintf(b + k, "\"o\":{");
		}
		k += sprintf(b + k, "\"k0\":0");
		for (int lvl = 0; lvl < 5; lvl++)
			k += sprintf(b + k, "},\"k%d\":0", 100 + lvl);
		k += sprintf(b + k, "}");
		expect_n(b, (size_t)k, X_OK);
		/* the same key after the inner object closed: a duplicate */
		b[k - 1] = ',';
		k += sprintf(b + k, "\"k59\":1}");
		expect_n(b, (size_t)k, X_BAD);
		free(b);
	}
	/* keys that differ only past a shared hash are still compared whole */
	expect("{\"\\u00e9\":1,\"\xc3\xa9x\":2,\"\xc3\xa9\":3}", X_BAD);
}

static void test_truncated(void **state)
{
	static const char *const bodies[] = {
		"{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
		"\"text\":\"h\\u00e9\\ud83d\\ude00 \\\"x\\\"\"},{\"type\":\"image_url\",\"image_url\":{"
		"\"url\":\"data:image/png;base64,AAAA\"}}]}],\"stream\":true,\"max_tokens\":-1,"
		"\"temperature\":0.7e-1,\"keep_alive\":\"5m\",\"logit_bias\":{\"15\":-100},\"n\":1}",
		"{ \"prompt\" : [ 1 , [ 2 , 3 ] , \"x\" ] , \"stop\" : null , \"echo\" : false }\n",
		"{\"input\":\"\xe4\xb8\xad\xe6\x96\x87\xf0\x9f\x98\x80\"}",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
		size_t n = strlen(bodies[i]);

		for (size_t k = 1; k <= n; k++) {
			/* a heap copy of exactly k bytes: a read past it is caught
			 * under SANITIZE=1 */
			char *b = malloc(k);

			assert_non_null(b);
			memcpy(b, bodies[i], k);
			expect_n(b, k, k == n || (i == 1 && k == n - 1) ? X_OK : X_BAD);
			free(b);
		}
	}
}

static void test_mutations(void **state)
{
	static const char *const bodies[] = {
		"{\"model\":\"m\",\"messages\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:x\"}}]}],"
		"\"prompt\":[1,[2]],\"logit_bias\":{\"5\":1},\"n\":2,\"stream\":true,\"keep_alive\":-1}",
		"{\"a\":\"\\u00e9\\n\",\"b\":[1.5e3,-0,true,null],\"c\":{\"d\":{}}}",
	};
	static const unsigned char bytes[] = { 0, '\t', ' ', '"', ',', '-', '.', '0', '1', '9', ':', 'E', '[',
					       '\\', ']', 'e', 'u', '{', '}', 0x7F, 0x80, 0xC3, 0xFF };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
		size_t n = strlen(bodies[i]);
		char *b = malloc(n + 1);

		assert_non_null(b);
		for (size_t at = 0; at < n; at++) {
			for (size_t j = 0; j < sizeof(bytes); j++) {
				memcpy(b, bodies[i], n);
				b[at] = (char)bytes[j];
				expect_n(b, n, X_ANY);
			}
			/* one byte dropped */
			memcpy(b, bodies[i], at);
			memcpy(b + at, bodies[i] + at + 1, n - at - 1);
			expect_n(b, n - 1, X_ANY);
		}
		free(b);
	}
}

static void test_big_body(void **state)
{
	/* a long string (the fast path) and a long array */
	size_t n = 3 << 20, k = 0;
	char *b = malloc(n + 64);

	(void)state;
	assert_non_null(b);
	k += (size_t)sprintf(b, "{\"model\":\"m\",\"prompt\":\"");
	for (; k < n; k++)
		b[k] = (char)('a' + k % 26);
	k += (size_t)sprintf(b + k, "\",\"stream\":true}");
	expect_n(b, k, X_OK);
	b[n / 2] = '\x01';
	expect_n(b, k, X_BAD);
	k = (size_t)sprintf(b, "{\"prompt\":[");
	while (k < n)
		k += (size_t)sprintf(b + k, "%zu,", k);
	k += (size_t)sprintf(b + k, "-5]}");
	expect_n(b, k, X_TOK);
	free(b);
	print_message("%zu bodies compared with the oracle\n", n_compared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_json_basics),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_string_bytes),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_num_fields),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_logit_bias),
		cmocka_unit_test(test_media),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_big_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
