package graph

import (
	"context"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/schema/schematype"
	entshop "github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/shop"
)

// shops is the shop service of this resolver; it holds nothing but the
// client, so it is made per call rather than wired in Resolver.
func (r *Resolver) shops() *shop.Service {
	s := &shop.Service{Client: r.Client}
	if r.Auth != nil {
		s.VisibilityChanged = r.Auth.UserChanged
	}
	return s
}

// hoursIn converts businessHours input; nil (not sent) stays nil, [] is
// an empty, non-nil list that clears the hours.
func hoursIn(in []*model.BusinessDayInput) *schematype.BusinessHours {
	if in == nil {
		return nil
	}
	h := make(schematype.BusinessHours, len(in))
	for i, d := range in {
		h[i] = schematype.DayHours{Weekday: d.Weekday, Open: d.Open, Close: d.Close}
	}
	return &h
}

func hoursOut(h schematype.BusinessHours) []*model.BusinessDay {
	out := make([]*model.BusinessDay, len(h))
	for i, d := range h {
		out[i] = &model.BusinessDay{Weekday: d.Weekday, Open: d.Open, Close: d.Close}
	}
	return out
}

// defaultShop is the shop new registers of a connection join; one the
// viewer cannot see (a STAFF user's other shop) reads as none.
func (r *Resolver) defaultShop(ctx context.Context, c *ent.PosConnection) (*ent.Shop, error) {
	if c.DefaultShopID == nil {
		return nil, nil
	}
	s, err := r.Client.Shop.Query().Where(entshop.ID(*c.DefaultShopID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return s, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
