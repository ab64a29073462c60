"""The bookshop catalog: ISBNs, money, inventory and pricing (written by ccs children)."""
