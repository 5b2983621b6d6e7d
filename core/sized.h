/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/sized.h - reading and writing the caller's size-prefixed option and
 * report structs (squib/types.h SQ_INIT, docs/ARCHITECTURE.md "ABI").
 *
 * A public entry point copies the caller's options into a local struct that
 * holds the defaults (sq_sized_in), works on that copy only, and copies its
 * local report back within the caller's size (sq_sized_out), after
 * sq_sized_check accepted the report's size. So a program built against a
 * smaller (older) layout has its missing fields defaulted and nothing past
 * its size read or written.
 */
#ifndef SQ_CORE_SIZED_H
#define SQ_CORE_SIZED_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of @type up to and including @member. */
#define SQ_SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/*
 * The first published layout of each struct: its size may not be smaller.
 * Appending a field to a struct leaves these alone (that is the point).
 */
#define SQ_V0_ATOMIC_OPTS SQ_SIZE_THROUGH(struct sq_atomic_opts, flags)
#define SQ_V0_TRACKER_OPTS SQ_SIZE_THROUGH(struct sq_tracker_opts, ewma_alpha_pct)
#define SQ_V0_REGION_OPTS SQ_SIZE_THROUGH(struct sq_region_opts, page_size)
#define SQ_V0_DIRTY_STATS SQ_SIZE_THROUGH(struct sq_dirty_stats, kernel_mode)
#define SQ_V0_LIVE_REPORT SQ_SIZE_THROUGH(struct sq_live_report, stall_s)
#define SQ_V0_LIVE_OPTS SQ_SIZE_THROUGH(struct sq_live_opts, require)
#define SQ_V0_WRITER_OPTS SQ_SIZE_THROUGH(struct sq_writer_opts, no_sync)
#define SQ_V0_WRITER_REPORT SQ_SIZE_THROUGH(struct sq_writer_report, seconds)
#define SQ_V0_MIGRATE_REPORT SQ_SIZE_THROUGH(struct sq_migrate_report, round)
#define SQ_V0_MIGRATE_SEND_OPTS SQ_SIZE_THROUGH(struct sq_migrate_send_opts, ctx)
#define SQ_V0_MIGRATE_RECV_OPTS SQ_SIZE_THROUGH(struct sq_migrate_recv_opts, commit_ctx)
#define SQ_V0_MIGRATE_LINK_OPTS SQ_SIZE_THROUGH(struct sq_migrate_link_opts, no_ktls)
#define SQ_V0_MIGRATE_LINK_REPORT SQ_SIZE_THROUGH(struct sq_migrate_link_report, tls)
#define SQ_V0_MIGRATE_RECV_STATS SQ_SIZE_THROUGH(struct sq_migrate_recv_stats, complete)
/* Through the pointer member live (spelled sizeof(void *): sizeof of a member
 * that points to a struct reads as a mistake to static analysis). */
#define SQ_V0_SNAPSHOT_SAVE_REQ (offsetof(struct sq_snapshot_save_req, live) + sizeof(void *))
#define SQ_V0_SNAPSHOT_REPORT SQ_SIZE_THROUGH(struct sq_snapshot_report, seconds)
#define SQ_V0_LAZY_OPTS SQ_SIZE_THROUGH(struct sq_lazy_opts, no_fill)
#define SQ_V0_LAZY_REPORT SQ_SIZE_THROUGH(struct sq_lazy_report, fault_p99_us)
#define SQ_V0_MERGE_OPTS SQ_SIZE_THROUGH(struct sq_merge_opts, threads)
#define SQ_V0_MERGE_REPORT SQ_SIZE_THROUGH(struct sq_merge_report, seconds)
#define SQ_V0_VERIFY_OPTS SQ_SIZE_THROUGH(struct sq_verify_opts, progress_ctx)
#define SQ_V0_VERIFY_REPORT SQ_SIZE_THROUGH(struct sq_verify_report, seconds)
#define SQ_V0_RESTORE_OPTS SQ_SIZE_THROUGH(struct sq_restore_opts, direct)
#define SQ_V0_RESTORE_REPORT SQ_SIZE_THROUGH(struct sq_restore_report, seconds)

/*
 * sq_sized_check() - 0 when @caller (a sized struct named @type, e.g.
 * "sq_writer_opts") may be used: NULL, or its size is at least @v0_size.
 * Else SQ_E_INVAL with "struct <type>: size N ...".
 */
int sq_sized_check(const void *caller, size_t v0_size, const char *type);

/*
 * sq_sized_in() - check @caller as sq_sized_check does, then copy its first
 * min(size, @local_size) bytes over @local, which holds the defaults.
 * @local's size field is set to @local_size. NULL @caller keeps the
 * defaults. Returns 0 or SQ_E_INVAL.
 */
int sq_sized_in(void *local, size_t local_size, const void *caller, size_t v0_size, const char *type);

/*
 * sq_sized_out() - copy the fields of @local (a full report of @local_size
 * bytes) that lie within @caller's size to @caller, leaving its size field
 * alone. @caller must have passed sq_sized_check; NULL is ignored.
 */
void sq_sized_out(void *caller, const void *local, size_t local_size);

/* Shorthands for a local struct variable @l and a caller pointer @c. */
#define SQ_SIZED_IN(l, c, v0, name) sq_sized_in(&(l), sizeof(l), (c), (v0), (name))
#define SQ_SIZED_OUT(c, l) sq_sized_out((c), &(l), sizeof(l))

#endif /* SQ_CORE_SIZED_H */
