package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// StatLine returns /proc/PID/stat as the kernel writes it, without the
// trailing newline, for showing as evidence.
func StatLine(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// Cmdline returns the arguments pid was started with. It is empty for a
// zombie or a kernel thread, which have no user memory left to read.
func Cmdline(pid int) ([]string, error) {
	return nulSeparated(fmt.Sprintf("/proc/%d/cmdline", pid))
}

// Environ returns the environment pid was started with, as NAME=value
// strings. It is what the process received from exec: a program that
// changes its environment later (os.Setenv) does not change this.
func Environ(pid int) ([]string, error) {
	return nulSeparated(fmt.Sprintf("/proc/%d/environ", pid))
}

// nulSeparated reads a file of NUL-terminated strings.
func nulSeparated(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []string
	for _, s := range bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
		if len(s) > 0 {
			list = append(list, string(s))
		}
	}
	return list, nil
}

// Umask returns the file mode creation mask of pid, from the "Umask:" line
// of /proc/PID/status (Linux 4.7 and later).
func Umask(pid int) (int, error) {
	status, err := Status(pid)
	if err != nil {
		return 0, err
	}
	return ParseUmask(status)
}

// ParseUmask reads the "Umask" entry of a Status map.
func ParseUmask(status map[string]string) (int, error) {
	s, ok := status["Umask"]
	if !ok {
		return 0, fmt.Errorf("no Umask line in /proc/PID/status (Linux before 4.7)")
	}
	mask, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("parse Umask %q: %w", s, err)
	}
	return int(mask), nil
}

// TtyName names the terminal whose device number is ttyNr, as the tty_nr
// field of /proc/PID/stat gives it: "pts/3", "tty1", "ttyS0", "console",
// or "" for none. Other devices are named by number, "136:3".
func TtyName(ttyNr int) string {
	if ttyNr == 0 {
		return ""
	}
	// The encoding of new_encode_dev(): minor bits 0-7 and 20-31, major
	// bits 8-19.
	major := (ttyNr >> 8) & 0xfff
	minor := (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143: // Unix98 pseudo-terminal slaves
		return fmt.Sprintf("pts/%d", (major-136)*256+minor)
	case major == 4 && minor < 64:
		return fmt.Sprintf("tty%d", minor)
	case major == 4:
		return fmt.Sprintf("ttyS%d", minor-64)
	case major == 5 && minor == 1:
		return "console"
	}
	return fmt.Sprintf("%d:%d", major, minor)
}
