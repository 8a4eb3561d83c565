package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// propertiesFile is the repository's own account of what each step makes
// true of the server: a table with a row per step.
const propertiesFile = "PROPERTIES.md"

// property is a step's row of the table in PROPERTIES.md: "| 07 lock |
// after this step the server... | seen through | the previous step
// instead... |".
type property struct {
	Key    string // "07 lock"; "12 reap (also)" for a row that adds to a step's
	Server string // after this step the server...
	SeenBy string // seen through
	Before string // the previous step instead...
}

// readProperties returns the rows of the tables in root's PROPERTIES.md,
// in order.
func readProperties(root string) ([]property, error) {
	b, err := os.ReadFile(filepath.Join(root, propertiesFile))
	if err != nil {
		return nil, err
	}
	var rows []property
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "| ") || !strings.HasSuffix(line, " |") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |"), " | ")
		if len(cells) != 4 || len(cells[0]) < 3 || cells[0][0] < '0' || cells[0][0] > '9' {
			continue // the header, or not a step's row
		}
		rows = append(rows, property{Key: cells[0], Server: cells[1], SeenBy: cells[2], Before: cells[3]})
	}
	return rows, nil
}

// stepProperties returns the rows of PROPERTIES.md for step n: its own
// ("07 lock") first, then any that add to it ("12 reap (also)").
func stepProperties(root string, n int) ([]property, error) {
	rows, err := readProperties(root)
	if err != nil {
		return nil, err
	}
	var mine []property
	prefix := fmt.Sprintf("%02d ", n)
	for _, r := range rows {
		if strings.HasPrefix(r.Key, prefix) {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return nil, fmt.Errorf("%s has no row for step %02d", propertiesFile, n)
	}
	return mine, nil
}
