package segment

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func writeJPEGSeq(t *testing.T, n int) ([]byte, []JPEGFrameData, []int64) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewJPEGWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_780_000_000_123)
	var frames []JPEGFrameData
	var offs []int64
	for i := 0; i < n; i++ {
		f := JPEGFrameData{At: t0.Add(time.Duration(i) * 200 * time.Millisecond), JPEG: bytes.Repeat([]byte{0xff, byte(i)}, 100+i)}
		off, err := w.WriteFrame(f.At, f.JPEG)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
		offs = append(offs, off)
	}
	if w.Bytes() != int64(buf.Len()) {
		t.Fatalf("Bytes() = %d, file has %d", w.Bytes(), buf.Len())
	}
	return buf.Bytes(), frames, offs
}

func TestJPEGSeqRoundTrip(t *testing.T) {
	file, want, offs := writeJPEGSeq(t, 5)
	got, err := ReadJPEGIndex(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d frames read back, %d written", len(got), len(want))
	}
	for i, f := range got {
		if !f.At.Equal(want[i].At) {
			t.Errorf("frame %d at %v, written at %v", i, f.At, want[i].At)
		}
		if !bytes.Equal(file[f.Offset:f.Offset+f.Len], want[i].JPEG) {
			t.Errorf("frame %d: bytes differ", i)
		}
		if f.Record() != offs[i] {
			t.Errorf("frame %d: record at %d, WriteFrame said %d", i, f.Record(), offs[i])
		}
		d, err := ReadJPEGFrameAt(bytes.NewReader(file), int64(len(file)), offs[i])
		if err != nil || !bytes.Equal(d.JPEG, want[i].JPEG) || !d.At.Equal(want[i].At) {
			t.Errorf("ReadJPEGFrameAt(%d) = %v, %v", offs[i], d.At, err)
		}
	}
}

func TestJPEGSeqDamaged(t *testing.T) {
	file, _, offs := writeJPEGSeq(t, 5)
	cases := []struct {
		name  string
		file  func() []byte
		good  int
		cause error
	}{
		{"cut inside the last frame", func() []byte { return file[:len(file)-10] }, 4, ErrTruncated},
		{"cut inside a record header", func() []byte { return file[:offs[3]+7] }, 3, ErrTruncated},
		{"cut at a record boundary", func() []byte { return file[:offs[3]] }, 3, nil},
		{"a flipped byte in frame 2", func() []byte {
			b := bytes.Clone(file)
			b[offs[2]+JPEGRecordHeaderSize+5] ^= 0x40
			return b
		}, 2, ErrCorrupt},
		{"garbage after frame 1", func() []byte {
			b := bytes.Clone(file[:offs[2]])
			return append(b, bytes.Repeat([]byte{0}, 64)...)
		}, 2, ErrCorrupt},
		{"a length past the cap", func() []byte {
			b := bytes.Clone(file)
			copy(b[offs[1]+12:], []byte{0x7f, 0xff, 0xff, 0xff})
			return b
		}, 1, ErrCorrupt},
		{"header only", func() []byte { return file[:JPEGHeaderSize] }, 0, nil},
		{"shorter than the header", func() []byte { return file[:3] }, 0, ErrTruncated},
		{"not a JPEG_SEQ file", func() []byte { return []byte("GIF89a.........................") }, 0, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.file()
			got, err := ReadJPEGIndex(bytes.NewReader(b), int64(len(b)))
			if len(got) != c.good {
				t.Errorf("%d good frames, want %d", len(got), c.good)
			}
			if c.cause == nil && err != nil || c.cause != nil && !errors.Is(err, c.cause) {
				t.Errorf("err = %v, want %v", err, c.cause)
			}
		})
	}
}

func TestJPEGSeqRefusesOversizedFrame(t *testing.T) {
	w, err := NewJPEGWriter(&bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteFrame(time.Now(), make([]byte, MaxJPEGSize+1)); err == nil {
		t.Error("a frame over MaxJPEGSize was written")
	}
	if _, err := w.WriteFrame(time.Now(), nil); err == nil {
		t.Error("an empty frame was written")
	}
}
