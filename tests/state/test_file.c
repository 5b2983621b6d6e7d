/* SPDX-License-Identifier: Apache-2.0 */
/*
 * State files on disk, as the original's load tests and the state part of
 * its integration tests: save + load round trip, describe (human and JSON
 * forms, crc_ok false on a flipped trailer byte, memory-file inference and
 * MISSING), Incompatible on save and on load, TooShort for a 3-byte file,
 * the size limit on a real file, and IO failures at the state sites.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/error.h>
#include <squib/state.h>

#include "core/sysio.h"
#include "helpers.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = sq_test_tmpdir("state_file");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sq_test_rmrf(dir);
	free(dir);
	return 0;
}

static char *path_of(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void save_load_round_trip(void **state)
{
	struct sq_microvm_state *s, *d;
	struct sq_state_header h;
	char *p = path_of("rt.snap"), *tmp = path_of("rt.snap.tmp");

	(void)state;
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_save(p, s), 0);
	assert_false(sq_test_exists(tmp));
	assert_int_equal(sq_state_load(p, &d, &h), 0);
	assert_true(sq_state_equal(s, d));
	assert_int_equal(d->n_vcpus, 2);
	assert_string_equal(h.version, "5.0.0"); /* the source version */
	/* The file is the golden demo vector. */
	unsigned char *file = NULL, *gold = NULL;
	size_t flen = 0, glen = 0;
	assert_int_equal(sq_test_read_file(p, &file, &flen), 0);
	assert_int_equal(sq_test_read_file(SQ_TEST_DATA_DIR "/vectors/demo.snap", &gold, &glen), 0);
	assert_int_equal(flen, glen);
	assert_memory_equal(file, gold, glen);
	/* A second save replaces the first. */
	s->vm_info.mem_size_mib = 2048;
	assert_int_equal(sq_state_save(p, s), 0);
	sq_state_destroy(d);
	sq_state_header_release(&h);
	assert_int_equal(sq_state_load(p, &d, NULL), 0);
	assert_int_equal(d->vm_info.mem_size_mib, 2048);
	/* A device blob with a host_dev_name survives byte for byte (I-NET-3). */
	static const char blob[] = "host_dev_name=tap0\0mac=06:00:ac:10:00:02";
	assert_int_equal(sq_state_add_device(s, "virtio-net", "eth9", 7, blob, sizeof(blob)), 0);
	assert_int_equal(sq_state_save(p, s), 0);
	sq_state_destroy(d);
	assert_int_equal(sq_state_load(p, &d, NULL), 0);
	assert_int_equal(d->devices[2].blob_len, sizeof(blob));
	assert_memory_equal(d->devices[2].blob, blob, sizeof(blob));
	free(file);
	free(gold);
	sq_state_destroy(d);
	sq_state_destroy(s);
	free(p);
	free(tmp);
}

static char *describe_text(const char *p, int json)
{
	struct sq_state_description *d;
	char *text;

	assert_int_equal(sq_state_describe(p, &d), 0);
	assert_int_equal(sq_state_description_format(d, json, &text), 0);
	sq_state_description_destroy(d);
	return text;
}

static void describe_human_and_json(void **state)
{
	struct sq_microvm_state *s;
	char *p = path_of("demo.snap"), *mem = path_of("demo.mem");
	char *text, *want;

	(void)state;
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_save(p, s), 0);
	text = describe_text(p, 0);
	assert_true(asprintf(&want,
			     "snapshot: %s\n"
			     "  magic:               0x07101984aaaa0000\n"
			     "  version:             5.0.0\n"
			     "  vcpu_count:          2\n"
			     "  mem_size_mib:        1024\n"
			     "  track_dirty_pages:   true\n"
			     "  devices:             2\n"
			     "    - virtio-block: rootfs (slot 0)\n"
			     "    - virtio-net: eth0 (slot 1)\n"
			     "  mmds_present:        true\n"
			     "  memory file:         %s (MISSING)\n"
			     "  crc_ok:              yes\n",
			     p, mem) > 0);
	assert_string_equal(text, want);
	assert_non_null(strstr(text, "vcpu_count:          2"));
	free(text);
	free(want);
	/* With the memory file present, its size. */
	assert_int_equal(sq_test_write_file(mem, "0123456789", 10), 0);
	text = describe_text(p, 0);
	assert_true(asprintf(&want, "  memory file:         %s (10 bytes)\n", mem) > 0);
	assert_non_null(strstr(text, want));
	free(text);
	free(want);
	text = describe_text(p, 1);
	assert_true(asprintf(&want,
			     "{\"state_path\":\"%s\",\"magic\":\"0x07101984aaaa0000\","
			     "\"version\":\"5.0.0\",\"expected_version\":\"5.0.0\",\"vcpu_count\":2,"
			     "\"mem_size_mib\":1024,\"track_dirty_pages\":true,\"devices\":["
			     "{\"kind\":\"virtio-block\",\"id\":\"rootfs\",\"mmio_slot\":0},"
			     "{\"kind\":\"virtio-net\",\"id\":\"eth0\",\"mmio_slot\":1}],"
			     "\"mmds_present\":true,\"inferred_memory_path\":\"%s\","
			     "\"inferred_memory_exists\":true,\"inferred_memory_size\":10,"
			     "\"crc_ok\":true}\n",
			     p, mem) > 0);
	assert_string_equal(text, want);
	free(text);
	free(want);
	sq_state_destroy(s);
	free(p);
	free(mem);
}

static void describe_flipped_crc_byte(void **state)
{
	char *p = path_of("flip.snap");
	unsigned char *buf = NULL;
	size_t len = 0;
	struct sq_microvm_state *s = NULL;
	struct sq_state_description *d;
	char *text;

	(void)state;
	assert_int_equal(sq_test_read_file(SQ_TEST_DATA_DIR "/vectors/demo.snap", &buf, &len), 0);
	buf[len - 1] ^= 0x01;
	assert_int_equal(sq_test_write_file(p, buf, len), 0);
	assert_int_equal(sq_state_load(p, &s, NULL), SQ_E_CRC_MISMATCH);
	assert_null(s);
	assert_int_equal(sq_state_describe(p, &d), 0);
	assert_false(d->crc_ok);
	assert_int_equal(d->vcpu_count, 2);
	assert_int_equal(sq_state_description_format(d, 0, &text), 0);
	assert_non_null(strstr(text, "  crc_ok:              NO\n"));
	free(text);
	assert_int_equal(sq_state_description_format(d, 1, &text), 0);
	assert_non_null(strstr(text, "\"crc_ok\":false}"));
	free(text);
	sq_state_description_destroy(d);
	/* A body change behind a wrong CRC that is not bitcode: the bitcode error. */
	buf[len - 1] ^= 0x01;
	buf[0] = 0x07;
	assert_int_equal(sq_test_write_file(p, buf, len), 0);
	assert_int_equal(sq_state_describe(p, &d), SQ_E_BITCODE);
	/* Wrong magic behind a wrong CRC: MagicMismatch (the fallback checks it). */
	free(buf);
	assert_int_equal(sq_test_read_file(SQ_TEST_DATA_DIR "/vectors/env_magic_mismatch.snap", &buf,
					   &len),
			 0);
	buf[len - 1] ^= 0x01;
	assert_int_equal(sq_test_write_file(p, buf, len), 0);
	assert_int_equal(sq_state_describe(p, &d), SQ_E_MAGIC_MISMATCH);
	free(buf);
	free(p);
}

static void memory_path_inference(void **state)
{
	static const struct {
		const char *name;
		const char *mem; /* NULL = none inferred */
	} cases[] = {
		{ "a.snap", "a.mem" }, { "a.b.snap", "a.b.mem" }, { "a.bin", NULL },
		{ "noext", NULL },     { "a.snapx", NULL },       { ".snap", NULL },
	};
	unsigned char *gold = NULL;
	size_t glen = 0;

	(void)state;
	assert_int_equal(sq_test_read_file(SQ_TEST_DATA_DIR "/vectors/minimal.snap", &gold, &glen), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = path_of(cases[i].name);
		struct sq_state_description *d;

		assert_int_equal(sq_test_write_file(p, gold, glen), 0);
		assert_int_equal(sq_state_describe(p, &d), 0);
		if (!cases[i].mem) {
			assert_null(d->inferred_memory_path);
		} else {
			char *m = path_of(cases[i].mem);

			assert_string_equal(d->inferred_memory_path, m);
			assert_false(d->inferred_memory_exists);
			assert_false(d->has_inferred_memory_size);
			free(m);
		}
		/* describe does not run verify_compatible: default_state-like files too */
		sq_state_description_destroy(d);
		free(p);
	}
	free(gold);
}

static void incompatible_on_save_and_load(void **state)
{
	struct sq_microvm_state *s, *d = NULL;
	char *p = path_of("zero.snap"), *tmp = path_of("zero.snap.tmp");
	struct sq_state_description *desc;

	(void)state;
	assert_int_equal(sq_state_create(0, &s), 0);
	assert_int_equal(sq_state_save(p, s), SQ_E_INCOMPATIBLE);
	assert_false(sq_test_exists(p));
	assert_false(sq_test_exists(tmp));
	/* A 0-vCPU file written anyway (the default_state vector): load refuses. */
	unsigned char *buf = NULL;
	size_t len = 0;
	assert_int_equal(sq_test_read_file(SQ_TEST_DATA_DIR "/vectors/default_state.snap", &buf, &len),
			 0);
	assert_int_equal(sq_test_write_file(p, buf, len), 0);
	assert_int_equal(sq_state_load(p, &d, NULL), SQ_E_INCOMPATIBLE);
	assert_null(d);
	assert_int_equal(sq_state_describe(p, &desc), 0); /* describe still works */
	assert_int_equal(desc->vcpu_count, 0);
	sq_state_description_destroy(desc);
	/* smt on save: the previous file is left untouched. */
	sq_state_destroy(s);
	assert_int_equal(sq_state_demo(&s), 0);
	s->vm_info.smt = true;
	assert_int_equal(sq_state_save(p, s), SQ_E_INCOMPATIBLE);
	unsigned char *after = NULL;
	size_t alen = 0;
	assert_int_equal(sq_test_read_file(p, &after, &alen), 0);
	assert_int_equal(alen, len);
	assert_memory_equal(after, buf, len);
	free(after);
	free(buf);
	sq_state_destroy(s);
	free(p);
	free(tmp);
}

static void short_missing_and_oversized_files(void **state)
{
	char *p = path_of("abc.snap");
	struct sq_microvm_state *d = NULL;
	struct sq_state_description *desc = NULL;

	(void)state;
	assert_int_equal(sq_test_write_file(p, "abc", 3), 0);
	assert_int_equal(sq_state_load(p, &d, NULL), SQ_E_TOO_SHORT);
	assert_int_equal(sq_state_describe(p, &desc), SQ_E_TOO_SHORT);
	assert_null(desc);
	free(p);
	p = path_of("missing.snap");
	assert_int_equal(sq_state_load(p, &d, NULL), SQ_E_IO);
	assert_non_null(strstr(sq_last_error(), "snapshot I/O error: No such file or directory (os error 2)"));
	assert_int_equal(sq_state_describe(p, &desc), SQ_E_IO);
	free(p);
	/* Over the limit: at most limit + 1 bytes are read, then SizeLimitExceeded. */
	p = path_of("big.snap");
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fseek(f, SQ_STATE_SIZE_LIMIT + 100, SEEK_SET), 0);
	fputc(1, f);
	fclose(f);
	assert_int_equal(sq_state_load(p, &d, NULL), SQ_E_SIZE_LIMIT);
	assert_string_equal(sq_last_error(), "snapshot exceeds 10000000 byte deserialization limit");
	assert_null(d);
	free(p);
	/* A FIFO nobody writes to is refused at once, never waited on. */
	p = path_of("fifo.snap");
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(sq_state_load(p, &d, NULL), SQ_E_NOT_REGULAR);
	assert_non_null(strstr(sq_last_error(), "not a regular file"));
	assert_int_equal(sq_state_describe(p, &desc), SQ_E_NOT_REGULAR);
	assert_null(d);
	unlink(p);
	free(p);
}

static void io_faults_at_state_sites(void **state)
{
	char *p = path_of("fault.snap");
	struct sq_microvm_state *s, *d = NULL;
	struct sq_fault_plan plan = { .site = SQ_SITE_STATE_READ, .error = EIO };

	(void)state;
	assert_int_equal(sq_state_demo(&s), 0);
	assert_int_equal(sq_state_save(p, s), 0);
	sq_fault_set(&plan);
	assert_int_equal(sq_state_load(p, &d, NULL), SQ_E_IO);
	assert_non_null(strstr(sq_last_error(), "snapshot I/O error: Input/output error (os error 5)"));
	assert_null(d);
	plan.site = SQ_SITE_STATE_OPEN;
	plan.error = EACCES;
	sq_fault_set(&plan);
	assert_int_equal(sq_state_load(p, &d, NULL), SQ_E_IO);
	/* Short reads and EINTR are retried. */
	plan.site = SQ_SITE_STATE_READ;
	plan.error = SQ_FAULT_SHORT;
	plan.times = 3;
	sq_fault_set(&plan);
	assert_int_equal(sq_state_load(p, &d, NULL), 0);
	assert_true(sq_fault_fired() > 0);
	sq_state_destroy(d);
	plan.error = EINTR;
	sq_fault_set(&plan);
	assert_int_equal(sq_state_load(p, &d, NULL), 0);
	sq_state_destroy(d);
	sq_fault_set(NULL);
	sq_state_destroy(s);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(save_load_round_trip),
		cmocka_unit_test(describe_human_and_json),
		cmocka_unit_test(describe_flipped_crc_byte),
		cmocka_unit_test(memory_path_inference),
		cmocka_unit_test(incompatible_on_save_and_load),
		cmocka_unit_test(short_missing_and_oversized_files),
		cmocka_unit_test(io_faults_at_state_sites),
	};

	return cmocka_run_group_tests_name("state/file", tests, setup, teardown);
}
