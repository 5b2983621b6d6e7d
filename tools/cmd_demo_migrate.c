/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cmd_demo_migrate.c - "squib-snap demo migrate": a live migration on
 * loopback with the receiver in a child process and a writer dirtying the
 * source while it runs; the destination bytes are compared with the source
 * as of the pause point. Also the demo workload used by "migrate send --demo".
 *
 * The destination is a shared memfd mapping created before the fork: the
 * child receives into it through the library like any receiver, and after
 * the child has exited the parent compares it with its (paused, so frozen)
 * source, byte for byte.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/migrate.h>
#include <squib/tracker.h>

#include "core/clock.h"
#include "cli.h"
#include "cli_link.h"
#include "migrate_args.h"
#include "migrate_workload.h"
#include "core/splitmix.h"

struct sq_demo_wl {
	uint8_t *region;
	size_t size;
	double rate;
	struct sq_tracker *t;
	struct sq_migrate_tracker_ctx tctx;
	atomic_int stop;     /* release by pause, acquire by the writer */
	atomic_uint throttle; /* percent; relaxed: a pacing hint */
	atomic_uint_fast64_t writes; /* relaxed: a statistic */
	pthread_t thr;
	int running;
};

/* One 8-byte store into a random page, then the mark; paced. */
static void *writer(void *arg)
{
	struct sq_demo_wl *w = arg;
	uint64_t s = 0x5eed ^ (uint64_t)getpid(), npages = w->size / 4096, n = 0;
	double t0 = sq_clock_s(), budget = 0;

	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		unsigned th = atomic_load_explicit(&w->throttle, memory_order_relaxed);
		double now = sq_clock_s();
		budget += (now - t0) * w->rate * (100.0 - th) / 100.0 / 4096.0;
		t0 = now;
		if (budget > 64)
			budget = 64;
		if (budget < 1) {
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
			continue;
		}
		int batch = (int)budget;
		budget -= batch;
		for (int i = 0; i < batch; i++) {
			uint64_t r = sq_splitmix64(&s);
			uint8_t *p = w->region + (r % npages) * 4096 + ((r >> 32) % 512) * 8;
			uint64_t v = ++n | 1;
			memcpy(p, &v, 8);
			sq_tracker_mark(w->t, p);
		}
		atomic_fetch_add_explicit(&w->writes, (uint64_t)batch, memory_order_relaxed);
	}
	return NULL;
}

int sq_demo_wl_create(size_t size, double rate, struct sq_demo_wl **out)
{
	struct sq_demo_wl *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return SQ_E_NOMEM;
	w->size = size;
	w->rate = rate;
	w->region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->region == MAP_FAILED) {
		free(w);
		return SQ_E_NOMEM;
	}
	/* Every page data, except one in eight left zero (sent as nothing). */
	uint64_t s = 42;
	for (size_t p = 0; p < size / 4096; p++) {
		if (p % 8 == 7)
			continue;
		uint64_t *q = (uint64_t *)(w->region + p * 4096), v = sq_splitmix64(&s);
		for (int i = 0; i < 512; i++)
			q[i] = v + (uint64_t)i;
	}
	rc = sq_tracker_create(NULL, &w->t);
	if (!rc)
		rc = sq_tracker_add_region(w->t, w->region, size, 0, &w->tctx.region_id);
	if (rc) {
		sq_demo_wl_destroy(w);
		return rc;
	}
	w->tctx.tracker = w->t;
	*out = w;
	return 0;
}

void sq_demo_wl_start(struct sq_demo_wl *w)
{
	if (w->rate > 0 && pthread_create(&w->thr, NULL, writer, w) == 0)
		w->running = 1;
}

static int wl_pause(void *ctx)
{
	struct sq_demo_wl *w = ctx;

	atomic_store_explicit(&w->stop, 1, memory_order_release);
	if (w->running)
		pthread_join(w->thr, NULL);
	w->running = 0;
	return 0;
}

static int wl_throttle(void *ctx, unsigned pct)
{
	struct sq_demo_wl *w = ctx;

	atomic_store_explicit(&w->throttle, pct, memory_order_relaxed);
	return 0;
}

void sq_demo_wl_send_opts(struct sq_demo_wl *w, struct sq_migrate_send_opts *o)
{
	o->region = w->region;
	o->region_size = w->size;
	sq_migrate_tracker_source(&w->tctx, &o->source);
	o->pause = wl_pause;
	o->throttle = wl_throttle;
	o->ctx = w;
}

const uint8_t *sq_demo_wl_region(const struct sq_demo_wl *w)
{
	return w->region;
}

uint64_t sq_demo_wl_writes(const struct sq_demo_wl *w)
{
	return atomic_load_explicit(&w->writes, memory_order_relaxed);
}

void sq_demo_wl_destroy(struct sq_demo_wl *w)
{
	if (!w)
		return;
	wl_pause(w);
	sq_tracker_destroy(w->t);
	munmap(w->region, w->size);
	free(w);
}

const char *const sq_demo_compression_names[] = { "off", "lz4", "zstd", "auto", NULL };

static const char *compression_name(enum sq_migrate_compression c)
{
	return (unsigned)c <= SQ_MIGRATE_COMPRESS_AUTO ? sq_demo_compression_names[c] : "unknown";
}

/* What compression did: the mode, rounds that used a codec, frames, bytes. */
static json_t *compression_json(const struct sq_migrate_report *r)
{
	return json_pack("{s:s,s:I,s:o,s:o,s:o,s:o,s:o}", "mode", compression_name(r->compression),
			 "rounds", (json_int_t)r->compressed_rounds, "frames",
			 sq_json_u64(r->compressed_frames), "raw_frames", sq_json_u64(r->raw_frames),
			 "bytes_in", sq_json_u64(r->compress_in), "bytes_out",
			 sq_json_u64(r->compress_out), "ratio",
			 sq_json_real(r->compress_in ? (double)r->compress_out /
							       (double)r->compress_in : 1.0));
}

json_t *sq_demo_report_json(const struct sq_migrate_report *r)
{
	char session[24];
	json_t *rounds = json_array();

	snprintf(session, sizeof(session), "%016llx", (unsigned long long)r->session_id);
	for (unsigned i = 0; rounds && i < r->nstats; i++) {
		const struct sq_migrate_round *s = &r->round[i];
		json_array_append_new(rounds, json_pack(
			"{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I}", "round", (json_int_t)s->round,
			"pages", sq_json_u64(s->pages), "zero_pages", sq_json_u64(s->zero_pages),
			"wire_bytes", sq_json_u64(s->wire_bytes), "seconds", sq_json_real(s->seconds),
			"bandwidth_mibps", sq_json_real(s->bandwidth / 1048576.0),
			"dirty_rate_mibps", sq_json_real(s->dirty_rate / 1048576.0),
			"remaining_bytes", sq_json_u64(s->remaining),
			"predicted_downtime_ms", sq_json_real(s->predicted_downtime_ms),
			"throttle_pct", (json_int_t)s->throttle_pct));
	}
	return json_pack("{s:b,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:s,s:o,s:o}",
			 "converged", r->converged, "rounds", (json_int_t)r->rounds,
			 "conns", (json_int_t)r->nconns, "region_bytes", sq_json_u64(r->region_bytes),
			 "wire_bytes", sq_json_u64(r->wire_bytes), "bytes_ratio",
			 sq_json_real(r->region_bytes ? (double)r->wire_bytes /
								(double)r->region_bytes : 0.0),
			 "pages", sq_json_u64(r->pages), "state_bytes", sq_json_u64(r->state_bytes),
			 "downtime_ms", sq_json_real(r->downtime_ms), "predicted_downtime_ms",
			 sq_json_real(r->predicted_downtime_ms), "total_s", sq_json_real(r->total_s),
			 "throttle_pct", (json_int_t)r->throttle_pct, "session", session,
			 "round_stats", rounds, "compression", compression_json(r));
}

void sq_demo_print_report_text(const struct sq_migrate_report *r)
{
	printf("%s after %u rounds over %u connections\n",
	       r->converged ? "converged" : "did not converge", r->rounds, r->nconns);
	printf("  region %.1f MiB, sent %.1f MiB (%.2fx), state %llu bytes\n",
	       (double)r->region_bytes / 1048576.0, (double)r->wire_bytes / 1048576.0,
	       r->region_bytes ? (double)r->wire_bytes / (double)r->region_bytes : 0.0,
	       (unsigned long long)r->state_bytes);
	printf("  downtime %.1f ms (predicted %.1f ms), total %.3f s\n", r->downtime_ms,
	       r->predicted_downtime_ms, r->total_s);
	if (r->compression != SQ_MIGRATE_COMPRESS_OFF)
		printf("  compression %s: %u rounds, %llu frames compressed, %llu raw, %.1f -> %.1f MiB\n",
		       compression_name(r->compression), r->compressed_rounds,
		       (unsigned long long)r->compressed_frames, (unsigned long long)r->raw_frames,
		       (double)r->compress_in / 1048576.0, (double)r->compress_out / 1048576.0);
	printf("  round  pages      MiB/s   dirty MiB/s  remaining  predicted ms  throttle\n");
	for (unsigned i = 0; i < r->nstats; i++) {
		const struct sq_migrate_round *s = &r->round[i];
		printf("  %5u  %9llu  %7.1f  %11.1f  %9llu  %12.1f  %7u%%\n", s->round,
		       (unsigned long long)s->pages, s->bandwidth / 1048576.0,
		       s->dirty_rate / 1048576.0, (unsigned long long)s->remaining,
		       s->predicted_downtime_ms, s->throttle_pct);
	}
}

/* ------------------------------------------------------------ the demo */

struct child_result {
	int rc;
	char tls[8];
	struct sq_migrate_recv_stats st;
	char msg[256];
};

static void child_receive(int lfd, uint8_t *dst, size_t size, int wfd,
			  const struct sq_migrate_link_opts *link)
{
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .region = dst, .region_size = size, .mem_fd = -1,
					   .timeout_ms = 30000 };
	struct sq_migrate_recv *r = NULL;
	struct child_result res = { 0 };

	res.rc = sq_migrate_recv_create(&ro, &r);
	if (!res.rc && link->tls != SQ_MIGRATE_PLAINTEXT)
		res.rc = sq_migrate_recv_set_link(r, link);
	if (!res.rc)
		res.rc = sq_migrate_recv_accept(r, lfd);
	if (res.rc)
		snprintf(res.msg, sizeof(res.msg), "%s", sq_last_error());
	if (r) {
		struct sq_migrate_link_report lr = SQ_INIT(struct sq_migrate_link_report);
		res.st = (struct sq_migrate_recv_stats)SQ_INIT(struct sq_migrate_recv_stats);
		sq_migrate_recv_stats(r, &res.st);
		sq_migrate_recv_link_report(r, &lr);
		memcpy(res.tls, lr.tls, sizeof(res.tls));
	}
	sq_migrate_recv_destroy(r);
	if (write(wfd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(3);
	_exit(0);
}

static const char demo_usage[] =
	"usage: squib-snap demo migrate [--size SIZE] [--rate MIB_PER_S] [--conns N]\n"
	"                               [--downtime MS] [--bandwidth BYTES_PER_S]\n"
	"                               [--policy auto|fail] [--max-rounds N]\n"
	"                               [--plaintext | --no-ktls] [--compress off|lz4|zstd|auto]\n"
	"\n"
	"Migrates a live region over loopback: the receiver runs in a child process,\n"
	"a writer dirties random pages at --rate MiB/s (default 32) while the\n"
	"pre-copy loop runs, and the destination is compared byte for byte with the\n"
	"source at the pause point. Defaults: --size 256M, --conns 2, --downtime 300,\n"
	"--policy auto, --compress off. Both ends authenticate with a fresh random\n"
	"pre-shared key over TLS 1.3 (kernel TLS when the kernel offers it, unless\n"
	"--no-ktls) unless --plaintext is given (then with a warning). --json reports\n"
	"rounds, bytes, downtime, total time, \"tls\" (\"ktls\", \"user\" or \"off\"),\n"
	"\"compression\" (mode, frames, bytes in and out) and \"verified\".\n";

#define CMD "demo migrate"

int sq_cli_demo_migrate(const struct sq_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },   { "rate", required_argument, NULL, 'r' },
		{ "conns", required_argument, NULL, 'c' },  { "downtime", required_argument, NULL, 'd' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "policy", required_argument, NULL, 'p' }, { "max-rounds", required_argument, NULL, 'm' },
		{ "compress", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },         { "plaintext", no_argument, NULL, 'P' },
		{ "no-ktls", no_argument, NULL, 'K' },      { NULL, 0, NULL, 0 },
	};
	int compress = SQ_MIGRATE_COMPRESS_OFF;
	unsigned long long size = 256ull << 20, bw = 0, v;
	double rate = 32, downtime = 0;
	unsigned conns = 2, max_rounds = 0;
	enum sq_migrate_policy policy = SQ_MIGRATE_AUTO_CONVERGE;
	int c, plaintext = 0, no_ktls = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (sq_mig_arg_size(optarg, &size) || size == 0 || size % 4096)
				return sq_cli_usage_error(cli, "demo migrate", "bad --size '%s'", optarg);
			break;
		case 'b':
			if (sq_mig_arg_size(optarg, &bw))
				return sq_cli_usage_error(cli, "demo migrate", "bad --bandwidth '%s'", optarg);
			break;
		case 'r':
			if (sq_mig_arg_real(optarg, 0, 1048576.0, &rate))
				return sq_cli_usage_error(cli, "demo migrate", "bad --rate '%s'", optarg);
			break;
		case 'd':
			if (sq_mig_arg_real(optarg, 0, SQ_MIGRATE_MAX_MS, &downtime) || downtime <= 0)
				return sq_cli_usage_error(cli, "demo migrate", "bad --downtime '%s'", optarg);
			break;
		case 'c':
			if (sq_mig_arg_uint(optarg, 1, SQ_MIGRATE_MAX_CONNS, &v))
				return sq_cli_usage_error(cli, "demo migrate", "bad --conns '%s' (1..%d)",
							  optarg, SQ_MIGRATE_MAX_CONNS);
			conns = (unsigned)v;
			break;
		case 'm':
			if (sq_mig_arg_uint(optarg, 1, 1000000, &v))
				return sq_cli_usage_error(cli, "demo migrate",
							  "bad --max-rounds '%s' (1..1000000)", optarg);
			max_rounds = (unsigned)v;
			break;
		case 'p':
			if (!strcmp(optarg, "auto"))
				policy = SQ_MIGRATE_AUTO_CONVERGE;
			else if (!strcmp(optarg, "fail"))
				policy = SQ_MIGRATE_FAIL;
			else
				return sq_cli_usage_error(cli, "demo migrate", "bad --policy '%s'", optarg);
			break;
		case 'z':
			if (sq_cli_opt_choice(cli, CMD, "--compress", optarg, sq_demo_compression_names,
					      &compress))
				return SQ_EXIT_USAGE;
			break;
		case 'P':
			plaintext = 1;
			break;
		case 'K':
			no_ktls = 1;
			break;
		case 'h':
			if (cli->json)
				return sq_cli_emit(json_pack("{s:s,s:s}", "command", CMD, "usage",
							     demo_usage)) ? SQ_EXIT_FAIL : SQ_EXIT_OK;
			fputs(demo_usage, stdout);
			return SQ_EXIT_OK;
		default:
			return sq_cli_usage_error(cli, CMD, "unknown option or missing value in '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return sq_cli_usage_error(cli, "demo migrate", "unexpected argument '%s'", argv[optind]);
	if (plaintext && no_ktls)
		return sq_cli_usage_error(cli, CMD, "--no-ktls needs TLS, not --plaintext");
	/* Both ends share a fresh random key, made here and never written
	 * anywhere: the child inherits it with the fork. */
	static unsigned char psk[32];
	struct sq_migrate_link_opts link = { .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_PLAINTEXT };
	if (plaintext) {
		sq_cli_link_warn_plaintext(cli, CMD);
	} else {
		if (getrandom(psk, sizeof(psk), 0) != (ssize_t)sizeof(psk)) {
			fprintf(stderr, "%s demo migrate: getrandom: %s\n", cli->prog, strerror(errno));
			return SQ_EXIT_FAIL;
		}
		link = (struct sq_migrate_link_opts){ .size = sizeof(struct sq_migrate_link_opts),
						.tls = SQ_MIGRATE_TLS_PSK, .psk = psk,
						      .psk_len = sizeof(psk), .no_ktls = no_ktls };
	}

	int lfd, rc, pfd[2];
	unsigned port;
	char addr[64];
	rc = sq_migrate_listen("127.0.0.1:0", &lfd, &port);
	if (rc)
		return sq_cli_fail(cli, "demo migrate", rc);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	int mfd = memfd_create("squib-demo-destination", MFD_CLOEXEC);
	uint8_t *dst = MAP_FAILED;
	if (mfd >= 0 && ftruncate(mfd, (off_t)size) == 0)
		dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (dst == MAP_FAILED || pipe(pfd)) {
		fprintf(stderr, "%s demo migrate: cannot set up the destination: %s\n", cli->prog,
			strerror(errno));
		return SQ_EXIT_FAIL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s demo migrate: fork: %s\n", cli->prog, strerror(errno));
		return SQ_EXIT_FAIL;
	}
	if (pid == 0) {
		close(pfd[0]);
		child_receive(lfd, dst, size, pfd[1], &link);
	}
	close(pfd[1]);
	close(lfd);

	struct sq_demo_wl *w = NULL;
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct sq_migrate_link_report lrep = SQ_INIT(struct sq_migrate_link_report);
	rc = sq_demo_wl_create(size, rate * 1048576.0, &w);
	char smsg[512] = "";
	if (!rc) {
		struct sq_migrate_send_opts o = { .size = sizeof(o), .to = addr, .nconns = conns,
						  .downtime_ms = downtime, .policy = policy, .bandwidth_limit = bw,
						  .max_rounds = max_rounds, .throttle_initial = 20,
						  .throttle_step = 10,
						  .compression = (enum sq_migrate_compression)compress };
		static const char blob[] = "demo vCPU and device state";
		sq_demo_wl_send_opts(w, &o);
		o.state_blob = blob;
		o.state_len = sizeof(blob);
		sq_cli_msg(cli, "migrating %llu MiB to %s over %u connections, writer at %.0f MiB/s\n",
			   (unsigned long long)(size >> 20), addr, conns, rate);
		sq_demo_wl_start(w);
		rc = sq_migrate_send_link(&o, &link, &rep, &lrep);
		if (rc)
			snprintf(smsg, sizeof(smsg), "%s", sq_last_error());
	}
	struct child_result cr = { .rc = SQ_E_DISCONNECTED };
	if (rc) /* let a waiting child go: it times out or sees the abort */
		kill(pid, SIGTERM);
	if (read(pfd[0], &cr, sizeof(cr)) != (ssize_t)sizeof(cr))
		cr.rc = SQ_E_DISCONNECTED;
	close(pfd[0]);
	explicit_bzero(psk, sizeof(psk));
	int status = 0;
	waitpid(pid, &status, 0);
	int verified = !rc && !cr.rc && w && memcmp(sq_demo_wl_region(w), dst, size) == 0;
	uint64_t writes = w ? sq_demo_wl_writes(w) : 0;

	if (cli->json) {
		json_t *doc = sq_demo_report_json(&rep);
		json_t *extra = json_pack(
			"{s:b,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o,s:o,s:o,s:b}}", "verified",
			verified, "tls", lrep.tls, "receiver_tls", cr.tls[0] ? cr.tls : "off",
			"sender_result", sq_error_name(rc), "receiver_result",
			sq_error_name(cr.rc), "message", rc ? sq_json_text(smsg) : json_null(),
			"writer_rate_mibps", sq_json_real(rate), "writes", sq_json_u64(writes),
			"downtime_target_ms",
			sq_json_real(downtime > 0 ? downtime : SQ_MIGRATE_DEFAULT_DOWNTIME_MS),
			"receiver", "pages", sq_json_u64(cr.st.pages), "zero_pages",
			sq_json_u64(cr.st.zero_pages), "stale_pages", sq_json_u64(cr.st.stale_pages),
			"payload_bytes", sq_json_u64(cr.st.payload_bytes), "state_len",
			sq_json_u64(cr.st.state_len), "complete", cr.st.complete);
		sq_cli_emit(sq_json_join(extra, doc));
	} else {
		sq_demo_print_report_text(&rep);
		printf("  writer: %.0f MiB/s, %llu writes during the migration\n", rate,
		       (unsigned long long)writes);
		printf("  link: TLS %s (receiver %s)\n", lrep.tls, cr.tls[0] ? cr.tls : "off");
		if (rc)
			printf("  sender: %s\n", smsg);
		if (cr.rc)
			printf("  receiver: %s\n", cr.msg);
		printf("verified: %s\n", verified ? "yes (destination equals the source at the pause point)"
						  : "NO");
	}
	sq_demo_wl_destroy(w);
	munmap(dst, size);
	close(mfd);
	return verified ? SQ_EXIT_OK : SQ_EXIT_FAIL;
}
