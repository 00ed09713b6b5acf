/* registry.h: the models `llmem serve` serves, read the way llama.cpp's
 * router (llama-server --models-dir / --models-preset, v0.5.0) reads them:
 *
 * --models-dir DIR: every regular file *.gguf directly in DIR is a model
 * named by its file name with ".gguf" removed, except companion files
 * (a name containing "mmproj", or starting with "mtp-", "dspark-",
 * "dflash-"); every subdirectory holding a model is one model named by the
 * directory: its "-00001-of-" part (a split model) or its other .gguf, its
 * file containing "mmproj" as the projector (--mmproj), and its draft file
 * (mtp-/dspark-/dflash-) as --model-draft. Symbolic links are followed.
 * (llmem differs in one way: at the top level only the first part of a
 * split model is a model, still named "NAME-00001-of-0000N".)
 *
 * --models-preset FILE.ini: one section per model, named by the section
 * ("[name]"; a tag after the last ':' is upper-cased as llama.cpp does:
 * "[m:q4_k_m]" is "m:Q4_K_M"); keys are llama-server options without
 * dashes, long or short ("ctx-size", "c"), or their environment names
 * ("LLAMA_ARG_CTX_SIZE"); flags take a boolean ("jinja = true"; a false
 * one gives the "--no-" form, or nothing); `version` is skipped; `[*]`
 * holds defaults for every model (those of --models-dir too). A section
 * names a model file with `model`, or adds options to the --models-dir
 * model of the same name. Preset-only keys: `load-on-startup` (bool),
 * `stop-timeout` (seconds, default 10), `dedup-cache-models` (ignored).
 * llmem's keys: `keep-alive` (an Ollama duration: "5m", "1h30m", "-1"
 * forever, "0" at once, "300" seconds), `pin` (bool), `priority` (int),
 * `shrink` (bool, default true: may load with a smaller plan than the
 * best). Precedence: section over models-dir over [*]. Paths are kept as
 * written: a relative one is relative to the daemon's working directory
 * (llama.cpp: "relative to server's CWD"), which its backends inherit.
 *
 * The file syntax is llama.cpp's: `key = value` with no indentation,
 * `[section]`, comments from ';' or '#' to the end of the line (anywhere:
 * a value cannot hold them), "\n", "\r\n" or "\r" line ends. Where
 * llama.cpp is silent or lenient llmem says why, with the line:
 *  - keys that would take the backend out of llmem's hands are refused:
 *    host, port, api-key, api-key-file, ssl-key-file, ssl-cert-file,
 *    api-prefix, the router's models-* options, fit (llmem places the
 *    model: its backends run with --fit off), log-disable, log-jsonl,
 *    log-verbosity below 4 (the buffer sizes are logged at 4), options
 *    that print and exit (help, version, list-devices, ...), and
 *    downloads (hf-repo, hf-file, model-url, docker-repo, mmproj-url,
 *    hf-repo-draft: llmem serves local files);
 *  - a key llama-server v0.5.0 does not know is passed on as "--key value"
 *    (a value true or empty: the flag alone; false: nothing), where
 *    llama.cpp refuses it: a newer llama-server may know it;
 *  - a section given twice is one section (llama.cpp keeps the last);
 *  - "[ name ]" is "name" (llama.cpp keeps the trailing space);
 *  - values of llmem's and the preset-only keys must parse (llama.cpp
 *    takes anything that is not "true" as false).
 * The file is read whole, at most REG_FILE_MAX bytes. */
#ifndef LLMEM_SERVE_REGISTRY_H
#define LLMEM_SERVE_REGISTRY_H

#include "base/compat.h"
#include "base/diag.h"

#define REG_NAME_MAX 128
#define REG_PATH_MAX 4096
#define REG_MAX_MODELS 4096
#define REG_FILE_MAX (4u << 20)         /* a preset file */
#define REG_VALUE_MAX (64u * 1024)      /* one value */
#define REG_STOP_TIMEOUT_DEFAULT_MS 10000

struct reg_opt; /* private: one option of one layer */

struct reg_layer {
	size_t n;
	struct reg_opt *v;
};

struct reg_model {
	char name[REG_NAME_MAX];
	char path[REG_PATH_MAX];   /* the GGUF (the first part of a split one) */
	char mmproj[REG_PATH_MAX]; /* "" when none */
	size_t n_args;
	char **args;          /* llama-server options: "--ctx-size", "8192",
	                       * "--jinja", ... (long names), without the
	                       * ones llmem handles: model, mmproj, alias,
	                       * host, port and the preset-only keys */
	size_t n_aliases;
	char **aliases;       /* other names it answers to (`alias = a,b`) */
	bool load_on_startup;
	int64_t stop_timeout_ms;  /* REG_STOP_TIMEOUT_DEFAULT_MS by default */
	int32_t priority;         /* 0 by default */
	bool pin;
	int64_t keep_alive_ms;    /* when keep_alive_set; < 0 = forever */
	bool keep_alive_set;
	bool may_shrink;          /* true unless `shrink = false` */
	char source[REG_PATH_MAX + 32]; /* "FILE:LINE" of its section, or its
	                                 * path in a models dir, for messages */
	/* private */
	struct reg_layer dir, sec;
	bool has_dir, has_sec;
};

struct registry {
	size_t n;
	struct reg_model *v;  /* models with a file, in the order first seen */
	/* private */
	struct reg_layer global;
	size_t n_pending;     /* preset sections with no file (yet) */
	struct reg_model *pending;
};

void registry_init(struct registry *r);
void registry_release(struct registry *r);

/* Adds the models of a --models-dir directory (see above). A name found
 * again (in another directory, or as both "x.gguf" and "x/" here) is an
 * error (-EEXIST); a preset section of that name adds its options. 0 or
 * -errno with d filled: -ENOENT / -ENOTDIR for dir, -ENAMETOOLONG,
 * -EBADMSG (a name with control characters), -E2BIG (over REG_MAX_MODELS),
 * -ENOMEM. On failure r is as before the call. */
int registry_add_dir(struct registry *r, const char *dir, struct diag *d) ATTR_WUR;

/* Adds the sections of a --models-preset file (see above). 0 or -errno
 * with d filled, its message "FILE:LINE: ..." and its offset the line's
 * byte offset: -EBADMSG (syntax, a bad value, a refused key), -ENOENT,
 * -E2BIG, -ENAMETOOLONG, -EEXIST (a name that is already another model's
 * alias), -ENOMEM. On failure r is as before the call. */
int registry_add_preset(struct registry *r, const char *ini_path, struct diag *d) ATTR_WUR;

/* After every add: -ENOENT naming the first preset section that has no
 * model file (no `model` and no models-dir model of its name), else 0. */
int registry_check(const struct registry *r, struct diag *d) ATTR_WUR;

/* The index of the model called name: its name or one of its aliases,
 * exactly; "NAME:latest" also finds "NAME" (Ollama clients add the tag),
 * and a tag is also compared the way llama.cpp writes section names
 * ("m:q4_k_m" finds "m:Q4_K_M"). -1 when none. Never looks at files. */
int registry_find(const struct registry *r, const char *name);

/* Whether the model's options turn its projector off (no-mmproj, as the
 * llama.cpp router reads it): llmem then neither passes nor counts it. */
bool reg_model_no_mmproj(const struct reg_model *m);

/* How many values follow arg on llama-server's command line when arg is
 * one of its options (v0.5.0), spelled as llama.cpp reads it: exactly one
 * of its names, a "--" name also with '_' for '-' ("--ctx_size"): 0, 1
 * or 2. -1 when llama-server has no such option. */
int registry_llama_opt_values(const char *arg);

#endif
