// Package app is the composition root: it builds the database, the services
// and the background jobs of one regicam process and hands the HTTP layer
// (server) what it serves (docs/ARCHITECTURE.md).
package app
