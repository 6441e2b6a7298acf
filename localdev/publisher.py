"""Publish generated messages at a steady rate, recording every message id; can be paused."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from google.cloud import pubsub_v1

from pipelines.generator import GeneratedMessage
from pipelines.validation import event_key


class RatePublisher:
    """Publishes ``messages`` in order at ``rate`` per second on a background thread.

    ``published[pipeline]`` maps the message id of every message the emulator accepted
    to its payload's event_key, in publish order (the conservation check compares them
    with what was written, by message id where a row has one and by event_key otherwise).
    ``publish_times`` maps each message id to the wall-clock time its publish was confirmed
    (the local Monitoring stand-in measures the oldest unacknowledged message's age from it).
    """

    def __init__(self, topics: Mapping[str, str], messages: list[GeneratedMessage], rate: float) -> None:
        self.topics = dict(topics)
        self.messages = messages
        self.rate = rate
        self.published: dict[str, dict[str, str]] = {p: {} for p in self.topics}
        self.publish_times: dict[str, float] = {}
        self.count = 0
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._in_flight = threading.Lock()  # held while one message is being published
        self._client = pubsub_v1.PublisherClient()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    @property
    def total(self) -> int:
        return len(self.messages)

    def start(self) -> RatePublisher:
        self._thread.start()
        return self

    def pause(self) -> None:
        """Stop publishing; when this returns, no publish is under way and none starts until :meth:`resume`.

        The demo relies on it: it kills a job once everything published is written, and a
        message published in between would be pulled (and, by the DirectRunner, acked) by a
        job about to die.
        """
        self._resume.clear()
        with self._in_flight:
            pass

    def resume(self) -> None:
        self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()
        self._thread.join(timeout=10)

    def fraction(self) -> float:
        return self.count / self.total if self.total else 1.0

    def _run(self) -> None:
        try:
            next_at = time.monotonic()
            for m in self.messages:
                while True:
                    self._resume.wait()
                    if self._stop.is_set():
                        return
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    with self._in_flight:
                        if not self._resume.is_set():
                            continue  # paused while waiting for this message's slot: wait again
                        future = self._client.publish(self.topics[m.pipeline], m.data, **m.attributes)
                        message_id = future.result(timeout=60)
                        self.publish_times[message_id] = time.time()
                        self.published[m.pipeline][message_id] = event_key(m.data)
                    break
                self.count += 1
                next_at = max(next_at + 1.0 / self.rate, time.monotonic() - 1.0)
        except BaseException as exc:  # reported by the demo, never swallowed
            self.error = exc
        finally:
            self.done.set()
