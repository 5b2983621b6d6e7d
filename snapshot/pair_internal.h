/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/pair_internal.h - the names of a pair, shared by save (pair.c)
 * and load (load.c).
 */
#ifndef SQ_SNAPSHOT_PAIR_INTERNAL_H
#define SQ_SNAPSHOT_PAIR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define SQ_PAIR_PATH_MAX 4096

struct sq_pair_paths {
	char state[SQ_PAIR_PATH_MAX], mem[SQ_PAIR_PATH_MAX], manifest[SQ_PAIR_PATH_MAX];
	char record[SQ_PAIR_PATH_MAX]; /* "<stem>.commit" */
};

int sq_pair_paths_init(struct sq_pair_paths *p, const char *state_path);
/* Read a state file: at most the size limit + 1 bytes (load.c). */
int sq_pair_read_state(const char *path, uint8_t **buf, size_t *len);
/* The memory file of a pair without a manifest exists (manifest_build.c). */
int sq_pair_check_foreign_memory(const char *mem_path);
/* Envelope checks of a state file held in memory: limit, length, CRC. */
int sq_pair_check_state(const void *buf, size_t len);
/* Everything a save checks before touching the disk (save_check.c). */
struct sq_snapshot_save_req;
int sq_pair_check_request(const struct sq_snapshot_save_req *q);

struct sq_snapshot_report;
/*
 * sq_pair_sized_in() - the public save entries' first step: copy the
 * caller's request @q into @req (holding SQ_INIT defaults) and check the
 * sizes of @r and @r->io (core/sized.h). 0 or SQ_E_INVAL.
 */
int sq_pair_sized_in(struct sq_snapshot_save_req *req, const struct sq_snapshot_save_req *q,
		     const struct sq_snapshot_report *r);
/* sq_pair_report_out() - copy the full local report @rep (and *@rep->io)
 * to the caller's @r (and @r->io) within their sizes; NULL @r ignored. */
void sq_pair_report_out(struct sq_snapshot_report *r, struct sq_snapshot_report *rep);
/* The CRC trailer of a checked state file. */
uint64_t sq_pair_state_crc(const void *buf, size_t len);

#endif /* SQ_SNAPSHOT_PAIR_INTERNAL_H */
