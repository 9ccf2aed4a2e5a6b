// A client built against Debian's sarama 1.22 (golang-github-shopify-sarama-dev), the one old Go
// programs still link: it produces with the old message formats and commits offsets with
// OffsetCommit v1. Used by scripts/compat-legacy.sh.
//
//	produce  BROKER TOPIC VERSION FIRST COUNT CODEC
//	                                            sends values FIRST..FIRST+COUNT-1 keyed k<i>
//	simple   BROKER TOPIC GROUP COUNT           reads COUNT messages from partition 0 from the
//	                                            group's committed offset (OffsetManager, v1
//	                                            commits), prints "offset value", commits, exits
//	group    BROKER TOPIC GROUP COUNT VERSION   the same through a consumer group (JoinGroup,
//	                                            SyncGroup, Heartbeat, OffsetCommit v1 whatever
//	                                            the version: sarama 1.22 commits with v1 unless
//	                                            Consumer.Offsets.Retention is set)
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
)

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func version(name string) sarama.KafkaVersion {
	v, err := sarama.ParseKafkaVersion(name)
	if err != nil {
		die("version %s: %v", name, err)
	}
	return v
}

func codec(name string) sarama.CompressionCodec {
	switch name {
	case "none":
		return sarama.CompressionNone
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	}
	die("codec %s", name)
	return sarama.CompressionNone
}

func produce(broker, topic string, v sarama.KafkaVersion, first, count int, c sarama.CompressionCodec) {
	conf := sarama.NewConfig()
	conf.Version = v
	conf.Producer.Return.Successes = true
	conf.Producer.RequiredAcks = sarama.WaitForAll
	conf.Producer.Compression = c
	p, err := sarama.NewSyncProducer([]string{broker}, conf)
	if err != nil {
		die("producer: %v", err)
	}
	defer p.Close()
	for i := first; i < first+count; i++ {
		msg := &sarama.ProducerMessage{Topic: topic, Partition: 0,
			Key: sarama.StringEncoder("k" + strconv.Itoa(i)), Value: sarama.StringEncoder("v" + strconv.Itoa(i))}
		if _, _, err := p.SendMessage(msg); err != nil {
			die("send %d: %v", i, err)
		}
	}
}

func simple(broker, topic, group string, count int) {
	conf := sarama.NewConfig() // sarama's oldest protocol (Kafka 0.8.2): Fetch v0, OffsetCommit v1
	conf.Consumer.Offsets.Initial = sarama.OffsetOldest
	client, err := sarama.NewClient([]string{broker}, conf)
	if err != nil {
		die("client: %v", err)
	}
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		die("offset manager: %v", err)
	}
	pom, err := om.ManagePartition(topic, 0)
	if err != nil {
		die("manage partition: %v", err)
	}
	next, _ := pom.NextOffset()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		die("consumer: %v", err)
	}
	pc, err := consumer.ConsumePartition(topic, 0, next)
	if err != nil {
		die("consume from %d: %v", next, err)
	}
	for i := 0; i < count; i++ {
		select {
		case m := <-pc.Messages():
			fmt.Printf("%d %s=%s\n", m.Offset, m.Key, m.Value)
			pom.MarkOffset(m.Offset+1, "")
		case err := <-pc.Errors():
			die("consume: %v", err)
		case <-time.After(15 * time.Second):
			die("timed out after %d messages", i)
		}
	}
	pc.Close()
	// Closing the partition offset manager and the manager commits what was marked.
	pom.Close()
	for err := range pom.Errors() {
		die("commit: %v", err)
	}
	om.Close()
}

type handler struct {
	left int
	done chan struct{}
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		if h.left == 0 {
			return nil
		}
		fmt.Printf("%d %s=%s\n", m.Offset, m.Key, m.Value)
		s.MarkMessage(m, "")
		h.left--
		if h.left == 0 {
			close(h.done)
			return nil
		}
	}
	return nil
}

func groupConsume(broker, topic, group string, count int, v sarama.KafkaVersion) {
	conf := sarama.NewConfig()
	conf.Version = v // from 0.10.2: JoinGroup v1; Fetch v3 (magic 1) before 0.11, v4+ after
	conf.Consumer.Offsets.Initial = sarama.OffsetOldest
	conf.Consumer.Return.Errors = true
	g, err := sarama.NewConsumerGroup([]string{broker}, group, conf)
	if err != nil {
		die("group: %v", err)
	}
	h := &handler{left: count, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for err := range g.Errors() {
			fmt.Fprintf(os.Stderr, "group error: %v\n", err)
		}
	}()
	go func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil {
				die("consume: %v", err)
			}
		}
	}()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		die("timed out with %d messages left", h.left)
	}
	cancel()
	// Closing the group commits the marked offsets and leaves.
	if err := g.Close(); err != nil {
		die("close: %v", err)
	}
}

func main() {
	a := os.Args
	if len(a) < 2 {
		die("usage: see the comment at the top of main.go")
	}
	n := func(s string) int {
		i, err := strconv.Atoi(s)
		if err != nil {
			die("%s: %v", s, err)
		}
		return i
	}
	switch {
	case a[1] == "produce" && len(a) == 8:
		produce(a[2], a[3], version(a[4]), n(a[5]), n(a[6]), codec(a[7]))
	case a[1] == "simple" && len(a) == 6:
		simple(a[2], a[3], a[4], n(a[5]))
	case a[1] == "group" && len(a) == 7:
		groupConsume(a[2], a[3], a[4], n(a[5]), version(a[6]))
	default:
		die("bad arguments: %v", a[1:])
	}
}
