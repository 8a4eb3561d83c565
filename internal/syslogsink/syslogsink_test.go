package syslogsink

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Test that a syslog message's facility, severity, tag and pid are read,
// and that a line of another form is refused.
func TestParse(t *testing.T) {
	m, err := Parse("<30>Nov 25 16:30:00 echod[42]: started\n")
	require.NoError(t, err)
	require.Equal(t, Message{Facility: FacilityDaemon, Severity: 6, Time: "Nov 25 16:30:00", Tag: "echod", Pid: 42, Text: "started"}, m)
	_, err = Parse("no priority")
	require.Error(t, err)
}
