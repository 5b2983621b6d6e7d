/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cmd_migrate.c - "squib-snap migrate recv|send": the two ends of a
 * pre-copy live migration over TCP.
 *
 *   migrate recv --listen HOST:PORT [--out DIR]   receive one session
 *   migrate send --to HOST:PORT --file PATH       a file's bytes (static)
 *   migrate send --to HOST:PORT --demo SIZE       a live demo workload
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/alloc.h>
#include <squib/atomic_file.h>
#include <squib/error.h>
#include <squib/file.h>
#include <squib/migrate.h>

#include "cli.h"
#include "cli_link.h"
#include "cli_progress.h"
#include "cli_verbose.h"
#include "migrate_args.h"
#include "migrate_workload.h"

static const char usage[] =
	"usage: squib-snap migrate recv --listen HOST:PORT [--out DIR] [--pair STEM.snap]\n"
	"                               [--timeout MS] [--handshake-timeout MS]\n"
	"                               [--session-timeout MS] [--max-size SIZE]\n"
	"                               [--port-file PATH] LINK\n"
	"       squib-snap migrate send --to HOST:PORT (--file PATH | --demo SIZE)\n"
	"                               [--conns N] [--rate MIB_PER_S] [--downtime MS]\n"
	"                               [--policy fail|auto] [--bandwidth BYTES_PER_S]\n"
	"                               [--max-rounds N] [--state PATH] [--timeout MS]\n"
	"                               [--commit-timeout MS] [--compress off|lz4|zstd|auto]\n"
	"                               [-p] LINK\n"
	SQ_CLI_LINK_USAGE
	"\n"
	"recv  accepts one migration session (port 0 picks a free port; it is printed\n"
	"      on stderr and written to --port-file, 0600), checks every frame and the\n"
	"      final totals, and with --out writes DIR/memory (sparse), its manifest\n"
	"      DIR/memory.manifest and DIR/state, as one unit;\n"
	"      with --pair, a snapshot pair (the state blob must be a state file). The\n"
	"      sender is told the session is done only after these files are durably\n"
	"      saved; a failure to save is sent to it with its error text. Connections\n"
	"      with a bad handshake (probes, strays) are refused and the wait goes on.\n"
	"      Limits: --timeout per read and between connections (default 600000),\n"
	"      --handshake-timeout per connection (default 5000), --session-timeout\n"
	"      for everything (default 3600000); all in ms, at most one day.\n"
	"send  migrates a file (read once, nothing dirties it) or a demo region with a\n"
	"      writer dirtying random pages at --rate MiB/s (default 32) while the\n"
	"      pre-copy loop runs. Defaults: 2 connections, 300 ms downtime target,\n"
	"      policy fail, --commit-timeout 600000 (wait for the receiver's save).\n"
	"      Exit 0 only when the receiver confirmed it kept everything. --compress\n"
	"      compresses page frames (default off) in each round where the measured\n"
	"      compressor beats the link; a frame that does not shrink goes raw. --json\n"
	"      prints the report (rounds, bytes, downtime, time, \"tls\", compression).\n"
	"link  TLS 1.3 on every connection, both ends authenticated: by certificates\n"
	"      signed by --tls-ca (peer names are not checked: use a CA of its own)\n"
	"      or by the same pre-shared key (a file of at least 32 bytes). Kernel TLS\n"
	"      when the kernel offers it (--no-ktls: never). A TLS receiver refuses\n"
	"      plaintext and wrong-key peers before it reads a frame. --plaintext: no\n"
	"      TLS at all, with a warning.\n"
	"-p, --progress (send): a progress line per round on stderr when it is a\n"
	"      terminal. -v: the set-up and each round's figures on stderr (-vv: dirty\n"
	"      rate, prediction).\n";

/* ------------------------------------------------------------------ recv */

/*
 * The port file, through the atomic-file API (sq_atomic_write_file): a new
 * file under a temp name, 0600 whatever the umask, renamed over @path (a
 * symlink there is replaced, never followed).
 */
static int write_port_file(const char *path, unsigned port)
{
	char line[16];
	int n = snprintf(line, sizeof(line), "%u\n", port);

	return sq_atomic_write_file(path, line, (size_t)n, 0600);
}

static int cmd_recv(const struct sq_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "out", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "handshake-timeout", required_argument, NULL, 'H' },
		{ "session-timeout", required_argument, NULL, 'T' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "port-file", required_argument, NULL, 'P' }, { "pair", required_argument, NULL, 'S' },
		SQ_CLI_LINK_OPTIONS, { NULL, 0, NULL, 0 },
	};
	const char *listen_at = NULL, *out = NULL, *port_file = NULL, *pair = NULL;
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .mem_fd = -1, .timeout_ms = 600000 };
	unsigned long long max = 0;
	int c;
	struct sq_cli_link lk = { 0 };
	struct sq_migrate_link_opts lo;
	struct sq_migrate_link_report lrep = SQ_INIT(struct sq_migrate_link_report);

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_at = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'P':
			port_file = optarg;
			break;
		case 'S':
			pair = optarg;
			break;
		case 't':
			if (sq_mig_arg_ms(optarg, &ro.timeout_ms))
				return sq_cli_usage_error(cli, "migrate recv", "bad --timeout '%s'", optarg);
			break;
		case 'H':
			if (sq_mig_arg_ms(optarg, &ro.handshake_ms))
				return sq_cli_usage_error(cli, "migrate recv",
							  "bad --handshake-timeout '%s'", optarg);
			break;
		case 'T':
			if (sq_mig_arg_ms(optarg, &ro.session_ms))
				return sq_cli_usage_error(cli, "migrate recv",
							  "bad --session-timeout '%s'", optarg);
			break;
		case 'm':
			if (sq_mig_arg_size(optarg, &max) || max == 0 || max % 4096)
				return sq_cli_usage_error(cli, "migrate recv", "bad --max-size '%s'", optarg);
			break;
		default:
			if (!sq_cli_link_opt(&lk, c, optarg))
				return sq_cli_usage_error(cli, "migrate recv", "unknown option");
		}
	}
	if (optind < argc)
		return sq_cli_usage_error(cli, "migrate recv", "unexpected argument '%s'", argv[optind]);
	if (!listen_at)
		return sq_cli_usage_error(cli, "migrate recv", "--listen HOST:PORT is required");
	int bad = sq_cli_link_build(cli, "migrate recv", &lk, &lo);
	if (bad)
		return bad;
	ro.max_region_size = max;
	ro.save_dir = out;
	ro.save_pair = pair;
	/* The save destinations are checked before anything is accepted. */
	struct sq_migrate_recv *r = NULL;
	int rc = sq_migrate_recv_create(&ro, &r);
	/* Keys are read and checked before anything is accepted. */
	if (!rc && lo.tls != SQ_MIGRATE_PLAINTEXT)
		rc = sq_migrate_recv_set_link(r, &lo);
	if (rc) {
		sq_migrate_recv_destroy(r);
		return sq_cli_fail(cli, "migrate recv", rc);
	}
	int lfd;
	unsigned port;
	rc = sq_migrate_listen(listen_at, &lfd, &port);
	if (rc) {
		sq_migrate_recv_destroy(r);
		return sq_cli_fail(cli, "migrate recv", rc);
	}
	sq_cli_msg(cli, "listening on %s (port %u)\n", listen_at, port);
	sq_cli_verbose_recv(cli, listen_at, lo.tls == SQ_MIGRATE_PLAINTEXT ? "plaintext" : "TLS",
			    &ro);
	if (port_file) {
		rc = write_port_file(port_file, port);
		if (rc) {
			close(lfd);
			sq_migrate_recv_destroy(r);
			return sq_cli_fail(cli, "migrate recv", rc);
		}
	}
	/* Returns 0 only after the files were saved and the sender told so. */
	rc = sq_migrate_recv_accept(r, lfd);
	close(lfd);
	if (rc) {
		sq_migrate_recv_destroy(r);
		return sq_cli_fail(cli, "migrate recv", rc);
	}
	struct sq_migrate_recv_stats st = SQ_INIT(struct sq_migrate_recv_stats);
	sq_migrate_recv_stats(r, &st);
	sq_migrate_recv_link_report(r, &lrep);
	sq_cli_verbose_recv_report(cli, &st, lrep.tls);
	if (cli->json) {
		char session[24];
		snprintf(session, sizeof(session), "%016llx", (unsigned long long)st.session_id);
		sq_cli_emit(json_pack("{s:b,s:s,s:s,s:o,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
				      "s:o,s:o}",
				      "complete", 1, "tls", lrep.tls, "session", session, "region_bytes",
				      sq_json_u64(st.region_size), "conns", (json_int_t)st.nconns,
				      "rounds", (json_int_t)st.rounds, "frames", sq_json_u64(st.frames),
				      "pages", sq_json_u64(st.pages), "zero_pages",
				      sq_json_u64(st.zero_pages), "stale_pages",
				      sq_json_u64(st.stale_pages), "payload_bytes",
				      sq_json_u64(st.payload_bytes), "state_bytes",
				      sq_json_u64(st.state_len), "out", sq_json_text(out), "pair",
				      sq_json_text(pair), "compressed_frames",
				      sq_json_u64(st.compressed_frames), "seconds",
				      sq_json_real(st.seconds)));
	} else {
		printf("received session %016llx: %.1f MiB region over %u connections (TLS %s), "
		       "%u rounds, %llu pages (%llu zero, %llu superseded), state %llu bytes\n",
		       (unsigned long long)st.session_id, (double)st.region_size / 1048576.0,
		       st.nconns, lrep.tls, st.rounds, (unsigned long long)st.pages,
		       (unsigned long long)st.zero_pages, (unsigned long long)st.stale_pages,
		       (unsigned long long)st.state_len);
		if (out)
			printf("saved %s/memory, %s/memory.manifest and %s/state\n", out, out, out);
		if (pair)
			printf("saved the snapshot pair %s\n", pair);
	}
	sq_migrate_recv_destroy(r);
	return SQ_EXIT_OK;
}

/* ------------------------------------------------------------------ send */


/* A file nobody writes: every harvest is empty. */
static int static_harvest(void *ctx, void **set, const struct sq_run **runs, size_t *nruns)
{
	(void)ctx;
	*set = NULL;
	*runs = NULL;
	*nruns = 0;
	return 0;
}

static void static_done(void *ctx, void *set)
{
	(void)ctx;
	(void)set;
}

static int static_pause(void *ctx)
{
	(void)ctx;
	return 0;
}

static int cmd_send(const struct sq_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },        { "file", required_argument, NULL, 'f' },
		{ "demo", required_argument, NULL, 'D' },      { "conns", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },      { "downtime", required_argument, NULL, 'd' },
		{ "policy", required_argument, NULL, 'y' },    { "bandwidth", required_argument, NULL, 'b' },
		{ "max-rounds", required_argument, NULL, 'm' }, { "state", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "commit-timeout", required_argument, NULL, 'C' },
		{ "compress", required_argument, NULL, 'z' },
		SQ_CLI_LINK_OPTIONS, { "progress", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct sq_migrate_send_opts o = { .size = sizeof(o), .policy = SQ_MIGRATE_FAIL };
	struct sq_cli_progress pr;
	int progress = 0;
	int compress = SQ_MIGRATE_COMPRESS_OFF;
	const char *file = NULL, *state_path = NULL;
	unsigned long long demo = 0, bw = 0, v;
	double rate = 32;
	int c;
	struct sq_cli_link lk = { 0 };
	struct sq_migrate_link_opts lo;
	struct sq_migrate_link_report lrep = SQ_INIT(struct sq_migrate_link_report);

	optind = 1;
	while ((c = getopt_long(argc, argv, "p", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			progress = 1;
			break;
		case 't':
			o.to = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 's':
			state_path = optarg;
			break;
		case 'D':
			if (sq_mig_arg_size(optarg, &demo) || demo == 0 || demo % 4096)
				return sq_cli_usage_error(cli, "migrate send", "bad --demo size '%s'", optarg);
			break;
		case 'b':
			if (sq_mig_arg_size(optarg, &bw))
				return sq_cli_usage_error(cli, "migrate send", "bad --bandwidth '%s'", optarg);
			o.bandwidth_limit = bw;
			break;
		case 'c':
			if (sq_mig_arg_uint(optarg, 1, SQ_MIGRATE_MAX_CONNS, &v))
				return sq_cli_usage_error(cli, "migrate send", "bad --conns '%s' (1..%d)",
							  optarg, SQ_MIGRATE_MAX_CONNS);
			o.nconns = (unsigned)v;
			break;
		case 'r':
			if (sq_mig_arg_real(optarg, 0, 1048576.0, &rate))
				return sq_cli_usage_error(cli, "migrate send", "bad --rate '%s'", optarg);
			break;
		case 'd':
			if (sq_mig_arg_real(optarg, 0, SQ_MIGRATE_MAX_MS, &o.downtime_ms) || o.downtime_ms <= 0)
				return sq_cli_usage_error(cli, "migrate send", "bad --downtime '%s'", optarg);
			break;
		case 'm':
			if (sq_mig_arg_uint(optarg, 1, 1000000, &v))
				return sq_cli_usage_error(cli, "migrate send",
							  "bad --max-rounds '%s' (1..1000000)", optarg);
			o.max_rounds = (unsigned)v;
			break;
		case 'T':
			if (sq_mig_arg_ms(optarg, &o.timeout_ms))
				return sq_cli_usage_error(cli, "migrate send", "bad --timeout '%s'", optarg);
			break;
		case 'C':
			if (sq_mig_arg_ms(optarg, &o.commit_timeout_ms))
				return sq_cli_usage_error(cli, "migrate send", "bad --commit-timeout '%s'",
							  optarg);
			break;
		case 'y':
			if (!strcmp(optarg, "auto"))
				o.policy = SQ_MIGRATE_AUTO_CONVERGE;
			else if (!strcmp(optarg, "fail"))
				o.policy = SQ_MIGRATE_FAIL;
			else
				return sq_cli_usage_error(cli, "migrate send", "bad --policy '%s'", optarg);
			break;
		case 'z':
			if (sq_cli_opt_choice(cli, "migrate send", "--compress", optarg,
					      sq_demo_compression_names, &compress))
				return SQ_EXIT_USAGE;
			o.compression = (enum sq_migrate_compression)compress;
			break;
		default:
			if (!sq_cli_link_opt(&lk, c, optarg))
				return sq_cli_usage_error(cli, "migrate send", "unknown option");
		}
	}
	if (optind < argc)
		return sq_cli_usage_error(cli, "migrate send", "unexpected argument '%s'", argv[optind]);
	if (!o.to)
		return sq_cli_usage_error(cli, "migrate send", "--to HOST:PORT is required");
	if (!file == !demo)
		return sq_cli_usage_error(cli, "migrate send", "give exactly one of --file and --demo");
	int bad = sq_cli_link_build(cli, "migrate send", &lk, &lo);
	if (bad)
		return bad;

	void *blob = NULL;
	size_t blob_len = 0;
	if (state_path) {
		int rs = sq_file_read(state_path, SQ_MIGRATE_MAX_STATE, &blob, &blob_len);
		if (rs)
			return sq_cli_fail(cli, "migrate send", rs);
	}
	o.state_blob = blob;
	o.state_len = blob_len;

	struct sq_demo_wl *w = NULL;
	void *map = MAP_FAILED;
	size_t map_len = 0;
	int rc = 0;
	if (file) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		struct stat st = { 0 };
		int e = 0;
		if (fd < 0 || fstat(fd, &st))
			e = errno ? errno : EIO;
		else if (st.st_size == 0)
			e = EINVAL; /* an empty file is no region */
		if (e) {
			if (fd >= 0)
				close(fd);
			sq_free(blob);
			return sq_cli_fail_errno(cli, "migrate send", "cannot use --file", file, e);
		}
		/* A tail shorter than a page reads as zeros past the end of file. */
		map_len = ((size_t)st.st_size + 4095) & ~(size_t)4095;
		map = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fd, 0);
		e = map == MAP_FAILED ? errno : 0;
		close(fd);
		if (map == MAP_FAILED) {
			sq_free(blob);
			return sq_cli_fail_errno(cli, "migrate send", "cannot map --file", file, e);
		}
		o.region = map;
		o.region_size = map_len;
		o.source = (struct sq_migrate_source){ static_harvest, static_done, static_done, NULL };
		o.pause = static_pause;
	} else {
		rc = sq_demo_wl_create(demo, rate * 1048576.0, &w);
		if (!rc) {
			sq_demo_wl_send_opts(w, &o);
			sq_demo_wl_start(w);
		}
	}
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	snprintf(lrep.tls, sizeof(lrep.tls), "off");
	if (!rc)
		sq_cli_verbose_send(cli, &o, file);
	sq_cli_progress_init(&pr, cli, "migrate send", progress);
	o.progress = sq_cli_progress_fn(&pr);
	o.progress_ctx = &pr;
	if (!rc)
		rc = sq_migrate_send_link(&o, &lo, &rep, &lrep);
	sq_cli_progress_end(&pr);
	sq_cli_verbose_send_report(cli, rc, &rep, lrep.tls);
	int ret = SQ_EXIT_OK;
	if (rc && !(cli->json && rep.rounds)) {
		ret = sq_cli_fail(cli, "migrate send", rc);
	} else if (cli->json) {
		json_t *doc = sq_demo_report_json(&rep);
		json_t *head = json_pack("{s:s,s:o,s:s}", "result", sq_error_name(rc), "message",
					 rc ? sq_json_text(sq_last_error()) : json_null(), "tls",
					 lrep.tls);
		sq_cli_emit(sq_json_join(head, doc));
		ret = rc ? SQ_EXIT_FAIL : SQ_EXIT_OK;
	} else {
		sq_demo_print_report_text(&rep);
		printf("  link: TLS %s\n", lrep.tls);
	}
	sq_demo_wl_destroy(w);
	if (map != MAP_FAILED)
		munmap(map, map_len);
	sq_free(blob);
	return ret;
}

static int cmd_migrate(const struct sq_cli *cli, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 2)
			return sq_cli_usage_error(cli, "migrate", "recv or send expected");
		fputs(usage, stdout);
		return SQ_EXIT_OK;
	}
	if (!strcmp(argv[1], "recv"))
		return cmd_recv(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "send"))
		return cmd_send(cli, argc - 1, argv + 1);
	return sq_cli_usage_error(cli, "migrate", "unknown subcommand '%s'", argv[1]);
}

SQ_CLI_COMMAND(.name = "migrate", .summary = "live-migrate a region over TCP (recv / send)",
	       .usage = usage, .run = cmd_migrate)
