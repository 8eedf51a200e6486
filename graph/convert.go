package graph

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// accountOf is the account every read and write of this request is scoped to.
func accountOf(ctx context.Context) (pulid.ID, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return "", apperr.Unauthenticatedf("ログインしてください (authentication required)").Because(apperr.NOT_SIGNED_IN)
	}
	return v.AccountID, nil
}

func filterOf(acct pulid.ID, w *model.JournalWhere) (journal.Filter, error) {
	f := journal.Filter{AccountID: acct}
	if w != nil {
		f.CameraIDs, f.TerminalIDs, f.ShopIDs, f.Kinds = w.CameraIDs, w.TerminalIDs, w.ShopIDs, w.Kinds
		f.From, f.To = w.From, w.To
		str := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		f.Search, f.ItemText, f.MaskedCard, f.ExternalID, f.Staff = str(w.Search), str(w.ItemText), str(w.MaskedCard), str(w.ExternalID), str(w.Staff)
		f.PaymentMethods = w.PaymentMethods
		if w.MinTotal != nil {
			v := int64(*w.MinTotal)
			f.MinTotal = &v
		}
		if w.MaxTotal != nil {
			v := int64(*w.MaxTotal)
			f.MaxTotal = &v
		}
	}
	return f, f.Validate("where")
}

// totalCountIfSelected counts the matching entries only when the query
// asks for totalCount: the count is a second query that a plain page (every
// dashboard load) does not pay for.
func totalCountIfSelected(ctx context.Context, client *ent.Client, f journal.Filter) (*model.JournalCount, error) {
	if !slices.Contains(graphql.CollectAllFields(ctx), "totalCount") {
		return nil, nil
	}
	n, more, err := journal.Count(ctx, client, f)
	if err != nil {
		return nil, err
	}
	return &model.JournalCount{Count: n, More: more}, nil
}

// withEdges eager-loads the edges the query selects under edges.node, so a
// page costs one query per edge type instead of one per entry.
func withEdges(ctx context.Context) func(*ent.JournalEntryQuery) (*ent.JournalEntryQuery, error) {
	sel := nodeSelection(ctx)
	return func(q *ent.JournalEntryQuery) (*ent.JournalEntryQuery, error) {
		if sel["camera"] {
			q = q.WithCamera()
		}
		if sel["terminal"] {
			q = q.WithTerminal()
		}
		if sel["shop"] {
			q = q.WithShop()
		}
		if sel["thumbnail"] || sel["picture"] { // picture rides on the thumbnail row
			q = q.WithThumbnail()
		}
		if sel["related"] {
			q = q.WithRelated()
		}
		return q, nil
	}
}

func nodeSelection(ctx context.Context) map[string]bool {
	out := map[string]bool{}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return out
	}
	op := graphql.GetOperationContext(ctx)
	for _, edges := range graphql.CollectFields(op, fc.Field.Selections, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, node := range graphql.CollectFields(op, edges.Selections, nil) {
			if node.Name != "node" {
				continue
			}
			for _, f := range graphql.CollectFields(op, node.Selections, nil) {
				out[f.Name] = true
			}
		}
	}
	return out
}

func receiptOf(in *model.JournalInput) (ingest.Receipt, error) {
	r := ingest.Receipt{
		TerminalID: in.TerminalID, ExternalID: in.ExternalID, Kind: in.Kind,
		OccurredAt: in.OccurredAt, UpdatedAt: in.UpdatedAt, EnteredAt: in.EnteredAt,
		Total: int64(in.Total),
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	r.RelatedExternalID, r.ReceiptNo, r.RegisterNo = str(in.RelatedExternalID), str(in.ReceiptNo), str(in.RegisterNo)
	r.StaffID, r.StaffName, r.PaymentMethod, r.MaskedCard = str(in.StaffID), str(in.StaffName), str(in.PaymentMethod), str(in.MaskedCard)
	if in.Deposit != nil {
		r.Deposit = int64(*in.Deposit)
	}
	if in.Change != nil {
		r.Change = int64(*in.Change)
	}
	for _, it := range in.Items {
		r.Items = append(r.Items, schematype.Item{Name: it.Name, Quantity: it.Quantity, Amount: int64(it.Amount)})
	}
	if in.Raw != nil {
		raw, err := json.Marshal(in.Raw)
		if err != nil {
			return r, apperr.Invalid("raw", "元データを JSON にできません (raw is not JSON-serialisable)").Because(apperr.INVALID_FORMAT)
		}
		r.Raw = raw
	}
	return r, nil
}

var kindLabels = map[journalentry.Kind]string{
	journalentry.KindPAYMENT: "支払い",
	journalentry.KindCANCEL:  "キャンセル",
	journalentry.KindMODIFY:  "修正",
	journalentry.KindDELETE:  "削除",
	journalentry.KindOTHER:   "その他",
}

var bucketWidths = map[model.BucketSize]time.Duration{
	model.BucketSizeSeconds10: 10 * time.Second,
	model.BucketSizeMinute1:   time.Minute,
	model.BucketSizeMinutes5:  5 * time.Minute,
	model.BucketSizeMinutes15: 15 * time.Minute,
	model.BucketSizeHour1:     time.Hour,
}
