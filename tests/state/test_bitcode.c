/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bitcode primitives against the unit vectors (each rust_type built
 * from the primitives, encoded and decoded), the leniency table of the
 * format description (inputs the real decoder accepts or rejects although
 * no encoder produces them), the packing-mode boundaries, and the semver
 * parser of the header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/error.h>

#include "helpers.h"
#include "state/bitcode.h"
#include "state/state_internal.h"
#include "vectors.h"
#include "vjson.h"

static uint8_t *hex(const char *h, size_t *len)
{
	struct vj v = { .type = VJ_STR, .str = (char *)h, .len = strlen(h) };

	return vj_hex(&v, len);
}

/* Encode a unit vector's value with the primitives that its type maps to. */
static void encode_unit(struct bc_wbuf *w, const char *type, const struct vj *v)
{
	if (!strcmp(type, "u64")) {
		bc_put_u64(w, vj_u64(v));
	} else if (!strcmp(type, "semver::Version")) {
		bc_put_str1(w, v->str, v->len);
	} else if (!strcmp(type, "SnapshotHdr")) {
		const struct vj *ver = vj_get(v, "version");

		bc_put_u64(w, vj_u64(vj_get(v, "magic")));
		bc_put_str1(w, ver->str, ver->len);
	} else if (!strncmp(type, "struct U", 8)) {
		const struct vj *s = vj_get(v, "s");
		bool b = vj_get(v, "b")->b;

		bc_put_u64(w, vj_u64(vj_get(v, "a")));
		bc_put_bools(w, &b, sizeof(b), 1);
		bc_put_str1(w, s->str, s->len);
	} else if (!strcmp(type, "Option<u32>")) {
		uint8_t tag = v->type != VJ_NULL;
		uint32_t x = tag ? (uint32_t)vj_u64(v) : 0;

		bc_put_packed_bytes(w, &tag, 1);
		if (tag)
			bc_put_ints(w, &x, 4, 1, 4);
	} else if (!strcmp(type, "Vec<u64>")) {
		uint64_t n = v->len, *x = calloc(v->len + 1, 8);

		for (size_t i = 0; i < v->len; i++)
			x[i] = vj_u64(&v->items[i]);
		bc_put_length(w, n);
		bc_put_ints(w, x, 8, v->len, 8);
		free(x);
	} else if (!strcmp(type, "Vec<Option<u32>>")) {
		uint8_t *tags = calloc(v->len + 1, 1);
		uint32_t *x = calloc(v->len + 1, 4);
		size_t k = 0;

		for (size_t i = 0; i < v->len; i++) {
			tags[i] = v->items[i].type != VJ_NULL;
			if (tags[i])
				x[k++] = (uint32_t)vj_u64(&v->items[i]);
		}
		bc_put_length(w, v->len);
		bc_put_packed_bytes(w, tags, v->len);
		bc_put_ints(w, x, 4, k, 4);
		free(tags);
		free(x);
	} else if (!strcmp(type, "Vec<u8>")) {
		size_t n;
		uint8_t *b = vj_hex(v, &n);

		bc_put_length(w, n);
		bc_put_packed_bytes(w, b, n);
		free(b);
	} else if (!strcmp(type, "Vec<String>")) {
		uint64_t *lens = calloc(v->len + 1, 8);

		bc_put_length(w, v->len);
		for (size_t i = 0; i < v->len; i++)
			lens[i] = v->items[i].len;
		bc_put_lengths(w, lens, v->len);
		for (size_t i = 0; i < v->len; i++)
			bc_put_raw(w, v->items[i].str, v->items[i].len);
		free(lens);
	} else if (!strcmp(type, "BTreeMap<u64, u64>")) {
		struct sq_sysreg *p = calloc(v->len + 1, sizeof(*p));

		for (size_t i = 0; i < v->len; i++) {
			p[i].key = vj_u64(&v->items[i].items[0]);
			p[i].value = vj_u64(&v->items[i].items[1]);
		}
		bc_put_length(w, v->len);
		bc_put_ints(w, &p[0].key, sizeof(*p), v->len, 8);
		bc_put_ints(w, &p[0].value, sizeof(*p), v->len, 8);
		free(p);
	} else if (!strcmp(type, "Vec<PsciVcpuState>")) {
		uint8_t *t = calloc(v->len + 1, 1);

		for (size_t i = 0; i < v->len; i++)
			t[i] = !strcmp(v->items[i].str, "On") ? 0 : !strcmp(v->items[i].str, "Off") ? 1 : 2;
		bc_put_length(w, v->len);
		bc_put_packed_bytes(w, t, v->len);
		free(t);
	} else {
		fail_msg("unit vector type %s has no mapping", type);
	}
}

/* Decode a unit vector and compare with its value; returns 0 when equal. */
static int decode_unit(const uint8_t *b, size_t len, const char *type, const struct vj *v)
{
	struct bc_rbuf r;
	int bad = 0;

	bc_rbuf_init(&r, b, len);
	if (!strcmp(type, "u64")) {
		uint64_t x;

		bad = bc_get_u64(&r, &x) || x != vj_u64(v);
	} else if (!strcmp(type, "Vec<u64>") || !strcmp(type, "Vec<u8>") ||
		   !strcmp(type, "Vec<PsciVcpuState>")) {
		uint64_t n;

		bad = bc_get_length(&r, &n);
		if (!bad && !strcmp(type, "Vec<u64>")) {
			uint64_t *x = calloc(n + 1, 8);

			bad = n != v->len || bc_get_ints(&r, x, 8, n, 8);
			for (size_t i = 0; !bad && i < n; i++)
				bad = x[i] != vj_u64(&v->items[i]);
			free(x);
		} else if (!bad) {
			uint8_t *x = calloc(n + 1, 1);
			size_t wl = 0;
			uint8_t *want = !strcmp(type, "Vec<u8>") ? vj_hex(v, &wl) : NULL;

			bad = bc_get_packed_bytes(&r, x, n);
			if (want)
				bad = bad || wl != n || memcmp(x, want, n);
			else
				for (size_t i = 0; !bad && i < n; i++)
					bad = x[i] != (!strcmp(v->items[i].str, "On")	? 0 :
						       !strcmp(v->items[i].str, "Off") ? 1 : 2);
			free(want);
			free(x);
		}
	} else if (!strcmp(type, "Vec<String>")) {
		uint64_t n, sum, *lens;
		const uint8_t *bytes;

		bad = bc_get_length(&r, &n);
		lens = calloc(n + 1, 8);
		bad = bad || bc_get_lengths(&r, lens, n, &sum) ||
		      bc_get_str_bytes(&r, lens, n, sum, &bytes);
		for (size_t i = 0, o = 0; !bad && i < n; o += lens[i], i++)
			bad = lens[i] != v->items[i].len || memcmp(bytes + o, v->items[i].str, lens[i]);
		free(lens);
	} else {
		bc_rbuf_release(&r);
		return 0; /* the other types are covered by the schema decoder */
	}
	bad = bad || bc_left(&r) != 0;
	bc_rbuf_release(&r);
	return bad;
}

static void unit_vectors(void **state)
{
	struct vec_list l;

	(void)state;
	assert_int_equal(vec_list(&l, "unit"), 0);
	assert_true(l.n >= 17);
	for (int i = 0; i < l.n; i++) {
		char path[512];
		struct vj *j;
		struct bc_wbuf w;
		unsigned char *body = NULL;
		size_t blen = 0;

		vec_path(path, sizeof(path), l.name[i], ".json");
		j = vj_load(path);
		assert_non_null(j);
		const char *type = vj_get(j, "rust_type")->str;
		assert_int_equal(vec_read(l.name[i], ".body.bin", &body, &blen), 0);
		bc_wbuf_init(&w, 0);
		encode_unit(&w, type, vj_get(j, "value"));
		assert_int_equal(w.err, 0);
		if (w.len != blen || memcmp(w.p, body, blen))
			fail_msg("%s (%s): encoding differs", l.name[i], type);
		if (decode_unit(body, blen, type, vj_get(j, "value")))
			fail_msg("%s (%s): decoding differs", l.name[i], type);
		bc_wbuf_release(&w);
		free(body);
		vj_free(j);
	}
}

/* The format description's table of inputs tried against the real decoder. */
static void lenient_decoder_table(void **state)
{
	size_t n;
	uint8_t *b;
	struct bc_rbuf r = { 0 };
	uint64_t x;
	uint32_t y;
	bool f;
	uint8_t v[8];

	(void)state;
#define IN(h) (b = hex(h, &n), bc_rbuf_release(&r), bc_rbuf_init(&r, b, n))
	IN("0005000000000000" "00"); /* 8-byte form of 5 */
	assert_int_equal(bc_get_u64(&r, &x), 0);
	assert_int_equal(x, 5);
	free(b);
	IN("010a00000000000000" "05000000"); /* offset + 4-byte */
	assert_int_equal(bc_get_u64(&r, &x), 0);
	assert_int_equal(x, 15);
	assert_int_equal(bc_left(&r), 0);
	free(b);
	IN("05ffffffffffffffff02"); /* min = MAX, delta 2: wraps to 1 */
	assert_int_equal(bc_get_u64(&r, &x), 0);
	assert_int_equal(x, 1);
	free(b);
	IN("0500");
	assert_int_equal(bc_get_ints(&r, &y, 4, 1, 4), -1);
	assert_string_equal(r.err, "invalid packing");
	free(b);
	IN("0700");
	assert_int_equal(bc_get_u64(&r, &x), -1);
	assert_string_equal(r.err, "invalid packing");
	free(b);
	IN("02");
	assert_int_equal(bc_get_bools(&r, &f, sizeof(f), 1), 0);
	assert_false(f);
	free(b);
	IN("ff");
	assert_int_equal(bc_get_bools(&r, &f, sizeof(f), 1), 0);
	assert_true(f);
	free(b);
	IN("03090705"); /* Vec<u8> n = 3 in offset mode */
	assert_int_equal(bc_get_length(&r, &x), 0);
	assert_int_equal(x, 3);
	assert_int_equal(bc_get_packed_bytes(&r, v, 3), 0);
	assert_int_equal(v[0], 8);
	assert_int_equal(v[1], 7);
	assert_int_equal(v[2], 8);
	free(b);
	IN("0508ff"); /* 3-state byte 255: digits 0,1,1,0,0 (high part dropped) */
	assert_int_equal(bc_get_length(&r, &x), 0);
	assert_int_equal(bc_get_packed_bytes(&r, v, 5), 0);
	assert_memory_equal(v, "\0\1\1\0\0", 5);
	free(b);
	IN("030b00");
	assert_int_equal(bc_get_length(&r, &x), 0);
	assert_int_equal(bc_get_packed_bytes(&r, v, 3), -1);
	assert_string_equal(r.err, "invalid packing");
	free(b);
	IN("ff0603000a141e"); /* length 3 through the escape */
	assert_int_equal(bc_get_length(&r, &x), 0);
	assert_int_equal(x, 3);
	assert_int_equal(bc_get_packed_bytes(&r, v, 3), 0);
	assert_memory_equal(v, "\x0a\x14\x1e", 3);
	assert_int_equal(bc_left(&r), 0);
	free(b);
	IN("ff00ffffffffffffff07"); /* huge length */
	assert_int_equal(bc_get_length(&r, &x), -1);
	assert_string_equal(r.err, "huge length");
	free(b);
	IN("020201e29883"); /* Vec<String> split inside U+2603 */
	{
		uint64_t lens[2], sum;
		const uint8_t *bytes;

		assert_int_equal(bc_get_length(&r, &x), 0);
		assert_int_equal(bc_get_lengths(&r, lens, 2, &sum), 0);
		assert_int_equal(bc_get_str_bytes(&r, lens, 2, sum, &bytes), -1);
		assert_string_equal(r.err, "invalid utf8");
	}
	free(b);
#undef IN
	bc_rbuf_release(&r);
}

/* Encode then decode @n values; the encoding must be @want (hex) when given. */
static void ints_roundtrip(const uint64_t *v, size_t n, int type_bytes, const char *want)
{
	struct bc_wbuf w;
	struct bc_rbuf r;
	uint64_t out[64];

	bc_wbuf_init(&w, 0);
	bc_put_ints(&w, v, 8, n, type_bytes == 8 ? 8 : 8);
	assert_int_equal(w.err, 0);
	if (want) {
		size_t wl;
		uint8_t *wb = hex(want, &wl);

		assert_int_equal(w.len, wl);
		assert_memory_equal(w.p, wb, wl);
		free(wb);
	}
	bc_rbuf_init(&r, w.p, w.len);
	assert_int_equal(bc_get_ints(&r, out, 8, n, 8), 0);
	assert_int_equal(bc_left(&r), 0);
	assert_memory_equal(out, v, n * 8);
	/* Every proper prefix fails (bc_rbuf_release keeps r reusable). */
	for (size_t k = 0; k < w.len; k++) {
		bc_rbuf_release(&r);
		bc_rbuf_init(&r, w.p, k);
		assert_int_equal(bc_get_ints(&r, out, 8, n, 8), -1);
	}
	bc_rbuf_release(&r);
	bc_wbuf_release(&w);
}

/* The examples of the format description (section 9.1). */
static void packing_examples(void **state)
{
	(void)state;
	const uint64_t x3[8] = { 65535, 65536, 65535, 65536, 65535, 65536, 65535, 65536 };
	ints_roundtrip(x3, 8, 8, "05ffff000000000000" "0aaa");
	const uint64_t x5[8] = { UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 2, UINT64_MAX - 3,
				 UINT64_MAX - 4, UINT64_MAX - 5, UINT64_MAX - 6, UINT64_MAX - 7 };
	ints_roundtrip(x5, 8, 8, "05f8ffffffffffffff" "0267452301");
	const uint64_t x6[8] = { 200, 201, 202, 203, 204, 205, 206, 207 };
	ints_roundtrip(x6, 8, 8, "06" "01c810325476");
	const uint64_t x7[8] = { 0, 1, 2, 3, 0, 1, 2, 3 };
	ints_roundtrip(x7, 8, 8, "06" "06e4e4");
	const uint64_t x8[8] = { 0, 1, 2, 0, 1, 2, 0, 1 };
	ints_roundtrip(x8, 8, 8, "06" "08660b");
	const uint64_t x10[8] = { 10, 11, 12, 13, 14, 15, 10, 11 };
	ints_roundtrip(x10, 8, 8, "06" "030a4ecf06");
	const uint64_t x11[8] = { 256, 256, 256, 256, 256, 256, 256, 256 };
	ints_roundtrip(x11, 8, 8, "050001000000000000" "0a00");
	const uint64_t five[5] = { 1000, 1001, 1002, 1003, 1004 };
	ints_roundtrip(five, 5, 8, "04e803e903ea03eb03ec03");
	const uint64_t six[6] = { 1000, 1001, 1002, 1003, 1004, 1005 };
	ints_roundtrip(six, 6, 8, "05e803000000000000044ecf");
	const uint64_t one[1] = { 128 };
	ints_roundtrip(one, 1, 8, "0680");

	/* Lengths: [0,300,0] and [70000,4096,255] */
	struct bc_wbuf w;
	const uint64_t l1[3] = { 0, 300, 0 }, l2[3] = { 70000, 4096, 255 };
	size_t wl;
	uint8_t *wb;

	bc_wbuf_init(&w, 0);
	bc_put_lengths(&w, l1, 3);
	wb = hex("0000ff00" "042c01", &wl);
	assert_int_equal(w.len, wl);
	assert_memory_equal(w.p, wb, wl);
	free(wb);
	w.len = 0;
	bc_put_lengths(&w, l2, 3);
	wb = hex("00ffffff" "02" "70110100" "00100000" "ff000000", &wl);
	assert_int_equal(w.len, wl);
	assert_memory_equal(w.p, wb, wl);
	free(wb);
	/* 32 maps of 37 entries: offset mode, no large part. */
	uint64_t l3[32];
	for (int i = 0; i < 32; i++)
		l3[i] = 37;
	w.len = 0;
	bc_put_lengths(&w, l3, 32);
	wb = hex("09" "25" "00000000", &wl);
	assert_int_equal(w.len, wl);
	assert_memory_equal(w.p, wb, wl);
	free(wb);
	bc_wbuf_release(&w);
}

/* Random columns of every shape round-trip; the decoder never over-reads. */
static void random_columns_roundtrip(void **state)
{
	uint64_t seed = sq_test_seed("random_columns_roundtrip");
	uint64_t v[64], out[64];
	uint8_t bv[300], bo[300];

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = sq_test_rand(&seed) % 64 + 1;
		int shift = (int)(sq_test_rand(&seed) % 64);
		uint64_t base = sq_test_rand(&seed) >> (sq_test_rand(&seed) % 64);
		struct bc_wbuf w;
		struct bc_rbuf r;

		for (size_t i = 0; i < n; i++)
			v[i] = base + (sq_test_rand(&seed) >> shift);
		bc_wbuf_init(&w, 0);
		bc_put_ints(&w, v, 8, n, 8);
		bc_rbuf_init(&r, w.p, w.len);
		assert_int_equal(bc_get_ints(&r, out, 8, n, 8), 0);
		assert_int_equal(bc_left(&r), 0);
		assert_memory_equal(out, v, n * 8);
		bc_rbuf_release(&r);

		size_t m = sq_test_rand(&seed) % 300;
		unsigned range = (unsigned)(sq_test_rand(&seed) % 257);
		uint8_t lo = (uint8_t)sq_test_rand(&seed);
		for (size_t i = 0; i < m; i++)
			bv[i] = (uint8_t)(lo + (range ? sq_test_rand(&seed) % range : 0));
		w.len = 0;
		bc_put_packed_bytes(&w, bv, m);
		bc_rbuf_init(&r, w.p, w.len);
		assert_int_equal(bc_get_packed_bytes(&r, bo, m), 0);
		assert_int_equal(bc_left(&r), 0);
		if (m)
			assert_memory_equal(bo, bv, m);
		bc_rbuf_release(&r);
		bc_wbuf_release(&w);
	}
}

static void semver_parsing(void **state)
{
	static const struct {
		const char *text;
		const char *err; /* NULL = valid */
	} cases[] = {
		{ "5.0.0", NULL },
		{ "5.0.12345", NULL },
		{ "5.0.0-rc.1+build.7", NULL },
		{ "1.2.3-alpha.0.x-y+001.sha", NULL },
		{ "5x0.0", "unexpected character 'x' after major version number" },
		{ "", "empty string, expected a semver version" },
		{ "05.0.0", "invalid leading zero in major version number" },
		{ "5.0", "unexpected end of input while parsing patch version number" },
		{ "5.0.", "unexpected end of input while parsing patch version number" },
		{ "5..0", "unexpected character '.' while parsing minor version number" },
		{ "5.0.0-", "empty identifier segment in pre-release identifier" },
		{ "5.0.0-01", "invalid leading zero in pre-release identifier" },
		{ "5.0.0-a..b", "empty identifier segment in pre-release identifier" },
		{ "5.0.0+", "empty identifier segment in build metadata" },
		{ "5.0.0 ", "unexpected character ' ' after patch version number" },
		{ "18446744073709551616.0.0", "value of major version number exceeds u64::MAX" },
	};
	char err[128];
	uint64_t a, b, c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = sq_semver_parse(cases[i].text, strlen(cases[i].text), &a, &b, &c, err,
					 sizeof(err));

		if (!cases[i].err) {
			if (rc)
				fail_msg("\"%s\" rejected: %s", cases[i].text, err);
		} else {
			assert_int_equal(rc, -1);
			if (strcmp(err, cases[i].err))
				fail_msg("\"%s\": \"%s\", want \"%s\"", cases[i].text, err, cases[i].err);
		}
	}
	assert_int_equal(sq_semver_parse("5.1.7", 5, &a, &b, &c, err, sizeof(err)), 0);
	assert_int_equal(a, 5);
	assert_int_equal(b, 1);
	assert_int_equal(c, 7);
}

static void utf8_validation(void **state)
{
	(void)state;
	assert_true(bc_utf8_valid((const uint8_t *)"", 0));
	assert_true(bc_utf8_valid((const uint8_t *)"a\0b", 3));
	assert_true(bc_utf8_valid((const uint8_t *)"\xe2\x98\x83\xf0\x9f\x98\x80", 7));
	assert_false(bc_utf8_valid((const uint8_t *)"\xff", 1));
	assert_false(bc_utf8_valid((const uint8_t *)"\xc0\x80", 2));        /* overlong */
	assert_false(bc_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));    /* surrogate */
	assert_false(bc_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(bc_utf8_valid((const uint8_t *)"\xe2\x98", 2));        /* cut */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unit_vectors),
		cmocka_unit_test(lenient_decoder_table),
		cmocka_unit_test(packing_examples),
		cmocka_unit_test(random_columns_roundtrip),
		cmocka_unit_test(semver_parsing),
		cmocka_unit_test(utf8_validation),
	};

	return cmocka_run_group_tests_name("state/bitcode", tests, NULL, NULL);
}
