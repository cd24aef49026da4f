// Reads two integers from stdin and prints their sum (BigInt: test 4 passes 2^31).
const [a, b] = std.in.readAsString().trim().split(/\s+/).map(BigInt);
console.log(String(a + b));
