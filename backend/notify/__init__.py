"""Notifications: typed events, the outbox, delivery channels, the sender and the Telegram remote control."""
