package audit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// ErrSpoolFull means the spool reached its size bound (Kafka has been
// unreachable for a while). The caller must deny mutating calls with reason
// audit_unavailable rather than run them unrecorded.
var ErrSpoolFull = errors.New("audit spool full")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit spool closed")

// SpoolOptions configure OpenSpool.
type SpoolOptions struct {
	// Dir holds the segment files; created (0700) if missing. One instance
	// per directory.
	Dir string
	// InstanceID names this log. Empty: the id recorded in Dir, or a new
	// random one for an empty Dir. A different id than Dir's is an error.
	InstanceID string
	// MaxBytes bounds the files on disk (default 1 GiB).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment starts (default
	// min(64 MiB, MaxBytes/8)); shipped segments are deleted whole.
	SegmentBytes int64
	// GroupCommitWindow is how long the fsync of a new group waits for more
	// appenders to join it. Zero still batches: appenders arriving during
	// one fsync share the next.
	GroupCommitWindow time.Duration
	Logger            *slog.Logger
}

// SpoolStats are counters for metrics and tests.
type SpoolStats struct {
	Appended, Rejected, Syncs uint64
	// Next is the next seq; Durable the number of fsynced events (seqs
	// below it); Shipped the number acknowledged by Kafka.
	Next, Durable, Shipped uint64
	Bytes                  int64
	Segments               int
	// Set by recovery: records read back, torn records cut (and their bytes).
	Recovered, TruncatedRecords uint64
	TruncatedBytes              int64
}

// Spool is the durable, append-only local log of one instance's events.
type Spool struct {
	opts       SpoolOptions
	log        *slog.Logger
	instanceID string
	ackFile    *os.File
	notify     chan struct{}
	kick       chan struct{} // wakes syncLoop
	stop       chan struct{} // closed by Close
	loopDone   chan struct{}
	ackMu      sync.Mutex

	mu       sync.Mutex
	active   *os.File
	segs     []segInfo // last is active
	unsynced []*os.File
	dirDirty bool
	pending  *syncGen // the group commit the next fsync will cover
	failed   error
	closed   bool

	next     uint64
	prevHash []byte
	rng      *compact.Range
	written  int64 // logical bytes written, monotonic
	durable  int64 // logical bytes fsynced
	total    int64
	head     rangeState // tree at the durable size
	shipped  uint64
	stats    SpoolStats
	// recent holds copies of the latest events by seq%len, so the shipper
	// need not decode what it reads back while it keeps up.
	recent []recentEvent
}

type recentEvent struct {
	seq uint64
	ev  *Event
}

// recentEvents is how many appended events the spool keeps decoded.
const recentEvents = 4096

// OpenSpool opens or creates the spool in opts.Dir, recovering from a crash:
// a torn record at the tail is cut (and counted), everything before it kept.
func OpenSpool(opts SpoolOptions) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("audit spool: no directory")
	}
	if opts.InstanceID != "" && !ValidInstanceID(opts.InstanceID) {
		return nil, fmt.Errorf("audit spool: instance id %q: use 1 to 128 letters, digits, '.', '_' or '-'", opts.InstanceID)
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = min(64<<20, opts.MaxBytes/8)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	s := &Spool{opts: opts, log: opts.Logger, notify: make(chan struct{}, 1),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), loopDone: make(chan struct{}),
		recent: make([]recentEvent, recentEvents)}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.syncLoop()
	return s, nil
}

// InstanceID is the id of the log this spool holds.
func (s *Spool) InstanceID() string { return s.instanceID }

// Append assigns ev its instance, seq and previous hash, writes it and
// returns once it is fsynced. The event is then durable: it will reach
// Kafka even if the process crashes now. Any error means it is not recorded.
func (s *Spool) Append(ev *Event) error {
	g, err := s.enqueue(ev)
	if err != nil {
		return err
	}
	<-g.done
	return g.err
}

// AppendAsync is Append without waiting for the fsync, for calls whose
// policy lets them proceed before their event is durable (read-only tools):
// the event is ordered and written, and the next group commit makes it
// durable, within about one fsync time. A crash before then loses it.
func (s *Spool) AppendAsync(ev *Event) error {
	_, err := s.enqueue(ev)
	return err
}

// syncGen is one group commit: every write since the previous fsync began.
// Its appenders wait on done without touching the spool's lock again.
type syncGen struct {
	done chan struct{}
	err  error
}

func (s *Spool) enqueue(ev *Event) (*syncGen, error) {
	s.mu.Lock()
	if err := s.write(ev); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if s.pending == nil {
		s.pending = &syncGen{done: make(chan struct{})}
	}
	g := s.pending
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return g, nil
}

// syncLoop runs every fsync. While one runs, writes gather in the next
// group, so under load one fsync covers many events; GroupCommitWindow can
// hold it back a moment to gather more.
func (s *Spool) syncLoop() {
	defer close(s.loopDone)
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			s.syncPending() // Close let no write in after setting closed
			return
		}
		if w := s.opts.GroupCommitWindow; w > 0 {
			time.Sleep(w)
		}
		for s.syncPending() {
		}
	}
}

// syncPending fsyncs what the pending group wrote and releases its
// appenders. It reports whether there was a group.
func (s *Spool) syncPending() bool {
	s.mu.Lock()
	g := s.pending
	if g == nil {
		s.mu.Unlock()
		return false
	}
	s.pending = nil
	if s.failed != nil {
		g.err = s.failed
		s.mu.Unlock()
		close(g.done)
		return true
	}
	target, next, head := s.written, s.next, stateOf(s.rng)
	files := append(s.unsynced, s.active)
	rotated, dir := len(s.unsynced), s.dirDirty
	s.unsynced, s.dirDirty = nil, false
	s.mu.Unlock()

	err := syncFiles(files, rotated, dir, s.opts.Dir)

	s.mu.Lock()
	s.stats.Syncs++
	if err != nil {
		g.err = s.fail(err)
	} else {
		s.durable, s.stats.Durable, s.head = target, next, head
	}
	s.mu.Unlock()
	close(g.done)
	if err == nil {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return true
}

// write assigns ev its place in the log and writes it (s.mu held).
func (s *Spool) write(ev *Event) error {
	if err := s.usable(); err != nil {
		return err
	}
	if ev.ID == "" {
		ev.ID = NewEventID()
	}
	if ev.V == 0 {
		ev.V = SchemaVersion
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.Kind == "" {
		ev.Kind = KindDecision
	}
	ev.InstanceID, ev.Seq, ev.PrevHash = s.instanceID, s.next, hex.EncodeToString(s.prevHash)
	canon, err := ev.Canonical()
	if err != nil {
		return err
	}
	frame := appendFrame(make([]byte, 0, frameHeader+len(canon)), canon)
	if s.total+int64(len(frame)) > s.opts.MaxBytes {
		s.stats.Rejected++
		return ErrSpoolFull
	}
	if act := s.segs[len(s.segs)-1]; act.first < s.next && act.size+int64(len(frame)) > s.opts.SegmentBytes {
		if err := s.rotate(); err != nil {
			return s.fail(err)
		}
	}
	if _, err := s.active.Write(frame); err != nil {
		return s.fail(fmt.Errorf("audit spool write: %w", err))
	}
	leaf := LeafHash(canon)
	if err := s.rng.Append(leaf, nil); err != nil {
		return s.fail(err)
	}
	s.prevHash = leaf
	s.recent[ev.Seq%recentEvents] = recentEvent{ev.Seq, cloneEvent(ev)}
	s.next++
	s.grow(int64(len(frame)))
	s.stats.Appended++
	return nil
}

// cloneEvent copies ev deeply enough that the caller may reuse its slices.
func cloneEvent(ev *Event) *Event {
	c := *ev
	c.Chain, c.ContextRefs = slices.Clone(ev.Chain), slices.Clone(ev.ContextRefs)
	c.PolicyReasons, c.Redactions = slices.Clone(ev.PolicyReasons), slices.Clone(ev.Redactions)
	c.Arguments = slices.Clone(ev.Arguments)
	return &c
}

// recentEvent returns the decoded event of seq if the spool still holds it
// (s.mu held).
func (s *Spool) recentEvent(seq uint64) *Event {
	if r := s.recent[seq%recentEvents]; r.ev != nil && r.seq == seq {
		return r.ev
	}
	return nil
}

func (s *Spool) usable() error {
	if s.closed {
		return ErrClosed
	}
	return s.failed
}

// fail makes an I/O error sticky: after a failed write or fsync the file's
// contents are unknown, so nothing more is accepted until a restart
// recovers the spool.
func (s *Spool) fail(err error) error {
	if s.failed == nil {
		s.failed = err
		s.log.Error("audit spool failed; refusing further events until restart", "err", err)
	}
	return err
}

func (s *Spool) grow(n int64) {
	s.segs[len(s.segs)-1].size += n
	s.total += n
	s.written += n
}

// syncFiles fsyncs the rotated-out files (then closes them), the active
// file, and the directory when a segment was created.
func syncFiles(files []*os.File, rotated int, dir bool, path string) error {
	for i, f := range files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("audit spool fsync %s: %w", filepath.Base(f.Name()), err)
		}
		if i < rotated {
			if err := f.Close(); err != nil {
				return fmt.Errorf("audit spool close %s: %w", filepath.Base(f.Name()), err)
			}
		}
	}
	if dir {
		return syncDir(path)
	}
	return nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit spool fsync dir: %w", err)
	}
	return nil
}

// rotate starts a new segment at s.next (s.mu held). The old file is
// fsynced and closed by the next group commit.
func (s *Spool) rotate() error {
	f, size, err := createSegment(s.opts.Dir, segHeader{InstanceID: s.instanceID, FirstSeq: s.next,
		PrevHash: hex.EncodeToString(s.prevHash), Range: stateOf(s.rng)})
	if err != nil {
		return err
	}
	s.unsynced = append(s.unsynced, s.active)
	s.active, s.dirDirty = f, true
	s.segs = append(s.segs, segInfo{first: s.next, path: f.Name()})
	s.grow(size)
	return nil
}

func createSegment(dir string, h segHeader) (*os.File, int64, error) {
	hb, err := encodeHeader(h)
	if err != nil {
		return nil, 0, err
	}
	path := filepath.Join(dir, segName(h.FirstSeq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("audit spool: new segment: %w", err)
	}
	if _, err := f.Write(hb); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("audit spool: new segment: %w", err)
	}
	return f, int64(len(hb)), nil
}

// Ack records that every event with seq ≤ upto is acknowledged by Kafka and
// deletes the segments that hold only such events.
func (s *Spool) Ack(upto uint64) error {
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if upto >= s.stats.Durable {
		s.mu.Unlock()
		return fmt.Errorf("audit spool: ack of seq %d, only %d events are durable", upto, s.stats.Durable)
	}
	if upto+1 <= s.shipped {
		s.mu.Unlock()
		return nil
	}
	s.shipped = upto + 1
	var drop []segInfo
	for len(s.segs) > 1 && s.segs[1].first <= s.shipped {
		drop = append(drop, s.segs[0])
		s.total -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	shipped := s.shipped
	s.mu.Unlock()
	// A lost update only means re-shipping events consumers drop by id, so
	// neither the marker nor the deletions are fsynced.
	if err := s.writeShipped(shipped); err != nil {
		return err
	}
	for _, seg := range drop {
		if err := os.Remove(seg.path); err != nil {
			return fmt.Errorf("audit spool: delete shipped segment: %w", err)
		}
	}
	return nil
}

// writeShipped overwrites the fixed-width shipped marker in place: one
// small pwrite per acknowledged batch, where creating and renaming a file
// cost more than encoding the batch.
func (s *Spool) writeShipped(n uint64) error {
	if _, err := s.ackFile.WriteAt(fmt.Appendf(nil, "%020d\n", n), 0); err != nil {
		return fmt.Errorf("audit spool: shipped marker: %w", err)
	}
	return nil
}

// openShipped opens the marker and reads it. A damaged marker only means
// re-shipping events consumers drop by id, so it reads as 0, with a warning.
func openShipped(dir string, log *slog.Logger) (*os.File, uint64, error) {
	f, err := os.OpenFile(filepath.Join(dir, ackedFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("audit spool: %w", err)
	}
	b := make([]byte, 21)
	k, _ := f.ReadAt(b, 0)
	if k == 0 {
		return f, 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b[:k])), 10, 64)
	if err != nil {
		log.Warn("audit spool: unreadable shipped marker; the spool will be shipped again from its start")
		return f, 0, nil
	}
	return f, n, nil
}

// Head is the durable size of the log and its Merkle root: what a
// checkpoint signs.
func (s *Spool) Head() (uint64, []byte, error) {
	s.mu.Lock()
	h := s.head
	s.mu.Unlock()
	r, err := h.restore()
	if err != nil {
		return 0, nil, err
	}
	if h.Size == 0 {
		return 0, hasher.EmptyRoot(), nil
	}
	root, err := r.GetRootHash(nil)
	return h.Size, root, err
}

// Stats returns the counters.
func (s *Spool) Stats() SpoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Next, st.Shipped, st.Bytes, st.Segments = s.next, s.shipped, s.total, len(s.segs)
	return st
}

// Durable returns a channel that receives after an fsync made events durable.
func (s *Spool) Durable() <-chan struct{} { return s.notify }

// Close makes everything written durable and closes the files. Appends
// after Close fail with ErrClosed.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.loopDone
	s.ackMu.Lock() // an Ack in flight still writes the shipped marker
	defer s.ackMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeFiles()
	return s.failed
}

func (s *Spool) closeFiles() {
	for _, f := range s.unsynced {
		f.Close()
	}
	s.unsynced = nil
	if s.active != nil {
		s.active.Close()
		s.active = nil
	}
	if s.ackFile != nil {
		s.ackFile.Close()
		s.ackFile = nil
	}
}

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidInstanceID reports whether id is usable in a checkpoint origin and note key name.
func ValidInstanceID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
