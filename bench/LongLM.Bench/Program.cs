using BenchmarkDotNet.Running;
using LongLM.Bench;
using LongLM.Bench.Ops;

// ops         BenchmarkDotNet suites for every backend op (ggml test-backend-ops perf mode): matmul, attention,
//             top-k, row ops, CLEX ODE, MoE gather/scatter, on cpu (and cuda when a GPU answers)
// gemv        BenchmarkDotNet GEMV on the SmolLM-135M projection shapes (F32, BF16)
// gemm        prefill GEMM (512 rows) on the SmolLM-135M projection shapes, dot path vs tiled path, alternating
// prefill     end-to-end prefill tokens/s of one N-token forward call on a model folder
// decode      end-to-end decode tokens/s and weight GB/s on a model folder
// session     memory per extra session (KV cache + workspace) and bytes allocated per decoded token
// bandwidth   this machine's multi-threaded read bandwidth (the ceiling decode is measured against)
return args.FirstOrDefault() switch
{
    "ops" => Run(() => BenchmarkSwitcher.FromTypes(OpSuites.All).Run(args[1..])),
    "gemv" => Run(() => BenchmarkRunner.Run<GemvBenchmarks>(args: args[1..])),
    "gemm" => GemmHarness.Run(args[1..]),
    "prefill" => PrefillHarness.Run(args[1..]),
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
    Console.Error.WriteLine("usage: LongLM.Bench ops [--filter *MatMul*] [BenchmarkDotNet args] | gemv [BenchmarkDotNet args] | gemm [--rows 512] [--pairs 7] [--shapes 576x576,...] | prefill --model DIR [--tokens 512] [--runs 3] | decode --model DIR [--tokens N] [--runs R] | session --model DIR [--contexts 512,4096] | bandwidth [--mb N]");
    return 2;
}
