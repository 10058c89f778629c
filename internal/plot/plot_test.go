package plot

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func sampleBars() Bars {
	return Bars{Title: "TTFT by turn", YLabel: "ms", Categories: []string{"turn 1", "turn 2", "turn 3"},
		Series: []BarSeries{
			{Name: "no pool", Values: []float64{3, 5, 7}, Lo: []float64{2.5, 4.5, 6}, Hi: []float64{3.5, 5.5, 8}},
			{Name: "pool", Values: []float64{3, 1, 1.2}},
		}}
}

func sampleLines() Lines {
	return Lines{Title: "throughput", XLabel: "streams", YLabel: "tokens/s", XTicks: []float64{1, 4, 10},
		Series: []LineSeries{{Name: "batched", X: []float64{1, 4, 10}, Y: []float64{100, 350, 700}},
			{Name: "sequential", X: []float64{1, 10}, Y: []float64{100, 100}}}}
}

func sampleBoxes() Boxes {
	return Boxes{Title: "TTFT", YLabel: "ms", Groups: []BoxGroup{
		{Name: "baseline", Values: []float64{1, 2, 3, 4, 5, 6, 30}},
		{Name: "candidate", Values: []float64{1, 1.5, 2, 2.2, 2.5}},
	}}
}

// decode renders f and decodes the PNG.
func decode(t *testing.T, f Figure) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := f.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	return img
}

// countColor counts pixels within a small distance of c.
func countColor(img image.Image, c color.Color) int {
	cr, cg, cb, _ := c.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if absDiff(r, cr)+absDiff(g, cg)+absDiff(bl, cb) < 3*0x0800 {
				n++
			}
		}
	}
	return n
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestFigureSizesAndContent(t *testing.T) {
	tests := []struct {
		name         string
		fig          Figure
		wantW, wantH int
		colors       int // series colours that must show
	}{
		{"bars", Figure{Charts: []Chart{sampleBars()}, Width: 640, Height: 400}, 640, 400, 2},
		{"lines default size", Figure{Charts: []Chart{sampleLines()}}, 900, 600, 2},
		{"boxes", Figure{Charts: []Chart{sampleBoxes()}, Width: 500, Height: 500}, 500, 500, 2},
		{"grid 2x2", Figure{Charts: []Chart{sampleBars(), sampleLines(), sampleBoxes(), sampleBars()}}, 900, 1050, 2},
		{"one column", Figure{Charts: []Chart{sampleBars(), sampleLines()}, Columns: 1, Width: 700, Height: 900}, 700, 900, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := decode(t, tc.fig)
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH {
				t.Fatalf("PNG is %d×%d, want %d×%d", b.Dx(), b.Dy(), tc.wantW, tc.wantH)
			}
			white := countColor(img, color.White)
			total := tc.wantW * tc.wantH
			if white == total || white < total/2 {
				t.Errorf("%d of %d pixels white: want a mostly white background with something drawn", white, total)
			}
			for i := range tc.colors {
				if n := countColor(img, seriesColor(i)); n < 50 {
					t.Errorf("series %d colour covers %d pixels: series not drawn", i, n)
				}
			}
		})
	}
}

func TestErrorBarsRaiseTheAxis(t *testing.T) {
	// The error bar of turn 3 reaches 8: the axis must include it, so the
	// chart with bars reaching 8 and the one with bars reaching 7 differ.
	a := decode(t, Figure{Charts: []Chart{sampleBars()}, Width: 400, Height: 300})
	nb := sampleBars()
	nb.Series[0].Lo, nb.Series[0].Hi = nil, nil
	b := decode(t, Figure{Charts: []Chart{nb}, Width: 400, Height: 300})
	if countColor(a, color.Black) <= countColor(b, color.Black) {
		t.Error("error bars drew nothing")
	}
}

func TestSaveWritesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.png")
	if err := (Figure{Charts: []Chart{sampleLines()}, Width: 320, Height: 240}).Save(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 320 || cfg.Height != 240 {
		t.Fatalf("saved file: %+v, %v", cfg, err)
	}
	// A failed render leaves nothing behind, not even a temp file.
	bad := filepath.Join(t.TempDir(), "bad.png")
	if err := (Figure{Charts: []Chart{Lines{}}}).Save(bad); !errors.Is(err, ErrNoData) {
		t.Fatalf("got %v, want ErrNoData", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(bad)); len(ents) != 0 {
		t.Errorf("left %d files after a failed save", len(ents))
	}
	if err := (Figure{Charts: []Chart{sampleLines()}}).Save(filepath.Join(t.TempDir(), "no", "such", "dir.png")); err == nil {
		t.Error("saving into a missing directory succeeded")
	}
}

func TestInvalidCharts(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		fig  Figure
		want error
	}{
		{"no charts", Figure{}, ErrNoData},
		{"nil chart", Figure{Charts: []Chart{nil}}, ErrBadChart},
		{"too small", Figure{Charts: []Chart{sampleBars()}, Width: 10, Height: 10}, ErrBadChart},
		{"too large", Figure{Charts: []Chart{sampleBars()}, Width: 100000, Height: 600}, ErrBadChart},
		{"bars empty", Figure{Charts: []Chart{Bars{}}}, ErrNoData},
		{"bars length", Figure{Charts: []Chart{Bars{Categories: []string{"a", "b"}, Series: []BarSeries{{Values: []float64{1}}}}}}, ErrBadChart},
		{"bars NaN", Figure{Charts: []Chart{Bars{Categories: []string{"a"}, Series: []BarSeries{{Values: []float64{nan}}}}}}, ErrBadChart},
		{"bars one end", Figure{Charts: []Chart{Bars{Categories: []string{"a"}, Series: []BarSeries{{Values: []float64{1}, Lo: []float64{0}}}}}}, ErrBadChart},
		{"bars interval misses value", Figure{Charts: []Chart{Bars{Categories: []string{"a"}, Series: []BarSeries{{Values: []float64{1}, Lo: []float64{2}, Hi: []float64{3}}}}}}, ErrBadChart},
		{"lines empty", Figure{Charts: []Chart{Lines{}}}, ErrNoData},
		{"lines no points", Figure{Charts: []Chart{Lines{Series: []LineSeries{{Name: "x"}}}}}, ErrNoData},
		{"lines length", Figure{Charts: []Chart{Lines{Series: []LineSeries{{X: []float64{1, 2}, Y: []float64{1}}}}}}, ErrBadChart},
		{"lines Inf", Figure{Charts: []Chart{Lines{Series: []LineSeries{{X: []float64{1}, Y: []float64{math.Inf(1)}}}}}}, ErrBadChart},
		{"lines bad tick", Figure{Charts: []Chart{Lines{Series: []LineSeries{{X: []float64{1}, Y: []float64{1}}}, XTicks: []float64{nan}}}}, ErrBadChart},
		{"boxes empty", Figure{Charts: []Chart{Boxes{}}}, ErrNoData},
		{"boxes no values", Figure{Charts: []Chart{Boxes{Groups: []BoxGroup{{Name: "a"}}}}}, ErrNoData},
		{"boxes NaN", Figure{Charts: []Chart{Boxes{Groups: []BoxGroup{{Name: "a", Values: []float64{1, nan}}}}}}, ErrBadChart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := tc.fig.WritePNG(&buf)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes for an invalid figure", buf.Len())
			}
		})
	}
}

func BenchmarkFigure(b *testing.B) {
	f := Figure{Charts: []Chart{sampleBars(), sampleLines(), sampleBoxes(), sampleBars()}}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := f.WritePNG(&buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMain-free helper: write the sample figure for eyeballing with
// KRSERVE_PLOT_SAMPLE=path go test -run TestWriteSample.
func TestWriteSample(t *testing.T) {
	path := os.Getenv("KRSERVE_PLOT_SAMPLE")
	if path == "" {
		t.Skip("set KRSERVE_PLOT_SAMPLE=out.png to write the sample figure")
	}
	if err := (Figure{Charts: []Chart{sampleBars(), sampleLines(), sampleBoxes()}}).Save(path); err != nil {
		t.Fatal(err)
	}
}
