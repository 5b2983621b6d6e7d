/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/atomic_write.c - one buffer written as a whole file, atomically
 * (sq_atomic_write_file, squib/atomic_file.h), on top of core/atomic_file.c.
 */
#include <errno.h>
#include <sys/stat.h>

#include <squib/atomic_file.h>
#include <squib/error.h>

#include "core/err.h"

int sq_atomic_write_file(const char *dest, const void *buf, size_t len, unsigned mode)
{
	struct sq_atomic_file *f = NULL;
	int rc = sq_atomic_open(dest, NULL, &f);

	if (!rc && mode && fchmod(sq_atomic_fd(f), (mode_t)mode))
		rc = sq_err_sys(SQ_E_IO, errno, sq_atomic_temp_path(f));
	if (!rc && len)
		rc = sq_atomic_write(f, buf, len, SQ_E_IO);
	if (!rc)
		rc = sq_atomic_commit(f);
	sq_atomic_destroy(f); /* removes the temp file unless it was published */
	return rc;
}
