/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/compress.h - per-frame compression of page frames (internal).
 *
 *   sq_mig_cctx_new / _free    one sender connection's compressor state
 *   sq_mig_compress            pages -> compressed payload, or 0: send raw
 *   sq_mig_dctx_new / _free    one receiver connection's decoder state
 *   sq_mig_decompress          a compressed payload -> exactly the pages
 *   sq_mig_meter_*             the per-round choice: compress or not
 *
 * A compressed PAGES frame (stream version 3, docs/FORMAT.md) sets one codec
 * flag (SQ_MIG_F_LZ4 or SQ_MIG_F_ZSTD); its header's length is still the
 * bytes of region it covers and its zlen field the payload bytes, always
 * fewer than length: a frame that would not shrink goes raw (never
 * expanding). Contexts belong to one thread at a time (the connection's).
 */
#ifndef SQ_MIGRATE_COMPRESS_H
#define SQ_MIGRATE_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include <squib/migrate.h>

/* Codec of one frame or round. Values are the flag bits' order, not wire values. */
enum sq_mig_codec { SQ_MIG_CODEC_NONE = 0, SQ_MIG_CODEC_LZ4 = 1, SQ_MIG_CODEC_ZSTD = 2 };
#define SQ_MIG_NCODECS 3

#define SQ_MIG_ZSTD_LEVEL 1 /* fast, still about 3:1 on text-like pages */

struct sq_mig_cctx;
struct sq_mig_dctx;

/* Returns 0 and *out, or SQ_E_NOMEM. Free with the matching _free (NULL ignored). */
int sq_mig_cctx_new(struct sq_mig_cctx **out);
void sq_mig_cctx_free(struct sq_mig_cctx *c);
int sq_mig_dctx_new(struct sq_mig_dctx **out);
void sq_mig_dctx_free(struct sq_mig_dctx *d);

/*
 * sq_mig_compress() - compress @len bytes at @src into @dst, which has room
 * for @len - 1 bytes. Returns the compressed length, always < @len, or 0
 * when the codec cannot make the frame smaller (or @codec is NONE): the
 * caller then sends the bytes raw. @src must not change during the call.
 */
size_t sq_mig_compress(struct sq_mig_cctx *c, enum sq_mig_codec codec, void *dst, const void *src,
		       size_t len);

/*
 * sq_mig_decompress() - decode the @zlen-byte payload @src of a frame that
 * declares @codec and @len bytes of pages into @dst (room for exactly @len).
 * Returns 0 only when the payload is one well-formed unit of that codec
 * that uses all @zlen bytes and decodes to exactly @len bytes; otherwise
 * SQ_E_STREAM_COMPRESSION with a message naming what was wrong (@dst may
 * hold partial output then, never more than @len bytes). Memory: @dst and
 * the context only.
 */
int sq_mig_decompress(struct sq_mig_dctx *d, enum sq_mig_codec codec, void *dst, size_t len,
		      const void *src, size_t zlen);

/*
 * The per-round rule: compress while the link is slower than the
 * compressor. Workers compress their own jobs in parallel and share the
 * link, so a round compressed with codec c moves page bytes at about
 * min(n * C, L / r) per second against L raw (n: workers, C: page bytes a
 * worker compresses per second of compressing, r: payload bytes out per
 * page byte in, L: the link's wire bytes per second). Compressing pays
 * when n * C > L, provided it saves something worth the CPU: r at most
 * SQ_MIG_METER_MAX_RATIO. C and r are measured in rounds that compressed
 * with c; L only in rounds sent raw (a compressed round that is
 * compressor-bound never shows the link's rate). Each is the latest
 * sample of at least SQ_MIG_METER_MIN bytes. Order of decisions: a codec
 * not yet measured is tried; once it is, a round is sent raw to measure
 * the link if that was never done; then the rule decides every round.
 */
#define SQ_MIG_METER_MIN (256u << 10)
#define SQ_MIG_METER_MAX_RATIO (15.0 / 16.0)

struct sq_mig_meter {
	unsigned workers;                  /* n: sending threads */
	double comp_rate[SQ_MIG_NCODECS];  /* C per codec; < 0 = unmeasured */
	double ratio[SQ_MIG_NCODECS];      /* r per codec */
	double link_rate;                  /* L; 0 = unmeasured */
};

struct sq_mig_round_meas {
	enum sq_mig_codec codec;    /* what the round used */
	uint64_t comp_in, comp_out; /* page bytes given to the compressor, bytes sent for them */
	double comp_s;              /* worker seconds spent compressing (all workers) */
	uint64_t wire;              /* bytes written in the round */
	double seconds;             /* the round's wall time */
};

void sq_mig_meter_init(struct sq_mig_meter *m, unsigned workers);
/* Fold one round's measurements in (samples below SQ_MIG_METER_MIN ignored). */
void sq_mig_meter_update(struct sq_mig_meter *m, const struct sq_mig_round_meas *r);
/*
 * sq_mig_meter_choose() - the codec for the next round under @mode: OFF
 * never compresses; LZ4 / ZSTD compress with that codec by the rule above;
 * AUTO uses zstd when it pays, else lz4 when it pays, else sends raw.
 * Measurements are never forgotten, so a link that slows down later
 * brings compression back.
 */
enum sq_mig_codec sq_mig_meter_choose(const struct sq_mig_meter *m,
				      enum sq_migrate_compression mode);

#endif /* SQ_MIGRATE_COMPRESS_H */
