/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compressed pre-copy migration over loopback TCP (127.0.0.1, port 0):
 * byte equality with a writer running, for lz4, zstd and auto, on
 * text-like pages; and a region of random bytes, which must go raw: no
 * frame compressed and not one byte more on the wire than without
 * compression. And a region tracked in 16 KiB pages, its last page
 * partial: its dirty runs go out as 4 KiB pages and the destination equals
 * the source.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/error.h>
#include <squib/migrate.h>

#include "helpers.h"
#include "migrate/stream.h"
#include "workload.h"

/* Under TSan: the writer's stores race with the sender's copies by design
 * (see test_loopback.c); only that race is suppressed. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:wl_writer\nrace:sq_mig_copy_live\n";
}

static uint64_t seed;

/* Migrate @w with @mode to a fresh receiver; the destination must equal the
 * source as of the pause. */
static void migrate_verified(struct wl *w, enum sq_migrate_compression mode, uint64_t bw,
			     struct sq_migrate_report *rep)
{
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct rx_thread x;

	memset(&x, 0, sizeof(x));
	x.timeout_ms = 10000;
	assert_int_equal(rx_thread_start(&x, NULL), 0);
	wl_opts(w, &o);
	o.to = x.addr;
	o.nconns = 2;
	o.timeout_ms = 10000;
	o.bandwidth_limit = bw;
	o.downtime_ms = 30;
	o.compression = mode;
	/* Sanitizer builds run several times slower: throttle the writer
	 * rather than give up, so that the test is about the bytes. */
	o.policy = SQ_MIGRATE_AUTO_CONVERGE;
	atomic_store(&w->stop, 0);
	wl_start(w);
	int rc = sq_migrate_send(&o, rep);
	if (rc)
		fprintf(stderr, "  sender: %s: %s\n", sq_error_name(rc), sq_last_error());
	int rrc = rx_thread_join(&x);
	if (rrc)
		fprintf(stderr, "  receiver: %s: %s\n", sq_error_name(rrc), x.msg);
	fprintf(stderr,
		"  mode %d: rounds %u (%u compressed), frames %llu compressed / %llu raw, "
		"%llu -> %llu bytes, wire %llu for %zu\n",
		(int)mode, rep->rounds, rep->compressed_rounds,
		(unsigned long long)rep->compressed_frames, (unsigned long long)rep->raw_frames,
		(unsigned long long)rep->compress_in, (unsigned long long)rep->compress_out,
		(unsigned long long)rep->wire_bytes, w->size);
	assert_int_equal(rc, 0);
	assert_int_equal(rrc, 0);
	assert_true(w->paused);
	assert_int_equal(rep->compression, mode);
	size_t size;
	uint8_t *dst = sq_migrate_recv_region(x.r, &size);
	assert_int_equal(size, w->size);
	assert_memory_equal(dst, w->region, w->size);
	struct sq_migrate_recv_stats st = SQ_INIT(struct sq_migrate_recv_stats);
	sq_migrate_recv_stats(x.r, &st);
	assert_int_equal(st.complete, 1);
	assert_int_equal(st.pages, rep->pages);
	/* The receiver counts the frames that arrived compressed: exactly
	 * those the sender compressed. */
	assert_int_equal(st.compressed_frames, rep->compressed_frames);
	assert_true(st.seconds > 0);
	sq_migrate_recv_destroy(x.r);
}

/* Text-like pages, a writer dirtying 8 MiB/s, a 32 MiB/s link: several
 * rounds, round 1 compressed (nothing measured yet; the rounds after it
 * follow the rule: how many is timing), the destination equal to the
 * source. */
static void with_writer(enum sq_migrate_compression mode)
{
	struct wl w;
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);

	assert_int_equal(wl_init(&w, 16u << 20, 8.0 * 1048576, seed), 0);
	wl_fill_text(w.region, w.size, seed);
	migrate_verified(&w, mode, 32u << 20, &rep);
	assert_true(atomic_load(&w.writes) > 0);
	assert_true(rep.rounds >= 2);
	assert_true(rep.compressed_rounds >= 1);
	assert_true(rep.compressed_frames > 0);
	assert_true(rep.compress_out < rep.compress_in / 2 + rep.compress_in / 4);
	/* Fewer bytes on the wire than the pages sent, headers included. */
	assert_true(rep.wire_bytes < rep.pages * SQ_PAGE_SIZE);
	wl_fini(&w);
}

static void lz4_with_writer(void **state)
{
	(void)state;
	with_writer(SQ_MIGRATE_COMPRESS_LZ4);
}

static void zstd_with_writer(void **state)
{
	(void)state;
	with_writer(SQ_MIGRATE_COMPRESS_ZSTD);
}

static void auto_with_writer(void **state)
{
	(void)state;
	with_writer(SQ_MIGRATE_COMPRESS_AUTO);
}

/* Random pages: every frame goes raw, and the stream is byte for byte the
 * size of an uncompressed one (same frames, same 40-byte headers). */
static void random_goes_raw(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_report off = SQ_INIT(struct sq_migrate_report), on = SQ_INIT(struct sq_migrate_report);

	assert_int_equal(wl_init(&w, 8u << 20, 0, seed), 0);
	wl_fill_random(w.region, w.size, seed);
	migrate_verified(&w, SQ_MIGRATE_COMPRESS_OFF, 0, &off);
	assert_int_equal(off.compressed_rounds, 0);
	assert_int_equal(off.compress_in, 0);
	for (int mode = SQ_MIGRATE_COMPRESS_LZ4; mode <= SQ_MIGRATE_COMPRESS_AUTO; mode++) {
		w.paused = 0;
		migrate_verified(&w, (enum sq_migrate_compression)mode, 0, &on);
		assert_true(on.compressed_rounds >= 1);
		assert_int_equal(on.compressed_frames, 0);
		assert_true(on.raw_frames > 0);
		assert_int_equal(on.compress_out, on.compress_in);
		assert_true(on.compress_in >= w.size);
		assert_true(on.wire_bytes <= off.wire_bytes);
		assert_true(on.wire_bytes <= w.size + (w.size / 4096 + 16) * SQ_MIG_FRAME_HDR);
	}
	wl_fini(&w);
}

/* A 16 KiB-page region (the last page 8 KiB): the harvested runs are in
 * 16 KiB pages, the stream's in 4 KiB; a writer dirties it during several
 * rounds and the destination must equal the source as of the pause. */
static void pages_16k(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);

	assert_int_equal(wl_init_paged(&w, (8u << 20) + 8192, 8.0 * 1048576, seed, 16384), 0);
	/* The source's runs: 4 KiB pages, the partial last page clipped to the
	 * region (pages 2048 and 2049 of 4 KiB for its 8 KiB), then put back. */
	struct sq_migrate_source src;
	const struct sq_run *runs;
	size_t nruns;
	void *set;
	sq_migrate_tracker_source(&w.tctx, &src);
	assert_int_equal(sq_tracker_mark(w.t, w.region + w.size - 1), 0);
	assert_int_equal(sq_tracker_mark(w.t, w.region + 16384), 0);
	assert_int_equal(src.harvest(src.ctx, &set, &runs, &nruns), 0);
	assert_int_equal(nruns, 2);
	assert_int_equal(runs[0].first_page, 4);
	assert_int_equal(runs[0].npages, 4);
	assert_int_equal(runs[1].first_page, 2048);
	assert_int_equal(runs[1].npages, 2);
	src.put_back(src.ctx, set);
	uint64_t cnt;
	assert_int_equal(sq_tracker_count(w.t, w.id, &cnt), 0);
	assert_int_equal(cnt, 2); /* two 16 KiB pages back in the tracker */
	migrate_verified(&w, SQ_MIGRATE_COMPRESS_OFF, 32u << 20, &rep);
	assert_true(atomic_load(&w.writes) > 0);
	assert_true(rep.rounds >= 2);
	wl_fini(&w);
}

/* An unknown mode is refused before anything connects. */
static void unknown_mode(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);

	assert_int_equal(wl_init(&w, 1u << 20, 0, seed), 0);
	wl_opts(&w, &o);
	o.to = "127.0.0.1:1";
	o.compression = (enum sq_migrate_compression)7;
	assert_int_equal(sq_migrate_send(&o, &rep), SQ_E_INVAL);
	assert_int_equal(rep.result, SQ_E_INVAL);
	wl_fini(&w);
}

int main(void)
{
	seed = sq_test_seed("migrate/compress_tcp");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lz4_with_writer),
		cmocka_unit_test(zstd_with_writer),
		cmocka_unit_test(auto_with_writer),
		cmocka_unit_test(random_goes_raw),
		cmocka_unit_test(pages_16k),
		cmocka_unit_test(unknown_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
