/*
 * forkserver: the C echo daemon that the Go steps are measured against.
 *
 * It does what a C daemon of the Comer-Stevens kind does, in the order the
 * steps do it: the launcher forks, the child starts a new session and
 * forks again, the server works in "/", sets its umask, listens, puts
 * /dev/null on descriptors 0, 1 and 2, tells the launcher it is ready
 * through a pipe, and forks a child per connection, reaping them on
 * SIGCHLD. The child echoes with read(2) and write(2) and a 64 KiB buffer.
 *
 * usage: forkserver SOCKET
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void reap(int sig)
{
	int saved = errno;
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static int echo(int fd)
{
	static char buf[64 * 1024];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return 1;
			off += w;
		}
	}
}

static int listen_at(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof addr.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 4096) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void serve(int ls)
{
	struct sigaction sa = {.sa_handler = reap, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EINTR) {
				/* out of descriptors or memory: wait rather than spin */
				struct timespec pause = {0, 10 * 1000 * 1000};
				nanosleep(&pause, NULL);
			}
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(ls);
			_exit(echo(c));
		}
		close(c);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0) {
		perror("pipe");
		return 1;
	}
	pid_t leader = fork();
	if (leader < 0) {
		perror("fork");
		return 1;
	}
	if (leader > 0) {
		/* the launcher: return once the server listens */
		char c = 0;
		close(ready[1]);
		while (read(ready[0], &c, 1) < 0 && errno == EINTR)
			;
		waitpid(leader, NULL, 0);
		if (c != 'r') {
			fprintf(stderr, "%s: the server did not start\n", argv[0]);
			return 1;
		}
		return 0;
	}
	close(ready[0]);
	setsid();
	if (fork() != 0)
		_exit(0); /* the session leader */
	if (chdir("/") < 0)
		_exit(1);
	umask(027);
	int ls = listen_at(argv[1]);
	if (ls < 0) {
		perror(argv[1]);
		_exit(1);
	}
	int null = open("/dev/null", O_RDWR);
	if (null < 0)
		_exit(1);
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	if (null > 2)
		close(null);
	if (write(ready[1], "r", 1) != 1)
		_exit(1);
	close(ready[1]);
	serve(ls);
	return 0;
}
