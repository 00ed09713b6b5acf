/* footprint.c: the measured-footprint cache of `llmem serve` and its JSON
 * file (jansson). See footprint.h. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "serve/footprint.h"

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)
#define FILE_VERSION 1

void footprint_cache_init(struct footprint_cache *c)
{
	c->n = 0;
	c->v = NULL;
	c->seq = 0;
}

void footprint_cache_release(struct footprint_cache *c)
{
	free(c->v);
	footprint_cache_init(c);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* Each item as its length (8 bytes, little-endian) and its bytes, so
 * ("a b") and ("a", "b") differ. */
static uint64_t fnv_item(uint64_t h, const void *p, size_t n)
{
	unsigned char len[8];

	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (8 * i));
	return fnv(fnv(h, len, 8), p, n);
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int footprint_key_make(struct footprint_key *k, const char *model_path, const char *exe,
		       char *const *args, size_t n_args)
{
	struct stat st;
	uint64_t h = FNV_OFFSET;

	memset(k, 0, sizeof(*k));
	if (strlen(model_path) >= sizeof(k->path))
		return -ENAMETOOLONG;
	if (stat(model_path, &st) < 0)
		return -errno;
	memcpy(k->path, model_path, strlen(model_path) + 1);
	k->size = (uint64_t)st.st_size;
	k->mtime_ns = mtime_ns(&st);
	for (size_t i = 0; i < n_args; i++) {
		/* what changes from one start to the next, not the memory */
		if (!strcmp(args[i], "--port") || !strcmp(args[i], "--host") ||
		    !strcmp(args[i], "--alias") || !strcmp(args[i], "-a")) {
			i++;
			continue;
		}
		h = fnv_item(h, args[i], strlen(args[i]));
	}
	if (exe) {
		int64_t t;
		uint64_t sz;

		if (stat(exe, &st) < 0)
			return -errno;
		t = mtime_ns(&st);
		sz = (uint64_t)st.st_size;
		h = fnv_item(h, exe, strlen(exe));
		h = fnv_item(h, &sz, sizeof(sz));
		h = fnv_item(h, &t, sizeof(t));
	}
	k->args_hash = h;
	return 0;
}

static bool key_eq(const struct footprint_key *a, const struct footprint_key *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns && a->args_hash == b->args_hash &&
	       !strcmp(a->path, b->path);
}

int footprint_cache_lookup(const struct footprint_cache *c, const struct footprint_key *k,
			   uint64_t *need, size_t *n_pools)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct footprint_entry *e = &c->v[i];

		if (key_eq(&e->key, k)) {
			memcpy(need, e->need, e->n_pools * sizeof(*need));
			*n_pools = e->n_pools;
			return 1;
		}
	}
	return 0;
}

int footprint_cache_store(struct footprint_cache *c, const struct footprint_key *k,
			  const uint64_t *need, size_t n_pools)
{
	struct footprint_entry *e = NULL;

	if (n_pools == 0 || n_pools > FOOTPRINT_MAX_POOLS || !memchr(k->path, '\0', sizeof(k->path)))
		return -EINVAL;
	for (size_t i = 0; i < n_pools; i++)
		if (need[i] > (uint64_t)INT64_MAX)
			return -ERANGE;
	for (size_t i = 0; i < c->n && !e; i++)
		if (key_eq(&c->v[i].key, k))
			e = &c->v[i];
	if (!e && c->n >= FOOTPRINT_MAX_ENTRIES) {
		e = &c->v[0];
		for (size_t i = 1; i < c->n; i++)
			if (c->v[i].seq < e->seq)
				e = &c->v[i];
	}
	if (!e) {
		struct footprint_entry *nv = realloc(c->v, (c->n + 1) * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		c->v = nv;
		e = &c->v[c->n++];
	}
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->n_pools = n_pools;
	memcpy(e->need, need, n_pools * sizeof(*need));
	/* a file may hold any seq up to INT64_MAX: stay there rather than
	 * save one the next load refuses */
	if (c->seq < (uint64_t)INT64_MAX)
		c->seq++;
	e->seq = c->seq;
	return 0;
}

/* ---- the file --------------------------------------------------------- */

static int read_capped(const char *path, char **buf, size_t *len, struct diag *d)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t n = 0;
	char *b;

	if (fd < 0)
		return -errno; /* the caller tells ENOENT apart */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > FOOTPRINT_FILE_MAX) {
		close(fd);
		return diag_set(d, -E2BIG, DIAG_NO_OFFSET, "%s: over %u bytes: ignored", path,
				FOOTPRINT_FILE_MAX);
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			free(b);
			close(fd);
			return diag_set(d, e, DIAG_NO_OFFSET, "%s: %s", path, strerror(-e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
}

static bool get_u64(json_t *o, const char *key, uint64_t *v)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return false;
	*v = (uint64_t)json_integer_value(j);
	return true;
}

/* One entry of the file into e; false when it is not one. */
static bool parse_entry(json_t *o, struct footprint_entry *e)
{
	json_t *model = json_object_get(o, "model"), *args = json_object_get(o, "args");
	json_t *need = json_object_get(o, "need"), *mt = json_object_get(o, "mtime_ns");
	const char *hex;
	char *end;
	size_t len;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o) || !json_is_string(model) || !json_is_string(args) ||
	    !json_is_array(need) || !json_is_integer(mt))
		return false;
	len = json_string_length(model);
	if (len == 0 || len >= sizeof(e->key.path) || memchr(json_string_value(model), '\0', len))
		return false;
	memcpy(e->key.path, json_string_value(model), len + 1);
	e->key.mtime_ns = (int64_t)json_integer_value(mt);
	if (!get_u64(o, "size", &e->key.size) || !get_u64(o, "seq", &e->seq))
		return false;
	hex = json_string_value(args);
	if (json_string_length(args) != 16 || strspn(hex, "0123456789abcdef") != 16)
		return false;
	errno = 0;
	e->key.args_hash = strtoull(hex, &end, 16);
	if (errno || *end)
		return false;
	e->n_pools = json_array_size(need);
	if (e->n_pools == 0 || e->n_pools > FOOTPRINT_MAX_POOLS)
		return false;
	for (size_t i = 0; i < e->n_pools; i++) {
		json_t *x = json_array_get(need, i);

		if (!json_is_integer(x) || json_integer_value(x) < 0)
			return false;
		e->need[i] = (uint64_t)json_integer_value(x);
	}
	return true;
}

static int cmp_seq_desc(const void *a, const void *b)
{
	uint64_t x = ((const struct footprint_entry *)a)->seq, y = ((const struct footprint_entry *)b)->seq;

	return x < y ? 1 : x > y ? -1 : 0;
}

int footprint_cache_load(struct footprint_cache *c, const char *path, struct diag *d)
{
	json_error_t jerr;
	json_t *root, *entries, *ver;
	struct footprint_entry *v = NULL;
	size_t len = 0, n;
	char *buf = NULL;
	int e;

	footprint_cache_release(c);
	e = read_capped(path, &buf, &len, d);
	if (e == -ENOENT)
		return 0;
	if (e < 0)
		return d && d->code ? e : diag_set(d, e, DIAG_NO_OFFSET, "%s: %s", path, strerror(-e));
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!root)
		return diag_set(d, -EBADMSG, (uint64_t)(jerr.position < 0 ? 0 : jerr.position),
				"%s: not a footprint cache (%s at line %d): ignored", path, jerr.text,
				jerr.line);
	ver = json_object_get(root, "version");
	entries = json_object_get(root, "entries");
	if (!json_is_object(root) || !json_is_integer(ver) || json_integer_value(ver) != FILE_VERSION ||
	    !json_is_array(entries)) {
		json_decref(root);
		return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				"%s: not a version %d footprint cache: ignored", path, FILE_VERSION);
	}
	n = json_array_size(entries);
	if (n && !(v = calloc(n, sizeof(*v)))) {
		json_decref(root);
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if (!parse_entry(json_array_get(entries, i), &v[i])) {
			json_decref(root);
			free(v);
			return diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
					"%s: entry %zu is not a footprint: the cache is ignored", path, i);
		}
	}
	json_decref(root);
	if (n > FOOTPRINT_MAX_ENTRIES) {
		qsort(v, n, sizeof(*v), cmp_seq_desc);
		n = FOOTPRINT_MAX_ENTRIES;
	}
	c->v = v;
	c->n = n;
	for (size_t i = 0; i < n; i++)
		if (v[i].seq > c->seq)
			c->seq = v[i].seq;
	return 0;
}

static json_t *cache_json(const struct footprint_cache *c)
{
	json_t *root = json_object(), *entries = json_array();

	if (!root || !entries || json_object_set_new(root, "version", json_integer(FILE_VERSION)) ||
	    json_object_set(root, "entries", entries))
		goto fail;
	for (size_t i = 0; i < c->n; i++) {
		const struct footprint_entry *e = &c->v[i];
		json_t *o, *model, *need = json_array();
		char hex[17];

		/* a path that is not UTF-8 cannot be a JSON string: not kept */
		model = json_stringn(e->key.path, strlen(e->key.path));
		if (!model) {
			json_decref(need);
			continue;
		}
		snprintf(hex, sizeof(hex), "%016" PRIx64, e->key.args_hash);
		o = json_pack("{s:o, s:I, s:I, s:s, s:o, s:I}", "model", model, "size",
			      (json_int_t)e->key.size, "mtime_ns", (json_int_t)e->key.mtime_ns, "args", hex,
			      "need", need, "seq", (json_int_t)e->seq);
		if (!o || json_array_append_new(entries, o))
			goto fail;
		for (size_t p = 0; p < e->n_pools; p++)
			if (json_array_append_new(need, json_integer((json_int_t)e->need[p])))
				goto fail;
	}
	json_decref(entries);
	return root;
fail:
	json_decref(entries);
	json_decref(root);
	return NULL;
}

char *footprint_cache_text(const struct footprint_cache *c, size_t *len)
{
	json_t *root = cache_json(c);
	char *text;

	if (!root)
		return NULL;
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text)
		*len = strlen(text);
	return text;
}

int footprint_file_write(const char *path, const char *text, size_t len, struct diag *d)
{
	char tmp[FOOTPRINT_PATH_MAX + 32];
	size_t off = 0;
	int fd, e = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return diag_set(d, -ENAMETOOLONG, DIAG_NO_OFFSET, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		e = -errno;
		return diag_set(d, e, DIAG_NO_OFFSET, "%s: %s", tmp, strerror(-e));
	}
	while (off < len && e == 0) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			e = -errno;
		else
			off += (size_t)w;
	}
	if (e == 0 && fsync(fd) < 0)
		e = -errno;
	if (close(fd) < 0 && e == 0)
		e = -errno;
	if (e == 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0) {
		unlink(tmp);
		return diag_set(d, e, DIAG_NO_OFFSET, "%s: %s", path, strerror(-e));
	}
	return 0;
}

int footprint_cache_save(const struct footprint_cache *c, const char *path, struct diag *d)
{
	size_t len = 0;
	char *text = footprint_cache_text(c, &len);
	int e;

	if (!text)
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	e = footprint_file_write(path, text, len, d);
	free(text);
	return e;
}
