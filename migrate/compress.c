/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/compress.c - lz4 and zstd on page frames, and the per-round rule.
 *
 * Invariants:
 *  - Never expanding: the compressor is given room for len - 1 bytes, so a
 *    result it returns is always smaller than the frame; when the codec
 *    cannot fit (incompressible pages) it fails and the frame goes raw.
 *  - A payload decodes only if it is one whole unit of its codec that
 *    fills exactly the declared length: zstd must declare that content size
 *    in its frame header and end exactly at the payload's end; lz4 must
 *    consume the payload and produce exactly len bytes. Decoding writes
 *    into a buffer of exactly len bytes, so no payload can make it write
 *    more, and the caller applies nothing until this returned 0.
 *  - zstd decodes in one shot into that flat buffer: no window buffer is
 *    allocated whatever the frame header asks for (windowLogMax bounds the
 *    rest), so memory per connection is the context plus one frame.
 */
#include <stdlib.h>

#include <lz4.h>
#include <zstd.h>

#include "core/err.h"
#include "migrate/compress.h"

/* lz4 acceleration 1 (its default) and zstd windows no larger than a frame. */
#define LZ4_ACCEL 1
#define ZSTD_WINDOW_LOG_MAX 20

struct sq_mig_cctx {
	ZSTD_CCtx *zstd;
	void *lz4_state;
};

struct sq_mig_dctx {
	ZSTD_DCtx *zstd;
};

int sq_mig_cctx_new(struct sq_mig_cctx **out)
{
	struct sq_mig_cctx *c = calloc(1, sizeof(*c));

	if (c) {
		c->zstd = ZSTD_createCCtx();
		c->lz4_state = malloc((size_t)LZ4_sizeofState());
	}
	if (!c || !c->zstd || !c->lz4_state ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_compressionLevel,
						SQ_MIG_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_checksumFlag, 0))) {
		sq_mig_cctx_free(c);
		return sq_err(SQ_E_NOMEM, "migration: out of memory for a compressor");
	}
	*out = c;
	return 0;
}

void sq_mig_cctx_free(struct sq_mig_cctx *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->zstd);
	free(c->lz4_state);
	free(c);
}

int sq_mig_dctx_new(struct sq_mig_dctx **out)
{
	struct sq_mig_dctx *d = calloc(1, sizeof(*d));

	if (d)
		d->zstd = ZSTD_createDCtx();
	if (!d || !d->zstd ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(d->zstd, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX))) {
		sq_mig_dctx_free(d);
		return sq_err(SQ_E_NOMEM, "migration: out of memory for a decompressor");
	}
	*out = d;
	return 0;
}

void sq_mig_dctx_free(struct sq_mig_dctx *d)
{
	if (!d)
		return;
	ZSTD_freeDCtx(d->zstd);
	free(d);
}

size_t sq_mig_compress(struct sq_mig_cctx *c, enum sq_mig_codec codec, void *dst, const void *src,
		       size_t len)
{
	if (len < 2 || len > (size_t)LZ4_MAX_INPUT_SIZE)
		return 0;
	if (codec == SQ_MIG_CODEC_LZ4) {
		int n = LZ4_compress_fast_extState(c->lz4_state, src, dst, (int)len, (int)(len - 1),
						   LZ4_ACCEL);
		return n > 0 ? (size_t)n : 0;
	}
	if (codec == SQ_MIG_CODEC_ZSTD) {
		size_t n = ZSTD_compress2(c->zstd, dst, len - 1, src, len);
		return ZSTD_isError(n) || n >= len ? 0 : n;
	}
	return 0;
}

static int bad(const char *codec, const char *what, unsigned long long a, unsigned long long b)
{
	return sq_err(SQ_E_STREAM_COMPRESSION, "migration stream: %s payload %s (%llu, expected %llu)",
		      codec, what, a, b);
}

int sq_mig_decompress(struct sq_mig_dctx *d, enum sq_mig_codec codec, void *dst, size_t len,
		      const void *src, size_t zlen)
{
	if (codec == SQ_MIG_CODEC_LZ4) {
		/* LZ4_decompress_safe never writes past len and never reads
		 * past zlen; it fails on a block that does not end exactly at
		 * zlen or would need more room than len. */
		int n = LZ4_decompress_safe(src, dst, (int)zlen, (int)len);
		if (n < 0)
			return sq_err(SQ_E_STREAM_COMPRESSION,
				      "migration stream: lz4 payload of %zu bytes does not decode into "
				      "%zu bytes (malformed or larger than declared)",
				      zlen, len);
		if ((size_t)n != len)
			return bad("lz4", "decodes to another size", (unsigned long long)n, len);
		return 0;
	}
	if (codec != SQ_MIG_CODEC_ZSTD)
		return sq_err(SQ_E_STREAM_COMPRESSION, "migration stream: unknown codec %d", (int)codec);
	unsigned long long content = ZSTD_getFrameContentSize(src, zlen);
	if (content == ZSTD_CONTENTSIZE_ERROR)
		return sq_err(SQ_E_STREAM_COMPRESSION,
			      "migration stream: zstd payload of %zu bytes has no valid frame header",
			      zlen);
	if (content == ZSTD_CONTENTSIZE_UNKNOWN)
		return sq_err(SQ_E_STREAM_COMPRESSION,
			      "migration stream: zstd payload does not declare its content size");
	if (content != len)
		return bad("zstd", "declares another content size", content, len);
	size_t whole = ZSTD_findFrameCompressedSize(src, zlen);
	if (ZSTD_isError(whole))
		return sq_err(SQ_E_STREAM_COMPRESSION,
			      "migration stream: zstd frame runs past its %zu-byte payload (%s)", zlen,
			      ZSTD_getErrorName(whole));
	if (whole != zlen)
		return bad("zstd", "frame ends before the payload does", whole, zlen);
	size_t n = ZSTD_decompressDCtx(d->zstd, dst, len, src, zlen);
	if (ZSTD_isError(n))
		return sq_err(SQ_E_STREAM_COMPRESSION, "migration stream: zstd payload does not decode (%s)",
			      ZSTD_getErrorName(n));
	if (n != len)
		return bad("zstd", "decodes to another size", n, len);
	return 0;
}

void sq_mig_meter_init(struct sq_mig_meter *m, unsigned workers)
{
	m->workers = workers ? workers : 1;
	for (int i = 0; i < SQ_MIG_NCODECS; i++) {
		m->comp_rate[i] = -1;
		m->ratio[i] = 1;
	}
	m->link_rate = 0;
}

void sq_mig_meter_update(struct sq_mig_meter *m, const struct sq_mig_round_meas *r)
{
	if ((unsigned)r->codec >= SQ_MIG_NCODECS)
		return;
	if (r->codec != SQ_MIG_CODEC_NONE) {
		if (r->comp_in >= SQ_MIG_METER_MIN && r->comp_s > 0) {
			m->comp_rate[r->codec] = (double)r->comp_in / r->comp_s;
			m->ratio[r->codec] = (double)r->comp_out / (double)r->comp_in;
		}
	} else if (r->wire >= SQ_MIG_METER_MIN && r->seconds > 0) {
		m->link_rate = (double)r->wire / r->seconds;
	}
}

/* 1: compress with @c next round; 0: send raw (it does not pay, or the
 * link must be measured first). */
static int pays(const struct sq_mig_meter *m, enum sq_mig_codec c)
{
	if (m->comp_rate[c] < 0)
		return 1;
	if (m->ratio[c] > SQ_MIG_METER_MAX_RATIO || m->link_rate <= 0)
		return 0;
	return (double)m->workers * m->comp_rate[c] > m->link_rate;
}

enum sq_mig_codec sq_mig_meter_choose(const struct sq_mig_meter *m,
				      enum sq_migrate_compression mode)
{
	switch (mode) {
	case SQ_MIGRATE_COMPRESS_LZ4:
		return pays(m, SQ_MIG_CODEC_LZ4) ? SQ_MIG_CODEC_LZ4 : SQ_MIG_CODEC_NONE;
	case SQ_MIGRATE_COMPRESS_ZSTD:
		return pays(m, SQ_MIG_CODEC_ZSTD) ? SQ_MIG_CODEC_ZSTD : SQ_MIG_CODEC_NONE;
	case SQ_MIGRATE_COMPRESS_AUTO:
		if (pays(m, SQ_MIG_CODEC_ZSTD))
			return SQ_MIG_CODEC_ZSTD;
		/* zstd measured and the link not yet: measure it before lz4. */
		if (m->link_rate <= 0 && m->ratio[SQ_MIG_CODEC_ZSTD] <= SQ_MIG_METER_MAX_RATIO)
			return SQ_MIG_CODEC_NONE;
		return pays(m, SQ_MIG_CODEC_LZ4) ? SQ_MIG_CODEC_LZ4 : SQ_MIG_CODEC_NONE;
	default:
		return SQ_MIG_CODEC_NONE;
	}
}
