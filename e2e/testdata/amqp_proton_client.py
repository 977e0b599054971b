#!/usr/bin/python3
"""Drive mqgate's AMQP 1.0 front-end with Debian's python3-qpid-proton.

Usage: amqp_proton_client.py HOST:PORT SCENARIO NAME

SCENARIO is one of queue, topic, requestreply, durable, txn, serverlist; NAME makes
addresses and container ids unique. The result is one JSON object on
stdout: {"ok": true, ...} with what was observed, or {"ok": false,
"error": "...", "trace": "..."}. The Go test (amqp_proton_test.go) asserts
on it; for requestreply it runs the responder.
"""

import json
import sys
import traceback

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container, DurableSubscription
from proton.utils import BlockingConnection

TIMEOUT = 10.0  # seconds to wait for anything that should happen


def connect(url, container_id=None):
    container = None
    if container_id:
        container = Container()
        container.container_id = container_id
    return BlockingConnection(url, timeout=TIMEOUT, container=container, allowed_mechs="ANONYMOUS PLAIN")


def receive_bodies(receiver, n):
    out = []
    for _ in range(n):
        m = receiver.receive(timeout=TIMEOUT)
        out.append(m.body)
        receiver.accept()
    return out


def scenario_queue(url, name):
    """Send five text messages (durable, with properties), receive them."""
    conn = connect(url)
    try:
        snd = conn.create_sender("queue://" + name)
        for i in range(5):
            snd.send(Message(body="proton %d" % i, durable=True, priority=6,
                             properties={"i": i, "tag": "py"}, subject="s%d" % i))
        rcv = conn.create_receiver(name, credit=10)
        bodies, props, subjects = [], [], []
        for _ in range(5):
            m = rcv.receive(timeout=TIMEOUT)
            bodies.append(m.body)
            props.append(dict(m.properties or {}))
            subjects.append(m.subject)
            if not m.durable or m.priority != 6:
                raise RuntimeError("header lost: durable=%r priority=%r" % (m.durable, m.priority))
            rcv.accept()
        return {"bodies": bodies, "props": props, "subjects": subjects}
    finally:
        conn.close()


def scenario_topic(url, name):
    """Two receivers on a topic get everything one sender publishes."""
    conn = connect(url)
    try:
        r1 = conn.create_receiver("topic://" + name, name="r1", credit=10)
        r2 = conn.create_receiver("topic://" + name, name="r2", credit=10)
        snd = conn.create_sender("topic://" + name)
        for i in range(3):
            snd.send(Message(body="news %d" % i))
        return {"r1": receive_bodies(r1, 3), "r2": receive_bodies(r2, 3)}
    finally:
        conn.close()


def scenario_requestreply(url, name):
    """Request/reply through a dynamic receiver; the Go test answers."""
    conn = connect(url)
    try:
        replies = conn.create_receiver(None, dynamic=True, credit=10)
        reply_to = replies.remote_source.address
        snd = conn.create_sender(name)
        for i in range(3):
            snd.send(Message(body="request %d" % i, reply_to=reply_to, correlation_id="corr-%d" % i))
        got = []
        for _ in range(3):
            m = replies.receive(timeout=TIMEOUT)
            got.append({"body": m.body, "correlation_id": m.correlation_id})
            replies.accept()
        return {"reply_to": reply_to, "replies": got}
    finally:
        conn.close()


def scenario_durable(url, name):
    """A durable subscription detached (not closed) keeps messages."""
    cid = "py-" + name
    conn = connect(url, cid)
    try:
        sub = conn.create_receiver("topic://" + name, name="sub", options=DurableSubscription())
        sub.link.detach()  # detach without closing: the subscription stays
    finally:
        conn.close()
    conn = connect(url)
    try:
        snd = conn.create_sender("topic://" + name)
        snd.send(Message(body="kept 1"))
        snd.send(Message(body="kept 2"))
    finally:
        conn.close()
    conn = connect(url, cid)
    try:
        sub = conn.create_receiver("topic://" + name, name="sub", options=DurableSubscription(), credit=10)
        bodies = receive_bodies(sub, 2)
        sub.close()  # detach with closed=true: the subscription goes
        return {"bodies": bodies}
    finally:
        conn.close()


class TxnDriver(MessagingHandler):
    """Commit two transactional sends, roll back one, then accept one
    message in a committed transaction."""

    def __init__(self, url, name):
        super().__init__(auto_accept=False, prefetch=0)
        self.url, self.name = url, name
        self.step = "send"
        self.events = []
        self.error = None

    def on_start(self, event):
        self.container = event.container
        self.conn = self.container.connect(self.url, allowed_mechs="ANONYMOUS")
        self.sender = self.container.create_sender(self.conn, self.name)
        self.timer = self.container.schedule(TIMEOUT * 2, self)
        self.container.declare_transaction(self.conn, handler=self)

    def on_timer_task(self, event):
        self.error = "timed out at step %s after %r" % (self.step, self.events)
        self.conn.close()

    def on_transaction_declared(self, event):
        txn = event.transaction
        self.events.append("declared " + self.step)
        if self.step == "send":
            txn.send(self.sender, Message(body="c1"))
            txn.send(self.sender, Message(body="c2"))
            txn.commit()
        elif self.step == "abort":
            txn.send(self.sender, Message(body="a1"))
            txn.abort()
        elif self.step == "receive":
            self.txn = txn
            self.receiver = self.container.create_receiver(self.conn, self.name)
            self.receiver.flow(1)

    def on_message(self, event):
        self.events.append("message " + str(event.message.body))
        self.txn.accept(event.delivery)
        self.txn.commit()

    def on_transaction_committed(self, event):
        self.events.append("committed " + self.step)
        if self.step == "send":
            self.step = "abort"
            self.container.declare_transaction(self.conn, handler=self)
        elif self.step == "receive":
            self.step = "done"
            self.timer.cancel()
            self.conn.close()

    def on_transaction_aborted(self, event):
        self.events.append("aborted " + self.step)
        self.step = "receive"
        self.container.declare_transaction(self.conn, handler=self)

    def on_transaction_declare_failed(self, event):
        self.error = "declare failed"
        self.conn.close()

    def on_transport_error(self, event):
        self.error = "transport error: %s" % event.transport.condition


def scenario_txn(url, name):
    d = TxnDriver(url, name)
    Container(d).run()
    if d.error:
        raise RuntimeError(d.error)
    return {"events": d.events}


def scenario_serverlist(url, name):
    """Read the failover-server-list property of the broker's open."""
    conn = connect(url)
    try:
        props = conn.conn.remote_properties or {}
        servers = []
        for entry in props.get("failover-server-list") or []:
            servers.append({str(k): (v if isinstance(v, (int, float)) else str(v)) for k, v in entry.items()})
        return {"servers": servers, "product": str(props.get("product", ""))}
    finally:
        conn.close()


def main():
    url, scenario, name = "amqp://" + sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        res = globals()["scenario_" + scenario](url, name)
        res["ok"] = True
    except Exception as e:  # report everything as JSON for the Go test
        res = {"ok": False, "error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
