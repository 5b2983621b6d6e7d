/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/atomic_write.h - replace a whole file with one buffer, atomically:
 * the open / write / fsync / rename / directory fsync sequence of
 * <squib/atomic_file.h> that every small file (manifest, state file, hot
 * set, received state) is written with.
 */
#ifndef SQ_CORE_ATOMIC_WRITE_H
#define SQ_CORE_ATOMIC_WRITE_H

#include <stddef.h>

/*
 * sq_atomic_write_file() - replace @dest with the @len bytes at @buf
 * (@len 0: an empty file). @mode 0 keeps the atomic writer's 0600 as the
 * umask leaves it; otherwise the file gets exactly @mode (fchmod, before
 * any byte is written). Any thread; blocks on the file's lock and fsyncs.
 *
 * Returns 0 (@dest holds exactly the buffer, durably), or the error of the
 * failing step: SQ_E_INVALID_PATH, SQ_E_IO, SQ_E_NO_SPACE, SQ_E_NOMEM,
 * SQ_E_ATOMIC_COMMIT_FAILED, SQ_E_ATOMIC_COMMIT_CROSS_FS. No temp file is
 * ever left. A failure up to the rename leaves @dest as it was (or absent);
 * only the directory fsync after it (SQ_E_IO) can fail with the new
 * content in place but not known to be durable.
 */
int sq_atomic_write_file(const char *dest, const void *buf, size_t len, unsigned mode);

#endif /* SQ_CORE_ATOMIC_WRITE_H */
