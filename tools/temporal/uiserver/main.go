// Command uiserver serves Temporal's Web UI for a Temporal server: the UI
// server that the pinned temporal CLI embeds in its dev server
// (github.com/temporalio/ui-server/v2, at the version the CLI requires),
// configured as the CLI configures it. novaflow dev --temporal=postgres
// starts it next to the Temporal server on PostgreSQL, which has no UI of
// its own.
//
//	uiserver --address 127.0.0.1:7233 --ip 127.0.0.1 --port 8233
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

func main() {
	address := flag.String("address", "", "the Temporal frontend's gRPC address, host:port (required)")
	ip := flag.String("ip", "127.0.0.1", "the IP address the UI listens on")
	port := flag.Int("port", 0, "the port the UI listens on (required)")
	namespace := flag.String("namespace", "default", "the namespace the UI opens")
	flag.Parse()
	if *address == "" || *port <= 0 || *port > 65535 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "uiserver: --address host:port and --port 1-65535 are required")
		flag.Usage()
		os.Exit(2)
	}
	if _, _, err := net.SplitHostPort(*address); err != nil {
		fmt.Fprintf(os.Stderr, "uiserver: --address %q: %v\n", *address, err)
		os.Exit(2)
	}
	// Listen first, so that a port in use is a clear error here rather than
	// the UI server's own fatal log line.
	l, err := net.Listen("tcp", net.JoinHostPort(*ip, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "uiserver: %v\n", err)
		os.Exit(1)
	}
	l.Close()

	host := *ip
	if ipAddr := net.ParseIP(host); ipAddr != nil && ipAddr.To4() == nil {
		host = "[" + host + "]"
	}
	s := uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                *port,
		TemporalGRPCAddress: *address,
		EnableUI:            true,
		DefaultNamespace:    *namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
	}))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		s.Stop()
	}()
	if err := s.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "uiserver: %v\n", err)
		os.Exit(1)
	}
}
