//go:build !unix

package provider

// processCPU cannot be read here: benchmarks report no CPU time.
func processCPU() (int64, bool) { return 0, false }
