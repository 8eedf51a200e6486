package camera

import (
	"testing"
	"time"
)

func TestRenderAtDrawsThatInstant(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 4, 5, 123e6, time.UTC)
	b, err := RenderAt(SimulatedConfig{Name: "cloud", Now: time.Now}, at)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTime(b)
	if err != nil || !got.Equal(at) {
		t.Fatalf("drawn %v (%v), want %v", got, err, at)
	}
}
