/* fuzz-translate.c: libFuzzer target over the serve daemon's translation of
 * what clients and the backend send (serve/translate.c), and the duration
 * parsers. The first byte picks what the rest is:
 *
 *   0-3  an Ollama request body for tr_request_parse(api = byte & 3): on
 *        success the translated body is dumped and read back, and the
 *        load/unload answer made;
 *   4    byte 1 = api (bits 0-1), backend (bits 2-4, mod 5), dimensions
 *        (bits 5-7); the rest a backend's whole answer for tr_response();
 *   5    byte 1 = HTTP status - 300; the rest a backend's error body for
 *        tr_error_from_backend() (and a message for tr_error_openai());
 *   6    a keep_alive: as JSON for tr_keep_alive(), as text for
 *        tr_go_duration() and parse_duration_ms(), which must agree with
 *        tr_keep_alive() on a string (both are Ollama's keep_alive);
 *   7    "\n"-separated Host, bind address, Origin, allowed origins
 *        (","-separated), Authorization, key, model name for the request
 *        checks.
 *
 * Every failure must leave a message the daemon can answer with; -ENOMEM
 * never happens here (libFuzzer aborts on a real allocation failure), so a
 * -ENOMEM is a JSON value that jansson refused (text that is not UTF-8). */
#include "base/compat.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/parse.h"
#include "serve/translate.h"

#include "fuzz-util.h"

#define T_START INT64_C(1754331765000000000) /* 2025-08-04T18:22:45Z */
#define T_NOW (T_START + INT64_C(1234567891))

/* The daemon answers a failed request with tr_error_ollama(d.msg). */
static void check_failure(int rc, const struct diag *d)
{
	json_t *e;

	FUZZ_CHECK(rc < 0);
	FUZZ_CHECK(rc != -ENOMEM);
	FUZZ_CHECK(d->code == rc);
	FUZZ_CHECK(d->msg[0] != '\0');
	e = tr_error_ollama(d->msg);
	FUZZ_CHECK(e != NULL);
	json_decref(e);
}

/* v dumps (as the daemon sends it) to JSON that reads back: as a request
 * (tr_dump) to the same value, every number exact; as an answer line
 * (tr_dump_line) to one line of JSON ending in its only newline. */
static void check_dump(const json_t *v)
{
	struct sbuf sb;
	size_t len = 0;
	char *s = tr_dump(v, &len);
	json_t *back;

	FUZZ_CHECK(s != NULL);
	back = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	FUZZ_CHECK(back != NULL);
	FUZZ_CHECK(json_equal(back, (json_t *)v));
	json_decref(back);
	sbuf_init(&sb, (size_t)1 << 30);
	FUZZ_CHECK(tr_dump_line(v, &sb) == 0);
	FUZZ_CHECK(sb.len >= 2 && sb.buf[sb.len - 1] == '\n' && !memchr(sb.buf, '\n', sb.len - 1));
	back = json_loadb(sb.buf, sb.len - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	FUZZ_CHECK(back != NULL);
	json_decref(back);
	sbuf_release(&sb);
	free(s);
}

static void fuzz_request(enum tr_api api, const uint8_t *p, size_t n)
{
	struct tr_request req;
	struct tr_meta m;
	struct diag d;
	json_t *j;
	int rc;

	diag_init(&d);
	rc = tr_request_parse(api, (const char *)p, n, &req, &d);
	if (rc < 0) {
		check_failure(rc, &d);
		FUZZ_CHECK(req.body == NULL);
		tr_request_release(&req);
		return;
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(tr_model_name_ok(req.model));
	FUZZ_CHECK(memchr(req.ignored, '\0', sizeof(req.ignored)) != NULL);
	if (req.action == TR_ACT_INFER) {
		FUZZ_CHECK(req.body != NULL && req.backend != TR_BE_NONE);
		FUZZ_CHECK(tr_backend_path(req.backend)[0] == '/');
		check_dump(req.body);
		if (json_object_get(req.body, "stream"))
			FUZZ_CHECK(json_is_true(json_object_get(req.body, "stream")) == req.stream);
	} else {
		FUZZ_CHECK(req.body == NULL && req.backend == TR_BE_NONE);
	}
	if (req.keep_alive_set && req.keep_alive_ms < 0)
		FUZZ_CHECK(req.keep_alive_ms == -1);
	tr_meta_init(&m, &req, T_START, T_NOW, 0);
	j = tr_load_response(&m, req.action == TR_ACT_UNLOAD ? TR_ACT_UNLOAD : TR_ACT_LOAD);
	FUZZ_CHECK(j != NULL);
	check_dump(j);
	json_decref(j);
	tr_request_release(&req);
	FUZZ_CHECK(req.body == NULL);
}

static void fuzz_response(const uint8_t *p, size_t n)
{
	struct tr_meta m;
	struct diag d;
	json_t *out = NULL;
	int rc;

	if (n < 1)
		return;
	memset(&m, 0, sizeof(m));
	m.model = "llama3.2:1b";
	m.api = (enum tr_api)(p[0] & 3);
	m.backend = (enum tr_backend)(((p[0] >> 2) & 7) % 5);
	m.dimensions = p[0] >> 5;
	m.start_ns = T_START;
	m.now_ns = T_NOW;
	m.load_ns = 250000000;
	diag_init(&d);
	rc = tr_response(&m, (const char *)p + 1, n - 1, &out, &d);
	if (rc < 0) {
		check_failure(rc, &d);
		FUZZ_CHECK(out == NULL);
		return;
	}
	FUZZ_CHECK(rc == 0 && out != NULL);
	check_dump(out);
	json_decref(out);
}

static void fuzz_error(const uint8_t *p, size_t n)
{
	json_t *e;
	char *msg;
	int status;

	if (n < 1)
		return;
	status = 300 + p[0];
	e = tr_error_from_backend(status, (const char *)p + 1, n - 1);
	FUZZ_CHECK(e != NULL);
	FUZZ_CHECK(json_string_length(json_object_get(e, "error")) > 0);
	check_dump(e);
	json_decref(e);
	msg = fuzz_strndup(p + 1, n - 1);
	e = tr_error_openai(status, msg);
	FUZZ_CHECK(e != NULL);
	json_decref(e);
	free(msg);
}

/* Within a second of the 292-year limit the two may round differently
 * (Go's float fraction against whole milliseconds). */
static bool near_limit(int64_t ms)
{
	return ms > INT64_MAX / 1000000 - 1000;
}

/* A bare number of seconds with more fraction digits than a double
 * holds: tr_keep_alive() computes it as Go does (through a float), and
 * parse_duration_ms() exactly: they may differ by the last millisecond,
 * or by a nanosecond's sign. */
static bool float_digits(const char *s)
{
	const char *dot = strchr(s, '.');

	return dot && strspn(dot + 1, "0123456789") > 15;
}

static void fuzz_duration(const uint8_t *p, size_t n)
{
	struct diag d;
	json_t *v;
	int64_t ms = 0, ns = 0, ms2 = 0;
	bool present = false;
	char *s;
	int rc, rc2;

	/* as the JSON value of "keep_alive" */
	diag_init(&d);
	v = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (v) {
		rc = tr_keep_alive(v, &ms, &present, &d);
		if (rc < 0)
			check_failure(rc, &d);
		else if (present)
			FUZZ_CHECK(ms >= -1);
		json_decref(v);
	}

	/* as Go's time.ParseDuration */
	diag_init(&d);
	rc = tr_go_duration((const char *)p, n, &ns, &d);
	if (rc < 0) {
		FUZZ_CHECK(rc == -EINVAL || rc == -ERANGE);
		check_failure(rc, &d);
	}

	/* the keep_alive of a preset or OLLAMA_KEEP_ALIVE, against the
	 * keep_alive of a request: the same string, the same duration */
	if (memchr(p, '\0', n))
		return;
	s = fuzz_strndup(p, n);
	rc = parse_duration_ms(s, &ms);
	if (rc < 0)
		FUZZ_CHECK(rc == -EINVAL || rc == -ERANGE);
	else
		FUZZ_CHECK(ms >= -1);
	v = json_stringn(s, n);
	if (v) {
		diag_init(&d);
		rc2 = tr_keep_alive(v, &ms2, &present, &d);
		json_decref(v);
		if ((rc == 0) != (rc2 == 0) || (rc == 0 && ms != ms2)) {
			if ((rc == 0 && near_limit(ms)) || (rc2 == 0 && near_limit(ms2)) ||
			    (rc == 0 && rc2 == 0 && float_digits(s) && ms - ms2 <= 1 &&
			     ms2 - ms <= 1)) {
				free(s);
				return;
			}
			fprintf(stderr,
				"keep_alive \"%s\": parse_duration_ms %d (%" PRId64
				" ms), tr_keep_alive %d (%" PRId64 " ms: %s)\n",
				s, rc, rc ? 0 : ms, rc2, rc2 ? 0 : ms2, d.msg);
			abort();
		}
	}
	free(s);
}

/* The next "\n"-separated field of p[0..n) from *pos, as a heap string. */
static char *field(const uint8_t *p, size_t n, size_t *pos)
{
	const uint8_t *nl;
	size_t start = *pos, len;

	if (start >= n)
		return fuzz_strndup("", 0);
	nl = memchr(p + start, '\n', n - start);
	len = nl ? (size_t)(nl - (p + start)) : n - start;
	*pos = start + len + 1;
	return fuzz_strndup(p + start, len);
}

static void fuzz_checks(const uint8_t *p, size_t n)
{
	size_t pos = 0, n_allow = 0;
	char *host = field(p, n, &pos), *bind = field(p, n, &pos), *origin = field(p, n, &pos);
	char *allow_s = field(p, n, &pos), *auth = field(p, n, &pos), *key = field(p, n, &pos);
	char *model = field(p, n, &pos);
	const char *allow[16];
	const char *const star[1] = { "*" };
	char *q, *bearer;
	size_t kl = strlen(key);

	(void)tr_host_allowed(host, bind, 11434);
	(void)tr_host_allowed(host, NULL, 0);
	(void)tr_host_allowed(host[0] ? host : NULL, "127.0.0.1", 8080);
	/* not bound to loopback: every Host */
	FUZZ_CHECK(tr_host_allowed(host, "0.0.0.0", 11434));

	for (q = allow_s; n_allow < ARRAY_SIZE(allow);) {
		char *c = strchr(q, ',');

		allow[n_allow++] = q;
		if (!c)
			break;
		*c = '\0';
		q = c + 1;
	}
	(void)tr_origin_allowed(origin, allow, n_allow);
	FUZZ_CHECK(tr_origin_allowed(origin, star, 1));
	FUZZ_CHECK(tr_origin_allowed(origin[0] ? origin : NULL, NULL, 0) || origin[0]);

	(void)tr_bearer_ok(auth, key);
	(void)tr_bearer_ok(auth, NULL);
	FUZZ_CHECK(!tr_bearer_ok(auth, ""));
	/* a key is always accepted in its own header */
	bearer = malloc(kl + 8);
	if (!bearer)
		abort();
	memcpy(bearer, "Bearer ", 7);
	memcpy(bearer + 7, key, kl + 1);
	if (kl && key[0] != ' ' && key[0] != '\t' && key[kl - 1] != ' ' && key[kl - 1] != '\t')
		FUZZ_CHECK(tr_bearer_ok(bearer, key));
	free(bearer);

	/* a valid model name is JSON text, and the answers can carry it */
	if (tr_model_name_ok(model)) {
		json_t *j = json_string(model);

		FUZZ_CHECK(j != NULL && strlen(model) <= TR_MODEL_MAX);
		json_decref(j);
	}
	free(host);
	free(bind);
	free(origin);
	free(allow_s);
	free(auth);
	free(key);
	free(model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 7) {
	case 0:
	case 1:
	case 2:
	case 3:
		fuzz_request((enum tr_api)(data[0] & 3), data + 1, size - 1);
		break;
	case 4:
		fuzz_response(data + 1, size - 1);
		break;
	case 5:
		fuzz_error(data + 1, size - 1);
		break;
	case 6:
		fuzz_duration(data + 1, size - 1);
		break;
	default:
		fuzz_checks(data + 1, size - 1);
		break;
	}
	return 0;
}
