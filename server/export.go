package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/graph"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/textcheck"
	"github.com/regicam/regicam/viewer"
)

// exportHandler serves GET /export/journal.csv?where=<JournalWhere JSON>
// (or POST {"where": {...}, "exportID": "..."}): the whole filtered journal
// as CSV, streamed page by page. X-Regicam-Rows-Estimate tells a progress
// bar the expected rows; with exportID the dashboard can also poll
// Query.journalExportProgress.
func (s *Server) exportHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
		if err != nil {
			s.writeError(w, r, err, "export viewer")
			return
		}
		var whereJSON []byte
		exportID := r.URL.Query().Get("exportID")
		switch r.Method {
		case http.MethodGet:
			whereJSON = []byte(r.URL.Query().Get("where"))
		case http.MethodPost:
			var body struct {
				Where    json.RawMessage `json:"where"`
				ExportID string          `json:"exportID"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
				s.writeError(w, r, apperr.Invalid("where", "リクエストの JSON が読めません (malformed JSON body): %v", err).Because(apperr.INVALID_FORMAT), "")
				return
			}
			whereJSON, exportID = body.Where, body.ExportID
		default:
			w.Header().Set("Allow", "GET, POST")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if len(exportID) > export.MaxIDLen {
			s.writeError(w, r, apperr.Invalid("exportID", "exportID は %d 文字以内にしてください (exportID too long)", export.MaxIDLen).Because(apperr.VALUE_TOO_LONG), "")
			return
		}
		// Text PostgreSQL cannot store (NUL, invalid UTF-8) is the
		// caller's mistake on both databases, as on /graphql.
		if err := textcheck.JSON("where", whereJSON); err != nil {
			s.writeError(w, r, err, "export where")
			return
		}
		if err := textcheck.String("exportID", exportID); err != nil {
			s.writeError(w, r, err, "export id")
			return
		}
		f, err := journal.ParseWhere(whereJSON, v.AccountID, "where")
		if err != nil {
			s.writeError(w, r, err, "export where")
			return
		}
		visible, err := export.Restrict(v, &f)
		if err == nil {
			err = journal.CheckIDs(ctx, s.d.DB.Client, f)
		}
		if err != nil {
			s.writeError(w, r, err, "export ids")
			return
		}
		var estimate int64
		if visible {
			if estimate, err = export.Count(ctx, s.d.DB.Client, f); err != nil {
				s.writeError(w, r, err, "export count")
				return
			}
		} else {
			f.ShopIDs = []pulid.ID{""} // a STAFF without shops: the header only
		}
		var job *export.Job
		if exportID != "" {
			job = s.d.Exports.Start(v.AccountID, exportID, estimate)
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="journal-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Regicam-Rows-Estimate", strconv.FormatInt(estimate, 10))
		h.Set("X-Content-Type-Options", "nosniff")
		flusher, _ := w.(http.Flusher)
		rows, err := export.Write(ctx, s.d.DB.Client, w, f, func(n int64) {
			if job != nil {
				job.Set(n)
			}
			if flusher != nil {
				flusher.Flush()
			}
		})
		if job != nil {
			job.Finish(err)
		}
		if err != nil && ctx.Err() == nil {
			// Headers are gone; the truncated file ends without the rows
			// promised, and the log says why.
			s.log.ErrorContext(ctx, "export failed", "request_id", graph.RequestID(ctx), "rows", rows, "err", err)
		}
	})
}
