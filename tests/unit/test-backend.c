/* test-backend.c: serve/backend: the log parser on real llama-server
 * output (tests/fixtures/serve/llama-server-cpu*.log, captured from
 * llama.cpp de3ff81 (v0.5.0) running a gguf-synth tiny llama at -lv 4 and
 * -lv 5 (where the --fit dry run prints buffers too; the -lv 5 copy has
 * its per-tensor "D load:", "D create_tensor:" and
 * "D llama_graph_n_input_tensors:" lines removed), and on a truncated
 * model) and on CUDA/ROCm/Vulkan lines written with llama.cpp's own
 * format strings; line assembly across any read boundaries, the tail,
 * hostile output; and real processes: exit statuses, output, a missing
 * executable, the process group, the parent's death, descriptors and
 * signals the child starts with, the cgroup write, ports, RSS. Run from
 * the repository root. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "serve/backend.h"

#define FIXTURES "tests/fixtures/serve"
#define MIB(x) ((uint64_t)((x) * 1048576.0 + 0.5))

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static const struct backend_buf *get_buf(const struct backend_report *r, const char *dev,
					 enum backend_buf_kind kind)
{
	for (size_t i = 0; i < r->n_bufs; i++)
		if (r->bufs[i].kind == kind && !strcmp(r->bufs[i].device, dev))
			return &r->bufs[i];
	return NULL;
}

static uint64_t buf_bytes(const struct backend_report *r, const char *dev, enum backend_buf_kind kind)
{
	const struct backend_buf *b = get_buf(r, dev, kind);

	return b ? b->bytes : UINT64_MAX;
}

/* Feeds a whole text; lg is heap-allocated (it is 68 KiB). */
static void feed_all(const char *text, size_t n, struct backend_report *rep)
{
	struct backend_log *lg = malloc(sizeof(*lg));

	assert_non_null(lg);
	backend_log_init(lg);
	backend_report_init(rep);
	backend_log_feed(lg, rep, text, n);
	backend_log_flush(lg, rep);
	backend_log_release(lg);
	free(lg);
}

static void feed_lines(struct backend_report *rep, const char *const *lines, size_t n)
{
	backend_report_init(rep);
	for (size_t i = 0; i < n; i++)
		backend_report_parse_line(rep, lines[i], strlen(lines[i]));
}

/* ---- real logs ---------------------------------------------------------- */

static void check_cpu_report(const struct backend_report *r)
{
	uint64_t pool[3];

	assert_int_equal(r->n_bufs, 5);
	assert_int_equal(buf_bytes(r, "CPU_Mapped", BACKEND_BUF_MODEL), MIB(26.29));
	assert_int_equal(buf_bytes(r, "CPU_REPACK", BACKEND_BUF_MODEL), MIB(0.54));
	assert_int_equal(buf_bytes(r, "CPU", BACKEND_BUF_OUTPUT), MIB(1.96));
	assert_int_equal(buf_bytes(r, "CPU", BACKEND_BUF_KV), MIB(4.00));
	assert_int_equal(buf_bytes(r, "CPU", BACKEND_BUF_COMPUTE), MIB(8.01));
	assert_null(get_buf(r, "CPU", BACKEND_BUF_MODEL)); /* the dry run's */
	assert_true(r->listening);
	assert_false(r->oom);
	assert_false(r->load_failed);
	assert_false(r->bufs_overflow);
	assert_false(r->in_fit);
	assert_int_equal(backend_report_pool_bytes(r, 0, pool), 0);
	assert_int_equal(pool[0], MIB(26.29) + MIB(0.54) + MIB(1.96) + MIB(4.00) + MIB(8.01));
	assert_int_equal(backend_report_pool_bytes(r, 2, pool), 0);
	assert_int_equal(pool[1], 0);
	assert_int_equal(pool[2], 0);
}

static void test_fixture_cpu(void **state)
{
	struct backend_report r;
	size_t n;
	char *text = slurp(FIXTURES "/llama-server-cpu.log", &n);

	(void)state;
	feed_all(text, n, &r);
	check_cpu_report(&r);
	assert_int_equal(r.n_lines, 177);
	free(text);
}

/* At -lv 5 the --fit dry run prints buffers of its own (0.00 MiB model,
 * the compute buffer): not counted. */
static void test_fixture_lv5_fit_dry_run(void **state)
{
	struct backend_report r;
	size_t n;
	char *text = slurp(FIXTURES "/llama-server-cpu-lv5.log", &n);

	(void)state;
	feed_all(text, n, &r);
	check_cpu_report(&r);
	free(text);
}

static void test_fixture_fail(void **state)
{
	struct backend_report r;
	size_t n;
	char *text = slurp(FIXTURES "/llama-server-cpu-fail.log", &n);

	(void)state;
	feed_all(text, n, &r);
	assert_true(r.load_failed);
	assert_string_equal(r.fail_line,
			    "llama_model_load: error loading model: tensor 'token_embd.weight' data is not "
			    "within the file bounds, model is corrupted or incomplete");
	assert_false(r.listening);
	assert_false(r.oom);
	assert_int_equal(r.n_bufs, 0);
	free(text);
}

/* ---- lines in llama.cpp's formats -------------------------------------- */

#define LINE(...) (snprintf(buf, sizeof(buf), __VA_ARGS__), backend_report_parse_line(&r, buf, strlen(buf)))

static void test_cuda_lines(void **state)
{
	struct backend_report r;
	char buf[512];
	uint64_t pool[3];

	(void)state;
	backend_report_init(&r);
	/* src/llama-model.cpp, llama-context.cpp, llama-kv-cache.cpp,
	 * llama-memory-recurrent.cpp (v0.5.0), with the log prefix */
	LINE("0.01.713.297 I %s: %12s model buffer size = %8.2f MiB\n", "load_tensors", "CUDA0", 4403.49);
	LINE("0.01.713.297 I %s: %12s model buffer size = %8.2f MiB", "load_tensors", "CUDA1", 3012.25);
	LINE("0.01.713.297 I %s: %12s model buffer size = %8.2f MiB", "load_tensors", "CPU_Mapped", 281.81);
	LINE("%s: %10s  output buffer size = %8.2f MiB", "llama_context", "CUDA_Host", 1.96);
	LINE("%s: %10s KV buffer size = %8.2f MiB", "llama_kv_cache", "CUDA0", 256.00);
	LINE("%s: %10s KV buffer size = %8.2f MiB", "llama_kv_cache", "CUDA1", 256.00);
	/* a second cache (SWA) on the same device adds up */
	LINE("%s: %10s KV buffer size = %8.2f MiB", "llama_kv_cache", "CUDA0", 64.00);
	LINE("%s: %10s RS buffer size = %8.2f MiB", "llama_memory_recurrent", "CUDA1", 0.06);
	LINE("%s: %10s compute buffer size = %8.2f MiB", "sched_reserve", "CUDA0", 258.50);
	LINE("%s: %10s compute buffer size = %8.2f MiB", "sched_reserve", "CUDA1", 300.01);
	LINE("%s: %10s compute buffer size = %8.2f MiB", "sched_reserve", "CUDA_Host", 16.01);
	/* not buffers */
	LINE("%s: %10s compute buffer size is %8.4f MiB, matches expectation of %8.4f MiB",
	     "~llama_context", "CUDA0", 258.5, 258.5);
	LINE("%s: reallocating output buffer from size %.02f MiB to %.02f MiB", "output_reserve", 1.0, 2.0);
	LINE("llama_kv_cache: size = %7.2f MiB (%6u cells, %3d layers, %2u/%u seqs), K (%s): %7.2f MiB, V (%s): %7.2f MiB",
	     512.0, 4096u, 32, 4u, 1u, "f16", 256.0, "f16", 256.0);

	assert_int_equal(r.n_bufs, 10);
	assert_int_equal(buf_bytes(&r, "CUDA0", BACKEND_BUF_MODEL), MIB(4403.49));
	assert_int_equal(buf_bytes(&r, "CUDA0", BACKEND_BUF_KV), MIB(256.00) + MIB(64.00));
	assert_int_equal(buf_bytes(&r, "CUDA1", BACKEND_BUF_RS), MIB(0.06));
	assert_int_equal(buf_bytes(&r, "CUDA_Host", BACKEND_BUF_OUTPUT), MIB(1.96));
	assert_int_equal(backend_report_pool_bytes(&r, 2, pool), 0);
	assert_int_equal(pool[0], MIB(281.81) + MIB(1.96) + MIB(16.01));
	assert_int_equal(pool[1], MIB(4403.49) + MIB(256.00) + MIB(64.00) + MIB(258.50));
	assert_int_equal(pool[2], MIB(3012.25) + MIB(256.00) + MIB(0.06) + MIB(300.01));
	/* one GPU known: CUDA1's bytes are left out and said so */
	assert_int_equal(backend_report_pool_bytes(&r, 1, pool), -ERANGE);
	assert_int_equal(pool[1], MIB(4403.49) + MIB(256.00) + MIB(64.00) + MIB(258.50));
	assert_string_equal(backend_buf_kind_name(BACKEND_BUF_RS), "RS");
}

static void test_other_backends(void **state)
{
	struct backend_report r;
	char buf[512];
	uint64_t pool[3];

	(void)state;
	backend_report_init(&r);
	LINE("%s: %12s model buffer size = %8.2f MiB", "load_tensors", "ROCm0", 100.0);
	LINE("%s: %12s model buffer size = %8.2f MiB", "load_tensors", "ROCm_Host", 1.0);
	LINE("%s: %12s model buffer size = %8.2f MiB", "load_tensors", "Vulkan1", 200.0);
	LINE("%s: %12s model buffer size = %8.2f MiB", "load_tensors", "Vulkan_Host", 2.0);
	LINE("%s: %12s model buffer size = %8.2f MiB", "load_tensors", "AMX", 3.0);
	assert_int_equal(backend_report_pool_bytes(&r, 2, pool), 0);
	assert_int_equal(pool[0], MIB(1.0) + MIB(2.0) + MIB(3.0));
	assert_int_equal(pool[1], MIB(100.0));
	assert_int_equal(pool[2], MIB(200.0));
	LINE("%s: %12s model buffer size = %8.2f MiB", "load_tensors", "RPC[10.0.0.1:50052]", 5.0);
	assert_int_equal(backend_report_pool_bytes(&r, 2, pool), -ERANGE);
	assert_int_equal(pool[0], MIB(1.0) + MIB(2.0) + MIB(3.0));
}

static void test_device_pool(void **state)
{
	(void)state;
	assert_int_equal(backend_device_pool("CPU"), 0);
	assert_int_equal(backend_device_pool("CPU_Mapped"), 0);
	assert_int_equal(backend_device_pool("CPU_REPACK"), 0);
	assert_int_equal(backend_device_pool("CUDA_Host"), 0);
	assert_int_equal(backend_device_pool("Vulkan_Host"), 0);
	assert_int_equal(backend_device_pool("CUDA0"), 1);
	assert_int_equal(backend_device_pool("CUDA12"), 13);
	assert_int_equal(backend_device_pool("CUDA0_Split"), 1);
	assert_int_equal(backend_device_pool("ROCm1"), 2);
	assert_int_equal(backend_device_pool("Vulkan0"), 1);
	assert_int_equal(backend_device_pool("MTL0"), 1);
	assert_int_equal(backend_device_pool("SYCL3"), 4);
	assert_int_equal(backend_device_pool("OpenCL"), 1);
	assert_int_equal(backend_device_pool("CUDA"), -1);
	assert_int_equal(backend_device_pool("CUDAx"), -1);
	assert_int_equal(backend_device_pool("CUDA0x"), -1);
	assert_int_equal(backend_device_pool("CUDA99999999999999999999"), -1);
	assert_int_equal(backend_device_pool(""), -1);
	assert_int_equal(backend_device_pool("BLAS"), -1);
}

static void test_mib_rounding(void **state)
{
	struct backend_report r;
	char buf[512];

	(void)state;
	backend_report_init(&r);
	LINE("x: %10s KV buffer size = %8.2f MiB", "CUDA0", 0.01);   /* 10485.76 */
	LINE("x: %10s KV buffer size = %8.2f MiB", "CUDA1", 0.00);
	LINE("x: %10s KV buffer size = %8.2f MiB", "CUDA2", 123456789.99);
	LINE("x: %10s RS buffer size = %s MiB", "CUDA3", "1.0000005"); /* 6 decimals kept */
	assert_int_equal(buf_bytes(&r, "CUDA0", BACKEND_BUF_KV), 10486);
	assert_int_equal(buf_bytes(&r, "CUDA1", BACKEND_BUF_KV), 0);
	assert_int_equal(buf_bytes(&r, "CUDA2", BACKEND_BUF_KV),
			 UINT64_C(123456789) * 1048576 + 1038090); /* .99 * 2^20 = 1038090.24 */
	assert_int_equal(buf_bytes(&r, "CUDA3", BACKEND_BUF_RS), 1048576 + 0); /* 0.000000 */
	/* malformed sizes and lines are ignored */
	LINE("x: CUDA4 KV buffer size = abc MiB");
	LINE("x: CUDA4 KV buffer size = 1.5 GiB");
	LINE("x: CUDA4 KV buffer size = 1.5");
	LINE("x: CUDA4 KV buffer size = -1.00 MiB");
	LINE("x: CUDA4 KV buffer size = 9999999999999999.00 MiB");
	LINE("x: CUDA4 bogus buffer size = 1.00 MiB");
	LINE("x: KV buffer size = 1.00 MiB");
	LINE(" buffer size = 1.00 MiB");
	LINE("x:  KV buffer size = 1.00 MiB");
	LINE("x: %s KV buffer size = 1.00 MiB", "A_DEVICE_NAME_OF_MORE_THAN_32_BYTES");
	assert_null(get_buf(&r, "CUDA4", BACKEND_BUF_KV));
	assert_int_equal(r.n_bufs, 4);
}

static void test_oom_and_failures(void **state)
{
	static const char *const ooms[] = {
		"0.01.000.000 E ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4403.49 MiB on device 0: cudaMalloc failed: out of memory",
		"alloc_tensor_range: failed to allocate CUDA0 buffer of size 4617396224",
		"llama_model_load: error loading model: unable to allocate CUDA0 buffer",
		"ggml_vulkan: Device memory allocation of size 1 failed. vk::Device::allocateMemory: ErrorOutOfDeviceMemory",
		"terminate called after throwing an instance of 'std::bad_alloc'",
		"CUDA error: out of memory",
		"CUDA error: Out Of Memory",
	};
	static const char *const benign[] = {
		"ggml_cuda_host_malloc: failed to allocate 512.00 MiB of pinned memory: out of memory",
		"0.00.1 D llama_model_loader: failed to allocate host buffer for async uploads for device CUDA0",
		"srv  failed to allocate memory for prompt cache state: std::bad_alloc",
		"0.00.000.001 D anything: out of memory",
	};
	struct backend_report r;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ooms); i++) {
		feed_lines(&r, &ooms[i], 1);
		assert_true(r.oom);
	}
	feed_lines(&r, ooms, ARRAY_SIZE(ooms));
	/* the first one, without its prefix */
	assert_string_equal(r.oom_line, ooms[0] + strlen("0.01.000.000 E "));
	for (size_t i = 0; i < ARRAY_SIZE(benign); i++) {
		feed_lines(&r, &benign[i], 1);
		assert_false(r.oom);
	}
	{
		static const char *const fails[] = {
			"0.00.107.827 E cmn  common_init_: failed to load model '/m.gguf'",
			"srv  llama_server: couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8080",
			"0.00.108.596 E srv  llama_server: exiting due to model loading error",
			"llama_init_from_model: failed to initialize the context: failed to allocate buffer for kv cache",
		};
		for (size_t i = 0; i < ARRAY_SIZE(fails); i++) {
			feed_lines(&r, &fails[i], 1);
			assert_true(r.load_failed);
			assert_int_equal(r.bind_failed, i == 1);
		}
		feed_lines(&r, fails, 2);
		assert_string_equal(r.fail_line, "cmn  common_init_: failed to load model '/m.gguf'");
		{
			const char *l = "srv  failed to load prompt from cache";

			feed_lines(&r, &l, 1);
			assert_false(r.load_failed);
		}
	}
	{
		/* older llama-server, and a colored log */
		const char *l[] = { "main: server is listening on http://127.0.0.1:8080 - starting the main loop" };
		const char *c[] = { "\x1b[32m0.00.713.297 I load_tensors: \x1b[0m  CUDA0 model buffer size =   10.00 MiB\x1b[0m",
				    "\x1b[35msrv  llama_server: listening on http://127.0.0.1:1\x1b[0m" };

		feed_lines(&r, l, 1);
		assert_true(r.listening);
		assert_int_equal(r.listen_port, 8080);
		feed_lines(&r, c, 2);
		assert_true(r.listening);
		/* the port, after the colour codes too: the daemon trusts a
		 * /health answer only once its child named the port (B30) */
		assert_int_equal(r.listen_port, 1);
		assert_int_equal(buf_bytes(&r, "CUDA0", BACKEND_BUF_MODEL), MIB(10.0));
	}
	{
		const char *l[] = { "srv  llama_server: listening on http://127.0.0.1:99999999999 - overflow",
				    "srv  listening on http://localhost - no port" };

		feed_lines(&r, l, 1);
		assert_true(r.listening);
		assert_int_equal(r.listen_port, 0);
		feed_lines(&r, l + 1, 1);
		assert_int_equal(r.listen_port, 0);
	}
}

/* Once loaded, info and debug lines are only counted; failures come as
 * errors, warnings or bare lines, and are still seen. */
static void test_loaded(void **state)
{
	static const char *const quiet[] = {
		"0.05.000.001 I slot launch_slot_: id  0 | task 7 | processing task",
		"0.05.000.002 D srv  params_from_: out of memory (a prompt that says so)",
		"0.05.000.003 I load_tensors:          CPU model buffer size =   10.00 MiB",
		"\trepeat_last_n = 64, repeat_penalty = 1.000, frequency_penalty = 0.000 (out of memory)",
	};
	static const char *const loud[] = {
		"0.05.100.000 E ggml_gallocr_reserve_n: failed to allocate CPU buffer of size 1234",
		"terminate called after throwing an instance of 'std::bad_alloc'",
		"0.05.100.000 W ggml_backend_cuda_buffer_type_alloc_buffer: cudaMalloc failed: out of memory",
	};
	struct backend_report r;

	(void)state;
	backend_report_init(&r);
	r.loaded = true;
	for (size_t i = 0; i < ARRAY_SIZE(quiet); i++)
		backend_report_parse_line(&r, quiet[i], strlen(quiet[i]));
	assert_false(r.oom);
	assert_int_equal(r.n_bufs, 0);
	assert_int_equal(r.n_lines, ARRAY_SIZE(quiet));
	for (size_t i = 0; i < ARRAY_SIZE(loud); i++) {
		backend_report_init(&r);
		r.loaded = true;
		backend_report_parse_line(&r, loud[i], strlen(loud[i]));
		assert_true(r.oom);
	}
	/* while loading, an info line's buffer counts */
	backend_report_init(&r);
	backend_report_parse_line(&r, quiet[2], strlen(quiet[2]));
	assert_int_equal(r.n_bufs, 1);
	/* and a continuation line is parsed while loading */
	backend_report_parse_line(&r, quiet[3], strlen(quiet[3]));
	assert_true(r.oom);
}

static void test_clip(void **state)
{
	static const char *const lines[] = {
		"clip_ctx: CLIP using CUDA0 backend",
		"load_hparams: model size:         851.38 MiB",
		"load_hparams: metadata size:      0.16 MiB",
		"alloc_compute_meta:      CUDA0 compute buffer size =   120.50 MiB",
		"alloc_compute_meta:        CPU compute buffer size =     4.00 MiB",
		"clip_ctx: CLIP using CPU backend",
		"load_hparams: model size:         10.00 MiB",
	};
	struct backend_report r;

	(void)state;
	feed_lines(&r, lines, ARRAY_SIZE(lines));
	assert_int_equal(buf_bytes(&r, "CUDA0", BACKEND_BUF_MODEL), MIB(851.38));
	assert_int_equal(buf_bytes(&r, "CUDA0", BACKEND_BUF_COMPUTE), MIB(120.50));
	assert_int_equal(buf_bytes(&r, "CPU", BACKEND_BUF_MODEL), MIB(10.0));
}

/* --lora: the adapters' buffers count with the weights; llama.cpp
 * reserves the graph again once they are applied, and the new compute
 * buffer replaces the old one (clip.cpp's adds to it) */
static void test_lora_reserve(void **state)
{
	static const char *const lines[] = {
		"0.01.500.000 I llama_context: constructing llama_context",
		"0.01.616.231 I llama_adapter_lora_init_impl: CPU_Mapped LoRA buffer size =     0.69 MiB",
		"0.01.616.235 I llama_adapter_lora_init_impl:        CPU LoRA buffer size =     7.19 MiB",
		"0.01.619.363 I sched_reserve: reserving ...",
		"0.01.620.920 I sched_reserve:        CPU compute buffer size =    19.52 MiB",
		"0.01.621.565 I sched_reserve: reserving ...",
		"0.01.625.921 I sched_reserve:        CPU compute buffer size =    20.52 MiB",
		"0.06.883.684 I reserve_compute_meta:        CPU compute buffer size =  121.25 MiB",
		/* a draft model's context: a buffer of its own */
		"0.07.000.000 I llama_context: constructing llama_context",
		"0.07.100.000 I sched_reserve:        CPU compute buffer size =    3.00 MiB",
		"0.07.200.000 I sched_reserve:        CPU compute buffer size =    4.00 MiB",
	};
	struct backend_report r;

	(void)state;
	feed_lines(&r, lines, ARRAY_SIZE(lines));
	assert_int_equal(buf_bytes(&r, "CPU_Mapped", BACKEND_BUF_MODEL), MIB(0.69));
	assert_int_equal(buf_bytes(&r, "CPU", BACKEND_BUF_MODEL), MIB(7.19));
	assert_int_equal(buf_bytes(&r, "CPU", BACKEND_BUF_COMPUTE), MIB(20.52) + MIB(121.25) + MIB(4.00));
}

static void test_too_many_buffers(void **state)
{
	struct backend_report r;
	char buf[128];

	(void)state;
	backend_report_init(&r);
	for (int i = 0; i < BACKEND_MAX_BUFS + 10; i++)
		LINE("x: CUDA%d KV buffer size = 1.00 MiB", i);
	assert_int_equal(r.n_bufs, BACKEND_MAX_BUFS);
	assert_true(r.bufs_overflow);
}

/* ---- line assembly ------------------------------------------------------- */

static bool reports_equal(const struct backend_report *a, const struct backend_report *b)
{
	if (a->n_bufs != b->n_bufs || a->listening != b->listening || a->oom != b->oom ||
	    a->load_failed != b->load_failed || a->n_lines != b->n_lines ||
	    strcmp(a->fail_line, b->fail_line) || strcmp(a->oom_line, b->oom_line))
		return false;
	for (size_t i = 0; i < a->n_bufs; i++)
		if (a->bufs[i].kind != b->bufs[i].kind || a->bufs[i].bytes != b->bufs[i].bytes ||
		    strcmp(a->bufs[i].device, b->bufs[i].device))
			return false;
	return true;
}

static void test_split_reads(void **state)
{
	static const char *const files[] = {
		FIXTURES "/llama-server-cpu.log", FIXTURES "/llama-server-cpu-lv5.log",
		FIXTURES "/llama-server-cpu-fail.log",
	};
	struct backend_log *lg1 = malloc(sizeof(*lg1)), *lg2 = malloc(sizeof(*lg2));
	struct backend_report once, bytes, chunks;
	char *t1 = malloc(BACKEND_TAIL_MAX + 1), *t2 = malloc(BACKEND_TAIL_MAX + 1);

	(void)state;
	assert_non_null(lg1);
	assert_non_null(lg2);
	assert_non_null(t1);
	assert_non_null(t2);
	srand(7);
	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		size_t n, pos = 0;
		char *text = slurp(files[f], &n);

		feed_all(text, n, &once);
		backend_log_init(lg1);
		backend_report_init(&bytes);
		for (size_t i = 0; i < n; i++)
			backend_log_feed(lg1, &bytes, text + i, 1);
		backend_log_flush(lg1, &bytes);
		assert_true(reports_equal(&once, &bytes));

		backend_log_init(lg2);
		backend_report_init(&chunks);
		while (pos < n) {
			size_t k = (size_t)(rand() % 700);

			if (k > n - pos)
				k = n - pos;
			backend_log_feed(lg2, &chunks, text + pos, k);
			pos += k;
		}
		backend_log_flush(lg2, &chunks);
		assert_true(reports_equal(&once, &chunks));
		assert_int_equal(backend_log_tail(lg1, t1, BACKEND_TAIL_MAX + 1),
				 backend_log_tail(lg2, t2, BACKEND_TAIL_MAX + 1));
		assert_string_equal(t1, t2);
		assert_int_equal(lg1->n_bytes, n);
		free(text);
	}
	free(t1);
	free(t2);
	free(lg1);
	free(lg2);
}

/* A loaded backend's quiet lines are counted where they lie in the read
 * buffer (backend_log_feed's fast path): the report must be what parsing
 * every line gives, whatever the pieces the bytes come in. */
static void test_loaded_feed(void **state)
{
	static const char *const files[] = {
		FIXTURES "/llama-server-cpu.log", FIXTURES "/llama-server-cpu-lv5.log",
		FIXTURES "/llama-server-cpu-fail.log",
	};
	static const char extra[] =
		"0.05.000.001 I slot launch_slot_: id  0 | task 7 | processing task\r\n"
		"\trepeat_last_n = 64 (out of memory)\n"
		" top_k = 40 (failed to allocate)\n"
		"0.05.000.002 W slot operator(): id  3 | need to evaluate at least 1 token\n"
		"0.05.000.002 D srv  params_from_: out of memory (a prompt that says so)\n"
		"12 I\n12 I \n\n\r\n.. I x\n0.1 Ix\n"
		"0.05.100.000 W ggml_backend_cuda_buffer_type_alloc_buffer: cudaMalloc failed: out of memory\n"
		"0.05.100.001 E failed to initialize the context: whatever\n";
	struct backend_log *lg = malloc(sizeof(*lg));

	(void)state;
	assert_non_null(lg);
	srand(11);
	for (size_t f = 0; f <= ARRAY_SIZE(files); f++) {
		size_t n, pos = 0, start = 0;
		char *text = f < ARRAY_SIZE(files) ? slurp(files[f], &n) : strdup(extra);
		struct backend_report ref, whole, pieces;

		assert_non_null(text);
		if (f == ARRAY_SIZE(files))
			n = strlen(text);
		/* the reference: each line to the parser, as line_end() hands it */
		backend_report_init(&ref);
		ref.loaded = true;
		for (size_t i = 0; i <= n; i++) {
			if (i < n && text[i] != '\n')
				continue;
			if (i == n && start == n)
				break;
			{
				size_t k = i - start;

				if (i < n && k > 0 && text[start + k - 1] == '\r')
					k--;
				backend_report_parse_line(&ref, text + start, k);
			}
			start = i + 1;
		}
		backend_log_init(lg);
		backend_report_init(&whole);
		whole.loaded = true;
		backend_log_feed(lg, &whole, text, n);
		backend_log_flush(lg, &whole);
		assert_true(reports_equal(&ref, &whole));
		backend_log_init(lg);
		backend_report_init(&pieces);
		pieces.loaded = true;
		while (pos < n) {
			size_t k = (size_t)(rand() % 300);

			if (k > n - pos)
				k = n - pos;
			backend_log_feed(lg, &pieces, text + pos, k);
			pos += k;
		}
		backend_log_flush(lg, &pieces);
		assert_true(reports_equal(&ref, &pieces));
		if (f == ARRAY_SIZE(files)) {
			assert_true(whole.oom);
			assert_true(whole.load_failed);
			assert_int_equal(whole.n_lines, 13);
		}
		free(text);
	}
	free(lg);
}

static void test_crlf_and_last_line(void **state)
{
	struct backend_log *lg = malloc(sizeof(*lg));
	struct backend_report r;
	const char *text = "x: CPU KV buffer size = 1.00 MiB\r\nsrv listening on http://127.0.0.1:1";

	(void)state;
	assert_non_null(lg);
	backend_log_init(lg);
	backend_report_init(&r);
	backend_log_feed(lg, &r, text, strlen(text));
	assert_int_equal(buf_bytes(&r, "CPU", BACKEND_BUF_KV), MIB(1.0));
	assert_false(r.listening); /* no newline yet */
	backend_log_flush(lg, &r);
	assert_true(r.listening);
	backend_log_flush(lg, &r); /* nothing more */
	assert_int_equal(r.n_lines, 2);
	/* rep may be NULL */
	backend_log_feed(lg, NULL, "a\nb\n", 4);
	free(lg);
}

static void test_tail(void **state)
{
	struct backend_log *lg = malloc(sizeof(*lg));
	char *big = malloc(BACKEND_TAIL_MAX + 1), small[64], line[32];
	size_t n;

	(void)state;
	assert_non_null(lg);
	assert_non_null(big);
	backend_log_init(lg);
	assert_int_equal(backend_log_tail(lg, small, sizeof(small)), 0);
	assert_string_equal(small, "");
	assert_int_equal(backend_log_tail(lg, small, 0), 0);
	backend_log_feed(lg, NULL, "one\ntwo\n", 8);
	assert_int_equal(backend_log_tail(lg, small, sizeof(small)), 8);
	assert_string_equal(small, "one\ntwo\n");
	/* a small buffer: the last whole lines */
	assert_int_equal(backend_log_tail(lg, small, 7), 4);
	assert_string_equal(small, "two\n");
	/* a window starting exactly at a line start keeps that line */
	assert_int_equal(backend_log_tail(lg, small, 5), 4);
	assert_string_equal(small, "two\n");
	/* no newline in the window: the bytes as they are */
	assert_int_equal(backend_log_tail(lg, small, 3), 2);
	assert_string_equal(small, "o\n");

	/* 200 000 numbered lines: only the last 64 KiB are kept */
	for (int i = 0; i < 200000; i++) {
		int k = snprintf(line, sizeof(line), "line %d\n", i);

		backend_log_feed(lg, NULL, line, (size_t)k);
	}
	assert_int_equal(lg->ring_len, BACKEND_TAIL_MAX);
	n = backend_log_tail(lg, big, BACKEND_TAIL_MAX + 1);
	assert_true(n < BACKEND_TAIL_MAX && n > BACKEND_TAIL_MAX - 20);
	assert_memory_equal(big, "line ", 5); /* starts at a line start */
	assert_string_equal(big + n - strlen("line 199999\n"), "line 199999\n");
	n = backend_log_tail(lg, small, sizeof(small));
	assert_memory_equal(small, "line ", 5);
	assert_string_equal(small + n - strlen("line 199999\n"), "line 199999\n");

	/* NULs come out as '?'; a partial last line is included */
	backend_log_init(lg);
	backend_log_feed(lg, NULL, "a\0b\nc", 5);
	assert_int_equal(backend_log_tail(lg, small, sizeof(small)), 5);
	assert_string_equal(small, "a?b\nc");
	backend_log_release(lg);
	free(big);
	free(lg);
}

static void test_hostile_output(void **state)
{
	struct backend_log *lg = malloc(sizeof(*lg));
	struct backend_report r;
	char *junk = malloc(1 << 20), tail[128];
	const char *ok = "\nx: CPU KV buffer size = 2.00 MiB\n";

	(void)state;
	assert_non_null(lg);
	assert_non_null(junk);
	/* 1 MiB without a newline, fed in pieces, then a real line */
	memset(junk, 'A', 1 << 20);
	backend_log_init(lg);
	backend_report_init(&r);
	for (size_t i = 0; i < (1 << 20); i += 4093)
		backend_log_feed(lg, &r, junk + i, (1 << 20) - i < 4093 ? (1 << 20) - i : 4093);
	assert_true(lg->line_cut);
	assert_int_equal(lg->line_len, BACKEND_LINE_MAX);
	backend_log_feed(lg, &r, ok, strlen(ok));
	assert_int_equal(r.n_lines, 2);
	assert_int_equal(buf_bytes(&r, "CPU", BACKEND_BUF_KV), MIB(2.0));
	assert_int_equal(lg->ring_len, BACKEND_TAIL_MAX);
	assert_int_equal(lg->n_bytes, (1 << 20) + strlen(ok));
	backend_log_tail(lg, tail, sizeof(tail));
	assert_string_equal(tail, "x: CPU KV buffer size = 2.00 MiB\n");

	/* the same at once; a pattern past the first 4 KiB of a line is not seen */
	backend_log_init(lg);
	backend_report_init(&r);
	memset(junk, ' ', 8192);
	memcpy(junk + 5000, "x: CPU KV buffer size = 2.00 MiB\n", 33);
	backend_log_feed(lg, &r, junk, 5033);
	assert_int_equal(r.n_lines, 1);
	assert_int_equal(r.n_bufs, 0);

	/* NULs, high bytes and control characters inside lines */
	for (int i = 0; i < 1 << 20; i++)
		junk[i] = (char)(rand() & 0xff);
	backend_log_init(lg);
	backend_report_init(&r);
	backend_log_feed(lg, &r, junk, 1 << 20);
	backend_log_flush(lg, &r);
	backend_log_feed(lg, &r, "x: CUDA0\0 KV buffer size = 2.00 MiB\n", 37);
	assert_null(get_buf(&r, "CUDA0", BACKEND_BUF_KV));
	backend_log_feed(lg, &r, "x: CUDA0 KV buffer size = 2.00 MiB\0\n", 36);
	assert_int_equal(buf_bytes(&r, "CUDA0", BACKEND_BUF_KV), MIB(2.0));
	/* the report line parser on its own, longer than a line may be */
	backend_report_parse_line(&r, junk, 1 << 20);
	backend_report_parse_line(&r, "", 0);
	free(junk);
	free(lg);
}

/* ---- processes ------------------------------------------------------------ */

/* Reads b's output to its end (5 s at most) and reaps it. */
static int run_to_end(struct backend_proc *bp, struct backend_log *lg, struct backend_report *rep)
{
	int ws = -1;

	for (int i = 0; i < 500; i++) {
		struct pollfd p = { bp->out_fd, POLLIN, 0 };
		int e;

		if (poll(&p, 1, 10) < 0)
			continue;
		e = backend_read(bp, lg, rep);
		if (e == 0)
			break;
		assert_true(e > 0 || e == -EAGAIN);
	}
	assert_true(bp->eof);
	for (int i = 0; i < 500; i++) {
		int e = backend_reap(bp, &ws);

		assert_true(e >= 0);
		if (e == 1)
			break;
		usleep(10000);
	}
	assert_true(bp->exited);
	backend_close(bp);
	return ws;
}

static int start(struct backend_proc *bp, const char *exe, char *const *argv)
{
	struct backend_spec sp = { exe, argv, NULL, NULL };

	return backend_start(&sp, bp);
}

static void test_start_true(void **state)
{
	char *argv[] = { "/bin/true", NULL };
	struct backend_proc bp;
	struct backend_log *lg = malloc(sizeof(*lg));
	struct backend_report r;
	char msg[64];
	int ws;

	(void)state;
	assert_non_null(lg);
	backend_log_init(lg);
	backend_report_init(&r);
	assert_int_equal(start(&bp, "/bin/true", argv), 0);
	assert_true(bp.pid > 0);
	assert_true(bp.out_fd > 2);
	assert_true(fcntl(bp.out_fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(bp.out_fd, F_GETFD) & FD_CLOEXEC);
	ws = run_to_end(&bp, lg, &r);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	backend_describe_exit(ws, msg, sizeof(msg));
	assert_string_equal(msg, "exited with status 0");
	assert_int_equal(lg->n_bytes, 0);
	assert_int_equal(backend_reap(&bp, &ws), -ECHILD);
	assert_int_equal(backend_read(&bp, lg, &r), 0);
	free(lg);
}

/* A backend reaped by a waitpid(-1) (the daemon's sweep for stray
 * children) is claimed by its process, and only by it. */
static void test_claim(void **state)
{
	char *argv[] = { "sh", "-c", "exit 7", NULL };
	struct backend_proc bp, other;
	int ws = 0;
	pid_t r;

	(void)state;
	assert_int_equal(start(&bp, "/bin/sh", argv), 0);
	do
		r = waitpid(bp.pid, &ws, 0);
	while (r < 0 && errno == EINTR);
	assert_int_equal(r, bp.pid);
	memset(&other, 0, sizeof(other));
	other.pid = bp.pid + 1;
	assert_false(backend_claim(&other, r, ws));
	assert_false(other.exited);
	assert_false(backend_claim(&bp, 1, ws));
	assert_true(backend_claim(&bp, r, ws));
	assert_true(bp.exited);
	assert_true(WIFEXITED(bp.wstatus));
	assert_int_equal(WEXITSTATUS(bp.wstatus), 7);
	assert_false(backend_claim(&bp, r, ws)); /* once */
	assert_int_equal(backend_reap(&bp, &ws), -ECHILD);
	backend_close(&bp);
}

static void test_start_sh(void **state)
{
	char *argv[] = { "sh", "-c", "echo hi; echo 'x: CPU KV buffer size = 3.00 MiB' >&2; printf last; exit 3",
			 NULL };
	struct backend_proc bp;
	struct backend_log *lg = malloc(sizeof(*lg));
	struct backend_report r;
	char msg[64], tail[128];
	int ws;

	(void)state;
	assert_non_null(lg);
	backend_log_init(lg);
	backend_report_init(&r);
	assert_int_equal(start(&bp, "/bin/sh", argv), 0);
	ws = run_to_end(&bp, lg, &r);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 3);
	backend_describe_exit(ws, msg, sizeof(msg));
	assert_string_equal(msg, "exited with status 3");
	backend_log_tail(lg, tail, sizeof(tail));
	assert_string_equal(tail, "hi\nx: CPU KV buffer size = 3.00 MiB\nlast");
	assert_int_equal(buf_bytes(&r, "CPU", BACKEND_BUF_KV), MIB(3.0)); /* stderr too */
	assert_int_equal(r.n_lines, 3); /* the last line, at the end */
	free(lg);
}

static void test_start_missing(void **state)
{
	char *argv[] = { "nope", NULL };
	char path[] = "/tmp/llmem-test-backend-XXXXXX";
	struct backend_proc bp;
	int fd;

	(void)state;
	assert_int_equal(start(&bp, "/nonexistent/llama-server", argv), -ENOENT);
	assert_int_equal(bp.pid, 0);
	assert_int_equal(bp.out_fd, -1);
	/* a file that is not executable */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(start(&bp, path, argv), -EACCES);
	unlink(path);
	assert_int_equal(start(&bp, "/bin/true", NULL), -EINVAL);
	/* no zombie was left behind */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* True when pid is gone or a zombie. */
static bool dead(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	char *p;
	bool z;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return true;
	}
	fclose(f);
	p = strrchr(buf, ')');
	z = p && (p[2] == 'Z' || p[2] == 'X');
	return z;
}

static bool wait_dead(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (dead(pid))
			return true;
		usleep(10000);
	}
	return dead(pid);
}

/* Reaps what was reparented to us (we are a subreaper). */
static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void test_group_kill(void **state)
{
	char *argv[] = { "sh", "-c", "sleep 100 & echo $!; wait", NULL };
	struct backend_proc bp;
	struct backend_log *lg = malloc(sizeof(*lg));
	char tail[64] = "";
	long grandchild = 0;
	int ws;

	(void)state;
	assert_non_null(lg);
	backend_log_init(lg);
	assert_int_equal(start(&bp, "/bin/sh", argv), 0);
	for (int i = 0; i < 500 && !strchr(tail, '\n'); i++) {
		struct pollfd p = { bp.out_fd, POLLIN, 0 };

		int rd;

		tail[0] = '\0';
		poll(&p, 1, 10);
		rd = backend_read(&bp, lg, NULL);
		assert_true(rd >= 0 || rd == -EAGAIN);
		backend_log_tail(lg, tail, sizeof(tail));
	}
	grandchild = strtol(tail, NULL, 10);
	assert_true(grandchild > 1);
	assert_int_equal(getpgid((pid_t)grandchild), bp.pid);
	assert_int_equal(backend_signal(&bp, SIGKILL), 0);
	ws = run_to_end(&bp, lg, NULL);
	assert_true(WIFSIGNALED(ws));
	assert_int_equal(WTERMSIG(ws), SIGKILL);
	assert_true(wait_dead((pid_t)grandchild, 2000));
	reap_orphans();
	assert_int_equal(backend_signal(&bp, SIGKILL), -ESRCH);
	{
		struct backend_proc none = { 0, -1, false, false, 0 };
		char msg[64];

		assert_int_equal(backend_signal(&none, SIGTERM), -EINVAL);
		assert_int_equal(backend_reap(&none, &ws), -EINVAL);
		backend_describe_exit(SIGKILL, msg, sizeof(msg));
		assert_string_equal(msg, "killed by SIGKILL");
		backend_describe_exit(SIGSEGV | 0x80, msg, sizeof(msg));
		assert_string_equal(msg, "killed by SIGSEGV (core dumped)");
		backend_describe_exit(1 << 8, msg, sizeof(msg));
		assert_string_equal(msg, "exited with status 1");
		backend_describe_exit(SIGRTMIN + 2, msg, sizeof(msg));
		assert_true(!strncmp(msg, "killed by SIG", 13) || !strncmp(msg, "killed by signal", 16));
	}
	free(lg);
}

/* An intermediate process starts the backend and is killed: the backend
 * must die with it (PR_SET_PDEATHSIG). */
static void test_parent_death(void **state)
{
	int p[2];
	pid_t mid, backend = 0;
	ssize_t r;

	(void)state;
	assert_int_equal(pipe(p), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		char *argv[] = { "sleep", "100", NULL };
		struct backend_proc bp;
		struct backend_spec sp = { "/bin/sleep", argv, NULL, NULL };

		close(p[0]);
		if (backend_start(&sp, &bp) < 0)
			_exit(1);
		if (write(p[1], &bp.pid, sizeof(bp.pid)) != (ssize_t)sizeof(bp.pid))
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	r = read(p[0], &backend, sizeof(backend));
	close(p[0]);
	assert_int_equal(r, sizeof(backend));
	assert_true(backend > 1);
	assert_false(dead(backend));
	assert_int_equal(kill(mid, SIGKILL), 0);
	assert_int_equal(waitpid(mid, NULL, 0), mid);
	assert_true(wait_dead(backend, 2000));
	reap_orphans();
}

/* The child starts clean: no inherited descriptors, stdin /dev/null,
 * default dispositions, nothing blocked, its own process group. */
static void test_child_environment(void **state)
{
	char *argv[] = { "sh", "-c",
			 /* read by the shell itself: while it forks, dash blocks signals */
			 "ls /proc/$$/fd | tr '\\n' ' '; echo; readlink /proc/$$/fd/0; "
			 "cut -d' ' -f5 /proc/$$/stat",
			 NULL };
	struct backend_proc bp;
	struct backend_log *lg = malloc(sizeof(*lg));
	char out[1024], fds[32];
	int extra = fcntl(2, F_DUPFD, 100); /* inheritable: must not reach the child */
	sigset_t block, old;
	struct sigaction ign = { 0 }, oldact;

	(void)state;
	assert_non_null(lg);
	assert_true(extra > 2);
	backend_log_init(lg);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGINT, &ign, &oldact);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	assert_int_equal(start(&bp, "/bin/sh", argv), 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGINT, &oldact, NULL);
	run_to_end(&bp, lg, NULL);
	backend_log_tail(lg, out, sizeof(out));
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "%s", out);
	/* the signal state as exec hands it on: read by cat itself (a shell
	 * changes its own while it runs commands) */
	{
		char *cargv[] = { "cat", "/proc/self/status", NULL };
		struct backend_proc cp;
		char cout[4096];

		sigaction(SIGINT, &ign, &oldact);
		sigprocmask(SIG_BLOCK, &block, &old);
		assert_int_equal(start(&cp, "/bin/cat", cargv), 0);
		sigprocmask(SIG_SETMASK, &old, NULL);
		sigaction(SIGINT, &oldact, NULL);
		backend_log_release(lg);
		backend_log_init(lg);
		run_to_end(&cp, lg, NULL);
		backend_log_tail(lg, cout, sizeof(cout));
		if (getenv("TEST_VERBOSE"))
			fprintf(stderr, "%s", cout);
		assert_non_null(strstr(cout, "SigBlk:\t0000000000000000\n"));
		{
			/* signals 32 and 33 are glibc's own (thread cancellation,
			 * setxid): sigaction() refuses them, so a child inherits
			 * whatever its ancestors set; every other must be default */
			const char *ig = strstr(cout, "SigIgn:\t");
			unsigned long long mask;

			assert_non_null(ig);
			mask = strtoull(ig + 8, NULL, 16);
			assert_int_equal(mask & ~(3ull << 31), 0);
		}
	}
	snprintf(fds, sizeof(fds), " %d ", extra);
	assert_null(strstr(out, fds));
	assert_non_null(strstr(out, "/dev/null\n"));
	{
		char pg[32];

		snprintf(pg, sizeof(pg), "%ld\n", (long)bp.pid);
		assert_non_null(strstr(out, pg));
	}
	close(extra);
	free(lg);
}

static void test_cgroup_procs(void **state)
{
	char *argv[] = { "true", NULL };
	char path[] = "/tmp/llmem-test-cgroup-XXXXXX", buf[32], want[32];
	struct backend_spec sp = { "/bin/true", argv, path, NULL };
	struct backend_spec bad = { "/bin/true", argv, "/nonexistent/cgroup.procs", NULL };
	struct backend_proc bp;
	struct backend_log *lg = malloc(sizeof(*lg));
	ssize_t n;
	int fd;

	(void)state;
	assert_non_null(lg);
	backend_log_init(lg);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(backend_start(&sp, &bp), 0);
	run_to_end(&bp, lg, NULL);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "%ld\n", (long)bp.pid);
	assert_string_equal(buf, want);
	close(fd);
	unlink(path);
	assert_int_equal(backend_start(&bad, &bp), -ENOENT);
	free(lg);
}

static void test_pick_port(void **state)
{
	uint16_t a = 0, b = 0;

	(void)state;
	assert_int_equal(backend_pick_port(&a), 0);
	assert_int_equal(backend_pick_port(&b), 0);
	assert_true(a > 0);
	assert_true(b > 0);
}

static void test_cpu(void **state)
{
	uint64_t t = 0;
	const char *ok = "4242 (llama-server) S 1 4242 4242 0 -1 4194560 5310 0 0 0 170 35 0 0 20 0 9 0 "
			 "1234 567890 1000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0\n";
	/* a name with spaces and ')' in it */
	const char *odd = "7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 12 3 0 0\n";
	char buf[256];

	(void)state;
	assert_int_equal(backend_cpu_parse(ok, strlen(ok), &t), 0);
	assert_int_equal(t, 205);
	assert_int_equal(backend_cpu_parse(odd, strlen(odd), &t), 0);
	assert_int_equal(t, 15);
	assert_int_equal(backend_cpu_parse("7 (x) R 1 2", 11, &t), -EINVAL);
	assert_int_equal(backend_cpu_parse("no parenthesis", 14, &t), -EINVAL);
	assert_int_equal(backend_cpu_parse("", 0, &t), -EINVAL);
	snprintf(buf, sizeof(buf), "1 (x) R 1 1 1 0 -1 0 0 0 0 0 99999999999999999999 1");
	assert_int_equal(backend_cpu_parse(buf, strlen(buf), &t), -EINVAL);
	snprintf(buf, sizeof(buf), "1 (x) R 1 1 1 0 -1 0 0 0 0 0 -5 1");
	assert_int_equal(backend_cpu_parse(buf, strlen(buf), &t), -EINVAL);
	/* this process: some CPU time, and a pid that is not there */
	assert_int_equal(backend_cpu(getpid(), NULL, &t), 0);
	assert_int_equal(backend_cpu(0, NULL, &t), -EINVAL);
}

static void test_rss(void **state)
{
	static const char status[] =
		"Name:\tllama-server\n"
		"VmRSS:\t  107952 kB\n"
		"RssAnon:\t   69240 kB\n"
		"RssFile:\t   38712 kB\n"
		"RssShmem:\t       8 kB\n"
		"Threads:\t4\n";
	char dir[] = "/tmp/llmem-test-proc-XXXXXX", path[128];
	uint64_t anon = 0, file = 0;
	FILE *f;

	(void)state;
	assert_int_equal(backend_rss_parse(status, sizeof(status) - 1, &anon, &file), 0);
	assert_int_equal(anon, (69240 + 8) * UINT64_C(1024));
	assert_int_equal(file, 38712 * UINT64_C(1024));
	assert_int_equal(backend_rss_parse("RssAnon:\t1 kB\nRssFile: 2 kB", strlen("RssAnon:\t1 kB\nRssFile: 2 kB"), &anon, &file), 0);
	assert_int_equal(anon, 1024);
	assert_int_equal(file, 2048);
	/* a zombie's status has no Rss lines */
	assert_int_equal(backend_rss_parse("Name:\tx\nState:\tZ (zombie)\n", strlen("Name:\tx\nState:\tZ (zombie)\n"), &anon, &file), -ENOENT);
	assert_int_equal(backend_rss_parse("RssAnon:\tx kB\nRssFile:\t1 kB\n", strlen("RssAnon:\tx kB\nRssFile:\t1 kB\n"), &anon, &file), -EBADMSG);
	assert_int_equal(backend_rss_parse("RssAnon:\t1 MB\nRssFile:\t1 kB\n", strlen("RssAnon:\t1 MB\nRssFile:\t1 kB\n"), &anon, &file), -EBADMSG);
	assert_int_equal(backend_rss_parse("RssAnon:\t99999999999999999999 kB\n", strlen("RssAnon:\t99999999999999999999 kB\n"), &anon, &file), -ERANGE);
	assert_int_equal(backend_rss_parse("RssAnon:\t18014398509481984 kB\n", strlen("RssAnon:\t18014398509481984 kB\n"), &anon, &file), -ERANGE);
	assert_int_equal(backend_rss_parse("", strlen(""), &anon, &file), -ENOENT);

	/* the reader, on this process and on a made-up /proc */
	assert_int_equal(backend_rss(getpid(), NULL, &anon, &file), 0);
	assert_true(anon > 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/42", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/42/status", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(status, f);
	fclose(f);
	assert_int_equal(backend_rss(42, dir, &anon, &file), 0);
	assert_int_equal(file, 38712 * UINT64_C(1024));
	assert_int_equal(backend_rss(43, dir, &anon, &file), -ENOENT);
	assert_int_equal(backend_rss(0, dir, &anon, &file), -EINVAL);
	unlink(path);
	snprintf(path, sizeof(path), "%s/42", dir);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_cpu),
		cmocka_unit_test(test_fixture_lv5_fit_dry_run),
		cmocka_unit_test(test_fixture_fail),
		cmocka_unit_test(test_cuda_lines),
		cmocka_unit_test(test_other_backends),
		cmocka_unit_test(test_device_pool),
		cmocka_unit_test(test_mib_rounding),
		cmocka_unit_test(test_oom_and_failures),
		cmocka_unit_test(test_clip),
		cmocka_unit_test(test_lora_reserve),
		cmocka_unit_test(test_too_many_buffers),
		cmocka_unit_test(test_split_reads),
		cmocka_unit_test(test_loaded_feed),
		cmocka_unit_test(test_crlf_and_last_line),
		cmocka_unit_test(test_tail),
		cmocka_unit_test(test_hostile_output),
		cmocka_unit_test(test_start_true),
		cmocka_unit_test(test_claim),
		cmocka_unit_test(test_start_sh),
		cmocka_unit_test(test_start_missing),
		cmocka_unit_test(test_group_kill),
		cmocka_unit_test(test_parent_death),
		cmocka_unit_test(test_child_environment),
		cmocka_unit_test(test_cgroup_procs),
		cmocka_unit_test(test_pick_port),
		cmocka_unit_test(test_rss),
		cmocka_unit_test(test_cpu),
		cmocka_unit_test(test_loaded),
	};

	/* orphaned grandchildren come to us, to be reaped */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (getenv("CMOCKA_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
