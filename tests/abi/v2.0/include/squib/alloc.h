/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/alloc.h - the allocator hook for libsquib's large allocations.
 *
 * Bitmaps, IO staging buffers and other large or aligned buffers are
 * allocated through one hook table (CRoaring's pattern), so the application
 * decides where they come from. Small bookkeeping objects use malloc().
 *
 * Default: with SQ_WITH_JEMALLOC (the default build), jemalloc's mallocx()
 * / sdallocx() in an arena of libsquib's own, created on first use;
 * otherwise aligned_alloc() / free(). libsquib never replaces the host
 * application's malloc: it calls jemalloc only through its non-standard
 * entry points, and libjemalloc comes after libc in the symbol lookup
 * order of any program that links libsquib (tested).
 */
#ifndef SQUIB_ALLOC_H
#define SQUIB_ALLOC_H

#include <stddef.h>
#include <squib/export.h>

SQ_BEGIN_DECLS

struct sq_allocator {
	/* Returns memory of @size bytes aligned to @align (a power of two,
	 * at least sizeof(void *)), or NULL. */
	void *(*alloc)(size_t size, size_t align, void *ctx);
	/* Releases memory from alloc(); @size and @align are the values
	 * given to alloc(). p is never NULL. */
	void (*free)(void *p, size_t size, size_t align, void *ctx);
	void *ctx;
};

/**
 * sq_allocator_set() - install an allocator hook table.
 * @a: the table to copy, or NULL to restore the default.
 *
 * Must be called before any other libsquib call allocates (typically at
 * start-up, from one thread); memory is always released through the hook
 * that allocated it only if the hook is not changed while libsquib objects
 * are alive. Returns 0, or SQ_E_INVAL when a function pointer is missing.
 */
SQ_API int sq_allocator_set(const struct sq_allocator *a);

/** sq_allocator_name() - "jemalloc-arena", "libc" or "custom". Any thread. */
SQ_API const char *sq_allocator_name(void);

/**
 * sq_mem_alloc() / sq_mem_free() - allocate and release through the hook.
 *
 * sq_mem_alloc returns NULL on failure (size 0 returns NULL). sq_mem_free
 * takes the same size and alignment; NULL is ignored. Any thread.
 */
SQ_API void *sq_mem_alloc(size_t size, size_t align);
SQ_API void sq_mem_free(void *p, size_t size, size_t align);

SQ_END_DECLS

#endif /* SQUIB_ALLOC_H */
