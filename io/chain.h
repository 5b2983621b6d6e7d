/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/chain.h - layers of a snapshot chain, and the parallel extent reader.
 *
 *   sq_layer_open      open a memory file (".snap" -> ".mem") and its
 *                      manifest if any; extents from the manifest, else
 *                      from SEEK_DATA / SEEK_HOLE
 *   sq_chain_open      open n layers and check kinds, sizes, parent ids
 *   sq_read_extents    read extents in parallel into a destination region
 *                      or a scratch buffer, optionally checking CRCs
 */
#ifndef SQ_IO_CHAIN_H
#define SQ_IO_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include <squib/manifest.h>
#include <squib/types.h>

struct sq_prog;

struct sq_layer {
	char *path;              /* the memory file */
	int fd;                  /* read-only */
	uint64_t size;           /* file size */
	struct sq_manifest *m;   /* NULL when the file has no manifest */
	struct sq_run *ext;      /* = m->extents, or from SEEK_DATA (owned) */
	size_t next;
	unsigned shift;          /* ext[] is in pages of 1 << shift bytes: the
				  * manifest's page size, else 4 KiB; the last
				  * page may be partial (ends at size) */
};

/* @need_manifest: 1 = SQ_E_NOT_FOUND without one, 0 = optional, -1 = ignore it
 * (extents from SEEK_DATA). Close with sq_layer_close. */
int sq_layer_open(const char *path, int need_manifest, struct sq_layer *l);
void sq_layer_close(struct sq_layer *l);
/* "x.snap" -> "x.mem"; other paths are copied. Returns malloc'ed or NULL. */
char *sq_mem_path_of(const char *path);

/* On success *out is an array of n open layers (sq_chain_close). */
int sq_chain_open(const char *const *paths, size_t n, int need_manifest,
		  struct sq_layer **out);
void sq_chain_close(struct sq_layer *ls, size_t n);

struct sq_read_stats {
	uint64_t pages;
	uint64_t bytes;
	uint64_t bad_page; /* first CRC mismatch (SQ_E_VERIFY) */
	int direct;
};

/*
 * sq_read_extents() - read @n extents of @fd, in pages of 1 << @shift
 * bytes of a file of @size bytes (a page reaching past @size is read up to
 * @size: the partial trailing page). With @dest, page p lands at
 * dest + (p << shift); without, into per-worker buffers (checking only).
 * @crcs (may be NULL): one CRC per page (of its bytes) in extent order; a
 * mismatch fails with SQ_E_VERIFY. @direct: 0 = O_DIRECT where allowed,
 * -1 = buffered (always buffered when @size is not a multiple of 4 KiB).
 * @pg (may be NULL): a phase begun by the caller; each extent byte read
 * is counted, and the calling thread reports between its reads (a cancel
 * stops every worker with SQ_E_CANCELED).
 */
int sq_read_extents(int fd, const struct sq_run *ext, size_t n, unsigned shift, uint64_t size,
		    const uint64_t *crcs, uint8_t *dest, unsigned threads, int direct,
		    struct sq_read_stats *st, struct sq_prog *pg);

#endif /* SQ_IO_CHAIN_H */
