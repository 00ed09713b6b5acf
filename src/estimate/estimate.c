/* estimate.c: bytes per device for a model and a llama-server
 * configuration. Every rule cites where llama.cpp decides it (file:line in
 * the tree that memory-model.md studies). */
#include "base/compat.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "estimate/estimate.h"
#include "gguf/ggml-type.h"

#define PAD(x, a) (((x) + (a) - 1) / (a) * (a))
#define HOST 0

void est_config_init(struct est_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n_ctx = 0;
	c->n_gpu_layers = -1;
	c->n_parallel = -1;
	c->kv_unified = -1;
	c->n_batch = 2048;
	c->n_ubatch = 512;
	c->type_k = GGML_TYPE_F16;
	c->type_v = GGML_TYPE_F16;
	c->flash_attn = EST_FA_AUTO;
	c->split_mode = EST_SPLIT_LAYER;
	c->cpu_moe_at = c->n_cpu_moe_at = c->n_cpu_ffn_at = -1;
	c->cache_ram_mib = EST_CACHE_RAM_DEFAULT_MIB;
	c->n_ctx_checkpoints = EST_CTX_CHECKPOINTS_DEFAULT;
	c->n_gpu_layers_draft = -1;
	c->type_k_draft = GGML_TYPE_F16;
	c->type_v_draft = GGML_TYPE_F16;
}

/* common/arg.cpp kv_cache_types */
static const uint32_t kv_types[] = {
	GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
	GGML_TYPE_Q4_1, GGML_TYPE_IQ4_NL, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
};

int est_kv_type_parse(const char *name, uint32_t *ret)
{
	int id = ggml_type_find(name);

	for (size_t i = 0; id >= 0 && i < ARRAY_SIZE(kv_types); i++) {
		if ((uint32_t)id == kv_types[i]) {
			*ret = (uint32_t)id;
			return 0;
		}
	}
	return -EINVAL;
}

static bool is_kv_type(uint32_t t)
{
	for (size_t i = 0; i < ARRAY_SIZE(kv_types); i++)
		if (kv_types[i] == t)
			return true;
	return false;
}

static uint64_t row_bytes(uint32_t type, uint64_t n)
{
	uint64_t r = 0;

	if (ggml_type_row_size(type, (int64_t)n, &r) < 0)
		return UINT64_MAX;
	return r;
}

/* ggml-cpu/repack.cpp ggml_repack_get_optimal_repack_type(): which weights
 * get interleaved copies on this CPU. */
static bool repackable(const struct model_tensor *t, unsigned cpu)
{
	int64_t ne1 = t->ne[1];

	if (t->op == MODEL_OP_MUL_MAT ? t->n_dims != 2 && !(t->n_dims > 2 && t->ne[2] == 1 && t->ne[3] == 1)
				       : t->op != MODEL_OP_MUL_MAT_ID)
		return false;
	switch (t->type) {
	case GGML_TYPE_Q4_0:
		return ((cpu & EST_CPU_AVX2) && ne1 % 8 == 0) ||
		       ((cpu & (EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD)) && ne1 % 4 == 0);
	case GGML_TYPE_Q4_K:
		return (cpu & (EST_CPU_AVX2 | EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD)) && ne1 % 8 == 0;
	case GGML_TYPE_Q2_K:
		return (cpu & EST_CPU_AVX512) && ne1 % 8 == 0;
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
		return (cpu & (EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD)) && ne1 % 8 == 0;
	case GGML_TYPE_IQ4_NL:
	case GGML_TYPE_MXFP4:
		return ((cpu & EST_CPU_AVX2) && ne1 % 8 == 0) ||
		       ((cpu & EST_CPU_NEON_DOTPROD) && ne1 % 4 == 0);
	case GGML_TYPE_Q8_0:
	case GGML_TYPE_Q1_0:
		return (cpu & (EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD)) && ne1 % 4 == 0;
	default:
		return false;
	}
}

/* ggml-cuda.cu get_alloc_size + buffer alignment: 128-byte aligned, and
 * quantized rows not a multiple of 512 get one padding row segment. */
static uint64_t gpu_alloc(uint32_t type, int64_t ne0, uint64_t nbytes)
{
	const struct ggml_type_info *ti = ggml_type_get(type);

	if (ti && ti->blck_size > 1 && ne0 % 512 != 0)
		nbytes += row_bytes(type, (uint64_t)(512 - ne0 % 512));
	return PAD(nbytes, 128);
}

struct ctx {
	const struct model *m;
	const struct est_config *c;
	struct est_result *r;
	struct diag *d;
	int layer_dev[MODEL_MAX_LAYERS + 1]; /* 0 = host, 1.. = GPU index + 1 */
	bool host_op_weights; /* a weight other than the token embeddings
	                       * stays in host memory on a GPU build */
	/* per layer, which roles' weights stay on the host (bit
	 * MODEL_ROLE_*) */
	uint32_t host_roles[MODEL_MAX_LAYERS + 1];
	/* per layer, the roles whose experts' bias stays on the host (the
	 * weight's bit: --cpu-moe and -ot patterns take the biases too) */
	uint32_t host_bias[MODEL_MAX_LAYERS + 1];
	/* --lora: per adapter, layer and role (lora_at()), the rank and the
	 * bytes of A and B of the pair adapting that weight (rank 0: none);
	 * NULL without adapters */
	struct lora_w {
		uint32_t rank;
		uint64_t a_bytes, b_bytes;
	} *lora;
};

/* the adapter k's pair for layer il's weight of role (n_layer + 1 layers) */
static struct lora_w *lora_at(const struct ctx *x, size_t k, uint32_t il, uint8_t role)
{
	return &x->lora[(k * (x->m->n_layer + 1ull) + il) * MODEL_ROLE_COUNT + role];
}

/* src/llama-model.cpp:1438-1500: which device each layer is on. Layers
 * fill from the end; the output layer is layer n_layer. */
static void assign_layers(struct ctx *x)
{
	const struct est_config *c = x->c;
	uint32_t L = x->m->n_layer, ngl, start, act;
	/* float, in llama.cpp's order (llama-model.cpp load_tensors): with
	 * -ts given as layer counts the split points fall exactly on the
	 * layer positions, and only the same arithmetic puts the boundary
	 * layer where llama.cpp does */
	float frac[EST_MAX_DEVICES], sum = 0;
	bool all_zero = true;
	size_t nd = c->n_devices;

	if (c->split_mode == EST_SPLIT_NONE && nd > 1)
		nd = 1;
	ngl = c->n_gpu_layers < 0 ? L + 1 : (uint32_t)c->n_gpu_layers;
	if (ngl > L + 1)
		ngl = L + 1;
	start = L + 1 - ngl;
	act = nd == 0 ? 0 : ngl;
	x->r->n_gpu_layers = act;
	for (size_t i = 0; i < c->n_ts && i < nd; i++)
		if ((float)c->ts[i] != 0.0f)
			all_zero = false;
	for (size_t i = 0; i < nd; i++) {
		sum += all_zero ? (float)c->devices[i].total_bytes : i < c->n_ts ? (float)c->ts[i] : 0.0f;
		frac[i] = sum;
	}
	for (size_t i = 0; i < nd; i++)
		frac[i] = sum > 0 ? frac[i] / sum : (float)(i + 1) / (float)nd;
	for (uint32_t il = 0; il <= L; il++) {
		int dev = HOST;

		if (il >= start && il - start < act) {
			float pos = (float)(il - start) / (float)act;
			size_t g = 0;

			while (g + 1 < nd && frac[g] <= pos)
				g++;
			dev = (int)(c->split_mode == EST_SPLIT_NONE && c->n_devices > 1 ?
				    (size_t)(c->main_gpu >= 0 ? c->main_gpu : 0) : g) + 1;
			x->r->dev_layers[dev - 1]++;
		}
		x->layer_dev[il] = dev;
	}
}

bool est_rule_at(int16_t at, size_t i, size_t n)
{
	return at < 0 || (size_t)at >= n ? i == n : (size_t)at == i;
}

static const char *const pooling_names[] = { "none", "mean", "cls", "last", "rank" };

const char *est_pooling_name(uint8_t pooling)
{
	if (pooling < EST_POOL_NONE || pooling > EST_POOL_RANK)
		return NULL;
	return pooling_names[pooling - EST_POOL_NONE];
}

int est_pooling_parse(const char *name, uint8_t *ret)
{
	for (size_t k = 0; k < ARRAY_SIZE(pooling_names); k++)
		if (!strcmp(name, pooling_names[k])) {
			*ret = (uint8_t)(EST_POOL_NONE + k);
			return 0;
		}
	return -EINVAL;
}

/* common.h LLM_FFN_EXPS_REGEX, searched: "\.ffn_(up|down|gate|gate_up)_(ch|)exps" */
static bool ffn_exps(const char *name)
{
	static const char *const kinds[] = { "up_", "down_", "gate_up_", "gate_" };

	for (const char *p = name; (p = strstr(p, ".ffn_")) != NULL; p++)
		for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
			size_t n = strlen(kinds[k]);
			const char *q = p + 5 + n;

			if (strncmp(p + 5, kinds[k], n))
				continue;
			if (!strncmp(q, "ch", 2))
				q += 2;
			if (!strncmp(q, "exps", 4))
				return true;
		}
	return false;
}

/* common.h LLM_FFN_DENSE_REGEX, searched: "\.ffn_(up|down|gate)\." */
static bool ffn_dense(const char *name)
{
	return strstr(name, ".ffn_up.") || strstr(name, ".ffn_down.") || strstr(name, ".ffn_gate.");
}

static int tensor_device(struct ctx *x, const struct model_tensor *t, const regex_t *ot)
{
	const struct est_config *c = x->c;
	uint32_t L = x->m->n_layer;
	int dev;

	/* the -ot patterns and the three rules that llama.cpp appends to
	 * them (all to the host), in command-line order: first match wins */
	for (size_t i = 0; i <= c->n_ot; i++) {
		bool exps = t->layer >= 0 && ffn_exps(t->name);

		if (est_rule_at(c->cpu_moe_at, i, c->n_ot) && c->cpu_moe && exps)
			return HOST;
		if (est_rule_at(c->n_cpu_moe_at, i, c->n_ot) && exps && (uint32_t)t->layer < c->n_cpu_moe)
			return HOST;
		if (est_rule_at(c->n_cpu_ffn_at, i, c->n_ot) && t->layer >= 0 && (uint32_t)t->layer < c->n_cpu_ffn &&
		    ffn_dense(t->name))
			return HOST;
		if (i < c->n_ot && regexec(&ot[i], t->name, 0, NULL, 0) == 0)
			return c->ot[i].device < 0 ? HOST : c->ot[i].device + 1;
	}
	if (t->layer == MODEL_LAYER_INPUT)
		return HOST;
	dev = x->layer_dev[t->layer == MODEL_LAYER_OUTPUT ? L : (uint32_t)t->layer];
	return dev;
}

/* ---- weights (memory-model.md 2.3-2.5) ---- */

/* llama.cpp matches -ot patterns with std::regex (ECMAScript); regcomp()
 * reads POSIX ERE, where \d is a plain d: 'blk\.\d+\.ffn_.*_exps=CPU',
 * the usual way to keep experts on the CPU, would match nothing. The
 * classes \d \w \s (and \D \W \S outside brackets) are written out;
 * what ERE cannot say ((?:...) groups, look-arounds, a negated class
 * inside brackets) is refused rather than matched otherwise. 0, or
 * -EINVAL with why. */
static int ot_to_ere(const char *in, char *out, size_t outsz, const char **why)
{
	static const char *const cls[][2] = {
		/* outside brackets, inside */
		['d'] = { "[0-9]", "0-9" }, ['w'] = { "[A-Za-z0-9_]", "A-Za-z0-9_" },
		['s'] = { "[[:space:]]", "[:space:]" }, ['D'] = { "[^0-9]", NULL },
		['W'] = { "[^A-Za-z0-9_]", NULL }, ['S'] = { "[^[:space:]]", NULL },
	};
	size_t o = 0;
	bool br = false; /* inside [...] */

	for (const char *p = in; *p; p++) {
		char tmp[3] = { *p, 0, 0 };
		const char *add = tmp;
		size_t n;

		if (*p == '\\' && p[1]) {
			unsigned char c = (unsigned char)*++p;

			if (c < sizeof(cls) / sizeof(cls[0]) && cls[c][0]) {
				add = cls[c][br];
				*why = "a negated class (\\D, \\W, \\S) inside brackets is not supported";
			} else if (br) {
				/* in brackets a backslash is itself in ERE: the
				 * character alone, where that means the same */
				tmp[0] = (char)c;
				if (strchr("]^-[", c))
					add = NULL;
				*why = "an escaped ], ^, - or [ inside brackets is not supported";
			} else {
				tmp[1] = (char)c;
			}
		} else if (!br && *p == '(' && p[1] == '?') {
			add = NULL;
			*why = "(?...) groups are not supported";
		} else if (!br && *p == '[') {
			br = true;
			/* ECMAScript's [] matches nothing and [^] anything; in
			 * ERE a ] there is a member */
			if (p[1] == ']' || (p[1] == '^' && p[2] == ']'))
				add = NULL;
			*why = "[] and [^] are not supported";
		} else if (br && *p == ']') {
			br = false;
		}
		if (!add)
			return -EINVAL;
		n = strlen(add);
		if (n >= outsz - o) {
			*why = "it is too long";
			return -EINVAL;
		}
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* a side file's (adapter, projector) string value of key, or an empty one */
static struct gguf_str kv_str(const struct gguf_file *f, const char *key)
{
	int64_t i = gguf_kv_find(f, key);
	struct gguf_str s = { "", 0 };

	if (i < 0 || gguf_kv_get_str(f, (uint64_t)i, &s) < 0)
		s.p = "", s.n = 0;
	return s;
}

static bool str_is(struct gguf_str s, const char *z)
{
	return s.n == strlen(z) && memcmp(s.p, z, s.n) == 0;
}

/* --lora (llama-adapter.cpp llama_adapter_lora_init_impl): each pair
 * <weight>.lora_a / .lora_b goes into a buffer of the buffer type of the
 * weight it adapts (the CPU's when that is CPU_REPACK), read from the
 * file: host memory that is anonymous. Refused as llama.cpp refuses an
 * adapter that is not one, is for another architecture, or names a weight
 * the model lacks or of another shape. */
static int lora_weights(struct ctx *x, const regex_t *ot)
{
	const struct model *m = x->m;
	const struct est_config *c = x->c;
	struct est_result *r = x->r;
	char name[GGUF_MAX_NAME + 8];

	for (size_t k = 0; k < c->n_loras && k < EST_MAX_LORAS; k++) {
		const struct gguf_file *f = c->loras[k];
		struct gguf_str arch;

		if (!f)
			continue;
		arch = kv_str(f, "general.architecture");
		if (!str_is(kv_str(f, "general.type"), "adapter") || !str_is(kv_str(f, "adapter.type"), "lora"))
			return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
					"--lora #%zu: not a LoRA adapter (general.type 'adapter', adapter.type 'lora')",
					k + 1);
		if (!str_is(arch, m->arch))
			return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
					"--lora #%zu: model arch and LoRA arch mismatch (%s, %.*s)", k + 1, m->arch,
					(int)(arch.n > 64 ? 64 : arch.n), arch.p);
		for (uint64_t i = 0; i < f->n_tensors; i++) {
			const struct gguf_tensor *a = &f->tensors[i], *b;
			struct gguf_str nm = gguf_tensor_name(f, i);
			const struct model_tensor *t = NULL;
			int64_t ib;
			int dev;

			uint64_t sa, sb, sum;
			bool embd;

			/* llama-adapter.cpp: pairs of .lora_a and .lora_b; norm
			 * vectors are skipped; anything else is refused */
			if (nm.n >= 12 && memcmp(nm.p + nm.n - 12, "_norm.weight", 12) == 0)
				continue;
			if (nm.n < 8 || nm.n - 7 >= GGUF_MAX_NAME ||
			    (memcmp(nm.p + nm.n - 7, ".lora_a", 7) != 0 && memcmp(nm.p + nm.n - 7, ".lora_b", 7) != 0))
				return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
						"--lora #%zu: LoRA tensor '%.*s' has unexpected suffix", k + 1,
						(int)(nm.n > 96 ? 96 : nm.n), nm.p);
			snprintf(name, sizeof(name), "%.*s.lora_%c", (int)(nm.n - 7), nm.p,
				 nm.p[nm.n - 1] == 'a' ? 'b' : 'a');
			ib = gguf_tensor_find(f, name);
			name[nm.n - 7] = '\0';
			if (ib < 0)
				return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
						"--lora #%zu: LoRA tensor pair for '%s' is missing one component", k + 1, name);
			/* each pair once: from its A */
			if (nm.p[nm.n - 1] == 'b')
				continue;
			b = &f->tensors[ib];
			for (size_t j = 0; j < m->n_tensors && !t; j++)
				if (!m->tensors[j].skip && !strcmp(m->tensors[j].name, name))
					t = &m->tensors[j];
			if (!t)
				return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
						"--lora #%zu: LoRA tensor '%s' does not exist in base model", k + 1, name);
			/* the token embeddings take B untransposed (A and B flipped) */
			embd = !strcmp(name, "token_embd.weight");
			if (embd ? t->ne[0] != b->ne[1] || t->ne[1] != a->ne[1]
				 : t->ne[0] != a->ne[0] || t->ne[1] != b->ne[1] || a->ne[1] != b->ne[0])
				return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
						"--lora #%zu: tensor '%s' has incorrect shape", k + 1, name);
			if (!embd && (a->ne[1] < 1 || a->ne[1] > (1 << 20)))
				return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
						"--lora #%zu: tensor '%s' has a rank of %lld", k + 1, name,
						(long long)a->ne[1]);
			dev = tensor_device(x, t, ot);
			/* the compute graph's part: a block's matrices other than
			 * the experts (build_lora_mm), of an adapter in the graph */
			if (x->lora && !embd && !c->lora_off[k] && t->layer >= 0 && (uint32_t)t->layer < m->n_layer &&
			    t->role && t->role < MODEL_ROLE_COUNT && !t->expert) {
				struct lora_w *lw = lora_at(x, k, (uint32_t)t->layer, t->role);

				lw->rank = (uint32_t)a->ne[1];
				lw->a_bytes = gpu_alloc(a->type, a->ne[0], a->nbytes);
				lw->b_bytes = gpu_alloc(b->type, b->ne[0], b->nbytes);
			}
			sa = dev == HOST ? PAD(a->nbytes, 32) : gpu_alloc(a->type, a->ne[0], a->nbytes);
			sb = dev == HOST ? PAD(b->nbytes, 32) : gpu_alloc(b->type, b->ne[0], b->nbytes);
			if (!ck_add_u64(sa, sb, &sum) || !ck_add_u64(r->usage[dev].lora, sum, &r->usage[dev].lora))
				return diag_set(x->d, -EOVERFLOW, DIAG_NO_OFFSET, "--lora #%zu: its size overflows",
						k + 1);
		}
	}
	return 0;
}

static int weights(struct ctx *x)
{
	const struct model *m = x->m;
	const struct est_config *c = x->c;
	struct est_result *r = x->r;
	bool mmap = !c->no_mmap; /* -lm none, dio and mlock read the file into memory */
	bool gpu_build = c->n_devices > 0;
	uint64_t span_lo[64], span_hi[64], host_anon = 0, repack = 0;
	regex_t ot[EST_MAX_OVERRIDES];
	size_t n_ot = 0;
	int e = 0;

	for (size_t p = 0; p < 64; p++) {
		span_lo[p] = UINT64_MAX;
		span_hi[p] = 0;
	}
	for (; n_ot < c->n_ot; n_ot++) {
		char ere[1024];
		const char *why = NULL;

		if (ot_to_ere(c->ot[n_ot].pattern, ere, sizeof(ere), &why) < 0) {
			e = diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
				     "-ot pattern '%s': %s", c->ot[n_ot].pattern, why);
			goto out;
		}
		if (regcomp(&ot[n_ot], ere, REG_EXTENDED | REG_NOSUB) != 0) {
			e = diag_set(x->d, -EINVAL, DIAG_NO_OFFSET, "invalid -ot pattern '%s'",
				     c->ot[n_ot].pattern);
			goto out;
		}
	}
	const struct model_tensor *embd = NULL;

	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct model_tensor *t = &m->tensors[i];
		int dev;

		if (t->skip)
			continue;
		if (!strcmp(t->name, "token_embd.weight"))
			embd = t;
		dev = tensor_device(x, t, ot);
		/* decode reads every weight once per token, except the
		 * experts the router did not pick, and one row of the
		 * embedding table */
		if (t->op != MODEL_OP_GET_ROWS)
			r->usage[dev].weights_read += t->expert && m->n_expert ?
				t->nbytes / m->n_expert * m->n_expert_used : t->nbytes;
		if (dev == HOST && t->layer != MODEL_LAYER_INPUT)
			x->host_op_weights = true;
		if (dev == HOST && t->layer >= 0 && t->role && t->role < MODEL_ROLE_COUNT)
			x->host_roles[t->layer] |= 1u << t->role;
		if (dev == HOST && t->layer >= 0 && (uint32_t)t->layer <= MODEL_MAX_LAYERS && strstr(t->name, "_exps.bias")) {
			static const struct {
				const char *s;
				uint8_t role;
			} eb[] = { { ".ffn_gate_up_exps.", MODEL_ROLE_GATE_UP_EXPS },
				   { ".ffn_gate_exps.", MODEL_ROLE_GATE_EXPS },
				   { ".ffn_up_exps.", MODEL_ROLE_UP_EXPS },
				   { ".ffn_down_exps.", MODEL_ROLE_DOWN_EXPS } };

			for (size_t j = 0; j < ARRAY_SIZE(eb); j++)
				if (strstr(t->name, eb[j].s)) {
					x->host_bias[t->layer] |= 1u << eb[j].role;
					break;
				}
		}
		if (dev != HOST) {
			struct est_usage *u = &r->usage[dev];

			u->weights += gpu_alloc(t->type, t->ne[0], t->nbytes);
			continue;
		}
		/* host: CPU_REPACK when the CPU list reaches it (a CPU-only
		 * build, or no mmap), else the mapped file, else a copy */
		if (!c->no_repack && !gpu_build && repackable(t, c->cpu_flags)) {
			repack += PAD(t->nbytes, 32);
			continue;
		}
		if (mmap && t->part < 64) {
			if (t->file_off < span_lo[t->part])
				span_lo[t->part] = t->file_off;
			if (t->file_off + t->nbytes > span_hi[t->part])
				span_hi[t->part] = t->file_off + t->nbytes;
			continue;
		}
		host_anon += PAD(t->nbytes, 32);
	}
	/* a tied output on a GPU gets its own copy of token_embd
	 * (llama-model-loader.cpp:1362-1381) */
	if (m->tied_output && embd && x->layer_dev[m->n_layer] != HOST)
		r->usage[x->layer_dev[m->n_layer]].weights += gpu_alloc(embd->type, embd->ne[0], embd->nbytes);
	/* a tied output multiplies by the whole embedding table */
	if (m->tied_output && embd)
		r->usage[x->layer_dev[m->n_layer]].weights_read += embd->nbytes;

	struct est_usage *h = &r->usage[HOST];

	for (size_t p = 0; p < 64; p++)
		if (span_hi[p] > span_lo[p])
			h->weights_mapped += span_hi[p] - span_lo[p];
	h->weights_repack = repack;
	h->weights = h->weights_mapped + repack + host_anon;
	e = lora_weights(x, ot);
	if (e < 0)
		goto out;
	snprintf(r->rule_weights, sizeof(r->rule_weights),
		 "%s; CPU_REPACK %llu B (AVX2/NEON interleaved copies); GPU tensors 128-B aligned",
		 mmap ? "host weights mapped from the file (CPU_Mapped = span of the file's CPU tensors)"
		      : "host weights read into memory",
		 (unsigned long long)repack);
out:
	for (size_t i = 0; i < n_ot; i++)
		regfree(&ot[i]);
	return e;
}

/* ---- context sizes (memory-model.md 3.1) ---- */

static int context_sizes(struct ctx *x)
{
	const struct model *m = x->m;
	const struct est_config *c = x->c;
	struct est_result *r = x->r;
	uint64_t n_ctx = c->n_ctx > 0 ? (uint64_t)c->n_ctx : m->n_ctx_train;
	uint32_t n_seq;

	if (n_ctx == 0)
		n_ctx = 4096;
	if (c->n_parallel < 0) {
		/* tools/server/server.cpp:156-161: 4 slots, unified
		 * whatever --no-kv-unified said */
		n_seq = 4;
		r->kv_unified = true;
	} else {
		n_seq = c->n_parallel ? (uint32_t)c->n_parallel : 1;
		r->kv_unified = c->kv_unified > 0;
	}
	if (n_seq > 256)
		return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET, "-np %u is over llama.cpp's 256", n_seq);
	/* no -c: llama-server's --fit (on unless --fit off) gives every slot
	 * the training context, common/fit.cpp:270-272; what it then takes
	 * back to fit a GPU's free memory is `llmem fit`'s to plan */
	if (c->n_ctx <= 0 && !c->no_fit && n_ctx <= UINT32_MAX)
		n_ctx *= n_seq; /* at most 2^40: no overflow */
	if (n_ctx > UINT32_MAX - 256)
		return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET, "context size %llu is too large",
				(unsigned long long)n_ctx);
	r->n_seq = n_seq;
	r->n_batch = (uint32_t)(n_ctx < c->n_batch ? n_ctx : c->n_batch);
	r->n_ubatch = c->n_ubatch && c->n_ubatch < r->n_batch ? c->n_ubatch : r->n_batch;
	/* tools/server/server-context.cpp server_output_limits(): an embedding
	 * or pooling server outputs every token of a batch */
	r->n_outputs_max = c->embeddings || c->pooling > EST_POOL_NONE ? r->n_batch :
			   n_seq < r->n_batch ? n_seq : r->n_batch;
	n_ctx = PAD(n_ctx, 256);
	if (r->kv_unified) {
		r->n_ctx_seq = (uint32_t)n_ctx;
	} else {
		r->n_ctx_seq = (uint32_t)PAD(n_ctx / n_seq, 256);
		n_ctx = (uint64_t)r->n_ctx_seq * n_seq;
	}
	r->n_ctx = (uint32_t)n_ctx;
	r->n_stream = r->kv_unified ? 1 : n_seq;
	r->kv_size = r->n_ctx_seq;
	if (m->n_swa) {
		uint64_t s = (uint64_t)m->n_swa * (r->kv_unified ? n_seq : 1) + r->n_ubatch;

		r->kv_size_swa = c->swa_full ? r->n_ctx_seq :
				 (uint32_t)PAD(s < r->n_ctx_seq ? s : r->n_ctx_seq, 256);
	}
	/* flash attention auto counts as on when the cache is made
	 * (llama-context.cpp:229-230) */
	r->fa_kv = c->flash_attn != EST_FA_OFF;
	r->fa_graph = r->fa_kv; /* until compute_buffers() resolves -fa auto */
	{
		uint32_t T = r->n_ctx < r->n_ubatch ? r->n_ctx : r->n_ubatch;

		r->n_reserve_tokens = (uint32_t)PAD(T, n_seq);
	}
	return 0;
}

/* ---- KV cache and recurrent state (3.2-3.5) ---- */

static int caches(struct ctx *x)
{
	const struct model *m = x->m;
	const struct est_config *c = x->c;
	struct est_result *r = x->r;
	uint64_t v_max = 0;

	if (m->no_memory)
		return 0;
	for (uint32_t il = 0; il < m->n_layer; il++) {
		const struct model_layer *ly = &m->layers[il];
		uint64_t v = (uint64_t)ly->head_v * ly->n_head_kv;

		if (ly->has_kv && v > v_max)
			v_max = v;
	}
	for (uint32_t il = 0; il < m->n_layer; il++) {
		const struct model_layer *ly = &m->layers[il];
		int dev = c->no_kv_offload ? HOST : x->layer_dev[il];
		struct est_usage *u = &r->usage[dev];

		if (ly->has_kv && ly->n_head_kv) {
			uint64_t cells = (uint64_t)(ly->swa ? r->kv_size_swa : r->kv_size) * r->n_stream;
			uint64_t nk = (uint64_t)ly->head_k * ly->n_head_kv;
			uint64_t nv = r->fa_kv ? (uint64_t)ly->head_v * ly->n_head_kv : v_max;
			uint64_t kb = row_bytes(c->type_k, nk), vb = m->mla ? 0 : row_bytes(c->type_v, nv);
			uint64_t k, v;

			if (kb == UINT64_MAX || vb == UINT64_MAX)
				return diag_set(x->d, -EINVAL, DIAG_NO_OFFSET,
						"layer %u: K/V head size %llu/%llu is not a multiple of the cache type's block size",
						il, (unsigned long long)nk, (unsigned long long)nv);
			if (!ck_mul_u64(kb, cells, &k) || !ck_mul_u64(vb, cells, &v))
				return diag_set(x->d, -EOVERFLOW, DIAG_NO_OFFSET, "KV cache size overflows");
			if (dev == HOST) {
				k = PAD(k, 32);
				v = PAD(v, 32);
			} else {
				k = gpu_alloc(c->type_k, (int64_t)nk, k);
				v = v ? gpu_alloc(c->type_v, (int64_t)nv, v) : 0;
			}
			u->kv += k + v;
			r->n_kv_layers++;
			if (ly->swa)
				r->n_swa_layers++;
		}
		if (ly->recurrent) {
			/* R and S are F32 [n_embd_r|s, max(1, n_seq)]
			 * (llama-memory-recurrent.cpp:20-135) */
			uint64_t rows = r->n_seq ? r->n_seq : 1;

			u->recurrent += PAD(4 * ly->n_embd_r * rows, 32) + PAD(4 * ly->n_embd_s * rows, 32);
			r->n_recurrent_layers++;
		}
	}
	snprintf(r->rule_kv, sizeof(r->rule_kv),
		 "%u layers x %u cells x %u stream(s)%s, K %s, V %s%s",
		 r->n_kv_layers, r->kv_size, r->n_stream,
		 r->n_swa_layers ? " (sliding-window layers: fewer cells)" : "",
		 ggml_type_get(c->type_k)->name, m->mla ? "none (MLA)" : ggml_type_get(c->type_v)->name,
		 r->fa_kv ? "" : ", V transposed (no flash attention)");
	snprintf(r->rule_recurrent, sizeof(r->rule_recurrent),
		 "%u recurrent layers x %u sequence(s), F32 conv + state rows", r->n_recurrent_layers,
		 r->n_seq);
	return 0;
}

/* ---- compute buffers (memory-model.md 4.1-4.2) ----
 *
 * llama.cpp reserves the compute buffer by running ggml-alloc's graph
 * allocator over the graph of a worst-case batch: every node gets memory
 * when it is computed, a parent's memory is freed once its last consumer
 * has run, element-wise results may take over their parent's memory, and
 * free memory is handed out best-fit. The buffer is the allocator's
 * high-water mark, holes included. So the estimate rebuilds the graph that
 * src/models/<arch>.cpp and llama-graph.cpp build (the nodes, their sizes,
 * their order and which ones are views) and replays ggml-alloc.c on it.
 * Weights and caches have memory of their own and stand as one external
 * tensor. */

#define G_MAX_SRC 5
#define G_MAX_TENSORS (1u << 19) /* far above any real model's graph */
#define G_MAX_FREE 256 /* ggml-alloc.c MAX_FREE_BLOCKS */
#define G_ALIGN 32     /* the CPU buffer's alignment */

enum g_op {
	G_LEAF, /* no op: the external tensor or a graph input */
	G_VIEW, /* view, reshape, permute, transpose; set_rows/cpy into a cache */
	G_INPL, /* ggml_op_can_inplace(): element-wise ops, rms_norm, rope, soft_max, ... */
	G_NEW,  /* a fresh result: mul_mat, get_rows, cont, glu, concat, norm, argsort, ... */
};

enum {
	GT_INPUT = 1,  /* ggml_set_input */
	GT_OUTPUT = 2, /* ggml_set_output: never freed, never reused */
	GT_EXT = 4,    /* memory of its own (weights, caches) */
	GT_NC = 8,     /* not contiguous */
	GT_STORE = 16, /* set_rows/cpy into another tensor: a view, but an op
	                * of its own to the scheduler (not ggml_is_view_op) */
	GT_DEP = 32,   /* the scheduler's dependency on a split input (a view
	                * with op NONE: not counted as a view by ggml-alloc) */
};

/* the scheduler's backends with one GPU (ggml_backend_sched: the GPU
 * first, the CPU last) */
enum { BE_NONE = -1, BE_GPU = 0, BE_CPU = 1 };

struct gt {
	int64_t ne[4];
	uint64_t size;
	int32_t src[G_MAX_SRC];
	int32_t view_src;
	uint8_t op, es, flags;
	bool visited, allocated;
	int32_t n_children, n_views;
	uint64_t off;
	/* the scheduler replay (g_sched): the weight this op reads through
	 * the external tensor, its backend (BE_NONE: none, or not modelled)
	 * and its size in the GPU's buffer, its identity when several ops
	 * read it (0: this op alone); the backend pass 1 gives the op; the
	 * backend it ends on; its copies on the GPU and the CPU */
	uint64_t wsize;
	uint64_t span; /* a strided view's ggml_nbytes (0: size), what a
	                * copy of it takes (ggml_dup_tensor_layout) */
	int32_t wkey;
	int8_t wbe, p1, be;
	int32_t cp[2];
	/* CUDA's graph_optimize: tensors kept allocated until this node
	 * has run (an allocation dependency of a fusion; 0: none) */
	int32_t keep[2];
	/* flash attention on a CUDA GPU with a batch the tensor-core
	 * kernel takes: the F16 copies of a K and a V that are not F16,
	 * placed after the result in the node's own allocation
	 * (ggml_cuda_flash_attn_ext_get_alloc_size); fa_v_of_k: V is a
	 * view of K's cache at its start (MLA), which shares K's copy */
	uint64_t fa16[2];
	bool fa_v_of_k;
	int8_t fa_want; /* a flash attention node: its layer's backend + 1 */
};

struct gsim {
	struct gt *t;
	int32_t *nodes, *leafs, *stack;
	uint32_t n, cap, n_nodes, n_leafs;
	bool fail;
	/* the graph split between the GPU and the CPU (g_sched): only the
	 * GPU's tensors are allocated, in the order of the scheduler's graph
	 * copy; ext_be is the backend of the caches the builder reads now */
	bool sched;
	int8_t ext_be;
	bool fa_mismatch; /* g_sched: an attention not on its layer's backend */
	int32_t *order;
	uint32_t n_order;
	/* one allocator a buffer (with sched: the GPU's, then the host's;
	 * else the one): its free blocks, sorted by offset, the last one the
	 * unbounded end of the buffer; its alignment (G_ALIGN, or CUDA's
	 * 128) and high-water mark */
	struct gfb {
		uint64_t off[G_MAX_FREE], size[G_MAX_FREE];
		int n;
		uint64_t align, max;
	} fb[2];
};

static void gsim_free(struct gsim *g)
{
	free(g->t);
	free(g->nodes);
	free(g->leafs);
	free(g->stack);
	free(g->order);
	memset(g, 0, sizeof(*g));
}

/* A new tensor; 0 (the external tensor) when out of memory or on overflow,
 * with g->fail set. */
static int32_t g_add(struct gsim *g, uint8_t op, uint8_t es, const int64_t ne_in[4],
		     const int32_t *src, int n_src)
{
	/* ne_in may point into g->t, which may move */
	int64_t ne[4] = { ne_in[0], ne_in[1], ne_in[2], ne_in[3] };
	struct gt *t;
	uint64_t size = es;

	if (g->n == g->cap) {
		uint32_t cap = g->cap ? 2 * g->cap : 1024;
		void *p;

		if (g->cap >= G_MAX_TENSORS)
			goto fail;
		if (!(p = realloc(g->t, (size_t)cap * sizeof(*g->t))))
			goto fail;
		g->t = p;
		if (!(p = realloc(g->nodes, (size_t)cap * sizeof(*g->nodes))))
			goto fail;
		g->nodes = p;
		if (!(p = realloc(g->leafs, (size_t)cap * sizeof(*g->leafs))))
			goto fail;
		g->leafs = p;
		if (!(p = realloc(g->stack, (size_t)cap * sizeof(*g->stack))))
			goto fail;
		g->stack = p;
		g->cap = cap;
	}
	t = &g->t[g->n];
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < 4; i++) {
		t->ne[i] = ne[i];
		if (ne[i] < 0 || !ck_mul_u64(size, (uint64_t)ne[i], &size))
			g->fail = true;
	}
	t->size = size;
	t->op = op;
	t->es = es;
	t->view_src = -1;
	t->wbe = t->p1 = t->be = BE_NONE;
	for (int i = 0; i < G_MAX_SRC; i++)
		t->src[i] = i < n_src ? src[i] : -1;
	return (int32_t)g->n++;
fail:
	g->fail = true;
	return 0;
}

#define NE(a, b, c, d) ((const int64_t[4]){ (a), (b), (c), (d) })
#define SRC(...) ((const int32_t[]){ __VA_ARGS__ }), (int)(sizeof((const int32_t[]){ __VA_ARGS__ }) / sizeof(int32_t))

static int32_t g_input(struct gsim *g, uint8_t es, int64_t a, int64_t b, int64_t c, int64_t d)
{
	int32_t t = g_add(g, G_LEAF, es, NE(a, b, c, d), NULL, 0);

	if (t)
		g->t[t].flags = GT_INPUT;
	return t;
}

/* an F32 result of op over the sources */
static int32_t g_op(struct gsim *g, uint8_t op, int64_t a, int64_t b, int64_t c, int64_t d,
		    const int32_t *src, int n_src)
{
	return g_add(g, op, 4, NE(a, b, c, d), src, n_src);
}

/* ggml_view_*, reshape, permute, transpose of x (the root is always a
 * tensor with memory: ggml_view_impl) */
static int32_t g_view(struct gsim *g, int32_t x, int64_t a, int64_t b, int64_t c, int64_t d, bool nc)
{
	int32_t t = g_add(g, G_VIEW, g->t[x].es, NE(a, b, c, d), SRC(x));

	if (t) {
		g->t[t].view_src = g->t[x].view_src >= 0 ? g->t[x].view_src : x;
		g->t[t].flags = nc || (g->t[x].flags & GT_NC) ? GT_NC : 0;
		/* a reshape of a strided view spans what it spans */
		if (g->t[x].span && g->t[t].size == g->t[x].size)
			g->t[t].span = g->t[x].span;
		/* a view of a cache is where the cache is (pass 1: the
		 * buffer of its view_src) */
		if (g->t[t].view_src == 0)
			g->t[t].p1 = x == 0 ? g->ext_be : g->t[x].p1;
	}
	return t;
}

/* an element-wise op that may run in place: the shape of x */
static int32_t g_inpl(struct gsim *g, int32_t x, int32_t y)
{
	const int64_t *n = g->t[x].ne;

	return y >= 0 ? g_add(g, G_INPL, 4, n, SRC(x, y)) : g_add(g, G_INPL, 4, n, SRC(x));
}

/* a result written into a cache: a view of the external tensor */
static int32_t g_store(struct gsim *g, const int32_t *src, int n_src)
{
	int32_t t = g_add(g, G_VIEW, 4, NE(1, 1, 1, 1), src, n_src);

	if (t) {
		g->t[t].view_src = 0;
		g->t[t].flags = GT_STORE;
		g->t[t].p1 = g->ext_be; /* runs where the cache is */
	}
	return t;
}

/* ggml_build_forward_expand: post-order depth-first, sources in order
 * (ggml.c ggml_visit_parents_graph) */
static void g_expand(struct gsim *g, int32_t root)
{
	uint32_t sp = 0;

	if (g->fail || g->t[root].visited)
		return;
	g->t[root].visited = true;
	g->stack[sp++] = root;
	while (sp) {
		struct gt *t = &g->t[g->stack[sp - 1]];
		int32_t next = -1;

		for (int i = 0; i < G_MAX_SRC && next < 0; i++)
			if (t->src[i] >= 0 && !g->t[t->src[i]].visited)
				next = t->src[i];
		if (next >= 0) {
			g->t[next].visited = true;
			g->stack[sp++] = next;
			continue;
		}
		sp--;
		if (t->op == G_LEAF)
			g->leafs[g->n_leafs++] = g->stack[sp];
		else
			g->nodes[g->n_nodes++] = g->stack[sp];
	}
}

/* ---- ggml-alloc.c's dynamic allocator, one chunk ---- */

static uint64_t g_align(uint64_t x)
{
	return (x + G_ALIGN - 1) / G_ALIGN * G_ALIGN;
}

static uint64_t fb_align(const struct gfb *f, uint64_t x)
{
	return (x + f->align - 1) / f->align * f->align;
}

static void fb_remove(struct gfb *f, int i)
{
	for (; i < f->n - 1; i++) {
		f->off[i] = f->off[i + 1];
		f->size[i] = f->size[i + 1];
	}
	f->n--;
}

/* ggml_dyn_tallocr_alloc: the best fitting block but the last, else the
 * last */
static uint64_t fb_alloc(struct gfb *f, uint64_t size)
{
	uint64_t best_size = UINT64_MAX, off;
	int best = -1;

	size = fb_align(f, size);
	for (int i = 0; i < f->n - 1; i++) {
		if (f->size[i] >= size && f->size[i] <= best_size) {
			best = i;
			best_size = f->size[i];
		}
	}
	if (best < 0)
		best = f->n - 1;
	off = f->off[best];
	f->off[best] += size;
	f->size[best] -= size;
	if (f->size[best] == 0)
		fb_remove(f, best);
	if (off + size > f->max)
		f->max = off + size;
	return off;
}

/* ggml_dyn_tallocr_free_bytes: merge with a neighbour, else insert;
 * false when the list is full */
static bool fb_free(struct gfb *f, uint64_t off, uint64_t size)
{
	int at = 0;

	size = fb_align(f, size);
	for (int i = 0; i < f->n; i++) {
		if (f->off[i] + f->size[i] == off) {
			f->size[i] += size;
			if (i < f->n - 1 && f->off[i] + f->size[i] == f->off[i + 1]) {
				f->size[i] += f->size[i + 1];
				fb_remove(f, i + 1);
			}
			return true;
		}
		if (off + size == f->off[i]) {
			f->off[i] = off;
			f->size[i] += size;
			if (i > 0 && f->off[i - 1] + f->size[i - 1] == f->off[i]) {
				f->size[i - 1] += f->size[i];
				fb_remove(f, i);
			}
			return true;
		}
	}
	if (f->n == G_MAX_FREE)
		return false;
	while (at < f->n && f->off[at] < off)
		at++;
	for (int i = f->n; i > at; i--) {
		f->off[i] = f->off[i - 1];
		f->size[i] = f->size[i - 1];
	}
	f->off[at] = off;
	f->size[at] = size;
	f->n++;
	return true;
}

/* the buffer a tensor lives in: its backend's with the scheduler (-1:
 * none, a dependency), else the one */
static int ga_buf(const struct gsim *g, const struct gt *t)
{
	return !g->sched ? 0 : t->be == BE_GPU || t->be == BE_CPU ? t->be : -1;
}

/* ggml_gallocr_allocate_node */
static void ga_alloc(struct gsim *g, int32_t id)
{
	struct gt *t = &g->t[id];

	int buf = ga_buf(g, t);

	if ((t->flags & GT_EXT) || t->allocated || t->view_src >= 0 || buf < 0)
		return;
	t->allocated = true;
	if (t->op == G_INPL) {
		for (int i = 0; i < G_MAX_SRC; i++) {
			struct gt *p = t->src[i] >= 0 ? &g->t[t->src[i]] : NULL;

			if (!p || !p->allocated || (p->flags & GT_OUTPUT) || p->es != t->es ||
			    ga_buf(g, p) != buf || memcmp(p->ne, t->ne, sizeof(t->ne)) != 0)
				continue;
			if (p->n_children == 1 && p->n_views == 0) {
				t->off = p->off;
				p->allocated = false;
				return;
			}
		}
	}
	t->off = fb_alloc(&g->fb[buf], t->size);
}

/* ggml_gallocr_free_node */
static void ga_free(struct gsim *g, int32_t id)
{
	struct gt *t = &g->t[id];

	if (t->flags & GT_OUTPUT)
		return;
	if (!fb_free(&g->fb[ga_buf(g, t)], t->off, t->size))
		g->fail = true;
	t->allocated = false;
}

/* ggml_gallocr_alloc_graph_impl: the high-water mark of the graph (with
 * g->sched, of the GPU's buffer over the scheduler's graph copy; the
 * host's is then g->fb[1].max). fb[].align set by the caller. */
static uint64_t ga_run(struct gsim *g)
{
	const int32_t *nodes = g->sched ? g->order : g->nodes;
	uint32_t n_nodes = g->sched ? g->n_order : g->n_nodes;

	for (int b = 0; b < 2; b++) {
		g->fb[b].n = 1;
		g->fb[b].off[0] = 0;
		g->fb[b].size[0] = UINT64_MAX / 2;
		g->fb[b].max = 0;
		if (!g->fb[b].align)
			g->fb[b].align = G_ALIGN;
	}
	for (uint32_t i = 0; i < g->n_leafs; i++)
		ga_alloc(g, g->leafs[i]);
	for (uint32_t i = 0; i < n_nodes; i++) {
		struct gt *t = &g->t[nodes[i]];

		/* the scheduler's dependencies (op NONE) are not views to
		 * ggml-alloc's count */
		if (t->view_src >= 0 && !(t->flags & GT_DEP))
			g->t[t->view_src].n_views++;
		for (int j = 0; j < G_MAX_SRC; j++) {
			if (t->src[j] < 0)
				continue;
			g->t[t->src[j]].n_children++;
			if (g->t[t->src[j]].flags & GT_INPUT)
				ga_alloc(g, t->src[j]);
		}
	}
	for (uint32_t i = 0; i < n_nodes && !g->fail; i++) {
		int32_t id = nodes[i];
		const struct gt *t = &g->t[id];

		for (int j = 0; j < G_MAX_SRC; j++)
			if (t->src[j] >= 0)
				ga_alloc(g, t->src[j]);
		ga_alloc(g, id);
		for (int j = 0; j < G_MAX_SRC; j++) {
			struct gt *p;

			if (t->src[j] < 0)
				continue;
			p = &g->t[t->src[j]];
			if (--p->n_children != 0 || p->n_views != 0)
				continue;
			if (p->view_src >= 0) {
				struct gt *vs = &g->t[p->view_src];

				if (--vs->n_views == 0 && vs->n_children == 0 && vs->allocated)
					ga_free(g, p->view_src);
			} else if (p->allocated) {
				ga_free(g, t->src[j]);
			}
		}
	}
	return g->fb[0].max;
}

/* ---- ggml_backend_sched on one GPU and the CPU (ggml-backend.cpp) ---- */

/* ggml_is_view_op: the scheduler skips these when it assigns and splits */
static bool g_view_op(const struct gt *t)
{
	return t->op == G_VIEW && !(t->flags & (GT_STORE | GT_DEP));
}

/* the backend of x as the source of node (hv_tensor_backend_ids): the
 * external tensor is the node's weight where it has one, else a cache on
 * the node's own backend */
static int8_t g_src_be(const struct gsim *g, const struct gt *node, int32_t x)
{
	if (x == 0)
		return node->wbe != BE_NONE ? node->wbe : node->be;
	return g->t[x].be;
}

/* ggml_backend_sched_split_graph, passes 2-4 (pass 1 is t->p1, set as
 * the graph is built): GPU backends expand over the unassigned ops down
 * and up the graph, ignoring the CPU; then any backend does; views take
 * their source's backend. CUDA is taken to support every op modelled. */
static void g_sched_assign(struct gsim *g)
{
	for (uint32_t i = 0; i < g->n_leafs; i++) {
		struct gt *t = &g->t[g->leafs[i]];

		/* graph inputs go to the last backend, the CPU (1.inp) */
		t->be = g->leafs[i] == 0 ? BE_NONE : BE_CPU;
	}
	for (uint32_t i = 0; i < g->n_nodes; i++)
		g->t[g->nodes[i]].be = g->t[g->nodes[i]].p1;
	for (int pass = 0; pass < 4; pass++) {
		bool up = pass & 1, any = pass >= 2;
		int8_t cur = BE_NONE;

		for (uint32_t k = 0; k < g->n_nodes; k++) {
			struct gt *t = &g->t[g->nodes[up ? g->n_nodes - 1 - k : k]];

			if (g_view_op(t))
				continue;
			if (t->be != BE_NONE)
				cur = !any && t->be == BE_CPU ? BE_NONE : t->be;
			else if (cur != BE_NONE)
				t->be = cur;
		}
	}
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		struct gt *t = &g->t[g->nodes[i]];

		/* pass 3: an op no expansion reached goes to the backend with
		 * the most of its sources (the GPU on a tie) */
		if (!g_view_op(t) && t->be == BE_NONE) {
			int n[2] = { 0, 0 };

			for (int j = 0; j < G_MAX_SRC; j++) {
				int8_t sb = t->src[j] >= 0 ? g_src_be(g, t, t->src[j]) : BE_NONE;

				if (sb != BE_NONE)
					n[sb]++;
			}
			t->be = n[BE_CPU] > n[BE_GPU] ? BE_CPU : BE_GPU;
		}
	}
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		struct gt *t = &g->t[g->nodes[i]];

		/* pass 4 */
		if (t->view_src > 0 && t->be == BE_NONE)
			t->be = g->t[t->view_src].be;
		if (t->be == BE_NONE)
			t->be = BE_GPU;
	}
}

/* a tensor of size bytes, the copy of a split input on backend be */
static int32_t g_copy(struct gsim *g, uint64_t size, int8_t be)
{
	int32_t c = g_add(g, G_NEW, 1, NE((int64_t)size, 1, 1, 1), NULL, 0);

	if (c)
		g->t[c].be = be;
	return c;
}

/* ggml_backend_sched_split_graph, pass 5 and the graph copy: a split
 * starts where the backend changes, and at an op whose weight is on
 * another backend when the split already has inputs ("the memory of the
 * previously offloaded weights can be reused"); a source on another
 * backend gets a copy on the split's backend, made once per tensor and
 * backend (later splits reuse it) and listed among the inputs of the
 * split that made it. The graph copy puts, before each split's nodes, a
 * dependency on each input (its source lives until the split starts) and
 * the input's copy (allocated at the start of the split, freed after its
 * last reader). g->order is that graph copy. */
static void g_sched(struct gsim *g)
{
	/* each input is made for a source slot: at most G_MAX_SRC a node */
	uint32_t n = g->n_nodes, n_in = 0, n_split = 0, cap = G_MAX_SRC * n + 1;
	int32_t *in_src = NULL, *in_cp = NULL;
	uint32_t *sp_start = NULL, *sp_in = NULL, *wk = NULL;
	int32_t *wk_cp = NULL;
	uint32_t n_wk = 0;
	int8_t cur = BE_NONE;

	g_sched_assign(g);
	for (uint32_t i = 0; i < n; i++) {
		const struct gt *t = &g->t[g->nodes[i]];

		if (t->fa_want && t->be != t->fa_want - 1)
			g->fa_mismatch = true;
	}
	in_src = malloc(cap * sizeof(*in_src));
	in_cp = malloc(cap * sizeof(*in_cp));
	sp_start = malloc((n + 1) * sizeof(*sp_start));
	sp_in = malloc((n + 2) * sizeof(*sp_in));
	wk = malloc(cap * sizeof(*wk));
	wk_cp = malloc(cap * sizeof(*wk_cp));
	if (!in_src || !in_cp || !sp_start || !sp_in || !wk || !wk_cp) {
		g->fail = true;
		goto out;
	}
	for (uint32_t i = 0; i < n && !g->fail; i++) {
		int32_t id = g->nodes[i];
		struct gt *t = &g->t[id];
		bool has_w = false;

		if (g_view_op(t))
			continue;
		for (int j = 0; j < G_MAX_SRC; j++)
			has_w = has_w || t->src[j] == 0;
		has_w = has_w && t->wbe != BE_NONE && t->wbe != t->be;
		if (n_split == 0 || t->be != cur || (has_w && sp_in[n_split - 1] < n_in)) {
			/* the first split starts at the first node, views
			 * included */
			sp_start[n_split] = n_split ? i : 0;
			sp_in[n_split++] = n_in;
			cur = t->be;
		}
		for (int j = 0; j < G_MAX_SRC && !g->fail; j++) {
			int32_t s = g->t[id].src[j], c;
			int8_t sb;

			if (s < 0)
				continue;
			sb = g_src_be(g, &g->t[id], s);
			if (sb == BE_NONE || sb == cur)
				continue;
			if (s == 0) {
				/* a weight: one copy per tensor */
				int32_t key = g->t[id].wkey;
				uint32_t k = 0;

				while (key && k < n_wk && wk[k] != (uint32_t)key)
					k++;
				if (key && k < n_wk) {
					c = wk_cp[k];
				} else {
					c = g_copy(g, g->t[id].wsize, cur);
					if (key && n_wk < cap) {
						wk[n_wk] = (uint32_t)key;
						wk_cp[n_wk++] = c;
					}
					if (n_in < cap) {
						in_src[n_in] = 0;
						in_cp[n_in++] = c;
					}
				}
			} else if (g->t[s].cp[cur]) {
				c = g->t[s].cp[cur];
			} else {
				c = g_copy(g, g->t[s].span ? g->t[s].span : g->t[s].size, cur);
				/* ggml_dup_tensor_layout: the source's type and
				 * shape, so an op may run in place over it */
				if (c && !g->t[s].span) {
					memcpy(g->t[c].ne, g->t[s].ne, sizeof(g->t[c].ne));
					g->t[c].es = g->t[s].es;
					g->t[c].flags |= g->t[s].flags & GT_NC;
				}
				g->t[s].cp[cur] = c;
				if (n_in < cap) {
					in_src[n_in] = s;
					in_cp[n_in++] = c;
				}
			}
			if (n_in >= cap)
				g->fail = true;
			g->t[id].src[j] = c;
		}
	}
	sp_in[n_split] = n_in;
	for (uint32_t i = 0; i < n; i++) {
		struct gt *t = &g->t[g->nodes[i]];
		uint64_t sz = t->size;
		bool shared;

		if (t->be != BE_GPU || !(t->fa16[0] | t->fa16[1]))
			continue;
		/* V_is_K_view: both still views of the cache (not copies of
		 * a host cache's views) */
		shared = t->fa_v_of_k && t->fa16[0] && g->t[t->src[1]].view_src >= 0 &&
			 g->t[t->src[2]].view_src >= 0;
		if (t->fa16[0])
			sz = PAD(sz, 128) + t->fa16[0];
		if (t->fa16[1] && !shared)
			sz = PAD(sz, 128) + t->fa16[1];
		t->size = sz;
	}
	{
		uint32_t n_keep = 0;

		for (uint32_t i = 0; i < n; i++)
			n_keep += g->t[g->nodes[i]].keep[0] != 0;
		g->order = malloc((n + 2 * (size_t)n_in + n_keep) * sizeof(*g->order));
	}
	if (!g->order || g->fail) {
		g->fail = true;
		goto out;
	}
	g->n_order = 0;
	for (uint32_t sp = 0; sp < n_split; sp++) {
		uint32_t end = sp + 1 < n_split ? sp_start[sp + 1] : n;

		for (uint32_t k = sp_in[sp]; k < sp_in[sp + 1]; k++) {
			int32_t s = in_src[k], dep = g_add(g, G_VIEW, 1, NE(1, 1, 1, 1), SRC(s));

			if (!dep)
				break;
			g->t[dep].view_src = s == 0 || g->t[s].view_src < 0 ? s : g->t[s].view_src;
			g->t[dep].flags = GT_DEP;
			g->order[g->n_order++] = dep;
			g->order[g->n_order++] = in_cp[k];
		}
		for (uint32_t i = sp_start[sp]; i < end && !g->fail; i++) {
			int32_t id = g->nodes[i], dep;

			g->order[g->n_order++] = id;
			if (!g->t[id].keep[0] || g->t[id].be != BE_GPU)
				continue;
			/* the dependency node ggml-backend adds after it */
			dep = g_add(g, G_VIEW, 1, NE(1, 1, 1, 1), SRC(g->t[id].keep[0], g->t[id].keep[1]));
			if (!dep)
				break;
			g->t[dep].view_src = g->t[id].keep[0];
			g->t[dep].flags = GT_DEP;
			g->order[g->n_order++] = dep;
		}
	}
out:
	free(in_src);
	free(in_cp);
	free(sp_start);
	free(sp_in);
	free(wk);
	free(wk_cp);
}

/* ---- the graphs (llama-graph.cpp, src/models/<arch>.cpp) ---- */

/* Per-layer tensors that change the graph, from the tensor names. */
enum {
	LF_QKV = 1u << 0,       /* attn_qkv: fused Q, K, V */
	LF_QKV_B = 1u << 1,     /* attn_qkv.bias */
	LF_Q_B = 1u << 2,       /* attn_q.bias (and k, v) */
	LF_K_B = 1u << 3,
	LF_V_B = 1u << 4,
	LF_O_B = 1u << 5,       /* attn_output.bias */
	LF_QK_NORM = 1u << 6,   /* attn_q_norm, attn_k_norm */
	LF_SINKS = 1u << 7,     /* attn_sinks */
	LF_POST_ATTN = 1u << 8, /* post_attention_norm */
	LF_POST_FFN = 1u << 9,  /* post_ffw_norm */
	LF_NORM_B = 1u << 10,   /* attn_norm.bias: layer norm with a bias */
	LF_GATE = 1u << 11,     /* ffn_gate */
	LF_UP_B = 1u << 12,     /* ffn_up.bias, ffn_gate.bias, ffn_down.bias */
	LF_GATE_B = 1u << 13,
	LF_DOWN_B = 1u << 14,
	LF_ROUTER_B = 1u << 15, /* ffn_gate_inp.bias */
	LF_PROBS_B = 1u << 16,  /* exp_probs_b.bias */
	LF_EXPS_B = 1u << 17,   /* ffn_*_exps.bias */
	LF_GATE_EXPS = 1u << 18, /* ffn_gate_exps */
	LF_GATE_UP_EXPS = 1u << 19, /* ffn_gate_up_exps */
	LF_SHEXP = 1u << 20,    /* ffn_up_shexp */
	LF_SHEXP_GATE = 1u << 21, /* ffn_gate_shexp */
	LF_Q_A = 1u << 22,      /* attn_q_a: MLA with a low-rank Q */
};

/* the suffix with its length: estimates compare it first (every tensor
 * of the model is looked up in every estimate the solver makes) */
#define LT(s, f) { s, sizeof(s) - 1, f }
static const struct {
	const char *suffix;
	size_t len;
	uint32_t flag;
} layer_tensors[] = {
	LT("attn_qkv.weight", LF_QKV), LT("attn_qkv.bias", LF_QKV_B),
	LT("attn_q.bias", LF_Q_B), LT("attn_k.bias", LF_K_B),
	LT("attn_v.bias", LF_V_B), LT("attn_output.bias", LF_O_B),
	LT("attn_q_norm.weight", LF_QK_NORM), LT("attn_sinks.weight", LF_SINKS),
	LT("post_attention_norm.weight", LF_POST_ATTN), LT("post_ffw_norm.weight", LF_POST_FFN),
	LT("attn_norm.bias", LF_NORM_B), LT("ffn_gate.weight", LF_GATE),
	LT("ffn_up.bias", LF_UP_B), LT("ffn_gate.bias", LF_GATE_B),
	LT("ffn_down.bias", LF_DOWN_B), LT("ffn_gate_inp.bias", LF_ROUTER_B),
	LT("exp_probs_b.bias", LF_PROBS_B), LT("ffn_up_exps.bias", LF_EXPS_B),
	LT("ffn_gate_exps.weight", LF_GATE_EXPS), LT("ffn_gate_up_exps.weight", LF_GATE_UP_EXPS),
	LT("ffn_up_shexp.weight", LF_SHEXP), LT("ffn_gate_shexp.weight", LF_SHEXP_GATE),
	LT("attn_q_a.weight", LF_Q_A),
};
#undef LT

enum g_family {
	GF_NONE, /* not simulated: the closed forms */
	GF_STD,  /* embeddings, [norm, attention, norm, FFN or MoE] x L, norm, logits */
	GF_MLA,  /* deepseek2: latent attention */
	GF_LFM2, /* short convolutions and attention */
};

enum g_ffn {
	FFN_GLU,          /* act(gate) * up: SWIGLU/GEGLU over two tensors */
	FFN_GLU_FUSED,    /* one up tensor of 2 n_ff, split by SWIGLU (phi3) */
};

enum g_gating {
	GATE_META,               /* expert_gating_func, softmax when unset */
	GATE_SOFTMAX = 1,        /* softmax (or sigmoid) of the router logits, in place */
	GATE_SOFTMAX_WEIGHT = 3, /* softmax over the chosen experts' logits only */
};

enum g_norm_w { NORMW_ALWAYS, NORMW_NEVER, NORMW_META };

/* What differs between architectures' graphs (src/models/<arch>.cpp);
 * the tensors say the rest (biases, QK norms, fused QKV, sinks, shared
 * experts, post norms). */
struct garch {
	const char *name;
	uint8_t family;          /* enum g_family */
	uint8_t ffn;             /* enum g_ffn */
	uint8_t gating;          /* enum g_gating */
	uint8_t norm_w;          /* the chosen experts' weights renormalised: enum g_norm_w */
	bool embd_scale;         /* the embeddings are scaled (gemma) */
	bool q_scale;            /* Q is scaled before attention (phi3, gemma3) */
	bool res_first;          /* the FFN residual is added as residual + ffn (phi3) */
	bool post_attn_ffn_norm; /* post_attention_norm is the FFN's input norm (gpt-oss) */
	bool late_out_ids;       /* the outputs are picked after the last layer, whose
				  * output is a graph output, t_h_nextn (gpt-oss) */
};

static const struct garch garch_table[] = {
	{ "llama", GF_STD, FFN_GLU, GATE_SOFTMAX, NORMW_ALWAYS, false, false, false, false, false },
	{ "qwen3", GF_STD, FFN_GLU, GATE_SOFTMAX, NORMW_ALWAYS, false, false, false, false, false },
	{ "qwen3moe", GF_STD, FFN_GLU, GATE_SOFTMAX, NORMW_ALWAYS, false, false, false, false, false },
	{ "gemma3", GF_STD, FFN_GLU, GATE_SOFTMAX, NORMW_ALWAYS, true, true, false, false, false },
	{ "phi3", GF_STD, FFN_GLU_FUSED, GATE_SOFTMAX, NORMW_ALWAYS, false, true, true, false, false },
	{ "gpt-oss", GF_STD, FFN_GLU, GATE_SOFTMAX_WEIGHT, NORMW_NEVER, false, false, false, true, true },
	{ "deepseek2", GF_MLA, FFN_GLU, GATE_META, NORMW_META, false, false, false, false, false },
	{ "lfm2", GF_LFM2, FFN_GLU, GATE_META, NORMW_ALWAYS, false, false, false, false, false },
};

/* an architecture not in the table: the llama graph with what its tensors
 * say, when its layers are plain attention layers */
static const struct garch garch_plain = { "", GF_STD, FFN_GLU, GATE_META, NORMW_META, false, false,
					  false, false, false };

/* the inputs of one KV cache (base or sliding window) */
struct gcache {
	int64_t n_kv;
	int32_t k_idxs, v_idxs, mask, k_rot, v_rot;
};

struct gb {
	struct gsim *g;
	const struct model *m;
	const struct garch *a;
	const uint32_t *lf;      /* per-layer LF_* */
	int64_t T, n_out, n_seqs, n_stream, E, v_max;
	bool fa, v_trans;
	uint8_t cache_es;        /* element size of a K cache row, for MLA's V copy */
	struct gcache c[2];      /* 0: base, 1: sliding window */
	int32_t inp_pos, out_ids, s_copy_main, s_copy_extra;
	bool gpu;                /* the GPU's part of the graph: all of it but
	                          * what stays in host memory */
	bool sched;              /* weights on the host too: the scheduler
	                          * splits the graph (g_sched) */
	const struct ctx *x;     /* with sched: where the weights are */
	const uint64_t *wsize;   /* with sched: [layer][role] the weight's
	                          * size in a CUDA buffer */
	uint64_t rope_bytes;     /* with sched: rope_freqs, 0 when none */
	uint32_t il;             /* the block being built */
};

static int8_t gb_be(const struct gb *b, uint32_t il)
{
	return b->x->layer_dev[il] == HOST ? BE_CPU : BE_GPU;
}

/* the block being built, whose caches the next views read */
static void gb_layer(struct gb *b, uint32_t il)
{
	b->il = il;
	if (b->sched)
		b->g->ext_be = b->x->c->no_kv_offload ? BE_CPU : gb_be(b, il);
}

/* With the scheduler replayed: node reads a weight on backend wbe, of
 * size bytes in a CUDA buffer (key: its identity when other ops read it
 * too). pin: the weight decides the op's backend in pass 1
 * (ggml_backend_sched_backend_id_from_cur; not for ROPE and
 * FLASH_ATTN_EXT): its own, but with op offload (llama-server's default)
 * the GPU for a host weight's op over a batch of 32 rows or more
 * (ggml-cuda.cu get_op_batch_size, offload_op). */
static void gb_wtag(struct gb *b, int32_t node, int8_t wbe, uint64_t size, int64_t batch, bool pin,
		    int32_t key)
{
	struct gt *t;

	if (!b->sched || !node)
		return;
	t = &b->g->t[node];
	t->wbe = wbe;
	t->wsize = size;
	t->wkey = key;
	if (pin)
		t->p1 = wbe == BE_GPU || batch >= 32 ? BE_GPU : BE_CPU;
}

/* the rows an element-wise op runs over (ggml_nrows) */
static int64_t g_nrows(const struct gsim *g, int32_t x)
{
	const int64_t *n = g->t[x].ne;

	return n[1] * n[2] * n[3];
}

/* an element-wise op with a small F32 weight of the block (a norm's
 * weight, a bias): x op w */
static int32_t gb_wsmall(struct gb *b, int32_t x)
{
	int32_t y = g_inpl(b->g, x, 0);

	if (y)
		gb_wtag(b, y, gb_be(b, b->il), PAD(4 * (uint64_t)b->g->t[y].ne[0], 128),
			g_nrows(b->g, y), true, 0);
	return y;
}

/* build_norm: RMS_NORM (in place when it can) times the weight, or, for a
 * norm with a bias, NORM (a fresh tensor) times the weight plus the bias */
static int32_t gb_norm(struct gb *b, int32_t x, bool bias)
{
	struct gsim *g = b->g;
	const int64_t *n = g->t[x].ne;
	int32_t y = bias ? g_op(g, G_NEW, n[0], n[1], n[2], n[3], SRC(x)) : g_inpl(g, x, -1);

	y = gb_wsmall(b, y);
	return bias ? gb_wsmall(b, y) : y;
}

/* a matmul (batch: its rows, or for MUL_MAT_ID its tokens) reading the
 * block's weight of role */
static void gb_w(struct gb *b, int32_t node, uint8_t role, int64_t batch)
{
	const struct ctx *x = b->x;

	if (!b->sched || role == MODEL_ROLE_NONE || role >= MODEL_ROLE_COUNT || b->il >= b->m->n_layer)
		return;
	gb_wtag(b, node, (x->host_roles[b->il] >> role & 1) ? BE_CPU : BE_GPU,
		b->wsize[(size_t)b->il * MODEL_ROLE_COUNT + role], batch, true, 0);
}

/* ggml_mul_mat(w, x) of a weight: [rows, x's other dims] */
static int32_t gb_mm(struct gb *b, uint8_t role, int32_t x, int64_t rows)
{
	const int64_t *n = b->g->t[x].ne;
	int64_t batch = n[1], n2 = n[2], n3 = n[3]; /* n may move with the tensors g_op adds */
	int32_t t = g_op(b->g, G_NEW, rows, n[1], n[2], n[3], SRC(0, x));

	gb_w(b, t, role, batch);
	/* build_lora_mm: each adapter of this weight adds
	 * scale(B (A x)) to the product */
	for (size_t k = 0; b->x->lora && k < b->x->c->n_loras && role && role < MODEL_ROLE_COUNT &&
			   b->il < b->m->n_layer; k++) {
		const struct lora_w *lw = lora_at(b->x, k, b->il, role);
		int8_t be = (b->x->host_roles[b->il] >> role & 1) ? BE_CPU : BE_GPU;
		int32_t ab;

		if (!lw->rank)
			continue;
		ab = g_op(b->g, G_NEW, lw->rank, batch, n2, n3, SRC(0, x));
		gb_wtag(b, ab, be, lw->a_bytes, batch, true, 0);
		ab = g_op(b->g, G_NEW, rows, batch, n2, n3, SRC(0, ab));
		gb_wtag(b, ab, be, lw->b_bytes, batch, true, 0);
		ab = g_inpl(b->g, ab, -1);
		t = g_inpl(b->g, t, ab);
	}
	return t;
}

/* llama_mul_mat_hadamard (llama-impl.h) */
static int32_t gb_hadamard(struct gb *b, int32_t x, int32_t rot, int64_t n)
{
	struct gsim *g = b->g;
	const struct gt *t = &g->t[x];
	int64_t ne[4] = { t->ne[0], t->ne[1], t->ne[2], t->ne[3] }, nel = 1;
	int32_t r;

	for (int i = 0; i < 4; i++)
		if (!ck_mul_i64(nel, ne[i], &nel))
			g->fail = true;
	r = (t->flags & GT_NC) ? g_op(g, G_NEW, n, nel / n, 1, 1, SRC(x))
			       : g_view(g, x, n, nel / n, 1, 1, false);

	r = g_op(g, G_NEW, n, nel / n, 1, 1, SRC(rot, r));
	return g_view(g, r, ne[0], ne[1], ne[2], ne[3], false);
}

/* get_k, get_v (llama-kv-cache.cpp): a view of n_kv rows of a cache of
 * elements of type, per stream; what a copy of it to another backend
 * takes (with the scheduler replayed) */
static int32_t gb_cache_view(struct gb *b, int64_t row, uint32_t type, int64_t n_kv)
{
	int32_t v = g_view(b->g, 0, 1, 1, 1, 1, false);

	if (v)
		b->g->t[v].size = row_bytes(type, (uint64_t)row) * (uint64_t)n_kv * (uint64_t)b->n_stream;
	return v;
}

/* build_attn_mha: q [hk, nh, T], k and v views of the cache */
static int32_t gb_mha(struct gb *b, uint32_t il, int32_t q, int32_t k, int32_t v, int32_t mask,
		      int64_t n_kv, int64_t hv, int64_t n_head_kv, int64_t v_mla, bool v_trans)
{
	struct gsim *g = b->g;
	const struct model_layer *ly = &b->m->layers[il];
	int64_t nh = ly->n_head, ns = b->n_stream, tt = b->T / ns, hk = g->t[q].ne[0];
	bool sinks = b->lf[il] & LF_SINKS;
	int32_t cur;

	uint64_t ks = g->t[k].size, vs = g->t[v].size;

	q = g_view(g, q, hk, nh, tt, ns, false);
	q = g_view(g, q, hk, tt, nh, ns, true);
	/* the permuted views span the same bytes */
	k = g_view(g, k, 1, 1, 1, 1, true);
	v = g_view(g, v, 1, 1, 1, 1, true);
	if (k && v) {
		g->t[k].size = ks;
		g->t[v].size = vs;
	}
	if (b->fa) {
		cur = sinks ? g_op(g, G_NEW, hv, nh, tt, ns, SRC(q, k, v, mask, 0))
			    : g_op(g, G_NEW, hv, nh, tt, ns, SRC(q, k, v, mask));
		if (b->sched && cur)
			g->t[cur].fa_want = (int8_t)(gb_be(b, il) + 1);
		/* CUDA (Turing and later): over 2 rows a sequence the
		 * tensor-core kernel runs, and it reads F16 K and V (fattn.cu
		 * ggml_cuda_get_best_fattn_kernel) */
		if (b->sched && cur && tt > 2) {
			uint32_t tk = b->x->c->type_k, tv = v_mla ? tk : b->x->c->type_v;
			uint64_t rows = 0, ek = 0, ev = 0;

			if (!ck_mul_u64((uint64_t)n_head_kv, (uint64_t)n_kv, &rows) ||
			    !ck_mul_u64(rows, 2 * (uint64_t)ns, &rows) || !ck_mul_u64(rows, (uint64_t)hk, &ek) ||
			    !ck_mul_u64(rows, (uint64_t)hv, &ev) || ek > UINT64_MAX / 4 || ev > UINT64_MAX / 4) {
				g->fail = true;
			} else {
				g->t[cur].fa16[0] = tk != GGML_TYPE_F16 ? ek : 0;
				g->t[cur].fa16[1] = tv != GGML_TYPE_F16 ? ev : 0;
			}
			g->t[cur].fa_v_of_k = v_mla != 0;
		}
		if (sinks)
			gb_wtag(b, cur, gb_be(b, il), PAD(4 * (uint64_t)nh, 128), 0, false, 0);
		if (v_mla) {
			cur = g_view(g, cur, hv, tt, nh, ns, true);
			cur = g_op(g, G_NEW, v_mla, tt, nh, ns, SRC(0, cur));
			gb_w(b, cur, MODEL_ROLE_V_B, tt);
			cur = g_view(g, cur, v_mla, nh, tt, ns, true);
			cur = g_op(g, G_NEW, v_mla, nh, tt, ns, SRC(cur));
			hv = v_mla;
		}
		cur = g_view(g, cur, hv * nh, b->T, 1, 1, false);
	} else {
		int32_t kq = g_op(g, G_NEW, n_kv, tt, nh, ns, SRC(k, q));

		kq = sinks ? g_add(g, G_INPL, 4, g->t[kq].ne, SRC(kq, mask, 0))
			   : g_add(g, G_INPL, 4, g->t[kq].ne, SRC(kq, mask));
		if (sinks)
			gb_wtag(b, kq, gb_be(b, il), PAD(4 * (uint64_t)nh, 128), g_nrows(g, kq), true, 0);
		if (!v_trans) {
			v = g_view(g, v, 1, 1, 1, 1, true);
			v = g_add(g, G_NEW, b->cache_es, NE(n_kv, hv, n_head_kv, ns), SRC(v));
		}
		cur = g_op(g, G_NEW, hv, tt, nh, ns, SRC(v, kq));
		if (v_mla) {
			cur = g_op(g, G_NEW, v_mla, tt, nh, ns, SRC(0, cur));
			gb_w(b, cur, MODEL_ROLE_V_B, tt);
			hv = v_mla;
		}
		cur = g_view(g, cur, hv, nh, tt, ns, true);
		cur = g_op(g, G_NEW, hv * nh, b->T, 1, 1, SRC(cur));
		/* -nkvo: llama-graph.cpp pins the attention's output to the
		 * CPU ("all nodes between the KV store and the attention
		 * output are run on the CPU") */
		if (b->sched && cur && b->x->c->no_kv_offload)
			g->t[cur].p1 = BE_CPU;
	}
	g_expand(g, cur);
	return cur;
}

/* build_attn with a KV cache (llama-graph.cpp, both the plain and the
 * iswa variants): q, k, v as build_qkv left them */
static int32_t gb_attn(struct gb *b, uint32_t il, int32_t q, int32_t k, int32_t v, bool iswa)
{
	struct gsim *g = b->g;
	const struct model_layer *ly = &b->m->layers[il];
	struct gcache *c = &b->c[ly->swa ? 1 : 0];
	int64_t nk = (int64_t)ly->head_k * ly->n_head_kv, nv = (int64_t)ly->head_v * ly->n_head_kv;
	int32_t kc, vc, st, cur;

	if (c->k_rot >= 0) {
		q = gb_hadamard(b, q, c->k_rot, g->t[c->k_rot].ne[0]);
		k = gb_hadamard(b, k, c->k_rot, g->t[c->k_rot].ne[0]);
	}
	if (c->v_rot >= 0)
		v = gb_hadamard(b, v, c->v_rot, g->t[c->v_rot].ne[0]);
	g_expand(g, q);
	g_expand(g, iswa ? k : v);
	g_expand(g, iswa ? v : k);
	/* cpy_k, cpy_v (llama-kv-cache.cpp) */
	k = g_view(g, k, nk, b->T, 1, 1, false);
	kc = b->n_stream > 1 ? g_view(g, 0, 1, 1, 1, 1, false) : 0;
	g_expand(g, g_store(g, SRC(k, c->k_idxs, kc)));
	if (!b->v_trans) {
		v = g_view(g, v, nv, b->T, 1, 1, false);
		vc = b->n_stream > 1 ? g_view(g, 0, 1, 1, 1, 1, false) : 0;
		st = g_store(g, SRC(v, c->v_idxs, vc));
	} else {
		v = (g->t[v].flags & GT_NC) ? g_op(g, G_NEW, nv, b->T, 1, 1, SRC(v))
					    : g_view(g, v, nv, b->T, 1, 1, false);
		vc = g_view(g, 0, 1, 1, 1, 1, false);
		v = g_view(g, v, 1, nv * b->T, 1, 1, false);
		st = g_store(g, SRC(v, c->v_idxs, vc));
	}
	g_expand(g, st);
	kc = gb_cache_view(b, nk, b->x->c->type_k, c->n_kv);
	vc = gb_cache_view(b, nv, b->x->c->type_v, c->n_kv);
	cur = gb_mha(b, il, q, kc, vc, c->mask, c->n_kv, ly->head_v, ly->n_head_kv, 0, b->v_trans);
	if (c->v_rot >= 0)
		cur = gb_hadamard(b, cur, c->v_rot, g->t[c->v_rot].ne[0]);
	cur = gb_mm(b, MODEL_ROLE_O, cur, b->E);
	return (b->lf[il] & LF_O_B) ? gb_wsmall(b, cur) : cur;
}

/* build_qkv: separate or fused projections, reshaped to heads */
static void gb_qkv(struct gb *b, uint32_t il, int32_t cur, int32_t *q, int32_t *k, int32_t *v)
{
	struct gsim *g = b->g;
	const struct model_layer *ly = &b->m->layers[il];
	uint32_t f = b->lf[il];
	int64_t hq = ly->head_k, nh = ly->n_head, hk = ly->head_k, hv = ly->head_v, nkv = ly->n_head_kv;

	if (f & LF_QKV) {
		int32_t qkv = gb_mm(b, MODEL_ROLE_QKV, cur, hq * nh + hk * nkv + hv * nkv);

		if (f & (LF_QKV_B | LF_Q_B))
			qkv = gb_wsmall(b, qkv);
		uint64_t row = 4 * (uint64_t)g->t[qkv].ne[0];

		*q = g_view(g, qkv, hq, nh, b->T, 1, true);
		*k = g_view(g, qkv, hk, nkv, b->T, 1, true);
		*v = g_view(g, qkv, hv, nkv, b->T, 1, true);
		/* rows of the fused result: each view spans T - 1 of them
		 * and its own heads of the last */
		g->t[*q].span = 4 * (uint64_t)(hq * nh) + (uint64_t)(b->T - 1) * row;
		g->t[*k].span = 4 * (uint64_t)(hk * nkv) + (uint64_t)(b->T - 1) * row;
		g->t[*v].span = 4 * (uint64_t)(hv * nkv) + (uint64_t)(b->T - 1) * row;
		return;
	}
	*q = gb_mm(b, MODEL_ROLE_Q, cur, hq * nh);
	if (f & LF_Q_B)
		*q = gb_wsmall(b, *q);
	*k = gb_mm(b, MODEL_ROLE_K, cur, hk * nkv);
	if (f & LF_K_B)
		*k = gb_wsmall(b, *k);
	*v = gb_mm(b, MODEL_ROLE_V, cur, hv * nkv);
	if (f & LF_V_B)
		*v = gb_wsmall(b, *v);
	*q = g_view(g, *q, hq, nh, b->T, 1, false);
	*k = g_view(g, *k, hk, nkv, b->T, 1, false);
	*v = g_view(g, *v, hv, nkv, b->T, 1, false);
}

/* ggml_rope_ext: element-wise, in place when it can */
static int32_t gb_rope(struct gb *b, int32_t x)
{
	int32_t y = g_add(b->g, G_INPL, 4, b->g->t[x].ne, SRC(x, b->inp_pos, 0));

	/* rope_freqs: one tensor, where block 0 is (the other blocks'
	 * are TENSOR_DUPLICATED references to it), so one copy serves
	 * every rope of the other backend */
	if (b->rope_bytes)
		gb_wtag(b, y, gb_be(b, 0), b->rope_bytes, 0, false, (int32_t)b->m->n_layer + 1);
	return y;
}

/* build_ffn (shexp: the shared experts' FFN) */
static int32_t gb_ffn(struct gb *b, uint32_t il, int32_t cur, int64_t n_ff, uint8_t type, bool gate,
		      bool shexp)
{
	struct gsim *g = b->g;
	uint32_t f = b->lf[il];
	int32_t up, gt = -1;

	up = gb_mm(b, shexp ? MODEL_ROLE_UP_SHEXP : MODEL_ROLE_UP, cur, type == FFN_GLU_FUSED ? 2 * n_ff : n_ff);
	if (f & LF_UP_B)
		up = gb_wsmall(b, up);
	if (gate) {
		gt = gb_mm(b, shexp ? MODEL_ROLE_GATE_SHEXP : MODEL_ROLE_GATE, cur, n_ff);
		if (f & LF_GATE_B)
			gt = gb_wsmall(b, gt);
	}
	const int64_t *n = g->t[up].ne;

	if (gt >= 0)
		cur = g_op(g, G_NEW, n_ff, n[1], n[2], n[3], SRC(gt, up));
	else if (type == FFN_GLU_FUSED)
		cur = g_op(g, G_NEW, n_ff, n[1], n[2], n[3], SRC(up));
	else
		cur = g_inpl(g, up, -1);
	cur = gb_mm(b, shexp ? MODEL_ROLE_DOWN_SHEXP : MODEL_ROLE_DOWN, cur, b->E);
	return (f & LF_DOWN_B) ? gb_wsmall(b, cur) : cur;
}

/* ggml_add_id of the experts' biases */
static int32_t gb_addid(struct gb *b, int32_t x, int32_t ids, uint8_t role)
{
	int32_t y = g_add(b->g, G_INPL, 4, b->g->t[x].ne, SRC(x, 0, ids));
	bool host = b->il < b->m->n_layer && (b->x->host_bias[b->il] >> role & 1);

	if (y)
		gb_wtag(b, y, host ? BE_CPU : gb_be(b, b->il),
			PAD(4 * (uint64_t)b->g->t[y].ne[0] * b->m->n_expert, 128), g_nrows(b->g, y), true, 0);
	return y;
}

/* ggml_argsort_top_k: an I32 argsort and a view of its first k */
static int32_t gb_topk(struct gb *b, int32_t x, int64_t k)
{
	const int64_t *p = b->g->t[x].ne;
	int64_t n[4] = { p[0], p[1], p[2], p[3] };
	int32_t s = g_add(b->g, G_NEW, 4, n, SRC(x));

	return g_view(b->g, s, k, n[1], n[2], n[3], true);
}

/* build_moe_ffn */
static int32_t gb_moe(struct gb *b, uint32_t il, int32_t cur)
{
	struct gsim *g = b->g;
	const struct model *m = b->m;
	uint32_t f = b->lf[il];
	int64_t ne = m->n_expert, k = m->n_expert_used, T = g->t[cur].ne[1], E = b->E;
	int64_t nff = (int64_t)m->n_ff_exp;
	uint32_t gating = b->a->gating ? b->a->gating : (m->expert_gating ? m->expert_gating : GATE_SOFTMAX);
	bool norm_w = b->a->norm_w == NORMW_ALWAYS || (b->a->norm_w == NORMW_META && m->expert_weights_norm);
	int32_t logits, probs, sel, selected, w, up, gt, ex, raw, out;

	logits = gb_mm(b, MODEL_ROLE_ROUTER, cur, ne);
	if (f & LF_ROUTER_B)
		logits = gb_wsmall(b, logits);
	probs = gating == GATE_SOFTMAX_WEIGHT ? logits : g_inpl(g, logits, -1);
	sel = (f & LF_PROBS_B) ? gb_wsmall(b, probs) : probs;
	if (m->n_expert_groups > 1 && m->n_group_used && ne % m->n_expert_groups == 0) {
		int64_t ng = m->n_expert_groups, per = ne / ng;
		int32_t groups = g_view(g, sel, per, ng, T, 1, false), scores, top;

		scores = gb_topk(b, groups, 2);
		scores = g_op(g, G_NEW, 1, 2, ng, T, SRC(g_view(g, groups, 1, per, ng, T, false), scores));
		scores = g_op(g, G_NEW, 1, ng, T, 1, SRC(g_view(g, scores, 2, ng, T, 1, false)));
		scores = g_view(g, scores, ng, T, 1, 1, false);
		top = gb_topk(b, scores, m->n_group_used);
		sel = g_op(g, G_NEW, per, m->n_group_used, T, 1, SRC(groups, top));
		/* set_rows into a fill of the groups: a view of the fill */
		sel = g_store(g, SRC(sel, top, g_inpl(g, groups, -1)));
		if (sel) {
			g->t[sel].view_src = g->t[sel].src[2];
			g->t[sel].p1 = BE_NONE;
		}
		sel = g_view(g, sel, ne, T, 1, 1, false);
	}
	selected = gb_topk(b, sel, k);
	w = g_op(g, G_NEW, 1, k, T, 1, SRC(g_view(g, probs, 1, ne, T, 1, false), selected));
	if (gating == GATE_SOFTMAX_WEIGHT) {
		w = g_inpl(g, g_view(g, w, k, T, 1, 1, false), -1);
		w = g_view(g, w, 1, k, T, 1, false);
	}
	if (norm_w) {
		int32_t w2 = g_view(g, w, k, T, 1, 1, false), sum;

		sum = g_op(g, G_NEW, 1, T, 1, 1, SRC(w2));
		sum = g_inpl(g, sum, -1);
		w = g_add(g, G_INPL, 4, g->t[w2].ne, SRC(w2, sum));
		w = g_view(g, w, 1, k, T, 1, false);
	}
	if (m->expert_weights_scaled)
		w = g_inpl(g, w, -1);
	g_expand(g, w);
	cur = g_view(g, cur, E, 1, T, 1, false);
	if (f & LF_GATE_UP_EXPS) {
		int32_t gu = g_op(g, G_NEW, 2 * nff, k, T, 1, SRC(0, cur, selected));

		gb_w(b, gu, MODEL_ROLE_GATE_UP_EXPS, T);
		if (f & LF_EXPS_B)
			gu = gb_addid(b, gu, selected, MODEL_ROLE_GATE_UP_EXPS);
		gt = g_view(g, gu, nff, k, T, 1, true);
		up = g_view(g, gu, nff, k, T, 1, true);
	} else {
		up = g_op(g, G_NEW, nff, k, T, 1, SRC(0, cur, selected));
		gb_w(b, up, MODEL_ROLE_UP_EXPS, T);
		if (f & LF_EXPS_B)
			up = gb_addid(b, up, selected, MODEL_ROLE_UP_EXPS);
		gt = up;
		if (f & LF_GATE_EXPS) {
			gt = g_op(g, G_NEW, nff, k, T, 1, SRC(0, cur, selected));
			gb_w(b, gt, MODEL_ROLE_GATE_EXPS, T);
			if (f & LF_EXPS_B)
				gt = gb_addid(b, gt, selected, MODEL_ROLE_GATE_EXPS);
		}
	}
	if (f & (LF_GATE_EXPS | LF_GATE_UP_EXPS))
		cur = g_op(g, G_NEW, nff, k, T, 1, SRC(gt, up));
	else
		cur = g_inpl(g, gt, -1);
	ex = g_op(g, G_NEW, E, k, T, 1, SRC(0, cur, selected));
	gb_w(b, ex, MODEL_ROLE_DOWN_EXPS, T);
	if (f & LF_EXPS_B)
		ex = gb_addid(b, ex, selected, MODEL_ROLE_DOWN_EXPS);
	raw = ex;
	ex = g_inpl(g, ex, w);
	g_expand(g, ex);
	/* the experts' outputs are viewed first, then summed */
	out = (int32_t)g->n;
	for (int64_t i = 0; i < k; i++)
		g_expand(g, g_view(g, ex, E, T, 1, 1, true));
	if (g->fail)
		return 0;
	for (int32_t i = 1, first = out; i < k; i++) {
		out = g_inpl(g, out, first + i);
		g_expand(g, out);
	}
	if (k == 1)
		out = g_op(g, G_NEW, E, T, 1, 1, SRC(out));
	/* CUDA fuses the weighting and the sum of 2 to 15 experts
	 * (ggml_cuda_match_moe_weighted_reduction) and keeps the experts'
	 * outputs and their weights allocated until the sum is done: the
	 * weighting no longer runs in place */
	if (b->sched && k >= 2 && k <= 15 && out) {
		g->t[out].keep[0] = raw;
		g->t[out].keep[1] = w;
	}
	return out;
}

/* build_inp_embd: the token ids, the rows of token_embd, and the
 * embeddings input that the batch did not select (ggml_build_forward_select
 * keeps both in the graph, so it is allocated though unused). On a GPU the
 * embeddings input stays in host memory with the other inputs (no GPU op
 * reads it, so it has no copy there); the rows are copied in, at the
 * same point of the graph as they are computed on a CPU. */
static int32_t gb_embd(struct gb *b)
{
	struct gsim *g = b->g;
	int32_t tok = g_input(g, 4, b->T, 1, 1, 1);
	int32_t cur = g_op(g, G_NEW, b->E, b->T, 1, 1, SRC(0, tok));

	/* token_embd stays on the host, and GET_ROWS is not offloaded */
	gb_wtag(b, cur, BE_CPU, 0, 0, true, 0);
	g_expand(g, cur);
	if (!b->gpu)
		g_expand(g, g_input(g, 4, b->E, b->T, 1, 1));
	return cur;
}

/* the inputs of the attention caches (build_attn_inp_kv[_iswa]) */
static void gb_cache_inputs(struct gb *b, const struct est_result *r, const struct est_config *c,
			    bool mla)
{
	struct gsim *g = b->g;
	const struct model *m = b->m;
	uint8_t mask_es = b->fa ? 2 : 4;

	for (int s = 0; s < 2; s++) {
		struct gcache *gc = &b->c[s];
		/* the rotation checks the head size of layer 0
		 * (hparams.n_embd_head_k()) and that of every layer of this
		 * cache (n_embd_head_k_all) */
		int32_t hk_all = 0, hv_all = 0, hk0 = (int32_t)m->layers[0].head_k;
		int32_t hv0 = (int32_t)m->layers[0].head_v;
		bool any = false;

		gc->n_kv = s ? r->kv_size_swa : r->kv_size;
		gc->k_rot = gc->v_rot = -1;
		for (uint32_t il = 0; il < m->n_layer - m->n_layer_nextn; il++) {
			const struct model_layer *ly = &m->layers[il];

			if (!ly->has_kv || ly->swa != (s == 1))
				continue;
			any = true;
			hk_all = hk_all == 0 ? (int32_t)ly->head_k : hk_all == (int32_t)ly->head_k ? hk_all : -1;
			hv_all = hv_all == 0 ? (int32_t)ly->head_v : hv_all == (int32_t)ly->head_v ? hv_all : -1;
		}
		if (!any) {
			gc->k_idxs = gc->v_idxs = gc->mask = 0;
			continue;
		}
		gc->k_idxs = g_input(g, 8, b->T, 1, 1, 1);
		gc->v_idxs = g_input(g, 8, b->v_trans ? b->T * b->v_max : b->T, 1, 1, 1);
		gc->mask = g_add(g, G_LEAF, mask_es, NE(gc->n_kv, b->T / b->n_stream, 1, b->n_stream), NULL, 0);
		if (gc->mask)
			g->t[gc->mask].flags = GT_INPUT;
		/* Hadamard rotations of quantized caches (llama-kv-cache.cpp
		 * attn_rot_k/v); MLA's K-only input has none */
		if (!mla && hk_all > 0 && ggml_type_get(c->type_k)->blck_size > 1 && hk0 % 64 == 0) {
			int64_t n = 64;

			while (hk_all % (2 * n) == 0)
				n *= 2;
			gc->k_rot = g_input(g, 4, n, n, 1, 1);
		}
		if (!mla && hv_all > 0 && ggml_type_get(c->type_v)->blck_size > 1 && hv0 % 64 == 0)
			gc->v_rot = g_input(g, 4, 64, 64, 1, 1);
	}
}

#ifndef GB_EDGE
#define GB_EDGE 16
#endif

/* Whether layers [lo, hi) repeat the layers GB_EDGE earlier: same
 * features, sliding window, experts, heads and sizes. */
static bool gb_uniform(const struct gb *b, uint32_t lo, uint32_t hi)
{
	const struct model *m = b->m;

	for (uint32_t il = lo; il < hi + GB_EDGE && il < m->n_layer - m->n_layer_nextn; il++) {
		const struct model_layer *x = &m->layers[il], *y = &m->layers[il - GB_EDGE];
		bool mx = x->moe && il >= m->n_layer_dense_lead;
		bool my = y->moe && il - GB_EDGE >= m->n_layer_dense_lead;

		/* the same adapters' ranks on every role */
		for (size_t k = 0; b->x->lora && k < b->x->c->n_loras; k++)
			for (uint8_t role = 1; role < MODEL_ROLE_COUNT; role++)
				if (lora_at(b->x, k, il, role)->rank != lora_at(b->x, k, il - GB_EDGE, role)->rank)
					return false;
		if (b->lf[il] != b->lf[il - GB_EDGE] || x->swa != y->swa || mx != my ||
		    x->n_head != y->n_head || x->n_head_kv != y->n_head_kv || x->n_ff != y->n_ff ||
		    x->head_k != y->head_k || x->head_v != y->head_v || x->has_kv != y->has_kv)
			return false;
		/* with the scheduler: on the same backend, the same weights
		 * left on the host */
		if (b->sched && (b->x->layer_dev[il] != b->x->layer_dev[il - GB_EDGE] ||
				 b->x->host_roles[il] != b->x->host_roles[il - GB_EDGE] ||
				 b->x->host_bias[il] != b->x->host_bias[il - GB_EDGE]))
			return false;
	}
	return true;
}

/* the standard decoder (llama.cpp, qwen3, qwen3moe, gemma3, phi3,
 * openai-moe, ...) */
static int32_t gb_std(struct gb *b, bool iswa)
{
	struct gsim *g = b->g;
	const struct model *m = b->m;
	const struct garch *a = b->a;
	uint32_t L = m->n_layer - m->n_layer_nextn;
	int32_t inpL = gb_embd(b), cur = inpL;

	if (a->embd_scale)
		inpL = g_inpl(g, inpL, -1);
	for (uint32_t il = 0; il < L; il++) {
		const struct model_layer *ly = &m->layers[il];
		uint32_t f;
		int32_t inpSA = inpL, q, k, v, ffn_inp;

		/* Identical layers allocate identically once the allocator
		 * is in its steady state, so the middle of a deep model adds
		 * nothing to the peak: simulate the first and the last
		 * GB_EDGE layers (several periods of any sliding-window
		 * pattern) and skip the rest. */
		if (L > 2 * GB_EDGE && il == GB_EDGE && gb_uniform(b, GB_EDGE, L - GB_EDGE)) {
			il = L - GB_EDGE;
			ly = &m->layers[il];
		}
		f = b->lf[il];
		gb_layer(b, il);
		cur = gb_norm(b, inpL, f & LF_NORM_B);
		gb_qkv(b, il, cur, &q, &k, &v);
		if (f & LF_QK_NORM)
			q = gb_norm(b, q, false);
		q = gb_rope(b, q);
		if (f & LF_QK_NORM)
			k = gb_norm(b, k, false);
		k = gb_rope(b, k);
		if (a->q_scale)
			q = g_inpl(g, q, -1);
		cur = gb_attn(b, il, q, k, v, iswa);
		if (il == L - 1 && !a->late_out_ids) {
			cur = g_op(g, G_NEW, b->E, b->n_out, 1, 1, SRC(cur, b->out_ids));
			inpSA = g_op(g, G_NEW, b->E, b->n_out, 1, 1, SRC(inpSA, b->out_ids));
		}
		if ((f & LF_POST_ATTN) && !a->post_attn_ffn_norm)
			cur = gb_norm(b, cur, false);
		ffn_inp = g_inpl(g, cur, inpSA);
		cur = gb_norm(b, ffn_inp, false);
		if (ly->moe && il >= m->n_layer_dense_lead) {
			int32_t moe = gb_moe(b, il, cur);

			if (f & LF_SHEXP) {
				int32_t sh = gb_ffn(b, il, cur, (int64_t)m->n_ff_shexp, FFN_GLU, f & LF_SHEXP_GATE, true);

				moe = g_inpl(g, moe, sh);
			}
			cur = moe;
		} else {
			/* a described architecture has the gate its graph
			 * needs; another one, the gate its tensors have */
			bool gate = a->ffn != FFN_GLU_FUSED && (a->name[0] || (f & LF_GATE));

			cur = gb_ffn(b, il, cur, ly->n_ff, a->ffn, gate, false);
		}
		if (f & LF_POST_FFN)
			cur = gb_norm(b, cur, false);
		cur = a->res_first ? g_inpl(g, ffn_inp, cur) : g_inpl(g, cur, ffn_inp);
		inpL = cur;
	}
	if (a->late_out_ids) {
		g->t[cur].flags |= GT_OUTPUT;
		cur = g_op(g, G_NEW, b->E, b->n_out, 1, 1, SRC(cur, b->out_ids));
	}
	return cur;
}

/* deepseek2 with latent attention (src/models/deepseek2.cpp, is_mla) */
static int32_t gb_mla(struct gb *b)
{
	struct gsim *g = b->g;
	const struct model *m = b->m;
	uint32_t L = m->n_layer - m->n_layer_nextn;
	int64_t T = b->T, rope = m->n_rot, lora = m->kv_lora_rank;
	int32_t inpL = gb_embd(b), cur = inpL;

	for (uint32_t il = 0; il < L; il++) {
		const struct model_layer *ly = &m->layers[il];
		uint32_t f = b->lf[il];
		int64_t nh = ly->n_head, hk = m->head_k_mla, nope = hk > rope ? hk - rope : 1;
		int32_t inpSA = inpL, q, kvpe, kv, kpe, qn, qpe, Q, K, kc, vc, ffn_inp;

		gb_layer(b, il);
		cur = gb_norm(b, inpL, false);
		if (f & LF_Q_A) {
			q = gb_mm(b, MODEL_ROLE_Q_A, cur, m->q_lora_rank);
			q = gb_norm(b, q, false);
			q = gb_mm(b, MODEL_ROLE_Q_B, q, nh * hk);
		} else {
			q = gb_mm(b, MODEL_ROLE_Q, cur, nh * hk);
		}
		q = g_view(g, q, hk, nh, T, 1, false);
		kvpe = gb_mm(b, MODEL_ROLE_KV_A, cur, lora + rope);
		kv = g_view(g, kvpe, lora, T, 1, 1, true);
		kpe = g_view(g, kvpe, rope, 1, T, 1, true);
		kpe = gb_rope(b, kpe);
		kv = gb_norm(b, kv, false);
		qn = g_view(g, q, nope, nh, T, 1, true);
		qpe = g_view(g, q, rope, nh, T, 1, true);
		qpe = gb_rope(b, qpe);
		qn = g_view(g, qn, nope, T, nh, 1, true);
		qn = g_op(g, G_NEW, lora, T, nh, 1, SRC(0, qn));
		gb_w(b, qn, MODEL_ROLE_K_B, T);
		qn = g_view(g, qn, lora, nh, T, 1, true);
		Q = g_op(g, G_NEW, lora + rope, nh, T, 1, SRC(qn, qpe));
		kv = g_view(g, kv, lora, 1, T, 1, false);
		K = g_op(g, G_NEW, lora + rope, 1, T, 1, SRC(kv, kpe));
		/* build_attn with a K-only cache */
		g_expand(g, Q);
		g_expand(g, kv);
		g_expand(g, K);
		K = g_view(g, K, lora + rope, T, 1, 1, false);
		kc = b->n_stream > 1 ? g_view(g, 0, 1, 1, 1, 1, false) : 0;
		g_expand(g, g_store(g, SRC(K, b->c[0].k_idxs, kc)));
		kc = gb_cache_view(b, lora + rope, b->x->c->type_k, b->c[0].n_kv);
		vc = g_view(g, kc, 1, 1, 1, 1, false);
		if (vc)
			g->t[vc].size = g->t[kc].size;
		/* V is a view of the K cache, never transposed */
		cur = gb_mha(b, il, Q, kc, vc, b->c[0].mask, b->c[0].n_kv, lora, 1, m->head_v_mla, false);
		cur = gb_mm(b, MODEL_ROLE_O, cur, b->E);
		if (il == L - 1) {
			cur = g_op(g, G_NEW, b->E, b->n_out, 1, 1, SRC(cur, b->out_ids));
			inpSA = g_op(g, G_NEW, b->E, b->n_out, 1, 1, SRC(inpSA, b->out_ids));
		}
		ffn_inp = g_inpl(g, cur, inpSA);
		cur = gb_norm(b, ffn_inp, false);
		if (ly->moe && il >= m->n_layer_dense_lead) {
			int32_t moe = gb_moe(b, il, cur);

			if (f & LF_SHEXP)
				moe = g_inpl(g, moe, gb_ffn(b, il, cur, (int64_t)m->n_ff_shexp, FFN_GLU, true, true));
			cur = moe;
		} else {
			cur = gb_ffn(b, il, cur, ly->n_ff, FFN_GLU, true, false);
		}
		cur = g_inpl(g, cur, ffn_inp);
		inpL = cur;
	}
	return cur;
}

/* lfm2: short convolution blocks and attention blocks
 * (src/models/lfm2.cpp, llama-graph.cpp build_rs) */
static int32_t gb_lfm2(struct gb *b)
{
	struct gsim *g = b->g;
	const struct model *m = b->m;
	uint32_t L = m->n_layer - m->n_layer_nextn;
	int64_t E = b->E, nst = b->T / b->n_seqs, ns = b->n_seqs;
	int64_t d_conv = m->shortconv_l_cache > 1 ? m->shortconv_l_cache - 1 : 1;
	int32_t cur = gb_embd(b);

	for (uint32_t il = 0; il < L; il++) {
		const struct model_layer *ly = &m->layers[il];
		int32_t prev = cur;

		gb_layer(b, il);
		cur = gb_norm(b, cur, false);
		if (ly->recurrent) {
			int32_t bcx, bb, cc, xx, bx, states, st, conv, out;

			cur = g_view(g, cur, E, nst, ns, 1, false);
			bcx = gb_mm(b, MODEL_ROLE_CONV_IN, cur, 3 * E);
			bb = g_view(g, bcx, E, nst, ns, 1, true);
			cc = g_view(g, bcx, E, nst, ns, 1, true);
			xx = g_view(g, bcx, E, nst, ns, 1, true);
			bx = g_inpl(g, bb, xx);
			bx = g_view(g, bx, nst, E, ns, 1, true);
			/* build_rs: clear a state, fetch the sequences' states,
			 * copy the others */
			states = g_view(g, 0, 1, 1, 1, 1, false);
			g_expand(g, g_store(g, SRC(g_view(g, states, 1, 1, 1, 1, false))));
			st = g_op(g, G_NEW, (int64_t)ly->n_embd_r, ns, 1, 1, SRC(states, b->s_copy_main));
			g_expand(g, st);
			conv = g_op(g, G_NEW, (int64_t)ly->n_embd_r, 0, 1, 1, SRC(states, b->s_copy_extra));
			g_expand(g, g_store(g, SRC(conv, g_view(g, 0, 1, 1, 1, 1, false))));
			conv = g_view(g, st, d_conv, E, ns, 1, false);
			bx = g_op(g, G_NEW, d_conv + nst, E, ns, 1, SRC(conv, bx));
			g_expand(g, g_store(g, SRC(g_view(g, bx, d_conv, E, ns, 1, true), g_view(g, 0, 1, 1, 1, 1, false))));
			out = g_op(g, G_NEW, E, nst, ns, 1, SRC(bx, 0));
			/* ssm_conv reads the block's F32 kernel */
			gb_wtag(b, out, gb_be(b, il), PAD(4 * (uint64_t)(d_conv + 1) * (uint64_t)E, 128),
				g_nrows(g, out), true, 0);
			out = g_add(g, G_INPL, 4, g->t[cc].ne, SRC(cc, out));
			out = gb_mm(b, MODEL_ROLE_CONV_OUT, out, E);
			cur = g_view(g, out, E, b->T, 1, 1, false);
		} else {
			int32_t q, k, v;

			gb_qkv(b, il, cur, &q, &k, &v);
			q = gb_norm(b, q, false);
			k = gb_norm(b, k, false);
			q = gb_rope(b, q);
			k = gb_rope(b, k);
			cur = gb_attn(b, il, q, k, v, false);
		}
		if (il == L - 1) {
			cur = g_op(g, G_NEW, E, b->n_out, 1, 1, SRC(cur, b->out_ids));
			prev = g_op(g, G_NEW, E, b->n_out, 1, 1, SRC(prev, b->out_ids));
		}
		cur = g_inpl(g, prev, cur);
		int32_t ffn = gb_norm(b, cur, false);

		ffn = ly->moe && il >= m->n_layer_dense_lead ? gb_moe(b, il, ffn)
							     : gb_ffn(b, il, ffn, ly->n_ff, FFN_GLU, true, false);
		cur = g_inpl(g, cur, ffn);
	}
	return cur;
}

static const struct garch *garch_find(const struct model *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(garch_table); i++)
		if (!strcmp(garch_table[i].name, m->arch))
			return &garch_table[i];
	return &garch_plain;
}

/* Which graph describes m, GF_NONE when llmem does not know it well enough
 * to simulate (recurrent layers other than LFM2's, encoders, MLA without
 * the absorbed form, a layer without a cache). */
static uint8_t g_family(const struct model *m, const struct garch *a)
{
	uint32_t L = m->n_layer - m->n_layer_nextn;

	if (m->no_memory || L == 0)
		return GF_NONE;
	if (a->family == GF_MLA)
		return m->mla && m->kv_lora_rank && m->head_k_mla > m->n_rot && m->head_v_mla ? GF_MLA : GF_NONE;
	if (a->family == GF_LFM2 && m->shortconv_l_cache < 2)
		return GF_NONE;
	if (m->mla)
		return GF_NONE;
	for (uint32_t il = 0; il < L; il++) {
		const struct model_layer *ly = &m->layers[il];

		if (ly->recurrent ? a->family != GF_LFM2 : !ly->has_kv || !ly->n_head_kv || !ly->head_k)
			return GF_NONE;
		if (ly->moe && (!m->n_expert_used || !m->n_ff_exp))
			return GF_NONE;
	}
	return a->family;
}

static uint32_t layer_features(const char *name, uint32_t n_layer, uint32_t *il)
{
	char *end;
	unsigned long v;
	size_t n;

	if (strncmp(name, "blk.", 4) != 0)
		return 0;
	v = strtoul(name + 4, &end, 10);
	if (end == name + 4 || *end != '.' || v >= n_layer)
		return 0;
	*il = (uint32_t)v;
	n = strlen(end + 1);
	for (size_t i = 0; i < ARRAY_SIZE(layer_tensors); i++)
		if (layer_tensors[i].len == n && !memcmp(end + 1, layer_tensors[i].suffix, n))
			return layer_tensors[i].flag;
	return 0;
}

/* The allocator replayed on the graph of T tokens with n_out outputs:
 * *ret is the compute buffer. gpu: the graph runs on one GPU and the CPU
 * (the token embeddings, and whatever layers, weights or caches stay in
 * host memory): the scheduler's assignment and splits are replayed first
 * (g_sched; ggml-backend.cpp: inputs are assigned to the CPU, get_rows
 * of a host weight runs there, the GPU gets copies of what its ops read)
 * and ggml-alloc runs over its graph copy once a buffer: *ret is the
 * GPU's, *ret_host the host's (CUDA_Host). false when the architecture
 * is not simulated (or memory ran out). */
/* What sim_compute reads of the model's tensors, once an estimate: the
 * per-layer LF_* features, and each block's weights by role as a CUDA
 * buffer holds them (the size of their copies), rope_freqs and the
 * output's. */
struct sim_w {
	uint32_t *lf;
	uint64_t *wsize;
	uint64_t rope_bytes, out_w;
};

static void sim_w_release(struct sim_w *w)
{
	free(w->lf);
	free(w->wsize);
	memset(w, 0, sizeof(*w));
}

/* 0, or -ENOMEM */
static int sim_w_init(const struct model *m, struct sim_w *w)
{
	memset(w, 0, sizeof(*w));
	w->lf = calloc(m->n_layer ? m->n_layer : 1, sizeof(*w->lf));
	w->wsize = calloc((size_t)(m->n_layer ? m->n_layer : 1) * MODEL_ROLE_COUNT, sizeof(*w->wsize));
	if (!w->lf || !w->wsize) {
		sim_w_release(w);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct model_tensor *t = &m->tensors[i];
		uint64_t sz = gpu_alloc(t->type, t->ne[0], t->nbytes);
		uint32_t il = 0, f = layer_features(t->name, m->n_layer, &il);

		w->lf[il] |= f;
		if (t->skip)
			continue;
		if (t->layer >= 0 && (uint32_t)t->layer < m->n_layer && t->role && t->role < MODEL_ROLE_COUNT)
			w->wsize[(size_t)t->layer * MODEL_ROLE_COUNT + t->role] = sz;
		else if (!strcmp(t->name, "rope_freqs.weight") || !strcmp(t->name, "rope_factors_short.weight") ||
			 !strcmp(t->name, "rope_factors_long.weight"))
			w->rope_bytes = sz; /* phi3's LongRoPE factors: one of the two */
		else if (!strcmp(t->name, "output.weight") ||
			 (!w->out_w && m->tied_output && !strcmp(t->name, "token_embd.weight")))
			w->out_w = sz;
	}
	return 0;
}

static bool sim_compute(const struct ctx *x, const struct sim_w *w, uint64_t T, uint64_t n_out, bool gpu,
			uint64_t *ret, uint64_t *ret_host, bool *fa_mismatch)
{
	const struct model *m = x->m;
	const struct est_result *r = x->r;
	const struct garch *a = garch_find(m);
	uint8_t fam = g_family(m, a);
	struct gsim g;
	struct gb b;
	int32_t cur;
	bool ok = false, sched = gpu;

	if (fam == GF_NONE || T == 0 || T > (1u << 24) || n_out == 0 || n_out > T)
		return false;
	memset(&b, 0, sizeof(b));
	b.rope_bytes = sched ? w->rope_bytes : 0;
	memset(&g, 0, sizeof(g));
	if (g_add(&g, G_LEAF, 4, NE(1, 1, 1, 1), NULL, 0) != 0 || g.fail)
		goto out;
	g.t[0].flags = GT_EXT;
	b.sched = sched;
	b.wsize = sched ? w->wsize : NULL;
	b.g = &g;
	b.m = m;
	b.a = a;
	b.lf = w->lf;
	b.T = (int64_t)T;
	b.n_out = (int64_t)n_out;
	b.n_seqs = r->n_seq ? r->n_seq : 1;
	b.n_stream = r->kv_unified ? 1 : b.n_seqs;
	b.E = (int64_t)m->n_embd;
	b.fa = r->fa_graph;
	b.v_trans = !r->fa_kv; /* the cache's layout: made before the probe */
	b.cache_es = (uint8_t)(x->c->type_k == GGML_TYPE_F32 ? 4 : 2);
	b.gpu = gpu;
	b.x = x;
	for (uint32_t il = 0; il < m->n_layer; il++) {
		int64_t v = (int64_t)m->layers[il].head_v * m->layers[il].n_head_kv;

		if (m->layers[il].has_kv && v > b.v_max)
			b.v_max = v;
	}
	if (b.T % b.n_seqs)
		goto out;
	b.inp_pos = g_input(&g, 4, b.T, 1, 1, 1);
	gb_cache_inputs(&b, r, x->c, fam == GF_MLA);
	b.out_ids = g_input(&g, 4, b.n_out, 1, 1, 1);
	if (fam == GF_LFM2) {
		int32_t s_copy = g_input(&g, 4, b.n_seqs, 1, 1, 1);

		b.s_copy_main = g_view(&g, s_copy, b.n_seqs, 1, 1, 1, false);
		b.s_copy_extra = g_view(&g, s_copy, 0, 1, 1, 1, false);
	}
	cur = fam == GF_MLA ? gb_mla(&b) : fam == GF_LFM2 ? gb_lfm2(&b) : gb_std(&b, r->n_swa_layers > 0);
	/* the output norm (t_embd) and the logits are graph outputs, with
	 * the output layer's weights */
	gb_layer(&b, m->n_layer);
	cur = gb_norm(&b, cur, false);
	g.t[cur].flags |= GT_OUTPUT;
	cur = gb_mm(&b, MODEL_ROLE_NONE, cur, (int64_t)m->n_vocab);
	g.t[cur].flags |= GT_OUTPUT;
	gb_wtag(&b, cur, gb_be(&b, m->n_layer), w->out_w, b.n_out, true, 0);
	g_expand(&g, cur);
	if (sched && !g.fail) {
		g.sched = true;
		g.fb[BE_GPU].align = 128; /* the CUDA buffer's */
		g.fb[BE_CPU].align = G_ALIGN;
		g_sched(&g);
	}
	if (!g.fail) {
		*ret = ga_run(&g);
		ok = !g.fail;
	}
	if (ok && fa_mismatch)
		*fa_mismatch = g.fa_mismatch;
	if (ok && ret_host && sched) {
		/* the host's buffer (CUDA_Host) over the same graph copy: the
		 * inputs, what runs on the CPU (get_rows of the embeddings,
		 * set_rows into host caches, a host layer's ops under 32
		 * rows) and the copies its splits take from the GPU; plus the
		 * embeddings input, which the graph keeps but no op reads */
		*ret_host = g.fb[BE_CPU].max + g_align(4 * (uint64_t)b.E * (uint64_t)b.T);
	}
out:
	gsim_free(&g);
	return ok;
}

/* ---- compute and output buffers (4.1-4.4) ---- */

/* Bytes per reserved token of the largest phase of one layer's graph
 * (memory-model.md 4.2: closed forms of the allocator's high-water mark,
 * checked against llama-server's logged compute buffers). mask is the
 * KQ-mask bytes per token of every cache the graph reads. Used where the
 * graph is not replayed: with GPUs (the scheduler splits the graph
 * between backends) and for architectures whose graph is not described
 * above (recurrent layers other than LFM2's, encoders). */
static uint64_t layer_peak(const struct ctx *x, const struct model_layer *ly, uint64_t n_kv,
			   uint64_t mask, uint64_t v_max)
{
	const struct model *m = x->m;
	const struct est_result *r = x->r;
	uint64_t E = m->n_embd, att = 0, ffn, inp, nkv_embd;

	inp = 20 + 8 * (r->fa_kv ? 1 : v_max);
	nkv_embd = (uint64_t)ly->head_k * ly->n_head_kv;
	if (ly->has_kv && ly->n_head_kv) {
		if (r->fa_kv)
			att = 16 * E + 4 * (E > 2 * nkv_embd ? E : 2 * nkv_embd) + mask + inp;
		else
			att = 4 * (uint64_t)ly->n_head * n_kv + mask + inp + 20 * E;
		if (m->mla && m->kv_lora_rank) {
			/* latent attention: the absorbed query, the query
			 * with its rope part, and the latent output, F32 per
			 * head (deepseek2 graph) */
			uint64_t mla = 4 * (uint64_t)ly->n_head * (3ull * m->kv_lora_rank + m->n_rot) +
				       144 + mask + inp;

			if (mla > att)
				att = mla;
		}
	}
	if (ly->moe) {
		/* up, gate and their product per routed expert, the experts'
		 * outputs before they are weighed and summed, plus the shared
		 * experts' FFN */
		uint64_t k = m->n_expert_used;

		ffn = 12 * m->n_ff_exp * k + 4 * E * k + 4 * E + mask + inp;
		if (m->n_ff_shexp)
			ffn += 12 * m->n_ff_shexp;
	} else {
		ffn = 12 * (uint64_t)ly->n_ff + 16 * E + mask + inp;
	}
	return att > ffn ? att : ffn;
}

static void compute_buffers(struct ctx *x)
{
	const struct model *m = x->m;
	struct est_result *r = x->r;
	uint64_t T = r->n_reserve_tokens, n_out = r->n_outputs_max < T ? r->n_outputs_max : T;
	uint64_t peak[EST_MAX_DEVICES + 1] = { 0 }, out_b, E = m->n_embd;

	uint64_t v_max = 0, mask;

	if (m->no_memory)
		n_out = T;
	for (uint32_t il = 0; il < m->n_layer; il++) {
		uint64_t v = (uint64_t)m->layers[il].head_v * m->layers[il].n_head_kv;

		if (m->layers[il].has_kv && v > v_max)
			v_max = v;
	}
	/* every cache's mask is a graph input: F16 with flash attention */
	mask = ((uint64_t)r->kv_size + (r->n_swa_layers ? r->kv_size_swa : 0)) * (r->fa_kv ? 2 : 4);
	for (uint32_t il = 0; il < m->n_layer - m->n_layer_nextn; il++) {
		const struct model_layer *ly = &m->layers[il];
		uint64_t n_kv = ly->swa ? r->kv_size_swa : r->kv_size;
		int dev = x->c->no_kv_offload ? HOST : x->layer_dev[il];
		uint64_t b = layer_peak(x, ly, n_kv, mask, v_max);

		if (b > peak[dev])
			peak[dev] = b;
		if (dev != HOST) {
			/* the host keeps the graph inputs (4.3) */
			uint64_t hin = 4 * E + n_kv * (r->fa_kv ? 2 : 4) + 28;

			if (hin > peak[HOST])
				peak[HOST] = hin;
		}
	}
	/* logits: F32 [n_vocab, n_out], on the output layer's device */
	out_b = (4 * m->n_vocab * n_out + (n_out < T ? 6 : 8) * E * T + 4 * T) / T;
	{
		int od = x->layer_dev[m->n_layer];

		if (out_b > peak[od])
			peak[od] = out_b;
	}
	for (size_t d = 0; d < r->n_usage; d++)
		r->usage[d].compute = PAD(T * peak[d], 32);
	snprintf(r->rule_compute, sizeof(r->rule_compute),
		 "%llu reserved tokens x the largest of attention (%s), FFN and logits per token",
		 (unsigned long long)T, r->fa_kv ? "flash" : "KQ matrix");
	/* the allocator replayed on the graphs llama.cpp reserves, a prompt
	 * batch and a one-token-per-sequence batch (the buffer only grows;
	 * llama-context.cpp sched_reserve): on the CPU alone, or on one GPU
	 * holding every layer, the output and the caches */
	{
		uint64_t pp = 0, tg = 0, hpp = 0, htg = 0, ns = r->n_seq ? r->n_seq : 1;
		int gd = x->layer_dev[m->n_layer] != HOST ? x->layer_dev[m->n_layer] : 1;
		bool one_gpu = x->c->n_devices > 0 && !x->host_op_weights && !x->c->no_kv_offload;
		bool single = x->c->n_devices > 0;
		struct sim_w w;
		bool have_w = sim_w_init(m, &w) == 0; /* else the closed forms above */

		for (uint32_t il = 0; il <= m->n_layer; il++) {
			one_gpu = one_gpu && x->layer_dev[il] == gd;
			single = single && (x->layer_dev[il] == gd || x->layer_dev[il] == HOST);
		}
		/* -fa auto on a GPU: llama.cpp reserves a graph of one token a
		 * sequence and turns flash attention off if an attention node
		 * lands on another device than its layer. Under 32 rows
		 * nothing is offloaded, so an attention follows its layer's
		 * weights and cache unless the cache is elsewhere: -nkvo (LFM2's
		 * attention then stays on the CPU, its layer on the GPU). Only
		 * then is the probe replayed (it costs a graph). */
		if (have_w && single && r->fa_kv && x->c->flash_attn == EST_FA_AUTO && x->c->no_kv_offload) {
			uint64_t a = 0, h = 0;
			bool mism = false;

			if (sim_compute(x, &w, ns, ns, true, &a, &h, &mism) && mism)
				r->fa_graph = false;
		}
		if (have_w && x->c->n_devices == 0 && sim_compute(x, &w, T, n_out, false, &pp, NULL, NULL) &&
		    sim_compute(x, &w, ns, ns, false, &tg, NULL, NULL)) {
			r->usage[HOST].compute = pp > tg ? pp : tg;
			snprintf(r->rule_compute, sizeof(r->rule_compute),
				 "ggml-alloc replayed on the %s graph of %llu tokens, %llu outputs (%s attention)",
				 m->arch, (unsigned long long)T, (unsigned long long)n_out,
				 r->fa_kv ? "flash" : "KQ matrix");
		} else if (have_w && one_gpu && sim_compute(x, &w, T, n_out, true, &pp, &hpp, NULL) &&
			   sim_compute(x, &w, ns, ns, true, &tg, &htg, NULL)) {
			r->usage[gd].compute = PAD(pp > tg ? pp : tg, 128);
			r->usage[HOST].compute = hpp > htg ? hpp : htg;
			snprintf(r->rule_compute, sizeof(r->rule_compute),
				 "ggml-alloc replayed on the %s graph of %llu tokens (%s attention), on GPU %d; "
				 "the host holds its inputs",
				 m->arch, (unsigned long long)T, r->fa_graph ? "flash" : "KQ matrix", gd - 1);
		} else if (have_w && single && T >= 32 && sim_compute(x, &w, T, n_out, true, &pp, &hpp, NULL)) {
			/* layers, tensors or caches left on the host, one GPU:
			 * the scheduler splits the prompt batch's graph (with op
			 * offload most of it runs on the GPU, each host weight
			 * copied in at the start of its op's split, the host
			 * caches' views copied in for attention, what set_rows
			 * writes to them copied out); the host computes its
			 * layers for a batch under 32 rows (one token per
			 * sequence), taken from the closed form */
			uint64_t htg_cpu = PAD(ns * peak[HOST], 32);

			r->usage[gd].compute = PAD(pp, 128);
			r->usage[HOST].compute = hpp > htg_cpu ? hpp : htg_cpu;
			snprintf(r->rule_compute, sizeof(r->rule_compute),
				 "ggml-alloc replayed on the %s graph of %llu tokens on GPU %d and the host, "
				 "split as the scheduler does%s",
				 m->arch, (unsigned long long)T, gd - 1,
				 r->fa_graph == r->fa_kv ? "" : ", -fa auto: off");
		}
		sim_w_release(&w);
	}

	/* the output buffer: logits for n_seq outputs (llama-context.cpp
	 * output_reserve), in host memory */
	r->usage[HOST].output = 4 * (m->n_vocab + (x->c->embeddings ? m->n_embd : 0)) * (r->n_seq ? r->n_seq : 1);
	snprintf(r->rule_output, sizeof(r->rule_output), "4 B x (%llu vocabulary%s) x %u sequence(s)",
		 (unsigned long long)m->n_vocab, x->c->embeddings ? " + embedding" : "", r->n_seq);
}

/* ---- the projector's compute buffer (tools/mtmd/clip.cpp) ----
 *
 * clip.cpp reserves its compute buffer for a graph of the warmup image
 * (the largest it expects) when the projector loads: ggml-alloc over the
 * vision tower's graph, as for the text model. Modelled for the SigLIP
 * tower with Gemma 3's projector or Idefics3's pixel shuffle
 * (models/siglip.cpp, clip_graph::build_vit, build_attn, build_ffn,
 * build_patch_merge_permute; Idefics3 encodes an image tile by tile, each
 * of the warmup size); other projector types are not (r->projector_why
 * says so). */

struct clip_hp {
	int64_t img, patch, E, F, H, L, text;
	int64_t scale;             /* idefics3: the pixel shuffle's factor; 0: Gemma 3 */
	uint8_t es_patch, es_proj; /* the patch kernel's and the projection's element size */
	bool pre_ln, post_ln, patch_bias;
};

static bool clip_u32(const struct gguf_file *f, const char *key, int64_t *ret)
{
	int64_t i = gguf_kv_find(f, key);
	uint64_t v;

	if (i < 0 || gguf_kv_get_uint(f, (uint64_t)i, &v) < 0 || v == 0 || v > (1u << 20))
		return false;
	*ret = (int64_t)v;
	return true;
}

static const struct gguf_tensor *clip_tensor(const struct gguf_file *f, const char *name)
{
	int64_t i = gguf_tensor_find(f, name);

	return i < 0 ? NULL : &f->tensors[i];
}

/* the element size of a tensor kept in its own type by a copy (F32, F16,
 * BF16: 4 or 2; 0: a quantized type, not modelled) */
static uint8_t clip_es(const struct gguf_tensor *t)
{
	if (!t)
		return 0;
	return t->type == GGML_TYPE_F32 ? 4 : t->type == GGML_TYPE_F16 || t->type == GGML_TYPE_BF16 ? 2 : 0;
}

/* The hyperparameters of a Gemma 3 or Idefics3 (SmolVLM) projector; false
 * (and why) when the file is another kind or its sizes are out of reach. */
static bool clip_siglip(const struct gguf_file *f, struct clip_hp *h, const char **why)
{
	struct gguf_str pt = kv_str(f, "clip.projector_type");
	const struct gguf_tensor *pe, *proj;
	bool idefics3 = str_is(pt, "idefics3");

	*why = "its compute buffer is not counted for this projector type (Gemma 3's and Idefics3's are "
	       "modelled)";
	if (!idefics3 && !str_is(pt, "gemma3"))
		return false;
	*why = "its compute buffer is not counted: the projector's sizes are missing or out of range";
	memset(h, 0, sizeof(*h));
	if (!clip_u32(f, "clip.vision.image_size", &h->img) || !clip_u32(f, "clip.vision.patch_size", &h->patch) ||
	    !clip_u32(f, "clip.vision.embedding_length", &h->E) ||
	    !clip_u32(f, "clip.vision.feed_forward_length", &h->F) ||
	    !clip_u32(f, "clip.vision.attention.head_count", &h->H) ||
	    !clip_u32(f, "clip.vision.block_count", &h->L))
		return false;
	pe = clip_tensor(f, "v.patch_embd.weight");
	proj = clip_tensor(f, idefics3 ? "mm.model.fc.weight" : "mm.input_projection.weight");
	/* idefics3: the pixel shuffle's factor (build_patch_merge_permute
	 * asserts more than 1) */
	if (idefics3 && (!clip_u32(f, "clip.vision.projector.scale_factor", &h->scale) || h->scale < 2 ||
			 h->scale > 64))
		return false;
	/* clip.cpp: a square image of whole patches, pooled 4x4 (Gemma 3) or
	 * shuffled by the factor without padding (Idefics3's tiles) */
	if (!pe || !proj || h->img % h->patch || (h->img / h->patch) % (idefics3 ? h->scale : 4) ||
	    h->E % h->H || h->img > 16384 || proj->n_dims < 2)
		return false;
	if (idefics3 ? proj->ne[0] != h->E * h->scale * h->scale : proj->ne[1] != h->E)
		return false;
	h->text = idefics3 ? proj->ne[1] : proj->ne[0];
	if (h->text <= 0 || h->text > (1 << 20))
		return false;
	h->es_patch = clip_es(pe);
	h->es_proj = clip_es(proj);
	if (!h->es_patch || !h->es_proj) {
		*why = "its compute buffer is not counted: a quantized patch or projection kernel is not modelled";
		return false;
	}
	h->pre_ln = clip_tensor(f, "v.pre_ln.weight") != NULL;
	h->post_ln = clip_tensor(f, "v.post_ln.weight") != NULL;
	h->patch_bias = clip_tensor(f, "v.patch_embd.bias") != NULL;
	*why = NULL;
	return true;
}

/* ggml_norm, then the weight and bias (build_norm, NORM_TYPE_NORMAL) */
static int32_t clip_norm(struct gsim *g, int32_t x)
{
	const int64_t *n = g->t[x].ne;
	int32_t t = g_op(g, G_NEW, n[0], n[1], n[2], n[3], SRC(x));

	t = g_inpl(g, t, 0);
	return g_inpl(g, t, 0);
}

/* a weight times x plus the bias: [rows, x's columns] */
static int32_t clip_linear(struct gsim *g, int32_t x, int64_t rows)
{
	int32_t t = g_op(g, G_NEW, rows, g->t[x].ne[1], 1, 1, SRC(0, x));

	return g_inpl(g, t, 0);
}

/* The warmup graph's compute buffer (ggml-alloc's high-water mark, with
 * align the buffer's alignment); 0 when the graph could not be built. */
static uint64_t clip_compute(const struct clip_hp *h, bool fa, uint64_t align)
{
	struct gsim g;
	int64_t P = h->patch, pp = h->img / h->patch, N = pp * pp, E = h->E, d = h->E / h->H;
	int32_t cur, inpL, x;
	uint64_t ret = 0;

	memset(&g, 0, sizeof(g));
	if (g_add(&g, G_LEAF, 4, NE(1, 1, 1, 1), NULL, 0) != 0 || g.fail)
		goto out;
	g.t[0].flags = GT_EXT;
	/* build_inp: ggml_conv_2d = im2col (in the kernel's type), a matrix
	 * product, a permuted copy; then [n_embd, n_patches] */
	x = g_input(&g, 4, h->img, h->img, 3, 1);
	x = g_add(&g, G_NEW, h->es_patch, NE(P * P * 3, pp, pp, 1), SRC(0, x));
	x = g_view(&g, x, P * P * 3, N, 1, 1, false);
	cur = g_op(&g, G_NEW, N, E, 1, 1, SRC(x, g_view(&g, 0, P * P * 3, E, 1, 1, false)));
	cur = g_view(&g, cur, pp, pp, E, 1, false);
	cur = g_view(&g, cur, pp, pp, 1, E, true);
	cur = g_op(&g, G_NEW, pp, pp, 1, E, SRC(cur));
	cur = g_view(&g, cur, N, E, 1, 1, false);
	cur = g_view(&g, cur, E, N, 1, 1, true);
	cur = g_op(&g, G_NEW, E, N, 1, 1, SRC(cur));
	if (h->patch_bias)
		cur = g_inpl(&g, cur, 0);
	/* build_vit: the learned position embeddings, then the layers */
	cur = g_inpl(&g, cur, 0);
	inpL = g_view(&g, cur, E, N, 1, 1, false);
	if (h->pre_ln)
		inpL = clip_norm(&g, inpL);
	for (int64_t il = 0; il < h->L && !g.fail; il++) {
		int32_t q, k, v;

		cur = clip_norm(&g, inpL);
		q = g_view(&g, clip_linear(&g, cur, E), d, h->H, N, 1, false);
		k = g_view(&g, clip_linear(&g, cur, E), d, h->H, N, 1, false);
		v = g_view(&g, clip_linear(&g, cur, E), d, h->H, N, 1, false);
		/* build_attn: ggml_build_forward_order keeps Q, K and V ahead
		 * of the attention */
		g_expand(&g, q);
		g_expand(&g, k);
		g_expand(&g, v);
		q = g_view(&g, q, d, N, h->H, 1, true);
		k = g_view(&g, k, d, N, h->H, 1, true);
		if (fa) {
			v = g_view(&g, v, d, N, h->H, 1, true);
			k = g_add(&g, G_NEW, 2, NE(d, N, h->H, 1), SRC(k));
			v = g_add(&g, G_NEW, 2, NE(d, N, h->H, 1), SRC(v));
			cur = g_op(&g, G_NEW, d, h->H, N, 1, SRC(q, k, v));
			cur = g_view(&g, cur, E, N, 1, 1, false);
		} else {
			int32_t kq;

			v = g_view(&g, v, N, d, h->H, 1, true);
			v = g_op(&g, G_NEW, N, d, h->H, 1, SRC(v));
			kq = g_op(&g, G_NEW, N, N, h->H, 1, SRC(k, q));
			kq = g_inpl(&g, kq, -1);
			cur = g_op(&g, G_NEW, d, N, h->H, 1, SRC(v, kq));
			cur = g_view(&g, cur, d, h->H, N, 1, true);
			cur = g_op(&g, G_NEW, E, N, 1, 1, SRC(cur));
		}
		cur = clip_linear(&g, cur, E);
		cur = g_inpl(&g, cur, inpL);
		inpL = cur;
		cur = clip_norm(&g, cur);
		cur = clip_linear(&g, cur, h->F);
		cur = g_inpl(&g, cur, -1); /* GELU */
		cur = clip_linear(&g, cur, E);
		cur = g_inpl(&g, inpL, cur);
		inpL = cur;
	}
	if (h->post_ln)
		inpL = clip_norm(&g, inpL);
	cur = g_view(&g, inpL, E, N, 1, 1, false);
	if (h->scale) {
		/* Idefics3: build_patch_merge_permute (a square grid that
		 * divides: no pad), then the projection */
		int64_t s = h->scale, w = pp / s;

		cur = g_view(&g, cur, E, pp, pp, 1, false);
		cur = g_view(&g, cur, E * s, w, pp, 1, false);
		cur = g_view(&g, cur, E * s, pp, w, 1, true);
		cur = g_op(&g, G_NEW, E * s * s, w, w, 1, SRC(cur));
		cur = g_view(&g, cur, E * s * s, w, w, 1, true);
		cur = g_op(&g, G_NEW, E * s * s, w * w, 1, 1, SRC(cur));
		cur = g_op(&g, G_NEW, h->text, w * w, 1, 1, SRC(0, cur));
		goto done;
	}
	/* Gemma 3: average-pool the patch grid 4x4, RMS-normalize, project
	 * through the transposed projection (a copy in its type) */
	cur = g_view(&g, cur, N, E, 1, 1, true);
	cur = g_op(&g, G_NEW, pp, pp, E, 1, SRC(cur));
	cur = g_op(&g, G_NEW, pp / 4, pp / 4, E, 1, SRC(cur));
	cur = g_view(&g, cur, (pp / 4) * (pp / 4), E, 1, 1, false);
	cur = g_view(&g, cur, E, (pp / 4) * (pp / 4), 1, 1, true);
	cur = g_op(&g, G_NEW, E, (pp / 4) * (pp / 4), 1, 1, SRC(cur));
	cur = g_inpl(&g, cur, -1);
	cur = g_inpl(&g, cur, 0);
	x = g_add(&g, G_NEW, h->es_proj, NE(E, h->text, 1, 1), SRC(g_view(&g, 0, E, h->text, 1, 1, true)));
	cur = g_op(&g, G_NEW, h->text, (pp / 4) * (pp / 4), 1, 1, SRC(x, cur));
done:
	g_expand(&g, cur);
	if (g.fail)
		goto out;
	g.fb[0].align = align;
	ret = ga_run(&g);
	if (g.fail)
		ret = 0;
out:
	gsim_free(&g);
	return ret;
}

/* --mmproj: clip.cpp (tools/mtmd) loads the projector's tensors into one
 * buffer of its backend's default type: the first GPU unless
 * --no-mmproj-offload (ggml_backend_init_by_type(GPU)), else the host,
 * read from the file (anonymous memory). Each tensor takes its size
 * padded to the buffer's alignment (CPU: 32; CUDA: 128, quantized rows
 * padded, as gpu_alloc()). Beside them, the compute buffer it reserves
 * for its warmup image, where the vision graph is modelled (clip_compute). */
static int projector(const struct est_config *c, struct est_result *r, struct diag *d)
{
	const struct gguf_file *f = c->mmproj;
	bool gpu = c->n_devices > 0 && !c->mmproj_cpu;
	struct clip_hp h;
	uint64_t sum = 0;

	if (!f)
		return 0;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		uint64_t b = gpu ? gpu_alloc(t->type, t->ne[0], t->nbytes) : PAD(t->nbytes, 32);

		if (!ck_add_u64(sum, b, &sum))
			return diag_set(d, -EOVERFLOW, DIAG_NO_OFFSET, "the projector's size overflows");
	}
	r->usage[gpu ? 1 : HOST].projector = sum;
	if (!gpu) {
		r->rss.anon_loaded += sum;
		r->rss.anon_running += sum;
	}
	/* clip.cpp's flash attention follows -fa (auto: on where the backend
	 * runs it, which the CPU and CUDA do for SigLIP's head sizes); the
	 * buffer is reserved, written only when an image is encoded */
	if (clip_siglip(f, &h, &r->projector_why)) {
		uint64_t cb = clip_compute(&h, c->flash_attn != EST_FA_OFF, gpu ? 128 : G_ALIGN);

		if (!cb)
			r->projector_why = "its compute buffer is not counted: the vision graph is too large to model";
		r->usage[gpu ? 1 : HOST].projector_compute = cb;
	}
	return 0;
}

/* -md: the draft model, estimated as llama-server configures its context
 * (common_base_params_to_speculative: the target's options, with the
 * draft's -ngld and cache types, no -ot or experts on the CPU, no
 * embeddings). Its buffers count on each device; its overhead does not:
 * it shares the process's CUDA context and runtime. Resident memory: its
 * mapped span, copied weights, caches and (without a GPU) output buffer;
 * its tokenizer's heap is not counted. */
static bool output_pinned(const struct est_config *c, const struct est_result *r);

static int draft(const struct est_config *c, struct est_result *r, struct diag *d)
{
	struct est_config cd;
	struct est_result *rd;
	int e;

	if (!c->draft)
		return 0;
	cd = *c;
	/* speculative.cpp: the draft's context is the target's n_ctx */
	cd.n_ctx = r->n_ctx;
	cd.draft = NULL;
	cd.mmproj = NULL;
	cd.n_loras = 0; /* common_init applies the adapters to the target only */
	cd.n_gpu_layers = c->n_gpu_layers_draft;
	cd.type_k = c->type_k_draft;
	cd.type_v = c->type_v_draft;
	cd.n_ot = 0;
	cd.cpu_moe = false;
	cd.n_cpu_moe = cd.n_cpu_ffn = 0;
	cd.embeddings = false;
	cd.pooling = EST_POOL_UNSET;
	rd = malloc(sizeof(*rd));
	if (!rd)
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	e = est_estimate(c->draft, &cd, rd, d);
	if (e < 0) {
		char msg[sizeof(d->msg)];

		snprintf(msg, sizeof(msg), "%s", d->msg);
		free(rd);
		/* not -EINVAL, which the solver reads as "this candidate cannot
		 * be", but an error in the options given */
		return diag_set(d, e == -EINVAL ? -EDOM : e, DIAG_NO_OFFSET, "the draft model (-md): %s", msg);
	}
	for (size_t i = 0; i < r->n_usage && i < rd->n_usage; i++) {
		const struct est_usage *u = &rd->usage[i];
		uint64_t t = u->weights;

		if (!ck_add_u64(t, u->kv, &t) || !ck_add_u64(t, u->recurrent, &t) ||
		    !ck_add_u64(t, u->compute, &t) || !ck_add_u64(t, u->output, &t)) {
			free(rd);
			return diag_set(d, -EOVERFLOW, DIAG_NO_OFFSET, "the draft model's size overflows");
		}
		r->usage[i].draft = t;
	}
	{
		const struct est_usage *h = &rd->usage[HOST];
		uint64_t anon = (h->weights - h->weights_mapped) + h->kv + h->recurrent;

		r->rss.file += h->weights_mapped;
		r->rss.anon_loaded += anon;
		r->rss.anon_running += anon + (c->n_devices ? 0 : h->compute);
		if (c->n_devices) {
			r->rss.pinned += h->compute + (output_pinned(&cd, rd) ? h->output : 0);
		} else {
			r->rss.anon_loaded += h->output;
			r->rss.anon_running += h->output;
		}
	}
	free(rd);
	return 0;
}

/* The CUDA runtime's own anonymous memory and its libraries' resident file
 * pages in a llama-server process, when the GPUs only run offloaded
 * operations (_OPS) and once they hold layers: measured on the H200 (CUDA
 * 13, driver 580; bench/data/cuda-h200-2026-11-28.jsonl). Other GPUs,
 * drivers and backends (ROCm, Vulkan) differ. */
#define CUDA_HOST_ANON_OPS (115ull << 20)
#define CUDA_HOST_ANON (150ull << 20)
/* the CUDA libraries' file pages llama-server keeps resident beside its
 * own (same measurement; 131-152 MiB there) */
#define CUDA_LIB_FILE_OPS (146ull << 20)
#define CUDA_LIB_FILE (151ull << 20)

/* whether the output buffer is pinned (CUDA_Host): with a GPU once any
 * layer is offloaded (llama.cpp offloads the last layers first: the output
 * layer goes with the first, llama-model.cpp dev_output) */
static bool output_pinned(const struct est_config *c, const struct est_result *r)
{
	return c->n_devices && r->n_gpu_layers > 0;
}

/* whether a GPU holds layers (weights or a KV cache), not only operations */
static bool gpus_hold(const struct est_result *r)
{
	for (size_t i = 1; i < r->n_usage; i++)
		if (r->usage[i].weights || r->usage[i].kv)
			return true;
	return false;
}

/* ggml tensor metadata and graph bookkeeping on the host (6.2) */
static void overheads(struct ctx *x)
{
	const struct model *m = x->m;
	struct est_result *r = x->r;
	uint64_t n = m->n_tensors, nodes = 8 * n > 1024 ? 8 * n : 1024;
	uint64_t b = 368 * (n + 1 + 2ull * m->n_layer) + 368 * n + 368 * 2 * (1 + r->n_stream) * m->n_layer +
		     2 * nodes * 400;

	r->usage[HOST].overhead = b;
	/* The CUDA runtime's own anonymous memory in the process (the driver's
	 * state, the loaded kernel images, cuBLAS): what llama-server's RssAnon
	 * holds beyond its buffers and heap, measured on the H200 (CUDA 13,
	 * driver 580; bench/data/cuda-h200-2026-11-28.jsonl): about
	 * CUDA_HOST_ANON_OPS when the GPUs only run offloaded operations, and
	 * CUDA_HOST_ANON once they hold layers (it ranges 128-171 MiB over the
	 * architectures there). Host memory the placement must leave room for. */
	if (r->n_usage > 1)
		r->usage[HOST].overhead += gpus_hold(r) ? CUDA_HOST_ANON : CUDA_HOST_ANON_OPS;
	/* What llama.cpp's own accounting leaves out on a GPU: the CUDA
	 * context, the cuBLAS workspace and the memory pool. Measured with
	 * nvidia-smi beside llama-server on an H200 (CUDA 13, driver 580):
	 * 588 MiB once the GPU holds weights, 519 MiB when it only runs
	 * offloaded operations (bench/RESULTS.md). Other GPUs and drivers
	 * differ by some tens of MiB. */
	for (size_t i = 1; i < r->n_usage; i++) {
		struct est_usage *u = &r->usage[i];

		u->overhead = (u->weights || u->kv ? 588ull : 519ull) << 20;
	}
	snprintf(r->rule_overhead, sizeof(r->rule_overhead),
		 "ggml tensor metadata (368 B each) and graph bookkeeping for %llu nodes%s",
		 (unsigned long long)nodes,
		 r->n_usage > 1 ? "; the CUDA runtime on the host (150 MiB measured; 115 MiB when the GPUs hold "
				  "no layer); per GPU its context, cuBLAS workspace and pool (588 MiB)" : "");
}

/* ---- resident heap (CPU llama-server, glibc malloc) ---- */

/* libstdc++ unordered_map bucket counts as it grows one insert at a time
 * (_Prime_rehash_policy: the next listed prime at least twice the last) */
static uint64_t hash_buckets(uint64_t n)
{
	static const uint64_t b[] = {
		13, 29, 59, 127, 257, 541, 1109, 2357, 5087, 10273, 20753, 42043, 85229, 172933,
		351061, 712697, 1447153, 2938679, 5967347, 12117689, 24607243, 49969847,
	};
	uint64_t last = b[ARRAY_SIZE(b) - 1];

	if (n == 0)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(b); i++)
		if (n <= b[i])
			return b[i];
	while (last < n && last < (1ull << 40))
		last = 2 * last + 1;
	return last;
}

struct resident_heap {
	uint64_t peak;  /* what the load held at once: the process's own, the GGUF
			 * context's tokenizer arrays, the vocabulary */
	uint64_t after; /* buffers written after the load that found no hole */
};

/* The heap llama-server keeps resident, from the data structures that hold
 * the tokenizer (sizes for x86-64 libstdc++ and glibc malloc; the string
 * chunks over 15 bytes come from the model, tokenizer_heap()):
 *   GGUF context (gguf.cpp gguf_kv::data_string, freed after the load):
 *     per token a 32-B std::string and its text; per merge the same; the
 *     scores and token types as flat arrays;
 *   vocabulary (llama-vocab.cpp, kept): per token id_to_token (40 B: text,
 *     score, attribute) and its text, a token_to_id node (64-B chunk) and
 *     its key, a token-to-piece cache string (32 B) and its piece; per
 *     merge a bpe_ranks node (a pair of strings, the rank and the cached
 *     hash: a 96-B chunk) and the halves; both maps' bucket arrays;
 *   the process itself (3 MiB: libraries' data, thread stacks, the
 *   server's state), measured with a 30k-token SentencePiece vocabulary.
 * Once the load ends the GGUF context is freed: its token and merge arrays
 * leave holes the size of each (the pages stay resident), so a buffer
 * written later (the output buffer, then each KV cache, then the
 * recurrent state; llama-context.cpp) that fits the smallest hole able to
 * hold it adds nothing, and one that fits none adds its size. */
static void resident_heap(const struct model *m, const struct est_config *c,
			  const struct est_result *r, struct resident_heap *rh)
{
	const struct est_usage *h = &r->usage[HOST];
	uint64_t n = m->tok_n, nm = m->tok_n_merges, v_max = 0, kv_swa = 0;
	uint64_t holes[4], bufs[4], n_bufs = 0;
	uint64_t gguf, vocab, thr;

	gguf = 32 * n + m->tok_text_heap + 32 * nm + m->tok_merge_heap + m->tok_arr_bytes[0] +
	       m->tok_arr_bytes[1];
	/* the holes a big buffer can use are the contiguous arrays' chunks
	 * (the request plus glibc's 16-B header); the string texts are small
	 * chunks scattered among others, which later small allocations reuse */
	holes[0] = n ? 32 * n + 16 : 0;
	holes[1] = nm ? 32 * nm + 16 : 0;
	holes[2] = m->tok_arr_bytes[0] ? m->tok_arr_bytes[0] + 16 : 0;
	holes[3] = m->tok_arr_bytes[1] ? m->tok_arr_bytes[1] + 16 : 0;
	vocab = (40 + 64 + 32) * n + 2 * m->tok_text_heap + m->tok_piece_heap +
		8 * hash_buckets(n);
	if (nm)
		vocab += 96 * nm + m->tok_merge_half_heap + 8 * hash_buckets(nm);
	rh->peak = (3ull << 20) + gguf + vocab;

	/* the KV caches: one buffer each for the full and the sliding-window
	 * layers (the same sizes as caches()) */
	for (uint32_t il = 0; il < m->n_layer; il++) {
		const struct model_layer *ly = &m->layers[il];
		uint64_t v = (uint64_t)ly->head_v * ly->n_head_kv;

		if (ly->has_kv && v > v_max)
			v_max = v;
	}
	for (uint32_t il = 0; il < m->n_layer && !m->no_memory; il++) {
		const struct model_layer *ly = &m->layers[il];

		if (ly->has_kv && ly->n_head_kv && ly->swa) {
			uint64_t cells = (uint64_t)r->kv_size_swa * r->n_stream;
			uint64_t nv = r->fa_kv ? (uint64_t)ly->head_v * ly->n_head_kv : v_max;
			uint64_t kb = row_bytes(c->type_k, (uint64_t)ly->head_k * ly->n_head_kv);
			uint64_t vb = m->mla ? 0 : row_bytes(c->type_v, nv);

			if (kb != UINT64_MAX && vb != UINT64_MAX)
				kv_swa += PAD(kb * cells, 32) + PAD(vb * cells, 32);
		}
	}
	if (kv_swa > h->kv)
		kv_swa = h->kv;
	/* a pinned output buffer is not on the heap */
	bufs[n_bufs++] = output_pinned(c, r) ? 0 : h->output;
	bufs[n_bufs++] = h->kv - kv_swa;
	bufs[n_bufs++] = kv_swa;
	bufs[n_bufs++] = h->recurrent;
	/* glibc's mmap threshold: 128 KiB, raised by each free of a mapped
	 * chunk to its size (at most 32 MiB); the biggest such chunk the fit
	 * pass freed is the larger GGUF string array; a buffer at least that
	 * big is mapped on its own and counts whole */
	thr = 32 * (n > nm ? n : nm) + 16;
	if (thr < (128ull << 10))
		thr = 128ull << 10;
	if (thr > (32ull << 20))
		thr = 32ull << 20;
	rh->after = 0;
	/* a BPE vocabulary tokenizes "\n" during the fit pass's load
	 * (llama-vocab.cpp: linefeed_id), and the pre-tokenizer builds
	 * unicode.cpp's static code-point flags table on first use: a vector
	 * of 0x110000 2-B flags, written whole and never freed. On the heap
	 * it lies inside the span the second load's peak covers anyway (the
	 * fit pass's GGUF arrays were mapped apart, its heap smaller); at or
	 * above the mmap threshold it is mapped on its own and counts whole.
	 * Merges stand for BPE here (a vocabulary with many merges keeps the
	 * threshold above the table). */
	if (nm && 2ull * 0x110000 + 64 >= thr)
		rh->after += 2ull * 0x110000;
	for (uint64_t i = 0; i < n_bufs; i++) {
		size_t best = ARRAY_SIZE(holes);

		if (!bufs[i])
			continue;
		if (bufs[i] + 64 >= thr) {
			rh->after += bufs[i];
			continue;
		}
		/* posix_memalign(64) asks _int_malloc for the size plus the
		 * alignment and a minimum chunk (16 + 64 + 32 B more), and keeps
		 * the size, its header and up to 64 B of leading gap */
		for (size_t j = 0; j < ARRAY_SIZE(holes); j++)
			if (holes[j] >= bufs[i] + 128 && (best == ARRAY_SIZE(holes) || holes[j] < holes[best]))
				best = j;
		if (best < ARRAY_SIZE(holes))
			holes[best] -= bufs[i] + 64;
		else
			rh->after += bufs[i];
	}
}

/* The context checkpoints llama-server keeps in host RAM at run time
 * (server-context.cpp create_checkpoint): when the cache cannot drop a
 * sequence's tail (sliding-window layers without --swa-full, or a
 * recurrent state: common_context_can_seq_rm), each slot keeps up to
 * -ctxcp copies of llama_state_seq_get_data_ext(PARTIAL_ONLY): the cells
 * of the sequence the sliding-window cache still shows (n_swa of them once
 * the sequence is that long) and the recurrent state, in the layout of
 * llama_kv_cache::state_write and llama_memory_recurrent::state_write. */
/* a + b * k, saturating at UINT64_MAX */
static uint64_t sat_addmul(uint64_t a, uint64_t b, uint64_t k)
{
	uint64_t p;

	if (!ck_mul_u64(b, k, &p) || !ck_add_u64(a, p, &p))
		return UINT64_MAX;
	return p;
}

static void checkpoints(const struct model *m, const struct est_config *c, struct est_result *r)
{
	uint64_t cells = m->n_swa < r->n_ctx_seq ? m->n_swa : r->n_ctx_seq, swa = 0, rec = 0, sz, n;
	bool any_swa = false, any_rec = false;

	/* only completion tasks make checkpoints */
	if (c->embeddings)
		return;
	if (cells > r->kv_size_swa)
		cells = r->kv_size_swa;
	for (uint32_t il = 0; il < m->n_layer && !m->no_memory; il++) {
		const struct model_layer *ly = &m->layers[il];

		if (ly->recurrent) {
			any_rec = true;
			/* type, row size and the row, for R then S */
			rec = sat_addmul(sat_addmul(rec, 4, ly->n_embd_r), 4, ly->n_embd_s);
			rec = sat_addmul(rec, 24, 1);
		}
		if (ly->has_kv && ly->n_head_kv && ly->swa && m->n_swa && !c->swa_full) {
			uint64_t nk = (uint64_t)ly->head_k * ly->n_head_kv, nv = (uint64_t)ly->head_v * ly->n_head_kv;
			uint64_t kb = row_bytes(c->type_k, nk), vb = row_bytes(c->type_v, nv);

			if (kb == UINT64_MAX || vb == UINT64_MAX)
				return;
			any_swa = true;
			swa = sat_addmul(sat_addmul(swa, 12, 1), cells, kb);
			if (m->mla)
				continue;
			/* a transposed V: type, element size, width, then the cells
			 * of each row */
			swa = sat_addmul(sat_addmul(swa, 12, 1), cells, vb);
		}
	}
	if (!any_swa && !any_rec)
		return;
	sz = 0;
	if (any_swa) /* streams, this one's cell count, per cell pos, seq count, seq id; v_trans, layers */
		sz = sat_addmul(sat_addmul(sat_addmul(swa, 4, r->n_stream), 12, cells), 12, 1);
	if (any_rec) /* one cell (count, pos, seq count, seq id); s_trans, layers */
		sz = sat_addmul(sat_addmul(sz, rec, 1), 24, 1);
	r->checkpoint_size = sz;
	n = (uint64_t)(c->n_ctx_checkpoints > 0 ? c->n_ctx_checkpoints : 0) * (r->n_seq ? r->n_seq : 1);
	if (!ck_mul_u64(sz, n, &r->checkpoints_max))
		r->checkpoints_max = UINT64_MAX;
}

int est_estimate(const struct model *m, const struct est_config *c, struct est_result *r,
		 struct diag *d)
{
	struct ctx x;
	int e;

	memset(r, 0, sizeof(*r));
	memset(&x, 0, sizeof(x));
	x.m = m;
	x.c = c;
	x.r = r;
	x.d = d;
	if (c->n_devices > EST_MAX_DEVICES)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "too many devices");
	if (c->n_loras > EST_MAX_LORAS)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "at most %d LoRA adapters", EST_MAX_LORAS);
	if (!is_kv_type(c->type_k) || !is_kv_type(c->type_v))
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"unsupported cache type: allowed are f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1");
	/* llama-context.cpp:3698-3707 */
	if (c->flash_attn == EST_FA_OFF && ggml_type_get(c->type_v)->blck_size > 1)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"V cache quantization requires flash_attn (use -fa on or -fa auto)");
	if (m->mla && c->type_k != c->type_v)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"MLA models need the same type for K and V (-ctk %s -ctv %s)",
				ggml_type_get(c->type_k)->name, ggml_type_get(c->type_v)->name);
	/* -ub 0 is -b (llama-context.cpp:248) */
	if (c->n_batch == 0)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "-b must be at least 1");
	if (c->split_mode == EST_SPLIT_TENSOR && c->n_devices)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET,
				"-sm tensor (experimental in llama.cpp) is not modelled; use -sm layer or row");
	if (c->main_gpu >= (int32_t)c->n_devices && c->n_devices)
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "-mg %d: there are %zu GPUs", c->main_gpu,
				c->n_devices);

	r->n_usage = 1 + c->n_devices;
	/* server-context.cpp: a prompt cache of --cache-ram MiB (server-task.cpp
	 * server_prompt_cache: slot states saved in host vectors, the oldest
	 * dropped to stay under the limit) */
	r->prompt_cache = c->cache_ram_mib < 0 ? UINT64_MAX : (uint64_t)c->cache_ram_mib << 20;
	snprintf(r->usage[HOST].name, sizeof(r->usage[HOST].name), "CPU");
	r->usage[HOST].kind = EST_DEV_HOST;
	for (size_t i = 0; i < c->n_devices; i++) {
		memcpy(r->usage[i + 1].name, c->devices[i].name, sizeof(r->usage[i + 1].name));
		r->usage[i + 1].kind = c->devices[i].kind;
	}
	assign_layers(&x);
	/* the adapters' ranks, for the compute graph (weights() fills them) */
	if (c->n_loras) {
		x.lora = calloc((size_t)c->n_loras * (m->n_layer + 1u) * MODEL_ROLE_COUNT, sizeof(*x.lora));
		if (!x.lora)
			return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	e = context_sizes(&x);
	if (e >= 0)
		e = weights(&x);
	if (e >= 0)
		e = caches(&x);
	if (e >= 0)
		compute_buffers(&x);
	free(x.lora);
	x.lora = NULL;
	if (e < 0)
		return e;
	overheads(&x);
	checkpoints(m, c, r);
	/* resident memory, measured on llama-server (CPU build): its binary
	 * and libraries keep about 11.5 MiB of file pages beside the mapped
	 * weights. Anonymous: buffers are resident once written (the compute
	 * buffer only after the first batch), and the heap keeps every page it
	 * ever touched, so what the model load held at its peak stays resident
	 * (resident_heap). */
	{
		const struct est_usage *h = &r->usage[HOST];
		struct resident_heap rh;

		resident_heap(m, c, r, &rh);
		r->rss.file = h->weights_mapped + (23ull << 19);
		r->rss.anon_loaded = (h->weights - h->weights_mapped) + h->lora + h->overhead + rh.peak + rh.after;
		/* with a GPU: the CUDA libraries' pages; the host's compute
		 * buffer (and the output buffer once it is pinned) is pinned
		 * memory, which the kernel counts as shared (RssShmem), not
		 * anonymous */
		r->rss.anon_running = r->rss.anon_loaded + (c->n_devices ? 0 : h->compute);
		if (c->n_devices) {
			r->rss.file += gpus_hold(r) ? CUDA_LIB_FILE : CUDA_LIB_FILE_OPS;
			r->rss.pinned = h->compute + (output_pinned(c, r) ? h->output : 0);
		}
	}
	e = projector(c, r, d);
	if (e < 0)
		return e;
	e = draft(c, r, d);
	if (e < 0)
		return e;
	for (size_t i = 0; i < r->n_usage; i++) {
		struct est_usage *u = &r->usage[i];
		uint64_t t = 0;

		if (!ck_add_u64(t, u->weights, &t) || !ck_add_u64(t, u->kv, &t) ||
		    !ck_add_u64(t, u->recurrent, &t) || !ck_add_u64(t, u->compute, &t) ||
		    !ck_add_u64(t, u->output, &t) || !ck_add_u64(t, u->overhead, &t) ||
		    !ck_add_u64(t, u->lora, &t) ||
		    !ck_add_u64(t, u->projector, &t) || !ck_add_u64(t, u->projector_compute, &t) ||
		    !ck_add_u64(t, u->draft, &t))
			return diag_set(d, -EOVERFLOW, DIAG_NO_OFFSET, "memory total overflows");
		u->total = t;
	}
	return 0;
}
