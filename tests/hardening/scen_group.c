/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenario for the roll-forward of a group commit: the state a
 * crash right after the commit point leaves (record published, no member
 * renamed), resolved by sq_atomic_group_recover under injected faults.
 * Allowed outcomes: recovery succeeded and every member is new; or it
 * failed with a specific code and a clean second recovery completes it
 * (the record is never lost, a member never mixed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <squib/atomic_file.h>
#include <squib/error.h>

#include "core/err.h"
#include "fault.h"
#include "helpers.h"
#include "core/atomic_internal.h"

static const char *const members[] = { "g.snap", "g.mem", "g.manifest" };

static const char *setup(struct sq_fx *fx)
{
	struct sq_atomic_group *g = NULL;
	char *rec = sq_fx_path(fx, "g.commit");
	const char *msg = NULL;

	if (!rec)
		return "out of memory";
	for (int i = 0; i < 3 && !msg; i++) {
		char *d = sq_fx_path(fx, members[i]);
		if (!d || sq_test_write_file(d, "old", 3))
			msg = "cannot write the old files";
		free(d);
	}
	if (!msg && sq_atomic_group_open(rec, 0, &g))
		msg = "cannot open the group";
	for (int i = 0; i < 3 && !msg; i++) {
		struct sq_atomic_file *f;
		char *d = sq_fx_path(fx, members[i]), text[32];
		snprintf(text, sizeof(text), "new %s", members[i]);
		if (!d || sq_atomic_group_add(g, d, NULL, &f) ||
		    sq_atomic_write(f, text, strlen(text), SQ_E_IO))
			msg = "cannot write a member";
		free(d);
	}
	if (!msg && sq_atomic_group_commit_point(g))
		msg = "cannot publish the record";
	sq_atomic_group_destroy(g); /* leaves the committed temps: the "crash" */
	fx->priv = rec;
	return msg;
}

static int run(struct sq_fx *fx)
{
	return sq_atomic_group_recover(fx->priv, 0);
}

static const char *check(struct sq_fx *fx, int rc)
{
	int code = sq_last_error_code();
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", sq_last_error());
	if (rc < 0 && sq_atomic_group_recover(fx->priv, 0) != 0)
		return "a clean recovery after a failed one did not complete the commit";
	for (int i = 0; i < 3; i++) {
		char *d = sq_fx_path(fx, members[i]), text[32];
		snprintf(text, sizeof(text), "new %s", members[i]);
		int ok = d && sq_fx_file_equals(d, text, strlen(text));
		free(d);
		if (!ok)
			return sq_fx_msg("%s is not the committed file", members[i]);
	}
	if (sq_test_exists(fx->priv))
		return "the commit record was left after recovery";
	if (code)
		sq_err(code, "%s", msg); /* the driver reads the run's error */
	return NULL;
}

static void teardown(struct sq_fx *fx)
{
	free(fx->priv);
}

SQ_SCENARIO(.name = "io/group_recover", .setup = setup, .run = run, .check = check,
	    .teardown = teardown)
