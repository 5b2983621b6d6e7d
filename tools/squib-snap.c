/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/squib-snap.c - entry point: global options, the command table,
 * help and version. Subcommands live in tools/cmd_*.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <squib/version.h>

#include "cli.h"

static struct sq_cli_command *commands;

void sq_cli_register(struct sq_cli_command *cmd)
{
	/* Keep the list sorted by name for the help output. */
	struct sq_cli_command **p = &commands;

	while (*p && strcmp((*p)->name, cmd->name) < 0)
		p = &(*p)->next;
	cmd->next = *p;
	*p = cmd;
}

static struct sq_cli_command *find(const char *name)
{
	for (struct sq_cli_command *c = commands; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: squib-snap [--json] [-q] [-v] <command> [args]\n"
		"       squib-snap --help | --version | help <command>\n"
		"\n"
		"Track written pages of memory regions and move exactly those pages to\n"
		"snapshot files or to another host.\n"
		"\n"
		"commands:\n");
	for (struct sq_cli_command *c = commands; c; c = c->next)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "  %-10s %s\n", "help", "show help for a command");
	fprintf(f,
		"\n"
		"global options:\n"
		"  --json     print one JSON document on stdout (errors too)\n"
		"  -q         no messages on stderr\n"
		"  -v         more messages on stderr\n"
		"\n"
		"exit codes: 0 ok, 1 failure, 2 usage error, 77 unsupported on this system\n");
}

static int show_help(const struct sq_cli *cli, const char *name)
{
	struct sq_cli_command *c = find(name);

	if (!c)
		return sq_cli_usage_error(cli, "help", "unknown command '%s'", name);
	fputs(c->usage, stdout);
	return SQ_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct sq_cli cli = { .prog = "squib-snap", .tty = isatty(STDERR_FILENO) };
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int n = 0, help = 0;

	if (!args)
		return SQ_EXIT_FAIL;
	/* Global flags may appear anywhere; everything else is kept in order.
	 * "--" ends flag processing. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (++i < argc)
				args[n++] = argv[i];
			break;
		}
		if (strcmp(argv[i], "--json") == 0)
			cli.json = 1;
		else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			cli.quiet = 1;
		else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			cli.verbose = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			help = 1;
		else if (strcmp(argv[i], "--version") == 0 && n == 0) {
			if (cli.json)
				printf("{\"version\":\"%s\",\"soversion\":%d}\n", sq_version(),
				       SQ_SOVERSION);
			else
				printf("squib-snap %s (libsquib %s)\n", SQ_VERSION_STRING, sq_version());
			free(args);
			return SQ_EXIT_OK;
		} else
			args[n++] = argv[i];
	}
	int rc;
	if (n == 0) {
		if (help) {
			usage(stdout);
			rc = SQ_EXIT_OK;
		} else {
			usage(stderr);
			rc = SQ_EXIT_USAGE;
		}
	} else if (strcmp(args[0], "help") == 0) {
		if (n == 1) {
			usage(stdout);
			rc = SQ_EXIT_OK;
		} else {
			rc = show_help(&cli, args[1]);
		}
	} else {
		struct sq_cli_command *c = find(args[0]);
		if (!c)
			rc = sq_cli_usage_error(&cli, NULL, "unknown command '%s'", args[0]);
		else if (help)
			rc = show_help(&cli, args[0]);
		else
			rc = c->run(&cli, n, args);
	}
	free(args);
	return rc;
}
