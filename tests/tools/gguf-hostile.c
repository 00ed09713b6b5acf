/* gguf-hostile.c: writes every hostile GGUF file of reliability.md
 * section (a) (tests/hostile-cases.c builds them) into a directory, with
 * DIR/MANIFEST listing one file a line: "<case-number> <file-name>
 * <expect>", expect being what `llmem inspect FILE` must do: "valid",
 * "invalid" (exit 2, one stderr line with the file's path and an offset)
 * or "invalid-split" (exit 2, one stderr line naming a file of the split
 * set, perhaps another part). Later parts of split sets are written but
 * not listed. Used by tests/integration/t-hostile.sh.
 *
 * usage: gguf-hostile DIR */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hostile-cases.c"

int main(int argc, char **argv)
{
	struct hostile_entry *es = NULL;
	size_t n = 0, written = 0;
	const char *dir;
	char *mpath;
	FILE *mf;
	int e;

	if (argc != 2 || argv[1][0] == '-') {
		fputs("usage: gguf-hostile DIR\n", stderr);
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "gguf-hostile: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	e = hostile_entries(&es, &n);
	if (e < 0) {
		fprintf(stderr, "gguf-hostile: %s\n", strerror(-e));
		return 1;
	}
	mpath = malloc(strlen(dir) + sizeof("/MANIFEST"));
	if (!mpath) {
		free(es);
		return 1;
	}
	sprintf(mpath, "%s/MANIFEST", dir);
	mf = fopen(mpath, "w");
	if (!mf) {
		fprintf(stderr, "gguf-hostile: %s: %s\n", mpath, strerror(errno));
		free(mpath);
		free(es);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct hostile_file f;

		e = hostile_build(&es[i], &f);
		if (e == 0)
			e = hostile_write_file(dir, &f);
		if (e < 0) {
			fprintf(stderr, "gguf-hostile: %s: %s\n", es[i].name, strerror(-e));
			hostile_file_release(&f);
			break;
		}
		if (f.listed)
			fprintf(mf, "%d %s %s\n", f.number, f.name, f.inspect);
		hostile_file_release(&f);
		written++;
	}
	if (fclose(mf) != 0 && e == 0) {
		fprintf(stderr, "gguf-hostile: %s: %s\n", mpath, strerror(errno));
		e = -EIO;
	}
	free(mpath);
	free(es);
	if (e < 0)
		return 1;
	printf("gguf-hostile: wrote %zu files to %s\n", written, dir);
	return 0;
}
