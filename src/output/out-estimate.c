/* out-estimate.c: the report of `llmem estimate`, as text and JSON. */
#include "base/compat.h"

#include <inttypes.h>
#include <string.h>

#include "gguf/ggml-type.h"
#include "output/output.h"

static const char *kind_name(uint8_t k)
{
	return k == EST_DEV_HOST ? "host" : k == EST_DEV_UNIFIED ? "unified" : "discrete";
}

static const char *fa_name(uint8_t fa)
{
	return fa == EST_FA_ON ? "on" : fa == EST_FA_OFF ? "off" : "auto";
}

static void mib(FILE *fp, uint64_t b)
{
	fprintf(fp, " %10.2f", (double)b / 1048576.0);
}

#define BAR_W 50

/* The memory guide's chart as one bar a device: its weights (W; LoRA
 * adapters and a projector's weights with them), KV cache and recurrent
 * state (K), compute and output buffers (C), overhead (O) and a draft
 * model (D), in BAR_W cells of scale bytes each BAR_W-th; '.' the part of
 * the device's memory (cap, 0 unknown) they leave free; '>' at the end
 * when they need more than cap. */
static void bar(FILE *fp, const struct est_usage *u, uint64_t scale, uint64_t cap)
{
	const uint64_t part[5] = {
		u->weights + u->lora + u->projector,
		u->kv + u->recurrent,
		u->compute + u->output + u->projector_compute,
		u->overhead,
		u->draft,
	};
	static const char sym[5] = { 'W', 'K', 'C', 'O', 'D' };
	char line[BAR_W + 1];
	long double sum = 0;
	int at = 0;

	memset(line, cap ? '.' : ' ', BAR_W);
	line[BAR_W] = '\0';
	for (int k = 0; k < 5 && scale; k++) {
		int end;

		sum += part[k];
		/* cumulative rounding: the cells add up to the whole */
		end = (int)(sum * BAR_W / scale + 0.5L);
		if (end > BAR_W)
			end = BAR_W;
		for (; at < end; at++)
			line[at] = sym[k];
	}
	fprintf(fp, "  %-10s |%s|%c %.0f MiB", u->name, line, cap && u->total > cap ? '>' : ' ',
		(double)u->total / 1048576.0);
	if (cap)
		fprintf(fp, " of %.0f MiB", (double)cap / 1048576.0);
	fputc('\n', fp);
}

void out_estimate_text(FILE *fp, const struct model *m, const struct est_config *c,
		       const struct est_result *r)
{
	char h[32];

	fprintf(fp, "model:    %s, %u layers, %" PRIu64 " vocabulary", m->arch, m->n_layer, m->n_vocab);
	out_human_bytes(h, sizeof(h), m->weight_bytes);
	fprintf(fp, ", %s of weights\n", h);
	fprintf(fp, "context:  -c %u (%u per sequence), -np %u%s, -b %u -ub %u, -ctk %s -ctv %s, -fa %s%s\n",
		r->n_ctx, r->n_ctx_seq, r->n_seq, r->kv_unified ? " unified" : "", r->n_batch, r->n_ubatch,
		ggml_type_get(c->type_k)->name, ggml_type_get(c->type_v)->name, fa_name(c->flash_attn),
		c->flash_attn != EST_FA_AUTO ? "" : r->fa_graph ? " (on)" : " (off)");
	if (c->n_devices)
		fprintf(fp, "offload:  %u of %u layers on GPU (output layer included)\n", r->n_gpu_layers,
			m->n_layer + 1);
	fprintf(fp, "\n  %-10s %-9s %10s %10s %10s %10s %10s %10s %10s\n", "device", "kind", "weights",
		"kv", "recurrent", "compute", "output", "overhead", "total");
	fprintf(fp, "  %-10s %-9s %10s %10s %10s %10s %10s %10s %10s\n", "", "", "MiB", "MiB", "MiB",
		"MiB", "MiB", "MiB", "MiB");
	for (size_t i = 0; i < r->n_usage; i++) {
		const struct est_usage *u = &r->usage[i];

		fprintf(fp, "  %-10s %-9s", u->name, kind_name(u->kind));
		mib(fp, u->weights);
		mib(fp, u->kv);
		mib(fp, u->recurrent);
		mib(fp, u->compute);
		mib(fp, u->output);
		mib(fp, u->overhead);
		mib(fp, u->total);
		fputc('\n', fp);
	}
	/* the bars: a GPU's scaled to its memory, the host's (whose RAM the
	 * estimate does not know) to the largest total or memory shown */
	{
		uint64_t scale = 0;

		for (size_t i = 0; i < r->n_usage; i++) {
			uint64_t cap = i && i - 1 < c->n_devices ? c->devices[i - 1].total_bytes : 0;
			uint64_t t = r->usage[i].total > cap ? r->usage[i].total : cap;

			if (t > scale)
				scale = t;
		}
		fprintf(fp, "\n  W weights, K KV cache, C compute and output, O overhead%s; '.' free:\n",
			c->draft ? ", D draft model" : "");
		for (size_t i = 0; i < r->n_usage; i++) {
			uint64_t cap = i && i - 1 < c->n_devices ? c->devices[i - 1].total_bytes : 0;

			bar(fp, &r->usage[i], cap ? (r->usage[i].total > cap ? r->usage[i].total : cap) : scale,
			    cap);
		}
	}
	const struct est_usage *hu = &r->usage[0];

	if (hu->weights_mapped || hu->weights_repack) {
		fprintf(fp, "\n  host weights: %.2f MiB mapped from the file (page cache, reclaimable)",
			(double)hu->weights_mapped / 1048576.0);
		fprintf(fp, ", %.2f MiB repacked copies, %.2f MiB read\n",
			(double)hu->weights_repack / 1048576.0,
			(double)(hu->weights - hu->weights_mapped - hu->weights_repack) / 1048576.0);
	}
	if (c->n_devices == 0)
		fprintf(fp, "\n  resident (top): %.0f MiB of file pages (reclaimable) + %.0f MiB anonymous"
			" after load, %.0f MiB anonymous once serving\n",
			(double)r->rss.file / 1048576.0, (double)r->rss.anon_loaded / 1048576.0,
			(double)r->rss.anon_running / 1048576.0);
	else
		fprintf(fp, "\n  resident (top): %.0f MiB of file pages (reclaimable, CUDA's libraries included)"
			" + %.0f MiB anonymous + %.0f MiB pinned (shared)\n",
			(double)r->rss.file / 1048576.0, (double)r->rss.anon_loaded / 1048576.0,
			(double)r->rss.pinned / 1048576.0);
	for (size_t i = 0; i < r->n_usage && c->mmproj; i++)
		if (r->usage[i].projector && !r->projector_why)
			fprintf(fp, "  projector (--mmproj): %.2f MiB of weights and %.2f MiB of compute buffer (its "
				"warmup image's graph) on %s, in its total\n",
				(double)r->usage[i].projector / 1048576.0,
				(double)r->usage[i].projector_compute / 1048576.0, r->usage[i].name);
		else if (r->usage[i].projector)
			fprintf(fp, "  projector (--mmproj): %.2f MiB of weights on %s, in its total; %s\n",
				(double)r->usage[i].projector / 1048576.0, r->usage[i].name, r->projector_why);
	for (size_t i = 0; i < r->n_usage && c->n_loras; i++)
		if (r->usage[i].lora)
			fprintf(fp, "  LoRA adapters (--lora): %.2f MiB on %s (beside the weights they adapt), in its "
				"total\n", (double)r->usage[i].lora / 1048576.0, r->usage[i].name);
	for (size_t i = 0; i < r->n_usage && c->draft; i++)
		if (r->usage[i].draft)
			fprintf(fp, "  draft model (-md): %.2f MiB on %s (its weights, caches, compute and output "
				"buffers), in its total\n", (double)r->usage[i].draft / 1048576.0, r->usage[i].name);
	if (r->prompt_cache == UINT64_MAX)
		fprintf(fp, "  prompt cache (-cram -1): grows in RAM at run time without a limit\n");
	else if (r->prompt_cache)
		fprintf(fp, "  prompt cache (-cram %d): up to %.0f MiB more RAM at run time, on top of the above\n",
			c->cache_ram_mib, (double)r->prompt_cache / 1048576.0);
	if (r->checkpoint_size && r->checkpoints_max)
		fprintf(fp, "  context checkpoints (-ctxcp %d): up to %.0f MiB more RAM at run time (%.2f MiB each, "
			"%d per slot), on top of the above\n", c->n_ctx_checkpoints,
			(double)r->checkpoints_max / 1048576.0, (double)r->checkpoint_size / 1048576.0,
			c->n_ctx_checkpoints);
	fprintf(fp, "\nrules\n  weights:   %s\n  kv:        %s\n", r->rule_weights, r->rule_kv);
	if (r->n_recurrent_layers)
		fprintf(fp, "  recurrent: %s\n", r->rule_recurrent);
	fprintf(fp, "  compute:   %s\n  output:    %s\n  overhead:  %s\n", r->rule_compute,
		r->rule_output, r->rule_overhead);
}

static json_t *u64j(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *out_estimate_json(const struct model *m, const struct est_config *c,
			  const struct est_result *r)
{
	json_t *root = json_object(), *devs = json_array(), *cfg, *rules, *mdl;

	if (!root || !devs) {
		json_decref(root);
		json_decref(devs);
		return NULL;
	}
	for (size_t i = 0; i < r->n_usage; i++) {
		const struct est_usage *u = &r->usage[i];
		json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			"name", u->name, "kind", kind_name(u->kind),
			"weights", u64j(u->weights), "kv", u64j(u->kv), "recurrent", u64j(u->recurrent),
			"compute", u64j(u->compute), "output", u64j(u->output),
			"overhead", u64j(u->overhead), "total", u64j(u->total));

		if (o && c->n_loras)
			json_object_set_new(o, "lora", u64j(u->lora));
		if (o && c->mmproj) {
			json_object_set_new(o, "projector", u64j(u->projector));
			json_object_set_new(o, "projector_compute", u64j(u->projector_compute));
		}
		if (o && c->draft)
			json_object_set_new(o, "draft", u64j(u->draft));
		if (o && u->kind == EST_DEV_HOST) {
			json_object_set_new(o, "rss", json_pack("{s:o, s:o, s:o, s:o}",
				"file", u64j(r->rss.file), "anon", u64j(r->rss.anon_loaded),
				"anon_running", u64j(r->rss.anon_running), "pinned", u64j(r->rss.pinned)));
			json_object_set_new(o, "weights_mapped", u64j(u->weights_mapped));
			json_object_set_new(o, "weights_copied", u64j(u->weights - u->weights_mapped));
			json_object_set_new(o, "weights_repack", u64j(u->weights_repack));
		}
		json_array_append_new(devs, o);
	}
	cfg = json_pack("{s:i, s:i, s:i, s:b, s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:i, s:i, s:i}",
		"ctx_size", (int)r->n_ctx, "ctx_seq", (int)r->n_ctx_seq, "parallel", (int)r->n_seq,
		"kv_unified", r->kv_unified, "batch_size", (int)r->n_batch, "ubatch_size", (int)r->n_ubatch,
		"n_outputs_max", (int)r->n_outputs_max, "n_gpu_layers", (int)r->n_gpu_layers,
		"cache_type_k", ggml_type_get(c->type_k)->name, "cache_type_v", ggml_type_get(c->type_v)->name,
		"flash_attn", fa_name(c->flash_attn), "mmap", !c->no_mmap, "mlock", c->mlock,
		"kv_offload", !c->no_kv_offload, "swa_full", c->swa_full, "repack", !c->no_repack,
		"cpu_moe", c->cpu_moe, "n_cpu_moe", (int)c->n_cpu_moe, "kv_cells", (int)r->kv_size,
		"kv_cells_swa", (int)r->kv_size_swa);
	if (cfg) {
		json_object_set_new(cfg, "flash_attn_resolved", json_string(r->fa_graph ? "on" : "off"));
		json_object_set_new(cfg, "n_cpu_ffn", json_integer(c->n_cpu_ffn));
		json_object_set_new(cfg, "cache_ram_mib", json_integer(c->cache_ram_mib));
		json_object_set_new(cfg, "ctx_checkpoints", json_integer(c->n_ctx_checkpoints));
		json_object_set_new(cfg, "embeddings", json_boolean(c->embeddings));
		json_object_set_new(cfg, "pooling", json_string(est_pooling_name(c->pooling) ? est_pooling_name(c->pooling) : "model"));
	}
	rules = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "weights", r->rule_weights, "kv", r->rule_kv,
			  "recurrent", r->rule_recurrent, "compute", r->rule_compute,
			  "output", r->rule_output, "overhead", r->rule_overhead);
	mdl = json_pack("{s:s, s:i, s:o, s:o, s:o}", "architecture", m->arch, "layers", (int)m->n_layer,
			"vocab_size", u64j(m->n_vocab), "context_train", u64j(m->n_ctx_train),
			"weight_bytes", u64j(m->weight_bytes));
	json_object_set_new(root, "model", mdl);
	json_object_set_new(root, "devices", devs);
	json_object_set_new(root, "config", cfg);
	json_object_set_new(root, "prompt_cache_max", r->prompt_cache == UINT64_MAX ? json_null() : u64j(r->prompt_cache));
	if (r->projector_why)
		json_object_set_new(root, "projector_note", json_string(r->projector_why));
	json_object_set_new(root, "checkpoint_bytes", u64j(r->checkpoint_size));
	json_object_set_new(root, "checkpoints_max", u64j(r->checkpoints_max));
	json_object_set_new(root, "rules", rules);
	return root;
}
