package metrics

import (
	"database/sql"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Streams of the live feed, the label of the subscription metrics.
const (
	StreamJournal = "journal"
	StreamAlerts  = "alerts"
)

// Webhook rejection reasons (pos/webhook), a bounded set.
const (
	RejectUnknownConnection = "unknown_connection" // no such connection, or none with a webhook secret
	RejectSecret            = "secret"             // the Smaregi path secret is wrong
	RejectSignature         = "signature"          // a signed webhook's signature or timestamp is refused
	RejectBody              = "body"               // the body could not be read
	RejectPayload           = "payload"            // the body is not a payload we read
	RejectItem              = "item"               // one record refused (parsing or ingest), the rest taken
	RejectFetch             = "fetch"              // Smaregi's notified transactions could not be fetched (502, sent again)
	RejectStore             = "store"              // the records could not be stored (503, sent again)
)

// Camera recorder states, the label of regicam_cameras.
const (
	CameraRecording = "recording" // the newest grab succeeded
	CameraStarting  = "starting"  // no frame yet, no error yet
	CameraOffline   = "offline"   // the last grab failed
)

var (
	webhookRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regicam_webhook_rejections_total",
		Help: "Pushed deliveries (or single records of one) the webhook endpoints refused, by provider and reason.",
	}, []string{"provider", "reason"})
	subscriptionsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regicam_subscriptions_open",
		Help: "Live subscriptions this process is streaming, by stream (journal, alerts).",
	}, []string{"stream"})
	feedLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "regicam_feed_lag_seconds",
		Help:    "Time from an event's row being written (its transaction) to its hand-over to one live subscriber, by stream; replays read back from the table (a subscriber behind the hub's window) are not counted.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"stream"})
	framesGrabbed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regicam_camera_grabs_total",
		Help: "Frame grabs of this process's camera recorders, by source kind and result (ok, error).",
	}, []string{"source", "result"})
	alertsRaised = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regicam_alerts_raised_total",
		Help: "Alerts raised (stored once per dedupe key), by rule kind.",
	}, []string{"kind"})
	liveSlowCloses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "regicam_live_slow_closes_total",
		Help: "Websocket connections closed because the client stopped reading and its send queue filled (close 1008).",
	})
	cameras = prometheus.NewDesc("regicam_cameras",
		"Cameras this process records, by recorder status (recording, starting, offline).", []string{"status"}, nil)
)

func init() {
	Registry.MustRegister(webhookRejections, subscriptionsOpen, feedLag, framesGrabbed, alertsRaised, liveSlowCloses,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		pool, fleets)
}

// WebhookRejected counts one refused webhook delivery (or one refused
// record of a delivery) of provider, for reason (the Reject… constants).
func WebhookRejected(provider, reason string) {
	webhookRejections.WithLabelValues(provider, reason).Inc()
}

// SubscriptionOpened counts a live subscription of stream as open until
// the returned function is called (once).
func SubscriptionOpened(stream string) (closed func()) {
	g := subscriptionsOpen.WithLabelValues(stream)
	g.Inc()
	var once sync.Once
	return func() { once.Do(g.Dec) }
}

// FeedLag records how long after it was written (at) an event of stream
// was handed to a subscriber. Times from another replica's clock can be a
// little ahead; those count as no lag.
func FeedLag(stream string, at time.Time) {
	if at.IsZero() {
		return
	}
	feedLag.WithLabelValues(stream).Observe(max(0, time.Since(at).Seconds()))
}

// FrameGrabbed counts one grab of a recorder of a camera of source kind.
func FrameGrabbed(source string, ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	framesGrabbed.WithLabelValues(source, result).Inc()
}

// LiveSlowClosed counts one websocket connection closed for not reading.
func LiveSlowClosed() { liveSlowCloses.Inc() }

// AlertRaised counts one new alert of rule kind.
func AlertRaised(kind string) {
	alertsRaised.WithLabelValues(kind).Inc()
}

// fleetSet sums the camera counts of every recorder fleet of the process
// at scrape time (one in production; tests run several servers).
type fleetSet struct {
	mu    sync.Mutex
	next  int
	count map[int]func() map[string]int
}

var fleets = &fleetSet{count: map[int]func() map[string]int{}}

// CameraStatuses makes count (cameras by status: the Camera… constants)
// part of regicam_cameras until the returned function is called.
func CameraStatuses(count func() map[string]int) (remove func()) {
	fleets.mu.Lock()
	defer fleets.mu.Unlock()
	id := fleets.next
	fleets.next++
	fleets.count[id] = count
	return func() {
		fleets.mu.Lock()
		defer fleets.mu.Unlock()
		delete(fleets.count, id)
	}
}

func (f *fleetSet) Describe(ch chan<- *prometheus.Desc) { ch <- cameras }

func (f *fleetSet) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	counts := make([]func() map[string]int, 0, len(f.count))
	for _, c := range f.count {
		counts = append(counts, c)
	}
	f.mu.Unlock()
	sum := map[string]int{CameraRecording: 0, CameraStarting: 0, CameraOffline: 0}
	for _, c := range counts {
		for st, n := range c() {
			sum[st] += n
		}
	}
	for st, n := range sum {
		ch <- prometheus.MustNewConstMetric(cameras, prometheus.GaugeValue, float64(n), st)
	}
}

// poolSet serves the go_sql_* series of the database pool app opened: the
// newest one still open when several are (tests run several servers in one
// process; one registration, so none of them collides with another).
type poolSet struct {
	mu    sync.Mutex
	next  int
	pools map[int]prometheus.Collector
	desc  prometheus.Collector // describes the series without a database
}

var pool = &poolSet{pools: map[int]prometheus.Collector{}, desc: collectors.NewDBStatsCollector(nil, DBName)}

// DBName is the db_name label of the go_sql_* series.
const DBName = "regicam"

// DBPool serves the pool statistics of db (collectors.NewDBStatsCollector:
// open, in use, idle, waits) until the returned function is called.
func DBPool(db *sql.DB) (remove func()) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	id := pool.next
	pool.next++
	pool.pools[id] = collectors.NewDBStatsCollector(db, DBName)
	return func() {
		pool.mu.Lock()
		defer pool.mu.Unlock()
		delete(pool.pools, id)
	}
}

func (p *poolSet) Describe(ch chan<- *prometheus.Desc) { p.desc.Describe(ch) }

func (p *poolSet) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	newest, c := -1, prometheus.Collector(nil)
	for id, col := range p.pools {
		if id > newest {
			newest, c = id, col
		}
	}
	p.mu.Unlock()
	if c != nil {
		c.Collect(ch)
	}
}
