package audit

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
)

// Segment files are "seg-<first seq, 20 digits>.log": a header record, then
// event records, each framed as
//
//	uint32 big-endian payload length | uint32 CRC-32C of the payload | payload
//
// The header carries the log state at the segment's first seq (instance,
// previous hash, compact Merkle range), so after older segments have been
// shipped and deleted the spool still resumes the chain and the tree.

const (
	segPrefix   = "seg-"
	segSuffix   = ".log"
	frameHeader = 8
	maxRecord   = 16 << 20 // larger lengths are corruption, not events
	headerMagic = "actiongate-audit-spool"
	ackedFile   = "shipped"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a record that was cut short or fails its checksum: the tail
// of a write interrupted by a crash.
var errTorn = errors.New("torn record")

type segHeader struct {
	Magic      string     `json:"magic"`
	V          int        `json:"v"`
	InstanceID string     `json:"instanceId"`
	FirstSeq   uint64     `json:"firstSeq"`
	PrevHash   string     `json:"prevHash"`
	Range      rangeState `json:"range"`
}

func segName(first uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, first, segSuffix) }

func appendFrame(dst, payload []byte) []byte {
	var h [frameHeader]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(h[4:8], crc32.Checksum(payload, crcTable))
	return append(append(dst, h[:]...), payload...)
}

// readFrame reads one record. io.EOF means a clean end; errTorn a partial
// or corrupt record.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errTorn
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[0:4])
	if n == 0 || n > maxRecord {
		return nil, errTorn
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errTorn
		}
		return nil, err
	}
	if crc32.Checksum(buf, crcTable) != binary.BigEndian.Uint32(h[4:8]) {
		return nil, errTorn
	}
	return buf, nil
}

func encodeHeader(h segHeader) ([]byte, error) {
	h.Magic, h.V = headerMagic, 1
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return appendFrame(nil, b), nil
}

// readHeader reads a segment's header record and returns its framed size.
func readHeader(r io.Reader) (segHeader, int64, error) {
	b, err := readFrame(r, nil)
	if err != nil {
		return segHeader{}, 0, err
	}
	var h segHeader
	if err := json.Unmarshal(b, &h); err != nil || h.Magic != headerMagic {
		return segHeader{}, 0, errors.New("not an audit spool segment header")
	}
	if h.Range.Size != h.FirstSeq {
		return segHeader{}, 0, fmt.Errorf("segment header: range size %d != first seq %d", h.Range.Size, h.FirstSeq)
	}
	return h, int64(frameHeader + len(b)), nil
}

type segInfo struct {
	first uint64
	size  int64
	path  string
}

func listSegments(dir string) ([]segInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	var segs []segInfo
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("audit spool: unexpected file %s", name)
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("audit spool: %w", err)
		}
		segs = append(segs, segInfo{first: first, size: info.Size(), path: filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// recordMeta is the part of a record recovery checks for continuity.
type recordMeta struct {
	Seq        uint64 `json:"seq"`
	PrevHash   string `json:"prevHash"`
	InstanceID string `json:"instanceId"`
}

// scanned is the result of reading one segment during recovery.
type scanned struct {
	header  segHeader
	records uint64
	valid   int64 // bytes up to the end of the last good record
	torn    bool
}

// scanSegment reads a segment, checking every record continues the chain
// from st. A torn record ends the scan (the caller truncates there); a
// well-formed record that breaks the chain is corruption and an error.
func scanSegment(path string, st *logState) (scanned, error) {
	f, err := os.Open(path)
	if err != nil {
		return scanned{}, fmt.Errorf("audit spool: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var sc scanned
	sc.header, sc.valid, err = readHeader(br)
	if err != nil {
		if errors.Is(err, errTorn) || errors.Is(err, io.EOF) {
			sc.torn = true
			return sc, nil
		}
		return sc, fmt.Errorf("audit spool %s: %w", filepath.Base(path), err)
	}
	if err := st.adopt(sc.header); err != nil {
		return sc, fmt.Errorf("audit spool %s: %w", filepath.Base(path), err)
	}
	var buf []byte
	for {
		rec, err := readFrame(br, buf)
		if errors.Is(err, io.EOF) {
			return sc, nil
		}
		if errors.Is(err, errTorn) {
			sc.torn = true
			return sc, nil
		}
		if err != nil {
			return sc, fmt.Errorf("audit spool %s: %w", filepath.Base(path), err)
		}
		if err := st.extend(rec); err != nil {
			return sc, fmt.Errorf("audit spool %s at seq %d: %w", filepath.Base(path), st.next, err)
		}
		buf = rec
		sc.records++
		sc.valid += int64(frameHeader + len(rec))
	}
}

// logState is the head of the chain and tree while recovering.
type logState struct {
	instanceID string
	next       uint64
	prevHash   []byte
	rng        *compact.Range
}

// adopt takes a segment header: the first one sets the state, later ones
// must agree with it.
func (st *logState) adopt(h segHeader) error {
	if st.instanceID != "" && h.InstanceID != st.instanceID {
		return fmt.Errorf("segment of instance %q in the spool of %q", h.InstanceID, st.instanceID)
	}
	if st.rng == nil {
		prev, err := hex.DecodeString(h.PrevHash)
		if err != nil {
			return fmt.Errorf("segment header prevHash: %w", err)
		}
		rng, err := h.Range.restore()
		if err != nil {
			return err
		}
		st.instanceID, st.next, st.prevHash, st.rng = h.InstanceID, h.FirstSeq, prev, rng
		return nil
	}
	if h.FirstSeq != st.next || h.PrevHash != hex.EncodeToString(st.prevHash) {
		return fmt.Errorf("segment starts at seq %d, previous ends at %d", h.FirstSeq, st.next)
	}
	st.instanceID = h.InstanceID
	return nil
}

func (st *logState) extend(rec []byte) error {
	var m recordMeta
	if err := json.Unmarshal(rec, &m); err != nil {
		return fmt.Errorf("record does not decode: %w", err)
	}
	if m.Seq != st.next || m.InstanceID != st.instanceID || m.PrevHash != hex.EncodeToString(st.prevHash) {
		return fmt.Errorf("record (seq %d) does not continue the chain", m.Seq)
	}
	leaf := LeafHash(rec)
	if err := st.rng.Append(leaf, nil); err != nil {
		return err
	}
	st.prevHash = leaf
	st.next++
	return nil
}
