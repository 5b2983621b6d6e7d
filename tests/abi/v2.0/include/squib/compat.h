/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/compat.h - the small items of squib-snapshot 0.2.0's API that have
 * no other home here (docs/MAPPING.md maps every item of the original).
 *
 *   sq_arch_magic          arch_magic(): SQ_SNAPSHOT_MAGIC_AARCH64
 *   sq_crc64_writer_*      Crc64Writer: a CRC-64/Jones over what a file
 *                          descriptor accepted, plus the trailer
 *   sq_mmds_with_data      MmdsState::with_data (JSON text in)
 *   sq_mmds_data_value     MmdsState::data_value (JSON text out)
 *   sq_dirty_bitmap_*      DirtyBitmap's operations, over a tracker
 *
 * All functions return 0 or a negative enum sq_error code and record the
 * detail for sq_last_error(), unless documented otherwise.
 */
#ifndef SQUIB_COMPAT_H
#define SQUIB_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <squib/export.h>
#include <squib/state.h>

SQ_BEGIN_DECLS

/** sq_arch_magic() - the snapshot magic of this build: always 0x07101984AAAA0000. */
SQ_API uint64_t sq_arch_magic(void);

/* ------------------------------------------------------------ Crc64Writer */

/*
 * struct sq_crc64_writer - write through to @fd, folding every byte the
 * descriptor accepted into @crc (CRC-64/Jones, squib/crc64.h). Owned by
 * the caller; the descriptor stays the caller's. One thread at a time.
 */
struct sq_crc64_writer {
	int fd;
	uint64_t crc;   /* CRC of the bytes written so far */
	uint64_t bytes; /* bytes written so far */
};

/** sq_crc64_writer_init() - start at CRC 0 on @fd (written at its current offset). */
SQ_API void sq_crc64_writer_init(struct sq_crc64_writer *w, int fd);

/**
 * sq_crc64_writer_write() - write all @len bytes (retrying short writes and
 * EINTR). Every byte the descriptor accepted is in the CRC, also when the
 * call fails part-way. Returns 0 or SQ_E_IO ("snapshot I/O error: ...";
 * SQ_E_NO_SPACE for ENOSPC/EDQUOT).
 */
SQ_API int sq_crc64_writer_write(struct sq_crc64_writer *w, const void *buf, size_t len);

/** sq_crc64_writer_crc() - the CRC so far (Crc64Writer::crc). */
SQ_API uint64_t sq_crc64_writer_crc(const struct sq_crc64_writer *w);

/**
 * sq_crc64_writer_trailer() - write the CRC so far as 8 little-endian
 * bytes straight to the descriptor, not folded into the CRC (what the
 * original's Snapshot::save does after the body). Same returns as write.
 */
SQ_API int sq_crc64_writer_trailer(struct sq_crc64_writer *w);

/* ------------------------------------------------------------------ MMDS */

/**
 * sq_mmds_with_data() - MmdsState::with_data: @json (NUL-terminated JSON
 * text of any value, "null" included) is parsed and stored re-serialized
 * the way serde_json::to_string writes a Value: compact, object keys
 * sorted. @has_ttl false = token_ttl_seconds None (MMDS V1).
 * @out: its strings are replaced (the old ones released).
 * Returns 0, SQ_E_INVAL ("MMDS data is not JSON: <reason> at line L column
 * C"; also for the empty string, which is no JSON value), or SQ_E_NOMEM.
 * Reals are written with up to 17 significant digits (they parse back to
 * the same double; serde_json writes the shortest form), and integers must
 * fit in int64 (docs/MAPPING.md).
 */
SQ_API int sq_mmds_with_data(const char *json, bool has_ttl, uint32_t ttl_seconds,
			     struct sq_mmds_state *out);

/**
 * sq_mmds_data_value() - MmdsState::data_value: the stored text parsed and
 * handed back re-serialized (as sq_mmds_with_data writes it). An empty
 * data_json is JSON null: *@json = "null".
 * @json: receives malloc'ed, NUL-terminated text (free()).
 * Returns 0, SQ_E_CORRUPT ("MMDS data is not JSON: ..."), or SQ_E_NOMEM.
 */
SQ_API int sq_mmds_data_value(const struct sq_mmds_state *m, char **json);

/* ------------------------------------------------------------ DirtyBitmap */

/*
 * struct sq_dirty_bitmap - the original's DirtyBitmap over [ram_start,
 * ram_start + ram_size) of guest addresses, one bit per page of page_size
 * bytes (any power of two, as the original; a partial trailing page is a
 * page), kept in a tracker of its own (squib/tracker.h, fixed 4 KiB
 * granule): every set is a tracker mark, a drain is a tracker harvest.
 * Opaque.
 *
 * Threads: set, test, drain and page_index_of may run concurrently from any
 * thread. A set is never lost: a set that returns before a drain starts is
 * in that drain, a later one in the next drain. The "was clean" answer of a
 * set and is_dirty are exact when no drain runs at the same time; racing a
 * drain they may report a page as dirty that the drain just took (never
 * the reverse for a completed set).
 */
struct sq_dirty_bitmap;
struct sq_tracker;

/**
 * sq_dirty_bitmap_create() - DirtyBitmap::new(ram_start, ram_size, page_size).
 * Returns 0 and *@out (sq_dirty_bitmap_destroy), or SQ_E_INVALID_PATH with
 * the original's texts: "invalid snapshot path: page_size must be a power
 * of two: N" (0 included), "invalid snapshot path: dirty bitmap requires a
 * non-empty RAM range", "invalid snapshot path: RAM range overflows:
 * start=S, size=N" (also for more than 2^40 pages or 4 KiB units, where the
 * original's word count would overflow); SQ_E_NOMEM.
 */
SQ_API int sq_dirty_bitmap_create(uint64_t ram_start, uint64_t ram_size, uint64_t page_size,
				  struct sq_dirty_bitmap **out);

/** sq_dirty_bitmap_destroy() - release; no other call may run. NULL ignored. */
SQ_API void sq_dirty_bitmap_destroy(struct sq_dirty_bitmap *b);

/** sq_dirty_bitmap_page_count() - ceil(ram_size / page_size). */
SQ_API uint64_t sq_dirty_bitmap_page_count(const struct sq_dirty_bitmap *b);

/** sq_dirty_bitmap_page_size() / _page_shift() - page_size and its log2. */
SQ_API uint64_t sq_dirty_bitmap_page_size(const struct sq_dirty_bitmap *b);
SQ_API unsigned sq_dirty_bitmap_page_shift(const struct sq_dirty_bitmap *b);

/** sq_dirty_bitmap_ram_start() / _ram_size() - the range as created. */
SQ_API uint64_t sq_dirty_bitmap_ram_start(const struct sq_dirty_bitmap *b);
SQ_API uint64_t sq_dirty_bitmap_ram_size(const struct sq_dirty_bitmap *b);

/**
 * sq_dirty_bitmap_page_index_of() - page_index_of: 1 and *@index for an
 * address inside the range ((addr - ram_start) >> page_shift), 0 outside.
 */
SQ_API int sq_dirty_bitmap_page_index_of(const struct sq_dirty_bitmap *b, uint64_t addr,
					 uint64_t *index);

/**
 * sq_dirty_bitmap_set_dirty() / _set_dirty_by_index() - mark the page:
 * 1 when it was clean before (the clean -> dirty transition), 0 when it
 * was already dirty or the address / index is out of range (as the
 * original, which answers false for both).
 */
SQ_API int sq_dirty_bitmap_set_dirty(struct sq_dirty_bitmap *b, uint64_t addr);
SQ_API int sq_dirty_bitmap_set_dirty_by_index(struct sq_dirty_bitmap *b, uint64_t index);

/** sq_dirty_bitmap_is_dirty() / _by_index() - 1 dirty, 0 clean or out of range. */
SQ_API int sq_dirty_bitmap_is_dirty(const struct sq_dirty_bitmap *b, uint64_t addr);
SQ_API int sq_dirty_bitmap_is_dirty_by_index(const struct sq_dirty_bitmap *b, uint64_t index);

/**
 * sq_dirty_bitmap_drain_into() - drain_into: take every dirty page and call
 * @fn(@ctx, index) for each, in ascending order; afterwards those pages are
 * clean. @count (may be NULL) receives the number of calls.
 * Returns 0, or the tracker's harvest error (SQ_E_NOMEM: nothing taken).
 * @fn must not call into @b.
 */
SQ_API int sq_dirty_bitmap_drain_into(struct sq_dirty_bitmap *b,
				      void (*fn)(void *ctx, uint64_t index), void *ctx,
				      uint64_t *count);

/**
 * sq_dirty_bitmap_tracker() - the tracker under @b and its region id, to
 * harvest runs directly (sq_snapshot_save_tracked). Borrowed: owned by @b.
 * With page_size >= 4096 its runs are in 4 KiB pages of the range (a dirty
 * bitmap page is all of its 4 KiB pages, clipped to ceil(ram_size / 4096)),
 * so they describe the memory as a writer needs; with a smaller page_size
 * run page i is bitmap page i.
 */
SQ_API struct sq_tracker *sq_dirty_bitmap_tracker(struct sq_dirty_bitmap *b, uint32_t *region);

SQ_END_DECLS

#endif /* SQUIB_COMPAT_H */
