/* gguf-open.c: reading GGUF headers from files, and split models. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

/* MADV_POPULATE_READ (Linux 5.14): maps a file range's pages in one call,
 * or fails with EFAULT where an access would raise SIGBUS */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* The first read; most headers without a large vocabulary fit. Larger
 * headers are read on as the parser asks (it guesses the size of a large
 * array or of the tensor infos from what it has seen), at least this much
 * at a time, and it goes on where it stopped, so the work stays linear. */
#define IO_FIRST_READ (256u << 10)

static int read_at(int fd, uint8_t *buf, size_t n, uint64_t off, size_t *ret_got)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*ret_got = got;
	return 0;
}

/* The header buffer is one reservation of address space, as large as the
 * header may be (GGUF_MAX_HEADER_BYTES, or the file if smaller), filled
 * as the parser asks: growing never moves or copies it, and only the pages
 * read are ever touched. It is advised for transparent huge pages: a
 * 128k-token vocabulary makes an 8 MB header, and faulting that in 4 KiB at
 * a time costs more than parsing it. */
#define IO_HUGE (2u << 20)

static uint8_t *buf_reserve(uint64_t file_size, size_t *ret_size)
{
	uint64_t want = file_size < GGUF_MAX_HEADER_BYTES ? file_size : GGUF_MAX_HEADER_BYTES;
	size_t sz = (size_t)((want + IO_HUGE - 1) / IO_HUGE * IO_HUGE);
	void *p;

	if (sz == 0)
		sz = IO_HUGE;
	p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, sz, MADV_HUGEPAGE);
	*ret_size = sz;
	return p;
}

void io_buffers_init(struct io_buffers *b)
{
	memset(b, 0, sizeof(*b));
}

void io_buffers_release(struct io_buffers *b)
{
	for (size_t i = 0; i < b->n; i++)
		munmap(b->v[i], GGUF_MAX_HEADER_BYTES);
	b->n = 0;
}

struct io_gguf *io_gguf_free(struct io_gguf *g)
{
	if (!g)
		return NULL;
	gguf_file_free(g->gf);
	if (g->buf && !g->mapped && g->pool && g->pool->n < IO_BUFFERS_MAX)
		g->pool->v[g->pool->n++] = g->buf;
	else if (g->buf)
		munmap(g->buf, g->buf_reserved);
	free(g->path);
	free(g);
	return NULL;
}

static int open_regular(const char *path, struct stat *st, struct diag *d)
{
	int fd, e;

	/* O_NONBLOCK so that opening a FIFO does not wait for a writer; the
	 * fstat below refuses it before any read */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		e = -errno;
		return diag_set(d, e, DIAG_NO_OFFSET, "cannot open: %s", strerror(-e));
	}
	if (fstat(fd, st) < 0) {
		e = -errno;
		close(fd);
		return diag_set(d, e, DIAG_NO_OFFSET, "cannot stat: %s", strerror(-e));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return diag_set(d, -EINVAL, DIAG_NO_OFFSET, "not a regular file (%s)",
				S_ISDIR(st->st_mode) ? "a directory" :
				S_ISFIFO(st->st_mode) ? "a FIFO" :
				S_ISCHR(st->st_mode) ? "a character device" :
				S_ISBLK(st->st_mode) ? "a block device" :
				S_ISSOCK(st->st_mode) ? "a socket" : "not a file");
	}
	return fd;
}

static int gguf_open(const char *path, struct io_buffers *pool, unsigned flags, struct io_gguf **ret,
		     struct diag *d)
{
	struct io_gguf *g;
	struct stat st;
	uint64_t want, need = 0, parser_size = 0;
	struct gguf_parser *parser = NULL;
	int fd, e;

	fd = open_regular(path, &st, d);
	if (fd < 0)
		return fd;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->path = strdup(path))) {
		free(g);
		close(fd);
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	g->file_size = (uint64_t)st.st_size;
	if ((flags & IO_OPEN_MAP) && !pool && g->file_size > 0) {
		/* the header's bytes as the file's own pages: no copy and
		 * no zeroed anonymous pages (half the time of a large
		 * vocabulary's header); made resident as the parser asks,
		 * by MADV_POPULATE_READ, whose failure (an older kernel, or
		 * a file that shrank) falls back to reading below */
		size_t ml = (size_t)(g->file_size < GGUF_MAX_HEADER_BYTES ? g->file_size : GGUF_MAX_HEADER_BYTES);
		void *p = mmap(NULL, ml, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p != MAP_FAILED) {
			g->buf = p;
			g->buf_reserved = ml;
			g->mapped = true;
		}
	}
	if (g->mapped) {
		/* mapped above */
	} else if (pool && pool->n) {
		g->buf = pool->v[--pool->n];
		g->buf_reserved = GGUF_MAX_HEADER_BYTES;
	} else {
		/* a pooled buffer fits any file */
		g->buf = buf_reserve(pool ? GGUF_MAX_HEADER_BYTES : g->file_size, &g->buf_reserved);
	}
	g->pool = pool;
	if (!g->buf) {
		free(g->path);
		free(g);
		close(fd);
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
restart:
	want = g->file_size < IO_FIRST_READ ? g->file_size : IO_FIRST_READ;
	for (;;) {
		size_t got = 0;

		if (want > g->buf_len && g->mapped) {
			size_t from = g->buf_len & ~(size_t)4095;

			if (madvise(g->buf + from, (size_t)want - from, MADV_POPULATE_READ) < 0) {
				/* read it instead, from the start */
				munmap(g->buf, g->buf_reserved);
				g->mapped = false;
				g->buf_len = 0;
				g->buf = buf_reserve(g->file_size, &g->buf_reserved);
				gguf_file_free(g->gf);
				g->gf = NULL;
				gguf_parser_free(parser);
				parser = NULL;
				if (!g->buf) {
					e = diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
					break;
				}
				goto restart;
			}
			g->buf_len = (size_t)want;
		} else if (want > g->buf_len) {
			e = read_at(fd, g->buf + g->buf_len, want - g->buf_len, g->buf_len, &got);
			if (e < 0) {
				diag_set(d, e, g->buf_len, "read error: %s", strerror(-e));
				break;
			}
			if (got < want - g->buf_len) {
				/* the file shrank after fstat: parse what is
				 * there against the size now known */
				g->buf_len += got;
				g->file_size = g->buf_len;
			} else {
				g->buf_len = want;
			}
		}
		if (!parser || parser_size != g->file_size) {
			/* first round, or the file shrank: start over */
			gguf_parser_free(parser);
			parser = gguf_parser_new(g->file_size);
			parser_size = g->file_size;
			if (!parser) {
				e = diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
				break;
			}
			if (flags & IO_OPEN_LONG_STRINGS)
				gguf_parser_set_flags(parser, GGUF_PARSE_LONG_STRINGS);
		}
		e = gguf_parser_feed(parser, g->buf, g->buf_len, &g->gf, &need, d);
		if (e != -EAGAIN)
			break;
		/* what the parser asks for (for a large array or the tensor
		 * infos, its guess at all of them), and at least
		 * IO_FIRST_READ more: the parser goes on where it stopped, so
		 * a short guess costs a read, not a second pass */
		want = g->buf_len + IO_FIRST_READ;
		if (want < need)
			want = need;
		if (want > g->file_size)
			want = g->file_size;
		if (want > GGUF_MAX_HEADER_BYTES)
			want = GGUF_MAX_HEADER_BYTES;
	}
	close(fd);
	gguf_parser_free(parser);
	if (e < 0) {
		io_gguf_free(g);
		return e;
	}
	*ret = g;
	return 0;
}

int io_gguf_open(const char *path, struct io_gguf **ret, struct diag *d)
{
	return gguf_open(path, NULL, 0, ret, d);
}

/* ---- split models ---- */

struct io_model *io_model_free(struct io_model *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_parts; i++)
		io_gguf_free(m->parts[i]);
	free(m->parts);
	free(m);
	return NULL;
}

static int get_u(const struct gguf_file *f, const char *key, uint32_t type, uint64_t *ret)
{
	int64_t i = gguf_kv_find(f, key);

	if (i < 0)
		return -ENOENT;
	if (f->kvs[i].type != type)
		return -EINVAL;
	return gguf_kv_get_uint(f, (uint64_t)i, ret) < 0 ? -EINVAL : 0;
}

int io_split_name(const char *path, size_t *ret_prefix, unsigned *ret_no, unsigned *ret_count)
{
	size_t n = strlen(path);
	const char *s;
	unsigned no = 0, count = 0;

	/* "-NNNNN-of-NNNNN.gguf" is 20 bytes */
	if (n < 21)
		return -EINVAL;
	s = path + n - 20;
	if (s[0] != '-' || memcmp(s + 6, "-of-", 4) != 0 || strcmp(s + 15, ".gguf") != 0)
		return -EINVAL;
	for (int i = 0; i < 5; i++) {
		if (s[1 + i] < '0' || s[1 + i] > '9' || s[10 + i] < '0' || s[10 + i] > '9')
			return -EINVAL;
		no = no * 10 + (unsigned)(s[1 + i] - '0');
		count = count * 10 + (unsigned)(s[10 + i] - '0');
	}
	*ret_prefix = n - 20;
	*ret_no = no;
	*ret_count = count;
	return 0;
}

static int model_fail(char **ret_bad_path, const char *path, int e)
{
	if (ret_bad_path && !*ret_bad_path)
		*ret_bad_path = strdup(path);
	return e;
}

static int model_add(struct io_model *m, struct io_gguf *g)
{
	struct io_gguf **np = realloc(m->parts, (m->n_parts + 1) * sizeof(*np));

	if (!np)
		return -ENOMEM;
	m->parts = np;
	m->parts[m->n_parts++] = g;
	m->n_tensors += g->gf->n_tensors;
	m->file_bytes += g->file_size;
	for (uint64_t i = 0; i < g->gf->n_tensors; i++)
		m->data_bytes += g->gf->tensors[i].nbytes;
	return 0;
}

static int model_open(const char *path, struct io_buffers *pool, unsigned flags, struct io_model **ret,
		      struct diag *d, char **ret_bad_path)
{
	struct io_model *m;
	struct io_gguf *g = NULL;
	uint64_t count = 1, no = 0;
	size_t prefix;
	unsigned name_no, name_count;
	int e;

	if (ret_bad_path)
		*ret_bad_path = NULL;
	e = gguf_open(path, pool, flags, &g, d);
	if (e < 0)
		return e;
	m = calloc(1, sizeof(*m));
	if (!m) {
		io_gguf_free(g);
		return diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
	}
	e = get_u(g->gf, "split.count", GGUF_TYPE_UINT16, &count);
	if (e == -ENOENT) {
		count = 1;
	} else if (e < 0 || count == 0) {
		int64_t k = gguf_kv_find(g->gf, "split.count");

		e = diag_set(d, -EBADMSG, g->gf->kvs[k].off, "split.count must be a uint16 of at least 1");
		goto fail_g;
	}
	if (count == 1) {
		e = model_add(m, g);
		if (e < 0)
			goto fail_g;
		*ret = m;
		return 0;
	}
	if (io_split_name(path, &prefix, &name_no, &name_count) < 0 || name_count != count) {
		e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
			     "split.count is %llu but the name does not end in -NNNNN-of-%05llu.gguf, so the other parts cannot be found",
			     (unsigned long long)count, (unsigned long long)count);
		goto fail_g;
	}
	io_gguf_free(g);
	g = NULL;
	for (uint64_t i = 0; i < count; i++) {
		char *pp = malloc(prefix + 64);
		uint64_t c2 = 0;

		if (!pp) {
			e = diag_set(d, -ENOMEM, DIAG_NO_OFFSET, "out of memory");
			goto fail;
		}
		memcpy(pp, path, prefix);
		snprintf(pp + prefix, 64, "-%05llu-of-%05llu.gguf", (unsigned long long)i + 1,
			 (unsigned long long)count);
		e = gguf_open(pp, pool, flags, &g, d);
		if (e < 0) {
			if (e == -ENOENT)
				diag_set(d, e, DIAG_NO_OFFSET, "part %llu of %llu is missing",
					 (unsigned long long)i + 1, (unsigned long long)count);
			model_fail(ret_bad_path, pp, e);
			free(pp);
			goto fail;
		}
		if (get_u(g->gf, "split.count", GGUF_TYPE_UINT16, &c2) < 0 || c2 != count) {
			e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				     "split.count is missing or differs from the first part's %llu",
				     (unsigned long long)count);
			model_fail(ret_bad_path, pp, e);
			free(pp);
			goto fail_g;
		}
		if (get_u(g->gf, "split.no", GGUF_TYPE_UINT16, &no) < 0 || no != i) {
			e = diag_set(d, -EBADMSG, DIAG_NO_OFFSET,
				     "split.no is missing or is not %llu for part %llu",
				     (unsigned long long)i, (unsigned long long)i + 1);
			model_fail(ret_bad_path, pp, e);
			free(pp);
			goto fail_g;
		}
		free(pp);
		for (uint64_t t = 0; t < g->gf->n_tensors; t++) {
			struct gguf_str nm = gguf_tensor_name(g->gf, t);
			char name[GGUF_MAX_NAME];

			memcpy(name, nm.p, nm.n);
			name[nm.n] = '\0';
			for (size_t p = 0; p < m->n_parts; p++) {
				if (gguf_tensor_find(m->parts[p]->gf, name) >= 0) {
					e = diag_set(d, -EBADMSG, g->gf->tensors[t].off,
						     "tensor '%s' also appears in part %zu", name, p + 1);
					model_fail(ret_bad_path, g->path, e);
					goto fail_g;
				}
			}
		}
		e = model_add(m, g);
		if (e < 0)
			goto fail_g;
		g = NULL;
	}
	{
		struct io_gguf *first = m->parts[0];
		int64_t k = gguf_kv_find(first->gf, "split.tensors.count");
		int64_t tc;

		if (k < 0 || first->gf->kvs[k].type != GGUF_TYPE_INT32 ||
		    gguf_kv_get_int(first->gf, (uint64_t)k, &tc) < 0 || tc < 0 ||
		    (uint64_t)tc != m->n_tensors) {
			e = diag_set(d, -EBADMSG, k >= 0 ? first->gf->kvs[k].off : DIAG_NO_OFFSET,
				     "split.tensors.count is missing or does not match the %llu tensors in the %llu parts",
				     (unsigned long long)m->n_tensors, (unsigned long long)count);
			model_fail(ret_bad_path, first->path, e);
			goto fail;
		}
	}
	*ret = m;
	return 0;
fail_g:
	io_gguf_free(g);
fail:
	io_model_free(m);
	return e;
}

int io_model_open(const char *path, struct io_model **ret, struct diag *d, char **ret_bad_path)
{
	return model_open(path, NULL, 0, ret, d, ret_bad_path);
}

int io_model_open_flags(const char *path, unsigned flags, struct io_model **ret, struct diag *d,
			char **ret_bad_path)
{
	return model_open(path, NULL, flags, ret, d, ret_bad_path);
}

int io_model_open_pooled(const char *path, struct io_buffers *pool, struct io_model **ret,
			 struct diag *d, char **ret_bad_path)
{
	return model_open(path, pool, 0, ret, d, ret_bad_path);
}
