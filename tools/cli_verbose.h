/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli_verbose.h - what -v and -vv print.
 *
 * -v (level 1) adds one line per step on stderr: the files a command
 * opens and what they hold (kind, extents, data bytes, manifest or not),
 * the options in force (threads, connections), the IO path taken (O_DIRECT
 * or buffered, io_uring or pwritev2 where the command writes), what was
 * written or read and how long it took. -vv (level 2) adds the extents of
 * each file and per-round figures. Lines start with "squib-snap CMD: ".
 * Verbose lines never go to stdout, so text and --json output are the
 * same with and without -v; -q silences them. Main thread only.
 */
#ifndef SQ_TOOLS_CLI_VERBOSE_H
#define SQ_TOOLS_CLI_VERBOSE_H

#include <stddef.h>

#include "cli.h"

/* sq_cli_verbose() - a detail line (newline added) when -v was given
 * @level times or more, and not -q. */
void sq_cli_verbose(const struct sq_cli *cli, int level, const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* sq_cli_threads() - @threads, or the online CPUs when 0 (the library's default). */
unsigned sq_cli_threads(unsigned threads);

/* sq_cli_verbose_on() - whether sq_cli_verbose(@level) prints. */
int sq_cli_verbose_on(const struct sq_cli *cli, int level);

/*
 * sq_cli_verbose_chain() - for each layer of @chain (.snap or .mem paths):
 * its memory file and manifest, kind, id and parent, region size, extents
 * and data bytes (-vv: each extent), or that it has no manifest.
 */
void sq_cli_verbose_chain(const struct sq_cli *cli, const char *cmd, const char *const *chain,
			  size_t n);

struct sq_migrate_send_opts;
struct sq_migrate_report;

/*
 * sq_cli_verbose_send() / sq_cli_verbose_send_report() - migrate send: the
 * destination, connections, limits and the source (@file, or a demo
 * workload when NULL) before; after, the outcome, the link's TLS mode
 * (@tls: "off", "user" or "ktls") and each round's figures
 * (tools/migrate_verbose.c).
 */
void sq_cli_verbose_send(const struct sq_cli *cli, const struct sq_migrate_send_opts *o,
			 const char *file);
void sq_cli_verbose_send_report(const struct sq_cli *cli, int rc,
				const struct sq_migrate_report *r, const char *tls);

struct sq_migrate_recv_opts;
struct sq_migrate_recv_stats;

/*
 * sq_cli_verbose_recv() / sq_cli_verbose_recv_report() - migrate recv:
 * the listening address, the link (@link: "TLS" or "plaintext"), limits and
 * what will be saved, before; after a session, what arrived: connections,
 * TLS mode (@tls), rounds, frames (compressed ones counted), pages (zero,
 * superseded), payload and state bytes, wall time and rate
 * (tools/migrate_verbose.c).
 */
void sq_cli_verbose_recv(const struct sq_cli *cli, const char *listen_at, const char *link,
			 const struct sq_migrate_recv_opts *o);
void sq_cli_verbose_recv_report(const struct sq_cli *cli, const struct sq_migrate_recv_stats *s,
				const char *tls);

#endif /* SQ_TOOLS_CLI_VERBOSE_H */
