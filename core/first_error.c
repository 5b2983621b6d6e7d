/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/first_error.c - the first error of a sequence of steps or of a group
 * of threads, kept with its message (core/first_error.h).
 *
 * Invariants:
 *  - sq_first_err.code goes from 0 to a code once, under the lock, and the
 *    message is written before the code is published (release); a reader
 *    that acquires a non-zero code sees the whole message, and the message
 *    is never written again.
 */
#include <string.h>

#include "core/err.h"
#include "core/first_error.h"

static void copy_msg(char *dst)
{
	strncpy(dst, sq_last_error(), SQ_FIRST_ERR_MSG - 1);
	dst[SQ_FIRST_ERR_MSG - 1] = 0;
}

int sq_err_first_keep(struct sq_err_first *f, int code)
{
	if (code && !f->code) {
		copy_msg(f->msg);
		f->code = code;
	}
	return f->code;
}

int sq_err_first_result(const struct sq_err_first *f)
{
	return f->code ? sq_err(f->code, "%s", f->msg) : 0;
}

void sq_first_err_init(struct sq_first_err *e)
{
	pthread_mutex_init(&e->lock, NULL);
	atomic_init(&e->code, 0);
	e->msg[0] = 0;
}

int sq_first_err_set(struct sq_first_err *e, int code)
{
	if (!code)
		return 0;
	pthread_mutex_lock(&e->lock);
	if (atomic_load_explicit(&e->code, memory_order_relaxed) == 0) {
		copy_msg(e->msg);
		/* Release: a worker that sees the code also sees the message. */
		atomic_store_explicit(&e->code, code, memory_order_release);
	}
	pthread_mutex_unlock(&e->lock);
	return code;
}

int sq_first_err_raise(struct sq_first_err *e)
{
	int code = atomic_load_explicit(&e->code, memory_order_acquire);

	if (!code)
		return 0;
	return sq_err(code, "%s", e->msg);
}

void sq_first_err_destroy(struct sq_first_err *e)
{
	pthread_mutex_destroy(&e->lock);
}
