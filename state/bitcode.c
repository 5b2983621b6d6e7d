/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/bitcode.c - primitive column codecs of bitcode 0.6 (serde mode).
 *
 * Invariants:
 *  - Encoders make exactly the choices bitcode makes (canonical output):
 *    byte packing picks the fewest states, offset mode only when it needs
 *    strictly fewer states / a strictly narrower width and n > 5.
 *  - Decoders accept everything bitcode accepts (any valid header, unused
 *    padding digits, wrapping minimum) and nothing else.
 *  - A reader never looks outside [p, end): every multi-byte access is
 *    preceded by a length check, in a form that cannot overflow
 *    (n > left / width rather than n * width > left).
 *  - All values are little-endian on the wire, independent of the host.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>

#include "core/endian.h"
#include "state/bitcode.h"

/* ============================================================ writer */

void bc_wbuf_init(struct bc_wbuf *w, size_t hint)
{
	memset(w, 0, sizeof(*w));
	if (hint) {
		w->p = malloc(hint);
		if (w->p)
			w->cap = hint;
		else
			w->err = SQ_E_NOMEM;
	}
}

void bc_wbuf_release(struct bc_wbuf *w)
{
	free(w->p);
	free(w->scratch);
	memset(w, 0, sizeof(*w));
}

uint8_t *bc_reserve(struct bc_wbuf *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;

		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->err = SQ_E_NOMEM;
				return NULL;
			}
			cap *= 2;
		}
		uint8_t *p = realloc(w->p, cap);
		if (!p) {
			w->err = SQ_E_NOMEM;
			return NULL;
		}
		w->p = p;
		w->cap = cap;
	}
	return w->p + w->len;
}

void bc_put_raw(struct bc_wbuf *w, const void *src, size_t n)
{
	uint8_t *d = bc_reserve(w, n);

	if (!d)
		return;
	if (n)
		memcpy(d, src, n);
	w->len += n;
}

/*
 * Little-endian stores and loads of 1, 2, 4 or 8 bytes (core/endian.h: one
 * unaligned move each on little-endian hosts).
 */
static inline void put_le(uint8_t *d, uint64_t v, int width)
{
	switch (width) {
	case 8: sq_le_put64(d, v); return;
	case 4: sq_le_put32(d, (uint32_t)v); return;
	case 2: sq_le_put16(d, (uint16_t)v); return;
	default: d[0] = (uint8_t)v; return;
	}
}

static inline uint64_t get_le(const uint8_t *s, int width)
{
	switch (width) {
	case 8: return sq_le_get64(s);
	case 4: return sq_le_get32(s);
	case 2: return sq_le_get16(s);
	default: return s[0];
	}
}

/* Packing code -> values per byte (states: 256, 16, 6, 4, 3, 2). */
static const unsigned pack_per_byte[6] = { 1, 2, 3, 4, 5, 8 };

/* The code of the smallest packing that holds values 0..m. */
static int pack_code_for(unsigned m)
{
	if (m <= 1)
		return 5;
	if (m == 2)
		return 4;
	if (m == 3)
		return 3;
	if (m <= 5)
		return 2;
	if (m <= 15)
		return 1;
	return 0;
}

/* Pack with a constant @states / @per (inlined per packing code). */
static inline __attribute__((always_inline)) void pack_const(uint8_t *d, const uint8_t *v,
							      size_t n, uint8_t sub,
							      unsigned states, unsigned per)
{
	size_t full = n / per * per, i;

	for (i = 0; i < full; i += per) {
		unsigned acc = 0, mult = 1;

		for (unsigned k = 0; k < per; k++) {
			acc += (unsigned)(uint8_t)(v[i + k] - sub) * mult;
			mult *= states;
		}
		*d++ = (uint8_t)acc;
	}
	if (i < n) {
		unsigned acc = 0, mult = 1;

		for (; i < n; i++) {
			acc += (unsigned)(uint8_t)(v[i] - sub) * mult;
			mult *= states;
		}
		*d = (uint8_t)acc;
	}
}

static void pack_digits(uint8_t *d, const uint8_t *v, size_t n, uint8_t sub, int code)
{
	switch (code) {
	case 1: pack_const(d, v, n, sub, 16, 2); break;
	case 2: pack_const(d, v, n, sub, 6, 3); break;
	case 3: pack_const(d, v, n, sub, 4, 4); break;
	case 4: pack_const(d, v, n, sub, 3, 5); break;
	default: pack_const(d, v, n, sub, 2, 8); break;
	}
}

/* Unpack with a constant @states / @per; adds @min (wrapping). */
static inline __attribute__((always_inline)) void unpack_const(uint8_t *out, const uint8_t *s,
								size_t n, uint8_t min,
								unsigned states, unsigned per)
{
	size_t i = 0;

	for (; i + per <= n; s++) {
		unsigned b = *s;

		for (unsigned k = 0; k < per; k++, i++) {
			out[i] = (uint8_t)(b % states + min);
			b /= states;
		}
	}
	if (i < n) {
		unsigned b = *s;

		for (; i < n; i++) {
			out[i] = (uint8_t)(b % states + min);
			b /= states;
		}
	}
}

static void unpack_digits(uint8_t *out, const uint8_t *s, size_t n, uint8_t min, int code)
{
	switch (code) {
	case 1: unpack_const(out, s, n, min, 16, 2); break;
	case 2: unpack_const(out, s, n, min, 6, 3); break;
	case 3: unpack_const(out, s, n, min, 4, 4); break;
	case 4: unpack_const(out, s, n, min, 3, 5); break;
	default: unpack_const(out, s, n, min, 2, 8); break;
	}
}

/* Byte packing of n >= 3 values whose minimum and maximum are known. */
static void put_packed_range(struct bc_wbuf *w, const uint8_t *v, size_t n, uint8_t lo,
			     uint8_t hi)
{
	int basic = pack_code_for(hi), offset = pack_code_for((unsigned)(hi - lo));
	/* More states = smaller code; offset must need strictly fewer. */
	if (offset > basic && n > 5) {
		size_t payload = (n + pack_per_byte[offset] - 1) / pack_per_byte[offset];
		uint8_t *d = bc_reserve(w, 2 + payload);

		if (!d)
			return;
		d[0] = (uint8_t)(2 * offset - 1);
		d[1] = lo;
		pack_digits(d + 2, v, n, lo, offset);
		w->len += 2 + payload;
		return;
	}
	size_t payload = (n + pack_per_byte[basic] - 1) / pack_per_byte[basic];
	uint8_t *d = bc_reserve(w, 1 + payload);

	if (!d)
		return;
	d[0] = (uint8_t)(2 * basic);
	if (basic == 0)
		memcpy(d + 1, v, n);
	else
		pack_digits(d + 1, v, n, 0, basic);
	w->len += 1 + payload;
}

void bc_put_packed_bytes(struct bc_wbuf *w, const uint8_t *v, size_t n)
{
	if (n <= 2) {
		bc_put_raw(w, v, n);
		return;
	}
	uint8_t lo = v[0], hi = v[0];

	for (size_t i = 1; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	put_packed_range(w, v, n, lo, hi);
}

static uint8_t *wscratch(struct bc_wbuf *w, size_t n)
{
	if (n > w->scratch_cap) {
		uint8_t *p = realloc(w->scratch, n);

		if (!p) {
			w->err = SQ_E_NOMEM;
			return NULL;
		}
		w->scratch = p;
		w->scratch_cap = n;
	}
	return w->scratch;
}

static inline __attribute__((always_inline)) uint64_t load_int(const void *base, size_t stride,
								size_t i, int type_bytes)
{
	const uint8_t *p = (const uint8_t *)base + i * stride;

	if (type_bytes == 8)
		return *(const uint64_t *)(const void *)p;
	return *(const uint32_t *)(const void *)p;
}

static int width_for(uint64_t m)
{
	if (m <= 0xFF)
		return 1;
	if (m <= 0xFFFF)
		return 2;
	if (m <= 0xFFFFFFFFull)
		return 4;
	return 8;
}

static int halvings(int type_bytes, int width)
{
	int h = 0;

	while ((type_bytes >> h) > width)
		h++;
	return h;
}

/* Store n values of one width: the width is a constant in each branch. */
static inline __attribute__((always_inline)) void store_all(uint8_t *d, const void *base,
							     size_t stride, size_t n,
							     int type_bytes, uint64_t sub,
							     int width)
{
	for (size_t i = 0; i < n; i++, d += width)
		put_le(d, load_int(base, stride, i, type_bytes) - sub, width);
}

/* Write @n >= 1 values whose minimum and maximum are @lo and @hi. */
static inline __attribute__((always_inline)) void put_ints_range(struct bc_wbuf *w,
								  const void *base, size_t stride,
								  size_t n, int type_bytes,
								  uint64_t lo, uint64_t hi)
{
	int basic = width_for(hi), offset = width_for(hi - lo);
	uint64_t sub = 0;
	int width = basic;
	uint8_t *d;

	if (offset < basic && n > 5) {
		width = offset;
		sub = lo;
		d = bc_reserve(w, 1 + (size_t)type_bytes);
		if (!d)
			return;
		d[0] = (uint8_t)(2 * halvings(type_bytes, width) - 1);
		put_le(d + 1, lo, type_bytes);
		w->len += 1 + (size_t)type_bytes;
	} else {
		d = bc_reserve(w, 1);
		if (!d)
			return;
		d[0] = (uint8_t)(2 * halvings(type_bytes, width));
		w->len++;
	}
	if (width == 1 && hi == sub) {
		/* Every byte is 0 (a zero or constant column): byte packing
		 * would choose 2 states, header 10 then all-zero bits. */
		size_t len = n <= 2 ? n : 1 + (n + 7) / 8;

		d = bc_reserve(w, len);
		if (!d)
			return;
		memset(d, 0, len);
		if (n > 2)
			d[0] = 10;
		w->len += len;
		return;
	}
	if (width == 1) {
		uint8_t one[2];
		uint8_t *s = n <= 2 ? one : wscratch(w, n);

		if (!s)
			return;
		for (size_t i = 0; i < n; i++)
			s[i] = (uint8_t)(load_int(base, stride, i, type_bytes) - sub);
		if (n <= 2)
			bc_put_raw(w, s, n);
		else /* the bytes' range is the values' range, shifted */
			put_packed_range(w, s, n, (uint8_t)(lo - sub), (uint8_t)(hi - sub));
		return;
	}
	if (n > (SIZE_MAX - w->len) / (size_t)width) {
		w->err = SQ_E_NOMEM;
		return;
	}
	d = bc_reserve(w, n * (size_t)width);
	if (!d)
		return;
	if (width == 2)
		store_all(d, base, stride, n, type_bytes, sub, 2);
	else if (width == 4)
		store_all(d, base, stride, n, type_bytes, sub, 4);
	else
		store_all(d, base, stride, n, type_bytes, sub, 8);
	w->len += n * (size_t)width;
}

static inline __attribute__((always_inline)) void put_ints_t(struct bc_wbuf *w, const void *base,
							      size_t stride, size_t n,
							      int type_bytes)
{
	if (n == 0)
		return;
	/* Two independent min/max chains (even and odd indices) halve the
	 * compare-select latency the scan is bound by. */
	uint64_t lo = load_int(base, stride, 0, type_bytes), hi = lo, lo2 = lo, hi2 = lo;
	size_t i = 1;

	for (; i + 1 < n; i += 2) {
		uint64_t a = load_int(base, stride, i, type_bytes);
		uint64_t b = load_int(base, stride, i + 1, type_bytes);

		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
		lo2 = b < lo2 ? b : lo2;
		hi2 = b > hi2 ? b : hi2;
	}
	if (i < n) {
		uint64_t a = load_int(base, stride, i, type_bytes);

		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
	}
	lo = lo2 < lo ? lo2 : lo;
	hi = hi2 > hi ? hi2 : hi;
	put_ints_range(w, base, stride, n, type_bytes, lo, hi);
}

void bc_put_ints(struct bc_wbuf *w, const void *base, size_t stride, size_t n, int type_bytes)
{
	if (type_bytes == 8)
		put_ints_t(w, base, stride, n, 8);
	else
		put_ints_t(w, base, stride, n, 4);
}


void bc_put_bools(struct bc_wbuf *w, const bool *base, size_t stride, size_t n)
{
	size_t bytes = (n + 7) / 8;
	uint8_t *d = bc_reserve(w, bytes);

	if (!d)
		return;
	memset(d, 0, bytes);
	for (size_t i = 0; i < n; i++) {
		const bool *b = (const bool *)(const void *)((const uint8_t *)base + i * stride);

		if (*b)
			d[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	w->len += bytes;
}

void bc_put_lengths(struct bc_wbuf *w, const uint64_t *lens, size_t n)
{
	uint8_t one[2] = { 0, 0 };
	uint8_t *small = n <= sizeof(one) ? one : wscratch(w, n);
	size_t large = 0;

	if (!small)
		return;
	for (size_t i = 0; i < n; i++) {
		small[i] = lens[i] < 255 ? (uint8_t)lens[i] : 255;
		large += lens[i] >= 255;
	}
	bc_put_packed_bytes(w, small, n);
	if (!large)
		return;
	uint64_t *big = malloc(large * sizeof(*big));
	if (!big) {
		w->err = SQ_E_NOMEM;
		return;
	}
	for (size_t i = 0, j = 0; i < n; i++)
		if (lens[i] >= 255)
			big[j++] = lens[i];
	bc_put_ints(w, big, sizeof(*big), large, 8);
	free(big);
}

void bc_put_str1(struct bc_wbuf *w, const char *s, size_t len)
{
	bc_put_length(w, len);
	bc_put_raw(w, s, len);
}

/* ============================================================ reader */

const char bc_err_nomem[] = "out of memory";

void bc_rbuf_init(struct bc_rbuf *r, const uint8_t *p, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->end = p + len;
}

void bc_rbuf_release(struct bc_rbuf *r)
{
	free(r->scratch);
	r->scratch = NULL;
	r->scratch_cap = 0;
}

int bc_fail(struct bc_rbuf *r, const char *why)
{
	if (!r->err)
		r->err = why;
	return -1;
}

int bc_take(struct bc_rbuf *r, size_t n, const uint8_t **out)
{
	if (n > bc_left(r))
		return bc_fail(r, "EOF");
	*out = r->p;
	r->p += n;
	return 0;
}

static uint8_t *rscratch(struct bc_rbuf *r, size_t n)
{
	if (n > r->scratch_cap) {
		uint8_t *p = realloc(r->scratch, n);

		if (!p) {
			bc_fail(r, bc_err_nomem);
			return NULL;
		}
		r->scratch = p;
		r->scratch_cap = n;
	}
	return r->scratch;
}

size_t bc_min_packed_size(size_t n)
{
	return n <= 2 ? n : 1 + (n + 7) / 8;
}

size_t bc_min_int_size(size_t n)
{
	return 1 + bc_min_packed_size(n);
}

int bc_get_packed_bytes(struct bc_rbuf *r, uint8_t *out, size_t n)
{
	const uint8_t *s;

	if (n <= 2) {
		if (bc_take(r, n, &s))
			return -1;
		if (n)
			memcpy(out, s, n);
		return 0;
	}
	if (bc_take(r, 1, &s))
		return -1;
	unsigned header = s[0];
	if (header > 10)
		return bc_fail(r, "invalid packing");
	int code = (int)(header + 1) / 2;
	uint8_t min = 0;

	if (header & 1) {
		if (bc_take(r, 1, &s))
			return -1;
		min = s[0];
	}
	unsigned per = pack_per_byte[code];
	size_t payload = n / per + (n % per != 0);

	if (bc_take(r, payload, &s))
		return -1;
	if (code == 0)
		memcpy(out, s, n);
	else
		unpack_digits(out, s, n, min, code);
	return 0;
}

static inline __attribute__((always_inline)) void store_int(void *base, size_t stride, size_t i,
							     int type_bytes, uint64_t v)
{
	uint8_t *p = (uint8_t *)base + i * stride;

	if (type_bytes == 8)
		*(uint64_t *)(void *)p = v;
	else
		*(uint32_t *)(void *)p = (uint32_t)v;
}

static inline __attribute__((always_inline)) void load_all(void *base, size_t stride, size_t n,
							    int type_bytes, const uint8_t *s,
							    uint64_t min, int width)
{
	for (size_t i = 0; i < n; i++, s += width)
		store_int(base, stride, i, type_bytes, get_le(s, width) + min);
}

static inline __attribute__((always_inline)) int get_ints_t(struct bc_rbuf *r, void *base,
							     size_t stride, size_t n,
							     int type_bytes)
{
	const uint8_t *s;

	if (n == 0)
		return 0;
	if (bc_take(r, 1, &s))
		return -1;
	unsigned header = s[0];
	unsigned h = (header + 1) / 2;
	unsigned max_h = type_bytes == 8 ? 3 : 2;

	if (h > max_h)
		return bc_fail(r, "invalid packing");
	int width = type_bytes >> h;
	uint64_t min = 0;

	if (header & 1) {
		if (bc_take(r, (size_t)type_bytes, &s))
			return -1;
		min = get_le(s, type_bytes);
	}
	if (width == 1) {
		uint8_t one[2];
		uint8_t *tmp;

		if (bc_min_packed_size(n) > bc_left(r))
			return bc_fail(r, "EOF");
		tmp = n <= 2 ? one : rscratch(r, n);
		if (!tmp || bc_get_packed_bytes(r, tmp, n))
			return -1;
		for (size_t i = 0; i < n; i++)
			store_int(base, stride, i, type_bytes, tmp[i] + min);
		return 0;
	}
	if (n > bc_left(r) / (size_t)width)
		return bc_fail(r, "EOF");
	s = r->p;
	r->p += n * (size_t)width;
	if (width == 2)
		load_all(base, stride, n, type_bytes, s, min, 2);
	else if (width == 4)
		load_all(base, stride, n, type_bytes, s, min, 4);
	else
		load_all(base, stride, n, type_bytes, s, min, 8);
	return 0;
}

int bc_get_ints(struct bc_rbuf *r, void *base, size_t stride, size_t n, int type_bytes)
{
	if (type_bytes == 8)
		return get_ints_t(r, base, stride, n, 8);
	return get_ints_t(r, base, stride, n, 4);
}

int bc_get_bools(struct bc_rbuf *r, bool *base, size_t stride, size_t n)
{
	const uint8_t *s;

	if (bc_take(r, n / 8 + (n % 8 != 0), &s))
		return -1;
	for (size_t i = 0; i < n; i++) {
		bool *b = (bool *)(void *)((uint8_t *)base + i * stride);

		*b = (s[i / 8] >> (i % 8)) & 1;
	}
	return 0;
}

int bc_get_lengths(struct bc_rbuf *r, uint64_t *out, size_t n, uint64_t *sum)
{
	uint8_t one[2] = { 0, 0 };
	uint8_t *small;
	uint64_t total = 0;
	size_t markers = 0;

	if (bc_min_packed_size(n) > bc_left(r))
		return bc_fail(r, "EOF");
	small = n <= sizeof(one) ? one : rscratch(r, n);
	if (!small || bc_get_packed_bytes(r, small, n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		out[i] = small[i];
		total += small[i];
		markers += small[i] == 255;
	}
	if (total < 255) {
		*sum = total;
		return 0;
	}
	if (markers) {
		uint64_t *big;

		if (bc_min_int_size(markers) > bc_left(r))
			return bc_fail(r, "EOF");
		big = malloc(markers * sizeof(*big));
		if (!big)
			return bc_fail(r, bc_err_nomem);
		if (bc_get_ints(r, big, sizeof(*big), markers, 8)) {
			free(big);
			return -1;
		}
		/* small[] may share the scratch with bc_get_ints: use out[]. */
		for (size_t i = 0, j = 0; i < n; i++)
			if (out[i] == 255)
				out[i] = big[j++];
		free(big);
	}
	total = 0;
	for (size_t i = 0; i < n; i++) {
		if (out[i] > UINT64_MAX - total)
			return bc_fail(r, "length overflow");
		total += out[i];
	}
	if (total >= BC_HUGE_LEN)
		return bc_fail(r, "huge length");
	*sum = total;
	return 0;
}

int bc_get_length(struct bc_rbuf *r, uint64_t *len)
{
	uint64_t sum;

	return bc_get_lengths(r, len, 1, &sum);
}

bool bc_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint8_t lo = 0x80, hi = 0xBF;

		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0; /* no overlongs */
			else if (c == 0xED)
				hi = 0x9F; /* no surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F; /* <= U+10FFFF */
		} else {
			return false;
		}
		if (need > len - i - 1)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}

int bc_get_str_bytes(struct bc_rbuf *r, const uint64_t *lens, size_t n, uint64_t sum,
		     const uint8_t **bytes)
{
	const uint8_t *s;

	if (sum > bc_left(r))
		return bc_fail(r, "EOF");
	if (bc_take(r, (size_t)sum, &s))
		return -1;
	for (size_t i = 0, off = 0; i < n; off += (size_t)lens[i], i++)
		if (!bc_utf8_valid(s + off, (size_t)lens[i]))
			return bc_fail(r, "invalid utf8");
	*bytes = s;
	return 0;
}
