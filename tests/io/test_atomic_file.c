/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Atomic file writer: commit, abort, exclusive writers (busy, lock),
 * temps of dead writers removed and a live writer's kept, symlinks, modes,
 * the same-filesystem pre-flight, and injected failures at every step.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include <squib/atomic_file.h>
#include <squib/error.h>
#include "core/sysio.h"
#include "helpers.h"

struct fx {
	char *dir;
	char dest[1024];
	char temp[1100];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = sq_test_tmpdir("atomic");
	snprintf(f->dest, sizeof(f->dest), "%s/x.snap", f->dir);
	snprintf(f->temp, sizeof(f->temp), "%s/x.snap.tmp", f->dir);
	*state = f;
	return f->dir ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sq_fault_set(NULL);
	sq_test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void assert_file_is(const char *path, const char *text)
{
	unsigned char *b = NULL;
	size_t n = 0;
	assert_int_equal(sq_test_read_file(path, &b, &n), 0);
	assert_int_equal(n, strlen(text));
	assert_memory_equal(b, text, n);
	free(b);
}

/* The directory holds nothing but x.snap (when @with_dest): no temp, no lock. */
static void assert_only_dest(const struct fx *f, int with_dest)
{
	DIR *d = opendir(f->dir);
	struct dirent *e;
	int seen = 0;
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!strcmp(e->d_name, "x.snap")) {
			seen = 1;
			continue;
		}
		fail_msg("left behind: %s", e->d_name);
	}
	closedir(d);
	assert_int_equal(seen, with_dest);
}

/* Count the named temps of x.snap in the directory. */
static int count_temps(const struct fx *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "x.snap.", 7) && strstr(e->d_name, ".tmp") != NULL;
	closedir(d);
	return n;
}

static int write_file(const char *dest, const char *text)
{
	struct sq_atomic_file *af;
	int rc = sq_atomic_open(dest, NULL, &af);
	if (rc)
		return rc;
	rc = sq_atomic_write(af, text, strlen(text), SQ_E_IO);
	if (!rc)
		rc = sq_atomic_commit(af);
	sq_atomic_destroy(af);
	return rc;
}

static void temp_path_derivation(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(sq_x_derive_temp_path("dir/x.snap", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "dir/x.snap.tmp");
	assert_int_equal(sq_x_derive_temp_path("dir/x.snap", buf, 8), SQ_E_INVALID_PATH);
}

static void commit_creates_0600_and_no_temp(void **state)
{
	struct fx *f = *state;
	struct stat st;
	for (int i = 0; i < 3; i++) { /* back-to-back commits */
		char text[32];
		snprintf(text, sizeof(text), "version %d", i);
		assert_int_equal(write_file(f->dest, text), 0);
		assert_file_is(f->dest, text);
		assert_only_dest(f, 1);
	}
	assert_int_equal(stat(f->dest, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void close_without_commit_unlinks_and_keeps_old(void **state)
{
	struct fx *f = *state;
	struct sq_atomic_file *af;
	assert_int_equal(write_file(f->dest, "old"), 0);
	assert_only_dest(f, 1);
	struct sq_atomic_opts o = { .size = sizeof(o), .flags = SQ_ATOMIC_NAMED_TEMP };
	assert_int_equal(sq_atomic_open(f->dest, &o, &af), 0);
	assert_true(sq_test_exists(sq_atomic_temp_path(af)));
	assert_int_equal(sq_atomic_write(af, "new!", 4, SQ_E_IO), 0);
	sq_atomic_destroy(af);
	assert_only_dest(f, 1);
	assert_file_is(f->dest, "old");
	/* the default, anonymous temp: nothing named exists before publish */
	assert_int_equal(sq_atomic_open(f->dest, NULL, &af), 0);
	assert_int_equal(sq_atomic_write(af, "new!", 4, SQ_E_IO), 0);
	assert_int_equal(count_temps(f), 0);
	sq_atomic_destroy(af);
	assert_only_dest(f, 1);
	assert_file_is(f->dest, "old");
}

static void planted_symlinks_not_followed(void **state)
{
	struct fx *f = *state;
	char victim[1200], lock[1100], legacy[1100];
	snprintf(victim, sizeof(victim), "%s/../victim-%d", f->dir, (int)getpid());
	snprintf(lock, sizeof(lock), "%s.lock", f->dest);
	snprintf(legacy, sizeof(legacy), "%s.tmp", f->dest);
	assert_int_equal(sq_test_write_file(victim, "precious", 8), 0);
	assert_int_equal(symlink(victim, lock), 0);
	assert_int_equal(symlink(victim, f->temp), 0); /* the old fixed temp name */
	assert_int_equal(write_file(f->dest, "data"), 0);
	assert_file_is(victim, "precious"); /* not written through either link */
	assert_file_is(f->dest, "data");
	assert_false(sq_test_exists(lock));
	/* a file with the old fixed temp name is not ours: left alone */
	struct stat st;
	assert_int_equal(lstat(legacy, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	unlink(legacy);
	unlink(victim);
}

/* Two handles on one destination: the second is refused at once. */
static void second_writer_is_busy(void **state)
{
	struct fx *f = *state;
	struct sq_atomic_file *a, *b = (void *)1;
	assert_int_equal(sq_atomic_open(f->dest, NULL, &a), 0);
	assert_int_equal(sq_atomic_open(f->dest, NULL, &b), SQ_E_OUTPUT_BUSY);
	assert_null(b);
	assert_int_equal(sq_last_error_code(), SQ_E_OUTPUT_BUSY);
	assert_int_equal(sq_atomic_write(a, "first", 5, SQ_E_IO), 0);
	assert_int_equal(sq_atomic_commit(a), 0);
	sq_atomic_destroy(a);
	assert_file_is(f->dest, "first");
	assert_int_equal(write_file(f->dest, "second"), 0); /* free again */
	assert_file_is(f->dest, "second");
	assert_only_dest(f, 1);
}

/*
 * A child holds a named temp open (alive): sweeps and other writers leave
 * it alone (they get busy). Killed with SIGKILL, its temp is dead and the
 * next sweep or writer removes it.
 */
static void dead_writer_temps_removed_live_kept(void **state)
{
	struct fx *f = *state;
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sq_atomic_opts o = { .size = sizeof(o), .flags = SQ_ATOMIC_NAMED_TEMP };
		struct sq_atomic_file *af;
		if (sq_atomic_open(f->dest, &o, &af) || sq_atomic_write(af, "half", 4, SQ_E_IO))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c;
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(count_temps(f), 1);
	assert_int_equal(sq_atomic_sweep(f->dest), 0); /* live: kept */
	struct sq_atomic_file *af;
	assert_int_equal(sq_atomic_open(f->dest, NULL, &af), SQ_E_OUTPUT_BUSY);
	assert_int_equal(count_temps(f), 1);
	assert_false(sq_test_exists(f->dest)); /* never published */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(count_temps(f), 1); /* dead, not yet noticed */
	assert_int_equal(sq_atomic_sweep(f->dest), 1);
	assert_only_dest(f, 0);
	/* a writer removes a dead writer's temp too */
	char dead[1200];
	snprintf(dead, sizeof(dead), "%s.99999.0123456789abcdef.tmp", f->dest);
	assert_int_equal(sq_test_write_file(dead, "junk", 4), 0);
	assert_int_equal(write_file(f->dest, "whole"), 0);
	assert_only_dest(f, 1);
	assert_file_is(f->dest, "whole");
}

static void missing_parent_is_io_error(void **state)
{
	struct fx *f = *state;
	char dest[1200];
	struct sq_atomic_file *af = (void *)1;
	snprintf(dest, sizeof(dest), "%s/no/such/dir/x.snap", f->dir);
	assert_int_equal(sq_atomic_open(dest, NULL, &af), SQ_E_IO);
	assert_null(af);
	assert_non_null(strstr(sq_last_error(), "snapshot I/O error: No such file or directory"));
	assert_int_equal(sq_x_check_same_filesystem(dest, dest), SQ_E_IO);
}

static void bare_relative_name_uses_cwd(void **state)
{
	struct fx *f = *state;
	char cwd[1024];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(sq_x_check_same_filesystem("x.snap", "x.snap.tmp"), 0);
	assert_int_equal(write_file("rel.snap", "r"), 0);
	assert_int_equal(chdir(cwd), 0);
}

static void cross_filesystem_detected(void **state)
{
	struct fx *f = *state;
	struct stat a, b;
	const char *other = "/dev/shm";
	if (stat(other, &b) < 0 || stat(f->dir, &a) < 0 || a.st_dev == b.st_dev)
		skip(); /* no second filesystem here; the check itself is below */
	struct sq_atomic_opts o = { .size = sizeof(o), .temp_dir = other };
	struct sq_atomic_file *af;
	assert_int_equal(sq_atomic_open(f->dest, &o, &af), SQ_E_ATOMIC_COMMIT_CROSS_FS);
	char expect[2048];
	snprintf(expect, sizeof(expect),
		 "snapshot temp-file path is on a different filesystem from the destination "
		 "(dest=\"%s\", temp_dir=\"/dev/shm\"); rename(2) cannot be atomic across mounts",
		 f->dest);
	assert_string_equal(sq_last_error(), expect);
	/* same filesystem, other directory: allowed */
	char sub[1200];
	snprintf(sub, sizeof(sub), "%s/tmpdir", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	o.temp_dir = sub;
	assert_int_equal(sq_atomic_open(f->dest, &o, &af), 0);
	assert_int_equal(sq_atomic_write(af, "via temp dir", 12, SQ_E_IO), 0);
	assert_int_equal(sq_atomic_commit(af), 0);
	sq_atomic_destroy(af);
	assert_file_is(f->dest, "via temp dir");
}

/* One injected failure: old file intact, no temp, the specific error. */
static void inject(struct fx *f, int site, int err, int expect_rc)
{
	struct sq_atomic_file *af;
	assert_int_equal(write_file(f->dest, "old contents"), 0);
	struct sq_fault_plan p = { .site = site, .error = err, .times = 1 };
	sq_fault_set(&p);
	int rc = sq_atomic_open(f->dest, NULL, &af);
	if (rc == 0) {
		rc = sq_atomic_write(af, "new contents", 12, SQ_E_IO);
		if (rc == 0)
			rc = sq_atomic_commit(af);
		sq_atomic_destroy(af);
	}
	assert_int_equal(sq_fault_fired(), 1);
	sq_fault_set(NULL);
	assert_int_equal(rc, expect_rc);
	assert_only_dest(f, 1);
	assert_file_is(f->dest, "old contents");
}

static void enospc_on_write(void **state)
{
	inject(*state, SQ_SITE_ATOMIC_WRITE, ENOSPC, SQ_E_NO_SPACE);
	assert_non_null(strstr(sq_last_error(), "No space left on device (os error 28)"));
}

static void eio_on_write(void **state) { inject(*state, SQ_SITE_ATOMIC_WRITE, EIO, SQ_E_IO); }

static void eio_on_fsync(void **state)
{
	inject(*state, SQ_SITE_ATOMIC_FSYNC, EIO, SQ_E_IO);
	assert_string_equal(sq_last_error(), "snapshot I/O error: Input/output error (os error 5)");
}

static void failing_rename(void **state)
{
	inject(*state, SQ_SITE_ATOMIC_RENAME, EXDEV, SQ_E_ATOMIC_COMMIT_FAILED);
	assert_true(strncmp(sq_last_error(), "atomic commit (rename) failed: ", 31) == 0);
}

static void failing_open(void **state)
{
	inject(*state, SQ_SITE_ATOMIC_OPEN, EACCES, SQ_E_IO);
}

static void short_write_and_eintr_are_retried(void **state)
{
	struct fx *f = *state;
	struct sq_fault_plan p = { .site = SQ_SITE_ATOMIC_WRITE, .error = SQ_FAULT_SHORT, .times = 3 };
	sq_fault_set(&p);
	assert_int_equal(write_file(f->dest, "a somewhat longer text"), 0);
	assert_int_equal(sq_fault_fired(), 3);
	assert_file_is(f->dest, "a somewhat longer text");
	p.error = EINTR;
	p.times = 2;
	sq_fault_set(&p);
	assert_int_equal(write_file(f->dest, "after eintr"), 0);
	assert_int_equal(sq_fault_fired(), 2);
	sq_fault_set(NULL);
	assert_file_is(f->dest, "after eintr");
}

static void dir_fsync_failure_reported_after_rename(void **state)
{
	struct fx *f = *state;
	struct sq_fault_plan p = { .site = SQ_SITE_ATOMIC_DIRFSYNC, .error = EIO, .times = 1 };
	sq_fault_set(&p);
	assert_int_equal(write_file(f->dest, "renamed"), SQ_E_IO);
	sq_fault_set(NULL);
	assert_only_dest(f, 1);
	assert_file_is(f->dest, "renamed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(temp_path_derivation),
		cmocka_unit_test_setup_teardown(commit_creates_0600_and_no_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(close_without_commit_unlinks_and_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(planted_symlinks_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(second_writer_is_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(dead_writer_temps_removed_live_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_parent_is_io_error, setup, teardown),
		cmocka_unit_test_setup_teardown(bare_relative_name_uses_cwd, setup, teardown),
		cmocka_unit_test_setup_teardown(cross_filesystem_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(enospc_on_write, setup, teardown),
		cmocka_unit_test_setup_teardown(eio_on_write, setup, teardown),
		cmocka_unit_test_setup_teardown(eio_on_fsync, setup, teardown),
		cmocka_unit_test_setup_teardown(failing_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(failing_open, setup, teardown),
		cmocka_unit_test_setup_teardown(short_write_and_eintr_are_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(dir_fsync_failure_reported_after_rename, setup, teardown),
	};
	return cmocka_run_group_tests_name("io/atomic_file", tests, NULL, NULL);
}
