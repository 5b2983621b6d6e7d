/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/migrate_verbose.c - what -v / -vv print for "migrate send" and
 * "migrate recv" (tools/cli_verbose.h).
 */
#include <stdio.h>

#include <squib/error.h>
#include <squib/migrate.h>

#include "cli_verbose.h"

#define CMD "migrate send"
#define RCMD "migrate recv"

void sq_cli_verbose_send(const struct sq_cli *cli, const struct sq_migrate_send_opts *o,
			 const char *file)
{
	if (!sq_cli_verbose_on(cli, 1))
		return;
	sq_cli_verbose(cli, 1, CMD, "source: %s, region %zu bytes", file ? file : "demo workload",
		       o->region_size);
	sq_cli_verbose(cli, 1, CMD, "destination %s over %u TCP connections, policy %s, downtime "
		       "target %.0f ms, at most %u rounds", o->to,
		       o->nconns ? o->nconns : SQ_MIGRATE_DEFAULT_CONNS,
		       o->policy == SQ_MIGRATE_AUTO_CONVERGE ? "auto-converge" : "fail",
		       o->downtime_ms > 0 ? o->downtime_ms : SQ_MIGRATE_DEFAULT_DOWNTIME_MS,
		       o->max_rounds ? o->max_rounds : SQ_MIGRATE_DEFAULT_MAX_ROUNDS);
	if (o->bandwidth_limit)
		sq_cli_verbose(cli, 1, CMD, "bandwidth limited to %llu bytes/s",
			       (unsigned long long)o->bandwidth_limit);
	sq_cli_verbose(cli, 1, CMD, "state blob %zu bytes", o->state_len);
}

void sq_cli_verbose_send_report(const struct sq_cli *cli, int rc,
				const struct sq_migrate_report *r, const char *tls)
{
	if (!sq_cli_verbose_on(cli, 1))
		return;
	for (unsigned i = 0; i < r->nstats; i++) {
		const struct sq_migrate_round *s = &r->round[i];
		sq_cli_verbose(cli, 1, CMD, "round %u: %llu pages (%llu zero), %llu wire bytes in "
			       "%.3f s, %.1f MiB/s", s->round, (unsigned long long)s->pages,
			       (unsigned long long)s->zero_pages, (unsigned long long)s->wire_bytes,
			       s->seconds, s->bandwidth / 1048576.0);
		sq_cli_verbose(cli, 2, CMD, "round %u: dirtied %.1f MiB/s while sent, %llu bytes "
			       "left, predicted downtime %.1f ms, throttle %u%%", s->round,
			       s->dirty_rate / 1048576.0, (unsigned long long)s->remaining,
			       s->predicted_downtime_ms, s->throttle_pct);
	}
	sq_cli_verbose(cli, 1, CMD, "session %016llx over TLS %s: %s after %u rounds, %llu wire "
		       "bytes, downtime %.1f ms, commit %.1f ms, total %.3f s",
		       (unsigned long long)r->session_id, tls, rc ? sq_error_name(rc) : "done", r->rounds,
		       (unsigned long long)r->wire_bytes, r->downtime_ms, r->commit_ms, r->total_s);
}

void sq_cli_verbose_recv(const struct sq_cli *cli, const char *listen_at, const char *link,
			 const struct sq_migrate_recv_opts *o)
{
	char max[40] = "64 GiB (the default)";

	if (!sq_cli_verbose_on(cli, 1))
		return;
	if (o->max_region_size)
		snprintf(max, sizeof(max), "%llu bytes", (unsigned long long)o->max_region_size);
	sq_cli_verbose(cli, 1, RCMD, "listening at %s, %s, region at most %s, inactivity limit "
		       "%d ms", listen_at, link, max, o->timeout_ms);
	if (o->save_dir)
		sq_cli_verbose(cli, 1, RCMD, "saving %s/memory, its manifest and %s/state "
			       "before the sender hears done", o->save_dir, o->save_dir);
	if (o->save_pair)
		sq_cli_verbose(cli, 1, RCMD, "saving the snapshot pair %s before the sender "
			       "hears done", o->save_pair);
}

void sq_cli_verbose_recv_report(const struct sq_cli *cli, const struct sq_migrate_recv_stats *s,
				const char *tls)
{
	if (!sq_cli_verbose_on(cli, 1))
		return;
	double mib = (double)s->pages * 4096.0 / 1048576.0;
	sq_cli_verbose(cli, 1, RCMD, "session %016llx over %u connections (TLS %s): %u rounds "
		       "received, %llu frames (%llu compressed)", (unsigned long long)s->session_id,
		       s->nconns, tls, s->rounds, (unsigned long long)s->frames,
		       (unsigned long long)s->compressed_frames);
	sq_cli_verbose(cli, 1, RCMD, "%llu pages (%llu zero, %llu superseded by a later round), "
		       "%llu payload bytes, state %llu bytes", (unsigned long long)s->pages,
		       (unsigned long long)s->zero_pages, (unsigned long long)s->stale_pages,
		       (unsigned long long)s->payload_bytes, (unsigned long long)s->state_len);
	sq_cli_verbose(cli, 1, RCMD, "%.3f s from the first handshake to the verdict, %.1f MiB/s "
		       "of pages", s->seconds, s->seconds > 0 ? mib / s->seconds : 0.0);
}
