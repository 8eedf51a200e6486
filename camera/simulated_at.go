package camera

import (
	"context"
	"time"
)

// RenderAt is the JPEG the simulated camera of cfg draws at instant t
// (cfg.Now is ignored): the same scene, clock, caption and block code as a
// live frame, so DecodeTime reads t back to the millisecond. Fakes of
// recording clouds draw the picture of any past moment with it.
func RenderAt(cfg SimulatedConfig, t time.Time) ([]byte, error) {
	cfg.Now = func() time.Time { return t }
	f, err := NewSimulatedWith(cfg).Grab(context.Background())
	if err != nil {
		return nil, err
	}
	return f.JPEG, nil
}
