/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/pair.c - save of a snapshot pair as one unit.
 *
 * Invariants (the commit protocol is the group commit of
 * squib/atomic_file.h, through "<stem>.commit"):
 *  - A save holds the pair's group lock and each member's lock from the
 *    first temp to the end: a second save of the same stem fails at once
 *    with SQ_E_OUTPUT_BUSY, and never touches this save's temps.
 *  - The three files become visible together: until the commit record is
 *    published the previous pair is untouched; once it is, recovery (run by
 *    the next save, load, verify or chain reader) rolls the new pair
 *    forward. No temp name is built here.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/crc64.h>
#include <squib/restore.h>
#include <squib/snapshot.h>

#include "core/clock.h"
#include "core/endian.h"
#include "core/err.h"
#include "core/sized.h"
#include "core/sysio.h"
#include "snapshot/live_internal.h"
#include "snapshot/pair_internal.h"

#define STATE_LIMIT 10000000u

int sq_pair_paths_init(struct sq_pair_paths *p, const char *state_path)
{
	size_t n;
	int w = 0;

	memset(p, 0, sizeof(*p));
	if (!state_path || !*state_path)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: empty state path");
	n = strlen(state_path);
	if (n > 5 && strcmp(state_path + n - 5, ".snap") == 0)
		n -= 5;
	if (n + 32 > sizeof(p->state))
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: path too long: %s",
			      state_path);
	w |= snprintf(p->state, sizeof(p->state), "%s", state_path) < 0;
	w |= snprintf(p->mem, sizeof(p->mem), "%.*s.mem", (int)n, state_path) < 0;
	w |= snprintf(p->manifest, sizeof(p->manifest), "%.*s.manifest", (int)n, state_path) < 0;
	w |= snprintf(p->record, sizeof(p->record), "%.*s.commit", (int)n, state_path) < 0;
	if (w)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: %s", state_path);
	return 0;
}

int sq_snapshot_recover(const char *state_path)
{
	struct sq_pair_paths p;
	int rc = sq_pair_paths_init(&p, state_path);

	if (!rc)
		rc = sq_atomic_group_recover(p.record, 1);
	if (rc)
		return rc;
	/* Temps of dead writers (a live writer's lock makes these no-ops). */
	sq_atomic_sweep(p.state);
	sq_atomic_sweep(p.mem);
	sq_atomic_sweep(p.manifest);
	return 0;
}

/* Validate the state bytes as a state file envelope (length, limit, CRC). */
int sq_pair_check_state(const void *buf, size_t len)
{
	/* The original's texts, as the state decoder writes them. */
	if (len > STATE_LIMIT)
		return sq_err(SQ_E_SIZE_LIMIT, "snapshot exceeds %u byte deserialization limit",
			      STATE_LIMIT);
	if (len < 8)
		return sq_err(SQ_E_TOO_SHORT, "snapshot file is too short to contain a CRC trailer");
	if (sq_crc64(buf, len) != 0)
		return sq_err(SQ_E_CRC_MISMATCH, "snapshot CRC64 mismatch");
	return 0;
}

uint64_t sq_pair_state_crc(const void *buf, size_t len)
{
	return sq_le_get64((const uint8_t *)buf + len - 8);
}

/* A group member @dest holding @len bytes of @buf. */
static int write_member(struct sq_atomic_group *g, const char *dest, const void *buf, size_t len)
{
	struct sq_atomic_file *f;
	int rc = sq_atomic_group_add(g, dest, NULL, &f);

	return rc ? rc : sq_atomic_write(f, buf, len, SQ_E_IO);
}

static int write_manifest(struct sq_atomic_group *g, const char *dest,
			  const struct sq_manifest *m)
{
	void *buf;
	size_t len;
	int rc = sq_manifest_encode(m, &buf, &len);

	if (rc)
		return rc;
	rc = write_member(g, dest, buf, len);
	free(buf);
	return rc;
}

int sq_pair_sized_in(struct sq_snapshot_save_req *req, const struct sq_snapshot_save_req *q,
		     const struct sq_snapshot_report *r)
{
	if (!q)
		return sq_err(SQ_E_INVAL, "save request or memory source missing");
	int rc = sq_sized_in(req, sizeof(struct sq_snapshot_save_req), q, SQ_V0_SNAPSHOT_SAVE_REQ,
			     "sq_snapshot_save_req");
	if (!rc)
		rc = sq_sized_check(r, SQ_V0_SNAPSHOT_REPORT, "sq_snapshot_report");
	if (!rc && r)
		rc = sq_sized_check(r->io, SQ_V0_WRITER_REPORT, "sq_writer_report");
	return rc;
}

void sq_pair_report_out(struct sq_snapshot_report *r, struct sq_snapshot_report *rep)
{
	if (!r)
		return;
	SQ_SIZED_OUT(r->io, *rep->io);
	rep->io = r->io;
	SQ_SIZED_OUT(r, *rep);
}

/* sq_snapshot_save on the library's own full-size request and report. */
static int pair_save(const struct sq_snapshot_save_req *q, struct sq_snapshot_report *r)
{
	struct sq_snapshot_report rep = { .size = sizeof(rep), .io = r->io };
	struct sq_atomic_group *g = NULL;
	struct sq_atomic_file *fm = NULL;
	struct sq_manifest *m = NULL;
	struct sq_pair_paths p;
	double t0 = sq_clock_s();
	int rc;

	rc = sq_pair_check_request(q); /* snapshot/save_check.c */
	if (!rc && q->live)
		return sq_live_save(q, NULL, 0, r);
	if (!rc)
		rc = sq_pair_paths_init(&p, q->state_path);
	if (!rc)
		rc = sq_id_generate(&rep.id);
	if (!rc)
		rc = sq_atomic_group_open(p.record, 0, &g); /* also finishes a crashed save */
	if (rc)
		return rc;
	/* runs == NULL means "every page" to the writer; an empty diff is not that. */
	static const struct sq_run none;
	const struct sq_run *runs = q->runs;
	if (q->kind == SQ_SNAPSHOT_DIFF && (!runs || q->nruns == 0))
		runs = &none;
	rc = sq_atomic_group_add(g, p.mem, NULL, &fm);
	if (!rc)
		rc = sq_memfile_write(sq_atomic_fd(fm),
				      q->kind == SQ_SNAPSHOT_DIFF ? SQ_LAYOUT_DIFF : SQ_LAYOUT_FULL,
				      q->mem, runs, runs ? q->nruns : 0, q->io, &m, rep.io);
	if (!rc)
		rc = write_member(g, p.state, q->state, q->state_len);
	if (!rc) {
		m->id = rep.id;
		if (q->kind == SQ_SNAPSHOT_DIFF)
			m->parent = *q->parent;
		m->state_size = q->state_len;
		m->state_crc = sq_pair_state_crc(q->state, q->state_len);
		rc = write_manifest(g, p.manifest, m);
	}
	if (!rc)
		rc = sq_atomic_group_commit(g);
	sq_atomic_group_destroy(g);
	rep.pages_dirty = rep.io->pages_in;
	rep.seconds = sq_clock_s() - t0;
	if (!rc)
		*r = rep;
	sq_manifest_destroy(m);
	return rc;
}

int sq_snapshot_save(const struct sq_snapshot_save_req *q, struct sq_snapshot_report *r)
{
	struct sq_snapshot_save_req req = SQ_INIT(struct sq_snapshot_save_req);
	struct sq_writer_report wrep = SQ_INIT(struct sq_writer_report);
	struct sq_snapshot_report rep = { .size = sizeof(rep), .io = &wrep };
	int rc = sq_pair_sized_in(&req, q, r);

	if (!rc)
		rc = pair_save(&req, &rep);
	if (!rc)
		sq_pair_report_out(r, &rep);
	return rc;
}

int sq_snapshot_id_of(const char *state_path, struct sq_snapshot_id *id)
{
	struct sq_pair_paths p;
	struct sq_manifest *m;
	int rc = sq_pair_paths_init(&p, state_path);

	if (!rc)
		rc = sq_manifest_load(p.manifest, &m);
	if (rc)
		return rc;
	*id = m->id;
	sq_manifest_destroy(m);
	return 0;
}
