/* cmd-opts.h: the llama-server options shared by `estimate` and `fit`. */
#ifndef LLMEM_CLI_CMD_OPTS_H
#define LLMEM_CLI_CMD_OPTS_H

#include <stdio.h>

#include "base/compat.h"
#include "estimate/estimate.h"
#include "io/io.h"

struct cmd_model;

struct cmd_model_opts {
	bool fit;               /* set by the caller: accept fit's options */
	struct est_config c;    /* llama-server's options and the devices */
	bool json;
	size_t n_paths;
	const char *paths[8];
	/* what the user fixed (fit keeps those and fits the rest) */
	bool ngl_set, ctx_set, ncmoe_set, ts_set, mmap_set, cram_set, ctxcp_set, ngld_set;
	bool ctx_max, kv_auto, no_cpu, allow_disk;
	bool quiet;             /* no notes on stderr (the daemon) */
	const char *mmproj_path; /* --mmproj FILE */
	struct io_gguf *mmproj;  /* its header, which c.mmproj borrows */
	/* --lora A[,B] and --lora-scaled A:S[,B:S], as given */
	const char *lora_args[EST_MAX_LORAS];
	bool lora_scaled[EST_MAX_LORAS];
	size_t n_lora_args;
	bool lora_noapply;      /* --lora-init-without-apply */
	struct io_gguf *loras[EST_MAX_LORAS]; /* their headers, which c.loras borrows */
	const char *draft_path;  /* -md FILE */
	struct cmd_model *draft; /* that model, which c.draft borrows */
	const char *for_mode;   /* llama-server, ollama or json */
	const char *headroom;   /* --headroom: bytes or a percent, or a list */
	const char *bandwidth;  /* --bandwidth cpu=60GB/s,cuda0=1008GB/s */
	const char *root;       /* --root: probe this tree instead of / */
	uint64_t ram;           /* --ram: plan for this much RAM (0: probed) */
};

/* Parses argv (argv[0] is the command name) into *o, which the caller
 * zeroes and marks (o->fit) first; est_config defaults are applied here.
 * Returns 0, 1 after printing help, or a negative errno after printing
 * the error. Opens nothing: see cmd_model_opts_open(). */
int cmd_model_opts_parse(int argc, char **argv, struct cmd_model_opts *o, void (*usage)(FILE *));

/* Opens the files the options name besides the model: --mmproj's header
 * (o->mmproj), the --lora adapters' (o->loras) and -md's model (o->draft),
 * which o->c borrows. 0, or a
 * negative errno after printing why. Release o with
 * cmd_model_opts_release() either way. */
int cmd_model_opts_open(struct cmd_model_opts *o);

/* Opens the --lora / --lora-scaled adapters alone (o->loras, which
 * o->c.loras borrows). 0, or a negative errno after printing why. */
int cmd_model_opts_open_loras(struct cmd_model_opts *o);

/* Frees what cmd_model_opts_open() opened; o->c.mmproj and o->c.draft
 * are NULL after. */
void cmd_model_opts_release(struct cmd_model_opts *o);

/* How many values follow arg when it is one of the llama-server options
 * the estimate reads (spelled as llama-server takes it): 0 or 1; -1 when
 * it is none of them (llmem's own options included). */
int cmd_model_opt_values(const char *arg);

#endif
