"""``python -m sdfleet_cli.local.notifier_process CHECKPOINT``: the notifier as its own process
(settings from the environment), polling the stream and the retry queue until killed."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from notifier_lambda.handler import build_notifier, handle
from sdfleet.aws import AwsClients
from sdfleet.webhook_settings import NotifierSettings
from sdfleet_cli.local.stream_poller import StreamPoller


def build_poller(settings: NotifierSettings, checkpoint: Path | None) -> StreamPoller:
    clients = AwsClients.from_settings(settings)
    notifier = build_notifier(settings, clients)
    return StreamPoller(
        lambda event, context: handle(notifier, event, context),
        dynamodb=clients.dynamodb(),
        streams=clients.dynamodbstreams(),
        sqs=clients.sqs(),
        table=settings.jobs_table,
        retry_queue_url=settings.webhook_retry_queue_url,
        region=clients.region,
        checkpoint_path=checkpoint,
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING)
    poller = build_poller(NotifierSettings(), Path(args[0]) if args else None)
    while True:
        if not poller.poll_once():
            time.sleep(poller.interval_seconds)


if __name__ == "__main__":
    main()
