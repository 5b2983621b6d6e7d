/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A program outside the project, built against the installed libsquib.
 * It exercises a few public calls and checks that linking libsquib did not
 * replace the program's malloc.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <squib/squib.h>

int main(void)
{
	Dl_info info;
	void *p;

	if (sq_crc64("123456789", 9) != 0xe9c6d914c4b8d9caull) {
		fprintf(stderr, "crc64 check value wrong\n");
		return 1;
	}
	if (sq_version_number() != SQ_VERSION_NUMBER) {
		fprintf(stderr, "library %u, headers %u\n", sq_version_number(), SQ_VERSION_NUMBER);
		return 1;
	}
	if (strcmp(sq_error_name(SQ_E_CRC_MISMATCH), "SQ_E_CRC_MISMATCH") != 0)
		return 1;
	p = sq_mem_alloc(1 << 20, 4096);
	if (!p || ((unsigned long)p & 4095))
		return 1;
	memset(p, 1, 1 << 20);
	sq_mem_free(p, 1 << 20, 4096);
	if (!dladdr(dlsym(RTLD_DEFAULT, "malloc"), &info) || !strstr(info.dli_fname, "libc.so")) {
		fprintf(stderr, "malloc no longer comes from libc: %s\n",
			info.dli_fname ? info.dli_fname : "?");
		return 1;
	}
	printf("consumer ok: libsquib %s, allocator %s, malloc from %s\n", sq_version(),
	       sq_allocator_name(), info.dli_fname);
	return 0;
}
