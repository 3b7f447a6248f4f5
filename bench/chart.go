package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// chartSVG draws records/s per scenario row as horizontal bars on a logarithmic scale
// (the scenarios span four orders of magnitude): ours in blue, peers in orange.
func chartSVG(rows []row) string {
	var ok []row
	for _, r := range rows {
		if !r.failed && r.res.RecordsPerSec() > 0 {
			ok = append(ok, r)
		}
	}
	const (
		labelW = 330
		barW   = 480
		rowH   = 22
		top    = 40
	)
	lo, hi := 1e3, 1e3
	for _, r := range ok {
		hi = math.Max(hi, r.res.RecordsPerSec())
	}
	hiExp := math.Ceil(math.Log10(hi))
	loExp := math.Log10(lo)
	x := func(v float64) float64 {
		v = math.Max(v, lo)
		return labelW + barW*(math.Log10(v)-loExp)/(hiExp-loExp)
	}
	h := top + rowH*len(ok) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", labelW+barW+110, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">fluentbit-go: records per second per scenario (log scale; go run ./bench)</text>`+"\n")
	for e := loExp; e <= hiExp; e++ {
		px := x(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", px, top-5, px, h-25)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", px, h-10, si(math.Pow(10, e)))
	}
	for i, r := range ok {
		y := top + i*rowH
		color := "#3b6fb6"
		if r.peer != "" {
			color = "#e08a2c"
		}
		v := r.res.RecordsPerSec()
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+14, html.EscapeString(r.label()))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelW, y+3, x(v)-labelW, rowH-6, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#222">%s</text>`+"\n", x(v)+5, y+14, si(v))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
