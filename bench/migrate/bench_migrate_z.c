/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/migrate/bench_migrate_z.c - compressed migration over a 1 Gbit/s
 * link: loopback TCP with the sender's bandwidth limit at 125 MB/s
 * (125,000,000 bytes per second of wire bytes, the token bucket of
 * migrate/tx.c), an idle region, two connections.
 *
 *   migrate/loopback/1g/idle/125mbps/text/{off,lz4,zstd}    text-like pages
 *   migrate/loopback/1g/idle/125mbps/random/{off,lz4,zstd}  random bytes
 *
 * The off variant of each region is the same-run baseline of the other two:
 * the goal is read as effective throughput (region bytes / total time,
 * connect to the receiver's commit ack) relative to it. Counters: wire_bytes,
 * bytes_ratio (wire / region), compressed_frames, raw_frames, zratio
 * (payload out / page bytes in), cpu_s (process CPU: both ends), verified.
 *
 * Region: 256 MiB unless SQ_BENCH_MIGRATE_Z_SIZE says otherwise ("1G");
 * the label names the size used. 7 pages in 8 hold data (text: log lines
 * of a small vocabulary, tests/migrate/workload.h), 1 in 8 is zero.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <squib/migrate.h>
#include <squib/tracker.h>

#include "bench_env.h"
#include "harness.h"
#include "migrate/workload.h"

#define LINK_BPS 125000000ull

enum { TEXT = 0, RANDOM = 1 };

static uint8_t *regions[2], *dst;
static size_t size;

static int setup(int kind)
{
	if (!size) {
		size = bench_env_size("SQ_BENCH_MIGRATE_Z_SIZE", 256u << 20);
		dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (dst == MAP_FAILED) {
			dst = NULL;
			return -1;
		}
	}
	if (regions[kind])
		return 0;
	uint8_t *r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return -1;
	if (kind == TEXT) {
		wl_fill_text(r, size, 11);
	} else {
		wl_fill_random(r, size, 12);
		for (size_t p = 7; p < size / 4096; p += 8)
			memset(r + p * 4096, 0, 4096);
	}
	regions[kind] = r;
	return 0;
}

static int idle_pause(void *ctx)
{
	(void)ctx;
	return 0;
}

/* arg: kind << 8 | compression mode. */
static void bm_z(struct sq_bench *b)
{
	int kind = (int)(sq_bench_arg(b) >> 8);
	enum sq_migrate_compression mode = (enum sq_migrate_compression)(sq_bench_arg(b) & 0xff);
	struct sq_tracker *t = NULL;
	uint32_t id;
	char l[96];

	if (setup(kind) || sq_tracker_create(NULL, &t) ||
	    sq_tracker_add_region(t, regions[kind], size, 0, &id)) {
		sq_bench_skip(b, "no memory or no tracker");
		sq_tracker_destroy(t);
		return;
	}
	snprintf(l, sizeof(l), "region %zu MiB %s, link 125 MB/s, 2 conns", size >> 20,
		 kind == TEXT ? "text" : "random");
	sq_bench_label(b, l);
	struct sq_migrate_tracker_ctx tctx = { t, id };
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	o.region = regions[kind];
	o.region_size = size;
	sq_migrate_tracker_source(&tctx, &o.source);
	o.pause = idle_pause;
	o.nconns = 2;
	o.timeout_ms = 60000;
	o.bandwidth_limit = LINK_BPS;
	o.compression = mode;
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .region = dst, .region_size = size, .mem_fd = -1,
					   .timeout_ms = 60000 };
	while (sq_bench_running(b)) {
		struct rx_thread x = { .timeout_ms = 60000 };
		struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
		if (rx_thread_start(&x, &ro)) {
			sq_bench_skip(b, "receiver");
			break;
		}
		o.to = x.addr;
		memset(dst, 0, size);
		double c0 = bench_cpu_now();
		int rc = sq_migrate_send(&o, &rep);
		int rrc = rx_thread_join(&x);
		double cpu = bench_cpu_now() - c0;
		int verified = !rc && !rrc && memcmp(regions[kind], dst, size) == 0;
		sq_migrate_recv_destroy(x.r);
		sq_bench_set_iteration_time(b, rep.total_s > 0 ? rep.total_s : 1e-9);
		sq_bench_counter(b, "wire_bytes", (double)rep.wire_bytes);
		sq_bench_counter(b, "bytes_ratio", (double)rep.wire_bytes / (double)size);
		sq_bench_counter(b, "compressed_frames", (double)rep.compressed_frames);
		sq_bench_counter(b, "raw_frames", (double)rep.raw_frames);
		sq_bench_counter(b, "zratio", rep.compress_in ? (double)rep.compress_out /
									(double)rep.compress_in
							      : 1.0);
		sq_bench_counter(b, "total_s", rep.total_s);
		sq_bench_counter(b, "cpu_s", cpu);
		sq_bench_counter(b, "verified", verified);
		if (!verified) {
			char msg[160];
			snprintf(msg, sizeof(msg), "migration failed: sender %d receiver %d", rc, rrc);
			sq_bench_skip(b, msg);
			break;
		}
	}
	sq_bench_set_bytes(b, (double)size);
	sq_tracker_destroy(t);
}

#define ZB(kind_, name_, mode_)                                                              \
	SQ_BENCH_DEF(.name = "migrate/loopback/1g/idle/125mbps/" #kind_ "/" #name_, .fn = bm_z, \
		     .arg = ((kind_##_ID) << 8) | (mode_), .iterations = 1, .manual_time = 1,  \
		     .baseline = "migrate/loopback/1g/idle/125mbps/" #kind_ "/off")
#define text_ID TEXT
#define random_ID RANDOM
SQ_BENCH_DEF(.name = "migrate/loopback/1g/idle/125mbps/text/off", .fn = bm_z,
	     .arg = (TEXT << 8) | SQ_MIGRATE_COMPRESS_OFF, .iterations = 1, .manual_time = 1)
ZB(text, lz4, SQ_MIGRATE_COMPRESS_LZ4)
ZB(text, zstd, SQ_MIGRATE_COMPRESS_ZSTD)
SQ_BENCH_DEF(.name = "migrate/loopback/1g/idle/125mbps/random/off", .fn = bm_z,
	     .arg = (RANDOM << 8) | SQ_MIGRATE_COMPRESS_OFF, .iterations = 1, .manual_time = 1)
ZB(random, lz4, SQ_MIGRATE_COMPRESS_LZ4)
ZB(random, zstd, SQ_MIGRATE_COMPRESS_ZSTD)
