package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// recordingFlags declares the disk recording's flags (README 録画);
// finish checks them once parsed.
func recordingFlags(fs *flag.FlagSet, env func(name, def string) string, envBool func(string, bool) bool,
	record *bool, dir *string, retention *time.Duration, budget *int64, fps *float64, demoRTSP *bool) func() error {
	fs.BoolVar(record, "record", envBool("RECORD", true), "record the cameras to disk from this process (false: an API replica that only plays what the recording replicas wrote) (REGICAM_RECORD)")
	fs.StringVar(dir, "recordings-dir", env("RECORDINGS_DIR", ""), "directory of the recorded segments, shared by every replica that records or plays (default <data dir>/recordings) (REGICAM_RECORDINGS_DIR)")
	*retention = 7 * 24 * time.Hour
	if v, err := parseDays(env("RECORDING_RETENTION", "")); err == nil && v > 0 {
		*retention = v
	}
	fs.Var((*daysFlag)(retention), "recording-retention", "delete recorded segments older than this, e.g. 7d or 36h (a share link or an open case keeps its clip longer) (REGICAM_RECORDING_RETENTION)")
	*budget = 20 << 30
	if v, err := parseBytes(env("RECORDING_BUDGET", "")); err == nil && v > 0 {
		*budget = v
	}
	fs.Var((*bytesFlag)(budget), "recording-budget", "most disk all recorded segments may use, e.g. 20GiB or 500MB; the oldest go first past it (REGICAM_RECORDING_BUDGET)")
	fs.Float64Var(fps, "recording-fps", 5, "frames per second recorded from JPEG sources (snapshot, MJPEG, simulated); RTSP cameras are recorded at their own rate")
	fs.BoolVar(demoRTSP, "demo-rtsp", envBool("DEMO_RTSP", false), "in demo mode, also run an RTSP H.264 camera (ffmpeg's test pattern, when ffmpeg is installed) as a camera of the demo tenant, recorded to disk (REGICAM_DEMO_RTSP)")
	return func() error {
		if *fps <= 0 || *fps > 30 {
			return fmt.Errorf("--recording-fps must be above 0 and at most 30, got %g", *fps)
		}
		if *retention <= 0 {
			return fmt.Errorf("--recording-retention must be positive")
		}
		if *budget <= 0 {
			return fmt.Errorf("--recording-budget must be positive")
		}
		return nil
	}
}

// daysFlag is a duration that also takes days ("7d").
type daysFlag time.Duration

func (d *daysFlag) String() string { return time.Duration(*d).String() }

func (d *daysFlag) Set(s string) error {
	v, err := parseDays(s)
	if err != nil {
		return err
	}
	*d = daysFlag(v)
	return nil
}

func parseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// bytesFlag is a size in bytes with an optional unit (KB, MB, GB, TB in
// powers of 1000; KiB, MiB, GiB, TiB in powers of 1024).
type bytesFlag int64

func (b *bytesFlag) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *bytesFlag) Set(s string) error {
	v, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = bytesFlag(v)
	return nil
}

func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := 1.0
	num := s
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 20GiB, 500MB, 1073741824)", s)
	}
	return int64(f * mult), nil
}
