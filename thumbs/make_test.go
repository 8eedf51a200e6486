package thumbs

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/draw"
)

// scene draws something camera-like: a sky gradient, solid blocks and mild
// sensor noise, so JPEG sizes and decode times resemble real frames.
func scene(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := y * 100 / h
			r, g, b := 80+v, 120+v/2, 200-v
			if (x*8/w+y*6/h)%3 == 0 {
				r, g, b = 200, 60, 40
			}
			seed = seed*1664525 + 1013904223
			n := int(seed>>28) - 8
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = clamp(r+n), clamp(g+n), clamp(b+n), 255
		}
	}
	return img
}

func clamp(v int) uint8 { return uint8(min(255, max(0, v))) }

func encode(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func frame(t testing.TB, w, h int) []byte { return encode(t, scene(w, h), 85) }

func TestMakeSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		srcW, srcH, width int
		wantW, wantH      int
	}{
		{640, 360, 320, 320, 180},
		{1920, 1080, 320, 320, 180},
		{1366, 768, 320, 320, 180}, // 179.9 rounds up
		{1280, 1024, 320, 320, 256},
		{360, 640, 320, 320, 569}, // portrait: height follows width
		{641, 361, 320, 320, 180},
		{321, 180, 320, 320, 179},
		{4000, 3, 320, 320, 1}, // never rounds to zero height
		{320, 180, 320, 320, 180},
		{200, 100, 320, 200, 100}, // never upscales
		{17, 9, 320, 17, 9},
	}
	for _, tt := range tests {
		src := frame(t, tt.srcW, tt.srcH)
		th, err := Make(src, tt.width, 75)
		if err != nil {
			t.Fatalf("%dx%d → %d: %v", tt.srcW, tt.srcH, tt.width, err)
		}
		if th.Width != tt.wantW || th.Height != tt.wantH {
			t.Errorf("%dx%d → %d: got %dx%d, want %dx%d", tt.srcW, tt.srcH, tt.width, th.Width, th.Height, tt.wantW, tt.wantH)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(th.JPEG))
		if err != nil {
			t.Fatalf("output is not a JPEG: %v", err)
		}
		if cfg.Width != th.Width || cfg.Height != th.Height {
			t.Errorf("Thumb says %dx%d, JPEG is %dx%d", th.Width, th.Height, cfg.Width, cfg.Height)
		}
		srcAspect := float64(tt.srcW) / float64(tt.srcH)
		gotAspect := float64(th.Width) / float64(th.Height)
		// Rounding the height moves the aspect by at most half a row.
		if tol := srcAspect / (2*float64(th.Height) - 1); math.Abs(gotAspect-srcAspect) > tol {
			t.Errorf("%dx%d: aspect %.4f, want %.4f±%.4f", tt.srcW, tt.srcH, gotAspect, srcAspect, tol)
		}
		sum := sha256.Sum256(th.JPEG)
		if th.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256 %s does not match the bytes", th.SHA256)
		}
	}
}

func TestMakeDeterministic(t *testing.T) {
	t.Parallel()
	src := frame(t, 640, 360)
	a, err := Make(src, 320, 75)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Make(src, 320, 75)
	if a.SHA256 != b.SHA256 {
		t.Fatal("same frame gave different thumbnails; ETags would churn")
	}
}

// Catches flipped axes or swapped channels, which size checks miss.
func TestMakeKeepsContent(t *testing.T) {
	t.Parallel()
	img := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	for y := 0; y < 720; y++ {
		for x := 0; x < 1280; x++ {
			c := color.RGBA{220, 20, 20, 255} // red top-left
			switch {
			case x >= 640 && y < 360:
				c = color.RGBA{20, 20, 220, 255} // blue top-right
			case y >= 360:
				c = color.RGBA{20, 220, 20, 255} // green bottom
			}
			img.SetRGBA(x, y, c)
		}
	}
	th, err := Make(encode(t, img, 90), 320, 75)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(bytes.NewReader(th.JPEG))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		x, y    int
		name    string
		r, g, b uint32
	}{{40, 40, "red", 220, 20, 20}, {280, 40, "blue", 20, 20, 220}, {160, 140, "green", 20, 220, 20}} {
		r, g, b, _ := out.At(p.x, p.y).RGBA()
		if d := max(diff(r>>8, p.r), diff(g>>8, p.g), diff(b>>8, p.b)); d > 12 {
			t.Errorf("(%d,%d) = %d,%d,%d, want %s", p.x, p.y, r>>8, g>>8, b>>8, p.name)
		}
	}
}

func diff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestMakeGrayscale(t *testing.T) {
	t.Parallel()
	// Cameras in night mode often send single-channel JPEGs.
	src := scene(800, 600)
	gray := image.NewGray(src.Bounds())
	draw.Draw(gray, gray.Bounds(), src, image.Point{}, draw.Src)
	th, err := Make(encode(t, gray, 85), 320, 75)
	if err != nil {
		t.Fatal(err)
	}
	if th.Width != 320 || th.Height != 240 {
		t.Fatalf("got %dx%d", th.Width, th.Height)
	}
}

func TestMakeQuality(t *testing.T) {
	t.Parallel()
	src := frame(t, 1280, 720)
	var prev int
	for _, q := range []int{10, 50, 75, 95} {
		th, err := Make(src, 320, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("q%d: %d bytes", q, len(th.JPEG))
		if len(th.JPEG) <= prev {
			t.Errorf("q%d gave %d bytes, not more than the lower quality's %d", q, len(th.JPEG), prev)
		}
		prev = len(th.JPEG)
	}
}

func TestMakeBadInput(t *testing.T) {
	good := frame(t, 640, 360)
	var pngBuf bytes.Buffer
	_ = png.Encode(&pngBuf, scene(8, 8))

	tests := []struct {
		name string
		src  []byte
	}{
		{"nil", nil},
		{"one byte", []byte{0xFF}},
		{"html login page", []byte("<!DOCTYPE html><html><body>401 Unauthorized</body></html>")},
		{"png", pngBuf.Bytes()},
		{"gif", []byte("GIF89a\x01\x00\x01\x00")},
		{"soi only", []byte{0xFF, 0xD8}},
		{"soi then garbage", append([]byte{0xFF, 0xD8}, bytes.Repeat([]byte{0x42}, 1000)...)},
		{"truncated header", good[:40]},
		{"truncated at half", good[:len(good)/2]},
		{"truncated before EOI", good[:len(good)-64]},
		{"zero-size header", sofHeader(0, 0)},
		{"header only", sofHeader(640, 360)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, err := Make(tt.src, 320, 75)
			if !errors.Is(err, ErrNotJPEG) {
				t.Fatalf("err = %v, want ErrNotJPEG", err)
			}
			if th.JPEG != nil {
				t.Error("returned bytes along with an error")
			}
			t.Log(err)
		})
	}
}

func TestMakeBadParams(t *testing.T) {
	src := frame(t, 64, 36)
	for _, p := range [][2]int{{0, 75}, {-1, 75}, {320, 0}, {320, 101}} {
		if _, err := Make(src, p[0], p[1]); err == nil {
			t.Errorf("Make(width %d, quality %d) succeeded", p[0], p[1])
		}
	}
}

// sofHeader is the start of a baseline JFIF that claims w×h, with nothing
// after the frame header: all a decoder needs to size its pixel buffers.
func sofHeader(w, h int) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	return appendSOF(b, w, h)
}

func appendSOF(b []byte, w, h int) []byte {
	b = append(b, 0xFF, 0xC0, 0, 17, 8)
	b = binary.BigEndian.AppendUint16(b, uint16(h))
	b = binary.BigEndian.AppendUint16(b, uint16(w))
	b = append(b, 3)
	for id := byte(1); id <= 3; id++ {
		b = append(b, id, 0x11, 0)
	}
	return b
}

func TestMakeRefusesHugeDimensions(t *testing.T) {
	// A real 20000×20000 frame would decode into ~600 MB of YCbCr.
	huge := sofHeader(20000, 20000)
	if _, err := Make(huge, 320, 75); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	// Without JFIF the decoder reads on to the scan header before it
	// reports a size; that must still be refused before the scan is decoded.
	noJFIF := appendSOF([]byte{0xFF, 0xD8}, 20000, 20000)
	noJFIF = append(noJFIF, 0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0)
	noJFIF = append(noJFIF, bytes.Repeat([]byte{0x55}, 4096)...)
	if _, err := Make(noJFIF, 320, 75); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("without JFIF: err = %v, want ErrTooLarge", err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const runs = 10
	for i := 0; i < runs; i++ {
		_, _ = Make(huge, 320, 75)
		_, _ = Make(noJFIF, 320, 75)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / (2 * runs); per > 64<<10 {
		t.Fatalf("refusing a 20000×20000 header allocated %d bytes per call", per)
	}

	// The limit is on pixels, not on either side.
	if _, err := Make(sofHeader(8001, 5000), 320, 75); !errors.Is(err, ErrTooLarge) {
		t.Errorf("8001×5000: err = %v, want ErrTooLarge", err)
	}
	if _, err := Make(sofHeader(8000, 5000), 320, 75); errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrNotJPEG) {
		t.Errorf("8000×5000 (exactly MaxPixels, no scan data): err = %v, want ErrNotJPEG", err)
	}
	if _, err := Make(sofHeader(65535, 1), 320, 75); errors.Is(err, ErrTooLarge) {
		t.Errorf("65535×1 is small: %v", err)
	}
}

// stripes has 2-pixel black and white columns: detail far finer than a
// 320-wide thumbnail of a 1920-wide frame can show, so the honest result is
// flat grey.
func stripes(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(0)
			if x%4 >= 2 {
				v = 255
			}
			img.SetRGBA(x, y, color.RGBA{v, v, v, 255})
		}
	}
	return img
}

// columnSpread is the difference between the brightest and darkest column
// means: zero for flat grey, large for moiré.
func columnSpread(img image.Image) float64 {
	b := img.Bounds()
	lo, hi := math.Inf(1), math.Inf(-1)
	for x := b.Min.X; x < b.Max.X; x++ {
		var sum float64
		for y := b.Min.Y; y < b.Max.Y; y++ {
			r, _, _, _ := img.At(x, y).RGBA()
			sum += float64(r >> 8)
		}
		m := sum / float64(b.Dy())
		lo, hi = min(lo, m), max(hi, m)
	}
	return hi - lo
}

func TestScaleDoesNotAlias(t *testing.T) {
	t.Parallel()
	src := stripes(1920, 1080)

	naive := image.NewRGBA(image.Rect(0, 0, 320, 180))
	draw.ApproxBiLinear.Scale(naive, naive.Bounds(), src, src.Bounds(), draw.Src, nil)
	if s := columnSpread(naive); s < 100 {
		t.Fatalf("probe too weak: plain ApproxBiLinear spread is only %.0f", s)
	}

	if s := columnSpread(scale(src, 320, 180)); s > 8 {
		t.Errorf("1920→320 column spread %.1f, want flat grey (≤8)", s)
	}
	th, err := Make(encode(t, src, 95), 320, 75)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jpeg.Decode(bytes.NewReader(th.JPEG))
	if s := columnSpread(out); s > 12 {
		t.Errorf("Make 1920→320 column spread %.1f, want flat grey (≤12)", s)
	}
}

func TestDataURL(t *testing.T) {
	th, err := Make(frame(t, 64, 36), 32, 75)
	if err != nil {
		t.Fatal(err)
	}
	u := DataURL(th.JPEG)
	const p = "data:image/jpeg;base64,"
	if !strings.HasPrefix(u, p) {
		t.Fatalf("got %.40q", u)
	}
	back, err := base64.StdEncoding.DecodeString(u[len(p):])
	if err != nil || !bytes.Equal(back, th.JPEG) {
		t.Fatalf("data URL does not round-trip: %v", err)
	}
	if DataURL(nil) != p {
		t.Errorf("DataURL(nil) = %q", DataURL(nil))
	}
}

func TestKey(t *testing.T) {
	k := Key("AC01J9Z8Q5R7X3M2N4P6T8V0W2", "JE01J9Z8Q5R7X3M2N4P6T8V0W3")
	if k != "AC01J9Z8Q5R7X3M2N4P6T8V0W2_JE01J9Z8Q5R7X3M2N4P6T8V0W3" {
		t.Fatalf("Key = %q", k)
	}
	if err := checkKey(k); err != nil {
		t.Fatal(err)
	}
	if Key("a", "b") == Key("a", "c") || Key("a", "b") == Key("b", "b") {
		t.Fatal("keys collide")
	}
}

func BenchmarkMake(b *testing.B) {
	src := frame(b, 640, 360)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Make(src, 320, 75); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScalers is the measurement behind scale's choice of
// ApproxBiLinear with halving. Compare with: go test -bench Scalers ./thumbs/
func BenchmarkScalers(b *testing.B) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"640x360", 640, 360}, {"1920x1080", 1920, 1080}} {
		dec, err := jpeg.Decode(bytes.NewReader(frame(b, size.w, size.h)))
		if err != nil {
			b.Fatal(err)
		}
		direct := func(s draw.Scaler) func() image.Image {
			return func() image.Image {
				dst := image.NewRGBA(image.Rect(0, 0, 320, 180))
				s.Scale(dst, dst.Bounds(), dec, dec.Bounds(), draw.Src, nil)
				return dst
			}
		}
		for _, sc := range []struct {
			name string
			fn   func() image.Image
		}{
			{"halving+ApproxBiLinear", func() image.Image { return scale(dec, 320, 180) }},
			{"ApproxBiLinear", direct(draw.ApproxBiLinear)},
			{"BiLinear", direct(draw.BiLinear)},
			{"CatmullRom", direct(draw.CatmullRom)},
		} {
			b.Run(size.name+"/"+sc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sc.fn()
				}
			})
		}
	}
}

// cells is a YCbCr test image whose chroma is constant over 16×16 cells and
// whose luma is a full-resolution wave. 16 pixels cover a chroma sample of
// every subsampling ratio even after two halvings, so the YCbCr and RGB paths
// see the same colours and may differ only by rounding; a plane read one
// sample or one row off shifts the cell edges and the waves, which shows.
func cells(w, h int, r image.YCbCrSubsampleRatio) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), r)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Y[m.YOffset(x, y)] = uint8(125 + 30*math.Sin(float64(x)/7) + 30*math.Sin(float64(y)/5))
			cell := uint32(x/16*7919 + y/16*104729)
			cell ^= cell >> 7
			cell *= 2654435761
			ci := m.COffset(x, y)
			m.Cb[ci], m.Cr[ci] = uint8(100+cell>>8%56), uint8(100+cell>>16%56)
		}
	}
	return m
}

// The plane-wise YCbCr halving must agree with the generic RGBA path for
// every chroma layout a JPEG can have. 646×362 and 1292×722 halve to odd
// sizes whose chroma planes need one sample more than the source has; the
// odd sizes check that both paths drop the same last row and column.
func TestHalveYCbCrMatchesRGBA(t *testing.T) {
	t.Parallel()
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	for _, r := range ratios {
		for _, sz := range [][2]int{{640, 360}, {646, 362}, {1292, 722}, {643, 363}} {
			m := cells(sz[0], sz[1], r)
			rgba := image.NewRGBA(m.Rect)
			draw.Draw(rgba, rgba.Rect, m, image.Point{}, draw.Src)
			got, want := scale(m, 320, 180), scale(rgba, 320, 180)
			if _, ok := got.(*image.YCbCr); !ok && sz[0]/2 == 320 {
				t.Errorf("%v: exact halving left YCbCr (%T)", r, got)
			}
			var worst, sum float64
			for y := 0; y < 180; y++ {
				for x := 0; x < 320; x++ {
					a := color.RGBAModel.Convert(got.At(x, y)).(color.RGBA)
					b := want.(*image.RGBA).RGBAAt(x, y)
					for _, d := range []float64{
						math.Abs(float64(a.R) - float64(b.R)),
						math.Abs(float64(a.G) - float64(b.G)),
						math.Abs(float64(a.B) - float64(b.B)),
					} {
						worst, sum = max(worst, d), sum+d
					}
				}
			}
			mean := sum / (320 * 180 * 3)
			// Chroma is averaged before, not after, conversion to RGB and
			// both round; gross errors (wrong plane, shifted rows) show as
			// tens of levels.
			if worst > 4 || mean > 1 {
				t.Errorf("%v %dx%d: YCbCr path differs from RGBA path: max %.0f, mean %.2f levels", r, sz[0], sz[1], worst, mean)
			}
			if testing.Verbose() {
				t.Logf("%v %dx%d: max %.0f, mean %.2f", r, sz[0], sz[1], worst, mean)
			}
		}
	}
}
