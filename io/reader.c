/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/reader.c - parallel reading of extents (restore, verify, lazy map).
 *
 * Invariants:
 *  - Items are the extents cut at 1 MiB boundaries of the region, in
 *    order; item i's pages have CRCs crcs[idx .. idx + npages). A page is
 *    1 << shift bytes (4 to 64 KiB, so 1 MiB holds whole pages), except
 *    the file's partial last page, which is read and checked up to the
 *    end of the file (and then buffered: O_DIRECT needs whole blocks). Workers
 *    take items through a relaxed atomic counter; results are read after
 *    the join.
 *  - With a destination, reads go straight into it (O_DIRECT needs the
 *    destination page aligned, which the callers guarantee); otherwise
 *    into one 1 MiB page-aligned buffer per worker.
 *  - A short read is continued where it stopped; if that leaves an
 *    unaligned remainder under O_DIRECT the fd is demoted to buffered IO.
 *    End of file inside an extent is a truncated file (SQ_E_VERIFY).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <squib/crc64.h>

#include "core/err.h"
#include "core/progress.h"
#include "core/sysio.h"
#include "io/chain.h"
#include "io/io_internal.h"

#define RD_BYTES (1u << 20)

struct rd_item {
	uint64_t first_page;
	uint64_t idx;
	uint32_t npages;
};

struct rd_job {
	int fd;
	unsigned shift;
	uint64_t size;
	atomic_int direct;
	uint8_t *dest;
	const uint64_t *crcs;
	struct rd_item *items;
	size_t n;
	atomic_size_t next;
	atomic_uint_fast64_t bytes;
	uint64_t bad_page; /* written under err.lock by the first failing worker */
	struct sq_prog *pg; /* may be NULL; reported by worker 0 (the caller) */
	struct sq_first_err err;
};

static int read_range(struct rd_job *j, uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = sq_sys_pread(SQ_SITE_MEMFILE_READ, j->fd, buf + done, len - done,
					 (off_t)(off + done));
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0)
			return sq_err_sys(SQ_E_MEMORY_IO, (int)-r, "reading the memory file");
		if (r == 0)
			return sq_err(SQ_E_VERIFY, "memory file is truncated: no data at offset %llu",
				      (unsigned long long)(off + done));
		done += (size_t)r;
		if (done < len && (done & (SQ_PAGE_SIZE - 1)) &&
		    atomic_load_explicit(&j->direct, memory_order_relaxed))
			sq_dio_demote(j->fd, &j->direct);
	}
	return 0;
}

static void rd_worker(void *arg, unsigned wi)
{
	struct rd_job *j = arg;
	uint8_t *scratch = NULL;
	int rc = 0;

	if (!j->dest) {
		scratch = sq_iobuf_alloc(RD_BYTES);
		if (!scratch)
			rc = sq_err(SQ_E_NOMEM, "out of memory");
	}
	while (!rc && !sq_first_err_failed(&j->err)) {
		size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
		if (i >= j->n)
			break;
		const struct rd_item *it = &j->items[i];
		uint64_t off = it->first_page << j->shift;
		uint64_t end = (it->first_page + it->npages) << j->shift;
		if (off >= j->size) {
			rc = sq_err(SQ_E_VERIFY, "memory file is truncated: no data at offset %llu",
				    (unsigned long long)off);
			break;
		}
		size_t len = (size_t)((end < j->size ? end : j->size) - off);
		uint8_t *buf = j->dest ? j->dest + off : scratch;

		rc = read_range(j, buf, len, off);
		if (rc)
			break;
		atomic_fetch_add_explicit(&j->bytes, len, memory_order_relaxed);
		for (uint32_t p = 0; j->crcs && p < it->npages; p++) {
			uint64_t page = it->first_page + p;
			if (sq_crc64(buf + ((size_t)p << j->shift),
				     (size_t)sq_io_page_len(page, j->shift, j->size)) !=
			    j->crcs[it->idx + p]) {
				rc = sq_err(SQ_E_VERIFY, "memory file does not match its manifest: "
							 "CRC-64 mismatch in page %llu (offset %llu)",
					    (unsigned long long)page,
					    (unsigned long long)(page << j->shift));
				pthread_mutex_lock(&j->err.lock);
				if (!sq_first_err_failed(&j->err))
					j->bad_page = page;
				pthread_mutex_unlock(&j->err.lock);
				break;
			}
		}
		sq_prog_add(j->pg, len);
		/* sq_par_run runs worker 0 on the calling thread: it reports. */
		if (!rc && wi == 0)
			rc = sq_prog_poll(j->pg);
	}
	if (scratch)
		sq_iobuf_free(scratch, RD_BYTES);
	if (rc)
		sq_first_err_set(&j->err, rc);
}

int sq_read_extents(int fd, const struct sq_run *ext, size_t n, unsigned shift, uint64_t size,
		    const uint64_t *crcs, uint8_t *dest, unsigned threads, int direct,
		    struct sq_read_stats *st, struct sq_prog *pg)
{
	struct rd_job j = { .fd = fd, .shift = shift, .size = size, .dest = dest, .crcs = crcs,
			    .pg = pg };
	const uint64_t per = RD_BYTES >> shift; /* pages per item */
	size_t cnt = 0;
	uint64_t idx = 0;
	int rc, oldfl = -1;

	for (size_t i = 0; i < n; i++) {
		uint64_t a = ext[i].first_page, e = a + ext[i].npages;
		cnt += (size_t)((e - 1) / per - a / per + 1);
	}
	j.items = malloc((cnt ? cnt : 1) * sizeof(*j.items));
	if (!j.items)
		return sq_err(SQ_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		uint64_t p = ext[i].first_page, e = p + ext[i].npages;
		while (p < e) {
			uint64_t ce = (p / per + 1) * per;
			if (ce > e)
				ce = e;
			j.items[j.n++] = (struct rd_item){ p, idx, (uint32_t)(ce - p) };
			idx += ce - p;
			p = ce;
		}
	}
	atomic_init(&j.next, 0);
	atomic_init(&j.bytes, 0);
	sq_first_err_init(&j.err);
	atomic_init(&j.direct, 0);
	if (direct >= 0 && size % SQ_PAGE_SIZE == 0 &&
	    (!dest || ((uintptr_t)dest & (SQ_PAGE_SIZE - 1)) == 0))
		atomic_store_explicit(&j.direct, sq_dio_enable(fd, &oldfl), memory_order_relaxed);
	if (!threads)
		threads = sq_online_cpus();
	if (threads > j.n)
		threads = j.n ? (unsigned)j.n : 1;
	rc = sq_par_run(threads, rd_worker, &j);
	if (!rc)
		rc = sq_first_err_raise(&j.err);
	if (oldfl >= 0)
		sq_dio_restore(fd, oldfl);
	if (st) {
		st->pages += idx;
		st->bytes += atomic_load_explicit(&j.bytes, memory_order_relaxed);
		st->direct = atomic_load_explicit(&j.direct, memory_order_relaxed);
		if (rc == SQ_E_VERIFY)
			st->bad_page = j.bad_page;
	}
	sq_first_err_destroy(&j.err);
	free(j.items);
	return rc;
}
