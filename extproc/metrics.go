package extproc

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages *prometheus.CounterVec
	errors   *prometheus.CounterVec
	findings *prometheus.CounterVec
}

// newMetrics registers on reg when it is not nil, never on the global
// registry. A collector already registered (a second Server on the same
// registry) is reused so both count into one series.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actiongate_extproc_messages_total",
			Help: "ext_proc messages received from Envoy, by phase.",
		}, []string{"phase"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actiongate_extproc_errors_total",
			Help: "ext_proc problems handled (refused bodies, uninspectable responses, fail-closed answers), by reason.",
		}, []string{"reason"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actiongate_extproc_findings_total",
			Help: "Output guard findings (redactions, injection interceptions) by kind, class and action.",
		}, []string{"kind", "class", "action"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.messages, err = registerCounterVec(reg, m.messages)
	if err != nil {
		return m, err
	}
	if m.errors, err = registerCounterVec(reg, m.errors); err != nil {
		return m, err
	}
	m.findings, err = registerCounterVec(reg, m.findings)
	return m, err
}

func registerCounterVec(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return c, err
}
