"""Stored results: JSON records, the per-example arrays beside them, several directories
read as one."""
