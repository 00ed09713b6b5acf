/* test-registry.c: serve/registry (llama.cpp router presets and
 * --models-dir layouts, merged; the example preset of llama.cpp's
 * tools/server/README.md; llmem's keys; bad and hostile files), the
 * Ollama duration parser of base/parse, and serve/footprint (the
 * measured-footprint cache: round trip, keys, bounds, corrupt files). */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/diag.h"
#include "base/parse.h"
#include "serve/footprint.h"
#include "serve/registry.h"

static char tmpdir[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/llmem-test-registry-XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir/name, made once per call (a few at a time). */
static const char *tpath(const char *fmt, ...) ATTR_PRINTF(1, 2);
static const char *tpath(const char *fmt, ...)
{
	static char bufs[8][4096];
	static int k;
	char *b = bufs[k++ % 8];
	size_t n = (size_t)snprintf(b, 4096, "%s/", tmpdir);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b + n, 4096 - n, fmt, ap);
	va_end(ap);
	return b;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
	write_bytes(path, text, strlen(text));
}

static void mkdirs(const char *path)
{
	char b[4200];

	snprintf(b, sizeof(b), "%s", path);
	for (char *p = b + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(b, 0755);
			*p = '/';
		}
	}
	mkdir(b, 0755);
}

/* A preset in tmpdir/name.ini, added to r. */
static int add_preset(struct registry *r, const char *name, const char *text, struct diag *d)
{
	const char *p = tpath("%s.ini", name);

	write_text(p, text);
	diag_init(d);
	return registry_add_preset(r, p, d);
}

static const struct reg_model *model(const struct registry *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].name, name))
			return &r->v[i];
	fail_msg("no model %s", name);
	return NULL;
}

/* m's args joined with spaces. */
static const char *args(const struct reg_model *m)
{
	static char buf[8192];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < m->n_args; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", m->args[i]);
	return buf;
}

/* The diag's message holds "FILE:LINE:". */
static void assert_line(const struct diag *d, const char *name, unsigned line)
{
	char want[512];

	snprintf(want, sizeof(want), "%s.ini:%u: ", name, line);
	if (!strstr(d->msg, want))
		fail_msg("'%s' does not name %s", d->msg, want);
}

/* ---- parse_duration_ms ------------------------------------------------------ */

static void test_duration(void **state)
{
	static const struct { const char *s; int64_t ms; } ok[] = {
		{ "300ms", 300 }, { "5m", 300000 }, { "1h30m", 5400000 }, { "1.5h", 5400000 },
		{ "-1", -1 }, { "-1m", -1 }, { "-0.5ms", -1 }, { "0", 0 }, { "-0", 0 }, { "0s", 0 },
		{ "10", 10000 }, { "2.5", 2500 }, { "+5s", 5000 }, { ".5s", 500 }, { "5.s", 5000 },
		{ "1us", 0 }, { "1500us", 1 }, { "1500\xc2\xb5s", 1 }, { "1500\xce\xbcs", 1 },
		{ "999999ns", 0 }, { "1h1m1s1ms", 3661001 }, { "2562047h", INT64_C(9223369200000) },
		{ "300", 300000 }, { "-300", -1 }, { "0.0001", 0 }, { "-0.0001", -1 }, { "-0.0000000001", 0 },
		{ "9223372036.854", INT64_C(9223372036854) },
	};
	static const char *const bad[] = {
		"", "abc", "5x", "m", "1h-", "--1", "1e3", " 5m", "5m ", "5 m", ".", "-", "+", "1..5s",
		"5M", "1d", "0x10",
	};
	static const char *const range[] = { "2562048h", "99999999999999999999h", "9223372036854775807",
					     "9999999999999999999999", "9223372037", "-9223372037",
					     "9223372036.855" };
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		ms = 12345;
		if (parse_duration_ms(ok[i].s, &ms) != 0 || ms != ok[i].ms)
			fail_msg("'%s': %lld", ok[i].s, (long long)ms);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (parse_duration_ms(bad[i], &ms) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	for (size_t i = 0; i < ARRAY_SIZE(range); i++)
		if (parse_duration_ms(range[i], &ms) != -ERANGE)
			fail_msg("'%s' not out of range", range[i]);
	assert_int_equal(parse_duration_ms(NULL, &ms), -EINVAL);
}

/* ---- presets ----------------------------------------------------------------- */

/* tools/server/README.md's example, as it is. */
static const char readme_example[] =
	"version = 1\n"
	"\n"
	"; (Optional) This section provides global settings shared across all presets.\n"
	"; If the same key is defined in a specific preset, it will override the value in this global section.\n"
	"[*]\n"
	"c = 8192\n"
	"n-gpu-layers = 8\n"
	"\n"
	"; If the key corresponds to an existing model on the server,\n"
	"; this will be used as the default config for that model\n"
	"[ggml-org/MY-MODEL-GGUF:Q8_0]\n"
	"; string value\n"
	"chat-template = chatml\n"
	"; numeric value\n"
	"n-gpu-layers = 123\n"
	"; flag value (for certain flags, you need to use the \"no-\" prefix for negation)\n"
	"jinja = true\n"
	"; shorthand argument (for example, context size)\n"
	"c = 4096\n"
	"; environment variable name\n"
	"LLAMA_ARG_CACHE_RAM = 0\n"
	"; file paths are relative to server's CWD\n"
	"model-draft = ./my-models/draft.gguf\n"
	"; but it's RECOMMENDED to use absolute path\n"
	"model-draft = /Users/abc/my-models/draft.gguf\n"
	"\n"
	"; If the key does NOT correspond to an existing model,\n"
	"; you need to specify at least the model path or HF repo\n"
	"[custom_model]\n"
	"model = /Users/abc/my-awesome-model-Q4_K_M.gguf\n";

static void test_preset_readme(void **state)
{
	struct registry r;
	struct diag d;
	const struct reg_model *m;

	(void)state;
	registry_init(&r);
	assert_int_equal(add_preset(&r, "readme", readme_example, &d), 0);
	/* the HF section names no file: it waits for a models-dir model */
	assert_int_equal(r.n, 1);
	m = model(&r, "custom_model");
	assert_string_equal(m->path, "/Users/abc/my-awesome-model-Q4_K_M.gguf");
	assert_string_equal(args(m), "--ctx-size 8192 --n-gpu-layers 8");
	assert_string_equal(m->mmproj, "");
	assert_false(m->load_on_startup);
	assert_int_equal(m->stop_timeout_ms, 10000);
	assert_true(m->may_shrink);
	assert_false(m->keep_alive_set);
	assert_false(m->pin);
	assert_int_equal(m->priority, 0);
	assert_non_null(strstr(m->source, "readme.ini:29"));
	diag_init(&d);
	assert_int_equal(registry_check(&r, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "readme.ini:11: [ggml-org/MY-MODEL-GGUF:Q8_0] names no model file"));

	/* the same section with a file: every kind of key */
	assert_int_equal(add_preset(&r, "readme2",
				    "[ggml-org/MY-MODEL-GGUF:Q8_0]\nmodel = /m/q8.gguf\n", &d), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(registry_check(&r, &d), 0);
	m = model(&r, "ggml-org/MY-MODEL-GGUF:Q8_0");
	assert_string_equal(m->path, "/m/q8.gguf");
	assert_string_equal(args(m), "--ctx-size 4096 --n-gpu-layers 123 --chat-template chatml --jinja "
				     "--cache-ram 0 --model-draft /Users/abc/my-models/draft.gguf");
	registry_release(&r);
}

static void test_preset_keys(void **state)
{
	struct registry r;
	struct diag d;
	const struct reg_model *m;

	(void)state;
	registry_init(&r);
	assert_int_equal(add_preset(&r, "keys",
				    "[*]\n"
				    "keep-alive = 10m\n"
				    "jinja = true\n"
				    "[a]\n"
				    "model = /m/a.gguf\n"
				    "load-on-startup = true\n"
				    "stop-timeout = 30\n"
				    "keep-alive = -1\n"
				    "pin = on\n"
				    "priority = -3\n"
				    "shrink = false\n"
				    "jinja = false\n"            /* the negative form */
				    "no-kv-offload = true\n"     /* a negative key */
				    "nr = 0\n"                   /* short negative, false: --repack */
				    "metrics = false\n"          /* no negative form: nothing */
				    "cont-batching = on\n"
				    "LLAMA_ARG_NO_PERF = true\n" /* llama.cpp does not turn it over */
				    "mmproj = /m/mmproj-a.gguf\n"
				    "alias = first , second,,\n"
				    "tags = x,y\n"
				    "dedup-cache-models = 1\n"
				    "future-option = 3\n"
				    "future-flag = true\n"
				    "future-off = false\n"
				    "future-empty =\n"
				    "verbosity = 5\n"
				    "[b]\n"
				    "model = /m/b.gguf\n"
				    "stop-timeout = 0\n",
				    &d),
			 0);
	m = model(&r, "a");
	assert_true(m->load_on_startup);
	assert_int_equal(m->stop_timeout_ms, 30000);
	assert_true(m->keep_alive_set);
	assert_int_equal(m->keep_alive_ms, -1);
	assert_true(m->pin);
	assert_int_equal(m->priority, -3);
	assert_false(m->may_shrink);
	assert_string_equal(m->mmproj, "/m/mmproj-a.gguf");
	assert_int_equal(m->n_aliases, 2);
	assert_string_equal(m->aliases[0], "first");
	assert_string_equal(m->aliases[1], "second");
	assert_string_equal(args(m), "--no-jinja --no-kv-offload --repack --cont-batching --perf --tags x,y "
				     "--future-option 3 --future-flag --future-empty --log-verbosity 5");
	m = model(&r, "b");
	assert_int_equal(m->keep_alive_ms, 600000);
	assert_true(m->keep_alive_set);
	assert_int_equal(m->stop_timeout_ms, 0);
	assert_true(m->may_shrink);
	assert_string_equal(args(m), "--jinja");
	registry_release(&r);
}

static void test_preset_syntax(void **state)
{
	struct registry r;
	struct diag d;
	const struct reg_model *m;

	(void)state;
	registry_init(&r);
	/* comments anywhere, CR LF and CR line ends, a byte order mark,
	 * keys before any section (llama.cpp's model "default"), a section
	 * given twice, spaces in a header, a tag made canonical */
	assert_int_equal(add_preset(&r, "syntax",
				    "\xef\xbb\xbf"
				    "model = /m/default.gguf\r\n"
				    "# comment\r"
				    "[ spaced name ]   ; comment\n"
				    "model = /m/s.gguf ; comment\n"
				    "chat-template = a  b\t \n"
				    "c = 4096#comment\n"
				    "[tagged:q4_k_m]\n"
				    "model = /m/t.gguf\n"
				    "[ud:UD-q4_k_xl]\n"
				    "model = /m/u.gguf\n"
				    "[spaced name]\n"
				    "c = 2048\n"
				    "\t \n"
				    "   ; indented comment\n"
				    "[x_y.z-1]\n"
				    "model=/m/x.gguf",
				    &d),
			 0);
	assert_int_equal(r.n, 5);
	assert_string_equal(model(&r, "default")->path, "/m/default.gguf");
	m = model(&r, "spaced name");
	assert_string_equal(m->path, "/m/s.gguf");
	assert_string_equal(args(m), "--chat-template a  b --ctx-size 2048");
	assert_string_equal(model(&r, "tagged:Q4_K_M")->path, "/m/t.gguf");
	assert_string_equal(model(&r, "ud:Q4_K_XL")->path, "/m/u.gguf");
	assert_string_equal(model(&r, "x_y.z-1")->path, "/m/x.gguf");
	registry_release(&r);

	/* a file of only a version and comments has no models */
	registry_init(&r);
	assert_int_equal(add_preset(&r, "empty", "version = 1\n; nothing\n", &d), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(registry_check(&r, &d), 0);
	assert_int_equal(add_preset(&r, "empty2", "", &d), 0);
	registry_release(&r);
}

static void test_preset_errors(void **state)
{
	static const struct { const char *text; unsigned line; int code; const char *says; } cases[] = {
		{ "[a]\nmodel = /a.gguf\n  c = 1\n", 3, -EBADMSG, "indented" },
		{ "[a]\nmodel = /a.gguf\n[b\n", 3, -EBADMSG, "without ']'" },
		{ "[]\n", 1, -EBADMSG, "empty section name" },
		{ "[  ]\n", 1, -EBADMSG, "empty section name" },
		{ "[a] x\n", 1, -EBADMSG, "text after ']'" },
		{ "[a]\n1key = x\n", 2, -EBADMSG, "expected" },
		{ "[a]\nkey x\n", 2, -EBADMSG, "expected '='" },
		{ "[a]\nkey: x\n", 2, -EBADMSG, "expected '='" },
		{ "[a]\n=x\n", 2, -EBADMSG, "expected" },
		{ "[a]\nport = 8080\n", 2, -EBADMSG, "port is not allowed" },
		{ "[a]\n\nhost = 0.0.0.0\n", 3, -EBADMSG, "host is not allowed" },
		{ "[*]\napi-key = secret\n", 2, -EBADMSG, "api-key is not allowed" },
		{ "[*]\nLLAMA_API_KEY = secret\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nhf = ggml-org/x\n", 2, -EBADMSG, "local files" },
		{ "[a]\nhf-repo = ggml-org/x\n", 2, -EBADMSG, "local files" },
		{ "[a]\nmodels-dir = /m\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nno-models-autoload = true\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nlog-disable = true\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nssl-key-file = k\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\napi-prefix = /x\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nh = true\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nrpc = 10.0.0.1:50052\n", 2, -EBADMSG, "rpc is not allowed" },
		{ "[a]\nprops = true\n", 2, -EBADMSG, "props is not allowed" },
		{ "[a]\nslot-save-path = /tmp\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nmedia-path = /home\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\ntools = all\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nagent = true\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nLLAMA_ARG_ENDPOINT_PROPS = 1\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nmcp-servers-json = {}\n", 2, -EBADMSG, "not allowed" },
		{ "[a]\nfit = on\n", 2, -EBADMSG, "--fit off" },
		{ "[*]\nlv = 3\n", 2, -EBADMSG, "at 4 and above" },
		{ "[*]\nLLAMA_ARG_LOG_VERBOSITY = x\n", 2, -EBADMSG, "at 4 and above" },
		{ "[*]\nmodel = /a.gguf\n", 2, -EBADMSG, "every model" },
		{ "[*]\nalias = x\n", 2, -EBADMSG, "every model" },
		{ "[a]\nmodel =\n", 2, -EBADMSG, "needs a path" },
		{ "[a]\nload-on-startup = yes\n", 2, -EBADMSG, "not a boolean" },
		{ "[a]\npin = 2\n", 2, -EBADMSG, "not a boolean" },
		{ "[a]\nstop-timeout = -1\n", 2, -EBADMSG, "seconds" },
		{ "[a]\nstop-timeout = 10s\n", 2, -EBADMSG, "seconds" },
		{ "[a]\npriority = 99999999999\n", 2, -EBADMSG, "integer" },
		{ "[a]\nkeep-alive = 5 minutes\n", 2, -EBADMSG, "duration" },
		{ "[a]\ncontrol-vector-layer-range = 1 2\n", 2, -EBADMSG, "two values" },
		{ "[a]\nLLAMA_ARG_NOT_AN_OPTION = 1\n", 2, -EBADMSG, "not an option" },
		{ "[a]\n\n\nx = a\0b\n", 4, -EBADMSG, "NUL" },
	};
	struct registry r;
	struct diag d;
	char name[32];

	(void)state;
	registry_init(&r);
	assert_int_equal(add_preset(&r, "good", "[keep]\nmodel = /k.gguf\n", &d), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *p;
		size_t len = strlen(cases[i].text);

		snprintf(name, sizeof(name), "bad%zu", i);
		if (strstr(cases[i].says, "NUL"))
			len = 15; /* the literal holds a NUL */
		p = tpath("%s.ini", name);
		write_bytes(p, cases[i].text, len);
		diag_init(&d);
		if (registry_add_preset(&r, p, &d) != cases[i].code)
			fail_msg("case %zu: %d (%s)", i, d.code, d.msg);
		assert_line(&d, name, cases[i].line);
		if (!strstr(d.msg, cases[i].says))
			fail_msg("case %zu: '%s' does not say '%s'", i, d.msg, cases[i].says);
		/* the registry is as it was */
		assert_int_equal(r.n, 1);
		assert_string_equal(r.v[0].name, "keep");
	}
	/* the offset is the line's */
	assert_int_equal(add_preset(&r, "off", "[a]\nmodel = /a.gguf\nport = 1\n", &d), -EBADMSG);
	assert_int_equal(d.offset, 20);
	registry_release(&r);
}

static void test_preset_hostile(void **state)
{
	struct registry r;
	struct diag d;
	char *big = malloc(REG_FILE_MAX + 2);
	size_t n;

	(void)state;
	assert_non_null(big);
	registry_init(&r);
	/* missing, a directory */
	diag_init(&d);
	assert_int_equal(registry_add_preset(&r, tpath("nope.ini"), &d), -ENOENT);
	assert_non_null(strstr(d.msg, "nope.ini"));
	diag_init(&d);
	assert_true(registry_add_preset(&r, tmpdir, &d) < 0);

	/* a 1 MB value */
	memcpy(big, "[a]\nchat-template = ", 20);
	memset(big + 20, 'x', 1 << 20);
	write_bytes(tpath("long.ini"), big, 20 + (1 << 20));
	diag_init(&d);
	assert_int_equal(registry_add_preset(&r, tpath("long.ini"), &d), -E2BIG);
	assert_line(&d, "long", 2);
	/* a 1 MB line of junk, no newline */
	memset(big, '~', 1 << 20);
	write_bytes(tpath("junk.ini"), big, 1 << 20);
	diag_init(&d);
	assert_int_equal(registry_add_preset(&r, tpath("junk.ini"), &d), -EBADMSG);
	assert_line(&d, "junk", 1);
	/* a 1 MB key */
	memset(big, 'k', 1 << 20);
	write_bytes(tpath("key.ini"), big, 1 << 20);
	diag_init(&d);
	assert_int_equal(registry_add_preset(&r, tpath("key.ini"), &d), -EBADMSG);
	/* a 1 MB section name */
	big[0] = '[';
	big[(1 << 20) - 1] = ']';
	write_bytes(tpath("sec.ini"), big, 1 << 20);
	diag_init(&d);
	assert_int_equal(registry_add_preset(&r, tpath("sec.ini"), &d), -ENAMETOOLONG);
	/* over the size limit */
	memset(big, '\n', REG_FILE_MAX + 1);
	write_bytes(tpath("huge.ini"), big, REG_FILE_MAX + 1);
	diag_init(&d);
	assert_int_equal(registry_add_preset(&r, tpath("huge.ini"), &d), -E2BIG);
	/* random binary junk, many times: an error, never a crash */
	srand(3);
	for (int t = 0; t < 200; t++) {
		n = (size_t)(rand() % 4096);
		for (size_t i = 0; i < n; i++)
			big[i] = (char)(rand() & 0xff);
		write_bytes(tpath("bin.ini"), big, n);
		diag_init(&d);
		(void)!registry_add_preset(&r, tpath("bin.ini"), &d);
	}
	/* a control character or bad UTF-8 in a section name */
	assert_int_equal(add_preset(&r, "ctl", "[a\x01]\nmodel = /a.gguf\n", &d), -EBADMSG);
	assert_int_equal(add_preset(&r, "utf", "[a\xc0\xaf]\nmodel = /a.gguf\n", &d), -EBADMSG);
	assert_int_equal(add_preset(&r, "utf2", "[caf\xc3\xa9]\nmodel = /a.gguf\n", &d), 0);
	free(big);
	registry_release(&r);
}

static void test_aliases(void **state)
{
	struct registry r;
	struct diag d;

	(void)state;
	registry_init(&r);
	assert_int_equal(add_preset(&r, "al", "[a]\nmodel = /a.gguf\nalias = x\n[b]\nmodel = /b.gguf\n", &d), 0);
	assert_int_equal(add_preset(&r, "al2", "[c]\nmodel = /c.gguf\nalias = b\n", &d), -EEXIST);
	assert_non_null(strstr(d.msg, "al2.ini:1"));
	assert_int_equal(add_preset(&r, "al3", "[c]\nmodel = /c.gguf\nalias = y, x\n", &d), -EEXIST);
	assert_int_equal(r.n, 2);
	assert_int_equal(add_preset(&r, "al4", "[c]\nmodel = /c.gguf\nalias = c,z\n", &d), 0);
	assert_int_equal(registry_find(&r, "z"), 2);
	assert_int_equal(registry_find(&r, "x"), 0);
	assert_int_equal(registry_find(&r, "x:latest"), 0);
	registry_release(&r);
}

/* ---- --models-dir ------------------------------------------------------------ */

static void touch(const char *path)
{
	write_text(path, "GGUF");
}

/* tmpdir/d */
static void make_models_dir(const char *d)
{
	mkdirs(tpath("%s", d));
	touch(tpath("%s/a.gguf", d));
	touch(tpath("%s/mmproj-F16.gguf", d));
	touch(tpath("%s/Qwen-mmproj-f16.gguf", d));
	touch(tpath("%s/mtp-a.gguf", d));
	touch(tpath("%s/notes.txt", d));
	touch(tpath("%s/big-00001-of-00003.gguf", d));
	touch(tpath("%s/big-00002-of-00003.gguf", d));
	touch(tpath("%s/big-00003-of-00003.gguf", d));
	mkdirs(tpath("%s/gemma-3-4b-it-Q8_0", d));
	touch(tpath("%s/gemma-3-4b-it-Q8_0/gemma-3-4b-it-Q8_0.gguf", d));
	touch(tpath("%s/gemma-3-4b-it-Q8_0/mmproj-F16.gguf", d));
	mkdirs(tpath("%s/Kimi", d));
	touch(tpath("%s/Kimi/Kimi-00002-of-00003.gguf", d));
	touch(tpath("%s/Kimi/Kimi-00001-of-00003.gguf", d));
	touch(tpath("%s/Kimi/Kimi-00003-of-00003.gguf", d));
	mkdirs(tpath("%s/empty", d));
	touch(tpath("%s/empty/readme.md", d));
	mkdirs(tpath("%s/withdraft", d));
	touch(tpath("%s/withdraft/m.gguf", d));
	touch(tpath("%s/withdraft/dflash-m.gguf", d));
	mkdirs(tpath("%s/nested/deeper", d));
	touch(tpath("%s/nested/deeper/n.gguf", d));
	assert_int_equal(symlink("a.gguf", tpath("%s/link.gguf", d)), 0);
	assert_int_equal(symlink("nowhere.gguf", tpath("%s/dangling.gguf", d)), 0);
}

static void test_models_dir(void **state)
{
	struct registry r;
	struct diag d;
	const struct reg_model *m;
	static const char *const names[] = {
		"Kimi", "a", "big-00001-of-00003", "gemma-3-4b-it-Q8_0", "link", "withdraft",
	};
	char dir[4096];

	(void)state;
	make_models_dir("models");
	snprintf(dir, sizeof(dir), "%s", tpath("models"));
	registry_init(&r);
	diag_init(&d);
	assert_int_equal(registry_add_dir(&r, dir, &d), 0);
	assert_int_equal(r.n, ARRAY_SIZE(names));
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		assert_string_equal(r.v[i].name, names[i]);
	assert_string_equal(model(&r, "a")->path, tpath("models/a.gguf"));
	assert_string_equal(model(&r, "a")->mmproj, "");
	assert_int_equal(model(&r, "a")->n_args, 0);
	assert_string_equal(model(&r, "link")->path, tpath("models/link.gguf"));
	assert_string_equal(model(&r, "big-00001-of-00003")->path, tpath("models/big-00001-of-00003.gguf"));
	m = model(&r, "gemma-3-4b-it-Q8_0");
	assert_string_equal(m->path, tpath("models/gemma-3-4b-it-Q8_0/gemma-3-4b-it-Q8_0.gguf"));
	assert_string_equal(m->mmproj, tpath("models/gemma-3-4b-it-Q8_0/mmproj-F16.gguf"));
	assert_string_equal(model(&r, "Kimi")->path, tpath("models/Kimi/Kimi-00001-of-00003.gguf"));
	m = model(&r, "withdraft");
	assert_string_equal(m->path, tpath("models/withdraft/m.gguf"));
	assert_int_equal(m->n_args, 2);
	assert_string_equal(m->args[0], "--model-draft");
	assert_string_equal(m->args[1], tpath("models/withdraft/dflash-m.gguf"));
	assert_int_equal(registry_check(&r, &d), 0);

	/* the same directory again: every name is taken */
	diag_init(&d);
	assert_int_equal(registry_add_dir(&r, dir, &d), -EEXIST);
	assert_int_equal(r.n, ARRAY_SIZE(names));
	/* missing, not a directory */
	diag_init(&d);
	assert_int_equal(registry_add_dir(&r, tpath("nope"), &d), -ENOENT);
	diag_init(&d);
	assert_int_equal(registry_add_dir(&r, tpath("models/a.gguf"), &d), -ENOTDIR);
	registry_release(&r);

	/* x.gguf and x/ in one directory */
	mkdirs(tpath("dup/x"));
	touch(tpath("dup/x.gguf"));
	touch(tpath("dup/x/x.gguf"));
	registry_init(&r);
	diag_init(&d);
	assert_int_equal(registry_add_dir(&r, tpath("dup"), &d), -EEXIST);
	assert_int_equal(r.n, 0);
	/* a name with a control character */
	mkdirs(tpath("ctl"));
	touch(tpath("ctl/bad\x01name.gguf"));
	diag_init(&d);
	assert_int_equal(registry_add_dir(&r, tpath("ctl"), &d), -EBADMSG);
	registry_release(&r);
}

static void test_dir_and_preset(void **state)
{
	char dir[4096];

	const char *preset = "[*]\nngl = 99\n"
			     "[a]\nc = 2048\npin = true\n"
			     "[gemma-3-4b-it-Q8_0]\nmodel = /elsewhere/g.gguf\n"
			     "[only-here]\nmodel = /m/o.gguf\n";
	struct registry r1, r2;
	struct diag d;

	(void)state;
	make_models_dir("models2");
	snprintf(dir, sizeof(dir), "%s", tpath("models2"));
	/* dir then preset, and preset then dir: the same models */
	registry_init(&r1);
	diag_init(&d);
	assert_int_equal(registry_add_dir(&r1, dir, &d), 0);
	assert_int_equal(add_preset(&r1, "merge", preset, &d), 0);
	registry_init(&r2);
	assert_int_equal(add_preset(&r2, "merge", preset, &d), 0);
	assert_int_equal(r2.n, 2); /* a and gemma wait for the directory */
	diag_init(&d);
	assert_int_equal(registry_check(&r2, &d), -ENOENT);
	assert_int_equal(registry_add_dir(&r2, dir, &d), 0);
	assert_int_equal(registry_check(&r2, &d), 0);
	assert_int_equal(r1.n, 7);
	assert_int_equal(r2.n, 7);
	for (size_t i = 0; i < r1.n; i++) {
		const struct reg_model *m1 = &r1.v[i], *m2 = model(&r2, m1->name);

		assert_string_equal(m1->path, m2->path);
		assert_string_equal(m1->mmproj, m2->mmproj);
		assert_string_equal(args(m1), args(m2));
		assert_int_equal(m1->pin, m2->pin);
	}
	/* [*] reaches the directory's models; the section adds to them */
	assert_string_equal(args(model(&r1, "Kimi")), "--n-gpu-layers 99");
	assert_string_equal(args(model(&r1, "a")), "--n-gpu-layers 99 --ctx-size 2048");
	assert_true(model(&r1, "a")->pin);
	assert_string_equal(model(&r1, "a")->path, tpath("models2/a.gguf"));
	assert_non_null(strstr(model(&r1, "a")->source, "merge.ini:3"));
	/* the section's model wins over the directory's; the mmproj stays */
	assert_string_equal(model(&r1, "gemma-3-4b-it-Q8_0")->path, "/elsewhere/g.gguf");
	assert_string_equal(model(&r1, "gemma-3-4b-it-Q8_0")->mmproj,
			    tpath("models2/gemma-3-4b-it-Q8_0/mmproj-F16.gguf"));
	assert_string_equal(args(model(&r1, "only-here")), "--n-gpu-layers 99");
	registry_release(&r1);
	registry_release(&r2);
}

static void test_find(void **state)
{
	struct registry r;
	struct diag d;

	(void)state;
	registry_init(&r);
	assert_int_equal(add_preset(&r, "find",
				    "[llama3]\nmodel = /m/l.gguf\n"
				    "[qwen:7b]\nmodel = /m/q.gguf\n"
				    "[repo/m:Q4_K_M]\nmodel = /m/r.gguf\n"
				    "[tagged:latest]\nmodel = /m/t.gguf\n",
				    &d),
			 0);
	assert_int_equal(registry_find(&r, "llama3"), 0);
	assert_int_equal(registry_find(&r, "llama3:latest"), 0);
	assert_int_equal(registry_find(&r, "qwen:7B"), 1);
	assert_int_equal(registry_find(&r, "qwen:7b"), 1);  /* as llama.cpp writes it */
	assert_int_equal(registry_find(&r, "repo/m:q4_k_m"), 2);
	assert_int_equal(registry_find(&r, "repo/m:Q4_K_M"), 2);
	assert_int_equal(registry_find(&r, "tagged:latest"), 3); /* [tagged:LATEST] */
	assert_int_equal(registry_find(&r, "tagged"), -1);
	assert_int_equal(registry_find(&r, "qwen"), -1);
	assert_int_equal(registry_find(&r, "qwen:latest"), -1);
	assert_int_equal(registry_find(&r, "Llama3"), -1);
	assert_int_equal(registry_find(&r, ":latest"), -1);
	assert_int_equal(registry_find(&r, "latest"), -1);
	assert_int_equal(registry_find(&r, ""), -1);
	assert_int_equal(registry_find(&r, NULL), -1);
	/* never a path */
	assert_int_equal(registry_find(&r, "/m/l.gguf"), -1);
	assert_int_equal(registry_find(&r, "l.gguf"), -1);
	assert_int_equal(registry_find(&r, "../llama3"), -1);
	registry_release(&r);
}

/* ---- the footprint cache ------------------------------------------------------- */

static void test_footprint_roundtrip(void **state)
{
	struct footprint_cache c, c2;
	struct footprint_key k1, k2, k3;
	char *argv1[] = { "llama-server", "-m", "x", "-c", "4096" };
	char *argv2[] = { "llama-server", "-m", "x", "-c", "8192" };
	char *argv3[] = { "llama-server", "-m", "x", "-c 8192" };
	uint64_t need[] = { UINT64_C(8) << 30, UINT64_C(20) << 30, 5 }, got[FOOTPRINT_MAX_POOLS];
	const char *model_path = tpath("fp-model.gguf"), *cache = tpath("fp.json");
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000, 0 } };
	size_t n = 0;
	struct diag d;

	(void)state;
	touch(model_path);
	footprint_cache_init(&c);
	assert_int_equal(footprint_key_make(&k1, model_path, NULL, argv1, 5), 0);
	assert_int_equal(footprint_key_make(&k2, model_path, NULL, argv2, 5), 0);
	assert_int_equal(footprint_key_make(&k3, model_path, NULL, argv3, 4), 0);
	assert_true(k1.args_hash != k2.args_hash);
	assert_true(k2.args_hash != k3.args_hash);
	assert_int_equal(k1.size, 4);
	{
		char *argv4[] = { "llama-server", "--port", "1234", "-m", "x", "--host", "127.0.0.1",
				  "-c", "4096", "--alias", "a" };

		assert_int_equal(footprint_key_make(&k3, model_path, NULL, argv4, 11), 0);
		assert_true(k3.args_hash == k1.args_hash); /* the port does not matter */
	}
	assert_int_equal(footprint_key_make(&k3, tpath("nope.gguf"), NULL, argv1, 5), -ENOENT);
	assert_int_equal(footprint_key_make(&k3, model_path, "/nonexistent/llama-server", argv1, 5), -ENOENT);
	assert_int_equal(footprint_key_make(&k3, model_path, "/bin/sh", argv1, 5), 0);
	assert_true(k3.args_hash != k1.args_hash);

	assert_int_equal(footprint_cache_lookup(&c, &k1, got, &n), 0);
	assert_int_equal(footprint_cache_store(&c, &k1, need, 3), 0);
	assert_int_equal(footprint_cache_store(&c, &k2, need, 1), 0);
	assert_int_equal(footprint_cache_store(&c, &k2, need + 1, 2), 0); /* replaces */
	assert_int_equal(c.n, 2);
	assert_int_equal(footprint_cache_store(&c, &k1, need, 0), -EINVAL);
	assert_int_equal(footprint_cache_store(&c, &k1, need, FOOTPRINT_MAX_POOLS + 1), -EINVAL);
	{
		uint64_t huge = UINT64_MAX;

		assert_int_equal(footprint_cache_store(&c, &k1, &huge, 1), -ERANGE);
	}
	diag_init(&d);
	assert_int_equal(footprint_cache_save(&c, cache, &d), 0);
	assert_int_equal(access(tpath("fp.json.tmp.%ld", (long)getpid()), F_OK), -1);

	footprint_cache_init(&c2);
	assert_int_equal(footprint_cache_load(&c2, cache, &d), 0);
	assert_int_equal(c2.n, 2);
	assert_int_equal(footprint_cache_lookup(&c2, &k1, got, &n), 1);
	assert_int_equal(n, 3);
	assert_memory_equal(got, need, 3 * sizeof(*need));
	assert_int_equal(footprint_cache_lookup(&c2, &k2, got, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(got[0], need[1]);
	assert_int_equal(got[1], need[2]);
	/* the model file changed: a new key */
	assert_int_equal(utimensat(AT_FDCWD, model_path, ts, 0), 0);
	assert_int_equal(footprint_key_make(&k3, model_path, NULL, argv1, 5), 0);
	assert_int_equal(footprint_cache_lookup(&c2, &k3, got, &n), 0);
	/* a missing file is an empty cache */
	assert_int_equal(footprint_cache_load(&c2, tpath("none.json"), &d), 0);
	assert_int_equal(c2.n, 0);
	footprint_cache_release(&c);
	footprint_cache_release(&c2);
}

static void test_footprint_bounds(void **state)
{
	struct footprint_cache c;
	struct footprint_key k;
	uint64_t need[1] = { 1 }, got[FOOTPRINT_MAX_POOLS];
	size_t n;
	struct diag d;
	const char *cache = tpath("fp-many.json");

	(void)state;
	footprint_cache_init(&c);
	memset(&k, 0, sizeof(k));
	strcpy(k.path, "/m.gguf");
	for (uint64_t i = 0; i < FOOTPRINT_MAX_ENTRIES + 5; i++) {
		k.args_hash = i;
		need[0] = i;
		assert_int_equal(footprint_cache_store(&c, &k, need, 1), 0);
	}
	assert_int_equal(c.n, FOOTPRINT_MAX_ENTRIES);
	for (uint64_t i = 0; i < 5; i++) {
		k.args_hash = i;
		assert_int_equal(footprint_cache_lookup(&c, &k, got, &n), 0);
	}
	k.args_hash = 5;
	assert_int_equal(footprint_cache_lookup(&c, &k, got, &n), 1);
	k.args_hash = FOOTPRINT_MAX_ENTRIES + 4;
	assert_int_equal(footprint_cache_lookup(&c, &k, got, &n), 1);
	assert_int_equal(got[0], FOOTPRINT_MAX_ENTRIES + 4);
	diag_init(&d);
	assert_int_equal(footprint_cache_save(&c, cache, &d), 0);
	footprint_cache_release(&c);
	assert_int_equal(footprint_cache_load(&c, cache, &d), 0);
	assert_int_equal(c.n, FOOTPRINT_MAX_ENTRIES);
	/* the next store comes after every loaded one */
	k.args_hash = 99999;
	assert_int_equal(footprint_cache_store(&c, &k, need, 1), 0);
	k.args_hash = 5; /* the oldest went */
	assert_int_equal(footprint_cache_lookup(&c, &k, got, &n), 0);
	footprint_cache_release(&c);

	/* a file with more than the limit: the newest are kept */
	{
		FILE *f = fopen(cache, "w");

		assert_non_null(f);
		fputs("{\"version\":1,\"entries\":[", f);
		for (int i = 0; i < FOOTPRINT_MAX_ENTRIES + 10; i++)
			fprintf(f, "%s{\"model\":\"/m.gguf\",\"size\":1,\"mtime_ns\":2,\"args\":\"%016x\",\"need\":[%d],\"seq\":%d}",
				i ? "," : "", i, i, i + 1);
		fputs("]}", f);
		fclose(f);
	}
	assert_int_equal(footprint_cache_load(&c, cache, &d), 0);
	assert_int_equal(c.n, FOOTPRINT_MAX_ENTRIES);
	memset(&k, 0, sizeof(k));
	strcpy(k.path, "/m.gguf");
	k.size = 1;
	k.mtime_ns = 2;
	k.args_hash = 9;
	assert_int_equal(footprint_cache_lookup(&c, &k, got, &n), 0);
	k.args_hash = 10;
	assert_int_equal(footprint_cache_lookup(&c, &k, got, &n), 1);
	assert_int_equal(got[0], 10);
	footprint_cache_release(&c);
}

static void test_footprint_corrupt(void **state)
{
	static const char *const files[] = {
		"",
		"{",
		"not json",
		"[]",
		"{\"version\":2,\"entries\":[]}",
		"{\"version\":1}",
		"{\"version\":1,\"entries\":{}}",
		"{\"version\":1,\"entries\":[1]}",
		"{\"version\":1,\"entries\":[{\"model\":\"/m\",\"size\":1,\"mtime_ns\":1,\"args\":\"xyz\",\"need\":[1],\"seq\":1}]}",
		"{\"version\":1,\"entries\":[{\"model\":\"/m\",\"size\":-1,\"mtime_ns\":1,\"args\":\"0000000000000000\",\"need\":[1],\"seq\":1}]}",
		"{\"version\":1,\"entries\":[{\"model\":\"/m\",\"size\":1,\"mtime_ns\":1,\"args\":\"0000000000000000\",\"need\":[],\"seq\":1}]}",
		"{\"version\":1,\"entries\":[{\"model\":\"/m\",\"size\":1,\"mtime_ns\":1,\"args\":\"0000000000000000\",\"need\":[-5],\"seq\":1}]}",
		"{\"version\":1,\"entries\":[{\"model\":\"\",\"size\":1,\"mtime_ns\":1,\"args\":\"0000000000000000\",\"need\":[1],\"seq\":1}]}",
		"{\"version\":1,\"version\":1,\"entries\":[]}",
		"{\"version\":1,\"entries\":[{\"model\":\"/m\\u0000x\",\"size\":1,\"mtime_ns\":1,\"args\":\"0000000000000000\",\"need\":[1],\"seq\":1}]}",
	};
	struct footprint_cache c;
	struct footprint_key k;
	uint64_t need[1] = { 7 };
	struct diag d;
	const char *cache = tpath("fp-bad.json");

	(void)state;
	footprint_cache_init(&c);
	memset(&k, 0, sizeof(k));
	strcpy(k.path, "/m.gguf");
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		assert_int_equal(footprint_cache_store(&c, &k, need, 1), 0);
		write_text(cache, files[i]);
		diag_init(&d);
		if (footprint_cache_load(&c, cache, &d) != -EBADMSG)
			fail_msg("file %zu accepted", i);
		assert_int_equal(c.n, 0);
		assert_non_null(strstr(d.msg, "fp-bad.json"));
	}
	/* binary junk */
	{
		char junk[4096];

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(i * 7 + 3);
		write_bytes(cache, junk, sizeof(junk));
		assert_int_equal(footprint_cache_load(&c, cache, &d), -EBADMSG);
	}
	/* a directory is not a cache; an unwritable place fails to save */
	assert_int_equal(footprint_cache_load(&c, tmpdir, &d), -EBADMSG);
	diag_init(&d);
	assert_true(footprint_cache_save(&c, "/nonexistent/dir/fp.json", &d) < 0);
	assert_true(d.code < 0);
	footprint_cache_release(&c);
}

/* llama-server's command line as llama.cpp reads it: exact names, '_'
 * for '-' in "--" names, and how many values each option takes */
static void test_llama_opt_values(void **state)
{
	(void)state;
	assert_int_equal(registry_llama_opt_values("-t"), 1);
	assert_int_equal(registry_llama_opt_values("--threads"), 1);
	assert_int_equal(registry_llama_opt_values("--ctx_size"), 1);
	assert_int_equal(registry_llama_opt_values("--no-warmup"), 0);
	assert_int_equal(registry_llama_opt_values("--jinja"), 0);
	assert_int_equal(registry_llama_opt_values("-nkvo"), 0);
	assert_int_equal(registry_llama_opt_values("--control-vector-layer-range"), 2);
	/* not llama.cpp's spellings */
	assert_int_equal(registry_llama_opt_values("--t"), -1);
	assert_int_equal(registry_llama_opt_values("-threads"), -1);
	assert_int_equal(registry_llama_opt_values("-ctx_size"), -1);
	assert_int_equal(registry_llama_opt_values("--ctx"), -1);
	assert_int_equal(registry_llama_opt_values("threads"), -1);
	assert_int_equal(registry_llama_opt_values("--bogus"), -1);
	/* preset-only keys, llmem's keys and environment names are not
	 * command-line options */
	assert_int_equal(registry_llama_opt_values("--load-on-startup"), -1);
	assert_int_equal(registry_llama_opt_values("--keep-alive"), -1);
	assert_int_equal(registry_llama_opt_values("LLAMA_ARG_THREADS"), -1);
	assert_int_equal(registry_llama_opt_values("--LLAMA_ARG_THREADS"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_preset_readme),
		cmocka_unit_test(test_preset_keys),
		cmocka_unit_test(test_preset_syntax),
		cmocka_unit_test(test_preset_errors),
		cmocka_unit_test(test_preset_hostile),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_models_dir),
		cmocka_unit_test(test_dir_and_preset),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_llama_opt_values),
		cmocka_unit_test(test_footprint_roundtrip),
		cmocka_unit_test(test_footprint_bounds),
		cmocka_unit_test(test_footprint_corrupt),
	};

	if (getenv("CMOCKA_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
