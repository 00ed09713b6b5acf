/* cmd-fit.c: `llmem fit MODEL... [llama-server options]`: the fastest
 * placement that fits this machine (or the devices given), the estimate
 * behind it, the predicted speed, why, and the exact command to run. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/parse.h"
#include "cli/cmd.h"
#include "cli/cmd-fit.h"
#include "cli/cmd-model.h"
#include "cli/cmd-opts.h"
#include "gguf/ggml-type.h"
#include "io/io.h"
#include "model/model.h"
#include "output/output.h"
#include "place/bandwidth.h"
#include "place/place.h"
#include "probe/probe.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

static void fit_usage(FILE *fp)
{
	fputs("usage: llmem fit MODEL.gguf [MODEL.gguf...] [llama-server options] [--for MODE]\n"
	      "\n"
	      "The fastest placement that fits the memory actually free, with headroom: -ngl,\n"
	      "tensor split, MoE experts on the CPU, context and KV type; the estimate behind it,\n"
	      "the predicted decode speed, and the command to run. Several models are fitted\n"
	      "together on the same machine. Options the user gives are kept; the rest are fitted.\n"
	      "  -c N | -c max             a context, or the largest that fits\n"
	      "  -ctk auto / -ctv auto     allow a q8_0 or q4_0 KV cache to keep layers on the GPU\n"
	      "  --no-cpu                  no layer or expert on the CPU (shrink the context or fail)\n"
	      "  --allow-disk              a model larger than RAM + VRAM may be read from disk\n"
	      "                            through mmap as it runs (slow: the speed says how slow)\n"
	      "  --headroom X[,Y...]       memory left free: bytes (2GiB) or a percent (20%), one\n"
	      "                            for every pool or one per pool (system first); default\n"
	      "                            1 GiB per GPU and max(2 GiB, 10%) of RAM\n"
	      "  --bandwidth cpu=60GB/s,CUDA0=1008GB/s   memory bandwidths for the speed\n"
	      "  --for llama-server|ollama|json   what to print (default llama-server)\n"
	      "  --root DIR                probe a fixture tree instead of this machine\n"
	      "  --gpu SIZE, --device ...  plan for given devices instead of probing\n"
	      "  --ram SIZE                plan for SIZE of system RAM, nothing else running,\n"
	      "                            instead of the RAM available here (what-if)\n"
	      "and every option of 'llmem estimate' (-ngl, -ts, -ncmoe, -np, -ub, ...).\n", fp);
}

/* ---- the machine ---- */

static int parse_headroom(const char *spec, size_t idx, uint64_t pool_size, uint64_t dflt,
			  uint64_t *ret)
{
	char buf[256], *tok, *save = NULL;
	size_t i = 0;
	const char *pick = NULL;

	if (!spec) {
		*ret = dflt;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++) {
		if (i == 0 || i == idx)
			pick = tok;
		if (i == idx)
			break;
	}
	if (!pick)
		return -EINVAL;
	size_t n = strlen(pick);

	if (n && pick[n - 1] == '%') {
		char num[32];
		double pct;

		if (n >= sizeof(num))
			return -EINVAL;
		memcpy(num, pick, n - 1);
		num[n - 1] = '\0';
		if (parse_double(num, &pct) < 0 || pct > 100)
			return -EINVAL;
		*ret = (uint64_t)((double)pool_size * pct / 100.0);
		return 0;
	}
	return parse_size(pick, ret);
}

/* A measured CPU copy bandwidth, cached for a day under the cache dir. */
static double cpu_bandwidth(void)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CACHE_HOME");
	char path[512];
	double bw = 0;
	FILE *fp;
	struct stat st;

	if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/llmem/cpu-bandwidth", xdg);
	else
		snprintf(path, sizeof(path), "%s/.cache/llmem/cpu-bandwidth", home ? home : "/tmp");
	if (stat(path, &st) == 0 && time(NULL) - st.st_mtime < 86400 && (fp = fopen(path, "r"))) {
		if (fscanf(fp, "%lf", &bw) != 1)
			bw = 0;
		fclose(fp);
		if (bw > 0)
			return bw;
	}
	/* copy 64 MiB a few times; decode streams weights, so a copy's read
	 * plus write is a fair proxy for its read bandwidth */
	size_t n = 64u << 20;
	char *a = malloc(n), *b = malloc(n);
	struct timespec t0, t1;
	double best = 0;

	if (!a || !b) {
		free(a);
		free(b);
		return 0;
	}
	memset(a, 1, n);
	memset(b, 2, n);
	for (int i = 0; i < 4; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		memcpy(i & 1 ? a : b, i & 1 ? b : a, n);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

		if (s > 0 && 2.0 * (double)n / s > best)
			best = 2.0 * (double)n / s;
	}
	free(a);
	free(b);
	char dir[512];

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');

	if (slash) {
		*slash = '\0';
		char *p2 = strrchr(dir, '/');

		if (p2) {
			*p2 = '\0';
			mkdir(dir, 0755);
			*p2 = '/';
		}
		mkdir(dir, 0755);
	}
	if ((fp = fopen(path, "w"))) {
		fprintf(fp, "%.0f\n", best);
		fclose(fp);
	}
	return best;
}

int cmd_fit_set_bandwidths(const struct cmd_model_opts *mo, struct place_request *q,
			  char models[][64])
{
	q->bandwidth[0] = cpu_bandwidth();
	for (size_t i = 0; i < q->base.n_devices; i++)
		q->bandwidth[i + 1] = place_gpu_bandwidth(models[i]);
	if (!mo->bandwidth)
		return 0;
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", mo->bandwidth);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t v;
		size_t n;

		if (!eq)
			goto bad;
		*eq = '\0';
		n = strlen(eq + 1);
		if (n > 2 && !strcmp(eq + 1 + n - 2, "/s"))
			eq[1 + n - 2] = '\0';
		if (parse_size(eq + 1, &v) < 0)
			goto bad;
		if (!strcasecmp(tok, "disk")) {
			q->disk_bandwidth = (double)v;
			continue;
		}
		if (!strcasecmp(tok, "cpu")) {
			q->bandwidth[0] = (double)v;
			continue;
		}
		size_t g = 0;

		while (g < q->base.n_devices && strcasecmp(tok, q->base.devices[g].name))
			g++;
		if (g == q->base.n_devices)
			goto bad;
		q->bandwidth[g + 1] = (double)v;
	}
	return 0;
bad:
	cmd_error("--bandwidth '%s': expected cpu=60GB/s,CUDA0=1008GB/s", mo->bandwidth);
	return -EINVAL;
}

/* Devices and budgets: the ones given by hand, or the probed machine. */
int cmd_fit_machine(const struct cmd_model_opts *mo, struct place_request *q, char models[][64],
		    bool *probed)
{
	return cmd_fit_machine_headroom(mo, q, models, probed, NULL);
}

int cmd_fit_machine_headroom(const struct cmd_model_opts *mo, struct place_request *q, char models[][64],
			     bool *probed, uint64_t *host_headroom)
{
	struct probe_result *pr = calloc(1, sizeof(*pr));
	struct probe_options po = { .root = mo->root };
	struct probe_budget pb;
	struct diag d;
	uint64_t h;
	int e;

	if (!pr)
		return -ENOMEM;
	if (mo->root)
		po.nvml_skip = "a --root tree is probed";
	else if (getenv("LLMEM_NVML") && !strcmp(getenv("LLMEM_NVML"), "none"))
		po.nvml_skip = "LLMEM_NVML=none";
	else
		po.nvml_path = getenv("LLMEM_NVML") ? getenv("LLMEM_NVML") : "libnvidia-ml.so.1";
	if (mo->root && getenv("LLMEM_NVML") && strcmp(getenv("LLMEM_NVML"), "none")) {
		po.nvml_path = getenv("LLMEM_NVML");
		po.nvml_skip = NULL;
	}
	/* plan for the GPUs llama-server will see, under its names */
	po.cuda_visible = getenv("CUDA_VISIBLE_DEVICES");
	po.rocr_visible = getenv("ROCR_VISIBLE_DEVICES");
	po.hip_visible = getenv("HIP_VISIBLE_DEVICES");
	po.cuda_order = getenv("CUDA_DEVICE_ORDER");
	diag_init(&d);
	e = probe_run(&po, pr, &d);
	if (e < 0) {
		cmd_error("cannot read this machine's memory: %s", d.msg);
		free(pr);
		return e;
	}
	/* --ram: a machine with that much RAM, nothing else running */
	if (mo->ram)
		probe_system_what_if(pr, mo->ram);
	probe_budget_compute(pr, NULL, &pb);
	/* system RAM */
	if (parse_headroom(mo->headroom, 0, probe_system_size(pr), pb.pools[0].headroom, &h) < 0) {
		cmd_error("--headroom '%s': expected bytes (2GiB) or a percent (10%%)", mo->headroom);
		free(pr);
		return -EINVAL;
	}
	q->budget[0] = pr->pools[0].available > h ? pr->pools[0].available - h : 0;
	if (host_headroom)
		*host_headroom = h;
	if (q->base.n_devices) {
		/* devices given by hand: their sizes, less the GPU headroom */
		for (size_t i = 0; i < q->base.n_devices; i++) {
			const struct est_device *dv = &q->base.devices[i];

			if (parse_headroom(mo->headroom, i + 1, dv->total_bytes, 1ull << 30, &h) < 0) {
				free(pr);
				return -EINVAL;
			}
			q->budget[i + 1] = dv->total_bytes > h ? dv->total_bytes - h : 0;
			snprintf(models[i], 64, "%s", dv->name);
		}
		*probed = false;
		free(pr);
		return 0;
	}
	*probed = true;
	for (size_t i = 1; i < pr->n_devices && q->base.n_devices < EST_MAX_DEVICES; i++) {
		const struct probe_device *pd = &pr->devices[i];
		struct est_device *dv = &q->base.devices[q->base.n_devices];
		size_t k = q->base.n_devices;
		uint32_t pool = pd->draws[0].pool;

		snprintf(dv->name, sizeof(dv->name), "%s", pd->id);
		snprintf(models[k], 64, "%s", pd->model);
		dv->kind = pd->kind == PROBE_DEV_UNIFIED ? EST_DEV_UNIFIED : EST_DEV_DISCRETE;
		dv->total_bytes = pd->total;
		if (dv->kind == EST_DEV_UNIFIED) {
			q->budget[k + 1] = 0;
		} else {
			if (parse_headroom(mo->headroom, k + 1, pr->pools[pool].total,
					   pb.pools[pool].headroom, &h) < 0) {
				free(pr);
				return -EINVAL;
			}
			q->budget[k + 1] = pr->pools[pool].available > h ? pr->pools[pool].available - h : 0;
		}
		q->base.n_devices++;
	}
	free(pr);
	return 0;
}

/* ---- printing ---- */

/* The llama-server arguments of a plan, after "-m MODEL". */
void cmd_fit_plan_args(char *buf, size_t bufsz, const struct place_plan *p)
{
	const struct est_config *c = &p->config;
	size_t o = 0;

#define ADD(...) do { \
		if (o < bufsz) \
			o += (size_t)snprintf(buf + o, bufsz - o, __VA_ARGS__); \
	} while (0)
	buf[0] = '\0';
	ADD("-c %u", p->est.n_ctx);
	if (c->n_devices) {
		if (c->n_gpu_layers < 0)
			ADD(" -ngl all");
		else
			ADD(" -ngl %d", c->n_gpu_layers);
	}
	if (c->n_ts >= 1 && c->n_devices) {
		/* as given (the solver's are layer counts): one value
		 * too, or llama-server would split by free memory */
		ADD(" -ts ");
		for (size_t i = 0; i < c->n_ts; i++)
			ADD("%s%.9g", i ? "," : "", c->ts[i]);
	}
	if (c->type_k != GGML_TYPE_F16)
		ADD(" -ctk %s", ggml_type_get(c->type_k)->name);
	if (c->type_v != GGML_TYPE_F16)
		ADD(" -ctv %s", ggml_type_get(c->type_v)->name);
	if (c->flash_attn == EST_FA_ON)
		ADD(" -fa on");
	else if (c->flash_attn == EST_FA_OFF)
		ADD(" -fa off");
	if (c->n_parallel >= 0)
		ADD(" -np %d", c->n_parallel);
	if (c->kv_unified == 1 && c->n_parallel >= 0)
		ADD(" -kvu");
	else if (c->kv_unified == 0 && c->n_parallel >= 0)
		/* (with -np auto llama-server unifies it anyway) */
		ADD(" --no-kv-unified");
	if (c->n_ubatch != 512)
		ADD(" -ub %u", c->n_ubatch);
	if (c->n_batch != 2048)
		ADD(" -b %u", c->n_batch);
	/* llama-server's -lm (the pinned release has no --no-mmap/--mlock) */
	if (c->no_mmap)
		ADD(" -lm %s", c->mlock ? "mlock" : c->direct_io ? "dio" : "none");
	else if (c->mlock)
		ADD(" -lm mmap+mlock");
	if (c->no_kv_offload)
		ADD(" -nkvo");
	if (c->swa_full)
		ADD(" --swa-full");
	if (c->no_repack)
		ADD(" -nr");
	/* what the user placed by hand: the plan counted on it, so the
	 * server must do it too */
	if (c->n_devices && c->split_mode != EST_SPLIT_LAYER)
		ADD(" -sm %s", c->split_mode == EST_SPLIT_ROW ? "row" : c->split_mode == EST_SPLIT_NONE ? "none" : "tensor");
	if (c->n_devices && c->main_gpu != 0)
		ADD(" -mg %d", c->main_gpu);
	if (c->no_fit)
		ADD(" -fit off");
	/* (given whether or not llmem could read the projector or the
	 * draft: serve passes their paths to the backend either way) */
	if (c->mmproj_cpu)
		ADD(" --no-mmproj-offload");
	/* the draft model's path travels apart (print_command, serve) */
	if (c->n_gpu_layers_draft >= 0)
		ADD(" -ngld %d", c->n_gpu_layers_draft);
	else if (c->draft && c->n_devices)
		ADD(" -ngld all");
	if (c->type_k_draft != GGML_TYPE_F16)
		ADD(" -ctkd %s", ggml_type_get(c->type_k_draft)->name);
	if (c->type_v_draft != GGML_TYPE_F16)
		ADD(" -ctvd %s", ggml_type_get(c->type_v_draft)->name);
	if (c->n_ctx_checkpoints != EST_CTX_CHECKPOINTS_DEFAULT)
		ADD(" -ctxcp %d", c->n_ctx_checkpoints);
	if (c->cache_ram_mib != EST_CACHE_RAM_DEFAULT_MIB)
		ADD(" -cram %d", c->cache_ram_mib);
	if (c->embeddings)
		ADD(" --embeddings");
	if (est_pooling_name(c->pooling))
		ADD(" --pooling %s", est_pooling_name(c->pooling));
	/* -ot's patterns and the rules llama.cpp appends to the same list
	 * (--cpu-moe, --n-cpu-moe, --n-cpu-ffn), in the order they were
	 * planned in: the first match wins */
	{
		bool open = false;

		for (size_t i = 0; i <= c->n_ot; i++) {
			bool moe = c->cpu_moe && est_rule_at(c->cpu_moe_at, i, c->n_ot);
			bool nmoe = c->n_cpu_moe && est_rule_at(c->n_cpu_moe_at, i, c->n_ot);
			bool nffn = c->n_cpu_ffn && est_rule_at(c->n_cpu_ffn_at, i, c->n_ot);

			if (moe || nmoe || nffn)
				open = false;
			if (nmoe)
				ADD(" --n-cpu-moe %u", c->n_cpu_moe);
			if (moe)
				ADD(" --cpu-moe");
			if (nffn)
				ADD(" --n-cpu-ffn %u", c->n_cpu_ffn);
			if (i < c->n_ot) {
				const struct est_override *ot = &c->ot[i];
				bool dev = ot->device >= 0 && (size_t)ot->device < c->n_devices;

				ADD("%s%s=%s", open ? "," : " -ot ", ot->pattern, dev ? c->devices[ot->device].name : "CPU");
				open = true;
			}
		}
	}
#undef ADD
}

/* --device NAME=SIZE[:unified],... for the devices of a plan, so that
 * `llmem estimate` can check it without probing */
static void plan_devices(char *buf, size_t bufsz, const struct est_config *c)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n_devices && o < bufsz; i++)
		o += (size_t)snprintf(buf + o, bufsz - o, "%s%s=%lluB%s", i ? "," : "", c->devices[i].name,
				      (unsigned long long)c->devices[i].total_bytes,
				      c->devices[i].kind == EST_DEV_UNIFIED ? ":unified" : "");
}

/* One shell word: as it is when nothing in it is special to a POSIX
 * shell, else in single quotes (an -ot regex has brackets and stars, a
 * path may have spaces). */
static void shell_word(FILE *fp, const char *w)
{
	if (*w && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=,+-@%") ==
			  strlen(w)) {
		fputs(w, fp);
		return;
	}
	fputc('\'', fp);
	for (; *w; w++) {
		if (*w == '\'')
			fputs("'\\''", fp);
		else
			fputc(*w, fp);
	}
	fputc('\'', fp);
}

static void print_command(FILE *fp, const char *path, const struct cmd_model_opts *mo,
			  const struct place_plan *p)
{
	char args[CMD_PLAN_ARGS_MAX], *tok, *save = NULL;

	cmd_fit_plan_args(args, sizeof(args), p);
	fputs("llama-server -m ", fp);
	shell_word(fp, path);
	if (mo->mmproj_path) {
		fputs(" --mmproj ", fp);
		shell_word(fp, mo->mmproj_path);
	}
	if (mo->draft_path) {
		fputs(" -md ", fp);
		shell_word(fp, mo->draft_path);
	}
	for (size_t i = 0; i < mo->n_lora_args; i++) {
		fputs(mo->lora_scaled[i] ? " --lora-scaled " : " --lora ", fp);
		shell_word(fp, mo->lora_args[i]);
	}
	if (mo->lora_noapply)
		fputs(" --lora-init-without-apply", fp);
	for (tok = strtok_r(args, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		fputc(' ', fp);
		shell_word(fp, tok);
	}
	fputc('\n', fp);
}

static void print_ollama(FILE *fp, const char *path, const struct place_plan *p, size_t n_models)
{
	const struct est_config *c = &p->config;
	int layers = c->n_devices ? (c->n_gpu_layers < 0 ? (int)p->est.n_gpu_layers : c->n_gpu_layers) : 0;

	fprintf(fp, "# Modelfile\nFROM %s\nPARAMETER num_ctx %u\nPARAMETER num_gpu %d\n", path,
		p->est.n_ctx_seq, layers);
	if (p->est.n_seq > 1)
		fprintf(fp, "# environment\nOLLAMA_NUM_PARALLEL=%u\n", p->est.n_seq);
	else
		fputs("# environment\n", fp);
	if (c->type_k != GGML_TYPE_F16) {
		fprintf(fp, "OLLAMA_KV_CACHE_TYPE=%s\n", ggml_type_get(c->type_k)->name);
		fputs("OLLAMA_FLASH_ATTENTION=1\n", fp);
	}
	fprintf(fp, "OLLAMA_MAX_LOADED_MODELS=%zu\n", n_models);
	if (c->n_cpu_moe)
		fprintf(fp, "# Ollama has no per-layer expert offload; llama-server's --n-cpu-moe %u "
			"keeps more on the GPU\n", c->n_cpu_moe);
}

static void print_plan(FILE *fp, const char *path, const struct model *m, const struct place_plan *p,
		       const struct cmd_model_opts *mo, bool probed, size_t n_models)
{
	fprintf(fp, "model:   %s (%s, %u layers, %.2f GiB of weights)\n", path, m->arch, m->n_layer,
		(double)m->weight_bytes / GIB);
	if (!p->fits) {
		fputs("plan:    does not fit\n", fp);
	} else if (p->config.n_devices == 0) {
		fprintf(fp, "plan:    on the CPU%s, -c %u\n", probed ? " (no GPU found)" : "", p->est.n_ctx);
	} else {
		fprintf(fp, "plan:    %u of %u layers on the GPU%s, -c %u, KV %s/%s", p->est.n_gpu_layers,
			m->n_layer + 1, p->config.n_devices > 1 ? "s" : "", p->est.n_ctx,
			ggml_type_get(p->config.type_k)->name, ggml_type_get(p->config.type_v)->name);
		if (p->config.n_cpu_moe)
			fprintf(fp, ", experts of %u layers on the CPU", p->config.n_cpu_moe);
		fputc('\n', fp);
	}
	for (size_t i = 0; i < p->n_why; i++)
		fprintf(fp, "  - %s\n", p->why[i]);
	/* what the plan could not count: leave room for it */
	if (p->est.projector_why)
		fprintf(fp, "  - the projector (--mmproj): %s; keep --headroom for it\n", p->est.projector_why);
	if (p->fits) {
		if (p->config.n_devices)
			fprintf(fp, "speed:   %.2fx of everything on the GPUs", p->speed_ratio);
		else
			fputs("speed:   on the CPU", fp);
		if (p->tokens_per_s > 0)
			fprintf(fp, ", about %.1f tokens/s (decode is memory-bound)", p->tokens_per_s);
		fputc('\n', fp);
		if (mo->for_mode && !strcmp(mo->for_mode, "ollama"))
			print_ollama(fp, path, p, n_models);
		else {
			fputs("command: ", fp);
			print_command(fp, path, mo, p);
		}
	}
}

static json_t *plan_json(const char *path, const struct cmd_model_opts *mo, const struct model *m,
			 const struct place_plan *p)
{
	const char *mmproj = mo->mmproj_path, *draft = mo->draft_path;
	json_t *o = json_object(), *why = json_array(), *est = out_estimate_json(m, &p->config, &p->est);

	for (size_t i = 0; i < p->n_why; i++)
		json_array_append_new(why, json_string(p->why[i]));
	json_object_set_new(o, "model", json_string(path));
	json_object_set_new(o, "fits", json_boolean(p->fits));
	if (mmproj)
		json_object_set_new(o, "mmproj", json_string(mmproj));
	if (draft)
		json_object_set_new(o, "model_draft", json_string(draft));
	if (mo->n_lora_args) {
		json_t *l = json_array();

		for (size_t i = 0; i < mo->n_lora_args; i++)
			json_array_append_new(l, json_pack("{s:s, s:b}", "arg", mo->lora_args[i], "scaled",
							   mo->lora_scaled[i]));
		json_object_set_new(o, "lora", l);
	}
	json_object_set_new(o, "n_gpu_layers", json_integer(p->est.n_gpu_layers));
	json_object_set_new(o, "ctx_size", json_integer(p->est.n_ctx));
	json_object_set_new(o, "n_cpu_moe", json_integer(p->config.n_cpu_moe));
	json_object_set_new(o, "cache_type_k", json_string(ggml_type_get(p->config.type_k)->name));
	json_object_set_new(o, "cache_type_v", json_string(ggml_type_get(p->config.type_v)->name));
	json_object_set_new(o, "speed_ratio", json_real(p->speed_ratio));
	json_object_set_new(o, "tokens_per_s", p->tokens_per_s > 0 ? json_real(p->tokens_per_s) : json_null());
	json_object_set_new(o, "why", why);
	{
		char args[CMD_PLAN_ARGS_MAX], devs[512];

		cmd_fit_plan_args(args, sizeof(args), p);
		plan_devices(devs, sizeof(devs), &p->config);
		json_object_set_new(o, "llama_server_args", json_string(args));
		json_object_set_new(o, "devices", json_string(devs));
	}
	json_object_set_new(o, "estimate", est ? est : json_null());
	return o;
}

static int fit_run(int argc, char **argv)
{
	struct cmd_model_opts mo;
	struct place_request *q = calloc(1, sizeof(*q));
	struct place_plan *p = calloc(1, sizeof(*p));
	char models[EST_MAX_DEVICES][64];
	json_t *all = NULL;
	bool probed = false;
	int e, rc = CMD_EXIT_OK;

	if (!q || !p) {
		free(q);
		free(p);
		return CMD_EXIT_FAIL;
	}
	memset(&mo, 0, sizeof(mo));
	mo.fit = true;
	est_config_init(&mo.c);
	e = cmd_model_opts_parse(argc, argv, &mo, fit_usage);
	if (e) {
		free(q);
		free(p);
		return e > 0 ? CMD_EXIT_OK : CMD_EXIT_INPUT;
	}
	if ((mo.mmproj_path || mo.draft_path || mo.n_lora_args) && mo.n_paths > 1) {
		cmd_error("--mmproj, -md, --lora: give them with one model");
		cmd_model_opts_release(&mo);
		free(q);
		free(p);
		return CMD_EXIT_INPUT;
	}
	if (cmd_model_opts_open(&mo) < 0) {
		cmd_model_opts_release(&mo);
		free(q);
		free(p);
		return CMD_EXIT_INPUT;
	}
	q->base = mo.c;
	q->ngl_fixed = mo.ngl_set;
	q->ctx_fixed = mo.ctx_set && !mo.ctx_max;
	q->ncmoe_fixed = mo.ncmoe_set;
	q->cram_fixed = mo.cram_set;
	q->ctxcp_fixed = mo.ctxcp_set;
	q->ts_fixed = mo.ts_set;
	q->ctx_max = mo.ctx_max;
	q->kv_auto = mo.kv_auto;
	q->no_cpu = mo.no_cpu;
	q->mmap_fixed = mo.mmap_set;
	q->allow_disk = mo.allow_disk;
	memset(models, 0, sizeof(models));
	if (cmd_fit_machine(&mo, q, models, &probed) < 0 ||
	    cmd_fit_set_bandwidths(&mo, q, models) < 0) {
		cmd_model_opts_release(&mo);
		free(q);
		free(p);
		return CMD_EXIT_INPUT;
	}
	if (mo.json)
		all = json_object();
	if (all)
		json_object_set_new(all, "plans", json_array());
	for (size_t k = 0; k < mo.n_paths; k++) {
		const char *path = mo.paths[k];
		struct cmd_model *cmm = NULL;
		struct model m;
		struct diag d;

		diag_init(&d);
		e = cmd_model_open(path, 0, &cmm);
		if (e) {
			rc = e;
			break;
		}
		m = cmm->m;
		e = place_solve(&m, q, p, &d);
		if (e < 0) {
			cmd_error("%s: %s", path, d.msg);
			rc = CMD_EXIT_INPUT;
		} else {
			if (all)
				json_array_append_new(json_object_get(all, "plans"), plan_json(path, &mo, &m, p));
			else {
				if (k)
					fputc('\n', stdout);
				print_plan(stdout, path, &m, p, &mo, probed, mo.n_paths);
			}
			if (!p->fits) {
				rc = CMD_EXIT_NOFIT;
			} else {
				/* the next model fits in what this one leaves */
				for (size_t i = 0; i <= q->base.n_devices; i++)
					q->budget[i] = q->budget[i] > p->need[i] ? q->budget[i] - p->need[i] : 0;
			}
		}
		cmd_model_free(cmm);
		if (e < 0 || !p->fits)
			break;
	}
	if (all) {
		json_dumpf(all, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(all);
	}
	cmd_model_opts_release(&mo);
	free(q);
	free(p);
	return rc;
}

const struct cmd cmd_fit = {
	.name = "fit",
	.summary = "the fastest placement that fits, and the command to run it",
	.run = fit_run,
	.usage = fit_usage,
	.one_shot = true,
};
