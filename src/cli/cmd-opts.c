/* cmd-opts.c: the llama-server options that `estimate` and `fit` share,
 * with llama-server's names and defaults, and the device flags used until
 * the machine is probed. */
#include "base/compat.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "base/parse.h"
#include "cli/cmd.h"
#include "cli/cmd-opts.h"
#include "gguf/ggml-type.h"

enum {
	OPT_NGL = 256, OPT_TS, OPT_SM, OPT_MG, OPT_CTK, OPT_CTV, OPT_FA, OPT_NP, OPT_KVU,
	OPT_NO_KVU, OPT_UB, OPT_CMOE, OPT_NCMOE, OPT_OT, OPT_NO_MMAP, OPT_MLOCK, OPT_LM, OPT_NKVO,
	OPT_SWA_FULL, OPT_NR, OPT_EMBD, OPT_POOLING, OPT_GPU, OPT_DEVICE, OPT_CPU_FEAT, OPT_JSON, OPT_FOR, OPT_NO_CPU,
	OPT_HEADROOM, OPT_BW, OPT_ROOT, OPT_ALLOW_DISK,
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

static int u32_opt(const char *opt, const char *v, uint32_t max, uint32_t *ret)
{
	uint64_t x;

	if (parse_u64(v, &x) < 0 || x > max)
		return bad(opt, v, "expected a whole number");
	*ret = (uint32_t)x;
	return 0;
}

int cmd_model_opts_parse(int argc, char **argv, struct cmd_model_opts *mo, void (*usage)(FILE *))
{
	static const struct option opts[] = {
		{ "ctx-size", required_argument, NULL, 'c' },
		{ "ngl", required_argument, NULL, OPT_NGL },
		{ "gpu-layers", required_argument, NULL, OPT_NGL },
		{ "n-gpu-layers", required_argument, NULL, OPT_NGL },
		{ "ts", required_argument, NULL, OPT_TS },
		{ "tensor-split", required_argument, NULL, OPT_TS },
		{ "sm", required_argument, NULL, OPT_SM },
		{ "split-mode", required_argument, NULL, OPT_SM },
		{ "mg", required_argument, NULL, OPT_MG },
		{ "main-gpu", required_argument, NULL, OPT_MG },
		{ "ctk", required_argument, NULL, OPT_CTK },
		{ "cache-type-k", required_argument, NULL, OPT_CTK },
		{ "ctv", required_argument, NULL, OPT_CTV },
		{ "cache-type-v", required_argument, NULL, OPT_CTV },
		{ "fa", required_argument, NULL, OPT_FA },
		{ "flash-attn", required_argument, NULL, OPT_FA },
		{ "np", required_argument, NULL, OPT_NP },
		{ "parallel", required_argument, NULL, OPT_NP },
		{ "kvu", no_argument, NULL, OPT_KVU },
		{ "kv-unified", no_argument, NULL, OPT_KVU },
		{ "no-kv-unified", no_argument, NULL, OPT_NO_KVU },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "ub", required_argument, NULL, OPT_UB },
		{ "ubatch-size", required_argument, NULL, OPT_UB },
		{ "cmoe", no_argument, NULL, OPT_CMOE },
		{ "cpu-moe", no_argument, NULL, OPT_CMOE },
		{ "ncmoe", required_argument, NULL, OPT_NCMOE },
		{ "n-cpu-moe", required_argument, NULL, OPT_NCMOE },
		{ "ot", required_argument, NULL, OPT_OT },
		{ "override-tensor", required_argument, NULL, OPT_OT },
		{ "no-mmap", no_argument, NULL, OPT_NO_MMAP },
		{ "mlock", no_argument, NULL, OPT_MLOCK },
		{ "lm", required_argument, NULL, OPT_LM },
		{ "load-mode", required_argument, NULL, OPT_LM },
		{ "nkvo", no_argument, NULL, OPT_NKVO },
		{ "no-kv-offload", no_argument, NULL, OPT_NKVO },
		{ "swa-full", no_argument, NULL, OPT_SWA_FULL },
		{ "nr", no_argument, NULL, OPT_NR },
		{ "no-repack", no_argument, NULL, OPT_NR },
		{ "embedding", no_argument, NULL, OPT_EMBD },
		{ "embeddings", no_argument, NULL, OPT_EMBD },
		{ "pooling", required_argument, NULL, OPT_POOLING },
		{ "gpu", required_argument, NULL, OPT_GPU },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "cpu-features", required_argument, NULL, OPT_CPU_FEAT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "for", required_argument, NULL, OPT_FOR },
		{ "no-cpu", no_argument, NULL, OPT_NO_CPU },
		{ "allow-disk", no_argument, NULL, OPT_ALLOW_DISK },
		{ "headroom", required_argument, NULL, OPT_HEADROOM },
		{ "bandwidth", required_argument, NULL, OPT_BW },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct est_config *c = &mo->c;
	bool feat_set = false;
	int o, e = 0;
	uint64_t u;
	int64_t i;

	optind = 1;
	while (!e && (o = getopt_long_only(argc, argv, "c:b:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			mo->ctx_set = true;
			if (mo->fit && !strcmp(optarg, "max"))
				mo->ctx_max = true;
			else if (parse_i64(optarg, &i) < 0 || i < 0)
				e = bad("-c", optarg, mo->fit ? "expected a context size or 'max'" :
					"expected a context size");
			else
				c->n_ctx = i;
			break;
		case OPT_NGL:
			/* llama.cpp: -1 is auto, any other negative all */
			mo->ngl_set = strcmp(optarg, "auto") != 0 && strcmp(optarg, "-1") != 0;
			if (!strcmp(optarg, "all") || !strcmp(optarg, "auto") ||
			    (parse_i64(optarg, &i) == 0 && i < 0 && i >= INT32_MIN))
				c->n_gpu_layers = -1;
			else if (parse_u64(optarg, &u) < 0 || u > INT32_MAX)
				e = bad("-ngl", optarg, "expected a number, 'all' or 'auto'");
			else
				c->n_gpu_layers = (int32_t)u;
			break;
		case OPT_TS:
			/* llama.cpp: the last -ts given, split at , or / */
			mo->ts_set = true;
			c->n_ts = 0;
			e = parse_list_sep(optarg, ",/", add_ts, c);
			break;
		case OPT_SM:
			if (!strcmp(optarg, "layer"))
				c->split_mode = EST_SPLIT_LAYER;
			else if (!strcmp(optarg, "row"))
				c->split_mode = EST_SPLIT_ROW;
			else if (!strcmp(optarg, "none"))
				c->split_mode = EST_SPLIT_NONE;
			else
				e = bad("-sm", optarg, "expected layer, row or none");
			break;
		case OPT_MG:
			if (parse_u64(optarg, &u) < 0 || u >= EST_MAX_DEVICES)
				e = bad("-mg", optarg, "expected a GPU index");
			c->main_gpu = (int32_t)u;
			break;
		case OPT_CTK:
			if (mo->fit && !strcmp(optarg, "auto"))
				mo->kv_auto = true;
			else if (est_kv_type_parse(optarg, &c->type_k) < 0)
				e = bad("-ctk", optarg, "unsupported cache type; allowed: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1");
			break;
		case OPT_CTV:
			if (mo->fit && !strcmp(optarg, "auto"))
				mo->kv_auto = true;
			else if (est_kv_type_parse(optarg, &c->type_v) < 0)
				e = bad("-ctv", optarg, "unsupported cache type; allowed: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1");
			break;
		case OPT_FA:
			if (!strcmp(optarg, "on") || !strcmp(optarg, "1") || !strcmp(optarg, "true"))
				c->flash_attn = EST_FA_ON;
			else if (!strcmp(optarg, "off") || !strcmp(optarg, "0") || !strcmp(optarg, "false"))
				c->flash_attn = EST_FA_OFF;
			else if (!strcmp(optarg, "auto"))
				c->flash_attn = EST_FA_AUTO;
			else
				e = bad("-fa", optarg, "expected on, off or auto");
			break;
		case OPT_NP:
			/* llama-server refuses 0 */
			if (parse_i64(optarg, &i) < 0 || i < -1 || i == 0 || i > 256)
				e = bad("-np", optarg, "expected 1..256 or -1 (auto)");
			c->n_parallel = (int32_t)i;
			break;
		case OPT_KVU: c->kv_unified = 1; break;
		case OPT_NO_KVU: c->kv_unified = 0; break;
		case 'b': e = u32_opt("-b", optarg, 1u << 24, &c->n_batch); break;
		case OPT_UB: e = u32_opt("-ub", optarg, 1u << 24, &c->n_ubatch); break;
		case OPT_CMOE: mo->ncmoe_set = true; c->cpu_moe = true; break;
		case OPT_NCMOE: mo->ncmoe_set = true; e = u32_opt("-ncmoe", optarg, MODEL_MAX_LAYERS, &c->n_cpu_moe); break;
		case OPT_OT: e = parse_list(optarg, add_ot, c); break;
		case OPT_NO_MMAP: mo->mmap_set = true; c->no_mmap = true; break;
		case OPT_MLOCK: mo->mmap_set = true; c->mlock = true; break;
		case OPT_LM:
			mo->mmap_set = true;
			/* llama.cpp: mmap for auto, mmap and mmap+mlock; mlock
			 * for mlock (read into memory, then locked) and mmap+mlock */
			if (!strcmp(optarg, "none") || !strcmp(optarg, "dio")) {
				c->no_mmap = true;
			} else if (!strcmp(optarg, "mlock")) {
				c->no_mmap = true;
				c->mlock = true;
			} else if (!strcmp(optarg, "mmap+mlock")) {
				c->mlock = true;
			} else if (strcmp(optarg, "mmap") && strcmp(optarg, "auto"))
				e = bad("-lm", optarg, "expected auto, mmap, none, mlock, mmap+mlock or dio");
			break;
		case OPT_NKVO: c->no_kv_offload = true; break;
		case OPT_SWA_FULL: c->swa_full = true; break;
		case OPT_NR: c->no_repack = true; break;
		case OPT_EMBD: c->embeddings = true; break;
		case OPT_POOLING:
			if (!strcmp(optarg, "none"))
				break;
			if (strcmp(optarg, "mean") && strcmp(optarg, "cls") && strcmp(optarg, "last") &&
			    strcmp(optarg, "rank")) {
				e = bad("--pooling", optarg, "expected none, mean, cls, last or rank");
				break;
			}
			c->embeddings = true;
			break;
		case OPT_GPU: {
			char spec[96];

			snprintf(spec, sizeof(spec), "cuda%zu=%s", c->n_devices, optarg);
			e = add_device(c, spec);
			break;
		}
		case OPT_DEVICE: e = parse_list(optarg, add_device, c); break;
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
	if (optind >= argc || (!mo->fit && optind != argc - 1) ||
	    argc - optind > (int)ARRAY_SIZE(mo->paths)) {
		usage(stderr);
		return -EINVAL;
	}
	for (int k = optind; k < argc; k++)
		mo->paths[mo->n_paths++] = argv[k];
	if (!feat_set)
		c->cpu_flags = host_cpu_flags();
	for (size_t k = 0; k < c->n_ot; k++) {
		c->ot[k].device = -2;
		if (!strcasecmp(ot_dev[k], "CPU"))
			c->ot[k].device = -1;
		for (size_t g = 0; g < c->n_devices; g++)
			if (!strcasecmp(ot_dev[k], c->devices[g].name))
				c->ot[k].device = (int)g;
		if (c->ot[k].device == -2)
			return bad("-ot", ot_dev[k], "unknown device (CPU or one given with --device)");
	}
	return 0;
}

