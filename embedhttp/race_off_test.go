//go:build !race

package embedhttp

const raceEnabled = false
