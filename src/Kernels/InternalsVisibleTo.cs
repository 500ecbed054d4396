// The tests drive CpuParallel directly, to check that a thread limit really bounds how many threads run an op.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("LongLM.Tests")]
