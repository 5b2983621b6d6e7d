/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/first_error.h - keeping the first error, with its message.
 *
 * libsquib's error message is thread-local (core/err.h) and every sq_err()
 * overwrites it. Two places lose the first failure that way:
 *
 *   struct sq_err_first  one thread: a cleanup step that runs after a
 *                        failure (drain, close, unlink) and fails too must
 *                        not replace the first failure's code or message.
 *   struct sq_first_err  a group of threads: the first worker's failure is
 *                        carried, message included, back to the thread that
 *                        joins them (the message is thread-local).
 */
#ifndef SQ_CORE_FIRST_ERROR_H
#define SQ_CORE_FIRST_ERROR_H

#include <pthread.h>
#include <stdatomic.h>

#define SQ_FIRST_ERR_MSG 512

/* One thread's first error; zero-initialise ({ 0 }). */
struct sq_err_first {
	int code; /* 0 until a step fails */
	char msg[SQ_FIRST_ERR_MSG];
};

/*
 * sq_err_first_keep() - note the result @code of a step. The first
 * non-zero code is kept together with the calling thread's message
 * (sq_last_error(), which the failing step recorded); later ones are
 * ignored. Returns the kept code (0 while nothing failed).
 */
int sq_err_first_keep(struct sq_err_first *f, int code);

/*
 * sq_err_first_result() - the kept code, its message recorded again as the
 * calling thread's last error (so it describes the code returned); 0 when
 * nothing failed.
 */
int sq_err_first_result(const struct sq_err_first *f);

/*
 * struct sq_first_err - the first failure of a group of worker threads.
 * The code goes from 0 to a code once, under the lock; the message is
 * written before the code is published (release).
 */
struct sq_first_err {
	pthread_mutex_t lock;
	atomic_int code; /* 0 until a worker fails */
	char msg[SQ_FIRST_ERR_MSG];
};

void sq_first_err_init(struct sq_first_err *e);
/* Record @code with the calling thread's sq_last_error() if first (0 is
 * ignored); returns @code. Any thread. */
int sq_first_err_set(struct sq_first_err *e, int code);
/* Relaxed poll: workers stop taking new work once this is non-zero. */
static inline int sq_first_err_failed(struct sq_first_err *e)
{
	return atomic_load_explicit(&e->code, memory_order_relaxed) != 0;
}
/* The recorded code (acquire: its message is visible), 0 when none. */
static inline int sq_first_err_code(struct sq_first_err *e)
{
	return atomic_load_explicit(&e->code, memory_order_acquire);
}
/* On the calling thread (after the join, or while workers still run):
 * re-raise the recorded error with its message, or return 0. */
int sq_first_err_raise(struct sq_first_err *e);
void sq_first_err_destroy(struct sq_first_err *e);

#endif /* SQ_CORE_FIRST_ERROR_H */
