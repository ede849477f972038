"""Frames: drawing results (video sources, tracking and smoothing come with the real-time work)."""
