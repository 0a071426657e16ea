package compute

import (
	"context"
	"sync"
)

// instanceLocks serializes the operations on one instance within this
// service, as nova's @synchronized(instance.uuid); conditional updates in the
// database guard against everything else.
type instanceLocks struct {
	mu sync.Mutex
	m  map[string]*instanceLock
}

type instanceLock struct {
	ch   chan struct{}
	refs int
}

// lock waits for the instance's lock or for ctx to end, and returns the
// function that unlocks it.
func (l *instanceLocks) lock(ctx context.Context, uuid string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*instanceLock)
	}
	e := l.m[uuid]
	if e == nil {
		e = &instanceLock{ch: make(chan struct{}, 1)}
		l.m[uuid] = e
	}
	e.refs++
	l.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
		return func() {
			<-e.ch
			l.release(uuid, e)
		}, nil
	case <-ctx.Done():
		l.release(uuid, e)
		return nil, ctx.Err()
	}
}

func (l *instanceLocks) release(uuid string, e *instanceLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, uuid)
	}
}
