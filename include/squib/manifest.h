/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/manifest.h - what a memory file holds, and how to check it.
 *
 *   sq_id_generate      a new random 128-bit snapshot id
 *   sq_id_format        32 lowercase hex digits
 *   sq_manifest_path    "<stem>.manifest" beside a .snap or .mem path
 *   sq_commit_path      "<stem>.commit": the pair's commit record
 *   sq_manifest_encode  manifest -> bytes (format in docs/FORMAT.md)
 *   sq_manifest_decode  bytes -> manifest, bounded and fully validated
 *   sq_manifest_save    encode + atomic replace of a file
 *   sq_manifest_load    read (at most the size the header allows) + decode
 *   sq_manifest_scan    manifest of a memory file written without one
 *                       (_paged: in pages of a given size)
 *   sq_manifest_destroy    release
 *
 * A manifest lists the data extents of one memory file (sorted, merged
 * runs of pages of its page_size: a power of two from 4 KiB to 64 KiB) and
 * one CRC-64/Jones per page of those extents. The file is region_size
 * bytes, any size: its last page may be partial (ceil(region_size /
 * page_size) pages), and that page's CRC covers the bytes it has. Pages
 * outside the extents are holes: zero in a full file, "unchanged from the
 * parent" in a diff. It binds the memory file to its state file
 * (size and CRC trailer of the state file) and to its parent (id).
 *
 * All functions: any thread; a manifest object is not shared between
 * threads while it is modified.
 */
#ifndef SQUIB_MANIFEST_H
#define SQUIB_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <squib/export.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

#define SQ_ID_BYTES 16
struct sq_snapshot_id {
	uint8_t b[SQ_ID_BYTES];
};

enum sq_snapshot_kind { SQ_SNAPSHOT_FULL = 0, SQ_SNAPSHOT_DIFF = 1 };

/* Hard bounds of the reader: a region of at most 2^44 bytes (16 TiB). */
#define SQ_MANIFEST_MAX_REGION (1ull << 44)

struct sq_manifest {
	struct sq_snapshot_id id;
	struct sq_snapshot_id parent; /* all zero for a full snapshot */
	uint32_t kind;                /* enum sq_snapshot_kind */
	uint32_t page_size;           /* SQ_PAGE_SIZE_MIN..SQ_PAGE_SIZE_MAX, a power of two */
	uint64_t region_size;         /* = memory file size; any size */
	uint64_t state_size;          /* size of the paired state file, 0 = none */
	uint64_t state_crc;           /* its CRC-64 trailer (little-endian u64) */
	size_t nextents;
	struct sq_run *extents;       /* sorted, merged; malloc'ed */
	uint64_t npages;              /* sum of extents[].npages */
	uint64_t *crcs;               /* npages CRCs, extent order; malloc'ed */
};

/** sq_id_generate() - fill @id from getrandom(2). Returns 0 or SQ_E_IO. */
SQ_API int sq_id_generate(struct sq_snapshot_id *id);

/** sq_id_format() - write 32 hex digits and a NUL to @out. */
SQ_API void sq_id_format(const struct sq_snapshot_id *id, char out[2 * SQ_ID_BYTES + 1]);

/** sq_id_is_zero() - 1 when every byte is zero (no parent). */
SQ_API int sq_id_is_zero(const struct sq_snapshot_id *id);

/**
 * sq_manifest_path() - the manifest path of a pair member: @path without a
 * trailing ".snap" or ".mem", plus ".manifest". Returns 0, or
 * SQ_E_INVALID_PATH when @len is too small.
 */
SQ_API int sq_manifest_path(const char *path, char *buf, size_t len);

/**
 * sq_commit_path() - the commit record of a pair member (same stem rule as
 * sq_manifest_path, plus ".commit"): the record through which the pair's
 * files are committed as one unit (squib/atomic_file.h, group commit).
 * Returns 0 or SQ_E_INVALID_PATH.
 */
SQ_API int sq_commit_path(const char *path, char *buf, size_t len);

/**
 * sq_manifest_encode() - serialize @m. On success *@buf is owned by the
 * caller (sq_free()) and *@len its size. Returns 0, SQ_E_INVAL when @m breaks
 * an invariant (unsorted extents, out of range, ...), or SQ_E_NOMEM.
 */
SQ_API int sq_manifest_encode(const struct sq_manifest *m, void **buf, size_t *len);

/**
 * sq_manifest_decode() - parse and validate @len bytes. Nothing is
 * allocated before the header's counts are checked against @len and the
 * bounds. Returns 0 and a new manifest in *@out (free with
 * sq_manifest_destroy), or SQ_E_MANIFEST (bad magic, version, CRC, counts,
 * order, sizes), or SQ_E_NOMEM.
 */
SQ_API int sq_manifest_decode(const void *buf, size_t len, struct sq_manifest **out);

/**
 * sq_manifest_save() - write @m to @path atomically (temp, fsync, rename,
 * directory fsync). Returns 0 or the atomic writer's codes.
 */
SQ_API int sq_manifest_save(const char *path, const struct sq_manifest *m);

/**
 * sq_manifest_load() - read and decode @path. Returns 0, SQ_E_NOT_FOUND
 * when the file does not exist, SQ_E_IO, SQ_E_MANIFEST or SQ_E_NOMEM.
 */
SQ_API int sq_manifest_load(const char *path, struct sq_manifest **out);

/**
 * sq_manifest_scan() - describe a memory file written without a manifest
 * (by the original crate or Firecracker): extents from SEEK_DATA /
 * SEEK_HOLE, one CRC-64 per 4 KiB page read from the file (a partial last
 * page included), @kind as given, a new random id, no parent and no state
 * binding (the caller sets those; see sq_manifest_build() in
 * squib/foreign.h for the whole job). Returns 0 and a new manifest in
 * *@out (sq_manifest_destroy), SQ_E_NOT_FOUND, SQ_E_ALIGN (empty, or larger
 * than SQ_MANIFEST_MAX_REGION), SQ_E_MEMORY_IO or SQ_E_NOMEM. Any thread;
 * reads the whole data of the file.
 */
SQ_API int sq_manifest_scan(const char *mem_path, enum sq_snapshot_kind kind,
			    struct sq_manifest **out);

/**
 * sq_manifest_scan_paged() - sq_manifest_scan in pages of @page_size (a
 * power of two from 4 KiB to 64 KiB; else SQ_E_INVAL): the data extents
 * rounded out to whole pages, one CRC per page. Give the page size the
 * file was written with, or a smaller one: a hole inside a larger page is
 * described as zero data, which is exact for a full image but turns a
 * diff's "unchanged" into zeros.
 */
SQ_API int sq_manifest_scan_paged(const char *mem_path, enum sq_snapshot_kind kind,
				  uint32_t page_size, struct sq_manifest **out);

/** sq_manifest_destroy() - release @m and its arrays. NULL is ignored. */
SQ_API void sq_manifest_destroy(struct sq_manifest *m);

/* Names published before the naming rule (docs/ARCHITECTURE.md, "ABI"); same behaviour. */
SQ_API void sq_manifest_free(struct sq_manifest *m)
	SQ_DEPRECATED("use sq_manifest_destroy");

SQ_END_DECLS

#endif /* SQUIB_MANIFEST_H */
