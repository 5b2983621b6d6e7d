/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/migrate.h - pre-copy live migration of one memory region over TCP.
 *
 *   sq_migrate_send            sender: the pre-copy loop (rounds of dirty
 *                              pages, convergence, pause, final round, state)
 *   sq_migrate_tracker_source  the sender's dirty pages from a tracker region
 *   sq_migrate_listen          bind + listen on "HOST:PORT"
 *   sq_migrate_recv_create     receiver object (into memory or a sparse file)
 *   sq_migrate_recv_accept     accept one session's connections and apply it
 *   sq_migrate_recv_fds        the same on connections the caller opened
 *   sq_migrate_recv_region     the received bytes (memory receivers)
 *   sq_migrate_recv_state      the received state blob
 *   sq_migrate_recv_stats      what was received
 *   sq_migrate_recv_save       write a sparse memory file + state file to a dir
 *   sq_migrate_recv_save_pair  write a snapshot pair (the blob is a state file)
 *   sq_migrate_recv_destroy    release everything
 *
 * Threads: sq_migrate_send runs on the caller's thread plus one worker per
 * connection; its callbacks (source, pause, throttle, state, on_round,
 * progress) are called from the caller's thread only. A receiver runs one thread per
 * connection inside sq_migrate_recv_accept / _fds and is used by one
 * caller thread at a time. Everything a call wrote (destination bytes,
 * state, statistics) is visible to the caller when it returns.
 *
 * The stream format (handshake, page frames with CRC-64, final totals) is
 * described in docs/FORMAT.md, "Migration stream". A page copy of a later
 * round always wins over an earlier one, whichever connection carries it.
 *
 * Dirty pages come from a source (struct sq_migrate_source): any tracker
 * that can hand out a get-and-clear set of runs and take a set back when it
 * could not be sent. sq_migrate_tracker_source() adapts an engine tracker.
 */
#ifndef SQUIB_MIGRATE_H
#define SQUIB_MIGRATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <squib/export.h>
#include <squib/progress.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

#define SQ_MIGRATE_DEFAULT_CONNS 2
#define SQ_MIGRATE_MAX_CONNS 64
#define SQ_MIGRATE_DEFAULT_DOWNTIME_MS 300.0
#define SQ_MIGRATE_DEFAULT_MAX_ROUNDS 30
#define SQ_MIGRATE_MAX_ROUND_STATS 64 /* rounds kept in a report */
#define SQ_MIGRATE_DEFAULT_TIMEOUT_MS 10000
#define SQ_MIGRATE_DEFAULT_HANDSHAKE_MS 5000     /* one connection's handshake */
#define SQ_MIGRATE_DEFAULT_SESSION_MS 3600000    /* a whole receiving session */
#define SQ_MIGRATE_DEFAULT_COMMIT_MS 600000      /* sender: wait for the commit */
#define SQ_MIGRATE_MAX_MS 86400000               /* longest limit accepted */
#define SQ_MIGRATE_MAX_STATE (64u << 20) /* largest state blob, bytes */

/*
 * struct sq_migrate_source - where the sender's dirty pages come from.
 *
 * harvest:  get-and-clear. Returns 0 and an opaque *set with its sorted
 *           runs (4 KiB pages relative to the region start), owned by the source
 *           until release() or put_back(); or a negative SQ_E_* code. A page
 *           written before the call is in this set or a later one.
 * put_back: the set could not be sent: merge its pages back (a later
 *           harvest returns them) and release it.
 * release:  the set was sent: free it.
 *
 * Called from the thread that runs sq_migrate_send() only.
 */
struct sq_migrate_source {
	int (*harvest)(void *ctx, void **set, const struct sq_run **runs, size_t *nruns);
	void (*put_back)(void *ctx, void *set);
	void (*release)(void *ctx, void *set);
	void *ctx;
};

struct sq_tracker;

/* Storage for the tracker adapter below (the caller's, outlives the send). */
struct sq_migrate_tracker_ctx {
	struct sq_tracker *tracker;
	uint32_t region_id;
};

/**
 * sq_migrate_tracker_source() - a source over region @ctx->region_id of an
 * engine tracker (squib/tracker.h): harvest = sq_tracker_harvest, put_back =
 * sq_tracker_put_back + free, release = sq_dirty_set_destroy. A region of
 * larger pages (sq_tracker_add_region_opts) has its runs given as 4 KiB
 * pages, a partial last page ending at the region's end; the region's
 * length must be whole 4 KiB pages, as sq_migrate_send requires. Fills
 * @src; @ctx must stay valid while @src is used. Any thread.
 */
SQ_API void sq_migrate_tracker_source(struct sq_migrate_tracker_ctx *ctx,
				      struct sq_migrate_source *src);

enum sq_migrate_policy {
	SQ_MIGRATE_FAIL = 0,          /* stop with SQ_E_NOT_CONVERGED and a report */
	SQ_MIGRATE_AUTO_CONVERGE = 1, /* ask the application to throttle writers */
};

/*
 * Compression of page frames (docs/FORMAT.md, "Migration stream"): OFF
 * sends pages raw (stream version 2, which receivers of the previous
 * release accept); LZ4 and ZSTD compress each page frame with that codec
 * (version 3) in every round where the measured compressor beats the link
 * (docs/ARCHITECTURE.md, "Migration"); AUTO picks zstd, else lz4, by the
 * same rule. A frame that does not shrink is always sent raw.
 */
enum sq_migrate_compression {
	SQ_MIGRATE_COMPRESS_OFF = 0,
	SQ_MIGRATE_COMPRESS_LZ4 = 1,
	SQ_MIGRATE_COMPRESS_ZSTD = 2,
	SQ_MIGRATE_COMPRESS_AUTO = 3,
};

/* Statistics of one round, as measured by the sender. */
struct sq_migrate_round {
	unsigned round;          /* 1 = the full pass */
	uint64_t pages;          /* pages sent (data + zero) */
	uint64_t zero_pages;     /* of which sent as zero-page frames */
	uint64_t wire_bytes;     /* frame headers + payload */
	double seconds;          /* time to send this round */
	double bandwidth;        /* wire_bytes / seconds, bytes per second */
	double dirty_rate;       /* bytes dirtied per second while it was sent */
	uint64_t remaining;      /* bytes dirty when it ended (next round's size) */
	double predicted_downtime_ms; /* remaining / bandwidth estimate */
	unsigned throttle_pct;   /* throttle in force during this round */
};

struct sq_migrate_report {
	uint32_t size; /* sizeof(struct sq_migrate_report): SQ_INIT (squib/types.h) */
	int result;              /* 0 or the SQ_E_* code sq_migrate_send returned */
	bool converged;          /* true when the pause point was reached */
	unsigned rounds;         /* rounds sent, the final one included */
	uint64_t region_bytes;
	uint64_t wire_bytes;     /* everything sent, all connections */
	uint64_t pages;          /* pages sent, all rounds */
	uint64_t state_bytes;
	double downtime_ms;      /* pause callback to the receiver's verified ack */
	double commit_ms;        /* verified ack to the receiver's commit ack */
	double total_s;          /* connect to the receiver's commit ack */
	double predicted_downtime_ms; /* the prediction that triggered the pause */
	unsigned throttle_pct;   /* last throttle asked for (0 = never) */
	unsigned nconns;
	uint64_t session_id;
	unsigned nstats;         /* entries used in round[] (first rounds kept) */
	struct sq_migrate_round round[SQ_MIGRATE_MAX_ROUND_STATS];
	/* Compression (send opts .compression). */
	enum sq_migrate_compression compression; /* the mode asked for */
	unsigned compressed_rounds;   /* rounds sent with a codec (the rule said it pays) */
	uint64_t compressed_frames;   /* page frames sent compressed */
	uint64_t raw_frames;          /* page frames in those rounds that did not shrink: sent raw */
	uint64_t compress_in;         /* page bytes of those rounds' data frames */
	uint64_t compress_out;        /* payload bytes sent for them (compressed or raw) */
};

struct sq_migrate_send_opts {
	uint32_t size; /* sizeof(struct sq_migrate_send_opts): SQ_INIT (squib/types.h) */
	const char *to;          /* "HOST:PORT" (IPv4 or IPv6 "[::1]:PORT") */
	unsigned nconns;         /* TCP connections; 0 = SQ_MIGRATE_DEFAULT_CONNS */
	const void *region;      /* the region being migrated */
	size_t region_size;      /* bytes, a multiple of SQ_PAGE_SIZE */
	struct sq_migrate_source source;
	uint64_t session_id;     /* 0 = random */

	double downtime_ms;      /* target; 0 = SQ_MIGRATE_DEFAULT_DOWNTIME_MS */
	unsigned max_rounds;     /* 0 = SQ_MIGRATE_DEFAULT_MAX_ROUNDS */
	double max_seconds;      /* 0 = no time limit */
	enum sq_migrate_policy policy;
	unsigned throttle_initial; /* auto-converge first percentage; 0 = 20 */
	unsigned throttle_step;    /* added each stalled round; 0 = 10 */
	uint64_t bandwidth_limit;  /* bytes per second over all connections; 0 = none */
	int timeout_ms;            /* socket inactivity limit; 0 = default */
	/* Longest wait for the receiver's commit ack after its verified ack
	 * (it saves what it was asked to keep meanwhile); 0 = default. */
	int commit_timeout_ms;

	/*
	 * pause: stop every writer of the region; when it returns 0 the region
	 * must not change any more. Required. Called once, from the sending
	 * thread. A negative return aborts the migration with that code.
	 */
	int (*pause)(void *ctx);
	/* throttle: slow writers down by @percent (1..99). Required for
	 * SQ_MIGRATE_AUTO_CONVERGE. Negative return aborts. */
	int (*throttle)(void *ctx, unsigned percent);
	/* state: the state blob, asked for after pause() (may be NULL: then
	 * state/state_len below are sent). The buffer stays the caller's. */
	int (*state)(void *ctx, const void **blob, size_t *len);
	const void *state_blob;
	size_t state_len;
	/* on_round: statistics after each round (optional, sending thread). */
	void (*on_round)(void *ctx, const struct sq_migrate_round *r);
	void *ctx;
	/*
	 * Optional progress reports and cancellation (squib/progress.h), on
	 * the sending thread: one phase SQ_PROGRESS_MIGRATE_ROUND per round
	 * (the final one included), total = the round's pages in bytes, zero
	 * pages included. A cancel aborts the migration with SQ_E_CANCELED:
	 * the receiver is told, the unsent pages go back to the source.
	 */
	sq_progress_fn progress;
	void *progress_ctx;
	/* Per-frame compression of pages; SQ_MIGRATE_COMPRESS_OFF (0) = raw. */
	enum sq_migrate_compression compression;
};

/**
 * sq_migrate_send() - migrate a live region with the pre-copy loop.
 * @opts: see above; @rep: filled in on success and on failure (may be NULL).
 *
 * Round 1 clears the source (one harvest, discarded) and sends every
 * non-zero page of the region; each later round harvests the dirty pages
 * and sends them. After every harvest the predicted downtime (dirty bytes
 * divided by the measured bandwidth) is compared with the target; under it,
 * pause() is called, the final harvest and the state blob are sent, and the
 * call returns 0 once the receiver has checked the final totals and then
 * acknowledged that its commit step (everything it was asked to keep,
 * durably saved) succeeded. A receiver that fails after the final frame
 * reports its code and error text; the call returns that code, with the
 * receiver's text in the message ("the receiver failed to commit: ...").
 *
 * Not converging (the dirty rate stays at or above 90 % of the bandwidth
 * for two rounds, or max_rounds / max_seconds run out): SQ_MIGRATE_FAIL
 * returns SQ_E_NOT_CONVERGED at once; SQ_MIGRATE_AUTO_CONVERGE calls
 * throttle() with a growing percentage whenever the dirty rate stays above
 * half the bandwidth for two rounds, and gives up only when max_rounds or
 * max_seconds run out. A set that could not be sent is put back into the
 * source; the receiver is told the migration was aborted.
 *
 * With opts->compression set, page frames are compressed per round as
 * described at enum sq_migrate_compression; rep->compression and the
 * counters after it say what was done.
 *
 * Returns 0; SQ_E_INVAL (also an unknown compression); SQ_E_NOT_CONVERGED; SQ_E_CANCELED (the progress
 * callback asked to stop); SQ_E_DISCONNECTED (peer went away); SQ_E_TIMEOUT; SQ_E_IO (connect, socket); a code the receiver
 * reported (for example SQ_E_SIZE_MISMATCH); a code from a callback.
 * Blocking; creates nconns threads. The region may be written concurrently
 * until pause() returns.
 */
SQ_API int sq_migrate_send(const struct sq_migrate_send_opts *opts, struct sq_migrate_report *rep);

/* --------------------------------------------------------------- receiver */

struct sq_migrate_recv;

struct sq_migrate_recv_opts {
	uint32_t size; /* sizeof(struct sq_migrate_recv_opts): SQ_INIT (squib/types.h) */
	/*
	 * Where pages go. One of:
	 *  - region/region_size: an existing writable region; the sender's
	 *    geometry must match (else SQ_E_SIZE_MISMATCH);
	 *  - mem_fd >= 0: a file, written with pwrite at offset = page offset
	 *    (zero pages become holes); it is sized to the region;
	 *  - neither (region NULL, mem_fd < 0): an anonymous mapping of the
	 *    sender's size, at most max_region_size, owned by the receiver.
	 * Set mem_fd to -1 when it is not used.
	 */
	void *region;
	size_t region_size;
	int mem_fd;
	uint64_t max_region_size; /* 0 = 64 GiB */
	int timeout_ms;           /* inactivity limit per read and accept; 0 = default */
	int handshake_ms;         /* each connection's handshake, from its accept; 0 = default */
	int session_ms;           /* the whole session, from the accept/fds call; 0 = default */

	/*
	 * The commit step, run after the final totals were verified and before
	 * the sender is told the session is done; its failure (code and
	 * message) is what the sender gets. In this order, each optional:
	 * save_dir (sq_migrate_recv_save), save_pair (sq_migrate_recv_save_pair)
	 * and commit(commit_ctx, receiver), called on the accepting thread.
	 * save_dir and save_pair need a memory receiver; their directories are
	 * checked by sq_migrate_recv_create (exist, are directories, writable).
	 */
	const char *save_dir;
	const char *save_pair;
	int (*commit)(void *ctx, const struct sq_migrate_recv *r);
	void *commit_ctx;
};

/**
 * sq_migrate_recv_create() - a receiver for one session.
 * Checks up front what the commit step will need: the directories of
 * save_dir and save_pair exist, are directories and are writable, and
 * save_pair does not name a directory (the temp files of a save are made
 * beside their destinations, so a rename never crosses filesystems).
 * Returns 0 and *out (free with sq_migrate_recv_destroy); SQ_E_INVAL
 * (bad options, negative limits, save_* on a file or caller region
 * receiver); SQ_E_IO with the system's error text for a destination that
 * cannot be written; SQ_E_NOMEM. Any thread.
 */
SQ_API int sq_migrate_recv_create(const struct sq_migrate_recv_opts *opts,
				  struct sq_migrate_recv **out);

/**
 * sq_migrate_listen() - a listening TCP socket on "HOST:PORT" (port 0 picks
 * one). Returns 0 with *fd (the caller's, close(2) it) and, when @port is
 * not NULL, the bound port; SQ_E_INVAL for a malformed address, SQ_E_IO.
 */
SQ_API int sq_migrate_listen(const char *hostport, int *fd, unsigned *port);

/**
 * sq_migrate_recv_accept() - run one session on a listening socket.
 *
 * Accepts the first connection, learns the session (id, geometry, number of
 * connections) from its handshake, accepts the others, and applies frames
 * from all of them concurrently, one thread per connection. A connection
 * whose handshake is malformed, foreign, cut short or not complete within
 * handshake_ms (a port probe, a stray client) is answered with its error,
 * closed, and does not end the call: the receiver keeps accepting until
 * the session deadline (session_ms from the call) or until no connection
 * came for timeout_ms. Reads of an admitted connection stop at the session
 * deadline too (SQ_E_TIMEOUT), however slowly the peer trickles bytes. Every frame is
 * validated completely (bounds, length, CRC-64, sequence, round order)
 * before any byte of it is applied, so a failure leaves the destination as
 * the validated frames made it. Returns 0 only after every connection's
 * final frame arrived and all totals (pages, frames, bytes, state CRC)
 * match and the commit step succeeded; the sender is told the verdict, then
 * the commit's outcome. Errors: SQ_E_STREAM_* (see error.h),
 * SQ_E_SIZE_MISMATCH (geometry), SQ_E_DISCONNECTED, SQ_E_TIMEOUT,
 * SQ_E_CANCELED (the sender aborted), SQ_E_NOMEM, SQ_E_MEMORY_IO (file
 * sink), the commit step's code. One call per receiver object; blocking.
 */
SQ_API int sq_migrate_recv_accept(struct sq_migrate_recv *r, int listen_fd);

/**
 * sq_migrate_recv_fds() - the same on connections the caller accepted (or
 * a socketpair): @fds are read until their final frames; they stay the
 * caller's. @nfds must equal the connection count in the handshakes. Here
 * a bad handshake fails the call (the caller chose the connections).
 */
SQ_API int sq_migrate_recv_fds(struct sq_migrate_recv *r, const int *fds, unsigned nfds);

struct sq_migrate_recv_stats {
	uint32_t size; /* sizeof(struct sq_migrate_recv_stats): SQ_INIT (squib/types.h) */
	uint64_t session_id;
	uint64_t region_size;
	unsigned nconns;
	unsigned rounds;          /* final round number */
	uint64_t frames;          /* page and state frames applied or skipped */
	uint64_t pages;           /* pages in page frames */
	uint64_t zero_pages;
	uint64_t stale_pages;     /* skipped: a later round's copy was there */
	uint64_t payload_bytes;
	uint64_t state_len;
	bool complete;            /* true after a verified final frame */
	/* Appended (growth convention: read only within size). */
	uint64_t compressed_frames; /* page frames that arrived compressed (lz4 or zstd) */
	double seconds;           /* from the first accepted handshake to the verdict */
};

/**
 * sq_migrate_recv_stats() - copy of the counters into @s, within @s->size.
 * After accept returns. 0, or SQ_E_INVAL for a size below the first layout.
 */
SQ_API int sq_migrate_recv_stats(const struct sq_migrate_recv *r, struct sq_migrate_recv_stats *s);

/**
 * sq_migrate_recv_region() - the destination region (memory receivers) and
 * its size, owned by the receiver (or the caller's own region). NULL for a
 * file receiver or before a session started.
 */
SQ_API void *sq_migrate_recv_region(const struct sq_migrate_recv *r, size_t *size);

/** sq_migrate_recv_state() - the state blob (owned by the receiver), NULL if none. */
SQ_API const void *sq_migrate_recv_state(const struct sq_migrate_recv *r, size_t *len);

/**
 * sq_migrate_recv_save() - after a complete session in memory, write
 * "<dir>/memory" through io's page writer (a full memory file: offset in
 * file = offset in region, zero pages left as holes), its manifest
 * "<dir>/memory.manifest" (CRC-64 per data page) and "<dir>/state" (the
 * blob), all 0600, committed as one unit (group commit, record
 * "<dir>/memory.commit"): on failure the three names are as before and no
 * temp file is left. Returns 0, SQ_E_INVAL (incomplete session or a file
 * receiver), SQ_E_OUTPUT_BUSY (another writer of the same directory),
 * SQ_E_IO, SQ_E_MEMORY_IO, SQ_E_NO_SPACE, SQ_E_NOMEM.
 */
SQ_API int sq_migrate_recv_save(const struct sq_migrate_recv *r, const char *dir);

struct sq_snapshot_report;

/**
 * sq_migrate_recv_save_pair() - after a complete session in memory whose
 * state blob is a complete state file (sq_state_encode), write a full
 * snapshot pair at @state_path ("<stem>.snap", with "<stem>.mem" and
 * "<stem>.manifest"; squib/snapshot.h), loadable with sq_snapshot_load.
 * @rep may be NULL. Returns 0; SQ_E_INVAL (incomplete session, a file
 * receiver); sq_snapshot_save's errors, e.g. SQ_E_TOO_SHORT or
 * SQ_E_CRC_MISMATCH when the blob is not a state file.
 */
SQ_API int sq_migrate_recv_save_pair(const struct sq_migrate_recv *r, const char *state_path,
				     struct sq_snapshot_report *rep);

/* ------------------------------------------------------------ link: TLS */

enum sq_migrate_tls {
	SQ_MIGRATE_PLAINTEXT = 0, /* no TLS: anyone who reaches the port can write pages */
	SQ_MIGRATE_TLS_CERT = 1,  /* TLS 1.3, X.509 certificates, both sides verified */
	SQ_MIGRATE_TLS_PSK = 2,   /* TLS 1.3, external pre-shared key (mutual by nature) */
};

/*
 * struct sq_migrate_link_opts - how the connections of a session are
 * secured; both ends must make the same choice. Initialise it with SQ_INIT
 * (a size-prefixed struct, docs/ARCHITECTURE.md "ABI"); every other field
 * zero: plaintext (SQ_MIGRATE_PLAINTEXT), for callers that bring their own
 * tunnel.
 *
 * Key material: @key_file and @psk_file must be regular files of mode 0600
 * or stricter (else SQ_E_KEY_PERMS); they are read once, when the session
 * starts, the copies wiped after use, and neither their bytes nor anything
 * derived from them reach a message. A PSK file's bytes (at least 32) are
 * the key; @psk / @psk_len give the same in memory (the caller's buffer,
 * only read during the call that takes the options).
 */
struct sq_migrate_link_opts {
	uint32_t size;            /* sizeof(struct sq_migrate_link_opts): SQ_INIT */
	enum sq_migrate_tls tls;
	const char *cert_file;    /* CERT: own certificate chain (PEM) */
	const char *key_file;     /* CERT: own private key (PEM, 0600) */
	const char *ca_file;      /* CERT: CA certificates that sign the peer's (PEM) */
	const char *psk_file;     /* PSK: key file (0600), or: */
	const void *psk;          /* PSK: key bytes in memory */
	size_t psk_len;           /* at least 32 */
	bool no_ktls;             /* never use kernel TLS, stay in user space */
};

/* What a session's connections used, known after the handshakes.
 * Size-prefixed (SQ_INIT), like every report. */
struct sq_migrate_link_report {
	uint32_t size;            /* sizeof(struct sq_migrate_link_report): SQ_INIT */
	/* "off" (plaintext), "user" (OpenSSL record layer) or "ktls" (the
	 * kernel's TLS offload carries connection 0's records) */
	char tls[8];
};

/**
 * sq_migrate_send_link() - sq_migrate_send() over a secured link.
 * @link may be NULL (plaintext, the same as sq_migrate_send); it is read
 * during the call only. @lrep may be NULL; it is filled on every return
 * ("off" when no connection was secured) but when its own size is refused.
 * A @link or @lrep whose size is 0 or below the first layout fails with
 * SQ_E_INVAL before anything else. Key files are checked before any
 * connection is made. Additional errors: SQ_E_KEY_PERMS, SQ_E_TLS (setup
 * or handshake), SQ_E_TLS_AUTH (wrong key), SQ_E_CERT_UNTRUSTED,
 * SQ_E_CERT_EXPIRED, each with a message naming the file or the peer's
 * fault; the receiver's own refusal reaches the sender as the TLS alert.
 * Same calling context as sq_migrate_send.
 */
SQ_API int sq_migrate_send_link(const struct sq_migrate_send_opts *opts,
				const struct sq_migrate_link_opts *link,
				struct sq_migrate_report *rep, struct sq_migrate_link_report *lrep);

/**
 * sq_migrate_recv_set_link() - secure the receiver's connections: call
 * before sq_migrate_recv_accept / _fds, from the thread that owns @r.
 * Key files are read and checked here (SQ_E_KEY_PERMS, SQ_E_IO, SQ_E_TLS,
 * SQ_E_INVAL); nothing of @link is kept but the loaded keys, so @link and
 * its buffers may go once it returns. A later call replaces the keys;
 * SQ_MIGRATE_PLAINTEXT removes them. With TLS set, a connection that does
 * not complete a TLS 1.3 handshake with the configured keys is refused
 * before any of its bytes is taken as a handshake or frame, with
 * SQ_E_TLS_REQUIRED (plaintext peer), SQ_E_TLS_AUTH, SQ_E_CERT_UNTRUSTED,
 * SQ_E_CERT_EXPIRED or SQ_E_TLS. Like every refused handshake, it does not
 * end sq_migrate_recv_accept's wait (the error is named in the message if
 * the session deadline passes); sq_migrate_recv_fds returns it.
 * Returns 0 or the code, with the message recorded.
 */
SQ_API int sq_migrate_recv_set_link(struct sq_migrate_recv *r,
				    const struct sq_migrate_link_opts *link);

/** sq_migrate_recv_link_report() - what the session used: call after
 * sq_migrate_recv_accept / _fds returned; "off" before or without TLS.
 * Written within @out's size only; an @out whose size is refused (0 or
 * below the first layout) is left alone, with the reason in
 * sq_last_error(). */
SQ_API void sq_migrate_recv_link_report(const struct sq_migrate_recv *r,
					struct sq_migrate_link_report *out);

/** sq_migrate_recv_destroy() - release the receiver (NULL ignored). */
SQ_API void sq_migrate_recv_destroy(struct sq_migrate_recv *r);

SQ_END_DECLS

#endif /* SQUIB_MIGRATE_H */
