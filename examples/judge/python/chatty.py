# Prints the answer, then dots without end.
import sys
a, b = map(int, input().split())
print(a + b)
while True:
    sys.stdout.write("." * 4096)
