package footage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/pulid"
)

// noteRepaired is the note of a segment whose writer stopped without
// closing it (a process killed, a machine lost): closed from what its file
// holds.
const noteRepaired = "the recording server stopped without closing this segment; closed from its file"

// repair closes the WRITING segments of a camera whose lease this process
// now holds: their writer is gone. Each is closed from what its file holds
// (a torn last frame or fragment dropped), or marked CORRUPT with why.
func (s *Service) repair(ctx context.Context, cameraID pulid.ID) error {
	rows, err := s.client.RecordingSegment.Query().Where(recordingsegment.CameraID(cameraID),
		recordingsegment.StateEQ(recordingsegment.StateWRITING)).All(ctx)
	if err != nil {
		return fmt.Errorf("writing segments: %w", err)
	}
	for _, row := range rows {
		if err := s.repairOne(ctx, row); err != nil {
			return fmt.Errorf("segment %s: %w", row.ID, err)
		}
	}
	return nil
}

func (s *Service) repairOne(ctx context.Context, row *ent.RecordingSegment) error {
	u := s.client.RecordingSegment.UpdateOneID(row.ID).SetEndedBy(recordingsegment.EndedByERROR)
	corrupt := func(note string) error {
		s.log.Warn("recording segment corrupt", "segment", row.ID, "note", note)
		return u.SetState(recordingsegment.StateCORRUPT).SetNote(truncate(note, 500)).Exec(ctx)
	}
	f, err := s.Open(row)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the row's own
		}
		return corrupt("file unreadable: " + err.Error())
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return corrupt("file unreadable: " + err.Error())
	}
	var (
		end       time.Time
		frames    int
		size      int64
		keyframes []schematype.Keyframe
		readErr   error
	)
	switch row.Format {
	case recordingsegment.FormatJPEG_SEQ:
		var idx []segment.JPEGFrame
		idx, readErr = segment.ReadJPEGIndex(f, st.Size())
		for _, fr := range idx {
			keyframes = append(keyframes, schematype.Keyframe{At: fr.At.Sub(row.StartAt).Milliseconds(), Offset: fr.Record()})
			end, size = fr.At, fr.Offset+fr.Len
		}
		frames = len(idx)
	default:
		var frags []segment.Fragment
		_, frags, readErr = segment.ReadFMP4(f, st.Size(), row.StartAt)
		for _, fr := range frags {
			if fr.Key {
				keyframes = append(keyframes, schematype.Keyframe{At: fr.Start.Sub(row.StartAt).Milliseconds(), Offset: fr.Offset})
			}
			end, size = fr.End, fr.Offset+fr.Len
		}
		// The fragments do not count their frames here; the last count
		// the writer saved stands.
		frames = row.Frames
		if len(frags) > 0 && frames == 0 {
			frames = len(frags)
		}
	}
	if end.IsZero() {
		note := "no whole frame in the file"
		if readErr != nil {
			note += ": " + readErr.Error()
		}
		return corrupt(note)
	}
	note := noteRepaired
	if readErr != nil {
		note += " (" + readErr.Error() + ")"
	}
	s.log.Info("recording segment closed after its writer stopped", "segment", row.ID, "end", end)
	return u.SetState(recordingsegment.StateCOMPLETE).SetEndAt(end.UTC()).SetBytes(size).SetFrames(frames).
		SetKeyframes(keyframes).SetNote(truncate(note, 500)).Exec(ctx)
}
