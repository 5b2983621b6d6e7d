/* SPDX-License-Identifier: Apache-2.0 */
/* tools/cli_link.c - see cli_link.h. */
#include <stdio.h>
#include <string.h>

#include "cli_link.h"

int sq_cli_link_opt(struct sq_cli_link *l, int c, const char *arg)
{
	switch (c) {
	case 1000:
		l->cert = arg;
		return 1;
	case 1001:
		l->key = arg;
		return 1;
	case 1002:
		l->ca = arg;
		return 1;
	case 1003:
		l->psk = arg;
		return 1;
	case 1004:
		l->plaintext = 1;
		return 1;
	case 1005:
		l->no_ktls = 1;
		return 1;
	default:
		return 0;
	}
}

void sq_cli_link_warn_plaintext(const struct sq_cli *cli, const char *cmd)
{
	fprintf(stderr, "%s %s: warning: --plaintext: the migration is neither authenticated nor "
			"encrypted; anyone who can reach the port can read or write the memory "
			"it carries\n", cli->prog, cmd);
}

int sq_cli_link_build(const struct sq_cli *cli, const char *cmd, const struct sq_cli_link *l,
		      struct sq_migrate_link_opts *out)
{
	int certs = l->cert || l->key || l->ca;

	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	if (certs + !!l->psk + l->plaintext != 1)
		return sq_cli_usage_error(cli, cmd, "choose one of --tls-cert/--tls-key/--tls-ca, "
						    "--psk-file and --plaintext");
	if (certs && !(l->cert && l->key && l->ca))
		return sq_cli_usage_error(cli, cmd, "certificates need --tls-cert, --tls-key and "
						    "--tls-ca");
	if (l->plaintext && l->no_ktls)
		return sq_cli_usage_error(cli, cmd, "--no-ktls needs TLS, not --plaintext");
	if (certs) {
		out->tls = SQ_MIGRATE_TLS_CERT;
		out->cert_file = l->cert;
		out->key_file = l->key;
		out->ca_file = l->ca;
	} else if (l->psk) {
		out->tls = SQ_MIGRATE_TLS_PSK;
		out->psk_file = l->psk;
	} else {
		sq_cli_link_warn_plaintext(cli, cmd);
	}
	out->no_ktls = l->no_ktls != 0;
	return 0;
}
