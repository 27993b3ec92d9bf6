/*
 * faultfs: a disk that fills or fails, for the chain's fault tests
 * (docs/DURABILITY.md, "Full and failing disks").
 *
 * LD_PRELOAD'ed into any process (a Rust test binary, the Python
 * interpreter, a C test, `emr`, a node), it interposes the libc calls that
 * SQLite's unix VFS and Rust's std make on files (open, read, write, their
 * p- and 64-bit forms, fsync, fdatasync) and makes those on files under
 * one directory fail as a full or failing disk would. Every surface is
 * tested unchanged: the bundled SQLite and std call libc through dynamic
 * symbols.
 *
 * Environment:
 *   EMR_FAULTFS_DIR      the directory whose files fail (absolute); unset:
 *                        every call passes straight through
 *   EMR_FAULTFS_CONTROL  the control file, read before every intercepted
 *                        call on such a file
 *   EMR_FAULTFS_LOG      optional: a line per injected fault is appended
 *                        ("pid mode call path offset length")
 *
 * The control file holds one line, "GEN MODE AFTER COUNT": GEN is any
 * number the writer changes to re-arm (counters restart whenever the line
 * changes); AFTER counts bytes for reads and writes, calls for syncs, from
 * the arming (per process); COUNT is how many faults to inject before
 * passing again (0: until the line changes). Rewrite it in place (a
 * process keeps the file it opened); a line that does not parse (empty
 * while being rewritten, say) keeps the previous setting. Modes:
 *   off          nothing fails
 *   enospc       the disk is full once AFTER bytes were written: a write
 *                that would extend its file fails with ENOSPC, one inside
 *                the file's size succeeds (allocated blocks, as on ext4);
 *                COUNT is ignored, the disk stays full until the line changes
 *   eio-write    writes fail with EIO
 *   eio-sync     fsync/fdatasync fail with EIO (after AFTER successful ones)
 *   enospc-sync  fsync/fdatasync fail with ENOSPC (a thin or network volume)
 *   eio-read     reads fail with EIO
 *   short-read   reads of more than one byte return half of what was
 *                asked (never 0, which would say the file ends); callers
 *                must read on, as SQLite and read_exact do
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FD 4096
#define PATH_CAP 240

enum mode { OFF, ENOSPC_FULL, EIO_WRITE, EIO_SYNC, ENOSPC_SYNC, EIO_READ, SHORT_READ };
static const char *const MODE_NAMES[] = { "off", "enospc", "eio-write", "eio-sync", "enospc-sync", "eio-read", "short-read" };

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*sync_fn)(int);
typedef int (*close_fn)(int);

static struct {
    open_fn open, open64;
    openat_fn openat, openat64;
    read_fn read;
    write_fn write;
    pread_fn pread, pread64;
    pwrite_fn pwrite, pwrite64;
    sync_fn fsync, fdatasync;
    close_fn close;
} real;

/* Which descriptors are files under the directory, and their paths (for
 * the log). Flags are atomic so that close() never takes the lock (a
 * forked child may call it before exec). */
static atomic_char tracked[MAX_FD];
static char paths[MAX_FD][PATH_CAP];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char dir_raw[PATH_CAP], dir_real[PATH_CAP];
static int control_fd = -1, log_fd = -1;
static char control_path[PATH_CAP * 2];
static char line[128];
static enum mode mode = OFF;
static unsigned long long after, count, seen, injected;

#define RESOLVE(name) real.name = (void *)dlsym(RTLD_NEXT, #name)

static void resolve(void) {
    RESOLVE(open); RESOLVE(open64); RESOLVE(openat); RESOLVE(openat64);
    RESOLVE(read); RESOLVE(write); RESOLVE(pread); RESOLVE(pread64);
    RESOLVE(pwrite); RESOLVE(pwrite64); RESOLVE(fsync); RESOLVE(fdatasync); RESOLVE(close);
}

static void before_fork(void) { pthread_mutex_lock(&lock); }
static void after_fork(void) { pthread_mutex_unlock(&lock); }

__attribute__((constructor)) static void init(void) {
    resolve();
    pthread_atfork(before_fork, after_fork, after_fork);
    const char *dir = getenv("EMR_FAULTFS_DIR");
    if (!dir || !*dir) return;
    snprintf(dir_raw, sizeof dir_raw, "%s", dir);
    char *canonical = realpath(dir, NULL);
    snprintf(dir_real, sizeof dir_real, "%s", canonical ? canonical : dir);
    free(canonical);
    const char *control = getenv("EMR_FAULTFS_CONTROL");
    if (control) snprintf(control_path, sizeof control_path, "%s", control);
    const char *log = getenv("EMR_FAULTFS_LOG");
    if (log) log_fd = real.open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static int under(const char *root, const char *path) {
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    return n > 0 && strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void opened(int fd, int dirfd, const char *path) {
    if (fd < 0 || fd >= MAX_FD) return;
    int mine = 0;
    if (dir_raw[0] && path) {
        char full[PATH_CAP * 2];
        if (path[0] == '/') {
            snprintf(full, sizeof full, "%s", path);
        } else if (dirfd == AT_FDCWD) {
            char cwd[PATH_CAP];
            if (!getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
            snprintf(full, sizeof full, "%s/%s", cwd, path);
        } else {
            full[0] = '\0'; /* relative to another directory: not followed */
        }
        mine = full[0] && (under(dir_raw, full) || under(dir_real, full));
        if (mine) {
            /* Kept for the log only: a longer path is cut. */
            size_t n = strnlen(full, PATH_CAP - 1);
            memcpy(paths[fd], full, n);
            paths[fd][n] = '\0';
        }
    }
    atomic_store(&tracked[fd], (char)mine);
}

static int is_tracked(int fd) { return fd >= 0 && fd < MAX_FD && atomic_load(&tracked[fd]); }

/* Re-reads the control line; called with the lock held. */
static void refresh(void) {
    /* Opened on first use: the program under test may write the file
     * itself, after it started. */
    if (control_fd < 0 && control_path[0]) control_fd = real.open(control_path, O_RDONLY | O_CLOEXEC);
    if (control_fd < 0) return;
    char buf[sizeof line];
    ssize_t n = real.pread(control_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return;
    buf[n] = '\0';
    char *end = strchr(buf, '\n');
    if (!end) return;
    *end = '\0';
    if (strcmp(buf, line) == 0) return;
    char name[32];
    unsigned long long gen, a, c;
    if (sscanf(buf, "%llu %31s %llu %llu", &gen, name, &a, &c) != 4) return;
    for (size_t i = 0; i < sizeof MODE_NAMES / sizeof *MODE_NAMES; i++) {
        if (strcmp(name, MODE_NAMES[i]) == 0) {
            snprintf(line, sizeof line, "%s", buf);
            mode = (enum mode)i;
            after = a;
            count = c;
            seen = 0;
            injected = 0;
            return;
        }
    }
}

static void note(int fd, const char *call, long long offset, size_t len) {
    injected++;
    if (log_fd < 0) return;
    char text[PATH_CAP + 128];
    int n = snprintf(text, sizeof text, "%d %s %s %s %lld %zu\n", (int)getpid(), MODE_NAMES[mode], call, paths[fd], offset, len);
    if (n > 0) (void)real.write(log_fd, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* Whether the next operation of this kind fails, counting `amount` (bytes,
 * or 1 per sync) past the arming point. Called with the lock held. */
static int due(unsigned long long amount) {
    int fire = seen + amount > after && (count == 0 || injected < count);
    seen += amount;
    return fire;
}

/* The error a write of `len` bytes at `offset` (-1: the file position)
 * meets, or 0. */
static int write_fault(int fd, size_t len, long long offset, const char *call) {
    if (!is_tracked(fd)) return 0;
    int err = 0;
    pthread_mutex_lock(&lock);
    refresh();
    if (mode == ENOSPC_FULL) {
        if (seen >= after) {
            long long at = offset >= 0 ? offset : (long long)lseek(fd, 0, SEEK_CUR);
            struct stat st;
            if (fstat(fd, &st) != 0 || at + (long long)len > (long long)st.st_size) err = ENOSPC;
        } else {
            seen += len;
        }
    } else if (mode == EIO_WRITE && due(len)) {
        err = EIO;
    }
    if (err) note(fd, call, offset, len);
    pthread_mutex_unlock(&lock);
    return err;
}

/* For a read: EIO (-1), a shortened length, or `len` unchanged. */
static ssize_t read_fault(int fd, size_t len, long long offset, const char *call, size_t *shortened) {
    *shortened = len;
    if (!is_tracked(fd) || len == 0) return 0;
    int err = 0;
    pthread_mutex_lock(&lock);
    refresh();
    if ((mode == EIO_READ || mode == SHORT_READ) && due(len)) {
        if (mode == EIO_READ) err = EIO;
        else if (len > 1) *shortened = len / 2;
        if (mode == EIO_READ || len > 1) note(fd, call, offset, len);
    }
    pthread_mutex_unlock(&lock);
    return err;
}

static int sync_fault(int fd, const char *call) {
    if (!is_tracked(fd)) return 0;
    int err = 0;
    pthread_mutex_lock(&lock);
    refresh();
    if ((mode == EIO_SYNC || mode == ENOSPC_SYNC) && due(1)) {
        err = mode == EIO_SYNC ? EIO : ENOSPC;
        note(fd, call, -1, 0);
    }
    pthread_mutex_unlock(&lock);
    return err;
}

#define ENSURE(name) do { if (!real.name) resolve(); } while (0)

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
    ENSURE(open);
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    int fd = real.open(path, flags, m);
    opened(fd, AT_FDCWD, path);
    return fd;
}

int open64(const char *path, int flags, ...) {
    ENSURE(open64);
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    int fd = real.open64(path, flags, m);
    opened(fd, AT_FDCWD, path);
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...) {
    ENSURE(openat);
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    int fd = real.openat(dirfd, path, flags, m);
    opened(fd, dirfd, path);
    return fd;
}

int openat64(int dirfd, const char *path, int flags, ...) {
    ENSURE(openat64);
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    int fd = real.openat64(dirfd, path, flags, m);
    opened(fd, dirfd, path);
    return fd;
}

int close(int fd) {
    ENSURE(close);
    if (fd >= 0 && fd < MAX_FD) atomic_store(&tracked[fd], 0);
    return real.close(fd);
}

#define WRITE_BODY(call, offset, ...) \
    ENSURE(call); \
    int err = write_fault(fd, len, offset, #call); \
    if (err) { errno = err; return -1; } \
    return real.call(__VA_ARGS__)

ssize_t write(int fd, const void *buf, size_t len) { WRITE_BODY(write, -1, fd, buf, len); }
ssize_t pwrite(int fd, const void *buf, size_t len, off_t at) { WRITE_BODY(pwrite, at, fd, buf, len, at); }
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t at) { WRITE_BODY(pwrite64, at, fd, buf, len, at); }

#define READ_BODY(call, offset, ...) \
    ENSURE(call); \
    size_t len_in = len; \
    if (read_fault(fd, len_in, offset, #call, &len)) { errno = EIO; return -1; } \
    return real.call(__VA_ARGS__)

ssize_t read(int fd, void *buf, size_t len) { READ_BODY(read, -1, fd, buf, len); }
ssize_t pread(int fd, void *buf, size_t len, off_t at) { READ_BODY(pread, at, fd, buf, len, at); }
ssize_t pread64(int fd, void *buf, size_t len, off_t at) { READ_BODY(pread64, at, fd, buf, len, at); }

int fsync(int fd) {
    ENSURE(fsync);
    int err = sync_fault(fd, "fsync");
    if (err) { errno = err; return -1; }
    return real.fsync(fd);
}

int fdatasync(int fd) {
    ENSURE(fdatasync);
    int err = sync_fault(fd, "fdatasync");
    if (err) { errno = err; return -1; }
    return real.fdatasync(fd);
}
