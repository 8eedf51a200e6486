package camera

import (
	"bytes"
	"context"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// SimulatedWidth and SimulatedHeight are the size of simulated frames.
const (
	SimulatedWidth  = refW
	SimulatedHeight = refH
)

type simulated struct {
	name  string
	now   func() time.Time
	loc   *time.Location
	tint  color.RGBA
	label *image.RGBA // the name, rendered once; nil when the font cannot write it
}

// SimulatedConfig describes a simulated camera.
type SimulatedConfig struct {
	Name string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Location is the timezone of the camera's shop: the picture's clock
	// and caption are drawn in it, with the zone written out, so the frame
	// reads like the receipts beside it. Nil is Asia/Tokyo, a shop's
	// default (shop.DefaultZone).
	Location *time.Location
}

// NewSimulated is NewSimulatedWith for a camera of name, in Asia/Tokyo.
func NewSimulated(name string, now func() time.Time) Grabber {
	return NewSimulatedWith(SimulatedConfig{Name: name, Now: now})
}

// NewSimulatedWith is a camera without hardware for the demo and tests.
// Each frame shows a scene with a moving ball (so consecutive frames
// differ), its capture time in the shop's timezone in large seven-segment
// digits and in a caption with the zone at the top left, and the same
// instant as a block code for DecodeTime (Unix milliseconds: no zone).
func NewSimulatedWith(cfg SimulatedConfig) Grabber {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = defaultZone()
	}
	h := fnv.New32a()
	h.Write([]byte(cfg.Name))
	sum := h.Sum32()
	// Per-camera tint tells demo cameras apart at a glance.
	tint := color.RGBA{uint8(60 + sum%120), uint8(60 + (sum>>8)%120), uint8(60 + (sum>>16)%120), 255}
	return &simulated{name: cfg.Name, now: cfg.Now, loc: cfg.Location, tint: tint, label: renderLabel(cfg.Name)}
}

// defaultZone is Asia/Tokyo; a fixed +09:00 named JST where the machine
// has no zone database (Japan has kept no summer time since 1951).
func defaultZone() *time.Location {
	if loc, err := time.LoadLocation("Asia/Tokyo"); err == nil {
		return loc
	}
	return time.FixedZone("JST", 9*60*60)
}

// Caption is the text the simulated camera writes at its top left for the
// instant t shown in loc: date, time, zone abbreviation and UTC offset
// (only the offset when the zone has no letters, e.g. "+07"), so no one has
// to guess which clock it is.
func Caption(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	s := t.Format("2006-01-02 15:04:05")
	if abbr := t.Format("MST"); abbr != "" && abbr[0] != '+' && abbr[0] != '-' {
		s += " " + abbr
	}
	return s + " " + t.Format("-07:00")
}

func (s *simulated) Grab(ctx context.Context) (Frame, error) {
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	// Millisecond precision is all the block code holds; truncating here
	// makes DecodeTime(frame) == CapturedAt exactly.
	t := s.now().Round(0).Truncate(time.Millisecond)
	img := image.NewRGBA(image.Rect(0, 0, refW, refH))
	s.drawScene(img, t)
	s.drawCaption(img, t)
	drawClock(img, t.In(s.loc))
	drawTimeCode(img, t)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return Frame{}, err
	}
	return Frame{JPEG: buf.Bytes(), CapturedAt: t, Width: refW, Height: refH}, nil
}

func (s *simulated) drawScene(img *image.RGBA, t time.Time) {
	// Sky-to-floor gradient in the camera's tint.
	for y := 0; y < codeBandTop; y++ {
		f := 0.55 + 0.45*float64(y)/codeBandTop
		c := color.RGBA{uint8(float64(s.tint.R) * f), uint8(float64(s.tint.G) * f), uint8(float64(s.tint.B) * f), 255}
		fillRect(img, image.Rect(0, y, refW, y+1), c)
	}
	// A counter and a till, so the picture reads as a shop.
	fillRect(img, image.Rect(0, 150, refW, 175), color.RGBA{110, 80, 50, 255})
	fillRect(img, image.Rect(470, 105, 560, 150), color.RGBA{50, 50, 60, 255})
	fillRect(img, image.Rect(480, 112, 550, 135), color.RGBA{120, 200, 140, 255})

	// The ball bounces across in 4 s and bobs once a second: two frames a
	// second apart never look alike.
	ms := t.UnixMilli()
	phase := float64(ms%8000) / 4000 // 0..2
	if phase > 1 {
		phase = 2 - phase
	}
	cx := 40 + phase*(refW-80)
	cy := 100 - 40*math.Abs(math.Sin(math.Pi*float64(ms%1000)/1000))
	fillCircle(img, int(cx), int(cy), 22, color.RGBA{240, 200, 40, 255})
}

// CaptionArea is where the simulated camera writes its caption (shop time
// with zone, then the name) on its 640×360 frame: the top-left corner. The
// dashboard keeps its badges outside the picture, so nothing covers it.
var CaptionArea = image.Rect(0, 0, 470, 72)

// drawCaption writes the caption at the top left, on black, doubled (7×13
// px glyphs are too small once the frame is a 320 px thumbnail).
func (s *simulated) drawCaption(img *image.RGBA, t time.Time) {
	lines := []*image.RGBA{renderLabel(Caption(t, s.loc))}
	if s.label != nil {
		lines = append(lines, s.label)
	}
	y := 6
	for _, l := range lines {
		fillRect(img, image.Rect(8, y, 16+l.Bounds().Dx()*2, y+4+l.Bounds().Dy()*2), color.RGBA{0, 0, 0, 255})
		blit2x(img, l, 12, y+2)
		y += 4 + l.Bounds().Dy()*2 + 2
	}
}

// renderLabel draws text once at 1× with the built-in bitmap font. The font
// has ASCII only: anything else (a Japanese camera name) would be drawn as
// empty boxes, so such text is not drawn at all (nil) and the dashboard,
// which shows the camera's name beside its picture, says it instead.
func renderLabel(name string) *image.RGBA {
	// 2×7 px each, so 32 stay inside CaptionArea: the caption with a
	// five-letter zone and its offset ("… 15:05:21 CHADT +13:45") is 32.
	const maxRunes = 32
	if len(name) > maxRunes {
		name = name[:maxRunes-3] + "..."
	}
	if name == "" {
		return nil
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return nil
		}
	}
	face := basicfont.Face7x13
	w := font.MeasureString(face, name).Ceil()
	img := image.NewRGBA(image.Rect(0, 0, w, 13))
	d := font.Drawer{Dst: img, Src: image.White, Face: face, Dot: fixed.P(0, 11)}
	d.DrawString(name)
	return img
}

func blit2x(dst, src *image.RGBA, x0, y0 int) {
	b := src.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := src.RGBAAt(x, y)
			if c.A == 0 {
				continue
			}
			fillRect(dst, image.Rect(x0+2*x, y0+2*y, x0+2*x+2, y0+2*y+2), c)
		}
	}
}

// Seven-segment glyphs, segments a..g as bits 0..6.
var sevenSeg = [10]uint8{0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F}

// drawClock writes the date and HH:MM:SS.mmm so a person checking a
// thumbnail sees the second it shows without any tooling.
func drawClock(img *image.RGBA, t time.Time) {
	fillRect(img, image.Rect(72, 182, 568, 306), color.RGBA{15, 15, 20, 255})
	grey := color.RGBA{190, 190, 190, 255}
	yellow := color.RGBA{255, 230, 90, 255}
	drawSegments(img, t.Format("2006-01-02"), 198, 18, 30, 4, grey)
	drawSegments(img, t.Format("15:04:05.000"), 234, 34, 60, 7, yellow)
}

// drawSegments centres text of digits, ':', '.', '-' at row y.
func drawSegments(img *image.RGBA, text string, y, w, h, th int, c color.RGBA) {
	gap := th + 3
	narrow := 3 * th
	total := 0
	for _, r := range text {
		if r >= '0' && r <= '9' || r == '-' {
			total += w + gap
		} else {
			total += narrow + gap
		}
	}
	x := (refW - total + gap) / 2
	for _, r := range text {
		switch {
		case r >= '0' && r <= '9':
			drawDigit(img, x, y, w, h, th, sevenSeg[r-'0'], c)
			x += w + gap
		case r == '-':
			drawDigit(img, x, y, w, h, th, 1<<6, c)
			x += w + gap
		case r == ':':
			fillRect(img, image.Rect(x+th, y+h/3-th/2, x+2*th, y+h/3+th/2+1), c)
			fillRect(img, image.Rect(x+th, y+2*h/3-th/2, x+2*th, y+2*h/3+th/2+1), c)
			x += narrow + gap
		case r == '.':
			fillRect(img, image.Rect(x+th, y+h-th, x+2*th, y+h), c)
			x += narrow + gap
		default:
			x += narrow + gap
		}
	}
}

func drawDigit(img *image.RGBA, x, y, w, h, th int, segs uint8, c color.RGBA) {
	mid := y + h/2
	rects := [7]image.Rectangle{
		image.Rect(x+th, y, x+w-th, y+th),               // a
		image.Rect(x+w-th, y+th, x+w, mid),              // b
		image.Rect(x+w-th, mid, x+w, y+h-th),            // c
		image.Rect(x+th, y+h-th, x+w-th, y+h),           // d
		image.Rect(x, mid, x+th, y+h-th),                // e
		image.Rect(x, y+th, x+th, mid),                  // f
		image.Rect(x+th, mid-th/2, x+w-th, mid-th/2+th), // g
	}
	for i, r := range rects {
		if segs&(1<<i) != 0 {
			fillRect(img, r, c)
		}
	}
}

func fillRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	if r.Empty() {
		return
	}
	px := [4]byte{c.R, c.G, c.B, c.A}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			copy(row[i:i+4], px[:])
		}
	}
}

func fillCircle(img *image.RGBA, cx, cy, rad int, c color.RGBA) {
	for dy := -rad; dy <= rad; dy++ {
		dx := int(math.Sqrt(float64(rad*rad - dy*dy)))
		fillRect(img, image.Rect(cx-dx, cy+dy, cx+dx+1, cy+dy+1), c)
	}
}
