"""The adaptive relaxation system: light, sound and vibration adjusted from a child's recognised emotion.

A pure controller (:mod:`emolens.relax.controller`) at the centre; scenarios written by people,
devices, storage and the operator panel around it. A software emergency stop backs up, and never
replaces, a hardwired stop on the real chair.
"""
