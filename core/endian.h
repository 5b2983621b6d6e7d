/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/endian.h - little-endian loads and stores, the byte order of every
 * on-disk and on-wire integer (docs/FORMAT.md).
 *
 * Each takes a byte pointer with any alignment and reads or writes exactly
 * its width; the result is the same on a big-endian host. The byte loops
 * compile to one (unaligned) load or store on x86-64 and arm64.
 */
#ifndef SQ_CORE_ENDIAN_H
#define SQ_CORE_ENDIAN_H

#include <stdint.h>

static inline void sq_le_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void sq_le_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void sq_le_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t sq_le_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t sq_le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sq_le_get64(const uint8_t *p)
{
	return (uint64_t)sq_le_get32(p) | (uint64_t)sq_le_get32(p + 4) << 32;
}

#endif /* SQ_CORE_ENDIAN_H */
