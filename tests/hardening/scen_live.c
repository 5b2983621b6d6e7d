/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenarios of live saves (snapshot/live_cow.c: the handler's
 * userfaultfd reads and its stop) and lazy restores (io/lazy_*.c: the
 * hot-set file, the layer reads, the handler's reads and stop).
 *
 * Outcome rules: a live save either succeeds and its memory file is the
 * region at the pause instant although a write hit a page of S during the
 * save, or fails with a specific code and leaves no temp file; a lazy
 * restore either succeeds and the region equals the eager restore, or
 * fails with a specific code (after a read error the region is not used).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <squib/error.h>
#include <squib/lazy.h>
#include <squib/live.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "core/err.h"
#include "fault.h"
#include "helpers.h"

#define NPAGES 64u
#define SIZE ((size_t)NPAGES * 4096u)

struct live_priv {
	uint8_t *region, *before, *lazy, *scratch;
	uint8_t *st;
	size_t stlen;
	char *snap, *diff, *hot;
	int fault_ok; /* the faults-only restore served the right page */
};

static const char *common_setup(struct sq_fx *fx, struct live_priv **out)
{
	struct live_priv *p = calloc(1, sizeof(*p));
	struct sq_microvm_state *vm;

	if (!p)
		return "out of memory";
	fx->priv = p;
	*out = p;
	if (!sq_live_supported())
		return "SKIP: no synchronous userfaultfd write-protect";
	p->region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p->before = malloc(SIZE);
	p->scratch = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->region == MAP_FAILED || p->scratch == MAP_FAILED || !p->before)
		return "out of memory";
	sq_fx_fill(p->region, SIZE / 2, 3); /* the upper half stays zero: holes */
	memcpy(p->before, p->region, SIZE);
	if (sq_state_demo(&vm) || sq_state_encode(vm, &p->st, &p->stlen))
		return "cannot build a state file";
	sq_state_destroy(vm);
	p->snap = sq_fx_path(fx, "a.snap");
	p->diff = sq_fx_path(fx, "b.snap");
	p->hot = sq_fx_path(fx, "hot");
	return p->snap && p->diff && p->hot ? NULL : "out of memory";
}

static void write_during_save(void *ctx)
{
	struct live_priv *p = ctx;

	/* Held by the write-protect fault until the old content is staged. */
	memset(p->region + 3 * 4096, 0x77, 4096);
	memset(p->region + 40 * 4096, 0x78, 4096);
}

static const char *save_setup(struct sq_fx *fx)
{
	struct live_priv *p;

	return common_setup(fx, &p);
}

static int save_run(struct sq_fx *fx)
{
	struct live_priv *p = fx->priv;
	struct sq_live_opts lo = { .size = sizeof(lo), .resume = write_during_save, .ctx = p, .require = 1 };
	struct sq_mem_source src = { .base = p->region, .size = SIZE };
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = p->snap, .kind = SQ_SNAPSHOT_FULL,
					  .state = p->st, .state_len = p->stlen, .mem = &src,
					  .io = &(struct sq_writer_opts){ .size = sizeof(struct sq_writer_opts), .threads = 1 }, .live = &lo };

	return sq_snapshot_save(&q, NULL);
}

static const char *save_check(struct sq_fx *fx, int rc)
{
	struct live_priv *p = fx->priv;
	int code = sq_last_error_code();
	char msg[512];
	const char *verdict = NULL;

	snprintf(msg, sizeof(msg), "%s", sq_last_error());
	/* Renames failing past the commit point: recovery completes the save. */
	if (rc < 0 && sq_snapshot_recover(p->snap) != 0)
		verdict = "recovery after a failed save failed";
	const char *left = sq_fx_leftover_temp(fx->dir);
	if (!verdict && left) {
		verdict = left;
	} else if (!verdict && rc == 0) {
		const char *one[1] = { p->snap };
		if (sq_restore_to_memory(one, 1, p->scratch, SIZE, NULL, NULL))
			verdict = sq_fx_msg("the saved pair cannot be restored: %s", sq_last_error());
		else if (memcmp(p->scratch, p->before, SIZE))
			verdict = "the live save's file is not the region at the pause instant";
	}
	if (rc < 0)
		sq_err(code, "%s", msg);
	return verdict;
}

/* A chain (full + diff) and a hot set, built without faults. */
static const char *lazy_setup(struct sq_fx *fx)
{
	struct live_priv *p;
	const char *why = common_setup(fx, &p);
	struct sq_snapshot_id id;
	struct sq_run run = { 5, 2 };

	if (why)
		return why;
	struct sq_mem_source src = { .base = p->region, .size = SIZE };
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = p->snap, .kind = SQ_SNAPSHOT_FULL,
					  .state = p->st, .state_len = p->stlen, .mem = &src };
	if (sq_snapshot_save(&q, NULL) || sq_snapshot_id_of(p->snap, &id))
		return "cannot save the full snapshot";
	memset(p->region + 5 * 4096, 0x21, 2 * 4096);
	memcpy(p->before, p->region, SIZE);
	q = (struct sq_snapshot_save_req){ .size = sizeof(struct sq_snapshot_save_req), .state_path = p->diff, .kind = SQ_SNAPSHOT_DIFF,
					   .state = p->st, .state_len = p->stlen, .mem = &src,
					   .runs = &run, .nruns = 1, .parent = &id };
	if (sq_snapshot_save(&q, NULL))
		return "cannot save the diff";
	const char *chain[2] = { p->snap, p->diff };
	struct sq_lazy_opts o = { .size = sizeof(o), .no_fill = 1, .batch_pages = 1 };
	struct sq_lazy *l;
	if (sq_lazy_start(chain, 2, SIZE, &o, &l))
		return "cannot start a lazy restore";
	uint8_t *a = sq_lazy_addr(l);
	volatile uint8_t sink = a[6 * 4096] + a[50 * 4096];
	(void)sink;
	int rc = sq_lazy_hotset_save(l, p->hot);
	sq_lazy_finish(l, NULL);
	munmap(a, SIZE);
	return rc ? "cannot save a hot set" : NULL;
}

static int lazy_run(struct sq_fx *fx)
{
	struct live_priv *p = fx->priv;
	const char *chain[2] = { p->snap, p->diff };
	struct sq_lazy_opts o = { .size = sizeof(o), .hotset = p->hot, .fill_threads = 1, .batch_pages = 4 };
	struct sq_lazy *l;
	int rc = sq_lazy_start(chain, 2, SIZE, &o, &l);

	if (rc)
		return rc;
	p->lazy = sq_lazy_addr(l);
	p->lazy[20 * 4096 + 1] = p->before[20 * 4096 + 1]; /* a write: the page comes first */
	rc = sq_lazy_finish(l, NULL);
	if (rc)
		return rc;
	/* Faults only: a touch always reaches the handler (with a fill, the
	 * fill may have placed the page first). */
	o = (struct sq_lazy_opts){ .size = sizeof(struct sq_lazy_opts), .no_fill = 1 };
	rc = sq_lazy_start(chain, 2, SIZE, &o, &l);
	if (rc)
		return rc;
	uint8_t *a = sq_lazy_addr(l);
	p->fault_ok = !memcmp(a + 6 * 4096, p->before + 6 * 4096, 4096);
	rc = sq_lazy_finish(l, NULL);
	munmap(a, SIZE);
	return rc;
}

static const char *lazy_check(struct sq_fx *fx, int rc)
{
	struct live_priv *p = fx->priv;

	if (rc == 0 && memcmp(p->lazy, p->before, SIZE))
		return "the lazy restore differs from the chain";
	if (rc == 0 && !p->fault_ok)
		return "a page served by a fault differs from the chain";
	return NULL;
}

static void live_teardown(struct sq_fx *fx)
{
	struct live_priv *p = fx->priv;

	if (!p)
		return;
	if (p->lazy)
		munmap(p->lazy, SIZE);
	if (p->region && p->region != MAP_FAILED)
		munmap(p->region, SIZE);
	if (p->scratch && p->scratch != MAP_FAILED)
		munmap(p->scratch, SIZE);
	free(p->before);
	free(p->st);
	free(p->snap);
	free(p->diff);
	free(p->hot);
	free(p);
}

SQ_SCENARIO(.name = "live/save", .setup = save_setup, .run = save_run, .check = save_check,
	    .teardown = live_teardown)
SQ_SCENARIO(.name = "live/lazy_restore", .setup = lazy_setup, .run = lazy_run,
	    .check = lazy_check, .teardown = live_teardown)
