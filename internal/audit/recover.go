package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// recover rebuilds the spool's state from its segments. Recovery keeps the
// longest valid prefix of the log: a torn record (a write cut short by a
// crash) is truncated away together with anything after it, which can only
// be records whose fsync never completed, so no Append that returned
// success is lost. A well-formed record that breaks the hash chain is
// tampering or corruption and fails the open.
func (s *Spool) recover() error {
	segs, err := listSegments(s.opts.Dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return s.initEmpty()
	}
	st := logState{instanceID: s.opts.InstanceID}
	keep := len(segs)
	for i, seg := range segs {
		sc, err := scanSegment(seg.path, &st)
		if err != nil {
			return err
		}
		s.stats.Recovered += sc.records
		if !sc.torn {
			if sc.header.FirstSeq != seg.first {
				return fmt.Errorf("audit spool: %s holds seq %d", filepath.Base(seg.path), sc.header.FirstSeq)
			}
			continue
		}
		if sc.valid == 0 && i == 0 {
			return fmt.Errorf("audit spool: first segment %s has no valid header", filepath.Base(seg.path))
		}
		if err := s.cutTorn(seg, sc.valid); err != nil {
			return err
		}
		segs[i].size = sc.valid
		keep = i + 1
		if sc.valid == 0 { // a segment created in the crash, header not yet written
			keep = i
		}
		if err := s.dropFrom(segs[i+1:]); err != nil {
			return err
		}
		break
	}
	return s.resume(segs[:keep], st)
}

// cutTorn truncates a segment to its valid prefix (removing it if even the
// header is torn) and counts what was cut.
func (s *Spool) cutTorn(seg segInfo, valid int64) error {
	s.stats.TruncatedRecords++
	s.stats.TruncatedBytes += seg.size - valid
	s.log.Warn("audit spool: cut a torn record left by a crash", "segment", filepath.Base(seg.path),
		"offset", valid, "bytes", seg.size-valid)
	if valid == 0 {
		if err := os.Remove(seg.path); err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
		return nil
	}
	if err := os.Truncate(seg.path, valid); err != nil {
		return fmt.Errorf("audit spool: truncate torn tail: %w", err)
	}
	return nil
}

// dropFrom removes the segments after a torn one: they were written after
// the torn record, so none of their records was ever acknowledged.
func (s *Spool) dropFrom(segs []segInfo) error {
	for _, seg := range segs {
		s.stats.TruncatedBytes += seg.size
		s.log.Warn("audit spool: removed a segment written after a torn record", "segment", filepath.Base(seg.path))
		if err := os.Remove(seg.path); err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
	}
	return nil
}

// resume opens the last kept segment for appending and sets the counters.
func (s *Spool) resume(segs []segInfo, st logState) error {
	if len(segs) == 0 || st.rng == nil {
		return errors.New("audit spool: no valid segment left after recovery")
	}
	last := segs[len(segs)-1]
	f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	if err := f.Sync(); err != nil { // make the truncation itself durable
		f.Close()
		return fmt.Errorf("audit spool: %w", err)
	}
	if err := syncDir(s.opts.Dir); err != nil {
		f.Close()
		return err
	}
	s.active, s.segs = f, segs
	for _, seg := range segs {
		s.total += seg.size
	}
	s.written, s.durable = s.total, s.total
	s.instanceID, s.next, s.prevHash, s.rng = st.instanceID, st.next, st.prevHash, st.rng
	s.head, s.stats.Durable = stateOf(st.rng), st.next
	ackFile, shipped, err := openShipped(s.opts.Dir, s.log)
	if err != nil {
		return err
	}
	s.ackFile = ackFile
	s.shipped = max(min(shipped, s.next), segs[0].first)
	if shipped > s.next {
		s.log.Error("audit spool: shipped marker is past the recovered log", "shipped", shipped, "next", s.next)
	}
	return nil
}

// initEmpty creates the first segment of a new log.
func (s *Spool) initEmpty() error {
	id := s.opts.InstanceID
	if id == "" {
		id = newInstanceID()
	}
	st := logState{instanceID: id, rng: rangeFactory.NewEmptyRange(0)}
	f, size, err := createSegment(s.opts.Dir, segHeader{InstanceID: id, Range: stateOf(st.rng)})
	if err != nil {
		return err
	}
	f.Close()
	return s.resume([]segInfo{{first: 0, size: size, path: f.Name()}}, st)
}
