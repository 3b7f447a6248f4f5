//go:build race

package modify

// raceEnabled: the race detector makes sync.Pool drop items at random (regexp keeps its
// matchers in one), so allocation counts are only checked without it.
const raceEnabled = true
