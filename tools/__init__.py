"""Repository maintenance scripts run by `make`; nothing a deployed process imports."""
