/* translate.c: the serve daemon's Ollama <-> OpenAI (llama-server)
 * translation, SSE parser and request checks; translate.h has the contract
 * and the choices. Pure: jansson and libc, no I/O, no clock, no writable
 * globals. */
#include "base/compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "serve/translate.h"

#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)
#define IMAGE_CAP ((size_t)1 << 30) /* one data: URL; the request body is capped before this */
#define BACKEND_MSG_MAX 400
#define MAX_TOOL_CALLS 128
#define U63 (UINT64_C(1) << 63)

#define SETN(o, k, v)                                    \
	do {                                             \
		if (json_object_set_new((o), (k), (v)))  \
			goto oom;                        \
	} while (0)
#define APPN(a, v)                                       \
	do {                                             \
		if (json_array_append_new((a), (v)))     \
			goto oom;                        \
	} while (0)

/* ---------------------------------------------------------------- text */

static char lc(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* a (n bytes) equals b, ignoring ASCII case */
static bool eq_ci(const char *a, size_t n, const char *b)
{
	size_t i;

	if (strlen(b) != n)
		return false;
	for (i = 0; i < n; i++)
		if (lc(a[i]) != lc(b[i]))
			return false;
	return true;
}

static bool prefix_ci(const char *s, const char *p)
{
	for (; *p; p++, s++)
		if (lc(*s) != lc(*p))
			return false;
	return true;
}

/* The length of the UTF-8 character at s (n > 0 bytes left) and its code
 * point, or 0 if it is not valid UTF-8 (overlong, surrogate, > U+10FFFF). */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		if (n < 2 || (s[1] & 0xC0) != 0x80)
			return 0;
		*cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
		return 2;
	}
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
			return 0;
		*cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
			return 0;
		*cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
		      ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
		return 4;
	}
	return 0;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* s (n bytes) as a JSON string fit for a one-line message: invalid bytes as
 * "?", control characters and runs of spaces as one space, trimmed, cut to
 * at most max bytes on a character boundary. NULL if out of memory. */
static json_t *clean_str(const char *s, size_t n, size_t max)
{
	char *buf = malloc(max + 1);
	size_t i = 0, o = 0;
	bool space = true; /* drops leading spaces */
	json_t *j;

	if (!buf)
		return NULL;
	while (i < n) {
		uint32_t cp;
		size_t k = utf8_char((const unsigned char *)s + i, n - i, &cp);
		const char *src = s + i;
		size_t w = k;

		if (k == 0) {
			src = "?";
			w = 1;
			k = 1;
			cp = '?';
		}
		i += k;
		if (is_control(cp) || cp == ' ') {
			if (!space && o < max) {
				buf[o++] = ' ';
				space = true;
			}
			continue;
		}
		if (o + w > max)
			break;
		memcpy(buf + o, src, w);
		o += w;
		space = false;
	}
	while (o > 0 && buf[o - 1] == ' ')
		o--;
	j = json_stringn(buf, o);
	free(buf);
	return j;
}

/* ---------------------------------------------------------------- JSON */

/* Whether every real in v reads back the same from 15 significant digits
 * (all that a decimal of 15 digits or fewer does). */
static bool reals_fit_15(const json_t *v)
{
	const char *k;
	json_t *e;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_REAL: {
		char buf[40];

		snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
		return strtod(buf, NULL) == json_real_value(v);
	}
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, k, e)
			if (!reals_fit_15(e))
				return false;
		return true;
	case JSON_ARRAY:
		json_array_foreach(v, i, e)
			if (!reals_fit_15(e))
				return false;
		return true;
	default:
		return true;
	}
}

char *tr_dump(const json_t *v, size_t *len)
{
	/* a request's numbers are the client's: never rounded (a schema's
	 * "maximum": 1234567890.5 stays that), in their short form where
	 * 15 digits keep them ("0.8", not 0.80000000000000004) */
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
				JSON_REAL_PRECISION(reals_fit_15(v) ? 15 : 17));

	if (s && len)
		*len = strlen(s);
	return s;
}

struct dump_ctx {
	struct sbuf *sb;
	int err;
};

static int dump_cb(const char *buf, size_t size, void *data)
{
	struct dump_ctx *c = data;
	int e = sbuf_add(c->sb, buf, size);

	if (e) {
		c->err = e;
		return -1;
	}
	return 0;
}

int tr_dump_line(const json_t *v, struct sbuf *out)
{
	struct dump_ctx c = { out, 0 };
	size_t old = out->len;
	int e;

	if (json_dump_callback(v, dump_cb, &c,
			       JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9)) == 0) {
		e = sbuf_add(out, "\n", 1);
		if (e == 0)
			return 0;
	} else {
		e = c.err ? c.err : -ENOMEM;
	}
	out->len = old; /* drop the partial line */
	if (out->alloc)
		out->buf[old] = '\0';
	return e;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* Parses len bytes of JSON that must be an object. */
static int load_object(const char *what, const char *buf, size_t len, json_t **out,
		       struct diag *d)
{
	json_error_t je;
	json_t *v;

	*out = NULL;
	if (len == 0)
		return diag_set(d, -EBADMSG, 0, "%s is empty", what);
	v = json_loadb(buf, len, JSON_ALLOW_NUL, &je);
	if (!v) {
		if (json_error_code(&je) == json_error_out_of_memory)
			return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
		return diag_set(d, -EBADMSG, (uint64_t)je.position,
				"%s is not valid JSON: %s (line %d, column %d)", what, je.text,
				je.line, je.column);
	}
	if (!json_is_object(v)) {
		json_decref(v);
		return diag_set(d, -EBADMSG, 0, "%s is not a JSON object", what);
	}
	*out = v;
	return 0;
}

/* The string at o[key], or NULL (and *n = 0) when absent or not a string. */
static const char *ostr(const json_t *o, const char *key, size_t *n)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v)) {
		*n = 0;
		return NULL;
	}
	*n = json_string_length(v);
	return json_string_value(v);
}

/* An optional string field of a request: absent or null is "". */
static int get_str(const json_t *o, const char *key, const char *what, const char **s, size_t *n,
		   struct diag *d)
{
	const json_t *v = json_object_get(o, key);

	*s = "";
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "%s must be a string, not %s", what,
				type_name(v));
	*s = json_string_value(v);
	*n = json_string_length(v);
	return 0;
}

static int get_bool(const json_t *o, const char *key, bool dflt, bool *b, struct diag *d)
{
	const json_t *v = json_object_get(o, key);

	*b = dflt;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "\"%s\" must be true or false, not %s",
				key, type_name(v));
	*b = json_is_true(v);
	return 0;
}

/* A JSON number as an integer, reals truncated (Go's int(float64)). */
static bool num_to_i64(const json_t *v, int64_t *out)
{
	double x;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (!json_is_real(v))
		return false;
	x = json_real_value(v);
	if (!(x > -9.2e18 && x < 9.2e18))
		return false;
	*out = (int64_t)x;
	return true;
}

/* ---------------------------------------------------------------- time */

int tr_time_rfc3339(int64_t ns, char *buf, size_t size)
{
	int64_t secs = ns / NS_PER_S, frac = ns % NS_PER_S, days, sod, z, era, y;
	unsigned doe, yoe, doy, mp, mon, day;
	int n;

	if (size < TR_TIME_LEN)
		return -ENOSPC;
	if (frac < 0) {
		frac += NS_PER_S;
		secs--;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	/* civil_from_days (H. Hinnant) */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = doy - (153 * mp + 2) / 5 + 1;
	mon = mp < 10 ? mp + 3 : mp - 9;
	y += mon <= 2;
	n = snprintf(buf, size, "%04d-%02u-%02uT%02u:%02u:%02u", (int)y, mon, day,
		     (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60));
	if (frac) {
		n += snprintf(buf + n, size - (size_t)n, ".%09u", (unsigned)frac);
		while (buf[n - 1] == '0')
			n--;
	}
	buf[n++] = 'Z';
	buf[n] = '\0';
	return n;
}

/* {"model": model, "created_at": now} */
static json_t *answer_head(const char *model, int64_t now_ns)
{
	char t[TR_TIME_LEN];
	json_t *o = json_object();

	if (!o)
		return NULL;
	tr_time_rfc3339(now_ns, t, sizeof(t));
	if (json_object_set_new(o, "model", json_string(model)) ||
	    json_object_set_new(o, "created_at", json_string(t))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---------------------------------------------------------------- durations */

struct go_unit {
	const char *name;
	uint64_t ns;
};

static const struct go_unit go_units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "\xc2\xb5s", 1000 }, /* U+00B5 micro sign */
	{ "\xce\xbcs", 1000 }, /* U+03BC Greek mu */
	{ "ms", 1000000 },
	{ "s", UINT64_C(1000000000) },
	{ "m", UINT64_C(60000000000) },
	{ "h", UINT64_C(3600000000000) },
};

/* Go's time.ParseDuration; with bare_s, a lone number without a unit is
 * seconds. */
static int go_duration(const char *s, size_t len, bool bare_s, int64_t *ns, struct diag *d)
{
	const char *p = s, *end = s + len;
	uint64_t total = 0;
	bool neg = false;
	int ql = len > 40 ? 40 : (int)len;

	if (p < end && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
	}
	if (end - p == 1 && *p == '0') {
		*ns = 0;
		return 0;
	}
	if (p == end)
		goto invalid;
	while (p < end) {
		uint64_t v = 0, f = 0, unit = 0;
		double scale = 1;
		bool pre, post = false;
		const char *q = p;
		size_t i;

		if (!(*p == '.' || is_digit(*p)))
			goto invalid;
		for (; p < end && is_digit(*p); p++) {
			if (v > U63 / 10)
				goto range;
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > U63)
				goto range;
		}
		pre = p != q;
		if (p < end && *p == '.') {
			bool of = false;

			q = ++p;
			for (; p < end && is_digit(*p); p++) {
				uint64_t y;

				if (of)
					continue;
				if (f > (U63 - 1) / 10) {
					of = true;
					continue;
				}
				y = f * 10 + (uint64_t)(*p - '0');
				if (y > U63) {
					of = true;
					continue;
				}
				f = y;
				scale *= 10;
			}
			post = p != q;
		}
		if (!pre && !post)
			goto invalid;
		q = p;
		while (p < end && *p != '.' && !is_digit(*p))
			p++;
		if (p == q) {
			if (!(bare_s && q == end && total == 0))
				return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
						"missing unit in duration \"%.*s\" (use ns, us, ms, s, m or h)",
						ql, s);
			unit = UINT64_C(1000000000);
		} else {
			for (i = 0; i < ARRAY_SIZE(go_units); i++)
				if (strlen(go_units[i].name) == (size_t)(p - q) &&
				    memcmp(go_units[i].name, q, (size_t)(p - q)) == 0)
					unit = go_units[i].ns;
			if (!unit)
				return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
						"unknown unit \"%.*s\" in duration \"%.*s\" (use ns, us, ms, s, m or h)",
						(int)(p - q > 8 ? 8 : p - q), q, ql, s);
		}
		if (v > U63 / unit)
			goto range;
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > U63)
				goto range;
		}
		total += v;
		if (total > U63)
			goto range;
	}
	if (neg) {
		*ns = total == U63 ? INT64_MIN : -(int64_t)total;
		return 0;
	}
	if (total > (uint64_t)INT64_MAX)
		goto range;
	*ns = (int64_t)total;
	return 0;
invalid:
	return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
			"invalid duration \"%.*s\" (a Go duration such as \"5m\", \"1h30m\", \"300ms\")",
			ql, s);
range:
	return diag_set(d, -ERANGE, DIAG_NO_OFFSET,
			"duration \"%.*s\" is too long (at most 292 years)", ql, s);
}

int tr_go_duration(const char *s, size_t len, int64_t *ns, struct diag *d)
{
	return go_duration(s, len, false, ns, d);
}

int tr_keep_alive(const json_t *v, int64_t *ms, bool *present, struct diag *d)
{
	struct diag sub;
	int64_t ns;
	int e;

	*ms = 0;
	*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		json_int_t s = json_integer_value(v);

		*present = true;
		if (s < 0) {
			*ms = -1;
			return 0;
		}
		if (s > INT64_MAX / NS_PER_S)
			return diag_set(d, -ERANGE, DIAG_NO_OFFSET,
					"keep_alive %lld seconds is too long (at most 292 years; a negative value keeps the model loaded)",
					(long long)s);
		*ms = s * 1000;
		return 0;
	}
	if (json_is_real(v)) {
		double x = json_real_value(v);

		*present = true;
		if (x < 0) {
			*ms = -1;
			return 0;
		}
		if (!(x <= (double)(INT64_MAX / NS_PER_S)))
			return diag_set(d, -ERANGE, DIAG_NO_OFFSET,
					"keep_alive %g seconds is too long (at most 292 years; a negative value keeps the model loaded)",
					x);
		*ms = (int64_t)(x * 1000.0);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v), i = 0;
		bool bare = n > 0, digit = false;

		if (n > 0 && (s[0] == '-' || s[0] == '+'))
			i = 1;
		for (; i < n; i++) {
			if (is_digit(s[i]))
				digit = true;
			else if (s[i] != '.')
				bare = false;
		}
		diag_init(&sub);
		e = go_duration(s, n, bare && digit, &ns, &sub);
		if (e)
			return diag_set(d, e, DIAG_NO_OFFSET, "keep_alive: %s", sub.msg);
		*present = true;
		*ms = ns < 0 ? -1 : ns / NS_PER_MS;
		return 0;
	}
	return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
			"keep_alive must be a duration such as \"5m\" or a number of seconds, not %s",
			type_name(v));
}

/* ---------------------------------------------------------------- requests */

const char *tr_backend_path(enum tr_backend be)
{
	switch (be) {
	case TR_BE_CHAT:
		return "/v1/chat/completions";
	case TR_BE_COMPLETIONS:
		return "/v1/completions";
	case TR_BE_INFILL:
		return "/infill";
	case TR_BE_EMBEDDINGS:
		return "/v1/embeddings";
	default:
		return "";
	}
}

/* Adds name (cleaned, cut) to req->ignored once; "..." when full. */
static void note_ignored(struct tr_request *req, const char *name)
{
	char nm[41];
	size_t n = strlen(req->ignored), i, k = 0;
	const char *p;

	for (i = 0; name[i] && k < sizeof(nm) - 1; i++) {
		char c = name[i];
		bool ok = is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  c == '_' || c == '-' || c == '.';

		nm[k++] = ok ? c : '?';
	}
	if (k == 0)
		nm[k++] = '?';
	nm[k] = '\0';
	if (n >= 3 && strcmp(req->ignored + n - 3, "...") == 0)
		return;
	for (p = req->ignored; (p = strstr(p, nm)) != NULL; p += k)
		if ((p == req->ignored || p[-1] == ' ') && (p[k] == ',' || p[k] == '\0'))
			return;
	if (n + 2 + k + 6 >= sizeof(req->ignored)) {
		memcpy(req->ignored + n, n ? ", ..." : "...", n ? 6 : 4);
		return;
	}
	snprintf(req->ignored + n, sizeof(req->ignored) - n, "%s%s", n ? ", " : "", nm);
}

enum opt_kind { O_NUM, O_INT, O_PREDICT, O_STOP };

struct opt_rule {
	const char *name, *to;
	enum opt_kind kind;
};

/* Ollama's runtime options that llama-server's sampler takes (its names). */
static const struct opt_rule opt_rules[] = {
	{ "temperature", "temperature", O_NUM },
	{ "top_p", "top_p", O_NUM },
	{ "top_k", "top_k", O_INT },
	{ "min_p", "min_p", O_NUM },
	{ "typical_p", "typical_p", O_NUM },
	{ "seed", "seed", O_INT },
	{ "num_predict", "max_tokens", O_PREDICT },
	{ "stop", "stop", O_STOP },
	{ "repeat_penalty", "repeat_penalty", O_NUM },
	{ "repeat_last_n", "repeat_last_n", O_INT },
	{ "presence_penalty", "presence_penalty", O_NUM },
	{ "frequency_penalty", "frequency_penalty", O_NUM },
	{ "mirostat", "mirostat", O_INT },
	{ "mirostat_tau", "mirostat_tau", O_NUM },
	{ "mirostat_eta", "mirostat_eta", O_NUM },
	{ "num_keep", "n_keep", O_INT },
};

/* options -> body (when apply); load-time and unknown options are noted. */
static int put_options(const json_t *opts, json_t *body, bool apply, struct tr_request *req,
		       struct diag *d)
{
	const char *key;
	json_t *v;

	if (!opts || json_is_null(opts))
		return 0;
	if (!json_is_object(opts))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "\"options\" must be an object, not %s",
				type_name(opts));
	json_object_foreach ((json_t *)opts, key, v) {
		const struct opt_rule *r = NULL;
		int64_t n;
		size_t i;

		if (strcmp(key, "num_ctx") == 0) {
			if (num_to_i64(v, &n) && n > 0)
				req->num_ctx = n;
			note_ignored(req, key);
			continue;
		}
		for (i = 0; i < ARRAY_SIZE(opt_rules); i++)
			if (strcmp(opt_rules[i].name, key) == 0)
				r = &opt_rules[i];
		if (!apply || !r) {
			note_ignored(req, key);
			continue;
		}
		if (json_is_null(v))
			continue;
		switch (r->kind) {
		case O_NUM:
			if (!json_is_number(v))
				return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
						"option \"%s\" must be a number, not %s", key,
						type_name(v));
			if (json_object_set(body, r->to, v))
				goto oom;
			break;
		case O_INT:
		case O_PREDICT:
			if (!num_to_i64(v, &n))
				return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
						"option \"%s\" must be an integer, not %s", key,
						json_is_number(v) ? "that number" : type_name(v));
			if (r->kind == O_PREDICT && n <= 0)
				break; /* -1 (and -2, 0): no limit */
			SETN(body, r->to, json_integer(n));
			break;
		case O_STOP:
			if (json_is_string(v)) {
				json_t *a = json_array();

				if (!a || json_array_append(a, v)) {
					json_decref(a);
					goto oom;
				}
				SETN(body, r->to, a);
				break;
			}
			if (!json_is_array(v))
				return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
						"option \"stop\" must be an array of strings, not %s",
						type_name(v));
			for (i = 0; i < json_array_size(v); i++)
				if (!json_is_string(json_array_get(v, i)))
					return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
							"option \"stop\" must be an array of strings (item %zu is %s)",
							i, type_name(json_array_get(v, i)));
			if (json_object_set(body, r->to, v))
				goto oom;
			break;
		}
	}
	return 0;
oom:
	return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
}

/* format: "json" or a JSON schema. Chat takes OpenAI's response_format;
 * /v1/completions and /infill take llama-server's json_schema. */
static int put_format(const json_t *f, json_t *body, enum tr_backend be, struct diag *d)
{
	json_t *schema, *rf, *js;

	if (!f || json_is_null(f) || (json_is_string(f) && json_string_length(f) == 0))
		return 0;
	if (json_is_string(f) && strcmp(json_string_value(f), "json") == 0) {
		if (be == TR_BE_CHAT) {
			rf = json_pack("{s:s}", "type", "json_object");
			SETN(body, "response_format", rf);
		} else {
			SETN(body, "json_schema", json_pack("{s:s}", "type", "object"));
		}
		return 0;
	}
	if (!json_is_object(f)) {
		if (json_is_string(f))
			return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
					"invalid format \"%.40s\": expected \"json\" or a JSON schema object",
					json_string_value(f));
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"invalid format (%s): expected \"json\" or a JSON schema object",
				type_name(f));
	}
	schema = (json_t *)f;
	if (be != TR_BE_CHAT) {
		if (json_object_set(body, "json_schema", schema))
			goto oom;
		return 0;
	}
	js = json_pack("{s:s,s:O}", "name", "format", "schema", schema);
	rf = js ? json_pack("{s:s,s:o}", "type", "json_schema", "json_schema", js) : NULL;
	SETN(body, "response_format", rf);
	return 0;
oom:
	return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
}

/* think: true, false, "high", "medium", "low" (chat backend only). */
static int put_think(const json_t *t, json_t *body, struct diag *d)
{
	if (!t || json_is_null(t))
		return 0;
	if (json_is_boolean(t)) {
		bool on = json_is_true(t);

		if (!on)
			SETN(body, "reasoning_effort", json_string("none"));
		SETN(body, "chat_template_kwargs", json_pack("{s:b}", "enable_thinking", on));
		return 0;
	}
	if (json_is_string(t) && (strcmp(json_string_value(t), "high") == 0 ||
				  strcmp(json_string_value(t), "medium") == 0 ||
				  strcmp(json_string_value(t), "low") == 0)) {
		if (json_object_set(body, "reasoning_effort", (json_t *)t))
			goto oom;
		return 0;
	}
	return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
			"think must be a boolean or string (\"high\", \"medium\", \"low\", true, or false)");
oom:
	return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '+' ||
	       c == '/';
}

/* The MIME type of base64 image data, by its first bytes. */
static const char *image_mime(const char *b64, size_t n)
{
	static const struct {
		const char *prefix, *mime;
	} sniff[] = {
		{ "iVBORw0KGgo", "image/png" }, { "/9j/", "image/jpeg" },
		{ "R0lGOD", "image/gif" },      { "UklGR", "image/webp" },
		{ "Qk", "image/bmp" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sniff); i++)
		if (n >= strlen(sniff[i].prefix) &&
		    memcmp(b64, sniff[i].prefix, strlen(sniff[i].prefix)) == 0)
			return sniff[i].mime;
	return "image/jpeg"; /* llama-server reads the bytes, not the type */
}

/* An Ollama image (base64, or a data: URL of one) as a data: URL. */
static int image_url(const json_t *img, const char *where, size_t idx, json_t **url,
		     struct diag *d)
{
	const char *s, *comma;
	size_t n, i, sig = 0, pad = 0;
	struct sbuf sb;
	int e;

	*url = NULL;
	if (!json_is_string(img))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				"%s.images[%zu] must be a base64 string, not %s", where, idx,
				type_name(img));
	s = json_string_value(img);
	n = json_string_length(img);
	if (n > 11 && memcmp(s, "data:image/", 11) == 0 &&
	    (comma = memchr(s, ',', n)) != NULL && comma - s >= 7 &&
	    memcmp(comma - 7, ";base64", 7) == 0) {
		n -= (size_t)(comma + 1 - s);
		s = comma + 1;
	}
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\r' || c == '\n')
			continue;
		if (c == '=' && sig > 0) {
			pad++;
			continue;
		}
		if (!b64_char(c) || pad)
			return diag_set(d, -EINVAL, i,
					"%s.images[%zu] is not base64 (byte %zu is not valid here)",
					where, idx, i);
		sig++;
	}
	if (sig == 0 || pad > 2 || (sig + pad) % 4 == 1 || (pad && (sig + pad) % 4))
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"%s.images[%zu] is not base64 (%s)", where, idx,
				sig == 0 ? "it is empty" : "its length is wrong");
	sbuf_init(&sb, IMAGE_CAP);
	e = sbuf_addf(&sb, "data:%s;base64,", image_mime(s, n));
	for (i = 0; e == 0 && i < n; i++)
		if (s[i] != '\r' && s[i] != '\n')
			e = sbuf_add(&sb, s + i, 1);
	if (e == 0) {
		*url = json_stringn(sb.buf, sb.len);
		if (!*url)
			e = -ENOMEM;
	}
	sbuf_release(&sb);
	if (e == -E2BIG)
		return diag_set(d, e, DIAG_NO_OFFSET, "%s.images[%zu] is over 1 GiB", where, idx);
	if (e)
		return diag_set(d, e, DIAG_NO_OFFSET, "out of memory");
	return 0;
}

/* A message's content: the text alone, or with images OpenAI's parts
 * (images first, then the text). */
static int user_content(const char *text, size_t n, const json_t *images, const char *where,
			json_t **content, struct diag *d)
{
	json_t *parts = NULL, *url;
	size_t i;
	int e;

	*content = NULL;
	if (images && !json_is_null(images) && !json_is_array(images))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "%s.images must be an array, not %s",
				where, type_name(images));
	if (!json_is_array(images) || json_array_size(images) == 0) {
		*content = json_stringn(text, n);
		return *content ? 0 : diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	parts = json_array();
	if (!parts)
		goto oom;
	for (i = 0; i < json_array_size(images); i++) {
		e = image_url(json_array_get(images, i), where, i, &url, d);
		if (e) {
			json_decref(parts);
			return e;
		}
		APPN(parts, json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url", "url", url));
	}
	if (n > 0)
		APPN(parts, json_pack("{s:s,s:s%}", "type", "text", "text", text, n));
	*content = parts;
	return 0;
oom:
	json_decref(parts);
	return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
}

/* Ollama tool calls (arguments an object) -> OpenAI's (a JSON string). */
static int req_tool_calls(const json_t *calls, const char *where, json_t **out, struct diag *d)
{
	json_t *a = json_array();
	size_t i;

	*out = NULL;
	if (!a)
		goto oom;
	for (i = 0; i < json_array_size(calls); i++) {
		const json_t *tc = json_array_get(calls, i), *fn, *args, *id;
		const char *name;
		json_t *o, *argstr;
		char *txt;
		size_t nn;

		fn = json_object_get(tc, "function");
		name = ostr(fn, "name", &nn);
		if (!json_is_object(tc) || !json_is_object(fn) || !name) {
			json_decref(a);
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"%s.tool_calls[%zu] must be {\"function\":{\"name\":..., \"arguments\":{...}}}",
					where, i);
		}
		args = json_object_get(fn, "arguments");
		if (!args || json_is_null(args)) {
			argstr = json_string("{}");
		} else if (json_is_string(args)) {
			argstr = json_copy((json_t *)args);
		} else if (json_is_object(args)) {
			txt = tr_dump(args, NULL);
			argstr = txt ? json_string(txt) : NULL;
			free(txt);
		} else {
			json_decref(a);
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"%s.tool_calls[%zu].function.arguments must be an object, not %s",
					where, i, type_name(args));
		}
		o = json_pack("{s:s,s:{s:s%,s:o}}", "type", "function", "function", "name", name, nn,
			      "arguments", argstr);
		if (!o)
			goto oom;
		id = json_object_get(tc, "id");
		if (json_is_string(id) && json_string_length(id) > 0 &&
		    json_object_set(o, "id", (json_t *)id)) {
			json_decref(o);
			goto oom;
		}
		APPN(a, o);
	}
	*out = a;
	return 0;
oom:
	json_decref(a);
	return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
}

/* One Ollama chat message -> OpenAI's. */
static int req_message(const json_t *m, size_t idx, json_t **out, struct diag *d)
{
	char where[32];
	const char *role, *content, *s;
	size_t rn, cn, sn;
	const json_t *calls;
	json_t *o = NULL, *c = NULL, *tc;
	int e;

	*out = NULL;
	snprintf(where, sizeof(where), "messages[%zu]", idx);
	if (!json_is_object(m))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "%s must be an object, not %s", where,
				type_name(m));
	role = ostr(m, "role", &rn);
	if (!role || rn == 0)
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				"%s.role must be a string (\"system\", \"user\", \"assistant\" or \"tool\")",
				where);
	e = get_str(m, "content", "the message content", &content, &cn, d);
	if (e)
		return diag_set(d, e, DIAG_NO_OFFSET, "%s.content must be a string", where);
	e = user_content(content, cn, json_object_get(m, "images"), where, &c, d);
	if (e)
		return e;
	o = json_pack("{s:s%,s:o}", "role", role, rn, "content", c);
	if (!o)
		goto oom;
	calls = json_object_get(m, "tool_calls");
	if (calls && !json_is_null(calls)) {
		if (!json_is_array(calls)) {
			json_decref(o);
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"%s.tool_calls must be an array, not %s", where,
					type_name(calls));
		}
		if (json_array_size(calls) > 0) {
			e = req_tool_calls(calls, where, &tc, d);
			if (e) {
				json_decref(o);
				return e;
			}
			SETN(o, "tool_calls", tc);
		}
	}
	if ((s = ostr(m, "thinking", &sn)) != NULL && sn > 0)
		SETN(o, "reasoning_content", json_stringn(s, sn));
	if ((s = ostr(m, "tool_name", &sn)) != NULL && sn > 0)
		SETN(o, "name", json_stringn(s, sn));
	if ((s = ostr(m, "tool_call_id", &sn)) != NULL && sn > 0)
		SETN(o, "tool_call_id", json_stringn(s, sn));
	*out = o;
	return 0;
oom:
	json_decref(o);
	return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
}

/* The empty-request idiom: unload when keep_alive is under a second
 * (Ollama compares int(Seconds()) with 0), else load. */
static enum tr_action idle_action(const struct tr_request *req)
{
	if (req->keep_alive_set && req->keep_alive_ms >= 0 && req->keep_alive_ms < 1000)
		return TR_ACT_UNLOAD;
	return TR_ACT_LOAD;
}

/* A fresh body with model, stream and stream_options. */
static json_t *new_body(const struct tr_request *req, bool stream_options)
{
	json_t *b = json_pack("{s:s,s:b}", "model", req->model, "stream", req->stream);

	if (b && req->stream && stream_options &&
	    json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1))) {
		json_decref(b);
		return NULL;
	}
	return b;
}

static void note_if_present(struct tr_request *req, const json_t *root, const char *key)
{
	const json_t *v = json_object_get(root, key);

	if (v && !json_is_null(v) && !json_is_false(v) &&
	    !(json_is_string(v) && json_string_length(v) == 0) &&
	    !(json_is_array(v) && json_array_size(v) == 0))
		note_ignored(req, key);
}

static int parse_chat(const json_t *root, struct tr_request *req, struct diag *d)
{
	const json_t *msgs = json_object_get(root, "messages"), *tools;
	json_t *body = NULL, *arr, *m;
	size_t i, n;
	int e;

	if (msgs && !json_is_null(msgs) && !json_is_array(msgs))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "\"messages\" must be an array, not %s",
				type_name(msgs));
	n = json_is_array(msgs) ? json_array_size(msgs) : 0;
	if (n == 0) {
		req->action = idle_action(req);
		return 0;
	}
	body = new_body(req, true);
	arr = json_array();
	if (!body || !arr || json_object_set_new(body, "messages", arr))
		goto oom;
	for (i = 0; i < n; i++) {
		e = req_message(json_array_get(msgs, i), i, &m, d);
		if (e)
			goto fail;
		APPN(arr, m);
	}
	e = put_options(json_object_get(root, "options"), body, true, req, d);
	if (!e)
		e = put_format(json_object_get(root, "format"), body, TR_BE_CHAT, d);
	if (!e)
		e = put_think(json_object_get(root, "think"), body, d);
	if (e)
		goto fail;
	tools = json_object_get(root, "tools");
	if (tools && !json_is_null(tools)) {
		if (!json_is_array(tools)) {
			e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "\"tools\" must be an array, not %s",
				     type_name(tools));
			goto fail;
		}
		if (json_array_size(tools) > 0 && json_object_set(body, "tools", (json_t *)tools))
			goto oom;
	}
	note_if_present(req, root, "logprobs");
	note_if_present(req, root, "top_logprobs");
	note_if_present(req, root, "truncate");
	note_if_present(req, root, "shift");
	req->backend = TR_BE_CHAT;
	req->body = body;
	return 0;
oom:
	e = diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
fail:
	json_decref(body);
	return e;
}

static int parse_generate(const json_t *root, struct tr_request *req, struct diag *d)
{
	const char *prompt, *suffix, *system, *tmpl;
	size_t pn, sn, yn, tn;
	const json_t *images = json_object_get(root, "images"), *ctx = json_object_get(root, "context");
	bool raw, has_images, has_ctx;
	json_t *body = NULL, *msgs, *content;
	int e;

	if ((e = get_str(root, "prompt", "\"prompt\"", &prompt, &pn, d)) ||
	    (e = get_str(root, "suffix", "\"suffix\"", &suffix, &sn, d)) ||
	    (e = get_str(root, "system", "\"system\"", &system, &yn, d)) ||
	    (e = get_str(root, "template", "\"template\"", &tmpl, &tn, d)) ||
	    (e = get_bool(root, "raw", false, &raw, d)))
		return e;
	if (images && !json_is_null(images) && !json_is_array(images))
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "\"images\" must be an array, not %s",
				type_name(images));
	has_images = json_is_array(images) && json_array_size(images) > 0;
	has_ctx = json_is_array(ctx) && json_array_size(ctx) > 0;
	if (pn == 0) {
		req->action = idle_action(req);
		return 0;
	}
	if (raw && (tn || yn || has_ctx))
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"raw mode does not support template, system, or context");
	if (has_images && (raw || sn))
		return diag_set(d, -ENOTSUP, DIAG_NO_OFFSET,
				"images with %s are not supported by llmem (llama-server takes images only in chat form); send them without it",
				raw ? "\"raw\": true" : "a \"suffix\"");
	if (tn)
		note_ignored(req, "template");
	if (has_ctx)
		note_ignored(req, "context");
	if (sn) {
		/* fill in the middle: llama-server's /infill */
		body = new_body(req, false);
		if (!body)
			goto oom;
		SETN(body, "input_prefix", json_stringn(prompt, pn));
		SETN(body, "input_suffix", json_stringn(suffix, sn));
		SETN(body, "prompt", json_string(""));
		if (yn)
			note_ignored(req, "system");
		note_if_present(req, root, "think");
		req->backend = TR_BE_INFILL;
	} else if (raw) {
		body = new_body(req, true);
		if (!body)
			goto oom;
		SETN(body, "prompt", json_stringn(prompt, pn));
		note_if_present(req, root, "think");
		req->backend = TR_BE_COMPLETIONS;
	} else {
		body = new_body(req, true);
		msgs = json_array();
		if (!body || !msgs || json_object_set_new(body, "messages", msgs))
			goto oom;
		if (yn)
			APPN(msgs, json_pack("{s:s,s:s%}", "role", "system", "content", system, yn));
		e = user_content(prompt, pn, images, "the request", &content, d);
		if (e)
			goto fail;
		APPN(msgs, json_pack("{s:s,s:o}", "role", "user", "content", content));
		e = put_think(json_object_get(root, "think"), body, d);
		if (e)
			goto fail;
		req->backend = TR_BE_CHAT;
	}
	e = put_options(json_object_get(root, "options"), body, true, req, d);
	if (!e)
		e = put_format(json_object_get(root, "format"), body, req->backend, d);
	if (e)
		goto fail;
	note_if_present(req, root, "logprobs");
	note_if_present(req, root, "top_logprobs");
	note_if_present(req, root, "truncate");
	note_if_present(req, root, "shift");
	req->body = body;
	return 0;
oom:
	e = diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
fail:
	req->backend = TR_BE_NONE;
	json_decref(body);
	return e;
}

static int parse_embed(const json_t *root, struct tr_request *req, struct diag *d)
{
	const json_t *in, *dim;
	json_t *body;
	bool empty;
	size_t i;
	int e;

	if (req->api == TR_API_EMBEDDINGS) {
		const char *p;
		size_t pn;

		if ((e = get_str(root, "prompt", "\"prompt\"", &p, &pn, d)))
			return e;
		in = json_object_get(root, "prompt");
		empty = pn == 0;
	} else {
		in = json_object_get(root, "input");
		if (!in || json_is_null(in)) {
			empty = true;
		} else if (json_is_string(in)) {
			empty = json_string_length(in) == 0;
		} else if (json_is_array(in)) {
			for (i = 0; i < json_array_size(in); i++)
				if (!json_is_string(json_array_get(in, i)))
					return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
							"invalid input type: input[%zu] is %s, not a string",
							i, type_name(json_array_get(in, i)));
			empty = json_array_size(in) == 0;
		} else {
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"invalid input type: \"input\" must be a string or an array of strings, not %s",
					type_name(in));
		}
		if ((e = get_bool(root, "truncate", true, &req->truncate, d)))
			return e;
		dim = json_object_get(root, "dimensions");
		if (dim && !json_is_null(dim) &&
		    (!json_is_integer(dim) || json_integer_value(dim) < 0))
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"\"dimensions\" must be a non-negative integer");
		if (json_is_integer(dim))
			req->dimensions = json_integer_value(dim);
	}
	req->stream = false;
	e = put_options(json_object_get(root, "options"), NULL, false, req, d);
	if (e)
		return e;
	if (empty) {
		req->action = idle_action(req);
		return 0;
	}
	body = json_pack("{s:s,s:O,s:s}", "model", req->model, "input", in, "encoding_format",
			 "float");
	/* Ollama's /api/embed answers unit vectors, as llama-server does by
	 * default; its older /api/embeddings the model's own */
	if (body && req->api == TR_API_EMBEDDINGS &&
	    json_object_set_new(body, "embd_normalize", json_integer(-1)) < 0) {
		json_decref(body);
		body = NULL;
	}
	if (!body)
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	req->backend = TR_BE_EMBEDDINGS;
	req->body = body;
	return 0;
}

int tr_request_parse(enum tr_api api, const char *body, size_t len, struct tr_request *req,
		     struct diag *d)
{
	json_t *root;
	const char *model;
	size_t mn;
	int e;

	memset(req, 0, sizeof(*req));
	req->api = api;
	req->action = TR_ACT_INFER;
	req->truncate = true;
	req->stream = api == TR_API_CHAT || api == TR_API_GENERATE;
	if (len == 0)
		return diag_set(d, -EBADMSG, 0, "missing request body");
	e = load_object("the request body", body, len, &root, d);
	if (e)
		return e;
	e = get_str(root, "model", "\"model\"", &model, &mn, d);
	if (e)
		goto out;
	if (mn == 0) {
		e = diag_set(d, -EINVAL, DIAG_NO_OFFSET, "model is required");
		goto out;
	}
	if (mn != strlen(model) || !tr_model_name_ok(model)) {
		e = diag_set(d, -EINVAL, DIAG_NO_OFFSET,
			     "invalid model name (1 to %d bytes of UTF-8 text, no control characters)",
			     TR_MODEL_MAX);
		goto out;
	}
	memcpy(req->model, model, mn + 1);
	e = tr_keep_alive(json_object_get(root, "keep_alive"), &req->keep_alive_ms,
			  &req->keep_alive_set, d);
	if (e)
		goto out;
	if (api == TR_API_CHAT || api == TR_API_GENERATE) {
		e = get_bool(root, "stream", true, &req->stream, d);
		if (e)
			goto out;
	}
	switch (api) {
	case TR_API_CHAT:
		e = parse_chat(root, req, d);
		break;
	case TR_API_GENERATE:
		e = parse_generate(root, req, d);
		break;
	case TR_API_EMBED:
	case TR_API_EMBEDDINGS:
		e = parse_embed(root, req, d);
		break;
	default:
		e = diag_set(d, -EINVAL, DIAG_NO_OFFSET, "unknown API %d", (int)api);
	}
out:
	json_decref(root);
	return e;
}

void tr_request_release(struct tr_request *req)
{
	json_decref(req->body);
	req->body = NULL;
}

/* ---------------------------------------------------------------- answers */

void tr_meta_init(struct tr_meta *m, const struct tr_request *req, int64_t start_ns,
		  int64_t now_ns, int64_t load_ns)
{
	m->model = req->model;
	m->api = req->api;
	m->backend = req->backend;
	m->start_ns = start_ns;
	m->now_ns = now_ns;
	m->load_ns = load_ns;
	m->dimensions = req->dimensions;
}

static int64_t count_of(const json_t *v)
{
	double x;

	if (!json_is_number(v))
		return 0;
	x = json_number_value(v);
	if (!(x > 0))
		return 0;
	return x > 9007199254740992.0 ? INT64_C(9007199254740992) : (int64_t)x;
}

static double ms_of(const json_t *v)
{
	double x;

	if (!json_is_number(v))
		return 0;
	x = json_number_value(v);
	return (x > 0 && x < 9.2e12) ? x : 0;
}

/* usage, timings and /infill's token counts of an answer or event, merged
 * into c (what an event lacks is kept). */
static void read_counts(const json_t *root, struct tr_counts *c)
{
	const json_t *u = json_object_get(root, "usage"), *t = json_object_get(root, "timings");

	if (json_is_object(u)) {
		c->usage = true;
		c->prompt_tokens = count_of(json_object_get(u, "prompt_tokens"));
		c->completion_tokens = count_of(json_object_get(u, "completion_tokens"));
	} else if (json_is_number(json_object_get(root, "tokens_evaluated"))) {
		c->usage = true;
		c->prompt_tokens = count_of(json_object_get(root, "tokens_evaluated"));
		c->completion_tokens = count_of(json_object_get(root, "tokens_predicted"));
	}
	if (json_is_object(t)) {
		c->timings = true;
		c->prompt_n = count_of(json_object_get(t, "prompt_n"));
		c->cache_n = count_of(json_object_get(t, "cache_n"));
		c->predicted_n = count_of(json_object_get(t, "predicted_n"));
		c->prompt_ms = ms_of(json_object_get(t, "prompt_ms"));
		c->predicted_ms = ms_of(json_object_get(t, "predicted_ms"));
	}
}

static int64_t ns_of_ms(double ms)
{
	return (int64_t)(ms * 1e6 + 0.5);
}

static int64_t elapsed(int64_t start, int64_t now)
{
	int64_t r;

	if (__builtin_sub_overflow(now, start, &r) || r < 0)
		return 0;
	return r;
}

/* Ollama's final counts: prompt_eval_count is the whole prompt (cached
 * tokens too, as usage counts it), the durations llama-server's timings. */
static int put_metrics(json_t *o, const struct tr_counts *c, int64_t total_ns, int64_t load_ns)
{
	int64_t pe = c->usage ? c->prompt_tokens : c->prompt_n + c->cache_n;
	int64_t ev = c->usage ? c->completion_tokens : c->predicted_n;

	SETN(o, "total_duration", json_integer(total_ns));
	SETN(o, "load_duration", json_integer(load_ns > 0 ? load_ns : 0));
	SETN(o, "prompt_eval_count", json_integer(pe));
	SETN(o, "prompt_eval_duration", json_integer(c->timings ? ns_of_ms(c->prompt_ms) : 0));
	SETN(o, "eval_count", json_integer(ev));
	SETN(o, "eval_duration", json_integer(c->timings ? ns_of_ms(c->predicted_ms) : 0));
	return 0;
oom:
	return -ENOMEM;
}

/* OpenAI's finish_reason (or /infill's stop_type) as Ollama's done_reason. */
static void set_reason(char *dst, size_t size, const char *finish, size_t n)
{
	size_t i;

	if (!finish || n == 0 || eq_ci(finish, n, "stop") || eq_ci(finish, n, "tool_calls") ||
	    eq_ci(finish, n, "eos") || eq_ci(finish, n, "word")) {
		snprintf(dst, size, "stop");
		return;
	}
	if (eq_ci(finish, n, "length") || eq_ci(finish, n, "limit")) {
		snprintf(dst, size, "length");
		return;
	}
	for (i = 0; i < n && i < size - 1; i++)
		dst[i] = (finish[i] >= 'a' && finish[i] <= 'z') || finish[i] == '_' ? finish[i] : '_';
	dst[i] = '\0';
}

/* OpenAI tool calls (arguments a JSON string) -> Ollama's (an object). */
static json_t *resp_tool_calls(const json_t *calls)
{
	json_t *a = json_array();
	size_t i;

	if (!a)
		return NULL;
	for (i = 0; i < json_array_size(calls); i++) {
		const json_t *tc = json_array_get(calls, i), *fn = json_object_get(tc, "function");
		const json_t *args = json_object_get(fn, "arguments");
		const char *name, *id;
		size_t nn, idn;
		json_t *o, *av = NULL;

		name = ostr(fn, "name", &nn);
		id = ostr(tc, "id", &idn);
		if (json_is_string(args)) {
			av = json_loadb(json_string_value(args), json_string_length(args),
					JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
			if (av && !json_is_object(av)) {
				json_decref(av);
				av = NULL;
			}
			if (!av)
				av = json_copy((json_t *)args);
		} else if (json_is_object(args)) {
			av = json_incref((json_t *)args);
		} else {
			av = json_object();
		}
		o = json_pack("{s:{s:I,s:s%,s:o}}", "function", "index", (json_int_t)i, "name",
			      name ? name : "", nn, "arguments", av);
		if (!o)
			goto oom;
		if (id && idn && json_object_set_new(o, "id", json_stringn(id, idn))) {
			json_decref(o);
			goto oom;
		}
		if (json_array_append_new(a, o))
			goto oom;
	}
	return a;
oom:
	json_decref(a);
	return NULL;
}

/* The message (chat) or response (generate) of an answer; calls stolen. */
static int put_body(json_t *o, enum tr_api api, const char *content, size_t cn, const char *think,
		    size_t tn, json_t *calls)
{
	json_t *msg;

	if (api == TR_API_CHAT) {
		msg = json_pack("{s:s,s:s%}", "role", "assistant", "content", content ? content : "",
				cn);
		if (!msg)
			goto oom;
		if (tn && json_object_set_new(msg, "thinking", json_stringn(think, tn))) {
			json_decref(msg);
			goto oom;
		}
		if (calls && json_array_size(calls) > 0) {
			if (json_object_set_new(msg, "tool_calls", calls)) {
				json_decref(msg);
				return -ENOMEM;
			}
			calls = NULL;
		}
		json_decref(calls);
		return json_object_set_new(o, "message", msg) ? -ENOMEM : 0;
	}
	json_decref(calls);
	SETN(o, "response", json_stringn(content ? content : "", cn));
	if (tn)
		SETN(o, "thinking", json_stringn(think, tn));
	return 0;
oom:
	json_decref(calls);
	return -ENOMEM;
}

static int put_done(json_t *o, enum tr_api api, bool done, const char *reason)
{
	if (api == TR_API_CHAT && reason)
		SETN(o, "done_reason", json_string(reason));
	SETN(o, "done", json_boolean(done));
	if (api != TR_API_CHAT && reason)
		SETN(o, "done_reason", json_string(reason));
	return 0;
oom:
	return -ENOMEM;
}

/* The backend's error message in an error object or body. */
static const char *error_message(const json_t *root, size_t *n)
{
	const json_t *err = json_object_get(root, "error");
	const char *s;

	if ((s = ostr(err, "message", n)) != NULL)
		return s;
	if (json_is_string(err)) {
		*n = json_string_length(err);
		return json_string_value(err);
	}
	if ((s = ostr(root, "message", n)) != NULL)
		return s;
	if ((s = ostr(root, "detail", n)) != NULL)
		return s;
	*n = 0;
	return NULL;
}

static int resp_text(const struct tr_meta *m, const json_t *root, json_t **out, struct diag *d)
{
	const json_t *c0 = NULL, *ch = json_object_get(root, "choices"), *msg = NULL;
	const char *content = NULL, *think = NULL, *finish;
	size_t cn = 0, tn = 0, fn = 0;
	struct tr_counts c = { 0 };
	char reason[24];
	json_t *o, *calls = NULL;

	*out = NULL;
	if (m->backend == TR_BE_INFILL) {
		content = ostr(root, "content", &cn);
		if (!content)
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"the model's backend answered without \"content\"");
		finish = ostr(root, "stop_type", &fn);
	} else {
		if (json_is_array(ch) && json_array_size(ch) > 0)
			c0 = json_array_get(ch, 0);
		if (!json_is_object(c0))
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"the model's backend answered without choices[0]");
		if (m->backend == TR_BE_CHAT) {
			msg = json_object_get(c0, "message");
			if (!json_is_object(msg))
				return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
						"the model's backend answered without choices[0].message");
			content = ostr(msg, "content", &cn);
			think = ostr(msg, "reasoning_content", &tn);
			if (m->api == TR_API_CHAT && json_is_array(json_object_get(msg, "tool_calls"))) {
				calls = resp_tool_calls(json_object_get(msg, "tool_calls"));
				if (!calls)
					goto oom;
			}
		} else {
			content = ostr(c0, "text", &cn);
		}
		finish = ostr(c0, "finish_reason", &fn);
	}
	read_counts(root, &c);
	set_reason(reason, sizeof(reason), finish, fn);
	o = answer_head(m->model, m->now_ns);
	if (!o) {
		json_decref(calls);
		goto oom;
	}
	if (put_body(o, m->api, content, cn, think, tn, calls) ||
	    put_done(o, m->api, true, reason) ||
	    put_metrics(o, &c, elapsed(m->start_ns, m->now_ns), m->load_ns)) {
		json_decref(o);
		goto oom;
	}
	*out = o;
	return 0;
oom:
	return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
}

/* One embedding checked (every value a number) and, when dims cuts it,
 * cut and renormalized as Ollama does. */
static int embedding_of(const json_t *e, size_t idx, int64_t dims, json_t **out, struct diag *d)
{
	size_t i, n = json_array_size(e), keep;
	double sum = 0, norm;
	json_t *a;

	*out = NULL;
	if (!json_is_array(e) || n == 0)
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				"the model's backend answered without embedding %zu", idx);
	for (i = 0; i < n; i++)
		if (!json_is_number(json_array_get(e, i)))
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"embedding %zu has %s at %zu, not a number (llama-server writes NaN as null: the model's output is broken)",
					idx, type_name(json_array_get(e, i)), i);
	if (dims <= 0 || (uint64_t)dims >= n) {
		*out = json_incref((json_t *)e);
		return 0;
	}
	keep = (size_t)dims;
	for (i = 0; i < keep; i++) {
		double v = json_number_value(json_array_get(e, i));

		sum += v * v;
	}
	norm = 1.0 / fmax(sqrt(sum), 1e-12);
	a = json_array();
	for (i = 0; a && i < keep; i++)
		if (json_array_append_new(a, json_real(json_number_value(json_array_get(e, i)) * norm))) {
			json_decref(a);
			a = NULL;
		}
	if (!a)
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	*out = a;
	return 0;
}

static int resp_embed(const struct tr_meta *m, const json_t *root, json_t **out, struct diag *d)
{
	const json_t *data = json_object_get(root, "data");
	size_t i, n = json_array_size(data);
	struct tr_counts c = { 0 };
	json_t *vecs, *o = NULL;
	int e;

	*out = NULL;
	if (!json_is_array(data) || n == 0)
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				"the model's backend answered without \"data\"");
	vecs = json_array();
	for (i = 0; vecs && i < n; i++)
		if (json_array_append_new(vecs, json_null()))
			goto oom;
	if (!vecs)
		goto oom;
	for (i = 0; i < n; i++) {
		const json_t *it = json_array_get(data, i), *ix = json_object_get(it, "index");
		size_t at = i;
		json_t *v;

		if (json_is_integer(ix)) {
			if (json_integer_value(ix) < 0 || (uint64_t)json_integer_value(ix) >= n) {
				e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					     "the model's backend answered with embedding index %lld of %zu",
					     (long long)json_integer_value(ix), n);
				goto fail;
			}
			at = (size_t)json_integer_value(ix);
		}
		if (!json_is_null(json_array_get(vecs, at))) {
			e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				     "the model's backend answered with embedding %zu twice", at);
			goto fail;
		}
		e = embedding_of(json_object_get(it, "embedding"), at, m->dimensions, &v, d);
		if (e)
			goto fail;
		if (json_array_set_new(vecs, at, v))
			goto oom;
	}
	read_counts(root, &c);
	if (m->api == TR_API_EMBEDDINGS) {
		o = json_pack("{s:O}", "embedding", json_array_get(vecs, 0));
		if (!o)
			goto oom;
		json_decref(vecs);
		*out = o;
		return 0;
	}
	o = json_pack("{s:s,s:o}", "model", m->model, "embeddings", vecs);
	vecs = NULL;
	if (!o)
		goto oom;
	SETN(o, "total_duration", json_integer(elapsed(m->start_ns, m->now_ns)));
	SETN(o, "load_duration", json_integer(m->load_ns > 0 ? m->load_ns : 0));
	SETN(o, "prompt_eval_count", json_integer(c.prompt_tokens));
	*out = o;
	return 0;
oom:
	e = diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
fail:
	json_decref(vecs);
	json_decref(o);
	return e;
}

int tr_response(const struct tr_meta *m, const char *body, size_t len, json_t **out,
		struct diag *d)
{
	json_t *root;
	const char *msg;
	size_t mn;
	int e;

	*out = NULL;
	e = load_object("the model's backend answer", body, len, &root, d);
	if (e)
		return e;
	if (json_object_get(root, "error")) {
		msg = error_message(root, &mn);
		e = diag_set(d, -EPROTO, DIAG_NO_OFFSET, "the model's backend failed: %.*s",
			     msg && mn ? (int)(mn > 200 ? 200 : mn) : 12,
			     msg && mn ? msg : "(no message)");
	} else if (m->api == TR_API_EMBED || m->api == TR_API_EMBEDDINGS) {
		e = resp_embed(m, root, out, d);
	} else if (m->backend == TR_BE_CHAT || m->backend == TR_BE_COMPLETIONS ||
		   m->backend == TR_BE_INFILL) {
		e = resp_text(m, root, out, d);
	} else {
		e = diag_set(d, -EINVAL, DIAG_NO_OFFSET, "no backend answer is expected here");
	}
	json_decref(root);
	return e;
}

json_t *tr_load_response(const struct tr_meta *m, enum tr_action act)
{
	const char *reason = act == TR_ACT_UNLOAD ? "unload" : "load";
	json_t *o;

	if (m->api == TR_API_EMBED)
		return json_pack("{s:s,s:[]}", "model", m->model, "embeddings");
	if (m->api == TR_API_EMBEDDINGS)
		return json_pack("{s:[]}", "embedding");
	o = answer_head(m->model, m->now_ns);
	if (!o || put_body(o, m->api, "", 0, NULL, 0, NULL) || put_done(o, m->api, true, reason)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---------------------------------------------------------------- errors */

json_t *tr_error_ollama(const char *msg)
{
	json_t *s = clean_str(msg ? msg : "", msg ? strlen(msg) : 0, 4000);

	return s ? json_pack("{s:o}", "error", s) : NULL;
}

json_t *tr_error_from_backend(int status, const char *body, size_t len)
{
	json_t *root = NULL, *s = NULL;
	const char *msg = NULL;
	size_t mn = 0;
	char fallback[64];

	if (body && len)
		root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (json_is_object(root)) {
		msg = error_message(root, &mn);
	} else if (json_is_string(root)) {
		msg = json_string_value(root);
		mn = json_string_length(root);
	} else if (!root && body) {
		msg = body;
		mn = len;
	}
	if (msg && mn)
		s = clean_str(msg, mn, BACKEND_MSG_MAX);
	json_decref(root);
	if (!s || json_string_length(s) == 0) {
		json_decref(s);
		snprintf(fallback, sizeof(fallback), "the model's backend failed (HTTP %d)", status);
		s = json_string(fallback);
	}
	return s ? json_pack("{s:o}", "error", s) : NULL;
}

json_t *tr_error_openai(int status, const char *msg)
{
	const char *type;
	json_t *s;

	switch (status) {
	case 400:
		type = "invalid_request_error";
		break;
	case 401:
		type = "authentication_error";
		break;
	case 403:
		type = "permission_error";
		break;
	case 404:
		type = "not_found_error";
		break;
	case 429:
		type = "rate_limit_error";
		break;
	case 501:
		type = "not_supported_error";
		break;
	case 503:
		type = "unavailable_error";
		break;
	default:
		type = "server_error";
	}
	s = clean_str(msg ? msg : "", msg ? strlen(msg) : 0, 4000);
	return s ? json_pack("{s:{s:o,s:s,s:i}}", "error", "message", s, "type", type, "code",
			     status)
		 : NULL;
}

/* ---------------------------------------------------------------- streams */

void tr_stream_init(struct tr_stream *st, const struct tr_meta *m)
{
	memset(st, 0, sizeof(*st));
	st->meta = *m;
	snprintf(st->model, sizeof(st->model), "%s", m->model ? m->model : "");
	st->meta.model = st->model;
}

void tr_stream_release(struct tr_stream *st)
{
	json_decref(st->calls);
	st->calls = NULL;
}

/* Ends the stream with an error line; returns code. */
static int stream_fail(struct tr_stream *st, struct sbuf *out, struct diag *d, int code,
		       const char *msg)
{
	json_t *e = tr_error_ollama(msg);
	int r;

	st->done = st->failed = true;
	if (e) {
		r = tr_dump_line(e, out);
		(void)r; /* the error is already the answer */
		json_decref(e);
	}
	return diag_set(d, code, DIAG_NO_OFFSET, "%s", msg);
}

static int stream_emit(struct tr_stream *st, json_t *o, struct sbuf *out, struct diag *d)
{
	int e = o ? tr_dump_line(o, out) : -ENOMEM;

	json_decref(o);
	if (e) {
		st->done = st->failed = true;
		return diag_set(d, e, DIAG_NO_OFFSET,
				e == -E2BIG ? "the answer's buffer is full" : "out of memory");
	}
	return 0;
}

/* A done:false line; calls stolen. */
static int stream_line(struct tr_stream *st, int64_t now_ns, const char *content, size_t cn,
		       const char *think, size_t tn, json_t *calls, struct sbuf *out,
		       struct diag *d)
{
	json_t *o = answer_head(st->model, now_ns);

	if (!o) {
		json_decref(calls);
	} else if (put_body(o, st->meta.api, content, cn, think, tn, calls) ||
		   put_done(o, st->meta.api, false, NULL)) {
		json_decref(o);
		o = NULL;
	}
	return stream_emit(st, o, out, d);
}

/* The tool calls put together so far, as one line. */
static int stream_calls(struct tr_stream *st, int64_t now_ns, struct sbuf *out, struct diag *d)
{
	json_t *calls;

	if (!st->calls || json_array_size(st->calls) == 0 || st->meta.api != TR_API_CHAT)
		return 0;
	calls = resp_tool_calls(st->calls);
	json_decref(st->calls);
	st->calls = NULL;
	if (!calls) {
		st->done = st->failed = true;
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	return stream_line(st, now_ns, "", 0, NULL, 0, calls, out, d);
}

/* The final done:true line. */
static int stream_end(struct tr_stream *st, int64_t now_ns, struct sbuf *out, struct diag *d)
{
	json_t *o;
	int e;

	if (!st->finished) {
		snprintf(st->done_reason, sizeof(st->done_reason), "stop");
		st->finished = true;
	}
	e = stream_calls(st, now_ns, out, d);
	if (e)
		return e;
	o = answer_head(st->model, now_ns);
	if (o && (put_body(o, st->meta.api, "", 0, NULL, 0, NULL) ||
		  put_done(o, st->meta.api, true, st->done_reason) ||
		  put_metrics(o, &st->counts, elapsed(st->meta.start_ns, now_ns), st->meta.load_ns))) {
		json_decref(o);
		o = NULL;
	}
	e = stream_emit(st, o, out, d);
	st->done = true;
	return e;
}

/* Appends n bytes to the string o[key]. */
static int append_str(json_t *o, const char *key, const char *add, size_t n)
{
	json_t *s = json_object_get(o, key);
	size_t old = json_string_length(s);
	char *buf;
	int e;

	if (!json_is_string(s) || n == 0)
		return 0;
	buf = malloc(old + n + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, json_string_value(s), old);
	memcpy(buf + old, add, n);
	e = json_string_setn(s, buf, old + n) ? -ENOMEM : 0;
	free(buf);
	return e;
}

/* Streamed tool-call fragments, put together by index. */
static int stream_acc_calls(struct tr_stream *st, const json_t *calls, struct diag *d)
{
	size_t i;

	if (!st->calls && !(st->calls = json_array()))
		goto oom;
	for (i = 0; i < json_array_size(calls); i++) {
		const json_t *tc = json_array_get(calls, i), *fn = json_object_get(tc, "function");
		const json_t *ix = json_object_get(tc, "index");
		json_int_t at = json_is_integer(ix) ? json_integer_value(ix) : (json_int_t)i;
		const char *s;
		size_t n;
		json_t *slot, *sfn;

		if (!json_is_object(tc) || at < 0 || at >= MAX_TOOL_CALLS)
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"the model's backend sent a malformed tool call");
		while (json_array_size(st->calls) <= (size_t)at)
			APPN(st->calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", "", "type",
						  "function", "function", "name", "", "arguments", ""));
		slot = json_array_get(st->calls, (size_t)at);
		sfn = json_object_get(slot, "function");
		if ((s = ostr(tc, "id", &n)) != NULL && n > 0)
			SETN(slot, "id", json_stringn(s, n));
		if ((s = ostr(fn, "name", &n)) != NULL) {
			st->acc += n;
			if (append_str(sfn, "name", s, n))
				goto oom;
		}
		if ((s = ostr(fn, "arguments", &n)) != NULL) {
			st->acc += n;
			if (append_str(sfn, "arguments", s, n))
				goto oom;
		}
		if (st->acc > TR_STREAM_ACC_MAX)
			return diag_set(d, -E2BIG, DIAG_NO_OFFSET,
					"the model's tool calls are over %u bytes", TR_STREAM_ACC_MAX);
	}
	return 0;
oom:
	return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
}

static int stream_oai(struct tr_stream *st, const json_t *root, int64_t now_ns, struct sbuf *out,
		      struct diag *d)
{
	const json_t *ch = json_object_get(root, "choices"), *c0 = NULL, *delta = NULL;
	const char *content = NULL, *think = NULL, *finish;
	size_t cn = 0, tn = 0, fn = 0;
	int e;

	read_counts(root, &st->counts);
	if (json_is_array(ch) && json_array_size(ch) > 0)
		c0 = json_array_get(ch, 0);
	if (!json_is_object(c0))
		return 0; /* the usage chunk: "choices":[] */
	if (st->meta.backend == TR_BE_CHAT) {
		delta = json_object_get(c0, "delta");
		content = ostr(delta, "content", &cn);
		think = ostr(delta, "reasoning_content", &tn);
		if (json_is_array(json_object_get(delta, "tool_calls"))) {
			e = stream_acc_calls(st, json_object_get(delta, "tool_calls"), d);
			if (e)
				return stream_fail(st, out, NULL, e, d ? d->msg : "bad tool call");
		}
	} else {
		content = ostr(c0, "text", &cn);
	}
	if (cn || tn) {
		e = stream_line(st, now_ns, content, cn, think, tn, NULL, out, d);
		if (e)
			return e;
	}
	finish = ostr(c0, "finish_reason", &fn);
	if (finish) {
		st->finished = true;
		set_reason(st->done_reason, sizeof(st->done_reason), finish, fn);
		return stream_calls(st, now_ns, out, d);
	}
	return 0;
}

static int stream_native(struct tr_stream *st, const json_t *root, int64_t now_ns,
			 struct sbuf *out, struct diag *d)
{
	const char *content, *stop_type;
	size_t cn, sn;
	int e;

	content = ostr(root, "content", &cn);
	if (cn) {
		e = stream_line(st, now_ns, content, cn, NULL, 0, NULL, out, d);
		if (e)
			return e;
	}
	if (!json_is_true(json_object_get(root, "stop")))
		return 0;
	read_counts(root, &st->counts);
	stop_type = ostr(root, "stop_type", &sn);
	st->finished = true;
	set_reason(st->done_reason, sizeof(st->done_reason), stop_type, sn);
	return stream_end(st, now_ns, out, d);
}

int tr_stream_event(struct tr_stream *st, const char *data, size_t len, int64_t now_ns,
		    struct sbuf *out, struct diag *d)
{
	json_t *root;
	const char *msg;
	size_t mn;
	char buf[DIAG_MSG_MAX];
	int e;

	if (st->done)
		return 0;
	if (tr_sse_is_done(data, len))
		return stream_end(st, now_ns, out, d);
	root = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return stream_fail(st, out, d, -EBADMSG,
				   "the model's backend sent a malformed event (not a JSON object)");
	}
	if (json_object_get(root, "error")) {
		msg = error_message(root, &mn);
		snprintf(buf, sizeof(buf), "%.*s", (int)(mn > 200 ? 200 : mn), msg ? msg : "");
		if (!buf[0]) /* no message, or one that starts with a NUL */
			snprintf(buf, sizeof(buf), "the model's backend failed");
		json_decref(root);
		return stream_fail(st, out, d, -EPROTO, buf);
	}
	if (st->meta.backend == TR_BE_INFILL)
		e = stream_native(st, root, now_ns, out, d);
	else
		e = stream_oai(st, root, now_ns, out, d);
	json_decref(root);
	return e;
}

int tr_stream_finish(struct tr_stream *st, int64_t now_ns, struct sbuf *out, struct diag *d)
{
	if (st->done)
		return 0;
	if (st->finished)
		return stream_end(st, now_ns, out, d);
	return stream_fail(st, out, d, -EPIPE,
			   "the model's backend stopped before the response was complete");
}

/* ---------------------------------------------------------------- SSE */

void tr_sse_init(struct tr_sse *s, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap ? cap : TR_SSE_CAP;
	sbuf_init(&s->line, s->cap);
	sbuf_init(&s->data, s->cap);
}

void tr_sse_release(struct tr_sse *s)
{
	sbuf_release(&s->line);
	sbuf_release(&s->data);
}

static void sb_clear(struct sbuf *sb)
{
	sb->len = 0;
	if (sb->alloc)
		sb->buf[0] = '\0';
}

bool tr_sse_is_done(const char *data, size_t len)
{
	return len == 6 && memcmp(data, "[DONE]", 6) == 0;
}

/* One complete line (the terminator not included). */
static int sse_line(struct tr_sse *s, tr_sse_fn fn, void *arg, struct diag *d)
{
	const char *l = s->line.buf, *colon, *val;
	size_t n = s->line.len, fl, vl;
	int e = 0;

	if (!s->started) {
		s->started = true;
		if (n >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) {
			l += 3;
			n -= 3;
		}
	}
	if (n == 0) { /* dispatch */
		if (s->data.len > 0) {
			s->data.buf[--s->data.len] = '\0'; /* the last "\n" */
			e = fn(arg, s->event[0] ? s->event : "message", s->data.buf, s->data.len);
		}
		sb_clear(&s->data);
		s->event[0] = '\0';
		return e;
	}
	if (l[0] == ':')
		return 0; /* a comment */
	colon = memchr(l, ':', n);
	fl = colon ? (size_t)(colon - l) : n;
	val = colon ? colon + 1 : l + n;
	vl = n - (size_t)(val - l);
	if (vl > 0 && val[0] == ' ') {
		val++;
		vl--;
	}
	if (fl == 4 && memcmp(l, "data", 4) == 0) {
		if (s->data.len + vl + 2 > s->cap) /* "\n" and the terminator */
			return diag_set(d, -E2BIG, s->offset,
					"an event of the stream is over %zu bytes", s->cap);
		e = sbuf_add(&s->data, val, vl);
		if (!e)
			e = sbuf_add(&s->data, "\n", 1);
		if (e)
			return diag_set(d, e, s->offset, "%s",
					e == -E2BIG ? "an event of the stream is too big"
						    : "out of memory");
	} else if (fl == 5 && memcmp(l, "event", 5) == 0) {
		snprintf(s->event, sizeof(s->event), "%.*s",
			 (int)(vl < sizeof(s->event) ? vl : sizeof(s->event) - 1), val);
	}
	return 0;
}

int tr_sse_feed(struct tr_sse *s, const void *buf, size_t len, tr_sse_fn fn, void *arg,
		struct diag *d)
{
	const char *p = buf;
	size_t i = 0;
	int e;

	if (s->error)
		return s->error;
	while (i < len) {
		size_t j = i;

		if (s->cr) {
			s->cr = false;
			if (p[i] == '\n') {
				i++;
				continue;
			}
		}
		while (j < len && p[j] != '\n' && p[j] != '\r')
			j++;
		if (j > i) {
			/* "+ 1": with the terminator an sbuf stays within cap, so
			 * its doubling never allocates past a power-of-two cap */
			if (s->line.len + s->data.len + (j - i) + 1 > s->cap) {
				s->error = diag_set(d, -E2BIG, s->offset + j,
						    "an event of the stream is over %zu bytes (no end of line)",
						    s->cap);
				return s->error;
			}
			e = sbuf_add(&s->line, p + i, j - i);
			if (e) {
				s->error = diag_set(d, e, s->offset + j, "%s",
						    e == -E2BIG ? "a line of the stream is too big"
								: "out of memory");
				return e;
			}
		}
		if (j == len) {
			i = j;
			break;
		}
		s->cr = p[j] == '\r';
		e = sse_line(s, fn, arg, d);
		sb_clear(&s->line);
		if (e) {
			s->error = e;
			s->offset += j + 1;
			return e;
		}
		i = j + 1;
	}
	s->offset += len;
	return 0;
}

int tr_sse_end(struct tr_sse *s, struct diag *d)
{
	size_t pending = s->line.len + s->data.len;

	sb_clear(&s->line);
	sb_clear(&s->data);
	if (pending)
		return diag_set(d, -EPIPE, s->offset,
				"the stream ended inside an event (%zu bytes dropped)", pending);
	return 0;
}

/* ---------------------------------------------------------------- checks */

/* Splits a Host header into name and port (-1 when none). */
static bool split_host(const char *h, const char **name, size_t *nl, long *port)
{
	const char *p, *end = h + strlen(h);

	*port = -1;
	if (h[0] == '[') {
		p = strchr(h, ']');
		if (!p)
			return false;
		*name = h + 1;
		*nl = (size_t)(p - h - 1);
		p++;
	} else {
		p = strchr(h, ':');
		if (p && strchr(p + 1, ':'))
			return false; /* a bare IPv6 address */
		*name = h;
		*nl = p ? (size_t)(p - h) : (size_t)(end - h);
		p = p ? p : end;
	}
	if (*p == '\0')
		return true;
	if (*p != ':' || p[1] == '\0' || end - p - 1 > 5)
		return false;
	*port = 0;
	for (p++; *p; p++) {
		if (!is_digit(*p))
			return false;
		*port = *port * 10 + (*p - '0');
	}
	return true;
}

/* Whether name (nl bytes) is an IP literal: family 4 or 6, 0 if not. */
static int ip_literal(const char *name, size_t nl, unsigned char addr[16])
{
	char buf[64];

	if (nl == 0 || nl >= sizeof(buf))
		return 0;
	memcpy(buf, name, nl);
	buf[nl] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		return 4;
	if (inet_pton(AF_INET6, buf, addr) == 1)
		return 6;
	return 0;
}

static bool is_loopback_addr(const char *a)
{
	unsigned char ip[16];
	size_t n;
	int fam;

	if (!a)
		return true;
	n = strlen(a);
	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		a++;
		n -= 2;
	}
	if (eq_ci(a, n, "localhost") || eq_ci(a, n, "localhost."))
		return true;
	fam = ip_literal(a, n, ip);
	if (fam == 4)
		return ip[0] == 127;
	if (fam == 6) {
		static const unsigned char lo[16] = { [15] = 1 };
		static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };

		return memcmp(ip, lo, 16) == 0 ||
		       (memcmp(ip, v4mapped, 12) == 0 && ip[12] == 127);
	}
	return false;
}

bool tr_host_allowed(const char *host, const char *bind_addr, uint16_t port)
{
	const char *name;
	size_t nl;
	long p;
	unsigned char ip[16];
	int fam;

	if (!is_loopback_addr(bind_addr))
		return true;
	if (!host || !*host)
		return true;
	if (strlen(host) > 260 || !split_host(host, &name, &nl, &p))
		return false;
	if (p != -1 && p != (long)port)
		return false;
	fam = ip_literal(name, nl, ip);
	if (fam)
		return (fam == 6) == (host[0] == '[');
	if (host[0] == '[')
		return false;
	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (eq_ci(name, nl, "localhost"))
		return true;
	return nl > 10 && eq_ci(name + nl - 10, 10, ".localhost");
}

static bool origin_default(const char *o)
{
	static const char *const any[] = { "app://", "file://", "tauri://", "vscode-webview://",
					   "vscode-file://" };
	static const char *const hosts[] = { "localhost", "127.0.0.1", "0.0.0.0", "[::1]" };
	const char *h, *end;
	size_t i, hl, k;

	for (i = 0; i < ARRAY_SIZE(any); i++)
		if (prefix_ci(o, any[i]))
			return true;
	if (prefix_ci(o, "http://"))
		h = o + 7;
	else if (prefix_ci(o, "https://"))
		h = o + 8;
	else
		return false;
	for (i = 0; i < ARRAY_SIZE(hosts); i++) {
		hl = strlen(hosts[i]);
		if (!prefix_ci(h, hosts[i]))
			continue;
		end = h + hl;
		if (*end == '\0')
			return true;
		if (*end != ':' || end[1] == '\0')
			return false;
		for (k = 1; end[k]; k++)
			if (!is_digit(end[k]) || k > 5)
				return false;
		return true;
	}
	return false;
}

/* p matches s, "*" any run, ASCII case ignored. */
static bool glob_ci(const char *p, const char *s)
{
	const char *star = NULL, *back = NULL;

	while (*s) {
		if (*p == '*') {
			star = p++;
			back = s;
		} else if (*p && lc(*p) == lc(*s)) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++back;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

bool tr_origin_allowed(const char *origin, const char *const *allow, size_t n)
{
	size_t i;

	if (!origin || !*origin)
		return true;
	if (origin_default(origin))
		return true;
	for (i = 0; allow && i < n; i++)
		if (allow[i] && glob_ci(allow[i], origin))
			return true;
	return false;
}

bool tr_bearer_ok(const char *auth, const char *key)
{
	const char *tok;
	size_t tl, kl, i, n;
	volatile unsigned char diff;

	if (!auth || !key || !*key)
		return false;
	while (*auth == ' ' || *auth == '\t')
		auth++;
	if (!prefix_ci(auth, "bearer") || (auth[6] != ' ' && auth[6] != '\t'))
		return false;
	tok = auth + 6;
	while (*tok == ' ' || *tok == '\t')
		tok++;
	tl = strlen(tok);
	while (tl > 0 && (tok[tl - 1] == ' ' || tok[tl - 1] == '\t'))
		tl--;
	kl = strlen(key);
	diff = (unsigned char)(tl != kl);
	n = tl > kl ? tl : kl;
	for (i = 0; i < n; i++) {
		unsigned char a = i < tl ? (unsigned char)tok[i] : 0;
		unsigned char b = i < kl ? (unsigned char)key[i] : 0;

		diff |= (unsigned char)(a ^ b);
	}
	return diff == 0;
}

bool tr_model_name_ok(const char *s)
{
	size_t n, i = 0;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > TR_MODEL_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	while (i < n) {
		uint32_t cp;
		size_t k = utf8_char((const unsigned char *)s + i, n - i, &cp);

		if (k == 0 || is_control(cp))
			return false;
		i += k;
	}
	return true;
}
