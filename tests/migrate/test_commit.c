/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable acknowledgement, over loopback TCP: the sender hears that a
 * migration is done only after the receiver saved what it was asked to keep
 * (save_dir, save_pair, a commit callback), and any failure after the final
 * frame reaches the sender with the receiver's code and error text, while
 * the sender's dirty pages are kept (put back) rather than released.
 * Also the up-front checks of sq_migrate_recv_create.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <squib/error.h>
#include <squib/manifest.h>
#include <squib/migrate.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/writer.h>

#include "core/err.h"
#include "core/sysio.h"
#include "builder.h"
#include "helpers.h"
#include "workload.h"

static uint64_t seed;

/* A file-like source: nothing dirties the region; put_back is counted. */
struct still {
	unsigned put_back, released;
};

static int still_harvest(void *ctx, void **set, const struct sq_run **runs, size_t *nruns)
{
	*set = ctx; /* an empty set, but one the loop must hand back */
	*runs = NULL;
	*nruns = 0;
	return 0;
}

static void still_put_back(void *ctx, void *set)
{
	(void)set;
	((struct still *)ctx)->put_back++;
}

static void still_release(void *ctx, void *set)
{
	(void)set;
	((struct still *)ctx)->released++;
}

static int still_pause(void *ctx)
{
	(void)ctx;
	return 0;
}

struct session {
	uint8_t *region;
	size_t size;
	struct still src;
	struct rx_thread x;
	int send_rc;
	char send_msg[512];
};

/* Migrate a 1 MiB patterned region with @blob as state to a receiver made
 * with @ro (@rm: a directory removed after the receiver was created); the
 * receiver's code is s->x.rc, its message s->x.msg. */
static void run_rm(struct session *s, struct sq_migrate_recv_opts *ro, const void *blob,
		   size_t len, const char *rm)
{
	memset(s, 0, sizeof(*s));
	s->size = 1u << 20;
	s->region = malloc(s->size);
	assert_non_null(s->region);
	uint64_t st = seed;
	for (size_t i = 0; i < s->size; i += 8) {
		uint64_t v = (i / 4096) % 4 == 3 ? 0 : sq_test_rand(&st);
		memcpy(s->region + i, &v, 8);
	}
	ro->mem_fd = -1;
	if (!ro->timeout_ms)
		ro->timeout_ms = 5000;
	assert_int_equal(rx_thread_start(&s->x, ro), 0);
	if (rm)
		assert_int_equal(rmdir(rm), 0);
	struct sq_migrate_send_opts o = {
		.size = sizeof(struct sq_migrate_send_opts), .to = s->x.addr, .region = s->region, .region_size = s->size,
		.source = { still_harvest, still_put_back, still_release, &s->src },
		.pause = still_pause, .state_blob = blob, .state_len = len, .timeout_ms = 5000,
	};
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	s->send_rc = sq_migrate_send(&o, &rep);
	snprintf(s->send_msg, sizeof(s->send_msg), "%s", s->send_rc ? sq_last_error() : "");
	assert_int_equal(rep.result, s->send_rc);
	rx_thread_join(&s->x);
	if (s->send_rc)
		fprintf(stderr, "  sender: %s: %s\n  receiver: %s\n", sq_error_name(s->send_rc),
			s->send_msg, s->x.msg);
}

static void run(struct session *s, struct sq_migrate_recv_opts *ro, const void *blob, size_t len)
{
	run_rm(s, ro, blob, len, NULL);
}

static void done(struct session *s)
{
	sq_migrate_recv_destroy(s->x.r);
	free(s->region);
}

static char *join(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);
	assert_non_null(p);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

/* How many entries @dir holds besides "." and ".."; each one's name must be
 * one of @names (NULL-terminated), so no temp, lock or record is left. */
static size_t dir_entries(const char *dir, const char *const *names)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		int known = 0;
		for (size_t i = 0; names[i]; i++)
			known |= !strcmp(e->d_name, names[i]);
		if (!known)
			fprintf(stderr, "  unexpected file %s/%s\n", dir, e->d_name);
		assert_true(known);
		n++;
	}
	closedir(d);
	return n;
}

/* The acknowledgement follows the save: the files are there, 0600, and the
 * memory file is what io's writer makes of the region: zero pages are
 * holes, its manifest's extents and CRCs match the file as read back
 * (sq_manifest_scan) and it verifies. */
static void dir_saved_before_ack(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("mig-commit");
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .save_dir = dir };
	struct session s;
	mode_t old = umask(0);

	run(&s, &ro, "blob", 4);
	umask(old);
	assert_int_equal(s.send_rc, 0);
	assert_int_equal(s.x.rc, 0);
	assert_int_equal(s.src.put_back, 0);
	assert_true(s.src.released > 0);
	char *mem = join(dir, "memory"), *st = join(dir, "state");
	unsigned char *got = NULL;
	size_t len = 0;
	assert_int_equal(sq_test_read_file(mem, &got, &len), 0);
	assert_int_equal(len, s.size);
	assert_memory_equal(got, s.region, s.size);
	free(got);
	struct stat sb;
	assert_int_equal(stat(mem, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(st, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, 4);
	char *man = join(dir, "memory.manifest");
	struct sq_manifest *m = NULL, *scan = NULL;
	assert_int_equal(stat(man, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sq_manifest_load(man, &m), 0);
	assert_int_equal(m->kind, SQ_SNAPSHOT_FULL);
	assert_int_equal(m->region_size, s.size);
	assert_int_equal(m->npages, s.size / 4096 * 3 / 4); /* every 4th page is zero */
	assert_int_equal(sq_manifest_scan(mem, SQ_SNAPSHOT_FULL, &scan), 0);
	assert_int_equal(scan->nextents, m->nextents);
	assert_memory_equal(scan->extents, m->extents, m->nextents * sizeof(*m->extents));
	assert_memory_equal(scan->crcs, m->crcs, m->npages * sizeof(*m->crcs));
	struct sq_verify_report vr = SQ_INIT(struct sq_verify_report);
	assert_int_equal(sq_memfile_verify(mem, NULL, 1, &vr), 0);
	assert_int_equal(vr.pages_checked, m->npages);
	static const char *const names[] = { "memory", "memory.manifest", "state", NULL };
	assert_int_equal(dir_entries(dir, names), 3);
	sq_manifest_destroy(m);
	sq_manifest_destroy(scan);
	done(&s);
	free(man);
	free(mem);
	free(st);
	sq_test_rmrf(dir);
	free(dir);
}

/* The directory vanishes after the up-front check: the save fails after
 * the final frame, and the sender gets the receiver's code and text. */
static void dir_gone_reaches_sender(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("mig-commit"), *out = join(dir, "out");
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .save_dir = out };
	struct session s;

	assert_int_equal(mkdir(out, 0700), 0);
	run_rm(&s, &ro, "blob", 4, out);
	assert_int_equal(s.send_rc, SQ_E_IO);
	assert_int_equal(s.x.rc, SQ_E_IO);
	assert_non_null(strstr(s.send_msg, "failed to commit"));
	assert_non_null(strstr(s.send_msg, "No such file or directory"));
	assert_non_null(strstr(s.send_msg, out));
	/* The sets of the final round count as unsent: put back. */
	assert_true(s.src.put_back > 0);
	done(&s);
	/* And the check up front, before any connection. */
	struct sq_migrate_recv *probe = NULL;
	assert_int_equal(sq_migrate_recv_create(&ro, &probe), SQ_E_IO);
	assert_non_null(strstr(sq_last_error(), out));
	free(out);
	sq_test_rmrf(dir);
	free(dir);
}

/* A pair was asked for: a blob that is not a state file, and no blob. */
static void pair_needs_state_file(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("mig-commit"), *pair = join(dir, "vm.snap");
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .save_pair = pair };
	struct session s;

	run(&s, &ro, "not a state file at all", 23);
	assert_true(s.send_rc < 0);
	assert_int_equal(s.send_rc, s.x.rc);
	assert_non_null(strstr(s.send_msg, "failed to commit"));
	assert_non_null(strstr(s.send_msg, s.x.msg));
	assert_false(sq_test_exists(pair));
	done(&s);
	run(&s, &ro, NULL, 0);
	assert_int_equal(s.send_rc, SQ_E_TOO_SHORT);
	assert_int_equal(s.x.rc, SQ_E_TOO_SHORT);
	assert_non_null(strstr(s.send_msg, "no state blob"));
	assert_false(sq_test_exists(pair));
	done(&s);
	/* A real state file: the pair loads, and only then the sender is done. */
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	assert_int_equal(sq_test_read_file(SQ_TEST_DATA_DIR "/vectors/demo.snap", &blob, &blob_len), 0);
	run(&s, &ro, blob, blob_len);
	assert_int_equal(s.send_rc, 0);
	struct sq_snapshot_loaded *l = NULL;
	assert_int_equal(sq_snapshot_load(pair, 0, &l), 0);
	assert_int_equal(l->state_len, blob_len);
	sq_snapshot_loaded_destroy(l);
	done(&s);
	free(blob);
	free(pair);
	sq_test_rmrf(dir);
	free(dir);
}

/* A full disk while io's writer writes the memory (injected ENOSPC at the
 * backend it uses): SQ_E_NO_SPACE at both ends with the receiver's text,
 * nothing published, no temp, lock or commit record left. */
static void disk_full_reaches_sender(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("mig-commit");
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .save_dir = dir };
	struct sq_fault_plan plan = { .site = sq_io_uring_usable() ? SQ_SITE_WRITER_URING
								    : SQ_SITE_WRITER_PWRITE,
				      .error = ENOSPC };
	struct session s;

	sq_fault_set(&plan);
	run(&s, &ro, "blob", 4);
	unsigned fired = sq_fault_fired();
	sq_fault_set(NULL);
	assert_true(fired > 0);
	assert_int_equal(s.send_rc, SQ_E_NO_SPACE);
	assert_int_equal(s.x.rc, SQ_E_NO_SPACE);
	assert_non_null(strstr(s.send_msg, "failed to commit"));
	assert_non_null(strstr(s.send_msg, s.x.msg));
	static const char *const none[] = { NULL };
	assert_int_equal(dir_entries(dir, none), 0);
	/* The final round's pages are kept by the sender. */
	assert_true(s.src.put_back > 0);
	done(&s);
	sq_test_rmrf(dir);
	free(dir);
}

static int refuse(void *ctx, const struct sq_migrate_recv *r)
{
	size_t len = 0;

	assert_non_null(sq_migrate_recv_state(r, &len));
	*(size_t *)ctx = len;
	return sq_err(SQ_E_UNSUPPORTED, "the application refused this snapshot");
}

/* The library's own commit step: its failure and text reach the sender. */
static void callback_failure(void **state)
{
	(void)state;
	size_t seen = 0;
	struct sq_migrate_recv_opts ro = { .size = sizeof(ro), .commit = refuse, .commit_ctx = &seen };
	struct session s;

	run(&s, &ro, "0123456789", 10);
	assert_int_equal(seen, 10);
	assert_int_equal(s.send_rc, SQ_E_UNSUPPORTED);
	assert_non_null(strstr(s.send_msg, "the application refused this snapshot"));
	done(&s);
}

/* Checks before any page is accepted. */
static void upfront_checks(void **state)
{
	(void)state;
	char *dir = sq_test_tmpdir("mig-commit"), *file = join(dir, "f");
	char *missing = join(dir, "none/x.snap");
	static uint8_t region[4096];
	struct sq_migrate_recv *r = NULL;

	assert_int_equal(sq_test_write_file(file, "x", 1), 0);
	struct sq_migrate_recv_opts bad[] = {
		{ .size = sizeof(bad[0]), .mem_fd = -1, .save_dir = file }, /* not a directory */
		{ .size = sizeof(bad[0]), .mem_fd = -1, .save_pair = missing }, /* no such directory */
		{ .size = sizeof(bad[0]), .mem_fd = -1, .save_pair = dir }, /* a directory */
		{ .size = sizeof(bad[0]), .mem_fd = -1, .save_dir = "/proc/self" }, /* not writable */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sq_migrate_recv_create(&bad[i], &r), SQ_E_IO);
		fprintf(stderr, "  refused: %s\n", sq_last_error());
	}
	struct sq_migrate_recv_opts inval[] = {
		{ .size = sizeof(inval[0]), .region = region, .region_size = 4096,
		  .mem_fd = -1, .save_dir = dir },
		{ .size = sizeof(inval[0]), .mem_fd = -1, .timeout_ms = -1 },
		{ .size = sizeof(inval[0]), .mem_fd = -1, .session_ms = SQ_MIGRATE_MAX_MS + 1 },
		{ .size = sizeof(inval[0]), .mem_fd = -1, .handshake_ms = -5 },
	};
	for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++)
		assert_int_equal(sq_migrate_recv_create(&inval[i], &r), SQ_E_INVAL);
	free(file);
	free(missing);
	sq_test_rmrf(dir);
	free(dir);
}

int main(void)
{
	seed = sq_test_seed("migrate/commit");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dir_saved_before_ack),
		cmocka_unit_test(dir_gone_reaches_sender),
		cmocka_unit_test(pair_needs_state_file),
		cmocka_unit_test(disk_full_reaches_sender),
		cmocka_unit_test(callback_failure),
		cmocka_unit_test(upfront_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
