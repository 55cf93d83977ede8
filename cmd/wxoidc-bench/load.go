package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runSpec is one measurement: a scenario at a concurrency for a duration.
type runSpec struct {
	label    string // table label; the scenario name when empty
	phase    string // what server set-up served it (for the JSON)
	sc       scenario
	conns    int
	warmup   time.Duration
	duration time.Duration
	repeat   int // 1-based index among repeats
}

// observed are the processes whose CPU and memory a run reports.
type observed struct {
	servers  []int // server processes: CPU summed, memory per process
	emulator int   // a separate emulator process, 0 if none or in-process
	// database is a database server's main process (PostgreSQL's
	// postmaster): its CPU and its children's count. 0 if none.
	database int
}

// result is one run's figures. CPU-ms per request counts every completed
// request of the window, errors included.
type result struct {
	Label       string         `json:"label"`
	Phase       string         `json:"phase,omitempty"`
	Scenario    string         `json:"scenario"`
	Conns       int            `json:"connections"`
	Repeat      int            `json:"repeat"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"`
	Errors      int            `json:"errors"`
	PrepErrors  int            `json:"prep_errors,omitempty"`
	Statuses    map[string]int `json:"statuses,omitempty"`
	ErrorSample []string       `json:"error_sample,omitempty"`
	RPS         float64        `json:"rps"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	// ServerCPUms is the server processes' CPU time per request; with the
	// emulator in-process it includes minting the codes.
	ServerCPUms float64 `json:"server_cpu_ms_per_req"`
	// ServerCores is the server's average CPU use over the window, in cores.
	ServerCores   float64  `json:"server_cores"`
	EmulatorCPUms *float64 `json:"emulator_cpu_ms_per_req,omitempty"`
	// DatabaseCPUms is a database server's CPU per request (PostgreSQL),
	// including whatever else it served meanwhile.
	DatabaseCPUms *float64 `json:"database_cpu_ms_per_req,omitempty"`
	LoaderCPUms   float64  `json:"loader_cpu_ms_per_req"`
	// PeakRSSMiB is the largest VmHWM of the server processes over this run
	// (reset at its start when the kernel allows); RSSMiB the VmRSS at its end.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	RSSMiB     float64 `json:"rss_mib"`
	PeakReset  bool    `json:"peak_rss_reset"`
	// OtherCores is the machine's busy CPU over the window, in cores, less
	// what the measured processes (servers, emulator, database, loader)
	// used: other tenants of the machine. StealCores is CPU the hypervisor
	// gave to other guests. Both say how noisy the run was.
	OtherCores float64 `json:"other_cores"`
	StealCores float64 `json:"steal_cores"`
	// RPSSpread is the lowest–highest req/s over repeats (medians only).
	RPSSpread string `json:"rps_spread,omitempty"`
}

// workerStats is one worker's tally for the measured window.
type workerStats struct {
	lat        []int64 // ns, successful and failed requests alike
	errors     int
	prepErrors int
	statuses   map[int]int
	sample     []string
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// runLoad runs one measurement against lc's servers.
func runLoad(ctx context.Context, lc *loadConfig, spec runSpec, obs observed) (result, error) {
	workers, err := startWorkers(ctx, lc, spec.sc, spec.conns)
	if err != nil {
		return result{}, err
	}
	defer func() {
		for _, w := range workers {
			w.srv.close()
			if w.emu != nil {
				w.emu.close()
			}
		}
	}()

	peakReset := true
	for _, pid := range obs.servers {
		if err := resetPeakRSS(pid); err != nil {
			peakReset = false
		}
	}

	var phase atomic.Int32
	stats := make([]*workerStats, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		st := &workerStats{statuses: map[int]int{}, lat: make([]int64, 0, 4096)}
		stats[i] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx, w, st, &phase)
		}()
	}

	stopAll := func() {
		phase.Store(phaseStop)
		wg.Wait()
	}
	if !sleepCtx(ctx, spec.warmup) {
		stopAll()
		return result{}, ctx.Err()
	}
	cpu0, err := snapshotCPU(obs)
	if err != nil {
		stopAll()
		return result{}, err
	}
	t0 := time.Now()
	phase.Store(phaseMeasure)
	ok := sleepCtx(ctx, spec.duration)
	phase.Store(phaseStop)
	elapsed := time.Since(t0)
	cpu1, cerr := snapshotCPU(obs)
	wg.Wait()
	if !ok {
		return result{}, ctx.Err()
	}
	if cerr != nil {
		return result{}, cerr
	}

	res := summarize(spec, stats, elapsed)
	n := float64(res.Requests)
	if n > 0 {
		res.ServerCPUms = (cpu1.servers - cpu0.servers) / n
		res.LoaderCPUms = (cpu1.loader - cpu0.loader) / n
		if obs.emulator != 0 {
			v := (cpu1.emulator - cpu0.emulator) / n
			res.EmulatorCPUms = &v
		}
		if obs.database != 0 {
			v := (cpu1.database - cpu0.database) / n
			res.DatabaseCPUms = &v
		}
	}
	ms := float64(elapsed.Milliseconds())
	res.ServerCores = (cpu1.servers - cpu0.servers) / ms
	ours := (cpu1.servers - cpu0.servers) + (cpu1.emulator - cpu0.emulator) + (cpu1.database - cpu0.database) + (cpu1.loader - cpu0.loader)
	res.OtherCores = max(0, (cpu1.machine.busy-cpu0.machine.busy-ours)/ms)
	res.StealCores = (cpu1.machine.steal - cpu0.machine.steal) / ms
	res.PeakReset = peakReset
	for _, pid := range obs.servers {
		rss, hwm, err := procMemory(pid)
		if err != nil {
			return res, err
		}
		res.PeakRSSMiB = max(res.PeakRSSMiB, hwm)
		res.RSSMiB = max(res.RSSMiB, rss)
	}
	return res, nil
}

// startWorkers connects and prepares every worker in parallel (set-up such
// as the grants that give refresh tokens is not measured).
func startWorkers(ctx context.Context, lc *loadConfig, sc scenario, n int) ([]*worker, error) {
	workers := make([]*worker, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		w := &worker{lc: lc, id: i, conns: n, srv: newConn(lc.servers[i%len(lc.servers)], lc.timeout)}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sc.init(ctx, w)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, w := range workers {
			w.srv.close()
			if w.emu != nil {
				w.emu.close()
			}
		}
		return nil, fmt.Errorf("%s: set-up: %w", sc.name, firstErr(errs))
	}
	return workers, nil
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// loop is one worker: request after request on its connection until the
// stop phase. Only requests that complete inside the measured window count.
func loop(ctx context.Context, w *worker, st *workerStats, phase *atomic.Int32) {
	for phase.Load() != phaseStop && ctx.Err() == nil {
		req, err := w.next(ctx)
		if err != nil {
			if phase.Load() == phaseMeasure {
				st.prepErrors++
				st.addSample("set-up: " + err.Error())
			}
			// Do not spin on a failing emulator.
			sleepCtx(ctx, 10*time.Millisecond)
			continue
		}
		start := time.Now()
		status, body, err := w.srv.do(req)
		lat := time.Since(start)
		if err == nil {
			err = w.done(status, body)
		}
		if phase.Load() != phaseMeasure {
			continue
		}
		st.lat = append(st.lat, int64(lat))
		st.statuses[status]++
		if err != nil {
			st.errors++
			st.addSample(err.Error())
		}
	}
}

func (st *workerStats) addSample(s string) {
	if len(st.sample) < 3 {
		st.sample = append(st.sample, s)
	}
}

func summarize(spec runSpec, stats []*workerStats, elapsed time.Duration) result {
	res := result{
		Label:    spec.label,
		Phase:    spec.phase,
		Scenario: spec.sc.name,
		Conns:    spec.conns,
		Repeat:   spec.repeat,
		Seconds:  elapsed.Seconds(),
		Statuses: map[string]int{},
	}
	if res.Label == "" {
		res.Label = spec.sc.name
	}
	var all []int64
	for _, st := range stats {
		all = append(all, st.lat...)
		res.Errors += st.errors
		res.PrepErrors += st.prepErrors
		for code, n := range st.statuses {
			k := strconv.Itoa(code)
			if code == 0 {
				k = "transport"
			}
			res.Statuses[k] += n
		}
		for _, s := range st.sample {
			if len(res.ErrorSample) < 5 {
				res.ErrorSample = append(res.ErrorSample, s)
			}
		}
	}
	res.Requests = len(all)
	res.RPS = float64(len(all)) / elapsed.Seconds()
	slices.Sort(all)
	res.P50ms = percentile(all, 0.50)
	res.P90ms = percentile(all, 0.90)
	res.P99ms = percentile(all, 0.99)
	if len(all) > 0 {
		res.MaxMs = float64(all[len(all)-1]) / 1e6
	}
	return res
}

// percentile is the nearest-rank percentile of sorted ns values, in ms.
func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return float64(sorted[rank]) / 1e6
}

type cpuSnapshot struct {
	servers, emulator, database, loader float64
	machine                             machineCPU
}

func snapshotCPU(obs observed) (cpuSnapshot, error) {
	var s cpuSnapshot
	for _, pid := range obs.servers {
		v, err := procCPU(pid)
		if err != nil {
			return s, err
		}
		s.servers += v
	}
	if obs.emulator != 0 {
		v, err := procCPU(obs.emulator)
		if err != nil {
			return s, err
		}
		s.emulator = v
	}
	if obs.database != 0 {
		v, err := procTreeCPU(obs.database)
		if err != nil {
			return s, err
		}
		s.database = v
	}
	v, err := procCPU(os.Getpid())
	if err != nil {
		return s, err
	}
	s.loader = v
	s.machine, err = readMachineCPU()
	return s, err
}

// sleepCtx sleeps for d or until ctx ends; false if ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
