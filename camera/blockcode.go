package camera

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"time"
)

// The time code is two rows of black/white blocks along the bottom of the
// frame. Geometry is defined on the 640×360 reference frame and read back
// proportionally, so the code survives any aspect-preserving rescale.
//
// Blocks are 16×16 px and aligned to the 16-px JPEG MCU grid (8-px at half
// size), so each block's interior is one flat DCT block even after the
// 640→320 thumbnail step at quality 75. Each row holds 40 columns: a white
// quiet column at each edge, a start mark (B W B), 32 data blocks and a stop
// mark (W B B). Row 0 carries Unix milliseconds bits 47..16, row 1 bits 15..0
// followed by a CRC-16 of the 48-bit value, so a misread block is detected
// rather than turned into a wrong time. The marks double as black and white
// references for an adaptive threshold.
const (
	refW, refH   = 640, 360
	codeCols     = 40
	codeBlock    = 16
	codeTop      = 320 // first row; the second follows directly
	codeBandTop  = 312 // white band around the code isolates it from the scene
	codeDataBits = 32
	codeMaxMilli = 1<<48 - 1
)

var (
	codeStart = [3]bool{true, false, true}
	codeStop  = [3]bool{false, true, true}
)

// ErrNoTimeCode means the picture carries no readable time code.
var ErrNoTimeCode = errors.New("camera: no readable time code")

// codeRows lays out the 38 inner blocks of both rows; true is black.
func codeRows(ms uint64) [2][codeCols - 2]bool {
	crc := crc16(ms)
	data := [2]uint32{uint32(ms >> 16), uint32(ms&0xFFFF)<<16 | uint32(crc)}
	var rows [2][codeCols - 2]bool
	for r := range rows {
		copy(rows[r][:3], codeStart[:])
		for i := 0; i < codeDataBits; i++ {
			rows[r][3+i] = data[r]>>(codeDataBits-1-i)&1 == 1
		}
		copy(rows[r][3+codeDataBits:], codeStop[:])
	}
	return rows
}

// drawTimeCode paints the code onto a reference-size frame.
func drawTimeCode(img *image.RGBA, t time.Time) {
	white := color.RGBA{255, 255, 255, 255}
	black := color.RGBA{0, 0, 0, 255}
	fillRect(img, image.Rect(0, codeBandTop, refW, refH), white)
	ms := uint64(t.UnixMilli()) & codeMaxMilli
	rows := codeRows(ms)
	for r, row := range rows {
		y := codeTop + r*codeBlock
		for i, b := range row {
			if b {
				x := (i + 1) * codeBlock
				fillRect(img, image.Rect(x, y, x+codeBlock, y+codeBlock), black)
			}
		}
	}
}

// DecodeTime reads the capture time that the simulated camera drew into a
// frame, also from a rescaled and re-encoded thumbnail of it.
func DecodeTime(jpegData []byte) (time.Time, error) {
	img, err := jpeg.Decode(bytes.NewReader(jpegData))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %v", ErrNotJPEG, err)
	}
	return DecodeTimeImage(img)
}

// DecodeTimeImage is DecodeTime for an already decoded picture.
func DecodeTimeImage(img image.Image) (time.Time, error) {
	b := img.Bounds()
	if b.Dx() < codeCols*2 || b.Dy() < refH/codeBlock*2 {
		return time.Time{}, fmt.Errorf("%w: %dx%d is too small", ErrNoTimeCode, b.Dx(), b.Dy())
	}
	sx := float64(b.Dx()) / refW
	sy := float64(b.Dy()) / refH
	// Average the middle half of each block: edges blur under scaling and
	// ring under JPEG, centres stay flat.
	mean := func(col, row int) float64 {
		x0 := b.Min.X + int((float64(col)+0.25)*codeBlock*sx+0.5)
		x1 := b.Min.X + int((float64(col)+0.75)*codeBlock*sx+0.5)
		y0 := b.Min.Y + int((codeTop+(float64(row)+0.25)*codeBlock)*sy+0.5)
		y1 := b.Min.Y + int((codeTop+(float64(row)+0.75)*codeBlock)*sy+0.5)
		x1, y1 = max(x1, x0+1), max(y1, y0+1)
		return meanLuma(img, image.Rect(x0, y0, x1, y1))
	}
	var lum [2][codeCols]float64
	var blackSum, whiteSum float64
	var nBlack, nWhite int
	for r := range lum {
		for c := range lum[r] {
			lum[r][c] = mean(c, r)
		}
		for c, black := range referenceColumns() {
			if c >= 4 && c < 4+codeDataBits {
				continue // data, not a reference
			}
			if black {
				blackSum += lum[r][c]
				nBlack++
			} else {
				whiteSum += lum[r][c]
				nWhite++
			}
		}
	}
	blackRef, whiteRef := blackSum/float64(nBlack), whiteSum/float64(nWhite)
	if whiteRef-blackRef < 64 {
		return time.Time{}, fmt.Errorf("%w: marks not found (black %.0f, white %.0f)", ErrNoTimeCode, blackRef, whiteRef)
	}
	thr := (blackRef + whiteRef) / 2
	var got [2][codeCols - 2]bool
	for r := range got {
		for i := range got[r] {
			got[r][i] = lum[r][i+1] < thr
		}
		if [3]bool(got[r][:3]) != codeStart || [3]bool(got[r][3+codeDataBits:]) != codeStop {
			return time.Time{}, fmt.Errorf("%w: start/stop marks of row %d do not match", ErrNoTimeCode, r)
		}
	}
	var data [2]uint32
	for r := range data {
		for i := 0; i < codeDataBits; i++ {
			data[r] <<= 1
			if got[r][3+i] {
				data[r] |= 1
			}
		}
	}
	ms := uint64(data[0])<<16 | uint64(data[1]>>16)
	if crc := uint16(data[1]); crc != crc16(ms) {
		return time.Time{}, fmt.Errorf("%w: checksum mismatch", ErrNoTimeCode)
	}
	return time.UnixMilli(int64(ms)), nil
}

// referenceColumns is a full row with the quiet columns and marks in place.
func referenceColumns() (cols [codeCols]bool) {
	copy(cols[1:], codeStart[:])
	copy(cols[4+codeDataBits:], codeStop[:])
	return cols
}

func meanLuma(img image.Image, r image.Rectangle) float64 {
	r = r.Intersect(img.Bounds())
	if r.Empty() {
		return 0
	}
	var sum, n int
	if yc, ok := img.(*image.YCbCr); ok {
		// Decoded JPEGs land here; reading Y directly skips a colour
		// conversion per pixel.
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				sum += int(yc.Y[yc.YOffset(x, y)])
				n++
			}
		}
		return float64(sum) / float64(n)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sum += int(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
			n++
		}
	}
	return float64(sum) / float64(n)
}

// crc16 is CRC-16/CCITT-FALSE over the six big-endian bytes of ms.
func crc16(ms uint64) uint16 {
	crc := uint16(0xFFFF)
	for i := 5; i >= 0; i-- {
		crc ^= uint16(byte(ms>>(8*i))) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
