"""The bookshop's orders: one order line and the book of orders (written by ccs children)."""
