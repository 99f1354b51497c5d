"""The embedded AWS emulator (moto server) with atomic DynamoDB writes, and closer to AWS
where sdfleet's code depends on it (see :func:`prepare_emulator`).

Real DynamoDB evaluates a condition and applies the write atomically; moto's server handles
requests on several threads without a lock, so two racing conditional writes can both pass
their check. Tests and the local stack race workers on purpose, so the emulator serializes
every DynamoDB write (and conditional read-modify-write) behind one lock.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from moto.server import ThreadedMotoServer

_WRITE_METHODS: Final = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
)
_lock = threading.RLock()
_patched = False


def make_dynamodb_writes_atomic() -> None:
    """Idempotent: wraps moto's DynamoDB backend write methods in one process-wide lock."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITE_METHODS:
        original: Callable[..., Any] | None = getattr(DynamoDBBackend, name, None)
        if original is None:
            continue

        def locked(*args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with _lock:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))
    _patched = True


def add_missing_operations() -> None:
    """Answers calls moto does not implement, so code paths that make them keep running.

    ``CompleteLifecycleAction`` (moto 5.x): the worker completes the termination lifecycle
    hook after a drain; moto has no lifecycle-hook actions to resume, so an empty answer is
    what AWS would return.

    ``RevokeToken`` (Cognito): the web app's sign-out revokes its refresh token; moto answers
    500 (without CORS headers, so the browser reports a CORS error). Here the token is revoked
    as Cognito does: a later refresh with it is refused.
    """
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.cognitoidp.responses import CognitoIdpResponse
    from moto.core.responses import EmptyResult

    if not hasattr(CognitoIdpResponse, "revoke_token"):

        def revoke_token(self: CognitoIdpResponse) -> str:
            token = self._get_param("Token")
            client_id = self._get_param("ClientId")
            for pool in self.backend.user_pools.values():
                issued = pool.refresh_tokens.get(token)
                if issued is not None and issued[0] == client_id:
                    pool.refresh_tokens[token] = None
            return "{}"

        CognitoIdpResponse.revoke_token = revoke_token  # type: ignore[attr-defined]

    if not hasattr(AutoScalingResponse, "complete_lifecycle_action"):

        def complete_lifecycle_action(self: AutoScalingResponse) -> Any:
            return EmptyResult()

        AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action  # type: ignore[attr-defined]


def keep_queue_policy_on_other_attribute_writes() -> None:
    """SetQueueAttributes changes only the attributes it names, as SQS does.

    moto (5.x) clears a queue's ``Policy`` on every SetQueueAttributes that does not name it.
    Terraform sets a lane's queue policy and its redrive policy as two resources; when the
    redrive write lands second the policy vanishes and the provider's propagation wait for
    it never ends (an apply that hangs until the caller's timeout, depending on the race).
    """
    from moto.sqs.models import Queue

    if getattr(Queue._set_attributes, "_sdfleet_keeps_policy", False):
        return
    original = Queue._set_attributes

    @functools.wraps(original)
    def set_attributes(self: Queue, attributes: dict[str, Any], now: float | None = None) -> None:
        kept = getattr(self, "policy", None)
        original(self, attributes, now)
        if "Policy" not in attributes:
            self.policy = kept

    set_attributes._sdfleet_keeps_policy = True  # type: ignore[attr-defined]
    Queue._set_attributes = set_attributes  # type: ignore[method-assign]


def sse_kms_etags_are_not_md5() -> None:
    """An SSE-KMS object's ETag is not the MD5 of its body, as on S3.

    moto (5.x) gives every single-part object the MD5 of its body as ETag, so code that takes
    an ETag for a checksum passes here and fails on the fleet's SSE-KMS bucket in AWS. Here an
    SSE-KMS object's ETag is another stable digest (still unique per body, so ``If-Match``
    keeps working); multipart ETags (``…-N``) are left as they are.
    """
    from moto.s3.models import FakeKey

    original = FakeKey.etag
    if getattr(original.fget, "_sdfleet_sse_kms", False):
        return
    assert original.fget is not None

    def etag(self: FakeKey) -> str:
        value: str = original.fget(self)  # type: ignore[misc]
        if self.encryption != "aws:kms" or "-" in value:
            return value
        digest = hashlib.md5(b"sse-kms:" + value.strip('"').encode(), usedforsecurity=False)
        return f'"{digest.hexdigest()}"'

    etag._sdfleet_sse_kms = True  # type: ignore[attr-defined]
    FakeKey.etag = property(etag)  # type: ignore[method-assign,assignment]


def replace_unhealthy_instances() -> None:
    """``SetInstanceHealth(Unhealthy)`` makes the group replace the instance, as AWS does.

    moto (5.x) only records the status. An Auto Scaling group terminates an unhealthy
    instance (scale-in protection does not stop it) and launches another to keep its desired
    capacity; the worker's give-up path and the scaler's boot deadline rely on that.
    """
    from moto.autoscaling.models import AutoScalingBackend

    if getattr(AutoScalingBackend.set_instance_health, "_sdfleet_replaces", False):
        return
    original = AutoScalingBackend.set_instance_health

    @functools.wraps(original)
    def set_instance_health(self: AutoScalingBackend, instance_id: str, health_status: str) -> None:
        original(self, instance_id, health_status)
        if health_status == "Unhealthy":
            self.terminate_instance(instance_id, should_decrement=False)

    set_instance_health._sdfleet_replaces = True  # type: ignore[attr-defined]
    AutoScalingBackend.set_instance_health = set_instance_health  # type: ignore[method-assign]


def stream_iterators_follow_the_live_table() -> None:
    """A DynamoDB stream shard iterator reads its table's current stream and holds no table.

    moto (5.x) undoes a failed ``TransactWriteItems`` by putting a deep copy of the whole table,
    taken before the transaction, in the table's place; and each shard iterator keeps the shard
    object it was made from, and through it the table of that moment. moto never drops an
    iterator, so every failed transaction after a stream read left one full copy of the table
    alive: under ``make reliability``'s chaos run the local stack's emulator grew by ~30 MB/s
    until the kernel killed it at 22 GB. Here an iterator keeps the table's name and reads
    the shard of whatever table has that name now, as on AWS, where a stream belongs to its
    table (so records written after a rollback are not missed either).
    """
    from moto.dynamodbstreams.models import ShardIterator

    if getattr(ShardIterator, "_sdfleet_follows_table", False):
        return

    def live_shard(self: ShardIterator) -> Any:
        return self.streams_backend.dynamodb.get_table(self._sdfleet_table_name).stream_shard

    def remember_table(self: ShardIterator, stream_shard: Any) -> None:
        self._sdfleet_table_name = stream_shard.table.name

    ShardIterator.stream_shard = property(live_shard, remember_table)  # type: ignore[assignment]
    ShardIterator._sdfleet_follows_table = True  # type: ignore[attr-defined]


#: moto models whose instances moto need not list: every DynamoDB table, item and stream
#: record (see :func:`dynamodb_models_are_not_tracked`).
UNTRACKED_MODEL_MODULES: Final = ("moto.dynamodb.", "moto.dynamodbstreams.")


def dynamodb_models_are_not_tracked() -> None:
    """moto's DynamoDB objects are freed once nothing uses them.

    moto (5.x) appends every model object it creates to a class-wide list, only for its web
    dashboard (``/moto-api/data.json``), and never removes one. Its ``TransactWriteItems``
    deep-copies the whole table for a rollback before each transaction, so each transaction
    added a copy of every item (and of every stream record) to those lists for good: the local
    stack's emulator grew by ~30 MB/s under ``make reliability``'s chaos run until the kernel
    killed it at 22 GB. DynamoDB objects are no longer listed there; the tables themselves are
    unchanged.
    """
    from moto.core.common_models import BaseModel

    if getattr(BaseModel.__new__, "_sdfleet_untracked", False):
        return

    def new(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
        instance = super(BaseModel, cls).__new__(cls)  # what moto's own __new__ does
        if not cls.__module__.startswith(UNTRACKED_MODEL_MODULES):
            cls.instances_tracked.append(instance)  # type: ignore[attr-defined]
        return instance

    new._sdfleet_untracked = True  # type: ignore[attr-defined]
    BaseModel.__new__ = staticmethod(new)  # type: ignore[method-assign,assignment]


#: Set on the thread running a transaction: its tables are not copied (see below).
_in_transaction = threading.local()


def transactions_roll_back_only_what_they_touched() -> None:
    """A failed ``TransactWriteItems`` restores the items it named, not a copy of whole tables.

    moto (5.x) deep-copies every table a transaction names before running it, to put the copy
    back on failure. That costs time in proportion to the table: with a few thousand jobs the
    local stack's emulator spent its whole core copying the jobs table (the reliability chaos
    run completed 146 jobs in 11 minutes). DynamoDB's own transactions touch only their items,
    at most 100. Here the items a transaction names (and the length of each table's stream) are
    saved first and put back on failure, and moto's whole-table copy is skipped.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend.transact_write_items, "_sdfleet_item_rollback", False):
        return
    original = DynamoDBBackend.transact_write_items

    def table_copy(self: Table, memo: dict[int, Any]) -> Table:
        if getattr(_in_transaction, "active", False):
            return self  # moto's "copy" is then the table itself; the items are saved below
        clone = Table.__new__(Table)
        memo[id(self)] = clone
        for name, value in vars(self).items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        # Under the write lock from saving to restoring, so no other write lands in between.
        with _lock:
            run_rolling_back_items(self, transact_items)

    def run_rolling_back_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        stream_lengths: dict[str, tuple[Table, int]] = {}
        for entry in transact_items:
            for op in entry.values():
                table = self.tables.get(op.get("TableName", "")) if isinstance(op, dict) else None
                key = (op.get("Item") or op.get("Key")) if table is not None else None
                if table is None or not isinstance(key, dict):
                    continue  # moto rejects it; nothing of it is written
                try:
                    hash_value = DynamoType(key[table.hash_key_attr])
                    range_value = (
                        DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                    )
                except (KeyError, TypeError):
                    continue
                current = (
                    table.get_item(hash_value, range_value)
                    if (range_value is not None or not table.range_key_attr)
                    else None
                )
                saved.append((table, hash_value, range_value, copy.deepcopy(current)))
                if table.stream_shard is not None:
                    stream_lengths.setdefault(table.name, (table, len(table.stream_shard.items)))
        _in_transaction.active = True
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(saved):
                if range_value is None:
                    if item is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = item
                elif item is None:
                    table.items.get(hash_value, {}).pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = item
            for table, length in stream_lengths.values():
                del table.stream_shard.items[length:]
            raise
        finally:
            _in_transaction.active = False

    transact_write_items._sdfleet_item_rollback = True  # type: ignore[attr-defined]
    Table.__deepcopy__ = table_copy  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def prepare_emulator() -> None:
    """Everything sdfleet changes in moto before serving: atomic writes, missing operations,
    SQS attribute writes that leave other attributes alone, S3 ETags of SSE-KMS objects,
    unhealthy instances replaced, DynamoDB objects freed when unused (not kept for moto's
    dashboard, nor by stream iterators)."""
    make_dynamodb_writes_atomic()
    add_missing_operations()
    keep_queue_policy_on_other_attribute_writes()
    sse_kms_etags_are_not_md5()
    replace_unhealthy_instances()
    dynamodb_models_are_not_tracked()
    stream_iterators_follow_the_live_table()
    transactions_roll_back_only_what_they_touched()


def start_emulator(host: str = "127.0.0.1", port: int = 5000) -> ThreadedMotoServer:
    """Starts a moto server in this process on ``host:port`` and returns it (call ``.stop()``)."""
    prepare_emulator()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server


def main(argv: list[str] | None = None) -> None:
    """``python -m sdfleet_cli.emulator --port N``: run until killed."""
    parser = argparse.ArgumentParser(description="sdfleet's embedded AWS emulator (moto server)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    server = start_emulator(args.host, args.port)
    print(f"emulator listening on http://{args.host}:{args.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
