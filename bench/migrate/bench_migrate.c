/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/migrate/bench_migrate.c - pre-copy migration over loopback TCP.
 *
 *   migrate/raw/loopback_tcp_limit/c{1,2}   the region's bytes sent raw
 *                                           (send/recv, no framing) from the
 *                                           source into the destination
 *                                           region: the baseline of a run
 *   migrate/raw/loopback_tcp_scratch/c{1,2} the same, received into a 1 MiB
 *                                           scratch buffer (the socket alone,
 *                                           no store to destination memory)
 *   migrate/loopback/1g/idle/c{1,2}         nothing writes the region
 *   migrate/loopback/1g/32mibps/c{1,2}      a writer dirties 32 MiB/s
 *   migrate/loopback/1g/128mibps/c{1,2}     ... 128 MiB/s
 *   migrate/loopback/1g/idle/tls=off/c{1,2} idle, plaintext: the baseline of
 *                                           the two below
 *   migrate/loopback/1g/idle/tls=user/c{1,2} idle over TLS 1.3 (pre-shared
 *                                           key, AES-128-GCM), OpenSSL's
 *                                           record layer
 *   migrate/loopback/1g/idle/tls=ktls/c{1,2} the same with kernel TLS; skipped
 *                                           (with the reason) where the
 *                                           kernel does not take the session
 *
 * c1 / c2: TCP connections. One iteration = one whole migration (manual
 * time = the sender's total time, connect to verified final ack). Counters:
 * rounds, wire_bytes, bytes_ratio (wire / region), downtime_ms, total_s,
 * cpu_s (process CPU time of the transfer: both ends, and the writer),
 * converged, verified (destination == source at the pause point); the TLS
 * variants also report tls (0 off, 1 user, 2 ktls: what the session used).
 *
 * The region is 1 GiB unless SQ_BENCH_MIGRATE_SIZE says otherwise (e.g.
 * "256M"); the label names the size used. Source and destination are
 * mapped and touched once, outside the timed part, as a VMM's guest memory
 * would be; 7 pages in 8 hold data, 1 in 8 is zero.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <squib/migrate.h>
#include <squib/tracker.h>

#include "bench_env.h"
#include "harness.h"
#include "migrate/workload.h"

static uint8_t *src, *dst;
static size_t size;

static int setup_regions(void)
{
	if (src)
		return 0;
	size = bench_env_size("SQ_BENCH_MIGRATE_SIZE", 1ull << 30);
	src = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED)
		return -1;
	uint64_t s = 7;
	for (size_t p = 0; p < size / 4096; p++) {
		uint64_t *q = (uint64_t *)(src + p * 4096), v = sq_splitmix64(&s);
		if (p % 8 == 7)
			continue;
		for (int i = 0; i < 512; i++)
			q[i] = v + (uint64_t)i;
	}
	memset(dst, 0, size);
	return 0;
}

static void label(struct sq_bench *b)
{
	char l[64];
	snprintf(l, sizeof(l), "region %zu MiB, %lld conn(s)", size >> 20,
		 (long long)(sq_bench_arg(b) & 0xff));
	sq_bench_label(b, l);
}

/* ------------------------------------------------------------ raw baseline */

struct raw_rx {
	int fd;
	size_t want;
	uint8_t *into; /* NULL: scratch */
};

static void *raw_recv(void *arg)
{
	struct raw_rx *x = arg;
	static __thread uint8_t buf[1 << 20];
	size_t got = 0;

	while (got < x->want) {
		size_t room = x->want - got < sizeof(buf) ? x->want - got : sizeof(buf);
		ssize_t n = recv(x->fd, x->into ? x->into + got : buf, room, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	x->want = got;
	return NULL;
}

struct raw_tx {
	int fd;
	const uint8_t *p;
	size_t len;
};

static void *raw_send(void *arg)
{
	struct raw_tx *x = arg;
	size_t off = 0;

	while (off < x->len) {
		size_t n = x->len - off < (1u << 20) ? x->len - off : (1u << 20);
		ssize_t k = send(x->fd, x->p + off, n, MSG_NOSIGNAL);
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	return NULL;
}

static void bm_raw(struct sq_bench *b)
{
	unsigned n = (unsigned)(sq_bench_arg(b) & 0xff);
	int scratch = (int)(sq_bench_arg(b) >> 8);
	int lfd;
	unsigned port;

	if (setup_regions() || sq_migrate_listen("127.0.0.1:0", &lfd, &port)) {
		sq_bench_skip(b, "no memory or no loopback");
		return;
	}
	label(b);
	while (sq_bench_running(b)) {
		struct raw_rx rx[2];
		struct raw_tx tx[2];
		pthread_t rt[2], tt[2];
		size_t share = size / n;
		for (unsigned i = 0; i < n; i++) {
			tx[i].fd = socket(AF_INET, SOCK_STREAM, 0);
			struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			if (connect(tx[i].fd, (struct sockaddr *)&a, sizeof(a)))
				abort();
			rx[i].fd = accept(lfd, NULL, NULL);
			rx[i].want = i + 1 == n ? size - share * (n - 1) : share;
			rx[i].into = scratch ? NULL : dst + share * i;
			tx[i].p = src + share * i;
			tx[i].len = rx[i].want;
		}
		double t0 = sq_bench_now(), c0 = bench_cpu_now();
		for (unsigned i = 0; i < n; i++) {
			pthread_create(&rt[i], NULL, raw_recv, &rx[i]);
			pthread_create(&tt[i], NULL, raw_send, &tx[i]);
		}
		size_t total = 0;
		for (unsigned i = 0; i < n; i++) {
			pthread_join(tt[i], NULL);
			pthread_join(rt[i], NULL);
			total += rx[i].want;
		}
		double t = sq_bench_now() - t0, cpu = bench_cpu_now() - c0;
		for (unsigned i = 0; i < n; i++) {
			close(tx[i].fd);
			close(rx[i].fd);
		}
		sq_bench_set_iteration_time(b, t);
		sq_bench_counter(b, "total_s", t);
		sq_bench_counter(b, "cpu_s", cpu);
		sq_bench_counter(b, "wire_bytes", (double)total);
	}
	sq_bench_set_bytes(b, (double)size);
	close(lfd);
}

#define RAW(kind_, c_, arg_, base_)                                                         \
	SQ_BENCH_DEF(.name = "migrate/raw/loopback_tcp_" kind_ "/c" #c_, .fn = bm_raw,        \
		     .arg = (arg_), .iterations = 1, .manual_time = 1, .baseline = (base_))
RAW("limit", 1, 1, NULL)
RAW("limit", 2, 2, NULL)
RAW("scratch", 1, 0x101, "migrate/raw/loopback_tcp_limit/c1")
RAW("scratch", 2, 0x102, "migrate/raw/loopback_tcp_limit/c2")

/* ------------------------------------------------------------- migrations */

/* What a session reported as its TLS kind, as a counter value. */
static double tls_code(const char *kind)
{
	return !strcmp(kind, "ktls") ? 2 : !strcmp(kind, "user") ? 1 : 0;
}

/* One migration per iteration; @link NULL: plaintext. @want: the TLS kind
 * the session must have used, else the benchmark is skipped with the reason. */
static void migrate_once(struct sq_bench *b, double rate, const struct sq_migrate_link_opts *link,
			 const char *want)
{
	struct wl w;
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x = { .timeout_ms = 60000 };

	if (setup_regions()) {
		sq_bench_skip(b, "no memory");
		return;
	}
	label(b);
	memset(&w, 0, sizeof(w));
	w.region = src;
	w.size = size;
	w.rate = rate;
	w.seed = 99;
	if (sq_tracker_create(NULL, &w.t) || sq_tracker_add_region(w.t, src, size, 0, &w.id)) {
		sq_bench_skip(b, "tracker");
		return;
	}
	w.tctx = (struct sq_migrate_tracker_ctx){ w.t, w.id };
	wl_opts(&w, &o);
	o.nconns = (unsigned)(sq_bench_arg(b) & 0xff);
	o.timeout_ms = 60000;
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .region = dst, .region_size = size, .mem_fd = -1,
					   .timeout_ms = 60000 };
	while (sq_bench_running(b)) {
		struct sq_migrate_link_report lr = SQ_INIT(struct sq_migrate_link_report);
		if (rx_thread_start(&x, &ro) || (link && sq_migrate_recv_set_link(x.r, link))) {
			sq_bench_skip(b, "receiver");
			break;
		}
		o.to = x.addr;
		memset(dst, 0, size); /* a receiver starts from zero-filled memory */
		atomic_store(&w.stop, 0);
		atomic_store(&w.throttle, 0);
		double c0 = bench_cpu_now();
		wl_start(&w);
		int rc = sq_migrate_send_link(&o, link, &rep, &lr);
		int rrc = rx_thread_join(&x);
		double cpu = bench_cpu_now() - c0;
		wl_pause(&w);
		int verified = !rc && !rrc && memcmp(src, dst, size) == 0;
		sq_migrate_recv_destroy(x.r);
		sq_bench_set_iteration_time(b, rep.total_s > 0 ? rep.total_s : 1e-9);
		sq_bench_counter(b, "rounds", rep.rounds);
		sq_bench_counter(b, "wire_bytes", (double)rep.wire_bytes);
		sq_bench_counter(b, "bytes_ratio", (double)rep.wire_bytes / (double)size);
		sq_bench_counter(b, "downtime_ms", rep.downtime_ms);
		sq_bench_counter(b, "total_s", rep.total_s);
		sq_bench_counter(b, "cpu_s", cpu);
		sq_bench_counter(b, "converged", rep.converged);
		sq_bench_counter(b, "verified", verified);
		if (rep.nstats)
			sq_bench_counter(b, "round1_mibps", rep.round[0].bandwidth / 1048576.0);
		if (want) {
			sq_bench_counter(b, "tls", tls_code(lr.tls));
			if (verified && strcmp(lr.tls, want)) {
				char msg[160];
				snprintf(msg, sizeof(msg), "the session used TLS \"%s\", not \"%s\" (%s)",
					 lr.tls, want,
					 !strcmp(want, "ktls") ? "the kernel offers no TLS offload here"
							       : "unexpected");
				sq_bench_skip(b, msg);
				break;
			}
		}
		if (!verified) {
			char msg[256];
			snprintf(msg, sizeof(msg), "migration failed: sender %d receiver %d", rc, rrc);
			sq_bench_skip(b, msg);
			break;
		}
	}
	sq_bench_set_bytes(b, (double)size);
	sq_tracker_destroy(w.t);
}

static void bm_idle(struct sq_bench *b)
{
	migrate_once(b, 0, NULL, NULL);
}

static void bm_32(struct sq_bench *b)
{
	migrate_once(b, 32.0 * 1048576, NULL, NULL);
}

static void bm_128(struct sq_bench *b)
{
	migrate_once(b, 128.0 * 1048576, NULL, NULL);
}

/* arg: connections | kind << 8 (0 plaintext, 1 user-space TLS, 2 kernel TLS). */
static void bm_idle_tls(struct sq_bench *b)
{
	static const char key[] = "squib-bench pre-shared key, 32+ bytes";
	int kind = (int)(sq_bench_arg(b) >> 8);
	struct sq_migrate_link_opts l = { .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_TLS_PSK, .psk = key,
					  .psk_len = sizeof(key) - 1, .no_ktls = kind == 1 };

	migrate_once(b, 0, kind ? &l : NULL, kind == 2 ? "ktls" : kind == 1 ? "user" : "off");
}

#define MIG(load_, body_, c_)                                                               \
	SQ_BENCH_DEF(.name = "migrate/loopback/1g/" load_ "/c" #c_, .fn = (body_), .arg = (c_), \
		     .iterations = 1, .manual_time = 1,                                        \
		     .baseline = "migrate/raw/loopback_tcp_limit/c" #c_)
MIG("idle", bm_idle, 1)
MIG("idle", bm_idle, 2)
MIG("32mibps", bm_32, 1)
MIG("32mibps", bm_32, 2)
MIG("128mibps", bm_128, 1)
MIG("128mibps", bm_128, 2)

#define TLS(kind_, code_, c_, base_)                                                        \
	SQ_BENCH_DEF(.name = "migrate/loopback/1g/idle/tls=" kind_ "/c" #c_, .fn = bm_idle_tls, \
		     .arg = (c_) | ((code_) << 8), .iterations = 1, .manual_time = 1,          \
		     .baseline = (base_))
TLS("off", 0, 1, "migrate/raw/loopback_tcp_limit/c1")
TLS("off", 0, 2, "migrate/raw/loopback_tcp_limit/c2")
TLS("user", 1, 1, "migrate/loopback/1g/idle/tls=off/c1")
TLS("user", 1, 2, "migrate/loopback/1g/idle/tls=off/c2")
TLS("ktls", 2, 1, "migrate/loopback/1g/idle/tls=off/c1")
TLS("ktls", 2, 2, "migrate/loopback/1g/idle/tls=off/c2")
