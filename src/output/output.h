/* output.h: result structs to text and JSON. No computation here: every
 * number printed was computed by the module that owns it. */
#ifndef LLMEM_OUTPUT_OUTPUT_H
#define LLMEM_OUTPUT_OUTPUT_H

#include <stdio.h>

#include <jansson.h>

#include "base/compat.h"
#include "gguf/gguf.h"
#include "estimate/estimate.h"
#include "model/model-info.h"
#include "model/model.h"

enum out_inspect_flags {
	OUT_INSPECT_KV = 1 << 0,      /* all metadata */
	OUT_INSPECT_TENSORS = 1 << 1, /* the tensor table */
};

/* What inspect shows: the model's parts (their paths and parsed headers)
 * and the summary gathered from them. */
struct out_inspect {
	size_t n_parts;
	const char *const *paths;
	const uint64_t *file_sizes;
	const struct gguf_file *const *parts;
	const struct model_info *info;
};

/* Writes the human-readable report to fp. */
void out_inspect_text(FILE *fp, const struct out_inspect *in, unsigned flags);

/* Builds the JSON report (schema: docs/inspect-json.md). Returns a new
 * reference, or NULL on OOM. */
json_t *out_inspect_json(const struct out_inspect *in, unsigned flags);

/* A JSON string from bytes that may not be UTF-8: invalid sequences
 * become U+FFFD. New reference, or NULL on OOM. */
json_t *out_json_bytes(const char *p, size_t n);

/* Writes n bytes to fp with anything that is not printable ASCII or valid
 * UTF-8 escaped (\xNN, \n, ...), so a hostile string cannot drive the
 * terminal. */
void out_print_escaped(FILE *fp, const char *p, size_t n);

/* The estimate report: a table per device, the resolved configuration
 * and the rule behind each component. */
void out_estimate_text(FILE *fp, const struct model *m, const struct est_config *c,
		       const struct est_result *r);

/* The estimate as JSON (schema: docs/estimate-json.md). New reference or
 * NULL. */
json_t *out_estimate_json(const struct model *m, const struct est_config *c,
			  const struct est_result *r);

/* The same, leaving backslashes alone when escape_backslash is false:
 * for text that was escaped once already (parser diagnostics). */
void out_print_safe(FILE *fp, const char *p, size_t n, bool escape_backslash);

/* "4.58 GiB" style into buf. */
void out_human_bytes(char *buf, size_t bufsz, uint64_t bytes);

/* `llmem devices`: the pools with their budgets, the devices, what uses
 * them and the settings that matter (probe/probe.h). */
struct probe_result;
struct probe_budget;
struct probe_headroom;
void out_devices_text(FILE *fp, const struct probe_result *r, const struct probe_budget *b);

/* The same as JSON (schema: docs/devices-json.md). New reference or
 * NULL. */
json_t *out_devices_json(const struct probe_result *r, const struct probe_budget *b,
			 const struct probe_headroom *h, const char *root);

/* `llmem doctor`: one line per check (probe/doctor.h) with its verdict
 * and what it found; why and the fix under each check that is not ok
 * (under every check with verbose). */
struct probe_doctor_facts;
struct probe_doctor_report;
void out_doctor_text(FILE *fp, const struct probe_doctor_report *r, bool verbose);

/* The same as JSON, with the facts behind it (schema:
 * docs/doctor-json.md). New reference or NULL. */
json_t *out_doctor_json(const struct probe_doctor_facts *f, const struct probe_doctor_report *r);

/* `llmem quants`: one row per llama.cpp file type (model/quant.h). */
struct quant_tensor;
struct out_quants_row {
	uint32_t ftype;           /* enum llama_ftype */
	uint64_t file_bytes;      /* the whole file */
	uint64_t tensor_bytes;    /* its tensor data */
	uint64_t n_params;
	uint64_t memory_bytes;    /* every device, all layers on the GPUs */
	uint64_t gpu_bytes;       /* of that, on the GPUs */
	bool fits_gpu;            /* all layers on the GPUs fit */
	bool fits;                /* some placement fits (place_solve) */
	uint32_t n_gpu_layers;    /* that placement's */
	double speed_ratio, tokens_per_s;
	size_t n_tensors;         /* --tensors: the type of each tensor */
	const struct quant_tensor *tensors;
};

struct out_quants {
	const char *model;
	const char *arch;
	uint32_t n_layer;
	uint32_t n_ctx;
	size_t n_gpus;
	uint64_t gpu_total, gpu_budget, ram_budget;
	bool ram_given;           /* --ram: RAM of that size (what-if) */
	size_t n_rows;
	const struct out_quants_row *rows;
	int recommended;          /* row index, -1 none */
	bool rec_full;            /* the recommended row fits on the GPUs */
};

void out_quants_text(FILE *fp, const struct out_quants *q);

/* The same as JSON (schema: docs/quants-json.md). New reference or NULL. */
json_t *out_quants_json(const struct out_quants *q);

#endif
