/*
 * sigchld: the handout's two SIGCHLD handlers, run for real.
 *
 *   cc -o /tmp/sigchld demo/sigchld/sigchld.c
 *   /tmp/sigchld once           wait once per signal: some zombies, a number that varies
 *   /tmp/sigchld once-blocked   the same, SIGCHLD blocked while the children exit: 4 zombies
 *   /tmp/sigchld loop           waitpid(-1, WNOHANG) until none is left: no zombie
 *
 * Each run forks five children that wait on one pipe and exit together
 * when the parent closes it. The parent then waits until every child has
 * either been reaped by the handler or is a zombie, counts the zombies,
 * and reaps them itself before it exits, so that it leaves nothing behind.
 *
 * The handlers are the handout's, printf and all, with two counters added
 * for the summary (the classic shape:
 * Stevens, UNIX Network Programming vol. 1, figures 5.7 and 5.11). They
 * are not async-signal-safe; see step12-reap/README.md. This program gets
 * away with it only because its main code never calls stdio while a
 * handler can run.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCHILD 5

static volatile sig_atomic_t runs;   /* how often a handler ran */
static volatile sig_atomic_t reaped; /* how many children it reaped */

/* The handout's first handler: one wait per SIGCHLD. */
void sig_chld_once(int signo)
{
	pid_t pid;
	int stat;

	runs++;
	pid = wait(&stat);
	if (pid > 0)
		reaped++;
	fprintf(stderr, "child %d terminated\n", pid);
	return;
}

/* The handout's second handler: reap until no exited child is left. */
void sig_chld_loop(int signo)
{
	pid_t pid;
	int stat;

	runs++;
	while ((pid = waitpid(-1, &stat, WNOHANG)) > 0) {
		reaped++;
		printf("child %d terminated\n", pid);
	}
	return;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* exited reports whether child pid has exited: reaped already, or a zombie.
 * WNOWAIT looks without reaping. */
static int exited(pid_t pid, int *zombie)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno == ECHILD) { /* the handler reaped it */
			*zombie = 0;
			return 1;
		}
		if (errno == EINTR) /* a handler ran: look again */
			return 0;
		die("waitid");
	}
	*zombie = si.si_pid == pid;
	return *zombie;
}

/* count_zombies waits until every child has exited, then counts those
 * that no handler reaped. It polls, since any wait that blocks would
 * reap a child itself. */
static int count_zombies(pid_t *child, int n)
{
	struct timespec ms = { 0, 1000000 };
	int done, zombies, z, i;

	for (;;) {
		done = zombies = 0;
		for (i = 0; i < n; i++) {
			if (exited(child[i], &z)) {
				done++;
				zombies += z;
			}
		}
		if (done == n)
			return zombies;
		nanosleep(&ms, NULL);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t chld;
	pid_t child[NCHILD];
	int go[2], i, zombies, blocked;
	char c;

	memset(&sa, 0, sizeof sa);
	if (argc == 2 && strcmp(argv[1], "loop") == 0)
		sa.sa_handler = sig_chld_loop;
	else if (argc == 2 && strncmp(argv[1], "once", 4) == 0 &&
		 (argv[1][4] == '\0' || strcmp(argv[1] + 4, "-blocked") == 0))
		sa.sa_handler = sig_chld_once;
	else {
		fprintf(stderr, "usage: sigchld once|once-blocked|loop\n");
		return 2;
	}
	blocked = strcmp(argv[1], "once-blocked") == 0;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		die("sigaction");
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);

	/* Five children, each waiting for the pipe to close. */
	if (pipe(go) < 0)
		die("pipe");
	for (i = 0; i < NCHILD; i++) {
		child[i] = fork();
		if (child[i] < 0)
			die("fork");
		if (child[i] == 0) {
			close(go[1]);
			read(go[0], &c, 1); /* returns 0 once the parent closes go[1] */
			_exit(0);
		}
	}
	close(go[0]);

	/* Blocked, the SIGCHLDs of all five stay pending as one. */
	if (blocked && sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
		die("sigprocmask");
	close(go[1]); /* all five exit now */
	if (blocked) {
		count_zombies(child, NCHILD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL); /* one SIGCHLD is delivered */
	}
	zombies = count_zombies(child, NCHILD);

	/* No handler runs from here on: reap what is left. */
	sigprocmask(SIG_BLOCK, &chld, NULL);
	for (i = 0; i < zombies; i++)
		if (wait(NULL) < 0)
			die("wait");
	fflush(stderr);
	printf("%s: %d children exited; the handler ran %d time%s and reaped %d; zombies left: %d\n",
	       argv[1], NCHILD, runs, runs == 1 ? "" : "s", reaped, zombies);
	return 0;
}
