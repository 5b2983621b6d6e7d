/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/lazy_internal.h - the state of a lazy restore, shared by the fault
 * and fill paths (lazy_restore.c) and the hot-set file and teardown
 * (lazy_hotset.c).
 */
#ifndef SQ_IO_LAZY_INTERNAL_H
#define SQ_IO_LAZY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <squib/types.h>

#include "core/first_error.h"

#define SQ_LAZY_MAX_FILL 16 /* fill threads at most */

struct sq_layer;

struct sq_lazy {
	uint8_t *base;
	uint64_t size, npages;
	unsigned batch;                /* pages per fault, power of two */
	struct sq_layer *layers;
	size_t nlayers;
	uint8_t *src;                  /* per page: layer index or hole */
	_Atomic uint64_t *done;        /* per page: present (a hint, see lazy_restore.c) */
	int uffd, stop_fd;
	pthread_t handler;
	bool handler_started;
	_Atomic bool stopping;         /* handler: stop (with stop_fd) */
	pthread_t fill[SQ_LAZY_MAX_FILL];
	unsigned nfill, nstarted;
	bool joined;
	uint8_t *fault_buf;            /* handler only */
	uint32_t *samples;             /* handler only: fault service times, 0.1 us */
	struct sq_run *hot;            /* hot set to fill first */
	size_t nhot;
	_Atomic size_t hot_next;
	_Atomic uint64_t fill_next;
	pthread_mutex_t hot_lock;      /* hot_rec / nhot_rec */
	uint64_t *hot_rec;             /* pages faulted, first-touch order */
	uint64_t nhot_rec;
	struct sq_first_err failed;    /* first error of the fill and fault threads */
	_Atomic uint64_t faults, pages_faulted, pages_filled, pages_present, hot_pages;
	_Atomic uint64_t bytes_read, first_ns;
	uint64_t t0, ready_ns, fill_ns;
};

/* Load and check a hot-set file: *@runs sorted, merged, inside @npages
 * (free()). 0, SQ_E_NOT_FOUND, SQ_E_IO, SQ_E_CORRUPT, SQ_E_NOMEM. */
int sq_lazy_hotset_load(const char *path, uint64_t npages, struct sq_run **runs, size_t *n);
/* Stop and join the handler, close the userfaultfd (idempotent). */
void sq_lazy_stop_handler(struct sq_lazy *l);
/* Stop everything and free; @unmap: also unmap the region (failed start). */
void sq_lazy_free(struct sq_lazy *l, bool unmap);

#endif /* SQ_IO_LAZY_INTERNAL_H */
