"""Delivering events: fan-out turns logged events into deliveries, the pool keeps one lane per enabled
subscription, each lane sends signed attempts and records their outcomes through `service.state`."""
