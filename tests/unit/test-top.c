/* test-top.c: the pure part of `llmem top` (src/cli/cmd-top.h): a status
 * document of the daemon read into models (sizes, CPU/GPU split, the
 * keep-alive countdown, pinned and busy models), bad documents refused, the
 * three sort orders, the bars and the countdown text. The screen itself is
 * tests/integration/t-top.sh (tmux). */
#include "base/compat.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cli/cmd-top.h"

/* A status document as GET /llmem/status writes it, models expiring
 * relative to now. */
static char *status_doc(time_t now)
{
	char exp[64], *buf = malloc(4096);
	struct tm tm;
	time_t t = now + 125;

	assert_non_null(buf);
	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%S.123456789Z", &tm);
	snprintf(buf, 4096,
		 "{\"version\":\"9.9\",\"uptime_ms\":3723000,"
		 "\"pools\":[{\"name\":\"RAM\",\"budget\":1000,\"used\":450},{\"name\":\"CUDA0\",\"budget\":800,\"used\":300}],"
		 "\"models\":["
		 "{\"name\":\"bravo\",\"state\":\"ready\",\"busy\":0,\"queued\":0,\"pin\":false,\"keep_alive_ms\":300000,"
		 "\"expires_at\":\"%s\",\"pid\":42,\"ctx_size\":2048,\"footprint\":[100,300]},"
		 "{\"name\":\"alpha\",\"state\":\"unloaded\",\"busy\":0,\"queued\":0,\"pin\":false,\"keep_alive_ms\":300000,"
		 "\"footprint\":[999,999]},"
		 "{\"name\":\"charlie\",\"state\":\"loading\",\"busy\":0,\"queued\":2,\"pin\":false,\"keep_alive_ms\":300000,"
		 "\"pid\":43,\"ctx_size\":4096,\"footprint\":[50,0]},"
		 "{\"name\":\"delta\",\"state\":\"ready\",\"busy\":0,\"queued\":0,\"pin\":true,\"keep_alive_ms\":300000,"
		 "\"expires_at\":null,\"footprint\":[200,0]},"
		 "{\"name\":\"echo\",\"state\":\"ready\",\"busy\":3,\"queued\":1,\"pin\":false,\"keep_alive_ms\":300000,"
		 "\"expires_at\":\"%s\",\"footprint\":[100,0]},"
		 "{\"name\":\"foxtrot\",\"state\":\"ready\",\"busy\":0,\"queued\":0,\"pin\":false,\"keep_alive_ms\":-1,"
		 "\"expires_at\":null,\"footprint\":[0,0]}"
		 "],\"requests_open\":0,\"rejected\":0}",
		 exp, exp);
	return buf;
}

static const struct top_model *find(const struct top_models *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i].name, name))
			return &m->v[i];
	fail_msg("no model %s", name);
	return NULL;
}

static void test_status_parse(void **state)
{
	struct top_models *m = calloc(1, sizeof(*m));
	time_t now = time(NULL);
	char *doc = status_doc(now);
	const struct top_model *x;

	(void)state;
	assert_non_null(m);
	assert_int_equal(cmd_top_status_parse(doc, strlen(doc), now, m), 0);
	assert_true(m->daemon);
	assert_string_equal(m->version, "9.9");
	assert_int_equal(m->uptime_ms, 3723000);
	assert_int_equal(m->n_budgets, 2);
	assert_string_equal(m->budgets[1].name, "CUDA0");
	assert_int_equal(m->budgets[1].used, 300);
	assert_int_equal(m->budgets[0].budget, 1000);
	assert_int_equal(m->n, 6);
	x = find(m, "bravo");
	assert_string_equal(x->state, "ready");
	assert_int_equal(x->size, 400);
	assert_int_equal(x->gpu, 300);
	assert_int_equal(x->ctx, 2048);
	assert_int_equal(x->pid, 42);
	assert_int_equal(x->until_s, 125);
	/* an unloaded model holds nothing, whatever its last footprint */
	x = find(m, "alpha");
	assert_int_equal(x->size, 0);
	assert_int_equal(x->until_s, TOP_UNTIL_NA);
	x = find(m, "charlie");
	assert_int_equal(x->size, 50);
	assert_int_equal(x->queued, 2);
	assert_int_equal(x->until_s, TOP_UNTIL_NA);
	assert_int_equal(find(m, "delta")->until_s, TOP_UNTIL_FOREVER);
	x = find(m, "echo");
	assert_int_equal(x->until_s, TOP_UNTIL_BUSY);
	assert_int_equal(x->busy, 3);
	assert_int_equal(find(m, "foxtrot")->until_s, TOP_UNTIL_FOREVER);
	/* expired already: 0, not negative */
	assert_int_equal(cmd_top_status_parse(doc, strlen(doc), now + 1000, m), 0);
	assert_int_equal(find(m, "bravo")->until_s, 0);
	free(doc);
	free(m);
}

static void test_status_bad(void **state)
{
	static const char *const bad[] = { "", "not json", "[]", "{}", "{\"models\":{}}", "{\"models\":3}" };
	struct top_models *m = calloc(1, sizeof(*m));

	(void)state;
	assert_non_null(m);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(cmd_top_status_parse(bad[i], strlen(bad[i]), 0, m), -EBADMSG);
	/* odd members are skipped, not trusted */
	{
		const char *odd = "{\"models\":[{\"state\":5,\"footprint\":\"x\",\"busy\":-4},7]}";

		assert_int_equal(cmd_top_status_parse(odd, strlen(odd), 0, m), 0);
		assert_int_equal(m->n, 2);
		assert_string_equal(m->v[0].name, "?");
		assert_string_equal(m->v[0].state, "?");
		assert_int_equal(m->v[0].busy, 0);
		assert_int_equal(m->v[0].size, 0);
	}
	free(m);
}

static void order(const struct top_models *m, const char *want)
{
	char got[256] = "";

	for (size_t i = 0; i < m->n; i++) {
		strcat(got, m->v[i].name);
		strcat(got, i + 1 < m->n ? " " : "");
	}
	assert_string_equal(got, want);
}

static void test_sort(void **state)
{
	struct top_models *m = calloc(1, sizeof(*m));
	time_t now = time(NULL);
	char *doc = status_doc(now);

	(void)state;
	assert_non_null(m);
	assert_int_equal(cmd_top_status_parse(doc, strlen(doc), now, m), 0);
	cmd_top_sort(m, TOP_SORT_NAME);
	order(m, "alpha bravo charlie delta echo foxtrot");
	cmd_top_sort(m, TOP_SORT_SIZE);
	order(m, "bravo delta echo charlie alpha foxtrot");
	cmd_top_sort(m, TOP_SORT_STATE);
	order(m, "bravo delta echo foxtrot charlie alpha");
	assert_string_equal(cmd_top_sort_name(TOP_SORT_NAME), "name");
	assert_string_equal(cmd_top_sort_name(TOP_SORT_SIZE), "size");
	assert_string_equal(cmd_top_sort_name(TOP_SORT_STATE), "state");
	free(doc);
	free(m);
}

static void test_bar(void **state)
{
	char b[64];

	(void)state;
	cmd_top_bar(0, 0, 10, b, sizeof(b));
	assert_string_equal(b, "[        ]");
	cmd_top_bar(50, 100, 12, b, sizeof(b));
	assert_string_equal(b, "[|||||     ]");
	cmd_top_bar(1, 1000000, 12, b, sizeof(b)); /* something shows */
	assert_string_equal(b, "[|         ]");
	cmd_top_bar(300, 100, 6, b, sizeof(b)); /* over: full, not past */
	assert_string_equal(b, "[||||]");
	cmd_top_bar(5, 10, 1, b, sizeof(b));
	assert_string_equal(b, "[|]");
	cmd_top_bar(5, 10, 100, b, 8); /* cut to the buffer */
	assert_string_equal(b, "[|||  ]");
}

static void test_until(void **state)
{
	char b[32];

	(void)state;
	cmd_top_until(0, b, sizeof(b));
	assert_string_equal(b, "0:00");
	cmd_top_until(298, b, sizeof(b));
	assert_string_equal(b, "4:58");
	cmd_top_until(3723, b, sizeof(b));
	assert_string_equal(b, "1:02:03");
	cmd_top_until(TOP_UNTIL_FOREVER, b, sizeof(b));
	assert_string_equal(b, "forever");
	cmd_top_until(TOP_UNTIL_BUSY, b, sizeof(b));
	assert_string_equal(b, "busy");
	cmd_top_until(TOP_UNTIL_NA, b, sizeof(b));
	assert_string_equal(b, "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_parse),
		cmocka_unit_test(test_status_bad),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_bar),
		cmocka_unit_test(test_until),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
