/*
 * vmasim-kbench: the benchmarks' workloads run natively on the live kernel,
 * so the simulator's speed can be put beside the kernel's in one run.
 *
 *   vmasim-kbench ksm N PASSES SEED
 *     maps N pages (MADV_MERGEABLE), fills them with N/10 distinct contents
 *     (10 copies each), sets pages_to_scan to its maximum and
 *     sleep_millisecs=0, runs ksmd for PASSES full scans, rewriting 10% of
 *     the pages (random, new contents) after each, and prints
 *     "visits_per_s R pages_shared S pages_sharing T". Every KSM knob is
 *     restored afterwards (run=2 to unmerge, then run back to its value).
 *
 *   vmasim-kbench alternating N M SEED
 *     maps N single pages at consecutive addresses from 0x100000000000,
 *     alternating rw-/r-- (N VMAs), then makes M random single-page mprotect
 *     toggles (xorshift32 from SEED, as bench/ uses). Prints one line:
 *     "setup_s S ops_per_s R vmas V layout_hash H": V and H are the count
 *     and a hash of the workload's VMAs at the end (count_vmas_in).
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

/*
 * The VMAs starting in [lo, hi) (the workload's own, not the program's): how many, and a hash of their layout (FNV-1a over each
 * one's start page, end page and writability), for checking that the
 * simulator ran the same toggles.
 */
static unsigned long count_vmas_in(unsigned long lo, unsigned long hi, uint64_t *hash)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long n = 0, start, end;
	char line[4096], perms[8];
	uint64_t h = 0xcbf29ce484222325ULL;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 && start >= lo && start < hi) {
			n++;
			h = (h ^ (start / PAGE)) * 0x100000001b3ULL;
			h = (h ^ (end / PAGE)) * 0x100000001b3ULL;
			h = (h ^ (uint64_t)(perms[1] == 'w')) * 0x100000001b3ULL;
		}
		/* A line longer than the buffer: skip its rest. */
		while (!strchr(line, '\n') && fgets(line, sizeof line, f))
			;
	}
	fclose(f);
	*hash = h;
	return n;
}

static int alternating(unsigned long n, unsigned long m, uint32_t seed)
{
	raise_max_map_count(n + 65530);
	/* Read-only pages, a bit each (as bench/run.ts keeps them). */
	uint32_t *ro = calloc((n + 31) / 32, sizeof *ro);
	if (!ro)
		return 2;
	double t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		if (i & 1)
			ro[i / 32] |= 1u << (i % 32);
		void *p = mmap((void *)(BASE + i * PAGE), PAGE, (i & 1) ? PROT_READ : PROT_READ | PROT_WRITE,
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
		uint32_t bit = 1u << (i % 32);
		ro[i / 32] ^= bit;
		if (mprotect((void *)(BASE + i * PAGE), PAGE, (ro[i / 32] & bit) ? PROT_READ : PROT_READ | PROT_WRITE) != 0) {
			fprintf(stderr, "vmasim-kbench: mprotect: %s\n", strerror(errno));
			return 2;
		}
	}
	double t2 = now();
	uint64_t hash;
	unsigned long own = count_vmas_in(BASE, BASE + n * PAGE, &hash);
	printf("setup_s %.6f ops_per_s %.1f vmas %lu layout_hash %016llx\n", t1 - t0, (double)m / (t2 - t1), own,
	       (unsigned long long)hash);
	return 0;
}

#define KSM "/sys/kernel/mm/ksm/"
static const char *ksm_knobs[] = { "pages_to_scan", "sleep_millisecs", "smart_scan", "run" };
static char ksm_saved[4][64];
static int ksm_have_saved;

static int read_knob(const char *name, char *buf, size_t n)
{
	char path[128];
	snprintf(path, sizeof path, KSM "%s", name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, (int)n, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int write_knob(const char *name, const char *value)
{
	char path[128];
	snprintf(path, sizeof path, KSM "%s", name);
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

static long long read_counter(const char *name)
{
	char buf[64];
	return read_knob(name, buf, sizeof buf) == 0 ? atoll(buf) : -1;
}

static void ksm_restore(void)
{
	if (!ksm_have_saved)
		return;
	write_knob("run", "2");
	for (int i = 0; i < 3; i++)
		write_knob(ksm_knobs[i], ksm_saved[i]);
	write_knob("run", ksm_saved[3]);
	ksm_have_saved = 0;
}

static void ksm_on_signal(int sig)
{
	ksm_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int ksm_bench(unsigned long n, unsigned long passes, uint32_t seed)
{
	for (int i = 0; i < 4; i++)
		if (read_knob(ksm_knobs[i], ksm_saved[i], sizeof ksm_saved[i]) != 0) {
			fprintf(stderr, "vmasim-kbench: cannot read " KSM "%s\n", ksm_knobs[i]);
			return 2;
		}
	if (strcmp(ksm_saved[3], "0") != 0) {
		fprintf(stderr, "vmasim-kbench: ksm run is %s: another process is using KSM\n", ksm_saved[3]);
		return 3;
	}
	ksm_have_saved = 1;
	atexit(ksm_restore);
	signal(SIGINT, ksm_on_signal);
	signal(SIGTERM, ksm_on_signal);
	signal(SIGHUP, ksm_on_signal);
	uint64_t *mem = mmap((void *)BASE, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "vmasim-kbench: mmap: %s\n", strerror(errno));
		return 2;
	}
	madvise(mem, n * PAGE, MADV_NOHUGEPAGE);
	madvise(mem, n * PAGE, MADV_MERGEABLE);
	unsigned long distinct = n / 10 ? n / 10 : 1;
	for (unsigned long i = 0; i < n; i++)
		for (unsigned long w = 0; w < PAGE / 8; w++)
			mem[i * (PAGE / 8) + w] = i % distinct + 1;
	write_knob("smart_scan", "0");
	write_knob("pages_to_scan", "4294967295");
	write_knob("sleep_millisecs", "0");
	long long scanned0 = read_counter("pages_scanned");
	long long full0 = read_counter("full_scans");
	double t0 = now();
	write_knob("run", "1");
	rng = seed ? seed : 0x9e3779b9u;
	uint64_t fresh = n + 1;
	for (unsigned long p = 1; p <= passes; p++) {
		while (read_counter("full_scans") < full0 + (long long)p)
			usleep(200);
		for (unsigned long k = 0; k < n / 10; k++) {
			unsigned long i = next_rand() % n;
			fresh++;
			for (unsigned long w = 0; w < PAGE / 8; w++)
				mem[i * (PAGE / 8) + w] = fresh;
		}
	}
	double t1 = now();
	long long scanned = read_counter("pages_scanned") - scanned0;
	printf("visits_per_s %.1f pages_shared %lld pages_sharing %lld\n", (double)scanned / (t1 - t0), read_counter("pages_shared"),
	       read_counter("pages_sharing"));
	ksm_restore();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "ksm") == 0)
		return ksm_bench(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0));
	if (argc == 5 && strcmp(argv[1], "alternating") == 0)
		return alternating(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0));
	fprintf(stderr, "usage: vmasim-kbench alternating N M SEED | ksm N PASSES SEED\n");
	return 2;
}
