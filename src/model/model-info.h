/* model-info.h: what `llmem inspect` reports about a model, gathered from
 * its GGUF header(s): identity, parameter count, bytes per ggml type, and
 * the hyperparameters that decide memory. Pure. The estimate issue builds
 * the full model description on top of this. */
#ifndef LLMEM_MODEL_MODEL_INFO_H
#define LLMEM_MODEL_MODEL_INFO_H

#include "base/compat.h"
#include "base/diag.h"
#include "gguf/ggml-type.h"
#include "gguf/gguf.h"

/* A hyperparameter found in the metadata: the key's suffix after
 * "<arch>." and where its value is (kv index in part 0). The value may be
 * a scalar or a per-layer array. */
struct model_hparam {
	const char *name; /* static: "block_count", "attention.head_count_kv" */
	int64_t kv;       /* index into the first part's kvs */
};

#define MODEL_MAX_HPARAMS 40

struct model_info {
	struct gguf_str arch;  /* general.architecture; n == 0 when absent */
	struct gguf_str name;  /* general.name; n == 0 when absent */
	bool has_ftype;
	uint64_t ftype;        /* general.file_type */
	uint64_t n_params;     /* sum of tensor element counts */
	uint64_t n_tensors;
	uint64_t data_bytes;   /* sum of tensor sizes, unpadded */
	uint64_t type_bytes[GGML_TYPE_ID_COUNT];
	uint64_t type_tensors[GGML_TYPE_ID_COUNT];
	uint64_t type_elements[GGML_TYPE_ID_COUNT];
	bool has_vocab;
	uint64_t vocab_size;   /* <arch>.vocab_size, else tokenizer tokens */
	size_t n_hparams;
	struct model_hparam hparams[MODEL_MAX_HPARAMS];
};

/* Fills *ret from the parsed parts of one model (metadata from the first
 * part, tensors from all). The strings in *ret borrow parts[0]'s buffer.
 * Returns 0, or -EOVERFLOW (with *d) when a sum overflows. */
int model_info_from_gguf(const struct gguf_file *const *parts, size_t n_parts,
			 struct model_info *ret, struct diag *d) ATTR_WUR;

#endif
