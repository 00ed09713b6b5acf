/* fuzz-preset.c: libFuzzer target over a --models-preset file (llama.cpp's
 * router INI, serve/registry.c). The input is the file: written to a
 * memfd and read by registry_add_preset() through /proc/self/fd/N; then
 * added again to the same registry (sections merge into the models the
 * first add made, and names meet their aliases).
 *
 * Checked: a failure leaves the registry as it was and says why, with the
 * file's name; every model found is found by its name and aliases, has a
 * path, and only NUL-terminated arguments. */
#include "base/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "serve/registry.h"

#include "fuzz-util.h"

static void check_failure(int rc, const struct diag *d, const char *path)
{
	FUZZ_CHECK(rc == -EBADMSG || rc == -E2BIG || rc == -ENAMETOOLONG || rc == -EEXIST ||
		   rc == -ENOENT);
	FUZZ_CHECK(d->code == rc);
	FUZZ_CHECK(strncmp(d->msg, path, strlen(path)) == 0);
}

static void check_registry(const struct registry *r)
{
	struct diag d;
	int rc;

	FUZZ_CHECK(r->n <= REG_MAX_MODELS);
	for (size_t i = 0; i < r->n; i++) {
		const struct reg_model *m = &r->v[i];
		char latest[REG_NAME_MAX + 8];

		FUZZ_CHECK(memchr(m->name, '\0', sizeof(m->name)) && m->name[0]);
		FUZZ_CHECK(memchr(m->path, '\0', sizeof(m->path)) && m->path[0]);
		FUZZ_CHECK(memchr(m->mmproj, '\0', sizeof(m->mmproj)));
		FUZZ_CHECK(memchr(m->source, '\0', sizeof(m->source)));
		FUZZ_CHECK(registry_find(r, m->name) == (int)i);
		snprintf(latest, sizeof(latest), "%s:latest", m->name);
		FUZZ_CHECK(registry_find(r, latest) >= 0);
		for (size_t a = 0; a < m->n_aliases; a++) {
			FUZZ_CHECK(m->aliases[a] && m->aliases[a][0]);
			FUZZ_CHECK(registry_find(r, m->aliases[a]) == (int)i);
		}
		FUZZ_CHECK(m->n_args == 0 || m->args);
		for (size_t a = 0; a < m->n_args; a++)
			FUZZ_CHECK(m->args[a] != NULL);
		if (m->n_args)
			FUZZ_CHECK(strncmp(m->args[0], "--", 2) == 0);
		FUZZ_CHECK(m->stop_timeout_ms >= 0);
		FUZZ_CHECK(!m->keep_alive_set || m->keep_alive_ms >= -1);
	}
	diag_init(&d);
	rc = registry_check(r, &d);
	FUZZ_CHECK(rc == 0 || (rc == -ENOENT && d.msg[0]));
	(void)registry_find(r, "");
	(void)registry_find(r, "default");
	(void)registry_find(r, "m:latest");
}

/* The models' names and paths, to see that a failed add changed nothing. */
static char *snapshot(const struct registry *r)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; i < r->n; i++)
		len += strlen(r->v[i].name) + strlen(r->v[i].path) + 2 + 24;
	s = p = malloc(len);
	if (!s)
		abort();
	*p = '\0';
	for (size_t i = 0; i < r->n; i++)
		p += sprintf(p, "%s\n%s\n%zu\n", r->v[i].name, r->v[i].path, r->v[i].n_args);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size);
	struct registry r;
	struct diag d;
	char *before;
	int rc;

	if (!path)
		return 0;
	registry_init(&r);
	diag_init(&d);
	rc = registry_add_preset(&r, path, &d);
	if (rc < 0) {
		check_failure(rc, &d, path);
		FUZZ_CHECK(r.n == 0);
		registry_release(&r);
		return 0;
	}
	FUZZ_CHECK(rc == 0);
	check_registry(&r);

	before = snapshot(&r);
	diag_init(&d);
	rc = registry_add_preset(&r, path, &d);
	if (rc < 0) {
		char *after = snapshot(&r);

		check_failure(rc, &d, path);
		FUZZ_CHECK(strcmp(before, after) == 0);
		free(after);
	}
	check_registry(&r);
	free(before);
	registry_release(&r);
	return 0;
}
