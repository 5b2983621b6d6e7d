/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/recv_conn.c - one connection of a receiving session: read a frame,
 * validate it completely, then apply it.
 *
 * Invariants:
 *  - Nothing reaches the destination before the whole frame (header and
 *    payload) has been read and its header, bounds, sequence number, round
 *    order and CRC-64 were checked. A failing frame changes nothing.
 *  - Every page range is checked against the region size before use
 *    (offset and length both bounded, no overflow), so no write can leave
 *    the region, whatever the stream says.
 *  - tags[p] is the round of the copy of page p now in the destination. A
 *    copy of round r is applied only when tags[p] <= r, and tags[p] and the
 *    page bytes change together under the page's stripe lock, so a later
 *    round wins however the connections interleave. Tags are read and
 *    written only under their stripe lock (plain accesses); they cost memory
 *    per chunk received, not per page declared (recv_tags.c).
 *  - Zero pages never commit memory: a receiver-owned region drops them
 *    with MADV_DONTNEED, a file sink punches a hole.
 *  - A compressed page frame (version 3 only) is decoded, after its CRC
 *    was checked, into the connection's own SQ_MIG_MAX_PAYLOAD buffer and
 *    applied only when it decoded to exactly its declared length
 *    (compress.c); a lying frame changes nothing.
 *  - The state blob arrives on connection 0 only, in order, bounded by
 *    SQ_MIGRATE_MAX_STATE; only that connection's thread touches it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <squib/types.h>

#include "core/err.h"
#include "core/sysio.h"
#include "migrate/compress.h"
#include "migrate/net.h"
#include "migrate/recv_internal.h"
#include "migrate/transport.h"

int sq_mig_rx_need(struct rx_conn *c, size_t len, const uint8_t **p, size_t *got)
{
	if (c->fd < 0) {
		size_t avail = c->mem_len - c->mem_pos;
		if (avail < len) {
			*got = avail;
			return 1;
		}
		*p = c->mem + c->mem_pos;
		return 0;
	}
	size_t avail = c->blen - c->bpos;
	while (avail < len) {
		if (c->bpos + len > SQ_MIG_RX_BUF) {
			memmove(c->buf, c->buf + c->bpos, avail);
			c->bpos = 0;
			c->blen = avail;
		}
		/* Small frames: read ahead as far as the buffer goes (fewer
		 * calls); large ones: exactly to their end. */
		size_t room = SQ_MIG_RX_BUF - c->blen;
		if (len >= SQ_MIG_RX_EXACT && room > len - avail)
			room = len - avail;
		int d = sq_mig_deadline(c->fd, c->deadline, c->r->o.timeout_ms, "session");
		if (d < 0)
			return d;
		long n = sq_mig_io_recv_some(SQ_SITE_MIG_RX_RECV, c->fd, c->tls, c->buf + c->blen, room);
		if (n < 0) {
			d = sq_mig_deadline_error((int)n, c->deadline, "session");
			return d < 0 ? d : (int)n;
		}
		if (n == 0) {
			*got = avail;
			return 1;
		}
		c->blen += (size_t)n;
		avail += (size_t)n;
	}
	*p = c->buf + c->bpos;
	return 0;
}

void sq_mig_rx_consume(struct rx_conn *c, size_t len)
{
	if (c->fd < 0) {
		c->mem_pos += len;
		return;
	}
	c->bpos += len;
	if (c->bpos == c->blen)
		c->bpos = c->blen = 0;
}

/* Write pages [p, p + n) of the destination from @src (NULL = zeros). */
static int sink_write(struct sq_migrate_recv *r, uint64_t p, uint64_t n, const uint8_t *src)
{
	size_t off = (size_t)(p << SQ_PAGE_SHIFT), len = (size_t)(n << SQ_PAGE_SHIFT);

	if (r->region) {
		if (src) {
			memcpy(r->region + off, src, len);
		} else if (r->own_region) {
			/* Private anonymous pages read as zeros after MADV_DONTNEED
			 * and cost no memory: a zero-page frame commits nothing. */
			if (madvise(r->region + off, len, MADV_DONTNEED))
				memset(r->region + off, 0, len);
		} else {
			memset(r->region + off, 0, len);
		}
		return 0;
	}
	int e;
	if (src) {
		e = sq_sys_pwrite_all(SQ_SITE_MIG_RX_FILE_WRITE, r->o.mem_fd, src, len, (off_t)off);
	} else {
		e = sq_sys_fallocate(SQ_SITE_MIG_RX_FILE_PUNCH, r->o.mem_fd,
				     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				     (off_t)len);
	}
	return e ? sq_err_sys(SQ_E_MEMORY_IO, -e, "migration: writing the memory file") : 0;
}

/*
 * Apply a validated page frame: pages whose tag is newer are skipped; runs
 * of pages to apply inside one 2 MiB block are written together.
 */
static int apply_pages(struct rx_conn *c, const struct sq_mig_frame *f, const uint8_t *payload)
{
	struct sq_migrate_recv *r = c->r;
	uint64_t first = f->offset >> SQ_PAGE_SHIFT, end = first + (f->length >> SQ_PAGE_SHIFT);
	int zero = f->flags & SQ_MIG_F_ZERO, rc = 0;

	for (uint64_t p = first; p < end && !rc;) {
		uint64_t block = p / SQ_PAGES_PER_BLOCK;
		uint64_t bend = (block + 1) * SQ_PAGES_PER_BLOCK;
		if (bend > end)
			bend = end;
		pthread_mutex_t *lk = &r->locks[block % SQ_MIG_LOCK_STRIPES];
		pthread_mutex_lock(lk);
		while (p < bend && !rc) {
			if (sq_mig_tag_get(&r->tags, p) > f->round) {
				c->stale_pages++;
				p++;
				continue;
			}
			uint64_t q = p;
			while (q < bend && sq_mig_tag_get(&r->tags, q) <= f->round)
				q++;
			/* Zeros over clean chunks of a receiver-owned region are
			 * already there: nothing to write. */
			int skip = zero && r->own_region && !sq_mig_tags_dirty(&r->tags, p, q);
			/* Tags first: on SQ_E_NOMEM the bytes stay unchanged. */
			rc = sq_mig_tags_set(&r->tags, p, q, f->round, !zero);
			if (!rc && !skip)
				rc = sink_write(r, p, q - p,
						zero ? NULL : payload + ((p - first) << SQ_PAGE_SHIFT));
			p = q;
		}
		pthread_mutex_unlock(lk);
	}
	if (zero)
		c->zero_pages += end - first;
	return rc;
}

static int apply_state(struct rx_conn *c, const struct sq_mig_frame *f, const uint8_t *payload)
{
	struct sq_migrate_recv *r = c->r;

	if (c->index != 0)
		return sq_err(SQ_E_STREAM_MALFORMED,
			      "migration stream: state frame on connection %u (only 0 carries state)",
			      c->index);
	if (f->offset != r->state_len)
		return sq_err(SQ_E_STREAM_ORDER,
			      "migration stream: state frame at offset %llu, expected %zu",
			      (unsigned long long)f->offset, r->state_len);
	if (r->state_len + f->length > SQ_MIGRATE_MAX_STATE)
		return sq_err(SQ_E_STREAM_OVERSIZE,
			      "migration stream: state blob larger than %u bytes",
			      SQ_MIGRATE_MAX_STATE);
	if (r->state_len + f->length > r->state_cap) {
		size_t cap = r->state_cap ? r->state_cap : 65536;
		while (cap < r->state_len + f->length)
			cap *= 2;
		uint8_t *n = realloc(r->state, cap);
		if (!n)
			return sq_err(SQ_E_NOMEM, "migration: out of memory for the state blob");
		r->state = n;
		r->state_cap = cap;
	}
	memcpy(r->state + r->state_len, payload, f->length);
	r->state_len += f->length;
	return 0;
}

static int check_final(struct rx_conn *c, const struct sq_mig_frame *f, const uint8_t *payload)
{
	struct sq_migrate_recv *r = c->r;
	struct sq_mig_final *t = &c->fin;

	sq_mig_final_decode(payload, t);
	if (t->session_id != r->hello.session_id || t->conn_count != r->nconns ||
	    t->rounds != f->round)
		return sq_err(SQ_E_STREAM_TOTALS,
			      "migration stream: final frame of connection %u names session %016llx, "
			      "%u connections, round %u",
			      c->index, (unsigned long long)t->session_id, t->conn_count, t->rounds);
	if (t->conn_frames != c->frames || t->conn_pages != c->pages ||
	    t->conn_payload != c->payload)
		return sq_err(SQ_E_STREAM_TOTALS,
			      "migration stream: connection %u totals differ: frames %llu/%llu, "
			      "pages %llu/%llu, bytes %llu/%llu (sent/received)",
			      c->index, (unsigned long long)t->conn_frames,
			      (unsigned long long)c->frames, (unsigned long long)t->conn_pages,
			      (unsigned long long)c->pages, (unsigned long long)t->conn_payload,
			      (unsigned long long)c->payload);
	c->final_seen = 1;
	return 0;
}

/* Decode a compressed page frame into c->zbuf; *out = the pages. */
static int inflate(struct rx_conn *c, const struct sq_mig_frame *f, const uint8_t *payload,
		   size_t plen, const uint8_t **out)
{
	if (!c->dz) {
		int rc = sq_mig_dctx_new(&c->dz);
		if (rc)
			return rc;
	}
	if (!c->zbuf) {
		c->zbuf = malloc(SQ_MIG_MAX_PAYLOAD);
		if (!c->zbuf)
			return sq_err(SQ_E_NOMEM, "migration: out of memory for a decompression buffer");
	}
	enum sq_mig_codec codec = (f->flags & SQ_MIG_F_LZ4) ? SQ_MIG_CODEC_LZ4 : SQ_MIG_CODEC_ZSTD;
	int rc = sq_mig_decompress(c->dz, codec, c->zbuf, f->length, payload, plen);
	if (rc) {
		char why[256];
		snprintf(why, sizeof(why), "%s", sq_last_error());
		return sq_err(rc, "%s (frame %llu, offset %llu, connection %u)", why,
			      (unsigned long long)f->seq, (unsigned long long)f->offset, c->index);
	}
	c->comp_frames++;
	*out = c->zbuf;
	return 0;
}

void sq_mig_rx_conn_fini(struct rx_conn *c)
{
	sq_mig_dctx_free(c->dz);
	free(c->zbuf);
	c->dz = NULL;
	c->zbuf = NULL;
}

/* Read, validate and apply one frame. 1 = the final frame was applied. */
static int one_frame(struct rx_conn *c)
{
	struct sq_migrate_recv *r = c->r;
	const uint8_t *hdr = NULL;
	struct sq_mig_frame f;
	size_t got = 0, plen = 0;
	int rc = sq_mig_rx_need(c, SQ_MIG_FRAME_HDR, &hdr, &got);

	if (rc < 0)
		return rc;
	if (rc == 1 && got == 0)
		return sq_err(SQ_E_DISCONNECTED,
			      "migration peer disconnected: connection %u closed after round %u, "
			      "before its final frame",
			      c->index, c->round);
	if (rc == 1)
		return sq_err(SQ_E_STREAM_TRUNCATED,
			      "migration stream: connection %u ended inside a frame header (%zu of %u bytes)",
			      c->index, got, SQ_MIG_FRAME_HDR);
	rc = sq_mig_frame_decode(hdr, &f, &plen);
	if (rc)
		return rc;
	if (c->final_seen)
		return f.type == SQ_MIG_FINAL
			       ? sq_err(SQ_E_STREAM_DUPLICATE,
					"migration stream: second final frame on connection %u",
					c->index)
			       : sq_err(SQ_E_STREAM_MALFORMED,
					"migration stream: frame after the final frame on connection %u",
					c->index);
	if (f.seq != c->seq + 1)
		return sq_err(SQ_E_STREAM_ORDER,
			      "migration stream: frame %llu on connection %u, expected %llu",
			      (unsigned long long)f.seq, c->index, (unsigned long long)c->seq + 1);
	if (f.round < c->round)
		return sq_err(SQ_E_STREAM_ORDER,
			      "migration stream: round %u after round %u on connection %u", f.round,
			      c->round, c->index);
	if (f.type == SQ_MIG_PAGES && (f.offset > r->size || f.length > r->size - f.offset))
		return sq_err(SQ_E_STREAM_RANGE,
			      "migration stream: pages at %llu+%u outside the %zu-byte region",
			      (unsigned long long)f.offset, f.length, r->size);
	if ((f.flags & SQ_MIG_F_CODECS) && r->hello.version < 3)
		return sq_err(SQ_E_STREAM_MALFORMED,
			      "migration stream: compressed frame %llu in a version %u stream",
			      (unsigned long long)f.seq, r->hello.version);
	rc = sq_mig_rx_need(c, SQ_MIG_FRAME_HDR + plen, &hdr, &got);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return sq_err(SQ_E_STREAM_TRUNCATED,
			      "migration stream: connection %u ended inside a frame (%zu of %zu payload bytes)",
			      c->index, got - SQ_MIG_FRAME_HDR, plen);
	const uint8_t *payload = hdr + SQ_MIG_FRAME_HDR;
	if (!sq_mig_frame_crc_ok(hdr, payload, plen))
		return sq_err(SQ_E_STREAM_CRC,
			      "migration stream: CRC mismatch in frame %llu (round %u, offset %llu) "
			      "on connection %u",
			      (unsigned long long)f.seq, f.round, (unsigned long long)f.offset, c->index);
	if (f.flags & SQ_MIG_F_CODECS) {
		rc = inflate(c, &f, payload, plen, &payload);
		if (rc)
			return rc;
	}

	switch (f.type) {
	case SQ_MIG_PAGES:
		rc = apply_pages(c, &f, payload);
		c->pages += f.length >> SQ_PAGE_SHIFT;
		break;
	case SQ_MIG_STATE:
		rc = apply_state(c, &f, payload);
		break;
	case SQ_MIG_FINAL:
		rc = check_final(c, &f, payload);
		sq_mig_rx_consume(c, SQ_MIG_FRAME_HDR + plen);
		c->seq = f.seq;
		c->round = f.round;
		return rc ? rc : 1;
	default:
		return sq_err(SQ_E_CANCELED,
			      "migration: the sender aborted the migration (connection %u, round %u)",
			      c->index, f.round);
	}
	if (rc)
		return rc;
	sq_mig_rx_consume(c, SQ_MIG_FRAME_HDR + plen);
	c->frames++;
	c->payload += plen;
	c->seq = f.seq;
	c->round = f.round;
	return 0;
}

int sq_mig_rx_conn_run(struct rx_conn *c)
{
	for (;;) {
		int rc = one_frame(c);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			if (c->fd >= 0)
				return 0;
			/* From memory: the bytes must end exactly here. */
			if (c->mem_pos == c->mem_len)
				return 0;
			rc = one_frame(c);
			return rc < 0 ? rc : sq_err(SQ_E_STREAM_MALFORMED, "migration stream: trailing data");
		}
	}
}

int sq_mig_rx_check_trailing(struct rx_conn *c)
{
	uint8_t hdr[SQ_MIG_FRAME_HDR];
	ssize_t n;

	if (c->blen > c->bpos) {
		n = (ssize_t)(c->blen - c->bpos);
		memcpy(hdr, c->buf + c->bpos, n < 2 ? (size_t)n : 2);
	} else if (c->tls) {
		n = sq_mig_tls_peek_nowait(c->tls, hdr, sizeof(hdr));
	} else {
		do
			n = sq_sys_recv(SQ_SITE_MIG_RX_RECV, c->fd, hdr, sizeof(hdr),
					MSG_DONTWAIT | MSG_PEEK);
		while (n == -EINTR);
	}
	if (n <= 0)
		return 0; /* nothing pending, or the peer closed */
	if (n >= 2 && sq_mig_get16(hdr) == SQ_MIG_FINAL)
		return sq_err(SQ_E_STREAM_DUPLICATE,
			      "migration stream: second final frame on connection %u", c->index);
	return sq_err(SQ_E_STREAM_MALFORMED,
		      "migration stream: data after the final frame on connection %u", c->index);
}
