package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Default topic names.
const (
	DefaultTopic    = "actiongate.revocations"
	DefaultAckTopic = "actiongate.revocations.acks"
)

// ackRetention is how long the ack topic keeps acks and heartbeats: a
// revoker reads only the last few seconds of it.
const ackRetention = time.Hour

// kafkaTimeout bounds one administrative request (metadata, offsets,
// topic creation) whose context has no deadline.
const kafkaTimeout = 10 * time.Second

// EnsureTopics creates the revocation topic (one partition, compacted, so
// the latest record per subject is kept forever) and the ack topic (one
// partition, deleted after an hour) unless they exist. A topic that exists
// is left as it is, whatever its settings; so is a broker that refuses to
// create topics (its operator creates them), which is not an error here:
// reading a missing topic fails later with a clear error.
func EnsureTopics(ctx context.Context, brokers []string, topic, ackTopic string) error {
	if len(brokers) == 0 {
		return errors.New("revocation: no Kafka brokers")
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: kafkaTimeout}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: 1, ReplicationFactor: -1, ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "cleanup.policy", ConfigValue: "compact"},
		}},
		{Topic: ackTopic, NumPartitions: 1, ReplicationFactor: -1, ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "cleanup.policy", ConfigValue: "delete"},
			{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(ackRetention.Milliseconds(), 10)},
		}},
	}})
	if err != nil {
		return fmt.Errorf("revocation: create topics: %w", err)
	}
	var errs []error
	for name, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("topic %s: %w", name, terr))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("revocation: create topics: %w", errors.Join(errs...))
	}
	return nil
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, kafkaTimeout)
}

// partitionRange is where a partition's log starts and ends (the offset
// the next record will get) at one moment.
type partitionRange struct {
	id          int
	first, next int64
}

// offsets lists topic's partitions with their first and next offsets. A
// missing topic is an error.
func offsets(ctx context.Context, brokers []string, topic string) ([]partitionRange, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: kafkaTimeout}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("topic %s: metadata: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		var terr error = errors.New("no partitions")
		if len(md.Topics) == 1 && md.Topics[0].Error != nil {
			terr = md.Topics[0].Error
		}
		return nil, fmt.Errorf("topic %s: %w", topic, terr)
	}
	var first, last []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		first = append(first, kafka.FirstOffsetOf(p.ID))
		last = append(last, kafka.LastOffsetOf(p.ID))
	}
	// Two requests: a broker refuses the same partition twice in one.
	firsts, err := listOffsets(ctx, c, topic, first, func(p kafka.PartitionOffsets) int64 { return p.FirstOffset })
	if err != nil {
		return nil, err
	}
	nexts, err := listOffsets(ctx, c, topic, last, func(p kafka.PartitionOffsets) int64 { return p.LastOffset })
	if err != nil {
		return nil, err
	}
	out := make([]partitionRange, 0, len(first))
	for _, r := range first {
		out = append(out, partitionRange{id: r.Partition, first: firsts[r.Partition], next: nexts[r.Partition]})
	}
	slices.SortFunc(out, func(a, b partitionRange) int { return a.id - b.id })
	return out, nil
}

func listOffsets(ctx context.Context, c *kafka.Client, topic string, reqs []kafka.OffsetRequest,
	pick func(kafka.PartitionOffsets) int64) (map[int]int64, error) {
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("topic %s: list offsets: %w", topic, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("topic %s/%d: list offsets: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = pick(p)
	}
	if len(out) != len(reqs) {
		return nil, fmt.Errorf("topic %s: list offsets answered %d of %d partitions", topic, len(out), len(reqs))
	}
	return out, nil
}

// newReader tails one partition. MinBytes 1 with a short MaxWait: the
// broker answers a fetch as soon as a record arrives, and an idle fetch
// returns within maxWait so a new connection or leader is found quickly.
func newReader(brokers []string, topic string, partition int, maxWait time.Duration, log *slog.Logger) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        brokers,
		Topic:          topic,
		Partition:      partition,
		MinBytes:       1,
		MaxBytes:       1 << 20,
		MaxWait:        maxWait,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn("revocation: kafka reader: "+fmt.Sprintf(msg, args...), "topic", topic, "partition", partition)
		}),
	})
}

// newWriter produces to topic, acknowledged by every in-sync replica, and
// sends each message at once: kafka-go otherwise holds a message until 100
// are batched or BatchTimeout (a second by default) passes.
func newWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		BatchSize:    1,
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     kafka.Murmur2Balancer{Consistent: true}, // Java's partitioner: compaction keys stay put
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		WriteTimeout: 5 * time.Second,
		MaxAttempts:  3,
	}
}

// tail sends every message of readers to out until ctx ends. kafka-go
// reconnects by itself; an error that reaches here (a broker error code) is
// logged and reading goes on from the same offset after a pause. The
// caller closes the readers once ctx has ended.
func tail(ctx context.Context, readers []*kafka.Reader, out chan<- kafka.Message, log *slog.Logger) {
	for _, r := range readers {
		go func() {
			for {
				m, err := r.ReadMessage(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					log.Warn("revocation: kafka read failed; retrying", "topic", r.Config().Topic,
						"partition", r.Config().Partition, "err", err)
					if !sleepCtx(ctx, time.Second) {
						return
					}
					continue
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// sleepCtx waits d, or less if ctx ends (then it reports false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
