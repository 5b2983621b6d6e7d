/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/atomic_file.h - all-or-nothing replacement of one file.
 *
 *   sq_atomic_open     unlink a stale temp, create <dest>.tmp (0600, O_EXCL,
 *                      O_NOFOLLOW, O_CLOEXEC) after the same-filesystem check
 *   sq_atomic_write    append bytes to the temp file
 *   sq_atomic_fd       the temp file's descriptor, for pwrite/O_DIRECT users
 *   sq_atomic_sync     fsync the temp file (first half of commit)
 *   sq_atomic_publish  rename temp -> dest, then fsync the directory
 *   sq_atomic_commit   sync + publish
 *   sq_atomic_abort    unlink the temp file
 *   sq_atomic_close    release the handle; unlinks the temp unless published
 *
 * Guarantee: until sq_atomic_publish() succeeds the destination is
 * untouched; after it succeeds the destination holds exactly the bytes
 * written and synced. On every failure path the temp file is unlinked
 * before the function returns (the handle stays valid for close). The
 * directory fsync after the rename makes the new name durable; if that
 * fsync fails, the rename has already happened and SQ_E_IO is returned.
 *
 * A handle is used by one thread at a time; different handles are
 * independent.
 */
#ifndef SQUIB_ATOMIC_FILE_H
#define SQUIB_ATOMIC_FILE_H

#include <stddef.h>
#include <squib/export.h>

SQ_BEGIN_DECLS

#define SQ_TEMP_SUFFIX ".tmp"

struct sq_atomic_file;

struct sq_atomic_opts {
	/* Directory for the temp file; NULL = beside the destination (the
	 * only layout that is always atomic). Must be on the destination's
	 * filesystem, else SQ_E_ATOMIC_COMMIT_CROSS_FS. */
	const char *temp_dir;
	/* Extra open(2) flags for the temp file (e.g. O_DIRECT); 0 = none. */
	int extra_flags;
	/* Creation mode; 0 = 0600. */
	unsigned mode;
};

/**
 * sq_derive_temp_path() - "<dest>.tmp" into @buf.
 * Returns 0, or SQ_E_INVALID_PATH when @buf (of @len bytes) is too small.
 */
SQ_API int sq_derive_temp_path(const char *dest, char *buf, size_t len);

/**
 * sq_check_same_filesystem() - pre-flight check that a rename from a file
 * in @temp's parent directory to @dest can be atomic.
 *
 * Compares st_dev of the parent directories (an empty parent means ".").
 * Returns 0; SQ_E_IO when a parent directory is missing or cannot be
 * stat'ed ("snapshot I/O error: ..."); SQ_E_ATOMIC_COMMIT_CROSS_FS when the
 * devices differ, with the original's message naming both paths.
 */
SQ_API int sq_check_same_filesystem(const char *dest, const char *temp);

/**
 * sq_atomic_open() - start replacing @dest.
 * @opts: NULL for defaults.
 * @out:  receives the handle, owned by the caller until sq_atomic_close().
 *
 * Returns 0, SQ_E_IO (missing parent, permission, ...), SQ_E_NO_SPACE,
 * SQ_E_ATOMIC_COMMIT_CROSS_FS, SQ_E_INVALID_PATH or SQ_E_NOMEM.
 */
SQ_API int sq_atomic_open(const char *dest, const struct sq_atomic_opts *opts,
			  struct sq_atomic_file **out);

/** sq_atomic_fd() - descriptor of the temp file (owned by the handle). */
SQ_API int sq_atomic_fd(const struct sq_atomic_file *f);

/** sq_atomic_temp_path() - path of the temp file (owned by the handle). */
SQ_API const char *sq_atomic_temp_path(const struct sq_atomic_file *f);

/** sq_atomic_dest_path() - the destination path (owned by the handle). */
SQ_API const char *sq_atomic_dest_path(const struct sq_atomic_file *f);

/**
 * sq_atomic_write() - append @len bytes at the current position.
 * Retries EINTR and short writes. Returns 0, SQ_E_NO_SPACE or @err_class
 * (SQ_E_IO for state files, SQ_E_MEMORY_IO for memory files); on failure
 * the temp file is unlinked.
 */
SQ_API int sq_atomic_write(struct sq_atomic_file *f, const void *buf, size_t len, int err_class);

/**
 * sq_atomic_sync() - fsync the temp file.
 * Returns 0 or SQ_E_IO / SQ_E_NO_SPACE; on failure the temp is unlinked.
 */
SQ_API int sq_atomic_sync(struct sq_atomic_file *f);

/**
 * sq_atomic_publish() - rename the synced temp file over the destination and
 * fsync the directory. Returns 0; SQ_E_ATOMIC_COMMIT_FAILED when the rename
 * fails (temp unlinked, destination untouched); SQ_E_IO when the directory
 * fsync fails (destination already replaced).
 */
SQ_API int sq_atomic_publish(struct sq_atomic_file *f);

/** sq_atomic_commit() - sq_atomic_sync() then sq_atomic_publish(). */
SQ_API int sq_atomic_commit(struct sq_atomic_file *f);

/** sq_atomic_abort() - unlink the temp file now (idempotent). */
SQ_API void sq_atomic_abort(struct sq_atomic_file *f);

/**
 * sq_atomic_close() - close and free the handle. Unlinks the temp file
 * unless it was published. NULL is ignored.
 */
SQ_API void sq_atomic_close(struct sq_atomic_file *f);

SQ_END_DECLS

#endif /* SQUIB_ATOMIC_FILE_H */
