// The tests drive CpuParallel directly, to check that a thread limit really bounds how many threads run an op.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("LongLM.Tests")]
// The perplexity evaluator scores a chunk's rows as a RangeJob on CpuParallel, the same allocation-free parallel range.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("LongLM.Runtime")]
