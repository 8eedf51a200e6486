package camera

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
)

// scaleJPEG mimics the thumbnail step: decode, scale to width, re-encode.
func scaleJPEG(t testing.TB, src []byte, width, quality int, s draw.Scaler) []byte {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	h := (b.Dy()*width + b.Dx()/2) / b.Dx()
	dst := image.NewRGBA(image.Rect(0, 0, width, h))
	s.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// boxHalve is a plain 2×2 box filter on luma and chroma planes,
// independent of x/image.
func boxHalve(t testing.TB, src []byte, quality int) []byte {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	w, h := rgba.Rect.Dx()/2, rgba.Rect.Dy()/2
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for ch := 0; ch < 3; ch++ {
				sum := 0
				for _, d := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
					sum += int(rgba.Pix[rgba.PixOffset(2*x+d[0], 2*y+d[1])+ch])
				}
				dst.Pix[dst.PixOffset(x, y)+ch] = uint8((sum + 2) / 4)
			}
			dst.Pix[dst.PixOffset(x, y)+3] = 255
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestSimulatedDecodeTimeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	hi := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	scalers := []struct {
		name string
		s    draw.Scaler
	}{
		{"CatmullRom", draw.CatmullRom},
		{"BiLinear", draw.BiLinear},
		{"ApproxBiLinear", draw.ApproxBiLinear},
		{"NearestNeighbor", draw.NearestNeighbor},
	}
	n := 120
	if testing.Short() || raceEnabled {
		n = 20
	}
	for i := 0; i < n; i++ {
		want := time.UnixMilli(lo + rng.Int64N(hi-lo)).Add(time.Duration(rng.IntN(1e6))) // sub-ms noise is truncated
		name := []string{"", "Kasse 1", "Eingang Süd — a rather long camera name that gets cut"}[i%3]
		g := NewSimulated(name, func() time.Time { return want })
		f, err := g.Grab(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if f.Width != 640 || f.Height != 360 {
			t.Fatalf("frame %dx%d", f.Width, f.Height)
		}
		wantMs := want.Truncate(time.Millisecond)
		if !f.CapturedAt.Equal(wantMs) {
			t.Fatalf("CapturedAt %v, want %v", f.CapturedAt, wantMs)
		}
		check := func(what string, data []byte) {
			t.Helper()
			got, err := DecodeTime(data)
			if err != nil {
				t.Fatalf("%s at %v: %v", what, wantMs, err)
			}
			if !got.Equal(wantMs) {
				t.Fatalf("%s: decoded %v, want %v", what, got, wantMs)
			}
		}
		check("full frame", f.JPEG)
		sc := scalers[i%len(scalers)]
		check("320px q75 "+sc.name, scaleJPEG(t, f.JPEG, 320, 75, sc.s))
		check("320px q75 box", boxHalve(t, f.JPEG, 75))
		if i%10 == 0 {
			// Not required, but shows the margin: an odd width and a harsher
			// quality still read.
			check("213px q50", scaleJPEG(t, f.JPEG, 213, 50, draw.CatmullRom))
		}
	}
}

func TestSimulatedFramesDiffer(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	g := NewSimulated("cam", func() time.Time { return now })
	a, _ := g.Grab(context.Background())
	now = now.Add(time.Second)
	b, _ := g.Grab(context.Background())
	if bytes.Equal(a.JPEG, b.JPEG) {
		t.Fatal("frames a second apart are identical")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Grab(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("grab with cancelled ctx: %v", err)
	}
}

func TestDecodeTimeRejects(t *testing.T) {
	if _, err := DecodeTime([]byte("<html>")); !errors.Is(err, ErrNotJPEG) {
		t.Fatalf("garbage: %v", err)
	}
	// A real-looking picture without a code.
	img := image.NewRGBA(image.Rect(0, 0, 640, 360))
	for y := 0; y < 360; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, nil)
	if _, err := DecodeTime(buf.Bytes()); !errors.Is(err, ErrNoTimeCode) {
		t.Fatalf("plain picture: %v", err)
	}
	// One flipped data block must be caught by the checksum, not decoded
	// into a wrong time.
	f, _ := NewSimulated("x", func() time.Time { return time.UnixMilli(1_700_000_000_123) }).Grab(context.Background())
	src, _ := jpeg.Decode(bytes.NewReader(f.JPEG))
	rgba := image.NewRGBA(src.Bounds())
	draw.Draw(rgba, rgba.Bounds(), src, image.Point{}, draw.Src)
	x, y := (4+10)*codeBlock, codeTop+codeBlock
	c := rgba.RGBAAt(x+8, y+8)
	flip := color.RGBA{255, 255, 255, 255}
	if c.R > 128 {
		flip = color.RGBA{0, 0, 0, 255}
	}
	fillRect(rgba, image.Rect(x, y, x+codeBlock, y+codeBlock), flip)
	buf.Reset()
	jpeg.Encode(&buf, rgba, &jpeg.Options{Quality: 90})
	if _, err := DecodeTime(buf.Bytes()); !errors.Is(err, ErrNoTimeCode) {
		t.Fatalf("flipped block: %v", err)
	}
}

func BenchmarkSimulatedGrab(b *testing.B) {
	g := NewSimulated("bench", nil)
	for b.Loop() {
		if _, err := g.Grab(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTime320(b *testing.B) {
	f, _ := NewSimulated("bench", nil).Grab(context.Background())
	small := scaleJPEG(b, f.JPEG, 320, 75, draw.CatmullRom)
	for b.Loop() {
		if _, err := DecodeTime(small); err != nil {
			b.Fatal(err)
		}
	}
}

// Issue 19: the picture's clock reads as the shop's clock, with its zone,
// while the block code keeps the true instant.
func TestSimulatedShopTime(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 5, 21, 0, time.UTC)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		tokyo = time.FixedZone("JST", 9*60*60)
	}
	for _, tc := range []struct {
		loc  *time.Location
		want string
	}{
		{tokyo, "2026-12-02 15:05:21 JST +09:00"},
		{time.FixedZone("", 7*60*60), "2026-12-02 13:05:21 +07:00"},
		{time.UTC, "2026-12-02 06:05:21 UTC +00:00"},
	} {
		if got := Caption(at, tc.loc); got != tc.want {
			t.Errorf("Caption in %s = %q, want %q", tc.loc, got, tc.want)
		}
		f, err := NewSimulatedWith(SimulatedConfig{Name: "till", Now: func() time.Time { return at }, Location: tc.loc}).Grab(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeTime(f.JPEG); err != nil || !got.Equal(at) {
			t.Errorf("block code in %s: %v, %v; want %s", tc.loc, got, err, at)
		}
	}
	if got := Caption(at, defaultZone()); got != "2026-12-02 15:05:21 JST +09:00" {
		t.Errorf("default zone caption %q", got)
	}
}

// The frame's font has ASCII only: a Japanese name is left out rather than
// drawn as empty boxes, and what is drawn stays inside CaptionArea.
func TestSimulatedCaptionGlyphs(t *testing.T) {
	if renderLabel("レジ前カメラ") != nil {
		t.Error("a Japanese name is rendered in an ASCII-only font")
	}
	if renderLabel("Till 1") == nil {
		t.Error("an ASCII name is not rendered")
	}
	// The caption is drawn whole, zone and offset included (28 characters
	// once cut "… JST +09:00" to "… JST +...").
	for _, c := range []string{"2026-12-02 15:05:21 JST +09:00", "2026-12-02 15:05:21 CHADT +13:45"} {
		if l, full := renderLabel(c), font.MeasureString(basicfont.Face7x13, c).Ceil(); l == nil || l.Bounds().Dx() != full {
			t.Errorf("caption %q is not drawn whole", c)
		}
	}
	at := time.Date(2026, 12, 2, 6, 5, 21, 0, time.UTC)
	for _, name := range []string{"", "レジ前カメラ", "a very long camera name that goes on and on"} {
		f, err := NewSimulatedWith(SimulatedConfig{Name: name, Now: func() time.Time { return at }}).Grab(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(f.JPEG))
		if err != nil {
			t.Fatal(err)
		}
		// The caption's black box ends inside CaptionArea: just right of
		// it and just below it the scene shows, not black.
		for _, p := range []image.Point{{CaptionArea.Max.X + 2, 20}, {20, CaptionArea.Max.Y + 2}} {
			r, g, b, _ := img.At(p.X, p.Y).RGBA()
			if r>>8 < 30 && g>>8 < 30 && b>>8 < 30 {
				t.Errorf("name %q: black at %v, outside CaptionArea %v", name, p, CaptionArea)
			}
		}
		// and inside it, the caption is drawn (white glyphs on black).
		lit := false
		for x := 12; x < 400 && !lit; x++ {
			r, _, _, _ := img.At(x, 16).RGBA()
			lit = r>>8 > 200
		}
		if !lit {
			t.Errorf("name %q: no caption text at the top left", name)
		}
	}
}
