"""Design documents the fake agent CLIs code from (their `when=` blocks: first try, after
feedback), shared by the scenario tests."""

CART_DESIGN = '''\
# cart

`total(items)` returns the sum of price times quantity over (price, quantity) pairs.

```python file=tests/shop/test_cart.py
from shop.cart import total


def test_total_multiplies_price_by_quantity():
    assert total([(2, 3), (5, 1)]) == 11
```

```python file=src/shop/cart.py when=first
def total(items):
    return sum(price for price, _ in items)  # forgets the quantity
```

```python file=src/shop/cart.py when=feedback
def total(items):
    return sum(price * quantity for price, quantity in items)
```
'''
