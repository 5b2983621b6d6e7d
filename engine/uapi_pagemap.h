/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/uapi_pagemap.h - the PAGEMAP_SCAN ioctl ABI (Linux 6.7), for
 * systems whose installed uapi headers predate it. Used by engine/kwp.c
 * and by the bare-ioctl benchmark (bench/engine/bench_kernel_bare.c).
 */
#ifndef SQ_ENGINE_UAPI_PAGEMAP_H
#define SQ_ENGINE_UAPI_PAGEMAP_H

#include <linux/fs.h>
#include <linux/types.h>
#include <sys/ioctl.h>

/* Values from the kernel's include/uapi/linux/fs.h (stable ABI). */
#ifndef PAGEMAP_SCAN
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif

#endif /* SQ_ENGINE_UAPI_PAGEMAP_H */
