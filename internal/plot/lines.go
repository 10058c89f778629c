package plot

import (
	"fmt"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Lines is a line chart: each series is a polyline through its points,
// each point marked.
type Lines struct {
	Title, XLabel, YLabel string
	Series                []LineSeries
	// XTicks, when set, labels the x axis at these values only (integer
	// steps such as turns or stream counts).
	XTicks []float64
}

// LineSeries is one line; X and Y have the same length.
type LineSeries struct {
	Name string
	X, Y []float64
}

func (l Lines) validate() error {
	if len(l.Series) == 0 {
		return fmt.Errorf("%w: line chart %q has no series", ErrNoData, l.Title)
	}
	for _, s := range l.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("%w: series %q has %d x and %d y values", ErrBadChart, s.Name, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			return fmt.Errorf("%w: series %q has no points", ErrNoData, s.Name)
		}
		for i := range s.X {
			if !finite(s.X[i]) || !finite(s.Y[i]) {
				return fmt.Errorf("%w: series %q point %d is (%v, %v)", ErrBadChart, s.Name, i, s.X[i], s.Y[i])
			}
		}
	}
	for i, x := range l.XTicks {
		if !finite(x) {
			return fmt.Errorf("%w: x tick %d is %v", ErrBadChart, i, x)
		}
	}
	return nil
}

func (l Lines) build() (*gplot.Plot, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	p := newPlot(l.Title, l.XLabel, l.YLabel)
	p.Add(plotter.NewGrid())
	for i, s := range l.Series {
		xys := make(plotter.XYs, len(s.X))
		for j := range s.X {
			xys[j] = plotter.XY{X: s.X[j], Y: s.Y[j]}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadChart, err)
		}
		line.Color = seriesColor(i)
		line.Width = vg.Points(2)
		points.Color = seriesColor(i)
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(3)
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
	}
	if len(l.XTicks) > 0 {
		p.X.Tick.Marker = fixedTicks(l.XTicks)
	}
	return p, nil
}

// fixedTicks labels exactly the given values.
type fixedTicks []float64

func (f fixedTicks) Ticks(lo, hi float64) []gplot.Tick {
	var out []gplot.Tick
	for _, x := range f {
		if x >= lo && x <= hi {
			out = append(out, gplot.Tick{Value: x, Label: fmt.Sprintf("%g", x)})
		}
	}
	return out
}
