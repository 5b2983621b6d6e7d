/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/tx.h - the sending transport (internal): N connections, one worker
 * thread each, rounds of page runs spread over them, the final frames.
 *
 *   sq_mig_tx_open     connect N times, handshake, wait for the acks
 *   sq_mig_tx_round    send a list of runs as one round (blocking)
 *   sq_mig_tx_finish   state blob, final frames, the receiver's verdict
 *   sq_mig_tx_commit   wait for the receiver's commit acknowledgement
 *   sq_mig_tx_abort    tell the receiver the sender gave up (best effort)
 *   sq_mig_tx_close    join the workers, close, free
 *
 * Called from one thread (the loop's). The workers take jobs of at most
 * SQ_MIG_MAX_FRAME_PAGES pages from a shared counter, so the connections
 * stay busy whatever the shape of the round.
 */
#ifndef SQ_MIGRATE_TX_H
#define SQ_MIGRATE_TX_H

#include <stddef.h>
#include <stdint.h>

#include <squib/migrate.h>
#include <squib/progress.h>
#include <squib/types.h>

#include "migrate/compress.h"

struct sq_mig_tx;

struct sq_mig_tx_opts {
	const char *to;
	unsigned nconns;
	const uint8_t *region;
	size_t size;
	uint64_t session_id;
	uint64_t bandwidth_limit; /* bytes per second, all connections; 0 = none */
	int timeout_ms;
	int commit_timeout_ms;    /* longest wait for the commit reply */
	const struct sq_migrate_link_opts *link; /* NULL: plaintext */
	sq_progress_fn progress;  /* optional: one phase per round, reported by
				   * the thread in sq_mig_tx_round */
	void *progress_ctx;
	int compress;             /* 1: make codec state, speak version 3 */
};

struct sq_mig_tx_round_stats {
	uint64_t pages, zero_pages, wire_bytes;
	double seconds;
	enum sq_mig_codec codec;          /* the round's codec */
	uint64_t comp_in, comp_out;       /* data bytes compressed, payload sent for them */
	uint64_t comp_frames, raw_frames; /* frames that shrank, frames that went raw */
	double comp_s;                    /* worker seconds compressing (all workers) */
};

int sq_mig_tx_open(const struct sq_mig_tx_opts *o, struct sq_mig_tx **out);
/*
 * sq_mig_tx_round() - send the pages of @runs (region-relative, sorted) as
 * round @round. @skip_zero: all-zero pages are not sent at all (round 1:
 * the destination starts zero-filled); otherwise they go as zero-page
 * frames, so that a page that became zero overwrites its older copy.
 * Returns 0, a worker's error, or SQ_E_CANCELED (the progress callback
 * asked to stop; the workers stopped after their current job).
 */
int sq_mig_tx_round(struct sq_mig_tx *tx, uint32_t round, const struct sq_run *runs, size_t nruns,
		    int skip_zero, struct sq_mig_tx_round_stats *st);
int sq_mig_tx_finish(struct sq_mig_tx *tx, uint32_t rounds, const void *state, size_t state_len);
/*
 * sq_mig_tx_commit() - after a successful finish: wait (commit_timeout_ms)
 * for the receiver to report that its commit step finished. Returns 0, the
 * receiver's code with its text in the message, or a transport error.
 */
int sq_mig_tx_commit(struct sq_mig_tx *tx);
void sq_mig_tx_abort(struct sq_mig_tx *tx, uint32_t round);
/*
 * sq_mig_tx_peer_reason() - after a failure @rc that only says the peer
 * went away (SQ_E_DISCONNECTED, SQ_E_TIMEOUT), read the receiver's verdict
 * (at most 1 s) and return its code when it names a reason; else @rc with
 * the current message kept. Call after sq_mig_tx_abort.
 */
int sq_mig_tx_peer_reason(struct sq_mig_tx *tx, int rc);
/* What the link used (connection 0's TLS kind) into @lr; @tx NULL: nothing
 * was opened ("off"); @lr NULL: nothing to do. */
void sq_mig_tx_link_report(const struct sq_mig_tx *tx, struct sq_migrate_link_report *lr);
/*
 * sq_mig_tx_codec() - the codec of the rounds from the next one on (NONE
 * unless the transport was opened with compress). Loop thread, between
 * rounds.
 */
void sq_mig_tx_codec(struct sq_mig_tx *tx, enum sq_mig_codec codec);
/* Bytes written to all sockets so far. */
uint64_t sq_mig_tx_wire_bytes(const struct sq_mig_tx *tx);
void sq_mig_tx_close(struct sq_mig_tx *tx);

#endif /* SQ_MIGRATE_TX_H */
