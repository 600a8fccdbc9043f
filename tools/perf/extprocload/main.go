// Command extprocload measures what ActionGate's ext_proc server costs per
// MCP tools/call exchange, against a null ext_proc processor that answers
// every message with an empty CONTINUE (the gRPC and protobuf floor). Each
// server runs as its own process and its CPU time is read from
// /proc/<pid>/stat, so the load generator's CPU is excluded. Results and
// the command that produced them: docs/perf/extproc.md.
//
//	extprocload run [-rounds 3] [-c 8] [-n 20000] [-warmup 2000]   # both servers, one table
//	extprocload serve -mode actiongate|null -addr-file F [-cpuprofile P]
//	extprocload drive -target ADDR -pid PID [-metrics URL] -expect actiongate|null -scenario clean|secrets
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  extprocload run   [-rounds 3] [-c 8] [-n 20000] [-warmup 2000] [-registry examples/registry] [-cpuprofile-dir DIR]
  extprocload serve -mode actiongate|null [-registry DIR] [-addr-file F] [-cpuprofile F]
  extprocload drive -target ADDR -pid PID [-metrics URL] [-expect actiongate|null] [-scenario clean|secrets]
Run 'extprocload COMMAND -h' for a command's flags.`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "drive":
		err = drive(args[1:], stdout, stderr)
	case "run":
		err = runAll(args[1:], stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "extprocload:", err)
		return 1
	}
	return 0
}
