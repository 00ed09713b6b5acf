/* test-inspect-json.c: runs the real `llmem inspect --json --tensors` on
 * synthesized models shaped like Llama-3.1-8B (Q4_K_M mix), Qwen3-30B-A3B
 * (MoE) and Gemma-3-12B (sliding window), and checks that the parameter
 * count and the bytes per type are exactly the sums over the tensor table,
 * with tensor sizes recomputed here from an independent block table. Needs
 * LLMEM and TOOLS in the environment (tests/run.sh sets them). */
#include "base/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

/* blocks of the types the synthesizer uses: elements, bytes */
static const struct { const char *name; int64_t blck, size; } blocks[] = {
	{ "f32", 1, 4 }, { "f16", 1, 2 }, { "q8_0", 32, 34 }, { "q4_0", 32, 18 },
	{ "q4_K", 256, 144 }, { "q6_K", 256, 210 },
};

static int64_t tensor_bytes(const char *type, json_t *shape)
{
	int64_t n = 1;
	size_t i;
	json_t *v;

	json_array_foreach(shape, i, v)
		n *= json_integer_value(v);
	for (size_t k = 0; k < ARRAY_SIZE(blocks); k++)
		if (!strcmp(blocks[k].name, type))
			return n / blocks[k].blck * blocks[k].size;
	fail_msg("unexpected type %s", type);
	return -1;
}

static json_t *inspect(const char *shape, const char *ftype, char *path, size_t pathsz)
{
	const char *llmem = getenv("LLMEM"), *tools = getenv("TOOLS");
	char cmd[1024];
	json_error_t err;
	json_t *j;
	FILE *p;

	assert_non_null(llmem);
	assert_non_null(tools);
	snprintf(path, pathsz, "/tmp/llmem-test-%d-%s.gguf", (int)getpid(), shape);
	snprintf(cmd, sizeof(cmd), "%s/gguf-synth --shape %s --ftype %s %s", tools, shape, ftype, path);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s inspect --json --tensors %s", llmem, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	j = json_loadf(p, 0, &err);
	assert_int_equal(pclose(p), 0);
	if (!j)
		fail_msg("bad JSON: %s", err.text);
	return j;
}

/* Checks the sums and returns the parameter count. */
static int64_t check_sums(json_t *j)
{
	json_t *ts = json_object_get(j, "tensors"), *types = json_object_get(j, "types"), *t;
	int64_t params = 0, total = 0;
	size_t i, k;
	json_t *ty;

	assert_true(json_array_size(ts) > 0);
	json_array_foreach(types, k, ty) {
		const char *name = json_string_value(json_object_get(ty, "type"));
		int64_t bytes = 0, count = 0, elems = 0;

		json_array_foreach(ts, i, t) {
			if (strcmp(json_string_value(json_object_get(t, "type")), name))
				continue;
			int64_t b = tensor_bytes(name, json_object_get(t, "shape"));

			assert_int_equal(json_integer_value(json_object_get(t, "bytes")), b);
			bytes += b;
			elems += json_integer_value(json_object_get(t, "elements"));
			count++;
		}
		assert_int_equal(json_integer_value(json_object_get(ty, "bytes")), bytes);
		assert_int_equal(json_integer_value(json_object_get(ty, "tensors")), count);
		assert_int_equal(json_integer_value(json_object_get(ty, "elements")), elems);
		total += bytes;
	}
	json_array_foreach(ts, i, t) {
		int64_t n = 1;
		size_t d;
		json_t *v;

		json_array_foreach(json_object_get(t, "shape"), d, v)
			n *= json_integer_value(v);
		params += n;
	}
	assert_int_equal(json_integer_value(json_object_get(j, "parameters")), params);
	assert_int_equal(json_integer_value(json_object_get(j, "data_bytes")), total);
	assert_int_equal(json_integer_value(json_object_get(j, "tensor_count")), json_array_size(ts));
	return params;
}

static void test_llama_8b(void **state)
{
	(void)state;
	char path[256];
	json_t *j = inspect("llama-3.1-8b", "q4_k_m", path, sizeof(path));

	/* Meta's published parameter count for Llama 3.1 8B */
	assert_int_equal(check_sums(j), 8030261248ll);
	assert_string_equal(json_string_value(json_object_get(j, "architecture")), "llama");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "file_type"), "name")),
			    "Q4_K_M");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "hparams"),
							    "attention.head_count_kv")), 8);
	assert_int_equal(json_integer_value(json_object_get(j, "vocab_size")), 128256);
	json_decref(j);
	unlink(path);
}

static void test_qwen3_moe(void **state)
{
	(void)state;
	char path[256];
	json_t *j = inspect("qwen3-30b-a3b", "q4_k_m", path, sizeof(path));
	json_t *hp = json_object_get(j, "hparams");

	/* Qwen's published count for Qwen3-30B-A3B: 30.5 B */
	int64_t n = check_sums(j);

	assert_true(n > 30400000000ll && n < 30600000000ll);
	assert_int_equal(json_integer_value(json_object_get(hp, "expert_count")), 128);
	assert_int_equal(json_integer_value(json_object_get(hp, "expert_used_count")), 8);
	json_decref(j);
	unlink(path);
}

static void test_gemma3_swa(void **state)
{
	(void)state;
	char path[256];
	json_t *j = inspect("gemma-3-12b", "q8_0", path, sizeof(path));
	json_t *hp = json_object_get(j, "hparams");

	int64_t n = check_sums(j);

	/* the text model of Gemma 3 12B: 11.8 B */
	assert_true(n > 11700000000ll && n < 11800000000ll);
	assert_int_equal(json_integer_value(json_object_get(hp, "attention.sliding_window")), 1024);
	assert_int_equal(json_integer_value(json_object_get(j, "vocab_size")), 262144);
	json_decref(j);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llama_8b),
		cmocka_unit_test(test_qwen3_moe),
		cmocka_unit_test(test_gemma3_swa),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
