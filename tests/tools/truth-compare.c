/* truth-compare.c: compares `llmem estimate --json` with what llama-server
 * really allocated (the JSON of scripts/llama-truth.sh) component by
 * component, and the server's resident memory with the estimate's split
 * into file-backed and anonymous memory. Prints one table row per
 * component and exits 1 when one is outside the tolerance: 1% or 4 MiB,
 * whichever is larger, per component; 1% for the total; 3% for RssAnon and
 * RssFile (llama.cpp prints sizes in MiB with two decimals, so 0.005 MiB
 * of rounding is allowed on top).
 *
 * With a GPU (--device NAME): the rows are that device's alone. NAME is
 * the estimate's device name (CUDA0, ...) or CPU, the host: llama.cpp's
 * CPU_Mapped, CPU, CPU_REPACK and CUDA_Host (pinned) buffers. A GPU's
 * rows end with the memory nvidia-smi saw the process hold on it
 * ("gpu_used", llama-truth.sh's GpuUsed), against the estimate's device
 * total, which adds what llama.cpp does not account (CUDA context, cuBLAS
 * workspace, pool); 1% as for the total.
 *
 * usage: truth-compare [--device NAME] TRUTH.json ESTIMATE.json [LABEL] */
#include "base/compat.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

/* The device a llama.cpp buffer lives on: "CUDA0" for CUDA0 (and
 * CUDA0_Split), "CPU" for the host's buffer types (CUDA_Host is pinned
 * host memory). */
static bool on_device(const char *buffer, const char *device)
{
	size_t n = strlen(device);

	if (!buffer)
		return false;
	if (!strcmp(device, "CPU"))
		return !strncmp(buffer, "CPU", 3) || !strcmp(buffer, "CUDA_Host");
	return !strncmp(buffer, device, n) && (buffer[n] == '\0' || buffer[n] == '_') &&
	       strcmp(buffer, "CUDA_Host");
}

/* Bytes of the buffers under KEY: all of them (device NULL), or those of
 * one device; with ONLY, of that one buffer name. */
static int64_t sum_buffers(json_t *truth, const char *key, const char *only, const char *device)
{
	json_t *arr = json_object_get(truth, key), *b;
	int64_t s = 0;
	size_t i;

	json_array_foreach(arr, i, b) {
		const char *name = json_string_value(json_object_get(b, "buffer"));

		if (only && (!name || strcmp(name, only)))
			continue;
		if (device && !on_device(name, device))
			continue;
		s += json_integer_value(json_object_get(b, "bytes"));
	}
	return s;
}

static int row(const char *label, const char *what, int64_t truth, int64_t est, double rel,
	       int64_t abs_tol)
{
	int64_t diff = est - truth, tol = (int64_t)fabs((double)truth * rel);
	bool ok;

	if (tol < abs_tol)
		tol = abs_tol;
	tol += 5243; /* 0.005 MiB of print rounding */
	ok = diff <= tol && diff >= -tol;
	printf("%-12s %-12s %14" PRId64 " %14" PRId64 " %+9.2f MiB %+7.2f%%  %s\n", label, what, truth,
	       est, (double)diff / 1048576.0, truth ? 100.0 * (double)diff / (double)truth : 0.0,
	       ok ? "ok" : "OUT");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	json_error_t err;
	json_t *t, *e, *host;
	const char *device = NULL, *label;
	int bad = 0;

	if (argc > 2 && !strcmp(argv[1], "--device")) {
		device = argv[2];
		argc -= 2;
		argv += 2;
	}
	label = argc > 3 ? argv[3] : "";
	if (argc < 3) {
		fprintf(stderr, "usage: truth-compare [--device NAME] TRUTH.json ESTIMATE.json [LABEL]\n");
		return 2;
	}
	t = json_load_file(argv[1], 0, &err);
	e = json_load_file(argv[2], 0, &err);
	if (!t || !e) {
		fprintf(stderr, "truth-compare: cannot read JSON: %s\n", err.text);
		json_decref(t);
		json_decref(e);
		return 2;
	}
	if (!json_is_true(json_object_get(t, "ok"))) {
		fprintf(stderr, "truth-compare: llama-server did not load the model\n");
		json_decref(t);
		json_decref(e);
		return 2;
	}
	host = json_array_get(json_object_get(e, "devices"), 0);
	if (device) {
		json_t *d;
		size_t i;

		host = NULL;
		json_array_foreach(json_object_get(e, "devices"), i, d) {
			const char *n = json_string_value(json_object_get(d, "name"));

			if (n && !strcmp(n, device))
				host = d;
		}
		if (!host) {
			fprintf(stderr, "truth-compare: the estimate has no device %s\n", device);
			json_decref(t);
			json_decref(e);
			return 2;
		}
	}
#define EST(k) ((int64_t)json_integer_value(json_object_get(host, k)))
	int64_t tw = sum_buffers(t, "model_buffers", NULL, device);
	int64_t tkv = sum_buffers(t, "kv_buffers", NULL, device);
	int64_t trs = sum_buffers(t, "rs_buffers", NULL, device);
	int64_t tc = sum_buffers(t, "compute_buffers", NULL, device);
	int64_t to = sum_buffers(t, "output_buffers", NULL, device);
	int64_t tmap = sum_buffers(t, "model_buffers", "CPU_Mapped", device);
	int64_t trep = sum_buffers(t, "model_buffers", "CPU_REPACK", device);
	bool is_host = !device || !strcmp(device, "CPU");
	const int64_t MiB4 = 4 << 20;

	bad |= row(label, "weights", tw, EST("weights"), 0.01, MiB4);
	if (is_host) {
		bad |= row(label, " mapped", tmap, EST("weights_mapped"), 0.01, MiB4);
		bad |= row(label, " repack", trep, EST("weights_repack"), 0.01, MiB4);
	}
	bad |= row(label, "kv", tkv, EST("kv"), 0.01, MiB4);
	bad |= row(label, "recurrent", trs, EST("recurrent"), 0.01, MiB4);
	bad |= row(label, "compute", tc, EST("compute"), 0.01, MiB4);
	bad |= row(label, "output", to, EST("output"), 0.01, MiB4);
	bad |= row(label, "total", tw + tkv + trs + tc + to,
		   EST("weights") + EST("kv") + EST("recurrent") + EST("compute") + EST("output"), 0.01, 0);

	json_t *rss = json_object_get(t, "rss"), *pr = json_object_get(host, "rss");

	if (!is_host) {
		json_t *used = json_object_get(rss, "GpuUsed");

		if (used)
			bad |= row(label, "gpu_used", json_integer_value(used), EST("total"), 0.01, 0);
	} else if (rss && pr) {
		bad |= row(label, "RssFile", json_integer_value(json_object_get(rss, "RssFile")),
			   json_integer_value(json_object_get(pr, "file")), 0.03, 0);
		bad |= row(label, "RssAnon", json_integer_value(json_object_get(rss, "RssAnon")),
			   json_integer_value(json_object_get(pr, "anon")), 0.03, 0);
	}
	json_decref(t);
	json_decref(e);
	return bad;
}
