/* cmd-recommend.c: `llmem recommend [--mem SIZE] [-c N] [--json] [DIR...]`:
 * the memory guide's selection guide computed for this machine (or a GPU
 * of SIZE): for each family of the built-in catalog, the largest model
 * that fits with every layer on the GPUs at the best quantization that
 * fits (or what only a partial offload fits, and how fast); and for every
 * GGUF in the DIRs given and where people keep models (src/io/store.h),
 * whether it fits, at which -ngl, up to which context and how fast.
 * Headers are read in parallel, one thread per CPU. */
#include "base/compat.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/parse.h"
#include "base/sbuf.h"
#include "cli/cmd.h"
#include "cli/cmd-fit.h"
#include "cli/cmd-model.h"
#include "cli/cmd-opts.h"
#include "gguf/ggml-type.h"
#include "io/io.h"
#include "io/store.h"
#include "model/catalog.h"
#include "model/model-info.h"
#include "model/quant.h"
#include "output/output.h"
#include "output/out-recommend.h"
#include "place/place.h"

#define MAX_THREADS 8
#define GIB (1024.0 * 1024.0 * 1024.0)

static void recommend_usage(FILE *fp)
{
	fputs("usage: llmem recommend [--mem SIZE] [--ram SIZE] [-c N] [--json] [--no-default-dirs] [DIR|FILE...]\n"
	      "\n"
	      "The memory guide's selection guide, computed for this machine: for each family of\n"
	      "the built-in catalog, the largest model that fits with every layer on the GPU at\n"
	      "the best quantization that fits (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K); and for\n"
	      "every GGUF model in the DIRs given and where models are kept (Ollama's store, the\n"
	      "Hugging Face cache, LM Studio, llama.cpp's cache), whether it fits, at which -ngl,\n"
	      "up to which context, and its predicted speed. Files that cannot be read are listed\n"
	      "with the reason.\n"
	      "  --mem SIZE            plan for one GPU of SIZE (e.g. 24GB) instead of this\n"
	      "                        machine's GPUs\n"
	      "  --ram SIZE            plan for SIZE of system RAM, nothing else running,\n"
	      "                        instead of the RAM available here\n"
	      "  -c, --ctx-size N      context to plan at (default 8192, at most each model's)\n"
	      "  --no-default-dirs     search only the DIRs given\n"
	      "  --no-catalog          only the files\n"
	      "  --headroom X[,Y...]   memory kept free, as in 'llmem fit'\n"
	      "  --bandwidth cpu=60GB/s,GPU0=1008GB/s   bandwidths for the speed ('llmem fit')\n"
	      "  --root DIR            probe a fixture tree instead of this machine (and look for\n"
	      "                        the Ollama service's store under it)\n"
	      "  --json                one JSON object (schema: docs/recommend-json.md)\n"
	      "Places searched: $OLLAMA_MODELS or ~/.ollama/models, /usr/share/ollama/.ollama/models;\n"
	      "$HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub; ~/.lmstudio/models,\n"
	      "~/.cache/lm-studio/models; $LLAMA_CACHE or ~/.cache/llama.cpp.\n", fp);
}

/* the guide's quantization ladder, best first */
static const char *const ladder_names[] = { "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K" };
#define N_LADDER ARRAY_SIZE(ladder_names)
#define LADDER_Q4 3

/* catalog families: a name prefix and the family it belongs to */
static const struct { const char *prefix, *family; } family_table[] = {
	{ "llama-3", "llama-3.x" }, { "qwen2.5", "qwen2.5" }, { "qwen3", "qwen3" },
	{ "gemma-3", "gemma-3" }, { "mistral", "mistral" }, { "mixtral", "mistral" },
	{ "phi", "phi" }, { "deepseek", "deepseek" }, { "gpt-oss", "gpt-oss" }, { "glm", "glm" },
};

static const char *family_of(const struct catalog_model *cm)
{
	for (size_t i = 0; i < ARRAY_SIZE(family_table); i++)
		if (!strncmp(cm->name, family_table[i].prefix, strlen(family_table[i].prefix)))
			return family_table[i].family;
	return cm->name;
}

/* ---- the catalog ---- */

enum { EV_UNKNOWN, EV_FULL, EV_NOT_FULL };

struct cat_model {
	const struct catalog_model *cm;
	uint8_t *hdr;
	struct gguf_file *gf;
	struct model m;             /* F16, as converted */
	bool built;
	uint64_t header_bytes;      /* the header llama-quantize writes */
	uint64_t params;
	struct quant_model qm;
	struct quant_tensor *base;  /* m's tensors as quant_apply takes them */
	uint8_t state[N_LADDER];    /* EV_* */
	struct out_rec_pick picks[N_LADDER];
};

struct rec {
	struct place_request *q;    /* the machine; base.n_ctx unset */
	uint32_t n_ctx;
	uint32_t ladder[N_LADDER];
	struct place_plan *plan;    /* scratch for the catalog (one thread) */
	struct est_result *est;
};

static void cat_model_release(struct cat_model *c)
{
	if (c->built)
		model_release(&c->m);
	gguf_file_free(c->gf);
	free(c->hdr);
	free(c->base);
}

/* The F16 header of c->cm without its tokenizer (the stand-in tokenizer's
 * size is added to the file size instead: building it costs more than
 * everything else here), parsed into c->m. */
static int cat_model_build(struct cat_model *c, struct diag *d)
{
	const struct catalog_model *cm = c->cm;
	struct gguf_writer *w = gguf_writer_new();
	struct quant_tensor *t = NULL;
	struct sbuf sb;
	uint64_t need = 0;
	size_t len = 0, n = 0;
	int e;

	if (!w)
		return -ENOMEM;
	sbuf_init(&sb, GGUF_MAX_HEADER_BYTES);
	/* catalog_add_tensors() as F16, without running the quantization
	 * rule that leaves every tensor of catalog_tensors() as it is */
	e = catalog_add_keys(cm, w, 1, cm->n_vocab);
	if (!e)
		e = catalog_tensors(cm, cm->n_vocab, &t, &n);
	for (size_t i = 0; !e && i < n; i++)
		e = gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne);
	free(t);
	if (!e)
		e = gguf_writer_header(w, &sb, NULL, NULL);
	if (e) {
		sbuf_release(&sb);
		gguf_writer_free(w);
		return diag_set(d, e, DIAG_NO_OFFSET, "%s: cannot build the catalog model", cm->name);
	}
	c->hdr = (uint8_t *)sbuf_detach(&sb, &len);
	e = gguf_parse(c->hdr, len, gguf_writer_file_size(w), &c->gf, &need, d);
	gguf_writer_free(w);
	if (e)
		return e;
	e = model_from_gguf_flags((const struct gguf_file *const *)&c->gf, 1, MODEL_NO_HEAP, &c->m, d);
	if (e)
		return e;
	c->built = true;
	/* as cmd-quants.c: llama-quantize adds general.quantization_version */
	c->header_bytes = c->gf->header_bytes + catalog_fake_vocab_bytes(cm->n_vocab, cm->n_merges);
	if (gguf_kv_find(c->gf, "general.quantization_version") < 0)
		c->header_bytes += 44;
	c->header_bytes = (c->header_bytes + 31) & ~31ull;
	catalog_quant_model(cm, &c->qm);
	c->base = calloc(c->m.n_tensors ? c->m.n_tensors : 1, sizeof(*c->base));
	if (!c->base)
		return -ENOMEM;
	for (size_t i = 0; i < c->m.n_tensors; i++) {
		const struct model_tensor *x = &c->m.tensors[i];
		struct quant_tensor *bt = &c->base[i];

		snprintf(bt->name, sizeof(bt->name), "%s", x->name);
		bt->n_dims = x->n_dims;
		memcpy(bt->ne, x->ne, sizeof(bt->ne));
		bt->src_type = bt->type = x->type;
		c->params += (uint64_t)x->ne[0] * (uint64_t)x->ne[1] * (uint64_t)x->ne[2] * (uint64_t)x->ne[3];
	}
	return 0;
}

static void pick_from_plan(const struct place_plan *p, const struct model *m, struct out_rec_pick *pk)
{
	pk->memory_bytes = pk->gpu_bytes = 0;
	for (size_t u = 0; u < p->est.n_usage; u++) {
		pk->memory_bytes += p->est.usage[u].total;
		if (p->est.usage[u].kind != EST_DEV_HOST)
			pk->gpu_bytes += p->est.usage[u].total;
	}
	pk->n_gpu_layers = p->est.n_gpu_layers;
	pk->n_layers = m->n_layer + 1;
	pk->n_cpu_moe = p->config.n_cpu_moe;
	pk->speed_ratio = p->speed_ratio;
	pk->tokens_per_s = p->tokens_per_s;
}

/* The weights alone are more than every budget together: no placement
 * or context fits (each weight is resident in RAM or on a GPU), and the
 * solver need not search for one. */
static bool hopeless(const struct place_request *q, const struct model *m, uint64_t *ret_total)
{
	uint64_t total = q->budget[0];

	for (size_t i = 0; i < q->base.n_devices; i++)
		if (q->base.devices[i].kind != EST_DEV_UNIFIED && !ck_add_u64(total, q->budget[i + 1], &total))
			total = UINT64_MAX;
	*ret_total = total;
	return m->weight_bytes > total;
}

/* every layer on the GPUs, or (without a GPU) everything in RAM */
static bool plan_full(const struct place_plan *p, const struct model *m)
{
	if (!p->fits)
		return false;
	if (!p->config.n_devices)
		return true;
	return p->est.n_gpu_layers >= m->n_layer + 1 && !p->config.n_cpu_moe && !p->config.cpu_moe;
}

/* c at ladder step k: its file, and whether every layer fits on the GPUs
 * (without a GPU: in RAM). With partial, a placement that does not fit on
 * the GPUs is solved too, into *ret_fits. 0 or a negative errno. */
static int cat_eval(struct rec *r, struct cat_model *c, size_t k, bool partial, bool *ret_fits,
		    struct diag *d)
{
	struct out_rec_pick *pk = &c->picks[k];
	struct quant_tensor *t;
	struct model mq;
	uint64_t tensor_bytes = 0, total, need[EST_MAX_DEVICES + 1];
	struct place_request *q = r->q;
	int e;

	*ret_fits = false;
	if (c->state[k] == EV_FULL) {
		*ret_fits = true;
		return 0;
	}
	if (c->state[k] == EV_NOT_FULL && !partial)
		return 0;
	t = malloc((c->m.n_tensors ? c->m.n_tensors : 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memcpy(t, c->base, c->m.n_tensors * sizeof(*t));
	e = quant_apply(&c->qm, r->ladder[k], t, c->m.n_tensors);
	if (!e)
		e = cmd_model_retype(&c->m, t, &mq, &tensor_bytes);
	free(t);
	if (e)
		return diag_set(d, e, DIAG_NO_OFFSET, "%s: cannot quantize as %s", c->cm->name,
				llama_ftype_name(r->ladder[k]));
	pk->model = c->cm->name;
	pk->ftype = r->ladder[k];
	pk->params = c->params;
	pk->file_bytes = c->header_bytes;
	for (size_t i = 0; i < mq.n_tensors; i++)
		pk->file_bytes += (mq.tensors[i].nbytes + 31) & ~31ull;
	q->base.n_ctx = r->n_ctx < c->m.n_ctx_train || !c->m.n_ctx_train ? r->n_ctx :
			(int64_t)c->m.n_ctx_train;
	q->base.n_gpu_layers = -1;
	e = place_check(&mq, &q->base, q->budget, r->est, need, d);
	if (e == 0 && partial && hopeless(q, &mq, &total))
		partial = false;
	if (e == 1 || (e == 0 && partial)) {
		e = place_solve(&mq, q, r->plan, d);
		if (e == 0) {
			pick_from_plan(r->plan, &mq, pk);
			*ret_fits = r->plan->fits;
			c->state[k] = plan_full(r->plan, &mq) ? EV_FULL : EV_NOT_FULL;
		}
	} else if (e == 0) {
		c->state[k] = EV_NOT_FULL;
		/* what it would take: every device's total at full offload */
		pk->memory_bytes = pk->gpu_bytes = 0;
		for (size_t u = 0; u < r->est->n_usage; u++) {
			pk->memory_bytes += r->est->usage[u].total;
			if (r->est->usage[u].kind != EST_DEV_HOST)
				pk->gpu_bytes += r->est->usage[u].total;
		}
		pk->n_layers = mq.n_layer + 1;
	}
	free(mq.tensors);
	return e < 0 ? e : 0;
}

/* the best ladder step below `below` that fits c entirely, or -1. Q2_K is
 * tried first, since nothing larger fits when it does not; then a
 * bisection, a larger file type needing more memory. */
static int cat_best(struct rec *r, struct cat_model *c, size_t below, struct diag *d, int *err)
{
	int lo = 0, hi = (int)below - 1, best = -1;
	bool fits;

	*err = 0;
	if (below == 0)
		return -1;
	if ((*err = cat_eval(r, c, N_LADDER - 1, false, &fits, d)) < 0 ||
	    c->state[N_LADDER - 1] != EV_FULL)
		return -1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if ((*err = cat_eval(r, c, (size_t)mid, false, &fits, d)) < 0)
			return -1;
		if (c->state[mid] == EV_FULL) {
			best = mid;
			hi = mid - 1;
		} else {
			lo = mid + 1;
		}
	}
	return best;
}

static int by_params(const void *a, const void *b)
{
	const struct cat_model *x = *(const struct cat_model *const *)a;
	const struct cat_model *y = *(const struct cat_model *const *)b;

	if (x->params != y->params)
		return x->params < y->params ? 1 : -1;
	return x->cm < y->cm ? -1 : x->cm > y->cm;
}

/* One family: models[] are its members, built. */
static int family_eval(struct rec *r, struct cat_model **models, size_t n, struct out_rec_family *f,
		       struct diag *d)
{
	int e = 0, k = -1;
	size_t i;

	qsort(models, n, sizeof(*models), by_params);
	for (i = 0; i < n; i++) {
		k = cat_best(r, models[i], N_LADDER, d, &e);
		if (e < 0)
			return e;
		if (k >= 0)
			break;
	}
	if (k >= 0) {
		f->verdict = r->q->base.n_devices ? OUT_REC_GPU : OUT_REC_CPU;
		f->best = models[i]->picks[k];
		/* or a smaller model at a better file type */
		for (size_t j = i + 1; j < n && k > 0; j++) {
			int k2;

			if (models[j]->params >= models[i]->params)
				continue;
			k2 = cat_best(r, models[j], (size_t)k, d, &e);
			if (e < 0)
				return e;
			if (k2 >= 0) {
				f->has_alt = true;
				f->alt = models[j]->picks[k2];
				break;
			}
		}
		return 0;
	}
	/* nothing fits entirely: the smallest model, Q4_K_M or below,
	 * with part of it on the CPU */
	struct cat_model *s = models[n - 1];

	f->verdict = OUT_REC_NONE;
	if (r->q->base.n_devices) {
		for (size_t k2 = LADDER_Q4; k2 < N_LADDER; k2++) {
			bool fits;

			if ((e = cat_eval(r, s, k2, true, &fits, d)) < 0)
				return e;
			if (fits) {
				f->verdict = OUT_REC_PARTIAL;
				f->best = s->picks[k2];
				return 0;
			}
		}
	}
	f->has_smallest = true;
	f->smallest = s->picks[N_LADDER - 1];
	return 0;
}

/* every family, in catalog order; *ret_fams and the name lists are
 * allocated, freed by the caller (names point into the catalog) */
static int catalog_eval(struct rec *r, struct out_rec_family **ret_fams, size_t *ret_n,
			const char ***ret_names)
{
	size_t nc = catalog_count(), nf = 0;
	struct cat_model *cms = calloc(nc, sizeof(*cms));
	struct cat_model **group = calloc(nc, sizeof(*group));
	struct out_rec_family *fams = calloc(nc, sizeof(*fams));
	const char **names = calloc(nc, sizeof(*names));
	bool *done = calloc(nc, sizeof(*done));
	size_t n_names = 0;
	struct diag d;
	int e = 0;

	diag_init(&d);
	if (!cms || !group || !fams || !names || !done) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nc && !e; i++) {
		cms[i].cm = catalog_at(i);
		e = cat_model_build(&cms[i], &d);
	}
	for (size_t i = 0; i < nc && !e; i++) {
		const char *fam = family_of(cms[i].cm);
		size_t n = 0;

		if (done[i])
			continue;
		for (size_t j = i; j < nc; j++)
			if (!done[j] && !strcmp(family_of(cms[j].cm), fam)) {
				group[n++] = &cms[j];
				done[j] = true;
			}
		fams[nf].name = fam;
		e = family_eval(r, group, n, &fams[nf], &d);
		fams[nf].models = names + n_names;
		fams[nf].n_models = n;
		for (size_t j = 0; j < n; j++)
			names[n_names++] = group[j]->cm->name;
		nf++;
	}
out:
	if (e && e != -ENOMEM)
		cmd_error("the catalog: %s", d.msg);
	for (size_t i = 0; cms && i < nc; i++)
		cat_model_release(&cms[i]);
	free(cms);
	free(group);
	free(done);
	if (e) {
		free(fams);
		free(names);
		return e;
	}
	*ret_fams = fams;
	*ret_n = nf;
	*ret_names = names;
	return 0;
}

/* ---- files ---- */

static void file_error(struct out_rec_file *f, const char *bad, const struct diag *d)
{
	size_t o = 0;

	f->failed = true;
	if (bad)
		o += (size_t)snprintf(f->error, sizeof(f->error), "%s: ", bad);
	if (o < sizeof(f->error) && d->offset != DIAG_NO_OFFSET)
		o += (size_t)snprintf(f->error + o, sizeof(f->error) - o, "offset %llu: ",
				      (unsigned long long)d->offset);
	if (o < sizeof(f->error))
		snprintf(f->error + o, sizeof(f->error) - o, "%s", d->msg);
}

static void why_join(struct out_rec_file *f, const struct place_plan *p)
{
	size_t o = 0;

	f->why[0] = '\0';
	for (size_t i = 0; i < p->n_why && i < 2 && o < sizeof(f->why); i++)
		o += (size_t)snprintf(f->why + o, sizeof(f->why) - o, "%s%s", i ? "; " : "", p->why[i]);
}

struct scratch {
	struct place_request q;
	struct place_plan plan, plan2;
	struct est_result est;
	struct io_buffers bufs;      /* this thread's header buffers */
};

/* The largest context that fits with p's placement, in llama.cpp's
 * 256-cell steps up to the training context: a bisection over what
 * place_check says (a larger context only adds to every device). */
static uint32_t max_ctx(const struct model *m, const struct place_request *q,
			const struct place_plan *p, uint64_t train, struct scratch *s)
{
	struct est_config c = p->config;
	uint64_t need[EST_MAX_DEVICES + 1];
	int64_t lo = (int64_t)(p->est.n_ctx + 255) / 256, hi = (int64_t)(train / 256);
	uint32_t best = p->est.n_ctx;
	struct diag d;

	while (lo <= hi) {
		int64_t mid = lo + (hi - lo) / 2;

		c.n_ctx = mid * 256;
		diag_init(&d);
		if (place_check(m, &c, q->budget, &s->est, need, &d) == 1) {
			best = (uint32_t)(mid * 256) > best ? (uint32_t)(mid * 256) : best;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return best;
}

static void file_plan(const struct rec *r, const struct model *m, struct out_rec_file *f,
		      struct scratch *s)
{
	struct place_request *q = &s->q;
	uint64_t train = m->n_ctx_train ? m->n_ctx_train : 4096, total;
	struct out_rec_pick pk;
	struct diag d;
	int e;

	*q = *r->q;
	q->base.n_ctx = r->n_ctx < train ? r->n_ctx : (int64_t)train;
	q->base.n_gpu_layers = -1;
	q->ctx_fixed = true;
	f->ctx_train = (uint32_t)(train < UINT32_MAX ? train : UINT32_MAX);
	f->ctx = (uint32_t)q->base.n_ctx;
	f->n_layers = m->n_layer + 1;
	if (hopeless(q, m, &total)) {
		f->verdict = OUT_REC_NONE;
		snprintf(f->why, sizeof(f->why),
			 "does not fit: its weights alone (%.1f GiB) are more than RAM and GPU budgets together (%.1f GiB)",
			 (double)m->weight_bytes / GIB, (double)total / GIB);
		return;
	}
	diag_init(&d);
	e = place_solve(m, q, &s->plan, &d);
	if (e == 0 && !s->plan.fits) {
		/* a smaller context may fit */
		q->ctx_fixed = false;
		q->ctx_max = true;
		if (place_solve(m, q, &s->plan2, &d) == 0 && s->plan2.fits)
			s->plan = s->plan2;
	} else if (e == 0) {
		f->max_ctx = max_ctx(m, q, &s->plan, train, s);
	}
	if (e < 0) {
		file_error(f, NULL, &d);
		return;
	}
	const struct place_plan *p = &s->plan;

	memset(&pk, 0, sizeof(pk));
	pick_from_plan(p, m, &pk);
	f->n_gpu_layers = pk.n_gpu_layers;
	f->n_layers = pk.n_layers;
	f->n_cpu_moe = pk.n_cpu_moe;
	f->memory_bytes = pk.memory_bytes;
	f->gpu_bytes = pk.gpu_bytes;
	f->speed_ratio = pk.speed_ratio;
	f->tokens_per_s = pk.tokens_per_s;
	f->ctx = p->est.n_ctx;
	if (f->max_ctx < f->ctx)
		f->max_ctx = f->ctx;
	if (!p->fits) {
		f->verdict = OUT_REC_NONE;
		f->max_ctx = 0;
		why_join(f, p);
		return;
	}
	cmd_fit_plan_args(f->args, sizeof(f->args), p);
	if (!r->q->base.n_devices)
		f->verdict = OUT_REC_CPU;
	else
		f->verdict = plan_full(p, m) ? OUT_REC_GPU : OUT_REC_PARTIAL;
}

static void file_eval(const struct rec *r, const struct io_store_entry *se, struct out_rec_file *f,
		      struct scratch *s)
{
	struct io_model *im = NULL;
	const struct gguf_file **parts = NULL;
	struct model_info info;
	struct model m;
	struct diag d;
	char *bad = NULL;
	int e;

	f->name = se->name;
	f->path = se->path;
	f->also = se->also;
	f->source = io_store_source_name(se->source);
	f->file_bytes = se->file_bytes;
	f->n_parts = 1;
	if (se->error) {
		f->failed = true;
		snprintf(f->error, sizeof(f->error), "%s", se->msg);
		return;
	}
	diag_init(&d);
	e = io_model_open_pooled(se->path, &s->bufs, &im, &d, &bad);
	if (e < 0) {
		file_error(f, bad, &d);
		free(bad);
		return;
	}
	f->n_parts = (uint32_t)im->n_parts;
	f->file_bytes = im->file_bytes;
	parts = calloc(im->n_parts, sizeof(*parts));
	if (!parts) {
		diag_set(&d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
		file_error(f, NULL, &d);
		goto out;
	}
	for (size_t i = 0; i < im->n_parts; i++)
		parts[i] = im->parts[i]->gf;
	if (model_info_from_gguf(parts, im->n_parts, &info, &d) < 0) {
		file_error(f, NULL, &d);
		goto out;
	}
	f->params = info.n_params;
	f->file_type = info.has_ftype && info.ftype <= UINT32_MAX ? llama_ftype_name((uint32_t)info.ftype) : NULL;
	if (info.name.n) {
		FILE *mf = fmemopen(f->title, sizeof(f->title) - 1, "w");

		if (mf) {
			out_print_escaped(mf, info.name.p, info.name.n < 60 ? info.name.n : 60);
			fclose(mf);
		}
	}
	if (model_from_gguf_flags(parts, im->n_parts, MODEL_NO_HEAP, &m, &d) < 0) {
		file_error(f, NULL, &d);
		goto out;
	}
	snprintf(f->arch, sizeof(f->arch), "%s", m.arch);
	file_plan(r, &m, f, s);
	model_release(&m);
out:
	free(parts);
	io_model_free(im);
}

struct job {
	const struct rec *r;
	const struct io_store *st;
	struct out_rec_file *files;
	atomic_size_t next;
};

static void *file_worker(void *arg)
{
	struct job *j = arg;
	struct scratch *s = malloc(sizeof(*s));
	size_t i;

	if (s)
		io_buffers_init(&s->bufs);
	while ((i = atomic_fetch_add(&j->next, 1)) < j->st->n_entries) {
		if (!s) {
			snprintf(j->files[i].error, sizeof(j->files[i].error), "out of memory");
			j->files[i].failed = true;
			continue;
		}
		file_eval(j->r, &j->st->entries[i], &j->files[i], s);
	}
	if (s)
		io_buffers_release(&s->bufs);
	free(s);
	return NULL;
}

/* Reads and plans every file on one thread per CPU (at most
 * MAX_THREADS); meanwhile this thread runs side(arg) (the catalog), then
 * works on the files too. Returns side's result. */
static int files_eval(const struct rec *r, const struct io_store *st, struct out_rec_file *files,
		      int (*side)(void *), void *arg)
{
	struct job j = { r, st, files, 0 };
	pthread_t th[MAX_THREADS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = ncpu > 0 ? (size_t)ncpu : 1, started = 0;
	int ret = 0;

	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if (n > st->n_entries)
		n = st->n_entries;
	if (!side && n)
		n--;
	for (size_t i = 0; i < n; i++)
		if (pthread_create(&th[started], NULL, file_worker, &j) == 0)
			started++;
	if (side)
		ret = side(arg);
	file_worker(&j);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	return ret;
}

/* the catalog as files_eval()'s side job, with a machine of its own
 * (cat_eval changes its request's context and layers) */
struct cat_job {
	struct rec r;
	struct out_rec_family *fams;
	size_t n_fams;
	const char **names;
};

static int cat_side(void *arg)
{
	struct cat_job *c = arg;

	return catalog_eval(&c->r, &c->fams, &c->n_fams, &c->names);
}

/* ---- the command ---- */

static int recommend_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "ram", required_argument, NULL, 'R' },
		{ "ctx-size", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-default-dirs", no_argument, NULL, 'n' },
		{ "no-catalog", no_argument, NULL, 'C' },
		{ "headroom", required_argument, NULL, 'H' },
		{ "bandwidth", required_argument, NULL, 'B' },
		{ "root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_model_opts mo;
	uint64_t mem = 0, ctx = 8192;
	bool json = false, defaults = true, catalog = true, probed = false;
	char models[EST_MAX_DEVICES][64];
	struct rec r;
	struct io_store st;
	struct io_store_env env;
	struct out_recommend out;
	struct out_rec_family *fams = NULL;
	const char **fam_names = NULL;
	struct out_rec_file *files = NULL;
	struct out_rec_place *places = NULL;
	struct cat_job cj;
	size_t n_fams = 0;
	int o, e, rc = CMD_EXIT_OK;

	memset(&mo, 0, sizeof(mo));
	mo.fit = true;
	est_config_init(&mo.c);
	optind = 1;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			if (parse_size(optarg, &mem) < 0 || !mem) {
				cmd_error("--mem '%s': expected a size such as 24GB", optarg);
				return CMD_EXIT_INPUT;
			}
			break;
		case 'R':
			if (parse_size(optarg, &mo.ram) < 0 || !mo.ram) {
				cmd_error("--ram '%s': expected a size such as 64GB", optarg);
				return CMD_EXIT_INPUT;
			}
			break;
		case 'c':
			if (parse_u64(optarg, &ctx) < 0 || !ctx || ctx > UINT32_MAX) {
				cmd_error("-c '%s': expected a number of tokens", optarg);
				return CMD_EXIT_INPUT;
			}
			break;
		case 'j': json = true; break;
		case 'n': defaults = false; break;
		case 'C': catalog = false; break;
		case 'H': mo.headroom = optarg; break;
		case 'B': mo.bandwidth = optarg; break;
		case 'r': mo.root = optarg; break;
		case 'h': recommend_usage(stdout); return CMD_EXIT_OK;
		default: recommend_usage(stderr); return CMD_EXIT_INPUT;
		}
	}

	/* the machine, as `llmem fit` plans for it */
	memset(&r, 0, sizeof(r));
	memset(&cj, 0, sizeof(cj));
	r.q = calloc(1, sizeof(*r.q));
	r.plan = calloc(1, sizeof(*r.plan));
	r.est = calloc(1, sizeof(*r.est));
	io_store_init(&st);
	if (!r.q || !r.plan || !r.est) {
		cmd_error("out of memory");
		rc = CMD_EXIT_FAIL;
		goto done;
	}
	r.n_ctx = (uint32_t)ctx;
	for (size_t k = 0; k < N_LADDER; k++)
		r.ladder[k] = (uint32_t)llama_ftype_find(ladder_names[k]);
	if (mem) {
		struct est_device *dv = &mo.c.devices[0];

		snprintf(dv->name, sizeof(dv->name), "GPU0");
		dv->kind = EST_DEV_DISCRETE;
		dv->total_bytes = mem;
		mo.c.n_devices = 1;
	}
	r.q->base = mo.c;
	memset(models, 0, sizeof(models));
	if (cmd_fit_machine(&mo, r.q, models, &probed) < 0 ||
	    cmd_fit_set_bandwidths(&mo, r.q, models) < 0) {
		rc = CMD_EXIT_INPUT;
		goto done;
	}
	r.q->ctx_fixed = true;

	/* the places */
	for (int i = optind; i < argc; i++) {
		if (io_store_add_place(&st, IO_STORE_DIR, argv[i]) < 0) {
			rc = CMD_EXIT_FAIL;
			goto done;
		}
	}
	memset(&env, 0, sizeof(env));
	env.root = mo.root;
	env.home = getenv("HOME");
	env.xdg_cache_home = getenv("XDG_CACHE_HOME");
	env.ollama_models = getenv("OLLAMA_MODELS");
	env.hf_hub_cache = getenv("HF_HUB_CACHE");
	env.hf_home = getenv("HF_HOME");
	env.llama_cache = getenv("LLAMA_CACHE");
	if ((defaults && io_store_add_defaults(&st, &env) < 0) || io_store_scan(&st) < 0) {
		cmd_error("out of memory");
		rc = CMD_EXIT_FAIL;
		goto done;
	}
	for (size_t i = 0; i < st.n_places; i++)
		if (st.places[i].source == IO_STORE_DIR && !st.places[i].exists) {
			cmd_error("%s: %s", st.places[i].path, strerror(-st.places[i].error));
			rc = CMD_EXIT_INPUT;
			goto done;
		}

	/* the files, and the catalog beside them */
	files = calloc(st.n_entries ? st.n_entries : 1, sizeof(*files));
	places = calloc(st.n_places ? st.n_places : 1, sizeof(*places));
	cj.r = r;
	cj.r.q = malloc(sizeof(*cj.r.q));
	if (!files || !places || !cj.r.q) {
		cmd_error("out of memory");
		rc = CMD_EXIT_FAIL;
		goto done;
	}
	*cj.r.q = *r.q;
	e = files_eval(&r, &st, files, catalog ? cat_side : NULL, &cj);
	fams = cj.fams;
	n_fams = cj.n_fams;
	fam_names = cj.names;
	if (e < 0) {
		rc = e == -ENOMEM ? CMD_EXIT_FAIL : CMD_EXIT_INPUT;
		goto done;
	}
	for (size_t i = 0; i < st.n_places; i++) {
		places[i].source = io_store_source_name(st.places[i].source);
		places[i].path = st.places[i].path;
		places[i].exists = st.places[i].exists;
		places[i].same_as = st.places[i].same_as;
		places[i].n_found = st.places[i].n_found;
	}

	memset(&out, 0, sizeof(out));
	out.n_ctx = r.n_ctx;
	out.mem_given = mem != 0;
	out.ram_given = mo.ram != 0;
	out.n_gpus = r.q->base.n_devices;
	for (size_t i = 0; i < r.q->base.n_devices; i++) {
		if (!ck_add_u64(out.gpu_total, r.q->base.devices[i].total_bytes, &out.gpu_total))
			out.gpu_total = UINT64_MAX;
		if (!ck_add_u64(out.gpu_budget, r.q->budget[i + 1], &out.gpu_budget))
			out.gpu_budget = UINT64_MAX;
	}
	out.ram_budget = r.q->budget[0];
	out.catalog = catalog;
	out.n_families = n_fams;
	out.families = fams;
	out.n_places = st.n_places;
	out.places = places;
	out.n_files = st.n_entries;
	out.files = files;
	if (json) {
		json_t *j = out_recommend_json(&out);

		if (!j || json_dumpf(j, stdout, JSON_INDENT(2)) < 0)
			rc = CMD_EXIT_FAIL;
		else
			fputc('\n', stdout);
		json_decref(j);
	} else {
		out_recommend_text(stdout, &out);
	}
	if (fflush(stdout) != 0)
		rc = CMD_EXIT_FAIL;
done:
	free(fams);
	free(fam_names);
	free(files);
	free(places);
	io_store_release(&st);
	free(cj.r.q);
	free(r.q);
	free(r.plan);
	free(r.est);
	return rc;
}

const struct cmd cmd_recommend = {
	.name = "recommend",
	.summary = "what fits this machine: catalog families and the models found here",
	.run = recommend_run,
	.usage = recommend_usage,
	.one_shot = true,
};
