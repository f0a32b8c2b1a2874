/*
 * vmasim-kernel: runs a vmasim scenario against the live Linux kernel.
 *
 * The TypeScript side (bindings/harness/live.ts) translates a scenario into a
 * line protocol on stdin; this program executes it in real processes and
 * prints raw records on stdout. All report formatting is done in TypeScript.
 * See docs/live-harness.md for the protocol.
 *
 * Structure: a controller process reads stdin and owns a set of workers. A
 * worker is a process whose address space the scenario uses; it receives
 * fixed-size binary commands over a SOCK_SEQPACKET socketpair, performs the
 * system call and answers (ret, errno). The controller never maps anything in
 * the report window and never calls prctl(PR_SET_MEMORY_MERGE), so a worker
 * forked from it starts with an empty window. Workers only use static buffers
 * and raw system calls after they start, so the harness adds no VMAs of its
 * own while a scenario runs.
 *
 * Build: cc -O2 -Wall -Wextra -o vmasim-kernel vmasim-kernel.c   (C11, libc only)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WIN_START 0x100000000000ULL
#define WIN_END 0x200000000000ULL
#define PAGE_SZ 4096ULL
#define MAX_PROCS 4096
#define MAX_FILES 4096
#define MAX_KNOBS 32
#define KSM_DIR "/sys/kernel/mm/ksm/"
#define MAX_MAP_COUNT_PATH "/proc/sys/vm/max_map_count"
/* The lowest vm.max_map_count the harness will set (see set_max_map_count). */
#define MIN_SAFE_MAX_MAP_COUNT 4096
#define KSM_SCAN_TIMEOUT_S 300

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif
#ifndef PR_SET_CHILD_SUBREAPER
#define PR_SET_CHILD_SUBREAPER 36
#endif

/* ------------------------------------------------------------------------ */
/* Worker commands                                                           */

enum {
	OP_MMAP = 1,
	OP_MUNMAP,
	OP_MPROTECT,
	OP_MADVISE,
	OP_MREMAP,
	OP_MLOCK,
	OP_MUNLOCK,
	OP_PRCTL_MM,
	OP_WRITE,
	OP_READ,
	OP_FORK,
	OP_EXIT,
};

struct wcmd {
	uint32_t op;
	uint32_t pad;
	uint64_t a[6];
};

struct wres {
	int64_t ret;
	int32_t err;
	int32_t pad;
};

/* ------------------------------------------------------------------------ */
/* Small helpers (async-signal-safe where the cleanup path uses them)        */

static int send_msg(int sock, const void *buf, size_t len, int fd)
{
	struct iovec iov = { (void *)buf, len };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		m.msg_control = u.b;
		m.msg_controllen = sizeof u.b;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

/* Returns the byte count (0 on EOF, -1 on error); *fd gets a passed fd or -1. */
static ssize_t recv_msg(int sock, void *buf, size_t len, int *fd)
{
	struct iovec iov = { buf, len };
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.b;
	m.msg_controllen = sizeof u.b;
	ssize_t n;
	do
		n = recvmsg(sock, &m, 0);
	while (n < 0 && errno == EINTR);
	*fd = -1;
	if (n <= 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < cnt; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
				if (*fd < 0)
					*fd = f;
				else
					close(f);
			}
		}
	}
	return n;
}

/* Writes str to path; returns 0 or the errno of the failed open/write. */
static int write_str(const char *path, const char *str)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	size_t len = strlen(str);
	ssize_t n;
	do
		n = write(fd, str, len);
	while (n < 0 && errno == EINTR);
	int err = n < 0 ? errno : 0;
	close(fd);
	return err;
}

/* Reads a small file into buf (NUL terminated, trailing whitespace trimmed). */
static int read_str(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	size_t got = 0;
	while (got + 1 < size) {
		ssize_t n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = 0;
	while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' ' || buf[got - 1] == '\t'))
		buf[--got] = 0;
	return 0;
}

/* A sysfs choice knob prints "[none] scan-time": keep the selected word. */
static void knob_value(char *buf)
{
	char *l = strchr(buf, '[');
	char *r = l ? strchr(l, ']') : NULL;
	if (l && r) {
		size_t n = (size_t)(r - l - 1);
		memmove(buf, l + 1, n);
		buf[n] = 0;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void put_err(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t k = write(2, s, n);
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

/* ------------------------------------------------------------------------ */
/* Worker                                                                    */

static unsigned char page_buf[PAGE_SZ] __attribute__((aligned(4096)));
static unsigned char byte_buf[1];

static int64_t fill_value = 0;
static int fill_valid = 0;

static void fill_page(uint64_t v)
{
	if (fill_valid && (uint64_t)fill_value == v)
		return;
	for (size_t i = 0; i < PAGE_SZ; i += 8) {
		for (int b = 0; b < 8; b++)
			page_buf[i + (size_t)b] = (unsigned char)(v >> (8 * b));
	}
	fill_value = (int64_t)v;
	fill_valid = 1;
}

static uint64_t npages(uint64_t len)
{
	return len / PAGE_SZ + (len % PAGE_SZ != 0);
}

/*
 * The pages that the bytes [addr, addr+len) touch, from addr's page on; a
 * range running past 2^64 is cut there (the pages up there are never mapped,
 * so the walk stops with EFAULT before).
 */
static uint64_t touched_pages(uint64_t addr, uint64_t len)
{
	uint64_t base = addr & ~(PAGE_SZ - 1);
	uint64_t room = (UINT64_MAX - base) / PAGE_SZ + 1;
	uint64_t skew = addr - base;
	uint64_t n = len > UINT64_MAX - skew ? room : npages(skew + len);
	return n < room ? n : room;
}

/* Writes page by page through GUP (no FOLL_FORCE); stops at the first failure. */
static int worker_write(uint64_t addr, uint64_t len, uint64_t mode, uint64_t arg)
{
	uint64_t base = addr & ~(PAGE_SZ - 1), n = touched_pages(addr, len);
	pid_t self = getpid();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t pa = base + i * PAGE_SZ;
		uint64_t v = mode == 0 ? arg : mode == 1 ? pa : (i % arg) + 1;
		fill_page(v);
		struct iovec l = { page_buf, PAGE_SZ };
		struct iovec r = { (void *)(uintptr_t)pa, PAGE_SZ };
		ssize_t k = process_vm_writev(self, &l, 1, &r, 1, 0);
		if (k != (ssize_t)PAGE_SZ)
			return k < 0 ? errno : EFAULT;
	}
	return 0;
}

static int worker_read(uint64_t addr, uint64_t len)
{
	uint64_t base = addr & ~(PAGE_SZ - 1), n = touched_pages(addr, len);
	pid_t self = getpid();
	for (uint64_t i = 0; i < n; i++) {
		struct iovec l = { byte_buf, 1 };
		struct iovec r = { (void *)(uintptr_t)(base + i * PAGE_SZ), 1 };
		ssize_t k = process_vm_readv(self, &l, 1, &r, 1, 0);
		if (k != 1)
			return k < 0 ? errno : EFAULT;
	}
	return 0;
}

static void worker_loop(int chan) __attribute__((noreturn));
static void worker_loop(int chan)
{
	for (;;) {
		struct wcmd c;
		struct wres r;
		int fd = -1;
		ssize_t n = recv_msg(chan, &c, sizeof c, &fd);
		if (n != (ssize_t)sizeof c)
			_exit(0); /* controller gone or protocol broken */
		memset(&r, 0, sizeof r);
		long v = 0;
		int send_fd = -1;
		errno = 0;
		switch (c.op) {
		case OP_MMAP:
			v = syscall(SYS_mmap, c.a[0], c.a[1], c.a[2], c.a[3], (long)fd, c.a[5]);
			break;
		case OP_MUNMAP:
			v = syscall(SYS_munmap, c.a[0], c.a[1]);
			break;
		case OP_MPROTECT:
			v = syscall(SYS_mprotect, c.a[0], c.a[1], c.a[2]);
			break;
		case OP_MADVISE:
			v = syscall(SYS_madvise, c.a[0], c.a[1], c.a[2]);
			break;
		case OP_MREMAP:
			v = syscall(SYS_mremap, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4]);
			break;
		case OP_MLOCK:
			v = syscall(SYS_mlock, c.a[0], c.a[1]);
			break;
		case OP_MUNLOCK:
			v = syscall(SYS_munlock, c.a[0], c.a[1]);
			break;
		case OP_PRCTL_MM:
			v = syscall(SYS_prctl, (long)PR_SET_MEMORY_MERGE, c.a[0], 0L, 0L, 0L);
			break;
		case OP_WRITE: {
			int e = worker_write(c.a[0], c.a[1], c.a[2], c.a[3]);
			v = e ? -1 : 0;
			errno = e;
			break;
		}
		case OP_READ: {
			int e = worker_read(c.a[0], c.a[1]);
			v = e ? -1 : 0;
			errno = e;
			break;
		}
		case OP_FORK: {
			int sp[2];
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
				v = -1;
				break;
			}
			pid_t pid = fork();
			if (pid == 0) {
				close(chan);
				close(sp[0]);
				chan = sp[1];
				if (fd >= 0)
					close(fd);
				goto next; /* the child answers nothing; it waits for commands */
			}
			int e = errno;
			close(sp[1]);
			if (pid < 0) {
				close(sp[0]);
				v = -1;
				errno = e;
				break;
			}
			v = pid;
			send_fd = sp[0];
			break;
		}
		case OP_EXIT:
			/* exit(2): no answer; the controller sees the channel close once the mm is gone. */
			_exit(0);
		default:
			v = -1;
			errno = ENOSYS;
			break;
		}
		r.ret = v;
		r.err = v == -1 ? (errno ? errno : EINVAL) : 0;
		if (fd >= 0)
			close(fd);
		if (send_msg(chan, &r, sizeof r, send_fd) < 0)
			_exit(0);
		if (send_fd >= 0)
			close(send_fd);
	next:;
	}
}

/* ------------------------------------------------------------------------ */
/* Controller state                                                          */

struct proc {
	pid_t pid;
	int chan;
};

static struct proc procs[MAX_PROCS];
static int nprocs_used; /* highest pidx + 1 */
static int cur = 0;
static int files[MAX_FILES];

struct knob {
	char key[64];
	char orig[128];
};
static struct knob knobs[MAX_KNOBS];
static int nknobs;
static char start_run[32];
static int ksm_touched;
static long long full_scans_base;

static int mmc_saved;
static char mmc_orig[64];

static volatile sig_atomic_t cleaning;
static pid_t controller_pid;

static void kill_workers(void)
{
	for (int i = 0; i < nprocs_used; i++) {
		if (procs[i].pid > 0)
			kill(procs[i].pid, SIGKILL);
		if (procs[i].chan >= 0)
			close(procs[i].chan);
		procs[i].chan = -1;
	}
	/* We are a child subreaper: orphaned descendants come back to us. */
	for (;;) {
		pid_t p = waitpid(-1, NULL, 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			break;
	}
	for (int i = 0; i < nprocs_used; i++)
		procs[i].pid = 0;
}

static void warn_restore(const char *what, int err)
{
	char num[16];
	int n = 0, e = err;
	char tmp[16];
	do
		tmp[n++] = (char)('0' + e % 10), e /= 10;
	while (e && n < 15);
	for (int i = 0; i < n; i++)
		num[i] = tmp[n - 1 - i];
	num[n] = 0;
	put_err("vmasim-kernel: warning: cannot restore ");
	put_err(what);
	put_err(": errno ");
	put_err(num);
	put_err("\n");
}

static void ksm_path(char *out, size_t size, const char *key)
{
	size_t a = strlen(KSM_DIR), b = strlen(key);
	if (a + b + 1 > size)
		b = size - a - 1;
	memcpy(out, KSM_DIR, a);
	memcpy(out + a, key, b);
	out[a + b] = 0;
}

static void restore_knobs(void)
{
	char path[256];
	int unmerged = 0;
	const char *run_orig = NULL;
	/*
	 * advisor_mode first: while scan-time is on a pages_to_scan write is
	 * EINVAL, and switching the mode resets pages_to_scan.
	 */
	for (int k = 0; k < 2 * nknobs; k++) {
		int i = k % nknobs;
		if ((k < nknobs) != (strcmp(knobs[i].key, "advisor_mode") == 0))
			continue;
		if (strcmp(knobs[i].key, "run") == 0) {
			run_orig = knobs[i].orig;
			continue;
		}
		ksm_path(path, sizeof path, knobs[i].key);
		char now[128];
		if (read_str(path, now, sizeof now) == 0) {
			knob_value(now);
			if (strcmp(now, knobs[i].orig) == 0)
				continue;
		}
		int err = write_str(path, knobs[i].orig);
		if (err == EBUSY && !unmerged) {
			/* KSM pages of our dead workers still count: unmerge everything. */
			write_str(KSM_DIR "run", "2");
			unmerged = 1;
			err = write_str(path, knobs[i].orig);
		}
		if (err)
			warn_restore(knobs[i].key, err);
	}
	if (ksm_touched && !unmerged && strcmp(start_run, "0") == 0) {
		/* ksmd was off before us: leave no stale KSM state of our workers behind. */
		write_str(KSM_DIR "run", "2");
		unmerged = 1;
	}
	if (run_orig || unmerged) {
		const char *want = run_orig ? run_orig : start_run;
		if (want[0]) {
			int err = write_str(KSM_DIR "run", want);
			if (err)
				warn_restore("run", err);
		}
	}
	nknobs = 0;
	ksm_touched = 0;
	if (mmc_saved) {
		int err = write_str(MAX_MAP_COUNT_PATH, mmc_orig);
		if (err)
			warn_restore("max_map_count", err);
		mmc_saved = 0;
	}
}

/* Kill and reap all workers, restore every knob. Async-signal-safe. */
static void cleanup(void)
{
	if (getpid() != controller_pid)
		return;
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (cleaning)
		return;
	cleaning = 1;
	kill_workers();
	restore_knobs();
}

static void on_signal(int sig)
{
	cleanup();
	_exit(128 + sig);
}

static void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void fatal(const char *fmt, ...)
{
	va_list ap;
	printf("fatal ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	cleanup();
	exit(3);
}

/* ------------------------------------------------------------------------ */
/* Workers from the controller's side                                        */

static void worker_signals_default(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int count_window(pid_t pid, int inside);

static void spawn_worker(int pidx)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		fatal("socketpair: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		worker_signals_default();
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != controller_pid)
			_exit(0);
		close(sp[0]);
		for (int i = 0; i < nprocs_used; i++)
			if (procs[i].chan >= 0)
				close(procs[i].chan);
		for (int i = 0; i < MAX_FILES; i++)
			if (files[i] >= 0)
				close(files[i]);
		worker_loop(sp[1]);
	}
	close(sp[1]);
	procs[pidx].pid = pid;
	procs[pidx].chan = sp[0];
	if (pidx + 1 > nprocs_used)
		nprocs_used = pidx + 1;
	int inside = count_window(pid, 1);
	if (inside != 0)
		fatal("fresh worker %d has %d VMAs in the window", pidx, inside);
}

/* Sends a command to the current worker and waits for its answer. */
static struct wres call_worker(struct wcmd *c, int fd, int *fd_out)
{
	struct proc *p = &procs[cur];
	struct wres r;
	int rfd = -1;
	if (p->chan < 0)
		fatal("process %d has no channel", cur);
	if (send_msg(p->chan, c, sizeof *c, fd) < 0)
		fatal("worker %d (pid %d) died (send: %s)", cur, (int)p->pid, strerror(errno));
	ssize_t n = recv_msg(p->chan, &r, sizeof r, &rfd);
	if (n != (ssize_t)sizeof r)
		fatal("worker %d (pid %d) died", cur, (int)p->pid);
	if (fd_out)
		*fd_out = rfd;
	else if (rfd >= 0)
		close(rfd);
	return r;
}

/* ------------------------------------------------------------------------ */
/* /proc readers                                                             */

static int parse_range(const char *line, uint64_t *start, uint64_t *end)
{
	char *e;
	errno = 0;
	unsigned long long s = strtoull(line, &e, 16);
	if (e == line || *e != '-')
		return 0;
	const char *p = e + 1;
	unsigned long long t = strtoull(p, &e, 16);
	if (e == p || *e != ' ')
		return 0;
	*start = s;
	*end = t;
	return 1;
}

static int in_window(uint64_t s, uint64_t e)
{
	return s >= WIN_START && e <= WIN_END;
}

/* Counts the VMAs inside (inside=1) or outside (0, [vsyscall] excluded) the window. */
static int count_window(pid_t pid, int inside)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		fatal("open %s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	while (getline(&line, &cap, f) > 0) {
		uint64_t s, e;
		if (!parse_range(line, &s, &e))
			continue;
		if (inside ? in_window(s, e) : (!in_window(s, e) && !strstr(line, "[vsyscall]")))
			n++;
	}
	free(line);
	fclose(f);
	return n;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
		s[--n] = 0;
	return s;
}

/* Collapses runs of blanks into single spaces, in place. */
static void squeeze(char *s)
{
	char *w = s;
	int blank = 0;
	for (char *r = s; *r; r++) {
		if (*r == ' ' || *r == '\t') {
			blank = 1;
			continue;
		}
		if (blank && w != s)
			*w++ = ' ';
		blank = 0;
		*w++ = *r;
	}
	*w = 0;
}

static void dump_maps(int line_no)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)procs[cur].pid);
	FILE *f = fopen(path, "re");
	if (!f)
		fatal("open %s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	int have = 0;
	uint64_t s = 0, e = 0;
	unsigned long long off = 0;
	char perms[8] = "";
	char name[4096] = "";
	while (getline(&line, &cap, f) > 0) {
		uint64_t ns, ne;
		if (parse_range(line, &ns, &ne)) {
			if (have)
				fatal("smaps of worker %d: VMA %" PRIx64 " without VmFlags", cur, s);
			if (!in_window(ns, ne))
				continue;
			int pos = 0;
			char dev[32];
			unsigned long long inode;
			if (sscanf(line, "%*[0-9a-f]-%*[0-9a-f] %7s %llx %31s %llu%n", perms, &off, dev, &inode, &pos) < 4)
				fatal("cannot parse smaps line: %s", line);
			snprintf(name, sizeof name, "%s", trim(line + pos));
			s = ns;
			e = ne;
			have = 1;
		} else if (have && strncmp(line, "VmFlags:", 8) == 0) {
			char *fl = trim(line + 8);
			squeeze(fl);
			printf("vma\t%" PRIx64 "\t%" PRIx64 "\t%s\t%llx\t%s\t%s\n", s, e, perms, off, fl, name);
			have = 0;
		}
	}
	if (have)
		fatal("smaps of worker %d: VMA %" PRIx64 " without VmFlags", cur, s);
	free(line);
	fclose(f);
	printf("end %d\n", line_no);
}

static long long read_ll(const char *path, int *ok)
{
	char buf[64];
	*ok = 0;
	if (read_str(path, buf, sizeof buf))
		return 0;
	char *e;
	errno = 0;
	long long v = strtoll(buf, &e, 10);
	if (e == buf || errno)
		return 0;
	*ok = 1;
	return v;
}

static const char *const GLOBAL_COUNTERS[] = {
	"pages_shared", "pages_sharing", "pages_unshared", "pages_volatile",
	"stable_node_chains", "stable_node_dups", "ksm_zero_pages", "general_profit",
};

static void dump_ksm_stat(int line_no)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ksm_stat", (int)procs[cur].pid);
	FILE *f = fopen(path, "re");
	if (!f)
		fatal("open %s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *l = trim(line);
		if (!*l)
			continue;
		size_t k = strcspn(l, " \t");
		char *val = l + k;
		if (*val)
			*val++ = 0;
		val = trim(val);
		size_t kl = strlen(l);
		if (kl > 0 && l[kl - 1] == ':')
			l[kl - 1] = 0;
		printf("kv %s %s\n", l, val);
	}
	free(line);
	fclose(f);
	for (size_t i = 0; i < sizeof GLOBAL_COUNTERS / sizeof GLOBAL_COUNTERS[0]; i++) {
		char p[256], v[128];
		ksm_path(p, sizeof p, GLOBAL_COUNTERS[i]);
		if (read_str(p, v, sizeof v) == 0)
			printf("kv %s %s\n", GLOBAL_COUNTERS[i], v);
	}
	int ok;
	long long fs = read_ll(KSM_DIR "full_scans", &ok);
	printf("kv full_scans %lld\n", ok ? fs - full_scans_base : 0LL);
	printf("end %d\n", line_no);
}

/* ------------------------------------------------------------------------ */
/* Knobs                                                                     */

static int valid_key(const char *k)
{
	if (!*k || strlen(k) >= sizeof knobs[0].key)
		return 0;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

/* A knob value: one word of letters, digits and + - _ . (the kernel parses it). */
static int valid_value(const char *v)
{
	if (!*v || strlen(v) > 40)
		return 0;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '+' || *p == '-' || *p == '_' || *p == '.'))
			return 0;
	return 1;
}

static void remember_knob(const char *key)
{
	for (int i = 0; i < nknobs; i++)
		if (strcmp(knobs[i].key, key) == 0)
			return;
	if (nknobs >= MAX_KNOBS)
		fatal("too many ksm knobs");
	char path[256], val[128];
	ksm_path(path, sizeof path, key);
	if (read_str(path, val, sizeof val) != 0)
		return; /* no such knob: the write will fail and say why */
	knob_value(val);
	/* Block signals so that a cleanup never sees a half-written entry. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	snprintf(knobs[nknobs].key, sizeof knobs[nknobs].key, "%s", key);
	snprintf(knobs[nknobs].orig, sizeof knobs[nknobs].orig, "%s", val);
	nknobs++;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static int ksm_write(const char *key, const char *value)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	ksm_touched = 1;
	sigprocmask(SIG_SETMASK, &old, NULL);
	remember_knob(key);
	char path[256];
	ksm_path(path, sizeof path, key);
	int err = write_str(path, value);
	if (!err && strcmp(key, "run") == 0 && strcmp(value, "2") == 0)
		full_scans_base = 0; /* a successful run=2 resets full_scans to 0 */
	return err;
}

static int set_max_map_count(uint64_t n)
{
	if (!mmc_saved) {
		char v[64];
		if (read_str(MAX_MAP_COUNT_PATH, v, sizeof v) == 0) {
			snprintf(mmc_orig, sizeof mmc_orig, "%s", v);
			mmc_saved = 1;
		}
	}
	uint64_t outside = (uint64_t)count_window(procs[cur].pid, 0);
	uint64_t want = n + outside < n ? UINT64_MAX : n + outside;
	/*
	 * vm.max_map_count is machine-wide: a low value makes every other
	 * process with more VMAs (node has a few hundred) fail its next mmap
	 * while the scenario runs. Refuse values that could do that.
	 */
	if (want < MIN_SAFE_MAX_MAP_COUNT)
		fatal("max_map_count %" PRIu64 " would set vm.max_map_count to %" PRIu64
		      ", below %d: that would break other processes on this machine (the simulator accepts it)",
		      n, want, MIN_SAFE_MAX_MAP_COUNT);
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRIu64, want);
	return write_str(MAX_MAP_COUNT_PATH, buf);
}

static void ksm_scan(uint64_t n)
{
	if (n == 0)
		return;
	char run[32];
	if (read_str(KSM_DIR "run", run, sizeof run) != 0)
		fatal("ksm_scan: cannot read " KSM_DIR "run: %s", strerror(errno));
	if (strcmp(run, "1") != 0)
		fatal("ksm_scan: ksm run is %s, so full_scans would never advance", run);
	int ok;
	long long start = read_ll(KSM_DIR "full_scans", &ok);
	if (!ok)
		fatal("ksm_scan: cannot read full_scans");
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long long now = read_ll(KSM_DIR "full_scans", &ok);
		if (ok && (now < start || (uint64_t)(now - start) >= n))
			return; /* now < start: someone reset it; do not wait forever */
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= KSM_SCAN_TIMEOUT_S)
			fatal("ksm_scan: full_scans did not advance by %" PRIu64 " within %d s (from %lld to %lld)", n,
			      KSM_SCAN_TIMEOUT_S, start, now);
		sleep_ms(3);
	}
}

/* ------------------------------------------------------------------------ */
/* Protocol                                                                  */

#define MAX_WORDS 16

static int split_words(char *s, char **w)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(s, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == MAX_WORDS)
			return -1;
		w[n++] = t;
	}
	return n;
}

static uint64_t u64(const char *s)
{
	if (!*s)
		fatal("protocol: empty number");
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			fatal("protocol: bad number '%s'", s);
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno)
		fatal("protocol: number out of range '%s'", s);
	return v;
}

static int small(const char *s, int limit, const char *what)
{
	uint64_t v = u64(s);
	if (v >= (uint64_t)limit)
		fatal("protocol: %s %s out of range", what, s);
	return (int)v;
}

static void need(int nw, int want, const char *cmd)
{
	if (nw != want)
		fatal("protocol: '%s' takes %d words, got %d", cmd, want - 1, nw - 1);
}

static void print_ret(const char *line_word, int err)
{
	printf("ret %d %d\n", (int)u64(line_word), err);
}

static void do_call(char **w, int nw)
{
	struct wcmd c;
	memset(&c, 0, sizeof c);
	int fd = -1;
	const char *cmd = w[0];
	if (!strcmp(cmd, "mmap")) {
		need(nw, 8, cmd);
		c.op = OP_MMAP;
		c.a[0] = u64(w[2]);
		c.a[1] = u64(w[3]);
		c.a[2] = u64(w[4]);
		c.a[3] = u64(w[5]);
		if (strcmp(w[6], "-1") != 0) {
			int fi = small(w[6], MAX_FILES, "file index");
			if (files[fi] < 0)
				fatal("protocol: file %d is not open", fi);
			fd = files[fi];
		}
		c.a[5] = u64(w[7]);
	} else if (!strcmp(cmd, "munmap") || !strcmp(cmd, "mlock") || !strcmp(cmd, "munlock") ||
		   !strcmp(cmd, "read")) {
		need(nw, 4, cmd);
		c.op = !strcmp(cmd, "munmap") ? OP_MUNMAP
		       : !strcmp(cmd, "mlock") ? OP_MLOCK
		       : !strcmp(cmd, "munlock") ? OP_MUNLOCK
						 : OP_READ;
		c.a[0] = u64(w[2]);
		c.a[1] = u64(w[3]);
	} else if (!strcmp(cmd, "mprotect") || !strcmp(cmd, "madvise")) {
		need(nw, 5, cmd);
		c.op = !strcmp(cmd, "mprotect") ? OP_MPROTECT : OP_MADVISE;
		c.a[0] = u64(w[2]);
		c.a[1] = u64(w[3]);
		c.a[2] = u64(w[4]);
	} else if (!strcmp(cmd, "mremap")) {
		need(nw, 7, cmd);
		c.op = OP_MREMAP;
		for (int i = 0; i < 5; i++)
			c.a[i] = u64(w[2 + i]);
	} else if (!strcmp(cmd, "prctl_mm")) {
		need(nw, 3, cmd);
		c.op = OP_PRCTL_MM;
		c.a[0] = u64(w[2]);
	} else if (!strcmp(cmd, "write")) {
		need(nw, 6, cmd);
		c.op = OP_WRITE;
		c.a[0] = u64(w[2]);
		c.a[1] = u64(w[3]);
		c.a[2] = u64(w[4]);
		c.a[3] = u64(w[5]);
		if (c.a[2] > 2 || (c.a[2] == 2 && c.a[3] == 0))
			fatal("protocol: bad write mode %s %s", w[4], w[5]);
	} else {
		fatal("protocol: unknown command '%s'", cmd);
	}
	struct wres r = call_worker(&c, fd, NULL);
	print_ret(w[1], r.err);
}

/* "file <fidx> <path> <size>": the path may contain blanks. */
static void do_file(char *rest)
{
	char *sp = strchr(rest, ' ');
	char *last = strrchr(rest, ' ');
	if (!sp || last == sp)
		fatal("protocol: usage 'file <fidx> <path> <size>'");
	*sp = 0;
	*last = 0;
	int fi = small(rest, MAX_FILES, "file index");
	char *path = sp + 1;
	uint64_t size = u64(trim(last + 1));
	if (files[fi] >= 0)
		fatal("protocol: file %d already open", fi);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal("file %s: %s", path, strerror(errno));
	if (size > (uint64_t)INT64_MAX || ftruncate(fd, (off_t)size) < 0)
		fatal("file %s: ftruncate(%" PRIu64 "): %s", path, size, strerror(size > (uint64_t)INT64_MAX ? EFBIG : errno));
	files[fi] = fd;
}

static void do_open(char *rest)
{
	char *sp = strchr(rest, ' ');
	if (!sp)
		fatal("protocol: usage 'open <fidx> <path>'");
	*sp = 0;
	int fi = small(rest, MAX_FILES, "file index");
	char *path = trim(sp + 1);
	if (files[fi] >= 0)
		fatal("protocol: file %d already open", fi);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fatal("open %s: %s", path, strerror(errno));
	files[fi] = fd;
}

static void do_fork(int pidx)
{
	if (procs[pidx].pid != 0)
		fatal("protocol: process %d already exists", pidx);
	struct wcmd c;
	memset(&c, 0, sizeof c);
	c.op = OP_FORK;
	int nfd = -1;
	struct wres r = call_worker(&c, -1, &nfd);
	if (r.ret < 0 || nfd < 0)
		fatal("fork in worker %d: %s", cur, strerror(r.err ? r.err : EPROTO));
	procs[pidx].pid = (pid_t)r.ret;
	procs[pidx].chan = nfd;
	if (pidx + 1 > nprocs_used)
		nprocs_used = pidx + 1;
	cur = pidx;
}

/*
 * exit: the current worker exits. Its channel reaches EOF when its files are
 * closed, which do_exit() does after exit_mm() (ksm_exit and exit_mmap), so
 * once recv returns 0 the address space is gone. The slot is marked -1: a
 * process index is never reused.
 */
static void do_exit_worker(const char *line_word)
{
	struct proc *p = &procs[cur];
	if (p->pid <= 0 || p->chan < 0)
		fatal("protocol: process %d is not running", cur);
	struct wcmd c;
	memset(&c, 0, sizeof c);
	c.op = OP_EXIT;
	if (send_msg(p->chan, &c, sizeof c, -1) < 0)
		fatal("worker %d (pid %d) died (send: %s)", cur, (int)p->pid, strerror(errno));
	struct wres r;
	int rfd = -1;
	ssize_t n = recv_msg(p->chan, &r, sizeof r, &rfd);
	if (rfd >= 0)
		close(rfd);
	if (n != 0)
		fatal("worker %d (pid %d) answered exit", cur, (int)p->pid);
	close(p->chan);
	p->chan = -1;
	/* Reap it if it is our child (a fork child's parent is its worker: ECHILD then). */
	while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
		;
	p->pid = -1;
	print_ret(line_word, 0);
}

int main(void)
{
	controller_pid = getpid();
	for (int i = 0; i < MAX_PROCS; i++)
		procs[i].chan = -1;
	for (int i = 0; i < MAX_FILES; i++)
		files[i] = -1;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fatal("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));

	if (read_str(KSM_DIR "run", start_run, sizeof start_run) != 0)
		start_run[0] = 0;
	int ok;
	full_scans_base = read_ll(KSM_DIR "full_scans", &ok);

	spawn_worker(0);
	cur = 0;

	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int first = 1;
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = 0;
		if (first) {
			first = 0;
			if (strncmp(line, "dir ", 4) != 0)
				fatal("protocol: the first line must be 'dir <path>'");
			if (chdir(line + 4) < 0)
				fatal("chdir %s: %s", line + 4, strerror(errno));
			continue;
		}
		if (!strncmp(line, "file ", 5)) {
			do_file(line + 5);
			continue;
		}
		if (!strncmp(line, "open ", 5)) {
			do_open(line + 5);
			continue;
		}
		char *w[MAX_WORDS];
		int nw = split_words(line, w);
		if (nw < 0)
			fatal("protocol: too many words");
		if (nw == 0)
			continue;
		const char *cmd = w[0];
		if (!strcmp(cmd, "process")) {
			need(nw, 2, cmd);
			int p = small(w[1], MAX_PROCS, "process index");
			if (procs[p].pid < 0)
				fatal("protocol: process %d has exited", p);
			if (procs[p].pid == 0)
				spawn_worker(p);
			cur = p;
		} else if (!strcmp(cmd, "fork")) {
			need(nw, 2, cmd);
			do_fork(small(w[1], MAX_PROCS, "process index"));
		} else if (!strcmp(cmd, "maps")) {
			need(nw, 2, cmd);
			dump_maps((int)u64(w[1]));
		} else if (!strcmp(cmd, "ksm_stat")) {
			need(nw, 2, cmd);
			dump_ksm_stat((int)u64(w[1]));
		} else if (!strcmp(cmd, "ksm")) {
			need(nw, 4, cmd);
			if (!valid_key(w[2]))
				fatal("protocol: bad ksm knob '%s'", w[2]);
			if (!valid_value(w[3]))
				fatal("protocol: bad ksm value '%s'", w[3]);
			print_ret(w[1], ksm_write(w[2], w[3]));
		} else if (!strcmp(cmd, "ksm_get")) {
			/* Read one knob as cat shows it: "kv KEY TEXT" then "end LINE". */
			need(nw, 3, cmd);
			if (!valid_key(w[2]))
				fatal("protocol: bad ksm knob '%s'", w[2]);
			char path[256], val[128];
			ksm_path(path, sizeof path, w[2]);
			int err = read_str(path, val, sizeof val);
			if (err)
				fatal("ksm_get: cannot read %s: %s", path, strerror(err));
			printf("kv %s %s\nend %d\n", w[2], val, (int)u64(w[1]));
		} else if (!strcmp(cmd, "ksm_scan")) {
			need(nw, 3, cmd);
			ksm_scan(u64(w[2]));
			print_ret(w[1], 0);
		} else if (!strcmp(cmd, "ksm_run")) {
			/* Let ksmd run for MS milliseconds of real time. */
			need(nw, 3, cmd);
			uint64_t ms = u64(w[2]);
			struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
			print_ret(w[1], 0);
		} else if (!strcmp(cmd, "exit")) {
			need(nw, 2, cmd);
			do_exit_worker(w[1]);
		} else if (!strcmp(cmd, "max_map_count")) {
			need(nw, 3, cmd);
			print_ret(w[1], set_max_map_count(u64(w[2])));
		} else {
			do_call(w, nw);
		}
	}
	if (first)
		fatal("protocol: empty input");
	free(line);
	cleanup();
	printf("done\n");
	fflush(stdout);
	return 0;
}
