// Package standin is a small Go data plane that behaves like Envoy for
// exactly the configuration ActionGate's xDS server generates, so tests and
// the local quickstart can run the whole request path on machines where no
// Envoy binary can be obtained.
//
// It is a TEST AND QUICKSTART TOOL, NEVER A PRODUCTION PROXY: it speaks
// HTTP/1.1 (and h2c) on plaintext listeners only, implements one endpoint
// per cluster, and has none of Envoy's hardening, load balancing, draining or
// observability.
//
// Fidelity rules:
//   - It talks to ActionGate only the way Envoy does: it fetches listeners,
//     routes and clusters over one ADS (SotW) stream and calls the ext_authz
//     and ext_proc services over gRPC. It imports none of ActionGate's
//     packages, so it cannot pass a test by sharing code with the servers.
//   - It refuses (NACKs) every configuration it does not implement: each
//     resource is validated with the generated PGV rules, every Any is
//     unpacked and validated, semantic checks Envoy performs at load time are
//     repeated, and any populated field outside an allow-list of implemented
//     fields is rejected. It can therefore never silently diverge from Envoy
//     by ignoring a setting.
//   - Where Envoy's behaviour depends on its version (PROTOCOLS.md A.4, B.4,
//     B.8), Options.EnvoyVersion selects it.
//
// Request flow for one HTTP stream (see README.md): the HCM normalises the
// request (lower-case headers, pseudo-headers, x-request-id, path
// normalisation), the route is selected, the decoder filters run in listed
// order, the router proxies to the cluster, and the encoder filters run in
// reverse order; local replies follow Envoy's rules on which filters see
// them and when they become stream resets.
package standin
