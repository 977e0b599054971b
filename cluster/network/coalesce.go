package network

import (
	"net"
	"sync"
	"time"
)

// coalesceMax bounds the bytes a coalescingConn holds before Write blocks.
const coalesceMax = 1 << 20

// closeFlushTimeout bounds how long Close waits for queued bytes (the
// client's close frame among them) to reach a slow peer.
const closeFlushTimeout = time.Second

// coalescingConn batches the writes of the AMQP client: go-amqp writes
// each frame with its own Write, and a bridge forwarding thousands of
// small messages a second spent a third of its CPU in write system calls.
// Write copies into a buffer and returns; one flusher goroutine writes
// everything queued while its previous write was in progress in one call
// (the "loopy writer" of STYLE.md habit 1), so frames go out in order,
// without delay when the connection is idle, and in large writes when it
// is busy. A write error is returned by every later Write. Read and the
// rest of net.Conn go straight to the connection.
type coalescingConn struct {
	net.Conn
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte // queued bytes; guarded by mu
	spare  []byte // the flusher's last buffer, for reuse; guarded by mu
	err    error  // the first write error; guarded by mu
	closed bool   // Close was called; guarded by mu
	done   chan struct{}
}

// newCoalescingConn wraps nc and starts its flusher.
func newCoalescingConn(nc net.Conn) *coalescingConn {
	c := &coalescingConn{Conn: nc, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.flushLoop()
	return c
}

// Write queues p; it blocks only while more than coalesceMax bytes wait.
// p is copied: the caller may reuse it.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closed && len(c.buf) > 0 && len(c.buf)+len(p) > coalesceMax {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closed:
		return 0, net.ErrClosed
	}
	c.buf = append(c.buf, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// flushLoop writes what is queued until Close (then what is left) or a
// write error. Its own goroutine.
func (c *coalescingConn) flushLoop() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.buf) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.buf) == 0 {
			return // closed, everything written
		}
		b := c.buf
		c.buf = c.spare[:0]
		c.mu.Unlock()
		_, err := c.Conn.Write(b)
		c.mu.Lock()
		c.spare = b[:0]
		if err != nil {
			c.err = err
			c.buf = nil
			c.cond.Broadcast()
			return
		}
		c.cond.Broadcast() // room for blocked writers
	}
}

// Close writes what is queued (for at most closeFlushTimeout) and closes
// the connection.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	if !already {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	}
	<-c.done
	return c.Conn.Close()
}
