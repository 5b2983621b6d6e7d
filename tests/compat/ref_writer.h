/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/compat/ref_writer.h - a reference writer of the original crate's
 * files, following the squib-snapshot 0.2.0 description (shared spec, §6
 * "Memory file") literally, so that the library is tested against what the
 * original writes, not against itself:
 *
 *   full  one buffer of page_size bytes; offsets 0, page, 2*page, ... up to
 *         ram_size, each chunk min(page, remaining) (a partial last chunk),
 *         read, then written sequentially at the current position;
 *   diff  set_len(ram_size), then for each dirty bitmap page in ascending
 *         order, for each file page inside it: offset = index * bitmap_page
 *         + sub * file_page, stop at ram_size, seek, write the chunk (no
 *         coalescing, no zero detection: a dirty zero page is written);
 *   both  to "<dest>.tmp", fsync, rename (AtomicWriter).
 *
 * The state file: the encoder's bytes (byte-compatible with the original,
 * tests/state) written the same way.
 */
#ifndef SQ_TESTS_COMPAT_REF_WRITER_H
#define SQ_TESTS_COMPAT_REF_WRITER_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns 0 or -1 (errno set). */
static inline int ref_commit(int fd, const char *tmp, const char *dest)
{
	if (fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, dest);
}

static inline int ref_write_full(const char *dest, const uint8_t *ram, uint64_t ram_size,
				 uint64_t page_size)
{
	char tmp[4200];
	uint8_t *buf = malloc(page_size);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !buf) {
		free(buf);
		return -1;
	}
	for (uint64_t off = 0; off < ram_size; off += page_size) {
		size_t chunk = (size_t)(ram_size - off < page_size ? ram_size - off : page_size);
		memcpy(buf, ram + off, chunk); /* PageReader::read_at */
		if (write(fd, buf, chunk) != (ssize_t)chunk) {
			free(buf);
			close(fd);
			unlink(tmp);
			return -1;
		}
	}
	free(buf);
	return ref_commit(fd, tmp, dest);
}

/* @dirty: bit i of byte i / 8 (least significant first) = bitmap page i. */
static inline int ref_write_diff(const char *dest, const uint8_t *ram, uint64_t ram_size,
				 uint64_t file_page, const uint8_t *dirty, uint64_t bitmap_page)
{
	char tmp[4200];
	uint64_t npages = (ram_size + bitmap_page - 1) / bitmap_page;
	uint8_t *buf = malloc(file_page);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !buf || ftruncate(fd, (off_t)ram_size) < 0)
		goto fail;
	for (uint64_t i = 0; i < npages; i++) {
		if (!(dirty[i / 8] >> (i % 8) & 1))
			continue;
		for (uint64_t sub = 0; sub < bitmap_page / file_page; sub++) {
			uint64_t off = i * bitmap_page + sub * file_page;
			if (off >= ram_size)
				break;
			size_t chunk = (size_t)(ram_size - off < file_page ? ram_size - off
									  : file_page);
			memcpy(buf, ram + off, chunk);
			if (lseek(fd, (off_t)off, SEEK_SET) < 0 ||
			    write(fd, buf, chunk) != (ssize_t)chunk)
				goto fail;
		}
	}
	free(buf);
	return ref_commit(fd, tmp, dest);
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

static inline int ref_write_bytes(const char *dest, const void *bytes, size_t len)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, bytes, len) != (ssize_t)len) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	return ref_commit(fd, tmp, dest);
}

#endif /* SQ_TESTS_COMPAT_REF_WRITER_H */
