"""Data sets for training and evaluation (FER-2013 folders and CSV, FER+ votes)."""
