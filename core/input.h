/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/input.h - input files read the same way by every layer (core/input.c).
 */
#ifndef SQ_CORE_INPUT_H
#define SQ_CORE_INPUT_H

#include <stdint.h>

/*
 * sq_err_input() - record the failure @r of sq_sys_open_input for @path:
 * SQ_SYS_NOT_REGULAR -> SQ_E_NOT_REGULAR, -ENOENT -> SQ_E_NOT_FOUND, other
 * -errno -> @cls with the system's text. Returns the code.
 */
int sq_err_input(int r, int cls, const char *path);

/*
 * sq_read_dense() - read the first @size bytes of @fd (a regular file) into
 * *@out (malloc'ed, caller frees). A file with a hole before @size is
 * refused with @sparse_code before anything is read (@sparse_code 0: holes
 * are read as zeros), and the buffer grows
 * with the bytes actually read (1 MiB steps), so memory follows the file's
 * stored content, not its apparent size. Returns 0, @sparse_code,
 * SQ_E_IO (read error, or end of file before @size), SQ_E_NOMEM.
 */
int sq_read_dense(int site, int fd, uint64_t size, int sparse_code, const char *path,
		  uint8_t **out);

#endif /* SQ_CORE_INPUT_H */
