/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/load.c - load of a snapshot pair and the tracked save.
 *
 * Invariants:
 *  - Nothing larger than the state size limit (+1 byte to detect excess)
 *    is read from a state file; the manifest reader is bounded by itself.
 *  - The state file is decoded and checked by the state layer
 *    (sq_state_decode, sq_state_verify_compatible) before the pairing.
 *  - A pair is accepted only when the manifest names the state file (size
 *    and CRC trailer), the memory file has the region size, and the pages
 *    checked (all, or an evenly spread sample) have the manifest's CRCs.
 *  - sq_snapshot_save_tracked puts the harvested set back on every
 *    failure path after the harvest; the set is freed on every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>

#include "core/err.h"
#include "core/sysio.h"
#include "core/input.h"
#include "core/runs.h"
#include "snapshot/live_internal.h"
#include "snapshot/pair_internal.h"

#define STATE_LIMIT 10000000u
#define QUICK_SAMPLES 64u

int sq_pair_read_state(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = sq_sys_open_input(SQ_SITE_PAIR_STATE_OPEN, path, 0, &st);
	int rc;

	*buf = NULL;
	if (fd < 0)
		return fd == -ENOENT ? sq_err_sys(SQ_E_IO, ENOENT, path)
				     : sq_err_input(fd, SQ_E_IO, path);
	/* At most the limit + 1 byte (to detect excess), read only as far as
	 * the file really stores data. */
	size_t n = (uint64_t)st.st_size > STATE_LIMIT ? STATE_LIMIT + 1 : (size_t)st.st_size;
	rc = sq_read_dense(SQ_SITE_PAIR_STATE_READ, fd, n, SQ_E_CORRUPT, path, buf);
	if (!rc)
		*len = n;
	close(fd);
	return rc;
}

/*
 * The memory file against the manifest: size; the CRC of every data page
 * (or of the sample); and, in both modes, that every byte the file stores
 * outside the manifest's extents is zero (SEEK_DATA: costs what that data
 * costs), so a memory file holding data where its manifest has a hole is
 * refused.
 */
static int check_memory(const char *mem, const struct sq_manifest *m, unsigned flags)
{
	struct stat st;
	int fd = sq_sys_open_input(SQ_SITE_MEMFILE_OPEN, mem, 0, &st);
	int rc;

	if (fd < 0)
		return sq_err_input(fd, SQ_E_MEMORY_IO, mem);
	if ((uint64_t)st.st_size != m->region_size) {
		rc = sq_err(SQ_E_SIZE_MISMATCH, "memory file %s is %lld bytes, its manifest says "
						"%llu", mem, (long long)st.st_size,
			    (unsigned long long)m->region_size);
	} else if (flags & SQ_LOAD_SAMPLE_CRCS) {
		rc = sq_memfile_verify_sample(mem, m, QUICK_SAMPLES);
	} else {
		rc = sq_memfile_verify(mem, m, 0, NULL);
	}
	if (rc == SQ_E_VERIFY)
		rc = sq_err(SQ_E_PAIR_MISMATCH, "state file and memory file do not belong "
						"together: %s (%s)", mem, sq_last_error());
	close(fd);
	return rc;
}

int sq_snapshot_load(const char *state_path, unsigned flags, struct sq_snapshot_loaded **out)
{
	struct sq_snapshot_loaded *l;
	struct sq_pair_paths p;
	int rc;

	struct sq_atomic_group *g = NULL;

	*out = NULL;
	rc = sq_pair_paths_init(&p, state_path);
	if (rc)
		return rc;
	/* Hold the pair's lock shared while reading (a save waits for no one:
	 * it fails busy), after finishing an interrupted commit. */
	rc = sq_atomic_group_read(p.record, &g);
	if (rc)
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l) {
		sq_atomic_group_destroy(g);
		return sq_err(SQ_E_NOMEM, "out of memory");
	}
	rc = sq_pair_read_state(p.state, &l->state, &l->state_len);
	if (!rc)
		rc = sq_state_decode(l->state, l->state_len, &l->vm, NULL);
	if (!rc)
		rc = sq_state_verify_compatible(l->vm);
	if (!rc)
		rc = sq_manifest_load(p.manifest, &l->manifest);
	/* A pair written without a manifest: snapshot/manifest_build.c */
	int foreign = rc == SQ_E_NOT_FOUND && (flags & SQ_LOAD_FOREIGN);
	if (foreign)
		rc = sq_pair_check_foreign_memory(p.mem);
	if (!rc && !foreign && (l->manifest->state_size != l->state_len ||
		    l->manifest->state_crc != sq_pair_state_crc(l->state, l->state_len)))
		rc = sq_err(SQ_E_PAIR_MISMATCH, "state file and memory file do not belong "
						"together: %s is not the state file named by %s",
			    p.state, p.manifest);
	if (!rc && !foreign)
		rc = check_memory(p.mem, l->manifest, flags);
	if (!rc) {
		l->mem_path = strdup(p.mem);
		if (!l->mem_path)
			rc = sq_err(SQ_E_NOMEM, "out of memory");
	}
	sq_atomic_group_destroy(g);
	if (rc) {
		sq_snapshot_loaded_destroy(l);
		return rc;
	}
	*out = l;
	return 0;
}

void sq_snapshot_loaded_destroy(struct sq_snapshot_loaded *l)
{
	if (!l)
		return;
	free(l->state);
	sq_state_destroy(l->vm);
	free(l->mem_path);
	sq_manifest_destroy(l->manifest);
	free(l);
}

int sq_snapshot_save_tracked(const struct sq_snapshot_save_req *req, struct sq_tracker *t,
			     uint32_t region, struct sq_snapshot_report *r)
{
	struct sq_snapshot_save_req q = SQ_INIT(struct sq_snapshot_save_req);
	struct sq_writer_report wrep = SQ_INIT(struct sq_writer_report);
	struct sq_snapshot_report rep = { .size = sizeof(rep), .io = &wrep };
	struct sq_dirty_set *set = NULL;
	struct sq_run *runs4k = NULL;
	uint64_t pages4k = 0;
	int rc;

	if (!req || !t)
		return sq_err(SQ_E_INVAL, "save request or tracker missing");
	rc = sq_pair_sized_in(&q, req, r);
	if (rc)
		return rc;
	if (q.live) {
		rc = sq_live_save(&q, t, region, &rep);
		if (!rc)
			sq_pair_report_out(r, &rep);
		return rc;
	}
	rc = sq_tracker_harvest(t, region, &set);
	if (rc)
		return rc;
	if (q.kind == SQ_SNAPSHOT_DIFF) {
		/* The tracker is the dirty source: an empty harvest is an empty
		 * diff, not a missing source (runs NULL). */
		static const struct sq_run no_runs;
		/* Memory files count 4 KiB pages, whatever the region's page
		 * (a partial last page: its 4 KiB pages inside the memory). */
		rc = sq_runs_4k(sq_dirty_set_runs(set), sq_dirty_set_nruns(set),
				sq_dirty_set_page_size(set),
				q.mem ? (q.mem->size + SQ_PAGE_SIZE - 1) >> SQ_PAGE_SHIFT : UINT64_MAX,
				&runs4k, &q.nruns, &pages4k);
		if (rc) {
			(void)sq_tracker_put_back(t, set);
			sq_dirty_set_destroy(set);
			return rc;
		}
		const struct sq_run *runs = runs4k ? runs4k : sq_dirty_set_runs(set);
		q.runs = runs ? runs : &no_runs;
	} else {
		q.runs = NULL;
		q.nruns = 0;
	}
	rc = sq_snapshot_save(&q, &rep);
	free(runs4k);
	if (rc) {
		char msg[512];
		strncpy(msg, sq_last_error(), sizeof(msg) - 1);
		msg[sizeof(msg) - 1] = 0;
		/* Transactional harvest: the bits go back before we return. */
		int pb = sq_tracker_put_back(t, set);
		sq_dirty_set_destroy(set);
		if (pb)
			return pb;
		return sq_err(rc, "%s", msg);
	}
	sq_tracker_note_io(t, region, wrep.io_ops, wrep.bytes_written,
			   (uint64_t)(wrep.seconds * 1e9));
	if (q.kind == SQ_SNAPSHOT_DIFF)
		rep.pages_dirty = pages4k;
	sq_dirty_set_destroy(set);
	sq_pair_report_out(r, &rep);
	return 0;
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
void sq_snapshot_loaded_free(struct sq_snapshot_loaded *l)
{
	sq_snapshot_loaded_destroy(l);
}
