package devenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// PingTopic is the topic PingKafka writes to and reads from.
const PingTopic = "actiongate.devenv.ping"

// KafkaOptions configure StartKafka.
type KafkaOptions struct {
	// Port to listen on (on 127.0.0.1); a free one if zero. The quickstart
	// uses a fixed port so its printed instructions stay valid.
	Port int
	// Topics are created up front with Partitions partitions each (1 if
	// zero). Other topics are created on first use.
	Topics     []string
	Partitions int32
	// StartTimeout bounds start-up including the readiness ping; 15 s if
	// zero.
	StartTimeout time.Duration
}

// Kafka is a Kafka-protocol broker (franz-go's kfake) running in this
// process on 127.0.0.1, in memory.
type Kafka struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// Logs has the broker's warnings and errors.
	Logs *Logs

	cluster *kfake.Cluster
	unwatch func() bool
}

// StartKafka starts the broker and returns once a message produced with the
// production client (kafka-go) has been read back. It is stopped when ctx
// ends or Stop is called.
func StartKafka(ctx context.Context, opts KafkaOptions) (*Kafka, error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 15 * time.Second
	}
	logs := NewLogs(0)
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.WithLogger(kfake.BasicLogger(logs, kfake.LogLevelWarn)),
	}
	if opts.Port != 0 {
		kopts = append(kopts, kfake.Ports(opts.Port))
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(max(opts.Partitions, 1), opts.Topics...))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start kafka broker: %w", err)
	}
	k := &Kafka{Brokers: cluster.ListenAddrs(), Logs: logs, cluster: cluster}
	k.unwatch = context.AfterFunc(ctx, k.Stop)

	pctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := poll(pctx, func(ctx context.Context) error { return PingKafka(ctx, k.Brokers) }); err != nil {
		k.Stop()
		return nil, fmt.Errorf("kafka broker on %v not ready: %w; log:\n%s", k.Brokers, err, logs.Tail(errorTail))
	}
	return k, nil
}

// Stop shuts the broker down; its data is gone.
func (k *Kafka) Stop() {
	k.unwatch()
	k.cluster.Close()
}

// PingKafka produces one uniquely keyed message to PingTopic with kafka-go,
// acknowledged by all replicas, and reads it back. It is a readiness check
// for any Kafka-protocol broker, not only ours. Without a deadline on ctx it
// gives up after 10 s.
func PingKafka(ctx context.Context, brokers []string) error {
	if len(brokers) == 0 {
		return errors.New("kafka ping: no brokers")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := ensurePingTopic(ctx, brokers[0]); err != nil {
		return err
	}
	key := []byte("ping-" + randomKey()[:16])
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        PingTopic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  1, // poll retries, not the writer
	}
	err := w.WriteMessages(ctx, kafka.Message{Key: key, Value: key})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("kafka ping: produce: %w", err)
	}
	return readBack(ctx, brokers, key)
}

// ensurePingTopic creates PingTopic with one partition, so the reader knows
// where the message went whatever the broker's default partition count.
func ensurePingTopic(ctx context.Context, broker string) error {
	addr, err := net.ResolveTCPAddr("tcp", broker)
	if err != nil {
		return fmt.Errorf("kafka ping: broker address %q: %w", broker, err)
	}
	c := &kafka.Client{Addr: addr, Timeout: 5 * time.Second}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: PingTopic, NumPartitions: 1, ReplicationFactor: 1}},
	})
	if err != nil {
		return fmt.Errorf("kafka ping: create topic: %w", err)
	}
	if terr := resp.Errors[PingTopic]; terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
		return fmt.Errorf("kafka ping: create topic: %w", terr)
	}
	return nil
}

func readBack(ctx context.Context, brokers []string, key []byte) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   brokers,
		Topic:     PingTopic,
		Partition: 0,
		MaxWait:   100 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		return fmt.Errorf("kafka ping: %w", err)
	}
	// Earlier pings precede ours on the partition; skip them.
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("kafka ping: read back: %w", err)
		}
		if bytes.Equal(m.Key, key) {
			if !bytes.Equal(m.Value, key) {
				return fmt.Errorf("kafka ping: message %q came back with value %q", key, m.Value)
			}
			return nil
		}
	}
}
