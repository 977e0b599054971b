#!/usr/bin/python3
"""Drive mqgate with Debian's stomp.py (python3-stomp) for the e2e tests.

Usage: stomppy_client.py HOST PORT SCENARIO VERSION NAME

SCENARIO is one of sendrecv, tx, durable, nack; VERSION is 1.0, 1.1 or
1.2; NAME makes destinations and client ids unique. The result is one JSON
object on stdout: {"ok": true, ...} with what was observed, or
{"ok": false, "error": "..."}. The Go test (stomppy_test.go) asserts on it.
"""

import json
import queue
import sys
import threading
import time
import traceback

import stomp

TIMEOUT = 10.0  # seconds to wait for anything that should happen


class Collector(stomp.ConnectionListener):
    """Collects MESSAGE, RECEIPT and ERROR frames of one connection."""

    def __init__(self):
        self.messages = queue.Queue()
        self.errors = []
        self.connected = None
        self.lock = threading.Condition()
        self.receipts = set()

    def on_connected(self, frame):
        self.connected = dict(frame.headers)

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        with self.lock:
            self.receipts.add(frame.headers.get("receipt-id"))
            self.lock.notify_all()

    def on_error(self, frame):
        self.errors.append({"headers": dict(frame.headers), "body": frame.body})
        with self.lock:
            self.lock.notify_all()

    def wait_receipt(self, rid):
        deadline = time.monotonic() + TIMEOUT
        with self.lock:
            while rid not in self.receipts:
                if self.errors:
                    raise RuntimeError("ERROR frame while waiting for receipt %s: %r" % (rid, self.errors))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("no RECEIPT %s within %ss" % (rid, TIMEOUT))
                self.lock.wait(left)

    def next_message(self):
        try:
            return self.messages.get(timeout=TIMEOUT)
        except queue.Empty:
            raise RuntimeError("no MESSAGE within %ss (errors: %r)" % (TIMEOUT, self.errors))


CONNECTIONS = {
    "1.0": lambda hp: stomp.Connection10(hp),
    "1.1": lambda hp: stomp.Connection11(hp, heartbeats=(0, 0)),
    "1.2": lambda hp: stomp.Connection12(hp, heartbeats=(0, 0)),
}

_seq = [0]


def rid(prefix):
    _seq[0] += 1
    return "%s-%d" % (prefix, _seq[0])


class Client:
    """One stomp.py connection with its collector."""

    def __init__(self, host, port, version, headers=None):
        self.version = version
        self.conn = CONNECTIONS[version]([(host, port)])
        self.listener = Collector()
        self.conn.set_listener("collector", self.listener)
        self.conn.connect(wait=True, headers=headers or {})
        if self.listener.connected is None:
            raise RuntimeError("no CONNECTED (errors: %r)" % self.listener.errors)

    def send(self, dest, body, **headers):
        r = rid("send")
        self.conn.send(dest, body, headers=headers, receipt=r)
        self.listener.wait_receipt(r)

    def subscribe(self, dest, sub_id, ack, **headers):
        r = rid("sub")
        self.conn.subscribe(dest, id=sub_id, ack=ack, headers=headers, receipt=r)
        self.listener.wait_receipt(r)

    def ack(self, frame, receipt=None, transaction=None):
        h = frame.headers
        if self.version == "1.0":
            self.conn.ack(h["message-id"], transaction=transaction, receipt=receipt)
        elif self.version == "1.1":
            self.conn.ack(h["message-id"], h["subscription"], transaction=transaction, receipt=receipt)
        else:
            self.conn.ack(h["ack"], transaction=transaction, receipt=receipt)
        if receipt:
            self.listener.wait_receipt(receipt)

    def nack(self, frame, receipt):
        h = frame.headers
        if self.version == "1.1":
            self.conn.nack(h["message-id"], h["subscription"], receipt=receipt)
        else:
            self.conn.nack(h["ack"], receipt=receipt)
        self.listener.wait_receipt(receipt)

    def barrier(self):
        """Returns once the broker handled everything sent before."""
        r = rid("barrier")
        self.conn.send("/queue/e2e.barrier", "", receipt=r)
        self.listener.wait_receipt(r)

    def close(self):
        if self.conn.is_connected():
            self.conn.disconnect(receipt=rid("bye"))


def connect_retrying(host, port, version, headers):
    """Connects, retrying while the broker still holds a client-id that a
    just-closed connection used."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return Client(host, port, version, headers)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def scenario_sendrecv(host, port, version, name):
    q = "/queue/py.%s" % name
    ack_mode = "client" if version == "1.0" else "client-individual"
    headers = {"x-py": "v1", "colon": "a:b", "correlation-id": "py-corr"}
    prod = Client(host, port, version)
    for i in range(3):
        prod.send(q, "py message %d" % i, **headers)
    cons = Client(host, port, version)
    cons.subscribe(q, "s1", ack_mode)
    got = []
    first_headers = None
    for i in range(3):
        m = cons.listener.next_message()
        if first_headers is None:
            first_headers = dict(m.headers)
        got.append(m.body)
        cons.ack(m, receipt=rid("ack"))
    cons.close()
    # Everything was acked: a new consumer gets only what comes next.
    prod.send(q, "marker")
    again = Client(host, port, version)
    # ack:client, not auto: an ack:auto SUBSCRIBE to a queue that holds
    # messages crashes the broker (see TestQueueAutoAckSubscribeToBacklog).
    again.subscribe(q, "s2", "client")
    m = again.listener.next_message()
    again.ack(m, receipt=rid("ack"))
    after = m.body
    again.close()
    prod.close()
    return {
        "connected": prod.listener.connected,
        "bodies": got,
        "first_headers": first_headers,
        "after_ack": after,
    }


def scenario_tx(host, port, version, name):
    q = "/queue/py.tx.%s" % name
    c = Client(host, port, version)
    c.subscribe(q, "s", "auto")
    tx = c.conn.begin()
    c.conn.send(q, "tx 1", transaction=tx)
    c.conn.send(q, "tx 2", transaction=tx)
    c.send(q, "outside")
    order = [c.listener.next_message().body]
    r = rid("commit")
    c.conn.commit(tx, receipt=r)
    c.listener.wait_receipt(r)
    order += [c.listener.next_message().body, c.listener.next_message().body]
    tx2 = c.conn.begin()
    c.conn.send(q, "aborted", transaction=tx2)
    r = rid("abort")
    c.conn.abort(tx2, receipt=r)
    c.listener.wait_receipt(r)
    c.send(q, "after abort")
    order.append(c.listener.next_message().body)
    c.close()
    return {"order": order}


def scenario_durable(host, port, version, name):
    topic = "/topic/py.dur.%s" % name
    cid = "py-client-%s" % name
    c = Client(host, port, version, {"client-id": cid})
    c.subscribe(topic, "d", "client-individual", **{"activemq.subscriptionName": "pysub"})
    c.close()
    prod = Client(host, port, version)
    prod.send(topic, "while away 1")
    prod.send(topic, "while away 2")
    c = connect_retrying(host, port, version, {"client-id": cid})
    c.subscribe(topic, "d", "client-individual", **{"activemq.subscriptionName": "pysub"})
    got = []
    for _ in range(2):
        m = c.listener.next_message()
        got.append(m.body)
        c.ack(m, receipt=rid("ack"))
    c.close()
    prod.close()
    return {"bodies": got}


def scenario_nack(host, port, version, name):
    q = "/queue/py.nack.%s" % name
    c = Client(host, port, version)
    c.subscribe(q, "s", "client-individual")
    c.send(q, "poison", persistent="true")
    m = c.listener.next_message()
    c.nack(m, rid("nack"))
    d = Client(host, port, version)
    d.subscribe("/queue/ActiveMQ.DLQ", "dlq", "client-individual")
    dm = d.listener.next_message()
    d.ack(dm, receipt=rid("ack"))
    d.close()
    c.close()
    return {
        "original_id": m.headers.get("message-id"),
        "dlq_id": dm.headers.get("message-id"),
        "dlq_body": dm.body,
        "dlq_destination": dm.headers.get("destination"),
    }


SCENARIOS = {
    "sendrecv": scenario_sendrecv,
    "tx": scenario_tx,
    "durable": scenario_durable,
    "nack": scenario_nack,
}


def main():
    host, port, scenario, version, name = sys.argv[1:6]
    try:
        result = SCENARIOS[scenario](host, int(port), version, name)
        result["ok"] = True
    except Exception as e:  # reported to the Go test as JSON
        result = {"ok": False, "error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()}
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
