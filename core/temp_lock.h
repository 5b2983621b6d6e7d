/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/temp_lock.h - writer locks, unique temp names and the sweep of temps
 * left by dead writers. Shared by core/atomic_file.c and core/atomic_group.c.
 *
 *   sq_lock_acquire   exclusive flock on "<dest>.lock" (created beside the
 *                     destination, removed again by its holder)
 *   sq_lock_release   unlink and close the lock file
 *   sq_temp_name      "<dir>/<base>.<pid>.<16 hex>.tmp", fresh randomness
 *   sq_temp_is_of     1 when a directory entry is a temp name of <base>
 *   sq_temp_sweep     remove every temp of <base> in <dir> (caller holds
 *                     the destination's lock, so every such temp is dead)
 *
 * Rule: a writer holds the destination's lock for as long as any temp of
 * that destination it created exists. Hence a holder of the lock that
 * finds a temp name of the destination knows its writer is gone.
 */
#ifndef SQ_CORE_TEMP_LOCK_H
#define SQ_CORE_TEMP_LOCK_H

#include <stddef.h>

#define SQ_LOCK_SUFFIX ".lock"

/*
 * sq_lock_acquire() - lock @lock_path exclusively. @wait: 1 = block until
 * free, 0 = fail at once. Returns the lock fd (>= 0); SQ_E_OUTPUT_BUSY when
 * another process holds it and !@wait; SQ_E_IO / SQ_E_NO_SPACE when the
 * lock file cannot be created. The lock file is created 0600 with
 * O_NOFOLLOW; a lock file unlinked by its previous holder while we waited
 * is detected (inode check) and the lock retaken on the new file.
 */
int sq_lock_acquire(const char *lock_path, int wait);

/* sq_lock_acquire_mode() - as sq_lock_acquire with flock @mode (LOCK_EX or
 * LOCK_SH: readers share, a writer excludes them). */
int sq_lock_acquire_mode(const char *lock_path, int wait, int mode);

/* sq_lock_release_shared() - drop a shared lock; the file is removed when
 * no other process holds it. */
void sq_lock_release_shared(int fd, const char *lock_path);

/* sq_lock_release() - unlink @lock_path (while still held) and close @fd. */
void sq_lock_release(int fd, const char *lock_path);

/* sq_temp_name() - a fresh unique temp path for @dest in @dir (NULL = the
 * destination's directory); malloc'd, NULL on ENOMEM or getrandom failure. */
char *sq_temp_name(const char *dir, const char *dest);

/* sq_temp_is_of() - 1 when @name is "<base>.<pid>.<16 hex>.tmp". */
int sq_temp_is_of(const char *name, const char *base);

/*
 * sq_temp_sweep() - unlink every temp of @base (a file name) in @dir. Only
 * call with the destination's lock held. Returns the number removed.
 */
int sq_temp_sweep(const char *dir, const char *base);

/* Parent directory / last component of @path (malloc'd; "" parent is "."). */
char *sq_path_dir(const char *path);
char *sq_path_base(const char *path);

#endif /* SQ_CORE_TEMP_LOCK_H */
