/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifest page sizes (docs/FORMAT.md): every power of two from 4 KiB to
 * 64 KiB round-trips, any region size (a partial last page) is described,
 * anything else is refused by the encoder (SQ_E_INVAL) and the decoder
 * (SQ_E_MANIFEST); an extent may reach the partial last page, not past it.
 * Verify checks the partial page's CRC over its bytes and finds stray data
 * in it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/manifest.h>
#include <squib/restore.h>

#include "helpers.h"

/* Encode @m, set its page size field to @ps, fix the CRC, decode. */
static int decode_with_page(const struct sq_manifest *m, uint32_t ps)
{
	void *buf;
	size_t len;
	struct sq_manifest *out = NULL;

	assert_int_equal(sq_manifest_encode(m, &buf, &len), 0);
	uint8_t *b = buf;
	for (int i = 0; i < 4; i++)
		b[16 + i] = (uint8_t)(ps >> (8 * i));
	uint64_t crc = sq_crc64(b, len - 8);
	for (int i = 0; i < 8; i++)
		b[len - 8 + (size_t)i] = (uint8_t)(crc >> (8 * i));
	int rc = sq_manifest_decode(b, len, &out);
	if (!rc) {
		assert_int_equal(out->page_size, ps);
		assert_int_equal(out->region_size, m->region_size);
	}
	sq_manifest_destroy(out);
	free(buf);
	return rc;
}

static void page_sizes(void **state)
{
	struct sq_run ext = { 0, 1 };
	uint64_t crc = 0;
	struct sq_manifest m = { .kind = SQ_SNAPSHOT_FULL, .page_size = 4096,
				 .region_size = 1u << 20, .nextents = 1, .extents = &ext,
				 .npages = 1, .crcs = &crc };
	void *buf;
	size_t len;

	(void)state;
	for (uint32_t ps = 4096; ps <= 65536; ps *= 2) {
		m.page_size = ps;
		assert_int_equal(decode_with_page(&m, ps), 0);
	}
	static const uint32_t bad[] = { 0, 1, 2048, 4095, 12288, 65535, 131072, 1u << 21 };
	m.page_size = 4096;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(decode_with_page(&m, bad[i]), SQ_E_MANIFEST);
		assert_non_null(strstr(sq_last_error(), "page size"));
		struct sq_manifest e = m;
		e.page_size = bad[i];
		assert_int_equal(sq_manifest_encode(&e, &buf, &len), SQ_E_INVAL);
	}
}

/* A region of 3 pages and 100 bytes: the fourth, partial page is a page. */
static void partial_last_page(void **state)
{
	struct sq_run ext = { 3, 1 };
	uint64_t crc = 0;
	struct sq_manifest m = { .kind = SQ_SNAPSHOT_FULL, .nextents = 1, .extents = &ext,
				 .npages = 1, .crcs = &crc };
	void *buf;
	size_t len;

	(void)state;
	for (uint32_t ps = 4096; ps <= 65536; ps *= 2) {
		m.page_size = ps;
		m.region_size = 3ull * ps + 100;
		ext = (struct sq_run){ 3, 1 };
		assert_int_equal(decode_with_page(&m, ps), 0);
		ext = (struct sq_run){ 4, 1 }; /* past the last page */
		assert_int_equal(sq_manifest_encode(&m, &buf, &len), SQ_E_INVAL);
		ext = (struct sq_run){ 3, 2 };
		assert_int_equal(sq_manifest_encode(&m, &buf, &len), SQ_E_INVAL);
		m.region_size = 3ull * ps; /* no partial page: page 3 is outside */
		ext = (struct sq_run){ 3, 1 };
		assert_int_equal(sq_manifest_encode(&m, &buf, &len), SQ_E_INVAL);
	}
}

/*
 * A 16 KiB-page manifest of a file of 2 pages and 1000 bytes: the CRC of
 * the partial page covers its 1000 bytes; a changed byte there fails the
 * verify, and so does data in it when the manifest lists it as a hole.
 */
static void verify_partial_page(void **state)
{
	char *dir = sq_test_tmpdir("manifest-pages");
	char mem[1100];
	const size_t size = 2 * 16384 + 1000;
	uint8_t *ram = malloc(size);
	uint64_t seed = sq_test_seed("manifest pages");
	struct sq_manifest *m;
	struct sq_verify_report r = SQ_INIT(struct sq_verify_report);

	(void)state;
	for (size_t i = 0; i < size; i++)
		ram[i] = (uint8_t)(sq_test_rand(&seed) | 1);
	snprintf(mem, sizeof(mem), "%s/v.mem", dir);
	assert_int_equal(sq_test_write_file(mem, ram, size), 0);
	assert_int_equal(sq_manifest_scan_paged(mem, SQ_SNAPSHOT_FULL, 16384, &m), 0);
	assert_int_equal(m->page_size, 16384);
	assert_int_equal(m->region_size, size);
	assert_int_equal(m->nextents, 1);
	assert_int_equal(m->extents[0].first_page, 0);
	assert_int_equal(m->extents[0].npages, 3);
	assert_true(m->crcs[2] == sq_crc64(ram + 2 * 16384, 1000));
	assert_true(m->crcs[0] == sq_crc64(ram, 16384));
	assert_int_equal(sq_memfile_verify(mem, m, 1, &r), 0);
	/* the partial page as a hole: its data is found */
	m->extents[0].npages = 2;
	m->npages = 2;
	assert_int_equal(sq_memfile_verify(mem, m, 1, &r), SQ_E_VERIFY);
	assert_int_equal(r.bad_page, 2);
	m->extents[0].npages = 3;
	m->npages = 3;
	/* a changed last byte */
	ram[size - 1] ^= 0x40;
	assert_int_equal(sq_test_write_file(mem, ram, size), 0);
	assert_int_equal(sq_memfile_verify(mem, m, 1, &r), SQ_E_VERIFY);
	assert_int_equal(r.bad_page, 2);
	/* a page size that is no manifest's */
	struct sq_manifest *x = NULL;
	assert_int_equal(sq_manifest_scan_paged(mem, SQ_SNAPSHOT_FULL, 8192 + 4096, &x),
			 SQ_E_INVAL);
	assert_null(x);
	sq_manifest_destroy(m);
	free(ram);
	sq_test_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(page_sizes),
		cmocka_unit_test(partial_last_page),
		cmocka_unit_test(verify_partial_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
