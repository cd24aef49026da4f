# Raises on a negative number (test 3): an uncaught exception exits with status 1.
a, b = map(int, input().split())
if a < 0:
    raise ValueError("negative input")
print(a + b)
