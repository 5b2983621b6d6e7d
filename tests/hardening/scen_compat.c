/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault scenario of the original's Crc64Writer (squib/compat.h): a state
 * file written as body + trailer through the writer. It writes to the
 * caller's descriptor (no temp file of its own): a completed run must have
 * written exactly the state file, a failed one must say why with the
 * original's Io text.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <squib/compat.h>
#include <squib/error.h>
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
	sq_state_free(vm);
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
