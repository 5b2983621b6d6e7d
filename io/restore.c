/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/restore.c - a chain back into memory: eager (parallel, O_DIRECT) and
 * lazy (MAP_PRIVATE of the full file, diffs copied over it).
 *
 * Invariants:
 *  - Layers are applied in chain order, each fully before the next, so a
 *    page ends up with the content of the last layer that holds it.
 *  - Holes of the full file are zero in the result: cleared in @dest
 *    unless the caller says it is already zero; in a lazy mapping they
 *    read as zero from the file itself.
 *  - A diff's holes leave the page as the layers below made it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include <squib/restore.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "core/sized.h"
#include "io/chain.h"

static void zero_gaps(const struct sq_layer *l, uint8_t *dest, uint64_t size)
{
	uint64_t pos = 0;

	for (size_t i = 0; i <= l->next; i++) {
		uint64_t a = i < l->next ? l->ext[i].first_page << l->shift : size;
		if (a > size)
			a = size;
		if (a > pos)
			memset(dest + pos, 0, a - pos);
		if (i < l->next)
			pos = (l->ext[i].first_page + l->ext[i].npages) << l->shift;
	}
}

/* The bytes of every layer's extents: what a restore reads. */
static uint64_t chain_data_bytes(const struct sq_layer *ls, size_t n)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t e = 0; e < ls[i].next; e++) {
			uint64_t a = ls[i].ext[e].first_page << ls[i].shift;
			uint64_t b = (ls[i].ext[e].first_page + ls[i].ext[e].npages) << ls[i].shift;
			bytes += (b < ls[i].size ? b : ls[i].size) - a; /* a partial last page */
		}
	return bytes;
}

static int check_size(const struct sq_layer *ls, uint64_t size)
{
	if (ls[0].size != size)
		return sq_err(SQ_E_SIZE_MISMATCH, "the chain's memory files are %llu bytes, the "
						  "destination is %llu",
			      (unsigned long long)ls[0].size, (unsigned long long)size);
	return 0;
}

int sq_restore_to_memory(const char *const *paths, size_t n, void *dest, uint64_t size,
			 const struct sq_restore_opts *opts, struct sq_restore_report *r)
{
	struct sq_restore_opts o = SQ_INIT(struct sq_restore_opts);
	struct sq_read_stats st = { 0 };
	struct sq_layer *ls;
	double t0 = sq_clock_s();
	int rc = SQ_SIZED_IN(o, opts, SQ_V0_RESTORE_OPTS, "sq_restore_opts");

	if (!rc)
		rc = sq_sized_check(r, SQ_V0_RESTORE_REPORT, "sq_restore_report");
	if (rc)
		return rc;
	if (!dest || ((uintptr_t)dest & (SQ_PAGE_SIZE - 1)))
		return sq_err(SQ_E_ALIGN, "restore destination must be page aligned");
	rc = sq_chain_open(paths, n, 0, &ls);
	if (rc)
		return rc;
	rc = check_size(ls, size);
	if (!rc && !o.dest_zeroed)
		zero_gaps(&ls[0], dest, size);
	struct sq_prog pg;
	if (!rc)
		rc = sq_prog_begin(&pg, o.progress, o.progress_ctx, SQ_PROGRESS_RESTORE_READ, 0,
				   chain_data_bytes(ls, n));
	for (size_t i = 0; i < n && !rc; i++)
		rc = sq_read_extents(ls[i].fd, ls[i].ext, ls[i].next, ls[i].shift, ls[i].size,
				     o.verify && ls[i].m ? ls[i].m->crcs : NULL, dest, o.threads,
				     o.direct, &st, &pg);
	if (!rc)
		rc = sq_prog_end(&pg);
	if (!rc) {
		struct sq_restore_report rep = { .size = sizeof(rep), .layers = (unsigned)n,
						 .pages_read = st.pages, .bytes_read = st.bytes,
						 .direct = st.direct, .seconds = sq_clock_s() - t0 };
		SQ_SIZED_OUT(r, rep);
	}
	sq_chain_close(ls, n);
	return rc;
}

int sq_restore_map(const char *const *paths, size_t n, uint64_t size, void **addr)
{
	struct sq_layer *ls;
	void *p;
	int rc;

	*addr = NULL;
	rc = sq_chain_open(paths, n, 0, &ls);
	if (rc)
		return rc;
	rc = check_size(ls, size);
	if (rc)
		goto out;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, ls[0].fd, 0);
	if (p == MAP_FAILED) {
		rc = sq_err_sys(SQ_E_NOMEM, errno, "mmap of the full memory file");
		goto out;
	}
	/* Diffs are small: read them over the private mapping (copy on write). */
	for (size_t i = 1; i < n && !rc; i++)
		rc = sq_read_extents(ls[i].fd, ls[i].ext, ls[i].next, ls[i].shift, ls[i].size,
				     NULL, p, 1, -1, NULL, NULL);
	if (rc) {
		munmap(p, size);
		goto out;
	}
	*addr = p;
out:
	sq_chain_close(ls, n);
	return rc;
}

int sq_restore_check_output(const char *const *paths, size_t n, const char *out)
{
	struct stat o, st;
	char mp[4096];
	int rc = 0;

	if (!out || stat(out, &o) < 0)
		return 0;
	for (size_t i = 0; i < n && !rc; i++) {
		char *mem = sq_mem_path_of(paths[i]);
		if (!mem)
			return sq_err(SQ_E_NOMEM, "out of memory");
		int hit = (stat(mem, &st) == 0 && st.st_dev == o.st_dev && st.st_ino == o.st_ino) ||
			  (!sq_manifest_path(mem, mp, sizeof(mp)) && stat(mp, &st) == 0 &&
			   st.st_dev == o.st_dev && st.st_ino == o.st_ino);
		if (hit)
			rc = sq_err(SQ_E_OUTPUT_IS_INPUT, "output %s is the input %s: restore to a "
							  "new path", out, paths[i]);
		free(mem);
	}
	return rc;
}

void sq_restore_unmap(void *addr, uint64_t size)
{
	if (addr)
		munmap(addr, size);
}
