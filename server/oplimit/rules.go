package oplimit

import (
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// MaxValidationErrors is how many errors one document's validation
// reports; the rest are dropped.
const MaxValidationErrors = 20

// ValidationRules is gqlparser's default rule set with at most
// MaxValidationErrors errors per document, for handler.Server's
// SetValidationRulesFn. The overlapping-fields rule reports every
// conflicting pair: a few kilobytes of `a: id a: kind …` are 10⁵ errors
// (and as many megabytes) without the cap.
func ValidationRules() *rules.Rules {
	def := rules.NewDefaultRules()
	out := &rules.Rules{}
	reported := 0
	for name, rule := range def.GetInner() {
		out.AddRule(name, func(observers *core.Events, addError core.AddErrFunc) {
			rule(observers, func(options ...core.ErrorOption) {
				if reported < MaxValidationErrors {
					reported++
					addError(options...)
				}
			})
		})
	}
	return out
}
