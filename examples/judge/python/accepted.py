# Reads two integers and prints their sum (Python integers do not overflow).
a, b = map(int, input().split())
print(a + b)
