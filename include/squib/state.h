/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/state.h - the microVM state model and its state file.
 *
 * The state file is byte-compatible with squib-snapshot 0.2.0: the bitcode
 * 0.6 (serde mode) encoding of
 *     Snapshot { header: { magic: u64, version: semver text }, data: MicrovmState }
 * followed by the CRC-64/Jones of those bytes, 8 bytes little-endian
 * (docs/FORMAT.md, "State file").
 *
 *   model       sq_state_create / _copy / _equal / _free, setters below,
 *               sq_state_sort_devices, sq_sysreg_name / sq_sysreg_key
 *   checks      sq_state_verify_compatible (the original's four rules)
 *   codec       sq_state_encode        state -> file bytes (body + CRC)
 *               sq_state_encode_body   state + any header -> body only
 *               sq_state_decode        file bytes -> state (original's load order)
 *               sq_state_decode_unchecked  body -> state, magic/version checked
 *               sq_state_decode_body   body -> state, nothing but bitcode checked
 *   files       sq_state_save / sq_state_load / sq_state_describe
 *   demo        sq_state_demo (the 2-vCPU demo state), sq_x_state_demo_vcpus
 *
 * Ownership: every pointer inside a struct sq_microvm_state is owned by it
 * and allocated with malloc(); sq_state_destroy() releases all of it. Callers
 * that build a state by hand allocate its parts with malloc() too (or use
 * the setters, which do). Strings are struct sq_str: UTF-8 text of @len
 * bytes (may contain NUL), always followed by a terminating NUL that is not
 * counted; a NULL @s means the empty string.
 *
 * Threads: no function here keeps global state; a state object may be read
 * from several threads at once, and written by one thread at a time with no
 * concurrent reader. All functions return 0 or a negative enum sq_error
 * code and record the detail for sq_last_error().
 */
#ifndef SQUIB_STATE_H
#define SQUIB_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <squib/export.h>

SQ_BEGIN_DECLS

/* The original's constants (envelope.rs). */
#define SQ_SNAPSHOT_MAGIC_AARCH64 0x07101984AAAA0000ULL
#define SQ_SNAPSHOT_VERSION "5.0.0"
#define SQ_SNAPSHOT_VERSION_MAJOR 5
#define SQ_SNAPSHOT_VERSION_MINOR 0
/* Whole state file, CRC trailer included: decimal 10 MB, as the original. */
#define SQ_STATE_SIZE_LIMIT 10000000u
#define SQ_STATE_CRC_LEN 8u
/* verify_compatible's vCPU cap (decision D19). */
#define SQ_STATE_MAX_VCPUS 32u

/* ------------------------------------------------------------------ model */

struct sq_str {
	char *s;    /* NUL-terminated, malloc'ed; NULL = "" */
	size_t len; /* bytes, without the terminator */
};

/* PsciVcpuState: the values are the wire variant indices. */
enum sq_psci_state {
	SQ_PSCI_ON = 0,
	SQ_PSCI_OFF = 1,         /* the default */
	SQ_PSCI_ON_PENDING = 2,
};

struct sq_gp_regs {
	uint64_t x[31];  /* X0..X30 */
	uint64_t sp;     /* SP_EL1 */
	uint64_t pc;
	uint64_t pstate;
};

struct sq_fpsimd_regs {
	uint64_t v[32][2]; /* Q0..Q31 as [low half, high half] */
	uint64_t fpsr;     /* FPSR before FPCR, as on the wire */
	uint64_t fpcr;
};

struct sq_sysreg {
	uint64_t key;   /* encoded register (sq_sysreg_name), any u64 on the wire */
	uint64_t value;
};

struct sq_vcpu_state {
	uint64_t mpidr;
	struct sq_gp_regs regs;
	struct sq_fpsimd_regs fp_regs;
	/* The ordered map: strictly ascending keys (sq_vcpu_sysreg_set keeps
	 * that; the encoder rejects anything else with SQ_E_INVAL). */
	struct sq_sysreg *sys_regs;
	size_t n_sys_regs;
	enum sq_psci_state psci_state;
};

struct sq_vm_info {
	uint64_t mem_size_mib;
	bool smt;
	struct sq_str cpu_template;
	struct sq_str kernel_image_path;
	bool has_initrd_path; /* Option<String>: false = None */
	struct sq_str initrd_path;
	struct sq_str boot_args;
	bool track_dirty_pages;
};

struct sq_device_state {
	struct sq_str kind; /* "virtio-block", "virtio-net", ... */
	struct sq_str id;   /* drive_id / iface_id */
	uint32_t mmio_slot;
	uint8_t *blob;      /* opaque; NULL when blob_len is 0 */
	size_t blob_len;
};

struct sq_gic_state {
	uint64_t len;       /* redundant copy of bytes_len (checked by verify_compatible) */
	uint8_t *bytes;
	size_t bytes_len;
};

struct sq_mmds_state {
	struct sq_str data_json;    /* JSON text; "null" for an empty store */
	bool has_token_ttl;         /* Option<u32>: false = None (MMDS V1) */
	uint32_t token_ttl_seconds;
};

/* MicrovmState, field for field in the original's (= wire) order. */
struct sq_microvm_state {
	struct sq_vm_info vm_info;
	struct sq_vcpu_state *vcpus;
	size_t n_vcpus;
	struct sq_device_state *devices; /* DeviceStates.devices */
	size_t n_devices;
	struct sq_gic_state gic_state;
	bool has_mmds;                   /* Option<MmdsState>: false = None */
	struct sq_mmds_state mmds_state;
};

/* The header of a decoded file (SnapshotHdr). */
struct sq_state_header {
	uint64_t magic;
	char *version;          /* semver text as stored, malloc'ed */
	uint64_t major, minor, patch;
};

/**
 * sq_state_create() - a default state with @n_vcpus vCPUs.
 *
 * Everything zero or empty, as MicrovmState::default(); each vCPU as
 * VcpuState::new(0): registers zero, no sys_regs, psci Off. The caller
 * sets mpidr and the rest. *@out is owned by the caller (sq_state_destroy).
 * Returns 0 or SQ_E_NOMEM.
 */
SQ_API int sq_state_create(size_t n_vcpus, struct sq_microvm_state **out);

/** sq_state_destroy() - release a state and everything it owns; NULL is ignored. */
SQ_API void sq_state_destroy(struct sq_microvm_state *s);

/** sq_state_copy() - deep copy of @src into a new object. 0 or SQ_E_NOMEM. */
SQ_API int sq_state_copy(const struct sq_microvm_state *src, struct sq_microvm_state **out);

/**
 * sq_state_equal() - true when @a and @b hold the same values, field for
 * field (strings and blobs compared by content, NULL == empty).
 */
SQ_API bool sq_state_equal(const struct sq_microvm_state *a, const struct sq_microvm_state *b);

/** sq_str_set() - replace @dst with a copy of @len bytes at @src. 0 or SQ_E_NOMEM. */
SQ_API int sq_str_set(struct sq_str *dst, const char *src, size_t len);

/** sq_str_clear() - release @s and make it empty. */
SQ_API void sq_str_clear(struct sq_str *s);

/**
 * sq_vcpu_sysreg_set() - insert or replace @key in @v's map, keeping keys
 * ascending. 0 or SQ_E_NOMEM.
 */
SQ_API int sq_vcpu_sysreg_set(struct sq_vcpu_state *v, uint64_t key, uint64_t value);

/** sq_vcpu_sysreg_get() - 0 and *@value, or SQ_E_NOT_FOUND. Binary search. */
SQ_API int sq_vcpu_sysreg_get(const struct sq_vcpu_state *v, uint64_t key, uint64_t *value);

/**
 * sq_state_add_device() - append a device (copies @kind, @id and @blob).
 * Does not sort: call sq_state_sort_devices() for the original's
 * DeviceStates::from_devices order. 0 or SQ_E_NOMEM.
 */
SQ_API int sq_state_add_device(struct sq_microvm_state *s, const char *kind, const char *id,
			       uint32_t mmio_slot, const void *blob, size_t blob_len);

/**
 * sq_state_sort_devices() - stable sort by (mmio_slot, id), ids compared
 * bytewise, as DeviceStates::from_devices. Never fails.
 */
SQ_API void sq_state_sort_devices(struct sq_microvm_state *s);

/** sq_state_set_gic() - copy @len bytes as the GIC blob and set gic_state.len. */
SQ_API int sq_state_set_gic(struct sq_microvm_state *s, const void *bytes, size_t len);

/**
 * sq_state_set_mmds() - make mmds_state Some(@json, ttl) (@has_ttl false =
 * ttl None); @json NULL clears it to None. 0 or SQ_E_NOMEM.
 */
SQ_API int sq_state_set_mmds(struct sq_microvm_state *s, const char *json, bool has_ttl,
			     uint32_t ttl_seconds);

/* --------------------------------------------------------- sys_regs keys */

/* SysReg::as_encoded: keys 1..47; 0 and anything above 47 are "unknown". */
#define SQ_SYSREG_COUNT 47u

/**
 * sq_sysreg_name() - register name of an encoded key ("SCTLR_EL1" for 1 ...
 * "OSDLR_EL1" for 47), or NULL for an unknown key. Static storage.
 */
SQ_API const char *sq_sysreg_name(uint64_t key);

/** sq_sysreg_key() - encoded key of a register name, 0 when unknown. */
SQ_API uint64_t sq_sysreg_key(const char *name);

/* ------------------------------------------------------------ validation */

/**
 * sq_state_verify_compatible() - the original's verify_compatible, in its
 * order: vCPU count 0 or > 32; smt true; empty GIC blob; gic_state.len !=
 * byte count. Returns 0 or SQ_E_INCOMPATIBLE ("snapshot is from a
 * different VMM (sysreg or GIC blob shape mismatch)").
 */
SQ_API int sq_state_verify_compatible(const struct sq_microvm_state *s);

/* ----------------------------------------------------------------- codec */

/**
 * sq_state_encode() - the complete state file for @s: header (magic
 * 0x07101984AAAA0000, version "5.0.0"), body, CRC trailer.
 * @out: receives a buffer owned by the caller (sq_free()), @len its size.
 *
 * Does not run verify_compatible (sq_state_save does). Returns 0;
 * SQ_E_INVAL when @s breaks a model rule the format cannot express
 * (invalid UTF-8, psci value > 2, sys_regs keys not strictly ascending);
 * SQ_E_SIZE_LIMIT when the file would exceed SQ_STATE_SIZE_LIMIT;
 * SQ_E_NOMEM.
 */
SQ_API int sq_state_encode(const struct sq_microvm_state *s, uint8_t **out, size_t *len);

/**
 * sq_state_encode_body() - the bitcode body only (no CRC), with any header:
 * @magic and @version (semver text, stored as given; NULL = "5.0.0").
 * *@out is owned by the caller (sq_free()). Same errors as sq_state_encode,
 * except that there is no size limit.
 */
SQ_API int sq_state_encode_body(const struct sq_microvm_state *s, uint64_t magic,
				const char *version, uint8_t **out, size_t *len);

/**
 * sq_state_decode() - decode a complete state file held in memory, in the
 * original's load_from_slice order:
 *   @len > SQ_STATE_SIZE_LIMIT     SQ_E_SIZE_LIMIT
 *   @len < 8                       SQ_E_TOO_SHORT
 *   CRC over the whole buffer != 0 SQ_E_CRC_MISMATCH
 *   bitcode decode of the body     SQ_E_BITCODE ("snapshot encoding error: <reason>")
 *   magic != 0x07101984AAAA0000    SQ_E_MAGIC_MISMATCH
 *   major != 5 or minor > 0        SQ_E_VERSION_MISMATCH
 * verify_compatible is not run (sq_state_load does).
 * @out: receives the state (sq_state_destroy) only on success; on failure
 *       *@out is NULL and nothing is left allocated.
 * @hdr: NULL, or receives the header on success (sq_state_header_release).
 *
 * The decoder is bounded: it reads nothing outside [buf, buf+len) and
 * allocates at most a fixed multiple of @len (docs/FORMAT.md).
 */
SQ_API int sq_state_decode(const uint8_t *buf, size_t len, struct sq_microvm_state **out,
			   struct sq_state_header *hdr);

/**
 * sq_state_decode_unchecked() - load_without_crc_check: a body without its
 * trailer; size limit, bitcode, magic and version checks as above.
 */
SQ_API int sq_state_decode_unchecked(const uint8_t *body, size_t len,
				     struct sq_microvm_state **out, struct sq_state_header *hdr);

/**
 * sq_state_decode_body() - bitcode decode only: any magic and any valid
 * semver are returned in @hdr (not NULL here) without judgement.
 * Returns 0 or SQ_E_BITCODE / SQ_E_NOMEM.
 */
SQ_API int sq_state_decode_body(const uint8_t *body, size_t len, struct sq_microvm_state **out,
				struct sq_state_header *hdr);

/** sq_state_header_release() - free the header's version text; NULL ignored. */
SQ_API void sq_state_header_release(struct sq_state_header *hdr);

/* ----------------------------------------------------------------- files */

/**
 * sq_state_save() - validate and write a state file atomically.
 *
 * Runs sq_state_verify_compatible() before touching the filesystem, encodes,
 * then writes "<path>.tmp" and renames it over @path (squib/atomic_file.h):
 * on any failure @path is untouched and no temp file is left. Returns 0,
 * SQ_E_INCOMPATIBLE, the encoder's errors, or the atomic writer's (SQ_E_IO,
 * SQ_E_NO_SPACE, SQ_E_ATOMIC_COMMIT_FAILED, ...). Calling thread only.
 */
SQ_API int sq_state_save(const char *path, const struct sq_microvm_state *s);

/**
 * sq_state_load() - read and validate a state file: at most
 * SQ_STATE_SIZE_LIMIT + 1 bytes are read, then sq_state_decode(), then
 * sq_state_verify_compatible().
 * @hdr: NULL, or receives the header (its version is the file's
 *       "source_version").
 * Returns 0, SQ_E_IO (open/read, "snapshot I/O error: ..."),
 * SQ_E_NOT_REGULAR (a FIFO, socket, device or directory: refused without
 * blocking), or any error of sq_state_decode() and SQ_E_INCOMPATIBLE.
 * *@out is set only on success.
 */
SQ_API int sq_state_load(const char *path, struct sq_microvm_state **out,
			 struct sq_state_header *hdr);

struct sq_state_device_summary {
	struct sq_str kind;
	struct sq_str id;
	uint32_t mmio_slot;
};

/* SnapshotDescription */
struct sq_state_description {
	char *state_path;
	uint64_t magic;
	char *version;                /* the file's semver text */
	const char *expected_version; /* always SQ_SNAPSHOT_VERSION */
	size_t vcpu_count;
	uint64_t mem_size_mib;
	bool track_dirty_pages;
	struct sq_state_device_summary *devices;
	size_t n_devices;
	bool mmds_present;
	char *inferred_memory_path;   /* NULL: the state file's extension is not "snap" */
	bool inferred_memory_exists;
	bool has_inferred_memory_size;
	uint64_t inferred_memory_size;
	bool crc_ok;
};

/**
 * sq_state_describe() - describe a state file, as the original's describe():
 * the file is decoded with the full load order; on SQ_E_CRC_MISMATCH only,
 * the body is decoded without the CRC check and crc_ok is false. Does not
 * run verify_compatible. The memory file "<stem>.mem" is inferred when the
 * extension is exactly "snap", and stat'ed.
 * @out: receives a description owned by the caller
 *       (sq_state_description_destroy).
 * Returns 0, SQ_E_IO, SQ_E_NOT_REGULAR, or the decode errors other than
 * SQ_E_CRC_MISMATCH.
 */
SQ_API int sq_state_describe(const char *path, struct sq_state_description **out);

/** sq_state_description_destroy() - NULL is ignored. */
SQ_API void sq_state_description_destroy(struct sq_state_description *d);

/**
 * sq_state_description_format() - the description as text in *@out, owned
 * by the caller (sq_free()).
 * @json: 0 = the original's human() lines; 1 = its to_json() object
 *        (keys in the original's order, one line, newline-terminated).
 * Returns 0 or SQ_E_NOMEM.
 */
SQ_API int sq_state_description_format(const struct sq_state_description *d, int json,
				       char **out);

/* ------------------------------------------------------------------ demo */

/**
 * sq_state_demo() - the demo state of the original's produce_demo_pair
 * example: 2 vCPUs (MPIDR 0 and 0x100, psci On / OnPending, 15 and 7
 * sys_regs), virtio-block "rootfs" in slot 0 and virtio-net "eth0" in slot 1,
 * a 128-byte GIC blob, MMDS with TTL 3600. Its encoding is the golden
 * vector "demo" byte for byte. 0 or SQ_E_NOMEM.
 */
SQ_API int sq_state_demo(struct sq_microvm_state **out);

/**
 * sq_x_state_demo_vcpus() - a realistic state with @n_vcpus vCPUs (MPIDR
 * Aff0/Aff1 numbering, 37 sys_regs each, vCPU 0 On, the others Off), the
 * demo's devices, GIC blob and MMDS. Deterministic. 0, SQ_E_INVAL for 0
 * vCPUs, or SQ_E_NOMEM.
 */
SQ_API int sq_x_state_demo_vcpus(size_t n_vcpus, struct sq_microvm_state **out);

/* Names published before the naming rule (docs/ARCHITECTURE.md, "ABI"); same behaviour. */
SQ_API int sq_state_demo_vcpus(size_t n_vcpus, struct sq_microvm_state **out)
	SQ_DEPRECATED("use sq_x_state_demo_vcpus");
SQ_API void sq_state_description_free(struct sq_state_description *d)
	SQ_DEPRECATED("use sq_state_description_destroy");
SQ_API void sq_str_free(struct sq_str *s)
	SQ_DEPRECATED("use sq_str_clear");
SQ_API void sq_state_free(struct sq_microvm_state *s)
	SQ_DEPRECATED("use sq_state_destroy");

SQ_END_DECLS

#endif /* SQUIB_STATE_H */
