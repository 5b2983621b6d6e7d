/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/file.h - reading a small whole file the way libsquib reads its own
 * inputs (state files, manifests, commit records): for programs that read
 * such a file themselves (a state blob to send, a state file to check).
 *   sq_file_read   the whole regular file, at most a given size
 * Its counterpart for writing is sq_atomic_write_file (squib/atomic_file.h).
 */
#ifndef SQUIB_FILE_H
#define SQUIB_FILE_H

#include <stddef.h>
#include <squib/export.h>

SQ_BEGIN_DECLS

/**
 * sq_file_read() - read the whole regular file @path into a new buffer.
 * The file is opened O_RDONLY|O_NONBLOCK|O_NOCTTY and fstat'ed first: a
 * FIFO, socket, device or directory is refused at once (no open or read
 * can block on it). A file larger than @max bytes is refused before
 * anything is read; the buffer grows with the bytes actually read, so a
 * sparse file costs what it stores as it is read, never more than @max.
 * @out: receives the buffer (owned by the caller, release it with sq_free();
 *       one byte more than *@len is allocated, so it is never NULL on
 *       success, and that byte is 0); NULL on failure.
 * @len: receives the file's size.
 * Returns 0; SQ_E_INVAL (a NULL argument); SQ_E_NOT_FOUND (no such file);
 * SQ_E_NOT_REGULAR; SQ_E_SIZE_LIMIT (larger than @max, message with both
 * sizes); SQ_E_IO (open or read failed, or the file shrank while read,
 * with the system's text and the path; SQ_E_NO_SPACE where the system
 * said ENOSPC); SQ_E_NOMEM. Any thread; blocks on
 * the file's reads; nothing is kept.
 */
SQ_API int sq_file_read(const char *path, size_t max, void **out, size_t *len);

SQ_END_DECLS

#endif /* SQUIB_FILE_H */
