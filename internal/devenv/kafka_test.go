package devenv

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestKafkaRoundTrip(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	k, err := StartKafka(ctx, KafkaOptions{Topics: []string{"actiongate.audit"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	showLogsOnFailure(t, "kafka", k.Logs)
	if len(k.Brokers) != 1 || !strings.HasPrefix(k.Brokers[0], "127.0.0.1:") {
		t.Fatalf("brokers %v, want one on 127.0.0.1", k.Brokers)
	}
	// StartKafka pinged once already; pings must keep working on a topic
	// that now has history.
	for range 3 {
		if err := PingKafka(ctx, k.Brokers); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	assertSeeded(ctx, t, k.Brokers[0], "actiongate.audit", 3)

	k.Stop()
	short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if err := PingKafka(short, k.Brokers); err == nil {
		t.Fatal("ping succeeded after Stop")
	}
}

func assertSeeded(ctx context.Context, t *testing.T, broker, topic string, partitions int) {
	t.Helper()
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("read partitions of %s: %v", topic, err)
	}
	if len(parts) != partitions {
		t.Fatalf("%s has %d partitions, want %d", topic, len(parts), partitions)
	}
}

func TestKafkaFixedPort(t *testing.T) {
	t.Parallel()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	k, err := StartKafka(t.Context(), KafkaOptions{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	want := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if len(k.Brokers) != 1 || k.Brokers[0] != want {
		t.Fatalf("brokers %v, want [%s]", k.Brokers, want)
	}
	// A second broker on the same port must fail, not silently move.
	if k2, err := StartKafka(t.Context(), KafkaOptions{Port: port}); err == nil {
		k2.Stop()
		t.Fatal("second broker started on a taken port")
	}
}

func TestKafkaStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	k, err := StartKafka(ctx, KafkaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	// Stop runs in the background after cancel; wait for the port to close.
	deadline, stop := context.WithTimeout(t.Context(), 10*time.Second)
	defer stop()
	err = poll(deadline, func(ctx context.Context) error {
		c, err := net.DialTimeout("tcp", k.Brokers[0], time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		return errStillOpen
	})
	if err != nil {
		t.Fatalf("broker still listening after its context ended: %v", err)
	}
}

var errStillOpen = errors.New("port still accepts connections")

func TestPingKafkaNoBrokers(t *testing.T) {
	t.Parallel()
	if err := PingKafka(t.Context(), nil); err == nil {
		t.Fatal("ping with no brokers succeeded")
	}
}
