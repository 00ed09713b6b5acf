/* fuzz-reqscan.c: libFuzzer differential target for serve/reqscan.c, the
 * one-pass scan of an OpenAI request body. The input is a body, and also a
 * value put in the places the scan follows (a prompt, a logit_bias, a
 * message's content parts, a numeric field, keep_alive): each time the
 * scan's decisions (JSON object or not, the model, "stream", the
 * "keep_alive" value, the first failed check) must be those of the jansson
 * tree the daemon used before (fuzz/reqscan-oracle.h); any difference
 * aborts. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz-util.h"
#include "reqscan-oracle.h"

static void differential(const char *body, size_t n)
{
	char why[256];
	const char *bad = reqscan_differs(body, n, why, sizeof(why));

	if (bad) {
		fprintf(stderr, "check failed: reqscan and jansson differ: %s\n", bad);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const around[][2] = {
		{ "{\"model\":\"m\",\"prompt\":", "}" },
		{ "{\"logit_bias\":", ",\"n\":2}" },
		{ "{\"messages\":[{\"role\":\"user\",\"content\":[", "]}],\"stream\":true}" },
		{ "{\"top_k\":", "}" },
		{ "{\"keep_alive\":", "}" },
	};

	if (size == 0)
		return 0; /* h_openai answers an empty body before scanning */
	differential((const char *)data, size);
	for (size_t i = 0; i < ARRAY_SIZE(around); i++) {
		size_t a = strlen(around[i][0]), b = strlen(around[i][1]);
		char *body = malloc(a + size + b);

		if (!body)
			abort();
		memcpy(body, around[i][0], a);
		memcpy(body + a, data, size);
		memcpy(body + a + size, around[i][1], b);
		differential(body, a + size + b);
		free(body);
	}
	return 0;
}
