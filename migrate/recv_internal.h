/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/recv_internal.h - receiver internals shared by recv.c (sessions,
 * connections, verdict) and recv_conn.c (the frame parser and the page
 * sink). Not installed.
 */
#ifndef SQ_MIGRATE_RECV_INTERNAL_H
#define SQ_MIGRATE_RECV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <squib/migrate.h>

#include "core/first_error.h"
#include "migrate/stream.h"
#include "migrate/tls.h"

#define SQ_MIG_LOCK_STRIPES 64 /* page-tag locks, one per 2 MiB block modulo this */
/* Receive buffer of a socket connection: two largest frames. */
#define SQ_MIG_RX_BUF (2 * (SQ_MIG_FRAME_HDR + SQ_MIG_MAX_PAYLOAD))
/* A frame at least this large is read to its end and no further, so the
 * buffer never has to move a large partial frame. */
#define SQ_MIG_RX_EXACT (256u << 10)
#define SQ_MIG_TAG_CHUNK 64u /* pages per page-tag chunk (recv_tags.c) */

struct tag_chunk;
struct tag_slab;

/*
 * Per-page round tags (recv_tags.c): a lazily committed directory of one
 * entry per SQ_MIG_TAG_CHUNK pages, uniform chunks without an array.
 * Every call on a page or range needs the stripe lock of its 2 MiB block.
 */
struct sq_mig_tags {
	uint64_t *dir;           /* MAP_NORESERVE, nchunks entries */
	size_t nchunks, dir_bytes;
	struct tag_slab *slabs[SQ_MIG_LOCK_STRIPES]; /* arrays, per stripe */
	struct tag_chunk *free[SQ_MIG_LOCK_STRIPES]; /* arrays not in use */
};

int sq_mig_tags_init(struct sq_mig_tags *t, uint64_t npages);
void sq_mig_tags_fini(struct sq_mig_tags *t);
/* Round of the copy of @page in the destination, 0 = none yet. */
uint32_t sq_mig_tag_get(const struct sq_mig_tags *t, uint64_t page);
/* Pages [first, end), inside one 2 MiB block, now hold round @round, as
 * data (@data = 1) or zeros. Returns 0 or SQ_E_NOMEM (tags unchanged past
 * the failing chunk). */
int sq_mig_tags_set(struct sq_mig_tags *t, uint64_t first, uint64_t end, uint32_t round, int data);
/* 0 when every chunk touching [first, end) is clean: no data page was
 * applied there since it was last zeroed whole, so its bytes are zeros. */
int sq_mig_tags_dirty(const struct sq_mig_tags *t, uint64_t first, uint64_t end);

struct rx_conn {
	struct sq_migrate_recv *r;
	unsigned index;
	int fd;                  /* -1: bytes come from mem/mem_len */
	int admitted;            /* its handshake was accepted */
	const uint8_t *mem;
	size_t mem_len, mem_pos;
	uint8_t *buf;            /* sockets: SQ_MIG_RX_BUF bytes received, not yet consumed */
	size_t bpos, blen;       /* unconsumed bytes are buf[bpos, blen) */
	uint64_t seq;            /* last frame's sequence number */
	uint32_t round;          /* last frame's round */
	uint64_t frames, pages, zero_pages, stale_pages, payload, comp_frames;
	struct sq_mig_dctx *dz;  /* compressed frames: decoder and its output, */
	uint8_t *zbuf;           /* SQ_MIG_MAX_PAYLOAD bytes, made at the first one */
	int final_seen;
	struct sq_mig_final fin;
	double deadline;         /* monotonic seconds: the session's end, 0 = none */
	pthread_t thread;
	int thread_live;
	struct sq_mig_tls *tls;  /* its TLS state; NULL: plaintext */
};

struct sq_migrate_recv {
	struct sq_migrate_recv_opts o;
	struct sq_mig_hello hello; /* of connection 0 */
	int have_session;
	uint8_t *region;
	size_t size;
	int own_region;          /* mapped by us */
	struct sq_mig_tags tags; /* per page: round of the copy applied */
	int have_tags;
	pthread_mutex_t locks[SQ_MIG_LOCK_STRIPES];
	uint8_t *state;
	size_t state_len, state_cap;
	struct rx_conn *conns;
	unsigned nconns;
	unsigned feed_order[SQ_MIGRATE_MAX_CONNS]; /* memory feed: run order */
	struct sq_first_err fail; /* the first failing connection's code and message */
	int complete;
	double deadline;         /* session deadline (monotonic s), 0 = none */
	double t0;               /* monotonic s: the first handshake accepted */
	struct sq_migrate_recv_stats stats;
	struct sq_mig_tls_ctx *tls_ctx; /* sq_migrate_recv_set_link; NULL: plaintext */
	char tls_kind[8];        /* what connection 0 used: "", "user", "ktls" */
};

/* Session geometry from a validated handshake: destination and tags. */
int sq_mig_rx_setup(struct sq_migrate_recv *r, const struct sq_mig_hello *h);
/* Read and apply frames until the final frame (or, for a memory-fed
 * connection, until the end of its bytes). */
int sq_mig_rx_conn_run(struct rx_conn *c);
/* Free a connection's decoder (recv_conn.c). */
void sq_mig_rx_conn_fini(struct rx_conn *c);
/* Socket connections: anything readable after the final frame is an error. */
int sq_mig_rx_check_trailing(struct rx_conn *c);
/*
 * sq_mig_rx_need() - make the next @len bytes of the connection available,
 * contiguous, at *p (valid until the next need or consume). Returns 0; 1
 * when the stream ends first (*got = bytes available); or an error code.
 * sq_mig_rx_consume() - drop @len bytes from the front.
 */
int sq_mig_rx_need(struct rx_conn *c, size_t len, const uint8_t **p, size_t *got);
void sq_mig_rx_consume(struct rx_conn *c, size_t len);

/* save.c: the destinations of the commit step can be written (create). */
int sq_mig_check_commit_dests(const struct sq_migrate_recv_opts *o);
/* save.c: save_dir, save_pair, then the commit callback; 0 or the first
 * failure, its message recorded. Called after the verdict, before the
 * sender is told the session is done. */
int sq_mig_commit_step(struct sq_migrate_recv *r);

/* link.c: free the connections' TLS states; the sockets stay open. */
void sq_mig_rx_drop_tls(struct sq_migrate_recv *r);

/*
 * sq_mig_recv_feed() - run a whole session from memory: @bufs[i] holds the
 * bytes of one connection (handshake first); connections are processed one
 * after the other, in the order given, in the calling thread. The deterministic harness of the tests and of the
 * fuzz target; same validation and verdict as the socket path.
 */
int sq_mig_recv_feed(struct sq_migrate_recv *r, const uint8_t *const *bufs,
		     const size_t *lens, unsigned n);

#endif /* SQ_MIGRATE_RECV_INTERNAL_H */
