// Package reloadmetrics counts the reloads of hot-swapped content (the
// registry, the policy bundle) the same way for each: a counter of results
// and an info gauge naming the version being served.
package reloadmetrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics are one watcher's collectors; a nil *Metrics is a no-op.
type Metrics struct {
	reloads *prometheus.CounterVec
	info    *prometheus.GaugeVec
}

// New registers actiongate_<what>_reloads_total{result} and
// actiongate_<what>_info{<label>} on r (nil r: no metrics). what is
// "registry" or "policy"; noun names what a reload swaps ("version").
func New(r prometheus.Registerer, what, label, noun string) (*Metrics, error) {
	if r == nil {
		return nil, nil
	}
	m := &Metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actiongate_" + what + "_reloads_total",
			Help: "Reloads of the " + what + ": result=ok when a new " + noun +
				" was swapped in, result=error when loading failed and the previous one was kept.",
		}, []string{"result"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "actiongate_" + what + "_info",
			Help: "Always 1, labelled with the " + what + " " + noun + " being served.",
		}, []string{label}),
	}
	if err := r.Register(m.reloads); err != nil {
		return nil, err
	}
	if err := r.Register(m.info); err != nil {
		r.Unregister(m.reloads)
		return nil, err
	}
	// Both series exist from the start, so rate() and alerts see zeros.
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	return m, nil
}

// Result counts one reload outcome ("ok" or "error").
func (m *Metrics) Result(r string) {
	if m != nil {
		m.reloads.WithLabelValues(r).Inc()
	}
}

// Serving records the version now served.
func (m *Metrics) Serving(version string) {
	if m != nil {
		m.info.Reset()
		m.info.WithLabelValues(version).Set(1)
	}
}
