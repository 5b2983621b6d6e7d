/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli_progress.h - the -p/--progress line of squib-snap commands.
 *
 * A struct sq_cli_progress is a libsquib progress callback
 * (squib/progress.h) that draws one line on stderr, rewritten in place
 * with '\r':
 *
 *   merge   42.0%  1.1 GiB / 2.6 GiB  830.2 MiB/s  ETA 0:02
 *
 * (a migration prefixes the round: "migrate send round 2", each round on
 * its own line). The line is drawn only when it was asked for, stderr is
 * a terminal, and neither --json nor -q was given; otherwise the callback
 * is not installed at all (sq_cli_progress_fn() returns NULL). The
 * callback never cancels. Main thread only (libsquib calls it there).
 */
#ifndef SQ_TOOLS_CLI_PROGRESS_H
#define SQ_TOOLS_CLI_PROGRESS_H

#include <squib/progress.h>

#include "cli.h"

struct sq_cli_progress {
	const char *label;  /* "merge", "migrate send", ... */
	int on;             /* drawing */
	int open;           /* a line without its newline is on the terminal */
	int width;          /* characters of the last line drawn */
	enum sq_progress_phase phase;
	unsigned round;
	double t_phase;     /* when the current phase began */
};

/* sq_cli_progress_init() - @asked: -p given. Decides whether to draw. */
void sq_cli_progress_init(struct sq_cli_progress *pr, const struct sq_cli *cli,
			  const char *label, int asked);
/* sq_cli_progress_fn() - the callback to install, or NULL when not drawing. */
sq_progress_fn sq_cli_progress_fn(const struct sq_cli_progress *pr);
/*
 * sq_cli_progress_end() - end the line with a newline if one is open. Call
 * it before printing anything else on stderr or stdout, on every path.
 */
void sq_cli_progress_end(struct sq_cli_progress *pr);

#endif /* SQ_TOOLS_CLI_PROGRESS_H */
