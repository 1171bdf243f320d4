/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serial-counter.s - a 64 KiB x86 "firmware" (-bios) for the tests' tiny guests.
 *
 * Real mode, no BIOS. Forever: sum the 32-bit words of the blob the test
 * loads at BLOB_ADDR (BLOB_SIZE bytes, -device loader), write the iteration
 * counter into the first word of the blob's last page, read it back and put
 * the original word back (so that page is written again and again, after it
 * was merged too), then print one line on the serial port (COM1, 0x3f8):
 *
 *	CCCCCCCC SSSSSSSS ok        counter and checksum, in hex
 *	CCCCCCCC SSSSSSSS BAD       the word written was not read back
 *
 * The test checks that the counter keeps increasing and that the checksum
 * never changes, before and after the blob's pages were merged.
 */
	.equ	BLOB_SEG, 0x2000	/* blob at 0x20000 */
	.equ	BLOB_END_SEG, 0x6000	/* ... up to 0x60000: 256 KiB */
	.equ	SCRATCH_SEG, 0x5f00	/* its last page */
	.equ	COM1, 0x3f8

	.code16
	.text
	.globl _start
_start:
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ds
	mov	$0x9000, %ax
	mov	%ax, %ss
	mov	$0xfff0, %sp
	xor	%ebp, %ebp		/* the counter */

next:
	/* The checksum of the blob, in %edi. */
	xor	%edi, %edi
	mov	$BLOB_SEG, %bx
1:	mov	%bx, %es
	xor	%si, %si
2:	addl	%es:(%si), %edi
	add	$4, %si
	jnz	2b			/* %si wrapped: 64 KiB done */
	add	$0x1000, %bx
	cmp	$BLOB_END_SEG, %bx
	jne	1b

	/* Write the counter into the scratch page, check it, restore the page. */
	mov	$SCRATCH_SEG, %ax
	mov	%ax, %es
	movl	%es:0, %eax
	movl	%ebp, %es:0
	xor	%cx, %cx		/* 0: read back what was written */
	cmpl	%ebp, %es:0
	je	3f
	inc	%cx
3:	movl	%eax, %es:0

	/* Print "counter checksum ok|BAD\n". */
	mov	%ebp, %eax
	call	puthex
	mov	$32, %al
	call	putc
	mov	%edi, %eax
	call	puthex
	mov	$32, %al
	call	putc
	test	%cx, %cx
	jnz	4f
	mov	$111, %al
	call	putc
	mov	$107, %al
	call	putc
	jmp	5f
4:	mov	$66, %al
	call	putc
	mov	$65, %al
	call	putc
	mov	$68, %al
	call	putc
5:	mov	$10, %al
	call	putc
	inc	%ebp
	jmp	next

/* Print %eax as 8 hex digits. Clobbers %eax, %ebx. */
puthex:
	push	%cx
	mov	%eax, %ebx
	mov	$8, %cx
6:	rol	$4, %ebx
	mov	%bl, %al
	and	$0xf, %al
	add	$48, %al
	cmp	$57, %al
	jbe	7f
	add	$39, %al
7:	call	putc
	loop	6b
	pop	%cx
	ret

/* Print the character in %al on COM1. */
putc:
	push	%dx
	mov	$COM1, %dx
	out	%al, %dx
	pop	%dx
	ret

	/* The reset vector: the CPU starts at CS base 0xffff0000, IP 0xfff0. */
	.org	0xfff0
	jmp	_start
	.org	0x10000
