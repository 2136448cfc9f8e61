"""Bridges to other toolkits (imported only when used)."""
