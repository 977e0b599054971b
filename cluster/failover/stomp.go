package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// stompWriteTimeout bounds one write to the broker: a broker that stops
// reading for this long is declared lost.
const stompWriteTimeout = 30 * time.Second

// errTransportClosed is the error of a transport closed by the Conn.
var errTransportClosed = errors.New("connection closed by the client")

// stompTransport is one STOMP 1.1/1.2 connection: go-stomp's frame types,
// encoded by protocols/stomp/wire and decoded by its bounded reader. It has
// one reader goroutine, which dispatches RECEIPT, MESSAGE and ERROR frames
// in order, and one writer goroutine, which writes everything queued in
// one write per wake-up and sends heart-beats when idle.
type stompTransport struct {
	c      *Conn
	b      Broker
	nc     net.Conn
	rd     *wire.Reader // owned by the reader goroutine after dial
	ver    wire.Version
	list   []Broker
	hbSend time.Duration // the writer sends an EOL after this long idle; 0 never
	hbRecv time.Duration // the read deadline; 0 none

	wmu  sync.Mutex
	wbuf []byte // encoded frames for the writer; guarded by wmu
	wake chan struct{}

	mu       sync.Mutex
	receipts map[string]stompWaiter   // by receipt id; guarded by mu
	subs     map[string]*Subscription // by subscription id; guarded by mu
	nextID   uint64                   // guarded by mu

	failOnce sync.Once
	doneCh   chan struct{}
	failErr  error // set before doneCh is closed
}

// stompWaiter is what a RECEIPT (or an ERROR naming it) completes: a send,
// or a request waiting on ch.
type stompWaiter struct {
	r  *Receipt
	ch chan *frame.Frame // capacity 1
}

var _ transport = (*stompTransport)(nil)

// dialSTOMP connects to b and runs the STOMP handshake (STOMP 1.2
// "Connecting"): CONNECT with accept-version 1.1,1.2, heart-beats, the
// credentials and client-id, until ctx ends.
func dialSTOMP(ctx context.Context, c *Conn, b Broker) (*stompTransport, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", b.Addr)
	if err != nil {
		return nil, err
	}
	t := &stompTransport{
		c: c, b: b, nc: nc,
		rd:       wire.NewReader(nc, wire.Limits{}),
		wake:     make(chan struct{}, 1),
		receipts: map[string]stompWaiter{},
		subs:     map[string]*Subscription{},
		doneCh:   make(chan struct{}),
	}
	if err := t.handshake(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	go t.readLoop()
	go t.writeLoop()
	return t, nil
}

// handshake sends CONNECT and reads CONNECTED (or the ERROR refusing it),
// negotiating the version and heart-beats and reading the announced
// broker list, with ctx's deadline on the connection.
func (t *stompTransport) handshake(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = t.nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = t.nc.SetDeadline(time.Now()) })
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	host := t.c.opts.Host
	if host == "" {
		host, _, _ = net.SplitHostPort(t.b.Addr)
	}
	hb := max(t.c.opts.Heartbeat, 0)
	f := frame.New("CONNECT", frame.AcceptVersion, "1.1,1.2", frame.Host, host,
		frame.HeartBeat, msString(hb)+","+msString(hb))
	login, pass := t.c.credentials(t.b)
	if login != "" || pass != "" {
		f.Header.Add(frame.Login, login)
		f.Header.Add(frame.Passcode, pass)
	}
	if id := t.c.opts.ClientID; id != "" {
		f.Header.Add("client-id", id)
	}
	if _, err := t.nc.Write(wire.AppendFrame(nil, f, wire.V10)); err != nil {
		return ctxOr(ctx, err)
	}
	var resp *frame.Frame
	for resp == nil { // skip heart-beats
		var err error
		if resp, err = t.rd.Read(); err != nil {
			return ctxOr(ctx, err)
		}
	}
	switch resp.Command {
	case "CONNECTED":
	case "ERROR":
		if re := t.redirect(resp); re != nil {
			return re
		}
		return t.brokerError(resp)
	default:
		return fmt.Errorf("expected CONNECTED, got %s", resp.Command)
	}
	switch v := resp.Header.Get(frame.Version); v {
	case "1.2":
		t.ver = wire.V12
	case "1.1":
		t.ver = wire.V11
	default:
		return fmt.Errorf("broker speaks STOMP %q; the failover client needs 1.1 or 1.2", v)
	}
	t.rd.SetVersion(t.ver)
	if v, ok := resp.Header.Contains(frame.HeartBeat); ok && hb > 0 {
		// STOMP 1.2 "Heart-beating": the broker sends every sx and wants
		// one every sy; we offered hb both ways.
		sx, sy, err := frame.ParseHeartBeat(v)
		if err != nil {
			return fmt.Errorf("CONNECTED heart-beat %q: %w", v, err)
		}
		if sy > 0 {
			t.hbSend = max(hb, sy)
		}
		if sx > 0 {
			t.hbRecv = 2*max(hb, sx) + time.Second
		}
	}
	if v := resp.Header.Get(ServerListKey); v != "" {
		list, errs := ParseSTOMPServerList(v)
		for _, err := range errs {
			t.c.log.Debug().Err(err).Str("broker", t.b.String()).Msg("failover: ignoring a member of the announced broker list")
		}
		t.list = list
	}
	stopped = true
	if !stop() {
		return ctx.Err() // the deadline may have been cut short
	}
	return t.nc.SetDeadline(time.Time{})
}

// ctxOr returns ctx's error if it ended (the deadline cut an I/O short),
// else err.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// msString formats d in whole milliseconds.
func msString(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func (t *stompTransport) broker() Broker        { return t.b }
func (t *stompTransport) servers() []Broker     { return t.list }
func (t *stompTransport) done() <-chan struct{} { return t.doneCh }

func (t *stompTransport) err() error {
	select {
	case <-t.doneCh:
		return t.failErr
	default:
		return nil
	}
}

// fail ends the connection with err, once.
func (t *stompTransport) fail(err error) {
	t.failOnce.Do(func() {
		t.failErr = err
		close(t.doneCh)
		_ = t.nc.Close()
	})
}

// brokerError converts an ERROR frame.
func (t *stompTransport) brokerError(f *frame.Frame) *BrokerError {
	msg := f.Header.Get(frame.Message)
	if msg == "" {
		msg = strings.TrimSpace(string(f.Body))
	}
	return &BrokerError{Broker: t.b.String(), Message: msg}
}

// redirect returns the redirect an ERROR frame carries, or nil; a
// malformed mqgate-redirect header is logged and the frame is an ordinary
// ERROR.
func (t *stompTransport) redirect(f *frame.Frame) *RedirectError {
	re, err := stompRedirect(t.b, f)
	if err != nil {
		t.c.log.Warn().Err(err).Str("broker", t.b.String()).Msg("failover: ignoring a bad redirect")
	}
	return re
}

// write queues f for the writer goroutine.
func (t *stompTransport) write(f *frame.Frame) error {
	t.wmu.Lock()
	select {
	case <-t.doneCh:
		t.wmu.Unlock()
		return t.failErr
	default:
	}
	t.wbuf = wire.AppendFrame(t.wbuf, f, t.ver)
	t.wmu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

// writeLoop writes what write queued, in one write per wake-up, and a
// heart-beat after hbSend without a write.
func (t *stompTransport) writeLoop() {
	var spare []byte
	var hb *time.Timer
	var hbC <-chan time.Time
	if t.hbSend > 0 {
		hb = time.NewTimer(t.hbSend)
		defer hb.Stop()
		hbC = hb.C
	}
	for {
		t.wmu.Lock()
		buf := t.wbuf
		t.wbuf = spare[:0]
		t.wmu.Unlock()
		if len(buf) > 0 {
			_ = t.nc.SetWriteDeadline(time.Now().Add(stompWriteTimeout))
			if _, err := t.nc.Write(buf); err != nil {
				t.fail(err)
				return
			}
			if hb != nil {
				hb.Reset(t.hbSend)
			}
		}
		spare = buf
		select {
		case <-t.wake:
		case <-t.doneCh:
			return
		case <-hbC:
			_ = t.nc.SetWriteDeadline(time.Now().Add(stompWriteTimeout))
			if _, err := t.nc.Write([]byte{'\n'}); err != nil {
				t.fail(err)
				return
			}
			hb.Reset(t.hbSend)
		}
	}
}

// readLoop reads and dispatches frames until the connection fails.
func (t *stompTransport) readLoop() {
	for {
		if t.hbRecv > 0 {
			_ = t.nc.SetReadDeadline(time.Now().Add(t.hbRecv))
		}
		f, err := t.rd.Read()
		if err != nil {
			t.fail(err)
			return
		}
		if f == nil {
			continue // heart-beat
		}
		switch f.Command {
		case "MESSAGE":
			t.mu.Lock()
			s := t.subs[f.Header.Get(frame.Subscription)]
			t.mu.Unlock()
			if s == nil {
				continue // unsubscribed meanwhile
			}
			m := t.message(f, s)
			if !s.push(m, t.doneCh) {
				select {
				case <-t.doneCh:
					return
				default: // the subscription ended; drop it
				}
			}
		case "RECEIPT":
			t.mu.Lock()
			w, ok := t.receipts[f.Header.Get(frame.ReceiptId)]
			delete(t.receipts, f.Header.Get(frame.ReceiptId))
			t.mu.Unlock()
			if ok {
				t.complete(w, f)
			}
		case "ERROR":
			if re := t.redirect(f); re != nil {
				// Not a refusal: what the frame names stays pending and
				// goes to the broker the client moves to.
				t.fail(re)
				return
			}
			be := t.brokerError(f)
			if id, ok := f.Header.Contains(frame.ReceiptId); ok {
				t.mu.Lock()
				w, ok := t.receipts[id]
				delete(t.receipts, id)
				t.mu.Unlock()
				if ok {
					t.complete(w, f)
				}
			}
			t.fail(be) // STOMP 1.2: the broker closes the connection after ERROR
			return
		}
	}
}

// complete hands a RECEIPT or ERROR to what waits for it.
func (t *stompTransport) complete(w stompWaiter, f *frame.Frame) {
	if w.r != nil {
		var err error
		if f.Command == "ERROR" {
			err = t.brokerError(f)
		}
		t.c.finish(w.r, err)
		return
	}
	w.ch <- f
}

// message converts a MESSAGE frame of subscription s.
func (t *stompTransport) message(f *frame.Frame, s *Subscription) *Message {
	h := f.Header
	m := &Message{
		ID:          h.Get(frame.MessageId),
		Destination: h.Get(frame.Destination),
		Body:        f.Body,
		ContentType: h.Get(frame.ContentType),
		Persistent:  h.Get("persistent") == "true",
		Redelivered: h.Get("redelivered") == "true",
		Props:       make(map[string]any, h.Len()),
		sub:         s, t: t,
	}
	m.ackID = m.ID
	if t.ver == wire.V12 {
		if a, ok := h.Contains(frame.Ack); ok {
			m.ackID = a
		}
	}
	if n, err := strconv.ParseUint(h.Get("JMSXDeliveryCount"), 10, 32); err == nil && n > 0 {
		m.DeliveryCount = uint32(n - 1)
	} else if m.Redelivered {
		m.DeliveryCount = 1
	}
	for i := range h.Len() {
		k, v := h.GetAt(i)
		switch k {
		case frame.Subscription, frame.Ack, frame.MessageId, frame.Destination, frame.ContentType, frame.ContentLength:
			continue
		}
		if _, dup := m.Props[k]; !dup { // STOMP 1.2: the first of repeated headers counts
			m.Props[k] = v
		}
	}
	m.setProducer()
	return m
}

// register records a waiter and returns its receipt id, or the failure.
func (t *stompTransport) register(w stompWaiter, id string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.doneCh:
		return "", t.failErr
	default:
	}
	if id == "" {
		t.nextID++
		id = "r-" + strconv.FormatUint(t.nextID, 10)
	}
	t.receipts[id] = w
	return id, nil
}

// request sends f with a receipt and waits for the RECEIPT (nil), an
// ERROR (a *BrokerError), the connection's failure or ctx.
func (t *stompTransport) request(ctx context.Context, f *frame.Frame) error {
	w := stompWaiter{ch: make(chan *frame.Frame, 1)}
	id, err := t.register(w, "")
	if err != nil {
		return err
	}
	f.Header.Set(frame.Receipt, id)
	if err := t.write(f); err != nil {
		return err
	}
	reply := func(rf *frame.Frame) error {
		if rf.Command == "ERROR" {
			return t.brokerError(rf)
		}
		return nil
	}
	select {
	case rf := <-w.ch:
		return reply(rf)
	case <-t.doneCh:
		select { // an ERROR is handed over before the failure
		case rf := <-w.ch:
			return reply(rf)
		default:
		}
		return t.failErr
	case <-ctx.Done():
		t.mu.Lock()
		delete(t.receipts, id)
		t.mu.Unlock()
		return ctx.Err()
	}
}

// send writes a SEND with a receipt whose id names the producer sequence.
func (t *stompTransport) send(r *Receipt) error {
	seq := strconv.FormatUint(r.seq, 10)
	f := frame.New("SEND", frame.Destination, r.dest, frame.ContentLength, "")
	if r.opts.ContentType != "" {
		f.Header.Add(frame.ContentType, r.opts.ContentType)
	}
	if r.opts.Persistent {
		f.Header.Add("persistent", "true")
	}
	keys := make([]string, 0, len(r.opts.Props))
	for k := range r.opts.Props {
		if !reservedProp(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		f.Header.Add(k, propText(r.opts.Props[k]))
	}
	f.Header.Add(HeaderProducerID, t.c.producerID)
	f.Header.Add(HeaderProducerSeq, seq)
	if r.sends++; r.sends > 1 {
		f.Header.Add(HeaderResend, "true")
	}
	f.Body = r.body
	id, err := t.register(stompWaiter{r: r}, "s-"+seq)
	if err != nil {
		return err
	}
	f.Header.Add(frame.Receipt, id)
	return t.write(f)
}

// reservedProp reports the property names the Conn sets itself.
func reservedProp(k string) bool {
	switch strings.ToLower(k) {
	case "destination", "receipt", "content-length", "content-type", "transaction", "persistent",
		HeaderProducerID, HeaderProducerSeq, HeaderResend:
		return true
	}
	return false
}

// propText renders a property value as a STOMP header value.
func propText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func (t *stompTransport) subscribe(ctx context.Context, s *Subscription) error {
	f := frame.New("SUBSCRIBE", frame.Id, s.id, frame.Destination, s.dest, frame.Ack, s.opts.Ack.String())
	if s.opts.Prefetch > 0 {
		f.Header.Add("activemq.prefetchSize", strconv.Itoa(s.opts.Prefetch))
	}
	if s.opts.Selector != "" {
		f.Header.Add("selector", s.opts.Selector)
	}
	if s.opts.Durable != "" {
		f.Header.Add("activemq.subscriptionName", s.opts.Durable)
	}
	t.mu.Lock()
	t.subs[s.id] = s
	t.mu.Unlock()
	if err := t.request(ctx, f); err != nil {
		t.mu.Lock()
		delete(t.subs, s.id)
		t.mu.Unlock()
		if ctx.Err() != nil {
			// The caller gave up waiting; the broker may have the
			// subscription all the same.
			_ = t.write(frame.New("UNSUBSCRIBE", frame.Id, s.id))
		}
		return err
	}
	return nil
}

func (t *stompTransport) unsubscribe(ctx context.Context, s *Subscription) error {
	err := t.request(ctx, frame.New("UNSUBSCRIBE", frame.Id, s.id))
	t.mu.Lock()
	delete(t.subs, s.id)
	t.mu.Unlock()
	return err
}

func (t *stompTransport) settle(_ context.Context, m *Message, o outcome) error {
	cmd := "ACK"
	if o != accepted {
		cmd = "NACK"
	}
	var f *frame.Frame
	if t.ver == wire.V12 {
		f = frame.New(cmd, frame.Id, m.ackID)
	} else {
		f = frame.New(cmd, frame.MessageId, m.ackID, frame.Subscription, m.sub.id)
	}
	if o == released {
		f.Header.Add("requeue", "true")
	}
	if err := t.write(f); err != nil {
		return fmt.Errorf("%w: %w", errLost, err)
	}
	return nil
}

// close sends DISCONNECT and waits for its receipt (the broker has then
// handled every earlier frame) until ctx ends, then closes.
func (t *stompTransport) close(ctx context.Context) error {
	err := t.request(ctx, frame.New("DISCONNECT"))
	t.fail(errTransportClosed)
	if ctx.Err() != nil {
		return fmt.Errorf("disconnecting from %s: %w", t.b, err)
	}
	return nil // a connection that failed meanwhile is closed all the same
}
