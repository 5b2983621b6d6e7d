/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/atomic_internal.h - the atomic-file handle, shared by the single-file
 * commit (core/atomic_file.c) and the group commit (core/atomic_group.c).
 */
#ifndef SQ_CORE_ATOMIC_INTERNAL_H
#define SQ_CORE_ATOMIC_INTERNAL_H

#include <squib/atomic_file.h>

/* Internal open flags (above the public SQ_ATOMIC_* bits). */
#define SQ_ATOMIC_I_MEMBER (1u << 30) /* published only by its group */
#define SQ_ATOMIC_I_NOLOCK (1u << 29) /* the caller holds the covering lock */

struct sq_atomic_file {
	int fd;
	int anon;      /* O_TMPFILE: the temp has no name (yet) */
	int temp_live; /* the temp exists (named or anonymous) and is ours */
	int published;
	int lock_fd;   /* flock on lock; -1 with SQ_ATOMIC_I_NOLOCK */
	unsigned flags;
	char *dest, *temp, *dir, *lock;
};

int sq_atomic_open_ex(const char *dest, const struct sq_atomic_opts *opts, unsigned iflags,
		      struct sq_atomic_file **out);
/* Give an anonymous temp its unique name (no-op when already named). */
int sq_atomic_link_temp(struct sq_atomic_file *f);
/* fsync of a directory (opened and synced at the two IO sites): 0 or SQ_E_IO. */
int sq_atomic_dir_sync(int open_site, int fsync_site, const char *dir);

/*
 * sq_atomic_group_commit_point() - the first half of sq_atomic_group_commit:
 * everything up to and including the record's publication (the commit
 * point), no renames. Tests use it to build the state a crash right after
 * the commit point leaves.
 */
struct sq_atomic_group;
int sq_atomic_group_commit_point(struct sq_atomic_group *g);

#endif /* SQ_CORE_ATOMIC_INTERNAL_H */
