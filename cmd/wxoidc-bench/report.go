package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the JSON document a run writes.
type report struct {
	Started  time.Time         `json:"started"`
	Command  string            `json:"command"`
	Machine  machine           `json:"machine"`
	Settings map[string]string `json:"settings"`
	// Runs are every measurement; Medians one line per (label, connections)
	// with the median of each figure over the repeats.
	Runs    []result `json:"runs"`
	Medians []result `json:"medians"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	LoadAvg   string `json:"loadavg_at_start"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					m.CPUModel = strings.TrimSpace(v)
					break
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.TrimSpace(string(b))
	}
	return m
}

// medians folds repeated runs of the same (label, connections) into one
// result per figure's median; runs keep their order of first appearance.
func medians(runs []result) []result {
	type key struct {
		label string
		conns int
	}
	var order []key
	groups := map[key][]result{}
	for _, r := range runs {
		k := key{r.Label, r.Conns}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]result, 0, len(order))
	for _, k := range order {
		g := groups[k]
		m := g[0]
		m.Repeat = len(g)
		med := func(f func(result) float64) float64 {
			v := make([]float64, len(g))
			for i, r := range g {
				v[i] = f(r)
			}
			slices.Sort(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		m.RPS = med(func(r result) float64 { return r.RPS })
		m.P50ms = med(func(r result) float64 { return r.P50ms })
		m.P90ms = med(func(r result) float64 { return r.P90ms })
		m.P99ms = med(func(r result) float64 { return r.P99ms })
		m.MaxMs = med(func(r result) float64 { return r.MaxMs })
		m.ServerCPUms = med(func(r result) float64 { return r.ServerCPUms })
		m.ServerCores = med(func(r result) float64 { return r.ServerCores })
		m.LoaderCPUms = med(func(r result) float64 { return r.LoaderCPUms })
		m.PeakRSSMiB = med(func(r result) float64 { return r.PeakRSSMiB })
		m.RSSMiB = med(func(r result) float64 { return r.RSSMiB })
		m.OtherCores = med(func(r result) float64 { return r.OtherCores })
		m.StealCores = med(func(r result) float64 { return r.StealCores })
		optional := func(get func(result) *float64) *float64 {
			if get(m) == nil {
				return nil
			}
			v := med(func(r result) float64 {
				if p := get(r); p != nil {
					return *p
				}
				return 0
			})
			return &v
		}
		m.EmulatorCPUms = optional(func(r result) *float64 { return r.EmulatorCPUms })
		m.DatabaseCPUms = optional(func(r result) *float64 { return r.DatabaseCPUms })
		m.Requests, m.Errors, m.PrepErrors = 0, 0, 0
		m.Statuses = map[string]int{}
		m.ErrorSample = nil
		for _, r := range g {
			m.Requests += r.Requests
			m.Errors += r.Errors
			m.PrepErrors += r.PrepErrors
			for s, n := range r.Statuses {
				m.Statuses[s] += n
			}
			for _, e := range r.ErrorSample {
				if len(m.ErrorSample) < 5 {
					m.ErrorSample = append(m.ErrorSample, e)
				}
			}
		}
		// The spread of req/s tells how noisy the machine was.
		if len(g) > 1 {
			lo, hi := g[0].RPS, g[0].RPS
			for _, r := range g {
				lo, hi = min(lo, r.RPS), max(hi, r.RPS)
			}
			m.RPSSpread = fmt.Sprintf("%.0f–%.0f", lo, hi)
		}
		out = append(out, m)
	}
	return out
}

// printTable writes results as an aligned text table.
func printTable(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tconns\treq/s\tp50 ms\tp90 ms\tp99 ms\terrors\tsrv CPU-ms/req\tsrv cores\temu CPU-ms/req\tdb CPU-ms/req\tloader CPU-ms/req\tpeak RSS MiB\tother cores\truns\treq/s range\t")
	opt := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", *p)
	}
	for _, r := range rs {
		errs := fmt.Sprint(r.Errors)
		if r.PrepErrors > 0 {
			errs += fmt.Sprintf("+%d", r.PrepErrors)
		}
		spread := r.RPSSpread
		if spread == "" {
			spread = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%.3f\t%.2f\t%s\t%s\t%.3f\t%.1f\t%.2f\t%d\t%s\t\n",
			r.Label, r.Conns, r.RPS, r.P50ms, r.P90ms, r.P99ms, errs, r.ServerCPUms, r.ServerCores, opt(r.EmulatorCPUms), opt(r.DatabaseCPUms), r.LoaderCPUms, r.PeakRSSMiB, r.OtherCores, max(r.Repeat, 1), spread)
	}
	_ = tw.Flush()
	for _, r := range rs {
		if r.Errors+r.PrepErrors > 0 {
			fmt.Fprintf(w, "  %s @%d: %d errors %v; e.g. %q\n", r.Label, r.Conns, r.Errors+r.PrepErrors, r.Statuses, r.ErrorSample)
		}
	}
}

func writeJSON(path string, rep report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
