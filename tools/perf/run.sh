#!/usr/bin/env bash
# Load-test ext_authz servers with ghz, in one run, and print a markdown
# table: the null server (the floor), plain OPA (the baseline), the same
# harness deciding through internal/policy, and, when given, ActionGate's
# ext_authz. See tools/perf/README.md.
#
#   tools/perf/run.sh [-c 8] [-n 20000] [-w 2000] [--tool get_quote]
#                     [--arguments '{"symbol":"ACME"}']
#                     [--actiongate 'CMD' --actiongate-target HOST:PORT
#                      [--actiongate-metrics URL]]
#
# CMD is run with `exec` in bash and must be the server process itself (a
# built binary, not `go run`): its CPU time is read from /proc/<pid>/stat.
# AG_PERF_TOKEN, if set, is the bearer token in every request (ActionGate
# verifies it); otherwise an unsigned demo token is used, which only the
# null and plain-OPA servers accept.
set -euo pipefail

concurrency=8 total=20000 warmup=2000 tool=get_quote arguments='{"symbol":"ACME"}'
ag_cmd='' ag_target='' ag_metrics=''
while [ $# -gt 0 ]; do
	case "$1" in
	-c) concurrency=$2; shift 2 ;;
	-n) total=$2; shift 2 ;;
	-w) warmup=$2; shift 2 ;;
	--tool) tool=$2; shift 2 ;;
	--arguments) arguments=$2; shift 2 ;;
	--actiongate) ag_cmd=$2; shift 2 ;;
	--actiongate-target) ag_target=$2; shift 2 ;;
	--actiongate-metrics) ag_metrics=$2; shift 2 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -n "$ag_cmd" ] && [ -z "$ag_target" ]; then
	echo "run.sh: --actiongate needs --actiongate-target" >&2
	exit 2
fi

cd "$(dirname "$0")/../.."
tools="${XDG_CACHE_HOME:-$HOME/.cache}/actiongate/tools"
ghz="$tools/ghz"
if [ ! -x "$ghz" ]; then
	echo "installing ghz v0.121.0 into $tools" >&2
	mkdir -p "$tools"
	GOBIN="$tools" go install github.com/bojand/ghz/cmd/ghz@v0.121.0
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/" ./tools/perf/nullauthz ./tools/perf/plainopa ./tools/perf/gencheck ./tools/perf/measure
token_flag=(-unsigned-demo-token)
[ -n "${AG_PERF_TOKEN:-}" ] && token_flag=()
"$work/gencheck" "${token_flag[@]}" -tool "$tool" -arguments "$arguments" \
	-out "$work/check.json" -protoset "$work/authz.protoset"

# start NAME CMD... : run a perf server with --addr-file, wait for the file.
start() {
	local name=$1; shift
	"$@" --addr-file "$work/$name.addr" 2>"$work/$name.log" &
	pids+=($!)
	local pid=$! deadline=$((SECONDS + 30))
	until [ -f "$work/$name.addr" ]; do
		if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			echo "run.sh: $name did not start:" >&2
			cat "$work/$name.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	server_pid=$pid
	server_target=$(sed -n 's/^grpc=//p' "$work/$name.addr")
	server_metrics=$(sed -n 's/^metrics=//p' "$work/$name.addr")
}

stop() {
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
}

row() {
	"$work/measure" -name "$1" -pid "$server_pid" -target "$server_target" -metrics "$server_metrics" \
		-data-file "$work/check.json" -protoset "$work/authz.protoset" -ghz "$ghz" \
		-c "$concurrency" -n "$total" -warmup "$warmup"
}

echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(go version | cut -d' ' -f3)"
echo "tools/call $tool $arguments; ghz -c $concurrency -n $total after $warmup warm-up calls"
echo
"$work/measure" -header

start null "$work/nullauthz"
row "null (always OK)"
stop

start plainopa "$work/plainopa" --policy policy --registry examples/registry
row "plain OPA (maps, rego defaults)"
stop

start engine "$work/plainopa" --mode engine --policy policy --registry examples/registry
row "same harness, internal/policy engine"
stop

if [ -n "$ag_cmd" ]; then
	bash -c "exec $ag_cmd" 2>"$work/actiongate.log" &
	server_pid=$!
	pids+=($server_pid)
	server_target=$ag_target server_metrics=$ag_metrics
	row "ActionGate ext_authz"
	if [ -n "$ag_metrics" ]; then
		# A fast denial is no result: show what ActionGate decided.
		echo
		echo "ActionGate decisions during the run:"
		curl -s "$ag_metrics" | grep '^actiongate_extauthz_decisions_total' | sed 's/^/    /'
	fi
	stop
fi
