package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Record is one durable event as the spool holds it.
type Record struct {
	Seq       uint64
	Canonical []byte
	// Event is the decoded event when the spool still had it in memory
	// (nil otherwise); it must not be modified.
	Event *Event
}

// Cursor reads durable events in seq order; the shipper owns one.
type Cursor struct {
	s    *Spool
	next uint64 // seq of the next record to return
	f    *os.File
	br   *bufio.Reader
	end  uint64 // first seq of the segment after the open one (0: open is last)
}

// Cursor starts reading at seq from (normally Stats().Shipped).
func (s *Spool) Cursor(from uint64) *Cursor { return &Cursor{s: s, next: from} }

// Close releases the open segment.
func (c *Cursor) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f, c.br = nil, nil
	return err
}

// Next returns up to max durable records without blocking; none when the
// cursor has caught up (wait on Spool.Durable, then call again).
func (c *Cursor) Next(max int) ([]Record, error) {
	durable := c.s.Stats().Durable
	var out []Record
	for len(out) < max && c.next < durable {
		if c.f == nil || (c.end != 0 && c.next >= c.end) {
			if err := c.open(); err != nil {
				return out, err
			}
		}
		rec, err := readFrame(c.br, nil)
		if errors.Is(err, io.EOF) && c.end == 0 {
			// The open segment was the last when opened; a rotation since
			// moved seq c.next into a new one.
			if err := c.open(); err != nil {
				return out, err
			}
			rec, err = readFrame(c.br, nil)
		}
		if err != nil {
			return out, fmt.Errorf("audit spool: reading seq %d: %w", c.next, err)
		}
		out = append(out, Record{Seq: c.next, Canonical: rec})
		c.next++
	}
	c.s.mu.Lock()
	for i := range out {
		out[i].Event = c.s.recentEvent(out[i].Seq)
	}
	c.s.mu.Unlock()
	return out, nil
}

// open positions the cursor at c.next: the segment holding it, past the
// header and the records before it.
func (c *Cursor) open() error {
	c.Close()
	c.s.mu.Lock()
	var seg segInfo
	c.end = 0
	found := false
	for i, sg := range c.s.segs {
		if sg.first <= c.next {
			seg, found = sg, true
			if i+1 < len(c.s.segs) {
				c.end = c.s.segs[i+1].first
			} else {
				c.end = 0
			}
		}
	}
	c.s.mu.Unlock()
	if !found {
		return fmt.Errorf("audit spool: seq %d is no longer in the spool", c.next)
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	c.f, c.br = f, bufio.NewReaderSize(f, 256<<10)
	h, _, err := readHeader(c.br)
	if err != nil {
		return fmt.Errorf("audit spool %s: %w", filepath.Base(seg.path), err)
	}
	for seq := h.FirstSeq; seq < c.next; seq++ {
		if _, err := readFrame(c.br, nil); err != nil {
			return fmt.Errorf("audit spool %s: skipping to seq %d: %w", filepath.Base(seg.path), c.next, err)
		}
	}
	if h.FirstSeq != seg.first {
		return errors.New("audit spool: segment name and header disagree")
	}
	return nil
}
