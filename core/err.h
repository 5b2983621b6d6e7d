/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/err.h - internal helpers that record the calling thread's last error.
 *
 * Every failure path inside libsquib returns through one of these, so that
 * sq_last_error() always describes the code being returned.
 */
#ifndef SQ_CORE_ERR_H
#define SQ_CORE_ERR_H

#include <squib/error.h>

/*
 * sq_err() - record a formatted message for @code and return @code.
 * The message is truncated to fit the thread-local buffer (512 bytes).
 */
int sq_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * sq_err_sys() - record an OS error and return its code.
 * @cls:    the class code for this call site: SQ_E_IO (state files and
 *          generic IO, "snapshot I/O error: ..."), SQ_E_MEMORY_IO
 *          ("memory file I/O error: ..."), SQ_E_ATOMIC_COMMIT_FAILED
 *          ("atomic commit (rename) failed: ..."), or any other code.
 * @errnum: positive errno value.
 *
 * ENOSPC and EDQUOT map to SQ_E_NO_SPACE and ENOMEM to SQ_E_NOMEM, whatever
 * @cls; the message keeps the class prefix. The OS part is written as the
 * original writes an io::Error: "<strerror> (os error <n>)".
 */
int sq_err_sys(int cls, int errnum, const char *context);

/* sq_err_keep() - return @code, keeping the message already recorded. */
static inline int sq_err_keep(int code) { return code; }

#endif /* SQ_CORE_ERR_H */
