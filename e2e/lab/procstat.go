package lab

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcStat is what a process has cost so far, for tests that bound a
// daemon's CPU and memory (e.g. under a flood).
type ProcStat struct {
	CPU time.Duration // user plus system time of all its threads
	RSS int64         // resident memory, bytes; 0 for a zombie
}

// clockTicks is the unit of the times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture Go runs on
// (getconf CLK_TCK).
const clockTicks = 100

// ReadProcStat reads a process's figures from /proc/PID/stat and
// /proc/PID/status.
func ReadProcStat(pid int) (ProcStat, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcStat{}, err
	}
	// The command name, in parentheses, may itself hold spaces and
	// parentheses; the fields after the last ')' start with the state
	// (field 3), so utime (14) and stime (15) are the 12th and 13th.
	var f []string
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
		f = strings.Fields(string(stat[i+1:]))
	}
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("pid %d: short stat %q", pid, stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return ProcStat{}, fmt.Errorf("pid %d: stat times %q %q", pid, f[11], f[12])
	}
	ps := ProcStat{CPU: time.Duration(utime+stime) * time.Second / clockTicks}

	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcStat{}, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		kb, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		n, err := strconv.ParseInt(kb, 10, 64)
		if err != nil || strings.TrimSpace(unit) != "kB" {
			return ProcStat{}, fmt.Errorf("pid %d: VmRSS %q", pid, rest)
		}
		ps.RSS = n << 10
	}
	return ps, nil
}
