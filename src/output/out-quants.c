/* out-quants.c: `llmem quants` as a table or JSON: one row per file type
 * with its size, bits per weight, memory at the context asked, whether it
 * fits, and the recommended row marked. */
#include "base/compat.h"

#include <stdio.h>

#include "gguf/ggml-type.h"
#include "model/quant.h"
#include "output/output.h"

#define GB 1e9

static double bpw(const struct out_quants_row *r)
{
	return r->n_params ? (double)r->tensor_bytes * 8.0 / (double)r->n_params : 0.0;
}

void out_quants_text(FILE *fp, const struct out_quants *q)
{
	fprintf(fp, "model:    %s (%s, %u layers), -c %u, all layers on the GPU%s\n", q->model, q->arch,
		q->n_layer, q->n_ctx, q->n_gpus > 1 ? "s" : "");
	if (q->n_gpus)
		fprintf(fp, "memory:   %zu GPU%s, %.2f GB (%.2f GB usable after headroom); RAM%s %.2f GB usable\n",
			q->n_gpus, q->n_gpus > 1 ? "s" : "", (double)q->gpu_total / GB,
			(double)q->gpu_budget / GB, q->ram_given ? " (--ram)" : "", (double)q->ram_budget / GB);
	else
		fprintf(fp, "memory:   no GPU; RAM%s %.2f GB usable after headroom\n", q->ram_given ? " (--ram)" : "",
			(double)q->ram_budget / GB);
	fputs("\n  file type     file GB  bits/weight  memory GB  fits\n", fp);
	for (size_t i = 0; i < q->n_rows; i++) {
		const struct out_quants_row *r = &q->rows[i];
		const char *fits;
		char buf[64];

		if (r->fits_gpu)
			fits = q->n_gpus ? "yes" : "yes (CPU)";
		else if (r->fits) {
			snprintf(buf, sizeof(buf), "partly: %u of %u layers on the GPU", r->n_gpu_layers,
				 q->n_layer + 1);
			fits = q->n_gpus ? buf : "yes (CPU)";
		} else
			fits = "no";
		fprintf(fp, "%c %-12s %8.2f  %11.2f  %9.2f  %s\n", (int)i == q->recommended ? '*' : ' ',
			llama_ftype_name(r->ftype), (double)r->file_bytes / GB, bpw(r),
			(double)r->memory_bytes / GB, fits);
		for (size_t k = 0; k < r->n_tensors; k++)
			fprintf(fp, "      %-40s %s\n", r->tensors[k].name,
				ggml_type_get(r->tensors[k].type)->name);
	}
	fputc('\n', fp);
	if (q->recommended < 0) {
		fputs("recommended: none fits\n", fp);
		return;
	}
	const struct out_quants_row *r = &q->rows[q->recommended];

	if (q->rec_full && q->n_gpus)
		fprintf(fp, "recommended: %s, the largest that fits entirely on the GPU%s (%.2f GB)\n",
			llama_ftype_name(r->ftype), q->n_gpus > 1 ? "s" : "", (double)r->memory_bytes / GB);
	else if (q->n_gpus) {
		fprintf(fp, "recommended: %s with %u of %u layers on the GPU%s: %.2fx the speed of all on the GPU",
			llama_ftype_name(r->ftype), r->n_gpu_layers, q->n_layer + 1, q->n_gpus > 1 ? "s" : "",
			r->speed_ratio);
		if (r->tokens_per_s > 0)
			fprintf(fp, ", about %.1f tokens/s", r->tokens_per_s);
		fputc('\n', fp);
	} else {
		fprintf(fp, "recommended: %s on the CPU (%.2f GB)", llama_ftype_name(r->ftype),
			(double)r->memory_bytes / GB);
		if (r->tokens_per_s > 0)
			fprintf(fp, ", about %.1f tokens/s", r->tokens_per_s);
		fputc('\n', fp);
	}
}

json_t *out_quants_json(const struct out_quants *q)
{
	json_t *o = json_object(), *rows = json_array();

	if (!o || !rows) {
		json_decref(o);
		json_decref(rows);
		return NULL;
	}
	json_object_set_new(o, "model", json_string(q->model));
	json_object_set_new(o, "architecture", json_string(q->arch));
	json_object_set_new(o, "ctx_size", json_integer(q->n_ctx));
	json_object_set_new(o, "n_gpus", json_integer((json_int_t)q->n_gpus));
	json_object_set_new(o, "gpu_total_bytes", json_integer((json_int_t)q->gpu_total));
	json_object_set_new(o, "gpu_budget_bytes", json_integer((json_int_t)q->gpu_budget));
	json_object_set_new(o, "ram_budget_bytes", json_integer((json_int_t)q->ram_budget));
	json_object_set_new(o, "ram_given", json_boolean(q->ram_given));
	for (size_t i = 0; i < q->n_rows; i++) {
		const struct out_quants_row *r = &q->rows[i];
		json_t *j = json_object();

		json_object_set_new(j, "file_type", json_string(llama_ftype_name(r->ftype)));
		json_object_set_new(j, "file_type_id", json_integer(r->ftype));
		json_object_set_new(j, "file_bytes", json_integer((json_int_t)r->file_bytes));
		json_object_set_new(j, "tensor_bytes", json_integer((json_int_t)r->tensor_bytes));
		json_object_set_new(j, "bits_per_weight", json_real(bpw(r)));
		json_object_set_new(j, "memory_bytes", json_integer((json_int_t)r->memory_bytes));
		json_object_set_new(j, "gpu_bytes", json_integer((json_int_t)r->gpu_bytes));
		json_object_set_new(j, "fits_gpu", json_boolean(r->fits_gpu));
		json_object_set_new(j, "fits", json_boolean(r->fits));
		json_object_set_new(j, "n_gpu_layers", json_integer(r->n_gpu_layers));
		json_object_set_new(j, "speed_ratio", json_real(r->speed_ratio));
		json_object_set_new(j, "tokens_per_s", r->tokens_per_s > 0 ? json_real(r->tokens_per_s) : json_null());
		json_object_set_new(j, "recommended", json_boolean((int)i == q->recommended));
		if (r->n_tensors) {
			json_t *t = json_object();

			for (size_t k = 0; k < r->n_tensors; k++)
				json_object_set_new(t, r->tensors[k].name,
						    json_string(ggml_type_get(r->tensors[k].type)->name));
			json_object_set_new(j, "tensors", t);
		}
		json_array_append_new(rows, j);
	}
	json_object_set_new(o, "rows", rows);
	json_object_set_new(o, "recommended", q->recommended >= 0 ?
			    json_string(llama_ftype_name(q->rows[q->recommended].ftype)) : json_null());
	json_object_set_new(o, "recommended_full_offload", json_boolean(q->rec_full));
	return o;
}
