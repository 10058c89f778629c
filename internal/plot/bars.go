package plot

import (
	"fmt"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Bars is a grouped bar chart: one group of bars per category, one bar per
// series in each group, optionally with error bars.
type Bars struct {
	Title, YLabel string
	Categories    []string
	Series        []BarSeries
}

// BarSeries is one bar per category.
type BarSeries struct {
	Name   string
	Values []float64 // one per category
	// Lo and Hi, when set (both, one per category), are the ends of an
	// error bar around each value (a confidence interval, say), in data
	// units: Lo ≤ value ≤ Hi.
	Lo, Hi []float64
}

func (b Bars) validate() error {
	if len(b.Categories) == 0 || len(b.Series) == 0 {
		return fmt.Errorf("%w: bar chart %q needs categories and series", ErrNoData, b.Title)
	}
	for _, s := range b.Series {
		if len(s.Values) != len(b.Categories) {
			return fmt.Errorf("%w: series %q has %d values for %d categories", ErrBadChart, s.Name, len(s.Values), len(b.Categories))
		}
		if (s.Lo == nil) != (s.Hi == nil) {
			return fmt.Errorf("%w: series %q sets only one end of its error bars", ErrBadChart, s.Name)
		}
		if s.Lo != nil && (len(s.Lo) != len(s.Values) || len(s.Hi) != len(s.Values)) {
			return fmt.Errorf("%w: series %q has %d/%d error bar ends for %d values", ErrBadChart, s.Name, len(s.Lo), len(s.Hi), len(s.Values))
		}
		for i, v := range s.Values {
			if !finite(v) {
				return fmt.Errorf("%w: series %q value %d is %v", ErrBadChart, s.Name, i, v)
			}
			if s.Lo != nil && !(finite(s.Lo[i]) && finite(s.Hi[i]) && s.Lo[i] <= v && v <= s.Hi[i]) {
				return fmt.Errorf("%w: series %q error bar %d [%v, %v] does not contain %v", ErrBadChart, s.Name, i, s.Lo[i], s.Hi[i], v)
			}
		}
	}
	return nil
}

func (b Bars) build() (*gplot.Plot, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	p := newPlot(b.Title, "", b.YLabel)
	// A group of bars is 72 pt wide (a bar at most 48 pt): gonum sizes bars
	// in points, not in data units.
	n := len(b.Series)
	width := vg.Points(min(48, 72/float64(n)))
	for i, s := range b.Series {
		bc, err := plotter.NewBarChart(plotter.Values(s.Values), width)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadChart, err)
		}
		bc.Color = seriesColor(i)
		bc.LineStyle.Width = 0
		bc.Offset = width * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(bc)
		if n > 1 || s.Name != "" {
			p.Legend.Add(s.Name, bc)
		}
		if s.Lo != nil {
			p.Add(&errorBars{lo: s.Lo, hi: s.Hi, offset: bc.Offset, cap: width / 3})
		}
	}
	p.NominalX(b.Categories...)
	return p, nil
}

// errorBars draws vertical bars from lo[i] to hi[i] at category i, shifted
// by offset (the bar's own offset in its group).
type errorBars struct {
	lo, hi []float64
	offset vg.Length
	cap    vg.Length
}

func (e *errorBars) Plot(c draw.Canvas, plt *gplot.Plot) {
	trX, trY := plt.Transforms(&c)
	sty := draw.LineStyle{Color: plotter.DefaultLineStyle.Color, Width: vg.Points(1)}
	for i := range e.lo {
		x := trX(float64(i)) + e.offset
		lo, hi := trY(e.lo[i]), trY(e.hi[i])
		c.StrokeLine2(sty, x, lo, x, hi)
		c.StrokeLine2(sty, x-e.cap, lo, x+e.cap, lo)
		c.StrokeLine2(sty, x-e.cap, hi, x+e.cap, hi)
	}
}

// DataRange makes the axis include the error bars.
func (e *errorBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = 0, float64(len(e.lo)-1)
	ymin, ymax = e.lo[0], e.hi[0]
	for i := range e.lo {
		ymin = min(ymin, e.lo[i])
		ymax = max(ymax, e.hi[i])
	}
	return xmin, xmax, ymin, ymax
}
