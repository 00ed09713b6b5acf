/* read-util.c: reading small files under the probe's root, and notes.
 * The names of the probe's enums are in names.c. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe/probe-int.h"
#include "probe/probe.h"

int probe_path_join(char *buf, size_t bufsz, const char *root, const char *rel)
{
	size_t rl;
	int n;

	if (!root || !*root)
		root = "/";
	while (*rel == '/')
		rel++;
	rl = strlen(root);
	n = snprintf(buf, bufsz, "%s%s%s", root, rl && root[rl - 1] == '/' ? "" : "/", rel);
	if (n < 0 || (size_t)n >= bufsz)
		return -ENAMETOOLONG;
	return 0;
}

int probe_file_read(const char *root, const char *rel, char **buf, size_t *ret_n)
{
	char path[PROBE_PATH_MAX * 2];
	size_t len = 0, alloc = 4096;
	char *b;
	int fd, e;

	e = probe_path_join(path, sizeof(path), root, rel);
	if (e < 0)
		return e;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	b = malloc(alloc + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r;

		if (len == alloc) {
			char *nb;

			if (alloc >= PROBE_FILE_MAX) {
				e = -E2BIG;
				goto fail;
			}
			alloc *= 2;
			nb = realloc(b, alloc + 1);
			if (!nb) {
				e = -ENOMEM;
				goto fail;
			}
			b = nb;
		}
		r = read(fd, b + len, alloc - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	b[len] = '\0';
	*buf = b;
	*ret_n = len;
	return 0;
fail:
	close(fd);
	free(b);
	return e;
}

void probe_note(struct probe_result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n_notes >= PROBE_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(r->notes[r->n_notes++], PROBE_NOTE_MAX, fmt, ap);
	va_end(ap);
}
