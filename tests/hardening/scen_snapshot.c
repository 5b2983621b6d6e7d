/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenarios of io/ and snapshot/: a tracked diff save over an
 * existing pair followed by its load (both writer backends), a merge into
 * a new file, and an in-place merge.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <squib/crc64.h>
#include <squib/atomic_file.h>
#include <squib/error.h>
#include <squib/merge.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>

#include "core/err.h"
#include "fault.h"
#include "helpers.h"

/* The checks call the library; the driver then reads the run's last error,
 * so each check keeps it. */
struct kept_err {
	int code;
	char msg[512];
};

static void keep_err(struct kept_err *k)
{
	k->code = sq_last_error_code();
	snprintf(k->msg, sizeof(k->msg), "%s", sq_last_error());
}

static const char *restore_err(const struct kept_err *k, const char *verdict)
{
	sq_err(k->code, "%s", k->msg);
	return verdict;
}

#define PG 4096u
#define NPAGES 600u /* three 1 MiB pieces: first and last calls differ */
#define SIZE ((size_t)NPAGES * PG)
#define NDIRTY 7u

struct snap_priv {
	uint8_t *region;
	uint8_t *prev;       /* region content in the previous d.snap pair */
	uint8_t *base0;      /* region content in base.snap */
	uint8_t *st2;        /* the new pair's state file */
	size_t st2_len;
	char *base, *d, *out;
	struct sq_tracker *t;
	uint32_t rid;
	int saved;           /* the save step succeeded */
	enum sq_io_backend be;
};

static const uint32_t dirty_pages[NDIRTY] = { 0, 1, 2, 260, 300, 599, 598 };

/* A real state file; gen + 1 vCPUs so that generations differ. */
static uint8_t *state_bytes(unsigned gen, size_t *len)
{
	struct sq_microvm_state *vm;
	uint8_t *buf = NULL;

	if (sq_x_state_demo_vcpus(gen + 1, &vm))
		return NULL;
	if (sq_state_encode(vm, &buf, len))
		buf = NULL;
	sq_state_destroy(vm);
	return buf;
}

static int save_plain(struct snap_priv *p, const char *path, unsigned gen,
		      const struct sq_snapshot_id *parent, const struct sq_run *runs, size_t n)
{
	size_t len = 0;
	uint8_t *st = state_bytes(gen, &len);
	struct sq_mem_source src = { .base = p->region, .size = SIZE };
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = path, .state = st, .state_len = len,
					  .mem = &src, .kind = parent ? SQ_SNAPSHOT_DIFF
								      : SQ_SNAPSHOT_FULL,
					  .parent = parent, .runs = runs, .nruns = n };
	int rc = st ? sq_snapshot_save(&q, NULL) : SQ_E_NOMEM;

	free(st);
	return rc;
}

static const char *common_setup(struct sq_fx *fx, enum sq_io_backend be)
{
	struct snap_priv *p = calloc(1, sizeof(*p));
	struct sq_snapshot_id id;
	struct sq_run r = { 5, 3 };

	if (!p)
		return "out of memory";
	fx->priv = p;
	p->be = be;
	p->base = sq_fx_path(fx, "base.snap");
	p->d = sq_fx_path(fx, "d.snap");
	p->out = sq_fx_path(fx, "out.mem");
	p->region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p->prev = malloc(SIZE);
	p->base0 = malloc(SIZE);
	if (!p->base || !p->d || !p->out || p->region == MAP_FAILED || !p->prev || !p->base0)
		return "out of memory";
	sq_fx_fill(p->region, SIZE / 2, 1); /* the upper half stays zero */
	if (save_plain(p, p->base, 0, NULL, NULL, 0) || sq_snapshot_id_of(p->base, &id))
		return "cannot save the base pair";
	memcpy(p->base0, p->region, SIZE);
	/* Writes since the base are tracked through the API; the previous
	 * diff is saved without harvesting, so the next one covers them too. */
	if (sq_tracker_create(NULL, &p->t) ||
	    sq_tracker_add_region(p->t, p->region, SIZE, 0, &p->rid))
		return "cannot create the tracker";
	sq_fx_fill(p->region + 5 * PG, 3 * PG, 2);
	sq_tracker_mark_range(p->t, p->region + 5 * PG, 3 * PG);
	if (save_plain(p, p->d, 1, &id, &r, 1))
		return "cannot save the previous diff pair";
	memcpy(p->prev, p->region, SIZE);
	p->st2 = state_bytes(2, &p->st2_len);
	if (!p->st2)
		return "cannot encode a state";
	for (unsigned i = 0; i < NDIRTY; i++) {
		uint8_t *pg = p->region + (size_t)dirty_pages[i] * PG;
		if (i == 1)
			memset(pg, 0, PG); /* a dirty page that is now zero */
		else
			sq_fx_fill(pg, PG, 10 + i);
		sq_tracker_mark(p->t, pg);
	}
	return NULL;
}

static const char *setup_uring(struct sq_fx *fx)
{
	return common_setup(fx, SQ_IO_URING);
}

static const char *setup_pwritev(struct sq_fx *fx)
{
	return common_setup(fx, SQ_IO_PWRITEV);
}

static int save_load_run(struct sq_fx *fx)
{
	struct snap_priv *p = fx->priv;
	struct sq_snapshot_id id;
	struct sq_mem_source src = { .base = p->region, .size = SIZE };
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = p->d, .kind = SQ_SNAPSHOT_DIFF,
					  .state = p->st2, .state_len = p->st2_len, .mem = &src,
					  .parent = &id,
					  .io = &(struct sq_writer_opts){ .size = sizeof(struct sq_writer_opts), .threads = 2, .backend = p->be, .queue_depth = 2 } };
	struct sq_snapshot_loaded *l;
	int rc = sq_snapshot_id_of(p->base, &id);

	if (!rc)
		rc = sq_snapshot_save_tracked(&q, p->t, p->rid, NULL);
	if (rc)
		return rc;
	p->saved = 1;
	rc = sq_snapshot_load(p->d, 0, &l);
	sq_snapshot_loaded_destroy(l);
	return rc;
}

/* The pair at d.snap restores (over base) to @want. */
static int pair_holds(struct snap_priv *p, const uint8_t *want)
{
	const char *chain[2] = { p->base, p->d };
	uint8_t *dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sq_snapshot_loaded *l;
	int ok;

	if (dst == MAP_FAILED)
		return 0;
	ok = sq_snapshot_load(p->d, 0, &l) == 0 &&
	     sq_restore_to_memory(chain, 2, dst, SIZE, NULL, NULL) == 0 &&
	     memcmp(dst, want, SIZE) == 0;
	sq_snapshot_loaded_destroy(l);
	munmap(dst, SIZE);
	return ok;
}

static const char *save_load_verdict(struct sq_fx *fx, int rc)
{
	struct snap_priv *p = fx->priv;
	uint64_t n = 0;

	if (sq_tracker_count(p->t, p->rid, &n))
		return "cannot count dirty pages";
	if (rc == 0 || p->saved) {
		if (!pair_holds(p, p->region))
			return "the saved pair does not hold the new content";
		if (n != 0)
			return sq_fx_msg("%llu dirty pages left after a successful save",
					 (unsigned long long)n);
		return NULL;
	}
	/* The save failed: bits back, and the previous pair (or, after a failed
	 * final directory fsync, the new one) complete. */
	if (n != NDIRTY + 3)
		return sq_fx_msg("dirty bits not put back: %llu of %u", (unsigned long long)n,
				 NDIRTY + 3);
	if (pair_holds(p, p->prev))
		return NULL;
	if ((rc == SQ_E_IO || rc == SQ_E_NO_SPACE) && pair_holds(p, p->region))
		return NULL;
	/* Renames failing past the commit point: the record completes it. */
	if ((rc == SQ_E_ATOMIC_COMMIT_FAILED || rc == SQ_E_NO_SPACE) && pair_holds(p, p->region))
		return NULL;
	return "the failed save left neither the previous nor the new pair";
}

static const char *save_load_check(struct sq_fx *fx, int rc)
{
	struct kept_err k;

	keep_err(&k);
	return restore_err(&k, save_load_verdict(fx, rc));
}

static void snap_teardown(struct sq_fx *fx)
{
	struct snap_priv *p = fx->priv;

	if (!p)
		return;
	sq_tracker_destroy(p->t);
	if (p->region && p->region != MAP_FAILED)
		munmap(p->region, SIZE);
	free(p->prev);
	free(p->base0);
	free(p->st2);
	free(p->base);
	free(p->d);
	free(p->out);
	free(p);
}

SQ_SCENARIO(.name = "snapshot/save_diff_uring", .setup = setup_uring, .run = save_load_run,
	    .check = save_load_check, .teardown = snap_teardown)
SQ_SCENARIO(.name = "snapshot/save_diff_pwritev", .setup = setup_pwritev,
	    .run = save_load_run, .check = save_load_check, .teardown = snap_teardown)

/* Merge the previous pair's chain into out.mem. */
static int merge_run(struct sq_fx *fx)
{
	struct snap_priv *p = fx->priv;
	const char *chain[2] = { p->base, p->d };

	return sq_merge_chain(chain, 2, p->out, NULL, NULL);
}

static const char *merge_check(struct sq_fx *fx, int rc)
{
	struct snap_priv *p = fx->priv;
	struct kept_err k;
	int ok = sq_fx_file_equals(p->out, p->prev, SIZE);
	const char *v = NULL;

	keep_err(&k);
	char rec[4096];
	if (rc < 0 && !sq_commit_path(p->out, rec, sizeof(rec)) && sq_test_exists(rec)) {
		/* Past the commit point: recovery must complete the new output. */
		if (sq_atomic_group_recover(rec, 1))
			v = "recovery of a committed merge failed";
		ok = sq_fx_file_equals(p->out, p->prev, SIZE);
		if (!v && (!ok || sq_memfile_verify(p->out, NULL, 1, NULL) != 0))
			v = "a committed merge was not completed by recovery";
	}
	if (rc == 0 && (!ok || sq_memfile_verify(p->out, NULL, 1, NULL) != 0))
		v = "merge succeeded but the output is wrong";
	if (rc < 0 && sq_test_exists(p->out) && !ok)
		v = "merge failed and left a wrong output file";
	return restore_err(&k, v);
}

SQ_SCENARIO(.name = "io/merge_new", .setup = setup_pwritev, .run = merge_run,
	    .check = merge_check, .teardown = snap_teardown)

/* Merge d onto a copy of base in place. */
static int merge_in_place_run(struct sq_fx *fx)
{
	struct snap_priv *p = fx->priv;
	const char *chain[2] = { p->base, p->d };
	struct sq_merge_opts o = { .size = sizeof(o), .in_place = 1 };

	return sq_merge_chain(chain, 2, NULL, &o, NULL);
}

static const char *merge_in_place_check(struct sq_fx *fx, int rc)
{
	struct snap_priv *p = fx->priv;
	struct kept_err k;
	char *mem = sq_fx_path(fx, "base.mem");
	const char *v = NULL;

	keep_err(&k);
	int merged = mem && sq_fx_file_equals(mem, p->prev, SIZE);
	int untouched = mem && sq_fx_file_equals(mem, p->base0, SIZE);
	int verified = mem && sq_memfile_verify(mem, NULL, 1, NULL) == 0;

	free(mem);
	if (rc == 0 && (!merged || !verified))
		v = "in-place merge succeeded but the base is wrong";
	/* A failed in-place merge may leave the base half-applied; then its
	 * manifest must no longer match (verify reports it). */
	if (rc < 0 && verified && !merged && !untouched)
		v = "a half-applied base still verifies";
	return restore_err(&k, v);
}

SQ_SCENARIO(.name = "io/merge_in_place", .setup = setup_pwritev, .run = merge_in_place_run,
	    .check = merge_in_place_check, .teardown = snap_teardown)
