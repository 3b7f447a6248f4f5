//go:build !race

package recordmodifier

const raceEnabled = false
