/* test-quant.c: the quantization mixes and the catalog: published GGUF
 * file sizes of well-known models (bartowski's and the Qwen team's
 * uploads) within 1%, llama.cpp's rules on hand-made cases, and catalog
 * lookups. The tensor-by-tensor check against the real llama-quantize is
 * tests/integration/t-quants.sh. */
#include "base/compat.h"

#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gguf/ggml-type.h"
#include "gguf/gguf.h"
#include "model/catalog.h"
#include "model/quant.h"

/* the file size llmem predicts for a catalog model as ftype */
static uint64_t file_size(const char *name, const char *ftype)
{
	const struct catalog_model *cm = catalog_find(name);
	struct gguf_writer *w = gguf_writer_new();
	int ft = llama_ftype_find(ftype);
	uint64_t n;

	assert_non_null(cm);
	assert_non_null(w);
	assert_true(ft >= 0);
	assert_int_equal(catalog_build(cm, (uint32_t)ft, w), 0);
	n = gguf_writer_file_size(w);
	gguf_writer_free(w);
	return n;
}

static void within(const char *name, const char *ftype, double gb)
{
	double got = (double)file_size(name, ftype) / 1e9;

	if (got < gb * 0.99 || got > gb * 1.01)
		fail_msg("%s %s: %.3f GB, published %.2f GB", name, ftype, got, gb);
}

static void test_published_sizes(void **state)
{
	(void)state;
	within("llama-3.3-70b", "Q4_K_M", 42.52);
	within("llama-3.3-70b", "Q8_0", 74.98);
	within("llama-3.3-70b", "Q6_K", 57.89);
	within("llama-3.3-70b", "Q5_K_M", 49.95);
	within("llama-3.3-70b", "Q3_K_M", 34.27);
	within("llama-3.3-70b", "Q2_K", 26.38);
	within("llama-3.1-8b", "Q4_K_M", 4.92);
	within("llama-3.1-8b", "Q8_0", 8.54);
	within("llama-3.2-3b", "Q4_K_M", 2.02);
	within("llama-3.2-1b", "Q8_0", 1.32);
	within("mistral-7b", "Q4_K_M", 4.37);
	within("qwen3-8b", "Q4_K_M", 5.03);
}

static void test_rules(void **state)
{
	struct quant_model qm = { "llama", 8, 8, 2, 0 };
	struct quant_tensor t[4];

	(void)state;
	memset(t, 0, sizeof(t));
	snprintf(t[0].name, sizeof(t[0].name), "output.weight");
	snprintf(t[1].name, sizeof(t[1].name), "blk.0.attn_v.weight");
	snprintf(t[2].name, sizeof(t[2].name), "blk.3.ffn_down.weight");
	snprintf(t[3].name, sizeof(t[3].name), "blk.0.attn_norm.weight");
	for (int i = 0; i < 4; i++) {
		t[i].n_dims = i == 3 ? 1 : 2;
		t[i].ne[0] = 512;
		t[i].ne[1] = i == 3 ? 1 : 256;
		t[i].ne[2] = t[i].ne[3] = 1;
		t[i].src_type = i == 3 ? GGML_TYPE_F32 : GGML_TYPE_F16;
	}
	/* not a multiple of 256: the first ffn_down gets Q6_K, which falls
	 * back to Q8_0 */
	t[2].ne[0] = 320;
	assert_int_equal(quant_apply(&qm, 15, t, 4), 0);
	assert_int_equal(t[0].type, GGML_TYPE_Q6_K);
	assert_int_equal(t[1].type, GGML_TYPE_Q6_K); /* first eighth: more bits */
	assert_int_equal(t[2].type, GGML_TYPE_Q8_0);
	assert_int_equal(t[3].type, GGML_TYPE_F32);
	assert_int_equal(quant_apply(&qm, 2, t, 4), 0); /* Q4_0 */
	assert_int_equal(t[0].type, GGML_TYPE_Q6_K);
	assert_int_equal(t[1].type, GGML_TYPE_Q4_0);
	assert_int_equal(quant_apply(&qm, 999, t, 4), -EINVAL);
	assert_false(quant_tensor_allowed("blk.0.ffn_gate_inp.weight", 2));
	assert_true(quant_tensor_allowed("blk.0.ffn_up_exps.weight", 3));
}

static void test_ftypes(void **state)
{
	(void)state;
	assert_int_equal(quant_ftype_count(), 16);
	for (size_t i = 0; i < quant_ftype_count(); i++) {
		const char *n = llama_ftype_name(quant_ftype_at(i));

		assert_non_null(n);
		assert_true(quant_ftype_default_type(quant_ftype_at(i)) >= 0);
	}
}

static void test_catalog(void **state)
{
	const struct catalog_model *cm, *close[3];
	uint32_t ft;

	(void)state;
	assert_true(catalog_count() >= 30);
	assert_int_equal(catalog_parse("llama-3.3-70b", &cm, &ft), 0);
	assert_int_equal(ft, 15);
	assert_int_equal(catalog_parse("Qwen3-8B:q8_0", &cm, &ft), 0);
	assert_string_equal(cm->name, "qwen3-8b");
	assert_int_equal(ft, 7);
	assert_int_equal(catalog_parse("qwen3-8b:q9_x", &cm, &ft), -EINVAL);
	assert_int_equal(catalog_parse("qwen9", &cm, &ft), -ENOENT);
	assert_true(catalog_suggest("llama-3.3-7b", close, 3) >= 1);
	assert_string_equal(close[0]->name, "llama-3.3-70b");
	for (size_t i = 0; i < catalog_count(); i++) {
		struct quant_tensor *t = NULL;
		size_t n = 0;

		cm = catalog_at(i);
		assert_int_equal(catalog_tensors(cm, cm->n_vocab, &t, &n), 0);
		assert_true(n > cm->n_layer);
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_sizes),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_ftypes),
		cmocka_unit_test(test_catalog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
