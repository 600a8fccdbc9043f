package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadEvents reads every record of the events topic, every partition from
// its first offset to the end as of the call.
func ReadEvents(ctx context.Context, brokers []string, topic string) ([]Entry, error) {
	var out []Entry
	err := readTopic(ctx, brokers, topic, func(p int, off int64, _, value []byte) {
		e := Entry{Where: fmt.Sprintf("%s/%d@%d", topic, p, off), Stream: fmt.Sprintf("%s/%d", topic, p)}
		_, canon, err := ParseOTLPRecord(value)
		switch {
		case errors.Is(err, ErrAttributesMismatch):
			e.Raw, e.Problem = canon, err.Error()
		case err != nil:
			e.Raw, e.Problem = value, "not an audit OTLP record: "+err.Error() // reported as malformed
		default:
			e.Raw = canon
		}
		out = append(out, e)
	})
	return out, err
}

// ReadCheckpoints reads every signed checkpoint of the checkpoints topic.
func ReadCheckpoints(ctx context.Context, brokers []string, topic string) ([]SignedCheckpoint, error) {
	var out []SignedCheckpoint
	err := readTopic(ctx, brokers, topic, func(p int, off int64, _, value []byte) {
		out = append(out, SignedCheckpoint{Note: value, Where: fmt.Sprintf("%s/%d@%d", topic, p, off)})
	})
	return out, err
}

// readTopic calls fn for each record, partition by partition, in offset
// order, up to each partition's end offset when it was asked for.
func readTopic(ctx context.Context, brokers []string, topic string, fn func(int, int64, []byte, []byte)) error {
	parts, err := partitions(ctx, brokers, topic)
	if err != nil {
		return err
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	for _, p := range parts {
		leader := net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port))
		if err := readPartition(ctx, leader, topic, p.ID, fn); err != nil {
			return fmt.Errorf("read %s/%d: %w", topic, p.ID, err)
		}
	}
	return nil
}

func partitions(ctx context.Context, brokers []string, topic string) ([]kafka.Partition, error) {
	var errs []error
	for _, b := range brokers {
		conn, err := kafka.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		return parts, nil
	}
	return nil, fmt.Errorf("no broker reachable: %w", errors.Join(errs...))
}

func readPartition(ctx context.Context, leader, topic string, partition int, fn func(int, int64, []byte, []byte)) error {
	conn, err := kafka.DialLeader(ctx, "tcp", leader, topic, partition)
	if err != nil {
		return err
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return err
	}
	if _, err := conn.Seek(first, kafka.SeekAbsolute); err != nil {
		return err
	}
	for off := first; off < last; {
		if err := ctx.Err(); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		batch := conn.ReadBatch(1, 16<<20)
		n := 0
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			n++
			if m.Offset >= last {
				break
			}
			fn(partition, m.Offset, m.Key, m.Value)
			off = m.Offset + 1
		}
		if err := batch.Close(); err != nil && n == 0 {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no records at offset %d of %d", off, last)
		}
	}
	return nil
}

// An export is JSON Lines, one object per event or checkpoint, in topic
// order: {"type":"event","where":…,"stream":…,"event":{…}} or
// {"type":"checkpoint","where":…,"checkpoint":"<signed note>"}.
type exportLine struct {
	Type       string          `json:"type"`
	Where      string          `json:"where,omitempty"`
	Stream     string          `json:"stream,omitempty"`
	Event      json.RawMessage `json:"event,omitempty"`
	Problem    string          `json:"problem,omitempty"`
	Checkpoint string          `json:"checkpoint,omitempty"`
}

// WriteExport writes entries and checkpoints as JSON Lines.
func WriteExport(w io.Writer, entries []Entry, cps []SignedCheckpoint) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		line := exportLine{Type: "event", Where: e.Where, Stream: e.Stream, Problem: e.Problem, Event: e.Raw}
		if !json.Valid(e.Raw) {
			line.Event, _ = json.Marshal(string(e.Raw)) // keep the bytes; Verify reports them
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	for _, c := range cps {
		if err := enc.Encode(exportLine{Type: "checkpoint", Where: c.Where, Checkpoint: string(c.Note)}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadExport reads an export. Every item is located by its line number.
func ReadExport(r io.Reader) ([]Entry, []SignedCheckpoint, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxRecord*2)
	var entries []Entry
	var cps []SignedCheckpoint
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		where := fmt.Sprintf("line %d", n)
		if l.Where != "" {
			where += " (" + l.Where + ")"
		}
		switch l.Type {
		case "event":
			stream := l.Stream
			if stream == "" {
				stream = "file"
			}
			entries = append(entries, Entry{Raw: l.Event, Where: where, Stream: stream, Problem: l.Problem})
		case "checkpoint":
			cps = append(cps, SignedCheckpoint{Note: []byte(l.Checkpoint), Where: where})
		default:
			return nil, nil, fmt.Errorf("line %d: unknown type %q", n, l.Type)
		}
	}
	return entries, cps, sc.Err()
}
