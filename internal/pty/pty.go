// Package pty opens pseudo-terminals, for launching a program as if from
// an interactive shell: the tour and the step tests both do.
package pty

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Pair is a pseudo-terminal: a master side, which a terminal emulator
// reads and writes, and a slave side, which a shell and its programs use
// as their terminal.
type Pair struct {
	Master *os.File
	Slave  *os.File
	Name   string // the slave's path, /dev/pts/N
}

// Open opens a new pseudo-terminal pair. Neither side becomes the caller's
// controlling terminal (O_NOCTTY): a process that wants it as its own opens
// a new session and claims it, as Go's SysProcAttr Setsid and Setctty do.
func Open() (*Pair, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open pseudo-terminal: %w", err)
	}
	n, err := unlockAndNumber(master)
	if err != nil {
		master.Close()
		return nil, err
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("open pseudo-terminal: %w", err)
	}
	return &Pair{Master: master, Slave: slave, Name: name}, nil
}

// unlockAndNumber does what unlockpt(3) and ptsname(3) do, as ioctls: it
// unlocks the slave side and returns its number.
func unlockAndNumber(master *os.File) (int, error) {
	raw, err := master.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("pseudo-terminal: %w", err)
	}
	var n int
	var ioctlErr error
	err = raw.Control(func(fd uintptr) {
		if ioctlErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioctlErr == nil {
			n, ioctlErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if err = errors.Join(err, ioctlErr); err != nil {
		return 0, fmt.Errorf("unlock pseudo-terminal: %w", err)
	}
	return n, nil
}

// Close closes both sides. Closing the master hangs the terminal up: the
// kernel sends SIGHUP to the session leader that controls it.
func (p *Pair) Close() error {
	return errors.Join(p.Slave.Close(), p.Master.Close())
}
