/* fuzz-footprint.c: libFuzzer target over the measured-footprint cache
 * file (serve/footprint.c). The input is the file: written to a memfd and
 * read by footprint_cache_load() through /proc/self/fd/N. A cache that
 * loads is then used as the daemon uses it: looked up, stored into,
 * saved (to a directory made once per process) and loaded back.
 *
 * Checked: a file that does not load leaves the cache empty and says
 * why; what loads saves, and loads back the same; a stored entry is found. */
#include "base/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/footprint.h"

#include "fuzz-util.h"

static char dir[256], saved[300];

static void cleanup(void)
{
	unlink(saved);
	rmdir(dir);
}

/* A file to save to, in a directory of its own (tmpfs when there is one:
 * the save fsyncs). */
static const char *save_path(void)
{
	const char *t = getenv("TMPDIR");

	if (saved[0])
		return saved;
	snprintf(dir, sizeof(dir), "%s/llmem-fuzz-footprint-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(saved, sizeof(saved), "%s/footprints.json", dir);
	atexit(cleanup);
	return saved;
}

static bool same_entry(const struct footprint_entry *a, const struct footprint_entry *b)
{
	return !strcmp(a->key.path, b->key.path) && a->key.size == b->key.size &&
	       a->key.mtime_ns == b->key.mtime_ns && a->key.args_hash == b->key.args_hash &&
	       a->n_pools == b->n_pools && a->seq == b->seq &&
	       !memcmp(a->need, b->need, a->n_pools * sizeof(a->need[0]));
}

static void check_cache(const struct footprint_cache *c)
{
	uint64_t need[FOOTPRINT_MAX_POOLS];
	size_t n_pools = 0;

	FUZZ_CHECK(c->n <= FOOTPRINT_MAX_ENTRIES);
	for (size_t i = 0; i < c->n; i++) {
		const struct footprint_entry *e = &c->v[i];

		FUZZ_CHECK(e->n_pools >= 1 && e->n_pools <= FOOTPRINT_MAX_POOLS);
		FUZZ_CHECK(memchr(e->key.path, '\0', sizeof(e->key.path)) && e->key.path[0]);
		FUZZ_CHECK(e->seq <= c->seq);
		FUZZ_CHECK(footprint_cache_lookup(c, &e->key, need, &n_pools) == 1);
		FUZZ_CHECK(n_pools >= 1 && n_pools <= FOOTPRINT_MAX_POOLS);
	}
}

/* Saves c and loads it back into *back, which must equal c. */
static void round_trip(const struct footprint_cache *c, struct footprint_cache *back)
{
	const char *p = save_path();
	struct diag d;
	int rc;

	diag_init(&d);
	rc = footprint_cache_save(c, p, &d);
	FUZZ_CHECK(rc == 0);
	diag_init(&d);
	rc = footprint_cache_load(back, p, &d);
	if (rc < 0)
		fprintf(stderr, "reload: %s\n", d.msg);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(back->n == c->n && back->seq == c->seq);
	for (size_t i = 0; i < c->n; i++)
		FUZZ_CHECK(same_entry(&c->v[i], &back->v[i]));
	unlink(p); /* only the empty directory is left if a later input aborts */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size);
	struct footprint_cache c, back;
	struct footprint_key k;
	uint64_t need[FOOTPRINT_MAX_POOLS] = { UINT64_C(4) << 30, UINT64_C(20) << 30 };
	uint64_t got[FOOTPRINT_MAX_POOLS];
	size_t n_pools = 0;
	struct diag d;
	int rc;

	if (!path)
		return 0;
	footprint_cache_init(&c);
	footprint_cache_init(&back);
	diag_init(&d);
	rc = footprint_cache_load(&c, path, &d);
	if (rc < 0) {
		FUZZ_CHECK(rc == -EBADMSG || rc == -E2BIG);
		FUZZ_CHECK(d.code == rc && d.msg[0]);
		FUZZ_CHECK(c.n == 0);
		footprint_cache_release(&c);
		return 0;
	}
	FUZZ_CHECK(rc == 0);
	check_cache(&c);
	round_trip(&c, &back);
	footprint_cache_release(&back);

	/* the daemon's next measurement */
	memset(&k, 0, sizeof(k));
	snprintf(k.path, sizeof(k.path), "/models/fuzz.gguf");
	k.size = 4920739232;
	k.mtime_ns = INT64_C(1754331765123456789);
	k.args_hash = UINT64_C(0x0123456789abcdef);
	rc = footprint_cache_store(&c, &k, need, 2);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(footprint_cache_lookup(&c, &k, got, &n_pools) == 1);
	FUZZ_CHECK(n_pools == 2 && got[0] == need[0] && got[1] == need[1]);
	check_cache(&c);
	round_trip(&c, &back);
	footprint_cache_release(&back);
	footprint_cache_release(&c);
	return 0;
}
