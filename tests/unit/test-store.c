/* test-store.c: what `llmem recommend` is built on, in a temporary tree:
 * src/io/store.c (the places models are kept, Ollama's names, split
 * models and symlinks listed once, loops, the environment), header
 * buffers reused across files (io_model_open_pooled), string arrays
 * parsed in many small rounds, the writer's duplicate-name check on
 * thousands of tensors, and the stand-in tokenizer's size computed
 * without building it. The whole command is tests/integration/t-recommend.sh. */
#include "base/compat.h"

#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/sbuf.h"
#include "cli/cmd-model.h"
#include "gguf/gguf.h"
#include "io/io.h"
#include "io/store.h"
#include "model/catalog.h"

static char root[256];

static void path(char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s/%s", root, rel);
}

static void mkdirs(const char *rel)
{
	char p[512], *s;

	path(p, sizeof(p), rel);
	for (s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
}

static void put(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	path(p, sizeof(p), rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* a small valid GGUF: one key, n_vocab stand-in tokens, one tensor */
static void put_gguf(const char *rel, uint32_t n_vocab)
{
	struct gguf_writer *w = gguf_writer_new();
	int64_t ne[2] = { 32, 4 };
	char p[512];

	assert_non_null(w);
	assert_int_equal(gguf_writer_add_str(w, "general.architecture", "llama", 5), 0);
	assert_int_equal(catalog_add_fake_vocab(w, n_vocab, n_vocab / 2), 0);
	assert_int_equal(gguf_writer_add_tensor(w, "token_embd.weight", 0, 2, ne), 0);
	path(p, sizeof(p), rel);
	assert_int_equal(io_gguf_write(p, w, NULL, NULL), 0);
	gguf_writer_free(w);
}

static void link_to(const char *target, const char *rel)
{
	char p[512];

	path(p, sizeof(p), rel);
	assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/llmem-test-store-%d", (int)getpid());
	mkdir(root, 0755);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct io_store_entry *find(const struct io_store *s, const char *name)
{
	for (size_t i = 0; i < s->n_entries; i++)
		if (!strcmp(s->entries[i].name, name))
			return &s->entries[i];
	return NULL;
}

static void test_ollama(void **state)
{
	static const char hex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char man[600], p[512];
	struct io_store s;
	const struct io_store_entry *e;

	(void)state;
	mkdirs("ol/blobs");
	mkdirs("ol/manifests/registry.ollama.ai/library/m");
	mkdirs("ol/manifests/registry.ollama.ai/user/m");
	mkdirs("ol/manifests/example.com/ns/m");
	mkdirs("ol/manifests/registry.ollama.ai/library/bad");
	put_gguf("ol/blobs/sha256-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 10);
	snprintf(man, sizeof(man),
		 "{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.license\",\"digest\":\"sha256:%064d\"},"
		 "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\"}]}", 0, hex);
	put("ol/manifests/registry.ollama.ai/library/m/latest", man);
	put("ol/manifests/registry.ollama.ai/library/m/7b", man);
	put("ol/manifests/registry.ollama.ai/user/m/q4", man);
	put("ol/manifests/example.com/ns/m/v1", man);
	/* a digest that would leave blobs/ */
	put("ol/manifests/registry.ollama.ai/library/bad/dots",
	    "{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:../../../../etc/passwd\"}]}");
	put("ol/manifests/registry.ollama.ai/library/bad/nolayer", "{\"layers\":[]}");
	put("ol/manifests/registry.ollama.ai/library/bad/empty", "");

	io_store_init(&s);
	path(p, sizeof(p), "ol");
	assert_int_equal(io_store_add_place(&s, IO_STORE_OLLAMA, p), 0);
	assert_int_equal(io_store_scan(&s), 0);
	/* one blob under four names, and three bad manifests */
	assert_int_equal(s.n_entries, 4);
	e = find(&s, "example.com/ns/m:v1");
	assert_non_null(e);
	assert_int_equal(e->error, 0);
	assert_string_equal(e->also, "m:7b, m:latest, user/m:q4");
	assert_non_null(strstr(e->path, "/blobs/sha256-0011"));
	assert_int_equal(e->source, IO_STORE_OLLAMA);
	e = find(&s, "bad:dots");
	assert_non_null(e);
	assert_true(e->error < 0);
	assert_non_null(strstr(e->msg, "64 hex digits"));
	e = find(&s, "bad:nolayer");
	assert_non_null(e);
	assert_non_null(strstr(e->msg, "no model layer"));
	e = find(&s, "bad:empty");
	assert_non_null(e);
	assert_non_null(strstr(e->msg, "not JSON"));
	assert_int_equal(s.places[0].n_found, 4);
	io_store_release(&s);

	/* the same store given as a folder is read as an Ollama store */
	io_store_init(&s);
	assert_int_equal(io_store_add_place(&s, IO_STORE_DIR, p), 0);
	assert_int_equal(io_store_add_place(&s, IO_STORE_OLLAMA, p), 0);
	assert_int_equal(io_store_scan(&s), 0);
	assert_int_equal(s.n_entries, 4);
	assert_int_equal(s.entries[0].source, IO_STORE_OLLAMA);
	assert_int_equal(s.places[1].same_as, 0);
	io_store_release(&s);
}

static void test_walk(void **state)
{
	struct io_store s;
	char p[512];
	const struct io_store_entry *e;

	(void)state;
	mkdirs("w/a/b");
	mkdirs("w/.hidden");
	put_gguf("w/a/one.gguf", 4);
	put_gguf("w/a/b/m-00001-of-00002.gguf", 4);
	put_gguf("w/a/b/m-00002-of-00002.gguf", 4);
	put_gguf("w/a/b/orphan-00002-of-00002.gguf", 4); /* its first part is missing */
	put_gguf("w/.hidden/h.gguf", 4);
	put_gguf("w/a/UPPER.GGUF", 4);
	put("w/a/notes.txt", "x");
	link_to("one.gguf", "w/a/alias.gguf");
	link_to("..", "w/a/b/loop");            /* a directory loop */
	link_to("nowhere.gguf", "w/a/dangling.gguf");

	io_store_init(&s);
	path(p, sizeof(p), "w");
	assert_int_equal(io_store_add_place(&s, IO_STORE_LMSTUDIO, p), 0);
	assert_int_equal(io_store_scan(&s), 0);
	/* UPPER, alias (= one), m's first part, orphan's second part, one */
	assert_int_equal(s.n_entries, 4);
	e = find(&s, "a/UPPER.GGUF");
	assert_non_null(e);
	e = find(&s, "a/alias.gguf");
	assert_non_null(e);
	assert_string_equal(e->also, "a/one.gguf");
	assert_non_null(find(&s, "a/b/m-00001-of-00002.gguf"));
	assert_null(find(&s, "a/b/m-00002-of-00002.gguf"));
	assert_non_null(find(&s, "a/b/orphan-00002-of-00002.gguf"));
	assert_null(find(&s, ".hidden/h.gguf"));
	io_store_release(&s);

	/* a folder given: names are paths; a missing one is reported */
	io_store_init(&s);
	path(p, sizeof(p), "w/a/b");
	assert_int_equal(io_store_add_place(&s, IO_STORE_DIR, p), 0);
	path(p, sizeof(p), "w/none");
	assert_int_equal(io_store_add_place(&s, IO_STORE_DIR, p), 0);
	assert_int_equal(io_store_scan(&s), 0);
	assert_true(s.places[0].exists);
	assert_false(s.places[1].exists);
	assert_int_equal(s.places[1].error, -ENOENT);
	/* the loop leads up to a/, whose files are found too */
	assert_int_equal(s.n_entries, 4);
	for (size_t i = 0; i < s.n_entries; i++)
		assert_string_equal(s.entries[i].name, s.entries[i].path);
	io_store_release(&s);
}

static void test_hf(void **state)
{
	struct io_store s;
	char p[512];
	const struct io_store_entry *e;

	(void)state;
	mkdirs("hub/models--org--Repo-GGUF/blobs");
	mkdirs("hub/models--org--Repo-GGUF/snapshots/r1/sub");
	mkdirs("hub/models--org--Repo-GGUF/snapshots/r2");
	mkdirs("hub/models--solo/snapshots/r1");
	mkdirs("hub/datasets--org--data/snapshots/r1");
	put_gguf("hub/models--org--Repo-GGUF/blobs/abc", 4);
	put_gguf("hub/models--solo/snapshots/r1/solo.gguf", 4);
	put_gguf("hub/datasets--org--data/snapshots/r1/d.gguf", 4);
	link_to("../../../blobs/abc", "hub/models--org--Repo-GGUF/snapshots/r1/sub/q4.gguf");
	link_to("../../blobs/abc", "hub/models--org--Repo-GGUF/snapshots/r2/q4.gguf");

	io_store_init(&s);
	path(p, sizeof(p), "hub");
	assert_int_equal(io_store_add_place(&s, IO_STORE_HF, p), 0);
	assert_int_equal(io_store_scan(&s), 0);
	assert_int_equal(s.n_entries, 2);
	e = find(&s, "org/Repo-GGUF/sub/q4.gguf");
	assert_non_null(e);
	assert_string_equal(e->also, "org/Repo-GGUF/q4.gguf");
	assert_non_null(find(&s, "solo/solo.gguf"));
	io_store_release(&s);
}

static void test_defaults(void **state)
{
	struct io_store s;
	struct io_store_env env;

	(void)state;
	memset(&env, 0, sizeof(env));
	env.home = "/h";
	io_store_init(&s);
	assert_int_equal(io_store_add_defaults(&s, &env), 0);
	assert_int_equal(s.n_places, 6);
	assert_string_equal(s.places[0].path, "/h/.ollama/models");
	assert_string_equal(s.places[1].path, "/usr/share/ollama/.ollama/models");
	assert_string_equal(s.places[2].path, "/h/.cache/huggingface/hub");
	assert_string_equal(s.places[3].path, "/h/.lmstudio/models");
	assert_string_equal(s.places[4].path, "/h/.cache/lm-studio/models");
	assert_string_equal(s.places[5].path, "/h/.cache/llama.cpp");
	assert_int_equal(s.places[5].source, IO_STORE_LLAMACPP);
	io_store_release(&s);

	env.root = "/fixture/";
	env.xdg_cache_home = "/x";
	env.ollama_models = "/om";
	env.hf_home = "/hfh";
	env.llama_cache = "/lc";
	io_store_init(&s);
	assert_int_equal(io_store_add_defaults(&s, &env), 0);
	assert_string_equal(s.places[0].path, "/om");
	assert_string_equal(s.places[1].path, "/fixture/usr/share/ollama/.ollama/models");
	assert_string_equal(s.places[2].path, "/hfh/hub");
	assert_string_equal(s.places[5].path, "/lc");
	io_store_release(&s);

	env.hf_hub_cache = "/hc";
	env.hf_home = NULL;
	env.llama_cache = "";
	io_store_init(&s);
	assert_int_equal(io_store_add_defaults(&s, &env), 0);
	assert_string_equal(s.places[2].path, "/hc");
	assert_string_equal(s.places[5].path, "/x/llama.cpp");
	io_store_release(&s);

	/* no HOME: only what the variables and the root give */
	memset(&env, 0, sizeof(env));
	io_store_init(&s);
	assert_int_equal(io_store_add_defaults(&s, &env), 0);
	assert_int_equal(s.n_places, 1);
	io_store_release(&s);
}

/* header buffers come back to the pool and serve the next file */
static void test_pool(void **state)
{
	struct io_buffers pool;
	struct io_model *m;
	struct diag d;
	char p[512];

	(void)state;
	mkdirs("pool");
	put_gguf("pool/big.gguf", 200000);
	put_gguf("pool/small.gguf", 3);
	io_buffers_init(&pool);
	for (int i = 0; i < 6; i++) {
		path(p, sizeof(p), i & 1 ? "pool/small.gguf" : "pool/big.gguf");
		diag_init(&d);
		assert_int_equal(io_model_open_pooled(p, &pool, &m, &d, NULL), 0);
		assert_int_equal(m->n_tensors, 1);
		assert_int_equal(pool.n, 0);
		assert_int_equal(gguf_kv_find(m->parts[0]->gf, "tokenizer.ggml.tokens") >= 0, 1);
		io_model_free(m);
		assert_int_equal(pool.n, 1);
	}
	/* a file that fails to parse gives its buffer back too */
	put("pool/bad.gguf", "GGUF\003\000\000\000");
	path(p, sizeof(p), "pool/bad.gguf");
	assert_true(io_model_open_pooled(p, &pool, &m, &d, NULL) < 0);
	assert_int_equal(pool.n, 1);
	io_buffers_release(&pool);
	assert_int_equal(pool.n, 0);
}

/* a vocabulary fed a few bytes at a time parses as it does whole, and
 * each round goes on inside the array instead of starting it again */
static void test_resume(void **state)
{
	struct gguf_writer *w = gguf_writer_new();
	struct gguf_file *whole = NULL, *fed = NULL;
	struct gguf_parser *gp;
	struct sbuf sb;
	uint64_t need = 0;
	struct diag d;
	size_t have = 0;
	int e, rounds = 0;

	(void)state;
	assert_non_null(w);
	sbuf_init(&sb, GGUF_MAX_HEADER_BYTES);
	assert_int_equal(catalog_add_fake_vocab(w, 50000, 20000), 0);
	assert_int_equal(gguf_writer_header(w, &sb, NULL, NULL), 0);
	diag_init(&d);
	assert_int_equal(gguf_parse((const uint8_t *)sb.buf, sb.len, sb.len, &whole, &need, &d), 0);
	gp = gguf_parser_new(sb.len);
	assert_non_null(gp);
	for (;;) {
		e = gguf_parser_feed(gp, (const uint8_t *)sb.buf, have, &fed, &need, &d);
		if (e != -EAGAIN)
			break;
		assert_true(need > have);
		/* 4 KiB more each round, whatever the parser guesses */
		have = have + 4096 < sb.len ? have + 4096 : sb.len;
		rounds++;
	}
	assert_int_equal(e, 0);
	assert_true(rounds > 100);
	assert_int_equal(fed->n_kv, whole->n_kv);
	assert_int_equal(fed->header_bytes, whole->header_bytes);
	for (uint64_t i = 0; i < fed->n_kv; i++) {
		assert_int_equal(fed->kvs[i].val_end, whole->kvs[i].val_end);
		assert_int_equal(fed->kvs[i].n, whole->kvs[i].n);
	}
	gguf_file_free(fed);
	gguf_file_free(whole);
	gguf_parser_free(gp);
	sbuf_release(&sb);
	gguf_writer_free(w);
}

/* the writer's name check: thousands of names, a duplicate refused */
static void test_writer_names(void **state)
{
	struct gguf_writer *w = gguf_writer_new();
	int64_t ne[1] = { 32 };
	char name[64];

	(void)state;
	assert_non_null(w);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "blk.%d.attn_q.weight", i);
		assert_int_equal(gguf_writer_add_tensor(w, name, 0, 1, ne), 0);
	}
	assert_int_equal(gguf_writer_add_tensor(w, "blk.1234.attn_q.weight", 0, 1, ne), -EINVAL);
	assert_int_equal(gguf_writer_add_tensor(w, "blk.0.attn_q.weight", 0, 1, ne), -EINVAL);
	assert_int_equal(gguf_writer_add_tensor(w, "blk.5000.attn_q.weight", 0, 1, ne), 0);
	assert_int_equal(gguf_writer_n_tensors(w), 5001);
	gguf_writer_free(w);
}

/* the stand-in tokenizer's size, computed, against the one built */
static void test_fake_vocab_bytes(void **state)
{
	static const uint32_t cases[][2] = {
		{ 0, 0 }, { 1, 0 }, { 10, 5 }, { 997, 1000 }, { 32768, 58980 }, { 128256, 280147 },
		{ 151936, 151387 }, { 262144, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct gguf_writer *a = gguf_writer_new(), *b = gguf_writer_new();
		struct gguf_file *fa = NULL, *fb = NULL;
		struct sbuf sa, sb;
		uint64_t need;
		struct diag d;

		assert_non_null(a);
		assert_non_null(b);
		sbuf_init(&sa, GGUF_MAX_HEADER_BYTES);
		sbuf_init(&sb, GGUF_MAX_HEADER_BYTES);
		assert_int_equal(catalog_add_fake_vocab(b, cases[i][0], cases[i][1]), 0);
		assert_int_equal(gguf_writer_header(a, &sa, NULL, NULL), 0);
		assert_int_equal(gguf_writer_header(b, &sb, NULL, NULL), 0);
		assert_int_equal(gguf_parse((const uint8_t *)sa.buf, sa.len, sa.len, &fa, &need, &d), 0);
		assert_int_equal(gguf_parse((const uint8_t *)sb.buf, sb.len, sb.len, &fb, &need, &d), 0);
		assert_int_equal(fb->header_bytes - fa->header_bytes,
				 catalog_fake_vocab_bytes(cases[i][0], cases[i][1]));
		gguf_file_free(fa);
		gguf_file_free(fb);
		sbuf_release(&sa);
		sbuf_release(&sb);
		gguf_writer_free(a);
		gguf_writer_free(b);
	}
}


/* A header mapped (IO_OPEN_MAP, what the one-shot commands use) parses
 * as it does read; a file cut short gives the same error either way; and
 * a file truncated while mapped ends the command with one line and exit
 * status 2 (cmd_model_open()'s SIGBUS handler), not a crash. */
static void test_map(void **state)
{
	struct io_model *rd = NULL, *mp = NULL;
	struct diag d1, d2;
	char p[512], msg[512] = "";
	int fds[2], status = 0;
	ssize_t got;
	pid_t pid;

	(void)state;
	mkdirs("map/x");
	put_gguf("map/a.gguf", 40000);
	path(p, sizeof(p), "map/a.gguf");
	diag_init(&d1);
	diag_init(&d2);
	assert_int_equal(io_model_open_flags(p, IO_OPEN_LONG_STRINGS, &rd, &d1, NULL), 0);
	assert_int_equal(io_model_open_flags(p, IO_OPEN_LONG_STRINGS | IO_OPEN_MAP, &mp, &d2, NULL), 0);
	assert_false(rd->parts[0]->mapped);
	assert_true(mp->parts[0]->mapped);
	assert_int_equal(rd->parts[0]->gf->header_bytes, mp->parts[0]->gf->header_bytes);
	assert_int_equal(rd->parts[0]->gf->n_kv, mp->parts[0]->gf->n_kv);
	for (uint64_t i = 0; i < rd->parts[0]->gf->n_kv; i++) {
		const struct gguf_kv *a = &rd->parts[0]->gf->kvs[i], *b = &mp->parts[0]->gf->kvs[i];

		assert_int_equal(a->val_end, b->val_end);
		assert_int_equal(a->n_long, b->n_long);
		if (a->n_long)
			assert_memory_equal(a->longs, b->longs, a->n_long * sizeof(*a->longs));
	}
	io_model_free(rd);
	io_model_free(mp);

	/* cut inside the vocabulary: the same error, mapped or read */
	assert_int_equal(truncate(p, 100000), 0);
	rd = mp = NULL;
	assert_true(io_model_open_flags(p, 0, &rd, &d1, NULL) < 0);
	assert_true(io_model_open_flags(p, IO_OPEN_MAP, &mp, &d2, NULL) < 0);
	assert_int_equal(d1.code, d2.code);
	assert_int_equal(d1.offset, d2.offset);
	assert_string_equal(d1.msg, d2.msg);

	/* truncated while mapped */
	put_gguf("map/a.gguf", 40000);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cmd_model *cm = NULL;
		const struct gguf_file *f;
		struct gguf_str str;
		int64_t k;

		dup2(fds[1], 2);
		if (cmd_model_open(p, CMD_MODEL_NO_MODEL, &cm) != 0)
			_exit(10);
		f = cm->parts[0];
		k = gguf_kv_find(f, "tokenizer.ggml.tokens");
		if (k < 0 || truncate(p, 64) < 0)
			_exit(11);
		/* the last token's bytes are gone from under the mapping */
		if (gguf_kv_arr_get_str(f, (uint64_t)k, f->kvs[k].n - 1, &str) == 0)
			_exit(str.n > 0 && str.p[0] ? 12 : 13);
		_exit(14);
	}
	close(fds[1]);
	got = read(fds[0], msg, sizeof(msg) - 1);
	close(fds[0]);
	msg[got > 0 ? got : 0] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
	assert_non_null(strstr(msg, "a.gguf: the file was truncated while it was read"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ollama),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_hf),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_writer_names),
		cmocka_unit_test(test_fake_vocab_bytes),
		cmocka_unit_test(test_map),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
