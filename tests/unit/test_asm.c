/* test_asm.c - the eBPF assembler's labels and its refusal of jumps that do
 * not fit 16 bits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filter/ebpf.h"

static void forward_label(void **s)
{
	struct ecap_asm a;
	uint32_t l;

	ecap_asm_init(&a);
	l = ecap_asm_label(&a);
	ecap_asm_jmp(&a, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 5, l);
	ecap_asm_emit(&a, E_MOV32_IMM(0, 1));
	ecap_asm_emit(&a, E_EXIT());
	ecap_asm_bind(&a, l);
	ecap_asm_emit(&a, E_MOV32_IMM(0, 0));
	ecap_asm_emit(&a, E_EXIT());
	assert_int_equal(ecap_asm_finish(&a), 0);
	assert_int_equal(a.len, 5);
	assert_int_equal(a.insns[0].off, 2);
	assert_true(ecap_asm_label_used(&a, l));
	ecap_asm_free(&a);
}

static void unbound_and_too_far(void **s)
{
	struct ecap_asm a;
	uint32_t l;

	ecap_asm_init(&a);
	l = ecap_asm_label(&a);
	ecap_asm_goto(&a, l);
	assert_int_equal(ecap_asm_finish(&a), -EINVAL);
	ecap_asm_free(&a);

	ecap_asm_init(&a);
	l = ecap_asm_label(&a);
	ecap_asm_goto(&a, l);
	for (int i = 0; i < 40000; i++)
		ecap_asm_emit(&a, E_MOV32_IMM(0, i));
	ecap_asm_bind(&a, l);
	ecap_asm_emit(&a, E_EXIT());
	assert_int_equal(ecap_asm_finish(&a), -E2BIG);
	ecap_asm_free(&a);
}

static void disasm_lines(void **s)
{
	struct bpf_insn p[] = {
	    E_LDX(BPF_H, 7, 9, 12), E_BE(7, 16),
	    ECAP_INSN(BPF_JMP32 | BPF_JGT | BPF_K, 7, 0, 1, (int32_t)0x80000000u),
	    E_MOV32_IMM(0, 262144), E_EXIT()};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_int_equal(ecap_ebpf_disasm(f, p, 5), 0);
	fclose(f);
	assert_non_null(strstr(text, "    0: r7 = *(u16 *)(r9 +12)\n"));
	assert_non_null(strstr(text, "    1: r7 = be16 r7\n"));
	assert_non_null(strstr(text, "    2: if w7 > 2147483648 goto 4\n"));
	assert_non_null(strstr(text, "    3: w0 = 262144\n"));
	assert_non_null(strstr(text, "    4: exit\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(forward_label),
	    cmocka_unit_test(unbound_and_too_far),
	    cmocka_unit_test(disasm_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
