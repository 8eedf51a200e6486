package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

const (
	jpegMagic  = "RGCJSEQ1"
	frameMagic = "JFRM"
	// JPEGHeaderSize is the size of the file header; the first record
	// begins there.
	JPEGHeaderSize = int64(len(jpegMagic))
	// JPEGRecordHeaderSize is what precedes the JPEG bytes of a record.
	JPEGRecordHeaderSize = 20
	// MaxJPEGSize bounds one frame: a 4K JPEG at high quality stays far
	// below it, and a reader never allocates more on the word of a length
	// field.
	MaxJPEGSize = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// JPEGWriter appends timestamped JPEG frames in the JPEG_SEQ format.
// It is not safe for concurrent use.
type JPEGWriter struct {
	w   io.Writer
	off int64
	buf []byte
}

// NewJPEGWriter writes the header to w (a new, empty file) and returns a
// writer for its frames.
func NewJPEGWriter(w io.Writer) (*JPEGWriter, error) {
	if _, err := io.WriteString(w, jpegMagic); err != nil {
		return nil, fmt.Errorf("write header: %w", err)
	}
	return &JPEGWriter{w: w, off: JPEGHeaderSize}, nil
}

// ResumeJPEGWriter continues a JPEG_SEQ file whose good part is size bytes
// long (ReadJPEGIndex's last frame's Offset+Len, or JPEGHeaderSize); w must
// write at that position (the caller truncated any torn tail).
func ResumeJPEGWriter(w io.Writer, size int64) *JPEGWriter {
	return &JPEGWriter{w: w, off: size}
}

// WriteFrame appends one frame taken at at and returns the offset of its
// record, where the frame begins (ReadJPEGFrameAt reads it back; the JPEG
// bytes follow JPEGRecordHeaderSize later).
func (w *JPEGWriter) WriteFrame(at time.Time, jpeg []byte) (offset int64, err error) {
	if len(jpeg) == 0 || len(jpeg) > MaxJPEGSize {
		return 0, fmt.Errorf("segment: a JPEG frame of %d bytes (1..%d)", len(jpeg), MaxJPEGSize)
	}
	need := JPEGRecordHeaderSize + len(jpeg)
	if cap(w.buf) < need {
		w.buf = make([]byte, need)
	}
	b := w.buf[:need]
	copy(b, frameMagic)
	binary.BigEndian.PutUint64(b[4:], uint64(at.UnixMilli()))
	binary.BigEndian.PutUint32(b[12:], uint32(len(jpeg)))
	copy(b[20:], jpeg)
	crc := crc32.Update(crc32.Checksum(b[4:16], castagnoli), castagnoli, jpeg)
	binary.BigEndian.PutUint32(b[16:], crc)
	// One Write, so a crash tears at most this record.
	n, err := w.w.Write(b)
	if err != nil {
		// What reached the file is a torn tail; the reader drops it.
		w.off += int64(n)
		return 0, fmt.Errorf("write frame: %w", err)
	}
	offset = w.off
	w.off += int64(n)
	// A frame bigger than the last ones kept its buffer: let a single huge
	// frame go rather than hold it for the segment's life.
	if cap(w.buf) > 4<<20 {
		w.buf = nil
	}
	return offset, nil
}

// Bytes is the file's size so far.
func (w *JPEGWriter) Bytes() int64 { return w.off }

// JPEGFrame is one frame of a JPEG_SEQ file: its capture time and where its
// JPEG bytes are (Offset is past the record header).
type JPEGFrame struct {
	At          time.Time
	Offset, Len int64
}

// Record is the offset of the frame's record, what WriteFrame returned.
func (f JPEGFrame) Record() int64 { return f.Offset - JPEGRecordHeaderSize }

// JPEGFrameData is a frame with its bytes.
type JPEGFrameData struct {
	At   time.Time
	JPEG []byte
}

// ReadJPEGIndex lists the frames of a JPEG_SEQ file of size bytes, checking
// every record's checksum. On a torn or broken tail it returns the good
// frames before it together with an error wrapping ErrTruncated or
// ErrCorrupt.
func ReadJPEGIndex(r io.ReaderAt, size int64) ([]JPEGFrame, error) {
	if err := readJPEGHeader(r, size); err != nil {
		return nil, err
	}
	var frames []JPEGFrame
	var buf []byte
	off := JPEGHeaderSize
	for off < size {
		f, next, err := readJPEGRecord(r, size, off, &buf)
		if err != nil {
			return frames, err
		}
		frames = append(frames, JPEGFrame{At: f.At, Offset: off + JPEGRecordHeaderSize, Len: int64(len(f.JPEG))})
		off = next
	}
	return frames, nil
}

// ReadJPEGFrameAt reads the frame whose record begins at offset (a
// keyframe's offset) out of a JPEG_SEQ file of size bytes.
func ReadJPEGFrameAt(r io.ReaderAt, size, offset int64) (JPEGFrameData, error) {
	if offset < JPEGHeaderSize {
		return JPEGFrameData{}, fmt.Errorf("%w: no record at offset %d", ErrCorrupt, offset)
	}
	var buf []byte
	f, _, err := readJPEGRecord(r, size, offset, &buf)
	return f, err
}

func readJPEGHeader(r io.ReaderAt, size int64) error {
	if size < JPEGHeaderSize {
		return fmt.Errorf("%w: %d bytes, shorter than the header", ErrTruncated, size)
	}
	h := make([]byte, JPEGHeaderSize)
	if _, err := r.ReadAt(h, 0); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if string(h) != jpegMagic {
		return fmt.Errorf("%w: not a JPEG_SEQ file", ErrCorrupt)
	}
	return nil
}

// readJPEGRecord reads and checks the record at off; buf is reused between
// calls. The returned JPEG aliases *buf.
func readJPEGRecord(r io.ReaderAt, size, off int64, buf *[]byte) (JPEGFrameData, int64, error) {
	if size-off < JPEGRecordHeaderSize {
		return JPEGFrameData{}, 0, fmt.Errorf("%w: a record header cut at offset %d", ErrTruncated, off)
	}
	var h [JPEGRecordHeaderSize]byte
	if _, err := r.ReadAt(h[:], off); err != nil {
		return JPEGFrameData{}, 0, fmt.Errorf("read record at %d: %w", off, err)
	}
	if !bytes.Equal(h[:4], []byte(frameMagic)) {
		return JPEGFrameData{}, 0, fmt.Errorf("%w: no record mark at offset %d", ErrCorrupt, off)
	}
	ms := int64(binary.BigEndian.Uint64(h[4:]))
	n := int64(binary.BigEndian.Uint32(h[12:]))
	if n == 0 || n > MaxJPEGSize {
		return JPEGFrameData{}, 0, fmt.Errorf("%w: a frame length of %d at offset %d", ErrCorrupt, n, off)
	}
	if size-off-JPEGRecordHeaderSize < n {
		return JPEGFrameData{}, 0, fmt.Errorf("%w: a frame cut at offset %d", ErrTruncated, off)
	}
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := r.ReadAt(b, off+JPEGRecordHeaderSize); err != nil {
		return JPEGFrameData{}, 0, fmt.Errorf("read frame at %d: %w", off, err)
	}
	crc := crc32.Update(crc32.Checksum(h[4:16], castagnoli), castagnoli, b)
	if crc != binary.BigEndian.Uint32(h[16:]) {
		return JPEGFrameData{}, 0, fmt.Errorf("%w: checksum mismatch at offset %d", ErrCorrupt, off)
	}
	return JPEGFrameData{At: time.UnixMilli(ms), JPEG: b}, off + JPEGRecordHeaderSize + n, nil
}
