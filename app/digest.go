package app

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/regicam/regicam/digest"
)

// DigestConfig is the daily digest's part of Config (Config.Digest).
type DigestConfig struct {
	// Off keeps this process from sending digests (another replica, or
	// nobody, sends them); the settings and rules stay editable.
	Off bool
	// DenyPrivate refuses mail servers on loopback and private addresses
	// (--mail-allow-private=false, for multi-tenant hosting).
	DenyPrivate bool
	// Every is how often the scheduler looks for due digests (0: 30 s).
	Every time.Duration
	// Now is the scheduler's clock (tests move it); nil is time.Now.
	Now func() time.Time
	// RootCAs are trusted for mail servers besides the system's roots: a
	// test's own certificate. Never read from flags or the environment.
	RootCAs *x509.CertPool
}

// startDigest builds the digest service (package digest), registers it
// for the GraphQL resolvers and runs its scheduler until Close.
func (a *App) startDigest(runCtx context.Context, cfg Config) {
	svc := digest.New(a.DB.Client, a.Secrets, a.reports, a.Blobs, a.log, digest.Config{
		PublicURL: cfg.PublicURL, RootCAs: cfg.Digest.RootCAs, Now: cfg.Digest.Now, Every: cfg.Digest.Every,
		DenyPrivate: cfg.Digest.DenyPrivate,
	})
	digest.Register(svc)
	a.background(func() {
		defer digest.Unregister(svc)
		if cfg.Digest.Off {
			<-runCtx.Done()
			return
		}
		svc.Run(runCtx)
	})
}
