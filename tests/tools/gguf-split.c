/* gguf-split.c: splits a GGUF file into N parts the way llama.cpp's
 * gguf-split does (its --split-max-tensors mode): OUT-00001-of-0000N.gguf
 * holds every key-value pair of the input, each part holds split.no,
 * split.count and split.tensors.count, and the tensors are shared out in
 * order. The parts' data are holes (sparse files), as gguf-synth writes
 * them. For the tests of split models (`llmem recommend`, `inspect`).
 *
 * usage: gguf-split IN.gguf N OUT   (writes OUT-0000k-of-0000N.gguf) */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "io/io.h"

/* Copies key-value pair i of f into w. */
static int copy_kv(struct gguf_writer *w, const struct gguf_file *f, uint64_t i)
{
	const struct gguf_kv *kv = &f->kvs[i];
	struct gguf_str key = gguf_kv_key(f, i), s;
	char k[256];
	int e;

	if (key.n >= sizeof(k))
		return -E2BIG;
	memcpy(k, key.p, key.n);
	k[key.n] = '\0';
	if (kv->type == GGUF_TYPE_STRING) {
		e = gguf_kv_get_str(f, i, &s);
		return e < 0 ? e : gguf_writer_add_str(w, k, s.p, s.n);
	}
	if (kv->type != GGUF_TYPE_ARRAY)
		return gguf_writer_add_scalar(w, k, kv->type, f->buf + kv->val_off);
	if (kv->arr_type != GGUF_TYPE_STRING)
		return gguf_writer_add_arr(w, k, kv->arr_type, f->buf + kv->val_off, kv->n);
	/* a string array: NUL-terminated copies */
	char **strs = calloc(kv->n ? kv->n : 1, sizeof(*strs));
	uint64_t pos = 0, j;

	if (!strs)
		return -ENOMEM;
	for (j = 0, e = 0; j < kv->n && !e; j++) {
		e = gguf_kv_arr_next_str(f, i, &pos, &s);
		if (!e && !(strs[j] = strndup(s.p, s.n)))
			e = -ENOMEM;
	}
	if (!e)
		e = gguf_writer_add_arr_str(w, k, (const char *const *)strs, kv->n);
	for (j = 0; j < kv->n; j++)
		free(strs[j]);
	free(strs);
	return e;
}

int main(int argc, char **argv)
{
	struct io_gguf *g = NULL;
	struct diag d;
	unsigned long n;
	char *end;
	int e;

	if (argc != 4) {
		fputs("usage: gguf-split IN.gguf N OUT   (writes OUT-0000k-of-0000N.gguf)\n", stderr);
		return 2;
	}
	n = strtoul(argv[2], &end, 10);
	if (*end || n < 1 || n > 99) {
		fprintf(stderr, "gguf-split: N must be 1 to 99\n");
		return 2;
	}
	diag_init(&d);
	if (io_gguf_open(argv[1], &g, &d) < 0) {
		fprintf(stderr, "gguf-split: %s: %s\n", argv[1], d.msg);
		return 1;
	}
	const struct gguf_file *f = g->gf;
	uint64_t per = (f->n_tensors + n - 1) / n;

	for (unsigned long p = 0; p < n; p++) {
		struct gguf_writer *w = gguf_writer_new();
		uint16_t no = (uint16_t)p, count = (uint16_t)n;
		int32_t total = (int32_t)f->n_tensors;
		char path[4096];

		if (!w)
			return 1;
		e = 0;
		if (p == 0)
			for (uint64_t i = 0; i < f->n_kv && !e; i++)
				e = copy_kv(w, f, i);
		if (!e)
			e = gguf_writer_add_scalar(w, "split.no", GGUF_TYPE_UINT16, &no);
		if (!e)
			e = gguf_writer_add_scalar(w, "split.count", GGUF_TYPE_UINT16, &count);
		if (!e)
			e = gguf_writer_add_scalar(w, "split.tensors.count", GGUF_TYPE_INT32, &total);
		for (uint64_t t = p * per; t < (p + 1) * per && t < f->n_tensors && !e; t++) {
			struct gguf_str nm = gguf_tensor_name(f, t);
			char name[GGUF_MAX_NAME];

			memcpy(name, nm.p, nm.n);
			name[nm.n] = '\0';
			e = gguf_writer_add_tensor(w, name, f->tensors[t].type, f->tensors[t].n_dims,
						   f->tensors[t].ne);
		}
		snprintf(path, sizeof(path), "%s-%05lu-of-%05lu.gguf", argv[3], p + 1, n);
		if (!e)
			e = io_gguf_write(path, w, NULL, NULL);
		gguf_writer_free(w);
		if (e < 0) {
			fprintf(stderr, "gguf-split: %s: %s\n", path, strerror(-e));
			io_gguf_free(g);
			return 1;
		}
	}
	io_gguf_free(g);
	return 0;
}
