package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/pkg/formats/fmp4"
)

// maxBox bounds a box a reader loads into memory: an init segment or a
// fragment's moof. mdat payloads are never loaded by ReadFMP4.
const (
	maxInit      = 1 << 20
	maxMoof      = 4 << 20
	maxFragBytes = 64 << 20
)

// Fragment is one moof+mdat of a FMP4_H264 file: its frames' wall-clock
// span, where it is in the file, and whether it begins with an IDR.
type Fragment struct {
	Start, End  time.Time
	Offset, Len int64
	Key         bool
}

// fragment is what Remux needs beyond Fragment.
type fragment struct {
	Fragment
	base    uint64 // tfdt
	seqAt   int64  // offset in the fragment of mfhd's sequence number
	tfdtAt  int64  // offset in the fragment of tfdt's base decode time
	tfdtV1  bool
	samples int
	dur     int64 // ticks
}

// ReadFMP4 indexes a FMP4_H264 file of size bytes whose media time zero is
// start: its init segment (ftyp+moov, returned as bytes) and its
// fragments. A file cut inside a fragment returns the whole fragments
// before it and an error wrapping ErrTruncated; bytes that are not MP4
// boxes, ErrCorrupt.
func ReadFMP4(r io.ReaderAt, size int64, start time.Time) (init []byte, frags []Fragment, err error) {
	init, _, fs, err := readFMP4(r, size, start)
	for _, f := range fs {
		frags = append(frags, f.Fragment)
	}
	return init, frags, err
}

type box struct {
	typ        string
	off, size  int64 // the whole box
	headerSize int64
}

func readBoxHeader(r io.ReaderAt, size, off int64) (box, error) {
	if size-off < 8 {
		return box{}, fmt.Errorf("%w: a box header cut at offset %d", ErrTruncated, off)
	}
	var h [16]byte
	if _, err := r.ReadAt(h[:8], off); err != nil {
		return box{}, fmt.Errorf("read at %d: %w", off, err)
	}
	b := box{typ: string(h[4:8]), off: off, size: int64(binary.BigEndian.Uint32(h[:4])), headerSize: 8}
	switch b.size {
	case 0: // to the end of the file
		b.size = size - off
	case 1:
		if size-off < 16 {
			return box{}, fmt.Errorf("%w: a box header cut at offset %d", ErrTruncated, off)
		}
		if _, err := r.ReadAt(h[8:16], off+8); err != nil {
			return box{}, fmt.Errorf("read at %d: %w", off, err)
		}
		b.size = int64(binary.BigEndian.Uint64(h[8:16]))
		b.headerSize = 16
	}
	for _, c := range []byte(b.typ) {
		if c < 0x20 || c > 0x7e {
			return box{}, fmt.Errorf("%w: no MP4 box at offset %d", ErrCorrupt, off)
		}
	}
	if b.size < b.headerSize {
		return box{}, fmt.Errorf("%w: a box of %d bytes at offset %d", ErrCorrupt, b.size, off)
	}
	if b.size > size-off {
		return b, fmt.Errorf("%w: a %s box cut at offset %d", ErrTruncated, b.typ, off)
	}
	return b, nil
}

func readFMP4(r io.ReaderAt, size int64, start time.Time) (init []byte, timescale uint32, frags []fragment, err error) {
	var off int64
	// ftyp + moov
	for init == nil {
		b, err := readBoxHeader(r, size, off)
		if err != nil {
			return nil, 0, nil, err
		}
		off += b.size
		if b.typ == "moov" {
			if off > maxInit {
				return nil, 0, nil, fmt.Errorf("%w: an init segment of %d bytes", ErrCorrupt, off)
			}
			init = make([]byte, off)
			if _, err := r.ReadAt(init, 0); err != nil {
				return nil, 0, nil, fmt.Errorf("read init: %w", err)
			}
		} else if b.typ == "moof" || b.typ == "mdat" {
			return nil, 0, nil, fmt.Errorf("%w: %s before moov", ErrCorrupt, b.typ)
		}
	}
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(init)); err != nil {
		return nil, 0, nil, fmt.Errorf("%w: init: %v", ErrCorrupt, err)
	}
	if len(in.Tracks) != 1 {
		return nil, 0, nil, fmt.Errorf("%w: %d tracks, one expected", ErrCorrupt, len(in.Tracks))
	}
	if _, ok := in.Tracks[0].Codec.(*fmp4.CodecH264); !ok {
		return nil, 0, nil, fmt.Errorf("%w: not H.264", ErrCorrupt)
	}
	timescale = in.Tracks[0].TimeScale
	if timescale == 0 {
		return nil, 0, nil, fmt.Errorf("%w: timescale 0", ErrCorrupt)
	}
	for off < size {
		b, err := readBoxHeader(r, size, off)
		if err != nil {
			return init, timescale, frags, err
		}
		if b.typ != "moof" {
			off += b.size // styp, sidx, free, mfra: not ours to read
			continue
		}
		if b.size > maxMoof {
			return init, timescale, frags, fmt.Errorf("%w: a moof of %d bytes", ErrCorrupt, b.size)
		}
		moof := make([]byte, b.size)
		if _, err := r.ReadAt(moof, off); err != nil {
			return init, timescale, frags, fmt.Errorf("read moof at %d: %w", off, err)
		}
		mdat, err := readBoxHeader(r, size, off+b.size)
		if err != nil {
			return init, timescale, frags, err
		}
		if mdat.typ != "mdat" {
			return init, timescale, frags, fmt.Errorf("%w: %s after moof at offset %d", ErrCorrupt, mdat.typ, off)
		}
		f, err := parseMoof(moof[b.headerSize:], b.headerSize)
		if err != nil {
			return init, timescale, frags, fmt.Errorf("%w: moof at offset %d: %v", ErrCorrupt, off, err)
		}
		f.Offset = off
		f.Len = b.size + mdat.size
		if f.Len > maxFragBytes {
			return init, timescale, frags, fmt.Errorf("%w: a fragment of %d bytes", ErrCorrupt, f.Len)
		}
		f.Start = start.Add(ticks(int64(f.base), timescale))
		f.End = start.Add(ticks(int64(f.base)+f.dur, timescale))
		frags = append(frags, f)
		off += f.Len
	}
	return init, timescale, frags, nil
}

func ticks(t int64, timescale uint32) time.Duration {
	return time.Duration(t/int64(timescale)*int64(time.Second) + t%int64(timescale)*int64(time.Second)/int64(timescale))
}

// parseMoof reads what indexing and remuxing need out of a moof's payload
// (p, which starts at base within the fragment): the sequence number's and
// the base decode time's places, the durations and the first sample's
// sync flag. One track is expected (the writer writes one).
func parseMoof(p []byte, base int64) (fragment, error) {
	var m fragment
	var haveTfdt, haveTrun bool
	var defDur, defFlags uint32
	err := walkBoxes(p, base, func(typ string, body []byte, bodyAt int64) error {
		switch typ {
		case "mfhd":
			if len(body) < 8 {
				return fmt.Errorf("short mfhd")
			}
			m.seqAt = bodyAt + 4
		case "traf":
			return walkBoxes(body, bodyAt, func(typ string, body []byte, bodyAt int64) error {
				if len(body) < 4 {
					return fmt.Errorf("short %s", typ)
				}
				version, flags := body[0], uint32(body[1])<<16|uint32(body[2])<<8|uint32(body[3])
				q := body[4:]
				need := func(n int) error {
					if len(q) < n {
						return fmt.Errorf("short %s", typ)
					}
					return nil
				}
				switch typ {
				case "tfhd":
					if err := need(4); err != nil {
						return err
					}
					q = q[4:]
					for _, f := range []struct {
						bit uint32
						n   int
						dst *uint32
					}{{0x1, 8, nil}, {0x2, 4, nil}, {0x8, 4, &defDur}, {0x10, 4, nil}, {0x20, 4, &defFlags}} {
						if flags&f.bit == 0 {
							continue
						}
						if err := need(f.n); err != nil {
							return err
						}
						if f.dst != nil {
							*f.dst = binary.BigEndian.Uint32(q)
						}
						q = q[f.n:]
					}
				case "tfdt":
					m.tfdtAt = bodyAt + 4
					if version == 1 {
						if err := need(8); err != nil {
							return err
						}
						m.base, m.tfdtV1 = binary.BigEndian.Uint64(q), true
					} else {
						if err := need(4); err != nil {
							return err
						}
						m.base = uint64(binary.BigEndian.Uint32(q))
					}
					haveTfdt = true
				case "trun":
					if haveTrun {
						return fmt.Errorf("several trun boxes")
					}
					haveTrun = true
					if err := need(4); err != nil {
						return err
					}
					n := int(binary.BigEndian.Uint32(q))
					q = q[4:]
					if flags&0x1 != 0 {
						if err := need(4); err != nil {
							return err
						}
						q = q[4:]
					}
					first := defFlags
					firstSet := false
					if flags&0x4 != 0 {
						if err := need(4); err != nil {
							return err
						}
						first, firstSet = binary.BigEndian.Uint32(q), true
						q = q[4:]
					}
					entry := 0
					for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
						if flags&bit != 0 {
							entry += 4
						}
					}
					if n < 0 || len(q) < n*entry {
						return fmt.Errorf("short trun")
					}
					for i := 0; i < n; i++ {
						e := q[i*entry:]
						d := defDur
						if flags&0x100 != 0 {
							d = binary.BigEndian.Uint32(e)
							e = e[4:]
						}
						m.dur += int64(d)
						if flags&0x200 != 0 {
							e = e[4:]
						}
						if i == 0 && flags&0x400 != 0 && !firstSet {
							first = binary.BigEndian.Uint32(e)
						}
					}
					m.samples = n
					m.Key = n > 0 && first&0x10000 == 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	if !haveTfdt || !haveTrun || m.seqAt == 0 {
		return m, fmt.Errorf("no mfhd, tfdt or trun")
	}
	return m, nil
}

// walkBoxes calls fn for each box in p, with its body and the body's
// offset (p starts at base).
func walkBoxes(p []byte, base int64, fn func(typ string, body []byte, bodyAt int64) error) error {
	for off := 0; off < len(p); {
		if len(p)-off < 8 {
			return fmt.Errorf("short box")
		}
		size := int(binary.BigEndian.Uint32(p[off:]))
		typ := string(p[off+4 : off+8])
		hdr := 8
		if size == 1 {
			if len(p)-off < 16 {
				return fmt.Errorf("short box")
			}
			size64 := binary.BigEndian.Uint64(p[off+8:])
			if size64 > uint64(len(p)-off) {
				return fmt.Errorf("box %s past its parent", typ)
			}
			size, hdr = int(size64), 16
		}
		if size < hdr || size > len(p)-off {
			return fmt.Errorf("box %s of %d bytes", typ, size)
		}
		if err := fn(typ, p[off+hdr:off+size], base+int64(off+hdr)); err != nil {
			return err
		}
		off += size
	}
	return nil
}
