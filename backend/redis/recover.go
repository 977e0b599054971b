package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqgate/mqgate/backend/store"
)

// recoverPage is how many queues or messages Recover reads per round trip.
const recoverPage = 1000

// Recover replays the live state: queues in creation order, then messages
// in log order, each followed by its delivery count if it has one. It
// reads in pages of recoverPage, one round trip each.
func (s *Store) Recover(ctx context.Context, fn func(store.Record) error) error {
	if s.isClosed() {
		return store.ErrClosed
	}
	queues, err := s.client.ZRange(ctx, s.prefix+"qpos", 0, -1).Result()
	if err != nil {
		return fmt.Errorf("redis: reading queues: %w", err)
	}
	for i := 0; i < len(queues); i += recoverPage {
		names := queues[i:min(i+recoverPage, len(queues))]
		defs, err := s.client.HMGet(ctx, s.prefix+"q", names...).Result()
		if err != nil {
			return fmt.Errorf("redis: reading queues: %w", err)
		}
		for j, d := range defs {
			def, ok := d.(string)
			if !ok {
				continue
			}
			if err := fn(store.Record{Op: store.OpQueueCreate, Queue: names[j], Data: []byte(def)}); err != nil {
				return err
			}
		}
	}
	for start := int64(0); ; start += recoverPage {
		mems, err := s.client.ZRange(ctx, s.prefix+"pos", start, start+recoverPage-1).Result()
		if err != nil {
			return fmt.Errorf("redis: reading messages: %w", err)
		}
		if err := s.recoverPage(ctx, mems, fn); err != nil {
			return err
		}
		if len(mems) < recoverPage {
			return nil
		}
	}
}

// recoverPage replays the messages mems names, in their order.
func (s *Store) recoverPage(ctx context.Context, mems []string, fn func(store.Record) error) error {
	if len(mems) == 0 {
		return nil
	}
	type msg struct {
		queue, id string
		at        int // index in its queue's HMGET
	}
	msgs := make([]msg, len(mems))
	byQueue := map[string][]string{} // queue → ids, in page order
	var order []string
	for i, m := range mems {
		q, id, ok := cutLast(m, "\x00")
		if !ok {
			return fmt.Errorf("redis: malformed message member %q", m)
		}
		if _, seen := byQueue[q]; !seen {
			order = append(order, q)
		}
		msgs[i] = msg{queue: q, id: id, at: len(byQueue[q])}
		byQueue[q] = append(byQueue[q], id)
	}
	pipe := s.client.Pipeline()
	data := make(map[string]*goredis.SliceCmd, len(order))
	for _, q := range order {
		data[q] = pipe.HMGet(ctx, s.prefix+"m:"+q, byQueue[q]...)
	}
	meta := pipe.HMGet(ctx, s.prefix+"meta", mems...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis: reading messages: %w", err)
	}
	metas := meta.Val()
	for i, m := range msgs {
		d, ok := data[m.queue].Val()[m.at].(string)
		if !ok {
			continue // no data under the member: nothing to replay
		}
		id, err := strconv.ParseUint(m.id, 10, 64)
		if err != nil {
			return fmt.Errorf("redis: malformed message id %q", m.id)
		}
		if err := fn(store.Record{Op: store.OpEnqueue, Queue: m.queue, ID: id, Data: []byte(d)}); err != nil {
			return err
		}
		v, _ := metas[i].(string)
		if _, c, ok := strings.Cut(v, ","); ok {
			n, err := strconv.ParseUint(c, 10, 32)
			if err != nil {
				return fmt.Errorf("redis: malformed message meta %q", v)
			}
			if err := fn(store.Record{Op: store.OpDelivered, Queue: m.queue, ID: id, Count: uint32(n)}); err != nil {
				return err
			}
		}
	}
	return nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
