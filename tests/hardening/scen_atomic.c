/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenarios of core's small-file paths: replace a file that already
 * exists (core/atomic_file.c); read a whole file back (sq_file_read).
 */
#include <stdlib.h>
#include <string.h>

#include <squib/atomic_file.h>
#include <squib/error.h>
#include <squib/file.h>

#include "fault.h"
#include "helpers.h"

#define OLD_LEN (64u << 10)
#define NEW_LEN (3 * (96u << 10) + 123)

struct atomic_priv {
	char *dest;
	unsigned char *old, *new_;
};

static const char *atomic_setup(struct sq_fx *fx)
{
	struct atomic_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return "out of memory";
	fx->priv = p;
	p->dest = sq_fx_path(fx, "state.snap");
	p->old = malloc(OLD_LEN);
	p->new_ = malloc(NEW_LEN);
	if (!p->dest || !p->old || !p->new_)
		return "out of memory";
	sq_fx_fill(p->old, OLD_LEN, 1);
	sq_fx_fill(p->new_, NEW_LEN, 2);
	if (sq_test_write_file(p->dest, p->old, OLD_LEN))
		return "cannot write the previous file";
	return NULL;
}

static int atomic_run(struct sq_fx *fx)
{
	struct atomic_priv *p = fx->priv;
	struct sq_atomic_file *f;
	int rc = sq_atomic_open(p->dest, NULL, &f);

	if (rc)
		return rc;
	/* Three appends, so that a fault can hit the middle of the file. */
	const size_t cut[4] = { 0, 96u << 10, 192u << 10, NEW_LEN };

	for (int i = 0; i < 3 && !rc; i++)
		rc = sq_atomic_write(f, p->new_ + cut[i], cut[i + 1] - cut[i], SQ_E_IO);
	if (!rc)
		rc = sq_atomic_commit(f);
	sq_atomic_destroy(f);
	return rc;
}

static const char *atomic_check(struct sq_fx *fx, int rc)
{
	struct atomic_priv *p = fx->priv;
	int is_new = sq_fx_file_equals(p->dest, p->new_, NEW_LEN);
	int is_old = sq_fx_file_equals(p->dest, p->old, OLD_LEN);

	if (rc == 0 && !is_new)
		return "succeeded but the destination does not hold the new bytes";
	if (rc < 0 && !is_new && !is_old)
		return "failed and the destination is neither the old nor the new file";
	/* Only the directory fsync runs after the rename: any other failure
	 * must leave the old file. */
	if (rc < 0 && is_new && rc != SQ_E_IO && rc != SQ_E_NO_SPACE)
		return sq_fx_msg("failed with %s after replacing the destination",
				 sq_error_name(rc));
	return NULL;
}

static void atomic_teardown(struct sq_fx *fx)
{
	struct atomic_priv *p = fx->priv;

	if (!p)
		return;
	free(p->dest);
	free(p->old);
	free(p->new_);
	free(p);
}

SQ_SCENARIO(.name = "atomic/replace", .setup = atomic_setup, .run = atomic_run,
	    .check = atomic_check, .teardown = atomic_teardown)

/* sq_file_read of a 300 KiB file: the bytes, or a specific code and no
 * buffer. */
struct read_priv {
	char *path;
	unsigned char *data;
	void *got;
	size_t len;
};

static const char *read_setup(struct sq_fx *fx)
{
	struct read_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return "out of memory";
	fx->priv = p;
	p->path = sq_fx_path(fx, "input");
	p->data = malloc(NEW_LEN);
	if (!p->path || !p->data)
		return "out of memory";
	sq_fx_fill(p->data, NEW_LEN, 3);
	if (sq_test_write_file(p->path, p->data, NEW_LEN))
		return "cannot write the input";
	return NULL;
}

static int read_run(struct sq_fx *fx)
{
	struct read_priv *p = fx->priv;

	free(p->got);
	p->got = NULL;
	return sq_file_read(p->path, NEW_LEN, &p->got, &p->len);
}

static const char *read_check(struct sq_fx *fx, int rc)
{
	struct read_priv *p = fx->priv;

	if (rc == 0 && (p->len != NEW_LEN || memcmp(p->got, p->data, NEW_LEN)))
		return "succeeded but the bytes read differ from the file";
	if (rc < 0 && p->got)
		return "failed and left a buffer";
	if (rc < 0 && rc != SQ_E_IO && rc != SQ_E_NO_SPACE && rc != SQ_E_NOMEM &&
	    rc != SQ_E_NOT_FOUND)
		return sq_fx_msg("failed with %s, not a read error", sq_error_name(rc));
	return NULL;
}

static void read_teardown(struct sq_fx *fx)
{
	struct read_priv *p = fx->priv;

	if (!p)
		return;
	free(p->path);
	free(p->data);
	free(p->got);
	free(p);
}

SQ_SCENARIO(.name = "file/read", .setup = read_setup, .run = read_run, .check = read_check,
	    .teardown = read_teardown)
