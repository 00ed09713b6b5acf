/* fuzz-util.h: helpers shared by the libFuzzer targets (header-only: each
 * target is one translation unit linked against build-fuzz/libfuzz.a). */
#ifndef LLMEM_FUZZ_UTIL_H
#define LLMEM_FUZZ_UTIL_H

#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the code under test does not hold: report it and abort,
 * so libFuzzer keeps the input as a crash. */
#define FUZZ_CHECK(cond)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* p[0..n) as a NUL-terminated heap string (exactly n + 1 bytes, so ASan
 * sees a read past the end). Aborts when out of memory. */
static inline char *fuzz_strndup(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* A small deterministic generator for chunk sizes and the like. */
static inline uint32_t fuzz_rand(uint32_t *state)
{
	uint32_t x = *state ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/* The file the parsers that take a path read: one memfd per process
 * (reused, truncated for each input), opened by them through
 * /proc/self/fd/N. Returns its path, or NULL when memfd_create is not
 * available (the caller skips the input). */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	size_t off = 0;

	if (fd < 0) {
		fd = memfd_create("llmem-fuzz", MFD_CLOEXEC);
		if (fd < 0)
			return NULL;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0)
		abort();
	while (off < size) {
		ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	return path;
}

#endif
