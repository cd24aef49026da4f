// Adds in 32-bit arithmetic (`| 0`), as C's int would: test 4 overflows.
const [a, b] = std.in.readAsString().trim().split(/\s+/).map(Number);
console.log(String((a + b) | 0));
