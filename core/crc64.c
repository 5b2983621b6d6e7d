/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/crc64.c - CRC-64/Jones (used by state, io and migrate) through ISA-L, plus a table reference.
 *
 * ISA-L's crc64_jones_refl(seed, ...) inverts its seed on entry and its
 * result on exit (ISA-L convention), so the init-0 / xorout-0 variant the
 * original uses is ~crc64_jones_refl(~crc, ...). Streaming works because
 * the inversions cancel between calls.
 */
#include <pthread.h>

#include <isa-l/crc64.h>
#include <squib/crc64.h>

uint64_t sq_crc64_update(uint64_t crc, const void *buf, size_t len)
{
	if (len == 0)
		return crc;
	return ~crc64_jones_refl(~crc, (const unsigned char *)buf, (uint64_t)len);
}

uint64_t sq_crc64(const void *buf, size_t len)
{
	return sq_crc64_update(0, buf, len);
}

#define SQ_CRC64_JONES_REFLECTED 0x95ac9329ac4bc9b5ULL

static uint64_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ SQ_CRC64_JONES_REFLECTED : c >> 1;
		table[i] = c;
	}
}

uint64_t sq_x_crc64_bytewise(uint64_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&table_once, table_init);
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
uint64_t sq_crc64_bytewise(uint64_t crc, const void *buf, size_t len)
{
	return sq_x_crc64_bytewise(crc, buf, len);
}
