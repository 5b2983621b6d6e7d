/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/chain.c - opening the layers of a chain and checking their order.
 *
 * Invariants:
 *  - A layer's ext[] is sorted and merged, inside the file's page range
 *    (ceil(size / page), a partial last page included): from a decoded
 *    manifest (validated by the decoder, pages of its page size) or from
 *    SEEK_DATA ranges rounded out to whole 4 KiB pages, clamped there.
 *  - A chain with manifests is accepted only as: layer 0 full, layer i > 0
 *    a diff whose parent id is layer i-1's id, all with one region size
 *    equal to every file's size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>

#include "core/err.h"
#include "core/sysio.h"
#include "io/chain.h"
#include "io/io_internal.h"

char *sq_mem_path_of(const char *path)
{
	size_t n = strlen(path);
	char *p;

	if (n > 5 && strcmp(path + n - 5, ".snap") == 0) {
		p = malloc(n);
		if (p)
			snprintf(p, n, "%.*s.mem", (int)(n - 5), path);
		return p;
	}
	return strdup(path);
}

/* Data ranges by SEEK_DATA / SEEK_HOLE, as page runs. */
static int scan_holes(struct sq_layer *l)
{
	size_t cap = 0;
	off_t pos = 0, end = (off_t)l->size;

	while (pos < end) {
		off_t d = lseek(l->fd, pos, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0)
			return sq_err_sys(SQ_E_MEMORY_IO, errno, "SEEK_DATA");
		off_t h = lseek(l->fd, d, SEEK_HOLE);
		if (h < 0)
			return sq_err_sys(SQ_E_MEMORY_IO, errno, "SEEK_HOLE");
		uint64_t a = (uint64_t)d / SQ_PAGE_SIZE;
		uint64_t e = sq_io_pages((uint64_t)h, SQ_PAGE_SHIFT);
		if (e > sq_io_pages(l->size, SQ_PAGE_SHIFT))
			e = sq_io_pages(l->size, SQ_PAGE_SHIFT);
		if (e > a) {
			if (l->next && l->ext[l->next - 1].first_page + l->ext[l->next - 1].npages >= a) {
				struct sq_run *r = &l->ext[l->next - 1];
				if (e > r->first_page + r->npages)
					r->npages = e - r->first_page;
			} else {
				if (l->next == cap) {
					size_t nc = cap ? cap * 2 : 16;
					void *x = realloc(l->ext, nc * sizeof(*l->ext));
					if (!x)
						return sq_err(SQ_E_NOMEM, "out of memory");
					l->ext = x;
					cap = nc;
				}
				l->ext[l->next++] = (struct sq_run){ a, e - a };
			}
		}
		pos = h;
	}
	return 0;
}

int sq_layer_open(const char *path, int need_manifest, struct sq_layer *l)
{
	char mpath[4096], rpath[4096];
	struct stat st;
	int rc;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->path = sq_mem_path_of(path);
	if (!l->path)
		return sq_err(SQ_E_NOMEM, "out of memory");
	rc = sq_manifest_path(l->path, mpath, sizeof(mpath));
	if (!rc)
		rc = sq_commit_path(l->path, rpath, sizeof(rpath));
	/* A pair whose commit was interrupted is completed before it is read. */
	if (!rc)
		rc = sq_atomic_group_recover(rpath, 1);
	if (rc)
		goto fail;
	rc = need_manifest < 0 ? 0 : sq_manifest_load(mpath, &l->m);
	if (rc == SQ_E_NOT_FOUND && !need_manifest)
		rc = 0;
	if (rc)
		goto fail;
	l->fd = sq_sys_open_input(SQ_SITE_MEMFILE_OPEN, l->path, 0, &st);
	if (l->fd < 0) {
		rc = l->fd == -ENOENT ? sq_err(SQ_E_NOT_FOUND, "memory file %s: %s",
					       l->path, strerror(ENOENT))
				      : sq_err_input(l->fd, SQ_E_MEMORY_IO, l->path);
		l->fd = -1;
		goto fail;
	}
	l->size = (uint64_t)st.st_size;
	if (l->m) {
		l->ext = l->m->extents;
		l->next = l->m->nextents;
		l->shift = sq_io_page_shift(l->m->page_size); /* checked by the decoder */
		return 0;
	}
	/* Without a manifest: 4 KiB pages, the finest any writer uses, so a
	 * hole is never taken for data; a partial trailing page is a page. */
	l->shift = SQ_PAGE_SHIFT;
	rc = scan_holes(l);
	if (rc)
		goto fail;
	return 0;
fail:
	sq_layer_close(l);
	return rc;
}

void sq_layer_close(struct sq_layer *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (!l->m)
		free(l->ext);
	sq_manifest_destroy(l->m);
	free(l->path);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

static int check_order(struct sq_layer *ls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct sq_manifest *m = ls[i].m;
		char a[33], b[33];

		if (ls[i].size != ls[0].size)
			return sq_err(SQ_E_CHAIN, "%s is %llu bytes, %s is %llu", ls[i].path,
				      (unsigned long long)ls[i].size, ls[0].path,
				      (unsigned long long)ls[0].size);
		if (!m)
			continue;
		if (m->region_size != ls[i].size)
			return sq_err(SQ_E_CHAIN, "%s is %llu bytes, its manifest says %llu",
				      ls[i].path, (unsigned long long)ls[i].size,
				      (unsigned long long)m->region_size);
		if (i == 0 && m->kind != SQ_SNAPSHOT_FULL)
			return sq_err(SQ_E_CHAIN, "%s is a diff: a chain starts with a full "
						  "snapshot", ls[i].path);
		if (i > 0 && m->kind != SQ_SNAPSHOT_DIFF)
			return sq_err(SQ_E_CHAIN, "%s is a full snapshot: only the first layer "
						  "may be full", ls[i].path);
		if (i > 0 && ls[i - 1].m && memcmp(&m->parent, &ls[i - 1].m->id, sizeof(m->parent))) {
			sq_id_format(&m->parent, a);
			sq_id_format(&ls[i - 1].m->id, b);
			return sq_err(SQ_E_CHAIN, "%s has parent %s, but the layer before it is %s "
						  "(%s)", ls[i].path, a, b, ls[i - 1].path);
		}
	}
	return 0;
}

int sq_chain_open(const char *const *paths, size_t n, int need_manifest, struct sq_layer **out)
{
	struct sq_layer *ls;
	int rc = 0;

	*out = NULL;
	if (!paths || n == 0)
		return sq_err(SQ_E_INVAL, "empty chain");
	ls = calloc(n, sizeof(*ls));
	if (!ls)
		return sq_err(SQ_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		ls[i].fd = -1;
	for (size_t i = 0; i < n && !rc; i++)
		rc = sq_layer_open(paths[i], need_manifest, &ls[i]);
	if (!rc)
		rc = check_order(ls, n);
	if (rc) {
		sq_chain_close(ls, n);
		return rc;
	}
	*out = ls;
	return 0;
}

void sq_chain_close(struct sq_layer *ls, size_t n)
{
	if (!ls)
		return;
	for (size_t i = 0; i < n; i++)
		if (ls[i].path || ls[i].fd >= 0)
			sq_layer_close(&ls[i]);
	free(ls);
}
