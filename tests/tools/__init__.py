"""Tests of the repository maintenance scripts."""
