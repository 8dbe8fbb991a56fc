/* vCPU register, CPUID and LAPIC set-up for the boot protocols (cpu.c). */
#ifndef CAPVM_X86_CPU_H
#define CAPVM_X86_CPU_H

#include <stdint.h>

#include "arch/x86/boot.h"

struct kvm_cpuid2;

/* Identity page tables and GDT in guest RAM for the entry mode. */
void cpu_write_boot_tables(uint8_t *ram, enum boot_mode mode);
/* CPUID for vCPU `index` of `nr`, from KVM's supported list (modified in place copy). */
int cpu_setup_cpuid(int vcpu_fd, const struct kvm_cpuid2 *supported, int index, int nr);
/* LAPIC LINT0 = ExtINT, LINT1 = NMI, as firmware would leave them. */
int cpu_setup_lapic(int vcpu_fd);
/* Registers of the boot vCPU. */
int cpu_setup_boot_regs(int vcpu_fd, const struct boot_entry *entry);
/* Print the registers of a vCPU to the log (for crashes). */
void cpu_dump_regs(int vcpu_fd, int index);

#endif
