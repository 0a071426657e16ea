package keylock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLockSerializesOneKey(t *testing.T) {
	var l Locks
	var mu sync.Mutex
	inside, most := 0, 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := l.Lock(context.Background(), "a")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			most = max(most, inside)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if most != 1 {
		t.Fatalf("%d holders at once, want 1", most)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d keys left after every unlock, want 0", n)
	}
}

func TestLockOtherKeysDoNotWait(t *testing.T) {
	var l Locks
	unlockA, err := l.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	unlockB, err := l.Lock(ctx, "b")
	if err != nil {
		t.Fatalf("key b waited for key a: %v", err)
	}
	unlockB()
}

func TestLockGivesUpWithItsContext(t *testing.T) {
	var l Locks
	unlock, err := l.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a held key = %v, want the context's deadline", err)
	}
	unlock()
	if n := l.Len(); n != 0 {
		t.Fatalf("%d keys left, want 0 (the waiter that gave up must not keep the key)", n)
	}
	unlock2, err := l.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

// BenchmarkLock measures an uncontended lock and unlock of one key against
// the baseline of a sync.Mutex, in the same run:
// go test ./keylock -run '^$' -bench Lock.
func BenchmarkLock(b *testing.B) {
	b.Run("baseline=sync.Mutex", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock() //nolint:staticcheck // the empty section is what is measured
		}
	})
	b.Run("novaflow=Locks", func(b *testing.B) {
		var l Locks
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			unlock, err := l.Lock(ctx, "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11")
			if err != nil {
				b.Fatal(err)
			}
			unlock()
		}
	})
}
