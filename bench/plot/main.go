// Command plot draws the results of `go run ./bench scale` (a sweep over the
// number of simulated compute hosts) as a PNG: the late fraction in % and the
// Temporal server's CPU in cores against the number of hosts, one line per
// design (the CSV's design column). It is its own module so that the main
// module does not carry gonum; `go run ./bench scale` runs it:
//
//	cd bench/plot && go run . -o /tmp/scale.png /tmp/scale.csv [more.csv ...]
//
// The CSVs need the columns design, hosts, late_pct and server_cpu_cores;
// machine_cores, when present, draws the machine's cores on the CPU panel.
// Rows with an empty late_pct or server_cpu_cores (a run that failed) are
// left out of that panel.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	out := flag.String("o", "scale.png", "PNG to write")
	title := flag.String("title", "Simulated compute hosts on one machine", "title of the figure")
	target := flag.Float64("target", 1, "late target in % (a dashed line; 0: none)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run . [-o out.png] [-title t] results.csv [more.csv ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var rows []row
	for _, path := range flag.Args() {
		rs, err := readCSV(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "plot:", err)
			os.Exit(1)
		}
		rows = append(rows, rs...)
	}
	if err := draw2(rows, *title, *target, *out); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

// row is one measured N of one design; NaN where the CSV has no value.
type row struct {
	design    string
	hosts     float64
	latePct   float64
	serverCPU float64
	cores     float64
}

func readCSV(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseCSV(f, path)
}

func parseCSV(r io.Reader, name string) ([]row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: empty", name)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"design", "hosts", "late_pct", "server_cpu_cores"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s: no column %s", name, need)
		}
	}
	get := func(rec []string, key string) string {
		i, ok := col[key]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	num := func(rec []string, key string) float64 {
		v, err := strconv.ParseFloat(get(rec, key), 64)
		if err != nil {
			return nan
		}
		return v
	}
	var out []row
	for _, rec := range recs[1:] {
		r := row{design: get(rec, "design"), hosts: num(rec, "hosts"), latePct: num(rec, "late_pct"),
			serverCPU: num(rec, "server_cpu_cores"), cores: num(rec, "machine_cores")}
		if r.design == "" || r.hosts != r.hosts {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

var nan = math.NaN()

// draw2 draws the two panels, one above the other, into out.
func draw2(rows []row, title string, target float64, out string) error {
	if len(rows) == 0 {
		return errors.New("no rows to plot")
	}
	var designs []string
	for _, r := range rows {
		if !slices.Contains(designs, r.design) {
			designs = append(designs, r.design)
		}
	}
	late, err := panel(rows, designs, func(r row) float64 { return r.latePct })
	if err != nil {
		return err
	}
	late.Title.Text = title
	late.Y.Label.Text = "late host-runs (%)"
	cpu, err := panel(rows, designs, func(r row) float64 { return r.serverCPU })
	if err != nil {
		return err
	}
	cpu.Y.Label.Text = "Temporal server CPU (cores)"
	if target > 0 {
		addLevel(late, target, fmt.Sprintf("target %g%%", target))
	}
	cores := nan
	for _, r := range rows {
		if r.cores == r.cores {
			cores = r.cores
		}
	}
	if cores == cores {
		addLevel(cpu, cores, fmt.Sprintf("machine: %g cores", cores))
	}
	img := vgimg.New(7*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12), PadY: vg.Points(18)}
	canvases := plot.Align([][]*plot.Plot{{late}, {cpu}}, tiles, dc)
	late.Draw(canvases[0][0])
	cpu.Draw(canvases[1][0])
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// panel is a plot of value against hosts, one line per design.
func panel(rows []row, designs []string, value func(row) float64) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "simulated compute hosts"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	p.X.Min = 0
	for i, d := range designs {
		var xys plotter.XYs
		for _, r := range rows {
			if v := value(r); r.design == d && v == v {
				xys = append(xys, plotter.XY{X: r.hosts, Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		slices.SortFunc(xys, func(a, b plotter.XY) int {
			switch {
			case a.X < b.X:
				return -1
			case a.X > b.X:
				return 1
			}
			return 0
		})
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		s.Color = plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(d, l, s)
		p.Y.Max = max(p.Y.Max, maxY(xys)*1.1)
	}
	return p, nil
}

func maxY(xys plotter.XYs) float64 {
	m := 0.0
	for _, xy := range xys {
		m = max(m, xy.Y)
	}
	return m
}

// addLevel draws a dashed horizontal line at y.
func addLevel(p *plot.Plot, y float64, label string) {
	f := plotter.NewFunction(func(float64) float64 { return y })
	f.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	f.Color = color.Gray{Y: 110}
	p.Add(f)
	p.Legend.Add(label, f)
	p.Y.Max = max(p.Y.Max, y*1.15)
}
