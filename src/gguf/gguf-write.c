/* gguf-write.c: building GGUF headers. Used by tests to synthesize models
 * (valid ones, and ones with exactly one planted defect) and by later
 * tools; the caller writes the bytes (src/io does). */
#include "base/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "gguf/ggml-type.h"
#include "gguf/gguf.h"

struct wkv {
	char *key;
	uint32_t type;
	uint32_t arr_type;
	uint64_t n;
	uint8_t *val; /* serialized value bytes, without the type */
	size_t val_len;
};

struct wtensor {
	char *name;
	uint32_t type;
	uint32_t n_dims;
	int64_t ne[GGUF_MAX_DIMS];
	uint64_t offset;
	uint64_t nbytes;
};

struct gguf_writer {
	uint32_t version;
	uint32_t alignment;
	struct wkv *kvs;
	size_t n_kv, cap_kv;
	struct wtensor *tensors;
	size_t n_tensors, cap_tensors;
	uint64_t data_bytes;
	/* tensor names by hash (index + 1, 0 = empty; a power of two, at
	 * most half full), so a name is checked against the others once,
	 * not against each in turn */
	uint32_t *slots;
	size_t n_slots;
};

struct gguf_writer *gguf_writer_new(void)
{
	struct gguf_writer *w = calloc(1, sizeof(*w));

	if (w) {
		w->version = 3;
		w->alignment = GGUF_DEFAULT_ALIGNMENT;
	}
	return w;
}

struct gguf_writer *gguf_writer_free(struct gguf_writer *w)
{
	if (!w)
		return NULL;
	for (size_t i = 0; i < w->n_kv; i++) {
		free(w->kvs[i].key);
		free(w->kvs[i].val);
	}
	for (size_t i = 0; i < w->n_tensors; i++)
		free(w->tensors[i].name);
	free(w->kvs);
	free(w->tensors);
	free(w->slots);
	free(w);
	return NULL;
}

static int push(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Takes ownership of val. */
static int add_kv(struct gguf_writer *w, const char *key, uint32_t type, uint32_t arr_type,
		  uint64_t n, uint8_t *val, size_t val_len)
{
	struct wkv *kv;
	int e;

	for (size_t i = 0; i < w->n_kv; i++) {
		if (strcmp(w->kvs[i].key, key) == 0) {
			free(val);
			return -EINVAL;
		}
	}
	e = push((void **)&w->kvs, &w->cap_kv, w->n_kv, sizeof(*w->kvs));
	if (e < 0) {
		free(val);
		return e;
	}
	kv = &w->kvs[w->n_kv];
	kv->key = strdup(key);
	if (!kv->key) {
		free(val);
		return -ENOMEM;
	}
	kv->type = type;
	kv->arr_type = arr_type;
	kv->n = n;
	kv->val = val;
	kv->val_len = val_len;
	w->n_kv++;
	return 0;
}

int gguf_writer_add_scalar(struct gguf_writer *w, const char *key, uint32_t type, const void *val)
{
	size_t sz = gguf_type_size(type);
	uint8_t *b;
	uint64_t v = 0;

	if (sz == 0)
		return -EINVAL;
	b = malloc(sz);
	if (!b)
		return -ENOMEM;
	/* the host is little-endian (x86_64, aarch64); copy the C value */
	memcpy(&v, val, sz);
	put_le(b, v, sz);
	if (strcmp(key, GGUF_KEY_GENERAL_ALIGNMENT) == 0 && type == GGUF_TYPE_UINT32) {
		uint32_t a = (uint32_t)v;

		if (a == 0 || (a & (a - 1)) != 0) {
			free(b);
			return -EINVAL;
		}
		w->alignment = a;
	}
	return add_kv(w, key, type, 0, 1, b, sz);
}

int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *s, size_t n)
{
	uint8_t *b = malloc(8 + n);

	if (!b)
		return -ENOMEM;
	put_le(b, n, 8);
	if (n)
		memcpy(b + 8, s, n);
	return add_kv(w, key, GGUF_TYPE_STRING, 0, 1, b, 8 + n);
}

int gguf_writer_add_arr(struct gguf_writer *w, const char *key, uint32_t elem_type,
			const void *data, uint64_t n)
{
	size_t sz = gguf_type_size(elem_type);
	uint64_t bytes;
	uint8_t *b;

	if (sz == 0 || !ck_mul_u64(n, sz, &bytes) || bytes > SIZE_MAX - 12)
		return -EINVAL;
	b = malloc(12 + bytes);
	if (!b)
		return -ENOMEM;
	put_le(b, elem_type, 4);
	put_le(b + 4, n, 8);
	if (bytes)
		memcpy(b + 12, data, bytes);
	return add_kv(w, key, GGUF_TYPE_ARRAY, elem_type, n, b, 12 + bytes);
}

int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *strs,
			    uint64_t n)
{
	size_t total = 12, o;
	uint8_t *b;

	for (uint64_t i = 0; i < n; i++)
		total += 8 + strlen(strs[i]);
	b = malloc(total);
	if (!b)
		return -ENOMEM;
	put_le(b, GGUF_TYPE_STRING, 4);
	put_le(b + 4, n, 8);
	o = 12;
	for (uint64_t i = 0; i < n; i++) {
		size_t l = strlen(strs[i]);

		put_le(b + o, l, 8);
		memcpy(b + o + 8, strs[i], l);
		o += 8 + l;
	}
	return add_kv(w, key, GGUF_TYPE_ARRAY, GGUF_TYPE_STRING, n, b, total);
}

static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

/* The slot of name: the one holding it, or the empty one it would go in */
static size_t name_slot(const struct gguf_writer *w, const char *name)
{
	size_t i = (size_t)name_hash(name) & (w->n_slots - 1);

	while (w->slots[i] && strcmp(w->tensors[w->slots[i] - 1].name, name))
		i = (i + 1) & (w->n_slots - 1);
	return i;
}

/* Room for one more name, keeping the table at most half full. */
static int slots_reserve(struct gguf_writer *w)
{
	size_t n = w->n_slots ? w->n_slots : 64;
	uint32_t *old = w->slots;
	size_t n_old = w->n_slots;

	if (w->n_tensors + 1 <= w->n_slots / 2)
		return 0;
	while (w->n_tensors + 1 > n / 2)
		n *= 2;
	if (w->n_tensors >= UINT32_MAX - 1 || !(w->slots = calloc(n, sizeof(*w->slots)))) {
		w->slots = old;
		return -ENOMEM;
	}
	w->n_slots = n;
	for (size_t i = 0; i < n_old; i++)
		if (old[i])
			w->slots[name_slot(w, w->tensors[old[i] - 1].name)] = old[i];
	free(old);
	return 0;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
			   uint32_t n_dims, const int64_t *ne)
{
	size_t slot;
	struct wtensor *t;
	uint64_t nbytes, padded, end;
	size_t len = strlen(name);
	int e;

	if (len == 0 || len >= GGUF_MAX_NAME || n_dims > GGUF_MAX_DIMS)
		return -EINVAL;
	e = slots_reserve(w);
	if (e < 0)
		return e;
	slot = name_slot(w, name);
	if (w->slots[slot])
		return -EINVAL;
	e = ggml_type_tensor_size(type, ne, n_dims, &nbytes);
	if (e < 0)
		return e;
	if (!ck_align_u64(nbytes, w->alignment, &padded) ||
	    !ck_add_u64(w->data_bytes, padded, &end))
		return -EOVERFLOW;
	e = push((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof(*w->tensors));
	if (e < 0)
		return e;
	t = &w->tensors[w->n_tensors];
	t->name = strdup(name);
	if (!t->name)
		return -ENOMEM;
	t->type = type;
	t->n_dims = n_dims;
	for (uint32_t k = 0; k < GGUF_MAX_DIMS; k++)
		t->ne[k] = k < n_dims ? ne[k] : 1;
	t->offset = w->data_bytes;
	t->nbytes = nbytes;
	w->data_bytes = end;
	w->n_tensors++;
	w->slots[slot] = (uint32_t)w->n_tensors;
	return 0;
}

uint64_t gguf_writer_n_tensors(const struct gguf_writer *w)
{
	return w->n_tensors;
}

void gguf_writer_tensor_extent(const struct gguf_writer *w, uint64_t i, uint64_t *ret_offset,
			       uint64_t *ret_nbytes)
{
	*ret_offset = w->tensors[i].offset;
	*ret_nbytes = w->tensors[i].nbytes;
}

uint32_t gguf_writer_tensor_type(const struct gguf_writer *w, uint64_t i)
{
	return w->tensors[i].type;
}

const char *gguf_writer_tensor_name(const struct gguf_writer *w, uint64_t i)
{
	return w->tensors[i].name;
}

struct marks {
	struct gguf_mark *v;
	size_t n, cap;
	bool on;
	int err;
};

static void mark(struct marks *m, uint64_t off, const char *what, uint64_t index)
{
	if (!m->on || m->err)
		return;
	if (push((void **)&m->v, &m->cap, m->n, sizeof(*m->v)) < 0) {
		m->err = -ENOMEM;
		return;
	}
	m->v[m->n].off = off;
	m->v[m->n].what = what;
	m->v[m->n].index = index;
	m->n++;
}

static uint64_t header_len(const struct gguf_writer *w)
{
	uint64_t n = 24;

	for (size_t i = 0; i < w->n_kv; i++)
		n += 8 + strlen(w->kvs[i].key) + 4 + w->kvs[i].val_len;
	for (size_t i = 0; i < w->n_tensors; i++)
		n += 8 + strlen(w->tensors[i].name) + 4 + 8ull * w->tensors[i].n_dims + 4 + 8;
	return n;
}

int gguf_writer_header(const struct gguf_writer *w, struct sbuf *out, struct gguf_mark **marks,
		       size_t *n_marks)
{
	struct marks m = { NULL, 0, 0, marks != NULL, 0 };
	uint64_t base = out->len, hl = header_len(w), data_off;
	int e = 0;

	if (!ck_align_u64(hl, w->alignment, &data_off))
		return -EOVERFLOW;
#define POS (out->len - base)
	mark(&m, POS, "magic", 0);
	e = e ? e : sbuf_add(out, GGUF_MAGIC, 4);
	mark(&m, POS, "version", 0);
	e = e ? e : sbuf_add_u32le(out, w->version);
	mark(&m, POS, "tensor count", 0);
	e = e ? e : sbuf_add_u64le(out, w->n_tensors);
	mark(&m, POS, "kv count", 0);
	e = e ? e : sbuf_add_u64le(out, w->n_kv);
	for (size_t i = 0; i < w->n_kv && !e; i++) {
		const struct wkv *kv = &w->kvs[i];
		size_t kl = strlen(kv->key);

		mark(&m, POS, "kv key length", i);
		e = sbuf_add_u64le(out, kl);
		mark(&m, POS, "kv key", i);
		e = e ? e : sbuf_add(out, kv->key, kl);
		mark(&m, POS, "kv type", i);
		e = e ? e : sbuf_add_u32le(out, kv->type);
		mark(&m, POS, "kv value", i);
		if (kv->type == GGUF_TYPE_ARRAY) {
			e = e ? e : sbuf_add(out, kv->val, 4);
			mark(&m, POS, "kv array length", i);
			e = e ? e : sbuf_add(out, kv->val + 4, 8);
			mark(&m, POS, "kv array data", i);
			e = e ? e : sbuf_add(out, kv->val + 12, kv->val_len - 12);
		} else {
			e = e ? e : sbuf_add(out, kv->val, kv->val_len);
		}
	}
	for (size_t i = 0; i < w->n_tensors && !e; i++) {
		const struct wtensor *t = &w->tensors[i];
		size_t nl = strlen(t->name);

		mark(&m, POS, "tensor name length", i);
		e = sbuf_add_u64le(out, nl);
		mark(&m, POS, "tensor name", i);
		e = e ? e : sbuf_add(out, t->name, nl);
		mark(&m, POS, "tensor n_dims", i);
		e = e ? e : sbuf_add_u32le(out, t->n_dims);
		mark(&m, POS, "tensor dims", i);
		for (uint32_t k = 0; k < t->n_dims && !e; k++)
			e = sbuf_add_u64le(out, (uint64_t)t->ne[k]);
		mark(&m, POS, "tensor type", i);
		e = e ? e : sbuf_add_u32le(out, t->type);
		mark(&m, POS, "tensor offset", i);
		e = e ? e : sbuf_add_u64le(out, t->offset);
	}
	mark(&m, POS, "header end", 0);
	if (!e && data_off > hl)
		e = sbuf_add_zeros(out, (size_t)(data_off - hl));
	for (size_t i = 0; i < w->n_tensors; i++) {
		mark(&m, data_off + w->tensors[i].offset, "tensor data", i);
		if (w->tensors[i].nbytes)
			mark(&m, data_off + w->tensors[i].offset + w->tensors[i].nbytes - 1,
			     "tensor data last byte", i);
	}
#undef POS
	if (!e)
		e = m.err;
	if (e < 0) {
		free(m.v);
		return e;
	}
	if (marks) {
		*marks = m.v;
		*n_marks = m.n;
	}
	return 0;
}

uint64_t gguf_writer_file_size(const struct gguf_writer *w)
{
	uint64_t off = 0;

	(void)ck_align_u64(header_len(w), w->alignment, &off);
	return off + w->data_bytes;
}
