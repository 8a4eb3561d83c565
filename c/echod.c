/*
 * echod.c: the C companion of the tutorial's Go steps. A Unix-domain echo
 * server that turns itself into a daemon, one of Comer and Stevens'
 * recommendations at a time, and that the Go steps' tests grade:
 *
 *	make STEP=7 && ECHOD=$PWD/build/step07/echod go test ./step07-lock/
 *
 * One source holds every step. "cc -DSTEP=N" builds step N, and
 * "unifdef -DSTEP=N echod.c" prints step N's C alone, for reading: each
 * "#if STEP >= N" block is what step N adds (c/README.md).
 *
 * Where the Go program re-executes its own binary (a Go program cannot
 * fork: the child would hold one thread of a runtime that runs several),
 * this one calls fork() and goes on in the child, as the C original does.
 */
#define _GNU_SOURCE /* accept4, pipe2, close_range */

#ifndef STEP
#define STEP 12
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * maxSocketPath is the longest path a Unix socket address holds: sun_path
 * has 108 bytes, and the last must stay free for the terminating NUL.
 */
#define MAX_SOCKET_PATH (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* ECHO_BUFFER is how much a worker reads and writes back at a time. */
#define ECHO_BUFFER (64 * 1024)

/*
 * Accept errors such as "too many open files" pass; the server waits a
 * little before it tries again, doubling the wait up to a ceiling.
 */
#define MIN_ACCEPT_DELAY_MS 5
#define MAX_ACCEPT_DELAY_MS 1000
#if STEP >= 12

/* WORKER_GRACE_MS is how long shutdown waits for the workers to end on
 * SIGTERM before it kills them. */
#define WORKER_GRACE_MS 1000
#endif

/* prog names this program in messages: the last element of argv[0]. */
static const char *prog = "echod";

/* config holds the command-line flags. */
struct config {
	char *socket; /* where the server listens (-socket) */
#if STEP >= 7

	/* pidfile is the file whose lock says that a server runs (-pidfile). */
	char *pidfile;
#endif
#if STEP >= 11
	char *syslog;  /* the syslog daemon's datagram socket (-syslog) */
	char *logfile; /* where messages go that syslog cannot take (-log) */
#endif
#if STEP >= 12

	/* max_workers is how many connections are served at once (-maxworkers). */
	long max_workers;

	/* idle is how long a connection may stay with nothing moving on it
	 * before its worker ends it (-idle), as given and in nanoseconds. */
	char *idle;
	long long idle_ns;
#endif
};

/* server is what the running server holds. */
struct server {
	int listener;    /* the listening socket */
	const char *path; /* the path it is bound to */
	int accept_delay; /* ms to wait after a failed accept; 0 after a success */
#if STEP >= 11
	double accept_logged; /* when an accept failure was last logged, in seconds */
	long accept_held;     /* accept failures not logged since */
#endif
#if STEP >= 7
	int lock;            /* the locked pid file: only one copy runs */
	const char *pidfile; /* its path */
#endif
#if STEP >= 10
	struct stat socket; /* the socket file it bound, for shutdown */
#endif
#if STEP >= 12
	pid_t *workers; /* the pids of the workers not yet reaped */
	long nworkers;  /* how many there are */
	long max;       /* how many workers may run at once */
	struct timeval idle; /* how long a connection may stay idle */

	double last_trouble; /* when log_trouble last logged, in seconds */
	long held_trouble;   /* how many messages it has held back since */
	char last_held[1024]; /* the last of them */
#endif
};

/* ---- errors: one line, as the Go program's error values ---- */

/*
 * errbuf holds the message of the last failure; a function that fails
 * fills it (fail, wrap) and returns -1, and main or the launcher prints it.
 */
static char errbuf[32768];

/* fail formats a message into errbuf and returns -1. */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	return -1;
}

#if STEP >= 7

/* wrap puts prefix before the message in errbuf, for context, and returns -1. */
static int wrap(const char *prefix)
{
	size_t p = strlen(prefix), len = strnlen(errbuf, sizeof errbuf - 1 - p);
	memmove(errbuf + p, errbuf, len);
	memcpy(errbuf, prefix, p);
	errbuf[p + len] = '\0';
	return -1;
}
#endif

/*
 * errstr is strerror(e) with a lower-case first letter, as the Go
 * program words the same errors: "no such file or directory".
 */
static const char *errstr(int e)
{
	static char buf[256];
	snprintf(buf, sizeof buf, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] += 'a' - 'A';
	return buf;
}

/*
 * utf8_len returns the length of the UTF-8 sequence at p, or 0 if the
 * bytes there are not valid UTF-8 (an overlong form, a surrogate, a
 * stray continuation byte), as Go's utf8.DecodeRuneInString decides.
 */
static size_t utf8_len(const unsigned char *p)
{
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
	if (p[0] < 0x80)
		return 1;
	else if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, lo = p[0] == 0xe0 ? 0xa0 : 0x80, hi = p[0] == 0xed ? 0x9f : 0xbf;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, lo = p[0] == 0xf0 ? 0x90 : 0x80, hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * is_control reports whether the character at p is a control character,
 * as Go's unicode.IsControl says: C0 (below 0x20), DEL, or C1 (U+0080 to
 * U+009F, two bytes in UTF-8, 0xc2 0x80 to 0xc2 0x9f), which some
 * terminals obey as escape sequences as well.
 */
static int is_control(const unsigned char *p)
{
	return *p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
}

/*
 * escape appends s to the buffer out (of n bytes, at *len) with every
 * control character escaped as Go's %q does, and, when quote is set, the
 * quote and the backslash too. A byte that is not valid UTF-8 is escaped
 * as \xNN, as %q does, so that what a terminal shows is what was there.
 */
static void escape(char *out, size_t n, size_t *len, const char *s, int quote)
{
	for (const unsigned char *p = (const unsigned char *)s; *p && *len + 7 < n; p++) {
		const char *named = NULL;
		switch (*p) {
		case '\a': named = "\\a"; break;
		case '\b': named = "\\b"; break;
		case '\f': named = "\\f"; break;
		case '\n': named = "\\n"; break;
		case '\r': named = "\\r"; break;
		case '\t': named = "\\t"; break;
		case '\v': named = "\\v"; break;
		case '"': named = quote ? "\\\"" : NULL; break;
		case '\\': named = quote ? "\\\\" : NULL; break;
		}
		size_t seq = utf8_len(p);
		if (named) {
			*len += (size_t)snprintf(out + *len, n - *len, "%s", named);
		} else if (is_control(p) && seq == 2) {
			*len += (size_t)snprintf(out + *len, n - *len, "\\u%04x", p[1]);
			p++;
		} else if (is_control(p) || seq == 0) {
			*len += (size_t)snprintf(out + *len, n - *len, "\\x%02x", *p);
		} else {
			for (size_t i = 0; i < seq && *len + 1 < n; i++)
				out[(*len)++] = (char)p[i];
			p += seq - 1;
		}
	}
	out[*len] = '\0';
}

/*
 * quoted returns s in double quotes, escaped (Go's %q), in one of a few
 * buffers that the next calls reuse: a message can quote two paths.
 */
static const char *quoted(const char *s)
{
	static char bufs[4][4 * PATH_MAX + 3];
	static int next;
	char *out = bufs[next++ % 4];
	size_t len = 1;
	out[0] = '"';
	escape(out, sizeof bufs[0] - 1, &len, s, 1);
	out[len++] = '"';
	out[len] = '\0';
	return out;
}

/*
 * one_line escapes the control characters in s, a newline above all, so
 * that a message stays one line whatever path it quotes: the launcher
 * reads one line, and a newline in a log could start a forged entry.
 */
static const char *one_line(const char *s)
{
	static char buf[sizeof errbuf * 4];
	int control = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		control |= is_control(p);
	if (!control)
		return s;
	size_t len = 0;
	escape(buf, sizeof buf, &len, s, 1);
	return buf;
}

/* ---- files ---- */

/* file_type names the type of file a mode describes, for messages. */
static const char *file_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symbolic link";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR:
	case S_IFBLK: return "a device";
	case S_IFSOCK: return "a socket";
	}
	return "a file of unknown type";
}
#if STEP >= 7

/* perm_string shows mode's permission bits as ls does: "-rw-r--r--". */
static const char *perm_string(mode_t mode)
{
	static char s[11];
	const char *rwx = "rwxrwxrwx";
	s[0] = '-';
	for (int i = 0; i < 9; i++)
		s[i + 1] = mode & (0400 >> i) ? rwx[i] : '-';
	s[10] = '\0';
	return s;
}

/*
 * check_owner fails unless st, of the directory or symbolic link name on
 * the way to path, belongs to root or to this user.
 */
static int check_owner(const char *path, const char *name, const struct stat *st)
{
	if (st->st_uid == 0 || st->st_uid == geteuid())
		return 0;
	return fail("%s: %s %s belongs to uid %u, not root or uid %u; refusing to use it",
		    quoted(path), file_type(st->st_mode), quoted(name), (unsigned)st->st_uid, (unsigned)geteuid());
}

/*
 * check_directory fails unless dir, on the way to path, is a directory of
 * root or of this user that group and others may not write, or may write
 * only with the sticky bit set, as /tmp.
 */
static int check_directory(const char *path, const char *dir)
{
	struct stat st;
	if (lstat(dir, &st) < 0)
		return fail("%s: %s: %s", quoted(path), quoted(dir), errstr(errno));
	if (!S_ISDIR(st.st_mode))
		return fail("%s: %s is not a directory", quoted(path), quoted(dir));
	if (check_owner(path, dir, &st) < 0)
		return -1;
	if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
		return fail("%s: the directory %s (mode %s) may be written by group or others and is not sticky; refusing to use it",
			    quoted(path), quoted(dir), perm_string(st.st_mode));
	return 0;
}

/*
 * check_directories fails unless every directory on the way to path, and
 * every symbolic link followed on the way, belongs to root or to this
 * user, and no directory may be written by group or others unless it is
 * sticky. Otherwise another user could rename or replace a name on the
 * way, and send a server running as root to write or remove one of root's
 * files. It resolves the path one name at a time, as the kernel does
 * (path_resolution(7)), so it checks both the names as given and where
 * their links lead. path is absolute (abs_path).
 */
static int check_directories(const char *path)
{
	static char rest[2 * PATH_MAX], dir[PATH_MAX], next[PATH_MAX], target[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (n >= sizeof rest)
		return fail("%s: %s", quoted(path), errstr(ENAMETOOLONG));
	memcpy(rest, path, n);
	rest[n] = '\0';
	strcpy(dir, "/");
	if (check_directory(path, dir) < 0)
		return -1;
	for (int links = 0; rest[0] != '\0';) {
		/* Take the first name off rest. */
		char name[NAME_MAX + 1];
		size_t len = strcspn(rest, "/");
		if (len > NAME_MAX)
			return fail("%s: %s", quoted(path), errstr(ENAMETOOLONG));
		memcpy(name, rest, len);
		name[len] = '\0';
		memmove(rest, rest + len + (rest[len] == '/'), strlen(rest + len + (rest[len] == '/')) + 1);
		if (len == 0 || strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			/* dir holds no link: it is resolved already. */
			char *last = strrchr(dir, '/');
			last[last == dir] = '\0';
			continue;
		}
		if (snprintf(next, sizeof next, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name) >= (int)sizeof next)
			return fail("%s: %s", quoted(path), errstr(ENAMETOOLONG));
		struct stat st;
		if (lstat(next, &st) < 0)
			return fail("%s: %s", quoted(path), errstr(errno));
		if (S_ISLNK(st.st_mode)) {
			if (check_owner(path, next, &st) < 0)
				return -1;
			if (++links > 40) /* the kernel's limit */
				return fail("%s: %s", quoted(path), errstr(ELOOP));
			ssize_t t = readlink(next, target, sizeof target - 1);
			if (t < 0)
				return fail("%s: %s", quoted(path), errstr(errno));
			target[t] = '\0';
			if (target[0] == '/')
				strcpy(dir, "/");
			/* rest = target "/" rest */
			size_t r = strlen(rest);
			if ((size_t)t + 1 + r >= sizeof rest)
				return fail("%s: %s", quoted(path), errstr(ENAMETOOLONG));
			memmove(rest + t + 1, rest, r + 1);
			memcpy(rest, target, (size_t)t);
			rest[t] = '/';
			continue;
		}
		if (check_directory(path, next) < 0)
			return -1;
		strcpy(dir, next);
	}
	return 0;
}

/*
 * open_private_file opens the file at path, or refuses it unless it is a
 * regular file that this user owns and no one else may write: in /tmp,
 * another user may plant a link, a FIFO or a file of theirs for a daemon
 * running as root to trust (CVE-2018-16888). A file with a second name (a
 * hard link) is refused too: another user may have linked a file of this
 * user's there, for the server to write into. O_NOFOLLOW guards the last
 * name only: check_directories first makes sure that nobody else controls
 * the directories on the way. A FIFO must not block: O_NONBLOCK.
 * O_CLOEXEC: no program this one might execute inherits it.
 */
static int open_private_file(const char *path, int flags, mode_t perm)
{
	if (check_directories(path) < 0)
		return -1;
	int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, perm);
	if (fd < 0 && (errno == ELOOP || errno == ENXIO))
		return fail("%s is a symbolic link, a FIFO or a socket; refusing to use it", quoted(path));
	if (fd < 0)
		return fail("open %s: %s", path, errstr(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		fail("stat %s: %s", path, errstr(errno));
		close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		fail("%s has %lu links (another name for the same file); refusing to use it", quoted(path), (unsigned long)st.st_nlink);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		fail("%s is %s of uid %u, mode %s: not one that only uid %u may write; refusing to use it",
		     quoted(path), file_type(st.st_mode), (unsigned)st.st_uid, perm_string(st.st_mode), (unsigned)geteuid());
		close(fd);
		return -1;
	}
	return fd;
}
#endif
#if STEP >= 10

/*
 * is_at reports whether path still names the file that st describes: the
 * same device and inode.
 */
static int is_at(const char *path, const struct stat *st)
{
	struct stat now;
	return lstat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}
#endif
#if STEP >= 8

/*
 * lock_holder returns the pid that the locked pid file fd names: the
 * holder of the lock wrote it there (recommendation 8). Until it has,
 * "unknown".
 */
static const char *lock_holder(int fd)
{
	static char pid[32];
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	char *end;
	long v = strtol(buf, &end, 10);
	while (*end == '\n' || *end == ' ' || *end == '\t' || *end == '\r')
		end++;
	if (end == buf || *end != '\0' || v <= 0 || v > INT_MAX)
		return "unknown";
	snprintf(pid, sizeof pid, "%ld", v);
	return pid;
}
#endif
#if STEP >= 7

/*
 * check_unreadable fails if the group or others may read the open file fd
 * at path: whoever can open it can hold its lock.
 */
static int check_unreadable(const char *path, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail("stat %s: %s", path, errstr(errno));
	if ((st.st_mode & 044) != 0)
		return fail("%s has mode %s: others may open it and hold its lock (flock needs only a read descriptor); refusing to use it",
			    quoted(path), perm_string(st.st_mode));
	return 0;
}

/*
 * lock_pidfile locks the pid file so that only one copy runs
 * (recommendation 7). The kernel drops an flock(2) when the last
 * descriptor of the open file goes, however the server ends: the lock
 * never goes stale. The server locks it itself, so /proc/locks names the
 * server; a worker is a fork of the server and so gets a copy of the
 * descriptor, which it closes first thing (start_worker), or a worker
 * alive after the server's kill -9 would hold the lock on.
 */
static int lock_pidfile(const char *path)
{
	int fd = open_private_file(path, O_RDWR | O_CREAT, 0600);
	if (fd >= 0 && check_unreadable(path, fd) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return wrap("pid file: ");
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
#if STEP >= 8
			fail("another copy is running: %s is locked by pid %s", quoted(path), lock_holder(fd));
#else
			fail("another copy is running: %s is locked", quoted(path));
#endif
		else
			fail("lock %s: %s", quoted(path), errstr(errno));
		close(fd);
		return -1;
	}
#if STEP >= 10
	/*
	 * A server that shuts down removes its pid file while it holds the lock
	 * (recommendation 10). If that happened between our open and our lock,
	 * the lock is on a file that is no longer at path: start again.
	 */
	struct stat st;
	if (fstat(fd, &st) == 0 && !is_at(path, &st)) {
		close(fd);
		return lock_pidfile(path);
	}
#endif
	return fd;
}
#endif
#if STEP >= 8

/*
 * write_pid writes the server's pid and a newline into the locked pid file
 * (recommendation 8), for kill $(cat PIDFILE) and start-stop-daemon
 * --pidfile. It empties the file only now that the server holds the lock:
 * a copy that lost the race must not erase the winner's pid. The lock, not
 * the pid, says whether a server runs.
 */
static int write_pid(int fd)
{
	char line[32];
	int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) != n || fsync(fd) < 0)
		return fail("pid file: %s", errstr(errno));
	return 0;
}
#endif

/* ---- logging ---- */
#if STEP >= 11

/* Priorities: facility daemon (3) << 3 | severity err (3) or info (6). */
#define PRIORITY_ERR (3 << 3 | 3)
#define PRIORITY_INFO (3 << 3 | 6)

/* daemon_log sends each message to syslog (RFC 3164), or else to the -log
 * file; before start_logging, it counts them as lost. */
static struct {
	const char *syslog_path;
	int file;         /* the -log file */
	const char *path; /* the -log path, to reopen it after a rotation */
	int on_stderr;    /* whether descriptor 2 is the -log file */
	long lost;        /* messages neither took, told with the next one */
} daemon_log = {NULL, -1, NULL, 0, 0};

/* stamp formats the time as RFC 3164 wants it: "Jan  2 15:04:05". */
static const char *stamp(void)
{
	static char buf[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
	return buf;
}

/*
 * start_logging opens the -log file. Once the server is ready, descriptor
 * 2 moves to it too (take_stderr).
 */
static int start_logging(const char *syslog_path, const char *log_path)
{
	int fd = open_private_file(log_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		return wrap("log file: ");
	daemon_log.syslog_path = syslog_path;
	daemon_log.file = fd;
	daemon_log.path = log_path;
	/*
	 * A write past RLIMIT_FSIZE must fail with EFBIG, and its message be
	 * counted as lost, rather than end the server: SIGXFSZ's default
	 * action. A Go program catches SIGXFSZ and does nothing with it.
	 */
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	sigaction(SIGXFSZ, &ignore, NULL);
	return 0;
}

/*
 * take_stderr points descriptor 2 at the -log file, so that what the
 * server or a worker writes there is not lost in /dev/null
 * (recommendation 11), or, before start_logging, at /dev/null
 * (descriptor 0).
 */
static void take_stderr(void)
{
	if (daemon_log.file < 0) {
		dup2(0, 2);
		return;
	}
	daemon_log.on_stderr = dup2(daemon_log.file, 2) == 2;
}

/*
 * reopen_if_moved reopens the -log file when its path no longer names the
 * file the logger holds: logrotate renamed it, or someone deleted it.
 * Otherwise the server would write to the renamed file for ever. A stat
 * per line written to the file is cheap beside the write. Descriptor 2
 * follows, and so do the workers started from now on. A new file that
 * cannot be opened (refused, say, or with no descriptor left) leaves the
 * logger on the old one.
 */
static void reopen_if_moved(void)
{
	struct stat open_st;
	if (fstat(daemon_log.file, &open_st) < 0 || is_at(daemon_log.path, &open_st))
		return;
	/* A refusal must not overwrite the failure that errbuf may hold. */
	static char saved[sizeof errbuf];
	memcpy(saved, errbuf, sizeof errbuf);
	int fd = open_private_file(daemon_log.path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	memcpy(errbuf, saved, sizeof errbuf);
	if (fd < 0)
		return;
	if (daemon_log.on_stderr)
		dup2(fd, 2);
	close(daemon_log.file);
	daemon_log.file = fd;
}

/*
 * send_syslog sends one datagram to the syslog daemon at path, on a new
 * socket that finds a restarted syslog. MSG_DONTWAIT: a syslog that
 * stopped reading costs an EAGAIN, not a stuck server.
 */
static int send_syslog(const char *path, const char *datagram)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (path == NULL || strlen(path) > MAX_SOCKET_PATH)
		return -1;
	memcpy(addr.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	ssize_t n = sendto(fd, datagram, strlen(datagram), MSG_DONTWAIT, (struct sockaddr *)&addr, sizeof addr);
	close(fd);
	return n < 0 ? -1 : 0;
}

/* write_all writes all of len bytes of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * log_send writes one message, as one line: one_line escapes any newline
 * that a path or a peer put in it, so that no one can forge a line.
 */
static void log_send(int priority, const char *fmt, va_list ap)
{
	static char text[sizeof errbuf + 256], line[sizeof text * 4 + 256], datagram[sizeof line + 8];
	vsnprintf(text, sizeof text, fmt, ap);
	int n = snprintf(line, sizeof line, "%s %s[%d]: %s", stamp(), prog, (int)getpid(), one_line(text));
	if (daemon_log.lost > 0)
		n += snprintf(line + n, sizeof line - (size_t)n, " (%ld earlier messages lost)", daemon_log.lost);
	snprintf(datagram, sizeof datagram, "<%d>%s", priority, line);
	if (send_syslog(daemon_log.syslog_path, datagram) == 0) {
		daemon_log.lost = 0;
		return;
	}
	snprintf(line + n, sizeof line - (size_t)n, "\n");
	if (daemon_log.file >= 0)
		reopen_if_moved();
	if (daemon_log.file >= 0 && write_all(daemon_log.file, line, strlen(line)) == 0)
		daemon_log.lost = 0;
	else
		daemon_log.lost++;
}

/* log_error and log_info log with priority err and info (recommendation 11). */
__attribute__((format(printf, 1, 2))) static void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_send(PRIORITY_ERR, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2))) static void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_send(PRIORITY_INFO, fmt, ap);
	va_end(ap);
}
#else
#if STEP >= 6

/*
 * log_error reports a failure of the running server. It writes to standard
 * error, which is /dev/null once the server is ready (recommendation 6):
 * until step 11 sends them to syslog, these messages are lost.
 */
#else

/*
 * log_error reports a failure of the running server. It writes to standard
 * error, which the server shares with the launcher: the terminal or pipe
 * of whoever started it, even after the launcher has exited.
 */
#endif
__attribute__((format(printf, 1, 2))) static void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}
#endif

/* ---- signals ---- */
#if STEP >= 10

/*
 * The signal handler only records what came, and wakes the main loop
 * through a pipe (the self-pipe trick): the loop, not the handler, acts.
 * The handler calls nothing but write(2), which is async-signal-safe, and
 * gives errno back as it found it.
 */
static volatile sig_atomic_t stopping; /* SIGTERM or SIGINT: time to shut down */
#if STEP >= 12
static volatile sig_atomic_t children; /* SIGCHLD: a worker has exited */
#endif
static int wake[2] = {-1, -1}; /* the self-pipe: the handler writes, poll reads */

static void on_signal(int sig)
{
	int saved = errno;
#if STEP >= 12
	if (sig == SIGCHLD)
		children = 1;
	else
		stopping = 1;
#else
	(void)sig;
	stopping = 1;
#endif
	/* The pipe is non-blocking: when it is full, the loop is awake anyway. */
	if (write(wake[1], "", 1) < 0) {
	}
	errno = saved;
}

/* drain empties the self-pipe, whose bytes only said "wake up". */
static void drain(void)
{
	char buf[64];
	while (read(wake[0], buf, sizeof buf) > 0) {
	}
}

/*
 * catch_signals ignores the signals a daemon has no use for and catches
 * the ones it acts on (recommendation 10). It has no terminal to hang up
 * (SIGHUP) or to stop it for job control (SIGTSTP, SIGTTIN, SIGTTOU), and a
 * client that goes away must cost a failed write, not the server's life
 * (SIGPIPE). SIGTERM and SIGINT are caught instead, and the main loop
 * shuts down cleanly.
 */
static int catch_signals(void)
{
	if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) < 0)
		return fail("signal pipe: %s", errstr(errno));
	struct sigaction ignore = {.sa_handler = SIG_IGN}, caught = {.sa_handler = on_signal};
	sigemptyset(&ignore.sa_mask);
	sigemptyset(&caught.sa_mask);
	const int ignored[] = {SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE};
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		sigaction(ignored[i], &ignore, NULL);
	sigaction(SIGTERM, &caught, NULL);
	sigaction(SIGINT, &caught, NULL);
#if STEP >= 12
	/* Recommendation 12: hear when a worker exits, to reap it. */
	caught.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &caught, NULL);
#endif
	return 0;
}
#endif

/* ---- the server ---- */

#if STEP >= 7

/*
 * someone_listens connects to the socket at path: only a refused
 * connection proves it stale. The connect does not wait: a full queue says
 * EAGAIN.
 */
static int someone_listens(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	memcpy(addr.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	int refused = connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno == ECONNREFUSED;
	close(fd);
	return !refused;
}

/*
 * remove_stale_socket removes the socket at path, if there is one and
 * nobody accepts connections there: the lock keeps out only copies that
 * share it. Anything but a socket is refused and left alone: the path may
 * be a typo for a file that matters.
 */
#else

/*
 * remove_stale_socket removes the socket at path, if there is one. It does
 * not ask whether a server still listens there, so a second copy takes the
 * socket from the first: the flaw that step 07 mends. Anything but a
 * socket is refused and left alone: the path may be a typo for a file that
 * matters.
 */
#endif
static int remove_stale_socket(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail("socket %s: %s", quoted(path), errstr(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return fail("socket %s: exists and is not a socket (%s); refusing to remove it", quoted(path), file_type(st.st_mode));
#if STEP >= 7
	if (someone_listens(path))
		return fail("socket %s: a server accepts connections there; refusing to remove it", quoted(path));
#endif
	if (unlink(path) < 0)
		return fail("remove stale socket %s: %s", quoted(path), errstr(errno));
	return 0;
}

/*
 * listen_on removes a socket that an earlier server left behind at path,
 * then listens there: socket(), bind(), listen(). The socket is
 * non-blocking, so that accept() never waits when poll() was wrong, and a
 * worker closes its copy first thing.
 */
static int listen_on(const char *path)
{
#if STEP >= 7
	/* Nobody else may control the directories on the way (check_directories). */
	if (check_directories(path) < 0)
		return wrap("socket: ");
#endif
	if (remove_stale_socket(path) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket: %s", errstr(errno));
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	memcpy(addr.sun_path, path, strlen(path)); /* parse_flags checked its length */
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		fail("bind %s: %s", quoted(path), errstr(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		fail("listen %s: %s", quoted(path), errstr(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* start_server sets the server up and listens. */
static int start_server(const struct config *cfg, struct server *srv)
{
	memset(srv, 0, sizeof *srv);
	srv->path = cfg->socket;
#if STEP >= 11
	srv->accept_logged = -1e9; /* the first failure is logged at once */
#endif
#if STEP >= 9
	/*
	 * Recommendation 9: choose the permissions of the files the server
	 * creates rather than inherit whatever umask the launcher had. 027
	 * takes write from the group and everything from others. It comes
	 * first, before the server creates anything.
	 */
	umask(027);
#endif
#if STEP >= 10
	/* Recommendation 10: ignore the signals a daemon has no use for. */
	if (catch_signals() < 0)
		return -1;
#endif
#if STEP >= 11
	/* Recommendation 11: from here on, messages go to syslog. */
	if (start_logging(cfg->syslog, cfg->logfile) < 0)
		return -1;
#endif
#if STEP >= 4
	/*
	 * Recommendation 4: work in "/", so that the server keeps no directory
	 * busy (a file system it held could not be unmounted) and relative
	 * paths cannot resolve somewhere unexpected.
	 */
	if (chdir("/") < 0)
		return fail("chdir /: %s", errstr(errno));
#endif
#if STEP >= 7
	/*
	 * Recommendation 7: take the lock before touching the socket, so that a
	 * second copy gives up without disturbing the first.
	 */
	srv->pidfile = cfg->pidfile;
	if ((srv->lock = lock_pidfile(cfg->pidfile)) < 0)
		return -1;
#endif
	if ((srv->listener = listen_on(cfg->socket)) < 0) {
#if STEP >= 7
		close(srv->lock);
#endif
		return -1;
	}
#if STEP >= 10
	/*
	 * Recommendation 10: remember which socket file this server made, so
	 * that shutdown removes that one and no other.
	 */
	int ok = lstat(cfg->socket, &srv->socket) == 0 ? 0 : fail("lstat %s: %s", quoted(cfg->socket), errstr(errno));
	if (ok == 0)
		/* Recommendation 8: now that it listens, say which process does. */
		ok = write_pid(srv->lock);
#elif STEP >= 8
	/* Recommendation 8: now that it listens, say which process does. */
	int ok = write_pid(srv->lock);
#endif
#if STEP >= 8
	if (ok < 0) {
		close(srv->listener);
		close(srv->lock);
		return -1;
	}
#endif
#if STEP >= 12
	srv->max = cfg->max_workers;
	srv->idle.tv_sec = (time_t)(cfg->idle_ns / 1000000000);
	srv->idle.tv_usec = (suseconds_t)(cfg->idle_ns % 1000000000 / 1000);
	srv->last_trouble = -1e9;
	if ((srv->workers = calloc((size_t)srv->max, sizeof *srv->workers)) == NULL) {
		close(srv->listener);
		close(srv->lock);
		return fail("allocate the table of %ld workers: %s", srv->max, errstr(errno));
	}
#endif
	return 0;
}

/*
 * is_temporary reports whether an accept error may pass by itself: the
 * process or the system is out of descriptors or memory for a moment, or
 * a client gave up before it was accepted.
 */
static int is_temporary(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == ECONNABORTED || e == EINTR;
}

/* sleep_ms waits ms milliseconds, or less if a signal comes. */
static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}
#if STEP >= 11

/* now returns the monotonic clock in seconds. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
#endif

/*
 * echo sends back every byte it reads from fd until the client has closed
 * its writing side (a read of 0 bytes). It returns 0, or the errno of the
 * read or write that failed, which *op names.
 */
static int echo(int fd, const char **op)
{
	static char buf[ECHO_BUFFER];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return *op = "read", errno;
		if (n == 0)
			return 0;
		/* A write to a socket may take only part. */
		for (char *p = buf; n > 0;) {
			ssize_t w = write(fd, p, (size_t)n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return *op = "write", errno;
			p += w;
			n -= w;
		}
	}
}

#if STEP >= 12
/*
 * run_worker echoes the connection conn, then closes it, and returns the
 * worker's exit status. A client that goes away before it has read its
 * echo (EPIPE, ECONNRESET), or lets nothing move for the idle limit
 * (EAGAIN, from the timeouts that limit_idle set on the socket), is no
 * error: any client could otherwise fill the log. Its messages go to
 * descriptor 2, the -log file, with the time and its pid, as the server's.
 */
#else
/*
 * run_worker echoes the connection conn, then closes it, and returns the
 * worker's exit status.
 */
#endif
static int run_worker(int conn)
{
	const char *op = "close";
	int err = echo(conn, &op);
	if (err == 0 && close(conn) < 0)
		err = errno;
#if STEP >= 12
	if (err != 0 && err != EPIPE && err != ECONNRESET && err != EAGAIN) {
		dprintf(2, "%s %s[%d]: echo: %s: %s\n", stamp(), prog, (int)getpid(), op, errstr(err));
		return 1;
	}
#else
	if (err != 0) {
		dprintf(2, "%s: echo: %s: %s\n", prog, op, errstr(err));
		return 1;
	}
#endif
	return 0;
}

/*
 * start_worker forks a worker that echoes the connection conn: one child
 * per connection, as the C original does. It returns the worker's pid, or
 * -1 with errno set. The child first lets go of what belongs to the
 * server, fork having copied it all: the listening socket, above all,
 * which would otherwise stay open as long as any worker lives.
 */
static pid_t start_worker(const struct server *srv, int conn)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	close(srv->listener);
#if STEP >= 7
	/* The lock lives as long as any copy of its descriptor: a worker
	 * holding one would keep out a new server after the old one died. */
	close(srv->lock);
#endif
#if STEP >= 10
	/* The self-pipe and the handlers are the server's: a worker must die
	 * of SIGTERM, the default, not note it and go on. */
	close(wake[0]);
	close(wake[1]);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
#endif
#if STEP >= 12
	signal(SIGCHLD, SIG_DFL);
#endif
	_exit(run_worker(conn));
}
#if STEP >= 12

/*
 * log_trouble logs a worker's trouble at most once a second, so that a
 * storm of them cannot flood the log, and tells how many it held back.
 * What it holds back is due a second after the last message: the main
 * loop then logs it (log_held_trouble), and so does shutdown.
 */
__attribute__((format(printf, 2, 3))) static void log_trouble(struct server *srv, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (now() - srv->last_trouble < 1) {
		srv->held_trouble++;
		snprintf(srv->last_held, sizeof srv->last_held, "%s", msg);
		return;
	}
	if (srv->held_trouble > 0 && n > 0 && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - (size_t)n, " (and %ld more since the last such message)", srv->held_trouble);
	log_error("%s", msg);
	srv->last_trouble = now();
	srv->held_trouble = 0;
}

/*
 * log_held_trouble logs the last message that log_trouble held back, with
 * how many more it held back before it, so that no trouble goes unlogged
 * for more than a second, even when no more comes.
 */
static void log_held_trouble(struct server *srv)
{
	if (srv->held_trouble == 0)
		return;
	if (srv->held_trouble > 1)
		log_error("%s (and %ld more since the last such message)", srv->last_held, srv->held_trouble - 1);
	else
		log_error("%s", srv->last_held);
	srv->last_trouble = now();
	srv->held_trouble = 0;
}

/*
 * trouble_wait returns how many milliseconds poll() may wait before the
 * messages log_trouble held back are due, or -1 when none are held.
 */
static int trouble_wait(const struct server *srv)
{
	if (srv->held_trouble == 0)
		return -1;
	double left = srv->last_trouble + 1 - now();
	return left > 0 ? (int)(left * 1000) + 1 : 0;
}

/* forget_worker takes pid out of the table of workers. */
static void forget_worker(struct server *srv, pid_t pid)
{
	for (long i = 0; i < srv->nworkers; i++)
		if (srv->workers[i] == pid) {
			srv->workers[i] = srv->workers[--srv->nworkers];
			return;
		}
}

/*
 * reap collects the exit status of every worker that has exited, so that
 * none stays a zombie (recommendation 12). Signals do not queue: several
 * workers may have exited for one SIGCHLD, so it waits, without blocking,
 * until none is left to reap. waitpid returns 0 while the workers left are
 * still running, and -1 (ECHILD) once there are none; a loop that went on
 * while it returned 0 would spin.
 */
static void reap(struct server *srv)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		forget_worker(srv, pid);
		/* SIGTERM is how the server itself ends a worker: not news. */
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM) {
			char name[64];
			snprintf(name, sizeof name, "%s", strsignal(WTERMSIG(status)));
			if (name[0] >= 'A' && name[0] <= 'Z')
				name[0] += 'a' - 'A';
			log_trouble(srv, "worker %d: killed by signal %d (%s)", (int)pid, WTERMSIG(status), name);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
			log_trouble(srv, "worker %d: exited with status %d", (int)pid, WEXITSTATUS(status));
		}
	}
}

/*
 * stop_workers ends the workers still running and reaps them: SIGTERM
 * first, then, after WORKER_GRACE_MS, SIGKILL, which no worker can ignore.
 * It returns how many it ended.
 */
static long stop_workers(struct server *srv)
{
	reap(srv); /* those that have exited already are not for it to end */
	long ended = srv->nworkers;
	for (long i = 0; i < srv->nworkers; i++)
		kill(srv->workers[i], SIGTERM);
	double deadline = now() + WORKER_GRACE_MS / 1000.0;
	for (reap(srv); srv->nworkers > 0; reap(srv)) {
		int left = (int)((deadline - now()) * 1000);
		if (left > 0) {
			struct pollfd woken = {.fd = wake[0], .events = POLLIN};
			poll(&woken, 1, left); /* until SIGCHLD, or the grace is up */
			drain();
			continue;
		}
		for (long i = 0; i < srv->nworkers; i++) {
			log_error("worker %d did not end on SIGTERM: killing it", (int)srv->workers[i]);
			kill(srv->workers[i], SIGKILL);
			waitpid(srv->workers[i], NULL, 0);
		}
		srv->nworkers = 0;
	}
	return ended;
}

/*
 * client_gone reports whether the client of the connection conn closed it
 * while it waited in the listen queue, as a burst of impatient clients
 * does: a worker started for each would find nothing to echo, and a new
 * client would wait behind them all. poll(), with a timeout of 0, does not
 * wait: it says POLLHUP once both directions are shut. A client that has
 * only closed its writing side (POLLRDHUP alone) still waits for its echo.
 */
static int client_gone(int conn)
{
	struct pollfd p = {.fd = conn, .events = POLLIN | POLLRDHUP};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0;
}

/*
 * limit_idle gives the connection conn a time limit on every read and
 * write: a read that waits longer than idle for a byte, or a write that
 * waits as long for room, fails with EAGAIN, and the worker ends the
 * connection. A client that sends nothing, or never reads its echo, cannot
 * hold a worker, one of the -maxworkers, for ever. The limits are the
 * socket's own options, so the worker inherits them at no cost.
 */
static int limit_idle(int conn, const struct timeval *idle)
{
	if (setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, idle, sizeof *idle) < 0 ||
	    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, idle, sizeof *idle) < 0)
		return -1;
	return 0;
}
#endif

#if STEP >= 11
/*
 * log_accept_failure logs that accept failed with errno e, and when it
 * tries again, at most once a second (recommendation 11). A success resets
 * the delay, so a shortage that lets every other accept through would
 * otherwise log every few milliseconds. The next message it logs says how
 * many it held back.
 */
static void log_accept_failure(struct server *srv, int e)
{
	if (now() - srv->accept_logged < 1) {
		srv->accept_held++;
		return;
	}
	char delay[16];
	if (srv->accept_delay < 1000)
		snprintf(delay, sizeof delay, "%dms", srv->accept_delay);
	else
		snprintf(delay, sizeof delay, "%ds", srv->accept_delay / 1000);
	log_error("accept: %s; trying again in %s (%ld more failures since the last message)", errstr(e), delay, srv->accept_held);
	srv->accept_logged = now();
	srv->accept_held = 0;
}
#else
/* log_accept_failure logs that accept failed with errno e, and when it
 * tries again. */
static void log_accept_failure(const struct server *srv, int e)
{
	if (srv->accept_delay < 1000)
		log_error("accept: %s; trying again in %dms", errstr(e), srv->accept_delay);
	else
		log_error("accept: %s; trying again in %ds", errstr(e), srv->accept_delay / 1000);
}
#endif

/*
 * accept_one accepts a connection and hands it to a worker. A passing
 * failure, such as running out of descriptors, makes it wait and try again
 * rather than spin; any other failure ends the server.
 */
static int accept_one(struct server *srv)
{
	int conn = accept4(srv->listener, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0) {
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK)
			return 0; /* the client went away before we got to it */
		if (!is_temporary(e))
			return fail("accept: %s", errstr(e));
		srv->accept_delay = srv->accept_delay * 2 < MIN_ACCEPT_DELAY_MS ? MIN_ACCEPT_DELAY_MS : srv->accept_delay * 2;
		if (srv->accept_delay > MAX_ACCEPT_DELAY_MS)
			srv->accept_delay = MAX_ACCEPT_DELAY_MS;
		log_accept_failure(srv, e);
		sleep_ms(srv->accept_delay);
		return 0;
	}
	srv->accept_delay = 0;
#if STEP >= 12
	if (client_gone(conn)) {
		close(conn); /* no worker for a client that has gone */
		return 0;
	}
	if (limit_idle(conn, &srv->idle) < 0)
		log_trouble(srv, "connection: set the idle limit: %s", errstr(errno));
#endif
	pid_t pid = start_worker(srv, conn);
#if STEP >= 12
	if (pid < 0)
		/* Out of processes, say: drop this client, serve the next. */
		log_trouble(srv, "start worker: %s", errstr(errno));
	else
		srv->workers[srv->nworkers++] = pid;
#else
	if (pid < 0)
		log_error("start worker: %s", errstr(errno));
#endif
	close(conn); /* the worker has its own copy */
	return 0;
}

/*
 * serve hands every connection to a worker process of its own. One poll()
 * waits for whatever comes next, so that the loop can wait for other
 * events than connections as well. It returns 0 when asked to stop, or -1
 * when accept fails for good.
 */
static int serve(struct server *srv)
{
	for (;;) {
		struct pollfd fds[] = {
			{.fd = srv->listener, .events = POLLIN},
#if STEP >= 10
			{.fd = wake[0], .events = POLLIN}, /* a signal came */
#endif
		};
#if STEP >= 12
		/*
		 * At the cap, the loop does not watch the listener: the clients
		 * wait in the listen queue until a worker exits. poll() skips a
		 * negative descriptor.
		 */
		if (srv->nworkers >= srv->max)
			fds[0].fd = -1;
#endif
#if STEP >= 12
		int wait = trouble_wait(srv); /* held-back trouble is due then */
#else
		int wait = -1;
#endif
		if (poll(fds, sizeof fds / sizeof fds[0], wait) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll: %s", errstr(errno));
		}
#if STEP >= 10
		if (fds[1].revents != 0)
			drain();
		if (stopping)
			return 0;
#endif
#if STEP >= 12
		if (children) {
			children = 0;
			reap(srv);
		}
		if (trouble_wait(srv) == 0)
			log_held_trouble(srv);
#endif
		if (fds[0].revents != 0 && accept_one(srv) < 0)
			return -1;
	}
}
#if STEP >= 10

/*
 * shutdown_server ends the server cleanly (recommendation 10). It stops
 * listening and removes its socket, then removes the pid file while it
 * still holds the lock, and releases the lock last: a copy started
 * meanwhile either fails to lock or finds nothing left over. It removes a
 * path only while it names the file this server made: if someone deleted
 * the socket, another server may listen at that path now.
 */
static void shutdown_server(struct server *srv)
{
	close(srv->listener);
#if STEP >= 12
	long ended = stop_workers(srv);
	log_held_trouble(srv);
#endif
	if (is_at(srv->path, &srv->socket))
		unlink(srv->path);
	struct stat pidfile;
	if (fstat(srv->lock, &pidfile) == 0 && is_at(srv->pidfile, &pidfile))
		unlink(srv->pidfile);
	close(srv->lock);
#if STEP >= 12
	log_info("stopped: ended %ld workers", ended);
#elif STEP >= 11
	log_info("stopped");
#endif
}
#endif

/* ---- the launcher and the notification pipe ---- */
#if STEP >= 11

/*
 * release_stderr points descriptor 2 at the -log file (recommendation 11),
 * or at /dev/null as 0 and 1 are, if it is still the notification pipe
 * notify: the launcher stops reading once it has been told, and a later
 * write to the pipe would fail. A descriptor 2 that already moved
 * elsewhere stays.
 */
#elif STEP >= 6

/*
 * release_stderr points descriptor 2 at /dev/null, as 0 and 1 are
 * (recommendation 6), if it is still the notification pipe notify: the
 * launcher stops reading once it has been told, and a later write to the
 * pipe would fail. A descriptor 2 that already moved elsewhere stays.
 */
#endif
#if STEP >= 6
static void release_stderr(int notify)
{
	struct stat stderr_st, notify_st;
	if (fstat(2, &stderr_st) < 0 || fstat(notify, &notify_st) < 0)
		return;
	if (stderr_st.st_dev != notify_st.st_dev || stderr_st.st_ino != notify_st.st_ino)
		return;
#if STEP >= 11
	take_stderr(); /* the -log file (recommendation 11) */
#else
	dup2(0, 2); /* descriptor 0 is /dev/null */
#endif
}
#endif

/*
 * notify_launcher tells the launcher how the server's start went, on the
 * pipe whose writing end is notify, and closes it: after this the launcher
 * exits. err is NULL for a good start (systemd's daemon(7) calls this
 * notifying the original process).
 */
static void notify_launcher(int notify, const char *err)
{
#if STEP >= 6
	release_stderr(notify);
#endif
	if (err != NULL)
		dprintf(notify, "error: %s\n", one_line(err));
	else
		dprintf(notify, "ready %d\n", (int)getpid());
	close(notify);
}

/*
 * run_server sets the server up, tells the launcher how that went, and
 * serves. It returns the server's exit status.
 */
static int run_server(const struct config *cfg, int notify)
{
	struct server srv;
	int started = start_server(cfg, &srv);
	notify_launcher(notify, started < 0 ? errbuf : NULL);
	if (started < 0) {
#if STEP >= 11
		log_error("cannot start: %s", errbuf);
#endif
		return 1; /* the launcher prints the reason */
	}
#if STEP >= 11
	log_info("started: pid %d listens on %s", (int)getpid(), quoted(cfg->socket));
#endif
	int served = serve(&srv);
#if STEP >= 10
	shutdown_server(&srv);
#endif
	if (served < 0) {
		dprintf(2, "%s: %s\n", prog, one_line(errbuf));
		return 1;
	}
	return 0;
}
#if STEP >= 5

/*
 * run_session_leader starts the server in a process group of its own, then
 * returns, and its process exits (recommendation 5). It runs as the leader
 * of the new session, and a session leader cannot leave its process group:
 * setpgid() fails with EPERM. So the group is made for a child, the second
 * fork of the classic recipe, which is then neither the session's leader
 * nor able to acquire a controlling terminal by opening one. The classic
 * recipe stops there, with the server in the leader's group; the extra
 * setpgid() is this tutorial's stricter choice (step 05's README).
 */
static int run_session_leader(const struct config *cfg, int notify)
{
	pid_t server = fork();
	if (server < 0) {
		fail("start server: fork: %s", errstr(errno));
		notify_launcher(notify, errbuf);
		return 1; /* the launcher prints the reason */
	}
	if (server == 0) {
		if (setpgid(0, 0) < 0) {
			fail("start server: setpgid: %s", errstr(errno));
			notify_launcher(notify, errbuf);
			_exit(1);
		}
		_exit(run_server(cfg, notify));
	}
	return 0;
}
#endif

#if STEP >= 6
/*
 * await_ready reads the one line that the server writes on the
 * notification pipe: "ready PID" once it listens, or the reason it could
 * not start, which may be the first line of what the server wrote on its
 * standard error as it died. It returns the server's pid, or -1 with the
 * reason in errbuf.
 */
#else
/*
 * await_ready reads the one line that the server writes on the
 * notification pipe: "ready PID" once it listens, or the reason it could
 * not start. It returns the server's pid, or -1 with the reason in errbuf.
 */
#endif
static pid_t await_ready(int ready)
{
	static char line[sizeof errbuf * 4 + 16];
	size_t len = 0;
	while (len < sizeof line - 1) {
		ssize_t n = read(ready, line + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("wait for the server: %s", errstr(errno));
		if (n == 0 || line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	if (len == 0)
		return fail("the server exited before it was ready");
	if (strncmp(line, "ready ", 6) == 0) {
		char *end;
		long pid = strtol(line + 6, &end, 10);
		if (*end != '\0' || pid <= 0)
			return fail("the server reported %s", quoted(line));
		return (pid_t)pid;
	}
#if STEP >= 6
	if (strncmp(line, "error: ", 7) == 0)
		return fail("%s", line + 7);
	return fail("the server died before it was ready: %s", one_line(line));
#else
	return fail("%s", strncmp(line, "error: ", 7) == 0 ? line + 7 : line);
#endif
}
#if STEP >= 2

/*
 * close_inherited closes the descriptors that the launcher inherited,
 * beyond standard input, output and error, before it forks
 * (recommendation 2). A shell or a parent program may have left files,
 * sockets or pipes open, and fork passes every one on: the daemon would
 * hold them for as long as it lives. C has no runtime with descriptors of
 * its own, so it can close them outright (the Go launcher marks them
 * close-on-exec instead).
 */
static void close_inherited(void)
{
	if (close_range(3, ~0U, 0) == 0)
		return;
	/* A kernel older than Linux 5.9: one close a descriptor. */
	for (long fd = 3, max = sysconf(_SC_OPEN_MAX); fd < max; fd++)
		close((int)fd);
}
#endif

/*
 * run_launcher starts the server in the background and returns once it
 * listens, so that the shell gets its prompt back (recommendation 1). The
 * server outlives the launcher: when the launcher exits, init, or the
 * nearest child subreaper, becomes the server's parent.
 */
static int run_launcher(const struct config *cfg)
{
#if STEP >= 2
	close_inherited();
#endif
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return fail("notification pipe: %s", errstr(errno));
#if STEP >= 6
	/*
	 * Recommendation 6: the daemon's standard input, output and error are
	 * /dev/null rather than the launcher's. Otherwise it would keep the
	 * terminal open after the user has gone, and a caller reading the
	 * launcher's output, as out=$(echod) does, would wait for the daemon to
	 * exit. The server finds them open, so nothing it opens later lands on
	 * 0, 1 or 2 by accident.
	 *
	 * Until the server is ready, though, its standard error is the
	 * notification pipe: whatever dies before it can say why on the pipe
	 * (libc aborting on a failed assertion or a corrupt heap, say) writes
	 * why there, and the launcher prints it. The server moves descriptor 2
	 * off the pipe when it notifies (release_stderr).
	 */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return fail("open /dev/null: %s", errstr(errno));
#endif
	pid_t child = fork();
	if (child < 0)
#if STEP >= 5
		return fail("start session leader: fork: %s", errstr(errno));
#else
		return fail("start server: fork: %s", errstr(errno));
#endif
	if (child == 0) {
		close(pipefd[0]);
#if STEP >= 6
		dup2(null, 0);
		dup2(null, 1);
		dup2(pipefd[1], 2);
		close(null);
#endif
#if STEP >= 3
		/*
		 * Recommendation 3: the child calls setsid(), so it starts a new
		 * session, with no controlling terminal: hanging up the launcher's
		 * terminal cannot reach it, and reading from the terminal cannot
		 * stop it. A fresh child is never a process group leader, so
		 * setsid() cannot fail here.
		 */
		setsid();
#endif
#if STEP >= 5
		_exit(run_session_leader(cfg, pipefd[1]));
#else
		_exit(run_server(cfg, pipefd[1]));
#endif
	}
	close(pipefd[1]); /* now only the server holds the writing end */
#if STEP >= 6
	close(null);
#endif
	pid_t pid = await_ready(pipefd[0]);
	close(pipefd[0]);
	if (pid < 0)
		return -1;
#if STEP >= 5
	/*
	 * The session leader exits as soon as it has started the server. Reap
	 * it, so that the server's parent is init by the time the shell gets
	 * its prompt back.
	 */
	if (waitpid(child, NULL, 0) < 0)
		return fail("wait for session leader %d: %s", (int)child, errstr(errno));
#endif
	printf("%s: server %d listens on %s\n", prog, (int)pid, one_line(cfg->socket));
	return 0;
}

/* ---- the command line ---- */
#if STEP >= 4

/*
 * clean_path returns path with "//", "." and ".." resolved lexically, as
 * Go's filepath.Clean does, in a new string.
 */
static char *clean_path(const char *path)
{
	size_t n = strlen(path);
	char *out = malloc(n + 2);
	if (out == NULL)
		return NULL;
	size_t len = 0;
	int rooted = path[0] == '/';
	if (rooted)
		out[len++] = '/';
	size_t floor = len; /* ".." never goes above this */
	for (size_t i = 0; i < n;) {
		while (i < n && path[i] == '/')
			i++;
		size_t start = i;
		while (i < n && path[i] != '/')
			i++;
		size_t elen = i - start;
		if (elen == 0 || (elen == 1 && path[start] == '.'))
			continue;
		if (elen == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (len > floor) {
				while (len > floor && out[len - 1] != '/')
					len--;
				if (len > floor)
					len--;
				continue;
			}
			if (rooted)
				continue;
			floor = len + 2 + (len > 0); /* a leading ".." stays */
		}
		if (len > 0 && out[len - 1] != '/')
			out[len++] = '/';
		memcpy(out + len, path + start, elen);
		len += elen;
	}
	if (len == 0)
		out[len++] = '.';
	out[len] = '\0';
	return out;
}

/*
 * abs_path makes path absolute against the working directory, and clean,
 * as Go's filepath.Abs does; it returns a new string, or NULL with errbuf
 * set.
 */
static char *abs_path(const char *flag, const char *path)
{
	char *joined;
	if (path[0] == '/') {
		joined = strdup(path);
	} else {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof cwd) == NULL) {
			fail("%s: getcwd: %s", flag, errstr(errno));
			return NULL;
		}
		joined = malloc(strlen(cwd) + strlen(path) + 2);
		if (joined != NULL)
			sprintf(joined, "%s/%s", cwd, path);
	}
	char *clean = joined ? clean_path(joined) : NULL;
	free(joined);
	if (clean == NULL)
		fail("%s: %s", flag, errstr(ENOMEM));
	return clean;
}
#endif

/*
 * socket_path checks the -socket flag and returns the path the server
 * binds, or NULL with errbuf set. (A C string holds no NUL byte, so the Go
 * program's check for one has no counterpart here.)
 */
static char *socket_path(char *path)
{
	if (path[0] == '\0') {
		fail("-socket: empty path");
		return NULL;
	}
	if (path[0] == '@') {
		/* "@name" stands for Linux's abstract namespace, where sockets have
		 * no file and so no permissions: any local user could connect. */
		fail("-socket %s: abstract socket names (a leading @) are not supported", quoted(path));
		return NULL;
	}
#if STEP >= 4
	/* The server changes to "/" (recommendation 4): make a relative path
	 * absolute now, while it still means what the user meant. */
	if ((path = abs_path("-socket", path)) == NULL)
		return NULL;
#endif
	if (strlen(path) > MAX_SOCKET_PATH) {
		fail("-socket %s: the path is %zu bytes; a Unix socket path holds at most %zu", quoted(path), strlen(path), MAX_SOCKET_PATH);
		return NULL;
	}
	return path;
}

/*
 * flag describes one command-line flag, in the form of Go's flag package,
 * which the Go program uses and whose usage the tests read: "-name value",
 * "-name=value", "--name value".
 */
struct flag {
	const char *name;
	const char *arg;   /* the value's name in the usage */
	const char *usage;
	const char *def;   /* the default, as the usage shows it */
	char **str;        /* where a string flag goes */
	long *num;         /* where a number flag goes */
};

/* usage prints the usage, as Go's flag package does, on standard error. */
static void usage(const struct flag *flags, size_t n)
{
	fprintf(stderr, "Usage of %s:\n", prog);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "  -%s %s\n    \t%s (default %s)\n", flags[i].name, flags[i].arg, flags[i].usage, flags[i].def);
}

/* Outcomes of parse_flags besides 0: usage shown, or help asked for. */
enum { PARSE_USAGE = 2, PARSE_HELP = 3 };

/* set_flag stores value in f, and fails for a number that does not parse. */
static int set_flag(const struct flag *f, char *value)
{
	if (f->str != NULL) {
		*f->str = value;
		return 0;
	}
	char *end;
	errno = 0;
	long v = strtol(value, &end, 0);
	if (value[0] == '\0' || *end != '\0' || errno != 0) {
		fprintf(stderr, "invalid value %s for flag -%s: parse error\n", quoted(value), f->name);
		return -1;
	}
	*f->num = v;
	return 0;
}

#if STEP >= 12
/*
 * parse_duration reads a duration as Go's time.ParseDuration writes it, a
 * sequence of numbers, each with a unit (ns, us, ms, s, m, h): "1m",
 * "1m30s", "1.5s", "0". It returns 0 and sets *ns, or -1.
 */
static int parse_duration(const char *text, long long *ns)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
	if (strcmp(text, "0") == 0) {
		*ns = 0;
		return 0;
	}
	double total = 0;
	const char *p = text;
	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		char *end;
		double v = strtod(p, &end);
		if (end == p || *p == '-' || *p == '+')
			return -1;
		size_t best = 0, len = 0;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t l = strlen(units[i].name);
			if (strncmp(end, units[i].name, l) == 0 && l > len)
				best = i, len = l;
		}
		if (len == 0)
			return -1;
		total += v * units[best].ns;
		p = end + len;
	}
	if (total > 9.2e18)
		return -1;
	*ns = (long long)total;
	return 0;
}
#endif

/*
 * parse_flags reads the command line into cfg and checks it. It returns 0,
 * PARSE_USAGE or PARSE_HELP once it has shown the usage, or -1 with
 * errbuf set.
 */
static int parse_flags(int argc, char **argv, struct config *cfg)
{
	cfg->socket = "/tmp/unixechoserver.sock";
#if STEP >= 7
	cfg->pidfile = "/tmp/unixechoserver.pid";
#endif
#if STEP >= 11
	cfg->syslog = "/dev/log";
	cfg->logfile = "/tmp/unixechoserver.log";
#endif
#if STEP >= 12
	cfg->max_workers = 64;
	cfg->idle = "1m";
#endif
	/* In the order of their names, as Go's flag package lists them. */
	const struct flag flags[] = {
#if STEP >= 12
		{"idle", "duration", "end a connection on which nothing has moved for duration", "1m0s", &cfg->idle, NULL},
#endif
#if STEP >= 11
		{"log", "path", "append log messages to the file at path when syslog cannot take them", "\"/tmp/unixechoserver.log\"", &cfg->logfile, NULL},
#endif
#if STEP >= 12
		{"maxworkers", "n", "serve at most n connections at once; more wait to be accepted", "64", NULL, &cfg->max_workers},
#endif
#if STEP >= 8
		{"pidfile", "path", "lock the file at path, so that only one copy runs, and write the pid there", "\"/tmp/unixechoserver.pid\"", &cfg->pidfile, NULL},
#elif STEP >= 7
		{"pidfile", "path", "lock the file at path, so that only one copy runs", "\"/tmp/unixechoserver.pid\"", &cfg->pidfile, NULL},
#endif
		{"socket", "path", "listen on the Unix-domain socket at path", "\"/tmp/unixechoserver.sock\"", &cfg->socket, NULL},
#if STEP >= 11
		{"syslog", "path", "send log messages to the syslog daemon's socket at path", "\"/dev/log\"", &cfg->syslog, NULL},
#endif
	};
	const size_t nflags = sizeof flags / sizeof flags[0];

	int i = 1;
	for (; i < argc; i++) {
		char *arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0')
			break; /* the first argument that is not a flag */
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		char *name = arg + 1 + (arg[1] == '-');
		if (name[0] == '\0' || name[0] == '-' || name[0] == '=') {
			fprintf(stderr, "bad flag syntax: %s\n", arg);
			usage(flags, nflags);
			return PARSE_USAGE;
		}
		char *value = strchr(name, '=');
		if (value != NULL)
			*value++ = '\0';
		const struct flag *f = NULL;
		for (size_t k = 0; k < nflags; k++)
			if (strcmp(flags[k].name, name) == 0)
				f = &flags[k];
		if (f == NULL) {
			if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
				usage(flags, nflags);
				return PARSE_HELP;
			}
			fprintf(stderr, "flag provided but not defined: -%s\n", name);
			usage(flags, nflags);
			return PARSE_USAGE;
		}
		if (value == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "flag needs an argument: -%s\n", name);
				usage(flags, nflags);
				return PARSE_USAGE;
			}
			value = argv[++i];
		}
		if (set_flag(f, value) < 0) {
			usage(flags, nflags);
			return PARSE_USAGE;
		}
	}
	if (i < argc) {
		fprintf(stderr, "unexpected argument: %s\n", quoted(argv[i]));
		usage(flags, nflags);
		return PARSE_USAGE;
	}

	if ((cfg->socket = socket_path(cfg->socket)) == NULL)
		return -1;
#if STEP >= 7
	if ((cfg->pidfile = abs_path("-pidfile", cfg->pidfile)) == NULL)
		return -1;
#endif
#if STEP >= 12
	if (cfg->max_workers < 1)
		return fail("-maxworkers %ld: must be at least 1", cfg->max_workers);
	if (parse_duration(cfg->idle, &cfg->idle_ns) < 0)
		return fail("-idle %s: not a duration such as 1m or 30s", quoted(cfg->idle));
	if (cfg->idle_ns < 1000000)
		return fail("-idle %s: must be at least 1ms", cfg->idle);
#endif
#if STEP >= 11
	if ((cfg->syslog = abs_path("-syslog", cfg->syslog)) == NULL)
		return -1;
	if ((cfg->logfile = abs_path("-log", cfg->logfile)) == NULL)
		return -1;
#endif
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 0 && argv[0][0] != '\0') {
		const char *slash = strrchr(argv[0], '/');
		prog = slash ? slash + 1 : argv[0];
	}
	struct config cfg;
	switch (parse_flags(argc, argv, &cfg)) {
	case 0:
		break;
	case PARSE_HELP:
		return 0;
	case PARSE_USAGE:
		return 2; /* the usage has been shown */
	default:
		fprintf(stderr, "%s: %s\n", prog, one_line(errbuf));
		return 2;
	}
	if (run_launcher(&cfg) < 0) {
		fprintf(stderr, "%s: %s\n", prog, one_line(errbuf));
		return 1;
	}
	return 0;
}
