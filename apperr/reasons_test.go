package apperr_test

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/regicam/regicam/apperr"
)

// TestReasonsListsEveryConstant: Reasons (and so reasons.json and the
// dashboard's table) has every reason declared in reasons.go, once, and
// nothing else.
func TestReasonsListsEveryConstant(t *testing.T) {
	declared := reasonConstants(t)
	got := apperr.Reasons()
	var values []string
	for _, v := range declared {
		values = append(values, v)
	}
	slices.Sort(values)
	if !slices.Equal(got, values) {
		t.Fatalf("Reasons() = %v\ndeclared in reasons.go = %v", got, values)
	}
	if len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("Reasons() repeats a reason: %v", got)
	}
	for name, v := range declared {
		if name != v {
			t.Errorf("constant %s has value %q: a reason is spelled as on the wire", name, v)
		}
	}
}

// TestReasonsJSONIsGenerated: the dashboard's list is what go generate
// writes now; a reason added without regenerating fails here.
func TestReasonsJSONIsGenerated(t *testing.T) {
	b, err := os.ReadFile("../frontend/src/errors/reasons.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, apperr.ReasonsJSON()) {
		t.Fatal("frontend/src/errors/reasons.json is stale: run go generate ./apperr/")
	}
}

func TestGenericReasonOfEveryCode(t *testing.T) {
	for _, code := range []string{apperr.BadUserInput, apperr.Unauthenticated, apperr.Forbidden, apperr.NotFound,
		apperr.Conflict, apperr.RateLimited, apperr.Internal, apperr.BadRequest, apperr.Unavailable} {
		r := apperr.GenericReason(code)
		if !slices.Contains(apperr.Reasons(), r) {
			t.Errorf("GenericReason(%s) = %q, not a listed reason", code, r)
		}
	}
	if r := apperr.GenericReason("GRAPHQL_VALIDATION_FAILED"); r != apperr.INTERNAL {
		t.Errorf("GenericReason of a foreign code = %q, want INTERNAL", r)
	}
}

func TestBecauseCopiesAndReasonOfFallsBack(t *testing.T) {
	base := apperr.Invalid("password", "needs a digit")
	got := base.Because(apperr.PASSWORD_NEEDS_DIGIT)
	if base.Reason != "" || got.Reason != apperr.PASSWORD_NEEDS_DIGIT || got.Field != "password" || got.Code != apperr.BadUserInput {
		t.Fatalf("Because changed its receiver or lost a part: base %+v, got %+v", *base, *got)
	}
	if r := apperr.ReasonOf(base); r != apperr.BAD_USER_INPUT {
		t.Errorf("ReasonOf without a reason = %q, want the code's generic BAD_USER_INPUT", r)
	}
	if r := apperr.ReasonOf(got.At("x")); r != apperr.PASSWORD_NEEDS_DIGIT {
		t.Errorf("At lost the reason: %q", r)
	}
	if e, _ := apperr.As(apperr.WithFieldPrefix(got, "input")); e.Reason != apperr.PASSWORD_NEEDS_DIGIT {
		t.Errorf("WithFieldPrefix lost the reason: %+v", *e)
	}
}

func TestCameraTestReasonsAreListed(t *testing.T) {
	for _, r := range []string{"UNREACHABLE", "TIMEOUT", "AUTH_REFUSED", "NOT_JPEG", "TLS", "HTTP_STATUS", "URL_REFUSED", "BAD_URL", "RTSP", "RATE_LIMITED", "SOMETHING_NEW"} {
		if got := apperr.CameraTest(r); !slices.Contains(apperr.Reasons(), got) {
			t.Errorf("CameraTest(%s) = %q, not a listed reason", r, got)
		}
	}
	if apperr.CameraTest("AUTH_REFUSED") == apperr.CameraTest("TIMEOUT") {
		t.Error("camera test failures that need different steps share a reason")
	}
}

// reasonConstants reads the const declarations of reasons.go: name → value.
func reasonConstants(t *testing.T) map[string]string {
	t.Helper()
	fs := token.NewFileSet()
	f, err := parser.ParseFile(fs, "reasons.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{"BadUserInput": apperr.BadUserInput, "Unauthenticated": apperr.Unauthenticated,
		"Forbidden": apperr.Forbidden, "NotFound": apperr.NotFound, "Conflict": apperr.Conflict,
		"RateLimited": apperr.RateLimited, "Internal": apperr.Internal, "BadRequest": apperr.BadRequest,
		"Unavailable": apperr.Unavailable}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				switch v := vs.Values[i].(type) {
				case *ast.BasicLit:
					out[n.Name], _ = strconv.Unquote(v.Value)
				case *ast.Ident:
					out[n.Name] = codes[v.Name]
				default:
					t.Fatalf("reasons.go: %s is not a string literal or a code", n.Name)
				}
			}
		}
	}
	return out
}

// ctors are apperr's constructors: each result must say Because(reason).
var ctors = map[string]bool{"Invalid": true, "Missing": true, "Unauthenticatedf": true, "Forbiddenf": true,
	"Conflictf": true, "RateLimitedf": true, "Internalf": true, "BadRequestf": true, "Unavailablef": true}

// TestEveryFailureHasAReason walks the module's non-test Go files: every
// apperr constructor call is followed (possibly after .At) by
// .Because(apperr.REASON) with a declared reason, and no file builds an
// apperr.Error literal, so no failure reaches the dashboard with only the
// generic reason of its code by accident.
func TestEveryFailureHasAReason(t *testing.T) {
	declared := reasonConstants(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "frontend", "node_modules", "testdata", "ent":
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), ".") && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "apperr"+string(filepath.Separator)) {
			return nil
		}
		fs := token.NewFileSet()
		f, err := parser.ParseFile(fs, p, nil, 0)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		var stack []ast.Node
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			if lit, ok := n.(*ast.CompositeLit); ok && isApperr(lit.Type, "Error") {
				t.Errorf("%s: an apperr.Error literal; use a constructor and Because", fs.Position(n.Pos()))
			}
			call, ok := n.(*ast.CallExpr)
			if !ok || !isApperrCtor(call.Fun) {
				return true
			}
			checked++
			if msg := becauseAfter(stack, declared); msg != "" {
				t.Errorf("%s: %s", fs.Position(call.Pos()), msg)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("found only %d constructor calls: the walk missed the module", checked)
	}
}

func isApperr(e ast.Expr, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := s.X.(*ast.Ident)
	return ok && x.Name == "apperr" && s.Sel.Name == name
}

func isApperrCtor(e ast.Expr) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && ctors[s.Sel.Name] && isApperr(e, s.Sel.Name)
}

// becauseAfter checks the constructor call on top of stack: its result,
// through any .At(…), is the receiver of .Because(reason). It returns
// what is wrong, or "".
func becauseAfter(stack []ast.Node, declared map[string]string) string {
	i := len(stack) - 1 // the constructor call
	for {
		if i < 2 {
			return "constructor without .Because(apperr.REASON)"
		}
		sel, ok := stack[i-1].(*ast.SelectorExpr)
		if !ok || sel.X != stack[i] {
			return "constructor without .Because(apperr.REASON)"
		}
		call, ok := stack[i-2].(*ast.CallExpr)
		if !ok || call.Fun != sel {
			return "constructor without .Because(apperr.REASON)"
		}
		switch sel.Sel.Name {
		case "At":
			i -= 2
			continue
		case "Because":
			if len(call.Args) != 1 {
				return "Because needs one reason"
			}
			arg := call.Args[0]
			if c, ok := arg.(*ast.CallExpr); ok && isApperr(c.Fun, "CameraTest") {
				return ""
			}
			s, ok := arg.(*ast.SelectorExpr)
			if !ok || !isApperr(arg, s.Sel.Name) {
				return "Because takes a constant of apperr/reasons.go (apperr.REASON)"
			}
			if _, ok := declared[s.Sel.Name]; !ok {
				return "apperr." + s.Sel.Name + " is not declared in apperr/reasons.go"
			}
			return ""
		default:
			return "constructor without .Because(apperr.REASON)"
		}
	}
}

// TestWriteHTTPSaysTheReason: the HTTP routes answer with the same
// extensions.reason as /graphql.
func TestWriteHTTPSaysTheReason(t *testing.T) {
	for _, c := range []struct {
		err    error
		reason string
	}{
		{apperr.Invalid("password", "x").Because(apperr.PASSWORD_TOO_SHORT), apperr.PASSWORD_TOO_SHORT},
		{apperr.Missing("id", "x"), apperr.NOT_FOUND},
		{errors.New("a bug"), apperr.INTERNAL},
	} {
		_, b := writeHTTP(t, c.err, nil)
		if got := b.Errors[0].Extensions["reason"]; got != c.reason {
			t.Errorf("%v: reason %q, want %s", c.err, got, c.reason)
		}
	}
}
