/* fuzz-backend-log.c: libFuzzer target over what a backend (llama-server)
 * writes and what /proc says about it (serve/backend.c): its output fed
 * to backend_log_feed() (which hands each line to
 * backend_report_parse_line()) and the kept tail, and the text of
 * /proc/PID/status for backend_rss_parse().
 *
 * Byte 0 seeds the chunk sizes and the length of the output before the
 * input (fed unparsed, so the 64 KiB tail has wrapped); the rest is the
 * output (and, as it is, a status file). Checked: the report and the tail
 * do not depend on how the output is cut into reads (all at once against
 * 1 to 4096 byte chunks); the tail is at most what was asked for; the
 * pools of the buffers found add up. */
#include "base/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "serve/backend.h"

#include "fuzz-util.h"

/* Both are large (about 68 KiB and 40 KiB): kept off the stack. */
static struct backend_log lg1, lg2;
static struct backend_report rep1, rep2;
static char tail1[BACKEND_TAIL_MAX + 1], tail2[BACKEND_TAIL_MAX + 1];

static void check_report(const struct backend_report *r)
{
	uint64_t pool[1 + 8];

	FUZZ_CHECK(r->n_bufs <= BACKEND_MAX_BUFS);
	FUZZ_CHECK(memchr(r->oom_line, '\0', sizeof(r->oom_line)) != NULL);
	FUZZ_CHECK(memchr(r->fail_line, '\0', sizeof(r->fail_line)) != NULL);
	for (size_t i = 0; i < r->n_bufs; i++) {
		const struct backend_buf *b = &r->bufs[i];
		size_t dl = strnlen(b->device, sizeof(b->device));

		FUZZ_CHECK(dl > 0 && dl < sizeof(b->device));
		FUZZ_CHECK((unsigned)b->kind < BACKEND_BUF_KINDS);
		(void)backend_device_pool(b->device);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(r->bufs[j].kind != b->kind || strcmp(r->bufs[j].device, b->device));
	}
	(void)backend_report_pool_bytes(r, 8, pool);
}

static bool same_report(const struct backend_report *a, const struct backend_report *b)
{
	if (a->n_bufs != b->n_bufs || a->bufs_overflow != b->bufs_overflow ||
	    a->listening != b->listening || a->oom != b->oom || a->load_failed != b->load_failed ||
	    a->bind_failed != b->bind_failed || a->n_lines != b->n_lines ||
	    strcmp(a->oom_line, b->oom_line) || strcmp(a->fail_line, b->fail_line))
		return false;
	for (size_t i = 0; i < a->n_bufs; i++)
		if (strcmp(a->bufs[i].device, b->bufs[i].device) ||
		    a->bufs[i].kind != b->bufs[i].kind || a->bufs[i].bytes != b->bufs[i].bytes)
			return false;
	return true;
}

/* Output before the input, so the tail's ring has wrapped: fed with no
 * report (nothing parses it), lines of 79 bytes. */
#define FILLER_MAX (BACKEND_TAIL_MAX + 512)
#define INPUT_MAX (1u << 20)
static char filler[FILLER_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *cat;
	uint64_t anon = 0, file = 0;
	uint32_t seed;
	size_t off = 0, n1, n2, fl, small;
	const char *p;
	int rc;

	if (size < 1 || size - 1 > INPUT_MAX)
		return 0;
	if (!filler[0]) {
		for (size_t i = 0; i < FILLER_MAX; i++)
			filler[i] = i % 80 == 79 ? '\n' : 'f';
		cat = malloc(FILLER_MAX + INPUT_MAX);
		if (!cat)
			abort();
	}
	seed = 0x01000193u * (data[0] + 1u);
	fl = BACKEND_TAIL_MAX - 4096 + (data[0] * 97u) % (4096 + 512);
	fl -= fl % 80; /* whole lines */
	p = (const char *)data + 1;
	size--;

	/* the input alone, at once */
	backend_log_init(&lg1);
	backend_report_init(&rep1);
	backend_log_feed(&lg1, &rep1, p, size);
	backend_log_flush(&lg1, &rep1);
	check_report(&rep1);
	n1 = backend_log_tail(&lg1, tail1, sizeof(tail1));
	FUZZ_CHECK(n1 <= size && tail1[n1] == '\0');
	small = 1 + (data[0] % 200);
	n2 = backend_log_tail(&lg1, tail2, small);
	FUZZ_CHECK(n2 < small && tail2[n2] == '\0');
	FUZZ_CHECK(backend_log_tail(&lg1, tail2, 0) == 0);

	/* after the filler, in chunks: the same report */
	backend_log_init(&lg2);
	backend_report_init(&rep2);
	backend_log_feed(&lg2, NULL, filler, fl);
	while (off < size) {
		size_t k = 1 + fuzz_rand(&seed) % 4096;

		if (k > size - off)
			k = size - off;
		backend_log_feed(&lg2, &rep2, p + off, k);
		off += k;
	}
	backend_log_flush(&lg2, &rep2);
	FUZZ_CHECK(same_report(&rep1, &rep2));

	/* the filler and the input in one piece: the same tail */
	memcpy(cat, filler, fl);
	memcpy(cat + fl, p, size);
	backend_log_init(&lg1);
	backend_log_feed(&lg1, NULL, cat, fl + size);
	backend_log_flush(&lg1, NULL);
	/* the whole ring now and then (copying 64 KiB is most of the time
	 * this target takes), else a part of it */
	small = data[0] % 8 == 0 ? sizeof(tail1) : 1 + (data[0] * 61u) % 16384;
	n1 = backend_log_tail(&lg1, tail1, small);
	n2 = backend_log_tail(&lg2, tail2, small);
	FUZZ_CHECK(n1 == n2 && !memcmp(tail1, tail2, n1 + 1));
	FUZZ_CHECK(n1 < small && tail1[n1] == '\0');
	backend_log_release(&lg1);
	backend_log_release(&lg2);

	/* the same text as /proc/PID/status */
	rc = backend_rss_parse(p, size, &anon, &file);
	FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EBADMSG || rc == -ERANGE);
	return 0;
}
