package plot

import (
	"fmt"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Boxes is a box plot: one box per group showing the median, the quartiles
// and whiskers to the farthest values within 1.5 interquartile ranges of
// the box, outliers as points (Tukey's rule, as gonum draws it).
type Boxes struct {
	Title, YLabel string
	Groups        []BoxGroup
}

// BoxGroup is one sample.
type BoxGroup struct {
	Name   string
	Values []float64
}

func (b Boxes) validate() error {
	if len(b.Groups) == 0 {
		return fmt.Errorf("%w: box plot %q has no groups", ErrNoData, b.Title)
	}
	for _, g := range b.Groups {
		if len(g.Values) == 0 {
			return fmt.Errorf("%w: group %q has no values", ErrNoData, g.Name)
		}
		for i, v := range g.Values {
			if !finite(v) {
				return fmt.Errorf("%w: group %q value %d is %v", ErrBadChart, g.Name, i, v)
			}
		}
	}
	return nil
}

func (b Boxes) build() (*gplot.Plot, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	p := newPlot(b.Title, "", b.YLabel)
	names := make([]string, len(b.Groups))
	for i, g := range b.Groups {
		bp, err := plotter.NewBoxPlot(vg.Points(40), float64(i), plotter.Values(g.Values))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadChart, err)
		}
		bp.FillColor = seriesColor(i)
		p.Add(bp)
		names[i] = g.Name
	}
	p.NominalX(names...)
	return p, nil
}
