// SPDX-License-Identifier: MIT
/*
 * A main for the libFuzzer targets so they also run as plain tests in every build variant:
 * each seed in the target's corpus is run as is, then a fixed number of deterministic
 * mutations of it (flips, truncations, insertions), then random inputs. Bounded in count.
 * The corpus of build/tests/io/fuzz_rsp is tests/io/corpus/rsp; directories given as
 * arguments replace it.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX	   4096
#define MUTATIONS_PER_SEED 5000
#define RANDOM_INPUTS	   50000

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static unsigned long runs;

static void run(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes so ASan sees any read past the end. */
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy) {
		perror("malloc");
		exit(1);
	}
	memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
	runs++;
}

static void mutate_and_run(const uint8_t *seed, size_t len)
{
	uint8_t buf[INPUT_MAX];

	run(seed, len);
	for (int i = 0; i < MUTATIONS_PER_SEED; i++) {
		size_t n = len;

		memcpy(buf, seed, len);
		for (int k = 1 + (int)(rnd() % 4); k > 0; k--) {
			uint32_t r = rnd();

			switch (r % 4) {
			case 0: /* flip a byte */
				if (n)
					buf[rnd() % n] ^= (uint8_t)(1 + (r >> 8) % 255);
				break;
			case 1: /* set a byte to an edge value */
				if (n)
					buf[rnd() % n] = (uint8_t[]){
						0, 1, 0x7F, 0x80, 0xFE, 0xFF
					}[(r >> 8) % 6];
				break;
			case 2: /* truncate */
				if (n)
					n = rnd() % n;
				break;
			case 3: /* insert a byte */
				if (n < sizeof(buf)) {
					size_t at = n ? rnd() % n : 0;

					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = (uint8_t)(r >> 8);
					n++;
				}
				break;
			}
		}
		run(buf, n);
	}
}

static int replay_dir(const char *dir)
{
	struct dirent *e;
	int seeds = 0;
	DIR *d = opendir(dir);

	if (!d) {
		perror(dir);
		return -1;
	}
	while ((e = readdir(d))) {
		char path[1024];
		uint8_t buf[INPUT_MAX];
		size_t len;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		if (!f) {
			perror(path);
			closedir(d);
			return -1;
		}
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		mutate_and_run(buf, len);
		seeds++;
	}
	closedir(d);
	return seeds;
}

int main(int argc, char **argv)
{
	char dir[1024];
	const char *name = strrchr(argv[0], '/'), *t = strstr(argv[0], "tests/");
	int seeds = 0, n;

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			n = replay_dir(argv[i]);
			if (n < 0)
				return 1;
			seeds += n;
		}
	} else {
		if (!name || !t || strncmp(name + 1, "fuzz_", 5) != 0) {
			fprintf(stderr, "usage: %s [CORPUS_DIR...]\n", argv[0]);
			return 2;
		}
		snprintf(dir, sizeof(dir), "%.*scorpus/%s", (int)(name + 1 - t), t, name + 6);
		n = replay_dir(dir);
		if (n < 0)
			return 1;
		seeds = n;
	}
	for (int i = 0; i < RANDOM_INPUTS; i++) {
		uint8_t buf[300];
		size_t len = rnd() % sizeof(buf);

		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rnd();
		run(buf, len);
	}
	printf("%s: %d seeds, %lu inputs run, no crash\n", argv[0], seeds, runs);
	return 0;
}
