package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/cardmatch"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports/outliers"
	"github.com/regicam/regicam/viewer"
)

// Limits of Query.cardMatches.
const (
	cardMatchesDefault = 50
	cardMatchesMax     = 200
)

// staffOutliers runs reports/outliers over the reports service's database.
func (r *Resolver) staffOutliers(ctx context.Context, in model.StaffOutlierInput) (*model.StaffOutlierReport, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	svc := &outliers.Service{Client: r.Reports.Client, DB: r.Reports.DB, Dialect: r.Reports.Dialect}
	rep, err := svc.Report(ctx, v, outliers.Request{From: in.From, To: in.To, ShopIDs: in.ShopIDs,
		Threshold: in.Threshold, MinSales: in.MinSales})
	if err != nil {
		return nil, err
	}
	out := &model.StaffOutlierReport{From: rep.From, To: rep.To, Threshold: rep.Threshold,
		Staff: make([]*model.StaffOutlier, 0, len(rep.Staff)), Peers: make([]*model.StaffPeerStats, 0, len(rep.Peers))}
	for _, p := range rep.Peers {
		out.Peers = append(out.Peers, &model.StaffPeerStats{Metric: model.StaffMetric(p.Metric), Median: p.Median, Mad: p.MAD})
	}
	for _, s := range rep.Staff {
		w, err := whereMap(s.Where)
		if err != nil {
			return nil, err
		}
		o := &model.StaffOutlier{StaffName: s.Name, Sales: s.Sales, Flagged: s.Flagged, EntriesWhere: w}
		for _, rt := range s.Rates {
			o.Rates = append(o.Rates, &model.StaffRate{Metric: model.StaffMetric(rt.Metric), Count: rt.Count,
				Per100: rt.Per100, Score: rt.Score, Flagged: rt.Flagged})
		}
		out.Staff = append(out.Staff, o)
	}
	return out, nil
}

// whereMap is w as the JournalWhere a client sends back (the Map scalar).
func whereMap(w journal.Where) (map[string]any, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// cardMatches lists the viewer's matches, newest first; the privacy rule
// keeps a STAFF to their shops.
func (r *Resolver) cardMatches(ctx context.Context, state *cardmatch.State, shopIDs []pulid.ID, first *int) ([]*ent.CardMatch, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	n := cardMatchesDefault
	if first != nil {
		if *first < 1 || *first > cardMatchesMax {
			return nil, apperr.Invalid("first", "件数は 1 以上 %d 以下で指定してください", cardMatchesMax).Because(apperr.VALUE_OUT_OF_RANGE)
		}
		n = *first
	}
	q := r.Client.CardMatch.Query().Where(cardmatch.AccountID(v.AccountID))
	if state != nil {
		if err := cardmatch.StateValidator(*state); err != nil {
			return nil, apperr.Invalid("state", "状態 %q は使えません", *state).Because(apperr.INVALID_CHOICE)
		}
		q = q.Where(cardmatch.StateEQ(*state))
	}
	if len(shopIDs) > 0 {
		ids := slices.Compact(slices.Sorted(slices.Values(shopIDs)))
		if len(ids) > 500 {
			return nil, apperr.Invalid("shopIDs", "店舗は 500 件まで指定できます").Because(apperr.VALUE_OUT_OF_RANGE)
		}
		found, err := r.Client.Shop.Query().Where(shop.AccountID(v.AccountID), shop.IDIn(ids...)).Count(ctx)
		if err != nil {
			return nil, fmt.Errorf("check shops: %w", err)
		}
		if found != len(ids) || slices.ContainsFunc(ids, func(id pulid.ID) bool { return !v.SeesShop(id) }) {
			return nil, apperr.Missing("shopIDs", "指定された店舗が見つかりません").Because(apperr.NOT_FOUND)
		}
		q = q.Where(cardmatch.ShopIDIn(ids...))
	}
	return q.Order(ent.Desc(cardmatch.FieldOccurredAt), ent.Desc(cardmatch.FieldID)).Limit(n).All(ctx)
}
