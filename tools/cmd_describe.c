/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap describe FILE [--json]
 *
 * Describes a state file as the original's describe(): the header, the
 * vCPU count, memory size, devices, MMDS, the inferred memory file and
 * whether the CRC holds (a file with a wrong CRC is still described, with
 * crc_ok false / "NO"). Exit 0 when the file could be described, 1 with a
 * one-line error otherwise (malformed files name the specific failure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>
#include <squib/state.h>

#include "cli.h"

static int run_describe(const struct sq_cli *cli, int argc, char **argv)
{
	struct sq_state_description *d;
	const char *path = NULL;
	char *text;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] != 0)
			return sq_cli_usage_error(cli, "describe", "unknown option %s", argv[i]);
		if (path)
			return sq_cli_usage_error(cli, "describe", "one state file expected");
		path = argv[i];
	}
	if (!path)
		return sq_cli_usage_error(cli, "describe", "missing the state file");
	rc = sq_state_describe(path, &d);
	if (rc)
		return sq_cli_fail(cli, "describe", rc);
	rc = sq_state_description_format(d, cli->json, &text);
	sq_state_description_free(d);
	if (rc)
		return sq_cli_fail(cli, "describe", rc);
	fputs(text, stdout);
	free(text);
	return SQ_EXIT_OK;
}

SQ_CLI_COMMAND(.name = "describe", .summary = "describe a state file (header, vCPUs, devices, CRC)",
	       .usage = "squib-snap describe FILE [--json]\n"
			"\n"
			"Prints the state file's magic, version, vCPU count, memory size, devices,\n"
			"MMDS presence, the inferred memory file (FILE with .snap replaced by .mem)\n"
			"and whether its CRC-64 holds. A file whose CRC is wrong is still described\n"
			"(crc_ok: NO). Exit 0 on a describable file, 1 otherwise.\n",
	       .run = run_describe)
