;; Sum of two numbers, function mode: `sandbox judge solve.wat --tests tests.json --invoke solve`
;; passes each test's input as the arguments of `solve` and compares the printed result.
(module
  (func (export "solve") (param $a i64) (param $b i64) (result i64)
    local.get $a
    local.get $b
    i64.add))
