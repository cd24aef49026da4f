# Adds in 32-bit arithmetic, as C's int would: test 4 overflows.
a, b = map(int, input().split())
print((a + b + 2**31) % 2**32 - 2**31)
