package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports (the kernel ABI fixes it, not
// CONFIG_HZ), so reading it through sysconf, which needs cgo, buys nothing.
const clockTicks = 100

// procCPU returns the CPU time (user + system, all threads, dead ones
// included) that process pid has used, in milliseconds.
func procCPU(pid int) (float64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.ms(st.utime + st.stime), nil
}

// procTreeCPU is procCPU of pid plus its children: the live ones, and the
// exited ones it has waited for (cutime, cstime). It measures a database
// server that runs a process per connection (PostgreSQL).
func procTreeCPU(pid int) (float64, error) {
	root, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	total := root.utime + root.stime + root.cutime + root.cstime
	procs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		st, err := parseStat(b)
		if err != nil || st.ppid != pid {
			continue
		}
		total += st.utime + st.stime
	}
	return root.ms(total), nil
}

// stat holds the fields of /proc/PID/stat the harness reads, in ticks.
type stat struct {
	ppid                         int
	utime, stime, cutime, cstime uint64
}

func (stat) ms(ticks uint64) float64 { return float64(ticks) * 1000 / clockTicks }

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	return parseStat(b)
}

// parseStat parses a /proc/PID/stat line. The second field (comm) is
// parenthesised and may hold spaces or parentheses, so fields are counted
// from the last ')'.
func parseStat(b []byte) (stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errors.New("malformed /proc stat: no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return stat{}, errors.New("malformed /proc stat: too few fields")
	}
	var st stat
	var errs [5]error
	st.ppid, errs[0] = strconv.Atoi(f[1])
	st.utime, errs[1] = strconv.ParseUint(f[11], 10, 64)
	st.stime, errs[2] = strconv.ParseUint(f[12], 10, 64)
	// cutime and cstime are signed in the kernel's format; never negative in practice.
	cu, err3 := strconv.ParseInt(f[13], 10, 64)
	cs, err4 := strconv.ParseInt(f[14], 10, 64)
	errs[3], errs[4] = err3, err4
	if err := errors.Join(errs[:]...); err != nil || cu < 0 || cs < 0 {
		return stat{}, errors.New("malformed /proc stat: a CPU time is not a number")
	}
	st.cutime, st.cstime = uint64(cu), uint64(cs)
	return st, nil
}

// machineCPU is the machine's CPU time from /proc/stat, in milliseconds:
// busy (all but idle and iowait) and steal (taken by the hypervisor).
type machineCPU struct{ busy, steal float64 }

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseMachineCPU(b)
}

func parseMachineCPU(b []byte) (machineCPU, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	// cpu user nice system idle iowait irq softirq steal [guest guest_nice]
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, errors.New("malformed /proc/stat")
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return machineCPU{}, errors.New("malformed /proc/stat")
		}
		v[i] = n
	}
	// guest time is already counted in user; steal is not busy time of ours.
	busy := v[0] + v[1] + v[2] + v[5] + v[6]
	return machineCPU{busy: float64(busy) * 1000 / clockTicks, steal: float64(v[7]) * 1000 / clockTicks}, nil
}

// procMemory returns VmRSS and VmHWM (peak RSS) of pid in MiB.
func procMemory(pid int) (rss, hwm float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	return parseStatusMemory(f)
}

func parseStatusMemory(f interface{ Read([]byte) (int, error) }) (rss, hwm float64, err error) {
	sc := bufio.NewScanner(f)
	found := 0
	for sc.Scan() {
		line := sc.Text()
		var dst *float64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &hwm
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return 0, 0, fmt.Errorf("malformed /proc status line %q", line)
		}
		kb, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("malformed /proc status line %q", line)
		}
		*dst = kb / 1024
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found < 2 {
		return 0, 0, errors.New("VmRSS or VmHWM missing from /proc status")
	}
	return rss, hwm, nil
}

// resetPeakRSS resets VmHWM to the current RSS (Linux ≥ 4.0), so that the
// peak measured after a run belongs to that run. It needs ptrace rights over
// pid, which a user has over their own processes.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// pidListening finds the process listening on TCP port (IPv4 or IPv6, any
// address) by matching the socket inode in /proc/net/tcp* against the file
// descriptors of every process the caller can see.
func pidListening(port int) (int, error) {
	inodes := map[string]bool{}
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for ino := range listeningInodes(b, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket listens on port %d", port)
	}
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		fds, err := os.ReadDir(p + "/fd")
		if err != nil {
			continue // another user's process, or gone
		}
		for _, fd := range fds {
			target, err := os.Readlink(p + "/fd/" + fd.Name())
			if err != nil || !strings.HasPrefix(target, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] {
				return strconv.Atoi(filepath.Base(p))
			}
		}
	}
	return 0, fmt.Errorf("port %d is listening, but its process is not visible (another user's?): pass --server-pid", port)
}

// listeningInodes parses /proc/net/tcp{,6} and returns the inodes of sockets
// in LISTEN state (0A) on port.
func listeningInodes(table []byte, port int) map[string]bool {
	out := map[string]bool{}
	want := fmt.Sprintf(":%04X", port)
	lines := strings.Split(string(table), "\n")
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" || !strings.HasSuffix(f[1], want) {
			continue
		}
		out[f[9]] = true
	}
	return out
}
