/* out-recommend.c: `llmem recommend` as tables (the machine, the catalog
 * families, the files found, the places searched) or as one JSON
 * object. */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include "gguf/ggml-type.h"
#include "output/out-recommend.h"
#include "output/output.h"

#define GB 1e9

static const char *const verdict_names[] = { "none", "gpu", "partial", "cpu" };

const char *out_rec_verdict_name(unsigned v)
{
	return v < ARRAY_SIZE(verdict_names) ? verdict_names[v] : "?";
}

static const char *ftype_name(uint32_t ft)
{
	const char *n = llama_ftype_name(ft);

	return n ? n : "?";
}

static void put(FILE *fp, const char *s)
{
	out_print_escaped(fp, s, strlen(s));
}

/* s escaped, then spaces to width */
static void put_pad(FILE *fp, const char *s, size_t width)
{
	size_t n = strlen(s);

	put(fp, s);
	for (; n < width; n++)
		fputc(' ', fp);
}

static void speed(char *buf, size_t n, double tps, double ratio, bool partial)
{
	if (tps > 0)
		snprintf(buf, n, "%.1f tok/s", tps);
	else if (partial)
		snprintf(buf, n, "%.2fx", ratio);
	else
		snprintf(buf, n, "-");
}

static void machine_text(FILE *fp, const struct out_recommend *r)
{
	if (r->n_gpus)
		fprintf(fp, "memory:   %zu GPU%s%s, %.2f GB (%.2f GB usable after headroom); RAM%s %.2f GB usable\n",
			r->n_gpus, r->n_gpus > 1 ? "s" : "", r->mem_given ? " (--mem)" : "",
			(double)r->gpu_total / GB, (double)r->gpu_budget / GB, r->ram_given ? " (--ram)" : "",
			(double)r->ram_budget / GB);
	else
		fprintf(fp, "memory:   no GPU; RAM%s %.2f GB usable after headroom\n", r->ram_given ? " (--ram)" : "",
			(double)r->ram_budget / GB);
	fprintf(fp, "context:  -c %u (at most each model's training context)\n", r->n_ctx);
}

/* what a pick takes where it matters: on the GPUs, or without a GPU in
 * RAM */
static uint64_t pick_mem(const struct out_recommend *r, const struct out_rec_pick *p)
{
	return r->n_gpus ? p->gpu_bytes : p->memory_bytes;
}

static void pick_row(FILE *fp, const struct out_recommend *r, const char *family,
		     const struct out_rec_pick *p, bool partial)
{
	char sp[32];

	speed(sp, sizeof(sp), p->tokens_per_s, p->speed_ratio, partial);
	fprintf(fp, "  %-10s  %-18s %-7s %8.2f %8.2f  %-12s", family, p->model, ftype_name(p->ftype),
		(double)p->file_bytes / GB, (double)pick_mem(r, p) / GB, sp);
}

static void catalog_text(FILE *fp, const struct out_recommend *r)
{
	if (r->n_gpus)
		fputs("\ncatalog: the largest model of each family that fits with every layer on the GPU,\n"
		      "at the best quantization that fits (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K)\n", fp);
	else
		fputs("\ncatalog: the largest model of each family that fits in RAM (no GPU), at the best\n"
		      "quantization that fits (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K)\n", fp);
	fprintf(fp, "  family      model              type     file GB   %s GB  speed         or\n",
		r->n_gpus ? "GPU" : "RAM");
	for (size_t i = 0; i < r->n_families; i++) {
		const struct out_rec_family *f = &r->families[i];

		switch (f->verdict) {
		case OUT_REC_GPU:
		case OUT_REC_CPU:
			pick_row(fp, r, f->name, &f->best, false);
			if (f->has_alt)
				fprintf(fp, "  %s %s (%.2f GB)", f->alt.model, ftype_name(f->alt.ftype),
					(double)pick_mem(r, &f->alt) / GB);
			break;
		case OUT_REC_PARTIAL:
			pick_row(fp, r, f->name, &f->best, true);
			fprintf(fp, "  only partly on the GPU: %u of %u layers", f->best.n_gpu_layers,
				f->best.n_layers);
			if (f->best.n_cpu_moe)
				fprintf(fp, ", experts of %u on the CPU", f->best.n_cpu_moe);
			break;
		default:
			fprintf(fp, "  %-10s  %-18s %-7s %8s %8s  %-12s  nothing fits", f->name, "-", "-", "-", "-", "-");
			if (f->has_smallest)
				fprintf(fp, ": %s %s needs %.2f GB in all", f->smallest.model,
					ftype_name(f->smallest.ftype), (double)f->smallest.memory_bytes / GB);
			break;
		}
		fputc('\n', fp);
	}
}

static const char *fits_word(const struct out_rec_file *f)
{
	if (f->failed)
		return "error";
	switch (f->verdict) {
	case OUT_REC_GPU: return "GPU";
	case OUT_REC_PARTIAL: return "partly";
	case OUT_REC_CPU: return "CPU";
	default: return "no";
	}
}

/* ", N what" after the first, which opens with " (" */
static void count(FILE *fp, const char **sep, size_t n, const char *what)
{
	if (!n)
		return;
	fprintf(fp, "%s%zu %s", *sep, n, what);
	*sep = ", ";
}

static void files_text(FILE *fp, const struct out_recommend *r)
{
	size_t counts[4] = { 0 }, n_err = 0, w = 20;

	for (size_t i = 0; i < r->n_files; i++) {
		size_t n = strlen(r->files[i].name);

		if (r->files[i].failed)
			n_err++;
		else
			counts[r->files[i].verdict < 4 ? r->files[i].verdict : 0]++;
		if (n > w)
			w = n < 48 ? n : 48;
	}
	fprintf(fp, "\nfiles: %zu model%s found", r->n_files, r->n_files == 1 ? "" : "s");
	if (r->n_files) {
		const char *sep = " (";

		count(fp, &sep, counts[OUT_REC_GPU], counts[OUT_REC_GPU] == 1 ? "fits on the GPU" : "fit on the GPU");
		count(fp, &sep, counts[OUT_REC_PARTIAL], "partly");
		count(fp, &sep, counts[OUT_REC_CPU], "on the CPU");
		count(fp, &sep, counts[OUT_REC_NONE], counts[OUT_REC_NONE] == 1 ? "does not fit" : "do not fit");
		count(fp, &sep, n_err, "cannot be read");
		fputc(')', fp);
	}
	fputc('\n', fp);
	if (!r->n_files)
		return;
	fputs("  ", fp);
	put_pad(fp, "model", w);
	fputs("  source     size GB  fits    -ngl   max -c  speed\n", fp);
	for (size_t i = 0; i < r->n_files; i++) {
		const struct out_rec_file *f = &r->files[i];
		char ngl[16], ctx[16], sp[32];

		fputs("  ", fp);
		if (strlen(f->name) > w) {
			/* a long name on a line of its own */
			put(fp, f->name);
			fprintf(fp, "\n  %*s", (int)w, "");
		} else {
			put_pad(fp, f->name, w);
		}
		fprintf(fp, "  %-9s %8.2f  %-6s", f->source, (double)f->file_bytes / GB, fits_word(f));
		if (f->failed) {
			fputs("  ", fp);
			out_print_safe(fp, f->error, strlen(f->error), false);
		} else if (f->verdict == OUT_REC_NONE) {
			fputs("  ", fp);
			put(fp, f->why);
		} else {
			if (f->verdict == OUT_REC_CPU)
				snprintf(ngl, sizeof(ngl), "-");
			else if (f->n_gpu_layers >= f->n_layers)
				snprintf(ngl, sizeof(ngl), "all");
			else
				snprintf(ngl, sizeof(ngl), "%u", f->n_gpu_layers);
			snprintf(ctx, sizeof(ctx), "%u", f->max_ctx);
			speed(sp, sizeof(sp), f->tokens_per_s, f->speed_ratio, f->verdict == OUT_REC_PARTIAL);
			fprintf(fp, "  %4s  %7s  %s", ngl, ctx, sp);
			if (f->n_cpu_moe)
				fprintf(fp, "  --n-cpu-moe %u", f->n_cpu_moe);
			if (f->ctx < r->n_ctx && f->ctx < f->ctx_train)
				fprintf(fp, "  (only a context below -c %u fits)", r->n_ctx);
		}
		fputc('\n', fp);
		if (strcmp(f->name, f->path)) {
			fputs("        file: ", fp);
			put(fp, f->path);
			if (f->n_parts > 1)
				fprintf(fp, " (%u parts)", f->n_parts);
			fputc('\n', fp);
		} else if (f->n_parts > 1) {
			fprintf(fp, "        %u parts\n", f->n_parts);
		}
		if (f->also) {
			fputs("        also: ", fp);
			put(fp, f->also);
			fputc('\n', fp);
		}
	}
}

static void places_text(FILE *fp, const struct out_recommend *r)
{
	size_t w = 20;

	for (size_t i = 0; i < r->n_places; i++) {
		size_t n = strlen(r->places[i].path);

		if (n > w)
			w = n < 56 ? n : 56;
	}
	fputs("\nsearched\n", fp);
	for (size_t i = 0; i < r->n_places; i++) {
		const struct out_rec_place *p = &r->places[i];

		fprintf(fp, "  %-10s ", p->source);
		put_pad(fp, p->path, w);
		if (!p->exists)
			fputs("  absent\n", fp);
		else if (p->same_as >= 0)
			fputs("  the same as above\n", fp);
		else
			fprintf(fp, "  %zu model%s\n", p->n_found, p->n_found == 1 ? "" : "s");
	}
}

/* a speed shown without tokens/s: a device's bandwidth is unknown */
static bool speed_unknown(const struct out_recommend *r)
{
	for (size_t i = 0; r->catalog && i < r->n_families; i++)
		if (r->families[i].verdict != OUT_REC_NONE && r->families[i].best.tokens_per_s <= 0)
			return true;
	for (size_t i = 0; i < r->n_files; i++)
		if (!r->files[i].failed && r->files[i].verdict != OUT_REC_NONE &&
		    r->files[i].tokens_per_s <= 0)
			return true;
	return false;
}

void out_recommend_text(FILE *fp, const struct out_recommend *r)
{
	machine_text(fp, r);
	if (r->catalog)
		catalog_text(fp, r);
	files_text(fp, r);
	if (speed_unknown(r))
		fputs("\nspeed: tokens/s needs every device's memory bandwidth (a GPU of --mem has none:\n"
		      "give it with --bandwidth GPU0=1008GB/s); 0.25x is the speed of a partial offload\n"
		      "over everything on the GPU\n", fp);
	if (r->n_places)
		places_text(fp, r);
}

/* ---- JSON ---- */

static json_t *str_or_null(const char *s)
{
	return s ? out_json_bytes(s, strlen(s)) : json_null();
}

static json_t *pick_json(const struct out_rec_pick *p)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "model", json_string(p->model));
	json_object_set_new(o, "file_type", json_string(ftype_name(p->ftype)));
	json_object_set_new(o, "parameters", json_integer((json_int_t)p->params));
	json_object_set_new(o, "file_bytes", json_integer((json_int_t)p->file_bytes));
	json_object_set_new(o, "memory_bytes", json_integer((json_int_t)p->memory_bytes));
	json_object_set_new(o, "gpu_bytes", json_integer((json_int_t)p->gpu_bytes));
	json_object_set_new(o, "n_gpu_layers", json_integer(p->n_gpu_layers));
	json_object_set_new(o, "n_layers", json_integer(p->n_layers));
	json_object_set_new(o, "n_cpu_moe", json_integer(p->n_cpu_moe));
	json_object_set_new(o, "speed_ratio", json_real(p->speed_ratio));
	json_object_set_new(o, "tokens_per_s", p->tokens_per_s > 0 ? json_real(p->tokens_per_s) : json_null());
	return o;
}

static json_t *family_json(const struct out_rec_family *f)
{
	json_t *o = json_object(), *models = json_array();

	if (!o || !models) {
		json_decref(o);
		json_decref(models);
		return NULL;
	}
	for (size_t i = 0; i < f->n_models; i++)
		json_array_append_new(models, json_string(f->models[i]));
	json_object_set_new(o, "family", json_string(f->name));
	json_object_set_new(o, "models", models);
	json_object_set_new(o, "fits", json_string(out_rec_verdict_name(f->verdict)));
	json_object_set_new(o, "best", f->verdict != OUT_REC_NONE ? pick_json(&f->best) : json_null());
	json_object_set_new(o, "alternative", f->has_alt ? pick_json(&f->alt) : json_null());
	json_object_set_new(o, "smallest", f->has_smallest ? pick_json(&f->smallest) : json_null());
	return o;
}

static json_t *file_json(const struct out_rec_file *f)
{
	json_t *o = json_object();
	bool ok = !f->failed && f->verdict != OUT_REC_NONE;

	if (!o)
		return NULL;
	json_object_set_new(o, "name", str_or_null(f->name));
	json_object_set_new(o, "path", str_or_null(f->path));
	json_object_set_new(o, "source", json_string(f->source));
	json_object_set_new(o, "also", str_or_null(f->also));
	json_object_set_new(o, "file_bytes", json_integer((json_int_t)f->file_bytes));
	json_object_set_new(o, "n_parts", json_integer(f->n_parts));
	json_object_set_new(o, "error", f->failed ? str_or_null(f->error) : json_null());
	if (f->failed)
		return o;
	json_object_set_new(o, "architecture", str_or_null(f->arch));
	json_object_set_new(o, "title", f->title[0] ? str_or_null(f->title) : json_null());
	json_object_set_new(o, "file_type", str_or_null(f->file_type));
	json_object_set_new(o, "parameters", json_integer((json_int_t)f->params));
	json_object_set_new(o, "fits", json_string(out_rec_verdict_name(f->verdict)));
	json_object_set_new(o, "n_gpu_layers", ok ? json_integer(f->n_gpu_layers) : json_null());
	json_object_set_new(o, "n_layers", json_integer(f->n_layers));
	json_object_set_new(o, "n_cpu_moe", ok ? json_integer(f->n_cpu_moe) : json_null());
	json_object_set_new(o, "ctx_size", json_integer(f->ctx));
	json_object_set_new(o, "max_ctx_size", ok ? json_integer(f->max_ctx) : json_null());
	json_object_set_new(o, "ctx_train", json_integer(f->ctx_train));
	json_object_set_new(o, "memory_bytes", json_integer((json_int_t)f->memory_bytes));
	json_object_set_new(o, "gpu_bytes", json_integer((json_int_t)f->gpu_bytes));
	json_object_set_new(o, "speed_ratio", ok ? json_real(f->speed_ratio) : json_null());
	json_object_set_new(o, "tokens_per_s", ok && f->tokens_per_s > 0 ? json_real(f->tokens_per_s) : json_null());
	json_object_set_new(o, "llama_server_args", ok ? json_string(f->args) : json_null());
	json_object_set_new(o, "why", ok ? json_null() : str_or_null(f->why));
	return o;
}

json_t *out_recommend_json(const struct out_recommend *r)
{
	json_t *o = json_object(), *fams = json_array(), *files = json_array(), *places = json_array();

	if (!o || !fams || !files || !places) {
		json_decref(o);
		json_decref(fams);
		json_decref(files);
		json_decref(places);
		return NULL;
	}
	json_object_set_new(o, "ctx_size", json_integer(r->n_ctx));
	json_object_set_new(o, "mem_given", json_boolean(r->mem_given));
	json_object_set_new(o, "ram_given", json_boolean(r->ram_given));
	json_object_set_new(o, "n_gpus", json_integer((json_int_t)r->n_gpus));
	json_object_set_new(o, "gpu_total_bytes", json_integer((json_int_t)r->gpu_total));
	json_object_set_new(o, "gpu_budget_bytes", json_integer((json_int_t)r->gpu_budget));
	json_object_set_new(o, "ram_budget_bytes", json_integer((json_int_t)r->ram_budget));
	for (size_t i = 0; i < r->n_families; i++)
		json_array_append_new(fams, family_json(&r->families[i]));
	for (size_t i = 0; i < r->n_files; i++)
		json_array_append_new(files, file_json(&r->files[i]));
	for (size_t i = 0; i < r->n_places; i++) {
		const struct out_rec_place *p = &r->places[i];
		json_t *j = json_object();

		json_object_set_new(j, "source", json_string(p->source));
		json_object_set_new(j, "path", str_or_null(p->path));
		json_object_set_new(j, "exists", json_boolean(p->exists));
		json_object_set_new(j, "same_as", p->same_as >= 0 ? json_integer(p->same_as) : json_null());
		json_object_set_new(j, "n_found", json_integer((json_int_t)p->n_found));
		json_array_append_new(places, j);
	}
	json_object_set_new(o, "catalog", r->catalog ? fams : json_null());
	if (!r->catalog)
		json_decref(fams);
	json_object_set_new(o, "files", files);
	json_object_set_new(o, "searched", places);
	return o;
}
