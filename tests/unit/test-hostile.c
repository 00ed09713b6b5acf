/* test-hostile.c: the hostile GGUF cases of reliability.md section (a),
 * 1-57, against the parser in memory. One test per case number: each
 * builds that case's files (tests/hostile-cases.c) and parses each three
 * times: whole; from nothing, starting over on each -EAGAIN with just the
 * bytes asked for (gguf_parse); and resumed, as src/io does
 * (gguf_parser_feed) - large files in halves. Every parse reads a buffer
 * of exactly the bytes given, so ASan sees any read past them. An invalid
 * file must give its negative errno (never -EAGAIN once the whole file is
 * there), a message and an offset inside the file, the same each way; a
 * valid one its counts. Cases about what values mean (26-32) check the
 * typed getters; 53, 54 and 56 go through src/io on real files. */
#include "base/compat.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gguf/gguf.h"
#include "io/io.h"
#include "model/model-info.h"

#include "hostile-cases.c"

#define CHECK(hf, cond, fmt, ...) \
	do { \
		if (!(cond)) \
			fail_msg("%s: " fmt, (hf)->name, __VA_ARGS__); \
	} while (0)

/* files up to this size are parsed with exactly the bytes each -EAGAIN
 * asks for; larger ones in halves */
#define EXACT_STEPS_MAX (64u << 10)

#define PATH_MAX_HOSTILE 4096

static struct hostile_entry *entries;
static size_t n_entries;

/* One parse, of a private copy of exactly the bytes given. */
struct parsed {
	uint8_t *copy;
	struct gguf_file *gf;
	int e;
	uint64_t need;
	struct diag d;
};

static void parse_copy(const char *buf, size_t have, uint64_t size, struct parsed *p)
{
	p->copy = malloc(have ? have : 1);
	assert_non_null(p->copy);
	if (have)
		memcpy(p->copy, buf, have);
	p->gf = NULL;
	p->need = 0;
	diag_init(&p->d);
	p->e = gguf_parse(p->copy, have, size, &p->gf, &p->need, &p->d);
}

static void parsed_free(struct parsed *p)
{
	gguf_file_free(p->gf);
	free(p->copy);
	p->gf = NULL;
	p->copy = NULL;
}

static bool msg_clean(const char *m)
{
	for (const unsigned char *u = (const unsigned char *)m; *u; u++)
		if (*u < 0x20 || *u == 0x7f)
			return false;
	return true;
}

static bool is(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* The result of a parse of the whole file. */
static void check_result(const struct hostile_file *hf, const struct parsed *p)
{
	const struct gguf_file *gf = p->gf;

	if (hf->ok) {
		CHECK(hf, p->e == 0, "refused (%d, offset %llu: %s)", p->e,
		      (unsigned long long)p->d.offset, p->d.msg);
		CHECK(hf, gf != NULL, "%s", "no file");
		CHECK(hf, gf->n_kv == hf->n_kv, "%llu keys, not %llu",
		      (unsigned long long)gf->n_kv, (unsigned long long)hf->n_kv);
		CHECK(hf, gf->n_tensors == hf->n_tensors, "%llu tensors, not %llu",
		      (unsigned long long)gf->n_tensors, (unsigned long long)hf->n_tensors);
		CHECK(hf, gf->file_size == hf->size, "file size %llu",
		      (unsigned long long)gf->file_size);
		CHECK(hf, gf->header_bytes <= hf->data.len && gf->header_bytes <= gf->data_offset,
		      "header of %llu bytes", (unsigned long long)gf->header_bytes);
		CHECK(hf, gf->data_offset % gf->alignment == 0, "data offset %llu",
		      (unsigned long long)gf->data_offset);
		for (uint64_t i = 0; i < gf->n_tensors; i++) {
			const struct gguf_tensor *t = &gf->tensors[i];

			CHECK(hf, gf->data_offset + t->offset + t->nbytes <= hf->size,
			      "tensor %llu ends past the file", (unsigned long long)i);
		}
		return;
	}
	CHECK(hf, p->e < 0, "%s", "accepted");
	CHECK(hf, p->e != -EAGAIN, "%s", "-EAGAIN with the whole file");
	if (hf->err)
		CHECK(hf, p->e == hf->err, "error %d (%s), expected %d: %s", p->e, strerror(-p->e),
		      hf->err, p->d.msg);
	CHECK(hf, p->d.code == p->e, "diag code %d", p->d.code);
	CHECK(hf, p->d.msg[0] != '\0', "%s", "no message");
	CHECK(hf, msg_clean(p->d.msg), "control bytes in the message: %s", p->d.msg);
	CHECK(hf, p->d.offset != DIAG_NO_OFFSET, "no offset: %s", p->d.msg);
	CHECK(hf, p->d.offset <= hf->size, "offset %llu past the end: %s",
	      (unsigned long long)p->d.offset, p->d.msg);
	if (hf->err_off != HOSTILE_ANY_OFFSET)
		CHECK(hf, p->d.offset == hf->err_off, "offset %llu, expected %llu: %s",
		      (unsigned long long)p->d.offset, (unsigned long long)hf->err_off, p->d.msg);
	/* 3: a byte-swapped version is named as such */
	if (is(hf->name, "03-version-0x0") || is(hf->name, "03-big-endian"))
		CHECK(hf, strstr(p->d.msg, "big-endian") != NULL, "%s", p->d.msg);
	/* 2: the magic is quoted escaped */
	if (is(hf->name, "02-magic-escape"))
		CHECK(hf, strstr(p->d.msg, "\\x1b[2J") != NULL, "%s", p->d.msg);
}

/* Parses as the io loop does, from nothing, giving each -EAGAIN what it
 * asks for, and checks the end agrees with the whole parse. A large file
 * gets what it asks for or half the file, then the whole (already
 * parsed), to keep this quick. */
static void check_steps(const struct hostile_file *hf, const struct parsed *whole)
{
	bool exact = hf->data.len <= EXACT_STEPS_MAX;
	size_t have = 0, len = hf->data.len;
	struct parsed p;
	int steps = 0;

	for (;;) {
		uint64_t next;

		parse_copy(hf->data.buf, have, hf->size, &p);
		if (p.e != -EAGAIN)
			break;
		CHECK(hf, p.gf == NULL, "%s", "a file with -EAGAIN");
		CHECK(hf, p.need > have, "-EAGAIN at %zu bytes asks for %llu", have,
		      (unsigned long long)p.need);
		CHECK(hf, p.need <= len, "-EAGAIN asks for %llu bytes of %zu",
		      (unsigned long long)p.need, len);
		next = p.need;
		if (!exact && next < len / 2)
			next = len / 2;
		else if (!exact)
			next = len;
		parsed_free(&p);
		CHECK(hf, ++steps < 1000000, "%s", "no end to -EAGAIN");
		if (next >= len && !exact) {
			/* the whole buffer: that parse is the one done */
			return;
		}
		have = next < len ? (size_t)next : len;
	}
	CHECK(hf, p.e == whole->e, "%d in steps, %d whole (%s)", p.e, whole->e, p.d.msg);
	if (p.e == 0) {
		CHECK(hf, p.gf->n_kv == whole->gf->n_kv && p.gf->n_tensors == whole->gf->n_tensors &&
		      p.gf->data_offset == whole->gf->data_offset &&
		      p.gf->header_bytes == whole->gf->header_bytes,
		      "%s", "different in steps");
	} else {
		CHECK(hf, p.d.offset == whole->d.offset && strcmp(p.d.msg, whole->d.msg) == 0,
		      "in steps: offset %llu '%s'; whole: offset %llu '%s'",
		      (unsigned long long)p.d.offset, p.d.msg, (unsigned long long)whole->d.offset,
		      whole->d.msg);
	}
	parsed_free(&p);
}

/* Feeds the resumable parser as src/io does: each time a new buffer of
 * exactly the bytes it asked for (or half, then all, of a large file),
 * the old buffer freed first so that ASan catches any use of it. The end
 * must agree with the whole parse. */
static void check_feed(const struct hostile_file *hf, const struct parsed *whole)
{
	bool exact = hf->data.len <= EXACT_STEPS_MAX;
	struct gguf_parser *gp = gguf_parser_new(hf->size);
	size_t have = 0, len = hf->data.len;
	struct gguf_file *gf = NULL;
	uint8_t *buf = NULL;
	struct diag d;
	int e, steps = 0;

	assert_non_null(gp);
	for (;;) {
		uint64_t need = 0;

		free(buf);
		buf = malloc(have ? have : 1);
		assert_non_null(buf);
		memcpy(buf, hf->data.buf, have);
		diag_init(&d);
		e = gguf_parser_feed(gp, buf, have, &gf, &need, &d);
		if (e != -EAGAIN)
			break;
		CHECK(hf, need > have && need <= len, "resumed: -EAGAIN at %zu asks for %llu", have,
		      (unsigned long long)need);
		if (!exact && need < len / 2)
			need = len / 2;
		else if (!exact)
			need = len;
		have = (size_t)need;
		CHECK(hf, ++steps < 1000000, "%s", "no end to -EAGAIN");
	}
	CHECK(hf, e == whole->e, "resumed: %d, whole: %d (%s)", e, whole->e, d.msg);
	if (e == 0) {
		CHECK(hf, gf->n_kv == whole->gf->n_kv && gf->n_tensors == whole->gf->n_tensors &&
		      gf->data_offset == whole->gf->data_offset &&
		      gf->header_bytes == whole->gf->header_bytes,
		      "%s", "different when resumed");
		for (uint64_t i = 0; i < gf->n_kv; i += 1 + gf->n_kv / 64) {
			struct gguf_str a = gguf_kv_key(gf, i), b = gguf_kv_key(whole->gf, i);

			CHECK(hf, a.n == b.n && memcmp(a.p, b.p, a.n) == 0,
			      "key %llu differs when resumed", (unsigned long long)i);
		}
		gguf_file_free(gf);
	} else {
		CHECK(hf, d.offset == whole->d.offset && strcmp(d.msg, whole->d.msg) == 0,
		      "resumed: offset %llu '%s'; whole: offset %llu '%s'",
		      (unsigned long long)d.offset, d.msg, (unsigned long long)whole->d.offset,
		      whole->d.msg);
	}
	gguf_parser_free(gp);
	free(buf);
}

/* ---- what some cases check beyond the parse ---- */

static int64_t kv(const struct hostile_file *hf, const struct gguf_file *gf, const char *key)
{
	int64_t k = gguf_kv_find(gf, key);

	CHECK(hf, k >= 0, "no key %s", key);
	return k;
}

static bool str_is(struct gguf_str s, const char *want, size_t n)
{
	return s.n == n && memcmp(s.p, want, n) == 0;
}

/* 26-28, 30: what the getters say about a value a case put in */
static void check_ovr(const struct hostile_file *hf, const struct gguf_file *gf,
		      const struct ovr *o)
{
	int64_t k = kv(hf, gf, o->key);
	struct gguf_str s;
	uint64_t u;
	int64_t i;
	double d;
	bool b;

	if (o->kind != OV_ARR && o->kind != OV_ARR_STR) {
		/* a scalar is no array */
		assert_int_equal(gguf_kv_arr_get_uint(gf, (uint64_t)k, 0, &u), -EINVAL);
		assert_int_equal(gguf_kv_arr_get_str(gf, (uint64_t)k, 0, &s), -EINVAL);
		assert_int_equal(gguf_kv_get_bool(gf, (uint64_t)k, &b), -EINVAL);
	}
	switch (o->kind) {
	case OV_U32:
	case OV_U64:
		assert_int_equal(gguf_kv_get_uint(gf, (uint64_t)k, &u), 0);
		assert_true(u == o->u);
		assert_int_equal(gguf_kv_get_int(gf, (uint64_t)k, &i), o->u > INT64_MAX ? -ERANGE : 0);
		assert_int_equal(gguf_kv_get_float(gf, (uint64_t)k, &d), 0);
		assert_int_equal(gguf_kv_get_str(gf, (uint64_t)k, &s), -EINVAL);
		break;
	case OV_I32:
	case OV_I64:
		assert_int_equal(gguf_kv_get_int(gf, (uint64_t)k, &i), 0);
		assert_true(i == (int64_t)o->u);
		assert_int_equal(gguf_kv_get_uint(gf, (uint64_t)k, &u), i < 0 ? -ERANGE : 0);
		assert_int_equal(gguf_kv_get_str(gf, (uint64_t)k, &s), -EINVAL);
		break;
	case OV_F32:
		assert_int_equal(gguf_kv_get_uint(gf, (uint64_t)k, &u), -EINVAL);
		assert_int_equal(gguf_kv_get_int(gf, (uint64_t)k, &i), -EINVAL);
		assert_int_equal(gguf_kv_get_float(gf, (uint64_t)k, &d), 0);
		assert_true(d == (double)(float)o->f || (isinf(d) && isinf(o->f) && (d < 0) == (o->f < 0)));
		assert_int_equal(gguf_kv_get_str(gf, (uint64_t)k, &s), -EINVAL);
		break;
	case OV_STR:
		assert_int_equal(gguf_kv_get_uint(gf, (uint64_t)k, &u), -EINVAL);
		assert_int_equal(gguf_kv_get_int(gf, (uint64_t)k, &i), -EINVAL);
		assert_int_equal(gguf_kv_get_float(gf, (uint64_t)k, &d), -EINVAL);
		assert_int_equal(gguf_kv_get_str(gf, (uint64_t)k, &s), 0);
		assert_true(str_is(s, o->s, strlen(o->s)));
		break;
	case OV_ARR:
		assert_int_equal(gf->kvs[k].type, GGUF_TYPE_ARRAY);
		assert_int_equal(gf->kvs[k].arr_type, o->arr_type);
		assert_int_equal(gf->kvs[k].n, o->n);
		/* an array is no scalar, and has no element past its count */
		assert_int_equal(gguf_kv_get_uint(gf, (uint64_t)k, &u), -EINVAL);
		assert_int_equal(gguf_kv_get_float(gf, (uint64_t)k, &d), -EINVAL);
		assert_int_equal(gguf_kv_get_str(gf, (uint64_t)k, &s), -EINVAL);
		assert_int_equal(gguf_kv_arr_get_int(gf, (uint64_t)k, o->n, &i), -ERANGE);
		assert_int_equal(gguf_kv_arr_get_float(gf, (uint64_t)k, UINT64_MAX, &d), -ERANGE);
		for (uint64_t j = 0; j < o->n; j++) {
			/* _str takes no numbers */
			assert_int_equal(gguf_kv_arr_get_str(gf, (uint64_t)k, j, &s), -EINVAL);
			switch (o->arr_type) {
			case GGUF_TYPE_BOOL:
				assert_int_equal(gguf_kv_arr_get_uint(gf, (uint64_t)k, j, &u), -EINVAL);
				assert_int_equal(gguf_kv_arr_get_float(gf, (uint64_t)k, j, &d), -EINVAL);
				break;
			case GGUF_TYPE_FLOAT32:
				assert_int_equal(gguf_kv_arr_get_uint(gf, (uint64_t)k, j, &u), -EINVAL);
				assert_int_equal(gguf_kv_arr_get_float(gf, (uint64_t)k, j, &d), 0);
				assert_true(d == ((const float *)o->arr)[j]);
				break;
			case GGUF_TYPE_UINT32:
				assert_int_equal(gguf_kv_arr_get_uint(gf, (uint64_t)k, j, &u), 0);
				assert_true(u == ((const uint32_t *)o->arr)[j]);
				break;
			case GGUF_TYPE_INT8:
			case GGUF_TYPE_INT32: {
				int64_t want = o->arr_type == GGUF_TYPE_INT8 ?
					       ((const int8_t *)o->arr)[j] : ((const int32_t *)o->arr)[j];

				assert_int_equal(gguf_kv_arr_get_int(gf, (uint64_t)k, j, &i), 0);
				assert_true(i == want);
				assert_int_equal(gguf_kv_arr_get_uint(gf, (uint64_t)k, j, &u),
						 want < 0 ? -ERANGE : 0);
				/* _float takes integer elements too (gguf.h) */
				assert_int_equal(gguf_kv_arr_get_float(gf, (uint64_t)k, j, &d), 0);
				assert_true(d == (double)want);
				break;
			}
			default:
				fail_msg("%s: no check for element type %u", hf->name, o->arr_type);
			}
		}
		break;
	case OV_ARR_STR: {
		const char *const *strs = o->arr;

		assert_int_equal(gf->kvs[k].arr_type, GGUF_TYPE_STRING);
		assert_int_equal(gf->kvs[k].n, o->n);
		assert_int_equal(gguf_kv_arr_get_uint(gf, (uint64_t)k, 0, &u), -EINVAL);
		assert_int_equal(gguf_kv_arr_get_int(gf, (uint64_t)k, 0, &i), -EINVAL);
		assert_int_equal(gguf_kv_arr_get_float(gf, (uint64_t)k, 0, &d), -EINVAL);
		for (uint64_t j = 0; j < o->n; j++) {
			assert_int_equal(gguf_kv_arr_get_str(gf, (uint64_t)k, j, &s), 0);
			assert_true(str_is(s, strs[j], strlen(strs[j])));
		}
		assert_int_equal(gguf_kv_arr_get_str(gf, (uint64_t)k, o->n, &s), -ERANGE);
		break;
	}
	}
}

/* 26-28, 30: a complete small model with keys replaced */
static void check_micro(const struct hostile_file *hf, const struct gguf_file *gf)
{
	for (size_t c = 0; c < ARRAY_SIZE(micro_cases); c++) {
		const struct micro_case *mc = &micro_cases[c];

		if (!is(hf->name, mc->name) || hf->name[strlen(mc->name)] != '.')
			continue;
		assert_int_equal(gf->n_tensors, 21);
		for (int i = 0; i < 3 && mc->o[i].key; i++)
			check_ovr(hf, gf, &mc->o[i]);
		return;
	}
	fail_msg("%s: not a micro case", hf->name);
}

static void check_arch(const struct hostile_file *hf, const struct gguf_file *gf)
{
	static const struct {
		const char *name, *arch;
		size_t n;
	} want[] = {
		{ "29-arch-format", "%n%n%s%s%s%p%x", 14 },
		{ "29-arch-path", "../x", 4 },
		{ "29-arch-escapes", "\x1b[2J\x1b]0;pwned\x07llama\n\r", 21 },
		{ "29-arch-empty", "", 0 },
	};
	struct gguf_str s;
	int64_t k = gguf_kv_find(gf, "general.architecture");

	if (is(hf->name, "29-arch-missing")) {
		assert_int_equal(k, -ENOENT);
		return;
	}
	assert_true(k >= 0);
	assert_int_equal(gguf_kv_get_str(gf, (uint64_t)k, &s), 0);
	if (is(hf->name, "29-arch-1mib")) {
		assert_int_equal(s.n, 1u << 20);
		assert_true(s.p[0] == 'a' && s.p[s.n - 1] == (char)('a' + (s.n - 1) % 26));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		if (is(hf->name, want[i].name))
			CHECK(hf, str_is(s, want[i].arch, want[i].n), "architecture of %zu bytes", s.n);
}

static void check_misc(const struct hostile_file *hf, const struct gguf_file *gf)
{
	struct gguf_str s;
	int64_t k;

	if (is(hf->name, "03-version-2")) {
		assert_int_equal(gf->version, 2);
	} else if (is(hf->name, "07-empty-24-bytes")) {
		assert_int_equal(gf->header_bytes, 24);
		assert_int_equal(gf->data_bytes, 0);
	} else if (is(hf->name, "11-key-65535")) {
		assert_int_equal(gguf_kv_key(gf, 1).n, 65535);
	} else if (is(hf->name, "12-keys-differ-in-case")) {
		assert_int_equal(gguf_kv_find(gf, "general.name"), 1);
		assert_int_equal(gguf_kv_find(gf, "General.name"), 2);
	} else if (is(hf->name, "15-str-nul-ctrl")) {
		static const char want[] = "a\0b\x1b[31mred\x07\r\n%n%s\\";

		assert_int_equal(gguf_kv_get_str(gf, (uint64_t)kv(hf, gf, "general.name"), &s), 0);
		assert_true(str_is(s, want, sizeof(want) - 1));
	} else if (is(hf->name, "15-str-16mib")) {
		assert_int_equal(gguf_kv_get_str(gf, (uint64_t)kv(hf, gf, "general.description"), &s), 0);
		assert_int_equal(s.n, 16u << 20);
	} else if (is(hf->name, "23-strarr")) {
		uint64_t pos = 0, n = 0;

		k = kv(hf, gf, "tokenizer.ggml.tokens");
		assert_int_equal(gf->kvs[k].n, 1000000);
		while (gguf_kv_arr_next_str(gf, (uint64_t)k, &pos, &s) == 0) {
			assert_int_equal(s.n, 0);
			n++;
		}
		assert_int_equal(n, 1000000);
		assert_int_equal(gguf_kv_arr_get_str(gf, (uint64_t)k, 1000000, &s), -ERANGE);
	} else if (is(hf->name, "25-align-")) {
		uint32_t a = is(hf->name, "25-align-1mib") ? 1u << 20 :
			     is(hf->name, "25-align-64") ? 64 : 1;

		assert_int_equal(gf->alignment, a);
		assert_int_equal(gf->data_offset % a, 0);
		for (uint64_t i = 0; i < gf->n_tensors; i++)
			assert_int_equal(gf->tensors[i].offset % a, 0);
	} else if (is(hf->name, "31-template")) {
		assert_int_equal(gguf_kv_get_str(gf, (uint64_t)kv(hf, gf, "tokenizer.chat_template"), &s), 0);
		if (is(hf->name, "31-template-10mb"))
			assert_int_equal(s.n, 10000000);
		assert_true(s.n > 50 && s.p[0] == '{');
	} else if (is(hf->name, "32-vocab-byte-tokens")) {
		k = kv(hf, gf, "tokenizer.ggml.tokens");
		assert_int_equal(gguf_kv_arr_get_str(gf, (uint64_t)k, 0, &s), 0);
		assert_true(str_is(s, "<0x-1>", 6));
		assert_int_equal(gguf_kv_arr_get_str(gf, (uint64_t)k, 5, &s), 0);
		assert_true(str_is(s, "<0x80000000>", 12));
	} else if (is(hf->name, "34-name-63")) {
		assert_int_equal(gguf_tensor_name(gf, 0).n, 63);
	} else if (is(hf->name, "34-name-utf8")) {
		assert_int_equal(gguf_tensor_find(gf, "blk.\xc3\xa9.\xe2\x82\xac"), 0);
	} else if (is(hf->name, "49-no-final-padding")) {
		const struct gguf_tensor *t = &gf->tensors[2];

		assert_int_equal(gf->data_offset + t->offset + t->nbytes, hf->size);
	} else if (is(hf->name, "55-")) {
		assert_int_equal(gf->n_kv, 8);
		assert_int_equal(gf->n_tensors, 3);
		assert_int_equal(gf->data_bytes, 160);
		assert_true(gf->data_offset + gf->data_bytes < hf->size);
	} else if (is(hf->name, "57-kv-10^6")) {
		char key[5] = { 0 };

		name4(key, 999999);
		assert_int_equal(gguf_kv_find(gf, key), 999999);
		name4(key, 0);
		assert_int_equal(gguf_kv_find(gf, key), 0);
	} else if (is(hf->name, "57-tensors-10^6")) {
		char nm[5] = { 0 };

		name4(nm, 999999);
		assert_int_equal(gguf_tensor_find(gf, nm), 999999);
		assert_int_equal(gf->tensors[999999].offset, 999999ull * 32);
		assert_int_equal(gf->data_bytes, 32000000);
	}
	/* the shape cases: the element count of the one tensor */
	for (size_t i = 0; i < ARRAY_SIZE(shape_cases); i++) {
		if (!shape_cases[i].err && is(hf->name, shape_cases[i].name)) {
			const struct gguf_tensor *t = &gf->tensors[0];

			assert_int_equal(t->n_elements, shape_cases[i].n_elements);
			if (shape_cases[i].n_dims == 0) {
				for (int d = 0; d < GGUF_MAX_DIMS; d++)
					assert_int_equal(t->ne[d], 1);
				assert_int_equal(t->nbytes, 4);
			}
			if (shape_cases[i].n_elements == 0)
				assert_int_equal(t->nbytes, 0);
		}
	}
}

/* Checks beyond the parse for a valid file. */
static void check_valid(const struct hostile_file *hf, const struct gguf_file *gf)
{
	const struct gguf_file *parts[1] = { gf };
	struct model_info mi;
	struct diag d;

	/* inspect's summary of every valid file */
	diag_init(&d);
	CHECK(hf, model_info_from_gguf(parts, 1, &mi, &d) == 0, "model_info: %s", d.msg);
	CHECK(hf, mi.n_tensors == gf->n_tensors, "model_info counts %llu tensors",
	      (unsigned long long)mi.n_tensors);
	switch (hf->number) {
	case 26: case 27: case 28: case 30: check_micro(hf, gf); break;
	case 29: check_arch(hf, gf); break;
	default: check_misc(hf, gf); break;
	}
}

static void check_file(const struct hostile_file *hf)
{
	struct parsed whole;

	parse_copy(hf->data.buf, hf->data.len, hf->size, &whole);
	check_result(hf, &whole);
	check_steps(hf, &whole);
	check_feed(hf, &whole);
	if (hf->ok)
		check_valid(hf, whole.gf);
	parsed_free(&whole);
}

/* Builds and checks every file of one case number; returns how many. */
static size_t check_number(int number)
{
	size_t count = 0;

	for (size_t i = 0; i < n_entries; i++) {
		struct hostile_file hf;
		int e;

		if (entries[i].number != number)
			continue;
		e = hostile_build(&entries[i], &hf);
		if (e < 0)
			fail_msg("%s: cannot build: %s", entries[i].name, strerror(-e));
		check_file(&hf);
		hostile_file_release(&hf);
		count++;
	}
	return count;
}

static void test_case(void **state)
{
	int number = (int)(intptr_t)*state;

	if (check_number(number) == 0)
		fail_msg("case %d has no file", number);
}

/* ---- files on disk, through src/io ---- */

static char *temp_dir(void)
{
	const char *t = getenv("TMPDIR");
	char *p = malloc(PATH_MAX_HOSTILE);

	assert_non_null(p);
	snprintf(p, PATH_MAX_HOSTILE, "%s/llmem-hostile-XXXXXX", t && *t ? t : "/tmp");
	assert_non_null(mkdtemp(p));
	return p;
}

static void path_in(char *out, const char *dir, const char *name)
{
	snprintf(out, PATH_MAX_HOSTILE, "%s/%s", dir, name);
}

/* 1: every prefix of a valid file is truncated, with the parse asked to
 * continue in steps too */
static void test_sweep(void **state)
{
	struct hostile_file hf;
	uint64_t n_kv, n_t;
	struct sbuf full;
	size_t len;

	(void)state;
	sbuf_init(&full, HOSTILE_SBUF_CAP);
	assert_int_equal(hostile_sweep_source(&full, &n_kv, &n_t), 0);
	len = full.len;
	for (size_t cut = 0; cut <= len; cut++) {
		memset(&hf, 0, sizeof(hf));
		sbuf_init(&hf.data, HOSTILE_SBUF_CAP);
		assert_int_equal(sbuf_add(&hf.data, full.buf, cut), 0);
		snprintf(hf.name, sizeof(hf.name), "sweep cut at %zu of %zu", cut, len);
		hf.number = 1;
		hf.size = cut;
		hf.ok = cut == len;
		hf.err = -EBADMSG;
		hf.err_off = HOSTILE_ANY_OFFSET;
		hf.n_kv = n_kv;
		hf.n_tensors = n_t;
		check_file(&hf);
		hostile_file_release(&hf);
	}
	sbuf_release(&full);
}

/* 53: what is not a regular file is refused before any read, with no
 * offset */
static void test_not_regular(void **state)
{
	static const char *const devs[] = { "/dev/zero", "/dev/urandom", "/dev/null" };
	char *dir = temp_dir();
	char fifo[PATH_MAX_HOSTILE], link_zero[PATH_MAX_HOSTILE], sub[PATH_MAX_HOSTILE];
	char missing[PATH_MAX_HOSTILE];
	const char *paths[8];
	size_t n = 0;

	(void)state;
	path_in(fifo, dir, "fifo.gguf");
	path_in(link_zero, dir, "zero.gguf");
	path_in(sub, dir, "dir.gguf");
	path_in(missing, dir, "missing.gguf");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(symlink("/dev/zero", link_zero), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	paths[n++] = fifo;
	paths[n++] = link_zero;
	paths[n++] = sub;
	paths[n++] = missing;
	for (size_t i = 0; i < ARRAY_SIZE(devs); i++)
		if (access(devs[i], R_OK) == 0)
			paths[n++] = devs[i];
	for (size_t i = 0; i < n; i++) {
		struct io_gguf *g = NULL;
		struct io_model *m = NULL;
		struct diag d;
		int e;

		diag_init(&d);
		e = io_gguf_open(paths[i], &g, &d);
		if (e >= 0)
			fail_msg("%s: opened", paths[i]);
		assert_null(g);
		assert_true(e != -EAGAIN);
		assert_true(d.msg[0] != '\0');
		assert_true(d.offset == DIAG_NO_OFFSET);
		if (paths[i] != missing)
			assert_int_equal(e, -EINVAL);
		diag_init(&d);
		assert_true(io_model_open(paths[i], &m, &d, NULL) < 0);
		assert_null(m);
	}
	unlink(fifo);
	unlink(link_zero);
	rmdir(sub);
	rmdir(dir);
	free(dir);
}

/* 54: a file cut short on disk (as by a truncation between the size
 * check and the reads) is refused by io_gguf_open, whatever the cut */
static void test_truncated_on_disk(void **state)
{
	struct hostile_entry *src = NULL;
	struct hostile_file hf;
	char *dir = temp_dir();
	char path[PATH_MAX_HOSTILE];

	(void)state;
	assert_int_equal(check_number(54), 1);
	for (size_t i = 0; i < n_entries; i++)
		if (is(entries[i].name, "54-race-source"))
			src = &entries[i];
	assert_non_null(src);
	assert_int_equal(hostile_build(src, &hf), 0);
	assert_true(hf.data.len > (256u << 10));
	assert_int_equal(hostile_write_file(dir, &hf), 0);
	path_in(path, dir, hf.name);
	for (uint64_t cut = hf.size;; cut = cut * 3 / 4) {
		struct io_gguf *g = NULL;
		struct diag d;
		int e;

		assert_int_equal(truncate(path, (off_t)cut), 0);
		diag_init(&d);
		e = io_gguf_open(path, &g, &d);
		if (cut == hf.size) {
			assert_int_equal(e, 0);
			assert_int_equal(g->gf->n_tensors, 3);
			io_gguf_free(g);
		} else {
			if (e != -EBADMSG)
				fail_msg("cut at %llu: %d %s", (unsigned long long)cut, e, d.msg);
			assert_null(g);
			assert_true(d.offset <= cut);
		}
		if (cut == 0)
			break;
	}
	unlink(path);
	rmdir(dir);
	free(dir);
	hostile_file_release(&hf);
}

/* 56: every part parses alone; the sets go through io_model_open */
static void test_split(void **state)
{
	char *dir = temp_dir();
	char path[PATH_MAX_HOSTILE];

	(void)state;
	assert_true(check_number(56) > 0);
	for (size_t i = 0; i < n_entries; i++) {
		struct hostile_file hf;

		if (entries[i].number != 56)
			continue;
		assert_int_equal(hostile_build(&entries[i], &hf), 0);
		assert_int_equal(hostile_write_file(dir, &hf), 0);
		hostile_file_release(&hf);
	}
	for (size_t i = 0; i < n_entries; i++) {
		struct io_model *m = NULL;
		struct hostile_file hf;
		char *bad = NULL;
		struct diag d;
		int e;

		if (entries[i].number != 56)
			continue;
		assert_int_equal(hostile_build(&entries[i], &hf), 0);
		path_in(path, dir, hf.name);
		diag_init(&d);
		e = io_model_open(path, &m, &d, &bad);
		if (!hf.listed) {
			io_model_free(m);
			free(bad);
		} else if (strcmp(hf.inspect, "valid") == 0) {
			if (e < 0)
				fail_msg("%s: %s", hf.name, d.msg);
			assert_int_equal(m->n_tensors, m->n_parts * 2);
			assert_int_equal(m->n_parts, is(hf.name, "56-ok") ? 3 : 1);
			io_model_free(m);
		} else {
			if (e >= 0)
				fail_msg("%s: opened", hf.name);
			assert_null(m);
			assert_true(d.msg[0] != '\0');
			if (strcmp(hf.inspect, "invalid") == 0)
				CHECK(&hf, d.offset != DIAG_NO_OFFSET &&
				      (!bad || strcmp(bad, path) == 0), "%s", d.msg);
			if (bad)
				CHECK(&hf, strncmp(bad, path, strlen(path) - 20) == 0, "bad part %s", bad);
			free(bad);
		}
		hostile_file_release(&hf);
	}
	for (size_t i = 0; i < n_entries; i++) {
		if (entries[i].number == 56) {
			path_in(path, dir, entries[i].name);
			unlink(path);
		}
	}
	rmdir(dir);
	free(dir);
}

/* every case of the list has a file (53 is made on disk above and by
 * t-hostile.sh) */
static void test_all_numbers(void **state)
{
	(void)state;
	for (int number = 1; number <= 57; number++) {
		bool found = number == 53;

		for (size_t i = 0; i < n_entries; i++)
			found |= entries[i].number == number;
		if (!found)
			fail_msg("case %d has no file", number);
	}
}

static int setup(void **state)
{
	(void)state;
	return hostile_entries(&entries, &n_entries) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	free(entries);
	entries = NULL;
	n_entries = 0;
	return 0;
}

int main(void)
{
	static char names[57][24];
	struct CMUnitTest tests[57 + 2];
	size_t n = 0;

	for (int number = 1; number <= 57; number++) {
		struct CMUnitTest t = { NULL, test_case, NULL, NULL, (void *)(intptr_t)number };

		snprintf(names[number - 1], sizeof(names[0]), "case_%02d", number);
		t.name = names[number - 1];
		if (number == 53)
			t.test_func = test_not_regular;
		else if (number == 54)
			t.test_func = test_truncated_on_disk;
		else if (number == 56)
			t.test_func = test_split;
		tests[n++] = t;
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_sweep);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_all_numbers);
	/* CMOCKA_TEST_FILTER=case_57 runs one case */
	if (getenv("CMOCKA_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
	return _cmocka_run_group_tests("hostile", tests, n, setup, teardown);
}
