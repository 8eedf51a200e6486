package access

import (
	"fmt"
	"slices"
	"strings"
)

// Markdown renders Table and Guards as the README's Permissions table:
// one row per operation, one column per role and per key scope.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Operation |")
	for _, r := range Roles {
		fmt.Fprintf(&b, " %s |", r)
	}
	for _, s := range KeyScopes {
		fmt.Fprintf(&b, " key `%s` |", s)
	}
	b.WriteString(" Note |\n|---|")
	for range len(Roles) + len(KeyScopes) {
		b.WriteString(":-:|")
	}
	b.WriteString("---|\n")
	for _, r := range Table {
		fmt.Fprintf(&b, "| `%s` |", r.Op)
		for _, role := range Roles {
			b.WriteString(mark(r.Public || slices.Contains(r.Roles, role)))
		}
		for _, s := range KeyScopes {
			b.WriteString(mark(r.Public || slices.Contains(r.Scopes, s)))
		}
		why := r.Why
		if r.Public {
			why = strings.TrimSpace("no credential needed; " + why)
		}
		fmt.Fprintf(&b, " %s |\n", why)
	}
	b.WriteString("\nFields whose contents need more than the operation that returned them:\n\n")
	for _, g := range Guards {
		fmt.Fprintf(&b, "- `%s` needs `%s` beyond %s: %s.\n", g.Field, g.Scope, strings.Join(quoted(g.Free), ", "), g.Why)
	}
	return b.String()
}

func mark(ok bool) string {
	if ok {
		return " ✓ |"
	}
	return " — |"
}

func quoted(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = "`" + x + "`"
	}
	return out
}
