/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/abi/now_sizes.h - which struct now_size_of() (now_sizes.c, built
 * against today's headers) measures. Includes no squib header, so that
 * old_client.c can use it with the old headers.
 */
#ifndef SQ_TESTS_ABI_NOW_SIZES_H
#define SQ_TESTS_ABI_NOW_SIZES_H

#include <stddef.h>

enum now_struct {
	NOW_TRACKER_OPTS,
	NOW_SNAPSHOT_SAVE_REQ,
	NOW_SNAPSHOT_REPORT,
	NOW_WRITER_REPORT,
	NOW_MERGE_OPTS,
	NOW_MERGE_REPORT,
	NOW_RESTORE_OPTS,
	NOW_RESTORE_REPORT,
	NOW_VERIFY_OPTS,
	NOW_VERIFY_REPORT,
	NOW_MIGRATE_SEND_OPTS,
	NOW_MIGRATE_REPORT,
	NOW_MIGRATE_RECV_OPTS,
	NOW_MIGRATE_RECV_STATS,
};

/* sizeof the struct in today's include/squib. */
size_t now_size_of(enum now_struct which);

#endif /* SQ_TESTS_ABI_NOW_SIZES_H */
