// Package devenv starts the real dependencies ActionGate runs against on one
// machine, for the end-to-end harness (random ports on 127.0.0.1) and for
// `actiongate quickstart` (fixed ports, progress output): a SpiceDB server
// process, an in-process Kafka-protocol broker, and the npm reference MCP
// server. Everything binds loopback only, is ready when a real request
// succeeds (polled with a deadline, never slept for), keeps its output in
// Logs for failing tests to print, and stops with its context or Stop.
//
// Dependencies that are not Go modules of ours are found or installed under
// ToolDir: SpiceDB is built once with `go install` (it stays out of our
// module graph), the reference server is installed once with npm.
package devenv
