// Command dnsservice runs the dns service of examples/dns, a manager of a
// user's own that the novaflow binary does not link: TestCLI calls it with
// `novaflow call dns.<method>`, by name.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/novaflow/novaflow/worker"

	_ "github.com/novaflow/novaflow/examples/dns/drivers/dns/fake"
	_ "github.com/novaflow/novaflow/examples/dns/managers/dns"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dnsservice:", err)
		var ie *worker.InterruptedError
		if errors.As(err, &ie) {
			os.Exit(ie.ExitCode()) // 130 after SIGINT, 143 after a second SIGTERM
		}
		os.Exit(1)
	}
}

func run() error {
	load := func() (worker.Env, error) { return worker.LoadEnv(os.Environ()) }
	env, err := load()
	if err != nil {
		return err
	}
	cfg, err := worker.LoadConfig(env)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	logger := worker.NewLogger(os.Stderr, cfg, level)
	svc, err := worker.Create(cfg, worker.Options{Topic: "dns", Logger: logger, LogLevel: level, Env: env, Reload: load})
	if err != nil {
		return err
	}
	return worker.Run(context.Background(), worker.RunOptions{Logger: logger}, svc)
}
