//go:build !linux

package process

import (
	"errors"

	"github.com/novaflow/novaflow/drivers/compute"
)

// Name is the name the driver is registered under.
const Name = "process"

func init() {
	compute.Register(Name, func(compute.Config) (compute.Driver, error) {
		return nil, errors.New("process: the process compute driver runs on Linux only")
	})
}
