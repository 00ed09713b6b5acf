/* main.c: llmem's entry point: finds the subcommand and runs it. */
#include "base/compat.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"

#ifndef LLMEM_VERSION
#define LLMEM_VERSION "0.1.0"
#endif

static const struct cmd *const commands[] = {
	&cmd_inspect,
	&cmd_estimate,
	&cmd_fit,
	&cmd_devices,
	&cmd_doctor,
	&cmd_quants,
	&cmd_synth,
	&cmd_recommend,
	&cmd_serve,
	&cmd_ps,
	&cmd_load,
	&cmd_unload,
	&cmd_top,
};

static void usage(FILE *fp)
{
	fputs("usage: llmem COMMAND [OPTIONS]\n\ncommands:\n", fp);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(fp, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\n'llmem help COMMAND' or 'llmem COMMAND --help' describes one command.\n", fp);
}

int main(int argc, char **argv)
{
	const char *name;

	setlocale(LC_ALL, "C");
	if (argc < 2) {
		usage(stderr);
		return CMD_EXIT_INPUT;
	}
	name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
		usage(stdout);
		return CMD_EXIT_OK;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "version")) {
		printf("llmem %s\n", LLMEM_VERSION);
		return CMD_EXIT_OK;
	}
	if (!strcmp(name, "help")) {
		if (argc < 3) {
			usage(stdout);
			return CMD_EXIT_OK;
		}
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
			if (!strcmp(argv[2], commands[i]->name)) {
				commands[i]->usage(stdout);
				return CMD_EXIT_OK;
			}
		}
		cmd_error("unknown command '%s'", argv[2]);
		return CMD_EXIT_INPUT;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(name, commands[i]->name))
			return commands[i]->run(argc - 1, argv + 1);
	cmd_error("unknown command '%s' (see 'llmem --help')", name);
	return CMD_EXIT_INPUT;
}
