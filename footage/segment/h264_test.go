package segment

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/pkg/codecs/h264"
)

// testdata/testsrc.h264: ffmpeg's testsrc, 320×180, 25 frames, libx264
// ultrafast zerolatency (several slices a frame), an IDR every 10 frames.
func testAUs(t *testing.T) (sps, pps []byte, aus [][][]byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/testsrc.h264")
	if err != nil {
		t.Fatal(err)
	}
	nalus, err := h264.AnnexBUnmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var cur [][]byte
	for _, n := range nalus {
		typ := h264.NALUType(n[0] & 0x1f)
		switch typ {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
		// A slice whose first_mb_in_slice is 0 (ue(v) "1") begins a picture.
		if (typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR) && n[1]&0x80 != 0 && hasSlice(cur) {
			aus = append(aus, cur)
			cur = nil
		}
		cur = append(cur, n)
	}
	return sps, pps, append(aus, cur)
}

func hasSlice(au [][]byte) bool {
	for _, n := range au {
		if t := n[0] & 0x1f; t == 1 || t == 5 {
			return true
		}
	}
	return false
}

func TestH264WriterIndexAndRemux(t *testing.T) {
	sps, pps, aus := testAUs(t)
	if len(aus) != 25 {
		t.Fatalf("%d access units in testdata, want 25", len(aus))
	}
	start := time.UnixMilli(1_780_000_000_000)
	at := func(i int) time.Time { return start.Add(time.Duration(i) * 100 * time.Millisecond) }
	var file bytes.Buffer
	w, err := NewH264Writer(&file, start, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	// Joining mid-GOP: frames 5..9 cannot be decoded and are dropped.
	for i := 5; i < 25; i++ {
		if err := w.WriteAccessUnit(at(i), aus[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Frames() != 15 {
		t.Errorf("Frames() = %d, want 15 (from the first IDR)", w.Frames())
	}
	if wd, ht := w.Size(); wd != 320 || ht != 180 {
		t.Errorf("Size() = %dx%d", wd, ht)
	}
	if w.Codec() != "avc1.f4000b" {
		t.Errorf("Codec() = %q", w.Codec())
	}
	if !w.End().Equal(at(25)) {
		t.Errorf("End() = %v, want %v (the last frame lasts as long as the one before)", w.End(), at(25))
	}
	kf := w.Keyframes()
	if len(kf) != 2 || kf[0].At != 1000 || kf[1].At != 2000 {
		t.Fatalf("Keyframes() = %+v, want at 1000 and 2000 ms", kf)
	}
	init, frags, err := ReadFMP4(bytes.NewReader(file.Bytes()), int64(file.Len()), start)
	if err != nil || len(init) == 0 || len(frags) != 2 {
		t.Fatalf("ReadFMP4: %d fragments, %v", len(frags), err)
	}
	for i, f := range frags {
		if !f.Key || f.Offset != kf[i].Offset || !f.Start.Equal(start.Add(time.Duration(kf[i].At)*time.Millisecond)) {
			t.Errorf("fragment %d = %+v, keyframe %+v", i, f, kf[i])
		}
	}
	if !frags[1].End.Equal(at(25)) || !frags[0].End.Equal(frags[1].Start) {
		t.Errorf("fragments span %v–%v and %v–%v", frags[0].Start, frags[0].End, frags[1].Start, frags[1].End)
	}

	src := []Source{{R: bytes.NewReader(file.Bytes()), Size: int64(file.Len()), Start: start}}
	var out bytes.Buffer
	got, err := Remux(&out, src, at(15), at(17))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(at(10)) {
		t.Errorf("Remux starts %v, want the keyframe at or before from, %v", got, at(10))
	}
	_, of, err := ReadFMP4(bytes.NewReader(out.Bytes()), int64(out.Len()), got)
	if err != nil || len(of) != 1 || !of[0].Start.Equal(at(10)) || !of[0].End.Equal(at(20)) {
		t.Errorf("remuxed: %+v, %v; want one fragment 1 s long from the keyframe", of, err)
	}
	if _, err := Remux(&bytes.Buffer{}, src, at(30), at(40)); !errors.Is(err, ErrNoRecording) {
		t.Errorf("Remux after the recording: %v, want ErrNoRecording", err)
	}
	if _, err := Remux(&bytes.Buffer{}, src, at(5), at(4)); err == nil {
		t.Error("Remux with to before from: no error")
	}

	// A segment torn inside its last fragment still plays its first.
	torn := file.Bytes()[:frags[1].Offset+100]
	_, tf, err := ReadFMP4(bytes.NewReader(torn), int64(len(torn)), start)
	if !errors.Is(err, ErrTruncated) || len(tf) != 1 {
		t.Errorf("torn: %d fragments, %v; want 1 and ErrTruncated", len(tf), err)
	}
	out.Reset()
	if got, err := Remux(&out, []Source{{R: bytes.NewReader(torn), Size: int64(len(torn)), Start: start}}, at(10), at(30)); err != nil || !got.Equal(at(10)) {
		t.Errorf("Remux of a torn segment: %v, %v", got, err)
	}
	// Garbage is corrupt, not a panic.
	junk := bytes.Repeat([]byte{0xde, 0xad}, 500)
	if _, _, err := ReadFMP4(bytes.NewReader(junk), int64(len(junk)), start); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
		t.Errorf("junk: %v", err)
	}
}

func TestH264WriterRefusesNewParameters(t *testing.T) {
	sps, pps, aus := testAUs(t)
	w, err := NewH264Writer(&bytes.Buffer{}, time.Now(), sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAccessUnit(time.Now(), aus[0]); err != nil {
		t.Fatalf("the first AU, with the segment's own SPS/PPS: %v", err)
	}
	other := append([][]byte{append(bytes.Clone(sps[:len(sps)-1]), sps[len(sps)-1]^1)}, aus[10]...)
	if err := w.WriteAccessUnit(time.Now(), other); !errors.Is(err, ErrParamsChanged) {
		t.Errorf("an AU with another SPS: %v, want ErrParamsChanged", err)
	}
	if _, err := NewH264Writer(&bytes.Buffer{}, time.Now(), nil, pps); err == nil {
		t.Error("a writer without SPS")
	}
}

// A damaged file on disk is reported, never a panic nor an allocation the
// length fields ask for: every byte of a real segment is flipped in turn
// (and the file cut there) and read back.
func TestDamagedFMP4NeverPanics(t *testing.T) {
	sps, pps, aus := testAUs(t)
	start := time.UnixMilli(1_780_000_000_000)
	var file bytes.Buffer
	w, err := NewH264Writer(&file, start, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range aus {
		if err := w.WriteAccessUnit(start.Add(time.Duration(i)*100*time.Millisecond), au); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	good := file.Bytes()
	init, frags, err := ReadFMP4(bytes.NewReader(good), int64(len(good)), start)
	if err != nil {
		t.Fatal(err)
	}
	// The boxes' headers are where damage matters: the init and each moof
	// with the mdat header after it (picture bytes are never parsed).
	var at []int
	for i := range init {
		at = append(at, i)
	}
	for _, f := range frags {
		moof := int(f.Offset) + int(uint32(good[f.Offset])<<24|uint32(good[f.Offset+1])<<16|uint32(good[f.Offset+2])<<8|uint32(good[f.Offset+3]))
		for i := int(f.Offset); i < moof+8; i++ {
			at = append(at, i)
		}
	}
	for _, i := range at {
		b := bytes.Clone(good)
		b[i] ^= 0xff
		for _, f := range [][]byte{b, good[:i]} {
			_, _, _ = ReadFMP4(bytes.NewReader(f), int64(len(f)), start)
			if i%8 != 0 {
				continue // Remux reads the same index; a sample of it is enough
			}
			_, _ = Remux(&bytes.Buffer{}, []Source{{R: bytes.NewReader(f), Size: int64(len(f)), Start: start}}, start, start.Add(10*time.Second))
		}
	}
}
