package thumbs

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"

	"golang.org/x/image/draw"
)

// MaxPixels bounds the decoded size of a source frame. Decoding 40 MP already
// costs ~60–120 MB; a camera (or anything posing as one) that claims more is
// refused from the header alone, before a pixel buffer is allocated.
const MaxPixels = 40_000_000

// Callers record why a frame produced no thumbnail; sentinel errors let them
// classify without parsing messages.
var (
	ErrNotJPEG  = errors.New("thumbs: not a valid JPEG")
	ErrTooLarge = errors.New("thumbs: image too large")
)

// Thumb is a scaled, re-encoded frame.
type Thumb struct {
	JPEG          []byte
	Width, Height int
	SHA256        string // hex of JPEG; stable, so it serves as the HTTP ETag
	// SourceWidth and SourceHeight are the frame's own size, from its
	// header (the picture kept beside the thumbnail).
	SourceWidth, SourceHeight int
}

// Make cuts a thumbnail from a JPEG frame: at most width pixels wide, aspect
// ratio kept, never upscaled (an upscaled thumbnail only costs bytes), and
// always re-encoded at quality 1–100 so stored sizes are predictable whatever
// the camera sent.
func Make(src []byte, width, quality int) (Thumb, error) {
	if width <= 0 {
		return Thumb{}, fmt.Errorf("thumbs: width must be positive, got %d", width)
	}
	if quality < 1 || quality > 100 {
		return Thumb{}, fmt.Errorf("thumbs: quality must be 1..100, got %d", quality)
	}
	// Checked by hand so "the camera answered with an HTML login page" reads
	// as such, not as the decoder's "missing SOI marker".
	if len(src) < 2 || src[0] != 0xFF || src[1] != 0xD8 {
		return Thumb{}, fmt.Errorf("%w: %d bytes starting %q", ErrNotJPEG, len(src), prefix(src))
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(src))
	if err != nil {
		return Thumb{}, fmt.Errorf("%w: header: %v", ErrNotJPEG, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Thumb{}, fmt.Errorf("%w: header claims %dx%d", ErrNotJPEG, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return Thumb{}, fmt.Errorf("%w: %dx%d is over %d pixels", ErrTooLarge, cfg.Width, cfg.Height, MaxPixels)
	}
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		// Truncated frames (a stream cut mid-image) land here as
		// "unexpected EOF".
		return Thumb{}, fmt.Errorf("%w: %dx%d image: %v", ErrNotJPEG, cfg.Width, cfg.Height, err)
	}

	dw, dh := fit(img.Bounds().Dx(), img.Bounds().Dy(), width)
	out := img
	if dw != img.Bounds().Dx() || dh != img.Bounds().Dy() {
		out = scale(img, dw, dh)
	}

	var buf bytes.Buffer
	buf.Grow(dw * dh / 4)
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: quality}); err != nil {
		return Thumb{}, fmt.Errorf("thumbs: encode: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return Thumb{
		JPEG: buf.Bytes(), Width: dw, Height: dh, SHA256: hex.EncodeToString(sum[:]),
		SourceWidth: cfg.Width, SourceHeight: cfg.Height,
	}, nil
}

// fit returns the output size for a w×h source limited to width.
func fit(w, h, width int) (int, int) {
	if w <= width {
		return w, h
	}
	// Rounded, not truncated, so 1366×768 → 320×180 rather than 179.
	dh := int((int64(h)*int64(width) + int64(w)/2) / int64(w))
	return width, max(1, dh)
}

// scale downsizes img to dw×dh.
//
// ApproxBiLinear is the fastest scaler in x/image/draw, but it reads only the
// 2×2 source pixels around each sample: at 1080p→320 (6:1) most of the frame
// is skipped and fine detail turns into moiré. CatmullRom and BiLinear widen
// their kernels and do not alias, but cost 20–50× more and allocate 4–12 MB
// of float64 scratch per frame. So the image is first halved by 2×2
// box averaging while it stays at least twice the target (exact area
// averaging), and ApproxBiLinear covers only the remaining <2:1 step, where
// it does not alias. Decoded JPEGs are halved plane by plane in YCbCr, which
// the encoder takes directly. BenchmarkScalers and TestScaleDoesNotAlias
// hold the measurements.
func scale(img image.Image, dw, dh int) image.Image {
	cur := img
	for {
		b := cur.Bounds()
		hw, hh := b.Dx()/2, b.Dy()/2
		if hw < dw || hh < dh {
			break
		}
		cur = halve(cur)
		if hw == dw && hh == dh {
			return cur
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), cur, cur.Bounds(), draw.Src, nil)
	return dst
}

// halve returns m at half its size, each pixel the mean of a 2×2 block; the
// last row or column of an odd-sized image is dropped (one pixel of a frame
// at least twice the thumbnail's size).
func halve(m image.Image) image.Image {
	switch m := m.(type) {
	case *image.YCbCr:
		if m.Rect.Min == (image.Point{}) {
			return halveYCbCr(m)
		}
	case *image.Gray:
		if m.Rect.Min == (image.Point{}) {
			return halveGray(m)
		}
	}
	// At exactly 2:1 ApproxBiLinear samples the centre of each 2×2 block,
	// which is the same box average. An odd last row or column is dropped,
	// as above, rather than stretched over: a 2.003:1 ratio would shift
	// samples by up to a pixel and blur nothing in exchange.
	b := m.Bounds()
	hw, hh := b.Dx()/2, b.Dy()/2
	next := image.NewRGBA(image.Rect(0, 0, hw, hh))
	sr := image.Rectangle{Min: b.Min, Max: b.Min.Add(image.Pt(2*hw, 2*hh))}
	draw.ApproxBiLinear.Scale(next, next.Bounds(), m, sr, draw.Src, nil)
	return next
}

// DataURL inlines a thumbnail so a subscriber gets the picture in the same
// message as the entry, without a second authenticated request.
func DataURL(jpeg []byte) string {
	const p = "data:image/jpeg;base64,"
	b := make([]byte, len(p)+base64.StdEncoding.EncodedLen(len(jpeg)))
	copy(b, p)
	base64.StdEncoding.Encode(b[len(p):], jpeg)
	return string(b)
}

// prefix quotes the start of a rejected payload so the camera status shows
// what actually arrived.
func prefix(b []byte) []byte {
	return b[:min(len(b), 16)]
}
