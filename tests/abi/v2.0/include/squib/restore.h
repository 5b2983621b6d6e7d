/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/restore.h - reading memory files back: verify, restore, lazy map.
 *
 *   sq_memfile_verify     check a memory file against its manifest
 *   sq_memfile_verify_ex  the same with options (progress reports)
 *   sq_memfile_verify_sample  the same with CRCs of sampled pages only
 *   sq_restore_to_memory  materialize a chain (full + diffs) into a region
 *   sq_restore_map        lazy restore: MAP_PRIVATE of the full file, diffs
 *                         applied on top; pages are read on first touch
 *   sq_restore_unmap      release a mapping from sq_restore_map
 *
 * A chain is given as memory-file paths in order: a full file, then the
 * diffs taken after it (a ".snap" path stands for its ".mem" sibling).
 * Each file's manifest is looked up beside it (sq_manifest_path). With
 * manifests, the order is checked through parent ids and only the listed
 * extents are read; a file without one is read by SEEK_DATA / SEEK_HOLE
 * (then the order cannot be checked and no CRC is available).
 */
#ifndef SQUIB_RESTORE_H
#define SQUIB_RESTORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <squib/export.h>
#include <squib/types.h>
#include <squib/manifest.h>
#include <squib/progress.h>

SQ_BEGIN_DECLS

struct sq_verify_report {
	uint32_t size; /* sizeof(struct sq_verify_report): SQ_INIT (squib/types.h) */
	uint64_t pages_checked;  /* data pages whose CRC was compared */
	uint64_t bytes_read;
	uint64_t bad_page;       /* first mismatching page, when the result is SQ_E_VERIFY */
	double seconds;
};

/**
 * sq_memfile_verify() - check @mem_path against manifest @m (NULL: load
 * the manifest beside it). Checks the file size, the CRC of every data
 * page, and that any data outside the extents reads as zero.
 * @threads: 0 = online CPUs.
 * Returns 0; SQ_E_VERIFY (size, CRC or stray data, with the page in
 * sq_last_error and @r->bad_page); SQ_E_MANIFEST / SQ_E_NOT_FOUND for the
 * manifest; SQ_E_IO / SQ_E_MEMORY_IO. Any thread.
 */
SQ_API int sq_memfile_verify(const char *mem_path, const struct sq_manifest *m,
			     unsigned threads, struct sq_verify_report *r);

struct sq_verify_opts {
	uint32_t size; /* sizeof(struct sq_verify_opts): SQ_INIT (squib/types.h) */
	unsigned threads;        /* 0 = online CPUs */
	/* Optional progress reports and cancellation (squib/progress.h):
	 * phase SQ_PROGRESS_VERIFY_READ, total = the manifest's data bytes. */
	sq_progress_fn progress;
	void *progress_ctx;
};

/**
 * sq_memfile_verify_ex() - sq_memfile_verify() with options (@opts NULL:
 * the defaults). Same checks and results, plus SQ_E_CANCELED when the
 * progress callback asks to stop (then @r->bytes_read says how far it
 * got, and no page is reported bad). Any thread; the callback runs on it.
 */
SQ_API int sq_memfile_verify_ex(const char *mem_path, const struct sq_manifest *m,
				const struct sq_verify_opts *opts, struct sq_verify_report *r);

/* The most pages sq_memfile_verify_sample() checks in one call. */
#define SQ_VERIFY_MAX_SAMPLES 4096u

/**
 * sq_memfile_verify_sample() - a cheaper check of @mem_path against @m: the
 * file size, the CRC of up to @samples data pages spread evenly over the
 * manifest's data pages, and (as sq_memfile_verify) that every byte the
 * file stores outside the extents is zero, found with SEEK_DATA so that it
 * costs what that data costs. What it does NOT check: the CRCs of the data
 * pages it does not sample, so a file that differs from the right one only
 * inside the extents, at pages not sampled, passes.
 * @samples: 1..SQ_VERIFY_MAX_SAMPLES.
 * Returns 0; SQ_E_VERIFY (size, CRC or stray data); SQ_E_INVAL;
 * SQ_E_NOT_FOUND / SQ_E_NOT_REGULAR / SQ_E_MEMORY_IO; SQ_E_NOMEM. Any thread.
 */
SQ_API int sq_memfile_verify_sample(const char *mem_path, const struct sq_manifest *m,
				    unsigned samples);

struct sq_restore_opts {
	uint32_t size; /* sizeof(struct sq_restore_opts): SQ_INIT (squib/types.h) */
	unsigned threads;  /* 0 = online CPUs */
	bool verify;       /* true = compare each page's CRC while reading */
	bool dest_zeroed;  /* true = @dest is known to read as zeros (fresh mmap):
			    * the holes of the full file are not cleared */
	int direct;        /* 0 = O_DIRECT where possible, -1 = buffered */
	/* Optional progress reports and cancellation (squib/progress.h):
	 * phase SQ_PROGRESS_RESTORE_READ, total = the data bytes of all
	 * layers (a page held by several layers counts once per layer). */
	sq_progress_fn progress;
	void *progress_ctx;
};

struct sq_restore_report {
	uint32_t size; /* sizeof(struct sq_restore_report): SQ_INIT (squib/types.h) */
	unsigned layers;
	uint64_t pages_read;
	uint64_t bytes_read;
	bool direct;       /* true = O_DIRECT */
	double seconds;
};

/**
 * sq_restore_to_memory() - read the chain @paths[0..n) into @dest
 * (@size bytes, page aligned, the region size of every layer).
 * Returns 0; SQ_E_CHAIN (order, kinds), SQ_E_SIZE_MISMATCH, SQ_E_VERIFY
 * (with opts->verify), SQ_E_MANIFEST, SQ_E_IO / SQ_E_MEMORY_IO,
 * SQ_E_CANCELED (the progress callback asked to stop). On failure @dest
 * holds a partial image. Any thread; uses its own workers.
 */
SQ_API int sq_restore_to_memory(const char *const *paths, size_t n, void *dest, uint64_t size,
				const struct sq_restore_opts *opts, struct sq_restore_report *r);

/**
 * sq_restore_map() - lazy restore: map @paths[0] (a full file) privately
 * and copy the diffs' extents over the mapping. Untouched pages of the
 * full file are read by the kernel on first access. *@addr receives the
 * mapping of @size bytes (release with sq_restore_unmap). Same errors as
 * sq_restore_to_memory, plus SQ_E_NOMEM when mmap fails.
 * Not guarded against truncation: the mapping reads the full file on
 * first touch, so if another process truncates that file, touching a page
 * past the new end raises SIGBUS in the caller. Use sq_restore_to_memory
 * (pread) for files that others may modify.
 */
SQ_API int sq_restore_map(const char *const *paths, size_t n, uint64_t size, void **addr);

/**
 * sq_restore_check_output() - refuse an output file that is one of the
 * chain's inputs: @out is compared, by device and inode, with every
 * layer's memory file and manifest. A missing @out is fine. Returns 0 or
 * SQ_E_OUTPUT_IS_INPUT; SQ_E_NOMEM. Call it with the output's lock held
 * (after sq_atomic_open) so that the answer stays true until the commit.
 */
SQ_API int sq_restore_check_output(const char *const *paths, size_t n, const char *out);

/** sq_restore_unmap() - unmap a region returned by sq_restore_map. */
SQ_API void sq_restore_unmap(void *addr, uint64_t size);

SQ_END_DECLS

#endif /* SQUIB_RESTORE_H */
