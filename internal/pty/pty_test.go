package pty

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test that what a program writes on the slave side comes out of the
// master side.
func TestSlaveOutputReachesMaster(t *testing.T) {
	p, err := Open()
	require.NoError(t, err)
	defer p.Close()
	require.True(t, strings.HasPrefix(p.Name, "/dev/pts/"), p.Name)
	_, err = io.WriteString(p.Slave, "hi\n")
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err := p.Master.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "hi\r\n", string(buf[:n]), "the terminal turns newlines into CR LF")
}
