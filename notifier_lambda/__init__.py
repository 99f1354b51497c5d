"""The notifier Lambda: job table stream -> EventBridge events + signed webhooks (with retries).

It imports only the contract (``sdfleet``) and its own modules.
"""
