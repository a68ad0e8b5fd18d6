// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the site config, cfg_parse(), which reads a file written by hand (or by
 * anyone who can write /etc/flux). Whatever it accepts must survive parse -> dump -> parse:
 * the dump of an accepted config parses, and dumps to the same text again. Whatever it
 * rejects comes with a message naming the file. The structs are large (1,000 BESS): static.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME	 "fuzz.yaml"
#define DUMP_MAX (4u << 20) /* > CFG_MAX_BESS devices with every string escaped */

static struct cfg cfg1, cfg2;
static char dump1[DUMP_MAX], dump2[DUMP_MAX];

static void fail(const char *what, const char *err, const char *text)
{
	fprintf(stderr, "fuzz_config: %s\n%s\n---\n%s\n---\n", what, err, text);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CFG_ERR_MAX] = "";
	int n1, n2;

	if (cfg_parse(&cfg1, NAME, (const char *)data, size, err, sizeof(err))) {
		if (strncmp(err, NAME ":", strlen(NAME ":")) != 0)
			fail("a rejection without \"" NAME ":\" first", err, "");
		return 0;
	}
	n1 = cfg_dump(&cfg1, dump1, sizeof(dump1));
	if (n1 <= 0 || (size_t)n1 != strlen(dump1))
		fail("cfg_dump failed on an accepted config", "", "");
	if (cfg_parse(&cfg2, "dump.yaml", dump1, (size_t)n1, err, sizeof(err)))
		fail("the dump of an accepted config does not parse", err, dump1);
	n2 = cfg_dump(&cfg2, dump2, sizeof(dump2));
	if (n2 != n1 || memcmp(dump1, dump2, (size_t)n1) != 0)
		fail("parse -> dump -> parse -> dump differs; second dump", dump1, dump2);
	cfg_free(&cfg1); /* what profile: files were loaded */
	cfg_free(&cfg2);
	return 0;
}
