// Package plot renders benchmark and A/B test results as PNG charts with
// gonum.org/v1/plot: grouped bar charts with optional error bars (Bars),
// line charts (Lines) and box plots of distributions (Boxes). A Figure tiles
// one or more charts in a grid and writes one PNG of an exact pixel size.
//
// Charts are plain data: build one, then call Figure.WritePNG or
// Figure.Save. Every chart is validated first — mismatched lengths,
// non-finite values, an empty chart — and a bad chart returns an error
// wrapping ErrBadChart (or ErrNoData) instead of drawing something wrong.
//
// # Concurrency
//
// Functions keep no state between calls; charts are read, never modified
// or retained, so separate figures may be rendered concurrently.
package plot
