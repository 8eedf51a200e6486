package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/graph"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/textcheck"
	"github.com/regicam/regicam/viewer"
)

// exportHandler serves GET /export/journal.csv?where=<JournalWhere JSON>
// (or POST {"where": {...}, "exportID": "..."}): the whole filtered journal
// as CSV, streamed page by page. X-Regicam-Rows-Estimate tells a progress
// bar the expected rows; with exportID the dashboard can also poll
// Query.journalExportProgress.
func (a *App) exportHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
		if err != nil {
			writeJSONError(w, err)
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
				writeJSONError(w, apperr.Invalid("where", "リクエストの JSON が読めません (malformed JSON body): %v", err))
				return
			}
			whereJSON, exportID = body.Where, body.ExportID
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if len(exportID) > export.MaxIDLen {
			writeJSONError(w, apperr.Invalid("exportID", "exportID は %d 文字以内にしてください (exportID too long)", export.MaxIDLen))
			return
		}
		// Text PostgreSQL cannot store (NUL, invalid UTF-8) is the
		// caller's mistake on both databases, as on /graphql.
		if err := textcheck.JSON("where", whereJSON); err != nil {
			writeJSONError(w, err)
			return
		}
		if err := textcheck.String("exportID", exportID); err != nil {
			writeJSONError(w, err)
			return
		}
		f, err := journal.ParseWhere(whereJSON, v.AccountID, "where")
		if err != nil {
			writeJSONError(w, err)
			return
		}
		visible, err := export.Restrict(v, &f)
		if err == nil {
			err = journal.CheckIDs(ctx, a.DB.Client, f)
		}
		if err != nil {
			writeJSONError(w, err)
			return
		}
		var estimate int64
		if visible {
			if estimate, err = export.Count(ctx, a.DB.Client, f); err != nil {
				a.log.ErrorContext(ctx, "export count", "request_id", graph.RequestID(ctx), "err", err)
				writeJSONError(w, err)
				return
			}
		} else {
			f.ShopIDs = []pulid.ID{""} // a STAFF without shops: the header only
		}
		var job *export.Job
		if exportID != "" {
			job = a.ext.exports.Start(v.AccountID, exportID, estimate)
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="journal-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Regicam-Rows-Estimate", strconv.FormatInt(estimate, 10))
		h.Set("X-Content-Type-Options", "nosniff")
		flusher, _ := w.(http.Flusher)
		rows, err := export.Write(ctx, a.DB.Client, w, f, func(n int64) {
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
			a.log.ErrorContext(ctx, "export failed", "request_id", graph.RequestID(ctx), "rows", rows, "err", err)
		}
	})
}

// writeJSONError answers like a GraphQL error, so clients handle both alike.
func writeJSONError(w http.ResponseWriter, err error) {
	status, code, field, msg := http.StatusInternalServerError, apperr.Internal, "", "内部エラーが発生しました (internal error)"
	var e *apperr.Error
	if errors.As(err, &e) {
		code, field, msg = e.Code, e.Field, e.Message
		switch e.Code {
		case apperr.BadUserInput:
			status = http.StatusBadRequest
		case apperr.Unauthenticated:
			status = http.StatusUnauthorized
		case apperr.Forbidden:
			status = http.StatusForbidden
		case apperr.NotFound:
			status = http.StatusNotFound
		}
	}
	ext := map[string]any{"code": code}
	if field != "" {
		ext["field"] = field
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": ext}}})
}
