/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/lazy_hotset.c - the hot-set file of lazy restores, and their
 * teardown.
 *
 * File (squib/lazy.h): "SQHOTSET", u64 region pages, u64 count, count u64
 * page numbers, CRC-64 of everything before it; little endian. A reader
 * allocates only after the size on disk matches the count, and the count
 * is at most the region's pages: a file cannot make it allocate more than
 * it holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/crc64.h>
#include <squib/lazy.h>

#include "core/endian.h"
#include "core/err.h"
#include "core/input.h"
#include "core/sysio.h"
#include "io/chain.h"
#include "io/lazy_internal.h"

#define HOT_MAGIC "SQHOTSET"
#define HOT_HDR 24u

int sq_lazy_hotset_save(struct sq_lazy *l, const char *path)
{
	uint8_t *b;
	size_t len;
	int rc;

	pthread_mutex_lock(&l->hot_lock);
	len = HOT_HDR + 8 * l->nhot_rec + 8;
	b = malloc(len);
	if (b) {
		memcpy(b, HOT_MAGIC, 8);
		sq_le_put64(b + 8, l->npages);
		sq_le_put64(b + 16, l->nhot_rec);
		for (uint64_t i = 0; i < l->nhot_rec; i++)
			sq_le_put64(b + HOT_HDR + 8 * i, l->hot_rec[i]);
	}
	pthread_mutex_unlock(&l->hot_lock);
	if (!b)
		return sq_err(SQ_E_NOMEM, "hot set: out of memory");
	sq_le_put64(b + len - 8, sq_crc64(b, len - 8));
	rc = sq_atomic_write_file(path, b, len, 0);
	free(b);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int sq_lazy_hotset_load(const char *path, uint64_t npages, struct sq_run **runs, size_t *n)
{
	struct stat st;
	uint8_t *b = NULL;
	int rc = 0, fd = sq_sys_open(SQ_SITE_HOTSET_OPEN, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);

	*runs = NULL;
	*n = 0;
	if (fd < 0)
		return fd == -ENOENT ? sq_err(SQ_E_NOT_FOUND, "hot set %s does not exist", path)
				     : sq_err_sys(SQ_E_IO, -fd, path);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = sq_err(SQ_E_CORRUPT, "hot set %s: not a regular file", path);
		goto out;
	}
	/* The largest valid file for this region, before any allocation. */
	if ((uint64_t)st.st_size < HOT_HDR + 8 ||
	    (uint64_t)st.st_size > HOT_HDR + 8 * npages + 8 || (st.st_size - HOT_HDR) % 8) {
		rc = sq_err(SQ_E_CORRUPT, "hot set %s: bad size %lld", path, (long long)st.st_size);
		goto out;
	}
	rc = sq_read_dense(SQ_SITE_HOTSET_READ, fd, (uint64_t)st.st_size, SQ_E_CORRUPT, path, &b);
	if (rc)
		goto out;
	uint64_t count = sq_le_get64(b + 16);
	if (memcmp(b, HOT_MAGIC, 8) || sq_le_get64(b + 8) != npages ||
	    count != ((uint64_t)st.st_size - HOT_HDR - 8) / 8 ||
	    sq_crc64(b, (size_t)st.st_size - 8) != sq_le_get64(b + st.st_size - 8)) {
		rc = sq_err(SQ_E_CORRUPT, "hot set %s: bad magic, region size, count or CRC", path);
		goto out;
	}
	uint64_t *pg = (uint64_t *)(void *)b; /* sorted in place over the header */
	for (uint64_t i = 0; i < count; i++) {
		pg[i] = sq_le_get64(b + HOT_HDR + 8 * i);
		if (pg[i] >= npages) {
			rc = sq_err(SQ_E_CORRUPT, "hot set %s: page %llu outside the region", path,
				    (unsigned long long)pg[i]);
			goto out;
		}
	}
	qsort(pg, count, sizeof(*pg), cmp_u64);
	*runs = calloc(count ? count : 1, sizeof(**runs));
	if (!*runs) {
		rc = sq_err(SQ_E_NOMEM, "hot set: out of memory");
		goto out;
	}
	for (uint64_t i = 0; i < count; i++) {
		struct sq_run *r = *n ? &(*runs)[*n - 1] : NULL;
		if (r && pg[i] < r->first_page + r->npages)
			continue; /* duplicate */
		if (r && pg[i] == r->first_page + r->npages)
			r->npages++;
		else
			(*runs)[(*n)++] = (struct sq_run){ pg[i], 1 };
	}
out:
	free(b);
	close(fd);
	return rc;
}

void sq_lazy_stop_handler(struct sq_lazy *l)
{
	if (l->handler_started) {
		uint64_t one = 1;
		/* Release: the handler's acquire load sees the flag; the eventfd
		 * wakes it at once, else its poll timeout does. */
		atomic_store_explicit(&l->stopping, true, memory_order_release);
		(void)sq_sys_write(SQ_SITE_LAZY_UFFD_STOP, l->stop_fd, &one, sizeof(one));
		pthread_join(l->handler, NULL);
		l->handler_started = false;
	}
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	l->stop_fd = -1;
	/* Unregisters the range: pages still missing read as zeros from now. */
	if (l->uffd >= 0)
		close(l->uffd);
	l->uffd = -1;
}

void sq_lazy_free(struct sq_lazy *l, bool unmap)
{
	if (!l)
		return;
	/* Fill threads end by themselves: after a failed start none runs. */
	for (unsigned i = 0; !l->joined && i < l->nstarted; i++)
		pthread_join(l->fill[i], NULL);
	sq_lazy_stop_handler(l);
	if (unmap && l->base != MAP_FAILED)
		munmap(l->base, l->size);
	sq_chain_close(l->layers, l->nlayers);
	free(l->src);
	free(l->done);
	free(l->samples);
	free(l->hot_rec);
	free(l->hot);
	free(l->fault_buf);
	pthread_mutex_destroy(&l->hot_lock);
	sq_first_err_destroy(&l->failed);
	free(l);
}
