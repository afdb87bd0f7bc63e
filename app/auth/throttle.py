"""Sign-in throttling: failures slow down where they come from, never the owner elsewhere.

A hard lock after a few failures lets anyone who knows an address lock its owner out (OWASP
ASVS 2.2.1 asks for the opposite). Here:

* failures of one account from one address (the *pair*) are free up to
  ``LOGIN_PAIR_FREE_FAILURES``; from then on each failure makes the pair wait, 30 s and then
  twice as long at each new failure, up to ``LOGIN_THROTTLE_MAX_DELAY_SECONDS``;
* failures from one address, whatever the accounts, follow the same rule from
  ``LOGIN_ADDRESS_FREE_FAILURES`` on (one password tried on many accounts);
* an attempt that must wait is refused before any password is checked, with the same
  "try later" answer (429) for everyone, known account or not;
* a correct password from an address that has not been failing still signs the owner in:
  nothing here counts the owner's own attempts against them;
* only when the account as a whole gathers ``LOGIN_ACCOUNT_FAILURE_LIMIT`` failures
  (100 in an hour: many addresses) is it locked for everyone, for
  ``LOGIN_ACCOUNT_LOCK_MINUTES`` or until an admin unlocks it.

Addresses are the client addresses as seen through the configured proxy hops (ProxyFix in
create_app); an IPv6 address counts as its /64, the block one subscriber gets. Accounts are
named in the store by a keyed hash of the normalised e-mail, never by the address itself, and
unknown e-mails are counted, throttled and locked exactly like known ones, so that no answer
tells which accounts exist.

Every counter lives in the limiter's store (memory:// for one process, Redis when several
serve), through the storage and strategy API of `limits`, beside the per-address request
limit of the sign-in form.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from flask import current_app, has_request_context, request
from limits import RateLimitItem, parse
from limits.storage import MovingWindowSupport, Storage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from werkzeug.exceptions import TooManyRequests

from ..extensions import limiter

log = logging.getLogger(__name__)

NAMESPACE = "relais-login"
T = TypeVar("T")

# Why an attempt is refused before its password is checked (kept in the audit trail only).
LOCKED = "locked"
THROTTLED = "throttled"


class SignInThrottled(TooManyRequests):
    """A sign-in refused before any password is checked: "try later", alike for everyone."""

    def __init__(self, retry_after: int | None = None):
        super().__init__(retry_after=retry_after)


def address_of(remote_addr: str | None) -> str:
    """The address that failures are counted against: IPv4 as is, IPv6 by its /64."""
    try:
        ip = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return remote_addr or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def account_of(email: str) -> str:
    """A keyed hash of the normalised e-mail: the store never holds an address in clear."""
    secret = current_app.config["SECRET_KEY"]
    key = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
    message = b"relais|login-account|" + email.strip().lower().encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def delay_after(failures: int, free: int) -> int:
    """Seconds to wait after the `failures`-th failure when `free` are allowed: none before,
    LOGIN_THROTTLE_FIRST_DELAY_SECONDS at the `free`-th, then doubled at each new failure,
    never more than LOGIN_THROTTLE_MAX_DELAY_SECONDS."""
    if failures < free:
        return 0
    config = current_app.config
    first = int(config["LOGIN_THROTTLE_FIRST_DELAY_SECONDS"])
    cap = int(config["LOGIN_THROTTLE_MAX_DELAY_SECONDS"])
    return min(cap, first * 2 ** min(failures - free, 32))


def _storage() -> Storage:
    return limiter.storage


def _account_window() -> tuple[RateLimiter, RateLimitItem]:
    """Failures of an account from everywhere, in a moving window where the store has one."""
    storage = _storage()
    strategy = (MovingWindowRateLimiter(storage) if isinstance(storage, MovingWindowSupport)
                else FixedWindowRateLimiter(storage))
    return strategy, parse(current_app.config["LOGIN_ACCOUNT_FAILURE_LIMIT"])


class StoreUnavailable(Exception):
    """The limiter's store did not answer and RATELIMIT_SWALLOW_ERRORS lets sign-in go on."""


def _guarded(operation: Callable[[], T]) -> T:
    """Run a store operation; when the store fails and errors are swallowed (production
    default, as for the per-address limit), log it and raise StoreUnavailable."""
    try:
        return operation()
    except Exception as exc:
        if not current_app.config.get("RATELIMIT_SWALLOW_ERRORS"):
            raise
        log.error("sign-in throttle: the limiter store failed (%s); going on without it",
                  exc.__class__.__name__)
        raise StoreUnavailable from exc


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt: which account (hashed) from which address."""

    account: str
    address: str

    @classmethod
    def of(cls, email: str, remote_addr: str | None = None) -> Attempt:
        if remote_addr is None and has_request_context():
            remote_addr = request.remote_addr  # through PROXY_HOPS (ProxyFix)
        return cls(account_of(email), address_of(remote_addr))

    # -- store keys -----------------------------------------------------------------------
    @property
    def _pair(self) -> str:
        return f"{NAMESPACE}/pair/{self.account}/{self.address}"

    @property
    def _address(self) -> str:
        return f"{NAMESPACE}/address/{self.address}"

    @property
    def _lock(self) -> str:
        return f"{NAMESPACE}/lock/{self.account}"

    @staticmethod
    def _wait(counter: str) -> str:
        return f"{counter}/wait"

    # -- questions ------------------------------------------------------------------------
    def wait_seconds(self) -> int:
        """How long this attempt must still wait (0: it may try now)."""
        storage = _storage()
        now = time.time()
        waits = [storage.get_expiry(self._wait(counter)) - now
                 for counter in (self._pair, self._address)
                 if storage.get(self._wait(counter)) > 0]
        return max(1, round(max(waits))) if waits else 0

    def locked_seconds(self) -> int:
        storage = _storage()
        if storage.get(self._lock) <= 0:
            return 0
        return max(1, round(storage.get_expiry(self._lock) - time.time()))

    # -- events ---------------------------------------------------------------------------
    def _count(self, counter: str, free: int, memory: int) -> None:
        storage = _storage()
        failures = storage.incr(counter, int(memory))
        delay = delay_after(failures, free)
        if delay:
            storage.clear(self._wait(counter))
            storage.incr(self._wait(counter), delay)

    def _failed(self) -> bool:
        config = current_app.config
        self._count(self._pair, int(config["LOGIN_PAIR_FREE_FAILURES"]),
                    config["LOGIN_PAIR_MEMORY_SECONDS"])
        self._count(self._address, int(config["LOGIN_ADDRESS_FREE_FAILURES"]),
                    config["LOGIN_ADDRESS_MEMORY_SECONDS"])
        strategy, item = _account_window()
        strategy.hit(item, NAMESPACE, "account", self.account)
        if strategy.get_window_stats(item, NAMESPACE, "account", self.account).remaining > 0:
            return False
        _storage().clear(self._lock)
        _storage().incr(self._lock, 60 * int(config["LOGIN_ACCOUNT_LOCK_MINUTES"]))
        return True

    def _succeeded(self) -> None:
        storage = _storage()
        storage.clear(self._pair)
        storage.clear(self._wait(self._pair))


def refusal(attempt: Attempt, user=None, now: datetime | None = None) -> str | None:
    """Why this attempt must be refused before its password is checked (LOCKED or
    THROTTLED), or None. `user` is the account when it exists (its lock is also kept in the
    database, for the admin page and across a restart of a memory store)."""
    now = now or datetime.now(UTC)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        return LOCKED
    try:
        if _guarded(attempt.locked_seconds):
            return LOCKED
        if _guarded(attempt.wait_seconds):
            return THROTTLED
    except StoreUnavailable:
        # Without the store, an account that has gathered the account-wide number of
        # failures since its last sign-in still waits (counted in the database).
        limit = parse(current_app.config["LOGIN_ACCOUNT_FAILURE_LIMIT"]).amount
        if user is not None and (user.failed_logins or 0) >= limit:
            return LOCKED
    return None


def failed(attempt: Attempt) -> bool:
    """Count a wrong password (or an unknown account); True when this failure locks the
    account for everyone (the account-wide limit is reached)."""
    try:
        return _guarded(attempt._failed)
    except StoreUnavailable:
        return False


def succeeded(attempt: Attempt) -> None:
    """The owner signed in from this address: the pair starts afresh. The address keeps its
    count (signing in to one's own account must not wash an address that tried others)."""
    try:
        _guarded(attempt._succeeded)
    except StoreUnavailable:
        pass


def unlock(email: str) -> None:
    """Lift the account-wide lock of an account and forget its failures (admin unlock)."""
    attempt = Attempt(account_of(email), "")

    def clear() -> None:
        _storage().clear(attempt._lock)
        strategy, item = _account_window()
        strategy.clear(item, NAMESPACE, "account", attempt.account)

    try:
        _guarded(clear)
    except StoreUnavailable:
        pass
