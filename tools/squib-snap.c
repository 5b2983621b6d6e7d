/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/squib-snap.c - entry point: global options, the command table,
 * help and version. Subcommands live in tools/cmd_*.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <squib/error.h>
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
		"usage: squib-snap [--json] [-q] [-v|-vv] <command> [args]\n"
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
		"  -v         details on stderr: files opened and what they hold, options\n"
		"             in force, IO path (O_DIRECT, io_uring / pwritev2), bytes and\n"
		"             time of each step; -vv adds extents and per-round figures.\n"
		"             stdout (text or --json) is the same with or without -v\n"
		"\n"
		"exit codes: 0 ok, 1 failure, 2 usage error, 77 unsupported on this system\n");
}

static int show_help(const struct sq_cli *cli, const char *name)
{
	struct sq_cli_command *c = find(name);

	if (!c)
		return sq_cli_usage_error(cli, "help", "unknown command '%s'", name);
	if (cli->json)
		return sq_cli_emit(json_pack("{s:s,s:s}", "command", c->name, "usage", c->usage))
			       ? SQ_EXIT_FAIL : SQ_EXIT_OK;
	fputs(c->usage, stdout);
	return SQ_EXIT_OK;
}

/* The command list: on stdout (help asked for), or as a usage error. */
static int show_usage(const struct sq_cli *cli, int asked)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return sq_cli_fail(cli, NULL, SQ_E_NOMEM);
	usage(f);
	if (fclose(f)) {
		free(text);
		return sq_cli_fail(cli, NULL, SQ_E_NOMEM);
	}
	if (cli->json && asked) {
		json_t *list = json_array();
		for (struct sq_cli_command *c = commands; c && list; c = c->next)
			json_array_append_new(list, json_pack("{s:s,s:s}", "name", c->name,
							      "summary", c->summary));
		int rc = sq_cli_emit(json_pack("{s:o,s:s}", "commands", list, "usage",
					       text ? text : "")) ? SQ_EXIT_FAIL : SQ_EXIT_OK;
		free(text);
		return rc;
	}
	if (!asked) {
		int rc = cli->json ? sq_cli_usage_error(cli, NULL, "a command is expected")
				   : (fputs(text, stderr), SQ_EXIT_USAGE);
		free(text);
		return rc;
	}
	fputs(text, stdout);
	free(text);
	return SQ_EXIT_OK;
}

static int version(const struct sq_cli *cli)
{
	if (cli->json)
		return sq_cli_emit(json_pack("{s:s,s:i}", "version", sq_version(), "soversion",
					     SQ_SOVERSION)) ? SQ_EXIT_FAIL : SQ_EXIT_OK;
	printf("squib-snap %s (libsquib %s)\n", SQ_VERSION_STRING, sq_version());
	return SQ_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct sq_cli cli = { .prog = "squib-snap", .tty = isatty(STDERR_FILENO) };
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int n = 0, help = 0, want_version = 0, rc;

	if (!args)
		return SQ_EXIT_FAIL;
	/* Global flags may appear anywhere before "--"; everything else is
	 * kept in order. A "--" after the command name is passed on to the
	 * command, which then takes what follows as positional arguments. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			if (n == 0)
				i++;
			while (i < argc)
				args[n++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--json") == 0)
			cli.json = 1;
		else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			cli.quiet = 1;
		else if (strcmp(argv[i], "--verbose") == 0)
			cli.verbose++;
		else if (argv[i][0] == '-' && argv[i][1] == 'v' &&
			 strspn(argv[i] + 1, "v") == strlen(argv[i] + 1))
			cli.verbose += (int)strlen(argv[i] + 1); /* -v, -vv, -vvv */
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			help = 1;
		else if (strcmp(argv[i], "--version") == 0 && n == 0)
			want_version = 1;
		else
			args[n++] = argv[i];
	}
	if (want_version) {
		rc = version(&cli);
	} else if (n == 0) {
		rc = show_usage(&cli, help);
	} else if (strcmp(args[0], "help") == 0) {
		if (n == 1)
			rc = show_usage(&cli, 1);
		else if (n == 2)
			rc = show_help(&cli, args[1]);
		else
			rc = sq_cli_usage_error(&cli, "help", "one command name expected");
	} else {
		struct sq_cli_command *c = find(args[0]);
		if (!c)
			rc = sq_cli_usage_error(&cli, NULL, "unknown command '%s'", args[0]);
		else if (help)
			rc = show_help(&cli, args[0]);
		else
			rc = c->run(&cli, n, args);
	}
	/* Every outcome prints one document with --json, even a command
	 * that returned without one. */
	if (cli.json && !sq_cli_emitted())
		sq_cli_emit(json_pack("{s:b,s:i}", "ok", rc == SQ_EXIT_OK, "exit_code", rc));
	free(args);
	return rc;
}
