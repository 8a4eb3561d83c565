package main

// stepInfo is what a lab's README says about its step beyond what the
// step's own files tell. The three SPEC fields are the step's row of the
// table in SPEC.md, word for word (a test compares them when SPEC.md is
// at hand); Recommend and Why stand in for the sections of the step's
// README.md while it has none.
type stepInfo struct {
	Title string // what the step is called in the SPEC: "closefds"

	Recommend string // what Comer and Stevens recommend, in a sentence
	Why       string // why, in a paragraph

	Server string // SPEC: after this step the server...
	SeenBy string // SPEC: seen through
	Before string // SPEC: the previous step instead...

	// Hints point at /proc files, man pages and experiments, never at the
	// code to write.
	Hints []string
}

// firstLab and lastLab bound the labs: step 01 has no step before it, and
// the tutorial has twelve steps.
const (
	firstLab = 2
	lastLab  = 12
)

// info holds stepInfo for every lab, by step number.
var info = map[int]stepInfo{
	2: {
		Title:     "closefds",
		Recommend: "Close every descriptor the daemon inherited and does not need.",
		Why: "A daemon lives for a long time. A descriptor it inherited by accident keeps a file, a pipe or a socket open for as long as it lives: " +
			"the reader of a pipe never sees end-of-file, a deleted file keeps its space, a file system cannot be unmounted.",
		Server: "does not hold a descriptor >= 3 that the launching shell left open without close-on-exec (0, 1 and 2 stay for step 06)",
		SeenBy: "`/proc/PID/fd`",
		Before: "still holds it",
		Hints: []string{
			"Give the launcher a descriptor as a shell does, `./echod -socket /tmp/lab.sock 9</etc/hostname`, then look at `ls -l /proc/PID/fd` of the server (the launcher prints its pid).",
			"execve(2) keeps open every descriptor that is not marked close-on-exec: see FD_CLOEXEC in fcntl(2), and close_range(2).",
			"A Go program holds descriptors it never opened itself: the runtime's poller shows up as `anon_inode:[eventpoll]` in `ls -l /proc/self/fd`. Whatever you do must leave a running Go program's own descriptors working.",
			"Which of your processes receives the inherited descriptors, and which one must never hold them?",
		},
	},
	3: {
		Title:     "setsid",
		Recommend: "Detach from the controlling terminal, so that nothing the terminal does reaches the daemon.",
		Why: "A process with a controlling terminal gets that terminal's signals: SIGHUP when it hangs up or its controlling process exits, SIGINT and SIGTSTP from the keyboard, " +
			"SIGTTIN when it reads from the background. A daemon must not die or stop because a user logged out.",
		Server: "has no controlling terminal (tty_nr 0) and is in a session other than the launcher's, even when launched from a terminal; when the launcher is the terminal's controlling process (as under `script` or `ssh -t`), the server survives the launcher's exit",
		SeenBy: "`/proc/PID/stat` session, tty_nr; a pseudo-terminal",
		Before: "keeps the terminal; is killed by SIGHUP when the controlling launcher exits",
		Hints: []string{
			"Fields 6 (session) and 7 (tty_nr) of `/proc/PID/stat`, described in proc(5); `ps -o pid,ppid,pgid,sid,tty,comm -p PID` shows them too.",
			"setsid(2), and what credentials(7) says about sessions and controlling terminals.",
			"`script -qc './echod -socket /tmp/lab.sock' /dev/null` runs the launcher as a terminal's controlling process: is the server still there afterwards?",
			"Go cannot call fork(2) on its own; what it can do in a new process between fork and exec is listed in `go doc syscall.SysProcAttr`.",
		},
	},
	4: {
		Title:     "chdir",
		Recommend: "Change the working directory to the root directory, `/`.",
		Why: "A process's working directory is in use: the file system that holds it cannot be unmounted. " +
			"A daemon started from a user's home directory or a mounted disk would keep it busy for as long as it runs.",
		Server: "has `/` as its working directory; relative paths given on the command line still work (resolved before the chdir)",
		SeenBy: "`/proc/PID/cwd`",
		Before: "runs in the launch directory",
		Hints: []string{
			"`ls -l /proc/PID/cwd`; chdir(2).",
			"Start the server with a relative path, `cd /tmp && ./echod -socket lab.sock`, and find the socket. path_resolution(7) says how the kernel looks up a relative path.",
			"Which process should change its directory, and when, compared with reading the command line?",
		},
	},
	5: {
		Title:     "pgrp",
		Recommend: "Run in a process group of its own and not as a session leader, so that the daemon can never acquire a controlling terminal again.",
		Why: "When a session leader without a controlling terminal opens a terminal, that terminal becomes its controlling terminal. A process that is not a session leader can open any terminal safely. " +
			"And in a process group of its own, a signal sent to another group (`kill -- -PGID`, a shell's job control) does not reach it.",
		Server: "is not a session leader (sid != pid, so it can never acquire a controlling terminal again) and leads a process group of its own (pgid == pid); `kill -- -SID` does not reach it",
		SeenBy: "`/proc/PID/stat`",
		Before: "is the session leader; `kill -- -SID` kills it",
		Hints: []string{
			"Fields 5 (pgrp) and 6 (session) of `/proc/PID/stat`, proc(5); `ps -o pid,ppid,pgid,sid,comm`.",
			"setpgid(2) and setsid(2), and in particular their ERRORS sections: what may a session leader not do?",
			"kill(2) on a negative pid: `kill -- -SID` signals the process group whose id is SID.",
			"The classic C recipe forks twice. Count the processes between your launcher and your server, and the order in which each gets its attributes.",
		},
	},
	6: {
		Title:     "devnull",
		Recommend: "Open standard input, standard output and standard error on `/dev/null`.",
		Why: "Library code and stray messages read descriptor 0 and write 1 and 2. Left as the launcher's, they are a terminal the user has left, or a pipe a caller waits on: " +
			"`out=$(./echod)` waits until every process that holds the pipe's writing end has closed it. With /dev/null on 0, 1 and 2, a file the daemon opens later cannot land on them either.",
		Server: "has descriptors 0, 1 and 2 open on `/dev/null` (from step 11, 2 may be the `-log` file); a caller reading the launcher's output gets end-of-file as soon as the launcher exits, so `out=$(./echod)` returns",
		SeenBy: "`/proc/PID/fd/0..2`",
		Before: "holds the launcher's terminal or pipe; `out=$(./echod)` hangs",
		Hints: []string{
			"`ls -l /proc/PID/fd/0 /proc/PID/fd/1 /proc/PID/fd/2`; null(4).",
			"`time out=$(./echod -socket /tmp/lab.sock)`: when does it return, and why then? pipe(7) says when a reader sees end-of-file.",
			"open(2) returns the lowest free descriptor; dup2(2). The starting code decides, in one place, which descriptors each new process starts with: find it.",
			"An error before the server is ready must still reach the user: the launcher's own standard error is still the user's.",
		},
	},
	7: {
		Title:     "lock",
		Recommend: "Make sure that only one copy of the daemon runs: hold an exclusive lock on a file.",
		Why: "Two copies of one server fight over its resources. Here a second copy removes the first one's socket and listens in its place, and the first runs on, unreachable. " +
			"A lock that the kernel drops when its holder ends, however it ends, cannot go stale.",
		Server: "holds a lock on the pid file, taken by the server itself (`/proc/locks` lists it on the file's inode with the server's pid); a second start with the same `-pidfile` exits non-zero with a message on its own standard error, and the first server keeps serving with the same pid and socket",
		SeenBy: "`/proc/locks`; exit status",
		Before: "lets a second copy start, which takes the socket away from the first",
		Hints: []string{
			"`/proc/locks` (proc(5)) lists every lock with the pid that took it and the file's MAJOR:MINOR:INODE; `stat -c %i PIDFILE` gives the inode.",
			"flock(2) and fcntl(2) (F_SETLK, and open file description locks): which lock belongs to a process, which to an open file, and what happens to each across execve(2) and when a descriptor is closed?",
			"Which process must take the lock for /proc/locks to show the server's pid? And what does a descriptor opened without O_CLOEXEC (open(2)) give every process started after it?",
			"A second start must fail with one line on its own standard error: how does the launcher already learn that the server could not start?",
			"Order matters: what may the server touch before it knows it is the only copy?",
		},
	},
	8: {
		Title:     "pidfile",
		Recommend: "Record the daemon's process id in the file it holds locked.",
		Why: "Administrators and init scripts find a daemon by its pid file: `kill $(cat /run/x.pid)`, `start-stop-daemon --pidfile`. Written into the locked file, the pid is the running copy's, " +
			"and a file left behind by a copy that died is told apart because nobody holds its lock.",
		Server: "has written its own pid and a newline into the pid file; `kill $(cat PIDFILE)` and `start-stop-daemon --stop --pidfile PIDFILE` stop it; after `kill -9`, a new start succeeds",
		SeenBy: "the file; start-stop-daemon",
		Before: "leaves the file without a pid",
		Hints: []string{
			"`cat PIDFILE`, and compare it with the pid the launcher prints and with `/proc/locks`.",
			"ftruncate(2) and write(2): what would the file hold if a longer pid had been written there before?",
			"start-stop-daemon(8), `--stop --pidfile`: what does it check before it signals?",
			"`kill -9` the server while a client is connected, then start again. Who still holds the lock? Look at `/proc/locks` and at `ls -l /proc/PID/fd` of what is left.",
		},
	},
	9: {
		Title:     "umask",
		Recommend: "Set the file-mode creation mask (umask) to a known value.",
		Why: "The umask is inherited: a daemon started from a shell with `umask 000` creates files, and its socket, that anyone may write. " +
			"Connecting to a Unix socket takes write permission on it, so such a socket lets every local user in.",
		Server: "runs with a umask that takes write from group and everything from others (`Umask: 0027` in `/proc/PID/status`); started under `umask 000`, no file it creates, its socket included, is writable by others",
		SeenBy: "`/proc/PID/status`; file modes",
		Before: "under `umask 000` makes a socket any local user can connect to",
		Hints: []string{
			"`grep Umask /proc/PID/status`; umask(2).",
			"`(umask 000; ./echod -socket /tmp/lab.sock -pidfile /tmp/lab.pid)`, then `ls -l /tmp/lab.sock /tmp/lab.pid`.",
			"unix(7) on the permissions of a socket file, and bind(2).",
			"Every process inherits the umask: which one must set it, and before creating what?",
		},
	},
	10: {
		Title:     "signals",
		Recommend: "Handle signals: ignore those a daemon has no use for, and stop cleanly when asked to.",
		Why: "The terminal and job-control signals (SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU) mean nothing to a process without a terminal, but anyone may still send them, and by default they kill or stop it. " +
			"SIGPIPE kills a process that writes to a closed connection. SIGTERM is how a system asks a daemon to stop: it should remove what it created.",
		Server: "ignores SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU and SIGPIPE (`SigIgn` in `/proc/PID/status`) and keeps serving after them; on SIGTERM it exits 0 and removes its socket and pid file",
		SeenBy: "`/proc/PID/status`; the files",
		Before: "dies on SIGHUP, stops on SIGTSTP, leaves its files behind on SIGTERM",
		Hints: []string{
			"`grep -E 'Sig(Ign|Cgt|Blk)' /proc/PID/status`: hexadecimal masks with bit n-1 for signal n; signal(7) lists the numbers and default actions.",
			"sigaction(2); in Go, `go doc os/signal`, in particular what it says about SIGPIPE and about signals that are ignored.",
			"`kill -HUP PID`, `kill -TSTP PID` then `grep State /proc/PID/status`, and `kill -TERM PID` then `ls` the socket and the pid file.",
			"An ignored signal stays ignored across execve(2), a caught one does not: what do your workers get?",
		},
	},
	11: {
		Title:     "syslog",
		Recommend: "Log through syslog, not to a terminal the daemon no longer has.",
		Why: "Since step 06 the daemon's standard error is /dev/null: without a log its errors vanish. syslog gathers the messages of every daemon in one place, " +
			"each with a facility and a severity, and the syslog daemon decides where they go.",
		Server: "sends its start, its stop and its errors to the `-syslog` socket as RFC 3164 datagrams with facility daemon and the tag `NAME[PID]`; when nothing listens there, writes them to the `-log` file",
		SeenBy: "a datagram socket the test binds; the file",
		Before: "says nothing anywhere",
		Hints: []string{
			"RFC 3164: a datagram `<PRI>Mmm dd hh:mm:ss TAG[PID]: message`, with PRI = facility*8 + severity; the facility daemon is 3. syslog(3) lists the severities.",
			"unix(7), SOCK_DGRAM: `socat -u UNIX-RECV:/tmp/lab-log.sock -` shows what arrives when the server runs with `-syslog /tmp/lab-log.sock`; logger(1) sends a message by hand.",
			"What should happen when nothing listens at the syslog path (connect(2): ENOENT, ECONNREFUSED), and when it starts listening later?",
			"Which messages can still go to the launcher's standard error, and from when on must they go to the log?",
		},
	},
	12: {
		Title:     "reap",
		Recommend: "Wait for the children the daemon starts, so that none stays a zombie.",
		Why: "A child that exits stays in the process table as a zombie until its parent waits for it. A server that starts a child per connection and never waits " +
			"leaves one zombie per finished connection, until it can start no more processes.",
		Server: "leaves no zombie child: 50 connections opened and closed at once leave none within 2 s; on SIGTERM it ends its workers and reaps them before it exits",
		SeenBy: "`/proc/*/stat` state Z with ppid == server",
		Before: "keeps one zombie per finished connection",
		Hints: []string{
			"`ps -o pid,ppid,stat,comm --ppid PID` shows state Z; so does field 3 of `/proc/PID/stat` (proc(5)).",
			"waitpid(2) and wait4(2) with WNOHANG: what do they return when children run but none has exited, and when none is left?",
			"SIGCHLD in signal(7): when does the parent get it, and how many for several children that end at once?",
			"On SIGTERM the workers must end too: kill(2) them, then wait for each.",
		},
	},
}
