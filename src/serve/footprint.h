/* footprint.h: what each model configuration measured when it last ran
 * (the bytes its backend reported per memory pool), kept across daemon
 * restarts in a small JSON file, so the next load is planned from a
 * measurement instead of an estimate.
 *
 * A key is the model file (path, size, modification time: a changed file
 * is a new key) and a hash of the backend's arguments (and of the
 * llama-server binary's size and modification time when given: another
 * llama.cpp build may allocate differently). The file holds at most
 * FOOTPRINT_MAX_ENTRIES; storing one more drops the one stored longest
 * ago. It is replaced atomically (a temporary file, then rename()); a
 * file that does not parse is ignored (the cache starts empty) and
 * reported. */
#ifndef LLMEM_SERVE_FOOTPRINT_H
#define LLMEM_SERVE_FOOTPRINT_H

#include "base/compat.h"
#include "base/diag.h"
#include "estimate/estimate.h"

#define FOOTPRINT_MAX_ENTRIES 1000
#define FOOTPRINT_MAX_POOLS (EST_MAX_DEVICES + 1)
#define FOOTPRINT_PATH_MAX 4096
#define FOOTPRINT_FILE_MAX (16u << 20)

struct footprint_key {
	char path[FOOTPRINT_PATH_MAX]; /* the model file (first part) */
	uint64_t size;                 /* its size in bytes */
	int64_t mtime_ns;              /* its modification time */
	uint64_t args_hash;            /* FNV-1a 64 of the arguments (and exe) */
};

struct footprint_entry {
	struct footprint_key key;
	size_t n_pools;
	uint64_t need[FOOTPRINT_MAX_POOLS]; /* bytes per pool: [0] host, [1+i] GPU i */
	uint64_t seq;                       /* when stored: the lowest goes first */
};

struct footprint_cache {
	size_t n;
	struct footprint_entry *v;
	uint64_t seq;  /* the last seq handed out */
};

void footprint_cache_init(struct footprint_cache *c);
void footprint_cache_release(struct footprint_cache *c);

/* Makes the key of a model with these backend arguments (args[n_args],
 * the whole argv is best; "--port", "--host", "--alias"/"-a" and the
 * value after each are left out: they change from one start to the next)
 * and, if exe is not NULL, that llama-server. stat()s the model (and
 * exe). 0, or -errno (-ENOENT), -ENAMETOOLONG. */
int footprint_key_make(struct footprint_key *k, const char *model_path, const char *exe,
		       char *const *args, size_t n_args) ATTR_WUR;

/* Replaces c's entries with those of the file at path. A missing file is
 * an empty cache (0). A file that is not a cache (bad JSON, wrong fields,
 * over FOOTPRINT_FILE_MAX) leaves c empty and returns -EBADMSG / -E2BIG
 * with d saying why: the caller reports it and goes on. Other errors
 * -errno. Over FOOTPRINT_MAX_ENTRIES entries: the newest are kept. */
int footprint_cache_load(struct footprint_cache *c, const char *path, struct diag *d) ATTR_WUR;

/* 1 and need[0..*n_pools) (need has FOOTPRINT_MAX_POOLS entries) when k is
 * known, else 0. */
int footprint_cache_lookup(const struct footprint_cache *c, const struct footprint_key *k,
			   uint64_t *need, size_t *n_pools);

/* Records need[n_pools] for k (1 <= n_pools <= FOOTPRINT_MAX_POOLS, each
 * below 2^63), replacing k's entry, else dropping the oldest when full.
 * 0, -EINVAL, -ERANGE or -ENOMEM. */
int footprint_cache_store(struct footprint_cache *c, const struct footprint_key *k,
			  const uint64_t *need, size_t n_pools) ATTR_WUR;

/* Writes c to path atomically (path.tmp.PID, fsync, rename). 0 or -errno
 * with d filled. */
int footprint_cache_save(const struct footprint_cache *c, const char *path, struct diag *d) ATTR_WUR;

/* The two halves of footprint_cache_save(), so that the file's I/O can be
 * done off the event loop: c as JSON text (the caller frees it; NULL when
 * out of memory), *len its length; and the text written to path
 * atomically, as above. */
char *footprint_cache_text(const struct footprint_cache *c, size_t *len);
int footprint_file_write(const char *path, const char *text, size_t len, struct diag *d) ATTR_WUR;

#endif
