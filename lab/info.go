package main

// stepInfo is what a lab's README says about its step beyond what the
// repository's documents tell: the step's README.md gives the title and
// what Comer and Stevens recommend and why, PROPERTIES.md what the server
// must do, and the tests what they require.
type stepInfo struct {
	// Hints point at /proc files, man pages and experiments, never at the
	// code to write.
	Hints []string
}

// firstLab is the first step with a lab: step 01 has no step before it.
// The last is the last step directory there is.
const firstLab = 2

// info holds stepInfo for every lab, by step number.
var info = map[int]stepInfo{
	2: {
		Hints: []string{
			"Give the launcher a descriptor as a shell does, `./echod -socket /tmp/lab.sock 9</etc/hostname`, then look at `ls -l /proc/PID/fd` of the server (the launcher prints its pid).",
			"execve(2) keeps open every descriptor that is not marked close-on-exec: see FD_CLOEXEC in fcntl(2), and close_range(2).",
			"A Go program holds descriptors it never opened itself: the runtime's poller shows up as `anon_inode:[eventpoll]` in `ls -l /proc/self/fd`. Whatever you do must leave a running Go program's own descriptors working.",
			"Which of your processes receives the inherited descriptors, and which one must never hold them?",
		},
	},
	3: {
		Hints: []string{
			"Fields 6 (session) and 7 (tty_nr) of `/proc/PID/stat`, described in proc(5); `ps -o pid,ppid,pgid,sid,tty,comm -p PID` shows them too.",
			"setsid(2), and what credentials(7) says about sessions and controlling terminals.",
			"`script -qc 'exec ./echod -socket /tmp/lab.sock' /dev/null` runs the launcher as a terminal's controlling process: is the server still there afterwards?",
			"Go cannot call fork(2) on its own; what it can do in a new process between fork and exec is listed in `go doc syscall.SysProcAttr`.",
		},
	},
	4: {
		Hints: []string{
			"`ls -l /proc/PID/cwd`; chdir(2).",
			"Start the server with a relative path, `cd /tmp && ./echod -socket lab.sock`, and find the socket. path_resolution(7) says how the kernel looks up a relative path.",
			"Which process should change its directory, and when, compared with reading the command line?",
		},
	},
	5: {
		Hints: []string{
			"Fields 5 (pgrp) and 6 (session) of `/proc/PID/stat`, proc(5); `ps -o pid,ppid,pgid,sid,comm`.",
			"setpgid(2) and setsid(2), and in particular their ERRORS sections: what may a session leader not do?",
			"kill(2) on a negative pid: `kill -- -SID` signals the process group whose id is SID.",
			"The classic C recipe forks twice. Count the processes between your launcher and your server, and the order in which each gets its attributes.",
		},
	},
	6: {
		Hints: []string{
			"`ls -l /proc/PID/fd/0 /proc/PID/fd/1 /proc/PID/fd/2`; null(4).",
			"`time out=$(./echod -socket /tmp/lab.sock)`: when does it return, and why then? pipe(7) says when a reader sees end-of-file.",
			"open(2) returns the lowest free descriptor; dup2(2). The starting code decides, in one place, which descriptors each new process starts with: find it.",
			"An error before the server is ready must still reach the user: the launcher's own standard error is still the user's.",
		},
	},
	7: {
		Hints: []string{
			"`/proc/locks` (proc(5)) lists the flock(2) and fcntl(2) locks of the processes in its pid namespace (all of them in the initial one), each with the pid that took it (-1 for an open file description lock) and the file's MAJOR:MINOR:INODE; `stat -c %i PIDFILE` gives the inode.",
			"flock(2) and fcntl(2) (F_SETLK, and open file description locks): which lock belongs to a process, which to an open file, and what happens to each across execve(2) and when a descriptor is closed?",
			"Which process must take the lock for /proc/locks to show the server's pid? And what does a descriptor opened without O_CLOEXEC (open(2)) give every process started after it?",
			"A second start must fail with one line on its own standard error: how does the launcher already learn that the server could not start?",
			"Order matters: what may the server touch before it knows it is the only copy?",
		},
	},
	8: {
		Hints: []string{
			"`cat PIDFILE`, and compare it with the pid the launcher prints and with `/proc/locks`.",
			"ftruncate(2) and write(2): what would the file hold if a longer pid had been written there before?",
			"start-stop-daemon(8), `--stop --pidfile`: what does it check before it signals?",
			"`kill -9` the server while a client is connected, then start again. Who still holds the lock? Look at `/proc/locks` and at `ls -l /proc/PID/fd` of what is left.",
		},
	},
	9: {
		Hints: []string{
			"`grep Umask /proc/PID/status`; umask(2).",
			"`(umask 000; ./echod -socket /tmp/lab.sock -pidfile /tmp/lab.pid)`, then `ls -l /tmp/lab.sock /tmp/lab.pid`.",
			"unix(7) on the permissions of a socket file, and bind(2).",
			"Every process inherits the umask: which one must set it, and before creating what?",
		},
	},
	10: {
		Hints: []string{
			"`grep -E 'Sig(Ign|Cgt|Blk)' /proc/PID/status`: hexadecimal masks with bit n-1 for signal n; signal(7) lists the numbers and default actions.",
			"sigaction(2); in Go, `go doc os/signal`, in particular what it says about SIGPIPE and about signals that are ignored.",
			"`kill -HUP PID`, `kill -TSTP PID` then `grep State /proc/PID/status`, and `kill -TERM PID` then `ls` the socket and the pid file.",
			"An ignored signal stays ignored across execve(2), a caught one does not: what do your workers get?",
		},
	},
	11: {
		Hints: []string{
			"RFC 3164: a datagram `<PRI>Mmm dd hh:mm:ss TAG[PID]: message`, with PRI = facility*8 + severity; the facility daemon is 3. syslog(3) lists the severities.",
			"unix(7), SOCK_DGRAM: the tests bind a datagram socket at the `-syslog` path and read what arrives there; with a syslog daemon running, `-syslog /dev/log` reaches it and `grep 'echod\\[' /var/log/syslog` (or `journalctl -t echod`) shows the messages. logger(1) sends one by hand.",
			"What should happen when nothing listens at the syslog path (connect(2): ENOENT, ECONNREFUSED), and when it starts listening later?",
			"Which messages can still go to the launcher's standard error, and from when on must they go to the log?",
		},
	},
	12: {
		Hints: []string{
			"`ps -o pid,ppid,stat,comm --ppid PID` shows state Z; so does field 3 of `/proc/PID/stat` (proc(5)).",
			"waitpid(2) and wait4(2) with WNOHANG: what do they return when children run but none has exited, and when none is left?",
			"SIGCHLD in signal(7): when does the parent get it, and how many for several children that end at once?",
			"On SIGTERM the workers must end too: kill(2) them, then wait for each. But a worker may not end on SIGTERM: one that ignores it, or one that is stopped (`kill -STOP WORKER`, then `kill -TERM SERVER`). How long may the server wait before it uses a signal no process can ignore?",
		},
	},
	13: {
		Hints: []string{
			"daemon(7), \"New-Style Daemons\": which of the twelve does the service manager do, and which stay the daemon's job? The unit files echod.service and echod.socket in the solution say how (systemd.exec(5), systemd.service(5), systemd.socket(5)).",
			"sd_listen_fds(3): LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, and descriptor 3. `systemd-socket-activate -l /tmp/lab.sock ./echod` hands your server a socket as systemd would; `ls -l /proc/PID/fd` shows it.",
			"sd_notify(3): one datagram of NAME=VALUE lines to the socket in $NOTIFY_SOCKET. When is the server ready, and when does it begin to stop?",
			"sd-daemon(3): the `<N>` prefixes on standard error. What must a message that quotes a path with a newline in it look like?",
			"Which variables must your workers not inherit, and who removes the manager's socket file: the server, or nobody?",
		},
	},
}
