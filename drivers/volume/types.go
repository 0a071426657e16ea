package volume

// GiB is the unit of volume sizes: a volume of size 1 holds 1<<30 bytes.
const GiB = 1 << 30

// Volume is what a driver reports about one volume.
type Volume struct {
	// ID is the volume's identity on the host; see ValidateID.
	ID string
	// SizeGB is its size in GiB, as created.
	SizeGB int
	// AllocatedBytes is the storage it really takes: less than its size
	// while it is sparse; 0 for drivers that store nothing (fake).
	AllocatedBytes int64
}

// Capacity is the storage of a host for volumes, in bytes.
type Capacity struct {
	TotalBytes int64
	FreeBytes  int64
}

// Config is what a driver gets when it is opened. It is filled by the volume
// service from its settings; drivers know nothing else about it.
type Config struct {
	// Host is the name of the host the driver keeps volumes on.
	Host string
	// DataDir is a directory the driver owns for its data; required by
	// drivers that keep volumes on disk (file), ignored by others (fake).
	DataDir string
	// Options are driver-specific settings. Each driver documents its own
	// and rejects keys it does not know.
	Options map[string]string
}
