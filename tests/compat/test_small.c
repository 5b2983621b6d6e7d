/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The original's small items: arch_magic(), Crc64Writer over a file, the
 * MMDS helpers (with_data / data_value and their "null" and empty-string
 * rules, a populated store through a state file), and a vCPU callback's own
 * error text (Capture(String)) reaching the caller unchanged.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include <squib/compat.h>
#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/state.h>
#include <squib/vcpu.h>

#include "helpers.h"

static void arch_magic_is_pinned(void **state)
{
	(void)state;
	assert_true(sq_arch_magic() == 0x07101984AAAA0000ull);
	assert_true(sq_arch_magic() == SQ_SNAPSHOT_MAGIC_AARCH64);
}

/* Body through the writer + trailer == sq_state_encode's file, residue 0. */
static void crc64_writer_builds_the_envelope(void **state)
{
	char *dir = sq_test_tmpdir("crcw");
	char path[1024];
	struct sq_microvm_state *vm;
	struct sq_crc64_writer w;
	uint8_t *file = NULL;
	unsigned char *got = NULL;
	size_t flen = 0, glen = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/x", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	sq_crc64_writer_init(&w, fd);
	assert_int_equal(sq_crc64_writer_write(&w, "123456789", 9), 0);
	assert_true(sq_crc64_writer_crc(&w) == 0xe9c6d914c4b8d9caull);
	close(fd);

	assert_int_equal(sq_state_demo(&vm), 0);
	assert_int_equal(sq_state_encode(vm, &file, &flen), 0);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	sq_crc64_writer_init(&w, fd);
	/* in two pieces: the CRC streams */
	assert_int_equal(sq_crc64_writer_write(&w, file, 100), 0);
	assert_int_equal(sq_crc64_writer_write(&w, file + 100, flen - 8 - 100), 0);
	assert_int_equal(w.bytes, flen - 8);
	uint64_t body_crc = sq_crc64_writer_crc(&w);
	assert_int_equal(sq_crc64_writer_trailer(&w), 0);
	assert_true(sq_crc64_writer_crc(&w) == body_crc); /* trailer not folded in */
	close(fd);
	assert_int_equal(sq_test_read_file(path, &got, &glen), 0);
	assert_int_equal(glen, flen);
	assert_memory_equal(got, file, flen);
	assert_true(sq_crc64(got, glen) == 0);

	/* a descriptor that refuses: SQ_E_IO with the original's prefix */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	sq_crc64_writer_init(&w, fd);
	assert_int_equal(sq_crc64_writer_write(&w, "x", 1), SQ_E_IO);
	assert_non_null(strstr(sq_last_error(), "snapshot I/O error: "));
	assert_int_equal(w.bytes, 0);
	assert_true(sq_crc64_writer_crc(&w) == 0);
	close(fd);
	free(got);
	free(file);
	sq_state_destroy(vm);
	sq_test_rmrf(dir);
	free(dir);
}

static void mmds_null_and_empty_rules(void **state)
{
	struct sq_mmds_state m;
	char *out = NULL;

	(void)state;
	memset(&m, 0, sizeof(m));
	/* with_data(Value::Null): the string "null" */
	assert_int_equal(sq_mmds_with_data("null", false, 0, &m), 0);
	assert_string_equal(m.data_json.s, "null");
	assert_false(m.has_token_ttl);
	assert_int_equal(sq_mmds_data_value(&m, &out), 0);
	assert_string_equal(out, "null");
	free(out);
	/* data_value of an empty string is JSON null */
	sq_str_clear(&m.data_json);
	assert_int_equal(sq_mmds_data_value(&m, &out), 0);
	assert_string_equal(out, "null");
	free(out);
	/* serde_json's form: compact, keys sorted */
	assert_int_equal(sq_mmds_with_data(" { \"b\" : [1, true, \"x\"], \"a\": {\"z\": null, "
					   "\"y\": \"\\u00e9/\"} } ", true, 3600, &m), 0);
	assert_string_equal(m.data_json.s, "{\"a\":{\"y\":\"\xc3\xa9/\",\"z\":null},"
					   "\"b\":[1,true,\"x\"]}");
	assert_true(m.has_token_ttl);
	assert_int_equal(m.token_ttl_seconds, 3600);
	assert_int_equal(sq_mmds_data_value(&m, &out), 0);
	assert_string_equal(out, m.data_json.s);
	free(out);
	/* scalars are values too */
	assert_int_equal(sq_mmds_with_data("\"text\"", false, 0, &m), 0);
	assert_string_equal(m.data_json.s, "\"text\"");
	/* not JSON: refused, the store unchanged */
	assert_int_equal(sq_mmds_with_data("{\"a\":", false, 0, &m), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "MMDS data is not JSON: "));
	assert_int_equal(sq_mmds_with_data("", false, 0, &m), SQ_E_INVAL);
	assert_string_equal(m.data_json.s, "\"text\"");
	/* stored text that is not JSON (a foreign file): data_value says so */
	assert_int_equal(sq_str_set(&m.data_json, "{oops", 5), 0);
	assert_int_equal(sq_mmds_data_value(&m, &out), SQ_E_CORRUPT);
	assert_null(out);
	sq_str_clear(&m.data_json);
}

/* The original's regression: a populated MMDS store round-trips a state file. */
static void mmds_through_a_state_file(void **state)
{
	struct sq_microvm_state *vm, *back;
	uint8_t *file;
	size_t len;
	char *out;

	(void)state;
	assert_int_equal(sq_state_demo(&vm), 0);
	assert_int_equal(sq_mmds_with_data("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\","
					   "\"n\":[1,2,3]}}}", true, 60, &vm->mmds_state), 0);
	vm->has_mmds = true;
	assert_int_equal(sq_state_encode(vm, &file, &len), 0);
	assert_int_equal(sq_state_decode(file, len, &back, NULL), 0);
	assert_true(back->has_mmds);
	assert_int_equal(sq_mmds_data_value(&back->mmds_state, &out), 0);
	assert_string_equal(out, "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"n\":[1,2,3]}}}");
	assert_int_equal(back->mmds_state.token_ttl_seconds, 60);
	free(out);
	free(file);
	sq_state_destroy(vm);
	sq_state_destroy(back);
}

/* ------------------------------------------- callbacks with their own text */

static int gp_fails_with_text(void *ctx, struct sq_gp_regs *out)
{
	(void)ctx;
	(void)out;
	return sq_capture_error("HVF hv_vcpu_get_reg(X%d): %s", 7, "HV_BAD_ARGUMENT");
}

static int gp_fails_plain(void *ctx, struct sq_gp_regs *out)
{
	(void)ctx;
	(void)out;
	return SQ_E_CAPTURE;
}

static int fp_ok(void *ctx, struct sq_fpsimd_regs *out)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	return 0;
}

static int sys_fails_with_text(void *ctx, uint64_t key, uint64_t *value)
{
	(void)ctx;
	(void)value;
	if (key == 3)
		return sq_capture_error("HVF TTBR1_EL1: HV_ERROR");
	return 0;
}

static int gic_fails_with_text(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	(void)bytes;
	return sq_capture_error("HVF hv_gic_set_state(%zu bytes): HV_DENIED", len);
}

static uint64_t mpidr0(void *ctx)
{
	(void)ctx;
	return 0;
}

static enum sq_psci_state psci_on(void *ctx)
{
	(void)ctx;
	return SQ_PSCI_ON;
}

static void callback_text_survives(void **state)
{
	struct sq_vcpu_source_ops src = { .mpidr = mpidr0, .read_gp_regs = gp_fails_with_text,
					  .read_fp_regs = fp_ok,
					  .read_sys_reg = sys_fails_with_text,
					  .psci_state = psci_on };
	struct sq_vcpu_state v;
	struct sq_gic_target_ops gic = { .restore = gic_fails_with_text };
	struct sq_gic_state g = { .len = 3, .bytes = (uint8_t *)"abc", .bytes_len = 3 };

	(void)state;
	memset(&v, 0, sizeof(v));
	assert_int_equal(sq_vcpu_capture(&src, NULL, &v), SQ_E_CAPTURE);
	assert_string_equal(sq_last_error(), "HVF hv_vcpu_get_reg(X7): HV_BAD_ARGUMENT");
	assert_int_equal(sq_last_error_code(), SQ_E_CAPTURE);
	/* a failure in another operation carries its own text */
	assert_int_equal(sq_gic_restore(&gic, NULL, &g), SQ_E_CAPTURE);
	assert_string_equal(sq_last_error(), "HVF hv_gic_set_state(3 bytes): HV_DENIED");
	/* a callback without its own text: the message names the callback, and
	 * an earlier callback's text does not leak into it */
	src.read_gp_regs = gp_fails_plain;
	assert_int_equal(sq_vcpu_capture(&src, NULL, &v), SQ_E_CAPTURE);
	assert_string_equal(sq_last_error(), "vCPU state capture failed: read_gp_regs failed");
	assert_null(v.sys_regs);
}

static int gp_ok(void *ctx, struct sq_gp_regs *out)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	return 0;
}

static void sysreg_callback_text_survives(void **state)
{
	struct sq_vcpu_source_ops src = { .mpidr = mpidr0, .read_gp_regs = gp_ok,
					  .read_fp_regs = fp_ok,
					  .read_sys_reg = sys_fails_with_text,
					  .psci_state = psci_on };
	struct sq_vcpu_state v;

	(void)state;
	memset(&v, 0, sizeof(v));
	assert_int_equal(sq_vcpu_capture(&src, NULL, &v), SQ_E_CAPTURE);
	assert_string_equal(sq_last_error(), "HVF TTBR1_EL1: HV_ERROR");
	assert_null(v.sys_regs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(arch_magic_is_pinned),
		cmocka_unit_test(crc64_writer_builds_the_envelope),
		cmocka_unit_test(mmds_null_and_empty_rules),
		cmocka_unit_test(mmds_through_a_state_file),
		cmocka_unit_test(callback_text_survives),
		cmocka_unit_test(sysreg_callback_text_survives),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
