// SPDX-License-Identifier: MIT
/*
 * The shipped profiles (devices/profiles/NAME.yaml) built into the binary, so a build tree
 * runs without an installed share/flux/profiles. The one idea: the assembler copies each
 * file in as it is (.incbin, paths from the top of the tree, where make runs), NUL-terminated;
 * the Makefile makes this object depend on the files, so an edit rebuilds it.
 */
#include <errno.h>
#include <string.h>

#include "devices/profile.h"

/* sym_start .. sym_end: the file's bytes; a NUL follows, outside the length. */
#define PROF_INCBIN(sym, file)                                                                     \
	__asm__(".section .rodata\n"                                                               \
		".balign 16\n"                                                                     \
		".type " #sym "_start, @object\n" #sym "_start:\n"                                 \
		".incbin \"" file "\"\n" #sym "_end:\n"                                            \
		".byte 0\n"                                                                        \
		".size " #sym "_start, . - " #sym "_start\n"                                       \
		".previous\n");                                                                    \
	extern const char sym##_start[], sym##_end[]

PROF_INCBIN(prof_yaml_powerpack, "devices/profiles/powerpack.yaml");
PROF_INCBIN(prof_yaml_acuvim2, "devices/profiles/acuvim2.yaml");
PROF_INCBIN(prof_yaml_acuvim2_manual, "devices/profiles/acuvim2-manual.yaml");
PROF_INCBIN(prof_yaml_powerpack_ext, "devices/profiles/powerpack-ext.yaml");

static const struct {
	const char *name;
	const char *start, *end;
} builtin[] = {
	{ "powerpack", prof_yaml_powerpack_start, prof_yaml_powerpack_end },
	{ "acuvim2", prof_yaml_acuvim2_start, prof_yaml_acuvim2_end },
	{ "acuvim2-manual", prof_yaml_acuvim2_manual_start, prof_yaml_acuvim2_manual_end },
	{ "powerpack-ext", prof_yaml_powerpack_ext_start, prof_yaml_powerpack_ext_end },
};

int prof_builtin_text(const char *name, const char **text, size_t *len)
{
	for (unsigned i = 0; name && i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		if (strcmp(builtin[i].name, name) == 0) {
			*text = builtin[i].start;
			*len = (size_t)(builtin[i].end - builtin[i].start);
			return 0;
		}
	}
	return -ENOENT;
}

const char *prof_builtin_name(unsigned i)
{
	return i < sizeof(builtin) / sizeof(builtin[0]) ? builtin[i].name : NULL;
}
