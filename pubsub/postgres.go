package pubsub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

const (
	channel = "regicam_events"

	// listenerAppName lets operators (and tests) tell the long-lived LISTEN
	// connection apart from pooled query connections in pg_stat_activity.
	listenerAppName = "regicam-listener"

	// A short first retry hides brief blips (failover, killed backend);
	// the cap keeps an outage from turning into a reconnect storm. The cap
	// also bounds how long Close can wait for pq's retry sleep.
	minReconnect = 100 * time.Millisecond
	maxReconnect = 10 * time.Second
)

// Postgres is a Bus over LISTEN/NOTIFY, for deployments where several server
// processes share one database.
type Postgres struct {
	db       *sql.DB
	logger   *slog.Logger
	listener *pq.Listener
	box      *mailbox

	// starting routes connection failures to NewPostgres until the first
	// LISTEN succeeds, so a misconfigured DSN fails fast instead of retrying
	// forever inside the constructor.
	starting  atomic.Bool
	startFail chan error

	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
}

var _ Bus = (*Postgres)(nil)

// NewPostgres listens on the regicam_events channel with a dedicated
// connection opened from dsn (with application_name=regicam-listener), and
// publishes through db, which stays owned by the caller.
//
// It returns an error if the first connection attempt or the LISTEN fails;
// after that, connection loss is retried in the background and reported to
// the reader as a Resync. The first Signal is always a Resync, sent once
// LISTEN is active, so nothing committed before the bus existed is missed.
// A nil logger means slog.Default().
func NewPostgres(dsn string, db *sql.DB, logger *slog.Logger) (*Postgres, error) {
	if db == nil {
		return nil, errors.New("pubsub: nil *sql.DB")
	}
	if logger == nil {
		logger = slog.Default()
	}
	// Validate up front: pq.Listener would otherwise report a bad DSN only
	// as an endless series of failed connection attempts.
	if _, err := pq.NewConfig(dsn); err != nil {
		return nil, fmt.Errorf("pubsub: listener dsn: %w", err)
	}
	ldsn, err := withApplicationName(dsn, listenerAppName)
	if err != nil {
		return nil, fmt.Errorf("pubsub: listener dsn: %w", err)
	}

	p := &Postgres{
		db:        db,
		logger:    logger.With(slog.String("channel", channel)),
		box:       newMailbox(),
		startFail: make(chan error, 1),
		done:      make(chan struct{}),
	}
	p.starting.Store(true)
	p.listener = pq.NewListener(ldsn, minReconnect, maxReconnect, p.onEvent)

	listened := make(chan error, 1)
	go func() { listened <- p.listener.Listen(channel) }()

	listenDone := false
	select {
	case err = <-listened:
		listenDone = true
	case err = <-p.startFail:
	}
	p.starting.Store(false)
	if err != nil {
		_ = p.listener.Close()
		if !listenDone {
			<-listened // Close makes Listen give up
		}
		// pq's goroutine may still be delivering; it exits (closing Notify)
		// only once nobody is stuck sending to it.
		for range p.listener.Notify {
		}
		return nil, fmt.Errorf("pubsub: listen on %s: %w", channel, err)
	}

	p.box.post(Signal{Resync: true})
	go p.run()
	return p, nil
}

// onEvent runs on pq's dispatch goroutine, so it must not block.
func (p *Postgres) onEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventConnected:
		p.logger.Debug("pubsub: listener connected")
	case pq.ListenerEventDisconnected:
		p.logger.Warn("pubsub: listener disconnected", slog.Any("err", err))
	case pq.ListenerEventConnectionAttemptFailed:
		if p.starting.Load() {
			select {
			case p.startFail <- err:
			default:
			}
			return
		}
		p.logger.Warn("pubsub: listener reconnect failed", slog.Any("err", err))
	case pq.ListenerEventReconnected:
		// Anything published while we were away is gone; pq has already
		// re-issued LISTEN, so re-reading now cannot miss later events.
		p.logger.Info("pubsub: listener reconnected")
		p.box.post(Signal{Resync: true})
	}
}

func (p *Postgres) run() {
	defer close(p.done)
	// Ranging until pq closes Notify is what lets pq's goroutine exit.
	for n := range p.listener.Notify {
		if n == nil {
			// pq's own "notifications may have been lost" marker after a
			// reconnect; redundant with onEvent but costs nothing.
			p.box.post(Signal{Resync: true})
			continue
		}
		id, err := strconv.ParseInt(n.Extra, 10, 64)
		if err != nil {
			// Someone else is notifying on our channel; we cannot tell what
			// we missed, so fall back to a full catch-up.
			p.logger.Warn("pubsub: malformed notification payload",
				slog.String("payload", n.Extra), slog.Any("err", err))
			p.box.post(Signal{Resync: true})
			continue
		}
		p.box.post(Signal{EventID: id})
	}
}

// Publish sends the NOTIFY through db. It is delivered to every process's
// listener, this one included, rather than short-circuited locally, so all
// processes see the same stream.
func (p *Postgres) Publish(ctx context.Context, eventID int64) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if _, err := p.db.ExecContext(ctx, "SELECT pg_notify($1, $2)",
		channel, strconv.FormatInt(eventID, 10)); err != nil {
		return fmt.Errorf("pubsub: notify event %d: %w", eventID, err)
	}
	return nil
}

// Signals implements Bus.
func (p *Postgres) Signals() <-chan Signal { return p.box.ch }

// Close stops the listener and closes the Signals channel; db is left open.
// It waits for pq's goroutines to exit, which during an outage can take up
// to the maximum reconnect interval. It is safe to call more than once.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		_ = p.listener.Close()
		<-p.done
		p.box.close()
	})
	return nil
}

// withApplicationName forces the application_name in either DSN syntax pq
// accepts. The listener always gets its own name, even if the caller set one
// for the pool, so it stays identifiable.
func withApplicationName(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// In key=value form the last occurrence of a key wins.
	return dsn + " application_name='" + name + "'", nil
}
