// Package volume defines the volume driver kind: what the volume manager
// (managers/volume) needs from a storage backend to keep volumes on its host
// and make them visible to instances.
//
// The Driver interface is owned here, by its consumer, and is kept small.
// Implementations live in their own packages (drivers/volume/fake,
// drivers/volume/file), register themselves by name in init, and are opened
// by the name configured in NOVAFLOW_VOLUME_DRIVER:
//
//	import _ "github.com/novaflow/novaflow/drivers/volume/file"
//
//	d, err := volume.Open("file", volume.Config{Host: host, DataDir: dir})
//
// A driver knows nothing of the manager, the runtime or the database: it is
// given what it needs as arguments (the volume's ID and size, where to make
// it visible), and the volumes table stays the manager's.
//
// Every implementation must pass the contract tests in
// drivers/volume/volumetest.
package volume
