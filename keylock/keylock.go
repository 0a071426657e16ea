// Package keylock serializes work per key within a process, as nova's
// @synchronized(instance.uuid) does per instance: a manager locks the object
// a method changes (the reference managers lock an instance or a volume),
// and conditional updates in the database guard against everything else,
// such as the services of other hosts.
//
//	unlock, err := m.locks.Lock(ctx, req.VolumeID)
//	if err != nil {
//		return Volume{}, err // ctx ended while waiting
//	}
//	defer unlock()
package keylock

import (
	"context"
	"sync"
)

// Locks is a set of locks by key. The zero value is ready to use; a key's
// lock exists only while someone holds or waits for it.
type Locks struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	ch   chan struct{} // holds a token while the lock is held
	refs int           // holders and waiters
}

// Lock waits for the lock of key or for ctx to end, and returns the
// function that unlocks it (call it once).
func (l *Locks) Lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*entry)
	}
	e := l.m[key]
	if e == nil {
		e = &entry{ch: make(chan struct{}, 1)}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
		return func() {
			<-e.ch
			l.release(key, e)
		}, nil
	case <-ctx.Done():
		l.release(key, e)
		return nil, ctx.Err()
	}
}

// Len is the number of keys locked or waited for.
func (l *Locks) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

func (l *Locks) release(key string, e *entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, key)
	}
}
