package thumbs

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/lib/pq"

	"github.com/regicam/regicam/internal/pgtest"
)

// backends lists every Store implementation; each runs the same contract.
var backends = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"fs", func(t *testing.T) Store {
		s, err := NewFS(filepath.Join(t.TempDir(), "thumbs"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"postgres", func(t *testing.T) Store {
		s, err := NewPostgres(context.Background(), openPG(t, pgtest.New(t)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

func openPG(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var badKeys = []string{
	"", ".", "..", "../escape", "../../etc/passwd", "/etc/passwd", "a/b", `a\b`,
	"a b", "a.jpg", "a\x00b", "ä", ".tmp-x", strings.Repeat("k", MaxKeyLen+1),
}

func TestStoreContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.open(t)
			ctx := context.Background()
			get := func(t *testing.T, key string) []byte {
				t.Helper()
				got, err := s.Get(ctx, key)
				if err != nil {
					t.Fatalf("Get(%q): %v", key, err)
				}
				return got
			}

			tests := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"put then get", func(t *testing.T) {
					data := []byte("\xff\xd8 jpeg bytes \x00\x01\xff")
					if err := s.Put(ctx, "roundtrip", data); err != nil {
						t.Fatal(err)
					}
					if got := get(t, "roundtrip"); !bytes.Equal(got, data) {
						t.Fatalf("got %q, want %q", got, data)
					}
				}},
				{"large blob", func(t *testing.T) {
					data := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<18) // 1 MiB
					if err := s.Put(ctx, "large", data); err != nil {
						t.Fatal(err)
					}
					if got := get(t, "large"); !bytes.Equal(got, data) {
						t.Fatalf("got %d bytes back, want %d", len(got), len(data))
					}
				}},
				{"empty blob", func(t *testing.T) {
					if err := s.Put(ctx, "empty", nil); err != nil {
						t.Fatal(err)
					}
					if got := get(t, "empty"); len(got) != 0 {
						t.Fatalf("got %d bytes, want 0", len(got))
					}
				}},
				{"not found", func(t *testing.T) {
					_, err := s.Get(ctx, "never-put")
					if !errors.Is(err, ErrNotFound) {
						t.Fatalf("err = %v, want ErrNotFound", err)
					}
				}},
				{"idempotent put", func(t *testing.T) {
					data := []byte("same")
					for i := 0; i < 3; i++ {
						if err := s.Put(ctx, "idem", data); err != nil {
							t.Fatalf("put #%d: %v", i+1, err)
						}
					}
					if got := get(t, "idem"); !bytes.Equal(got, data) {
						t.Fatalf("got %q", got)
					}
				}},
				{"first writer wins", func(t *testing.T) {
					if err := s.Put(ctx, "first", []byte("one")); err != nil {
						t.Fatal(err)
					}
					if err := s.Put(ctx, "first", []byte("two")); err != nil {
						t.Fatal(err)
					}
					if got := get(t, "first"); string(got) != "one" {
						t.Fatalf("got %q, want the first write", got)
					}
				}},
				{"delete", func(t *testing.T) {
					for _, k := range []string{"del1", "del2", "keep"} {
						if err := s.Put(ctx, k, []byte(k)); err != nil {
							t.Fatal(err)
						}
					}
					if err := s.Delete(ctx, "del1", "missing", "del2"); err != nil {
						t.Fatalf("Delete: %v", err)
					}
					for _, k := range []string{"del1", "del2"} {
						if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
							t.Errorf("Get(%s) after delete: %v, want ErrNotFound", k, err)
						}
					}
					if got := get(t, "keep"); string(got) != "keep" {
						t.Fatalf("unrelated key changed: %q", got)
					}
					if err := s.Delete(ctx, "del1"); err != nil {
						t.Fatalf("second delete: %v", err)
					}
					if err := s.Delete(ctx); err != nil {
						t.Fatalf("empty delete: %v", err)
					}
					// Deleted keys can be written again (an entry re-ingested
					// after retention).
					if err := s.Put(ctx, "del1", []byte("again")); err != nil {
						t.Fatal(err)
					}
					if got := get(t, "del1"); string(got) != "again" {
						t.Fatalf("got %q after re-put", got)
					}
				}},
				{"invalid keys", func(t *testing.T) {
					for _, k := range badKeys {
						if err := s.Put(ctx, k, []byte("x")); !errors.Is(err, ErrInvalidKey) {
							t.Errorf("Put(%q) = %v, want ErrInvalidKey", k, err)
						}
						if _, err := s.Get(ctx, k); !errors.Is(err, ErrInvalidKey) {
							t.Errorf("Get(%q) = %v, want ErrInvalidKey", k, err)
						}
						if err := s.Delete(ctx, k); !errors.Is(err, ErrInvalidKey) {
							t.Errorf("Delete(%q) = %v, want ErrInvalidKey", k, err)
						}
					}
					if err := s.Put(ctx, strings.Repeat("k", MaxKeyLen), []byte("x")); err != nil {
						t.Errorf("key of MaxKeyLen: %v", err)
					}
				}},
				{"bad key fails the whole delete", func(t *testing.T) {
					if err := s.Put(ctx, "batch", []byte("x")); err != nil {
						t.Fatal(err)
					}
					if err := s.Delete(ctx, "batch", "../batch"); !errors.Is(err, ErrInvalidKey) {
						t.Fatalf("err = %v, want ErrInvalidKey", err)
					}
					get(t, "batch")
				}},
				{"journal key", func(t *testing.T) {
					k := Key("AC01J9Z8Q5R7X3M2N4P6T8V0W2", "JE01J9Z8Q5R7X3M2N4P6T8V0W3")
					if err := s.Put(ctx, k, []byte("x")); err != nil {
						t.Fatalf("Put(Key(...)): %v", err)
					}
				}},
				{"concurrent puts of one key", func(t *testing.T) {
					data := bytes.Repeat([]byte("frame"), 20_000)
					var wg sync.WaitGroup
					errs := make(chan error, 64)
					for i := 0; i < 16; i++ {
						wg.Add(2)
						go func() {
							defer wg.Done()
							errs <- s.Put(ctx, "race", data)
						}()
						go func() {
							defer wg.Done()
							// A reader racing the writers sees nothing or
							// everything, never a partial blob.
							got, err := s.Get(ctx, "race")
							switch {
							case errors.Is(err, ErrNotFound):
							case err != nil:
								errs <- err
							case !bytes.Equal(got, data):
								errs <- fmt.Errorf("partial read: %d of %d bytes", len(got), len(data))
							}
						}()
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						if err != nil {
							t.Error(err)
						}
					}
					if got := get(t, "race"); !bytes.Equal(got, data) {
						t.Fatalf("got %d bytes, want %d", len(got), len(data))
					}
				}},
				{"cancelled context", func(t *testing.T) {
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					if err := s.Put(cctx, "cancelled", []byte("x")); err == nil {
						t.Error("Put with cancelled context succeeded")
					}
					if _, err := s.Get(cctx, "roundtrip"); err == nil {
						t.Error("Get with cancelled context succeeded")
					}
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, tt.run)
			}
		})
	}
}

func TestFSLayout(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data", "thumbs")
	s, err := NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range badKeys {
		_ = s.Put(ctx, k, []byte("x"))
	}
	for i := 0; i < 50; i++ {
		if err := s.Put(ctx, Key("AC01J9Z8Q5R7X3M2N4P6T8V0W2", fmt.Sprintf("JE%03d", i)), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}

	shards := map[string]bool{}
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, "..") {
			t.Errorf("file escaped the store: %s", p)
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", rel)
		}
		if filepath.Dir(rel) == "." {
			t.Errorf("blob not sharded: %s", rel)
		}
		shards[filepath.Dir(rel)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One account's keys share a long literal prefix; they must still spread.
	if len(shards) < 20 {
		t.Errorf("50 keys of one account landed in %d shards, want them spread", len(shards))
	}
}

func TestNewFSErrors(t *testing.T) {
	if _, err := NewFS(""); err == nil {
		t.Error("NewFS(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFS(filepath.Join(file, "thumbs")); err == nil {
		t.Error("NewFS under a regular file succeeded")
	}
}

// Replicas start together and share one database: table creation must not
// race, and a blob put by one replica is served by the other.
func TestPostgresReplicas(t *testing.T) {
	dsn := pgtest.New(t)
	ctx := context.Background()
	stores := make([]*Postgres, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = NewPostgres(ctx, openPG(t, dsn))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: NewPostgres: %v", i, err)
		}
	}
	if err := stores[0].Put(ctx, "shared", []byte("blob")); err != nil {
		t.Fatal(err)
	}
	got, err := stores[3].Get(ctx, "shared")
	if err != nil || string(got) != "blob" {
		t.Fatalf("other replica Get = %q, %v", got, err)
	}
	if err := stores[2].Delete(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[1].Get(ctx, "shared"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete on another replica: %v", err)
	}
}
