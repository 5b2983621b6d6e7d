/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenarios of the original crate's items:
 *  - Crc64Writer (squib/compat.h): a state file written as body + trailer
 *    through the writer. It writes to the caller's descriptor (no temp file
 *    of its own): a completed run must have written exactly the state
 *    file, a failed one must say why with the original's Io text.
 *  - the manifest of a foreign pair (squib/foreign.h), replacing an older
 *    one: a completed run leaves a manifest the memory file verifies
 *    against and that names the state file; a failed one leaves the older
 *    manifest byte for byte and no temp file.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <squib/compat.h>
#include <squib/error.h>
#include <squib/foreign.h>
#include <squib/restore.h>
#include <squib/state.h>

#include "fault.h"
#include "helpers.h"

struct crcw_priv {
	char *path;
	uint8_t *want;
	size_t len;
};

static const char *crcw_setup(struct sq_fx *fx)
{
	struct crcw_priv *p = calloc(1, sizeof(*p));
	struct sq_microvm_state *vm = NULL;

	if (!p)
		return "out of memory";
	fx->priv = p;
	p->path = sq_fx_path(fx, "vm.snap");
	if (!p->path || sq_state_demo(&vm) || sq_state_encode(vm, &p->want, &p->len))
		return "cannot build the state file";
	sq_state_destroy(vm);
	return NULL;
}

static int crcw_run(struct sq_fx *fx)
{
	struct crcw_priv *p = fx->priv;
	struct sq_crc64_writer w;
	int fd = open(p->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return SQ_E_IO;
	sq_crc64_writer_init(&w, fd);
	rc = sq_crc64_writer_write(&w, p->want, 64);
	if (!rc)
		rc = sq_crc64_writer_write(&w, p->want + 64, p->len - 8 - 64);
	if (!rc)
		rc = sq_crc64_writer_trailer(&w);
	close(fd);
	return rc;
}

static const char *crcw_check(struct sq_fx *fx, int rc)
{
	struct crcw_priv *p = fx->priv;

	if (rc == 0)
		return sq_fx_file_equals(p->path, p->want, p->len)
			       ? NULL
			       : "succeeded but the file is not the state file";
	if (rc != SQ_E_IO && rc != SQ_E_NO_SPACE)
		return sq_fx_msg("failed with %s, not SQ_E_IO / SQ_E_NO_SPACE", sq_error_name(rc));
	if (sq_last_error_code() != rc || strncmp(sq_last_error(), "snapshot I/O error: ", 20))
		return sq_fx_msg("last error does not describe the failure: %s", sq_last_error());
	return NULL;
}

static void crcw_teardown(struct sq_fx *fx)
{
	struct crcw_priv *p = fx->priv;

	if (!p)
		return;
	free(p->path);
	free(p->want);
	free(p);
}

SQ_SCENARIO(.name = "compat/crc64_writer", .setup = crcw_setup, .run = crcw_run,
	    .check = crcw_check, .teardown = crcw_teardown)

struct mfb_priv {
	char *snap, *mem, *manifest;
	unsigned char *old;
	size_t old_len;
	struct sq_snapshot_id new_id;
};

static const char *mfb_setup(struct sq_fx *fx)
{
	struct mfb_priv *p = calloc(1, sizeof(*p));
	struct sq_microvm_state *vm = NULL;
	uint8_t *st = NULL, *ram = malloc(64 * 4096);
	size_t len = 0;
	const char *bad = NULL;

	if (!p || !ram) {
		free(ram);
		free(p);
		return "out of memory";
	}
	fx->priv = p;
	p->snap = sq_fx_path(fx, "vm.snap");
	p->mem = sq_fx_path(fx, "vm.mem");
	p->manifest = sq_fx_path(fx, "vm.manifest");
	sq_fx_fill(ram, 64 * 4096, 1);
	memset(ram + 8 * 4096, 0, 8 * 4096);
	if (!p->snap || !p->mem || !p->manifest || sq_state_demo(&vm) ||
	    sq_state_encode(vm, &st, &len) || sq_test_write_file(p->snap, st, len) ||
	    sq_test_write_file(p->mem, ram, 64 * 4096))
		bad = "cannot write the foreign pair";
	else if (sq_manifest_build_save(p->mem, SQ_SNAPSHOT_FULL, NULL, NULL, 0, NULL) ||
		 sq_test_read_file(p->manifest, &p->old, &p->old_len))
		bad = sq_fx_msg("cannot build the older manifest: %s", sq_last_error());
	sq_state_destroy(vm);
	free(st);
	free(ram);
	return bad;
}

static int mfb_run(struct sq_fx *fx)
{
	struct mfb_priv *p = fx->priv;

	return sq_manifest_build_save(p->mem, SQ_SNAPSHOT_FULL, p->snap, NULL, 1, &p->new_id);
}

static const char *mfb_check(struct sq_fx *fx, int rc)
{
	struct mfb_priv *p = fx->priv;
	int code = sq_last_error_code();
	char msg[512];
	const char *verdict = NULL;

	snprintf(msg, sizeof(msg), "%s", sq_last_error());
	/* "new": a complete manifest naming the state file, that the memory
	 * file verifies against (its id is only known after a success). */
	struct sq_manifest *m = NULL;
	int is_new = sq_manifest_load(p->manifest, &m) == 0 && m->state_size != 0 &&
		     (rc || !memcmp(&m->id, &p->new_id, sizeof(m->id))) &&
		     sq_memfile_verify(p->mem, m, 1, NULL) == 0;
	int is_old = sq_fx_file_equals(p->manifest, p->old, p->old_len);
	sq_manifest_destroy(m);
	if (rc == 0 && !is_new)
		verdict = "succeeded but the manifest is not the new one or does not verify";
	else if (rc < 0 && (rc == SQ_E_INTERNAL || code != rc))
		verdict = sq_fx_msg("failed without a specific error: %s (%s)", sq_error_name(rc),
				    msg);
	else if (rc < 0 && !is_old && !is_new)
		verdict = sq_fx_msg("failed (%s) and the manifest is neither the older one nor "
				    "the new one", msg);
	/* Only the directory fsync runs after the rename (atomic writer). */
	else if (rc < 0 && is_new && rc != SQ_E_IO && rc != SQ_E_NO_SPACE)
		verdict = sq_fx_msg("failed with %s after replacing the manifest",
				    sq_error_name(rc));
	if (!verdict)
		verdict = sq_fx_leftover_temp(fx->dir);
	return verdict;
}

static void mfb_teardown(struct sq_fx *fx)
{
	struct mfb_priv *p = fx->priv;

	if (!p)
		return;
	free(p->snap);
	free(p->mem);
	free(p->manifest);
	free(p->old);
	free(p);
}

SQ_SCENARIO(.name = "compat/manifest_build", .setup = mfb_setup, .run = mfb_run,
	    .check = mfb_check, .teardown = mfb_teardown)
