// Command amqp measures what a nova user has today: oslo.messaging-style
// request/reply RPC over RabbitMQ, for the comparison in docs/BENCHMARKS.md.
// It is a module of its own so that novaflow does not carry an AMQP client.
//
//	apt-get install rabbitmq-server   # Debian's, started by its package
//	cd bench/amqp && go run . -url amqp://guest:guest@127.0.0.1:5672/
//
// Two set-ups are measured in the same run:
//   - oslo.messaging's default: a non-durable server queue on a topic
//     exchange (amqp_durable_queues=False), non-persistent messages, no
//     publisher confirms, auto-ack, and a reply queue per client;
//   - the same with durability: a durable queue, persistent messages,
//     publisher confirms before the call counts as sent, and manual acks
//     after the method ran.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func main() {
	url := flag.String("url", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	n := flag.Int("n", 2000, "calls measured one at a time per set-up")
	inflight := flag.Int("inflight", 16, "calls in flight in the throughput runs")
	dur := flag.Duration("duration", 10*time.Second, "duration of each throughput run")
	flag.Parse()
	if err := run(*url, *n, *inflight, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "amqp bench:", err)
		os.Exit(1)
	}
}

type setup struct {
	name    string
	durable bool
}

func run(url string, n, inflight int, dur time.Duration) error {
	setups := []setup{{"non-durable (oslo.messaging default)", false}, {"durable queue, persistent messages, confirms, manual ack", true}}
	fmt.Printf("## RabbitMQ request/reply (oslo.messaging style)\n\n")
	fmt.Printf("- date: %s\n- machine: %d cores, %s\n- load average (1 min) at start: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.Version(), loadAvg())
	fmt.Printf("- command: cd bench/amqp && go run . %s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("- one server (consumer) and one client in this process, separate connections, loopback\n\n")
	fmt.Println("| set-up | p50 ms | p90 ms | p99 ms | calls/s with", inflight, "in flight |")
	fmt.Println("|---|---|---|---|---|")
	for i, s := range setups {
		srv, err := startServer(url, s, fmt.Sprintf("nova-bench-%d", i), fmt.Sprintf("compute.h1.bench%d", i))
		if err != nil {
			return err
		}
		cl, err := newClient(url, s, srv.exchange, srv.queue)
		if err != nil {
			return err
		}
		ctx := context.Background()
		for j := range 200 { // warm-up
			if _, err := cl.call(ctx, j); err != nil {
				return err
			}
		}
		var lat []time.Duration
		for j := range n {
			t := time.Now()
			if _, err := cl.call(ctx, j); err != nil {
				return err
			}
			lat = append(lat, time.Since(t))
		}
		slices.Sort(lat)
		at := func(p float64) time.Duration { return lat[min(int(p*float64(len(lat))), len(lat)-1)] }
		var done atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(dur)
		start := time.Now()
		for range inflight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					if _, err := cl.call(ctx, 0); err == nil {
						done.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		rate := float64(done.Load()) / time.Since(start).Seconds()
		fmt.Printf("| %s | %.3f | %.3f | %.3f | %.0f |\n", s.name, msf(at(0.5)), msf(at(0.9)), msf(at(0.99)), rate)
		cl.close()
		srv.close()
	}
	fmt.Printf("\nload average (1 min) at end: %s\n", loadAvg())
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// server consumes calls from its queue and replies to each caller's reply
// queue, as an oslo.messaging RPC server does.
type server struct {
	conn            *amqp.Connection
	exchange, queue string
}

func startServer(url string, s setup, exchange, queue string) (*server, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("connect to RabbitMQ at %s (is rabbitmq-server running?): %w", url, err)
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.ExchangeDeclare(exchange, "topic", s.durable, !s.durable, false, false, nil); err != nil {
		return nil, err
	}
	q, err := ch.QueueDeclare(queue, s.durable, !s.durable, false, false, nil)
	if err != nil {
		return nil, err
	}
	if err := ch.QueueBind(q.Name, queue, exchange, false, nil); err != nil {
		return nil, err
	}
	if err := ch.Qos(64, 0, false); err != nil {
		return nil, err
	}
	msgs, err := ch.Consume(q.Name, "", !s.durable, false, false, false, nil)
	if err != nil {
		return nil, err
	}
	pub, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	go func() {
		for m := range msgs {
			reply := amqp.Publishing{ContentType: "application/json", CorrelationId: m.CorrelationId, Body: m.Body}
			if s.durable {
				reply.DeliveryMode = amqp.Persistent
			}
			pub.PublishWithContext(context.Background(), "", m.ReplyTo, false, false, reply)
			if s.durable {
				m.Ack(false)
			}
		}
	}()
	return &server{conn: conn, exchange: exchange, queue: queue}, nil
}

func (s *server) close() { s.conn.Close() }

// client sends calls and waits for their replies on its own reply queue.
type client struct {
	conn     *amqp.Connection
	ch       *amqp.Channel
	reply    string
	exchange string
	queue    string
	durable  bool
	confirm  chan amqp.Confirmation
	mu       sync.Mutex // publishing (and its confirm) one at a time
	waiting  sync.Map   // correlation id -> chan []byte
	seq      atomic.Int64
}

func newClient(url string, s setup, exchange, queue string) (*client, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil) // reply_<uuid>: non-durable, auto-delete
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, ch: ch, reply: q.Name, exchange: exchange, queue: queue, durable: s.durable}
	if s.durable {
		if err := ch.Confirm(false); err != nil {
			return nil, err
		}
		c.confirm = ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	}
	rch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	msgs, err := rch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return nil, err
	}
	go func() {
		for m := range msgs {
			if w, ok := c.waiting.LoadAndDelete(m.CorrelationId); ok {
				w.(chan []byte) <- m.Body
			}
		}
	}()
	return c, nil
}

func (c *client) call(ctx context.Context, seq int) ([]byte, error) {
	id := fmt.Sprintf("%d", c.seq.Add(1))
	w := make(chan []byte, 1)
	c.waiting.Store(id, w)
	msg := amqp.Publishing{ContentType: "application/json", CorrelationId: id, ReplyTo: c.reply,
		Body: []byte(fmt.Sprintf(`{"method":"ping","args":{"seq":%d}}`, seq))}
	if c.durable {
		msg.DeliveryMode = amqp.Persistent
	}
	c.mu.Lock()
	err := c.ch.PublishWithContext(ctx, c.exchange, c.queue, false, false, msg)
	if err == nil && c.durable {
		if conf := <-c.confirm; !conf.Ack {
			err = fmt.Errorf("publish not confirmed")
		}
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case b := <-w:
		return b, nil
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("no reply within 60s (MessagingTimeout)")
	}
}

func (c *client) close() { c.conn.Close() }
