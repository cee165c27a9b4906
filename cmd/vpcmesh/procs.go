package main

import (
	"os"
	"runtime"
	"strconv"
)

// goProcs is how many CPUs the gateway's Go code runs on: half of those it
// may use (rounded up), unless GOMAXPROCS is set.
//
// Per byte carried, the kernel's half of the data path (TUN, UDP, the
// forwarding to and from the hosts) costs about as much CPU as the
// gateway's own half (ChaCha20-Poly1305, segmentation, checksums). With a
// Go thread on every CPU the two halves fight for the same cores and every
// hand-off between wireguard-go's stages wakes a thread on another CPU,
// which in a VM is an interrupt across vCPUs. On the 2-vCPU machines that
// gateways usually are, one CPU for Go carried 1.13–1.34 times the
// traffic at 0.83–0.85 times the CPU per GiB (docs/ARCHITECTURE.md,
// Measuring).
func goProcs(available int, env string) int {
	if n, err := strconv.Atoi(env); err == nil && n > 0 {
		return n
	}
	return max(1, (available+1)/2)
}

// setGoProcs applies goProcs and returns what it set and what was
// available.
func setGoProcs() (procs, available int) {
	available = runtime.GOMAXPROCS(0) // the CPUs and cgroup limit, or GOMAXPROCS
	procs = goProcs(available, os.Getenv("GOMAXPROCS"))
	runtime.GOMAXPROCS(procs)
	return procs, available
}
