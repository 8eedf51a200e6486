// Package evidence writes a case's evidence bundle: one ZIP with the
// receipts (receipts.csv as the journal export writes it, receipts.html to
// read), each receipt's thumbnail, the notes, the history and, last,
// manifest.json with the size and SHA-256 of every other file, who
// downloaded it and when.
//
// The ZIP is streamed: each file is hashed while it is written and only
// one picture is held at a time, so a case of 500 receipts costs the
// memory of its rows and one thumbnail, never the bundle's. Everything is
// read as the viewer in ctx, so the ent privacy rules decide what the
// caller sees (a case they cannot see is NOT_FOUND).
//
// Each receipt's clip (clips/<name>.mp4, the account's lead-in and
// lead-out around its mark) comes from the recordings through Clips, one
// built clip open at a time, up to MaxClipBytes for the bundle.
package evidence

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/cases"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/apikey"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// Format names the manifest's layout; a reader checks it before trusting
// the fields.
const Format = "regicam-evidence/1"

// File names inside the ZIP.
const (
	ReceiptsCSV  = "receipts.csv"
	ReceiptsHTML = "receipts.html"
	NotesTXT     = "notes.txt"
	HistoryTXT   = "history.txt"
	ManifestJSON = "manifest.json"
	PictureDir   = "pictures/"
	ClipDir      = "clips/"
)

// Statuses of an entry's picture and clip in the manifest.
const (
	PictureIncluded  = "INCLUDED"      // pictures/<name>.jpg
	PictureNone      = "NONE"          // the camera gave none (reason says why)
	PictureExpired   = "EXPIRED"       // taken, then removed by retention
	ClipIncluded     = "INCLUDED"      // clips/<name>.mp4
	ClipNotRecorded  = "NOT_RECORDED"  // nothing recorded in the clip's span (or no recording here)
	ClipNoCamera     = "NO_CAMERA"     // no camera watched the register (or it is gone)
	ClipNotEncodable = "NOT_ENCODABLE" // a JPEG camera's frames, and no ffmpeg to make a video
	ClipOverLimit    = "OVER_LIMIT"    // the bundle's clips already reach MaxClipBytes
	ClipUnreadable   = "UNREADABLE"    // the recording could not be read
)

// MaxClipBytes bounds the clips of one bundle by default: past it a
// receipt's clip is left out (OVER_LIMIT) rather than make a download
// no one can mail or store.
const MaxClipBytes = 2 << 30

// Clips opens the recorded video of a camera's span as the viewer in ctx
// may see it (*playback.Player.OpenClip): an MP4 of size bytes, read
// before the next is opened. Its errors are footage/playback's:
// playback.ErrNoCamera, *playback.NoRecording, playback.ErrNeedsFFmpeg.
type Clips interface {
	OpenClip(ctx context.Context, cameraID pulid.ID, from, to time.Time) (r io.ReadCloser, size int64, err error)
}

// Blobs reads a thumbnail's bytes by storage key; thumbs.ErrNotFound when
// retention removed them. (thumbs.Thumbnailer.Picture reads the store
// without filling the thumbnail cache, which a bundle of 500 would flush.)
type Blobs func(ctx context.Context, key string) ([]byte, error)

// Downloader is who downloads the bundle, and when.
type Downloader struct {
	Name string    `json:"name"`
	Kind string    `json:"kind"` // USER or API_KEY
	At   time.Time `json:"-"`
}

// Bundle is what a bundle is made of, read before anything is written, so
// a missing case is still an ordinary error answer.
type Bundle struct {
	Case    *ent.Investigation
	Entries []*ent.JournalEntry // journal order: newest first, as the export
	thumbs  map[pulid.ID]*ent.Thumbnail
	shops   map[pulid.ID]*ent.Shop
	terms   map[pulid.ID]*ent.Terminal
	names   map[pulid.ID]string // entry → picture and clip file name

	// Clips reads the receipts' clips; nil (a server that does not record):
	// every clip is NOT_RECORDED.
	Clips Clips
	// MaxClipBytes bounds the clips' bytes (0: MaxClipBytes).
	MaxClipBytes int64
}

// errNoCase is every case the viewer cannot have: malformed id, unknown,
// another account's, or one a STAFF does not see.
var errNoCase = apperr.Missing("id", "ケースが見つかりません").Because(apperr.NOT_FOUND)

// Load reads case id and its receipts as the viewer in ctx.
func Load(ctx context.Context, client *ent.Client, id string) (*Bundle, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	if !pulid.Valid(id, "CS") {
		return nil, errNoCase
	}
	cs, err := client.Investigation.Query().
		Where(investigation.ID(pulid.ID(id)), investigation.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errNoCase
	}
	if err != nil {
		return nil, err
	}
	// At most cases.MaxItems rows: the service refuses more.
	entries, err := client.Investigation.QueryEntries(cs).Where(journalentry.AccountID(cs.AccountID)).
		Order(journalentry.ByOccurredAt(sql.OrderDesc()), journalentry.ByID(sql.OrderDesc())).Limit(cases.MaxItems).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence entries: %w", err)
	}
	b := &Bundle{Case: cs, Entries: entries, thumbs: map[pulid.ID]*ent.Thumbnail{},
		shops: map[pulid.ID]*ent.Shop{}, terms: map[pulid.ID]*ent.Terminal{}, names: map[pulid.ID]string{}}
	ids := make([]pulid.ID, len(entries))
	var shopIDs, termIDs []pulid.ID
	for i, e := range entries {
		ids[i] = e.ID
		shopIDs = append(shopIDs, e.ShopID)
		termIDs = append(termIDs, e.TerminalID)
	}
	if len(ids) == 0 {
		return b, nil
	}
	ths, err := client.Thumbnail.Query().Where(thumbnail.EntryIDIn(ids...), thumbnail.AccountID(cs.AccountID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence thumbnails: %w", err)
	}
	for _, th := range ths {
		b.thumbs[th.EntryID] = th
	}
	shops, err := client.Shop.Query().Where(shop.IDIn(shopIDs...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence shops: %w", err)
	}
	for _, s := range shops {
		b.shops[s.ID] = s
	}
	terms, err := client.Terminal.Query().Where(terminal.IDIn(termIDs...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence terminals: %w", err)
	}
	for _, t := range terms {
		b.terms[t.ID] = t
	}
	b.nameFiles()
	return b, nil
}

// Who names the viewer in ctx for the manifest: a person by name (or
// e-mail), an API key by its name, as the case history names them.
func Who(ctx context.Context, client *ent.Client, at time.Time) (Downloader, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return Downloader{}, apperr.Unauthenticatedf("ログインしてください").Because(apperr.NOT_SIGNED_IN)
	}
	d := Downloader{At: at.UTC()}
	sys := viewer.System(ctx)
	if v.UserID != "" {
		u, err := client.User.Query().Where(user.ID(v.UserID), user.AccountID(v.AccountID)).Only(sys)
		if err != nil {
			return Downloader{}, err
		}
		d.Kind, d.Name = "USER", u.Name
		if d.Name == "" {
			d.Name = u.Email
		}
		return d, nil
	}
	k, err := client.ApiKey.Query().Where(apikey.ID(v.APIKeyID), apikey.AccountID(v.AccountID)).Only(sys)
	if err != nil {
		return Downloader{}, err
	}
	d.Kind, d.Name = "API_KEY", k.Name
	return d, nil
}

// nameFiles gives each receipt with a thumbnail its picture's file name:
// its receipt number when that is plain and unique in the case (a sale and
// its cancel share one), else the number and the entry id, else the id.
func (b *Bundle) nameFiles() {
	count := map[string]int{}
	for _, e := range b.Entries {
		if safe(e.ReceiptNo) {
			count[e.ReceiptNo]++
		}
	}
	for _, e := range b.Entries {
		switch {
		case !safe(e.ReceiptNo):
			b.names[e.ID] = string(e.ID)
		case count[e.ReceiptNo] > 1:
			b.names[e.ID] = e.ReceiptNo + "_" + string(e.ID)
		default:
			b.names[e.ID] = e.ReceiptNo
		}
	}
}

// safe is a receipt number usable as a file name on every system.
func safe(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Manifest is manifest.json.
type Manifest struct {
	Format       string      `json:"format"`
	Case         CaseInfo    `json:"case"`
	DownloadedBy Downloader  `json:"downloadedBy"`
	DownloadedAt string      `json:"downloadedAt"` // UTC, RFC 3339
	Files        []File      `json:"files"`        // every other file, in ZIP order
	Entries      []EntryInfo `json:"entries"`
}

// CaseInfo identifies the case.
type CaseInfo struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Status string `json:"status"`
}

// File is one file of the bundle.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// EntryInfo says per receipt what the bundle holds of it.
type EntryInfo struct {
	ID         string    `json:"id"`
	ReceiptNo  string    `json:"receiptNo"`
	Kind       string    `json:"kind"`
	OccurredAt string    `json:"occurredAt"`
	Picture    MediaInfo `json:"picture"`
	Clip       MediaInfo `json:"clip"`
}

// MediaInfo is a picture's or clip's place in the bundle, or why it has none.
type MediaInfo struct {
	Status string `json:"status"`
	File   string `json:"file,omitempty"`
	Reason string `json:"reason,omitempty"`
	// From and To are a clip's span (UTC, RFC 3339), whether or not it
	// was recorded: what the bundle looked for.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Write streams the bundle to w as ZIP and returns its manifest. Notes and
// history are read now, so a download recorded before it shows in its own
// history.
func (b *Bundle) Write(ctx context.Context, client *ent.Client, w io.Writer, blobs Blobs, who Downloader) (*Manifest, error) {
	zw := zip.NewWriter(w)
	m := &Manifest{
		Format:       Format,
		Case:         CaseInfo{ID: string(b.Case.ID), Title: b.Case.Title, Status: string(b.Case.Status)},
		DownloadedBy: who, DownloadedAt: who.At.UTC().Format(time.RFC3339),
	}
	add := func(path string, method uint16, fill func(io.Writer) error) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: path, Method: method, Modified: who.At})
		if err != nil {
			return err
		}
		hw := &hashWriter{w: f, h: sha256.New()}
		if err := fill(hw); err != nil {
			return fmt.Errorf("evidence %s: %w", path, err)
		}
		m.Files = append(m.Files, File{Path: path, Size: hw.n, SHA256: hex.EncodeToString(hw.h.Sum(nil))})
		return nil
	}
	var clipBytes int64
	if err := add(ReceiptsCSV, zip.Deflate, func(w io.Writer) error {
		_, err := export.WriteEntries(ctx, client, w, b.Entries)
		return err
	}); err != nil {
		return nil, err
	}
	for _, e := range b.Entries {
		info := EntryInfo{ID: string(e.ID), ReceiptNo: e.ReceiptNo, Kind: string(e.Kind),
			OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano)}
		th := b.thumbs[e.ID]
		switch {
		case th == nil && ingest.CodeOf(e.ThumbnailReason) == ingest.ReasonExpired:
			// Retention deleted the row and said so on the entry.
			info.Picture = MediaInfo{Status: PictureExpired, Reason: e.ThumbnailReason}
		case th == nil:
			info.Picture = MediaInfo{Status: PictureNone, Reason: e.ThumbnailReason}
		default:
			// One picture in memory at a time.
			data, err := blobs(ctx, th.StorageKey)
			if errors.Is(err, thumbs.ErrNotFound) {
				// The row outlived its bytes (retention deletes rows, then
				// blobs, possibly on another replica).
				info.Picture = MediaInfo{Status: PictureExpired, Reason: thumbs.ExpiredReason}
				break
			}
			if err != nil {
				return nil, fmt.Errorf("evidence picture of %s: %w", e.ID, err)
			}
			path := PictureDir + b.names[e.ID] + ".jpg"
			// JPEG does not deflate; storing it saves the CPU.
			if err := add(path, zip.Store, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
				return nil, err
			}
			info.Picture = MediaInfo{Status: PictureIncluded, File: path}
		}
		clip, err := b.clip(ctx, client, e, &clipBytes, add)
		if err != nil {
			return nil, err
		}
		info.Clip = clip
		m.Entries = append(m.Entries, info)
	}
	if err := add(ReceiptsHTML, zip.Deflate, func(w io.Writer) error { return b.html(w, m, who) }); err != nil {
		return nil, err
	}
	notes, err := cases.Notes(ctx, client, b.Case)
	if err != nil {
		return nil, fmt.Errorf("evidence notes: %w", err)
	}
	if err := add(NotesTXT, zip.Deflate, func(w io.Writer) error { return writeNotes(w, b.Case, notes) }); err != nil {
		return nil, err
	}
	history, err := cases.History(ctx, client, b.Case)
	if err != nil {
		return nil, fmt.Errorf("evidence history: %w", err)
	}
	if err := add(HistoryTXT, zip.Deflate, func(w io.Writer) error { return writeHistory(w, b.Case, history) }); err != nil {
		return nil, err
	}
	mw, err := zw.CreateHeader(&zip.FileHeader{Name: ManifestJSON, Method: zip.Deflate, Modified: who.At})
	if err != nil {
		return nil, err
	}
	enc := json.NewEncoder(mw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return m, zw.Close()
}

// Reasons of clips left out, for the manifest and receipts.html.
const (
	reasonNoCamera    = "この取引のレジを映すカメラがありません (no camera linked to this entry)"
	reasonNoRecording = "この時間の録画はありません (no recording in this span)"
	reasonOff         = "このサーバーは録画していません (recording is off)"
	reasonNoFFmpeg    = "このカメラの録画を動画にするには、サーバーに ffmpeg が必要です (ffmpeg is not installed)"
	reasonOverLimit   = "証拠一式の動画が上限 (%d MiB) に達したため含めていません。取引の画面から個別にダウンロードしてください (clip budget of the bundle reached)"
	reasonUnreadable  = "録画を読み取れませんでした (the recording could not be read)"
)

// clip adds e's clip to the bundle when it was recorded: one clip open at
// a time, and none once used (the clips so far) would pass the bound.
func (b *Bundle) clip(ctx context.Context, client *ent.Client, e *ent.JournalEntry, used *int64,
	add func(string, uint16, func(io.Writer) error) error) (MediaInfo, error) {
	if e.CameraID == nil {
		return MediaInfo{Status: ClipNoCamera, Reason: reasonNoCamera}, nil
	}
	_, from, to, err := playback.ClipSpan(ctx, client, e)
	if err != nil {
		return MediaInfo{}, fmt.Errorf("evidence clip span of %s: %w", e.ID, err)
	}
	info := MediaInfo{From: from.UTC().Format(time.RFC3339Nano), To: to.UTC().Format(time.RFC3339Nano)}
	if b.Clips == nil {
		info.Status, info.Reason = ClipNotRecorded, reasonOff
		return info, nil
	}
	limit := b.MaxClipBytes
	if limit <= 0 {
		limit = MaxClipBytes
	}
	over := func() MediaInfo {
		info.Status, info.Reason = ClipOverLimit, fmt.Sprintf(reasonOverLimit, limit>>20)
		return info
	}
	if *used >= limit {
		return over(), nil // not even built: the rest would be thrown away too
	}
	r, size, err := b.Clips.OpenClip(ctx, *e.CameraID, from, to)
	var nr *playback.NoRecording
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return MediaInfo{}, ctx.Err()
	case errors.Is(err, playback.ErrNoCamera):
		info.Status, info.Reason = ClipNoCamera, reasonNoCamera
		return info, nil
	case errors.As(err, &nr):
		info.Status, info.Reason = ClipNotRecorded, reasonNoRecording
		return info, nil
	case errors.Is(err, playback.ErrNeedsFFmpeg):
		info.Status, info.Reason = ClipNotEncodable, reasonNoFFmpeg
		return info, nil
	default:
		// A bad file on disk spoils one clip, not the whole bundle, whose
		// headers have already gone out.
		info.Status, info.Reason = ClipUnreadable, reasonUnreadable
		return info, nil
	}
	defer r.Close()
	if *used+size > limit {
		return over(), nil
	}
	path := ClipDir + b.names[e.ID] + ".mp4"
	// MP4 does not deflate.
	if err := add(path, zip.Store, func(w io.Writer) error { _, err := io.Copy(w, r); return err }); err != nil {
		return MediaInfo{}, err
	}
	*used += size
	info.Status, info.File = ClipIncluded, path
	return info, nil
}

type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func writeNotes(w io.Writer, cs *ent.Investigation, notes []*ent.CaseNote) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "ケース「%s」(%s) のメモ %d 件 (古い順、時刻は UTC)\r\n", cs.Title, cs.ID, len(notes))
	if _, err := io.WriteString(w, sb.String()); err != nil {
		return err
	}
	for _, n := range notes {
		sb.Reset()
		fmt.Fprintf(&sb, "\r\n── %s  %s\r\n%s\r\n", n.CreatedAt.UTC().Format(time.RFC3339), n.AuthorName,
			strings.ReplaceAll(n.Text, "\n", "\r\n"))
		if _, err := io.WriteString(w, sb.String()); err != nil {
			return err
		}
	}
	return nil
}

func writeHistory(w io.Writer, cs *ent.Investigation, events []*ent.CaseEvent) error {
	if _, err := fmt.Fprintf(w, "ケース「%s」(%s) の履歴 %d 件 (古い順、時刻は UTC)\r\n\r\n", cs.Title, cs.ID, len(events)); err != nil {
		return err
	}
	for _, e := range events {
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\r\n", e.At.UTC().Format(time.RFC3339), e.Action, e.ActorName,
			strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(e.Detail)); err != nil {
			return err
		}
	}
	return nil
}
