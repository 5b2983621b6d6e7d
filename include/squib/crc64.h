/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/crc64.h - CRC-64/Jones (crc-catalog: CRC-64/REDIS).
 *
 * Reflected polynomial 0x95ac9329ac4bc9b5 (normal 0xad93d23594c935a9),
 * init 0, xorout 0. Check value of "123456789": 0xe9c6d914c4b8d9ca.
 * Appending the CRC of a buffer as 8 little-endian bytes gives a buffer
 * whose CRC is 0 (the residue the state-file loader checks).
 *
 * Computed with ISA-L's crc64_jones_refl (runtime-dispatched SIMD); the
 * state file, the manifest and the migration stream all use this variant.
 * All functions: any thread, no allocation.
 */
#ifndef SQUIB_CRC64_H
#define SQUIB_CRC64_H

#include <stddef.h>
#include <stdint.h>
#include <squib/export.h>

SQ_BEGIN_DECLS

/** sq_crc64() - one-shot CRC of @len bytes at @buf (NULL allowed when len is 0). */
SQ_API uint64_t sq_crc64(const void *buf, size_t len);

/**
 * sq_crc64_update() - streaming form.
 * @crc: 0 to start, then the previous return value.
 *
 * sq_crc64_update(sq_crc64_update(0, a, n), b, m) == sq_crc64(a||b).
 */
SQ_API uint64_t sq_crc64_update(uint64_t crc, const void *buf, size_t len);

/** sq_x_crc64_bytewise() - the same CRC, one table lookup per byte (reference, benchmarks). */
SQ_API uint64_t sq_x_crc64_bytewise(uint64_t crc, const void *buf, size_t len);

/* Names published before the naming rule (docs/ARCHITECTURE.md, "ABI"); same behaviour. */
SQ_API uint64_t sq_crc64_bytewise(uint64_t crc, const void *buf, size_t len)
	SQ_DEPRECATED("use sq_x_crc64_bytewise");

SQ_END_DECLS

#endif /* SQUIB_CRC64_H */
