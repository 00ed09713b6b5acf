/* store.c: finding GGUF models where people keep them (see store.h):
 * directory walks, Ollama's manifests, the Hugging Face hub cache layout,
 * and the bookkeeping that lists a file reached twice only once. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "io/io.h"
#include "io/store.h"

#define WALK_DEPTH 8
#define MANIFEST_MAX (1u << 20)
#define OLLAMA_MODEL_MEDIA "application/vnd.ollama.image.model"

static const char *const source_names[IO_STORE_SOURCE_COUNT] = {
	"dir", "ollama", "hf", "lmstudio", "llama.cpp",
};

const char *io_store_source_name(unsigned source)
{
	return source < IO_STORE_SOURCE_COUNT ? source_names[source] : "?";
}

void io_store_init(struct io_store *s)
{
	memset(s, 0, sizeof(*s));
}

void io_store_release(struct io_store *s)
{
	for (size_t i = 0; i < s->n_places; i++)
		free(s->places[i].path);
	for (size_t i = 0; i < s->n_entries; i++) {
		free(s->entries[i].name);
		free(s->entries[i].path);
		free(s->entries[i].also);
	}
	free(s->places);
	free(s->entries);
	free(s->dirs);
	memset(s, 0, sizeof(*s));
}

/* "a/b", without doubling a trailing slash of a; NULL on OOM */
static char *join(const char *a, const char *b)
{
	size_t n = strlen(a);
	char *r;

	if (asprintf(&r, "%s%s%s", a, n && a[n - 1] == '/' ? "" : "/", b) < 0)
		return NULL;
	return r;
}

int io_store_add_place(struct io_store *s, unsigned source, const char *path)
{
	struct io_store_place *np = realloc(s->places, (s->n_places + 1) * sizeof(*np));
	char *p;

	if (!np)
		return -ENOMEM;
	s->places = np;
	if (!(p = strdup(path)))
		return -ENOMEM;
	memset(&np[s->n_places], 0, sizeof(*np));
	np[s->n_places].source = (uint8_t)source;
	np[s->n_places].path = p;
	np[s->n_places].same_as = -1;
	s->n_places++;
	return 0;
}

static bool set(const char *v)
{
	return v && *v;
}

/* adds a/b (b may be NULL: a alone) */
static int add_joined(struct io_store *s, unsigned source, const char *a, const char *b)
{
	char *p = b ? join(a, b) : strdup(a);
	int e;

	if (!p)
		return -ENOMEM;
	e = io_store_add_place(s, source, p);
	free(p);
	return e;
}

int io_store_add_defaults(struct io_store *s, const struct io_store_env *env)
{
	const char *home = set(env->home) ? env->home : NULL;
	const char *xdg = set(env->xdg_cache_home) ? env->xdg_cache_home : NULL;
	const char *root = set(env->root) ? env->root : "/";
	int e = 0;

	/* Ollama: OLLAMA_MODELS replaces the user's store; the Linux
	 * service's store is its own user's */
	if (set(env->ollama_models))
		e = add_joined(s, IO_STORE_OLLAMA, env->ollama_models, NULL);
	else if (home)
		e = add_joined(s, IO_STORE_OLLAMA, home, ".ollama/models");
	if (!e)
		e = add_joined(s, IO_STORE_OLLAMA, root, "usr/share/ollama/.ollama/models");
	/* huggingface_hub's rule: HF_HUB_CACHE, HF_HOME/hub,
	 * XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub */
	if (e)
		return e;
	if (set(env->hf_hub_cache))
		e = add_joined(s, IO_STORE_HF, env->hf_hub_cache, NULL);
	else if (set(env->hf_home))
		e = add_joined(s, IO_STORE_HF, env->hf_home, "hub");
	else if (xdg)
		e = add_joined(s, IO_STORE_HF, xdg, "huggingface/hub");
	else if (home)
		e = add_joined(s, IO_STORE_HF, home, ".cache/huggingface/hub");
	if (!e && home)
		e = add_joined(s, IO_STORE_LMSTUDIO, home, ".lmstudio/models");
	if (!e && home)
		e = add_joined(s, IO_STORE_LMSTUDIO, home, ".cache/lm-studio/models");
	/* llama.cpp's fs_get_cache_directory() */
	if (e)
		return e;
	if (set(env->llama_cache))
		e = add_joined(s, IO_STORE_LLAMACPP, env->llama_cache, NULL);
	else if (xdg)
		e = add_joined(s, IO_STORE_LLAMACPP, xdg, "llama.cpp");
	else if (home)
		e = add_joined(s, IO_STORE_LLAMACPP, home, ".cache/llama.cpp");
	return e;
}

/* ---- entries ---- */

struct scan {
	struct io_store *s;
	size_t place;
	uint8_t source;
};

/* the entry for the file with st's identity, or NULL */
static struct io_store_entry *find_file(struct io_store *s, const struct stat *st)
{
	for (size_t i = 0; i < s->n_entries; i++)
		if (!s->entries[i].error && s->entries[i].dev == (uint64_t)st->st_dev &&
		    s->entries[i].ino == (uint64_t)st->st_ino)
			return &s->entries[i];
	return NULL;
}

/* whether list (names with ", " between them) holds name */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p; p = strstr(p, ", "), p = p ? p + 2 : NULL)
		if (!strncmp(p, name, n) && (p[n] == '\0' || (p[n] == ',' && p[n + 1] == ' ')))
			return true;
	return false;
}

static int also_add(struct io_store_entry *e, const char *name)
{
	char *n;

	if (!strcmp(e->name, name) || (e->also && listed(e->also, name)))
		return 0;
	if (asprintf(&n, "%s%s%s", e->also ? e->also : "", e->also ? ", " : "", name) < 0)
		return -ENOMEM;
	free(e->also);
	e->also = n;
	return 0;
}

/* Adds an entry, taking name and path (freed on every path). With st, a
 * file already listed only gets name added to its other names. */
static int entry_add(struct scan *sc, uint8_t source, char *name, char *path, const struct stat *st,
		     int error, const char *msg)
{
	struct io_store *s = sc->s;
	struct io_store_entry *e;
	int r = 0;

	if (!name || !path) {
		r = -ENOMEM;
		goto out;
	}
	if (st && (e = find_file(s, st))) {
		r = also_add(e, name);
		goto out;
	}
	if (s->n_entries == s->cap_entries) {
		size_t cap = s->cap_entries ? s->cap_entries * 2 : 64;
		struct io_store_entry *ne = realloc(s->entries, cap * sizeof(*ne));

		if (!ne) {
			r = -ENOMEM;
			goto out;
		}
		s->entries = ne;
		s->cap_entries = cap;
	}
	e = &s->entries[s->n_entries++];
	memset(e, 0, sizeof(*e));
	e->source = source;
	e->place = sc->place;
	e->name = name;
	e->path = path;
	if (st) {
		e->file_bytes = (uint64_t)st->st_size;
		e->dev = (uint64_t)st->st_dev;
		e->ino = (uint64_t)st->st_ino;
	}
	e->error = error;
	if (msg)
		snprintf(e->msg, sizeof(e->msg), "%s", msg);
	s->places[sc->place].n_found++;
	return 0;
out:
	free(name);
	free(path);
	return r;
}

static int entry_error(struct scan *sc, uint8_t source, const char *name, const char *path, int error,
		       const char *fmt, ...) ATTR_PRINTF(6, 7);

static int entry_error(struct scan *sc, uint8_t source, const char *name, const char *path, int error,
		       const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return entry_add(sc, source, strdup(name), strdup(path), NULL, error, msg);
}

/* ---- directories ---- */

struct dent {
	char *name;
	unsigned char type; /* d_type */
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static void dents_free(struct dent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* The entries of dir but . and .., sorted by name. 0, -ENOMEM, or the
 * -errno of opendir() (nothing allocated). */
static int dir_list(const char *dir, struct dent **ret, size_t *ret_n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct dent *v = NULL;
	size_t n = 0, cap = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t c2 = cap ? cap * 2 : 16;
			struct dent *nv = realloc(v, c2 * sizeof(*nv));

			if (!nv)
				goto oom;
			v = nv;
			cap = c2;
		}
		if (!(v[n].name = strdup(de->d_name)))
			goto oom;
		v[n++].type = de->d_type;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), dent_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	closedir(d);
	dents_free(v, n);
	return -ENOMEM;
}

/* 1 when the directory st was walked before (a symlink loop, or a place
 * inside another), else records it and returns 0; -ENOMEM */
static int dir_seen(struct io_store *s, const struct stat *st)
{
	for (size_t i = 0; i < s->n_dirs; i++)
		if (s->dirs[2 * i] == (uint64_t)st->st_dev && s->dirs[2 * i + 1] == (uint64_t)st->st_ino)
			return 1;
	if (s->n_dirs == s->cap_dirs) {
		size_t cap = s->cap_dirs ? s->cap_dirs * 2 : 32;
		uint64_t *nd = realloc(s->dirs, cap * 2 * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		s->dirs = nd;
		s->cap_dirs = cap;
	}
	s->dirs[2 * s->n_dirs] = (uint64_t)st->st_dev;
	s->dirs[2 * s->n_dirs + 1] = (uint64_t)st->st_ino;
	s->n_dirs++;
	return 0;
}

static bool gguf_suffix(const char *name)
{
	size_t n = strlen(name);

	return n >= 5 && !strcasecmp(name + n - 5, ".gguf");
}

static bool is_dir(const char *dir, const char *sub)
{
	char *p = join(dir, sub);
	struct stat st;
	bool r = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);

	free(p);
	return r;
}

/* A *.gguf file found by a walk: a split model's later parts are left to
 * its first part (unless that is missing: then opening this one says so) */
static int add_file(struct scan *sc, uint8_t source, const char *path, const char *name,
		    const struct stat *st)
{
	size_t prefix;
	unsigned no, count;

	if (io_split_name(path, &prefix, &no, &count) == 0 && count > 1 && no != 1) {
		char *first;
		struct stat fst;
		bool have;

		if (asprintf(&first, "%.*s-00001-of-%05u.gguf", (int)prefix, path, count) < 0)
			return -ENOMEM;
		have = stat(first, &fst) == 0 && S_ISREG(fst.st_mode);
		free(first);
		if (have)
			return 0;
	}
	return entry_add(sc, source, strdup(name ? name : path), strdup(path), st, 0, NULL);
}

/* Walks dir for *.gguf files. Names are prefix/relative path, or the path
 * itself when prefix is NULL. */
static int walk(struct scan *sc, uint8_t source, const char *dir, const char *prefix, int depth)
{
	struct dent *v;
	size_t n;
	int e = dir_list(dir, &v, &n);

	if (e == -ENOMEM)
		return e;
	if (e < 0)
		return 0; /* unreadable below a place: nothing found there */
	for (size_t i = 0; i < n && !e; i++) {
		const char *nm = v[i].name;
		char *path, *name = NULL;
		struct stat st;
		unsigned char t = v[i].type;

		if (nm[0] == '.')
			continue;
		if (t == DT_REG && !gguf_suffix(nm))
			continue;
		if (t != DT_REG && t != DT_DIR && t != DT_LNK && t != DT_UNKNOWN)
			continue;
		if (!(path = join(dir, nm))) {
			e = -ENOMEM;
			break;
		}
		if (prefix && asprintf(&name, "%s%s%s", prefix, *prefix ? "/" : "", nm) < 0) {
			free(path);
			e = -ENOMEM;
			break;
		}
		if (stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH) {
				e = dir_seen(sc->s, &st);
				if (e == 0)
					e = walk(sc, source, path, prefix ? name : NULL, depth + 1);
				else if (e == 1)
					e = 0;
			} else if (S_ISREG(st.st_mode) && gguf_suffix(nm)) {
				e = add_file(sc, source, path, name, &st);
			}
		}
		free(path);
		free(name);
	}
	dents_free(v, n);
	return e;
}

/* ---- the Hugging Face hub cache ---- */

/* models--ORG--NAME/snapshots/REV/...: named ORG/NAME/... */
static int scan_hf(struct scan *sc, uint8_t source, const char *root)
{
	struct dent *v;
	size_t n;
	int e = dir_list(root, &v, &n);

	if (e == -ENOMEM)
		return e;
	if (e < 0)
		return 0;
	for (size_t i = 0; i < n && !e; i++) {
		const char *nm = v[i].name, *sep;
		char *repo = NULL, *snaps = NULL, *rev = NULL;
		struct dent *rv = NULL;
		size_t nr = 0;
		struct stat st;

		if (strncmp(nm, "models--", 8) || !nm[8])
			continue;
		sep = strstr(nm + 8, "--");
		if (sep)
			e = asprintf(&repo, "%.*s/%s", (int)(sep - nm - 8), nm + 8, sep + 2) < 0 ? -ENOMEM : 0;
		else
			e = (repo = strdup(nm + 8)) ? 0 : -ENOMEM;
		if (!e) {
			char *m = join(root, nm);

			snaps = m ? join(m, "snapshots") : NULL;
			free(m);
			if (!snaps)
				e = -ENOMEM;
		}
		if (!e && (e = dir_list(snaps, &rv, &nr)) < 0 && e != -ENOMEM)
			e = 0;
		for (size_t k = 0; k < nr && !e; k++) {
			if (rv[k].name[0] == '.')
				continue;
			if (!(rev = join(snaps, rv[k].name))) {
				e = -ENOMEM;
				break;
			}
			if (stat(rev, &st) == 0 && S_ISDIR(st.st_mode)) {
				e = dir_seen(sc->s, &st);
				if (e == 0)
					e = walk(sc, source, rev, repo, 1);
				else if (e == 1)
					e = 0;
			}
			free(rev);
			rev = NULL;
		}
		dents_free(rv, nr);
		free(snaps);
		free(repo);
	}
	dents_free(v, n);
	return e;
}

static bool has_hf_repos(const char *root)
{
	struct dent *v;
	size_t n;
	bool r = false;

	if (dir_list(root, &v, &n) < 0)
		return false;
	for (size_t i = 0; i < n && !r; i++)
		r = !strncmp(v[i].name, "models--", 8);
	dents_free(v, n);
	return r;
}

/* ---- Ollama ---- */

/* `ollama list`'s name: the default host and namespace left out */
static char *ollama_name(const char *host, const char *ns, const char *model, const char *tag)
{
	char *r;
	int n;

	if (strcasecmp(host, "registry.ollama.ai"))
		n = asprintf(&r, "%s/%s/%s:%s", host, ns, model, tag);
	else if (strcasecmp(ns, "library"))
		n = asprintf(&r, "%s/%s:%s", ns, model, tag);
	else
		n = asprintf(&r, "%s:%s", model, tag);
	return n < 0 ? NULL : r;
}

/* Reads a manifest (a small regular file) into a NUL-terminated buffer.
 * 0, or -errno with *why set. */
static int read_small(const char *path, char **ret, size_t *ret_n, const char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	char *buf;
	size_t got = 0;

	*why = "cannot be read";
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why = "is not a regular file";
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > MANIFEST_MAX) {
		close(fd);
		*why = "is over 1 MiB";
		return -E2BIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*ret = buf;
	*ret_n = got;
	return 0;
}

/* The digest of the manifest's model layer, checked to be "sha256:" and
 * 64 hex digits (it becomes a file name), into hex[65]. */
static const char *manifest_digest(json_t *j, char *hex)
{
	json_t *layers = json_object_get(j, "layers");
	size_t i;
	json_t *l;

	if (!json_is_array(layers))
		return "has no layers";
	json_array_foreach(layers, i, l) {
		const char *mt = json_string_value(json_object_get(l, "mediaType"));
		const char *dg = json_string_value(json_object_get(l, "digest"));

		if (!mt || strcmp(mt, OLLAMA_MODEL_MEDIA))
			continue;
		if (!dg || strncmp(dg, "sha256:", 7) || strlen(dg) != 7 + 64)
			return "has a model layer whose digest is not sha256: and 64 hex digits";
		for (int k = 0; k < 64; k++) {
			char c = dg[7 + k];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				return "has a model layer whose digest is not sha256: and 64 hex digits";
			hex[k] = c;
		}
		hex[64] = '\0';
		return NULL;
	}
	return "has no model layer (" OLLAMA_MODEL_MEDIA ")";
}

static int ollama_manifest(struct scan *sc, const char *root, const char *mpath, const char *name)
{
	char *buf = NULL, hex[65], *blob;
	const char *why;
	size_t n = 0;
	json_t *j;
	json_error_t je;
	struct stat st;
	int e = read_small(mpath, &buf, &n, &why);

	if (e == -ENOMEM)
		return e;
	if (e < 0)
		return entry_error(sc, IO_STORE_OLLAMA, name, mpath, e, "manifest %s", why);
	j = json_loadb(buf, n, 0, &je);
	free(buf);
	if (!j)
		return entry_error(sc, IO_STORE_OLLAMA, name, mpath, -EBADMSG,
				   "manifest is not JSON (line %d: %s)", je.line, je.text);
	why = manifest_digest(j, hex);
	json_decref(j);
	if (why)
		return entry_error(sc, IO_STORE_OLLAMA, name, mpath, -EBADMSG, "manifest %s", why);
	if (asprintf(&blob, "%s%sblobs/sha256-%s", root, root[strlen(root) - 1] == '/' ? "" : "/", hex) < 0)
		return -ENOMEM;
	if (stat(blob, &st) < 0 || !S_ISREG(st.st_mode)) {
		e = entry_error(sc, IO_STORE_OLLAMA, name, blob, -ENOENT,
				"the manifest's model blob sha256-%.12s... is missing", hex);
		free(blob);
		return e;
	}
	return entry_add(sc, IO_STORE_OLLAMA, strdup(name), blob, &st, 0, NULL);
}

/* manifests/HOST/NS/MODEL/TAG, 4 levels, sorted at each */
static int ollama_walk(struct scan *sc, const char *root, const char *dir, const char **parts, int level)
{
	struct dent *v;
	size_t n;
	int e = dir_list(dir, &v, &n);

	if (e == -ENOMEM)
		return e;
	if (e < 0)
		return 0;
	for (size_t i = 0; i < n && !e; i++) {
		char *path;
		struct stat st;

		if (v[i].name[0] == '.')
			continue;
		if (!(path = join(dir, v[i].name))) {
			e = -ENOMEM;
			break;
		}
		parts[level] = v[i].name;
		if (stat(path, &st) == 0) {
			if (level < 3 && S_ISDIR(st.st_mode)) {
				e = ollama_walk(sc, root, path, parts, level + 1);
			} else if (level == 3 && S_ISREG(st.st_mode)) {
				char *name = ollama_name(parts[0], parts[1], parts[2], parts[3]);

				e = name ? ollama_manifest(sc, root, path, name) : -ENOMEM;
				free(name);
			}
		}
		free(path);
	}
	dents_free(v, n);
	return e;
}

static int scan_ollama(struct scan *sc, const char *root)
{
	const char *parts[4];
	char *m = join(root, "manifests");
	int e;

	if (!m)
		return -ENOMEM;
	e = ollama_walk(sc, root, m, parts, 0);
	free(m);
	return e;
}

/* ---- places ---- */

int io_store_scan(struct io_store *s)
{
	uint64_t *ids = calloc(s->n_places ? 2 * s->n_places : 1, sizeof(*ids));
	int e = 0;

	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_places && !e; i++) {
		struct io_store_place *p = &s->places[i];
		struct scan sc = { s, i, p->source };
		struct stat st;

		if (stat(p->path, &st) < 0) {
			p->error = -errno;
			continue;
		}
		ids[2 * i] = (uint64_t)st.st_dev;
		ids[2 * i + 1] = (uint64_t)st.st_ino;
		for (size_t k = 0; k < i; k++)
			if (s->places[k].exists && ids[2 * k] == ids[2 * i] && ids[2 * k + 1] == ids[2 * i + 1]) {
				p->same_as = (int)k;
				break;
			}
		if (p->same_as >= 0) {
			p->exists = true;
			continue;
		}
		if (S_ISREG(st.st_mode) && p->source == IO_STORE_DIR) {
			p->exists = true;
			e = entry_add(&sc, IO_STORE_DIR, strdup(p->path), strdup(p->path), &st, 0, NULL);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			p->error = -ENOTDIR;
			continue;
		}
		p->exists = true;
		e = dir_seen(s, &st);
		if (e == 1) {
			e = 0; /* inside a place walked before */
			continue;
		}
		if (e < 0)
			break;
		if (p->source == IO_STORE_OLLAMA ||
		    (p->source == IO_STORE_DIR && is_dir(p->path, "manifests") && is_dir(p->path, "blobs"))) {
			e = scan_ollama(&sc, p->path);
		} else if (p->source == IO_STORE_HF || has_hf_repos(p->path)) {
			e = scan_hf(&sc, p->source == IO_STORE_DIR ? IO_STORE_HF : p->source, p->path);
		} else {
			e = walk(&sc, p->source, p->path, p->source == IO_STORE_DIR ? NULL : "", 1);
		}
	}
	free(ids);
	return e;
}
