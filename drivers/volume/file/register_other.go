//go:build !linux

package file

import (
	"errors"

	"github.com/novaflow/novaflow/drivers/volume"
)

// Name is the name the driver is registered under.
const Name = "file"

func init() {
	volume.Register(Name, func(volume.Config) (volume.Driver, error) {
		return nil, errors.New("file: the file volume driver runs on Linux only")
	})
}
