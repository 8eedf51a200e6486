package schematype

// Keyframe is a point of a recording segment where playback may start: At
// is milliseconds from the segment's start, Offset the byte offset in its
// file of the fragment (or JPEG frame) that begins there.
type Keyframe struct {
	At     int64 `json:"at"`
	Offset int64 `json:"off"`
}
