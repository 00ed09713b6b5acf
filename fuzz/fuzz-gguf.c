/* fuzz-gguf.c: libFuzzer target over the GGUF reader. Parses the input as
 * a whole file, then, as a grown buffer would (the -EAGAIN path), from a
 * prefix; on success walks every value through the typed getters and
 * gathers the inspect summary, the model description and the estimate,
 * so the code that consumes parsed headers is fuzzed too. */
#include "base/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "estimate/estimate.h"
#include "model/model-info.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The parser's skip index and list of long strings against a plain walk:
 * the same offsets, every long string once, in order. */
static void check_strings(const struct gguf_file *f, uint64_t k)
{
	const struct gguf_kv *kv = &f->kvs[k];
	uint64_t pos = 0, nl = 0;
	struct gguf_str s;

	for (uint64_t j = 0; j < kv->n; j++) {
		uint64_t at = pos ? pos : kv->val_off;

		if (gguf_kv_arr_next_str(f, k, &pos, &s) < 0)
			abort();
		if (kv->skip && j % GGUF_SKIP_EVERY == 0 && kv->skip[j / GGUF_SKIP_EVERY] != at)
			abort();
		if (s.n > GGUF_SHORT_STR && f->has_longs) {
			if (nl >= kv->n_long || kv->longs[nl].j != j || kv->longs[nl].off != at)
				abort();
			nl++;
		}
		if (j % 997 == 0) {
			struct gguf_str t;

			if (gguf_kv_arr_get_str(f, k, j, &t) < 0 || t.p != s.p || t.n != s.n)
				abort();
		}
	}
	if (nl != kv->n_long)
		abort();
}

static void walk(const struct gguf_file *f)
{
	const struct gguf_file *parts[1] = { f };
	struct model_info mi;
	struct gguf_str s;
	uint64_t u;
	int64_t i;
	double d;
	bool b;

	for (uint64_t k = 0; k < f->n_kv; k++) {
		const struct gguf_kv *kv = &f->kvs[k];

		(void)gguf_kv_key(f, k);
		(void)gguf_kv_get_uint(f, k, &u);
		(void)gguf_kv_get_int(f, k, &i);
		(void)gguf_kv_get_float(f, k, &d);
		(void)gguf_kv_get_bool(f, k, &b);
		(void)gguf_kv_get_str(f, k, &s);
		if (kv->type == GGUF_TYPE_ARRAY && kv->n) {
			uint64_t pos = 0, last = kv->n - 1;

			(void)gguf_kv_arr_get_uint(f, k, last, &u);
			(void)gguf_kv_arr_get_int(f, k, 0, &i);
			(void)gguf_kv_arr_get_float(f, k, last, &d);
			(void)gguf_kv_arr_get_uint(f, k, kv->n, &u);
			for (int n = 0; n < 64 && gguf_kv_arr_next_str(f, k, &pos, &s) == 0; n++)
				;
			if (kv->arr_type == GGUF_TYPE_STRING)
				check_strings(f, k);
		}
	}
	for (uint64_t t = 0; t < f->n_tensors; t++)
		(void)gguf_tensor_name(f, t);
	(void)gguf_kv_find(f, "general.architecture");
	(void)gguf_tensor_find(f, "token_embd.weight");
	(void)model_info_from_gguf(parts, 1, &mi, NULL);

	/* the estimator on hostile hyperparameters: no division by zero, no
	 * wrapped sum, whatever the metadata says */
	struct model m;
	struct est_config c;
	struct est_result r;

	if (model_from_gguf(parts, 1, &m, NULL) == 0) {
		est_config_init(&c);
		c.n_ctx = 4096;
		c.cpu_flags = EST_CPU_AVX2;
		(void)est_estimate(&m, &c, &r, NULL);
		c.n_devices = 1;
		c.devices[0].kind = EST_DEV_DISCRETE;
		c.devices[0].total_bytes = 24ull << 30;
		c.n_gpu_layers = 10;
		c.flash_attn = EST_FA_OFF;
		(void)est_estimate(&m, &c, &r, NULL);
		model_release(&m);
	}
}

static int parse_flags(const uint8_t *data, size_t size, unsigned flags, struct gguf_file **f,
		       struct diag *d)
{
	struct gguf_parser *p = gguf_parser_new(size);
	uint64_t need = 0;
	int e;

	if (!p)
		return -ENOMEM;
	gguf_parser_set_flags(p, flags);
	e = gguf_parser_feed(p, data, size, f, &need, d);
	gguf_parser_free(p);
	return e;
}

/* Every string array's end, long strings and skip index alike. */
static bool same_strings(const struct gguf_file *a, const struct gguf_file *b)
{
	if (a->n_kv != b->n_kv)
		return false;
	for (uint64_t i = 0; i < a->n_kv; i++) {
		const struct gguf_kv *x = &a->kvs[i], *y = &b->kvs[i];

		if (x->val_end != y->val_end || x->n_long != y->n_long || (x->skip == NULL) != (y->skip == NULL))
			return false;
		if (x->n_long && memcmp(x->longs, y->longs, x->n_long * sizeof(*x->longs)))
			return false;
		if (x->skip && memcmp(x->skip, y->skip, ((x->n - 1) / GGUF_SKIP_EVERY + 1) * sizeof(*x->skip)))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_file *f = NULL;
	struct diag d;
	uint64_t need = 0;
	int e;

	diag_init(&d);
	{
		/* whole, listing the long strings (as `llmem estimate` reads) */
		struct gguf_parser *p = gguf_parser_new(size);

		if (!p)
			return 0;
		gguf_parser_set_flags(p, GGUF_PARSE_LONG_STRINGS);
		e = gguf_parser_feed(p, data, size, &f, &need, &d);
		gguf_parser_free(p);
	}
	if (e == -EAGAIN)
		abort(); /* the whole file was given: never ask for more */
	{
		/* one chain against two (the second started early, so that
		 * small inputs reach it): the same result to the byte */
		struct gguf_file *f1 = NULL, *f2 = NULL;
		struct diag d1, d2;
		int e1, e2;

		diag_init(&d1);
		diag_init(&d2);
		e1 = parse_flags(data, size, GGUF_PARSE_LONG_STRINGS | GGUF_PARSE_ONE_CHAIN, &f1, &d1);
		e2 = parse_flags(data, size, GGUF_PARSE_LONG_STRINGS | GGUF_PARSE_SPEC_SMALL, &f2, &d2);
		if (e1 != e2 || e1 != e || (e1 < 0 && (d1.offset != d2.offset || strcmp(d1.msg, d2.msg))))
			abort();
		if (e1 == 0 && !same_strings(f1, f2))
			abort();
		gguf_file_free(f1);
		gguf_file_free(f2);
	}
	if (e == 0) {
		walk(f);
		gguf_file_free(f);
	}
	/* a prefix of a larger file: either parses, fails, or asks for more
	 * than it has and no more than the file holds */
	if (size > 1) {
		size_t half = size / 2;

		f = NULL;
		e = gguf_parse(data, half, size, &f, &need, &d);
		if (e == -EAGAIN && (need <= half || need > size))
			abort();
		gguf_file_free(f);
	}
	return 0;
}
