// The gateway plugin's Kafka setup with IBM/sarama against Sluice: SASL/SCRAM-SHA-512 (through
// xdg-go/scram, as sarama needs a SCRAMClientGeneratorFunc), snappy compression,
// RequiredAcks=WaitForAll, and a consumer group that commits its offsets by hand
// (Consumer.Offsets.AutoCommit.Enable=false, MarkMessage then Commit).
//
// Run by scripts/security/clients_test.py, one process per phase, so that "restart" is a new
// process with new connections:
//
//	sarama produce  <flags>   creates the topic (3 partitions) and produces -n keyed records
//	sarama consume1 <flags>   a group member processes the first -half records, commits, exits
//	sarama consume2 <flags>   a new member of the group resumes exactly after the commits
//	sarama refused  <flags>   a wrong password must fail with SASL_AUTHENTICATION_FAILED
//
// Phase 1 writes what it processed to -state; phase 2 checks that it got every other record,
// each once, and that each partition starts at the committed offset.
// Prints "ok <check>" or "FAIL <check>: detail" lines; exits 1 on a failed check.
package main

import (
	"context"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// scramClient adapts xdg-go/scram to sarama.SCRAMClient (sarama's own examples do the same).
type scramClient struct {
	*scram.Client
	*scram.ClientConversation
	scram.HashGeneratorFcn
}

func (x *scramClient) Begin(user, password, authzID string) (err error) {
	x.Client, err = x.HashGeneratorFcn.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.ClientConversation = x.Client.NewConversation()
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) {
	return x.ClientConversation.Step(challenge)
}
func (x *scramClient) Done() bool { return x.ClientConversation.Done() }

var (
	brokers  = flag.String("brokers", "", "bootstrap address")
	user     = flag.String("user", "", "SCRAM user")
	password = flag.String("password", "", "SCRAM password")
	caFile   = flag.String("ca", "", "CA PEM: use SASL_SSL instead of SASL_PLAINTEXT")
	topic    = flag.String("topic", "gateway-events", "topic")
	group    = flag.String("group", "gateway-plugin", "consumer group")
	total    = flag.Int("n", 30, "records produced")
	half     = flag.Int("half", 12, "records phase 1 processes and commits")
	state    = flag.String("state", "", "file phase 1 writes and phase 2 reads")
	label    = flag.String("label", "sarama", "prefix of check names")
	failed   = false
)

func check(name string, ok bool, detail string) {
	if ok {
		fmt.Printf("ok %s %s\n", *label, name)
	} else {
		failed = true
		fmt.Printf("FAIL %s %s: %s\n", *label, name, detail)
	}
}

func config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "gateway-plugin"
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	cfg.Net.SASL.User = *user
	cfg.Net.SASL.Password = *password
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
		return &scramClient{HashGeneratorFcn: sha512.New}
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	}
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 3
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionSnappy
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 1 * time.Second
	return cfg
}

type record struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Value     string `json:"value"`
}

func produce() {
	cfg := config()
	admin, err := sarama.NewClusterAdmin([]string{*brokers}, cfg)
	if err != nil {
		check("admin client over SCRAM-SHA-512", false, err.Error())
		return
	}
	err = admin.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false)
	check("CreateTopic (3 partitions)", err == nil, fmt.Sprint(err))
	admin.Close()

	p, err := sarama.NewSyncProducer([]string{*brokers}, cfg)
	if err != nil {
		check("sync producer over SCRAM-SHA-512", false, err.Error())
		return
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, *total)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{
			Topic:   *topic,
			Key:     sarama.StringEncoder(fmt.Sprintf("route-%d", i%7)),
			Value:   sarama.StringEncoder(fmt.Sprintf("request-%03d %s", i, strings.Repeat("x", 200))),
			Headers: []sarama.RecordHeader{{Key: []byte("plugin"), Value: []byte("gateway")}},
		}
	}
	err = p.SendMessages(msgs)
	check(fmt.Sprintf("produce %d keyed records, snappy, acks=all", *total), err == nil, fmt.Sprint(err))
}

// handler processes records until `limit` are processed in total (across partitions), marks
// each processed one and commits after each, and ignores the rest (never marks them).
type handler struct {
	mu        sync.Mutex
	processed []record
	limit     int
	done      chan struct{}
	once      sync.Once
	commitErr error
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.mu.Lock()
		if len(h.processed) >= h.limit {
			h.mu.Unlock()
			continue
		}
		h.processed = append(h.processed, record{msg.Partition, msg.Offset, string(msg.Key), string(msg.Value)})
		sess.MarkMessage(msg, "")
		sess.Commit()
		full := len(h.processed) >= h.limit
		h.mu.Unlock()
		if full {
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

func consume(limit int, timeout time.Duration) ([]record, error) {
	cfg := config()
	var errMu sync.Mutex
	var commitErrs []string
	addErr := func(e string) { errMu.Lock(); commitErrs = append(commitErrs, e); errMu.Unlock() }
	cg, err := sarama.NewConsumerGroup([]string{*brokers}, *group, cfg)
	if err != nil {
		return nil, err
	}
	go func() {
		for e := range cg.Errors() {
			addErr(e.Error())
		}
	}()
	h := &handler{limit: limit, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{*topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				addErr("consume: " + err.Error())
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	select {
	case <-h.done:
	case <-time.After(timeout):
	}
	cancel()
	cg.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	errMu.Lock()
	defer errMu.Unlock()
	if len(commitErrs) > 0 {
		return h.processed, fmt.Errorf("%s", strings.Join(commitErrs, "; "))
	}
	return h.processed, nil
}

func committed() (map[int32]int64, error) {
	admin, err := sarama.NewClusterAdmin([]string{*brokers}, config())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(*group, map[string][]int32{*topic: {0, 1, 2}})
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, b := range resp.Blocks[*topic] {
		if b.Err != sarama.ErrNoError {
			return nil, b.Err
		}
		out[p] = b.Offset
	}
	return out, nil
}

func consume1() {
	got, err := consume(*half, 30*time.Second)
	check(fmt.Sprintf("group member processes and commits %d records", *half), err == nil && len(got) == *half,
		fmt.Sprintf("got %d, err %v", len(got), err))
	// The committed offset of each partition is one past the last processed record there.
	want := map[int32]int64{0: -1, 1: -1, 2: -1}
	for _, r := range got {
		if r.Offset+1 > want[r.Partition] {
			want[r.Partition] = r.Offset + 1
		}
	}
	have, err := committed()
	check("OffsetFetch shows the manual commits", err == nil && fmt.Sprint(have) == fmt.Sprint(want),
		fmt.Sprintf("committed %v, want %v, err %v", have, want, err))
	b, _ := json.Marshal(got)
	if err := os.WriteFile(*state, b, 0o644); err != nil {
		panic(err)
	}
}

func consume2() {
	b, err := os.ReadFile(*state)
	if err != nil {
		check("phase 1 state", false, err.Error())
		return
	}
	var first []record
	if err := json.Unmarshal(b, &first); err != nil {
		panic(err)
	}
	before, _ := committed()
	rest := *total - len(first)
	got, err := consume(rest, 30*time.Second)
	// Phase 2 must not read anything twice, nor anything phase 1 committed, and must see each
	// partition start exactly at its committed offset.
	seen := map[string]bool{}
	dup := []string{}
	for _, r := range first {
		seen[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = true
	}
	start := map[int32]int64{}
	for _, r := range got {
		k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
		if seen[k] {
			dup = append(dup, k)
		}
		seen[k] = true
		if s, ok := start[r.Partition]; !ok || r.Offset < s {
			start[r.Partition] = r.Offset
		}
	}
	sort.Strings(dup)
	check("restarted member resumes after the commits (no record twice, none missing)",
		err == nil && len(got) == rest && len(dup) == 0 && len(seen) == *total,
		fmt.Sprintf("got %d of %d, re-read %v, distinct %d, err %v", len(got), rest, dup, len(seen), err))
	bad := []string{}
	for p, s := range start {
		if c, ok := before[p]; ok && c >= 0 && s != c {
			bad = append(bad, fmt.Sprintf("partition %d started at %d, committed %d", p, s, c))
		}
	}
	check("each partition starts at its committed offset", len(bad) == 0, strings.Join(bad, "; "))
	values := map[string]bool{}
	for _, r := range append(first, got...) {
		values[strings.Fields(r.Value)[0]] = true
	}
	check("every produced value read back (snappy decoded)", len(values) == *total, fmt.Sprintf("%d distinct values", len(values)))
}

func refused() {
	cfg := config()
	cfg.Net.SASL.Password = "wrong-password"
	cfg.Metadata.Retry.Max = 0
	c, err := sarama.NewClient([]string{*brokers}, cfg)
	if c != nil {
		c.Close()
	}
	check("wrong password refused with SASL_AUTHENTICATION_FAILED",
		err != nil && (errors.Is(err, sarama.ErrSASLAuthenticationFailed) || strings.Contains(err.Error(), "SASL Authentication failed")),
		fmt.Sprint(err))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sarama produce|consume1|consume2|refused <flags>")
		os.Exit(2)
	}
	mode := os.Args[1]
	flag.CommandLine.Parse(os.Args[2:])
	switch mode {
	case "produce":
		produce()
	case "consume1":
		consume1()
	case "consume2":
		consume2()
	case "refused":
		refused()
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
