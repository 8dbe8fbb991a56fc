/*
 * vCPU set-up (see cpu.h).
 *
 * 64-bit boot: the kernel is entered in long mode, so we provide what a
 * boot loader would: a GDT with flat code (0x10) and data (0x18) segments
 * and identity page tables for the first 4 GiB (2 MiB pages).  PVH: flat
 * 32-bit protected mode, paging off.
 *
 * CPUID comes from KVM's supported list with each vCPU's APIC ID put where
 * the guest reads it (leaf 1 EBX[31:24], leaves 0xB/0x1F EDX, AMD 0x8000001E)
 * and the topology of leaf 0xB saying "nr CPUs, one thread each".
 */
#include "arch/x86/cpu.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"
#include "common/log.h"

#define GDT_CODE64 0x00af9b000000ffffULL
#define GDT_CODE32 0x00cf9b000000ffffULL
#define GDT_DATA   0x00cf93000000ffffULL
#define SEL_CODE   0x10
#define SEL_DATA   0x18

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define PTE_P  0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

void cpu_write_boot_tables(uint8_t *ram, enum boot_mode mode)
{
	uint64_t gdt[4] = { 0, 0, mode == BOOT_64BIT ? GDT_CODE64 : GDT_CODE32, GDT_DATA };

	memcpy(ram + BOOT_GDT_GPA, gdt, sizeof(gdt));
	if (mode != BOOT_64BIT)
		return;

	uint64_t *pml4 = (uint64_t *)(ram + BOOT_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(ram + BOOT_PDPT_GPA);
	uint64_t *pd = (uint64_t *)(ram + BOOT_PD_GPA);

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_GPA | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_GPA + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
}

static void set_apic_id(struct kvm_cpuid_entry2 *e, int index, int nr)
{
	unsigned shift = 0;

	while ((1 << shift) < nr)
		shift++;
	switch (e->function) {
	case 1:
		e->ebx = (e->ebx & 0x0000ffffu) | ((uint32_t)index << 24) | ((uint32_t)nr << 16);
		e->ecx |= 1u << 31;  /* running under a hypervisor */
		if (nr > 1)
			e->edx |= 1u << 28;  /* HTT: the count above is valid */
		break;
	case 0xb:
	case 0x1f:
		/* level 0: SMT, 1 thread per core; level 1: cores = nr */
		if (e->index == 0) {
			e->eax = 0;
			e->ebx = 1;
			e->ecx = 0x100;
		} else if (e->index == 1) {
			e->eax = shift;
			e->ebx = (uint32_t)nr;
			e->ecx = 0x201;
		} else {
			e->eax = e->ebx = 0;
			e->ecx = e->index;
		}
		e->edx = (uint32_t)index;
		break;
	case 0x8000001e:
		e->eax = (uint32_t)index;
		e->ebx = (uint32_t)index;  /* compute unit = core */
		e->ecx = 0;
		break;
	}
}

int cpu_setup_cpuid(int vcpu_fd, const struct kvm_cpuid2 *supported, int index, int nr)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	int r;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	for (unsigned i = 0; i < c->nent; i++)
		set_apic_id(&c->entries[i], index, nr);
	r = ioctl(vcpu_fd, KVM_SET_CPUID2, c);
	free(c);
	return r < 0 ? -errno : 0;
}

int cpu_setup_lapic(int vcpu_fd)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	/* LVT LINT0 (0x350): ExtINT; LVT LINT1 (0x360): NMI */
	memcpy(&v, lapic.regs + 0x350, 4);
	v = (v & ~0x700u) | 0x700u;
	memcpy(lapic.regs + 0x350, &v, 4);
	memcpy(&v, lapic.regs + 0x360, 4);
	v = (v & ~0x700u) | 0x400u;
	memcpy(lapic.regs + 0x360, &v, 4);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, bool code, bool longmode)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = code ? 0xb : 0x3;
	s->present = 1;
	s->dpl = 0;
	s->db = longmode && code ? 0 : 1;
	s->s = 1;
	s->l = longmode && code ? 1 : 0;
	s->g = 1;
}

int cpu_setup_boot_regs(int vcpu_fd, const struct boot_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	bool lm = entry->mode == BOOT_64BIT;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	flat_segment(&sregs.cs, SEL_CODE, true, lm);
	flat_segment(&sregs.ds, SEL_DATA, false, lm);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = BOOT_GDT_GPA;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (lm) {
		sregs.cr3 = BOOT_PML4_GPA;
		sregs.cr4 = CR4_PAE;
		sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		sregs.efer = EFER_LME | EFER_LMA;
	} else {
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.efer = 0;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = entry->rip;
	regs.rsi = entry->rsi;
	regs.rbx = entry->rbx;
	regs.rsp = regs.rbp = BOOT_STACK_GPA;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

void cpu_dump_regs(int vcpu_fd, int index)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0) {
		log_error("cpu", "vCPU %d: cannot read registers", index);
		return;
	}
	log_error("cpu", "vCPU %d: rip=%016llx rsp=%016llx rflags=%08llx", index,
		  r.rip, r.rsp, r.rflags);
	log_error("cpu", "vCPU %d: rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx", index,
		  r.rax, r.rbx, r.rcx, r.rdx);
	log_error("cpu", "vCPU %d: rsi=%016llx rdi=%016llx rbp=%016llx r8=%016llx", index,
		  r.rsi, r.rdi, r.rbp, r.r8);
	log_error("cpu", "vCPU %d: cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx",
		  index, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	log_error("cpu", "vCPU %d: cs=%04x(base %llx) ss=%04x idt=%llx/%x gdt=%llx/%x", index,
		  s.cs.selector, s.cs.base, s.ss.selector, s.idt.base, s.idt.limit, s.gdt.base,
		  s.gdt.limit);
	/*
	 * On AMD, KVM answers a shutdown intercept (triple fault) by INITing
	 * the vCPU (the VMCB is undefined after it), so what we read is the
	 * reset state, not the state at the fault.  Say so rather than let
	 * F000:FFF0 pass for where the guest died.
	 */
	if (r.rip == 0xfff0 && s.cs.selector == 0xf000 && !(s.cr0 & 1))
		log_error("cpu", "vCPU %d: (this is the vCPU's reset state: KVM re-initialises it "
			  "after a triple fault on AMD, so the state at the fault is lost; the host's "
			  "kvm:kvm_exit trace event shows the guest's rip at the SHUTDOWN exit)", index);
}
