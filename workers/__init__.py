"""The arq side: sync jobs and delivery."""
