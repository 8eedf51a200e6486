package camcloud

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/predicate"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/retry"
	"github.com/regicam/regicam/textcheck"
)

// A CLOUD camera's source_status says what the sync last found. The
// prefixes of the two retirements the sync itself makes let it bring
// those cameras back when their device does; a camera the owner retired by
// hand (camera/registry) has neither and stays retired.
const (
	statusStreaming    = "OK"
	statusNotStreaming = "NOT_STREAMING: Safie でこのカメラの配信が止まっています (video_streaming false)"
	statusGone         = "CLOUD_GONE: Safie の一覧にないか、POS オプションが外れたため退役しました"
	// statusMissing (then the first sync that missed it, and how many
	// syncs in a row have) marks a live camera the last syncs did not
	// list: retired only after the grace (Config.MissingSyncs and
	// MissingGrace), so one short or empty answer of the cloud does not
	// retire cameras and end their links. The counter lives in the row so
	// any replica carries it on; the parenthesis is for the sync, and the
	// dashboard hides such an English aside.
	statusMissing      = "CLOUD_MISSING: Safie の一覧に見当たりません。続けて見つからなければ退役します"
	statusDisconnected = "CLOUD_DISCONNECTED: カメラクラウドの接続を解除したため退役しました"
)

func retiredBySync(c *ent.Camera) bool {
	return strings.HasPrefix(c.SourceStatus, "CLOUD_GONE:") || strings.HasPrefix(c.SourceStatus, "CLOUD_DISCONNECTED:")
}

// RetiredBySync says whether a retired camera was retired by the sync
// (its device left the cloud's list, or the connection was removed), so
// it may come back with its history; the owner's own retirement is final.
func RetiredBySync(c *ent.Camera) bool { return c.RetiredAt != nil && retiredBySync(c) }

var missingRe = regexp.MustCompile(`\(missing since (\S+) in (\d+) syncs\)$`)

func missingStatus(since time.Time, n int) string {
	return fmt.Sprintf("%s (missing since %s in %d syncs)", statusMissing, since.UTC().Format(time.RFC3339Nano), n)
}

// missingOf reads statusMissing back: since when, and in how many syncs
// in a row, the camera has been missing; ok false when it was listed.
func missingOf(status string) (since time.Time, n int, ok bool) {
	if !strings.HasPrefix(status, "CLOUD_MISSING:") {
		return since, 0, false
	}
	m := missingRe.FindStringSubmatch(status)
	if m == nil {
		return since, 0, false
	}
	since, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return since, 0, false
	}
	n, err = strconv.Atoi(m[2])
	return since, n, err == nil
}

// Backoff of a connection whose sync fails (not NEEDS_REAUTH): 1 min,
// doubling to 1 h. NEEDS_REAUTH is looked at again after reauthWait (a key
// does not come back by itself, but a cloud's passing 401 should not stop
// pictures for a day).
const (
	minBackoff = time.Minute
	maxBackoff = time.Hour
	reauthWait = time.Hour
)

// Column limits of a camera row (ent/schema/camera.go).
const (
	maxCameraName = 200
	maxModel      = 100
	maxDeviceID   = 100
)

// applied is what one sync did to the cameras.
type applied struct {
	live, retired int
	// missing are the live cameras this list did not have, in their grace;
	// empty says the list had no device at all.
	missing []string
	empty   bool
	skipped []string // devices not made cameras, and why
	// resolved are cameras retired during an open not-recording episode:
	// the alert is resolved after the commit.
	resolved []*ent.Camera
}

// problems is the connection's last_error after a good call: the devices
// that could not become cameras, else "".
func (a applied) problems() string {
	lines := a.skipped
	if len(a.missing) > 0 {
		lines = append(slices.Clip(lines), fmt.Sprintf("Safie の一覧に見当たらないカメラがあります (%s)。続けて見つからなければ退役します",
			strings.Join(a.missing, "、")))
	}
	return clipBytes(strings.Join(lines, "\n"), 2000)
}

// status is the connection's status after a good call. An empty list
// while cameras were live is not believed at once (a cloud's bad moment
// looks exactly like that): ERROR with the reason, the cameras in their
// grace, until the grace retires them.
func (a applied) status() (cameracloudconnection.Status, string) {
	if a.empty && len(a.missing) > 0 {
		return cameracloudconnection.StatusERROR, clipBytes("Safie のカメラ一覧が空でした。一時的な不具合かもしれないため、カメラはそのままにして様子を見ています", 2000)
	}
	return cameracloudconnection.StatusOK, a.problems()
}

func cloudCameras(conn pulid.ID) predicate.Camera { return entcamera.CloudConnectionID(conn) }

// apply brings the connection's cameras in step with the cloud's device
// list, inside the caller's transaction c. grace: a camera missing from
// the list is retired only after the grace (the periodic and asked-for
// syncs); without it at once (the owner changed the key or the option
// id: the new selection is meant).
func (s *Service) apply(ctx context.Context, c *ent.Client, conn *ent.CameraCloudConnection, devs []safie.Device, now time.Time, grace bool) (applied, error) {
	var out applied
	sctx := sys(ctx)
	mine, err := c.Camera.Query().Where(cloudCameras(conn.ID)).All(sctx)
	if err != nil {
		return out, err
	}
	byDevice := make(map[string]*ent.Camera, len(mine))
	for _, cam := range mine {
		byDevice[cam.DeviceID] = cam
	}
	out.empty = len(devs) == 0
	seen := map[string]bool{}
	for _, d := range devs {
		id := d.ID
		if id == "" || len(id) > maxDeviceID || textcheck.Problem(id) != "" {
			out.skipped = append(out.skipped, fmt.Sprintf("デバイス ID を保存できないカメラ (%s) を追加していません", clipBytes(textcheck.Clean(d.Serial), 40)))
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		name := cameraName(d)
		model := clipBytes(strings.TrimSpace(textcheck.Clean(d.Model)), maxModel)
		cam := byDevice[id]
		if cam == nil {
			other, err := c.Camera.Query().Where(entcamera.AccountID(conn.AccountID), entcamera.DeviceID(id)).Only(sctx)
			switch {
			case ent.IsNotFound(err):
			case err != nil:
				return out, err
			case other.SourceKind != nil && *other.SourceKind == entcamera.SourceKindCLOUD && other.CloudConnectionID == nil:
				// A camera of a connection since removed: the same cloud
				// account connected again takes it back, history and all.
				cam = other
			default:
				out.skipped = append(out.skipped, fmt.Sprintf("%s はデバイス ID %s が既存のカメラ「%s」と重なるため追加していません", name, id, other.Name))
				continue
			}
		}
		if cam == nil {
			create := c.Camera.Create().SetAccountID(conn.AccountID).SetName(name).SetModel(model).SetDeviceID(id).
				SetPosOption(true).SetSourceKind(entcamera.SourceKindCLOUD).SetCloudConnectionID(conn.ID).
				SetStreaming(d.Streaming).SetSourceStatus(streamStatus(d))
			if d.Streaming {
				create.SetLastSeenAt(now)
			}
			created, err := create.Save(sctx)
			if err != nil {
				return out, err
			}
			out.live++
			s.record(ctx, c, conn.AccountID, audit.Entry{Action: "camera.created", TargetID: string(created.ID),
				Detail: fmt.Sprintf("%s をカメラクラウド「%s」から追加", name, conn.Name)})
			continue
		}
		if cam.RetiredAt != nil && !retiredBySync(cam) {
			continue // retired by the owner: stays so
		}
		upd := c.Camera.UpdateOneID(cam.ID).SetName(name).SetModel(model).SetPosOption(true).
			SetSourceKind(entcamera.SourceKindCLOUD).SetCloudConnectionID(conn.ID).
			SetStreaming(d.Streaming).SetSourceStatus(streamStatus(d))
		if d.Streaming {
			upd.SetLastSeenAt(now)
		}
		if cam.RetiredAt != nil {
			upd.ClearRetiredAt()
		}
		if err := upd.Exec(sctx); err != nil {
			return out, err
		}
		out.live++
		switch {
		case cam.RetiredAt != nil:
			s.record(ctx, c, conn.AccountID, audit.Entry{Action: "camera.restored", TargetID: string(cam.ID),
				Detail: fmt.Sprintf("%s がカメラクラウド「%s」に戻ったため再び使用", name, conn.Name)})
			if strings.HasPrefix(cam.SourceStatus, "CLOUD_GONE:") {
				if err := s.relink(ctx, c, conn, cam, name, now); err != nil {
					return out, err
				}
			}
		case cam.Name != name:
			s.record(ctx, c, conn.AccountID, audit.Entry{Action: "camera.updated", TargetID: string(cam.ID),
				Detail: fmt.Sprintf("%s を %s に改名 (カメラクラウド「%s」)", cam.Name, name, conn.Name)})
		}
	}
	for _, cam := range mine {
		if seen[cam.DeviceID] || cam.RetiredAt != nil {
			continue
		}
		since, n, ok := missingOf(cam.SourceStatus)
		if !ok || since.After(now) {
			since, n = now, 0
		}
		n++
		if grace && (n < s.cfg.MissingSyncs || now.Sub(since) < s.cfg.MissingGrace) {
			if err := c.Camera.UpdateOneID(cam.ID).SetSourceStatus(missingStatus(since, n)).Exec(sctx); err != nil {
				return out, err
			}
			out.missing = append(out.missing, cam.Name)
			continue
		}
		if err := s.retire(ctx, c, conn, cam, now, statusGone, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// relink gives a camera the sync retired (its device left the list) and
// that is back the registers it watched then: the links the retirement
// ended, recognised by ending at the very instant of the retirement, are
// followed by new ones from now (old links are never rewritten, so the
// time it was gone stays without a camera). A register linked to another
// camera meanwhile keeps it.
func (s *Service) relink(ctx context.Context, c *ent.Client, conn *ent.CameraCloudConnection, cam *ent.Camera, name string, now time.Time) error {
	sctx := sys(ctx)
	ended, err := c.Link.Query().Where(link.CameraID(cam.ID), link.EndedAt(*cam.RetiredAt)).WithTerminal().All(sctx)
	if err != nil {
		return err
	}
	for _, l := range ended {
		t := l.Edges.Terminal
		if t == nil {
			continue
		}
		busy, err := c.Link.Query().Where(link.TerminalID(t.ID), link.EndedAtIsNil()).Exist(sctx)
		if err != nil {
			return err
		}
		if busy {
			continue
		}
		created, err := c.Link.Create().SetAccountID(l.AccountID).SetTerminalID(t.ID).SetCameraID(cam.ID).SetCreatedAt(now).Save(sctx)
		if err != nil {
			return err
		}
		s.record(ctx, c, conn.AccountID, audit.Entry{Action: "link.created", TargetID: string(created.ID),
			Detail: fmt.Sprintf("端末 %s と %s のリンクを、カメラが Safie の一覧に戻ったため再開", t.ExternalID, name)})
	}
	return nil
}

// retire takes a CLOUD camera out of service as camera/registry's forced
// retirement does: its open links end now (entries and thumbnails stay),
// then the camera. An open not-recording episode ends with it.
func (s *Service) retire(ctx context.Context, c *ent.Client, conn *ent.CameraCloudConnection, cam *ent.Camera, now time.Time, status string, out *applied) error {
	sctx := sys(ctx)
	links, err := c.Link.Query().Where(link.CameraID(cam.ID), link.EndedAtIsNil()).WithTerminal().All(sctx)
	if err != nil {
		return err
	}
	for _, l := range links {
		end := now
		if end.Before(l.CreatedAt) {
			end = l.CreatedAt // a link ended at once keeps an empty, not negative, span
		}
		// Only if still open: a link ended concurrently keeps its end.
		if _, err := c.Link.Update().Where(link.ID(l.ID), link.EndedAtIsNil()).SetEndedAt(end).Save(sctx); err != nil {
			return err
		}
		s.record(ctx, c, conn.AccountID, audit.Entry{Action: "link.ended", TargetID: string(l.ID),
			Detail: fmt.Sprintf("端末 %s と %s のリンクをカメラの退役で終了", l.Edges.Terminal.ExternalID, cam.Name)})
	}
	upd := c.Camera.UpdateOneID(cam.ID).SetRetiredAt(now).SetSourceStatus(status)
	if cam.NotRecordingSince != nil {
		upd.ClearNotRecordingSince()
		out.resolved = append(out.resolved, cam)
	}
	if err := upd.Exec(sctx); err != nil {
		return err
	}
	out.retired++
	why := "Safie の一覧にないか POS オプションが外れたため"
	if status == statusDisconnected {
		why = "カメラクラウドの接続解除で"
	}
	s.record(ctx, c, conn.AccountID, audit.Entry{Action: "camera.retired", TargetID: string(cam.ID),
		Detail: fmt.Sprintf("%s を%s退役 (カメラクラウド「%s」)", cam.Name, why, conn.Name)})
	return nil
}

// cameraName is the device as the reference portal labels it, cleaned and
// clipped to the column.
func cameraName(d safie.Device) string {
	d.Name, d.Model, d.Serial = textcheck.Clean(d.Name), textcheck.Clean(d.Model), textcheck.Clean(d.Serial)
	name := strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(d.Label()))
	if name == "" {
		name = d.ID
	}
	return clipBytes(name, maxCameraName)
}

func streamStatus(d safie.Device) string {
	if d.Streaming {
		return statusStreaming
	}
	return statusNotStreaming
}

// clipBytes cuts s to at most n bytes without splitting a character.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// syncOnce syncs one connection now (ctx as the system, keeping a viewer
// for the audit log when one asked). Its outcome is stored as the
// connection's status; the error is returned too.
func (s *Service) syncOnce(ctx context.Context, id pulid.ID) (*ent.CameraCloudConnection, error) {
	return s.sync(ctx, id, true)
}

// sync is syncOnce; grace as apply's.
func (s *Service) sync(ctx context.Context, id pulid.ID, grace bool) (*ent.CameraCloudConnection, error) {
	lock := s.lock(id)
	lock.Lock()
	defer lock.Unlock()
	conn, err := s.client.CameraCloudConnection.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	// One bad connection (a cloud that answers slowly page after page)
	// must not stall the syncs of the others on this replica: the cloud's
	// part of a sync has a deadline, after which it is this connection's
	// failure like any other.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	devs, used, err := s.devices(cctx, conn)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.recordFailure(ctx, conn, used, err)
		}
		return conn, err
	}
	now := s.now()
	var res applied
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		// Read again inside: Disconnect may have removed it meanwhile.
		cur, err := c.CameraCloudConnection.Get(ctx, id)
		if err != nil {
			return err
		}
		if res, err = s.apply(ctx, c, cur, devs, now, grace); err != nil {
			return err
		}
		status, why := res.status()
		conn, err = c.CameraCloudConnection.UpdateOneID(id).SetStatus(status).
			SetLastError(why).SetLastSyncAt(now).ClearNextRetryAt().Save(ctx)
		return err
	})
	if err != nil {
		if !ent.IsNotFound(err) && ctx.Err() == nil {
			s.log.WarnContext(ctx, "camera cloud: store sync", "connection", id, "err", err)
		}
		return conn, err
	}
	s.resetFailures(id)
	s.afterSync(ctx, conn, res)
	return conn, nil
}

// devices lists the connection's POS-option devices with its stored
// credential, and says which sealed value that was. An OAuth token the
// cloud refuses is refreshed once before the refusal counts.
func (s *Service) devices(ctx context.Context, conn *ent.CameraCloudConnection) ([]safie.Device, []byte, error) {
	cl, used, err := s.buildUsed(ctx, conn, false)
	if err != nil {
		return nil, used, err
	}
	devs, err := cl.Devices(ctx, s.itemFor(conn.OptionItemID))
	if errors.Is(err, safie.ErrAuth) && conn.AuthKind == cameracloudconnection.AuthKindOAUTH {
		if cl, used, err = s.buildUsed(ctx, conn, true); err != nil {
			return nil, used, err
		}
		devs, err = cl.Devices(ctx, s.itemFor(conn.OptionItemID))
	}
	return devs, used, err
}

// recordFailure stores why a sync failed: NEEDS_REAUTH when the cloud
// refuses the credential (cameras untouched), else ERROR with the next try
// backed off; either only while the row still holds the credential used
// (an owner's new key written meanwhile stands). The sentence never
// quotes the cloud (nor a secret); the log has the cloud's words, which
// the client stripped of credentials.
func (s *Service) recordFailure(ctx context.Context, conn *ent.CameraCloudConnection, used []byte, err error) {
	now := s.now()
	if errors.Is(err, safie.ErrAuth) {
		s.log.WarnContext(ctx, "camera cloud: credential refused", "connection", conn.ID, "err", err)
		s.markIfCurrent(ctx, conn.ID, used, func(u *ent.CameraCloudConnectionUpdate) {
			u.SetStatus(cameracloudconnection.StatusNEEDS_REAUTH).SetLastError(reauthReason(conn)).SetNextRetryAt(now.Add(reauthWait))
		})
		return
	}
	s.mu.Lock()
	s.failures[conn.ID]++
	n := s.failures[conn.ID]
	s.mu.Unlock()
	wait := retry.Exp(minBackoff, maxBackoff, n-1)
	s.log.WarnContext(ctx, "camera cloud: sync failed", "connection", conn.ID, "err", err, "retry_in", wait)
	s.markIfCurrent(ctx, conn.ID, used, func(u *ent.CameraCloudConnectionUpdate) {
		u.SetStatus(cameracloudconnection.StatusERROR).SetLastError(failureReason(err)).SetNextRetryAt(now.Add(wait))
	})
	// The client stays cached on ERROR: it holds the pacing (a 429's
	// Retry-After) that the next calls must respect.
}

func reauthReason(conn *ent.CameraCloudConnection) string {
	if conn.AuthKind == cameracloudconnection.AuthKindOAUTH {
		return "Safie が連携を受け付けませんでした（認可の取り消しか期限切れ）。設定から Safie と連携し直してください"
	}
	return "Safie が APIキーを受け付けませんでした（無効か取り消し済み）。設定で新しい APIキーを入力してください"
}

func failureReason(err error) string {
	switch {
	case errors.Is(err, safie.ErrRateLimited):
		return "Safie の利用制限 (429) にかかりました。時間をおいて自動で再試行します"
	case errors.Is(err, safie.ErrBadResponse), errors.Is(err, safie.ErrRefused), errors.Is(err, safie.ErrNotFound):
		return "Safie から想定外の応答がありました。時間をおいて自動で再試行します"
	case errors.Is(err, safie.ErrUnavailable):
		return "Safie に接続できませんでした。時間をおいて自動で再試行します"
	}
	return "Safie との同期に失敗しました。時間をおいて自動で再試行します"
}

// afterSync runs what waits for the commit: alerts of ended episodes, then
// the episodes of the connection's cameras now.
func (s *Service) afterSync(ctx context.Context, conn *ent.CameraCloudConnection, res applied) {
	now := s.now()
	s.resolve(ctx, res.resolved, now)
	s.episodes(ctx, conn, now)
}

// resolve tells the alerter that these cameras' episodes ended.
func (s *Service) resolve(ctx context.Context, cams []*ent.Camera, at time.Time) {
	if s.cfg.Alerter == nil {
		return
	}
	for _, cam := range cams {
		if err := s.cfg.Alerter.CameraRecording(sys(ctx), cam, at); err != nil {
			s.log.WarnContext(ctx, "camera cloud: recording alert", "camera", cam.ID, "err", err)
		}
	}
}

// episodes opens and closes not-recording episodes: a camera that watches
// a register (an open link) whose stream stopped gets not_recording_since
// and one CameraNotRecording; streaming again (or no longer watching)
// clears it with one CameraRecording. Each change is a conditional update,
// so two replicas, or a sync and a request, never report one twice; an
// alert that could not be stored undoes its change and the next sync
// tries again.
func (s *Service) episodes(ctx context.Context, conn *ent.CameraCloudConnection, now time.Time) {
	sctx := sys(ctx)
	// The cloud is asked (stoppedAt) under one deadline for the round.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	cams, err := s.client.Camera.Query().Where(cloudCameras(conn.ID), entcamera.RetiredAtIsNil()).All(sctx)
	if err != nil {
		s.log.WarnContext(ctx, "camera cloud: episodes", "connection", conn.ID, "err", err)
		return
	}
	for _, cam := range cams {
		stopped := cam.Streaming != nil && !*cam.Streaming
		if !stopped && cam.NotRecordingSince == nil {
			continue
		}
		linked, err := s.client.Link.Query().Where(link.CameraID(cam.ID), link.EndedAtIsNil()).Exist(sctx)
		if err != nil {
			s.log.WarnContext(ctx, "camera cloud: episodes", "camera", cam.ID, "err", err)
			continue
		}
		switch {
		case stopped && linked && cam.NotRecordingSince == nil:
			since := s.stoppedAt(cctx, conn, cam, now)
			n, err := s.client.Camera.Update().Where(entcamera.ID(cam.ID), entcamera.NotRecordingSinceIsNil()).
				SetNotRecordingSince(since).Save(sctx)
			if err != nil || n == 0 {
				continue // failed (logged next time) or another sync opened it
			}
			cam.NotRecordingSince = &since
			if s.cfg.Alerter == nil {
				continue
			}
			if err := s.cfg.Alerter.CameraNotRecording(sctx, cam, since); err != nil {
				s.log.WarnContext(ctx, "camera cloud: not-recording alert", "camera", cam.ID, "err", err)
				_ = s.client.Camera.Update().Where(entcamera.ID(cam.ID)).ClearNotRecordingSince().Exec(sctx)
			}
		case cam.NotRecordingSince != nil && (!stopped || !linked):
			since := *cam.NotRecordingSince
			n, err := s.client.Camera.Update().Where(entcamera.ID(cam.ID), entcamera.NotRecordingSinceNotNil()).
				ClearNotRecordingSince().Save(sctx)
			if err != nil || n == 0 {
				continue
			}
			if s.cfg.Alerter == nil {
				continue
			}
			// The alerter finds the episode by camera and since: cam still
			// carries it.
			if err := s.cfg.Alerter.CameraRecording(sctx, cam, now); err != nil {
				s.log.WarnContext(ctx, "camera cloud: recording alert", "camera", cam.ID, "err", err)
				_ = s.client.Camera.Update().Where(entcamera.ID(cam.ID), entcamera.NotRecordingSinceIsNil()).
					SetNotRecordingSince(since).Exec(sctx)
			}
		}
	}
}

// stoppedAt is when a camera found not streaming stopped: its last
// disconnect event of the past hour not followed by a connect, else now.
// The events API answers only ranges that end a minute ago, so a stop
// within the last minute is dated now.
func (s *Service) stoppedAt(ctx context.Context, conn *ent.CameraCloudConnection, cam *ent.Camera, now time.Time) time.Time {
	cl, err := s.build(ctx, conn, false)
	if err != nil {
		return now
	}
	end := now.Add(-safie.RangeEndAge)
	evs, err := cl.StandardEvents(ctx, cam.DeviceID, end.Add(-time.Hour), end, safie.EventConnect, safie.EventDisconnect)
	if err != nil {
		s.log.InfoContext(ctx, "camera cloud: disconnect events", "camera", cam.ID, "err", err)
		return now
	}
	since := now
	for _, e := range evs {
		switch e.Type {
		case safie.EventDisconnect:
			since = e.At.UTC().Truncate(time.Microsecond)
		case safie.EventConnect:
			since = now
		}
	}
	return since
}

// Run syncs every connection each SyncEvery (one replica per connection,
// by lease) until ctx ends.
func (s *Service) Run(ctx context.Context) {
	ctx = sys(ctx)
	t := time.NewTicker(s.cfg.SyncEvery)
	defer t.Stop()
	for {
		s.syncDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncDue syncs the connections that are due and whose lease this
// process holds or takes: OK ones every round, failed ones once their
// next_retry_at has come.
func (s *Service) syncDue(ctx context.Context) {
	ctx = sys(ctx)
	now := s.now()
	ids, err := s.client.CameraCloudConnection.Query().Where(cameracloudconnection.Or(
		cameracloudconnection.NextRetryAtIsNil(), cameracloudconnection.NextRetryAtLTE(now))).
		Order(ent.Asc(cameracloudconnection.FieldID)).IDs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "camera cloud: list connections", "err", err)
		}
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		ok, err := s.lease(ctx, id)
		if err != nil {
			s.log.WarnContext(ctx, "camera cloud: sync lease", "connection", id, "err", err)
			continue
		}
		if !ok {
			continue // another replica syncs it
		}
		_, _ = s.syncOnce(ctx, id) // the outcome is the connection's status
	}
}

// lease takes or renews the right to sync id. Replicas share the
// database, so a conditional update decides: the holder, or anyone once
// the lease has run out (its holder stopped).
func (s *Service) lease(ctx context.Context, id pulid.ID) (bool, error) {
	now := s.now()
	n, err := s.client.CameraCloudConnection.Update().Where(cameracloudconnection.ID(id), cameracloudconnection.Or(
		cameracloudconnection.SyncOwner(s.cfg.Owner), cameracloudconnection.SyncLeaseUntilIsNil(),
		cameracloudconnection.SyncLeaseUntilLT(now))).
		SetSyncOwner(s.cfg.Owner).SetSyncLeaseUntil(now.Add(2*s.cfg.SyncEvery + time.Minute)).Save(sys(ctx))
	return n == 1, err
}
