"""What the runner quotes when a child exits is the child's own last line, not a Kafka client's."""

from ingest.local.processes import Child


def test_librdkafka_log_lines_are_not_a_childs_last_words(tmp_path):
    child = Child("relay", ["true"], {}, tmp_path)
    child.log_path.write_text(
        "relay: publishing from slot lakehouse_outbox\n"
        "%4|1796199789.336|GETPID|rdkafka#producer-1| [thrd:main]: Failed to acquire idempotence PID "
        "from broker 127.0.0.1:33469/1: Broker: Coordinator load in progress: retrying\n"
    )
    assert child.last_words() == "relay: publishing from slot lakehouse_outbox"
    assert "rdkafka" in child.tail(1)


def test_a_child_with_only_client_lines_has_no_last_words(tmp_path):
    child = Child("relay", ["true"], {}, tmp_path)
    child.log_path.write_text("%3|1796199789.336|FAIL|rdkafka#consumer-2| [thrd:x]: Connection refused\n")
    assert child.last_words() == ""
