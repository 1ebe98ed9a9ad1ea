"""How many refused authentications the audit trail and the log record, so that a client with no
credentials at all cannot fill them: one such client sent 2,144 refused requests a second, each a
~750-byte record, 1.6 MB a second kept for the whole retention.

Each source address may have PER_ADDRESS records a second (a token bucket holding one second's
worth, on the engine's clock), and all addresses together TOTAL. A refusal over either is counted,
not recorded; the next record carries the count of those before it (`additionalEventData.
unrecordedRefusals`), so the records' counts plus one each add up to every refusal made. Addresses
are forgotten oldest first past ADDRESSES, which forgets only their buckets: the count is global.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from .quotas import take_token

PER_ADDRESS = 10.0      # records a second from one source address
TOTAL = 100.0           # records a second from all of them
ADDRESSES = 10_000      # source addresses whose buckets are kept


class RefusalRecords:
    def __init__(self, clock, per_address: float = PER_ADDRESS, total: float = TOTAL,
                 addresses: int = ADDRESSES):
        self.clock = clock
        self.per_address, self.total, self.addresses = per_address, total, addresses
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()   # address -> [tokens, at]
        self._all = [total, clock.now().timestamp()]
        self._unrecorded = 0
        self._lock = threading.Lock()

    def admit(self, source: str | None) -> int | None:
        """None if this refusal is only counted; else how many refusals went unrecorded before it."""
        now = self.clock.now().timestamp()
        with self._lock:
            bucket = self._buckets.pop(source or "-", None) or [self.per_address, now]
            self._buckets[source or "-"] = bucket
            if len(self._buckets) > self.addresses:
                self._buckets.popitem(last=False)
            if not (take_token(bucket, self.per_address, self.per_address, now) >= 1.0
                    and take_token(self._all, self.total, self.total, now) >= 1.0):
                self._unrecorded += 1
                return None
            unrecorded, self._unrecorded = self._unrecorded, 0
            return unrecorded
