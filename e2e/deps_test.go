package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/devenv"
)

// TestDependenciesAnswer: the real SpiceDB and Kafka-protocol broker of the
// environment are up and speak their protocols (later issues build on them).
func TestDependenciesAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := devenv.PingKafka(ctx, env.stack.Kafka.Brokers); err != nil {
		t.Errorf("Kafka round trip: %v", err)
	}
	if err := env.stack.SpiceDB.Ping(ctx); err != nil {
		t.Errorf("SpiceDB: %v", err)
	}
}
