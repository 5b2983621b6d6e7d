/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/link.c - the public entry points of a secured link: the
 * plaintext sq_migrate_send, the receiver's TLS setup and what a session
 * used.
 */
#include <stdio.h>
#include <string.h>

#include <squib/migrate.h>

#include "core/err.h"
#include "core/sized.h"
#include "migrate/recv_internal.h"
#include "migrate/tls.h"

int sq_migrate_send(const struct sq_migrate_send_opts *o, struct sq_migrate_report *rep)
{
	return sq_migrate_send_link(o, NULL, rep, NULL);
}

int sq_migrate_recv_set_link(struct sq_migrate_recv *r, const struct sq_migrate_link_opts *link)
{
	struct sq_mig_tls_ctx *ctx = NULL;
	struct sq_migrate_link_opts o = SQ_INIT(struct sq_migrate_link_opts);

	if (!r || !link)
		return sq_err(SQ_E_INVAL, "migration: no receiver or link options");
	int rc = SQ_SIZED_IN(o, link, SQ_V0_MIGRATE_LINK_OPTS, "sq_migrate_link_opts");
	if (rc)
		return rc;
	if (r->have_session || r->nconns)
		return sq_err(SQ_E_INVAL, "migration: the link is set before the session starts");
	rc = sq_mig_tls_ctx_new(&o, 1, &ctx);
	if (rc)
		return rc;
	sq_mig_tls_ctx_free(r->tls_ctx);
	r->tls_ctx = ctx;
	return 0;
}

void sq_mig_rx_drop_tls(struct sq_migrate_recv *r)
{
	for (unsigned i = 0; i < r->nconns; i++) {
		sq_mig_tls_free(r->conns[i].tls);
		r->conns[i].tls = NULL;
	}
}

void sq_migrate_recv_link_report(const struct sq_migrate_recv *r,
				 struct sq_migrate_link_report *out)
{
	struct sq_migrate_link_report lr = SQ_INIT(struct sq_migrate_link_report);

	if (sq_sized_check(out, SQ_V0_MIGRATE_LINK_REPORT, "sq_migrate_link_report"))
		return;
	snprintf(lr.tls, sizeof(lr.tls), "%s", r->tls_kind[0] ? r->tls_kind : "off");
	SQ_SIZED_OUT(out, lr);
}
