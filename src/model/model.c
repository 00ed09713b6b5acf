/* model.c: the memory-relevant description of a model from its GGUF
 * headers, with an architecture table for what differs between
 * architectures, and checked hyperparameters (hostile metadata ends in a
 * clear error, never a division by zero or an overflowed sum). */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "gguf/ggml-type.h"
#include "model/model.h"

enum recur_rule {
	RECUR_NONE,
	RECUR_ALL,        /* every layer (Mamba, RWKV) */
	RECUR_KV0,        /* layers with head_count_kv == 0 (Jamba, Granite-H, LFM2) */
	RECUR_KV0_FF0,    /* ... and feed_forward_length == 0 (Nemotron-H) */
	RECUR_INTERVAL,   /* all but every full_attention_interval-th (Qwen3-Next) */
	RECUR_ALL_ATTN,   /* every layer has both (Falcon-H1) */
};

struct model_arch {
	const char *name;
	uint8_t swa_period;      /* default sliding_window_pattern, 0 = no SWA */
	bool swa_dense_first;    /* the dense layer comes first in each period */
	bool swa_if_window;      /* SWA only when sliding_window > 0 */
	uint8_t recur;           /* enum recur_rule */
	uint8_t recur_interval;  /* default full_attention_interval */
	bool no_memory;          /* encoder/embedding/diffusion: no cache */
	bool swa_non_recurrent;  /* LFM2: the attention layers slide */
};

/* From llama.cpp's src/models/<arch>.cpp (load_swa_pattern calls, the
 * is_recr_impl rules) and llama-model.cpp's memory creation switch. An
 * architecture missing here is treated as a plain transformer with a KV
 * cache on every layer, which is right for most of them. */
static const struct model_arch arch_table[] = {
	{ "gemma2", 2, false, false, RECUR_NONE, 0, false, false },
	{ "gemma3", 6, false, true, RECUR_NONE, 0, false, false },
	{ "gemma3n", 5, false, false, RECUR_NONE, 0, false, false },
	{ "cohere2", 4, false, false, RECUR_NONE, 0, false, false },
	{ "cohere2moe", 4, true, false, RECUR_NONE, 0, false, false },
	{ "gpt-oss", 2, false, false, RECUR_NONE, 0, false, false },
	{ "olmo2", 4, false, true, RECUR_NONE, 0, false, false },
	{ "exaone4", 4, false, true, RECUR_NONE, 0, false, false },
	{ "exaone-moe", 4, false, false, RECUR_NONE, 0, false, false },
	{ "smallthinker", 4, true, true, RECUR_NONE, 0, false, false },
	{ "afmoe", 4, false, true, RECUR_NONE, 0, false, false },
	{ "mellum", 4, false, true, RECUR_NONE, 0, false, false },
	{ "plamo3", 8, false, true, RECUR_NONE, 0, false, false },
	{ "muse-glimmer", 4, false, false, RECUR_NONE, 0, false, false },
	{ "mamba", 0, false, false, RECUR_ALL, 0, false, false },
	{ "mamba2", 0, false, false, RECUR_ALL, 0, false, false },
	{ "rwkv6", 0, false, false, RECUR_ALL, 0, false, false },
	{ "rwkv6qwen2", 0, false, false, RECUR_ALL, 0, false, false },
	{ "rwkv7", 0, false, false, RECUR_ALL, 0, false, false },
	{ "arwkv7", 0, false, false, RECUR_ALL, 0, false, false },
	{ "jamba", 0, false, false, RECUR_KV0, 0, false, false },
	{ "granitehybrid", 0, false, false, RECUR_KV0, 0, false, false },
	{ "plamo2", 0, false, false, RECUR_KV0, 0, false, false },
	{ "lfm2", 0, false, false, RECUR_KV0, 0, false, true },
	{ "lfm2moe", 0, false, false, RECUR_KV0, 0, false, false },
	{ "kimi-linear", 0, false, false, RECUR_KV0, 0, false, false },
	{ "kimi-k3", 0, false, false, RECUR_KV0, 0, false, false },
	{ "bailingmoe3", 0, false, false, RECUR_KV0, 0, false, false },
	{ "nemotron_h", 0, false, false, RECUR_KV0_FF0, 0, false, false },
	{ "nemotron_h_moe", 0, false, false, RECUR_KV0_FF0, 0, false, false },
	{ "qwen3next", 0, false, false, RECUR_INTERVAL, 4, false, false },
	{ "qwen35", 0, false, false, RECUR_INTERVAL, 4, false, false },
	{ "qwen35moe", 0, false, false, RECUR_INTERVAL, 4, false, false },
	{ "qwen4exp", 0, false, false, RECUR_INTERVAL, 4, false, false },
	{ "minimax-01", 0, false, false, RECUR_INTERVAL, 8, false, false },
	{ "falcon-h1", 0, false, false, RECUR_ALL_ATTN, 0, false, false },
	{ "bert", 0, false, false, RECUR_NONE, 0, true, false },
	{ "modern-bert", 0, false, false, RECUR_NONE, 0, true, false },
	{ "nomic-bert", 0, false, false, RECUR_NONE, 0, true, false },
	{ "nomic-bert-moe", 0, false, false, RECUR_NONE, 0, true, false },
	{ "neo-bert", 0, false, false, RECUR_NONE, 0, true, false },
	{ "jina-bert-v2", 0, false, false, RECUR_NONE, 0, true, false },
	{ "jina-bert-v3", 0, false, false, RECUR_NONE, 0, true, false },
	{ "eurobert", 0, false, false, RECUR_NONE, 0, true, false },
	{ "gemma-embedding", 0, false, false, RECUR_NONE, 0, true, false },
	{ "wavtokenizer-dec", 0, false, false, RECUR_NONE, 0, true, false },
	{ "dream", 0, false, false, RECUR_NONE, 0, true, false },
	{ "llada", 0, false, false, RECUR_NONE, 0, true, false },
	{ "llada-moe", 0, false, false, RECUR_NONE, 0, true, false },
	{ "rnd1", 0, false, false, RECUR_NONE, 0, true, false },
};

static const struct model_arch plain_arch = { "", 0, false, false, RECUR_NONE, 0, false, false };

/* ---- metadata access ---- */

struct meta {
	const struct gguf_file *f;
	const char *arch;
	struct diag *d;
};

static int64_t arch_key(const struct meta *mt, const char *suffix)
{
	char key[160];

	snprintf(key, sizeof(key), "%s.%s", mt->arch, suffix);
	return gguf_kv_find(mt->f, key);
}

/* An unsigned scalar "<arch>.<suffix>"; *ret keeps its default when the
 * key is absent. -EBADMSG (with *d) for a wrong type or a value over max. */
static int get_u(const struct meta *mt, const char *suffix, uint64_t max, bool required,
		 uint64_t *ret)
{
	int64_t k = arch_key(mt, suffix);
	uint64_t v;

	if (k < 0) {
		if (required)
			return diag_set(mt->d, -EBADMSG, DIAG_NO_OFFSET, "%s.%s is missing", mt->arch,
					suffix);
		return 0;
	}
	if (gguf_kv_get_uint(mt->f, (uint64_t)k, &v) < 0)
		return diag_set(mt->d, -EBADMSG, mt->f->kvs[k].off,
				"%s.%s must be a non-negative integer, it is a %s", mt->arch, suffix,
				gguf_type_name(mt->f->kvs[k].type));
	if (v > max)
		return diag_set(mt->d, -EBADMSG, mt->f->kvs[k].val_off,
				"%s.%s is %llu, more than the %llu llama.cpp allows", mt->arch, suffix,
				(unsigned long long)v, (unsigned long long)max);
	*ret = v;
	return 0;
}

/* A per-layer value: a scalar for every layer, or an array of n_layer. */
static int get_per_layer(const struct meta *mt, const char *suffix, uint32_t n_layer, uint64_t max,
			 bool *ret_present, uint32_t *out)
{
	int64_t k = arch_key(mt, suffix);
	const struct gguf_kv *kv;
	uint64_t v;

	*ret_present = k >= 0;
	if (k < 0)
		return 0;
	kv = &mt->f->kvs[k];
	if (kv->type != GGUF_TYPE_ARRAY) {
		if (gguf_kv_get_uint(mt->f, (uint64_t)k, &v) < 0 || v > max)
			return diag_set(mt->d, -EBADMSG, kv->off,
					"%s.%s must be an integer from 0 to %llu", mt->arch, suffix,
					(unsigned long long)max);
		for (uint32_t il = 0; il < n_layer; il++)
			out[il] = (uint32_t)v;
		return 0;
	}
	if (kv->n != n_layer)
		return diag_set(mt->d, -EBADMSG, kv->off,
				"%s.%s has %llu entries but the model has %u layers", mt->arch, suffix,
				(unsigned long long)kv->n, n_layer);
	for (uint32_t il = 0; il < n_layer; il++) {
		if (gguf_kv_arr_get_uint(mt->f, (uint64_t)k, il, &v) < 0 || v > max)
			return diag_set(mt->d, -EBADMSG, kv->off,
					"%s.%s[%u] must be an integer from 0 to %llu", mt->arch, suffix, il,
					(unsigned long long)max);
		out[il] = (uint32_t)v;
	}
	return 0;
}

/* ---- tensors ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* A block's matrices by name (after "blk.N."), llama.cpp's LLM_TENSOR_*
 * names of the matrices the graphs multiply by */
static const struct {
	const char *name;
	uint8_t role;
} roles[] = {
	{ "attn_q.weight", MODEL_ROLE_Q },	       { "attn_k.weight", MODEL_ROLE_K },
	{ "attn_v.weight", MODEL_ROLE_V },	       { "attn_qkv.weight", MODEL_ROLE_QKV },
	{ "attn_output.weight", MODEL_ROLE_O },       { "ffn_gate.weight", MODEL_ROLE_GATE },
	{ "ffn_up.weight", MODEL_ROLE_UP },	       { "ffn_down.weight", MODEL_ROLE_DOWN },
	{ "ffn_gate_inp.weight", MODEL_ROLE_ROUTER }, { "ffn_gate_exps.weight", MODEL_ROLE_GATE_EXPS },
	{ "ffn_up_exps.weight", MODEL_ROLE_UP_EXPS }, { "ffn_down_exps.weight", MODEL_ROLE_DOWN_EXPS },
	{ "ffn_gate_up_exps.weight", MODEL_ROLE_GATE_UP_EXPS },
	{ "ffn_gate_shexp.weight", MODEL_ROLE_GATE_SHEXP },
	{ "ffn_up_shexp.weight", MODEL_ROLE_UP_SHEXP },
	{ "ffn_down_shexp.weight", MODEL_ROLE_DOWN_SHEXP },
	{ "attn_q_a.weight", MODEL_ROLE_Q_A },	       { "attn_q_b.weight", MODEL_ROLE_Q_B },
	{ "attn_kv_a_mqa.weight", MODEL_ROLE_KV_A },  { "attn_k_b.weight", MODEL_ROLE_K_B },
	{ "attn_v_b.weight", MODEL_ROLE_V_B },	       { "shortconv.in_proj.weight", MODEL_ROLE_CONV_IN },
	{ "shortconv.out_proj.weight", MODEL_ROLE_CONV_OUT },
};

/* The layer and operation of a tensor, from its name (llama.cpp's
 * LLM_TENSOR_INFOS table, by name pattern). */
static void classify(struct model_tensor *t, uint32_t n_layer)
{
	const char *n = t->name;

	t->op = MODEL_OP_OTHER;
	if (!strncmp(n, "blk.", 4)) {
		char *end;
		unsigned long il = strtoul(n + 4, &end, 10);

		t->layer = (end != n + 4 && *end == '.' && il < n_layer) ? (int32_t)il : MODEL_LAYER_INPUT;
		if (*end == '.')
			for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
				if (!strcmp(end + 1, roles[i].name)) {
					t->role = roles[i].role;
					break;
				}
		if (strstr(n, "_exps.") || strstr(n, "_chexps.")) {
			t->expert = true;
			t->op = MODEL_OP_MUL_MAT_ID;
		} else if (t->n_dims >= 2 && ends_with(n, ".weight") && !strstr(n, "norm") &&
			   !strstr(n, "conv1d") && !strstr(n, "shortconv.conv") &&
			   !strstr(n, "nextn.embed_tokens") && !strstr(n, "ssm_a") &&
			   !strstr(n, "time_mix_lerp") && !strstr(n, "time_mix_first")) {
			t->op = MODEL_OP_MUL_MAT;
		}
		return;
	}
	if (!strncmp(n, "token_embd.", 11) || !strncmp(n, "position_embd.", 14) ||
	    !strncmp(n, "token_types.", 12) || !strncmp(n, "per_layer_token_embd.", 21)) {
		t->layer = MODEL_LAYER_INPUT;
		t->op = MODEL_OP_GET_ROWS;
		return;
	}
	if (!strncmp(n, "output.", 7) || !strncmp(n, "output_norm.", 12) || !strncmp(n, "cls.", 4)) {
		t->layer = MODEL_LAYER_OUTPUT;
		if (!strcmp(n, "output.weight") && t->n_dims >= 2)
			t->op = MODEL_OP_MUL_MAT;
		return;
	}
	/* rope_freqs, token_embd_norm and the like: small, host side */
	t->layer = MODEL_LAYER_INPUT;
}

static int collect_tensors(const struct gguf_file *const *parts, size_t n_parts, struct model *m,
			   struct diag *d)
{
	size_t n = 0, k = 0;

	for (size_t p = 0; p < n_parts; p++)
		n += parts[p]->n_tensors;
	m->tensors = calloc(n ? n : 1, sizeof(*m->tensors));
	if (!m->tensors)
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	for (size_t p = 0; p < n_parts; p++) {
		const struct gguf_file *f = parts[p];

		for (uint64_t i = 0; i < f->n_tensors; i++, k++) {
			const struct gguf_tensor *gt = &f->tensors[i];
			struct model_tensor *t = &m->tensors[k];
			struct gguf_str nm = gguf_tensor_name(f, i);

			memcpy(t->name, nm.p, nm.n);
			t->name[nm.n] = '\0';
			t->part = (uint32_t)p;
			t->file_off = f->data_offset + gt->offset;
			t->type = gt->type;
			t->n_dims = gt->n_dims;
			memcpy(t->ne, gt->ne, sizeof(t->ne));
			t->nbytes = gt->nbytes;
			classify(t, m->n_layer);
			if (t->layer >= 0 && (uint32_t)t->layer >= m->n_layer - m->n_layer_nextn)
				t->skip = true;
			if (!t->skip && !ck_add_u64(m->weight_bytes, t->nbytes, &m->weight_bytes))
				return diag_set(d, -EOVERFLOW, gt->off, "model size overflows");
		}
	}
	m->n_tensors = n;
	for (size_t i = 0; i < n; i++) {
		const struct model_tensor *t = &m->tensors[i];

		if (t->layer < 0)
			continue;
		if (t->expert)
			m->layers[t->layer].moe = true;
		/* feed-forward sizes the metadata left out: rows of the up
		 * projections */
		if (!m->n_ff_exp && t->expert && strstr(t->name, ".ffn_up_exps.") && t->n_dims >= 2)
			m->n_ff_exp = (uint64_t)t->ne[1];
		if (!m->n_ff_shexp && strstr(t->name, ".ffn_up_shexp.") && t->n_dims >= 2)
			m->n_ff_shexp = (uint64_t)t->ne[1];
	}
	m->tied_output = true;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m->tensors[i].name, "output.weight"))
			m->tied_output = false;
	return 0;
}

/* ---- layers ---- */

static const struct model_arch *arch_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(arch_table); i++)
		if (!strcmp(arch_table[i].name, name))
			return &arch_table[i];
	return &plain_arch;
}

static int layers_from_meta(const struct meta *mt, const struct model_arch *a, struct model *m)
{
	uint32_t L = m->n_layer, *heads, *heads_kv, *ff, *swa_arr = NULL;
	uint64_t head_k = 0, head_v = 0, kv_lora = 0, k_mla = 0, v_mla = 0, v = 0;
	uint64_t d_conv = 0, d_inner = 0, d_state = 0, n_group = 0, wkv = 0, shift = 2, l_cache = 0;
	uint64_t interval = a->recur_interval, swa_period = a->swa_period;
	bool present, swa_from_array = false;
	int e;

	heads = calloc(L, sizeof(*heads));
	heads_kv = calloc(L, sizeof(*heads_kv));
	ff = calloc(L, sizeof(*ff));
	if (!heads || !heads_kv || !ff) {
		e = diag_set(mt->d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
		goto out;
	}
	e = get_per_layer(mt, "attention.head_count", L, 1u << 16, &present, heads);
	if (e < 0)
		goto out;
	memcpy(heads_kv, heads, L * sizeof(*heads));
	e = get_per_layer(mt, "attention.head_count_kv", L, 1u << 16, &present, heads_kv);
	if (e < 0)
		goto out;
	e = get_per_layer(mt, "feed_forward_length", L, 1u << 24, &present, ff);
	if (e < 0)
		goto out;
	for (uint32_t il = 0; il < L; il++) {
		if (heads_kv[il] > heads[il]) {
			e = diag_set(mt->d, -EBADMSG, DIAG_NO_OFFSET,
				     "layer %u has %u KV heads but only %u attention heads", il,
				     heads_kv[il], heads[il]);
			goto out;
		}
		if (heads[il] > m->n_head_max)
			m->n_head_max = heads[il];
	}
	if (m->n_head_max == 0 && a->recur == RECUR_NONE && !a->no_memory) {
		e = diag_set(mt->d, -EBADMSG, DIAG_NO_OFFSET,
			     "%s.attention.head_count is missing or zero: an attention model needs heads",
			     mt->arch);
		goto out;
	}
	/* head sizes: key_length/value_length, else n_embd / n_head */
	if (m->n_head_max) {
		head_k = head_v = m->n_embd / m->n_head_max;
		if ((e = get_u(mt, "attention.key_length", 1u << 20, false, &head_k)) < 0 ||
		    (e = get_u(mt, "attention.value_length", 1u << 20, false, &head_v)) < 0)
			goto out;
	}
	if ((e = get_u(mt, "attention.kv_lora_rank", 1u << 20, false, &kv_lora)) < 0 ||
	    (e = get_u(mt, "attention.key_length_mla", 1u << 20, false, &k_mla)) < 0 ||
	    (e = get_u(mt, "attention.value_length_mla", 1u << 20, false, &v_mla)) < 0)
		goto out;
	m->mla = arch_key(mt, "attention.key_length_mla") >= 0 &&
		 arch_key(mt, "attention.value_length_mla") >= 0;
	m->head_k_mla = (uint32_t)k_mla;
	m->head_v_mla = (uint32_t)v_mla;
	v = 0;
	if ((e = get_u(mt, "attention.q_lora_rank", 1u << 20, false, &v)) < 0)
		goto out;
	m->q_lora_rank = (uint32_t)v;
	v = 0;
	if ((e = get_u(mt, "attention.sliding_window", 1u << 30, false, &v)) < 0)
		goto out;
	m->n_swa = (uint32_t)v;
	if ((e = get_u(mt, "ssm.conv_kernel", 1u << 16, false, &d_conv)) < 0 ||
	    (e = get_u(mt, "ssm.inner_size", 1u << 24, false, &d_inner)) < 0 ||
	    (e = get_u(mt, "ssm.state_size", 1u << 16, false, &d_state)) < 0 ||
	    (e = get_u(mt, "ssm.group_count", 1u << 16, false, &n_group)) < 0 ||
	    (e = get_u(mt, "wkv.head_size", 1u << 16, false, &wkv)) < 0 ||
	    (e = get_u(mt, "token_shift_count", 16, false, &shift)) < 0 ||
	    (e = get_u(mt, "shortconv.l_cache", 1u << 16, false, &l_cache)) < 0 ||
	    (e = get_u(mt, "full_attention_interval", 1u << 16, false, &interval)) < 0)
		goto out;

	/* sliding-window pattern: a bool array per layer, or a period */
	{
		int64_t k = arch_key(mt, "attention.sliding_window_pattern");

		if (k >= 0 && mt->f->kvs[k].type == GGUF_TYPE_ARRAY) {
			swa_arr = calloc(L, sizeof(*swa_arr));
			if (!swa_arr) {
				e = diag_set(mt->d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
				goto out;
			}
			e = get_per_layer(mt, "attention.sliding_window_pattern", L, 1, &present, swa_arr);
			if (e < 0)
				goto out;
			swa_from_array = true;
		} else if ((e = get_u(mt, "attention.sliding_window_pattern", 1u << 16, false,
				      &swa_period)) < 0) {
			goto out;
		}
	}
	bool has_swa = (a->swa_period || swa_from_array) && (!a->swa_if_window || m->n_swa > 0);

	m->kv_lora_rank = (uint32_t)kv_lora;
	v = head_k;
	if ((e = get_u(mt, "rope.dimension_count", 1u << 20, false, &v)) < 0)
		goto out;
	m->n_rot = (uint32_t)v;
	if (m->mla) {
		/* the converter writes key_length = kv_lora_rank + rope dims
		 * and one KV head; the cache holds K only */
		head_k = k_mla ? k_mla : head_k;
		if (arch_key(mt, "attention.key_length") >= 0)
			(void)get_u(mt, "attention.key_length", 1u << 20, false, &head_k);
		head_v = 0;
	}

	uint32_t n_main = L - m->n_layer_nextn;

	for (uint32_t il = 0; il < L; il++) {
		struct model_layer *ly = &m->layers[il];
		bool rec = false;

		ly->n_head = heads[il];
		ly->n_head_kv = heads_kv[il];
		ly->n_ff = ff[il];
		ly->head_k = (uint32_t)head_k;
		ly->head_v = (uint32_t)head_v;
		switch (a->recur) {
		case RECUR_ALL: case RECUR_ALL_ATTN: rec = il < n_main; break;
		case RECUR_KV0: rec = il < n_main && heads_kv[il] == 0; break;
		case RECUR_KV0_FF0: rec = il < n_main && heads_kv[il] == 0 && ff[il] == 0; break;
		case RECUR_INTERVAL: rec = il < n_main && interval && (il + 1) % interval != 0; break;
		default: break;
		}
		ly->recurrent = rec;
		ly->has_kv = !m->no_memory && (a->recur == RECUR_ALL_ATTN || (!rec && a->recur != RECUR_ALL));
		if (has_swa && il < n_main) {
			if (swa_from_array)
				ly->swa = swa_arr[il] != 0;
			else if (a->swa_non_recurrent)
				ly->swa = !rec;
			else if (a->swa_dense_first)
				ly->swa = swa_period == 0 || il % swa_period != 0;
			else
				ly->swa = swa_period == 0 || il % swa_period < swa_period - 1;
		}
		if (rec) {
			if (wkv) {
				ly->n_embd_r = shift * m->n_embd;
				ly->n_embd_s = m->n_embd * wkv;
			} else if (l_cache) {
				ly->n_embd_r = m->n_embd * (l_cache - 1);
				ly->n_embd_s = d_state * d_inner;
			} else {
				ly->n_embd_r = (d_conv ? d_conv - 1 : 0) * (d_inner + 2 * n_group * d_state);
				ly->n_embd_s = d_state * d_inner;
			}
		}
	}
	if (m->n_swa == 0)
		for (uint32_t il = 0; il < L; il++)
			m->layers[il].swa = false;
	e = 0;
out:
	free(heads);
	free(heads_kv);
	free(ff);
	free(swa_arr);
	return e;
}

/* The tokenizer arrays llama.cpp's vocabulary loader reads must have the
 * element types it casts them to and one entry per token (reliability.md
 * case 26: a count check alone let INT8 scores be read as floats). */
static int check_tokenizer(const struct gguf_file *f, struct diag *d)
{
	static const struct { const char *key; uint32_t type; bool per_token; } arrs[] = {
		{ "tokenizer.ggml.tokens", GGUF_TYPE_STRING, true },
		{ "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, true },
		{ "tokenizer.ggml.token_type", GGUF_TYPE_INT32, true },
		{ "tokenizer.ggml.merges", GGUF_TYPE_STRING, false },
	};
	int64_t tk = gguf_kv_find(f, "tokenizer.ggml.tokens");
	uint64_t n_tokens = tk >= 0 ? f->kvs[tk].n : 0;

	for (size_t i = 0; i < ARRAY_SIZE(arrs); i++) {
		int64_t k = gguf_kv_find(f, arrs[i].key);
		const struct gguf_kv *kv;

		if (k < 0)
			continue;
		kv = &f->kvs[k];
		if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != arrs[i].type)
			return diag_set(d, -EBADMSG, kv->off, "%s must be an array of %s, not %s%s",
					arrs[i].key, gguf_type_name(arrs[i].type),
					kv->type == GGUF_TYPE_ARRAY ? "an array of " : "a ",
					gguf_type_name(kv->type == GGUF_TYPE_ARRAY ? kv->arr_type : kv->type));
		if (arrs[i].per_token && kv->n != n_tokens)
			return diag_set(d, -EBADMSG, kv->off,
					"%s has %llu entries but the vocabulary has %llu tokens",
					arrs[i].key, (unsigned long long)kv->n, (unsigned long long)n_tokens);
	}
	return 0;
}

/* glibc malloc (x86-64, aarch64): the chunk a request of n bytes takes,
 * its 8-byte size header included, in 16-byte steps, 32 at least */
static uint64_t malloc_chunk(uint64_t n)
{
	uint64_t c = (n + 8 + 15) & ~(uint64_t)15;

	return c < 32 ? 32 : c;
}

/* the heap a libstdc++ std::string of len bytes holds: none up to 15
 * (the in-object buffer), else len + 1 with its terminator, or more where
 * it grew from the in-object 15 by resize (capacity doubles to 30) */
static uint64_t string_heap(uint64_t len, bool resized)
{
	if (len <= 15)
		return 0;
	return malloc_chunk((resized && len < 30 ? 30 : len) + 1);
}

/* The string at *off of a string array ending at end, read in place;
 * *off moves past it. False when it does not fit (checked again). */
static inline bool str_next(const struct gguf_file *f, uint64_t *off, uint64_t end, struct gguf_str *s)
{
	uint64_t len;

	if (*off > end || end - *off < 8)
		return false;
	memcpy(&len, f->buf + *off, 8);
	if (len > end - *off - 8)
		return false;
	s->p = (const char *)f->buf + *off + 8;
	s->n = (size_t)len;
	*off += 8 + len;
	return true;
}

/* The i-th of string array kv's long strings (the parser lists them: a
 * vocabulary's few percent, visited in order with the ones ahead
 * prefetched, rather than a second walk over every length, which would
 * wait on memory at each step). */
static inline bool long_at(const struct gguf_file *f, const struct gguf_kv *kv, uint64_t i,
			   struct gguf_str *s)
{
	uint64_t off = kv->longs[i].off;

	if (i + 16 < kv->n_long)
		__builtin_prefetch(f->buf + kv->longs[i + 16].off);
	return off >= kv->val_off && str_next(f, &off, kv->val_end, s);
}

/* A token's type (tokenizer.ggml.token_type, int32 as written by
 * llama.cpp's converter; 1, normal, when absent or odd). */
static int64_t token_type(const struct gguf_file *f, int64_t kt, uint64_t j)
{
	const struct gguf_kv *kv;
	int32_t t;
	int64_t v;

	if (kt < 0)
		return 1;
	kv = &f->kvs[kt];
	if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_INT32 && j < kv->n &&
	    kv->val_end - kv->val_off >= 4 * kv->n) {
		memcpy(&t, f->buf + kv->val_off + 4 * j, 4);
		return t;
	}
	return gguf_kv_arr_get_int(f, (uint64_t)kt, j, &v) < 0 ? 1 : v;
}

/* One long token's heap: its text and its piece (decoded: a byte-level
 * BPE token's code points are a byte each, SentencePiece's U+2581 is one
 * space; control and user-defined tokens are kept as they are). */
static void token_heap(struct model *m, struct gguf_str s, int64_t type, bool byte_level)
{
	uint64_t piece = 0;

	if (byte_level && type != 3 && type != 4) {
		for (size_t b = 0; b < s.n; b++)
			piece += ((unsigned char)s.p[b] & 0xc0) != 0x80;
	} else {
		piece = s.n;
		for (const char *q = s.p, *end = s.p + s.n;
		     (q = memchr(q, 0xe2, (size_t)(end - q))) != NULL; q++)
			if (end - q >= 3 && q[1] == '\x96' && q[2] == '\x81')
				piece -= 2;
	}
	m->tok_text_heap += string_heap(s.n, false);
	m->tok_piece_heap += string_heap(piece, true);
}

/* One long merge's: itself and its two halves. */
static void merge_heap(struct model *m, struct gguf_str s)
{
	const char *sp = s.n > 1 ? memchr(s.p + 1, ' ', s.n - 1) : NULL;

	m->tok_merge_heap += string_heap(s.n, false);
	if (sp)
		m->tok_merge_half_heap += string_heap((uint64_t)(sp - s.p), false) +
					  string_heap(s.n - (uint64_t)(sp - s.p) - 1, false);
}

/* The tokenizer facts behind the heap llama.cpp's vocabulary takes
 * (llama-vocab.cpp load): every token text is kept three times (the GGUF
 * context, id_to_token, token_to_id) plus its piece (the token-to-piece
 * cache, decoded: a byte-level BPE token's code points are one byte each,
 * SentencePiece's U+2581 is one space); every merge "a b" once whole (the
 * GGUF context) and once split (bpe_ranks). Each string adds at most its
 * length plus 47 bytes (per string a length field of 8 in the header
 * buffer) so no sum can overflow; a malformed array stops the walk. */
static void tokenizer_heap(const struct gguf_file *f, struct model *m)
{
	static const char *const arrs[] = { "tokenizer.ggml.scores", "tokenizer.ggml.token_type" };
	int64_t k = gguf_kv_find(f, "tokenizer.ggml.tokens");
	int64_t km = gguf_kv_find(f, "tokenizer.ggml.model");
	int64_t kt = gguf_kv_find(f, "tokenizer.ggml.token_type");
	bool byte_level = false;
	struct gguf_str s;

	if (km >= 0 && gguf_kv_get_str(f, (uint64_t)km, &s) == 0)
		byte_level = s.n == 4 && !memcmp(s.p, "gpt2", 4);
	for (size_t i = 0; i < ARRAY_SIZE(arrs); i++) {
		int64_t ka = gguf_kv_find(f, arrs[i]);

		if (ka >= 0 && f->kvs[ka].type == GGUF_TYPE_ARRAY)
			m->tok_arr_bytes[i] = f->kvs[ka].n * gguf_type_size(f->kvs[ka].arr_type);
	}
	/* a piece is never longer than its text, and a merge's halves are
	 * shorter than it: strings of 15 bytes or less (most of them, and
	 * the parser lists only the others) take no heap; a merge of 16
	 * splits into two of 15 at most */
	if (k >= 0 && f->kvs[k].type == GGUF_TYPE_ARRAY && f->kvs[k].arr_type == GGUF_TYPE_STRING) {
		const struct gguf_kv *kv = &f->kvs[k];

		m->tok_n = kv->n;
		if (f->has_longs) {
			for (uint64_t i = 0; i < kv->n_long && long_at(f, kv, i, &s); i++)
				token_heap(m, s, token_type(f, kt, kv->longs[i].j), byte_level);
		} else {
			uint64_t pos = kv->val_off;

			for (uint64_t j = 0; j < kv->n && str_next(f, &pos, kv->val_end, &s); j++)
				if (s.n > GGUF_SHORT_STR)
					token_heap(m, s, token_type(f, kt, j), byte_level);
		}
	}
	k = gguf_kv_find(f, "tokenizer.ggml.merges");
	if (k >= 0 && f->kvs[k].type == GGUF_TYPE_ARRAY && f->kvs[k].arr_type == GGUF_TYPE_STRING) {
		const struct gguf_kv *kv = &f->kvs[k];

		m->tok_n_merges = kv->n;
		if (f->has_longs) {
			for (uint64_t i = 0; i < kv->n_long && long_at(f, kv, i, &s); i++)
				if (s.n > 16)
					merge_heap(m, s);
		} else {
			uint64_t pos = kv->val_off;

			for (uint64_t j = 0; j < kv->n && str_next(f, &pos, kv->val_end, &s); j++)
				if (s.n > 16)
					merge_heap(m, s);
		}
	}
}

int model_from_gguf(const struct gguf_file *const *parts, size_t n_parts, struct model *m,
		    struct diag *d)
{
	return model_from_gguf_flags(parts, n_parts, 0, m, d);
}

int model_from_gguf_flags(const struct gguf_file *const *parts, size_t n_parts, unsigned flags,
			  struct model *m, struct diag *d)
{
	const struct gguf_file *f = parts[0];
	const struct model_arch *a;
	struct meta mt = { f, m->arch, d };
	struct gguf_str s;
	uint64_t v;
	int64_t k;
	int e;

	memset(m, 0, sizeof(*m));
	m->n_parts = n_parts;
	k = gguf_kv_find(f, "general.architecture");
	if (k < 0 || gguf_kv_get_str(f, (uint64_t)k, &s) < 0)
		return diag_set(d, -EBADMSG, k < 0 ? DIAG_NO_OFFSET : f->kvs[k].off,
				"general.architecture is missing or not a string");
	if (s.n == 0 || s.n >= sizeof(m->arch) || memchr(s.p, '\0', s.n))
		return diag_set(d, -EBADMSG, f->kvs[k].val_off,
				"general.architecture must be a short name, not %zu bytes", s.n);
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return diag_set(d, -EBADMSG, f->kvs[k].val_off,
					"general.architecture has a character outside [a-z0-9_.-]");
	}
	memcpy(m->arch, s.p, s.n);
	m->arch[s.n] = '\0';
	/* the files people pass as a model that are not one: say what they
	 * are and where they go */
	if (!strcmp(m->arch, "clip"))
		return diag_set(d, -EBADMSG, f->kvs[k].val_off,
				"a multimodal projector (general.architecture clip), not a model: give it with "
				"--mmproj beside its model");
	k = gguf_kv_find(f, "general.type");
	if (k >= 0 && gguf_kv_get_str(f, (uint64_t)k, &s) == 0 && s.n == 7 && !memcmp(s.p, "adapter", 7))
		return diag_set(d, -EBADMSG, f->kvs[k].val_off,
				"an adapter (general.type adapter), not a model: give a LoRA with --lora beside "
				"its model");
	a = arch_find(m->arch);
	m->no_memory = a->no_memory;

	v = 0;
	if ((e = get_u(&mt, "block_count", MODEL_MAX_LAYERS, true, &v)) < 0)
		goto fail;
	if (v == 0) {
		e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "%s.block_count is 0: the model has no layers",
			     m->arch);
		goto fail;
	}
	m->n_layer = (uint32_t)v;
	v = 0;
	if ((e = get_u(&mt, "nextn_predict_layers", m->n_layer - 1, false, &v)) < 0)
		goto fail;
	m->n_layer_nextn = (uint32_t)v;
	if ((e = get_u(&mt, "embedding_length", 1u << 20, true, &m->n_embd)) < 0)
		goto fail;
	if (m->n_embd == 0) {
		e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "%s.embedding_length is 0", m->arch);
		goto fail;
	}
	m->n_ctx_train = 0;
	if ((e = get_u(&mt, "context_length", UINT32_MAX, false, &m->n_ctx_train)) < 0)
		goto fail;
	v = 0;
	if ((e = get_u(&mt, "expert_count", MODEL_MAX_EXPERTS, false, &v)) < 0)
		goto fail;
	m->n_expert = (uint32_t)v;
	v = 0;
	if ((e = get_u(&mt, "expert_used_count", m->n_expert, false, &v)) < 0)
		goto fail;
	m->n_expert_used = (uint32_t)v;
	if (m->n_expert && !m->n_expert_used) {
		e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "%s has %u experts but uses none per token",
			     m->arch, m->n_expert);
		goto fail;
	}
	if ((e = get_u(&mt, "expert_feed_forward_length", 1u << 24, false, &m->n_ff_exp)) < 0 ||
	    (e = get_u(&mt, "expert_shared_feed_forward_length", 1u << 24, false, &m->n_ff_shexp)) < 0)
		goto fail;

	/* the compute graph's options (they only shape the compute-buffer
	 * estimate; the booleans and floats keep llama.cpp's default when
	 * they have another type) */
	v = 0;
	if ((e = get_u(&mt, "leading_dense_block_count", UINT32_MAX, false, &v)) < 0)
		goto fail;
	m->n_layer_dense_lead = (uint32_t)(v < m->n_layer ? v : m->n_layer);
	v = 0;
	if ((e = get_u(&mt, "expert_gating_func", UINT32_MAX, false, &v)) < 0)
		goto fail;
	m->expert_gating = (uint32_t)v;
	v = 0;
	if ((e = get_u(&mt, "expert_group_count", MODEL_MAX_EXPERTS, false, &v)) < 0)
		goto fail;
	m->n_expert_groups = (uint32_t)v;
	v = 0;
	if ((e = get_u(&mt, "expert_group_used_count", MODEL_MAX_EXPERTS, false, &v)) < 0)
		goto fail;
	m->n_group_used = (uint32_t)v;
	v = 0;
	if ((e = get_u(&mt, "shortconv.l_cache", 1u << 16, false, &v)) < 0)
		goto fail;
	m->shortconv_l_cache = (uint32_t)v;
	if ((k = arch_key(&mt, "expert_weights_norm")) >= 0) {
		bool b = false;

		if (gguf_kv_get_bool(f, (uint64_t)k, &b) == 0)
			m->expert_weights_norm = b;
	}
	if ((k = arch_key(&mt, "expert_weights_scale")) >= 0) {
		double sc = 0;

		if (gguf_kv_get_float(f, (uint64_t)k, &sc) == 0)
			m->expert_weights_scaled = sc != 0.0 && sc != 1.0;
	}

	if ((e = check_tokenizer(f, d)) < 0)
		goto fail;
	if (!(flags & MODEL_NO_HEAP)) {
		tokenizer_heap(f, m);
		m->tok_heap = true;
	}
	/* vocabulary: <arch>.vocab_size, else the tokenizer, else token_embd */
	k = arch_key(&mt, "vocab_size");
	if (k >= 0) {
		if ((e = get_u(&mt, "vocab_size", 1u << 26, false, &m->n_vocab)) < 0)
			goto fail;
	} else if ((k = gguf_kv_find(f, "tokenizer.ggml.tokens")) >= 0 &&
		   f->kvs[k].type == GGUF_TYPE_ARRAY) {
		m->n_vocab = f->kvs[k].n;
	}

	m->layers = calloc(m->n_layer, sizeof(*m->layers));
	if (!m->layers) {
		e = diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
		goto fail;
	}
	if ((e = layers_from_meta(&mt, a, m)) < 0)
		goto fail;
	if ((e = collect_tensors(parts, n_parts, m, d)) < 0)
		goto fail;
	if (m->n_vocab == 0) {
		for (size_t i = 0; i < m->n_tensors; i++)
			if (!strcmp(m->tensors[i].name, "token_embd.weight") && m->tensors[i].n_dims >= 2)
				m->n_vocab = (uint64_t)m->tensors[i].ne[1];
	}
	return 0;
fail:
	model_release(m);
	return e;
}

void model_release(struct model *m)
{
	free(m->layers);
	free(m->tensors);
	m->layers = NULL;
	m->tensors = NULL;
	m->n_tensors = 0;
}
