package playback

import (
	"bytes"
	"container/list"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// body is a build's bytes: in memory while small, spilled to a temporary
// file past memLimit, refused past limit. It is counted: the builder, the
// cache and each request serving it hold it, and the file goes when the
// last lets go.
type body struct {
	dir             string
	memLimit, limit int64
	// onDisk is the Player's count of build-file bytes, bounded by
	// diskLimit across every body.
	onDisk    *atomic.Int64
	diskLimit int64
	fileBytes int64

	buf  bytes.Buffer
	f    *os.File // while writing, once spilled
	path string
	size int64

	mu   sync.Mutex
	refs int
}

// tempPattern names the build files in TempDir.
const tempPattern = "regicam-playback-*"

func (p *Player) newBody() *body {
	return &body{dir: p.opt.TempDir, memLimit: p.opt.MemoryBytes, limit: p.opt.MaxOutput, refs: 1,
		onDisk: &p.onDisk, diskLimit: p.opt.MaxTempBytes}
}

func (b *body) Write(p []byte) (int, error) {
	if b.size+int64(len(p)) > b.limit {
		return 0, errTooLarge
	}
	if b.f == nil && b.path == "" && int64(b.buf.Len()+len(p)) <= b.memLimit {
		b.size += int64(len(p))
		return b.buf.Write(p)
	}
	// Claimed before it is written: what is spilled now and then p.
	claim := int64(len(p))
	if b.f == nil {
		claim += int64(b.buf.Len())
	}
	if b.onDisk.Add(claim) > b.diskLimit {
		b.onDisk.Add(-claim)
		return 0, errDiskBusy
	}
	b.fileBytes += claim
	if b.f == nil {
		f, err := os.CreateTemp(b.dir, tempPattern)
		if err != nil {
			return 0, err
		}
		b.f, b.path = f, f.Name()
		if _, err := f.Write(b.buf.Bytes()); err != nil {
			return 0, err
		}
		b.buf = bytes.Buffer{}
	}
	n, err := b.f.Write(p)
	b.size += int64(n)
	return n, err
}

// finish ends the writing.
func (b *body) finish() error {
	if b.f == nil {
		return nil
	}
	err := b.f.Close()
	b.f = nil
	return err
}

func (b *body) hold() {
	b.mu.Lock()
	b.refs++
	b.mu.Unlock()
}

func (b *body) holdN(n int) {
	b.mu.Lock()
	b.refs += n
	b.mu.Unlock()
}

func (b *body) unhold() {
	b.mu.Lock()
	b.refs--
	last := b.refs == 0
	b.mu.Unlock()
	if last {
		b.free()
	}
}

// drop frees a body no one else holds (a failed build).
func (b *body) drop() {
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	b.free()
}

func (b *body) free() {
	b.buf = bytes.Buffer{}
	if b.path != "" {
		_ = os.Remove(b.path)
	}
	if b.fileBytes > 0 {
		b.onDisk.Add(-b.fileBytes)
		b.fileBytes = 0
	}
}

type readSeekCloser interface {
	io.ReadSeeker
	io.Closer
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

// open reads the body; the caller holds it.
func (b *body) open() (readSeekCloser, error) {
	if b.path != "" {
		return os.Open(b.path)
	}
	return memReader{bytes.NewReader(b.buf.Bytes())}, nil
}

// cache keeps recent builds, least recently used first out, bounded by
// their bytes and by age: a player asks for the same span several times
// (Range requests while it buffers and seeks), and a build is a remux or
// an encode.
type cache struct {
	max int64
	now func() time.Time

	mu    sync.Mutex
	bytes int64
	order *list.List // of *entry, most recent at the front
	items map[string]*list.Element
}

type entry struct {
	key     string
	c       *cached
	expires time.Time
}

func newCache(max int64, now func() time.Time) *cache {
	return &cache{max: max, now: now, order: list.New(), items: map[string]*list.Element{}}
}

// get returns a held clip of key, or nil.
func (c *cache) get(key string) *Clip {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry).c.clip()
}

// put keeps v (holding its body) unless it alone passes the bound.
func (c *cache) put(key string, v *cached, ttl time.Duration) {
	size := v.body.size
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	v.body.hold()
	c.items[key] = c.order.PushFront(&entry{key: key, c: v, expires: c.now().Add(ttl)})
	c.bytes += size
	c.expire()
	for c.bytes > c.max {
		c.remove(c.order.Back())
	}
}

// expire drops the entries past their time; c.mu is held.
func (c *cache) expire() {
	now := c.now()
	for el := c.order.Back(); el != nil; {
		prev := el.Prev()
		if now.After(el.Value.(*entry).expires) {
			c.remove(el)
		}
		el = prev
	}
}

// clear drops every entry.
func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.order.Len() > 0 {
		c.remove(c.order.Back())
	}
}

func (c *cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.order.Remove(el)
	delete(c.items, e.key)
	c.bytes -= e.c.body.size
	e.c.body.unhold()
}
