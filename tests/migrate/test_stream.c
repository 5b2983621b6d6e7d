/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The migration stream receiver, fed from memory: valid sessions, the
 * later-round-wins rule across connections, and every hostile or broken
 * stream the format must refuse with its own error code, leaving the
 * destination exactly as the frames validated before the damage made it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/stat.h>

#include <squib/error.h>
#include <squib/migrate.h>

#include "builder.h"
#include "helpers.h"
#include "migrate/recv_internal.h"

#define NPAGES 64u
#define SIZE ((size_t)NPAGES * SQ_PAGE_SIZE)
#define SESSION 0x1122334455667788ull

static uint8_t pat[8][SQ_PAGE_SIZE * 4];

static int setup(void **state)
{
	(void)state;
	for (int g = 0; g < 8; g++)
		for (size_t i = 0; i < sizeof(pat[g]); i++)
			pat[g][i] = (uint8_t)(i * 131u + (unsigned)g * 17u + 1u) | 1u;
	return 0;
}

struct run_result {
	int rc;
	uint8_t *region;
	struct sq_migrate_recv_stats st;
	size_t state_len;
};

/* Feed @n connections into a fresh zeroed region of SIZE bytes. */
static struct run_result feed(struct bld *conns, unsigned n)
{
	static uint8_t region[SIZE];
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .region = region, .region_size = SIZE, .mem_fd = -1 };
	struct sq_migrate_recv *r = NULL;
	const uint8_t *bufs[8];
	size_t lens[8];
	struct run_result res = { .region = region };

	memset(region, 0, sizeof(region));
	assert_int_equal(sq_migrate_recv_create(&o, &r), 0);
	for (unsigned i = 0; i < n; i++) {
		bufs[i] = conns[i].buf;
		lens[i] = conns[i].len;
	}
	res.rc = sq_mig_recv_feed(r, bufs, lens, n);
	if (res.rc)
		fprintf(stderr, "  receiver: %s: %s\n", sq_error_name(res.rc), sq_last_error());
	if (res.rc)
		assert_int_equal(sq_last_error_code(), res.rc);
	res.st = (struct sq_migrate_recv_stats)SQ_INIT(struct sq_migrate_recv_stats);
	sq_migrate_recv_stats(r, &res.st);
	sq_migrate_recv_state(r, &res.state_len);
	sq_migrate_recv_destroy(r);
	return res;
}

static int page_is(const uint8_t *region, uint64_t page, const uint8_t *want)
{
	static const uint8_t zero[SQ_PAGE_SIZE];
	return memcmp(region + page * SQ_PAGE_SIZE, want ? want : zero, SQ_PAGE_SIZE) == 0;
}

/* Only page 0 (pattern 0) is set; everything else is zero. */
static void only_first_frame(const uint8_t *region)
{
	assert_true(page_is(region, 0, pat[0]));
	for (uint64_t p = 1; p < NPAGES; p++)
		assert_true(page_is(region, p, NULL));
}

static void valid_session(void **state)
{
	(void)state;
	struct bld b = { 0 };
	const char blob[] = "vcpu state blob";

	bld_hello(&b, SESSION, SIZE, 0, 1);
	bld_pages(&b, 1, 0, 4, pat[1]);
	bld_pages(&b, 1, 10, 1, pat[2]);
	bld_pages(&b, 2, 1, 1, pat[3]);     /* round 2 rewrites page 1 */
	bld_zero(&b, 2, 2, 1);              /* and zeroes page 2 */
	bld_frame(&b, SQ_MIG_STATE, 0, 2, 0, sizeof(blob), blob, sizeof(blob));
	bld_final(&b, SESSION, 1, NULL, 0, blob, sizeof(blob));
	struct run_result r = feed(&b, 1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.st.complete, 1);
	assert_int_equal(r.st.rounds, 2);
	assert_int_equal(r.st.pages, 7);
	assert_int_equal(r.st.zero_pages, 1);
	assert_int_equal(r.state_len, sizeof(blob));
	assert_true(page_is(r.region, 0, pat[1]));
	assert_true(page_is(r.region, 1, pat[3]));
	assert_true(page_is(r.region, 2, NULL));
	assert_true(page_is(r.region, 3, pat[1] + 3 * SQ_PAGE_SIZE));
	assert_true(page_is(r.region, 10, pat[2]));
	assert_true(page_is(r.region, 11, NULL));
	bld_free(&b);
}

/* Connection 1's round-2 copy is applied first; connection 0's round-1 copy
 * of the same pages arrives later and must lose. */
static void later_round_wins(void **state)
{
	(void)state;
	struct bld c[2] = { 0 };

	bld_hello(&c[0], SESSION, SIZE, 0, 2);
	bld_hello(&c[1], SESSION, SIZE, 1, 2);
	bld_pages(&c[0], 1, 4, 2, pat[1]);
	bld_pages(&c[0], 1, 8, 1, pat[1]);
	bld_pages(&c[1], 2, 4, 1, pat[2]);
	bld_zero(&c[1], 3, 8, 1);
	const struct bld *all[2] = { &c[0], &c[1] };
	bld_final(&c[0], SESSION, 2, all, 2, NULL, 0);
	bld_final(&c[1], SESSION, 2, all, 2, NULL, 0);
	/* Feed connection 1 first (connections run in the order given) so
	 * that the stale copy comes last. */
	struct bld swapped[2] = { c[1], c[0] };
	struct run_result r = feed(swapped, 2);
	assert_int_equal(r.rc, 0);
	assert_true(page_is(r.region, 4, pat[2]));                   /* round 2 kept */
	assert_true(page_is(r.region, 5, pat[1] + SQ_PAGE_SIZE));     /* only round 1 */
	assert_true(page_is(r.region, 8, NULL));                      /* round-3 zero kept */
	assert_int_equal(r.st.stale_pages, 2);
	bld_free(&c[0]);
	bld_free(&c[1]);
}

/* A stream whose first page frame (page 0, pattern 0) is valid. */
static void start(struct bld *b)
{
	memset(b, 0, sizeof(*b));
	bld_hello(b, SESSION, SIZE, 0, 1);
	bld_pages(b, 1, 0, 1, pat[0]);
}

static void expect(struct bld *b, int code)
{
	struct run_result r = feed(b, 1);
	assert_int_equal(r.rc, code);
	assert_int_equal(r.st.complete, 0);
	only_first_frame(r.region);
	bld_free(b);
}

static void bad_magic(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	b.buf[0] ^= 0x40;
	struct run_result r = feed(&b, 1);
	assert_int_equal(r.rc, SQ_E_STREAM_MAGIC);
	for (uint64_t p = 0; p < NPAGES; p++)
		assert_true(page_is(r.region, p, NULL));
	bld_free(&b);
}

static void wrong_version(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	/* Version 1 (no commit step) and a future version are both refused. */
	sq_mig_put16(b.buf + 8, 1);
	struct run_result r = feed(&b, 1);
	assert_int_equal(r.rc, SQ_E_STREAM_VERSION);
	assert_true(page_is(r.region, 0, NULL));
	sq_mig_put16(b.buf + 8, SQ_MIG_VERSION + 1);
	r = feed(&b, 1);
	assert_int_equal(r.rc, SQ_E_STREAM_VERSION);
	assert_true(page_is(r.region, 0, NULL));
	bld_free(&b);
}

static void hello_crc(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	b.buf[20] ^= 1; /* session id bit: only the CRC can tell */
	struct run_result r = feed(&b, 1);
	assert_int_equal(r.rc, SQ_E_STREAM_CRC);
	bld_free(&b);
}

static void offset_out_of_range(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	bld_pages(&b, 1, NPAGES - 1, 2, pat[1]); /* straddles the end */
	expect(&b, SQ_E_STREAM_RANGE);
	start(&b);
	bld_frame(&b, SQ_MIG_PAGES, SQ_MIG_F_ZERO, 1, UINT64_MAX - 4095, SQ_PAGE_SIZE, NULL, 0);
	expect(&b, SQ_E_STREAM_RANGE);
}

static void bad_crc(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	size_t at = bld_pages(&b, 1, 5, 2, pat[1]);
	b.buf[at + SQ_MIG_FRAME_HDR + 4097] ^= 0x80; /* payload of the second page */
	expect(&b, SQ_E_STREAM_CRC);
	start(&b);
	at = bld_zero(&b, 1, 7, 1);
	b.buf[at + 17] ^= 0x10; /* offset page 7 -> page 6: only the CRC can tell */
	expect(&b, SQ_E_STREAM_CRC);
}

static void truncated_frame(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	bld_pages(&b, 1, 5, 2, pat[1]);
	b.len -= 100; /* payload cut */
	expect(&b, SQ_E_STREAM_TRUNCATED);
	start(&b);
	bld_pages(&b, 1, 5, 1, pat[1]);
	b.len -= SQ_PAGE_SIZE + 10; /* header cut */
	expect(&b, SQ_E_STREAM_TRUNCATED);
}

static void oversized_length(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	bld_frame(&b, SQ_MIG_PAGES, SQ_MIG_F_ZERO, 1, 0, SQ_MIG_MAX_PAYLOAD + SQ_PAGE_SIZE, NULL, 0);
	expect(&b, SQ_E_STREAM_OVERSIZE);
	start(&b);
	bld_frame(&b, SQ_MIG_STATE, 0, 1, 0, 0x7fffffff, NULL, 0);
	expect(&b, SQ_E_STREAM_OVERSIZE);
}

static void dropped_mid_round(void **state)
{
	(void)state;
	struct bld b;
	start(&b); /* ends after a complete frame, before the final one */
	expect(&b, SQ_E_DISCONNECTED);
}

static void duplicate_final(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	size_t at = b.len;
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	(void)at;
	expect(&b, SQ_E_STREAM_DUPLICATE);
}

static void totals_mismatch(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	b.pages++; /* the final frame claims one page more than was sent */
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	expect(&b, SQ_E_STREAM_TOTALS);
	start(&b);
	const char blob[] = "abc";
	bld_final(&b, SESSION, 1, NULL, 0, blob, sizeof(blob)); /* state never sent */
	expect(&b, SQ_E_STREAM_TOTALS);
}

static void order_violations(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	b.seq++; /* a frame went missing */
	bld_pages(&b, 1, 3, 1, pat[1]);
	expect(&b, SQ_E_STREAM_ORDER);
	start(&b);
	bld_pages(&b, 3, 3, 1, pat[1]);
	bld_pages(&b, 2, 4, 1, pat[1]); /* round went backwards */
	struct run_result r = feed(&b, 1);
	assert_int_equal(r.rc, SQ_E_STREAM_ORDER);
	assert_true(page_is(r.region, 3, pat[1]));
	assert_true(page_is(r.region, 4, NULL));
	bld_free(&b);
}

static void malformed_frames(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	bld_frame(&b, 9, 0, 1, 0, 0, NULL, 0); /* unknown type */
	expect(&b, SQ_E_STREAM_MALFORMED);
	start(&b);
	bld_frame(&b, SQ_MIG_PAGES, 0, 1, 100, SQ_PAGE_SIZE, pat[1], SQ_PAGE_SIZE); /* unaligned */
	expect(&b, SQ_E_STREAM_MALFORMED);
	start(&b);
	bld_frame(&b, SQ_MIG_PAGES, 0, 0, 0, SQ_PAGE_SIZE, pat[1], SQ_PAGE_SIZE); /* round 0 */
	expect(&b, SQ_E_STREAM_MALFORMED);
	start(&b);
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	bld_pages(&b, 1, 9, 1, pat[1]); /* data after the final frame */
	expect(&b, SQ_E_STREAM_MALFORMED);
}

static void sender_abort(void **state)
{
	(void)state;
	struct bld b;
	start(&b);
	bld_frame(&b, SQ_MIG_ABORT, 0, 1, 0, 0, NULL, 0);
	expect(&b, SQ_E_CANCELED);
}

static void geometry_mismatch(void **state)
{
	(void)state;
	struct bld b = { 0 };
	bld_hello(&b, SESSION, SIZE * 2, 0, 1);
	struct run_result r = feed(&b, 1);
	assert_int_equal(r.rc, SQ_E_SIZE_MISMATCH);
	bld_free(&b);
}

static void session_mismatch(void **state)
{
	(void)state;
	struct bld c[2] = { 0 };
	bld_hello(&c[0], SESSION, SIZE, 0, 2);
	bld_hello(&c[1], SESSION + 1, SIZE, 1, 2);
	struct run_result r = feed(c, 2);
	assert_int_equal(r.rc, SQ_E_STREAM_MALFORMED);
	bld_free(&c[0]);
	bld_free(&c[1]);
	bld_hello(&c[0], SESSION, SIZE, 0, 2);
	bld_hello(&c[1], SESSION, SIZE, 0, 2); /* index twice */
	r = feed(c, 2);
	assert_int_equal(r.rc, SQ_E_STREAM_MALFORMED);
	bld_free(&c[0]);
	bld_free(&c[1]);
}

/* The file sink: pages at their offsets, zero frames punch holes. */
static void file_sink(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("mig-file");
	char path[4096];
	snprintf(path, sizeof(path), "%s/mem", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	struct bld b = { 0 };
	bld_hello(&b, SESSION, SIZE, 0, 1);
	bld_pages(&b, 1, 0, 4, pat[1]);
	bld_pages(&b, 1, 20, 2, pat[2]);
	bld_zero(&b, 2, 1, 2);
	bld_final(&b, SESSION, 1, NULL, 0, NULL, 0);
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .mem_fd = fd };
	struct sq_migrate_recv *r;
	assert_int_equal(sq_migrate_recv_create(&o, &r), 0);
	const uint8_t *bufs[1] = { b.buf };
	assert_int_equal(sq_mig_recv_feed(r, bufs, &b.len, 1), 0);
	assert_null(sq_migrate_recv_region(r, NULL));
	assert_int_equal(sq_migrate_recv_save(r, dir), SQ_E_INVAL); /* file receivers save nothing */
	sq_migrate_recv_destroy(r);
	close(fd);
	unsigned char *got = NULL;
	size_t len;
	assert_int_equal(sq_test_read_file(path, &got, &len), 0);
	assert_int_equal(len, SIZE);
	assert_true(page_is(got, 0, pat[1]));
	assert_true(page_is(got, 1, NULL));
	assert_true(page_is(got, 2, NULL));
	assert_true(page_is(got, 3, pat[1] + 3 * SQ_PAGE_SIZE));
	assert_true(page_is(got, 21, pat[2] + SQ_PAGE_SIZE));
	free(got);
	bld_free(&b);
	sq_test_rmrf(dir);
	free(dir);
}

/* Replies carry the receiver's text: round trip, limits, damage. */
static void reply_format(void **state)
{
	(void)state;
	uint8_t raw[SQ_MIG_RESULT_LEN + SQ_MIG_RESULT_MAX_MSG];
	struct sq_mig_result in = { .status = SQ_E_IO, .phase = SQ_MIG_PHASE_COMMIT,
				    .session_id = 42 }, out;
	uint32_t mlen;

	snprintf(in.msg, sizeof(in.msg), "disk\nfull\033[2J");
	in.msg_len = (uint32_t)strlen(in.msg);
	size_t n = sq_mig_result_encode(&in, raw);
	assert_int_equal(n, SQ_MIG_RESULT_LEN + in.msg_len);
	assert_int_equal(sq_mig_result_decode_hdr(raw, &mlen), 0);
	assert_int_equal(mlen, in.msg_len);
	assert_int_equal(sq_mig_result_decode(raw, raw + SQ_MIG_RESULT_LEN, &out), 0);
	assert_int_equal(out.status, SQ_E_IO);
	assert_int_equal(out.phase, SQ_MIG_PHASE_COMMIT);
	assert_int_equal(out.session_id, 42);
	assert_string_equal(out.msg, "disk?full?[2J"); /* control bytes replaced */
	/* A message longer than the limit is cut when encoded... */
	memset(in.msg, 'x', sizeof(in.msg) - 1);
	in.msg_len = sizeof(in.msg) - 1;
	assert_int_equal(sq_mig_result_encode(&in, raw), SQ_MIG_RESULT_LEN + SQ_MIG_RESULT_MAX_MSG);
	/* ...and refused when a peer announces one, before it is read. */
	sq_mig_put32(raw + 24, SQ_MIG_RESULT_MAX_MSG + 1);
	assert_int_equal(sq_mig_result_decode_hdr(raw, &mlen), SQ_E_STREAM_OVERSIZE);
	assert_int_equal(mlen, 0);
	/* A flipped message byte, a positive status, an unknown phase. */
	n = sq_mig_result_encode(&in, raw);
	raw[SQ_MIG_RESULT_LEN + 3] ^= 1;
	assert_int_equal(sq_mig_result_decode(raw, raw + SQ_MIG_RESULT_LEN, &out), SQ_E_STREAM_CRC);
	in.status = 5;
	sq_mig_result_encode(&in, raw);
	assert_int_equal(sq_mig_result_decode_hdr(raw, &mlen), SQ_E_STREAM_MALFORMED);
	in.status = 0;
	in.phase = 4;
	sq_mig_result_encode(&in, raw);
	assert_int_equal(sq_mig_result_decode_hdr(raw, &mlen), SQ_E_STREAM_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_session),
		cmocka_unit_test(later_round_wins),
		cmocka_unit_test(bad_magic),
		cmocka_unit_test(wrong_version),
		cmocka_unit_test(hello_crc),
		cmocka_unit_test(offset_out_of_range),
		cmocka_unit_test(bad_crc),
		cmocka_unit_test(truncated_frame),
		cmocka_unit_test(oversized_length),
		cmocka_unit_test(dropped_mid_round),
		cmocka_unit_test(duplicate_final),
		cmocka_unit_test(totals_mismatch),
		cmocka_unit_test(order_violations),
		cmocka_unit_test(malformed_frames),
		cmocka_unit_test(sender_abort),
		cmocka_unit_test(geometry_mismatch),
		cmocka_unit_test(session_mismatch),
		cmocka_unit_test(file_sink),
		cmocka_unit_test(reply_format),
	};
	return cmocka_run_group_tests_name("migrate/stream", tests, setup, NULL);
}
