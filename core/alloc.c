/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/alloc.c - the allocator hook table and its default.
 *
 * Invariant: sq_alloc_table is written only by sq_allocator_set(), which
 * the contract restricts to start-up; readers take a relaxed snapshot.
 * The jemalloc arena index is created once (pthread_once) and never freed:
 * arenas live as long as the process.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <squib/alloc.h>

#include "core/err.h"

#ifdef SQ_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>

static unsigned sq_arena;
static int sq_arena_ok;
static pthread_once_t sq_arena_once = PTHREAD_ONCE_INIT;

static void arena_create(void)
{
	unsigned idx = 0;
	size_t sz = sizeof(idx);

	if (mallctl("arenas.create", &idx, &sz, NULL, 0) == 0) {
		sq_arena = idx;
		sq_arena_ok = 1;
	}
}

static int arena_flags(size_t align)
{
	int flags = MALLOCX_ALIGN(align) | MALLOCX_TCACHE_NONE;

	pthread_once(&sq_arena_once, arena_create);
	if (sq_arena_ok)
		flags |= MALLOCX_ARENA(sq_arena);
	return flags;
}

static void *default_alloc(size_t size, size_t align, void *ctx)
{
	(void)ctx;
	return mallocx(size, arena_flags(align));
}

static void default_free(void *p, size_t size, size_t align, void *ctx)
{
	(void)ctx;
	sdallocx(p, size, arena_flags(align));
}

#define SQ_DEFAULT_ALLOC_NAME "jemalloc-arena"
#else
static void *default_alloc(size_t size, size_t align, void *ctx)
{
	(void)ctx;
	/* aligned_alloc requires size to be a multiple of align. */
	size_t rounded = (size + align - 1) & ~(align - 1);

	return aligned_alloc(align, rounded);
}

static void default_free(void *p, size_t size, size_t align, void *ctx)
{
	(void)size;
	(void)align;
	(void)ctx;
	free(p);
}

#define SQ_DEFAULT_ALLOC_NAME "libc"
#endif

static struct sq_allocator sq_alloc_table = { default_alloc, default_free, NULL };
static int sq_alloc_custom;

int sq_allocator_set(const struct sq_allocator *a)
{
	if (!a) {
		sq_alloc_table = (struct sq_allocator){ default_alloc, default_free, NULL };
		sq_alloc_custom = 0;
		return 0;
	}
	if (!a->alloc || !a->free)
		return sq_err(SQ_E_INVAL, "allocator table needs both alloc and free");
	sq_alloc_table = *a;
	sq_alloc_custom = 1;
	return 0;
}

const char *sq_allocator_name(void)
{
	return sq_alloc_custom ? "custom" : SQ_DEFAULT_ALLOC_NAME;
}

void *sq_mem_alloc(size_t size, size_t align)
{
	if (size == 0)
		return NULL;
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (align & (align - 1))
		return NULL;
	return sq_alloc_table.alloc(size, align, sq_alloc_table.ctx);
}

void sq_mem_free(void *p, size_t size, size_t align)
{
	if (!p)
		return;
	if (align < sizeof(void *))
		align = sizeof(void *);
	sq_alloc_table.free(p, size, align, sq_alloc_table.ctx);
}

void sq_free(void *p)
{
	free(p);
}
