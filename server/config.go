// Package server wires HTTP: GraphQL (POST, GET, websocket), health
// probes, CORS and the embedded dashboard.
package server

import "time"

// Config is everything the process reads at start-up (flags and REGICAM_*
// variables); nothing else reads the environment.
type Config struct {
	Addr            string
	DataDir         string
	DatabaseURL     string
	Demo            string // "auto", "true" or "false"
	DemoEvery       time.Duration
	CORSOrigins     []string
	Introspection   bool
	ComplexityLimit int
	DepthLimit      int
	LogLevel        string
	ShutdownTimeout time.Duration
}
