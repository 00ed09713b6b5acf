/* io.h: the only code that opens model files. Reads a GGUF header with
 * pread into a bounded buffer (a file truncated while it is read ends in
 * an error), or, for a one-shot command that asks (IO_OPEN_MAP), maps it,
 * finds the parts of a split model, and writes synthesized files (sparse
 * where the data is absent). */
#ifndef LLMEM_IO_IO_H
#define LLMEM_IO_IO_H

#include "base/compat.h"
#include "base/diag.h"
#include "gguf/gguf.h"

/* Header buffers kept from one file to the next, for a reader that opens
 * many files in turn (`llmem recommend`): a kept buffer's pages are not
 * zeroed again by the kernel for every file. One per thread. */
#define IO_BUFFERS_MAX 4
struct io_buffers {
	size_t n;
	uint8_t *v[IO_BUFFERS_MAX]; /* each GGUF_MAX_HEADER_BYTES of address space */
};

void io_buffers_init(struct io_buffers *b);
void io_buffers_release(struct io_buffers *b);

/* One opened GGUF file: its header bytes and what they say. */
struct io_gguf {
	char *path;
	uint8_t *buf;         /* header bytes read so far (owned: a mapping
	                       * of buf_reserved bytes) */
	size_t buf_len;
	size_t buf_reserved;
	uint64_t file_size;
	struct gguf_file *gf; /* borrows buf */
	struct io_buffers *pool; /* where buf goes back to, or NULL */
	bool mapped;          /* buf maps the file (IO_OPEN_MAP) */
};

/* Opens path, refuses anything but a regular file before reading, and
 * parses its header. Returns 0 and *ret (free with io_gguf_free()), or a
 * negative errno with *d filled (offset DIAG_NO_OFFSET for errors that
 * are not about a byte of the file, such as -ENOENT or a FIFO). */
int io_gguf_open(const char *path, struct io_gguf **ret, struct diag *d) ATTR_WUR;

/* Frees g (NULL is fine); returns NULL. */
struct io_gguf *io_gguf_free(struct io_gguf *g);

/* A model: one file, or every part of a split model in order. */
struct io_model {
	size_t n_parts;
	struct io_gguf **parts;
	uint64_t n_tensors; /* across all parts */
	uint64_t data_bytes;/* across all parts, unpadded tensor bytes */
	uint64_t file_bytes;/* sizes of all the part files */
};

/* Opens path; when it is a part of a split model (its split.count > 1 and
 * its name ends in -NNNNN-of-NNNNN.gguf), opens every part, checks
 * split.no, split.count and split.tensors.count, and that no tensor
 * appears twice. On failure *ret_bad_path, when not NULL, gets a copy of
 * the path of the part the failure is about (the caller frees it), or
 * NULL when it is path itself. */
int io_model_open(const char *path, struct io_model **ret, struct diag *d,
		  char **ret_bad_path) ATTR_WUR;

/* The same; with IO_OPEN_LONG_STRINGS each string array's long strings
 * are listed (GGUF_PARSE_LONG_STRINGS: what the tokenizer's heap, for the
 * resident-memory prediction, is computed from). With IO_OPEN_MAP each
 * header is a read-only mapping of its file (falling back to reading it
 * where the kernel cannot populate one): the header of a large vocabulary
 * in half the time, but a file truncated while it is open then raises
 * SIGBUS on the next access of the bytes it lost, in this code or the
 * caller's. Only for a process that exits after use and handles SIGBUS
 * (the command line's one-shot commands; never the daemon). */
enum { IO_OPEN_LONG_STRINGS = 1u << 0, IO_OPEN_MAP = 1u << 1 };
int io_model_open_flags(const char *path, unsigned flags, struct io_model **ret, struct diag *d,
			char **ret_bad_path) ATTR_WUR;

/* The same, taking header buffers from pool and giving them back to it
 * when *ret is freed (pool must outlive *ret). */
int io_model_open_pooled(const char *path, struct io_buffers *pool, struct io_model **ret,
			 struct diag *d, char **ret_bad_path) ATTR_WUR;

/* Frees m (NULL is fine); returns NULL. */
struct io_model *io_model_free(struct io_model *m);

/* Splits "DIR/NAME-00001-of-00003.gguf" into the length of its prefix
 * ("DIR/NAME") and the two numbers (1 and 3). Returns 0, or -EINVAL when
 * the name is not of that form. */
int io_split_name(const char *path, size_t *ret_prefix, unsigned *ret_no, unsigned *ret_count) ATTR_WUR;

/* Writes w's file to path: the header, then each tensor's data from
 * data(userdata, i, buf, n) when data is not NULL, else a hole. The file
 * is extended to its full size with ftruncate, so a 40 GB model whose
 * data is a hole costs a few kilobytes of disk. Returns 0 or -errno. */
typedef int io_tensor_data_fn(void *userdata, uint64_t i, uint8_t *buf, uint64_t n);
int io_gguf_write(const char *path, const struct gguf_writer *w, io_tensor_data_fn *data,
		  void *userdata) ATTR_WUR;

#endif
