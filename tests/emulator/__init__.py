"""Tests of the provider emulator (receiver/emulator)."""
