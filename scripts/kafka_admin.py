"""Small Kafka admin/smoke helper for the test scripts, run with .tools/venv/bin/python.

It uses confluent-kafka (librdkafka, the same client library the rdkafka crate wraps), so what works
here against tansu is what trailpipe's consumer will see.

  kafka_admin.py probe BROKERS                    metadata request; exit 0 when the broker answers
  kafka_admin.py create-topic BROKERS NAME N      CreateTopics with N partitions (ok if it exists with N)
  kafka_admin.py describe BROKERS [NAME]          print topics and partition counts
  kafka_admin.py smoke BROKERS [TOPIC [N]]        produce/consume/commit round trip (see smoke())
  kafka_admin.py committed BROKERS GROUP TOPIC N  sum of GROUP's committed offsets on partitions 0..N-1

Options, anywhere on the command line:
  -X KEY=VALUE                 extra librdkafka setting for every client (repeatable), e.g. for the
                               TLS / SASL_SSL test listeners (scripts/services.sh):
                                 -X security.protocol=SASL_SSL -X ssl.ca.location=.test-services/tls/ca.pem
                                 -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=U -X sasl.password=P
  --expect-advertised HOST:PORT  probe: the address the broker must advertise (default: BROKERS);
                               for a broker behind a TLS terminator that advertises the front port
"""

import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# librdkafka settings from -X KEY=VALUE, added to every client this script creates.
EXTRA = {}
# probe's --expect-advertised (None: the bootstrap address itself).
EXPECT_ADVERTISED = None


def conf(base):
    return {**base, **EXTRA}


def admin(brokers):
    # Short timeouts: these run against a loopback broker that is either up or not.
    return AdminClient(conf({"bootstrap.servers": brokers, "socket.timeout.ms": 5000}))


def probe(brokers, timeout=5.0):
    md = admin(brokers).list_topics(timeout=timeout)
    advertised = sorted(f"{b.host}:{b.port}" for b in md.brokers.values())
    print(json.dumps({"cluster_id": md.cluster_id, "brokers": advertised, "topics": len(md.topics)}))
    expected = EXPECT_ADVERTISED or brokers
    if expected not in advertised:
        # Clients reconnect to the advertised address; if it differs from the bootstrap one,
        # everything after metadata goes to the wrong place.
        print(f"broker advertises {advertised}, expected {expected}", file=sys.stderr)
        return 1
    return 0


def create_topic(brokers, name, partitions):
    partitions = int(partitions)
    existing = _existing_partitions(brokers, name)
    if existing is not None:
        if existing == partitions:
            print(f"topic {name} already exists with {partitions} partitions")
            return 0
        print(f"topic {name} exists with {existing} partitions, wanted {partitions}", file=sys.stderr)
        return 1
    client = admin(brokers)  # keep a reference: the futures fail if the client is collected first
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)], operation_timeout=10
    )
    try:
        futures[name].result(timeout=15)
    except KafkaException as e:
        print(f"create topic {name}: {e}", file=sys.stderr)
        return 1
    got = _wait_for_partitions(brokers, name, partitions)
    if got != partitions:
        print(f"topic {name} created but metadata shows {got} partitions", file=sys.stderr)
        return 1
    print(f"created topic {name} with {partitions} partitions")
    return 0


def _existing_partitions(brokers, name):
    # list_topics(topic=...) would auto-create the topic on brokers that allow it, so list all.
    md = admin(brokers).list_topics(timeout=5)
    t = md.topics.get(name)
    return None if t is None or t.error is not None else len(t.partitions)


def _wait_for_partitions(brokers, name, partitions, timeout=10.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = _existing_partitions(brokers, name)
        if got == partitions:
            break
        time.sleep(0.2)
    return got


def describe(brokers, name=None):
    md = admin(brokers).list_topics(timeout=5)
    for tname, t in sorted(md.topics.items()):
        if name is None or tname == name:
            print(f"{tname}\tpartitions={len(t.partitions)}\terror={t.error}")
    return 0


def smoke(brokers, topic=None, per_partition=5):
    """Produces messages to every partition of TOPIC (default: a fresh 4-partition topic), consumes
    them in a new consumer group with manual commits, checks the committed offsets, then re-joins the
    group and checks that nothing is redelivered. Prints what it saw, including the high watermarks
    (wrong on tansu 0.6, see design.md section 6)."""
    per_partition = int(per_partition)
    if topic is None:
        topic = f"smoke-{uuid.uuid4().hex[:8]}"
        if create_topic(brokers, topic, 4) != 0:
            return 1
    partitions = _existing_partitions(brokers, topic)
    if not partitions:
        print(f"topic {topic} does not exist", file=sys.stderr)
        return 1
    group = f"smoke-group-{uuid.uuid4().hex[:8]}"

    t0 = time.monotonic()
    producer = Producer(conf({"bootstrap.servers": brokers, "linger.ms": 5, "enable.idempotence": False}))
    delivered = []

    def on_delivery(err, msg):
        if err is not None:
            raise KafkaException(err)
        delivered.append((msg.partition(), msg.offset()))

    total = partitions * per_partition
    for i in range(per_partition):
        for p in range(partitions):
            producer.produce(topic, key=f"k{p}", value=f"msg-{p}-{i}", partition=p, on_delivery=on_delivery)
    if producer.flush(15) != 0 or len(delivered) != total:
        print(f"produce: only {len(delivered)}/{total} delivered", file=sys.stderr)
        return 1
    print(f"produced {total} messages to {partitions} partitions in {time.monotonic() - t0:.2f}s")

    cconf = conf({
        "bootstrap.servers": brokers,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        # Against tansu a fetch is held for the whole wait; keep it short (design.md section 6).
        "fetch.wait.max.ms": 10,
    })
    consumer = Consumer(cconf)
    consumer.subscribe([topic])
    seen = {}
    t0 = time.monotonic()
    deadline = t0 + 30
    while sum(len(v) for v in seen.values()) < total and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            print(f"consume error: {msg.error()}", file=sys.stderr)
            continue
        seen.setdefault(msg.partition(), []).append(msg.value().decode())
    got = sum(len(v) for v in seen.values())
    print(f"consumed {got}/{total} in {time.monotonic() - t0:.2f}s (includes group join)")
    if got != total:
        consumer.close()
        return 1
    bad = [p for p, vals in seen.items() if vals != [f"msg-{p}-{i}" for i in range(per_partition)]]
    if bad:
        print(f"partitions {bad} out of order or wrong: {seen}", file=sys.stderr)
        consumer.close()
        return 1

    tps = [TopicPartition(topic, p, per_partition) for p in range(partitions)]
    consumer.commit(offsets=tps, asynchronous=False)
    committed = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    offsets = {tp.partition: tp.offset for tp in committed}
    print(f"committed offsets: {offsets}")
    marks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5) for p in range(partitions)}
    print(f"watermarks (low, high) per partition: {marks} (tansu 0.6 reports last batch base + 1)")
    consumer.close()
    if any(offsets[p] != per_partition for p in range(partitions)):
        print("committed offsets do not match what was consumed", file=sys.stderr)
        return 1

    # A new member of the same group must resume from the commits: after one more message per
    # partition it gets exactly those (at offset per_partition), nothing older is redelivered.
    for p in range(partitions):
        producer.produce(topic, key=f"k{p}", value=f"after-{p}", partition=p, on_delivery=on_delivery)
    producer.flush(15)
    consumer = Consumer(cconf)
    consumer.subscribe([topic])
    resumed = []
    t0 = time.monotonic()
    deadline = t0 + 30
    while len(resumed) < partitions and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            resumed.append((msg.partition(), msg.offset(), msg.value().decode()))
    settle = time.monotonic() + 1.0  # anything redelivered would arrive right behind
    while time.monotonic() < settle:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            resumed.append((msg.partition(), msg.offset(), msg.value().decode()))
    consumer.close()
    print(f"after rejoin ({time.monotonic() - t0:.2f}s): got {sorted(resumed)}")
    if sorted(resumed) != [(p, per_partition, f"after-{p}") for p in range(partitions)]:
        print("rejoined member did not resume exactly at the committed offsets", file=sys.stderr)
        return 1
    print("kafka smoke test: ok")
    return 0


def committed(brokers, group, topic, partitions):
    """Prints the sum of `group`'s committed offsets over the topic's first `partitions` partitions."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(conf({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False}))
    try:
        tps = [TopicPartition(topic, p) for p in range(int(partitions))]
        print(sum(max(tp.offset, 0) for tp in c.committed(tps, timeout=10)))
    finally:
        c.close()
    return 0


def parse_options(argv):
    """Removes -X KEY=VALUE and --expect-advertised HOST:PORT from argv (into EXTRA and
    EXPECT_ADVERTISED) and returns the rest, or None when an option is malformed."""
    global EXPECT_ADVERTISED
    rest = []
    args = iter(argv)
    for arg in args:
        if arg in ("-X", "--expect-advertised"):
            value = next(args, None)
            if value is None:
                return None
            if arg == "--expect-advertised":
                EXPECT_ADVERTISED = value
            elif "=" in value:
                key, _, val = value.partition("=")
                EXTRA[key] = val
            else:
                return None
        else:
            rest.append(arg)
    return rest


def main(argv):
    cmds = {"probe": probe, "create-topic": create_topic, "describe": describe, "smoke": smoke, "committed": committed}
    argv = parse_options(argv)
    if argv is None or len(argv) < 3 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return cmds[argv[1]](*argv[2:])
    except KafkaException as e:
        print(f"{argv[1]}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
