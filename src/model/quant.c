/* quant.c: llama.cpp's per-tensor quantization rule (llama_tensor_get_type
 * and its helpers in src/llama-quant.cpp of the pinned llama.cpp), applied
 * to a tensor list. The branches below follow the C++ one for one, for
 * the file types llmem models; the IQ1/IQ2/IQ3 types, which need an
 * importance matrix, are left out. */
#include "base/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/ggml-type.h"
#include "model/quant.h"

/* enum llama_ftype (llama.h) */
enum {
	FT_ALL_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8,
	FT_Q5_1 = 9, FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13,
	FT_Q4_K_S = 14, FT_Q4_K_M = 15, FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18,
	FT_IQ4_NL = 25, FT_IQ4_XS = 30, FT_BF16 = 32, FT_MXFP4_MOE = 38,
};

#define GGML_TYPE_COUNT_SENTINEL UINT32_MAX /* no type fits */

static const uint8_t listed[] = {
	FT_BF16, FT_F16, FT_Q8_0, FT_Q6_K, FT_Q5_K_M, FT_Q5_K_S, FT_Q4_K_M, FT_Q4_K_S,
	FT_Q4_0, FT_IQ4_NL, FT_IQ4_XS, FT_MXFP4_MOE, FT_Q3_K_L, FT_Q3_K_M, FT_Q3_K_S, FT_Q2_K,
};

size_t quant_ftype_count(void)
{
	return ARRAY_SIZE(listed);
}

uint32_t quant_ftype_at(size_t i)
{
	return i < ARRAY_SIZE(listed) ? listed[i] : 0;
}

int quant_ftype_default_type(uint32_t ftype)
{
	switch (ftype) {
	case FT_Q4_0: return GGML_TYPE_Q4_0;
	case FT_Q4_1: return GGML_TYPE_Q4_1;
	case FT_Q5_0: return GGML_TYPE_Q5_0;
	case FT_Q5_1: return GGML_TYPE_Q5_1;
	case FT_Q8_0: return GGML_TYPE_Q8_0;
	case FT_F16: return GGML_TYPE_F16;
	case FT_BF16: return GGML_TYPE_BF16;
	case FT_ALL_F32: return GGML_TYPE_F32;
	case FT_MXFP4_MOE: return GGML_TYPE_MXFP4;
	case FT_Q2_K: return GGML_TYPE_Q2_K;
	case FT_Q3_K_S:
	case FT_Q3_K_M:
	case FT_Q3_K_L: return GGML_TYPE_Q3_K;
	case FT_Q4_K_S:
	case FT_Q4_K_M: return GGML_TYPE_Q4_K;
	case FT_Q5_K_S:
	case FT_Q5_K_M: return GGML_TYPE_Q5_K;
	case FT_Q6_K: return GGML_TYPE_Q6_K;
	case FT_IQ4_NL: return GGML_TYPE_IQ4_NL;
	case FT_IQ4_XS: return GGML_TYPE_IQ4_XS;
	default: return -EINVAL;
	}
}

static bool has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

bool quant_tensor_allowed(const char *name, uint32_t n_dims)
{
	static const char never[][28] = {
		"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
		"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
		"indexer.k_proj.weight", "indexer.q_proj.weight", "time_mix_first.weight",
		"time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
		"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
		"time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
		"time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
		"time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
		".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
		".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
	};
	size_t n = strlen(name);

	if (n_dims < 2 || n < 6 || strcmp(name + n - 6, "weight"))
		return false;
	if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight"))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(never); i++)
		if (has(name, never[i]))
			return false;
	return true;
}

enum cat { C_OTHER, C_OUTPUT, C_TOKEN_EMBD, C_QKV, C_KV_B, C_V, C_K, C_Q, C_ATTN_OUT,
	   C_FFN_UP, C_FFN_GATE, C_FFN_DOWN };

static enum cat category(const char *name)
{
	if (!strcmp(name, "output.weight"))
		return C_OUTPUT;
	if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight"))
		return C_TOKEN_EMBD;
	if (has(name, "attn_qkv.weight"))
		return C_QKV;
	if (has(name, "attn_kv_b.weight"))
		return C_KV_B;
	if (has(name, "attn_v.weight"))
		return C_V;
	if (has(name, "attn_k.weight"))
		return C_K;
	if (has(name, "attn_q.weight"))
		return C_Q;
	if (has(name, "attn_output.weight"))
		return C_ATTN_OUT;
	if (has(name, "ffn_up"))
		return C_FFN_UP;
	if (has(name, "ffn_gate"))
		return C_FFN_GATE;
	if (has(name, "ffn_down"))
		return C_FFN_DOWN;
	return C_OTHER;
}

static bool is_attn_v(enum cat c)
{
	return c == C_V || c == C_QKV || c == C_KV_B;
}

static bool is_quantized(uint32_t type)
{
	switch (type) {
	case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16: case GGML_TYPE_F64:
	case GGML_TYPE_I8: case GGML_TYPE_I16: case GGML_TYPE_I32: case GGML_TYPE_I64:
		return false;
	default:
		return true;
	}
}

static uint32_t blck(uint32_t type)
{
	const struct ggml_type_info *ti = ggml_type_get(type);

	return ti && ti->blck_size ? ti->blck_size : 1;
}

static bool use_more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* the block index in "blk.N.", or -1 */
static int layer_of(const char *name)
{
	if (strncmp(name, "blk.", 4))
		return -1;
	char *end;
	unsigned long v = strtoul(name + 4, &end, 10);

	return end != name + 4 && *end == '.' && v < (1ul << 30) ? (int)v : -1;
}

struct qstate {
	const struct quant_model *qm;
	uint32_t ftype;
	bool tied, falcon, type_70b;
	int n_expert, n_gqa;
	int n_wv, i_wv, n_ffn_down, i_ffn_down;
};

/* llama_tensor_get_type_impl() for the listed file types */
static uint32_t get_type_impl(struct qstate *qs, uint32_t nt, const struct quant_tensor *t,
			      enum cat c)
{
	const uint32_t ft = qs->ftype;
	const uint32_t n_expert = qs->qm->n_expert;

	if (c == C_OUTPUT || (qs->tied && c == C_TOKEN_EMBD)) {
		int64_t nx = t->ne[0];

		if (ft == FT_MXFP4_MOE)
			nt = GGML_TYPE_Q8_0;
		else if (qs->falcon || nx % blck(nt) != 0)
			nt = GGML_TYPE_Q8_0;
		else if (nt != GGML_TYPE_Q8_0)
			nt = GGML_TYPE_Q6_K;
	} else if (ft == FT_MXFP4_MOE) {
		bool exps = t->ne[2] > 1;

		/* MLA projections are 3-D too: bailingmoe3 names the roles */
		if (!strcmp(qs->qm->arch, "bailingmoe3"))
			exps = exps && (c == C_FFN_UP || c == C_FFN_GATE || c == C_FFN_DOWN);
		nt = exps ? GGML_TYPE_MXFP4 : GGML_TYPE_Q8_0;
	} else if (c == C_TOKEN_EMBD) {
		/* no rule for the listed types */
	} else if (is_attn_v(c)) {
		if (ft == FT_Q2_K)
			nt = qs->n_gqa >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
		else if (ft == FT_Q3_K_M)
			nt = qs->i_wv < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
		else if (ft == FT_Q3_K_L)
			nt = GGML_TYPE_Q5_K;
		else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && qs->n_gqa >= 4)
			nt = GGML_TYPE_Q5_K;
		else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(qs->i_wv, qs->n_wv))
			nt = GGML_TYPE_Q6_K;
		else if (ft == FT_Q4_K_S && qs->i_wv < 4)
			nt = GGML_TYPE_Q5_K;
		if (qs->type_70b && (nt == GGML_TYPE_Q3_K || nt == GGML_TYPE_Q4_K))
			nt = GGML_TYPE_Q5_K;
		if (n_expert == 8)
			nt = GGML_TYPE_Q8_0;
		qs->i_wv++;
	} else if (c == C_K) {
		if (n_expert == 8)
			nt = GGML_TYPE_Q8_0;
	} else if (c == C_Q) {
		/* no rule for the listed types */
	} else if (c == C_FFN_DOWN) {
		int il = qs->i_ffn_down, nl = qs->n_ffn_down;

		if (qs->n_expert > 1) {
			il = layer_of(t->name);
			if (il < 0 || il >= nl)
				return GGML_TYPE_COUNT_SENTINEL;
		}
		if (ft == FT_Q2_K)
			nt = GGML_TYPE_Q3_K;
		else if (ft == FT_Q3_K_M)
			nt = il < nl / 16 ? GGML_TYPE_Q5_K :
			     !qs->falcon || use_more_bits(il, nl) ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
		else if (ft == FT_Q3_K_L)
			nt = qs->falcon ? GGML_TYPE_Q4_K : GGML_TYPE_Q5_K;
		else if (ft == FT_Q4_K_M) {
			if (qs->falcon)
				nt = il < nl / 16 ? GGML_TYPE_Q6_K :
				     use_more_bits(il, nl) ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
			else if (use_more_bits(il, nl))
				nt = GGML_TYPE_Q6_K;
		} else if (il < nl / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS))
			nt = GGML_TYPE_Q5_K; /* without an importance matrix */
		else if (ft == FT_Q5_K_M && use_more_bits(il, nl))
			nt = GGML_TYPE_Q6_K;
		else if (ft == FT_Q4_K_S && !qs->falcon && il < nl / 8)
			nt = GGML_TYPE_Q5_K;
		qs->i_ffn_down++;
	} else if (c == C_ATTN_OUT) {
		if (!qs->falcon) {
			if (n_expert == 8) {
				if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_IQ4_NL ||
				    ft == FT_Q4_K_S || ft == FT_Q4_K_M || ft == FT_IQ4_XS)
					nt = GGML_TYPE_Q5_K;
			} else {
				if (ft == FT_Q2_K)
					nt = GGML_TYPE_Q3_K;
				else if (ft == FT_Q3_K_M)
					nt = GGML_TYPE_Q4_K;
				else if (ft == FT_Q3_K_L)
					nt = GGML_TYPE_Q5_K;
			}
		} else if (ft == FT_Q3_K_L) {
			nt = GGML_TYPE_Q4_K;
		}
	} else if (c == C_QKV) {
		if (ft == FT_Q3_K_M || ft == FT_Q3_K_L)
			nt = GGML_TYPE_Q4_K;
		else if (ft == FT_Q4_K_M)
			nt = GGML_TYPE_Q5_K;
		else if (ft == FT_Q5_K_M)
			nt = GGML_TYPE_Q6_K;
	}
	/* FFN_GATE / FFN_UP: rules only for IQ3_XS */
	return nt;
}

/* tensor_type_fallback() */
static uint32_t fallback(const struct quant_tensor *t, uint32_t target)
{
	int64_t ncols = t->ne[0];
	uint32_t rt = target;

	if (ncols % blck(target) == 0)
		return target;
	switch (target) {
	case GGML_TYPE_IQ1_S: case GGML_TYPE_IQ1_M: case GGML_TYPE_IQ2_XXS: case GGML_TYPE_IQ2_XS:
	case GGML_TYPE_IQ2_S: case GGML_TYPE_IQ3_XXS: case GGML_TYPE_IQ3_S: case GGML_TYPE_IQ4_XS:
		rt = GGML_TYPE_IQ4_NL;
		break;
	case GGML_TYPE_Q2_0: case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: case GGML_TYPE_TQ1_0:
	case GGML_TYPE_TQ2_0:
		rt = GGML_TYPE_Q4_0;
		break;
	case GGML_TYPE_Q4_K: rt = GGML_TYPE_Q5_0; break;
	case GGML_TYPE_Q5_K: rt = GGML_TYPE_Q5_1; break;
	case GGML_TYPE_Q6_K: rt = GGML_TYPE_Q8_0; break;
	default:
		if (blck(target) > 32)
			return GGML_TYPE_COUNT_SENTINEL;
		break;
	}
	if (ncols % blck(rt) != 0)
		rt = GGML_TYPE_F16;
	return rt;
}

struct order {
	int layer;
	size_t i;
	const char *name;
};

/* weight_name_comparer: outside the blocks first, then by block, then by
 * name */
static int cmp_order(const void *pa, const void *pb)
{
	const struct order *a = pa, *b = pb;

	if (a->layer != b->layer)
		return a->layer < b->layer ? -1 : 1;
	return strcmp(a->name, b->name);
}

static bool type_70b(const struct quant_model *qm)
{
	const char *a = qm->arch;

	if (!strcmp(a, "llama"))
		return qm->n_layer == 80 && qm->n_head != qm->n_head_kv;
	if (!strcmp(a, "qwen2") || !strcmp(a, "deci") || !strcmp(a, "olmo"))
		return qm->n_layer == 80;
	if (!strcmp(a, "jais2"))
		return qm->n_layer == 68;
	return false;
}

int quant_apply(const struct quant_model *qm, uint32_t ftype, struct quant_tensor *t, size_t n)
{
	int dflt = quant_ftype_default_type(ftype);
	struct qstate qs;
	struct order *ord;
	int e = 0;

	if (dflt < 0)
		return -EINVAL;
	memset(&qs, 0, sizeof(qs));
	qs.qm = qm;
	qs.ftype = ftype;
	qs.tied = true;
	qs.falcon = !strcmp(qm->arch, "falcon");
	qs.type_70b = type_70b(qm);
	qs.n_expert = qm->n_expert > 1 ? (int)qm->n_expert : 1;
	qs.n_gqa = qm->n_head_kv ? (int)(qm->n_head / qm->n_head_kv) : 0;
	qs.n_ffn_down = (int)qm->n_layer;
	ord = calloc(n ? n : 1, sizeof(*ord));
	if (!ord)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		enum cat c = category(t[i].name);

		ord[i].layer = layer_of(t[i].name);
		ord[i].i = i;
		ord[i].name = t[i].name;
		if (is_attn_v(c))
			qs.n_wv++;
		if (c == C_OUTPUT)
			qs.tied = false;
	}
	qsort(ord, n, sizeof(*ord), cmp_order);
	for (size_t k = 0; k < n && e == 0; k++) {
		struct quant_tensor *x = &t[ord[k].i];
		uint32_t nt;

		if (!quant_tensor_allowed(x->name, x->n_dims)) {
			x->type = x->src_type;
			continue;
		}
		nt = (uint32_t)dflt;
		if (is_quantized(nt)) {
			nt = get_type_impl(&qs, nt, x, category(x->name));
			if (nt != GGML_TYPE_COUNT_SENTINEL)
				nt = fallback(x, nt);
		}
		if (nt == GGML_TYPE_COUNT_SENTINEL)
			e = -EINVAL;
		/* a tensor the source already holds in MXFP4 (gpt-oss's
		 * experts) keeps it: llama-quantize refuses to requantize it
		 * without --allow-requantize, and published files keep it */
		if (x->src_type == GGML_TYPE_MXFP4)
			nt = GGML_TYPE_MXFP4;
		x->type = nt;
	}
	free(ord);
	return e;
}

uint64_t quant_tensor_bytes(const struct quant_tensor *t)
{
	uint64_t b = 0;

	if (ggml_type_tensor_size(t->type, t->ne, t->n_dims, &b) < 0)
		return 0;
	return b;
}
