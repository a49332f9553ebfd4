//! Multiboot1 entry: the 32-bit stub that GRUB or QEMU `-kernel` jumps to, which builds the
//! boot page tables, enters long mode and continues in the higher half at [`kmain`].
//!
//! Boot address space (2 MiB pages, all built here before paging is on):
//! - `0 .. 4 GiB` identity-mapped, only until `kmain` removes it (user space lives there);
//! - the direct physical map `PHYS_MAP_BASE .. + 4 GiB` (PML4 slot 256);
//! - the kernel image at `KERNEL_VMA + physical` (PML4 slot 511, PDPT slots 510–511).
//!
//! [`kmain`]: crate::kmain

use core::arch::global_asm;

global_asm!(
    r#"
/* Multiboot1 header: page-aligned modules (1) and memory information (2). No a.out kludge:
   the loader uses the ELF program headers and zero-fills .bss. */
.section .multiboot, "a"
.align 4
.long 0x1BADB002
.long 0x00000003
.long -(0x1BADB002 + 0x00000003)

.section .boot.text, "ax"
.code32
.global _start32
_start32:
    mov esi, eax
    rdtsc                               /* first instruction count, for the boot benchmark */
    mov [boot_tsc], eax
    mov [boot_tsc + 4], edx
    mov eax, esi
    cli
    cld
    mov esp, offset boot_stack_top
    mov [boot_multiboot_magic], eax
    mov [boot_multiboot_info], ebx

    /* Long mode present? (CPUID 0x80000001 EDX bit 29) */
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, 0x20000000
    jz no_long_mode

    /* Four page directories of 2 MiB pages covering physical 0 .. 4 GiB. */
    mov edi, offset boot_pd
    mov eax, 0x83                       /* present | writable | 2 MiB page */
    mov ecx, 2048
1:  mov [edi], eax
    mov dword ptr [edi + 4], 0
    add eax, 0x200000
    add edi, 8
    loop 1b

    /* PDPT for the identity map and the direct map: slots 0..3 -> the four PDs. */
    mov edi, offset boot_pdpt_phys
    mov eax, offset boot_pd
    or eax, 3
    mov ecx, 4
2:  mov [edi], eax
    add eax, 4096
    add edi, 8
    loop 2b

    /* PDPT for the kernel image: slots 510, 511 -> first 2 GiB of physical memory. */
    mov edi, offset boot_pdpt_kernel
    mov eax, offset boot_pd
    or eax, 3
    mov [edi + 510 * 8], eax
    add eax, 4096
    mov [edi + 511 * 8], eax

    mov edi, offset boot_pml4
    mov eax, offset boot_pdpt_phys
    or eax, 3
    mov [edi], eax                      /* identity map, removed by kmain */
    mov [edi + 256 * 8], eax            /* direct physical map */
    mov eax, offset boot_pdpt_kernel
    or eax, 3
    mov [edi + 511 * 8], eax

    mov eax, offset boot_pml4
    mov cr3, eax
    mov eax, cr4
    or eax, 0x6A0                       /* PAE | PGE | OSFXSR | OSXMMEXCPT (core uses SSE) */
    mov cr4, eax
    mov ecx, 0xC0000080                 /* EFER: long mode enable, no-execute enable */
    rdmsr
    or eax, 0x900
    wrmsr
    mov eax, cr0
    and eax, 0xFFFFFFFB                 /* clear EM: SSE instructions execute */
    or eax, 0x80010002                  /* PG | WP | MP */
    mov cr0, eax
    lgdt [boot_gdt_pointer]
    ljmp 0x08, offset boot_start64

no_long_mode:
    mov esi, offset boot_no_long_mode_message
    jmp boot_fail32

/* Not loaded by a multiboot loader, or no long mode: say so on COM1 and stop. */
boot_fail32:
    mov dx, 0x3F8
3:  lodsb
    test al, al
    jz 4f
    out dx, al
    jmp 3b
4:  hlt
    jmp 4b

.code64
boot_start64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    movabs rax, offset boot_start64_high
    jmp rax

.section .boot.data, "aw"
.align 8
boot_gdt:
    .quad 0
    .quad 0x00209A0000000000            /* 64-bit kernel code */
    .quad 0x0000920000000000            /* kernel data */
boot_gdt_pointer:
    .word 23
    .long boot_gdt
.global boot_multiboot_magic
boot_multiboot_magic: .long 0
.global boot_multiboot_info
boot_multiboot_info: .long 0
.align 8
.global boot_tsc
boot_tsc: .quad 0
boot_no_long_mode_message:
    .asciz "tileos: this CPU has no 64-bit long mode; cannot boot\r\n"

.section .boot.bss, "aw", @nobits
.align 4096
.global boot_pml4
boot_pml4: .skip 4096
boot_pdpt_phys: .skip 4096
boot_pdpt_kernel: .skip 4096
boot_pd: .skip 4 * 4096
boot_stack: .skip 4096
boot_stack_top:

.section .text.boot64, "ax"
.code64
boot_start64_high:
    movabs rsp, offset kernel_boot_stack_top
    xor ebp, ebp
    mov edi, dword ptr [boot_multiboot_magic]
    mov esi, dword ptr [boot_multiboot_info]
    call kmain
5:  hlt
    jmp 5b

.section .bss
.align 16
kernel_boot_stack: .skip 65536
.global kernel_boot_stack_top
kernel_boot_stack_top:
"#
);

unsafe extern "C" {
    static kernel_boot_stack_top: u8;
}

/// The top of the boot CPU's kernel stack (its boot stack, which it keeps).
pub fn kernel_stack_top() -> u64 {
    // A linker symbol: only its address is taken.
    core::ptr::addr_of!(kernel_boot_stack_top) as u64
}
