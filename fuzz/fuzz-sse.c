/* fuzz-sse.c: libFuzzer target over a backend's streamed answer: the
 * server-sent-events parser (tr_sse_feed/tr_sse_end) and the translation
 * of each event into Ollama's NDJSON (tr_stream_event/tr_stream_finish).
 *
 * Byte 0: api (bits 0-1), backend (bits 2-4, mod 5), a small event cap
 * (bit 5: 512 bytes instead of TR_SSE_CAP). Byte 1 seeds the chunk sizes.
 * The rest is the response body.
 *
 * Checked: the events do not depend on how the body is cut into reads
 * (the whole body at once against 1 to 64 byte chunks); the NDJSON
 * written is one JSON object per line, nothing after the final line, and
 * at most one final line; -ENOMEM never happens. */
#include "base/compat.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "serve/translate.h"

#include "fuzz-util.h"

#define T_START INT64_C(1754331765000000000)

/* Each event as type, NUL, 8-byte length, data. */
static int collect(void *arg, const char *event, const char *data, size_t len)
{
	struct sbuf *sb = arg;

	FUZZ_CHECK(data[len] == '\0');
	FUZZ_CHECK(event && event[0]);
	if (sbuf_add(sb, event, strlen(event) + 1) || sbuf_add_u64le(sb, len) ||
	    sbuf_add(sb, data, len))
		abort();
	return 0;
}

struct drive {
	struct tr_stream st;
	struct sbuf out;
	struct diag d;
	int64_t now;
	int rc; /* the first error of tr_stream_event */
};

static void check_lines(const struct sbuf *out, size_t from, bool *final_seen)
{
	size_t pos = from;

	FUZZ_CHECK(out->len == from || out->buf[out->len - 1] == '\n');
	while (pos < out->len) {
		const char *nl = memchr(out->buf + pos, '\n', out->len - pos);
		size_t len = (size_t)(nl - (out->buf + pos));
		json_t *j;

		FUZZ_CHECK(nl != NULL);
		j = json_loadb(out->buf + pos, len, 0, NULL);
		FUZZ_CHECK(json_is_object(j));
		if (json_is_true(json_object_get(j, "done"))) {
			FUZZ_CHECK(!*final_seen);
			*final_seen = true;
		}
		json_decref(j);
		pos += len + 1;
	}
}

static bool final_seen;

static int drive_event(void *arg, const char *event, const char *data, size_t len)
{
	struct drive *dr = arg;
	size_t before = dr->out.len;
	bool was_done = dr->st.done;
	int rc;

	(void)event;
	dr->now += 1000000;
	rc = tr_stream_event(&dr->st, data, len, dr->now, &dr->out, &dr->d);
	FUZZ_CHECK(rc != -ENOMEM);
	if (was_done)
		FUZZ_CHECK(rc == 0 && dr->out.len == before);
	check_lines(&dr->out, before, &final_seen);
	if (rc < 0) {
		FUZZ_CHECK(dr->st.done && dr->st.failed);
		FUZZ_CHECK(dr->d.msg[0] != '\0');
		if (!dr->rc)
			dr->rc = rc;
	}
	return rc;
}

static int feed_chunked(struct tr_sse *s, const uint8_t *p, size_t n, uint32_t seed, tr_sse_fn fn,
			void *arg, struct diag *d)
{
	size_t off = 0;
	int rc = 0;

	while (off < n && rc == 0) {
		size_t k = 1 + fuzz_rand(&seed) % 64;

		if (k > n - off)
			k = n - off;
		rc = tr_sse_feed(s, p + off, k, fn, arg, d);
		off += k;
	}
	if (rc == 0 && off < n)
		abort();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf whole, chunked;
	struct tr_sse s;
	struct tr_meta m;
	struct drive dr;
	struct diag d;
	size_t cap;
	uint32_t seed;
	uint8_t cfg;
	int rc1, rc2, end1, end2;

	if (size < 2)
		return 0;
	cfg = data[0];
	cap = (cfg & 0x20) ? 512 : 0;
	seed = 0x01000193u * (data[1] + 1u);
	data += 2;
	size -= 2;

	/* the events, from the whole body and from chunks */
	sbuf_init(&whole, (size_t)1 << 30);
	sbuf_init(&chunked, (size_t)1 << 30);
	diag_init(&d);
	tr_sse_init(&s, cap);
	rc1 = tr_sse_feed(&s, data, size, collect, &whole, &d);
	FUZZ_CHECK(rc1 == 0 || rc1 == -E2BIG);
	if (rc1 < 0)
		FUZZ_CHECK(tr_sse_feed(&s, "\n\n", 2, collect, &whole, &d) == rc1);
	end1 = rc1 ? rc1 : tr_sse_end(&s, &d);
	tr_sse_release(&s);

	diag_init(&d);
	tr_sse_init(&s, cap);
	rc2 = feed_chunked(&s, data, size, seed, collect, &chunked, &d);
	end2 = rc2 ? rc2 : tr_sse_end(&s, &d);
	tr_sse_release(&s);
	FUZZ_CHECK(rc1 == rc2 && end1 == end2);
	FUZZ_CHECK(whole.len == chunked.len && !memcmp(whole.buf, chunked.buf, whole.len));
	sbuf_release(&whole);
	sbuf_release(&chunked);

	/* the daemon's path: chunks in, NDJSON out */
	memset(&m, 0, sizeof(m));
	m.model = "qwen3:0.6b";
	m.api = (enum tr_api)(cfg & 3);
	m.backend = (enum tr_backend)(((cfg >> 2) & 7) % 5);
	m.start_ns = T_START;
	m.load_ns = 1000;
	memset(&dr, 0, sizeof(dr));
	tr_stream_init(&dr.st, &m);
	sbuf_init(&dr.out, (size_t)1 << 30);
	diag_init(&dr.d);
	dr.now = T_START;
	final_seen = false;
	tr_sse_init(&s, cap);
	rc1 = feed_chunked(&s, data, size, seed, drive_event, &dr, &d);
	if (rc1 == 0) {
		size_t before = dr.out.len;
		bool was_done = dr.st.done;

		(void)tr_sse_end(&s, &d);
		diag_init(&dr.d);
		rc2 = tr_stream_finish(&dr.st, dr.now + 1, &dr.out, &dr.d);
		FUZZ_CHECK(rc2 != -ENOMEM);
		FUZZ_CHECK(dr.st.done);
		if (was_done)
			FUZZ_CHECK(rc2 == 0 && dr.out.len == before);
		check_lines(&dr.out, before, &final_seen);
		if (rc2 < 0)
			FUZZ_CHECK(dr.st.failed && dr.d.msg[0]);
		else
			FUZZ_CHECK(final_seen || dr.st.failed);
	} else {
		FUZZ_CHECK(rc1 == dr.rc || rc1 == -E2BIG);
	}
	tr_sse_release(&s);
	tr_stream_release(&dr.st);
	sbuf_release(&dr.out);
	return 0;
}
