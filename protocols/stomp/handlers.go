package stomp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/backend/selector"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// handle runs one client frame on the reader goroutine. A returned error
// becomes an ERROR frame and ends the connection.
func (c *conn) handle(f *frame.Frame) *frameError {
	if !c.connected {
		if f.Command != "CONNECT" && f.Command != "STOMP" {
			return errorf("expected a CONNECT frame, got " + f.Command)
		}
		return c.onConnect(f)
	}
	if f.Command != "ACK" {
		c.flushAcks() // settle what was acknowledged before this frame
	}
	var err *frameError
	switch f.Command {
	case "SEND":
		err = c.onSend(f)
	case "SUBSCRIBE":
		err = c.onSubscribe(f)
	case "UNSUBSCRIBE":
		err = c.onUnsubscribe(f)
	case "ACK":
		err = c.onAck(f, true)
	case "NACK":
		if c.version == wire.V10 {
			return errorf("NACK is not a STOMP 1.0 command")
		}
		err = c.onAck(f, false)
	case "BEGIN", "COMMIT", "ABORT":
		err = c.onTx(f)
	case "DISCONNECT":
		// Release everything before the RECEIPT, so that a client that
		// reconnects on it finds its client id, durable subscriptions and
		// temporary destinations free (as ActiveMQ does).
		c.disconnected = true
		c.cleanup()
	case "CONNECT", "STOMP":
		return errorf("already connected")
	default:
		return errorf("unknown STOMP command " + strconv.Quote(f.Command))
	}
	if err != nil {
		return err
	}
	if r, ok := f.Header.Contains(frame.Receipt); ok {
		return c.receipt(f, r)
	}
	return nil
}

// receipt sends RECEIPT once everything the frame did is safe: the
// connection's publishes stored and, for settlements, their acks written.
func (c *conn) receipt(f *frame.Frame, id string) *frameError {
	if err := c.waitPublishes(); err != nil {
		return &frameError{msg: "message could not be stored", detail: err.Error()}
	}
	switch f.Command {
	case "ACK", "NACK", "DISCONNECT", "UNSUBSCRIBE":
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := c.b.Sync(ctx)
		cancel()
		if err != nil {
			return &frameError{msg: "acknowledgement could not be stored", detail: err.Error()}
		}
	}
	c.queueFrame(frame.New("RECEIPT", frame.ReceiptId, id))
	return nil
}

// supported versions, newest first.
var versions = []struct {
	s string
	v wire.Version
}{{"1.2", wire.V12}, {"1.1", wire.V11}, {"1.0", wire.V10}}

// onConnect negotiates the version and heart-beats (STOMP 1.2 "Connecting").
func (c *conn) onConnect(f *frame.Frame) *frameError {
	h := f.Header
	accept, has := h.Contains(frame.AcceptVersion)
	ver, found := wire.V10, !has
	if has {
		offered := strings.Split(accept, ",")
	pick:
		for _, sv := range versions {
			for _, o := range offered {
				if strings.TrimSpace(o) == sv.s {
					ver, found = sv.v, true
					break pick
				}
			}
		}
	}
	if !found {
		c.queueFrame(frame.New("ERROR", frame.Version, "1.0,1.1,1.2", "message", "Supported protocol versions are 1.0,1.1,1.2"))
		c.disconnected = true
		return nil
	}
	if id, ok := h.Contains("client-id"); ok && id != "" {
		if err := c.b.ClaimClientID(id); err != nil {
			return errorf(err.Error())
		}
		c.clientID, c.owner = id, id
	}
	cx, cy := time.Duration(0), time.Duration(0)
	if hb, ok := h.Contains(frame.HeartBeat); ok && ver != wire.V10 {
		var err error
		if cx, cy, err = frame.ParseHeartBeat(hb); err != nil {
			return errorf("invalid heart-beat header " + strconv.Quote(hb) + ": expected two comma-separated numbers of milliseconds")
		}
	}
	minHB := c.srv.opts.HeartbeatMin
	// The client sends every cx at the most; we want beats no more often
	// than minHB. We can send every minHB; the client wants one every cy.
	if cx > 0 {
		c.hbRecv = max(cx, minHB)
	}
	c.wmu.Lock() // the writer reads hbSend under wmu
	if cy > 0 {
		c.hbSend = max(cy, minHB)
	}
	c.wmu.Unlock()
	c.version = ver
	c.rd.SetVersion(ver)
	c.connected = true
	if c.hbRecv == 0 {
		c.setReadDeadline(time.Time{})
	}
	// STOMP 1.2 "Heart-beating": CONNECTED says how often the server
	// will send (hbSend) and wants to receive (hbRecv); 0 is never.
	// ActiveMQ sends version and heart-beat to 1.0 clients too.
	resp := frame.New("CONNECTED", frame.Session, c.id, frame.Server, c.srv.opts.ServerName,
		frame.Version, versions[2-int(ver)].s, frame.HeartBeat, msOf(c.hbSend)+","+msOf(c.hbRecv))
	if c.srv.opts.ServerList != nil {
		if list := c.srv.opts.ServerList(); len(list) > 0 {
			resp.Header.Add(headerServerList, strings.Join(list, ","))
		}
	}
	c.queueFrame(resp)
	c.log.Debug().Str("version", ver.String()).Str("client_id", c.clientID).
		Dur("hb_send", c.hbSend).Dur("hb_recv", c.hbRecv).Msg("connected")
	return nil
}

// headerServerList is the CONNECTED header naming the cluster's brokers
// (see Options.ServerList).
const headerServerList = "failover-server-list"

// unescape10 decodes the STOMP 1.1 escapes in s, leaving any other
// backslash as it is.
func unescape10(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'c':
				b.WriteByte(':')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func msOf(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// destination returns the frame's destination header parsed.
func (c *conn) destination(f *frame.Frame) (backend.Destination, bool, *frameError) {
	s, ok := f.Header.Contains(frame.Destination)
	if !ok || s == "" {
		return backend.Destination{}, false, errorf(f.Command + " frame has no destination header")
	}
	d, own, err := c.parseDest(s)
	if err != nil {
		return d, false, errorf(err.Error())
	}
	return d, own, nil
}

// ensureTemp registers one of this connection's temporary destinations.
func (c *conn) ensureTemp(d backend.Destination) error {
	if _, ok := c.temps[d]; ok {
		return nil
	}
	if err := c.b.CreateTemp(d, c.owner); err != nil {
		return err
	}
	c.temps[d] = struct{}{}
	return nil
}

// onSend publishes a SEND. A destination list separated by commas
// ("/queue/a,/topic/b") is an ActiveMQ composite destination: each member
// gets its own copy.
func (c *conn) onSend(f *frame.Frame) *frameError {
	raw := f.Header.Get(frame.Destination)
	names := []string{raw}
	if strings.IndexByte(raw, ',') >= 0 {
		names = strings.Split(raw, ",")
	}
	var txn *backend.Tx
	if txid, ok := f.Header.Contains(frame.Transaction); ok {
		if txn, ok = c.txs[txid]; !ok {
			return errorf("transaction " + strconv.Quote(txid) + " is not active")
		}
	}
	for _, name := range names {
		if ferr := c.sendOne(f, strings.TrimSpace(name), txn); ferr != nil {
			return ferr
		}
	}
	return nil
}

// sendOne publishes f to one destination, within txn if it is not nil.
func (c *conn) sendOne(f *frame.Frame, name string, txn *backend.Tx) *frameError {
	if name == "" {
		return errorf(f.Command + " frame has no destination header")
	}
	d, own, err := c.parseDest(name)
	if err != nil {
		return errorf(err.Error())
	}
	if own {
		if err := c.ensureTemp(d); err != nil {
			return errorf(err.Error())
		}
	}
	m, err := c.messageFromSend(f, d)
	if err != nil {
		return errorf(err.Error())
	}
	if txn != nil {
		if err := txn.Publish(m); err != nil {
			return errorf(err.Error())
		}
		return nil
	}
	c.trackPublish()
	if err := c.b.PublishAsync(m, c.publishDone); err != nil {
		c.publishDone(nil)
		if errors.Is(err, backend.ErrNoDestination) {
			return errorf("cannot publish to a deleted destination: " + name)
		}
		return errorf(err.Error())
	}
	return nil
}

// onSubscribe handles SUBSCRIBE. A destination list separated by commas
// ("/queue/a,/queue/b") is an ActiveMQ composite destination: one
// subscription fed by every member; a queue name with wildcards
// ("/queue/orders.>") consumes from every matching queue, existing and
// future (see backend.SubscribeOptions).
func (c *conn) onSubscribe(f *frame.Frame) *frameError {
	h := f.Header
	dests, owns, ferr := c.subscribeDests(f)
	if ferr != nil {
		return ferr
	}
	d := dests[0]
	id, ok := h.Contains(frame.Id)
	if !ok || id == "" {
		if c.version != wire.V10 {
			return errorf("SUBSCRIBE frame has no id header")
		}
		id = h.Get(frame.Destination) // STOMP 1.0: the id is optional
	}
	if _, dup := c.subs[id]; dup {
		return errorf("subscription id " + strconv.Quote(id) + " is already in use on this connection")
	}
	mode, ok := parseAckMode(h.Get(frame.Ack))
	if !ok {
		return errorf("ack header " + strconv.Quote(h.Get(frame.Ack)) + " is not one of auto, client, client-individual")
	}
	prefetch := c.srv.opts.Prefetch
	if v, ok := h.Contains("activemq.prefetchSize"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errorf("activemq.prefetchSize " + strconv.Quote(v) + " is not a positive integer")
		}
		prefetch = n
	}
	opts := backend.SubscribeOptions{
		Dest:      d,
		Composite: dests[1:],
		Credit:    prefetch,
		AutoAck:   mode == ackAuto,
		Owner:     c.owner,
		NoLocal:   h.Get("activemq.noLocal") == "true",
		Exclusive: h.Get("activemq.exclusive") == "true",
		Selector:  h.Get("selector"),
		// ActiveMQ: STOMP properties are strings, so its selectors
		// compare numeric-looking strings as numbers.
		SelectorConvertStrings: true,
	}
	if h.Get("browser") == "true" {
		// ActiveMQ's queue browser: the waiting messages, then a MESSAGE
		// with browser:end; nothing is consumed or acknowledged.
		opts.Browse, opts.AutoAck, mode = true, true, ackAuto
	}
	if v, ok := h.Contains("activemq.redeliveryDelay"); ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return errorf("activemq.redeliveryDelay " + strconv.Quote(v) + " is not a number of milliseconds")
		}
		d := time.Duration(ms) * time.Millisecond
		opts.RedeliveryDelay = &d
	}
	if v, ok := h.Contains("activemq.maximumRedeliveries"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			return errorf("activemq.maximumRedeliveries " + strconv.Quote(v) + " is not -1 (unlimited) or a count")
		}
		opts.MaxRedeliveries = &n
	}
	if v, ok := h.Contains("activemq.priority"); ok {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 127 {
			return errorf("activemq.priority " + strconv.Quote(v) + " is not a number from 0 to 127")
		}
		opts.Priority = p
	}
	durable := durableName(h)
	if durable != "" && d.Kind == backend.Topic {
		if len(dests) > 1 {
			return errorf("a durable subscription (activemq.subscriptionName) takes one topic, not a composite destination")
		}
		if c.clientID == "" {
			return errorf("a durable subscription (activemq.subscriptionName) needs a client-id header on CONNECT")
		}
		opts.ClientID, opts.DurableName = c.clientID, durable
	}
	if opts.Browse && len(dests) > 1 {
		return errorf("a queue browser (browser:true) takes one queue, not a composite destination")
	}
	for i, own := range owns {
		if own {
			if err := c.ensureTemp(dests[i]); err != nil {
				return errorf(err.Error())
			}
		}
	}
	s := &subState{c: c, id: id, index: len(c.subsByIndex), dest: d, mode: mode, durable: opts.DurableName}
	if mode != ackAuto {
		s.pending = map[string]uint64{}
	}
	sub, err := c.b.Subscribe(context.Background(), opts, s)
	if err != nil {
		switch {
		case errors.Is(err, backend.ErrNoDestination):
			return errorf("cannot subscribe to a deleted destination: " + h.Get(frame.Destination))
		case errors.Is(err, backend.ErrNotOwner):
			return errorf("cannot consume from a temporary destination of another connection: " + h.Get(frame.Destination))
		case errors.Is(err, selector.ErrInvalid):
			return &frameError{msg: "invalid selector: " + err.Error(), detail: "selector: " + opts.Selector + "\n" + err.Error()}
		case errors.Is(err, backend.ErrSubscriptionActive):
			return errorf("durable subscription " + strconv.Quote(durable) + " of client " + strconv.Quote(c.clientID) + " is already in use")
		}
		return errorf(err.Error())
	}
	s.sub = sub
	c.subs[id] = s
	c.subsByIndex = append(c.subsByIndex, s)
	c.log.Debug().Str("destination", d.String()).Str("sub", id).Str("ack", h.Get(frame.Ack)).
		Int("prefetch", prefetch).Str("durable", opts.DurableName).Msg("subscribed")
	return nil
}

// subscribeDests parses the destination header of a SUBSCRIBE: one
// destination or a comma-separated composite; owns[i] reports that
// dests[i] is one of this connection's temporary destinations.
func (c *conn) subscribeDests(f *frame.Frame) (dests []backend.Destination, owns []bool, ferr *frameError) {
	raw := f.Header.Get(frame.Destination)
	if strings.IndexByte(raw, ',') < 0 {
		d, own, ferr := c.destination(f)
		if ferr != nil {
			return nil, nil, ferr
		}
		return []backend.Destination{d}, []bool{own}, nil
	}
	for _, name := range strings.Split(raw, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, nil, errorf("SUBSCRIBE destination " + strconv.Quote(raw) + " has an empty member")
		}
		d, own, err := c.parseDest(name)
		if err != nil {
			return nil, nil, errorf(err.Error())
		}
		dests = append(dests, d)
		owns = append(owns, own)
	}
	return dests, owns, nil
}

// durableName returns the ActiveMQ durable subscription name header
// (activemq.subscriptionName, or the older misspelt and generic forms).
func durableName(h *frame.Header) string {
	for _, k := range []string{"activemq.subscriptionName", "activemq.subcriptionName", "durable-subscription-name"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

func (c *conn) onUnsubscribe(f *frame.Frame) *frameError {
	h := f.Header
	id, ok := h.Contains(frame.Id)
	if !ok || id == "" {
		if c.version != wire.V10 {
			return errorf("UNSUBSCRIBE frame has no id header")
		}
		id = h.Get(frame.Destination)
	}
	s, ok := c.subs[id]
	if !ok {
		// ActiveMQ: removing an inactive durable subscription by name.
		if name := durableName(h); name != "" && c.clientID != "" {
			if err := c.b.DeleteDurable(c.clientID, name); err != nil && !errors.Is(err, backend.ErrNoDestination) {
				return errorf(err.Error())
			}
			return nil
		}
		return errorf("no subscription with id " + strconv.Quote(id))
	}
	delete(c.subs, id)
	c.subsByIndex[s.index] = nil
	c.log.Debug().Str("destination", s.dest.String()).Str("sub", id).Msg("unsubscribed")
	if durableName(h) != "" && s.durable != "" {
		if err := s.sub.Unsubscribe(); err != nil {
			return errorf(err.Error())
		}
		return nil
	}
	s.sub.Close()
	return nil
}

// onAck handles ACK (ack true) and NACK: STOMP 1.2 "ACK"/"NACK"; 1.1 and
// 1.0 name the message with message-id (and subscription).
func (c *conn) onAck(f *frame.Frame, ack bool) *frameError {
	h := f.Header
	var msgID string
	if c.version == wire.V12 {
		msgID = h.Get(frame.Id)
	}
	if msgID == "" {
		msgID = h.Get(frame.MessageId)
	}
	if msgID == "" {
		if c.version == wire.V12 {
			return errorf(f.Command + " frame has no id header")
		}
		return errorf(f.Command + " frame has no message-id header")
	}
	if c.version == wire.V10 && strings.IndexByte(msgID, '\\') >= 0 {
		// ActiveMQ decodes \c \n \\ in 1.0 headers too, and clients
		// such as go-stomp escape them whatever the version.
		msgID = unescape10(msgID)
	}
	var s *subState
	if sid, ok := h.Contains(frame.Subscription); ok {
		if s = c.subs[sid]; s == nil {
			return errorf("no subscription with id " + strconv.Quote(sid))
		}
	} else {
		for _, cand := range c.subsByIndex {
			if cand != nil && cand.mode != ackAuto && cand.has(msgID) {
				s = cand
				break
			}
		}
	}
	if s == nil {
		return errorf("message " + strconv.Quote(msgID) + " is not waiting for " + f.Command + " on this connection")
	}
	if s.mode == ackAuto {
		return errorf("subscription " + strconv.Quote(s.id) + " uses ack:auto; it takes no " + f.Command)
	}
	tags, ok := s.take(msgID)
	if !ok {
		return errorf("message " + strconv.Quote(msgID) + " is not waiting for " + f.Command + " on subscription " + strconv.Quote(s.id))
	}
	o := backend.Accepted
	if !ack {
		// ActiveMQ: NACK is a poison ack (to the DLQ); requeue:true
		// redelivers instead.
		o = backend.Rejected
		if h.Get("requeue") == "true" {
			o = backend.Failed
		}
	}
	if txid, ok := h.Contains(frame.Transaction); ok {
		tx, ok := c.txs[txid]
		if !ok {
			return errorf("transaction " + strconv.Quote(txid) + " is not active")
		}
		for _, tag := range tags {
			_ = tx.Settle(s.sub, tag, o)
		}
		// ActiveMQ gives prefetch credit back for acks in a transaction.
		s.sub.AddCredit(len(tags))
		return nil
	}
	if _, receipt := h.Contains(frame.Receipt); o == backend.Accepted && !receipt {
		if c.ackSub != s {
			c.flushAcks()
			c.ackSub = s
		}
		c.ackTags = append(c.ackTags, tags...)
		return nil
	}
	c.flushAcks()
	_ = s.sub.SettleAndCredit(tags, o, len(tags))
	return nil
}

// maxAckBatch bounds the ACKs settled together.
const maxAckBatch = 256

// flushAcks settles the ACKs held back for batching (conn.ackTags) and
// refills their prefetch window. Reader goroutine.
func (c *conn) flushAcks() {
	if c.ackSub == nil {
		return
	}
	_ = c.ackSub.sub.SettleAndCredit(c.ackTags, backend.Accepted, len(c.ackTags))
	c.ackSub = nil
	clear(c.ackTags)
	c.ackTags = c.ackTags[:0]
}

func (c *conn) onTx(f *frame.Frame) *frameError {
	id := f.Header.Get(frame.Transaction)
	if id == "" {
		return errorf(f.Command + " frame has no transaction header")
	}
	tx, active := c.txs[id]
	switch f.Command {
	case "BEGIN":
		if active {
			return errorf("transaction " + strconv.Quote(id) + " is already active")
		}
		c.txs[id] = c.b.Begin()
		return nil
	}
	if !active {
		return errorf("transaction " + strconv.Quote(id) + " is not active")
	}
	delete(c.txs, id)
	if f.Command == "ABORT" {
		tx.Abort()
		return nil
	}
	if err := c.waitPublishes(); err != nil {
		tx.Abort()
		return &frameError{msg: "message could not be stored", detail: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := tx.Commit(ctx); err != nil {
		return &frameError{msg: "transaction " + strconv.Quote(id) + " could not be committed", detail: fmt.Sprint(err)}
	}
	return nil
}
