/*
 * vmasim-kbench: the benchmarks' workloads run natively on the live kernel,
 * so the simulator's speed can be put beside the kernel's in one run.
 *
 *   vmasim-kbench alternating N M SEED
 *     maps N single pages at consecutive addresses from 0x100000000000,
 *     alternating rw-/r-- (N VMAs), then makes M random single-page mprotect
 *     toggles (xorshift32 from SEED, as bench/ uses). Prints one line:
 *     "setup_s S ops_per_s R vmas V".
 *
 * vm.max_map_count is raised when N needs it (raising is harmless to other
 * processes) and restored on exit, on SIGINT/SIGTERM/SIGHUP and on errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MMC "/proc/sys/vm/max_map_count"
#define BASE 0x100000000000UL
#define PAGE 4096UL

static char saved[64];
static int have_saved;

static void restore(void)
{
	if (!have_saved)
		return;
	int fd = open(MMC, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, saved, strlen(saved)) < 0)
			perror("vmasim-kbench: restoring " MMC);
		close(fd);
	}
	have_saved = 0;
}

static void on_signal(int sig)
{
	restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void raise_max_map_count(unsigned long need)
{
	FILE *f = fopen(MMC, "r");
	unsigned long cur = 0;
	if (!f || fscanf(f, "%lu", &cur) != 1) {
		fprintf(stderr, "vmasim-kbench: cannot read " MMC "\n");
		exit(2);
	}
	fclose(f);
	if (cur >= need)
		return;
	snprintf(saved, sizeof saved, "%lu", cur);
	have_saved = 1;
	atexit(restore);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%lu", need);
	int fd = open(MMC, O_WRONLY);
	if (fd < 0 || write(fd, buf, (size_t)n) != n) {
		fprintf(stderr, "vmasim-kbench: cannot raise " MMC " to %lu: %s\n", need, strerror(errno));
		exit(2);
	}
	close(fd);
}

static uint32_t rng;

/* xorshift32, the same generator as bench/ and bindings/scenario/workloads.ts. */
static uint32_t next_rand(void)
{
	uint32_t x = rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng = x;
	return x;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static unsigned long count_vmas(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long n = 0;
	int c;
	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int alternating(unsigned long n, unsigned long m, uint32_t seed)
{
	raise_max_map_count(n + 65530);
	unsigned char *prot = calloc(n, 1); /* 1: read-only */
	if (!prot)
		return 2;
	double t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		prot[i] = i & 1;
		void *p = mmap((void *)(BASE + i * PAGE), PAGE, prot[i] ? PROT_READ : PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED) {
			fprintf(stderr, "vmasim-kbench: mmap %lu: %s\n", i, strerror(errno));
			return 2;
		}
	}
	double t1 = now();
	rng = seed ? seed : 0x9e3779b9u;
	for (unsigned long k = 0; k < m; k++) {
		unsigned long i = next_rand() % n;
		prot[i] ^= 1;
		if (mprotect((void *)(BASE + i * PAGE), PAGE, prot[i] ? PROT_READ : PROT_READ | PROT_WRITE) != 0) {
			fprintf(stderr, "vmasim-kbench: mprotect: %s\n", strerror(errno));
			return 2;
		}
	}
	double t2 = now();
	printf("setup_s %.6f ops_per_s %.1f vmas %lu\n", t1 - t0, (double)m / (t2 - t1), count_vmas());
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "alternating") == 0)
		return alternating(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0));
	fprintf(stderr, "usage: vmasim-kbench alternating N M SEED\n");
	return 2;
}
