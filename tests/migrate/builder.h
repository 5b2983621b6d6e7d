/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/migrate/builder.h - build migration streams byte by byte (one
 * connection each), valid or deliberately broken, for the receiver tests.
 */
#ifndef SQ_TESTS_MIGRATE_BUILDER_H
#define SQ_TESTS_MIGRATE_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <squib/crc64.h>
#include <squib/types.h>

#include "migrate/stream.h"

struct bld {
	uint8_t *buf;
	size_t len, cap;
	uint64_t seq, frames, pages, payload;
	uint32_t round;
};

static inline void bld_put(struct bld *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 4096;
		b->buf = realloc(b->buf, b->cap);
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static inline void bld_hello(struct bld *b, uint64_t session, uint64_t size, unsigned idx,
			     unsigned count)
{
	struct sq_mig_hello h = { .version = SQ_MIG_VERSION, .page_size = SQ_PAGE_SIZE,
				  .session_id = session, .region_size = size,
				  .conn_index = (uint16_t)idx, .conn_count = (uint16_t)count };
	uint8_t raw[SQ_MIG_HELLO_LEN];

	sq_mig_hello_encode(&h, raw);
	bld_put(b, raw, sizeof(raw));
}

/* A frame; returns the offset of its header in b->buf (to damage it later). */
static inline size_t bld_frame(struct bld *b, uint16_t type, uint16_t flags, uint32_t round,
			       uint64_t offset, uint32_t length, const void *payload, size_t plen)
{
	struct sq_mig_frame f = { .type = type, .flags = flags, .round = round, .seq = ++b->seq,
				  .offset = offset, .length = length };
	uint8_t hdr[SQ_MIG_FRAME_HDR];
	size_t at = b->len;

	sq_mig_frame_encode(&f, hdr, payload, plen);
	bld_put(b, hdr, sizeof(hdr));
	if (plen)
		bld_put(b, payload, plen);
	if (type == SQ_MIG_PAGES || type == SQ_MIG_STATE) {
		b->frames++;
		b->payload += plen;
		if (type == SQ_MIG_PAGES)
			b->pages += length / SQ_PAGE_SIZE;
	}
	if (round > b->round)
		b->round = round;
	return at;
}

/* Data pages [page, page + n) with the given content. */
static inline size_t bld_pages(struct bld *b, uint32_t round, uint64_t page, uint32_t n,
			       const uint8_t *data)
{
	return bld_frame(b, SQ_MIG_PAGES, 0, round, page * SQ_PAGE_SIZE, n * SQ_PAGE_SIZE, data,
			 (size_t)n * SQ_PAGE_SIZE);
}

static inline size_t bld_zero(struct bld *b, uint32_t round, uint64_t page, uint32_t n)
{
	return bld_frame(b, SQ_MIG_PAGES, SQ_MIG_F_ZERO, round, page * SQ_PAGE_SIZE,
			 n * SQ_PAGE_SIZE, NULL, 0);
}

/* Pages [page, page + n) as a compressed frame: @codec_flag (SQ_MIG_F_LZ4 /
 * SQ_MIG_F_ZSTD, or anything else to lie) and @zlen payload bytes at @z. */
static inline size_t bld_cpages(struct bld *b, uint16_t codec_flag, uint32_t round, uint64_t page,
				uint32_t n, const void *z, uint32_t zlen)
{
	struct sq_mig_frame f = { .type = SQ_MIG_PAGES, .flags = codec_flag, .round = round,
				  .seq = ++b->seq, .offset = page * SQ_PAGE_SIZE,
				  .length = n * SQ_PAGE_SIZE, .zlen = zlen };
	uint8_t hdr[SQ_MIG_FRAME_HDR];
	size_t at = b->len;

	sq_mig_frame_encode(&f, hdr, z, zlen);
	bld_put(b, hdr, sizeof(hdr));
	bld_put(b, z, zlen);
	b->frames++;
	b->payload += zlen;
	b->pages += n;
	if (round > b->round)
		b->round = round;
	return at;
}

/*
 * The final frame. @tot: totals of all connections of the session (NULL =
 * this connection alone); @state/@state_len: the blob sent on connection 0.
 */
static inline size_t bld_final(struct bld *b, uint64_t session, unsigned nconns,
			       const struct bld *const *all, unsigned nall, const void *state,
			       size_t state_len)
{
	struct sq_mig_final t = { .conn_frames = b->frames, .conn_pages = b->pages,
				  .conn_payload = b->payload, .state_len = state_len,
				  .state_crc = sq_crc64(state, state_len), .rounds = b->round,
				  .conn_count = nconns, .session_id = session };
	uint8_t raw[SQ_MIG_FINAL_LEN];
	const struct bld *self[1] = { b };

	if (!all) {
		all = self;
		nall = 1;
	}
	for (unsigned i = 0; i < nall; i++) {
		t.total_frames += all[i]->frames;
		t.total_pages += all[i]->pages;
		t.total_payload += all[i]->payload;
		if (all[i]->round > t.rounds)
			t.rounds = all[i]->round;
	}
	sq_mig_final_encode(&t, raw);
	return bld_frame(b, SQ_MIG_FINAL, 0, t.rounds, 0, SQ_MIG_FINAL_LEN, raw, sizeof(raw));
}

/*
 * Read one receiver reply (header + message) from @fd; 0, or -1 when the
 * connection ended first or the reply does not decode.
 */
static inline int read_reply(int fd, struct sq_mig_result *res)
{
	uint8_t hdr[SQ_MIG_RESULT_LEN], msg[SQ_MIG_RESULT_MAX_MSG];
	uint32_t mlen = 0;

	if (recv(fd, hdr, sizeof(hdr), MSG_WAITALL) != (ssize_t)sizeof(hdr) ||
	    sq_mig_result_decode_hdr(hdr, &mlen))
		return -1;
	if (mlen && recv(fd, msg, mlen, MSG_WAITALL) != (ssize_t)mlen)
		return -1;
	return sq_mig_result_decode(hdr, msg, res) ? -1 : 0;
}

static inline void bld_free(struct bld *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

#endif /* SQ_TESTS_MIGRATE_BUILDER_H */
