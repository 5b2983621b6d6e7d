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
	/* The inline mark (squib/tracker_inline.h) through the installed headers. */
	struct sq_tracker *t;
	struct sq_mark_handle h;
	uint32_t id;
	uint64_t pages = 0;
	if (sq_tracker_create(NULL, &t) || sq_tracker_add_region(t, p, 1 << 20, 0, &id) ||
	    sq_tracker_handle_get(t, id, &h) || sq_handle_mark(&h, (char *)p + 5000) ||
	    sq_handle_mark(&h, (char *)p + (1 << 20)) != SQ_E_RANGE ||
	    sq_tracker_count(t, id, &pages) || pages != 1) {
		fprintf(stderr, "tracker handle check failed\n");
		return 1;
	}
	sq_tracker_handle_put(&h);
	sq_tracker_destroy(t);
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
