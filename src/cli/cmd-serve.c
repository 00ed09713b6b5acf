/* cmd-serve.c: `llmem serve`: reads the models (--models-dir, --models-preset),
 * the machine (probed, or --device / --budget), and runs the daemon
 * (serve/daemon.h) with a planner built on place_solve(): each model's
 * preset options are what the user fixed; the rest is fitted to the memory
 * the scheduler says is available. */
#include "base/compat.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/parse.h"
#include "cli/cmd.h"
#include "cli/cmd-fit.h"
#include "cli/cmd-model.h"
#include "cli/cmd-opts.h"
#include "gguf/ggml-type.h"
#include "model/model-info.h"
#include "place/place.h"
#include "serve/cgroup.h"
#include "serve/daemon.h"
#include "serve/pressure.h"
#include "serve/registry.h"

#ifndef LLMEM_VERSION
#define LLMEM_VERSION "0.1.0"
#endif

#define PLANS_KEPT 8
/* the most words cmd_fit_plan_args() writes: -c, -ngl, -ts, -np, -ctk,
 * -ctv, -fa, -ub, -b, -lm, -fit, -cram, --pooling, --n-cpu-moe, --n-cpu-ffn,
 * -sm, -mg with a value each; -kvu or --no-kv-unified, -nkvo, --swa-full,
 * -nr, --embeddings, --cpu-moe, --no-mmproj-offload alone; -ngld, -ctkd,
 * -ctvd with a value; -ot with its patterns up to four times (split where
 * the three rules above fall among them): 55 */
#define PLAN_ARGS_RESERVED 56

struct sp_model {
	const struct reg_model *rm;
	bool opened;
	int open_err;
	char open_msg[200];
	struct cmd_model *cm;
	struct cmd_model_opts mo;  /* the preset's llama-server options */
	struct io_gguf *mmproj;    /* its projector's header (the plan counts
	                            * its weights), opened once */
	bool mmproj_tried;
	struct cmd_model *draft;   /* its draft model (-md), opened once */
	bool draft_tried;
	struct io_gguf *loras[EST_MAX_LORAS]; /* its --lora adapters' headers, */
	size_t n_loras;                       /* opened once */
	bool loras_tried;
	const char *pass[SERVE_MAX_ARGS]; /* the rest, passed through */
	size_t n_pass;
	struct place_plan plans[PLANS_KEPT];
	uint32_t ids[PLANS_KEPT];
	size_t next;
	char args[CMD_PLAN_ARGS_MAX];
	const char *argv[SERVE_MAX_ARGS];
	struct serve_model_info info; /* filled at open: the header is dropped then */
	struct stat st;            /* the file as it was read (B36) */
	bool has_st;
};

struct sp {
	struct place_request q0;   /* the machine: devices, budgets, bandwidths */
	size_t n;
	struct sp_model *m;
	uint32_t next_id;
	const char *ctx_default;   /* -c for models whose preset has none */
};

static bool is_draft_opt(const char *a)
{
	return !strcmp(a, "-md") || !strcmp(a, "--model-draft") || !strcmp(a, "--spec-draft-model") ||
	       !strcmp(a, "--model_draft") || !strcmp(a, "--spec_draft_model");
}

/* --lora and --lora-scaled: their files are not in the plan's words */
static bool is_lora_opt(const char *a)
{
	return !strcmp(a, "--lora") || !strcmp(a, "--lora-scaled") || !strcmp(a, "--lora_scaled");
}

static void quiet_usage(FILE *fp)
{
	(void)fp;
}

/* Splits the preset's arguments and parses the estimate's part. */
static int sp_model_prepare(struct sp *p, struct sp_model *sm)
{
	const struct reg_model *rm = sm->rm;
	char *argv[SERVE_MAX_ARGS + 4];
	int argc = 0;
	bool ctx_given = false;

	/* called again for each plan: the pass-through list starts over, or
	 * the backend would get every option once per call */
	sm->n_pass = 0;
	memset(&sm->mo, 0, sizeof(sm->mo));
	sm->mo.fit = true;
	sm->mo.quiet = true;
	/* the backend's command line has room for SERVE_MAX_ARGS more than
	 * llmem's own; the plan's take up to PLAN_ARGS_RESERVED of them.
	 * Refused rather than cut short (a flag kept without its value) */
	if (rm->n_args > SERVE_MAX_ARGS - PLAN_ARGS_RESERVED) {
		msgf(sm->open_msg, sizeof(sm->open_msg),
		     "%s: the preset gives llama-server %zu arguments; llmem passes at most %d", rm->name,
		     rm->n_args, SERVE_MAX_ARGS - PLAN_ARGS_RESERVED);
		return -E2BIG;
	}
	est_config_init(&sm->mo.c);
	sm->mo.c.n_devices = p->q0.base.n_devices;
	memcpy(sm->mo.c.devices, p->q0.base.devices, sizeof(sm->mo.c.devices));
	argv[argc++] = (char *)"serve";
	for (size_t i = 0; i < rm->n_args && argc < SERVE_MAX_ARGS; i++) {
		/* an option's name, not a value that reads like one (a
		 * reverse-prompt of "c" is not -c) */
		int nv = rm->args[i][0] == '-' ? cmd_model_opt_values(rm->args[i]) : -1;

		/* the planner's options: the plan writes them back
		 * (cmd_fit_plan_args) */
		if (nv >= 0) {
			if (!strcmp(rm->args[i], "-c") || !strcmp(rm->args[i], "--ctx-size") ||
			    !strcmp(rm->args[i], "--ctx_size"))
				ctx_given = true;
			/* the draft model's path is not in the plan's words:
			 * the backend gets it as given */
			bool pass = (is_draft_opt(rm->args[i]) || is_lora_opt(rm->args[i])) &&
				    sm->n_pass + 2 < SERVE_MAX_ARGS;

			argv[argc++] = rm->args[i];
			if (pass)
				sm->pass[sm->n_pass++] = rm->args[i];
			if (nv && i + 1 < rm->n_args) {
				argv[argc++] = rm->args[++i];
				if (pass)
					sm->pass[sm->n_pass++] = rm->args[i];
			}
		} else {
			/* an option for llama-server alone, with its values
			 * (one may read like an option: --reverse-prompt -c) */
			int ov = rm->args[i][0] == '-' ? registry_llama_opt_values(rm->args[i]) : 0;

			if (sm->n_pass < SERVE_MAX_ARGS - 1)
				sm->pass[sm->n_pass++] = rm->args[i];
			for (int k = 0; k < ov && i + 1 < rm->n_args && sm->n_pass < SERVE_MAX_ARGS - 1; k++)
				sm->pass[sm->n_pass++] = rm->args[++i];
		}
	}
	if (!ctx_given && p->ctx_default && argc + 2 < SERVE_MAX_ARGS) {
		argv[argc++] = (char *)"-c";
		argv[argc++] = (char *)p->ctx_default;
	}
	argv[argc++] = (char *)rm->path;
	argv[argc] = NULL;
	if (cmd_model_opts_parse(argc, argv, &sm->mo, quiet_usage) != 0) {
		msgf(sm->open_msg, sizeof(sm->open_msg), "%s: the preset's llama-server options are invalid",
			 rm->name);
		return -EINVAL;
	}
	/* the devices are the machine's, whatever the parse did */
	sm->mo.c.n_devices = p->q0.base.n_devices;
	memcpy(sm->mo.c.devices, p->q0.base.devices, sizeof(sm->mo.c.devices));
	/* the projector the backend gets (--mmproj): its weights count in
	 * the plan; one that cannot be read is llama-server's to refuse */
	if (rm->mmproj[0] && !reg_model_no_mmproj(rm) && !sm->mmproj_tried) {
		struct diag d;

		sm->mmproj_tried = true;
		diag_init(&d);
		if (io_gguf_open(rm->mmproj, &sm->mmproj, &d) < 0)
			sm->mmproj = NULL;
	}
	sm->mo.c.mmproj = sm->mmproj ? sm->mmproj->gf : NULL;
	/* the draft model (-md), opened once: its buffers count in the plan */
	if (sm->mo.draft_path && !sm->draft_tried) {
		sm->draft_tried = true;
		if (cmd_model_open(sm->mo.draft_path, CMD_MODEL_NO_RSS | CMD_MODEL_READ, &sm->draft) != 0)
			sm->draft = NULL;
	}
	sm->mo.c.draft = sm->mo.draft_path && sm->draft ? &sm->draft->m : NULL;
	/* the LoRA adapters, opened once: their tensors count in the plan;
	 * ones that cannot be read are llama-server's to refuse */
	if (sm->mo.n_lora_args && !sm->loras_tried) {
		sm->loras_tried = true;
		if (cmd_model_opts_open_loras(&sm->mo) == 0) {
			for (size_t k = 0; k < sm->mo.c.n_loras; k++) {
				sm->loras[k] = sm->mo.loras[k];
				sm->mo.loras[k] = NULL;
			}
			sm->n_loras = sm->mo.c.n_loras;
		} else {
			for (size_t k = 0; k < EST_MAX_LORAS; k++) {
				sm->mo.loras[k] = io_gguf_free(sm->mo.loras[k]);
				sm->mo.c.loras[k] = NULL;
			}
		}
	}
	for (size_t k = 0; k < sm->n_loras; k++)
		sm->mo.c.loras[k] = sm->loras[k]->gf;
	sm->mo.c.n_loras = sm->n_loras;
	return 0;
}

static void sp_info_fill(struct sp_model *sm, struct serve_model_info *info);

static int sp_open(struct sp *p, size_t i)
{
	struct sp_model *sm = &p->m[i];
	int e;

	if (sm->opened)
		return sm->open_err;
	sm->opened = true;
	e = sp_model_prepare(p, sm);
	if (e < 0) {
		sm->open_err = e;
		return e;
	}
	/* cmd_model_open prints its own line on failure */
	sm->has_st = stat(sm->rm->path, &sm->st) == 0;
	e = cmd_model_open(sm->rm->path, CMD_MODEL_NO_RSS | CMD_MODEL_READ, &sm->cm);
	if (e) {
		/* once more for the reason, which cmd_model_open() printed */
		struct io_model *im = NULL;
		struct diag d;
		char *bad = NULL;

		diag_init(&d);
		sm->open_err = -EINVAL;
		if (io_model_open(sm->rm->path, &im, &d, &bad) < 0)
			msgf(sm->open_msg, sizeof(sm->open_msg), "%s: cannot read %s: %s", sm->rm->name,
			     bad ? bad : sm->rm->path, d.msg);
		else
			msgf(sm->open_msg, sizeof(sm->open_msg), "%s: cannot read %s", sm->rm->name,
			     sm->rm->path);
		io_model_free(im);
		free(bad);
		return sm->open_err;
	}
	/* what the model is, then drop the header (its vocabulary is most of
	 * it: 7.5 MiB for a 128k-token one); planning needs only cm->m */
	sp_info_fill(sm, &sm->info);
	for (size_t k = 0; k < sm->cm->n_parts; k++) {
		sm->cm->parts[k] = NULL;
		sm->cm->paths[k] = NULL;
	}
	sm->cm->im = io_model_free(sm->cm->im);
	return 0;
}

/* A model file replaced since it was read (a new download under the same
 * name, a bigger quantization) is read again before it is planned: its
 * header, not the old one, says what a load takes (B36). The daemon asks
 * before each request or load of a model that is not loaded. */
static bool sp_model_changed(void *ctx, size_t i)
{
	struct sp *p = ctx;
	struct sp_model *sm = &p->m[i];
	struct stat st;

	if (!sm->opened || stat(sm->rm->path, &st) != 0)
		return false; /* a file that is gone fails in llama-server, with its words */
	/* one that was not there when first asked for (a download still
	 * running) is read once it is */
	if (sm->has_st && st.st_dev == sm->st.st_dev && st.st_ino == sm->st.st_ino &&
	    st.st_size == sm->st.st_size && st.st_mtim.tv_sec == sm->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == sm->st.st_mtim.tv_nsec)
		return false;
	if (sm->cm)
		sm->cm = cmd_model_free(sm->cm);
	sm->opened = false;
	sm->open_err = 0;
	sm->open_msg[0] = '\0';
	sm->n_pass = 0;
	return true;
}

static struct place_plan *sp_find(struct sp_model *sm, uint32_t id)
{
	for (size_t k = 0; k < PLANS_KEPT; k++)
		if (sm->ids[k] == id && id)
			return &sm->plans[k];
	return NULL;
}

static int sp_plan(void *ctx, size_t model, const uint64_t *avail, struct sched_plan *out)
{
	struct sp *p = ctx;
	struct sp_model *sm = &p->m[model];
	struct place_request q = p->q0;
	struct place_plan *pl;
	struct diag d;
	size_t k;
	int e;

	memset(out, 0, sizeof(*out));
	if (sp_open(p, model) < 0) {
		snprintf(out->why, sizeof(out->why), "%s", sm->open_msg);
		return 0;
	}
	q.base = sm->mo.c;
	q.ngl_fixed = sm->mo.ngl_set;
	q.ctx_fixed = sm->mo.ctx_set && !sm->mo.ctx_max;
	q.ncmoe_fixed = sm->mo.ncmoe_set;
	q.cram_fixed = sm->mo.cram_set;
	q.ctxcp_fixed = sm->mo.ctxcp_set;
	q.ts_fixed = sm->mo.ts_set;
	q.ctx_max = sm->mo.ctx_max;
	q.kv_auto = sm->mo.kv_auto;
	q.mmap_fixed = sm->mo.mmap_set;
	for (size_t i = 0; i <= q.base.n_devices; i++)
		q.budget[i] = avail[i];
	k = sm->next++ % PLANS_KEPT;
	pl = &sm->plans[k];
	diag_init(&d);
	e = place_solve(&sm->cm->m, &q, pl, &d);
	if (e < 0) {
		msgf(out->why, sizeof(out->why), "%s: %s", sm->rm->name, d.msg);
		sm->ids[k] = 0;
		return 0;
	}
	sm->ids[k] = ++p->next_id;
	out->id = sm->ids[k];
	out->fits = pl->fits;
	for (size_t i = 0; i <= q.base.n_devices && i < SCHED_MAX_POOLS; i++)
		out->need[i] = pl->need[i];
	if (!pl->fits)
		msgf(out->why, sizeof(out->why), "%s does not fit: %s", sm->rm->name,
			 pl->n_why ? pl->why[pl->n_why - 1] : "not enough memory");
	return 0;
}

static int sp_plan_args(void *ctx, size_t model, uint32_t plan_id, const char **argv, size_t max)
{
	struct sp *p = ctx;
	struct sp_model *sm = &p->m[model];
	struct place_plan *pl = sp_find(sm, plan_id);
	size_t n = 0;
	char *tok, *save = NULL;

	if (!pl)
		return -ENOENT;
	cmd_fit_plan_args(sm->args, sizeof(sm->args), pl);
	for (tok = strtok_r(sm->args, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	for (size_t i = 0; i < sm->n_pass && n < max; i++)
		argv[n++] = sm->pass[i];
	return (int)n;
}

static int sp_plan_info(void *ctx, size_t model, uint32_t plan_id, struct serve_plan_info *info)
{
	struct sp *p = ctx;
	struct sp_model *sm = &p->m[model];
	struct place_plan *pl;
	size_t o = 0;

	memset(info, 0, sizeof(*info));
	if (plan_id == UINT32_MAX) {
		/* before any plan: the slots the preset asks for */
		if (sp_model_prepare(p, sm) < 0)
			return -EINVAL;
		info->slots = sm->mo.c.n_parallel > 0 ? (uint32_t)sm->mo.c.n_parallel : 4;
		return 0;
	}
	pl = sp_find(sm, plan_id);
	if (!pl)
		return -ENOENT;
	info->n_ctx = pl->est.n_ctx;
	info->n_ctx_seq = pl->est.n_ctx_seq;
	info->n_gpu_layers = pl->est.n_gpu_layers;
	info->n_layer = sm->cm->m.n_layer + 1;
	info->slots = pl->est.n_seq;
	info->tokens_per_s = pl->tokens_per_s;
	for (size_t i = 0; i < pl->est.n_usage && i < SCHED_MAX_POOLS; i++) {
		const struct est_usage *u = &pl->est.usage[i];
		uint64_t b = u->total > u->overhead ? u->total - u->overhead : 0;
		size_t pool = i;

		/* unified GPUs draw on system RAM */
		if (i > 0 && pl->config.devices[i - 1].kind == EST_DEV_UNIFIED)
			pool = 0;
		info->buffers[pool] += b;
	}
	for (size_t i = 0; i <= pl->config.n_devices && i < SCHED_MAX_POOLS; i++)
		info->need[i] = pl->need[i];
	if (pl->config.n_devices)
		o += (size_t)snprintf(info->summary + o, sizeof(info->summary) - o, "%u/%u layers on GPU, ",
				      pl->est.n_gpu_layers, sm->cm->m.n_layer + 1);
	else
		o += (size_t)snprintf(info->summary + o, sizeof(info->summary) - o, "CPU, ");
	if (o < sizeof(info->summary))
		snprintf(info->summary + o, sizeof(info->summary) - o, "-c %u, KV %s, %u slot%s", pl->est.n_ctx,
			 ggml_type_get(pl->config.type_k)->name, pl->est.n_seq, pl->est.n_seq == 1 ? "" : "s");
	return 0;
}

static bool str_has(struct gguf_str s, const char *needle)
{
	return memmem(s.p, s.n, needle, strlen(needle)) != NULL;
}

/* What the chat template and the vocabulary say the model can do, as
 * Ollama infers its capabilities: tools when the template reads them;
 * thinking when it writes a <think> block or takes enable_thinking (the
 * switch llama-server's chat_template_kwargs set); insert when the
 * vocabulary has fill-in-the-middle tokens, which llama-server's
 * /infill needs. */
/* where the last of a pass-through option (the preset's own) is, -1 when
 * it is not there or has no value */
static ssize_t pass_last(const struct sp_model *sm, const char *name)
{
	ssize_t at = -1;

	for (size_t i = 0; i + 1 < sm->n_pass; i++)
		if (!strcmp(sm->pass[i], name))
			at = (ssize_t)i;
	return at;
}

static void template_caps(struct gguf_str t, struct serve_model_info *info)
{
	info->tools = info->tools || str_has(t, "tools");
	info->thinking = info->thinking || str_has(t, "<think>") || str_has(t, "enable_thinking");
}

/* tools and thinking from the chat template llama-server will use: the
 * preset's --chat-template-file or Jinja --chat-template, else the
 * file's (and its tool_use variant); insert from the fill-in-the-middle
 * tokens, under their current or their older names */
static void sp_info_template(const struct sp_model *sm, const struct gguf_file *f, struct serve_model_info *info)
{
	/* the later of the two counts, as llama.cpp reads its options */
	ssize_t af = pass_last(sm, "--chat-template-file"), ai = pass_last(sm, "--chat-template");
	const char *tfile = af > ai ? sm->pass[af + 1] : NULL;
	const char *tinline = ai > af ? sm->pass[ai + 1] : NULL;
	struct gguf_str t;
	int64_t k;

	if (tfile) {
		FILE *fp = fopen(tfile, "rb");
		char *buf = malloc(1u << 20);
		size_t n = 0;

		if (fp && buf) {
			n = fread(buf, 1, (1u << 20) - 1, fp);
			t.p = buf;
			t.n = n;
			template_caps(t, info);
		}
		free(buf);
		if (fp)
			fclose(fp);
	} else if (tinline && (strstr(tinline, "{%") || strstr(tinline, "{{"))) {
		t.p = tinline;
		t.n = strlen(tinline);
		template_caps(t, info);
	} else if (!tinline) {
		/* (a built-in template's name: none of them is known to take tools) */
		k = gguf_kv_find(f, "tokenizer.chat_template");
		if (k >= 0 && gguf_kv_get_str(f, (uint64_t)k, &t) == 0)
			template_caps(t, info);
		k = gguf_kv_find(f, "tokenizer.chat_template.tool_use");
		if (k >= 0 && gguf_kv_get_str(f, (uint64_t)k, &t) == 0)
			template_caps(t, info);
	}
	info->insert = (gguf_kv_find(f, "tokenizer.ggml.fim_pre_token_id") >= 0 ||
			gguf_kv_find(f, "tokenizer.ggml.prefix_token_id") >= 0) &&
		       (gguf_kv_find(f, "tokenizer.ggml.fim_suf_token_id") >= 0 ||
			gguf_kv_find(f, "tokenizer.ggml.suffix_token_id") >= 0) &&
		       (gguf_kv_find(f, "tokenizer.ggml.fim_mid_token_id") >= 0 ||
			gguf_kv_find(f, "tokenizer.ggml.middle_token_id") >= 0);
}

static void sp_info_fill(struct sp_model *sm, struct serve_model_info *info)
{
	struct stat st;

	memset(info, 0, sizeof(*info));
	snprintf(info->arch, sizeof(info->arch), "%s", sm->cm->m.arch);
	{
		struct model_info *mi = calloc(1, sizeof(*mi));
		struct diag d;

		diag_init(&d);
		if (mi && model_info_from_gguf(sm->cm->parts, sm->cm->n_parts, mi, &d) == 0) {
			const char *ft = mi->has_ftype ? llama_ftype_name((uint32_t)mi->ftype) : NULL;

			snprintf(info->ftype, sizeof(info->ftype), "%s", ft ? ft : "");
			for (char *c = info->ftype; *c; c++)
				if (*c >= 'a' && *c <= 'z')
					*c = (char)(*c - 'a' + 'A');
			info->n_params = mi->n_params;
		}
		free(mi);
	}
	for (size_t i = 0; i < sm->cm->n_parts; i++)
		info->file_size += sm->cm->sizes[i];
	if (stat(sm->rm->path, &st) == 0)
		info->mtime = st.st_mtime;
	info->n_ctx_train = sm->cm->m.n_ctx_train;
	info->n_layer = sm->cm->m.n_layer;
	info->embedding = sm->mo.c.embeddings;
	/* a projector (a preset's mmproj, or the models directory's), unless
	 * the preset turns it off (as the llama.cpp router reads it) */
	info->vision = sm->rm->mmproj[0] != '\0' && !reg_model_no_mmproj(sm->rm);
	if (sm->cm->n_parts > 0 && sm->cm->parts[0])
		sp_info_template(sm, sm->cm->parts[0], info);
}

static int sp_model_info(void *ctx, size_t model, struct serve_model_info *info, char *msg, size_t msgsz)
{
	struct sp *p = ctx;
	struct sp_model *sm = &p->m[model];

	memset(info, 0, sizeof(*info));
	if (sp_open(p, model) < 0) {
		snprintf(msg, msgsz, "%s", sm->open_msg);
		return sm->open_err;
	}
	*info = sm->info;
	return 0;
}

static void serve_usage(FILE *fp)
{
	fputs("usage: llmem serve [--host ADDR] [--port N] [--models-dir DIR] [--models-preset FILE]\n"
	      "                   [--backend PATH] [--max-loaded N] [--keep-alive DUR]\n"
	      "                   [--budget SIZE | --device SPEC | --gpu SIZE] [--api-key KEY]\n"
	      "\n"
	      "A memory-managed model server: OpenAI, llama.cpp-router and Ollama APIs on one\n"
	      "port; one llama-server per loaded model, started with the placement llmem fits\n"
	      "into the memory free now; idle models evicted when a new one needs the room.\n"
	      "  --host ADDR            listen address (default 127.0.0.1; LLMEM_HOST)\n"
	      "  --port N               port (default 11435)\n"
	      "  --models-dir DIR       models as llama-server's router finds them\n"
	      "  --models-preset FILE   llama-server router presets (INI), plus llmem's keys\n"
	      "                         keep-alive, pin, priority, shrink\n"
	      "  --backend PATH         llama-server (default: found on PATH; LLMEM_BACKEND)\n"
	      "  --max-loaded N         models loaded at once (LLMEM_MAX_LOADED_MODELS)\n"
	      "  --max-queue N          requests waiting per model, 503 above (LLMEM_MAX_QUEUE, 512)\n"
	      "  --keep-alive DUR       default keep-alive: 5m, 1h, 0, -1 (LLMEM_KEEP_ALIVE)\n"
	      "  --budget SIZE          plan with at most SIZE of system RAM (what-if, sharing)\n"
	      "  --device SPEC, --gpu SIZE   plan for these devices instead of probing\n"
	      "  --headroom X           memory left free, as in 'llmem fit'; idle models are\n"
	      "                         evicted when other programs leave less than this free\n"
	      "  --no-pressure          fixed budgets: do not follow MemAvailable\n"
	      "  --no-cgroups           no memory cgroup per model, even where delegated\n"
	      "  -c N                   context for models whose preset sets none\n"
	      "  --load-timeout DUR     kill a backend not healthy by then (default 1h)\n"
	      "  --stall-timeout DUR    kill a backend that answers no byte, logs no line and\n"
	      "                         uses no CPU time this long while loading or with\n"
	      "                         requests in flight (hung; default 2m, 0 = never);\n"
	      "                         one that computes in such silence must answer\n"
	      "                         GET /slots within 3x this long\n"
	      "  --request-timeout S    a request's head must arrive within S seconds, its\n"
	      "                         body not pause that long (408); an idle connection,\n"
	      "                         or a client not reading the answer, is dropped after\n"
	      "                         S (default 30)\n"
	      "  --api-key KEY          require 'Authorization: Bearer KEY' (LLMEM_API_KEY)\n"
	      "  --insecure             allow a --host beyond this machine without an API key\n"
	      "  --origins LIST         extra allowed Origins, comma-separated (LLMEM_ORIGINS)\n"
	      "  --footprints FILE      the measured-footprint cache\n"
	      "  --ready-fd N           write \"ready\" to file descriptor N once listening\n"
	      "  --root DIR             probe a fixture tree instead of this machine\n", fp);
}

static const char *find_on_path(const char *name, char *buf, size_t n)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX];

	if (strchr(name, '/'))
		return name;
	while (path && *path) {
		size_t k = strcspn(path, ":");

		if (k < sizeof(dir)) {
			memcpy(dir, path, k);
			dir[k] = '\0';
			msgf(buf, n, "%s/%s", k ? dir : ".", name);
			if (access(buf, X_OK) == 0)
				return buf;
		}
		path += k;
		if (*path == ':')
			path++;
	}
	return NULL;
}

static int duration_arg(const char *opt, const char *v, int64_t *ms)
{
	if (parse_duration_ms(v, ms) < 0) {
		cmd_error("%s '%s': expected a duration such as 5m, 30s, 1h, 0 or -1", opt, v);
		return -EINVAL;
	}
	return 0;
}

enum {
	O_HOST = 256, O_PORT, O_DIR, O_PRESET, O_BACKEND, O_MAXL, O_MAXQ, O_KA, O_BUDGET, O_DEVICE,
	O_GPU, O_HEADROOM, O_APIKEY, O_ORIGINS, O_FOOT, O_ROOT, O_LOADTO, O_STALLTO, O_READYFD, O_REQTO,
	O_NOPRESS, O_NOCG, O_INSECURE,
};

/* Whether a listen address is this machine only (docs/SECURITY.md, B1). */
static bool host_is_loopback(const char *h)
{
	unsigned char a[16];
	char buf[64];
	size_t n = strlen(h);

	if (n >= 2 && n < sizeof(buf) && h[0] == '[' && h[n - 1] == ']') {
		memcpy(buf, h + 1, n - 2);
		buf[n - 2] = '\0';
		h = buf;
	}
	if (!strcasecmp(h, "localhost"))
		return true;
	if (inet_pton(AF_INET, h, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, h, a) == 1) {
		static const unsigned char lo[16] = { [15] = 1 };

		return !memcmp(a, lo, 16);
	}
	return false;
}

static int serve_run_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, O_HOST },
		{ "port", required_argument, NULL, O_PORT },
		{ "models-dir", required_argument, NULL, O_DIR },
		{ "models-preset", required_argument, NULL, O_PRESET },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "max-loaded", required_argument, NULL, O_MAXL },
		{ "max-queue", required_argument, NULL, O_MAXQ },
		{ "keep-alive", required_argument, NULL, O_KA },
		{ "budget", required_argument, NULL, O_BUDGET },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "gpu", required_argument, NULL, O_GPU },
		{ "headroom", required_argument, NULL, O_HEADROOM },
		{ "api-key", required_argument, NULL, O_APIKEY },
		{ "origins", required_argument, NULL, O_ORIGINS },
		{ "footprints", required_argument, NULL, O_FOOT },
		{ "root", required_argument, NULL, O_ROOT },
		{ "load-timeout", required_argument, NULL, O_LOADTO },
		{ "stall-timeout", required_argument, NULL, O_STALLTO },
		{ "ready-fd", required_argument, NULL, O_READYFD },
		{ "request-timeout", required_argument, NULL, O_REQTO },
		{ "no-pressure", no_argument, NULL, O_NOPRESS },
		{ "no-cgroups", no_argument, NULL, O_NOCG },
		{ "insecure", no_argument, NULL, O_INSECURE },
		{ "ctx-size", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct serve_options so;
	struct registry reg;
	struct sp p;
	struct cmd_model_opts gmo;
	struct diag d;
	const char *dirs[16], *presets[16], *origins[32];
	size_t n_dirs = 0, n_presets = 0, n_origins = 0;
	const char *backend = getenv("LLMEM_BACKEND"), *budget = NULL, *devspec = NULL, *gpu = NULL;
	const char *env;
	char *origin_buf = NULL, bbuf[PATH_MAX], models[EST_MAX_DEVICES][64];
	bool probed = false, no_pressure = false, no_cgroups = false, insecure = false;
	int o, e, rc = CMD_EXIT_OK;
	uint64_t u, headroom = 0;
	struct pressure_cfg pc;
	struct cgroup_tree cgt;

	memset(&pc, 0, sizeof(pc));
	pc.trigger_fd = pc.psi_fd = -1;
	memset(&so, 0, sizeof(so));
	memset(&p, 0, sizeof(p));
	memset(&gmo, 0, sizeof(gmo));
	registry_init(&reg);
	gmo.fit = true;
	est_config_init(&gmo.c);
	so.host = getenv("LLMEM_HOST") ? getenv("LLMEM_HOST") : "127.0.0.1";
	so.port = SERVE_DEFAULT_PORT;
	so.sched.max_queue = 512;
	so.sched.wait_ms = 10 * 60 * 1000;
	so.sched.drain_after_ms = 2000;
	so.default_keep_alive_ms = 5 * 60 * 1000;
	so.max_body = (size_t)64 << 20;
	so.max_headers = 64 << 10;
	so.header_timeout_s = 30;
	so.load_timeout_ms = 60 * 60 * 1000;
	so.stall_timeout_ms = 2 * 60 * 1000;
	so.version = LLMEM_VERSION;
	so.api_key = getenv("LLMEM_API_KEY");
	so.ready_fd = -1;
	/* the measured footprints, remembered across restarts */
	{
		static char fp[4096];
		const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

		if (xdg && *xdg)
			msgf(fp, sizeof(fp), "%s/llmem/footprints.json", xdg);
		else if (home && *home)
			msgf(fp, sizeof(fp), "%s/.cache/llmem/footprints.json", home);
		else
			fp[0] = '\0';
		so.footprint_path = fp[0] ? fp : NULL;
	}
	if ((env = getenv("LLMEM_KEEP_ALIVE")) && duration_arg("LLMEM_KEEP_ALIVE", env, &so.default_keep_alive_ms) < 0)
		return CMD_EXIT_INPUT;
	if ((env = getenv("LLMEM_MAX_LOADED_MODELS")) && parse_u64(env, &u) == 0 && u < 1024)
		so.sched.max_loaded = (uint32_t)u;
	if ((env = getenv("LLMEM_MAX_QUEUE")) && parse_u64(env, &u) == 0 && u >= 1 && u < 1000000)
		so.sched.max_queue = (uint32_t)u;
	if ((env = getenv("LLMEM_ORIGINS")) && (origin_buf = strdup(env))) {
		char *save = NULL;

		for (char *t = strtok_r(origin_buf, ",", &save); t && n_origins < ARRAY_SIZE(origins);
		     t = strtok_r(NULL, ",", &save))
			origins[n_origins++] = t;
	}
	optind = 1;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case O_HOST: so.host = optarg; break;
		case O_PORT:
			if (parse_u64(optarg, &u) < 0 || u > 65535) {
				cmd_error("--port '%s': expected 0..65535", optarg);
				return CMD_EXIT_INPUT;
			}
			so.port = (uint16_t)u;
			break;
		case O_DIR:
			if (n_dirs < ARRAY_SIZE(dirs))
				dirs[n_dirs++] = optarg;
			break;
		case O_PRESET:
			if (n_presets < ARRAY_SIZE(presets))
				presets[n_presets++] = optarg;
			break;
		case O_BACKEND: backend = optarg; break;
		case O_MAXL:
			if (parse_u64(optarg, &u) < 0 || u > 1024) {
				cmd_error("--max-loaded '%s': expected a number", optarg);
				return CMD_EXIT_INPUT;
			}
			so.sched.max_loaded = (uint32_t)u;
			break;
		case O_MAXQ:
			if (parse_u64(optarg, &u) < 0 || u < 1 || u > 1000000) {
				cmd_error("--max-queue '%s': expected 1..1000000", optarg);
				return CMD_EXIT_INPUT;
			}
			so.sched.max_queue = (uint32_t)u;
			break;
		case O_KA:
			if (duration_arg("--keep-alive", optarg, &so.default_keep_alive_ms) < 0)
				return CMD_EXIT_INPUT;
			break;
		case O_LOADTO:
			if (duration_arg("--load-timeout", optarg, &so.load_timeout_ms) < 0)
				return CMD_EXIT_INPUT;
			break;
		case O_STALLTO:
			if (duration_arg("--stall-timeout", optarg, &so.stall_timeout_ms) < 0)
				return CMD_EXIT_INPUT;
			break;
		case O_BUDGET: budget = optarg; break;
		case O_DEVICE: devspec = optarg; break;
		case O_GPU: gpu = optarg; break;
		case O_HEADROOM: gmo.headroom = optarg; break;
		case O_APIKEY: so.api_key = optarg; break;
		case O_ORIGINS: {
			char *save = NULL, *b = strdup(optarg);

			if (!b)
				return CMD_EXIT_FAIL;
			for (char *t = strtok_r(b, ",", &save); t && n_origins < ARRAY_SIZE(origins);
			     t = strtok_r(NULL, ",", &save))
				origins[n_origins++] = t;
			break; /* b lives as long as the process */
		}
		case O_FOOT: so.footprint_path = optarg; break;
		case O_ROOT: gmo.root = optarg; break;
		case O_READYFD:
			if (parse_u64(optarg, &u) < 0 || u > 1024)
				return CMD_EXIT_INPUT;
			so.ready_fd = (int)u;
			break;
		case O_REQTO:
			if (parse_u64(optarg, &u) < 0 || u < 1 || u > 86400) {
				cmd_error("--request-timeout '%s': expected seconds, 1..86400", optarg);
				return CMD_EXIT_INPUT;
			}
			so.header_timeout_s = (int)u;
			break;
		case O_NOPRESS: no_pressure = true; break;
		case O_NOCG: no_cgroups = true; break;
		case O_INSECURE: insecure = true; break;
		case 'c': p.ctx_default = optarg; break;
		case 'h': serve_usage(stdout); return CMD_EXIT_OK;
		default: serve_usage(stderr); return CMD_EXIT_INPUT;
		}
	}
	if (optind != argc) {
		serve_usage(stderr);
		return CMD_EXIT_INPUT;
	}
	/* beyond this machine: a key, or the user says so (B1) */
	if (!host_is_loopback(so.host) && !(so.api_key && *so.api_key)) {
		if (!insecure) {
			cmd_error("--host %s listens beyond this machine: give an API key (--api-key, LLMEM_API_KEY), "
				  "or --insecure to serve anyone who reaches the port", so.host);
			return CMD_EXIT_INPUT;
		}
		fprintf(stderr, "llmem: WARNING: listening on %s with no API key (--insecure): anyone who "
			"reaches this port can run and load the models\n", so.host);
	}
	if (!n_dirs && !n_presets) {
		cmd_error("no models: give --models-dir DIR or --models-preset FILE");
		return CMD_EXIT_INPUT;
	}
	/* the backend */
	if (!backend)
		backend = find_on_path("llama-server", bbuf, sizeof(bbuf));
	else if (!strchr(backend, '/'))
		backend = find_on_path(backend, bbuf, sizeof(bbuf));
	if (!backend || access(backend, X_OK) != 0) {
		cmd_error("llama-server not found: put it on PATH or give --backend PATH");
		return CMD_EXIT_INPUT;
	}
	/* the models */
	diag_init(&d);
	for (size_t i = 0; i < n_presets; i++) {
		if (registry_add_preset(&reg, presets[i], &d) < 0) {
			cmd_error("%s: %s", presets[i], d.msg);
			rc = CMD_EXIT_INPUT;
			goto out;
		}
	}
	for (size_t i = 0; i < n_dirs; i++) {
		if (registry_add_dir(&reg, dirs[i], &d) < 0) {
			cmd_error("%s: %s", dirs[i], d.msg);
			rc = CMD_EXIT_INPUT;
			goto out;
		}
	}
	if (registry_check(&reg, &d) < 0) {
		cmd_error("%s", d.msg);
		rc = CMD_EXIT_INPUT;
		goto out;
	}
	if (reg.n == 0) {
		cmd_error("no models found in the directories and presets given");
		rc = CMD_EXIT_INPUT;
		goto out;
	}
	/* the machine */
	if (devspec || gpu) {
		char *dv[4];
		int dc = 0;
		struct cmd_model_opts t;

		memset(&t, 0, sizeof(t));
		t.fit = true;
		t.quiet = true;
		est_config_init(&t.c);
		dv[dc++] = (char *)"serve";
		dv[dc++] = (char *)(devspec ? "--device" : "--gpu");
		dv[dc++] = (char *)(devspec ? devspec : gpu);
		dv[dc++] = (char *)"x";
		if (cmd_model_opts_parse(dc, dv, &t, quiet_usage) != 0) {
			rc = CMD_EXIT_INPUT;
			goto out;
		}
		gmo.c.n_devices = t.c.n_devices;
		memcpy(gmo.c.devices, t.c.devices, sizeof(gmo.c.devices));
	}
	p.q0.base = gmo.c;
	memset(models, 0, sizeof(models));
	if (cmd_fit_machine_headroom(&gmo, &p.q0, models, &probed, &headroom) < 0 ||
	    cmd_fit_set_bandwidths(&gmo, &p.q0, models) < 0) {
		rc = CMD_EXIT_INPUT;
		goto out;
	}
	if (budget) {
		if (parse_size(budget, &u) < 0) {
			cmd_error("--budget '%s': expected a size such as 16GiB", budget);
			rc = CMD_EXIT_INPUT;
			goto out;
		}
		p.q0.budget[0] = u;
	}
	so.n_pools = 1 + p.q0.base.n_devices;
	snprintf(so.pool_names[0], sizeof(so.pool_names[0]), "RAM");
	for (size_t i = 0; i < p.q0.base.n_devices; i++)
		snprintf(so.pool_names[i + 1], sizeof(so.pool_names[i + 1]), "%s", p.q0.base.devices[i].name);
	for (size_t i = 0; i < so.n_pools; i++)
		so.sched.budget[i] = p.q0.budget[i];
	/* the pools' sizes, for GET /metrics */
	{
		long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

		so.pool_total[0] = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
		for (size_t i = 0; i < p.q0.base.n_devices; i++)
			so.pool_total[i + 1] = p.q0.base.devices[i].total_bytes;
	}
	p.n = reg.n;
	p.m = calloc(reg.n, sizeof(*p.m));
	if (!p.m) {
		rc = CMD_EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < reg.n; i++)
		p.m[i].rm = &reg.v[i];
	so.reg = &reg;
	so.backend = backend;
	so.origins = origins;
	so.n_origins = n_origins;
	so.hooks.ctx = &p;
	so.hooks.plan = sp_plan;
	so.hooks.model_changed = sp_model_changed;
	so.hooks.plan_args = sp_plan_args;
	so.hooks.plan_info = sp_plan_info;
	so.hooks.model_info = sp_model_info;
	fprintf(stderr, "llmem: serving %zu model%s on http://%s:%u (budget: RAM %.1f GiB", reg.n,
		reg.n == 1 ? "" : "s", so.host, so.port, (double)so.sched.budget[0] / (1024.0 * 1024 * 1024));
	for (size_t i = 1; i < so.n_pools; i++)
		fprintf(stderr, ", %s %.1f GiB", so.pool_names[i], (double)so.sched.budget[i] / (1024.0 * 1024 * 1024));
	fprintf(stderr, ")\n");
	/* memory pressure: the RAM budget follows MemAvailable, --budget its cap */
	if (!no_pressure) {
		if (pressure_cfg_init(&pc) < 0) {
			rc = CMD_EXIT_FAIL;
			goto out;
		}
		pc.root = gmo.root;
		pc.n_pools = so.n_pools;
		memcpy(pc.budget, so.sched.budget, sizeof(pc.budget));
		pc.cap = budget ? so.sched.budget[0] : UINT64_MAX;
		pc.headroom = headroom;
		(void)!pressure_trigger_open(&pc);
		so.hooks.budget_read = pressure_budget_read;
		so.hooks.budget_apply = pressure_budget_apply;
		so.hooks.budget_ctx = &pc;
		so.pressure_fd = pc.trigger_fd > 0 ? pc.trigger_fd : 0;
		fprintf(stderr, "llmem: idle models are evicted when less than %.1f GiB of RAM is available (%s)\n",
			(double)headroom / (1024.0 * 1024 * 1024),
			pc.trigger_fd > 0 ? pc.trigger_why : "read every second");
	}
	/* a memory cgroup per backend, where the daemon's is delegated */
	if (!no_cgroups && !gmo.root) {
		cgroup_tree_setup(&cgt, NULL);
		so.cgroup = &cgt;
		if (cgt.delegated)
			fprintf(stderr, "llmem: %s\n", cgt.why);
		else
			fprintf(stderr, "llmem: no memory limit per model: %s\n", cgt.why);
	}
	e = serve_run(&so, &d);
	if (e < 0) {
		cmd_error("%s", d.msg);
		rc = CMD_EXIT_FAIL;
	}
out:
	if (p.m) {
		for (size_t i = 0; i < p.n; i++) {
			cmd_model_free(p.m[i].cm);
			io_gguf_free(p.m[i].mmproj);
			cmd_model_free(p.m[i].draft);
			for (size_t k = 0; k < p.m[i].n_loras; k++)
				io_gguf_free(p.m[i].loras[k]);
		}
		free(p.m);
	}
	registry_release(&reg);
	free(origin_buf);
	pressure_cfg_release(&pc);
	return rc;
}

const struct cmd cmd_serve = {
	.name = "serve",
	.summary = "a memory-managed model server (OpenAI, Ollama and llama.cpp router APIs)",
	.run = serve_run_cmd,
	.usage = serve_usage,
};
