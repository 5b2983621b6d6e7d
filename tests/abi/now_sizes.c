/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/abi/now_sizes.c - the sizes of the option and report structs in
 * today's public headers (include/squib), for old_client.c, which is
 * compiled against the first published headers only and compares.
 */
#include <stddef.h>

#include <squib/merge.h>
#include <squib/migrate.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/tracker.h>
#include <squib/writer.h>

#include "now_sizes.h"

size_t now_size_of(enum now_struct which)
{
	switch (which) {
	case NOW_TRACKER_OPTS: return sizeof(struct sq_tracker_opts);
	case NOW_SNAPSHOT_SAVE_REQ: return sizeof(struct sq_snapshot_save_req);
	case NOW_SNAPSHOT_REPORT: return sizeof(struct sq_snapshot_report);
	case NOW_WRITER_REPORT: return sizeof(struct sq_writer_report);
	case NOW_MERGE_OPTS: return sizeof(struct sq_merge_opts);
	case NOW_MERGE_REPORT: return sizeof(struct sq_merge_report);
	case NOW_RESTORE_OPTS: return sizeof(struct sq_restore_opts);
	case NOW_RESTORE_REPORT: return sizeof(struct sq_restore_report);
	case NOW_VERIFY_OPTS: return sizeof(struct sq_verify_opts);
	case NOW_VERIFY_REPORT: return sizeof(struct sq_verify_report);
	case NOW_MIGRATE_SEND_OPTS: return sizeof(struct sq_migrate_send_opts);
	case NOW_MIGRATE_REPORT: return sizeof(struct sq_migrate_report);
	case NOW_MIGRATE_RECV_OPTS: return sizeof(struct sq_migrate_recv_opts);
	case NOW_MIGRATE_RECV_STATS: return sizeof(struct sq_migrate_recv_stats);
	}
	return 0;
}
