package pictures

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// cache keeps recent cloud answers, bounded (least recently used goes
// first), and makes callers of one key share one call: many viewers of a
// camera, or a dashboard refreshing every few seconds, cost the cloud one
// request per TTL.
type cache[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *item[K, V], most recent first
	items map[K]*list.Element

	// With sizeOf, the values kept weigh at most maxBytes together, and a
	// value over maxItem is handed to the callers waiting for it but not
	// kept (a camera's frame may be 10 MB: a thousand of them would not
	// fit in memory).
	sizeOf            func(V) int
	maxBytes, maxItem int
	bytes             int
}

type item[K comparable, V any] struct {
	key  K
	done chan struct{} // closed when val, err and at are set
	val  V
	err  error
	at   time.Time
	size int
}

func newCache[K comparable, V any](max int) *cache[K, V] {
	return &cache[K, V]{max: max, order: list.New(), items: map[K]*list.Element{}}
}

// weighed bounds the cache's values by their size too (see sizeOf).
func (c *cache[K, V]) weighed(sizeOf func(V) int, maxBytes, maxItem int) *cache[K, V] {
	c.sizeOf, c.maxBytes, c.maxItem = sizeOf, maxBytes, maxItem
	return c
}

// get returns key's value fetched less than ttl ago (a failure: errTTL)
// that usable accepts (nil: any), else fetches it once for every caller
// waiting on the key. A fetch cut off by its caller's context, or refused
// by its caller's budget, is not kept.
func (c *cache[K, V]) get(ctx context.Context, key K, now func() time.Time, ttl, errTTL time.Duration,
	usable func(V) bool, fetch func(context.Context) (V, error)) (V, error) {
	for {
		c.mu.Lock()
		if el, ok := c.items[key]; ok {
			it := el.Value.(*item[K, V])
			select {
			case <-it.done:
				age := now().Sub(it.at)
				if it.err == nil && age < ttl && (usable == nil || usable(it.val)) || it.err != nil && age < errTTL {
					c.order.MoveToFront(el)
					c.mu.Unlock()
					return it.val, it.err
				}
			default:
				c.mu.Unlock()
				select {
				case <-it.done:
				case <-ctx.Done():
					var zero V
					return zero, ctx.Err()
				}
				if notKept(it.err) {
					continue // the caller that fetched gave up or ran out of budget; this one has not
				}
				return it.val, it.err
			}
		}
		it := &item[K, V]{key: key, done: make(chan struct{})}
		c.put(key, it)
		c.mu.Unlock()

		val, err := fetch(ctx)
		c.mu.Lock()
		it.val, it.err, it.at = val, err, now()
		el, mine := c.items[key]
		mine = mine && el.Value == it
		size := 0
		if c.sizeOf != nil && err == nil {
			size = c.sizeOf(val)
		}
		switch {
		case !mine:
			// Pushed out meanwhile: nothing to account.
		case notKept(err) || c.sizeOf != nil && size > c.maxItem:
			c.remove(el)
		default:
			it.size = size
			c.bytes += size
			for c.bytes > c.maxBytes && c.sizeOf != nil && c.order.Len() > 1 {
				c.remove(c.order.Back())
			}
		}
		c.mu.Unlock()
		close(it.done)
		return val, err
	}
}

func (c *cache[K, V]) put(key K, it *item[K, V]) {
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	c.items[key] = c.order.PushFront(it)
	for c.order.Len() > c.max {
		c.remove(c.order.Back())
	}
}

// remove drops el (c.mu held).
func (c *cache[K, V]) remove(el *list.Element) {
	it := el.Value.(*item[K, V])
	c.order.Remove(el)
	delete(c.items, it.key)
	c.bytes -= it.size
	it.size = 0
}

func cut(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
