/* reqscan.c: the one pass over an OpenAI request body that replaces
 * jansson's tree on the daemon's hot path (see reqscan.h). It is a
 * recursive-descent validator with jansson 2.14's rules (src/load.c,
 * src/utf.c): whitespace is space, tab, LF and CR; strings reject control
 * characters, invalid escapes, lone or unpaired surrogates, \u0000 and
 * what utf8_check_first/utf8_check_full reject (continuation or 0xC0,
 * 0xC1, 0xF5.. leads, overlongs, surrogates, over U+10FFFF); a number
 * without '.' or an exponent is a long long (out of range: rejected), the
 * others a strtod() double (overflow to infinity rejected, underflow not);
 * every object's decoded keys must differ; values nest at most 2048 deep
 * (JSON_PARSER_MAX_DEPTH, the outermost counting 1); nothing but
 * whitespace may follow. strtod() reads '.' as the decimal point in the C
 * locale the daemon runs in (main.c), where jansson's locale dance does
 * nothing.
 *
 * While it validates it follows what the daemon reads: the value of each
 * top-level key is scanned in a context (enum ctx) saying what matters in
 * it, and the checks' outcomes are flags folded at the end in the order
 * the daemon makes its checks, so that the first failing one wins as it
 * did with a tree. A body that is not JSON wins over every check: the
 * whole body is scanned before any check's outcome counts.
 *
 * Keys of the open objects are kept on one stack (inline for ordinary
 * bodies, on the heap past KEYS_INLINE) and compared when their object
 * closes: pairwise up to KEYS_LINEAR keys, else sorted. */
#include "base/compat.h"
#include "base/parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serve/reqscan.h"

/* Numeric fields whose out-of-range values crashed or hung llama-server
 * (CVE-2026-21869: n_discard < 0; llama.cpp #12178: n_probs; 2^31 and up
 * wrap in its int32 fields), with the ranges llama-server v0.5.0's own
 * schema enforces. The daemon checks them first (B11), so an older
 * --backend is not the only line and a bad request costs no load. */
const struct reqscan_num reqscan_num_fields[] = {
	{ "n_predict", -1, INT32_MAX }, { "max_tokens", -1, INT32_MAX },
	{ "max_completion_tokens", -1, INT32_MAX }, { "n_keep", -1, INT32_MAX },
	{ "n_discard", 0, INT32_MAX }, { "n_indent", 0, INT32_MAX },
	{ "n_probs", 0, 1024 }, { "top_logprobs", 0, 1024 }, { "logprobs", 0, 1024 },
	{ "n_cmpl", 1, 1024 }, { "n", 1, 1024 }, { "n_cache_reuse", 0, INT32_MAX },
	{ "id_slot", -1, INT32_MAX }, { "min_keep", 0, INT32_MAX },
	{ "repeat_last_n", -1, INT32_MAX }, { "penalty_last_n", -1, INT32_MAX },
	{ "dry_penalty_last_n", -1, INT32_MAX }, { "top_k", INT32_MIN, INT32_MAX },
	{ "mirostat", 0, 2 },
};
_Static_assert(ARRAY_SIZE(reqscan_num_fields) == REQSCAN_N_NUM, "REQSCAN_N_NUM");
_Static_assert(REQSCAN_N_NUM <= 32, "num_bad is 32 bits");

#define KEYS_INLINE 48 /* keys of the open objects held without allocating */
#define KEYS_LINEAR 16 /* an object of up to this many keys: compared pairwise */
#define NUM_INLINE 128 /* a real number's text copied for strtod() on the stack */

/* What a value means to the daemon: what to take out of it or check. */
enum ctx {
	C_NONE,       /* nothing (still validated) */
	C_TOP,        /* the body */
	C_MODEL,      /* "model": the name when a string */
	C_STREAM,     /* "stream": whether true */
	C_KEEP_ALIVE, /* "keep_alive": where it is */
	C_NUM,        /* reqscan_num_fields[arg] */
	C_TOKENS,     /* "prompt", "input": token ids, arrays of them, any depth */
	C_LB,         /* "logit_bias": {"id": bias} or [[id, bias], ...] */
	C_LB_PAIR,    /* an element of a logit_bias array */
	C_LB_ID,      /* the first element of a logit_bias pair */
	C_MSGS,       /* "messages" */
	C_MSG,        /* one message */
	C_CONTENT,    /* its "content" */
	C_PART,       /* one content part */
	C_TYPE,       /* a part's "type": returns enum media */
	C_IMG,        /* a part's "image_url": returns whether a URL to fetch */
	C_AV,         /* a part's "input_audio", ...: returns whether a URL to fetch */
	C_URL,        /* a URL: returns whether one to fetch */
};

/* A content part's media types; M_OTHER: a string naming none. */
enum media { M_NONE, M_IMAGE_URL, M_INPUT_AUDIO, M_INPUT_VIDEO, M_VIDEO_URL, M_OTHER };

/* A key of an open object. */
struct key {
	const char *raw; /* between the quotes */
	size_t len;      /* of raw */
	size_t dlen;     /* decoded */
	uint32_t hash;   /* of the decoded bytes */
	bool esc;        /* raw has escapes (else it is the decoded text) */
};

/* A string as scanned: valid, its raw bytes between the quotes. */
struct str {
	const char *raw;
	size_t len;
	bool esc;
};

/* A number as jansson holds it. */
struct num {
	bool is_int;
	int64_t i;
	double x;
};

struct scan {
	const char *base, *p, *end;
	int err;        /* -EINVAL or -ENOMEM once failed */
	const char *why;
	const char *at;
	struct key *keys; /* keys of the open objects, innermost last */
	size_t n_keys, cap_keys;
	uint32_t num_bad; /* bit i: reqscan_num_fields[i] out of range */
	bool tok_bad, lb_bad, media_bad;
	struct reqscan *out;
	struct key inline_keys[KEYS_INLINE];
};

static int fail(struct scan *s, const char *at, const char *why)
{
	if (!s->err) {
		s->err = -EINVAL;
		s->why = why;
		s->at = at;
	}
	return -1;
}

static int fail_nomem(struct scan *s)
{
	if (!s->err) {
		s->err = -ENOMEM;
		s->why = "out of memory";
		s->at = s->p;
	}
	return -1;
}

static void skip_ws(struct scan *s)
{
	const char *p = s->p, *e = s->end;

	while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	s->p = p;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* After the value that began at v: jansson's lexer reads one byte past a
 * number or a literal and puts it back; a NUL byte put back is lost (its
 * stream takes a NUL in its one-character buffer for "empty"), so one NUL
 * right after such a value is skipped, as if it were not there. */
static void skip_lost_nul(struct scan *s, const char *v)
{
	if (s->p < s->end && *s->p == '\0' && *v != '"' && *v != '[' && *v != '{')
		s->p++;
}

/* The four hex digits at p (bounds checked by the caller): 0..0xFFFF, or
 * -1 when one is not a hex digit. */
static int32_t hex4(const unsigned char *p)
{
	int32_t v = 0;

	for (int i = 0; i < 4; i++) {
		int h = parse_hex_digit(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* ---- strings ---- */

/* Whether one of 8 bytes is '"', '\\', below 0x20 or above 0x7F (exact
 * tests for a byte's presence, from "Bit Twiddling Hacks"). */
static bool word_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
}

/* One UTF-8 sequence at p (lead byte >= 0x80), e its end: its length, or
 * 0 when jansson's utf8_check_first/utf8_check_full refuse it. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *e)
{
	unsigned c = p[0];
	size_t k;
	uint32_t v;

	if (c >= 0xC2 && c <= 0xDF) {
		k = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 3;
		v = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4;
		v = c & 0x07;
	} else {
		return 0; /* a continuation byte, 0xC0, 0xC1, 0xF5.. */
	}
	if ((size_t)(e - p) < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (k == 2 && v < 0x80) ||
	    (k == 3 && v < 0x800) || (k == 4 && v < 0x10000))
		return 0;
	return k;
}

/* The escape at p ('\\'), e the input's end: its length (2, 6 or 12), or
 * 0 when jansson refuses it (and *why says why). */
static size_t escape_len(const unsigned char *p, const unsigned char *e, const char **why)
{
	int32_t v, v2;

	*why = "invalid escape";
	if (e - p < 2)
		return 0;
	switch (p[1]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
		return 2;
	case 'u':
		break;
	default:
		return 0;
	}
	if (e - p < 6 || (v = hex4(p + 2)) < 0)
		return 0;
	if (v == 0) {
		*why = "\\u0000 is not allowed";
		return 0;
	}
	*why = "invalid Unicode escape";
	if (v >= 0xDC00 && v <= 0xDFFF)
		return 0;
	if (v < 0xD800 || v > 0xDBFF)
		return 6;
	/* a high surrogate: a low one must follow at once */
	if (e - p < 12 || p[6] != '\\' || p[7] != 'u' || (v2 = hex4(p + 8)) < 0 || v2 < 0xDC00 ||
	    v2 > 0xDFFF)
		return 0;
	return 12;
}

/* The string at s->p ('"'): validated, s->p after it. */
static int scan_string(struct scan *s, struct str *out)
{
	const unsigned char *p = (const unsigned char *)s->p + 1;
	const unsigned char *e = (const unsigned char *)s->end;
	bool esc = false;

	out->raw = (const char *)p;
	for (;;) {
		unsigned c;
		size_t k;

		while (e - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if (word_special(w))
				break;
			p += 8;
		}
		/* to the next special byte (in this word when there was one) */
		for (;; p++) {
			if (p >= e)
				return fail(s, (const char *)p, "premature end of input in a string");
			c = *p;
			if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
				break;
		}
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(s, (const char *)p, "control character in a string");
		if (c == '\\') {
			const char *why;

			k = escape_len(p, e, &why);
			if (!k)
				return fail(s, (const char *)p, why);
			esc = true;
		} else {
			k = utf8_seq(p, e);
			if (!k)
				return fail(s, (const char *)p, "invalid UTF-8");
		}
		p += k;
	}
	out->len = (size_t)((const char *)p - out->raw);
	out->esc = esc;
	s->p = (const char *)p + 1;
	return 0;
}

/* The decoded bytes of a valid string, one at a time. */
struct dec {
	const unsigned char *p, *e;
	unsigned char buf[4];
	unsigned n, i;
};

static void dec_init(struct dec *d, const char *raw, size_t len)
{
	d->p = (const unsigned char *)raw;
	d->e = d->p + len;
	d->n = d->i = 0;
}

/* The next decoded byte, or -1 at the end. */
static int dec_next(struct dec *d)
{
	uint32_t cp;
	unsigned c;

	if (d->i < d->n)
		return d->buf[d->i++];
	if (d->p >= d->e)
		return -1;
	c = *d->p;
	if (c != '\\') {
		d->p++;
		return (int)c;
	}
	c = d->p[1];
	if (c != 'u') {
		d->p += 2;
		switch (c) {
		case 'b': return '\b';
		case 'f': return '\f';
		case 'n': return '\n';
		case 'r': return '\r';
		case 't': return '\t';
		default: return (int)c; /* '"', '\\', '/' */
		}
	}
	cp = (uint32_t)hex4(d->p + 2);
	d->p += 6;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		cp = ((cp - 0xD800) << 10) + ((uint32_t)hex4(d->p + 2) - 0xDC00) + 0x10000;
		d->p += 6;
	}
	if (cp < 0x80) {
		return (int)cp;
	} else if (cp < 0x800) {
		d->buf[0] = (unsigned char)(0xC0 | cp >> 6);
		d->buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
		d->n = 2;
	} else if (cp < 0x10000) {
		d->buf[0] = (unsigned char)(0xE0 | cp >> 12);
		d->buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		d->buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
		d->n = 3;
	} else {
		d->buf[0] = (unsigned char)(0xF0 | cp >> 18);
		d->buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		d->buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		d->buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
		d->n = 4;
	}
	d->i = 1;
	return d->buf[0];
}

/* The first up to cap decoded bytes of x into buf: how many. */
static size_t str_prefix(const struct str *x, char *buf, size_t cap)
{
	struct dec d;
	size_t k = 0;
	int c;

	if (!x->esc) {
		k = x->len < cap ? x->len : cap;
		memcpy(buf, x->raw, k);
		return k;
	}
	dec_init(&d, x->raw, x->len);
	while (k < cap && (c = dec_next(&d)) >= 0)
		buf[k++] = (char)c;
	return k;
}

/* Whether the decoded x is the text t. */
static bool str_is(const struct str *x, const char *t, size_t tn)
{
	char buf[32];

	if (!x->esc)
		return x->len == tn && !memcmp(x->raw, t, tn);
	return tn < sizeof(buf) && str_prefix(x, buf, sizeof(buf)) == tn && !memcmp(buf, t, tn);
}

#define STR_IS(x, lit) str_is((x), (lit), sizeof(lit) - 1)

/* media_url_ok() of a string: whether it is a URL llama-server would
 * fetch, not "data:..." nor free of ':'. */
static bool url_bad(const struct str *x)
{
	struct dec d;
	size_t k = 0;
	bool data = true, colon = false;
	int c;

	if (!x->esc)
		return memchr(x->raw, ':', x->len) && !(x->len >= 5 && !memcmp(x->raw, "data:", 5));
	dec_init(&d, x->raw, x->len);
	while ((c = dec_next(&d)) >= 0) {
		if (k < 5 && c != "data:"[k])
			data = false;
		k++;
		if (c == ':')
			colon = true;
	}
	return colon && !(data && k >= 5);
}

/* A logit_bias key as strtoll(k, &end, 10) reads it: whether it is a
 * number (whitespace, a sign, digits, nothing after) out of 0..INT32_MAX
 * (or out of long long, errno set): the ids logit_bias_ok() refused. */
static bool lb_key_bad(const struct str *x)
{
	struct dec d;
	uint64_t mag = 0;
	bool neg = false, digits = false, big = false;
	int c;

	dec_init(&d, x->raw, x->len);
	c = dec_next(&d);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')
		c = dec_next(&d);
	if (c == '+' || c == '-') {
		neg = c == '-';
		c = dec_next(&d);
	}
	for (; is_digit(c); c = dec_next(&d)) {
		digits = true;
		if (!big) {
			mag = mag * 10 + (uint64_t)(c - '0');
			if (mag > INT32_MAX)
				big = true;
		}
	}
	if (!digits || c >= 0)
		return false; /* strtoll read no number, or stopped before the end */
	return big || (neg && mag != 0);
}

/* ---- keys ---- */

static uint32_t fnv_step(uint32_t h, unsigned c)
{
	return (h ^ c) * 16777619u;
}

static int push_key(struct scan *s, const struct str *x)
{
	struct key *k;

	if (s->n_keys == s->cap_keys) {
		size_t cap;
		struct key *nk;

		if (s->cap_keys > SIZE_MAX / 2 / sizeof(*nk))
			return fail_nomem(s);
		cap = s->cap_keys * 2;
		if (s->keys == s->inline_keys) {
			nk = malloc(cap * sizeof(*nk));
			if (nk)
				memcpy(nk, s->keys, s->n_keys * sizeof(*nk));
		} else {
			nk = realloc(s->keys, cap * sizeof(*nk));
		}
		if (!nk)
			return fail_nomem(s);
		s->keys = nk;
		s->cap_keys = cap;
	}
	k = &s->keys[s->n_keys++];
	k->raw = x->raw;
	k->len = x->len;
	k->esc = x->esc;
	k->hash = 2166136261u;
	if (!x->esc) {
		for (size_t i = 0; i < x->len; i++)
			k->hash = fnv_step(k->hash, (unsigned char)x->raw[i]);
		k->dlen = x->len;
	} else {
		struct dec d;
		int c;

		k->dlen = 0;
		dec_init(&d, x->raw, x->len);
		while ((c = dec_next(&d)) >= 0) {
			k->hash = fnv_step(k->hash, (unsigned)c);
			k->dlen++;
		}
	}
	return 0;
}

/* Orders keys by hash, decoded length, decoded bytes: 0 when the same. */
static int key_cmp(const void *va, const void *vb)
{
	const struct key *a = va, *b = vb;
	struct dec da, db;
	int ca, cb;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	if (a->dlen != b->dlen)
		return a->dlen < b->dlen ? -1 : 1;
	if (!a->esc && !b->esc)
		return memcmp(a->raw, b->raw, a->len);
	dec_init(&da, a->raw, a->len);
	dec_init(&db, b->raw, b->len);
	do {
		ca = dec_next(&da);
		cb = dec_next(&db);
		if (ca != cb)
			return ca < cb ? -1 : 1;
	} while (ca >= 0);
	return 0;
}

/* The keys of the object closing (from base on): all different. */
static int keys_unique(struct scan *s, size_t base, const char *at)
{
	struct key *k = s->keys + base;
	size_t n = s->n_keys - base;

	if (n <= KEYS_LINEAR) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (k[i].hash == k[j].hash && !key_cmp(&k[i], &k[j]))
					return fail(s, at, "duplicate object key");
		return 0;
	}
	qsort(k, n, sizeof(*k), key_cmp);
	for (size_t i = 1; i < n; i++)
		if (!key_cmp(&k[i - 1], &k[i]))
			return fail(s, at, "duplicate object key");
	return 0;
}

/* ---- numbers ---- */

static bool num_in(const struct num *v, int64_t min, int64_t max)
{
	if (v->is_int)
		return v->i >= min && v->i <= max;
	return v->x >= (double)min && v->x <= (double)max;
}

/* The number at s->p ('-' or a digit). need: its value is wanted (else
 * only whether jansson takes it). */
static int scan_number(struct scan *s, bool need, struct num *out)
{
	const char *p = s->p, *e = s->end, *start = p, *digits;
	bool exp = false;

	if (*p == '-')
		p++;
	digits = p;
	if (p >= e || !is_digit(*p))
		return fail(s, start, "invalid number");
	if (*p == '0') {
		p++;
		if (p < e && is_digit(*p))
			return fail(s, start, "invalid number (a leading zero)");
	} else {
		while (p < e && is_digit(*p))
			p++;
	}
	out->is_int = !(p < e && (*p == '.' || *p == 'e' || *p == 'E'));
	if (out->is_int) {
		/* strtoll: at most 19 digits, 2^63 - 1 (2^63 negative) */
		size_t nd = (size_t)(p - digits);
		uint64_t mag = 0;

		if (nd > 19)
			return fail(s, start, "too big integer");
		for (const char *q = digits; q < p; q++)
			mag = mag * 10 + (uint64_t)(*q - '0');
		if (mag > (uint64_t)INT64_MAX + (*start == '-'))
			return fail(s, start, "too big integer");
		out->i = *start == '-' ? (int64_t)(0 - mag) : (int64_t)mag;
		s->p = p;
		return 0;
	}
	if (*p == '.') {
		p++;
		if (p >= e || !is_digit(*p))
			return fail(s, start, "invalid number");
		while (p < e && is_digit(*p))
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		exp = true;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || !is_digit(*p))
			return fail(s, start, "invalid number");
		while (p < e && is_digit(*p))
			p++;
	}
	s->p = p;
	/* without an exponent and with at most 300 integer digits it is under
	 * 1e300: strtod() cannot overflow, and it is wanted only for its value */
	if (need || exp || (size_t)(p - start) > 300) {
		size_t n = (size_t)(p - start);
		char small[NUM_INLINE], *buf = n < sizeof(small) ? small : malloc(n + 1);
		double x;

		if (!buf)
			return fail_nomem(s);
		memcpy(buf, start, n);
		buf[n] = '\0';
		errno = 0;
		x = strtod(buf, NULL);
		if ((x == HUGE_VAL || x == -HUGE_VAL) && errno == ERANGE) {
			if (buf != small)
				free(buf);
			return fail(s, start, "real number overflow");
		}
		if (buf != small)
			free(buf);
		out->x = x;
	} else {
		out->x = 0;
	}
	return 0;
}

/* ---- values ---- */

static int scan_value(struct scan *s, enum ctx ctx, unsigned arg, size_t depth);

/* The context of a top-level key's value (*arg: which number field). */
static enum ctx top_ctx(const struct str *k, unsigned *arg)
{
	static const struct {
		const char *name;
		size_t len;
		enum ctx ctx;
	} names[] = {
#define N(lit, c) { lit, sizeof(lit) - 1, c }
		N("model", C_MODEL), N("messages", C_MSGS), N("stream", C_STREAM),
		N("prompt", C_TOKENS), N("input", C_TOKENS), N("keep_alive", C_KEEP_ALIVE),
		N("logit_bias", C_LB),
#undef N
	};
	char buf[32];
	const char *t = k->raw;
	size_t n = k->len;

	if (k->esc) {
		n = str_prefix(k, buf, sizeof(buf));
		if (n == sizeof(buf))
			return C_NONE; /* longer than every name */
		t = buf;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (n == names[i].len && !memcmp(t, names[i].name, n))
			return names[i].ctx;
	for (unsigned i = 0; i < REQSCAN_N_NUM; i++) {
		const char *f = reqscan_num_fields[i].name;

		if (!strncmp(f, t, n) && f[n] == '\0') {
			*arg = i;
			return C_NUM;
		}
	}
	return C_NONE;
}

static enum media media_of(const struct str *x)
{
	if (STR_IS(x, "image_url"))
		return M_IMAGE_URL;
	if (STR_IS(x, "input_audio"))
		return M_INPUT_AUDIO;
	if (STR_IS(x, "input_video"))
		return M_INPUT_VIDEO;
	if (STR_IS(x, "video_url"))
		return M_VIDEO_URL;
	return M_OTHER;
}

/* The object at s->p ('{'): its result for the context (C_IMG, C_AV:
 * whether it holds a URL to fetch). */
static int scan_object(struct scan *s, enum ctx ctx, size_t depth)
{
	size_t base = s->n_keys;
	const char *open = s->p;
	enum media type = M_NONE;
	bool bad = false, part_bad[M_OTHER] = { false };

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		enum ctx child = C_NONE;
		unsigned arg = 0;
		const char *vstart, *vend;
		struct str k;
		enum media km = M_NONE;
		int r;

		if (s->p >= s->end || *s->p != '"')
			return fail(s, s->p, "string or '}' expected");
		if (scan_string(s, &k) < 0 || push_key(s, &k) < 0)
			return -1;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return fail(s, s->p, "':' expected");
		s->p++;
		skip_ws(s);
		switch (ctx) {
		case C_TOP:
			child = top_ctx(&k, &arg);
			break;
		case C_LB:
			if (lb_key_bad(&k))
				s->lb_bad = true;
			break;
		case C_MSG:
			if (STR_IS(&k, "content"))
				child = C_CONTENT;
			break;
		case C_PART:
			if (STR_IS(&k, "type")) {
				child = C_TYPE;
			} else {
				km = media_of(&k);
				child = km == M_IMAGE_URL ? C_IMG : km != M_OTHER ? C_AV : C_NONE;
			}
			break;
		case C_IMG:
			if (STR_IS(&k, "url"))
				child = C_URL;
			break;
		case C_AV:
			if (STR_IS(&k, "url") || STR_IS(&k, "data"))
				child = C_URL;
			break;
		default:
			break;
		}
		vstart = s->p;
		r = scan_value(s, child, arg, depth + 1);
		if (r < 0)
			return -1;
		vend = s->p;
		skip_lost_nul(s, vstart);
		switch (child) {
		case C_KEEP_ALIVE:
			s->out->has_keep_alive = true;
			s->out->keep_alive_off = (size_t)(vstart - s->base);
			s->out->keep_alive_len = (size_t)(vend - vstart);
			break;
		case C_TYPE:
			type = (enum media)r;
			break;
		case C_IMG:
		case C_AV:
			part_bad[km] = r;
			break;
		case C_URL:
			bad |= r;
			break;
		default:
			break;
		}
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			break;
		}
		return fail(s, s->p, "'}' expected");
	}
	if (keys_unique(s, base, open) < 0)
		return -1;
	s->n_keys = base;
	if (ctx == C_PART && type != M_NONE && type != M_OTHER && part_bad[type])
		s->media_bad = true;
	return bad;
}

/* The array at s->p ('['). */
static int scan_array(struct scan *s, enum ctx ctx, size_t depth)
{
	enum ctx elem = ctx == C_TOKENS ? C_TOKENS : ctx == C_LB ? C_LB_PAIR :
			ctx == C_MSGS ? C_MSG : ctx == C_CONTENT ? C_PART : C_NONE;

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (size_t i = 0;; i++) {
		const char *v = s->p;

		if (scan_value(s, ctx == C_LB_PAIR && i == 0 ? C_LB_ID : elem, 0, depth + 1) < 0)
			return -1;
		skip_lost_nul(s, v);
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return 0;
		}
		return fail(s, s->p, "']' expected");
	}
}

static int scan_literal(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n))
		return fail(s, s->p, "invalid token");
	s->p += n;
	return 0;
}

/* The value at s->p, depth deep (the body is 1): < 0 when not JSON, else
 * its result for the context (C_TYPE: enum media; C_IMG, C_AV, C_URL:
 * whether a URL to fetch). */
static int scan_value(struct scan *s, enum ctx ctx, unsigned arg, size_t depth)
{
	struct num v;
	struct str x;

	if (depth > REQSCAN_DEPTH_MAX)
		return fail(s, s->p, "maximum parsing depth reached");
	if (s->p >= s->end)
		return fail(s, s->p, "premature end of input");
	switch (*s->p) {
	case '{':
		return scan_object(s, ctx == C_TOP || ctx == C_LB || ctx == C_MSG || ctx == C_PART ||
					      ctx == C_IMG || ctx == C_AV ? ctx : C_NONE,
				   depth);
	case '[':
		return scan_array(s, ctx, depth);
	case '"':
		if (scan_string(s, &x) < 0)
			return -1;
		switch (ctx) {
		case C_MODEL: {
			size_t k = str_prefix(&x, s->out->model, REQSCAN_MODEL_MAX + 1);

			s->out->model[k] = '\0';
			s->out->has_model = true;
			return 0;
		}
		case C_TYPE:
			return (int)media_of(&x);
		case C_IMG:
		case C_URL:
			return url_bad(&x);
		default:
			return 0;
		}
	case 't':
		if (scan_literal(s, "true", 4) < 0)
			return -1;
		if (ctx == C_STREAM)
			s->out->stream = true;
		return 0;
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		break;
	}
	if (*s->p != '-' && !is_digit(*s->p))
		return fail(s, s->p, "invalid token");
	if (scan_number(s, ctx == C_NUM || ctx == C_TOKENS || ctx == C_LB_ID, &v) < 0)
		return -1;
	if (ctx == C_NUM && !num_in(&v, reqscan_num_fields[arg].min, reqscan_num_fields[arg].max))
		s->num_bad |= (uint32_t)1 << arg;
	else if (ctx == C_TOKENS && !num_in(&v, 0, INT32_MAX))
		s->tok_bad = true;
	else if (ctx == C_LB_ID && !num_in(&v, 0, INT32_MAX))
		s->lb_bad = true;
	return 0;
}

int reqscan_openai(const char *body, size_t n, struct reqscan *out)
{
	struct scan s;
	bool object;
	int r;

	out->why = NULL;
	out->why_off = 0;
	out->has_model = false;
	out->model[0] = '\0';
	out->stream = false;
	out->has_keep_alive = false;
	out->keep_alive_off = out->keep_alive_len = 0;
	out->check = REQSCAN_CHECK_OK;
	out->num_field = 0;

	s.base = s.p = body;
	s.end = body + n;
	s.err = 0;
	s.why = NULL;
	s.at = body;
	s.keys = s.inline_keys;
	s.n_keys = 0;
	s.cap_keys = KEYS_INLINE;
	s.num_bad = 0;
	s.tok_bad = s.lb_bad = s.media_bad = false;
	s.out = out;

	skip_ws(&s);
	object = s.p < s.end && *s.p == '{';
	if (!object && (s.p >= s.end || *s.p != '['))
		r = fail(&s, s.p, "'[' or '{' expected");
	else
		r = scan_value(&s, object ? C_TOP : C_NONE, 0, 1);
	if (r >= 0) {
		skip_ws(&s);
		if (s.p < s.end)
			r = fail(&s, s.p, "end of file expected");
		else if (!object)
			r = fail(&s, body, "not an object");
	}
	if (s.keys != s.inline_keys)
		free(s.keys);
	if (r < 0) {
		out->why = s.why;
		out->why_off = (size_t)(s.at - body);
		return s.err;
	}
	if (s.num_bad) {
		out->check = REQSCAN_CHECK_NUM;
		out->num_field = (size_t)__builtin_ctz(s.num_bad);
	} else if (s.tok_bad) {
		out->check = REQSCAN_CHECK_TOKENS;
	} else if (s.lb_bad) {
		out->check = REQSCAN_CHECK_LOGIT_BIAS;
	} else if (s.media_bad) {
		out->check = REQSCAN_CHECK_MEDIA;
	}
	return 0;
}
