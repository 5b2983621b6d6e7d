/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/state/bench_state.c - the state file codec.
 *
 *   state/encode/{demo,32vcpu}      sq_state_encode: body + CRC trailer (a save without IO)
 *   state/decode/{demo,32vcpu}      sq_state_decode_body: bitcode only
 *   state/envelope/load_32vcpu      sq_state_decode + verify_compatible: the whole
 *                                   load from memory (size, CRC, bitcode, magic,
 *                                   version, compatibility)
 *   state/file/load_32vcpu          sq_state_load from a page-cached file (adds IO)
 *   state/baseline/copy_32vcpu      sq_state_copy: reading and rebuilding the
 *                                   same model with no format at all (baseline of
 *                                   the codec benchmarks)
 *   state/crc64/isal                sq_crc64 over 1 MiB
 *   state/crc64/bytewise_baseline   sq_x_crc64_bytewise over 1 MiB (baseline)
 *
 * Goals (issue 3): a 32-vCPU state loads in <= 50 us and saves (encode +
 * CRC, no IO) in <= 30 us on this machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <squib/crc64.h>
#include <squib/state.h>

#include "harness.h"
#include "core/splitmix.h"

static struct sq_microvm_state *make(int vcpus)
{
	struct sq_microvm_state *s = NULL;

	if (vcpus == 0)
		sq_state_demo(&s);
	else
		sq_x_state_demo_vcpus((size_t)vcpus, &s);
	return s;
}

static void bm_encode(struct sq_bench *b)
{
	struct sq_microvm_state *s = make((int)sq_bench_arg(b));
	uint8_t *buf = NULL;
	size_t len = 0;

	if (!s) {
		sq_bench_skip(b, "cannot build the state");
		return;
	}
	while (sq_bench_running(b)) {
		if (sq_state_encode(s, &buf, &len)) {
			sq_bench_skip(b, "encode failed");
			break;
		}
		sq_bench_keep(buf[len - 1]);
		free(buf);
	}
	sq_bench_set_bytes(b, (double)len);
	sq_bench_counter(b, "file_bytes", (double)len);
	sq_state_destroy(s);
}

static void bm_decode(struct sq_bench *b)
{
	struct sq_microvm_state *s = make((int)sq_bench_arg(b)), *d;
	struct sq_state_header h;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (!s || sq_state_encode(s, &buf, &len)) {
		sq_bench_skip(b, "cannot build the state");
		sq_state_destroy(s);
		return;
	}
	while (sq_bench_running(b)) {
		if (sq_state_decode_body(buf, len - SQ_STATE_CRC_LEN, &d, &h)) {
			sq_bench_skip(b, "decode failed");
			break;
		}
		sq_bench_keep(d->n_vcpus);
		sq_state_destroy(d);
		sq_state_header_release(&h);
	}
	sq_bench_set_bytes(b, (double)len);
	free(buf);
	sq_state_destroy(s);
}

static void bm_load(struct sq_bench *b)
{
	struct sq_microvm_state *s = make((int)sq_bench_arg(b)), *d;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (!s || sq_state_encode(s, &buf, &len)) {
		sq_bench_skip(b, "cannot build the state");
		sq_state_destroy(s);
		return;
	}
	while (sq_bench_running(b)) {
		if (sq_state_decode(buf, len, &d, NULL) || sq_state_verify_compatible(d)) {
			sq_bench_skip(b, "load failed");
			break;
		}
		sq_bench_keep(d->n_vcpus);
		sq_state_destroy(d);
	}
	sq_bench_set_bytes(b, (double)len);
	free(buf);
	sq_state_destroy(s);
}

static void bm_file_load(struct sq_bench *b)
{
	struct sq_microvm_state *s = make((int)sq_bench_arg(b)), *d;
	const char *dir = getenv("SQ_BENCH_DIR");
	char path[512];

	if (!dir)
		dir = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/squib-bench-%d-vm.snap", dir ? dir : "/var/tmp",
		 (int)getpid());
	if (!s || sq_state_save(path, s)) {
		sq_bench_skip(b, "cannot write the state file");
		goto out;
	}
	while (sq_bench_running(b)) {
		if (sq_state_load(path, &d, NULL)) {
			sq_bench_skip(b, "load failed");
			break;
		}
		sq_bench_keep(d->n_vcpus);
		sq_state_destroy(d);
	}
out:
	unlink(path);
	sq_state_destroy(s);
}

static void bm_copy(struct sq_bench *b)
{
	struct sq_microvm_state *s = make((int)sq_bench_arg(b)), *d;

	if (!s) {
		sq_bench_skip(b, "cannot build the state");
		return;
	}
	while (sq_bench_running(b)) {
		if (sq_state_copy(s, &d)) {
			sq_bench_skip(b, "copy failed");
			break;
		}
		sq_bench_keep(d->n_vcpus);
		sq_state_destroy(d);
	}
	sq_state_destroy(s);
}

#define CRC_BYTES (1u << 20)

static void bm_crc(struct sq_bench *b, int bytewise)
{
	uint8_t *buf = malloc(CRC_BYTES);
	uint64_t seed = 7, acc = 0;

	if (!buf) {
		sq_bench_skip(b, "out of memory");
		return;
	}
	for (size_t i = 0; i < CRC_BYTES; i++)
		buf[i] = (uint8_t)sq_splitmix64(&seed);
	while (sq_bench_running(b)) {
		acc ^= bytewise ? sq_x_crc64_bytewise(0, buf, CRC_BYTES) : sq_crc64(buf, CRC_BYTES);
		sq_bench_keep(acc);
	}
	sq_bench_set_bytes(b, CRC_BYTES);
	free(buf);
}

static void bm_crc_isal(struct sq_bench *b)
{
	bm_crc(b, 0);
}

static void bm_crc_bytewise(struct sq_bench *b)
{
	bm_crc(b, 1);
}

SQ_BENCH_DEF(.name = "state/baseline/copy_32vcpu", .fn = bm_copy, .arg = 32)
SQ_BENCH_DEF(.name = "state/encode/demo", .fn = bm_encode, .arg = 0,
	     .baseline = "state/baseline/copy_32vcpu")
SQ_BENCH_DEF(.name = "state/decode/demo", .fn = bm_decode, .arg = 0,
	     .baseline = "state/baseline/copy_32vcpu")
SQ_BENCH_DEF(.name = "state/encode/32vcpu", .fn = bm_encode, .arg = 32,
	     .baseline = "state/baseline/copy_32vcpu")
SQ_BENCH_DEF(.name = "state/decode/32vcpu", .fn = bm_decode, .arg = 32,
	     .baseline = "state/baseline/copy_32vcpu")
SQ_BENCH_DEF(.name = "state/envelope/load_32vcpu", .fn = bm_load, .arg = 32,
	     .baseline = "state/baseline/copy_32vcpu")
SQ_BENCH_DEF(.name = "state/file/load_32vcpu", .fn = bm_file_load, .arg = 32,
	     .baseline = "state/baseline/copy_32vcpu")
SQ_BENCH_DEF(.name = "state/crc64/bytewise_baseline", .fn = bm_crc_bytewise)
SQ_BENCH_DEF(.name = "state/crc64/isal", .fn = bm_crc_isal,
	     .baseline = "state/crc64/bytewise_baseline")
