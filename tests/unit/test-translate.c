/* test-translate.c: serve/translate against real llama-server answers
 * (tests/fixtures/serve, captured from llama.cpp de3ff81; see its README)
 * and Ollama's documented requests: requests translated both ways, streams
 * fed whole and byte by byte, hostile SSE, keep_alive and Go durations, and
 * the Host, Origin, bearer and model-name checks. Table-driven. */
#include "base/compat.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "serve/translate.h"

#define FIXTURES "tests/fixtures/serve"
#define T0 INT64_C(1795775982000000000) /* 2026-11-27T10:39:42Z, the fixtures' "created" */
#define T0_STR "2026-11-27T10:39:42Z"

/* ---------------------------------------------------------------- helpers */

static char *slurp(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s (run the tests from the repository root)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static json_t *js(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);

	if (!v)
		fail_msg("bad test JSON (%s): %s", je.text, text);
	return v;
}

static void assert_json_eq(const json_t *got, const char *want_text, const char *label)
{
	json_t *want = js(want_text);

	if (!json_equal(got, want)) {
		char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
			      : NULL;
		char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		print_error("%s:\n  got  %s\n  want %s\n", label, g ? g : "(null)", w);
		free(g);
		free(w);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

static void assert_contains(const char *hay, const char *needle, const char *label)
{
	if (!strstr(hay, needle)) {
		print_error("%s: \"%s\" does not contain \"%s\"\n", label, hay, needle);
		fail();
	}
}

/* NDJSON text as an array of parsed lines; every line must end in "\n". */
static json_t *ndjson(const char *text, size_t len)
{
	json_t *a = json_array();
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		json_error_t je;
		json_t *v;

		assert_non_null(nl);
		v = json_loadb(text + i, (size_t)(nl - text - i), 0, &je);
		if (!v)
			fail_msg("line is not JSON (%s): %.*s", je.text, (int)(nl - text - i),
				 text + i);
		json_array_append_new(a, v);
		i = (size_t)(nl - text) + 1;
	}
	return a;
}

/* ---------------------------------------------------------------- keep_alive */

struct ka_case {
	const char *json; /* NULL: absent */
	int rc;
	bool present;
	int64_t ms;
};

static const struct ka_case ka_cases[] = {
	{ NULL, 0, false, 0 },
	{ "null", 0, false, 0 },
	{ "0", 0, true, 0 },
	{ "300", 0, true, 300000 },
	{ "1.5", 0, true, 1500 },
	{ "0.0005", 0, true, 0 },
	{ "-1", 0, true, -1 },
	{ "-0.5", 0, true, -1 },
	{ "9223372036", 0, true, 9223372036000 },
	{ "9223372037", -ERANGE, true, 0 },
	{ "1e300", -ERANGE, true, 0 },
	{ "\"5m\"", 0, true, 300000 },
	{ "\"1h30m\"", 0, true, 5400000 },
	{ "\"1.5h\"", 0, true, 5400000 },
	{ "\"300ms\"", 0, true, 300 },
	{ "\"2h45m30.5s\"", 0, true, 9930500 },
	{ "\".5s\"", 0, true, 500 },
	{ "\"5.s\"", 0, true, 5000 },
	{ "\"+5s\"", 0, true, 5000 },
	{ "\"-1m\"", 0, true, -1 },
	{ "\"-0\"", 0, true, 0 },
	{ "\"0\"", 0, true, 0 },
	{ "\"999us\"", 0, true, 0 },
	{ "\"1500\xc2\xb5s\"", 0, true, 1 },   /* micro sign */
	{ "\"1500\xce\xbcs\"", 0, true, 1 },   /* Greek mu */
	{ "\"300\"", 0, true, 300000 },        /* bare seconds, as OLLAMA_KEEP_ALIVE */
	{ "\"2.5\"", 0, true, 2500 },
	{ "\"-1\"", 0, true, -1 },
	{ "\"2562047h\"", 0, true, INT64_C(9223369200000) },
	{ "\"9223372036854775807ns\"", 0, true, INT64_C(9223372036854) },
	{ "\"-9223372036854775808ns\"", 0, true, -1 },
	{ "\"2562048h\"", -ERANGE, false, 0 },
	{ "\"9223372036854775808ns\"", -ERANGE, false, 0 },
	{ "\"99999999999999999999s\"", -ERANGE, false, 0 },
	{ "\"1h2562047h\"", -ERANGE, false, 0 },
	{ "\"\"", -EINVAL, false, 0 },
	{ "\"5x\"", -EINVAL, false, 0 },
	{ "\"5 m\"", -EINVAL, false, 0 },
	{ "\" 5m\"", -EINVAL, false, 0 },
	{ "\"m\"", -EINVAL, false, 0 },
	{ "\".s\"", -EINVAL, false, 0 },
	{ "\"-\"", -EINVAL, false, 0 },
	{ "\"--5m\"", -EINVAL, false, 0 },
	{ "\"5m-\"", -EINVAL, false, 0 },
	{ "\"1.2.3\"", -EINVAL, false, 0 },
	{ "\"5M\"", -EINVAL, false, 0 },
	{ "\"1d\"", -EINVAL, false, 0 },
	{ "\"5m3\"", -EINVAL, false, 0 },
	{ "\"forever\"", -EINVAL, false, 0 },
	{ "true", -EINVAL, false, 0 },
	{ "[]", -EINVAL, false, 0 },
	{ "{}", -EINVAL, false, 0 },
};

static void test_keep_alive(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ka_cases); i++) {
		const struct ka_case *c = &ka_cases[i];
		json_t *v = c->json ? js(c->json) : NULL;
		struct diag d;
		int64_t ms = 12345;
		bool present = true;
		int rc;

		diag_init(&d);
		rc = tr_keep_alive(v, &ms, &present, &d);
		if (rc != c->rc)
			fail_msg("keep_alive %s: rc %d, want %d (%s)", c->json ? c->json : "(absent)",
				 rc, c->rc, d.msg);
		if (rc == 0) {
			if (present != c->present || ms != c->ms)
				fail_msg("keep_alive %s: present %d ms %lld, want %d %lld", c->json,
					 present, (long long)ms, c->present, (long long)c->ms);
		} else {
			assert_contains(d.msg, "keep_alive", c->json);
		}
		json_decref(v);
	}
}

struct dur_case {
	const char *s;
	int rc;
	int64_t ns;
};

/* Go's time.ParseDuration's own test table, the parts that apply. */
static const struct dur_case dur_cases[] = {
	{ "0", 0, 0 },
	{ "5s", 0, INT64_C(5000000000) },
	{ "30s", 0, INT64_C(30000000000) },
	{ "1478s", 0, INT64_C(1478000000000) },
	{ "-5s", 0, INT64_C(-5000000000) },
	{ "+5s", 0, INT64_C(5000000000) },
	{ "-0", 0, 0 },
	{ "+0", 0, 0 },
	{ "5.0s", 0, INT64_C(5000000000) },
	{ "5.6s", 0, INT64_C(5600000000) },
	{ "5.s", 0, INT64_C(5000000000) },
	{ ".5s", 0, INT64_C(500000000) },
	{ "1.0s", 0, INT64_C(1000000000) },
	{ "1.00s", 0, INT64_C(1000000000) },
	{ "1.004s", 0, INT64_C(1004000000) },
	{ "1.0040s", 0, INT64_C(1004000000) },
	{ "100.00100s", 0, INT64_C(100001000000) },
	{ "10ns", 0, 10 },
	{ "11us", 0, 11000 },
	{ "12\xc2\xb5s", 0, 12000 },
	{ "12\xce\xbcs", 0, 12000 },
	{ "13ms", 0, 13000000 },
	{ "14s", 0, INT64_C(14000000000) },
	{ "15m", 0, INT64_C(900000000000) },
	{ "16h", 0, INT64_C(57600000000000) },
	{ "3h30m", 0, INT64_C(12600000000000) },
	{ "10.5s4m", 0, INT64_C(250500000000) },
	{ "-2m3.4s", 0, INT64_C(-123400000000) },
	{ "1h2m3s4ms5us6ns", 0, INT64_C(3723004005006) },
	{ "39h9m14.425s", 0, INT64_C(140954425000000) },
	{ "52763797000ns", 0, INT64_C(52763797000) },
	{ "0.3333333333333333333h", 0, INT64_C(1200000000000) },
	{ "9007199254740993ns", 0, INT64_C(9007199254740993) },
	{ "9223372036854775807ns", 0, INT64_MAX },
	{ "9223372036854775.807us", 0, INT64_MAX },
	{ "9223372036s854ms775us807ns", 0, INT64_MAX },
	{ "-9223372036854775808ns", 0, INT64_MIN },
	{ "-9223372036854775.808us", 0, INT64_MIN },
	{ "-9223372036s854ms775us808ns", 0, INT64_MIN },
	{ "0.100000000000000000000h", 0, INT64_C(360000000000) },
	{ "0.830103483285477580700h", 0, INT64_C(2988372539827) },
	{ "", -EINVAL, 0 },
	{ "3", -EINVAL, 0 },
	{ "-", -EINVAL, 0 },
	{ "s", -EINVAL, 0 },
	{ ".", -EINVAL, 0 },
	{ "-.", -EINVAL, 0 },
	{ ".s", -EINVAL, 0 },
	{ "+.s", -EINVAL, 0 },
	{ "1d", -EINVAL, 0 },
	{ "\x85\x85", -EINVAL, 0 },
	{ "9223372036854775808ns", -ERANGE, 0 },
	{ "9223372036854775.808us", -ERANGE, 0 },
	{ "-9223372036854775809ns", -ERANGE, 0 },
	{ "3000000h", -ERANGE, 0 },
};

static void test_go_duration(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(dur_cases); i++) {
		const struct dur_case *c = &dur_cases[i];
		struct diag d;
		int64_t ns = 777;
		int rc;

		diag_init(&d);
		rc = tr_go_duration(c->s, strlen(c->s), &ns, &d);
		if (rc != c->rc || (rc == 0 && ns != c->ns))
			fail_msg("duration \"%s\": rc %d ns %lld, want %d %lld (%s)", c->s, rc,
				 (long long)ns, c->rc, (long long)c->ns, d.msg);
		if (rc)
			assert_true(d.msg[0] != '\0');
	}
}

/* ---------------------------------------------------------------- time */

static void test_time(void **state)
{
	static const struct {
		int64_t ns;
		const char *s;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ T0, T0_STR },
		{ INT64_C(1691177539385406455), "2023-08-04T19:32:19.385406455Z" },
		{ INT64_C(1702389223416799000), "2023-12-12T13:53:43.416799Z" },
		{ INT64_C(1709251199100000000), "2024-02-29T23:59:59.1Z" },
		{ INT64_C(4102444800123456789), "2100-01-01T00:00:00.123456789Z" },
		{ -1, "1969-12-31T23:59:59.999999999Z" },
		{ INT64_MIN, "1677-09-21T00:12:43.145224192Z" },
		{ INT64_MAX, "2262-04-11T23:47:16.854775807Z" },
	};
	char buf[TR_TIME_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int n = tr_time_rfc3339(cases[i].ns, buf, sizeof(buf));

		assert_string_equal(buf, cases[i].s);
		assert_int_equal(n, (int)strlen(cases[i].s));
	}
	assert_int_equal(tr_time_rfc3339(0, buf, 10), -ENOSPC);
}

/* ---------------------------------------------------------------- requests */

struct req_case {
	const char *name;
	enum tr_api api;
	const char *in;
	int rc;
	enum tr_action act;
	enum tr_backend be;
	const char *body;    /* the expected backend body, or NULL (none) */
	const char *ignored; /* expected req.ignored, or NULL: not checked */
	const char *msg;     /* on error, a part of the message */
};

#define PNG_1PX                                                                         \
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ" \
	"RU5ErkJggg=="
#define TOOLS                                                                             \
	"[{\"type\":\"function\",\"function\":{\"name\":\"get_current_weather\","              \
	"\"description\":\"Get the current weather for a location\",\"parameters\":{\"type\":" \
	"\"object\",\"properties\":{\"location\":{\"type\":\"string\",\"description\":"        \
	"\"The location\"},\"format\":{\"type\":\"string\",\"enum\":[\"celsius\","             \
	"\"fahrenheit\"]}},\"required\":[\"location\",\"format\"]}}}]"
#define SCHEMA                                                                   \
	"{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\"},"         \
	"\"available\":{\"type\":\"boolean\"}},\"required\":[\"age\",\"available\"]}"
#define USER_Q "[{\"role\":\"user\",\"content\":\"why is the sky blue?\"}]"
#define STREAM_ON "\"stream\":true,\"stream_options\":{\"include_usage\":true}"

static const struct req_case req_cases[] = {
	/* /api/chat, from Ollama's docs/api.md */
	{ "chat streaming (the default)", TR_API_CHAT,
	  "{\"model\":\"llama3.2\",\"messages\":" USER_Q "}", 0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"llama3.2\"," STREAM_ON ",\"messages\":" USER_Q "}", "", NULL },
	{ "chat no streaming", TR_API_CHAT,
	  "{\"model\":\"llama3.2\",\"messages\":" USER_Q ",\"stream\":false}", 0, TR_ACT_INFER,
	  TR_BE_CHAT, "{\"model\":\"llama3.2\",\"stream\":false,\"messages\":" USER_Q "}", "",
	  NULL },
	{ "chat every option", TR_API_CHAT,
	  "{\"model\":\"llama3.2\",\"messages\":" USER_Q ",\"stream\":false,\"options\":{"
	  "\"num_keep\":5,\"seed\":42,\"num_predict\":100,\"top_k\":20,\"top_p\":0.9,"
	  "\"min_p\":0.0,\"typical_p\":0.7,\"repeat_last_n\":33,\"temperature\":0.8,"
	  "\"repeat_penalty\":1.2,\"presence_penalty\":1.5,\"frequency_penalty\":1.0,"
	  "\"mirostat\":1,\"mirostat_tau\":0.8,\"mirostat_eta\":0.6,\"penalize_newline\":true,"
	  "\"stop\":[\"\\n\",\"user:\"],\"numa\":false,\"num_ctx\":1024,\"num_batch\":2,"
	  "\"num_gpu\":1,\"main_gpu\":0,\"low_vram\":false,\"vocab_only\":false,"
	  "\"use_mmap\":true,\"use_mlock\":false,\"num_thread\":8}}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"llama3.2\",\"stream\":false,\"messages\":" USER_Q ",\"n_keep\":5,"
	  "\"seed\":42,\"max_tokens\":100,\"top_k\":20,\"top_p\":0.9,\"min_p\":0.0,"
	  "\"typical_p\":0.7,\"repeat_last_n\":33,\"temperature\":0.8,\"repeat_penalty\":1.2,"
	  "\"presence_penalty\":1.5,\"frequency_penalty\":1.0,\"mirostat\":1,"
	  "\"mirostat_tau\":0.8,\"mirostat_eta\":0.6,\"stop\":[\"\\n\",\"user:\"]}",
	  "penalize_newline, numa, num_ctx, num_batch, num_gpu, main_gpu, low_vram, "
	  "vocab_only, use_mmap, use_mlock, num_thread",
	  NULL },
	{ "chat options Ollama-lenient", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"stream\":false,\"options\":{"
	  "\"top_k\":20.7,\"num_predict\":-1,\"stop\":\"END\",\"seed\":null,\"tfs_z\":1,"
	  "\"wibble\\u0001\":1}}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"m\",\"stream\":false,\"messages\":" USER_Q ",\"top_k\":20,"
	  "\"stop\":[\"END\"]}",
	  "tfs_z, wibble?", NULL },
	{ "chat num_predict 0 is no limit", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"stream\":false,\"options\":{\"num_predict\":0}}",
	  0, TR_ACT_INFER, TR_BE_CHAT, "{\"model\":\"m\",\"stream\":false,\"messages\":" USER_Q "}",
	  "", NULL },
	{ "chat format json, think false", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"stream\":false,\"format\":\"json\","
	  "\"think\":false}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"m\",\"stream\":false,\"messages\":" USER_Q ","
	  "\"response_format\":{\"type\":\"json_object\"},\"reasoning_effort\":\"none\","
	  "\"chat_template_kwargs\":{\"enable_thinking\":false}}",
	  "", NULL },
	{ "chat structured output", TR_API_CHAT,
	  "{\"model\":\"llama3.1\",\"messages\":" USER_Q ",\"stream\":false,\"format\":" SCHEMA
	  ",\"options\":{\"temperature\":0}}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"llama3.1\",\"stream\":false,\"messages\":" USER_Q ",\"temperature\":0,"
	  "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"format\","
	  "\"schema\":" SCHEMA "}}}",
	  "", NULL },
	{ "chat empty format is none", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"format\":\"\",\"think\":null}", 0,
	  TR_ACT_INFER, TR_BE_CHAT, "{\"model\":\"m\"," STREAM_ON ",\"messages\":" USER_Q "}", "",
	  NULL },
	{ "chat think true", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"think\":true}", 0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"m\"," STREAM_ON ",\"messages\":" USER_Q ","
	  "\"chat_template_kwargs\":{\"enable_thinking\":true}}",
	  "", NULL },
	{ "chat think high", TR_API_CHAT,
	  "{\"model\":\"gpt-oss\",\"messages\":" USER_Q ",\"think\":\"high\"}", 0, TR_ACT_INFER,
	  TR_BE_CHAT,
	  "{\"model\":\"gpt-oss\"," STREAM_ON ",\"messages\":" USER_Q ",\"reasoning_effort\":\"high\"}",
	  "", NULL },
	{ "chat tools", TR_API_CHAT,
	  "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the "
	  "weather today in Paris?\"}],\"stream\":false,\"tools\":" TOOLS "}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"llama3.2\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"What is the weather today in Paris?\"}],\"tools\":" TOOLS "}",
	  "", NULL },
	{ "chat tool round trip", TR_API_CHAT,
	  "{\"model\":\"llama3.2\",\"stream\":false,\"tools\":[],\"messages\":["
	  "{\"role\":\"user\",\"content\":\"weather in Paris?\"},"
	  "{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"use the tool\",\"tool_calls\":["
	  "{\"id\":\"call_0\",\"function\":{\"index\":0,\"name\":\"get_current_weather\","
	  "\"arguments\":{\"format\":\"celsius\",\"location\":\"Paris, FR\"}}},"
	  "{\"function\":{\"name\":\"noop\"}}]},"
	  "{\"role\":\"tool\",\"content\":\"22 degrees\",\"tool_name\":\"get_current_weather\","
	  "\"tool_call_id\":\"call_0\"}]}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"llama3.2\",\"stream\":false,\"messages\":["
	  "{\"role\":\"user\",\"content\":\"weather in Paris?\"},"
	  "{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"use the tool\","
	  "\"tool_calls\":[{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":"
	  "\"get_current_weather\",\"arguments\":"
	  "\"{\\\"format\\\":\\\"celsius\\\",\\\"location\\\":\\\"Paris, FR\\\"}\"}},"
	  "{\"type\":\"function\",\"function\":{\"name\":\"noop\",\"arguments\":\"{}\"}}]},"
	  "{\"role\":\"tool\",\"content\":\"22 degrees\",\"name\":\"get_current_weather\","
	  "\"tool_call_id\":\"call_0\"}]}",
	  "", NULL },
	{ "chat images", TR_API_CHAT,
	  "{\"model\":\"llava\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"what is in this image?\",\"images\":[\"" PNG_1PX "\",\"/9j/4AAQ\\r\\nSkZJRg==\","
	  "\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\"]},{\"role\":\"user\",\"content\":\"\","
	  "\"images\":[\"UklGRg==\"]}]}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"llava\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":["
	  "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," PNG_1PX "\"}},"
	  "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/4AAQSkZJRg==\"}},"
	  "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\"}},"
	  "{\"type\":\"text\",\"text\":\"what is in this image?\"}]},"
	  "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
	  "\"data:image/webp;base64,UklGRg==\"}}]}]}",
	  "", NULL },
	{ "chat non-ASCII", TR_API_CHAT,
	  "{\"model\":\"qwen3:8b\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"\xe7\xa9\xba\xe3\x81\xaf\xe3\x81\xaa\xe3\x81\x9c\xe9\x9d\x92\xe3\x81\x84? \\u2600\\ufe0f\"}]}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"qwen3:8b\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"\xe7\xa9\xba\xe3\x81\xaf\xe3\x81\xaa\xe3\x81\x9c\xe9\x9d\x92\xe3\x81\x84? \xe2\x98\x80\xef\xb8\x8f\"}]}",
	  "", NULL },
	{ "chat newer fields noted", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"logprobs\":true,\"top_logprobs\":3,"
	  "\"truncate\":false,\"keep_alive\":\"10m\"}",
	  0, TR_ACT_INFER, TR_BE_CHAT, "{\"model\":\"m\"," STREAM_ON ",\"messages\":" USER_Q "}",
	  "logprobs, top_logprobs", NULL },
	/* the load / unload idioms */
	{ "chat load", TR_API_CHAT, "{\"model\":\"llama3.2\",\"messages\":[]}", 0, TR_ACT_LOAD,
	  TR_BE_NONE, NULL, "", NULL },
	{ "chat load, no messages", TR_API_CHAT, "{\"model\":\"llama3.2\"}", 0, TR_ACT_LOAD,
	  TR_BE_NONE, NULL, "", NULL },
	{ "chat unload", TR_API_CHAT, "{\"model\":\"llama3.2\",\"messages\":[],\"keep_alive\":0}",
	  0, TR_ACT_UNLOAD, TR_BE_NONE, NULL, "", NULL },
	{ "chat unload 500ms (whole seconds)", TR_API_CHAT,
	  "{\"model\":\"llama3.2\",\"messages\":[],\"keep_alive\":\"500ms\"}", 0, TR_ACT_UNLOAD,
	  TR_BE_NONE, NULL, "", NULL },
	{ "chat load 1s", TR_API_CHAT,
	  "{\"model\":\"llama3.2\",\"messages\":null,\"keep_alive\":\"1s\"}", 0, TR_ACT_LOAD,
	  TR_BE_NONE, NULL, "", NULL },
	{ "chat load forever", TR_API_CHAT,
	  "{\"model\":\"llama3.2\",\"messages\":[],\"keep_alive\":-1}", 0, TR_ACT_LOAD, TR_BE_NONE,
	  NULL, "", NULL },
	/* malformed requests */
	{ "not JSON", TR_API_CHAT, "{\"model\":", -EBADMSG, 0, 0, NULL, NULL, "not valid JSON" },
	{ "not an object", TR_API_CHAT, "[1,2]", -EBADMSG, 0, 0, NULL, NULL, "not a JSON object" },
	{ "no model", TR_API_CHAT, "{\"messages\":[]}", -EINVAL, 0, 0, NULL, NULL,
	  "model is required" },
	{ "model a number", TR_API_CHAT, "{\"model\":7}", -EBADMSG, 0, 0, NULL, NULL,
	  "\"model\" must be a string" },
	{ "model with a control", TR_API_CHAT, "{\"model\":\"a\\u0001b\"}", -EINVAL, 0, 0, NULL,
	  NULL, "invalid model name" },
	{ "model with a NUL", TR_API_CHAT, "{\"model\":\"a\\u0000b\"}", -EINVAL, 0, 0, NULL, NULL,
	  "invalid model name" },
	{ "messages a string", TR_API_CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", -EBADMSG, 0, 0,
	  NULL, NULL, "\"messages\" must be an array" },
	{ "message not an object", TR_API_CHAT, "{\"model\":\"m\",\"messages\":[\"hi\"]}", -EBADMSG,
	  0, 0, NULL, NULL, "messages[0] must be an object" },
	{ "message without role", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"x\"}]}",
	  -EBADMSG, 0, 0, NULL, NULL, "messages[1].role" },
	{ "message content parts", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
	  -EBADMSG, 0, 0, NULL, NULL, "messages[0].content must be a string" },
	{ "stream not a boolean", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"stream\":\"yes\"}", -EBADMSG, 0, 0, NULL,
	  NULL, "\"stream\" must be true or false" },
	{ "options not an object", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"options\":[]}", -EBADMSG, 0, 0, NULL, NULL,
	  "\"options\" must be an object" },
	{ "temperature a string", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"options\":{\"temperature\":\"hot\"}}",
	  -EBADMSG, 0, 0, NULL, NULL, "option \"temperature\" must be a number" },
	{ "top_k a string", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"options\":{\"top_k\":\"many\"}}", -EBADMSG,
	  0, 0, NULL, NULL, "option \"top_k\" must be an integer" },
	{ "seed out of range", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"options\":{\"seed\":1e300}}", -EBADMSG, 0, 0,
	  NULL, NULL, "option \"seed\" must be an integer" },
	{ "stop of numbers", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"options\":{\"stop\":[\"a\",1]}}", -EBADMSG,
	  0, 0, NULL, NULL, "option \"stop\" must be an array of strings (item 1" },
	{ "image not base64", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":"
	  "[\"" PNG_1PX "\",\"not base64!\"]}]}",
	  -EINVAL, 0, 0, NULL, NULL, "messages[0].images[1] is not base64" },
	{ "image empty", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"\"]}]}",
	  -EINVAL, 0, 0, NULL, NULL, "it is empty" },
	{ "image bad length", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"abcde\"]}]}",
	  -EINVAL, 0, 0, NULL, NULL, "its length is wrong" },
	{ "image padding inside", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"ab=cd\"]}]}",
	  -EINVAL, 0, 0, NULL, NULL, "is not base64" },
	{ "image a URL", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":"
	  "[\"http://169.254.169.254/latest\"]}]}",
	  -EINVAL, 0, 0, NULL, NULL, "is not base64" },
	{ "images not an array", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":\"a\"}]}",
	  -EBADMSG, 0, 0, NULL, NULL, "messages[0].images must be an array" },
	{ "format yaml", TR_API_CHAT, "{\"model\":\"m\",\"messages\":" USER_Q ",\"format\":\"yaml\"}",
	  -EINVAL, 0, 0, NULL, NULL, "invalid format \"yaml\"" },
	{ "format a number", TR_API_CHAT, "{\"model\":\"m\",\"messages\":" USER_Q ",\"format\":5}",
	  -EINVAL, 0, 0, NULL, NULL, "invalid format" },
	{ "think maybe", TR_API_CHAT, "{\"model\":\"m\",\"messages\":" USER_Q ",\"think\":\"maybe\"}",
	  -EINVAL, 0, 0, NULL, NULL, "think must be a boolean or string" },
	{ "keep_alive junk", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":" USER_Q ",\"keep_alive\":\"5 minutes\"}", -EINVAL, 0, 0,
	  NULL, NULL, "keep_alive" },
	{ "keep_alive a boolean", TR_API_CHAT, "{\"model\":\"m\",\"keep_alive\":true}", -EINVAL, 0,
	  0, NULL, NULL, "keep_alive must be a duration" },
	{ "tools a string", TR_API_CHAT, "{\"model\":\"m\",\"messages\":" USER_Q ",\"tools\":\"x\"}",
	  -EBADMSG, 0, 0, NULL, NULL, "\"tools\" must be an array" },
	{ "tool call without function", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"name\":\"f\"}]}]}",
	  -EBADMSG, 0, 0, NULL, NULL, "messages[0].tool_calls[0]" },
	{ "tool call arguments a number", TR_API_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
	  "{\"name\":\"f\",\"arguments\":3}}]}]}",
	  -EBADMSG, 0, 0, NULL, NULL, "arguments must be an object" },

	/* /api/generate */
	{ "generate streaming (docs)", TR_API_GENERATE,
	  "{\"model\":\"llama3.2\",\"prompt\":\"Why is the sky blue?\"}", 0, TR_ACT_INFER,
	  TR_BE_CHAT,
	  "{\"model\":\"llama3.2\"," STREAM_ON ",\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"Why is the sky blue?\"}]}",
	  "", NULL },
	{ "generate with system", TR_API_GENERATE,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"system\":\"be terse\",\"stream\":false,"
	  "\"options\":{\"seed\":123}}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"system\",\"content\":"
	  "\"be terse\"},{\"role\":\"user\",\"content\":\"p\"}],\"seed\":123}",
	  "", NULL },
	{ "generate structured output", TR_API_GENERATE,
	  "{\"model\":\"llama3.1:8b\",\"prompt\":\"Ollama is 22 years old. Respond using JSON\","
	  "\"stream\":false,\"format\":" SCHEMA "}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"llama3.1:8b\",\"stream\":false,\"messages\":[{\"role\":\"user\","
	  "\"content\":\"Ollama is 22 years old. Respond using JSON\"}],\"response_format\":"
	  "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"format\",\"schema\":" SCHEMA "}}}",
	  "", NULL },
	/* the client's numbers reach the backend exact: 9 digits would make
	 * the maximum 1.23456789e+09, a different grammar */
	{ "generate structured output, exact numbers", TR_API_GENERATE,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"stream\":false,\"format\":{\"type\":\"object\","
	  "\"properties\":{\"x\":{\"type\":\"number\",\"maximum\":1234567890.5,"
	  "\"minimum\":0.1000000000000000055511151231257827}}}}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"p\"}],"
	  "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"format\","
	  "\"schema\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\","
	  "\"maximum\":1234567890.5,\"minimum\":0.1}}}}}}",
	  "", NULL },
	{ "generate images", TR_API_GENERATE,
	  "{\"model\":\"llava\",\"prompt\":\"What is in this picture?\",\"stream\":false,"
	  "\"images\":[\"" PNG_1PX "\"]}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"llava\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":["
	  "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," PNG_1PX "\"}},"
	  "{\"type\":\"text\",\"text\":\"What is in this picture?\"}]}]}",
	  "", NULL },
	{ "generate template and context ignored", TR_API_GENERATE,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"template\":\"{{ .Prompt }}\",\"context\":[1,2,3],"
	  "\"stream\":false}",
	  0, TR_ACT_INFER, TR_BE_CHAT,
	  "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"p\"}]}",
	  "template, context", NULL },
	{ "generate raw (docs)", TR_API_GENERATE,
	  "{\"model\":\"mistral\",\"prompt\":\"[INST] why is the sky blue? [/INST]\",\"raw\":true,"
	  "\"stream\":false}",
	  0, TR_ACT_INFER, TR_BE_COMPLETIONS,
	  "{\"model\":\"mistral\",\"stream\":false,\"prompt\":\"[INST] why is the sky blue? [/INST]\"}",
	  "", NULL },
	{ "generate raw streamed, json, think", TR_API_GENERATE,
	  "{\"model\":\"m\",\"prompt\":\"<s>\",\"raw\":true,\"format\":\"json\",\"think\":true,"
	  "\"options\":{\"num_predict\":8}}",
	  0, TR_ACT_INFER, TR_BE_COMPLETIONS,
	  "{\"model\":\"m\"," STREAM_ON ",\"prompt\":\"<s>\",\"max_tokens\":8,"
	  "\"json_schema\":{\"type\":\"object\"}}",
	  "think", NULL },
	{ "generate suffix (docs)", TR_API_GENERATE,
	  "{\"model\":\"codellama:code\",\"prompt\":\"def compute_gcd(a, b):\",\"suffix\":"
	  "\"    return result\",\"options\":{\"temperature\":0},\"stream\":false}",
	  0, TR_ACT_INFER, TR_BE_INFILL,
	  "{\"model\":\"codellama:code\",\"stream\":false,\"input_prefix\":\"def compute_gcd(a, b):\","
	  "\"input_suffix\":\"    return result\",\"prompt\":\"\",\"temperature\":0}",
	  "", NULL },
	{ "generate suffix with a schema", TR_API_GENERATE,
	  "{\"model\":\"m\",\"prompt\":\"a\",\"suffix\":\"b\",\"format\":" SCHEMA "}", 0,
	  TR_ACT_INFER, TR_BE_INFILL,
	  "{\"model\":\"m\",\"stream\":true,\"input_prefix\":\"a\",\"input_suffix\":\"b\","
	  "\"prompt\":\"\",\"json_schema\":" SCHEMA "}",
	  "", NULL },
	{ "generate load (docs)", TR_API_GENERATE, "{\"model\":\"llama3.2\"}", 0, TR_ACT_LOAD,
	  TR_BE_NONE, NULL, "", NULL },
	{ "generate unload (docs)", TR_API_GENERATE, "{\"model\":\"llama3.2\",\"keep_alive\":0}", 0,
	  TR_ACT_UNLOAD, TR_BE_NONE, NULL, "", NULL },
	{ "generate load, images only", TR_API_GENERATE,
	  "{\"model\":\"llava\",\"prompt\":\"\",\"images\":[\"" PNG_1PX "\"]}", 0, TR_ACT_LOAD,
	  TR_BE_NONE, NULL, "", NULL },
	{ "generate raw with system", TR_API_GENERATE,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"raw\":true,\"system\":\"s\"}", -EINVAL, 0, 0, NULL,
	  NULL, "raw mode does not support template, system, or context" },
	{ "generate raw with images", TR_API_GENERATE,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"raw\":true,\"images\":[\"" PNG_1PX "\"]}", -ENOTSUP,
	  0, 0, NULL, NULL, "\"raw\": true" },
	{ "generate suffix with images", TR_API_GENERATE,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"suffix\":\"s\",\"images\":[\"" PNG_1PX "\"]}",
	  -ENOTSUP, 0, 0, NULL, NULL, "\"suffix\"" },
	{ "generate prompt a number", TR_API_GENERATE, "{\"model\":\"m\",\"prompt\":5}", -EBADMSG, 0,
	  0, NULL, NULL, "\"prompt\" must be a string" },
	{ "generate raw a string", TR_API_GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"raw\":\"1\"}",
	  -EBADMSG, 0, 0, NULL, NULL, "\"raw\" must be true or false" },

	/* /api/embed, /api/embeddings */
	{ "embed one (docs)", TR_API_EMBED,
	  "{\"model\":\"all-minilm\",\"input\":\"Why is the sky blue?\"}", 0, TR_ACT_INFER,
	  TR_BE_EMBEDDINGS,
	  "{\"model\":\"all-minilm\",\"input\":\"Why is the sky blue?\",\"encoding_format\":\"float\"}",
	  "", NULL },
	{ "embed many (docs)", TR_API_EMBED,
	  "{\"model\":\"all-minilm\",\"input\":[\"Why is the sky blue?\",\"Why is the grass green?\"],"
	  "\"truncate\":false,\"options\":{\"num_ctx\":512,\"temperature\":1},\"dimensions\":2}",
	  0, TR_ACT_INFER, TR_BE_EMBEDDINGS,
	  "{\"model\":\"all-minilm\",\"input\":[\"Why is the sky blue?\",\"Why is the grass green?\"],"
	  "\"encoding_format\":\"float\"}",
	  "num_ctx, temperature", NULL },
	{ "embed load", TR_API_EMBED, "{\"model\":\"all-minilm\",\"input\":[]}", 0, TR_ACT_LOAD,
	  TR_BE_NONE, NULL, "", NULL },
	{ "embed load, empty string", TR_API_EMBED, "{\"model\":\"all-minilm\",\"input\":\"\"}", 0,
	  TR_ACT_LOAD, TR_BE_NONE, NULL, "", NULL },
	{ "embed unload", TR_API_EMBED, "{\"model\":\"all-minilm\",\"keep_alive\":0}", 0,
	  TR_ACT_UNLOAD, TR_BE_NONE, NULL, "", NULL },
	{ "embed input of numbers", TR_API_EMBED, "{\"model\":\"m\",\"input\":[\"a\",[1,2]]}",
	  -EBADMSG, 0, 0, NULL, NULL, "invalid input type: input[1]" },
	{ "embed input a number", TR_API_EMBED, "{\"model\":\"m\",\"input\":5}", -EBADMSG, 0, 0,
	  NULL, NULL, "invalid input type" },
	{ "embed dimensions negative", TR_API_EMBED,
	  "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":-1}", -EBADMSG, 0, 0, NULL, NULL,
	  "\"dimensions\" must be a non-negative integer" },
	{ "embed truncate a string", TR_API_EMBED,
	  "{\"model\":\"m\",\"input\":\"a\",\"truncate\":\"no\"}", -EBADMSG, 0, 0, NULL, NULL,
	  "\"truncate\" must be true or false" },
	{ "embeddings (docs)", TR_API_EMBEDDINGS,
	  "{\"model\":\"all-minilm\",\"prompt\":\"Here is an article about llamas...\"}", 0,
	  TR_ACT_INFER, TR_BE_EMBEDDINGS,
	  "{\"model\":\"all-minilm\",\"input\":\"Here is an article about llamas...\","
	  "\"encoding_format\":\"float\",\"embd_normalize\":-1}",
	  "", NULL },
	{ "embeddings load", TR_API_EMBEDDINGS, "{\"model\":\"all-minilm\",\"prompt\":\"\"}", 0,
	  TR_ACT_LOAD, TR_BE_NONE, NULL, "", NULL },
	{ "embeddings prompt an array", TR_API_EMBEDDINGS, "{\"model\":\"m\",\"prompt\":[\"a\"]}",
	  -EBADMSG, 0, 0, NULL, NULL, "\"prompt\" must be a string" },
};

static void test_requests(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(req_cases); i++) {
		const struct req_case *c = &req_cases[i];
		struct tr_request req;
		struct diag d;
		int rc;

		diag_init(&d);
		rc = tr_request_parse(c->api, c->in, strlen(c->in), &req, &d);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, d.msg);
		if (rc) {
			assert_contains(d.msg, c->msg, c->name);
			assert_null(req.body);
			tr_request_release(&req);
			continue;
		}
		if (req.action != c->act || req.backend != c->be)
			fail_msg("%s: action %d backend %d, want %d %d", c->name, req.action,
				 req.backend, c->act, c->be);
		if (c->body)
			assert_json_eq(req.body, c->body, c->name);
		else
			assert_null(req.body);
		if (c->ignored && strcmp(req.ignored, c->ignored) != 0)
			fail_msg("%s: ignored \"%s\", want \"%s\"", c->name, req.ignored, c->ignored);
		if (req.body)
			assert_int_equal(json_is_true(json_object_get(req.body, "stream")) ? 1 : 0,
					 req.stream ? 1 : 0);
		assert_string_equal(tr_backend_path(req.backend),
				    c->be == TR_BE_CHAT		? "/v1/chat/completions"
				    : c->be == TR_BE_COMPLETIONS ? "/v1/completions"
				    : c->be == TR_BE_INFILL	? "/infill"
				    : c->be == TR_BE_EMBEDDINGS	? "/v1/embeddings"
								: "");
		tr_request_release(&req);
		assert_null(req.body);
	}
}

static void test_request_fields(void **state)
{
	struct tr_request req;
	struct diag d;
	const char *in;

	(void)state;
	diag_init(&d);
	in = "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
	     "\"keep_alive\":\"1h30m\",\"options\":{\"num_ctx\":8192}}";
	assert_int_equal(tr_request_parse(TR_API_CHAT, in, strlen(in), &req, &d), 0);
	assert_string_equal(req.model, "llama3.2");
	assert_true(req.stream);
	assert_true(req.keep_alive_set);
	assert_int_equal(req.keep_alive_ms, 5400000);
	assert_int_equal(req.num_ctx, 8192);
	assert_string_equal(req.ignored, "num_ctx");
	tr_request_release(&req);

	in = "{\"model\":\"all-minilm\",\"input\":\"x\",\"truncate\":false,\"dimensions\":64,"
	     "\"keep_alive\":-1}";
	assert_int_equal(tr_request_parse(TR_API_EMBED, in, strlen(in), &req, &d), 0);
	assert_false(req.stream);
	assert_false(req.truncate);
	assert_int_equal(req.dimensions, 64);
	assert_true(req.keep_alive_set);
	assert_int_equal(req.keep_alive_ms, -1);
	tr_request_release(&req);

	in = "{\"model\":\"all-minilm\",\"input\":\"x\"}";
	assert_int_equal(tr_request_parse(TR_API_EMBED, in, strlen(in), &req, &d), 0);
	assert_true(req.truncate);
	assert_false(req.keep_alive_set);
	tr_request_release(&req);

	/* an empty body, and one with trailing junk */
	assert_int_equal(tr_request_parse(TR_API_CHAT, "", 0, &req, &d), -EBADMSG);
	assert_string_equal(d.msg, "missing request body");
	tr_request_release(&req);
	in = "{\"model\":\"m\"} {}";
	assert_int_equal(tr_request_parse(TR_API_CHAT, in, strlen(in), &req, &d), -EBADMSG);
	tr_request_release(&req);

	/* ignored names are listed once, cut with "..." when too many */
	{
		char buf[4096];
		int n = snprintf(buf, sizeof(buf), "{\"model\":\"m\",\"messages\":" USER_Q
						   ",\"options\":{\"num_gpu\":1,\"num_gpu\":2");
		int k;

		for (k = 0; k < 60; k++)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, ",\"unknown_option_%02d\":1", k);
		snprintf(buf + n, sizeof(buf) - (size_t)n, "}}");
		assert_int_equal(tr_request_parse(TR_API_CHAT, buf, strlen(buf), &req, &d), 0);
		assert_true(strlen(req.ignored) < TR_IGNORED_MAX);
		assert_true(strncmp(req.ignored, "num_gpu, unknown_option_00, ", 28) == 0);
		assert_non_null(strstr(req.ignored, ", ..."));
		assert_string_equal(req.ignored + strlen(req.ignored) - 3, "...");
		tr_request_release(&req);
	}
}

/* ---------------------------------------------------------------- answers */

static void meta_for(struct tr_meta *m, const char *model, enum tr_api api, enum tr_backend be,
		     int64_t now, int64_t load)
{
	memset(m, 0, sizeof(*m));
	m->model = model;
	m->api = api;
	m->backend = be;
	m->start_ns = T0;
	m->now_ns = now;
	m->load_ns = load;
}

static void check_response(const struct tr_meta *m, const char *body, size_t len, int rc,
			   const char *want, const char *label)
{
	struct diag d;
	json_t *out = (json_t *)1;
	int got;

	diag_init(&d);
	got = tr_response(m, body, len, &out, &d);
	if (got != rc)
		fail_msg("%s: rc %d, want %d (%s)", label, got, rc, d.msg);
	if (rc) {
		assert_null(out);
		assert_contains(d.msg, want, label);
		return;
	}
	assert_json_eq(out, want, label);
	json_decref(out);
}

static void test_response_fixtures(void **state)
{
	struct tr_meta m;
	size_t len;
	char *b;

	(void)state;
	/* /v1/chat/completions -> /api/chat */
	b = slurp("chat.txt", &len);
	meta_for(&m, "llama3.2", TR_API_CHAT, TR_BE_CHAT, T0 + INT64_C(1500000000),
		 INT64_C(250000000));
	check_response(&m, b, len, 0,
		       "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-27T10:39:43.5Z\","
		       "\"message\":{\"role\":\"assistant\",\"content\":\"????????\"},"
		       "\"done_reason\":\"length\",\"done\":true,\"total_duration\":1500000000,"
		       "\"load_duration\":250000000,\"prompt_eval_count\":45,"
		       "\"prompt_eval_duration\":11179000,\"eval_count\":8,\"eval_duration\":17263000}",
		       "chat.txt as /api/chat");
	/* ... -> /api/generate */
	meta_for(&m, "llama3.2", TR_API_GENERATE, TR_BE_CHAT, T0 + 7, 0);
	check_response(&m, b, len, 0,
		       "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-27T10:39:42.000000007Z\","
		       "\"response\":\"????????\",\"done\":true,\"done_reason\":\"length\","
		       "\"total_duration\":7,\"load_duration\":0,\"prompt_eval_count\":45,"
		       "\"prompt_eval_duration\":11179000,\"eval_count\":8,\"eval_duration\":17263000}",
		       "chat.txt as /api/generate");
	/* a clock that went backwards: total_duration 0, never negative */
	meta_for(&m, "llama3.2", TR_API_GENERATE, TR_BE_CHAT, T0 - 5, -3);
	check_response(&m, b, len, 0,
		       "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-27T10:39:41.999999995Z\","
		       "\"response\":\"????????\",\"done\":true,\"done_reason\":\"length\","
		       "\"total_duration\":0,\"load_duration\":0,\"prompt_eval_count\":45,"
		       "\"prompt_eval_duration\":11179000,\"eval_count\":8,\"eval_duration\":17263000}",
		       "negative elapsed");
	free(b);

	/* /v1/completions -> /api/generate (raw) */
	b = slurp("completions.txt", &len);
	meta_for(&m, "mistral", TR_API_GENERATE, TR_BE_COMPLETIONS, T0, 0);
	check_response(&m, b, len, 0,
		       "{\"model\":\"mistral\",\"created_at\":\"" T0_STR "\",\"response\":\"??????\","
		       "\"done\":true,\"done_reason\":\"length\",\"total_duration\":0,"
		       "\"load_duration\":0,\"prompt_eval_count\":4,\"prompt_eval_duration\":12437000,"
		       "\"eval_count\":6,\"eval_duration\":30040000}",
		       "completions.txt");
	free(b);

	/* NaN embeddings (zero weights): llama-server writes null */
	b = slurp("embeddings.txt", &len);
	meta_for(&m, "all-minilm", TR_API_EMBED, TR_BE_EMBEDDINGS, T0, 0);
	check_response(&m, b, len, -EBADMSG, "embedding 0 has null at 0, not a number",
		       "embeddings.txt");
	free(b);

	/* an error object where an answer was expected */
	b = slurp("error-500.txt", &len);
	meta_for(&m, "m", TR_API_CHAT, TR_BE_CHAT, T0, 0);
	check_response(&m, b, len, -EPROTO, "the model's backend failed: got exception",
		       "error as answer");
	free(b);
}

#define CHATCMPL(msg, finish, extra)                                                     \
	"{\"choices\":[{\"finish_reason\":" finish ",\"index\":0,\"message\":" msg "}],"   \
	"\"created\":1795775982,\"model\":\"tiny.gguf\",\"system_fingerprint\":\"b1-de3ff81\"," \
	"\"object\":\"chat.completion\",\"id\":\"chatcmpl-x\"" extra "}"

static void test_response_shapes(void **state)
{
	struct tr_meta m;
	const char *b;

	(void)state;
	meta_for(&m, "qwen3:8b", TR_API_CHAT, TR_BE_CHAT, T0, INT64_C(1000));
	/* reasoning and tool calls, as llama-server's to_json_oaicompat_chat */
	b = CHATCMPL("{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"The user "
		     "wants the weather.\",\"tool_calls\":[{\"type\":\"function\",\"function\":{"
		     "\"name\":\"get_current_weather\",\"arguments\":\"{\\\"location\\\":\\\"Paris, "
		     "FR\\\",\\\"format\\\":\\\"celsius\\\"}\"},\"id\":\"call_0\"},{\"type\":"
		     "\"function\",\"function\":{\"name\":\"broken\",\"arguments\":\"{not json\"},"
		     "\"id\":\"call_1\"},{\"type\":\"function\",\"function\":{\"name\":\"list\","
		     "\"arguments\":\"[1,2]\"}}]}",
		     "\"tool_calls\"",
		     ",\"usage\":{\"completion_tokens\":20,\"prompt_tokens\":120,\"total_tokens\":140}");
	check_response(&m, b, strlen(b), 0,
		       "{\"model\":\"qwen3:8b\",\"created_at\":\"" T0_STR "\",\"message\":{\"role\":"
		       "\"assistant\",\"content\":\"\",\"thinking\":\"The user wants the weather.\","
		       "\"tool_calls\":[{\"id\":\"call_0\",\"function\":{\"index\":0,\"name\":"
		       "\"get_current_weather\",\"arguments\":{\"location\":\"Paris, FR\",\"format\":"
		       "\"celsius\"}}},{\"id\":\"call_1\",\"function\":{\"index\":1,\"name\":\"broken\","
		       "\"arguments\":\"{not json\"}},{\"function\":{\"index\":2,\"name\":\"list\","
		       "\"arguments\":\"[1,2]\"}}]},\"done_reason\":\"stop\",\"done\":true,"
		       "\"total_duration\":0,\"load_duration\":1000,\"prompt_eval_count\":120,"
		       "\"prompt_eval_duration\":0,\"eval_count\":20,\"eval_duration\":0}",
		       "tool calls");
	/* thinking in /api/generate; no usage, only timings */
	meta_for(&m, "qwen3:8b", TR_API_GENERATE, TR_BE_CHAT, T0, 0);
	b = CHATCMPL("{\"role\":\"assistant\",\"content\":\"Rayleigh scattering \xe2\x98\x80\xef\xb8\x8f\","
		     "\"reasoning_content\":\"short\"}",
		     "\"stop\"",
		     ",\"timings\":{\"cache_n\":10,\"prompt_n\":5,\"prompt_ms\":1.25,\"predicted_n\":4,"
		     "\"predicted_ms\":0.0000004}");
	check_response(&m, b, strlen(b), 0,
		       "{\"model\":\"qwen3:8b\",\"created_at\":\"" T0_STR "\",\"response\":\"Rayleigh "
		       "scattering \xe2\x98\x80\xef\xb8\x8f\",\"thinking\":\"short\",\"done\":true,"
		       "\"done_reason\":\"stop\",\"total_duration\":0,\"load_duration\":0,"
		       "\"prompt_eval_count\":15,\"prompt_eval_duration\":1250000,\"eval_count\":4,"
		       "\"eval_duration\":0}",
		       "generate thinking");
	/* an unusual finish reason is passed on; a missing one is "stop" */
	meta_for(&m, "m", TR_API_CHAT, TR_BE_CHAT, T0, 0);
	b = CHATCMPL("{\"role\":\"assistant\",\"content\":\"x\"}", "\"content_filter\"", "");
	check_response(&m, b, strlen(b), 0,
		       "{\"model\":\"m\",\"created_at\":\"" T0_STR "\",\"message\":{\"role\":"
		       "\"assistant\",\"content\":\"x\"},\"done_reason\":\"content_filter\","
		       "\"done\":true,\"total_duration\":0,\"load_duration\":0,\"prompt_eval_count\":0,"
		       "\"prompt_eval_duration\":0,\"eval_count\":0,\"eval_duration\":0}",
		       "content_filter");
	b = CHATCMPL("{\"role\":\"assistant\",\"content\":\"x\"}", "null", "");
	check_response(&m, b, strlen(b), 0,
		       "{\"model\":\"m\",\"created_at\":\"" T0_STR "\",\"message\":{\"role\":"
		       "\"assistant\",\"content\":\"x\"},\"done_reason\":\"stop\","
		       "\"done\":true,\"total_duration\":0,\"load_duration\":0,\"prompt_eval_count\":0,"
		       "\"prompt_eval_duration\":0,\"eval_count\":0,\"eval_duration\":0}",
		       "no finish_reason");
	/* /infill's own format, non-streamed (the fixtures' shape) */
	meta_for(&m, "codellama:code", TR_API_GENERATE, TR_BE_INFILL, T0, 0);
	b = "{\"index\":0,\"content\":\"  return a\",\"tokens\":[],\"id_slot\":0,\"stop\":true,"
	    "\"model\":\"tiny.gguf\",\"tokens_predicted\":3,\"tokens_evaluated\":4,"
	    "\"stop_type\":\"eos\",\"stopping_word\":\"\",\"tokens_cached\":6,\"timings\":{"
	    "\"cache_n\":3,\"prompt_n\":1,\"prompt_ms\":16.518,\"predicted_n\":3,"
	    "\"predicted_ms\":6.445}}";
	check_response(&m, b, strlen(b), 0,
		       "{\"model\":\"codellama:code\",\"created_at\":\"" T0_STR "\",\"response\":"
		       "\"  return a\",\"done\":true,\"done_reason\":\"stop\",\"total_duration\":0,"
		       "\"load_duration\":0,\"prompt_eval_count\":4,\"prompt_eval_duration\":16518000,"
		       "\"eval_count\":3,\"eval_duration\":6445000}",
		       "infill");
	/* malformed answers */
	meta_for(&m, "m", TR_API_CHAT, TR_BE_CHAT, T0, 0);
	check_response(&m, "{\"choices\":[]}", strlen("{\"choices\":[]}"), -EBADMSG, "without choices[0]", "no choices");
	check_response(&m, "{\"choices\":[{\"text\":\"x\"}]}", strlen("{\"choices\":[{\"text\":\"x\"}]}"), -EBADMSG,
		       "without choices[0].message", "no message");
	check_response(&m, "<html>", 6, -EBADMSG, "is not valid JSON", "html");
	check_response(&m, "", 0, -EBADMSG, "is empty", "empty");
	check_response(&m, "[]", 2, -EBADMSG, "not a JSON object", "array");
	meta_for(&m, "m", TR_API_GENERATE, TR_BE_INFILL, T0, 0);
	check_response(&m, "{\"stop\":true}", strlen("{\"stop\":true}"), -EBADMSG, "without \"content\"", "infill no content");
}

static void test_response_embed(void **state)
{
	struct tr_meta m;
	struct diag d;
	json_t *out, *v;
	const char *b = "{\"model\":\"tiny\",\"object\":\"list\",\"usage\":{\"prompt_tokens\":9,"
			"\"total_tokens\":9},\"data\":[{\"embedding\":[3.0,4.0,12.0],\"index\":1,"
			"\"object\":\"embedding\"},{\"embedding\":[0.125,-0.5,0.25],\"index\":0,"
			"\"object\":\"embedding\"}]}";

	(void)state;
	meta_for(&m, "all-minilm", TR_API_EMBED, TR_BE_EMBEDDINGS, T0 + 14143917, 1019500);
	check_response(&m, b, strlen(b), 0,
		       "{\"model\":\"all-minilm\",\"embeddings\":[[0.125,-0.5,0.25],[3.0,4.0,12.0]],"
		       "\"total_duration\":14143917,\"load_duration\":1019500,\"prompt_eval_count\":9}",
		       "embed, by index");
	meta_for(&m, "all-minilm", TR_API_EMBEDDINGS, TR_BE_EMBEDDINGS, T0, 0);
	check_response(&m, b, strlen(b), 0, "{\"embedding\":[0.125,-0.5,0.25]}", "embeddings");

	/* dimensions: cut and renormalized, as Ollama */
	meta_for(&m, "all-minilm", TR_API_EMBED, TR_BE_EMBEDDINGS, T0, 0);
	m.dimensions = 2;
	diag_init(&d);
	assert_int_equal(tr_response(&m, b, strlen(b), &out, &d), 0);
	v = json_array_get(json_object_get(out, "embeddings"), 1);
	assert_int_equal(json_array_size(v), 2);
	assert_true(fabs(json_real_value(json_array_get(v, 0)) - 0.6) < 1e-12);
	assert_true(fabs(json_real_value(json_array_get(v, 1)) - 0.8) < 1e-12);
	v = json_array_get(json_object_get(out, "embeddings"), 0);
	assert_true(fabs(json_real_value(json_array_get(v, 0)) - 0.24253562503633297) < 1e-12);
	json_decref(out);
	m.dimensions = 3; /* all of it: unchanged */
	check_response(&m, b, strlen(b), 0,
		       "{\"model\":\"all-minilm\",\"embeddings\":[[0.125,-0.5,0.25],[3.0,4.0,12.0]],"
		       "\"total_duration\":0,\"load_duration\":0,\"prompt_eval_count\":9}",
		       "dimensions = length");

	m.dimensions = 0;
	b = "{\"data\":[{\"embedding\":[1],\"index\":0},{\"embedding\":[2],\"index\":0}]}";
	check_response(&m, b, strlen(b), -EBADMSG, "embedding 0 twice", "duplicate index");
	b = "{\"data\":[{\"embedding\":[1],\"index\":5}]}";
	check_response(&m, b, strlen(b), -EBADMSG, "index 5 of 1", "index out of range");
	b = "{\"data\":[]}";
	check_response(&m, b, strlen(b), -EBADMSG, "without \"data\"", "no data");
	b = "{\"data\":[{\"embedding\":[]}]}";
	check_response(&m, b, strlen(b), -EBADMSG, "without embedding 0", "empty embedding");
	b = "{\"data\":[{\"embedding\":[1,\"x\"]}]}";
	check_response(&m, b, strlen(b), -EBADMSG, "has a string at 1", "string value");
}

static void test_load_responses(void **state)
{
	struct tr_meta m;
	json_t *o;

	(void)state;
	meta_for(&m, "llama3.2", TR_API_CHAT, TR_BE_NONE, T0, 0);
	o = tr_load_response(&m, TR_ACT_LOAD);
	assert_json_eq(o, "{\"model\":\"llama3.2\",\"created_at\":\"" T0_STR "\",\"message\":{"
			  "\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"load\","
			  "\"done\":true}",
		       "chat load");
	json_decref(o);
	o = tr_load_response(&m, TR_ACT_UNLOAD);
	assert_json_eq(o, "{\"model\":\"llama3.2\",\"created_at\":\"" T0_STR "\",\"message\":{"
			  "\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"unload\","
			  "\"done\":true}",
		       "chat unload");
	json_decref(o);
	m.api = TR_API_GENERATE;
	o = tr_load_response(&m, TR_ACT_UNLOAD);
	assert_json_eq(o, "{\"model\":\"llama3.2\",\"created_at\":\"" T0_STR "\",\"response\":\"\","
			  "\"done\":true,\"done_reason\":\"unload\"}",
		       "generate unload");
	json_decref(o);
	m.api = TR_API_EMBED;
	o = tr_load_response(&m, TR_ACT_LOAD);
	assert_json_eq(o, "{\"model\":\"llama3.2\",\"embeddings\":[]}", "embed load");
	json_decref(o);
	m.api = TR_API_EMBEDDINGS;
	o = tr_load_response(&m, TR_ACT_LOAD);
	assert_json_eq(o, "{\"embedding\":[]}", "embeddings load");
	json_decref(o);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state)
{
	static const struct {
		const char *file; /* or NULL: text */
		const char *text;
		int status;
		const char *want;
	} cases[] = {
		{ "error-500.txt", NULL, 500,
		  "got exception: Unexpected empty grammar stack after accepting piece: ? (30)" },
		{ "error-ctx.txt", NULL, 400,
		  "request (1522 tokens) exceeds the available context size (1024 tokens), try "
		  "increasing it" },
		{ "error-infill.txt", NULL, 501,
		  "Infill is not supported by this model: prefix token is missing. suffix token is "
		  "missing. middle token is missing." },
		{ "error-image.txt", NULL, 500,
		  "image input is not supported - hint: if this is unexpected, you may need to "
		  "provide the mmproj" },
		{ "error-loading.txt", NULL, 503, "Loading model" },
		{ "error-embed-too-large.txt", NULL, 500,
		  "input (802 tokens) is too large to process. increase the physical batch size "
		  "(current batch size: 512)" },
		{ NULL, "Internal Server Error", 500, "Internal Server Error" },
		{ NULL, "", 502, "the model's backend failed (HTTP 502)" },
		{ NULL, "   \n", 502, "the model's backend failed (HTTP 502)" },
		{ NULL, "{}", 500, "the model's backend failed (HTTP 500)" },
		{ NULL, "\"oops\"", 500, "oops" },
		{ NULL, "{\"error\":\"plain\"}", 400, "plain" },
		{ NULL, "{\"error\":{\"type\":\"x\"}}", 500, "the model's backend failed (HTTP 500)" },
		{ NULL, "{\"message\":\"top\"}", 404, "top" },
		{ NULL, "{\"detail\":\"Not Found\"}", 404, "Not Found" },
		{ NULL, "line1\r\nline2\x01\xff end\x7f", 500, "line1 line2 ? end" },
		{ NULL, "caf\xc3\xa9 \xe2\x82", 500, "caf\xc3\xa9 ??" },
	};
	size_t i, len;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *b = cases[i].file ? slurp(cases[i].file, &len) : NULL;
		json_t *o = tr_error_from_backend(cases[i].status, b ? b : cases[i].text,
						  b ? len : strlen(cases[i].text));
		const char *got;

		assert_non_null(o);
		assert_int_equal(json_object_size(o), 1);
		got = json_string_value(json_object_get(o, "error"));
		if (!got || strcmp(got, cases[i].want) != 0)
			fail_msg("error %zu: \"%s\", want \"%s\"", i, got ? got : "(none)",
				 cases[i].want);
		json_decref(o);
		free(b);
	}
	{ /* a long body is cut to 400 bytes */
		char big[1000];
		json_t *o;

		memset(big, 'a', sizeof(big));
		o = tr_error_from_backend(500, big, sizeof(big));
		assert_int_equal(json_string_length(json_object_get(o, "error")), 400);
		json_decref(o);
		o = tr_error_from_backend(500, NULL, 0);
		assert_string_equal(json_string_value(json_object_get(o, "error")),
				    "the model's backend failed (HTTP 500)");
		json_decref(o);
	}
	{
		static const struct {
			int status;
			const char *type;
		} oa[] = { { 400, "invalid_request_error" }, { 401, "authentication_error" },
			   { 403, "permission_error" },	     { 404, "not_found_error" },
			   { 429, "rate_limit_error" },	     { 500, "server_error" },
			   { 501, "not_supported_error" },   { 503, "unavailable_error" },
			   { 418, "server_error" } };
		char want[200];
		json_t *o;

		for (i = 0; i < ARRAY_SIZE(oa); i++) {
			o = tr_error_openai(oa[i].status, "model \"x\" not found");
			snprintf(want, sizeof(want),
				 "{\"error\":{\"message\":\"model \\\"x\\\" not found\",\"type\":\"%s\","
				 "\"code\":%d}}",
				 oa[i].type, oa[i].status);
			assert_json_eq(o, want, "openai error");
			json_decref(o);
		}
		o = tr_error_ollama("model 'x' not found, try pulling it first");
		assert_json_eq(o, "{\"error\":\"model 'x' not found, try pulling it first\"}", "ollama");
		json_decref(o);
		/* a diag cut inside a UTF-8 character, and a NULL message */
		o = tr_error_ollama("bad \xe6\x97");
		assert_json_eq(o, "{\"error\":\"bad ??\"}", "cut UTF-8");
		json_decref(o);
		o = tr_error_ollama(NULL);
		assert_json_eq(o, "{\"error\":\"\"}", "NULL");
		json_decref(o);
	}
}

static void test_dump(void **state)
{
	json_t *v = js("{\"temperature\":0.8,\"top_p\":0.95,\"e\":[0.0100710295,1e-5,-1.5],"
		       "\"s\":\"\xc3\xa9\\n\"}");
	struct sbuf sb;
	size_t len;
	char *s;

	(void)state;
	s = tr_dump(v, &len);
	assert_non_null(s);
	assert_string_equal(s, "{\"temperature\":0.8,\"top_p\":0.95,\"e\":[0.0100710295,1e-5,-1.5],"
			       "\"s\":\"\xc3\xa9\\n\"}");
	assert_non_null(strstr(s, "\"temperature\":0.8,"));
	assert_null(strstr(s, "0.80000"));
	assert_int_equal(len, strlen(s));
	free(s);

	sbuf_init(&sb, 1 << 20);
	assert_int_equal(sbuf_add(&sb, "x\n", 2), 0);
	assert_int_equal(tr_dump_line(v, &sb), 0);
	assert_int_equal(sb.buf[sb.len - 1], '\n');
	assert_true(strncmp(sb.buf, "x\n{\"temperature\":0.8", 20) == 0);
	sbuf_release(&sb);

	sbuf_init(&sb, 10); /* too small: unchanged */
	assert_int_equal(sbuf_add(&sb, "abc", 3), 0);
	assert_int_equal(tr_dump_line(v, &sb), -E2BIG);
	assert_int_equal(sb.len, 3);
	assert_string_equal(sb.buf, "abc");
	sbuf_release(&sb);
	json_decref(v);
}

/* ---------------------------------------------------------------- SSE */

struct evlog {
	struct sbuf log;
	int stop_at; /* return 1 at this event (1-based), 0 never */
	int n;
};

static int log_event(void *arg, const char *event, const char *data, size_t len)
{
	struct evlog *l = arg;

	l->n++;
	assert_int_equal(data[len], '\0');
	assert_int_equal(sbuf_addf(&l->log, "%s|", event), 0);
	assert_int_equal(sbuf_add(&l->log, data, len), 0);
	assert_int_equal(sbuf_add(&l->log, "\n", 1), 0);
	return l->stop_at && l->n == l->stop_at ? 1 : 0;
}

/* Feeds text in chunks of step bytes (0: at once, or split at split > 0). */
static char *sse_run(const char *text, size_t len, size_t step, size_t split, int *rc_end)
{
	struct tr_sse s;
	struct evlog l = { .stop_at = 0 };
	struct diag d;
	size_t i = 0;

	sbuf_init(&l.log, 1 << 26);
	tr_sse_init(&s, 0);
	diag_init(&d);
	if (split) {
		assert_int_equal(tr_sse_feed(&s, text, split, log_event, &l, &d), 0);
		assert_int_equal(tr_sse_feed(&s, text + split, len - split, log_event, &l, &d), 0);
	} else if (step == 0) {
		assert_int_equal(tr_sse_feed(&s, text, len, log_event, &l, &d), 0);
	} else {
		for (i = 0; i < len; i += step) {
			size_t n = len - i < step ? len - i : step;

			if (tr_sse_feed(&s, text + i, n, log_event, &l, &d) != 0)
				fail_msg("feed at %zu: %s", i, d.msg);
		}
	}
	assert_int_equal(s.offset, len);
	*rc_end = tr_sse_end(&s, &d);
	tr_sse_release(&s);
	return sbuf_detach(&l.log, NULL);
}

static void test_sse_rules(void **state)
{
	static const char in[] =
		"\xEF\xBB\xBF: ping\r\n"
		"data: a\r\n"
		"data:b\r\n"
		"data:  c\r\n"
		"\r\n"
		"event: delta\n"
		"id: 7\n"
		"retry: 10\n"
		"data: {\"x\":1}\n"
		"\n"
		"event: nodata\n"
		"\n"
		"data\n"
		"\n"
		"data: cr\r"
		"\r"
		"foo: bar\n"
		"\n"
		":\n"
		"\n"
		"data: x:y: z\n"
		"data:\n"
		"\n"
		"event: e1\n"
		"event: e2\n"
		"data: last\n"
		"\n"
		"data: [DONE]\n"
		"\n";
	static const char want[] = "message|a\nb\n c\n"
				   "delta|{\"x\":1}\n"
				   "message|\n"
				   "message|cr\n"
				   "message|x:y: z\n\n"
				   "e2|last\n"
				   "message|[DONE]\n";
	size_t len = sizeof(in) - 1, k;
	int rc;
	char *got;

	(void)state;
	got = sse_run(in, len, 0, 0, &rc);
	assert_string_equal(got, want);
	assert_int_equal(rc, 0);
	free(got);
	for (k = 1; k <= 7; k++) {
		got = sse_run(in, len, k, 0, &rc);
		assert_string_equal(got, want);
		free(got);
	}
	for (k = 1; k < len; k++) { /* every split point, CR|LF ones included */
		got = sse_run(in, len, 0, k, &rc);
		if (strcmp(got, want) != 0)
			fail_msg("split at %zu:\n%s", k, got);
		free(got);
	}
	/* an unfinished event at the end is dropped, and said */
	got = sse_run("data: a\n\ndata: b\n", 17, 0, 0, &rc);
	assert_string_equal(got, "message|a\n");
	assert_int_equal(rc, -EPIPE);
	free(got);
	got = sse_run("data: a\n\ndata: b", 16, 1, 0, &rc);
	assert_int_equal(rc, -EPIPE);
	free(got);
	assert_true(tr_sse_is_done("[DONE]", 6));
	assert_false(tr_sse_is_done("[DONE] ", 7));
	assert_false(tr_sse_is_done("{}", 2));
}

static void test_sse_fixtures(void **state)
{
	static const char *const files[] = { "chat-stream.txt", "chat-stream-nousage.txt",
					     "completions-stream.txt", "native-stream.txt",
					     "chat-stream-error.txt" };
	static const int events[] = { 9, 6, 5, 4, 1 };
	size_t i, len, k;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		char *b = slurp(files[i], &len), *whole, *got, *p;
		int n = 0;

		whole = sse_run(b, len, 0, 0, &rc);
		assert_int_equal(rc, 0);
		for (p = whole; (p = strchr(p, '\n')) != NULL; p++)
			n++;
		if (n != events[i])
			fail_msg("%s: %d events, want %d", files[i], n, events[i]);
		for (k = 1; k < 20; k += 6) {
			got = sse_run(b, len, k, 0, &rc);
			assert_string_equal(got, whole);
			free(got);
		}
		/* the same with CRLF line ends */
		{
			struct sbuf crlf;

			sbuf_init(&crlf, 1 << 20);
			for (k = 0; k < len; k++)
				assert_int_equal(b[k] == '\n' ? sbuf_add(&crlf, "\r\n", 2)
							      : sbuf_add(&crlf, b + k, 1),
						 0);
			got = sse_run(crlf.buf, crlf.len, 1, 0, &rc);
			assert_string_equal(got, whole);
			free(got);
			sbuf_release(&crlf);
		}
		free(whole);
		free(b);
	}
}

static int never(void *arg, const char *event, const char *data, size_t len)
{
	(void)arg;
	(void)event;
	(void)data;
	(void)len;
	fail_msg("no event expected");
	return 0;
}

static void test_sse_hostile(void **state)
{
	struct tr_sse s;
	struct diag d;
	size_t chunk = 1 << 16, fed = 0, total = 20u << 20;
	char *junk = malloc(chunk);
	int rc = 0;

	(void)state;
	assert_non_null(junk);
	memset(junk, 'x', chunk);
	/* 20 MB without a newline: refused at the 16 MiB cap, not buffered */
	tr_sse_init(&s, 0);
	diag_init(&d);
	while (fed < total) {
		rc = tr_sse_feed(&s, junk, chunk, never, NULL, &d);
		if (rc)
			break;
		fed += chunk;
	}
	assert_int_equal(rc, -E2BIG);
	assert_true(fed <= TR_SSE_CAP);
	assert_true(s.line.alloc <= (size_t)TR_SSE_CAP);
	assert_contains(d.msg, "over 16777216 bytes", "hostile");
	assert_int_equal(tr_sse_feed(&s, "\n\n", 2, never, NULL, &d), -E2BIG); /* sticky */
	tr_sse_release(&s);

	/* many data lines of one event, no blank line */
	tr_sse_init(&s, 1 << 20);
	memcpy(junk, "data: ", 6);
	junk[chunk - 1] = '\n';
	for (fed = 0, rc = 0; fed < 40 && rc == 0; fed++)
		rc = tr_sse_feed(&s, junk, chunk, never, NULL, &d);
	assert_int_equal(rc, -E2BIG);
	assert_true(fed <= 17);
	assert_true(s.data.alloc <= (size_t)(1 << 20));
	tr_sse_release(&s);

	/* one byte under the cap is fine, the cap is not */
	{
		struct evlog l = { .stop_at = 0 };
		char line[80];

		sbuf_init(&l.log, 1 << 10);
		tr_sse_init(&s, 64);
		memset(line, 'y', sizeof(line));
		memcpy(line, "data: ", 6);
		assert_int_equal(tr_sse_feed(&s, line, 63, log_event, &l, &d), 0);
		assert_int_equal(tr_sse_feed(&s, "\n\n", 2, log_event, &l, &d), 0);
		assert_int_equal(l.n, 1);
		assert_int_equal(tr_sse_feed(&s, line, 64, log_event, &l, &d), -E2BIG);
		tr_sse_release(&s);
		sbuf_release(&l.log);
	}

	/* a callback that stops the parse: it stays stopped */
	{
		struct evlog l = { .stop_at = 2 };

		sbuf_init(&l.log, 1 << 10);
		tr_sse_init(&s, 0);
		assert_int_equal(tr_sse_feed(&s, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27, log_event,
					     &l, &d),
				 1);
		assert_int_equal(l.n, 2);
		assert_int_equal(tr_sse_feed(&s, "data: 4\n\n", 9, log_event, &l, &d), 1);
		assert_int_equal(l.n, 2);
		tr_sse_release(&s);
		sbuf_release(&l.log);
	}
	free(junk);
}

/* ---------------------------------------------------------------- streams */

struct srun {
	struct tr_stream st;
	struct sbuf out;
	struct diag d;
	int64_t now;
	int rc;
};

static int to_stream(void *arg, const char *event, const char *data, size_t len)
{
	struct srun *r = arg;

	(void)event;
	r->rc = tr_stream_event(&r->st, data, len, r->now, &r->out, &r->d);
	return r->rc;
}

/* Runs an SSE body through a stream for meta m, step bytes at a time (0: at
 * once); returns the NDJSON lines; *rc the first failure, or finish's. */
static json_t *stream_run(const struct tr_meta *m, const char *body, size_t len, size_t step,
			  int *rc, char **text)
{
	struct srun r;
	struct tr_sse s;
	size_t i;
	int e = 0;
	json_t *lines;

	memset(&r, 0, sizeof(r));
	tr_stream_init(&r.st, m);
	sbuf_init(&r.out, 1 << 24);
	diag_init(&r.d);
	r.now = T0 + INT64_C(2000000000);
	tr_sse_init(&s, 0);
	if (step == 0)
		step = len ? len : 1;
	for (i = 0; i < len && e == 0; i += step)
		e = tr_sse_feed(&s, body + i, len - i < step ? len - i : step, to_stream, &r, &r.d);
	if (e == 0)
		e = tr_stream_finish(&r.st, r.now, &r.out, &r.d);
	else /* finish after a failure does nothing */
		assert_int_equal(tr_stream_finish(&r.st, r.now, &r.out, &r.d), 0);
	assert_true(r.st.done);
	*rc = e;
	lines = ndjson(r.out.buf, r.out.len);
	if (text)
		*text = sbuf_detach(&r.out, NULL);
	tr_sse_release(&s);
	tr_stream_release(&r.st);
	sbuf_release(&r.out);
	return lines;
}

#define LINE_CHAT(c) \
	"{\"model\":\"llama3.2\",\"created_at\":\"2026-11-27T10:39:44Z\",\"message\":{\"role\":" \
	"\"assistant\",\"content\":\"" c "\"},\"done\":false}"

static void test_stream_fixtures(void **state)
{
	struct tr_request req;
	struct tr_meta m;
	struct diag d;
	size_t len, k;
	char *b, *whole, *t;
	json_t *lines;
	int rc;
	const char *in = "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":"
			 "\"Why is the sky blue?\"}]}";

	(void)state;
	/* chat, with include_usage: as the daemon would run it */
	diag_init(&d);
	assert_int_equal(tr_request_parse(TR_API_CHAT, in, strlen(in), &req, &d), 0);
	tr_meta_init(&m, &req, T0, 0, INT64_C(1234567));
	b = slurp("chat-stream.txt", &len);
	lines = stream_run(&m, b, len, 0, &rc, &whole);
	assert_int_equal(rc, 0);
	assert_int_equal(json_array_size(lines), 6);
	for (k = 0; k < 5; k++)
		assert_json_eq(json_array_get(lines, k), LINE_CHAT("?"), "chat line");
	assert_json_eq(json_array_get(lines, 5),
		       "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-27T10:39:44Z\",\"message\":"
		       "{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"length\","
		       "\"done\":true,\"total_duration\":2000000000,\"load_duration\":1234567,"
		       "\"prompt_eval_count\":28,\"prompt_eval_duration\":3390000,\"eval_count\":5,"
		       "\"eval_duration\":9585000}",
		       "chat final");
	json_decref(lines);
	for (k = 1; k <= 13; k += 4) { /* byte by byte and odd chunks: the same bytes */
		lines = stream_run(&m, b, len, k, &rc, &t);
		assert_int_equal(rc, 0);
		assert_string_equal(t, whole);
		free(t);
		json_decref(lines);
	}
	free(whole);
	free(b);

	/* without stream_options: the counts come from the timings */
	b = slurp("chat-stream-nousage.txt", &len);
	lines = stream_run(&m, b, len, 1, &rc, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(json_array_size(lines), 4);
	assert_json_eq(json_array_get(lines, 3),
		       "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-27T10:39:44Z\",\"message\":"
		       "{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"length\","
		       "\"done\":true,\"total_duration\":2000000000,\"load_duration\":1234567,"
		       "\"prompt_eval_count\":28,\"prompt_eval_duration\":3607000,\"eval_count\":3,"
		       "\"eval_duration\":6073000}",
		       "chat final from timings");
	json_decref(lines);
	free(b);
	tr_request_release(&req);

	/* /v1/completions as /api/generate (raw) */
	b = slurp("completions-stream.txt", &len);
	meta_for(&m, "mistral", TR_API_GENERATE, TR_BE_COMPLETIONS, 0, 0);
	lines = stream_run(&m, b, len, 3, &rc, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(json_array_size(lines), 4);
	assert_json_eq(json_array_get(lines, 0),
		       "{\"model\":\"mistral\",\"created_at\":\"2026-11-27T10:39:44Z\","
		       "\"response\":\"?\",\"done\":false}",
		       "generate line");
	assert_json_eq(json_array_get(lines, 3),
		       "{\"model\":\"mistral\",\"created_at\":\"2026-11-27T10:39:44Z\","
		       "\"response\":\"\",\"done\":true,\"done_reason\":\"length\","
		       "\"total_duration\":2000000000,\"load_duration\":0,\"prompt_eval_count\":4,"
		       "\"prompt_eval_duration\":2840000,\"eval_count\":3,\"eval_duration\":6225000}",
		       "generate final");
	json_decref(lines);
	free(b);

	/* /infill's own format: no [DONE], the stop:true event ends it */
	b = slurp("native-stream.txt", &len);
	meta_for(&m, "codellama:code", TR_API_GENERATE, TR_BE_INFILL, 0, 0);
	lines = stream_run(&m, b, len, 0, &rc, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(json_array_size(lines), 4);
	assert_json_eq(json_array_get(lines, 3),
		       "{\"model\":\"codellama:code\",\"created_at\":\"2026-11-27T10:39:44Z\","
		       "\"response\":\"\",\"done\":true,\"done_reason\":\"length\","
		       "\"total_duration\":2000000000,\"load_duration\":0,\"prompt_eval_count\":4,"
		       "\"prompt_eval_duration\":16518000,\"eval_count\":3,\"eval_duration\":6445000}",
		       "infill final");
	json_decref(lines);
	free(b);

	/* an error while generating: HTTP 200, one error event, no [DONE] */
	b = slurp("chat-stream-error.txt", &len);
	meta_for(&m, "llama3.2", TR_API_CHAT, TR_BE_CHAT, 0, 0);
	for (k = 0; k <= 1; k++) {
		lines = stream_run(&m, b, len, k, &rc, NULL);
		assert_int_equal(rc, -EPROTO);
		assert_json_eq(lines,
			       "[{\"error\":\"got exception: Unexpected empty grammar stack after "
			       "accepting piece: 4 (19)\"}]",
			       "chat-stream-error.txt");
		json_decref(lines);
	}
	free(b);
	b = slurp("completions-stream-error.txt", &len);
	meta_for(&m, "mistral", TR_API_GENERATE, TR_BE_COMPLETIONS, 0, 0);
	lines = stream_run(&m, b, len, 0, &rc, NULL);
	assert_int_equal(rc, -EPROTO);
	assert_json_eq(lines,
		       "[{\"error\":\"got exception: Unexpected empty grammar stack after "
		       "accepting piece: ? (30)\"}]",
		       "completions-stream-error.txt");
	json_decref(lines);
	free(b);
}

#define CHUNK(delta, finish) \
	"data: {\"choices\":[{\"finish_reason\":" finish ",\"index\":0,\"delta\":" delta "}]," \
	"\"created\":1795775982,\"id\":\"chatcmpl-t\",\"model\":\"tiny.gguf\","              \
	"\"system_fingerprint\":\"b1-de3ff81\",\"object\":\"chat.completion.chunk\"}\n\n"
#define USAGE_CHUNK                                                                          \
	"data: {\"choices\":[],\"created\":1795775982,\"id\":\"chatcmpl-t\",\"model\":"      \
	"\"tiny.gguf\",\"object\":\"chat.completion.chunk\",\"usage\":{\"completion_tokens\":12," \
	"\"prompt_tokens\":100,\"total_tokens\":112},\"timings\":{\"cache_n\":0,\"prompt_n\":100," \
	"\"prompt_ms\":50.5,\"predicted_n\":12,\"predicted_ms\":120.25}}\n\n"

static void test_stream_shapes(void **state)
{
	struct tr_meta m;
	json_t *lines;
	int rc;
	size_t k;
	/* as llama-server streams a thinking model's tool call */
	static const char tools[] =
		CHUNK("{\"role\":\"assistant\",\"content\":null}", "null")
		CHUNK("{\"reasoning_content\":\"Need weather.\"}", "null")
		CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_0\",\"type\":\"function\","
		      "\"function\":{\"name\":\"get_current_weather\"}}]}", "null")
		CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"location\\\":\"}}]}",
		      "null")
		CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris, FR\\\"}\"}}]}",
		      "null")
		CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_1\",\"type\":\"function\","
		      "\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]}", "null")
		CHUNK("{}", "\"tool_calls\"")
		USAGE_CHUNK
		"data: [DONE]\n\n";

	(void)state;
	meta_for(&m, "qwen3:8b", TR_API_CHAT, TR_BE_CHAT, 0, 0);
	for (k = 0; k < 2; k++) {
		lines = stream_run(&m, tools, sizeof(tools) - 1, k, &rc, NULL);
		assert_int_equal(rc, 0);
		assert_int_equal(json_array_size(lines), 3);
		assert_json_eq(json_array_get(lines, 0),
			       "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-11-27T10:39:44Z\","
			       "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":"
			       "\"Need weather.\"},\"done\":false}",
			       "thinking line");
		assert_json_eq(json_array_get(lines, 1),
			       "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-11-27T10:39:44Z\","
			       "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
			       "{\"id\":\"call_0\",\"function\":{\"index\":0,\"name\":"
			       "\"get_current_weather\",\"arguments\":{\"location\":\"Paris, FR\"}}},"
			       "{\"id\":\"call_1\",\"function\":{\"index\":1,\"name\":\"now\","
			       "\"arguments\":{}}}]},\"done\":false}",
			       "tool call line");
		assert_json_eq(json_array_get(lines, 2),
			       "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-11-27T10:39:44Z\","
			       "\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":"
			       "\"stop\",\"done\":true,\"total_duration\":2000000000,"
			       "\"load_duration\":0,\"prompt_eval_count\":100,"
			       "\"prompt_eval_duration\":50500000,\"eval_count\":12,"
			       "\"eval_duration\":120250000}",
			       "tool final");
		json_decref(lines);
	}

	/* generate (chat backend): thinking and text, UTF-8 split across events */
	{
		static const char gen[] =
			CHUNK("{\"reasoning_content\":\"hm\"}", "null")
			CHUNK("{\"content\":\"Blue \xe2\x98\x80\"}", "null")
			CHUNK("{\"content\":\"\xef\xb8\x8f\"}", "null")
			CHUNK("{}", "\"stop\"")
			USAGE_CHUNK
			"data: [DONE]\n\n"
			"data: {\"ignored\":true}\n\n";

		meta_for(&m, "qwen3:8b", TR_API_GENERATE, TR_BE_CHAT, 0, 0);
		lines = stream_run(&m, gen, sizeof(gen) - 1, 0, &rc, NULL);
		assert_int_equal(rc, 0);
		assert_int_equal(json_array_size(lines), 4);
		assert_json_eq(json_array_get(lines, 0),
			       "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-11-27T10:39:44Z\","
			       "\"response\":\"\",\"thinking\":\"hm\",\"done\":false}",
			       "generate thinking");
		assert_json_eq(json_array_get(lines, 1),
			       "{\"model\":\"qwen3:8b\",\"created_at\":\"2026-11-27T10:39:44Z\","
			       "\"response\":\"Blue \xe2\x98\x80\",\"done\":false}",
			       "generate text");
		assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 3),
								      "done_reason")),
				    "stop");
		json_decref(lines);
	}

	/* an error mid-stream, as llama-server sends it (no [DONE] after) */
	{
		static const char err[] =
			CHUNK("{\"content\":\"Hel\"}", "null")
			"data: {\"error\":{\"code\":500,\"message\":\"Context size has been "
			"exceeded.\",\"type\":\"server_error\"}}\n\n";
		static const char err2[] = "data: {\"error\":\"plain\"}\n\n";

		meta_for(&m, "m", TR_API_CHAT, TR_BE_CHAT, 0, 0);
		lines = stream_run(&m, err, sizeof(err) - 1, 0, &rc, NULL);
		assert_int_equal(rc, -EPROTO);
		assert_int_equal(json_array_size(lines), 2);
		assert_json_eq(json_array_get(lines, 1), "{\"error\":\"Context size has been exceeded.\"}",
			       "mid-stream error");
		json_decref(lines);
		lines = stream_run(&m, err2, sizeof(err2) - 1, 1, &rc, NULL);
		assert_int_equal(rc, -EPROTO);
		assert_json_eq(lines, "[{\"error\":\"plain\"}]", "error string");
		json_decref(lines);
	}

	/* the backend stops short: an error line from finish */
	{
		static const char cut[] = CHUNK("{\"content\":\"Hel\"}", "null");
		static const char nodone[] = CHUNK("{\"content\":\"Hi\"}", "\"stop\"");

		meta_for(&m, "m", TR_API_CHAT, TR_BE_CHAT, 0, 0);
		lines = stream_run(&m, cut, sizeof(cut) - 1, 0, &rc, NULL);
		assert_int_equal(rc, -EPIPE);
		assert_int_equal(json_array_size(lines), 2);
		assert_json_eq(json_array_get(lines, 1),
			       "{\"error\":\"the model's backend stopped before the response was complete\"}",
			       "cut short");
		json_decref(lines);
		lines = stream_run(&m, "", 0, 0, &rc, NULL);
		assert_int_equal(rc, -EPIPE);
		json_decref(lines);
		/* finished but no [DONE]: finish writes the final line */
		lines = stream_run(&m, nodone, sizeof(nodone) - 1, 0, &rc, NULL);
		assert_int_equal(rc, 0);
		assert_int_equal(json_array_size(lines), 2);
		assert_true(json_is_true(json_object_get(json_array_get(lines, 1), "done")));
		json_decref(lines);
	}

	/* malformed events */
	{
		static const char bad[] = "data: {oops\n\n";
		static const char bad2[] = "data: [1,2]\n\n";
		static const char badcall[] =
			CHUNK("{\"tool_calls\":[{\"index\":500,\"function\":{\"name\":\"x\"}}]}", "null");

		meta_for(&m, "m", TR_API_CHAT, TR_BE_CHAT, 0, 0);
		lines = stream_run(&m, bad, sizeof(bad) - 1, 0, &rc, NULL);
		assert_int_equal(rc, -EBADMSG);
		assert_json_eq(lines,
			       "[{\"error\":\"the model's backend sent a malformed event (not a JSON object)\"}]",
			       "malformed");
		json_decref(lines);
		lines = stream_run(&m, bad2, sizeof(bad2) - 1, 0, &rc, NULL);
		assert_int_equal(rc, -EBADMSG);
		json_decref(lines);
		lines = stream_run(&m, badcall, sizeof(badcall) - 1, 0, &rc, NULL);
		assert_int_equal(rc, -EBADMSG);
		assert_json_eq(lines, "[{\"error\":\"the model's backend sent a malformed tool call\"}]",
			       "bad tool call");
		json_decref(lines);
	}
}

static void test_stream_limits(void **state)
{
	struct tr_meta m;
	struct tr_stream st;
	struct sbuf out;
	struct diag d;
	char *ev;
	size_t n = 1 << 20, i;
	int rc = 0;

	(void)state;
	/* tool-call arguments that never end: capped */
	ev = malloc(n + 200);
	assert_non_null(ev);
	i = (size_t)snprintf(ev, 200, "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
				      "\"index\":0,\"function\":{\"arguments\":\"");
	memset(ev + i, 'a', n);
	memcpy(ev + i + n, "\"}}]}}]}", 9);
	meta_for(&m, "m", TR_API_CHAT, TR_BE_CHAT, 0, 0);
	tr_stream_init(&st, &m);
	sbuf_init(&out, 1 << 20);
	diag_init(&d);
	for (i = 0; i < 40 && rc == 0; i++)
		rc = tr_stream_event(&st, ev, strlen(ev), T0, &out, &d);
	assert_int_equal(rc, -E2BIG);
	assert_true(i <= 17);
	assert_true(st.done && st.failed);
	assert_contains(out.buf, "\"error\"", "acc cap");
	assert_int_equal(tr_stream_event(&st, "[DONE]", 6, T0, &out, &d), 0); /* over */
	tr_stream_release(&st);
	sbuf_release(&out);

	/* an output buffer that fills: the stream ends with -E2BIG */
	tr_stream_init(&st, &m);
	sbuf_init(&out, 64);
	i = (size_t)snprintf(ev, 200, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
	memset(ev + i, 'b', 100);
	memcpy(ev + i + 100, "\"}}]}", 6);
	assert_int_equal(tr_stream_event(&st, ev, strlen(ev), T0, &out, &d), -E2BIG);
	assert_true(st.done);
	tr_stream_release(&st);
	sbuf_release(&out);
	free(ev);
}

/* ---------------------------------------------------------------- checks */

static void test_host(void **state)
{
	static const struct {
		const char *host, *bind;
		bool ok;
	} cases[] = {
		{ NULL, "127.0.0.1", true },
		{ "", "127.0.0.1", true },
		{ "localhost", "127.0.0.1", true },
		{ "localhost:11434", "127.0.0.1", true },
		{ "LocalHost:11434", "127.0.0.1", true },
		{ "localhost.:11434", "127.0.0.1", true },
		{ "app.localhost:11434", "127.0.0.1", true },
		{ "127.0.0.1", "127.0.0.1", true },
		{ "127.0.0.1:11434", "127.0.0.1", true },
		{ "127.0.0.2:11434", "127.0.0.1", true },
		{ "192.168.1.5:11434", "127.0.0.1", true },
		{ "[::1]", "127.0.0.1", true },
		{ "[::1]:11434", "127.0.0.1", true },
		{ "[::ffff:127.0.0.1]:11434", "127.0.0.1", true },
		{ "localhost:8080", "127.0.0.1", false },
		{ "127.0.0.1:1143", "127.0.0.1", false },
		{ "localhost:0", "127.0.0.1", false },
		{ "localhost:", "127.0.0.1", false },
		{ "localhost:abc", "127.0.0.1", false },
		{ "localhost:011434", "127.0.0.1", false },
		{ "localhost:11434:1", "127.0.0.1", false },
		{ "::1", "127.0.0.1", false },
		{ "[::1", "127.0.0.1", false },
		{ "[127.0.0.1]", "127.0.0.1", false },
		{ "[localhost]", "127.0.0.1", false },
		{ "[fe80::1%25eth0]:11434", "127.0.0.1", false },
		{ "evil.com", "127.0.0.1", false },
		{ "evil.com:11434", "127.0.0.1", false },
		{ "localhost.evil.com", "127.0.0.1", false },
		{ "evillocalhost", "127.0.0.1", false },
		{ ".localhost", "127.0.0.1", false },
		{ "127.0.0.1.nip.io:11434", "127.0.0.1", false },
		{ "0x7f.1", "127.0.0.1", false },
		{ "2130706433", "127.0.0.1", false },
		{ "evil.com", "localhost", false },
		{ "evil.com", "[::1]", false },
		{ "evil.com", "::1", false },
		{ "evil.com", "127.1.2.3", false },
		{ "evil.com", "::ffff:127.0.0.1", false },
		{ "evil.com", NULL, false },
		{ "evil.com", "0.0.0.0", true },
		{ "evil.com", "::", true },
		{ "evil.com", "[::]", true },
		{ "mybox.lan:11434", "192.168.1.5", true },
		{ "anything", "mybox.lan", true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (tr_host_allowed(cases[i].host, cases[i].bind, 11434) != cases[i].ok)
			fail_msg("host \"%s\" bound to %s: %d, want %d",
				 cases[i].host ? cases[i].host : "(null)",
				 cases[i].bind ? cases[i].bind : "(null)", !cases[i].ok, cases[i].ok);
}

static void test_origin(void **state)
{
	static const char *const allow[] = { "https://*.example.com", NULL,
					     "chrome-extension://abcdef", "http://lan-box:*" };
	static const char *const star[] = { "*" };
	static const struct {
		const char *origin;
		bool def, user;
	} cases[] = {
		{ NULL, true, true },
		{ "", true, true },
		{ "http://localhost", true, true },
		{ "http://localhost:3000", true, true },
		{ "https://localhost:3000", true, true },
		{ "https://127.0.0.1:8443", true, true },
		{ "http://0.0.0.0:80", true, true },
		{ "http://[::1]:5173", true, true },
		{ "HTTP://LOCALHOST:3000", true, true },
		{ "app://obsidian.md", true, true },
		{ "tauri://localhost", true, true },
		{ "vscode-webview://1abc2def", true, true },
		{ "vscode-file://vscode-app", true, true },
		{ "file://", true, true },
		{ "http://localhost:", false, false },
		{ "http://localhost:evil.com", false, false },
		{ "http://localhost.evil.com", false, false },
		{ "http://localhost:123456", false, false },
		{ "http://127.0.0.1.evil.com", false, false },
		{ "ftp://localhost", false, false },
		{ "https://evil.com", false, false },
		{ "null", false, false },
		{ "chrome-extension://abcdef", false, true },
		{ "CHROME-EXTENSION://ABCDEF", false, true },
		{ "chrome-extension://abcdeg", false, false },
		{ "https://app.example.com", false, true },
		{ "https://example.com", false, false },
		{ "http://app.example.com", false, false },
		{ "http://lan-box:8080", false, true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *o = cases[i].origin;

		if (tr_origin_allowed(o, NULL, 0) != cases[i].def)
			fail_msg("origin \"%s\" (defaults): want %d", o ? o : "(null)", cases[i].def);
		if (tr_origin_allowed(o, allow, ARRAY_SIZE(allow)) != cases[i].user)
			fail_msg("origin \"%s\" (patterns): want %d", o ? o : "(null)", cases[i].user);
		assert_true(tr_origin_allowed(o, star, 1));
	}
}

static void test_bearer(void **state)
{
	static const struct {
		const char *auth, *key;
		bool ok;
	} cases[] = {
		{ "Bearer s3cret", "s3cret", true },
		{ "bearer s3cret", "s3cret", true },
		{ "BEARER   s3cret  ", "s3cret", true },
		{ " Bearer\ts3cret", "s3cret", true },
		{ "Bearer s3cre", "s3cret", false },
		{ "Bearer s3cretx", "s3cret", false },
		{ "Bearer S3CRET", "s3cret", false },
		{ "Bearer s3cret extra", "s3cret", false },
		{ "Bearers3cret", "s3cret", false },
		{ "Basic czNjcmV0", "s3cret", false },
		{ "s3cret", "s3cret", false },
		{ "Bearer ", "s3cret", false },
		{ "Bearer", "s3cret", false },
		{ "", "s3cret", false },
		{ NULL, "s3cret", false },
		{ "Bearer ", "", false },
		{ "Bearer x", "", false },
		{ "Bearer x", NULL, false },
		{ "Bearer \xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9", true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (tr_bearer_ok(cases[i].auth, cases[i].key) != cases[i].ok)
			fail_msg("bearer %zu \"%s\": want %d", i, cases[i].auth ? cases[i].auth : "",
				 cases[i].ok);
}

static void test_model_names(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "llama3.2", true },
		{ "library/llama3.2:8b-instruct-q4_K_M", true },
		{ "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", true },
		{ "My Model", true },
		{ "mod\xc3\xa8le", true },
		{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", true },
		{ "\xf0\x9f\xa6\x99", true },
		{ "", false },
		{ NULL, false },
		{ " lead", false },
		{ "trail ", false },
		{ "a\tb", false },
		{ "a\nb", false },
		{ "a\x7f", false },
		{ "a\xc2\x85", false },        /* C1 NEL */
		{ "\xff", false },
		{ "\xc0\xaf", false },         /* overlong */
		{ "\xed\xa0\x80", false },     /* surrogate */
		{ "\xf4\x90\x80\x80", false }, /* > U+10FFFF */
		{ "\xe6\x97", false },         /* cut */
	};
	char name[TR_MODEL_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (tr_model_name_ok(cases[i].s) != cases[i].ok)
			fail_msg("model name %zu: want %d", i, cases[i].ok);
	memset(name, 'a', sizeof(name));
	name[TR_MODEL_MAX] = '\0';
	assert_true(tr_model_name_ok(name));
	name[TR_MODEL_MAX] = 'a';
	name[TR_MODEL_MAX + 1] = '\0';
	assert_false(tr_model_name_ok(name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_go_duration),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_request_fields),
		cmocka_unit_test(test_response_fixtures),
		cmocka_unit_test(test_response_shapes),
		cmocka_unit_test(test_response_embed),
		cmocka_unit_test(test_load_responses),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_sse_rules),
		cmocka_unit_test(test_sse_fixtures),
		cmocka_unit_test(test_sse_hostile),
		cmocka_unit_test(test_stream_fixtures),
		cmocka_unit_test(test_stream_shapes),
		cmocka_unit_test(test_stream_limits),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_model_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
