package graph

import (
	"context"

	"github.com/regicam/regicam/cases"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/graph/model"
)

// cases is the case service over the resolver's client; it holds nothing
// else, so it is built per call rather than wired through app.
func (r *Resolver) cases() *cases.Service { return &cases.Service{Client: r.Client} }

// EvidencePath is where the HTTP server serves a case's evidence bundle.
func EvidencePath(c *ent.Investigation) string { return "/cases/" + string(c.ID) + "/evidence.zip" }

func createCaseInput(in model.CreateCaseInput) cases.CreateInput {
	return cases.CreateInput{Title: in.Title, EntryIDs: in.EntryIDs, AlertIDs: in.AlertIDs,
		AssigneeID: in.AssigneeID, Tags: in.Tags}
}

func updateCaseInput(in model.UpdateCaseInput) cases.UpdateInput {
	return cases.UpdateInput{Title: in.Title, Status: in.Status, Resolution: in.Resolution,
		AssigneeID: in.AssigneeID, ClearAssignee: in.ClearAssignee != nil && *in.ClearAssignee,
		Tags: in.Tags, SetTags: in.Tags != nil}
}

// caseAssignee is the case's assignee as the viewer may see users: STAFF
// see only themselves (ent/schema/user.go), so another assignee reads null.
func caseAssignee(ctx context.Context, c *ent.Client, cs *ent.Investigation) (*ent.User, error) {
	if cs.AssigneeID == nil {
		return nil, nil
	}
	u, err := c.User.Query().Where(user.ID(*cs.AssigneeID), user.AccountID(cs.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}
