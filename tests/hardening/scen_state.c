/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenarios of state/: replace a state file, then load it back.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>
#include <squib/state.h>

#include "core/err.h"
#include "fault.h"
#include "helpers.h"

struct state_priv {
	char *path;
	struct sq_microvm_state *old, *new_;
	int loaded_new; /* the load in run() returned the new state */
};

static const char *state_setup(struct sq_fx *fx)
{
	struct state_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return "out of memory";
	fx->priv = p;
	p->path = sq_fx_path(fx, "vm.snap");
	if (!p->path || sq_x_state_demo_vcpus(2, &p->old) || sq_x_state_demo_vcpus(5, &p->new_))
		return "cannot build the states";
	if (sq_state_save(p->path, p->old))
		return sq_fx_msg("cannot save the previous state: %s", sq_last_error());
	return NULL;
}

static int state_run(struct sq_fx *fx)
{
	struct state_priv *p = fx->priv;
	struct sq_microvm_state *got = NULL;
	int rc = sq_state_save(p->path, p->new_);

	if (rc)
		return rc;
	rc = sq_state_load(p->path, &got, NULL);
	if (rc)
		return rc;
	p->loaded_new = sq_state_equal(got, p->new_);
	sq_state_destroy(got);
	return 0;
}

/* Which state the file holds now: 1 new, 0 old, -1 neither. Loads with
 * faults off, so the run's last error is kept by the caller. */
static int holds(struct state_priv *p)
{
	struct sq_microvm_state *got = NULL;
	int which = -1;

	if (sq_state_load(p->path, &got, NULL) == 0) {
		if (sq_state_equal(got, p->new_))
			which = 1;
		else if (sq_state_equal(got, p->old))
			which = 0;
		sq_state_destroy(got);
	}
	return which;
}

static const char *state_check(struct sq_fx *fx, int rc)
{
	struct state_priv *p = fx->priv;
	int code = sq_last_error_code();
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", sq_last_error());
	int which = holds(p);
	const char *verdict = NULL;

	if (rc == 0 && (which != 1 || !p->loaded_new))
		verdict = "succeeded but the file or the loaded state is not the new state";
	else if (rc < 0 && which < 0)
		verdict = "failed and the file holds neither the old nor the new state";
	/* Keep the run's error for the driver's last-error check. */
	if (rc < 0)
		sq_err(code, "%s", msg);
	return verdict;
}

static void state_teardown(struct sq_fx *fx)
{
	struct state_priv *p = fx->priv;

	if (!p)
		return;
	free(p->path);
	sq_state_destroy(p->old);
	sq_state_destroy(p->new_);
	free(p);
}

SQ_SCENARIO(.name = "state/save_load", .setup = state_setup, .run = state_run,
	    .check = state_check, .teardown = state_teardown)
