/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenarios of engine/: kernel write tracking (userfaultfd
 * write-protect) in both modes. Async mode opens /proc/self/pagemap;
 * sync mode serves write faults from a thread that reads the userfaultfd
 * and is stopped through an eventfd when the region is removed.
 *
 * Outcome rules: add_region either fails with a specific code and leaves
 * the tracker without the region (a retry without faults succeeds), or the
 * region works: every page written after it was added is in the harvest.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <squib/error.h>
#include <squib/tracker.h>

#include "core/err.h"
#include "fault.h"
#include "helpers.h"

#define NPAGES 64u
#define LEN ((size_t)NPAGES * 4096u)

static const unsigned written[] = { 0, 1, 7, 33, 63 };
#define NWRITTEN (sizeof(written) / sizeof(written[0]))

struct kwp_priv {
	enum sq_kernel_mode mode;
	struct sq_tracker *t;
	unsigned char *mem;
	int harvest_ok;  /* the run's harvest held exactly the written pages */
	int added;       /* the run's add_region succeeded */
};

static const char *kwp_setup(struct sq_fx *fx, enum sq_kernel_mode mode)
{
	struct kwp_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return "out of memory";
	fx->priv = p;
	p->mode = mode;
	if (!(sq_tracker_kernel_support() & (1u << mode)))
		return "SKIP: this kernel lacks the userfaultfd write-protect mode";
	struct sq_tracker_opts o = { .size = sizeof(o), .kernel = mode, .granule = SQ_GRANULE_FIXED_4K };

	if (sq_tracker_create(&o, &p->t))
		return "cannot create a tracker";
	p->mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return "mmap failed";
	}
	memset(p->mem, 1, LEN);
	return NULL;
}

static const char *kwp_setup_async(struct sq_fx *fx)
{
	return kwp_setup(fx, SQ_KERNEL_ASYNC);
}

static const char *kwp_setup_sync(struct sq_fx *fx)
{
	return kwp_setup(fx, SQ_KERNEL_SYNC);
}

static int kwp_run(struct sq_fx *fx)
{
	struct kwp_priv *p = fx->priv;
	struct sq_dirty_set *s = NULL;
	uint32_t id;
	int rc = sq_tracker_add_region(p->t, p->mem, LEN, SQ_REGION_KERNEL_WP, &id);

	if (rc)
		return rc;
	p->added = 1;
	for (size_t i = 0; i < NWRITTEN; i++)
		p->mem[(size_t)written[i] * 4096u + 5] = (unsigned char)(i + 2);
	rc = sq_tracker_harvest(p->t, id, &s);
	if (rc == 0) {
		uint64_t want = 0, got = 0;
		const struct sq_run *r = sq_dirty_set_runs(s);

		for (size_t i = 0; i < NWRITTEN; i++)
			want |= 1ull << written[i];
		for (size_t i = 0; i < sq_dirty_set_nruns(s); i++)
			for (uint64_t pg = r[i].first_page; pg < r[i].first_page + r[i].npages; pg++)
				got |= 1ull << pg;
		p->harvest_ok = got == want;
		sq_dirty_set_destroy(s);
	}
	int rrc = sq_tracker_remove_region(p->t, id);

	return rc ? rc : rrc;
}

static const char *kwp_check(struct sq_fx *fx, int rc)
{
	struct kwp_priv *p = fx->priv;
	int code = sq_last_error_code();
	char msg[512];
	const char *verdict = NULL;

	snprintf(msg, sizeof(msg), "%s", sq_last_error());
	if (rc == 0 && !p->harvest_ok) {
		verdict = "the harvest missed written pages or reported unwritten ones";
	} else if (rc < 0 && !p->added) {
		/* Nothing changed: the same region can be added now. */
		uint32_t id;

		if (sq_tracker_add_region(p->t, p->mem, LEN, SQ_REGION_KERNEL_WP, &id))
			verdict = sq_fx_msg("after the failed add, a retry fails: %s",
					    sq_last_error());
		else
			sq_tracker_remove_region(p->t, id);
	}
	if (rc < 0)
		sq_err(code, "%s", msg);
	return verdict;
}

static void kwp_teardown(struct sq_fx *fx)
{
	struct kwp_priv *p = fx->priv;

	if (!p)
		return;
	sq_tracker_destroy(p->t);
	if (p->mem)
		munmap(p->mem, LEN);
	free(p);
}

SQ_SCENARIO(.name = "engine/kwp_async", .setup = kwp_setup_async, .run = kwp_run,
	    .check = kwp_check, .teardown = kwp_teardown)
SQ_SCENARIO(.name = "engine/kwp_sync", .setup = kwp_setup_sync, .run = kwp_run,
	    .check = kwp_check, .teardown = kwp_teardown)
