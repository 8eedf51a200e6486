package thumbs

import "image"

// halveYCbCr box-averages each plane of m 2:1 in both directions without
// leaving YCbCr: the JPEG encoder takes YCbCr as is, so no pixel is converted
// to RGB and back, and each output sample costs four byte reads. m must start
// at the origin, as decoded JPEGs do.
func halveYCbCr(m *image.YCbCr) *image.YCbCr {
	sw, sh := m.Rect.Dx(), m.Rect.Dy()
	d := image.NewYCbCr(image.Rect(0, 0, sw/2, sh/2), m.SubsampleRatio)
	halvePlane(d.Y, d.YStride, sw/2, sh/2, m.Y, m.YStride, sw, sh)
	scw, sch := chromaSize(sw, sh, m.SubsampleRatio)
	dcw, dch := chromaSize(sw/2, sh/2, m.SubsampleRatio)
	halvePlane(d.Cb, d.CStride, dcw, dch, m.Cb, m.CStride, scw, sch)
	halvePlane(d.Cr, d.CStride, dcw, dch, m.Cr, m.CStride, scw, sch)
	return d
}

func halveGray(m *image.Gray) *image.Gray {
	sw, sh := m.Rect.Dx(), m.Rect.Dy()
	d := image.NewGray(image.Rect(0, 0, sw/2, sh/2))
	halvePlane(d.Pix, d.Stride, sw/2, sh/2, m.Pix, m.Stride, sw, sh)
	return d
}

// chromaSize mirrors how image.NewYCbCr sizes the Cb and Cr planes.
func chromaSize(w, h int, r image.YCbCrSubsampleRatio) (int, int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		return (w + 3) / 4, h
	case image.YCbCrSubsampleRatio410:
		return (w + 3) / 4, (h + 1) / 2
	}
	return w, h
}

// halvePlane writes a w×h plane, each sample the rounded mean of a 2×2 block
// of the sw×sh source. Chroma planes of odd-sized images can be one sample
// short of 2w or 2h; the edge sample is then repeated.
func halvePlane(dst []byte, dstride, w, h int, src []byte, sstride, sw, sh int) {
	for y := 0; y < h; y++ {
		r0 := src[min(2*y, sh-1)*sstride:]
		r1 := src[min(2*y+1, sh-1)*sstride:]
		out := dst[y*dstride : y*dstride+w]
		for x := range out {
			x0, x1 := min(2*x, sw-1), min(2*x+1, sw-1)
			out[x] = uint8((uint(r0[x0]) + uint(r0[x1]) + uint(r1[x0]) + uint(r1[x1]) + 2) >> 2)
		}
	}
}
