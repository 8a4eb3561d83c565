package peercred

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test that ListenerPid names the process that listens: here, the test.
func TestListenerPidNamesListener(t *testing.T) {
	dir, err := os.MkdirTemp("", "pc")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	pid, err := ListenerPid(path)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), pid)

	_, err = ListenerPid(filepath.Join(dir, "missing.sock"))
	require.Error(t, err)
}
