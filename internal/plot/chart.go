package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	// ErrBadChart means a chart's data is inconsistent (lengths differ, a
	// value is not finite, an error bar does not contain its value) or a
	// figure's size is out of range; the message names the field. Fix the
	// caller's data.
	ErrBadChart = errors.New("plot: invalid chart")
	// ErrNoData means a chart has nothing to draw (no series, categories or
	// values). Skip the plot or report that there was nothing to show.
	ErrNoData = errors.New("plot: no data")
)

// Chart is one panel of a Figure: Bars, Lines or Boxes.
type Chart interface {
	// build validates the chart and returns the gonum plot drawing it.
	build() (*gplot.Plot, error)
}

// Size limits of a Figure, in pixels.
const (
	MinPixels = 100
	MaxPixels = 8000
	// DPI is the resolution charts are laid out at: fonts and line widths
	// scale with it.
	DPI = 96
)

// Figure is a grid of charts rendered into one PNG.
type Figure struct {
	Charts []Chart
	// Columns of the grid (0 = as many as charts, up to 2); rows follow.
	Columns int
	// Width and Height in pixels (0 = 900 × 600 per row of charts, rows
	// after the first 450 px each).
	Width, Height int
}

func (f Figure) layout() (cols, rows, w, h int, err error) {
	if len(f.Charts) == 0 {
		return 0, 0, 0, 0, fmt.Errorf("%w: figure has no charts", ErrNoData)
	}
	cols = f.Columns
	if cols <= 0 {
		cols = min(2, len(f.Charts))
	}
	cols = min(cols, len(f.Charts))
	rows = (len(f.Charts) + cols - 1) / cols
	w, h = f.Width, f.Height
	if w == 0 {
		w = 900
	}
	if h == 0 {
		h = 600 + 450*(rows-1)
	}
	if w < MinPixels || h < MinPixels || w > MaxPixels || h > MaxPixels {
		return 0, 0, 0, 0, fmt.Errorf("%w: size %d×%d px outside [%d, %d]", ErrBadChart, w, h, MinPixels, MaxPixels)
	}
	return cols, rows, w, h, nil
}

// WritePNG renders the figure as a PNG to w.
func (f Figure) WritePNG(w io.Writer) error {
	cols, rows, width, height, err := f.layout()
	if err != nil {
		return err
	}
	plots := make([][]*gplot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*gplot.Plot, cols)
	}
	for i, c := range f.Charts {
		if c == nil {
			return fmt.Errorf("%w: chart %d is nil", ErrBadChart, i)
		}
		p, err := c.build()
		if err != nil {
			return fmt.Errorf("chart %d: %w", i, err)
		}
		headroom(p)
		plots[i/cols][i%cols] = p
	}
	px := vg.Inch / DPI
	canvas := vgimg.NewWith(vgimg.UseWH(vg.Length(width)*px, vg.Length(height)*px), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(canvas)
	pad := vg.Points(8)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: 2 * pad, PadY: 2 * pad, PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad}
	areas := gplot.Align(plots, tiles, dc)
	for r := range plots {
		for c, p := range plots[r] {
			if p != nil {
				p.Draw(areas[r][c])
			}
		}
	}
	_, err = vgimg.PngCanvas{Canvas: canvas}.WriteTo(w)
	return err
}

// Save writes the figure as a PNG file at path. The file is written in
// full or not at all: a failed render leaves no partial file behind.
func (f Figure) Save(path string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := f.WritePNG(tmp); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// palette holds series colours that stay apart for colour-blind readers
// (Okabe–Ito).
var palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xB2, 0xff}, // blue
	color.RGBA{0xE6, 0x9F, 0x00, 0xff}, // orange
	color.RGBA{0x00, 0x9E, 0x73, 0xff}, // green
	color.RGBA{0xCC, 0x79, 0xA7, 0xff}, // pink
	color.RGBA{0x56, 0xB4, 0xE9, 0xff}, // sky
	color.RGBA{0xD5, 0x5E, 0x00, 0xff}, // vermilion
	color.RGBA{0xF0, 0xE4, 0x42, 0xff}, // yellow
}

func seriesColor(i int) color.Color { return palette[i%len(palette)] }

// newPlot returns a plot with the title and axis labels set.
func newPlot(title, xlabel, ylabel string) *gplot.Plot {
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Y.Min = 0
	return p
}

// headroom raises the top of the y axis by a fifth of its range, so the
// legend in the top corner does not cover the data.
func headroom(p *gplot.Plot) {
	if r := p.Y.Max - p.Y.Min; r > 0 && finite(r) {
		p.Y.Max += r / 5
	} else if p.Y.Max == p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
}
