/* cmd-model.h: the model opener every command shares. MODEL is a GGUF
 * file (any part of a split model), or a catalog name with an optional
 * file type ("llama-3.3-70b:q4_k_m", see model/catalog.h), whose header is
 * built in memory with the quantization mix applied: the commands see the
 * same parsed parts and struct model either way. */
#ifndef LLMEM_CLI_CMD_MODEL_H
#define LLMEM_CLI_CMD_MODEL_H

#include "base/compat.h"
#include "gguf/gguf.h"
#include "io/io.h"
#include "model/catalog.h"
#include "model/model.h"

enum {
	CMD_MODEL_NO_MODEL = 1 << 0, /* parse only: no struct model (inspect) */
	CMD_MODEL_NO_RSS = 1 << 1,   /* no tokenizer heap facts: the resident
	                              * memory prediction is not shown */
	CMD_MODEL_READ = 1 << 2,     /* read the header, never map it: for
	                              * the daemon, which must outlive a file
	                              * truncated under it */
};

struct cmd_model {
	size_t n_parts;
	const struct gguf_file **parts; /* n_parts */
	const char **paths;             /* n_parts: file paths, or the name */
	uint64_t *sizes;                /* n_parts: file sizes */
	struct model m;                 /* unless CMD_MODEL_NO_MODEL */
	bool has_model;
	/* a file */
	struct io_model *im;
	/* a catalog model */
	const struct catalog_model *cat;
	uint32_t ftype;
	uint8_t *hdr;                   /* the header built in memory */
	struct gguf_file *gf;
	uint64_t file_size;
};

/* Opens path_or_name. A file's header is mapped (IO_OPEN_MAP) unless
 * flags has CMD_MODEL_READ, and then a SIGBUS (the file truncated while
 * open) ends the process with one line naming the file and
 * CMD_EXIT_INPUT, not a crash. Returns 0 and *ret (free with cmd_model_free()), or
 * prints one line on stderr and returns the exit status: CMD_EXIT_INPUT
 * for a bad file or an unknown name (the message lists the closest
 * catalog names), CMD_EXIT_FAIL when out of memory. */
int cmd_model_open(const char *path_or_name, unsigned flags, struct cmd_model **ret);

/* Builds the in-memory header of a catalog model as file type ftype and
 * opens it, as cmd_model_open() does for "NAME:TYPE". */
int cmd_model_open_catalog(const struct catalog_model *cm, uint32_t ftype, unsigned flags,
			   struct cmd_model **ret);

struct cmd_model *cmd_model_free(struct cmd_model *cmdm);

/* *out: m with every tensor retyped as t says (t[i] is m->tensors[i],
 * typed by quant_apply()) and the file offsets laid out again, for "what
 * if this model were quantized so". It shares m's layers and owns its
 * tensors (free(out->tensors)). *tensor_bytes: the tensor data. 0 or
 * -ENOMEM. */
int cmd_model_retype(const struct model *m, const struct quant_tensor *t, struct model *out,
		     uint64_t *tensor_bytes);

#endif
