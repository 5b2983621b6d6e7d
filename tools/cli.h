/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli.h - the squib-snap command table, option parsing and output
 * conventions.
 *
 * Each subcommand lives in its own file tools/cmd_<name>.c and registers
 * itself with SQ_CLI_COMMAND(); tools/squib-snap.c dispatches.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage error, 77 unsupported here.
 *
 * Output: with --json, exactly one JSON document on stdout for every
 * outcome (success, library failure, usage error, unknown or missing
 * command, --help): a command builds a json_t and hands it to
 * sq_cli_emit(); sq_cli_fail() and sq_cli_usage_error() emit
 * {"error":{...}}. Strings are built with sq_json_text(), which keeps valid
 * UTF-8 and turns every byte that is not part of a valid UTF-8 sequence
 * into the code point of the same value (U+0080..U+00FF, as ISO-8859-1
 * would read it), so a path with arbitrary bytes is still a valid JSON
 * string. Without --json, human text on stdout; progress and messages go
 * to stderr only (progress only when stderr is a terminal, and never
 * with -q).
 *
 * Options: every option of every command is accepted as "--opt value" and
 * as "--opt=value" (short ones as "-o value" and "-ovalue"); "--" ends the
 * options. Numbers are parsed by the sq_cli_opt_*() helpers below: no sign,
 * no leading blanks, no trailing junk, no NaN or infinity, no overflow, and
 * within the command's bounds, else a usage error (exit 2).
 *
 * All of this runs on the main thread only (the emission state is a plain
 * static).
 */
#ifndef SQ_TOOLS_CLI_H
#define SQ_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum { SQ_EXIT_OK = 0, SQ_EXIT_FAIL = 1, SQ_EXIT_USAGE = 2, SQ_EXIT_UNSUPPORTED = 77 };

/* Bounds shared by the commands' options (0 threads = one per online CPU). */
#define SQ_CLI_MAX_THREADS 1024u
#define SQ_CLI_MAX_QUEUE_DEPTH 4096u

struct sq_cli {
	int json;    /* --json given anywhere on the command line */
	int quiet;   /* -q */
	int verbose; /* -v: 1, -vv: 2 (tools/cli_verbose.h) */
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

/* ------------------------------------------------------------ reporting */

/*
 * sq_cli_fail() - report a library failure (code from libsquib) and return
 * the exit code (77 for SQ_E_UNSUPPORTED, else 1). With --json emits
 * {"error":{"code":N,"name":"SQ_E_...","message":"..."}}, otherwise
 * "squib-snap <cmd>: <message>" on stderr. The message is sq_last_error()
 * when it belongs to @code, else sq_strerror(@code).
 */
int sq_cli_fail(const struct sq_cli *cli, const char *cmd, int code);
/* sq_cli_fail_msg() - sq_cli_fail() with the message given. */
int sq_cli_fail_msg(const struct sq_cli *cli, const char *cmd, int code, const char *msg);
/*
 * sq_cli_fail_errno() - report a failed system call on @path (@err is an
 * errno value): "<what> <path>: <strerror(err)>", as SQ_E_IO (or
 * SQ_E_NOT_FOUND for ENOENT) in JSON. Returns 1.
 */
int sq_cli_fail_errno(const struct sq_cli *cli, const char *cmd, const char *what,
		      const char *path, int err);
/*
 * sq_cli_usage_error() - a usage error: with --json emits
 * {"error":{"code":2,"name":"usage","message":"..."}}, otherwise the
 * message and a hint on stderr. Returns 2.
 */
int sq_cli_usage_error(const struct sq_cli *cli, const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* sq_cli_msg() - a message on stderr unless -q. */
void sq_cli_msg(const struct sq_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ----------------------------------------------------------------- JSON */

/*
 * sq_json_text() / sq_json_textn() - a new JSON string (reference owned by
 * the caller) from any bytes: valid UTF-8 is kept, each other byte b
 * becomes U+00b (see the header comment); NUL bytes in @len become U+0000.
 * NULL @s gives JSON null. Returns NULL only when out of memory.
 */
json_t *sq_json_text(const char *s);
json_t *sq_json_textn(const char *s, size_t len);
/* sq_json_real() - a JSON number, or null when @v is NaN or infinite. */
json_t *sq_json_real(double v);
/* sq_json_u64() - a JSON integer (values above INT64_MAX are clamped). */
json_t *sq_json_u64(uint64_t v);
/*
 * sq_json_join() - @a with the members of @b added after its own; both
 * references are stolen (NULL allowed). Returns @a, or NULL when either is
 * NULL or not an object, or out of memory (then both are dropped).
 */
json_t *sq_json_join(json_t *a, json_t *b);
/*
 * sq_cli_emit() - print @doc as one compact JSON line on stdout and drop
 * the reference (it is stolen, NULL allowed: a build failure, reported as
 * an SQ_E_NOMEM error document). Only the first document of a process is
 * printed; later ones are dropped, so "one document" holds even when a
 * failure follows a report. Returns 0, or 1 when the document could not
 * be built or written.
 */
int sq_cli_emit(json_t *doc);
/* sq_cli_emitted() - whether a document was printed already. */
int sq_cli_emitted(void);

/* -------------------------------------------------------------- options */

/*
 * One option of a command. @name is the long name without "--"; @short_name
 * is a letter or 0; @has_arg is 1 when it takes a value; @key is what
 * sq_opt_next() returns for it (a positive number, typically a letter).
 */
struct sq_opt {
	const char *name;
	char short_name;
	int has_arg;
	int key;
};

/* The state of one pass over a command's arguments. */
struct sq_opt_parser {
	const struct sq_cli *cli;
	const char *cmd;        /* for messages: "merge", "demo migrate" */
	int argc;
	char **argv;
	int next;               /* index of the next argument */
	int only_positional;    /* after "--" */
	char opt[64];           /* the current option as written: "--size", "-o" */
	const char *arg;        /* its value, or the positional argument */
};

enum { SQ_OPT_END = 0, SQ_OPT_POSITIONAL = -1, SQ_OPT_ERROR = -2 };

/* sq_opt_init() - start at argv[1] (argv[0] is the command's name). */
void sq_opt_init(struct sq_opt_parser *p, const struct sq_cli *cli, const char *cmd, int argc,
		 char **argv);
/*
 * sq_opt_next() - the next argument: an option's key (value in p->arg when
 * it takes one), SQ_OPT_POSITIONAL (p->arg), SQ_OPT_END, or SQ_OPT_ERROR
 * after reporting the usage error (unknown option, missing or empty
 * value, a value given to a flag); the caller then returns SQ_EXIT_USAGE.
 * @opts ends with an entry whose name is NULL.
 */
int sq_opt_next(struct sq_opt_parser *p, const struct sq_opt *opts);

/*
 * Numeric values. The sq_parse_*() functions return 0 and store the value,
 * -EINVAL when @s is not a number of the kind (empty, a sign, blanks,
 * trailing junk, NaN, infinity), or -ERANGE when it is one but lies
 * outside [@min, @max] (overflow included); *@out is untouched on error.
 *  - u64: decimal digits only.
 *  - size: decimal digits and an optional binary suffix k, M, G, T
 *    (optionally followed by "i" and/or "B": 64k = 64KiB = 65536).
 *  - double: a finite decimal number ("12", "0.5", "1e3"); no hex.
 */
int sq_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int sq_parse_size_range(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int sq_parse_double(const char *s, double min, double max, double *out);
/* sq_parse_size() - sq_parse_size_range() over the full range; 0 or -1. */
int sq_parse_size(const char *s, unsigned long long *out);

/*
 * sq_cli_opt_*() - parse the value @s of option @opt of command @cmd,
 * bounds inclusive. Return 0, or SQ_EXIT_USAGE after reporting a usage
 * error that names the option, the value and the accepted range.
 */
int sq_cli_opt_u64(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		   uint64_t min, uint64_t max, uint64_t *out);
int sq_cli_opt_uint(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		    unsigned min, unsigned max, unsigned *out);
int sq_cli_opt_size(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		    uint64_t min, uint64_t max, uint64_t *out);
int sq_cli_opt_double(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		      double min, double max, double *out);
/*
 * sq_cli_opt_choice() - the value @s of option @opt must be one of @names
 * (NULL-terminated): 0 and its index in *out, or SQ_EXIT_USAGE after a
 * usage error that lists the accepted values.
 */
int sq_cli_opt_choice(const struct sq_cli *cli, const char *cmd, const char *opt, const char *s,
		      const char *const *names, int *out);

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
