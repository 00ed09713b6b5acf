/* out-inspect.c: the report of `llmem inspect`, as text and as JSON
 * (schema in docs/inspect-json.md). */
#include "base/compat.h"

#include <inttypes.h>
#include <string.h>

#include "gguf/ggml-type.h"
#include "output/output.h"

#define TEXT_STR_MAX 120   /* string values longer than this are cut in text */
#define ARRAY_HEAD 8       /* array elements shown before "..." */

static void print_num_elem(FILE *fp, const struct gguf_file *f, uint64_t k, uint64_t j)
{
	uint32_t t = f->kvs[k].arr_type;
	uint64_t u;
	int64_t i;
	double d;

	if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64) {
		if (gguf_kv_arr_get_float(f, k, j, &d) == 0)
			fprintf(fp, "%g", d);
	} else if (t == GGUF_TYPE_BOOL) {
		fputs(f->buf[f->kvs[k].val_off + j] ? "true" : "false", fp);
	} else if (gguf_kv_arr_get_int(f, k, j, &i) == 0) {
		fprintf(fp, "%" PRId64, i);
	} else if (gguf_kv_arr_get_uint(f, k, j, &u) == 0) {
		fprintf(fp, "%" PRIu64, u);
	}
}

static void print_str(FILE *fp, struct gguf_str s, size_t max)
{
	fputc('"', fp);
	out_print_escaped(fp, s.p, s.n < max ? s.n : max);
	fputc('"', fp);
	if (s.n > max)
		fprintf(fp, "... (%zu bytes)", s.n);
}

/* Prints the value of kv k on one line. */
static void print_value(FILE *fp, const struct gguf_file *f, uint64_t k)
{
	const struct gguf_kv *kv = &f->kvs[k];
	struct gguf_str s;
	uint64_t u;
	int64_t i;
	double d;
	bool b;

	switch (kv->type) {
	case GGUF_TYPE_STRING:
		if (gguf_kv_get_str(f, k, &s) == 0)
			print_str(fp, s, TEXT_STR_MAX);
		return;
	case GGUF_TYPE_BOOL:
		if (gguf_kv_get_bool(f, k, &b) == 0)
			fputs(b ? "true" : "false", fp);
		return;
	case GGUF_TYPE_FLOAT32:
	case GGUF_TYPE_FLOAT64:
		if (gguf_kv_get_float(f, k, &d) == 0)
			fprintf(fp, "%g", d);
		return;
	case GGUF_TYPE_ARRAY:
		break;
	default:
		if (gguf_kv_get_int(f, k, &i) == 0)
			fprintf(fp, "%" PRId64, i);
		else if (gguf_kv_get_uint(f, k, &u) == 0)
			fprintf(fp, "%" PRIu64, u);
		return;
	}
	fprintf(fp, "[%" PRIu64 " x %s: ", kv->n, gguf_type_name(kv->arr_type));
	if (kv->arr_type == GGUF_TYPE_STRING) {
		uint64_t pos = 0;

		for (uint64_t j = 0; j < kv->n && j < ARRAY_HEAD; j++) {
			if (gguf_kv_arr_next_str(f, k, &pos, &s) < 0)
				break;
			if (j)
				fputs(", ", fp);
			print_str(fp, s, 32);
		}
	} else {
		for (uint64_t j = 0; j < kv->n && j < ARRAY_HEAD; j++) {
			if (j)
				fputs(", ", fp);
			print_num_elem(fp, f, k, j);
		}
	}
	fputs(kv->n > ARRAY_HEAD ? ", ...]" : "]", fp);
}

/* A per-layer array printed as runs: "8 x40, 0 x8". */
static void print_runs(FILE *fp, const struct gguf_file *f, uint64_t k)
{
	const struct gguf_kv *kv = &f->kvs[k];
	uint64_t run = 0, prev = 0, v, runs = 0;

	if (kv->arr_type == GGUF_TYPE_STRING || kv->arr_type == GGUF_TYPE_FLOAT32 ||
	    kv->arr_type == GGUF_TYPE_FLOAT64) {
		print_value(fp, f, k);
		return;
	}
	fprintf(fp, "per layer (%" PRIu64 "): ", kv->n);
	for (uint64_t j = 0; j <= kv->n; j++) {
		bool end = j == kv->n;

		if (!end) {
			if (kv->arr_type == GGUF_TYPE_BOOL)
				v = f->buf[kv->val_off + j];
			else if (gguf_kv_arr_get_uint(f, k, j, &v) < 0)
				v = UINT64_MAX;
		}
		if (run && (end || v != prev)) {
			if (runs++ == 16) {
				fputs(", ...", fp);
				return;
			}
			fprintf(fp, "%s%" PRIu64 " x%" PRIu64, runs > 1 ? ", " : "", prev, run);
			run = 0;
		}
		if (!end) {
			prev = v;
			run++;
		}
	}
}

static const char *ftype_name(const struct model_info *mi)
{
	const char *n = mi->has_ftype && mi->ftype <= UINT32_MAX ?
			llama_ftype_name((uint32_t)mi->ftype) : NULL;

	return n ? n : "unknown";
}

void out_inspect_text(FILE *fp, const struct out_inspect *in, unsigned flags)
{
	const struct model_info *mi = in->info;
	const struct gguf_file *f0 = in->parts[0];
	char h[32];
	uint64_t total = 0;

	for (size_t p = 0; p < in->n_parts; p++)
		total += in->file_sizes[p];
	out_human_bytes(h, sizeof(h), total);
	fputs("file:          ", fp);
	out_print_escaped(fp, in->paths[0], strlen(in->paths[0]));
	fprintf(fp, " (%zu part%s, %s)\n", in->n_parts, in->n_parts == 1 ? "" : "s", h);
	fputs("architecture:  ", fp);
	if (mi->arch.n)
		out_print_escaped(fp, mi->arch.p, mi->arch.n);
	else
		fputs("(none)", fp);
	fputs("\nname:          ", fp);
	if (mi->name.n)
		out_print_escaped(fp, mi->name.p, mi->name.n);
	else
		fputs("(none)", fp);
	fprintf(fp, "\nfile type:     %s", ftype_name(mi));
	if (mi->has_ftype)
		fprintf(fp, " (%" PRIu64 ")", mi->ftype);
	fprintf(fp, "\nparameters:    %.2f B (%" PRIu64 ")\n", (double)mi->n_params / 1e9,
		mi->n_params);
	out_human_bytes(h, sizeof(h), mi->data_bytes);
	fprintf(fp, "tensor data:   %s (%" PRIu64 " bytes) in %" PRIu64 " tensors\n", h,
		mi->data_bytes, mi->n_tensors);
	if (mi->has_vocab)
		fprintf(fp, "vocabulary:    %" PRIu64 " tokens\n", mi->vocab_size);
	out_human_bytes(h, sizeof(h), f0->header_bytes);
	fprintf(fp, "format:        GGUF v%u, alignment %u, header %s, %" PRIu64 " keys\n",
		f0->version, f0->alignment, h, f0->n_kv);

	if (mi->n_hparams) {
		fputs("\nhyperparameters\n", fp);
		for (size_t i = 0; i < mi->n_hparams; i++) {
			uint64_t k = (uint64_t)mi->hparams[i].kv;

			fprintf(fp, "  %-36s ", mi->hparams[i].name);
			if (f0->kvs[k].type == GGUF_TYPE_ARRAY)
				print_runs(fp, f0, k);
			else
				print_value(fp, f0, k);
			fputc('\n', fp);
		}
	}

	fprintf(fp, "\n  %-10s %8s %16s %18s %7s\n", "type", "tensors", "elements", "bytes", "share");
	for (uint32_t t = 0; t < GGML_TYPE_ID_COUNT; t++) {
		if (!mi->type_tensors[t])
			continue;
		fprintf(fp, "  %-10s %8" PRIu64 " %16" PRIu64 " %18" PRIu64 " %6.2f%%\n",
			ggml_type_get(t)->name, mi->type_tensors[t], mi->type_elements[t],
			mi->type_bytes[t],
			mi->data_bytes ? 100.0 * (double)mi->type_bytes[t] / (double)mi->data_bytes : 0.0);
	}

	if (flags & OUT_INSPECT_KV) {
		fputs("\nmetadata\n", fp);
		for (uint64_t k = 0; k < f0->n_kv; k++) {
			struct gguf_str key = gguf_kv_key(f0, k);

			fputs("  ", fp);
			out_print_escaped(fp, key.p, key.n);
			fprintf(fp, " (%s) = ", gguf_type_name(f0->kvs[k].type));
			print_value(fp, f0, k);
			fputc('\n', fp);
		}
	}
	if (flags & OUT_INSPECT_TENSORS) {
		fprintf(fp, "\n  %-48s %-8s %-28s %14s %14s%s\n", "tensor", "type", "shape", "bytes",
			"offset", in->n_parts > 1 ? "  part" : "");
		for (size_t p = 0; p < in->n_parts; p++) {
			const struct gguf_file *f = in->parts[p];

			for (uint64_t i = 0; i < f->n_tensors; i++) {
				const struct gguf_tensor *t = &f->tensors[i];
				struct gguf_str nm = gguf_tensor_name(f, i);
				char shape[96];
				size_t o = 0;

				shape[0] = '\0';
				for (uint32_t d = 0; d < t->n_dims && o < sizeof(shape); d++)
					o += (size_t)snprintf(shape + o, sizeof(shape) - o, "%s%" PRId64,
							      d ? " x " : "", t->ne[d]);
				fputs("  ", fp);
				/* names are escaped: a file cannot drive the terminal */
				out_print_escaped(fp, nm.p, nm.n);
				fprintf(fp, "%*s %-8s %-28s %14" PRIu64 " %14" PRIu64,
					nm.n < 48 ? (int)(48 - nm.n) : 0, "",
					ggml_type_get(t->type)->name, shape, t->nbytes,
					f->data_offset + t->offset);
				if (in->n_parts > 1)
					fprintf(fp, "  %zu", p + 1);
				fputc('\n', fp);
			}
		}
	}
}

/* ---- JSON ---- */

static json_t *num_json(const struct gguf_file *f, uint64_t k, bool arr, uint64_t j)
{
	uint32_t t = arr ? f->kvs[k].arr_type : f->kvs[k].type;
	uint64_t u;
	int64_t i;
	double d;
	int e;

	if (t == GGUF_TYPE_BOOL)
		return json_boolean(f->buf[f->kvs[k].val_off + (arr ? j : 0)] != 0);
	if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64) {
		e = arr ? gguf_kv_arr_get_float(f, k, j, &d) : gguf_kv_get_float(f, k, &d);
		/* JSON has no NaN or infinity */
		return e == 0 && d == d && d - d == 0 ? json_real(d) : json_null();
	}
	e = arr ? gguf_kv_arr_get_int(f, k, j, &i) : gguf_kv_get_int(f, k, &i);
	if (e == 0)
		return json_integer(i);
	/* a uint64 above INT64_MAX: jansson integers are signed, so give a
	 * decimal string rather than a wrong number */
	e = arr ? gguf_kv_arr_get_uint(f, k, j, &u) : gguf_kv_get_uint(f, k, &u);
	if (e == 0) {
		char b[24];

		snprintf(b, sizeof(b), "%" PRIu64, u);
		return json_string(b);
	}
	return json_null();
}

/* The value of kv k. Arrays longer than limit are summarized as
 * {"type", "count", "head": [first ARRAY_HEAD]}. */
static json_t *value_json(const struct gguf_file *f, uint64_t k, uint64_t limit)
{
	const struct gguf_kv *kv = &f->kvs[k];
	struct gguf_str s;
	json_t *arr, *o;
	uint64_t n, pos = 0;

	if (kv->type == GGUF_TYPE_STRING)
		return gguf_kv_get_str(f, k, &s) == 0 ? out_json_bytes(s.p, s.n) : json_null();
	if (kv->type != GGUF_TYPE_ARRAY)
		return num_json(f, k, false, 0);
	n = kv->n <= limit ? kv->n : ARRAY_HEAD;
	arr = json_array();
	for (uint64_t j = 0; arr && j < n; j++) {
		if (kv->arr_type == GGUF_TYPE_STRING) {
			if (gguf_kv_arr_next_str(f, k, &pos, &s) < 0)
				break;
			json_array_append_new(arr, out_json_bytes(s.p, s.n));
		} else {
			json_array_append_new(arr, num_json(f, k, true, j));
		}
	}
	if (kv->n <= limit)
		return arr;
	o = json_pack("{s:s, s:I, s:o}", "type", gguf_type_name(kv->arr_type), "count",
		      (json_int_t)kv->n, "head", arr);
	return o;
}

static json_t *u64_json(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *out_inspect_json(const struct out_inspect *in, unsigned flags)
{
	const struct model_info *mi = in->info;
	const struct gguf_file *f0 = in->parts[0];
	json_t *root = json_object(), *parts = json_array(), *types = json_array();
	json_t *hp = json_object(), *ft;

	if (!root || !parts || !types || !hp)
		goto oom;
	for (size_t p = 0; p < in->n_parts; p++) {
		const struct gguf_file *f = in->parts[p];

		json_array_append_new(parts, json_pack("{s:o, s:o, s:i, s:i, s:o, s:o, s:o, s:o, s:o}",
			"path", out_json_bytes(in->paths[p], strlen(in->paths[p])),
			"file_bytes", u64_json(in->file_sizes[p]),
			"version", (int)f->version,
			"alignment", (int)f->alignment,
			"header_bytes", u64_json(f->header_bytes),
			"data_offset", u64_json(f->data_offset),
			"data_bytes", u64_json(f->data_bytes),
			"n_kv", u64_json(f->n_kv),
			"n_tensors", u64_json(f->n_tensors)));
	}
	for (uint32_t t = 0; t < GGML_TYPE_ID_COUNT; t++) {
		if (!mi->type_tensors[t])
			continue;
		json_array_append_new(types, json_pack("{s:s, s:i, s:o, s:o, s:o}",
			"type", ggml_type_get(t)->name, "id", (int)t,
			"tensors", u64_json(mi->type_tensors[t]),
			"elements", u64_json(mi->type_elements[t]),
			"bytes", u64_json(mi->type_bytes[t])));
	}
	for (size_t i = 0; i < mi->n_hparams; i++)
		json_object_set_new(hp, mi->hparams[i].name,
				    value_json(f0, (uint64_t)mi->hparams[i].kv, UINT64_MAX));
	if (mi->has_ftype) {
		const char *n = mi->ftype <= UINT32_MAX ? llama_ftype_name((uint32_t)mi->ftype) : NULL;

		ft = json_pack("{s:o, s:o}", "id", u64_json(mi->ftype), "name",
			       n ? json_string(n) : json_null());
	} else {
		ft = json_null();
	}
	json_object_set_new(root, "file", out_json_bytes(in->paths[0], strlen(in->paths[0])));
	json_object_set_new(root, "parts", parts);
	json_object_set_new(root, "architecture",
			    mi->arch.n ? out_json_bytes(mi->arch.p, mi->arch.n) : json_null());
	json_object_set_new(root, "name",
			    mi->name.n ? out_json_bytes(mi->name.p, mi->name.n) : json_null());
	json_object_set_new(root, "file_type", ft);
	json_object_set_new(root, "parameters", u64_json(mi->n_params));
	json_object_set_new(root, "tensor_count", u64_json(mi->n_tensors));
	json_object_set_new(root, "data_bytes", u64_json(mi->data_bytes));
	json_object_set_new(root, "vocab_size", mi->has_vocab ? u64_json(mi->vocab_size) : json_null());
	json_object_set_new(root, "types", types);
	json_object_set_new(root, "hparams", hp);

	if (flags & OUT_INSPECT_KV) {
		json_t *kvs = json_array();

		for (uint64_t k = 0; kvs && k < f0->n_kv; k++) {
			struct gguf_str key = gguf_kv_key(f0, k);
			const struct gguf_kv *kv = &f0->kvs[k];

			json_array_append_new(kvs, json_pack("{s:o, s:s, s:o}",
				"key", out_json_bytes(key.p, key.n),
				"type", kv->type == GGUF_TYPE_ARRAY ? "array" : gguf_type_name(kv->type),
				"value", value_json(f0, k, 64)));
		}
		json_object_set_new(root, "kv", kvs);
	}
	if (flags & OUT_INSPECT_TENSORS) {
		json_t *ts = json_array();

		for (size_t p = 0; ts && p < in->n_parts; p++) {
			const struct gguf_file *f = in->parts[p];

			for (uint64_t i = 0; i < f->n_tensors; i++) {
				const struct gguf_tensor *t = &f->tensors[i];
				struct gguf_str nm = gguf_tensor_name(f, i);
				json_t *shape = json_array();

				for (uint32_t d = 0; d < t->n_dims; d++)
					json_array_append_new(shape, json_integer(t->ne[d]));
				json_array_append_new(ts, json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:i}",
					"name", out_json_bytes(nm.p, nm.n),
					"type", ggml_type_get(t->type)->name,
					"shape", shape,
					"elements", u64_json(t->n_elements),
					"bytes", u64_json(t->nbytes),
					"offset", u64_json(f->data_offset + t->offset),
					"part", (int)p + 1));
			}
		}
		json_object_set_new(root, "tensors", ts);
	}
	return root;
oom:
	json_decref(root);
	json_decref(parts);
	json_decref(types);
	json_decref(hp);
	return NULL;
}
