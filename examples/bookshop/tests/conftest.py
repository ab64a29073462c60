"""Shared test configuration for the bookshop (imports come from src/ via pytest.ini)."""
