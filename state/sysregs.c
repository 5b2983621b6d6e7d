/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/sysregs.c - the sys_regs key table (squib-arch SysReg::as_encoded).
 *
 * Invariant: names[k - 1] is the register of encoded key k, k = 1..47, in
 * the canonical order capture walks. Key 0 is reserved ("unknown"), as is
 * every key above 47. The table is additive only (decision D6).
 */
#include <string.h>

#include <squib/state.h>

static const char *const names[SQ_SYSREG_COUNT] = {
	/* 1-10 */
	"SCTLR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1", "AMAIR_EL1", "TCR_EL1", "SP_EL1",
	"ELR_EL1", "SPSR_EL1", "VBAR_EL1",
	/* 11-18 */
	"ID_AA64MMFR0_EL1", "ID_AA64MMFR1_EL1", "ID_AA64PFR0_EL1", "ID_AA64PFR1_EL1",
	"ID_AA64DFR0_EL1", "ID_AA64ISAR0_EL1", "ID_AA64ISAR1_EL1", "MPIDR_EL1",
	/* 19-25 */
	"CNTV_CTL_EL0", "CNTV_CVAL_EL0", "CNTVOFF_EL2", "CNTFRQ_EL0", "CNTKCTL_EL1",
	"CNTP_CTL_EL0", "CNTP_CVAL_EL0",
	/* 26-32 */
	"PMCCNTR_EL0", "PMCCFILTR_EL0", "PMUSERENR_EL0", "PMCR_EL0", "PMCNTENSET_EL0",
	"PMOVSSET_EL0", "PMSELR_EL0",
	/* 33-36 */
	"ESR_EL1", "FAR_EL1", "AFSR0_EL1", "AFSR1_EL1",
	/* 37-41 */
	"CONTEXTIDR_EL1", "TPIDR_EL0", "TPIDRRO_EL0", "TPIDR_EL1", "PAR_EL1",
	/* 42-44 */
	"FPCR", "FPSR", "CPACR_EL1",
	/* 45-47 */
	"MDSCR_EL1", "OSLAR_EL1", "OSDLR_EL1",
};

const char *sq_sysreg_name(uint64_t key)
{
	if (key == 0 || key > SQ_SYSREG_COUNT)
		return NULL;
	return names[key - 1];
}

uint64_t sq_sysreg_key(const char *name)
{
	if (!name)
		return 0;
	for (unsigned k = 0; k < SQ_SYSREG_COUNT; k++)
		if (strcmp(names[k], name) == 0)
			return k + 1;
	return 0;
}
