/* json-get.c: prints values from a JSON file for the shell tests:
 * `json-get FILE PATH...`, one line per PATH. A PATH is segments joined
 * by '/': a member name, an array index, KEY=VALUE (the first array
 * element whose member KEY is the string or integer VALUE), or '#' (the
 * number of elements). Strings print raw, null as "null", objects and
 * arrays as compact JSON. A PATH that leads nowhere prints "(missing)"
 * and makes the exit status 1; a file that is not JSON, 2. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static bool member_is(json_t *o, const char *key, const char *value)
{
	json_t *m = json_object_get(o, key);
	char buf[32];

	if (json_is_string(m))
		return !strcmp(json_string_value(m), value);
	if (json_is_integer(m)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(m));
		return !strcmp(buf, value);
	}
	return false;
}

static json_t *step(json_t *j, const char *seg, json_t **owned)
{
	const char *eq = strchr(seg, '=');
	char *end;

	if (!strcmp(seg, "#")) {
		if (json_is_array(j))
			return *owned = json_integer((json_int_t)json_array_size(j));
		if (json_is_object(j))
			return *owned = json_integer((json_int_t)json_object_size(j));
		return NULL;
	}
	if (json_is_array(j) && eq) {
		char key[128];
		size_t i;
		json_t *v;

		if ((size_t)(eq - seg) >= sizeof(key))
			return NULL;
		memcpy(key, seg, (size_t)(eq - seg));
		key[eq - seg] = '\0';
		json_array_foreach(j, i, v)
			if (member_is(v, key, eq + 1))
				return v;
		return NULL;
	}
	if (json_is_array(j)) {
		unsigned long k = strtoul(seg, &end, 10);

		return *end ? NULL : json_array_get(j, k);
	}
	return json_object_get(j, seg);
}

static void print(json_t *v)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING: puts(json_string_value(v)); break;
	case JSON_INTEGER: printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v)); break;
	case JSON_REAL: printf("%.17g\n", json_real_value(v)); break;
	case JSON_TRUE: puts("true"); break;
	case JSON_FALSE: puts("false"); break;
	case JSON_NULL: puts("null"); break;
	default:
		s = json_dumps(v, JSON_COMPACT);
		puts(s ? s : "(error)");
		free(s);
	}
}

int main(int argc, char **argv)
{
	json_error_t err;
	json_t *root;
	int rc = 0;

	if (argc < 3) {
		fputs("usage: json-get FILE PATH...\n", stderr);
		return 2;
	}
	root = json_load_file(argv[1], 0, &err);
	if (!root) {
		fprintf(stderr, "json-get: %s: %s (line %d)\n", argv[1], err.text, err.line);
		return 2;
	}
	for (int a = 2; a < argc; a++) {
		char *path = strdup(argv[a]), *save = NULL, *seg;
		json_t *j = root, *owned = NULL;

		if (!path)
			return 2;
		for (seg = strtok_r(path, "/", &save); seg && j; seg = strtok_r(NULL, "/", &save)) {
			json_t *next = step(j, seg, &owned);

			j = next;
		}
		if (j) {
			print(j);
		} else {
			puts("(missing)");
			rc = 1;
		}
		json_decref(owned);
		free(path);
	}
	json_decref(root);
	return rc;
}
