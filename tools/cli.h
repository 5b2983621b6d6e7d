/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli.h - the squib-snap command table and output conventions.
 *
 * Each subcommand lives in its own file tools/cmd_<name>.c and registers
 * itself with SQ_CLI_COMMAND(); tools/squib-snap.c dispatches.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage error, 77 unsupported here.
 * Output: with --json, exactly one JSON document on stdout (errors too, as
 * {"error": {...}}); otherwise human text on stdout. Progress and messages
 * go to stderr only (progress only when stderr is a terminal, and never
 * with -q).
 */
#ifndef SQ_TOOLS_CLI_H
#define SQ_TOOLS_CLI_H

#include <stdio.h>

enum { SQ_EXIT_OK = 0, SQ_EXIT_FAIL = 1, SQ_EXIT_USAGE = 2, SQ_EXIT_UNSUPPORTED = 77 };

struct sq_cli {
	int json;    /* --json given anywhere on the command line */
	int quiet;   /* -q */
	int verbose; /* -v */
	int tty;     /* stderr is a terminal */
	const char *prog;
};

struct sq_cli_command {
	const char *name;
	const char *summary; /* one line for the command list */
	const char *usage;   /* full help text for "help <cmd>" / "<cmd> --help" */
	/* argv[0] is the command name; --json/-q/-v are already removed. */
	int (*run)(const struct sq_cli *cli, int argc, char **argv);
	struct sq_cli_command *next;
};

void sq_cli_register(struct sq_cli_command *cmd);

#define SQ_CLI_CAT_(a, b) a##b
#define SQ_CLI_CAT(a, b) SQ_CLI_CAT_(a, b)
#define SQ_CLI_COMMAND(...)                                                             \
	static struct sq_cli_command SQ_CLI_CAT(sq_cli_cmd_, __LINE__) = { __VA_ARGS__ };   \
	__attribute__((constructor)) static void SQ_CLI_CAT(sq_cli_reg_, __LINE__)(void)     \
	{                                                                               \
		sq_cli_register(&SQ_CLI_CAT(sq_cli_cmd_, __LINE__));                    \
	}

/*
 * sq_cli_fail() - report a library failure (code from libsquib) and return
 * the exit code (77 for SQ_E_UNSUPPORTED, else 1). With --json prints
 * {"error":{"code":N,"name":"SQ_E_...","message":"..."}} on stdout,
 * otherwise "squib-snap <cmd>: <message>" on stderr.
 */
int sq_cli_fail(const struct sq_cli *cli, const char *cmd, int code);
/* sq_cli_usage_error() - message + usage hint on stderr (or JSON); returns 2. */
int sq_cli_usage_error(const struct sq_cli *cli, const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* sq_cli_msg() - a message on stderr unless -q. */
void sq_cli_msg(const struct sq_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Minimal JSON writer (stdout): strings are escaped as JSON requires. */
void sq_json_str(FILE *f, const char *s);
/* sq_parse_size() - "1G", "512M", "4096", "64k" -> bytes; 0 on success, -1 if malformed. */
int sq_parse_size(const char *s, unsigned long long *out);



/*
 * sq_cli_warn_foreign() - on stderr (unless -q), for each layer of @chain
 * without a manifest, what restore / merge cannot check about it
 * (tools/cmd_manifest.c).
 */
void sq_cli_warn_foreign(const struct sq_cli *cli, const char *cmd, const char *const *chain,
			 size_t n);

/*
 * "squib-snap demo migrate ..." is dispatched by the demo command
 * (tools/cmd_demo.c) to this function (tools/cmd_demo_migrate.c);
 * argv[0] is "migrate".
 */
int sq_cli_demo_migrate(const struct sq_cli *cli, int argc, char **argv);

#endif /* SQ_TOOLS_CLI_H */
