/* store.h: where people keep GGUF models, and the models found there:
 * directories and files given, Ollama's store (read through its manifests
 * to the GGUF blobs), the Hugging Face hub cache, LM Studio's models
 * folders and llama.cpp's download cache. Scanning reads directory
 * entries, stats files and parses Ollama's small JSON manifests; it never
 * reads a model: io_model_open() reads each one's header afterwards.
 *
 * A file reached twice (a symlink, a hard link, an HF snapshot pointing
 * into blobs, two Ollama tags of one blob) is listed once, with its other
 * names; a split model (NAME-00001-of-0000N.gguf) is listed once, by its
 * first part. Problems with one file or manifest become an entry with an
 * error, never a failure of the whole scan. */
#ifndef LLMEM_IO_STORE_H
#define LLMEM_IO_STORE_H

#include "base/compat.h"
#include "base/diag.h"

enum io_store_source {
	IO_STORE_DIR,      /* a directory or file given by the user */
	IO_STORE_OLLAMA,   /* manifests/HOST/NS/NAME/TAG -> blobs/sha256-HEX */
	IO_STORE_HF,       /* models--ORG--NAME/snapshots/REV/...gguf */
	IO_STORE_LMSTUDIO, /* PUBLISHER/REPO/...gguf */
	IO_STORE_LLAMACPP, /* llama.cpp's -hf download cache */
	IO_STORE_SOURCE_COUNT
};

/* "dir", "ollama", "hf", "lmstudio", "llama.cpp". */
const char *io_store_source_name(unsigned source);

/* The environment that says where the stores are; NULL members are unset
 * variables. root prefixes the system-wide places (Ollama's Linux service
 * keeps its models in /usr/share/ollama/.ollama/models); NULL means "/". */
struct io_store_env {
	const char *root;
	const char *home;            /* $HOME */
	const char *xdg_cache_home;  /* $XDG_CACHE_HOME */
	const char *ollama_models;   /* $OLLAMA_MODELS */
	const char *hf_hub_cache;    /* $HF_HUB_CACHE */
	const char *hf_home;         /* $HF_HOME */
	const char *llama_cache;     /* $LLAMA_CACHE */
};

/* A place searched. */
struct io_store_place {
	uint8_t source;     /* enum io_store_source */
	char *path;
	bool exists;        /* after the scan: a directory, or (IO_STORE_DIR) a file */
	int error;          /* after the scan: why it could not be read (-errno), or 0 */
	int same_as;        /* index of an earlier place that is the same
	                     * directory (not scanned again), or -1 */
	size_t n_found;     /* entries found under it */
};

/* A model found. */
struct io_store_entry {
	uint8_t source;     /* how it was found (an IO_STORE_DIR place that
	                     * holds an Ollama store gives IO_STORE_OLLAMA) */
	size_t place;       /* index into io_store.places */
	char *name;         /* Ollama's NAME:TAG as `ollama list` shows it;
	                     * ORG/NAME/FILE for the HF cache; the path
	                     * below the place for LM Studio and llama.cpp's
	                     * cache; the path itself for a place given */
	char *path;         /* the file to open (a split model's first part) */
	char *also;         /* other names of the same file, ", " between
	                     * them, or NULL */
	uint64_t file_bytes;/* this file's size (a split model's first part) */
	uint64_t dev, ino;
	int error;          /* 0, or a negative errno: a manifest that cannot
	                     * be read, a blob that is missing */
	char msg[DIAG_MSG_MAX]; /* then what is wrong */
};

struct io_store {
	size_t n_places;
	struct io_store_place *places;
	size_t n_entries;
	struct io_store_entry *entries;
	/* internal */
	size_t cap_entries;
	size_t n_dirs, cap_dirs;
	uint64_t *dirs;     /* (dev, ino) pairs of directories walked */
};

void io_store_init(struct io_store *s);
void io_store_release(struct io_store *s);

/* Adds a place to search (path is copied). 0 or -ENOMEM. */
int io_store_add_place(struct io_store *s, unsigned source, const char *path) ATTR_WUR;

/* Adds the places users keep models, in this order: Ollama's store
 * ($OLLAMA_MODELS, else ~/.ollama/models; then the service's
 * ROOT/usr/share/ollama/.ollama/models), the Hugging Face hub cache
 * ($HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub
 * or ~/.cache/huggingface/hub), LM Studio (~/.lmstudio/models,
 * ~/.cache/lm-studio/models) and llama.cpp's cache ($LLAMA_CACHE, else
 * $XDG_CACHE_HOME/llama.cpp or ~/.cache/llama.cpp). Places that need
 * $HOME are left out without it. 0 or -ENOMEM. */
int io_store_add_defaults(struct io_store *s, const struct io_store_env *env) ATTR_WUR;

/* Scans every place, in the order added, directory entries sorted by
 * name. An IO_STORE_DIR place may be a GGUF file (any name), a directory
 * walked for *.gguf files (hidden entries skipped, at most 8 levels), an
 * Ollama store (it holds manifests/ and blobs/) or a Hugging Face hub
 * cache (it holds models--* directories). Returns 0, or -ENOMEM. */
int io_store_scan(struct io_store *s) ATTR_WUR;

#endif
