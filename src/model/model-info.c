/* model-info.c: gathering what inspect reports from GGUF headers. */
#include "base/compat.h"

#include <errno.h>
#include <string.h>

#include "base/checked.h"
#include "model/model-info.h"

/* Suffixes of "<arch>.<suffix>" keys that decide memory, in the order
 * inspect prints them. A new architecture needs no entry here unless it
 * brings a new kind of size. */
static const char *const hparam_keys[] = {
	"context_length",
	"embedding_length",
	"block_count",
	"feed_forward_length",
	"attention.head_count",
	"attention.head_count_kv",
	"attention.key_length",
	"attention.value_length",
	"attention.key_length_mla",
	"attention.value_length_mla",
	"attention.kv_lora_rank",
	"attention.q_lora_rank",
	"attention.sliding_window",
	"attention.sliding_window_pattern",
	"rope.dimension_count",
	"expert_count",
	"expert_used_count",
	"expert_shared_count",
	"expert_feed_forward_length",
	"expert_shared_feed_forward_length",
	"leading_dense_block_count",
	"vocab_size",
	"ssm.conv_kernel",
	"ssm.inner_size",
	"ssm.state_size",
	"ssm.time_step_rank",
	"ssm.group_count",
	"wkv.head_size",
	"full_attention_interval",
	"shortconv.l_cache",
};

static int64_t find_arch_key(const struct gguf_file *f, struct gguf_str arch, const char *suffix)
{
	char key[192];
	size_t sl = strlen(suffix);

	if (arch.n == 0 || arch.n + 1 + sl >= sizeof(key))
		return -ENOENT;
	memcpy(key, arch.p, arch.n);
	key[arch.n] = '.';
	memcpy(key + arch.n + 1, suffix, sl + 1);
	/* an arch name with a NUL byte cannot match any key */
	if (memchr(arch.p, '\0', arch.n))
		return -ENOENT;
	return gguf_kv_find(f, key);
}

int model_info_from_gguf(const struct gguf_file *const *parts, size_t n_parts,
			 struct model_info *ret, struct diag *d)
{
	const struct gguf_file *f0 = parts[0];
	struct model_info mi;
	int64_t k;

	memset(&mi, 0, sizeof(mi));
	k = gguf_kv_find(f0, "general.architecture");
	if (k >= 0 && gguf_kv_get_str(f0, (uint64_t)k, &mi.arch) < 0)
		mi.arch.n = 0;
	k = gguf_kv_find(f0, "general.name");
	if (k >= 0 && gguf_kv_get_str(f0, (uint64_t)k, &mi.name) < 0)
		mi.name.n = 0;
	k = gguf_kv_find(f0, "general.file_type");
	if (k >= 0 && gguf_kv_get_uint(f0, (uint64_t)k, &mi.ftype) == 0)
		mi.has_ftype = true;

	for (size_t p = 0; p < n_parts; p++) {
		const struct gguf_file *f = parts[p];

		for (uint64_t i = 0; i < f->n_tensors; i++) {
			const struct gguf_tensor *t = &f->tensors[i];

			if (!ck_add_u64(mi.n_params, t->n_elements, &mi.n_params) ||
			    !ck_add_u64(mi.data_bytes, t->nbytes, &mi.data_bytes) ||
			    !ck_add_u64(mi.type_bytes[t->type], t->nbytes, &mi.type_bytes[t->type]) ||
			    !ck_add_u64(mi.type_elements[t->type], t->n_elements,
					&mi.type_elements[t->type]))
				return diag_set(d, -EOVERFLOW, t->off, "model size overflows");
			mi.type_tensors[t->type]++;
			mi.n_tensors++;
		}
	}

	for (size_t i = 0; i < ARRAY_SIZE(hparam_keys) && mi.n_hparams < MODEL_MAX_HPARAMS; i++) {
		k = find_arch_key(f0, mi.arch, hparam_keys[i]);
		if (k < 0)
			continue;
		mi.hparams[mi.n_hparams].name = hparam_keys[i];
		mi.hparams[mi.n_hparams].kv = k;
		mi.n_hparams++;
	}

	k = find_arch_key(f0, mi.arch, "vocab_size");
	if (k >= 0 && gguf_kv_get_uint(f0, (uint64_t)k, &mi.vocab_size) == 0) {
		mi.has_vocab = true;
	} else {
		k = gguf_kv_find(f0, "tokenizer.ggml.tokens");
		if (k >= 0 && f0->kvs[k].type == GGUF_TYPE_ARRAY) {
			mi.has_vocab = true;
			mi.vocab_size = f0->kvs[k].n;
		}
	}
	*ret = mi;
	return 0;
}
