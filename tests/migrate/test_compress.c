/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Page-frame compression (migrate/compress.c) and the receiver's handling
 * of compressed frames: the never-expand rule, exact round trips, the
 * per-round rule, and every way a compressed frame can lie about its sizes,
 * each refused with its own error, leaving the destination exactly as the
 * frames validated before it made it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lz4.h>
#include <zstd.h>

#include <squib/error.h>
#include <squib/migrate.h>

#include "builder.h"
#include "helpers.h"
#include "migrate/compress.h"
#include "migrate/recv_internal.h"
#include "workload.h"

#define NPAGES 64u
#define SIZE ((size_t)NPAGES * SQ_PAGE_SIZE)
#define SESSION 0x5a5a0123456789a5ull
#define GUARD 64u

static uint8_t text[SQ_MIG_MAX_PAYLOAD], noise[SQ_MIG_MAX_PAYLOAD];
static uint8_t out[SQ_MIG_MAX_PAYLOAD + GUARD];
static struct sq_mig_cctx *cz;
static struct sq_mig_dctx *dz;

static int setup(void **state)
{
	(void)state;
	/* Text in every page (wl_fill_text leaves every 8th zero: refill those). */
	wl_fill_text(text, sizeof(text), 3);
	for (size_t p = 7; p < sizeof(text) / SQ_PAGE_SIZE; p += 8)
		memcpy(text + p * SQ_PAGE_SIZE, text, SQ_PAGE_SIZE);
	wl_fill_random(noise, sizeof(noise), 4);
	return sq_mig_cctx_new(&cz) || sq_mig_dctx_new(&dz);
}

static int teardown(void **state)
{
	(void)state;
	sq_mig_cctx_free(cz);
	sq_mig_dctx_free(dz);
	return 0;
}

/* ------------------------------------------------------------ the codec */

/* Incompressible frames go raw (0) and the compressor writes at most
 * len - 1 bytes; compressible ones shrink and decode back exactly. */
static void never_expands(void **state)
{
	(void)state;
	static const size_t lens[] = { SQ_PAGE_SIZE, 2 * SQ_PAGE_SIZE, 64 * SQ_PAGE_SIZE,
				       SQ_MIG_MAX_PAYLOAD };
	for (int codec = SQ_MIG_CODEC_LZ4; codec <= SQ_MIG_CODEC_ZSTD; codec++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			size_t len = lens[i];
			memset(out, 0xa5, sizeof(out));
			assert_int_equal(sq_mig_compress(cz, codec, out, noise, len), 0);
			for (size_t k = len - 1; k < sizeof(out); k++)
				assert_int_equal(out[k], 0xa5);
			size_t zl = sq_mig_compress(cz, codec, out, text, len);
			assert_true(zl > 0 && zl < len);
			assert_true(zl < len * 3 / 4); /* text-like pages: well below */
			static uint8_t back[SQ_MIG_MAX_PAYLOAD];
			static uint8_t z[SQ_MIG_MAX_PAYLOAD];
			memcpy(z, out, zl);
			assert_int_equal(sq_mig_decompress(dz, codec, back, len, z, zl), 0);
			assert_memory_equal(back, text, len);
		}
		/* No codec, or a frame too short to shrink: raw. */
		assert_int_equal(sq_mig_compress(cz, SQ_MIG_CODEC_NONE, out, text, SQ_PAGE_SIZE), 0);
		assert_int_equal(sq_mig_compress(cz, codec, out, text, 1), 0);
	}
}

/* Decode @z as @codec into a @len-byte destination followed by guard bytes:
 * returns the code; the guard must survive whatever the payload says. */
static int decode_guarded(enum sq_mig_codec codec, size_t len, const void *z, size_t zl)
{
	memset(out, 0xa5, sizeof(out));
	int rc = sq_mig_decompress(dz, codec, out, len, z, zl);
	for (size_t k = len; k < len + GUARD; k++)
		assert_int_equal(out[k], 0xa5);
	if (rc)
		assert_int_equal(sq_last_error_code(), rc);
	return rc;
}

static void decoder_refuses_lies(void **state)
{
	(void)state;
	static uint8_t z[SQ_MIG_MAX_PAYLOAD];
	size_t four = 4 * SQ_PAGE_SIZE, three = 3 * SQ_PAGE_SIZE;

	/* lz4: three pages declared as four (short), four declared as three
	 * (would overflow), garbage, a payload cut short, trailing bytes. */
	int n = LZ4_compress_default((const char *)text, (char *)z, (int)three, (int)sizeof(z));
	assert_true(n > 0);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_LZ4, four, z, (size_t)n), SQ_E_STREAM_COMPRESSION);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_LZ4, three, z, (size_t)n), 0);
	n = LZ4_compress_default((const char *)text, (char *)z, (int)four, (int)sizeof(z));
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_LZ4, three, z, (size_t)n), SQ_E_STREAM_COMPRESSION);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_LZ4, four, z, (size_t)n - 5),
			 SQ_E_STREAM_COMPRESSION);
	z[n] = 0x42;
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_LZ4, four, z, (size_t)n + 1),
			 SQ_E_STREAM_COMPRESSION);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_LZ4, four, noise, 3000), SQ_E_STREAM_COMPRESSION);

	/* zstd: content size other than declared, none declared, a frame
	 * running past the payload, bytes after the frame, garbage. */
	size_t zl = ZSTD_compress(z, sizeof(z), text, three, 1);
	assert_false(ZSTD_isError(zl));
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_ZSTD, four, z, zl), SQ_E_STREAM_COMPRESSION);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_ZSTD, 2 * SQ_PAGE_SIZE, z, zl),
			 SQ_E_STREAM_COMPRESSION);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_ZSTD, three, z, zl), 0);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_ZSTD, three, z, zl - 3), SQ_E_STREAM_COMPRESSION);
	z[zl] = 0;
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_ZSTD, three, z, zl + 1), SQ_E_STREAM_COMPRESSION);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_ZSTD, three, noise, 3000), SQ_E_STREAM_COMPRESSION);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	assert_non_null(cc);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
	/* Streaming without a pledged size: the header carries no content size. */
	ZSTD_inBuffer in = { text, three, 0 };
	ZSTD_outBuffer ob = { z, sizeof(z), 0 };
	assert_int_equal(ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_end), 0);
	ZSTD_freeCCtx(cc);
	assert_int_equal(ZSTD_getFrameContentSize(z, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
	assert_int_equal(decode_guarded(SQ_MIG_CODEC_ZSTD, three, z, ob.pos), SQ_E_STREAM_COMPRESSION);
}

/* ------------------------------------------------------- the per-round rule */

static void meter_rule(void **state)
{
	(void)state;
	struct sq_mig_meter m;
	const enum sq_migrate_compression LZ4 = SQ_MIGRATE_COMPRESS_LZ4,
					  ZSTD = SQ_MIGRATE_COMPRESS_ZSTD,
					  AUTO = SQ_MIGRATE_COMPRESS_AUTO;

	sq_mig_meter_init(&m, 2);
	/* Nothing measured: off stays off, a codec is tried, auto tries zstd. */
	assert_int_equal(sq_mig_meter_choose(&m, SQ_MIGRATE_COMPRESS_OFF), SQ_MIG_CODEC_NONE);
	assert_int_equal(sq_mig_meter_choose(&m, LZ4), SQ_MIG_CODEC_LZ4);
	assert_int_equal(sq_mig_meter_choose(&m, ZSTD), SQ_MIG_CODEC_ZSTD);
	assert_int_equal(sq_mig_meter_choose(&m, AUTO), SQ_MIG_CODEC_ZSTD);

	/* zstd measured (100 MB/s per worker, 1/3 out), the link not yet: a
	 * raw round measures it. */
	struct sq_mig_round_meas z = { .codec = SQ_MIG_CODEC_ZSTD, .comp_in = 100000000,
				       .comp_out = 33333333, .comp_s = 1.0, .wire = 40000000,
				       .seconds = 1.0 };
	sq_mig_meter_update(&m, &z);
	assert_int_equal(sq_mig_meter_choose(&m, ZSTD), SQ_MIG_CODEC_NONE);
	assert_int_equal(sq_mig_meter_choose(&m, AUTO), SQ_MIG_CODEC_NONE);
	assert_int_equal(sq_mig_meter_choose(&m, LZ4), SQ_MIG_CODEC_LZ4); /* untried */

	/* A 1 Gbit/s link (125 MB/s) is slower than 2 workers * 100 MB/s. */
	struct sq_mig_round_meas gbit = { .codec = SQ_MIG_CODEC_NONE, .wire = 125000000,
					  .seconds = 1.0 };
	sq_mig_meter_update(&m, &gbit);
	assert_int_equal(sq_mig_meter_choose(&m, ZSTD), SQ_MIG_CODEC_ZSTD);
	assert_int_equal(sq_mig_meter_choose(&m, AUTO), SQ_MIG_CODEC_ZSTD);

	/* A compressed round never measures the link (it may be compressor-
	 * bound): a fast-looking compressed round changes nothing. */
	struct sq_mig_round_meas zfast = z;
	zfast.wire = 4000000000u;
	sq_mig_meter_update(&m, &zfast);
	assert_int_equal(sq_mig_meter_choose(&m, ZSTD), SQ_MIG_CODEC_ZSTD);

	/* A 10 Gbit/s link (1.25 GB/s) outruns zstd: raw; auto tries lz4, and
	 * keeps it while 2 workers * 800 MB/s beat the link. */
	struct sq_mig_round_meas fast = { .codec = SQ_MIG_CODEC_NONE, .wire = 1250000000u,
					  .seconds = 1.0 };
	sq_mig_meter_update(&m, &fast);
	assert_int_equal(sq_mig_meter_choose(&m, ZSTD), SQ_MIG_CODEC_NONE);
	assert_int_equal(sq_mig_meter_choose(&m, AUTO), SQ_MIG_CODEC_LZ4);
	struct sq_mig_round_meas l = { .codec = SQ_MIG_CODEC_LZ4, .comp_in = 800000000,
				       .comp_out = 400000000, .comp_s = 1.0, .wire = 400000000,
				       .seconds = 1.0 };
	sq_mig_meter_update(&m, &l);
	assert_int_equal(sq_mig_meter_choose(&m, LZ4), SQ_MIG_CODEC_LZ4);
	assert_int_equal(sq_mig_meter_choose(&m, AUTO), SQ_MIG_CODEC_LZ4);

	/* The link slows down again: zstd comes back (rates are remembered). */
	sq_mig_meter_update(&m, &gbit);
	assert_int_equal(sq_mig_meter_choose(&m, AUTO), SQ_MIG_CODEC_ZSTD);

	/* Pages that hardly shrink (r > 15/16): never worth it, however slow
	 * the link. */
	struct sq_mig_round_meas rnd = { .codec = SQ_MIG_CODEC_LZ4, .comp_in = 64u << 20,
					 .comp_out = 63u << 20, .comp_s = 0.01 };
	sq_mig_meter_update(&m, &rnd);
	assert_int_equal(sq_mig_meter_choose(&m, LZ4), SQ_MIG_CODEC_NONE);

	/* Samples below SQ_MIG_METER_MIN change nothing. */
	struct sq_mig_round_meas tiny = { .codec = SQ_MIG_CODEC_LZ4, .comp_in = 4096,
					  .comp_out = 10, .comp_s = 1e-6 };
	sq_mig_meter_update(&m, &tiny);
	assert_int_equal(sq_mig_meter_choose(&m, LZ4), SQ_MIG_CODEC_NONE);
	struct sq_mig_round_meas tiny_link = { .codec = SQ_MIG_CODEC_NONE, .wire = 4096,
					       .seconds = 1.0 };
	sq_mig_meter_update(&m, &tiny_link);
	assert_int_equal(sq_mig_meter_choose(&m, ZSTD), SQ_MIG_CODEC_ZSTD);
}

/* ------------------------------------------------- the receiver, from memory */

static uint8_t region[SIZE];

static int feed(struct bld *b)
{
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .region = region, .region_size = SIZE, .mem_fd = -1 };
	struct sq_migrate_recv *r = NULL;
	const uint8_t *bufs[1] = { b->buf };
	size_t lens[1] = { b->len };

	memset(region, 0, sizeof(region));
	assert_int_equal(sq_migrate_recv_create(&o, &r), 0);
	int rc = sq_mig_recv_feed(r, bufs, lens, 1);
	if (rc) {
		fprintf(stderr, "  receiver: %s: %s\n", sq_error_name(rc), sq_last_error());
		assert_int_equal(sq_last_error_code(), rc);
	}
	sq_migrate_recv_destroy(r);
	bld_free(b);
	return rc;
}

/* A session whose first frame (raw, page 0) is valid. */
static void start(struct bld *b, unsigned version)
{
	memset(b, 0, sizeof(*b));
	bld_hello(b, SESSION, SIZE, 0, 1);
	if (version != SQ_MIG_VERSION) {
		sq_mig_put16(b->buf + 8, (uint16_t)version);
		sq_mig_put64(b->buf + 56, sq_crc64(b->buf, 56));
	}
	bld_pages(b, 1, 0, 1, text);
}

/* Only page 0 holds data: the failing frame changed nothing. */
static void only_page0(void)
{
	assert_memory_equal(region, text, SQ_PAGE_SIZE);
	for (size_t i = SQ_PAGE_SIZE; i < SIZE; i++)
		if (region[i])
			fail_msg("byte %zu of the region was written", i);
}

static void compressed_session(void **state)
{
	(void)state;
	static uint8_t z[SQ_MIG_MAX_PAYLOAD];
	struct bld b;

	start(&b, SQ_MIG_VERSION);
	int n = LZ4_compress_default((const char *)text + SQ_PAGE_SIZE, (char *)z,
				     8 * SQ_PAGE_SIZE, (int)sizeof(z));
	bld_cpages(&b, SQ_MIG_F_LZ4, 1, 1, 8, z, (uint32_t)n);
	size_t zl = ZSTD_compress(z, sizeof(z), text + 9 * SQ_PAGE_SIZE, 16 * SQ_PAGE_SIZE, 1);
	bld_cpages(&b, SQ_MIG_F_ZSTD, 1, 9, 16, z, (uint32_t)zl);
	bld_zero(&b, 2, 3, 1);
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	assert_int_equal(feed(&b), 0);
	assert_memory_equal(region, text, 3 * SQ_PAGE_SIZE);
	assert_true(sq_mig_page_zero(region + 3 * SQ_PAGE_SIZE));
	assert_memory_equal(region + 4 * SQ_PAGE_SIZE, text + 4 * SQ_PAGE_SIZE, 21 * SQ_PAGE_SIZE);
}

struct lie {
	const char *what;
	uint16_t flags;
	uint32_t npages;     /* pages the header declares */
	size_t src_pages;    /* pages actually compressed */
	int codec;           /* how to compress them */
	long zlen_delta;     /* added to the true compressed length in the header */
	int garbage;         /* payload: random bytes instead */
	int expect;
};

static void lying_frames(void **state)
{
	(void)state;
	static uint8_t z[SQ_MIG_MAX_PAYLOAD + 4096];
	static const struct lie lies[] = {
		{ "lz4 decodes short", SQ_MIG_F_LZ4, 4, 3, 1, 0, 0, SQ_E_STREAM_COMPRESSION },
		{ "lz4 decodes long", SQ_MIG_F_LZ4, 3, 4, 1, 0, 0, SQ_E_STREAM_COMPRESSION },
		{ "lz4 garbage", SQ_MIG_F_LZ4, 4, 4, 1, 0, 1, SQ_E_STREAM_COMPRESSION },
		{ "zstd declares less", SQ_MIG_F_ZSTD, 4, 3, 2, 0, 0, SQ_E_STREAM_COMPRESSION },
		{ "zstd declares more", SQ_MIG_F_ZSTD, 3, 4, 2, 0, 0, SQ_E_STREAM_COMPRESSION },
		{ "zstd garbage", SQ_MIG_F_ZSTD, 4, 4, 2, 0, 1, SQ_E_STREAM_COMPRESSION },
		{ "zstd cut short", SQ_MIG_F_ZSTD, 4, 4, 2, -4, 0, SQ_E_STREAM_COMPRESSION },
		{ "zstd trailing bytes", SQ_MIG_F_ZSTD, 4, 4, 2, 7, 0, SQ_E_STREAM_COMPRESSION },
		{ "lz4 data flagged zstd", SQ_MIG_F_ZSTD, 4, 4, 1, 0, 0, SQ_E_STREAM_COMPRESSION },
		{ "zstd data flagged lz4", SQ_MIG_F_LZ4, 4, 4, 2, 0, 0, SQ_E_STREAM_COMPRESSION },
		{ "both codecs", SQ_MIG_F_LZ4 | SQ_MIG_F_ZSTD, 4, 4, 1, 0, 0, SQ_E_STREAM_MALFORMED },
		{ "codec and zero", SQ_MIG_F_LZ4 | SQ_MIG_F_ZERO, 4, 4, 1, 0, 0, SQ_E_STREAM_MALFORMED },
	};
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		const struct lie *L = &lies[i];
		size_t srclen = L->src_pages * SQ_PAGE_SIZE, zl;
		struct bld b;
		fprintf(stderr, "  %s\n", L->what);
		if (L->garbage) {
			zl = 3000;
			memcpy(z, noise, zl);
		} else if (L->codec == 1) {
			zl = (size_t)LZ4_compress_default((const char *)text + SQ_PAGE_SIZE, (char *)z,
							  (int)srclen, (int)sizeof(z));
		} else {
			zl = ZSTD_compress(z, sizeof(z), text + SQ_PAGE_SIZE, srclen, 1);
		}
		zl = (size_t)((long)zl + L->zlen_delta);
		if (zl >= L->npages * SQ_PAGE_SIZE)
			fail_msg("%s: the lie must still be a shrinking frame", L->what);
		start(&b, SQ_MIG_VERSION);
		bld_cpages(&b, L->flags, 1, 1, L->npages, z, (uint32_t)zl);
		bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
		assert_int_equal(feed(&b), L->expect);
		only_page0();
	}
}

/* Header-level lies: zlen not below length, zlen 0, a declared length over
 * the frame limit, zlen on a raw frame, and a codec in a version 2 stream. */
static void lying_headers(void **state)
{
	(void)state;
	static uint8_t z[2 * SQ_MIG_MAX_PAYLOAD];
	struct bld b;
	size_t zl = ZSTD_compress(z, sizeof(z), text, 4 * SQ_PAGE_SIZE, 1);

	start(&b, SQ_MIG_VERSION);
	bld_cpages(&b, SQ_MIG_F_ZSTD, 1, 1, 1, noise, SQ_PAGE_SIZE); /* zlen == length */
	assert_int_equal(feed(&b), SQ_E_STREAM_COMPRESSION);
	only_page0();

	start(&b, SQ_MIG_VERSION);
	bld_cpages(&b, SQ_MIG_F_LZ4, 1, 1, 1, noise, SQ_PAGE_SIZE + 100); /* beyond the frame */
	assert_int_equal(feed(&b), SQ_E_STREAM_COMPRESSION);
	only_page0();

	start(&b, SQ_MIG_VERSION);
	bld_cpages(&b, SQ_MIG_F_LZ4, 1, 1, 4, z, 0);
	assert_int_equal(feed(&b), SQ_E_STREAM_COMPRESSION);
	only_page0();

	start(&b, SQ_MIG_VERSION);
	bld_cpages(&b, SQ_MIG_F_ZSTD, 1, 0, SQ_MIG_MAX_FRAME_PAGES + 1, z, (uint32_t)zl);
	assert_int_equal(feed(&b), SQ_E_STREAM_OVERSIZE);
	only_page0();

	start(&b, SQ_MIG_VERSION);
	bld_cpages(&b, 0, 1, 1, 4, z, (uint32_t)zl); /* zlen set, no codec */
	assert_int_equal(feed(&b), SQ_E_STREAM_MALFORMED);
	only_page0();

	start(&b, 2);
	bld_cpages(&b, SQ_MIG_F_ZSTD, 1, 1, 4, z, (uint32_t)zl);
	assert_int_equal(feed(&b), SQ_E_STREAM_MALFORMED);
	only_page0();

	/* The same frame with its CRC broken: the CRC is checked first. */
	start(&b, SQ_MIG_VERSION);
	size_t at = bld_cpages(&b, SQ_MIG_F_ZSTD, 1, 1, 4, z, (uint32_t)zl);
	b.buf[at + SQ_MIG_FRAME_HDR + 5] ^= 1;
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	assert_int_equal(feed(&b), SQ_E_STREAM_CRC);
	only_page0();
}

/* A version 2 stream (raw frames) is still accepted. */
static void version2_accepted(void **state)
{
	(void)state;
	struct bld b;

	start(&b, 2);
	bld_pages(&b, 1, 5, 2, text + 5 * SQ_PAGE_SIZE);
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	assert_int_equal(feed(&b), 0);
	assert_memory_equal(region, text, SQ_PAGE_SIZE);
	assert_memory_equal(region + 5 * SQ_PAGE_SIZE, text + 5 * SQ_PAGE_SIZE, 2 * SQ_PAGE_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(never_expands),
		cmocka_unit_test(decoder_refuses_lies),
		cmocka_unit_test(meter_rule),
		cmocka_unit_test(compressed_session),
		cmocka_unit_test(lying_frames),
		cmocka_unit_test(lying_headers),
		cmocka_unit_test(version2_accepted),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
