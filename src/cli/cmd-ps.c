/* cmd-ps.c: the clients of a running `llmem serve`: `llmem ps` (what is
 * loaded, as `ollama ps` shows it), `llmem load MODEL`, `llmem unload
 * MODEL`. They talk to the daemon over HTTP (LLMEM_HOST, default
 * 127.0.0.1:11435), with the API key from LLMEM_API_KEY. */
#include "base/compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cmd.h"
#include "cli/cmd-client.h"

static void until(const json_t *m, char *buf, size_t n)
{
	const char *state = json_string_value(json_object_get(m, "state"));
	json_t *ka = json_object_get(m, "keep_alive_ms");
	json_t *busy = json_object_get(m, "busy");

	if (state && strcmp(state, "ready")) {
		snprintf(buf, n, "%s", state);
		return;
	}
	if (json_is_true(json_object_get(m, "pin")) || (json_is_integer(ka) && json_integer_value(ka) < 0)) {
		snprintf(buf, n, "Forever");
		return;
	}
	if (json_integer_value(busy) > 0) {
		snprintf(buf, n, "busy");
		return;
	}
	{
		const char *exp = json_string_value(json_object_get(m, "expires_at"));
		struct tm tm;
		time_t t, now = time(NULL);
		long long left;

		memset(&tm, 0, sizeof(tm));
		if (!exp || !strptime(exp, "%Y-%m-%dT%H:%M:%S", &tm)) {
			snprintf(buf, n, "-");
			return;
		}
		t = timegm(&tm);
		left = (long long)(t - now);
		if (left < 0)
			left = 0;
		if (left < 60)
			snprintf(buf, n, "%lld seconds from now", left);
		else if (left < 7200)
			snprintf(buf, n, "%lld minutes from now", left / 60);
		else
			snprintf(buf, n, "%lld hours from now", left / 3600);
	}
}

static void ps_usage(FILE *fp)
{
	fputs("usage: llmem ps [--host ADDR[:PORT]] [--json]\n"
	      "\n"
	      "The models a running 'llmem serve' has loaded, as 'ollama ps' shows them:\n"
	      "NAME, SIZE, PROCESSOR (100% GPU, 48%/52% CPU/GPU, 100% CPU), CONTEXT, UNTIL.\n", fp);
}

static int ps_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = cmd_daemon_host();
	bool json = false;
	struct cmd_call c;
	json_t *st, *models;
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'H': host = optarg; break;
		case 'j': json = true; break;
		case 'h': ps_usage(stdout); return CMD_EXIT_OK;
		default: ps_usage(stderr); return CMD_EXIT_INPUT;
		}
	}
	if (cmd_daemon_call(host, "GET", "/llmem/status", NULL, 10, false, &c) < 0)
		return CMD_EXIT_FAIL;
	if (c.status != 200 || !c.body) {
		cmd_error("llmem serve answered %d: %s", c.status, c.body ? c.body : "");
		free(c.body);
		return CMD_EXIT_FAIL;
	}
	if (json) {
		fputs(c.body, stdout);
		free(c.body);
		return CMD_EXIT_OK;
	}
	st = json_loads(c.body, 0, NULL);
	free(c.body);
	if (!st) {
		cmd_error("llmem serve's status is not JSON");
		return CMD_EXIT_FAIL;
	}
	models = json_object_get(st, "models");
	printf("%-28s %-10s %-18s %-8s %s\n", "NAME", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL");
	for (size_t i = 0; i < json_array_size(models); i++) {
		json_t *m = json_array_get(models, i), *fp = json_object_get(m, "footprint");
		const char *state = json_string_value(json_object_get(m, "state"));
		uint64_t total = 0, gpu = 0;
		char size[32], proc[32], ctx[16], unt[64];

		if (!state || (strcmp(state, "ready") && strcmp(state, "loading") && strcmp(state, "unloading")))
			continue;
		for (size_t p = 0; p < json_array_size(fp); p++) {
			uint64_t v = (uint64_t)json_integer_value(json_array_get(fp, p));

			total += v;
			if (p > 0)
				gpu += v;
		}
		cmd_daemon_size(total, size, sizeof(size));
		cmd_daemon_processor(total, gpu, proc, sizeof(proc));
		snprintf(ctx, sizeof(ctx), "%lld", (long long)json_integer_value(json_object_get(m, "ctx_size")));
		until(m, unt, sizeof(unt));
		printf("%-28s %-10s %-18s %-8s %s\n", json_string_value(json_object_get(m, "name")), size, proc,
		       ctx, unt);
	}
	json_decref(st);
	return CMD_EXIT_OK;
}

static void load_usage(FILE *fp)
{
	fputs("usage: llmem load MODEL [--host ADDR[:PORT]]\n"
	      "       llmem unload MODEL [--host ADDR[:PORT]]\n"
	      "\n"
	      "Loads a model of a running 'llmem serve' (waits until it is ready), or unloads\n"
	      "it (once its requests in flight are answered).\n", fp);
}

static int load_common(int argc, char **argv, bool unload)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = cmd_daemon_host();
	struct cmd_call c;
	json_t *b;
	char *body;
	int o, rc = CMD_EXIT_OK;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'H': host = optarg; break;
		case 'h': load_usage(stdout); return CMD_EXIT_OK;
		default: load_usage(stderr); return CMD_EXIT_INPUT;
		}
	}
	if (optind != argc - 1) {
		load_usage(stderr);
		return CMD_EXIT_INPUT;
	}
	b = json_object();
	json_object_set_new(b, "model", json_string(argv[optind]));
	body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	if (!body)
		return CMD_EXIT_FAIL;
	if (cmd_daemon_call(host, "POST", unload ? "/models/unload" : "/models/load", body, 3600, false, &c) < 0) {
		free(body);
		return CMD_EXIT_FAIL;
	}
	free(body);
	if (c.status != 200) {
		json_t *j = c.body ? json_loads(c.body, 0, NULL) : NULL;
		const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));

		cmd_error("%s %s: %s", unload ? "unload" : "load", argv[optind],
			  msg ? msg : (c.body ? c.body : "failed"));
		json_decref(j);
		rc = c.status == 404 ? CMD_EXIT_INPUT : CMD_EXIT_FAIL;
	} else {
		printf("%s %s\n", unload ? "unloading" : "loaded", argv[optind]);
	}
	free(c.body);
	return rc;
}

static int load_run(int argc, char **argv)
{
	return load_common(argc, argv, false);
}

static int unload_run(int argc, char **argv)
{
	return load_common(argc, argv, true);
}

const struct cmd cmd_ps = {
	.name = "ps",
	.summary = "the models a running 'llmem serve' has loaded",
	.run = ps_run,
	.usage = ps_usage,
};

const struct cmd cmd_load = {
	.name = "load",
	.summary = "load a model of a running 'llmem serve'",
	.run = load_run,
	.usage = load_usage,
};

const struct cmd cmd_unload = {
	.name = "unload",
	.summary = "unload a model of a running 'llmem serve'",
	.run = unload_run,
	.usage = load_usage,
};
