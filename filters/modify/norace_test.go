//go:build !race

package modify

const raceEnabled = false
