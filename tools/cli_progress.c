/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli_progress.c - the -p/--progress line (tools/cli_progress.h).
 *
 * Each report is formatted whole into a buffer and written with one
 * fputs + fflush, so a line is never torn; a shorter line is padded with
 * blanks over the previous one. Rate and ETA are measured from the start
 * of the current phase.
 */
#include <stdio.h>
#include <string.h>

#include "cli_progress.h"
#include "core/clock.h"

/* @v bytes as "512 B", "1.5 KiB", ... "2.0 TiB". */
static void human(char *buf, size_t len, double v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f %s", v, unit[u]);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

void sq_cli_progress_init(struct sq_cli_progress *pr, const struct sq_cli *cli,
			  const char *label, int asked)
{
	memset(pr, 0, sizeof(*pr));
	pr->label = label;
	pr->on = asked && cli->tty && !cli->json && !cli->quiet;
}

static int draw(void *ctx, const struct sq_progress *p)
{
	struct sq_cli_progress *pr = ctx;
	double now = sq_clock_s();
	char line[256], head[64], done[32], total[32], rate[32], eta[32] = "";

	if (p->phase != pr->phase || p->round != pr->round) {
		sq_cli_progress_end(pr); /* a new phase: the old line stays */
		pr->phase = p->phase;
		pr->round = p->round;
		pr->t_phase = now;
	}
	if (p->total == 0)
		return 0; /* nothing to move (an empty final round) */
	double dt = now - pr->t_phase;
	double bps = dt > 0 ? (double)p->done / dt : 0;
	human(done, sizeof(done), (double)p->done);
	human(total, sizeof(total), (double)p->total);
	human(rate, sizeof(rate), bps);
	if (p->done < p->total && bps > 0) {
		double left = (double)(p->total - p->done) / bps;
		if (left < 360000)
			snprintf(eta, sizeof(eta), "  ETA %u:%02u", (unsigned)left / 60,
				 (unsigned)left % 60);
	}
	if (p->round)
		snprintf(head, sizeof(head), "%s round %u", pr->label, p->round);
	else
		snprintf(head, sizeof(head), "%s", pr->label);
	int n = snprintf(line, sizeof(line), "\r%s  %5.1f%%  %s / %s  %s/s%s", head,
			 100.0 * (double)p->done / (double)p->total, done, total, rate, eta);
	if (n < 0)
		return 0;
	int w = n < (int)sizeof(line) ? n : (int)sizeof(line) - 1;
	if (w < pr->width && pr->width < (int)sizeof(line) - 1) {
		memset(line + w, ' ', (size_t)(pr->width - w));
		line[pr->width] = '\0';
	}
	pr->width = w;
	fputs(line, stderr);
	fflush(stderr);
	pr->open = 1;
	return 0;
}

sq_progress_fn sq_cli_progress_fn(const struct sq_cli_progress *pr)
{
	return pr->on ? draw : NULL;
}

void sq_cli_progress_end(struct sq_cli_progress *pr)
{
	if (!pr->open)
		return;
	fputc('\n', stderr);
	fflush(stderr);
	pr->open = 0;
	pr->width = 0;
}
