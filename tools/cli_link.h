/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli_link.h - the link options shared by "migrate recv" and
 * "migrate send": TLS by certificates or a pre-shared key, or plaintext
 * only when asked for (with a warning).
 */
#ifndef SQ_TOOLS_CLI_LINK_H
#define SQ_TOOLS_CLI_LINK_H

#include <getopt.h>

#include <squib/migrate.h>

#include "cli.h"

struct sq_cli_link {
	const char *cert, *key, *ca, *psk;
	int plaintext, no_ktls;
};

/* getopt_long entries; the values 1000.. are the link's. */
#define SQ_CLI_LINK_OPTIONS                                                              \
	{ "tls-cert", required_argument, NULL, 1000 },                                   \
	{ "tls-key", required_argument, NULL, 1001 },                                    \
	{ "tls-ca", required_argument, NULL, 1002 },                                     \
	{ "psk-file", required_argument, NULL, 1003 },                                   \
	{ "plaintext", no_argument, NULL, 1004 }, { "no-ktls", no_argument, NULL, 1005 }

#define SQ_CLI_LINK_USAGE                                                                \
	"       link, the same kind on both ends, one of:\n"                                 \
	"         --tls-cert PEM --tls-key PEM --tls-ca PEM | --psk-file PATH | --plaintext\n" \
	"         [--no-ktls]; key files must be mode 0600 or stricter\n"

/* Take option @c (with @arg) when it is a link option: returns 1, else 0. */
int sq_cli_link_opt(struct sq_cli_link *l, int c, const char *arg);
/*
 * sq_cli_link_build() - check the choice (exactly one of certificates, a
 * PSK file, --plaintext) and fill @out; key files are only named here (the
 * library reads and checks them). Prints the plaintext warning on stderr
 * (even with -q: it is about security). Returns 0, or the exit code of a
 * usage error (reported).
 */
int sq_cli_link_build(const struct sq_cli *cli, const char *cmd, const struct sq_cli_link *l,
		      struct sq_migrate_link_opts *out);
/* sq_cli_link_warn_plaintext() - the warning --plaintext prints. */
void sq_cli_link_warn_plaintext(const struct sq_cli *cli, const char *cmd);

#endif /* SQ_TOOLS_CLI_LINK_H */
