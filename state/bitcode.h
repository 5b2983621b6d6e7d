/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/bitcode.h - primitive column codecs of the bitcode 0.6 serde format
 * (internal; docs/FORMAT.md "State file" describes the format).
 *
 *   bc_put_packed_bytes / bc_get_packed_bytes   byte packing (u8, tags)
 *   bc_put_ints / bc_get_ints                   u64 and u32 columns (strided)
 *   bc_put_bools / bc_get_bools                 bool columns
 *   bc_put_lengths / bc_get_lengths             length columns
 *   bc_put_str_lengths + bytes, bc_get_strs     string columns
 *
 * Writer: a growable buffer whose error is sticky (w->err), so encoders can
 * emit a whole value and test once. Reader: a cursor over [p, end) that
 * never reads outside it; every getter returns 0 or -1 with r->err set to
 * bitcode's own reason text ("EOF", "invalid packing", ...).
 */
#ifndef SQ_STATE_BITCODE_H
#define SQ_STATE_BITCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* LengthDecoder's HUGE_LEN: (2^63 - 1) / 4096. */
#define BC_HUGE_LEN 0x7FFFFFFFFFFFFull

struct bc_wbuf {
	uint8_t *p;
	size_t len, cap;
	uint8_t *scratch; /* byte staging for 1-byte integer columns */
	size_t scratch_cap;
	int err;          /* 0 or SQ_E_NOMEM, sticky */
};

struct bc_rbuf {
	const uint8_t *p, *end;
	const char *err;  /* reason of the first failure */
	uint8_t *scratch;
	size_t scratch_cap;
};

/* ------------------------------------------------------------ writer */
void bc_wbuf_init(struct bc_wbuf *w, size_t hint);
void bc_wbuf_release(struct bc_wbuf *w);
/* Space for @n more bytes; NULL (and w->err) on allocation failure. */
uint8_t *bc_reserve(struct bc_wbuf *w, size_t n);
void bc_put_raw(struct bc_wbuf *w, const void *src, size_t n);

void bc_put_packed_bytes(struct bc_wbuf *w, const uint8_t *v, size_t n);
/*
 * @n values of @type_bytes (8 = u64, 4 = u32) at @base, @stride bytes apart.
 */
void bc_put_ints(struct bc_wbuf *w, const void *base, size_t stride, size_t n, int type_bytes);
static inline void bc_put_u64(struct bc_wbuf *w, uint64_t v)
{
	bc_put_ints(w, &v, sizeof(v), 1, 8);
}
void bc_put_bools(struct bc_wbuf *w, const bool *base, size_t stride, size_t n);
void bc_put_lengths(struct bc_wbuf *w, const uint64_t *lens, size_t n);
/* One length value, the common single-instance case. */
static inline void bc_put_length(struct bc_wbuf *w, uint64_t len)
{
	bc_put_lengths(w, &len, 1);
}
/* A whole string column of one string. */
void bc_put_str1(struct bc_wbuf *w, const char *s, size_t len);

/* ------------------------------------------------------------ reader */
/* r->err value of an allocation failure (compare by address). */
extern const char bc_err_nomem[];
void bc_rbuf_init(struct bc_rbuf *r, const uint8_t *p, size_t len);
void bc_rbuf_release(struct bc_rbuf *r);
static inline size_t bc_left(const struct bc_rbuf *r)
{
	return (size_t)(r->end - r->p);
}
int bc_fail(struct bc_rbuf *r, const char *why);
/* Take @n raw bytes (pointer into the input). */
int bc_take(struct bc_rbuf *r, size_t n, const uint8_t **out);

/* Minimum encoded size of a byte-packed column of @n values. */
size_t bc_min_packed_size(size_t n);
/* Minimum encoded size of an integer column of @n values (n >= 1). */
size_t bc_min_int_size(size_t n);

int bc_get_packed_bytes(struct bc_rbuf *r, uint8_t *out, size_t n);
int bc_get_ints(struct bc_rbuf *r, void *base, size_t stride, size_t n, int type_bytes);
static inline int bc_get_u64(struct bc_rbuf *r, uint64_t *v)
{
	return bc_get_ints(r, v, sizeof(*v), 1, 8);
}
int bc_get_bools(struct bc_rbuf *r, bool *base, size_t stride, size_t n);
/*
 * @n lengths into @out; *@sum receives their total, which is < BC_HUGE_LEN
 * on success ("length overflow" / "huge length" otherwise).
 */
int bc_get_lengths(struct bc_rbuf *r, uint64_t *out, size_t n, uint64_t *sum);
/* One length. */
int bc_get_length(struct bc_rbuf *r, uint64_t *len);
/*
 * The byte part of a string column whose lengths are @lens (total @sum):
 * validates each string as UTF-8 and returns a pointer to the
 * concatenated bytes inside the input.
 */
int bc_get_str_bytes(struct bc_rbuf *r, const uint64_t *lens, size_t n, uint64_t sum,
		     const uint8_t **bytes);

/* Standard UTF-8 validation (Rust's str::from_utf8 rules). */
bool bc_utf8_valid(const uint8_t *s, size_t len);

#endif /* SQ_STATE_BITCODE_H */
