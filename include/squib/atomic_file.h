/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/atomic_file.h - all-or-nothing, exclusive replacement of one file,
 * and of several files as one unit.
 *
 *   sq_atomic_open     take the destination's lock ("<dest>.lock"), remove
 *                      temps of dead writers, create the temp: anonymous
 *                      (O_TMPFILE) where the filesystem allows, else the
 *                      unique name "<dest>.<pid>.<16 hex>.tmp" (0600,
 *                      O_EXCL, O_NOFOLLOW, O_CLOEXEC)
 *   sq_atomic_write    append bytes to the temp file
 *   sq_atomic_fd       the temp file's descriptor (read/write), for
 *                      pwrite/O_DIRECT/mmap users
 *   sq_atomic_sync     fsync the temp file (first half of commit)
 *   sq_atomic_publish  name the temp, rename it over dest, fsync the directory
 *   sq_atomic_commit   sync + publish
 *   sq_atomic_abort    remove the temp file
 *   sq_atomic_destroy    release the handle and the lock; removes the temp
 *                      unless published
 *   sq_atomic_sweep    remove temps of @dest left by dead writers
 *   sq_atomic_write_file  the whole sequence for one buffer (small files)
 *   sq_atomic_group_*  several destinations in one directory committed as
 *                      one unit through a commit record (see below)
 *
 * Guarantees: until sq_atomic_publish() succeeds the destination is
 * untouched; after it succeeds the destination holds exactly the bytes
 * written and synced by this handle: no other process can open, write or
 * publish our temp (it has no name, or a unique one created O_EXCL), and a
 * second writer of the same destination fails at once with
 * SQ_E_OUTPUT_BUSY (or waits, with SQ_ATOMIC_WAIT). On every failure path
 * the temp is removed before the function returns (the handle stays valid
 * for close). A writer killed by a signal leaves at most a temp with its
 * unique name; the next writer of that destination (which then holds the
 * lock, so the writer is known to be dead) removes it. The directory fsync
 * after the rename makes the new name durable; if that fsync fails, the
 * rename has already happened and SQ_E_IO is returned.
 *
 * The lock file "<dest>.lock" exists only while a writer holds it (it is
 * removed by its holder before unlocking). The directory must be writable.
 *
 * A handle is used by one thread at a time; different handles are
 * independent. Locks are per open file description (flock): two handles
 * on one destination in one process exclude each other too.
 */
#ifndef SQUIB_ATOMIC_FILE_H
#define SQUIB_ATOMIC_FILE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <squib/export.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

#define SQ_TEMP_SUFFIX ".tmp"

struct sq_atomic_file;

struct sq_atomic_opts {
	uint32_t size; /* sizeof(struct sq_atomic_opts): SQ_INIT (squib/types.h) */
	/* Directory for the temp file; NULL = beside the destination (the
	 * only layout that is always atomic). Must be on the destination's
	 * filesystem, else SQ_E_ATOMIC_COMMIT_CROSS_FS. */
	const char *temp_dir;
	/* Extra open(2) flags for the temp file (e.g. O_DIRECT); 0 = none. */
	int extra_flags;
	/* Creation mode; 0 = 0600. */
	unsigned mode;
	/* SQ_ATOMIC_* flags; 0 = fail at once when busy, anonymous temp. */
	unsigned flags;
};

#define SQ_ATOMIC_WAIT 1u       /* wait for another writer instead of SQ_E_OUTPUT_BUSY */
#define SQ_ATOMIC_NAMED_TEMP 2u /* always use a named temp (no O_TMPFILE) */

/**
 * sq_x_derive_temp_path() - "<dest>.tmp" into @buf: the fixed temp name of
 * earlier versions, no longer used by any writer (kept for source
 * compatibility). Returns 0, or SQ_E_INVALID_PATH when @buf (of @len
 * bytes) is too small.
 */
SQ_API int sq_x_derive_temp_path(const char *dest, char *buf, size_t len);

/**
 * sq_x_check_same_filesystem() - pre-flight check that a rename from a file
 * in @temp's parent directory to @dest can be atomic.
 *
 * Compares st_dev of the parent directories (an empty parent means ".").
 * Returns 0; SQ_E_IO when a parent directory is missing or cannot be
 * stat'ed ("snapshot I/O error: ..."); SQ_E_ATOMIC_COMMIT_CROSS_FS when the
 * devices differ, with the original's message naming both paths.
 */
SQ_API int sq_x_check_same_filesystem(const char *dest, const char *temp);

/**
 * sq_atomic_open() - start replacing @dest.
 * @opts: NULL for defaults.
 * @out:  receives the handle, owned by the caller until sq_atomic_destroy().
 *
 * Returns 0, SQ_E_OUTPUT_BUSY (another handle, in this or another
 * process, writes @dest; without SQ_ATOMIC_WAIT), SQ_E_IO (missing parent,
 * permission, ...), SQ_E_NO_SPACE, SQ_E_ATOMIC_COMMIT_CROSS_FS,
 * SQ_E_INVALID_PATH or SQ_E_NOMEM.
 */
SQ_API int sq_atomic_open(const char *dest, const struct sq_atomic_opts *opts,
			  struct sq_atomic_file **out);

/** sq_atomic_fd() - descriptor of the temp file (owned by the handle). */
SQ_API int sq_atomic_fd(const struct sq_atomic_file *f);

/**
 * sq_atomic_temp_path() - the temp file's unique name (owned by the
 * handle). An anonymous temp gets this name only while it is published.
 */
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
 * sq_atomic_publish() - give the synced temp its unique name (linkat, for
 * an anonymous temp), rename it over the destination and fsync the
 * directory. Returns 0; SQ_E_ATOMIC_COMMIT_FAILED when the link or rename
 * fails (temp removed, destination untouched); SQ_E_IO when the directory
 * fsync fails (destination already replaced); SQ_E_INVAL for a group
 * member.
 */
SQ_API int sq_atomic_publish(struct sq_atomic_file *f);

/** sq_atomic_commit() - sq_atomic_sync() then sq_atomic_publish(). */
SQ_API int sq_atomic_commit(struct sq_atomic_file *f);

/** sq_atomic_abort() - unlink the temp file now (idempotent). */
SQ_API void sq_atomic_abort(struct sq_atomic_file *f);

/**
 * sq_atomic_destroy() - close and free the handle. Unlinks the temp file
 * unless it was published. NULL is ignored.
 */
SQ_API void sq_atomic_destroy(struct sq_atomic_file *f);

/**
 * sq_atomic_sweep() - remove the temps of @dest left by dead writers: takes
 * the destination's lock without waiting; when a live writer holds it,
 * nothing is touched. Returns the number removed (0 also when busy), or a
 * negative SQ_E_* when the lock file cannot be created.
 */
SQ_API int sq_atomic_sweep(const char *dest);

/**
 * sq_atomic_write_file() - replace @dest with the @len bytes at @buf (@len
 * 0: an empty file): open, write, fsync, rename, directory fsync, the
 * sequence above for a file that fits in one buffer (manifests, state
 * files, hot sets, port files). @mode 0 keeps the atomic writer's 0600 as
 * the umask leaves it; otherwise the file gets exactly @mode (fchmod,
 * before any byte is written). Any thread; blocks on the file's lock
 * (without SQ_ATOMIC_WAIT: a second writer fails with SQ_E_OUTPUT_BUSY)
 * and fsyncs. @buf stays the caller's.
 *
 * Returns 0 (@dest holds exactly the buffer, durably), or the error of the
 * failing step: SQ_E_OUTPUT_BUSY, SQ_E_INVALID_PATH, SQ_E_IO,
 * SQ_E_NO_SPACE, SQ_E_NOMEM, SQ_E_ATOMIC_COMMIT_FAILED,
 * SQ_E_ATOMIC_COMMIT_CROSS_FS. No temp file is ever left. A failure up to
 * the rename leaves @dest as it was (or absent); only the directory fsync
 * after it (SQ_E_IO) can fail with the new content in place but not known
 * to be durable.
 */
SQ_API int sq_atomic_write_file(const char *dest, const void *buf, size_t len, unsigned mode);

/*
 * Group commit: several destinations in one directory replaced as one unit.
 *
 *   g = sq_atomic_group_open(record)   lock "<record>.lock", finish any
 *                                      interrupted commit of this record
 *   sq_atomic_group_add(g, dest, ...)  a member: an atomic file (locked as
 *                                      above) that only the group publishes
 *   sq_atomic_group_commit(g)          sync members; give them their unique
 *                                      names; write the commit record (the
 *                                      commit point); rename every member;
 *                                      remove the record
 *   sq_atomic_group_destroy(g)           remove uncommitted temps, unlock
 *
 * The record "<record>" lists (temp name, destination) pairs, all in the
 * record's directory, with a CRC-64; it is itself published atomically.
 * Until it exists the destinations are untouched; once it exists the
 * commit is decided and sq_atomic_group_recover() (run by group_open, by
 * pair save/load and by every reader of chain layers) rolls it forward:
 * it renames each listed temp that still exists over its destination and
 * then removes the record. A SIGKILL at any instant therefore leaves,
 * after recovery, every destination complete and from one commit: all old
 * or all new.
 */
struct sq_atomic_group;

/**
 * sq_atomic_group_open() - lock the record @record (wait: block instead of
 * SQ_E_OUTPUT_BUSY), recover an interrupted commit, start a new group.
 * Returns 0 and *@out; SQ_E_OUTPUT_BUSY; SQ_E_IO; SQ_E_CORRUPT (a record
 * that fails its CRC or names files outside its rules: left untouched);
 * SQ_E_NOMEM.
 */
SQ_API int sq_atomic_group_open(const char *record, int wait, struct sq_atomic_group **out);

/**
 * sq_atomic_group_add() - a member replacing @dest (in the record's
 * directory). The handle is owned by the group (valid until group close);
 * write through it with sq_atomic_write / sq_atomic_fd. Members are at
 * most 8. Errors as sq_atomic_open, plus SQ_E_INVAL (other directory, too
 * many members).
 */
SQ_API int sq_atomic_group_add(struct sq_atomic_group *g, const char *dest,
			       const struct sq_atomic_opts *opts, struct sq_atomic_file **out);

/**
 * sq_atomic_group_commit() - commit every member as one unit. Returns 0
 * (all destinations replaced, durable); before the commit point: the
 * members' errors (SQ_E_IO, SQ_E_NO_SPACE, SQ_E_ATOMIC_COMMIT_FAILED), all
 * temps removed, destinations untouched; after it: SQ_E_IO when a
 * directory fsync failed, or SQ_E_ATOMIC_COMMIT_FAILED when a rename
 * failed twice: the record stays, and the next recovery completes the new
 * state.
 */
SQ_API int sq_atomic_group_commit(struct sq_atomic_group *g);

/** sq_atomic_group_destroy() - remove uncommitted temps, unlock, free. NULL ok. */
SQ_API void sq_atomic_group_destroy(struct sq_atomic_group *g);

/**
 * sq_atomic_group_recover() - finish an interrupted commit of @record, if
 * its record exists (costs one access(2) otherwise). Takes the record's
 * lock (@wait as in group_open). Returns 0, SQ_E_OUTPUT_BUSY, SQ_E_IO,
 * SQ_E_CORRUPT, SQ_E_ATOMIC_COMMIT_FAILED.
 */
SQ_API int sq_atomic_group_recover(const char *record, int wait);

/**
 * sq_atomic_group_read() - hold the record's lock shared for reading the
 * group's destinations: finishes an interrupted commit, then waits while a
 * writer holds the lock (writers never wait, so readers cannot deadlock
 * with them), so the reader sees one complete commit until it closes
 * *@out with sq_atomic_group_destroy. Readers share the lock. In a directory
 * where the lock file cannot be created and no commit is pending, *@out is
 * NULL and 0 is returned (no writer can exist there). Returns 0,
 * SQ_E_CORRUPT, SQ_E_IO, SQ_E_NOMEM.
 */
SQ_API int sq_atomic_group_read(const char *record, struct sq_atomic_group **out);

/* Names published before the naming rule (docs/ARCHITECTURE.md, "ABI"); same behaviour. */
SQ_API int sq_derive_temp_path(const char *dest, char *buf, size_t len)
	SQ_DEPRECATED("use sq_x_derive_temp_path");
SQ_API int sq_check_same_filesystem(const char *dest, const char *temp)
	SQ_DEPRECATED("use sq_x_check_same_filesystem");
SQ_API void sq_atomic_close(struct sq_atomic_file *f)
	SQ_DEPRECATED("use sq_atomic_destroy");
SQ_API void sq_atomic_group_close(struct sq_atomic_group *g)
	SQ_DEPRECATED("use sq_atomic_group_destroy");

SQ_END_DECLS

#endif /* SQUIB_ATOMIC_FILE_H */
