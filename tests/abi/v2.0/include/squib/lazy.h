/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/lazy.h - lazy restore of a chain with userfaultfd.
 *
 *   sq_lazy_start        map the region, usable at once; pages come on
 *                        demand and from a background fill
 *   sq_lazy_addr         the mapping
 *   sq_lazy_wait         wait until every page is present
 *   sq_lazy_hotset_save  write the pages faulted so far to a hot-set file
 *   sq_lazy_finish       stop, report; the mapping stays the caller's
 *
 * The region is a private anonymous mapping registered with a userfaultfd
 * in MISSING mode. A first access to a page not yet present is a fault
 * that a handler thread serves from the chain: the aligned batch of pages
 * around it (opts.batch_pages) is read from the layer that holds each page
 * (the last one in chain order) and placed with UFFDIO_COPY, holes with
 * UFFDIO_ZEROPAGE. Background threads place every other page in file
 * order, after the pages of the hot set if one is given. UFFDIO_COPY onto
 * a page that is already present fails with EEXIST and changes nothing, so
 * neither the fill nor a fault ever overwrites a page the workload wrote
 * (a write to a missing page is itself a fault: the page is placed first,
 * then the write lands on it).
 *
 * The files are read as they are: CRCs are not checked (run
 * sq_memfile_verify first where the files may be damaged). A read error
 * makes the restore fail (sq_lazy_wait returns it): the faults still
 * pending and all later ones are served zeros so that no thread hangs,
 * and the region must be discarded.
 *
 * Hot-set file: "SQHOTSET", u64 region pages, u64 count, count u64 page
 * numbers (first touch order), CRC-64 of all of it (8 bytes, little
 * endian). At most one entry per region page.
 *
 * Calling context: one restore is driven by one thread (start, wait,
 * finish); the region may be read and written by any thread meanwhile.
 */
#ifndef SQUIB_LAZY_H
#define SQUIB_LAZY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <squib/export.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

struct sq_lazy;

struct sq_lazy_opts {
	uint32_t size; /* sizeof(struct sq_lazy_opts): SQ_INIT (squib/types.h) */
	unsigned fill_threads;  /* background fill threads; 0 = 2 */
	unsigned batch_pages;   /* pages placed per fault (power of two, <= 512); 0 = 16 */
	const char *hotset;     /* hot-set file to fill first, or NULL */
	bool no_fill;           /* true = faults only (no background fill) */
};

struct sq_lazy_report {
	uint32_t size; /* sizeof(struct sq_lazy_report): SQ_INIT (squib/types.h) */
	double ready_s;         /* start -> sq_lazy_start returned (region usable) */
	double first_access_s;  /* start -> first fault served; 0 when none */
	double fill_s;          /* start -> every page present; 0 when not reached */
	uint64_t faults;        /* missing-page faults served */
	uint64_t pages_faulted; /* pages placed by fault service */
	uint64_t pages_filled;  /* pages placed by the background fill */
	uint64_t pages_present; /* EEXIST: already there (a write or the other side won) */
	uint64_t hot_pages;     /* hot-set pages filled first */
	uint64_t bytes_read;
	double fault_p50_us;    /* fault service time (handler side) */
	double fault_p99_us;
};

/**
 * sq_lazy_start() - start a lazy restore of the chain @paths[0..n) (as for
 * sq_restore_to_memory: a full file then its diffs) into a new mapping of
 * @size bytes. @opts may be NULL.
 *
 * Returns 0 and *@out; SQ_E_UNSUPPORTED (no userfaultfd), the chain's
 * errors (SQ_E_CHAIN, SQ_E_SIZE_MISMATCH, SQ_E_MANIFEST, SQ_E_NOT_FOUND,
 * SQ_E_MEMORY_IO), SQ_E_CORRUPT (a bad hot-set file), SQ_E_NOMEM.
 */
SQ_API int sq_lazy_start(const char *const *paths, size_t n, uint64_t size,
			 const struct sq_lazy_opts *opts, struct sq_lazy **out);

/** sq_lazy_addr() - the region (valid until the caller unmaps it). */
SQ_API void *sq_lazy_addr(const struct sq_lazy *l);

/**
 * sq_lazy_wait() - block until every page is present (not with no_fill).
 * Returns 0, or the first read error (SQ_E_MEMORY_IO): see above.
 */
SQ_API int sq_lazy_wait(struct sq_lazy *l);

/**
 * sq_lazy_hotset_save() - write the pages faulted so far, in first-touch
 * order, to @path (atomically, mode 0600). Returns 0 or SQ_E_IO.
 */
SQ_API int sq_lazy_hotset_save(struct sq_lazy *l, const char *path);

/**
 * sq_lazy_finish() - wait for the fill (unless no_fill), stop the
 * handler, close the userfaultfd and free @l; fill @r if not NULL. Pages
 * never touched with no_fill read as zeros afterwards. The mapping stays
 * valid: the caller munmaps sq_lazy_addr() (@size bytes). Returns what
 * sq_lazy_wait returns.
 */
SQ_API int sq_lazy_finish(struct sq_lazy *l, struct sq_lazy_report *r);

SQ_END_DECLS

#endif /* SQUIB_LAZY_H */
