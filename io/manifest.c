/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/manifest.c - the manifest file: encoding, bounded decoding, ids.
 *
 * Layout (little-endian; docs/FORMAT.md "Memory files and manifest"):
 *
 *   0   8  magic "SQMANIF1"
 *   8   4  format version (1)
 *   12  4  kind (0 full, 1 diff)
 *   16  4  page size S: a power of two, 4096 to 65536
 *   20  4  header size (96)
 *   24 16  snapshot id
 *   40 16  parent id (zero for full)
 *   56  8  region size (= memory file size)
 *   64  8  state file size (0 = unbound)
 *   72  8  state file CRC-64 trailer
 *   80  8  number of extents E
 *   88  8  number of data pages P (sum of extent lengths)
 *   96     E x { u64 first_page, u64 npages }   (pages of S bytes)
 *          P x u64 CRC-64/Jones of each data page, in extent order
 *          u64 CRC-64/Jones of every preceding byte
 *
 * The region has ceil(region size / S) pages; the last one may be partial
 * (the original allows any ram_size), and its CRC covers only its bytes.
 *
 * Invariants (checked by the decoder, assumed by every user): S is a
 * manifest page size; extents are sorted, non-empty, non-adjacent and
 * inside the region; E and P are at most the region's page count; the
 * file is exactly 96 + 16E + 8P + 8 bytes; the CRC of the whole file is 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/crc64.h>
#include <squib/manifest.h>

#include "core/endian.h"
#include "core/err.h"
#include "core/sysio.h"
#include "io/io_internal.h"

#define MF_MAGIC "SQMANIF1"
#define MF_VERSION 1u
#define MF_HDR 96u

int sq_id_generate(struct sq_snapshot_id *id)
{
	size_t got = 0;

	while (got < sizeof(id->b)) {
		ssize_t r = getrandom(id->b + got, sizeof(id->b) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sq_err_sys(SQ_E_IO, errno, "getrandom");
		got += (size_t)r;
	}
	return 0;
}

void sq_id_format(const struct sq_snapshot_id *id, char out[2 * SQ_ID_BYTES + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < SQ_ID_BYTES; i++) {
		out[2 * i] = hex[id->b[i] >> 4];
		out[2 * i + 1] = hex[id->b[i] & 15];
	}
	out[2 * SQ_ID_BYTES] = 0;
}

int sq_id_is_zero(const struct sq_snapshot_id *id)
{
	for (int i = 0; i < SQ_ID_BYTES; i++)
		if (id->b[i])
			return 0;
	return 1;
}

static int stem_path(const char *path, const char *ext, char *buf, size_t len)
{
	size_t n = strlen(path);
	int w;

	if (n > 5 && strcmp(path + n - 5, ".snap") == 0)
		n -= 5;
	else if (n > 4 && strcmp(path + n - 4, ".mem") == 0)
		n -= 4;
	w = snprintf(buf, len, "%.*s%s", (int)n, path, ext);
	if (w < 0 || (size_t)w >= len)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: path too long: %s", path);
	return 0;
}

int sq_manifest_path(const char *path, char *buf, size_t len)
{
	return stem_path(path, ".manifest", buf, len);
}

int sq_commit_path(const char *path, char *buf, size_t len)
{
	return stem_path(path, ".commit", buf, len);
}

/* Structural checks shared by the encoder and the decoder. */
static int check(const struct sq_manifest *m, int code)
{
	unsigned shift = sq_io_page_shift(m->page_size);
	uint64_t pages = sq_io_pages(m->region_size, shift ? shift : 12), end = 0, sum = 0;

	if (!shift)
		return sq_err(code, "manifest: page size %u is not a power of two from %u to %u",
			      m->page_size, SQ_PAGE_SIZE_MIN, SQ_PAGE_SIZE_MAX);
	if (m->region_size == 0 || m->region_size > SQ_MANIFEST_MAX_REGION)
		return sq_err(code, "manifest: bad region size %llu",
			      (unsigned long long)m->region_size);
	if (m->kind != SQ_SNAPSHOT_FULL && m->kind != SQ_SNAPSHOT_DIFF)
		return sq_err(code, "manifest: unknown kind %u", m->kind);
	if (m->kind == SQ_SNAPSHOT_FULL && !sq_id_is_zero(&m->parent))
		return sq_err(code, "manifest: a full snapshot has a parent id");
	if (m->nextents > pages || m->npages > pages)
		return sq_err(code, "manifest: more extents or pages than the region holds");
	for (size_t i = 0; i < m->nextents; i++) {
		const struct sq_run *e = &m->extents[i];
		if (e->npages == 0 || (i && e->first_page <= end))
			return sq_err(code, "manifest: extent %zu is empty, unsorted, overlapping "
					    "or not merged", i);
		if (e->first_page >= pages || e->npages > pages - e->first_page)
			return sq_err(code, "manifest: extent %zu is outside the region", i);
		end = e->first_page + e->npages;
		sum += e->npages;
	}
	if (sum != m->npages)
		return sq_err(code, "manifest: extents hold %llu pages, header says %llu",
			      (unsigned long long)sum, (unsigned long long)m->npages);
	return 0;
}

int sq_manifest_encode(const struct sq_manifest *m, void **bufp, size_t *lenp)
{
	int rc = check(m, SQ_E_INVAL);
	if (rc)
		return rc;
	size_t len = MF_HDR + 16 * m->nextents + 8 * m->npages + 8;
	uint8_t *b = malloc(len), *p;
	if (!b)
		return sq_err(SQ_E_NOMEM, "out of memory");
	memcpy(b, MF_MAGIC, 8);
	sq_le_put32(b + 8, MF_VERSION);
	sq_le_put32(b + 12, m->kind);
	sq_le_put32(b + 16, m->page_size);
	sq_le_put32(b + 20, MF_HDR);
	memcpy(b + 24, m->id.b, 16);
	memcpy(b + 40, m->parent.b, 16);
	sq_le_put64(b + 56, m->region_size);
	sq_le_put64(b + 64, m->state_size);
	sq_le_put64(b + 72, m->state_crc);
	sq_le_put64(b + 80, m->nextents);
	sq_le_put64(b + 88, m->npages);
	p = b + MF_HDR;
	for (size_t i = 0; i < m->nextents; i++, p += 16) {
		sq_le_put64(p, m->extents[i].first_page);
		sq_le_put64(p + 8, m->extents[i].npages);
	}
	for (uint64_t i = 0; i < m->npages; i++, p += 8)
		sq_le_put64(p, m->crcs[i]);
	sq_le_put64(p, sq_crc64(b, len - 8));
	*bufp = b;
	*lenp = len;
	return 0;
}

/* Header fields and the exact length they imply; 0 or SQ_E_MANIFEST. */
static int parse_header(const uint8_t *b, struct sq_manifest *m, uint64_t *need)
{
	if (memcmp(b, MF_MAGIC, 8) != 0)
		return sq_err(SQ_E_MANIFEST, "manifest: bad magic");
	if (sq_le_get32(b + 8) != MF_VERSION)
		return sq_err(SQ_E_MANIFEST, "manifest: unsupported format version %u",
			      sq_le_get32(b + 8));
	if (sq_le_get32(b + 20) != MF_HDR)
		return sq_err(SQ_E_MANIFEST, "manifest: bad header size %u", sq_le_get32(b + 20));
	m->kind = sq_le_get32(b + 12);
	m->page_size = sq_le_get32(b + 16);
	memcpy(m->id.b, b + 24, 16);
	memcpy(m->parent.b, b + 40, 16);
	m->region_size = sq_le_get64(b + 56);
	m->state_size = sq_le_get64(b + 64);
	m->state_crc = sq_le_get64(b + 72);
	uint64_t ne = sq_le_get64(b + 80), np = sq_le_get64(b + 88);
	if (m->region_size == 0 || m->region_size > SQ_MANIFEST_MAX_REGION)
		return sq_err(SQ_E_MANIFEST, "manifest: bad region size");
	unsigned shift = sq_io_page_shift(m->page_size);
	if (!shift)
		return sq_err(SQ_E_MANIFEST, "manifest: page size %u is not a power of two from "
					     "%u to %u", m->page_size, SQ_PAGE_SIZE_MIN,
			      SQ_PAGE_SIZE_MAX);
	uint64_t pages = sq_io_pages(m->region_size, shift);
	if (ne > pages || np > pages)
		return sq_err(SQ_E_MANIFEST, "manifest: counts exceed the region");
	m->nextents = (size_t)ne;
	m->npages = np;
	*need = MF_HDR + 16 * ne + 8 * np + 8; /* ne, np <= 2^32: no overflow */
	return 0;
}

int sq_manifest_decode(const void *buf, size_t len, struct sq_manifest **out)
{
	const uint8_t *b = buf, *p;
	struct sq_manifest *m;
	uint64_t need;
	int rc;

	*out = NULL;
	if (len < MF_HDR + 8)
		return sq_err(SQ_E_MANIFEST, "manifest: %zu bytes is too short", len);
	m = calloc(1, sizeof(*m));
	if (!m)
		return sq_err(SQ_E_NOMEM, "out of memory");
	rc = parse_header(b, m, &need);
	if (!rc && need != len)
		rc = sq_err(SQ_E_MANIFEST, "manifest: %zu bytes, the header implies %llu", len,
			    (unsigned long long)need);
	if (!rc && sq_crc64(b, len) != 0)
		rc = sq_err(SQ_E_MANIFEST, "manifest: CRC-64 mismatch");
	if (rc)
		goto fail;
	m->extents = malloc((m->nextents ? m->nextents : 1) * sizeof(*m->extents));
	m->crcs = malloc((m->npages ? m->npages : 1) * sizeof(*m->crcs));
	if (!m->extents || !m->crcs) {
		rc = sq_err(SQ_E_NOMEM, "out of memory");
		goto fail;
	}
	p = b + MF_HDR;
	for (size_t i = 0; i < m->nextents; i++, p += 16)
		m->extents[i] = (struct sq_run){ sq_le_get64(p), sq_le_get64(p + 8) };
	for (uint64_t i = 0; i < m->npages; i++, p += 8)
		m->crcs[i] = sq_le_get64(p);
	rc = check(m, SQ_E_MANIFEST);
	if (rc)
		goto fail;
	*out = m;
	return 0;
fail:
	sq_manifest_destroy(m);
	return rc;
}

int sq_manifest_save(const char *path, const struct sq_manifest *m)
{
	void *buf;
	size_t len;
	int rc = sq_manifest_encode(m, &buf, &len);

	if (rc)
		return rc;
	rc = sq_atomic_write_file(path, buf, len, 0);
	free(buf);
	return rc;
}

int sq_manifest_load(const char *path, struct sq_manifest **out)
{
	uint8_t hdr[MF_HDR], *buf = NULL;
	struct sq_manifest probe = { 0 };
	struct stat st;
	uint64_t need;
	int fd, rc;

	*out = NULL;
	fd = sq_sys_open_input(SQ_SITE_MANIFEST_OPEN, path, 0, &st);
	if (fd == -ENOENT)
		return sq_err(SQ_E_NOT_FOUND, "manifest %s: %s", path, strerror(ENOENT));
	if (fd < 0)
		return sq_err_input(fd, SQ_E_IO, path);
	if ((uint64_t)st.st_size < MF_HDR + 8) {
		rc = sq_err(SQ_E_MANIFEST, "manifest %s: too short (%lld bytes)", path,
			    (long long)st.st_size);
		goto out;
	}
	rc = sq_sys_pread_all(SQ_SITE_MANIFEST_READ, fd, hdr, MF_HDR, 0);
	if (rc) {
		rc = sq_err_sys(SQ_E_IO, -rc, path);
		goto out;
	}
	/* The header's counts, checked against the region, must imply exactly
	 * the file's size; the bytes are then read only as far as they are
	 * really stored (sq_read_dense refuses a hole before reading). */
	rc = parse_header(hdr, &probe, &need);
	if (rc)
		goto out;
	if (need != (uint64_t)st.st_size) {
		rc = sq_err(SQ_E_MANIFEST, "manifest %s: %lld bytes, the header implies %llu",
			    path, (long long)st.st_size, (unsigned long long)need);
		goto out;
	}
	rc = sq_read_dense(SQ_SITE_MANIFEST_READ, fd, need, SQ_E_MANIFEST, path, &buf);
	if (!rc)
		rc = sq_manifest_decode(buf, need, out);
out:
	free(buf);
	close(fd);
	return rc;
}

void sq_manifest_destroy(struct sq_manifest *m)
{
	if (!m)
		return;
	free(m->extents);
	free(m->crcs);
	free(m);
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
void sq_manifest_free(struct sq_manifest *m)
{
	sq_manifest_destroy(m);
}
