/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/writer.h - the parallel page-copy writer (memory files).
 *
 *   sq_memfile_write     runs of pages (or the whole region) -> memory file
 *   sq_io_backend_name   "io_uring" / "pwritev2"
 *   sq_io_uring_usable   1 when this process may create an io_uring
 *
 * Layouts (byte offset in the file = byte offset in the region; the file
 * is exactly region-size bytes long):
 *   full  every page of the given runs (all pages when runs is NULL),
 *         except all-zero pages, which stay holes;
 *   diff  exactly the given pages, all of them as data, including pages
 *         that are all zero now (a hole in a diff means "unchanged").
 *
 * Work is cut into pieces at fixed 1 MiB boundaries of the region and
 * taken by @threads workers; each piece is zero-checked (full) and
 * checksummed (one CRC-64 per page) in the same pass that feeds the write.
 * The bytes of the file and the manifest depend only on the source
 * content, the runs and the layout, never on threads, backend or queue
 * depth.
 */
#ifndef SQUIB_WRITER_H
#define SQUIB_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <squib/export.h>
#include <squib/manifest.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

enum sq_io_backend {
	SQ_IO_AUTO = 0,    /* io_uring when the kernel allows it, else pwritev2 */
	SQ_IO_URING = 1,   /* per-worker ring; falls back when refused */
	SQ_IO_PWRITEV = 2, /* synchronous pwritev2 in each worker thread */
};

enum sq_mem_layout { SQ_LAYOUT_FULL = 0, SQ_LAYOUT_DIFF = 1 };

/*
 * A page reader fills @len bytes of @buf from region offset @off (both
 * multiples of 4 KiB, except the @len of a region's partial last page,
 * which ends at the region's size); returns 0 or a negative SQ_E_* code.
 * Called from the writer's worker threads concurrently, for disjoint
 * ranges.
 */
typedef int (*sq_page_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

struct sq_mem_source {
	const void *base;     /* the mapped region (page aligned), or NULL */
	sq_page_read_fn read; /* used when base is NULL */
	void *ctx;
	uint64_t size;        /* region bytes: any size from 1 byte to 16 TiB; the
			       * last 4 KiB page may be partial (written with
			       * exactly its bytes, as the original writes a
			       * ram_size that is not a page multiple) */
	bool live;            /* true: the source may change while it is written:
			       * pages are copied to staging buffers first and the
			       * CRC is taken over the copy that is written */
};

struct sq_writer_opts {
	uint32_t size; /* sizeof(struct sq_writer_opts): SQ_INIT (squib/types.h) */
	unsigned threads;          /* 0 = online CPUs */
	enum sq_io_backend backend;
	unsigned queue_depth;      /* io_uring entries per worker; 0 = 32 */
	int direct;                /* 0 = O_DIRECT where the filesystem allows it,
				    * -1 = buffered */
	bool no_sync;              /* true = skip the final fdatasync */
};

struct sq_writer_report {
	uint32_t size; /* sizeof(struct sq_writer_report): SQ_INIT (squib/types.h) */
	uint64_t pages_in;         /* pages examined */
	uint64_t pages_written;    /* pages written as data */
	uint64_t pages_zero;       /* zero pages left as holes (full layout) */
	uint64_t bytes_written;
	uint64_t io_ops;           /* write requests issued */
	enum sq_io_backend backend;/* the backend that ran */
	bool direct;               /* true = O_DIRECT, false = buffered + fdatasync */
	unsigned threads;
	unsigned queue_depth;
	double seconds;
};

/**
 * sq_memfile_write() - write a memory file.
 * @fd:      a regular file opened for writing (its O_DIRECT flag is set and
 *           restored by the call); it is truncated to @src->size first
 * @layout:  SQ_LAYOUT_FULL or SQ_LAYOUT_DIFF
 * @src:     the region
 * @runs:    sorted, merged runs inside the region; NULL = the whole region
 * @opts:    NULL = defaults
 * @m:       if not NULL, receives a new manifest (extents and CRCs filled,
 *           region and page size set, ids and state binding zero; kind set
 *           from @layout); free with sq_manifest_destroy
 * @rep:     if not NULL, filled on success
 *
 * Returns 0; SQ_E_INVAL / SQ_E_ALIGN / SQ_E_RANGE for bad arguments;
 * SQ_E_NO_SPACE, SQ_E_MEMORY_IO, or the page reader's code on failure (the
 * file content is then undefined; the caller discards it). Calling
 * context: any thread; starts and joins its own workers.
 */
SQ_API int sq_memfile_write(int fd, enum sq_mem_layout layout, const struct sq_mem_source *src,
			    const struct sq_run *runs, size_t nruns,
			    const struct sq_writer_opts *opts, struct sq_manifest **m,
			    struct sq_writer_report *rep);

/** sq_io_backend_name() - static name of a backend. */
SQ_API const char *sq_io_backend_name(enum sq_io_backend b);

/** sq_io_uring_usable() - 1 when io_uring_setup works here (cached). */
SQ_API int sq_io_uring_usable(void);

SQ_END_DECLS

#endif /* SQUIB_WRITER_H */
