"""Simulated agency systems: the reference agency and its catalogue of faulty variants."""
