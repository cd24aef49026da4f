# Allocates 1 MiB after 1 MiB and never frees.
chunks = []
while True:
    chunks.append(bytearray(1 << 20))
