package archcheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/scanner"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/regicam/regicam"

// pkg is the part of `go list -json` these checks read.
type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Error      *struct{ Err string }
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// root is the module's directory: the nearest go.mod above this package.
func root(t *testing.T) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = fmt.Errorf("no go.mod above the test's directory")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return rootDir
}

// goList runs `go list -e -json args…` in the module and decodes its stream.
func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e", "-json"}, args...)...)
	cmd.Dir = root(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

var (
	allOnce sync.Once
	all     []pkg
)

// allPackages is `go list ./...`, read once for every test of the run.
func allPackages(t *testing.T) []pkg {
	t.Helper()
	allOnce.Do(func() { all = goList(t, "./...") })
	if all == nil {
		t.Fatal("go list ./... failed in an earlier test")
	}
	return all
}

// rel turns an import path of the module into its folder ("." for the root).
func rel(importPath string) (string, bool) {
	if importPath == module {
		return ".", true
	}
	r, ok := strings.CutPrefix(importPath, module+"/")
	return r, ok
}

// generatedHeader is Go's convention for generated files.
var generatedHeader = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)

// generated reports whether every non-test file of p was written by a
// generator (ent's client and its subpackages, gqlgen's output): such a
// package is described with the schema it comes from, not on its own.
func generated(t *testing.T, p pkg) bool {
	t.Helper()
	if len(p.GoFiles) == 0 {
		return false
	}
	for _, f := range p.GoFiles {
		b, err := os.ReadFile(filepath.Join(p.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !generatedHeader.Match(b) {
			return false
		}
	}
	return true
}

// goFiles lists every .go file of the repository, skipping what is not
// ours (node_modules) or not source (hidden folders such as .git, .bench).
func goFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root(t), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root(t) && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// comment is one block of consecutive comment lines, joined with spaces.
type comment struct {
	line int
	text string
}

// comments returns the comment blocks of a Go file. A scanner rather than
// the parser, so a file another change left half-edited is still read.
func comments(t *testing.T, path string) []comment {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	file := fset.AddFile(path, -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, func(token.Position, string) {}, scanner.ScanComments)
	var out []comment
	lastLine := -2
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok != token.COMMENT {
			continue
		}
		line := fset.Position(pos).Line
		text := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSuffix(lit, "*/"), "//"), "/*")
		if len(out) > 0 && line == lastLine+1 {
			out[len(out)-1].text += " " + strings.TrimSpace(text)
		} else {
			out = append(out, comment{line: line, text: strings.TrimSpace(text)})
		}
		lastLine = line + strings.Count(lit, "\n")
	}
	return out
}

var (
	// citedPath matches a file name with an extension we keep in the
	// repository, with or without folders, as a comment cites it:
	// `server/httpedge.go`, docs/ARCHITECTURE.md, schema/*.graphql.
	citedPath = regexp.MustCompile("(?:^|[\\s(`\"'\\[,;])((?:\\./)?(?:[A-Za-z0-9_.\\-]+/)*[A-Za-z0-9_*\\-][A-Za-z0-9_.*\\-]*\\.(?:go|md|mjs|js|ts|tsx|graphql|yaml|yml|json|sql|sh))\\b")
	// designRef matches a section reference into a document by its bare
	// upper-case name followed by a section sign (the .md form is a
	// citedPath).
	designRef = regexp.MustCompile(`\b([A-Z][A-Z_]+) *§`)
	// readmeRef matches "(README, Limits)": a section of the README by its heading.
	readmeRef = regexp.MustCompile(`\bREADME, ([A-Z][A-Za-z]*(?: [a-z][A-Za-z]*)*)\)`)
)

// TestCommentsCiteFilesTheRepoHas: a comment that points a reader at a
// file is only useful while that file exists; after a move the pointer
// must follow (issue 14, "no Go file cites a file the repo does not have").
//
// A path with a folder is looked up from the module root, then from the
// citing file's folder; a bare name is checked when it is a .md (root or
// docs/) or a .go file (the citing file's folder, or the root: main.go).
// Bare names of other kinds (out.json, setup.yaml) are examples, not
// citations. Host-qualified paths (github.com/…) count only inside this
// module.
func TestCommentsCiteFilesTheRepoHas(t *testing.T) {
	rootDir := root(t)
	headings := readmeHeadings(t)
	var bad []string
	for _, path := range goFiles(t) {
		dir := filepath.Dir(path)
		relPath, _ := filepath.Rel(rootDir, path)
		for _, c := range comments(t, path) {
			where := fmt.Sprintf("%s:%d", relPath, c.line)
			for _, m := range citedPath.FindAllStringSubmatch(c.text, -1) {
				if msg := checkCited(rootDir, dir, m[1]); msg != "" {
					bad = append(bad, where+": "+msg)
				}
			}
			for _, m := range designRef.FindAllStringSubmatch(c.text, -1) {
				if !exists(filepath.Join(rootDir, m[1]+".md")) && !exists(filepath.Join(rootDir, "docs", m[1]+".md")) {
					bad = append(bad, fmt.Sprintf("%s: cites %s.md, which the repository does not have (see docs/ARCHITECTURE.md)", where, m[1]))
				}
			}
			for _, m := range readmeRef.FindAllStringSubmatch(c.text, -1) {
				if !headings[m[1]] {
					bad = append(bad, fmt.Sprintf("%s: cites the README's section %q, which has no such heading", where, m[1]))
				}
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("comments cite what the repository does not have:\n%s", strings.Join(bad, "\n"))
	}
}

// mdLink is the target of a Markdown link or image.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocsCiteFilesTheRepoHas is the same check for the README and
// docs/*.md: the files they name (main.go, graph/textcheck.go,
// schema/*.graphql) and the targets of their relative links exist. A path
// a paragraph gives relative to a folder it named before (the end-to-end
// scripts, named from inside frontend/) passes when some file of the
// repository ends with it.
func TestDocsCiteFilesTheRepoHas(t *testing.T) {
	rootDir := root(t)
	docs, err := filepath.Glob(filepath.Join(rootDir, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(rootDir, "README.md"))
	var files []string
	err = filepath.WalkDir(rootDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != rootDir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	endsWith := func(suffix string) bool {
		for _, f := range files {
			if strings.HasSuffix(f, "/"+suffix) {
				return true
			}
		}
		return false
	}
	var bad []string
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(rootDir, doc)
		dir := filepath.Dir(doc)
		for i, line := range strings.Split(string(b), "\n") {
			where := fmt.Sprintf("%s:%d", name, i+1)
			for _, m := range citedPath.FindAllStringSubmatch(line, -1) {
				if msg := checkCited(rootDir, dir, m[1]); msg != "" && !(strings.Contains(m[1], "/") && endsWith(m[1])) {
					bad = append(bad, where+": "+msg)
				}
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target, _, _ := strings.Cut(m[1], "#")
				if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				if !exists(filepath.Join(dir, target)) {
					bad = append(bad, fmt.Sprintf("%s: links to %s, which is not in the repository", where, m[1]))
				}
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("the README and docs name files the repository does not have:\n%s", strings.Join(bad, "\n"))
	}
}

// checkCited returns why cited (found in a comment of a file in dir) does
// not name a file of the repository, or "".
func checkCited(rootDir, dir, cited string) string {
	if first, _, ok := strings.Cut(cited, "/"); ok && strings.Contains(first, ".") && first != "." && first != ".." {
		inModule, ok := strings.CutPrefix(cited, module+"/")
		if !ok {
			return "" // another host's path
		}
		cited = inModule
	}
	if !strings.Contains(cited, "/") {
		switch filepath.Ext(cited) {
		case ".md":
			if exists(filepath.Join(rootDir, cited)) || exists(filepath.Join(rootDir, "docs", cited)) || exists(filepath.Join(dir, cited)) {
				return ""
			}
		case ".go":
			if matches(filepath.Join(dir, cited)) || matches(filepath.Join(rootDir, cited)) {
				return ""
			}
		default:
			return ""
		}
		return fmt.Sprintf("cites %s, which is not in the repository (nor beside the citing file)", cited)
	}
	if matches(filepath.Join(rootDir, cited)) || matches(filepath.Join(dir, cited)) {
		return ""
	}
	return fmt.Sprintf("cites %s, which is not in the repository", cited)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// matches is exists for a path that may hold a glob (schema/*.graphql).
func matches(pattern string) bool {
	if !strings.ContainsAny(pattern, "*?[") {
		return exists(pattern)
	}
	m, err := filepath.Glob(pattern)
	return err == nil && len(m) > 0
}

// readmeHeadings returns the README's section titles.
func readmeHeadings(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if title, ok := strings.CutPrefix(sc.Text(), "#"); ok {
			out[strings.TrimSpace(strings.TrimLeft(title, "#"))] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	// tableKey is the first cell of a Markdown table row when it is one
	// backquoted name: | `pos/polling` | …
	tableKey = regexp.MustCompile("^\\| *`([^`]+)` *\\|")
	// folderRef is a backquoted folder path anywhere on the page:
	// `camera/fleet`, `ent/schema/rule`.
	folderRef = regexp.MustCompile("`([a-z][a-z0-9_\\-]*(?:/[a-z0-9_\\-]+)+/?)`")
)

// TestArchitectureNamesEveryPackage keeps docs/ARCHITECTURE.md's package
// tables equal to the code: each package of `go list ./...` (but the
// generated ones: ent's client packages, graph/generated, graph/model) has
// its row, each row names a package that exists, and every folder the
// page mentions exists.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	rootDir := root(t)
	doc, err := os.ReadFile(filepath.Join(rootDir, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	var required []string
	for _, p := range allPackages(t) {
		r, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		all[r] = true
		if !generated(t, p) {
			required = append(required, r)
		}
	}
	named := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if m := tableKey.FindStringSubmatch(line); m != nil && m[1] != "package" {
			named[m[1]] = true
		}
	}
	var missing, stale []string
	for _, r := range required {
		if !named[r] {
			missing = append(missing, r)
		}
	}
	for r := range named {
		if !all[r] {
			stale = append(stale, r)
		}
	}
	for _, m := range folderRef.FindAllStringSubmatch(string(doc), -1) {
		if fi, err := os.Stat(filepath.Join(rootDir, m[1])); err != nil || !fi.IsDir() {
			stale = append(stale, m[1])
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("docs/ARCHITECTURE.md has no row for these packages (say what each owns and may import):\n  %s", strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("docs/ARCHITECTURE.md names packages or folders that do not exist:\n  %s", strings.Join(slices.Compact(stale), "\n  "))
	}
}

// TestLayering checks the import rules docs/ARCHITECTURE.md marks as
// checked (issue 14, "Done when").
func TestLayering(t *testing.T) {
	rootDir := root(t)

	t.Run("the product binary ships no harness", func(t *testing.T) {
		for _, p := range goList(t, "-deps", ".") {
			if r, ok := rel(p.ImportPath); ok && (r == "bench" || strings.HasPrefix(r, "bench/")) {
				t.Errorf("`go list -deps .` contains %s: the harness belongs to cmd/regicam-bench", p.ImportPath)
			}
		}
	})

	t.Run("server imports no demo and no fake", func(t *testing.T) {
		// Dependencies, not only direct imports: server may not reach
		// them through another package either. app builds the demo.
		for _, p := range goList(t, "-deps", "./server/...") {
			r, ok := rel(p.ImportPath)
			if !ok {
				continue
			}
			if r == "demo" || strings.HasPrefix(r, "demo/") || strings.HasSuffix(r, "/fake") || strings.Contains(r, "/fake/") ||
				strings.HasSuffix(r, "/demo") || strings.HasPrefix(r, "internal/e2efakes") {
				t.Errorf("server depends on %s: it is wired in app, server only serves", r)
			}
		}
	})

	t.Run("secrets/rotation imports only secrets, ent (with pulid) and the standard library", func(t *testing.T) {
		ps := goList(t, "./secrets/rotation")
		if len(ps) != 1 {
			t.Fatalf("go list ./secrets/rotation: %d packages", len(ps))
		}
		for _, imp := range ps[0].Imports {
			r, ours := rel(imp)
			std := !strings.Contains(strings.Split(imp, "/")[0], ".")
			// ent: the generated client and the framework it is built on,
			// and pulid, the ids of ent's rows (ent/schema/pulid until it
			// moved up to break the ent ↔ viewer loop).
			entgo := imp == "entgo.io/ent" || strings.HasPrefix(imp, "entgo.io/ent/")
			if std || entgo || ours && (r == "secrets" || r == "ent" || r == "pulid" || strings.HasPrefix(r, "ent/")) {
				continue
			}
			t.Errorf("secrets/rotation imports %s; the bindings it needs are in secrets/bindings.go", imp)
		}
	})

	t.Run("only commands, the harness and testenv import app", func(t *testing.T) {
		for _, p := range allPackages(t) {
			r, _ := rel(p.ImportPath)
			if r == "." || strings.HasPrefix(r, "cmd/") || r == "bench/harness" || r == "internal/testenv" || r == "app" {
				continue
			}
			if slices.Contains(p.Imports, module+"/app") {
				t.Errorf("%s imports app, the composition root: it is imported by commands only", r)
			}
		}
	})

	t.Run("the old folders are gone", func(t *testing.T) {
		for _, dir := range []string{"connector", "webhook", "thumbnailer", "store", "recording"} {
			if hasFiles(t, filepath.Join(rootDir, dir)) {
				t.Errorf("top-level %s/ exists again; see docs/ARCHITECTURE.md for where its code lives now", dir)
			}
		}
	})
}

// layerHeadings are docs/ARCHITECTURE.md's package tables, bottom to top.
var layerHeadings = map[string]int{
	"### Leaves and ent":           1,
	"### Domain services":          2,
	"### GraphQL":                  3,
	"### HTTP":                     4,
	"### Composition and commands": 5,
	"### Test support":             6,
}

// TestImportsGoDownTheLayers: no package imports one from a layer above
// its own, as docs/ARCHITECTURE.md §2 orders them (tests may; generated
// packages sit in the layer of the package they are generated for: ent's
// client with ent, graph/generated and graph/model with graph).
func TestImportsGoDownTheLayers(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root(t), "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	layer := map[string]int{}
	current := 0
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "#") {
			current = layerHeadings[strings.TrimSpace(line)]
			continue
		}
		if m := tableKey.FindStringSubmatch(line); m != nil && current > 0 {
			layer[m[1]] = current
		}
	}
	layerOf := func(r string) (int, bool) {
		for p := r; ; p = path.Dir(p) {
			if l, ok := layer[p]; ok {
				return l, true
			}
			if !strings.Contains(p, "/") {
				return 0, false // the root's row is for the root only
			}
		}
	}
	var bad []string
	for _, p := range allPackages(t) {
		from, _ := rel(p.ImportPath)
		lf, ok := layerOf(from)
		if !ok {
			continue // TestArchitectureNamesEveryPackage reports it
		}
		for _, imp := range p.Imports {
			to, ours := rel(imp)
			if !ours {
				continue
			}
			if lt, ok := layerOf(to); ok && lt > lf {
				bad = append(bad, fmt.Sprintf("%s (layer %d) imports %s (layer %d)", from, lf, to, lt))
			}
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("imports that go up the layers of docs/ARCHITECTURE.md §2 (move the code down, or declare an interface where it is used):\n  %s", strings.Join(bad, "\n  "))
	}
}

// TestNoCycleBetweenFolders: no two top-level folders import each other,
// directly or round a loop (issue 14 found secrets ↔ alerts/pos/webhook and
// pos ↔ connector, and ent ↔ viewer while the ids lived in ent/schema/pulid:
// the viewer carries ids, ent's privacy rules read the viewer; the ids are
// the top-level pulid now).
func TestNoCycleBetweenFolders(t *testing.T) {
	top := func(r string) string { f, _, _ := strings.Cut(r, "/"); return f }
	edges := map[string]map[string]bool{}
	for _, p := range allPackages(t) {
		from, _ := rel(p.ImportPath)
		for _, imp := range p.Imports {
			to, ours := rel(imp)
			if !ours || top(from) == top(to) {
				continue
			}
			if edges[top(from)] == nil {
				edges[top(from)] = map[string]bool{}
			}
			edges[top(from)][top(to)] = true
		}
	}
	// reach reports whether to is reachable from from.
	reach := func(from, to string) bool {
		seen := map[string]bool{from: true}
		queue := []string{from}
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for w := range edges[v] {
				if seen[w] {
					continue
				}
				if w == to {
					return true
				}
				seen[w] = true
				queue = append(queue, w)
			}
		}
		return false
	}
	var bad []string
	for a, outs := range edges {
		for b := range outs {
			if reach(b, a) {
				bad = append(bad, fmt.Sprintf("%s/ → %s/ → … → %s/", a, b, a))
			}
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("folders that import each other (put the shared part in the lower one, or declare an interface where it is used):\n  %s", strings.Join(bad, "\n  "))
	}
}

// hasFiles reports whether dir holds any file (an empty folder left by a
// move is not in git and holds no code).
func hasFiles(t *testing.T, dir string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return filepath.SkipAll
			}
			return err
		}
		if !d.IsDir() {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
