/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/types.h - geometry, the run type shared by engine, io and migrate, and
 * SQ_INIT for the size-prefixed option and report structs.
 */
#ifndef SQUIB_TYPES_H
#define SQUIB_TYPES_H

#include <stdint.h>

#define SQ_PAGE_SHIFT 12
#define SQ_PAGE_SIZE (1u << SQ_PAGE_SHIFT)            /* 4 KiB: the tracking page */
#define SQ_BLOCK_SHIFT 21
#define SQ_BLOCK_SIZE (1u << SQ_BLOCK_SHIFT)          /* 2 MiB: the coarse granule */
#define SQ_PAGES_PER_BLOCK (SQ_BLOCK_SIZE / SQ_PAGE_SIZE) /* 512 */

/*
 * The page sizes a memory file's manifest may have (docs/FORMAT.md): every
 * power of two from 4 KiB to 64 KiB, the pages of Linux hosts (4 KiB on
 * x86-64, 4, 16 or 64 KiB on arm64) and of the original's platform (16 KiB).
 */
#define SQ_PAGE_SIZE_MIN 4096u
#define SQ_PAGE_SIZE_MAX 65536u

/*
 * struct sq_run - @npages consecutive 4 KiB pages starting at page
 * @first_page, counted from the start of a region (byte offset =
 * first_page << SQ_PAGE_SHIFT). Lists of runs are sorted by first_page,
 * non-overlapping and non-adjacent (adjacent runs are merged).
 */
struct sq_run {
	uint64_t first_page;
	uint64_t npages;
};

/*
 * SQ_INIT(type) - the initializer of every public option and report struct
 * (struct sq_*_opts, sq_*_report, sq_*_stats, sq_snapshot_save_req). Their
 * first member is `uint32_t size`, which the caller sets to the size of the
 * struct it was compiled with; new fields are only ever appended, so the
 * library reads only the fields that lie within @size (the others take
 * their default, which is what zero means) and writes report fields only
 * within it. Size 0, or one smaller than the struct's first published
 * layout, fails with SQ_E_INVAL. Use it for every such struct:
 *
 *	struct sq_writer_opts o = SQ_INIT(struct sq_writer_opts);
 *	o.threads = 4;
 *
 * or name the size yourself: { .size = sizeof(struct sq_writer_opts), ... }.
 * See docs/ARCHITECTURE.md, "ABI".
 */
#define SQ_INIT(type) { .size = (uint32_t)sizeof(type) }

#endif /* SQUIB_TYPES_H */
