// Package segment holds the file formats of one recording segment, the unit
// package footage writes to disk and indexes in the database
// (ent.RecordingSegment): a camera's continuous recording is a run of such
// files, each covering about a minute.
//
// # FMP4_H264
//
// The access units an H.264 camera sent, copied (never transcoded) into a
// fragmented MP4: an init segment (ftyp + moov, one video track, timescale
// 90 kHz, the SPS/PPS the writer was made with) and then one fragment
// (moof + mdat) per GOP, or per second when the GOP is longer, so a crash
// loses at most the fragment being filled. A sample's decode time is its
// wall-clock time minus the segment's start, so the file's media time is
// the camera's own spacing of frames and start + decode time is the
// moment the picture was taken (as well as the reader could tell). Each
// fragment's tfhd is default-base-is-moof, so a fragment can be copied into
// another file (Remux) by rewriting only its sequence number and base
// decode time. Fragments that begin with an IDR picture are where playback
// may start (Keyframes). A segment that ends mid-fragment (a crash, a full
// disk) is still read up to its last whole fragment.
//
// # JPEG_SEQ
//
// Timestamped JPEG frames (snapshot, MJPEG and simulated cameras), one
// record after another, so a file can be appended to and read while it is
// written, and a torn tail costs only the frame being written. All numbers
// are big-endian.
//
//	header  8 bytes  "RGCJSEQ1"
//	record  4 bytes  magic "JFRM"
//	        8 bytes  capture time, Unix milliseconds (int64)
//	        4 bytes  n, the JPEG's length (1 ≤ n ≤ MaxJPEGSize)
//	        4 bytes  CRC-32C (Castagnoli) of the 8 time bytes, the 4 length bytes and the JPEG
//	        n bytes  the JPEG
//
// A record is written with one Write call. A reader stops at the first
// record that is cut short (ErrTruncated) or does not check out (ErrCorrupt)
// and keeps the frames before it: a later frame is never trusted after a
// broken one, because its boundary could not be found reliably.
package segment

import "errors"

var (
	// ErrTruncated means a file ends inside a record or fragment: the tail
	// being written when the writer stopped. What precedes it is good.
	ErrTruncated = errors.New("segment: truncated")
	// ErrCorrupt means a file holds bytes that are not the format: a bad
	// magic, length or checksum. What precedes them is good.
	ErrCorrupt = errors.New("segment: corrupt")
	// ErrNoRecording means a span asked of Remux holds no playable frame.
	ErrNoRecording = errors.New("segment: no recording in the span")
	// ErrParamsChanged means an access unit carries an SPS or PPS other than
	// the segment's: the camera changed its picture (resolution, profile).
	// The writer kept nothing of that access unit; the caller closes the
	// segment and begins a new one with the new parameters, starting with
	// the same access unit.
	ErrParamsChanged = errors.New("segment: H.264 parameters changed")
)
