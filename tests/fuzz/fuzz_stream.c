/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_stream - the migration receiver's frame parser (migrate/recv_conn.c,
 * migrate/stream.c) on arbitrary bytes.
 *
 * Input: one mode byte, then the stream.
 *   mode & 1  the input carries its own 64-byte handshake; otherwise a
 *             valid one (16-page region, one connection) is prepended,
 *             so mutations reach the frames at once
 *   mode & 2  every frame whose header parses gets a correct CRC-64, so
 *             mutations also reach what lies behind the CRC check
 *             (for a compressed page frame, over its zlen payload bytes, so
 *             mutations reach the lz4 and zstd decoders)
 *   mode & 4  two connections: the stream is split in the middle and each
 *             half gets its own generated handshake (index 0 and 1)
 *
 * Properties checked beyond "no crash, no sanitizer report": a failure
 * always carries a code that sq_last_error_code() agrees with, success is
 * reported only for a complete session, and the region's guard bytes on
 * either side are never written.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/migrate.h>

#include "migrate/recv_internal.h"
#include "migrate/stream.h"

#define NPAGES 16u
#define SIZE (NPAGES * 4096u)
#define GUARD 4096u

static uint8_t arena[GUARD + SIZE + GUARD];

static void fix_crcs(uint8_t *p, size_t len)
{
	size_t pos = 0;

	while (len - pos >= SQ_MIG_FRAME_HDR) {
		uint8_t *h = p + pos;
		uint16_t type = sq_mig_get16(h), flags = sq_mig_get16(h + 2);
		uint32_t length = sq_mig_get32(h + 24);
		size_t plen;
		if (type == SQ_MIG_PAGES && (flags & SQ_MIG_F_CODECS))
			plen = sq_mig_get32(h + 28); /* compressed: zlen */
		else if (type == SQ_MIG_PAGES)
			plen = (flags & SQ_MIG_F_ZERO) ? 0 : length;
		else if (type == SQ_MIG_STATE)
			plen = length;
		else if (type == SQ_MIG_FINAL)
			plen = SQ_MIG_FINAL_LEN;
		else
			plen = 0;
		if (plen > len - pos - SQ_MIG_FRAME_HDR)
			return;
		sq_mig_put64(h + 32, sq_crc64_update(sq_crc64(h, 32), h + SQ_MIG_FRAME_HDR, plen));
		pos += SQ_MIG_FRAME_HDR + plen;
	}
}

static uint8_t *with_hello(const uint8_t *data, size_t len, unsigned idx, unsigned count,
			   size_t *out_len)
{
	struct sq_mig_hello h = { .version = SQ_MIG_VERSION, .page_size = 4096,
				  .session_id = 0x5eed, .region_size = SIZE,
				  .conn_index = (uint16_t)idx, .conn_count = (uint16_t)count };
	uint8_t *b = malloc(SQ_MIG_HELLO_LEN + len + 1);

	if (!b)
		return NULL;
	sq_mig_hello_encode(&h, b);
	memcpy(b + SQ_MIG_HELLO_LEN, data, len);
	*out_len = SQ_MIG_HELLO_LEN + len;
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0];
	data++;
	size--;

	uint8_t *bufs[2] = { NULL, NULL };
	size_t lens[2] = { 0, 0 };
	unsigned n = 1;
	if (mode & 4) {
		size_t half = size / 2;
		n = 2;
		bufs[0] = with_hello(data, half, 0, 2, &lens[0]);
		bufs[1] = with_hello(data + half, size - half, 1, 2, &lens[1]);
	} else if (mode & 1) {
		bufs[0] = malloc(size + 1);
		if (bufs[0])
			memcpy(bufs[0], data, size);
		lens[0] = size;
	} else {
		bufs[0] = with_hello(data, size, 0, 1, &lens[0]);
	}
	for (unsigned i = 0; i < n; i++) {
		if (!bufs[i])
			goto out;
		if ((mode & 2) && lens[i] > SQ_MIG_HELLO_LEN)
			fix_crcs(bufs[i] + SQ_MIG_HELLO_LEN, lens[i] - SQ_MIG_HELLO_LEN);
	}

	memset(arena, 0xee, sizeof(arena));
	memset(arena + GUARD, 0, SIZE);
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .region = arena + GUARD, .region_size = SIZE,
					  .mem_fd = -1 };
	struct sq_migrate_recv *r = NULL;
	if (sq_migrate_recv_create(&o, &r))
		abort();
	const uint8_t *cb[2] = { bufs[0], bufs[1] };
	int rc = sq_mig_recv_feed(r, cb, lens, n);
	struct sq_migrate_recv_stats st = SQ_INIT(struct sq_migrate_recv_stats);
	sq_migrate_recv_stats(r, &st);
	if (rc > 0 || (rc < 0 && sq_last_error_code() != rc) || (rc == 0 && !st.complete))
		abort();
	sq_migrate_recv_destroy(r);
	for (unsigned i = 0; i < GUARD; i++)
		if (arena[i] != 0xee || arena[GUARD + SIZE + i] != 0xee)
			abort();
out:
	free(bufs[0]);
	free(bufs[1]);
	return 0;
}
