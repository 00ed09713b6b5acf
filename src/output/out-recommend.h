/* out-recommend.h: `llmem recommend` as text or JSON: for each catalog
 * family the best size and quantization that fits, and for each model
 * file found whether it fits, how and how fast. The structs are filled by
 * src/cli/cmd-recommend.c; nothing is computed here. */
#ifndef LLMEM_OUTPUT_OUT_RECOMMEND_H
#define LLMEM_OUTPUT_OUT_RECOMMEND_H

#include <stdio.h>

#include <jansson.h>

#include "base/compat.h"
#include "base/diag.h"

/* How a model fits. */
enum out_rec_verdict {
	OUT_REC_NONE,    /* does not fit */
	OUT_REC_GPU,     /* every layer on the GPUs */
	OUT_REC_PARTIAL, /* some layers or experts on the CPU */
	OUT_REC_CPU,     /* no GPU: everything in system RAM */
};

/* "none", "gpu", "partial", "cpu" */
const char *out_rec_verdict_name(unsigned v);

/* A catalog model at a file type, and its plan. */
struct out_rec_pick {
	const char *model;        /* catalog name */
	uint32_t ftype;           /* enum llama_ftype */
	uint64_t params;
	uint64_t file_bytes;      /* the file llama-quantize writes */
	uint64_t memory_bytes;    /* every device at the plan */
	uint64_t gpu_bytes;       /* of that, on the GPUs */
	uint32_t n_gpu_layers, n_layers; /* n_layers: blocks + the output layer */
	uint32_t n_cpu_moe;
	double speed_ratio;       /* of everything on the GPUs */
	double tokens_per_s;      /* 0: a bandwidth is unknown */
};

struct out_rec_family {
	const char *name;         /* "llama-3.x" */
	size_t n_models;
	const char *const *models;/* its catalog names, largest first */
	uint8_t verdict;          /* of best; NONE: nothing fits */
	struct out_rec_pick best; /* the largest model that fits, at the
	                           * largest file type that fits (PARTIAL: the
	                           * smallest model, at Q4_K_M or below) */
	bool has_alt;
	struct out_rec_pick alt;  /* a smaller model at a better file type */
	bool has_smallest;        /* verdict NONE: the smallest at Q2_K */
	struct out_rec_pick smallest;
};

struct out_rec_file {
	const char *name;         /* Ollama's name:tag, ORG/REPO/FILE, a path */
	const char *path;         /* the file (a split model's first part) */
	const char *also;         /* other names of the same file, or NULL */
	const char *source;       /* "dir", "ollama", "hf", "lmstudio", "llama.cpp" */
	uint64_t file_bytes;      /* every part */
	uint32_t n_parts;
	bool failed;              /* could not be read: error, nothing below */
	char error[DIAG_MSG_MAX + 64];
	char arch[64];
	char title[64];           /* general.name, escaped */
	const char *file_type;    /* NULL when unknown */
	uint64_t params;
	uint8_t verdict;
	uint32_t n_gpu_layers, n_layers, n_cpu_moe;
	uint32_t ctx;             /* the context planned at (-c, at most the
	                           * training context, less when only less fits) */
	uint32_t max_ctx;         /* the largest that fits at that placement */
	uint32_t ctx_train;
	uint64_t memory_bytes, gpu_bytes;
	double speed_ratio, tokens_per_s;
	char args[256];           /* llama-server arguments after -m FILE */
	char why[200];            /* NONE: what does not fit */
};

/* A place searched. */
struct out_rec_place {
	const char *source;
	const char *path;
	bool exists;
	int same_as;              /* index of the same place listed before, or -1 */
	size_t n_found;
};

struct out_recommend {
	uint32_t n_ctx;
	bool mem_given;           /* --mem: one GPU of that size */
	size_t n_gpus;
	uint64_t gpu_total, gpu_budget, ram_budget;
	bool ram_given;           /* --ram: RAM of that size (what-if) */
	size_t n_families;
	const struct out_rec_family *families;
	size_t n_places;
	const struct out_rec_place *places;
	size_t n_files;
	const struct out_rec_file *files;
	bool catalog;             /* the catalog section was computed */
};

void out_recommend_text(FILE *fp, const struct out_recommend *r);

/* The same as JSON (schema: docs/recommend-json.md). New reference or
 * NULL. */
json_t *out_recommend_json(const struct out_recommend *r);

#endif
