/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/foreign.h - manifests for memory files written without one (the
 * original's and Firecracker's), built from the file itself.
 *
 *   sq_layer_manifest        extents (the layer's SEEK_DATA scan) and a CRC
 *                            per page read from the file -> a manifest
 *   sq_chain_fill_manifests  one for every layer of a chain that has none
 */
#ifndef SQ_IO_FOREIGN_H
#define SQ_IO_FOREIGN_H

#include <stddef.h>

#include "io/chain.h"

/*
 * sq_layer_manifest() - a manifest of @kind for @l, opened without one
 * (its ext[] from SEEK_DATA / SEEK_HOLE, 4 KiB pages), in pages of
 * @page_size (4 to 64 KiB: extents rounded out to them, a partial last
 * page included). A new random id, no parent, no state binding: the caller
 * fills those. SQ_E_INVAL (page size); SQ_E_ALIGN when the file is empty
 * or larger than a manifest describes; SQ_E_MEMORY_IO; SQ_E_NOMEM.
 * @l is not changed.
 */
int sq_layer_manifest(const struct sq_layer *l, enum sq_snapshot_kind kind, uint32_t page_size,
		      struct sq_manifest **out);

/*
 * sq_chain_fill_manifests() - give each layer without a manifest the one
 * sq_layer_manifest builds in 4 KiB pages (layer 0 full, the others
 * diffs; 4 KiB so that no hole of a diff is taken for data); the layer
 * owns it afterwards (sq_chain_close frees it). *@nforeign (may be NULL)
 * receives how many layers had none. Same errors.
 */
int sq_chain_fill_manifests(struct sq_layer *ls, size_t n, size_t *nforeign);

#endif /* SQ_IO_FOREIGN_H */
