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
 * The per-round rule. A connection worker either compresses each frame and
 * then sends it, or sends it raw; per byte of pages that costs 1/C + r/L
 * seconds compressed and 1/L raw (C: compressor input rate, r: wire bytes
 * per input byte, L: link rate). Compressing wins when C * (1 - r) > L:
 * the compressor removes bytes faster than the link would carry them.
 * Both rates are measured per worker-second in the rounds sent so far (C
 * only from rounds that compressed with that codec, L from any round that
 * sent at least SQ_MIG_METER_MIN bytes), so the worker count cancels out.
 */
#define SQ_MIG_METER_MIN (256u << 10)

struct sq_mig_meter {
	double saved_rate[SQ_MIG_NCODECS]; /* bytes removed per compressor second; < 0 = unmeasured */
	double link_rate;                  /* wire bytes per sending second; 0 = unmeasured */
};

struct sq_mig_round_meas {
	enum sq_mig_codec codec;   /* what the round used */
	uint64_t comp_in, comp_out; /* page bytes given to the compressor, bytes sent for them */
	double comp_s;             /* worker seconds spent compressing */
	uint64_t wire;             /* bytes written */
	double send_s;             /* worker seconds spent sending (pacing included) */
};

void sq_mig_meter_init(struct sq_mig_meter *m);
/* Fold one round's measurements in (samples below SQ_MIG_METER_MIN ignored). */
void sq_mig_meter_update(struct sq_mig_meter *m, const struct sq_mig_round_meas *r);
/*
 * sq_mig_meter_choose() - the codec for the next round under @mode: OFF
 * never compresses; LZ4 / ZSTD compress with that codec until it has been
 * measured, then while its saved rate beats the link; AUTO tries zstd the
 * same way, then lz4, else sends raw. A rate is never forgotten, so a link
 * that slows down later brings compression back.
 */
enum sq_mig_codec sq_mig_meter_choose(const struct sq_mig_meter *m,
				      enum sq_migrate_compression mode);

#endif /* SQ_MIGRATE_COMPRESS_H */
