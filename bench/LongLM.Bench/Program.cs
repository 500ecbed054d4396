using BenchmarkDotNet.Running;
using LongLM.Bench;

// gemv        BenchmarkDotNet GEMV on the SmolLM-135M projection shapes (F32, BF16)
// decode      end-to-end decode tokens/s and weight GB/s on a model folder
// session     memory per extra session (KV cache + workspace) and bytes allocated per decoded token
// bandwidth   this machine's multi-threaded read bandwidth (the ceiling decode is measured against)
return args.FirstOrDefault() switch
{
    "gemv" => Run(() => BenchmarkRunner.Run<GemvBenchmarks>(args: args[1..])),
    "decode" => DecodeHarness.Run(args[1..]),
    "bandwidth" => BandwidthHarness.Run(args[1..]),
    "session" => SessionHarness.Run(args[1..]),
    _ => Usage(),
};

static int Run(Action action)
{
    action();
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: LongLM.Bench gemv [BenchmarkDotNet args] | decode --model DIR [--tokens N] [--runs R] | session --model DIR [--contexts 512,4096] | bandwidth [--mb N]");
    return 2;
}
