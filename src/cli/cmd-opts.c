/* cmd-opts.c: the llama-server options that `estimate` and `fit` share,
 * with llama-server's names and defaults, and the device flags used until
 * the machine is probed. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "base/parse.h"
#include "cli/cmd.h"
#include "cli/cmd-model.h"
#include "cli/cmd-opts.h"
#include "gguf/ggml-type.h"
#include "serve/registry.h"

enum {
	OPT_NGL = 256, OPT_TS, OPT_SM, OPT_MG, OPT_CTK, OPT_CTV, OPT_FA, OPT_NP, OPT_KVU,
	OPT_NO_KVU, OPT_UB, OPT_CMOE, OPT_NCMOE, OPT_OT, OPT_NO_MMAP, OPT_MLOCK, OPT_LM, OPT_NKVO,
	OPT_SWA_FULL, OPT_NR, OPT_EMBD, OPT_POOLING, OPT_GPU, OPT_DEVICE, OPT_CPU_FEAT, OPT_JSON, OPT_FOR, OPT_NO_CPU,
	OPT_HEADROOM, OPT_RAM, OPT_BW, OPT_ROOT, OPT_ALLOW_DISK, OPT_NCFFN, OPT_KVO, OPT_REPACK, OPT_FIT, OPT_RERANK, OPT_CRAM, OPT_CTXCP, OPT_LORA, OPT_LORA_SCALED, OPT_LORA_NOAPPLY, OPT_MMPROJ, OPT_MMPROJ_GPU, OPT_MMPROJ_CPU, OPT_DRAFT, OPT_NGLD, OPT_CTKD, OPT_CTVD,
};

/* AVX2 and AVX-512F as ggml's CPU backend sees them: the CPU has them
 * and the OS saves their registers (XCR0). Two CPUID leaves, where
 * __builtin_cpu_init() reads every leaf it knows: in a virtual machine
 * each CPUID traps to the hypervisor, a tenth of a millisecond in all. */
static unsigned host_cpu_flags(void)
{
	unsigned f = 0;

#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d, xcr0_lo, xcr0_hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	(void)xcr0_hi;
	if ((xcr0_lo & 0x6) != 0x6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0; /* no AVX state saved */
	if (b & bit_AVX2)
		f |= EST_CPU_AVX2;
	if ((b & bit_AVX512F) && (xcr0_lo & 0xe0) == 0xe0)
		f |= EST_CPU_AVX512;
#elif defined(__aarch64__)
	f |= EST_CPU_NEON_DOTPROD;
#endif
	return f;
}

static int bad(const char *opt, const char *val, const char *why)
{
	cmd_error("%s '%s': %s", opt, val, why);
	return -EINVAL;
}

static int add_device(struct est_config *c, const char *spec)
{
	char buf[128], *eq, *colon;
	struct est_device *dv;
	uint64_t size;

	if (c->n_devices >= EST_MAX_DEVICES)
		return bad("--device", spec, "too many devices");
	snprintf(buf, sizeof(buf), "%s", spec);
	eq = strchr(buf, '=');
	if (!eq || eq == buf)
		return bad("--device", spec, "expected NAME=SIZE[:unified]");
	*eq = '\0';
	colon = strchr(eq + 1, ':');
	if (colon)
		*colon = '\0';
	if (parse_size(eq + 1, &size) < 0 || size == 0)
		return bad("--device", spec, "the size must be like 24GiB");
	/* "--gpu 24" is 24 GiB to whoever types it, 24 bytes to parse_size */
	if (!strpbrk(eq + 1, "BKMGTbkmgt"))
		return bad("--device", spec, "the size needs a unit, like 24GiB or 24576MiB");
	if (strlen(buf) >= sizeof(c->devices[0].name))
		return bad("--device", spec, "the name is too long");
	dv = &c->devices[c->n_devices++];
	memcpy(dv->name, buf, strlen(buf) + 1);
	for (char *p = dv->name; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	/* llama.cpp's spelling, which -ot in a printed command must match */
	if (!strncmp(dv->name, "ROCM", 4))
		memcpy(dv->name, "ROCm", 4);
	else if (!strncmp(dv->name, "VULKAN", 6))
		memcpy(dv->name, "Vulkan", 6);
	dv->total_bytes = size;
	dv->kind = EST_DEV_DISCRETE;
	if (colon) {
		if (strcmp(colon + 1, "unified"))
			return bad("--device", spec, "the only flag is ':unified'");
		dv->kind = EST_DEV_UNIFIED;
	}
	return 0;
}

static int parse_list_sep(const char *arg, const char *sep, int (*one)(struct est_config *, const char *),
			  struct est_config *c)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int e = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, sep, &save); tok && !e; tok = strtok_r(NULL, sep, &save))
		e = one(c, tok);
	free(copy);
	return e;
}

static int parse_list(const char *arg, int (*one)(struct est_config *, const char *),
		      struct est_config *c)
{
	return parse_list_sep(arg, ",", one, c);
}

static int add_ts(struct est_config *c, const char *v)
{
	if (c->n_ts >= EST_MAX_DEVICES || parse_double(v, &c->ts[c->n_ts]) < 0)
		return bad("-ts", v, "expected non-negative numbers such as 3,1");
	c->n_ts++;
	return 0;
}

/* -ot's DEVICE is resolved after all options: keep the name for now. */
static char ot_dev[EST_MAX_OVERRIDES][32];

static int add_ot(struct est_config *c, const char *v)
{
	const char *eq = strrchr(v, '=');

	if (!eq || eq == v || c->n_ot >= EST_MAX_OVERRIDES || (size_t)(eq - v) >= sizeof(c->ot[0].pattern))
		return bad("-ot", v, "expected PATTERN=DEVICE");
	/* no tensor name has one, and the plan's llama-server arguments are
	 * words split at spaces */
	if (memchr(v, ' ', (size_t)(eq - v)))
		return bad("-ot", v, "a pattern with a space matches no tensor name");
	memcpy(c->ot[c->n_ot].pattern, v, (size_t)(eq - v));
	c->ot[c->n_ot].pattern[eq - v] = '\0';
	snprintf(ot_dev[c->n_ot], sizeof(ot_dev[0]), "%s", eq + 1);
	c->n_ot++;
	return 0;
}

static int cpu_feat(struct est_config *c, const char *v)
{
	if (!strcmp(v, "avx2"))
		c->cpu_flags |= EST_CPU_AVX2;
	else if (!strcmp(v, "avx512"))
		c->cpu_flags |= EST_CPU_AVX512 | EST_CPU_AVX2;
	else if (!strcmp(v, "neon-dotprod"))
		c->cpu_flags |= EST_CPU_NEON_DOTPROD;
	else if (!strcmp(v, "neon-i8mm"))
		c->cpu_flags |= EST_CPU_NEON_I8MM | EST_CPU_NEON_DOTPROD;
	else if (strcmp(v, "none"))
		return bad("--cpu-features", v, "expected avx2, avx512, neon-dotprod, neon-i8mm or none");
	return 0;
}

/* common/arg.cpp is_truthy, is_falsey (and is_autoy: "auto", "-1") */
static bool truthy(const char *v)
{
	return !strcmp(v, "on") || !strcmp(v, "enabled") || !strcmp(v, "true") || !strcmp(v, "1");
}

static bool falsey(const char *v)
{
	return !strcmp(v, "off") || !strcmp(v, "disabled") || !strcmp(v, "false") || !strcmp(v, "0");
}

/* a KV cache type, spelled exactly as ggml names it (llama.cpp compares
 * the names with ==) */
static int kv_type(const char *v, uint32_t *ret)
{
	uint32_t t;

	if (est_kv_type_parse(v, &t) < 0 || strcmp(ggml_type_get(t)->name, v))
		return -EINVAL;
	*ret = t;
	return 0;
}

static int u32_opt(const char *opt, const char *v, uint32_t max, uint32_t *ret)
{
	uint64_t x;

	if (parse_u64(v, &x) < 0 || x > max)
		return bad(opt, v, "expected a whole number");
	*ret = (uint32_t)x;
	return 0;
}

/* -ngl / -ngld: a number, 'all' or 'auto' (and negatives), -1 for the
 * last three: every layer until fit decides */
static int layers_opt(const char *opt, const char *v, int32_t *ret)
{
	int64_t i;
	uint64_t u;

	if (!strcmp(v, "all") || !strcmp(v, "auto") || (parse_i64(v, &i) == 0 && i < 0 && i >= INT32_MIN))
		*ret = -1;
	else if (parse_u64(v, &u) < 0 || u > INT32_MAX)
		return bad(opt, v, "expected a number, 'all' or 'auto'");
	else
		*ret = (int32_t)u;
	return 0;
}

/* --n-cpu-moe / --n-cpu-ffn N: llama.cpp appends a set of patterns per
 * occurrence to -ot's list; llmem keeps one place in it (*at, the -ot
 * patterns given before it), so a repeat after another -ot is refused,
 * and of repeats the larger N counts */
static int first_n_rule(const char *opt, const char *v, size_t n_ot, uint32_t *n, int16_t *at)
{
	uint32_t x;

	if (*n && *at != (int16_t)n_ot)
		return bad(opt, v, "given again after -ot: give it once");
	if (u32_opt(opt, v, INT32_MAX, &x) < 0)
		return -EINVAL;
	if (*n == 0)
		*at = (int16_t)n_ot;
	if (x > *n)
		*n = x;
	return 0;
}

/* Options as llama-server spells them: a name matches exactly (no
 * abbreviations, no "-name" for "--name"), a "--" name also with '_' for
 * '-', and a value is the next argument, as common/arg.cpp reads them.
 * llmem's own options (O_OWN) also take "--name=value". */
#define O_VAL 1u
#define O_OWN 2u

static const struct optdef {
	const char *names;
	int id;
	unsigned flags;
} optdefs[] = {
	{ "-m --model", 'm', O_VAL },
	{ "-c --ctx-size", 'c', O_VAL },
	{ "-ngl --gpu-layers --n-gpu-layers", OPT_NGL, O_VAL },
	{ "-ts --tensor-split", OPT_TS, O_VAL },
	{ "-sm --split-mode", OPT_SM, O_VAL },
	{ "-mg --main-gpu", OPT_MG, O_VAL },
	{ "-ctk --cache-type-k", OPT_CTK, O_VAL },
	{ "-ctv --cache-type-v", OPT_CTV, O_VAL },
	{ "-fa --flash-attn", OPT_FA, O_VAL },
	{ "-np --parallel", OPT_NP, O_VAL },
	{ "-kvu --kv-unified", OPT_KVU, 0 },
	{ "-no-kvu --no-kv-unified", OPT_NO_KVU, 0 },
	{ "-b --batch-size", 'b', O_VAL },
	{ "-ub --ubatch-size", OPT_UB, O_VAL },
	{ "-cmoe --cpu-moe", OPT_CMOE, 0 },
	{ "-ncmoe --n-cpu-moe", OPT_NCMOE, O_VAL },
	{ "-ncffn --n-cpu-ffn", OPT_NCFFN, O_VAL },
	{ "-ot --override-tensor", OPT_OT, O_VAL },
	/* older llama.cpp's spellings of -lm none and -lm mlock */
	{ "--no-mmap", OPT_NO_MMAP, 0 },
	{ "--mlock", OPT_MLOCK, 0 },
	{ "-lm --load-mode", OPT_LM, O_VAL },
	{ "-kvo --kv-offload", OPT_KVO, 0 },
	{ "-nkvo --no-kv-offload", OPT_NKVO, 0 },
	{ "--swa-full", OPT_SWA_FULL, 0 },
	{ "--repack", OPT_REPACK, 0 },
	{ "-nr --no-repack", OPT_NR, 0 },
	{ "--embedding --embeddings", OPT_EMBD, 0 },
	{ "--pooling", OPT_POOLING, O_VAL },
	{ "--rerank --reranking", OPT_RERANK, 0 },
	{ "-fit --fit", OPT_FIT, O_VAL },
	{ "-mm --mmproj", OPT_MMPROJ, O_VAL },
	{ "--spec-draft-model -md --model-draft", OPT_DRAFT, O_VAL },
	{ "--spec-draft-ngl -ngld --gpu-layers-draft --n-gpu-layers-draft", OPT_NGLD, O_VAL },
	{ "--spec-draft-type-k -ctkd --cache-type-k-draft", OPT_CTKD, O_VAL },
	{ "--spec-draft-type-v -ctvd --cache-type-v-draft", OPT_CTVD, O_VAL },
	{ "--mmproj-offload", OPT_MMPROJ_GPU, 0 },
	{ "--no-mmproj-offload", OPT_MMPROJ_CPU, 0 },
	{ "-cram --cache-ram", OPT_CRAM, O_VAL },
	{ "-ctxcp --ctx-checkpoints --swa-checkpoints", OPT_CTXCP, O_VAL },
	{ "--lora", OPT_LORA, O_VAL },
	{ "--lora-scaled", OPT_LORA_SCALED, O_VAL },
	{ "--lora-init-without-apply", OPT_LORA_NOAPPLY, 0 },
	{ "--gpu", OPT_GPU, O_VAL | O_OWN },
	{ "--device", OPT_DEVICE, O_VAL | O_OWN },
	{ "--cpu-features", OPT_CPU_FEAT, O_VAL | O_OWN },
	{ "--json", OPT_JSON, O_OWN },
	{ "--for", OPT_FOR, O_VAL | O_OWN },
	{ "--no-cpu", OPT_NO_CPU, O_OWN },
	{ "--allow-disk", OPT_ALLOW_DISK, O_OWN },
	{ "--headroom", OPT_HEADROOM, O_VAL | O_OWN },
	{ "--ram", OPT_RAM, O_VAL | O_OWN },
	{ "--bandwidth", OPT_BW, O_VAL | O_OWN },
	{ "--root", OPT_ROOT, O_VAL | O_OWN },
	{ "-h --help", 'h', O_OWN },
};

/* llama-server options that change its memory in ways the estimate does
 * not count: accepted (a llama-server command line can be pasted), with
 * a note saying so */
static const struct {
	const char *names;
	const char *what;
} unmodelled[] = {
	{ "-mmu --mmproj-url", "the multimodal projector's weights and compute buffer" },
	{ "-mmdev --mmproj-device", "the projector's device (llmem puts it on the first GPU)" },
	{ "--spec-draft-hf -hfd -hfrd --hf-repo-draft", "the draft model, its KV cache and compute buffer" },
	{ "--spec-draft-override-tensor -otd --override-tensor-draft --spec-draft-cpu-moe -cmoed --cpu-moe-draft "
	  "--spec-draft-n-cpu-moe --spec-draft-ncmoe -ncmoed --n-cpu-moe-draft --spec-draft-device -devd --device-draft",
	  "the draft model's placement (llmem puts its -ngld layers on the first GPUs)" },
	{ "--control-vector --control-vector-scaled", "the control vectors" },
	{ "-dev", "the choice of devices (llmem's --device gives their sizes)" },
	{ "--no-host", "the host buffers' placement" },
	{ "--no-op-offload", "where batches with weights on the CPU are computed" },
	{ "--override-kv", "the model metadata it overrides" },
	{ "--numa", "NUMA placement" },
};

static bool names_have(const char *list, const char *name, size_t n)
{
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && !memcmp(p, name, n))
			return true;
		p += l;
		while (*p == ' ')
			p++;
	}
	return false;
}

/* the option arg names, or NULL; *val: the value after '=' (O_OWN) */
static const struct optdef *opt_find(const char *arg, const char **val)
{
	char buf[64];
	size_t n = strcspn(arg, "=");

	*val = NULL;
	if (n >= sizeof(buf))
		return NULL;
	memcpy(buf, arg, n);
	buf[n] = '\0';
	if (buf[1] == '-')
		for (char *p = buf; *p; p++)
			if (*p == '_')
				*p = '-';
	for (size_t i = 0; i < ARRAY_SIZE(optdefs); i++) {
		if (!names_have(optdefs[i].names, buf, n))
			continue;
		if (arg[n]) {
			/* --name=value: llmem's own long options only */
			if (!(optdefs[i].flags & O_OWN) || buf[1] != '-' || !(optdefs[i].flags & O_VAL))
				return NULL;
			*val = arg + n + 1;
		}
		return &optdefs[i];
	}
	return NULL;
}

/* The adapters of --lora (FNAME,FNAME...) and --lora-scaled
 * (FNAME:SCALE,...), as common/arg.cpp splits them, opened in order. */
int cmd_model_opts_open_loras(struct cmd_model_opts *mo)
{
	size_t n = 0;

	for (size_t i = 0; i < mo->n_lora_args; i++) {
		const char *p = mo->lora_args[i];

		while (*p) {
			size_t len = strcspn(p, ",");
			char path[4096];
			struct diag d;
			int e;

			if (len == 0 || len >= sizeof(path)) {
				if (!mo->quiet)
					cmd_error("--lora '%s': an empty or too long file name", mo->lora_args[i]);
				return -EINVAL;
			}
			memcpy(path, p, len);
			path[len] = '\0';
			if (mo->lora_scaled[i]) {
				char *colon = strrchr(path, ':'), *end = NULL;

				double scale = 0;

				if (colon && colon != path)
					scale = strtod(colon + 1, &end);
				if (!colon || colon == path || end == colon + 1 || *end) {
					if (!mo->quiet)
						cmd_error("--lora-scaled '%s': expected FNAME:SCALE", path);
					return -EINVAL;
				}
				*colon = '\0';
				/* llama_context::set_adapters_lora leaves a scale of
				 * 0 out of the graph */
				mo->c.lora_off[n] = scale == 0;
			}
			if (mo->lora_noapply)
				mo->c.lora_off[n] = true;
			if (n >= EST_MAX_LORAS) {
				if (!mo->quiet)
					cmd_error("--lora: at most %d adapters", EST_MAX_LORAS);
				return -EINVAL;
			}
			diag_init(&d);
			e = io_gguf_open(path, &mo->loras[n], &d);
			if (e < 0) {
				if (!mo->quiet)
					cmd_error("--lora %s: %s", path, d.msg);
				return e;
			}
			mo->c.loras[n] = mo->loras[n]->gf;
			mo->c.n_loras = ++n;
			p += len + (p[len] == ',');
		}
	}
	return 0;
}

int cmd_model_opts_open(struct cmd_model_opts *mo)
{
	int e;

	if (mo->n_lora_args && !mo->c.n_loras && (e = cmd_model_opts_open_loras(mo)) < 0)
		return e;

	if (mo->mmproj_path && !mo->mmproj) {
		struct diag d;

		diag_init(&d);
		e = io_gguf_open(mo->mmproj_path, &mo->mmproj, &d);
		if (e < 0) {
			cmd_error("--mmproj %s: %s", mo->mmproj_path, d.msg);
			return e;
		}
		mo->c.mmproj = mo->mmproj->gf;
	}
	if (mo->draft_path && !mo->draft) {
		/* cmd_model_open() says why it fails */
		e = cmd_model_open(mo->draft_path, 0, &mo->draft);
		if (e)
			return -EINVAL;
		mo->c.draft = &mo->draft->m;
	}
	return 0;
}

void cmd_model_opts_release(struct cmd_model_opts *mo)
{
	mo->mmproj = io_gguf_free(mo->mmproj);
	mo->c.mmproj = NULL;
	for (size_t i = 0; i < EST_MAX_LORAS; i++) {
		mo->loras[i] = io_gguf_free(mo->loras[i]);
		mo->c.loras[i] = NULL;
	}
	mo->c.n_loras = 0;
	mo->draft = cmd_model_free(mo->draft);
	mo->c.draft = NULL;
}

int cmd_model_opt_values(const char *arg)
{
	const char *v;
	const struct optdef *od = opt_find(arg, &v);

	if (!od || v || (od->flags & O_OWN))
		return -1;
	return od->flags & O_VAL ? 1 : 0;
}

/* a llama-server option llmem has no use for: skipped with its values */
static int other_opt(const char *arg, int *i, int argc, struct cmd_model_opts *mo)
{
	int nv = registry_llama_opt_values(arg);

	if (nv < 0) {
		cmd_error("invalid argument: %s (neither a llama-server option nor llmem's)", arg);
		return -EINVAL;
	}
	if (*i + nv >= argc) {
		cmd_error("%s: expected a value", arg);
		return -EINVAL;
	}
	*i += nv;
	{
		char buf[64];
		size_t n = strlen(arg);

		if (n >= sizeof(buf))
			return 0;
		memcpy(buf, arg, n + 1);
		if (buf[1] == '-')
			for (char *p = buf; *p; p++)
				if (*p == '_')
					*p = '-';
		for (size_t k = 0; k < ARRAY_SIZE(unmodelled) && !mo->quiet; k++)
			if (names_have(unmodelled[k].names, buf, n))
				cmd_error("note: %s is not in this estimate: %s come on top", arg, unmodelled[k].what);
	}
	return 0;
}

int cmd_model_opts_parse(int argc, char **argv, struct cmd_model_opts *mo, void (*usage)(FILE *))
{
	struct est_config *c = &mo->c;
	bool feat_set = false, positional = false;
	int e = 0;
	uint64_t u;
	int64_t v;

	for (int i = 1; i < argc && !e; i++) {
		const struct optdef *od;
		const char *arg = argv[i], *optarg = NULL;
		int o;

		if (arg[0] != '-' || !arg[1] || positional) {
			if (mo->n_paths >= ARRAY_SIZE(mo->paths)) {
				usage(stderr);
				return -EINVAL;
			}
			mo->paths[mo->n_paths++] = arg;
			continue;
		}
		if (!strcmp(arg, "--")) {
			positional = true;
			continue;
		}
		od = opt_find(arg, &optarg);
		if (!od) {
			e = other_opt(arg, &i, argc, mo);
			continue;
		}
		if ((od->flags & O_VAL) && !optarg) {
			if (i + 1 >= argc) {
				cmd_error("%s: expected a value", arg);
				return -EINVAL;
			}
			optarg = argv[++i];
		}
		o = od->id;
		switch (o) {
		case 'm':
			/* llama-server's -m: the model, as a positional one */
			if (mo->n_paths >= ARRAY_SIZE(mo->paths)) {
				usage(stderr);
				return -EINVAL;
			}
			mo->paths[mo->n_paths++] = optarg;
			break;
		case 'c':
			mo->ctx_set = true;
			if (mo->fit && !strcmp(optarg, "max"))
				mo->ctx_max = true;
			else if (parse_i64(optarg, &v) < 0 || v < 0)
				e = bad("-c", optarg, mo->fit ? "expected a context size or 'max'" :
					"expected a context size");
			else
				c->n_ctx = v;
			break;
		case OPT_NGL:
			/* llama.cpp: -1 is auto, any other negative all */
			mo->ngl_set = strcmp(optarg, "auto") != 0 && strcmp(optarg, "-1") != 0;
			e = layers_opt("-ngl", optarg, &c->n_gpu_layers);
			break;
		case OPT_TS:
			/* llama.cpp: the last -ts given, split at , or / */
			mo->ts_set = true;
			c->n_ts = 0;
			e = parse_list_sep(optarg, ",/", add_ts, c);
			break;
		case OPT_SM:
			if (!strcmp(optarg, "tensor"))
				c->split_mode = EST_SPLIT_TENSOR;
			else if (!strcmp(optarg, "layer"))
				c->split_mode = EST_SPLIT_LAYER;
			else if (!strcmp(optarg, "row"))
				c->split_mode = EST_SPLIT_ROW;
			else if (!strcmp(optarg, "none"))
				c->split_mode = EST_SPLIT_NONE;
			else
				e = bad("-sm", optarg, "expected none, layer, row or tensor");
			break;
		case OPT_MG:
			if (parse_u64(optarg, &u) < 0 || u >= EST_MAX_DEVICES)
				e = bad("-mg", optarg, "expected a GPU index");
			c->main_gpu = (int32_t)u;
			break;
		case OPT_CTK:
			if (mo->fit && !strcmp(optarg, "auto"))
				mo->kv_auto = true;
			else if (kv_type(optarg, &c->type_k) < 0)
				e = bad("-ctk", optarg, "unsupported cache type; allowed: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1");
			break;
		case OPT_CTV:
			if (mo->fit && !strcmp(optarg, "auto"))
				mo->kv_auto = true;
			else if (kv_type(optarg, &c->type_v) < 0)
				e = bad("-ctv", optarg, "unsupported cache type; allowed: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1");
			break;
		case OPT_FA:
			if (truthy(optarg))
				c->flash_attn = EST_FA_ON;
			else if (falsey(optarg))
				c->flash_attn = EST_FA_OFF;
			else if (!strcmp(optarg, "auto") || !strcmp(optarg, "-1"))
				c->flash_attn = EST_FA_AUTO;
			else
				e = bad("-fa", optarg, "expected on, off or auto");
			break;
		case OPT_NP:
			/* llama-server refuses 0 */
			if (parse_i64(optarg, &v) < 0 || v < -1 || v == 0 || v > 256)
				e = bad("-np", optarg, "expected 1..256 or -1 (auto)");
			c->n_parallel = (int32_t)v;
			break;
		case OPT_FIT:
			/* llama-server's own fitting: off only matters without
			 * -c (the context is then the training one, shared) */
			if (falsey(optarg))
				c->no_fit = true;
			else if (truthy(optarg))
				c->no_fit = false;
			else
				e = bad("-fit", optarg, "expected on or off");
			break;
		case OPT_MMPROJ: mo->mmproj_path = optarg; break;
		case OPT_LORA:
		case OPT_LORA_SCALED:
			if (mo->n_lora_args >= EST_MAX_LORAS) {
				e = bad("--lora", optarg, "at most 8 --lora options");
				break;
			}
			mo->lora_scaled[mo->n_lora_args] = o == OPT_LORA_SCALED;
			mo->lora_args[mo->n_lora_args++] = optarg;
			break;
		case OPT_LORA_NOAPPLY: mo->lora_noapply = true; break;
		case OPT_DRAFT: mo->draft_path = optarg; break;
		case OPT_NGLD:
			mo->ngld_set = true;
			e = layers_opt("-ngld", optarg, &c->n_gpu_layers_draft);
			break;
		case OPT_CTKD:
			if (kv_type(optarg, &c->type_k_draft) < 0)
				e = bad("-ctkd", optarg, "unsupported cache type; allowed: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1");
			break;
		case OPT_CTVD:
			if (kv_type(optarg, &c->type_v_draft) < 0)
				e = bad("-ctvd", optarg, "unsupported cache type; allowed: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1");
			break;
		case OPT_MMPROJ_GPU: c->mmproj_cpu = false; break;
		case OPT_MMPROJ_CPU: c->mmproj_cpu = true; break;
		case OPT_CRAM:
			/* MiB; -1 no limit, 0 off (common.h cache_ram_mib) */
			mo->cram_set = true;
			if (parse_i64(optarg, &v) < 0 || v < -1 || v > INT32_MAX)
				e = bad("-cram", optarg, "expected MiB, -1 (no limit) or 0 (off)");
			else
				c->cache_ram_mib = (int32_t)v;
			break;
		case OPT_CTXCP:
			/* common/arg.cpp: any int; at most that many a slot, 0 none */
			mo->ctxcp_set = true;
			if (parse_i64(optarg, &v) < 0 || v < 0 || v > INT32_MAX)
				e = bad("-ctxcp", optarg, "expected a number of checkpoints per slot (0: none)");
			else
				c->n_ctx_checkpoints = (int32_t)v;
			break;
		case OPT_KVU: c->kv_unified = 1; break;
		case OPT_NO_KVU: c->kv_unified = 0; break;
		case 'b': e = u32_opt("-b", optarg, 1u << 24, &c->n_batch); break;
		case OPT_UB: e = u32_opt("-ub", optarg, 1u << 24, &c->n_ubatch); break;
		/* llama.cpp appends these to -ot's list in command-line
		 * order, and the first match wins: keep their place */
		case OPT_CMOE:
			mo->ncmoe_set = true;
			if (!c->cpu_moe)
				c->cpu_moe_at = (int16_t)c->n_ot;
			c->cpu_moe = true;
			break;
		case OPT_NCMOE:
			mo->ncmoe_set = true;
			e = first_n_rule("-ncmoe", optarg, c->n_ot, &c->n_cpu_moe, &c->n_cpu_moe_at);
			break;
		case OPT_NCFFN:
			e = first_n_rule("-ncffn", optarg, c->n_ot, &c->n_cpu_ffn, &c->n_cpu_ffn_at);
			break;
		case OPT_OT: e = parse_list(optarg, add_ot, c); break;
		case OPT_NO_MMAP: mo->mmap_set = true; c->no_mmap = true; break;
		case OPT_MLOCK: mo->mmap_set = true; c->mlock = true; break;
		case OPT_LM:
			mo->mmap_set = true;
			/* llama.cpp: mmap for auto, mmap and mmap+mlock; mlock
			 * for mlock (read into memory, then locked) and mmap+mlock */
			c->no_mmap = c->mlock = c->direct_io = false;
			if (!strcmp(optarg, "none") || !strcmp(optarg, "dio")) {
				c->no_mmap = true;
				c->direct_io = optarg[0] == 'd';
			} else if (!strcmp(optarg, "mlock")) {
				c->no_mmap = true;
				c->mlock = true;
			} else if (!strcmp(optarg, "mmap+mlock")) {
				c->mlock = true;
			} else if (strcmp(optarg, "mmap") && strcmp(optarg, "auto"))
				e = bad("-lm", optarg, "expected auto, mmap, none, mlock, mmap+mlock or dio");
			break;
		case OPT_NKVO: c->no_kv_offload = true; break;
		case OPT_KVO: c->no_kv_offload = false; break;
		case OPT_REPACK: c->no_repack = false; break;
		case OPT_SWA_FULL: c->swa_full = true; break;
		case OPT_NR: c->no_repack = true; break;
		case OPT_EMBD: c->embeddings = true; break;
		case OPT_POOLING:
			if (est_pooling_parse(optarg, &c->pooling) < 0)
				e = bad("--pooling", optarg, "expected none, mean, cls, last or rank");
			break;
		case OPT_RERANK:
			c->embeddings = true;
			c->pooling = EST_POOL_RANK;
			break;
		case OPT_GPU: {
			char spec[96];

			snprintf(spec, sizeof(spec), "cuda%zu=%s", c->n_devices, optarg);
			if (!strpbrk(optarg, "BKMGTbkmgt"))
				e = bad("--gpu", optarg, "the size needs a unit, like 24GiB or 24576MiB");
			else
				e = add_device(c, spec);
			break;
		}
		case OPT_DEVICE:
			/* without '=' it is llama-server's --device (-dev): which
			 * devices to use, not their sizes */
			if (!strchr(optarg, '=')) {
				if (!mo->quiet)
					cmd_error("note: --device %s is llama-server's choice of devices, not in this "
						  "estimate; llmem's --device takes NAME=SIZE (cuda0=24GiB)", optarg);
				break;
			}
			e = parse_list(optarg, add_device, c);
			break;
		case OPT_CPU_FEAT:
			feat_set = true;
			c->cpu_flags = 0;
			e = parse_list(optarg, cpu_feat, c);
			break;
		case OPT_JSON: mo->json = true; break;
		case OPT_FOR:
			if (!mo->fit || (strcmp(optarg, "llama-server") && strcmp(optarg, "ollama") &&
					 strcmp(optarg, "json")))
				e = bad("--for", optarg, "expected llama-server, ollama or json");
			mo->for_mode = optarg;
			if (!strcmp(optarg, "json"))
				mo->json = true;
			break;
		case OPT_NO_CPU:
			if (!mo->fit)
				e = bad("--no-cpu", "", "only for llmem fit");
			mo->no_cpu = true;
			break;
		case OPT_ALLOW_DISK:
			if (!mo->fit)
				e = bad("--allow-disk", "", "only for llmem fit");
			mo->allow_disk = true;
			break;
		case OPT_HEADROOM:
			if (!mo->fit)
				e = bad("--headroom", optarg, "only for llmem fit");
			mo->headroom = optarg;
			break;
		case OPT_RAM:
			if (!mo->fit)
				e = bad("--ram", optarg, "only for llmem fit");
			else if (!strpbrk(optarg, "BKMGTbkmgt") || parse_size(optarg, &mo->ram) < 0 || !mo->ram)
				e = bad("--ram", optarg, "expected a size with a unit, like 64GiB");
			break;
		case OPT_BW:
			mo->bandwidth = optarg;
			break;
		case OPT_ROOT:
			mo->root = optarg;
			break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -EINVAL;
		}
	}
	if (e)
		return e;
	if (mo->n_paths == 0 || (!mo->fit && mo->n_paths != 1)) {
		usage(stderr);
		return -EINVAL;
	}
	if (!feat_set)
		c->cpu_flags = host_cpu_flags();
	for (size_t k = 0; k < c->n_ot; k++) {
		c->ot[k].device = -2;
		/* llama.cpp compares buffer type names exactly */
		if (!strcmp(ot_dev[k], "CPU"))
			c->ot[k].device = -1;
		for (size_t g = 0; g < c->n_devices; g++)
			if (!strcmp(ot_dev[k], c->devices[g].name))
				c->ot[k].device = (int)g;
		if (c->ot[k].device == -2)
			return bad("-ot", ot_dev[k], "unknown device (CPU or one given with --device)");
	}
	return 0;
}

