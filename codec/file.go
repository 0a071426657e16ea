package codec

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ReloadInterval is how often a Codec of a key ring file (Open) looks at the
// file for a change, at most: at the first Encode or Decode after it.
const ReloadInterval = 5 * time.Second

// Open returns the Codec of the key ring file at path (LoadKeyRing). The
// file is read again when it changes (its size or modification time; a
// Kubernetes Secret's update, an edit), checked at most every
// ReloadInterval, and at once when a payload names a key id the ring does
// not have: a rotation needs no restart. A file that no longer reads as a
// key ring leaves the last good ring in use, and onError, when not nil, is
// told (once per change of the file).
func Open(path string, onError func(error)) (*Codec, error) {
	// Stat, then read (as refresh does): a file swapped in between is then
	// read with the old file's size and time recorded, and the next look
	// sees the change. The other order would record the new file's with
	// the old ring, and never read the new one.
	f := &ringFile{path: path, onError: onError}
	if st, err := os.Stat(path); err == nil {
		f.size, f.mod = st.Size(), st.ModTime()
	}
	if openBetweenLooks != nil {
		openBetweenLooks()
	}
	ring, err := LoadKeyRing(path)
	if err != nil {
		return nil, err
	}
	c := New(ring)
	f.checked.Store(time.Now().UnixNano())
	c.file = f
	return c, nil
}

// openBetweenLooks, when set (by tests), runs in Open between its stat of
// the file and its read.
var openBetweenLooks func()

// ringFile is the file a Codec's ring comes from.
type ringFile struct {
	path    string
	onError func(error)

	checked atomic.Int64 // when the file was last looked at (Unix ns)

	mu   sync.Mutex
	size int64 // the file's size and modification time when last read
	mod  time.Time
}

// refresh reads the file into c's ring when it changed since it was last
// read, looking at most every ReloadInterval unless now.
func (f *ringFile) refresh(c *Codec, now bool) {
	if !now && time.Since(time.Unix(0, f.checked.Load())) < ReloadInterval {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked.Store(time.Now().UnixNano())
	st, err := os.Stat(f.path)
	if err != nil || st.Size() == f.size && st.ModTime().Equal(f.mod) {
		return // gone for a moment (a Secret's swap), or unchanged
	}
	f.size, f.mod = st.Size(), st.ModTime()
	ring, err := LoadKeyRing(f.path)
	if err != nil {
		if f.onError != nil {
			f.onError(err)
		}
		return
	}
	c.ring.Store(ring)
}
